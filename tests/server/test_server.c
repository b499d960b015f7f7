/*
 * test_server.c — integration tests of pgopipe-server: a real server process,
 * real HTTP (libcurl), a real blob store (files, or S3 behind the SigV4
 * checker) and a real Kafka-protocol broker (the kafka-mock), real Go
 * profiles (gen-profiles.sh).
 *
 *   test_server api BIN PROFILES WORKDIR BLOB_URL   every route and status
 *   test_server limits BIN PROFILES WORKDIR         limits at and one past
 *   test_server cli BIN WORKDIR                      flags, env, refusals
 *   test_server kafka-down BIN PROFILES WORKDIR      broker killed: 503, nothing staged
 *   test_server s3-down BIN PROFILES WORKDIR S3DIR   S3 stopped and back: 503 fast, recovers
 *   test_server sigterm BIN PROFILES WORKDIR         SIGTERM under load: no acknowledged upload lost
 *   test_server hostile BIN PROFILES WORKDIR         an attacker's uploads: NUL in app names, the
 *                                                    memory bound (deep stacks, many labels, memory
 *                                                    returned after bursts), the in-process worker on
 *                                                    the server's limits, DELETE on a store that
 *                                                    cannot delete
 *
 * KAFKA_BROKERS (and KAFKA_MOCK_DIR for kafka-down) come from with-kafka.sh;
 * the S3 variables from the S3 runner. Events are read back with the bus
 * reader, objects with the blob API: the checks see what a worker would see.
 */
#include "harness.h"

#include "blob.h"
#include "bus.h"
#include "pprof.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <zlib.h>

CHECK_DEFINE_COUNTERS

static const char *BIN, *PROFILES, *WORKDIR;
static uint8_t *cpu, *cpu2, *raw, *heap;
static size_t cpu_len, cpu2_len, raw_len, heap_len;
static const char *TOKEN = "s3cret-token-for-tests";

static void load_profiles(void) {
  char p[1024];
  snprintf(p, sizeof p, "%s/cpu.pprof", PROFILES);
  cpu = t_read_file(p, &cpu_len);
  snprintf(p, sizeof p, "%s/cpu2.pprof", PROFILES);
  cpu2 = t_read_file(p, &cpu2_len);
  snprintf(p, sizeof p, "%s/cpu.raw", PROFILES);
  raw = t_read_file(p, &raw_len);
  snprintf(p, sizeof p, "%s/heap.pprof", PROFILES);
  heap = t_read_file(p, &heap_len);
  if (!cpu || !cpu2 || !raw || !heap) {
    fprintf(stderr, "profiles missing under %s (run gen-profiles.sh)\n", PROFILES);
    exit(1);
  }
}

static const char *auth_hdr[] = {"Authorization: Bearer s3cret-token-for-tests", NULL};

static http_resp upload(int port, const char *app, const void *b, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "/api/profile/%s", app);
  return http_do(port, "POST", path, b, n, 0, auth_hdr);
}

/* Key from a 201 body {"key":"..."} into out; 0 on success. */
static int key_of(const http_resp *r, char *out, size_t n) {
  json_t *o = json_loads(r->body, 0, NULL);
  const char *k = o ? json_string_value(json_object_get(o, "key")) : NULL;
  int rc = -1;
  if (k && json_object_size(o) == 1) {
    snprintf(out, n, "%s", k);
    rc = 0;
  }
  json_decref(o);
  return rc;
}

/* app/staging/<19 digits>-<8 hex> */
static int key_shape_ok(const char *key, const char *app) {
  size_t al = strlen(app);
  if (strncmp(key, app, al) != 0 || strncmp(key + al, "/staging/", 9) != 0) return 0;
  const char *p = key + al + 9;
  size_t d = strspn(p, "0123456789");
  if (d < 18 || d > 19 || p[d] != '-') return 0;
  p += d + 1;
  return strlen(p) == 8 && strspn(p, "0123456789abcdef") == 8;
}

/* Count of objects under prefix. */
static int count_objects(blob_store *bs, const char *prefix) {
  blob_iter *it;
  char err[512];
  const char *k;
  blob_info info;
  int n = 0, rc;
  if (blob_list(bs, prefix, &it, err, sizeof err) != 0) {
    fprintf(stderr, "list %s: %s\n", prefix, err);
    return -1;
  }
  while ((rc = blob_iter_next(it, &k, &info, err, sizeof err)) == 1) n++;
  blob_iter_free(it);
  return rc < 0 ? -1 : n;
}

/* ---- events ---- */

typedef struct evlist {
  bus_event *ev;
  char (*msgkey)[64];
  size_t n, cap;
} evlist;

/* Reads events from topic until pred-count `want` events are seen or
 * timeout_ms passes. Returns the number read. */
static size_t read_events(const char *topic, size_t want, int timeout_ms, evlist *out) {
  char url[512], err[512], grp[32];
  bus_reader *rd;
  snprintf(grp, sizeof grp, "t%lld", (long long)t_now_ms());
  snprintf(url, sizeof url, "kafka://%s?topic=%s", grp, topic);
  if (bus_reader_open(url, &rd, err, sizeof err) != BUS_OK) {
    fprintf(stderr, "reader: %s\n", err);
    return 0;
  }
  int64_t deadline = t_now_ms() + timeout_ms;
  memset(out, 0, sizeof *out);
  while (out->n < want && t_now_ms() < deadline) {
    bus_msg *m;
    int rc = bus_poll(rd, 200, &m, err, sizeof err);
    if (rc != 1) continue;
    if (out->n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 64;
      out->ev = realloc(out->ev, out->cap * sizeof *out->ev);
      out->msgkey = realloc(out->msgkey, out->cap * sizeof *out->msgkey);
    }
    if (bus_event_decode(m->payload, m->len, &out->ev[out->n], err, sizeof err) == BUS_OK) {
      snprintf(out->msgkey[out->n], 64, "%s", m->key);
      out->n++;
    } else {
      fprintf(stderr, "bad event: %s\n", err);
    }
    bus_msg_free(m);
  }
  bus_reader_close(rd);
  return out->n;
}

static int find_event(const evlist *l, const char *type, const char *app, const char *key) {
  int n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->ev[i].type, type) == 0 && strcmp(l->ev[i].app, app) == 0 &&
        (!key || strcmp(l->ev[i].profile_key, key) == 0) && strcmp(l->msgkey[i], app) == 0)
      n++;
  return n;
}

/* ---- api ---- */

typedef struct conc_job {
  pthread_t th;
  int port;
  http_resp r;
} conc_job;

static void *conc_upload(void *arg) {
  conc_job *j = arg;
  j->r = upload(j->port, "conc", cpu, cpu_len);
  return NULL;
}

static void garbage_corpus(int port) {
  /* Bad inputs: each must be a 400 with a message, and the server lives. */
  uint8_t rnd[4096];
  for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)(i * 2654435761u >> 13);
  uint8_t gz_garbage[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z'};
  uint8_t bad_varint[16];
  memset(bad_varint, 0xff, sizeof bad_varint);
  uint8_t bad_ref[] = {0x12, 0x04, 0x08, 0x63, 0x10, 0x01}; /* sample type with string idx 99 */
  uint8_t *flipped = malloc(raw_len);
  memcpy(flipped, raw, raw_len);
  for (size_t i = 7; i < raw_len; i += 97) flipped[i] ^= 0x5a;
  struct { const char *name; const void *b; size_t n; } cases[] = {
      {"text", "this is not a profile", 21},
      {"random", rnd, sizeof rnd},
      {"truncated gzip", cpu, cpu_len / 2},
      {"gzip of garbage", gz_garbage, sizeof gz_garbage},
      {"truncated raw", raw, raw_len / 3},
      {"bad varint", bad_varint, sizeof bad_varint},
      {"bad string index", bad_ref, sizeof bad_ref},
      {"bit flips", flipped, raw_len},
      {"json", "{\"profile\":true}", 16},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp r = upload(port, "garbage", cases[i].b, cases[i].n);
    if (r.status != 400) fprintf(stderr, "garbage case %s: %ld %s\n", cases[i].name, r.status, r.body);
    CHECK_ERROR(r, 400);
    CHECK_CONTAINS(r.body, "malformed");
    free(r.body);
  }
  /* Empty body: also refused as not a profile. */
  http_resp r = upload(port, "garbage", "", 0);
  CHECK_ERROR(r, 400);
  free(r.body);
  free(flipped);
}

static int mode_api(const char *blob_url) {
  char log[1024], err[512], topic[64], writer[256], buf[512];
  blob_store *bs;
  srv s;
  snprintf(topic, sizeof topic, "api%lld", (long long)t_now_ms());
  snprintf(writer, sizeof writer, "--event-writer-url=kafka://%s", topic);
  snprintf(log, sizeof log, "%s/server-api.log", WORKDIR);
  char blobarg[1024];
  snprintf(blobarg, sizeof blobarg, "--blob-store-url=%s", blob_url);
  char tok[128];
  snprintf(tok, sizeof tok, "PGOPIPE_AUTH_TOKEN=%s", TOKEN);
  char *env[] = {tok, NULL};
  char *args[] = {"-p", "0", blobarg, writer, "--max-profile-bytes", "1048576", "-l", "debug", NULL};
  if (srv_start_env(&s, BIN, log, env, args, NULL) != 0) {
    fprintf(stderr, "server did not start; see %s\n", log);
    return 1;
  }
  CHECK_EQ(blob_open(blob_url, &bs, err, sizeof err), 0);
  int port = s.port;

  http_resp r = http_do(port, "GET", "/api/ready", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  free(r.body);
  r = http_do(port, "GET", "/api/health", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  /* autopgo's dependency names */
  CHECK_STR(r.body, "{\"status\":\"healthy\",\"dependencies\":[{\"name\":\"blob\",\"status\":\"healthy\"},"
                    "{\"name\":\"event-writer\",\"status\":\"healthy\"}]}");
  free(r.body);

  /* auth on POST */
  r = http_do(port, "POST", "/api/profile/demo", cpu, cpu_len, 0, NULL);
  CHECK_ERROR(r, 401);
  CHECK_CONTAINS(r.headers, "WWW-Authenticate: Bearer");
  free(r.body);
  const char *wrong[] = {"Authorization: Bearer s3cret-token-for-tesTs", NULL};
  r = http_do(port, "POST", "/api/profile/demo", cpu, cpu_len, 0, wrong);
  CHECK_ERROR(r, 401);
  free(r.body);
  const char *prefix[] = {"Authorization: Bearer s3cret-token-for-test", NULL};
  r = http_do(port, "POST", "/api/profile/demo", cpu, cpu_len, 0, prefix);
  CHECK_ERROR(r, 401);
  free(r.body);
  const char *basic[] = {"Authorization: Basic czNjcmV0", NULL};
  r = http_do(port, "POST", "/api/profile/demo", cpu, cpu_len, 0, basic);
  CHECK_ERROR(r, 401);
  free(r.body);

  /* accepted gzip upload: stored byte for byte, key shaped by the contract */
  char demo_keys[3][256];
  r = upload(port, "demo", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  CHECK_EQ(key_of(&r, demo_keys[0], sizeof demo_keys[0]), 0);
  CHECK(key_shape_ok(demo_keys[0], "demo"));
  CHECK(strstr(r.headers, "application/json") != NULL);
  free(r.body);
  {
    uint8_t *data;
    size_t len;
    CHECK_EQ(blob_get(bs, demo_keys[0], 0, &data, &len, NULL, err, sizeof err), 0);
    CHECK(len == cpu_len && memcmp(data, cpu, len) == 0);
    free(data);
  }
  /* raw upload: stored gzipped, same profile */
  r = upload(port, "demo", raw, raw_len);
  CHECK_EQ(r.status, 201);
  CHECK_EQ(key_of(&r, demo_keys[1], sizeof demo_keys[1]), 0);
  free(r.body);
  {
    uint8_t *data;
    size_t len;
    pp_profile *a = NULL, *b = NULL;
    CHECK_EQ(blob_get(bs, demo_keys[1], 0, &data, &len, NULL, err, sizeof err), 0);
    CHECK(len > 2 && data[0] == 0x1f && data[1] == 0x8b);
    CHECK_EQ(pp_decode(data, len, NULL, &a, err, sizeof err), 0);
    CHECK_EQ(pp_decode(raw, raw_len, NULL, &b, err, sizeof err), 0);
    if (a && b) {
      CHECK_EQ(pp_sample_count(a), pp_sample_count(b));
      CHECK_EQ(pp_total(a, 1), pp_total(b, 1));
    }
    pp_free(a);
    pp_free(b);
    free(data);
  }
  /* chunked upload */
  r = http_do(port, "POST", "/api/profile/demo", cpu2, cpu2_len, 1, auth_hdr);
  CHECK_EQ(r.status, 201);
  CHECK_EQ(key_of(&r, demo_keys[2], sizeof demo_keys[2]), 0);
  free(r.body);
  CHECK_EQ(count_objects(bs, "demo/staging/"), 3);

  /* wrong kind: a valid heap profile */
  r = upload(port, "demo", heap, heap_len);
  CHECK_ERROR(r, 422);
  CHECK_CONTAINS(r.body, "not a CPU profile");
  CHECK_CONTAINS(r.body, "space/bytes");
  free(r.body);

  /* app names */
  const char *bad_apps[] = {"Demo", "a_b", "a.b", "%C3%A9t%C3%A9",
                            "a123456789012345678901234567890123456789012345678901234567890123", NULL};
  for (int i = 0; bad_apps[i]; i++) {
    r = upload(port, bad_apps[i], cpu, cpu_len);
    CHECK_ERROR(r, 400);
    CHECK_CONTAINS(r.body, "invalid app name");
    free(r.body);
  }
  const char *app63 = "a12345678901234567890123456789012345678901234567890123456789012";
  r = upload(port, app63, cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  r = upload(port, "a%2Fb", cpu, cpu_len);
  CHECK(r.status == 400 || r.status == 404);
  free(r.body);

  garbage_corpus(port);
  CHECK_EQ(count_objects(bs, "garbage/"), 0);

  /* download: 404, then a base (written as the worker would), ETag, 304, HEAD */
  r = http_do(port, "GET", "/api/profile/demo", NULL, 0, 0, NULL);
  CHECK_ERROR(r, 404);
  free(r.body);
  r = http_do(port, "GET", "/api/profile/Bad_App", NULL, 0, 0, NULL);
  CHECK_ERROR(r, 400);
  free(r.body);
  CHECK_EQ(blob_put(bs, "demo/default.pgo", cpu, cpu_len, err, sizeof err), 0);
  r = http_do(port, "GET", "/api/profile/demo", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK(r.len == cpu_len && memcmp(r.body, cpu, cpu_len) == 0);
  char etag[128] = "", v[256];
  CHECK_EQ(http_resp_header(&r, "ETag", etag, sizeof etag), 0);
  CHECK(etag[0] == '"' || strncmp(etag, "W/", 2) == 0);
  CHECK_EQ(http_resp_header(&r, "Content-Type", v, sizeof v), 0);
  CHECK_STR(v, "application/octet-stream");
  CHECK_EQ(http_resp_header(&r, "Content-Disposition", v, sizeof v), 0);
  CHECK_CONTAINS(v, "filename=\"default.pgo\"");
  free(r.body);
  snprintf(buf, sizeof buf, "If-None-Match: %s", etag);
  const char *inm[] = {buf, NULL};
  r = http_do(port, "GET", "/api/profile/demo", NULL, 0, 0, inm);
  CHECK_EQ(r.status, 304);
  CHECK_EQ(r.len, 0);
  free(r.body);
  const char *inm_list[] = {"If-None-Match: \"nope\", W/\"other\"", NULL};
  r = http_do(port, "GET", "/api/profile/demo", NULL, 0, 0, inm_list);
  CHECK_EQ(r.status, 200);
  free(r.body);
  r = http_do(port, "HEAD", "/api/profile/demo", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.len, 0);
  CHECK_EQ(http_resp_header(&r, "Content-Length", v, sizeof v), 0);
  CHECK_EQ(atol(v), cpu_len);
  free(r.body);
  /* a new base changes the ETag: the old one no longer gives 304 */
  CHECK_EQ(blob_put(bs, "demo/default.pgo", cpu2, cpu2_len, err, sizeof err), 0);
  r = http_do(port, "GET", "/api/profile/demo", NULL, 0, 0, inm);
  CHECK_EQ(r.status, 200);
  CHECK(r.len == cpu2_len);
  free(r.body);

  /* go tool pprof reads the download URL */
  {
    char url[256], *out = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/profile/demo", port);
    char *gargs[] = {"tool", "pprof", "-top", url, NULL};
    char gocache[1024];
    snprintf(gocache, sizeof gocache, "GOCACHE=%s/.gocache", PROFILES);
    char *genv[] = {gocache, "HOME=/tmp", NULL};
    int rc = run_capture("/usr/bin/go", gargs, genv, &out);
    CHECK_EQ(rc, 0);
    CHECK_CONTAINS(out, "flat%");
    CHECK_CONTAINS(out, "json");
    if (rc != 0) fprintf(stderr, "go tool pprof: %s\n", out);
    free(out);
  }

  /* list: merged profiles only */
  CHECK_EQ(blob_put(bs, "other/default.pgo", cpu, cpu_len, err, sizeof err), 0);
  r = http_do(port, "GET", "/api/profile", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  {
    json_t *o = json_loads(r.body, 0, NULL);
    json_t *arr = json_object_get(o, "profiles");
    CHECK_EQ(json_array_size(arr), 2);
    json_t *e0 = json_array_get(arr, 0), *e1 = json_array_get(arr, 1);
    CHECK_STR(json_string_value(json_object_get(e0, "key")), "demo");
    CHECK_EQ(json_integer_value(json_object_get(e0, "size")), cpu2_len);
    CHECK_STR(json_string_value(json_object_get(e1, "key")), "other");
    const char *lm = json_string_value(json_object_get(e0, "lastModified"));
    CHECK(lm && strlen(lm) == 20 && lm[10] == 'T' && lm[19] == 'Z');
    json_decref(o);
  }
  free(r.body);

  /* 405 on a known path */
  r = http_do(port, "PUT", "/api/profile/demo", "x", 1, 0, auth_hdr);
  CHECK_ERROR(r, 405);
  free(r.body);

  /* delete: auth, 404, 200 then the base is gone */
  r = http_do(port, "DELETE", "/api/profile/other", NULL, 0, 0, NULL);
  CHECK_ERROR(r, 401);
  free(r.body);
  r = http_do(port, "DELETE", "/api/profile/nosuch", NULL, 0, 0, auth_hdr);
  CHECK_ERROR(r, 404);
  free(r.body);
  r = http_do(port, "DELETE", "/api/profile/other", NULL, 0, 0, auth_hdr);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "{}");
  free(r.body);
  r = http_do(port, "GET", "/api/profile/other", NULL, 0, 0, NULL);
  CHECK_ERROR(r, 404);
  free(r.body);

  /* 50 concurrent uploads: 50 distinct keys, 50 staged objects, 50 events */
  conc_job jobs[50];
  for (int i = 0; i < 50; i++) {
    jobs[i].port = port;
    pthread_create(&jobs[i].th, NULL, conc_upload, &jobs[i]);
  }
  char conc_keys[50][256];
  int ok201 = 0;
  for (int i = 0; i < 50; i++) {
    pthread_join(jobs[i].th, NULL);
    if (jobs[i].r.status == 201 && key_of(&jobs[i].r, conc_keys[i], sizeof conc_keys[i]) == 0) ok201++;
    else conc_keys[i][0] = '\0';
    free(jobs[i].r.body);
  }
  CHECK_EQ(ok201, 50);
  int distinct = 1;
  for (int i = 0; i < 50; i++)
    for (int j = i + 1; j < 50; j++)
      if (strcmp(conc_keys[i], conc_keys[j]) == 0) distinct = 0;
  CHECK(distinct);
  CHECK_EQ(count_objects(bs, "conc/staging/"), 50);

  /* every acknowledged upload was announced, keyed by app; the delete too */
  evlist evs;
  size_t want = 3 + 1 + 50 + 1; /* demo x3, app63, conc x50, deleted */
  read_events(topic, want, 30000, &evs);
  CHECK_EQ(evs.n, want);
  for (int i = 0; i < 3; i++) CHECK_EQ(find_event(&evs, BUS_TYPE_UPLOADED, "demo", demo_keys[i]), 1);
  for (int i = 0; i < 50; i++) CHECK_EQ(find_event(&evs, BUS_TYPE_UPLOADED, "conc", conc_keys[i]), 1);
  CHECK_EQ(find_event(&evs, BUS_TYPE_DELETED, "other", NULL), 1);
  CHECK_EQ(find_event(&evs, BUS_TYPE_UPLOADED, "garbage", NULL), 0);
  free(evs.ev);
  free(evs.msgkey);

  /* metrics */
  r = http_do(port, "GET", "/metrics", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_CONTAINS(r.body, "pgopipe_uploads_accepted_total 54\n");
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"not_cpu\"} 1\n");
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"unauthorized\"} 4\n");
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"malformed\"} 10\n");
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"bad_app\"} 5\n");
  CHECK_CONTAINS(r.body, "pgopipe_http_requests_total{method=\"POST\",route=\"/api/profile/{app}\",code=\"201\"} 54\n");
  CHECK_CONTAINS(r.body, "pgopipe_http_requests_total{method=\"GET\",route=\"/api/profile/{app}\",code=\"304\"} 1\n");
  CHECK_CONTAINS(r.body, "pgopipe_upload_bytes_count 54\n");
  CHECK_CONTAINS(r.body, "pgopipe_upload_duration_seconds_bucket{le=\"+Inf\"} 54\n");
  CHECK_CONTAINS(r.body, "# TYPE pgopipe_publish_errors_total counter");
  free(r.body);

  /* the access log carries request id, route, status, duration */
  CHECK_EQ(srv_stop(&s), 0);
  {
    size_t len;
    char *text = (char *)t_read_file(log, &len);
    CHECK_CONTAINS(text, "\"route\":\"/api/profile/{app}\",\"status\":201");
    CHECK_CONTAINS(text, "\"request_id\":\"");
    CHECK_CONTAINS(text, "\"duration_ms\":");
    CHECK_CONTAINS(text, "\"msg\":\"stopped\"");
    free(text);
  }
  blob_close(bs);
  return 0;
}

/* ---- limits: exactly at and one past ---- */

/* Holds an upload open: headers and part of the body sent, rest withheld. */
static int slow_upload_open(int port, size_t total) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  char hd[256];
  int n = snprintf(hd, sizeof hd, "POST /api/profile/slow HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", total);
  if (write(fd, hd, (size_t)n) != n || write(fd, cpu, 100) != 100) {
    close(fd);
    return -1;
  }
  return fd;
}

static int early;

/* The --max-decoded-bytes a profile needs exactly: the smallest the engine
 * accepts it under, its in-memory form counted as the server counts it. */
static size_t decoded_edge(const uint8_t *b, size_t n) {
  size_t lo = 1, hi = (size_t)1 << 30;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    pp_limits l = {.max_input_bytes = n + 1, .max_decoded_bytes = mid, .count_memory = 1};
    pp_profile *p = NULL;
    char e[256];
    if (pp_decode(b, n, &l, &p, e, sizeof e) == PP_OK) {
      pp_free(p);
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

static int mode_limits(void) {
  char log[1024], err[512], blobdir[1024], bloburl[1100], body_lim[32], dec_lim[32], dec_lim1[32];
  srv a, c;
  snprintf(blobdir, sizeof blobdir, "%s/limits-data", WORKDIR);
  snprintf(bloburl, sizeof bloburl, "--blob-store-url=file://%s", blobdir);
  size_t edge = decoded_edge(raw, raw_len);
  snprintf(body_lim, sizeof body_lim, "%zu", raw_len);
  snprintf(dec_lim, sizeof dec_lim, "%zu", edge);
  snprintf(dec_lim1, sizeof dec_lim1, "%zu", edge - 1);

  /* A: body limit = size of the raw profile, decoded limit = what it needs
   * (its bytes and its in-memory form); one upload at a time */
  snprintf(log, sizeof log, "%s/server-limits-a.log", WORKDIR);
  char *args_a[] = {"-p", "0", bloburl, "--event-writer-url=kafka://limits", "--max-profile-bytes", body_lim,
                    "--max-decoded-bytes", dec_lim, "--max-uploads", "1", "--request-timeout", "6s", NULL};
  if (srv_start_env(&a, BIN, log, NULL, args_a, NULL) != 0) {
    fprintf(stderr, "server A did not start; see %s\n", log);
    return 1;
  }
  http_resp r = upload(a.port, "lim", raw, raw_len); /* exactly at both limits */
  CHECK_EQ(r.status, 201);
  free(r.body);
  r = upload(a.port, "lim", cpu, cpu_len); /* gzip decoding to exactly the limit */
  CHECK_EQ(r.status, 201);
  free(r.body);
  uint8_t *plus1 = malloc(raw_len + 1);
  memcpy(plus1, raw, raw_len);
  plus1[raw_len] = 0;
  r = upload(a.port, "lim", plus1, raw_len + 1); /* one past the body limit */
  CHECK_ERROR(r, 413);
  CHECK_CONTAINS(r.body, "over the limit");
  free(r.body);
  r = http_do(a.port, "POST", "/api/profile/lim", plus1, raw_len + 1, 1, auth_hdr); /* chunked, one past */
  CHECK_ERROR(r, 413);
  free(r.body);
  r = http_do(a.port, "POST", "/api/profile/lim", raw, raw_len, 1, auth_hdr); /* chunked, at */
  CHECK_EQ(r.status, 201);
  free(r.body);
  free(plus1);
  /* a gzip bomb: tiny body, decompresses far past the limit */
  {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "head -c 20000000 /dev/zero | gzip -9 > %s/bomb.gz", WORKDIR);
    CHECK_EQ(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/bomb.gz", WORKDIR);
    size_t bl;
    uint8_t *bomb = t_read_file(cmd, &bl);
    CHECK(bomb && bl < raw_len);
    r = upload(a.port, "lim", bomb, bl);
    CHECK_ERROR(r, 413);
    free(r.body);
    free(bomb);
  }
  /* the concurrent-upload bound: one held open, the next is 503 at once
   * (the held one lives up to the 6 s request timeout: the loop below stays
   * within it even on a loaded machine). The slot of the request before is
   * released when the server has finished it, which may come a moment after
   * its answer: a held upload answered 503 at once is opened again. */
  int fd = -1;
  for (int tries = 0; tries < 50; tries++) {
    fd = slow_upload_open(a.port, cpu_len);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (fd < 0 || poll(&pf, 1, 100) == 0) break; /* held: no answer yet */
    close(fd);
    fd = -1;
  }
  CHECK(fd >= 0);
  int64_t t0 = t_now_ms();
  http_resp busy;
  early = 0; /* accepted before the held upload's headers were processed */
  do {
    busy = upload(a.port, "lim", cpu, cpu_len);
    if (busy.status == 503) break;
    early += busy.status == 201;
    free(busy.body);
    t_sleep_ms(20);
  } while (t_now_ms() - t0 < 5000);
  CHECK_ERROR(busy, 503);
  CHECK_CONTAINS(busy.body, "too many concurrent uploads");
  free(busy.body);
  /* the held upload completes normally once the rest arrives */
  CHECK(write(fd, cpu + 100, cpu_len - 100) == (ssize_t)(cpu_len - 100));
  char reply[2048] = "";
  ssize_t got = 0;
  for (int i = 0; i < 100 && got <= 0; i++) {
    got = read(fd, reply, sizeof reply - 1);
    if (got <= 0) t_sleep_ms(20);
  }
  if (got > 0) reply[got] = 0;
  CHECK_CONTAINS(reply, "HTTP/1.1 201");
  close(fd);
  r = upload(a.port, "lim", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  /* a body that stalls is cut at the request timeout, and the slot is freed */
  fd = slow_upload_open(a.port, cpu_len);
  t0 = t_now_ms();
  char tmp[256];
  ssize_t rd;
  do {
    rd = read(fd, tmp, sizeof tmp);
  } while (rd > 0 && t_now_ms() - t0 < 15000);
  CHECK(t_now_ms() - t0 >= 5000 && t_now_ms() - t0 < 12000);
  close(fd);
  r = upload(a.port, "lim", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  r = http_do(a.port, "GET", "/metrics", NULL, 0, 0, NULL);
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"too_big\"} 3\n");
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"overloaded\"} 1\n");
  free(r.body);
  CHECK_EQ(srv_stop(&a), 0);

  /* C: decoded limit one below the profile's decoded size */
  snprintf(log, sizeof log, "%s/server-limits-c.log", WORKDIR);
  char *args_c[] = {"-p", "0", bloburl, "--event-writer-url=kafka://limits", "--max-decoded-bytes", dec_lim1, NULL};
  if (srv_start_env(&c, BIN, log, NULL, args_c, NULL) != 0) {
    fprintf(stderr, "server C did not start; see %s\n", log);
    return 1;
  }
  r = upload(c.port, "lim", cpu, cpu_len);
  CHECK_ERROR(r, 413);
  free(r.body);
  r = upload(c.port, "lim", raw, raw_len);
  CHECK_ERROR(r, 413);
  free(r.body);
  CHECK_EQ(srv_stop(&c), 0);

  /* nothing refused was stored */
  blob_store *bs;
  char u[1100];
  snprintf(u, sizeof u, "file://%s", blobdir);
  CHECK_EQ(blob_open(u, &bs, err, sizeof err), 0);
  CHECK_EQ(count_objects(bs, "lim/staging/"), 5 + early);
  CHECK_EQ(count_objects(bs, "slow/staging/"), 1);
  blob_close(bs);
  return 0;
}

/* ---- cli ---- */

static int mode_cli(void) {
  char *out;
  char dataurl[1100];
  snprintf(dataurl, sizeof dataurl, "--blob-store-url=file://%s/cli-data", WORKDIR);
  char *a_help[] = {"--help", NULL};
  CHECK_EQ(run_capture(BIN, a_help, NULL, &out), 0);
  const char *want[] = {"--port", "-p,", "--bind", "--blob-store-url", "--event-writer-url", "--auth-token-file",
                        "--insecure", "--max-profile-bytes", "--log-level", "-l,", "--worker", "PGOPIPE_BLOB_STORE_URL",
                        "PGOPIPE_MAX_PROFILE_BYTES", "PGOPIPE_AUTH_TOKEN", "(default 8080)", "(default 127.0.0.1)", NULL};
  for (int i = 0; want[i]; i++) CHECK_CONTAINS(out, want[i]);
  free(out);
  char *a_ver[] = {"--version", NULL};
  CHECK_EQ(run_capture(BIN, a_ver, NULL, &out), 0);
  CHECK_CONTAINS(out, "pgopipe-server 0.");
  free(out);
  char *a_bad[] = {"--bogus", NULL};
  CHECK_EQ(run_capture(BIN, a_bad, NULL, &out), 2);
  CHECK_CONTAINS(out, "unknown flag --bogus");
  free(out);
  char *a_port[] = {"-p", "http", NULL};
  CHECK_EQ(run_capture(BIN, a_port, NULL, &out), 2);
  CHECK_CONTAINS(out, "-p: bad integer");
  free(out);
  char *a_port2[] = {"--port=70000", NULL};
  CHECK_EQ(run_capture(BIN, a_port2, NULL, &out), 2);
  free(out);
  char *a_size[] = {"--max-profile-bytes=10MB", NULL};
  CHECK_EQ(run_capture(BIN, a_size, NULL, &out), 2);
  CHECK_CONTAINS(out, "bad size");
  free(out);
  char *a_lvl[] = {"-l", "loud", NULL};
  CHECK_EQ(run_capture(BIN, a_lvl, NULL, &out), 2);
  free(out);
  char *e_lvl[] = {"PGOPIPE_LOG_LEVEL=loud", NULL};
  char *a_none[] = {NULL};
  CHECK_EQ(run_capture(BIN, a_none, e_lvl, &out), 2);
  CHECK_CONTAINS(out, "loud");
  free(out);
  char *e_port[] = {"PGOPIPE_PORT=abc", NULL};
  CHECK_EQ(run_capture(BIN, a_none, e_port, &out), 2);
  CHECK_CONTAINS(out, "PGOPIPE_PORT");
  free(out);
  /* non-loopback without a token: refused; with --insecure or a token: starts */
  char *a_open[] = {"--bind", "0.0.0.0", "-p", "0", dataurl, "--event-writer-url=kafka://cli", NULL};
  CHECK_EQ(run_capture(BIN, a_open, NULL, &out), 1);
  CHECK_CONTAINS(out, "refusing to listen on 0.0.0.0 without an auth token");
  free(out);
  char log[1024];
  srv s;
  snprintf(log, sizeof log, "%s/server-cli-insecure.log", WORKDIR);
  char *a_insec[] = {"--bind", "0.0.0.0", "-p", "0", dataurl, "--event-writer-url=kafka://cli", "--insecure", NULL};
  CHECK_EQ(srv_start_env(&s, BIN, log, NULL, a_insec, NULL), 0);
  CHECK_EQ(srv_stop(&s), 0);
  char *e_tok[] = {"PGOPIPE_AUTH_TOKEN=abc", NULL};
  char *a_open2[] = {"--bind", "0.0.0.0", "-p", "0", dataurl, "--event-writer-url=kafka://cli", NULL};
  CHECK_EQ(srv_start_env(&s, BIN, log, e_tok, a_open2, NULL), 0);
  {
    http_resp r = http_do(s.port, "POST", "/api/profile/x", "x", 1, 0, NULL);
    CHECK_ERROR(r, 401);
    free(r.body);
  }
  CHECK_EQ(srv_stop(&s), 0);
  /* token file: flag beats env var for the file, the file's token is used */
  {
    char tf[1024];
    snprintf(tf, sizeof tf, "%s/token", WORKDIR);
    FILE *f = fopen(tf, "w");
    fputs("file-token\n", f);
    fclose(f);
    char tfarg[1100];
    snprintf(tfarg, sizeof tfarg, "--auth-token-file=%s", tf);
    char *a_tf[] = {"-p", "0", dataurl, "--event-writer-url=kafka://cli", tfarg, NULL};
    CHECK_EQ(srv_start_env(&s, BIN, log, e_tok, a_tf, NULL), 0);
    const char *fh[] = {"Authorization: Bearer file-token", NULL};
    const char *eh[] = {"Authorization: Bearer abc", NULL};
    http_resp r = http_do(s.port, "DELETE", "/api/profile/x", NULL, 0, 0, eh);
    CHECK_ERROR(r, 401);
    free(r.body);
    r = http_do(s.port, "DELETE", "/api/profile/x", NULL, 0, 0, fh);
    CHECK_ERROR(r, 404);
    free(r.body);
    CHECK_EQ(srv_stop(&s), 0);
    char *a_missing[] = {"-p", "0", dataurl, "--event-writer-url=kafka://cli", "--auth-token-file=/nonexistent/t", NULL};
    CHECK_EQ(run_capture(BIN, a_missing, NULL, &out), 1);
    CHECK_CONTAINS(out, "/nonexistent/t");
    free(out);
  }
  /* env var configures like the flag; the flag wins */
  {
    char *e_url[] = {"PGOPIPE_EVENT_WRITER_URL=kafka://from-env", "PGOPIPE_PORT=1", NULL};
    char *a_p0[] = {"-p", "0", dataurl, NULL};
    CHECK_EQ(srv_start_env(&s, BIN, log, e_url, a_p0, NULL), 0);
    size_t len;
    char *text = (char *)t_read_file(log, &len);
    CHECK_CONTAINS(text, "\"bus\":\"kafka://from-env\"");
    free(text);
    CHECK(s.port != 1);
    CHECK_EQ(srv_stop(&s), 0);
  }
  /* mem:// without the in-process worker is refused: nothing could read it */
  char *a_mem[] = {"-p", "0", dataurl, "--event-writer-url=mem://profiles", NULL};
  CHECK_EQ(run_capture(BIN, a_mem, NULL, &out), 1);
  CHECK_CONTAINS(out, "mem://");
  CHECK_CONTAINS(out, "--worker");
  free(out);
  /* The all-in-one default: no URL flags runs the whole pipeline in one
   * process on file://./data + mem://profiles with the merge worker
   * in-process; health lists the worker as a dependency. */
  {
    char aio[1100], here[1100];
    snprintf(aio, sizeof aio, "%s/aio", WORKDIR);
    CHECK(mkdir(aio, 0755) == 0 || errno == EEXIST);
    CHECK(getcwd(here, sizeof here) != NULL);
    CHECK_EQ(chdir(aio), 0);
    char *a_def[] = {"-p", "0", NULL};
    int started = srv_start_env(&s, BIN, log, NULL, a_def, NULL);
    CHECK_EQ(chdir(here), 0);
    CHECK_EQ(started, 0);
    size_t len;
    char *text = (char *)t_read_file(log, &len);
    CHECK_CONTAINS(text, "\"bus\":\"mem://profiles\"");
    CHECK_CONTAINS(text, "\"worker\":true");
    free(text);
    http_resp r = http_do(s.port, "GET", "/api/health", NULL, 0, 0, NULL);
    CHECK_EQ(r.status, 200);
    CHECK_STR(r.body, "{\"status\":\"healthy\",\"dependencies\":[{\"name\":\"blob\",\"status\":\"healthy\"},"
                      "{\"name\":\"event-writer\",\"status\":\"healthy\"},"
                      "{\"name\":\"event-reader\",\"status\":\"healthy\"},"
                      "{\"name\":\"worker\",\"status\":\"healthy\"}]}");
    free(r.body);
    CHECK_EQ(srv_stop(&s), 0);
    struct stat sb;
    snprintf(aio, sizeof aio, "%s/aio/data", WORKDIR);
    CHECK_EQ(stat(aio, &sb), 0); /* file://./data is relative to the working directory */
  }
  /* --worker with Kafka: the in-process worker joins a consumer group */
  {
    char *a_wrk[] = {"-p", "0", dataurl, "--event-writer-url=kafka://cli", "--worker",
                     "--event-reader-url=kafka://cli-group?topic=cli", NULL};
    CHECK_EQ(srv_start_env(&s, BIN, log, NULL, a_wrk, NULL), 0);
    http_resp r = http_do(s.port, "GET", "/api/health", NULL, 0, 0, NULL);
    CHECK_EQ(r.status, 200);
    CHECK_CONTAINS(r.body, "\"name\":\"event-reader\"");
    CHECK_CONTAINS(r.body, "\"name\":\"worker\"");
    free(r.body);
    CHECK_EQ(srv_stop(&s), 0);
  }
  /* without --worker, health has no worker dependency */
  {
    CHECK_EQ(srv_start_env(&s, BIN, log, NULL, a_insec, NULL), 0);
    http_resp r = http_do(s.port, "GET", "/api/health", NULL, 0, 0, NULL);
    CHECK_EQ(r.status, 200);
    CHECK(strstr(r.body, "\"worker\"") == NULL);
    free(r.body);
    CHECK_EQ(srv_stop(&s), 0);
  }
  /* bad URLs name themselves */
  char *a_badurl[] = {"-p", "0", "--blob-store-url=ftp://x", "--event-writer-url=kafka://cli", NULL};
  CHECK_EQ(run_capture(BIN, a_badurl, NULL, &out), 1);
  CHECK_CONTAINS(out, "ftp://x");
  free(out);
  /* port in use */
  {
    srv s1;
    CHECK_EQ(srv_start_env(&s1, BIN, log, NULL, a_insec, NULL), 0);
    char pstr[16];
    snprintf(pstr, sizeof pstr, "%d", s1.port);
    char *a_busy[] = {"-p", pstr, dataurl, "--event-writer-url=kafka://cli", NULL};
    CHECK_EQ(run_capture(BIN, a_busy, NULL, &out), 1);
    CHECK_CONTAINS(out, pstr);
    free(out);
    CHECK_EQ(srv_stop(&s1), 0);
  }
  return 0;
}

/* ---- kafka down ---- */

static int mode_kafka_down(void) {
  char log[1024], bloburl[1100], err[512];
  const char *kdir = getenv("KAFKA_MOCK_DIR");
  if (!kdir) {
    fprintf(stderr, "KAFKA_MOCK_DIR not set (run under with-kafka.sh)\n");
    return 1;
  }
  snprintf(bloburl, sizeof bloburl, "--blob-store-url=file://%s/kdown-data", WORKDIR);
  snprintf(log, sizeof log, "%s/server-kafka-down.log", WORKDIR);
  char *args[] = {"-p", "0", bloburl, "--event-writer-url=kafka://kd?message.timeout.ms=3000", NULL};
  srv s;
  if (srv_start_env(&s, BIN, log, NULL, args, NULL) != 0) {
    fprintf(stderr, "server did not start; see %s\n", log);
    return 1;
  }
  http_resp r = upload(s.port, "kd", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  /* stop the broker (its PID is in KAFKA_MOCK_DIR/pid) */
  char pidpath[1024];
  snprintf(pidpath, sizeof pidpath, "%s/pid", kdir);
  size_t len;
  char *pidtxt = (char *)t_read_file(pidpath, &len);
  CHECK(pidtxt != NULL);
  pid_t kp = pidtxt ? (pid_t)atoi(pidtxt) : 0;
  free(pidtxt);
  if (kp > 0) {
    kill(kp, SIGKILL);
    for (int i = 0; i < 200 && kill(kp, 0) == 0; i++) t_sleep_ms(10);
  }
  for (int i = 0; i < 3; i++) {
    r = upload(s.port, "kd", cpu, cpu_len);
    CHECK_ERROR(r, 503);
    CHECK_CONTAINS(r.body, "event bus unavailable");
    CHECK(r.secs < 15);
    free(r.body);
  }
  r = http_do(s.port, "GET", "/api/health", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 503);
  CHECK_CONTAINS(r.body, "{\"name\":\"event-writer\",\"status\":\"unhealthy\",\"message\":");
  CHECK_CONTAINS(r.body, "{\"name\":\"blob\",\"status\":\"healthy\"}");
  free(r.body);
  r = http_do(s.port, "GET", "/metrics", NULL, 0, 0, NULL);
  CHECK_CONTAINS(r.body, "pgopipe_publish_errors_total 3\n");
  CHECK_CONTAINS(r.body, "pgopipe_uploads_rejected_total{reason=\"publish\"} 3\n");
  free(r.body);
  /* nothing left staged by the refused uploads: only the first one */
  blob_store *bs;
  char u[1100];
  snprintf(u, sizeof u, "file://%s/kdown-data", WORKDIR);
  CHECK_EQ(blob_open(u, &bs, err, sizeof err), 0);
  CHECK_EQ(count_objects(bs, "kd/staging/"), 1);
  blob_close(bs);
  int rc = srv_stop_sig(&s, SIGTERM, 60000);
  CHECK(rc == 0 || rc == 1); /* exits; the producer cannot flush to a dead broker */
  return 0;
}

/* ---- s3 down ---- */

static int mode_s3_down(const char *s3dir, const char *support) {
  char log[1024], bloburl[1100], cmd[2048];
  const char *url = getenv("PGOPIPE_TEST_S3_URL"), *endpoint = getenv("S3_ENDPOINT");
  if (!url || !endpoint) {
    fprintf(stderr, "PGOPIPE_TEST_S3_URL / S3_ENDPOINT not set (run under the S3 runner)\n");
    return 1;
  }
  snprintf(bloburl, sizeof bloburl, "--blob-store-url=%s", url);
  snprintf(log, sizeof log, "%s/server-s3-down.log", WORKDIR);
  char *args[] = {"-p", "0", bloburl, "--event-writer-url=kafka://s3d", NULL};
  srv s;
  if (srv_start_env(&s, BIN, log, NULL, args, NULL) != 0) {
    fprintf(stderr, "server did not start; see %s\n", log);
    return 1;
  }
  http_resp r = upload(s.port, "s3d", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  snprintf(cmd, sizeof cmd, "%s/s3-down.sh %s", support, s3dir);
  CHECK_EQ(system(cmd), 0);
  r = upload(s.port, "s3d", cpu, cpu_len);
  CHECK_ERROR(r, 503);
  CHECK_CONTAINS(r.body, "blob store unavailable");
  CHECK(r.secs < 5);
  fprintf(stderr, "upload with S3 down answered 503 in %.3f s\n", r.secs);
  free(r.body);
  r = http_do(s.port, "GET", "/api/health", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 503);
  CHECK_CONTAINS(r.body, "{\"name\":\"blob\",\"status\":\"unhealthy\",\"message\":");
  CHECK(r.secs < 5);
  free(r.body);
  r = http_do(s.port, "GET", "/api/profile/s3d", NULL, 0, 0, NULL);
  CHECK_ERROR(r, 503);
  free(r.body);
  /* S3 comes back on the same port: the server recovers without a restart */
  const char *port = strrchr(endpoint, ':') + 1;
  snprintf(cmd, sizeof cmd, "S3_PORT=%s %s/s3-up.sh %s >/dev/null", port, support, s3dir);
  CHECK_EQ(system(cmd), 0);
  int64_t t0 = t_now_ms();
  long st = 0;
  while (t_now_ms() - t0 < 30000) {
    r = http_do(s.port, "GET", "/api/health", NULL, 0, 0, NULL);
    st = r.status;
    free(r.body);
    if (st == 200) break;
    t_sleep_ms(100);
  }
  CHECK_EQ(st, 200);
  r = upload(s.port, "s3d", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  r = http_do(s.port, "GET", "/metrics", NULL, 0, 0, NULL);
  CHECK_CONTAINS(r.body, "pgopipe_blob_errors_total{op=\"put\"} 1\n");
  free(r.body);
  CHECK_EQ(srv_stop(&s), 0);
  return 0;
}

/* ---- SIGTERM during uploads ---- */

typedef struct load_job {
  pthread_t th;
  int port;
  volatile int *stop;
  char (*keys)[128];
  int nkeys, cap;
  int refused;
} load_job;

static void *load_loop(void *arg) {
  load_job *j = arg;
  while (!*j->stop) {
    http_resp r = upload(j->port, "term", cpu, cpu_len);
    if (r.status == 201 && j->nkeys < j->cap) {
      key_of(&r, j->keys[j->nkeys], 128);
      j->nkeys++;
    } else {
      j->refused++;
    }
    free(r.body);
    if (r.status == -1) t_sleep_ms(5); /* server gone: connection refused */
  }
  return NULL;
}

static int mode_sigterm(void) {
  char log[1024], bloburl[1100], err[512], topic[64], writer[128];
  snprintf(topic, sizeof topic, "term%lld", (long long)t_now_ms());
  snprintf(writer, sizeof writer, "--event-writer-url=kafka://%s", topic);
  snprintf(bloburl, sizeof bloburl, "--blob-store-url=file://%s/term-data", WORKDIR);
  snprintf(log, sizeof log, "%s/server-sigterm.log", WORKDIR);
  char *args[] = {"-p", "0", bloburl, writer, NULL};
  srv s;
  if (srv_start_env(&s, BIN, log, NULL, args, NULL) != 0) {
    fprintf(stderr, "server did not start; see %s\n", log);
    return 1;
  }
  volatile int stop = 0;
  load_job jobs[8];
  for (int i = 0; i < 8; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].port = s.port;
    jobs[i].stop = &stop;
    jobs[i].cap = 100000;
    jobs[i].keys = malloc((size_t)jobs[i].cap * 128);
    pthread_create(&jobs[i].th, NULL, load_loop, &jobs[i]);
  }
  t_sleep_ms(1500);
  int rc = srv_stop_sig(&s, SIGTERM, 30000);
  CHECK_EQ(rc, 0);
  t_sleep_ms(200);
  stop = 1;
  int acked = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(jobs[i].th, NULL);
    acked += jobs[i].nkeys;
  }
  fprintf(stderr, "sigterm: %d uploads acknowledged before shutdown\n", acked);
  CHECK(acked > 10);
  /* every acknowledged upload is stored and announced */
  blob_store *bs;
  char u[1100];
  snprintf(u, sizeof u, "file://%s/term-data", WORKDIR);
  CHECK_EQ(blob_open(u, &bs, err, sizeof err), 0);
  int stored = 0;
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < jobs[i].nkeys; k++) {
      blob_info info;
      if (blob_stat(bs, jobs[i].keys[k], &info, err, sizeof err) == BLOB_OK) stored++;
    }
  CHECK_EQ(stored, acked);
  int staged = count_objects(bs, "term/staging/");
  blob_close(bs);
  evlist evs;
  read_events(topic, (size_t)acked + 1000, 8000, &evs);
  int announced = 0;
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < jobs[i].nkeys; k++) announced += find_event(&evs, BUS_TYPE_UPLOADED, "term", jobs[i].keys[k]) > 0;
  CHECK_EQ(announced, acked);
  /* no event without its object, and no object without its event */
  CHECK_EQ((int)evs.n, staged);
  free(evs.ev);
  free(evs.msgkey);
  for (int i = 0; i < 8; i++) free(jobs[i].keys);
  size_t len;
  char *text = (char *)t_read_file(log, &len);
  CHECK_CONTAINS(text, "shutting down");
  CHECK_CONTAINS(text, "\"msg\":\"stopped\"");
  free(text);
  return 0;
}

/* ---- hostile ---- */

/* A growable protobuf writer for the hostile profiles. */
typedef struct gbuf {
  uint8_t *b;
  size_t n, cap;
} gbuf;

static void g_need(gbuf *g, size_t more) {
  if (g->n + more <= g->cap) return;
  while (g->n + more > g->cap) g->cap = g->cap ? g->cap * 2 : 4096;
  g->b = realloc(g->b, g->cap);
}
static void g_varint(gbuf *g, uint64_t v) {
  g_need(g, 10);
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    g->b[g->n++] = (uint8_t)(c | (v ? 0x80 : 0));
  } while (v);
}
static void g_int(gbuf *g, unsigned field, uint64_t v) {
  g_varint(g, (uint64_t)field << 3);
  g_varint(g, v);
}
static void g_bytes(gbuf *g, unsigned field, const void *d, size_t n) {
  g_varint(g, (uint64_t)field << 3 | 2);
  g_varint(g, n);
  g_need(g, n);
  memcpy(g->b + g->n, d, n);
  g->n += n;
}
static void g_msg(gbuf *g, unsigned field, gbuf *m) {
  g_bytes(g, field, m->b, m->n);
  m->n = 0;
}

/* A CPU profile's header, strings (extra ones after the usual) and nf
 * functions/locations (ids 1..nf, function i named by string 6 + i). */
static void g_cpu_head(gbuf *g, const char *const *names, size_t nnames, size_t nf) {
  gbuf m = {0};
  g_int(&m, 1, 1), g_int(&m, 2, 2), g_msg(g, 1, &m);
  g_int(&m, 1, 3), g_int(&m, 2, 4), g_msg(g, 1, &m);
  for (size_t i = 1; i <= nf; i++) {
    gbuf ln = {0};
    g_int(&ln, 1, i), g_int(&ln, 2, 1);
    g_int(&m, 1, i), g_bytes(&m, 4, ln.b, ln.n), g_msg(g, 4, &m);
    g_int(&m, 1, i), g_int(&m, 2, 5 + i), g_msg(g, 5, &m);
    free(ln.b);
  }
  static const char *const base[] = {"", "samples", "count", "cpu", "nanoseconds", "main.go"};
  for (size_t i = 0; i < 6; i++) g_bytes(g, 6, base[i], strlen(base[i]));
  for (size_t i = 0; i < nnames; i++) g_bytes(g, 6, names[i], strlen(names[i]));
  g_int(&m, 1, 3), g_int(&m, 2, 4), g_msg(g, 11, &m);
  g_int(g, 12, 10000000);
  free(m.b);
}

/* gzip of in[0..n) (zlib, level 1); *len set. */
static uint8_t *gz(const uint8_t *in, size_t n, size_t *len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  size_t cap = deflateBound(&z, n) + 64;
  uint8_t *out = malloc(cap);
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_FINISH);
  *len = z.total_out;
  deflateEnd(&z);
  return out;
}

/* The server's peak and current resident memory (kB), from /proc. */
static long proc_kb(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  size_t fl = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') v = atol(line + fl + 1);
  if (f) fclose(f);
  return v;
}

typedef struct big_job {
  pthread_t th;
  int port;
  const uint8_t *b;
  size_t n;
  long status;
} big_job;

static void *big_upload(void *arg) {
  big_job *j = arg;
  http_resp r = upload(j->port, "burst", j->b, j->n);
  j->status = r.status;
  free(r.body);
  return NULL;
}

static int wait_base_status(int port, const char *app, long want, int ms) {
  char path[128];
  snprintf(path, sizeof path, "/api/profile/%s", app);
  int64_t t0 = t_now_ms();
  long st = 0;
  do {
    http_resp r = http_do(port, "HEAD", path, NULL, 0, 0, NULL);
    st = r.status;
    free(r.body);
    if (st == want) return 1;
    t_sleep_ms(100);
  } while (t_now_ms() - t0 < ms);
  return 0;
}

static int mode_hostile(void) {
  char log[1024], bloburl[1100], datadir[1024], path[1400];
  snprintf(datadir, sizeof datadir, "%s/hostile-data", WORKDIR);
  snprintf(bloburl, sizeof bloburl, "--blob-store-url=file://%s", datadir);
  snprintf(log, sizeof log, "%s/server-hostile.log", WORKDIR);
  /* the in-process worker, with limits above its own former 64 MiB */
  char *args[] = {"-p", "0", bloburl, "--event-writer-url=mem://hostile", "--worker",
                  "--max-profile-bytes", "100000000", "--max-decoded-bytes", "300000000", NULL};
  srv s;
  if (srv_start_env(&s, BIN, log, NULL, args, NULL) != 0) {
    fprintf(stderr, "server did not start; see %s\n", log);
    return 1;
  }
  http_resp r = upload(s.port, "myapp", cpu, cpu_len);
  CHECK_EQ(r.status, 201);
  free(r.body);
  CHECK(wait_base_status(s.port, "myapp", 200, 20000));

  /* 1. a decoded byte outside the name rule, NUL above all, is 400 on every
   * route that takes an app, and nothing happens to the app it cuts to */
  const char *nul_paths[] = {"/api/profile/myapp%00.evil", "/api/profile/myapp%00x", "/api/profile/myapp%0a"};
  for (size_t i = 0; i < 3; i++) {
    r = http_do(s.port, "POST", nul_paths[i], cpu, cpu_len, 0, NULL);
    CHECK_ERROR(r, 400);
    free(r.body);
    r = http_do(s.port, "GET", nul_paths[i], NULL, 0, 0, NULL);
    CHECK_ERROR(r, 400);
    free(r.body);
    r = http_do(s.port, "DELETE", nul_paths[i], NULL, 0, 0, NULL);
    CHECK_ERROR(r, 400);
    free(r.body);
  }
  CHECK(wait_base_status(s.port, "myapp", 200, 100), "a NUL-cut DELETE deleted myapp");
  {
    blob_store *bs;
    char u[1100], err[256];
    snprintf(u, sizeof u, "file://%s", datadir);
    CHECK_EQ(blob_open(u, &bs, err, sizeof err), 0);
    int left = count_objects(bs, "myapp/staging/");
    for (int i = 0; i < 100 && left > 0; i++) { /* the first upload's clean-up */
      t_sleep_ms(100);
      left = count_objects(bs, "myapp/staging/");
    }
    CHECK(left == 0, "%d staged objects under myapp/", left);
    blob_close(bs);
  }
  size_t len;
  char *text = (char *)t_read_file(log, &len);
  CHECK(text && strstr(text, "myapp%00.evil"), "the access log does not show the path as sent");
  free(text);

  /* 2. the memory bound: one sample whose stack is 60M references to one
   * location (a 60 MB decoded body from a ~60 KB upload), and one sample
   * with 4M labels: refused with 413 at once, memory stays low */
  long hwm0 = proc_kb(s.pid, "VmHWM");
  {
    gbuf g = {0};
    g_cpu_head(&g, (const char *[]){"main.deep"}, 1, 1);
    size_t n = 60u << 20;
    gbuf sm = {0};
    g_varint(&sm, 1 << 3 | 2);
    g_varint(&sm, n);
    g_need(&sm, n);
    memset(sm.b + sm.n, 1, n);
    sm.n += n;
    g_bytes(&sm, 2, "\x01\x80\xad\xe2\x04", 5); /* values: packed 1, 10000000 */
    g_msg(&g, 2, &sm);
    size_t zl;
    uint8_t *z = gz(g.b, g.n, &zl);
    fprintf(stderr, "deep stack: %zu bytes decoded, %zu gzipped\n", g.n, zl);
    r = upload(s.port, "deep", z, zl);
    CHECK_ERROR(r, 413);
    CHECK_CONTAINS(r.body, "stack");
    free(r.body);
    free(z), free(g.b), free(sm.b);
  }
  {
    gbuf g = {0};
    g_cpu_head(&g, (const char *[]){"main.labelled", "k", "v"}, 3, 1);
    gbuf sm = {0}, lab = {0};
    g_int(&sm, 1, 1);
    g_bytes(&sm, 2, "\x01\x80\xad\xe2\x04", 5);
    g_int(&lab, 1, 7), g_int(&lab, 2, 8);
    for (size_t i = 0; i < (4u << 20); i++) g_bytes(&sm, 3, lab.b, lab.n);
    g_msg(&g, 2, &sm);
    size_t zl;
    uint8_t *z = gz(g.b, g.n, &zl);
    fprintf(stderr, "4M labels: %zu bytes decoded, %zu gzipped\n", g.n, zl);
    r = upload(s.port, "labels", z, zl);
    CHECK_ERROR(r, 413);
    CHECK_CONTAINS(r.body, "labels");
    free(r.body);
    free(z), free(g.b), free(sm.b), free(lab.b);
  }
  long hwm1 = proc_kb(s.pid, "VmHWM");
  fprintf(stderr, "server peak RSS %ld kB before, %ld kB after the hostile uploads\n", hwm0, hwm1);
  CHECK(hwm1 - hwm0 < 200 * 1024, "hostile uploads raised the peak by %ld kB", hwm1 - hwm0);

  /* 3. memory is given back after a burst of large uploads */
  {
    gbuf g = {0};
    size_t nf = 150000;
    char **names = malloc(nf * sizeof *names);
    for (size_t i = 0; i < nf; i++) {
      names[i] = malloc(48);
      snprintf(names[i], 48, "github.com/some/pkg.function%06zu", i);
    }
    g_cpu_head(&g, (const char *const *)names, nf, nf);
    gbuf sm = {0}, lp = {0};
    for (size_t i = 0; i < nf; i++) {
      for (size_t k = 0; k < 12; k++) g_varint(&lp, 1 + (i * 7 + k * 131) % nf);
      g_msg(&sm, 1, &lp);
      g_bytes(&sm, 2, "\x01\x80\xad\xe2\x04", 5);
      g_msg(&g, 2, &sm);
    }
    size_t zl;
    uint8_t *z = gz(g.b, g.n, &zl);
    fprintf(stderr, "burst: 8 uploads of %zu bytes decoded (%zu gzipped)\n", g.n, zl);
    big_job j[8];
    for (int i = 0; i < 8; i++) {
      j[i] = (big_job){.port = s.port, .b = z, .n = zl};
      pthread_create(&j[i].th, NULL, big_upload, &j[i]);
    }
    for (int i = 0; i < 8; i++) {
      pthread_join(j[i].th, NULL);
      CHECK_EQ(j[i].status, 201);
    }
    CHECK(wait_base_status(s.port, "burst", 200, 60000));
    /* the worker merges (slowly on a loaded machine), and the base is
     * readable before it has finished its attempt and given the memory
     * back; then all is idle */
    int sanitized = getenv("PGOPIPE_TEST_SANITIZED") != NULL;
    long idle = proc_kb(s.pid, "VmRSS"), peak = proc_kb(s.pid, "VmHWM");
    /* the worker keeps the app's latest base decoded for its next batch
     * (here one of 150,000 functions and samples): what the burst itself
     * took goes back */
    for (int i = 0; i < 60 && !sanitized && (idle >= 200 * 1024 || idle >= peak / 2); i++) {
      t_sleep_ms(1000);
      idle = proc_kb(s.pid, "VmRSS");
      peak = proc_kb(s.pid, "VmHWM");
    }
    fprintf(stderr, "after the burst: peak %ld kB, idle %ld kB\n", peak, idle);
    if (sanitized)
      fprintf(stderr, "sanitizer build: the allocator is AddressSanitizer's, whose quarantine keeps freed "
                      "memory; the idle-RSS check runs in the regular build\n");
    else
      CHECK(idle < peak / 2 && idle < 200 * 1024, "idle RSS %ld kB kept after a burst peaking at %ld kB",
            idle, peak);
    for (size_t i = 0; i < nf; i++) free(names[i]);
    free(names), free(z), free(g.b), free(sm.b), free(lp.b);
  }

  /* 4. the in-process worker reads staged uploads up to the server's
   * limits: a 69 MB upload accepted with 201 is merged, not rejected */
  {
    gbuf g = {0};
    size_t n = 69u << 20;
    char *big = malloc(n + 1);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      big[i] = (char)(1 + x % 255); /* incompressible: the gzip stays as large */
    }
    big[n] = 0;
    g_cpu_head(&g, (const char *[]){big}, 1, 1);
    free(big);
    gbuf sm = {0};
    g_int(&sm, 1, 1);
    g_bytes(&sm, 2, "\x01\x80\xad\xe2\x04", 5);
    g_msg(&g, 2, &sm);
    size_t zl;
    uint8_t *z = gz(g.b, g.n, &zl);
    fprintf(stderr, "large: %zu bytes decoded, %zu gzipped\n", g.n, zl);
    CHECK(zl > (64u << 20), "the large upload is only %zu bytes", zl);
    r = upload(s.port, "large", z, zl);
    CHECK_EQ(r.status, 201);
    free(r.body);
    CHECK(wait_base_status(s.port, "large", 200, 120000), "a 201 upload was not merged");
    blob_store *bs;
    char u[1100], err[256];
    snprintf(u, sizeof u, "file://%s", datadir);
    CHECK_EQ(blob_open(u, &bs, err, sizeof err), 0);
    CHECK_EQ(count_objects(bs, "large/rejected/"), 0);
    blob_close(bs);
    free(z), free(g.b), free(sm.b);
  }

  /* 5. DELETE on a store that cannot delete the base: not 200 */
  snprintf(path, sizeof path, "chattr +i %s/myapp/default.pgo", datadir);
  if (system(path) == 0) {
    r = http_do(s.port, "DELETE", "/api/profile/myapp", NULL, 0, 0, NULL);
    CHECK_ERROR(r, 503);
    CHECK_CONTAINS(r.body, "could not be removed");
    free(r.body);
    CHECK(wait_base_status(s.port, "myapp", 200, 100), "the base is gone although the store refused");
    snprintf(path, sizeof path, "chattr -i %s/myapp/default.pgo", datadir);
    CHECK_EQ(system(path), 0);
    /* profile.deleted was announced: the worker finishes once it can */
    CHECK(wait_base_status(s.port, "myapp", 404, 60000), "the worker did not finish the deletion");
  } else {
    CHECK(0, "chattr is not available to simulate a store that refuses a delete");
  }
  CHECK_EQ(srv_stop(&s), 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_server MODE BIN ...\n");
    return 2;
  }
  const char *mode = argv[1];
  BIN = argv[2];
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  int rc = 1;
  if (strcmp(mode, "cli") == 0 && argc == 4) {
    WORKDIR = argv[3];
    rc = mode_cli();
  } else if (argc >= 5) {
    PROFILES = argv[3];
    WORKDIR = argv[4];
    load_profiles();
    if (strcmp(mode, "api") == 0 && argc == 6) rc = mode_api(argv[5]);
    else if (strcmp(mode, "limits") == 0) rc = mode_limits();
    else if (strcmp(mode, "kafka-down") == 0) rc = mode_kafka_down();
    else if (strcmp(mode, "s3-down") == 0 && argc == 7) rc = mode_s3_down(argv[5], argv[6]);
    else if (strcmp(mode, "sigterm") == 0) rc = mode_sigterm();
    else if (strcmp(mode, "hostile") == 0) rc = mode_hostile();
    else fprintf(stderr, "unknown mode or arguments: %s\n", mode);
  }
  curl_global_cleanup();
  free(cpu);
  free(cpu2);
  free(raw);
  free(heap);
  if (rc) return rc;
  return check_exit(mode);
}
