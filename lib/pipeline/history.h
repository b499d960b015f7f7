/*
 * history.h — reading what pgopipe keeps of the past (contract, "History
 * and time windows"), apart from HTTP so that tests reach it directly:
 *
 *  - hour buckets, {app}/hours/{kind}/{YYYYMMDDHH}.pgo (layout_hour_key):
 *    the worker folds every upload of a kind into the bucket of its hour:
 *    the counter columns are the sum of that hour's contributions, the
 *    gauge columns (heap inuse_*, goroutine) the kind's gauge part as of the
 *    bucket's last write. history_buckets lists them, history_range_merge
 *    merges those of a time range (what GET /api/profile/{app}?from=&to=
 *    serves);
 *  - kept uploads, {app}/history/{kind}/{YYYYMMDDHH}/{staged name}
 *    (layout_history_key): every accepted upload, as staged (its
 *    "pgopipe-upload:" metadata comment inside; a plain cpu upload has none
 *    and the default metadata), for the retention period; before it is
 *    merged an upload is {app}/staging/{name}. history_find lists their
 *    metadata with profefe's filters, history_get_id reads one by its
 *    profefe id, history_merge_found merges them (profefe's read API).
 *
 * Time. Range reads count in hours: an hour is floor(ns / 1h) since the
 * epoch (layout_hour_of_ns), a range [from_hour, to_hour) is the buckets
 * whose hour h has from_hour <= h < to_hour. profefe's listing counts in
 * upload times (ns, both ends included, as profefe does).
 *
 * Errors are HISTORY_* codes with a message a user can act on;
 * history_http_status says which answer each is.
 *
 * Thread safety: the functions taking a history handle may be called from
 * many threads at once (its metadata cache has a lock); the others keep no
 * state.
 */
#ifndef PGOPIPE_HISTORY_H
#define PGOPIPE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "ingest.h"
#include "layout.h"
#include "pprof.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  HISTORY_OK = 0,
  HISTORY_EINVAL = -1,        /* a bad app, kind, time, range or id (400) */
  HISTORY_ENOTFOUND = -2,     /* nothing in the range / no such upload (404) */
  HISTORY_ESTORE = -3,        /* the blob store failed (503) */
  HISTORY_EPROFILE = -4,      /* a stored profile does not decode or is over the limits (500) */
  HISTORY_EINCOMPATIBLE = -5, /* profiles that do not merge (different sample types) (422) */
  HISTORY_ENOMEM = -6         /* out of memory (500) */
};

/* The HTTP status that answers a HISTORY_* code (200 for HISTORY_OK). */
int history_http_status(int code);

#define HISTORY_HOUR_NS (3600LL * 1000000000LL)

/* ---- time parameters ---- */

/*
 * The hour of a time parameter of a range read: RFC 3339 or Unix seconds
 * (chrono_parse_time), rounded down to the hour. Returns 0, or
 * HISTORY_EINVAL with a message naming the parameter (name) and the value.
 */
int history_parse_hour(const char *name, const char *value, int64_t *hour, char *err, size_t errlen);

/*
 * Both ends of a range read: from and to must both be given and, after
 * rounding down to the hour, from before to. Returns 0, or HISTORY_EINVAL
 * with a message.
 */
int history_parse_range(const char *from, const char *to, int64_t *from_hour, int64_t *to_hour, char *err,
                        size_t errlen);

/*
 * A time of profefe's read API, in ns: profefe's own layout
 * 2006-01-02T15:04:05 (UTC, an optional fraction; ingest_profefe_created_at)
 * or RFC 3339. Returns 0, or HISTORY_EINVAL with a message naming the
 * parameter.
 */
int history_parse_profefe_time(const char *name, const char *value, int64_t *ns, char *err, size_t errlen);

/* ---- hour buckets ---- */

/* One hour bucket as the store lists it. */
typedef struct history_bucket {
  int64_t hour;
  char key[LAYOUT_KEY_BUF];
  blob_info info;
} history_bucket;

/*
 * The hour buckets of (app, kind) with from_hour <= hour < to_hour
 * (INT64_MIN and INT64_MAX for all), in hour order: one listing of
 * {app}/hours/{kind}/. *out is a malloc'd array of *n (caller frees; NULL
 * when none — not an error). Returns 0, HISTORY_EINVAL (bad app or kind),
 * HISTORY_ESTORE or HISTORY_ENOMEM.
 */
int history_buckets(blob_store *blob, const char *app, layout_kind kind, int64_t from_hour, int64_t to_hour,
                    history_bucket **out, size_t *n, char *err, size_t errlen);

/* What the buckets of (app, kind) span: the first and last hour held and
 * how many (first = last = -1, hours = 0 when none). */
typedef struct history_span {
  int64_t first_hour, last_hour;
  size_t hours;
} history_span;

/* Adds one bucket's hour to a span (init a span with first = last = -1). */
void history_span_add(history_span *s, int64_t hour);

/*
 * The version of a range made of the buckets b[0..n): ETag "r-" and 32 hex
 * digits of a SHA-256 of every bucket's hour and ETag (size and time when
 * a store gives no ETag), quoted — it changes whenever a bucket in the
 * range is written, added or removed; the last-modified time of the newest
 * bucket; the buckets' sizes added up.
 */
void history_range_version(const history_bucket *b, size_t n, blob_info *version);

/*
 * The profile of (app, kind) over [from_hour, to_hour): the buckets in the
 * range merged (Go's Merge, in hour order), their counter columns summed,
 * their gauge columns those of the newest bucket in range (the others' are
 * zeroed with pp_scale_columns first; which columns are gauges comes from
 * the kind, ingest_kind_detect). The buckets' own pgopipe- comments (their
 * merge records) are left out. Each bucket is read within lim (NULL:
 * engine defaults). *version is the version of the buckets actually read
 * (history_range_version). On success *out is owned by the caller
 * (pp_free). Returns 0, HISTORY_ENOTFOUND (no bucket in the range),
 * HISTORY_EINVAL, HISTORY_ESTORE, HISTORY_EPROFILE (a bucket does not
 * decode, is over lim or is not of the kind), HISTORY_EINCOMPATIBLE,
 * HISTORY_ENOMEM. Cost: one listing, then per bucket a read, a decode and a
 * merge into the result (peak memory: the result and one bucket).
 */
int history_range_merge(blob_store *blob, const char *app, layout_kind kind, int64_t from_hour, int64_t to_hour,
                        const pp_limits *lim, pp_profile **out, blob_info *version, char *err, size_t errlen);

/* ---- kept uploads (profefe's read API) ---- */

typedef struct history_config {
  blob_store *blob;        /* where everything is (not owned) */
  pp_limits limits;        /* for every stored upload read (0 fields: engine defaults) */
  int64_t retention_ns;    /* the server's retention, for the time of uploads without
                              metadata (ingest_upload_time); <= 0: none */
  size_t meta_cache;       /* metadata of how many uploads are kept in memory; 0 = 100000 */
} history_config;

typedef struct history history;

/* Creates a handle (cfg copied). Returns 0 and *out (caller frees with
 * history_free), or HISTORY_ENOMEM. */
int history_new(const history_config *cfg, history **out);
void history_free(history *h);

/* One kept upload. */
typedef struct history_entry {
  char id[160];             /* its profefe id (push_profefe_id) */
  char key[LAYOUT_KEY_BUF]; /* where it was found: its history key, or its staged key */
  int staged;               /* 1: not merged yet ({app}/staging/) */
  char app[LAYOUT_APP_MAX + 1];
  layout_kind kind;
  int64_t time_ns;          /* the upload's time (metadata, else ingest_upload_time) */
  ingest_meta meta;         /* its metadata (owned: history_entries_free) */
} history_entry;

/* What history_find looks for. */
typedef struct history_query {
  const char *app;
  layout_kind kind;             /* LAYOUT_KIND_NONE: every kind */
  const ingest_labels *labels;  /* every pair must be among the upload's labels; NULL = any */
  int64_t from_ns, to_ns;       /* from_ns <= time <= to_ns */
  size_t limit;                 /* at most this many (the oldest); 0 = all */
} history_query;

/*
 * The uploads of q->app kept in {app}/history/ or still in {app}/staging/
 * that match q, oldest first (time, then staged name). History hours
 * outside the time range are skipped without reading; every other upload's
 * metadata is read once (blob_get, pp_decode, ingest_meta_from_profile) and
 * kept in the handle's cache (uploads never change). An upload found in
 * both places (being moved by the worker) is listed once, with its history
 * key; one that vanishes while listed, or does not decode, is left out.
 * *out is a malloc'd array of *n (history_entries_free; NULL when none).
 * Returns 0, HISTORY_EINVAL, HISTORY_ESTORE or HISTORY_ENOMEM.
 */
int history_find(history *h, const history_query *q, history_entry **out, size_t *n, char *err, size_t errlen);

/* Frees what history_find returned. */
void history_entries_free(history_entry *e, size_t n);

/*
 * The stored bytes of one upload named by its profefe id
 * ("{app}.{kind}.{YYYYMMDDHH}.{staged name}", push_profefe_id_parse): its
 * history key, else its staged key, without listing anything. *data is
 * malloc'd (caller frees); key (LAYOUT_KEY_BUF bytes, may be NULL) gets
 * where it was found. Returns 0, HISTORY_EINVAL (not an id), HISTORY_ENOTFOUND,
 * HISTORY_ESTORE, HISTORY_EPROFILE (larger than the limits) or
 * HISTORY_ENOMEM.
 */
int history_get_id(history *h, const char *id, uint8_t **data, size_t *len, char *key, char *err, size_t errlen);

/*
 * Merges the uploads named by ids ("id1+id2+...", profefe's form) as Go's
 * Merge does, in the order given, a naive sum as profefe's merge; their
 * pgopipe- comments (metadata) are left out. Returns 0 with *out (pp_free),
 * or HISTORY_EINVAL (an empty or bad id), HISTORY_ENOTFOUND (one of them is
 * not kept), HISTORY_EINCOMPATIBLE (of different sample types), ...
 */
int history_merge_ids(history *h, const char *ids, pp_profile **out, char *err, size_t errlen);

/*
 * Merges the uploads e[0..n) (history_find's) in order, as
 * history_merge_ids. n == 0 is HISTORY_ENOTFOUND.
 */
int history_merge_found(history *h, const history_entry *e, size_t n, pp_profile **out, char *err, size_t errlen);

/*
 * The apps that keep uploads ({app}/history/ or {app}/staging/ objects),
 * sorted: one pass over every key of the store. *out is a malloc'd array
 * of *n malloc'd names (history_names_free). Returns 0, HISTORY_ESTORE or
 * HISTORY_ENOMEM.
 */
int history_services(history *h, char ***out, size_t *n, char *err, size_t errlen);
void history_names_free(char **v, size_t n);

/* Entries and lookups of the metadata cache (tests, metrics). */
void history_cache_stats(history *h, size_t *entries, uint64_t *hits, uint64_t *misses);

#ifdef __cplusplus
}
#endif
#endif
