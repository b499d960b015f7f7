/*
 * routes.c — the HTTP API of pgopipe-server (contract: HTTP API). Each
 * handler translates between HTTP and one call into lib/: uploads go to
 * upload_accept, listings to apps_list_bases and deletions to apps_delete
 * (lib/pipeline, where their rules live), downloads to the blob store.
 * Errors are JSON {"message","code"} everywhere.
 */
#include "server.h"

#include "svc_log.h"
#include "apps.h"
#include "chrono.h"
#include "layout.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void count_blob_error(server *s, const char *op) { svc_metric_add(s->m_blob_err, 1, op); }

/* ---- POST /api/profile/{app} ---- */

static void h_upload(svc_req *r, void *ctx) {
  server *s = ctx;
  const char *app = svc_req_param(r, "app");
  size_t len;
  const uint8_t *body = svc_req_body(r, &len);
  upload_result res;
  int64_t t0 = chrono_mono_ns();

  svc_req_log(r, "app", app);
  int rc = upload_accept(&s->up, app, body, len, &res);
  if (rc != 0) {
    svc_metric_add(s->m_rejected, 1, upload_reason_name(res.reason));
    if (res.reason == UPLOAD_PUBLISH) svc_metric_add(s->m_publish_err, 1);
    if (res.reason == UPLOAD_BLOB) count_blob_error(s, "put");
    if (res.status == 503) svc_req_header_out(r, "Retry-After", "5");
    svc_reply_error(r, res.status, "%s", res.message);
    return;
  }
  svc_metric_add(s->m_uploads, 1);
  svc_metric_observe(s->m_upload_bytes, (double)len);
  svc_metric_observe(s->m_upload_seconds, (double)(chrono_mono_ns() - t0) / 1e9);
  svc_req_log(r, "key", res.key);
  char ms[32];
  snprintf(ms, sizeof ms, "%.3f", (double)res.decode_ns / 1e6);
  svc_req_log(r, "validate_ms", ms);
  snprintf(ms, sizeof ms, "%.3f", (double)res.store_ns / 1e6);
  svc_req_log(r, "store_ms", ms);
  snprintf(ms, sizeof ms, "%.3f", (double)res.publish_ns / 1e6);
  svc_req_log(r, "publish_ms", ms);

  json_t *o = json_pack("{s:s}", "key", res.key);
  char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!out) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  char loc[1200];
  snprintf(loc, sizeof loc, "/api/profile/%s", app);
  svc_req_header_out(r, "Location", loc);
  svc_reply_owned(r, 201, "application/json", out, strlen(out));
}

/* ---- GET/HEAD /api/profile/{app} ---- */

/* Does an If-None-Match header value match etag? Handles "*", lists and
 * weak validators (W/"x" matches "x": If-None-Match uses weak comparison). */
static int etag_matches(const char *inm, const char *etag) {
  if (!inm || !etag || !*etag) return 0;
  const char *e = etag;
  if (strncmp(e, "W/", 2) == 0) e += 2;
  size_t el = strlen(e);
  const char *p = inm;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    if (!*p) break;
    if (*p == '*') return 1;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    const char *end = p;
    if (*p == '"') {
      end = strchr(p + 1, '"');
      end = end ? end + 1 : p + strlen(p);
    } else {
      while (*end && *end != ',') end++;
    }
    if ((size_t)(end - p) == el && strncmp(p, e, el) == 0) return 1;
    p = end;
  }
  return 0;
}

static void http_date(int64_t ms, char *buf, size_t n) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Logs the app, checks its name and writes its base key (layout_base_key)
 * into key. Returns -1 after replying 400 when the name is invalid. */
static int base_key(svc_req *r, const char *app, char *key, size_t n) {
  svc_req_log(r, "app", app);
  if (layout_base_key(app, key, n) != 0) {
    svc_reply_error(r, 400, "invalid app name \"%.80s\": want 1 to 63 characters of a-z, 0-9 and '-'", app);
    return -1;
  }
  return 0;
}

static void h_download(svc_req *r, void *ctx) {
  server *s = ctx;
  const char *app = svc_req_param(r, "app");
  char key[LAYOUT_KEY_BUF], err[1024];
  blob_info info;
  if (base_key(r, app, key, sizeof key) != 0)
    return;

  const char *inm = svc_req_header(r, "If-None-Match");
  if (inm) {
    int rc = blob_stat(s->blob, key, &info, err, sizeof err);
    if (rc == BLOB_OK && etag_matches(inm, info.etag)) {
      svc_req_header_out(r, "ETag", info.etag);
      svc_reply(r, 304, NULL, NULL, 0);
      return;
    }
    if (rc == BLOB_ENOTFOUND) {
      svc_reply_error(r, 404, "no merged profile for app %s yet", app);
      return;
    }
  }
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = blob_get(s->blob, key, (size_t)s->o.max_download_bytes, &data, &len, &info, err, sizeof err);
  if (rc == BLOB_ENOTFOUND) {
    svc_reply_error(r, 404, "no merged profile for app %s yet", app);
    return;
  }
  if (rc != BLOB_OK) {
    count_blob_error(s, "get");
    svc_reply_error(r, rc == BLOB_ETOOBIG ? 500 : 503, "reading %s: %s", key, err);
    return;
  }
  char date[64];
  if (info.etag[0]) svc_req_header_out(r, "ETag", info.etag);
  if (info.mtime_ms > 0) {
    http_date(info.mtime_ms, date, sizeof date);
    svc_req_header_out(r, "Last-Modified", date);
  }
  svc_req_header_out(r, "Content-Disposition", "attachment; filename=\"" LAYOUT_BASE_NAME "\"");
  svc_req_header_out(r, "Cache-Control", "no-cache");
  svc_reply_owned(r, 200, "application/octet-stream", data, len);
}

/* ---- GET /api/profile ---- */

static void h_list(svc_req *r, void *ctx) {
  server *s = ctx;
  char err[1024];
  apps_base *bases = NULL;
  size_t n = 0;
  if (apps_list_bases(s->blob, &bases, &n, err, sizeof err) != 0) {
    count_blob_error(s, "list");
    svc_reply_error(r, 503, "listing profiles: %s", err);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    char lm[40];
    chrono_format_rfc3339(bases[i].mtime_ms, 0, lm, sizeof lm);
    json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "key", bases[i].app, "size",
                                         (json_int_t)bases[i].size, "lastModified", lm));
  }
  free(bases);
  json_t *o = json_pack("{s:o}", "profiles", arr);
  char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!out) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  svc_reply_owned(r, 200, "application/json", out, strlen(out));
}

/* ---- DELETE /api/profile/{app} ---- */

/* The order of a deletion is lib/pipeline's (apps_delete); here only its
 * answer: 200, 404 when the app has no base, 503 when nothing could be done. */
static void h_delete(svc_req *r, void *ctx) {
  server *s = ctx;
  const char *app = svc_req_param(r, "app");
  char key[LAYOUT_KEY_BUF];
  if (base_key(r, app, key, sizeof key) != 0)
    return;
  apps_delete_result res;
  apps_delete(s->blob, s->bus, app, &res);
  switch (res.outcome) {
  case APPS_DELETED:
    if (res.base_left) {
      /* Not 200: GET would go on serving the base. The deletion is
       * announced; the worker removes the app once the store lets it. */
      count_blob_error(s, "delete");
      SVC_WARN("deleting the base failed; the worker will retry on profile.deleted",
               SVC_STR("key", res.key), SVC_STR("error", res.error));
      svc_req_header_out(r, "Retry-After", "5");
      svc_reply_error(r, 503,
                      "%s could not be removed: %s (profile.deleted was published: the worker removes the "
                      "app once the store allows it; until then GET still serves the base)",
                      res.key, res.error);
      return;
    }
    svc_reply_json(r, 200, "{}");
    return;
  case APPS_BAD_APP:
    svc_reply_error(r, 400,
                    "invalid app name \"%.80s\": want 1 to 63 characters of a-z, 0-9 and '-'", app);
    return;
  case APPS_NO_BASE:
    svc_reply_error(r, 404, "no merged profile for app %s", app);
    return;
  case APPS_STORE_FAILED:
    count_blob_error(s, "stat");
    svc_reply_error(r, 503, "reading %s: %s", res.key, res.error);
    return;
  case APPS_BUS_FAILED:
    svc_metric_add(s->m_publish_err, 1);
    svc_reply_error(r, 503, "event bus unavailable, app %s not deleted: %s", app, res.error);
    return;
  }
}

/* ---- health ---- */

static int check_blob(void *ctx, char *err, size_t errlen) {
  server *s = ctx;
  return blob_check(s->blob, err, errlen) == BLOB_OK ? 0 : -1;
}

static int check_bus(void *ctx, char *err, size_t errlen) {
  server *s = ctx;
  return bus_writer_check(s->bus, err, errlen) == BUS_OK ? 0 : -1;
}

static int check_reader(void *ctx, char *err, size_t errlen) {
  server *s = ctx;
  return worker_embed_check_reader(s->worker, err, errlen);
}

static int check_worker(void *ctx, char *err, size_t errlen) {
  server *s = ctx;
  return worker_embed_check(s->worker, err, errlen);
}

int server_metrics(server *s) {
  svc_metrics *m = s->metrics;
  s->m_uploads = svc_metrics_counter(m, "pgopipe_uploads_accepted_total",
                                     "Uploads stored and announced (answered 201)", NULL);
  s->m_rejected = svc_metrics_counter(m, "pgopipe_uploads_rejected_total",
                                      "Uploads refused, by reason (bad_app, malformed, too_big, not_cpu, "
                                      "unauthorized, overloaded, blob, publish, internal)",
                                      "reason");
  s->m_upload_bytes = svc_metrics_histogram(m, "pgopipe_upload_bytes", "Size of accepted upload bodies in bytes",
                                            NULL, svc_metrics_size_buckets, svc_metrics_size_nbuckets);
  s->m_upload_seconds =
      svc_metrics_histogram(m, "pgopipe_upload_duration_seconds",
                            "Time to validate, store and announce an accepted upload (body already received)",
                            NULL, svc_metrics_latency_buckets, svc_metrics_latency_nbuckets);
  s->m_publish_err = svc_metrics_counter(m, "pgopipe_publish_errors_total", "Events the bus did not acknowledge", NULL);
  s->m_blob_err = svc_metrics_counter(m, "pgopipe_blob_errors_total", "Blob store operations that failed, by operation",
                                      "op");
  return s->m_uploads && s->m_rejected && s->m_upload_bytes && s->m_upload_seconds && s->m_publish_err &&
                 s->m_blob_err
             ? 0
             : -1;
}

int server_routes(server *s, svc_http *h) {
  /* autopgo's dependency names; with the in-process worker, its reader and
   * its own state too */
  static svc_dep deps[4];
  size_t ndeps = 0;
  deps[ndeps++] = (svc_dep){"blob", check_blob, s};
  deps[ndeps++] = (svc_dep){"event-writer", check_bus, s};
  if (s->worker) {
    deps[ndeps++] = (svc_dep){"event-reader", check_reader, s};
    deps[ndeps++] = (svc_dep){"worker", check_worker, s};
  }
  int rc = 0;
  rc |= svc_http_route(h, "POST", "/api/profile/{app}", h_upload, s, s->o.max_profile_bytes,
                       SVC_ROUTE_LIMITED | SVC_ROUTE_AUTH);
  rc |= svc_http_route(h, "GET", "/api/profile/{app}", h_download, s, 0, 0);
  rc |= svc_http_route(h, "DELETE", "/api/profile/{app}", h_delete, s, 0, SVC_ROUTE_AUTH);
  rc |= svc_http_route(h, "GET", "/api/profile", h_list, s, 0, 0);
  rc |= svc_http_add_health(h, "/api/health", deps, ndeps);
  rc |= svc_http_add_ready(h, "/api/ready");
  rc |= svc_http_add_metrics(h, "/metrics", s->metrics);
  return rc ? -1 : 0;
}
