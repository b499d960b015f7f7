/*
 * sigv4.c — AWS Signature Version 4 (see sigv4.h for the rules).
 *
 * Signing a request: canonical request -> its SHA-256 -> string to sign ->
 * HMAC chain of the secret over date, region, service and "aws4_request" ->
 * HMAC of the string to sign. Everything is built in a growing buffer; the
 * cost is a few small allocations per request, small next to the HTTP
 * round trip.
 */
#include "sigv4.h"

#include "hex.h"
#include "strbuf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

long sigv4_uri_encode(const char *in, size_t len, int keep_slash, char *out, size_t outcap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (unreserved(c) || (keep_slash && c == '/')) {
      if (o + 1 >= outcap) return -1;
      out[o++] = (char)c;
    } else {
      if (o + 3 >= outcap) return -1;
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  if (o >= outcap) return -1;
  out[o] = '\0';
  return (long)o;
}

typedef struct enc_pair {
  char *name;
  char *value;
} enc_pair;

static int pair_cmp(const void *a, const void *b) {
  const enc_pair *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

static char *enc_dup(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(3 * n + 1);
  if (out && sigv4_uri_encode(s, n, 0, out, 3 * n + 1) < 0) {
    free(out);
    return NULL;
  }
  return out;
}

char *sigv4_canonical_query(const sigv4_kv *params, size_t n) {
  enc_pair *pairs = calloc(n ? n : 1, sizeof *pairs);
  if (!pairs) return NULL;
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++) {
    pairs[i].name = enc_dup(params[i].name);
    pairs[i].value = enc_dup(params[i].value ? params[i].value : "");
    ok = pairs[i].name && pairs[i].value;
  }
  strbuf b = {0};
  if (ok) {
    /* Encoded names sort the same as AWS sorts them: by byte value. */
    qsort(pairs, n, sizeof *pairs, pair_cmp);
    strbuf_str(&b, "");
    for (size_t i = 0; i < n; i++) {
      if (i) strbuf_str(&b, "&");
      strbuf_str(&b, pairs[i].name);
      strbuf_str(&b, "=");
      strbuf_str(&b, pairs[i].value);
    }
  }
  for (size_t i = 0; i < n; i++) {
    free(pairs[i].name);
    free(pairs[i].value);
  }
  free(pairs);
  if (!ok || b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

void sigv4_amz_date(time_t t, char out[17]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data, len, md);
  hex_encode(md, sizeof md, out);
}

static void hmac256(const void *key, size_t keylen, const char *msg, unsigned char out[32]) {
  unsigned int outlen = 32;
  HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &outlen);
}

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const sigv4_kv *)a)->name, ((const sigv4_kv *)b)->name);
}

/* Header value as SigV4 wants it: trimmed, inner runs of spaces collapsed. */
static void sb_trimmed(strbuf *b, const char *v) {
  while (*v == ' ' || *v == '\t') v++;
  size_t n = strlen(v);
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] == ' ' || v[i] == '\t') {
      space = 1;
      continue;
    }
    if (space) strbuf_add(b, " ", 1);
    space = 0;
    strbuf_add(b, v + i, 1);
  }
}

int sigv4_sign(const sigv4_request *req, char *out, size_t outcap, char **canonical_out) {
  if (canonical_out) *canonical_out = NULL;
  sigv4_kv *hs = malloc((req->n_headers ? req->n_headers : 1) * sizeof *hs);
  if (!hs) return -1;
  memcpy(hs, req->headers, req->n_headers * sizeof *hs);
  qsort(hs, req->n_headers, sizeof *hs, kv_cmp);

  strbuf signed_names = {0};
  strbuf_str(&signed_names, "");
  for (size_t i = 0; i < req->n_headers; i++) {
    if (i) strbuf_str(&signed_names, ";");
    strbuf_str(&signed_names, hs[i].name);
  }

  strbuf cr = {0};
  strbuf_str(&cr, req->method);
  strbuf_str(&cr, "\n");
  strbuf_str(&cr, req->canonical_uri);
  strbuf_str(&cr, "\n");
  strbuf_str(&cr, req->canonical_query ? req->canonical_query : "");
  strbuf_str(&cr, "\n");
  for (size_t i = 0; i < req->n_headers; i++) {
    strbuf_str(&cr, hs[i].name);
    strbuf_str(&cr, ":");
    sb_trimmed(&cr, hs[i].value);
    strbuf_str(&cr, "\n");
  }
  strbuf_str(&cr, "\n");
  strbuf_str(&cr, signed_names.p ? signed_names.p : "");
  strbuf_str(&cr, "\n");
  strbuf_str(&cr, req->payload_sha256);
  free(hs);

  int rc = -1;
  if (!cr.oom && !signed_names.oom) {
    char date[9];
    memcpy(date, req->amz_date, 8);
    date[8] = '\0';
    char cr_hash[65];
    sigv4_sha256_hex(cr.p, cr.len, cr_hash);
    strbuf sts = {0};
    strbuf_str(&sts, "AWS4-HMAC-SHA256\n");
    strbuf_str(&sts, req->amz_date);
    strbuf_str(&sts, "\n");
    strbuf_str(&sts, date);
    strbuf_str(&sts, "/");
    strbuf_str(&sts, req->region);
    strbuf_str(&sts, "/");
    strbuf_str(&sts, req->service);
    strbuf_str(&sts, "/aws4_request\n");
    strbuf_str(&sts, cr_hash);
    if (!sts.oom) {
      size_t sklen = strlen(req->secret_key);
      char *k0 = malloc(sklen + 5);
      if (k0) {
        memcpy(k0, "AWS4", 4);
        memcpy(k0 + 4, req->secret_key, sklen + 1);
        unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
        hmac256(k0, sklen + 4, date, k1);
        hmac256(k1, 32, req->region, k2);
        hmac256(k2, 32, req->service, k3);
        hmac256(k3, 32, "aws4_request", k4);
        hmac256(k4, 32, sts.p, sig);
        char sighex[65];
        hex_encode(sig, 32, sighex);
        int n = snprintf(out, outcap,
                         "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request,SignedHeaders=%s,"
                         "Signature=%s",
                         req->access_key, date, req->region, req->service, signed_names.p, sighex);
        if (n > 0 && (size_t)n < outcap) rc = 0;
        OPENSSL_cleanse(k0, sklen + 4);
        OPENSSL_cleanse(k4, sizeof k4);
        free(k0);
      }
    }
    free(sts.p);
  }
  if (rc == 0 && canonical_out) {
    *canonical_out = cr.p;
    cr.p = NULL;
  }
  free(cr.p);
  free(signed_names.p);
  return rc;
}
