/*
 * test_history.c — integration tests of the history read side of
 * pgopipe-server: a real server process over real HTTP, the file store or
 * S3 (s3rver behind the SigV4 checker), real Go profiles, hour buckets and
 * kept uploads written directly into the store as the merge worker writes
 * them (tests/common/history_fixture.h): uploads whose times lie in
 * different hours from now - 30 h to now, their buckets, their history
 * objects, and uploads still waiting in staging.
 *
 *   test_history range BIN PROFILES WORKDIR BLOB_URL    GET /api/profile/{app}?from=&to=: each range of
 *                                                      cpu and heap equals Go's profile.Merge of exactly the
 *                                                      uploads in it (heap: gauges of the newest bucket)
 *                                                      by `agents compare`; every format; ETag/304 and
 *                                                      HEAD; bad times; the listing's spans; the UI's
 *                                                      apps and range trees
 *   test_history profefe BIN PROFILES WORKDIR BLOB_URL  profefe's read API: list (label filters, limit,
 *                                                      type, 204, 400), get by id (404, 400), id+id,
 *                                                      merge (= Go's merge of the matching uploads,
 *                                                      405), services, version, --protect-reads
 *   test_history cli BIN PROFILES WORKDIR BLOB_URL      pgopipe download --from/--to, pgopipe list's spans
 *
 * PROFILES is tests/diff's corpus (heap profiles). Environment: SL_PROFILES
 * (its CPU profiles with start lines, tests/pgo), AGENTS (the agent
 * emulator, for `agents compare`), PGOPIPE_CLI (cli mode), KAFKA_BROKERS
 * (with-kafka.sh: the server announces on Kafka and runs no worker, so
 * nothing rewrites what the test wrote).
 */
#include "harness.h"

#include "../common/history_fixture.h"

#include "blob.h"
#include "chrono.h"
#include "layout.h"
#include "pprof.h"
#include "push.h"

#include <inttypes.h>
#include <stdarg.h>

CHECK_DEFINE_COUNTERS

static const char *BIN, *PROFILES, *WORKDIR, *BLOB_URL, *SL, *AGENTS;
static const char *TOKEN = "history-token-for-tests";
static const char *auth_hdr[] = {"Authorization: Bearer history-token-for-tests", NULL};
static blob_store *bs;
static int64_t H; /* the current hour */

/* ---- the scenario ---- */

#define NCPU 9
#define NHEAP 6
static hf_upload cpu[NCPU], heap[NHEAP];
/* hours back from now; the last cpu upload waits in staging (no bucket) */
static const int cpu_back[NCPU] = {30, 30, 26, 20, 8, 3, 3, 1, 0};
static const char *cpu_src[NCPU] = {"regexp", "sort", "strconv", "encoding_json", "math_big",
                                    "sync", "compress_flate", "regexp", "sort"};
static const int heap_back[NHEAP] = {28, 10, 10, 5, 2, 2};
static const char *heap_src[NHEAP] = {"regexp", "sort", "encoding_json", "strconv", "compress_flate", "math_big"};
static char cpu_file[NCPU][1100], heap_cfile[NHEAP][1100], heap_gfile[NHEAP][1100];

static uint8_t *load(const char *dir, const char *name, size_t *len) {
  char file[256];
  snprintf(file, sizeof file, "%s.pb.gz", name);
  return t_read_fixture(dir, file, len);
}

static const char *labels_of(int i) { return i % 3 == 0 ? "region=eu,host=a" : i % 3 == 1 ? "region=us" : "region=eu"; }

static void make_scenario(void) {
  char dir[900];
  snprintf(dir, sizeof dir, "%.880s/expected", WORKDIR);
  mkdir(dir, 0755);
  for (int i = 0; i < NCPU; i++) {
    size_t n;
    uint8_t *b = load(SL ? SL : "", cpu_src[i], &n);
    int64_t t = (H - cpu_back[i]) * HF_HOUR_NS + (int64_t)(i + 1) * 61 * 1000000000LL;
    if (cpu_back[i] == 0) t = chrono_now_ns() - 5 * 1000000000LL;
    /* even uploads are plain native ones (no record), the others profefe's */
    if (hf_upload_make(b, n, LAYOUT_KIND_CPU, t, i % 2 == 0, "Web_API", labels_of(i), (unsigned)i, &cpu[i]) != 0)
      exit(1);
    free(b);
    snprintf(cpu_file[i], sizeof cpu_file[i], "%s/cpu-%d.pb.gz", dir, i);
    CHECK_EQ(hf_write_part(&cpu[i], 0, cpu_file[i]), 0);
  }
  for (int i = 0; i < NHEAP; i++) {
    size_t n;
    char hd[1000];
    snprintf(hd, sizeof hd, "%.980s/heap", PROFILES);
    uint8_t *b = load(hd, heap_src[i], &n);
    int64_t t = (H - heap_back[i]) * HF_HOUR_NS + (int64_t)(i + 1) * 97 * 1000000000LL;
    if (hf_upload_make(b, n, LAYOUT_KIND_HEAP, t, 0, "Web_API", labels_of(i + 1), 100 + (unsigned)i, &heap[i]) != 0)
      exit(1);
    free(b);
    snprintf(heap_cfile[i], sizeof heap_cfile[i], "%s/heap-%d-counters.pb.gz", dir, i);
    snprintf(heap_gfile[i], sizeof heap_gfile[i], "%s/heap-%d-gauges.pb.gz", dir, i);
    CHECK_EQ(hf_write_part(&heap[i], 0, heap_cfile[i]), 0);
    CHECK_EQ(hf_write_part(&heap[i], 1, heap_gfile[i]), 0);
  }
}

/* Buckets of ups grouped by hour (in order), the staged ones left out. */
static void put_buckets(const char *app, hf_upload *ups, int n, const int *back) {
  int i = 0;
  while (i < n) {
    if (back[i] == 0) {
      i++;
      continue;
    }
    const hf_upload *grp[8];
    size_t g = 0;
    int64_t h = ups[i].hour;
    while (i < n && ups[i].hour == h && back[i] != 0 && g < 8) grp[g++] = &ups[i++];
    CHECK_EQ(hf_put_bucket(bs, app, grp, g), 0);
  }
}

static void put_scenario(void) {
  put_buckets("web-api", cpu, NCPU, cpu_back);
  put_buckets("web-api", heap, NHEAP, heap_back);
  for (int i = 0; i < NCPU; i++)
    CHECK_EQ(cpu_back[i] ? hf_put_history(bs, "web-api", &cpu[i]) : hf_put_staged(bs, "web-api", &cpu[i]), 0);
  for (int i = 0; i < NHEAP; i++) CHECK_EQ(hf_put_history(bs, "web-api", &heap[i]), 0);
  CHECK_EQ(hf_put(bs, "web-api/default.pgo", cpu[0].bytes, cpu[0].len), 0);
  CHECK_EQ(hf_put(bs, "web-api/kinds/heap.pgo", heap[0].bytes, heap[0].len), 0);
  CHECK_EQ(hf_put_staged(bs, "batch", &cpu[1]), 0);
}

/* ---- helpers ---- */

static int start(srv *s, const char *name, char *const *extra) {
  static char blobarg[1200], writer[128], tok[128];
  char log[400];
  snprintf(blobarg, sizeof blobarg, "--blob-store-url=%s", BLOB_URL);
  snprintf(writer, sizeof writer, "--event-writer-url=kafka://history%lld", (long long)t_now_ms());
  snprintf(tok, sizeof tok, "PGOPIPE_AUTH_TOKEN=%s", TOKEN);
  snprintf(log, sizeof log, "%s/server-%s.log", WORKDIR, name);
  char *args[32] = {"-p", "0", blobarg, writer};
  int n = 4;
  for (int i = 0; extra && extra[i] && n < 31; i++) args[n++] = extra[i];
  args[n] = NULL;
  char *env[] = {tok, NULL};
  if (srv_start_env(s, BIN, log, env, args, NULL) != 0) {
    fprintf(stderr, "server did not start; see %s\n", log);
    return -1;
  }
  return 0;
}

static http_resp get(int port, const char *path, const char *const *hdrs) {
  return http_do(port, "GET", path, NULL, 0, 0, hdrs);
}

static void header(const http_resp *r, const char *name, char *buf, size_t n) {
  if (http_resp_header(r, name, buf, n) != 0) buf[0] = '\0';
}

static void iso(int64_t hour, char *buf, size_t n) { chrono_format_rfc3339(hour * 3600 * 1000, 0, buf, n); }

/* `agents compare FILES... -- body`: 0 when the body equals Go's merge of
 * the files by summary. */
static int compare(const char *const *files, size_t n, const http_resp *body, const char *what) {
  char path[1200];
  static int seq;
  snprintf(path, sizeof path, "%s/actual-%d.pb.gz", WORKDIR, seq++);
  if (hf_write(path, body->body, body->len) != 0) return -1;
  char *args[64];
  int k = 0;
  args[k++] = "compare";
  for (size_t i = 0; i < n && k < 60; i++) args[k++] = (char *)(uintptr_t)files[i];
  args[k++] = "--";
  args[k++] = path;
  args[k] = NULL;
  char *out = NULL;
  int rc = run_capture(AGENTS, args, NULL, &out);
  if (rc != 0) fprintf(stderr, "%s: %s\n", what, out);
  free(out);
  return rc;
}

/* The files whose merge a range [from, to) of kind must equal. */
static size_t expected(layout_kind kind, int64_t from, int64_t to, const char **files) {
  size_t n = 0;
  if (kind == LAYOUT_KIND_CPU) {
    for (int i = 0; i < NCPU; i++)
      if (cpu_back[i] && cpu[i].hour >= from && cpu[i].hour < to) files[n++] = cpu_file[i];
    return n;
  }
  int last = -1;
  for (int i = 0; i < NHEAP; i++)
    if (heap[i].hour >= from && heap[i].hour < to) {
      files[n++] = heap_cfile[i];
      last = i; /* uploads are in time order: the newest hour's last */
    }
  if (last >= 0) files[n++] = heap_gfile[last];
  return n;
}

/* ---- range reads ---- */

static void check_range(int port, layout_kind kind, int64_t from, int64_t to, int unix_seconds) {
  char path[512], f[40], t[40];
  if (unix_seconds) {
    /* anywhere inside the hour: both ends are rounded down */
    snprintf(f, sizeof f, "%lld", (long long)(from * 3600 + 1799));
    snprintf(t, sizeof t, "%lld", (long long)(to * 3600 + 3599));
  } else {
    iso(from, f, sizeof f);
    iso(to, t, sizeof t);
  }
  snprintf(path, sizeof path, "/api/profile/web-api?kind=%s&from=%s&to=%s", layout_kind_name(kind), f, t);
  http_resp r = get(port, path, NULL);
  const char *files[32];
  size_t n = expected(kind, from, to, files);
  char what[600];
  snprintf(what, sizeof what, "GET %s (%zu uploads)", path, n);
  if (n == 0) {
    CHECK_EQ(r.status, 404);
    CHECK(is_error_body(&r), "%s", r.body);
    CHECK_CONTAINS(r.body, "no upload of that kind was merged in those hours");
  } else {
    CHECK(r.status == 200, "%s: %ld %s", what, r.status, r.body);
    CHECK_EQ(compare(files, n, &r, what), 0);
    char et[128], ct[128];
    header(&r, "ETag", et, sizeof et);
    header(&r, "Content-Type", ct, sizeof ct);
    CHECK(strncmp(et, "\"r-", 3) == 0, "%s: ETag %s", what, et);
    CHECK_STR(ct, "application/octet-stream");
  }
  http_resp_free(&r);
}

static int mode_range(void) {
  put_scenario();
  srv s;
  if (start(&s, "range", NULL) != 0) return 1;
  int port = s.port;

  /* cpu and heap over ranges: whole, one hour, a middle part, beyond now,
   * and a range with nothing in it; RFC 3339 and Unix seconds */
  int64_t ranges[][2] = {{H - 48, H + 1}, {H - 30, H - 29}, {H - 29, H - 9}, {H - 26, H - 2},
                         {H - 8, H + 3},  {H - 3, H - 2},   {H - 19, H - 9}, {H - 100, H - 31}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    check_range(port, LAYOUT_KIND_CPU, ranges[i][0], ranges[i][1], (int)(i % 2));
    check_range(port, LAYOUT_KIND_HEAP, ranges[i][0], ranges[i][1], (int)((i + 1) % 2));
  }
  /* the staged upload is in no bucket: now's hour has no cpu profile */
  check_range(port, LAYOUT_KIND_CPU, H, H + 1, 0);

  /* every format over a range: the pprof answer converted */
  char f[40], t[40], path[512];
  iso(H - 30, f, sizeof f);
  iso(H, t, sizeof t);
  snprintf(path, sizeof path, "/api/profile/web-api?from=%s&to=%s", f, t);
  http_resp pr = get(port, path, NULL);
  CHECK_EQ(pr.status, 200);
  char prpath[1200];
  snprintf(prpath, sizeof prpath, "%s/range.pb.gz", WORKDIR);
  CHECK_EQ(hf_write(prpath, pr.body, pr.len), 0);
  char pretag[128];
  header(&pr, "ETag", pretag, sizeof pretag);
  struct {
    const char *format, *type, *starts;
  } formats[] = {{"pgo", "application/octet-stream", "\x1f\x8b"},
                 {"preprofile", "text/plain", "GO PREPROFILE V1\n"},
                 {"folded", "text/plain", ""},
                 {"speedscope", "application/json", "{"},
                 {"chrome", "application/json", "{"}};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    char fp[600];
    snprintf(fp, sizeof fp, "%s&format=%s", path, formats[i].format);
    http_resp r = get(port, fp, NULL);
    char ct[128], et[160], want_et[200];
    header(&r, "Content-Type", ct, sizeof ct);
    header(&r, "ETag", et, sizeof et);
    CHECK(r.status == 200, "%s: %ld %s", fp, r.status, r.body);
    CHECK(strncmp(ct, formats[i].type, strlen(formats[i].type)) == 0, "%s: %s", fp, ct);
    CHECK(r.len > 16 && memcmp(r.body, formats[i].starts, strlen(formats[i].starts)) == 0, "%s", fp);
    snprintf(want_et, sizeof want_et, "W/\"%.*s-%s%s\"", (int)strlen(pretag) - 2, pretag + 1, formats[i].format,
             strcmp(formats[i].format, "pgo") == 0 ? "-keep2" : "");
    CHECK_STR(et, want_et);
    if (!strcmp(formats[i].format, "folded")) {
      /* the same as `pgopipe export -f folded` of the pprof answer */
      char *out = NULL;
      char *args[] = {"export", "-f", "folded", "-o", "-", prpath, NULL};
      CHECK_EQ(run_capture(getenv("PGOPIPE_CLI"), args, NULL, &out), 0);
      CHECK(out && strlen(out) == r.len && memcmp(out, r.body, r.len) == 0, "folded range differs from the export");
      free(out);
    }
    if (!strcmp(formats[i].format, "pgo")) {
      pp_profile *p = NULL;
      char err[256];
      CHECK_EQ(pp_decode((const uint8_t *)r.body, r.len, NULL, &p, err, sizeof err), PP_OK);
      pp_free(p);
    }
    /* revalidation of a converted range */
    const char *inm[] = {NULL, NULL};
    char h[200];
    snprintf(h, sizeof h, "If-None-Match: %s", et);
    inm[0] = h;
    http_resp r2 = get(port, fp, inm);
    CHECK_EQ(r2.status, 304);
    http_resp_free(&r2);
    http_resp_free(&r);
  }
  /* heap in a text format */
  snprintf(path, sizeof path, "/api/profile/web-api?kind=heap&format=folded&from=%lld&to=%lld",
           (long long)((H - 30) * 3600), (long long)(H * 3600));
  http_resp hr = get(port, path, NULL);
  CHECK_EQ(hr.status, 200);
  char cd[200];
  header(&hr, "Content-Disposition", cd, sizeof cd);
  CHECK_CONTAINS(cd, "web-api-heap.folded");
  http_resp_free(&hr);
  snprintf(path, sizeof path, "/api/profile/web-api?kind=heap&format=chrome&from=%lld&to=%lld",
           (long long)((H - 30) * 3600), (long long)(H * 3600));
  hr = get(port, path, NULL);
  CHECK_EQ(hr.status, 422); /* a Chrome profile counts CPU samples */
  http_resp_free(&hr);

  /* ETag, 304, HEAD; the answer changes when a bucket in range does */
  snprintf(path, sizeof path, "/api/profile/web-api?from=%s&to=%s", f, t);
  {
    char h[200];
    snprintf(h, sizeof h, "If-None-Match: %s", pretag);
    const char *inm[] = {h, NULL};
    http_resp r = get(port, path, inm);
    CHECK_EQ(r.status, 304);
    CHECK_EQ(r.len, 0);
    http_resp_free(&r);
    r = http_do(port, "HEAD", path, NULL, 0, 0, NULL);
    char et[128], cl[32];
    header(&r, "ETag", et, sizeof et);
    header(&r, "Content-Length", cl, sizeof cl);
    CHECK_EQ(r.status, 200);
    CHECK_STR(et, pretag);
    CHECK_EQ(atol(cl), (long)pr.len);
    http_resp_free(&r);
    /* a bucket outside the range changes: same version */
    const hf_upload *late[] = {&cpu[7], &cpu[8]};
    hf_upload moved = cpu[8];
    moved.hour = H + 2; /* a bucket of a later hour */
    const hf_upload *lg[] = {&moved};
    CHECK_EQ(hf_put_bucket(bs, "web-api", lg, 1), 0);
    r = get(port, path, inm);
    CHECK_EQ(r.status, 304);
    http_resp_free(&r);
    /* the last bucket in range gains the staged upload: a new version with it */
    CHECK_EQ(hf_put_bucket(bs, "web-api", late, 2), 0);
    r = get(port, path, inm);
    CHECK_EQ(r.status, 200);
    header(&r, "ETag", et, sizeof et);
    CHECK(et[0] && strcmp(et, pretag) != 0, "new ETag %s", et);
    const char *files[16];
    size_t n = 0;
    for (int i = 0; i < NCPU; i++) files[n++] = cpu_file[i];
    CHECK_EQ(compare(files, n, &r, "the range after a bucket was rewritten"), 0);
    http_resp_free(&r);
    char key[LAYOUT_KEY_BUF], err[256];
    layout_hour_key("web-api", LAYOUT_KIND_CPU, H + 2, key, sizeof key);
    CHECK_EQ(blob_delete(bs, key, err, sizeof err), 0);
    /* a bucket removed from the range (retention): the range without it */
    layout_hour_key("web-api", LAYOUT_KIND_CPU, H - 30, key, sizeof key);
    CHECK_EQ(blob_delete(bs, key, err, sizeof err), 0);
    r = get(port, path, NULL);
    CHECK_EQ(r.status, 200);
    n = 0;
    for (int i = 2; i < NCPU; i++) files[n++] = cpu_file[i];
    CHECK_EQ(compare(files, n, &r, "the range after its first bucket was removed"), 0);
    http_resp_free(&r);
    const hf_upload *first[] = {&cpu[0], &cpu[1]};
    CHECK_EQ(hf_put_bucket(bs, "web-api", first, 2), 0);
    const hf_upload *back[] = {&cpu[7]};
    CHECK_EQ(hf_put_bucket(bs, "web-api", back, 1), 0);
  }
  http_resp_free(&pr);

  /* bad times and ranges: 400 naming the problem */
  struct {
    const char *q, *says;
  } bad[] = {{"from=2026-11-21T10:00:00Z", "from and to must both be given"},
             {"to=1795263394", "from and to must both be given"},
             {"from=yesterday&to=1795263394", "bad from \\\"yesterday\\\""},
             {"from=1795263394&to=soon", "bad to \\\"soon\\\""},
             {"from=1795263394&to=1795263000", "must be before to"},
             {"from=2026-11-21T10:05:00Z&to=2026-11-21T10:55:00Z", "rounded down to the hour"},
             {"from=-3600&to=0", "bad from"},
             {"from=2026-11-21T10:00:00&to=2026-11-21T12:00:00Z", "bad from"},
             {"from=&to=", "from and to must both be given"},
             {"kind=heap&from=1&to=1795263394&format=nope", "unknown format"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(path, sizeof path, "/api/profile/web-api?%s", bad[i].q);
    http_resp r = get(port, path, NULL);
    CHECK_ERROR(r, 400);
    CHECK(strstr(r.body, bad[i].says) != NULL, "%s: %s", bad[i].q, r.body);
    http_resp_free(&r);
  }
  /* the listing: the hours of history per app and per kind */
  {
    http_resp r = get(port, "/api/profile", NULL);
    CHECK_EQ(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *apps = json_object_get(j, "profiles");
    CHECK_EQ(json_array_size(apps), 1); /* batch has no base */
    json_t *a = json_array_get(apps, 0);
    char from[40], to[40];
    iso(H - 30, from, sizeof from);
    iso(H, to, sizeof to);
    CHECK_STR(json_string_value(json_object_get(a, "key")), "web-api");
    CHECK(json_is_integer(json_object_get(a, "size")) && json_is_string(json_object_get(a, "lastModified")));
    json_t *h = json_object_get(a, "history");
    CHECK_STR(json_string_value(json_object_get(h, "from")), from);
    CHECK_STR(json_string_value(json_object_get(h, "to")), to);
    json_t *kinds = json_object_get(a, "kinds");
    CHECK_EQ(json_array_size(kinds), 2);
    json_t *kc = json_array_get(kinds, 0), *kh = json_array_get(kinds, 1);
    CHECK_STR(json_string_value(json_object_get(kc, "kind")), "cpu");
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(kc, "history"), "hours")), 6);
    CHECK_STR(json_string_value(json_object_get(json_object_get(kc, "history"), "from")), from);
    CHECK_STR(json_string_value(json_object_get(kh, "kind")), "heap");
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(kh, "history"), "hours")), 4);
    iso(H - 28, from, sizeof from);
    iso(H - 1, to, sizeof to);
    CHECK_STR(json_string_value(json_object_get(json_object_get(kh, "history"), "from")), from);
    CHECK_STR(json_string_value(json_object_get(json_object_get(kh, "history"), "to")), to);
    json_decref(j);
    http_resp_free(&r);
  }
  /* the UI: ranges served, each kind's span, a range's tree */
  {
    http_resp r = get(port, "/api/ui/apps", NULL);
    CHECK_EQ(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(json_is_true(json_object_get(j, "ranges")));
    json_t *a = json_array_get(json_object_get(j, "apps"), 1); /* batch has no base: web-api is alone */
    if (!a) a = json_array_get(json_object_get(j, "apps"), 0);
    CHECK_STR(json_string_value(json_object_get(a, "app")), "web-api");
    json_t *kc = json_array_get(json_object_get(a, "kinds"), 0);
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(kc, "history"), "hours")), 6);
    json_decref(j);
    http_resp_free(&r);
    iso(H - 3, f, sizeof f);
    iso(H - 2, t, sizeof t);
    snprintf(path, sizeof path, "/api/ui/tree/web-api?from=%s&to=%s&min_share=0", f, t);
    r = get(port, path, NULL);
    CHECK(r.status == 200, "%ld %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    pp_profile *p5 = hf_decode(&cpu[5]), *p6 = hf_decode(&cpu[6]);
    int64_t want = pp_total(p5, 1) + pp_total(p6, 1);
    CHECK_EQ(json_integer_value(json_object_get(j, "total")), want);
    pp_free(p5);
    pp_free(p6);
    json_decref(j);
    http_resp_free(&r);
    iso(H - 7, f, sizeof f);
    iso(H - 4, t, sizeof t);
    snprintf(path, sizeof path, "/api/ui/tree/web-api?from=%s&to=%s", f, t);
    r = get(port, path, NULL);
    CHECK_ERROR(r, 404);
    http_resp_free(&r);
  }
  CHECK_EQ(srv_stop(&s), 0);
  return 0;
}

/* ---- profefe's read API ---- */

/* {"code":N,"error":"..."} with status N? */
static int is_profefe_error(const http_resp *r) {
  json_t *o = json_loads(r->body, 0, NULL);
  int ok = o && json_integer_value(json_object_get(o, "code")) == r->status &&
           json_is_string(json_object_get(o, "error")) && json_object_size(o) == 2;
  json_decref(o);
  return ok;
}

/* 1 when the error message of a profefe error body contains says. */
static int profefe_says(const http_resp *r, const char *says) {
  json_t *o = json_loads(r->body, 0, NULL);
  const char *e = json_string_value(json_object_get(o, "error"));
  int ok = e && strstr(e, says) != NULL;
  json_decref(o);
  return ok;
}

#define CHECK_PROFEFE_ERROR(resp_, status_, says_)                                          \
  do {                                                                                      \
    CHECK_EQ((resp_).status, (status_));                                                   \
    CHECK(is_profefe_error(&(resp_)), "%s", (resp_).body);                                 \
    CHECK(profefe_says(&(resp_), (says_)), "%s does not say %s", (resp_).body, (says_));   \
  } while (0)

/* profefe's time layout of an ns time. */
static void pf_time(int64_t ns, char *buf, size_t n) {
  char full[40];
  chrono_format_rfc3339(ns / 1000000, 0, full, sizeof full);
  snprintf(buf, n, "%.19s", full);
}

/* The ids of a listing's body, in order; *n of them. */
static json_t *list_body(const http_resp *r) {
  json_t *j = json_loads(r->body, 0, NULL);
  CHECK_EQ(json_integer_value(json_object_get(j, "code")), 200);
  json_t *b = json_object_get(j, "body");
  CHECK(json_is_array(b), "%s", r->body);
  json_incref(b);
  json_decref(j);
  return b;
}

static void id_of(const hf_upload *u, char *id, size_t n) { push_profefe_id("web-api", u->kind, u->time_ns, u->name, id, n); }

static int mode_profefe(void) {
  srv s;
  if (start(&s, "profefe-empty", NULL) != 0) return 1;
  http_resp r = get(s.port, "/api/0/services", NULL);
  CHECK_PROFEFE_ERROR(r, 404, "nothing found");
  http_resp_free(&r);
  r = get(s.port, "/api/0/version", NULL);
  CHECK_EQ(r.status, 200);
  {
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK_EQ(json_integer_value(json_object_get(j, "code")), 200);
    CHECK(json_is_string(json_object_get(json_object_get(j, "body"), "version")), "%s", r.body);
    json_decref(j);
  }
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);

  put_scenario();
  if (start(&s, "profefe", NULL) != 0) return 1;
  int port = s.port;
  char path[960], from[40], to[40];
  pf_time((H - 48) * HF_HOUR_NS, from, sizeof from);
  pf_time(chrono_now_ns() + HF_HOUR_NS, to, sizeof to);

  /* everything of the service, oldest first */
  snprintf(path, sizeof path, "/api/0/profiles?service=Web_API&from=%s&to=%s", from, to);
  r = get(port, path, NULL);
  CHECK_EQ(r.status, 200);
  char ct[128];
  header(&r, "Content-Type", ct, sizeof ct);
  CHECK_STR(ct, "application/json");
  json_t *b = list_body(&r);
  CHECK_EQ(json_array_size(b), NCPU + NHEAP);
  const char *prev = "";
  for (size_t i = 0; i < json_array_size(b); i++) {
    json_t *e = json_array_get(b, i);
    const char *ca = json_string_value(json_object_get(e, "created_at"));
    if (!ca) ca = "";
    CHECK(strcmp(prev, ca) <= 0, "created_at ascending: %s after %s", ca, prev);
    prev = ca;
    CHECK(json_is_string(json_object_get(e, "id")) && json_is_string(json_object_get(e, "type")));
  }
  {
    /* a plain cpu upload and a profefe one, as profefe shows them */
    char id0[160], id1[160], ca[40];
    id_of(&cpu[0], id0, sizeof id0);
    id_of(&cpu[1], id1, sizeof id1);
    json_t *e0 = json_array_get(b, 0), *e1 = json_array_get(b, 1);
    CHECK_STR(json_string_value(json_object_get(e0, "id")), id0);
    CHECK_STR(json_string_value(json_object_get(e0, "type")), "cpu");
    CHECK_STR(json_string_value(json_object_get(e0, "service")), "web-api");
    CHECK(json_object_get(e0, "labels") == NULL);
    chrono_format_rfc3339(cpu[0].time_ns / 1000000, 0, ca, sizeof ca);
    CHECK_STR(json_string_value(json_object_get(e0, "created_at")), ca);
    CHECK_STR(json_string_value(json_object_get(e1, "id")), id1);
    CHECK_STR(json_string_value(json_object_get(e1, "service")), "Web_API");
    json_t *l = json_object_get(e1, "labels");
    CHECK_EQ(json_array_size(l), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "key")), "region");
    CHECK_STR(json_string_value(json_object_get(json_array_get(l, 0), "value")), "us");
  }
  json_decref(b);
  http_resp_free(&r);

  /* filters: type, labels (every pair), time (both ends included), limit */
  struct {
    const char *q;
    size_t want;
  } cases[] = {{"type=heap", NHEAP},
               {"type=cpu", NCPU},
               {"labels=region=eu", 6},                 /* heap 1,2,4,5; cpu 3 (the others are plain) */
               {"labels=region%3Deu%2Chost%3Da", 3},     /* heap 2,5; cpu 3 */
               {"labels=host=a,region=eu&type=heap", 2},
               {"labels=region=us,host=a", 0},
               {"labels=region=mars", 0},
               {"type=trace", 0},
               {"type=mutex", 0},
               {"limit=3", 3},
               {"type=heap&limit=0", NHEAP}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(path, sizeof path, "/api/0/profiles?service=Web_API&from=%s&to=%s&%s", from, to, cases[i].q);
    r = get(port, path, NULL);
    if (cases[i].want == 0) {
      CHECK(r.status == 204, "%s: %ld", cases[i].q, r.status);
      CHECK_EQ(r.len, 0);
    } else {
      CHECK(r.status == 200, "%s: %ld %s", cases[i].q, r.status, r.body);
      b = list_body(&r);
      CHECK(json_array_size(b) == cases[i].want, "%s: %zu, want %zu", cases[i].q, json_array_size(b), cases[i].want);
      json_decref(b);
    }
    http_resp_free(&r);
  }
  {
    /* the time range, exact to the second: from the third upload to the fifth */
    char f2[40], t2[40];
    pf_time(cpu[2].time_ns, f2, sizeof f2);
    pf_time(cpu[4].time_ns, t2, sizeof t2);
    snprintf(path, sizeof path, "/api/0/profiles?service=web-api&type=cpu&from=%s&to=%s", f2, t2);
    r = get(port, path, NULL);
    b = list_body(&r);
    CHECK_EQ(json_array_size(b), 3);
    char id[160];
    id_of(&cpu[2], id, sizeof id);
    CHECK_STR(json_string_value(json_object_get(json_array_get(b, 0), "id")), id);
    json_decref(b);
    http_resp_free(&r);
    /* RFC 3339 works too */
    chrono_format_rfc3339(cpu[2].time_ns / 1000000, 0, f2, sizeof f2);
    snprintf(path, sizeof path, "/api/0/profiles?service=web-api&type=cpu&from=%s&to=%s&limit=1", f2, to);
    r = get(port, path, NULL);
    b = list_body(&r);
    CHECK_EQ(json_array_size(b), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(b, 0), "id")), id);
    json_decref(b);
    http_resp_free(&r);
  }
  /* 400s */
  struct {
    const char *q, *says;
  } bad[] = {{"service=Web_API&to=2026-01-01T00:00:00", "missing \"from\""},
             {"service=Web_API&from=2026-01-01T00:00:00", "missing \"to\""},
             {"from=2026-01-01T00:00:00&to=2026-01-02T00:00:00", "missing service"},
             {"service=Web_API&from=yesterday&to=2026-01-02T00:00:00", "bad \"from\" timestamp"},
             {"service=Web_API&from=2026-01-01T00:00:00&to=2026-13-02T00:00:00", "bad \"to\" timestamp"},
             {"service=Web_API&from=2026-01-02T00:00:00&to=2026-01-01T00:00:00", "after"},
             {"service=Web_API&from=2026-01-01T00:00:00&to=2026-01-02T00:00:00&limit=x", "bad limit"},
             {"service=Web_API&from=2026-01-01T00:00:00&to=2026-01-02T00:00:00&limit=-1", "bad limit"},
             {"service=Web_API&from=2026-01-01T00:00:00&to=2026-01-02T00:00:00&type=gpu", "bad profile type"},
             {"service=___&from=2026-01-01T00:00:00&to=2026-01-02T00:00:00", "no letters or digits"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(path, sizeof path, "/api/0/profiles?%s", bad[i].q);
    r = get(port, path, NULL);
    CHECK_PROFEFE_ERROR(r, 400, bad[i].says);
    http_resp_free(&r);
  }

  /* one profile by id: the stored bytes, from history or from staging */
  for (int i = 0; i < NCPU; i += 4) {
    char id[160];
    id_of(&cpu[i], id, sizeof id);
    snprintf(path, sizeof path, "/api/0/profiles/%s", id);
    r = get(port, path, NULL);
    CHECK(r.status == 200 && r.len == cpu[i].len && memcmp(r.body, cpu[i].bytes, r.len) == 0, "GET %s: %ld",
          path, r.status);
    char cd[300], want[300];
    header(&r, "Content-Disposition", cd, sizeof cd);
    snprintf(want, sizeof want, "attachment; filename=\"%s\"", id);
    CHECK_STR(cd, want);
    http_resp_free(&r);
  }
  {
    char id[160];
    push_profefe_id("web-api", LAYOUT_KIND_CPU, cpu[3].time_ns, "123-0000abcd", id, sizeof id);
    snprintf(path, sizeof path, "/api/0/profiles/%s", id);
    r = get(port, path, NULL);
    CHECK_PROFEFE_ERROR(r, 404, "nothing found");
    http_resp_free(&r);
    r = get(port, "/api/0/profiles/bpc00mript33iv4net00", NULL);
    CHECK_PROFEFE_ERROR(r, 400, "bad profile id");
    http_resp_free(&r);
    /* two ids: their merge */
    char id2[160];
    id_of(&cpu[3], id, sizeof id);
    id_of(&cpu[8], id2, sizeof id2);
    snprintf(path, sizeof path, "/api/0/profiles/%s+%s", id, id2);
    r = get(port, path, NULL);
    CHECK_EQ(r.status, 200);
    const char *files[] = {cpu_file[3], cpu_file[8]};
    CHECK_EQ(compare(files, 2, &r, path), 0);
    http_resp_free(&r);
    id_of(&heap[0], id2, sizeof id2);
    snprintf(path, sizeof path, "/api/0/profiles/%s+%s", id, id2);
    r = get(port, path, NULL);
    CHECK_PROFEFE_ERROR(r, 422, "can't merge");
    http_resp_free(&r);
  }

  /* merge on read: Go's merge of the matching uploads, as they are */
  struct {
    const char *q;
    int kind, sel; /* sel: 0 all of the kind, 1 region=us, 2 region=eu,host=a */
  } merges[] = {{"type=cpu", 0, 0}, {"type=cpu&labels=region=us", 0, 1}, {"type=heap", 1, 0},
                {"type=heap&labels=host=a,region=eu", 1, 2}};
  for (size_t m = 0; m < sizeof merges / sizeof merges[0]; m++) {
    snprintf(path, sizeof path, "/api/0/profiles/merge?service=Web_API&from=%s&to=%s&%s", from, to, merges[m].q);
    r = get(port, path, NULL);
    CHECK(r.status == 200, "%s: %ld %s", merges[m].q, r.status, r.body);
    char cd[200];
    header(&r, "Content-Disposition", cd, sizeof cd);
    CHECK_STR(cd, merges[m].kind ? "attachment; filename=\"heap\"" : "attachment; filename=\"cpu\"");
    const char *files[16];
    size_t n = 0;
    char raw[NHEAP][1200];
    for (int i = 0; i < (merges[m].kind ? NHEAP : NCPU); i++) {
      hf_upload *u = merges[m].kind ? &heap[i] : &cpu[i];
      int plain = !merges[m].kind && i % 2 == 0;
      const char *l = merges[m].kind ? labels_of(i + 1) : labels_of(i);
      if (merges[m].sel == 1 && (plain || strcmp(l, "region=us") != 0)) continue;
      if (merges[m].sel == 2 && (plain || strcmp(l, "region=eu,host=a") != 0)) continue;
      if (merges[m].kind) {
        /* the stored upload as it is: profefe's merge is a naive sum */
        snprintf(raw[i], sizeof raw[i], "%s/raw-heap-%d.pb.gz", WORKDIR, i);
        hf_write(raw[i], u->bytes, u->len);
        files[n++] = raw[i];
      } else {
        files[n++] = cpu_file[i];
      }
    }
    CHECK(n > 0);
    CHECK_EQ(compare(files, n, &r, merges[m].q), 0);
    http_resp_free(&r);
  }
  snprintf(path, sizeof path, "/api/0/profiles/merge?service=Web_API&from=%s&to=%s&type=cpu&labels=region=mars", from,
           to);
  r = get(port, path, NULL);
  CHECK_EQ(r.status, 204);
  http_resp_free(&r);
  const char *no_merge[] = {"type=trace", "type=other", "", "type=gpu"};
  for (size_t i = 0; i < sizeof no_merge / sizeof no_merge[0]; i++) {
    snprintf(path, sizeof path, "/api/0/profiles/merge?service=Web_API&from=%s&to=%s&%s", from, to, no_merge[i]);
    r = get(port, path, NULL);
    CHECK_PROFEFE_ERROR(r, 405, "can't merge profiles of");
    http_resp_free(&r);
  }
  snprintf(path, sizeof path, "/api/0/profiles/merge?service=Web_API&type=cpu&to=%s", to);
  r = get(port, path, NULL);
  CHECK_PROFEFE_ERROR(r, 400, "missing \"from\"");
  http_resp_free(&r);

  /* services, sorted */
  r = get(port, "/api/0/services", NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "{\"code\":200,\"body\":[\"batch\",\"web-api\"]}\n");
  http_resp_free(&r);
  /* the push route still answers POST on the same path */
  r = http_do(port, "DELETE", "/api/0/profiles", NULL, 0, 0, NULL);
  CHECK_PROFEFE_ERROR(r, 405, "");
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);

  /* --protect-reads: the read API needs the token (profefe's error shape) */
  char *extra[] = {"--protect-reads", NULL};
  if (start(&s, "profefe-protected", extra) != 0) return 1;
  snprintf(path, sizeof path, "/api/0/profiles?service=Web_API&from=%s&to=%s", from, to);
  r = get(s.port, path, NULL);
  CHECK_PROFEFE_ERROR(r, 401, "needs the auth token");
  http_resp_free(&r);
  r = get(s.port, path, auth_hdr);
  CHECK_EQ(r.status, 200);
  http_resp_free(&r);
  r = get(s.port, "/api/0/services", NULL);
  CHECK_EQ(r.status, 401);
  http_resp_free(&r);
  snprintf(path, sizeof path, "/api/profile/web-api?from=%lld&to=%lld", (long long)((H - 30) * 3600),
           (long long)(H * 3600));
  r = get(s.port, path, NULL);
  CHECK_ERROR(r, 401);
  http_resp_free(&r);
  r = get(s.port, path, auth_hdr);
  CHECK_EQ(r.status, 200);
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);
  return 0;
}

/* ---- the CLI ---- */

static int cli(char **out, const char *a0, ...) {
  char *args[32];
  int n = 0;
  args[n++] = (char *)(uintptr_t)a0;
  va_list ap;
  va_start(ap, a0);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 31) args[n++] = (char *)(uintptr_t)a;
  va_end(ap);
  args[n] = NULL;
  return run_capture(getenv("PGOPIPE_CLI"), args, NULL, out);
}

static int mode_cli(void) {
  put_scenario();
  srv s;
  if (start(&s, "cli", NULL) != 0) return 1;
  char api[128], f[40], t[40], out_path[1200], *out = NULL;
  snprintf(api, sizeof api, "http://127.0.0.1:%d", s.port);
  iso(H - 9, f, sizeof f);
  iso(H, t, sizeof t);
  snprintf(out_path, sizeof out_path, "%s/range.pgo", WORKDIR);
  CHECK_EQ(cli(&out, "download", "web-api", "-u", api, "--from", f, "--to", t, "-o", out_path, NULL), 0);
  CHECK_CONTAINS(out, "from");
  free(out);
  {
    size_t len = 0;
    http_resp body = {0};
    body.body = (char *)t_read_file(out_path, &len);
    body.len = len;
    const char *files[16];
    size_t n = expected(LAYOUT_KIND_CPU, H - 9, H, files);
    CHECK_EQ(n, 4);
    CHECK_EQ(compare(files, n, &body, "pgopipe download --from --to"), 0);
    free(body.body);
  }
  /* Unix seconds, another kind and format, to stdout */
  char fs[32], ts[32];
  snprintf(fs, sizeof fs, "%lld", (long long)((H - 30) * 3600));
  snprintf(ts, sizeof ts, "%lld", (long long)(H * 3600));
  CHECK_EQ(cli(&out, "download", "web-api", "-u", api, "--kind", "heap", "--from", fs, "--to", ts, "-f", "folded",
               "-o", "-", NULL),
           0);
  CHECK(out && strchr(out, ';') != NULL, "%s", out ? out : "");
  free(out);
  /* usage errors: exit 2 without asking the server */
  struct {
    const char *a, *b, *c, *d, *says;
  } bad[] = {{"--from", f, NULL, NULL, "--from and --to go together"},
             {"--to", t, NULL, NULL, "--from and --to go together"},
             {"--from", "yesterday", "--to", t, "--from \"yesterday\""},
             {"--from", t, "--to", f, "--from must be before --to"},
             {"--from", "2026-11-21T10:10:00Z", "--to", "2026-11-21T10:50:00Z", "--from must be before --to"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = cli(&out, "download", "web-api", "-u", "http://127.0.0.1:1", bad[i].a, bad[i].b, bad[i].c, bad[i].d,
                 NULL);
    CHECK(rc == 2, "%s %s: exit %d: %s", bad[i].a, bad[i].b, rc, out);
    CHECK(strstr(out, bad[i].says) != NULL, "%s", out);
    free(out);
  }
  /* nothing in range: the server's 404, exit 1 */
  iso(H - 7, f, sizeof f);
  iso(H - 4, t, sizeof t);
  CHECK_EQ(cli(&out, "download", "web-api", "-u", api, "--from", f, "--to", t, "-o", out_path, NULL), 1);
  CHECK_CONTAINS(out, "no cpu profile of app web-api between");
  free(out);
  /* the list: the hours each kind keeps */
  CHECK_EQ(cli(&out, "list", "-u", api, NULL), 0);
  CHECK_CONTAINS(out, "HISTORY");
  {
    char from[40], to[40], line[200];
    iso(H - 30, from, sizeof from);
    iso(H, to, sizeof to);
    snprintf(line, sizeof line, "%s .. %s (6 hours)", from, to);
    CHECK_CONTAINS(out, line);
    iso(H - 28, from, sizeof from);
    iso(H - 1, to, sizeof to);
    snprintf(line, sizeof line, "%s .. %s (4 hours)", from, to);
    CHECK_CONTAINS(out, line);
  }
  free(out);
  CHECK_EQ(cli(&out, "list", "--from", "1", "-u", api, NULL), 2);
  free(out);
  CHECK_EQ(srv_stop(&s), 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: test_history range|profefe|cli BIN PROFILES WORKDIR BLOB_URL\n");
    return 2;
  }
  const char *mode = argv[1];
  BIN = argv[2];
  PROFILES = argv[3];
  WORKDIR = argv[4];
  BLOB_URL = argv[5];
  SL = getenv("SL_PROFILES");
  AGENTS = getenv("AGENTS");
  if (!SL || !AGENTS || !getenv("PGOPIPE_CLI")) {
    fprintf(stderr, "SL_PROFILES, AGENTS and PGOPIPE_CLI must be set\n");
    return 2;
  }
  char err[512];
  if (blob_open(BLOB_URL, &bs, err, sizeof err) != BLOB_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  H = layout_hour_of_ns(chrono_now_ns());
  make_scenario();
  int rc = 2;
  char name[64];
  snprintf(name, sizeof name, "server.history_%s", mode);
  if (!strcmp(mode, "range")) rc = mode_range();
  else if (!strcmp(mode, "profefe")) rc = mode_profefe();
  else if (!strcmp(mode, "cli")) {
    rc = mode_cli();
    snprintf(name, sizeof name, "cli.history");
  }
  for (int i = 0; i < NCPU; i++) hf_upload_free(&cpu[i]);
  for (int i = 0; i < NHEAP; i++) hf_upload_free(&heap[i]);
  blob_close(bs);
  if (rc) return rc;
  return check_exit(name);
}
