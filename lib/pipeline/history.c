/*
 * history.c — reading hour buckets and kept uploads (see history.h).
 *
 * Range merges read the buckets of the range one at a time into one
 * pp_merger, so memory is the result plus one bucket whatever the range's
 * length; the gauge columns of every bucket but the newest are zeroed
 * first, so the result's gauges are the newest bucket's and its counters
 * the sum.
 *
 * The uploads' metadata (kind, time, labels, name) lives inside the stored
 * profiles ("pgopipe-upload:" comments), so listing it means reading and
 * decoding every upload of the time range. Uploads never change once
 * stored (a staged name is unique, a history object is a copy of its
 * staged object), so what was read is kept in a cache keyed by the object's
 * key and ETag: a listing after the first costs the store's listings only.
 * The cache is a chained hash table bounded by an entry count, evicting the
 * oldest insertions first (a ring of the entries in insertion order).
 */
#include "history.h"

#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "push.h"

int history_http_status(int code) {
  switch (code) {
  case HISTORY_OK: return 200;
  case HISTORY_EINVAL: return 400;
  case HISTORY_ENOTFOUND: return 404;
  case HISTORY_ESTORE: return 503;
  case HISTORY_EINCOMPATIBLE: return 422;
  default: return 500;
  }
}

static int store_code(int rc) {
  if (rc == BLOB_ENOTFOUND) return HISTORY_ENOTFOUND;
  if (rc == BLOB_ENOMEM) return HISTORY_ENOMEM;
  if (rc == BLOB_ETOOBIG) return HISTORY_EPROFILE;
  if (rc == BLOB_EINVAL) return HISTORY_EINVAL;
  return HISTORY_ESTORE;
}

static int pp_code(int rc) {
  if (rc == PP_ENOMEM) return HISTORY_ENOMEM;
  if (rc == PP_EINCOMPATIBLE) return HISTORY_EINCOMPATIBLE;
  return HISTORY_EPROFILE;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && (a < 0) != (b < 0)) q--;
  return q;
}

/* ---- time parameters ---- */

int history_parse_hour(const char *name, const char *value, int64_t *hour, char *err, size_t errlen) {
  int64_t ms;
  if (!value || chrono_parse_time(value, &ms) != 0) {
    errbuf_set(err, errlen, "bad %s \"%.60s\": want an RFC 3339 time (2026-11-21T12:00:00Z) or Unix seconds",
               name, value ? value : "");
    return HISTORY_EINVAL;
  }
  *hour = floor_div(ms, 3600 * 1000);
  return HISTORY_OK;
}

int history_parse_range(const char *from, const char *to, int64_t *from_hour, int64_t *to_hour, char *err,
                        size_t errlen) {
  if (!from || !*from || !to || !*to) {
    errbuf_set(err, errlen, "from and to must both be given (RFC 3339 times or Unix seconds)");
    return HISTORY_EINVAL;
  }
  int rc = history_parse_hour("from", from, from_hour, err, errlen);
  if (rc == HISTORY_OK) rc = history_parse_hour("to", to, to_hour, err, errlen);
  if (rc != HISTORY_OK) return rc;
  if (*from_hour >= *to_hour) {
    errbuf_set(err, errlen, "from (%.40s) must be before to (%.40s) once both are rounded down to the hour", from,
               to);
    return HISTORY_EINVAL;
  }
  return HISTORY_OK;
}

int history_parse_profefe_time(const char *name, const char *value, int64_t *ns, char *err, size_t errlen) {
  char e[128];
  int64_t ms;
  if (value && ingest_profefe_created_at(value, ns, e, sizeof e) == INGEST_OK) return HISTORY_OK;
  if (value && chrono_parse_rfc3339(value, &ms) == 0 && ms > INT64_MIN / 1000000 && ms < INT64_MAX / 1000000) {
    *ns = ms * 1000000;
    return HISTORY_OK;
  }
  errbuf_set(err, errlen, "bad request: bad \"%s\" timestamp \"%.60s\": want 2006-01-02T15:04:05 (UTC) or RFC 3339",
             name, value ? value : "");
  return HISTORY_EINVAL;
}

/* ---- hour buckets ---- */

static int bad_source(const char *app, layout_kind kind, char *err, size_t errlen) {
  if (!app || !layout_app_valid(app)) {
    errbuf_set(err, errlen, "invalid app name \"%.80s\": want 1 to 63 characters of a-z, 0-9 and '-'",
               app ? app : "");
    return 1;
  }
  if (!layout_kind_name(kind)) {
    errbuf_set(err, errlen, "invalid profile kind");
    return 1;
  }
  return 0;
}

int history_buckets(blob_store *blob, const char *app, layout_kind kind, int64_t from_hour, int64_t to_hour,
                    history_bucket **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  if (bad_source(app, kind, err, errlen)) return HISTORY_EINVAL;
  char prefix[LAYOUT_KEY_BUF];
  if (layout_hours_prefix(app, kind, prefix, sizeof prefix) != 0) return HISTORY_EINVAL;
  blob_iter *it = NULL;
  char e[768];
  int rc = blob_list(blob, prefix, &it, e, sizeof e);
  if (rc != BLOB_OK) {
    errbuf_set(err, errlen, "listing %s: %s", prefix, e);
    return store_code(rc);
  }
  history_bucket *v = NULL;
  size_t cnt = 0, cap = 0;
  const char *key;
  blob_info info;
  layout_ref ref;
  int ret = HISTORY_OK;
  while ((rc = blob_iter_next(it, &key, &info, e, sizeof e)) == 1) {
    if (layout_parse_key(key, &ref) != 0 || ref.type != LAYOUT_KEY_HOUR || ref.kind != kind) continue;
    if (ref.hour < from_hour || ref.hour >= to_hour) continue;
    if (cnt == cap) {
      size_t nc = cap ? cap * 2 : 32;
      history_bucket *nv = realloc(v, nc * sizeof *nv);
      if (!nv) {
        ret = HISTORY_ENOMEM;
        errbuf_set(err, errlen, "out of memory listing %s", prefix);
        break;
      }
      v = nv;
      cap = nc;
    }
    history_bucket *b = &v[cnt++];
    b->hour = ref.hour;
    snprintf(b->key, sizeof b->key, "%s", key);
    b->info = info;
  }
  if (ret == HISTORY_OK && rc < 0) {
    errbuf_set(err, errlen, "listing %s: %s", prefix, e);
    ret = store_code(rc);
  }
  blob_iter_free(it);
  if (ret != HISTORY_OK) {
    free(v);
    return ret;
  }
  /* the store lists in key order, which is hour order (fixed-width hours) */
  *out = v;
  *n = cnt;
  return HISTORY_OK;
}

void history_span_add(history_span *s, int64_t hour) {
  if (s->first_hour < 0 || hour < s->first_hour) s->first_hour = hour;
  if (hour > s->last_hour) s->last_hour = hour;
  s->hours++;
}

void history_range_version(const history_bucket *b, size_t n, blob_info *version) {
  memset(version, 0, sizeof *version);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (size_t i = 0; ok && i < n; i++) {
    char line[256];
    int w;
    if (b[i].info.etag[0])
      w = snprintf(line, sizeof line, "%lld\x1f%s\n", (long long)b[i].hour, b[i].info.etag);
    else
      w = snprintf(line, sizeof line, "%lld\x1f%llu\x1f%lld\n", (long long)b[i].hour,
                   (unsigned long long)b[i].info.size, (long long)b[i].info.mtime_ms);
    ok = w > 0 && EVP_DigestUpdate(ctx, line, (size_t)w < sizeof line ? (size_t)w : sizeof line - 1);
    version->size += b[i].info.size;
    if (b[i].info.mtime_ms > version->mtime_ms) version->mtime_ms = b[i].info.mtime_ms;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen >= 16;
  EVP_MD_CTX_free(ctx);
  if (!ok) return; /* no ETag: nothing is cached or revalidated */
  char *p = version->etag;
  p += sprintf(p, "\"r-");
  for (int i = 0; i < 16; i++) p += sprintf(p, "%02x", md[i]);
  sprintf(p, "\"");
}

/* The ingest kind of a layout kind (the same names). */
static ingest_kind ingest_kind_of(layout_kind k) {
  ingest_kind ik = INGEST_KIND_NONE;
  if (ingest_kind_parse(layout_kind_name(k), &ik) != INGEST_OK) return INGEST_KIND_NONE;
  return ik;
}

/* Zeroes p's gauge columns (the kind's, by its sample types). */
static int zero_gauges(pp_profile *p, layout_kind kind, const char *what, char *err, size_t errlen) {
  ingest_kind_info ki;
  char e[512];
  if (ingest_kind_detect(p, ingest_kind_of(kind), &ki, e, sizeof e) != INGEST_OK) {
    errbuf_set(err, errlen, "%s is not a %s profile: %s", what, layout_kind_name(kind), e);
    return HISTORY_EPROFILE;
  }
  int any = 0;
  for (size_t i = 0; i < ki.ncols; i++) any |= ki.gauge[i];
  if (!any) return HISTORY_OK;
  int64_t f[INGEST_MAX_COLUMNS];
  ingest_kind_factors(&ki, 1, 0, f);
  if (pp_scale_columns(p, f, ki.ncols, e, sizeof e) != PP_OK) {
    errbuf_set(err, errlen, "%s: %s", what, e);
    return HISTORY_EPROFILE;
  }
  return HISTORY_OK;
}

/* Reads and decodes one stored profile. */
static int read_profile(blob_store *blob, const char *key, const pp_limits *lim, pp_profile **p, blob_info *info,
                        char *err, size_t errlen) {
  uint8_t *data = NULL;
  size_t len = 0;
  char e[768];
  size_t max = lim && lim->max_input_bytes ? lim->max_input_bytes : PP_DEFAULT_MAX_INPUT;
  int rc = blob_get(blob, key, max, &data, &len, info, e, sizeof e);
  if (rc != BLOB_OK) {
    if (rc == BLOB_ETOOBIG)
      errbuf_set(err, errlen, "%s is larger than %zu bytes", key, max);
    else
      errbuf_set(err, errlen, "reading %s: %s", key, e);
    return store_code(rc);
  }
  rc = pp_decode(data, len, lim, p, e, sizeof e);
  free(data);
  if (rc != PP_OK) {
    errbuf_set(err, errlen, "%s does not decode: %s", key, e);
    return rc == PP_ENOMEM ? HISTORY_ENOMEM : HISTORY_EPROFILE;
  }
  return HISTORY_OK;
}

int history_range_merge(blob_store *blob, const char *app, layout_kind kind, int64_t from_hour, int64_t to_hour,
                        const pp_limits *lim, pp_profile **out, blob_info *version, char *err, size_t errlen) {
  *out = NULL;
  if (version) memset(version, 0, sizeof *version);
  if (bad_source(app, kind, err, errlen)) return HISTORY_EINVAL;
  if (from_hour >= to_hour) {
    errbuf_set(err, errlen, "empty time range: from must be before to (after rounding down to the hour)");
    return HISTORY_EINVAL;
  }
  history_bucket *b = NULL;
  size_t n = 0;
  int rc = history_buckets(blob, app, kind, from_hour, to_hour, &b, &n, err, errlen);
  if (rc != HISTORY_OK) return rc;
  if (n == 0) {
    char f[40], t[40];
    chrono_format_rfc3339(from_hour * 3600 * 1000, 0, f, sizeof f);
    chrono_format_rfc3339(to_hour * 3600 * 1000, 0, t, sizeof t);
    errbuf_set(err, errlen, "no %s profile of app %s between %s and %s (no hour bucket in that range)",
               layout_kind_name(kind), app, f, t);
    return HISTORY_ENOTFOUND;
  }
  pp_merger *m = pp_merger_new();
  if (!m) {
    free(b);
    errbuf_set(err, errlen, "out of memory");
    return HISTORY_ENOMEM;
  }
  size_t used = 0;
  for (size_t i = 0; i < n && rc == HISTORY_OK; i++) {
    pp_profile *p = NULL;
    rc = read_profile(blob, b[i].key, lim, &p, &b[used].info, err, errlen);
    if (rc == HISTORY_ENOTFOUND) {
      /* removed since the listing (retention): the range no longer has it */
      rc = HISTORY_OK;
      continue;
    }
    if (rc != HISTORY_OK) break;
    b[used].hour = b[i].hour;
    used++;
    pp_remove_comments_with_prefix(p, INGEST_RESERVED_COMMENT_PREFIX);
    if (i + 1 < n) rc = zero_gauges(p, kind, b[i].key, err, errlen);
    if (rc != HISTORY_OK) {
      pp_free(p);
      break;
    }
    char e[512];
    int prc = pp_merger_add(m, p, e, sizeof e);
    if (prc != PP_OK) {
      errbuf_set(err, errlen, "merging %s into the range: %s", b[i].key, e);
      rc = pp_code(prc);
    }
  }
  if (rc == HISTORY_OK && used == 0) {
    errbuf_set(err, errlen, "no %s profile of app %s in that range any more", layout_kind_name(kind), app);
    rc = HISTORY_ENOTFOUND;
  }
  if (rc == HISTORY_OK) {
    char e[512];
    int prc = pp_merger_finish(m, out, e, sizeof e);
    if (prc != PP_OK) {
      errbuf_set(err, errlen, "merging the range: %s", e);
      rc = pp_code(prc);
    }
  }
  if (rc == HISTORY_OK && version) history_range_version(b, used, version);
  pp_merger_free(m);
  free(b);
  return rc;
}

/* ---- the handle and its metadata cache ---- */

typedef struct mentry {
  char *key; /* "{blob key}\x1f{etag}" */
  uint64_t hash;
  layout_kind kind;
  int64_t time_ns;
  ingest_meta meta;
  struct mentry *next;
} mentry;

struct history {
  history_config c;
  pthread_mutex_t mu;
  mentry **buckets;
  size_t nbuckets;
  mentry **ring; /* insertion order, for eviction */
  size_t cap, head, count;
  uint64_t hits, misses;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int history_new(const history_config *cfg, history **out) {
  *out = NULL;
  history *h = calloc(1, sizeof *h);
  if (!h) return HISTORY_ENOMEM;
  h->c = *cfg;
  h->cap = cfg->meta_cache ? cfg->meta_cache : 100000;
  h->nbuckets = 1;
  while (h->nbuckets < h->cap) h->nbuckets <<= 1;
  h->buckets = calloc(h->nbuckets, sizeof *h->buckets);
  h->ring = calloc(h->cap, sizeof *h->ring);
  if (!h->buckets || !h->ring) {
    free(h->buckets);
    free(h->ring);
    free(h);
    return HISTORY_ENOMEM;
  }
  pthread_mutex_init(&h->mu, NULL);
  *out = h;
  return HISTORY_OK;
}

static void mentry_free(mentry *e) {
  if (!e) return;
  ingest_meta_free(&e->meta);
  free(e->key);
  free(e);
}

void history_free(history *h) {
  if (!h) return;
  for (size_t i = 0; i < h->nbuckets; i++)
    for (mentry *e = h->buckets[i], *n; e; e = n) {
      n = e->next;
      mentry_free(e);
    }
  free(h->buckets);
  free(h->ring);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

void history_cache_stats(history *h, size_t *entries, uint64_t *hits, uint64_t *misses) {
  pthread_mutex_lock(&h->mu);
  if (entries) *entries = h->count;
  if (hits) *hits = h->hits;
  if (misses) *misses = h->misses;
  pthread_mutex_unlock(&h->mu);
}

/* Copies the cached metadata of ck into e. 1 on a hit, 0 on a miss, -1 out of memory. */
static int cache_get(history *h, const char *ck, history_entry *e) {
  uint64_t hv = hash_str(ck);
  int rc = 0;
  pthread_mutex_lock(&h->mu);
  for (mentry *m = h->buckets[hv & (h->nbuckets - 1)]; m; m = m->next) {
    if (m->hash != hv || strcmp(m->key, ck) != 0) continue;
    e->kind = m->kind;
    e->time_ns = m->time_ns;
    rc = ingest_meta_copy(&e->meta, &m->meta) == INGEST_OK ? 1 : -1;
    break;
  }
  if (rc == 1) h->hits++;
  else h->misses++;
  pthread_mutex_unlock(&h->mu);
  return rc;
}

static void unlink_entry(history *h, mentry *victim) {
  mentry **pp = &h->buckets[victim->hash & (h->nbuckets - 1)];
  while (*pp && *pp != victim) pp = &(*pp)->next;
  if (*pp) *pp = victim->next;
}

/* Stores a copy of e's metadata under ck (best effort: nothing on failure). */
static void cache_put(history *h, const char *ck, const history_entry *e) {
  mentry *m = calloc(1, sizeof *m);
  if (!m) return;
  m->key = strdup(ck);
  ingest_meta_init(&m->meta);
  if (!m->key || ingest_meta_copy(&m->meta, &e->meta) != INGEST_OK) {
    mentry_free(m);
    return;
  }
  m->hash = hash_str(ck);
  m->kind = e->kind;
  m->time_ns = e->time_ns;
  pthread_mutex_lock(&h->mu);
  for (mentry *x = h->buckets[m->hash & (h->nbuckets - 1)]; x; x = x->next)
    if (x->hash == m->hash && strcmp(x->key, ck) == 0) {
      /* another thread stored it meanwhile */
      pthread_mutex_unlock(&h->mu);
      mentry_free(m);
      return;
    }
  size_t slot = (h->head + h->count) % h->cap;
  mentry *victim = NULL;
  if (h->count == h->cap) {
    victim = h->ring[h->head];
    unlink_entry(h, victim);
    slot = h->head;
    h->head = (h->head + 1) % h->cap;
    h->count--;
  }
  h->ring[slot] = m;
  h->count++;
  mentry **b = &h->buckets[m->hash & (h->nbuckets - 1)];
  m->next = *b;
  *b = m;
  pthread_mutex_unlock(&h->mu);
  mentry_free(victim);
}

/*
 * Fills e's kind, time and metadata for the object at key (listed with
 * info), from the cache or by reading it. name is its staged name, kind
 * the kind its key says (LAYOUT_KIND_NONE for a staged object). Returns
 * HISTORY_OK, HISTORY_ENOTFOUND (gone), HISTORY_EPROFILE (does not decode,
 * or its record does not read), or another code.
 */
static int meta_of(history *h, const char *key, const blob_info *info, const char *name, layout_kind kind,
                   history_entry *e, char *err, size_t errlen) {
  char ck[LAYOUT_KEY_BUF + 96];
  snprintf(ck, sizeof ck, "%s\x1f%s", key, info->etag[0] ? info->etag : "");
  int hit = info->etag[0] ? cache_get(h, ck, e) : 0;
  if (hit < 0) return HISTORY_ENOMEM;
  if (hit == 1) return HISTORY_OK;
  pp_profile *p = NULL;
  blob_info got;
  int rc = read_profile(h->c.blob, key, &h->c.limits, &p, &got, err, errlen);
  if (rc != HISTORY_OK) return rc;
  int found = 0;
  char e2[512];
  ingest_meta_free(&e->meta);
  if (ingest_meta_from_profile(p, &e->meta, &found, e2, sizeof e2) != INGEST_OK) {
    pp_free(p);
    errbuf_set(err, errlen, "%s: its upload record does not read: %s", key, e2);
    return HISTORY_EPROFILE;
  }
  int64_t stamp = 0;
  layout_name_stamp_ns(name, &stamp);
  if (!found) e->meta.kind = INGEST_KIND_CPU; /* a plain upload of the native route */
  e->time_ns = e->meta.time_ns > 0 ? e->meta.time_ns
                                   : ingest_upload_time(pp_time_nanos(p), stamp > 0 ? stamp : chrono_now_ns(),
                                                        h->c.retention_ns);
  pp_free(p);
  e->kind = kind != LAYOUT_KIND_NONE ? kind : layout_kind_parse(ingest_kind_name(e->meta.kind));
  if (e->kind == LAYOUT_KIND_NONE) {
    errbuf_set(err, errlen, "%s: its upload record names no kind", key);
    return HISTORY_EPROFILE;
  }
  /* the key names the version read: the listing's ETag if unchanged */
  if (got.etag[0] && (!info->etag[0] || strcmp(got.etag, info->etag) == 0)) {
    snprintf(ck, sizeof ck, "%s\x1f%s", key, got.etag);
    cache_put(h, ck, e);
  }
  return HISTORY_OK;
}

/* 1 when every pair of want is among have. */
static int labels_match(const ingest_labels *have, const ingest_labels *want) {
  if (!want) return 1;
  for (size_t i = 0; i < want->n; i++) {
    int ok = 0;
    for (size_t j = 0; !ok && j < have->n; j++)
      ok = strcmp(have->v[j].key, want->v[i].key) == 0 && strcmp(have->v[j].value, want->v[i].value) == 0;
    if (!ok) return 0;
  }
  return 1;
}

/* ---- listing kept uploads ---- */

typedef struct found {
  history_entry *v;
  size_t n, cap;
} found;

static history_entry *found_push(found *f) {
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 64;
    history_entry *nv = realloc(f->v, nc * sizeof *nv);
    if (!nv) return NULL;
    f->v = nv;
    f->cap = nc;
  }
  history_entry *e = &f->v[f->n];
  memset(e, 0, sizeof *e);
  ingest_meta_init(&e->meta);
  return e;
}

void history_entries_free(history_entry *e, size_t n) {
  if (!e) return;
  for (size_t i = 0; i < n; i++) ingest_meta_free(&e[i].meta);
  free(e);
}

static const char *name_of(const history_entry *e) {
  const char *s = strrchr(e->key, '/');
  return s ? s + 1 : e->key;
}

/* By staged name, history before staging (the one to keep first). */
static int by_name(const void *a, const void *b) {
  const history_entry *x = a, *y = b;
  int c = strcmp(name_of(x), name_of(y));
  return c ? c : x->staged - y->staged;
}

/* By time, then staged name. */
static int by_time(const void *a, const void *b) {
  const history_entry *x = a, *y = b;
  if (x->time_ns != y->time_ns) return x->time_ns < y->time_ns ? -1 : 1;
  return strcmp(name_of(x), name_of(y));
}

/*
 * Lists prefix and adds every upload matching q: staged objects (kind
 * NONE: their kind comes from their record) or the history of one kind.
 */
static int scan(history *h, const history_query *q, const char *prefix, layout_kind kind, found *f, char *err,
                size_t errlen) {
  blob_iter *it = NULL;
  char e[768];
  int rc = blob_list(h->c.blob, prefix, &it, e, sizeof e);
  if (rc != BLOB_OK) {
    errbuf_set(err, errlen, "listing %s: %s", prefix, e);
    return store_code(rc);
  }
  int64_t from_hour = layout_hour_of_ns(q->from_ns), to_hour = layout_hour_of_ns(q->to_ns);
  const char *key;
  blob_info info;
  layout_ref ref;
  int ret = HISTORY_OK;
  while ((rc = blob_iter_next(it, &key, &info, e, sizeof e)) == 1) {
    if (layout_parse_key(key, &ref) != 0 || strcmp(ref.app, q->app) != 0) continue;
    if (kind == LAYOUT_KIND_NONE ? ref.type != LAYOUT_KEY_STAGED
                                 : (ref.type != LAYOUT_KEY_HISTORY || ref.kind != kind))
      continue;
    if (kind != LAYOUT_KIND_NONE && (ref.hour < from_hour || ref.hour > to_hour)) continue;
    history_entry *x = found_push(f);
    if (!x) {
      ret = HISTORY_ENOMEM;
      errbuf_set(err, errlen, "out of memory");
      break;
    }
    snprintf(x->key, sizeof x->key, "%s", key);
    snprintf(x->app, sizeof x->app, "%s", q->app);
    x->staged = kind == LAYOUT_KIND_NONE;
    char me[512];
    int mrc = meta_of(h, key, &info, ref.name, kind, x, me, sizeof me);
    if (mrc == HISTORY_ENOMEM || mrc == HISTORY_ESTORE) {
      ingest_meta_free(&x->meta);
      errbuf_set(err, errlen, "%s", me);
      ret = mrc;
      break;
    }
    int keep = mrc == HISTORY_OK && (q->kind == LAYOUT_KIND_NONE || x->kind == q->kind) &&
               x->time_ns >= q->from_ns && x->time_ns <= q->to_ns && labels_match(&x->meta.labels, q->labels);
    int64_t id_ns = kind == LAYOUT_KIND_NONE ? x->time_ns : ref.hour * HISTORY_HOUR_NS;
    keep = keep && push_profefe_id(q->app, x->kind, id_ns, ref.name, x->id, sizeof x->id) == 0;
    if (!keep) {
      ingest_meta_free(&x->meta);
      continue;
    }
    f->n++;
  }
  if (ret == HISTORY_OK && rc < 0) {
    errbuf_set(err, errlen, "listing %s: %s", prefix, e);
    ret = store_code(rc);
  }
  blob_iter_free(it);
  return ret;
}

int history_find(history *h, const history_query *q, history_entry **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  if (!q->app || !layout_app_valid(q->app)) {
    errbuf_set(err, errlen, "invalid app name \"%.80s\"", q->app ? q->app : "");
    return HISTORY_EINVAL;
  }
  found f = {0};
  char prefix[LAYOUT_KEY_BUF];
  /* staging first: an upload moved to history meanwhile is then found there */
  int rc = layout_staging_prefix(q->app, prefix, sizeof prefix) == 0 ? HISTORY_OK : HISTORY_EINVAL;
  if (rc == HISTORY_OK) rc = scan(h, q, prefix, LAYOUT_KIND_NONE, &f, err, errlen);
  for (int k = 0; rc == HISTORY_OK && k < LAYOUT_KIND_COUNT; k++) {
    if (q->kind != LAYOUT_KIND_NONE && q->kind != (layout_kind)k) continue;
    if (layout_history_prefix(q->app, (layout_kind)k, -1, prefix, sizeof prefix) != 0) rc = HISTORY_EINVAL;
    else rc = scan(h, q, prefix, (layout_kind)k, &f, err, errlen);
  }
  if (rc != HISTORY_OK) {
    history_entries_free(f.v, f.n);
    return rc;
  }
  if (f.n > 1) {
    qsort(f.v, f.n, sizeof *f.v, by_name);
    size_t w = 0;
    for (size_t i = 0; i < f.n; i++) {
      if (w > 0 && strcmp(name_of(&f.v[w - 1]), name_of(&f.v[i])) == 0) {
        ingest_meta_free(&f.v[i].meta);
        continue;
      }
      f.v[w++] = f.v[i];
    }
    f.n = w;
    qsort(f.v, f.n, sizeof *f.v, by_time);
  }
  if (q->limit && f.n > q->limit) {
    for (size_t i = q->limit; i < f.n; i++) ingest_meta_free(&f.v[i].meta);
    f.n = q->limit;
  }
  if (f.n == 0) {
    free(f.v);
    f.v = NULL;
  }
  *out = f.v;
  *n = f.n;
  return HISTORY_OK;
}

/* ---- one upload by id ---- */

int history_get_id(history *h, const char *id, uint8_t **data, size_t *len, char *key, char *err, size_t errlen) {
  *data = NULL;
  *len = 0;
  char app[LAYOUT_APP_MAX + 1];
  layout_kind kind;
  int64_t hour;
  const char *name;
  if (push_profefe_id_parse(id, app, &kind, &hour, &name) != 0) {
    errbuf_set(err, errlen, "bad profile id \"%.200s\": want APP.KIND.YYYYMMDDHH.NAME", id ? id : "");
    return HISTORY_EINVAL;
  }
  char keys[2][LAYOUT_KEY_BUF];
  if (layout_history_key(app, kind, hour, name, keys[0], sizeof keys[0]) != 0 ||
      layout_staging_key(app, name, keys[1], sizeof keys[1]) != 0) {
    errbuf_set(err, errlen, "bad profile id \"%.200s\"", id);
    return HISTORY_EINVAL;
  }
  size_t max = h->c.limits.max_input_bytes ? h->c.limits.max_input_bytes : PP_DEFAULT_MAX_INPUT;
  char e[768];
  /* history, staging, and history again: the worker may move it in between */
  for (int attempt = 0; attempt < 3; attempt++) {
    const char *k = keys[attempt % 2];
    int rc = blob_get(h->c.blob, k, max, data, len, NULL, e, sizeof e);
    if (rc == BLOB_OK) {
      if (key) snprintf(key, LAYOUT_KEY_BUF, "%s", k);
      return HISTORY_OK;
    }
    if (rc != BLOB_ENOTFOUND) {
      if (rc == BLOB_ETOOBIG) errbuf_set(err, errlen, "%s is larger than %zu bytes", k, max);
      else errbuf_set(err, errlen, "reading %s: %s", k, e);
      return store_code(rc);
    }
  }
  errbuf_set(err, errlen, "nothing found: no kept profile %.200s", id);
  return HISTORY_ENOTFOUND;
}

/* Adds the stored upload (data) to m, without its pgopipe- comments. */
static int merge_bytes(history *h, pp_merger *m, const uint8_t *data, size_t len, const char *what, char *err,
                       size_t errlen) {
  pp_profile *p = NULL;
  char e[512];
  int rc = pp_decode(data, len, &h->c.limits, &p, e, sizeof e);
  if (rc != PP_OK) {
    errbuf_set(err, errlen, "%s does not decode: %s", what, e);
    return rc == PP_ENOMEM ? HISTORY_ENOMEM : HISTORY_EPROFILE;
  }
  pp_remove_comments_with_prefix(p, INGEST_RESERVED_COMMENT_PREFIX);
  rc = pp_merger_add(m, p, e, sizeof e);
  if (rc != PP_OK) {
    errbuf_set(err, errlen, "can't merge %s: %s", what, e);
    return pp_code(rc);
  }
  return HISTORY_OK;
}

static int finish(pp_merger *m, int rc, pp_profile **out, char *err, size_t errlen) {
  if (rc == HISTORY_OK) {
    char e[512];
    int prc = pp_merger_finish(m, out, e, sizeof e);
    if (prc != PP_OK) {
      errbuf_set(err, errlen, "merging: %s", e);
      rc = pp_code(prc);
    }
  }
  pp_merger_free(m);
  return rc;
}

int history_merge_ids(history *h, const char *ids, pp_profile **out, char *err, size_t errlen) {
  *out = NULL;
  if (!ids || !*ids) {
    errbuf_set(err, errlen, "no profile id");
    return HISTORY_EINVAL;
  }
  pp_merger *m = pp_merger_new();
  if (!m) {
    errbuf_set(err, errlen, "out of memory");
    return HISTORY_ENOMEM;
  }
  int rc = HISTORY_OK;
  const char *p = ids;
  while (rc == HISTORY_OK) {
    const char *plus = strchr(p, '+');
    size_t l = plus ? (size_t)(plus - p) : strlen(p);
    char id[256];
    if (l == 0 || l >= sizeof id) {
      errbuf_set(err, errlen, "bad profile id list \"%.200s\": an empty or over-long id", ids);
      rc = HISTORY_EINVAL;
      break;
    }
    memcpy(id, p, l);
    id[l] = '\0';
    uint8_t *data = NULL;
    size_t len = 0;
    rc = history_get_id(h, id, &data, &len, NULL, err, errlen);
    if (rc == HISTORY_OK) rc = merge_bytes(h, m, data, len, id, err, errlen);
    free(data);
    if (!plus) break;
    p = plus + 1;
  }
  return finish(m, rc, out, err, errlen);
}

int history_merge_found(history *h, const history_entry *e, size_t n, pp_profile **out, char *err, size_t errlen) {
  *out = NULL;
  if (n == 0) {
    errbuf_set(err, errlen, "nothing found");
    return HISTORY_ENOTFOUND;
  }
  pp_merger *m = pp_merger_new();
  if (!m) {
    errbuf_set(err, errlen, "out of memory");
    return HISTORY_ENOMEM;
  }
  int rc = HISTORY_OK;
  for (size_t i = 0; rc == HISTORY_OK && i < n; i++) {
    uint8_t *data = NULL;
    size_t len = 0;
    rc = history_get_id(h, e[i].id, &data, &len, NULL, err, errlen);
    if (rc == HISTORY_OK) rc = merge_bytes(h, m, data, len, e[i].id, err, errlen);
    free(data);
  }
  return finish(m, rc, out, err, errlen);
}

/* ---- services ---- */

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void history_names_free(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

int history_services(history *h, char ***out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  blob_iter *it = NULL;
  char e[768];
  int rc = blob_list(h->c.blob, "", &it, e, sizeof e);
  if (rc != BLOB_OK) {
    errbuf_set(err, errlen, "listing the store: %s", e);
    return store_code(rc);
  }
  char **v = NULL;
  size_t cnt = 0, cap = 0;
  char last[LAYOUT_APP_MAX + 1] = "";
  const char *key;
  blob_info info;
  layout_ref ref;
  int ret = HISTORY_OK;
  while ((rc = blob_iter_next(it, &key, &info, e, sizeof e)) == 1) {
    if (layout_parse_key(key, &ref) != 0 || (ref.type != LAYOUT_KEY_HISTORY && ref.type != LAYOUT_KEY_STAGED))
      continue;
    if (strcmp(ref.app, last) == 0) continue; /* an app's keys are listed together */
    snprintf(last, sizeof last, "%s", ref.app);
    if (cnt == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **nv = realloc(v, nc * sizeof *nv);
      if (!nv) {
        ret = HISTORY_ENOMEM;
        break;
      }
      v = nv;
      cap = nc;
    }
    if (!(v[cnt] = strdup(ref.app))) {
      ret = HISTORY_ENOMEM;
      break;
    }
    cnt++;
  }
  if (ret == HISTORY_OK && rc < 0) {
    errbuf_set(err, errlen, "listing the store: %s", e);
    ret = store_code(rc);
  }
  blob_iter_free(it);
  if (ret == HISTORY_ENOMEM) errbuf_set(err, errlen, "out of memory");
  if (ret != HISTORY_OK) {
    history_names_free(v, cnt);
    return ret;
  }
  if (cnt > 1) qsort(v, cnt, sizeof *v, by_str);
  *out = v;
  *n = cnt;
  return HISTORY_OK;
}
