/*
 * apps.c — the bases of all apps and the deletion of one (see apps.h for
 * the rules and why the announcement comes before the removal).
 *
 * Listing walks the whole store: the layout keeps every app's objects under
 * "{app}/", and a listing by delimiter is not in the blob interface, so the
 * cost is one pass over all keys (staged uploads included), paid by an
 * operator's GET /api/profile, not by the pipeline's hot path.
 */
#include "apps.h"

#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* If key is "{app}/default.pgo" with a valid app, copies the app into app. */
static int base_of(const char *key, char app[LAYOUT_APP_MAX + 1]) {
  if (layout_key_app(key, app, LAYOUT_APP_MAX + 1) != 0) return 0;
  return strcmp(key + strlen(app) + 1, LAYOUT_BASE_NAME) == 0;
}

/* Appends one base to the growing array; -1 when out of memory. */
static int push(apps_base **v, size_t *n, size_t *cap, const char *app, const blob_info *info) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 16;
    apps_base *nv = realloc(*v, ncap * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    *cap = ncap;
  }
  apps_base *b = &(*v)[(*n)++];
  memset(b, 0, sizeof *b);
  memcpy(b->app, app, strlen(app) + 1);
  b->size = info->size;
  b->mtime_ms = info->mtime_ms;
  return 0;
}

int apps_list_bases(blob_store *blob, apps_base **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  blob_iter *it = NULL;
  int rc = blob_list(blob, "", &it, err, errlen);
  if (rc != BLOB_OK) return rc;
  apps_base *v = NULL;
  size_t cnt = 0, cap = 0;
  const char *key;
  blob_info info;
  char app[LAYOUT_APP_MAX + 1];
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (!base_of(key, app)) continue;
    if (push(&v, &cnt, &cap, app, &info) != 0) {
      errbuf_set(err, errlen, "out of memory");
      rc = BLOB_ENOMEM;
      break;
    }
  }
  blob_iter_free(it);
  if (rc < 0) {
    free(v);
    return rc;
  }
  *out = v;
  *n = cnt;
  return 0;
}

/* Records the outcome and returns apps_delete's status for it. */
static int outcome(apps_delete_result *res, apps_delete_outcome o) {
  res->outcome = o;
  return o == APPS_DELETED ? 0 : -1;
}

int apps_delete(blob_store *blob, bus_writer *bus, const char *app, apps_delete_result *res) {
  memset(res, 0, sizeof *res);
  if (layout_base_key(app, res->key, sizeof res->key) != 0) return outcome(res, APPS_BAD_APP);
  blob_info info;
  int rc = blob_stat(blob, res->key, &info, res->error, sizeof res->error);
  if (rc == BLOB_ENOTFOUND) {
    res->error[0] = '\0';
    return outcome(res, APPS_NO_BASE);
  }
  if (rc != BLOB_OK) return outcome(res, APPS_STORE_FAILED);
  bus_event ev;
  rc = bus_event_init(&ev, BUS_TYPE_DELETED, app);
  if (rc == BUS_OK) rc = bus_publish_event(bus, &ev, res->error, sizeof res->error);
  if (rc != BUS_OK) return outcome(res, APPS_BUS_FAILED);
  if (blob_delete(blob, res->key, res->error, sizeof res->error) != BLOB_OK) res->base_left = 1;
  return outcome(res, APPS_DELETED);
}
