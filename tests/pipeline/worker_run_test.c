/*
 * worker_run_test.c — the worker as a process runs it: reconciliation after
 * a restart, worker_run's retries and health, the in-process embedding; on
 * the real file:// store and mem:// bus (and an S3 store that cannot be
 * reached) with real Go CPU profiles.
 *
 *   worker_run_test PROFILE_DIR
 *
 * What it proves:
 *  - reconciliation merges staged uploads without events exactly once, also
 *    after a "restart" where mem:// offsets begin at 0 again;
 *  - worker_run: transient store failure → unhealthy, retries, recovery →
 *    healthy, nothing lost; stop finishes and returns 0; the metrics
 *    registry renders what the stats counted;
 *  - the worker's own result codes: WORKER_EINVAL for a bad configuration
 *    or app name, WORKER_ESTORE for a failing store (health then says
 *    the same), WORKER_ESTOPPED for a batch stopped while retrying;
 *  - worker_embed: a bad rules file refuses to start; leftover staged
 *    uploads are reconciled, new ones merged, stop is clean.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_metrics.h"
#include "worker_env.h"

CHECK_DEFINE_COUNTERS

static void test_reconcile(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  /* Run 1: two uploads merged, but the process dies before profile.merged
   * is handled (mem:// loses it): their staged objects remain, already in
   * the base. Plus two uploads staged whose events were lost. */
  char k1[1024], k2[1024], k3[1024], k4[1024];
  stage(&e, "app", g_cpu[0], k1, sizeof k1);
  stage(&e, "app", g_cpu[1], k2, sizeof k2);
  const char *keys[] = {k1, k2};
  char err[512];
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  stage(&e, "app", g_cpu[0], k3, sizeof k3);
  stage(&e, "b-app", g_cpu[1], k4, sizeof k4);
  /* Run 2: a new process; the in-process bus starts empty at offset 0. */
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  drain(&e, 50); /* the profile.merged events reconciliation published */
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == 2 * file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1),
        "reconciled base total %lld", b ? (long long)pp_total(b, 1) : -1LL);
  pp_free(b);
  b = base_of(&e, "b-app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[1], 1), "second app reconciled");
  pp_free(b);
  CHECK(count_prefix(&e, "app/staging/") == 0 && count_prefix(&e, "b-app/staging/") == 0,
        "staging not empty after reconcile");
  /* New uploads on the new bus (offsets from 0 again) are not skipped. */
  upload(&e, "app", g_cpu[1], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == 2 * file_total(g_cpu[0], 1) + 2 * file_total(g_cpu[1], 1),
        "upload after restart skipped");
  pp_free(b);
  /* reconcile again: nothing staged, nothing changes */
  uint64_t merges = counts(&e).merges;
  CHECK(worker_reconcile(e.w, NULL) == 0 && counts(&e).merges == merges, "idle reconcile wrote");
  env_close(&e);
}

/* worker_run with a store that fails, then recovers. */
typedef struct run_arg {
  worker_config c;
  volatile sig_atomic_t stop;
  int rc;
} run_arg;

static void *run_main(void *p) {
  run_arg *a = p;
  char err[256];
  a->rc = worker_run(&a->c, &a->stop, NULL, err, sizeof err);
  return NULL;
}

/* An S3 store nobody listens for. */
static blob_store *dead_store(void) {
  setenv("AWS_ACCESS_KEY_ID", "test", 0);
  setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 0);
  blob_store *dead = NULL;
  char err[256];
  CHECK(blob_open("s3://bucket?endpoint=http://127.0.0.1:1&region=us-east-1&use_path_style=true",
                  &dead, err, sizeof err) == 0, "%s", err);
  return dead;
}

/* The worker's own result codes, whatever the store or the bus said. */
static void test_codes(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char err[512];
  worker *w = NULL;
  worker_config c = env_config(&e, 50, 0);
  c.writer = NULL;
  CHECK(worker_new(&c, &w, err, sizeof err) == WORKER_EINVAL && !w && strstr(err, "bus writer"),
        "worker_new without a writer: %s", err);
  const char *bad[] = {"Bad_App/staging/1-2"};
  CHECK(worker_merge_app(e.w, "Bad_App", bad, 1, err, sizeof err) == WORKER_EINVAL &&
            strstr(err, "Bad_App"), "invalid app: %s", err);
  /* a store that cannot be reached: WORKER_ESTORE (not a BLOB_E* code),
   * health names the store */
  blob_store *dead = dead_store();
  worker_free(e.w);
  c = env_config(&e, 50, 0);
  c.blob = dead;
  CHECK(worker_new(&c, &e.w, err, sizeof err) == 0, "%s", err);
  char k[1024];
  stage(&e, "app", g_cpu[0], k, sizeof k);
  const char *keys[] = {k};
  CHECK(worker_merge_app(e.w, "app", keys, 1, err, sizeof err) == WORKER_ESTORE && err[0],
        "merge on a dead store: %s", err);
  char dep[512];
  CHECK(worker_stats_dep(e.st, "blob", dep, sizeof dep) != 0 && strcmp(dep, err) == 0,
        "health says \"%s\", the merge \"%s\"", dep, err);
  /* stop requested while that failure is retried: WORKER_ESTOPPED, nothing committed */
  publish(&e, BUS_TYPE_UPLOADED, "app", k);
  bus_msg *m = NULL;
  CHECK(bus_poll(e.rd, 1000, &m, err, sizeof err) == 1, "no message");
  volatile sig_atomic_t stop = 1;
  if (m) CHECK(worker_handle_batch(e.w, &m, 1, &stop) == WORKER_ESTOPPED, "stopped batch");
  CHECK(counts(&e).commits == 0, "a stopped batch was committed");
  bus_msg_free(m);
  env_close(&e);
  blob_close(dead);
}

/* A scenario's configuration for worker_run: short waits, no reconcile. */
static worker_config run_config(const env *e) {
  worker_config c = env_config(e, 50, 0);
  c.batch_wait_ms = 10;
  c.poll_ms = 20;
  c.reconcile = 0;
  return c;
}

static int unhealthy(void *st) { return !worker_stats_health(st, NULL); }
static int healthy_and_merged(void *e) {
  env *en = e;
  return worker_stats_health(en->st, NULL) && counts(en).uploads_merged >= 2 &&
         count_prefix(en, "app/staging/") == 0;
}
static int is_ready(void *st) { return worker_stats_ready(st); }

static void test_run_transient(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  svc_metrics *reg = svc_metrics_new();
  CHECK(reg && worker_stats_attach(e.st, reg) == 0, "attach");
  char err[256];
  char k1[1024];
  upload(&e, "app", g_cpu[0], k1, sizeof k1);
  /* Phase 1: the worker runs against a store that cannot be reached. */
  blob_store *dead = dead_store();
  run_arg a;
  memset(&a, 0, sizeof a);
  a.c = run_config(&e);
  a.c.blob = dead;
  a.c.backoff_max_ms = 50;
  pthread_t th;
  pthread_create(&th, NULL, run_main, &a);
  CHECK(wait_for(is_ready, e.st, 5000), "never ready");
  CHECK(wait_for(unhealthy, e.st, 20000), "store failing but healthy");
  char *json = NULL;
  worker_stats_health(e.st, &json);
  CHECK(json && strstr(json, "\"unhealthy\"") && strstr(json, "\"blob\"") &&
            strstr(json, "\"event-writer\"") && strstr(json, "\"event-reader\"") &&
            strstr(json, "{\"name\":\"worker\",\"status\":\"unhealthy\""),
        "health body %s", json ? json : "");
  free(json);
  CHECK(counts(&e).uploads_merged == 0, "merged while failing");
  /* stop while failing: returns 0, commits nothing */
  a.stop = 1;
  pthread_join(th, NULL);
  CHECK(a.rc == 0, "worker_run rc %d", a.rc);
  CHECK(!worker_stats_ready(e.st), "still ready after stop");
  CHECK(counts(&e).retries > 0, "no retries counted");
  CHECK(counts(&e).commits == 0, "committed an unfinished batch");
  blob_close(dead);

  /* Phase 2: a new worker on a working store gets the event again. */
  bus_reader_close(e.rd);
  CHECK(bus_reader_open(e.topic, &e.rd, err, sizeof err) == 0, "%s", err);
  memset(&a, 0, sizeof a);
  a.c = run_config(&e);
  pthread_create(&th, NULL, run_main, &a);
  upload(&e, "app", g_cpu[1], NULL, 0);
  CHECK(wait_for(healthy_and_merged, &e, 15000), "did not recover");
  a.stop = 1;
  pthread_join(th, NULL);
  CHECK(a.rc == 0, "worker_run rc %d", a.rc);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1),
        "totals after recovery");
  pp_free(b);
  /* the registry renders what the stats counted (the first upload was read
   * twice: by the failing worker, then again) */
  char *prom = svc_metrics_render(reg);
  char want[128];
  snprintf(want, sizeof want, "\npgopipe_worker_uploads_merged_total %llu\n",
           (unsigned long long)counts(&e).uploads_merged);
  CHECK(prom && strstr(prom, "pgopipe_worker_merge_seconds_bucket") && strstr(prom, want) &&
            strstr(prom, "\npgopipe_worker_retries_total ") && strstr(prom, "\npgopipe_worker_healthy 1\n") &&
            strstr(prom, "pgopipe_worker_events_total{type=\"profile.uploaded\"} 3\n"),
        "metrics text: %s", prom ? prom : "");
  free(prom);
  env_close(&e);
  svc_metrics_free(reg);
}


/* The in-process entry point, as pgopipe-server --worker uses it: a
 * leftover staged upload (its mem:// event died with the last process) is
 * reconciled at start, and new uploads are merged; stop returns cleanly. */
static int embed_done(void *e) {
  env *en = e;
  pp_profile *b = base_of(en, "emb");
  int64_t t = b ? pp_total(b, 1) : -1;
  pp_free(b);
  return t == 2 * file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) &&
         count_prefix(en, "emb/staging/") == 0;
}

static void test_embed(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char k[1024], err[512];
  stage(&e, "emb", g_cpu[0], k, sizeof k); /* left over, no event */
  char rules_path[700];
  snprintf(rules_path, sizeof rules_path, "%s/embed-rules.json", g_tmp);
  FILE *f = fopen(rules_path, "wb");
  fputs("[{\"app\": \"emb\", \"rules\": [{\"drop\": \"(x\"}]}]", f);
  fclose(f);
  worker_embed_config c;
  memset(&c, 0, sizeof c);
  c.blob = e.blob;
  c.writer_url = e.topic;
  c.prune_path = rules_path;
  c.batch_wait_ms = 10;
  worker_embed *w = NULL;
  CHECK(worker_embed_start(&c, &w, err, sizeof err) != 0 && !w && strstr(err, "embed-rules.json") &&
            strstr(err, "offset"), "bad rules accepted: %s", err);
  f = fopen(rules_path, "wb");
  fputs("[]", f);
  fclose(f);
  /* the env's own worker is not running; close its reader so the embedded
   * one owns the topic */
  bus_reader_close(e.rd);
  e.rd = NULL;
  CHECK(worker_embed_start(&c, &w, err, sizeof err) == 0, "%s", err);
  upload(&e, "emb", g_cpu[0], NULL, 0);
  upload(&e, "emb", g_cpu[1], NULL, 0);
  worker_embed_reload(w);
  CHECK(wait_for(embed_done, &e, 20000), "embedded worker did not merge");
  CHECK(worker_stats_ready(worker_embed_stats(w)), "not ready");
  CHECK(worker_embed_stop(w, err, sizeof err) == 0, "%s", err);
  CHECK(bus_reader_open(e.topic, &e.rd, err, sizeof err) == 0, "%s", err);
  env_close(&e);
}

/* A backlog grows the batch (fewer base writes than batch_max allows), but
 * not past batch_grow_bytes of staged uploads at the last batch's average:
 * with a bound below one upload the batches stay at batch_max. */
typedef struct grow_wait {
  env *e;
  uint64_t want;
} grow_wait;
static int all_merged(void *p) {
  grow_wait *g = p;
  return counts(g->e).uploads_merged >= g->want;
}

static uint64_t backlog_writes(size_t grow_bytes) {
  env e;
  env_open(&e, NULL, 50, 0);
  enum { N = 48 };
  for (size_t i = 0; i < N; i++) upload(&e, "grow", g_cpu[i % g_ncpu], NULL, 0);
  run_arg a;
  memset(&a, 0, sizeof a);
  a.c = run_config(&e);
  a.c.batch_max = 4;
  a.c.batch_grow_bytes = grow_bytes;
  pthread_t th;
  pthread_create(&th, NULL, run_main, &a);
  grow_wait g = {&e, N};
  CHECK(wait_for(all_merged, &g, 60000), "the backlog was not merged");
  a.stop = 1;
  pthread_join(th, NULL);
  CHECK(a.rc == 0, "worker_run rc %d", a.rc);
  uint64_t writes = counts(&e).merges;
  pp_profile *b = base_of(&e, "grow");
  int64_t want = 0;
  for (size_t i = 0; i < N; i++) want += file_total(g_cpu[i % g_ncpu], 1);
  CHECK(b && pp_total(b, 1) == want, "the base lacks some of the backlog");
  pp_free(b);
  env_close(&e);
  return writes;
}

static void test_batch_growth(void) {
  uint64_t grown = backlog_writes(0), bounded = backlog_writes(1);
  fprintf(stderr, "48 waiting uploads, batch_max 4: %llu base writes growing, %llu bounded\n",
          (unsigned long long)grown, (unsigned long long)bounded);
  /* the first batch (no average yet) stays at 4; the rest grow to 64 */
  CHECK(grown >= 2 && grown <= 4, "%llu base writes with a growing batch", (unsigned long long)grown);
  CHECK(bounded >= 12, "%llu base writes: the byte bound did not hold the batch at batch_max",
        (unsigned long long)bounded);
}

int main(int argc, char **argv) {
  int rc = wenv_init(argc, argv, "worker_run_test");
  if (rc) return rc;
  test_reconcile();
  test_codes();
  test_run_transient();
  test_embed();
  test_batch_growth();
  wenv_done();
  return check_exit("worker_run_test");
}
