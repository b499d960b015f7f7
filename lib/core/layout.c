/* layout.c — see layout.h. */
#include "layout.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chrono.h"
#include "rnd.h"

int layout_app_valid_n(const char *s, size_t n) {
  if (!s || n < 1 || n > LAYOUT_APP_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
  }
  return 1;
}

int layout_app_valid(const char *s) {
  if (!s) return 0;
  size_t n = strnlen(s, LAYOUT_APP_MAX + 1);
  return layout_app_valid_n(s, n) && s[n] == '\0';
}

/* snprintf into buf after checking the app; "" and -1 on any failure. */
__attribute__((format(printf, 4, 5))) static int build(const char *app, char *buf, size_t n,
                                                       const char *fmt, ...);

static int build(const char *app, char *buf, size_t n, const char *fmt, ...) {
  if (!buf || n == 0) return -1;
  buf[0] = '\0';
  if (!layout_app_valid(app)) return -1;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= n) {
    buf[0] = '\0';
    return -1;
  }
  return 0;
}

int layout_app_prefix(const char *app, char *buf, size_t n) { return build(app, buf, n, "%s/", app); }

int layout_base_key(const char *app, char *buf, size_t n) {
  return build(app, buf, n, "%s/" LAYOUT_BASE_NAME, app);
}

int layout_staging_prefix(const char *app, char *buf, size_t n) {
  return build(app, buf, n, "%s/" LAYOUT_STAGING_DIR "/", app);
}

/* {app}/{dir}/{name}: "" and -1 when name is empty. */
static int dir_key(const char *app, const char *dir, const char *name, char *buf, size_t n) {
  if (!name || !*name) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/%s/%s", app, dir, name);
}

int layout_staging_key(const char *app, const char *name, char *buf, size_t n) {
  return dir_key(app, LAYOUT_STAGING_DIR, name, buf, n);
}

int layout_staging_key_new(const char *app, int64_t now_ns, char *buf, size_t n) {
  char hex[9];
  if (rnd_hex(hex, 4) != 0) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_STAGING_DIR "/%" PRId64 "-%s", app, now_ns, hex);
}

int layout_rejected_prefix(const char *app, char *buf, size_t n) {
  return build(app, buf, n, "%s/" LAYOUT_REJECTED_DIR "/", app);
}

int layout_rejected_key(const char *app, const char *name, char *buf, size_t n) {
  return dir_key(app, LAYOUT_REJECTED_DIR, name, buf, n);
}

int layout_rejected_base_key(const char *app, int64_t ns, char *buf, size_t n) {
  return build(app, buf, n, "%s/" LAYOUT_REJECTED_DIR "/" LAYOUT_BASE_NAME ".%" PRId64, app, ns);
}

const char *layout_staged_name(const char *key, const char *app) {
  static const char dir[] = "/" LAYOUT_STAGING_DIR "/";
  if (!key || !app) return NULL;
  size_t al = strlen(app);
  if (strncmp(key, app, al) != 0 || strncmp(key + al, dir, sizeof dir - 1) != 0) return NULL;
  const char *name = key + al + sizeof dir - 1;
  if (!*name) return NULL;
  for (const char *p = name; *p; p++)
    if (*p == '/' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') return NULL;
  return name;
}

int layout_key_app(const char *key, char *app, size_t n) {
  if (app && n) app[0] = '\0';
  if (!key) return -1;
  const char *slash = strchr(key, '/');
  if (!slash || !layout_app_valid_n(key, (size_t)(slash - key))) return -1;
  size_t al = (size_t)(slash - key);
  if (!app || n <= al) return -1;
  memcpy(app, key, al);
  app[al] = '\0';
  return 0;
}

int layout_name_stamp_ns(const char *name, int64_t *ns) {
  static const char base_prefix[] = LAYOUT_BASE_NAME ".";
  if (!name) return -1;
  const char *p = name;
  if (strncmp(p, base_prefix, sizeof base_prefix - 1) == 0) p += sizeof base_prefix - 1;
  int64_t v = 0;
  const char *d = p;
  while (*p >= '0' && *p <= '9') {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*p++ - '0');
  }
  if (p == d || (*p != '-' && *p != 0)) return -1;
  *ns = v;
  return 0;
}

/* ---- Kinds ---- */

static const char *const kind_names[LAYOUT_KIND_COUNT] = {"cpu",       "heap",        "mutex",
                                                          "block",     "goroutine",   "threadcreate"};

const char *layout_kind_name(layout_kind k) {
  return k >= 0 && k < LAYOUT_KIND_COUNT ? kind_names[k] : NULL;
}

layout_kind layout_kind_parse(const char *s) {
  if (!s) return LAYOUT_KIND_NONE;
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++)
    if (!strcmp(s, kind_names[k])) return (layout_kind)k;
  if (!strcmp(s, "allocs")) return LAYOUT_KIND_HEAP;
  return LAYOUT_KIND_NONE;
}

int layout_kind_base_key(const char *app, layout_kind k, char *buf, size_t n) {
  if (k == LAYOUT_KIND_CPU) return layout_base_key(app, buf, n);
  const char *kn = layout_kind_name(k);
  if (!kn) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_KINDS_DIR "/%s.pgo", app, kn);
}

int layout_rejected_kind_base_key(const char *app, layout_kind k, int64_t ns, char *buf, size_t n) {
  if (k == LAYOUT_KIND_CPU) return layout_rejected_base_key(app, ns, buf, n);
  const char *kn = layout_kind_name(k);
  if (!kn) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_REJECTED_DIR "/%s.pgo.%" PRId64, app, kn, ns);
}

/* ---- Instances, hours, history ---- */

uint64_t layout_instance_hash(const char *instance) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)(instance ? instance : ""); *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ull;
  }
  return h;
}

/* The kind's name, or NULL after clearing buf. */
static const char *kind_or_clear(layout_kind k, char *buf, size_t n) {
  const char *kn = layout_kind_name(k);
  if (!kn && buf && n) buf[0] = '\0';
  return kn;
}

int layout_instance_key(const char *app, layout_kind k, const char *instance, char *buf, size_t n) {
  const char *kn = kind_or_clear(k, buf, n);
  if (!kn) return -1;
  return build(app, buf, n, "%s/" LAYOUT_INSTANCES_DIR "/%s/%016" PRIx64, app, kn,
               layout_instance_hash(instance));
}

int layout_instances_prefix(const char *app, layout_kind k, char *buf, size_t n) {
  const char *kn = kind_or_clear(k, buf, n);
  if (!kn) return -1;
  return build(app, buf, n, "%s/" LAYOUT_INSTANCES_DIR "/%s/", app, kn);
}

int64_t layout_hour_of_ns(int64_t ns) {
  const int64_t h = 3600000000000LL;
  return ns >= 0 ? ns / h : -((-ns + h - 1) / h);
}

/* Hours of 1970-01-01T00 and of 9999-12-31T23. */
#define HOUR_MIN 0
#define HOUR_MAX ((int64_t)2932896 * 24 + 23)

int layout_hour_format(int64_t hour, char *buf, size_t n) {
  if (!buf || n < 11 || hour < HOUR_MIN || hour > HOUR_MAX) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  int64_t y;
  unsigned m, d;
  chrono_civil_from_days(hour / 24, &y, &m, &d);
  snprintf(buf, n, "%04d%02u%02u%02u", (int)y, m, d, (unsigned)(hour % 24));
  return 0;
}

int layout_hour_parse(const char *s, int64_t *hour) {
  if (!s || strlen(s) != 10) return -1;
  int v[4] = {0};
  static const int width[4] = {4, 2, 2, 2};
  const char *p = s;
  for (int f = 0; f < 4; f++)
    for (int i = 0; i < width[f]; i++, p++) {
      if (*p < '0' || *p > '9') return -1;
      v[f] = v[f] * 10 + (*p - '0');
    }
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
  if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1] ||
      (v[1] == 2 && v[2] == 29 && !leap) || v[3] > 23)
    return -1;
  *hour = chrono_days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 24 + v[3];
  return 0;
}

int layout_hour_key(const char *app, layout_kind k, int64_t hour, char *buf, size_t n) {
  char hs[11];
  const char *kn = kind_or_clear(k, buf, n);
  if (!kn) return -1;
  if (layout_hour_format(hour, hs, sizeof hs) != 0) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_HOURS_DIR "/%s/%s.pgo", app, kn, hs);
}

int layout_hours_prefix(const char *app, layout_kind k, char *buf, size_t n) {
  const char *kn = kind_or_clear(k, buf, n);
  if (!kn) return -1;
  return build(app, buf, n, "%s/" LAYOUT_HOURS_DIR "/%s/", app, kn);
}

int layout_history_key(const char *app, layout_kind k, int64_t hour, const char *name, char *buf,
                       size_t n) {
  char hs[11];
  const char *kn = kind_or_clear(k, buf, n);
  if (!kn) return -1;
  if (!name || !*name || strchr(name, '/') || layout_hour_format(hour, hs, sizeof hs) != 0) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_HISTORY_DIR "/%s/%s/%s", app, kn, hs, name);
}

int layout_history_prefix(const char *app, layout_kind k, int64_t hour, char *buf, size_t n) {
  const char *kn = kind_or_clear(k, buf, n);
  if (!kn) return -1;
  if (hour < 0) return build(app, buf, n, "%s/" LAYOUT_HISTORY_DIR "/%s/", app, kn);
  char hs[11];
  if (layout_hour_format(hour, hs, sizeof hs) != 0) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_HISTORY_DIR "/%s/%s/", app, kn, hs);
}

/* ---- Reading keys ---- */

/* Splits s at the next '/': the segment's length, *rest after the '/' (NULL
 * when there is none). */
static size_t segment(const char *s, const char **rest) {
  const char *sl = strchr(s, '/');
  *rest = sl ? sl + 1 : NULL;
  return sl ? (size_t)(sl - s) : strlen(s);
}

/* The kind named by the n bytes at s. */
static layout_kind kind_n(const char *s, size_t n) {
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++)
    if (strlen(kind_names[k]) == n && !strncmp(s, kind_names[k], n)) return (layout_kind)k;
  return LAYOUT_KIND_NONE;
}

/* A single non-empty segment without whitespace (a staged name's form). */
static int plain_name(const char *s) {
  if (!s || !*s) return 0;
  for (; *s; s++)
    if (*s == '/' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') return 0;
  return 1;
}

/* Reads "YYYYMMDDHH" from the first 10 bytes of s. */
static int hour_n(const char *s, size_t n, int64_t *hour) {
  char hs[11];
  if (n != 10) return -1;
  memcpy(hs, s, 10);
  hs[10] = '\0';
  return layout_hour_parse(hs, hour);
}

/* The forms below {app}/{dir}/{kind}/: rest is what follows "{kind}/". */
static void parse_kind_dir(const char *dir, size_t dl, const char *rest, layout_ref *ref) {
  const char *after;
  size_t kl = segment(rest, &after);
  layout_kind k = kind_n(rest, kl);
  if (k == LAYOUT_KIND_NONE || !after) return;
  if (dl == sizeof LAYOUT_INSTANCES_DIR - 1 && !strncmp(dir, LAYOUT_INSTANCES_DIR, dl)) {
    if (strlen(after) != 16 || strspn(after, "0123456789abcdef") != 16) return;
    *ref = (layout_ref){LAYOUT_KEY_INSTANCE, "", k, -1, after};
  } else if (dl == sizeof LAYOUT_HOURS_DIR - 1 && !strncmp(dir, LAYOUT_HOURS_DIR, dl)) {
    int64_t h;
    if (strlen(after) != 14 || strcmp(after + 10, ".pgo") || hour_n(after, 10, &h)) return;
    *ref = (layout_ref){LAYOUT_KEY_HOUR, "", k, h, NULL};
  } else if (dl == sizeof LAYOUT_HISTORY_DIR - 1 && !strncmp(dir, LAYOUT_HISTORY_DIR, dl)) {
    const char *name;
    int64_t h;
    size_t hl = segment(after, &name);
    if (hour_n(after, hl, &h) || !plain_name(name)) return;
    *ref = (layout_ref){LAYOUT_KEY_HISTORY, "", k, h, name};
  }
}

int layout_parse_key(const char *key, layout_ref *ref) {
  char app[LAYOUT_APP_MAX + 1];
  if (!ref || layout_key_app(key, app, sizeof app) != 0) return -1;
  *ref = (layout_ref){LAYOUT_KEY_OTHER, "", LAYOUT_KIND_NONE, -1, NULL};
  const char *rest = key + strlen(app) + 1, *after;
  size_t dl = segment(rest, &after);
  if (!after) {
    if (!strcmp(rest, LAYOUT_BASE_NAME)) *ref = (layout_ref){LAYOUT_KEY_BASE, "", LAYOUT_KIND_CPU, -1, NULL};
  } else if (dl == sizeof LAYOUT_STAGING_DIR - 1 && !strncmp(rest, LAYOUT_STAGING_DIR, dl)) {
    if (plain_name(after)) *ref = (layout_ref){LAYOUT_KEY_STAGED, "", LAYOUT_KIND_NONE, -1, after};
  } else if (dl == sizeof LAYOUT_REJECTED_DIR - 1 && !strncmp(rest, LAYOUT_REJECTED_DIR, dl)) {
    if (plain_name(after)) *ref = (layout_ref){LAYOUT_KEY_REJECTED, "", LAYOUT_KIND_NONE, -1, after};
  } else if (dl == sizeof LAYOUT_KINDS_DIR - 1 && !strncmp(rest, LAYOUT_KINDS_DIR, dl)) {
    size_t al = strlen(after);
    layout_kind k = al > 4 && !strcmp(after + al - 4, ".pgo") ? kind_n(after, al - 4) : LAYOUT_KIND_NONE;
    if (k != LAYOUT_KIND_NONE && k != LAYOUT_KIND_CPU)
      *ref = (layout_ref){LAYOUT_KEY_BASE, "", k, -1, NULL};
  } else {
    parse_kind_dir(rest, dl, after, ref);
  }
  memcpy(ref->app, app, sizeof app);
  return 0;
}
