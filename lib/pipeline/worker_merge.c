/*
 * worker_merge.c — the merge step: folds staged uploads of one app into the
 * bases of their kinds exactly once (worker_merge_app).
 *
 * One attempt runs these steps on a merge_step that holds everything it
 * allocates (freed in one place, step_free):
 *   1. load_base       the cpu base and its record: the one kept in memory
 *                      when the stored base is still the one written last,
 *                      else GET + decode (an undecodable base is moved aside;
 *                      a missing windowed base starts from its buckets);
 *   2. judge_uploads   each upload: already in the cpu record, gone, poison
 *                      (moved to rejected/), a new cpu upload (for the base
 *                      when its hour is in the base's window, and for its
 *                      hour's bucket when that lacks it), or an upload of
 *                      another kind (handed to its wk_group), whose
 *                      contributions are then made (wk_group_prepare);
 *   3. buckets         every hour bucket that got uploads, of every kind
 *                      (worker_hours.c), before any base;
 *   4. merge_and_prune the new cpu uploads newest first, then the base; the
 *                      app's prune rules;
 *   5. next_record     the record of the new base (worker.h, rule 4) and its
 *                      window start, then encode;
 *   6. guarded_write   PUT unless the base changed since step 1 (then the
 *                      attempt is made again);
 *   7. other_kinds     each other kind's base (worker_kinds.c), then, after
 *                      every base, the instance states;
 *   8. announce        profile.merged for every upload now in its objects.
 * Steps 4-6 run only when there are new cpu uploads for the base, step 7
 * only for the kinds the batch has.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "ingest.h"
#include "worker_internal.h"

/* How often a base that keeps changing under the worker is merged again. */
#define MERGE_ATTEMPTS 5

/* ---- One attempt ---- */

typedef struct merge_step {
  wk_attempt a;
  const wk_strlist *names; /* the staged names to merge (distinct) */
  /* 1. the cpu base */
  wk_base cpu;
  /* 2. the uploads */
  wk_fetched *items; /* one per name */
  pp_profile **ups;  /* the new cpu ones for the base, decoded, in name order
                        (or, once shared with their bucket, their merge) */
  size_t nups;
  size_t nfresh;     /* the new cpu uploads for the base */
  wk_hours *hours;   /* the cpu hour buckets */
  wk_columns cols;   /* the cpu columns (counters), once an upload is seen */
  pp_profile *shape; /* without a base: the first upload's types, no samples (the
                        reference of the others, which may be freed before) */
  wk_group *groups[LAYOUT_KIND_COUNT]; /* the other kinds' uploads */
  int64_t t0, t_base, t_ups, t_merge, t_enc; /* monotonic ns: start, end of each stage */
} merge_step;

static void step_free(merge_step *s) {
  wk_base_free(&s->cpu);
  wk_fetched_free(s->items, s->names->n);
  if (s->ups)
    for (size_t i = 0; i < s->nups; i++) pp_free(s->ups[i]);
  free(s->ups);
  wk_hours_free(s->hours);
  pp_free(s->shape);
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) wk_group_free(s->groups[k]);
  wk_attempt_free(&s->a);
}

/* 1. The cpu base and its record (a missing windowed one from its buckets). */
static int load_base(merge_step *s) {
  int rc = wk_base_load(&s->a, &s->cpu);
  return rc == 0 ? wk_window_fill(&s->a, &s->cpu) : rc;
}

/* Moves a poison upload aside (data: its bytes when read). */
static int reject(merge_step *s, wk_fetched *f, const uint8_t *data, size_t len,
                  const char *why) {
  int rc = wk_reject_staged(s->a.w, s->a.app, f, data, len, why, s->a.err, s->a.errlen);
  return rc != 0 ? wk_store_failed(&s->a, rc) : 0;
}

/* Hands an upload of another kind to its group. */
static int to_group(merge_step *s, wk_fetched *f) {
  wk_group **g = &s->groups[f->kind];
  if (!*g && !(*g = wk_group_new(f->kind))) return wk_out_of_memory(&s->a);
  return wk_group_add(*g, f) != 0 ? wk_out_of_memory(&s->a) : 0;
}

/* Judges one fetched upload: already in the cpu base, gone, poison (moved
 * to rejected/), a new cpu upload (kept for the merge; *ref is what the
 * next ones must be compatible with), or one of another kind. */
static int judge_one(merge_step *s, wk_fetched *f, const pp_profile **ref) {
  worker *w = s->a.w;
  const char *app = s->a.app;
  if (f->skip) {
    wk_count(w, WK_DUPLICATES, 1);
    WK_LOG(w, CORE_LOG_INFO, "upload already in the base (redelivered): skipped", "app", app,
           "key", f->key, NULL);
    return wk_announce_add(&s->a, f->key, LAYOUT_KIND_CPU);
  }
  if (f->rc == BLOB_ENOTFOUND) {
    wk_count(w, WK_MISSING, 1);
    WK_LOG(w, CORE_LOG_WARN,
           "staged upload is gone and not in the base record (merged and cleaned up before, or "
           "deleted with its app): skipped",
           "app", app, "key", f->key, NULL);
    return 0;
  }
  char why[600];
  if (f->rc == BLOB_ETOOBIG) {
    errbuf_set(why, sizeof why, "staged object larger than the limit of %zu bytes",
               w->cfg.max_profile_bytes);
    return reject(s, f, NULL, 0, why);
  }
  if (f->rc != 0) {
    errbuf_set(s->a.err, s->a.errlen, "%s", f->err);
    return wk_store_failed(&s->a, f->rc);
  }
  if (f->drc == PP_ENOMEM || (f->drc == PP_OK && f->mrc == INGEST_ENOMEM)) {
    errbuf_set(s->a.err, s->a.errlen, "decoding %s: out of memory", f->key);
    return WORKER_ENOMEM;
  }
  errbuf_set(why, sizeof why, "%s", f->err);
  int drc = f->drc;
  if (drc == PP_OK && f->mrc != 0) drc = PP_EMALFORMED;
  if (drc == PP_OK && f->kind != LAYOUT_KIND_CPU) return to_group(s, f);
  if (drc == PP_OK && *ref && !wk_compatible(*ref, f->p, why, sizeof why)) drc = PP_EINCOMPATIBLE;
  if (drc != PP_OK) return reject(s, f, f->data, f->len, why);
  f->hour = wk_upload_hour(w, f);
  pp_profile *up = f->p;
  f->p = NULL;
  free(f->data);
  f->data = NULL;
  pp_remove_comments_with_prefix(up, WORKER_COMMENT_PREFIX);
  if (!*ref) {
    wk_columns_counters(pp_sample_type_count(up), &s->cols);
    if (!(s->shape = wk_scaled(up, &s->cols, 0, 0, 1))) {
      pp_free(up);
      return wk_out_of_memory(&s->a);
    }
    *ref = s->shape;
  }
  /* the base lacks it (its record said so); its bucket may not */
  wk_base *bucket = NULL;
  int rc = wk_hours_get(&s->a, s->hours, f->hour, *ref, &bucket);
  if (rc != 0) {
    pp_free(up);
    return rc;
  }
  int need_bucket = !wk_sl_has_sorted(&bucket->record, f->name);
  int need_base = wk_window_holds(w, &s->cpu, f->hour);
  pp_profile *for_bucket = NULL;
  if (need_bucket && need_base && !(for_bucket = pp_clone(up))) {
    pp_free(up);
    return wk_out_of_memory(&s->a);
  }
  if (need_bucket && !need_base) {
    for_bucket = up;
    up = NULL;
  }
  if (need_base) {
    s->ups[s->nups++] = up;
    up = NULL;
    if (wk_sl_add(&s->cpu.fresh, f->name) != 0) {
      pp_free(for_bucket);
      return wk_out_of_memory(&s->a);
    }
  }
  pp_free(up);
  if (need_bucket && (rc = wk_hours_add(&s->a, s->hours, bucket, f->name, for_bucket)) != 0)
    return rc;
  if (!need_base && !need_bucket) {
    wk_count(w, WK_DUPLICATES, 1);
    WK_LOG(w, CORE_LOG_INFO,
           "upload already in its hour bucket and outside the base's window (redelivered): "
           "skipped",
           "app", app, "key", f->key, NULL);
  }
  return wk_announce_add(&s->a, f->key, LAYOUT_KIND_CPU);
}

/* 2. The uploads: fetched and decoded at once, then judged in order. */
static int judge_uploads(merge_step *s) {
  s->ups = calloc(s->names->n ? s->names->n : 1, sizeof *s->ups);
  s->hours = wk_hours_new(LAYOUT_KIND_CPU);
  if (!s->ups || !s->hours ||
      wk_fetch(s->a.w, s->a.app, s->names, &s->cpu.record, &s->items) != 0) {
    errbuf_set(s->a.err, s->a.errlen, "out of memory");
    return WORKER_ENOMEM;
  }
  const pp_profile *ref = s->cpu.p;
  if (ref) wk_columns_counters(pp_sample_type_count(ref), &s->cols);
  for (size_t i = 0; i < s->names->n; i++) {
    int rc = judge_one(s, &s->items[i], &ref);
    if (rc != 0) return rc;
  }
  /* the other kinds' contributions, before anything is written */
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) {
    if (!s->groups[k]) continue;
    int rc = wk_group_prepare(&s->a, s->groups[k]);
    if (rc != 0) return rc;
  }
  return 0;
}

/* 3. Every hour bucket of every kind, before any base (the base's new
 * uploads merged once for both when they are the bucket's). Returns 0, 1
 * (a bucket changed under the worker: merge again) or a WORKER_E* code. */
static int write_buckets(merge_step *s) {
  s->nfresh = s->nups;
  int rc = wk_hours_share(&s->a, s->hours, &s->cpu.fresh, s->ups, &s->nups);
  if (rc == 0) rc = wk_hours_write(&s->a, s->hours, &s->cols, NULL, NULL);
  for (int k = 0; rc == 0 && k < LAYOUT_KIND_COUNT; k++)
    if (s->groups[k]) rc = wk_group_write_buckets(&s->a, s->groups[k]);
  return rc;
}

/* 4. Merge: uploads newest first, then the base (autopgo's [upload, base]);
 * then the app's prune rules. */
static int merge_and_prune(merge_step *s) {
  pp_profile *old = s->cpu.p;
  s->cpu.p = NULL;
  int rc = wk_fold(&s->a, s->cpu.key, s->ups, s->nups, old, &s->cols, NULL, NULL, &s->cpu.result);
  return rc;
}

/* 5. The new record: the old names whose staged objects still exist, plus
 * the names merged now, and the window start; written into the result,
 * which is then encoded. */
static int next_record(merge_step *s) { return wk_base_encode(&s->a, &s->cpu); }

/* 6. Guards against another writer since step 1, then writes. Returns 1
 * when the base changed (merge again). */
static int guarded_write(merge_step *s) { return wk_base_write(&s->a, &s->cpu); }

static double ms_between(int64_t from_ns, int64_t to_ns) { return (double)(to_ns - from_ns) / 1e6; }

/* Counts and logs a base written. */
static void report_written(merge_step *s) {
  worker *w = s->a.w;
  const char *app = s->a.app;
  int64_t now = chrono_mono_ns();
  double dt_ms = ms_between(s->t0, now);
  wk_stat_base_written(w->st, dt_ms / 1000, s->nfresh, s->cpu.enclen);
  wk_stat_kind(w->st, WK_K_UPLOADS, LAYOUT_KIND_CPU, s->nfresh);
  wk_stat_kind(w->st, WK_K_BASE_WRITES, LAYOUT_KIND_CPU, 1);
  for (size_t i = 0; i < s->cpu.fresh.n; i++)
    WK_LOG(w, CORE_LOG_DEBUG, "upload merged", "app", app, "name", s->cpu.fresh.v[i], NULL);
  char nb[32], sz[32], ms[32], stages[160];
  snprintf(nb, sizeof nb, "%zu", s->nfresh);
  snprintf(sz, sizeof sz, "%zu", s->cpu.enclen);
  snprintf(ms, sizeof ms, "%.1f", dt_ms);
  snprintf(stages, sizeof stages,
           "base %.0f, uploads+buckets %.0f, merge+prune %.0f, list+encode %.0f, write %.0f",
           ms_between(s->t0, s->t_base), ms_between(s->t_base, s->t_ups),
           ms_between(s->t_ups, s->t_merge), ms_between(s->t_merge, s->t_enc),
           ms_between(s->t_enc, chrono_mono_ns()));
  WK_LOG(w, CORE_LOG_INFO, "base written", "app", app, "uploads", nb, "base_bytes", sz,
         "merge_ms", ms, NULL);
  WK_LOG(w, CORE_LOG_DEBUG, "base write stages (ms)", "app", app, "stages", stages, NULL);
}

/* 7. The other kinds: every base first, then every instance state. Returns
 * 0, 1 (a base changed: merge again) or a negative WORKER_E* code. */
static int other_kinds(merge_step *s) {
  int rc = 0;
  for (int k = 0; rc == 0 && k < LAYOUT_KIND_COUNT; k++)
    if (s->groups[k]) rc = wk_group_write_base(&s->a, s->groups[k]);
  for (int k = 0; rc == 0 && k < LAYOUT_KIND_COUNT; k++)
    if (s->groups[k]) rc = wk_group_write_states(&s->a, s->groups[k]);
  return rc;
}

/* 8. Announce: every upload now in its objects gets its profile.merged. */
static int announce(merge_step *s) { return wk_announce_all(&s->a); }

/* One attempt of worker_merge_app. Returns 0, 1 (conflict: a base
 * changed, try again) or a negative WORKER_E* code. */
static int merge_attempt(worker *w, const char *app, const wk_strlist *names, char *err,
                         size_t errlen) {
  merge_step s = {.names = names};
  s.a.w = w;
  s.a.app = app;
  s.a.err = err;
  s.a.errlen = errlen;
  s.t0 = chrono_mono_ns();
  wk_base_init(&s.cpu, &s.a, LAYOUT_KIND_CPU);
  int rc = load_base(&s);
  if (rc == 0) {
    s.t_base = chrono_mono_ns();
    rc = judge_uploads(&s);
  }
  if (rc == 0) rc = write_buckets(&s);
  if (rc == 0 && (s.nfresh > 0 || wk_base_unwritten(&s.cpu))) {
    s.t_ups = chrono_mono_ns();
    rc = merge_and_prune(&s);
    if (rc == 0) {
      s.t_merge = chrono_mono_ns();
      rc = next_record(&s);
    }
    if (rc == 0) {
      s.t_enc = chrono_mono_ns();
      rc = guarded_write(&s);
    }
    if (rc == 0) report_written(&s);
  } else if (rc == 0) {
    wk_known_note(w, app, &s.cpu);
    wk_base_keep_read(&s.a, &s.cpu);
    wk_dep_ok(w, WK_DEP_BLOB);
  }
  if (rc == 0) rc = other_kinds(&s);
  if (rc == 0) rc = announce(&s);
  size_t big = s.cpu.enclen;
  step_free(&s);
  /* a large merge's memory goes back to the system, not kept at the peak */
  if (big >= ((size_t)1 << 20)) malloc_trim(0);
  return rc;
}

int worker_merge_app(worker *w, const char *app, const char *const *keys, size_t nkeys, char *err,
                     size_t errlen) {
  char local[1024];
  if (!err || !errlen) {
    err = local;
    errlen = sizeof local;
  }
  errbuf_clear(err, errlen);
  if (!layout_app_valid(app)) {
    errbuf_set(err, errlen, "worker: \"%.80s\" is not a valid app name", app ? app : "");
    return WORKER_EINVAL;
  }
  wk_strlist names = {0};
  for (size_t i = 0; i < nkeys; i++) {
    const char *name = layout_staged_name(keys[i], app);
    if (!name) {
      wk_count(w, WK_MALFORMED, 1);
      WK_LOG(w, CORE_LOG_WARN, "profileKey is not a staged object of its app: skipped", "app", app,
             "key", keys[i], NULL);
      continue;
    }
    if (wk_sl_has_linear(&names, name)) continue;
    if (wk_sl_add(&names, name) != 0) {
      wk_sl_free(&names);
      errbuf_set(err, errlen, "out of memory");
      return WORKER_ENOMEM;
    }
  }
  int rc = 0;
  for (int attempt = 1; names.n && (rc = merge_attempt(w, app, &names, err, errlen)) == 1;
       attempt++) {
    if (attempt == MERGE_ATTEMPTS) {
      char base_key[LAYOUT_KEY_BUF];
      layout_base_key(app, base_key, sizeof base_key);
      errbuf_set(err, errlen, "%s keeps changing under the worker (another writer?)", base_key);
      wk_dep_fail(w, WK_DEP_BLOB, err);
      rc = WORKER_ECONFLICT;
      break;
    }
  }
  wk_sl_free(&names);
  return rc;
}

int wk_op_merge(worker *w, void *arg, char *err, size_t errlen) {
  const wk_keys *k = arg;
  return worker_merge_app(w, k->app, k->keys, k->n, err, errlen);
}
