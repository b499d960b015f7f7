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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* The app being collected: its bases and the spans of its hour buckets. */
typedef struct cur_app {
  int open;
  apps_base b;
  history_span spans[LAYOUT_KIND_COUNT];
} cur_app;

static void cur_reset(cur_app *c, const char *app) {
  memset(c, 0, sizeof *c);
  c->open = 1;
  memcpy(c->b.app, app, strlen(app) + 1);
  c->b.hours.first_hour = c->b.hours.last_hour = -1;
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) c->spans[k].first_hour = c->spans[k].last_hour = -1;
}

/* Appends the collected app when it has a base. Returns -1 when out of memory. */
static int flush(apps_base **v, size_t *n, size_t *cap, cur_app *c) {
  if (!c->open || c->b.nkinds == 0) return 0;
  for (size_t i = 0; i < c->b.nkinds; i++) {
    const history_span *s = &c->spans[c->b.kinds[i].kind];
    c->b.kinds[i].hours = *s;
  }
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) {
    const history_span *s = &c->spans[k];
    if (!s->hours) continue;
    if (c->b.hours.first_hour < 0 || s->first_hour < c->b.hours.first_hour) c->b.hours.first_hour = s->first_hour;
    if (s->last_hour > c->b.hours.last_hour) c->b.hours.last_hour = s->last_hour;
    if (s->hours > c->b.hours.hours) c->b.hours.hours = s->hours;
  }
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 16;
    apps_base *nv = realloc(*v, ncap * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    *cap = ncap;
  }
  (*v)[(*n)++] = c->b;
  return 0;
}

/* Adds one base to the app being collected, in kind order. */
static void add_base(cur_app *c, const layout_ref *ref, const blob_info *info) {
  apps_base *b = &c->b;
  if (b->nkinds == LAYOUT_KIND_COUNT) return; /* cannot happen: one key per kind */
  size_t i = b->nkinds++;
  while (i > 0 && b->kinds[i - 1].kind > ref->kind) {
    b->kinds[i] = b->kinds[i - 1];
    i--;
  }
  memset(&b->kinds[i], 0, sizeof b->kinds[i]);
  b->kinds[i].kind = ref->kind;
  b->kinds[i].size = info->size;
  b->kinds[i].mtime_ms = info->mtime_ms;
  b->size += info->size;
  if (info->mtime_ms > b->mtime_ms) b->mtime_ms = info->mtime_ms;
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
  layout_ref ref;
  cur_app *c = calloc(1, sizeof *c);
  if (!c) {
    blob_iter_free(it);
    errbuf_set(err, errlen, "out of memory");
    return BLOB_ENOMEM;
  }
  /* an app's keys are listed together: they share the prefix "{app}/" */
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (layout_parse_key(key, &ref) != 0 || (ref.type != LAYOUT_KEY_BASE && ref.type != LAYOUT_KEY_HOUR)) continue;
    if (ref.kind < 0 || ref.kind >= LAYOUT_KIND_COUNT) continue;
    if (!c->open || strcmp(c->b.app, ref.app) != 0) {
      if (flush(&v, &cnt, &cap, c) != 0) {
        rc = BLOB_ENOMEM;
        break;
      }
      cur_reset(c, ref.app);
    }
    if (ref.type == LAYOUT_KEY_BASE)
      add_base(c, &ref, &info);
    else
      history_span_add(&c->spans[ref.kind], ref.hour);
  }
  if (rc == 0 && flush(&v, &cnt, &cap, c) != 0) rc = BLOB_ENOMEM;
  if (rc == BLOB_ENOMEM) errbuf_set(err, errlen, "out of memory");
  free(c);
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

/* The keys of app's bases of the other kinds ("{app}/kinds/{kind}.pgo"),
 * at most LAYOUT_KIND_COUNT - 1. Returns the count, or a BLOB_E* code. */
static int kind_bases(blob_store *blob, const char *app, char keys[][LAYOUT_KEY_BUF], char *err, size_t errlen) {
  char prefix[LAYOUT_KEY_BUF];
  if (layout_app_prefix(app, prefix, sizeof prefix) != 0) return BLOB_EINVAL;
  size_t pl = strlen(prefix);
  snprintf(prefix + pl, sizeof prefix - pl, "%s/", LAYOUT_KINDS_DIR);
  blob_iter *it = NULL;
  int rc = blob_list(blob, prefix, &it, err, errlen);
  if (rc != BLOB_OK) return rc;
  int n = 0;
  const char *key;
  blob_info info;
  layout_ref ref;
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (layout_parse_key(key, &ref) != 0 || ref.type != LAYOUT_KEY_BASE || ref.kind == LAYOUT_KIND_CPU) continue;
    if (n < LAYOUT_KIND_COUNT - 1) snprintf(keys[n++], LAYOUT_KEY_BUF, "%s", key);
  }
  blob_iter_free(it);
  return rc < 0 ? rc : n;
}

int apps_delete(blob_store *blob, bus_writer *bus, const char *app, apps_delete_result *res) {
  memset(res, 0, sizeof *res);
  if (layout_base_key(app, res->key, sizeof res->key) != 0) return outcome(res, APPS_BAD_APP);
  blob_info info;
  int rc = blob_stat(blob, res->key, &info, res->error, sizeof res->error);
  if (rc != BLOB_OK && rc != BLOB_ENOTFOUND) return outcome(res, APPS_STORE_FAILED);
  int has_cpu = rc == BLOB_OK;
  char others[LAYOUT_KIND_COUNT - 1][LAYOUT_KEY_BUF];
  int nothers = kind_bases(blob, app, others, res->error, sizeof res->error);
  if (nothers < 0) return outcome(res, APPS_STORE_FAILED);
  res->error[0] = '\0';
  if (!has_cpu && nothers == 0) return outcome(res, APPS_NO_BASE);
  bus_event ev;
  rc = bus_event_init(&ev, BUS_TYPE_DELETED, app);
  if (rc == BUS_OK) rc = bus_publish_event(bus, &ev, res->error, sizeof res->error);
  if (rc != BUS_OK) return outcome(res, APPS_BUS_FAILED);
  if (has_cpu && blob_delete(blob, res->key, res->error, sizeof res->error) != BLOB_OK) res->base_left = 1;
  for (int i = 0; i < nothers; i++)
    if (blob_delete(blob, others[i], res->error, sizeof res->error) != BLOB_OK) res->base_left = 1;
  return outcome(res, APPS_DELETED);
}
