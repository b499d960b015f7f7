/*
 * worker_internal.h — what the files of the merge worker share; not for
 * use outside lib/pipeline/worker*.c.
 *
 * The worker is cut along its concerns, one file each:
 *   worker.c            the worker object, string lists, retrying with backoff
 *   worker_stats.c      counters, health, readiness; metrics via lib/svc
 *   worker_merge.c      the merge step: base, uploads, merge, record, write, announce
 *   worker_fetch.c      fetching and decoding a batch's uploads on a few threads
 *   worker_delete.c     deletions: a staged object after its merge, a whole app
 *   worker_loop.c       batches (per app, in order) and the poll loop (worker_run)
 *   worker_reconcile.c  merging staged uploads left without events
 *   worker_embed.c      the worker on a thread inside another daemon
 * Cross-file symbols carry the prefix wk_.
 */
#ifndef PGOPIPE_WORKER_INTERNAL_H
#define PGOPIPE_WORKER_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "corelog.h"
#include "layout.h"
#include "pprof.h"
#include "worker.h"

/* A buffer for any key the worker builds from a name an event or a listing
 * gave it (keys are at most 1024 bytes; rejected/ is one byte longer than
 * staging/). */
#define WK_KEY_BUF 1200

/* ---- Logging ---- */

/* Logs msg with key/value string pairs ended by NULL, after the
 * "component": "worker" pair every worker record carries. */
#define WK_LOG(w, level, msg, ...) \
  core_log(&(w)->cfg.log, (level), (msg), "component", "worker", __VA_ARGS__)

/* ---- Growable string lists (owned copies) ---- */

typedef struct wk_strlist {
  char **v;
  size_t n, cap;
} wk_strlist;

/* Appends a copy of s (or of its first n bytes). Returns 0 or -1 (no memory). */
int wk_sl_add(wk_strlist *l, const char *s);
int wk_sl_addn(wk_strlist *l, const char *s, size_t n);
void wk_sl_free(wk_strlist *l);
/* Sorts the list (strcmp order), so wk_sl_has_sorted can search it. */
void wk_sl_sort(wk_strlist *l);
/* 1 when s is in the list: binary search on a sorted list, or a linear scan. */
int wk_sl_has_sorted(const wk_strlist *l, const char *s);
int wk_sl_has_linear(const wk_strlist *l, const char *s);

/* ---- Stats (worker_stats.c) ---- */

/* Counters: the fields of worker_counts, in the order their metric
 * families are registered. */
typedef enum wk_counter {
  WK_EVENTS,
  WK_SKIPPED_TYPES,
  WK_MALFORMED,
  WK_MERGES,
  WK_UPLOADS_MERGED,
  WK_DUPLICATES,
  WK_MISSING,
  WK_REJECTED,
  WK_BASES_REJECTED,
  WK_RETRIES,
  WK_STAGED_DELETED,
  WK_APPS_DELETED,
  WK_COMMITS,
  WK_COMMIT_FAILURES,
  WK_CONFLICTS,
  WK_CACHE_HITS,
  WK_PRUNE_SKIPPED,
  WK_NCOUNTERS
} wk_counter;

/* The worker's dependencies, as health reports them: autopgo's names
 * (blob, event-writer, event-reader), and the worker itself (failing while
 * an operation is being retried: it is not making progress). */
enum { WK_DEP_BLOB = 0, WK_DEP_WRITER = 1, WK_DEP_READER = 2, WK_DEP_PROGRESS = 3, WK_NDEPS = 4 };

void wk_stat_add(worker_stats *st, wk_counter c, uint64_t v);
/* One event read, by type label (profile.uploaded, ..., or "other"). */
void wk_stat_event(worker_stats *st, const char *type_label);
/* One base written: its merge time, uploads merged in it and size. */
void wk_stat_base_written(worker_stats *st, double seconds, size_t uploads, size_t bytes);
void wk_stat_set_ready(worker_stats *st, int ready);
/* A dependency failed (msg: its error) or worked; updates health. */
void wk_stat_dep_fail(worker_stats *st, int dep, const char *msg);
void wk_stat_dep_ok(worker_stats *st, int dep);

/* ---- The worker ---- */

/* The last base this worker wrote, decoded, with the ETag the store gave
 * it. Both backends' ETags are content digests, so an equal ETag means the
 * stored base is byte for byte what this profile encodes to: the next batch
 * of the same app then needs a HEAD instead of GET + decode. */
typedef struct wk_base_cache {
  pp_profile *p; /* NULL: nothing kept */
  char app[LAYOUT_APP_MAX + 1];
  char etag[80];
  uint64_t size;
} wk_base_cache;

struct worker {
  worker_config cfg;      /* defaults filled in */
  const rules_set *rules; /* current */
  rules_set *owned_rules; /* set by reloads; freed by us */
  worker_stats *st;
  worker_stats *own_st; /* when the caller gave none */
  uint64_t rng;         /* backoff jitter */
  wk_base_cache cache;
};

/* Forgets the kept base. */
void wk_cache_drop(worker *w);

/* Counts v in counter c of the worker's stats. */
static inline void wk_count(worker *w, wk_counter c, uint64_t v) { wk_stat_add(w->st, c, v); }

/* Store and bus failures: health turns unhealthy (with msg) or healthy. */
static inline void wk_dep_fail(worker *w, int dep, const char *msg) {
  wk_stat_dep_fail(w->st, dep, msg);
}
static inline void wk_dep_ok(worker *w, int dep) { wk_stat_dep_ok(w->st, dep); }

/* Maps a failure of the store, the bus or the engine to a WORKER_E* code. */
int wk_from_blob(int blob_rc);
int wk_from_bus(int bus_rc);
int wk_from_pp(int pp_rc);

/*
 * Runs op(w, arg, err, errlen) until it returns 0, retrying every failure
 * with backoff (logged with app, counted). Returns 0, or WORKER_ESTOPPED
 * when *stop (may be NULL) was set while it kept failing.
 */
typedef int (*wk_op)(worker *w, void *arg, char *err, size_t errlen);
int wk_retry(worker *w, const char *app, wk_op op, void *arg, volatile sig_atomic_t *stop);

/*
 * After failure number k + 1 (k from 0): counts a retry, sleeps the backoff
 * for attempt k. Returns 1 (without sleeping further) when *stop is set
 * before or during the sleep, else 0.
 */
int wk_backoff(worker *w, int k, volatile sig_atomic_t *stop);

/* ---- Steps (one file each) ---- */

/* Staged keys of one app, the argument of wk_op_merge. */
typedef struct wk_keys {
  const char *app;
  const char *const *keys;
  size_t n;
} wk_keys;

/* worker_merge_app as a wk_op (arg: a wk_keys) (worker_merge.c). */
int wk_op_merge(worker *w, void *arg, char *err, size_t errlen);

/* profile.merged: deletes the staged object named by key (worker_delete.c). */
int wk_delete_staged(worker *w, const char *app, const char *key, char *err, size_t errlen);

/* What one profile.deleted removes (see worker.h, "Deleting an app"). */
typedef struct wk_delete_args {
  int64_t cutoff_ns;       /* staged/rejected objects stamped before it go */
  const char *const *drop; /* staged keys whose uploads precede the delete in the batch: go */
  size_t ndrop;
  const char *const *keep; /* staged keys whose uploads follow it in the batch: stay */
  size_t nkeep;
} wk_delete_args;

/* profile.deleted: deletes the app as it was at the DELETE (worker_delete.c). */
int wk_delete_app(worker *w, const char *app, const wk_delete_args *a, char *err, size_t errlen);

/* One staged upload of a merge, fetched and decoded (worker_fetch.c). */
typedef struct wk_fetched {
  const char *name;          /* the staged name (not owned) */
  char key[WK_KEY_BUF];      /* {app}/staging/NAME */
  int skip;                  /* already in the base record: not fetched */
  int rc;                    /* blob_get's result (a BLOB_E* code) */
  uint8_t *data;
  size_t len;
  int drc;                   /* pp_decode's result (when rc == 0) */
  pp_profile *p;
  char err[512];             /* blob or decode message */
} wk_fetched;

/*
 * Fetches and decodes every name of `names` not in `record` (sorted), on a
 * few threads. *out (names->n items in input order) is the caller's: free
 * with wk_fetched_free. Returns 0 or -1 (no memory).
 */
int wk_fetch(worker *w, const char *app, const wk_strlist *names, const wk_strlist *record,
             wk_fetched **out);
void wk_fetched_free(wk_fetched *items, size_t n);

#endif
