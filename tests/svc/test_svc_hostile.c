/*
 * test_svc_hostile.c — the HTTP layer against requests an attacker writes by
 * hand, over raw sockets to a server on a random loopback port, in both
 * threading modes:
 *   - a path whose decoding holds a NUL byte (%00) is refused with 400, and
 *     the handler never sees the name cut at the NUL;
 *   - request smuggling (RFC 9112 section 6.3): two Content-Length headers,
 *     Transfer-Encoding together with Content-Length, an unknown
 *     Transfer-Encoding — each is answered 400 and the connection closed, so
 *     a request hidden behind it is never served;
 *   - --request-timeout covers the headers: a client trickling one header
 *     byte at a time is cut off at the request timeout, not held forever;
 *   - an HTTP/1.1 request without Host is refused with 400;
 *   - the bearer token: one rule (scheme case-insensitive, one or more
 *     spaces, the token, optional trailing spaces or tabs; a control byte
 *     refuses it; libmicrohttpd ends a header value at a NUL byte, so what
 *     follows a NUL is never compared).
 */
#include "../common/check.h"

#include "svc_http.h"
#include "svc_log.h"

#include "chrono.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

CHECK_DEFINE_COUNTERS

static int port;
static atomic_int deletes, hellos;
static char last_name[256];

static void h_hello(svc_req *r, void *ctx) {
  (void)ctx;
  atomic_fetch_add(&hellos, 1);
  snprintf(last_name, sizeof last_name, "%s", svc_req_param(r, "name"));
  char buf[300];
  snprintf(buf, sizeof buf, "hello %s", svc_req_param(r, "name"));
  svc_reply(r, 200, "text/plain", buf, strlen(buf));
}

static void h_up(svc_req *r, void *ctx) {
  (void)ctx;
  size_t len;
  svc_req_body(r, &len);
  char buf[64];
  snprintf(buf, sizeof buf, "{\"len\":%zu}", len);
  svc_reply_json(r, 200, buf);
}

static void h_del(svc_req *r, void *ctx) {
  (void)ctx;
  atomic_fetch_add(&deletes, 1);
  svc_reply_json(r, 200, "{}");
}

static svc_http *start(int mode) {
  svc_http_config cfg = {0};
  char err[256];
  svc_http *h;
  cfg.mode = mode;
  cfg.threads = 2;
  cfg.idle_timeout_s = 1;
  cfg.request_timeout_ms = 1500;
  CHECK_EQ(svc_http_new(&cfg, &h, err, sizeof err), 0);
  CHECK_EQ(svc_http_route(h, "GET", "/hello/{name}", h_hello, NULL, 0, 0), 0);
  CHECK_EQ(svc_http_route(h, "POST", "/up/{app}", h_up, NULL, 1000, SVC_ROUTE_AUTH), 0);
  CHECK_EQ(svc_http_route(h, "DELETE", "/del/{app}", h_del, NULL, 0, 0), 0);
  CHECK_EQ(svc_http_set_token(h, "tok-123"), 0);
  if (svc_http_start(h, err, sizeof err) != 0) {
    fprintf(stderr, "start: %s\n", err);
    exit(1);
  }
  port = svc_http_port(h);
  svc_http_set_ready(h, 1);
  return h;
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

/* What the server sent back on one connection until it closed it (or
 * limit_ms passed: *closed tells). */
typedef struct exchange {
  char text[16384];
  size_t len;
  int closed;
  int status; /* of the first answer; 0 = none */
  int answers; /* "HTTP/1." status lines seen */
} exchange;

static exchange send_raw(const char *req, size_t len, int limit_ms) {
  exchange x;
  memset(&x, 0, sizeof x);
  int fd = raw_connect();
  if (fd < 0) return x;
  if (write(fd, req, len) != (ssize_t)len) {
    close(fd);
    return x;
  }
  int64_t t0 = chrono_mono_ns();
  for (;;) {
    int waited = (int)((chrono_mono_ns() - t0) / 1000000);
    if (waited >= limit_ms) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, limit_ms - waited) <= 0) continue;
    ssize_t n = read(fd, x.text + x.len, sizeof x.text - 1 - x.len);
    if (n <= 0) {
      x.closed = 1;
      break;
    }
    x.len += (size_t)n;
  }
  close(fd);
  x.text[x.len] = '\0';
  if (x.len > 12 && !strncmp(x.text, "HTTP/1.", 7)) x.status = atoi(x.text + 9);
  for (const char *p = x.text; (p = strstr(p, "HTTP/1.")); p++) x.answers++;
  return x;
}

static exchange send_str(const char *req) { return send_raw(req, strlen(req), 3000); }

static void nul_in_path(void) {
  /* The handler would see "bob" (the C string cut at the NUL). */
  exchange x = send_str("GET /hello/bob%00evil HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(x.status == 400, "GET /hello/bob%%00evil answered %d: %s", x.status, x.text);
  CHECK(strstr(x.text, "\"code\":400") != NULL, "no JSON error body: %s", x.text);
  x = send_str("DELETE /del/myapp%00x HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(x.status == 400, "DELETE /del/myapp%%00x answered %d", x.status);
  CHECK(atomic_load(&deletes) == 0, "the handler ran on the cut name");
  x = send_str("GET /hello/%00 HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(x.status == 400, "GET /hello/%%00 answered %d", x.status);
  /* other escapes still work */
  x = send_str("GET /hello/b%6Fb HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(x.status == 200 && strstr(x.text, "hello bob"), "escaped o: %d %s", x.status, x.text);
}

static void smuggling(void) {
  static const char hidden[] = "DELETE /del/victim HTTP/1.1\r\nHost: a\r\n\r\n";
  char req[1024];
  const char *heads[] = {
      /* two Content-Length headers: the first would end the body after "abc" */
      "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\nContent-Length: 3\r\n"
      "Content-Length: 44\r\n\r\nabc",
      /* the same value twice is still two headers */
      "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\nContent-Length: 3\r\n"
      "Content-Length: 3\r\n\r\nabc",
      /* Transfer-Encoding and Content-Length together */
      "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\nContent-Length: 8\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      /* an unknown Transfer-Encoding */
      "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\n"
      "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\n"
      "Transfer-Encoding: identity\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    snprintf(req, sizeof req, "%s%s", heads[i], hidden);
    exchange x = send_raw(req, strlen(req), 3000);
    CHECK(x.status == 400, "case %zu answered %d: %s", i, x.status, x.text);
    CHECK(x.closed, "case %zu: the connection stayed open", i);
    CHECK(x.answers == 1, "case %zu: %d answers (the hidden request was served): %s", i, x.answers, x.text);
    CHECK(strstr(x.text, "onnection: close") != NULL, "case %zu: no Connection: close", i);
  }
  /* a Content-Length that is not a number: libmicrohttpd answers 400 itself */
  snprintf(req, sizeof req, "%s%s",
           "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\nContent-Length: 3, 3\r\n\r\nabc",
           hidden);
  exchange y = send_raw(req, strlen(req), 3000);
  CHECK(y.status == 400 && y.closed, "Content-Length 3, 3 answered %d", y.status);
  CHECK(atomic_load(&deletes) == 0, "a smuggled DELETE ran (%d)", atomic_load(&deletes));
  /* a well-formed pipelined pair is still served in full */
  snprintf(req, sizeof req,
           "POST /up/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok-123\r\nContent-Length: 3\r\n\r\n"
           "abcGET /hello/two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  exchange x = send_raw(req, strlen(req), 3000);
  CHECK(x.answers == 2 && strstr(x.text, "hello two"), "pipelined pair: %s", x.text);
}

/* One header byte every 300 ms (inside the 1 s idle timeout): the 1.5 s
 * request timeout must end it. */
static void header_trickle(void) {
  int fd = raw_connect();
  CHECK(fd >= 0);
  const char *start = "GET /hello/slow HTTP/1.1\r\n";
  CHECK(write(fd, start, strlen(start)) == (ssize_t)strlen(start));
  int64_t t0 = chrono_mono_ns();
  int closed = 0;
  for (int i = 0; i < 30 && !closed; i++) { /* 9 s */
    if (write(fd, "X", 1) != 1) closed = 1;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 300) > 0) {
      char b[512];
      if (read(fd, b, sizeof b) <= 0) closed = 1;
    }
  }
  int64_t ms = (chrono_mono_ns() - t0) / 1000000;
  CHECK(closed, "a client trickling its headers held the connection for %lld ms", (long long)ms);
  CHECK(ms >= 1000 && ms < 4000, "cut after %lld ms (request timeout 1.5 s)", (long long)ms);
  close(fd);
  /* the timeout is per request: a keep-alive connection serves one request
   * after another for longer than the timeout */
  fd = raw_connect();
  int ok = 0;
  for (int i = 0; i < 5; i++) {
    const char *q = "GET /hello/k HTTP/1.1\r\nHost: a\r\n\r\n";
    if (write(fd, q, strlen(q)) != (ssize_t)strlen(q)) break;
    char b[1024];
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0 || read(fd, b, sizeof b) <= 0) break;
    ok++;
    usleep(500000);
  }
  CHECK(ok == 5, "keep-alive connection: %d of 5 requests answered", ok);
  close(fd);
}

static void missing_host(void) {
  exchange x = send_str("GET /hello/nohost HTTP/1.1\r\n\r\n");
  CHECK(x.status == 400, "HTTP/1.1 without Host answered %d", x.status);
  x = send_str("GET /hello/old HTTP/1.0\r\n\r\n");
  CHECK(x.status == 200, "HTTP/1.0 without Host answered %d", x.status);
}

static int auth_status(const char *value, size_t vlen) {
  char req[512];
  int n = snprintf(req, sizeof req, "POST /up/a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nAuthorization: ");
  memcpy(req + n, value, vlen);
  n += (int)vlen;
  n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
  exchange x = send_raw(req, (size_t)n, 3000);
  return x.status;
}

static void bearer_rule(void) {
  struct {
    const char *v;
    size_t n;
    int want;
  } c[] = {
      {"Bearer tok-123", 14, 200},
      {"bearer tok-123", 14, 200},
      {"Bearer  tok-123", 15, 200},
      {"Bearer tok-123 ", 15, 200},
      {"Bearer tok-123\t", 15, 200},
      /* libmicrohttpd ends a header value at a NUL byte: what follows is never seen */
      {"Bearer tok-123\0junk", 19, 200},
      {"Bearer tok\0-123", 16, 401},
      {"Bearer tok-123\x01", 15, 401},
      {"Bearer tok-1234", 15, 401},
      {"Bearer tok-12", 13, 401},
      {"Bearer", 6, 401},
      {"Bearertok-123", 13, 401},
      {"Basic dG9rLTEyMw==", 18, 401},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    int st = auth_status(c[i].v, c[i].n);
    /* a NUL or control byte in a header may also be refused by the parser */
    int ok = st == c[i].want || (c[i].want == 401 && st == 400);
    CHECK(ok, "Authorization case %zu answered %d, want %d", i, st, c[i].want);
  }
}

static void run(int mode) {
  atomic_store(&deletes, 0);
  svc_http *h = start(mode);
  nul_in_path();
  smuggling();
  header_trickle();
  missing_host();
  bearer_rule();
  svc_http_free(h);
}

int main(void) {
  svc_log_set_level(SVC_LOG_ERROR);
  run(SVC_HTTP_POOL);
  run(SVC_HTTP_THREAD_PER_CONNECTION);
  return check_exit("test_svc_hostile");
}
