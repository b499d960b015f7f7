/*
 * history-bench — what hour buckets and a sliding window cost the merge
 * worker, measured on the worker itself (lib/pipeline, in-process) on a
 * file:// store with an injected clock. tests/bench/history-bench.sh runs
 * it, one process per phase (so /usr/bin/time gives each phase's memory
 * peak), beside Go's profile.Merge of the same inputs.
 *
 *   history-bench setup DIR HOURS PROFILE...
 *       a store DIR/store whose cpu app "bench" has HOURS hourly buckets,
 *       the HOURS hours before the current one (upload i: PROFILE[i mod n]
 *       with its time in hour i mod HOURS, for every profile and every
 *       hour), and their window base (--window HOURS h),
 *       made by the worker from uploads and their events; the clock
 *       (DIR/clock) is half-way into the current hour, so the oldest bucket
 *       leaves the window when the clock moves one hour. Prints the base's
 *       and a bucket's sizes.
 *   history-bench batch DIR ROUNDS K PROFILE...
 *       ROUNDS batches of K uploads of the current hour, after a warm-up
 *       batch (the base then kept in memory, as in a running worker); per
 *       batch: the whole base update, the part spent writing the hour
 *       bucket (its merge, encode and PUT; from the worker's own log) and
 *       the rest (the base update without buckets). Medians, ms.
 *   history-bench leave DIR
 *       the clock moves one hour: the tick takes the hour that left out of
 *       the base (one subtraction, encode, PUT). The base is read (and
 *       kept) by a first tick before the clock moves. ms.
 *   history-bench rebuild DIR
 *       the same hour leaving, by re-merging the window instead: the base
 *       is rewritten without its window start, so the tick rebuilds it
 *       from every bucket of the window. ms, and the ms of reading the
 *       base (GET + decode) the rebuild includes, which a running worker
 *       has in memory.
 *   history-bench files DIR OUT HOURS
 *       writes the base (OUT/base.pb.gz) and the buckets of the window's
 *       hours (OUT/bucket-NNN.pb.gz, oldest first) for Go's side.
 * Phases after setup work on the store as the previous one left it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob.h"
#include "bus.h"
#include "chrono.h"
#include "layout.h"
#include "pprof.h"
#include "worker.h"

#define HOUR_NS (3600LL * 1000000000LL)
#define APP "bench"

static char g_dir[1024], g_url[1200];
static int64_t g_clock, g_hours;
static blob_store *g_blob;
static bus_writer *g_wr;
static bus_reader *g_rd;
static worker *g_w;
/* from the worker's log: ms of the hour bucket writes and of the base write */
static double g_bucket_ms, g_base_ms;

static int die(const char *what, const char *err) {
  fprintf(stderr, "history-bench: %s: %s\n", what, err ? err : "");
  exit(1);
}

static int64_t clock_now(void *ctx) {
  (void)ctx;
  return g_clock;
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_log(void *ctx, int level, const char *msg, const char *const *kv, size_t n) {
  (void)ctx;
  (void)level;
  int bucket = !strcmp(msg, "hour bucket written"), base = !strcmp(msg, "base written");
  if (!bucket && !base) return;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(kv[2 * i], "merge_ms") && kv[2 * i + 1]) {
      if (bucket) g_bucket_ms += atof(kv[2 * i + 1]);
      else g_base_ms += atof(kv[2 * i + 1]);
    }
}

static void save_clock(void) {
  char path[1100];
  snprintf(path, sizeof path, "%s/clock", g_dir);
  FILE *f = fopen(path, "w");
  if (!f || fprintf(f, "%lld %lld\n", (long long)g_clock, (long long)g_hours) < 0) die(path, "write");
  fclose(f);
}

static void load_clock(void) {
  char path[1100];
  snprintf(path, sizeof path, "%s/clock", g_dir);
  FILE *f = fopen(path, "r");
  long long c = 0, h = 0;
  if (!f || fscanf(f, "%lld %lld", &c, &h) != 2) die(path, "run setup first");
  fclose(f);
  g_clock = c;
  g_hours = h;
}

/* Opens the store, an in-process bus and a worker with the window. */
static void open_all(void) {
  char err[1024];
  snprintf(g_url, sizeof g_url, "file://%s/store", g_dir);
  if (blob_open(g_url, &g_blob, err, sizeof err)) die(g_url, err);
  if (bus_writer_open("mem://bench", &g_wr, err, sizeof err) ||
      bus_reader_open("mem://bench", &g_rd, err, sizeof err))
    die("mem://bench", err);
  worker_config c;
  memset(&c, 0, sizeof c);
  c.blob = g_blob;
  c.reader = g_rd;
  c.writer = g_wr;
  c.batch_max = 1000;
  c.batch_wait_ms = 0;
  c.backoff_min_ms = 10;
  c.backoff_max_ms = 100;
  c.reader_url = "mem://bench";
  c.clock_ns = clock_now;
  c.window_ms = g_hours * 3600 * 1000;
  c.retention_ms = (g_hours + 24) * 3600 * 1000;
  c.log = (core_logger){on_log, NULL, CORE_LOG_DEBUG};
  if (worker_new(&c, &g_w, err, sizeof err)) die("worker", err);
}

static void close_all(void) {
  worker_free(g_w);
  bus_reader_close(g_rd);
  bus_writer_close(g_wr);
  blob_close(g_blob);
}

/* Stages file with its time set to t (named at the clock) and publishes it. */
static void upload(const char *file, int64_t t) {
  char err[1024];
  FILE *f = fopen(file, "rb");
  if (!f) die(file, "cannot read");
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)len);
  if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) die(file, "cannot read");
  fclose(f);
  pp_profile *p = NULL;
  if (pp_decode(b, (size_t)len, NULL, &p, err, sizeof err)) die(file, err);
  free(b);
  pp_set_time(p, t, pp_duration_nanos(p));
  uint8_t *enc = NULL;
  size_t n = 0;
  if (pp_encode(p, 1, &enc, &n, err, sizeof err)) die(file, err);
  pp_free(p);
  char key[LAYOUT_KEY_BUF];
  if (layout_staging_key_new(APP, g_clock, key, sizeof key) ||
      blob_put(g_blob, key, enc, n, err, sizeof err))
    die(key, err);
  free(enc);
  bus_event ev;
  bus_event_init(&ev, BUS_TYPE_UPLOADED, APP);
  snprintf(ev.profile_key, sizeof ev.profile_key, "%s", key);
  if (bus_publish_event(g_wr, &ev, err, sizeof err)) die("publish", err);
}

/* Handles everything on the bus (the uploads, then the worker's own
 * profile.merged) in batches of up to max. */
static void drain(size_t max) {
  bus_msg **msgs = calloc(max, sizeof *msgs);
  for (;;) {
    size_t n = 0;
    char err[512];
    bus_msg *m;
    while (n < max && bus_poll(g_rd, n ? 0 : 20, &m, err, sizeof err) == 1) msgs[n++] = m;
    if (!n) break;
    if (worker_handle_batch(g_w, msgs, n, NULL)) die("batch", "failed");
    for (size_t i = 0; i < n; i++) bus_msg_free(msgs[i]);
  }
  free(msgs);
}

static uint64_t size_of(const char *key) {
  blob_info info;
  char err[512];
  return blob_stat(g_blob, key, &info, err, sizeof err) == 0 ? info.size : 0;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n ? v[n / 2] : 0;
}

/* ---- phases ---- */

static int setup(int argc, char **argv) {
  g_hours = atoll(argv[3]);
  if (g_hours < 2 || argc < 5) die("setup", "usage: setup DIR HOURS PROFILE...");
  int64_t h0 = layout_hour_of_ns(chrono_now_ns());
  g_clock = h0 * HOUR_NS + HOUR_NS / 2;
  open_all();
  int64_t nprof = argc - 4, n = nprof > g_hours ? nprof : g_hours;
  for (int64_t i = 0; i < n; i++) {
    upload(argv[4 + i % nprof], (h0 - g_hours + i % g_hours) * HOUR_NS + HOUR_NS / 6);
    if (i % 24 == 23) drain(50);
  }
  drain(50);
  save_clock();
  char key[LAYOUT_KEY_BUF];
  layout_base_key(APP, key, sizeof key);
  uint64_t base = size_of(key);
  layout_hour_key(APP, LAYOUT_KIND_CPU, h0 - 1, key, sizeof key);
  printf("setup: %lld hourly buckets; base %llu bytes gzipped; last bucket %llu bytes\n",
         (long long)g_hours, (unsigned long long)base, (unsigned long long)size_of(key));
  close_all();
  return 0;
}

static int batch(int argc, char **argv) {
  int rounds = atoi(argv[3]), k = atoi(argv[4]);
  if (rounds < 1 || k < 1 || argc < 6) die("batch", "usage: batch DIR ROUNDS K PROFILE...");
  load_clock();
  open_all();
  int nprof = argc - 5, next = 0;
  double total[64], buckets[64], rest[64];
  if (rounds > 64) rounds = 64;
  for (int r = -1; r < rounds; r++) {
    for (int i = 0; i < k; i++) upload(argv[5 + next++ % nprof], g_clock);
    g_bucket_ms = g_base_ms = 0;
    bus_msg **msgs = calloc((size_t)k, sizeof *msgs);
    char err[512];
    size_t n = 0;
    bus_msg *m;
    while (n < (size_t)k && bus_poll(g_rd, 20, &m, err, sizeof err) == 1) msgs[n++] = m;
    double t0 = mono_ms();
    if (worker_handle_batch(g_w, msgs, n, NULL)) die("batch", "failed");
    double dt = mono_ms() - t0;
    for (size_t i = 0; i < n; i++) bus_msg_free(msgs[i]);
    free(msgs);
    drain(1000); /* their profile.merged: history, not timed */
    if (r < 0) continue; /* the warm-up reads the base */
    total[r] = dt;
    buckets[r] = g_bucket_ms;
    rest[r] = dt - g_bucket_ms;
  }
  printf("batch of %d uploads into the %lld-hour base: %.1f ms (hour bucket write %.1f ms, the rest "
         "%.1f ms), median of %d\n",
         k, (long long)g_hours, median(total, rounds), median(buckets, rounds),
         median(rest, rounds), rounds);
  close_all();
  return 0;
}

/* Makes the worker know the base (as a running worker does) and keep it. */
static void know_base(void) {
  if (worker_reconcile(g_w, NULL)) die("reconcile", "failed");
  if (worker_history_tick(g_w)) die("tick", "failed");
}

static int leave(void) {
  load_clock();
  open_all();
  know_base();
  g_clock += HOUR_NS;
  save_clock();
  double t0 = mono_ms();
  if (worker_history_tick(g_w)) die("tick", "failed");
  double dt = mono_ms() - t0;
  printf("an hour leaving the %lld-hour window (subtraction): %.1f ms\n", (long long)g_hours, dt);
  close_all();
  return 0;
}

static int rebuild(void) {
  load_clock();
  open_all();
  char key[LAYOUT_KEY_BUF], err[1024];
  layout_base_key(APP, key, sizeof key);
  uint8_t *b = NULL;
  size_t len = 0;
  pp_profile *p = NULL;
  if (blob_get(g_blob, key, 0, &b, &len, NULL, err, sizeof err) ||
      pp_decode(b, len, NULL, &p, err, sizeof err))
    die(key, err);
  free(b);
  pp_remove_comments_with_prefix(p, "pgopipe-window-start");
  if (pp_encode(p, 6, &b, &len, err, sizeof err) || blob_put(g_blob, key, b, len, err, sizeof err))
    die(key, err);
  free(b);
  pp_free(p);
  if (worker_reconcile(g_w, NULL)) die("reconcile", "failed");
  /* what the rebuild spends reading the base, measured apart */
  double r0 = mono_ms();
  if (blob_get(g_blob, key, 0, &b, &len, NULL, err, sizeof err) ||
      pp_decode(b, len, NULL, &p, err, sizeof err))
    die(key, err);
  double read_ms = mono_ms() - r0;
  free(b);
  pp_free(p);
  double t0 = mono_ms();
  if (worker_history_tick(g_w)) die("tick", "failed");
  double dt = mono_ms() - t0;
  printf("the %lld-hour window re-merged from its buckets (rebuild): %.1f ms, of which reading the "
         "base %.1f ms\n",
         (long long)g_hours, dt, read_ms);
  close_all();
  return 0;
}

static void copy_out(const char *key, const char *path) {
  char err[1024];
  uint8_t *b = NULL;
  size_t len = 0;
  if (blob_get(g_blob, key, 0, &b, &len, NULL, err, sizeof err)) die(key, err);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, len, f) != len) die(path, "cannot write");
  fclose(f);
  free(b);
}

static int files(char **argv) {
  load_clock();
  open_all();
  const char *out = argv[3];
  int64_t hours = atoll(argv[4]);
  char key[LAYOUT_KEY_BUF], path[1400];
  layout_base_key(APP, key, sizeof key);
  snprintf(path, sizeof path, "%s/base.pb.gz", out);
  copy_out(key, path);
  int64_t last = layout_hour_of_ns(g_clock);
  int written = 0;
  for (int64_t h = last - hours; h <= last; h++) {
    layout_hour_key(APP, LAYOUT_KIND_CPU, h, key, sizeof key);
    if (!size_of(key)) continue;
    snprintf(path, sizeof path, "%s/bucket-%03d.pb.gz", out, written++);
    copy_out(key, path);
  }
  printf("files: base and %d buckets in %s\n", written, out);
  close_all();
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: history-bench setup|batch|leave|rebuild|files DIR ...\n");
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[2]);
  if (!strcmp(argv[1], "setup")) return setup(argc, argv);
  if (!strcmp(argv[1], "batch")) return batch(argc, argv);
  if (!strcmp(argv[1], "leave")) return leave();
  if (!strcmp(argv[1], "rebuild")) return rebuild();
  if (!strcmp(argv[1], "files") && argc == 5) return files(argv);
  fprintf(stderr, "history-bench: unknown phase %s\n", argv[1]);
  return 2;
}
