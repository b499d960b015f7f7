/*
 * svc_http.c — routing, limits, request ids, access logs and graceful
 * shutdown on top of libmicrohttpd (see svc_http.h for the model).
 *
 * libmicrohttpd calls the access handler several times per request: once
 * when the headers are in (we match the route and apply the cheap refusals:
 * 404/405, Content-Length over the limit, upload slots), then once per body
 * chunk (appended under the limit), then once with no data (the route's
 * handler runs). The completion callback writes the access log, updates the
 * metrics, releases the upload slot and the in-flight count that graceful
 * shutdown waits on.
 *
 * What libmicrohttpd 0.9.75 lets through and this layer refuses itself
 * (answered 400 with Connection: close, so nothing behind them is read as a
 * request, RFC 9112 section 6.3): two Content-Length headers, a
 * Content-Length that is not a number, Transfer-Encoding together with
 * Content-Length, a Transfer-Encoding other than a single "chunked", a path
 * whose decoding holds a NUL byte (the raw request line is kept by the URI
 * callback, since the decoded path is a C string cut at the NUL), and an
 * HTTP/1.1 request without Host.
 *
 * The request timeout: libmicrohttpd's connection timeout restarts with
 * every byte received, so a client trickling its headers one byte at a time
 * would hold a connection (and in thread mode a thread) forever. A watchdog
 * thread keeps a deadline per connection (from the connection notifier):
 * armed when the connection opens and after each request (the idle timeout
 * plus the request timeout: time to start the next request and send it),
 * tightened to the request timeout once its request line is in, disarmed
 * while the handler runs and the answer goes out. A connection past its
 * deadline is shut down (shutdown(2) on its socket); libmicrohttpd then sees
 * the end of the stream and closes it.
 */
#include "svc_http.h"

#include "svc_log.h"
#include "svc_util.h"

#include "chrono.h"
#include "rnd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* After a request whose body was at least this large, freed memory is
 * handed back to the system (malloc_trim): a burst of large uploads would
 * otherwise leave the process at its peak size for good (glibc keeps freed
 * arena memory). */
#define TRIM_AFTER_BYTES ((size_t)1 << 20)

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

/* A connection as the watchdog sees it (see the top of this file). */
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

/* ---- routes ---- */

static int split_pattern(route *rt) {
  char *p = rt->pattern;
  if (*p != '/') return -1;
  rt->nsegs = 0;
  char *copy = strdup(p + 1);
  if (!copy) return -1;
  char *save = NULL;
  /* An empty pattern tail ("/") is a route with zero segments. */
  for (char *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
    if (rt->nsegs == MAX_SEGS) { free(copy); return -1; }
    rt->segs[rt->nsegs] = strdup(tok);
    if (!rt->segs[rt->nsegs]) { free(copy); return -1; }
    rt->nsegs++;
  }
  free(copy);
  /* A trailing '/' is significant ("/ui/" is not "/ui"): it ends the
   * pattern with an empty literal segment, matched only by a trailing '/'. */
  size_t pl = strlen(p);
  if (pl > 1 && p[pl - 1] == '/') {
    if (rt->nsegs == MAX_SEGS || !(rt->segs[rt->nsegs] = strdup(""))) return -1;
    rt->nsegs++;
  }
  return 0;
}

static route *add_route(svc_http *h, const char *method, const char *pattern) {
  route *nr = realloc(h->routes, (h->nroutes + 1) * sizeof *nr);
  if (!nr) return NULL;
  h->routes = nr;
  route *rt = &h->routes[h->nroutes];
  memset(rt, 0, sizeof *rt);
  rt->method = strdup(method);
  rt->pattern = strdup(pattern);
  if (!rt->method || !rt->pattern || split_pattern(rt) != 0) {
    free(rt->method);
    free(rt->pattern);
    for (size_t i = 0; i < rt->nsegs; i++) free(rt->segs[i]);
    return NULL;
  }
  h->nroutes++;
  return rt;
}

int svc_http_route_errors(svc_http *h, const char *pattern, svc_error_fn fn, void *ctx) {
  int found = 0;
  for (size_t i = 0; i < h->nroutes; i++)
    if (strcmp(h->routes[i].pattern, pattern) == 0) {
      h->routes[i].errfn = fn;
      h->routes[i].errctx = ctx;
      found = 1;
    }
  return found ? 0 : -1;
}

int svc_http_route(svc_http *h, const char *method, const char *pattern, svc_handler fn, void *ctx,
                   uint64_t max_body, unsigned flags) {
  route *rt = add_route(h, method, pattern);
  if (!rt) return -1;
  rt->fn = fn;
  rt->ctx = ctx;
  rt->max_body = max_body;
  rt->flags = flags;
  return 0;
}

/* Matches path against rt; fills params into r when r is non-NULL. A path
 * with an empty segment ("//", trailing "/") never matches a parameter. */
static int match(const route *rt, const char *path, svc_req *r) {
  const char *p = path;
  if (*p != '/') return 0;
  p++;
  size_t i = 0;
  if (*p == '\0') return rt->nsegs == 0;
  for (;;) {
    const char *e = strchr(p, '/');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (i >= rt->nsegs) return 0;
    const char *s = rt->segs[i];
    size_t sl = strlen(s);
    if (sl >= 2 && s[0] == '{' && s[sl - 1] == '}') {
      if (l == 0) return 0;
      if (r && r->nparams < MAX_PARAMS) {
        r->pnames[r->nparams] = s;
        r->pvals[r->nparams] = strndup(p, l);
        r->nparams++;
      }
    } else if (sl != l || strncmp(s, p, l) != 0) {
      return 0;
    }
    i++;
    if (!e) break;
    p = e + 1;
  }
  return i == rt->nsegs;
}

/* ---- replies ---- */

static void queue(svc_req *r, int status, struct MHD_Response *resp, const char *ctype, size_t len) {
  if (r->replied) {
    MHD_destroy_response(resp);
    return;
  }
  if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(resp, "X-Request-Id", r->id);
  for (size_t i = 0; i < r->nhdrs; i++) MHD_add_response_header(resp, r->hname[i], r->hval[i]);
  if (atomic_load(&r->h->draining) || r->too_big || r->must_close)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (MHD_queue_response(r->conn, (unsigned)status, resp) == MHD_YES) {
    r->replied = 1;
    r->status = status;
    r->resp_bytes = len;
  }
  MHD_destroy_response(resp);
}

void svc_reply(svc_req *r, int status, const char *content_type, const void *data, size_t len) {
  /* MHD_RESPMEM_MUST_COPY only reads the buffer; its API takes it non-const. */
  union {
    const void *in;
    void *arg;
  } buf = {.in = len ? data : ""};
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf.arg, MHD_RESPMEM_MUST_COPY);
  if (!resp) return;
  queue(r, status, resp, content_type, len);
}

void svc_reply_owned(svc_req *r, int status, const char *content_type, void *data, size_t len) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(data);
    return;
  }
  queue(r, status, resp, content_type, len);
}

void svc_reply_json(svc_req *r, int status, const char *json) {
  svc_reply(r, status, "application/json", json, strlen(json));
}

void svc_reply_error(svc_req *r, int status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const route *rt = r->rt ? r->rt : r->path_rt;
  if (rt && rt->errfn) {
    const char *ctype = NULL;
    char *body = rt->errfn(rt->errctx, status, msg, &ctype);
    if (body) {
      svc_reply_owned(r, status, ctype, body, strlen(body));
      free(r->errmsg);
      r->errmsg = strdup(msg);
      return;
    }
  }
  json_t *o = json_pack("{s:s, s:i}", "message", msg, "code", status);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (s) {
    svc_reply_owned(r, status, "application/json", s, strlen(s));
  } else {
    svc_reply(r, status, "text/plain", msg, strlen(msg));
  }
  free(r->errmsg);
  r->errmsg = strdup(msg);
}

/* ---- request accessors ---- */

const char *svc_req_method(const svc_req *r) { return r->method; }
const char *svc_req_path(const svc_req *r) { return r->path; }
const char *svc_req_route(const svc_req *r) { return r->rt ? r->rt->pattern : ""; }
const char *svc_req_id(const svc_req *r) { return r->id; }

const char *svc_req_param(const svc_req *r, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < r->nparams; i++) {
    const char *s = r->pnames[i];
    if (strlen(s) == nl + 2 && strncmp(s + 1, name, nl) == 0) return r->pvals[i];
  }
  return NULL;
}

const char *svc_req_header(const svc_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *svc_req_query(const svc_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct query_each {
  const char *name;
  void (*fn)(void *ctx, const char *value);
  void *ctx;
  size_t n;
} query_each;

static enum MHD_Result on_query_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  query_each *q = cls;
  (void)kind;
  if (key && strcmp(key, q->name) == 0) {
    q->fn(q->ctx, value ? value : "");
    q->n++;
  }
  return MHD_YES;
}

size_t svc_req_query_each(const svc_req *r, const char *name, void (*fn)(void *ctx, const char *value), void *ctx) {
  query_each q = {name, fn, ctx, 0};
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_query_value, &q);
  return q.n;
}

const uint8_t *svc_req_body(const svc_req *r, size_t *len) {
  *len = r->len;
  return r->body ? r->body : (const uint8_t *)"";
}

uint8_t *svc_req_take_body(svc_req *r, size_t *len) {
  uint8_t *b = r->body;
  *len = r->len;
  if (!b) b = calloc(1, 1);
  r->body = NULL;
  r->len = r->cap = 0;
  return b;
}

void svc_req_log(svc_req *r, const char *key, const char *value) {
  if (r->nlog == MAX_LOGF || !key || !value) return;
  r->lkey[r->nlog] = strdup(key);
  r->lval[r->nlog] = strdup(value);
  r->nlog++;
}

void svc_req_header_out(svc_req *r, const char *name, const char *value) {
  if (r->nhdrs == MAX_HDRS) return;
  r->hname[r->nhdrs] = strdup(name);
  r->hval[r->nhdrs] = strdup(value);
  if (!r->hname[r->nhdrs] || !r->hval[r->nhdrs]) {
    free(r->hname[r->nhdrs]);
    free(r->hval[r->nhdrs]);
    return;
  }
  r->nhdrs++;
}

/* ---- built-in routes ---- */

static void serve_health(svc_req *r, const route *rt) {
  json_t *o = json_object(), *deps = json_array();
  int ok = 1;
  for (size_t i = 0; i < rt->ndeps; i++) {
    char err[512] = "";
    json_t *d = json_object();
    int rc = rt->deps[i].check(rt->deps[i].ctx, err, sizeof err);
    json_object_set_new(d, "name", json_string(rt->deps[i].name));
    json_object_set_new(d, "status", json_string(rc == 0 ? "healthy" : "unhealthy"));
    if (rc != 0) {
      ok = 0;
      json_object_set_new(d, "message", json_string(err[0] ? err : "check failed"));
      svc_req_log(r, rt->deps[i].name, err);
    }
    json_array_append_new(deps, d);
  }
  json_object_set_new(o, "status", json_string(ok ? "healthy" : "unhealthy"));
  json_object_set_new(o, "dependencies", deps);
  if (!ok) json_object_set_new(o, "code", json_integer(503));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  svc_reply_owned(r, ok ? 200 : 503, "application/json", s, strlen(s));
}

static void serve_builtin(svc_req *r, const route *rt) {
  switch (rt->kind) {
  case ROUTE_HEALTH:
    serve_health(r, rt);
    break;
  case ROUTE_READY:
    if (atomic_load(&r->h->ready) && !atomic_load(&r->h->draining))
      svc_reply_json(r, 200, "{\"status\":\"ready\"}");
    else
      svc_reply_error(r, 503, atomic_load(&r->h->draining) ? "shutting down" : "not ready");
    break;
  case ROUTE_METRICS: {
    char *text = svc_metrics_render(rt->reg);
    if (!text) {
      svc_reply_error(r, 500, "out of memory rendering metrics");
      return;
    }
    svc_reply_owned(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    break;
  }
  case ROUTE_USER:
    break;
  }
}

int svc_http_add_health(svc_http *h, const char *path, const svc_dep *deps, size_t n) {
  route *rt = add_route(h, "GET", path);
  if (!rt) return -1;
  rt->kind = ROUTE_HEALTH;
  if (n) {
    rt->deps = malloc(n * sizeof *deps);
    if (!rt->deps) return -1;
    memcpy(rt->deps, deps, n * sizeof *deps);
  }
  rt->ndeps = n;
  return 0;
}

int svc_http_add_ready(svc_http *h, const char *path) {
  route *rt = add_route(h, "GET", path);
  if (!rt) return -1;
  rt->kind = ROUTE_READY;
  return 0;
}

int svc_http_add_metrics(svc_http *h, const char *path, svc_metrics *m) {
  route *rt = add_route(h, "GET", path);
  if (!rt) return -1;
  rt->kind = ROUTE_METRICS;
  rt->reg = m;
  return 0;
}

/* ---- libmicrohttpd callbacks ---- */

static int sane_id(const char *s) {
  size_t n = 0;
  if (!s) return 0;
  for (; s[n]; n++)
    if (n >= 64 || !(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.')) return 0;
  return n > 0;
}

static int method_matches(const route *rt, const char *method) {
  if (strcmp(rt->method, method) == 0) return 1;
  return strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0;
}

int svc_http_set_token(svc_http *h, const char *token) {
  free(h->token);
  h->token = NULL;
  h->token_len = 0;
  if (token && *token) {
    h->token = strdup(token);
    if (!h->token) return -1;
    h->token_len = strlen(token);
  }
  return 0;
}

void svc_http_set_gate(svc_http *h, svc_gate_fn fn, void *ctx) {
  h->gate = fn;
  h->gate_ctx = ctx;
}

/*
 * Checks "Authorization: Bearer TOKEN", one rule: the scheme in any case,
 * one or more spaces, the token, then nothing but optional spaces or tabs
 * (RFC 9110 trims them from a field value). A value holding a NUL or any
 * other control byte is refused whatever follows it. The token itself is
 * compared in constant time.
 */
static int authorized(svc_http *h, svc_req *r) {
  if (!h->token) return 1;
  const char *a = NULL;
  size_t n = 0;
  if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                    strlen(MHD_HTTP_HEADER_AUTHORIZATION), &a, &n) != MHD_YES || !a)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  while (n && (a[n - 1] == ' ' || a[n - 1] == '\t')) n--;
  if (n < 8 || strncasecmp(a, "Bearer ", 7) != 0) return 0;
  size_t i = 7;
  while (i < n && a[i] == ' ') i++;
  return svc_ct_equal(a + i, n - i, h->token, h->token_len);
}

static void refused(svc_http *h, svc_req *r, int status) {
  if (h->cfg.on_refused && r->rt) h->cfg.on_refused(h->cfg.refused_ctx, r->method, r->rt->pattern, status);
}

/* Counts the request headers named name and keeps the last value. */
typedef struct header_count {
  const char *name;
  int n;
  const char *value;
  size_t len;
} header_count;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                    const char *value, size_t value_size) {
  header_count *c = cls;
  (void)kind;
  if (key && strlen(c->name) == key_size && strncasecmp(key, c->name, key_size) == 0) {
    c->n++;
    c->value = value ? value : "";
    c->len = value ? value_size : 0;
  }
  return MHD_YES;
}

/* 1 when v[0..n) is exactly "chunked" in any case, around optional spaces. */
static int only_chunked(const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* 1 when v[0..n) is a plain decimal number. */
static int all_digits(const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (!n) return 0;
  for (size_t i = 0; i < n; i++)
    if (v[i] < '0' || v[i] > '9') return 0;
  return 1;
}

/* The framing rules of RFC 9112 section 6.3 that libmicrohttpd does not
 * apply: NULL when the body's length is unambiguous, else why not. */
static const char *bad_framing(struct MHD_Connection *conn) {
  header_count cl = {MHD_HTTP_HEADER_CONTENT_LENGTH, 0, NULL, 0};
  header_count te = {MHD_HTTP_HEADER_TRANSFER_ENCODING, 0, NULL, 0};
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &cl);
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &te);
  if (cl.n > 1) return "more than one Content-Length header";
  if (cl.n && !all_digits(cl.value, cl.len)) return "Content-Length is not a number";
  if (te.n && cl.n) return "Transfer-Encoding together with Content-Length";
  if (te.n > 1 || (te.n && !only_chunked(te.value, te.len)))
    return "unsupported Transfer-Encoding (only chunked is accepted)";
  return NULL;
}

/* 1 when the raw (still escaped) path decodes to a NUL byte somewhere. */
static int decodes_to_nul(const char *raw) {
  for (const char *p = raw; p && (p = strchr(p, '%')); p++)
    if (p[1] == '0' && p[2] == '0') return 1;
  return 0;
}

/* Refusals before routing; 1 when an answer was queued (the connection is
 * then closed after it). */
static int refuse_malformed(svc_req *r, const char *version) {
  const char *why = bad_framing(r->conn);
  if (why) {
    r->must_close = 1;
    svc_reply_error(r, 400, "malformed request: %s", why);
    return 1;
  }
  if (r->raw_path && decodes_to_nul(r->raw_path)) {
    /* the decoded path is a C string cut at the NUL: log what was sent */
    free(r->path);
    r->path = strdup(r->raw_path);
    r->must_close = 1;
    svc_reply_error(r, 400, "malformed request: the path holds a NUL byte (%%00)");
    return 1;
  }
  if (version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
      !MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)) {
    r->must_close = 1;
    svc_reply_error(r, 400, "malformed request: HTTP/1.1 needs a Host header");
    return 1;
  }
  return 0;
}

/* First call of a request: create the context, route, cheap refusals.
 * Returns 1 when a response was already queued. */
static int begin(svc_http *h, svc_req *r, const char *url, const char *method, const char *version) {
  const char *cid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
  if (sane_id(cid)) snprintf(r->id, sizeof r->id, "%s", cid);
  else if (rnd_hex(r->id, 8) != 0) snprintf(r->id, sizeof r->id, "%lld", (long long)chrono_mono_ns());
  if (refuse_malformed(r, version)) return 1;

  const route *path_match = NULL;
  for (size_t i = 0; i < h->nroutes; i++) {
    const route *rt = &h->routes[i];
    if (!match(rt, url, NULL)) continue;
    if (!path_match) path_match = rt;
    if (method_matches(rt, method)) {
      r->rt = rt;
      match(rt, url, r);
      break;
    }
  }
  if (!r->rt) {
    if (path_match) {
      char allow[128] = "";
      for (size_t i = 0; i < h->nroutes; i++) {
        const route *rt = &h->routes[i];
        if (!match(rt, url, NULL) || strstr(allow, rt->method)) continue;
        if (allow[0]) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
        strncat(allow, rt->method, sizeof allow - strlen(allow) - 1);
        if (strcmp(rt->method, "GET") == 0) strncat(allow, ", HEAD", sizeof allow - strlen(allow) - 1);
      }
      svc_req_header_out(r, "Allow", allow);
      r->path_rt = path_match;
      svc_reply_error(r, 405, "method %s not allowed on %s (allowed: %s)", method, url, allow);
    } else {
      svc_reply_error(r, 404, "no such route: %s %s", method, url);
    }
    return 1;
  }
  if (atomic_load(&h->draining)) {
    svc_reply_error(r, 503, "server is shutting down");
    refused(h, r, 503);
    return 1;
  }
  if (h->gate && h->gate(h->gate_ctx, r) != 0) {
    if (!r->replied) svc_reply_error(r, 403, "forbidden");
    refused(h, r, r->status);
    return 1;
  }
  if ((r->rt->flags & SVC_ROUTE_AUTH) && !authorized(h, r)) {
    const char *a = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    svc_req_header_out(r, "WWW-Authenticate", "Bearer");
    svc_reply_error(r, 401, a ? "invalid bearer token" : "missing bearer token (Authorization: Bearer TOKEN)");
    refused(h, r, 401);
    return 1;
  }
  const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (!errno && *end == '\0' && n > r->rt->max_body) {
      r->too_big = 1;
      svc_reply_error(r, 413, "request body of %llu bytes is over the limit of %llu bytes", n,
                      (unsigned long long)r->rt->max_body);
      refused(h, r, 413);
      return 1;
    }
  }
  if ((r->rt->flags & SVC_ROUTE_LIMITED) && h->cfg.max_uploads) {
    unsigned now = atomic_fetch_add(&h->uploads, 1) + 1;
    r->has_slot = 1;
    if (now > h->cfg.max_uploads) {
      svc_req_header_out(r, "Retry-After", "1");
      svc_reply_error(r, 503, "too many concurrent uploads (limit %u); retry later", h->cfg.max_uploads);
      refused(h, r, 503);
      return 1;
    }
  }
  return 0;
}

/* ---- the request-timeout watchdog ---- */

static conn_watch *watch_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

/* Sets the connection's deadline: now + ms, or disarmed (ms < 0); with
 * tighten, only when that is earlier than the current one. */
static void watch_arm(svc_http *h, struct MHD_Connection *conn, int64_t ms, int tighten) {
  conn_watch *w = watch_of(conn);
  if (!w) return;
  int64_t d = ms < 0 ? INT64_MAX : chrono_mono_ns() + ms * 1000000;
  pthread_mutex_lock(&h->wd_mu);
  if (!tighten || d < w->deadline_ns) w->deadline_ns = d;
  pthread_mutex_unlock(&h->wd_mu);
}

static int64_t next_request_ms(const svc_http *h) {
  return (int64_t)h->cfg.idle_timeout_s * 1000 + h->cfg.request_timeout_ms;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  svc_http *h = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    conn_watch *w = calloc(1, sizeof *w);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!w || !ci) {
      free(w);
      return;
    }
    w->fd = ci->connect_fd;
    w->deadline_ns = chrono_mono_ns() + next_request_ms(h) * 1000000;
    pthread_mutex_lock(&h->wd_mu);
    w->next = h->conns;
    if (h->conns) h->conns->prev = w;
    h->conns = w;
    pthread_mutex_unlock(&h->wd_mu);
    *socket_context = w;
    return;
  }
  conn_watch *w = *socket_context;
  if (!w) return;
  pthread_mutex_lock(&h->wd_mu);
  if (w->prev) w->prev->next = w->next;
  else h->conns = w->next;
  if (w->next) w->next->prev = w->prev;
  pthread_mutex_unlock(&h->wd_mu);
  *socket_context = NULL;
  free(w);
}

/* Shuts down connections past their deadline, several times a second. */
static void *watchdog(void *arg) {
  svc_http *h = arg;
  int64_t tick_ms = h->cfg.request_timeout_ms / 8;
  if (tick_ms > 250) tick_ms = 250;
  if (tick_ms < 10) tick_ms = 10;
  pthread_mutex_lock(&h->wd_mu);
  while (!h->wd_stop) {
    int64_t now = chrono_mono_ns();
    for (conn_watch *w = h->conns; w; w = w->next) {
      if (w->shut || now < w->deadline_ns) continue;
      w->shut = 1;
      shutdown(w->fd, SHUT_RDWR);
      SVC_WARN("request not received within the request timeout; connection closed",
               SVC_INT("request_timeout_ms", h->cfg.request_timeout_ms));
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(tick_ms * 1000000);
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_cond_timedwait(&h->wd_cv, &h->wd_mu, &ts);
  }
  pthread_mutex_unlock(&h->wd_mu);
  return NULL;
}

static void watchdog_stop(svc_http *h) {
  if (!h->wd_running) return;
  pthread_mutex_lock(&h->wd_mu);
  h->wd_stop = 1;
  pthread_cond_broadcast(&h->wd_cv);
  pthread_mutex_unlock(&h->wd_mu);
  pthread_join(h->wd, NULL);
  h->wd_running = 0;
}

/* The request line is in: the request is created here, with the path as
 * sent (libmicrohttpd hands the access handler a decoded copy), and the
 * connection's deadline becomes the request timeout. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  svc_http *h = cls;
  svc_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->h = h;
  r->conn = conn;
  r->raw_path = strndup(uri ? uri : "", uri ? strcspn(uri, "?") : 0);
  watch_arm(h, conn, h->cfg.request_timeout_ms, 1);
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  svc_http *h = cls;
  svc_req *r = *con_cls;
  if (!r || !r->started) {
    if (!r) r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->started = 1;
    r->h = h;
    r->conn = conn;
    r->method = method;
    r->path = strdup(url);
    r->start_ns = chrono_mono_ns();
    *con_cls = r;
    pthread_mutex_lock(&h->mu);
    h->in_flight++;
    r->in_flight = 1;
    pthread_mutex_unlock(&h->mu);
    if (!r->path) return MHD_NO;
    /* A client that stops sending altogether is cut by the connection's
     * inactivity timeout: make it no longer than the whole-request budget
     * (one that trickles is cut by the elapsed-time check on each chunk). */
    unsigned req_s = (unsigned)((h->cfg.request_timeout_ms + 999) / 1000);
    if (req_s && req_s < h->cfg.idle_timeout_s)
      MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, req_s);
    begin(h, r, url, method, version);
    return MHD_YES;
  }
  r->conn = conn;
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (r->replied) return MHD_YES; /* answered already: drain the rest */
    if (h->cfg.request_timeout_ms && chrono_mono_ns() - r->start_ns > h->cfg.request_timeout_ms * 1000000) {
      SVC_WARN("request timed out while receiving the body", SVC_STR("request_id", r->id),
               SVC_STR("path", r->path), SVC_INT("received", r->len));
      return MHD_NO; /* closes the connection */
    }
    if (r->too_big || r->len + n > r->rt->max_body) {
      /* libmicrohttpd cannot answer in the middle of a body, so the rest is
       * read and dropped (no memory kept) and 413 is sent at its end. A
       * client that goes on far past the limit is cut off instead. */
      if (!r->too_big) {
        r->too_big = 1;
        free(r->body);
        r->body = NULL;
        r->cap = 0;
      }
      r->len += n;
      uint64_t slack = r->rt->max_body > (1u << 20) ? r->rt->max_body : (1u << 20);
      return r->len > r->rt->max_body + slack ? MHD_NO : MHD_YES;
    }
    if (r->len + n > r->cap) {
      size_t nc = r->cap ? r->cap : 16384;
      while (nc < r->len + n) nc *= 2;
      if (nc > r->rt->max_body && r->rt->max_body >= r->len + n) nc = (size_t)r->rt->max_body;
      uint8_t *nb = realloc(r->body, nc);
      if (!nb) return MHD_NO;
      r->body = nb;
      r->cap = nc;
    }
    memcpy(r->body + r->len, upload_data, n);
    r->len += n;
    return MHD_YES;
  }
  /* The whole request is in: no more deadline while it is handled and
   * answered (a slow store, a large download). */
  watch_arm(h, conn, -1, 0);
  if (r->replied) return MHD_YES;
  if (r->too_big) {
    svc_reply_error(r, 413, "request body of %zu bytes is over the limit of %llu bytes", r->len,
                    (unsigned long long)r->rt->max_body);
    refused(h, r, 413);
    return r->replied ? MHD_YES : MHD_NO;
  }
  if (r->rt->kind != ROUTE_USER) serve_builtin(r, r->rt);
  else r->rt->fn(r, r->rt->ctx);
  if (r->has_slot) { /* the work is done: free the slot before the answer goes out */
    atomic_fetch_sub(&h->uploads, 1);
    r->has_slot = 0;
  }
  if (!r->replied) svc_reply_error(r, 500, "internal error: handler for %s gave no answer", r->rt->pattern);
  return r->replied ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  svc_http *h = cls;
  svc_req *r = *con_cls;
  if (!r) return;
  *con_cls = NULL;
  watch_arm(h, conn, next_request_ms(h), 0);
  if (!r->started) { /* refused by libmicrohttpd before any handler call */
    free(r->raw_path);
    free(r);
    return;
  }
  double secs = (double)(chrono_mono_ns() - r->start_ns) / 1e9;
  const char *route_name = r->rt ? r->rt->pattern : "unmatched";
  char code[16];
  int status = r->replied ? r->status : 0; /* 0: connection closed without an answer */
  snprintf(code, sizeof code, "%d", status);
  svc_metric_add(h->m_requests, 1, r->method, route_name, code);
  svc_metric_observe(h->m_duration, secs, r->method, route_name);

  int lvl = status >= 500 || status == 0 ? SVC_LOG_WARN : SVC_LOG_INFO;
  if (svc_log_enabled(lvl)) {
    svc_field f[12 + MAX_LOGF];
    size_t nf = 0;
    f[nf++] = SVC_STR("request_id", r->id);
    f[nf++] = SVC_STR("method", r->method);
    f[nf++] = SVC_STR("path", r->path);
    f[nf++] = SVC_STR("route", route_name);
    f[nf++] = SVC_INT("status", status);
    f[nf++] = SVC_FLOAT("duration_ms", (double)(int64_t)(secs * 1e6) / 1000.0); /* µs resolution */
    f[nf++] = SVC_INT("bytes_in", r->len);
    f[nf++] = SVC_INT("bytes_out", r->resp_bytes);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
      static const char *why[] = {"ok", "error", "timeout", "daemon shutdown", "read error", "client abort"};
      f[nf++] = SVC_STR("terminated", (unsigned)toe < 6 ? why[toe] : "other");
    }
    if (r->errmsg) f[nf++] = SVC_STR("error", r->errmsg);
    for (size_t i = 0; i < r->nlog; i++)
      if (r->lkey[i] && r->lval[i]) f[nf++] = SVC_STR(r->lkey[i], r->lval[i]);
    svc_log_fields(lvl, "request", f, nf);
  }

  if (r->has_slot) atomic_fetch_sub(&h->uploads, 1);
  for (size_t i = 0; i < r->nparams; i++) free(r->pvals[i]);
  for (size_t i = 0; i < r->nhdrs; i++) { free(r->hname[i]); free(r->hval[i]); }
  for (size_t i = 0; i < r->nlog; i++) { free(r->lkey[i]); free(r->lval[i]); }
  size_t body_bytes = r->len;
  free(r->errmsg);
  free(r->body);
  free(r->path);
  free(r->raw_path);
  if (r->in_flight) {
    pthread_mutex_lock(&h->mu);
    h->in_flight--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
  }
  free(r);
  if (body_bytes >= TRIM_AFTER_BYTES) malloc_trim(0);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  (void)cls;
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  SVC_DEBUG("libmicrohttpd", SVC_STR("detail", msg));
}

/* ---- lifecycle ---- */

int svc_http_new(const svc_http_config *cfg, svc_http **out, char *err, size_t errlen) {
  svc_http *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  h->cfg = *cfg;
  if (!h->cfg.bind) h->cfg.bind = "127.0.0.1";
  if (!h->cfg.threads) h->cfg.threads = 4;
  if (!h->cfg.max_connections) h->cfg.max_connections = 1024;
  if (!h->cfg.idle_timeout_s) h->cfg.idle_timeout_s = 30;
  if (!h->cfg.request_timeout_ms) h->cfg.request_timeout_ms = 60000;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  pthread_mutex_init(&h->wd_mu, NULL);
  pthread_cond_init(&h->wd_cv, NULL);
  if (cfg->metrics) {
    h->m_requests = svc_metrics_counter(cfg->metrics, "pgopipe_http_requests_total",
                                        "HTTP requests by method, route and status code (0 = no answer)",
                                        "method,route,code");
    h->m_duration = svc_metrics_histogram(cfg->metrics, "pgopipe_http_request_duration_seconds",
                                          "HTTP request latency from headers received to response queued",
                                          "method,route", svc_metrics_latency_buckets,
                                          svc_metrics_latency_nbuckets);
  }
  *out = h;
  return 0;
}

int svc_http_start(svc_http *h, char *err, size_t errlen) {
  struct addrinfo hints, *ai = NULL;
  char portstr[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  snprintf(portstr, sizeof portstr, "%d", h->cfg.port);
  const char *host = h->cfg.bind;
  char hostbuf[256];
  if (host[0] == '[') { /* [::1] */
    snprintf(hostbuf, sizeof hostbuf, "%s", host + 1);
    char *e = strchr(hostbuf, ']');
    if (e) *e = '\0';
    host = hostbuf;
  }
  int rc = getaddrinfo(host, portstr, &hints, &ai);
  if (rc != 0 || !ai) {
    snprintf(err, errlen, "bind address %s: %s", h->cfg.bind, gai_strerror(rc));
    return -1;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (h->cfg.mode == SVC_HTTP_THREAD_PER_CONNECTION) flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
  else flags |= MHD_USE_EPOLL | MHD_USE_TURBO;
  struct MHD_OptionItem pool[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)h->cfg.threads, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  h->d = MHD_start_daemon(
      flags, (uint16_t)h->cfg.port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)h->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->cfg.max_connections,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
      (unsigned)511, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_ARRAY,
      h->cfg.mode == SVC_HTTP_THREAD_PER_CONNECTION ? &pool[1] : pool, MHD_OPTION_END);
  if (!h->d) {
    int e = errno;
    snprintf(err, errlen, "listen %s:%d: %s", h->cfg.bind, h->cfg.port,
             e ? strerror(e) : "libmicrohttpd could not start");
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : h->cfg.port;
  h->wd_stop = 0;
  if (pthread_create(&h->wd, NULL, watchdog, h) != 0) {
    MHD_stop_daemon(h->d);
    h->d = NULL;
    snprintf(err, errlen, "listen %s:%d: cannot start the request-timeout watchdog", h->cfg.bind, h->cfg.port);
    return -1;
  }
  h->wd_running = 1;
  return 0;
}

int svc_http_port(const svc_http *h) { return h->port; }
void svc_http_set_ready(svc_http *h, int ready) { atomic_store(&h->ready, !!ready); }
int svc_http_ready(const svc_http *h) { return atomic_load(&h->ready) && !atomic_load(&h->draining); }

unsigned svc_http_in_flight(svc_http *h) {
  pthread_mutex_lock(&h->mu);
  unsigned n = h->in_flight;
  pthread_mutex_unlock(&h->mu);
  return n;
}

unsigned svc_http_stop(svc_http *h, int64_t grace_ms) {
  unsigned left = 0;
  if (!h || !h->d || h->stopped) return 0;
  h->stopped = 1;
  atomic_store(&h->ready, 0);
  atomic_store(&h->draining, 1);
  MHD_socket lfd = MHD_quiesce_daemon(h->d);
  if (lfd != MHD_INVALID_SOCKET) close(lfd);
  int64_t deadline = chrono_mono_ns() + grace_ms * 1000000;
  pthread_mutex_lock(&h->mu);
  while (h->in_flight > 0) {
    int64_t now = chrono_mono_ns();
    if (now >= deadline) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait = deadline - now;
    if (wait > 100000000) wait = 100000000;
    ts.tv_nsec += (long)wait;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
  }
  left = h->in_flight;
  pthread_mutex_unlock(&h->mu);
  MHD_stop_daemon(h->d);
  h->d = NULL;
  watchdog_stop(h);
  return left;
}

void svc_http_free(svc_http *h) {
  if (!h) return;
  if (h->d) {
    h->stopped = 0;
    svc_http_stop(h, 0);
  }
  for (size_t i = 0; i < h->nroutes; i++) {
    route *rt = &h->routes[i];
    free(rt->method);
    free(rt->pattern);
    for (size_t s = 0; s < rt->nsegs; s++) free(rt->segs[s]);
    free(rt->deps);
  }
  free(h->routes);
  free(h->token);
  watchdog_stop(h);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->wd_mu);
  pthread_cond_destroy(&h->wd_cv);
  free(h);
}
