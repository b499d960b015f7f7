/*
 * worker.h — the merge worker: folds every accepted upload into the base
 * of its app and profile kind exactly once, prunes it by the app's rules,
 * and cleans up.
 *
 * It consumes the event bus (lib/bus) and reads and writes the blob store
 * (lib/blob); the merging itself is the engine's (lib/pprof). The same code
 * runs as the pgopipe-worker daemon and inside pgopipe-server --worker
 * (worker_run below, on already-open handles).
 *
 * Events (contract):
 *   profile.uploaded  read {app}/staging/NAME and the base of its kind
 *                     ({app}/default.pgo for cpu), merge (uploads first,
 *                     newest first, then the base, as autopgo does), apply
 *                     the app's prune rules in order, write the base (and the
 *                     instance states of other kinds, see "Profile kinds"),
 *                     publish profile.merged for each upload, commit.
 *   profile.merged    delete the staged object (already gone is fine).
 *   profile.deleted   delete the app as it was at the DELETE: the base,
 *                     rejected/ and the staged uploads accepted before it
 *                     (see "Deleting an app"); the base last.
 *   anything else     skipped and committed; a malformed envelope is logged,
 *                     counted, skipped and committed.
 *
 * ## Exactly once, under crashes (design note)
 *
 * The bus delivers at least once: a message is committed only after it was
 * handled, so a crash (SIGKILL at any instant), a rebalance or a retry
 * redelivers it. Exactly once is therefore made by the worker: a redelivered
 * upload must be recognised as already merged.
 *
 * The record of what is in a base lives in the base itself, so it is written
 * atomically with the data it describes (one PUT; blob_put is atomic): a
 * pprof comment
 *
 *     pgopipe-merged-staged: 1730075435311000000-0a1b2c3d 1730075435399000000-77aa0b1c ...
 *
 * lists the staged object names merged into this base whose staged objects
 * may still exist. Staged names are unique (nanosecond time + random) and a
 * staged object is never written twice, so the name identifies the upload.
 * Rules:
 *  1. An upload whose name is in the base's list is already merged: skip it
 *     (but publish profile.merged again so its staged object gets deleted).
 *  2. An upload not in the list whose staged object exists is not merged yet:
 *     merge it. (It cannot have been merged and dropped from the list: see 4.)
 *  3. An upload not in the list whose staged object is missing was merged and
 *     cleaned up earlier, or removed by a profile.deleted of its app: skip it,
 *     count it (pgopipe_worker_staged_missing_total), do not fail.
 *  4. Each base write lists the staged directory ({app}/staging/) first and
 *     writes list = (old list ∩ staged objects still present) ∪ names merged
 *     now. A name leaves the list only once its staged object is gone, and
 *     a staged object is deleted only after the base naming it is durable
 *     (profile.merged is published after the PUT). So the list stays as
 *     small as the uploads waiting for cleanup, not the app's history.
 * Crash points: before the PUT → nothing happened, the redelivered events
 * merge again; after the PUT, before publishing/committing → redelivery finds
 * the names in the list (rule 1) and only republishes profile.merged; after
 * profile.merged, before its deletion → the deletion is redelivered; a
 * deletion of an already deleted object succeeds.
 *
 * Why names and not bus offsets: offsets are not stable identities. The
 * in-process mem:// bus restarts at offset 0 after a restart, a Kafka topic
 * can be recreated, and start-up reconciliation (below) merges uploads that
 * have no event at all. A name-based record is correct in all these cases;
 * an offset watermark would wrongly skip new events after a mem:// restart.
 * The cost is one LIST of {app}/staging/ per base write (cheap next to the
 * merge) and a comment of ~30 bytes per upload awaiting cleanup.
 * The `pgopipe-` comments of uploads are removed before merging, so a
 * downloaded base uploaded again cannot smuggle in a list.
 *
 * Reconciliation (all-in-one mode, mem:// bus): events held in memory are
 * lost by a crash while the staged objects are durable. On start the worker
 * lists every `{app}/staging/` object and merges them with the rules above
 * (those already in the base's list are only deleted), so an upload
 * acknowledged with 201 before a SIGKILL ends in the base after the restart.
 * A profile.deleted handled before the crash left only staged objects newer
 * than itself (see "Deleting an app"), so those are merged into a fresh base
 * and nothing older comes back. A profile.deleted lost by the crash before
 * it was handled is not redone (the server already removed the base):
 * staged uploads merged into that base and not yet cleaned up would then be
 * merged again into a new base, a window the events alone cannot close.
 * It is off for Kafka: there the events are durable, and two workers of a
 * group reconciling the same app at once would race on its base.
 *
 * One writer per base: the Kafka message key is the app, so one app's events
 * are in one partition, owned by one group member at a time, handled in
 * order. A revoked partition is noticed by librdkafka only inside poll,
 * i.e. between batches, so the old owner finishes its write first. As a
 * second guard the worker compares the base's ETag just before its PUT with
 * the one it read and starts the batch again when they differ. A member
 * paused longer than the group's session timeout between that check and its
 * PUT could still overwrite a newer base (S3 offers no conditional PUT here);
 * this is the one window the design does not close.
 *
 * ## Profile kinds (design note)
 *
 * An upload's kind, mode and instance come from its staged object: the
 * `pgopipe-upload: {JSON}` comment the server writes in the same PUT
 * (lib/ingest, ingest_meta). Without one the upload is a plain CPU upload
 * (kind cpu, mode delta): an autopgo server's uploads, and ours without
 * hints. The event's optional fields are not trusted. A batch's uploads of
 * an app are grouped by kind; each (app, kind) has its own base
 * (layout_kind_base_key). cpu goes exactly the way described above; the
 * other kinds as follows (wk_kind_* in worker_kinds.c).
 *
 * Every column of a kind is a counter or a gauge (ingest_kind_detect):
 * heap in-use and goroutine counts are gauges, everything else counts.
 * A base holds
 *   Σ counter contributions  ⊕  G (the gauge part)
 * where an upload U of instance i contributes
 *   - mode delta: U's counter columns as they are;
 *   - mode cumulative: U − S(i) on the counter columns, S(i) being i's last
 *     snapshot; when a counter value of any stack went down (a restart), or
 *     there is no S(i), U counts from zero (contribution = U).
 * and G = Σ over the instances seen within the gauge TTL of their last
 * snapshot's gauge columns. A cumulative snapshot older (by its time) than
 * S(i) is stale: the newer snapshot already contains it, so it contributes
 * nothing and does not replace S(i).
 *
 * S(i) lives in the instance state object {app}/instances/{kind}/{hash}
 * (layout_instance_key): the last snapshot (the gauge columns only, for
 * delta uploads), a `pgopipe-instance: {JSON}` comment (instance id, mode,
 * when it was seen, its time) and its own merge record. Kinds without gauge
 * columns keep no state for delta uploads. Uploads without an instance
 * belong to one anonymous instance ("").
 *
 * G is derived state: kept in memory per (app, kind) (wk_gauge), updated by
 * each batch (G += U.gauge − S(i).gauge) and by expiry (G −= S(i).gauge),
 * and rebuilt from the instance states when the worker first touches the
 * (app, kind) or finds its base written by someone else (the table is valid
 * for the base ETag it last read or wrote). Every base write replaces the
 * base's gauge columns by G; a periodic tick (worker_gauge_tick) rewrites
 * the bases whose G changed by expiry. It needs no record of its own.
 *
 * Exactly once with several objects: the record above is kept in every
 * object the worker writes (the base and each instance state), and each
 * object is judged on its own (an upload is in O iff its name is in O's
 * record, or its staged object is gone). Per batch the bases are written
 * first, the instance states LAST, and profile.merged is published only
 * after both. So a state that holds U implies that the base holds U, and
 * a base that lacks U implies that the state lacks U: U's delta is always
 * computed against the snapshot it follows. Every upload of a batch goes
 * through its instance's chain in batch order, also when some objects
 * already hold it (a crash between the base write and the state write:
 * the redelivered upload is skipped for the base and still advances the
 * state). Instance states are never pruned (a delta needs the stacks as
 * they were sent); the base is, after G is added.
 *
 * Costs per batch and (app, kind): the base (kept in memory or GET), one
 * GET and one PUT per instance with uploads in the batch, one merge per
 * cumulative upload (U − S(i)), one merge of G, one merge and PUT of the
 * base. A rebuild of G reads every instance state of the (app, kind).
 *
 * ## History and windows (design note)
 *
 * Every upload has a time (worker_upload_time): its metadata's `time`
 * (the server computed it), else — a plain CPU upload — its profile's
 * time_nanos, replaced by its receipt time (the staged name's time) when
 * that is 0 or outside [receipt − retention, receipt + 1h]. It depends on
 * the staged object alone, so a redelivered upload falls in the same hour.
 * Its hour is layout_hour_of_ns(time).
 *
 * Hour buckets: each upload's contribution (the same counter contribution
 * its base gets) is also folded into the bucket of its (app, kind, hour),
 * {app}/hours/{kind}/{YYYYMMDDHH}.pgo (layout_hour_key): counter columns
 * summed, gauge columns replaced by G as of the bucket's write, the app's
 * prune rules applied. A bucket is an object like a base, with its own
 * record (pgopipe-merged-staged), judged on its own. Write order per batch:
 * every bucket, then every base, then the instance states; profile.merged
 * after all of them. So a state holding U implies that every object U
 * belongs to holds it, and a base holding U implies U's bucket holds it:
 * the cpu base's record alone still decides whether an upload must be
 * fetched at all.
 *
 * Windows (window_ms > 0): a base holds the buckets of the hours from its
 * window start B (the comment `pgopipe-window-start: YYYYMMDDHH`, written
 * in the same PUT as the data) on: an upload whose hour is before B goes
 * only into its bucket (and not into the base's record). The target start
 * is T = hour(now − window). worker_history_tick moves B to T for the
 * (app, kind)s this worker wrote or read last: the base minus the buckets
 * of the hours [B, T) (counter columns negated, gauges left out, the
 * current prune rules applied to both), one merge, written with B = T in
 * the same PUT — so the subtraction happens exactly once. It is exact when
 * every upload in those buckets is in the base; an upload in a bucket's
 * record but not in the base's whose staged object still exists (a crash
 * between the two writes, not yet redelivered), or a negative value after
 * the subtraction (rules that changed in between), makes it rebuild the
 * base instead: Σ the buckets from T on (counters) ⊕ the base's gauge
 * columns, with record (old record ∪ the buckets' records) ∩ staged (logged
 * and counted). A base written before windows were on (no window start) is
 * rebuilt the same way, and a windowed base that is missing (a new app, a
 * corrupt base moved aside) starts from its window's buckets. A larger
 * window than the base's (T < B) changes nothing: the base grows until it
 * is as long as the window. Costs: per batch and (app, kind), one merge and
 * PUT per bucket with uploads (the current hour's is kept decoded in
 * memory like the base) next to the base's; per hour leaving, one merge of
 * the base with that bucket (a GET) and one PUT.
 *
 * Retention (retention_ms ≥ window_ms): the tick deletes, once an hour per
 * app it knows, the buckets of hours before hour(now − retention) — the
 * history objects of each such hour first, then the bucket, so a crash in
 * between is finished by the next sweep — and the instance states not
 * written within the retention. Nothing else.
 *
 * History: the profile.merged handler copies the staged object to
 * {app}/history/{kind}/{YYYYMMDDHH}/{name} (the same bytes, metadata
 * comment inside; an idempotent PUT) before it deletes the staged object;
 * an upload whose hour is already past the retention is not kept.
 *
 * Which (app, kind)s the tick knows: those this worker handled a batch of,
 * and, in all-in-one mode (reconciliation), every app in the store at
 * start. With Kafka, an app idle since a worker's start is advanced and
 * swept when its next event arrives (its partition's owner is the only
 * writer of its base). The tick remembers each base's window start as it
 * last read or wrote it, so only the bases whose start is behind are read;
 * it stops after about a second of work and goes on after the next batch,
 * so an hour boundary with many bases to move does not hold up uploads.
 *
 * ## Deleting an app
 * The server publishes profile.deleted (and removes the base itself) while
 * uploads may keep arriving: an upload acknowledged after the DELETE is
 * staged and its profile.uploaded follows profile.deleted in the partition.
 * Its staged object must survive the delete, or that upload is lost. The
 * cut-off is the deleted event's timestamp T (ms, server clock); a staged
 * name's time N is in ns from the same kind of clock. The handler deletes
 *   - every staged object whose upload precedes the delete in the batch
 *     being handled (event order is exact);
 *   - every other staged object with N < T × 10^6, unless its upload follows
 *     the delete in the same batch (then it stays, whatever its name says);
 *   - every rejected/ object stamped before the cut-off (or not stamped),
 *     and anything else under {app}/ except staged objects (the bases of
 *     other kinds and the instance states included);
 *   - the cpu base, last; then what interrupted writes left under {app}/
 *     (blob_sweep: temporary files of a process killed during a put).
 * The gauge parts and bases the worker keeps in memory for the app are
 * dropped with it. An instance state written after the DELETE comes only
 * from an upload that follows the delete in the partition, so it is
 * handled (and written) after the deletion, never removed by it.
 * Staged objects with N ≥ T × 10^6 stay: T is the event's time truncated to
 * the ms, so everything named in the same ms as the DELETE counts as newer
 * (the conservative side: nothing that might be newer is deleted). A staged
 * name without a time stamp stays too; autopgo's names ({unix_nanos}, digits
 * only) are time stamps like ours. What stays is merged into a fresh
 * base by its own profile.uploaded, which comes later (or by reconciliation
 * in mem:// mode after a restart, since the delete already removed what was
 * older: an older staged object cannot resurrect the app).
 * Uploads before the delete in the same batch are not merged at all (the
 * delete would remove them again at once); their staged objects go with
 * the app, so a redelivery finds them missing (rule 3).
 * A staged object kept because it is in the same ms (or stamped by a server
 * whose clock runs ahead) but whose upload preceded the delete was merged
 * into the deleted base; its profile.merged, published after that merge,
 * deletes it later, and no profile.uploaded of it follows the delete, so it
 * is never merged into the fresh base (the fresh base's record starts
 * empty). Only a mem:// crash before that profile.merged is handled lets
 * reconciliation merge it (a window of one ms on one clock).
 * Redelivery: a profile.deleted handled again (crash before its commit)
 * also removes a fresh base written after it; the uploads in that base are
 * merged again by their redelivered profile.uploaded, since their staged
 * objects are deleted only by a later profile.merged, which would be
 * redelivered too. Only when that profile.merged was handled but neither
 * its commit nor the delete's went through (a refused commit, then a crash
 * or rebalance) is such an upload lost.
 * Assumption: the servers' clocks agree (NTP) to well under the time
 * between a DELETE and the first upload meant for the app's next life. An
 * upload staged by a server whose clock lags the deleting server's by d, in
 * the d after the DELETE, whose event is not in the batch holding the
 * profile.deleted, is named before the cut-off and deleted with the app;
 * likewise an upload whose name was taken before the DELETE but whose
 * event was published after it (requests truly concurrent with the DELETE).
 * mem:// runs in one process, on one clock.
 *
 * ## Batching
 * The worker polls up to batch_max messages, waiting at most batch_wait
 * after the first, then handles them per app in order: all uploads of an app
 * after its last profile.deleted in the batch (all, without one) are merged
 * with the base in one pass and the base is written once; then every
 * partition's last message is committed.
 * Under load the batch fills without waiting (messages are already there),
 * and while more are already waiting (a backlog: one hot app's fleet) it
 * grows on, without waiting, to WORKER_BATCH_GROW x batch_max (batch_max 1
 * stays 1) while its uploads at the last batch's average size stay within
 * WORKER_BATCH_GROW_BYTES, so the per-write costs (base merge, encode, PUT) are shared by
 * more uploads the further the worker is behind.
 * A batch's uploads are fetched and decoded on a few threads at once, and
 * many new uploads of a base are merged together on a few threads first
 * (pp_merge_tree, when that gives the same base). The
 * worker keeps the last base it wrote, decoded, with the ETag the store gave
 * it; the next batch of that app checks the ETag with a HEAD and, when it is
 * unchanged, starts from the kept base instead of GET + decode. Both stores'
 * ETags are content digests (MD5), so an equal ETag means the stored base is
 * exactly what the kept one encodes to: the shortcut cannot change a result.
 *
 * ## Failures
 * Poison (a staged object that does not decode, is too large, or is not
 * compatible with the base's period/sample types) is moved to
 * {app}/rejected/NAME, logged with the reason and counted; the batch goes on.
 * A prune rule that PCRE2 cannot evaluate on a function name (its match
 * limit) is skipped for that name, logged as an error and counted
 * (pgopipe_worker_prune_rules_skipped_total): one upload's names never stop
 * an app, nor the apps behind it.
 * Everything else (blob or bus errors) is retried with exponential backoff
 * (backoff_min_ms doubling to backoff_max_ms), nothing unfinished is
 * committed, and health reports unhealthy until an operation succeeds again.
 * A base that does not decode is moved to {app}/rejected/default.pgo.NANOS
 * (logged, counted) and a new base is started: a corrupt base must not stop
 * every later upload of its app.
 */
#ifndef PGOPIPE_WORKER_H
#define PGOPIPE_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "corelog.h"
#include "layout.h"
#include "rules.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Comment prefix of the merge record kept in every base. */
#define WORKER_RECORD_PREFIX "pgopipe-merged-staged:"
/* Every comment starting with this is the worker's and is stripped from uploads. */
#define WORKER_COMMENT_PREFIX "pgopipe-"

/*
 * The worker's result codes. Failures of the store, the bus or the engine
 * are mapped to these where the worker calls them, so a caller never has to
 * tell a BLOB_E* from a BUS_E* (their values overlap).
 */
enum {
  WORKER_OK = 0,
  WORKER_EINVAL = -1,    /* bad configuration or arguments (final) */
  WORKER_ENOMEM = -2,    /* out of memory */
  WORKER_ESTORE = -3,    /* the blob store failed (transient: retried) */
  WORKER_EBUS = -4,      /* the event bus failed (transient: retried) */
  WORKER_EENGINE = -5,   /* merging, pruning or encoding a profile failed */
  WORKER_ECONFLICT = -6, /* the base kept changing under the worker (another writer?) */
  WORKER_ESTOPPED = -7   /* a stop was requested while a failure was being retried */
};

/* ---- Metrics and health (shared between the worker thread and HTTP) ---- */

/* Counters the worker updates; readable from any thread. Opaque. */
typedef struct worker_stats worker_stats;

/* Returns zeroed stats (NULL on allocation failure); free with worker_stats_free. */
worker_stats *worker_stats_new(void);
void worker_stats_free(worker_stats *st);

/*
 * Registers the worker's metric families (pgopipe_worker_*) in a svc
 * registry and mirrors every later update there, so a daemon serves them
 * with the rest of its metrics (svc_http_add_metrics); the registry is the
 * only renderer of the worker's metrics. Call once, before the worker runs;
 * the registry must outlive the stats. Returns 0 or -1 (a name already
 * registered, or no memory).
 */
struct svc_metrics;
int worker_stats_attach(worker_stats *st, struct svc_metrics *m);

/*
 * Health: returns 1 when the blob store, the event writer and the event
 * reader worked at their last use (or have not been used yet) and no
 * operation is being retried, 0 otherwise. *json (malloc'd, caller frees,
 * may be NULL) gets the contract's health body with autopgo's dependency
 * names and the worker's own state:
 * {"status":"healthy","dependencies":[{"name":"blob","status":"healthy"},
 * {"name":"event-writer",...},{"name":"event-reader",...},{"name":"worker",...}]}.
 */
int worker_stats_health(const worker_stats *st, char **json);

/* One dependency ("blob", "event-writer", "event-reader", or "worker": the
 * worker is not making progress while an operation is being retried): 0
 * when it worked at its last use, -1 with its last error in msg otherwise
 * (also for an unknown name). Shaped for svc_http's dependency checks. */
int worker_stats_dep(const worker_stats *st, const char *name, char *msg, size_t msglen);

/* Readiness: 1 once the worker is consuming (after reconciliation), 0 before
 * and while shutting down. */
int worker_stats_ready(const worker_stats *st);

/* Counter accessors for tests and logs. */
typedef struct worker_counts {
  uint64_t events, malformed, skipped_types;
  uint64_t merges;         /* base writes */
  uint64_t uploads_merged; /* uploads folded into a base */
  uint64_t duplicates;     /* redelivered uploads already in the base */
  uint64_t missing;        /* uploads whose staged object was gone */
  uint64_t rejected;       /* staged objects moved to rejected/ */
  uint64_t bases_rejected; /* undecodable bases moved to rejected/ */
  uint64_t retries;        /* transient failures retried */
  uint64_t staged_deleted; /* profile.merged handled */
  uint64_t apps_deleted;   /* profile.deleted handled */
  uint64_t commits, commit_failures, conflicts;
  uint64_t last_base_bytes;
  uint64_t cache_hits;     /* base writes started from the base kept in memory */
  /* By profile kind (index: layout_kind): */
  uint64_t kind_uploads[LAYOUT_KIND_COUNT];     /* uploads folded into the kind's base */
  uint64_t kind_base_writes[LAYOUT_KIND_COUNT]; /* base writes */
  uint64_t state_writes[LAYOUT_KIND_COUNT];     /* instance states written */
  uint64_t first_snapshots[LAYOUT_KIND_COUNT];  /* cumulative uploads of an instance
                                                   without a previous snapshot */
  uint64_t restarts[LAYOUT_KIND_COUNT];         /* cumulative uploads whose values went
                                                   down (counted from zero) */
  uint64_t stale[LAYOUT_KIND_COUNT];            /* snapshots older than the instance's */
  uint64_t gauge_expired[LAYOUT_KIND_COUNT];    /* instances dropped from G by the TTL */
  uint64_t gauge_instances[LAYOUT_KIND_COUNT];  /* instances in G now */
  uint64_t prune_skipped;  /* rules skipped on a name PCRE2 could not evaluate them on */
  /* History and windows: */
  uint64_t bucket_writes;     /* hour buckets written */
  uint64_t history_kept;      /* staged uploads copied to history/ */
  uint64_t window_advances;   /* hours taken out of a base by subtraction */
  uint64_t window_rebuilds;   /* bases rebuilt from their window's buckets */
  uint64_t retention_deleted; /* buckets, history objects and states deleted as too old */
} worker_counts;
void worker_stats_counts(const worker_stats *st, worker_counts *out);

/* ---- Running ---- */

/* How far a batch grows beyond batch_max while a backlog is waiting. */
#define WORKER_BATCH_GROW 16
/* ... while the grown batch's staged uploads, at the last batch's average
 * size, stay within this many bytes (memory: a batch is decoded at once). */
#define WORKER_BATCH_GROW_BYTES (16u << 20)

typedef struct worker_config {
  blob_store *blob;       /* required; not owned */
  bus_reader *reader;     /* required; not owned (the caller closes it, which leaves the group) */
  bus_writer *writer;     /* required, for profile.merged; not owned */
  const char *prune_path; /* rules file to (re)load on *reload; NULL = none */
  const rules_set *rules; /* initial rules (may be NULL); not owned; replaced
                             by reloads (the worker then owns the new sets) */
  size_t batch_max;       /* messages per batch (up to WORKER_BATCH_GROW times it
                             with a backlog); 0 → 50; 1 = no batching */
  int batch_wait_ms;      /* wait after the first message for more; <0 → 100 */
  size_t batch_grow_bytes; /* staged bytes a grown batch holds at most (see
                              WORKER_BATCH_GROW_BYTES); 0 → that */
  size_t max_profile_bytes; /* largest staged object read; 0 → 64 MiB */
  size_t max_decoded_bytes; /* a staged upload after decompression, its in-memory
                               profile included (the server's rule); 0 → 64 MiB */
  size_t max_base_bytes;    /* largest base read; 0 → 512 MiB */
  int backoff_min_ms;     /* 0 → 100 */
  int backoff_max_ms;     /* 0 → 30000 */
  int reconcile;          /* 1 = merge leftover staged uploads on start, 0 = no,
                             -1 = only when the reader is mem:// */
  int gzip_level;         /* base compression 1..9; 0 → 6 */
  int poll_ms;            /* poll timeout while idle (stop/reload latency); 0 → 200 */
  worker_stats *stats;    /* optional; updated while running; not owned */
  core_logger log;        /* where log records go (fn NULL: nowhere); every
                             record carries "component": "worker" first */
  const char *reader_url; /* for logs and reconcile=-1 ("mem://..."); may be NULL */
  int64_t gauge_ttl_ms;   /* gauges of instances not seen this long leave G; 0 → 10 min */
  int gauge_tick_ms;      /* how often expired gauges are taken out of the bases; 0 → 30 s */
  /* The wall clock the gauge TTL is measured with (ns since the epoch);
   * NULL → chrono_now_ns. Tests inject one. */
  int64_t (*clock_ns)(void *ctx);
  void *clock_ctx;
  /* History (see "History and windows"): a base holds the hours of the
   * last window_ms (0: all time); buckets, history objects and instance
   * states older than retention_ms are deleted (0 → 168 h; must not be
   * shorter than window_ms). The same clock measures both. */
  int64_t window_ms;
  int64_t retention_ms;
} worker_config;

/*
 * Runs the worker until *stop becomes non-zero: reconciles (if configured),
 * then polls, batches, merges, publishes and commits. When *stop is set it
 * finishes the batch in hand, commits it, and returns 0; the caller then
 * closes the reader (leaving the group). A non-zero *reload (may be NULL)
 * makes it reload cfg->prune_path between batches and reset *reload to 0; a
 * broken file is logged and the old rules stay.
 * Returns 0 after a requested stop, or WORKER_EINVAL / WORKER_ENOMEM with
 * err filled when it cannot run at all. Transient failures never return:
 * they are retried with backoff while *stop stays 0.
 * Intended for a thread of its own (pgopipe-server --worker) or main().
 */
int worker_run(const worker_config *cfg, volatile sig_atomic_t *stop,
               volatile sig_atomic_t *reload, char *err, size_t errlen);

/* ---- In-process embedding (pgopipe-server --worker) ---- */

/*
 * The worker on a thread of its own inside another daemon, on that daemon's
 * already-open blob store. It opens its own bus reader and writer from URLs
 * (for mem://TOPIC both are the server's in-process topic), loads the rules,
 * reconciles leftover staged uploads when the reader is mem://, and runs
 * worker_run until worker_embed_stop.
 */
typedef struct worker_embed worker_embed;

typedef struct worker_embed_config {
  blob_store *blob;           /* required; not owned (must outlive the worker) */
  const char *reader_url;     /* events to consume; NULL → writer_url (mem://TOPIC) */
  const char *writer_url;     /* where profile.merged goes (the server's writer URL) */
  const char *prune_path;     /* rules file, or NULL; reloaded by worker_embed_reload */
  size_t batch_max;           /* 0 → 50 */
  int batch_wait_ms;          /* <0 → 100 */
  int64_t gauge_ttl_ms;       /* see worker_config; 0 → 10 min */
  size_t max_profile_bytes;   /* the server's upload limits, so that what it */
  size_t max_decoded_bytes;   /* accepts is merged (0 → 64 MiB each) */
  int64_t window_ms;          /* see worker_config; 0 = all time */
  int64_t retention_ms;       /* see worker_config; 0 → 168 h */
  struct svc_metrics *metrics; /* optional: pgopipe_worker_* families registered here */
  core_logger log;            /* the worker's log records (see worker_config.log) */
} worker_embed_config;

/*
 * Starts the worker thread. Fails (without starting anything) on a bad rules
 * file (message names file, app, rule and regex offset), or a bus URL that
 * cannot be opened. *out is owned by the caller: worker_embed_stop frees it.
 * Returns 0, or WORKER_EINVAL / WORKER_ENOMEM / WORKER_EBUS with err.
 */
int worker_embed_start(const worker_embed_config *cfg, worker_embed **out, char *err,
                       size_t errlen);

/* Asks for a rules reload at the next batch boundary (e.g. on SIGHUP). NULL is fine. */
void worker_embed_reload(worker_embed *e);

/* The running worker's stats (health: worker_stats_dep / worker_stats_health;
 * readiness: worker_stats_ready). Valid until worker_embed_stop. */
worker_stats *worker_embed_stats(worker_embed *e);

/*
 * The running worker's health as one dependency of its daemon: 0 when its
 * blob store and event writer worked at their last use and it is making
 * progress, -1 with "merge worker: blob: LAST ERROR" (or event-writer,
 * worker) in err otherwise. NULL (no worker) is healthy. Shaped for
 * svc_http's dependency checks; the reader is reported apart
 * (worker_embed_check_reader), under autopgo's name event-reader.
 */
int worker_embed_check(worker_embed *e, char *err, size_t errlen);

/* The running worker's event reader: 0 when it worked at its last use, -1
 * with its last error. NULL (no worker) is healthy. */
int worker_embed_check_reader(worker_embed *e, char *err, size_t errlen);

/*
 * Stops: the current batch is finished and committed, the reader closed
 * (leaving the group), the writer flushed, everything freed. Returns 0, or
 * -1 with err when the worker had stopped on an error of its own. NULL is
 * fine.
 */
int worker_embed_stop(worker_embed *e, char *err, size_t errlen);

/* ---- Pieces, exposed for tests ---- */

typedef struct worker worker;

/* Creates a worker on cfg (copied; the handles stay the caller's). Returns
 * 0, or WORKER_EINVAL / WORKER_ENOMEM with err. */
int worker_new(const worker_config *cfg, worker **out, char *err, size_t errlen);
void worker_free(worker *w);

/*
 * Handles one batch of messages in order (see above) and commits each
 * partition's last message. Returns 0, WORKER_ENOMEM (nothing handled; the
 * batch is redelivered), or WORKER_ESTOPPED when *stop was set while a
 * transient failure was being retried (nothing of the batch is then
 * committed). stop may be NULL.
 */
int worker_handle_batch(worker *w, bus_msg *const *msgs, size_t n, volatile sig_atomic_t *stop);

/*
 * Merges every staged object left under {app}/staging/ of every app (see
 * Reconciliation). Returns 0, or WORKER_ESTOPPED when stopped while retrying.
 */
int worker_reconcile(worker *w, volatile sig_atomic_t *stop);

/*
 * Merges the given staged keys ({app}/staging/NAME) of one app into the
 * bases of their kinds (and the instance states of the other kinds), with
 * the exactly-once rules above; publishes profile.merged for each key that
 * is (now or already) in its base. Returns 0, or a negative WORKER_E*
 * code with err filled: WORKER_EINVAL for an invalid app name, otherwise a
 * failure the caller retries (WORKER_ESTORE, WORKER_EBUS, WORKER_EENGINE,
 * WORKER_ECONFLICT, WORKER_ENOMEM).
 */
int worker_merge_app(worker *w, const char *app, const char *const *keys, size_t nkeys,
                     char *err, size_t errlen);

/*
 * The periodic gauge step (see "Profile kinds"): every (app, kind) whose G
 * is kept in memory loses the instances not seen within the gauge TTL, and
 * its base is rewritten when G changed (only when the stored base is still
 * the one this worker read or wrote last; otherwise the in-memory G is
 * dropped, to be rebuilt by the next batch). worker_run calls it every
 * gauge_tick_ms between batches. Returns 0, or the first failure (a
 * WORKER_E* code; what failed is tried again at the next call).
 */
int worker_gauge_tick(worker *w);

/*
 * The periodic history step (see "History and windows"): every (app, kind)
 * this worker knows whose base's window start is behind the window loses
 * the hours that left it (or is rebuilt from its window's buckets), and
 * every app it knows whose retention cut-off moved to a new hour loses its
 * buckets, history objects and instance states older than the retention.
 * Only bases this worker read or wrote last are changed (another writer's
 * are forgotten). worker_run calls it every gauge_tick_ms between batches.
 * Returns 0, or the first failure (a WORKER_E* code; what failed is tried
 * again at the next call).
 */
int worker_history_tick(worker *w);

/*
 * The time of an upload (ns) per the contract: meta->time_ns when set;
 * else the profile's time_nanos, unless that is 0 or outside
 * [receipt − retention_ns, receipt + 1 h], then the receipt time: the
 * metadata's received time, else the staged name's (layout_name_stamp_ns),
 * else now_ns. retention_ns <= 0: no lower bound. Pure.
 */
struct ingest_meta;
int64_t worker_upload_time(const struct ingest_meta *meta, int64_t time_nanos,
                           const char *staged_name, int64_t retention_ns, int64_t now_ns);

/* Replaces the rules (the worker takes ownership of `rules`; NULL = none). */
void worker_set_rules(worker *w, rules_set *rules);

#ifdef __cplusplus
}
#endif
#endif
