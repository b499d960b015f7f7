/*
 * test_access.c — the access rule and the UI's sessions (lib/pipeline
 * access.h): which requests need the token on each kind of bind with and
 * without --protect-reads, bearer and cookie access, sessions that expire,
 * are tampered with or come from another token, the Set-Cookie attributes,
 * and the cookie and form parsers on odd input.
 */
#include "../common/check.h"

#include "access.h"

#include <stdio.h>
#include <string.h>

CHECK_DEFINE_COUNTERS

static const char *TOKEN = "tok-3f9a1c-ui-test";
static const int64_t NOW = 1800000000;

static access_rules *make(const char *token, int loopback, int protect) {
  access_config c = {token, loopback, protect, 3600};
  access_rules *a = NULL;
  char err[128];
  CHECK_EQ(access_new(&c, &a, err, sizeof err), 0);
  return a;
}

#define NEED(a, m, p, want) CHECK_EQ(access_rule((a), (m), (p)), (want))

static void rules(void) {
  /* no token: everything open, and access always granted */
  access_rules *open = make(NULL, 0, 0);
  CHECK_EQ(access_enabled(open), 0);
  NEED(open, "GET", "/ui/", ACCESS_OPEN);
  NEED(open, "GET", "/api/ui/apps", ACCESS_OPEN);
  CHECK_EQ(access_granted(open, NULL, NULL, NOW), 1);
  char buf[ACCESS_SESSION_BUF];
  CHECK_EQ(access_session_new(open, NOW, buf, sizeof buf), -1);
  CHECK_EQ(access_token_ok(open, "", 0), 0);
  access_free(open);
  access_rules *empty = make("", 0, 1);
  CHECK_EQ(access_enabled(empty), 0);
  NEED(empty, "GET", "/api/profile/x", ACCESS_OPEN);
  access_free(empty);

  /* loopback with a token: the UI is open as before */
  access_rules *lo = make(TOKEN, 1, 0);
  CHECK_EQ(access_enabled(lo), 1);
  NEED(lo, "GET", "/", ACCESS_OPEN);
  NEED(lo, "GET", "/ui/", ACCESS_OPEN);
  NEED(lo, "GET", "/api/ui/tree/app", ACCESS_OPEN);
  NEED(lo, "GET", "/api/profile/app", ACCESS_OPEN);
  access_free(lo);

  /* another bind with a token: the UI and its JSON need it, other reads do not */
  access_rules *remote = make(TOKEN, 0, 0);
  NEED(remote, "GET", "/", ACCESS_TOKEN);
  NEED(remote, "GET", "/ui", ACCESS_TOKEN);
  NEED(remote, "GET", "/ui/", ACCESS_TOKEN);
  NEED(remote, "HEAD", "/ui/", ACCESS_TOKEN);
  NEED(remote, "GET", "/api/ui/apps", ACCESS_TOKEN);
  NEED(remote, "GET", "/api/ui/tree/app", ACCESS_TOKEN);
  NEED(remote, "GET", "/api/ui/diff", ACCESS_TOKEN);
  NEED(remote, "GET", "/api/profile/app", ACCESS_OPEN);
  NEED(remote, "GET", "/api/profile", ACCESS_OPEN);
  NEED(remote, "GET", "/api/0/profiles", ACCESS_OPEN);
  NEED(remote, "GET", "/uix", ACCESS_OPEN);
  NEED(remote, "GET", "/api/uix", ACCESS_OPEN);
  /* always open */
  NEED(remote, "GET", "/api/health", ACCESS_OPEN);
  NEED(remote, "GET", "/api/ready", ACCESS_OPEN);
  NEED(remote, "GET", "/metrics", ACCESS_OPEN);
  NEED(remote, "GET", "/ui/login", ACCESS_OPEN);
  NEED(remote, "POST", "/ui/login", ACCESS_OPEN);
  NEED(remote, "POST", "/ui/logout", ACCESS_OPEN);
  NEED(remote, "GET", "/ui/assets/app.js", ACCESS_OPEN);
  /* other methods carry their own checks */
  NEED(remote, "POST", "/api/profile/app", ACCESS_OPEN);
  NEED(remote, "DELETE", "/api/profile/app", ACCESS_OPEN);
  CHECK_EQ(access_is_ui_page("/"), 1);
  CHECK_EQ(access_is_ui_page("/ui/"), 1);
  CHECK_EQ(access_is_ui_page("/ui/login"), 0);
  CHECK_EQ(access_is_ui_page("/ui/assets/app.css"), 0);
  CHECK_EQ(access_is_ui_page("/api/ui/apps"), 0);
  access_free(remote);

  /* --protect-reads: every GET, on any bind; health, readiness, metrics stay open */
  for (int loopback = 0; loopback <= 1; loopback++) {
    access_rules *p = make(TOKEN, loopback, 1);
    NEED(p, "GET", "/api/profile/app", ACCESS_TOKEN);
    NEED(p, "HEAD", "/api/profile/app", ACCESS_TOKEN);
    NEED(p, "GET", "/api/profile", ACCESS_TOKEN);
    NEED(p, "GET", "/api/0/services", ACCESS_TOKEN);
    NEED(p, "GET", "/ui/", ACCESS_TOKEN);
    NEED(p, "GET", "/api/ui/apps", ACCESS_TOKEN);
    NEED(p, "GET", "/api/health", ACCESS_OPEN);
    NEED(p, "GET", "/api/ready", ACCESS_OPEN);
    NEED(p, "GET", "/metrics", ACCESS_OPEN);
    NEED(p, "GET", "/ui/login", ACCESS_OPEN);
    NEED(p, "GET", "/ui/assets/app.css", ACCESS_OPEN);
    NEED(p, "GET", "/favicon.ico", ACCESS_OPEN);
    NEED(p, "POST", "/ingest", ACCESS_OPEN);
    access_free(p);
  }
}

static void bearer_and_sessions(void) {
  access_rules *a = make(TOKEN, 0, 0);
  char hdr[128];
  snprintf(hdr, sizeof hdr, "Bearer %s", TOKEN);
  CHECK_EQ(access_granted(a, hdr, NULL, NOW), 1);
  snprintf(hdr, sizeof hdr, "bearer  %s ", TOKEN);
  CHECK_EQ(access_granted(a, hdr, NULL, NOW), 1);
  snprintf(hdr, sizeof hdr, "Bearer %sx", TOKEN);
  CHECK_EQ(access_granted(a, hdr, NULL, NOW), 0);
  snprintf(hdr, sizeof hdr, "Bearer %.5s", TOKEN);
  CHECK_EQ(access_granted(a, hdr, NULL, NOW), 0);
  snprintf(hdr, sizeof hdr, "Basic %s", TOKEN);
  CHECK_EQ(access_granted(a, hdr, NULL, NOW), 0);
  CHECK_EQ(access_granted(a, NULL, NULL, NOW), 0);
  CHECK_EQ(access_granted(a, "", "", NOW), 0);
  CHECK_EQ(access_token_ok(a, TOKEN, strlen(TOKEN)), 1);
  CHECK_EQ(access_token_ok(a, TOKEN, strlen(TOKEN) - 1), 0);

  char s1[ACCESS_SESSION_BUF], s2[ACCESS_SESSION_BUF];
  CHECK_EQ(access_session_new(a, NOW, s1, sizeof s1), 0);
  CHECK_EQ(access_session_new(a, NOW, s2, sizeof s2), 0);
  CHECK(strcmp(s1, s2) != 0, "two sessions are the same: %s", s1);
  CHECK(strncmp(s1, "v1.1800003600.", 14) == 0, "session %s", s1);
  CHECK(strstr(s1, TOKEN) == NULL, "the session carries the token: %s", s1);
  CHECK_EQ(strlen(s1), 3 + 10 + 1 + 16 + 1 + 64);
  CHECK_EQ(access_session_valid(a, s1, NOW), 1);
  CHECK_EQ(access_session_valid(a, s1, NOW + 3599), 1);
  CHECK_EQ(access_session_valid(a, s1, NOW + 3600), 0); /* expired */
  char small[64];
  CHECK_EQ(access_session_new(a, NOW, small, sizeof small), -1);

  /* the cookie, among others */
  char cookie[512];
  snprintf(cookie, sizeof cookie, "theme=dark; %s=%s; other=1", ACCESS_COOKIE, s1);
  CHECK_EQ(access_granted(a, NULL, cookie, NOW), 1);
  CHECK_EQ(access_granted(a, "Bearer wrong", cookie, NOW), 1);
  CHECK_EQ(access_granted(a, NULL, cookie, NOW + 7200), 0);
  snprintf(cookie, sizeof cookie, "x%s=%s", ACCESS_COOKIE, s1);
  CHECK_EQ(access_granted(a, NULL, cookie, NOW), 0);

  /* tampering: a later expiry, another nonce, a cut or altered MAC */
  char t[ACCESS_SESSION_BUF];
  snprintf(t, sizeof t, "%s", s1);
  t[3] = '2'; /* 2800003600: far in the future */
  CHECK_EQ(access_session_valid(a, t, NOW), 0);
  snprintf(t, sizeof t, "%s", s1);
  t[14] = t[14] == 'a' ? 'b' : 'a';
  CHECK_EQ(access_session_valid(a, t, NOW), 0);
  snprintf(t, sizeof t, "%s", s1);
  t[strlen(t) - 1] = t[strlen(t) - 1] == '0' ? '1' : '0';
  CHECK_EQ(access_session_valid(a, t, NOW), 0);
  snprintf(t, sizeof t, "%s", s1);
  t[strlen(t) - 2] = '\0';
  CHECK_EQ(access_session_valid(a, t, NOW), 0);
  CHECK_EQ(access_session_valid(a, "v1.9999999999.0123456789abcdef.", NOW), 0);
  CHECK_EQ(access_session_valid(a, "v2.1", NOW), 0);
  CHECK_EQ(access_session_valid(a, "", NOW), 0);
  CHECK_EQ(access_session_valid(a, NULL, NOW), 0);

  /* a session of another token, and of the same token in another process */
  access_rules *other = make("another-token", 0, 0);
  CHECK_EQ(access_session_valid(other, s1, NOW), 0);
  access_free(other);
  access_rules *same = make(TOKEN, 1, 1);
  CHECK_EQ(access_session_valid(same, s1, NOW), 1);
  access_free(same);

  /* Set-Cookie */
  char sc[ACCESS_SET_COOKIE_BUF];
  CHECK_EQ(access_set_cookie(a, s1, 0, sc, sizeof sc), 0);
  char want[ACCESS_SET_COOKIE_BUF];
  snprintf(want, sizeof want, "pgopipe_session=%s; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict", s1);
  CHECK_STR(sc, want);
  CHECK_EQ(access_set_cookie(a, s1, 1, sc, sizeof sc), 0);
  CHECK_CONTAINS(sc, "; HttpOnly; SameSite=Strict; Secure");
  CHECK_EQ(access_set_cookie(a, NULL, 0, sc, sizeof sc), 0);
  CHECK_STR(sc, "pgopipe_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  CHECK_EQ(access_set_cookie(a, s1, 0, sc, 40), -1);
  access_free(a);
}

static void parsers(void) {
  char v[64];
  CHECK_EQ(access_cookie_value("a=1; b=2", "b", v, sizeof v), 0);
  CHECK_STR(v, "2");
  CHECK_EQ(access_cookie_value("a=1;b=\"q v\"", "b", v, sizeof v), 0);
  CHECK_STR(v, "q v");
  CHECK_EQ(access_cookie_value("ab=1", "b", v, sizeof v), -1);
  CHECK_EQ(access_cookie_value("b", "b", v, sizeof v), -1);
  CHECK_EQ(access_cookie_value("b=", "b", v, sizeof v), 0);
  CHECK_STR(v, "");
  CHECK_EQ(access_cookie_value("b=0123456789", "b", v, 5), -1);
  CHECK_EQ(access_cookie_value(NULL, "b", v, sizeof v), -1);

  const char *body = "next=%2Fui%2F&token=a%2Bb+c%21&x=";
  CHECK_EQ(access_form_value(body, strlen(body), "token", v, sizeof v), 6);
  CHECK_STR(v, "a+b c!");
  CHECK_EQ(access_form_value(body, strlen(body), "next", v, sizeof v), 4);
  CHECK_STR(v, "/ui/");
  CHECK_EQ(access_form_value(body, strlen(body), "x", v, sizeof v), 0);
  CHECK_STR(v, "");
  CHECK_EQ(access_form_value(body, strlen(body), "tok", v, sizeof v), -1);
  CHECK_EQ(access_form_value("token=%zz", 9, "token", v, sizeof v), -1);
  CHECK_EQ(access_form_value("token=%2", 8, "token", v, sizeof v), -1);
  CHECK_EQ(access_form_value("token=%2&a=1", 12, "token", v, sizeof v), -1);
  CHECK_EQ(access_form_value("token=a%00b", 11, "token", v, sizeof v), -1);
  CHECK_EQ(access_form_value("token=abcdef", 12, "token", v, 4), -1);
  /* the body need not be terminated: only len bytes are read */
  CHECK_EQ(access_form_value("token=abcXYZ", 9, "token", v, sizeof v), 3);
  CHECK_STR(v, "abc");
}

int main(void) {
  rules();
  bearer_and_sessions();
  parsers();
  return check_exit("test_access");
}
