/*
 * worker_internal.h — what the files of the merge worker share; not for
 * use outside lib/pipeline/worker*.c.
 *
 * The worker is cut along its concerns, one file each:
 *   worker.c            the worker object, string lists, retrying with backoff
 *   worker_stats.c      counters, health, readiness; metrics via lib/svc
 *   worker_merge.c      the merge step: base, uploads, merge, record, write, announce;
 *                       uploads of other kinds handed to worker_kinds.c
 *   worker_base.c       a base object (a base or an hour bucket): read (kept or
 *                       stored), record, window start, guarded write
 *   worker_hours.c      the hour buckets an attempt folds uploads into; the
 *                       fold (contributions ⊕ old object ⊕ G, pruned) bases share
 *   worker_window.c     windows (advancing a base's start, rebuilding it from its
 *                       buckets), retention, the history tick
 *   worker_kinds.c      the kinds other than cpu: counter deltas per instance,
 *                       gauges, the base and the instance states
 *   worker_gauge.c      the gauge part G of each (app, kind), kept in memory;
 *                       its rebuild from instance states, expiry and the tick
 *   worker_fetch.c      fetching and decoding objects on a few threads
 *   worker_delete.c     deletions: a staged object after its merge (kept in
 *                       history/ first), a whole app
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
#include "ingest.h"
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
  WK_BUCKET_WRITES,
  WK_HISTORY_KEPT,
  WK_WINDOW_ADVANCES,
  WK_WINDOW_REBUILDS,
  WK_RETENTION_DELETED,
  WK_NCOUNTERS
} wk_counter;

/* Counters by profile kind (the per-kind fields of worker_counts). */
typedef enum wk_kind_counter {
  WK_K_UPLOADS,
  WK_K_BASE_WRITES,
  WK_K_STATE_WRITES,
  WK_K_FIRST,
  WK_K_RESTARTS,
  WK_K_STALE,
  WK_K_EXPIRED,
  WK_NKCOUNTERS
} wk_kind_counter;

/* The worker's dependencies, as health reports them: autopgo's names
 * (blob, event-writer, event-reader), and the worker itself (failing while
 * an operation is being retried: it is not making progress). */
enum { WK_DEP_BLOB = 0, WK_DEP_WRITER = 1, WK_DEP_READER = 2, WK_DEP_PROGRESS = 3, WK_NDEPS = 4 };

void wk_stat_add(worker_stats *st, wk_counter c, uint64_t v);
/* Counts v in counter c of kind k. */
void wk_stat_kind(worker_stats *st, wk_kind_counter c, layout_kind k, uint64_t v);
/* Adds d (may be negative) to the instances in G of kind k. */
void wk_stat_gauge_instances(worker_stats *st, layout_kind k, int64_t d);
/* One event read, by type label (profile.uploaded, ..., or "other"). */
void wk_stat_event(worker_stats *st, const char *type_label);
/* One base written: its merge time, uploads merged in it and size. */
void wk_stat_base_written(worker_stats *st, double seconds, size_t uploads, size_t bytes);
void wk_stat_set_ready(worker_stats *st, int ready);
/* A dependency failed (msg: its error) or worked; updates health. */
void wk_stat_dep_fail(worker_stats *st, int dep, const char *msg);
void wk_stat_dep_ok(worker_stats *st, int dep);

/* ---- The worker ---- */

/* The last base of a kind this worker wrote (or read without writing),
 * decoded, with the ETag the store gave it. Both backends' ETags are content
 * digests, so an equal ETag means the stored base is byte for byte what this
 * profile encodes to: the next batch of the same app then needs a HEAD
 * instead of GET + decode. One per kind, so an app sending several kinds
 * keeps all its bases; and one hour bucket per kind the same way (the
 * current hour's, written by every batch). */
typedef struct wk_base_cache {
  pp_profile *p; /* NULL: nothing kept */
  char app[LAYOUT_APP_MAX + 1];
  char key[LAYOUT_KEY_BUF]; /* the object's key */
  char etag[80];
  uint64_t size;
} wk_base_cache;

/* A base's window start when it has none (all time, or written before
 * windows were on). */
#define WK_NO_WINDOW INT64_MIN

/* What the history tick knows of one (app, kind)'s base (worker_window.c). */
typedef struct wk_known {
  char app[LAYOUT_APP_MAX + 1];
  layout_kind kind;
  char etag[80];        /* the base as this worker last read or wrote it; "" with adopt */
  uint64_t size;
  int64_t start;        /* its window start then (WK_NO_WINDOW: none) */
  int adopt;            /* take the stored base as it is (all-in-one start) */
} wk_known;

/* An app the retention sweeps (worker_window.c). */
typedef struct wk_known_app {
  char app[LAYOUT_APP_MAX + 1];
  int64_t swept_hour; /* the cut-off hour of its last sweep; INT64_MIN: none yet */
} wk_known_app;

/* The gauge part of one (app, kind) (worker_gauge.c). */
typedef struct wk_gauge wk_gauge;

struct worker {
  worker_config cfg;      /* defaults filled in */
  const rules_set *rules; /* current */
  rules_set *owned_rules; /* set by reloads; freed by us */
  worker_stats *st;
  worker_stats *own_st; /* when the caller gave none */
  uint64_t rng;         /* backoff jitter */
  wk_base_cache cache[LAYOUT_KIND_COUNT];
  wk_base_cache hour_cache[LAYOUT_KIND_COUNT];
  wk_gauge **gauges;    /* the (app, kind)s whose G is kept in memory */
  size_t ngauges, cgauges;
  int64_t last_tick_ms; /* monotonic ms of the last worker_gauge_tick */
  wk_known *known;      /* the bases the history tick looks after */
  size_t nknown, cknown;
  wk_known_app *apps;   /* the apps the retention sweeps */
  size_t napps, capps;
  int64_t last_htick_ms; /* monotonic ms of the last worker_history_tick */
  int htick_more;        /* the last tick stopped at its time budget: more to do */
  uint64_t fetched_bytes, fetched_n; /* staged bytes read in this batch, and how many
                                        objects (atomic: the loader threads add) */
  uint64_t bytes_per_upload;         /* the last batch's average, 0 before the first */
};

/* Forgets every kept base. */
void wk_cache_drop(worker *w);
/* Forgets the kept base of kind k. */
void wk_cache_drop_kind(worker *w, layout_kind k);
/* Forgets what is kept in memory for app: its bases and its gauge parts. */
void wk_forget_app(worker *w, const char *app);

/* The worker's wall clock (cfg.clock_ns or chrono_now_ns), ns. */
int64_t wk_now_ns(const worker *w);
/* The first hour of the window now (hour(now − window)); WK_NO_WINDOW
 * without a window. */
int64_t wk_window_target(const worker *w);
/* The first hour the retention keeps now (hour(now − retention)). */
int64_t wk_retention_cutoff(const worker *w);

/* Counts v in counter c of the worker's stats. */
static inline void wk_count(worker *w, wk_counter c, uint64_t v) { wk_stat_add(w->st, c, v); }

/* Store and bus failures: health turns unhealthy (with msg) or healthy. */
static inline void wk_dep_fail(worker *w, int dep, const char *msg) {
  wk_stat_dep_fail(w->st, dep, msg);
}
static inline void wk_dep_ok(worker *w, int dep) { wk_stat_dep_ok(w->st, dep); }

/* Applies the app's prune rules to p (none: nothing). A rule PCRE2 cannot
 * evaluate on a function name is skipped for that name, counted and logged,
 * never a failure. Returns PP_OK or PP_ENOMEM (why filled). */
int wk_prune(worker *w, const char *app, pp_profile *p, char *why, size_t whylen);

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

/* profile.merged of the n keys: each staged object is copied to its
 * history key (unless past the retention), then deleted; a few at once
 * (worker_delete.c). Already gone is fine. Returns 0 or a WORKER_E* code
 * (every key may be tried again: each step is idempotent). */
int wk_delete_staged(worker *w, const char *app, const char *const *keys, size_t n, char *err,
                     size_t errlen);

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

/* An object of a merge (a staged upload or an instance state), fetched
 * and decoded (worker_fetch.c). */
typedef struct wk_fetched {
  const char *name;          /* the staged name (not owned); NULL for a state */
  char key[WK_KEY_BUF];      /* {app}/staging/NAME, or the state's key */
  int skip;                  /* already in the base record: not fetched */
  int rc;                    /* blob_get's result (a BLOB_E* code) */
  uint8_t *data;
  size_t len;
  int drc;                   /* pp_decode's result (when rc == 0) */
  pp_profile *p;
  char err[512];             /* blob, decode or metadata message */
  /* staged uploads (with_meta): the upload's metadata, read after decoding */
  int with_meta;
  int mrc;                   /* ingest_meta_from_profile's result (when drc == 0) */
  ingest_meta meta;          /* kind cpu, mode delta when the upload has none */
  layout_kind kind;          /* meta.kind as a layout kind */
  int64_t hour;              /* the upload's hour (worker_upload_time), once decoded */
} wk_fetched;

/*
 * Fetches and decodes every name of `names` not in `record` (sorted), on a
 * few threads, reading each upload's metadata. *out (names->n items in
 * input order) is the caller's: free with wk_fetched_free. Returns 0 or -1
 * (no memory).
 */
int wk_fetch(worker *w, const char *app, const wk_strlist *names, const wk_strlist *record,
             wk_fetched **out);
/* Fetches and decodes the n prepared items (key set; skip honoured) on a
 * few threads, reading at most limit bytes of each. */
void wk_fetch_items(worker *w, wk_fetched *items, size_t n, size_t limit);

/* Threads a merge or an encoding may use: the processors online, 1..4. */
int wk_threads(void);

/* Contributions a fold merges first on wk_threads() threads, from this many
 * on (fewer are folded one by one). */
#define WK_TREE_MIN 8
void wk_fetched_free(wk_fetched *items, size_t n);

/* ---- One merge attempt: what its steps share (worker_merge.c, worker_base.c,
 * worker_kinds.c) ---- */

/* An upload to announce with profile.merged once everything is durable. */
typedef struct wk_announce {
  char *key;         /* {app}/staging/NAME (owned) */
  layout_kind kind;  /* whose base it is in */
} wk_announce;

typedef struct wk_attempt {
  worker *w;
  const char *app;
  char *err;
  size_t errlen;
  wk_strlist present; /* names under {app}/staging/, sorted (listed once, when needed) */
  int listed;
  wk_announce *ann;   /* profile.merged to publish, in order */
  size_t nann, cann;
} wk_attempt;

void wk_attempt_free(wk_attempt *a);
/* Queues profile.merged for key (copied). Returns 0 or WORKER_ENOMEM. */
int wk_announce_add(wk_attempt *a, const char *key, layout_kind kind);
/* Publishes every queued profile.merged (many: on a few threads at once, in
 * no particular order). Returns 0 or a WORKER_E* code. */
int wk_announce_all(wk_attempt *a);
/* A failure of the store (a->err says which): health turns unhealthy;
 * returns the WORKER_E* code for blob_rc. */
int wk_store_failed(wk_attempt *a, int blob_rc);
/* "out of memory" in a->err; returns WORKER_ENOMEM. */
int wk_out_of_memory(wk_attempt *a);
/* What of an object listed to add to the list (pointing into key, or key
 * itself; copied), or NULL to pass it over. */
typedef const char *(*wk_list_pick)(void *ctx, const char *key, const blob_info *info);
/* Lists the store under prefix into out: for each object, what pick says
 * (worker_base.c). Returns 0 or a WORKER_E* code (a store failure, or out of
 * memory, via wk_store_failed); out may then hold part of the listing. */
int wk_list_prefix(wk_attempt *a, const char *prefix, wk_list_pick pick, void *ctx,
                   wk_strlist *out);

/* ---- A base object (worker_base.c) ---- */

typedef struct wk_base {
  layout_kind kind;
  int64_t hour;        /* -1: the base of the kind; else the hour of a bucket */
  char key[LAYOUT_KEY_BUF];
  pp_profile *p;       /* the base read; NULL: none (taken by the merge) */
  int existed;         /* a base was stored when read; info describes it */
  blob_info info;      /* as read; after a write, as written (etag "" when unknown) */
  wk_strlist record;   /* the names of its record, sorted */
  wk_strlist fresh;    /* the names folded into it now */
  pp_profile *result;  /* the new base */
  uint8_t *enc;
  size_t enclen;
  int64_t window_start; /* a base's first hour (as read; written with the next
                           record); WK_NO_WINDOW: none */
} wk_base;

/* Comment prefix of a base's window start ("YYYYMMDDHH" follows). */
#define WK_WINDOW_PREFIX "pgopipe-window-start: "

/* Sets up b for the base of (a->app, kind). */
void wk_base_init(wk_base *b, const wk_attempt *a, layout_kind kind);
/* Sets up b for the hour bucket of (a->app, kind, hour). */
void wk_bucket_init(wk_base *b, const wk_attempt *a, layout_kind kind, int64_t hour);
void wk_base_free(wk_base *b);
/*
 * Reads the base and its record: the one kept in memory when the stored
 * base is still the one this worker read or wrote last (a HEAD), else
 * GET + decode; one too large or undecodable is moved to rejected/ (there
 * is then no base). Returns 0 or a WORKER_E* code.
 */
int wk_base_load(wk_attempt *a, wk_base *b);
/* Keeps the base read (b->p, unchanged) for the next batch, when nothing
 * was written: it is what the store holds. */
void wk_base_keep_read(wk_attempt *a, wk_base *b);
/*
 * The next record into b->result (the old names whose staged objects still
 * exist, plus b->fresh: worker.h, rule 4) and, for a base with one, its
 * window start; then encodes it. Returns 0 or a WORKER_E* code.
 */
int wk_base_encode(wk_attempt *a, wk_base *b);
/*
 * Writes b->enc unless the stored base changed since wk_base_load (then
 * returns 1: merge again); keeps what was written for the next batch.
 * Returns 0, 1 or a WORKER_E* code.
 */
int wk_base_write(wk_attempt *a, wk_base *b);

/* The staged names present now (listed once per attempt). Returns 0 or a
 * WORKER_E* code. */
int wk_staged_present(wk_attempt *a);
/* out = (old ∩ present) ∪ fresh, sorted. Returns 0 or WORKER_ENOMEM. */
int wk_next_names(wk_attempt *a, const wk_strlist *old, const wk_strlist *fresh, wk_strlist *out);
/* The window start of p (its WK_WINDOW_PREFIX comment), WK_NO_WINDOW when
 * none (or it does not parse). */
int64_t wk_window_read(const pp_profile *p);
/* The names of every record comment of p, sorted (0 or -1: no memory). */
int wk_record_read(const pp_profile *p, wk_strlist *names);
/* Adds the record comment listing names. Returns 0 or a PP_E* code. */
int wk_record_write(pp_profile *p, const wk_strlist *names);
/* 1 when p merges with ref (same period and sample types), else 0 with the
 * reason in why. */
int wk_compatible(const pp_profile *ref, const pp_profile *p, char *why, size_t n);
/* Moves a staged object to {app}/rejected/NAME (data NULL: read it here).
 * Returns 0 or a BLOB_E* code. */
int wk_reject_staged(worker *w, const char *app, const wk_fetched *f, const uint8_t *data,
                     size_t len, const char *reason, char *err, size_t errlen);

/* ---- The kinds other than cpu (worker_kinds.c) ---- */

/* The uploads of one kind in one attempt, and what is made of them. Opaque. */
typedef struct wk_group wk_group;

/* A group for kind; NULL when out of memory. */
wk_group *wk_group_new(layout_kind kind);
void wk_group_free(wk_group *g);
/* Adds a judged upload (its profile is taken from f). Returns 0 or -1. */
int wk_group_add(wk_group *g, wk_fetched *f);
/*
 * Everything before the writes: the base (a missing windowed one from its
 * buckets), poison moved aside, the instance states read, each upload's
 * contribution in order (into the base when its hour is in the base's
 * window, and into its hour's bucket), G. Returns 0 or a WORKER_E* code.
 */
int wk_group_prepare(wk_attempt *a, wk_group *g);
/* Writes the hour buckets the group's uploads went into (before every
 * base). Returns 0, 1 (a bucket changed under the worker: merge again) or
 * a WORKER_E* code. */
int wk_group_write_buckets(wk_attempt *a, wk_group *g);
/* The new base (merged, pruned, recorded) written when something changed
 * (after every bucket). Returns 0, 1 (the base changed under the worker:
 * merge again) or a WORKER_E* code. */
int wk_group_write_base(wk_attempt *a, wk_group *g);
/* Writes the instance states the group changed (after every base of the
 * attempt). Returns 0 or a WORKER_E* code. */
int wk_group_write_states(wk_attempt *a, wk_group *g);

/* ---- Hour buckets (worker_hours.c) ---- */

struct wk_columns;

/* The hour buckets of one (app, kind) an attempt folds uploads into. Opaque. */
typedef struct wk_hours wk_hours;

/* NULL when out of memory. */
wk_hours *wk_hours_new(layout_kind kind);
void wk_hours_free(wk_hours *h);
/*
 * The bucket of hour, read on first use (the copy kept in memory when the
 * store still holds it, else GET + decode; one that does not decode, or
 * does not merge with ref (may be NULL), is moved to rejected/ and the hour
 * starts again). Returns 0 (*out set, owned by h) or a WORKER_E* code.
 */
int wk_hours_get(wk_attempt *a, wk_hours *h, int64_t hour, const pp_profile *ref, wk_base **out);
/* Folds an upload into bucket b (from wk_hours_get): its name into the
 * record, its contribution c (taken; NULL: none, e.g. a gauge-only kind).
 * Returns 0 or WORKER_ENOMEM. */
int wk_hours_add(wk_attempt *a, wk_hours *h, wk_base *b, const char *name, pp_profile *c);
/*
 * The usual batch of a hot app: its k new uploads for the base (ups, batch
 * order, k = *n) are exactly the contributions of the one bucket that got
 * any (fresh: the base's new names, in the same order as the bucket's).
 * Then, from WK_TREE_MIN uploads on and when pp_tree_exact says it changes
 * nothing, they are merged once, on wk_threads() threads, and that result
 * becomes the only contribution of both: ups[0] (*n = 1; the others
 * freed) and a copy for the bucket. Otherwise nothing changes. Returns 0 or
 * a WORKER_E* code (the uploads are then freed, *n = 0).
 */
int wk_hours_share(wk_attempt *a, wk_hours *h, const wk_strlist *fresh, pp_profile **ups,
                   size_t *n);
/*
 * Writes every bucket that got uploads: its contributions ⊕ the old bucket
 * (gauge columns zeroed) ⊕ G (g, may be NULL), pruned by the app's rules,
 * recorded, guarded like a base. shape: an all-zero profile of the kind for
 * a bucket that would otherwise be empty. Returns 0, 1 (a bucket changed
 * under the worker) or a WORKER_E* code.
 */
int wk_hours_write(wk_attempt *a, wk_hours *h, const struct wk_columns *cols, const wk_gauge *g,
                   const pp_profile *shape);

/*
 * The fold every base and bucket write makes: *out = contrib[n-1] ... contrib[0]
 * (newest first, all taken) ⊕ old (taken, may be NULL; its pgopipe comments
 * removed, its gauge columns zeroed) ⊕ a copy of G (g, may be NULL) — or a
 * copy of shape when there is nothing at all — then the app's prune rules.
 * From WK_TREE_MIN contributions on, when pp_tree_exact says it changes
 * nothing, the contributions are merged first on several threads
 * (pp_merge_tree) and their result folded in their place.
 * key names the object in messages. Returns 0 or a WORKER_E* code.
 */
int wk_fold(wk_attempt *a, const char *key, pp_profile **contrib, size_t n, pp_profile *old,
            const struct wk_columns *cols, const wk_gauge *g, const pp_profile *shape,
            pp_profile **out);

/* ---- Windows, retention, history (worker_window.c) ---- */

/* 1 when an upload of hour belongs in base b: no window, a base without a
 * window start, or hour >= its start. */
int wk_window_holds(const worker *w, const wk_base *b, int64_t hour);
/*
 * A windowed base that was not stored (b->existed 0) starts from its
 * window's buckets: b->p = Σ their counter columns, b->record = their
 * records ∩ staged, b->window_start = the target start. Nothing without a
 * window or when the base existed. Returns 0 or a WORKER_E* code.
 */
int wk_window_fill(wk_attempt *a, wk_base *b);
/* The base b of a->app is as b->info says, read or written by this worker:
 * the history tick looks after it (and its app). */
void wk_known_note(worker *w, const char *app, const wk_base *b);
/* The history tick looks after (app, kind) as it is stored now, and app's
 * retention (all-in-one start). */
void wk_known_adopt(worker *w, const char *app, layout_kind kind);
void wk_known_add_app(worker *w, const char *app);
/* Forgets app (deleted). */
void wk_known_forget_app(worker *w, const char *app);
void wk_known_free(worker *w);
/* The hour of a fetched, decoded upload (worker_upload_time with the
 * worker's retention and clock). */
int64_t wk_upload_hour(const worker *w, const wk_fetched *f);
/* The history key of a staged object's bytes (kind and hour from its
 * metadata and time), into key; *keep = 0 when its hour is past the
 * retention (nothing to keep). Returns 0, or -1 when the bytes do not
 * decode (*why says so). */
int wk_history_key(const worker *w, const char *app, const char *name, const uint8_t *data,
                   size_t len, char *key, size_t keyn, int *keep, char *why, size_t whylen);

/* ---- Gauge parts (worker_gauge.c) ---- */

/* What a kind's columns are: gauge[j] for column j (ncols of them). */
typedef struct wk_columns {
  size_t ncols;
  unsigned char gauge[INGEST_MAX_COLUMNS];
  int has_gauges, has_counters;
} wk_columns;

/* The columns of a kind as detected on a profile of it. */
void wk_columns_of(const ingest_kind_info *ki, wk_columns *out);
/* The columns of p, a profile of kind (detected with kind as the hint);
 * -1 when p is not of it. */
int wk_columns_detect(const pp_profile *p, layout_kind kind, wk_columns *out);
/* ncols counter columns (the cpu kind). */
void wk_columns_counters(size_t ncols, wk_columns *out);
/* Fills factors[0..ncols): counter_factor on counters, gauge_factor on gauges. */
void wk_columns_factors(const wk_columns *c, int64_t counter_factor, int64_t gauge_factor,
                        int64_t *factors);
/* Scales p in place: counter columns by counter_factor, gauges by gauge_factor. */
void wk_scale(pp_profile *p, const wk_columns *c, int64_t counter_factor, int64_t gauge_factor);
/* A copy of p scaled so, then compacted (all-zero samples dropped) when
 * compact; NULL when out of memory. */
pp_profile *wk_scaled(const pp_profile *p, const wk_columns *c, int64_t counter_factor,
                      int64_t gauge_factor, int compact);

/* 1 when b was not stored but was started from its window's hour buckets
 * with uploads in them (a crash between the buckets and the base): it is
 * written even when the batch brings nothing new. */
static inline int wk_base_unwritten(const wk_base *b) {
  return !b->existed && b->p && b->record.n > 0;
}

/* The table of (app, kind), valid for the base described by info (existed
 * 0: there is none): kept when it agrees, else rebuilt from the instance
 * states (expired ones, and those that do not merge with ref — the base or
 * an upload of the kind — left out). Returns 0 (*out set) or a WORKER_E*
 * code. */
int wk_gauge_get(wk_attempt *a, layout_kind kind, const wk_columns *cols, const pp_profile *ref,
                 int existed, const blob_info *info, wk_gauge **out);
/* Takes the instances not seen within the TTL out of G (now: wk_now_ns). */
int wk_gauge_expire(worker *w, wk_gauge *g, char *err, size_t errlen);
/*
 * Sets instance (hash, id)'s gauge snapshot (gauge columns, counters zero;
 * taken, may be NULL for "none"), seen at seen_ns (an instance not seen
 * within the TTL counts as none): G changes by the difference once
 * wk_gauge_apply runs. Returns 0 or -1 (no memory).
 */
int wk_gauge_set(worker *w, wk_gauge *g, uint64_t hash, const char *id, int64_t seen_ns,
                 pp_profile *snap);
/* Folds the wk_gauge_set calls into G (one merge). Returns 0 or a PP_E*
 * code (G is then unknown: the table is dropped by the caller). */
int wk_gauge_apply(worker *w, wk_gauge *g, char *err, size_t errlen);
/* A copy of G (NULL when G is empty; *rc -1 when out of memory). */
pp_profile *wk_gauge_sum(const wk_gauge *g, int *rc);
/* 1 when G changed since the base was last written with it. */
int wk_gauge_dirty(const wk_gauge *g);
/* Records that the base described by info now holds G. */
void wk_gauge_written(wk_gauge *g, const blob_info *info);
/* Builds the table of (app, kind) from its instance states when the kind
 * has gauges and a base exists (so that the tick expires its instances
 * even if no upload of it comes). Returns 0 or a WORKER_E* code. */
int wk_gauge_prime(worker *w, const char *app, layout_kind kind, char *err, size_t errlen);
/* Forgets the table (it no longer agrees with the stores). */
void wk_gauge_drop(worker *w, wk_gauge *g);
/* Forgets every table of app. */
void wk_gauge_drop_app(worker *w, const char *app);
/* The base of (app, kind) was rewritten from `from` to `to` without a
 * change to its gauge columns: a table that agreed with `from` agrees with
 * `to`. */
void wk_gauge_follow(worker *w, const char *app, layout_kind kind, const blob_info *from,
                     const blob_info *to);
void wk_gauge_free_all(worker *w);

/* ---- Instance states (worker_kinds.c) ---- */

/* The comment of an instance state: WK_INSTANCE_PREFIX {"id":..., "mode":
 * "delta"|"cumulative", "seen": NS, "time": NS}. */
#define WK_INSTANCE_PREFIX "pgopipe-instance: "

typedef struct wk_state_info {
  char *id;        /* the instance id (owned; "" for the anonymous instance) */
  int cumulative;  /* the snapshot's counter columns are cumulative (else zero) */
  int64_t seen_ns; /* when its upload was received */
  int64_t time_ns; /* the snapshot's time (0: unknown) */
} wk_state_info;

/* Reads the state comment of p. Returns 0, 1 when p has none (or it does
 * not parse: not a state of ours), -1 when out of memory. */
int wk_state_info_read(const pp_profile *p, wk_state_info *out);
void wk_state_info_free(wk_state_info *i);

#endif
