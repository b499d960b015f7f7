/*
 * worker_gauge.c — the gauge part G of each (app, kind) with gauge columns
 * (heap in-use, goroutine counts): Σ over the instances seen within the
 * gauge TTL of their latest snapshot's gauge columns (worker.h, "Profile
 * kinds").
 *
 * G is kept in memory per (app, kind), with every live instance's gauge
 * snapshot, and changed by differences: a new snapshot adds itself and
 * subtracts the instance's previous one, an expired instance subtracts its
 * own; all the changes of a batch (or a tick) go through one merge. It is
 * derived from the instance states, so it needs no record: it is rebuilt
 * from them when the worker first touches the (app, kind), or finds its
 * base written by someone else (a table is valid for the base ETag it last
 * read or wrote). The tick takes expired instances out and rewrites the
 * bases whose G changed.
 *
 * Memory: one decoded gauge snapshot per live instance, plus G.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* ---- Columns ---- */

void wk_columns_of(const ingest_kind_info *ki, wk_columns *out) {
  memset(out, 0, sizeof *out);
  out->ncols = ki->ncols < INGEST_MAX_COLUMNS ? ki->ncols : INGEST_MAX_COLUMNS;
  for (size_t j = 0; j < out->ncols; j++) {
    out->gauge[j] = ki->gauge[j];
    if (ki->gauge[j]) out->has_gauges = 1;
    else out->has_counters = 1;
  }
}

int wk_columns_detect(const pp_profile *p, layout_kind kind, wk_columns *out) {
  ingest_kind hint = INGEST_KIND_NONE;
  ingest_kind_parse(layout_kind_name(kind), &hint);
  ingest_kind_info ki;
  if (ingest_kind_detect(p, hint, &ki, NULL, 0) != INGEST_OK) return -1;
  wk_columns_of(&ki, out);
  return 0;
}

void wk_columns_counters(size_t ncols, wk_columns *out) {
  memset(out, 0, sizeof *out);
  out->ncols = ncols < INGEST_MAX_COLUMNS ? ncols : INGEST_MAX_COLUMNS;
  out->has_counters = out->ncols > 0;
}

void wk_columns_factors(const wk_columns *c, int64_t counter_factor, int64_t gauge_factor,
                        int64_t *factors) {
  for (size_t j = 0; j < c->ncols; j++) factors[j] = c->gauge[j] ? gauge_factor : counter_factor;
}

void wk_scale(pp_profile *p, const wk_columns *c, int64_t counter_factor, int64_t gauge_factor) {
  int64_t f[INGEST_MAX_COLUMNS];
  wk_columns_factors(c, counter_factor, gauge_factor, f);
  if (pp_sample_type_count(p) == c->ncols) pp_scale_columns(p, f, c->ncols, NULL, 0);
}

pp_profile *wk_scaled(const pp_profile *p, const wk_columns *c, int64_t counter_factor,
                      int64_t gauge_factor, int compact) {
  pp_profile *q = pp_clone(p);
  if (!q) return NULL;
  wk_scale(q, c, counter_factor, gauge_factor);
  if (!compact) return q;
  pp_profile *out = NULL;
  char why[256];
  if (pp_merge(&q, 1, &out, why, sizeof why) != PP_OK) return NULL;
  return out;
}

/* ---- Tables ---- */

typedef struct gauge_inst {
  uint64_t hash;
  char *id;
  int64_t seen_ns;
  pp_profile *g; /* its gauge snapshot (counters zero) */
} gauge_inst;

typedef struct gauge_change {
  uint64_t hash;
  char *id;
  int64_t seen_ns;
  pp_profile *snap; /* NULL: the instance leaves G */
} gauge_change;

struct wk_gauge {
  char app[LAYOUT_APP_MAX + 1];
  layout_kind kind;
  wk_columns cols;
  char etag[80]; /* the base it agrees with ("" unknown) */
  uint64_t size;
  pp_profile *sum; /* G; NULL when no instance counts */
  gauge_inst *inst;
  size_t n, cap;
  gauge_change *pend;
  size_t npend, cpend;
  int dirty; /* G changed since the base was written with it */
};

static void inst_clear(gauge_inst *i) {
  free(i->id);
  pp_free(i->g);
}

static void pend_clear(wk_gauge *g) {
  for (size_t i = 0; i < g->npend; i++) {
    free(g->pend[i].id);
    pp_free(g->pend[i].snap);
  }
  g->npend = 0;
}

static void gauge_free(worker *w, wk_gauge *g) {
  if (!g) return;
  wk_stat_gauge_instances(w->st, g->kind, -(int64_t)g->n);
  for (size_t i = 0; i < g->n; i++) inst_clear(&g->inst[i]);
  free(g->inst);
  pend_clear(g);
  free(g->pend);
  pp_free(g->sum);
  free(g);
}

void wk_gauge_drop(worker *w, wk_gauge *g) {
  for (size_t i = 0; i < w->ngauges; i++) {
    if (w->gauges[i] != g) continue;
    w->gauges[i] = w->gauges[--w->ngauges];
    break;
  }
  gauge_free(w, g);
}

void wk_gauge_drop_app(worker *w, const char *app) {
  for (size_t i = 0; i < w->ngauges;) {
    if (strcmp(w->gauges[i]->app, app) == 0) wk_gauge_drop(w, w->gauges[i]);
    else i++;
  }
}

void wk_gauge_free_all(worker *w) {
  for (size_t i = 0; i < w->ngauges; i++) gauge_free(w, w->gauges[i]);
  free(w->gauges);
  w->gauges = NULL;
  w->ngauges = w->cgauges = 0;
}

static wk_gauge *find_table(worker *w, const char *app, layout_kind kind) {
  for (size_t i = 0; i < w->ngauges; i++)
    if (w->gauges[i]->kind == kind && strcmp(w->gauges[i]->app, app) == 0) return w->gauges[i];
  return NULL;
}

void wk_gauge_follow(worker *w, const char *app, layout_kind kind, const blob_info *from,
                     const blob_info *to) {
  wk_gauge *g = find_table(w, app, kind);
  if (!g || !g->etag[0] || strcmp(g->etag, from->etag) != 0 || g->size != from->size) return;
  snprintf(g->etag, sizeof g->etag, "%s", to->etag);
  g->size = to->size;
}

static int64_t ttl_ns(const worker *w) { return w->cfg.gauge_ttl_ms * 1000000; }

/* 1 when an instance seen at seen_ns still counts. */
static int live(const worker *w, int64_t seen_ns) { return wk_now_ns(w) - seen_ns <= ttl_ns(w); }

int wk_gauge_set(worker *w, wk_gauge *g, uint64_t hash, const char *id, int64_t seen_ns,
                 pp_profile *snap) {
  if (snap && !live(w, seen_ns)) {
    pp_free(snap);
    snap = NULL;
  }
  if (g->npend == g->cpend) {
    size_t nc = g->cpend ? g->cpend * 2 : 8;
    gauge_change *nv = realloc(g->pend, nc * sizeof *nv);
    if (!nv) {
      pp_free(snap);
      return -1;
    }
    g->pend = nv;
    g->cpend = nc;
  }
  char *c = strdup(id ? id : "");
  if (!c) {
    pp_free(snap);
    return -1;
  }
  g->pend[g->npend++] = (gauge_change){hash, c, seen_ns, snap};
  return 0;
}

int wk_gauge_expire(worker *w, wk_gauge *g, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  size_t expired = 0;
  for (size_t i = 0; i < g->n; i++) {
    if (live(w, g->inst[i].seen_ns)) continue;
    if (wk_gauge_set(w, g, g->inst[i].hash, g->inst[i].id, g->inst[i].seen_ns, NULL) != 0)
      return PP_ENOMEM;
    expired++;
  }
  if (expired) {
    wk_stat_kind(w->st, WK_K_EXPIRED, g->kind, expired);
    char n[24];
    snprintf(n, sizeof n, "%zu", expired);
    WK_LOG(w, CORE_LOG_INFO, "instances not seen within the gauge TTL leave the gauge part",
           "app", g->app, "kind", layout_kind_name(g->kind), "instances", n, NULL);
  }
  return 0;
}

static gauge_inst *find_inst(wk_gauge *g, uint64_t hash) {
  for (size_t i = 0; i < g->n; i++)
    if (g->inst[i].hash == hash) return &g->inst[i];
  return NULL;
}

int wk_gauge_apply(worker *w, wk_gauge *g, char *err, size_t errlen) {
  if (!g->npend) return 0;
  pp_merger *m = pp_merger_new();
  if (!m) return PP_ENOMEM;
  int rc = PP_OK;
  size_t inputs = 0;
  int64_t dn = 0;
  if (g->sum) {
    rc = pp_merger_add(m, g->sum, err, errlen);
    g->sum = NULL;
    inputs++;
  }
  for (size_t k = 0; rc == PP_OK && k < g->npend; k++) {
    gauge_change *c = &g->pend[k];
    gauge_inst *in = find_inst(g, c->hash);
    if (in) {
      pp_profile *old = in->g;
      in->g = NULL;
      wk_scale(old, &g->cols, 0, -1);
      rc = pp_merger_add(m, old, err, errlen);
      inputs++;
    }
    if (rc == PP_OK && c->snap) {
      pp_profile *add = pp_clone(c->snap);
      rc = add ? pp_merger_add(m, add, err, errlen) : PP_ENOMEM;
      inputs++;
    }
    if (rc != PP_OK) break;
    if (c->snap) {
      if (!in) {
        if (g->n == g->cap) {
          size_t nc = g->cap ? g->cap * 2 : 8;
          gauge_inst *nv = realloc(g->inst, nc * sizeof *nv);
          if (!nv) {
            rc = PP_ENOMEM;
            break;
          }
          g->inst = nv;
          g->cap = nc;
        }
        in = &g->inst[g->n++];
        memset(in, 0, sizeof *in);
        in->hash = c->hash;
        dn++;
      }
      free(in->id);
      in->id = c->id;
      c->id = NULL;
      in->seen_ns = c->seen_ns;
      in->g = c->snap;
      c->snap = NULL;
    } else if (in) {
      inst_clear(in);
      *in = g->inst[--g->n];
      dn--;
    }
  }
  pend_clear(g);
  g->dirty = 1;
  wk_stat_gauge_instances(w->st, g->kind, dn);
  if (rc == PP_OK && inputs) rc = pp_merger_finish(m, &g->sum, err, errlen);
  pp_merger_free(m);
  if (rc == PP_OK && g->sum && pp_sample_count(g->sum) == 0) {
    pp_free(g->sum);
    g->sum = NULL;
  }
  return rc;
}

pp_profile *wk_gauge_sum(const wk_gauge *g, int *rc) {
  *rc = 0;
  if (!g->sum) return NULL;
  pp_profile *c = pp_clone(g->sum);
  if (!c) *rc = -1;
  return c;
}

int wk_gauge_dirty(const wk_gauge *g) { return g->dirty; }

void wk_gauge_written(wk_gauge *g, const blob_info *info) {
  snprintf(g->etag, sizeof g->etag, "%s", info->etag);
  g->size = info->size;
  g->dirty = 0;
}

/* ---- Rebuilding from the instance states ---- */

/* key when it is an instance state's. */
static const char *pick_state(void *ctx, const char *key, const blob_info *info) {
  (void)ctx;
  (void)info;
  layout_ref ref;
  return layout_parse_key(key, &ref) == 0 && ref.type == LAYOUT_KEY_INSTANCE ? key : NULL;
}

/* Lists the keys under the instances prefix of (app, kind). */
static int list_states(wk_attempt *a, layout_kind kind, wk_strlist *keys) {
  char prefix[LAYOUT_KEY_BUF];
  layout_instances_prefix(a->app, kind, prefix, sizeof prefix);
  return wk_list_prefix(a, prefix, pick_state, NULL, keys);
}

/* Adds one fetched state's gauges to the new table (a change to apply). */
static int from_state(wk_attempt *a, wk_gauge *g, wk_fetched *f, const pp_profile **ref) {
  worker *w = a->w;
  if (f->rc == BLOB_ENOTFOUND) return 0; /* deleted since the listing */
  if (f->rc != 0) {
    errbuf_set(a->err, a->errlen, "%s", f->err);
    return wk_store_failed(a, f->rc);
  }
  if (f->drc == PP_ENOMEM) return wk_out_of_memory(a);
  wk_state_info info;
  int irc = f->drc == PP_OK ? wk_state_info_read(f->p, &info) : 1;
  if (irc < 0) return wk_out_of_memory(a);
  char why[600] = "no instance record in it";
  if (f->drc != PP_OK) snprintf(why, sizeof why, "%s", f->err);
  int usable = irc == 0;
  if (usable && pp_sample_type_count(f->p) != g->cols.ncols) {
    snprintf(why, sizeof why, "its sample types are not the kind's");
    usable = 0;
  }
  if (usable && *ref && !wk_compatible(*ref, f->p, why, sizeof why)) usable = 0;
  if (!usable) {
    if (irc == 0) wk_state_info_free(&info);
    WK_LOG(w, CORE_LOG_WARN, "instance state left out of the gauge part", "app", a->app, "key",
           f->key, "reason", why, NULL);
    return 0;
  }
  int rc = 0;
  if (live(w, info.seen_ns)) {
    pp_profile *gs = wk_scaled(f->p, &g->cols, 0, 1, 1);
    if (!gs || wk_gauge_set(w, g, layout_instance_hash(info.id), info.id, info.seen_ns, gs) != 0)
      rc = wk_out_of_memory(a);
    if (!*ref) *ref = f->p;
    else {
      pp_free(f->p);
      f->p = NULL;
    }
  }
  wk_state_info_free(&info);
  return rc;
}

/* A new table for (a->app, kind) from the instance states. */
static int rebuild(wk_attempt *a, layout_kind kind, const wk_columns *cols,
                   const pp_profile *shape, wk_gauge **out) {
  worker *w = a->w;
  *out = NULL;
  wk_gauge *g = calloc(1, sizeof *g);
  if (!g) return wk_out_of_memory(a);
  snprintf(g->app, sizeof g->app, "%s", a->app);
  g->kind = kind;
  g->cols = *cols;
  wk_strlist keys = {0};
  int rc = list_states(a, kind, &keys);
  wk_fetched *items = NULL;
  if (rc == 0 && keys.n) {
    items = calloc(keys.n, sizeof *items);
    if (!items) rc = wk_out_of_memory(a);
  }
  if (rc == 0 && keys.n) {
    for (size_t i = 0; i < keys.n; i++) {
      snprintf(items[i].key, sizeof items[i].key, "%s", keys.v[i]);
      ingest_meta_init(&items[i].meta);
    }
    wk_fetch_items(w, items, keys.n, w->cfg.max_base_bytes);
    const pp_profile *ref = shape;
    for (size_t i = 0; rc == 0 && i < keys.n; i++) rc = from_state(a, g, &items[i], &ref);
  }
  char why[600];
  if (rc == 0 && wk_gauge_apply(w, g, why, sizeof why) != PP_OK) {
    errbuf_set(a->err, a->errlen, "rebuilding the gauge part of %s/%s: %s", a->app,
               layout_kind_name(kind), why);
    rc = WORKER_EENGINE;
  }
  wk_fetched_free(items, keys.n);
  wk_sl_free(&keys);
  if (rc != 0) {
    gauge_free(w, g);
    return rc;
  }
  /* whether the stored base holds this G is not known: the next write sets it */
  g->dirty = 1;
  char n[24];
  snprintf(n, sizeof n, "%zu", g->n);
  WK_LOG(w, CORE_LOG_INFO, "gauge part rebuilt from the instance states", "app", a->app, "kind",
         layout_kind_name(kind), "live_instances", n, NULL);
  *out = g;
  return 0;
}

int wk_gauge_get(wk_attempt *a, layout_kind kind, const wk_columns *cols, const pp_profile *ref,
                 int existed, const blob_info *info, wk_gauge **out) {
  worker *w = a->w;
  wk_gauge *g = find_table(w, a->app, kind);
  if (g && existed && g->etag[0] && strcmp(g->etag, info->etag) == 0 && g->size == info->size &&
      g->cols.ncols == cols->ncols) {
    *out = g;
    return 0;
  }
  if (g) wk_gauge_drop(w, g);
  if (w->ngauges == w->cgauges) {
    size_t nc = w->cgauges ? w->cgauges * 2 : 8;
    wk_gauge **nv = realloc(w->gauges, nc * sizeof *nv);
    if (!nv) return wk_out_of_memory(a);
    w->gauges = nv;
    w->cgauges = nc;
  }
  int rc = rebuild(a, kind, cols, ref, &g);
  if (rc != 0) return rc;
  if (existed) {
    snprintf(g->etag, sizeof g->etag, "%s", info->etag);
    g->size = info->size;
  }
  w->gauges[w->ngauges++] = g;
  *out = g;
  return 0;
}

int wk_gauge_prime(worker *w, const char *app, layout_kind kind, char *err, size_t errlen) {
  if (find_table(w, app, kind)) return 0;
  wk_attempt a = {.w = w, .app = app, .err = err, .errlen = errlen};
  wk_base b;
  wk_base_init(&b, &a, kind);
  int rc = wk_base_load(&a, &b);
  ingest_kind_info ki;
  ingest_kind hint = INGEST_KIND_NONE;
  ingest_kind_parse(layout_kind_name(kind), &hint);
  if (rc == 0 && b.p && ingest_kind_detect(b.p, hint, &ki, NULL, 0) == INGEST_OK) {
    wk_columns cols;
    wk_columns_of(&ki, &cols);
    wk_gauge *g = NULL;
    if (cols.has_gauges) rc = wk_gauge_get(&a, kind, &cols, b.p, b.existed, &b.info, &g);
  }
  wk_base_keep_read(&a, &b);
  wk_base_free(&b);
  wk_attempt_free(&a);
  return rc;
}

/* ---- The tick ---- */

/* Rewrites the base of table g with its G. Returns 0, 1 (the table no
 * longer agrees with the store: dropped) or a WORKER_E* code. */
static int rewrite(worker *w, wk_gauge *g, char *err, size_t errlen) {
  wk_attempt a = {.w = w, .app = g->app, .err = err, .errlen = errlen};
  wk_base b;
  wk_base_init(&b, &a, g->kind);
  int64_t t0 = chrono_mono_ns();
  int rc = wk_base_load(&a, &b), dropped = 0;
  if (rc == 0 && (!b.existed || !b.p || strcmp(b.info.etag, g->etag) != 0 ||
                  b.info.size != g->size || pp_sample_type_count(b.p) != g->cols.ncols)) {
    WK_LOG(w, CORE_LOG_INFO,
           "base changed or gone since this worker wrote it: its gauge part is left to the "
           "next batch",
           "app", g->app, "kind", layout_kind_name(g->kind), NULL);
    wk_base_keep_read(&a, &b);
    wk_gauge_drop(w, g);
    dropped = 1;
    rc = 1;
  }
  if (rc == 0) {
    char why[600];
    pp_merger *m = pp_merger_new();
    int prc = m ? PP_OK : PP_ENOMEM;
    pp_profile *base = b.p;
    b.p = NULL;
    if (prc == PP_OK) {
      pp_remove_comments_with_prefix(base, WORKER_COMMENT_PREFIX);
      wk_scale(base, &g->cols, 1, 0);
      prc = pp_merger_add(m, base, why, sizeof why);
    } else {
      pp_free(base);
    }
    int grc = 0;
    pp_profile *sum = prc == PP_OK ? wk_gauge_sum(g, &grc) : NULL;
    if (grc != 0) prc = PP_ENOMEM;
    if (prc == PP_OK && sum) prc = pp_merger_add(m, sum, why, sizeof why);
    if (prc == PP_OK) prc = pp_merger_finish(m, &b.result, why, sizeof why);
    pp_merger_free(m);
    if (prc == PP_OK) prc = wk_prune(w, g->app, b.result, why, sizeof why);
    if (prc != PP_OK) {
      errbuf_set(err, errlen, "the gauge part of %s: %s", b.key, why);
      rc = wk_from_pp(prc);
    }
  }
  if (rc == 0) rc = wk_base_encode(&a, &b);
  if (rc == 0) rc = wk_base_write(&a, &b);
  if (rc == 1 && !dropped) wk_gauge_drop(w, g); /* another writer came in between */
  if (rc == 0) {
    wk_gauge_written(g, &b.info);
    wk_stat_base_written(w->st, (double)(chrono_mono_ns() - t0) / 1e9, 0, b.enclen);
    wk_stat_kind(w->st, WK_K_BASE_WRITES, g->kind, 1);
    char sz[32];
    snprintf(sz, sizeof sz, "%zu", b.enclen);
    WK_LOG(w, CORE_LOG_INFO, "base written", "app", g->app, "kind", layout_kind_name(g->kind),
           "uploads", "0", "base_bytes", sz, "reason", "gauge part changed", NULL);
  }
  wk_base_free(&b);
  wk_attempt_free(&a);
  return rc;
}

int worker_gauge_tick(worker *w) {
  w->last_tick_ms = chrono_mono_ns() / 1000000;
  int first = 0;
  char err[1024];
  /* tables may be dropped on the way: walk a copy of the list */
  size_t n = w->ngauges;
  wk_gauge **list = n ? malloc(n * sizeof *list) : NULL;
  if (n && !list) return WORKER_ENOMEM;
  if (n) memcpy(list, w->gauges, n * sizeof *list);
  for (size_t i = 0; i < n; i++) {
    wk_gauge *g = list[i];
    int rc = 0;
    err[0] = 0;
    if (wk_gauge_expire(w, g, err, sizeof err) != 0 ||
        wk_gauge_apply(w, g, err, sizeof err) != PP_OK) {
      WK_LOG(w, CORE_LOG_WARN, "gauge expiry failed: the gauge part is rebuilt by the next batch",
             "app", g->app, "kind", layout_kind_name(g->kind), "error", err, NULL);
      wk_gauge_drop(w, g);
      rc = WORKER_EENGINE;
    } else if (g->dirty) {
      rc = rewrite(w, g, err, sizeof err);
      if (rc == 1) rc = 0;
      if (rc != 0)
        WK_LOG(w, CORE_LOG_WARN, "rewriting a base for its gauge part failed; tried again later",
               "app", g->app, "kind", layout_kind_name(g->kind), "error", err, NULL);
    }
    if (rc != 0 && !first) first = rc;
  }
  free(list);
  return first;
}
