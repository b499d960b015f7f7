/*
 * test_client.c — lib/client against real HTTP: the test receiver
 * (receiver.c, a libmicrohttpd server speaking the API with fault
 * injection), a dead port and a port that never answers.
 *
 *   test_client RECEIVER_BINARY
 *
 * Proves: upload success and the returned key; retries on 503/500 until
 * success and the attempt count; no retry on 400/401; connection refused is
 * retried and reported naming the URL; the server's JSON message reaches
 * the error text; download streams atomically (no partial or temporary file
 * left on failure, old file kept), ETag/If-None-Match → 304; list parsing;
 * delete 200/404; timeouts; backoff arithmetic and Retry-After; RFC 3339
 * parsing.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../common/check.h"
#include "../common/http.h"
#include "../common/proc.h"
#include "client.h"

CHECK_DEFINE_COUNTERS

static char g_tmp[256];
static const char *g_receiver;

typedef struct srv {
  pid_t pid;
  long port;
  long hang_port;
  char dir[300];
  char url[64];
} srv;

/* Starts a receiver with extra flags (NULL-terminated). */
static int srv_start(srv *s, const char *name, const char *const *extra) {
  char pf[400], hf[400];
  snprintf(s->dir, sizeof s->dir, "%s/%s", g_tmp, name);
  mkdir(s->dir, 0755);
  snprintf(pf, sizeof pf, "%s/%s.port", g_tmp, name);
  snprintf(hf, sizeof hf, "%s/%s.hang", g_tmp, name);
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)(uintptr_t)g_receiver;
  argv[n++] = "--dir";
  argv[n++] = s->dir;
  argv[n++] = "--port-file";
  argv[n++] = pf;
  argv[n++] = "--hang-port-file";
  argv[n++] = hf;
  for (; extra && *extra && n < 30; extra++) argv[n++] = (char *)(uintptr_t)*extra;
  argv[n] = NULL;
  s->pid = t_spawn(argv);
  s->port = t_wait_number_file(pf, 10000);
  s->hang_port = t_wait_number_file(hf, 10000);
  snprintf(s->url, sizeof s->url, "http://127.0.0.1:%ld", s->port);
  return s->port > 0 && s->hang_port > 0 ? 0 : -1;
}

static void write_file(const char *path, const void *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(buf, 1, len, f);
  fclose(f);
}

static size_t read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return (size_t)-1;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static void test_pure(void) {
  client_config c = {.backoff_ms = 100, .backoff_max_ms = 1000};
  CHECK(client_backoff_ms(&c, 1, 1.0) == 100);
  CHECK(client_backoff_ms(&c, 1, 0.0) == 50);
  CHECK(client_backoff_ms(&c, 3, 1.0) == 400);
  CHECK(client_backoff_ms(&c, 10, 1.0) == 1000);
  CHECK(client_backoff_ms(&c, 40, 0.0) == 500);
  client_config d = {0};
  CHECK(client_backoff_ms(&d, 1, 1.0) == CLIENT_DEFAULT_BACKOFF_MS);

  /* app names and dates are lib/core's (tests/core); the client refuses a
   * bad name before building a request */
  char err[256];
  client_config cfg = {.api_url = "http://127.0.0.1:9"};
  CHECK(client_req_upload(&cfg, "Demo", (const uint8_t *)"x", 1, err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "invalid app name \"Demo\"");
  CHECK(client_req_upload(&cfg, "a\nb", (const uint8_t *)"x", 1, err, sizeof err) == NULL);
  CHECK(strchr(err, '\n') == NULL); /* one line, whatever the name held */
  client_req *ok = client_req_upload(&cfg, "demo", (const uint8_t *)"x", 1, err, sizeof err);
  CHECK(ok != NULL);
  client_req_free(ok);

  client_config bad = {.api_url = "localhost:8080"};
  CHECK(client_new(&bad, err, sizeof err) == NULL);
  CHECK_CONTAINS(err, "http://");
}

static void test_upload(const srv *plain, const srv *flaky, const srv *broken, const srv *rejects,
                        const srv *slow_ra) {
  char err[1024], key[512];
  int attempts = 0;
  const uint8_t body[] = "not checked by the receiver";

  client_config cfg = {.api_url = plain->url, .backoff_ms = 10, .backoff_max_ms = 40};
  client_t *c = client_new(&cfg, err, sizeof err);
  CHECK(c != NULL);
  int rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_OK);
  CHECK(attempts == 1);
  CHECK(strncmp(key, "demo/staging/", 13) == 0);
  char path[1024], got[256];
  snprintf(path, sizeof path, "%s/%s", plain->dir, key);
  CHECK(read_file(path, got, sizeof got) == sizeof body && memcmp(got, body, sizeof body) == 0);

  rc = client_upload(c, "Not-Valid", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_EINVAL);
  CHECK_CONTAINS(err, "invalid app name \"Not-Valid\"");
  client_free(c);

  /* 503 twice, then accepted; the token is sent */
  client_config fc = {.api_url = flaky->url, .token = "s3cret", .upload_attempts = 4,
                      .backoff_ms = 10, .backoff_max_ms = 40};
  c = client_new(&fc, err, sizeof err);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_OK);
  CHECK(attempts == 3);
  client_free(c);

  /* wrong token: 401 with the server's message, not retried */
  fc.token = "wrong";
  c = client_new(&fc, err, sizeof err);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_EHTTP);
  CHECK(attempts == 1);
  CHECK_CONTAINS(err, "401: missing or wrong bearer token");
  CHECK_CONTAINS(err, flaky->url);
  CHECK(key[0] == '\0');
  client_free(c);

  /* Retry-After: 1 from the server stretches a 10 ms backoff to 1 s, and a
   * backoff cap of 300 ms bounds it again */
  client_config ra = {.api_url = slow_ra->url, .upload_attempts = 2, .backoff_ms = 10,
                      .backoff_max_ms = 5000};
  c = client_new(&ra, err, sizeof err);
  struct timespec r0, r1;
  clock_gettime(CLOCK_MONOTONIC, &r0);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &r1);
  double waited = (double)(r1.tv_sec - r0.tv_sec) + (double)(r1.tv_nsec - r0.tv_nsec) / 1e9;
  CHECK(rc == CLIENT_OK && attempts == 2);
  CHECK(waited >= 0.95 && waited < 3.0);
  client_free(c);
  CHECK(client_retry_delay_ms(&ra, 1, 1.0, 1000) == 1000);
  CHECK(client_retry_delay_ms(&ra, 1, 1.0, 0) == 10);
  client_config capped = {.backoff_ms = 10, .backoff_max_ms = 300};
  CHECK(client_retry_delay_ms(&capped, 1, 1.0, 5000) == 300);

  /* 500 every time: all attempts used, last message reported with the count */
  client_config bc = {.api_url = broken->url, .upload_attempts = 3, .backoff_ms = 5};
  c = client_new(&bc, err, sizeof err);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_EHTTP);
  CHECK(attempts == 3);
  CHECK_CONTAINS(err, "500: injected failure (after 3 attempts)");
  client_free(c);

  /* 400 is final */
  client_config rc4 = {.api_url = rejects->url, .upload_attempts = 3, .backoff_ms = 5};
  c = client_new(&rc4, err, sizeof err);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_EHTTP);
  CHECK(attempts == 1);
  CHECK_CONTAINS(err, "POST ");
  CHECK_CONTAINS(err, "/api/profile/demo: 400: injected failure");
  client_free(c);

  /* nobody listening: retried, then a message naming the URL */
  char dead[64];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%d", http_dead_port());
  client_config dc = {.api_url = dead, .upload_attempts = 2, .backoff_ms = 5};
  c = client_new(&dc, err, sizeof err);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  CHECK(rc == CLIENT_ENET);
  CHECK(attempts == 2);
  CHECK_CONTAINS(err, dead);
  CHECK_CONTAINS(err, "cannot connect");
  client_free(c);

  /* connection accepted, never answered: the request timeout ends it */
  char hang[64];
  snprintf(hang, sizeof hang, "http://127.0.0.1:%ld", plain->hang_port);
  client_config hc = {.api_url = hang, .upload_attempts = 1, .timeout_ms = 300};
  c = client_new(&hc, err, sizeof err);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = client_upload(c, "demo", body, sizeof body, key, sizeof key, &attempts, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK(rc == CLIENT_ENET);
  CHECK_CONTAINS(err, "timed out");
  CHECK(secs < 3.0);
  client_free(c);
}

struct prog {
  int calls;
  uint64_t last;
};

static void on_progress(void *ud, uint64_t now, uint64_t total) {
  struct prog *p = ud;
  p->calls++;
  p->last = now;
  (void)total;
}

static void test_download_list_delete(const srv *s) {
  char err[1024];
  client_config cfg = {.api_url = s->url};
  client_t *c = client_new(&cfg, err, sizeof err);
  char out[400], outdir[300];
  snprintf(outdir, sizeof outdir, "%s/out", g_tmp);
  mkdir(outdir, 0755);
  snprintf(out, sizeof out, "%s/default.pgo", outdir);

  /* 404: the server's message, no file left behind */
  client_download_result res;
  int rc = client_download(c, "nosuch", out, NULL, &res, err, sizeof err);
  CHECK(rc == CLIENT_EHTTP);
  CHECK_CONTAINS(err, "GET ");
  CHECK_CONTAINS(err, "/api/profile/nosuch: 404: no profile for this app");
  CHECK(count_entries(outdir) == 0);

  /* an existing file survives a failed download */
  write_file(out, "old", 3);
  rc = client_download(c, "nosuch", out, NULL, &res, err, sizeof err);
  char got[4096];
  CHECK(rc == CLIENT_EHTTP);
  CHECK(read_file(out, got, sizeof got) == 3 && memcmp(got, "old", 3) == 0);
  CHECK(count_entries(outdir) == 1);

  /* a 300 KB base, streamed and renamed in place */
  size_t big = 300 * 1024;
  char *data = malloc(big);
  for (size_t i = 0; i < big; i++) data[i] = (char)(i * 7 + (i >> 9));
  char app_dir[400], base[500];
  snprintf(app_dir, sizeof app_dir, "%s/shop", s->dir);
  mkdir(app_dir, 0755);
  snprintf(base, sizeof base, "%s/default.pgo", app_dir);
  write_file(base, data, big);
  struct prog pr = {0};
  client_download_opts o = {.progress = on_progress, .progress_ud = &pr};
  rc = client_download(c, "shop", out, &o, &res, err, sizeof err);
  CHECK(rc == CLIENT_OK);
  CHECK(res.bytes == big);
  CHECK(!res.not_modified);
  CHECK(res.etag[0] == '"');
  CHECK(pr.calls > 0 && pr.last == big);
  char *back = malloc(big + 1);
  CHECK(read_file(out, back, big + 1) == big && memcmp(back, data, big) == 0);
  CHECK(count_entries(outdir) == 1);

  /* same ETag: 304, file untouched */
  write_file(out, "marker", 6);
  client_download_opts o2 = {.if_none_match = res.etag};
  char etag[128];
  snprintf(etag, sizeof etag, "%s", res.etag);
  o2.if_none_match = etag;
  rc = client_download(c, "shop", out, &o2, &res, err, sizeof err);
  CHECK(rc == CLIENT_OK);
  CHECK(res.not_modified);
  CHECK(read_file(out, got, sizeof got) == 6);
  CHECK(count_entries(outdir) == 1);

  /* output directory missing: a file error naming the path */
  char bad[600];
  snprintf(bad, sizeof bad, "%s/missing-dir/x.pgo", g_tmp);
  rc = client_download(c, "shop", bad, NULL, &res, err, sizeof err);
  CHECK(rc == CLIENT_EIO);
  CHECK_CONTAINS(err, bad);

  /* list: two apps with a base */
  snprintf(app_dir, sizeof app_dir, "%s/web", s->dir);
  mkdir(app_dir, 0755);
  snprintf(base, sizeof base, "%s/default.pgo", app_dir);
  write_file(base, "12345", 5);
  client_profile *ps = NULL;
  size_t n = 0;
  rc = client_list(c, &ps, &n, err, sizeof err);
  CHECK(rc == CLIENT_OK);
  CHECK(n == 2);
  int seen = 0;
  int64_t now_ms = (int64_t)time(NULL) * 1000;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(ps[i].app, "shop") && ps[i].size == big) seen |= 1;
    if (!strcmp(ps[i].app, "web") && ps[i].size == 5) seen |= 2;
    CHECK(ps[i].last_modified_ms > now_ms - 600000 && ps[i].last_modified_ms <= now_ms + 1000);
  }
  CHECK(seen == 3);
  client_profiles_free(ps, n);

  /* delete: 200, then 404 with the message */
  long status = 0;
  rc = client_delete(c, "web", &status, err, sizeof err);
  CHECK(rc == CLIENT_OK && status == 200);
  rc = client_delete(c, "web", &status, err, sizeof err);
  CHECK(rc == CLIENT_EHTTP && status == 404);
  CHECK_CONTAINS(err, "DELETE ");
  CHECK_CONTAINS(err, "/api/profile/web: 404: no profile for this app");
  rc = client_list(c, &ps, &n, err, sizeof err);
  CHECK(rc == CLIENT_OK && n == 1);
  client_profiles_free(ps, n);

  free(data);
  free(back);
  client_free(c);

  /* server down: list names the URL */
  char dead[64];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%d", http_dead_port());
  client_config dc = {.api_url = dead};
  c = client_new(&dc, err, sizeof err);
  rc = client_list(c, &ps, &n, err, sizeof err);
  CHECK(rc == CLIENT_ENET);
  CHECK_CONTAINS(err, dead);
  client_free(c);

  /* answers larger than the response bound are refused, not truncated */
  client_config small = {.api_url = s->url, .max_response_bytes = 1};
  c = client_new(&small, err, sizeof err);
  rc = client_list(c, &ps, &n, err, sizeof err);
  CHECK(rc == CLIENT_EPROTO);
  CHECK_CONTAINS(err, "listing larger than 64 bytes");
  client_free(c);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_client RECEIVER\n");
    return 2;
  }
  g_receiver = argv[1];
  curl_global_init(CURL_GLOBAL_DEFAULT);
  snprintf(g_tmp, sizeof g_tmp, "/tmp/pgopipe-test-client-XXXXXX");
  if (!mkdtemp(g_tmp)) {
    perror("mkdtemp");
    return 1;
  }
  test_pure();
  srv plain = {0}, flaky = {0}, broken = {0}, rejects = {0}, ra = {0};
  const char *fl[] = {"--fail-posts", "2", "--token", "s3cret", NULL};
  const char *br[] = {"--fail-posts", "1000", "--fail-status", "500", NULL};
  const char *rj[] = {"--fail-posts", "1000", "--fail-status", "400", NULL};
  const char *rr[] = {"--fail-posts", "1", "--retry-after", "1", NULL};
  int ok = srv_start(&plain, "plain", NULL) == 0 && srv_start(&flaky, "flaky", fl) == 0 &&
           srv_start(&broken, "broken", br) == 0 && srv_start(&rejects, "rejects", rj) == 0 &&
           srv_start(&ra, "retry-after", rr) == 0;
  CHECK(ok);
  if (ok) {
    test_upload(&plain, &flaky, &broken, &rejects, &ra);
    test_download_list_delete(&plain);
  }
  t_stop(plain.pid);
  t_stop(flaky.pid);
  t_stop(broken.pid);
  t_stop(rejects.pid);
  t_stop(ra.pid);
  t_rm_rf(g_tmp);
  curl_global_cleanup();
  return check_exit("test_client");
}
