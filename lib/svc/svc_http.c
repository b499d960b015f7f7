/*
 * svc_http.c — the life of a request and of the server on top of
 * libmicrohttpd (see svc_http.h for the model, svc_http_internal.h for the
 * other files of the layer).
 *
 * libmicrohttpd calls the access handler several times per request: once
 * when the headers are in (we match the route and apply the cheap refusals:
 * malformed framing, 404/405, the gate, the bearer token, Content-Length
 * over the limit, upload slots), then once per body chunk (appended under
 * the limit), then once with no data (the route's handler runs). The
 * completion callback writes the access log, updates the metrics, releases
 * the upload slot and the in-flight count that graceful shutdown waits on.
 * The request-timeout watchdog (svc_http_watch.c) is armed at the request
 * line, disarmed while the handler runs, re-armed for the next request.
 */
#include "svc_http_internal.h"

#include "svc_log.h"

#include "chrono.h"
#include "rnd.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* After a request whose body was at least this large, freed memory is
 * handed back to the system (malloc_trim): a burst of large uploads would
 * otherwise leave the process at its peak size for good (glibc keeps freed
 * arena memory). */
#define TRIM_AFTER_BYTES ((size_t)1 << 20)

static int sane_id(const char *s) {
  size_t n = 0;
  if (!s) return 0;
  for (; s[n]; n++)
    if (n >= 64 || !(isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.')) return 0;
  return n > 0;
}

void svc_http_set_gate(svc_http *h, svc_gate_fn fn, void *ctx) {
  h->gate = fn;
  h->gate_ctx = ctx;
}

static void refused(svc_http *h, svc_req *r, int status) {
  if (h->cfg.on_refused && r->rt) h->cfg.on_refused(h->cfg.refused_ctx, r->method, r->rt->pattern, status);
}

/* First call of a request: create the context, route, cheap refusals.
 * Returns 1 when a response was already queued. */
static int begin(svc_http *h, svc_req *r, const char *url, const char *method, const char *version) {
  const char *cid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
  if (sane_id(cid)) snprintf(r->id, sizeof r->id, "%s", cid);
  else if (rnd_hex(r->id, 8) != 0) snprintf(r->id, sizeof r->id, "%lld", (long long)chrono_mono_ns());
  if (svc_guard_malformed(r, version)) return 1;
  if (svc_route_request(h, r, url, method)) return 1;
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
  if ((r->rt->flags & SVC_ROUTE_AUTH) && !svc_guard_authorized(h, r)) {
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
  svc_watch_arm(h, conn, h->cfg.request_timeout_ms, 1);
  return r;
}

/* A chunk of r's body: appended under the route's limit. MHD_NO closes
 * the connection. */
static enum MHD_Result collect(svc_http *h, svc_req *r, const char *data, size_t n) {
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
  memcpy(r->body + r->len, data, n);
  r->len += n;
  return MHD_YES;
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
    return collect(h, r, upload_data, n);
  }
  /* The whole request is in: no more deadline while it is handled and
   * answered (a slow store, a large download). */
  svc_watch_arm(h, conn, -1, 0);
  if (r->replied) return MHD_YES;
  if (r->too_big) {
    svc_reply_error(r, 413, "request body of %zu bytes is over the limit of %llu bytes", r->len,
                    (unsigned long long)r->rt->max_body);
    refused(h, r, 413);
    return r->replied ? MHD_YES : MHD_NO;
  }
  if (r->rt->kind != ROUTE_USER) svc_route_serve_builtin(r, r->rt);
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
  svc_watch_arm(h, conn, svc_watch_next_request_ms(h), 0);
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
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, svc_watch_on_connection, h,
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
  if (svc_watch_start(h) != 0) {
    MHD_stop_daemon(h->d);
    h->d = NULL;
    snprintf(err, errlen, "listen %s:%d: cannot start the request-timeout watchdog", h->cfg.bind, h->cfg.port);
    return -1;
  }
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
    int64_t wait = deadline - now;
    if (wait > 100000000) wait = 100000000;
    struct timespec ts = svc_realtime_in(wait);
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
  }
  left = h->in_flight;
  pthread_mutex_unlock(&h->mu);
  MHD_stop_daemon(h->d);
  h->d = NULL;
  svc_watch_stop(h);
  return left;
}

void svc_http_free(svc_http *h) {
  if (!h) return;
  if (h->d) {
    h->stopped = 0;
    svc_http_stop(h, 0);
  }
  svc_routes_free(h);
  free(h->token);
  svc_watch_stop(h);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->wd_mu);
  pthread_cond_destroy(&h->wd_cv);
  free(h);
}
