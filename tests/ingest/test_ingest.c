/*
 * test_ingest.c — tests of lib/ingest (and of the engine's column
 * arithmetic it relies on), one mode per ctest case:
 *
 *   test_ingest unit                      the pure parsers, rules and answers on
 *                                         inputs written here
 *   test_ingest multipart DIR             bodies made by Go's mime/multipart
 *                                         (agents multipart-cases DIR) against
 *                                         what Go's reader found in them
 *   test_ingest profiles PROFILES GODIR   real Go profiles: kind detection,
 *                                         pp_scale_columns and friends, the
 *                                         prev_profile delta, whole requests
 *                                         with good and bad input
 *   test_ingest capture DIR [TOKEN]       requests the agent emulator sent
 *                                         (agents SCENARIO -capture -out DIR)
 *                                         against its manifest; writes the
 *                                         profiles a server must store to
 *                                         DIR/ours/ (pairs.txt lists them with
 *                                         the emulator's expectation)
 */
#include "check.h"
#include "chrono.h"
#include "ingest.h"
#include "layout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include <openssl/sha.h>

CHECK_DEFINE_COUNTERS

#define NS 1000000000LL

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *b = malloc(cap);
  for (;;) {
    if (n == cap) b = realloc(b, cap *= 2);
    size_t k = fread(b + n, 1, cap - n, f);
    if (!k) break;
    n += k;
  }
  fclose(f);
  *len = n;
  return b;
}

static int spit(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(b, 1, n, f) == n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

static pp_profile *load(const char *path) {
  size_t n;
  uint8_t *b = slurp(path, &n);
  if (!b) {
    fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
    return NULL;
  }
  pp_profile *p = NULL;
  char err[256];
  if (pp_decode(b, n, NULL, &p, err, sizeof err)) fprintf(stderr, "%s: %s\n", path, err);
  free(b);
  return p;
}

static bool labels_are(const ingest_labels *l, const char *want) {
  char *s = ingest_labels_string(l);
  bool ok = s && strcmp(s, want) == 0;
  if (!ok) fprintf(stderr, "  labels \"%s\", want \"%s\"\n", s ? s : "(null)", want);
  free(s);
  return ok;
}

/* ======================================================================
 * unit
 * ====================================================================== */

static void test_query(void) {
  ingest_labels q = {0};
  char err[256];
  CHECK(ingest_query_parse("a=1&b=x+y%20z&a=2&&c&d=", &q, err, sizeof err) == 0, "%s", err);
  CHECK(q.n == 5, "%zu pairs", q.n);
  CHECK(labels_are(&q, "a=1,b=x y z,a=2,c=,d="), "query pairs");
  CHECK(strcmp(ingest_labels_get(&q, "a"), "1") == 0, "first a");
  CHECK(ingest_labels_get(&q, "zz") == NULL, "absent key");
  ingest_labels_free(&q);
  CHECK(ingest_query_parse("a=%zz", &q, err, sizeof err) == INGEST_EINVAL && strstr(err, "bad escape"), "%s", err);
  CHECK(q.n == 0, "left empty");
  CHECK(ingest_query_parse("a=1;b=2", &q, err, sizeof err) == INGEST_EINVAL && strstr(err, "semicolon"), "%s", err);
  CHECK(ingest_query_parse("a=%4", &q, err, sizeof err) == INGEST_EINVAL, "short escape");
  CHECK(ingest_query_parse(NULL, &q, err, sizeof err) == 0 && q.n == 0, "NULL query");
  char *u = NULL;
  CHECK(ingest_url_unescape("a+b%2B", 6, 0, &u, err, sizeof err) == 0 && strcmp(u, "a+b+") == 0, "path unescape");
  free(u);

  ingest_labels l = {0};
  ingest_labels_add(&l, "b", 1, "1", 1);
  ingest_labels_add(&l, "a", 1, "1", 1);
  ingest_labels_add(&l, "b", 1, "2", 1);
  ingest_labels_add(&l, "a", 1, "2", 1);
  ingest_labels_sort(&l);
  CHECK(labels_are(&l, "a=1,a=2,b=1,b=2"), "stable sort");
  ingest_labels_sort_unique(&l);
  CHECK(labels_are(&l, "a=2,b=2"), "last of each key");
  ingest_labels c = {0};
  CHECK(ingest_labels_copy(&c, &l) == 0 && labels_are(&c, "a=2,b=2"), "copy");
  ingest_labels_free(&c);
  ingest_labels_free(&l);
  char *e = ingest_labels_string(&l);
  CHECK(e && *e == 0, "empty list string");
  free(e);
}

static void test_pyroscope_name(void) {
  char err[256], *svc = NULL;
  ingest_labels l = {0};
  CHECK(ingest_pyroscope_name("My_App.v2{__session_id__=8f2c0a1b3d4e5f60,env=prod}", &svc, &l, err, sizeof err) == 0,
        "%s", err);
  CHECK(svc && strcmp(svc, "My_App.v2") == 0, "service %s", svc);
  CHECK(labels_are(&l, "__session_id__=8f2c0a1b3d4e5f60,env=prod"), "labels");
  free(svc);
  ingest_labels_free(&l);
  CHECK(ingest_pyroscope_name(" svc { b = 2 , a=1,, }", &svc, &l, err, sizeof err) == 0, "%s", err);
  CHECK(strcmp(svc, "svc") == 0 && labels_are(&l, "a=1,b=2"), "trimmed and sorted");
  free(svc);
  ingest_labels_free(&l);
  CHECK(ingest_pyroscope_name("svc{a=1,a=2,__name__=x,c=d=e}tail", &svc, &l, err, sizeof err) == 0, "%s", err);
  CHECK(labels_are(&l, "a=2,c=d=e"), "last value, __name__ dropped, '=' in a value, text after '}' ignored");
  free(svc);
  ingest_labels_free(&l);
  CHECK(ingest_pyroscope_name("caddy", &svc, &l, err, sizeof err) == 0 && l.n == 0 && strcmp(svc, "caddy") == 0,
        "no labels");
  free(svc);
  CHECK(ingest_pyroscope_name("caddy{}", &svc, &l, err, sizeof err) == 0 && l.n == 0, "empty labels");
  free(svc);
  static const char *const bad[][2] = {{"{env=prod}", "no service name"},
                                       {"  {a=b}", "no service name"},
                                       {"", "no service name"},
                                       {"svc{a=1", "without a closing"},
                                       {"svc{a}", "has no '='"},
                                       {"svc{a=1, =v}", "empty key"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    svc = (char *)1;
    int rc = ingest_pyroscope_name(bad[i][0], &svc, &l, err, sizeof err);
    CHECK(rc == INGEST_EINVAL && strstr(err, bad[i][1]) && svc == NULL && l.n == 0, "\"%s\": rc %d \"%s\"", bad[i][0],
          rc, err);
  }
}

static void test_pyroscope_time(void) {
  const int64_t now = 1763800000123456789LL;
  char err[256];
  static const struct {
    const char *in;
    int64_t want;
  } ok[] = {
    {"1763800000", 1763800000LL * NS},
    {"1763800000123", 1763800000123LL * 1000000},
    {"1763800000123456", 1763800000123456LL * 1000},
    {"1763800000123456789", 1763800000123456789LL},
    {"1_763_800_000", 1763800000LL * NS},
    {"20230229", 20230229LL * NS}, /* not a date: seconds */
    {"0", 0},
    {"now", now},
    {"", now},
    {"now-1h", now - 3600 * NS},
    {"now-1h30m", now - 5400 * NS},
    {"-15s", now - 15 * NS},
    {"now+2d", now + 2 * 86400 * NS},
    {"now-1M", now - 30LL * 86400 * NS},
    {"now-1min", now - 60 * NS},
    {"now-2w", now - 14LL * 86400 * NS},
    {"now-1y", now - 365LL * 86400 * NS},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int64_t t = -1;
    int rc = ingest_pyroscope_time(ok[i].in, now, &t, err, sizeof err);
    CHECK(rc == 0 && t == ok[i].want, "\"%s\": rc %d t %lld want %lld (%s)", ok[i].in, rc, (long long)t,
          (long long)ok[i].want, rc ? err : "");
  }
  int64_t t = 0;
  CHECK(ingest_pyroscope_time(NULL, now, &t, err, sizeof err) == 0 && t == now, "NULL is now");
  CHECK(ingest_pyroscope_time("20240229", now, &t, err, sizeof err) == 0 &&
            t == chrono_days_from_civil(2024, 2, 29) * 86400 * NS,
        "YYYYMMDD");
  static const char *const bad[] = {"yesterday", "now-", "now-5x", "now5m", "12345678901234567890", "99999999999",
                                    "now-9999999999y", "1.5", "40520101"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(ingest_pyroscope_time(bad[i], now, &t, err, sizeof err) == INGEST_EINVAL && strstr(err, "bad time"),
          "\"%s\" accepted", bad[i]);
}

static const char stc_heap[] = "{\"alloc_objects\":{\"units\":\"objects\"},\"alloc_space\":{\"units\":\"bytes\"},"
                               "\"inuse_objects\":{\"units\":\"objects\",\"aggregation\":\"average\"},"
                               "\"inuse_space\":{\"units\":\"bytes\",\"aggregation\":\"average\"}}";
static const char stc_mutex[] = "{\"contentions\":{\"units\":\"lock_samples\",\"display-name\":\"mutex_count\"},"
                                "\"delay\":{\"units\":\"lock_nanoseconds\",\"display-name\":\"mutex_duration\"}}";
static const char stc_block[] = "{\"contentions\":{\"units\":\"lock_samples\",\"display-name\":\"block_count\"},"
                                "\"delay\":{\"units\":\"lock_nanoseconds\",\"display-name\":\"block_duration\"}}";
static const char stc_mutex_old[] =
  "{\"contentions\":{\"units\":\"lock_samples\",\"display-name\":\"mutex_count\",\"cumulative\":true},"
  "\"delay\":{\"units\":\"lock_nanoseconds\",\"display-name\":\"mutex_duration\",\"cumulative\":true}}";

static void test_stc(void) {
  char err[256];
  ingest_stc s = {0};
  CHECK(ingest_stc_parse((const uint8_t *)stc_heap, strlen(stc_heap), &s, err, sizeof err) == 0, "%s", err);
  CHECK(s.n == 4, "%zu entries", s.n);
  const ingest_stc_entry *e = ingest_stc_find(&s, "inuse_space");
  CHECK(e && strcmp(e->aggregation, "average") == 0 && strcmp(e->units, "bytes") == 0 && !e->cumulative &&
            !e->sampled && strcmp(e->display_name, "") == 0,
        "inuse_space entry");
  CHECK(!ingest_stc_find(&s, "samples"), "absent entry");
  CHECK(!ingest_stc_cumulative(&s, "alloc_space"), "heap STC: alloc not cumulative (omitted = false)");
  ingest_kind h = INGEST_KIND_CPU;
  CHECK(ingest_stc_kind_hint(&s, &h, err, sizeof err) == 0 && h == INGEST_KIND_NONE, "heap STC: no hint");
  ingest_stc_free(&s);
  CHECK(ingest_stc_cumulative(NULL, "alloc_space") && ingest_stc_cumulative(NULL, "alloc_objects") &&
            ingest_stc_cumulative(NULL, "contentions") && ingest_stc_cumulative(NULL, "delay") &&
            !ingest_stc_cumulative(NULL, "inuse_space") && !ingest_stc_cumulative(NULL, "samples") &&
            !ingest_stc_cumulative(NULL, "goroutine"),
        "Pyroscope's default mapping");
  CHECK(ingest_stc_parse((const uint8_t *)stc_mutex, strlen(stc_mutex), &s, err, sizeof err) == 0 &&
            ingest_stc_kind_hint(&s, &h, err, sizeof err) == 0 && h == INGEST_KIND_MUTEX,
        "mutex display-names");
  ingest_stc_free(&s);
  CHECK(ingest_stc_parse((const uint8_t *)stc_block, strlen(stc_block), &s, err, sizeof err) == 0 &&
            ingest_stc_kind_hint(&s, &h, err, sizeof err) == 0 && h == INGEST_KIND_BLOCK,
        "block display-names");
  ingest_stc_free(&s);
  CHECK(ingest_stc_parse((const uint8_t *)stc_mutex_old, strlen(stc_mutex_old), &s, err, sizeof err) == 0 &&
            ingest_stc_cumulative(&s, "contentions") && ingest_stc_cumulative(&s, "delay"),
        "old client's cumulative mutex");
  ingest_stc_free(&s);
  const char *both = "{\"a\":{\"display-name\":\"mutex_count\"},\"b\":{\"display-name\":\"block_count\"}}";
  CHECK(ingest_stc_parse((const uint8_t *)both, strlen(both), &s, err, sizeof err) == 0 &&
            ingest_stc_kind_hint(&s, &h, err, sizeof err) == INGEST_EKIND,
        "mutex and block together");
  ingest_stc_free(&s);
  static const char *const bad[][2] = {{"[]", "object of sample types"},
                                       {"{\"a\":1}", "is not an object"},
                                       {"{\"a\":{\"cumulative\":\"yes\"}}", "not a boolean"},
                                       {"{\"a\":{\"units\":5}}", "not a string"},
                                       {"{", "invalid JSON"},
                                       {"", "invalid JSON"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = ingest_stc_parse((const uint8_t *)bad[i][0], strlen(bad[i][0]), &s, err, sizeof err);
    CHECK(rc == INGEST_EINVAL && strstr(err, bad[i][1]) && s.n == 0, "\"%s\": %d %s", bad[i][0], rc, err);
  }
  CHECK(strcmp(ingest_connect_code(400), "invalid_argument") == 0 &&
            strcmp(ingest_connect_code(413), "invalid_argument") == 0 &&
            strcmp(ingest_connect_code(401), "unauthenticated") == 0 &&
            strcmp(ingest_connect_code(429), "resource_exhausted") == 0 &&
            strcmp(ingest_connect_code(503), "unavailable") == 0 && strcmp(ingest_connect_code(422), "unknown") == 0 &&
            strcmp(ingest_connect_code(500), "internal") == 0 && strcmp(ingest_connect_code(405), "unknown") == 0,
        "connect codes");
}

static void test_profefe(void) {
  char err[256];
  ingest_kind k = INGEST_KIND_NONE;
  CHECK(ingest_profefe_type("cpu", &k, err, sizeof err) == 0 && k == INGEST_KIND_CPU, "cpu");
  CHECK(ingest_profefe_type(" heap ", &k, err, sizeof err) == 0 && k == INGEST_KIND_HEAP, "heap, trimmed");
  CHECK(ingest_profefe_type("threadcreate", &k, err, sizeof err) == 0 && k == INGEST_KIND_THREADCREATE, "tc");
  CHECK(ingest_profefe_type("other", &k, err, sizeof err) == 0 && k == INGEST_KIND_NONE, "other: no hint");
  CHECK(ingest_profefe_type("trace", &k, err, sizeof err) == 1, "trace");
  CHECK(ingest_profefe_type("allocs", &k, err, sizeof err) == INGEST_EINVAL && strstr(err, "unknown profile type"),
        "allocs is not a profefe type");
  CHECK(ingest_profefe_type("", &k, err, sizeof err) == INGEST_EINVAL, "empty type");

  ingest_labels l = {0};
  CHECK(ingest_profefe_labels("region=eu,host=web-1", &l, err, sizeof err) == 0 &&
            labels_are(&l, "host=web-1,region=eu"),
        "sorted");
  ingest_labels_free(&l);
  CHECK(ingest_profefe_labels(",namespace=shop,from=kube-profefe", &l, err, sizeof err) == 0 &&
            labels_are(&l, "from=kube-profefe,namespace=shop"),
        "kprofefe's leading comma");
  ingest_labels_free(&l);
  CHECK(ingest_profefe_labels("a=%41b+c, b = x ,=skip,c,k=2,k=1", &l, err, sizeof err) == 0 &&
            labels_are(&l, "a=Ab c,b=x,c=,k=2,k=1"),
        "unescaped, trimmed, empty keys skipped, no '=', repeated keys kept in order");
  ingest_labels_free(&l);
  CHECK(ingest_profefe_labels("a=%g", &l, err, sizeof err) == INGEST_EINVAL && l.n == 0, "bad escape");
  CHECK(ingest_profefe_labels(NULL, &l, err, sizeof err) == 0 && l.n == 0, "none");

  int64_t ns = 0, ms = 0;
  chrono_parse_rfc3339("2019-05-01T18:45:00Z", &ms);
  CHECK(ingest_profefe_created_at("2019-05-01T18:45:00", &ns, err, sizeof err) == 0 && ns == ms * 1000000, "created_at");
  CHECK(ingest_profefe_created_at("2019-05-01T18:45:00.5", &ns, err, sizeof err) == 0 && ns == (ms + 500) * 1000000,
        "fraction");
  CHECK(ingest_profefe_created_at("2019-05-01 18:45:00", &ns, err, sizeof err) == INGEST_EINVAL, "space");
  CHECK(ingest_profefe_created_at("2019-02-30T00:00:00", &ns, err, sizeof err) == INGEST_EINVAL, "bad date");
  CHECK(ingest_profefe_created_at("2019-05-01T18:45:00Z", &ns, err, sizeof err) == INGEST_EINVAL, "zone");
  CHECK(ingest_profefe_created_at("7406-05-01T18:45:00", &ns, err, sizeof err) == INGEST_EINVAL, "after 2262");

  ingest_profefe_params p;
  CHECK(ingest_profefe_params_parse(NULL, "cpu", NULL, NULL, NULL, &p, err, sizeof err) == INGEST_EINVAL &&
            strstr(err, "missing \"service\""),
        "missing service");
  CHECK(ingest_profefe_params_parse("svc", NULL, NULL, NULL, NULL, &p, err, sizeof err) == INGEST_EINVAL,
        "missing type");
  CHECK(ingest_profefe_params_parse("svc", "gpu", NULL, NULL, NULL, &p, err, sizeof err) == INGEST_EINVAL,
        "unknown type");
  CHECK(ingest_profefe_params_parse("svc", "cpu", "a=1", NULL, "yesterday", &p, err, sizeof err) == INGEST_EINVAL,
        "bad created_at");
  CHECK(ingest_profefe_params_parse("Checkout_API", "block", "host=web-1", "10.0.0.7", "2019-05-01T18:45:00", &p, err,
                                    sizeof err) == 0,
        "%s", err);
  CHECK(strcmp(p.service, "Checkout_API") == 0 && strcmp(p.type, "block") == 0 && p.hint == INGEST_KIND_BLOCK &&
            !p.trace && strcmp(p.instance_id, "10.0.0.7") == 0 && p.has_created_at && p.created_at_ns == ms * 1000000 &&
            labels_are(&p.labels, "host=web-1"),
        "params");
  ingest_profefe_params_free(&p);
}

static void test_appname(void) {
  char app[LAYOUT_APP_MAX + 1], err[256];
  static const char *const cases[][2] = {
    {"My_App.v2", "my-app-v2"}, {"api.v2", "api-v2"}, {"api_v2", "api-v2"}, {"API-V2", "api-v2"},
    {"--Caddy--", "caddy"},     {"a b  c", "a-b-c"},  {"\xc3\x84\xc3\x96-svc", "svc"}, {"checkout-7d9f8b6c5-x2kqp", "checkout-7d9f8b6c5-x2kqp"},
    {"x", "x"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    CHECK(ingest_app_from_service(cases[i][0], app, sizeof app, err, sizeof err) == 0 && strcmp(app, cases[i][1]) == 0,
          "\"%s\" -> \"%s\", want \"%s\"", cases[i][0], app, cases[i][1]);
  CHECK(ingest_app_from_service("___", app, sizeof app, err, sizeof err) == INGEST_EINVAL &&
            strstr(err, "normalises to an empty"),
        "nothing left");
  CHECK(ingest_app_from_service("", app, sizeof app, err, sizeof err) == INGEST_EINVAL, "empty");
  CHECK(ingest_fnv1a32("", 0) == 0x811c9dc5u && ingest_fnv1a32("a", 1) == 0xe40c292cu &&
            ingest_fnv1a32("foobar", 6) == 0xbf9cf968u,
        "FNV-1a test vectors");
  char n63[64], n64[65], n100[101], m100[101];
  memset(n63, 'a', 63), n63[63] = 0;
  memset(n64, 'a', 64), n64[64] = 0;
  memset(n100, 'b', 100), n100[100] = 0;
  memcpy(m100, n100, 101), m100[99] = 'c';
  CHECK(ingest_app_from_service(n63, app, sizeof app, err, sizeof err) == 0 && strcmp(app, n63) == 0, "63 kept");
  char want[80];
  snprintf(want, sizeof want, "%.54s-%08x", n64, ingest_fnv1a32(n64, 64));
  CHECK(ingest_app_from_service(n64, app, sizeof app, err, sizeof err) == 0 && strcmp(app, want) == 0 &&
            strlen(app) == 63 && layout_app_valid(app),
        "64 cut: %s", app);
  char a1[64], a2[64];
  ingest_app_from_service(n100, a1, sizeof a1, err, sizeof err);
  ingest_app_from_service(m100, a2, sizeof a2, err, sizeof err);
  CHECK(strncmp(a1, a2, 55) == 0 && strcmp(a1, a2) != 0, "same prefix, different hash: %s %s", a1, a2);
  /* The hash is of the original, so case matters there, not in the prefix. */
  char u100[101];
  for (int i = 0; i < 100; i++) u100[i] = 'B';
  u100[100] = 0;
  ingest_app_from_service(u100, a2, sizeof a2, err, sizeof err);
  CHECK(strncmp(a1, a2, 54) == 0 && strcmp(a1, a2) != 0, "hash of the original name");
}

static void test_meta(void) {
  char err[256];
  ingest_meta m;
  ingest_meta_init(&m);
  CHECK(m.kind == INGEST_KIND_CPU && m.mode == INGEST_MODE_DELTA && m.source == INGEST_SOURCE_API &&
            ingest_meta_is_default(&m),
        "defaults");
  m.kind = INGEST_KIND_HEAP;
  m.mode = INGEST_MODE_CUMULATIVE;
  m.source = INGEST_SOURCE_PROFEFE;
  m.name = strdup("Checkout_API");
  m.instance = strdup("host=web-1,region=eu");
  ingest_labels_add(&m.labels, "host", 4, "web-1", 5);
  ingest_labels_add(&m.labels, "region", 6, "eu", 2);
  ingest_labels_add(&m.labels, "k", 1, "a", 1);
  ingest_labels_add(&m.labels, "k", 1, "b", 1);
  m.time_ns = 1763800000000000000LL;
  m.received_ns = 1763800000123456789LL;
  CHECK(!ingest_meta_is_default(&m), "not default");
  char *j = NULL;
  CHECK(ingest_meta_to_json(&m, &j, err, sizeof err) == 0, "%s", err);
  const char *want = "{\"kind\":\"heap\",\"mode\":\"cumulative\",\"source\":\"profefe\",\"name\":\"Checkout_API\","
                     "\"labels\":{\"host\":\"web-1\",\"region\":\"eu\",\"k\":[\"a\",\"b\"]},\"instance\":"
                     "\"host=web-1,region=eu\",\"time\":1763800000000000000,\"received\":1763800000123456789}";
  CHECK(j && strcmp(j, want) == 0, "json %s", j ? j : "(null)");
  ingest_meta r;
  CHECK(ingest_meta_from_json(j, strlen(j), &r, err, sizeof err) == 0, "%s", err);
  CHECK(r.kind == INGEST_KIND_HEAP && r.mode == INGEST_MODE_CUMULATIVE && r.source == INGEST_SOURCE_PROFEFE &&
            strcmp(r.name, "Checkout_API") == 0 && strcmp(r.instance, m.instance) == 0 && r.time_ns == m.time_ns &&
            r.received_ns == m.received_ns && labels_are(&r.labels, "host=web-1,region=eu,k=a,k=b"),
        "round trip");
  ingest_meta_free(&r);
  free(j);

  char *c = NULL;
  CHECK(ingest_meta_comment(&m, &c, err, sizeof err) == 0 && strncmp(c, "pgopipe-upload: {\"kind\":\"heap\"", 30) == 0,
        "comment %s", c);
  free(c);

  json_t *payload = json_pack("{s:s,s:s}", "app", "checkout-api", "profileKey", "checkout-api/staging/1-aa");
  CHECK(ingest_meta_payload_set(&m, payload, err, sizeof err) == 0, "%s", err);
  CHECK(json_object_get(payload, "received") == NULL && json_object_get(payload, "time") &&
            strcmp(json_string_value(json_object_get(payload, "app")), "checkout-api") == 0 &&
            strcmp(json_string_value(json_object_get(payload, "kind")), "heap") == 0,
        "payload fields");
  CHECK(ingest_meta_payload_get(payload, &r, err, sizeof err) == 0 && r.kind == INGEST_KIND_HEAP &&
            r.received_ns == 0 && r.time_ns == m.time_ns && labels_are(&r.labels, "host=web-1,region=eu,k=a,k=b"),
        "payload round trip");
  ingest_meta_free(&r);
  json_decref(payload);
  payload = json_pack("{s:s,s:s}", "app", "x", "profileKey", "x/staging/1-aa");
  CHECK(ingest_meta_payload_get(payload, &r, err, sizeof err) == 0 && ingest_meta_is_default(&r),
        "an autopgo event: defaults");
  json_decref(payload);
  ingest_meta cp;
  ingest_meta_init(&cp);
  CHECK(ingest_meta_copy(&cp, &m) == 0 && strcmp(cp.name, m.name) == 0 && cp.labels.n == 4 && cp.name != m.name,
        "deep copy");
  ingest_meta_free(&cp);

  static const char *const bad[] = {"{\"kind\":\"gpu\"}", "[]", "{\"labels\":{\"a\":1}}", "{\"time\":\"x\"}",
                                    "{\"mode\":\"sum\"}", "{\"source\":5}", "{\"labels\":{\"a\":[1]}}", "nope"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = ingest_meta_from_json(bad[i], strlen(bad[i]), &r, err, sizeof err);
    CHECK(rc == INGEST_EINVAL && ingest_meta_is_default(&r), "\"%s\" accepted", bad[i]);
  }
  CHECK(ingest_meta_from_json("{\"kind\":\"allocs\",\"future\":1}", 28, &r, err, sizeof err) == 0 &&
            r.kind == INGEST_KIND_HEAP,
        "allocs is heap; unknown fields ignored");
  ingest_meta_free(&r);
  free(m.name);
  m.name = strdup("bad\xff");
  CHECK(ingest_meta_to_json(&m, &j, err, sizeof err) == INGEST_EINVAL && strstr(err, "UTF-8"), "non-UTF-8");
  ingest_meta_free(&m);

  const int64_t now = 1763800000000000000LL, ret = 168 * 3600 * NS, h = 3600 * NS;
  CHECK(ingest_upload_time(0, now, ret) == now, "0: receipt time");
  CHECK(ingest_upload_time(now - h, now, ret) == now - h, "an hour ago");
  CHECK(ingest_upload_time(now + h / 2, now, ret) == now + h / 2, "half an hour ahead");
  CHECK(ingest_upload_time(now + 2 * h, now, ret) == now, "two hours ahead");
  CHECK(ingest_upload_time(now - ret - 1, now, ret) == now, "before the retention");
  CHECK(ingest_upload_time(now - ret, now, ret) == now - ret, "at the retention");
  CHECK(ingest_upload_time(now - 1000 * h, now, 0) == now - 1000 * h, "no retention");

  ingest_labels l = {0};
  ingest_labels_add(&l, "__session_id__", 14, "8f2c0a1b3d4e5f60", 16);
  ingest_labels_add(&l, "env", 3, "prod", 4);
  char *id = NULL;
  CHECK(ingest_instance_id(INGEST_SOURCE_PYROSCOPE, &l, NULL, &id) == 0 && strcmp(id, "8f2c0a1b3d4e5f60") == 0,
        "pyroscope session");
  free(id);
  CHECK(ingest_instance_id(INGEST_SOURCE_PROFEFE, &l, "", &id) == 0 &&
            strcmp(id, "__session_id__=8f2c0a1b3d4e5f60,env=prod") == 0,
        "profefe labels");
  free(id);
  CHECK(ingest_instance_id(INGEST_SOURCE_PROFEFE, &l, "10.0.0.7", &id) == 0 && strcmp(id, "10.0.0.7") == 0,
        "profefe instance_id");
  free(id);
  ingest_labels_free(&l);
  CHECK(ingest_instance_id(INGEST_SOURCE_PYROSCOPE, &l, NULL, &id) == 0 && *id == 0, "no session");
  free(id);
  CHECK(ingest_instance_id(INGEST_SOURCE_PROFEFE, &l, NULL, &id) == 0 && *id == 0, "anonymous");
  free(id);
  CHECK(ingest_instance_id(INGEST_SOURCE_TRACEWAY, &l, "web-1", &id) == 0 && strcmp(id, "web-1") == 0, "serverName");
  free(id);
  CHECK(ingest_instance_id(INGEST_SOURCE_API, NULL, NULL, &id) == 0 && *id == 0, "native, none");
  free(id);

  CHECK(ingest_mode_for(INGEST_SOURCE_PROFEFE, INGEST_KIND_CPU, 0) == INGEST_MODE_DELTA, "cpu always delta");
  CHECK(ingest_mode_for(INGEST_SOURCE_PROFEFE, INGEST_KIND_HEAP, 0) == INGEST_MODE_CUMULATIVE, "profefe heap");
  CHECK(ingest_mode_for(INGEST_SOURCE_TRACEWAY, INGEST_KIND_HEAP, 1) == INGEST_MODE_CUMULATIVE, "traceway heap");
  CHECK(ingest_mode_for(INGEST_SOURCE_SCRAPER, INGEST_KIND_MUTEX, 1) == INGEST_MODE_CUMULATIVE, "scraper mutex");
  CHECK(ingest_mode_for(INGEST_SOURCE_PYROSCOPE, INGEST_KIND_HEAP, 1) == INGEST_MODE_DELTA, "pyroscope heap");
  CHECK(ingest_mode_for(INGEST_SOURCE_API, INGEST_KIND_HEAP, 0) == INGEST_MODE_DELTA, "native without instance");
  CHECK(ingest_mode_for(INGEST_SOURCE_API, INGEST_KIND_HEAP, 1) == INGEST_MODE_CUMULATIVE, "native with instance");
  ingest_mode md;
  ingest_source sr;
  CHECK(ingest_mode_parse("cumulative", &md) == 0 && md == INGEST_MODE_CUMULATIVE && ingest_mode_parse("x", &md),
        "mode names");
  CHECK(ingest_source_parse("traceway", &sr) == 0 && sr == INGEST_SOURCE_TRACEWAY && ingest_source_parse("x", &sr),
        "source names");
  ingest_kind k;
  CHECK(ingest_kind_parse("allocs", &k) == 0 && k == INGEST_KIND_HEAP && ingest_kind_parse("gpu", &k) &&
            ingest_kind_parse("", &k),
        "kind names");
}

static void test_auth(void) {
  char err[256];
  const char *tok = "s3cret";
  CHECK(ingest_auth_check("Bearer s3cret", tok, err, sizeof err) == 0, "bearer");
  CHECK(ingest_auth_check("bearer   s3cret ", tok, err, sizeof err) == 0, "scheme case, spaces");
  CHECK(ingest_auth_check("Bearer s3cre", tok, err, sizeof err) == INGEST_EAUTH && strstr(err, "wrong token"), "short");
  CHECK(ingest_auth_check("Bearer s3cretX", tok, err, sizeof err) == INGEST_EAUTH, "long");
  CHECK(ingest_auth_check("Bearer", tok, err, sizeof err) == INGEST_EAUTH, "no token");
  CHECK(ingest_auth_check("Basic dXNlcjpzM2NyZXQ=", tok, err, sizeof err) == 0, "basic user:s3cret");
  CHECK(ingest_auth_check("Basic OnMzY3JldA==", tok, err, sizeof err) == 0, "basic :s3cret");
  CHECK(ingest_auth_check("Basic MTIzNDU2OnMzY3JldA", tok, err, sizeof err) == 0, "unpadded 123456:s3cret");
  CHECK(ingest_auth_check("Basic dXNlcjp3cm9uZw==", tok, err, sizeof err) == INGEST_EAUTH && strstr(err, "wrong"),
        "basic wrong");
  CHECK(ingest_auth_check("Basic bm9jb2xvbg==", tok, err, sizeof err) == INGEST_EAUTH && strstr(err, "malformed"),
        "no colon");
  CHECK(ingest_auth_check("Basic !!!", tok, err, sizeof err) == INGEST_EAUTH && strstr(err, "malformed"), "not b64");
  CHECK(ingest_auth_check("Digest x", tok, err, sizeof err) == INGEST_EAUTH && strstr(err, "unsupported"), "digest");
  CHECK(ingest_auth_check(NULL, tok, err, sizeof err) == INGEST_EAUTH && strstr(err, "missing"), "missing");
  CHECK(ingest_auth_check("Bearer ", "", err, sizeof err) == INGEST_EAUTH, "no token configured");
  uint8_t out[16];
  size_t n;
  CHECK(ingest_base64_decode("Zm9vYmFy", 8, out, &n) == 0 && n == 6 && memcmp(out, "foobar", 6) == 0, "foobar");
  CHECK(ingest_base64_decode("Zm9vYg==", 8, out, &n) == 0 && n == 4 && memcmp(out, "foob", 4) == 0, "padded");
  CHECK(ingest_base64_decode("Zm9vYg", 6, out, &n) == 0 && n == 4, "unpadded");
  CHECK(ingest_base64_decode("Z", 1, out, &n) == -1, "one char");
  CHECK(ingest_ct_equal("abc", 3, "abc", 3) && !ingest_ct_equal("abc", 3, "abd", 3) &&
            !ingest_ct_equal("ab", 2, "abc", 3) && !ingest_ct_equal("abcabc", 6, "abc", 3) && ingest_ct_equal("", 0, "", 0),
        "ct_equal");
}

static void test_replies(void) {
  char *s = ingest_reply_pyroscope_error(400, "bad \"name\"");
  CHECK(s && strcmp(s, "{\"code\":\"invalid_argument\",\"message\":\"bad \\\"name\\\"\"}\n") == 0, "pyroscope: %s", s);
  free(s);
  s = ingest_reply_error(INGEST_PYROSCOPE, 401, "wrong token");
  CHECK(s && strcmp(s, "{\"code\":\"unauthenticated\",\"message\":\"wrong token\"}\n") == 0, "pyroscope 401: %s", s);
  free(s);
  s = ingest_reply_profefe_error(400, "bad request: missing \"service\"");
  CHECK(s && strcmp(s, "{\"code\":400,\"error\":\"bad request: missing \\\"service\\\"\"}\n") == 0, "profefe: %s", s);
  free(s);
  ingest_labels l = {0};
  ingest_labels_add(&l, "host", 4, "web-1", 5);
  ingest_labels_add(&l, "region", 6, "eu", 2);
  int64_t ms;
  chrono_parse_rfc3339("2019-05-01T18:45:00.999Z", &ms);
  s = ingest_reply_profefe_ok("bpc00mript33iv4net00", "cpu", "caddy", &l, ms * 1000000 + 123);
  CHECK(s && strcmp(s, "{\"code\":200,\"body\":{\"id\":\"bpc00mript33iv4net00\",\"type\":\"cpu\",\"service\":\"caddy\","
                       "\"labels\":[{\"key\":\"host\",\"value\":\"web-1\"},{\"key\":\"region\",\"value\":\"eu\"}],"
                       "\"created_at\":\"2019-05-01T18:45:00Z\"}}\n") == 0,
        "profefe ok: %s", s);
  free(s);
  ingest_labels_free(&l);
  s = ingest_reply_profefe_ok("x", "heap", "svc", &l, 0);
  CHECK(s && !strstr(s, "labels") && strstr(s, "\"created_at\":\"1970-01-01T00:00:00Z\""), "no labels: %s", s);
  free(s);
  s = ingest_reply_traceway_error(401, "wrong token");
  CHECK(s && *s == 0, "traceway 401 is empty");
  free(s);
  s = ingest_reply_error(INGEST_TRACEWAY, 400, "profiling: parse pprof: x");
  CHECK(s && strcmp(s, "{\"error\":\"profiling: parse pprof: x\"}") == 0, "traceway: %s", s);
  free(s);
  s = ingest_reply_pyroscope_error(400, "name \"bad\xff\xfe\"");
  json_error_t je;
  json_t *j = s ? json_loads(s, 0, &je) : NULL;
  CHECK(j && strstr(json_string_value(json_object_get(j, "message")), "\xef\xbf\xbd"), "invalid UTF-8 replaced: %s", s);
  json_decref(j);
  free(s);
}

static void test_multipart_params(void) {
  char b[INGEST_BOUNDARY_MAX + 1], err[256];
  static const char *const ok[][2] = {{"multipart/form-data; boundary=abc", "abc"},
                                      {"multipart/form-data; boundary=\"a b\"", "a b"},
                                      {"multipart/form-data;boundary=abc;charset=utf-8", "abc"},
                                      {"MULTIPART/FORM-DATA ; charset = utf-8 ; boundary = x", "x"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    CHECK(ingest_multipart_boundary(ok[i][0], b, sizeof b, err, sizeof err) == 0 && strcmp(b, ok[i][1]) == 0,
          "\"%s\": %s", ok[i][0], err);
  static const char *const bad[] = {"multipart/form-data; boundary=\"abc",   "multipart/form-data; boundary=a b",
                                    "multipart/form-data; boundary=\"abc \"", "multipart/form-data; boundary=a; boundary=b",
                                    "multipart/form-data; boundary=\"a\\\"b\"", "multipart/mixed; boundary=a",
                                    "multipart/form-data; boundary=",         "multipart/form-data; =x",
                                    NULL};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(ingest_multipart_boundary(bad[i], b, sizeof b, err, sizeof err) == INGEST_EINVAL, "\"%s\" accepted",
          bad[i] ? bad[i] : "(null)");
  CHECK(ingest_is_multipart("multipart/form-data; boundary=x") && ingest_is_multipart(" Multipart/Form-Data") &&
            !ingest_is_multipart("application/octet-stream") && !ingest_is_multipart(NULL),
        "is_multipart");
}

static int mode_unit(void) {
  test_query();
  test_pyroscope_name();
  test_pyroscope_time();
  test_stc();
  test_profefe();
  test_appname();
  test_meta();
  test_auth();
  test_replies();
  test_multipart_params();
  return check_exit("ingest unit");
}

/* ======================================================================
 * multipart DIR: Go-made bodies
 * ====================================================================== */

static void sha256_hex(const void *b, size_t n, char out[65]) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(b, n, d);
  for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : "";
}

static int mode_multipart(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/cases.json", dir);
  json_error_t je;
  json_t *cases = json_load_file(path, 0, &je);
  CHECK(json_is_array(cases), "%s: %s", path, je.text);
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) {
    const char *name = jstr(c, "name"), *ct = jstr(c, "content_type");
    snprintf(path, sizeof path, "%s/%s", dir, jstr(c, "body"));
    size_t len;
    uint8_t *body = slurp(path, &len);
    CHECK(body != NULL, "%s", path);
    if (!body) continue;
    ingest_form f = {0};
    char err[512] = "";
    int rc = ingest_multipart_parse(ct, body, len, NULL, &f, err, sizeof err);
    bool want_ok = json_is_true(json_object_get(c, "want_ok"));
    bool go_ok = json_is_true(json_object_get(c, "go_ok"));
    const char *differs = jstr(c, "differs");
    if (!*differs) CHECK(want_ok == go_ok, "%s: the case disagrees with Go's reader", name);
    if (!want_ok) {
      const char *we = jstr(c, "want_error");
      CHECK(rc != 0 && strstr(err, we), "%s: want an error containing \"%s\", got rc %d \"%s\"", name, we, rc, err);
    } else {
      CHECK(rc == 0, "%s: rc %d %s", name, rc, err);
      json_t *parts = json_object_get(c, "parts");
      CHECK(rc || json_array_size(parts) == f.nparts, "%s: %zu parts, Go found %zu", name, f.nparts,
            json_array_size(parts));
      size_t k;
      json_t *gp;
      json_array_foreach(parts, k, gp) {
        if (rc || k >= f.nparts) break;
        const ingest_part *p = &f.parts[k];
        char hex[65];
        sha256_hex(p->data, p->len, hex);
        bool has_fn = json_is_true(json_object_get(gp, "has_filename"));
        CHECK(strcmp(p->name, jstr(gp, "name")) == 0, "%s part %zu: name \"%s\", Go \"%s\"", name, k, p->name,
              jstr(gp, "name"));
        CHECK(has_fn == (p->filename != NULL) && (!has_fn || strcmp(p->filename, jstr(gp, "filename")) == 0),
              "%s part %zu: filename \"%s\", Go \"%s\"", name, k, p->filename ? p->filename : "(none)",
              jstr(gp, "filename"));
        CHECK(strcmp(p->content_type ? p->content_type : "", jstr(gp, "content_type")) == 0,
              "%s part %zu: content type \"%s\", Go \"%s\"", name, k, p->content_type ? p->content_type : "",
              jstr(gp, "content_type"));
        CHECK((json_int_t)p->len == json_integer_value(json_object_get(gp, "len")) &&
                  strcmp(hex, jstr(gp, "sha256")) == 0,
              "%s part %zu: data differs (%zu bytes)", name, k, p->len);
      }
      const ingest_part *prof = ingest_form_part(&f, "profile");
      if (strcmp(name, "go-unknown-parts") == 0)
        CHECK(prof && prof->len == 11 && memcmp(prof->data, "the profile", 11) == 0,
              "the form-data part named profile, not the attachment");
    }
    ingest_form_free(&f);
    /* Every truncation of a good body is refused, never read past. */
    if (want_ok) {
      /* Only a cut after the closing delimiter may still be a whole body. */
      char b[INGEST_BOUNDARY_MAX + 1], closing[INGEST_BOUNDARY_MAX + 8];
      ingest_multipart_boundary(ct, b, sizeof b, err, sizeof err);
      snprintf(closing, sizeof closing, "--%s--", b);
      size_t whole = len;
      for (size_t at = 0; at + strlen(closing) <= len; at++)
        if (memcmp(body + at, closing, strlen(closing)) == 0) whole = at + strlen(closing);
      for (size_t cut = 0; cut < len; cut += 1 + len / 64) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, body, cut);
        ingest_form g = {0};
        int trc = ingest_multipart_parse(ct, t, cut, NULL, &g, err, sizeof err);
        CHECK(trc != 0 || cut >= whole, "%s cut at %zu of %zu accepted", name, cut, len);
        ingest_form_free(&g);
        free(t);
      }
    }
    free(body);
  }
  json_decref(cases);
  return check_exit("ingest multipart (Go-made bodies)");
}

/* ======================================================================
 * profiles PROFILES GODIR: real Go profiles
 * ====================================================================== */

static const char *g_profiles, *g_godir;

static pp_profile *real(const char *rel) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", strncmp(rel, "go:", 3) == 0 ? g_godir : g_profiles,
           strncmp(rel, "go:", 3) == 0 ? rel + 3 : rel);
  pp_profile *p = load(path);
  CHECK(p != NULL, "cannot load %s", path);
  return p;
}

static uint8_t *enc(const pp_profile *p, size_t *n) {
  uint8_t *b = NULL;
  char err[256];
  CHECK(pp_encode(p, 1, &b, n, err, sizeof err) == 0, "%s", err);
  return b;
}

static pp_profile *copy(const pp_profile *p) {
  size_t n;
  uint8_t *b = enc(p, &n);
  pp_profile *c = NULL;
  char err[256];
  CHECK(pp_decode(b, n, NULL, &c, err, sizeof err) == 0, "%s", err);
  free(b);
  return c;
}

static pp_profile *merged(pp_profile *a, pp_profile *b) {
  pp_profile *in[2] = {copy(a), copy(b)}, *out = NULL;
  char err[256];
  CHECK(pp_merge(in, 2, &out, err, sizeof err) == 0, "%s", err);
  return out;
}

static void test_kinds(void) {
  static const struct {
    const char *file;
    ingest_kind hint, want;
    const char *gauges; /* per column */
  } ok[] = {
    {"cpu/sort.pb.gz", INGEST_KIND_NONE, INGEST_KIND_CPU, "00"},
    {"cpu/sort.pb.gz", INGEST_KIND_CPU, INGEST_KIND_CPU, "00"},
    {"testdata/sample.cpu.pb.gz", INGEST_KIND_NONE, INGEST_KIND_CPU, "00"},
    {"heap/math_big.pb.gz", INGEST_KIND_NONE, INGEST_KIND_HEAP, "0011"},
    {"heap/math_big.pb.gz", INGEST_KIND_HEAP, INGEST_KIND_HEAP, "0011"},
    {"block/sync.pb.gz", INGEST_KIND_BLOCK, INGEST_KIND_BLOCK, "00"},
    {"mutex/sync.pb.gz", INGEST_KIND_MUTEX, INGEST_KIND_MUTEX, "00"},
    {"block/sync.pb.gz", INGEST_KIND_MUTEX, INGEST_KIND_MUTEX, "00"}, /* the hint decides */
    {"go:goroutine.pb.gz", INGEST_KIND_NONE, INGEST_KIND_GOROUTINE, "1"},
    {"go:threadcreate.pb.gz", INGEST_KIND_THREADCREATE, INGEST_KIND_THREADCREATE, "0"},
  };
  char err[512];
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    pp_profile *p = real(ok[i].file);
    if (!p) continue;
    ingest_kind_info ki;
    int rc = ingest_kind_detect(p, ok[i].hint, &ki, err, sizeof err);
    CHECK(rc == 0 && ki.kind == ok[i].want && ki.ncols == strlen(ok[i].gauges), "%s hint %s: rc %d kind %s %s",
          ok[i].file, ingest_kind_name(ok[i].hint), rc, ingest_kind_name(ki.kind), err);
    for (size_t c = 0; rc == 0 && c < ki.ncols; c++)
      CHECK(ki.gauge[c] == (ok[i].gauges[c] == '1'), "%s column %zu gauge %d", ok[i].file, c, ki.gauge[c]);
    int64_t f[INGEST_MAX_COLUMNS];
    ingest_kind_factors(&ki, -1, 0, f);
    for (size_t c = 0; rc == 0 && c < ki.ncols; c++)
      CHECK(f[c] == (ki.gauge[c] ? 0 : -1), "%s factor %zu", ok[i].file, c);
    pp_free(p);
  }
  static const struct {
    const char *file;
    ingest_kind hint;
    const char *msg;
  } bad[] = {
    {"mutex/sync.pb.gz", INGEST_KIND_NONE, "only a kind hint tells them apart"},
    {"block/sync.pb.gz", INGEST_KIND_HEAP, "contradicts the profile's sample types contentions/count,delay/nanoseconds (a mutex or block profile)"},
    {"heap/math_big.pb.gz", INGEST_KIND_CPU, "kind hint \"cpu\" contradicts"},
    {"cpu/sort.pb.gz", INGEST_KIND_MUTEX, "(a cpu profile)"},
    {"go:goroutine.pb.gz", INGEST_KIND_THREADCREATE, "contradicts"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pp_profile *p = real(bad[i].file);
    if (!p) continue;
    ingest_kind_info ki;
    int rc = ingest_kind_detect(p, bad[i].hint, &ki, err, sizeof err);
    CHECK(rc == INGEST_EKIND && strstr(err, bad[i].msg) && ki.kind == INGEST_KIND_NONE, "%s: rc %d \"%s\"",
          bad[i].file, rc, err);
    pp_free(p);
  }
}

static void test_scale(void) {
  pp_profile *p = real("heap/math_big.pb.gz");
  if (!p) return;
  char err[256];
  size_t nt = pp_sample_type_count(p), ns = pp_sample_count(p);
  int64_t t[4];
  for (size_t i = 0; i < nt; i++) t[i] = pp_total(p, i);
  CHECK(nt == 4 && t[0] > 0 && t[1] > 0, "a heap profile with allocations");
  int64_t two[4] = {2, 2, 2, 2}, keep_alloc[4] = {1, 1, 0, 0}, neg[4] = {-1, -1, -1, -1}, one[4] = {1, 1, 1, 1};
  CHECK(pp_scale_columns(p, two, 3, err, sizeof err) == PP_EINVAL && strstr(err, "3 factors"), "count checked");
  CHECK(pp_scale_columns(p, one, 4, err, sizeof err) == 0 && pp_total(p, 0) == t[0], "identity");
  CHECK(pp_scale_columns(p, two, 4, err, sizeof err) == 0, "%s", err);
  for (size_t i = 0; i < nt; i++) CHECK(pp_total(p, i) == 2 * t[i], "column %zu doubled", i);
  CHECK(pp_scale_columns(p, keep_alloc, 4, err, sizeof err) == 0 && pp_total(p, 0) == 2 * t[0] &&
            pp_total(p, 2) == 0 && pp_total(p, 3) == 0 && pp_sample_count(p) == ns,
        "gauges zeroed, samples kept until a merge");
  CHECK(pp_column_min(p, 0) >= 0 && pp_column_min(p, 9) == 0, "no negative values");
  CHECK(pp_scale_columns(p, neg, 4, err, sizeof err) == 0 && pp_total(p, 1) == -2 * t[1] && pp_column_min(p, 1) < 0,
        "negated");
  pp_free(p);

  /* p + (-1)p: every sample cancels and the merge drops it. */
  p = real("heap/math_big.pb.gz");
  pp_profile *m = copy(p);
  CHECK(pp_scale_columns(m, neg, 4, err, sizeof err) == 0, "%s", err);
  pp_profile *in[2] = {p, m}, *out = NULL;
  CHECK(pp_merge(in, 2, &out, err, sizeof err) == 0 && pp_sample_count(out) == 0, "p - p is empty");
  pp_set_time(out, 42, 7);
  CHECK(pp_time_nanos(out) == 42 && pp_duration_nanos(out) == 7, "set_time");
  pp_free(out);
}

static void test_prev_delta(void) {
  char err[512];
  pp_profile *h1 = real("heap/encoding_json.pb.gz"), *h2 = real("heap/math_big.pb.gz");
  if (!h1 || !h2) return;
  pp_profile *cur = merged(h1, h2);
  pp_set_time(cur, pp_time_nanos(h1) + 10 * NS, 0);
  size_t cn, pn;
  uint8_t *cb = enc(cur, &cn), *pb = enc(h1, &pn);
  pp_profile *d = NULL;
  int reset = -1;
  CHECK(ingest_prev_delta(cb, cn, pb, pn, NULL, NULL, &d, &reset, err, sizeof err) == 0, "%s", err);
  if (d) {
    CHECK(reset == 0, "no restart");
    CHECK(pp_total(d, 0) == pp_total(h2, 0) && pp_total(d, 1) == pp_total(h2, 1), "alloc = profile - prev");
    CHECK(pp_total(d, 2) == pp_total(cur, 2) && pp_total(d, 3) == pp_total(cur, 3), "in-use from profile alone");
    CHECK(pp_time_nanos(d) == pp_time_nanos(h1) && pp_duration_nanos(d) == 10 * NS, "the window: %lld+%lld",
          (long long)pp_time_nanos(d), (long long)pp_duration_nanos(d));
    pp_free(d);
  }
  /* Reversed: values went down, the snapshot counts from zero. */
  CHECK(ingest_prev_delta(pb, pn, cb, cn, NULL, NULL, &d, &reset, err, sizeof err) == 0 && reset == 1 && d &&
            pp_total(d, 1) == pp_total(h1, 1) && pp_total(d, 3) == pp_total(h1, 3),
        "restart");
  pp_free(d);
  /* Unchanged: nothing new allocated, gauges kept. */
  CHECK(ingest_prev_delta(pb, pn, pb, pn, NULL, NULL, &d, &reset, err, sizeof err) == 0 && reset == 0 && d &&
            pp_total(d, 1) == 0 && pp_total(d, 3) == pp_total(h1, 3),
        "no change");
  pp_free(d);
  /* A config that marks nothing cumulative keeps the profile. */
  ingest_stc stc = {0};
  ingest_stc_parse((const uint8_t *)stc_heap, strlen(stc_heap), &stc, err, sizeof err);
  CHECK(ingest_prev_delta(cb, cn, pb, pn, NULL, &stc, &d, &reset, err, sizeof err) == 0 && d &&
            pp_total(d, 1) == pp_total(cur, 1),
        "not cumulative by the config");
  pp_free(d);
  ingest_stc_free(&stc);

  pp_profile *mx = real("mutex/sync.pb.gz");
  pp_profile *m2 = merged(mx, mx);
  size_t mn, m2n;
  uint8_t *mb = enc(mx, &mn), *m2b = enc(m2, &m2n);
  ingest_stc_parse((const uint8_t *)stc_mutex_old, strlen(stc_mutex_old), &stc, err, sizeof err);
  CHECK(ingest_prev_delta(m2b, m2n, mb, mn, NULL, &stc, &d, &reset, err, sizeof err) == 0 && d && reset == 0 &&
            pp_total(d, 0) == pp_total(mx, 0) && pp_total(d, 1) == pp_total(mx, 1),
        "mutex, cumulative by the old client's config");
  pp_free(d);
  ingest_stc_free(&stc);

  pp_profile *cpu = real("cpu/sort.pb.gz");
  size_t un;
  uint8_t *ub = enc(cpu, &un);
  CHECK(ingest_prev_delta(cb, cn, ub, un, NULL, NULL, &d, &reset, err, sizeof err) == INGEST_EKIND && !d &&
            strstr(err, "prev_profile"),
        "incompatible: %s", err);
  CHECK(ingest_prev_delta(cb, cn, (const uint8_t *)"garbage", 7, NULL, NULL, &d, &reset, err, sizeof err) ==
                INGEST_EINVAL &&
            strstr(err, "prev_profile: "),
        "malformed prev: %s", err);
  pp_limits lim = {.max_decoded_bytes = 1024};
  CHECK(ingest_prev_delta(cb, cn, pb, pn, &lim, NULL, &d, &reset, err, sizeof err) == INGEST_ETOOBIG, "limits");
  free(ub);
  pp_free(cpu);
  free(mb);
  free(m2b);
  pp_free(mx);
  pp_free(m2);
  free(cb);
  free(pb);
  pp_free(cur);
  pp_free(h1);
  pp_free(h2);
}

/* ---- whole requests ---- */

typedef struct buf {
  uint8_t *b;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->b = realloc(b->b, b->cap);
  }
  memcpy(b->b + b->n, d, n);
  b->n += n;
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

#define BND "b0undaryXYZ"
static const char *MP = "multipart/form-data; boundary=" BND;

static void mp_part(buf *b, const char *name, const char *filename, const void *d, size_t n) {
  puts_(b, "--" BND "\r\nContent-Disposition: form-data; name=\"");
  puts_(b, name);
  puts_(b, "\"");
  if (filename) {
    puts_(b, "; filename=\"");
    puts_(b, filename);
    puts_(b, "\"");
  }
  puts_(b, "\r\nContent-Type: application/octet-stream\r\n\r\n");
  put(b, d, n);
  puts_(b, "\r\n");
}
static void mp_end(buf *b) { puts_(b, "--" BND "--\r\n"); }

static ingest_config cfg_default(void) {
  ingest_config c;
  memset(&c, 0, sizeof c);
  c.now_ns = chrono_now_ns();
  c.retention_ns = 168 * 3600 * NS;
  return c;
}

/* Runs a request; returns rc and fills up/status/msg. */
static int req(ingest_protocol proto, const char *method, const char *query, const char *ct, const char *auth,
               const void *body, size_t len, const ingest_config *cfg, ingest_upload *up, int *status, char *msg,
               size_t msglen) {
  ingest_request rq = {method, query, ct, NULL, auth, body, len, NULL, NULL};
  return ingest_request_parse(proto, &rq, cfg, up, status, msg, msglen);
}

static void expect_fail(ingest_protocol proto, const char *what, const char *method, const char *query,
                        const char *ct, const char *ce, const char *auth, const void *body, size_t len,
                        const ingest_config *cfg, int want_status, const char *want_msg) {
  ingest_request rq = {method, query, ct, ce, auth, body, len, NULL, NULL};
  ingest_upload up;
  int status = 0;
  char msg[512];
  int rc = ingest_request_parse(proto, &rq, cfg, &up, &status, msg, sizeof msg);
  CHECK(rc != 0 && status == want_status && strstr(msg, want_msg) && up.profile == NULL,
        "%s: rc %d status %d (want %d) \"%s\" (want \"%s\")", what, rc, status, want_status, msg, want_msg);
  ingest_upload_free(&up);
  char *body_out = ingest_reply_error(proto, status, msg);
  CHECK(body_out != NULL, "%s: reply", what);
  if (body_out && !(proto == INGEST_TRACEWAY && status == 401)) {
    json_error_t je;
    json_t *j = json_loads(body_out, 0, &je);
    CHECK(j != NULL, "%s: reply is not JSON: %s", what, body_out);
    json_decref(j);
  }
  free(body_out);
}

static const char *param_lookup(void *ctx, const char *key) { return ingest_labels_get(ctx, key); }

static void test_requests(void) {
  char msg[512];
  int status;
  ingest_upload up;
  ingest_config cfg = cfg_default();
  pp_profile *cpu = real("cpu/compress_flate.pb.gz"), *heap = real("heap/math_big.pb.gz"),
             *mutex = real("mutex/sync.pb.gz"), *empty_mutex = real("mutex/sort.pb.gz");
  if (!cpu || !heap || !mutex || !empty_mutex) return;
  pp_set_time(cpu, cfg.now_ns - 60 * NS, 10 * NS);
  pp_set_time(heap, cfg.now_ns - 50 * NS, 0);
  size_t cn, hn, mn, en;
  uint8_t *cb = enc(cpu, &cn), *hb = enc(heap, &hn), *mb = enc(mutex, &mn), *eb = enc(empty_mutex, &en);
  CHECK(pp_sample_count(empty_mutex) == 0, "mutex/sort.pb.gz has no samples");

  /* Pyroscope, multipart CPU. */
  buf b = {0};
  mp_part(&b, "profile", "profile.pprof", cb, cn);
  mp_end(&b);
  const char *q = "aggregationType=sum&from=1763800000000000000&name=My_App.v2%7B__session_id__%3D8f2c0a1b3d4e5f60"
                  "%2Cenv%3Dprod%7D&sampleRate=100&spyName=gospy&units=samples&until=1763800015000000000";
  int rc = req(INGEST_PYROSCOPE, "POST", q, MP, NULL, b.b, b.n, &cfg, &up, &status, msg, sizeof msg);
  CHECK(rc == 0 && status == 200, "pyroscope cpu: %d %s", status, msg);
  CHECK(strcmp(up.app, "my-app-v2") == 0 && up.kind.kind == INGEST_KIND_CPU && up.meta.kind == INGEST_KIND_CPU &&
            up.meta.mode == INGEST_MODE_DELTA && up.meta.source == INGEST_SOURCE_PYROSCOPE &&
            strcmp(up.meta.name, "My_App.v2") == 0 && strcmp(up.meta.instance, "8f2c0a1b3d4e5f60") == 0 &&
            labels_are(&up.meta.labels, "__session_id__=8f2c0a1b3d4e5f60,env=prod") && !up.empty && !up.modified &&
            up.raw && up.rawlen == cn && memcmp(up.raw, cb, cn) == 0 && up.meta.time_ns == cfg.now_ns - 60 * NS &&
            up.meta.received_ns == cfg.now_ns && up.from_ns == 1763800000000000000LL &&
            up.until_ns == 1763800015000000000LL && up.profile && pp_sample_count(up.profile) == pp_sample_count(cpu),
        "pyroscope cpu upload");
  ingest_upload_free(&up);
  /* The same with a token, by Basic and by Bearer. */
  ingest_config tcfg = cfg;
  tcfg.token = "s3cret";
  CHECK(req(INGEST_PYROSCOPE, "POST", q, MP, "Basic MTIzNDU2OnMzY3JldA==", b.b, b.n, &tcfg, &up, &status, msg,
            sizeof msg) == 0,
        "basic: %s", msg);
  ingest_upload_free(&up);
  CHECK(req(INGEST_PYROSCOPE, "POST", q, MP, "Bearer s3cret", b.b, b.n, &tcfg, &up, &status, msg, sizeof msg) == 0,
        "bearer: %s", msg);
  ingest_upload_free(&up);
  expect_fail(INGEST_PYROSCOPE, "no credentials", "POST", q, MP, NULL, NULL, b.b, b.n, &tcfg, 401, "missing Authorization");
  expect_fail(INGEST_PYROSCOPE, "wrong token", "POST", q, MP, NULL, "Bearer nope", b.b, b.n, &tcfg, 401, "wrong token");
  expect_fail(INGEST_PYROSCOPE, "GET", "GET", q, MP, NULL, NULL, b.b, b.n, &cfg, 405, "method GET not allowed");
  expect_fail(INGEST_PYROSCOPE, "no name", "POST", "from=1", MP, NULL, NULL, b.b, b.n, &cfg, 400, "missing \"name\"");
  expect_fail(INGEST_PYROSCOPE, "empty app", "POST", "name=___%7Ba%3Db%7D", MP, NULL, NULL, b.b, b.n, &cfg, 400,
              "normalises to an empty app name");
  expect_fail(INGEST_PYROSCOPE, "bad from", "POST", "name=x&from=yesterday", MP, NULL, NULL, b.b, b.n, &cfg, 400,
              "bad time");
  expect_fail(INGEST_PYROSCOPE, "jfr", "POST", "name=x&format=jfr", MP, NULL, NULL, b.b, b.n, &cfg, 415,
              "unsupported format");
  expect_fail(INGEST_PYROSCOPE, "folded text", "POST", "name=x", "text/plain", NULL, NULL, "a;b 1", 5, &cfg, 415,
              "unsupported body");
  expect_fail(INGEST_PYROSCOPE, "encoded multipart", "POST", "name=x", MP, "gzip", NULL, b.b, b.n, &cfg, 415,
              "Content-Encoding");
  expect_fail(INGEST_PYROSCOPE, "bad boundary", "POST", "name=x", "multipart/form-data; boundary=\"x", NULL, NULL, b.b,
              b.n, &cfg, 400, "multipart");
  expect_fail(INGEST_PYROSCOPE, "other boundary", "POST", "name=x", "multipart/form-data; boundary=other", NULL, NULL,
              b.b, b.n, &cfg, 400, "does not contain the boundary");
  expect_fail(INGEST_PYROSCOPE, "unterminated", "POST", "name=x", MP, NULL, NULL, b.b, b.n - 10, &cfg, 400,
              "unterminated");
  /* Every truncation fails cleanly. */
  for (size_t cut = 0; cut + 4 < b.n; cut += 1 + b.n / 50) {
    ingest_request rq = {"POST", q, MP, NULL, NULL, b.b, cut, NULL, NULL};
    rc = ingest_request_parse(INGEST_PYROSCOPE, &rq, &cfg, &up, &status, msg, sizeof msg);
    CHECK(rc != 0 && status == 400, "cut at %zu: %d %d %s", cut, rc, status, msg);
    ingest_upload_free(&up);
  }
  buf nb = {0};
  mp_part(&nb, "profil", "profile.pprof", cb, cn);
  mp_end(&nb);
  expect_fail(INGEST_PYROSCOPE, "no profile part", "POST", "name=x", MP, NULL, NULL, nb.b, nb.n, &cfg, 400,
              "missing \"profile\" part");
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", "garbage!", 8);
  mp_end(&nb);
  expect_fail(INGEST_PYROSCOPE, "garbage profile", "POST", "name=x", MP, NULL, NULL, nb.b, nb.n, &cfg, 400,
              "malformed profile");
  free(b.b);

  /* Raw pprof with format=pprof; value parts are accepted like file parts. */
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc&format=pprof", "binary/octet-stream", NULL, cb, cn, &cfg, &up,
            &status, msg, sizeof msg) == 0 &&
            up.kind.kind == INGEST_KIND_CPU && strcmp(up.meta.instance, "") == 0,
        "format=pprof: %s", msg);
  ingest_upload_free(&up);
  nb.n = 0;
  mp_part(&nb, "profile", NULL, hb, hn);
  mp_part(&nb, "sample_type_config", NULL, stc_heap, strlen(stc_heap));
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc", MP, NULL, nb.b, nb.n, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.kind.kind == INGEST_KIND_HEAP && up.meta.mode == INGEST_MODE_DELTA,
        "heap as value parts: %s", msg);
  ingest_upload_free(&up);
  /* A config marking alloc cumulative without prev_profile: cumulative snapshots. */
  const char *cum = "{\"alloc_space\":{\"units\":\"bytes\",\"cumulative\":true}}";
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", hb, hn);
  mp_part(&nb, "sample_type_config", "sample_type_config.json", cum, strlen(cum));
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc", MP, NULL, nb.b, nb.n, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.meta.mode == INGEST_MODE_CUMULATIVE,
        "cumulative by config: %s", msg);
  ingest_upload_free(&up);
  /* A config calling only a gauge column cumulative changes nothing. */
  const char *gcum = "{\"inuse_space\":{\"units\":\"bytes\",\"cumulative\":true}}";
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", hb, hn);
  mp_part(&nb, "sample_type_config", "sample_type_config.json", gcum, strlen(gcum));
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc", MP, NULL, nb.b, nb.n, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.meta.mode == INGEST_MODE_DELTA,
        "a gauge called cumulative: %s", msg);
  ingest_upload_free(&up);
  /* Parameters from the HTTP library instead of a raw query string. */
  {
    ingest_labels params = {0};
    ingest_query_parse("service=Checkout_API&type=heap&labels=region%3Deu", &params, msg, sizeof msg);
    ingest_request rq = {"POST", NULL, NULL, NULL, NULL, hb, hn, param_lookup, &params};
    CHECK(ingest_request_parse(INGEST_PROFEFE, &rq, &cfg, &up, &status, msg, sizeof msg) == 0 &&
              strcmp(up.app, "checkout-api") == 0 && up.kind.kind == INGEST_KIND_HEAP &&
              strcmp(up.meta.instance, "region=eu") == 0,
          "parameters by callback: %s", msg);
    ingest_upload_free(&up);
    ingest_labels_free(&params);
  }
  /* Mutex told apart by display-names; the same bytes as block; a hint against the types. */
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", mb, mn);
  mp_part(&nb, "sample_type_config", "sample_type_config.json", stc_block, strlen(stc_block));
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc", MP, NULL, nb.b, nb.n, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.kind.kind == INGEST_KIND_BLOCK,
        "block by display-name: %s", msg);
  ingest_upload_free(&up);
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", hb, hn);
  mp_part(&nb, "sample_type_config", "sample_type_config.json", stc_mutex, strlen(stc_mutex));
  mp_end(&nb);
  expect_fail(INGEST_PYROSCOPE, "mutex names on a heap", "POST", "name=svc", MP, NULL, NULL, nb.b, nb.n, &cfg, 422,
              "contradicts");
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", mb, mn);
  mp_end(&nb);
  expect_fail(INGEST_PYROSCOPE, "contentions without a hint", "POST", "name=svc", MP, NULL, NULL, nb.b, nb.n, &cfg, 422,
              "only a kind hint");
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", cb, cn);
  mp_part(&nb, "sample_type_config", "sample_type_config.json", "{bad", 4);
  mp_end(&nb);
  expect_fail(INGEST_PYROSCOPE, "bad config", "POST", "name=svc", MP, NULL, NULL, nb.b, nb.n, &cfg, 400,
              "sample_type_config");
  /* Empty: answered, not stored. */
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", eb, en);
  mp_part(&nb, "sample_type_config", "sample_type_config.json", stc_mutex, strlen(stc_mutex));
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc", MP, NULL, nb.b, nb.n, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.empty && !up.profile && status == 200 && up.kind.kind == INGEST_KIND_MUTEX,
        "empty profile: %s", msg);
  ingest_upload_free(&up);
  /* prev_profile. */
  pp_profile *cum2 = merged(heap, heap);
  size_t c2n;
  uint8_t *c2b = enc(cum2, &c2n);
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", c2b, c2n);
  mp_part(&nb, "prev_profile", "profile.pprof", hb, hn);
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=svc&from=1763800000&until=1763800010", MP, NULL, nb.b, nb.n, &cfg, &up,
            &status, msg, sizeof msg) == 0 &&
            up.modified && !up.prev_reset && up.meta.mode == INGEST_MODE_DELTA && up.kind.kind == INGEST_KIND_HEAP &&
            pp_total(up.profile, 1) == pp_total(heap, 1) && pp_total(up.profile, 3) == pp_total(cum2, 3) &&
            up.from_ns == 1763800000LL * NS,
        "prev_profile: %s", msg);
  ingest_upload_free(&up);
  free(c2b);
  pp_free(cum2);
  /* Gzip bombs: 64 MiB of zeros (refused as soon as it is seen not to be a
   * profile), and 64 MiB of well-formed string table entries (refused at the
   * decompressed-size limit). */
  for (int structured = 0; structured < 2; structured++) {
    size_t zn = 64u << 20, entry = 3 + 1024;
    uint8_t *raw = calloc(1, zn);
    for (size_t at = 0; structured && at + entry <= zn; at += entry) {
      raw[at] = 0x32; /* field 6 (string_table), length-delimited */
      raw[at + 1] = 0x80;
      raw[at + 2] = 0x08; /* 1024 */
      memset(raw + at + 3, 'a', 1024);
    }
    uLongf gl = compressBound(zn) + 64;
    uint8_t *gz = malloc(gl);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
    zs.next_in = raw;
    zs.avail_in = (uInt)zn;
    zs.next_out = gz;
    zs.avail_out = (uInt)gl;
    deflate(&zs, Z_FINISH);
    size_t gn = zs.total_out;
    deflateEnd(&zs);
    free(raw);
    CHECK(gn < (1u << 20), "a bomb: %zu compressed bytes", gn);
    ingest_config lc = cfg;
    lc.limits.max_decoded_bytes = 8u << 20;
    int want = structured ? 413 : 400;
    expect_fail(INGEST_TRACEWAY, "gzip bomb", "POST", "service=svc", NULL, NULL, NULL, gz, gn, &lc, want, "");
    nb.n = 0;
    mp_part(&nb, "profile", "profile.pprof", gz, gn);
    mp_end(&nb);
    expect_fail(INGEST_PYROSCOPE, "gzip bomb in a part", "POST", "name=svc", MP, NULL, NULL, nb.b, nb.n, &lc, want, "");
    lc.limits.max_input_bytes = gn / 2;
    expect_fail(INGEST_PROFEFE, "over the input limit", "POST", "service=svc&type=cpu", NULL, NULL, NULL, gz, gn, &lc,
                413, "");
    free(gz);
  }
  /* Collisions: two service names, one app; each upload keeps its name. */
  ingest_upload u2;
  nb.n = 0;
  mp_part(&nb, "profile", "profile.pprof", cb, cn);
  mp_end(&nb);
  CHECK(req(INGEST_PYROSCOPE, "POST", "name=api.v2", MP, NULL, nb.b, nb.n, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            req(INGEST_PYROSCOPE, "POST", "name=api_v2", MP, NULL, nb.b, nb.n, &cfg, &u2, &status, msg, sizeof msg) ==
                0,
        "%s", msg);
  CHECK(strcmp(up.app, "api-v2") == 0 && strcmp(u2.app, "api-v2") == 0 && strcmp(up.meta.name, "api.v2") == 0 &&
            strcmp(u2.meta.name, "api_v2") == 0,
        "api.v2 and api_v2 share app api-v2, names kept");
  char *j1 = NULL, *j2 = NULL;
  ingest_meta_to_json(&up.meta, &j1, msg, sizeof msg);
  ingest_meta_to_json(&u2.meta, &j2, msg, sizeof msg);
  CHECK(j1 && j2 && strstr(j1, "\"name\":\"api.v2\"") && strstr(j2, "\"name\":\"api_v2\""), "names in the records");
  free(j1);
  free(j2);
  ingest_upload_free(&up);
  ingest_upload_free(&u2);
  free(nb.b);

  /* profefe. */
  rc = req(INGEST_PROFEFE, "POST", "labels=region%3Deu%2Chost%3Dweb-1&service=Checkout_API&type=heap", NULL, NULL, hb,
           hn, &cfg, &up, &status, msg, sizeof msg);
  CHECK(rc == 0 && strcmp(up.app, "checkout-api") == 0 && up.kind.kind == INGEST_KIND_HEAP &&
            up.meta.mode == INGEST_MODE_CUMULATIVE && up.meta.source == INGEST_SOURCE_PROFEFE &&
            strcmp(up.meta.instance, "host=web-1,region=eu") == 0 && strcmp(up.reply_type, "heap") == 0 &&
            labels_are(&up.meta.labels, "host=web-1,region=eu"),
        "profefe heap: %s", msg);
  char *ok = ingest_reply_profefe_ok("id1", up.reply_type, up.meta.name, &up.meta.labels, up.meta.time_ns);
  CHECK(ok && strstr(ok, "\"service\":\"Checkout_API\"") && strstr(ok, "\"type\":\"heap\""), "envelope %s", ok);
  free(ok);
  ingest_upload_free(&up);
  CHECK(req(INGEST_PROFEFE, "POST", "labels=&service=caddy&type=cpu", NULL, NULL, cb, cn, &cfg, &up, &status, msg,
            sizeof msg) == 0 &&
            strcmp(up.meta.instance, "") == 0 && up.meta.mode == INGEST_MODE_DELTA,
        "profefe anonymous cpu: %s", msg);
  ingest_upload_free(&up);
  CHECK(req(INGEST_PROFEFE, "POST",
            "instance_id=10.0.0.7&labels=%2Cnamespace%3Dshop%2Cfrom%3Dkube-profefe&service=checkout-1&type=mutex",
            "application/octet-stream", NULL, mb, mn, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.kind.kind == INGEST_KIND_MUTEX && strcmp(up.meta.instance, "10.0.0.7") == 0 &&
            labels_are(&up.meta.labels, "from=kube-profefe,namespace=shop"),
        "kprofefe mutex: %s", msg);
  ingest_upload_free(&up);
  CHECK(req(INGEST_PROFEFE, "POST", "service=s&type=block", NULL, NULL, mb, mn, &cfg, &up, &status, msg, sizeof msg) ==
                0 &&
            up.kind.kind == INGEST_KIND_BLOCK,
        "block by type: %s", msg);
  ingest_upload_free(&up);
  CHECK(req(INGEST_PROFEFE, "POST", "service=s&type=other", NULL, NULL, hb, hn, &cfg, &up, &status, msg, sizeof msg) ==
                0 &&
            up.kind.kind == INGEST_KIND_HEAP,
        "other: kind from the sample types: %s", msg);
  ingest_upload_free(&up);
  expect_fail(INGEST_PROFEFE, "profefe type contradicts", "POST", "service=s&type=heap", NULL, NULL, NULL, cb, cn, &cfg,
              422, "kind hint \"heap\" contradicts");
  expect_fail(INGEST_PROFEFE, "profefe no service", "POST", "type=cpu", NULL, NULL, NULL, cb, cn, &cfg, 400,
              "missing \"service\"");
  expect_fail(INGEST_PROFEFE, "profefe bad type", "POST", "service=s&type=allocs", NULL, NULL, NULL, cb, cn, &cfg, 400,
              "unknown profile type");
  expect_fail(INGEST_PROFEFE, "profefe trace", "POST", "service=s&type=trace", NULL, NULL, NULL, cb, cn, &cfg, 415,
              "trace");
  expect_fail(INGEST_PROFEFE, "profefe garbage", "POST", "service=s&type=cpu", NULL, NULL, NULL, "\x1f\x8b\x08garbage",
              10, &cfg, 400, "");
  expect_fail(INGEST_PROFEFE, "profefe empty body", "POST", "service=s&type=cpu", NULL, NULL, NULL, "", 0, &cfg, 400,
              "empty profile body");
  expect_fail(INGEST_PROFEFE, "profefe PUT", "PUT", "service=s&type=cpu", NULL, NULL, NULL, cb, cn, &cfg, 405, "PUT");
  expect_fail(INGEST_PROFEFE, "profefe bad labels", "POST", "service=s&type=cpu&labels=a%3D%25zz", NULL, NULL, NULL, cb,
              cn, &cfg, 400, "bad escape");
  CHECK(req(INGEST_PROFEFE, "POST", "service=s&type=cpu", NULL, NULL, cb, cn, &cfg, &up, &status, msg, sizeof msg) == 0,
        "gzip-encoded pprof: %s", msg);
  ingest_upload_free(&up);

  /* traceway. */
  rc = req(INGEST_TRACEWAY, "POST", "appVersion=1.4.2&serverName=web-1&service=checkout_api", "application/octet-stream",
           "Bearer s3cret", hb, hn, &tcfg, &up, &status, msg, sizeof msg);
  CHECK(rc == 0 && strcmp(up.app, "checkout-api") == 0 && up.kind.kind == INGEST_KIND_HEAP &&
            up.meta.mode == INGEST_MODE_CUMULATIVE && strcmp(up.meta.instance, "web-1") == 0 &&
            labels_are(&up.meta.labels, "appVersion=1.4.2,serverName=web-1"),
        "traceway heap: %s", msg);
  ingest_upload_free(&up);
  expect_fail(INGEST_TRACEWAY, "traceway no token", "POST", "service=s", NULL, NULL, NULL, cb, cn, &tcfg, 401, "missing");
  expect_fail(INGEST_TRACEWAY, "traceway no service", "POST", "serverName=x", NULL, NULL, NULL, cb, cn, &cfg, 400,
              "missing \"service\"");
  expect_fail(INGEST_TRACEWAY, "traceway mutex", "POST", "service=s", NULL, NULL, NULL, mb, mn, &cfg, 422,
              "only a kind hint");
  expect_fail(INGEST_TRACEWAY, "traceway garbage", "POST", "service=s", NULL, NULL, NULL, "not a profile at all", 20,
              &cfg, 400, "malformed");
  {
    char *e401 = ingest_reply_error(INGEST_TRACEWAY, 401, "x");
    CHECK(e401 && !*e401, "traceway 401: empty body");
    free(e401);
  }

  /* pgopipe's own comments are removed from uploads. */
  pp_profile *forged = copy(cpu);
  pp_add_comment(forged, "pgopipe-upload: {\"kind\":\"heap\"}");
  pp_add_comment(forged, "pgopipe-merged-staged: x");
  pp_add_comment(forged, "keep me");
  size_t fn;
  uint8_t *fb = enc(forged, &fn);
  CHECK(req(INGEST_TRACEWAY, "POST", "service=s", NULL, NULL, fb, fn, &cfg, &up, &status, msg, sizeof msg) == 0 &&
            up.modified && pp_comment_count(up.profile) == 1 && strcmp(pp_comment(up.profile, 0), "keep me") == 0,
        "reserved comments removed: %s", msg);
  ingest_meta found_meta;
  int found = -1;
  CHECK(up.profile && ingest_meta_from_profile(up.profile, &found_meta, &found, msg, sizeof msg) == 0 && found == 0,
        "no record left");
  /* The record a server adds is found again. */
  char *comment = NULL;
  ingest_meta_comment(&up.meta, &comment, msg, sizeof msg);
  pp_add_comment(up.profile, comment);
  free(comment);
  CHECK(ingest_meta_from_profile(up.profile, &found_meta, &found, msg, sizeof msg) == 0 && found == 1 &&
            found_meta.source == INGEST_SOURCE_TRACEWAY && strcmp(found_meta.name, "s") == 0,
        "record read back");
  ingest_meta_free(&found_meta);
  ingest_upload_free(&up);
  free(fb);
  pp_free(forged);

  /* The upload time falls back to the receipt time out of range. */
  ingest_config late = cfg;
  late.now_ns = cfg.now_ns + 1000 * 3600 * NS;
  CHECK(req(INGEST_TRACEWAY, "POST", "service=s", NULL, NULL, cb, cn, &late, &up, &status, msg, sizeof msg) == 0 &&
            up.meta.time_ns == late.now_ns,
        "old profile: receipt time");
  ingest_upload_free(&up);

  free(cb);
  free(hb);
  free(mb);
  free(eb);
  pp_free(cpu);
  pp_free(heap);
  pp_free(mutex);
  pp_free(empty_mutex);
}

static int mode_profiles(const char *profiles, const char *godir) {
  g_profiles = profiles;
  g_godir = godir;
  test_kinds();
  test_scale();
  test_prev_delta();
  test_requests();
  return check_exit("ingest profiles (real Go profiles)");
}

/* ======================================================================
 * capture DIR [TOKEN]: what the agent emulator sent
 * ====================================================================== */

/* The first value of a header (case-insensitive name) in a capture, or NULL. */
static const char *header(json_t *cap, const char *name) {
  json_t *h = json_object_get(cap, "headers");
  const char *k;
  json_t *v;
  json_object_foreach(h, k, v) {
    if (strcasecmp(k, name) == 0 && json_array_size(v) > 0) return json_string_value(json_array_get(v, 0));
  }
  return NULL;
}

/* The push with this body and query (pushes run concurrently, so captures
 * are numbered in arrival order, not in the manifest's). */
static json_t *find_push(json_t *man, const char *sha, const char *query) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(man, "pushes"), i, p) {
    if (strcmp(jstr(p, "body_sha256"), sha) == 0 && strcmp(jstr(p, "query"), query) == 0) return p;
  }
  return NULL;
}

static bool labels_match(const ingest_labels *l, json_t *want) {
  if (json_array_size(want) != l->n) return false;
  for (size_t i = 0; i < l->n; i++) {
    json_t *w = json_array_get(want, i);
    if (strcmp(l->v[i].key, jstr(w, "key")) != 0 || strcmp(l->v[i].value, jstr(w, "value")) != 0) return false;
  }
  return true;
}

/* A cumulative push, kept for the per-instance delta chain. */
typedef struct stash {
  int seq;
  pp_profile *p;
  ingest_kind_info ki;
  char key[600]; /* app/kind/instance */
  bool reset;
  char contribution[512];
} stash;

static int by_seq(const void *a, const void *b) { return ((const stash *)a)->seq - ((const stash *)b)->seq; }

/* Keeps the counter columns (factor 1) or subtracts them (-1); gauges 0.
 * Then compacts (a merge of one), which drops the samples left zero. */
static pp_profile *counter_part(const pp_profile *p, const ingest_kind_info *ki, int64_t sign) {
  pp_profile *c = copy(p), *out = NULL;
  int64_t f[INGEST_MAX_COLUMNS];
  char err[256];
  ingest_kind_factors(ki, sign, 0, f);
  CHECK(pp_scale_columns(c, f, ki->ncols, err, sizeof err) == 0, "%s", err);
  if (sign < 0) return c;
  CHECK(pp_merge(&c, 1, &out, err, sizeof err) == 0, "%s", err);
  return out;
}

/*
 * The per-instance deltas of cumulative snapshots (design §4), in push
 * order: U - S(i) on the counter columns, or U alone when there is no S(i)
 * or a counter value went down (a restart). Each must equal the emulator's
 * expectation (written to ours/ and listed in pairs.txt for `agents
 * compare`), and a restart must be seen exactly where the emulator made one.
 */
static size_t delta_chain(stash *st, size_t n, const char *dir, FILE *pairs) {
  qsort(st, n, sizeof *st, by_seq);
  size_t checked = 0;
  for (size_t i = 0; i < n; i++) {
    const stash *prev = NULL;
    for (size_t j = i; j-- > 0;)
      if (strcmp(st[j].key, st[i].key) == 0) {
        prev = &st[j];
        break;
      }
    pp_profile *c = NULL;
    bool down = true;
    char err[256];
    if (prev) {
      pp_profile *in[2] = {counter_part(st[i].p, &st[i].ki, 1), counter_part(prev->p, &prev->ki, -1)};
      CHECK(pp_merge(in, 2, &c, err, sizeof err) == 0, "%s", err);
      down = false;
      for (size_t k = 0; c && k < st[i].ki.ncols; k++)
        if (!st[i].ki.gauge[k] && pp_column_min(c, k) < 0) down = true;
      if (down) {
        pp_free(c);
        c = NULL;
      }
    }
    if (!c) c = counter_part(st[i].p, &st[i].ki, 1);
    CHECK(down == st[i].reset, "push %d (%s): restart %s, the emulator says %s", st[i].seq, st[i].key,
          down ? "seen" : "not seen", st[i].reset ? "there is one" : "there is none");
    char op[4096];
    snprintf(op, sizeof op, "%s/ours/c%04d.pb.gz", dir, st[i].seq);
    size_t on;
    uint8_t *ob = c ? enc(c, &on) : NULL;
    CHECK(ob && spit(op, ob, on) == 0, "%s", op);
    if (pairs) fprintf(pairs, "%s/%s %s\n", dir, st[i].contribution, op);
    free(ob);
    pp_free(c);
    checked++;
  }
  return checked;
}

static int mode_capture(const char *dir, const char *token) {
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  json_error_t je;
  json_t *man = json_load_file(path, 0, &je);
  CHECK(json_is_object(man), "%s: %s", path, je.text);
  if (!man) return check_exit("ingest capture");
  const char *scenario = jstr(man, "scenario");
  snprintf(path, sizeof path, "%s/ours", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/ours/pairs.txt", dir);
  FILE *pairs = fopen(path, "w");
  CHECK(pairs != NULL, "%s", path);
  size_t ncap = 0, nexpect = 0, nstash = 0;
  stash *st = calloc(512, sizeof *st);
  for (int n = 1;; n++) {
    snprintf(path, sizeof path, "%s/capture/%04d.json", dir, n);
    json_t *cap = json_load_file(path, 0, &je);
    if (!cap) break;
    ncap++;
    snprintf(path, sizeof path, "%s/capture/%04d.body", dir, n);
    size_t len = 0;
    uint8_t *body = slurp(path, &len);
    char hex[65];
    sha256_hex(body ? (const void *)body : "", len, hex);
    CHECK(body && strcmp(hex, jstr(cap, "body_sha256")) == 0 &&
              (json_int_t)len == json_integer_value(json_object_get(cap, "content_length")),
          "capture %d: body as sent", n);
    json_t *push = find_push(man, hex, jstr(cap, "query"));
    CHECK(push != NULL, "capture %d: no push in the manifest has this body", n);
    if (!push || !body) {
      free(body);
      json_decref(cap);
      continue;
    }
    const char *proto_s = jstr(push, "protocol"), *path_s = jstr(cap, "path");
    ingest_protocol proto = strcmp(proto_s, "pyroscope") == 0 ? INGEST_PYROSCOPE
                            : strcmp(proto_s, "profefe") == 0 ? INGEST_PROFEFE
                                                              : INGEST_TRACEWAY;
    const char *ua = header(cap, "User-Agent"), *ae = header(cap, "Accept-Encoding");
    const char *ct = header(cap, "Content-Type"), *auth = header(cap, "Authorization");
    /* The shape every Go agent's request has. */
    CHECK(strcmp(jstr(cap, "method"), "POST") == 0 && ua && strcmp(ua, "Go-http-client/1.1") == 0 && ae &&
              strcmp(ae, "gzip") == 0 && !header(cap, "Content-Encoding") && !header(cap, "Transfer-Encoding"),
          "capture %d: method, User-Agent, Accept-Encoding, no Content-Encoding", n);
    CHECK(len > 2 && (proto == INGEST_PYROSCOPE || (body[0] == 0x1f && body[1] == 0x8b)),
          "capture %d: a gzipped pprof body", n);
    ingest_form form = {0};
    char msg[512];
    if (proto == INGEST_PYROSCOPE) {
      CHECK(strcmp(path_s, "/ingest") == 0 && ingest_is_multipart(ct), "capture %d: POST /ingest multipart", n);
      CHECK(ingest_multipart_parse(ct, body, len, NULL, &form, msg, sizeof msg) == 0, "capture %d: %s", n, msg);
      const ingest_part *p = ingest_form_part(&form, "profile");
      CHECK(p && p->filename && strcmp(p->filename, "profile.pprof") == 0 && p->content_type &&
                strcmp(p->content_type, "application/octet-stream") == 0 && p->len > 2 && p->data[0] == 0x1f &&
                p->data[1] == 0x8b,
            "capture %d: profile part (profile.pprof, gzipped)", n);
      const ingest_part *s = ingest_form_part(&form, "sample_type_config");
      CHECK(!s || (s->filename && strcmp(s->filename, "sample_type_config.json") == 0 && s->content_type &&
                   strcmp(s->content_type, "application/octet-stream") == 0),
            "capture %d: sample_type_config part", n);
      CHECK((s != NULL) == (strcmp(jstr(push, "kind"), "cpu") != 0 && strcmp(scenario, "pyroscope") == 0) ||
                strcmp(scenario, "pyroscope-old") == 0,
            "capture %d: sample_type_config exactly for non-CPU kinds of v1", n);
      const char *q = jstr(cap, "query");
      CHECK(strstr(q, "aggregationType=") && strstr(q, "from=") && strstr(q, "name=") && strstr(q, "sampleRate=") &&
                strstr(q, "spyName=gospy") && strstr(q, "units=") && strstr(q, "until="),
            "capture %d: every query parameter", n);
      ingest_form_free(&form);
    } else if (proto == INGEST_PROFEFE) {
      CHECK(strcmp(path_s, "/api/0/profiles") == 0, "capture %d: path", n);
      if (strcmp(scenario, "profefe") == 0)
        CHECK(!ct && !auth && strstr(jstr(cap, "query"), "labels="), "capture %d: the agent's bare request", n);
      else
        CHECK(ct && strcmp(ct, "application/octet-stream") == 0 && header(cap, "UserAgent") &&
                  strstr(jstr(cap, "query"), "instance_id=") && strstr(jstr(cap, "query"), "labels=%2C"),
              "capture %d: kprofefe's request", n);
    } else {
      CHECK(strcmp(path_s, "/api/profiles/ingest") == 0 && ct && strcmp(ct, "application/octet-stream") == 0 && auth &&
                strncmp(auth, "Bearer ", 7) == 0,
            "capture %d: traceway's request", n);
    }

    ingest_config cfg = cfg_default();
    cfg.token = token;
    ingest_request rq = {jstr(cap, "method"), jstr(cap, "query"), ct, header(cap, "Content-Encoding"), auth, body,
                         len, NULL, NULL};
    ingest_upload up;
    int status = 0;
    int rc = ingest_request_parse(proto, &rq, &cfg, &up, &status, msg, sizeof msg);
    const char *kind = jstr(push, "kind");
    CHECK(rc == 0 && status == 200, "capture %d (%s %s): %d %s", n, proto_s, kind, status, msg);
    if (rc == 0) {
      CHECK(strcmp(up.app, jstr(push, "app")) == 0, "capture %d: app %s, want %s", n, up.app, jstr(push, "app"));
      CHECK(strcmp(ingest_kind_name(up.meta.kind), kind) == 0, "capture %d: kind %s, want %s", n,
            ingest_kind_name(up.meta.kind), kind);
      CHECK(strcmp(ingest_mode_name(up.meta.mode), jstr(push, "mode")) == 0, "capture %d (%s): mode %s, want %s", n,
            kind, ingest_mode_name(up.meta.mode), jstr(push, "mode"));
      CHECK(strcmp(up.meta.instance, jstr(push, "instance")) == 0, "capture %d: instance \"%s\", want \"%s\"", n,
            up.meta.instance, jstr(push, "instance"));
      CHECK(strcmp(up.meta.name, jstr(push, "name")) == 0, "capture %d: name %s", n, up.meta.name);
      CHECK(labels_match(&up.meta.labels, json_object_get(push, "labels")), "capture %d: labels", n);
      CHECK(up.meta.time_ns > cfg.now_ns - 3600 * NS && up.meta.time_ns <= cfg.now_ns,
            "capture %d: the profile's own time", n);
      CHECK(!up.empty && up.profile, "capture %d: not empty", n);
      if (proto == INGEST_PYROSCOPE && strcmp(scenario, "pyroscope") == 0)
        CHECK(up.from_ns > cfg.now_ns - 3600 * NS && up.until_ns - up.from_ns == 15 * NS,
              "capture %d: from/until in ns", n);
      if (strcmp(scenario, "pyroscope-old") == 0)
        CHECK(up.until_ns - up.from_ns == 10 * NS && up.from_ns % NS == 0, "capture %d: from/until in s", n);
      char *j = NULL;
      CHECK(ingest_meta_to_json(&up.meta, &j, msg, sizeof msg) == 0, "capture %d: record %s", n, msg);
      ingest_meta back;
      CHECK(j && ingest_meta_from_json(j, strlen(j), &back, msg, sizeof msg) == 0 && back.kind == up.meta.kind &&
                strcmp(back.instance ? back.instance : "", up.meta.instance) == 0,
            "capture %d: record round trip", n);
      ingest_meta_free(&back);
      free(j);
      const char *expect = jstr(push, "expect");
      if (*expect && up.profile) {
        size_t on;
        uint8_t *ob = enc(up.profile, &on);
        char op[4096];
        snprintf(op, sizeof op, "%s/ours/%04d.pb.gz", dir, n);
        CHECK(ob && spit(op, ob, on) == 0, "%s", op);
        if (pairs) fprintf(pairs, "%s/%s %s\n", dir, expect, op);
        free(ob);
        nexpect++;
        CHECK(up.modified, "capture %d: transformed", n);
      }
      const char *contribution = jstr(push, "contribution");
      if (*contribution && up.profile && nstash < 512) {
        stash *x = &st[nstash++];
        x->seq = (int)json_integer_value(json_object_get(push, "seq"));
        x->p = copy(up.profile);
        x->ki = up.kind;
        snprintf(x->key, sizeof x->key, "%s/%s/%s", up.app, kind, up.meta.instance);
        x->reset = json_is_true(json_object_get(push, "reset"));
        snprintf(x->contribution, sizeof x->contribution, "%s", contribution);
      }
    }
    ingest_upload_free(&up);
    /* Wrong credentials, and half a body, are refused. */
    if (token && *token) {
      cfg.token = "not-the-token";
      rc = ingest_request_parse(proto, &rq, &cfg, &up, &status, msg, sizeof msg);
      CHECK(rc == INGEST_EAUTH && status == 401, "capture %d: wrong token accepted", n);
      ingest_upload_free(&up);
      cfg.token = token;
    }
    rq.len = len / 2;
    rc = ingest_request_parse(proto, &rq, &cfg, &up, &status, msg, sizeof msg);
    CHECK(rc != 0 && status == 400, "capture %d: half a body: %d %s", n, status, msg);
    ingest_upload_free(&up);
    free(body);
    json_decref(cap);
  }
  size_t nchain = delta_chain(st, nstash, dir, pairs);
  for (size_t i = 0; i < nstash; i++) pp_free(st[i].p);
  free(st);
  if (strcmp(scenario, "profefe") == 0 || strcmp(scenario, "kprofefe") == 0 || strcmp(scenario, "traceway") == 0)
    CHECK(nchain > 0, "cumulative pushes checked");
  size_t npush = json_array_size(json_object_get(man, "pushes"));
  CHECK(ncap == npush && ncap > 0, "%zu captures for %zu pushes", ncap, npush);
  if (strcmp(scenario, "pyroscope-old") == 0) CHECK(nexpect > 0, "transformed pushes checked");
  if (pairs) fclose(pairs);
  printf("%s: %zu requests checked, %zu transformed profiles and %zu per-instance deltas written\n", scenario, ncap,
         nexpect, nchain);
  json_decref(man);
  return check_exit("ingest capture");
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "unit") == 0) return mode_unit();
  if (argc == 3 && strcmp(argv[1], "multipart") == 0) return mode_multipart(argv[2]);
  if (argc == 4 && strcmp(argv[1], "profiles") == 0) return mode_profiles(argv[2], argv[3]);
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "capture") == 0) return mode_capture(argv[2], argc == 4 ? argv[3] : NULL);
  fprintf(stderr, "usage: test_ingest unit | multipart DIR | profiles PROFILES GODIR | capture DIR [TOKEN]\n");
  return 2;
}
