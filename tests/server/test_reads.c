/*
 * test_reads.c — integration tests of the read side of pgopipe-server
 * (GET/HEAD /api/profile/{app} with kind, format and keep; GET /api/profile)
 * and of the `pgopipe download` / `list` / `clean` verbs on it: a real server
 * process over real HTTP, the file store or S3 (s3rver behind the SigV4
 * checker), real Go profiles with start lines (gen-reads-profiles.sh), and
 * the PGO oracle written in Go from PGO.md (tests/pgo/oracle) as the judge
 * of format=pgo and format=preprofile. Bases are staged directly in the
 * store with the blob API, as the worker would write them.
 *
 *   test_reads formats BIN PROFILES WORKDIR BLOB_URL   every format, kind, ETag/304,
 *                                                      gzip, HEAD, bad parameters, listing
 *   test_reads cache BIN PROFILES WORKDIR BLOB_URL     the output cache, through /metrics
 *   test_reads client BIN PROFILES WORKDIR BLOB_URL    pgopipe download/list/clean
 *
 * Environment: ORACLE (the oracle binary), PGOPIPE_CLI (the pgopipe binary,
 * client mode), KAFKA_BROKERS (with-kafka.sh; the server announces on Kafka and
 * runs no worker, so nothing rewrites the staged bases).
 */
#include "harness.h"

#include "blob.h"
#include "pprof.h"

#include <dirent.h>
#include <pthread.h>
#include <zlib.h>

CHECK_DEFINE_COUNTERS

static const char *BIN, *PROFILES, *WORKDIR, *BLOB_URL, *ORACLE;
static const char *TOKEN = "reads-token-for-tests";
static const char *auth_hdr[] = {"Authorization: Bearer reads-token-for-tests", NULL};

typedef struct file {
  uint8_t *data;
  size_t len;
  char path[1024];
} file;

static file cpu_sl, cpu2_sl, labels, cpu_old, heap;

static void load(file *f, const char *name) {
  snprintf(f->path, sizeof f->path, "%s/%s", PROFILES, name);
  f->data = t_read_file(f->path, &f->len);
  if (!f->data) {
    fprintf(stderr, "missing %s (run gen-reads-profiles.sh)\n", f->path);
    exit(1);
  }
}

static void put(blob_store *bs, const char *key, const file *f) {
  char err[512];
  CHECK_EQ(blob_put(bs, key, f->data, f->len, err, sizeof err), 0);
}

/* Starts the server on BLOB_URL announcing on a fresh Kafka topic, with the
 * extra flags and environment given. */
static int start(srv *s, const char *name, char *const *extra, char *const *extra_env) {
  static char blobarg[1200], writer[128], tok[128];
  char log[400];
  snprintf(blobarg, sizeof blobarg, "--blob-store-url=%s", BLOB_URL);
  snprintf(writer, sizeof writer, "--event-writer-url=kafka://reads%lld", (long long)t_now_ms());
  snprintf(tok, sizeof tok, "PGOPIPE_AUTH_TOKEN=%s", TOKEN);
  snprintf(log, sizeof log, "%s/server-%s.log", WORKDIR, name);
  char *args[32] = {"-p", "0", blobarg, writer};
  int n = 4;
  for (int i = 0; extra && extra[i] && n < 31; i++) args[n++] = extra[i];
  args[n] = NULL;
  char *env[8] = {tok};
  int m = 1;
  for (int i = 0; extra_env && extra_env[i] && m < 7; i++) env[m++] = extra_env[i];
  env[m] = NULL;
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

static int write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int bad = fwrite(data, 1, len, f) != len;
  bad |= fclose(f) != 0;
  return bad ? -1 : 0;
}

/* Output of `ORACLE args...` (stdout and stderr); exit status in *rc. */
static char *oracle(char *const *args, int *rc) {
  char *out = NULL;
  char gocache[1200];
  snprintf(gocache, sizeof gocache, "GOCACHE=%s/.gocache", WORKDIR);
  char *env[] = {gocache, NULL};
  *rc = run_capture(ORACLE, args, env, &out);
  return out;
}

/* The oracle's edge map of a file (every-frame walk with all). */
static char *edges_of(const char *path, int all) {
  int rc;
  char *args[] = {"edges", all ? "-all" : (char *)(uintptr_t)path, all ? (char *)(uintptr_t)path : NULL, NULL};
  char *out = oracle(args, &rc);
  CHECK_EQ(rc, 0);
  return out;
}

/* The edge map of an HTTP body, as the oracle (Go's parser) reads it. */
static char *edges_of_body(const http_resp *r, int all) {
  char path[1100];
  snprintf(path, sizeof path, "%s/body.%d.pgo", WORKDIR, all);
  CHECK_EQ(write_file(path, r->body, r->len), 0);
  return edges_of(path, all);
}

/* gunzip of a gzip body (NULL when it is not one). */
static char *gunzip(const char *in, size_t inlen, size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return NULL;
  size_t cap = inlen * 8 + 1024, n = 0;
  char *out = malloc(cap);
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)inlen;
  int zr = Z_OK;
  while (out && zr == Z_OK) {
    if (n == cap) {
      char *o = realloc(out, cap *= 2);
      if (!o) break;
      out = o;
    }
    z.next_out = (Bytef *)out + n;
    z.avail_out = (uInt)(cap - n);
    zr = inflate(&z, Z_NO_FLUSH);
    n = cap - z.avail_out;
  }
  inflateEnd(&z);
  if (zr != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  *outlen = n;
  return out;
}

/* pp_total of the profile's default sample type. */
static int64_t total_of(const file *f) {
  pp_profile *p = NULL;
  char err[256];
  if (pp_decode(f->data, f->len, NULL, &p, err, sizeof err) != 0) {
    fprintf(stderr, "decode %s: %s\n", f->path, err);
    return -1;
  }
  int64_t t = pp_total(p, pp_default_value_index(p));
  pp_free(p);
  return t;
}

/* Sum of the values of folded lines "a;b;c VALUE". -1 on a malformed line. */
static int64_t folded_sum(const char *text, size_t len) {
  int64_t sum = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return -1;
    const char *sp = nl;
    while (sp > p && sp[-1] != ' ') sp--;
    if (sp == p || sp == nl) return -1;
    sum += strtoll(sp, NULL, 10);
    p = nl + 1;
  }
  return sum;
}

/* A metric's value from the /metrics text: the line "SERIES VALUE" (0 when
 * the series does not exist yet). */
static double metric(int port, const char *series) {
  http_resp r = get(port, "/metrics", NULL);
  double v = 0;
  size_t sl = strlen(series);
  const char *p = r.body;
  while (p && *p) {
    if (strncmp(p, series, sl) == 0 && p[sl] == ' ') {
      v = strtod(p + sl + 1, NULL);
      break;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  free(r.body);
  return v;
}

/* Conversions of a format (count of the conversion-time histogram). */
static double conversions(int port, const char *format, const char *encoding) {
  char s[256];
  snprintf(s, sizeof s, "pgopipe_read_conversion_seconds_count{format=\"%s\",encoding=\"%s\"}", format, encoding);
  return metric(port, s);
}

/* Objects in the store (under prefix). */
static int count_objects(blob_store *bs, const char *prefix) {
  blob_iter *it;
  char err[512];
  const char *k;
  blob_info info;
  int n = 0, rc;
  if (blob_list(bs, prefix, &it, err, sizeof err) != 0) return -1;
  while ((rc = blob_iter_next(it, &k, &info, err, sizeof err)) == 1) n++;
  blob_iter_free(it);
  return rc < 0 ? -1 : n;
}

static const char *const FORMATS[] = {"pprof", "pgo", "preprofile", "folded", "speedscope", "chrome"};
#define NFORMATS (sizeof FORMATS / sizeof FORMATS[0])

/* ---- formats ---- */

/* Every format of demo's cpu base: content, headers, ETag/304, HEAD. */
static void check_formats(int port, blob_store *bs) {
  char path[256], v[512], etag[200], err[512], buf[600];
  blob_info info;
  CHECK_EQ(blob_stat(bs, "demo/default.pgo", &info, err, sizeof err), 0);
  int64_t total = total_of(&cpu_sl);
  CHECK(total > 0);

  /* pprof: the stored bytes, byte for byte, the base's own ETag, never encoded */
  const char *gz[] = {"Accept-Encoding: gzip", NULL};
  http_resp r = get(port, "/api/profile/demo?format=pprof", gz);
  CHECK_EQ(r.status, 200);
  CHECK(r.len == cpu_sl.len && memcmp(r.body, cpu_sl.data, r.len) == 0);
  header(&r, "ETag", v, sizeof v);
  CHECK_STR(v, info.etag);
  header(&r, "Content-Type", v, sizeof v);
  CHECK_STR(v, "application/octet-stream");
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"default.pgo\"");
  CHECK(http_resp_header(&r, "Content-Encoding", v, sizeof v) != 0);
  CHECK(http_resp_header(&r, "Vary", v, sizeof v) != 0);
  http_resp r0 = get(port, "/api/profile/demo", NULL); /* no parameters: the same answer */
  CHECK(r0.len == r.len && memcmp(r0.body, r.body, r.len) == 0);
  free(r0.body);
  free(r.body);

  /* pgo: the compiler's edge maps of the base, as Go's parser reads the bytes */
  char *want2 = edges_of(cpu_sl.path, 0), *wantall = edges_of(cpu_sl.path, 1);
  CHECK_CONTAINS(want2, "start_line: 1");
  CHECK(strstr(want2, "edges: 0") == NULL);
  r = get(port, "/api/profile/demo?format=pgo", NULL);
  CHECK_EQ(r.status, 200);
  CHECK(r.len < cpu_sl.len, "format=pgo %zu B, base %zu B", r.len, cpu_sl.len);
  char *got = edges_of_body(&r, 0);
  CHECK_STR(got, want2);
  free(got);
  header(&r, "ETag", v, sizeof v);
  snprintf(buf, sizeof buf, "W/\"%.*s-pgo-keep2\"", (int)strlen(info.etag) - 2, info.etag + 1);
  CHECK_STR(v, buf);
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"default.pgo\"");
  {
    /* go tool pprof reads it */
    char pgo_path[1100], *out = NULL, gocache[1200];
    snprintf(pgo_path, sizeof pgo_path, "%s/served.pgo", WORKDIR);
    CHECK_EQ(write_file(pgo_path, r.body, r.len), 0);
    snprintf(gocache, sizeof gocache, "GOCACHE=%s/.gocache", WORKDIR);
    char *genv[] = {gocache, "HOME=/tmp", NULL};
    char *gargs[] = {"tool", "pprof", "-top", pgo_path, NULL};
    int rc = run_capture("/usr/bin/go", gargs, genv, &out);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "flat%");
    free(out);
  }
  free(r.body);
  r = get(port, "/api/profile/demo?format=pgo&keep=0", NULL);
  CHECK_EQ(r.status, 200);
  got = edges_of_body(&r, 0);
  CHECK_STR(got, want2);
  free(got);
  got = edges_of_body(&r, 1);
  CHECK_STR(got, wantall);
  free(got);
  header(&r, "ETag", v, sizeof v);
  CHECK_CONTAINS(v, "-pgo-keep0\"");
  free(r.body);
  r = get(port, "/api/profile/demo?format=pgo&keep=5", NULL);
  CHECK_EQ(r.status, 200);
  got = edges_of_body(&r, 0);
  CHECK_STR(got, want2);
  free(got);
  free(r.body);
  free(want2);
  free(wantall);

  /* preprofile: byte-identical to the oracle's, gzip-encoded on request */
  int orc;
  char *oargs[] = {"preprofile", cpu_sl.path, NULL};
  char *want_pre = oracle(oargs, &orc);
  CHECK_EQ(orc, 0);
  CHECK(strncmp(want_pre, "GO PREPROFILE V1\n", 17) == 0);
  r = get(port, "/api/profile/demo?format=preprofile", NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, want_pre);
  header(&r, "Content-Type", v, sizeof v);
  CHECK_STR(v, "text/plain; charset=utf-8");
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"default.preprofile\"");
  header(&r, "Vary", v, sizeof v);
  CHECK_STR(v, "Accept-Encoding");
  CHECK(http_resp_header(&r, "Content-Encoding", v, sizeof v) != 0);
  header(&r, "ETag", etag, sizeof etag);
  size_t plain_len = r.len;
  free(r.body);
  const char *accepts[] = {"Accept-Encoding: gzip", "Accept-Encoding: deflate, gzip;q=0.5",
                           "Accept-Encoding: *", "Accept-Encoding: x-gzip"};
  for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++) {
    const char *h[] = {accepts[i], NULL};
    r = get(port, "/api/profile/demo?format=preprofile", h);
    CHECK_EQ(r.status, 200);
    header(&r, "Content-Encoding", v, sizeof v);
    CHECK_STR(v, "gzip");
    header(&r, "Vary", v, sizeof v);
    CHECK_STR(v, "Accept-Encoding");
    header(&r, "ETag", v, sizeof v);
    CHECK_STR(v, etag); /* one weak validator for both encodings */
    size_t ul = 0;
    char *u = gunzip(r.body, r.len, &ul);
    CHECK(u && ul == plain_len && memcmp(u, want_pre, ul) == 0, "%s", accepts[i]);
    CHECK(r.len * 3 < plain_len, "gzip %zu B, plain %zu B", r.len, plain_len);
    free(u);
    free(r.body);
  }
  const char *refusals[] = {"Accept-Encoding: gzip;q=0", "Accept-Encoding: identity", "Accept-Encoding: *, gzip;q=0.0",
                            "Accept-Encoding: br"};
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    const char *h[] = {refusals[i], NULL};
    r = get(port, "/api/profile/demo?format=preprofile", h);
    CHECK_EQ(r.status, 200);
    CHECK(http_resp_header(&r, "Content-Encoding", v, sizeof v) != 0, "%s", refusals[i]);
    CHECK_STR(r.body, want_pre);
    free(r.body);
  }
  free(want_pre);

  /* folded: the values add up to the profile's total */
  r = get(port, "/api/profile/demo?format=folded", NULL);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(folded_sum(r.body, r.len), total);
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"demo.folded\"");
  free(r.body);
  /* with gzip too */
  r = get(port, "/api/profile/demo?format=folded", gz);
  {
    size_t ul = 0;
    char *u = gunzip(r.body, r.len, &ul);
    CHECK(u != NULL);
    if (u) CHECK_EQ(folded_sum(u, ul), total);
    free(u);
  }
  free(r.body);

  /* speedscope: JSON; the default type's weights add up to the total */
  r = get(port, "/api/profile/demo?format=speedscope", NULL);
  CHECK_EQ(r.status, 200);
  header(&r, "Content-Type", v, sizeof v);
  CHECK_STR(v, "application/json");
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"demo.speedscope.json\"");
  {
    json_t *o = json_loads(r.body, 0, NULL);
    CHECK(o != NULL);
    CHECK_CONTAINS(json_string_value(json_object_get(o, "$schema")), "speedscope");
    json_t *ps = json_object_get(o, "profiles");
    json_t *act = json_array_get(ps, (size_t)json_integer_value(json_object_get(o, "activeProfileIndex")));
    json_t *w = json_object_get(act, "weights");
    int64_t sum = 0;
    for (size_t i = 0; i < json_array_size(w); i++) sum += json_integer_value(json_array_get(w, i));
    CHECK(json_array_size(ps) == 2);
    CHECK_EQ(sum, total);
    json_decref(o);
  }
  free(r.body);

  /* chrome: JSON; consistent nodes, one time delta per sample */
  r = get(port, "/api/profile/demo?format=chrome", NULL);
  CHECK_EQ(r.status, 200);
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"demo.cpuprofile\"");
  {
    json_t *o = json_loads(r.body, 0, NULL);
    CHECK(o != NULL);
    json_t *nodes = json_object_get(o, "nodes"), *samples = json_object_get(o, "samples");
    CHECK(json_array_size(nodes) > 1);
    CHECK(json_array_size(samples) > 0);
    CHECK_EQ(json_array_size(samples), json_array_size(json_object_get(o, "timeDeltas")));
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(nodes, 0), "id")), 1);
    size_t bad = 0, n = json_array_size(nodes);
    for (size_t i = 0; i < json_array_size(samples); i++) {
      json_int_t id = json_integer_value(json_array_get(samples, i));
      if (id < 1 || (size_t)id > n) bad++;
    }
    CHECK_EQ(bad, 0);
    json_decref(o);
  }
  free(r.body);

  /* every format: ETag and If-None-Match (weak or strong form) -> 304; HEAD */
  for (size_t i = 0; i < NFORMATS; i++) {
    snprintf(path, sizeof path, "/api/profile/demo?format=%s", FORMATS[i]);
    r = get(port, path, NULL);
    CHECK_EQ(r.status, 200);
    header(&r, "ETag", etag, sizeof etag);
    CHECK(etag[0] != '\0', "%s", FORMATS[i]);
    CHECK(strcmp(FORMATS[i], "pprof") == 0 ? etag[0] == '"' : strncmp(etag, "W/\"", 3) == 0, "%s: %s", FORMATS[i],
          etag);
    size_t len = r.len;
    free(r.body);
    snprintf(buf, sizeof buf, "If-None-Match: %s", etag);
    const char *inm[] = {buf, NULL};
    r = get(port, path, inm);
    CHECK_EQ(r.status, 304);
    CHECK_EQ(r.len, 0);
    header(&r, "ETag", v, sizeof v);
    CHECK_STR(v, etag);
    free(r.body);
    /* the other form of the same tag, in a list */
    char other[260];
    if (strncmp(etag, "W/", 2) == 0) snprintf(other, sizeof other, "\"x\", %s", etag + 2);
    else snprintf(other, sizeof other, "\"x\", W/%s", etag);
    snprintf(buf, sizeof buf, "If-None-Match: %s", other);
    r = get(port, path, inm);
    CHECK_EQ(r.status, 304);
    free(r.body);
    const char *nomatch[] = {"If-None-Match: \"nope\", W/\"other\"", NULL};
    r = get(port, path, nomatch);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.len, len);
    free(r.body);
    r = http_do(port, "HEAD", path, NULL, 0, 0, NULL);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.len, 0);
    header(&r, "Content-Length", v, sizeof v);
    CHECK_EQ(atol(v), len);
    header(&r, "ETag", v, sizeof v);
    CHECK_STR(v, etag);
    free(r.body);
  }
  /* ETags differ between formats and keeps */
  char tags[NFORMATS + 1][200];
  for (size_t i = 0; i <= NFORMATS; i++) {
    if (i < NFORMATS) snprintf(path, sizeof path, "/api/profile/demo?format=%s", FORMATS[i]);
    else snprintf(path, sizeof path, "/api/profile/demo?format=pgo&keep=0");
    r = http_do(port, "HEAD", path, NULL, 0, 0, NULL);
    header(&r, "ETag", tags[i], sizeof tags[i]);
    free(r.body);
    for (size_t j = 0; j < i; j++) CHECK(strcmp(tags[i], tags[j]) != 0, "%s == %s", tags[i], tags[j]);
  }
}

/* The heap kind: its own base, its own names; formats that need a CPU profile refuse it. */
static void check_kinds(int port) {
  char v[512];
  int64_t total = total_of(&heap);
  const char *paths[] = {"/api/profile/demo?kind=heap", "/api/profile/demo?kind=allocs&format=pprof"};
  for (size_t i = 0; i < 2; i++) {
    http_resp r = get(port, paths[i], NULL);
    CHECK_EQ(r.status, 200);
    CHECK(r.len == heap.len && memcmp(r.body, heap.data, r.len) == 0, "%s", paths[i]);
    header(&r, "Content-Disposition", v, sizeof v);
    CHECK_STR(v, "attachment; filename=\"demo-heap.pb.gz\"");
    free(r.body);
  }
  http_resp r = get(port, "/api/profile/demo?kind=heap&format=folded", NULL);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(folded_sum(r.body, r.len), total);
  header(&r, "Content-Disposition", v, sizeof v);
  CHECK_STR(v, "attachment; filename=\"demo-heap.folded\"");
  free(r.body);
  r = get(port, "/api/profile/demo?kind=heap&format=speedscope", NULL);
  CHECK_EQ(r.status, 200);
  {
    json_t *o = json_loads(r.body, 0, NULL);
    CHECK_EQ(json_array_size(json_object_get(o, "profiles")), 4); /* alloc/inuse objects/space */
    json_decref(o);
  }
  free(r.body);
  r = get(port, "/api/profile/demo?kind=heap&format=chrome", NULL);
  CHECK_ERROR(r, 422);
  CHECK_CONTAINS(r.body, "heap profile of app demo");
  free(r.body);
  r = get(port, "/api/profile/demo?kind=heap&format=pgo", NULL);
  CHECK_ERROR(r, 422);
  free(r.body);
  r = get(port, "/api/profile/demo?kind=mutex", NULL);
  CHECK_ERROR(r, 404);
  CHECK_CONTAINS(r.body, "no mutex profile for app demo");
  free(r.body);
  r = get(port, "/api/profile/nosuch?format=pgo", NULL);
  CHECK_ERROR(r, 404);
  CHECK_CONTAINS(r.body, "no merged profile for app nosuch");
  free(r.body);
  /* a Go 1.19 base (no start lines): pgo is served, preprofile refused as the compiler refuses it */
  r = get(port, "/api/profile/old?format=preprofile", NULL);
  CHECK_ERROR(r, 422);
  CHECK_CONTAINS(r.body, "Function.start_line");
  free(r.body);
  r = get(port, "/api/profile/old?format=pgo", NULL);
  CHECK_EQ(r.status, 200);
  free(r.body);
}

/* Bad parameters: 400 naming what is wrong; nothing converted, nothing stored. */
static void check_bad_params(int port, blob_store *bs) {
  struct {
    const char *path, *says;
  } bad[] = {
      {"/api/profile/demo?format=bogus", "unknown format \\\"bogus\\\": want one of pprof, folded, speedscope, chrome, pgo, preprofile"},
      {"/api/profile/demo?format=", "unknown format \\\"\\\""},
      {"/api/profile/demo?format=PGO", "unknown format"},
      {"/api/profile/demo?kind=bogus", "unknown kind \\\"bogus\\\": want one of cpu, heap, mutex, block, goroutine, threadcreate"},
      {"/api/profile/demo?kind=", "unknown kind"},
      {"/api/profile/demo?format=pgo&keep=1", "keep"},
      {"/api/profile/demo?format=pgo&keep=-2", "keep"},
      {"/api/profile/demo?format=pgo&keep=abc", "keep"},
      {"/api/profile/demo?format=pgo&keep=", "keep"},
      {"/api/profile/demo?format=pgo&keep=99999999999", "keep"},
      {"/api/profile/demo?keep=2", "keep applies to format=pgo only"},
      {"/api/profile/demo?format=folded&keep=0", "keep applies to format=pgo only"},
      {"/api/profile/Bad_App?format=pgo", "invalid app name"},
      {"/api/profile/demo?kind=heap&format=nope&keep=2", "unknown format"},
  };
  int objects = count_objects(bs, "");
  double misses = 0, hits = 0;
  for (size_t i = 0; i < NFORMATS; i++) {
    char s[200];
    snprintf(s, sizeof s, "pgopipe_read_cache_misses_total{format=\"%s\"}", FORMATS[i]);
    misses += metric(port, s);
    snprintf(s, sizeof s, "pgopipe_read_cache_hits_total{format=\"%s\"}", FORMATS[i]);
    hits += metric(port, s);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (int head = 0; head < 2; head++) {
      http_resp r = http_do(port, head ? "HEAD" : "GET", bad[i].path, NULL, 0, 0, NULL);
      CHECK_EQ(r.status, 400);
      if (!head) {
        CHECK(is_error_body(&r), "%s: %s", bad[i].path, r.body);
        CHECK(strstr(r.body, bad[i].says) != NULL, "%s: %s", bad[i].path, r.body);
      }
      free(r.body);
    }
  }
  CHECK_EQ(count_objects(bs, ""), objects);
  double misses2 = 0, hits2 = 0;
  for (size_t i = 0; i < NFORMATS; i++) {
    char s[200];
    snprintf(s, sizeof s, "pgopipe_read_cache_misses_total{format=\"%s\"}", FORMATS[i]);
    misses2 += metric(port, s);
    snprintf(s, sizeof s, "pgopipe_read_cache_hits_total{format=\"%s\"}", FORMATS[i]);
    hits2 += metric(port, s);
  }
  CHECK(misses2 == misses && hits2 == hits, "reads after bad requests: %g/%g -> %g/%g", misses, hits, misses2, hits2);
}

/* GET /api/profile: one entry per app, its bases in "kinds" (cpu first);
 * DELETE takes an app that only has a base of another kind. */
static void check_list(int port, blob_store *bs) {
  put(bs, "heaponly/kinds/heap.pgo", &heap);
  put(bs, "heaponly/kinds/mutex.pgo", &heap);
  put(bs, "demo/staging/1730075435311000000-0a1b2c3d", &cpu_sl); /* not a base */
  http_resp r = get(port, "/api/profile", NULL);
  CHECK_EQ(r.status, 200);
  json_t *o = json_loads(r.body, 0, NULL);
  json_t *arr = json_object_get(o, "profiles");
  CHECK_EQ(json_array_size(arr), 3); /* demo, heaponly, old */
  json_t *demo = json_array_get(arr, 0), *ho = json_array_get(arr, 1);
  CHECK_STR(json_string_value(json_object_get(demo, "key")), "demo");
  CHECK_EQ(json_integer_value(json_object_get(demo, "size")), cpu_sl.len + heap.len);
  json_t *dk = json_object_get(demo, "kinds");
  CHECK_EQ(json_array_size(dk), 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(dk, 0), "kind")), "cpu");
  CHECK_EQ(json_integer_value(json_object_get(json_array_get(dk, 0), "size")), cpu_sl.len);
  CHECK_STR(json_string_value(json_object_get(json_array_get(dk, 1), "kind")), "heap");
  CHECK_EQ(json_integer_value(json_object_get(json_array_get(dk, 1), "size")), heap.len);
  const char *lm = json_string_value(json_object_get(json_array_get(dk, 1), "lastModified"));
  CHECK(lm && strlen(lm) == 20 && lm[10] == 'T' && lm[19] == 'Z');
  CHECK_STR(json_string_value(json_object_get(ho, "key")), "heaponly");
  json_t *hk = json_object_get(ho, "kinds");
  CHECK_EQ(json_array_size(hk), 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(hk, 0), "kind")), "heap");
  CHECK_STR(json_string_value(json_object_get(json_array_get(hk, 1), "kind")), "mutex");
  CHECK_EQ(json_integer_value(json_object_get(ho, "size")), 2 * heap.len);
  json_decref(o);
  free(r.body);

  r = http_do(port, "DELETE", "/api/profile/heaponly", NULL, 0, 0, auth_hdr);
  CHECK_EQ(r.status, 200);
  free(r.body);
  r = get(port, "/api/profile/heaponly?kind=heap", NULL);
  CHECK_ERROR(r, 404);
  free(r.body);
  CHECK_EQ(count_objects(bs, "heaponly/kinds/"), 0);
  r = get(port, "/api/profile", NULL);
  CHECK(strstr(r.body, "heaponly") == NULL);
  free(r.body);
  r = http_do(port, "DELETE", "/api/profile/heaponly", NULL, 0, 0, auth_hdr);
  CHECK_ERROR(r, 404);
  free(r.body);
}

static int mode_formats(void) {
  blob_store *bs;
  char err[512];
  if (blob_open(BLOB_URL, &bs, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  put(bs, "demo/default.pgo", &cpu_sl);
  put(bs, "demo/kinds/heap.pgo", &heap);
  put(bs, "old/default.pgo", &cpu_old);
  srv s;
  if (start(&s, "formats", NULL, NULL) != 0) return 1;
  check_formats(s.port, bs);
  check_kinds(s.port);
  check_bad_params(s.port, bs);
  check_list(s.port, bs);
  /* the read routes are in the request metrics like the others */
  http_resp r = get(s.port, "/metrics", NULL);
  CHECK_CONTAINS(r.body, "pgopipe_http_requests_total{method=\"GET\",route=\"/api/profile/{app}\",code=\"304\"}");
  CHECK_CONTAINS(r.body, "pgopipe_http_requests_total{method=\"GET\",route=\"/api/profile/{app}\",code=\"400\"}");
  free(r.body);
  CHECK_EQ(srv_stop(&s), 0);
  blob_close(bs);
  return 0;
}

/* ---- cache ---- */

typedef struct conc {
  int port;
  const char *path;
  http_resp r;
  pthread_t th;
} conc;

static void *conc_get(void *arg) {
  conc *c = arg;
  c->r = get(c->port, c->path, NULL);
  return NULL;
}

static int mode_cache(void) {
  blob_store *bs;
  char err[512], v[256], etag1[200];
  if (blob_open(BLOB_URL, &bs, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  put(bs, "demo/default.pgo", &cpu_sl);
  put(bs, "conc/default.pgo", &labels);
  srv s;
  if (start(&s, "cache", NULL, NULL) != 0) return 1;
  int port = s.port;

  /* a second download is a hit: nothing converted again, the same bytes */
  http_resp a = get(port, "/api/profile/demo?format=pgo", NULL);
  CHECK_EQ(a.status, 200);
  CHECK(conversions(port, "pgo", "identity") == 1);
  CHECK(metric(port, "pgopipe_read_cache_misses_total{format=\"pgo\"}") == 1);
  header(&a, "ETag", etag1, sizeof etag1);
  http_resp b = get(port, "/api/profile/demo?format=pgo", NULL);
  CHECK_EQ(b.status, 200);
  CHECK(a.len == b.len && memcmp(a.body, b.body, a.len) == 0);
  CHECK(conversions(port, "pgo", "identity") == 1);
  CHECK(metric(port, "pgopipe_read_cache_hits_total{format=\"pgo\"}") == 1);
  free(b.body);
  /* HEAD and 304 cost no conversion either */
  b = http_do(port, "HEAD", "/api/profile/demo?format=pgo", NULL, 0, 0, NULL);
  CHECK_EQ(b.status, 200);
  free(b.body);
  CHECK(conversions(port, "pgo", "identity") == 1);
  /* keep is part of the key */
  b = get(port, "/api/profile/demo?format=pgo&keep=0", NULL);
  CHECK_EQ(b.status, 200);
  CHECK(b.len != a.len);
  free(b.body);
  CHECK(conversions(port, "pgo", "identity") == 2);

  /* gzip: converted once, compressed once; the plain form is then a hit */
  const char *gz[] = {"Accept-Encoding: gzip", NULL};
  for (int i = 0; i < 2; i++) {
    b = get(port, "/api/profile/demo?format=preprofile", gz);
    CHECK_EQ(b.status, 200);
    free(b.body);
  }
  CHECK(conversions(port, "preprofile", "identity") == 1);
  CHECK(conversions(port, "preprofile", "gzip") == 1);
  b = get(port, "/api/profile/demo?format=preprofile", NULL);
  CHECK_EQ(b.status, 200);
  CHECK(strncmp(b.body, "GO PREPROFILE V1\n", 17) == 0);
  free(b.body);
  CHECK(conversions(port, "preprofile", "identity") == 1);
  CHECK(metric(port, "pgopipe_read_cache_hits_total{format=\"preprofile\"}") == 2);
  CHECK(metric(port, "pgopipe_read_cache_entries") >= 4);
  CHECK(metric(port, "pgopipe_read_cache_bytes") > (double)cpu_sl.len);

  /* a new version of the base is never answered from the old one's outputs */
  t_sleep_ms(1100); /* a later Last-Modified also on stores with one-second times */
  put(bs, "demo/default.pgo", &cpu2_sl);
  b = get(port, "/api/profile/demo?format=pgo", NULL);
  CHECK_EQ(b.status, 200);
  header(&b, "ETag", v, sizeof v);
  CHECK(strcmp(v, etag1) != 0);
  {
    char *want = edges_of(cpu2_sl.path, 0);
    char *got = edges_of_body(&b, 0);
    CHECK_STR(got, want);
    free(want);
    free(got);
  }
  free(b.body);
  CHECK(conversions(port, "pgo", "identity") == 3);
  CHECK(metric(port, "pgopipe_read_cache_evictions_total{reason=\"superseded\"}") >= 4);
  /* the old ETag no longer gives 304 */
  char inm[300];
  snprintf(inm, sizeof inm, "If-None-Match: %s", etag1);
  const char *inmh[] = {inm, NULL};
  b = get(port, "/api/profile/demo?format=pgo", inmh);
  CHECK_EQ(b.status, 200);
  free(b.body);
  free(a.body);
  /* nor is pprof: the stored bytes of the new version */
  b = get(port, "/api/profile/demo", NULL);
  CHECK(b.len == cpu2_sl.len && memcmp(b.body, cpu2_sl.data, b.len) == 0);
  free(b.body);

  /* concurrent first requests for one output: one conversion, one answer */
  enum { N = 12 };
  conc cs[N];
  for (int i = 0; i < N; i++) {
    cs[i].port = port;
    cs[i].path = "/api/profile/conc?format=speedscope";
    pthread_create(&cs[i].th, NULL, conc_get, &cs[i]);
  }
  for (int i = 0; i < N; i++) pthread_join(cs[i].th, NULL);
  int same = 1;
  for (int i = 0; i < N; i++) {
    CHECK_EQ(cs[i].r.status, 200);
    if (cs[i].r.len != cs[0].r.len || memcmp(cs[i].r.body, cs[0].r.body, cs[0].r.len) != 0) same = 0;
  }
  CHECK(same);
  for (int i = 0; i < N; i++) free(cs[i].r.body);
  CHECK(conversions(port, "speedscope", "identity") == 1);
  CHECK(metric(port, "pgopipe_read_cache_misses_total{format=\"speedscope\"}") == 1);
  CHECK(metric(port, "pgopipe_read_cache_hits_total{format=\"speedscope\"}") == N - 1);
  CHECK_EQ(srv_stop(&s), 0);

  /* --read-cache-bytes 0 (from the environment): nothing kept, every download converts */
  char *env0[] = {"PGOPIPE_READ_CACHE_BYTES=0", NULL};
  if (start(&s, "cache0", NULL, env0) != 0) return 1;
  for (int i = 0; i < 3; i++) {
    b = get(s.port, "/api/profile/demo?format=pgo", NULL);
    CHECK_EQ(b.status, 200);
    free(b.body);
  }
  CHECK(conversions(s.port, "pgo", "identity") == 3);
  CHECK(metric(s.port, "pgopipe_read_cache_entries") == 0);
  CHECK_EQ(srv_stop(&s), 0);

  /* a small bound: outputs that do not fit are served, not kept; the least
   * recently used make room; the bound holds. The profiles are made anew
   * for every build, so the bound follows their sizes: conc's stored bytes
   * (with their key, a few hundred bytes) fit, and no longer do beside
   * demo's; chrome outputs (several times their profile) never fit. */
  size_t bound = labels.len + cpu2_sl.len / 2;
  char bound_arg[32];
  snprintf(bound_arg, sizeof bound_arg, "%zu", bound);
  char *small[] = {"--read-cache-bytes", bound_arg, NULL};
  if (start(&s, "cache-small", small, NULL) != 0) return 1;
  for (int i = 0; i < 2; i++) {
    b = get(s.port, "/api/profile/conc?format=chrome", NULL); /* larger than the bound */
    CHECK_EQ(b.status, 200);
    CHECK(b.len > bound, "chrome output %zu bytes, bound %zu", b.len, bound);
    free(b.body);
  }
  CHECK(conversions(s.port, "chrome", "identity") == 2);
  CHECK(metric(s.port, "pgopipe_read_cache_entries") == 1); /* conc's stored bytes, read once */
  CHECK(metric(s.port, "pgopipe_read_cache_evictions_total{reason=\"size\"}") == 0);
  const char *order[] = {"pgo", "preprofile", "chrome", "pgo", "preprofile", "chrome"};
  for (size_t i = 0; i < 6; i++) {
    char path[128];
    snprintf(path, sizeof path, "/api/profile/demo?format=%s", order[i]);
    b = get(s.port, path, NULL);
    CHECK_EQ(b.status, 200);
    if (strcmp(order[i], "chrome") == 0) CHECK(b.len > bound, "chrome output %zu bytes, bound %zu", b.len, bound);
    free(b.body);
    CHECK(metric(s.port, "pgopipe_read_cache_bytes") <= (double)bound);
  }
  /* demo's stored bytes made conc's the least recently used go */
  CHECK(metric(s.port, "pgopipe_read_cache_evictions_total{reason=\"size\"}") >= 1);
  CHECK(conversions(s.port, "pgo", "identity") == 1);
  CHECK(conversions(s.port, "chrome", "identity") == 4); /* never kept */
  CHECK_EQ(srv_stop(&s), 0);
  blob_close(bs);
  return 0;
}

/* ---- the CLI ---- */

/* Runs `pgopipe a0 ...` (NULL-terminated) to completion; its output in *out. */
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

static int same_file(const char *path, const void *data, size_t len) {
  size_t l = 0;
  uint8_t *d = t_read_file(path, &l);
  int ok = d && l == len && memcmp(d, data, len) == 0;
  free(d);
  return ok;
}

static int mode_cli(void) {
  blob_store *bs;
  char err[512], api[128], dir[1100], p[1200], tokf[1100];
  if (!getenv("PGOPIPE_CLI")) {
    fprintf(stderr, "PGOPIPE_CLI is not set\n");
    return 1;
  }
  if (blob_open(BLOB_URL, &bs, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  put(bs, "demo/default.pgo", &cpu_sl);
  put(bs, "demo/kinds/heap.pgo", &heap);
  put(bs, "heaponly/kinds/heap.pgo", &heap);
  srv s;
  if (start(&s, "cli", NULL, NULL) != 0) return 1;
  snprintf(api, sizeof api, "http://127.0.0.1:%d", s.port);
  snprintf(dir, sizeof dir, "%s/cli", WORKDIR);
  mkdir(dir, 0755);
  snprintf(tokf, sizeof tokf, "%s/token", WORKDIR);
  CHECK_EQ(write_file(tokf, TOKEN, strlen(TOKEN)), 0);
  char cwd[1100];
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK_EQ(chdir(dir), 0); /* downloads without -o land here */
  char *out = NULL;

  /* default: the cpu base as stored, in default.pgo */
  CHECK_EQ(cli(&out, "download", "-u", api, "demo", NULL), 0);
  CHECK_CONTAINS(out, "wrote default.pgo");
  free(out);
  CHECK(same_file("default.pgo", cpu_sl.data, cpu_sl.len));

  /* pgo, its default name, the base's edge map; keep 0 with -o */
  CHECK_EQ(cli(&out, "download", "-u", api, "demo", "--format", "pgo", "-o", "trim.pgo", NULL), 0);
  free(out);
  {
    char *want = edges_of(cpu_sl.path, 0), *wantall = edges_of(cpu_sl.path, 1);
    snprintf(p, sizeof p, "%s/trim.pgo", dir);
    char *got = edges_of(p, 0);
    CHECK_STR(got, want);
    free(got);
    CHECK_EQ(cli(&out, "download", "-u", api, "demo", "-f", "pgo", "--keep", "0", "-o", "all.pgo", NULL), 0);
    free(out);
    snprintf(p, sizeof p, "%s/all.pgo", dir);
    got = edges_of(p, 1);
    CHECK_STR(got, wantall);
    free(got);
    free(want);
    free(wantall);
  }

  /* preprofile: the server gzip-encodes it for the CLI; the file is the text */
  {
    int orc;
    char *oargs[] = {"preprofile", cpu_sl.path, NULL};
    char *want = oracle(oargs, &orc);
    CHECK_EQ(cli(&out, "download", "-u", api, "demo", "-f", "preprofile", NULL), 0);
    CHECK_CONTAINS(out, "wrote default.preprofile");
    free(out);
    CHECK(same_file("default.preprofile", want, strlen(want)));
    free(want);
  }

  /* the other formats' default names; the heap kind */
  struct {
    const char *kind, *format, *name;
  } names[] = {{NULL, "folded", "demo.folded"},
               {NULL, "speedscope", "demo.speedscope.json"},
               {NULL, "chrome", "demo.cpuprofile"},
               {"heap", NULL, "demo-heap.pb.gz"},
               {"heap", "folded", "demo-heap.folded"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char *args[12] = {"download", "-u", api, "demo"};
    int n = 4;
    if (names[i].kind) {
      args[n++] = "--kind";
      args[n++] = (char *)(uintptr_t)names[i].kind;
    }
    if (names[i].format) {
      args[n++] = "--format";
      args[n++] = (char *)(uintptr_t)names[i].format;
    }
    args[n] = NULL;
    CHECK_EQ(run_capture(getenv("PGOPIPE_CLI"), args, NULL, &out), 0);
    free(out);
    struct stat st;
    CHECK(stat(names[i].name, &st) == 0 && st.st_size > 0, "%s", names[i].name);
  }
  CHECK(same_file("demo-heap.pb.gz", heap.data, heap.len));
  {
    size_t l;
    char *t = (char *)t_read_file("demo.folded", &l);
    CHECK(t && folded_sum(t, l) == total_of(&cpu_sl));
    free(t);
  }
  /* nothing else was left behind (no temporary files) */
  {
    DIR *d = opendir(".");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
      if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    CHECK_EQ(n, 9); /* default.pgo, trim.pgo, all.pgo, default.preprofile and the 5 above */
  }

  /* usage errors (exit 2) are caught before asking; server refusals (exit 1) carry its message */
  CHECK_EQ(write_file("kept.pgo", "keep", 4), 0);
  struct {
    int code;
    const char *says;
    const char *args[8];
  } fails[] = {
      {2, "--format \"bogus\"", {"-f", "bogus"}},
      {2, "--kind \"bogus\"", {"--kind", "bogus"}},
      {2, "keep", {"-f", "pgo", "--keep", "1"}},
      {2, "--keep applies to --format pgo only", {"--keep", "2"}},
      {1, "404: no mutex profile for app demo yet", {"--kind", "mutex"}},
      {1, "422: the heap profile of app demo cannot be written as format=chrome", {"--kind", "heap", "-f", "chrome"}},
  };
  for (size_t i = 0; i < sizeof fails / sizeof fails[0]; i++) {
    char *args[16] = {"download", "-u", api, "demo", "-o", "kept.pgo"};
    int n = 6;
    for (int k = 0; fails[i].args[k]; k++) args[n++] = (char *)(uintptr_t)fails[i].args[k];
    args[n] = NULL;
    int rc = run_capture(getenv("PGOPIPE_CLI"), args, NULL, &out);
    CHECK_EQ(rc, fails[i].code);
    CHECK(strstr(out, fails[i].says) != NULL, "%s", out);
    free(out);
    CHECK(same_file("kept.pgo", "keep", 4));
  }

  /* list: one line per base with its kind */
  CHECK_EQ(cli(&out, "list", "-u", api, NULL), 0);
  CHECK_CONTAINS(out, "KIND");
  {
    char line[256];
    snprintf(line, sizeof line, "%-40s %-12s %12zu  ", "demo", "cpu", cpu_sl.len);
    CHECK_CONTAINS(out, line);
    snprintf(line, sizeof line, "%-40s %-12s %12zu  ", "demo", "heap", heap.len);
    CHECK_CONTAINS(out, line);
    snprintf(line, sizeof line, "%-40s %-12s %12zu  ", "heaponly", "heap", heap.len);
    CHECK_CONTAINS(out, line);
  }
  free(out);

  /* clean deletes whole apps, an app with only a heap base included */
  CHECK_EQ(cli(&out, "clean", "-u", api, "--auth-token-file", tokf, "--larger-than", "0", NULL), 0);
  CHECK_CONTAINS(out, "removed 2 of 2");
  free(out);
  CHECK_EQ(count_objects(bs, "demo/"), 0);
  CHECK_EQ(count_objects(bs, "heaponly/"), 0);
  CHECK_EQ(cli(&out, "list", "-u", api, NULL), 0);
  CHECK(strstr(out, "demo") == NULL && strstr(out, "heaponly") == NULL, "%s", out);
  free(out);

  CHECK_EQ(chdir(cwd), 0);
  CHECK_EQ(srv_stop(&s), 0);
  blob_close(bs);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: test_reads formats|cache|client BIN PROFILES WORKDIR BLOB_URL\n");
    return 2;
  }
  const char *mode = argv[1];
  BIN = argv[2];
  PROFILES = argv[3];
  WORKDIR = argv[4];
  BLOB_URL = argv[5];
  ORACLE = getenv("ORACLE");
  if (!ORACLE) {
    fprintf(stderr, "ORACLE (tests/pgo/oracle) is not set\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  load(&cpu_sl, "cpu-sl.pprof");
  load(&cpu2_sl, "cpu2-sl.pprof");
  load(&labels, "labels.pprof");
  load(&cpu_old, "cpu.pprof");
  load(&heap, "heap.pprof");
  int rc = 1;
  if (strcmp(mode, "formats") == 0) rc = mode_formats();
  else if (strcmp(mode, "cache") == 0) rc = mode_cache();
  else if (strcmp(mode, "client") == 0) rc = mode_cli();
  else fprintf(stderr, "unknown mode %s\n", mode);
  curl_global_cleanup();
  file *fs[] = {&cpu_sl, &cpu2_sl, &labels, &cpu_old, &heap};
  for (size_t i = 0; i < 5; i++) free(fs[i]->data);
  if (rc) return rc;
  return check_exit(mode);
}
