/*
 * test_routes.c — pgopipe-server's web UI routes over real HTTP, on real
 * server processes with a file store holding real Go profiles:
 *  - open (loopback, no token): redirects, the page and every compiled-in
 *    file with its media type, Content-Security-Policy, nosniff and ETag
 *    (304), the JSON routes (apps, tree, diff) with their ETags and every
 *    400/404/422 they give;
 *  - loopback with a token: still open; with --protect-reads: every GET
 *    but health, readiness and metrics needs the bearer token or the login
 *    cookie; the login and logout routes (wrong token, cookie attributes,
 *    Secure behind a TLS proxy, another origin refused);
 *  - a non-loopback bind (this machine's own interface address) with a
 *    token: the UI needs it, downloads stay open;
 *  - --protect-reads without a token refuses to start.
 *
 *   test_routes SERVER_BIN PROFILES WORKDIR
 */
#include "../server/harness.h"

#include "export.h"
#include "pprof.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

CHECK_DEFINE_COUNTERS

static const char *BIN, *PROFILES, *WORKDIR;
static const char *TOKEN = "ui-routes-token-8c1f";
static char host[64] = "127.0.0.1";
static int port;

static http_resp get_h(const char *path, const char *h1, const char *h2) {
  char url[512];
  snprintf(url, sizeof url, "http://%s:%d%s", host, port, path);
  const char *hdrs[] = {h1, h2, NULL};
  return http_url("GET", url, NULL, 0, 0, hdrs, 30000);
}

static http_resp get(const char *path) { return get_h(path, NULL, NULL); }

static http_resp post(const char *path, const char *body, const char *h1, const char *h2) {
  char url[512];
  snprintf(url, sizeof url, "http://%s:%d%s", host, port, path);
  const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", h1, h2, NULL};
  return http_url("POST", url, body, strlen(body), 0, hdrs, 30000);
}

static int header_is(const http_resp *r, const char *name, const char *want) {
  char v[1024];
  return http_resp_header(r, name, v, sizeof v) == 0 && strcmp(v, want) == 0;
}

static int header_has(const http_resp *r, const char *name, const char *part) {
  char v[1024];
  return http_resp_header(r, name, v, sizeof v) == 0 && strstr(v, part) != NULL;
}

#define CHECK_HEADER(r, name, want)                                                                          \
  CHECK(header_is(&(r), name, want), "%s: want \"%s\" in:\n%s", name, want, (r).headers)

static void copy(const char *rel, const char *key) {
  char src[512], dst[512], cmd[2048];
  snprintf(src, sizeof src, "%s/%s", PROFILES, rel);
  snprintf(dst, sizeof dst, "%s/data/%s", WORKDIR, key);
  snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'", dst, src, dst);
  if (system(cmd) != 0) {
    fprintf(stderr, "cannot copy %s\n", src);
    exit(1);
  }
}

/* Starts the server with extra flags (NULL-terminated) and environment. */
static srv start(const char *name, const char *bind, const char *const *flags, char *const *env) {
  char log[400], url[1024];
  snprintf(log, sizeof log, "%.300s/server-%s.log", WORKDIR, name);
  snprintf(url, sizeof url, "file://%s/data", WORKDIR);
  char *args[32];
  int n = 0;
  args[n++] = "-p";
  args[n++] = "0";
  args[n++] = "--bind";
  args[n++] = (char *)(uintptr_t)bind;
  args[n++] = "--blob-store-url";
  args[n++] = url;
  args[n++] = "--event-writer-url";
  args[n++] = "mem://profiles";
  args[n++] = "--worker";
  for (int i = 0; flags && flags[i] && n < 30; i++) args[n++] = (char *)(uintptr_t)flags[i];
  args[n] = NULL;
  srv s;
  if (srv_start_env(&s, BIN, log, env, args, NULL) != 0) {
    fprintf(stderr, "server %s did not start; log %s\n", name, log);
    exit(1);
  }
  snprintf(host, sizeof host, "%s", bind);
  port = s.port;
  return s;
}

static json_t *json_of(const http_resp *r) {
  json_t *o = json_loads(r->body, 0, NULL);
  CHECK(o != NULL, "not JSON: %.200s", r->body);
  return o;
}

/* ---- open: loopback, no token ---- */

static void open_server(void) {
  srv s = start("open", "127.0.0.1", NULL, NULL);
  http_resp r;

  r = get("/");
  CHECK_EQ(r.status, 302);
  CHECK_HEADER(r, "Location", "/ui/");
  http_resp_free(&r);
  r = get("/ui");
  CHECK_EQ(r.status, 301);
  CHECK_HEADER(r, "Location", "/ui/");
  http_resp_free(&r);

  /* the page */
  r = get("/ui/");
  CHECK_EQ(r.status, 200);
  CHECK_HEADER(r, "Content-Type", "text/html; charset=utf-8");
  CHECK(header_has(&r, "Content-Security-Policy", "default-src 'self'"), "%s", r.headers);
  CHECK(header_has(&r, "Content-Security-Policy", "script-src 'self';"), "%s", r.headers);
  CHECK(header_has(&r, "Content-Security-Policy", "style-src 'self';"), "%s", r.headers);
  CHECK(header_has(&r, "Content-Security-Policy", "frame-ancestors 'none'"), "%s", r.headers);
  CHECK(!header_has(&r, "Content-Security-Policy", "unsafe"), "%s", r.headers);
  CHECK_HEADER(r, "X-Content-Type-Options", "nosniff");
  CHECK_HEADER(r, "X-Frame-Options", "DENY");
  CHECK_HEADER(r, "Referrer-Policy", "same-origin"); /* no-referrer would make form posts say Origin: null */
  CHECK_CONTAINS(r.body, "<canvas id=\"flame\"");
  CHECK_CONTAINS(r.body, "<script type=\"module\" src=\"assets/app.js\"></script>");
  CHECK(strstr(r.body, "style=") == NULL, "inline style in the page");
  CHECK(strstr(r.body, "<style") == NULL, "inline style element in the page");
  CHECK(strstr(r.body, "http://") == NULL && strstr(r.body, "https://") == NULL, "absolute URL in the page");
  char etag[128] = "", inm[160];
  http_resp_header(&r, "ETag", etag, sizeof etag);
  CHECK(etag[0] == '"', "page ETag %s", etag);
  http_resp_free(&r);
  snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
  r = get_h("/ui/", inm, NULL);
  CHECK_EQ(r.status, 304);
  CHECK_EQ(r.len, 0);
  http_resp_free(&r);

  /* the files, each with its media type */
  static const char *files[][2] = {{"app.js", "text/javascript; charset=utf-8"},
                                   {"flame.js", "text/javascript; charset=utf-8"},
                                   {"table.js", "text/javascript; charset=utf-8"},
                                   {"format.js", "text/javascript; charset=utf-8"},
                                   {"login.js", "text/javascript; charset=utf-8"},
                                   {"app.css", "text/css; charset=utf-8"},
                                   {"favicon.svg", "image/svg+xml"}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/ui/assets/%s", files[i][0]);
    r = get(path);
    CHECK(r.status == 200, "%s: %ld", path, r.status);
    CHECK_HEADER(r, "Content-Type", files[i][1]);
    CHECK_HEADER(r, "X-Content-Type-Options", "nosniff");
    CHECK(header_has(&r, "Content-Security-Policy", "default-src 'self'"), "%s", path);
    CHECK(r.len > 100, "%s is %zu bytes", path, r.len);
    char e[128] = "";
    http_resp_header(&r, "ETag", e, sizeof e);
    http_resp_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s", e);
    r = get_h(path, inm, NULL);
    CHECK(r.status == 304, "%s with If-None-Match: %ld", path, r.status);
    http_resp_free(&r);
  }
  r = get("/ui/assets/index.html");
  CHECK_ERROR(r, 404);
  http_resp_free(&r);
  r = get("/ui/assets/nope.js");
  CHECK_ERROR(r, 404);
  http_resp_free(&r);
  r = get("/ui/login"); /* no token: nothing to log in to */
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/");
  http_resp_free(&r);

  /* apps */
  r = get("/api/ui/apps");
  CHECK_EQ(r.status, 200);
  CHECK_HEADER(r, "Content-Type", "application/json");
  json_t *o = json_of(&r);
  json_t *apps = json_object_get(o, "apps");
  CHECK_EQ(json_array_size(apps), 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(apps, 0), "app")), "batch-jobs");
  json_t *web = json_array_get(apps, 1);
  CHECK_STR(json_string_value(json_object_get(web, "app")), "web-api");
  json_t *kinds = json_object_get(web, "kinds");
  CHECK_EQ(json_array_size(kinds), 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(kinds, 0), "kind")), "cpu");
  CHECK_STR(json_string_value(json_object_get(json_array_get(kinds, 1), "kind")), "heap");
  CHECK(json_integer_value(json_object_get(json_array_get(kinds, 0), "size")) > 1000);
  CHECK(json_is_string(json_object_get(json_array_get(kinds, 0), "lastModified")));
  CHECK(json_object_get(json_array_get(kinds, 0), "history") == NULL);
  CHECK_EQ(json_array_size(json_object_get(o, "formats")), pp_export_format_count());
  CHECK(json_is_true(json_object_get(o, "ranges"))); /* served: nothing is kept yet */
  CHECK(json_is_false(json_object_get(json_object_get(o, "auth"), "required")));
  json_decref(o);
  http_resp_free(&r);

  /* a tree: JSON, ETag, 304 */
  char path[1024];
  size_t blen;
  snprintf(path, sizeof path, "%s/data/web-api/default.pgo", WORKDIR);
  uint8_t *b = t_read_file(path, &blen);
  pp_profile *p = NULL;
  char err[256];
  CHECK_EQ(pp_decode(b, blen, NULL, &p, err, sizeof err), PP_OK);
  long long total = p ? (long long)pp_total(p, pp_default_value_index(p)) : -1;
  pp_free(p);
  free(b);
  r = get("/api/ui/tree/web-api");
  CHECK_EQ(r.status, 200);
  CHECK_HEADER(r, "Content-Type", "application/json");
  CHECK_HEADER(r, "Cache-Control", "no-cache");
  CHECK(header_has(&r, "Server-Timing", "view;dur="), "%s", r.headers);
  o = json_of(&r);
  CHECK_EQ(json_integer_value(json_object_get(o, "total")), total);
  CHECK_EQ(json_real_value(json_object_get(o, "minShare")) * 1e6, 1000); /* the default, 0.001 */
  CHECK(json_array_size(json_object_get(o, "nodes")) > 10);
  json_decref(o);
  etag[0] = '\0';
  http_resp_header(&r, "ETag", etag, sizeof etag);
  CHECK(strncmp(etag, "\"t-", 3) == 0, "tree ETag %s", etag);
  http_resp_free(&r);
  snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
  r = get_h("/api/ui/tree/web-api", inm, NULL);
  CHECK_EQ(r.status, 304);
  http_resp_free(&r);
  r = get_h("/api/ui/tree/web-api?min_share=0.01", inm, NULL); /* other options: another ETag */
  CHECK_EQ(r.status, 200);
  http_resp_free(&r);
  r = get("/api/ui/tree/web-api?kind=heap&sample_type=alloc_space&min_share=0&max_top=3");
  CHECK_EQ(r.status, 200);
  o = json_of(&r);
  CHECK_STR(json_string_value(json_object_get(o, "unit")), "bytes");
  CHECK_EQ(json_array_size(json_object_get(o, "top")), 3);
  CHECK_EQ(json_integer_value(json_object_get(o, "minShare")), 0);
  json_decref(o);
  http_resp_free(&r);

  /* what the tree route refuses */
  static const struct {
    const char *path;
    int status;
    const char *msg;
  } bad[] = {
      {"/api/ui/tree/web-api?kind=nope", 400, "unknown profile kind"},
      {"/api/ui/tree/web-api?min_share=2", 400, "min_share"},
      {"/api/ui/tree/web-api?min_share=abc", 400, "min_share"},
      {"/api/ui/tree/web-api?max_top=-1", 400, "max_top"},
      {"/api/ui/tree/web-api?sample_type=nope", 400, "nope"},
      {"/api/ui/tree/web-api?from=2026-12-01T00:00:00Z", 400, "must both be given"},
      {"/api/ui/tree/web-api?from=yesterday&to=today", 400, "RFC 3339"},
      {"/api/ui/tree/web-api?from=1800003600&to=1800000000", 400, "before"},
      {"/api/ui/tree/web-api?from=2026-12-01T00:00:00Z&to=2026-12-01T05:00:00Z", 404, "no cpu profile of app web-api between"},
      {"/api/ui/tree/nosuch", 404, "no cpu profile for app nosuch"},
      {"/api/ui/tree/web-api?kind=mutex", 404, "no mutex profile"},
      {"/api/ui/tree/Bad_App", 400, "invalid app name"},
      {"/api/ui/diff", 400, "app is required"},
      {"/api/ui/diff?app=web-api&base=batch-jobs&kind=heap", 404, "no heap profile for app batch-jobs"},
      {"/api/ui/diff?app=web-api&base_kind=heap", 422, ""},
      {"/api/ui/diff?app=web-api&base=web-api&base_from=1800000000&base_to=1800003600", 404, "no cpu profile of app web-api between"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = get(bad[i].path);
    CHECK(r.status == bad[i].status, "%s: %ld, want %d (%s)", bad[i].path, r.status, bad[i].status, r.body);
    CHECK(is_error_body(&r), "%s: %s", bad[i].path, r.body);
    CHECK(strstr(r.body, bad[i].msg) != NULL, "%s: want \"%s\" in %s", bad[i].path, bad[i].msg, r.body);
    http_resp_free(&r);
  }

  /* a diff */
  r = get("/api/ui/diff?app=web-api&base=batch-jobs&min_share=0");
  CHECK_EQ(r.status, 200);
  o = json_of(&r);
  CHECK(json_is_object(json_object_get(o, "base")));
  CHECK_EQ(json_integer_value(json_object_get(o, "total")), total);
  json_t *n0 = json_array_get(json_object_get(o, "nodes"), 0);
  CHECK_EQ(json_array_size(n0), 6);
  json_decref(o);
  http_resp_free(&r);

  /* logout without a token: just clears the cookie */
  r = post("/ui/logout", "", NULL, NULL);
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/");
  CHECK(header_has(&r, "Set-Cookie", "pgopipe_session=; Path=/; Max-Age=0"), "%s", r.headers);
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);
}

/* ---- tokens ---- */

static char bearer[128], tokenenv[128];

/* Logs in and returns the Cookie header line for the session ("" on failure). */
static void login(char *cookie, size_t n, const char *xfp) {
  char body[256];
  snprintf(body, sizeof body, "token=%s", TOKEN);
  http_resp r = post("/ui/login", body, xfp, NULL);
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/");
  char sc[512] = "";
  http_resp_header(&r, "Set-Cookie", sc, sizeof sc);
  CHECK(strncmp(sc, "pgopipe_session=v1.", 19) == 0, "Set-Cookie %s", sc);
  CHECK_CONTAINS(sc, "; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict");
  CHECK(strstr(sc, TOKEN) == NULL, "the cookie carries the token: %s", sc);
  if (xfp) CHECK_CONTAINS(sc, "; Secure");
  else CHECK(strstr(sc, "Secure") == NULL, "Secure without TLS: %s", sc);
  size_t l = strcspn(sc, ";");
  snprintf(cookie, n, "Cookie: other=1; %.*s", (int)l, sc);
  http_resp_free(&r);
}

static void protect_reads(void) {
  const char *flags[] = {"--protect-reads", NULL};
  char *env[] = {tokenenv, NULL};
  srv s = start("protect", "127.0.0.1", flags, env);
  http_resp r;
  static const char *closed[] = {"/api/profile/web-api", "/api/profile", "/api/ui/apps", "/api/ui/tree/web-api"};
  for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
    r = get(closed[i]);
    CHECK(r.status == 401, "%s without a token: %ld", closed[i], r.status);
    CHECK(is_error_body(&r), "%s", r.body);
    CHECK_CONTAINS(r.body, "needs the auth token");
    CHECK_HEADER(r, "WWW-Authenticate", "Bearer");
    http_resp_free(&r);
    r = get_h(closed[i], bearer, NULL);
    CHECK(r.status == 200, "%s with the token: %ld", closed[i], r.status);
    http_resp_free(&r);
    r = get_h(closed[i], "Authorization: Bearer not-the-token", NULL);
    CHECK(r.status == 401, "%s with another token: %ld", closed[i], r.status);
    http_resp_free(&r);
  }
  static const char *open[] = {"/api/health", "/api/ready", "/metrics", "/ui/login", "/ui/assets/app.css",
                               "/favicon.ico"};
  for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
    r = get(open[i]);
    CHECK(r.status == 200, "%s stays open: %ld", open[i], r.status);
    http_resp_free(&r);
  }
  r = get("/ui/"); /* a browser is sent to the login page */
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/login");
  http_resp_free(&r);
  r = get("/");
  CHECK_EQ(r.status, 303);
  http_resp_free(&r);
  r = get("/ui/login");
  CHECK_HEADER(r, "Content-Type", "text/html; charset=utf-8");
  CHECK_CONTAINS(r.body, "<form class=\"card\" method=\"post\" action=\"login\">");
  http_resp_free(&r);

  /* the login form */
  r = post("/ui/login", "token=wrong", NULL, NULL);
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/login?failed=1");
  CHECK(strstr(r.headers, "Set-Cookie") == NULL, "a cookie for a wrong token");
  http_resp_free(&r);
  r = post("/ui/login", "nothing=here", NULL, NULL);
  CHECK_HEADER(r, "Location", "/ui/login?failed=1");
  http_resp_free(&r);
  char body[256], origin[512];
  snprintf(body, sizeof body, "token=%s", TOKEN);
  r = post("/ui/login", body, "Origin: http://evil.example", NULL);
  CHECK_ERROR(r, 403);
  http_resp_free(&r);
  snprintf(origin, sizeof origin, "Origin: http://127.0.0.1:%d", port);
  r = post("/ui/login", body, origin, NULL);
  CHECK_EQ(r.status, 303);
  CHECK(header_has(&r, "Set-Cookie", "pgopipe_session=v1."), "%s", r.headers);
  http_resp_free(&r);
  char cookie[512];
  login(cookie, sizeof cookie, NULL);
  for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
    r = get_h(closed[i], cookie, NULL);
    CHECK(r.status == 200, "%s with the session cookie: %ld", closed[i], r.status);
    http_resp_free(&r);
  }
  r = get_h("/ui/", cookie, NULL);
  CHECK_EQ(r.status, 200);
  http_resp_free(&r);
  r = get_h("/ui/login", cookie, NULL); /* logged in already */
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/");
  http_resp_free(&r);
  r = get_h("/api/ui/apps", cookie, NULL);
  CHECK_CONTAINS(r.body, "\"auth\":{\"required\":true,\"session\":true,\"protectReads\":true}");
  http_resp_free(&r);
  r = get_h("/api/ui/apps", bearer, NULL);
  CHECK_CONTAINS(r.body, "\"auth\":{\"required\":true,\"session\":false,\"protectReads\":true}");
  http_resp_free(&r);
  char secure[512];
  login(secure, sizeof secure, "X-Forwarded-Proto: https");

  /* a tampered cookie is refused */
  char forged[512];
  snprintf(forged, sizeof forged, "%s", cookie);
  forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'a' ? 'b' : 'a';
  r = get_h("/api/ui/apps", forged, NULL);
  CHECK_EQ(r.status, 401);
  http_resp_free(&r);
  /* the cookie is not the upload token */
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/api/profile/web-api", port);
  const char *ch[] = {cookie, NULL};
  r = http_url("POST", url, "x", 1, 0, ch, 30000);
  CHECK_EQ(r.status, 401);
  http_resp_free(&r);

  r = post("/ui/logout", "", cookie, NULL);
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/login");
  CHECK(header_has(&r, "Set-Cookie", "pgopipe_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"), "%s",
        r.headers);
  http_resp_free(&r);
  r = post("/ui/logout", "", cookie, "Origin: http://evil.example");
  CHECK_ERROR(r, 403);
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);
}

/* Loopback with a token and no --protect-reads: open as before. */
static void loopback_token(void) {
  char *env[] = {tokenenv, NULL};
  srv s = start("loopback-token", "127.0.0.1", NULL, env);
  static const char *paths[] = {"/ui/", "/api/ui/apps", "/api/ui/tree/web-api", "/api/profile/web-api"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    http_resp r = get(paths[i]);
    CHECK(r.status == 200, "%s on loopback with a token: %ld", paths[i], r.status);
    http_resp_free(&r);
  }
  http_resp r = get("/api/ui/apps");
  CHECK_CONTAINS(r.body, "\"auth\":{\"required\":false");
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);
}

/* This machine's first IPv4 address that is not loopback, or "" */
static void own_address(char *buf, size_t n) {
  struct ifaddrs *ifs = NULL, *i;
  buf[0] = '\0';
  if (getifaddrs(&ifs) != 0) return;
  for (i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
      continue;
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, buf, (socklen_t)n);
    break;
  }
  freeifaddrs(ifs);
}

static void remote_bind(void) {
  char addr[64];
  own_address(addr, sizeof addr);
  CHECK(addr[0] != '\0', "this machine has no non-loopback IPv4 address to bind");
  if (!addr[0]) return;
  char *env[] = {tokenenv, NULL};
  srv s = start("remote", addr, NULL, env);
  http_resp r;
  r = get("/ui/");
  CHECK_EQ(r.status, 303);
  CHECK_HEADER(r, "Location", "/ui/login");
  http_resp_free(&r);
  r = get("/api/ui/apps");
  CHECK_EQ(r.status, 401);
  http_resp_free(&r);
  r = get_h("/api/ui/apps", bearer, NULL);
  CHECK_EQ(r.status, 200);
  CHECK_CONTAINS(r.body, "\"auth\":{\"required\":true,\"session\":false,\"protectReads\":false}");
  http_resp_free(&r);
  static const char *open[] = {"/api/profile/web-api", "/api/profile", "/api/health", "/api/ready", "/metrics",
                               "/ui/login"};
  for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
    r = get(open[i]);
    CHECK(r.status == 200, "%s on %s: %ld", open[i], addr, r.status);
    http_resp_free(&r);
  }
  char cookie[512];
  login(cookie, sizeof cookie, NULL);
  r = get_h("/api/ui/tree/web-api", cookie, NULL);
  CHECK_EQ(r.status, 200);
  http_resp_free(&r);
  CHECK_EQ(srv_stop(&s), 0);
  snprintf(host, sizeof host, "127.0.0.1");
}

static void refusals(void) {
  char url[1024];
  snprintf(url, sizeof url, "file://%s/data", WORKDIR);
  char *args[] = {"-p", "0", "--blob-store-url", url, "--event-writer-url", "mem://p", "--worker",
                  "--protect-reads", NULL};
  char *out = NULL;
  CHECK_EQ(run_capture(BIN, args, NULL, &out), 1);
  CHECK_CONTAINS(out, "--protect-reads");
  CHECK_CONTAINS(out, "needs an auth token");
  free(out);
  char *args2[] = {"-p", "0", "--blob-store-url", url, "--event-writer-url", "mem://p", "--worker", NULL};
  char *env[] = {"PGOPIPE_PROTECT_READS=true", NULL};
  CHECK_EQ(run_capture(BIN, args2, env, &out), 1);
  CHECK_CONTAINS(out, "--protect-reads");
  free(out);
  char *help[] = {"--help", NULL};
  CHECK_EQ(run_capture(BIN, help, NULL, &out), 0);
  CHECK_CONTAINS(out, "--protect-reads");
  CHECK_CONTAINS(out, "PGOPIPE_PROTECT_READS");
  free(out);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_routes SERVER_BIN PROFILES WORKDIR\n");
    return 2;
  }
  BIN = argv[1];
  PROFILES = argv[2];
  WORKDIR = argv[3];
  snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", TOKEN);
  snprintf(tokenenv, sizeof tokenenv, "PGOPIPE_AUTH_TOKEN=%s", TOKEN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  copy("cpu/regexp.pb.gz", "web-api/default.pgo");
  copy("heap/encoding_json.pb.gz", "web-api/kinds/heap.pgo");
  copy("cpu/sort.pb.gz", "batch-jobs/default.pgo");
  open_server();
  protect_reads();
  loopback_token();
  remote_bind();
  refusals();
  curl_global_cleanup();
  return check_exit("test_routes");
}
