/*
 * worker_reconcile.c — merging staged uploads that have no event (worker.h,
 * "Reconciliation"): in all-in-one mode the mem:// bus forgets its events on
 * a crash while the staged objects are durable, so on start every
 * {app}/staging/ object is merged with the usual exactly-once rules (those
 * already in their base's record are only cleaned up). Staged names sort by
 * time, so each instance's snapshots are merged in the order they came.
 * Then the gauge part of every (app, kind) with instance states is built,
 * so the tick expires their instances even if no upload of them comes, and
 * every app and base in the store is handed to the history tick (windows,
 * retention), so idle apps age too.
 */
#include <stdio.h>
#include <string.h>

#include "errbuf.h"
#include "worker_internal.h"

/* Lists every staged key of every app into *keys (sorted, as listings
 * are), and "{app}/{kind}" of every (app, kind) with instance states into
 * *kinds. Returns 0 or a BLOB_E* code with err. */
static int list_all_staged(worker *w, wk_strlist *keys, wk_strlist *kinds, char *err,
                           size_t errlen) {
  blob_iter *it = NULL;
  int rc = blob_list(w->cfg.blob, "", &it, err, errlen);
  if (rc != 0) return rc;
  const char *key;
  blob_info info;
  layout_ref ref;
  char app[LAYOUT_APP_MAX + 1], pair[LAYOUT_APP_MAX + 32];
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (layout_key_app(key, app, sizeof app) != 0) continue;
    int oom = 0;
    wk_known_add_app(w, app);
    if (layout_staged_name(key, app)) {
      oom = wk_sl_add(keys, key) != 0;
    } else if (layout_parse_key(key, &ref) == 0 && ref.type == LAYOUT_KEY_INSTANCE) {
      snprintf(pair, sizeof pair, "%s/%s", ref.app, layout_kind_name(ref.kind));
      if (!kinds->n || strcmp(kinds->v[kinds->n - 1], pair) != 0) oom = wk_sl_add(kinds, pair) != 0;
    } else if (layout_parse_key(key, &ref) == 0 && ref.type == LAYOUT_KEY_BASE) {
      wk_known_adopt(w, ref.app, ref.kind);
    }
    if (oom) {
      rc = BLOB_ENOMEM;
      errbuf_set(err, errlen, "listing the store: out of memory");
      break;
    }
  }
  blob_iter_free(it);
  return rc < 0 ? rc : 0;
}

/* Builds the gauge parts of the (app, kind)s listed in kinds ("app/kind"),
 * so that their instances expire even if no upload of them comes. */
static int prime_gauges(worker *w, const wk_strlist *kinds, volatile sig_atomic_t *stop) {
  char err[1024];
  for (size_t i = 0; i < kinds->n; i++) {
    char app[LAYOUT_APP_MAX + 1];
    const char *slash = strchr(kinds->v[i], '/');
    if (!slash || (size_t)(slash - kinds->v[i]) > LAYOUT_APP_MAX) continue;
    snprintf(app, sizeof app, "%.*s", (int)(slash - kinds->v[i]), kinds->v[i]);
    layout_kind kind = layout_kind_parse(slash + 1);
    for (int k = 0;; k++) {
      if (wk_gauge_prime(w, app, kind, err, sizeof err) == 0) break;
      WK_LOG(w, CORE_LOG_WARN, "reconcile: reading the instance states failed, retrying", "app",
             app, "error", err, NULL);
      if (wk_backoff(w, k, stop)) return WORKER_ESTOPPED;
    }
  }
  return 0;
}

/* Merges the n staged keys of app, in chunks that bound memory (each chunk's
 * uploads are held decoded at once). */
static int merge_app_keys(worker *w, const char *app, char *const *keys, size_t n,
                          volatile sig_atomic_t *stop) {
  size_t per = w->cfg.batch_max < 200 ? 200 : w->cfg.batch_max;
  int rc = 0;
  for (size_t s = 0; s < n && rc == 0; s += per) {
    wk_keys chunk = {app, (const char *const *)&keys[s], s + per < n ? per : n - s};
    rc = wk_retry(w, app, wk_op_merge, &chunk, stop);
  }
  if (rc == 0) {
    char count[32];
    snprintf(count, sizeof count, "%zu", n);
    WK_LOG(w, CORE_LOG_INFO, "reconciled staged uploads", "app", app, "staged", count, NULL);
  }
  return rc;
}

int worker_reconcile(worker *w, volatile sig_atomic_t *stop) {
  char err[1024];
  wk_strlist keys = {0}, kinds = {0};
  for (int k = 0;; k++) {
    int rc = list_all_staged(w, &keys, &kinds, err, sizeof err);
    if (rc == 0) break;
    wk_sl_free(&keys);
    wk_sl_free(&kinds);
    wk_dep_fail(w, WK_DEP_BLOB, err);
    WK_LOG(w, CORE_LOG_WARN, "reconcile: listing the store failed, retrying", "error", err, NULL);
    if (wk_backoff(w, k, stop)) return WORKER_ESTOPPED;
  }
  /* Keys are sorted, so one app's staged objects are adjacent, oldest first. */
  int rc = 0;
  for (size_t i = 0, j; i < keys.n && rc == 0; i = j) {
    char app[LAYOUT_APP_MAX + 1];
    layout_key_app(keys.v[i], app, sizeof app);
    size_t al = strlen(app);
    for (j = i; j < keys.n && strncmp(keys.v[j], keys.v[i], al + 1) == 0;) j++;
    rc = merge_app_keys(w, app, &keys.v[i], j - i, stop);
  }
  if (rc == 0 && keys.n == 0) WK_LOG(w, CORE_LOG_DEBUG, "reconcile: nothing staged", NULL);
  if (rc == 0) rc = prime_gauges(w, &kinds, stop);
  wk_sl_free(&keys);
  wk_sl_free(&kinds);
  return rc;
}
