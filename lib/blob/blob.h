/*
 * blob.h — the blob store: where uploads are staged and base profiles live.
 *
 * Callers hold an opaque handle and never know which backend they talk to.
 * A backend is a name plus a table of operations (struct blob_backend in
 * blob_internal.h); one file per backend (file.c, s3.c). Adding another
 * store is one new file and one line in the URL dispatch of blob.c.
 *
 * URLs (see the contract):
 *   file:///ABS/DIR, file://./REL     objects are files under DIR
 *   s3://BUCKET?endpoint=URL&region=R&use_path_style=true
 *     optional: connect_timeout=5s, timeout=60s (per attempt), retries=3,
 *     retry_backoff=200ms; credentials from AWS_ACCESS_KEY_ID,
 *     AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (see lib/blob/README.md)
 *     Durations follow the common grammar (chrono_parse_duration: a whole
 *     number with ms, s, m or h); a bare number other than 0 is refused.
 *
 * Errors are values: 0 on success or a negative BLOB_E* code, with a message
 * naming the operation, key and cause written to err (when given), e.g.
 * "s3 PUT app/staging/1-ab: 403 SignatureDoesNotMatch: The request signature
 * we calculated does not match".
 *
 * Thread safety: every operation may be called from any thread on a shared
 * handle (the S3 backend keeps one connection-reusing curl handle per
 * thread).
 */
#ifndef PGOPIPE_BLOB_H
#define PGOPIPE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "corelog.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where the stores' warnings go (e.g. an s3:// URL parameter of gocloud's
 * that has no meaning here, accepted and ignored). The logger is copied;
 * NULL (the default) drops them. Process-wide: call it once at start-up,
 * before any store is opened.
 */
void blob_set_logger(const core_logger *lg);

enum {
  BLOB_OK = 0,
  BLOB_EIO = -1,       /* permanent failure not covered below */
  BLOB_ENOTFOUND = -2, /* no such key (S3 404 NoSuchKey) */
  BLOB_EAUTH = -3,     /* credentials refused (S3 403), carries S3's code and message */
  BLOB_ERETRY = -4,    /* transient: 5xx, timeout, refused connection, after bounded retries */
  BLOB_EINVAL = -5,    /* bad URL or key */
  BLOB_ETOOBIG = -6,   /* object larger than the caller's limit */
  BLOB_ENOMEM = -7
};

typedef struct blob_store blob_store;

typedef struct blob_info {
  uint64_t size;
  int64_t mtime_ms;   /* last modified, ms since the epoch */
  char etag[80];      /* quoted strong ETag as the store gives it, "" if none */
} blob_info;

/* Returns a short static string naming a BLOB_E* code. */
const char *blob_strerror(int code);

/*
 * Opens a store from its URL. Nothing is contacted yet (blob_check does).
 * On success *out is owned by the caller (blob_close).
 */
int blob_open(const char *url, blob_store **out, char *err, size_t errlen);
void blob_close(blob_store *s);

/* Backend name ("file", "s3") and a printable URL without secrets. */
const char *blob_backend(const blob_store *s);
const char *blob_url(const blob_store *s);

/*
 * Keys: non-empty, '/'-separated, no empty / "." / ".." segments, no
 * leading '/', no NUL or control characters, well-formed UTF-8, at most
 * 1024 bytes. Anything else is BLOB_EINVAL. (The file backend also reserves
 * segments starting with ".blobtmp-" for its temporary files.)
 */
int blob_key_valid(const char *key);

/* Stores data under key, replacing any object; atomic (readers see the old or
 * the new object, never a part). */
int blob_put(blob_store *s, const char *key, const void *data, size_t len,
             char *err, size_t errlen);

/*
 * Reads a whole object into a malloc'd buffer (*data, caller frees; a
 * terminating NUL is added past *len for convenience). max_bytes 0 = no
 * limit; over it: BLOB_ETOOBIG. info may be NULL.
 */
int blob_get(blob_store *s, const char *key, size_t max_bytes, uint8_t **data,
             size_t *len, blob_info *info, char *err, size_t errlen);

/*
 * Streams an object: `write` is called with consecutive chunks and returns 0
 * to go on or non-zero to abort (then BLOB_EIO). `info`, if not NULL, is
 * filled before the first chunk. Not retried once a chunk was delivered.
 */
typedef int (*blob_write_fn)(void *ctx, const void *chunk, size_t len);
int blob_get_stream(blob_store *s, const char *key, blob_write_fn write, void *ctx,
                    blob_info *info, char *err, size_t errlen);

/* Size, last-modified time and ETag without the body. */
int blob_stat(blob_store *s, const char *key, blob_info *info, char *err, size_t errlen);

/* Deletes a key. A missing key is success (S3 semantics). */
int blob_delete(blob_store *s, const char *key, char *err, size_t errlen);

/*
 * Lists keys under a prefix ("" = all), in lexicographic byte order, across
 * pages. Usage:
 *   blob_iter *it; blob_list(s, "app/staging/", &it, err, n);
 *   while ((rc = blob_iter_next(it, &key, &info, err, n)) == 1) ...;
 *   blob_iter_free(it);
 * blob_iter_next returns 1 with an item (key valid until the next call), 0 at
 * the end, or a negative BLOB_E* code.
 */
typedef struct blob_iter blob_iter;
int blob_list(blob_store *s, const char *prefix, blob_iter **out, char *err, size_t errlen);
int blob_iter_next(blob_iter *it, const char **key, blob_info *info, char *err, size_t errlen);
void blob_iter_free(blob_iter *it);

/* Health check: can the store be reached and read with these credentials?
 * (file: the directory exists and is writable; s3: the bucket answers.) */
int blob_check(blob_store *s, char *err, size_t errlen);

/*
 * Removes what interrupted writes left under prefix ("" = everywhere):
 * file://, the temporary files of puts whose process died during the put
 * (kill -9; a live writer's are kept) and the directories that leaves
 * empty; s3:// has nothing to sweep (an interrupted PUT stores nothing).
 * The file backend also sweeps the whole store when it is opened.
 * *removed (may be NULL) gets the number of files removed. Returns 0 or a
 * BLOB_E* code.
 */
int blob_sweep(blob_store *s, const char *prefix, size_t *removed, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
