/*
 * worker_test.c — the merge worker's rules, checked in-process on the real
 * file:// store and the real mem:// bus with real Go CPU profiles.
 *
 *   worker_test PROFILE_DIR
 * PROFILE_DIR holds cpu/NAME.pb.gz files and heap.pb.gz (gen-profiles.sh).
 *
 * What it proves, each in its own function:
 *  - rules files: accepted forms, and every error names file, app, rule
 *    index and regex offset; the size limit at and past the edge;
 *  - an upload lands in the base once; the base equals an independent merge;
 *    profile.merged removes the staged object;
 *  - redelivery (same events again, as after a crash before the commit) and
 *    a crash between the base write and the commit count nothing twice;
 *  - a staged object gone and not in the record is skipped, not fatal;
 *  - poison (garbage, heap into a CPU base) ends in rejected/, others merge;
 *  - profile.deleted removes every object of the app and only of that app,
 *    as it was at the DELETE: an upload accepted after it (in the same batch
 *    or a later one, also after a mem:// restart) ends in a fresh base, an
 *    upload before it never comes back; the cut-off at and past its edge;
 *  - batching: many uploads, one base write, same totals;
 *  - prune rules give what merge+prune gives;
 *  - reconciliation merges staged uploads without events exactly once, also
 *    after a "restart" where mem:// offsets begin at 0 again;
 *  - malformed envelopes and unknown types are skipped and committed;
 *  - worker_run: transient store failure → unhealthy, retries, recovery →
 *    healthy, nothing lost; stop finishes and returns 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "bus.h"
#include "pprof.h"
#include "rules.h"
#include "svc_log.h"
#include "svc_metrics.h"
#include "worker.h"

static int failures, checks;
#define CHECK(c, ...)                                                   \
  do {                                                                  \
    checks++;                                                           \
    if (!(c)) {                                                         \
      failures++;                                                       \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c);      \
      fprintf(stderr, __VA_ARGS__);                                     \
      fprintf(stderr, "\n");                                            \
    }                                                                   \
  } while (0)

static char g_cpu[64][1024];
static size_t g_ncpu;
static char g_heap[1024];
static char g_tmp[512];
static int g_topic;
static size_t g_max_profile; /* max_profile_bytes for the next env_open (0 = default) */

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static pp_profile *decode_file(const char *path) {
  size_t len;
  uint8_t *b = slurp(path, &len);
  if (!b) return NULL;
  pp_profile *p = NULL;
  char err[256];
  if (pp_decode(b, len, NULL, &p, err, sizeof err) != 0) p = NULL;
  free(b);
  return p;
}

/* The worker's log records on stderr with WORKER_TEST_DEBUG set, else none. */
static void log_stderr(void *ctx, int level, const char *msg, const char *const *kv, size_t n) {
  (void)ctx;
  fprintf(stderr, "worker[%d] %s", level, msg);
  for (size_t i = 0; i < n; i++) fprintf(stderr, " %s=%s", kv[2 * i], kv[2 * i + 1] ? kv[2 * i + 1] : "null");
  fputc('\n', stderr);
}

static core_logger test_log(void) {
  core_logger lg = {getenv("WORKER_TEST_DEBUG") ? log_stderr : NULL, NULL, CORE_LOG_DEBUG};
  return lg;
}

/* A fresh store + bus per scenario. */
typedef struct env {
  char dir[600];
  char url[700];
  char topic[64];
  blob_store *blob;
  bus_writer *wr;
  bus_reader *rd;
  worker_stats *st;
  worker *w;
  const rules_set *rules;
} env;

static void env_open(env *e, const rules_set *rules, size_t batch_max) {
  memset(e, 0, sizeof *e);
  snprintf(e->dir, sizeof e->dir, "%s/s%d", g_tmp, ++g_topic);
  mkdir(e->dir, 0755);
  snprintf(e->url, sizeof e->url, "file://%s", e->dir);
  snprintf(e->topic, sizeof e->topic, "mem://t%d", g_topic);
  char err[512];
  if (blob_open(e->url, &e->blob, err, sizeof err) || bus_writer_open(e->topic, &e->wr, err, sizeof err) ||
      bus_reader_open(e->topic, &e->rd, err, sizeof err)) {
    fprintf(stderr, "env: %s\n", err);
    exit(1);
  }
  e->st = worker_stats_new();
  e->rules = rules;
  worker_config c;
  memset(&c, 0, sizeof c);
  c.blob = e->blob;
  c.reader = e->rd;
  c.writer = e->wr;
  c.rules = rules;
  c.batch_max = batch_max;
  c.batch_wait_ms = 0;
  c.max_profile_bytes = g_max_profile;
  c.stats = e->st;
  c.log = test_log();
  c.backoff_min_ms = 10;
  c.backoff_max_ms = 100;
  c.reader_url = e->topic;
  if (worker_new(&c, &e->w, err, sizeof err)) {
    fprintf(stderr, "worker_new: %s\n", err);
    exit(1);
  }
}

/* "Crash": drop the worker and the reader without committing more. */
static void env_restart(env *e, int new_topic) {
  worker_free(e->w);
  bus_reader_close(e->rd);
  char err[512];
  if (new_topic) {
    /* the in-process bus of a new process: empty, offsets from 0 */
    bus_writer_close(e->wr);
    snprintf(e->topic, sizeof e->topic, "mem://t%d", ++g_topic);
    if (bus_writer_open(e->topic, &e->wr, err, sizeof err)) exit(1);
  }
  if (bus_reader_open(e->topic, &e->rd, err, sizeof err)) exit(1);
  worker_config c;
  memset(&c, 0, sizeof c);
  c.blob = e->blob;
  c.reader = e->rd;
  c.writer = e->wr;
  c.rules = e->rules;
  c.batch_max = 1000;
  c.stats = e->st;
  c.log = test_log();
  c.backoff_min_ms = 10;
  c.backoff_max_ms = 100;
  if (worker_new(&c, &e->w, err, sizeof err)) exit(1);
}

static void env_close(env *e) {
  worker_free(e->w);
  bus_reader_close(e->rd);
  bus_writer_close(e->wr);
  blob_close(e->blob);
  worker_stats_free(e->st);
}

static void stage(env *e, const char *app, const char *file, char *key, size_t n) {
  static unsigned seq;
  size_t len;
  uint8_t *b = slurp(file, &len);
  if (!b) { fprintf(stderr, "cannot read %s\n", file); exit(1); }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(key, n, "%s/staging/%lld-%08x", app, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
           ++seq);
  char err[512];
  if (blob_put(e->blob, key, b, len, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
  free(b);
}

static void publish(env *e, const char *type, const char *app, const char *key) {
  bus_event ev;
  bus_event_init(&ev, type, app);
  if (key) snprintf(ev.profile_key, sizeof ev.profile_key, "%s", key);
  if (!strcmp(type, BUS_TYPE_MERGED)) snprintf(ev.merged_key, sizeof ev.merged_key, "%s/default.pgo", app);
  char err[512];
  if (bus_publish_event(e->wr, &ev, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
}

static void upload(env *e, const char *app, const char *file, char *key, size_t n) {
  char k[1024];
  if (!key) { key = k; n = sizeof k; }
  stage(e, app, file, key, n);
  publish(e, BUS_TYPE_UPLOADED, app, key);
}

/* Stages file under {app}/staging/{ns}-{hex}, a name with a chosen time. */
static void stage_at(env *e, const char *app, const char *file, int64_t ns, char *key, size_t n) {
  static unsigned seq;
  size_t len;
  uint8_t *b = slurp(file, &len);
  if (!b) { fprintf(stderr, "cannot read %s\n", file); exit(1); }
  snprintf(key, n, "%s/staging/%lld-%08x", app, (long long)ns, 0xa0000000u + ++seq);
  char err[512];
  if (blob_put(e->blob, key, b, len, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
  free(b);
}

static int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Returns once the wall clock's millisecond has moved past that of ns
 * (at most ~1 ms of polling the clock). */
static void past_ms_of(int64_t ns) {
  while (wall_ns() / 1000000 <= ns / 1000000) {
  }
}

/* What the server's DELETE does: publish profile.deleted, then remove the
 * base. The event's timestamp is ms (a time given by the caller when
 * at_ms >= 0, else now); returns that ms. */
static int64_t server_delete(env *e, const char *app, int64_t at_ms) {
  bus_event ev;
  bus_event_init(&ev, BUS_TYPE_DELETED, app);
  int64_t ms = at_ms >= 0 ? at_ms : wall_ns() / 1000000;
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char day[32];
  strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ev.timestamp, sizeof ev.timestamp, "%.20s.%03dZ", day, (int)(ms % 1000) % 1000);
  char err[512], key[128];
  if (bus_publish_event(e->wr, &ev, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
  snprintf(key, sizeof key, "%s/default.pgo", app);
  blob_delete(e->blob, key, err, sizeof err);
  return ms;
}

/* Handles everything the bus has (including the profile.merged events the
 * worker itself publishes) in batches of up to `max`. commit=0 simulates a
 * crash before the commit: the messages are handled but not committed. */
static void drain(env *e, size_t max) {
  bus_msg *msgs[4096];
  for (;;) {
    size_t n = 0;
    char err[512];
    bus_msg *m;
    while (n < max && n < 4096 && bus_poll(e->rd, n ? 0 : 20, &m, err, sizeof err) == 1) msgs[n++] = m;
    if (!n) return;
    CHECK(worker_handle_batch(e->w, msgs, n, NULL) == 0, "handle_batch");
    for (size_t i = 0; i < n; i++) bus_msg_free(msgs[i]);
  }
}

static int exists(env *e, const char *key) {
  blob_info info;
  char err[256];
  return blob_stat(e->blob, key, &info, err, sizeof err) == 0;
}

static size_t count_prefix(env *e, const char *prefix) {
  blob_iter *it;
  char err[256];
  if (blob_list(e->blob, prefix, &it, err, sizeof err)) return (size_t)-1;
  const char *k;
  blob_info info;
  size_t n = 0;
  while (blob_iter_next(it, &k, &info, err, sizeof err) == 1) n++;
  blob_iter_free(it);
  return n;
}

static pp_profile *base_of(env *e, const char *app) {
  char key[128], err[256];
  snprintf(key, sizeof key, "%s/default.pgo", app);
  uint8_t *b;
  size_t len;
  if (blob_get(e->blob, key, 0, &b, &len, NULL, err, sizeof err)) return NULL;
  pp_profile *p = NULL;
  if (pp_decode(b, len, NULL, &p, err, sizeof err)) p = NULL;
  free(b);
  return p;
}

static int64_t file_total(const char *file, size_t vi) {
  pp_profile *p = decode_file(file);
  int64_t t = p ? pp_total(p, vi) : -1;
  pp_free(p);
  return t;
}

static size_t record_size(const pp_profile *p) {
  size_t pl = strlen(WORKER_RECORD_PREFIX), n = 0;
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, WORKER_RECORD_PREFIX, pl)) continue;
    for (const char *s = c + pl; *s; s++)
      if (*s != ' ' && (s[-1] == ' ' || s == c + pl)) n++;
  }
  return n;
}

static worker_counts counts(env *e) {
  worker_counts c;
  worker_stats_counts(e->st, &c);
  return c;
}

/* ---------------------------------------------------------------- */

static void test_rules(void) {
  rules_set *s = NULL;
  char err[512];
  const char *ok = "[{\"app\": \"example\", \"rules\": [{\"drop\": \"^runtime\\\\.\", \"keep\": "
                   "\"^runtime\\\\.mallocgc$\"}, {\"drop\": \"^sync\\\\.\"}]}, {\"app\": \"b\", \"rules\": []}]";
  CHECK(rules_parse(ok, strlen(ok), "r.json", &s, err, sizeof err) == 0, "%s", err);
  CHECK(rules_app_count(s) == 2 && rules_rule_count(s) == 2, "counts");
  CHECK(rules_for_app(s, "example") && pp_rules_count(rules_for_app(s, "example")) == 2, "example");
  CHECK(rules_for_app(s, "nope") == NULL, "absent app");
  rules_free(s);
  CHECK(rules_parse("[]", 2, "r.json", &s, err, sizeof err) == 0 && rules_app_count(s) == 0, "empty");
  rules_free(s);

  struct { const char *json, *want1, *want2; } bad[] = {
      {"[{\"app\": \"a\", \"rules\": [", "r.json", "invalid JSON at line 1"},
      {"{\"app\": \"a\"}", "r.json", "expected a JSON array"},
      {"[{\"rules\": []}]", "entry 0", "missing \"app\""},
      {"[{\"app\": \"a\"}]", "app \"a\"", "missing \"rules\""},
      {"[{\"app\": \"a\", \"rules\": [{\"keep\": \"x\"}]}]", "app \"a\" rule 0", "missing \"drop\""},
      {"[{\"app\": \"a\", \"rules\": [{\"drop\": 3}]}]", "app \"a\" rule 0", "non-string \"drop\""},
      {"[{\"app\": \"a\", \"rules\": [{\"drop\": \"x\"}, {\"drop\": \"(x\"}]}]", "app \"a\" rule 1",
       "offset 2"},
      {"[{\"app\": \"a\", \"rules\": [{\"drop\": \"x\", \"keep\": \"[\"}]}]", "app \"a\" rule 0", "offset"},
      {"[{\"app\": \"a\", \"rules\": []}, {\"app\": \"a\", \"rules\": []}]", "app \"a\"", "twice"},
      {"[{\"app\": \"Bad_App\", \"rules\": []}]", "Bad_App", "not a valid app name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = NULL;
    err[0] = 0;
    int rc = rules_parse(bad[i].json, strlen(bad[i].json), "r.json", &s, err, sizeof err);
    CHECK(rc != 0 && s == NULL, "bad[%zu] accepted", i);
    CHECK(strstr(err, "r.json") && strstr(err, bad[i].want1) && strstr(err, bad[i].want2),
          "bad[%zu]: message \"%s\" lacks \"%s\"/\"%s\"", i, err, bad[i].want1, bad[i].want2);
  }

  /* the file size limit, at and past the edge */
  char path[700];
  snprintf(path, sizeof path, "%s/rules-big.json", g_tmp);
  for (int past = 0; past <= 1; past++) {
    FILE *f = fopen(path, "wb");
    fputs("[]", f);
    for (size_t i = 2; i < RULES_MAX_FILE_BYTES + (size_t)past; i++) fputc(' ', f);
    fclose(f);
    s = NULL;
    int rc = rules_load(path, &s, err, sizeof err);
    if (!past) CHECK(rc == 0, "file of exactly the limit refused: %s", err);
    else CHECK(rc != 0 && strstr(err, "larger than") && strstr(err, path), "past the limit: %s", err);
    rules_free(s);
  }
  unlink(path);
  CHECK(rules_load("/nonexistent/rules.json", &s, err, sizeof err) != 0 &&
            strstr(err, "/nonexistent/rules.json"), "missing file: %s", err);
}

static void test_merge_once(void) {
  env e;
  env_open(&e, NULL, 50);
  char k1[1024], k2[1024];
  upload(&e, "app", g_cpu[0], k1, sizeof k1);
  upload(&e, "app", g_cpu[1], k2, sizeof k2);
  drain(&e, 50);
  pp_profile *b = base_of(&e, "app");
  CHECK(b != NULL, "no base");
  if (b) {
    for (size_t vi = 0; vi < 2; vi++)
      CHECK(pp_total(b, vi) == file_total(g_cpu[0], vi) + file_total(g_cpu[1], vi), "total %zu", vi);
    /* an independent merge of exactly those uploads */
    pp_profile *in[2] = {decode_file(g_cpu[1]), decode_file(g_cpu[0])};
    pp_profile *ref = NULL;
    char err[256];
    CHECK(pp_merge(in, 2, &ref, err, sizeof err) == 0, "%s", err);
    if (ref) {
      CHECK(pp_sample_count(b) == pp_sample_count(ref), "samples %zu vs %zu", pp_sample_count(b),
            pp_sample_count(ref));
      CHECK(pp_location_count(b) == pp_location_count(ref), "locations");
      CHECK(pp_function_count(b) == pp_function_count(ref), "functions");
      pp_free(ref);
    }
  }
  pp_free(b);
  CHECK(!exists(&e, k1) && !exists(&e, k2), "staged objects still there after profile.merged");
  worker_counts c = counts(&e);
  CHECK(c.uploads_merged == 2 && c.duplicates == 0, "merged %llu", (unsigned long long)c.uploads_merged);
  CHECK(c.staged_deleted == 2, "staged_deleted %llu", (unsigned long long)c.staged_deleted);
  CHECK(c.conflicts == 0 && c.retries == 0, "conflicts %llu retries %llu on a quiet store",
        (unsigned long long)c.conflicts, (unsigned long long)c.retries);
  /* The worker keeps the base it wrote; a base replaced behind its back
   * (another writer, a restore) must be read again, not the kept one used. */
  upload(&e, "app", g_cpu[2], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) + file_total(g_cpu[2], 1),
        "second write from the kept base");
  CHECK(counts(&e).cache_hits == 1, "kept base not used (hits %llu)", (unsigned long long)counts(&e).cache_hits);
  pp_free(b);
  {
    size_t len;
    uint8_t *raw = slurp(g_cpu[2], &len);
    char err[256];
    CHECK(raw && blob_put(e.blob, "app/default.pgo", raw, len, err, sizeof err) == 0, "replace base");
    free(raw);
  }
  upload(&e, "app", g_cpu[1], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[2], 1) + file_total(g_cpu[1], 1),
        "a replaced base was not read again: total %lld", b ? (long long)pp_total(b, 1) : -1LL);
  CHECK(counts(&e).cache_hits == 1, "kept base used after it was replaced");
  pp_free(b);
  env_close(&e);
}

static void test_redelivery_and_crash(void) {
  env e;
  env_open(&e, NULL, 50);
  char k1[1024], k2[1024];
  stage(&e, "app", g_cpu[0], k1, sizeof k1);
  stage(&e, "app", g_cpu[1], k2, sizeof k2);
  char err[512];
  const char *keys[] = {k1, k2};
  /* A crash after the base write, before publishing and committing: the
   * merge happened, nothing else. */
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  env_restart(&e, 0);
  drain(&e, 50); /* drop the profile.merged the first attempt published */
  /* Kafka redelivers the uploads (never committed): */
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  publish(&e, BUS_TYPE_UPLOADED, "app", k2);
  drain(&e, 50);
  /* and once more, after the staged objects are gone */
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  publish(&e, BUS_TYPE_UPLOADED, "app", k2);
  drain(&e, 50);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1),
        "base counted a redelivered upload twice");
  worker_counts c = counts(&e);
  /* both rounds are recognised by the record (no base write since) */
  CHECK(c.duplicates == 4, "duplicates %llu", (unsigned long long)c.duplicates);
  CHECK(!exists(&e, k1) && !exists(&e, k2), "staged left");

  /* A later upload: the record shrinks to what is still staged. */
  char k3[1024];
  upload(&e, "app", g_cpu[2 % g_ncpu], k3, sizeof k3);
  drain(&e, 50);
  pp_free(b);
  b = base_of(&e, "app");
  CHECK(b && record_size(b) == 1, "record holds %zu names, want 1 (only the last upload)",
        b ? record_size(b) : 0);
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) +
                                   file_total(g_cpu[2 % g_ncpu], 1), "total after third");
  /* now k1 is neither staged nor in the record: skipped as missing */
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  drain(&e, 50);
  CHECK(counts(&e).missing == 1, "missing %llu", (unsigned long long)counts(&e).missing);
  pp_free(b);
  /* the same events handled twice in one batch */
  char k4[1024];
  stage(&e, "app", g_cpu[0], k4, sizeof k4);
  publish(&e, BUS_TYPE_UPLOADED, "app", k4);
  publish(&e, BUS_TYPE_UPLOADED, "app", k4);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == 2 * file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) +
                                   file_total(g_cpu[2 % g_ncpu], 1), "duplicate in one batch");
  pp_free(b);
  env_close(&e);
}

static void test_poison(void) {
  env e;
  env_open(&e, NULL, 50);
  char good[1024], garbage[1024], heap[1024], gpath[700];
  snprintf(gpath, sizeof gpath, "%s/garbage.bin", g_tmp);
  FILE *f = fopen(gpath, "wb");
  fputs("this is not a profile", f);
  fclose(f);
  upload(&e, "app", g_cpu[0], good, sizeof good);
  drain(&e, 50);
  upload(&e, "app", gpath, garbage, sizeof garbage);
  upload(&e, "app", g_heap, heap, sizeof heap);
  char good2[1024];
  upload(&e, "app", g_cpu[1], good2, sizeof good2);
  drain(&e, 50);
  worker_counts c = counts(&e);
  CHECK(c.rejected == 2, "rejected %llu", (unsigned long long)c.rejected);
  char rk[1200];
  snprintf(rk, sizeof rk, "app/rejected/%s", strrchr(garbage, '/') + 1);
  CHECK(exists(&e, rk), "%s missing", rk);
  snprintf(rk, sizeof rk, "app/rejected/%s", strrchr(heap, '/') + 1);
  CHECK(exists(&e, rk), "%s missing", rk);
  CHECK(!exists(&e, garbage) && !exists(&e, heap), "poison still staged");
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1),
        "good uploads around the poison not merged");
  pp_free(b);
  /* A heap profile first, with no base: it becomes the reference; the CPU
   * upload after it in the same batch is the incompatible one. Either way
   * exactly one of them ends in rejected/ and nothing crashes. */
  upload(&e, "other", g_heap, NULL, 0);
  upload(&e, "other", g_cpu[0], NULL, 0);
  drain(&e, 50);
  CHECK(count_prefix(&e, "other/rejected/") == 1, "one rejected for other");
  /* a corrupt base is set aside, and a new base is started */
  {
    char err[256];
    CHECK(blob_put(e.blob, "third/default.pgo", "junk", 4, err, sizeof err) == 0, "%s", err);
  }
  upload(&e, "third", g_cpu[0], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "third");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1), "new base after a corrupt one");
  pp_free(b);
  CHECK(count_prefix(&e, "third/rejected/") == 1, "corrupt base not kept in rejected/");
  env_close(&e);
}

static void test_delete(void) {
  env e;
  env_open(&e, NULL, 50);
  upload(&e, "app", g_cpu[0], NULL, 0);
  upload(&e, "app-two", g_cpu[1], NULL, 0);
  drain(&e, 50);
  char k[1024];
  stage(&e, "app", g_cpu[1], k, sizeof k); /* staged, not yet announced */
  past_ms_of(wall_ns()); /* ...and named in a millisecond before the delete's */
  char err[256];
  blob_put(e.blob, "app/rejected/x", "x", 1, err, sizeof err);
  CHECK(count_prefix(&e, "app/") == 3, "setup: %zu objects", count_prefix(&e, "app/"));
  publish(&e, BUS_TYPE_DELETED, "app", NULL);
  drain(&e, 50);
  CHECK(count_prefix(&e, "app/") == 0, "app/ still has %zu objects", count_prefix(&e, "app/"));
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
    env_open(&e, NULL, batch);
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
  env_open(&e, NULL, 1);
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
  env_open(&e, NULL, 50);
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
  env_open(&e, NULL, 50);
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
  env_open(&e, NULL, 50);
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

static void test_batching(void) {
  size_t n = 40;
  env e;
  env_open(&e, NULL, 200);
  int64_t want = 0;
  for (size_t i = 0; i < n; i++) {
    upload(&e, "app", g_cpu[i % g_ncpu], NULL, 0);
    want += file_total(g_cpu[i % g_ncpu], 1);
  }
  drain(&e, 200);
  worker_counts c = counts(&e);
  CHECK(c.merges == 1, "%llu base writes for one batch", (unsigned long long)c.merges);
  CHECK(c.uploads_merged == n, "uploads merged %llu", (unsigned long long)c.uploads_merged);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == want, "batched total");
  pp_free(b);
  CHECK(count_prefix(&e, "app/staging/") == 0, "staging not empty");
  /* unbatched: one write per upload, same result */
  env f;
  env_open(&f, NULL, 1);
  for (size_t i = 0; i < 5; i++) upload(&f, "app", g_cpu[i % g_ncpu], NULL, 0);
  drain(&f, 1);
  CHECK(counts(&f).merges == 5, "unbatched merges %llu", (unsigned long long)counts(&f).merges);
  env_close(&f);
  env_close(&e);
}

static void test_prune(void) {
  rules_set *rs = NULL;
  char err[512];
  const char *j = "[{\"app\": \"pruned\", \"rules\": [{\"drop\": \"^runtime\\\\.\", \"keep\": "
                  "\"^runtime\\\\.mallocgc$\"}, {\"drop\": \"^sort\\\\.\"}]}]";
  CHECK(rules_parse(j, strlen(j), "t.json", &rs, err, sizeof err) == 0, "%s", err);
  env e;
  env_open(&e, rs, 50);
  upload(&e, "pruned", g_cpu[0], NULL, 0);
  upload(&e, "pruned", g_cpu[1], NULL, 0);
  upload(&e, "plain", g_cpu[0], NULL, 0);
  drain(&e, 50);
  pp_profile *in[2] = {decode_file(g_cpu[1]), decode_file(g_cpu[0])};
  pp_profile *ref = NULL;
  CHECK(pp_merge(in, 2, &ref, err, sizeof err) == 0, "%s", err);
  size_t unpruned_locs = ref ? pp_location_count(ref) : 0;
  CHECK(pp_prune(ref, rules_for_app(rs, "pruned"), err, sizeof err) == 0, "%s", err);
  pp_profile *b = base_of(&e, "pruned");
  CHECK(b && ref, "bases");
  if (b && ref) {
    CHECK(pp_sample_count(b) == pp_sample_count(ref), "samples %zu vs %zu", pp_sample_count(b),
          pp_sample_count(ref));
    CHECK(pp_location_count(b) == pp_location_count(ref), "locations %zu vs %zu",
          pp_location_count(b), pp_location_count(ref));
    CHECK(pp_total(b, 1) == pp_total(ref, 1), "totals");
    CHECK(pp_location_count(b) <= unpruned_locs, "pruning removed nothing");
  }
  pp_free(b);
  pp_free(ref);
  pp_profile *plain = base_of(&e, "plain");
  CHECK(plain && pp_total(plain, 1) == file_total(g_cpu[0], 1), "unpruned app");
  pp_free(plain);
  env_close(&e);
  rules_free(rs);
}

static void test_reconcile(void) {
  env e;
  env_open(&e, NULL, 50);
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

static void test_malformed(void) {
  env e;
  env_open(&e, NULL, 50);
  char err[256];
  bus_publish(e.wr, "x", "{not json", 9, err, sizeof err);
  bus_publish(e.wr, "x", "{}", 2, err, sizeof err);
  const char *other = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":"
                      "\"2026-11-21T12:16:34.964Z\",\"type\":\"profile.viewed\",\"payload\":{}}";
  bus_publish(e.wr, "x", other, strlen(other), err, sizeof err);
  /* a profileKey outside the app's staging must never be read or deleted */
  publish(&e, BUS_TYPE_UPLOADED, "app", "app/default.pgo");
  publish(&e, BUS_TYPE_MERGED, "app", "other/default.pgo");
  upload(&e, "app", g_cpu[0], NULL, 0);
  blob_put(e.blob, "other/default.pgo", "keep", 4, err, sizeof err);
  drain(&e, 50);
  worker_counts c = counts(&e);
  CHECK(c.malformed >= 4, "malformed %llu", (unsigned long long)c.malformed);
  CHECK(c.skipped_types == 1, "skipped types %llu", (unsigned long long)c.skipped_types);
  CHECK(exists(&e, "other/default.pgo"), "a profile.merged deleted a non-staged key");
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1), "good event after bad ones");
  pp_free(b);
  /* everything was committed: a new reader of the topic sees nothing */
  env_restart(&e, 0);
  bus_msg *m = NULL;
  CHECK(bus_poll(e.rd, 50, &m, err, sizeof err) == 0, "uncommitted events left");
  if (m) bus_msg_free(m);
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

static int wait_for(int (*pred)(void *), void *ctx, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (pred(ctx)) return 1;
    struct timespec d = {0, 10000000};
    nanosleep(&d, NULL);
  }
  return pred(ctx);
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
  env_open(&e, NULL, 50);
  svc_metrics *reg = svc_metrics_new();
  CHECK(reg && worker_stats_attach(e.st, reg) == 0, "attach");
  char err[256];
  char k1[1024];
  upload(&e, "app", g_cpu[0], k1, sizeof k1);
  /* Phase 1: the worker runs against a store that cannot be reached. */
  setenv("AWS_ACCESS_KEY_ID", "test", 0);
  setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 0);
  blob_store *dead = NULL;
  CHECK(blob_open("s3://bucket?endpoint=http://127.0.0.1:1&region=us-east-1&use_path_style=true",
                  &dead, err, sizeof err) == 0, "%s", err);
  run_arg a;
  memset(&a, 0, sizeof a);
  a.c.blob = dead;
  a.c.reader = e.rd;
  a.c.writer = e.wr;
  a.c.stats = e.st;
  a.c.batch_max = 50;
  a.c.batch_wait_ms = 10;
  a.c.backoff_min_ms = 10;
  a.c.backoff_max_ms = 50;
  a.c.poll_ms = 20;
  a.c.reconcile = 0;
  a.c.log = test_log();
  pthread_t th;
  pthread_create(&th, NULL, run_main, &a);
  CHECK(wait_for(is_ready, e.st, 5000), "never ready");
  CHECK(wait_for(unhealthy, e.st, 20000), "store failing but healthy");
  char *json = NULL;
  worker_stats_health(e.st, &json);
  CHECK(json && strstr(json, "\"unhealthy\"") && strstr(json, "\"blob\""), "health body %s",
        json ? json : "");
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
  a.c.blob = e.blob;
  a.c.reader = e.rd;
  a.c.writer = e.wr;
  a.c.stats = e.st;
  a.c.batch_max = 50;
  a.c.batch_wait_ms = 10;
  a.c.poll_ms = 20;
  a.c.reconcile = 0;
  a.c.log = test_log();
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

/* The staged-object size limit, at and past the edge: a valid profile of
 * exactly the limit merges, one a byte larger is set aside. */
static void test_limit(void) {
  size_t small = 0, big = 0, si = 0, bi = 0;
  for (size_t i = 0; i < g_ncpu; i++) {
    struct stat st;
    if (stat(g_cpu[i], &st)) continue;
    if (!small || (size_t)st.st_size < small) { small = (size_t)st.st_size; si = i; }
    if ((size_t)st.st_size > big) { big = (size_t)st.st_size; bi = i; }
  }
  CHECK(big > small, "profiles of one size");
  g_max_profile = small;
  env e;
  env_open(&e, NULL, 50);
  g_max_profile = 0;
  char k1[1024], k2[1024];
  upload(&e, "lim", g_cpu[si], k1, sizeof k1);
  drain(&e, 50);
  /* one byte past the limit: the largest profile with the limit at its
   * size minus one (a valid profile, so size is the only reason to refuse) */
  worker_free(e.w);
  worker_config c;
  memset(&c, 0, sizeof c);
  c.blob = e.blob;
  c.reader = e.rd;
  c.writer = e.wr;
  c.stats = e.st;
  c.max_profile_bytes = big - 1;
  c.log = test_log();
  char err[256];
  CHECK(worker_new(&c, &e.w, err, sizeof err) == 0, "%s", err);
  upload(&e, "lim", g_cpu[bi], k2, sizeof k2);
  drain(&e, 50);
  worker_counts n = counts(&e);
  CHECK(n.uploads_merged == 1 && n.rejected == 1, "at the limit merged %llu, past it rejected %llu",
        (unsigned long long)n.uploads_merged, (unsigned long long)n.rejected);
  char rk[1200];
  snprintf(rk, sizeof rk, "lim/rejected/%s", strrchr(k2, '/') + 1);
  CHECK(exists(&e, rk), "oversized upload not in rejected/");
  env_close(&e);
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
  env_open(&e, NULL, 50);
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

static int cmp_path(const void *a, const void *b) { return strcmp(a, b); }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: worker_test PROFILE_DIR\n");
    return 2;
  }
  char cpudir[760];
  snprintf(cpudir, sizeof cpudir, "%.700s/cpu", argv[1]);
  DIR *d = opendir(cpudir);
  if (!d) {
    fprintf(stderr, "worker_test: no %s\n", cpudir);
    return 1;
  }
  struct dirent *de;
  while ((de = readdir(d)) && g_ncpu < 64)
    if (strstr(de->d_name, ".pb.gz")) snprintf(g_cpu[g_ncpu++], 1024, "%.700s/%.250s", cpudir, de->d_name);
  closedir(d);
  qsort(g_cpu, g_ncpu, sizeof g_cpu[0], cmp_path);
  snprintf(g_heap, sizeof g_heap, "%s/heap.pb.gz", argv[1]);
  if (g_ncpu < 3) {
    fprintf(stderr, "worker_test: need at least 3 CPU profiles in %s\n", cpudir);
    return 1;
  }
  if (!getenv("WORKER_TEST_DEBUG")) svc_log_set_level(SVC_LOG_ERROR + 1);
  snprintf(g_tmp, sizeof g_tmp, "/tmp/worker-test.XXXXXX");
  if (!mkdtemp(g_tmp)) return 1;

  test_rules();
  test_merge_once();
  test_redelivery_and_crash();
  test_poison();
  test_delete();
  test_delete_then_upload();
  test_delete_cutoff_edge();
  test_upload_then_delete();
  test_delete_interleaved();
  test_delete_reconcile();
  test_batching();
  test_prune();
  test_reconcile();
  test_malformed();
  test_run_transient();
  test_embed();
  test_limit();

  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
