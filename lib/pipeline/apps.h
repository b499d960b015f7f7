/*
 * apps.h — the pipeline's rules about whole applications, apart from HTTP so
 * that tests reach them directly: which base profiles exist (what
 * GET /api/profile lists) and in what order an app is deleted
 * (DELETE /api/profile/{app}).
 *
 * Listing: every base key of the blob store — "{app}/default.pgo" (cpu) or
 * "{app}/kinds/{kind}.pgo" (layout_parse_key: LAYOUT_KEY_BASE) under a
 * valid app name — is one base; any other key is not. The bases are grouped
 * by app, apps in the store's key order, each app's bases in kind order
 * (cpu first). An app as a whole has the size of its bases together and the
 * last-modified time of the newest: for an app with only a cpu base, that
 * base's size and time, as autopgo lists them. The same pass finds the
 * hours the app keeps history of: its hour buckets
 * ("{app}/hours/{kind}/{YYYYMMDDHH}.pgo", history.h), per kind and for the
 * app as a whole (the time span range reads can answer).
 *
 * Deletion, in this order:
 *   1. the app must have a base of some kind        (else nothing is done: 404)
 *   2. profile.deleted {app} is published and acknowledged by the bus; the
 *      worker then removes everything under {app}/   (else nothing changed: 503)
 *   3. the app's bases are removed here as well, so that a GET right after
 *      the answer already finds nothing. If that fails (a store that refuses
 *      deletes) the deletion still stands: the worker removes them on
 *      profile.deleted once it can; base_left tells the caller, whose
 *      answer must not claim the bases are gone (the server answers 503).
 * Announcing first means a failure leaves the app whole, never half gone.
 */
#ifndef PGOPIPE_APPS_H
#define PGOPIPE_APPS_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "history.h"
#include "layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One base profile of an app. */
typedef struct apps_kind_base {
  layout_kind kind;
  uint64_t size;    /* bytes */
  int64_t mtime_ms; /* last modified, ms since the epoch */
  history_span hours; /* the kind's hour buckets (hours 0: none) */
} apps_kind_base;

/* One app and its base profiles. */
typedef struct apps_base {
  char app[LAYOUT_APP_MAX + 1];
  uint64_t size;    /* bytes of its bases together */
  int64_t mtime_ms; /* last modified: the newest of its bases, ms since the epoch */
  size_t nkinds;    /* >= 1 */
  apps_kind_base kinds[LAYOUT_KIND_COUNT]; /* in kind order (layout_kind), cpu first */
  /* the first and last hour of any kind's buckets (hours: the largest
   * count of one kind; 0 when the app keeps no history) */
  history_span hours;
} apps_base;

/*
 * Lists every app that has a base, with its bases and the hours of history
 * it keeps (an app with hour buckets but no base is not listed: the listing
 * is of merged profiles, as autopgo's). On success *out is a
 * malloc'd array of *n apps (caller frees; NULL when there are none).
 * Returns 0, or the store's negative BLOB_E* code with its message in err
 * (*out NULL). Cost: one pass over every key of the store.
 */
int apps_list_bases(blob_store *blob, apps_base **out, size_t *n, char *err, size_t errlen);

/* What became of a deletion; also which answer it gets. */
typedef enum apps_delete_outcome {
  APPS_DELETED = 0,  /* announced; the base is gone or the worker removes it (200) */
  APPS_BAD_APP,      /* not a valid app name (400) */
  APPS_NO_BASE,      /* the app has no base profile of any kind: nothing done (404) */
  APPS_STORE_FAILED, /* the base could not be looked up: nothing done (503) */
  APPS_BUS_FAILED    /* profile.deleted was not acknowledged: nothing done (503) */
} apps_delete_outcome;

typedef struct apps_delete_result {
  apps_delete_outcome outcome;
  char key[LAYOUT_KEY_BUF]; /* the app's cpu base key ("" for APPS_BAD_APP) */
  char error[1024];         /* the store's or the bus's message, "" when none */
  int base_left;            /* APPS_DELETED, but removing a base failed (error
                               says why): the worker removes it on profile.deleted */
} apps_delete_result;

/*
 * Deletes app in the order above: blob is where the base lives, bus where
 * profile.deleted is announced (neither owned). Fills *res (always) and
 * returns 0 when the outcome is APPS_DELETED, -1 otherwise. Blocks on the
 * store and the bus; safe to call from many threads at once.
 */
int apps_delete(blob_store *blob, bus_writer *bus, const char *app, apps_delete_result *res);

#ifdef __cplusplus
}
#endif
#endif
