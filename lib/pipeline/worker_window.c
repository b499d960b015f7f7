/*
 * worker_window.c — history and windows (worker.h, "History and windows"):
 * an upload's time and hour, which hours a base holds, moving a base's
 * window start by subtracting the buckets of the hours that left it (or
 * rebuilding the base from its window's buckets when a subtraction would
 * not be exact), the retention sweep, the history key of a staged object,
 * and the tick that runs the periodic parts for the (app, kind)s this
 * worker knows.
 *
 * Why subtraction is exact: a base holds, for every hour from its window
 * start B on, exactly the contributions its hour's bucket holds — both get
 * the same contribution of each upload, the bucket first — except for
 * uploads in a bucket's record and not in the base's whose staged objects
 * still exist (a crash between the bucket's write and the base's, before
 * the redelivery). Those are looked for before subtracting; any of them, a
 * bucket that cannot be read, or a negative value afterwards, and the base
 * is rebuilt from its window's buckets instead. The new start goes into the
 * base in the same PUT as the data, so an hour leaves a base exactly once.
 *
 * Costs: an hour leaving one base: one LIST of the kind's buckets, one GET
 * per bucket leaving, one merge of the base with them, one PUT. A rebuild:
 * one GET per bucket of the window and one merge of all of them. A sweep
 * (once an hour per app): one LIST per kind of the buckets and of the
 * instance states, one LIST per expired hour of its history objects, one
 * DELETE per object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

#define HOUR_NS (3600LL * 1000000000LL)

/* ---- An upload's time ---- */

int64_t worker_upload_time(const ingest_meta *m, int64_t time_nanos, const char *staged_name,
                           int64_t retention_ns, int64_t now_ns) {
  if (m && m->time_ns > 0) return m->time_ns;
  int64_t received = now_ns, ns;
  if (m && m->received_ns > 0) received = m->received_ns;
  else if (staged_name && layout_name_stamp_ns(staged_name, &ns) == 0 && ns > 0) received = ns;
  return ingest_upload_time(time_nanos, received, retention_ns);
}

static int64_t retention_ns(const worker *w) { return w->cfg.retention_ms * 1000000; }

int64_t wk_upload_hour(const worker *w, const wk_fetched *f) {
  int64_t t = worker_upload_time(&f->meta, f->p ? pp_time_nanos(f->p) : 0, f->name,
                                 retention_ns(w), wk_now_ns(w));
  return layout_hour_of_ns(t);
}

int wk_history_key(const worker *w, const char *app, const char *name, const uint8_t *data,
                   size_t len, char *key, size_t keyn, int *keep, char *why, size_t whylen) {
  pp_limits lim = {.max_input_bytes = w->cfg.max_profile_bytes, .max_decoded_bytes = w->cfg.max_decoded_bytes, .count_memory = 1};
  pp_profile *p = NULL;
  ingest_meta meta;
  ingest_meta_init(&meta);
  int rc = pp_decode(data, len, &lim, &p, why, whylen);
  layout_kind kind = LAYOUT_KIND_CPU;
  if (rc == PP_OK) {
    int found = 0;
    if (ingest_meta_from_profile(p, &meta, &found, why, whylen) == 0) {
      layout_kind k = layout_kind_parse(ingest_kind_name(meta.kind));
      if (k != LAYOUT_KIND_NONE) kind = k;
    } else {
      rc = -1;
    }
  }
  /* what does not decode is kept too (as cpu, at its receipt time): this
   * step never loses an upload */
  int64_t t = worker_upload_time(&meta, p ? pp_time_nanos(p) : 0, name, retention_ns(w),
                                 wk_now_ns(w));
  int64_t hour = layout_hour_of_ns(t);
  *keep = hour >= wk_retention_cutoff(w);
  ingest_meta_free(&meta);
  pp_free(p);
  layout_history_key(app, kind, hour, name, key, keyn);
  return rc == PP_OK ? 0 : -1;
}

/* ---- Which hours a base holds ---- */

int wk_window_holds(const worker *w, const wk_base *b, int64_t hour) {
  return w->cfg.window_ms <= 0 || b->window_start == WK_NO_WINDOW || hour >= b->window_start;
}

/* ---- Buckets of an (app, kind) ---- */

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return a < b ? -1 : a > b;
}

/* The hours of the stored buckets of (a->app, kind), sorted, into *out
 * (malloc'd; *n of them). Returns 0 or a WORKER_E* code. */
static int list_hours(wk_attempt *a, layout_kind kind, int64_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  char prefix[LAYOUT_KEY_BUF];
  layout_hours_prefix(a->app, kind, prefix, sizeof prefix);
  blob_iter *it = NULL;
  int rc = blob_list(a->w->cfg.blob, prefix, &it, a->err, a->errlen);
  if (rc != 0) return wk_store_failed(a, rc);
  size_t cap = 0;
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, a->err, a->errlen)) == 1) {
    layout_ref ref;
    if (layout_parse_key(key, &ref) != 0 || ref.type != LAYOUT_KEY_HOUR || ref.kind != kind)
      continue;
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 32;
      int64_t *nv = realloc(*out, nc * sizeof *nv);
      if (!nv) {
        rc = BLOB_ENOMEM;
        errbuf_set(a->err, a->errlen, "listing %s: out of memory", prefix);
        break;
      }
      *out = nv;
      cap = nc;
    }
    (*out)[(*n)++] = ref.hour;
  }
  blob_iter_free(it);
  if (rc < 0) {
    free(*out);
    *out = NULL;
    *n = 0;
    return wk_store_failed(a, rc);
  }
  if (*n > 1) qsort(*out, *n, sizeof **out, cmp_i64);
  return 0;
}

/* Reads the bucket of hour (the kept copy when it is current). *b is set
 * up either way; b->p is NULL when there is none (or it was moved aside). */
static int load_bucket(wk_attempt *a, layout_kind kind, int64_t hour, wk_base *b) {
  wk_bucket_init(b, a, kind, hour);
  return wk_base_load(a, b);
}

/* Adds the names of rec whose staged objects still exist to out. */
static int add_present(wk_attempt *a, const wk_strlist *rec, wk_strlist *out) {
  int rc = wk_staged_present(a);
  if (rc != 0) return rc;
  for (size_t i = 0; i < rec->n; i++)
    if (wk_sl_has_sorted(&a->present, rec->v[i]) && !wk_sl_has_linear(out, rec->v[i]) &&
        wk_sl_add(out, rec->v[i]) != 0)
      return wk_out_of_memory(a);
  return 0;
}

/*
 * Σ of the buckets of (a->app, kind) from hour `from` on, counter columns
 * only (gauges zeroed), into *sum (NULL when there is none); the names of
 * their records whose staged objects still exist are added to names.
 * cols: the kind's columns, detected on the first bucket when cols->ncols
 * is 0. *count: buckets summed. Returns 0 or a WORKER_E* code.
 */
static int sum_buckets(wk_attempt *a, layout_kind kind, int64_t from, wk_columns *cols,
                       pp_profile **sum, wk_strlist *names, size_t *count) {
  worker *w = a->w;
  *sum = NULL;
  *count = 0;
  int64_t *hours = NULL;
  size_t nh = 0;
  int rc = list_hours(a, kind, &hours, &nh);
  if (rc != 0) return rc;
  pp_merger *m = NULL;
  char why[600];
  for (size_t i = 0; rc == 0 && i < nh; i++) {
    if (hours[i] < from) continue;
    wk_base b;
    rc = load_bucket(a, kind, hours[i], &b);
    if (rc == 0 && b.p) {
      if (!cols->ncols && wk_columns_detect(b.p, kind, cols) != 0)
        wk_columns_counters(pp_sample_type_count(b.p), cols);
      rc = add_present(a, &b.record, names);
      if (rc == 0 && !m && !(m = pp_merger_new())) rc = wk_out_of_memory(a);
    }
    if (rc == 0 && b.p) {
      pp_profile *p = b.p;
      b.p = NULL;
      pp_remove_comments_with_prefix(p, WORKER_COMMENT_PREFIX);
      if (cols->has_gauges) wk_scale(p, cols, 1, 0);
      int prc = pp_merger_add(m, p, why, sizeof why);
      if (prc == PP_ENOMEM) {
        rc = wk_out_of_memory(a);
      } else if (prc != PP_OK) {
        WK_LOG(w, CORE_LOG_WARN, "hour bucket left out: it does not merge with the others",
               "app", a->app, "key", b.key, "reason", why, NULL);
      } else {
        ++*count;
      }
    }
    wk_base_free(&b);
  }
  free(hours);
  if (rc == 0 && m && *count) {
    int prc = pp_merger_finish(m, sum, why, sizeof why);
    if (prc != PP_OK) {
      errbuf_set(a->err, a->errlen, "summing the hour buckets of %s/%s: %s", a->app,
                 layout_kind_name(kind), why);
      rc = wk_from_pp(prc);
    }
  }
  pp_merger_free(m);
  if (rc == 0) wk_sl_sort(names);
  return rc;
}

int wk_window_fill(wk_attempt *a, wk_base *b) {
  worker *w = a->w;
  if (w->cfg.window_ms <= 0 || b->existed || b->hour >= 0) return 0;
  int64_t target = wk_window_target(w);
  wk_columns cols = {0};
  pp_profile *sum = NULL;
  wk_strlist names = {0};
  size_t count = 0;
  int rc = sum_buckets(a, b->kind, target, &cols, &sum, &names, &count);
  if (rc != 0) {
    wk_sl_free(&names);
    return rc;
  }
  pp_free(b->p);
  b->p = sum;
  wk_sl_free(&b->record);
  b->record = names;
  b->window_start = target;
  if (count) {
    char n[24], hs[16] = "";
    snprintf(n, sizeof n, "%zu", count);
    layout_hour_format(target, hs, sizeof hs);
    wk_count(w, WK_WINDOW_REBUILDS, 1);
    WK_LOG(w, CORE_LOG_INFO, "no base: it starts from its window's hour buckets", "app", a->app,
           "kind", layout_kind_name(b->kind), "window_start", hs, "buckets", n, NULL);
  }
  return 0;
}

/* ---- Moving a window ---- */

/* The header of a windowed base: its time no earlier than its window
 * start, its duration not negative. */
static void window_header(pp_profile *p, int64_t start_hour) {
  int64_t t = pp_time_nanos(p), d = pp_duration_nanos(p);
  int64_t s = start_hour * HOUR_NS;
  if (t < s) t = s;
  if (d < 0) d = 0;
  pp_set_time(p, t, d);
}

/* Writes b->result as the base with window start `start` (record: the old
 * one ∩ staged ∪ b->fresh). Returns 0, 1 (another writer) or a code. */
static int write_windowed(wk_attempt *a, wk_base *b, int64_t start) {
  blob_info before = b->info;
  b->window_start = start;
  window_header(b->result, start);
  int rc = wk_base_encode(a, b);
  if (rc == 0) rc = wk_base_write(a, b);
  if (rc == 0) wk_gauge_follow(a->w, a->app, b->kind, &before, &b->info);
  return rc;
}

/* Rebuilds base b (loaded, b->p set) as Σ its buckets from hour target on
 * ⊕ its own gauge columns. Returns 0, 1 (another writer) or a code. */
static int rebuild(wk_attempt *a, wk_base *b, int64_t target, const char *reason) {
  worker *w = a->w;
  wk_columns cols = {0};
  if (wk_columns_detect(b->p, b->kind, &cols) != 0)
    wk_columns_counters(pp_sample_type_count(b->p), &cols);
  pp_profile *sum = NULL;
  size_t count = 0;
  int rc = sum_buckets(a, b->kind, target, &cols, &sum, &b->fresh, &count);
  if (rc != 0) return rc;
  /* the gauge part stays the base's (G as it was last written) */
  pp_profile *old = b->p;
  b->p = NULL;
  pp_profile *shape = NULL;
  if (!sum && !cols.has_gauges) shape = wk_scaled(old, &cols, 0, 0, 0);
  if (!sum && !cols.has_gauges && !shape) {
    pp_free(old);
    return wk_out_of_memory(a);
  }
  if (!cols.has_gauges) {
    pp_free(old);
    old = NULL;
  } else {
    wk_scale(old, &cols, 0, 1);
  }
  pp_profile *in[1] = {sum};
  rc = wk_fold(a, b->key, in, sum ? 1 : 0, old, NULL, NULL, shape, &b->result);
  pp_free(shape);
  if (rc == 0) rc = write_windowed(a, b, target);
  if (rc == 0) {
    char n[24], hs[16] = "";
    snprintf(n, sizeof n, "%zu", count);
    layout_hour_format(target, hs, sizeof hs);
    wk_count(w, WK_WINDOW_REBUILDS, 1);
    WK_LOG(w, CORE_LOG_WARN, "base rebuilt from its window's hour buckets", "app", a->app, "kind",
           layout_kind_name(b->kind), "window_start", hs, "buckets", n, "reason", reason, NULL);
  }
  return rc;
}

/* 1 when some upload in bucket bk's record is not in the base's and its
 * staged object still exists (its redelivery has not come yet). */
static int bucket_ahead(wk_attempt *a, const wk_base *base, const wk_base *bk, int *rc) {
  *rc = wk_staged_present(a);
  if (*rc != 0) return 0;
  for (size_t i = 0; i < bk->record.n; i++)
    if (!wk_sl_has_sorted(&base->record, bk->record.v[i]) &&
        wk_sl_has_sorted(&a->present, bk->record.v[i]))
      return 1;
  return 0;
}

/* Moves base b (loaded, window start B < target) to target: b minus the
 * buckets of [B, target). Returns 0, 1 (another writer) or a code. */
static int advance(wk_attempt *a, wk_base *b, int64_t target) {
  worker *w = a->w;
  int64_t from = b->window_start;
  int64_t *hours = NULL;
  size_t nh = 0;
  int rc = list_hours(a, b->kind, &hours, &nh);
  if (rc != 0) return rc;
  wk_columns cols = {0};
  if (wk_columns_detect(b->p, b->kind, &cols) != 0)
    wk_columns_counters(pp_sample_type_count(b->p), &cols);
  const pp_rules *rules = rules_for_app(w->rules, a->app);
  int has_rules = rules && pp_rules_count(rules) > 0;
  pp_merger *m = pp_merger_new();
  if (!m) {
    free(hours);
    return wk_out_of_memory(a);
  }
  char why[600];
  const char *redo = NULL; /* why the subtraction would not be exact */
  size_t left = 0;
  /* the base goes into the merger (no copy: memory is the base, the result
   * and one bucket); a rebuild reads it again */
  pp_profile *base = b->p;
  b->p = NULL;
  pp_remove_comments_with_prefix(base, WORKER_COMMENT_PREFIX);
  int prc = pp_merger_add(m, base, why, sizeof why);
  for (size_t i = 0; rc == 0 && prc == PP_OK && !redo && i < nh; i++) {
    if (hours[i] < from || hours[i] >= target) continue;
    wk_base bk;
    rc = load_bucket(a, b->kind, hours[i], &bk);
    if (rc == 0 && !bk.p) redo = "an hour bucket leaving the window could not be read";
    if (rc == 0 && !redo && bucket_ahead(a, b, &bk, &rc))
      redo = "an hour bucket leaving the window holds an upload the base does not hold yet";
    if (rc == 0 && !redo) {
      pp_profile *p = bk.p;
      bk.p = NULL;
      pp_remove_comments_with_prefix(p, WORKER_COMMENT_PREFIX);
      if (has_rules) prc = wk_prune(a->w, a->app, p, why, sizeof why);
      if (prc == PP_OK) {
        wk_scale(p, &cols, -1, 0);
        pp_set_time(p, pp_time_nanos(p), -pp_duration_nanos(p));
        prc = pp_merger_add(m, p, why, sizeof why);
      } else {
        pp_free(p);
      }
      left++;
    }
    wk_base_free(&bk);
  }
  free(hours);
  if (rc == 0 && prc == PP_OK && !redo) prc = pp_merger_finish(m, &b->result, why, sizeof why);
  pp_merger_free(m);
  if (rc == 0 && prc == PP_OK && !redo && has_rules)
    prc = wk_prune(a->w, a->app, b->result, why, sizeof why);
  if (rc == 0 && prc != PP_OK) {
    if (prc == PP_EINCOMPATIBLE) {
      redo = "an hour bucket leaving the window does not merge with the base";
    } else {
      errbuf_set(a->err, a->errlen, "taking hours out of %s: %s", b->key, why);
      rc = wk_from_pp(prc);
    }
  }
  for (size_t j = 0; rc == 0 && !redo && j < cols.ncols; j++)
    if (!cols.gauge[j] && pp_column_min(b->result, j) < 0)
      redo = "a value went negative when the hours left (prune rules changed?)";
  if (rc != 0) return rc;
  if (redo) {
    layout_kind kind = b->kind;
    blob_info was = b->info;
    wk_base_free(b);
    wk_base_init(b, a, kind);
    rc = wk_base_load(a, b);
    if (rc != 0) return rc;
    /* gone or written by someone else meanwhile: not this tick's to write */
    if (!b->p || strcmp(b->info.etag, was.etag) != 0 || b->info.size != was.size) return 1;
    return rebuild(a, b, target, redo);
  }
  rc = write_windowed(a, b, target);
  if (rc == 0) {
    char from_s[16] = "", to_s[16] = "", n[24];
    layout_hour_format(from, from_s, sizeof from_s);
    layout_hour_format(target, to_s, sizeof to_s);
    snprintf(n, sizeof n, "%zu", left);
    wk_count(w, WK_WINDOW_ADVANCES, left);
    WK_LOG(w, CORE_LOG_INFO, "hours left the base's window", "app", a->app, "kind",
           layout_kind_name(b->kind), "from", from_s, "to", to_s, "buckets", n, NULL);
  }
  return rc;
}

/* ---- What the tick knows ---- */

static wk_known *known_find(worker *w, const char *app, layout_kind kind) {
  for (size_t i = 0; i < w->nknown; i++)
    if (w->known[i].kind == kind && strcmp(w->known[i].app, app) == 0) return &w->known[i];
  return NULL;
}

static wk_known *known_add(worker *w, const char *app, layout_kind kind) {
  wk_known *k = known_find(w, app, kind);
  if (k) return k;
  if (w->nknown == w->cknown) {
    size_t nc = w->cknown ? w->cknown * 2 : 16;
    wk_known *nv = realloc(w->known, nc * sizeof *nv);
    if (!nv) return NULL;
    w->known = nv;
    w->cknown = nc;
  }
  k = &w->known[w->nknown++];
  memset(k, 0, sizeof *k);
  snprintf(k->app, sizeof k->app, "%s", app);
  k->kind = kind;
  return k;
}

static void known_remove(worker *w, const char *app, layout_kind kind) {
  for (size_t i = 0; i < w->nknown; i++)
    if (w->known[i].kind == kind && strcmp(w->known[i].app, app) == 0) {
      w->known[i] = w->known[--w->nknown];
      return;
    }
}

void wk_known_add_app(worker *w, const char *app) {
  for (size_t i = 0; i < w->napps; i++)
    if (strcmp(w->apps[i].app, app) == 0) return;
  if (w->napps == w->capps) {
    size_t nc = w->capps ? w->capps * 2 : 16;
    wk_known_app *nv = realloc(w->apps, nc * sizeof *nv);
    if (!nv) return; /* not swept by this worker: the next event tries again */
    w->apps = nv;
    w->capps = nc;
  }
  wk_known_app *x = &w->apps[w->napps++];
  snprintf(x->app, sizeof x->app, "%s", app);
  x->swept_hour = INT64_MIN;
}

void wk_known_note(worker *w, const char *app, const wk_base *b) {
  wk_known_add_app(w, app);
  if (w->cfg.window_ms <= 0 || b->hour >= 0 || !b->existed) return;
  wk_known *k = known_add(w, app, b->kind);
  if (!k) return;
  snprintf(k->etag, sizeof k->etag, "%s", b->info.etag);
  k->size = b->info.size;
  k->start = b->window_start;
  k->adopt = 0;
}

void wk_known_adopt(worker *w, const char *app, layout_kind kind) {
  wk_known_add_app(w, app);
  if (w->cfg.window_ms <= 0) return;
  wk_known *k = known_add(w, app, kind);
  if (k && !k->etag[0]) {
    k->adopt = 1;
    k->start = WK_NO_WINDOW;
  }
}

void wk_known_forget_app(worker *w, const char *app) {
  for (size_t i = 0; i < w->nknown;) {
    if (strcmp(w->known[i].app, app) == 0) w->known[i] = w->known[--w->nknown];
    else i++;
  }
  for (size_t i = 0; i < w->napps; i++)
    if (strcmp(w->apps[i].app, app) == 0) {
      w->apps[i] = w->apps[--w->napps];
      break;
    }
}

void wk_known_free(worker *w) {
  free(w->known);
  free(w->apps);
  w->known = NULL;
  w->apps = NULL;
  w->nknown = w->cknown = w->napps = w->capps = 0;
}

/* Moves the window of one known base. Returns 0 or a WORKER_E* code. */
static int window_one(worker *w, const char *app, layout_kind kind, int64_t target, char *err,
                      size_t errlen) {
  wk_known *k = known_find(w, app, kind);
  if (!k) return 0;
  wk_attempt a = {.w = w, .app = app, .err = err, .errlen = errlen};
  wk_base b;
  wk_base_init(&b, &a, kind);
  int rc = wk_base_load(&a, &b);
  enum { MOVE, STAYS, NOT_MINE } what = MOVE;
  if (rc == 0 && (!b.existed || !b.p)) {
    what = NOT_MINE; /* gone (deleted, or moved aside): the next batch starts it */
  } else if (rc == 0 && !k->adopt &&
             (!k->etag[0] || strcmp(b.info.etag, k->etag) != 0 || b.info.size != k->size)) {
    WK_LOG(w, CORE_LOG_INFO,
           "base changed since this worker wrote it: its window is left to its writer", "app",
           app, "kind", layout_kind_name(kind), NULL);
    what = NOT_MINE;
  } else if (rc == 0 && b.window_start != WK_NO_WINDOW && b.window_start >= target) {
    what = STAYS;
  }
  if (rc == 0 && what == NOT_MINE) {
    known_remove(w, app, kind);
  } else if (rc == 0 && what == STAYS) {
    k->adopt = 0;
    wk_known_note(w, app, &b);
    wk_base_keep_read(&a, &b);
  } else if (rc == 0) {
    rc = b.window_start == WK_NO_WINDOW
             ? rebuild(&a, &b, target, "the base was written without a window start")
             : advance(&a, &b, target);
    if (rc == 1) { /* another writer came in between */
      known_remove(w, app, kind);
      rc = 0;
    }
  }
  wk_base_free(&b);
  wk_attempt_free(&a);
  return rc;
}

/* ---- Retention ---- */

/* Deletes key (gone already is fine). Returns 0 or a WORKER_E* code. */
static int drop(wk_attempt *a, const char *key, size_t *deleted) {
  int rc = blob_delete(a->w->cfg.blob, key, a->err, a->errlen);
  if (rc == BLOB_ENOTFOUND) return 0;
  if (rc != 0) return wk_store_failed(a, rc);
  ++*deleted;
  return 0;
}

/* key when it was last written before *ctx (an int64_t of ms; < 0: any). */
static const char *pick_older(void *ctx, const char *key, const blob_info *info) {
  int64_t max_mtime_ms = *(const int64_t *)ctx;
  return max_mtime_ms >= 0 && info->mtime_ms >= max_mtime_ms ? NULL : key;
}

/* Lists prefix into keys; with max_mtime_ms >= 0 only objects last written
 * before it. Returns 0 or a WORKER_E* code. */
static int list_keys(wk_attempt *a, const char *prefix, int64_t max_mtime_ms, wk_strlist *keys) {
  return wk_list_prefix(a, prefix, pick_older, &max_mtime_ms, keys);
}

/* One kind of one app: the history objects and bucket of every hour
 * before cutoff (the bucket last), the instance states not written within
 * the retention. */
static int sweep_kind(wk_attempt *a, layout_kind kind, int64_t cutoff, size_t *deleted) {
  worker *w = a->w;
  int64_t *hours = NULL;
  size_t nh = 0;
  int rc = list_hours(a, kind, &hours, &nh);
  for (size_t i = 0; rc == 0 && i < nh && hours[i] < cutoff; i++) {
    char prefix[LAYOUT_KEY_BUF], key[LAYOUT_KEY_BUF];
    wk_strlist keys = {0};
    layout_history_prefix(a->app, kind, hours[i], prefix, sizeof prefix);
    rc = list_keys(a, prefix, -1, &keys);
    for (size_t j = 0; rc == 0 && j < keys.n; j++) rc = drop(a, keys.v[j], deleted);
    wk_sl_free(&keys);
    layout_hour_key(a->app, kind, hours[i], key, sizeof key);
    if (rc == 0) rc = drop(a, key, deleted);
  }
  free(hours);
  if (rc != 0) return rc;
  char prefix[LAYOUT_KEY_BUF];
  wk_strlist keys = {0};
  layout_instances_prefix(a->app, kind, prefix, sizeof prefix);
  int64_t before_ms = (wk_now_ns(w) - retention_ns(w)) / 1000000;
  rc = list_keys(a, prefix, before_ms > 0 ? before_ms : 0, &keys);
  for (size_t j = 0; rc == 0 && j < keys.n; j++) rc = drop(a, keys.v[j], deleted);
  wk_sl_free(&keys);
  return rc;
}

static int sweep_app(worker *w, const char *app, int64_t cutoff, char *err, size_t errlen) {
  wk_attempt a = {.w = w, .app = app, .err = err, .errlen = errlen};
  size_t deleted = 0;
  int rc = 0;
  for (int k = 0; rc == 0 && k < LAYOUT_KIND_COUNT; k++)
    rc = sweep_kind(&a, (layout_kind)k, cutoff, &deleted);
  wk_attempt_free(&a);
  if (deleted) {
    wk_count(w, WK_RETENTION_DELETED, deleted);
    char n[24], hs[16] = "";
    snprintf(n, sizeof n, "%zu", deleted);
    layout_hour_format(cutoff, hs, sizeof hs);
    WK_LOG(w, CORE_LOG_INFO, "history older than the retention deleted", "app", app, "before", hs,
           "objects", n, NULL);
  }
  if (rc == 0) wk_dep_ok(w, WK_DEP_BLOB);
  return rc;
}

/* ---- The tick ---- */

/* How long one tick works before it lets the next batch in (it goes on
 * right after it). */
#define TICK_BUDGET_MS 1000

int worker_history_tick(worker *w) {
  int64_t t0 = chrono_mono_ns() / 1000000;
  w->last_htick_ms = t0;
  w->htick_more = 0;
  int first = 0;
  char err[1024];
  if (w->cfg.window_ms > 0 && w->nknown) {
    int64_t target = wk_window_target(w);
    /* entries may go on the way: walk a copy */
    size_t n = w->nknown;
    wk_known *list = malloc(n * sizeof *list);
    if (!list) return WORKER_ENOMEM;
    memcpy(list, w->known, n * sizeof *list);
    for (size_t i = 0; i < n; i++) {
      /* what the base held when last seen tells whether it must move: no
       * I/O for the bases whose window is where it should be */
      if (!list[i].adopt && list[i].start != WK_NO_WINDOW && list[i].start >= target) continue;
      if (chrono_mono_ns() / 1000000 - t0 >= TICK_BUDGET_MS) {
        w->htick_more = 1;
        break;
      }
      err[0] = 0;
      int rc = window_one(w, list[i].app, list[i].kind, target, err, sizeof err);
      if (rc != 0) {
        WK_LOG(w, CORE_LOG_WARN, "moving a base's window failed; tried again at the next tick",
               "app", list[i].app, "kind", layout_kind_name(list[i].kind), "error", err, NULL);
        if (!first) first = rc;
      }
    }
    free(list);
  }
  int64_t cutoff = wk_retention_cutoff(w);
  for (size_t i = 0; i < w->napps && !w->htick_more; i++) {
    if (w->apps[i].swept_hour >= cutoff) continue;
    if (chrono_mono_ns() / 1000000 - t0 >= TICK_BUDGET_MS) {
      w->htick_more = 1;
      break;
    }
    char app[LAYOUT_APP_MAX + 1];
    snprintf(app, sizeof app, "%s", w->apps[i].app);
    err[0] = 0;
    int rc = sweep_app(w, app, cutoff, err, sizeof err);
    if (rc == 0) {
      w->apps[i].swept_hour = cutoff;
    } else {
      WK_LOG(w, CORE_LOG_WARN, "deleting old history failed; tried again at the next tick", "app",
             app, "error", err, NULL);
      if (!first) first = rc;
    }
  }
  return first;
}
