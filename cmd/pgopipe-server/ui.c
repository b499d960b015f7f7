/*
 * ui.c — pgopipe-server's web UI (contract, "UI"): the page and its files
 * (compiled in, ui_assets.h), the JSON routes it reads, the login that sets
 * its session cookie, and the access gate every request passes.
 *
 *   GET  /                      302 to /ui/
 *   GET  /ui                    301 to /ui/
 *   GET  /ui/                   the page (index.html)
 *   GET  /ui/assets/{file}      its scripts, styles and icon (ETag, 304)
 *   GET  /favicon.ico           the icon, for pages that name none (JSON answers)
 *   GET  /ui/login              the login form (only with a token)
 *   POST /ui/login              token=... → session cookie, 303 to /ui/
 *   POST /ui/logout             clears the cookie, 303 to /ui/login
 *   GET  /api/ui/apps           apps, kinds, formats, whether ranges are served
 *   GET  /api/ui/tree/{app}     the tree JSON of a base or time range (a range is
 *                               the merge of its hour buckets, made by the read
 *                               side, reads.h, and kept in its output cache)
 *   GET  /api/ui/diff           the diff JSON of two
 *
 * The rules live in lib/pipeline: who needs the token in access.h (the gate
 * below only applies it), what the JSON holds and its cache in view.h (the
 * handlers only translate query parameters and status codes). Every page and
 * file is sent with a strict Content-Security-Policy (scripts, styles and
 * requests from this server only, no inline code, no framing).
 */
#include "server.h"
#include "ui_assets.h"

#include "access.h"
#include "chrono.h"
#include "layout.h"
#include "svc_log.h"
#include "svc_util.h"
#include "view.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSP                                                                                                  \
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "           \
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
#define DEFAULT_MIN_SHARE 0.001
#define HOUR_NS (3600LL * 1000000000LL)

struct ui {
  access_rules *acc;
  view *view;
};

/*
 * The view's range reader: the merge of the hour buckets of a range, through
 * the read side (reads.h) so that it is made once per version and kept in
 * the output cache; its identity is the range's ETag.
 */
static int range_read(void *ctx, const char *app, layout_kind kind, int64_t from_ns, int64_t to_ns,
                      uint8_t **data, size_t *len, char *identity, size_t idlen, char *err, size_t errlen) {
  server *s = ctx;
  char from[32], to[32];
  snprintf(from, sizeof from, "%lld", (long long)(from_ns / 1000000000));
  snprintf(to, sizeof to, "%lld", (long long)(to_ns / 1000000000));
  reads_params p = {layout_kind_name(kind), "pprof", NULL, from, to};
  reads_request rq;
  if (reads_parse(app, &p, &rq, err, errlen) != 0) return VIEW_EINVAL;
  reads_answer a;
  reads_serve(s->reads, &rq, NULL, NULL, &a);
  if (a.blob_op) svc_metric_add(s->m_blob_err, 1, a.blob_op);
  if (a.status != 200) {
    snprintf(err, errlen, "%s", a.message);
    return a.status == 404 ? VIEW_ENOTFOUND : a.status == 503 ? VIEW_ESTORE
                           : a.status == 400 ? VIEW_EINVAL : VIEW_EPROFILE;
  }
  *data = malloc(a.len ? a.len : 1);
  if (!*data) {
    reads_answer_done(s->reads, &a);
    snprintf(err, errlen, "out of memory");
    return VIEW_ENOMEM;
  }
  memcpy(*data, a.body, a.len);
  *len = a.len;
  snprintf(identity, idlen, "%s", a.etag);
  reads_answer_done(s->reads, &a);
  return VIEW_OK;
}

int ui_open(server *s, char *err, size_t errlen) {
  s->ui = calloc(1, sizeof *s->ui);
  if (!s->ui) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  access_config ac = {s->token, svc_is_loopback(s->o.bind), s->o.protect_reads, 0};
  if (access_new(&ac, &s->ui->acc, err, errlen) != 0) {
    ui_close(s);
    return -1;
  }
  view_config vc = {0};
  vc.blob = s->blob;
  vc.max_input_bytes = (size_t)s->o.max_download_bytes;
  vc.range = range_read; /* s->reads is open before the first request */
  vc.range_ctx = s;
  if (view_new(&vc, &s->ui->view) != VIEW_OK) {
    snprintf(err, errlen, "out of memory");
    ui_close(s);
    return -1;
  }
  return 0;
}

void ui_close(server *s) {
  if (!s->ui) return;
  access_free(s->ui->acc);
  view_free(s->ui->view);
  free(s->ui);
  s->ui = NULL;
}

/* ---- answers ---- */

static void page_headers(svc_req *r) {
  svc_req_header_out(r, "Content-Security-Policy", CSP);
  svc_req_header_out(r, "X-Content-Type-Options", "nosniff");
  svc_req_header_out(r, "X-Frame-Options", "DENY");
  svc_req_header_out(r, "Referrer-Policy", "same-origin");
}

static void redirect(svc_req *r, int status, const char *location) {
  svc_req_header_out(r, "Location", location);
  svc_req_header_out(r, "Cache-Control", "no-store");
  svc_reply(r, status, NULL, NULL, 0);
}

static const ui_asset *find_asset(const char *name) {
  for (size_t i = 0; i < ui_asset_count; i++)
    if (!strcmp(ui_assets[i].name, name)) return &ui_assets[i];
  return NULL;
}

/* Serves a compiled-in file with its ETag (304 when the client has it). */
static void send_asset(svc_req *r, const ui_asset *a) {
  page_headers(r);
  svc_req_header_out(r, "ETag", a->etag);
  svc_req_header_out(r, "Cache-Control", "no-cache");
  const char *inm = svc_req_header(r, "If-None-Match");
  if (inm && strstr(inm, a->etag)) {
    svc_reply(r, 304, NULL, NULL, 0);
    return;
  }
  svc_reply(r, 200, a->content_type, a->data, a->len);
}

static void send_page(svc_req *r, const char *name) {
  const ui_asset *a = find_asset(name);
  if (!a) {
    svc_reply_error(r, 500, "the UI's %s is missing from this build", name);
    return;
  }
  send_asset(r, a);
}

/* The JSON of a view, or its error. */
static void send_view(svc_req *r, int rc, view_out *out, const char *err, int64_t t0) {
  char ms[32];
  snprintf(ms, sizeof ms, "%.3f", (double)(chrono_mono_ns() - t0) / 1e6);
  svc_req_log(r, "view_ms", ms);
  if (rc != VIEW_OK && rc != VIEW_NOT_MODIFIED) {
    svc_reply_error(r, view_http_status(rc), "%s", err);
    return;
  }
  char timing[48];
  snprintf(timing, sizeof timing, "view;dur=%s", ms);
  svc_req_header_out(r, "Server-Timing", timing);
  svc_req_header_out(r, "X-Content-Type-Options", "nosniff");
  svc_req_header_out(r, "Cache-Control", "no-cache");
  if (out->etag[0]) svc_req_header_out(r, "ETag", out->etag);
  if (rc == VIEW_NOT_MODIFIED) {
    svc_reply(r, 304, NULL, NULL, 0);
    return;
  }
  svc_reply_owned(r, 200, "application/json", out->json, out->len);
  out->json = NULL;
}

static void send_json(svc_req *r, json_t *o) {
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!s) {
    svc_reply_error(r, 500, "out of memory");
    return;
  }
  svc_req_header_out(r, "X-Content-Type-Options", "nosniff");
  svc_req_header_out(r, "Cache-Control", "no-store");
  svc_reply_owned(r, 200, "application/json", s, strlen(s));
}

/* ---- the gate ---- */

/* Did the request come over TLS? pgopipe-server speaks plain HTTP, so only
 * through a proxy that says so. */
static int came_over_tls(svc_req *r) {
  const char *p = svc_req_header(r, "X-Forwarded-Proto");
  if (!p) return 0;
  while (*p == ' ') p++;
  return strncasecmp(p, "https", 5) == 0 && (p[5] == '\0' || p[5] == ',' || p[5] == ' ');
}

static int has_access(server *s, svc_req *r) {
  return access_granted(s->ui->acc, svc_req_header(r, "Authorization"), svc_req_header(r, "Cookie"),
                        chrono_now_ms() / 1000);
}

static int gate(void *ctx, svc_req *r) {
  server *s = ctx;
  const char *path = svc_req_path(r);
  if (access_rule(s->ui->acc, svc_req_method(r), path) == ACCESS_OPEN || has_access(s, r)) return 0;
  if (access_is_ui_page(path)) {
    redirect(r, 303, "/ui/login");
    return 1;
  }
  svc_req_header_out(r, "WWW-Authenticate", "Bearer");
  svc_reply_error(r, 401,
                  "%s needs the auth token: send Authorization: Bearer TOKEN, or log in at /ui/login",
                  svc_req_path(r));
  return 1;
}

/* ---- pages ---- */

static void h_root(svc_req *r, void *ctx) {
  (void)ctx;
  redirect(r, 302, "/ui/");
}

static void h_ui_noslash(svc_req *r, void *ctx) {
  (void)ctx;
  redirect(r, 301, "/ui/");
}

static void h_index(svc_req *r, void *ctx) {
  (void)ctx;
  send_page(r, "index.html");
}

static void h_asset(svc_req *r, void *ctx) {
  (void)ctx;
  const char *name = svc_req_param(r, "file");
  const ui_asset *a = name ? find_asset(name) : NULL;
  size_t nl = name ? strlen(name) : 0;
  if (!a || (nl > 5 && !strcmp(name + nl - 5, ".html"))) {
    svc_reply_error(r, 404, "no such file: /ui/assets/%.100s", name ? name : "");
    return;
  }
  send_asset(r, a);
}

static void h_favicon(svc_req *r, void *ctx) {
  (void)ctx;
  send_page(r, "favicon.svg");
}

static void h_login_page(svc_req *r, void *ctx) {
  server *s = ctx;
  if (!access_enabled(s->ui->acc) || has_access(s, r)) {
    redirect(r, 303, "/ui/");
    return;
  }
  send_page(r, "login.html");
}

/* A form posted from another site is refused: its Origin (sent by browsers
 * on every POST) must name this server. */
static int same_origin(svc_req *r) {
  const char *origin = svc_req_header(r, "Origin");
  const char *host = svc_req_header(r, "Host");
  if (!origin) return 1;
  if (!host) return 0;
  const char *o = origin;
  if (!strncmp(o, "http://", 7)) o += 7;
  else if (!strncmp(o, "https://", 8)) o += 8;
  else return 0;
  return strcasecmp(o, host) == 0;
}

static void h_login(svc_req *r, void *ctx) {
  server *s = ctx;
  if (!access_enabled(s->ui->acc)) {
    redirect(r, 303, "/ui/");
    return;
  }
  if (!same_origin(r)) {
    svc_reply_error(r, 403, "login form posted from another origin");
    return;
  }
  size_t len;
  const uint8_t *body = svc_req_body(r, &len);
  char token[4096];
  long tl = access_form_value((const char *)body, len, "token", token, sizeof token);
  if (tl < 0 || !access_token_ok(s->ui->acc, token, (size_t)tl)) {
    svc_req_log(r, "login", "refused");
    redirect(r, 303, "/ui/login?failed=1");
    return;
  }
  char session[ACCESS_SESSION_BUF], cookie[ACCESS_SET_COOKIE_BUF];
  if (access_session_new(s->ui->acc, chrono_now_ms() / 1000, session, sizeof session) != 0 ||
      access_set_cookie(s->ui->acc, session, came_over_tls(r), cookie, sizeof cookie) != 0) {
    svc_reply_error(r, 500, "could not make a session (no randomness from the kernel?)");
    return;
  }
  svc_req_log(r, "login", "ok");
  svc_req_header_out(r, "Set-Cookie", cookie);
  redirect(r, 303, "/ui/");
}

static void h_logout(svc_req *r, void *ctx) {
  server *s = ctx;
  char cookie[ACCESS_SET_COOKIE_BUF];
  if (!same_origin(r)) {
    svc_reply_error(r, 403, "logout posted from another origin");
    return;
  }
  access_set_cookie(s->ui->acc, NULL, came_over_tls(r), cookie, sizeof cookie);
  svc_req_header_out(r, "Set-Cookie", cookie);
  redirect(r, 303, access_enabled(s->ui->acc) ? "/ui/login" : "/ui/");
}

/* ---- JSON ---- */

static void hour_time(int64_t hour, char *buf, size_t n) {
  chrono_format_rfc3339(hour * 3600 * 1000, 0, buf, n);
}

static void h_apps(svc_req *r, void *ctx) {
  server *s = ctx;
  char err[1024];
  view_app *apps = NULL;
  size_t n = 0;
  int rc = view_list_apps(s->ui->view, &apps, &n, err, sizeof err);
  if (rc != VIEW_OK) {
    svc_reply_error(r, view_http_status(rc), "listing profiles: %s", err);
    return;
  }
  int ranges = view_has_ranges(s->ui->view);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *kinds = json_array();
    for (size_t k = 0; k < apps[i].nkinds; k++) {
      const view_kind *vk = &apps[i].kinds[k];
      if (!vk->has_base && !ranges) continue;
      json_t *o = json_pack("{s:s, s:b}", "kind", layout_kind_name(vk->kind), "base", vk->has_base);
      if (vk->has_base) {
        char lm[40];
        chrono_format_rfc3339(vk->mtime_ms, 0, lm, sizeof lm);
        json_object_set_new(o, "size", json_integer((json_int_t)vk->size));
        json_object_set_new(o, "lastModified", json_string(lm));
      }
      if (ranges && vk->hours) {
        char from[40], to[40];
        hour_time(vk->first_hour, from, sizeof from);
        hour_time(vk->last_hour + 1, to, sizeof to);
        json_object_set_new(o, "history",
                            json_pack("{s:s, s:s, s:I}", "from", from, "to", to, "hours", (json_int_t)vk->hours));
      }
      json_array_append_new(kinds, o);
    }
    if (json_array_size(kinds))
      json_array_append_new(arr, json_pack("{s:s, s:o}", "app", apps[i].app, "kinds", kinds));
    else
      json_decref(kinds);
  }
  free(apps);
  json_t *kinds = json_array();
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) json_array_append_new(kinds, json_string(layout_kind_name((layout_kind)k)));
  json_t *formats = json_array();
  for (size_t i = 0; i < pp_export_format_count(); i++) {
    const pp_export_format *f = pp_export_format_at(i);
    json_t *fk = json_array();
    for (int k = 0; k < LAYOUT_KIND_COUNT; k++)
      if (view_format_fits(f->name, (layout_kind)k)) json_array_append_new(fk, json_string(layout_kind_name((layout_kind)k)));
    json_array_append_new(formats, json_pack("{s:s, s:s, s:s, s:o}", "name", f->name, "suffix", f->suffix,
                                             "summary", f->summary, "kinds", fk));
  }
  int needs = access_rule(s->ui->acc, "GET", "/api/ui/apps") == ACCESS_TOKEN;
  char cookie[ACCESS_SESSION_BUF];
  int session = access_cookie_value(svc_req_header(r, "Cookie"), ACCESS_COOKIE, cookie, sizeof cookie) == 0 &&
                access_session_valid(s->ui->acc, cookie, chrono_now_ms() / 1000);
  json_t *o = json_pack("{s:o, s:o, s:o, s:b, s:{s:b, s:b, s:b}, s:s}", "apps", arr, "kinds", kinds, "formats",
                        formats, "ranges", ranges, "auth", "required", needs, "session", session,
                        "protectReads", s->o.protect_reads, "version", svc_version());
  send_json(r, o);
}

/* Parses a time of a range: RFC 3339 or Unix seconds (chrono_parse_time),
 * rounded down to the hour. Returns 0 or -1. */
static int parse_time(const char *v, int64_t *ns) {
  int64_t ms;
  if (chrono_parse_time(v, &ms) != 0) return -1;
  int64_t t = ms * 1000000;
  *ns = t - t % HOUR_NS;
  return 0;
}

/* Reads kind, from and to (with a prefix: "" or "base_") into src, app
 * given. Replies 400 and returns -1 on a bad value. */
static int source_params(svc_req *r, const char *prefix, const char *app, layout_kind def_kind, view_source *src) {
  char name[32];
  memset(src, 0, sizeof *src);
  src->app = app;
  snprintf(name, sizeof name, "%skind", prefix);
  const char *k = svc_req_query(r, name);
  src->kind = k && *k ? layout_kind_parse(k) : def_kind;
  if (src->kind == LAYOUT_KIND_NONE) {
    svc_reply_error(r, 400, "%s: unknown profile kind \"%.40s\" (want cpu, heap, mutex, block, goroutine or threadcreate)",
                    name, k);
    return -1;
  }
  char fn[32], tn[32];
  snprintf(fn, sizeof fn, "%sfrom", prefix);
  snprintf(tn, sizeof tn, "%sto", prefix);
  const char *f = svc_req_query(r, fn), *t = svc_req_query(r, tn);
  if ((f && *f) || (t && *t)) {
    if (parse_time(f, &src->from_ns) != 0 || parse_time(t, &src->to_ns) != 0) {
      svc_reply_error(r, 400, "%s and %s must both be given, as RFC 3339 times or Unix seconds", fn, tn);
      return -1;
    }
    if (src->from_ns >= src->to_ns) {
      svc_reply_error(r, 400, "%s must be before %s (both are rounded down to the hour)", fn, tn);
      return -1;
    }
  }
  return 0;
}

/* sample_type, min_share and max_top. Replies 400 and returns -1 on a bad value. */
static int export_params(svc_req *r, pp_export_opts *o) {
  memset(o, 0, sizeof *o);
  o->sample_type = svc_req_query(r, "sample_type");
  o->min_share = DEFAULT_MIN_SHARE;
  const char *ms = svc_req_query(r, "min_share");
  if (ms && *ms) {
    char *end;
    errno = 0;
    double d = strtod(ms, &end);
    if (errno || *end || !(d >= 0 && d <= 1)) {
      svc_reply_error(r, 400, "min_share must be a number from 0 to 1, not \"%.40s\"", ms);
      return -1;
    }
    o->min_share = d;
  }
  const char *mt = svc_req_query(r, "max_top");
  if (mt && *mt) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(mt, &end, 10);
    if (errno || *end || mt[0] == '-' || v > 1000000000ULL) {
      svc_reply_error(r, 400, "max_top must be a whole number (0 = every function), not \"%.40s\"", mt);
      return -1;
    }
    o->max_top = (size_t)v;
  }
  return 0;
}

static void h_tree(svc_req *r, void *ctx) {
  server *s = ctx;
  int64_t t0 = chrono_mono_ns();
  const char *app = svc_req_param(r, "app");
  svc_req_log(r, "app", app);
  view_source src;
  pp_export_opts o;
  if (source_params(r, "", app, LAYOUT_KIND_CPU, &src) != 0 || export_params(r, &o) != 0) return;
  view_out out;
  char err[1024];
  int rc = view_tree(s->ui->view, &src, &o, svc_req_header(r, "If-None-Match"), &out, err, sizeof err);
  send_view(r, rc, &out, err, t0);
}

static void h_diff(svc_req *r, void *ctx) {
  server *s = ctx;
  int64_t t0 = chrono_mono_ns();
  const char *app = svc_req_query(r, "app");
  const char *base_app = svc_req_query(r, "base");
  if (!app || !*app) {
    svc_reply_error(r, 400, "app is required: /api/ui/diff?app=APP&base=OTHER (or base_from/base_to)");
    return;
  }
  if (!base_app || !*base_app) base_app = app;
  svc_req_log(r, "app", app);
  svc_req_log(r, "base", base_app);
  view_source cur, base;
  pp_export_opts o;
  if (source_params(r, "", app, LAYOUT_KIND_CPU, &cur) != 0 ||
      source_params(r, "base_", base_app, cur.kind, &base) != 0 || export_params(r, &o) != 0)
    return;
  view_out out;
  char err[1024];
  int rc = view_diff(s->ui->view, &base, &cur, &o, svc_req_header(r, "If-None-Match"), &out, err, sizeof err);
  send_view(r, rc, &out, err, t0);
}

int ui_routes(server *s, svc_http *h) {
  int rc = 0;
  rc |= svc_http_route(h, "GET", "/", h_root, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/ui", h_ui_noslash, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/ui/", h_index, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/ui/login", h_login_page, s, 0, 0);
  rc |= svc_http_route(h, "POST", "/ui/login", h_login, s, 8192, 0);
  rc |= svc_http_route(h, "POST", "/ui/logout", h_logout, s, 8192, 0);
  rc |= svc_http_route(h, "GET", "/ui/assets/{file}", h_asset, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/favicon.ico", h_favicon, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/ui/apps", h_apps, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/ui/tree/{app}", h_tree, s, 0, 0);
  rc |= svc_http_route(h, "GET", "/api/ui/diff", h_diff, s, 0, 0);
  svc_http_set_gate(h, gate, s);
  return rc ? -1 : 0;
}
