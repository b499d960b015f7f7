/*
 * view.c — the UI's apps listing and its cached tree and diff JSON (see
 * view.h for the model).
 *
 * A request is resolved in three steps: the source's identity (the base's
 * ETag from a blob_stat, or what the range reader says), the cache key
 * (identity + options) and its digest, the result's ETag; then either the
 * client already has it (If-None-Match), or the cache has it, or it is made:
 * read, decode, export, remember. Only the last step is expensive, and it
 * runs without the cache's lock held.
 */
#include "view.h"

#include <inttypes.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

#define DEFAULT_CACHE_BYTES ((size_t)64 << 20)
#define ID_MAX 512

typedef struct entry {
  char *key;
  uint8_t *json;
  size_t len;
  uint64_t used; /* tick of the last use */
} entry;

struct view {
  view_config c;
  pthread_mutex_t mu;
  entry *e;
  size_t n, cap;
  size_t bytes;
  uint64_t tick, hits, misses;
};

int view_http_status(int code) {
  switch (code) {
  case VIEW_OK: return 200;
  case VIEW_NOT_MODIFIED: return 304;
  case VIEW_EINVAL: return 400;
  case VIEW_ENORANGE: return 400;
  case VIEW_ENOTFOUND: return 404;
  case VIEW_EINCOMPATIBLE: return 422;
  case VIEW_ESTORE: return 503;
  default: return 500;
  }
}

int view_new(const view_config *cfg, view **out) {
  *out = NULL;
  view *v = calloc(1, sizeof *v);
  if (!v) return VIEW_ENOMEM;
  v->c = *cfg;
  if (!v->c.cache_bytes) v->c.cache_bytes = DEFAULT_CACHE_BYTES;
  pthread_mutex_init(&v->mu, NULL);
  *out = v;
  return VIEW_OK;
}

void view_free(view *v) {
  if (!v) return;
  for (size_t i = 0; i < v->n; i++) {
    free(v->e[i].key);
    free(v->e[i].json);
  }
  free(v->e);
  pthread_mutex_destroy(&v->mu);
  free(v);
}

int view_has_ranges(const view *v) { return v->c.range != NULL; }

int view_format_fits(const char *format, layout_kind kind) {
  if (!format) return 0;
  if (!strcmp(format, "chrome") || !strcmp(format, "pgo") || !strcmp(format, "preprofile"))
    return kind == LAYOUT_KIND_CPU;
  return 1;
}

/* ---- apps ---- */

/* Appends the app being collected (its present kinds in kind order). */
static int flush_app(view_app **v, size_t *n, size_t *cap, const char *app, view_kind *k, const int *seen) {
  size_t cnt = 0;
  for (int i = 0; i < LAYOUT_KIND_COUNT; i++) cnt += seen[i] != 0;
  if (!cnt) return 0;
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    view_app *nv = realloc(*v, nc * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    *cap = nc;
  }
  view_app *a = &(*v)[(*n)++];
  memset(a, 0, sizeof *a);
  snprintf(a->app, sizeof a->app, "%s", app);
  for (int i = 0; i < LAYOUT_KIND_COUNT; i++)
    if (seen[i]) a->kinds[a->nkinds++] = k[i];
  return 0;
}

static void reset_kinds(view_kind *k, int *seen) {
  for (int i = 0; i < LAYOUT_KIND_COUNT; i++) {
    memset(&k[i], 0, sizeof k[i]);
    k[i].kind = (layout_kind)i;
    k[i].first_hour = k[i].last_hour = -1;
    seen[i] = 0;
  }
}

int view_list_apps(view *v, view_app **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  blob_iter *it = NULL;
  int rc = blob_list(v->c.blob, "", &it, err, errlen);
  if (rc != BLOB_OK) return rc == BLOB_ENOMEM ? VIEW_ENOMEM : VIEW_ESTORE;
  view_app *apps = NULL;
  size_t cnt = 0, cap = 0;
  view_kind k[LAYOUT_KIND_COUNT];
  int seen[LAYOUT_KIND_COUNT];
  char cur[LAYOUT_APP_MAX + 1] = "";
  reset_kinds(k, seen);
  const char *key;
  blob_info info;
  layout_ref ref;
  int ret = VIEW_OK;
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (layout_parse_key(key, &ref) != 0) continue;
    if (ref.type != LAYOUT_KEY_BASE && ref.type != LAYOUT_KEY_HOUR) continue;
    if (ref.kind < 0 || ref.kind >= LAYOUT_KIND_COUNT) continue;
    if (strcmp(ref.app, cur) != 0) {
      if (flush_app(&apps, &cnt, &cap, cur, k, seen) != 0) {
        ret = VIEW_ENOMEM;
        break;
      }
      reset_kinds(k, seen);
      snprintf(cur, sizeof cur, "%s", ref.app);
    }
    view_kind *vk = &k[ref.kind];
    seen[ref.kind] = 1;
    if (ref.type == LAYOUT_KEY_BASE) {
      vk->has_base = 1;
      vk->size = info.size;
      vk->mtime_ms = info.mtime_ms;
    } else {
      if (vk->first_hour < 0 || ref.hour < vk->first_hour) vk->first_hour = ref.hour;
      if (ref.hour > vk->last_hour) vk->last_hour = ref.hour;
      vk->hours++;
    }
  }
  if (ret == VIEW_OK && rc < 0) ret = rc == BLOB_ENOMEM ? VIEW_ENOMEM : VIEW_ESTORE;
  if (ret == VIEW_OK && flush_app(&apps, &cnt, &cap, cur, k, seen) != 0) ret = VIEW_ENOMEM;
  blob_iter_free(it);
  if (ret != VIEW_OK) {
    if (ret == VIEW_ENOMEM) errbuf_set(err, errlen, "out of memory listing apps");
    free(apps);
    return ret;
  }
  *out = apps;
  *n = cnt;
  return VIEW_OK;
}

/* ---- the cache ---- */

/* Finds key; on a hit copies the JSON into *json and *len (malloc'd). Returns 1
 * on a hit, 0 on a miss, VIEW_ENOMEM when the copy failed. */
static int cache_get(view *v, const char *key, uint8_t **json, size_t *len) {
  int rc = 0;
  pthread_mutex_lock(&v->mu);
  for (size_t i = 0; i < v->n; i++) {
    if (strcmp(v->e[i].key, key) != 0) continue;
    v->e[i].used = ++v->tick;
    uint8_t *c = malloc(v->e[i].len + 1);
    if (!c) {
      rc = VIEW_ENOMEM;
      break;
    }
    memcpy(c, v->e[i].json, v->e[i].len);
    c[v->e[i].len] = '\0';
    *json = c;
    *len = v->e[i].len;
    v->hits++;
    rc = 1;
    break;
  }
  if (rc == 0) v->misses++;
  pthread_mutex_unlock(&v->mu);
  return rc;
}

static void drop(view *v, size_t i) {
  v->bytes -= v->e[i].len + strlen(v->e[i].key);
  free(v->e[i].key);
  free(v->e[i].json);
  v->e[i] = v->e[--v->n];
}

/* Remembers a copy of json under key, evicting the least recently used
 * entries beyond the bound. Best effort: out of memory just skips it. */
static void cache_put(view *v, const char *key, const uint8_t *json, size_t len) {
  size_t cost = len + strlen(key);
  if (cost > v->c.cache_bytes / 2) return;
  char *k = strdup(key);
  uint8_t *j = malloc(len ? len : 1);
  if (!k || !j) {
    free(k);
    free(j);
    return;
  }
  memcpy(j, json, len);
  pthread_mutex_lock(&v->mu);
  for (size_t i = 0; i < v->n; i++)
    if (!strcmp(v->e[i].key, key)) { /* made twice at once: keep one */
      drop(v, i);
      break;
    }
  while (v->n && v->bytes + cost > v->c.cache_bytes) {
    size_t lru = 0;
    for (size_t i = 1; i < v->n; i++)
      if (v->e[i].used < v->e[lru].used) lru = i;
    drop(v, lru);
  }
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 16;
    entry *ne = realloc(v->e, nc * sizeof *ne);
    if (!ne) {
      pthread_mutex_unlock(&v->mu);
      free(k);
      free(j);
      return;
    }
    v->e = ne;
    v->cap = nc;
  }
  v->e[v->n++] = (entry){k, j, len, ++v->tick};
  v->bytes += cost;
  pthread_mutex_unlock(&v->mu);
}

void view_cache_stats(view *v, size_t *entries, size_t *bytes, uint64_t *hits, uint64_t *misses) {
  pthread_mutex_lock(&v->mu);
  if (entries) *entries = v->n;
  if (bytes) *bytes = v->bytes;
  if (hits) *hits = v->hits;
  if (misses) *misses = v->misses;
  pthread_mutex_unlock(&v->mu);
}

/* ---- sources ---- */

/* A source being resolved: its identity and, once read, its bytes. */
typedef struct loaded {
  char key[LAYOUT_KEY_BUF]; /* the base's blob key ("" for a range) */
  char id[ID_MAX];
  uint8_t *data;
  size_t len;
  int range;
} loaded;

static int is_range(const view_source *s) { return s->from_ns != 0 || s->to_ns != 0; }

static const char *kind_name(layout_kind k) {
  const char *n = layout_kind_name(k);
  return n ? n : "?";
}

static int blob_code(int rc) {
  if (rc == BLOB_ENOTFOUND) return VIEW_ENOTFOUND;
  if (rc == BLOB_ETOOBIG) return VIEW_EPROFILE;
  if (rc == BLOB_ENOMEM) return VIEW_ENOMEM;
  return VIEW_ESTORE;
}

/* Writes the identity of a stored object: its ETag, else size and time. */
static void object_id(char *id, size_t n, const char *key, const blob_info *info) {
  if (info->etag[0])
    snprintf(id, n, "B\x1f%s\x1f%s", key, info->etag);
  else
    snprintf(id, n, "B\x1f%s\x1f%" PRIu64 "\x1f%" PRId64, key, info->size, info->mtime_ms);
}

/* Checks src and finds its identity (a range is read right away: its reader
 * is the only one who knows what it is made of). */
static int resolve(view *v, const view_source *src, loaded *l, char *err, size_t errlen) {
  memset(l, 0, sizeof *l);
  if (!src->app || !layout_app_valid(src->app)) {
    errbuf_set(err, errlen, "invalid app name \"%.80s\": want 1 to 63 characters of a-z, 0-9 and '-'",
               src->app ? src->app : "");
    return VIEW_EINVAL;
  }
  if (!layout_kind_name(src->kind)) {
    errbuf_set(err, errlen, "invalid profile kind");
    return VIEW_EINVAL;
  }
  if (is_range(src)) {
    if (src->from_ns >= src->to_ns) {
      errbuf_set(err, errlen, "empty time range: from must be before to (after rounding down to the hour)");
      return VIEW_EINVAL;
    }
    if (!v->c.range) {
      errbuf_set(err, errlen, "time ranges (from, to) are not served by this server: it keeps no history");
      return VIEW_ENORANGE;
    }
    char ident[ID_MAX - 64] = "";
    int rc = v->c.range(v->c.range_ctx, src->app, src->kind, src->from_ns, src->to_ns, &l->data, &l->len, ident,
                        sizeof ident, err, errlen);
    if (rc != 0) return rc < 0 ? rc : VIEW_ESTORE;
    l->range = 1;
    if (ident[0])
      snprintf(l->id, sizeof l->id, "R\x1f%s\x1f%s\x1f%" PRId64 "\x1f%" PRId64 "\x1f%s", src->app,
               kind_name(src->kind), src->from_ns, src->to_ns, ident);
    return VIEW_OK;
  }
  if (layout_kind_base_key(src->app, src->kind, l->key, sizeof l->key) != 0) {
    errbuf_set(err, errlen, "invalid app name \"%.80s\"", src->app);
    return VIEW_EINVAL;
  }
  blob_info info;
  char berr[512];
  int rc = blob_stat(v->c.blob, l->key, &info, berr, sizeof berr);
  if (rc == BLOB_ENOTFOUND) {
    errbuf_set(err, errlen, "no %s profile for app %s yet", kind_name(src->kind), src->app);
    return VIEW_ENOTFOUND;
  }
  if (rc != BLOB_OK) {
    errbuf_set(err, errlen, "reading %s: %s", l->key, berr);
    return blob_code(rc);
  }
  object_id(l->id, sizeof l->id, l->key, &info);
  return VIEW_OK;
}

/* Reads a base that was only stat'd; its identity follows what was read. */
static int load(view *v, const view_source *src, loaded *l, char *err, size_t errlen) {
  if (l->data || l->range) return VIEW_OK;
  blob_info info;
  char berr[512];
  size_t max = v->c.max_input_bytes ? v->c.max_input_bytes : PP_DEFAULT_MAX_INPUT;
  int rc = blob_get(v->c.blob, l->key, max, &l->data, &l->len, &info, berr, sizeof berr);
  if (rc == BLOB_ENOTFOUND) {
    errbuf_set(err, errlen, "no %s profile for app %s yet", kind_name(src->kind), src->app);
    return VIEW_ENOTFOUND;
  }
  if (rc != BLOB_OK) {
    errbuf_set(err, errlen, "reading %s: %s", l->key, berr);
    return blob_code(rc);
  }
  object_id(l->id, sizeof l->id, l->key, &info);
  return VIEW_OK;
}

static int decode(view *v, const loaded *l, pp_profile **p, char *err, size_t errlen) {
  pp_limits lim = {.max_input_bytes = v->c.max_input_bytes, .max_decoded_bytes = v->c.max_decoded_bytes};
  char perr[512];
  int rc = pp_decode(l->data, l->len, &lim, p, perr, sizeof perr);
  if (rc == PP_OK) return VIEW_OK;
  errbuf_set(err, errlen, "%s: %s", l->key[0] ? l->key : "profile of the time range", perr);
  return rc == PP_ENOMEM ? VIEW_ENOMEM : VIEW_EPROFILE;
}

/* ---- keys, ETags ---- */

/* The cache key of a tree (b NULL) or diff (b the base) with opts; -1 when
 * an identity is not cacheable ("") or the key does not fit. */
static int make_key(char *buf, size_t n, const loaded *b, const loaded *c, const pp_export_opts *o) {
  if (!c->id[0] || (b && !b->id[0])) return -1;
  int k = snprintf(buf, n, "%s\x1e%s\x1e%s\x1e%s\x1e%.17g\x1e%zu", b ? "diff" : "tree", b ? b->id : "", c->id,
                   o->sample_type ? o->sample_type : "", o->min_share, o->max_top);
  return k < 0 || (size_t)k >= n ? -1 : 0;
}

static void etag_of(const char *key, char *etag, size_t n) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)key, strlen(key), d);
  char hex[33];
  for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  snprintf(etag, n, "\"t-%s\"", hex);
}

/* Does an If-None-Match value name etag ("*", lists, weak forms)? */
static int names_etag(const char *inm, const char *etag) {
  if (!inm || !etag[0]) return 0;
  size_t el = strlen(etag);
  const char *p = inm;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    if (!*p) break;
    if (*p == '*') return 1;
    if (!strncmp(p, "W/", 2)) p += 2;
    const char *e = p;
    if (*p == '"') {
      const char *q = strchr(p + 1, '"');
      e = q ? q + 1 : p + strlen(p);
    } else {
      while (*e && *e != ',') e++;
    }
    if ((size_t)(e - p) == el && !strncmp(p, etag, el)) return 1;
    p = e;
  }
  return 0;
}

static int export_code(int rc) {
  if (rc == PP_EINVAL) return VIEW_EINVAL;
  if (rc == PP_EINCOMPATIBLE) return VIEW_EINCOMPATIBLE;
  if (rc == PP_ENOMEM) return VIEW_ENOMEM;
  return VIEW_EPROFILE;
}

static int check_opts(const pp_export_opts *o, char *err, size_t errlen) {
  if (!(o->min_share >= 0 && o->min_share <= 1)) {
    errbuf_set(err, errlen, "min_share must be a number from 0 to 1");
    return VIEW_EINVAL;
  }
  return VIEW_OK;
}

/* The common path of trees and diffs (b NULL for a tree). */
static int run(view *v, const view_source *bsrc, const view_source *csrc, const pp_export_opts *opts,
               const char *inm, view_out *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  pp_export_opts o = opts ? *opts : (pp_export_opts){0};
  int rc = check_opts(&o, err, errlen);
  if (rc != VIEW_OK) return rc;
  loaded lb, lc;
  memset(&lb, 0, sizeof lb);
  pp_profile *pb = NULL, *pc = NULL;
  char key[3 * ID_MAX];
  int cacheable = 0;
  if (bsrc && (rc = resolve(v, bsrc, &lb, err, errlen)) != VIEW_OK) goto done_b;
  if ((rc = resolve(v, csrc, &lc, err, errlen)) != VIEW_OK) goto done_b;
  cacheable = make_key(key, sizeof key, bsrc ? &lb : NULL, &lc, &o) == 0;
  if (cacheable) {
    etag_of(key, out->etag, sizeof out->etag);
    if (names_etag(inm, out->etag)) {
      rc = VIEW_NOT_MODIFIED;
      goto done;
    }
    int hit = cache_get(v, key, &out->json, &out->len);
    if (hit < 0) {
      rc = hit;
      errbuf_set(err, errlen, "out of memory");
      goto done;
    }
    if (hit) {
      rc = VIEW_OK;
      goto done;
    }
  }
  if (bsrc && (rc = load(v, bsrc, &lb, err, errlen)) != VIEW_OK) goto done;
  if ((rc = load(v, csrc, &lc, err, errlen)) != VIEW_OK) goto done;
  /* What was read may be newer than what was stat'd: name the result after it. */
  cacheable = make_key(key, sizeof key, bsrc ? &lb : NULL, &lc, &o) == 0;
  if (cacheable) etag_of(key, out->etag, sizeof out->etag);
  else out->etag[0] = '\0';
  if (bsrc && (rc = decode(v, &lb, &pb, err, errlen)) != VIEW_OK) goto done;
  if ((rc = decode(v, &lc, &pc, err, errlen)) != VIEW_OK) goto done;
  char perr[512];
  int prc = bsrc ? pp_export_diff(pb, pc, &o, &out->json, &out->len, perr, sizeof perr)
                 : pp_export_tree(pc, &o, &out->json, &out->len, perr, sizeof perr);
  if (prc != PP_OK) {
    rc = export_code(prc);
    errbuf_set(err, errlen, "%s", perr);
    goto done;
  }
  if (cacheable) cache_put(v, key, out->json, out->len);
  rc = VIEW_OK;
done:
  free(lc.data);
done_b:
  free(lb.data);
  if (rc != VIEW_OK && rc != VIEW_NOT_MODIFIED) out->etag[0] = '\0';
  if (rc != VIEW_OK) {
    free(out->json);
    out->json = NULL;
    out->len = 0;
  }
  pp_free(pb);
  pp_free(pc);
  return rc;
}

int view_tree(view *v, const view_source *src, const pp_export_opts *opts, const char *if_none_match,
              view_out *out, char *err, size_t errlen) {
  return run(v, NULL, src, opts, if_none_match, out, err, errlen);
}

int view_diff(view *v, const view_source *base, const view_source *cur, const pp_export_opts *opts,
              const char *if_none_match, view_out *out, char *err, size_t errlen) {
  return run(v, base, cur, opts, if_none_match, out, err, errlen);
}
