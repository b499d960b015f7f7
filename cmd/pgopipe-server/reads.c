/*
 * reads.c — the read routes of pgopipe-server: GET/HEAD /api/profile/{app}
 * (a base or a time range in any format, contract "Reads") and
 * GET /api/profile (the listing, with the hours of history each app and
 * kind keeps). The rules live in lib/pipeline (reads.h: parameters,
 * sources, conversions, ETags, the output cache; apps.h: which bases exist;
 * history.h: hour buckets); here only the translation to and from HTTP.
 */
#include "server.h"

#include "chrono.h"
#include "svc_log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void http_date(int64_t ms, char *buf, size_t n) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ETag, Last-Modified, Vary and Cache-Control: what 200 and 304 share. */
static void validators(svc_req *r, const reads_answer *a) {
  if (a->etag[0]) svc_req_header_out(r, "ETag", a->etag);
  if (a->mtime_ms > 0) {
    char date[64];
    http_date(a->mtime_ms, date, sizeof date);
    svc_req_header_out(r, "Last-Modified", date);
  }
  if (a->vary_encoding) svc_req_header_out(r, "Vary", "Accept-Encoding");
  svc_req_header_out(r, "Cache-Control", "no-cache");
}

void server_read_profile(svc_req *r, void *ctx) {
  server *s = ctx;
  const char *app = svc_req_param(r, "app");
  svc_req_log(r, "app", app);
  reads_params p = {svc_req_query(r, "kind"), svc_req_query(r, "format"), svc_req_query(r, "keep"),
                    svc_req_query(r, "from"), svc_req_query(r, "to")};
  reads_request rq;
  char err[1024];
  if (reads_parse(app, &p, &rq, err, sizeof err) != 0) {
    svc_reply_error(r, 400, "%s", err);
    return;
  }
  svc_req_log(r, "kind", layout_kind_name(rq.source.kind));
  svc_req_log(r, "format", rq.format->name);
  if (rq.source.type == READS_SOURCE_RANGE) {
    char h[16];
    layout_hour_format(rq.source.from_hour, h, sizeof h);
    svc_req_log(r, "from_hour", h);
    layout_hour_format(rq.source.to_hour, h, sizeof h);
    svc_req_log(r, "to_hour", h);
  }

  reads_answer a;
  reads_serve(s->reads, &rq, svc_req_header(r, "If-None-Match"), svc_req_header(r, "Accept-Encoding"), &a);
  if (a.blob_op) svc_metric_add(s->m_blob_err, 1, a.blob_op);
  if (a.status >= 400) {
    if (a.status == 503) svc_req_header_out(r, "Retry-After", "5");
    svc_reply_error(r, a.status, "%s", a.message);
    return;
  }
  validators(r, &a);
  if (a.status == 304) {
    svc_reply(r, 304, NULL, NULL, 0);
    return;
  }
  char cd[LAYOUT_APP_MAX + 96];
  snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", a.filename);
  svc_req_header_out(r, "Content-Disposition", cd);
  if (a.content_encoding) svc_req_header_out(r, "Content-Encoding", a.content_encoding);
  svc_req_log(r, "cache", a.cache == READS_CACHE_HIT ? "hit" : a.cache == READS_CACHE_SHARED ? "shared" : "miss");
  svc_reply(r, 200, a.content_type, a.body, a.len);
  reads_answer_done(s->reads, &a);
}

/* The hours a span covers: {"from","to"[,"hours"]}, from the start of its
 * first hour to the end of its last (RFC 3339), the number of hours held
 * when with_count. NULL for an empty span. */
static json_t *span_json(const history_span *h, int with_count) {
  if (!h->hours) return NULL;
  char from[40], to[40];
  chrono_format_rfc3339(h->first_hour * 3600 * 1000, 0, from, sizeof from);
  chrono_format_rfc3339((h->last_hour + 1) * 3600 * 1000, 0, to, sizeof to);
  json_t *o = json_pack("{s:s, s:s}", "from", from, "to", to);
  if (o && with_count) json_object_set_new(o, "hours", json_integer((json_int_t)h->hours));
  return o;
}

/* One base of the listing: {"kind","size","lastModified"[,"history"]}. */
static json_t *kind_json(const apps_kind_base *k) {
  char lm[40];
  chrono_format_rfc3339(k->mtime_ms, 0, lm, sizeof lm);
  return json_pack("{s:s, s:I, s:s, s:o*}", "kind", layout_kind_name(k->kind), "size", (json_int_t)k->size,
                   "lastModified", lm, "history", span_json(&k->hours, 1));
}

void server_list_profiles(svc_req *r, void *ctx) {
  server *s = ctx;
  char err[1024];
  apps_base *bases = NULL;
  size_t n = 0;
  if (apps_list_bases(s->blob, &bases, &n, err, sizeof err) != 0) {
    svc_metric_add(s->m_blob_err, 1, "list");
    svc_reply_error(r, 503, "listing profiles: %s", err);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    char lm[40];
    chrono_format_rfc3339(bases[i].mtime_ms, 0, lm, sizeof lm);
    json_t *kinds = json_array();
    for (size_t k = 0; kinds && k < bases[i].nkinds; k++) json_array_append_new(kinds, kind_json(&bases[i].kinds[k]));
    json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:o*, s:o*}", "key", bases[i].app, "size",
                                         (json_int_t)bases[i].size, "lastModified", lm, "kinds", kinds, "history",
                                         span_json(&bases[i].hours, 0)));
  }
  free(bases);
  json_t *o = arr ? json_pack("{s:o}", "profiles", arr) : NULL;
  char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!out) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  svc_reply_owned(r, 200, "application/json", out, strlen(out));
}
