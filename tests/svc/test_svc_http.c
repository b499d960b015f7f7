/*
 * test_svc_http.c — the HTTP layer over real HTTP (libcurl and raw sockets
 * against a server on a random loopback port), in both threading modes:
 * routing and parameters, 404/405 with JSON bodies, request ids, HEAD, body
 * limits exactly at and one past (Content-Length and chunked), the
 * concurrent-upload bound (503), idle and request timeouts, health / ready /
 * metrics helpers, patterns with a trailing slash, the request gate, and
 * graceful shutdown finishing an in-flight request while refusing new
 * connections.
 */
#include "../common/check.h"
#include "../common/http.h"

#include "svc_http.h"
#include "svc_log.h"
#include "svc_util.h"

#include "chrono.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

CHECK_DEFINE_COUNTERS

static int port;

/* Performs method path with body (NULL = none); chunked sends without
 * Content-Length, in chunks of at most 300 bytes. hdr is one extra request
 * header or NULL. */
static http_resp req(const char *method, const char *path, const char *body, size_t blen, int chunked,
                     const char *hdr) {
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  const char *hdrs[] = {hdr, NULL};
  return http_url(method, url, body, blen, chunked ? 300 : 0, hdrs, 20000);
}

static int json_code(const http_resp *r) {
  json_t *o = json_loads(r->body, 0, NULL);
  int code = o ? (int)json_integer_value(json_object_get(o, "code")) : -1;
  if (o && !json_is_string(json_object_get(o, "message"))) code = -2;
  json_decref(o);
  return code;
}

/* ---- the server under test ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int blocked_now, release_blocked, dep_fail;

static void h_hello(svc_req *r, void *ctx) {
  char buf[256];
  (void)ctx;
  snprintf(buf, sizeof buf, "hello %s q=%s", svc_req_param(r, "name"),
           svc_req_query(r, "q") ? svc_req_query(r, "q") : "-");
  svc_req_header_out(r, "X-Test", "yes");
  svc_reply(r, 200, "text/plain", buf, strlen(buf));
}

static void h_up(svc_req *r, void *ctx) {
  size_t len;
  (void)ctx;
  const uint8_t *b = svc_req_body(r, &len);
  if (strcmp(svc_req_param(r, "app"), "block") == 0) {
    pthread_mutex_lock(&mu);
    blocked_now++;
    pthread_cond_broadcast(&cv);
    while (!release_blocked) pthread_cond_wait(&cv, &mu);
    blocked_now--;
    pthread_mutex_unlock(&mu);
  }
  char buf[128];
  snprintf(buf, sizeof buf, "{\"len\":%zu,\"first\":%d}", len, len ? b[0] : -1);
  svc_reply_json(r, 200, buf);
}

static void h_err(svc_req *r, void *ctx) {
  (void)ctx;
  svc_reply_error(r, 418, "short and \"stout\"");
}

static char dir_slash[] = "dir with slash", dir_plain[] = "dir without slash";

static void h_text(svc_req *r, void *ctx) {
  svc_reply(r, 200, "text/plain", ctx, strlen(ctx));
}

static int gate_calls;

/* Lets everything through but requests with X-Deny: "reply" answers 401
 * itself, anything else refuses without an answer (the layer's 403). */
static int gate(void *ctx, svc_req *r) {
  (void)ctx;
  __atomic_add_fetch(&gate_calls, 1, __ATOMIC_SEQ_CST);
  const char *d = svc_req_header(r, "X-Deny");
  if (!d) return 0;
  if (strcmp(d, "reply") == 0) {
    svc_req_header_out(r, "WWW-Authenticate", "Bearer");
    svc_reply_error(r, 401, "denied by the gate on %s %s", svc_req_method(r), svc_req_route(r));
  }
  return 1;
}

static void h_silent(svc_req *r, void *ctx) {
  (void)r;
  (void)ctx;
}

static int dep_ok(void *ctx, char *err, size_t errlen) {
  (void)ctx;
  (void)err;
  (void)errlen;
  return 0;
}

static int dep_flaky(void *ctx, char *err, size_t errlen) {
  (void)ctx;
  if (dep_fail) {
    snprintf(err, errlen, "s3 HEAD bucket: connection refused");
    return -1;
  }
  return 0;
}

static svc_http *start(int mode, svc_metrics *m) {
  svc_http_config cfg = {0};
  char err[256];
  svc_http *h;
  cfg.mode = mode;
  cfg.threads = 3;
  cfg.idle_timeout_s = 1;
  cfg.request_timeout_ms = 1500;
  cfg.max_uploads = 2;
  cfg.metrics = m;
  CHECK_EQ(svc_http_new(&cfg, &h, err, sizeof err), 0);
  CHECK_EQ(svc_http_route(h, "GET", "/hello/{name}", h_hello, NULL, 0, 0), 0);
  CHECK_EQ(svc_http_route(h, "POST", "/up/{app}", h_up, NULL, 1000, SVC_ROUTE_LIMITED), 0);
  CHECK_EQ(svc_http_route(h, "GET", "/err", h_err, NULL, 0, 0), 0);
  CHECK_EQ(svc_http_route(h, "GET", "/silent", h_silent, NULL, 0, 0), 0);
  CHECK_EQ(svc_http_route(h, "GET", "/dir/", h_text, dir_slash, 0, 0), 0);
  CHECK_EQ(svc_http_route(h, "GET", "/dir", h_text, dir_plain, 0, 0), 0);
  svc_http_set_gate(h, gate, NULL);
  svc_dep deps[] = {{"blob", dep_ok, NULL}, {"bus", dep_flaky, NULL}};
  CHECK_EQ(svc_http_add_health(h, "/api/health", deps, 2), 0);
  CHECK_EQ(svc_http_add_ready(h, "/api/ready"), 0);
  CHECK_EQ(svc_http_add_metrics(h, "/metrics", m), 0);
  if (svc_http_start(h, err, sizeof err) != 0) {
    fprintf(stderr, "start: %s\n", err);
    exit(1);
  }
  port = svc_http_port(h);
  CHECK(port > 0);
  return h;
}

typedef struct upload_job {
  pthread_t th;
  http_resp r;
  const char *path;
} upload_job;

static void *upload_thread(void *arg) {
  upload_job *j = arg;
  j->r = req("POST", j->path, "abc", 3, 0, NULL);
  return NULL;
}

typedef struct stop_job {
  pthread_t th;
  svc_http *h;
  unsigned left;
} stop_job;

static void *stop_thread(void *arg) {
  stop_job *j = arg;
  j->left = svc_http_stop(j->h, 10000);
  return NULL;
}

static void wait_blocked(int n) {
  pthread_mutex_lock(&mu);
  int64_t deadline = chrono_mono_ns() + 10000000000LL;
  while (blocked_now < n && chrono_mono_ns() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  CHECK_EQ(blocked_now, n);
  pthread_mutex_unlock(&mu);
}

static void release_all(int on) {
  pthread_mutex_lock(&mu);
  release_blocked = on;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int raw_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Waits until the server closes fd; returns ms waited, or -1 after limit_ms. */
static int wait_closed(int fd, int limit_ms) {
  int64_t t0 = chrono_mono_ns();
  char buf[4096];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int waited = (int)((chrono_mono_ns() - t0) / 1000000);
    if (waited > limit_ms) return -1;
    if (poll(&p, 1, limit_ms - waited) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return (int)((chrono_mono_ns() - t0) / 1000000);
  }
}

static void run(int mode) {
  svc_metrics *m = svc_metrics_new();
  svc_http *h = start(mode, m);
  http_resp r;
  char big[2001];
  memset(big, 'x', sizeof big);

  /* readiness starts false */
  r = req("GET", "/api/ready", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 503);
  CHECK_EQ(json_code(&r), 503);
  free(r.body);
  svc_http_set_ready(h, 1);
  r = req("GET", "/api/ready", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  free(r.body);

  /* routing, params, query, headers, request ids */
  r = req("GET", "/hello/bob?q=1", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "hello bob q=1");
  CHECK_CONTAINS(r.headers, "X-Test: yes");
  CHECK_CONTAINS(r.headers, "X-Request-Id: ");
  free(r.body);
  r = req("GET", "/hello/bob", NULL, 0, 0, "X-Request-Id: trace-42");
  CHECK_CONTAINS(r.headers, "X-Request-Id: trace-42");
  free(r.body);
  r = req("GET", "/hello/bob", NULL, 0, 0, "X-Request-Id: bad id\"");
  CHECK(strstr(r.headers, "bad id") == NULL);
  free(r.body);
  r = req("HEAD", "/hello/bob", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.len, 0);
  CHECK_CONTAINS(r.headers, "Content-Length: 13");
  free(r.body);
  r = req("GET", "/hello/", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 404);
  CHECK_EQ(json_code(&r), 404);
  CHECK_CONTAINS(r.headers, "application/json");
  free(r.body);
  r = req("GET", "/hello/a/b", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 404);
  free(r.body);
  r = req("GET", "/", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 404);
  free(r.body);
  /* a trailing slash is part of a pattern */
  r = req("GET", "/dir/", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "dir with slash");
  free(r.body);
  r = req("GET", "/dir", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "dir without slash");
  free(r.body);
  r = req("GET", "/dir//", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 404);
  free(r.body);

  /* the gate: called for matched routes, before the body limit */
  int calls0 = __atomic_load_n(&gate_calls, __ATOMIC_SEQ_CST);
  r = req("GET", "/hello/bob", NULL, 0, 0, "X-Deny: reply");
  CHECK_EQ(r.status, 401);
  CHECK_EQ(json_code(&r), 401);
  CHECK_CONTAINS(r.body, "denied by the gate on GET /hello/{name}");
  CHECK_CONTAINS(r.headers, "WWW-Authenticate: Bearer");
  free(r.body);
  r = req("GET", "/hello/bob", NULL, 0, 0, "X-Deny: silently");
  CHECK_EQ(r.status, 403);
  CHECK_EQ(json_code(&r), 403);
  free(r.body);
  r = req("POST", "/up/app", big, sizeof big, 0, "X-Deny: reply");
  CHECK_EQ(r.status, 401); /* not 413: the gate comes first */
  free(r.body);
  r = req("GET", "/no/such/route", NULL, 0, 0, "X-Deny: reply");
  CHECK_EQ(r.status, 404); /* unmatched paths never reach the gate */
  free(r.body);
  CHECK_EQ(__atomic_load_n(&gate_calls, __ATOMIC_SEQ_CST) - calls0, 3);

  r = req("DELETE", "/hello/bob", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 405);
  CHECK_EQ(json_code(&r), 405);
  CHECK_CONTAINS(r.headers, "Allow: GET, HEAD");
  free(r.body);
  r = req("GET", "/err", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 418);
  CHECK_STR(r.body, "{\"message\":\"short and \\\"stout\\\"\",\"code\":418}");
  free(r.body);
  r = req("GET", "/silent", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 500);
  CHECK_EQ(json_code(&r), 500);
  free(r.body);

  /* body limit: exactly at and one past, both framings */
  r = req("POST", "/up/a", big, 1000, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "{\"len\":1000,\"first\":120}");
  free(r.body);
  r = req("POST", "/up/a", big, 1001, 0, NULL);
  CHECK_EQ(r.status, 413);
  CHECK_EQ(json_code(&r), 413);
  free(r.body);
  r = req("POST", "/up/a", big, 1000, 1, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "{\"len\":1000,\"first\":120}");
  free(r.body);
  r = req("POST", "/up/a", big, 1001, 1, NULL);
  CHECK_EQ(r.status, 413);
  CHECK_EQ(json_code(&r), 413);
  free(r.body);
  r = req("POST", "/up/a", big, 2001, 1, NULL);
  CHECK_EQ(r.status, 413);
  free(r.body);
  r = req("POST", "/up/a", "", 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "{\"len\":0,\"first\":-1}");
  free(r.body);
  {
    size_t n = 10u << 20;
    char *huge = malloc(n);
    memset(huge, 'y', n);
    /* A client that waits for 100-continue (curl's default for large
     * bodies) gets the 413 before sending anything. */
    int64_t t0 = chrono_mono_ns();
    r = req("POST", "/up/a", huge, n, 0, "Expect: 100-continue");
    CHECK_EQ(r.status, 413);
    CHECK((chrono_mono_ns() - t0) < 2000000000LL);
    free(r.body);
    /* One that sends the body at once is refused as soon as the headers are
     * read; the connection is then closed, so such a client may see the
     * reset while still sending (no status) instead of the 413. Either way
     * it is refused fast and the server stays up. */
    t0 = chrono_mono_ns();
    r = req("POST", "/up/a", huge, n, 0, NULL);
    CHECK(r.status == 413 || r.status == -1);
    CHECK((chrono_mono_ns() - t0) < 2000000000LL);
    free(r.body);
    free(huge);
  }
  r = req("GET", "/hello/still-up", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  free(r.body);

  /* concurrent-upload bound: 2 in the handler, the third gets 503. Only with
   * a thread per connection: in the epoll pool two connections can share a
   * thread, and a blocked handler then holds back the other (the reason the
   * server defaults to one thread per connection). */
  if (mode == SVC_HTTP_THREAD_PER_CONNECTION) {
    release_all(0);
    upload_job j[2] = {{.path = "/up/block"}, {.path = "/up/block"}};
    for (int i = 0; i < 2; i++) pthread_create(&j[i].th, NULL, upload_thread, &j[i]);
    wait_blocked(2);
    r = req("POST", "/up/other", "abc", 3, 0, NULL);
    CHECK_EQ(r.status, 503);
    CHECK_EQ(json_code(&r), 503);
    CHECK_CONTAINS(r.body, "too many concurrent uploads");
    free(r.body);
    r = req("GET", "/hello/not-limited", NULL, 0, 0, NULL);
    CHECK_EQ(r.status, 200);
    free(r.body);
    CHECK(svc_http_in_flight(h) >= 2);
    release_all(1);
    for (int i = 0; i < 2; i++) {
      pthread_join(j[i].th, NULL);
      CHECK_EQ(j[i].r.status, 200);
      free(j[i].r.body);
    }
  }
  r = req("POST", "/up/after", "abc", 3, 0, NULL);
  CHECK_EQ(r.status, 200);
  free(r.body);

  /* health: each dependency listed; a failing one turns it 503 with its message */
  dep_fail = 0;
  r = req("GET", "/api/health", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_STR(r.body, "{\"status\":\"healthy\",\"dependencies\":[{\"name\":\"blob\",\"status\":\"healthy\"},"
                    "{\"name\":\"bus\",\"status\":\"healthy\"}]}");
  free(r.body);
  dep_fail = 1;
  r = req("GET", "/api/health", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 503);
  CHECK_CONTAINS(r.body, "\"status\":\"unhealthy\"");
  CHECK_CONTAINS(r.body, "{\"name\":\"bus\",\"status\":\"unhealthy\",\"message\":\"s3 HEAD bucket: connection refused\"}");
  CHECK_EQ(json_code(&r), -2); /* message lives per dependency */
  free(r.body);
  dep_fail = 0;

  /* metrics: the requests above are counted by method, route, code */
  r = req("GET", "/metrics", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_CONTAINS(r.headers, "text/plain; version=0.0.4");
  /* 5 refusals; the one whose client saw a reset may count as no answer (0) */
  CHECK(strstr(r.body, "pgopipe_http_requests_total{method=\"POST\",route=\"/up/{app}\",code=\"413\"} 5") ||
        strstr(r.body, "pgopipe_http_requests_total{method=\"POST\",route=\"/up/{app}\",code=\"413\"} 4"));
  if (mode == SVC_HTTP_THREAD_PER_CONNECTION)
    CHECK_CONTAINS(r.body, "pgopipe_http_requests_total{method=\"POST\",route=\"/up/{app}\",code=\"503\"} 1");
  CHECK_CONTAINS(r.body, "pgopipe_http_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"}");
  CHECK_CONTAINS(r.body, "pgopipe_http_request_duration_seconds_bucket{method=\"GET\",route=\"/hello/{name}\",le=\"+Inf\"}");
  free(r.body);

  /* idle connection (headers never finished) is closed after ~1 s */
  {
    int fd = raw_connect();
    CHECK(fd >= 0);
    CHECK(write(fd, "GET /hello/x HTTP/1.1\r\nHost: a\r\n", 32) == 32);
    int ms = wait_closed(fd, 5000);
    CHECK(ms >= 500 && ms < 4000);
    close(fd);
  }
  /* a body trickling in under the idle timeout is cut at the request timeout */
  {
    int fd = raw_connect();
    const char *hd = "POST /up/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\n";
    CHECK(write(fd, hd, strlen(hd)) == (ssize_t)strlen(hd));
    int64_t t0 = chrono_mono_ns();
    int closed = 0;
    for (int i = 0; i < 40 && !closed; i++) {
      if (write(fd, "z", 1) != 1) closed = 1;
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 300) > 0) {
        char b[512];
        if (read(fd, b, sizeof b) <= 0) closed = 1;
      }
    }
    CHECK(closed);
    int64_t ms = (chrono_mono_ns() - t0) / 1000000;
    CHECK(ms >= 1000 && ms < 6000);
    close(fd);
  }
  r = req("GET", "/hello/alive", NULL, 0, 0, NULL);
  CHECK_EQ(r.status, 200);
  free(r.body);

  /* graceful stop: an in-flight upload finishes, new connections are refused */
  release_all(0);
  upload_job inflight = {.path = "/up/block"};
  pthread_create(&inflight.th, NULL, upload_thread, &inflight);
  wait_blocked(1);
  stop_job sj = {.h = h, .left = 99};
  pthread_create(&sj.th, NULL, stop_thread, &sj);
  int refused = 0;
  for (int i = 0; i < 200 && !refused; i++) {
    if (!svc_http_ready(h)) {
      int fd = raw_connect();
      if (fd < 0) refused = 1;
      else close(fd);
    }
    if (!refused) usleep(10000);
  }
  CHECK(refused);
  CHECK(!svc_http_ready(h));
  release_all(1);
  pthread_join(inflight.th, NULL);
  CHECK_EQ(inflight.r.status, 200);
  CHECK_STR(inflight.r.body, "{\"len\":3,\"first\":97}");
  free(inflight.r.body);
  pthread_join(sj.th, NULL);
  CHECK_EQ(sj.left, 0);
  svc_http_free(h);
  svc_metrics_free(m);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  svc_log_set_level(SVC_LOG_ERROR);
  run(SVC_HTTP_POOL);
  run(SVC_HTTP_THREAD_PER_CONNECTION);
  curl_global_cleanup();
  return check_exit("test_svc_http");
}
