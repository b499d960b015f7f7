/*
 * pyroscope.c — the parts of Pyroscope's /ingest request that are not
 * multipart: the `name` parameter with its labels, the `from`/`until`
 * times, the sample_type_config part, the kind hint its display-names
 * carry, and the connect error codes of Pyroscope's error bodies.
 *
 * Each follows what Pyroscope's server does (labelset parsing, attime.Parse,
 * connectgrpc.HTTPToCode), and is stricter only where Pyroscope silently
 * loses data (a '{' never closed, a label without '=' are refused here
 * rather than dropped).
 */
#include "internal.h"

#include "chrono.h"
#include "errbuf.h"

#include <limits.h>
#include <stdlib.h>

/* ---- name ---- */

int ingest_pyroscope_name(const char *name, char **service, ingest_labels *labels, char *err, size_t errlen) {
  *service = NULL;
  if (!name) name = "";
  const char *brace = strchr(name, '{');
  size_t sl = brace ? (size_t)(brace - name) : strlen(name);
  const char *sv = ing_trim(name, &sl);
  if (sl == 0) {
    errbuf_set(err, errlen, "name \"%.200s\" has no service name (want SERVICE or SERVICE{k=v,...})", name);
    return INGEST_EINVAL;
  }
  if (brace) {
    const char *close = strchr(brace + 1, '}');
    if (!close) {
      errbuf_set(err, errlen, "name \"%.200s\": '{' without a closing '}'", name);
      return INGEST_EINVAL;
    }
    const char *p = brace + 1;
    while (p <= close) {
      const char *q = p;
      while (q < close && *q != ',') q++;
      size_t pl = (size_t)(q - p);
      const char *pair = ing_trim(p, &pl);
      if (pl) {
        const char *eq = memchr(pair, '=', pl);
        if (!eq) {
          errbuf_set(err, errlen, "name \"%.200s\": label \"%.*s\" has no '='", name, pl > 80 ? 80 : (int)pl, pair);
          ingest_labels_free(labels);
          return INGEST_EINVAL;
        }
        size_t kl = (size_t)(eq - pair), vl = pl - kl - 1;
        const char *k = ing_trim(pair, &kl);
        const char *v = ing_trim(eq + 1, &vl);
        if (!kl) {
          errbuf_set(err, errlen, "name \"%.200s\": a label has an empty key", name);
          ingest_labels_free(labels);
          return INGEST_EINVAL;
        }
        if (!(kl == 8 && memcmp(k, "__name__", 8) == 0) && ingest_labels_add(labels, k, kl, v, vl)) {
          errbuf_set(err, errlen, "out of memory");
          ingest_labels_free(labels);
          return INGEST_ENOMEM;
        }
      }
      p = q + 1;
    }
    ingest_labels_sort_unique(labels);
  }
  *service = ing_strndup(sv, sl);
  if (!*service) {
    ingest_labels_free(labels);
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  return INGEST_OK;
}

/* ---- time ---- */

#define NS_PER_S 1000000000LL

static int bad_time(const char *s, char *err, size_t errlen) {
  errbuf_set(err, errlen, "bad time \"%.100s\": want Unix seconds, ms, µs or ns, YYYYMMDD, or now[-offset] "
                          "(e.g. now-1h)", s);
  return INGEST_EINVAL;
}

/* Multiplier in seconds of an offset unit, by Pyroscope's prefixes; 0 if unknown. */
static int64_t unit_seconds(const char *u, size_t n) {
  if (n == 0) return 0;
  if (u[0] == 's') return 1;
  if ((n >= 3 && memcmp(u, "mon", 3) == 0) || u[0] == 'M') return 3600LL * 24 * 30;
  if (u[0] == 'm') return 60; /* "min" and "m" */
  if (u[0] == 'h') return 3600;
  if (u[0] == 'd') return 3600LL * 24;
  if (u[0] == 'w') return 3600LL * 24 * 7;
  if (u[0] == 'y') return 3600LL * 24 * 365;
  return 0;
}

static bool valid_date(int64_t y, int64_t m, int64_t d) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y <= 1900 || m < 1 || m > 12 || d < 1) return false;
  int md = mdays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) md = 29;
  return d <= md;
}

int ingest_pyroscope_time(const char *s, int64_t now_ns, int64_t *out_ns, char *err, size_t errlen) {
  if (!s) s = "";
  char buf[64];
  size_t n = 0;
  for (const char *p = s; *p; p++) {
    if (*p == ' ' || *p == '_' || *p == ',' || *p == '\t') continue;
    if (n + 1 >= sizeof buf) return bad_time(s, err, errlen);
    buf[n++] = *p;
  }
  buf[n] = 0;
  bool digits = n > 0;
  for (size_t i = 0; i < n && digits; i++) digits = buf[i] >= '0' && buf[i] <= '9';
  if (digits) {
    if (n > 19) return bad_time(s, err, errlen);
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
      int d = buf[i] - '0';
      if (v > (INT64_MAX - d) / 10) return bad_time(s, err, errlen);
      v = v * 10 + d;
    }
    if (n == 8 && valid_date(v / 10000, v / 100 % 100, v % 100)) {
      int64_t secs = chrono_days_from_civil(v / 10000, (unsigned)(v / 100 % 100), (unsigned)(v % 100)) * 86400;
      if (secs > INT64_MAX / NS_PER_S) return bad_time(s, err, errlen); /* after 2262 */
      *out_ns = secs * NS_PER_S;
      return INGEST_OK;
    }
    int64_t mul = n == 13 ? 1000000 : n == 16 ? 1000 : n == 19 ? 1 : NS_PER_S;
    if (v > INT64_MAX / mul) return bad_time(s, err, errlen);
    *out_ns = v * mul;
    return INGEST_OK;
  }
  /* [now] [(+|-) (NUMBER UNIT)+] */
  size_t i = 0;
  if (n >= 3 && memcmp(buf, "now", 3) == 0) i = 3;
  else if (n > 0 && buf[0] != '-' && buf[0] != '+')
    return bad_time(s, err, errlen);
  int64_t off = 0;
  if (i < n) {
    int sign = buf[i] == '-' ? -1 : buf[i] == '+' ? 1 : 0;
    if (!sign) return bad_time(s, err, errlen);
    i++;
    if (i == n) return bad_time(s, err, errlen);
    while (i < n) {
      int64_t num = 0;
      size_t ds = i;
      while (i < n && buf[i] >= '0' && buf[i] <= '9') {
        if (num > 1000000000LL) return bad_time(s, err, errlen);
        num = num * 10 + (buf[i] - '0');
        i++;
      }
      if (i == ds) return bad_time(s, err, errlen);
      size_t us = i;
      while (i < n && !(buf[i] >= '0' && buf[i] <= '9')) i++;
      int64_t mul = unit_seconds(buf + us, i - us);
      if (!mul) return bad_time(s, err, errlen);
      /* |num| <= 1e9 and mul <= 3.2e7 s: the product fits; the sum is checked below. */
      int64_t secs = num * mul;
      if (secs > INT64_MAX / NS_PER_S) return bad_time(s, err, errlen);
      int64_t ns = secs * NS_PER_S;
      if ((sign > 0 && off > INT64_MAX - ns) || (sign < 0 && off < INT64_MIN + ns)) return bad_time(s, err, errlen);
      off += sign * ns;
    }
  }
  if ((off > 0 && now_ns > INT64_MAX - off) || (off < 0 && now_ns < INT64_MIN - off)) return bad_time(s, err, errlen);
  *out_ns = now_ns + off;
  return INGEST_OK;
}

/* ---- sample_type_config ---- */

void ingest_stc_free(ingest_stc *stc) {
  if (!stc) return;
  for (size_t i = 0; i < stc->n; i++) {
    free(stc->v[i].sample_type);
    free(stc->v[i].display_name);
    free(stc->v[i].units);
    free(stc->v[i].aggregation);
  }
  free(stc->v);
  stc->v = NULL;
  stc->n = 0;
}

static int stc_string(json_t *o, const char *st, const char *key, char **out, char *err, size_t errlen) {
  json_t *v = json_object_get(o, key);
  const char *s = "";
  if (v && !json_is_null(v)) {
    if (!json_is_string(v)) {
      errbuf_set(err, errlen, "sample_type_config: \"%.80s\": \"%s\" is not a string", st, key);
      return INGEST_EINVAL;
    }
    s = json_string_value(v);
  }
  *out = ing_strndup(s, strlen(s));
  if (!*out) {
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  return INGEST_OK;
}

static int stc_bool(json_t *o, const char *st, const char *key, int *out, char *err, size_t errlen) {
  json_t *v = json_object_get(o, key);
  *out = 0;
  if (!v || json_is_null(v)) return INGEST_OK;
  if (!json_is_boolean(v)) {
    errbuf_set(err, errlen, "sample_type_config: \"%.80s\": \"%s\" is not a boolean", st, key);
    return INGEST_EINVAL;
  }
  *out = json_is_true(v);
  return INGEST_OK;
}

int ingest_stc_parse(const uint8_t *json, size_t len, ingest_stc *out, char *err, size_t errlen) {
  out->v = NULL;
  out->n = 0;
  json_error_t je;
  json_t *root = json_loadb((const char *)json, len, 0, &je);
  if (!root) {
    errbuf_set(err, errlen, "sample_type_config: invalid JSON: %s (line %d)", je.text, je.line);
    return INGEST_EINVAL;
  }
  int rc = INGEST_OK;
  if (!json_is_object(root)) {
    errbuf_set(err, errlen, "sample_type_config: want a JSON object of sample types");
    rc = INGEST_EINVAL;
    goto done;
  }
  size_t n = json_object_size(root);
  out->v = calloc(n ? n : 1, sizeof(*out->v));
  if (!out->v) {
    errbuf_set(err, errlen, "out of memory");
    rc = INGEST_ENOMEM;
    goto done;
  }
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (!json_is_object(val)) {
      errbuf_set(err, errlen, "sample_type_config: \"%.80s\" is not an object", key);
      rc = INGEST_EINVAL;
      goto done;
    }
    ingest_stc_entry *e = &out->v[out->n++];
    e->sample_type = ing_strndup(key, strlen(key));
    if (!e->sample_type) {
      errbuf_set(err, errlen, "out of memory");
      rc = INGEST_ENOMEM;
      goto done;
    }
    if ((rc = stc_string(val, key, "display-name", &e->display_name, err, errlen)) ||
        (rc = stc_string(val, key, "units", &e->units, err, errlen)) ||
        (rc = stc_string(val, key, "aggregation", &e->aggregation, err, errlen)) ||
        (rc = stc_bool(val, key, "cumulative", &e->cumulative, err, errlen)) ||
        (rc = stc_bool(val, key, "sampled", &e->sampled, err, errlen)))
      goto done;
  }
done:
  json_decref(root);
  if (rc) ingest_stc_free(out);
  return rc;
}

const ingest_stc_entry *ingest_stc_find(const ingest_stc *stc, const char *sample_type) {
  for (size_t i = 0; stc && i < stc->n; i++)
    if (strcmp(stc->v[i].sample_type, sample_type) == 0) return &stc->v[i];
  return NULL;
}

int ingest_stc_cumulative(const ingest_stc *stc, const char *sample_type) {
  if (stc) {
    const ingest_stc_entry *e = ingest_stc_find(stc, sample_type);
    return e && e->cumulative;
  }
  return strcmp(sample_type, "alloc_objects") == 0 || strcmp(sample_type, "alloc_space") == 0 ||
         strcmp(sample_type, "contentions") == 0 || strcmp(sample_type, "delay") == 0;
}

int ingest_stc_kind_hint(const ingest_stc *stc, ingest_kind *hint, char *err, size_t errlen) {
  ingest_kind h = INGEST_KIND_NONE;
  for (size_t i = 0; stc && i < stc->n; i++) {
    const char *d = stc->v[i].display_name;
    ingest_kind k = strncmp(d, "mutex_", 6) == 0   ? INGEST_KIND_MUTEX
                    : strncmp(d, "block_", 6) == 0 ? INGEST_KIND_BLOCK
                                                   : INGEST_KIND_NONE;
    if (k == INGEST_KIND_NONE) continue;
    if (h != INGEST_KIND_NONE && h != k) {
      errbuf_set(err, errlen, "sample_type_config names both mutex_ and block_ display-names");
      return INGEST_EKIND;
    }
    h = k;
  }
  *hint = h;
  return INGEST_OK;
}

const char *ingest_connect_code(int http_status) {
  switch (http_status) {
  case 400:
  case 413: return "invalid_argument";
  case 401: return "unauthenticated";
  case 403: return "permission_denied";
  case 404: return "unimplemented";
  case 412: return "failed_precondition";
  case 429:
  case 431: return "resource_exhausted";
  case 499: return "canceled";
  case 500: return "internal";
  case 502:
  case 503: return "unavailable";
  case 504: return "deadline_exceeded";
  default: return "unknown";
  }
}
