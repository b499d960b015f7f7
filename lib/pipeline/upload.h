/*
 * upload.h — what an upload is: the business rule behind
 * POST /api/profile/{app}, apart from HTTP so that tests reach it directly.
 *
 * An upload is accepted only when all of this holds, in this order:
 *   1. the app name is valid (layout_app_valid: ^[a-z0-9-]{1,63}$)  (else 400)
 *   2. the body decodes as a valid pprof profile within the limits
 *      (pp_decode)                                  (413 too big, 400 malformed)
 *   3. it is a CPU profile, the only kind `go build -pgo` uses
 *      (pp_check_cpu)                                  (422 naming what it is)
 *   4. it is stored at a fresh {app}/staging/{unix_nanos}-{8 hex}
 *      (layout_staging_key_new), gzipped (503 on a blob store error)
 *   5. profile.uploaded {app, profileKey} is published with key = app and
 *      acknowledged by the bus (503 on failure, after deleting the staged
 *      object again)
 * and only then is the answer 201 {"key": ...}. An upload is therefore
 * either acknowledged and announced (and will be merged), or refused with
 * nothing left behind — never half-accepted.
 *
 * Storage format: a gzipped body is stored byte for byte as received (it was
 * just decoded and validated, so it is a well-formed gzip stream of a valid
 * profile; recompressing would cost CPU on the hot path for nothing, and the
 * worker decodes it again anyway). A raw (uncompressed) body is re-encoded
 * by the engine (pp_encode, gzip level 6), so every staged object is gzip.
 * A body carrying comments that start with "pgopipe-" (pgopipe's own
 * records, which clients must not forge) is re-encoded without them.
 *
 * With a kind (upload_accept_opts, ?kind=K on the route) step 3 becomes the
 * kind rule of lib/ingest (ingest_kind_detect: the sample types decide, the
 * hint must agree, 422 otherwise) and the upload carries its metadata
 * (push.h): kind, mode (cumulative exactly when an instance is given),
 * source, labels, instance and time, in the staged object (the
 * "pgopipe-upload:" comment) and in profile.uploaded. A CPU upload without
 * instance or labels has the default metadata and is stored as above.
 */
#ifndef PGOPIPE_UPLOAD_H
#define PGOPIPE_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "corelog.h"
#include "ingest.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct upload_config {
  blob_store *blob;         /* where staged uploads go (not owned) */
  bus_writer *bus;          /* where profile.uploaded goes (not owned) */
  size_t max_input_bytes;   /* body limit handed to pp_decode; 0 = engine default */
  size_t max_decoded_bytes; /* decompressed limit; 0 = engine default */
  core_logger log;          /* where an upload left behind is reported; {0} = silent */
  int64_t retention_ns;     /* an upload's time_nanos older than this is replaced by the
                               receipt time (ingest_upload_time); 0 = no lower bound */
} upload_config;

/* Why an upload was refused; also the label of the rejection metric. */
typedef enum upload_reason {
  UPLOAD_OK = 0,
  UPLOAD_BAD_APP,    /* 400 */
  UPLOAD_MALFORMED,  /* 400 */
  UPLOAD_TOO_BIG,    /* 413 */
  UPLOAD_NOT_CPU,    /* 422 (no kind given: CPU profiles only) */
  UPLOAD_BAD_KIND,   /* 422 (a kind given: unsupported sample types, or the kind contradicts them) */
  UPLOAD_BLOB,       /* 503: storing failed */
  UPLOAD_PUBLISH,    /* 503: announcing failed (staged object removed) */
  UPLOAD_INTERNAL    /* 500: out of memory and the like */
} upload_reason;

typedef struct upload_result {
  int status;            /* HTTP status: 201 or the error's */
  upload_reason reason;
  char key[128];         /* on 201: the staged key (app <= 63 + "/staging/" + 19 + "-" + 8) */
  char id[128];          /* push_accept: the upload's profefe id (push_profefe_id), "" when
                            nothing was stored */
  int stored;            /* 1 when an object was staged (0: an empty push, or refused) */
  size_t stored_bytes;   /* its size */
  char message[1024];    /* on error: one line for the client and the log */
  int orphaned;          /* 1 when the publish failed and the staged object
                            could not be removed either (logged) */
  int64_t decode_ns;     /* time spent validating (decode + kind check + re-encode) */
  int64_t store_ns;      /* time spent in blob_put */
  int64_t publish_ns;    /* time spent in bus_publish_event */
} upload_result;

/* Short static label of a reason ("ok", "bad_app", "malformed", "too_big",
 * "not_cpu", "bad_kind", "blob", "publish", "internal"). */
const char *upload_reason_name(upload_reason r);

/*
 * Applies the rule above to one body. body/len are not retained. Fills *res
 * (always) and returns 0 when accepted (status 201), -1 otherwise. Blocks on
 * the blob store and the bus; safe to call from many threads at once.
 */
int upload_accept(const upload_config *cfg, const char *app, const uint8_t *body, size_t len,
                  upload_result *res);

/* What the native route's query adds (all optional). */
typedef struct upload_opts {
  const char *kind;             /* ?kind=K: NULL or "" = none (CPU only, autopgo's rule) */
  const char *instance;         /* ?instance=ID: the instance of a cumulative snapshot; NULL/"" = none */
  const ingest_labels *labels;  /* ?label=k=v (repeated); NULL = none */
  ingest_source source;         /* INGEST_SOURCE_API, or INGEST_SOURCE_SCRAPER for the scraper */
} upload_opts;

/*
 * upload_accept with the query's kind, instance and labels (opts NULL =
 * upload_accept). An unknown kind is 400 ("unknown kind \"x\": want cpu,
 * heap, mutex, block, goroutine or threadcreate (allocs = heap)"); the kind
 * rule is 422 (UPLOAD_BAD_KIND); a label or instance that is not UTF-8 or
 * does not fit profile.uploaded (bus.h capacities) is 400. Success is 201.
 */
int upload_accept_opts(const upload_config *cfg, const char *app, const uint8_t *body, size_t len,
                       const upload_opts *opts, upload_result *res);

#ifdef __cplusplus
}
#endif
#endif
