/*
 * blob_internal.h — the contract between blob.c and the backends.
 *
 * A backend is a name plus a table of typed operations. blob.c parses the
 * URL scheme, validates keys, and calls through the table; a backend never
 * sees an invalid key and never needs to know about the others. Every
 * operation returns 0 (or 1 where stated) or a negative BLOB_E* code and
 * writes a message naming the operation, key and cause into err with
 * errbuf_set (err is never NULL and has errlen >= 1 when a backend is
 * called).
 */
#ifndef PGOPIPE_BLOB_INTERNAL_H
#define PGOPIPE_BLOB_INTERNAL_H

#include "blob.h"
#include "errbuf.h"

struct blob_backend {
  /* "file", "s3": what blob_backend() returns. */
  const char *name;

  /* URL scheme with "://" that selects this backend, e.g. "s3://". */
  const char *scheme;

  /*
   * Parses the whole URL (scheme included) and creates the backend's state
   * in *impl. Contacts nothing. Fills *printable with a malloc'd URL
   * without secrets (blob.c frees it). BLOB_EINVAL on a malformed URL.
   */
  int (*open)(const char *url, void **impl, char **printable, char *err, size_t errlen);

  /* Frees the state. Called once; no operation runs concurrently. */
  void (*close)(void *impl);

  /* Stores len bytes under key, replacing any object, atomically. */
  int (*put)(void *impl, const char *key, const void *data, size_t len, char *err, size_t errlen);

  /*
   * Reads the whole object into a malloc'd buffer with a NUL past the end
   * (*data owned by the caller on success, NULL on failure). max_bytes 0 =
   * unlimited, otherwise larger objects give BLOB_ETOOBIG. info may be NULL.
   * BLOB_ENOTFOUND when the key does not exist.
   */
  int (*get)(void *impl, const char *key, size_t max_bytes, uint8_t **data, size_t *len,
             blob_info *info, char *err, size_t errlen);

  /*
   * Streams the object to write(ctx, chunk, n) in order; a non-zero return
   * from write aborts with BLOB_EIO. info (may be NULL) is filled before the
   * first chunk. A transient failure is retried only while no chunk has been
   * delivered.
   */
  int (*get_stream)(void *impl, const char *key, blob_write_fn write, void *ctx, blob_info *info,
                    char *err, size_t errlen);

  /* Size, mtime and ETag; BLOB_ENOTFOUND when missing. */
  int (*stat)(void *impl, const char *key, blob_info *info, char *err, size_t errlen);

  /* Removes the key; a missing key is success. */
  int (*del)(void *impl, const char *key, char *err, size_t errlen);

  /*
   * Starts a listing of keys beginning with prefix ("" = all; any string
   * without control characters, not necessarily a valid key) in
   * lexicographic byte order. *state is the backend's iterator. prefix is
   * blob.c's copy: it stays valid until list_free, so the state may keep
   * the pointer.
   */
  int (*list_open)(void *impl, const char *prefix, void **state, char *err, size_t errlen);

  /*
   * Next item: 1 with *key (valid until the next call on this state) and
   * *info filled, 0 at the end, negative on failure (the iterator may be
   * called again after a BLOB_ERETRY to retry the same page).
   */
  int (*list_next)(void *state, const char **key, blob_info *info, char *err, size_t errlen);

  /* Frees an iterator state (NULL allowed). */
  void (*list_free)(void *state);

  /* Reachability and permission check (see blob_check). */
  int (*check)(void *impl, char *err, size_t errlen);

  /*
   * Removes what interrupted writes left under prefix (see blob_sweep),
   * adding the number of files removed to *removed (may be NULL). NULL
   * when the backend has nothing to sweep.
   */
  int (*sweep)(void *impl, const char *prefix, size_t *removed, char *err, size_t errlen);
};

extern const struct blob_backend blob_file_backend;
extern const struct blob_backend blob_s3_backend;

/* The logger installed with blob_set_logger (never NULL; fn NULL = silent). */
const core_logger *blob_logger(void);

/* Decodes %XX escapes of a URL component in place; -1 on a malformed one. */
int blob_pct_decode(char *s);

#endif
