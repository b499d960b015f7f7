/*
 * access.h — who may read what on pgopipe-server (contract, "UI"): the rule
 * deciding which requests need the auth token, and the login sessions of the
 * web UI, a cookie that stands for the token without being it. Pure: no
 * HTTP library, no I/O; pgopipe-server applies it to every request before
 * its body is read (svc_http_set_gate).
 *
 * The rule, for GET and HEAD requests:
 *   - with no token configured everything is open (a non-loopback bind
 *     without a token needs --insecure: the operator chose it);
 *   - always open: /api/health, /api/ready, /metrics, the login page and
 *     routes (/ui/login, /ui/logout) and the UI's static files (/ui/assets/…
 *     and /favicon.ico, code and styles shipped in the binary, no data);
 *   - on a non-loopback bind, the UI (/, /ui, /ui/…) and its JSON routes
 *     (/api/ui/…) need the token; every other read stays open, so autopgo
 *     clients download bases without one;
 *   - with protect_reads, every GET and HEAD route needs the token, on any
 *     bind.
 * Other methods are not decided here: the upload and delete routes check
 * their bearer token themselves, the push protocols theirs, and the login
 * route is open.
 *
 * "Needs the token" is met by "Authorization: Bearer TOKEN" or by a session
 * cookie that POST /ui/login issued for the token.
 *
 * Sessions. The cookie value is "v1.EXPIRY.NONCE.MAC": EXPIRY in Unix
 * seconds, NONCE 16 random hex digits, MAC the hex HMAC-SHA256 of
 * "v1.EXPIRY.NONCE" under a key derived from the token
 * (HMAC-SHA256(token, "pgopipe ui session v1")). So the cookie never carries
 * the token; every replica holding the same token accepts the others'
 * sessions and a restart keeps them; changing the token ends them all; a
 * session ends at its expiry. There is no server-side state: logging out
 * clears the cookie in the browser, and a copy of a cookie made before stays
 * valid until its expiry.
 */
#ifndef PGOPIPE_ACCESS_H
#define PGOPIPE_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The session cookie's name. */
#define ACCESS_COOKIE "pgopipe_session"
/* Default lifetime of a session. */
#define ACCESS_SESSION_TTL_S (12 * 3600)
/* Room for a session cookie value (with its terminating NUL). */
#define ACCESS_SESSION_BUF 128
/* Room for a Set-Cookie header value. */
#define ACCESS_SET_COOKIE_BUF 256

typedef struct access_rules access_rules;

typedef struct access_config {
  const char *token;     /* the auth token (copied); NULL or "" = no auth */
  int loopback;          /* the server listens on a loopback address */
  int protect_reads;     /* --protect-reads: every GET needs the token */
  int64_t session_ttl_s; /* lifetime of a session; 0 = ACCESS_SESSION_TTL_S */
} access_config;

/* What a request needs. */
typedef enum access_need {
  ACCESS_OPEN = 0, /* nothing */
  ACCESS_TOKEN = 1 /* the bearer token or a session cookie */
} access_need;

/*
 * Makes the rule for one server. Returns 0 and *out (owned by the caller:
 * access_free), or -1 with a message in err (out of memory).
 */
int access_new(const access_config *c, access_rules **out, char *err, size_t errlen);
void access_free(access_rules *a);

/* 1 when a token is configured (logins make sense), else 0. */
int access_enabled(const access_rules *a);

/* What a request of method on path (no query) needs, by the rule above. */
access_need access_rule(const access_rules *a, const char *method, const char *path);

/* 1 when path is one of the UI's pages (/, /ui, /ui/…, not the assets nor
 * the login routes): a browser sent there without access is shown the login
 * page rather than a JSON error. */
int access_is_ui_page(const char *path);

/*
 * 1 when the request carries access: an Authorization header value
 * "Bearer TOKEN" with the token, or a Cookie header value holding a valid
 * session (access_session_valid at now_s). Either may be NULL. Always 1
 * without a token. Compares in time independent of the token's bytes.
 */
int access_granted(const access_rules *a, const char *authorization, const char *cookie_header, int64_t now_s);

/* 1 when token (len bytes, e.g. typed into the login form) is the token. */
int access_token_ok(const access_rules *a, const char *token, size_t len);

/*
 * A new session cookie value valid until now_s + the session lifetime,
 * written into buf (at least ACCESS_SESSION_BUF bytes). Returns 0, or -1
 * without a token or without randomness from the kernel.
 */
int access_session_new(const access_rules *a, int64_t now_s, char *buf, size_t n);

/* 1 when value is a session this token issued that has not expired at now_s. */
int access_session_valid(const access_rules *a, const char *value, int64_t now_s);

/*
 * The Set-Cookie header value that stores session (NULL: the one that
 * clears the cookie): "pgopipe_session=VALUE; Path=/; Max-Age=N; HttpOnly;
 * SameSite=Strict", plus "; Secure" when secure (the request came over TLS,
 * directly or per X-Forwarded-Proto). buf: ACCESS_SET_COOKIE_BUF bytes.
 * Returns 0 or -1 when buf is too small.
 */
int access_set_cookie(const access_rules *a, const char *session, int secure, char *buf, size_t n);

/*
 * The value of cookie `name` in a Cookie header value ("a=1; b=2"), copied
 * into buf. Returns 0, or -1 when it is not there or does not fit.
 */
int access_cookie_value(const char *cookie_header, const char *name, char *buf, size_t n);

/*
 * The value of field `name` in an application/x-www-form-urlencoded body
 * (len bytes, need not be terminated), decoded ('+' is a space, %XX a byte)
 * into buf (NUL-terminated). Returns its length, or -1 when the field is
 * missing, malformed (a bad %-escape, a NUL byte) or does not fit.
 */
long access_form_value(const char *body, size_t len, const char *name, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
