/*
 * profefe.c — profefe's read API on pgopipe-server (contract, "Reads":
 * profefe's read API, over the kept history), in profefe's JSON shapes and
 * status codes:
 *
 *   GET /api/0/profiles?service=&type=&from=&to=&labels=&limit=
 *       the kept uploads' metadata, oldest first: {"code":200,"body":[...]};
 *       204 when nothing matches
 *   GET /api/0/profiles/merge?service=&type=&from=&to=&labels=&limit=
 *       Go's Merge of the matching uploads (a naive sum, as profefe's);
 *       405 for type trace, other or an unknown type; 204 when nothing matches
 *   GET /api/0/profiles/{id}     the stored bytes of one upload; 404 unknown
 *   GET /api/0/profiles/{id}+{id}...   the merge of those uploads
 *   GET /api/0/services          the apps that keep uploads, sorted; 404 none
 *   GET /api/0/version           {"code":200,"body":{"version",...}}
 *
 * service is a service name as the agents push it: it selects the app it
 * normalises to (ingest_app_from_service), so every upload of that app
 * matches, whatever its original name. from and to are required (400
 * `missing "from"`), in profefe's layout 2006-01-02T15:04:05 (UTC) or RFC
 * 3339; both ends are included. Errors come as profefe's {"code","error"}
 * (also the HTTP layer's own, e.g. the 401 of --protect-reads). The rules
 * live in lib/pipeline (history.h); here only the translation to HTTP.
 */
#include "server.h"

#include "history.h"
#include "ingest.h"
#include "svc_log.h"
#include "svc_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* profefe's error body on these routes (svc_http_route_errors). */
static char *error_body(void *ctx, int status, const char *message, const char **content_type) {
  (void)ctx;
  char *body = ingest_reply_profefe_error(status, message);
  *content_type = "application/json";
  return body;
}

static void reply_owned_json(svc_req *r, char *body) {
  if (!body) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  svc_reply_owned(r, 200, "application/json", body, strlen(body));
}

static void reply_history_error(server *s, svc_req *r, int rc, const char *err) {
  if (rc == HISTORY_ESTORE) {
    svc_metric_add(s->m_blob_err, 1, "get");
    svc_req_header_out(r, "Retry-After", "5");
  }
  svc_reply_error(r, history_http_status(rc), "%s", err);
}

/* The parsed query of the listing and the merge. */
typedef struct find_params {
  char app[LAYOUT_APP_MAX + 1];
  const char *type;   /* as sent; NULL when absent */
  int no_kind;        /* type names no kind pgopipe keeps (trace, other): nothing matches */
  ingest_labels labels;
  history_query q;
} find_params;

/* Reads the query like profefe's parseFindProfileParams. Returns 0, or -1
 * after answering 400 (405 for a merge of a type that cannot be merged). */
static int find_params_parse(svc_req *r, int merge, find_params *fp) {
  memset(fp, 0, sizeof *fp);
  char err[512];
  const char *service = svc_req_query(r, "service");
  if (!service || !*service) {
    svc_reply_error(r, 400, "bad request: missing service");
    return -1;
  }
  if (ingest_app_from_service(service, fp->app, sizeof fp->app, err, sizeof err) != INGEST_OK) {
    svc_reply_error(r, 400, "bad request: %s", err);
    return -1;
  }
  svc_req_log(r, "app", fp->app);
  fp->q.app = fp->app;
  fp->q.kind = LAYOUT_KIND_NONE;
  fp->type = svc_req_query(r, "type");
  if (fp->type && *fp->type) {
    ingest_kind hint = INGEST_KIND_NONE;
    int t = ingest_profefe_type(fp->type, &hint, err, sizeof err);
    if (t < 0 || t == 1 || hint == INGEST_KIND_NONE) {
      if (merge) {
        svc_reply_error(r, 405, "can't merge profiles of %.40s type", fp->type);
        return -1;
      }
      if (t < 0) {
        svc_reply_error(r, 400, "bad request: bad profile type \"%.60s\"", fp->type);
        return -1;
      }
      fp->no_kind = 1; /* trace or other: pgopipe keeps none */
    } else {
      fp->q.kind = layout_kind_parse(ingest_kind_name(hint));
    }
  } else if (merge) {
    svc_reply_error(r, 405, "can't merge profiles of unknown type");
    return -1;
  }
  if (ingest_profefe_labels(svc_req_query(r, "labels"), &fp->labels, err, sizeof err) != INGEST_OK) {
    svc_reply_error(r, 400, "bad request: bad labels \"%.80s\": %s", svc_req_query(r, "labels"), err);
    return -1;
  }
  fp->q.labels = &fp->labels;
  const char *from = svc_req_query(r, "from"), *to = svc_req_query(r, "to");
  if (!from || !*from || !to || !*to) {
    svc_reply_error(r, 400, "bad request: missing \"%s\"", !from || !*from ? "from" : "to");
    ingest_labels_free(&fp->labels);
    return -1;
  }
  if (history_parse_profefe_time("from", from, &fp->q.from_ns, err, sizeof err) != HISTORY_OK ||
      history_parse_profefe_time("to", to, &fp->q.to_ns, err, sizeof err) != HISTORY_OK) {
    svc_reply_error(r, 400, "%s", err);
    ingest_labels_free(&fp->labels);
    return -1;
  }
  if (fp->q.from_ns > fp->q.to_ns) {
    svc_reply_error(r, 400, "bad request: from (%.40s) is after to (%.40s)", from, to);
    ingest_labels_free(&fp->labels);
    return -1;
  }
  const char *limit = svc_req_query(r, "limit");
  if (limit && *limit) {
    char *end;
    errno = 0;
    long long l = strtoll(limit, &end, 10);
    if (errno || *end || l < 0) {
      svc_reply_error(r, 400, "bad request: bad limit \"%.40s\": want a whole number", limit);
      ingest_labels_free(&fp->labels);
      return -1;
    }
    fp->q.limit = (size_t)l;
  }
  return 0;
}

/* The service name profefe shows for an upload: its original name, else the app. */
static const char *service_of(const history_entry *e) {
  return e->meta.name && *e->meta.name ? e->meta.name : e->app;
}

static void h_find(svc_req *r, void *ctx) {
  server *s = ctx;
  find_params fp;
  if (find_params_parse(r, 0, &fp) != 0) return;
  history_entry *v = NULL;
  size_t n = 0;
  char err[1024];
  int rc = fp.no_kind ? HISTORY_OK : history_find(s->history, &fp.q, &v, &n, err, sizeof err);
  ingest_labels_free(&fp.labels);
  if (rc != HISTORY_OK) {
    reply_history_error(s, r, rc, err);
    return;
  }
  char cnt[32];
  snprintf(cnt, sizeof cnt, "%zu", n);
  svc_req_log(r, "profiles", cnt);
  if (n == 0) {
    svc_reply(r, 204, NULL, NULL, 0);
    return;
  }
  ingest_profefe_item *items = calloc(n, sizeof *items);
  if (!items) {
    history_entries_free(v, n);
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    items[i] = (ingest_profefe_item){v[i].id, layout_kind_name(v[i].kind), service_of(&v[i]), &v[i].meta.labels,
                                     v[i].time_ns};
  char *body = ingest_reply_profefe_list(items, n);
  free(items);
  history_entries_free(v, n);
  reply_owned_json(r, body);
}

/* Answers 200 with p encoded (gzipped profile.proto) as a download named name. */
static void reply_profile(svc_req *r, pp_profile *p, const char *name) {
  uint8_t *out = NULL;
  size_t len = 0;
  char err[256];
  int rc = pp_encode(p, -1, &out, &len, err, sizeof err);
  pp_free(p);
  if (rc != PP_OK) {
    svc_reply_error(r, 500, "encoding the merged profile: %s", err);
    return;
  }
  char cd[256];
  snprintf(cd, sizeof cd, "attachment; filename=\"%.200s\"", name);
  svc_req_header_out(r, "Content-Disposition", cd);
  svc_reply_owned(r, 200, "application/octet-stream", out, len);
}

static void h_merge(svc_req *r, void *ctx) {
  server *s = ctx;
  find_params fp;
  if (find_params_parse(r, 1, &fp) != 0) return;
  history_entry *v = NULL;
  size_t n = 0;
  char err[1024];
  int rc = history_find(s->history, &fp.q, &v, &n, err, sizeof err);
  ingest_labels_free(&fp.labels);
  if (rc != HISTORY_OK) {
    reply_history_error(s, r, rc, err);
    return;
  }
  char cnt[32];
  snprintf(cnt, sizeof cnt, "%zu", n);
  svc_req_log(r, "profiles", cnt);
  if (n == 0) {
    svc_reply(r, 204, NULL, NULL, 0);
    return;
  }
  pp_profile *p = NULL;
  rc = history_merge_found(s->history, v, n, &p, err, sizeof err);
  history_entries_free(v, n);
  if (rc != HISTORY_OK) {
    reply_history_error(s, r, rc, err);
    return;
  }
  reply_profile(r, p, layout_kind_name(fp.q.kind));
}

static void h_get(svc_req *r, void *ctx) {
  server *s = ctx;
  const char *id = svc_req_param(r, "id");
  char err[1024];
  svc_req_log(r, "id", id);
  if (!id || !*id) {
    svc_reply_error(r, 400, "no profile id");
    return;
  }
  if (strchr(id, '+')) {
    pp_profile *p = NULL;
    int rc = history_merge_ids(s->history, id, &p, err, sizeof err);
    if (rc != HISTORY_OK) {
      reply_history_error(s, r, rc, err);
      return;
    }
    reply_profile(r, p, "merged");
    return;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  char key[LAYOUT_KEY_BUF];
  int rc = history_get_id(s->history, id, &data, &len, key, err, sizeof err);
  if (rc != HISTORY_OK) {
    reply_history_error(s, r, rc, err);
    return;
  }
  svc_req_log(r, "key", key);
  char cd[256];
  snprintf(cd, sizeof cd, "attachment; filename=\"%.200s\"", id);
  svc_req_header_out(r, "Content-Disposition", cd);
  svc_reply_owned(r, 200, "application/octet-stream", data, len);
}

static void h_services(svc_req *r, void *ctx) {
  server *s = ctx;
  char **names = NULL;
  size_t n = 0;
  char err[1024];
  int rc = history_services(s->history, &names, &n, err, sizeof err);
  if (rc != HISTORY_OK) {
    reply_history_error(s, r, rc, err);
    return;
  }
  if (n == 0) {
    svc_reply_error(r, 404, "nothing found");
    return;
  }
  char *body = ingest_reply_profefe_names((const char *const *)names, n);
  history_names_free(names, n);
  reply_owned_json(r, body);
}

static void h_version(svc_req *r, void *ctx) {
  (void)ctx;
  reply_owned_json(r, ingest_reply_profefe_version(svc_version(), "", ""));
}

int server_profefe_routes(server *s, svc_http *h) {
  int rc = 0;
  rc |= svc_http_route(h, "GET", "/api/0/profiles", h_find, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/0/profiles/merge", h_merge, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/0/profiles/{id}", h_get, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/0/services", h_services, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/0/version", h_version, s, 0, 0);
  static const char *const paths[] = {"/api/0/profiles", "/api/0/profiles/merge", "/api/0/profiles/{id}",
                                      "/api/0/services", "/api/0/version"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    rc |= svc_http_route_errors(h, paths[i], error_body, NULL);
  return rc ? -1 : 0;
}
