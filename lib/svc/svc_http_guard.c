/*
 * svc_http_guard.c — what a request must pass before it is routed or its
 * body read, beyond libmicrohttpd's own checks.
 *
 * Framing. libmicrohttpd 0.9.75 lets through requests whose body length is
 * ambiguous; a proxy in front may read them otherwise than we do (request
 * smuggling), so they are answered 400 with Connection: close and nothing
 * behind them is read as a request (RFC 9112 section 6.3): two
 * Content-Length headers, a Content-Length that is not a number,
 * Transfer-Encoding together with Content-Length, a Transfer-Encoding other
 * than a single "chunked"; also a path whose decoding holds a NUL byte (the
 * raw request line is kept by the URI callback, since the decoded path is a
 * C string cut at the NUL), and an HTTP/1.1 request without Host.
 *
 * The bearer token of SVC_ROUTE_AUTH routes (svc_http_set_token).
 */
#include "svc_http_internal.h"

#include "svc_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int svc_http_set_token(svc_http *h, const char *token) {
  free(h->token);
  h->token = NULL;
  h->token_len = 0;
  if (token && *token) {
    h->token = strdup(token);
    if (!h->token) return -1;
    h->token_len = strlen(token);
  }
  return 0;
}

/*
 * Checks "Authorization: Bearer TOKEN", one rule: the scheme in any case,
 * one or more spaces, the token, then nothing but optional spaces or tabs
 * (RFC 9110 trims them from a field value). A value holding a NUL or any
 * other control byte is refused whatever follows it. The token itself is
 * compared in constant time.
 */
int svc_guard_authorized(svc_http *h, svc_req *r) {
  if (!h->token) return 1;
  const char *a = NULL;
  size_t n = 0;
  if (MHD_lookup_connection_value_n(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                    strlen(MHD_HTTP_HEADER_AUTHORIZATION), &a, &n) != MHD_YES || !a)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  while (n && (a[n - 1] == ' ' || a[n - 1] == '\t')) n--;
  if (n < 8 || strncasecmp(a, "Bearer ", 7) != 0) return 0;
  size_t i = 7;
  while (i < n && a[i] == ' ') i++;
  return svc_ct_equal(a + i, n - i, h->token, h->token_len);
}

/* Counts the request headers named name and keeps the last value. */
typedef struct header_count {
  const char *name;
  int n;
  const char *value;
  size_t len;
} header_count;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                    const char *value, size_t value_size) {
  header_count *c = cls;
  (void)kind;
  if (key && strlen(c->name) == key_size && strncasecmp(key, c->name, key_size) == 0) {
    c->n++;
    c->value = value ? value : "";
    c->len = value ? value_size : 0;
  }
  return MHD_YES;
}

/* 1 when v[0..n) is exactly "chunked" in any case, around optional spaces. */
static int only_chunked(const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* 1 when v[0..n) is a plain decimal number. */
static int all_digits(const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  if (!n) return 0;
  for (size_t i = 0; i < n; i++)
    if (v[i] < '0' || v[i] > '9') return 0;
  return 1;
}

/* The framing rules of RFC 9112 section 6.3 that libmicrohttpd does not
 * apply: NULL when the body's length is unambiguous, else why not. */
static const char *bad_framing(struct MHD_Connection *conn) {
  header_count cl = {MHD_HTTP_HEADER_CONTENT_LENGTH, 0, NULL, 0};
  header_count te = {MHD_HTTP_HEADER_TRANSFER_ENCODING, 0, NULL, 0};
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &cl);
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &te);
  if (cl.n > 1) return "more than one Content-Length header";
  if (cl.n && !all_digits(cl.value, cl.len)) return "Content-Length is not a number";
  if (te.n && cl.n) return "Transfer-Encoding together with Content-Length";
  if (te.n > 1 || (te.n && !only_chunked(te.value, te.len)))
    return "unsupported Transfer-Encoding (only chunked is accepted)";
  return NULL;
}

/* 1 when the raw (still escaped) path decodes to a NUL byte somewhere. */
static int decodes_to_nul(const char *raw) {
  for (const char *p = raw; p && (p = strchr(p, '%')); p++)
    if (p[1] == '0' && p[2] == '0') return 1;
  return 0;
}

int svc_guard_malformed(svc_req *r, const char *version) {
  const char *why = bad_framing(r->conn);
  if (why) {
    r->must_close = 1;
    svc_reply_error(r, 400, "malformed request: %s", why);
    return 1;
  }
  if (r->raw_path && decodes_to_nul(r->raw_path)) {
    /* the decoded path is a C string cut at the NUL: log what was sent */
    free(r->path);
    r->path = strdup(r->raw_path);
    r->must_close = 1;
    svc_reply_error(r, 400, "malformed request: the path holds a NUL byte (%%00)");
    return 1;
  }
  if (version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
      !MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)) {
    r->must_close = 1;
    svc_reply_error(r, 400, "malformed request: HTTP/1.1 needs a Host header");
    return 1;
  }
  return 0;
}
