/*
 * reads.h — what GET /api/profile/{app} serves (contract: "Reads"), apart
 * from HTTP so that tests reach the rules directly:
 *
 *  - which profile a read is made from: its source (reads_source), the
 *    base object of (app, kind), or a time range [from, to) of (app,
 *    kind): the merge of the hour buckets in it (history.h,
 *    history_range_merge). The source is the only thing that knows where
 *    the bytes come from: each type has its own stat (a base: one
 *    blob_stat; a range: one listing of the kind's hour buckets, whose
 *    ETags together are the range's version) and load, and everything
 *    after (formats, ETags, the cache, 304s) is the same for both;
 *  - which parameters are accepted (kind, format, keep, from, to) and what
 *    an unknown value is answered (400, with the accepted values named);
 *  - how each format is made from the source's bytes: pprof is the stored
 *    bytes as they are; pgo and preprofile go through pp_pgo_convert; the
 *    other formats through the export table (pp_export_format_find);
 *  - the representation: Content-Type, file name, ETag, gzip encoding;
 *  - a bounded, thread-safe, LRU cache of outputs per source version
 *    (reads_cache), with single-flight fills, so a download after the first
 *    costs a stat of the source plus a memory copy.
 *
 * ETags. format=pprof answers the source's own ETag, unchanged (the bytes
 * are the stored ones). Every other format answers a WEAK ETag derived from
 * the source's: W/"<source etag without quotes>-<format>[-keep<N>]". Weak,
 * because the same ETag is sent for the identity and the gzip-encoded
 * bodies of a text format (they are the same content, differently encoded;
 * RFC 9110 allows one weak validator for both, a strong one must differ),
 * and because conversions are only promised to be equivalent across
 * pgopipe versions, not byte-identical. If-None-Match is compared weakly
 * (RFC 9110 §13.1.2), so a client revalidating either form gets 304 while
 * the source is unchanged.
 *
 * Cache keys are (source, source ETag, format, keep, encoding): a new
 * version of a base has a new ETag, so it is never answered from an older
 * conversion; outputs of an older version of the same source are dropped
 * as soon as a newer one is stored ("superseded"), the rest ages out by
 * LRU. Text and JSON formats are stored twice when clients ask for both
 * encodings (plain and gzip), each entry counted in the bound.
 */
#ifndef PGOPIPE_READS_H
#define PGOPIPE_READS_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "export.h"
#include "layout.h"
#include "svc_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bound of the output cache (pgopipe-server --read-cache-bytes). */
#define READS_DEFAULT_CACHE_BYTES ((size_t)64 << 20)

/* ---- what a read asks for ---- */

/* The raw query values of a read (NULL = absent). */
typedef struct reads_params {
  const char *kind;   /* default cpu; layout_kind_parse ("allocs" is heap) */
  const char *format; /* default pprof; a row of the export table */
  const char *keep;   /* formats that trim stacks (pgo) only: 0 or 2..PP_PGO_MAX_KEEP, default 2 */
  const char *from;   /* a time range: both or neither; RFC 3339 or Unix seconds, */
  const char *to;     /* rounded down to the hour (history_parse_range) */
} reads_params;

typedef enum reads_source_type {
  READS_SOURCE_BASE = 0, /* the base object of (app, kind): layout_kind_base_key */
  READS_SOURCE_RANGE = 1 /* the hour buckets of (app, kind) in [from_hour, to_hour) */
} reads_source_type;

/* The profile a read is made from. */
typedef struct reads_source {
  reads_source_type type;
  char app[LAYOUT_APP_MAX + 1];
  layout_kind kind;
  /* READS_SOURCE_BASE: the base's key; READS_SOURCE_RANGE: a name of the
   * range, "{app}/hours/{kind}/{FROM}-{TO}" (hours as YYYYMMDDHH), which
   * no object has: it keys the range's outputs in the cache */
  char key[LAYOUT_KEY_BUF];
  int64_t from_hour, to_hour; /* READS_SOURCE_RANGE */
} reads_source;

typedef struct reads_request {
  reads_source source;
  const pp_export_format *format; /* a row of the export table, never NULL */
  unsigned keep;                  /* formats reading keep: the leaf-most locations kept (0 = all); else 0 */
} reads_request;

/*
 * Checks a read of app with the parameters p and fills *out. Returns 0, or
 * -1 with a message naming the parameter, the value and what is accepted
 * (the answer is 400): an invalid app name, an unknown kind or format, a
 * keep that is not 0 or 2..PP_PGO_MAX_KEEP (1 is refused: it drops the
 * caller location every compiler reads), keep with a format that does not
 * trim stacks, an empty value, from without to or the other way round, a
 * time that is not RFC 3339 or Unix seconds, or from not before to once
 * both are rounded down to the hour. With from and to the source is
 * READS_SOURCE_RANGE.
 */
int reads_parse(const char *app, const reads_params *p, reads_request *out, char *err, size_t errlen);

/* ---- the source ---- */

/*
 * The current version of src: size, last-modified time and ETag (what
 * decides whether a cached output is still the source's). One blob_stat for
 * a base; for a range one listing of the kind's hour buckets, the version
 * being history_range_version of those in range. Returns a BLOB_* code
 * (BLOB_ENOTFOUND: the app has no such base, or no bucket in the range).
 */
int reads_source_stat(blob_store *blob, const reads_source *src, blob_info *version, char *err, size_t errlen);

/*
 * Reads the source's bytes (gzipped profile.proto) into *data (malloc'd,
 * caller frees), at most max_bytes (0 = no limit; over it BLOB_ETOOBIG),
 * with the version actually read in *version (which may be newer than a
 * stat made just before). A range is merged here (history_range_merge,
 * each bucket read within max_bytes) and encoded; a bucket that does not
 * decode or buckets that do not merge are BLOB_EINVAL. Returns a BLOB_*
 * code.
 */
int reads_source_load(blob_store *blob, const reads_source *src, size_t max_bytes, uint8_t **data,
                      size_t *len, blob_info *version, char *err, size_t errlen);

/* ---- the representation ---- */

/* The ETag of rq's answer for a source whose ETag is source_etag (see the
 * top of this file). Writes "" when source_etag is empty. Returns 0, or -1
 * when buf is too small. */
int reads_etag(const reads_request *rq, const char *source_etag, char *buf, size_t n);

/*
 * The file name proposed in Content-Disposition (and used by `pgopipe
 * download` without -o): for the cpu kind "default.pgo" (pprof and pgo: the
 * name `go build` picks up in a main package), "default.preprofile", else
 * "{app}{suffix}" ("myapp.folded", "myapp.speedscope.json",
 * "myapp.cpuprofile"); for other kinds "{app}-{kind}{suffix}" with the
 * suffix ".pb.gz" for pprof ("myapp-heap.pb.gz", "myapp-heap.folded").
 * Returns 0, or -1 when buf is too small.
 */
int reads_filename(const reads_request *rq, char *buf, size_t n);

/* 1 when the format's bytes are text or JSON, served gzip-encoded to
 * clients that accept it (with Vary: Accept-Encoding); 0 for the formats
 * that are gzipped profiles already (pprof, pgo). */
int reads_compressible(const pp_export_format *f);

/* 1 when an Accept-Encoding header value accepts gzip: "gzip" or "x-gzip"
 * with a non-zero q, or "*" with a non-zero q and gzip not refused by name.
 * NULL (no header) is 0. */
int reads_accepts_gzip(const char *accept_encoding);

/* 1 when an If-None-Match header value matches etag by weak comparison:
 * "*", or one of its comma-separated entity tags equal to etag with any W/
 * prefix ignored on both sides. */
int reads_etag_matches(const char *if_none_match, const char *etag);

/* ---- the output cache ---- */

/* A stored output: immutable while referenced. */
typedef struct reads_item {
  const uint8_t *data;
  size_t len;
  blob_info version; /* the source version the bytes were made from */
} reads_item;

/*
 * Makes the output of a cache key: returns 0 with *data (malloc'd; the cache
 * takes it), *len and *version filled, or a non-zero code of the caller's
 * choosing with a message in err, handed to every caller waiting on this
 * fill. Runs without the cache's lock held; may itself call
 * reads_cache_get for another key (never for its own).
 */
typedef int (*reads_fill_fn)(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err,
                             size_t errlen);

typedef enum reads_cache_outcome {
  READS_CACHE_HIT = 0,  /* found stored */
  READS_CACHE_MISS = 1, /* this caller ran the fill */
  READS_CACHE_SHARED = 2 /* another caller was running the fill for this key: waited and shared it */
} reads_cache_outcome;

typedef struct reads_cache_stats {
  /* stored now: bytes counted against the bound (each output with its key
   * and about 200 bytes of bookkeeping) and outputs; those being made or too
   * large to keep are not counted */
  size_t bytes, entries;
  uint64_t hits, misses, shared, evictions, superseded, fills_failed;
} reads_cache_stats;

typedef struct reads_cache reads_cache;

/*
 * A cache of at most max_bytes of outputs, each counted with its key and a
 * small fixed overhead (0: nothing is kept, but concurrent fills of one key
 * are still shared). With m, it registers and
 * updates pgopipe_read_cache_bytes, pgopipe_read_cache_entries (gauges) and
 * pgopipe_read_cache_evictions_total{reason="size"|"superseded"}. Returns
 * NULL on allocation failure (or a metric name already registered in m).
 * Owned by the caller: reads_cache_free.
 */
reads_cache *reads_cache_new(size_t max_bytes, svc_metrics *m);

/* Frees the cache; no item may be referenced any more. NULL is fine. */
void reads_cache_free(reads_cache *c);

/*
 * The output stored under key, made by fill(ctx, ...) when absent. Exactly
 * one caller at a time runs the fill of a key; the others asking for it
 * meanwhile wait and share its result, success or failure. group names the
 * source (e.g. its blob key): storing an output whose version is newer
 * (later last-modified time) drops the outputs of the same group made from
 * older versions. An output larger than the cache is returned but not kept.
 * key NULL: no caching at all (the fill runs and its output is returned).
 * Returns 0 with *item referenced (reads_cache_release), or the fill's code
 * with its message. *outcome (may be NULL) says how the item was found.
 * Cost: a hash lookup under one mutex; eviction is O(1) per entry.
 */
int reads_cache_get(reads_cache *c, const char *key, const char *group, reads_fill_fn fill, void *ctx,
                    const reads_item **item, reads_cache_outcome *outcome, char *err, size_t errlen);

/* Drops the reference reads_cache_get gave; NULL is fine. */
void reads_cache_release(reads_cache *c, const reads_item *item);

/* A snapshot of the counters. */
void reads_cache_stats_get(reads_cache *c, reads_cache_stats *out);

/* ---- serving a read ---- */

typedef struct reads_config {
  blob_store *blob;         /* where sources live (not owned) */
  size_t max_source_bytes;  /* largest source read (--max-download-bytes); 0 = no limit */
  size_t cache_bytes;       /* bound of the output cache (--read-cache-bytes); 0 = keep nothing */
  svc_metrics *metrics;     /* optional: the cache's and the reads' metrics go here */
} reads_config;

typedef struct reads reads;

/*
 * Creates the read side. With metrics it registers, besides the cache's,
 * pgopipe_read_cache_hits_total{format} and pgopipe_read_cache_misses_total{format}
 * (answers served from a stored output, or made for this request) and
 * pgopipe_read_conversion_seconds{format,encoding} (time to make an output
 * from the source's bytes: decode and convert for "identity", compress for
 * "gzip"; pprof is never converted). Returns 0, or -1 with err.
 * Owned by the caller: reads_free.
 */
int reads_new(const reads_config *cfg, reads **out, char *err, size_t errlen);

/* Frees it; no answer may be outstanding. NULL is fine. */
void reads_free(reads *r);

/* The answer to one read. */
typedef struct reads_answer {
  int status;              /* 200, 304, 404, 422, 500 or 503 */
  char message[1024];      /* status >= 400: what went wrong, for the JSON error */
  const char *blob_op;     /* a failed store operation ("stat", "get"), else NULL */
  const char *content_type;
  const char *content_encoding; /* "gzip" or NULL */
  int vary_encoding;       /* answer Vary: Accept-Encoding (compressible formats, 200 and 304) */
  char etag[160];          /* "" when the source has none */
  int64_t mtime_ms;        /* the source version's last-modified time */
  char filename[LAYOUT_APP_MAX + 64];
  const uint8_t *body;     /* 200: the bytes, valid until reads_answer_done */
  size_t len;
  reads_cache_outcome cache; /* 200: how the output was found */
  const reads_item *item_; /* private */
} reads_answer;

/*
 * Answers rq: stats the source (404 when absent, 503 when the store fails),
 * answers 304 when if_none_match (may be NULL) matches the answer's ETag,
 * else finds or makes the output (gzip-encoded for compressible formats
 * when accept_encoding accepts gzip). Conversion failures: 422 when the
 * profile cannot be written in the format (e.g. chrome of a heap profile,
 * preprofile of a profile without Function.start_line), 500 when the stored
 * base does not decode or is larger than max_source_bytes. Always fills *a;
 * call reads_answer_done afterwards. Safe from many threads at once.
 */
void reads_serve(reads *r, const reads_request *rq, const char *if_none_match, const char *accept_encoding,
                 reads_answer *a);

/* Releases what a 200 answer holds (nothing for the others). */
void reads_answer_done(reads *r, reads_answer *a);

#ifdef __cplusplus
}
#endif
#endif
