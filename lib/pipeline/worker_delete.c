/*
 * worker_delete.c — what the worker deletes: a staged object once every
 * object naming it is durable (profile.merged) — kept first as a history
 * object for the retention (worker.h, "History and windows") — and a whole
 * app as it was at its DELETE (profile.deleted; the rules and their
 * reasons are in worker.h, "Deleting an app").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "worker_internal.h"

int wk_delete_staged(worker *w, const char *app, const char *key, char *err, size_t errlen) {
  if (!layout_staged_name(key, app)) {
    wk_count(w, WK_MALFORMED, 1);
    WK_LOG(w, CORE_LOG_WARN, "profile.merged names no staged object of its app: skipped", "app",
           app, "key", key, NULL);
    return 0;
  }
  /* history first (the same bytes, an idempotent PUT), then the staged
   * object: a crash in between only repeats the PUT */
  const char *name = layout_staged_name(key, app);
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = blob_get(w->cfg.blob, key, 0, &data, &len, NULL, err, errlen);
  if (rc == BLOB_ENOTFOUND) {
    WK_LOG(w, CORE_LOG_DEBUG, "staged upload already gone", "app", app, "key", key, NULL);
    return 0;
  }
  char hkey[WK_KEY_BUF] = "", why[600] = "";
  int keep = 0;
  if (rc == 0 && wk_history_key(w, app, name, data, len, hkey, sizeof hkey, &keep, why,
                                sizeof why) != 0)
    WK_LOG(w, CORE_LOG_WARN, "staged upload does not decode: kept in history as cpu at its receipt time",
           "app", app, "key", key, "reason", why, NULL);
  if (rc == 0 && keep && hkey[0]) rc = blob_put(w->cfg.blob, hkey, data, len, err, errlen);
  free(data);
  if (rc == 0) rc = blob_delete(w->cfg.blob, key, err, errlen);
  if (rc == BLOB_ENOTFOUND) rc = 0;
  if (rc != 0) {
    wk_dep_fail(w, WK_DEP_BLOB, err);
    return wk_from_blob(rc);
  }
  wk_count(w, WK_STAGED_DELETED, 1);
  if (keep && hkey[0]) wk_count(w, WK_HISTORY_KEPT, 1);
  WK_LOG(w, CORE_LOG_DEBUG,
         keep ? "staged upload moved to history" : "staged upload deleted (older than the retention)",
         "app", app, "key", key, "history_key", keep ? hkey : "", NULL);
  return 0;
}

static int key_in(const char *key, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i], key) == 0) return 1;
  return 0;
}

/* The prefixes of what an app owns, to tell its objects apart. */
typedef struct app_keys {
  char all[LAYOUT_KEY_BUF], base[LAYOUT_KEY_BUF], staging[LAYOUT_KEY_BUF],
      rejected[LAYOUT_KEY_BUF];
  size_t staging_len, rejected_len;
} app_keys;

/* 1 when key (not the base) belongs to the app as it was at the DELETE. */
static int goes_with_app(const app_keys *k, const wk_delete_args *a, const char *key) {
  int64_t ns;
  if (strncmp(key, k->staging, k->staging_len) == 0) {
    /* an unstamped staged name cannot be placed in time: it stays */
    return key_in(key, a->drop, a->ndrop) ||
           (!key_in(key, a->keep, a->nkeep) &&
            layout_name_stamp_ns(key + k->staging_len, &ns) == 0 && ns < a->cutoff_ns);
  }
  if (strncmp(key, k->rejected, k->rejected_len) == 0)
    return layout_name_stamp_ns(key + k->rejected_len, &ns) != 0 || ns < a->cutoff_ns;
  return 1;
}

/* Lists what goes with the app (every key but the base) into *out. Returns
 * 0 or a BLOB_E* code; *kept counts what stays. */
static int list_doomed(worker *w, const char *app, const app_keys *k, const wk_delete_args *a,
                       wk_strlist *out, size_t *kept, char *err, size_t errlen) {
  blob_iter *it = NULL;
  int rc = blob_list(w->cfg.blob, k->all, &it, err, errlen);
  if (rc != 0) return rc;
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    if (strcmp(key, k->base) == 0) continue;
    if (!goes_with_app(k, a, key)) {
      ++*kept;
      WK_LOG(w, CORE_LOG_INFO, "object newer than the app's deletion: kept", "app", app, "key",
             key, NULL);
      continue;
    }
    if (wk_sl_add(out, key) != 0) {
      rc = BLOB_ENOMEM;
      errbuf_set(err, errlen, "listing %s: out of memory", k->all);
      break;
    }
  }
  blob_iter_free(it);
  return rc < 0 ? rc : 0;
}

/*
 * Every object under {app}/ that belongs to the app as it was when the
 * DELETE was made (the other kinds' bases and the instance states
 * included), the cpu base last (so a crash half-way leaves the base and
 * the redelivered event finishes the job). Staged and rejected objects
 * stamped at or after the cut-off stay: they are uploads accepted after the
 * DELETE, whose profile.uploaded events follow in the partition.
 */
int wk_delete_app(worker *w, const char *app, const wk_delete_args *a, char *err,
                  size_t errlen) {
  wk_forget_app(w, app);
  app_keys k;
  layout_app_prefix(app, k.all, sizeof k.all);
  layout_base_key(app, k.base, sizeof k.base);
  layout_staging_prefix(app, k.staging, sizeof k.staging);
  layout_rejected_prefix(app, k.rejected, sizeof k.rejected);
  k.staging_len = strlen(k.staging);
  k.rejected_len = strlen(k.rejected);
  wk_strlist keys = {0};
  size_t kept = 0;
  int rc = list_doomed(w, app, &k, a, &keys, &kept, err, errlen);
  for (size_t i = 0; rc == 0 && i < keys.n; i++) {
    rc = blob_delete(w->cfg.blob, keys.v[i], err, errlen);
    if (rc == BLOB_ENOTFOUND) rc = 0;
  }
  if (rc == 0) rc = blob_delete(w->cfg.blob, k.base, err, errlen);
  if (rc == BLOB_ENOTFOUND) rc = 0;
  if (rc != 0) {
    wk_dep_fail(w, WK_DEP_BLOB, err);
  } else {
    wk_dep_ok(w, WK_DEP_BLOB);
    wk_count(w, WK_APPS_DELETED, 1);
    char n[32], kn[32];
    snprintf(n, sizeof n, "%zu", keys.n + 1);
    snprintf(kn, sizeof kn, "%zu", kept);
    WK_LOG(w, CORE_LOG_INFO, "app deleted", "app", app, "objects", n, "kept_newer", kn, NULL);
  }
  wk_sl_free(&keys);
  return wk_from_blob(rc);
}
