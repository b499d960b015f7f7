/*
 * ingest.h — the push protocols pgopipe accepts (Pyroscope /ingest, profefe
 * /api/0/profiles, traceway /api/profiles/ingest) and the upload metadata
 * every accepted upload carries, as pure functions.
 *
 * Everything here is bytes and strings in, parsed values out: no network,
 * no files, no clocks (callers pass `now`), no globals, no logging. The HTTP
 * server hands a request over as an ingest_request and gets back either an
 * ingest_upload (the decoded profile, its kind, its app and its metadata)
 * or an HTTP status with a message, which the reply functions turn into the
 * protocol's own error body. The pieces the request functions are made of
 * (multipart, Pyroscope names and times, sample_type_config, profefe
 * parameters, service-name normalisation, kind detection, the stateless
 * prev_profile delta, credentials) are public too, each documented below.
 *
 * Depends on lib/core, lib/pprof and jansson only.
 *
 * Errors: functions return 0 (INGEST_OK) or a negative INGEST_E* code and,
 * when the caller passes a buffer, write one line a user can act on. The
 * code says which HTTP status the protocols answer (see each enum value).
 *
 * Memory: every pointer a function hands out is owned by the caller and
 * freed with the matching *_free function (or free() where it says so).
 * Structures filled by a parser are left empty (safe to free) on error.
 *
 * Hostile input: request parsers never read outside the buffers given,
 * do not recurse on input structure (JSON goes through jansson, whose
 * parser bounds its nesting depth), and bound what they allocate by the
 * limits passed in (multipart part count and header size; profile sizes
 * through pp_limits). Every parser of client input is fuzzed
 * (tests/ingest/fuzz_ingest.c).
 *
 * The choices a reader might look for (collisions of service names, the
 * hash of long names, what counts as cumulative, where this parser is
 * stricter than the agents' own servers) are in lib/ingest/README.md.
 */
#ifndef PGOPIPE_INGEST_H
#define PGOPIPE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "layout.h"
#include "pprof.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  INGEST_OK = 0,
  INGEST_ENOMEM = -1,  /* allocation failed (HTTP 500) */
  INGEST_EINVAL = -2,  /* malformed request or profile (HTTP 400) */
  INGEST_ETOOBIG = -3, /* over a size or count limit (HTTP 413) */
  INGEST_EKIND = -4,   /* a valid profile of a refused kind, or a hint that
                          contradicts its sample types (HTTP 422) */
  INGEST_EAUTH = -5,   /* missing or wrong credentials (HTTP 401) */
  INGEST_EMETHOD = -6, /* wrong HTTP method (HTTP 405) */
  INGEST_EMEDIA = -7   /* unsupported body format or encoding (HTTP 415) */
};

/* Short static name of an INGEST_E* code ("malformed", "too big", ...). */
const char *ingest_strerror(int code);
/* The HTTP status the protocols answer for an INGEST_E* code (200 for OK). */
int ingest_http_status(int code);

/* ======================================================================
 * Labels: an ordered list of key/value strings (request labels, query
 * parameters). Keys may repeat. Strings are NUL-terminated copies owned by
 * the list; a zeroed struct is an empty list.
 * ====================================================================== */

typedef struct ingest_label {
  char *key;
  char *value;
} ingest_label;

typedef struct ingest_labels {
  ingest_label *v;
  size_t n, cap;
} ingest_labels;

/* Appends a copy of key[0..klen) = value[0..vlen). Returns 0 or INGEST_ENOMEM. */
int ingest_labels_add(ingest_labels *l, const char *key, size_t klen, const char *value, size_t vlen);
/* The value of the first pair with this key, or NULL. */
const char *ingest_labels_get(const ingest_labels *l, const char *key);
/* Sorts by key (bytewise), keeping the order of pairs with equal keys. */
void ingest_labels_sort(ingest_labels *l);
/* Sorts by key and keeps only the LAST pair of each key (a map's rule). */
void ingest_labels_sort_unique(ingest_labels *l);
/* Replaces dst (freed first) with a copy of src. Returns 0 or INGEST_ENOMEM. */
int ingest_labels_copy(ingest_labels *dst, const ingest_labels *src);
/* "k=v,k2=v2" in list order, no escaping (profefe's Labels.String form);
 * "" for an empty list. malloc'd (free()); NULL on allocation failure. */
char *ingest_labels_string(const ingest_labels *l);
/* Frees the strings and the array; the list is empty afterwards. */
void ingest_labels_free(ingest_labels *l);

/* ======================================================================
 * URL query strings
 * ====================================================================== */

/*
 * Decodes %XX escapes of s[0..n) (and '+' as a space when plus_is_space, as
 * Go's url.QueryUnescape does) into a malloc'd NUL-terminated string *out
 * (free()). A '%' not followed by two hex digits is INGEST_EINVAL ("bad
 * escape \"%zz\" in ...").
 */
int ingest_url_unescape(const char *s, size_t n, int plus_is_space, char **out, char *err, size_t errlen);

/*
 * Parses a raw query string (without '?', NULL = empty) the way Go's
 * url.ParseQuery does: pairs separated by '&', key and value unescaped
 * ('+' = space), a pair without '=' has an empty value, empty pairs are
 * skipped, order is kept, keys may repeat. A ';' in a pair or a bad escape
 * is INGEST_EINVAL. *out must be empty; it is left empty on error.
 */
int ingest_query_parse(const char *query, ingest_labels *out, char *err, size_t errlen);

/* ======================================================================
 * multipart/form-data (RFC 7578, RFC 2046 §5.1), a complete body in memory
 * ====================================================================== */

typedef struct ingest_multipart_limits {
  size_t max_parts;        /* parts in a body; 0 = INGEST_MULTIPART_MAX_PARTS */
  size_t max_header_bytes; /* one part's header block; 0 = INGEST_MULTIPART_MAX_HEADER */
} ingest_multipart_limits;

#define INGEST_MULTIPART_MAX_PARTS 16
#define INGEST_MULTIPART_MAX_HEADER 8192
#define INGEST_BOUNDARY_MAX 70 /* RFC 2046 */

typedef struct ingest_part {
  char *name;         /* Content-Disposition form-data name; "" when absent (owned by the form) */
  char *filename;     /* NULL when the part has none (a plain value part) (owned by the form) */
  char *content_type; /* NULL when absent (owned by the form) */
  const uint8_t *data;      /* points INTO the body given to ingest_multipart_parse */
  size_t len;
} ingest_part;

typedef struct ingest_form {
  ingest_part *parts; /* in body order */
  size_t nparts;
} ingest_form;

/* 1 when the media type of a Content-Type value is multipart/form-data
 * (case-insensitive, parameters ignored), else 0. NULL gives 0. */
int ingest_is_multipart(const char *content_type);

/*
 * The boundary parameter of a multipart Content-Type, quoted
 * (boundary="a b") or not (boundary=abc), copied into out (>=
 * INGEST_BOUNDARY_MAX + 1 bytes). INGEST_EINVAL when the media type is not
 * multipart/form-data, the parameter is missing, empty, longer than 70
 * characters, has characters outside RFC 2046's bchars, ends in a space, or
 * the parameter list does not parse ("multipart: missing boundary in
 * Content-Type \"multipart/form-data\"").
 */
int ingest_multipart_boundary(const char *content_type, char *out, size_t outlen, char *err, size_t errlen);

/*
 * Splits a complete multipart/form-data body into its parts, the way Go's
 * mime/multipart reader does: an optional preamble, then parts each
 * introduced by "--boundary" (transport padding of spaces and tabs allowed
 * after it) and a line end, a header block ended by an empty line, the
 * content up to the next "CRLF--boundary", and "--boundary--" at the end
 * (the epilogue after it is ignored). Line ends are CRLF, or LF when the
 * first boundary line ends with a bare LF (Go accepts both). Header names
 * are case-insensitive; Content-Disposition must be form-data to give the
 * part a name (its parameters name and filename may be quoted-strings with
 * backslash escapes or tokens); Content-Type is kept; other headers
 * (Content-Transfer-Encoding included) are ignored; folded header lines are
 * refused. Parts without a name are kept with name "". Part data is not
 * copied: form's parts point into body, which must outlive the form.
 * Errors: INGEST_EINVAL for a bad Content-Type or boundary, a body that does
 * not start with the boundary (after a preamble), an unterminated body (no
 * closing delimiter), a malformed header block ("multipart: part 2: header
 * line without ':'"); INGEST_ETOOBIG over a limit ("multipart: more than 16
 * parts", "multipart: part 1: header block over 8192 bytes").
 * lim may be NULL for the defaults. Cost: O(len) (glibc memmem).
 */
int ingest_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                           const ingest_multipart_limits *lim, ingest_form *form, char *err, size_t errlen);

/* The first part with this name, or NULL. */
const ingest_part *ingest_form_part(const ingest_form *f, const char *name);
/* Frees what ingest_multipart_parse allocated; the form is empty afterwards. */
void ingest_form_free(ingest_form *f);

/* ======================================================================
 * Kinds (design §1)
 * ====================================================================== */

typedef enum ingest_kind {
  INGEST_KIND_NONE = 0, /* no kind / no hint */
  INGEST_KIND_CPU,
  INGEST_KIND_HEAP,
  INGEST_KIND_MUTEX,
  INGEST_KIND_BLOCK,
  INGEST_KIND_GOROUTINE,
  INGEST_KIND_THREADCREATE
} ingest_kind;

#define INGEST_KIND_MAX INGEST_KIND_THREADCREATE
#define INGEST_MAX_COLUMNS 8

/* "cpu", "heap", "mutex", "block", "goroutine", "threadcreate"; "" for NONE. */
const char *ingest_kind_name(ingest_kind k);

/* Parses a kind name (also "allocs", which is heap). Returns 0, or
 * INGEST_EINVAL for anything else (k untouched). */
int ingest_kind_parse(const char *s, ingest_kind *k);

typedef struct ingest_kind_info {
  ingest_kind kind;
  size_t ncols;                           /* the profile's sample types */
  unsigned char gauge[INGEST_MAX_COLUMNS]; /* per column, in the profile's order:
                                             1 gauge (inuse_*, goroutine), 0 counter */
} ingest_kind_info;

/*
 * The kind of a decoded profile from its sample types, compared as a set
 * (type/unit pairs, any order):
 *   samples/count, cpu/nanoseconds + period type cpu/nanoseconds  cpu
 *   alloc_objects/count, alloc_space/bytes,
 *   inuse_objects/count, inuse_space/bytes                          heap
 *   contentions/count, delay/nanoseconds                            mutex or block, by hint only
 *   goroutine/count                                                 goroutine
 *   threadcreate/count                                              threadcreate
 * hint (INGEST_KIND_NONE = none) must agree with the detected kind; for
 * contentions/delay it must be mutex or block. Errors, all INGEST_EKIND:
 * "unsupported profile kind: sample types x/y (want the sample types of a
 * cpu, heap, mutex, block, goroutine or threadcreate profile)"; "a
 * contentions/delay profile is a mutex or a block profile: only a kind
 * hint tells them apart, and there is none"; "kind hint \"heap\"
 * contradicts the profile's sample types samples/count,cpu/nanoseconds (a
 * cpu profile)". On success out->gauge marks the gauge columns.
 */
int ingest_kind_detect(const pp_profile *p, ingest_kind hint, ingest_kind_info *out, char *err, size_t errlen);

/* Fills factors[0..ki->ncols) for pp_scale_columns: counter_factor on
 * counter columns, gauge_factor on gauge columns (e.g. -1, 0 to subtract a
 * previous snapshot; 0, 1 to keep only the gauges). */
void ingest_kind_factors(const ingest_kind_info *ki, int64_t counter_factor, int64_t gauge_factor,
                         int64_t *factors);

/* ======================================================================
 * Service names → app names (contract, "Push ingestion")
 * ====================================================================== */

/*
 * Normalises a service name into an app name (^[a-z0-9-]{1,63}$): ASCII
 * letters lowercased; every run of other bytes outside [a-z0-9] (non-ASCII
 * bytes included) becomes one '-'; leading and trailing '-' dropped; a
 * result longer than 63 becomes its first 54 characters, '-', and the 8
 * lowercase hex digits of FNV-1a 32 (ingest_fnv1a32) of the ORIGINAL name's
 * bytes. app must hold LAYOUT_APP_MAX + 1 bytes. Empty result (or NULL) is
 * INGEST_EINVAL ("service name \"..\" has no letters or digits: it
 * normalises to an empty app name").
 *
 * Collisions are by design: names that differ only in case or punctuation
 * (api.v2, api_v2, API-v2) share one app and its bases; each upload keeps
 * its original name in its metadata (ingest_meta.name), so what was merged
 * into an app can be told apart. Long names can only collide if their
 * first 54 normalised characters and their 32-bit hashes both agree.
 */
int ingest_app_from_service(const char *name, char *app, size_t applen, char *err, size_t errlen);

/* FNV-1a, 32 bits (offset basis 2166136261, prime 16777619). */
uint32_t ingest_fnv1a32(const void *data, size_t n);

/* ======================================================================
 * Pyroscope
 * ====================================================================== */

/*
 * Splits Pyroscope's `name` parameter, `service{k=v,k2=v2}`: the service is
 * everything before the first '{', trimmed (spaces and tabs); the labels
 * part runs to the first '}' (text after it is ignored, as Pyroscope does);
 * pairs are separated by ',' and split at their first '='; there is no
 * escaping (a value ends at ',' or '}'); keys and values are trimmed; empty
 * pairs ("{}", a trailing ',') are skipped; the reserved key __name__ is
 * dropped; a repeated key keeps its last value; labels are sorted by key.
 * *service is malloc'd (free()); labels must be empty.
 * INGEST_EINVAL: no service ("name \"{env=prod}\" has no service name"), a
 * '{' without '}', a pair without '=' or with an empty key.
 */
int ingest_pyroscope_name(const char *name, char **service, ingest_labels *labels, char *err, size_t errlen);

/*
 * Pyroscope's `from`/`until` time, as its attime.Parse reads it, in ns since
 * the epoch: spaces, '_' and ',' removed; all digits: length 8 and a valid
 * date after 1900 = YYYYMMDD (midnight UTC), 13 = ms, 16 = µs, 19 = ns, any
 * other length = seconds; "now" or "" = now_ns; "now-1h", "now+30m",
 * "-15s" = now_ns plus the offset (a sequence of NUMBER UNIT with units s,
 * m/min, h, d, w, M/mon (30 d), y (365 d); unit prefixes as in Pyroscope).
 * NULL is "". INGEST_EINVAL for anything else or a value out of the int64 ns
 * range ("bad time \"x\": want Unix seconds, ms, µs or ns, YYYYMMDD, or
 * now[-offset]").
 */
int ingest_pyroscope_time(const char *s, int64_t now_ns, int64_t *out_ns, char *err, size_t errlen);

/* One entry of a sample_type_config. Missing keys: "" and 0. */
typedef struct ingest_stc_entry {
  char *sample_type;  /* the pprof sample type it configures */
  char *display_name; /* "display-name" */
  char *units;
  char *aggregation;
  int cumulative;
  int sampled;
} ingest_stc_entry;

typedef struct ingest_stc {
  ingest_stc_entry *v;
  size_t n;
} ingest_stc;

/*
 * Parses a sample_type_config part: a JSON object mapping sample types to
 * objects with optional "display-name", "units", "aggregation" (strings)
 * and "cumulative", "sampled" (booleans); unknown keys are ignored, a
 * missing key is "" / false. INGEST_EINVAL for other JSON or wrong value
 * types ("sample_type_config: \"delay\": \"cumulative\" is not a boolean").
 * *out must be empty.
 */
int ingest_stc_parse(const uint8_t *json, size_t len, ingest_stc *out, char *err, size_t errlen);
/* The entry for a sample type, or NULL. */
const ingest_stc_entry *ingest_stc_find(const ingest_stc *stc, const char *sample_type);
/* Frees the entries; the config is empty afterwards. */
void ingest_stc_free(ingest_stc *stc);

/*
 * 1 when the sample type is cumulative: by its sample_type_config entry when
 * stc is given (no entry = not cumulative), else by Pyroscope's default
 * mapping, where alloc_objects, alloc_space, contentions and delay are
 * cumulative and nothing else is.
 */
int ingest_stc_cumulative(const ingest_stc *stc, const char *sample_type);

/*
 * The kind hint a sample_type_config carries: display-names starting with
 * "mutex_" say mutex, "block_" say block (the only way to tell them apart,
 * as Pyroscope's server reads them); none says INGEST_KIND_NONE.
 * INGEST_EKIND when both appear. stc may be NULL.
 */
int ingest_stc_kind_hint(const ingest_stc *stc, ingest_kind *hint, char *err, size_t errlen);

/* The connect error code for an HTTP status, as Pyroscope's server writes
 * it (its connectgrpc.HTTPToCode): 400 and 413 invalid_argument, 401
 * unauthenticated, 403 permission_denied, 404 unimplemented, 412
 * failed_precondition, 429 and 431 resource_exhausted, 499 canceled, 502
 * and 503 unavailable, 504 deadline_exceeded; except that 500 is internal
 * (connect's code for it; Pyroscope's table says unknown); anything else
 * (405, 415, 422, ...) unknown. */
const char *ingest_connect_code(int http_status);

/* ======================================================================
 * profefe
 * ====================================================================== */

/* profefe's `type`: cpu, heap, block, mutex, goroutine, threadcreate give
 * that kind as *hint; "other" gives INGEST_KIND_NONE (no hint); "trace"
 * returns 1 (not a pprof profile); 0 otherwise. Anything else (surrounding
 * spaces are trimmed, as profefe does) is INGEST_EINVAL "unknown profile
 * type \"x\"". */
int ingest_profefe_type(const char *s, ingest_kind *hint, char *err, size_t errlen);

/*
 * profefe's `labels=k=v,k2=v2` (already query-decoded once): pairs split at
 * ',', each at its first '='; key and value trimmed, then %-unescaped ('+'
 * = space) like Go's url.QueryUnescape; empty keys skipped (so kprofefe's
 * leading ',' is harmless); a pair without '=' has an empty value; sorted
 * by key, stable (a key may repeat). NULL or "" = no labels. *out must be
 * empty. INGEST_EINVAL for a bad escape.
 */
int ingest_profefe_labels(const char *s, ingest_labels *out, char *err, size_t errlen);

/* profefe's `created_at`, "2006-01-02T15:04:05" (no zone: UTC), in ns.
 * INGEST_EINVAL otherwise ("bad created_at \"x\": want 2006-01-02T15:04:05"). */
int ingest_profefe_created_at(const char *s, int64_t *ns, char *err, size_t errlen);

typedef struct ingest_profefe_params {
  char *service;        /* as sent (never NULL after success) */
  char *type;           /* as sent, trimmed */
  ingest_kind hint;     /* from type; NONE for "other" */
  int trace;            /* type=trace */
  ingest_labels labels; /* sorted */
  char *instance_id;    /* "" when absent */
  int64_t created_at_ns;
  int has_created_at;
} ingest_profefe_params;

/*
 * The parameters of POST /api/0/profiles (each already query-decoded; NULL
 * = absent). INGEST_EINVAL: missing or empty service ("missing
 * \"service\""), missing or unknown type, bad labels or created_at. *out is
 * zeroed first; free with ingest_profefe_params_free.
 */
int ingest_profefe_params_parse(const char *service, const char *type, const char *labels,
                                const char *instance_id, const char *created_at, ingest_profefe_params *out,
                                char *err, size_t errlen);
void ingest_profefe_params_free(ingest_profefe_params *p);

/* ======================================================================
 * Upload metadata (design §2)
 * ====================================================================== */

typedef enum ingest_mode {
  INGEST_MODE_DELTA = 0,  /* counter columns cover a window */
  INGEST_MODE_CUMULATIVE  /* counter columns count since the process started */
} ingest_mode;

typedef enum ingest_source {
  INGEST_SOURCE_API = 0, /* POST /api/profile/{app} */
  INGEST_SOURCE_SCRAPER,
  INGEST_SOURCE_PYROSCOPE,
  INGEST_SOURCE_PROFEFE,
  INGEST_SOURCE_TRACEWAY
} ingest_source;

/* "delta" / "cumulative" and back (0, or INGEST_EINVAL). */
const char *ingest_mode_name(ingest_mode m);
int ingest_mode_parse(const char *s, ingest_mode *m);
/* "api", "scraper", "pyroscope", "profefe", "traceway" and back. */
const char *ingest_source_name(ingest_source s);
int ingest_source_parse(const char *s, ingest_source *out);

typedef struct ingest_meta {
  ingest_kind kind;     /* never NONE in a valid record */
  ingest_mode mode;
  ingest_source source;
  char *name;           /* original service name; NULL = none */
  ingest_labels labels; /* request-level labels */
  char *instance;       /* instance identity; NULL = none ("") */
  int64_t time_ns;      /* the upload's time (ingest_upload_time); 0 = unknown */
  int64_t received_ns;  /* when the server received it; 0 = unknown */
} ingest_meta;

/* The comment that carries the record in a staged object. */
#define INGEST_META_COMMENT_PREFIX "pgopipe-upload: "
/* Comments with this prefix are pgopipe's own: removed from uploads. */
#define INGEST_RESERVED_COMMENT_PREFIX "pgopipe-"

/* The defaults of an upload without a record: kind cpu, mode delta, source
 * api, nothing else. (Zeroes m first; nothing to free.) */
void ingest_meta_init(ingest_meta *m);
/* Frees the strings and labels; m is back to the defaults. */
void ingest_meta_free(ingest_meta *m);
/* Replaces dst (freed first) with a deep copy of src. */
int ingest_meta_copy(ingest_meta *dst, const ingest_meta *src);
/* 1 when m is exactly the defaults of ingest_meta_init apart from the
 * times (a plain native CPU upload: the staged object needs no record). */
int ingest_meta_is_default(const ingest_meta *m);

/*
 * The record as compact JSON: {"kind":"heap","mode":"cumulative","source":
 * "profefe","name":"Checkout_API","labels":{"host":"web-1"},"instance":
 * "host=web-1","time":1763800000000000000,"received":1763800000123456789}.
 * name and instance are written only when set, labels only when non-empty
 * (a repeated key becomes an array of its values, in order), times only
 * when non-zero. *json is malloc'd (free()). INGEST_EINVAL when a name,
 * label or instance is not valid UTF-8 (JSON cannot carry it; the request
 * parsers refuse such input first).
 */
int ingest_meta_to_json(const ingest_meta *m, char **json, char *err, size_t errlen);

/*
 * Reads a record written by ingest_meta_to_json (unknown fields ignored,
 * missing ones default). INGEST_EINVAL for invalid JSON, a non-object, an
 * unknown kind/mode/source, or a field of the wrong type. m is initialised
 * here; on error it holds the defaults.
 */
int ingest_meta_from_json(const char *json, size_t len, ingest_meta *m, char *err, size_t errlen);

/* INGEST_META_COMMENT_PREFIX + the JSON, malloc'd (free()). */
int ingest_meta_comment(const ingest_meta *m, char **comment, char *err, size_t errlen);

/*
 * Finds the record among a profile's comments (the first comment starting
 * with INGEST_META_COMMENT_PREFIX) and reads it. *found = 0 and m = the
 * defaults when there is none (return 0). Errors as ingest_meta_from_json.
 */
int ingest_meta_from_profile(const pp_profile *p, ingest_meta *m, int *found, char *err, size_t errlen);

/*
 * Sets the optional fields of a profile.uploaded payload object: kind, mode,
 * source, name, labels, instance, time (the same encodings as the JSON
 * record; `received` is not part of the payload). app and profileKey are
 * not touched. Returns 0, INGEST_EINVAL (text not UTF-8, as for
 * ingest_meta_to_json) or INGEST_ENOMEM; after an error the payload may
 * hold some of the fields.
 */
int ingest_meta_payload_set(const ingest_meta *m, json_t *payload, char *err, size_t errlen);

/*
 * Reads those fields back from a payload object (absent fields: the
 * defaults, as for an autopgo server's events). Errors as
 * ingest_meta_from_json. m is initialised here.
 */
int ingest_meta_payload_get(const json_t *payload, ingest_meta *m, char *err, size_t errlen);

/*
 * The upload's time per the contract: time_nanos, unless it is 0 or outside
 * [now_ns - retention_ns, now_ns + 1h], then now_ns (the receipt time).
 * retention_ns <= 0 means no lower bound.
 */
int64_t ingest_upload_time(int64_t time_nanos, int64_t now_ns, int64_t retention_ns);

/*
 * The instance identity of an upload (design §2), malloc'd into *out
 * (free()), "" when there is none:
 *   pyroscope  the __session_id__ label of the name
 *   profefe    explicit (instance_id) when non-empty, else the labels as
 *              "k=v,k2=v2" (sorted as given), else ""
 *   traceway   explicit (serverName)
 *   api        explicit (?instance=)
 *   scraper    explicit (the target's address)
 * explicit may be NULL. Returns 0 or INGEST_ENOMEM.
 */
int ingest_instance_id(ingest_source src, const ingest_labels *labels, const char *explicit_id, char **out);

/*
 * The mode of an upload's counter columns from where it came (design §1):
 * cpu is always delta; pyroscope delta; profefe, traceway and the scraper
 * cumulative; the native route cumulative exactly when an instance was
 * given. (Pyroscope requests whose sample_type_config marks a counter
 * column cumulative without a prev_profile are cumulative:
 * ingest_pyroscope_request decides that.) Gauge columns are gauges in
 * every mode.
 */
ingest_mode ingest_mode_for(ingest_source src, ingest_kind kind, int has_instance);

/* ======================================================================
 * The stateless delta of old Pyroscope clients (profile - prev_profile)
 * ====================================================================== */

/*
 * Decodes profile and prev (each with lim; NULL = engine defaults) and
 * returns in *out profile - prev on the columns that are cumulative by
 * stc (ingest_stc_cumulative: the sample_type_config, or Pyroscope's
 * default mapping when stc is NULL); the other columns (in-use, goroutine)
 * are profile's as they are. The result's time is prev's and its duration
 * the distance to profile's time (the window the delta covers).
 * If any value of a cumulative column went down (the process restarted
 * between the two), *reset = 1 and *out is profile alone: a snapshot since
 * the restart counts from zero. Samples that cancel are dropped, so an
 * unchanged pair gives a profile without samples.
 * Errors: INGEST_EINVAL (either does not decode: "prev_profile: malformed
 * profile: ..."), INGEST_ETOOBIG, INGEST_EKIND (their sample types differ),
 * INGEST_ENOMEM. *out is owned by the caller (pp_free).
 */
int ingest_prev_delta(const uint8_t *profile, size_t plen, const uint8_t *prev, size_t prevlen,
                      const pp_limits *lim, const ingest_stc *stc, pp_profile **out, int *reset, char *err,
                      size_t errlen);

/* ======================================================================
 * Credentials of the push routes
 * ====================================================================== */

/*
 * Checks an Authorization header value against the configured token:
 * "Bearer TOKEN", or "Basic base64(user:TOKEN)" with any user (the scheme
 * names are case-insensitive, as RFC 7235 says). The token comparison takes
 * time that depends only on the length of what the client sent, never on
 * the token's content or length. Returns 0 when it matches; INGEST_EAUTH
 * otherwise ("missing Authorization header", "unsupported authorization
 * scheme \"Digest\": use Bearer or Basic", "malformed Basic credentials",
 * "wrong token"). token NULL or "" always fails (callers skip the check when
 * no token is configured).
 */
int ingest_auth_check(const char *authorization, const char *token, char *err, size_t errlen);

/* 1 when a[0..alen) equals b[0..blen); the running time depends on alen
 * only (b is the secret). */
int ingest_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Standard base64 (RFC 4648, '=' padding optional, no whitespace) of
 * s[0..n) into out (>= n / 4 * 3 + 3 bytes). Returns 0 and *outlen, or -1. */
int ingest_base64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen);

/* ======================================================================
 * Answers. Every function returns a malloc'd NUL-terminated body (free()),
 * NULL only when out of memory.
 * ====================================================================== */

/* Pyroscope's error body: {"code":"<connect code>","message":"..."} and a
 * newline (Go's json.Encoder), the code from ingest_connect_code. */
char *ingest_reply_pyroscope_error(int http_status, const char *message);

/* profefe's error body: {"code":N,"error":"..."} and a newline. */
char *ingest_reply_profefe_error(int http_status, const char *message);

/*
 * profefe's success envelope: {"code":200,"body":{"id":ID,"type":TYPE,
 * "service":SERVICE,"labels":[{"key":K,"value":V},...],"created_at":
 * "2019-05-01T18:45:00Z"}} and a newline; labels omitted when empty,
 * created_at truncated to the second (UTC).
 */
char *ingest_reply_profefe_ok(const char *id, const char *type, const char *service, const ingest_labels *labels,
                              int64_t created_at_ns);

/* One profile of profefe's read API listing (GET /api/0/profiles). */
typedef struct ingest_profefe_item {
  const char *id, *type, *service;
  const ingest_labels *labels; /* NULL or empty: no "labels" */
  int64_t created_at_ns;
} ingest_profefe_item;

/* {"code":200,"body":[{"id","type","service","labels","created_at"},...]}
 * and a newline: each item as in ingest_reply_profefe_ok's body. */
char *ingest_reply_profefe_list(const ingest_profefe_item *items, size_t n);

/* {"code":200,"body":["a","b",...]} and a newline (GET /api/0/services). */
char *ingest_reply_profefe_names(const char *const *names, size_t n);

/* {"code":200,"body":{"version":V,"commit":C,"build_time":T}} and a newline
 * (GET /api/0/version). */
char *ingest_reply_profefe_version(const char *version, const char *commit, const char *build_time);

/* traceway's error body {"error":"..."}; for 401 the body is empty (""),
 * as traceway's auth middleware answers. Success is INGEST_TRACEWAY_OK. */
char *ingest_reply_traceway_error(int http_status, const char *message);
#define INGEST_TRACEWAY_OK "{}"

/* ======================================================================
 * Whole requests
 * ====================================================================== */

typedef enum ingest_protocol {
  INGEST_PYROSCOPE = 0, /* POST /ingest, /pyroscope/ingest */
  INGEST_PROFEFE,       /* POST /api/0/profiles */
  INGEST_TRACEWAY       /* POST /api/profiles/ingest */
} ingest_protocol;

/* Looks up a query parameter's decoded value (the first, if repeated);
 * NULL when absent. The string must stay valid during the parse. */
typedef const char *(*ingest_param_fn)(void *ctx, const char *key);

/* What the server saw. Strings may be NULL when absent. */
typedef struct ingest_request {
  const char *method;
  const char *query;            /* raw query string, without '?' (parsed with
                                   ingest_query_parse); or NULL and: */
  const char *content_type;
  const char *content_encoding;
  const char *authorization;
  const uint8_t *body;
  size_t len;
  ingest_param_fn param;        /* used when query is NULL: parameters already
                                   decoded by the HTTP library ('+' as space) */
  void *param_ctx;
} ingest_request;

typedef struct ingest_config {
  const char *token;                /* NULL or "" = no credentials required */
  pp_limits limits;                 /* for every profile decoded */
  ingest_multipart_limits multipart;
  int64_t now_ns;                   /* receipt time */
  int64_t retention_ns;             /* for ingest_upload_time; <= 0 = none */
} ingest_config;

/* An accepted push. */
typedef struct ingest_upload {
  pp_profile *profile;  /* owned; the profile to store (NULL only when empty) */
  int empty;            /* 1: no samples — answer success, store nothing */
  int modified;         /* 1: profile differs from raw (delta taken, reserved
                           comments removed): encode it; 0: raw may be stored */
  const uint8_t *raw;   /* the pprof bytes as sent (points into the body) */
  size_t rawlen;
  char app[LAYOUT_APP_MAX + 1];
  ingest_kind_info kind;
  ingest_meta meta;     /* kind, mode, source, name, labels, instance, times */
  char *reply_type;     /* profefe: the type as sent, for the answer; else NULL */
  int prev_reset;       /* pyroscope prev_profile: the pair showed a restart */
  int64_t from_ns, until_ns; /* pyroscope: the window the client claims (from/until) */
} ingest_upload;

/*
 * Parses and checks a whole push of the given protocol. On success returns
 * 0 and fills *up (free with ingest_upload_free). On failure returns the
 * INGEST_E* code, sets *status to the HTTP status to answer and writes the
 * message for the body (the protocol's reply function makes the body).
 * Checks, in order: method POST (405); credentials when cfg->token is set
 * (401); parameters (400: Pyroscope a `name` with a service and valid
 * `from`/`until`, `format` absent or pprof; profefe `service` and a known
 * `type`, labels, created_at; traceway `service`); the body (415 for a
 * non-pprof Pyroscope format or a multipart body with a Content-Encoding;
 * 400 for a bad multipart body, a missing `profile` part, a bad
 * sample_type_config or a malformed profile; 413 over the limits); the kind
 * (422: unsupported sample types, or a hint — profefe `type`, Pyroscope
 * display-names — that contradicts them); the app name (400 when the
 * service normalises to empty); for Pyroscope a prev_profile is subtracted
 * (ingest_prev_delta). Comments starting with "pgopipe-" are removed from
 * the profile. The metadata's time follows ingest_upload_time with
 * cfg->now_ns and cfg->retention_ns.
 */
int ingest_request_parse(ingest_protocol proto, const ingest_request *rq, const ingest_config *cfg,
                         ingest_upload *up, int *status, char *msg, size_t msglen);

/* The protocol's error body for a status and message (see the reply
 * functions above); malloc'd, NULL when out of memory. */
char *ingest_reply_error(ingest_protocol proto, int http_status, const char *message);

/* Frees what ingest_request_parse filled; up is zeroed. */
void ingest_upload_free(ingest_upload *up);

#ifdef __cplusplus
}
#endif
#endif
