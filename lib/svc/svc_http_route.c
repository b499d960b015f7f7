/*
 * svc_http_route.c — the routes of the HTTP layer: patterns split into
 * segments ("{name}" a parameter, a trailing '/' significant), matching a
 * request's method and path to its route (GET routes also answer HEAD; a
 * path served under other methods gets 405 with Allow, any other 404), and
 * the built-in routes: health (dependency checks), ready, metrics.
 */
#include "svc_http_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

route *svc_route_add(svc_http *h, const char *method, const char *pattern) {
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
  route *rt = svc_route_add(h, method, pattern);
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

static int method_matches(const route *rt, const char *method) {
  if (strcmp(rt->method, method) == 0) return 1;
  return strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0;
}

int svc_route_request(svc_http *h, svc_req *r, const char *url, const char *method) {
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
  return 0;
}

void svc_routes_free(svc_http *h) {
  for (size_t i = 0; i < h->nroutes; i++) {
    route *rt = &h->routes[i];
    free(rt->method);
    free(rt->pattern);
    for (size_t s = 0; s < rt->nsegs; s++) free(rt->segs[s]);
    free(rt->deps);
  }
  free(h->routes);
  h->routes = NULL;
  h->nroutes = 0;
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

void svc_route_serve_builtin(svc_req *r, const route *rt) {
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
  route *rt = svc_route_add(h, "GET", path);
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
  route *rt = svc_route_add(h, "GET", path);
  if (!rt) return -1;
  rt->kind = ROUTE_READY;
  return 0;
}

int svc_http_add_metrics(svc_http *h, const char *path, svc_metrics *m) {
  route *rt = svc_route_add(h, "GET", path);
  if (!rt) return -1;
  rt->kind = ROUTE_METRICS;
  rt->reg = m;
  return 0;
}
