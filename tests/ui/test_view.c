/*
 * test_view.c — what the web UI shows (lib/pipeline view.h), on the real
 * file store with real Go profiles: the apps listing (bases of every kind,
 * hour buckets, keys that are neither), tree and diff JSON byte-equal to
 * lib/pprof's exports of the stored bytes, the cache (hits, a new base gets
 * a new ETag and new JSON, If-None-Match, eviction under a small bound),
 * time ranges through a range reader and without one, errors by kind, and
 * many threads asking at once.
 *
 *   test_view PROFILES WORKDIR
 */
#include "../common/check.h"
#include "../common/proc.h"

#include "blob.h"
#include "export.h"
#include "layout.h"
#include "pprof.h"
#include "view.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_DEFINE_COUNTERS

static const char *PROFILES;
static blob_store *store;

static uint8_t *load(const char *rel, size_t *len) { return t_read_fixture(PROFILES, rel, len); }

static void put(const char *key, const uint8_t *b, size_t n) {
  char err[512];
  CHECK_EQ(blob_put(store, key, b, n, err, sizeof err), BLOB_OK);
}

/* The export lib/pprof makes of these bytes (tree when base is NULL). */
static char *expected(const uint8_t *base, size_t blen, const uint8_t *cur, size_t clen, const pp_export_opts *o,
                      size_t *len) {
  pp_profile *pb = NULL, *pc = NULL;
  char err[512];
  uint8_t *out = NULL;
  CHECK_EQ(pp_decode(cur, clen, NULL, &pc, err, sizeof err), PP_OK);
  if (base) CHECK_EQ(pp_decode(base, blen, NULL, &pb, err, sizeof err), PP_OK);
  int rc = base ? pp_export_diff(pb, pc, o, &out, len, err, sizeof err) : pp_export_tree(pc, o, &out, len, err, sizeof err);
  CHECK_EQ(rc, PP_OK);
  pp_free(pb);
  pp_free(pc);
  return (char *)out;
}

static int same(const view_out *o, const char *want, size_t wlen) {
  return o->json && o->len == wlen && memcmp(o->json, want, wlen) == 0;
}

/* ---- a range reader for the tests ---- */

typedef struct fake_range {
  const uint8_t *data;
  size_t len;
  const char *identity;
  int calls;
  int64_t from, to;
  int fail;
} fake_range;

static int read_range(void *ctx, const char *app, layout_kind kind, int64_t from_ns, int64_t to_ns, uint8_t **data,
                      size_t *len, char *identity, size_t idlen, char *err, size_t errlen) {
  fake_range *f = ctx;
  (void)app;
  (void)kind;
  __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
  f->from = from_ns;
  f->to = to_ns;
  if (f->fail) {
    snprintf(err, errlen, "nothing uploaded between those hours");
    return VIEW_ENOTFOUND;
  }
  *data = malloc(f->len);
  memcpy(*data, f->data, f->len);
  *len = f->len;
  snprintf(identity, idlen, "%s", f->identity);
  return 0;
}

/* ---- many readers at once ---- */

typedef struct job {
  pthread_t th;
  view *v;
  const char *want;
  size_t wlen;
  int bad;
} job;

static void *hammer(void *arg) {
  job *j = arg;
  for (int i = 0; i < 25; i++) {
    view_source src = {"app-one", LAYOUT_KIND_CPU, 0, 0};
    pp_export_opts o = {0};
    o.min_share = 0.001;
    view_out out;
    char err[512];
    if (view_tree(j->v, &src, &o, NULL, &out, err, sizeof err) != VIEW_OK || !same(&out, j->want, j->wlen)) j->bad++;
    free(out.json);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_view PROFILES WORKDIR\n");
    return 2;
  }
  PROFILES = argv[1];
  char url[1200], err[1024];
  snprintf(url, sizeof url, "file://%s/data", argv[2]);
  if (blob_open(url, &store, err, sizeof err) != BLOB_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  size_t l_json, l_flate, l_heap, l_heap2;
  uint8_t *json_cpu = load("cpu/encoding_json.pb.gz", &l_json);
  uint8_t *flate_cpu = load("cpu/compress_flate.pb.gz", &l_flate);
  uint8_t *heap = load("heap/encoding_json.pb.gz", &l_heap);
  uint8_t *heap2 = load("heap/compress_flate.pb.gz", &l_heap2);

  /* the store: two apps, kinds, hour buckets, and keys that are none of those */
  put("app-one/default.pgo", json_cpu, l_json);
  put("app-one/kinds/heap.pgo", heap, l_heap);
  put("app-one/hours/cpu/2026120509.pgo", flate_cpu, l_flate);
  put("app-one/hours/cpu/2026120511.pgo", flate_cpu, l_flate);
  put("app-one/staging/1-abcdef01", flate_cpu, l_flate);
  put("app-one/rejected/1-abcdef02", flate_cpu, l_flate);
  put("app-two/default.pgo", flate_cpu, l_flate);
  put("app-three/hours/heap/2026120500.pgo", heap2, l_heap2);
  put("Bad_App/default.pgo", flate_cpu, l_flate);
  put("app-four/kinds/nokind.pgo", flate_cpu, l_flate);
  put("app-four/notes.txt", (const uint8_t *)"x", 1);

  view_config vc = {0};
  vc.blob = store;
  view *v = NULL;
  CHECK_EQ(view_new(&vc, &v), VIEW_OK);
  CHECK_EQ(view_has_ranges(v), 0);

  /* ---- apps ---- */
  view_app *apps = NULL;
  size_t n = 0;
  CHECK_EQ(view_list_apps(v, &apps, &n, err, sizeof err), VIEW_OK);
  CHECK_EQ(n, 3);
  if (n == 3) {
    CHECK_STR(apps[0].app, "app-one");
    CHECK_EQ(apps[0].nkinds, 2);
    CHECK_EQ(apps[0].kinds[0].kind, LAYOUT_KIND_CPU);
    CHECK_EQ(apps[0].kinds[0].has_base, 1);
    CHECK_EQ(apps[0].kinds[0].size, l_json);
    CHECK(apps[0].kinds[0].mtime_ms > 0);
    CHECK_EQ(apps[0].kinds[0].hours, 2);
    int64_t h9, h11;
    layout_hour_parse("2026120509", &h9);
    layout_hour_parse("2026120511", &h11);
    CHECK_EQ(apps[0].kinds[0].first_hour, h9);
    CHECK_EQ(apps[0].kinds[0].last_hour, h11);
    CHECK_EQ(apps[0].kinds[1].kind, LAYOUT_KIND_HEAP);
    CHECK_EQ(apps[0].kinds[1].has_base, 1);
    CHECK_EQ(apps[0].kinds[1].hours, 0);
    CHECK_EQ(apps[0].kinds[1].first_hour, -1);
    CHECK_STR(apps[1].app, "app-three");
    CHECK_EQ(apps[1].nkinds, 1);
    CHECK_EQ(apps[1].kinds[0].kind, LAYOUT_KIND_HEAP);
    CHECK_EQ(apps[1].kinds[0].has_base, 0);
    CHECK_EQ(apps[1].kinds[0].hours, 1);
    CHECK_STR(apps[2].app, "app-two");
    CHECK_EQ(apps[2].nkinds, 1);
  }
  free(apps);
  CHECK_EQ(view_format_fits("pprof", LAYOUT_KIND_HEAP), 1);
  CHECK_EQ(view_format_fits("folded", LAYOUT_KIND_MUTEX), 1);
  CHECK_EQ(view_format_fits("speedscope", LAYOUT_KIND_GOROUTINE), 1);
  CHECK_EQ(view_format_fits("chrome", LAYOUT_KIND_CPU), 1);
  CHECK_EQ(view_format_fits("chrome", LAYOUT_KIND_HEAP), 0);
  CHECK_EQ(view_format_fits("pgo", LAYOUT_KIND_HEAP), 0);
  CHECK_EQ(view_format_fits("preprofile", LAYOUT_KIND_BLOCK), 0);

  /* ---- a tree: lib/pprof's, then from the cache ---- */
  pp_export_opts o = {0};
  o.min_share = 0.001;
  size_t wlen;
  char *want = expected(NULL, 0, json_cpu, l_json, &o, &wlen);
  view_source one = {"app-one", LAYOUT_KIND_CPU, 0, 0};
  view_out out;
  CHECK_EQ(view_tree(v, &one, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "tree JSON differs from pp_export_tree's");
  CHECK(out.etag[0] == '"' && strncmp(out.etag, "\"t-", 3) == 0, "etag %s", out.etag);
  char etag1[48];
  snprintf(etag1, sizeof etag1, "%s", out.etag);
  free(out.json);
  size_t entries;
  uint64_t hits, misses;
  view_cache_stats(v, &entries, NULL, &hits, &misses);
  CHECK_EQ(entries, 1);
  CHECK_EQ(hits, 0);
  CHECK_EQ(view_tree(v, &one, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen));
  CHECK_STR(out.etag, etag1);
  free(out.json);
  view_cache_stats(v, &entries, NULL, &hits, &misses);
  CHECK_EQ(hits, 1);
  free(want);

  /* If-None-Match: the same ETag (also weak, in a list, or *) is not sent again */
  char inm[160];
  CHECK_EQ(view_tree(v, &one, &o, etag1, &out, err, sizeof err), VIEW_NOT_MODIFIED);
  CHECK(out.json == NULL);
  CHECK_STR(out.etag, etag1);
  snprintf(inm, sizeof inm, "\"other\", W/%s", etag1);
  CHECK_EQ(view_tree(v, &one, &o, inm, &out, err, sizeof err), VIEW_NOT_MODIFIED);
  CHECK_EQ(view_tree(v, &one, &o, "*", &out, err, sizeof err), VIEW_NOT_MODIFIED);
  CHECK_EQ(view_tree(v, &one, &o, "\"t-0000\"", &out, err, sizeof err), VIEW_OK);
  free(out.json);

  /* other options: another entry, another ETag */
  pp_export_opts o2 = o;
  o2.min_share = 0;
  o2.sample_type = "cpu";
  o2.max_top = 5;
  want = expected(NULL, 0, json_cpu, l_json, &o2, &wlen);
  CHECK_EQ(view_tree(v, &one, &o2, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "tree JSON (cpu, min_share 0, max_top 5) differs");
  CHECK(strcmp(out.etag, etag1) != 0);
  free(out.json);
  free(want);

  /* a new base: a new ETag and the new tree, never the cached one */
  put("app-one/default.pgo", flate_cpu, l_flate);
  want = expected(NULL, 0, flate_cpu, l_flate, &o, &wlen);
  CHECK_EQ(view_tree(v, &one, &o, etag1, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "the tree of the replaced base is stale");
  CHECK(strcmp(out.etag, etag1) != 0);
  free(out.json);
  free(want);

  /* kinds */
  view_source heapsrc = {"app-one", LAYOUT_KIND_HEAP, 0, 0};
  pp_export_opts oh = {0};
  oh.sample_type = "alloc_space";
  want = expected(NULL, 0, heap, l_heap, &oh, &wlen);
  CHECK_EQ(view_tree(v, &heapsrc, &oh, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "heap tree differs");
  CHECK_CONTAINS(out.json ? (const char *)out.json : NULL, "\"unit\":\"bytes\"");
  free(out.json);
  free(want);

  /* ---- diff ---- */
  view_source two = {"app-two", LAYOUT_KIND_CPU, 0, 0};
  put("app-one/default.pgo", json_cpu, l_json);
  want = expected(flate_cpu, l_flate, json_cpu, l_json, &o, &wlen);
  CHECK_EQ(view_diff(v, &two, &one, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "diff JSON differs from pp_export_diff's");
  char detag[48];
  snprintf(detag, sizeof detag, "%s", out.etag);
  free(out.json);
  CHECK_EQ(view_diff(v, &two, &one, &o, detag, &out, err, sizeof err), VIEW_NOT_MODIFIED);
  CHECK_EQ(view_diff(v, &one, &two, &o, detag, &out, err, sizeof err), VIEW_OK); /* the other way round */
  CHECK(strcmp(out.etag, detag) != 0);
  free(out.json);
  free(want);
  CHECK_RC(view_diff(v, &heapsrc, &one, &o, NULL, &out, err, sizeof err), VIEW_EINCOMPATIBLE, err, "");
  CHECK(out.json == NULL);

  /* ---- errors ---- */
  view_source none = {"app-nine", LAYOUT_KIND_CPU, 0, 0};
  CHECK_RC(view_tree(v, &none, &o, NULL, &out, err, sizeof err), VIEW_ENOTFOUND, err, "no cpu profile for app app-nine");
  view_source nomutex = {"app-one", LAYOUT_KIND_MUTEX, 0, 0};
  CHECK_RC(view_tree(v, &nomutex, &o, NULL, &out, err, sizeof err), VIEW_ENOTFOUND, err, "no mutex profile");
  view_source bad = {"Bad_App", LAYOUT_KIND_CPU, 0, 0};
  CHECK_RC(view_tree(v, &bad, &o, NULL, &out, err, sizeof err), VIEW_EINVAL, err, "invalid app name");
  view_source badkind = {"app-one", (layout_kind)42, 0, 0};
  CHECK_RC(view_tree(v, &badkind, &o, NULL, &out, err, sizeof err), VIEW_EINVAL, err, "kind");
  pp_export_opts ob = o;
  ob.sample_type = "nonesuch";
  CHECK_RC(view_tree(v, &one, &ob, NULL, &out, err, sizeof err), VIEW_EINVAL, err, "nonesuch");
  ob = o;
  ob.min_share = 1.5;
  CHECK_RC(view_tree(v, &one, &ob, NULL, &out, err, sizeof err), VIEW_EINVAL, err, "min_share");
  put("app-five/default.pgo", (const uint8_t *)"not a profile", 13);
  view_source five = {"app-five", LAYOUT_KIND_CPU, 0, 0};
  CHECK_RC(view_tree(v, &five, &o, NULL, &out, err, sizeof err), VIEW_EPROFILE, err, "app-five/default.pgo");
  CHECK_EQ(view_http_status(VIEW_EPROFILE), 500);
  CHECK_EQ(view_http_status(VIEW_ENORANGE), 400);
  CHECK_EQ(view_http_status(VIEW_ESTORE), 503);
  CHECK_EQ(view_http_status(VIEW_NOT_MODIFIED), 304);

  /* ---- time ranges ---- */
  int64_t h10;
  layout_hour_parse("2026120510", &h10);
  view_source ranged = {"app-one", LAYOUT_KIND_CPU, h10 * 3600000000000LL, (h10 + 2) * 3600000000000LL};
  CHECK_RC(view_tree(v, &ranged, &o, NULL, &out, err, sizeof err), VIEW_ENORANGE, err, "not served");
  view_source backwards = ranged;
  backwards.from_ns = ranged.to_ns;
  CHECK_RC(view_tree(v, &backwards, &o, NULL, &out, err, sizeof err), VIEW_EINVAL, err, "empty time range");
  view_free(v);

  fake_range fr = {flate_cpu, l_flate, "etag-a", 0, 0, 0, 0};
  vc.range = read_range;
  vc.range_ctx = &fr;
  CHECK_EQ(view_new(&vc, &v), VIEW_OK);
  CHECK_EQ(view_has_ranges(v), 1);
  want = expected(NULL, 0, flate_cpu, l_flate, &o, &wlen);
  CHECK_EQ(view_tree(v, &ranged, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "range tree differs");
  CHECK_EQ(fr.from, ranged.from_ns);
  CHECK_EQ(fr.to, ranged.to_ns);
  char retag[48];
  snprintf(retag, sizeof retag, "%s", out.etag);
  free(out.json);
  CHECK_EQ(view_tree(v, &ranged, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK_STR(out.etag, retag);
  free(out.json);
  view_cache_stats(v, &entries, NULL, &hits, NULL);
  CHECK_EQ(hits, 1);
  CHECK_EQ(fr.calls, 2);
  fr.identity = "etag-b"; /* what the range is made of changed */
  CHECK_EQ(view_tree(v, &ranged, &o, retag, &out, err, sizeof err), VIEW_OK);
  CHECK(strcmp(out.etag, retag) != 0);
  free(out.json);
  fr.identity = ""; /* not cacheable: no ETag, never from the cache */
  CHECK_EQ(view_tree(v, &ranged, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK_STR(out.etag, "");
  CHECK(same(&out, want, wlen));
  free(out.json);
  free(want);
  /* a range against the base (two ranges of one app work the same way) */
  fr.identity = "etag-c";
  want = expected(json_cpu, l_json, flate_cpu, l_flate, &o, &wlen);
  CHECK_EQ(view_diff(v, &one, &ranged, &o, NULL, &out, err, sizeof err), VIEW_OK);
  CHECK(same(&out, want, wlen), "diff of a range against the base differs");
  free(out.json);
  free(want);
  fr.fail = 1;
  CHECK_RC(view_tree(v, &ranged, &o, NULL, &out, err, sizeof err), VIEW_ENOTFOUND, err, "nothing uploaded");
  view_free(v);

  /* ---- eviction: the cache stays under its bound ---- */
  /* The bound holds a few trees of this profile (real profiles differ in
   * size from run to run): measure one first. */
  vc.range = NULL;
  vc.cache_bytes = 0;
  CHECK_EQ(view_new(&vc, &v), VIEW_OK);
  CHECK_EQ(view_tree(v, &one, &o, NULL, &out, err, sizeof err), VIEW_OK);
  size_t one_tree = out.len;
  free(out.json);
  view_free(v);
  vc.cache_bytes = 2 * one_tree + 4096;
  CHECK_EQ(view_new(&vc, &v), VIEW_OK);
  size_t bytes;
  for (int i = 0; i < 40; i++) {
    pp_export_opts oi = o;
    oi.min_share = 0.0001 * i;
    CHECK_EQ(view_tree(v, &one, &oi, NULL, &out, err, sizeof err), VIEW_OK);
    free(out.json);
    view_cache_stats(v, &entries, &bytes, NULL, NULL);
    CHECK(bytes <= vc.cache_bytes, "cache holds %zu bytes over its bound", bytes);
  }
  CHECK(entries >= 1 && entries < 40, "entries %zu", entries);
  view_free(v);

  /* ---- many threads at once ---- */
  vc.cache_bytes = 0;
  CHECK_EQ(view_new(&vc, &v), VIEW_OK);
  want = expected(NULL, 0, json_cpu, l_json, &o, &wlen);
  job jobs[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (job){.v = v, .want = want, .wlen = wlen};
    pthread_create(&jobs[i].th, NULL, hammer, &jobs[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(jobs[i].th, NULL);
    CHECK_EQ(jobs[i].bad, 0);
  }
  free(want);
  view_free(v);

  free(json_cpu);
  free(flate_cpu);
  free(heap);
  free(heap2);
  blob_close(store);
  return check_exit("test_view");
}
