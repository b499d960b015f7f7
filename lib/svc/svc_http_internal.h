/*
 * svc_http_internal.h — what the files of the HTTP layer share (nothing here
 * is public API; see svc_http.h):
 *   svc_http.c        the request's life (libmicrohttpd's callbacks:
 *                     admission, body collection, the access log) and the
 *                     server's (new, start, stop, free)
 *   svc_http_route.c  route patterns, matching a request to its route (404,
 *                     405 with Allow), the built-in health/ready/metrics routes
 *   svc_http_guard.c  the refusals before routing (framing against request
 *                     smuggling, NUL in the path, Host) and the bearer-token rule
 *   svc_http_watch.c  connection tracking and the request-timeout watchdog
 *   svc_http_reply.c  replies and the request accessors of handlers
 */
#ifndef PGOPIPE_SVC_HTTP_INTERNAL_H
#define PGOPIPE_SVC_HTTP_INTERNAL_H

#include "svc_http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define MAX_SEGS 16
#define MAX_PARAMS 4
#define MAX_HDRS 8
#define MAX_LOGF 8

/* Who answers a route: the caller's handler or one of the built-ins. */
typedef enum route_kind {
  ROUTE_USER = 0, /* svc_http_route: the handler fn */
  ROUTE_HEALTH,   /* svc_http_add_health: dependency checks */
  ROUTE_READY,    /* svc_http_add_ready: the ready/draining flags */
  ROUTE_METRICS   /* svc_http_add_metrics: the registry's text */
} route_kind;

typedef struct route {
  char *method;
  char *pattern;
  char *segs[MAX_SEGS]; /* pattern split at '/'; "{x}" marks a parameter */
  size_t nsegs;
  svc_handler fn;
  void *ctx;
  svc_error_fn errfn; /* svc_http_route_errors */
  void *errctx;
  uint64_t max_body;
  unsigned flags;
  /* built-in helpers */
  route_kind kind;
  svc_dep *deps;
  size_t ndeps;
  svc_metrics *reg;
} route;

/* A connection as the watchdog sees it (svc_http_watch.c). */
typedef struct conn_watch {
  struct conn_watch *prev, *next;
  int fd;
  int64_t deadline_ns; /* INT64_MAX: disarmed */
  int shut;            /* shut down already */
} conn_watch;

struct svc_http {
  svc_http_config cfg;
  route *routes;
  size_t nroutes;
  struct MHD_Daemon *d;
  int port;
  atomic_int ready;
  atomic_int draining;
  atomic_uint uploads; /* slots taken on LIMITED routes */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned in_flight; /* guarded by mu */
  int stopped;
  svc_metric *m_requests, *m_duration;
  char *token;
  size_t token_len;
  svc_gate_fn gate;
  void *gate_ctx;
  /* the request-timeout watchdog */
  pthread_mutex_t wd_mu;
  pthread_cond_t wd_cv;
  conn_watch *conns; /* guarded by wd_mu */
  int wd_stop;       /* guarded by wd_mu */
  int wd_running;
  pthread_t wd;
};

struct svc_req {
  svc_http *h;
  struct MHD_Connection *conn;
  const route *rt;
  const route *path_rt; /* a route of the path when none has the method (405) */
  const char *method;
  char *path;
  char *raw_path;  /* the path as sent, before percent-decoding */
  int started;     /* the access handler has seen this request */
  int must_close;  /* answer with Connection: close */
  char id[72];
  const char *pnames[MAX_PARAMS];
  char *pvals[MAX_PARAMS];
  size_t nparams;
  uint8_t *body;
  size_t len, cap;
  int has_slot;
  int in_flight;
  int64_t start_ns;
  int status;
  size_t resp_bytes;
  int replied;
  int too_big;
  char *hname[MAX_HDRS], *hval[MAX_HDRS];
  size_t nhdrs;
  char *lkey[MAX_LOGF], *lval[MAX_LOGF];
  size_t nlog;
  char *errmsg;
};

/* ---- routes (svc_http_route.c) ---- */

/* Appends a route of method and pattern (copied) with everything else
 * zero; NULL on a bad pattern or out of memory. */
route *svc_route_add(svc_http *h, const char *method, const char *pattern);
/* Finds the route of r's method and url and fills r's parameters; when
 * none, answers 404, or 405 with Allow when the path has other methods,
 * and returns 1. Returns 0 when r->rt is set. */
int svc_route_request(svc_http *h, svc_req *r, const char *url, const char *method);
/* Answers a built-in route (health, ready, metrics). */
void svc_route_serve_builtin(svc_req *r, const route *rt);
/* Frees every route. */
void svc_routes_free(svc_http *h);

/* ---- guards (svc_http_guard.c) ---- */

/* The refusals before routing (ambiguous framing, a NUL in the path, an
 * HTTP/1.1 request without Host): answers 400 with Connection: close and
 * returns 1, else 0. */
int svc_guard_malformed(svc_req *r, const char *version);
/* 1 when r may use an SVC_ROUTE_AUTH route (no token set, or the bearer
 * token is right), else 0. */
int svc_guard_authorized(svc_http *h, svc_req *r);

/* ---- the request-timeout watchdog (svc_http_watch.c) ---- */

/* libmicrohttpd's connection notifier (MHD_OPTION_NOTIFY_CONNECTION):
 * tracks each connection with the deadline of its first request. */
void svc_watch_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode code);
/* Sets the connection's deadline: now + ms, or disarmed (ms < 0); with
 * tighten, only when that is earlier than the current one. */
void svc_watch_arm(svc_http *h, struct MHD_Connection *conn, int64_t ms, int tighten);
/* The time a connection has for its next request: idle + request timeout. */
int64_t svc_watch_next_request_ms(const svc_http *h);
/* Starts and stops the watchdog thread; start returns 0 or -1. */
int svc_watch_start(svc_http *h);
void svc_watch_stop(svc_http *h);

/* CLOCK_REALTIME ns nanoseconds from now, for pthread_cond_timedwait. */
static inline struct timespec svc_realtime_in(int64_t ns) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += (long)ns;
  ts.tv_sec += ts.tv_nsec / 1000000000;
  ts.tv_nsec %= 1000000000;
  return ts;
}

#endif
