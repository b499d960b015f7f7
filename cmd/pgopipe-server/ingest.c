/*
 * ingest.c — the push routes of pgopipe-server (contract, "Push
 * ingestion"): Pyroscope's POST /ingest and /pyroscope/ingest, profefe's
 * POST /api/0/profiles, traceway's POST /api/profiles/ingest.
 *
 * Each handler only translates: the request goes to lib/ingest
 * (ingest_request_parse: method, credentials, parameters, body, kind, app,
 * metadata), the accepted upload to lib/pipeline (push_accept: staged with
 * its metadata, announced, only then answered), and the outcome back into
 * the answer each protocol's clients expect — Pyroscope exactly 200 with an
 * empty body, profefe its JSON envelope with body.id, traceway 200 {} — or
 * into the protocol's own error shape. The routes register an error
 * formatter with the HTTP layer, so the layer's own refusals on these paths
 * (405 for another method, 413 over the body limit, 503 at the upload bound
 * or while shutting down) come in that shape too. Nothing here redirects.
 *
 * Metrics: pgopipe_push_requests_total{protocol,outcome} (every answer on a
 * push route, the layer's refusals included), pgopipe_push_uploads_total
 * {protocol,kind} (objects stored), pgopipe_push_duration_seconds{protocol}
 * (parse + store + announce of accepted pushes).
 */
#include "server.h"

#include "chrono.h"
#include "ingest.h"
#include "push.h"
#include "svc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the multipart framing, the part headers and the sample_type_config
 * of a Pyroscope body may add to its profile parts. */
#define PYROSCOPE_OVERHEAD (1u << 20)

typedef struct push_route {
  server *s;
  ingest_protocol proto;
  const char *protocol; /* metric label */
} push_route;

static push_route routes[3];

static const char *protocol_name(ingest_protocol p) {
  switch (p) {
  case INGEST_PYROSCOPE: return "pyroscope";
  case INGEST_PROFEFE: return "profefe";
  default: return "traceway";
  }
}

/* The outcome label of an answer's status. */
static const char *outcome_of(int status) {
  switch (status) {
  case 200: return "stored";
  case 400: return "bad_request";
  case 401: return "unauthorized";
  case 405: return "wrong_method";
  case 413: return "too_big";
  case 415: return "unsupported";
  case 422: return "bad_kind";
  case 503: return "unavailable";
  default: return "internal";
  }
}

static void count(server *s, const push_route *pr, const char *outcome) {
  svc_metric_add(s->m_push_requests, 1, pr->protocol, outcome);
}

/* The protocol's error body (svc_http_route_errors). */
static char *error_body(void *ctx, int status, const char *message, const char **content_type) {
  const push_route *pr = ctx;
  char *body = ingest_reply_error(pr->proto, status, message);
  *content_type = body && *body ? "application/json" : NULL;
  return body;
}

static const char *param(void *ctx, const char *key) { return svc_req_query(ctx, key); }

/* The success answer of each protocol. */
static void answer_ok(svc_req *r, const push_route *pr, const ingest_upload *up, const upload_result *res) {
  if (pr->proto == INGEST_PYROSCOPE) {
    svc_reply(r, 200, NULL, "", 0);
    return;
  }
  if (pr->proto == INGEST_TRACEWAY) {
    svc_reply_json(r, 200, INGEST_TRACEWAY_OK);
    return;
  }
  /* profefe: an empty push stored nothing, yet kube-profefe wants an id:
   * the id of a name no object ever has. */
  char id[128];
  snprintf(id, sizeof id, "%s", res->id);
  if (!res->stored &&
      push_profefe_id(up->app, layout_kind_parse(ingest_kind_name(up->meta.kind)), up->meta.time_ns,
                      "0-00000000", id, sizeof id) != 0)
    snprintf(id, sizeof id, "%s", up->app);
  char *body = ingest_reply_profefe_ok(id, up->reply_type ? up->reply_type : ingest_kind_name(up->meta.kind),
                                       up->meta.name, &up->meta.labels, up->meta.time_ns);
  if (!body) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  svc_req_log(r, "id", id);
  svc_reply_owned(r, 200, "application/json", body, strlen(body));
}

static void h_push(svc_req *r, void *ctx) {
  const push_route *pr = ctx;
  server *s = pr->s;
  int64_t t0 = chrono_mono_ns();
  size_t len;
  ingest_request rq = {0};
  rq.method = svc_req_method(r);
  rq.content_type = svc_req_header(r, "Content-Type");
  rq.content_encoding = svc_req_header(r, "Content-Encoding");
  rq.authorization = svc_req_header(r, "Authorization");
  rq.body = svc_req_body(r, &len);
  rq.len = len;
  rq.param = param;
  rq.param_ctx = r;
  ingest_config ic = {0};
  ic.token = s->token;
  ic.limits.max_input_bytes = (size_t)s->o.max_profile_bytes;
  ic.limits.max_decoded_bytes = (size_t)s->o.max_decoded_bytes;
  ic.now_ns = chrono_now_ns();
  ic.retention_ns = s->up.retention_ns;
  ingest_upload up;
  int status = 0;
  char msg[1024];
  svc_req_log(r, "protocol", pr->protocol);
  if (ingest_request_parse(pr->proto, &rq, &ic, &up, &status, msg, sizeof msg) != INGEST_OK) {
    count(s, pr, outcome_of(status));
    svc_reply_error(r, status, "%s", msg);
    return;
  }
  svc_req_log(r, "app", up.app);
  svc_req_log(r, "kind", ingest_kind_name(up.meta.kind));
  svc_req_log(r, "name", up.meta.name);
  if (up.meta.instance && *up.meta.instance) svc_req_log(r, "instance", up.meta.instance);
  upload_result res;
  if (push_accept(&s->up, &up, &res) != 0) {
    if (res.reason == UPLOAD_PUBLISH) svc_metric_add(s->m_publish_err, 1);
    if (res.reason == UPLOAD_BLOB) svc_metric_add(s->m_blob_err, 1, "put");
    if (res.status == 503) svc_req_header_out(r, "Retry-After", "5");
    count(s, pr, outcome_of(res.status));
    svc_reply_error(r, res.status, "%s", res.message);
    ingest_upload_free(&up);
    return;
  }
  if (res.stored) {
    count(s, pr, "stored");
    svc_metric_add(s->m_push_uploads, 1, pr->protocol, ingest_kind_name(up.meta.kind));
    svc_req_log(r, "key", res.key);
  } else {
    count(s, pr, "empty");
    svc_req_log(r, "empty", "true");
  }
  svc_metric_observe(s->m_push_seconds, (double)(chrono_mono_ns() - t0) / 1e9, pr->protocol);
  answer_ok(r, pr, &up, &res);
  ingest_upload_free(&up);
}

void server_push_refused(server *s, const char *route, int status) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (!routes[i].s) continue;
    int match = routes[i].proto == INGEST_PYROSCOPE
                    ? !strcmp(route, "/ingest") || !strcmp(route, "/pyroscope/ingest")
                    : !strcmp(route, routes[i].proto == INGEST_PROFEFE ? "/api/0/profiles" : "/api/profiles/ingest");
    if (match) count(s, &routes[i], outcome_of(status));
  }
}

int server_push_metrics(server *s) {
  svc_metrics *m = s->metrics;
  s->m_push_requests =
      svc_metrics_counter(m, "pgopipe_push_requests_total",
                          "Requests on the push routes by protocol and outcome (stored, empty, bad_request, "
                          "unauthorized, wrong_method, too_big, unsupported, bad_kind, unavailable, internal)",
                          "protocol,outcome");
  s->m_push_uploads = svc_metrics_counter(m, "pgopipe_push_uploads_total",
                                          "Pushed profiles stored, by protocol and kind", "protocol,kind");
  s->m_push_seconds =
      svc_metrics_histogram(m, "pgopipe_push_duration_seconds",
                            "Time to parse, store and announce an accepted push (body already received)",
                            "protocol", svc_metrics_latency_buckets, svc_metrics_latency_nbuckets);
  return s->m_push_requests && s->m_push_uploads && s->m_push_seconds ? 0 : -1;
}

int server_push_routes(server *s, svc_http *h) {
  static const struct {
    const char *path;
    ingest_protocol proto;
  } paths[] = {
      {"/ingest", INGEST_PYROSCOPE},
      {"/pyroscope/ingest", INGEST_PYROSCOPE},
      {"/api/0/profiles", INGEST_PROFEFE},
      {"/api/profiles/ingest", INGEST_TRACEWAY},
  };
  for (int p = INGEST_PYROSCOPE; p <= INGEST_TRACEWAY; p++)
    routes[p] = (push_route){s, (ingest_protocol)p, protocol_name((ingest_protocol)p)};
  uint64_t max = s->o.max_profile_bytes;
  int rc = 0;
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    push_route *pr = &routes[paths[i].proto];
    /* Pyroscope: the profile, an old client's prev_profile and the framing. */
    uint64_t limit = pr->proto == INGEST_PYROSCOPE ? 2 * max + PYROSCOPE_OVERHEAD : max;
    rc |= svc_http_route(h, "POST", paths[i].path, h_push, pr, limit, SVC_ROUTE_LIMITED);
    rc |= svc_http_route_errors(h, paths[i].path, error_body, pr);
  }
  return rc ? -1 : 0;
}
