/*
 * worker_delete_test.c — profile.deleted: the worker deletes an app as it
 * was at its DELETE, in-process on the real file:// store and mem:// bus
 * with real Go CPU profiles (worker.h, "Deleting an app").
 *
 *   worker_delete_test PROFILE_DIR
 *
 * What it proves: every object of the app and only of that app goes; an
 * upload accepted after the DELETE (in the same batch or a later one, also
 * after a mem:// restart) ends in a fresh base, an upload before it never
 * comes back; the cut-off at and past its edge; event order beats names;
 * autopgo's digits-only staged names are times like ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker_env.h"

CHECK_DEFINE_COUNTERS

static void test_delete(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  upload(&e, "app", g_cpu[0], NULL, 0);
  upload(&e, "app-two", g_cpu[1], NULL, 0);
  drain(&e, 50);
  char k[1024];
  stage(&e, "app", g_cpu[1], k, sizeof k); /* staged, not yet announced */
  past_ms_of(wall_ns()); /* ...and named in a millisecond before the delete's */
  char err[256];
  blob_put(e.blob, "app/rejected/x", "x", 1, err, sizeof err);
  /* the base, the staged upload, the rejected object, the merged upload's
   * hour bucket and its history object */
  CHECK(count_prefix(&e, "app/") == 5, "setup: %zu objects", count_prefix(&e, "app/"));
  CHECK(count_prefix(&e, "app/hours/cpu/") == 1 && count_prefix(&e, "app/history/cpu/") == 1,
        "setup: %zu hour buckets, %zu history objects", count_prefix(&e, "app/hours/"),
        count_prefix(&e, "app/history/"));
  /* temporary files of a writer killed during a put go with the app */
  char tmp1[800], tmp2[800], appdir[700];
  snprintf(tmp1, sizeof tmp1, "%s/app/staging/.blobtmp-0123456789ab", e.dir);
  snprintf(tmp2, sizeof tmp2, "%s/app/.blobtmp-ba9876543210", e.dir);
  snprintf(appdir, sizeof appdir, "%s/app", e.dir);
  FILE *t1 = fopen(tmp1, "w"), *t2 = fopen(tmp2, "w");
  CHECK(t1 && t2, "setup: temporary files");
  if (t1) fclose(t1);
  if (t2) fclose(t2);
  publish(&e, BUS_TYPE_DELETED, "app", NULL);
  drain(&e, 50);
  CHECK(count_prefix(&e, "app/") == 0, "app/ still has %zu objects", count_prefix(&e, "app/"));
  CHECK(access(tmp1, F_OK) != 0 && access(tmp2, F_OK) != 0,
        "a killed writer's temporary files survived the app's DELETE");
  CHECK(access(appdir, F_OK) != 0, "the app's directory survived its DELETE");
  CHECK(exists(&e, "app-two/default.pgo"), "another app was touched");
  /* its late event finds nothing and is skipped */
  publish(&e, BUS_TYPE_UPLOADED, "app", k);
  drain(&e, 50);
  CHECK(!exists(&e, "app/default.pgo"), "deleted app resurrected by a stale event");
  CHECK(counts(&e).apps_deleted == 1, "apps_deleted");
  env_close(&e);
}

/* DELETE, then an upload right away: the upload ends in a fresh base. Both
 * with the two events in one batch and in separate batches (then only the
 * cut-off protects the staged object). */
static void test_delete_then_upload(void) {
  for (size_t batch = 1; batch <= 50; batch += 49) {
    env e;
    env_open(&e, NULL, batch, 0);
    upload(&e, "app", g_cpu[0], NULL, 0);
    upload(&e, "app", g_cpu[2], NULL, 0);
    drain(&e, batch);
    CHECK(exists(&e, "app/default.pgo"), "setup: no base");
    server_delete(&e, "app", -1);
    char kb[1024];
    upload(&e, "app", g_cpu[1], kb, sizeof kb); /* acknowledged after the DELETE */
    drain(&e, batch);
    pp_profile *b = base_of(&e, "app");
    CHECK(b && pp_total(b, 1) == file_total(g_cpu[1], 1) && pp_total(b, 0) == file_total(g_cpu[1], 0),
          "batch %zu: base after delete+upload has total %lld, want exactly the new upload's %lld",
          batch, b ? (long long)pp_total(b, 1) : -1LL, (long long)file_total(g_cpu[1], 1));
    pp_free(b);
    CHECK(count_prefix(&e, "app/staging/") == 0, "batch %zu: staging not cleaned", batch);
    CHECK(counts(&e).apps_deleted == 1 && counts(&e).missing == 0, "batch %zu: deleted %llu missing %llu",
          batch, (unsigned long long)counts(&e).apps_deleted, (unsigned long long)counts(&e).missing);
    env_close(&e);
  }
}

/* The cut-off at and past its edge, with the upload's event in a later batch
 * than the delete: a name in the delete's millisecond stays (it might be
 * newer), one a nanosecond before it goes. */
static void test_delete_cutoff_edge(void) {
  env e;
  env_open(&e, NULL, 1, 0);
  upload(&e, "app", g_cpu[0], NULL, 0);
  drain(&e, 1);
  int64_t t = wall_ns() / 1000000 - 5000; /* a DELETE 5 s ago */
  char at[1024], before[1024];
  stage_at(&e, "app", g_cpu[1], t * 1000000, at, sizeof at);
  stage_at(&e, "app", g_cpu[2], t * 1000000 - 1, before, sizeof before);
  char rej_new[128], rej_old[128], err[256];
  snprintf(rej_new, sizeof rej_new, "app/rejected/%lld-00000001", (long long)(t * 1000000 + 999999));
  snprintf(rej_old, sizeof rej_old, "app/rejected/%lld-00000002", (long long)(t * 1000000 - 1));
  blob_put(e.blob, rej_new, "x", 1, err, sizeof err);
  blob_put(e.blob, rej_old, "x", 1, err, sizeof err);
  server_delete(&e, "app", t);
  drain(&e, 1);
  CHECK(exists(&e, at), "staged object named at the cut-off was deleted");
  CHECK(!exists(&e, before), "staged object named 1 ns before the cut-off survived");
  CHECK(exists(&e, rej_new), "rejected object stamped after the cut-off was deleted");
  CHECK(!exists(&e, rej_old), "rejected object stamped before the cut-off survived");
  CHECK(!exists(&e, "app/default.pgo"), "base survived");
  publish(&e, BUS_TYPE_UPLOADED, "app", at);
  publish(&e, BUS_TYPE_UPLOADED, "app", before); /* a late event of a deleted upload */
  drain(&e, 1);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[1], 1), "fresh base total %lld",
        b ? (long long)pp_total(b, 1) : -1LL);
  pp_free(b);
  CHECK(count_prefix(&e, "app/staging/") == 0, "staging not cleaned");
  env_close(&e);
}

/* Upload, then DELETE: nothing of the app remains, also for an upload whose
 * event precedes the delete in the same batch even though its name claims a
 * later time (event order wins), and for uploads merged whose profile.merged
 * comes after the delete. */
static void test_upload_then_delete(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  upload(&e, "app", g_cpu[0], NULL, 0);
  upload(&e, "keep", g_cpu[0], NULL, 0);
  /* merged by hand: the base names it, its profile.merged is on the bus */
  char k1[1024];
  stage(&e, "app", g_cpu[1], k1, sizeof k1);
  const char *keys[] = {k1};
  char err[512];
  drain(&e, 50);
  CHECK(worker_merge_app(e.w, "app", keys, 1, err, sizeof err) == 0, "%s", err);
  CHECK(exists(&e, k1), "setup: staged object already gone");
  char k2[1024];
  stage_at(&e, "app", g_cpu[2], wall_ns() + 3600 * 1000000000LL, k2, sizeof k2);
  publish(&e, BUS_TYPE_UPLOADED, "app", k2); /* accepted before the DELETE */
  uint64_t merged_before = counts(&e).uploads_merged;
  server_delete(&e, "app", -1);
  drain(&e, 50);
  CHECK(count_prefix(&e, "app/") == 0, "app/ still has %zu objects", count_prefix(&e, "app/"));
  CHECK(counts(&e).uploads_merged == merged_before, "an upload followed by its app's deletion was merged");
  CHECK(exists(&e, "keep/default.pgo"), "another app was touched");
  /* the same events again (a crash before the commit): still nothing */
  publish(&e, BUS_TYPE_UPLOADED, "app", k2);
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  drain(&e, 50);
  CHECK(count_prefix(&e, "app/") == 0, "redelivered uploads resurrected the app");
  env_close(&e);
}

/* One batch: upload A, DELETE, upload B (its name older than the cut-off, as
 * from a server whose clock lags): the base is B only. */
static void test_delete_interleaved(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  upload(&e, "app", g_cpu[2], NULL, 0);
  drain(&e, 50);
  char ka[1024], kb[1024], kc[1024];
  upload(&e, "app", g_cpu[0], ka, sizeof ka);
  server_delete(&e, "app", -1);
  upload(&e, "app", g_cpu[1], kb, sizeof kb);
  stage_at(&e, "app", g_cpu[2], 1000, kc, sizeof kc); /* lagging clock, event after the delete */
  publish(&e, BUS_TYPE_UPLOADED, "app", kc);
  drain(&e, 50);
  pp_profile *b = base_of(&e, "app");
  int64_t want = file_total(g_cpu[1], 1) + file_total(g_cpu[2], 1);
  CHECK(b && pp_total(b, 1) == want, "interleaved: base total %lld, want B+C %lld",
        b ? (long long)pp_total(b, 1) : -1LL, (long long)want);
  pp_free(b);
  CHECK(count_prefix(&e, "app/staging/") == 0, "staging not cleaned");
  CHECK(counts(&e).missing == 0, "an upload after the delete was lost");
  env_close(&e);
}

/* mem:// restart after a handled DELETE: a staged upload newer than the
 * delete whose event was lost is merged; one older (merged into the deleted
 * base, its profile.merged lost) does not resurrect the app. */
static void test_delete_reconcile(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char ka[1024], kold[1024], kb[1024];
  stage(&e, "app", g_cpu[0], ka, sizeof ka);
  const char *keys[] = {ka};
  char err[512];
  CHECK(worker_merge_app(e.w, "app", keys, 1, err, sizeof err) == 0, "%s", err);
  stage(&e, "app", g_cpu[2], kold, sizeof kold); /* staged, event lost */
  past_ms_of(wall_ns());
  /* drop the profile.merged of A (lost with the process) */
  env_restart(&e, 1);
  server_delete(&e, "app", -1);
  drain(&e, 50);
  stage(&e, "app", g_cpu[1], kb, sizeof kb); /* accepted after the DELETE; event lost */
  CHECK(!exists(&e, ka) && !exists(&e, kold), "older staged objects survived the delete");
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  drain(&e, 50);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[1], 1), "reconciled base %lld, want only B %lld",
        b ? (long long)pp_total(b, 1) : -1LL, (long long)file_total(g_cpu[1], 1));
  pp_free(b);
  CHECK(count_prefix(&e, "app/staging/") == 0, "staging not cleaned");
  /* a second restart changes nothing */
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile 2");
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[1], 1), "second reconcile changed the base");
  pp_free(b);
  env_close(&e);
}

/* autopgo's servers name staged uploads {app}/staging/{unix_nanos}, digits
 * only. Such a name is a time like ours: one older than the DELETE goes with
 * the app, and neither the restart's reconciliation nor a late event brings
 * the app back; one newer than the DELETE stays and is merged. */
static void test_delete_digits_only_names(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  upload(&e, "app", g_cpu[0], NULL, 0);
  drain(&e, 50);
  size_t len;
  uint8_t *data = slurp(g_cpu[1], &len);
  char old_key[128], new_key[128], err[256];
  int64_t t = wall_ns() / 1000000 - 5000; /* a DELETE 5 s ago */
  snprintf(old_key, sizeof old_key, "app/staging/%lld", (long long)(t * 1000000 - 3000000000LL));
  snprintf(new_key, sizeof new_key, "app/staging/%lld", (long long)(t * 1000000 + 1000000));
  CHECK(data && blob_put(e.blob, old_key, data, len, err, sizeof err) == 0, "stage %s: %s", old_key, err);
  CHECK(data && blob_put(e.blob, new_key, data, len, err, sizeof err) == 0, "stage %s: %s", new_key, err);
  free(data);
  server_delete(&e, "app", t);
  drain(&e, 50);
  CHECK(!exists(&e, old_key), "autopgo-named upload older than the DELETE survived it");
  CHECK(exists(&e, new_key), "autopgo-named upload newer than the DELETE was deleted");
  blob_delete(e.blob, new_key, err, sizeof err);
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  drain(&e, 50);
  CHECK(!exists(&e, "app/default.pgo"), "deleted app came back after the restart's reconciliation");
  publish(&e, BUS_TYPE_UPLOADED, "app", old_key); /* its late event */
  drain(&e, 50);
  CHECK(!exists(&e, "app/default.pgo"), "deleted app came back from a late event");
  env_close(&e);
}

int main(int argc, char **argv) {
  int rc = wenv_init(argc, argv, "worker_delete_test");
  if (rc) return rc;
  test_delete_digits_only_names();
  test_delete();
  test_delete_then_upload();
  test_delete_cutoff_edge();
  test_upload_then_delete();
  test_delete_interleaved();
  test_delete_reconcile();
  wenv_done();
  return check_exit("worker_delete_test");
}
