/*
 * test_blob_s3.c — the S3 backend against the real test S3 server (s3rver
 * behind the SigV4-verifying front end, started by run-s3-test.sh): the
 * shared suite in path style and virtual-hosted style, then the failures a
 * client must tell apart: wrong secret or key id or region (BLOB_EAUTH with
 * S3's code and message), a missing bucket, a refused port and a server
 * that never answers (BLOB_ERETRY within the configured bounds), injected
 * 503s (retried, then BLOB_ERETRY), connection reuse, URL errors and
 * missing credentials.
 * Environment: PGOPIPE_TEST_S3_URL, S3_ENDPOINT, S3_BUCKET and the AWS_*
 * credentials, as written by s3-up.sh.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/http.h"
#include "suite.h"

CHECK_DEFINE_COUNTERS

static const char *endpoint, *bucket;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Talks to the front end's test controls (not S3); out (4096 bytes) gets
 * the answer's body when not NULL. */
static int control(const char *method, const char *path, char *out) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", endpoint, path);
  http_resp r = http_url(method, url, NULL, 0, 0, NULL, 10000);
  if (out) snprintf(out, 4096, "%s", r.body);
  http_resp_free(&r);
  return r.status > 0 ? 0 : -1;
}

static long stat_field(const char *name) {
  char body[4096], pat[64];
  if (control("GET", "/__control/stats", body)) return -1;
  snprintf(pat, sizeof pat, "\"%s\":", name);
  const char *p = strstr(body, pat);
  return p ? atol(p + strlen(pat)) : -1;
}

/* Opens the store at the URL fmt, ... (CHECKed). */
__attribute__((format(printf, 1, 2))) static blob_store *open_url(const char *fmt, ...) {
  char url[1024], err[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(url, sizeof url, fmt, ap);
  va_end(ap);
  blob_store *s = NULL;
  int rc = blob_open(url, &s, err, sizeof err);
  CHECK(rc == 0, "open %s: %s", url, err);
  return s;
}

static void test_auth(const char *url) {
  char err[2048];
  const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
  char *saved = strdup(secret);
  /* Wrong secret: 403 SignatureDoesNotMatch with S3's message. */
  setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
  blob_store *s;
  blob_open(url, &s, err, sizeof err);
  setenv("AWS_SECRET_ACCESS_KEY", saved, 1);
  int rc = blob_put(s, "auth/x", "x", 1, err, sizeof err);
  CHECK(rc == BLOB_EAUTH, "put with a wrong secret: %d %s", rc, err);
  CHECK(strstr(err, "403 SignatureDoesNotMatch") &&
            strstr(err, "The request signature we calculated does not match") &&
            strstr(err, "auth/x"),
        "wrong-secret message: %s", err);
  uint8_t *d;
  size_t n;
  rc = blob_get(s, "auth/x", 0, &d, &n, NULL, err, sizeof err);
  CHECK(rc == BLOB_EAUTH && strstr(err, "SignatureDoesNotMatch"), "get: %d %s", rc, err);
  blob_info info;
  rc = blob_stat(s, "auth/x", &info, err, sizeof err);
  CHECK(rc == BLOB_EAUTH && strstr(err, "HEAD") && strstr(err, "403 SignatureDoesNotMatch: The request"),
        "stat: %d %s", rc, err);
  rc = blob_delete(s, "auth/x", err, sizeof err);
  CHECK(rc == BLOB_EAUTH, "delete: %d %s", rc, err);
  rc = blob_check(s, err, sizeof err);
  CHECK(rc == BLOB_EAUTH && strstr(err, "SignatureDoesNotMatch"), "check: %d %s", rc, err);
  blob_iter *it;
  const char *k;
  blob_list(s, "", &it, err, sizeof err);
  rc = blob_iter_next(it, &k, &info, err, sizeof err);
  CHECK(rc == BLOB_EAUTH, "list: %d %s", rc, err);
  blob_iter_free(it);
  blob_close(s);

  /* Unknown access key id. */
  const char *ak = getenv("AWS_ACCESS_KEY_ID");
  char *saved_ak = strdup(ak);
  setenv("AWS_ACCESS_KEY_ID", "AKIDNOBODY", 1);
  blob_open(url, &s, err, sizeof err);
  setenv("AWS_ACCESS_KEY_ID", saved_ak, 1);
  rc = blob_put(s, "auth/x", "x", 1, err, sizeof err);
  CHECK(rc == BLOB_EAUTH && strstr(err, "InvalidAccessKeyId"), "unknown key id: %d %s", rc, err);
  blob_close(s);
  free(saved_ak);

  /* Session token: sent and signed (the front end checks every signed header). */
  setenv("AWS_SESSION_TOKEN", "session-token/with+odd=chars", 1);
  blob_open(url, &s, err, sizeof err);
  unsetenv("AWS_SESSION_TOKEN");
  rc = blob_put(s, "auth/token", "t", 1, err, sizeof err);
  CHECK(rc == 0, "put with a session token: %d %s", rc, err);
  blob_delete(s, "auth/token", err, sizeof err);
  blob_close(s);

  /* Missing credentials are refused at open, with what to set. */
  unsetenv("AWS_SECRET_ACCESS_KEY");
  s = (blob_store *)1;
  rc = blob_open(url, &s, err, sizeof err);
  CHECK(rc == BLOB_EINVAL && s == NULL && strstr(err, "AWS_SECRET_ACCESS_KEY"),
        "no secret: %d %s", rc, err);
  setenv("AWS_SECRET_ACCESS_KEY", saved, 1);
  free(saved);

  /* Wrong region. */
  s = open_url("s3://%s?endpoint=%s&region=eu-west-1&use_path_style=true", bucket, endpoint);
  rc = blob_put(s, "auth/x", "x", 1, err, sizeof err);
  CHECK(rc == BLOB_EAUTH && strstr(err, "AuthorizationHeaderMalformed"), "wrong region: %d %s",
        rc, err);
  blob_close(s);

  /* A bucket that does not exist. */
  s = open_url("s3://%s?endpoint=%s&use_path_style=true", "no-such-bucket", endpoint);
  rc = blob_check(s, err, sizeof err);
  CHECK(rc == BLOB_EIO && strstr(err, "NoSuchBucket"), "missing bucket: %d %s", rc, err);
  blob_close(s);
}

static void test_down(void) {
  char err[2048], ep[128], port[16];
  /* Refused: retried, then BLOB_ERETRY, quickly. */
  snprintf(ep, sizeof ep, "http://127.0.0.1:%d", http_dead_port());
  blob_store *s =
      open_url("s3://%s?endpoint=%s&use_path_style=true&retries=2&retry_backoff=50ms", bucket, ep);
  double t0 = now_s();
  int rc = blob_put(s, "down/x", "x", 1, err, sizeof err);
  double dt = now_s() - t0;
  CHECK(rc == BLOB_ERETRY, "refused: %d %s", rc, err);
  CHECK(strstr(err, "3 attempts") && strstr(err, ep), "refused message: %s", err);
  CHECK(dt < 3.0, "refused took %.2fs", dt);
  uint8_t *d;
  size_t n;
  rc = blob_get(s, "down/x", 0, &d, &n, NULL, err, sizeof err);
  CHECK(rc == BLOB_ERETRY, "get refused: %d", rc);
  rc = blob_check(s, err, sizeof err);
  CHECK(rc == BLOB_ERETRY, "check refused: %d", rc);
  blob_close(s);

  /* A server that accepts and never answers: bounded by the timeouts. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(lfd, (struct sockaddr *)&a, sizeof a);
  listen(lfd, 16);
  socklen_t l = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &l);
  snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
  snprintf(ep, sizeof ep, "http://127.0.0.1:%s", port);
  s = open_url("s3://%s?endpoint=%s&use_path_style=true&timeout=700ms&connect_timeout=1s&retries=1"
               "&retry_backoff=10ms",
               bucket, ep);
  t0 = now_s();
  rc = blob_stat(s, "down/x", NULL, err, sizeof err);
  dt = now_s() - t0;
  CHECK(rc == BLOB_ERETRY, "silent server: %d %s", rc, err);
  CHECK(dt >= 1.3 && dt < 5.0, "silent server: took %.2fs, want two 0.7s attempts", dt);
  CHECK(strstr(err, "2 attempts") != NULL, "silent server message: %s", err);
  blob_close(s);
  close(lfd);

  /* The same through the front end's hang control: the first attempt is
   * never answered, the retry succeeds. */
  s = open_url("s3://%s?endpoint=%s&use_path_style=true&timeout=700ms&retries=1&retry_backoff=10ms",
               bucket, endpoint);
  blob_put(s, "down/h", "h", 1, err, sizeof err);
  control("POST", "/__control/hang?count=1", NULL);
  t0 = now_s();
  blob_info info;
  rc = blob_stat(s, "down/h", &info, err, sizeof err);
  dt = now_s() - t0;
  CHECK(rc == 0 && info.size == 1, "stat after one hung attempt: %d %s", rc, err);
  CHECK(dt >= 0.6 && dt < 4.0, "hung attempt took %.2fs", dt);
  blob_delete(s, "down/h", err, sizeof err);
  blob_close(s);
}

static void test_retry_and_reuse(const char *url) {
  char err[2048];
  blob_store *s;
  blob_open(url, &s, err, sizeof err);
  /* Two injected 503s are absorbed by the default 3 retries. */
  long f0 = stat_field("failures");
  control("POST", "/__control/fail?count=2&status=503", NULL);
  int rc = blob_put(s, "retry/x", "payload", 7, err, sizeof err);
  CHECK(rc == 0, "put through two 503s: %d %s", rc, err);
  CHECK(stat_field("failures") - f0 == 2, "the 503s were not served");
  uint8_t *d = NULL;
  size_t n = 0;
  control("POST", "/__control/fail?count=1&status=500", NULL);
  rc = blob_get(s, "retry/x", 0, &d, &n, NULL, err, sizeof err);
  CHECK(rc == 0 && n == 7 && !memcmp(d, "payload", 7), "get through a 500: %d %s", rc, err);
  free(d);
  blob_close(s);
  /* More failures than retries: BLOB_ERETRY with S3's code. */
  char u2[1200];
  snprintf(u2, sizeof u2, "%s&retries=1&retry_backoff=10ms", url);
  blob_open(u2, &s, err, sizeof err);
  control("POST", "/__control/fail?count=5&status=503", NULL);
  rc = blob_put(s, "retry/y", "y", 1, err, sizeof err);
  CHECK(rc == BLOB_ERETRY && strstr(err, "503 SlowDown") && strstr(err, "2 attempts"),
        "persistent 503: %d %s", rc, err);
  control("POST", "/__control/fail?count=0", NULL);
  blob_delete(s, "retry/x", err, sizeof err);
  blob_close(s);

  /* Connection reuse: one thread, many requests, one connection. */
  blob_open(url, &s, err, sizeof err);
  long c0 = stat_field("connections");
  for (int i = 0; i < 40; i++) {
    char key[64];
    snprintf(key, sizeof key, "reuse/k%d", i);
    blob_put(s, key, "r", 1, err, sizeof err);
    blob_stat(s, key, NULL, err, sizeof err);
    blob_delete(s, key, err, sizeof err);
  }
  long used = stat_field("connections") - c0 - 1; /* minus the stats request */
  CHECK(used >= 1 && used <= 2, "120 requests used %ld connections", used);
  blob_close(s);
}

/* Overwrite-then-read, many times, with bodies large enough to take a
 * while to write: every read returns exactly the last write (s3rver alone
 * answers PUT before the bytes are on disk). */
static void test_read_after_write(const char *url) {
  char err[1024];
  blob_store *s;
  blob_open(url, &s, err, sizeof err);
  size_t cap = 200000;
  uint8_t *buf = malloc(cap);
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    size_t n = 1000 + (size_t)(i * 1931) % (cap - 1000);
    memset(buf, 'A' + i % 26, n);
    buf[0] = (uint8_t)i;
    if (blob_put(s, "raw/key", buf, n, err, sizeof err)) {
      bad++;
      continue;
    }
    uint8_t *got = NULL;
    size_t glen = 0;
    if (blob_get(s, "raw/key", 0, &got, &glen, NULL, err, sizeof err) || glen != n ||
        memcmp(got, buf, n))
      bad++;
    free(got);
  }
  CHECK(bad == 0, "%d of 100 reads after an overwrite differed", bad);
  blob_delete(s, "raw/key", err, sizeof err);
  free(buf);
  blob_close(s);
}

static void test_urls(void) {
  char err[1024];
  const char *bad[] = {
      "s3://",
      "s3://Bad_Bucket",
      "s3://ab",
      "s3://bucket/prefix",
      "s3://bucket?endpoint=http://",
      "s3://bucket?endpoint=:9000/x",
      "s3://bucket?endpoint=ftp://h",
      "s3://bucket?endpoint=http://h/path",
      "s3://bucket?unknown=1",
      "s3://bucket?use_path_style=maybe",
      "s3://bucket?timeout=soon",
      "s3://bucket?timeout=0",
      "s3://bucket?timeout=5",            /* a bare number: the common grammar wants a unit */
      "s3://bucket?connect_timeout=1.5s", /* whole numbers only */
      "s3://bucket?timeout=8761h",        /* more than a year */
      "s3://bucket?retry_backoff=-1ms",
      "s3://bucket?retries=-1",
      "s3://bucket?retries=99",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    blob_store *s = (blob_store *)1;
    int rc = blob_open(bad[i], &s, err, sizeof err);
    CHECK(rc == BLOB_EINVAL && s == NULL, "bad url %s: %d %s", bad[i], rc, err);
  }
  /* Defaults: AWS's regional endpoint, nothing contacted at open. */
  blob_store *s;
  int rc =
      blob_open("s3://b1c?retry_backoff=0&connect_timeout=250ms&timeout=1h", &s, err, sizeof err);
  CHECK(rc == 0, "durations in the common grammar, a zero backoff: %d %s", rc, err);
  if (!rc) blob_close(s);
  rc = blob_open("s3://my-bucket?region=eu-central-1&timeout=2s&retries=0", &s, err, sizeof err);
  CHECK(rc == 0 && !strcmp(blob_backend(s), "s3"), "aws url: %d %s", rc, err);
  if (!rc) {
    CHECK(!strcmp(blob_url(s), "s3://my-bucket?region=eu-central-1&timeout=2s&retries=0"), "url %s",
          blob_url(s));
    blob_close(s);
  }
}

/* autopgo's configurations: gocloud's S3 URL parameters against the real
 * server (an endpoint without its scheme, disable_https, s3ForcePathStyle,
 * awssdk, a signed encryption header). */
static void test_gocloud_url(void) {
  char err[1024], url[600];
  const char *hostport = strstr(endpoint, "://") ? strstr(endpoint, "://") + 3 : endpoint;
  const char *extra[] = {"", "&ssetype=AES256"};
  for (int i = 0; i < 2; i++) {
    snprintf(url, sizeof url, "s3://%s?endpoint=%s&disable_https=true&s3ForcePathStyle=true&awssdk=v2&region=us-east-1%s",
             bucket, hostport, extra[i]);
    blob_store *s = NULL;
    int rc = blob_open(url, &s, err, sizeof err);
    CHECK(rc == 0, "open %s: %s", url, err);
    if (rc) continue;
    rc = blob_put(s, "gocloud/x", "payload", 7, err, sizeof err);
    CHECK(rc == 0, "put through %s: %d %s", url, rc, err);
    uint8_t *d = NULL;
    size_t n = 0;
    rc = blob_get(s, "gocloud/x", 0, &d, &n, NULL, err, sizeof err);
    CHECK(rc == 0 && n == 7 && !memcmp(d, "payload", 7), "get through %s: %d %s", url, rc, err);
    free(d);
    blob_delete(s, "gocloud/x", err, sizeof err);
    blob_close(s);
  }
}

int main(void) {
  endpoint = getenv("S3_ENDPOINT");
  bucket = getenv("S3_BUCKET");
  const char *url = getenv("PGOPIPE_TEST_S3_URL");
  if (!endpoint || !bucket || !url) {
    fprintf(stderr, "test_blob_s3: run through run-s3-test.sh (S3_ENDPOINT, S3_BUCKET, "
                    "PGOPIPE_TEST_S3_URL unset)\n");
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char err[1024];
  blob_store *s = NULL;
  int rc = blob_open(url, &s, err, sizeof err);
  CHECK(rc == 0, "open %s: %s", url, err);
  if (rc) return check_exit("test_blob_s3");
  suite_run(s, "path-style", 1100);
  blob_close(s);

  /* Virtual-hosted style: BUCKET.s3.localhost resolves to loopback. */
  const char *port = strrchr(endpoint, ':');
  char vurl[512];
  snprintf(vurl, sizeof vurl, "s3://%s?endpoint=http://s3.localhost%s", bucket, port);
  rc = blob_open(vurl, &s, err, sizeof err);
  CHECK(rc == 0, "open %s: %s", vurl, err);
  if (!rc) {
    suite_run(s, "virtual-hosted", 20);
    blob_close(s);
  }

  test_auth(url);
  test_down();
  test_retry_and_reuse(url);
  test_read_after_write(url);
  test_urls();
  test_gocloud_url();
  curl_global_cleanup();
  return check_exit("test_blob_s3");
}
