/*
 * access.c — the access rule and the UI's login sessions (see access.h).
 *
 * Tokens are compared as HMACs: the presented value and the token are both
 * put through HMAC-SHA256 under the session key and the two digests compared
 * with CRYPTO_memcmp, so the time taken depends neither on where they differ
 * nor on the token's length. OpenSSL's libcrypto gives HMAC-SHA256 (the blob
 * store's SigV4 uses it already).
 */
#include "access.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errbuf.h"
#include "hex.h"
#include "rnd.h"

#define KEY_LABEL "pgopipe ui session v1"
#define MAC_LEN 32

struct access_rules {
  int enabled;
  int loopback;
  int protect_reads;
  int64_t ttl_s;
  unsigned char key[MAC_LEN];   /* HMAC-SHA256(token, KEY_LABEL) */
  unsigned char token_mac[MAC_LEN]; /* HMAC-SHA256(key, token) */
};

static int hmac(const unsigned char *key, size_t keylen, const void *data, size_t len, unsigned char out[MAC_LEN]) {
  unsigned int outlen = 0;
  if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) || outlen != MAC_LEN) return -1;
  return 0;
}

int access_new(const access_config *c, access_rules **out, char *err, size_t errlen) {
  *out = NULL;
  access_rules *a = calloc(1, sizeof *a);
  if (!a) {
    errbuf_set(err, errlen, "out of memory");
    return -1;
  }
  a->loopback = c->loopback;
  a->protect_reads = c->protect_reads;
  a->ttl_s = c->session_ttl_s > 0 ? c->session_ttl_s : ACCESS_SESSION_TTL_S;
  if (c->token && *c->token) {
    size_t tl = strlen(c->token);
    if (hmac((const unsigned char *)c->token, tl, KEY_LABEL, strlen(KEY_LABEL), a->key) != 0 ||
        hmac(a->key, MAC_LEN, c->token, tl, a->token_mac) != 0) {
      free(a);
      errbuf_set(err, errlen, "HMAC-SHA256 is not available in libcrypto");
      return -1;
    }
    a->enabled = 1;
  }
  *out = a;
  return 0;
}

void access_free(access_rules *a) {
  if (!a) return;
  OPENSSL_cleanse(a, sizeof *a);
  free(a);
}

int access_enabled(const access_rules *a) { return a->enabled; }

/* 1 when path is prefix itself or lies under it ("/ui" covers "/ui/x"). */
static int under(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int always_open(const char *path) {
  return !strcmp(path, "/api/health") || !strcmp(path, "/api/ready") || !strcmp(path, "/metrics") ||
         !strcmp(path, "/ui/login") || !strcmp(path, "/ui/logout") || strncmp(path, "/ui/assets/", 11) == 0 ||
         !strcmp(path, "/favicon.ico");
}

int access_is_ui_page(const char *path) {
  if (!path || always_open(path)) return 0;
  return !strcmp(path, "/") || under(path, "/ui");
}

access_need access_rule(const access_rules *a, const char *method, const char *path) {
  if (!a->enabled || !method || !path) return ACCESS_OPEN;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return ACCESS_OPEN;
  if (always_open(path)) return ACCESS_OPEN;
  if (a->protect_reads) return ACCESS_TOKEN;
  if (a->loopback) return ACCESS_OPEN;
  return access_is_ui_page(path) || under(path, "/api/ui") ? ACCESS_TOKEN : ACCESS_OPEN;
}

int access_token_ok(const access_rules *a, const char *token, size_t len) {
  if (!a->enabled || !token) return 0;
  unsigned char mac[MAC_LEN];
  if (hmac(a->key, MAC_LEN, token, len, mac) != 0) return 0;
  return CRYPTO_memcmp(mac, a->token_mac, MAC_LEN) == 0;
}

/* Writes the hex MAC of the session's signed part (len bytes of s). */
static int session_mac(const access_rules *a, const char *s, size_t len, char hex[2 * MAC_LEN + 1]) {
  unsigned char mac[MAC_LEN];
  if (hmac(a->key, MAC_LEN, s, len, mac) != 0) return -1;
  hex_encode(mac, MAC_LEN, hex);
  return 0;
}

int access_session_new(const access_rules *a, int64_t now_s, char *buf, size_t n) {
  if (n) buf[0] = '\0';
  if (!a->enabled || n < ACCESS_SESSION_BUF) return -1;
  char nonce[17];
  if (rnd_hex(nonce, 8) != 0) return -1;
  int k = snprintf(buf, n, "v1.%" PRId64 ".%s", now_s + a->ttl_s, nonce);
  char mac[2 * MAC_LEN + 1];
  if (k < 0 || (size_t)k >= n || session_mac(a, buf, (size_t)k, mac) != 0) {
    buf[0] = '\0';
    return -1;
  }
  if ((size_t)k + 1 + strlen(mac) >= n) {
    buf[0] = '\0';
    return -1;
  }
  snprintf(buf + k, n - (size_t)k, ".%s", mac);
  return 0;
}

int access_session_valid(const access_rules *a, const char *value, int64_t now_s) {
  if (!a->enabled || !value || strncmp(value, "v1.", 3) != 0) return 0;
  const char *p = value + 3;
  int64_t exp = 0;
  size_t digits = 0;
  while (*p >= '0' && *p <= '9' && digits < 18) exp = exp * 10 + (*p++ - '0'), digits++;
  if (!digits || *p != '.') return 0;
  const char *nonce = p + 1;
  const char *dot = strchr(nonce, '.');
  if (!dot || dot - nonce != 16) return 0;
  const char *mac = dot + 1;
  if (strlen(mac) != 2 * MAC_LEN) return 0;
  char want[2 * MAC_LEN + 1];
  if (session_mac(a, value, (size_t)(dot - value), want) != 0) return 0;
  if (CRYPTO_memcmp(want, mac, 2 * MAC_LEN) != 0) return 0;
  return exp > now_s;
}

int access_granted(const access_rules *a, const char *authorization, const char *cookie_header, int64_t now_s) {
  if (!a->enabled) return 1;
  if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
    const char *t = authorization + 7;
    while (*t == ' ') t++;
    size_t len = strlen(t);
    while (len && (t[len - 1] == ' ' || t[len - 1] == '\t')) len--;
    if (access_token_ok(a, t, len)) return 1;
  }
  char v[ACCESS_SESSION_BUF];
  if (cookie_header && access_cookie_value(cookie_header, ACCESS_COOKIE, v, sizeof v) == 0 &&
      access_session_valid(a, v, now_s))
    return 1;
  return 0;
}

int access_set_cookie(const access_rules *a, const char *session, int secure, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s=%s; Path=/; Max-Age=%" PRId64 "; HttpOnly; SameSite=Strict%s", ACCESS_COOKIE,
                   session ? session : "", session ? a->ttl_s : (int64_t)0, secure ? "; Secure" : "");
  if (k < 0 || (size_t)k >= n) {
    if (n) buf[0] = '\0';
    return -1;
  }
  return 0;
}

int access_cookie_value(const char *cookie_header, const char *name, char *buf, size_t n) {
  if (n) buf[0] = '\0';
  if (!cookie_header || !name) return -1;
  size_t nl = strlen(name);
  const char *p = cookie_header;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ';') p++;
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      const char *v = p + nl + 1;
      size_t vl = len - nl - 1;
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') v++, vl -= 2;
      if (vl + 1 > n) return -1;
      memcpy(buf, v, vl);
      buf[vl] = '\0';
      return 0;
    }
    if (!end) break;
    p = end + 1;
  }
  return -1;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long access_form_value(const char *body, size_t len, const char *name, char *buf, size_t n) {
  if (n) buf[0] = '\0';
  if (!body || !name || !n) return -1;
  size_t nl = strlen(name), i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && body[j] != '&') j++;
    if (j - i > nl && strncmp(body + i, name, nl) == 0 && body[i + nl] == '=') {
      size_t o = 0;
      for (size_t k = i + nl + 1; k < j; k++) {
        int c = (unsigned char)body[k];
        if (c == '+') {
          c = ' ';
        } else if (c == '%') {
          int hi = k + 2 < j ? hexval(body[k + 1]) : -1;
          int lo = k + 2 < j ? hexval(body[k + 2]) : -1;
          if (hi < 0 || lo < 0) return -1;
          c = hi * 16 + lo;
          k += 2;
        }
        if (c == 0 || o + 1 >= n) return -1;
        buf[o++] = (char)c;
      }
      buf[o] = '\0';
      return (long)o;
    }
    i = j + 1;
  }
  return -1;
}
