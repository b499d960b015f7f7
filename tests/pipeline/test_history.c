/*
 * test_history.c — lib/pipeline's history.h without HTTP, on the file
 * store, with real Go profiles (tests/diff's corpus) written as the worker
 * writes them (tests/common/history_fixture.h):
 *   - time parameters: RFC 3339 or Unix seconds rounded down to the hour,
 *     profefe's layout, and what is refused;
 *   - hour buckets: the listing of a range, the span, the range's version
 *     (changes with a bucket's content, stays otherwise);
 *   - range merges: counter columns summed over the range, gauge columns
 *     the newest bucket's, equal to pprof's merge of the same parts; an
 *     empty range, a broken bucket;
 *   - kept uploads: the listing with kind, label (all pairs), time and
 *     limit filters, oldest first, an upload in staging and history at once
 *     listed once, the metadata cache; reads by id (history, staging,
 *     unknown, malformed), merges by ids; the services; the listing of
 *     apps with their spans (apps.c).
 *   test_history PROFILES WORKDIR
 */
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

#include "../common/history_fixture.h"
#include "apps.h"
#include "chrono.h"
#include "history.h"
#include "push.h"

static const char *PROFILES;
static blob_store *bs;

static uint8_t *load(const char *rel, size_t *len) { return t_read_fixture(PROFILES, rel, len); }

/* The sum of column c of a profile's samples. */
static int64_t total(const pp_profile *p, size_t c) { return pp_total(p, c); }

static void test_times(void) {
  char err[512];
  int64_t h, f, t, ns;
  CHECK_EQ(history_parse_hour("from", "2026-11-21T12:34:56Z", &h, err, sizeof err), 0);
  CHECK_EQ(h, chrono_days_from_civil(2026, 11, 21) * 24 + 12);
  CHECK_EQ(history_parse_hour("from", "2026-11-21T12:34:56+02:00", &h, err, sizeof err), 0);
  CHECK_EQ(h, chrono_days_from_civil(2026, 11, 21) * 24 + 10);
  CHECK_EQ(history_parse_hour("to", "3600", &h, err, sizeof err), 0);
  CHECK_EQ(h, 1);
  CHECK_EQ(history_parse_hour("to", "7199", &h, err, sizeof err), 0);
  CHECK_EQ(h, 1);
  CHECK_EQ(history_parse_hour("to", "0", &h, err, sizeof err), 0);
  CHECK_EQ(h, 0);
  const char *bad[] = {"", "-5", "12.5", "yesterday", "2026-13-01T00:00:00Z", "2026-11-21", "1e9",
                       "99999999999999", "2026-11-21T12:00:00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_RC(history_parse_hour("from", bad[i], &h, err, sizeof err), HISTORY_EINVAL, err, "bad from");
  CHECK_EQ(history_parse_range("2026-11-21T10:59:59Z", "2026-11-21T11:00:00Z", &f, &t, err, sizeof err), 0);
  CHECK_EQ(t - f, 1);
  CHECK_RC(history_parse_range("2026-11-21T10:00:00Z", "2026-11-21T10:59:00Z", &f, &t, err, sizeof err),
           HISTORY_EINVAL, err, "must be before");
  CHECK_RC(history_parse_range("7200", "3600", &f, &t, err, sizeof err), HISTORY_EINVAL, err, "must be before");
  CHECK_RC(history_parse_range("3600", NULL, &f, &t, err, sizeof err), HISTORY_EINVAL, err, "both");
  CHECK_RC(history_parse_range(NULL, "3600", &f, &t, err, sizeof err), HISTORY_EINVAL, err, "both");
  CHECK_RC(history_parse_range("x", "3600", &f, &t, err, sizeof err), HISTORY_EINVAL, err, "bad from");
  CHECK_RC(history_parse_range("0", "x", &f, &t, err, sizeof err), HISTORY_EINVAL, err, "bad to");
  CHECK_EQ(history_parse_profefe_time("from", "2019-05-01T18:45:00", &ns, err, sizeof err), 0);
  CHECK_EQ(ns, (chrono_days_from_civil(2019, 5, 1) * 86400 + 18 * 3600 + 45 * 60) * 1000000000LL);
  CHECK_EQ(history_parse_profefe_time("from", "2019-05-01T18:45:00.5", &ns, err, sizeof err), 0);
  CHECK_EQ(ns % 1000000000LL, 500000000);
  CHECK_EQ(history_parse_profefe_time("to", "2019-05-01T20:45:00+02:00", &ns, err, sizeof err), 0);
  CHECK_EQ(ns, (chrono_days_from_civil(2019, 5, 1) * 86400 + 18 * 3600 + 45 * 60) * 1000000000LL);
  CHECK_RC(history_parse_profefe_time("to", "2019-05-01 18:45", &ns, err, sizeof err), HISTORY_EINVAL, err,
           "bad \"to\" timestamp");
  CHECK_RC(history_parse_profefe_time("from", "1556736300", &ns, err, sizeof err), HISTORY_EINVAL, err, "from");
  CHECK_EQ(history_http_status(HISTORY_OK), 200);
  CHECK_EQ(history_http_status(HISTORY_EINVAL), 400);
  CHECK_EQ(history_http_status(HISTORY_ENOTFOUND), 404);
  CHECK_EQ(history_http_status(HISTORY_ESTORE), 503);
  CHECK_EQ(history_http_status(HISTORY_EINCOMPATIBLE), 422);
  CHECK_EQ(history_http_status(HISTORY_EPROFILE), 500);
}

/* Uploads of one app in several hours and their buckets. */
static hf_upload cpu_up[6], heap_up[5];
static int64_t H; /* the current hour */

static void make_uploads(void) {
  static const char *cpu_src[] = {"cpu/regexp.pb.gz", "cpu/sort.pb.gz", "cpu/strconv.pb.gz",
                                  "cpu/encoding_json.pb.gz", "cpu/math_big.pb.gz", "cpu/sync.pb.gz"};
  /* hours back from H: two in H-20, one each in H-8, H-3 (two), H-1 */
  static const int cpu_back[] = {20, 20, 8, 3, 3, 1};
  for (int i = 0; i < 6; i++) {
    size_t n;
    uint8_t *b = load(cpu_src[i], &n);
    int64_t t = (H - cpu_back[i]) * HF_HOUR_NS + (int64_t)(i + 1) * 60 * 1000000000LL;
    CHECK_EQ(hf_upload_make(b, n, LAYOUT_KIND_CPU, t, i % 2 == 0, "Web_API", i % 3 == 0 ? "region=eu,host=a" : "region=us",
                            (unsigned)i, &cpu_up[i]),
             0);
    free(b);
  }
  static const char *heap_src[] = {"heap/regexp.pb.gz", "heap/sort.pb.gz", "heap/encoding_json.pb.gz",
                                   "heap/strconv.pb.gz", "heap/compress_flate.pb.gz"};
  static const int heap_back[] = {10, 10, 5, 2, 2};
  for (int i = 0; i < 5; i++) {
    size_t n;
    uint8_t *b = load(heap_src[i], &n);
    int64_t t = (H - heap_back[i]) * HF_HOUR_NS + (int64_t)(i + 1) * 90 * 1000000000LL;
    CHECK_EQ(hf_upload_make(b, n, LAYOUT_KIND_HEAP, t, 0, "Web_API", i < 3 ? "region=eu" : "region=us,host=b",
                            100 + (unsigned)i, &heap_up[i]),
             0);
    free(b);
  }
}

/* Puts the buckets of ups (grouped by hour, in order) under app. */
static void put_buckets(const char *app, hf_upload *ups, size_t n) {
  size_t i = 0;
  while (i < n) {
    const hf_upload *grp[8];
    size_t g = 0;
    int64_t h = ups[i].hour;
    while (i < n && ups[i].hour == h && g < 8) grp[g++] = &ups[i++];
    CHECK_EQ(hf_put_bucket(bs, app, grp, g), 0);
  }
}

/* pp_merge of parts: the uploads' counter parts in [from, to) and the
 * newest in-range hour's last upload's gauge part. */
static pp_profile *expected_range(hf_upload *ups, size_t n, int64_t from, int64_t to) {
  pp_profile *in[16];
  size_t k = 0;
  const hf_upload *last = NULL;
  for (size_t i = 0; i < n; i++) {
    if (ups[i].hour < from || ups[i].hour >= to) continue;
    pp_profile *p = hf_decode(&ups[i]);
    if (hf_has_gauges(ups[i].kind)) hf_scale(p, ups[i].kind, 1, 0);
    in[k++] = p;
    if (!last || ups[i].hour >= last->hour) last = &ups[i];
  }
  if (last && hf_has_gauges(last->kind)) {
    pp_profile *g = hf_decode(last);
    hf_scale(g, last->kind, 0, 1);
    in[k++] = g;
  }
  pp_profile *out = NULL;
  char err[256];
  CHECK_EQ(pp_merge(in, k, &out, err, sizeof err), PP_OK);
  return out;
}

static void check_same(const pp_profile *got, const pp_profile *want, const char *what) {
  CHECK(got && want, "%s", what);
  if (!got || !want) return;
  CHECK_EQ(pp_sample_type_count(got), pp_sample_type_count(want));
  for (size_t c = 0; c < pp_sample_type_count(want) && c < pp_sample_type_count(got); c++)
    CHECK(total(got, c) == total(want, c), "%s column %zu: %lld != %lld", what, c, (long long)total(got, c),
          (long long)total(want, c));
  CHECK(pp_sample_count(got) == pp_sample_count(want), "%s: %zu samples, want %zu", what, pp_sample_count(got),
        pp_sample_count(want));
  CHECK(pp_function_count(got) == pp_function_count(want), "%s: %zu functions, want %zu", what,
        pp_function_count(got), pp_function_count(want));
}

static void test_buckets_and_ranges(void) {
  char err[1024];
  put_buckets("web-api", cpu_up, 6);
  put_buckets("web-api", heap_up, 5);
  CHECK_EQ(hf_put(bs, "web-api/hours/cpu/notanhour.pgo", "x", 1), 0);
  CHECK_EQ(hf_put(bs, "web-api/default.pgo", cpu_up[0].bytes, cpu_up[0].len), 0);

  history_bucket *b = NULL;
  size_t n = 0;
  CHECK_EQ(history_buckets(bs, "web-api", LAYOUT_KIND_CPU, INT64_MIN, INT64_MAX, &b, &n, err, sizeof err), 0);
  CHECK_EQ(n, 4);
  if (n == 4) {
    CHECK_EQ(b[0].hour, H - 20);
    CHECK_EQ(b[1].hour, H - 8);
    CHECK_EQ(b[2].hour, H - 3);
    CHECK_EQ(b[3].hour, H - 1);
    char key[LAYOUT_KEY_BUF];
    layout_hour_key("web-api", LAYOUT_KIND_CPU, H - 3, key, sizeof key);
    CHECK_STR(b[2].key, key);
    CHECK(b[2].info.etag[0] != '\0');
  }
  history_span sp = {-1, -1, 0};
  for (size_t i = 0; i < n; i++) history_span_add(&sp, b[i].hour);
  CHECK_EQ(sp.first_hour, H - 20);
  CHECK_EQ(sp.last_hour, H - 1);
  CHECK_EQ(sp.hours, 4);
  free(b);
  CHECK_EQ(history_buckets(bs, "web-api", LAYOUT_KIND_CPU, H - 8, H - 1, &b, &n, err, sizeof err), 0);
  CHECK_EQ(n, 2);
  free(b);
  CHECK_EQ(history_buckets(bs, "web-api", LAYOUT_KIND_MUTEX, INT64_MIN, INT64_MAX, &b, &n, err, sizeof err), 0);
  CHECK_EQ(n, 0);
  CHECK(b == NULL);
  CHECK_RC(history_buckets(bs, "Web", LAYOUT_KIND_CPU, 0, 1, &b, &n, err, sizeof err), HISTORY_EINVAL, err,
           "invalid app");

  /* versions: stable, and changed by a rewrite of a bucket in range only */
  blob_info v1, v2, v3;
  CHECK_EQ(history_buckets(bs, "web-api", LAYOUT_KIND_CPU, H - 20, H, &b, &n, err, sizeof err), 0);
  history_range_version(b, n, &v1);
  history_range_version(b, n, &v2);
  CHECK_STR(v1.etag, v2.etag);
  CHECK(strncmp(v1.etag, "\"r-", 3) == 0 && strlen(v1.etag) == 36, "%s", v1.etag);
  history_range_version(b, n - 1, &v3);
  CHECK(strcmp(v1.etag, v3.etag) != 0);
  free(b);

  /* cpu: the sum over the range equals pprof's merge of the uploads in it */
  struct {
    int64_t from, to;
    size_t nup;
  } cases[] = {{H - 24, H, 6}, {H - 20, H - 19, 2}, {H - 8, H - 1, 3}, {H - 3, H + 5, 3}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    pp_profile *got = NULL;
    blob_info v;
    CHECK_EQ(history_range_merge(bs, "web-api", LAYOUT_KIND_CPU, cases[c].from, cases[c].to, NULL, &got, &v, err,
                                 sizeof err),
             0);
    pp_profile *want = expected_range(cpu_up, 6, cases[c].from, cases[c].to);
    char what[64];
    snprintf(what, sizeof what, "cpu range %zu", c);
    check_same(got, want, what);
    CHECK(v.etag[0] != '\0');
    for (size_t i = 0; got && i < pp_comment_count(got); i++)
      CHECK(strncmp(pp_comment(got, i), "pgopipe-", 8) != 0, "%s", pp_comment(got, i));
    pp_free(got);
    pp_free(want);
  }

  /* heap: counters summed, gauges of the newest bucket in range */
  struct {
    int64_t from, to;
  } hc[] = {{H - 24, H}, {H - 10, H - 4}, {H - 10, H - 9}, {H - 5, H - 1}};
  for (size_t c = 0; c < sizeof hc / sizeof hc[0]; c++) {
    pp_profile *got = NULL;
    CHECK_EQ(history_range_merge(bs, "web-api", LAYOUT_KIND_HEAP, hc[c].from, hc[c].to, NULL, &got, NULL, err,
                                 sizeof err),
             0);
    pp_profile *want = expected_range(heap_up, 5, hc[c].from, hc[c].to);
    char what[64];
    snprintf(what, sizeof what, "heap range %zu", c);
    check_same(got, want, what);
    pp_free(got);
    pp_free(want);
  }
  {
    /* the gauge columns are exactly the newest bucket's last upload's */
    pp_profile *got = NULL;
    CHECK_EQ(history_range_merge(bs, "web-api", LAYOUT_KIND_HEAP, H - 24, H, NULL, &got, NULL, err, sizeof err), 0);
    pp_profile *last = hf_decode(&heap_up[4]);
    pp_profile *first = hf_decode(&heap_up[0]);
    CHECK(got && last && first);
    if (got && last && first) {
      for (size_t c = 2; c < 4; c++) CHECK_EQ(total(got, c), total(last, c));
      CHECK(total(got, 0) > total(last, 0));
      CHECK(total(got, 2) != total(first, 2) + total(last, 2));
    }
    pp_free(got);
    pp_free(last);
    pp_free(first);
  }

  pp_profile *p = NULL;
  CHECK_RC(history_range_merge(bs, "web-api", LAYOUT_KIND_CPU, H - 7, H - 4, NULL, &p, NULL, err, sizeof err),
           HISTORY_ENOTFOUND, err, "no cpu profile of app web-api");
  CHECK_RC(history_range_merge(bs, "nobody", LAYOUT_KIND_CPU, H - 7, H, NULL, &p, NULL, err, sizeof err),
           HISTORY_ENOTFOUND, err, NULL);
  CHECK_RC(history_range_merge(bs, "web-api", LAYOUT_KIND_CPU, H, H, NULL, &p, NULL, err, sizeof err),
           HISTORY_EINVAL, err, "empty time range");
  /* a bucket over the limit, a bucket that does not decode */
  pp_limits tiny = {.max_input_bytes = 64};
  CHECK_RC(history_range_merge(bs, "web-api", LAYOUT_KIND_CPU, H - 2, H, &tiny, &p, NULL, err, sizeof err),
           HISTORY_EPROFILE, err, "larger than 64 bytes");
  char key[LAYOUT_KEY_BUF];
  layout_hour_key("broken", LAYOUT_KIND_CPU, H - 2, key, sizeof key);
  CHECK_EQ(hf_put(bs, key, "not a profile", 13), 0);
  CHECK_RC(history_range_merge(bs, "broken", LAYOUT_KIND_CPU, H - 3, H, NULL, &p, NULL, err, sizeof err),
           HISTORY_EPROFILE, err, "does not decode");
  /* a heap profile filed as cpu */
  layout_hour_key("misfiled", LAYOUT_KIND_CPU, H - 2, key, sizeof key);
  CHECK_EQ(hf_put(bs, key, heap_up[0].bytes, heap_up[0].len), 0);
  layout_hour_key("misfiled", LAYOUT_KIND_CPU, H - 1, key, sizeof key);
  CHECK_EQ(hf_put(bs, key, heap_up[1].bytes, heap_up[1].len), 0);
  CHECK_RC(history_range_merge(bs, "misfiled", LAYOUT_KIND_CPU, H - 3, H, NULL, &p, NULL, err, sizeof err),
           HISTORY_EPROFILE, err, "is not a cpu profile");

  /* the listing of apps carries the spans */
  apps_base *ab = NULL;
  size_t na = 0;
  CHECK_EQ(apps_list_bases(bs, &ab, &na, err, sizeof err), 0);
  CHECK_EQ(na, 1); /* broken and misfiled have buckets but no base */
  if (na == 1) {
    CHECK_STR(ab[0].app, "web-api");
    CHECK_EQ(ab[0].nkinds, 1);
    CHECK_EQ(ab[0].kinds[0].hours.first_hour, H - 20);
    CHECK_EQ(ab[0].kinds[0].hours.last_hour, H - 1);
    CHECK_EQ(ab[0].kinds[0].hours.hours, 4);
    CHECK_EQ(ab[0].hours.first_hour, H - 20);
    CHECK_EQ(ab[0].hours.last_hour, H - 1);
    CHECK_EQ(ab[0].hours.hours, 4);
  }
  free(ab);
}

/* ---- kept uploads ---- */

static history *hist;

static void put_kept(void) {
  /* every upload in history, except the last cpu one, which waits in
   * staging; the heap upload of H-5 is in both (being moved) */
  for (int i = 0; i < 5; i++) CHECK_EQ(hf_put_history(bs, "web-api", &cpu_up[i]), 0);
  CHECK_EQ(hf_put_staged(bs, "web-api", &cpu_up[5]), 0);
  for (int i = 0; i < 5; i++) CHECK_EQ(hf_put_history(bs, "web-api", &heap_up[i]), 0);
  CHECK_EQ(hf_put_staged(bs, "web-api", &heap_up[2]), 0);
  /* another app with one staged upload; one with a base only */
  CHECK_EQ(hf_put_staged(bs, "batch", &cpu_up[0]), 0);
  CHECK_EQ(hf_put(bs, "zzz-base-only/default.pgo", cpu_up[1].bytes, cpu_up[1].len), 0);
  CHECK_EQ(hf_put(bs, "web-api/staging/not-a-staged-name", "x", 1), 0);
}

static size_t find(history_query *q, history_entry **e) {
  char err[1024];
  size_t n = 0;
  CHECK_EQ(history_find(hist, q, e, &n, err, sizeof err), 0);
  return n;
}

static void test_find(void) {
  char err[1024];
  history_entry *e = NULL;
  history_query q = {"web-api", LAYOUT_KIND_NONE, NULL, (H - 48) * HF_HOUR_NS, (H + 1) * HF_HOUR_NS, 0};
  size_t n = find(&q, &e);
  CHECK_EQ(n, 11);
  for (size_t i = 1; i < n; i++) CHECK(e[i - 1].time_ns <= e[i].time_ns, "oldest first (%zu)", i);
  size_t staged = 0;
  for (size_t i = 0; i < n; i++) {
    staged += e[i].staged;
    char app[LAYOUT_APP_MAX + 1];
    layout_kind k;
    int64_t hour;
    const char *name;
    CHECK_EQ(push_profefe_id_parse(e[i].id, app, &k, &hour, &name), 0);
    CHECK_STR(app, "web-api");
    CHECK_EQ(k, e[i].kind);
    CHECK_EQ(hour, e[i].time_ns / HF_HOUR_NS);
  }
  CHECK_EQ(staged, 1); /* the moved heap upload is listed once, from history */
  /* plain cpu uploads: default metadata, the time from time_nanos */
  for (size_t i = 0; i < n; i++) {
    if (strstr(e[i].key, cpu_up[0].name)) {
      CHECK_EQ(e[i].kind, LAYOUT_KIND_CPU);
      CHECK_EQ(e[i].time_ns, cpu_up[0].time_ns);
      CHECK(e[i].meta.name == NULL);
      CHECK_EQ(e[i].meta.labels.n, 0);
    }
    if (strstr(e[i].key, cpu_up[1].name)) {
      CHECK_STR(e[i].meta.name, "Web_API");
      CHECK_STR(ingest_labels_get(&e[i].meta.labels, "region"), "us");
    }
  }
  history_entries_free(e, n);

  size_t entries;
  uint64_t hits, misses, hits2, misses2;
  history_cache_stats(hist, &entries, &hits, &misses);
  CHECK_EQ(entries, 12); /* the moved upload's two objects */
  n = find(&q, &e);
  CHECK_EQ(n, 11);
  history_entries_free(e, n);
  history_cache_stats(hist, &entries, &hits2, &misses2);
  CHECK_EQ(misses2 - misses, 1); /* the staged object that does not decode is read again */
  CHECK_EQ(hits2 - hits, 12);

  /* kind */
  q.kind = LAYOUT_KIND_HEAP;
  n = find(&q, &e);
  CHECK_EQ(n, 5);
  for (size_t i = 0; i < n; i++) CHECK_EQ(e[i].kind, LAYOUT_KIND_HEAP);
  history_entries_free(e, n);
  q.kind = LAYOUT_KIND_MUTEX;
  n = find(&q, &e);
  CHECK_EQ(n, 0);
  CHECK(e == NULL);

  /* labels: every pair must match */
  ingest_labels want = {0};
  ingest_profefe_labels("region=eu", &want, err, sizeof err);
  q.kind = LAYOUT_KIND_NONE;
  q.labels = &want;
  n = find(&q, &e);
  CHECK_EQ(n, 3 + 0 + 1); /* heap 0..2 (one being moved) and cpu 3 (cpu 0 is plain) */
  history_entries_free(e, n);
  ingest_labels_free(&want);
  ingest_profefe_labels("region=eu,host=a", &want, err, sizeof err);
  n = find(&q, &e);
  CHECK_EQ(n, 1);
  if (n == 1) CHECK(strstr(e[0].key, cpu_up[3].name) != NULL);
  history_entries_free(e, n);
  ingest_labels_free(&want);
  ingest_profefe_labels("region=us,host=a", &want, err, sizeof err);
  n = find(&q, &e);
  CHECK_EQ(n, 0);
  ingest_labels_free(&want);
  q.labels = NULL;

  /* time: both ends included */
  q.from_ns = cpu_up[2].time_ns;
  q.to_ns = heap_up[3].time_ns;
  n = find(&q, &e);
  /* cpu 2 (H-8), heap 2 (H-5), cpu 3, cpu 4 (H-3), heap 3 (H-2) */
  CHECK_EQ(n, 5);
  if (n == 5) {
    CHECK_EQ(e[0].time_ns, cpu_up[2].time_ns);
    CHECK_EQ(e[4].time_ns, heap_up[3].time_ns);
  }
  history_entries_free(e, n);
  /* limit: the oldest */
  q.limit = 2;
  n = find(&q, &e);
  CHECK_EQ(n, 2);
  if (n == 2) {
    CHECK_EQ(e[0].time_ns, cpu_up[2].time_ns);
    CHECK_EQ(e[1].time_ns, heap_up[2].time_ns);
  }
  history_entries_free(e, n);
  q.limit = 0;
  q.app = "Bad App";
  CHECK_RC(history_find(hist, &q, &e, &n, err, sizeof err), HISTORY_EINVAL, err, "invalid app");
  q.app = "nobody";
  n = find(&q, &e);
  CHECK_EQ(n, 0);
}

static void test_ids(void) {
  char err[1024], id[160], key[LAYOUT_KEY_BUF];
  uint8_t *data = NULL;
  size_t len = 0;
  /* from history */
  CHECK_EQ(push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu_up[1].time_ns, cpu_up[1].name, id, sizeof id), 0);
  CHECK_EQ(history_get_id(hist, id, &data, &len, key, err, sizeof err), 0);
  CHECK(len == cpu_up[1].len && memcmp(data, cpu_up[1].bytes, len) == 0);
  CHECK_CONTAINS(key, "web-api/history/cpu/");
  free(data);
  /* from staging */
  CHECK_EQ(push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu_up[5].time_ns, cpu_up[5].name, id, sizeof id), 0);
  CHECK_EQ(history_get_id(hist, id, &data, &len, key, err, sizeof err), 0);
  CHECK(len == cpu_up[5].len && memcmp(data, cpu_up[5].bytes, len) == 0);
  CHECK_CONTAINS(key, "web-api/staging/");
  free(data);
  /* unknown, malformed */
  CHECK_EQ(push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu_up[1].time_ns, "1-00000000", id, sizeof id), 0);
  CHECK_RC(history_get_id(hist, id, &data, &len, key, err, sizeof err), HISTORY_ENOTFOUND, err, "nothing found");
  CHECK_RC(history_get_id(hist, "bpc00mript33iv4net00", &data, &len, key, err, sizeof err), HISTORY_EINVAL, err,
           "bad profile id");
  CHECK_RC(history_get_id(hist, "web-api.cpu.2026010100.x/../y", &data, &len, key, err, sizeof err),
           HISTORY_EINVAL, err, NULL);

  /* merges by ids */
  char ids[400], id2[160];
  push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu_up[1].time_ns, cpu_up[1].name, id, sizeof id);
  push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu_up[3].time_ns, cpu_up[3].name, id2, sizeof id2);
  snprintf(ids, sizeof ids, "%s+%s", id, id2);
  pp_profile *m = NULL;
  CHECK_EQ(history_merge_ids(hist, ids, &m, err, sizeof err), 0);
  pp_profile *a = hf_decode(&cpu_up[1]), *b = hf_decode(&cpu_up[3]);
  pp_profile *in[2] = {a, b}, *want = NULL;
  CHECK_EQ(pp_merge(in, 2, &want, err, sizeof err), 0);
  check_same(m, want, "merge of two ids");
  for (size_t i = 0; m && i < pp_comment_count(m); i++) CHECK(strncmp(pp_comment(m, i), "pgopipe-", 8) != 0);
  pp_free(m);
  pp_free(want);
  push_profefe_id("web-api", LAYOUT_KIND_HEAP, heap_up[0].time_ns, heap_up[0].name, id2, sizeof id2);
  snprintf(ids, sizeof ids, "%s+%s", id, id2);
  CHECK_RC(history_merge_ids(hist, ids, &m, err, sizeof err), HISTORY_EINCOMPATIBLE, err, "can't merge");
  snprintf(ids, sizeof ids, "%s+", id);
  CHECK_RC(history_merge_ids(hist, ids, &m, err, sizeof err), HISTORY_EINVAL, err, "empty");
  push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu_up[1].time_ns, "1-00000000", id2, sizeof id2);
  snprintf(ids, sizeof ids, "%s+%s", id, id2);
  CHECK_RC(history_merge_ids(hist, ids, &m, err, sizeof err), HISTORY_ENOTFOUND, err, NULL);

  /* merge of what a query found */
  history_entry *e = NULL;
  size_t n = 0;
  history_query q = {"web-api", LAYOUT_KIND_HEAP, NULL, 0, (H + 1) * HF_HOUR_NS, 0};
  CHECK_EQ(history_find(hist, &q, &e, &n, err, sizeof err), 0);
  CHECK_EQ(history_merge_found(hist, e, n, &m, err, sizeof err), 0);
  pp_profile *hin[5];
  for (int i = 0; i < 5; i++) hin[i] = hf_decode(&heap_up[i]);
  CHECK_EQ(pp_merge(hin, 5, &want, err, sizeof err), 0);
  check_same(m, want, "naive merge of the heap uploads");
  pp_free(m);
  pp_free(want);
  history_entries_free(e, n);
  CHECK_RC(history_merge_found(hist, NULL, 0, &m, err, sizeof err), HISTORY_ENOTFOUND, err, NULL);
}

static void test_services(void) {
  char err[512];
  char **names = NULL;
  size_t n = 0;
  CHECK_EQ(history_services(hist, &names, &n, err, sizeof err), 0);
  CHECK_EQ(n, 2);
  if (n == 2) {
    CHECK_STR(names[0], "batch");
    CHECK_STR(names[1], "web-api");
  }
  history_names_free(names, n);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_history PROFILES WORKDIR\n");
    return 2;
  }
  PROFILES = argv[1];
  char url[1200], err[512];
  snprintf(url, sizeof url, "file://%s/data", argv[2]);
  CHECK_EQ(blob_open(url, &bs, err, sizeof err), 0);
  H = layout_hour_of_ns(chrono_now_ns());
  test_times();
  make_uploads();
  test_buckets_and_ranges();
  history_config hc = {bs, {0}, 168 * HF_HOUR_NS, 0};
  CHECK_EQ(history_new(&hc, &hist), 0);
  put_kept();
  test_find();
  test_ids();
  test_services();
  history_free(hist);
  for (int i = 0; i < 6; i++) hf_upload_free(&cpu_up[i]);
  for (int i = 0; i < 5; i++) hf_upload_free(&heap_up[i]);
  blob_close(bs);
  return check_exit("pipeline.history_read");
}
