/*
 * auth.c — the credentials the push routes accept: a Bearer token (traceway,
 * Pyroscope's AuthToken) or HTTP Basic whose password is the token
 * (Pyroscope's BasicAuthUser/BasicAuthPassword, the username is ignored).
 *
 * The comparison never lets timing reveal the token: it runs over the bytes
 * the client sent, whatever their length, and folds every difference (and
 * a length mismatch) into one flag checked at the end.
 */
#include "internal.h"

#include "errbuf.h"

#include <stdlib.h>

int ingest_ct_equal(const void *a, size_t alen, const void *b, size_t blen) {
  const volatile unsigned char *x = a, *y = b;
  unsigned char d = (unsigned char)(alen != blen);
  if (blen == 0) return alen == 0;
  for (size_t i = 0; i < alen; i++) d |= (unsigned char)(x[i] ^ y[i % blen]);
  return d == 0;
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int ingest_base64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen) {
  while (n && s[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  size_t k = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64val((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[k++] = (uint8_t)(acc >> bits);
    }
  }
  *outlen = k;
  return 0;
}

int ingest_auth_check(const char *authorization, const char *token, char *err, size_t errlen) {
  if (!token || !*token) {
    errbuf_set(err, errlen, "no token configured");
    return INGEST_EAUTH;
  }
  if (!authorization || !*authorization) {
    errbuf_set(err, errlen, "missing Authorization header: send Authorization: Bearer TOKEN (or Basic with the "
                            "token as password)");
    return INGEST_EAUTH;
  }
  size_t n = strlen(authorization);
  const char *h = ing_trim(authorization, &n);
  size_t sl = 0;
  while (sl < n && h[sl] != ' ' && h[sl] != '\t') sl++;
  size_t cl = n - sl;
  const char *cred = ing_trim(h + sl, &cl);
  size_t tlen = strlen(token);
  if (ing_ieq(h, sl, "Bearer")) {
    if (cl && ingest_ct_equal(cred, cl, token, tlen)) return INGEST_OK;
    errbuf_set(err, errlen, "wrong token");
    return INGEST_EAUTH;
  }
  if (ing_ieq(h, sl, "Basic")) {
    uint8_t *dec = malloc(cl / 4 * 3 + 4);
    size_t dl = 0;
    if (!dec) {
      errbuf_set(err, errlen, "out of memory");
      return INGEST_ENOMEM;
    }
    if (!cl || ingest_base64_decode(cred, cl, dec, &dl)) {
      free(dec);
      errbuf_set(err, errlen, "malformed Basic credentials (want base64 of user:token)");
      return INGEST_EAUTH;
    }
    const uint8_t *colon = memchr(dec, ':', dl);
    if (!colon) {
      free(dec);
      errbuf_set(err, errlen, "malformed Basic credentials (want base64 of user:token)");
      return INGEST_EAUTH;
    }
    size_t pl = dl - (size_t)(colon + 1 - dec);
    int ok = ingest_ct_equal(colon + 1, pl, token, tlen);
    free(dec);
    if (ok) return INGEST_OK;
    errbuf_set(err, errlen, "wrong token");
    return INGEST_EAUTH;
  }
  errbuf_set(err, errlen, "unsupported authorization scheme \"%.*s\": use Bearer or Basic", sl > 20 ? 20 : (int)sl, h);
  return INGEST_EAUTH;
}
