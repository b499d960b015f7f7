/*
 * worker_history_test.c — hour buckets, windows, retention and history
 * (worker.h, "History and windows"), checked in-process on the real file://
 * store and mem:// bus with real Go profiles whose time_nanos (or metadata
 * time) place them in different hours, now − 30 h … now. Every bucket and
 * base is compared with Go's profile.Merge of exactly the uploads it must
 * hold, by summary, through `agents compare`; the clock is injected.
 *
 *   worker_history_test CASE WORKER_PROFILES PROFILES GOPROFILES AGENTS
 *
 * (the arguments of worker_kinds_test). Cases:
 *   hours      plain cpu uploads over 30 hours (and two whose time_nanos is
 *              out of range: their receipt time counts), in batches that cut
 *              them anywhere: each hour bucket equals the merge of exactly
 *              its uploads, the all-time base the merge of all; each upload
 *              kept in history/ under its hour, byte for byte; redelivery
 *              changes nothing
 *   window     --window 24h: the base holds the uploads of the window's hours
 *              only; as the clock moves, the hours that leave are subtracted
 *              (exactly, against Go's merge of the rest); late uploads of an
 *              hour out of the window go to their bucket only; a base written
 *              without a window is rebuilt from its buckets
 *   crash      a crash between a bucket's write and the base's: redelivered,
 *              counted once in each; when the hour leaves before the
 *              redelivery, the base is rebuilt instead of subtracting (and a
 *              bucket that would leave negative values does the same)
 *   retention  the tick deletes the buckets and history objects of the hours
 *              before the retention and the instance states not written
 *              within it — nothing else (the base, staged, rejected, other
 *              hours, an app it does not know)
 *   kinds      cumulative heap snapshots, heap deltas and goroutine gauges
 *              over hours: each bucket holds the contributions of its hour
 *              and G as of its last write; the windowed base loses an hour's
 *              contributions and keeps its gauges
 *   reconcile  uploads without events (a mem:// crash) land in their hours;
 *              at a restart every app is known, so an idle app's base loses
 *              the hours that leave its window
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "ingest.h"
#include "layout.h"
#include "worker_env.h"

CHECK_DEFINE_COUNTERS

#define NS 1000000000LL
#define MIN (60 * NS)
#define HOUR (3600 * NS)
#define MAXU 64

static const char *g_agents;
static pp_profile *g_heap_src[MAXU];
static size_t g_nheap;
static pp_profile *g_goroutine;
static int64_t g_clock;
static int64_t fake_clock(void *ctx) { return *(int64_t *)ctx; }

/* ---- Uploads ---- */

/* One upload: what it is and where it must end up. */
typedef struct up {
  char key[LAYOUT_KEY_BUF];
  const char *name; /* into key */
  int64_t hour;     /* the hour it must land in */
  layout_kind kind;
  pp_profile *p;    /* what its buckets and base must count (the profile, or its contribution) */
  uint8_t *bytes;   /* the staged bytes */
  size_t len;
} up;

static void up_free(up *u, size_t n) {
  for (size_t i = 0; i < n; i++) {
    pp_free(u[i].p);
    free(u[i].bytes);
  }
}

/* Stages bytes under a fresh key of app named at received_ns; publishes
 * profile.uploaded unless quiet. */
static void put_staged(env *e, const char *app, int64_t received_ns, const uint8_t *b, size_t n,
                       int quiet, up *u) {
  char err[512];
  CHECK(layout_staging_key_new(app, received_ns, u->key, sizeof u->key) == 0, "staging key");
  CHECK(blob_put(e->blob, u->key, b, n, err, sizeof err) == 0, "%s", err);
  u->name = layout_staged_name(u->key, app);
  u->bytes = malloc(n);
  memcpy(u->bytes, b, n);
  u->len = n;
  if (!quiet) publish(e, BUS_TYPE_UPLOADED, app, u->key);
}

/* A plain cpu upload (no metadata) of file whose time_nanos is t, received
 * at received_ns; hour: where it must land. */
static void cpu_at(env *e, const char *app, const char *file, int64_t t, int64_t received_ns,
                   int64_t hour, int quiet, up *u) {
  memset(u, 0, sizeof *u);
  pp_profile *p = decode_file(file);
  CHECK(p != NULL, "%s", file);
  pp_set_time(p, t, pp_duration_nanos(p));
  uint8_t *b = NULL;
  size_t n = 0;
  char err[256];
  CHECK(pp_encode(p, 1, &b, &n, err, sizeof err) == 0, "%s", err);
  put_staged(e, app, received_ns, b, n, quiet, u);
  free(b);
  u->p = p;
  u->kind = LAYOUT_KIND_CPU;
  u->hour = hour;
}

/* An upload of another kind with the server's metadata comment: time t,
 * received at received_ns; counts: what its buckets and base must count
 * (taken). */
static void kind_at(env *e, const char *app, const pp_profile *p, const char *kind,
                    const char *mode, const char *source, const char *instance, int64_t t,
                    int64_t received_ns, pp_profile *counts, up *u) {
  memset(u, 0, sizeof *u);
  up_meta m = {kind, mode, source, instance, t, received_ns};
  size_t n = 0;
  uint8_t *b = meta_encode(p, &m, &n);
  put_staged(e, app, received_ns, b, n, 0, u);
  free(b);
  u->p = counts;
  u->kind = layout_kind_parse(kind);
  u->hour = layout_hour_of_ns(t);
}

/* ---- Looking at the store ---- */

static pp_profile *bucket(env *e, const char *app, layout_kind kind, int64_t hour) {
  char key[LAYOUT_KEY_BUF];
  layout_hour_key(app, kind, hour, key, sizeof key);
  return env_get_profile(e, key);
}

static pp_profile *kbase(env *e, const char *app, layout_kind kind) {
  char key[LAYOUT_KEY_BUF];
  layout_kind_base_key(app, kind, key, sizeof key);
  return env_get_profile(e, key);
}

/* The window start comment of p, or -1. */
static int64_t window_start(const pp_profile *p) {
  const char *prefix = "pgopipe-window-start: ";
  for (size_t i = 0; p && i < pp_comment_count(p); i++) {
    int64_t h;
    const char *c = pp_comment(p, i);
    if (!strncmp(c, prefix, strlen(prefix)) && layout_hour_parse(c + strlen(prefix), &h) == 0)
      return h;
  }
  return -1;
}

static size_t count_hours(env *e, const char *app, layout_kind kind) {
  char prefix[LAYOUT_KEY_BUF];
  layout_hours_prefix(app, kind, prefix, sizeof prefix);
  return count_prefix(e, prefix);
}

/* The actual profile equals Go's merge of the p of the uploads u[0..n)
 * that pass `want` plus extra[0..nx) (may be none). */
static void expect_merge(const char *what, const up *u, size_t n, int (*want)(const up *, void *),
                         void *ctx, pp_profile *const *extra, size_t nx, const pp_profile *actual) {
  pp_profile *exp[MAXU * 2];
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if ((!want || want(&u[i], ctx)) && u[i].p) exp[m++] = u[i].p;
  for (size_t i = 0; i < nx; i++) exp[m++] = extra[i];
  if (!m) {
    CHECK(actual == NULL || pp_sample_count(actual) == 0, "%s: want nothing, has %zu samples", what,
          actual ? pp_sample_count(actual) : 0);
    return;
  }
  same_as_go(g_agents, what, exp, m, actual);
}

static int of_hour(const up *u, void *ctx) { return u->hour == *(int64_t *)ctx; }
static int from_hour(const up *u, void *ctx) { return u->hour >= *(int64_t *)ctx; }

/* Every bucket of the kind's uploads in u equals the merge of its hour's
 * uploads (plus, per hour, extra gauges: extra(hour) may be NULL). */
static void expect_buckets(env *e, const char *app, layout_kind kind, const up *u, size_t n,
                           pp_profile *(*extra)(int64_t hour)) {
  int64_t hours[MAXU];
  size_t nh = 0;
  for (size_t i = 0; i < n; i++) {
    if (u[i].kind != kind) continue;
    int seen = 0;
    for (size_t j = 0; j < nh; j++) seen |= hours[j] == u[i].hour;
    if (!seen) hours[nh++] = u[i].hour;
  }
  CHECK(count_hours(e, app, kind) == nh, "%s/%s: %zu buckets, want %zu", app,
        layout_kind_name(kind), count_hours(e, app, kind), nh);
  for (size_t j = 0; j < nh; j++) {
    char what[128], hs[16];
    layout_hour_format(hours[j], hs, sizeof hs);
    snprintf(what, sizeof what, "%s/%s bucket %s", app, layout_kind_name(kind), hs);
    pp_profile *b = bucket(e, app, kind, hours[j]);
    CHECK(b != NULL, "%s: missing", what);
    pp_profile *x = extra ? extra(hours[j]) : NULL;
    up sel[MAXU];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (u[i].kind == kind) sel[m++] = u[i];
    expect_merge(what, sel, m, of_hour, &hours[j], &x, x ? 1 : 0, b);
    pp_free(x);
    pp_free(b);
  }
}

/* Every upload is kept in history/ under its kind and hour, byte for byte,
 * and no staged object is left. */
static void expect_history(env *e, const char *app, const up *u, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char key[LAYOUT_KEY_BUF], err[256];
    layout_history_key(app, u[i].kind, u[i].hour, u[i].name, key, sizeof key);
    uint8_t *b = NULL;
    size_t len = 0;
    int rc = blob_get(e->blob, key, 0, &b, &len, NULL, err, sizeof err);
    CHECK(rc == 0 && len == u[i].len && memcmp(b, u[i].bytes, len) == 0,
          "%s: not kept byte for byte (%s)", key, rc ? err : "differs");
    free(b);
  }
  char prefix[LAYOUT_KEY_BUF];
  layout_staging_prefix(app, prefix, sizeof prefix);
  CHECK(count_prefix(e, prefix) == 0, "%s: %zu staged objects left", app, count_prefix(e, prefix));
}

/* The current hour of the clock, and a clock half-way into it. */
static int64_t start_clock(void) {
  int64_t h = layout_hour_of_ns(wall_ns());
  g_clock = h * HOUR + 30 * MIN;
  return h;
}

/* Opens e with the clock at start_clock, a 24 h window and a 48 h
 * retention, batches of up to batch_max. Returns the clock's hour. */
static int64_t open_windowed(env *e, size_t batch_max) {
  env_open(e, NULL, batch_max, 0);
  int64_t h0 = start_clock();
  env_set_clock(e, fake_clock, &g_clock, 0, batch_max);
  env_set_history(e, 24 * 3600 * 1000LL, 48 * 3600 * 1000LL, batch_max);
  return h0;
}

/* ---- hours ---- */

static void test_hours(void) {
  env e;
  env_open(&e, NULL, 3, 0);
  int64_t now = wall_ns();
  static const int64_t offs_min[] = {30 * 60, 29 * 60, 29 * 60 + 20, 5 * 60, 60, 0, 1, -30};
  up u[12];
  const char *file[12];
  size_t n = 0;
  for (size_t i = 0; i < sizeof offs_min / sizeof offs_min[0]; i++, n++) {
    int64_t t = now - offs_min[i] * MIN;
    file[n] = g_cpu[i % g_ncpu];
    cpu_at(&e, "h", file[n], t, now, layout_hour_of_ns(t), 0, &u[n]);
  }
  /* time_nanos 400 hours ago (before the retention) and 3 hours ahead (more
   * than 1h): both count at their receipt time, the staged name's */
  int64_t received = now - 2 * HOUR;
  file[n] = g_cpu[1];
  cpu_at(&e, "h", file[n], now - 400 * HOUR, received, layout_hour_of_ns(received), 0, &u[n]);
  n++;
  file[n] = g_cpu[2];
  cpu_at(&e, "h", file[n], received + 3 * HOUR, received, layout_hour_of_ns(received), 0, &u[n]);
  n++;
  drain(&e, 3);
  expect_buckets(&e, "h", LAYOUT_KIND_CPU, u, n, NULL);
  pp_profile *b = base_of(&e, "h");
  expect_merge("all-time base", u, n, NULL, NULL, NULL, 0, b);
  CHECK(window_start(b) == -1, "a base without a window has a window start");
  int64_t total = b ? pp_total(b, 1) : -1;
  pp_free(b);
  expect_history(&e, "h", u, n);
  worker_counts c = counts(&e);
  CHECK(c.history_kept == n, "history kept %" PRIu64 ", want %zu", c.history_kept, n);
  CHECK(c.bucket_writes >= count_hours(&e, "h", LAYOUT_KIND_CPU), "bucket writes %" PRIu64,
        c.bucket_writes);
  CHECK(c.window_advances == 0 && c.window_rebuilds == 0, "no window, yet it moved");
  /* redelivered (events and all): nothing counted twice, history unchanged */
  for (size_t i = 0; i < n; i++) {
    publish(&e, BUS_TYPE_UPLOADED, "h", u[i].key);
    publish(&e, BUS_TYPE_MERGED, "h", u[i].key);
  }
  drain(&e, 5);
  expect_buckets(&e, "h", LAYOUT_KIND_CPU, u, n, NULL);
  b = base_of(&e, "h");
  CHECK(b && pp_total(b, 1) == total, "redelivery changed the base");
  pp_free(b);
  expect_history(&e, "h", u, n);
  /* one batch for everything: the same buckets */
  env e2;
  env_open(&e2, NULL, 50, 0);
  up v[12];
  for (size_t i = 0; i < n; i++) {
    int64_t t = pp_time_nanos(u[i].p);
    cpu_at(&e2, "one", file[i], t, i >= n - 2 ? received : now, u[i].hour, 0, &v[i]);
  }
  drain(&e2, 50);
  expect_buckets(&e2, "one", LAYOUT_KIND_CPU, v, n, NULL);
  up_free(v, n);
  env_close(&e2);
  up_free(u, n);
  env_close(&e);
}

/* ---- window ---- */

static void test_window(void) {
  env e;
  int64_t h0 = open_windowed(&e, 3);
  int64_t recv = wall_ns();
  static const int64_t offs[] = {30, 25, 23, 10, 1, 0, 0};
  up u[16];
  size_t n = 0;
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++, n++)
    cpu_at(&e, "w", g_cpu[i % g_ncpu], g_clock - offs[i] * HOUR, recv, h0 - offs[i], 0, &u[n]);
  drain(&e, 3);
  int64_t start = h0 - 24;
  expect_buckets(&e, "w", LAYOUT_KIND_CPU, u, n, NULL);
  pp_profile *b = base_of(&e, "w");
  expect_merge("window base", u, n, from_hour, &start, NULL, 0, b);
  CHECK(window_start(b) == start, "window start %" PRId64 ", want %" PRId64, window_start(b), start);
  pp_free(b);
  /* two hours later: hour h0-23 leaves (h0-24 has no bucket) */
  g_clock += 2 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  start = h0 - 22;
  b = base_of(&e, "w");
  expect_merge("after two hours", u, n, from_hour, &start, NULL, 0, b);
  CHECK(window_start(b) == start, "window start %" PRId64 ", want %" PRId64, window_start(b), start);
  pp_free(b);
  worker_counts c = counts(&e);
  CHECK(c.window_advances == 1 && c.window_rebuilds == 0, "advances %" PRIu64 " rebuilds %" PRIu64,
        c.window_advances, c.window_rebuilds);
  uint64_t writes = c.merges;
  CHECK(worker_history_tick(e.w) == 0 && counts(&e).merges == writes,
        "a tick with no hour leaving wrote the base");
  /* a late upload of an hour out of the window: its bucket only; one in it:
   * the base too */
  cpu_at(&e, "w", g_cpu[3], (h0 - 23) * HOUR + 40 * MIN, recv, h0 - 23, 0, &u[n++]);
  cpu_at(&e, "w", g_cpu[4], (h0 - 5) * HOUR + 40 * MIN, recv, h0 - 5, 0, &u[n++]);
  drain(&e, 3);
  expect_buckets(&e, "w", LAYOUT_KIND_CPU, u, n, NULL);
  b = base_of(&e, "w");
  expect_merge("late uploads", u, n, from_hour, &start, NULL, 0, b);
  pp_free(b);
  /* twenty hours later: h0-10 and h0-5 leave */
  g_clock += 20 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  start = h0 - 2;
  b = base_of(&e, "w");
  expect_merge("after twenty more hours", u, n, from_hour, &start, NULL, 0, b);
  CHECK(b && pp_time_nanos(b) >= start * HOUR, "the header's time is before the window");
  pp_free(b);
  c = counts(&e);
  CHECK(c.window_advances == 3 && c.window_rebuilds == 0, "advances %" PRIu64 " rebuilds %" PRIu64,
        c.window_advances, c.window_rebuilds);
  /* a base written without a window: rebuilt from its window's buckets at
   * the first tick after a batch of it */
  env_set_history(&e, 0, 48 * 3600 * 1000LL, 3);
  up l[8];
  size_t nl = 0;
  static const int64_t loffs[] = {30, 2, 0};
  /* (received "now" by the clock: a time more than 1h after the receipt
   * would count at the receipt) */
  for (size_t i = 0; i < 3; i++, nl++)
    cpu_at(&e, "legacy", g_cpu[i], g_clock - loffs[i] * HOUR, g_clock,
           layout_hour_of_ns(g_clock) - loffs[i], 0, &l[nl]);
  drain(&e, 3);
  b = base_of(&e, "legacy");
  expect_merge("all-time legacy base", l, nl, NULL, NULL, NULL, 0, b);
  pp_free(b);
  env_set_history(&e, 24 * 3600 * 1000LL, 48 * 3600 * 1000LL, 3);
  cpu_at(&e, "legacy", g_cpu[5], g_clock, g_clock, layout_hour_of_ns(g_clock), 0, &l[nl++]);
  drain(&e, 3);
  uint64_t rebuilds = counts(&e).window_rebuilds;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  CHECK(counts(&e).window_rebuilds == rebuilds + 1, "legacy base not rebuilt");
  int64_t lstart = layout_hour_of_ns(g_clock - 24 * HOUR);
  b = base_of(&e, "legacy");
  expect_merge("legacy base rebuilt", l, nl, from_hour, &lstart, NULL, 0, b);
  CHECK(window_start(b) == lstart, "legacy window start");
  pp_free(b);
  up_free(u, n);
  up_free(l, nl);
  env_close(&e);
}

/* ---- crash ---- */

static void test_crash(void) {
  env e;
  int64_t h0 = open_windowed(&e, 50);
  int64_t recv = wall_ns();
  up u[16];
  size_t n = 0;
  char err[512];
  cpu_at(&e, "c", g_cpu[0], g_clock - 23 * HOUR, recv, h0 - 23, 0, &u[n++]);
  cpu_at(&e, "c", g_cpu[1], g_clock - 1 * HOUR, recv, h0 - 1, 0, &u[n++]);
  drain(&e, 50);
  /* 1: crash after the bucket write, before the base's: redelivered */
  cpu_at(&e, "c", g_cpu[2], g_clock, recv, h0, 1, &u[n++]);
  size_t blen;
  uint8_t *base0 = env_save_key(&e, "c/default.pgo", &blen);
  const char *k1[] = {u[2].key};
  CHECK(worker_merge_app(e.w, "c", k1, 1, err, sizeof err) == 0, "%s", err);
  env_restore_key(&e, "c/default.pgo", base0, blen);
  env_restart(&e, 0);
  CHECK(worker_merge_app(e.w, "c", k1, 1, err, sizeof err) == 0, "%s", err);
  int64_t start = h0 - 24;
  expect_buckets(&e, "c", LAYOUT_KIND_CPU, u, n, NULL);
  pp_profile *b = base_of(&e, "c");
  expect_merge("redelivered after a crash", u, n, from_hour, &start, NULL, 0, b);
  pp_free(b);
  /* 2: the same crash for an hour that leaves before the redelivery: the
   * tick finds the bucket ahead of the base and rebuilds */
  cpu_at(&e, "c", g_cpu[3], g_clock - 23 * HOUR + 5 * MIN, recv, h0 - 23, 1, &u[n++]);
  base0 = env_save_key(&e, "c/default.pgo", &blen);
  const char *k2[] = {u[3].key};
  CHECK(worker_merge_app(e.w, "c", k2, 1, err, sizeof err) == 0, "%s", err);
  env_restore_key(&e, "c/default.pgo", base0, blen);
  env_restart(&e, 0);
  const char *k0[] = {u[1].key}; /* a batch of the app: the worker knows its base again */
  CHECK(worker_merge_app(e.w, "c", k0, 1, err, sizeof err) == 0, "%s", err);
  g_clock += 2 * HOUR;
  uint64_t rebuilds = counts(&e).window_rebuilds;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  CHECK(counts(&e).window_rebuilds == rebuilds + 1, "a bucket ahead of the base was subtracted");
  CHECK(counts(&e).window_advances == 0, "subtracted %" PRIu64, counts(&e).window_advances);
  start = h0 - 22;
  b = base_of(&e, "c");
  expect_merge("rebuilt after a crash", u, n, from_hour, &start, NULL, 0, b);
  CHECK(window_start(b) == start, "window start after the rebuild");
  pp_free(b);
  /* ...and its redelivery: the hour is out of the window, the bucket has it */
  CHECK(worker_merge_app(e.w, "c", k2, 1, err, sizeof err) == 0, "%s", err);
  drain(&e, 50);
  expect_buckets(&e, "c", LAYOUT_KIND_CPU, u, n, NULL);
  b = base_of(&e, "c");
  expect_merge("after the late redelivery", u, n, from_hour, &start, NULL, 0, b);
  pp_free(b);
  /* 3: a bucket that holds more than the base: the subtraction would leave
   * negative values, so the base is rebuilt */
  cpu_at(&e, "c", g_cpu[4], g_clock - 21 * HOUR, recv, h0 - 19, 0, &u[n++]);
  drain(&e, 50);
  char bkey[LAYOUT_KEY_BUF];
  layout_hour_key("c", LAYOUT_KIND_CPU, h0 - 19, bkey, sizeof bkey);
  pp_profile *twice = scaled(u[n - 1].p, 2, 2);
  uint8_t *tb = NULL;
  size_t tn = 0;
  CHECK(pp_encode(twice, 1, &tb, &tn, err, sizeof err) == 0, "%s", err);
  CHECK(blob_put(e.blob, bkey, tb, tn, err, sizeof err) == 0, "%s", err);
  free(tb);
  pp_free(u[n - 1].p);
  u[n - 1].p = twice; /* what the bucket holds now */
  rebuilds = counts(&e).window_rebuilds;
  g_clock += 4 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  CHECK(counts(&e).window_rebuilds == rebuilds + 1, "negative values were written");
  start = layout_hour_of_ns(g_clock - 24 * HOUR);
  b = base_of(&e, "c");
  CHECK(b && pp_column_min(b, 0) >= 0 && pp_column_min(b, 1) >= 0, "negative values in the base");
  expect_merge("rebuilt instead of negative", u, n, from_hour, &start, NULL, 0, b);
  pp_free(b);
  /* 4: no base yet, and the first upload of a batch is a redelivered one of
   * an hour out of the window, already in its bucket: the next one is
   * judged against it all the same */
  up v[2];
  cpu_at(&e, "c2", g_cpu[0], g_clock - 30 * HOUR, g_clock, layout_hour_of_ns(g_clock - 30 * HOUR), 1,
         &v[0]);
  const char *k3[] = {v[0].key};
  CHECK(worker_merge_app(e.w, "c2", k3, 1, err, sizeof err) == 0, "%s", err);
  CHECK(!exists(&e, "c2/default.pgo"), "an upload out of the window made a base");
  cpu_at(&e, "c2", g_cpu[1], g_clock, g_clock, layout_hour_of_ns(g_clock), 1, &v[1]);
  const char *k4[] = {v[0].key, v[1].key};
  CHECK(worker_merge_app(e.w, "c2", k4, 2, err, sizeof err) == 0, "%s", err);
  drain(&e, 50);
  expect_buckets(&e, "c2", LAYOUT_KIND_CPU, v, 2, NULL);
  b = base_of(&e, "c2");
  expect_merge("the window's upload only", &v[1], 1, NULL, NULL, NULL, 0, b);
  pp_free(b);
  up_free(v, 2);
  up_free(u, n);
  env_close(&e);
}

/* ---- retention ---- */

static void test_retention(void) {
  env e;
  int64_t h0 = open_windowed(&e, 50);
  int64_t recv = wall_ns();
  up u[16];
  size_t n = 0;
  static const int64_t offs[] = {40, 30, 20, 1};
  for (size_t i = 0; i < 4; i++, n++)
    cpu_at(&e, "r", g_cpu[i], g_clock - offs[i] * HOUR, recv, h0 - offs[i], 0, &u[n]);
  pp_profile *hs = g_heap_src[0];
  kind_at(&e, "r", hs, "heap", "cumulative", "profefe", "web-1", g_clock - HOUR, g_clock,
          counters(hs), &u[n++]);
  drain(&e, 50);
  char err[256], staged[LAYOUT_KEY_BUF];
  stage(&e, "r", g_cpu[5], staged, sizeof staged); /* waiting, no event yet */
  CHECK(blob_put(e.blob, "r/rejected/x", "x", 1, err, sizeof err) == 0, "put");
  /* an app this worker never handled: not its to sweep */
  char okey[LAYOUT_KEY_BUF];
  layout_hour_key("other", LAYOUT_KIND_CPU, h0 - 100, okey, sizeof okey);
  CHECK(blob_put(e.blob, okey, "x", 1, err, sizeof err) == 0, "put");
  size_t all = count_prefix(&e, "r/");
  CHECK(worker_history_tick(e.w) == 0 && counts(&e).retention_deleted == 0,
        "deleted %" PRIu64 " objects within the retention", counts(&e).retention_deleted);
  CHECK(count_prefix(&e, "r/") == all, "objects went");
  /* ten hours later: the hour h0-40 is past the retention (cut-off h0-38) */
  g_clock += 10 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  CHECK(count_prefix(&e, "r/") == all - 2 && counts(&e).retention_deleted == 2,
        "%zu of %zu objects left, %" PRIu64 " deleted", count_prefix(&e, "r/"), all,
        counts(&e).retention_deleted);
  pp_profile *b40 = bucket(&e, "r", LAYOUT_KIND_CPU, h0 - 40);
  char hk[LAYOUT_KEY_BUF];
  layout_history_prefix("r", LAYOUT_KIND_CPU, h0 - 40, hk, sizeof hk);
  CHECK(!b40 && count_prefix(&e, hk) == 0, "hour h0-40 kept");
  pp_free(b40);
  for (size_t i = 1; i < n; i++) {
    pp_profile *b = bucket(&e, "r", u[i].kind, u[i].hour);
    layout_history_key("r", u[i].kind, u[i].hour, u[i].name, hk, sizeof hk);
    CHECK(b && exists(&e, hk), "upload %zu's bucket or history went", i);
    pp_free(b);
  }
  CHECK(exists(&e, staged) && exists(&e, "r/rejected/x") && exists(&e, "r/default.pgo") &&
            exists(&e, "r/kinds/heap.pgo") && count_prefix(&e, "r/instances/heap/") == 1 &&
            exists(&e, okey),
        "the retention deleted something else");
  /* an upload of an hour already past the retention: its bucket is written
   * (and goes at the next sweep), it is not kept in history */
  up late;
  cpu_at(&e, "r", g_cpu[2], g_clock - 49 * HOUR, recv, layout_hour_of_ns(g_clock - 49 * HOUR), 0,
         &late);
  drain(&e, 50);
  pp_profile *lb = bucket(&e, "r", LAYOUT_KIND_CPU, late.hour);
  layout_history_key("r", LAYOUT_KIND_CPU, late.hour, late.name, hk, sizeof hk);
  CHECK(lb && !exists(&e, hk) && !exists(&e, late.key), "an upload past the retention was kept");
  pp_free(lb);
  g_clock += HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  lb = bucket(&e, "r", LAYOUT_KIND_CPU, late.hour);
  CHECK(!lb, "the late hour's bucket outlived the next sweep");
  pp_free(lb);
  up_free(&late, 1);
  /* two days on: every hour and the instance state (not written within the
   * retention) go; the bases, staged and rejected objects stay */
  g_clock += 50 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  CHECK(count_prefix(&e, "r/hours/") == 0 && count_prefix(&e, "r/history/") == 0 &&
            count_prefix(&e, "r/instances/") == 0,
        "left: %zu buckets, %zu history objects, %zu states", count_prefix(&e, "r/hours/"),
        count_prefix(&e, "r/history/"), count_prefix(&e, "r/instances/"));
  CHECK(exists(&e, staged) && exists(&e, "r/rejected/x") && exists(&e, "r/default.pgo") &&
            exists(&e, "r/kinds/heap.pgo") && exists(&e, okey),
        "the retention deleted something else");
  pp_profile *b = base_of(&e, "r");
  CHECK(b && pp_total(b, 1) == 0, "every hour left the window, yet the base holds %" PRId64,
        b ? pp_total(b, 1) : -1);
  pp_free(b);
  up_free(u, n);
  env_close(&e);
}

/* ---- kinds ---- */

static pp_profile *g_bucket_gauges[4];
static int64_t g_bucket_hours[4];
static pp_profile *gauges_of_hour(int64_t hour) {
  for (int i = 0; i < 4; i++)
    if (g_bucket_hours[i] == hour && g_bucket_gauges[i]) return pp_clone(g_bucket_gauges[i]);
  return NULL;
}

static void test_kinds(void) {
  env e;
  int64_t h0 = open_windowed(&e, 50);
  /* instance a: cumulative snapshots at -30, -20, -20, -2, 0 hours; instance
   * p: heap deltas at -20 and 0; g: goroutine gauges at -20 and 0 */
  pp_profile *src[6], *snap[6];
  for (int k = 0; k < 6; k++) src[k] = g_heap_src[k % g_nheap];
  pp_profile *acc[7];
  for (int k = 0; k < 6; k++) {
    acc[k] = counters(src[k]);
    acc[k + 1] = gauges(src[k]);
    snap[k] = merged(acc, (size_t)k + 2);
    pp_free(acc[k + 1]);
  }
  for (int k = 0; k < 6; k++) pp_free(acc[k]);
  const pp_profile *d[2] = {g_heap_src[(5) % g_nheap], g_heap_src[(6) % g_nheap]};
  pp_profile *gor[2] = {scaled(g_goroutine, 1, 1), scaled(g_goroutine, 3, 3)};
  static const int64_t aoff[] = {30, 20, 20, 2, 0};
  up u[16];
  size_t n = 0;
  /* each upload its own batch, in time order: G at a bucket's last write is
   * the latest snapshot of each instance then */
  kind_at(&e, "k", snap[0], "heap", "cumulative", "profefe", "a", g_clock - aoff[0] * HOUR, g_clock,
          counters(src[0]), &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", snap[1], "heap", "cumulative", "profefe", "a", g_clock - 20 * HOUR, g_clock,
          counters(src[1]), &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", d[0], "heap", "delta", "pyroscope", "p", g_clock - 20 * HOUR + MIN, g_clock,
          counters(d[0]), &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", gor[0], "goroutine", "cumulative", "profefe", "g", g_clock - 20 * HOUR, g_clock,
          NULL, &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", snap[2], "heap", "cumulative", "profefe", "a", g_clock - 20 * HOUR + 2 * MIN,
          g_clock, counters(src[2]), &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", snap[3], "heap", "cumulative", "profefe", "a", g_clock - 2 * HOUR, g_clock,
          counters(src[3]), &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", snap[4], "heap", "cumulative", "profefe", "a", g_clock, g_clock,
          counters(src[4]), &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", d[1], "heap", "delta", "pyroscope", "p", g_clock + MIN, g_clock, counters(d[1]),
          &u[n++]);
  drain(&e, 50);
  kind_at(&e, "k", gor[1], "goroutine", "cumulative", "profefe", "g", g_clock + MIN, g_clock, NULL,
          &u[n++]);
  drain(&e, 50);
  /* heap buckets: contributions of the hour ⊕ G at their last write */
  pp_profile *g2[2];
  g_bucket_hours[0] = h0 - 30;
  g_bucket_gauges[0] = gauges(snap[0]);
  g_bucket_hours[1] = h0 - 20;
  g2[0] = gauges(snap[2]);
  g2[1] = gauges(d[0]);
  g_bucket_gauges[1] = merged(g2, 2);
  free_all(g2, 2);
  g_bucket_hours[2] = h0 - 2;
  g2[0] = gauges(snap[3]);
  g2[1] = gauges(d[0]);
  g_bucket_gauges[2] = merged(g2, 2);
  free_all(g2, 2);
  g_bucket_hours[3] = h0;
  g2[0] = gauges(snap[4]);
  g2[1] = gauges(d[1]);
  g_bucket_gauges[3] = merged(g2, 2);
  free_all(g2, 2);
  expect_buckets(&e, "k", LAYOUT_KIND_HEAP, u, n, gauges_of_hour);
  /* the heap base: the window's contributions ⊕ G now */
  int64_t start = h0 - 24;
  pp_profile *b = kbase(&e, "k", LAYOUT_KIND_HEAP);
  up heap[16];
  size_t nheap = 0;
  for (size_t i = 0; i < n; i++)
    if (u[i].kind == LAYOUT_KIND_HEAP) heap[nheap++] = u[i];
  expect_merge("heap window base", heap, nheap, from_hour, &start, &g_bucket_gauges[3], 1, b);
  int64_t inuse = total_of(b, "inuse_space");
  pp_free(b);
  /* goroutine buckets hold G only: the latest snapshot when written */
  pp_profile *gb = bucket(&e, "k", LAYOUT_KIND_GOROUTINE, h0 - 20);
  same_as_go(g_agents, "goroutine bucket h0-20", &gor[0], 1, gb);
  pp_free(gb);
  gb = bucket(&e, "k", LAYOUT_KIND_GOROUTINE, h0);
  same_as_go(g_agents, "goroutine bucket h0", &gor[1], 1, gb);
  pp_free(gb);
  /* a crash after the bucket's write, before the base's and the state's:
   * the redelivered snapshot goes into the base, not again into its bucket,
   * and is taken against the same previous snapshot */
  char bkey[LAYOUT_KEY_BUF], skey[LAYOUT_KEY_BUF], err[512];
  layout_kind_base_key("k", LAYOUT_KIND_HEAP, bkey, sizeof bkey);
  layout_instance_key("k", LAYOUT_KIND_HEAP, "a", skey, sizeof skey);
  size_t blen, slen;
  uint8_t *b0 = env_save_key(&e, bkey, &blen), *s0 = env_save_key(&e, skey, &slen);
  kind_at(&e, "k", snap[5], "heap", "cumulative", "profefe", "a", g_clock + 2 * MIN, g_clock,
          counters(src[5]), &u[n++]);
  const char *k5[] = {u[n - 1].key};
  CHECK(worker_merge_app(e.w, "k", k5, 1, err, sizeof err) == 0, "%s", err);
  env_restore_key(&e, bkey, b0, blen);
  env_restore_key(&e, skey, s0, slen);
  env_restart(&e, 0);
  CHECK(worker_merge_app(e.w, "k", k5, 1, err, sizeof err) == 0, "%s", err);
  /* (the restarted worker knows the bases it handles: one more goroutine
   * snapshot, the same as the last) */
  kind_at(&e, "k", gor[1], "goroutine", "cumulative", "profefe", "g", g_clock + 3 * MIN, g_clock,
          NULL, &u[n++]);
  drain(&e, 50);
  pp_free(g_bucket_gauges[3]);
  g2[0] = gauges(snap[5]);
  g2[1] = gauges(d[1]);
  g_bucket_gauges[3] = merged(g2, 2);
  free_all(g2, 2);
  nheap = 0;
  for (size_t i = 0; i < n; i++)
    if (u[i].kind == LAYOUT_KIND_HEAP) heap[nheap++] = u[i];
  expect_buckets(&e, "k", LAYOUT_KIND_HEAP, u, n, gauges_of_hour);
  b = kbase(&e, "k", LAYOUT_KIND_HEAP);
  expect_merge("heap base after a crash", heap, nheap, from_hour, &start, &g_bucket_gauges[3], 1, b);
  inuse = total_of(b, "inuse_space");
  pp_free(b);
  /* five hours on, h0-20 leaves: its contributions go, the gauges stay */
  g_clock += 5 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  start = h0 - 19;
  b = kbase(&e, "k", LAYOUT_KIND_HEAP);
  expect_merge("heap base after h0-20 left", heap, nheap, from_hour, &start, &g_bucket_gauges[3], 1,
               b);
  CHECK(total_of(b, "inuse_space") == inuse, "the gauges changed when an hour left");
  CHECK(window_start(b) == start, "heap window start");
  pp_free(b);
  gb = kbase(&e, "k", LAYOUT_KIND_GOROUTINE);
  same_as_go(g_agents, "goroutine base after h0-20 left", &gor[1], 1, gb);
  pp_free(gb);
  CHECK(counts(&e).window_rebuilds == 0 && counts(&e).window_advances == 2,
        "advances %" PRIu64 " rebuilds %" PRIu64, counts(&e).window_advances,
        counts(&e).window_rebuilds);
  expect_history(&e, "k", u, n);
  for (int i = 0; i < 4; i++) pp_free(g_bucket_gauges[i]);
  free_all(snap, 6);
  free_all(gor, 2);
  up_free(u, n);
  env_close(&e);
}

/* ---- reconcile ---- */

static void test_reconcile(void) {
  env e;
  int64_t h0 = open_windowed(&e, 50);
  int64_t recv = wall_ns();
  up u[8];
  size_t n = 0;
  static const int64_t offs[] = {3, 1, 0};
  for (size_t i = 0; i < 3; i++, n++)
    cpu_at(&e, "rc", g_cpu[i], g_clock - offs[i] * HOUR, recv, h0 - offs[i], 1, &u[n]);
  env_restart(&e, 1); /* the events are lost with the process */
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  drain(&e, 50);
  expect_buckets(&e, "rc", LAYOUT_KIND_CPU, u, n, NULL);
  int64_t start = h0 - 24;
  pp_profile *b = base_of(&e, "rc");
  expect_merge("reconciled", u, n, from_hour, &start, NULL, 0, b);
  pp_free(b);
  expect_history(&e, "rc", u, n);
  /* a new process: nothing staged, no event of the app, yet its window moves */
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  g_clock += 22 * HOUR;
  CHECK(worker_history_tick(e.w) == 0, "tick");
  start = h0 - 2;
  b = base_of(&e, "rc");
  expect_merge("idle app after a restart", u, n, from_hour, &start, NULL, 0, b);
  CHECK(window_start(b) == start, "idle app's window start");
  pp_free(b);
  CHECK(counts(&e).window_advances == 1, "advances %" PRIu64, counts(&e).window_advances);
  up_free(u, n);
  env_close(&e);
}

/* ---- main ---- */

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: worker_history_test CASE WORKER_PROFILES PROFILES GOPROFILES AGENTS\n");
    return 2;
  }
  char *wargv[] = {argv[0], argv[2], NULL};
  int rc = wenv_init(2, wargv, "worker_history_test");
  if (rc) return rc;
  g_agents = argv[5];
  g_nheap = load_dir(argv[3], "heap", g_heap_src, MAXU);
  char path[1200];
  snprintf(path, sizeof path, "%s/goroutine.pb.gz", argv[4]);
  g_goroutine = decode_file(path);
  if (g_nheap < 3 || !g_goroutine || !pp_sample_count(g_goroutine)) {
    fprintf(stderr, "worker_history_test: need 3 heap profiles in %s and goroutine.pb.gz in %s\n",
            argv[3], argv[4]);
    wenv_done();
    return 1;
  }
  static const wenv_case cases[] = {
      {"hours", test_hours}, {"window", test_window}, {"crash", test_crash},
      {"retention", test_retention}, {"kinds", test_kinds}, {"reconcile", test_reconcile}};
  int found = wenv_run_case(cases, sizeof cases / sizeof cases[0], argv[1],
                            "worker_history_test");
  free_all(g_heap_src, g_nheap);
  pp_free(g_goroutine);
  wenv_done();
  if (!found) return 2;
  char name[64];
  snprintf(name, sizeof name, "worker_history %s", argv[1]);
  return check_exit(name);
}
