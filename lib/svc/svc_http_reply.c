/*
 * svc_http_reply.c — a handler's side of a request: the replies (every one
 * carries X-Request-Id, the headers the handler added, and Connection: close
 * while draining, after a refused body or a malformed request), error
 * answers in the route's shape or as {"message","code"}, and the request
 * accessors.
 */
#include "svc_http_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
