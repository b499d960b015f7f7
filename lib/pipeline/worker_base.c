/*
 * worker_base.c — one base object of a merge, whatever its kind — a base,
 * or an hour bucket, which is kept the same way: reading it (the copy kept
 * in memory when the store still holds exactly that, else GET + decode,
 * moving an undecodable one aside), its merge record (worker.h, "Exactly
 * once") and a base's window start (worker.h, "History and windows"),
 * encoding it with the next record, and the guarded write; plus what every
 * step of an attempt shares: the listing of {app}/staging/, moving poison
 * aside, profile.merged.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* ---- The record (the pgopipe-merged-staged comment) ---- */

int wk_record_read(const pp_profile *p, wk_strlist *names) {
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

int wk_record_write(pp_profile *p, const wk_strlist *names) {
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

/* ---- The window start (the pgopipe-window-start comment) ---- */

int64_t wk_window_read(const pp_profile *p) {
  size_t plen = strlen(WK_WINDOW_PREFIX);
  int64_t h = WK_NO_WINDOW;
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    int64_t v;
    if (strncmp(c, WK_WINDOW_PREFIX, plen) == 0 && layout_hour_parse(c + plen, &v) == 0) h = v;
  }
  return h;
}

/* Adds the window start comment. Returns 0 or a PP_E* code. */
static int window_write(pp_profile *p, int64_t hour) {
  char text[64], hs[16];
  if (layout_hour_format(hour, hs, sizeof hs) != 0) return PP_OK; /* out of range: none */
  snprintf(text, sizeof text, "%s%s", WK_WINDOW_PREFIX, hs);
  return pp_add_comment(p, text);
}

/* ---- Compatibility ---- */

/* Writes p's sample types as "type/unit,type/unit". */
static void put_sample_types(FILE *f, const pp_profile *p) {
  for (size_t i = 0; i < pp_sample_type_count(p); i++) {
    pp_value_type x = pp_sample_type(p, i);
    fprintf(f, "%s%s/%s", i ? "," : "", x.type, x.unit);
  }
}

int wk_compatible(const pp_profile *ref, const pp_profile *p, char *why, size_t n) {
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

/* ---- Moving aside ---- */

int wk_reject_staged(worker *w, const char *app, const wk_fetched *f, const uint8_t *data,
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

/* Where an undecodable object goes: a base to rejected/{kind}.pgo.NANOS, a
 * bucket to rejected/{kind}-{YYYYMMDDHH}.pgo.NANOS. */
static void rejected_key(const wk_attempt *a, const wk_base *b, char *dst, size_t n) {
  int64_t now = chrono_now_ns();
  if (b->hour < 0) {
    layout_rejected_kind_base_key(a->app, b->kind, now, dst, n);
    return;
  }
  char hs[16] = "", name[96];
  layout_hour_format(b->hour, hs, sizeof hs);
  snprintf(name, sizeof name, "%s-%s.pgo.%lld", layout_kind_name(b->kind), hs, (long long)now);
  layout_rejected_key(a->app, name, dst, n);
}

/* Moves an undecodable base aside so later uploads can build a new one.
 * Returns 0 or a BLOB_E* code. */
static int reject_base(wk_attempt *a, const wk_base *b, const uint8_t *data, size_t len,
                       const char *reason) {
  worker *w = a->w;
  char dst[LAYOUT_KEY_BUF];
  rejected_key(a, b, dst, sizeof dst);
  int rc = blob_put(w->cfg.blob, dst, data, len, a->err, a->errlen);
  if (rc == 0) rc = blob_delete(w->cfg.blob, b->key, a->err, a->errlen);
  if (rc != 0) {
    wk_dep_fail(w, WK_DEP_BLOB, a->err);
    return rc;
  }
  wk_count(w, WK_BASES_REJECTED, 1);
  WK_LOG(w, CORE_LOG_ERROR,
         b->hour < 0 ? "base profile does not decode: moved to rejected/, starting a new base"
                     : "hour bucket unusable: moved to rejected/, starting the hour again",
         "app", a->app, "kind", layout_kind_name(b->kind), "key", b->key, "rejected_key", dst,
         "reason", reason, NULL);
  return 0;
}

/* ---- What an attempt shares ---- */

int wk_store_failed(wk_attempt *a, int blob_rc) {
  wk_dep_fail(a->w, WK_DEP_BLOB, a->err);
  return wk_from_blob(blob_rc);
}

int wk_out_of_memory(wk_attempt *a) {
  errbuf_set(a->err, a->errlen, "merging into %s/: out of memory", a->app);
  return WORKER_ENOMEM;
}

void wk_attempt_free(wk_attempt *a) {
  wk_sl_free(&a->present);
  for (size_t i = 0; i < a->nann; i++) free(a->ann[i].key);
  free(a->ann);
  a->ann = NULL;
  a->nann = a->cann = 0;
}

int wk_announce_add(wk_attempt *a, const char *key, layout_kind kind) {
  if (a->nann == a->cann) {
    size_t nc = a->cann ? a->cann * 2 : 16;
    wk_announce *nv = realloc(a->ann, nc * sizeof *nv);
    if (!nv) return wk_out_of_memory(a);
    a->ann = nv;
    a->cann = nc;
  }
  char *k = strdup(key);
  if (!k) return wk_out_of_memory(a);
  a->ann[a->nann].key = k;
  a->ann[a->nann].kind = kind;
  a->nann++;
  return 0;
}

/* profile.merged for key, naming the base of its kind. */
/* Publishes one profile.merged; on failure err says why (the writer's
 * health is the caller's to mark). */
static int publish_one(worker *w, const char *app, const wk_announce *an, char *err,
                       size_t errlen) {
  bus_event ev;
  int rc = bus_event_init(&ev, BUS_TYPE_MERGED, app);
  if (rc == 0) {
    snprintf(ev.profile_key, sizeof ev.profile_key, "%s", an->key);
    layout_kind_base_key(app, an->kind, ev.merged_key, sizeof ev.merged_key);
    /* cpu events stay exactly autopgo's; other kinds name theirs */
    if (an->kind != LAYOUT_KIND_CPU) snprintf(ev.kind, sizeof ev.kind, "%s", layout_kind_name(an->kind));
    rc = bus_publish_event(w->cfg.writer, &ev, err, errlen);
  } else {
    errbuf_set(err, errlen, "event for %s: cannot build profile.merged", an->key);
  }
  return wk_from_bus(rc);
}

/* Many announcements are published by a few threads at once: a publish
 * waits for the broker's acknowledgement, so one after the other they
 * would cost a round trip each (the writers are thread-safe; the order of
 * profile.merged events does not matter: each only lets its staged object
 * go). */
#define ANNOUNCE_THREADS 8
#define ANNOUNCE_PARALLEL_MIN 16

typedef struct announce_job {
  wk_attempt *a;
  _Atomic size_t next;
  _Atomic int failed;
  pthread_mutex_t mu;
  int rc; /* the first failure, its message in err */
  char err[1024];
} announce_job;

static void *announce_main(void *arg) {
  announce_job *j = arg;
  char err[1024];
  for (;;) {
    if (atomic_load(&j->failed)) break;
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->a->nann) break;
    int rc = publish_one(j->a->w, j->a->app, &j->a->ann[i], err, sizeof err);
    if (rc != 0) {
      pthread_mutex_lock(&j->mu);
      if (!j->rc) {
        j->rc = rc;
        snprintf(j->err, sizeof j->err, "%s", err);
      }
      pthread_mutex_unlock(&j->mu);
      atomic_store(&j->failed, 1);
      break;
    }
  }
  return NULL;
}

int wk_announce_all(wk_attempt *a) {
  if (a->nann < ANNOUNCE_PARALLEL_MIN) {
    for (size_t i = 0; i < a->nann; i++) {
      int rc = publish_one(a->w, a->app, &a->ann[i], a->err, a->errlen);
      if (rc != 0) {
        wk_dep_fail(a->w, WK_DEP_WRITER, a->err);
        return rc;
      }
    }
  } else {
    announce_job j = {.a = a};
    pthread_mutex_init(&j.mu, NULL);
    pthread_t th[ANNOUNCE_THREADS];
    size_t started = 0;
    for (size_t t = 1; t < ANNOUNCE_THREADS; t++)
      if (pthread_create(&th[started], NULL, announce_main, &j) == 0) started++;
    announce_main(&j); /* this thread works too */
    for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.rc) {
      errbuf_set(a->err, a->errlen, "%s", j.err);
      wk_dep_fail(a->w, WK_DEP_WRITER, a->err);
      return j.rc;
    }
  }
  if (a->nann) wk_dep_ok(a->w, WK_DEP_WRITER);
  return 0;
}

int wk_list_prefix(wk_attempt *a, const char *prefix, wk_list_pick pick, void *ctx,
                   wk_strlist *out) {
  blob_iter *it = NULL;
  int rc = blob_list(a->w->cfg.blob, prefix, &it, a->err, a->errlen);
  if (rc != 0) return wk_store_failed(a, rc);
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, a->err, a->errlen)) == 1) {
    const char *s = pick(ctx, key, &info);
    if (s && wk_sl_add(out, s) != 0) {
      rc = BLOB_ENOMEM;
      errbuf_set(a->err, a->errlen, "listing %s: out of memory", prefix);
      break;
    }
  }
  blob_iter_free(it);
  return rc < 0 ? wk_store_failed(a, rc) : 0;
}

/* The staged name of key (ctx: the attempt), or NULL. */
static const char *pick_staged(void *ctx, const char *key, const blob_info *info) {
  const wk_attempt *a = ctx;
  (void)info;
  return layout_staged_name(key, a->app);
}

int wk_staged_present(wk_attempt *a) {
  if (a->listed) return 0;
  char prefix[LAYOUT_KEY_BUF];
  layout_staging_prefix(a->app, prefix, sizeof prefix);
  int rc = wk_list_prefix(a, prefix, pick_staged, a, &a->present);
  if (rc != 0) {
    wk_sl_free(&a->present);
    return rc;
  }
  wk_sl_sort(&a->present);
  a->listed = 1;
  return 0;
}

int wk_next_names(wk_attempt *a, const wk_strlist *old, const wk_strlist *fresh,
                  wk_strlist *out) {
  int rc = wk_staged_present(a);
  if (rc != 0) return rc;
  int oom = 0;
  for (size_t i = 0; !oom && i < old->n; i++)
    if (wk_sl_has_sorted(&a->present, old->v[i])) oom = wk_sl_add(out, old->v[i]) != 0;
  for (size_t i = 0; !oom && i < fresh->n; i++)
    if (!wk_sl_has_linear(out, fresh->v[i])) oom = wk_sl_add(out, fresh->v[i]) != 0;
  if (oom) return wk_out_of_memory(a);
  wk_sl_sort(out);
  return 0;
}

/* ---- A base ---- */

void wk_base_init(wk_base *b, const wk_attempt *a, layout_kind kind) {
  memset(b, 0, sizeof *b);
  b->kind = kind;
  b->hour = -1;
  b->window_start = WK_NO_WINDOW;
  layout_kind_base_key(a->app, kind, b->key, sizeof b->key);
}

void wk_bucket_init(wk_base *b, const wk_attempt *a, layout_kind kind, int64_t hour) {
  memset(b, 0, sizeof *b);
  b->kind = kind;
  b->hour = hour;
  b->window_start = WK_NO_WINDOW;
  layout_hour_key(a->app, kind, hour, b->key, sizeof b->key);
}

/* Where an object of b's sort is kept in memory between batches. */
static wk_base_cache *slot(worker *w, const wk_base *b) {
  return b->hour < 0 ? &w->cache[b->kind] : &w->hour_cache[b->kind];
}

static void slot_drop(wk_base_cache *c) {
  pp_free(c->p);
  c->p = NULL;
  c->app[0] = 0;
  c->key[0] = 0;
}

void wk_base_free(wk_base *b) {
  pp_free(b->p);
  wk_sl_free(&b->record);
  wk_sl_free(&b->fresh);
  pp_free(b->result);
  free(b->enc);
  memset(b, 0, sizeof *b);
  b->hour = -1;
  b->window_start = WK_NO_WINDOW;
}

/* Takes the kept base when the stored one is still the one this worker
 * read or wrote last. Returns 1 (taken), 0 (read it from the store) or a
 * negative code (the HEAD failed; the kept base stays for the next attempt). */
static int base_from_cache(wk_attempt *a, wk_base *b) {
  worker *w = a->w;
  wk_base_cache *c = slot(w, b);
  if (!c->p || strcmp(c->key, b->key) != 0) return 0;
  blob_info now;
  int rc = blob_stat(w->cfg.blob, b->key, &now, a->err, a->errlen);
  if (rc == 0 && now.etag[0] && strcmp(now.etag, c->etag) == 0 && now.size == c->size) {
    b->p = c->p;
    c->p = NULL;
    b->info = now;
    b->existed = 1;
    if (b->hour < 0) wk_count(w, WK_CACHE_HITS, 1);
  } else if (rc != 0 && rc != BLOB_ENOTFOUND) {
    return wk_store_failed(a, rc);
  }
  slot_drop(c);
  return b->p != NULL;
}

/* Reads and decodes the stored base; one too large or undecodable is moved
 * aside (there is then no base). */
static int base_from_store(wk_attempt *a, wk_base *b) {
  worker *w = a->w;
  uint8_t *bytes = NULL;
  size_t blen = 0;
  char why[600];
  int rc = blob_get(w->cfg.blob, b->key, w->cfg.max_base_bytes, &bytes, &blen, &b->info, a->err,
                    a->errlen);
  if (rc == BLOB_ENOTFOUND) return 0;
  if (rc == BLOB_ETOOBIG) {
    errbuf_set(why, sizeof why, "base larger than the limit of %zu bytes", w->cfg.max_base_bytes);
    uint8_t *all = NULL;
    size_t alen = 0;
    rc = blob_get(w->cfg.blob, b->key, 0, &all, &alen, NULL, a->err, a->errlen);
    if (rc == 0) rc = reject_base(a, b, all, alen, why);
    free(all);
    return rc != 0 ? wk_store_failed(a, rc) : 0;
  }
  if (rc != 0) return wk_store_failed(a, rc);
  b->existed = 1;
  pp_limits lim = {.max_input_bytes = w->cfg.max_base_bytes};
  int drc = pp_decode_mt(bytes, blen, &lim, wk_threads(), &b->p, why, sizeof why);
  if (drc == PP_ENOMEM) {
    errbuf_set(a->err, a->errlen, "decoding %s: out of memory", b->key);
    rc = wk_store_failed(a, BLOB_ENOMEM);
  } else if (drc != PP_OK) {
    b->p = NULL;
    b->existed = 0; /* moved aside by us: no base now */
    rc = reject_base(a, b, bytes, blen, why);
    if (rc != 0) rc = wk_store_failed(a, rc);
  }
  free(bytes);
  return rc;
}

int wk_base_load(wk_attempt *a, wk_base *b) {
  int rc = base_from_cache(a, b);
  if (rc == 0) rc = base_from_store(a, b);
  if (rc < 0) return rc;
  if (b->p && wk_record_read(b->p, &b->record) != 0) {
    errbuf_set(a->err, a->errlen, "reading the record of %s: out of memory", b->key);
    return WORKER_ENOMEM;
  }
  if (b->p && b->hour < 0) b->window_start = wk_window_read(b->p);
  return 0;
}

/* Keeps p (taken) as the stored object b for the next batch. */
static void keep(worker *w, const char *app, const wk_base *b, pp_profile *p,
                 const blob_info *info) {
  wk_base_cache *c = slot(w, b);
  slot_drop(c);
  c->p = p;
  snprintf(c->app, sizeof c->app, "%s", app);
  snprintf(c->key, sizeof c->key, "%s", b->key);
  snprintf(c->etag, sizeof c->etag, "%s", info->etag);
  c->size = info->size;
}

void wk_base_keep_read(wk_attempt *a, wk_base *b) {
  if (!b->p || !b->existed || !b->info.etag[0]) return;
  keep(a->w, a->app, b, b->p, &b->info);
  b->p = NULL;
}

int wk_base_encode(wk_attempt *a, wk_base *b) {
  wk_strlist next = {0};
  int rc = wk_next_names(a, &b->record, &b->fresh, &next);
  if (rc == 0) {
    pp_remove_comments_with_prefix(b->result, WORKER_COMMENT_PREFIX);
    if (wk_record_write(b->result, &next) != PP_OK) rc = wk_out_of_memory(a);
  }
  /* the window start goes with the data it describes; without a window
   * (any more) a base has none */
  if (rc == 0 && b->hour < 0 && a->w->cfg.window_ms > 0 && b->window_start != WK_NO_WINDOW &&
      window_write(b->result, b->window_start) != PP_OK)
    rc = wk_out_of_memory(a);
  wk_sl_free(&next);
  if (rc != 0) return rc;
  char why[600];
  int prc = pp_encode_mt(b->result, a->w->cfg.gzip_level, wk_threads(), &b->enc, &b->enclen, why,
                         sizeof why);
  if (prc != PP_OK) {
    errbuf_set(a->err, a->errlen, "encoding %s: %s", b->key, why);
    return wk_from_pp(prc);
  }
  return 0;
}

/* Keeps what was written for the next batch (when the store's ETag of it
 * can be known), and describes it in b->info (etag "" when unknown). */
static void keep_written(wk_attempt *a, wk_base *b) {
  worker *w = a->w;
  blob_info after;
  char serr[256];
  b->info.etag[0] = 0;
  b->info.size = b->enclen;
  if (blob_stat(w->cfg.blob, b->key, &after, serr, sizeof serr) != 0 || !after.etag[0] ||
      after.size != b->enclen)
    return;
  b->info = after;
  keep(w, a->app, b, b->result, &after);
  b->result = NULL;
}

int wk_base_write(wk_attempt *a, wk_base *b) {
  worker *w = a->w;
  blob_info now;
  int rc = blob_stat(w->cfg.blob, b->key, &now, a->err, a->errlen);
  if (rc != 0 && rc != BLOB_ENOTFOUND) return wk_store_failed(a, rc);
  int changed = b->existed ? (rc == BLOB_ENOTFOUND || strcmp(now.etag, b->info.etag) != 0 ||
                              now.size != b->info.size)
                           : (rc == 0);
  if (changed) {
    wk_count(w, WK_CONFLICTS, 1);
    WK_LOG(w, CORE_LOG_WARN, "base changed since it was read (another writer?): merging again",
           "app", a->app, "key", b->key, NULL);
    return 1;
  }
  rc = blob_put(w->cfg.blob, b->key, b->enc, b->enclen, a->err, a->errlen);
  if (rc != 0) return wk_store_failed(a, rc);
  wk_dep_ok(w, WK_DEP_BLOB);
  b->existed = 1;
  keep_written(a, b);
  if (b->hour < 0) wk_known_note(w, a->app, b);
  return 0;
}
