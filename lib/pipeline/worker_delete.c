/*
 * worker_delete.c — what the worker deletes: a staged object once every
 * object naming it is durable (profile.merged) — kept first as a history
 * object for the retention (worker.h, "History and windows") — and a whole
 * app as it was at its DELETE (profile.deleted; the rules and their
 * reasons are in worker.h, "Deleting an app").
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "worker_internal.h"

/* How many staged objects are moved to history at once. */
#define WK_MOVE_THREADS 4

/* ---- profile.merged: history, then the staged object ---- */

/* What moving one staged object did (filled on a fetch thread; logged and
 * counted by the caller). */
typedef struct moved {
  const char *key;
  int rc;           /* a BLOB_E* code (BLOB_ENOTFOUND: already gone) */
  int malformed;    /* the key names no staged object of the app */
  int kept;         /* copied to hkey */
  int undecodable;  /* kept as cpu at its receipt time (why) */
  char hkey[WK_KEY_BUF];
  char err[512], why[512];
  size_t bytes; /* read from the store */
} moved;

typedef struct move_job {
  worker *w;
  const char *app;
  moved *m;
  size_t n;
  _Atomic size_t next;
} move_job;

/* History first (the same bytes, an idempotent PUT), then the staged
 * object: a crash in between only repeats the PUT. */
static void move_one(worker *w, const char *app, moved *m) {
  const char *name = layout_staged_name(m->key, app);
  if (!name) {
    m->malformed = 1;
    return;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  m->rc = blob_get(w->cfg.blob, m->key, 0, &data, &len, NULL, m->err, sizeof m->err);
  if (m->rc != 0) return;
  m->bytes = len;
  m->undecodable = wk_history_key(w, app, name, data, len, m->hkey, sizeof m->hkey, &m->kept,
                                  m->why, sizeof m->why) != 0;
  if (m->kept && m->hkey[0])
    m->rc = blob_put(w->cfg.blob, m->hkey, data, len, m->err, sizeof m->err);
  else
    m->kept = 0;
  free(data);
  if (m->rc == 0) m->rc = blob_delete(w->cfg.blob, m->key, m->err, sizeof m->err);
  if (m->rc == BLOB_ENOTFOUND) m->rc = 0; /* deleted in between: done */
}

static void *move_main(void *arg) {
  move_job *j = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    move_one(j->w, j->app, &j->m[i]);
  }
  return NULL;
}

int wk_delete_staged(worker *w, const char *app, const char *const *keys, size_t n, char *err,
                     size_t errlen) {
  if (!n) return 0;
  moved *m = calloc(n, sizeof *m);
  if (!m) {
    errbuf_set(err, errlen, "cleaning up %s/staging/: out of memory", app);
    return WORKER_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) m[i].key = keys[i];
  /* a few at once: each is a GET, a decode, a PUT and a DELETE */
  move_job j = {w, app, m, n, 0};
  pthread_t th[WK_MOVE_THREADS];
  size_t started = 0;
  for (size_t t = 1; t < WK_MOVE_THREADS && t < n; t++)
    if (pthread_create(&th[started], NULL, move_main, &j) == 0) started++;
  move_main(&j);
  for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
  int rc = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    moved *x = &m[i];
    bytes += x->bytes;
    if (x->malformed) {
      wk_count(w, WK_MALFORMED, 1);
      WK_LOG(w, CORE_LOG_WARN, "profile.merged names no staged object of its app: skipped", "app",
             app, "key", x->key, NULL);
    } else if (x->rc == BLOB_ENOTFOUND) {
      WK_LOG(w, CORE_LOG_DEBUG, "staged upload already gone", "app", app, "key", x->key, NULL);
    } else if (x->rc != 0) {
      if (!rc) {
        errbuf_set(err, errlen, "%s", x->err);
        rc = wk_from_blob(x->rc);
      }
    } else {
      if (x->undecodable)
        WK_LOG(w, CORE_LOG_WARN,
               "staged upload does not decode: kept in history as cpu at its receipt time", "app",
               app, "key", x->key, "reason", x->why, NULL);
      wk_count(w, WK_STAGED_DELETED, 1);
      if (x->kept) wk_count(w, WK_HISTORY_KEPT, 1);
      WK_LOG(w, CORE_LOG_DEBUG,
             x->kept ? "staged upload moved to history"
                     : "staged upload deleted (older than the retention)",
             "app", app, "key", x->key, "history_key", x->kept ? x->hkey : "", NULL);
    }
  }
  free(m);
  /* each was decoded on one of the moving threads: large ones' memory goes
   * back to the system, not kept in those threads' arenas */
  if (bytes >= ((size_t)1 << 20)) malloc_trim(0);
  if (rc != 0) wk_dep_fail(w, WK_DEP_BLOB, err);
  return rc;
}

static int key_in(const char *key, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i], key) == 0) return 1;
  return 0;
}

/* The prefixes of what an app owns, to tell its objects apart. */
typedef struct app_keys {
  char all[LAYOUT_KEY_BUF], base[LAYOUT_KEY_BUF], staging[LAYOUT_KEY_BUF],
      rejected[LAYOUT_KEY_BUF];
  size_t staging_len, rejected_len;
} app_keys;

/* 1 when key (not the base) belongs to the app as it was at the DELETE. */
static int goes_with_app(const app_keys *k, const wk_delete_args *a, const char *key) {
  int64_t ns;
  if (strncmp(key, k->staging, k->staging_len) == 0) {
    /* an unstamped staged name cannot be placed in time: it stays (names
     * of digits only, autopgo's, are stamped: layout_name_stamp_ns) */
    return key_in(key, a->drop, a->ndrop) ||
           (!key_in(key, a->keep, a->nkeep) &&
            layout_name_stamp_ns(key + k->staging_len, &ns) == 0 && ns < a->cutoff_ns);
  }
  if (strncmp(key, k->rejected, k->rejected_len) == 0)
    return layout_name_stamp_ns(key + k->rejected_len, &ns) != 0 || ns < a->cutoff_ns;
  return 1;
}

/* Lists what goes with the app (every key but the base) into *out. Returns
 * 0 or a BLOB_E* code; *kept counts what stays. */
static int list_doomed(worker *w, const char *app, const app_keys *k, const wk_delete_args *a,
                       wk_strlist *out, size_t *kept, char *err, size_t errlen) {
  blob_iter *it = NULL;
  int rc = blob_list(w->cfg.blob, k->all, &it, err, errlen);
  if (rc != 0) return rc;
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (strcmp(key, k->base) == 0) continue;
    if (!goes_with_app(k, a, key)) {
      ++*kept;
      WK_LOG(w, CORE_LOG_INFO, "object newer than the app's deletion: kept", "app", app, "key",
             key, NULL);
      continue;
    }
    if (wk_sl_add(out, key) != 0) {
      rc = BLOB_ENOMEM;
      errbuf_set(err, errlen, "listing %s: out of memory", k->all);
      break;
    }
  }
  blob_iter_free(it);
  return rc < 0 ? rc : 0;
}

/* What interrupted writes left under the app (blob_sweep: temporary files
 * of a process killed during a put) goes with it; a failure only leaves
 * those behind, so it is logged, not retried. */
static void sweep_app(worker *w, const char *app, const char *prefix) {
  char serr[512], n[24];
  size_t removed = 0;
  if (blob_sweep(w->cfg.blob, prefix, &removed, serr, sizeof serr) != 0) {
    WK_LOG(w, CORE_LOG_WARN, "sweeping the app's interrupted writes failed", "app", app, "error",
           serr, NULL);
  } else if (removed) {
    snprintf(n, sizeof n, "%zu", removed);
    WK_LOG(w, CORE_LOG_INFO, "interrupted writes of the app removed", "app", app, "files", n, NULL);
  }
}

/*
 * Every object under {app}/ that belongs to the app as it was when the
 * DELETE was made (the other kinds' bases and the instance states
 * included), the cpu base last (so a crash half-way leaves the base and
 * the redelivered event finishes the job). Staged and rejected objects
 * stamped at or after the cut-off stay: they are uploads accepted after the
 * DELETE, whose profile.uploaded events follow in the partition.
 */
int wk_delete_app(worker *w, const char *app, const wk_delete_args *a, char *err,
                  size_t errlen) {
  wk_forget_app(w, app);
  app_keys k;
  layout_app_prefix(app, k.all, sizeof k.all);
  layout_base_key(app, k.base, sizeof k.base);
  layout_staging_prefix(app, k.staging, sizeof k.staging);
  layout_rejected_prefix(app, k.rejected, sizeof k.rejected);
  k.staging_len = strlen(k.staging);
  k.rejected_len = strlen(k.rejected);
  wk_strlist keys = {0};
  size_t kept = 0;
  int rc = list_doomed(w, app, &k, a, &keys, &kept, err, errlen);
  for (size_t i = 0; rc == 0 && i < keys.n; i++) {
    rc = blob_delete(w->cfg.blob, keys.v[i], err, errlen);
    if (rc == BLOB_ENOTFOUND) rc = 0;
  }
  if (rc == 0) rc = blob_delete(w->cfg.blob, k.base, err, errlen);
  if (rc == BLOB_ENOTFOUND) rc = 0;
  if (rc == 0) sweep_app(w, app, k.all);
  if (rc != 0) {
    wk_dep_fail(w, WK_DEP_BLOB, err);
  } else {
    wk_dep_ok(w, WK_DEP_BLOB);
    wk_count(w, WK_APPS_DELETED, 1);
    char n[32], kn[32];
    snprintf(n, sizeof n, "%zu", keys.n + 1);
    snprintf(kn, sizeof kn, "%zu", kept);
    WK_LOG(w, CORE_LOG_INFO, "app deleted", "app", app, "objects", n, "kept_newer", kn, NULL);
  }
  wk_sl_free(&keys);
  return wk_from_blob(rc);
}
