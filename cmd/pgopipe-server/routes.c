/*
 * routes.c — the HTTP API of pgopipe-server (contract: HTTP API). Each
 * handler translates between HTTP and one call into lib/: uploads go to
 * upload_accept_opts (with the query's kind, instance, labels and source)
 * and deletions to apps_delete (lib/pipeline, where their rules live); the
 * reads (downloads and the listing) are in reads.c, the push routes in
 * ingest.c. Errors are JSON {"message","code"} everywhere.
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

static void count_blob_error(server *s, const char *op) { svc_metric_add(s->m_blob_err, 1, op); }

/* ---- POST /api/profile/{app} ---- */

/* The ?label=k=v arguments, collected; bad is set for one without '=' or
 * with an empty key, or when out of memory. */
typedef struct label_args {
  ingest_labels l;
  const char *bad;
} label_args;

static void on_label(void *ctx, const char *v) {
  label_args *a = ctx;
  const char *eq = strchr(v, '=');
  if (a->bad) return;
  if (!eq || eq == v || ingest_labels_add(&a->l, v, (size_t)(eq - v), eq + 1, strlen(eq + 1)) != INGEST_OK)
    a->bad = v;
}

/* The query's kind, instance, labels and source (upload.h, upload_opts).
 * Returns 0, or -1 after answering 400. */
static int upload_query(svc_req *r, upload_opts *o, label_args *labels) {
  memset(o, 0, sizeof *o);
  o->kind = svc_req_query(r, "kind");
  o->instance = svc_req_query(r, "instance");
  const char *src = svc_req_query(r, "source");
  o->source = INGEST_SOURCE_API;
  if (src && *src &&
      (ingest_source_parse(src, &o->source) != INGEST_OK ||
       (o->source != INGEST_SOURCE_API && o->source != INGEST_SOURCE_SCRAPER))) {
    svc_reply_error(r, 400, "bad source \"%.40s\": want api or scraper", src);
    return -1;
  }
  svc_req_query_each(r, "label", on_label, labels);
  if (labels->bad) {
    svc_reply_error(r, 400, "bad label \"%.80s\": want label=KEY=VALUE", labels->bad);
    return -1;
  }
  ingest_labels_sort(&labels->l);
  o->labels = &labels->l;
  if (o->kind && *o->kind) svc_req_log(r, "kind", o->kind);
  if (o->instance && *o->instance) svc_req_log(r, "instance", o->instance);
  return 0;
}

static void h_upload(svc_req *r, void *ctx) {
  server *s = ctx;
  const char *app = svc_req_param(r, "app");
  size_t len;
  const uint8_t *body = svc_req_body(r, &len);
  upload_result res;
  int64_t t0 = chrono_mono_ns();

  svc_req_log(r, "app", app);
  upload_opts opts;
  label_args labels = {0};
  if (upload_query(r, &opts, &labels) != 0) {
    ingest_labels_free(&labels.l);
    svc_metric_add(s->m_rejected, 1, upload_reason_name(UPLOAD_MALFORMED));
    return;
  }
  int rc = upload_accept_opts(&s->up, app, body, len, &opts, &res);
  ingest_labels_free(&labels.l);
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

/* ---- DELETE /api/profile/{app} ---- */

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
                                      "bad_kind, unauthorized, overloaded, blob, publish, internal)",
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
  rc |= svc_http_route(h, "GET", "/api/profile/{app}", server_read_profile, s, 0, 0);
  rc |= svc_http_route(h, "DELETE", "/api/profile/{app}", h_delete, s, 0, SVC_ROUTE_AUTH);
  rc |= svc_http_route(h, "GET", "/api/profile", server_list_profiles, s, 0, 0);
  rc |= server_push_routes(s, h);
  rc |= server_profefe_routes(s, h);
  rc |= svc_http_add_health(h, "/api/health", deps, ndeps);
  rc |= svc_http_add_ready(h, "/api/ready");
  rc |= svc_http_add_metrics(h, "/metrics", s->metrics);
  rc |= ui_routes(s, h);
  return rc ? -1 : 0;
}
