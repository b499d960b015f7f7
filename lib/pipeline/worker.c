/*
 * worker.c — the merge worker object: its configuration and defaults, the
 * rules it prunes with, the base it keeps between batches, and retrying
 * with backoff. What the worker does with events is in the other
 * worker_*.c files (see worker_internal.h for the map).
 *
 * Exactly once (the full design note is in worker.h): each base carries, in
 * a pprof comment written in the same PUT as the data, the names of the
 * staged uploads merged into it whose staged objects may still exist.
 * Redelivered uploads found in that record are skipped; uploads whose staged
 * object is gone were merged and cleaned up (or deleted with their app) and
 * are skipped too. A staged object is deleted only after the base naming it
 * is durable (profile.merged is published after the PUT), and a name leaves
 * the record only once a listing shows its staged object gone. A SIGKILL at
 * any instant therefore loses nothing and counts nothing twice: the bus
 * redelivers whatever was not committed and the record makes it harmless.
 *
 * Shape: one thread runs worker_run: poll a batch, handle it per app in
 * order, commit each partition's last message; between batches, now and
 * then, take expired gauges out of the bases (worker_gauge_tick). Every step that touches the
 * store or the bus is retried with exponential backoff on failure (wk_retry
 * below); only content errors (poison) are final, and those move the object
 * aside.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* ---- String lists ---- */

int wk_sl_add(wk_strlist *l, const char *s) { return wk_sl_addn(l, s, strlen(s)); }

int wk_sl_addn(wk_strlist *l, const char *s, size_t n) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    l->cap = nc;
  }
  char *c = malloc(n + 1);
  if (!c) return -1;
  memcpy(c, s, n);
  c[n] = 0;
  l->v[l->n++] = c;
  return 0;
}

void wk_sl_free(wk_strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void wk_sl_sort(wk_strlist *l) {
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

int wk_sl_has_sorted(const wk_strlist *l, const char *s) {
  if (!l->n) return 0;
  return bsearch(&s, l->v, l->n, sizeof *l->v, cmp_str) != NULL;
}

int wk_sl_has_linear(const wk_strlist *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return 1;
  return 0;
}

/* ---- Codes ---- */

int wk_prune(worker *w, const char *app, pp_profile *p, char *why, size_t whylen) {
  const pp_rules *rules = rules_for_app(w->rules, app);
  if (!rules || pp_rules_count(rules) == 0) return PP_OK;
  /* A rule PCRE2 cannot evaluate on a name (its match limit) would fail
   * every retry of this app, and hold up every other app behind it: the
   * rule is skipped for that name instead, loudly. */
  pp_prune_skips sk;
  int rc = pp_prune_skipping(p, rules, &sk, why, whylen);
  if (rc == PP_OK && sk.count) {
    char n[24];
    snprintf(n, sizeof n, "%zu", sk.count);
    wk_count(w, WK_PRUNE_SKIPPED, sk.count);
    WK_LOG(w, CORE_LOG_ERROR,
           "a prune rule could not be evaluated on some function names: the rule was skipped for "
           "them (fix the rule, e.g. a pattern that backtracks less)",
           "app", app, "names", n, "first_name", sk.first_name, "error", sk.first_error, NULL);
  }
  return rc;
}

int wk_from_blob(int rc) {
  return rc == BLOB_OK ? WORKER_OK : rc == BLOB_ENOMEM ? WORKER_ENOMEM : WORKER_ESTORE;
}

int wk_from_bus(int rc) {
  return rc == BUS_OK ? WORKER_OK : rc == BUS_ENOMEM ? WORKER_ENOMEM : WORKER_EBUS;
}

int wk_from_pp(int rc) {
  return rc == PP_OK ? WORKER_OK : rc == PP_ENOMEM ? WORKER_ENOMEM : WORKER_EENGINE;
}

/* ---- The worker ---- */

/* Fills in the defaults of worker.h. */
static void config_defaults(worker_config *c) {
  if (!c->batch_max) c->batch_max = 50;
  if (!c->batch_grow_bytes) c->batch_grow_bytes = WORKER_BATCH_GROW_BYTES;
  if (c->batch_wait_ms < 0) c->batch_wait_ms = 100;
  if (!c->max_profile_bytes) c->max_profile_bytes = (size_t)64 << 20;
  if (!c->max_decoded_bytes) c->max_decoded_bytes = (size_t)64 << 20;
  if (!c->max_base_bytes) c->max_base_bytes = (size_t)512 << 20;
  if (c->backoff_min_ms <= 0) c->backoff_min_ms = 100;
  if (c->backoff_max_ms <= 0) c->backoff_max_ms = 30000;
  if (c->backoff_max_ms < c->backoff_min_ms) c->backoff_max_ms = c->backoff_min_ms;
  if (c->gzip_level <= 0 || c->gzip_level > 9) c->gzip_level = 6;
  if (c->poll_ms <= 0) c->poll_ms = 200;
  if (c->reconcile < 0) c->reconcile = c->reader_url && strncmp(c->reader_url, "mem://", 6) == 0;
  if (c->gauge_ttl_ms <= 0) c->gauge_ttl_ms = 10 * 60 * 1000;
  if (c->gauge_tick_ms <= 0) c->gauge_tick_ms = 30000;
  if (c->retention_ms <= 0) c->retention_ms = 168LL * 3600 * 1000;
  if (c->window_ms < 0) c->window_ms = 0;
}

int64_t wk_now_ns(const worker *w) {
  return w->cfg.clock_ns ? w->cfg.clock_ns(w->cfg.clock_ctx) : chrono_now_ns();
}

int64_t wk_window_target(const worker *w) {
  if (w->cfg.window_ms <= 0) return WK_NO_WINDOW;
  return layout_hour_of_ns(wk_now_ns(w) - w->cfg.window_ms * 1000000);
}

int64_t wk_retention_cutoff(const worker *w) {
  return layout_hour_of_ns(wk_now_ns(w) - w->cfg.retention_ms * 1000000);
}

int worker_new(const worker_config *cfg, worker **out, char *err, size_t errlen) {
  *out = NULL;
  if (!cfg || !cfg->blob || !cfg->reader || !cfg->writer) {
    errbuf_set(err, errlen, "worker: a blob store, a bus reader and a bus writer are required");
    return WORKER_EINVAL;
  }
  worker *w = calloc(1, sizeof *w);
  if (!w) {
    errbuf_set(err, errlen, "worker: out of memory");
    return WORKER_ENOMEM;
  }
  w->cfg = *cfg;
  config_defaults(&w->cfg);
  if (w->cfg.window_ms > w->cfg.retention_ms) {
    errbuf_set(err, errlen,
               "worker: the window (%lld ms) is longer than the retention (%lld ms): the hours "
               "it needs would be deleted",
               (long long)w->cfg.window_ms, (long long)w->cfg.retention_ms);
    free(w);
    return WORKER_EINVAL;
  }
  w->rules = cfg->rules;
  w->st = cfg->stats;
  if (!w->st) {
    w->own_st = worker_stats_new();
    if (!w->own_st) {
      free(w);
      errbuf_set(err, errlen, "worker: out of memory");
      return WORKER_ENOMEM;
    }
    w->st = w->own_st;
  }
  w->rng = (uint64_t)chrono_now_ns() | 1;
  *out = w;
  return 0;
}

static void cache_slot_drop(wk_base_cache *c) {
  pp_free(c->p);
  c->p = NULL;
  c->app[0] = 0;
  c->key[0] = 0;
}

void wk_cache_drop_kind(worker *w, layout_kind k) {
  cache_slot_drop(&w->cache[k]);
  cache_slot_drop(&w->hour_cache[k]);
}

void wk_cache_drop(worker *w) {
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) wk_cache_drop_kind(w, (layout_kind)k);
}

void wk_forget_app(worker *w, const char *app) {
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) {
    if (w->cache[k].p && strcmp(w->cache[k].app, app) == 0) cache_slot_drop(&w->cache[k]);
    if (w->hour_cache[k].p && strcmp(w->hour_cache[k].app, app) == 0)
      cache_slot_drop(&w->hour_cache[k]);
  }
  wk_gauge_drop_app(w, app);
  wk_known_forget_app(w, app);
}

void worker_free(worker *w) {
  if (!w) return;
  wk_cache_drop(w);
  wk_gauge_free_all(w);
  wk_known_free(w);
  rules_free(w->owned_rules);
  worker_stats_free(w->own_st);
  free(w);
}

void worker_set_rules(worker *w, rules_set *rules) {
  rules_free(w->owned_rules);
  w->owned_rules = rules;
  w->rules = rules;
}

/* ---- Retrying ---- */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Sleeps the backoff for attempt k, in slices, returning early on stop. */
static void backoff_sleep(worker *w, int k, volatile sig_atomic_t *stop) {
  int64_t d = w->cfg.backoff_min_ms;
  for (int i = 0; i < k && d < w->cfg.backoff_max_ms; i++) d *= 2;
  if (d > w->cfg.backoff_max_ms) d = w->cfg.backoff_max_ms;
  /* ±25% jitter so a fleet does not retry in lockstep */
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  d = d * 3 / 4 + (int64_t)(w->rng % (uint64_t)(d / 2 + 1));
  int64_t end = chrono_mono_ns() / 1000000 + d;
  while (!(stop && *stop)) {
    int64_t left = end - chrono_mono_ns() / 1000000;
    if (left <= 0) break;
    sleep_ms(left > 50 ? 50 : (int)left);
  }
}

int wk_backoff(worker *w, int k, volatile sig_atomic_t *stop) {
  wk_count(w, WK_RETRIES, 1);
  if (stop && *stop) return 1;
  backoff_sleep(w, k, stop);
  return stop && *stop;
}

int wk_retry(worker *w, const char *app, wk_op op, void *arg, volatile sig_atomic_t *stop) {
  char err[1024];
  for (int k = 0;; k++) {
    err[0] = 0;
    if (op(w, arg, err, sizeof err) == 0) {
      if (k > 0) WK_LOG(w, CORE_LOG_INFO, "recovered", "app", app, NULL);
      wk_dep_ok(w, WK_DEP_PROGRESS);
      return 0;
    }
    char attempt[16], stuck[1200];
    snprintf(attempt, sizeof attempt, "%d", k + 1);
    WK_LOG(w, CORE_LOG_WARN, "transient failure, retrying with backoff", "app", app, "error", err,
           "attempt", attempt, NULL);
    /* Until this succeeds nothing else is merged: not making progress. */
    snprintf(stuck, sizeof stuck, "app %s: %d failed attempt%s, retrying: %s", app, k + 1,
             k ? "s" : "", err);
    wk_dep_fail(w, WK_DEP_PROGRESS, stuck);
    if (wk_backoff(w, k, stop)) return WORKER_ESTOPPED;
  }
}
