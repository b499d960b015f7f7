/*
 * view.h — what the web UI shows, apart from HTTP: the apps and the profile
 * kinds each has a base of, and the call-tree JSON of one profile or the
 * diff of two (lib/pprof's pp_export_tree and pp_export_diff, whose JSON
 * shapes export.h documents).
 *
 * A profile is named by a view_source: an app, a kind and either nothing
 * (the kind's base, layout_kind_base_key) or a time range [from, to) read
 * through the range reader the server installs (view_config.range; without
 * one a range is VIEW_ENORANGE, which servers answer with 400).
 *
 * Cache. Making the tree of a 4 MB base costs ~40 ms (read, decode, tree);
 * the UI asks for the same tree again and again (every page load, every
 * change of sample type or detail), so the JSON is kept, keyed by what it
 * was made from: the source's identity (the base's ETag, or the range
 * reader's identity) and the options. A new base has a new ETag, so nothing
 * stale is served; asking costs a blob_stat (a HEAD on S3). Entries are
 * dropped least recently used first beyond view_config.cache_bytes.
 * The result's ETag is a digest of that key, so a client's If-None-Match
 * is answered without making or copying any JSON.
 *
 * Thread safety: every function may be called from many threads at once on
 * one view (the cache has a lock; the work is done outside it, so two
 * threads missing the same entry at once both make it).
 */
#ifndef PGOPIPE_VIEW_H
#define PGOPIPE_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "export.h"
#include "layout.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  VIEW_OK = 0,
  VIEW_NOT_MODIFIED = 1,   /* the client's If-None-Match names the result (304) */
  VIEW_EINVAL = -1,        /* a bad app, kind, range or option (400) */
  VIEW_ENOTFOUND = -2,     /* no such base / nothing in the range (404) */
  VIEW_ESTORE = -3,        /* the blob store failed (503) */
  VIEW_EPROFILE = -4,      /* a stored profile does not decode or is over the limits (500) */
  VIEW_EINCOMPATIBLE = -5, /* diff of profiles of different sample types (422) */
  VIEW_ENORANGE = -6,      /* a time range, but the server has no range reader (400) */
  VIEW_ENOMEM = -7         /* out of memory (500) */
};

/* The HTTP status that answers a VIEW_* code (200 for VIEW_OK, 304, 400...). */
int view_http_status(int code);

/*
 * A range reader: the profile of app's kind made of what was uploaded in
 * [from_ns, to_ns) (both already rounded down to the hour). On success
 * returns 0 with *data (malloc'd, the caller frees; gzipped or raw
 * profile.proto) and *len, and writes into identity (idlen bytes) a string
 * that changes whenever the data would (e.g. the ETags of what it read), or
 * "" when the result must not be cached. Otherwise a negative VIEW_E* code
 * with a message in err (VIEW_ENOTFOUND: nothing in the range).
 */
typedef int (*view_range_fn)(void *ctx, const char *app, layout_kind kind, int64_t from_ns, int64_t to_ns,
                             uint8_t **data, size_t *len, char *identity, size_t idlen, char *err,
                             size_t errlen);

typedef struct view_config {
  blob_store *blob;         /* where the bases are (not owned) */
  size_t max_input_bytes;   /* largest stored profile read; 0 = PP_DEFAULT_MAX_INPUT */
  size_t max_decoded_bytes; /* largest decoded profile; 0 = PP_DEFAULT_MAX_DECODED */
  size_t cache_bytes;       /* bound of the JSON cache; 0 = 64 MiB */
  view_range_fn range;      /* NULL: time ranges are not served */
  void *range_ctx;
} view_config;

typedef struct view view;

/* Creates a view (cfg copied). Returns 0 and *out (caller frees with
 * view_free) or VIEW_ENOMEM. */
int view_new(const view_config *cfg, view **out);
void view_free(view *v);

/* 1 when the view serves time ranges (a range reader is installed). */
int view_has_ranges(const view *v);

/* ---- Apps ---- */

/* One kind of one app. */
typedef struct view_kind {
  layout_kind kind;
  int has_base;        /* the base exists (the fields below describe it) */
  uint64_t size;       /* bytes */
  int64_t mtime_ms;    /* last modified */
  int64_t first_hour;  /* hour buckets held (layout_hour_key), -1 when none */
  int64_t last_hour;
  size_t hours;        /* how many */
} view_kind;

typedef struct view_app {
  char app[LAYOUT_APP_MAX + 1];
  view_kind kinds[LAYOUT_KIND_COUNT]; /* in layout_kind order, only those the app has */
  size_t nkinds;
} view_app;

/*
 * Lists every app that has a base or hour buckets of some kind, in the
 * store's key order, with its kinds. One pass over every key of the store
 * (the blob interface lists by prefix only): its cost grows with what is
 * stored, staging and history included. On success *out is a malloc'd
 * array of *n entries (caller frees; NULL when none). Returns 0 or
 * VIEW_ESTORE / VIEW_ENOMEM with a message in err.
 */
int view_list_apps(view *v, view_app **out, size_t *n, char *err, size_t errlen);

/*
 * 1 when format (a row of pp_export_format) makes sense for kind: chrome,
 * pgo and preprofile are CPU-only (a Chrome profile counts CPU samples; the
 * compiler reads CPU profiles only), the others fit every kind.
 */
int view_format_fits(const char *format, layout_kind kind);

/* ---- Trees ---- */

/* A profile to show. */
typedef struct view_source {
  const char *app;
  layout_kind kind;
  int64_t from_ns, to_ns; /* a time range when from_ns < to_ns; both 0: the base */
} view_source;

/* A tree or diff: JSON and the ETag naming it. */
typedef struct view_out {
  uint8_t *json; /* malloc'd, the caller frees; NULL with VIEW_NOT_MODIFIED */
  size_t len;
  char etag[48]; /* quoted strong validator: "\"t-<hex>\"" */
} view_out;

/*
 * The tree JSON (pp_export_tree) of src with opts (sample_type, min_share,
 * max_top are read). if_none_match: the request's If-None-Match value or
 * NULL; when it names the result's ETag (or is "*"), VIEW_NOT_MODIFIED is
 * returned with out->etag and no JSON. Otherwise VIEW_OK and out->json, or
 * a negative VIEW_E* code with a message in err.
 */
int view_tree(view *v, const view_source *src, const pp_export_opts *opts, const char *if_none_match,
              view_out *out, char *err, size_t errlen);

/*
 * The diff JSON (pp_export_diff) of cur against base, as view_tree. The
 * sample type is chosen in cur; base must have it (else VIEW_EINCOMPATIBLE).
 */
int view_diff(view *v, const view_source *base, const view_source *cur, const pp_export_opts *opts,
              const char *if_none_match, view_out *out, char *err, size_t errlen);

/* Entries and bytes in the cache (tests, metrics). */
void view_cache_stats(view *v, size_t *entries, size_t *bytes, uint64_t *hits, uint64_t *misses);

#ifdef __cplusplus
}
#endif
#endif
