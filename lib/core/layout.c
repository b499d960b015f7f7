/* layout.c — see layout.h. */
#include "layout.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

int layout_staging_key(const char *app, const char *name, char *buf, size_t n) {
  if (!name || !*name) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_STAGING_DIR "/%s", app, name);
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
  if (!name || !*name) {
    if (buf && n) buf[0] = '\0';
    return -1;
  }
  return build(app, buf, n, "%s/" LAYOUT_REJECTED_DIR "/%s", app, name);
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
  if (p == d || (*p != '-' && *p != 0) || (*p == 0 && d == name)) return -1;
  *ns = v;
  return 0;
}
