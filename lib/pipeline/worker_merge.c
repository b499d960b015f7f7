/*
 * worker_merge.c — the merge step: folds staged uploads of one app into its
 * base exactly once (worker_merge_app).
 *
 * One attempt runs six steps on a merge_step that holds everything it
 * allocates (freed in one place, step_free):
 *   1. load_base       the base and its record: the one kept in memory when
 *                      the stored base is still the one written last, else
 *                      GET + decode (an undecodable base is moved aside);
 *   2. judge_uploads   each upload: already in the record, gone, poison
 *                      (moved to rejected/), or new;
 *   3. merge_and_prune the new uploads newest first, then the base; the
 *                      app's prune rules;
 *   4. next_record     the record of the new base (worker.h, rule 4), then
 *                      encode;
 *   5. guarded_write   PUT unless the base changed since step 1 (then the
 *                      attempt is made again);
 *   6. announce        profile.merged for every upload now in the base.
 * Steps 3-5 run only when there is something new to merge.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* How often a base that keeps changing under the worker is merged again. */
#define MERGE_ATTEMPTS 5

/* ---- The record (the base's pgopipe-merged-staged comment) ---- */

/* Collects the names in every record comment of p into *names (sorted). */
static int record_read(const pp_profile *p, wk_strlist *names) {
  size_t plen = strlen(WORKER_RECORD_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, WORKER_RECORD_PREFIX, plen) != 0) continue;
    const char *s = c + plen;
    while (*s) {
      while (*s == ' ') s++;
      const char *e = s;
      while (*e && *e != ' ') e++;
      if (e > s && wk_sl_addn(names, s, (size_t)(e - s)) != 0) return -1;
      s = e;
    }
  }
  wk_sl_sort(names);
  return 0;
}

/* Adds the record comment: the prefix, then the names, space-separated. */
static int record_write(pp_profile *p, const wk_strlist *names) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return PP_ENOMEM;
  fputs(WORKER_RECORD_PREFIX, f);
  for (size_t i = 0; i < names->n; i++) fprintf(f, " %s", names->v[i]);
  if (fclose(f) != 0) {
    free(text);
    return PP_ENOMEM;
  }
  int rc = pp_add_comment(p, text);
  free(text);
  return rc;
}

/* ---- Helpers of the steps ---- */

/* Writes p's sample types as "type/unit,type/unit". */
static void put_sample_types(FILE *f, const pp_profile *p) {
  for (size_t i = 0; i < pp_sample_type_count(p); i++) {
    pp_value_type x = pp_sample_type(p, i);
    fprintf(f, "%s%s/%s", i ? "," : "", x.type, x.unit);
  }
}

/* 1 when p can be merged with ref (same period and sample types), else 0
 * with the reason in why. */
static int compatible(const pp_profile *ref, const pp_profile *p, char *why, size_t n) {
  pp_value_type a = pp_period_type(ref), b = pp_period_type(p);
  if (strcmp(a.type, b.type) || strcmp(a.unit, b.unit)) {
    errbuf_set(why, n, "incompatible period types %s/%s (base) and %s/%s (upload)", a.type, a.unit,
               b.type, b.unit);
    return 0;
  }
  size_t na = pp_sample_type_count(ref), nb = pp_sample_type_count(p);
  int same = na == nb;
  for (size_t i = 0; same && i < na; i++) {
    pp_value_type x = pp_sample_type(ref, i), y = pp_sample_type(p, i);
    same = !strcmp(x.type, y.type) && !strcmp(x.unit, y.unit);
  }
  if (same) return 1;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f) {
    put_sample_types(f, ref);
    fputs(" (base) and ", f);
    put_sample_types(f, p);
    if (fclose(f) != 0) {
      free(text);
      text = NULL;
    }
  }
  errbuf_set(why, n, "incompatible sample types %s (upload)", text ? text : "");
  free(text);
  return 0;
}

static int publish_merged(worker *w, const char *app, const char *key, char *err, size_t errlen) {
  bus_event ev;
  int rc = bus_event_init(&ev, BUS_TYPE_MERGED, app);
  if (rc == 0) {
    snprintf(ev.profile_key, sizeof ev.profile_key, "%s", key);
    layout_base_key(app, ev.merged_key, sizeof ev.merged_key);
    rc = bus_publish_event(w->cfg.writer, &ev, err, errlen);
  } else {
    errbuf_set(err, errlen, "event for %s: cannot build profile.merged", key);
  }
  if (rc != 0) wk_dep_fail(w, WK_DEP_WRITER, err);
  return wk_from_bus(rc);
}

/*
 * Moves a staged object to {app}/rejected/NAME. data may be NULL (then it is
 * read here without a size limit: the object is being set aside, not
 * merged). Returns 0 or a BLOB_E* code.
 */
static int reject_staged(worker *w, const char *app, const wk_fetched *f, const uint8_t *data,
                         size_t len, const char *reason, char *err, size_t errlen) {
  uint8_t *own = NULL;
  int rc = 0;
  if (!data) {
    rc = blob_get(w->cfg.blob, f->key, 0, &own, &len, NULL, err, errlen);
    if (rc == BLOB_ENOTFOUND) return 0;
    if (rc != 0) {
      wk_dep_fail(w, WK_DEP_BLOB, err);
      return rc;
    }
    data = own;
  }
  char dst[WK_KEY_BUF];
  layout_rejected_key(app, f->name, dst, sizeof dst);
  rc = blob_put(w->cfg.blob, dst, data, len, err, errlen);
  free(own);
  if (rc == 0) rc = blob_delete(w->cfg.blob, f->key, err, errlen);
  if (rc != 0) {
    wk_dep_fail(w, WK_DEP_BLOB, err);
    return rc;
  }
  wk_count(w, WK_REJECTED, 1);
  WK_LOG(w, CORE_LOG_ERROR, "upload rejected: moved to rejected/", "app", app, "key", f->key,
         "rejected_key", dst, "reason", reason, NULL);
  return 0;
}

/* Moves an undecodable base aside so later uploads can build a new one.
 * Returns 0 or a BLOB_E* code. */
static int reject_base(worker *w, const char *app, const uint8_t *data, size_t len,
                       const char *reason, char *err, size_t errlen) {
  char src[LAYOUT_KEY_BUF], dst[LAYOUT_KEY_BUF];
  layout_base_key(app, src, sizeof src);
  layout_rejected_base_key(app, chrono_now_ns(), dst, sizeof dst);
  int rc = blob_put(w->cfg.blob, dst, data, len, err, errlen);
  if (rc == 0) rc = blob_delete(w->cfg.blob, src, err, errlen);
  if (rc != 0) {
    wk_dep_fail(w, WK_DEP_BLOB, err);
    return rc;
  }
  wk_count(w, WK_BASES_REJECTED, 1);
  WK_LOG(w, CORE_LOG_ERROR,
         "base profile does not decode: moved to rejected/, starting a new base", "app", app,
         "rejected_key", dst, "reason", reason, NULL);
  return 0;
}

/* Lists the names under {app}/staging/ (sorted). Returns 0 or a BLOB_E* code. */
static int list_staged(worker *w, const char *app, wk_strlist *out, char *err, size_t errlen) {
  char prefix[LAYOUT_KEY_BUF];
  layout_staging_prefix(app, prefix, sizeof prefix);
  blob_iter *it = NULL;
  int rc = blob_list(w->cfg.blob, prefix, &it, err, errlen);
  if (rc != 0) return rc;
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    const char *name = layout_staged_name(key, app);
    if (name && wk_sl_add(out, name) != 0) {
      rc = BLOB_ENOMEM;
      errbuf_set(err, errlen, "listing %s: out of memory", prefix);
      break;
    }
  }
  blob_iter_free(it);
  if (rc < 0) return rc;
  wk_sl_sort(out);
  return 0;
}

/* ---- One attempt ---- */

typedef struct merge_step {
  worker *w;
  const char *app;
  const wk_strlist *names; /* the staged names to merge (distinct) */
  char base_key[LAYOUT_KEY_BUF];
  char *err;
  size_t errlen;
  /* 1. the base */
  pp_profile *base;  /* NULL: none */
  int base_existed;  /* a base was stored when read; binfo describes it */
  blob_info binfo;
  wk_strlist record; /* the names in its record, sorted */
  /* 2. the uploads */
  wk_fetched *items;  /* one per name */
  pp_profile **ups;   /* the new ones, decoded, in name order */
  size_t nups;
  wk_strlist fresh;   /* their names */
  wk_strlist publish; /* the keys to announce: new ones and those already in the base */
  /* 3.-5. the new base */
  pp_profile *result;
  uint8_t *enc;
  size_t enclen;
  int64_t t0, t_base, t_ups, t_merge, t_enc; /* monotonic ns: start, end of each stage */
} merge_step;

static void step_free(merge_step *s) {
  pp_free(s->base);
  wk_sl_free(&s->record);
  wk_fetched_free(s->items, s->names->n);
  if (s->ups)
    for (size_t i = 0; i < s->nups; i++) pp_free(s->ups[i]);
  free(s->ups);
  wk_sl_free(&s->fresh);
  wk_sl_free(&s->publish);
  pp_free(s->result);
  free(s->enc);
}

/* A failure of the store (s->err says which): health turns unhealthy. */
static int store_failed(merge_step *s, int blob_rc) {
  wk_dep_fail(s->w, WK_DEP_BLOB, s->err);
  return wk_from_blob(blob_rc);
}

static int out_of_memory(merge_step *s) {
  errbuf_set(s->err, s->errlen, "merging %s: out of memory", s->base_key);
  return WORKER_ENOMEM;
}

/* Takes the kept base when the stored one is still the one this worker
 * wrote last. Returns 1 (taken), 0 (read it from the store) or a negative
 * code (the HEAD failed; the kept base stays for the next attempt). */
static int base_from_cache(merge_step *s) {
  worker *w = s->w;
  if (!w->cache.p || strcmp(w->cache.app, s->app) != 0) return 0;
  blob_info now;
  int rc = blob_stat(w->cfg.blob, s->base_key, &now, s->err, s->errlen);
  if (rc == 0 && now.etag[0] && strcmp(now.etag, w->cache.etag) == 0 &&
      now.size == w->cache.size) {
    s->base = w->cache.p;
    w->cache.p = NULL;
    s->binfo = now;
    s->base_existed = 1;
    wk_count(w, WK_CACHE_HITS, 1);
  } else if (rc != 0 && rc != BLOB_ENOTFOUND) {
    return store_failed(s, rc);
  }
  wk_cache_drop(w);
  return s->base != NULL;
}

/* Reads and decodes the stored base; one too large or undecodable is moved
 * aside (there is then no base). */
static int base_from_store(merge_step *s) {
  worker *w = s->w;
  uint8_t *bytes = NULL;
  size_t blen = 0;
  char why[600];
  int rc = blob_get(w->cfg.blob, s->base_key, w->cfg.max_base_bytes, &bytes, &blen, &s->binfo,
                    s->err, s->errlen);
  if (rc == BLOB_ENOTFOUND) return 0;
  if (rc == BLOB_ETOOBIG) {
    errbuf_set(why, sizeof why, "base larger than the limit of %zu bytes", w->cfg.max_base_bytes);
    uint8_t *all = NULL;
    size_t alen = 0;
    rc = blob_get(w->cfg.blob, s->base_key, 0, &all, &alen, NULL, s->err, s->errlen);
    if (rc == 0) rc = reject_base(w, s->app, all, alen, why, s->err, s->errlen);
    free(all);
    return rc != 0 ? store_failed(s, rc) : 0;
  }
  if (rc != 0) return store_failed(s, rc);
  s->base_existed = 1;
  pp_limits lim = {.max_input_bytes = w->cfg.max_base_bytes};
  int drc = pp_decode(bytes, blen, &lim, &s->base, why, sizeof why);
  if (drc == PP_ENOMEM) {
    errbuf_set(s->err, s->errlen, "decoding %s: out of memory", s->base_key);
    rc = store_failed(s, BLOB_ENOMEM);
  } else if (drc != PP_OK) {
    s->base = NULL;
    s->base_existed = 0; /* moved aside by us: no base now */
    rc = reject_base(w, s->app, bytes, blen, why, s->err, s->errlen);
    if (rc != 0) rc = store_failed(s, rc);
  }
  free(bytes);
  return rc;
}

/* 1. The base and its record. */
static int load_base(merge_step *s) {
  int rc = base_from_cache(s);
  if (rc == 0) rc = base_from_store(s);
  if (rc < 0) return rc;
  if (s->base && record_read(s->base, &s->record) != 0) {
    errbuf_set(s->err, s->errlen, "reading the record of %s: out of memory", s->base_key);
    return WORKER_ENOMEM;
  }
  return 0;
}

/* Judges one fetched upload: already in the base, gone, poison (moved to
 * rejected/), or new (kept for the merge; *ref is what the next ones must
 * be compatible with). */
static int judge_one(merge_step *s, wk_fetched *f, const pp_profile **ref) {
  worker *w = s->w;
  if (f->skip) {
    wk_count(w, WK_DUPLICATES, 1);
    WK_LOG(w, CORE_LOG_INFO, "upload already in the base (redelivered): skipped", "app", s->app,
           "key", f->key, NULL);
    return wk_sl_add(&s->publish, f->key) != 0 ? out_of_memory(s) : 0;
  }
  if (f->rc == BLOB_ENOTFOUND) {
    wk_count(w, WK_MISSING, 1);
    WK_LOG(w, CORE_LOG_WARN,
           "staged upload is gone and not in the base record (merged and cleaned up before, or "
           "deleted with its app): skipped",
           "app", s->app, "key", f->key, NULL);
    return 0;
  }
  char why[600];
  if (f->rc == BLOB_ETOOBIG) {
    errbuf_set(why, sizeof why, "staged object larger than the limit of %zu bytes",
               w->cfg.max_profile_bytes);
    int rc = reject_staged(w, s->app, f, NULL, 0, why, s->err, s->errlen);
    return rc != 0 ? store_failed(s, rc) : 0;
  }
  if (f->rc != 0) {
    errbuf_set(s->err, s->errlen, "%s", f->err);
    return store_failed(s, f->rc);
  }
  if (f->drc == PP_ENOMEM) {
    errbuf_set(s->err, s->errlen, "decoding %s: out of memory", f->key);
    return WORKER_ENOMEM;
  }
  errbuf_set(why, sizeof why, "%s", f->err);
  int drc = f->drc;
  if (drc == PP_OK && *ref && !compatible(*ref, f->p, why, sizeof why)) drc = PP_EINCOMPATIBLE;
  if (drc != PP_OK) {
    int rc = reject_staged(w, s->app, f, f->data, f->len, why, s->err, s->errlen);
    return rc != 0 ? store_failed(s, rc) : 0;
  }
  pp_profile *up = f->p;
  f->p = NULL;
  free(f->data);
  f->data = NULL;
  pp_remove_comments_with_prefix(up, WORKER_COMMENT_PREFIX);
  s->ups[s->nups++] = up;
  if (!*ref) *ref = up;
  if (wk_sl_add(&s->fresh, f->name) != 0 || wk_sl_add(&s->publish, f->key) != 0)
    return out_of_memory(s);
  return 0;
}

/* 2. The uploads: fetched and decoded at once, then judged in order. */
static int judge_uploads(merge_step *s) {
  s->ups = calloc(s->names->n ? s->names->n : 1, sizeof *s->ups);
  if (!s->ups || wk_fetch(s->w, s->app, s->names, &s->record, &s->items) != 0) {
    errbuf_set(s->err, s->errlen, "out of memory");
    return WORKER_ENOMEM;
  }
  const pp_profile *ref = s->base;
  for (size_t i = 0; i < s->names->n; i++) {
    int rc = judge_one(s, &s->items[i], &ref);
    if (rc != 0) return rc;
  }
  return 0;
}

/* 3. Merge: uploads newest first, then the base (autopgo's [upload, base]);
 * then the app's prune rules. */
static int merge_and_prune(merge_step *s) {
  char why[600];
  pp_merger *m = pp_merger_new();
  if (!m) return out_of_memory(s);
  int rc = PP_OK;
  for (size_t i = s->nups; rc == PP_OK && i-- > 0;) {
    pp_profile *up = s->ups[i];
    s->ups[i] = NULL;
    if ((rc = pp_merger_add(m, up, why, sizeof why)) != PP_OK) {
      char key[WK_KEY_BUF];
      layout_staging_key(s->app, s->fresh.v[i], key, sizeof key);
      errbuf_set(s->err, s->errlen, "merging %s: %s", key, why);
    }
  }
  if (rc == PP_OK && s->base) {
    pp_remove_comments_with_prefix(s->base, WORKER_COMMENT_PREFIX);
    pp_profile *b = s->base;
    s->base = NULL;
    if ((rc = pp_merger_add(m, b, why, sizeof why)) != PP_OK)
      errbuf_set(s->err, s->errlen, "merging %s: %s", s->base_key, why);
  }
  if (rc == PP_OK && (rc = pp_merger_finish(m, &s->result, why, sizeof why)) != PP_OK)
    errbuf_set(s->err, s->errlen, "merging into %s: %s", s->base_key, why);
  pp_merger_free(m);
  if (rc != PP_OK) return wk_from_pp(rc);
  const pp_rules *rules = rules_for_app(s->w->rules, s->app);
  if (!rules || pp_rules_count(rules) == 0) return 0;
  /* A rule PCRE2 cannot evaluate on a name (its match limit) would fail
   * every retry of this app, and hold up every other app behind it: the
   * rule is skipped for that name instead, loudly. */
  pp_prune_skips sk;
  if ((rc = pp_prune_skipping(s->result, rules, &sk, why, sizeof why)) != PP_OK) {
    errbuf_set(s->err, s->errlen, "pruning %s: %s", s->base_key, why);
    return wk_from_pp(rc);
  }
  if (sk.count) {
    char n[24];
    snprintf(n, sizeof n, "%zu", sk.count);
    wk_count(s->w, WK_PRUNE_SKIPPED, sk.count);
    WK_LOG(s->w, CORE_LOG_ERROR,
           "a prune rule could not be evaluated on some function names: the rule was skipped for "
           "them (fix the rule, e.g. a pattern that backtracks less)",
           "app", s->app, "names", n, "first_name", sk.first_name, "error", sk.first_error, NULL);
  }
  return 0;
}

/* 4. The new record: the old names whose staged objects still exist, plus
 * the names merged now; written into the result, which is then encoded. */
static int next_record(merge_step *s) {
  wk_strlist present = {0}, next = {0};
  int rc = list_staged(s->w, s->app, &present, s->err, s->errlen);
  if (rc != 0) {
    wk_sl_free(&present);
    return store_failed(s, rc);
  }
  int oom = 0;
  for (size_t i = 0; !oom && i < s->record.n; i++)
    if (wk_sl_has_sorted(&present, s->record.v[i])) oom = wk_sl_add(&next, s->record.v[i]) != 0;
  for (size_t i = 0; !oom && i < s->fresh.n; i++)
    if (!wk_sl_has_linear(&next, s->fresh.v[i])) oom = wk_sl_add(&next, s->fresh.v[i]) != 0;
  if (!oom) {
    wk_sl_sort(&next);
    pp_remove_comments_with_prefix(s->result, WORKER_COMMENT_PREFIX);
    oom = record_write(s->result, &next) != PP_OK;
  }
  wk_sl_free(&present);
  wk_sl_free(&next);
  if (oom) return out_of_memory(s);
  char why[600];
  rc = pp_encode(s->result, s->w->cfg.gzip_level, &s->enc, &s->enclen, why, sizeof why);
  if (rc != PP_OK) {
    errbuf_set(s->err, s->errlen, "encoding %s: %s", s->base_key, why);
    return wk_from_pp(rc);
  }
  return 0;
}

/* Keeps what was written for the next batch of this app (wk_base_cache),
 * when the store's ETag of it can be known. */
static void keep_written(merge_step *s) {
  worker *w = s->w;
  blob_info after;
  char serr[256];
  if (blob_stat(w->cfg.blob, s->base_key, &after, serr, sizeof serr) != 0 || !after.etag[0] ||
      after.size != s->enclen)
    return;
  wk_cache_drop(w);
  w->cache.p = s->result;
  s->result = NULL;
  snprintf(w->cache.app, sizeof w->cache.app, "%s", s->app);
  snprintf(w->cache.etag, sizeof w->cache.etag, "%s", after.etag);
  w->cache.size = after.size;
}

/* 5. Guards against another writer since step 1, then writes. Returns 1
 * when the base changed (merge again). */
static int guarded_write(merge_step *s) {
  worker *w = s->w;
  blob_info now;
  int rc = blob_stat(w->cfg.blob, s->base_key, &now, s->err, s->errlen);
  if (rc != 0 && rc != BLOB_ENOTFOUND) return store_failed(s, rc);
  int changed = s->base_existed ? (rc == BLOB_ENOTFOUND || strcmp(now.etag, s->binfo.etag) != 0 ||
                                   now.size != s->binfo.size)
                                : (rc == 0);
  if (changed) {
    wk_count(w, WK_CONFLICTS, 1);
    WK_LOG(w, CORE_LOG_WARN, "base changed since it was read (another writer?): merging again",
           "app", s->app, "key", s->base_key, NULL);
    return 1;
  }
  rc = blob_put(w->cfg.blob, s->base_key, s->enc, s->enclen, s->err, s->errlen);
  if (rc != 0) return store_failed(s, rc);
  wk_dep_ok(w, WK_DEP_BLOB);
  keep_written(s);
  return 0;
}

static double ms_between(int64_t from_ns, int64_t to_ns) { return (double)(to_ns - from_ns) / 1e6; }

/* Counts and logs a base written. */
static void report_written(merge_step *s) {
  worker *w = s->w;
  int64_t now = chrono_mono_ns();
  double dt_ms = ms_between(s->t0, now);
  wk_stat_base_written(w->st, dt_ms / 1000, s->nups, s->enclen);
  for (size_t i = 0; i < s->fresh.n; i++)
    WK_LOG(w, CORE_LOG_DEBUG, "upload merged", "app", s->app, "name", s->fresh.v[i], NULL);
  char nb[32], sz[32], ms[32], stages[160];
  snprintf(nb, sizeof nb, "%zu", s->nups);
  snprintf(sz, sizeof sz, "%zu", s->enclen);
  snprintf(ms, sizeof ms, "%.1f", dt_ms);
  snprintf(stages, sizeof stages,
           "base %.0f, uploads %.0f, merge+prune %.0f, list+encode %.0f, write %.0f",
           ms_between(s->t0, s->t_base), ms_between(s->t_base, s->t_ups),
           ms_between(s->t_ups, s->t_merge), ms_between(s->t_merge, s->t_enc),
           ms_between(s->t_enc, chrono_mono_ns()));
  WK_LOG(w, CORE_LOG_INFO, "base written", "app", s->app, "uploads", nb, "base_bytes", sz,
         "merge_ms", ms, NULL);
  WK_LOG(w, CORE_LOG_DEBUG, "base write stages (ms)", "app", s->app, "stages", stages, NULL);
}

/* 6. Announce: every upload now in the base gets its profile.merged. */
static int announce(merge_step *s) {
  for (size_t i = 0; i < s->publish.n; i++) {
    int rc = publish_merged(s->w, s->app, s->publish.v[i], s->err, s->errlen);
    if (rc != 0) return rc;
  }
  if (s->publish.n) wk_dep_ok(s->w, WK_DEP_WRITER);
  return 0;
}

/* One attempt of worker_merge_app. Returns 0, 1 (conflict: the base
 * changed, try again) or a negative WORKER_E* code. */
static int merge_attempt(worker *w, const char *app, const wk_strlist *names, char *err,
                         size_t errlen) {
  merge_step s = {.w = w, .app = app, .names = names, .err = err, .errlen = errlen};
  s.t0 = chrono_mono_ns();
  layout_base_key(app, s.base_key, sizeof s.base_key);
  int rc = load_base(&s);
  if (rc == 0) {
    s.t_base = chrono_mono_ns();
    rc = judge_uploads(&s);
  }
  if (rc == 0 && s.nups > 0) {
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
    wk_dep_ok(w, WK_DEP_BLOB);
  }
  if (rc == 0) rc = announce(&s);
  size_t big = s.enclen;
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
