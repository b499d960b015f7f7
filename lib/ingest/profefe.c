/*
 * profefe.c — the query parameters of profefe's POST /api/0/profiles:
 * service, type, labels, instance_id, created_at, read the way profefe's
 * collector reads them (pkg/profile labels.FromString, profile_type.go,
 * the 2006-01-02T15:04:05 time layout).
 */
#include "internal.h"

#include "chrono.h"
#include "errbuf.h"

#include <stdint.h>
#include <stdlib.h>

int ingest_profefe_type(const char *s, ingest_kind *hint, char *err, size_t errlen) {
  static const struct {
    const char *name;
    ingest_kind kind;
  } types[] = {{"cpu", INGEST_KIND_CPU},           {"heap", INGEST_KIND_HEAP},
               {"block", INGEST_KIND_BLOCK},       {"mutex", INGEST_KIND_MUTEX},
               {"goroutine", INGEST_KIND_GOROUTINE}, {"threadcreate", INGEST_KIND_THREADCREATE},
               {"other", INGEST_KIND_NONE}};
  size_t n = s ? strlen(s) : 0;
  const char *t = s ? ing_trim(s, &n) : "";
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strlen(types[i].name) == n && memcmp(types[i].name, t, n) == 0) {
      *hint = types[i].kind;
      return 0;
    }
  if (n == 5 && memcmp(t, "trace", 5) == 0) {
    *hint = INGEST_KIND_NONE;
    return 1;
  }
  errbuf_set(err, errlen,
             "unknown profile type \"%.*s\" (want cpu, heap, block, mutex, goroutine, threadcreate, other or trace)",
             n > 60 ? 60 : (int)n, t);
  return INGEST_EINVAL;
}

int ingest_profefe_labels(const char *s, ingest_labels *out, char *err, size_t errlen) {
  if (!s) return INGEST_OK;
  const char *p = s;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t cl = comma ? (size_t)(comma - p) : strlen(p);
    const char *eq = memchr(p, '=', cl);
    size_t kl = eq ? (size_t)(eq - p) : cl;
    size_t vl = eq ? cl - kl - 1 : 0;
    const char *k = ing_trim(p, &kl);
    const char *v = eq ? ing_trim(eq + 1, &vl) : "";
    char *ku = NULL, *vu = NULL;
    int rc = ingest_url_unescape(k, kl, 1, &ku, err, errlen);
    if (!rc && *ku) {
      rc = ingest_url_unescape(v, vl, 1, &vu, err, errlen);
      if (!rc && ingest_labels_add(out, ku, strlen(ku), vu, strlen(vu))) {
        errbuf_set(err, errlen, "out of memory");
        rc = INGEST_ENOMEM;
      }
    }
    free(ku);
    free(vu);
    if (rc) {
      ingest_labels_free(out);
      return rc;
    }
    if (!comma) break;
    p = comma + 1;
  }
  ingest_labels_sort(out);
  return INGEST_OK;
}

int ingest_profefe_created_at(const char *s, int64_t *ns, char *err, size_t errlen) {
  /* YYYY-MM-DDTHH:MM:SS, and as Go's time.Parse also accepts, a fraction
   * of 1 to 9 digits; read as RFC 3339 with a Z (the same instant). */
  char buf[32];
  size_t n = s ? strlen(s) : 0;
  bool shape = n == 19 || (n >= 21 && n <= 28 && s[19] == '.');
  for (size_t i = 20; shape && i < n; i++) shape = s[i] >= '0' && s[i] <= '9';
  for (size_t i = 0; shape && i < 19; i++) {
    char c = s[i];
    shape = (i == 4 || i == 7) ? c == '-' : i == 10 ? c == 'T' : (i == 13 || i == 16) ? c == ':' : (c >= '0' && c <= '9');
  }
  int64_t ms = 0;
  if (shape) {
    memcpy(buf, s, n);
    buf[n] = 'Z';
    buf[n + 1] = 0;
    shape = chrono_parse_rfc3339(buf, &ms) == 0 && ms <= INT64_MAX / 1000000 && ms >= INT64_MIN / 1000000;
  }
  if (!shape) {
    errbuf_set(err, errlen, "bad created_at \"%.60s\": want 2006-01-02T15:04:05 (UTC)", s ? s : "");
    return INGEST_EINVAL;
  }
  *ns = ms * 1000000;
  return INGEST_OK;
}

void ingest_profefe_params_free(ingest_profefe_params *p) {
  if (!p) return;
  free(p->service);
  free(p->type);
  free(p->instance_id);
  ingest_labels_free(&p->labels);
  memset(p, 0, sizeof(*p));
}

int ingest_profefe_params_parse(const char *service, const char *type, const char *labels,
                                const char *instance_id, const char *created_at, ingest_profefe_params *out,
                                char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if (!service || !*service) {
    errbuf_set(err, errlen, "bad request: missing \"service\"");
    return INGEST_EINVAL;
  }
  if (!type) {
    errbuf_set(err, errlen, "bad request: missing \"type\"");
    return INGEST_EINVAL;
  }
  int t = ingest_profefe_type(type, &out->hint, err, errlen);
  if (t < 0) return t;
  out->trace = t == 1;
  int rc = ingest_profefe_labels(labels, &out->labels, err, errlen);
  if (rc) return rc;
  if (created_at && *created_at) {
    rc = ingest_profefe_created_at(created_at, &out->created_at_ns, err, errlen);
    if (rc) {
      ingest_profefe_params_free(out);
      return rc;
    }
    out->has_created_at = 1;
  }
  size_t tn = strlen(type);
  const char *tt = ing_trim(type, &tn);
  out->service = ing_strndup(service, strlen(service));
  out->type = ing_strndup(tt, tn);
  out->instance_id = ing_strndup(instance_id ? instance_id : "", instance_id ? strlen(instance_id) : 0);
  if (!out->service || !out->type || !out->instance_id) {
    ingest_profefe_params_free(out);
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  return INGEST_OK;
}
