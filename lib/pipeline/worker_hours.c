/*
 * worker_hours.c — the hour buckets an attempt folds uploads into
 * (worker.h, "History and windows"), and the fold that every base and
 * bucket write makes.
 *
 * A bucket {app}/hours/{kind}/{YYYYMMDDHH}.pgo is kept exactly like a base
 * (worker_base.c): its own merge record, judged on its own; read from the
 * copy kept in memory when the store still holds it (the current hour's
 * bucket, written by every batch, is kept per kind) or GET + decode; an
 * undecodable one, or one that no longer merges with the kind's uploads,
 * is moved to rejected/; written with the same guard. Its counter columns
 * are the sum of the contributions of its hour's uploads, its gauge columns
 * G as of its last write.
 *
 * An attempt collects, per bucket, the contributions of the uploads it
 * lacks; wk_hours_write then writes each bucket that got any: one merge of
 * the contributions and the old bucket (gauges zeroed) and G, the app's
 * prune rules, the next record, one PUT. Buckets are written before any
 * base of the attempt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* ---- The fold ---- */

int wk_fold(wk_attempt *a, const char *key, pp_profile **contrib, size_t n, pp_profile *old,
            const wk_columns *cols, const wk_gauge *g, const pp_profile *shape,
            pp_profile **out) {
  char why[600] = "";
  *out = NULL;
  pp_merger *m = pp_merger_new();
  if (!m) {
    for (size_t i = 0; i < n; i++) {
      pp_free(contrib[i]);
      contrib[i] = NULL;
    }
    pp_free(old);
    return wk_out_of_memory(a);
  }
  int rc = PP_OK;
  size_t inputs = 0;
  /* Many contributions: merged first, in runs on several threads, when that
   * gives the same profile (pp_tree_exact); their result then goes first. */
  size_t live = 0;
  for (size_t i = 0; i < n; i++) live += contrib[i] != NULL;
  int threads = wk_threads();
  pp_profile **order = live >= WK_TREE_MIN && threads > 1 ? malloc(live * sizeof *order) : NULL;
  if (order) {
    size_t k = 0;
    for (size_t i = n; i-- > 0;)
      if (contrib[i]) order[k++] = contrib[i];
    if (pp_tree_exact(order, live)) {
      for (size_t i = 0; i < n; i++) contrib[i] = NULL;
      pp_profile *pre = NULL;
      rc = pp_merge_tree(order, live, threads, &pre, why, sizeof why);
      if (rc == PP_OK) rc = pp_merger_add(m, pre, why, sizeof why);
      inputs++;
    }
    free(order);
  }
  for (size_t i = n; i-- > 0;) {
    pp_profile *c = contrib[i];
    contrib[i] = NULL;
    if (!c) continue;
    if (rc == PP_OK) {
      rc = pp_merger_add(m, c, why, sizeof why);
      inputs++;
    } else {
      pp_free(c);
    }
  }
  if (old) {
    if (rc == PP_OK) {
      pp_remove_comments_with_prefix(old, WORKER_COMMENT_PREFIX);
      if (cols && cols->has_gauges) wk_scale(old, cols, 1, 0);
      rc = pp_merger_add(m, old, why, sizeof why);
      inputs++;
    } else {
      pp_free(old);
    }
  }
  if (rc == PP_OK && g) {
    int grc = 0;
    pp_profile *sum = wk_gauge_sum(g, &grc);
    if (grc != 0) rc = PP_ENOMEM;
    else if (sum) {
      rc = pp_merger_add(m, sum, why, sizeof why);
      inputs++;
    }
  }
  if (rc == PP_OK && !inputs) {
    /* nothing counts (a gauge kind whose instances all expired): an empty
     * profile of the kind's shape carries the record */
    pp_profile *z = shape ? pp_clone(shape) : NULL;
    if (!shape) {
      rc = PP_EINVAL;
      snprintf(why, sizeof why, "nothing to write");
    } else {
      rc = z ? pp_merger_add(m, z, why, sizeof why) : PP_ENOMEM;
    }
  }
  if (rc == PP_OK) rc = pp_merger_finish(m, out, why, sizeof why);
  pp_merger_free(m);
  if (rc != PP_OK) {
    errbuf_set(a->err, a->errlen, "merging into %s: %s", key, why);
    return wk_from_pp(rc);
  }
  if ((rc = wk_prune(a->w, a->app, *out, why, sizeof why)) != PP_OK) {
    errbuf_set(a->err, a->errlen, "pruning %s: %s", key, why);
    return wk_from_pp(rc);
  }
  return 0;
}

/* ---- The buckets of an attempt ---- */

typedef struct hour_entry {
  wk_base b;
  pp_profile **contrib; /* the contributions of the uploads it lacks, in batch order */
  size_t n, cap;
} hour_entry;

struct wk_hours {
  layout_kind kind;
  hour_entry **v;
  size_t n, cap;
};

wk_hours *wk_hours_new(layout_kind kind) {
  wk_hours *h = calloc(1, sizeof *h);
  if (h) h->kind = kind;
  return h;
}

static void entry_free(hour_entry *e) {
  if (!e) return;
  wk_base_free(&e->b);
  for (size_t i = 0; i < e->n; i++) pp_free(e->contrib[i]);
  free(e->contrib);
  free(e);
}

void wk_hours_free(wk_hours *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n; i++) entry_free(h->v[i]);
  free(h->v);
  free(h);
}

/* Moves a bucket that does not merge with the kind's uploads aside (its
 * stored bytes, as they are); the hour starts again. */
static int reject_bucket(wk_attempt *a, hour_entry *e, const char *why) {
  worker *w = a->w;
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc = blob_get(w->cfg.blob, e->b.key, 0, &bytes, &len, NULL, a->err, a->errlen);
  if (rc == 0) {
    char hs[16] = "", name[96], dst[LAYOUT_KEY_BUF];
    layout_hour_format(e->b.hour, hs, sizeof hs);
    snprintf(name, sizeof name, "%s-%s.pgo.%lld", layout_kind_name(e->b.kind), hs,
             (long long)chrono_now_ns());
    layout_rejected_key(a->app, name, dst, sizeof dst);
    rc = blob_put(w->cfg.blob, dst, bytes, len, a->err, a->errlen);
    if (rc == 0) rc = blob_delete(w->cfg.blob, e->b.key, a->err, a->errlen);
    if (rc == 0)
      WK_LOG(w, CORE_LOG_ERROR,
             "hour bucket does not merge with its kind's uploads: moved to rejected/, starting "
             "the hour again",
             "app", a->app, "key", e->b.key, "rejected_key", dst, "reason", why, NULL);
  }
  free(bytes);
  if (rc == BLOB_ENOTFOUND) rc = 0;
  if (rc != 0) return wk_store_failed(a, rc);
  pp_free(e->b.p);
  e->b.p = NULL;
  e->b.existed = 0;
  wk_sl_free(&e->b.record);
  wk_count(w, WK_BASES_REJECTED, 1);
  return 0;
}

int wk_hours_get(wk_attempt *a, wk_hours *h, int64_t hour, const pp_profile *ref, wk_base **out) {
  for (size_t i = 0; i < h->n; i++)
    if (h->v[i]->b.hour == hour) {
      *out = &h->v[i]->b;
      return 0;
    }
  if (h->n == h->cap) {
    size_t nc = h->cap ? h->cap * 2 : 8;
    hour_entry **nv = realloc(h->v, nc * sizeof *nv);
    if (!nv) return wk_out_of_memory(a);
    h->v = nv;
    h->cap = nc;
  }
  hour_entry *e = calloc(1, sizeof *e);
  if (!e) return wk_out_of_memory(a);
  wk_bucket_init(&e->b, a, h->kind, hour);
  int rc = wk_base_load(a, &e->b);
  char why[600];
  if (rc == 0 && e->b.p && ref && !wk_compatible(ref, e->b.p, why, sizeof why))
    rc = reject_bucket(a, e, why);
  if (rc != 0) {
    entry_free(e);
    return rc;
  }
  h->v[h->n++] = e;
  *out = &e->b;
  return 0;
}

int wk_hours_add(wk_attempt *a, wk_hours *h, wk_base *b, const char *name, pp_profile *c) {
  hour_entry *e = NULL;
  for (size_t i = 0; i < h->n && !e; i++)
    if (&h->v[i]->b == b) e = h->v[i];
  if (!e) {
    pp_free(c);
    errbuf_set(a->err, a->errlen, "hour bucket of %s not read in this attempt", name);
    return WORKER_EINVAL;
  }
  if (c) {
    if (e->n == e->cap) {
      size_t nc = e->cap ? e->cap * 2 : 8;
      pp_profile **nv = realloc(e->contrib, nc * sizeof *nv);
      if (!nv) {
        pp_free(c);
        return wk_out_of_memory(a);
      }
      e->contrib = nv;
      e->cap = nc;
    }
    e->contrib[e->n++] = c;
  }
  if (wk_sl_add(&e->b.fresh, name) != 0) return wk_out_of_memory(a);
  return 0;
}

int wk_hours_share(wk_attempt *a, wk_hours *h, const wk_strlist *fresh, pp_profile **ups,
                   size_t *n) {
  hour_entry *e = NULL;
  for (size_t i = 0; i < h->n; i++) {
    if (!h->v[i]->n) continue;
    if (e) return 0; /* two buckets */
    e = h->v[i];
  }
  size_t k = *n;
  if (!e || k < WK_TREE_MIN || wk_threads() < 2 || e->n != k || e->b.fresh.n != k ||
      fresh->n != k)
    return 0;
  for (size_t i = 0; i < k; i++)
    if (!ups[i] || !e->contrib[i] || strcmp(e->b.fresh.v[i], fresh->v[i]) != 0) return 0;
  pp_profile **order = malloc(k * sizeof *order);
  if (!order) return wk_out_of_memory(a);
  for (size_t i = 0; i < k; i++) order[i] = ups[k - 1 - i]; /* newest first */
  if (!pp_tree_exact(order, k)) {
    free(order);
    return 0;
  }
  char why[600];
  pp_profile *u = NULL;
  int rc = pp_merge_tree(order, k, wk_threads(), &u, why, sizeof why);
  free(order);
  for (size_t i = 0; i < k; i++) ups[i] = NULL; /* taken by pp_merge_tree */
  *n = 0;
  pp_profile *copy = rc == PP_OK ? pp_clone(u) : NULL;
  if (rc == PP_OK && !copy) rc = PP_ENOMEM;
  if (rc != PP_OK) {
    pp_free(u);
    errbuf_set(a->err, a->errlen, "merging the uploads of %s: %s", a->app,
               rc == PP_ENOMEM ? "out of memory" : why);
    return wk_from_pp(rc);
  }
  for (size_t i = 0; i < e->n; i++) pp_free(e->contrib[i]);
  e->contrib[0] = copy;
  e->n = 1;
  ups[0] = u;
  *n = 1;
  return 0;
}

/* Writes one bucket. Returns 0, 1 (changed under the worker) or a code. */
static int write_one(wk_attempt *a, hour_entry *e, const wk_columns *cols, const wk_gauge *g,
                     const pp_profile *shape) {
  worker *w = a->w;
  int64_t t0 = chrono_mono_ns();
  pp_profile *old = e->b.p;
  e->b.p = NULL;
  int rc = wk_fold(a, e->b.key, e->contrib, e->n, old, cols, g, shape, &e->b.result);
  if (rc == 0) rc = wk_base_encode(a, &e->b);
  if (rc == 0) rc = wk_base_write(a, &e->b);
  if (rc != 0) return rc;
  wk_count(w, WK_BUCKET_WRITES, 1);
  char nb[24], sz[24], ms[32], hs[16] = "";
  snprintf(nb, sizeof nb, "%zu", e->b.fresh.n);
  snprintf(sz, sizeof sz, "%zu", e->b.enclen);
  snprintf(ms, sizeof ms, "%.1f", (double)(chrono_mono_ns() - t0) / 1e6);
  layout_hour_format(e->b.hour, hs, sizeof hs);
  WK_LOG(w, CORE_LOG_DEBUG, "hour bucket written", "app", a->app, "kind",
         layout_kind_name(e->b.kind), "hour", hs, "uploads", nb, "bucket_bytes", sz, "merge_ms", ms,
         NULL);
  return 0;
}

int wk_hours_write(wk_attempt *a, wk_hours *h, const wk_columns *cols, const wk_gauge *g,
                   const pp_profile *shape) {
  for (size_t i = 0; i < h->n; i++) {
    hour_entry *e = h->v[i];
    if (!e->b.fresh.n) {
      wk_base_keep_read(a, &e->b);
      continue;
    }
    int rc = write_one(a, e, cols, g, shape);
    if (rc != 0) return rc;
  }
  return 0;
}
