/*
 * test_reads.c — the read rules of lib/pipeline (reads.h) without HTTP:
 * parameters and their refusals, ETags, file names, Accept-Encoding and
 * If-None-Match parsing, the output cache (LRU by bytes, superseded
 * versions, single-flight fills, shared failures, outputs too large to
 * keep, no key), and reads_serve on the file store with the server tests'
 * real Go profiles (Go 1.19: no start lines, so preprofile is refused).
 *   test_reads PROFILES WORKDIR
 */
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

#include "blob.h"
#include "reads.h"

#include "../common/proc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *PROFILES;

/* ---- parameters ---- */

static int parse(const char *app, const char *kind, const char *format, const char *keep, reads_request *rq,
                 char *err, size_t n) {
  reads_params p = {kind, format, keep, NULL, NULL};
  return reads_parse(app, &p, rq, err, n);
}

static void test_parse(void) {
  reads_request rq;
  char err[512];
  CHECK_EQ(reads_parse("demo", NULL, &rq, err, sizeof err), 0);
  CHECK_STR(rq.format->name, "pprof");
  CHECK_EQ(rq.source.kind, LAYOUT_KIND_CPU);
  CHECK_EQ(rq.source.type, READS_SOURCE_BASE);
  CHECK_STR(rq.source.key, "demo/default.pgo");
  CHECK_STR(rq.source.app, "demo");
  CHECK_EQ(rq.keep, 0);

  CHECK_EQ(parse("demo", "heap", "folded", NULL, &rq, err, sizeof err), 0);
  CHECK_STR(rq.source.key, "demo/kinds/heap.pgo");
  CHECK_STR(rq.format->name, "folded");
  CHECK_EQ(parse("demo", "allocs", NULL, NULL, &rq, err, sizeof err), 0);
  CHECK_EQ(rq.source.kind, LAYOUT_KIND_HEAP);
  CHECK_EQ(parse("demo", "cpu", "pgo", NULL, &rq, err, sizeof err), 0);
  CHECK_EQ(rq.keep, 2);
  CHECK_EQ(parse("demo", NULL, "pgo", "0", &rq, err, sizeof err), 0);
  CHECK_EQ(rq.keep, 0);
  CHECK_EQ(parse("demo", NULL, "pgo", "7", &rq, err, sizeof err), 0);
  CHECK_EQ(rq.keep, 7);
  for (size_t i = 0; i < pp_export_format_count(); i++)
    CHECK_EQ(parse("demo", NULL, pp_export_format_at(i)->name, NULL, &rq, err, sizeof err), 0);

  /* a time range: its own source type and cache name */
  reads_params rp = {"heap", "folded", NULL, "2026-11-21T10:59:59Z", "1795273200"};
  CHECK_EQ(reads_parse("demo", &rp, &rq, err, sizeof err), 0);
  CHECK_EQ(rq.source.type, READS_SOURCE_RANGE);
  CHECK_EQ(rq.source.kind, LAYOUT_KIND_HEAP);
  CHECK_EQ(rq.source.to_hour - rq.source.from_hour, 5);
  CHECK_STR(rq.source.key, "demo/hours/heap/2026112110-2026112115");
  char fn[128];
  CHECK_EQ(reads_filename(&rq, fn, sizeof fn), 0);
  CHECK_STR(fn, "demo-heap.folded");
  struct {
    const char *from, *to, *says;
  } badr[] = {{"1795273200", NULL, "both"},           {NULL, "1795273200", "both"},
              {"soon", "1795273200", "bad from"},     {"1795273200", "x", "bad to"},
              {"1795273200", "1795273200", "before"}, {"1795273200", "1795274000", "rounded down"}};
  for (size_t i = 0; i < sizeof badr / sizeof badr[0]; i++) {
    reads_params b = {NULL, NULL, NULL, badr[i].from, badr[i].to};
    err[0] = '\0';
    CHECK_EQ(reads_parse("demo", &b, &rq, err, sizeof err), -1);
    CHECK(strstr(err, badr[i].says) != NULL, "range case %zu: %s", i, err);
  }

  struct {
    const char *app, *kind, *format, *keep, *says;
  } bad[] = {
      {"Bad_App", NULL, NULL, NULL, "invalid app name \"Bad_App\""},
      {"", NULL, NULL, NULL, "invalid app name"},
      {"demo", "bogus", NULL, NULL, "unknown kind \"bogus\": want one of cpu, heap, mutex, block, goroutine, threadcreate"},
      {"demo", "", NULL, NULL, "unknown kind \"\""},
      {"demo", "CPU", NULL, NULL, "unknown kind"},
      {"demo", NULL, "bogus", NULL, "unknown format \"bogus\": want one of pprof, folded, speedscope, chrome, pgo, preprofile"},
      {"demo", NULL, "", NULL, "unknown format \"\""},
      {"demo", NULL, "tree", NULL, "unknown format"},
      {"demo", NULL, "pgo", "1", "keep: "},
      {"demo", NULL, "pgo", "", "keep: "},
      {"demo", NULL, "pgo", "-1", "keep: "},
      {"demo", NULL, "pgo", "2x", "keep: "},
      {"demo", NULL, "pgo", "1000001", "keep: "},
      {"demo", NULL, NULL, "2", "keep applies to format=pgo only, not format=pprof"},
      {"demo", NULL, "preprofile", "0", "keep applies to format=pgo only, not format=preprofile"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECK_EQ(parse(bad[i].app, bad[i].kind, bad[i].format, bad[i].keep, &rq, err, sizeof err), -1);
    CHECK(strstr(err, bad[i].says) != NULL, "case %zu: %s", i, err);
  }
}

/* ---- representation ---- */

static void test_representation(void) {
  reads_request rq;
  char err[256], buf[200];
  struct {
    const char *kind, *format, *keep, *etag, *name;
  } c[] = {
      {NULL, NULL, NULL, "\"abc\"", "default.pgo"},
      {NULL, "pgo", NULL, "W/\"abc-pgo-keep2\"", "default.pgo"},
      {NULL, "pgo", "0", "W/\"abc-pgo-keep0\"", "default.pgo"},
      {NULL, "preprofile", NULL, "W/\"abc-preprofile\"", "default.preprofile"},
      {NULL, "folded", NULL, "W/\"abc-folded\"", "demo.folded"},
      {NULL, "speedscope", NULL, "W/\"abc-speedscope\"", "demo.speedscope.json"},
      {NULL, "chrome", NULL, "W/\"abc-chrome\"", "demo.cpuprofile"},
      {"heap", NULL, NULL, "\"abc\"", "demo-heap.pb.gz"},
      {"heap", "folded", NULL, "W/\"abc-folded\"", "demo-heap.folded"},
      {"mutex", "pgo", NULL, "W/\"abc-pgo-keep2\"", "demo-mutex.pgo"},
      {"block", "preprofile", NULL, "W/\"abc-preprofile\"", "demo-block.preprofile"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    CHECK_EQ(parse("demo", c[i].kind, c[i].format, c[i].keep, &rq, err, sizeof err), 0);
    CHECK_EQ(reads_etag(&rq, "\"abc\"", buf, sizeof buf), 0);
    CHECK_STR(buf, c[i].etag);
    CHECK_EQ(reads_filename(&rq, buf, sizeof buf), 0);
    CHECK_STR(buf, c[i].name);
  }
  CHECK_EQ(parse("demo", NULL, "pgo", NULL, &rq, err, sizeof err), 0);
  CHECK_EQ(reads_etag(&rq, "", buf, sizeof buf), 0);
  CHECK_STR(buf, "");
  CHECK_EQ(reads_etag(&rq, "W/\"abc\"", buf, sizeof buf), 0); /* a weak source tag */
  CHECK_STR(buf, "W/\"abc-pgo-keep2\"");
  CHECK_EQ(reads_etag(&rq, "\"abc\"", buf, 8), -1);
  CHECK_EQ(reads_filename(&rq, buf, 4), -1);

  CHECK(!reads_compressible(pp_export_format_find("pprof")));
  CHECK(!reads_compressible(pp_export_format_find("pgo")));
  CHECK(reads_compressible(pp_export_format_find("preprofile")));
  CHECK(reads_compressible(pp_export_format_find("folded")));
  CHECK(reads_compressible(pp_export_format_find("speedscope")));
  CHECK(reads_compressible(pp_export_format_find("chrome")));

  const char *yes[] = {"gzip", "GZIP", "deflate, gzip", "gzip;q=0.5", "gzip ; q=1", "br;q=1.0, gzip;q=0.001",
                       "*", "*;q=0.1", "x-gzip", "identity, *"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) CHECK(reads_accepts_gzip(yes[i]), "%s", yes[i]);
  const char *no[] = {"",        "identity",   "gzip;q=0", "gzip;q=0.000", "deflate, br", "*;q=0",
                      "*, gzip;q=0", "gzipx", "x-gzip;q=0"};
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) CHECK(!reads_accepts_gzip(no[i]), "%s", no[i]);
  CHECK(!reads_accepts_gzip(NULL));

  CHECK(reads_etag_matches("\"abc\"", "\"abc\""));
  CHECK(reads_etag_matches("W/\"abc\"", "\"abc\""));
  CHECK(reads_etag_matches("\"abc-pgo-keep2\"", "W/\"abc-pgo-keep2\""));
  CHECK(reads_etag_matches("\"x\", W/\"abc\" , \"y\"", "\"abc\""));
  CHECK(reads_etag_matches("*", "W/\"abc\""));
  CHECK(!reads_etag_matches("\"abcd\"", "\"abc\""));
  CHECK(!reads_etag_matches("\"ab\"", "\"abc\""));
  CHECK(!reads_etag_matches("\"abc", "\"abc\"")); /* unterminated */
  CHECK(!reads_etag_matches("\"abc\"", ""));
  CHECK(!reads_etag_matches(NULL, "\"abc\""));
  CHECK(!reads_etag_matches("", "\"abc\""));
}

/* ---- the cache ---- */

typedef struct fillspec {
  size_t len;
  int rc;             /* what the fill returns */
  const char *etag;   /* the version it reports */
  int64_t mtime;
  int sleep_ms;       /* how long it takes */
  int calls;          /* incremented per call (atomic) */
} fillspec;

static int fill(void *ctx, uint8_t **data, size_t *len, blob_info *v, char *err, size_t errlen) {
  fillspec *f = ctx;
  __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
  if (f->sleep_ms) t_sleep_ms(f->sleep_ms);
  if (f->rc) {
    snprintf(err, errlen, "fill failed with %d", f->rc);
    return f->rc;
  }
  *data = malloc(f->len ? f->len : 1);
  memset(*data, 'x', f->len);
  *len = f->len;
  memset(v, 0, sizeof *v);
  snprintf(v->etag, sizeof v->etag, "%s", f->etag ? f->etag : "\"v\"");
  v->mtime_ms = f->mtime;
  return 0;
}

static int get(reads_cache *c, const char *key, const char *group, fillspec *f, reads_cache_outcome *oc) {
  const reads_item *it = NULL;
  char err[128];
  int rc = reads_cache_get(c, key, group, fill, f, &it, oc, err, sizeof err);
  if (rc == 0) {
    CHECK(it != NULL && it->len == f->len);
    reads_cache_release(c, it);
  }
  return rc;
}

static void test_cache_lru(void) {
  /* room for two 1000-byte outputs with their keys, not three */
  reads_cache *c = reads_cache_new(2600, NULL);
  reads_cache_stats st;
  reads_cache_outcome oc;
  fillspec a = {.len = 1000}, b = {.len = 1000}, d = {.len = 1000};
  CHECK_EQ(get(c, "a", "g1", &a, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_MISS);
  CHECK_EQ(get(c, "a", "g1", &a, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_HIT);
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(get(c, "b", "g2", &b, &oc), 0);
  CHECK_EQ(get(c, "a", "g1", &a, &oc), 0); /* a is now the most recently used */
  CHECK_EQ(get(c, "d", "g3", &d, &oc), 0); /* evicts b */
  reads_cache_stats_get(c, &st);
  CHECK_EQ(st.evictions, 1);
  CHECK_EQ(st.entries, 2);
  CHECK(st.bytes <= 2600 && st.bytes >= 2000);
  CHECK_EQ(get(c, "a", "g1", &a, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_HIT);
  CHECK_EQ(get(c, "b", "g2", &b, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_MISS);
  CHECK_EQ(b.calls, 2);
  CHECK_EQ(a.calls, 1);

  /* too large to keep: returned, not kept */
  fillspec big = {.len = 5000};
  CHECK_EQ(get(c, "big", "g4", &big, &oc), 0);
  CHECK_EQ(get(c, "big", "g4", &big, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_MISS);
  CHECK_EQ(big.calls, 2);
  reads_cache_stats_get(c, &st);
  CHECK_EQ(st.entries, 2);

  /* no key: never kept */
  fillspec nk = {.len = 10};
  CHECK_EQ(get(c, NULL, "g5", &nk, &oc), 0);
  CHECK_EQ(get(c, NULL, "g5", &nk, &oc), 0);
  CHECK_EQ(nk.calls, 2);

  /* a reference outlives its eviction */
  const reads_item *held = NULL;
  char err[128];
  fillspec h = {.len = 1000};
  CHECK_EQ(reads_cache_get(c, "held", "g6", fill, &h, &held, NULL, err, sizeof err), 0);
  CHECK_EQ(get(c, "e1", "g7", &(fillspec){.len = 1000}, &oc), 0);
  CHECK_EQ(get(c, "e2", "g8", &(fillspec){.len = 1000}, &oc), 0); /* held is evicted by now */
  CHECK(held->len == 1000 && held->data[999] == 'x');
  reads_cache_release(c, held);
  reads_cache_free(c);

  /* a zero bound keeps nothing */
  c = reads_cache_new(0, NULL);
  fillspec z = {.len = 0};
  CHECK_EQ(get(c, "z", "g", &z, &oc), 0);
  CHECK_EQ(get(c, "z", "g", &z, &oc), 0);
  CHECK_EQ(z.calls, 2);
  reads_cache_stats_get(c, &st);
  CHECK_EQ(st.entries, 0);
  reads_cache_free(c);
}

static void test_cache_superseded(void) {
  svc_metrics *m = svc_metrics_new();
  reads_cache *c = reads_cache_new(1 << 20, m);
  reads_cache_outcome oc;
  fillspec v1a = {.len = 10, .etag = "\"v1\"", .mtime = 1000}, v1b = {.len = 20, .etag = "\"v1\"", .mtime = 1000};
  fillspec other = {.len = 10, .etag = "\"o\"", .mtime = 5};
  CHECK_EQ(get(c, "src\nv1\npgo", "src", &v1a, &oc), 0);
  CHECK_EQ(get(c, "src\nv1\nfolded", "src", &v1b, &oc), 0);
  CHECK_EQ(get(c, "other\no\npgo", "other", &other, &oc), 0);
  /* an older version stored late does not drop the newer ones */
  fillspec v0 = {.len = 10, .etag = "\"v0\"", .mtime = 500};
  CHECK_EQ(get(c, "src\nv0\npgo", "src", &v0, &oc), 0);
  reads_cache_stats st;
  reads_cache_stats_get(c, &st);
  CHECK_EQ(st.superseded, 0);
  CHECK_EQ(st.entries, 4);
  /* a newer version drops every output of the older ones, of that source only */
  fillspec v2 = {.len = 10, .etag = "\"v2\"", .mtime = 2000};
  CHECK_EQ(get(c, "src\nv2\npgo", "src", &v2, &oc), 0);
  reads_cache_stats_get(c, &st);
  CHECK_EQ(st.superseded, 3);
  CHECK_EQ(st.entries, 2);
  CHECK_EQ(get(c, "other\no\npgo", "other", &other, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_HIT);
  CHECK_EQ(get(c, "src\nv1\npgo", "src", &v1a, &oc), 0);
  CHECK_EQ(oc, READS_CACHE_MISS);
  char *text = svc_metrics_render(m);
  CHECK_CONTAINS(text, "pgopipe_read_cache_evictions_total{reason=\"superseded\"} 3");
  CHECK_CONTAINS(text, "pgopipe_read_cache_entries 3");
  free(text);
  reads_cache_free(c);
  /* the metric names are taken: a second cache on the same registry is refused */
  CHECK(reads_cache_new(100, m) == NULL);
  svc_metrics_free(m);
}

typedef struct racer {
  reads_cache *c;
  fillspec *f;
  int rc;
  reads_cache_outcome oc;
  size_t len;
  pthread_t th;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  const reads_item *it = NULL;
  char err[128];
  r->rc = reads_cache_get(r->c, "k", "g", fill, r->f, &it, &r->oc, err, sizeof err);
  if (r->rc == 0) {
    r->len = it->len;
    reads_cache_release(r->c, it);
  } else {
    CHECK_CONTAINS(err, "fill failed with 422");
  }
  return NULL;
}

static void test_cache_single_flight(void) {
  for (int failing = 0; failing < 2; failing++) {
    reads_cache *c = reads_cache_new(1 << 20, NULL);
    fillspec f = {.len = 100, .sleep_ms = 300, .rc = failing ? 422 : 0};
    enum { N = 8 };
    racer rs[N];
    for (int i = 0; i < N; i++) {
      rs[i].c = c;
      rs[i].f = &f;
      pthread_create(&rs[i].th, NULL, race, &rs[i]);
      if (i == 0) t_sleep_ms(50); /* the first one is filling when the others come */
    }
    int miss = 0, shared = 0;
    for (int i = 0; i < N; i++) {
      pthread_join(rs[i].th, NULL);
      CHECK_EQ(rs[i].rc, failing ? 422 : 0);
      if (!failing) CHECK_EQ(rs[i].len, 100);
      miss += rs[i].oc == READS_CACHE_MISS;
      shared += rs[i].oc == READS_CACHE_SHARED;
    }
    CHECK_EQ(f.calls, 1);
    CHECK_EQ(miss, 1);
    CHECK_EQ(shared, N - 1);
    /* a failure is not kept: the next caller fills again */
    reads_cache_outcome oc;
    f.sleep_ms = 0;
    CHECK_EQ(get(c, "k", "g", &f, &oc), failing ? 422 : 0);
    CHECK_EQ(oc, failing ? READS_CACHE_MISS : READS_CACHE_HIT);
    CHECK_EQ(f.calls, failing ? 2 : 1);
    reads_cache_stats st;
    reads_cache_stats_get(c, &st);
    CHECK_EQ(st.fills_failed, failing ? 2 : 0);
    reads_cache_free(c);
  }
}

/* ---- serving from the file store ---- */

static void serve(reads *r, const char *app, const char *kind, const char *format, const char *inm, const char *ae,
                  reads_answer *a) {
  reads_request rq;
  char err[256];
  CHECK_EQ(parse(app, kind, format, NULL, &rq, err, sizeof err), 0);
  reads_serve(r, &rq, inm, ae, a);
}

static void test_serve(const char *workdir) {
  char url[1200], err[512], p[1200];
  snprintf(url, sizeof url, "file://%s/store", workdir);
  blob_store *bs;
  CHECK_EQ(blob_open(url, &bs, err, sizeof err), 0);
  size_t cpu_len, heap_len;
  snprintf(p, sizeof p, "%s/cpu.pprof", PROFILES);
  uint8_t *cpu = t_read_file(p, &cpu_len);
  snprintf(p, sizeof p, "%s/heap.pprof", PROFILES);
  uint8_t *heap = t_read_file(p, &heap_len);
  if (!cpu || !heap) {
    CHECK(0, "profiles missing under %s", PROFILES);
    return;
  }
  CHECK_EQ(blob_put(bs, "demo/default.pgo", cpu, cpu_len, err, sizeof err), 0);
  CHECK_EQ(blob_put(bs, "demo/kinds/heap.pgo", heap, heap_len, err, sizeof err), 0);
  CHECK_EQ(blob_put(bs, "broken/default.pgo", "not a profile", 13, err, sizeof err), 0);
  svc_metrics *m = svc_metrics_new();
  reads_config cfg = {bs, 1 << 20, 1 << 20, m};
  reads *r;
  CHECK_EQ(reads_new(&cfg, &r, err, sizeof err), 0);
  reads_answer a;

  serve(r, "demo", NULL, NULL, NULL, NULL, &a);
  CHECK_EQ(a.status, 200);
  CHECK(a.len == cpu_len && memcmp(a.body, cpu, cpu_len) == 0);
  CHECK_STR(a.content_type, "application/octet-stream");
  CHECK(a.content_encoding == NULL);
  CHECK_EQ(a.vary_encoding, 0);
  CHECK_STR(a.filename, "default.pgo");
  CHECK(a.etag[0] == '"');
  CHECK(a.mtime_ms > 0);
  CHECK_EQ(a.cache, READS_CACHE_MISS);
  char etag[200];
  snprintf(etag, sizeof etag, "%s", a.etag);
  reads_answer_done(r, &a);
  serve(r, "demo", NULL, NULL, etag, NULL, &a);
  CHECK_EQ(a.status, 304);
  CHECK_STR(a.etag, etag);
  reads_answer_done(r, &a);

  serve(r, "demo", NULL, "pgo", NULL, "gzip", &a);
  CHECK_EQ(a.status, 200);
  CHECK(a.len > 2 && a.body[0] == 0x1f && a.body[1] == 0x8b); /* a gzipped profile, never re-encoded */
  CHECK(a.content_encoding == NULL);
  CHECK_EQ(a.cache, READS_CACHE_MISS);
  reads_answer_done(r, &a);
  serve(r, "demo", NULL, "pgo", NULL, NULL, &a);
  CHECK_EQ(a.cache, READS_CACHE_HIT);
  reads_answer_done(r, &a);

  serve(r, "demo", NULL, "folded", NULL, "gzip", &a);
  CHECK_EQ(a.status, 200);
  CHECK_STR(a.content_encoding, "gzip");
  CHECK_EQ(a.vary_encoding, 1);
  CHECK(a.body[0] == 0x1f && a.body[1] == 0x8b);
  reads_answer_done(r, &a);
  serve(r, "demo", NULL, "folded", NULL, NULL, &a);
  CHECK_EQ(a.cache, READS_CACHE_HIT); /* made on the way to the gzip form */
  CHECK(a.content_encoding == NULL);
  CHECK(memchr(a.body, ';', a.len) != NULL);
  reads_answer_done(r, &a);

  serve(r, "demo", NULL, "preprofile", NULL, NULL, &a);
  CHECK_EQ(a.status, 422);
  CHECK_CONTAINS(a.message, "the cpu profile of app demo cannot be written as format=preprofile");
  CHECK_CONTAINS(a.message, "Function.start_line");
  reads_answer_done(r, &a);
  serve(r, "demo", "heap", "chrome", NULL, NULL, &a);
  CHECK_EQ(a.status, 422);
  reads_answer_done(r, &a);
  serve(r, "demo", "heap", NULL, NULL, NULL, &a);
  CHECK_EQ(a.status, 200);
  CHECK(a.len == heap_len && memcmp(a.body, heap, heap_len) == 0);
  CHECK_STR(a.filename, "demo-heap.pb.gz");
  reads_answer_done(r, &a);
  serve(r, "demo", "goroutine", NULL, NULL, NULL, &a);
  CHECK_EQ(a.status, 404);
  CHECK_STR(a.message, "no goroutine profile for app demo yet");
  serve(r, "nosuch", NULL, "pgo", NULL, NULL, &a);
  CHECK_EQ(a.status, 404);
  CHECK_STR(a.message, "no merged profile for app nosuch yet");
  /* a base that does not decode: served as stored, not converted (500) */
  serve(r, "broken", NULL, NULL, NULL, NULL, &a);
  CHECK_EQ(a.status, 200);
  CHECK_EQ(a.len, 13);
  reads_answer_done(r, &a);
  serve(r, "broken", NULL, "folded", NULL, NULL, &a);
  CHECK_EQ(a.status, 500);
  CHECK_CONTAINS(a.message, "the cpu profile of app broken does not decode");
  reads_answer_done(r, &a);

  /* a new version: new ETag, new output */
  t_sleep_ms(20);
  CHECK_EQ(blob_put(bs, "demo/default.pgo", heap, heap_len, err, sizeof err), 0);
  serve(r, "demo", NULL, NULL, etag, NULL, &a);
  CHECK_EQ(a.status, 200);
  CHECK(strcmp(a.etag, etag) != 0);
  CHECK(a.len == heap_len && memcmp(a.body, heap, heap_len) == 0);
  reads_answer_done(r, &a);
  serve(r, "demo", NULL, "pgo", NULL, NULL, &a);
  CHECK_EQ(a.status, 422); /* the heap profile now stored as cpu: no sample type the compiler reads */
  reads_answer_done(r, &a);

  /* a base over the read limit */
  reads_free(r);
  reads_config small = {bs, 100, 1 << 20, NULL};
  CHECK_EQ(reads_new(&small, &r, err, sizeof err), 0);
  serve(r, "demo", NULL, "folded", NULL, NULL, &a);
  CHECK_EQ(a.status, 500);
  CHECK_STR(a.blob_op, "get");
  reads_answer_done(r, &a);
  reads_free(r);

  /* a store that does not answer: 503, the failed operation named */
  blob_store *down;
  setenv("AWS_ACCESS_KEY_ID", "k", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
  CHECK_EQ(blob_open("s3://bucket?endpoint=http://127.0.0.1:1&use_path_style=true&retries=0&connect_timeout=500ms",
                     &down, err, sizeof err),
           0);
  reads_config dc = {down, 0, 1 << 20, NULL};
  CHECK_EQ(reads_new(&dc, &r, err, sizeof err), 0);
  serve(r, "demo", NULL, "pgo", NULL, NULL, &a);
  CHECK_EQ(a.status, 503);
  CHECK_STR(a.blob_op, "stat");
  CHECK_CONTAINS(a.message, "reading the cpu profile of app demo");
  reads_free(r);
  blob_close(down);

  char *text = svc_metrics_render(m);
  CHECK_CONTAINS(text, "pgopipe_read_cache_hits_total{format=\"pgo\"} 1");
  CHECK_CONTAINS(text, "pgopipe_read_conversion_seconds_count{format=\"folded\",encoding=\"gzip\"} 1");
  free(text);
  svc_metrics_free(m);
  blob_close(bs);
  free(cpu);
  free(heap);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_reads PROFILES WORKDIR\n");
    return 2;
  }
  PROFILES = argv[1];
  test_parse();
  test_representation();
  test_cache_lru();
  test_cache_superseded();
  test_cache_single_flight();
  test_serve(argv[2]);
  return check_exit("pipeline.reads");
}
