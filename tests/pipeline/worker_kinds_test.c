/*
 * worker_kinds_test.c — the bases of the profile kinds other than cpu
 * (worker.h, "Profile kinds"), checked in-process on the real file:// store
 * and mem:// bus with real Go heap, mutex, block, goroutine and threadcreate
 * profiles. Every base is compared with Go's profile.Merge of what it must
 * hold (the counter part each upload adds, and each live instance's latest
 * gauges), by summary, through `agents compare`.
 *
 *   worker_kinds_test CASE WORKER_PROFILES PROFILES GOPROFILES AGENTS
 *
 * WORKER_PROFILES: the CPU profiles of tests/worker/gen-profiles.sh;
 * PROFILES: tests/diff/gen-profiles.sh (heap/, mutex/, block/);
 * GOPROFILES: `agents gen-profiles` (goroutine, threadcreate); AGENTS: the
 * emulator. Uploads are staged as the server stages them: the profile with
 * its `pgopipe-upload:` metadata comment, then profile.uploaded.
 *
 * Cases:
 *   cumulative  five cumulative heap snapshots of one instance give alloc
 *               totals equal to the last snapshot (not five times it), one
 *               batch per upload and all in one batch
 *   restart     two instances, one restarting, mutex and heap, in batches
 *               that cut the chains anywhere
 *   delta       Pyroscope-shaped delta uploads summed (heap, mutex, block),
 *               goroutine gauges as the latest snapshot; no state for kinds
 *               without gauges
 *   gauge_ttl   gauges are the latest snapshot per instance and leave after
 *               the TTL (an injected clock), by the tick; a restarted worker
 *               rebuilds them from the instance states; a base written by
 *               someone else is not overwritten by the tick
 *   mixed       one app: plain cpu uploads, Pyroscope heap deltas, profefe
 *               cumulative heap and threadcreate: never summed raw, cpu as
 *               before
 *   crash       crash points between the base write and the state writes
 *               (and after both) with redelivery: every total exact
 *   delete      profile.deleted removes the kind bases and instance states;
 *               an upload after it starts from zero; no gauge survives
 *   poison      wrong metadata, a kind that contradicts the sample types,
 *               a corrupt state or base: moved aside or restarted, the rest
 *               merges
 *   prune       the app's rules apply to the kind bases
 *   reconcile   uploads without events (a mem:// crash) are merged in name
 *               order by reconciliation, and their gauges expire afterwards
 *
 *   worker_kinds_test replay WORKER_PROFILES CAPTURE_DIR AGENTS
 *
 * replays the requests an agent scenario of the emulator recorded (`agents
 * SCENARIO -capture -out CAPTURE_DIR`): each goes through lib/ingest's
 * request parser and is staged as the server stages it; then every base the
 * manifest expects must equal Go's merge of its expected files.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "chrono.h"
#include "ingest.h"
#include "layout.h"
#include "worker_env.h"

CHECK_DEFINE_COUNTERS

#define NS 1000000000LL
#define MAXP 64

static const char *g_agents;
static pp_profile *g_heap_src[MAXP], *g_mutex_src[MAXP], *g_block_src[MAXP];
static size_t g_nheap, g_nmutex, g_nblock;
static pp_profile *g_goroutine, *g_threadcreate;

/* ---- Profiles ---- */

static int has_samples(const pp_profile *p) { return p && pp_sample_count(p) > 0; }

/*
 * A cumulative series of one instance from real profiles: snapshot k's
 * counter columns are the sum of the profiles of its life so far, its gauge
 * columns those of profile k; a new life starts at restart_at (0: never).
 * contrib[k] is what snapshot k adds to a base: counters(src k).
 */
static void series(pp_profile *const *src, size_t nsrc, size_t offset, size_t n, size_t restart_at,
                   pp_profile **snap, pp_profile **contrib) {
  pp_profile *acc[MAXP];
  size_t na = 0;
  for (size_t k = 0; k < n; k++) {
    if (restart_at && k == restart_at) {
      for (size_t i = 0; i < na; i++) pp_free(acc[i]);
      na = 0;
    }
    const pp_profile *s = src[(offset + k) % nsrc];
    acc[na++] = counters(s);
    acc[na] = gauges(s);
    snap[k] = merged(acc, na + 1);
    pp_free(acc[na]);
    contrib[k] = counters(s);
  }
  for (size_t i = 0; i < na; i++) pp_free(acc[i]);
}

/* ---- Uploads as the server stages them ---- */

/* Stages p with the metadata comment m; publishes profile.uploaded unless
 * quiet. The staged key goes to key (may be NULL). */
static void upload_meta(env *e, const char *app, const pp_profile *p, const up_meta *m, int quiet,
                        char *key, size_t keyn) {
  size_t n = 0;
  uint8_t *b = meta_encode(p, m, &n);
  char k[LAYOUT_KEY_BUF], err[512];
  CHECK(layout_staging_key_new(app, wall_ns(), k, sizeof k) == 0, "staging key");
  CHECK(blob_put(e->blob, k, b, n, err, sizeof err) == 0, "%s", err);
  free(b);
  if (!quiet) publish(e, BUS_TYPE_UPLOADED, app, k);
  if (key) snprintf(key, keyn, "%s", k);
}

/* The base of (app, kind), decoded, or NULL. */
static pp_profile *kbase(env *e, const char *app, layout_kind kind) {
  char key[LAYOUT_KEY_BUF];
  layout_kind_base_key(app, kind, key, sizeof key);
  return env_get_profile(e, key);
}

/* The instance state of (app, kind, instance), decoded, or NULL. */
static pp_profile *kstate(env *e, const char *app, layout_kind kind, const char *instance) {
  char key[LAYOUT_KEY_BUF];
  layout_instance_key(app, kind, instance, key, sizeof key);
  return env_get_profile(e, key);
}

/* Sum of a column over profiles. */
static int64_t sum_of(pp_profile *const *v, size_t n, const char *type) {
  int64_t t = 0;
  for (size_t i = 0; i < n; i++) t += total_of(v[i], type);
  return t;
}

static int64_t g_clock;
static int64_t fake_clock(void *ctx) { return *(int64_t *)ctx; }

static worker_counts cnt(env *e) { return counts(e); }

/* ---- cumulative ---- */

static void test_cumulative(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  pp_profile *snap[5], *contrib[5];
  series(g_heap_src, g_nheap, 0, 5, 0, snap, contrib);
  int64_t t0 = wall_ns() - 600 * NS;
  char keys[5][LAYOUT_KEY_BUF];
  for (int k = 0; k < 5; k++) {
    up_meta m = {"heap", "cumulative", "profefe", "host=web-1", t0 + k * 10 * NS, 0};
    upload_meta(&e, "one", snap[k], &m, 0, keys[k], sizeof keys[k]);
    drain(&e, 50); /* one batch per upload */
  }
  for (int k = 0; k < 5; k++) {
    up_meta m = {"heap", "cumulative", "profefe", "host=web-1", t0 + k * 10 * NS, 0};
    upload_meta(&e, "batch", snap[k], &m, 0, NULL, 0);
  }
  drain(&e, 50); /* all in one batch */
  pp_profile *exp[6];
  for (int k = 0; k < 5; k++) exp[k] = contrib[k];
  exp[5] = gauges(snap[4]);
  const char *apps[] = {"one", "batch"};
  for (int a = 0; a < 2; a++) {
    pp_profile *b = kbase(&e, apps[a], LAYOUT_KIND_HEAP);
    CHECK(b != NULL, "%s: no heap base", apps[a]);
    for (int j = 0; b && j < 2; j++) {
      const char *t = j ? "alloc_space" : "alloc_objects";
      CHECK(total_of(b, t) == total_of(snap[4], t) && total_of(b, t) > 0,
            "%s: %s %" PRId64 ", the last snapshot has %" PRId64 " (five times: %" PRId64 ")",
            apps[a], t, total_of(b, t), total_of(snap[4], t), 5 * total_of(snap[4], t));
    }
    CHECK(b && total_of(b, "inuse_space") == total_of(snap[4], "inuse_space"),
          "%s: inuse_space is the last snapshot's", apps[a]);
    same_as_go(g_agents, apps[a], exp, 6, b);
    pp_free(b);
    char key[LAYOUT_KEY_BUF];
    layout_base_key(apps[a], key, sizeof key);
    CHECK(!exists(&e, key), "%s: a cpu base appeared", apps[a]);
    pp_profile *st = kstate(&e, apps[a], LAYOUT_KIND_HEAP, "host=web-1");
    CHECK(st && total_of(st, "alloc_space") == total_of(snap[4], "alloc_space") &&
              total_of(st, "inuse_space") == total_of(snap[4], "inuse_space"),
          "%s: the instance state holds the last snapshot", apps[a]);
    pp_free(st);
    snprintf(key, sizeof key, "%s/staging/", apps[a]);
    CHECK(count_prefix(&e, key) == 0, "%s: staged objects left", apps[a]);
  }
  worker_counts c = cnt(&e);
  CHECK(c.kind_uploads[LAYOUT_KIND_HEAP] == 10, "heap uploads %" PRIu64, c.kind_uploads[LAYOUT_KIND_HEAP]);
  CHECK(c.first_snapshots[LAYOUT_KIND_HEAP] == 2 && c.restarts[LAYOUT_KIND_HEAP] == 0,
        "first %" PRIu64 " restarts %" PRIu64, c.first_snapshots[LAYOUT_KIND_HEAP],
        c.restarts[LAYOUT_KIND_HEAP]);
  CHECK(c.kind_uploads[LAYOUT_KIND_CPU] == 0 && c.rejected == 0 && c.duplicates == 0, "nothing else");
  CHECK(c.gauge_instances[LAYOUT_KIND_HEAP] == 2, "live heap instances %" PRIu64,
        c.gauge_instances[LAYOUT_KIND_HEAP]);
  /* the same snapshots redelivered: nothing counted twice */
  for (int k = 0; k < 5; k++) publish(&e, BUS_TYPE_UPLOADED, "one", keys[k]);
  drain(&e, 50);
  pp_profile *b = kbase(&e, "one", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "alloc_space") == total_of(snap[4], "alloc_space"), "redelivery counted twice");
  pp_free(b);
  pp_free(exp[5]);
  free_all(snap, 5);
  free_all(contrib, 5);
  env_close(&e);
}

/* ---- restart ---- */

static void restart_kind(const char *kind, layout_kind lk, pp_profile *const *src, size_t nsrc,
                         size_t batch) {
  env e;
  env_open(&e, NULL, batch, 0);
  pp_profile *sa[4], *ca[4], *sb[4], *cb[4];
  series(src, nsrc, 0, 4, 0, sa, ca);
  series(src, nsrc, 1, 4, 2, sb, cb); /* B restarts before its third snapshot */
  int64_t t0 = wall_ns() - 600 * NS;
  for (int k = 0; k < 4; k++) {
    up_meta ma = {kind, "cumulative", "profefe", "a", t0 + k * 10 * NS, 0};
    up_meta mb = {kind, "cumulative", "profefe", "", t0 + k * 10 * NS + NS, 0};
    upload_meta(&e, "app", sa[k], &ma, 0, NULL, 0);
    upload_meta(&e, "app", sb[k], &mb, 0, NULL, 0);
  }
  drain(&e, batch);
  pp_profile *exp[10];
  size_t n = 0;
  for (int k = 0; k < 4; k++) exp[n++] = ca[k];
  for (int k = 0; k < 4; k++) exp[n++] = cb[k];
  int heap = lk == LAYOUT_KIND_HEAP;
  if (heap) {
    exp[n++] = gauges(sa[3]);
    exp[n++] = gauges(sb[3]);
  }
  pp_profile *b = kbase(&e, "app", lk);
  char what[64];
  snprintf(what, sizeof what, "%s, batches of %zu", kind, batch);
  same_as_go(g_agents, what, exp, n, b);
  const char *t = heap ? "alloc_space" : "delay";
  /* a's last snapshot, plus b's first life's last and second life's last */
  int64_t want = total_of(sa[3], t) + total_of(sb[1], t) + total_of(sb[3], t);
  CHECK(b && total_of(b, t) == want, "%s: %s %" PRId64 ", want %" PRId64, what, t,
        b ? total_of(b, t) : -1, want);
  pp_free(b);
  worker_counts c = cnt(&e);
  CHECK(c.restarts[lk] == 1 && c.first_snapshots[lk] == 2, "%s: restarts %" PRIu64 " first %" PRIu64,
        what, c.restarts[lk], c.first_snapshots[lk]);
  char prefix[LAYOUT_KEY_BUF];
  layout_instances_prefix("app", lk, prefix, sizeof prefix);
  CHECK(count_prefix(&e, prefix) == 2, "%s: %zu instance states", what, count_prefix(&e, prefix));
  if (heap) {
    pp_free(exp[8]);
    pp_free(exp[9]);
  }
  free_all(sa, 4);
  free_all(ca, 4);
  free_all(sb, 4);
  free_all(cb, 4);
  env_close(&e);
}

static void test_restart(void) {
  size_t batches[] = {1, 3, 50};
  for (size_t i = 0; i < 3; i++) {
    restart_kind("mutex", LAYOUT_KIND_MUTEX, g_mutex_src, g_nmutex, batches[i]);
    restart_kind("heap", LAYOUT_KIND_HEAP, g_heap_src, g_nheap, batches[i]);
  }
}

/* ---- delta ---- */

static void test_delta(void) {
  env e;
  env_open(&e, NULL, 4, 0);
  int64_t t0 = wall_ns() - 600 * NS;
  pp_profile *heap_exp[8], *mutex_exp[4], *block_exp[4], *gor[3];
  size_t nh = 0;
  const pp_profile *last_heap = NULL;
  for (int k = 0; k < 4; k++) {
    const pp_profile *h = g_heap_src[k % g_nheap];
    up_meta mh = {"heap", "delta", "pyroscope", "0123456789abcdef", t0 + k * 15 * NS, 0};
    upload_meta(&e, "pyro", h, &mh, 0, NULL, 0);
    heap_exp[nh++] = counters(h);
    last_heap = h;
    const pp_profile *m = g_mutex_src[k % g_nmutex], *bl = g_block_src[(k + 1) % g_nblock];
    up_meta mm = {"mutex", "delta", "pyroscope", "0123456789abcdef", t0 + k * 15 * NS, 0};
    up_meta mb = {"block", "delta", "pyroscope", "0123456789abcdef", t0 + k * 15 * NS, 0};
    upload_meta(&e, "pyro", m, &mm, 0, NULL, 0);
    upload_meta(&e, "pyro", bl, &mb, 0, NULL, 0);
    mutex_exp[k] = pp_clone(m);
    block_exp[k] = pp_clone(bl);
  }
  for (int k = 0; k < 3; k++) {
    gor[k] = scaled(g_goroutine, k + 1, k + 1);
    up_meta mg = {"goroutine", "delta", "pyroscope", "0123456789abcdef", t0 + k * 15 * NS, 0};
    upload_meta(&e, "pyro", gor[k], &mg, 0, NULL, 0);
  }
  drain(&e, 4);
  heap_exp[nh++] = gauges(last_heap);
  pp_profile *b = kbase(&e, "pyro", LAYOUT_KIND_HEAP);
  same_as_go(g_agents, "heap deltas", heap_exp, nh, b);
  CHECK(b && total_of(b, "alloc_space") == sum_of(heap_exp, 4, "alloc_space") &&
            total_of(b, "inuse_space") == total_of(last_heap, "inuse_space"),
        "heap deltas summed, in-use the last");
  pp_free(b);
  b = kbase(&e, "pyro", LAYOUT_KIND_MUTEX);
  same_as_go(g_agents, "mutex deltas", mutex_exp, 4, b);
  pp_free(b);
  b = kbase(&e, "pyro", LAYOUT_KIND_BLOCK);
  same_as_go(g_agents, "block deltas", block_exp, 4, b);
  pp_free(b);
  b = kbase(&e, "pyro", LAYOUT_KIND_GOROUTINE);
  same_as_go(g_agents, "goroutine: the latest snapshot", &gor[2], 1, b);
  CHECK(b && total_of(b, "goroutine") == total_of(gor[2], "goroutine"), "goroutines not summed");
  pp_free(b);
  char p[LAYOUT_KEY_BUF];
  layout_instances_prefix("pyro", LAYOUT_KIND_MUTEX, p, sizeof p);
  CHECK(count_prefix(&e, p) == 0, "a state for mutex deltas");
  layout_instances_prefix("pyro", LAYOUT_KIND_BLOCK, p, sizeof p);
  CHECK(count_prefix(&e, p) == 0, "a state for block deltas");
  pp_profile *st = kstate(&e, "pyro", LAYOUT_KIND_HEAP, "0123456789abcdef");
  CHECK(st && total_of(st, "alloc_space") == 0 &&
            total_of(st, "inuse_space") == total_of(last_heap, "inuse_space"),
        "the heap state of a delta instance keeps its gauges only");
  pp_free(st);
  worker_counts c = cnt(&e);
  CHECK(c.first_snapshots[LAYOUT_KIND_HEAP] == 0 && c.restarts[LAYOUT_KIND_MUTEX] == 0,
        "deltas are not snapshots");
  free_all(heap_exp, nh);
  free_all(mutex_exp, 4);
  free_all(block_exp, 4);
  free_all(gor, 3);
  env_close(&e);
}

/* ---- gauge TTL ---- */

static void test_gauge_ttl(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  g_clock = wall_ns();
  env_set_clock(&e, fake_clock, &g_clock, 10 * 60 * 1000, 50);
  const int64_t M = 60 * NS;
  int64_t t0 = g_clock;
  const char *ids[] = {"a", "b", "c"};
  pp_profile *h[4];
  for (int i = 0; i < 4; i++) h[i] = pp_clone(g_heap_src[i % g_nheap]);
  for (int i = 0; i < 3; i++) {
    up_meta m = {"heap", "delta", "pyroscope", ids[i], t0, t0};
    upload_meta(&e, "g", h[i], &m, 0, NULL, 0);
  }
  drain(&e, 50);
  pp_profile *b = kbase(&e, "g", LAYOUT_KIND_HEAP);
  int64_t in3 = total_of(h[0], "inuse_space") + total_of(h[1], "inuse_space") +
                total_of(h[2], "inuse_space");
  CHECK(b && total_of(b, "inuse_space") == in3, "three instances' in-use summed");
  pp_free(b);
  /* a sends again 5 minutes later */
  g_clock = t0 + 5 * M;
  up_meta m = {"heap", "delta", "pyroscope", "a", g_clock, g_clock};
  upload_meta(&e, "g", h[3], &m, 0, NULL, 0);
  drain(&e, 50);
  b = kbase(&e, "g", LAYOUT_KIND_HEAP);
  int64_t alloc = total_of(h[0], "alloc_space") + total_of(h[1], "alloc_space") +
                  total_of(h[2], "alloc_space") + total_of(h[3], "alloc_space");
  CHECK(b && total_of(b, "inuse_space") ==
                 total_of(h[3], "inuse_space") + total_of(h[1], "inuse_space") +
                     total_of(h[2], "inuse_space"),
        "a's latest snapshot replaces its first");
  pp_free(b);
  /* 11 minutes after the start: b and c are out, by the tick */
  g_clock = t0 + 11 * M;
  CHECK(worker_gauge_tick(e.w) == 0, "tick");
  b = kbase(&e, "g", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "inuse_space") == total_of(h[3], "inuse_space") &&
            total_of(b, "alloc_space") == alloc,
        "after the TTL: in-use %" PRId64 " (want a's %" PRId64 "), alloc unchanged",
        b ? total_of(b, "inuse_space") : -1, total_of(h[3], "inuse_space"));
  pp_profile *exp[6];
  size_t n = 0;
  for (int i = 0; i < 4; i++) exp[n++] = counters(h[i]);
  exp[n++] = gauges(h[3]);
  same_as_go(g_agents, "after the TTL", exp, n, b);
  pp_free(b);
  CHECK(cnt(&e).gauge_expired[LAYOUT_KIND_HEAP] == 2, "expired %" PRIu64,
        cnt(&e).gauge_expired[LAYOUT_KIND_HEAP]);
  uint64_t writes = cnt(&e).kind_base_writes[LAYOUT_KIND_HEAP];
  CHECK(worker_gauge_tick(e.w) == 0 && cnt(&e).kind_base_writes[LAYOUT_KIND_HEAP] == writes,
        "a tick with nothing expired writes nothing");
  /* a restarted worker rebuilds G from the states: only a is live; d comes */
  env_restart(&e, 0);
  g_clock = t0 + 12 * M;
  up_meta md = {"heap", "delta", "pyroscope", "d", g_clock, g_clock};
  upload_meta(&e, "g", h[0], &md, 0, NULL, 0);
  drain(&e, 50);
  b = kbase(&e, "g", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "inuse_space") == total_of(h[3], "inuse_space") + total_of(h[0], "inuse_space"),
        "rebuilt from the states: a and d");
  pp_free(b);
  /* everyone quiet: the gauge part empties, the counters stay */
  g_clock = t0 + 30 * M;
  CHECK(worker_gauge_tick(e.w) == 0, "tick");
  b = kbase(&e, "g", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "inuse_space") == 0 &&
            total_of(b, "alloc_space") == alloc + total_of(h[0], "alloc_space"),
        "all expired: in-use 0, alloc kept");
  pp_free(b);
  /* goroutine: a gauge-only kind, same rules */
  up_meta mg = {"goroutine", "cumulative", "profefe", "x", g_clock, g_clock};
  upload_meta(&e, "g", g_goroutine, &mg, 0, NULL, 0);
  drain(&e, 50);
  g_clock += 11 * M;
  CHECK(worker_gauge_tick(e.w) == 0, "tick");
  b = kbase(&e, "g", LAYOUT_KIND_GOROUTINE);
  CHECK(b && total_of(b, "goroutine") == 0 && pp_sample_count(b) == 0, "goroutines expired");
  pp_free(b);
  /* a base written by someone else is not overwritten by a tick */
  up_meta m2 = {"heap", "delta", "pyroscope", "e", g_clock, g_clock};
  upload_meta(&e, "g", h[1], &m2, 0, NULL, 0);
  drain(&e, 50);
  char key[LAYOUT_KEY_BUF], err[256];
  layout_kind_base_key("g", LAYOUT_KIND_HEAP, key, sizeof key);
  pp_profile *other = pp_clone(h[2]);
  pp_add_comment(other, "written by another worker");
  uint8_t *ob;
  size_t on;
  CHECK(pp_encode(other, 6, &ob, &on, err, sizeof err) == 0, "encode");
  CHECK(blob_put(e.blob, key, ob, on, err, sizeof err) == 0, "replace");
  g_clock += 11 * M;
  CHECK(worker_gauge_tick(e.w) == 0, "tick");
  b = kbase(&e, "g", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "inuse_space") == total_of(h[2], "inuse_space"),
        "the tick overwrote a base it did not write last");
  pp_free(b);
  free(ob);
  pp_free(other);
  free_all(exp, n);
  free_all(h, 4);
  env_close(&e);
}

/* ---- mixed ---- */

static void test_mixed(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  int64_t t0 = wall_ns() - 600 * NS;
  pp_profile *snap[3], *contrib[3], *tsnap[3], *tcontrib[3];
  series(g_heap_src, g_nheap, 2, 3, 0, snap, contrib);
  pp_profile *tsrc[2] = {g_threadcreate, NULL};
  tsrc[1] = scaled(g_threadcreate, 2, 2);
  series(tsrc, 2, 0, 3, 0, tsnap, tcontrib);
  pp_profile *exp[10];
  size_t n = 0;
  for (int k = 0; k < 3; k++) {
    upload(&e, "shop", g_cpu[k % g_ncpu], NULL, 0); /* a plain cpu upload, no metadata */
    const pp_profile *d = g_heap_src[(k + 4) % g_nheap];
    up_meta md = {"heap", "delta", "pyroscope", "sess", t0 + k * 15 * NS, 0};
    upload_meta(&e, "shop", d, &md, 0, NULL, 0);
    exp[n++] = counters(d);
    up_meta mc = {"heap", "cumulative", "profefe", "web-2", t0 + k * 60 * NS, 0};
    upload_meta(&e, "shop", snap[k], &mc, 0, NULL, 0);
    exp[n++] = contrib[k];
    up_meta mt = {"threadcreate", "cumulative", "profefe", "web-2", t0 + k * 60 * NS, 0};
    upload_meta(&e, "shop", tsnap[k], &mt, 0, NULL, 0);
    if (k == 1) drain(&e, 50);
  }
  drain(&e, 50);
  exp[n++] = gauges(g_heap_src[(2 + 4) % g_nheap]);
  exp[n++] = gauges(snap[2]);
  pp_profile *b = kbase(&e, "shop", LAYOUT_KIND_HEAP);
  same_as_go(g_agents, "mixed heap", exp, n, b);
  /* summed raw, the profefe snapshots would count their first profile 3 times */
  int64_t right = sum_of(exp, 6, "alloc_space");
  int64_t naive = right - total_of(snap[2], "alloc_space") + sum_of(snap, 3, "alloc_space");
  CHECK(b && total_of(b, "alloc_space") == right && right < naive,
        "alloc %" PRId64 ", want %" PRId64 " (summed raw: %" PRId64 ")",
        b ? total_of(b, "alloc_space") : -1, right, naive);
  pp_free(b);
  b = kbase(&e, "shop", LAYOUT_KIND_THREADCREATE);
  same_as_go(g_agents, "threadcreate", tcontrib, 3, b);
  CHECK(b && total_of(b, "threadcreate") == total_of(tsnap[2], "threadcreate"),
        "threadcreate: the last snapshot");
  pp_free(b);
  b = base_of(&e, "shop");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1 % g_ncpu], 1) +
                                   file_total(g_cpu[2 % g_ncpu], 1),
        "cpu base as before");
  CHECK(b && pp_sample_type_count(b) == 2, "cpu base holds cpu only");
  pp_free(b);
  worker_counts c = cnt(&e);
  CHECK(c.kind_uploads[LAYOUT_KIND_CPU] == 3 && c.kind_uploads[LAYOUT_KIND_HEAP] == 6 &&
            c.kind_uploads[LAYOUT_KIND_THREADCREATE] == 3,
        "per kind: cpu %" PRIu64 " heap %" PRIu64 " threadcreate %" PRIu64,
        c.kind_uploads[LAYOUT_KIND_CPU], c.kind_uploads[LAYOUT_KIND_HEAP],
        c.kind_uploads[LAYOUT_KIND_THREADCREATE]);
  CHECK(count_prefix(&e, "shop/staging/") == 0, "staged left");
  free_all(exp, n);
  free_all(snap, 3);
  free_all(tsnap, 3);
  free_all(tcontrib, 3);
  pp_free(tsrc[1]);
  env_close(&e);
}

/* ---- crash points ---- */

static void test_crash(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  pp_profile *sa[6], *ca[6], *sb[6], *cb[6];
  series(g_heap_src, g_nheap, 0, 6, 0, sa, ca);
  series(g_heap_src, g_nheap, 3, 6, 3, sb, cb);
  int64_t t0 = wall_ns() - 600 * NS;
  char ska[LAYOUT_KEY_BUF], skb[LAYOUT_KEY_BUF];
  layout_instance_key("app", LAYOUT_KIND_HEAP, "a", ska, sizeof ska);
  layout_instance_key("app", LAYOUT_KIND_HEAP, "b", skb, sizeof skb);
  char k[6][2][LAYOUT_KEY_BUF];
  for (int i = 0; i < 6; i++) {
    up_meta ma = {"heap", "cumulative", "profefe", "a", t0 + i * 10 * NS, 0};
    up_meta mb = {"heap", "cumulative", "profefe", "b", t0 + i * 10 * NS, 0};
    upload_meta(&e, "app", sa[i], &ma, 1, k[i][0], sizeof k[i][0]);
    upload_meta(&e, "app", sb[i], &mb, 1, k[i][1], sizeof k[i][1]);
  }
  char err[512];
  const char *keys[2];
  /* 0: merged normally */
  keys[0] = k[0][0];
  keys[1] = k[0][1];
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  /* 1: crash after the base write, before both state writes: the states
   * still hold snapshot 0; the uploads are redelivered */
  size_t la, lb;
  uint8_t *a0 = env_save_key(&e, ska, &la), *b0 = env_save_key(&e, skb, &lb);
  keys[0] = k[1][0];
  keys[1] = k[1][1];
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  env_restore_key(&e, ska, a0, la);
  env_restore_key(&e, skb, b0, lb);
  env_restart(&e, 0);
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  /* 2: crash after a's state, before b's */
  b0 = env_save_key(&e, skb, &lb);
  keys[0] = k[2][0];
  keys[1] = k[2][1];
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  env_restore_key(&e, skb, b0, lb);
  env_restart(&e, 0);
  /* ...redelivered together with the next uploads (one batch: 2 and 3) */
  const char *four[4] = {k[2][0], k[2][1], k[3][0], k[3][1]};
  CHECK(worker_merge_app(e.w, "app", four, 4, err, sizeof err) == 0, "%s", err);
  /* 3: crash after every write, before profile.merged: all skipped again */
  CHECK(worker_merge_app(e.w, "app", four, 4, err, sizeof err) == 0, "%s", err);
  /* 4: crash after the base write (b restarted before 3, so b's 4 is a
   * continuation of its second life); a's state lost, b's kept */
  a0 = env_save_key(&e, ska, &la);
  keys[0] = k[4][0];
  keys[1] = k[4][1];
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  env_restore_key(&e, ska, a0, la);
  /* 5: a mem:// crash: the events are gone; reconciliation finds every
   * upload still staged (0-4 merged, 5 not), in name order */
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  drain(&e, 50);
  pp_profile *exp[14];
  size_t n = 0;
  for (int i = 0; i < 6; i++) exp[n++] = ca[i];
  for (int i = 0; i < 6; i++) exp[n++] = cb[i];
  exp[n++] = gauges(sa[5]);
  exp[n++] = gauges(sb[5]);
  pp_profile *b = kbase(&e, "app", LAYOUT_KIND_HEAP);
  same_as_go(g_agents, "after the crashes", exp, n, b);
  int64_t want = total_of(sa[5], "alloc_space") + total_of(sb[2], "alloc_space") +
                 total_of(sb[5], "alloc_space");
  CHECK(b && total_of(b, "alloc_space") == want, "alloc %" PRId64 ", want %" PRId64,
        b ? total_of(b, "alloc_space") : -1, want);
  pp_free(b);
  pp_profile *st = env_get_profile(&e, ska);
  CHECK(st && total_of(st, "alloc_space") == total_of(sa[5], "alloc_space"), "a's state is its last");
  pp_free(st);
  /* the same snapshot once more (an agent's retry): it adds nothing, and
   * the state's record shrinks to what is still staged */
  up_meta again = {"heap", "cumulative", "profefe", "a", t0 + 5 * 10 * NS, 0};
  upload_meta(&e, "app", sa[5], &again, 0, NULL, 0);
  drain(&e, 50);
  b = kbase(&e, "app", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "alloc_space") == want, "the same snapshot again added something");
  pp_free(b);
  st = env_get_profile(&e, ska);
  CHECK(st && record_size(st) == 1, "a's state record: %zu names", st ? record_size(st) : 0);
  pp_free(st);
  CHECK(count_prefix(&e, "app/staging/") == 0, "staged left: %zu", count_prefix(&e, "app/staging/"));
  CHECK(cnt(&e).restarts[LAYOUT_KIND_HEAP] == 1, "one restart, seen once (%" PRIu64 ")",
        cnt(&e).restarts[LAYOUT_KIND_HEAP]);
  /* An old upload redelivered alone after newer ones, without times (so
   * only the state's record can tell): it must not move the state back. */
  char kn[3][LAYOUT_KEY_BUF];
  for (int i = 0; i < 3; i++) {
    up_meta m = {"heap", "cumulative", "api", "n", 0, 0};
    upload_meta(&e, "notime", sa[i], &m, 1, kn[i], sizeof kn[i]);
  }
  const char *two[2] = {kn[0], kn[1]};
  CHECK(worker_merge_app(e.w, "notime", two, 2, err, sizeof err) == 0, "%s", err);
  CHECK(worker_merge_app(e.w, "notime", two, 1, err, sizeof err) == 0, "%s", err);
  two[0] = kn[2];
  CHECK(worker_merge_app(e.w, "notime", two, 1, err, sizeof err) == 0, "%s", err);
  b = kbase(&e, "notime", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "alloc_space") == total_of(sa[2], "alloc_space"),
        "a redelivered old snapshot moved its instance back: alloc %" PRId64 ", want %" PRId64,
        b ? total_of(b, "alloc_space") : -1, total_of(sa[2], "alloc_space"));
  pp_free(b);
  pp_free(exp[12]);
  pp_free(exp[13]);
  free_all(sa, 6);
  free_all(ca, 6);
  free_all(sb, 6);
  free_all(cb, 6);
  env_close(&e);
}

/* ---- delete ---- */

static void test_delete(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  pp_profile *s[3], *c[3];
  series(g_heap_src, g_nheap, 0, 3, 0, s, c);
  int64_t t0 = wall_ns() - 600 * NS;
  for (int k = 0; k < 2; k++) {
    up_meta m = {"heap", "cumulative", "profefe", "a", t0 + k * 10 * NS, 0};
    upload_meta(&e, "app", s[k], &m, 0, NULL, 0);
    up_meta mm = {"mutex", "cumulative", "profefe", "a", t0 + k * 10 * NS, 0};
    upload_meta(&e, "app", g_mutex_src[0], &mm, 0, NULL, 0);
  }
  upload(&e, "app", g_cpu[0], NULL, 0);
  upload_meta(&e, "other", s[0], &(up_meta){"heap", "cumulative", "profefe", "a", t0, 0}, 0, NULL, 0);
  drain(&e, 50);
  CHECK(count_prefix(&e, "app/kinds/") == 2 && count_prefix(&e, "app/instances/") == 2,
        "setup: %zu kind bases, %zu states", count_prefix(&e, "app/kinds/"),
        count_prefix(&e, "app/instances/"));
  server_delete(&e, "app", -1);
  past_ms_of(wall_ns());
  /* after the DELETE: a's next snapshot, and a new instance b */
  up_meta m = {"heap", "cumulative", "profefe", "a", t0 + 20 * NS, 0};
  upload_meta(&e, "app", s[2], &m, 0, NULL, 0);
  drain(&e, 50);
  CHECK(count_prefix(&e, "app/kinds/mutex") == 0 && count_prefix(&e, "app/instances/mutex/") == 0,
        "mutex base or state survived the delete");
  CHECK(!exists(&e, "app/default.pgo"), "cpu base survived");
  pp_profile *b = kbase(&e, "app", LAYOUT_KIND_HEAP);
  /* the app starts over: a's snapshot counts from zero, only its gauges */
  CHECK(b && total_of(b, "alloc_space") == total_of(s[2], "alloc_space") &&
            total_of(b, "inuse_space") == total_of(s[2], "inuse_space"),
        "after the delete the heap base is a's snapshot alone");
  pp_free(b);
  b = kbase(&e, "other", LAYOUT_KIND_HEAP);
  CHECK(b && total_of(b, "alloc_space") == total_of(s[0], "alloc_space"), "another app was touched");
  pp_free(b);
  CHECK(counts(&e).apps_deleted == 1, "apps_deleted");
  free_all(s, 3);
  free_all(c, 3);
  env_close(&e);
}

/* ---- poison ---- */

static void test_poison(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  int64_t t0 = wall_ns() - 600 * NS;
  char k1[LAYOUT_KEY_BUF], k2[LAYOUT_KEY_BUF], k3[LAYOUT_KEY_BUF], k4[LAYOUT_KEY_BUF];
  pp_profile *cpu = decode_file(g_cpu[0]);
  up_meta bad_kind = {"heap", "delta", "pyroscope", "s", t0, 0};
  upload_meta(&e, "app", cpu, &bad_kind, 0, k1, sizeof k1); /* a cpu profile said to be heap */
  up_meta contention = {"mutex", "delta", "pyroscope", "s", t0, 0};
  upload_meta(&e, "app", g_heap_src[0], &contention, 0, k2, sizeof k2); /* heap said to be mutex */
  /* a record that does not parse */
  pp_profile *c = pp_clone(g_heap_src[0]);
  pp_add_comment(c, INGEST_META_COMMENT_PREFIX "{\"kind\":");
  uint8_t *b;
  size_t n;
  char err[256];
  CHECK(pp_encode(c, 1, &b, &n, err, sizeof err) == 0, "encode");
  layout_staging_key_new("app", wall_ns(), k3, sizeof k3);
  blob_put(e.blob, k3, b, n, err, sizeof err);
  publish(&e, BUS_TYPE_UPLOADED, "app", k3);
  free(b);
  pp_free(c);
  /* a good one: block, told apart from mutex by its kind */
  up_meta good = {"block", "delta", "pyroscope", "s", t0, 0};
  upload_meta(&e, "app", g_block_src[0], &good, 0, k4, sizeof k4);
  drain(&e, 50);
  CHECK(counts(&e).rejected == 3, "rejected %" PRIu64, counts(&e).rejected);
  const char *keys[] = {k1, k2, k3};
  for (int i = 0; i < 3; i++) {
    char r[LAYOUT_KEY_BUF];
    layout_rejected_key("app", layout_staged_name(keys[i], "app"), r, sizeof r);
    CHECK(exists(&e, r) && !exists(&e, keys[i]), "%s not moved to rejected/", keys[i]);
  }
  pp_profile *p = kbase(&e, "app", LAYOUT_KIND_BLOCK);
  same_as_go(g_agents, "block after poison", &g_block_src[0], 1, p);
  pp_free(p);
  CHECK(!exists(&e, "app/kinds/heap.pgo") && !exists(&e, "app/kinds/mutex.pgo") &&
            !exists(&e, "app/default.pgo"),
        "poison made a base");
  /* a corrupt instance state: the instance starts again from its next snapshot */
  pp_profile *s[2], *cs[2];
  series(g_heap_src, g_nheap, 0, 2, 0, s, cs);
  up_meta m0 = {"heap", "cumulative", "profefe", "i", t0, 0};
  upload_meta(&e, "app", s[0], &m0, 0, NULL, 0);
  drain(&e, 50);
  char sk[LAYOUT_KEY_BUF];
  layout_instance_key("app", LAYOUT_KIND_HEAP, "i", sk, sizeof sk);
  CHECK(blob_put(e.blob, sk, "garbage", 7, err, sizeof err) == 0, "corrupt the state");
  up_meta m1 = {"heap", "cumulative", "profefe", "i", t0 + NS, 0};
  upload_meta(&e, "app", s[1], &m1, 0, NULL, 0);
  drain(&e, 50);
  p = kbase(&e, "app", LAYOUT_KIND_HEAP);
  CHECK(p && total_of(p, "alloc_space") == total_of(s[0], "alloc_space") + total_of(s[1], "alloc_space"),
        "after a corrupt state the snapshot counts from zero");
  pp_free(p);
  /* a corrupt kind base: moved to rejected/heap.pgo.NANOS, a new one starts */
  CHECK(blob_put(e.blob, "app/kinds/heap.pgo", "garbage", 7, err, sizeof err) == 0, "corrupt");
  env_restart(&e, 0); /* (the worker keeps its base in memory otherwise) */
  up_meta m2 = {"heap", "delta", "pyroscope", "j", t0 + 2 * NS, 0};
  upload_meta(&e, "app", g_heap_src[1 % g_nheap], &m2, 0, NULL, 0);
  drain(&e, 50);
  CHECK(counts(&e).bases_rejected == 1, "bases rejected");
  CHECK(count_prefix(&e, "app/rejected/heap.pgo.") == 1, "corrupt base not in rejected/");
  p = kbase(&e, "app", LAYOUT_KIND_HEAP);
  CHECK(p && total_of(p, "alloc_space") == total_of(g_heap_src[1 % g_nheap], "alloc_space"),
        "a new heap base");
  pp_free(p);
  free_all(s, 2);
  free_all(cs, 2);
  pp_free(cpu);
  env_close(&e);
}

/* ---- prune ---- */

static void test_prune(void) {
  rules_set *rules = NULL;
  char err[512], path[700];
  snprintf(path, sizeof path, "%s/rules.json", g_tmp);
  FILE *f = fopen(path, "w");
  fputs("[{\"app\": \"pruned\", \"rules\": [{\"drop\": \"^testing\\\\.\", \"keep\": "
        "\"^testing\\\\.tRunner$\"}]}]",
        f);
  fclose(f);
  CHECK(rules_load(path, &rules, err, sizeof err) == 0, "%s", err);
  env e;
  env_open(&e, rules, 50, 0);
  pp_profile *s[3], *c[3];
  series(g_heap_src, g_nheap, 1, 3, 0, s, c);
  int64_t t0 = wall_ns() - 600 * NS;
  for (int k = 0; k < 3; k++) {
    up_meta m = {"heap", "cumulative", "profefe", "a", t0 + k * NS, 0};
    upload_meta(&e, "pruned", s[k], &m, 0, NULL, 0);
    drain(&e, 50);
  }
  pp_profile *exp[4] = {c[0], c[1], c[2], gauges(s[2])};
  pp_profile *want = merged(exp, 4);
  pp_rules *pr = pp_rules_new();
  CHECK(pp_rules_add(pr, "^testing\\.", "^testing\\.tRunner$", err, sizeof err) == 0, "%s", err);
  CHECK(pp_prune(want, pr, err, sizeof err) == 0, "%s", err);
  pp_profile *b = kbase(&e, "pruned", LAYOUT_KIND_HEAP);
  same_as_go(g_agents, "pruned heap", &want, 1, b);
  pp_profile *unpruned = merged(exp, 4);
  CHECK(b && pp_location_count(b) < pp_location_count(unpruned), "the rules changed nothing");
  pp_free(unpruned);
  pp_free(b);
  /* the instance state is not pruned: the next delta needs the stacks as sent */
  pp_profile *st = kstate(&e, "pruned", LAYOUT_KIND_HEAP, "a");
  CHECK(st && pp_sample_count(st) == pp_sample_count(s[2]), "the state was pruned");
  pp_free(st);
  pp_rules_free(pr);
  pp_free(want);
  pp_free(exp[3]);
  free_all(s, 3);
  free_all(c, 3);
  env_close(&e);
  rules_free(rules);
}

/* ---- reconcile ---- */

static void test_reconcile(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  g_clock = wall_ns();
  env_set_clock(&e, fake_clock, &g_clock, 10 * 60 * 1000, 50);
  pp_profile *s[4], *c[4];
  series(g_mutex_src, g_nmutex, 0, 4, 0, s, c);
  for (int k = 0; k < 4; k++) {
    up_meta m = {"mutex", "cumulative", "profefe", "a", g_clock + k * NS, g_clock};
    upload_meta(&e, "r", s[k], &m, 1, NULL, 0); /* staged, events lost */
    up_meta mg = {"goroutine", "cumulative", "profefe", "a", g_clock + k * NS, g_clock};
    pp_profile *g = scaled(g_goroutine, k + 1, k + 1);
    upload_meta(&e, "r", g, &mg, 1, NULL, 0);
    pp_free(g);
  }
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  drain(&e, 50);
  pp_profile *b = kbase(&e, "r", LAYOUT_KIND_MUTEX);
  same_as_go(g_agents, "reconciled mutex", c, 4, b);
  CHECK(b && total_of(b, "contentions") == total_of(s[3], "contentions"), "reconciled in order");
  pp_free(b);
  b = kbase(&e, "r", LAYOUT_KIND_GOROUTINE);
  CHECK(b && total_of(b, "goroutine") == 4 * total_of(g_goroutine, "goroutine"), "latest goroutines");
  pp_free(b);
  /* a new process: reconciliation finds nothing staged, yet builds G, so
   * the tick expires the quiet instance */
  env_restart(&e, 1);
  CHECK(worker_reconcile(e.w, NULL) == 0, "reconcile");
  CHECK(counts(&e).gauge_instances[LAYOUT_KIND_GOROUTINE] == 1, "G primed: %" PRIu64,
        counts(&e).gauge_instances[LAYOUT_KIND_GOROUTINE]);
  g_clock += 11 * 60 * NS;
  CHECK(worker_gauge_tick(e.w) == 0, "tick");
  b = kbase(&e, "r", LAYOUT_KIND_GOROUTINE);
  CHECK(b && total_of(b, "goroutine") == 0, "quiet instance expired after a restart");
  pp_free(b);
  free_all(s, 4);
  free_all(c, 4);
  env_close(&e);
}

/* ---- replay: an agent's recorded requests, as the server would stage them ---- */

static const char *jstr(json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v ? v : "";
}

/* The first value of a recorded header, or NULL. */
static const char *header(json_t *cap, const char *name) {
  json_t *h = json_object_get(json_object_get(cap, "headers"), name);
  return json_is_array(h) ? json_string_value(json_array_get(h, 0)) : NULL;
}

/* Stages one parsed push as the server does: the profile with its metadata
 * comment (none for a plain cpu upload), then profile.uploaded. */
static void stage_push(env *e, ingest_upload *up) {
  char err[512], *comment = NULL;
  if (!ingest_meta_is_default(&up->meta))
    CHECK(ingest_meta_comment(&up->meta, &comment, err, sizeof err) == 0, "%s", err);
  if (comment) CHECK(pp_add_comment(up->profile, comment) == 0, "comment");
  free(comment);
  uint8_t *b = NULL;
  size_t n = 0;
  CHECK(pp_encode(up->profile, 1, &b, &n, err, sizeof err) == 0, "%s", err);
  char key[LAYOUT_KEY_BUF];
  CHECK(layout_staging_key_new(up->app, wall_ns(), key, sizeof key) == 0, "key");
  CHECK(blob_put(e->blob, key, b, n, err, sizeof err) == 0, "%s", err);
  free(b);
  publish(e, BUS_TYPE_UPLOADED, up->app, key);
}

static int replay(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  json_error_t je;
  json_t *man = json_load_file(path, 0, &je);
  CHECK(json_is_object(man), "%s: %s", path, je.text);
  if (!man) return 1;
  env e;
  env_open(&e, NULL, 7, 0);
  size_t npush = 0, staged = 0;
  for (int i = 1;; i++) {
    snprintf(path, sizeof path, "%s/capture/%04d.json", dir, i);
    json_t *cap = json_load_file(path, 0, &je);
    if (!cap) break;
    npush++;
    snprintf(path, sizeof path, "%s/capture/%04d.body", dir, i);
    size_t len = 0;
    uint8_t *body = slurp(path, &len);
    const char *route = jstr(cap, "path");
    ingest_protocol proto = strstr(route, "/api/0/profiles")        ? INGEST_PROFEFE
                            : strstr(route, "/api/profiles/ingest") ? INGEST_TRACEWAY
                                                                    : INGEST_PYROSCOPE;
    ingest_request rq = {jstr(cap, "method"), jstr(cap, "query"), header(cap, "Content-Type"),
                         header(cap, "Content-Encoding"), NULL, body, len, NULL, NULL};
    ingest_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.now_ns = wall_ns();
    cfg.retention_ns = 168 * 3600 * NS;
    ingest_upload up;
    int status = 0;
    char msg[512];
    int rc = ingest_request_parse(proto, &rq, &cfg, &up, &status, msg, sizeof msg);
    CHECK(rc == 0, "push %d: %d %s", i, status, msg);
    if (rc == 0 && !up.empty) {
      stage_push(&e, &up);
      staged++;
    }
    if (rc == 0) ingest_upload_free(&up);
    free(body);
    json_decref(cap);
    if (i % 5 == 0) drain(&e, 7); /* batches cut the pushes anywhere */
  }
  drain(&e, 7);
  CHECK(npush > 0 && npush == json_array_size(json_object_get(man, "pushes")), "%zu pushes replayed",
        npush);
  size_t nbases = 0, idx;
  json_t *x;
  json_array_foreach(json_object_get(man, "expected"), idx, x) {
    const char *app = jstr(x, "app");
    layout_kind kind = layout_kind_parse(jstr(x, "kind"));
    json_t *files = json_object_get(x, "files");
    pp_profile *exp[256];
    size_t n = 0, fi;
    json_t *f;
    json_array_foreach(files, fi, f) {
      if (n == 256) break;
      snprintf(path, sizeof path, "%s/%s", dir, json_string_value(f));
      exp[n] = decode_file(path);
      CHECK(exp[n] != NULL, "%s", path);
      if (exp[n]) n++;
    }
    pp_profile *b = kbase(&e, app, kind);
    char what[160];
    snprintf(what, sizeof what, "%s/%s", app, jstr(x, "kind"));
    same_as_go(g_agents, what, exp, n, b);
    pp_free(b);
    free_all(exp, n);
    nbases++;
  }
  CHECK(nbases > 0, "no expected bases");
  CHECK(counts(&e).rejected == 0, "rejected %" PRIu64, counts(&e).rejected);
  printf("%s: %zu pushes (%zu staged), %zu bases equal Go's merge of what they must hold\n",
         jstr(man, "scenario"), npush, staged, nbases);
  env_close(&e);
  json_decref(man);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "replay")) {
    char *wargv[] = {argv[0], argv[2], NULL};
    int rc = wenv_init(2, wargv, "worker_kinds_test");
    if (rc) return rc;
    g_agents = argv[4];
    replay(argv[3]);
    wenv_done();
    return check_exit("worker_kinds replay");
  }
  if (argc != 6) {
    fprintf(stderr, "usage: worker_kinds_test CASE WORKER_PROFILES PROFILES GOPROFILES AGENTS\n"
                    "       worker_kinds_test replay WORKER_PROFILES CAPTURE_DIR AGENTS\n");
    return 2;
  }
  char *wargv[] = {argv[0], argv[2], NULL};
  int rc = wenv_init(2, wargv, "worker_kinds_test");
  if (rc) return rc;
  g_agents = argv[5];
  g_nheap = load_dir(argv[3], "heap", g_heap_src, MAXP);
  g_nmutex = load_dir(argv[3], "mutex", g_mutex_src, MAXP);
  g_nblock = load_dir(argv[3], "block", g_block_src, MAXP);
  char path[1200];
  snprintf(path, sizeof path, "%s/goroutine.pb.gz", argv[4]);
  g_goroutine = decode_file(path);
  snprintf(path, sizeof path, "%s/threadcreate.pb.gz", argv[4]);
  g_threadcreate = decode_file(path);
  if (g_nheap < 3 || !g_nmutex || !g_nblock || !has_samples(g_goroutine) ||
      !has_samples(g_threadcreate)) {
    fprintf(stderr, "worker_kinds_test: need heap (3), mutex, block profiles in %s and goroutine, "
                    "threadcreate in %s\n",
            argv[3], argv[4]);
    wenv_done();
    return 1;
  }
  static const wenv_case cases[] = {
      {"cumulative", test_cumulative}, {"restart", test_restart}, {"delta", test_delta},
      {"gauge_ttl", test_gauge_ttl},   {"mixed", test_mixed},     {"crash", test_crash},
      {"delete", test_delete},         {"poison", test_poison},   {"prune", test_prune},
      {"reconcile", test_reconcile}};
  int found = wenv_run_case(cases, sizeof cases / sizeof cases[0], argv[1],
                            "worker_kinds_test");
  free_all(g_heap_src, g_nheap);
  free_all(g_mutex_src, g_nmutex);
  free_all(g_block_src, g_nblock);
  pp_free(g_goroutine);
  pp_free(g_threadcreate);
  wenv_done();
  if (!found) return 2;
  char name[64];
  snprintf(name, sizeof name, "worker_kinds %s", argv[1]);
  return check_exit(name);
}
