/*
 * svc_http.h — the HTTP layer of every daemon, on libmicrohttpd.
 *
 * What it adds to libmicrohttpd:
 *  - routing by method + path pattern ("/api/profile/{app}": a {name}
 *    segment matches one non-empty path segment; a trailing '/' is part of
 *    the pattern, "/ui/" matches "/ui/" and not "/ui"); GET routes also
 *    answer HEAD; a path that exists with another method gets 405 with Allow;
 *  - an optional gate (svc_http_set_gate) deciding per request, before the
 *    body is read, whether it may go on (access rules of the application);
 *  - a request id per request (X-Request-Id, taken from the client when it is
 *    sane, else 16 random hex digits), returned in a header and logged;
 *  - request bodies collected under a per-route byte limit: a Content-Length
 *    over it is refused with 413 before any byte is read, a chunked body is
 *    cut off with 413 as soon as it crosses the limit;
 *  - a bound on concurrent body-carrying requests of "limited" routes
 *    (uploads): the one past the bound gets 503 at once instead of memory;
 *  - an idle-connection timeout and a whole-request timeout (slow clients):
 *    a request must arrive whole, headers included, within the request
 *    timeout (a watchdog closes connections that trickle);
 *  - requests whose framing is ambiguous (two Content-Length headers,
 *    Transfer-Encoding with Content-Length, a Transfer-Encoding other than
 *    chunked), whose path decodes to a NUL byte, or HTTP/1.1 requests
 *    without Host are answered 400 and the connection closed;
 *  - errors as JSON {"message":"...","code":N};
 *  - one access log line (JSON) and request metrics per request:
 *    pgopipe_http_requests_total{method,route,code} and
 *    pgopipe_http_request_duration_seconds{method,route};
 *  - /api/health, /api/ready and /metrics helpers (svc_http_add_*), shared
 *    by the server, the worker and the scraper;
 *  - graceful shutdown: stop accepting, let in-flight requests finish within
 *    a grace period, then close.
 *
 * Threading: handlers run on libmicrohttpd's threads and may block (blob
 * store, Kafka). Two models, chosen by svc_http_config.mode:
 *  - SVC_HTTP_POOL: a fixed pool of threads each running its own epoll loop
 *    over its share of connections (MHD_OPTION_THREAD_POOL_SIZE). A blocking
 *    handler stalls the other connections of its thread.
 *  - SVC_HTTP_THREAD_PER_CONNECTION: one thread per connection
 *    (bounded by max_connections); a blocking handler stalls only its client.
 *
 * A handler is called once per request, with the whole body available, and
 * must answer exactly once with one of the svc_reply* functions (otherwise
 * the layer answers 500). All svc_req pointers are valid only during the
 * handler call.
 */
#ifndef PGOPIPE_SVC_HTTP_H
#define PGOPIPE_SVC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "svc_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct svc_http svc_http;
typedef struct svc_req svc_req;
typedef void (*svc_handler)(svc_req *req, void *ctx);

enum { SVC_HTTP_POOL = 0, SVC_HTTP_THREAD_PER_CONNECTION = 1 };

typedef struct svc_http_config {
  const char *bind;            /* address to listen on; NULL = "127.0.0.1" */
  int port;                    /* 0 = any free port (see svc_http_port) */
  int mode;                    /* SVC_HTTP_POOL or SVC_HTTP_THREAD_PER_CONNECTION */
  unsigned threads;            /* POOL: number of threads; 0 = 4 */
  unsigned max_connections;    /* 0 = 1024 */
  unsigned idle_timeout_s;     /* close a connection idle this long; 0 = 30 */
  int64_t request_timeout_ms;  /* cut a request (headers + body) running longer; 0 = 60000 */
  unsigned max_uploads;        /* concurrent requests on SVC_ROUTE_LIMITED routes; 0 = unlimited */
  svc_metrics *metrics;        /* optional: request counters and latency go here */
  const char *name;            /* for log lines ("pgopipe-server"); may be NULL */
  /* Optional: told when the layer itself refuses a request on a matched
   * route before its handler runs (401 auth, 413 body limit, 503 upload
   * bound or shutting down), e.g. to count rejected uploads by reason. */
  void (*on_refused)(void *ctx, const char *method, const char *route, int status);
  void *refused_ctx;
} svc_http_config;

/* Route flags */
enum {
  SVC_ROUTE_LIMITED = 1, /* counts against max_uploads; excess gets 503 */
  SVC_ROUTE_AUTH = 2     /* needs "Authorization: Bearer TOKEN" when a token is set (else 401) */
};

/*
 * The body of an error answer on a route, for protocols whose clients expect
 * their own error shape: called with the status and the message of every
 * error answered on the route's path — the layer's own refusals (405 for a
 * method the path does not serve, 413, 503 for the upload bound and while
 * shutting down, 401) and svc_reply_error in its handlers. Returns a
 * malloc'd body (freed by the layer; "" for an empty body) and sets
 * *content_type (static; NULL = none), or NULL for the default
 * {"message","code"} shape.
 */
typedef char *(*svc_error_fn)(void *ctx, int status, const char *message, const char **content_type);

/* Sets fn for every route registered so far with this pattern (all
 * methods). Returns 0, or -1 when no route has the pattern. */
int svc_http_route_errors(svc_http *h, const char *pattern, svc_error_fn fn, void *ctx);

/*
 * Sets the bearer token that SVC_ROUTE_AUTH routes require (copied; NULL or
 * "" = no auth). It is checked before the body is read, compared in
 * constant time. The header's rule: "Bearer" in any case, one or more
 * spaces, the token, optional trailing spaces or tabs; a control byte in
 * the value refuses it. Call before svc_http_start.
 */
int svc_http_set_token(svc_http *h, const char *token);

/*
 * A gate: called for every request that matched a route, once its headers
 * are in and before the route's own checks (SVC_ROUTE_AUTH, body limits) and
 * before any body byte is read. It may read the request (method, path,
 * route, headers, query) and returns 0 to let it through, or non-zero after
 * answering it itself (svc_reply*, e.g. 401 or a redirect; without an answer
 * the layer sends 403). Runs on the server's threads: it must be thread-safe.
 * One gate per server; NULL removes it. Call before svc_http_start.
 */
typedef int (*svc_gate_fn)(void *ctx, svc_req *req);
void svc_http_set_gate(svc_http *h, svc_gate_fn fn, void *ctx);

/*
 * Creates a server (not listening yet). cfg is copied (strings must outlive
 * the server). Returns 0 or -1 with err. *out is owned by the caller
 * (svc_http_free).
 */
int svc_http_new(const svc_http_config *cfg, svc_http **out, char *err, size_t errlen);

/*
 * Adds a route. method "GET" (also answers HEAD), "POST", "DELETE", ...;
 * pattern "/api/profile/{app}". max_body: largest accepted body in bytes (0 =
 * no body accepted). The handler gets ctx back. Patterns and method are
 * copied. Call before svc_http_start. Returns 0 or -1 on bad pattern / OOM.
 */
int svc_http_route(svc_http *h, const char *method, const char *pattern, svc_handler fn, void *ctx,
                   uint64_t max_body, unsigned flags);

/* Starts listening and serving. Returns 0 or -1 with err (naming address and
 * port, e.g. "listen 127.0.0.1:8080: Address already in use"). */
int svc_http_start(svc_http *h, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
int svc_http_port(const svc_http *h);

/* Readiness reported by the svc_http_add_ready route (starts at 0). */
void svc_http_set_ready(svc_http *h, int ready);
int svc_http_ready(const svc_http *h);

/* Requests currently being handled (received but not finished). */
unsigned svc_http_in_flight(svc_http *h);

/*
 * Graceful stop: readiness goes to 0, the listening socket is closed (new
 * connections are refused), requests in progress run to completion (their
 * responses carry Connection: close) for at most grace_ms, then every
 * connection is closed and the threads joined. Returns the number of
 * requests still unfinished when the grace period ended (0 = clean).
 * Idempotent.
 */
unsigned svc_http_stop(svc_http *h, int64_t grace_ms);

/* Stops (grace 0) if needed and frees everything; NULL is fine. */
void svc_http_free(svc_http *h);

/* ---- Health, readiness, metrics helpers ---- */

/* A dependency check: returns 0 when healthy, else non-zero with a message. */
typedef int (*svc_check_fn)(void *ctx, char *err, size_t errlen);
typedef struct svc_dep {
  const char *name; /* "blob", "bus" (must outlive the server) */
  svc_check_fn check;
  void *ctx;
} svc_dep;

/*
 * GET path (usually "/api/health"): runs every check in order and answers
 * 200 {"status":"healthy","dependencies":[{"name":"blob","status":"healthy"},...]}
 * or 503 with "unhealthy" (overall and per failed dependency, with its
 * "message"). The deps array is copied.
 */
int svc_http_add_health(svc_http *h, const char *path, const svc_dep *deps, size_t n);

/* GET path (usually "/api/ready"): 200 {"status":"ready"} while ready, else
 * 503 {"message":"not ready","code":503}. */
int svc_http_add_ready(svc_http *h, const char *path);

/* GET path (usually "/metrics"): the registry in Prometheus text format. */
int svc_http_add_metrics(svc_http *h, const char *path, svc_metrics *m);

/* ---- Inside a handler ---- */

const char *svc_req_method(const svc_req *r); /* "GET", "HEAD", "POST", ... */
const char *svc_req_path(const svc_req *r);   /* decoded path, no query */
const char *svc_req_route(const svc_req *r);  /* the matched pattern */
const char *svc_req_id(const svc_req *r);
/* Value of {name} in the matched pattern, or NULL. */
const char *svc_req_param(const svc_req *r, const char *name);
/* Request header (case-insensitive name), or NULL. */
const char *svc_req_header(const svc_req *r, const char *name);
/* Query argument, or NULL. */
const char *svc_req_query(const svc_req *r, const char *name);
/* Calls fn(ctx, value) for every value of a query argument, in request
 * order (a repeated key gives several; an argument without '=' gives "").
 * Returns how many there were. */
size_t svc_req_query_each(const svc_req *r, const char *name, void (*fn)(void *ctx, const char *value), void *ctx);
/* The body (len 0 and a non-NULL pointer when there was none). Owned by the
 * layer; the handler may take it with svc_req_take_body. */
const uint8_t *svc_req_body(const svc_req *r, size_t *len);
/* Transfers ownership of the body buffer (malloc'd) to the caller. */
uint8_t *svc_req_take_body(svc_req *r, size_t *len);

/* Adds a string field to this request's access-log line (copied). */
void svc_req_log(svc_req *r, const char *key, const char *value);

/* Adds a response header to the coming reply (copied). */
void svc_req_header_out(svc_req *r, const char *name, const char *value);

/* Replies with a copy of data. content_type may be NULL. */
void svc_reply(svc_req *r, int status, const char *content_type, const void *data, size_t len);
/* Replies with data and takes ownership of it (malloc'd; freed after sending). */
void svc_reply_owned(svc_req *r, int status, const char *content_type, void *data, size_t len);
/* Replies with a JSON text (copied), Content-Type application/json. */
void svc_reply_json(svc_req *r, int status, const char *json);
/* Replies {"message":<formatted>,"code":status} as JSON (or the route's own
 * shape, svc_http_route_errors); the message is also put into the
 * access-log line. */
void svc_reply_error(svc_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
