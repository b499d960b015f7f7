/*
 * labels.c — the key/value list every protocol's labels and query
 * parameters are kept in, URL query decoding (Go's url.ParseQuery and
 * url.QueryUnescape rules, since every agent builds its URLs with Go's
 * url.Values), the error-code table and the small string helpers.
 */
#include "internal.h"

#include "errbuf.h"

#include <stdlib.h>

/* ---- error codes ---- */

const char *ingest_strerror(int code) {
  switch (code) {
  case INGEST_OK: return "ok";
  case INGEST_ENOMEM: return "out of memory";
  case INGEST_EINVAL: return "malformed";
  case INGEST_ETOOBIG: return "too big";
  case INGEST_EKIND: return "wrong kind";
  case INGEST_EAUTH: return "unauthenticated";
  case INGEST_EMETHOD: return "method not allowed";
  case INGEST_EMEDIA: return "unsupported media";
  default: return "unknown error";
  }
}

int ingest_http_status(int code) {
  switch (code) {
  case INGEST_OK: return 200;
  case INGEST_EINVAL: return 400;
  case INGEST_ETOOBIG: return 413;
  case INGEST_EKIND: return 422;
  case INGEST_EAUTH: return 401;
  case INGEST_EMETHOD: return 405;
  case INGEST_EMEDIA: return 415;
  default: return 500;
  }
}

int ing_from_pp(int pp_code) {
  switch (pp_code) {
  case PP_OK: return INGEST_OK;
  case PP_EMALFORMED: return INGEST_EINVAL;
  case PP_ETOOBIG: return INGEST_ETOOBIG;
  case PP_EINCOMPATIBLE: return INGEST_EKIND;
  case PP_ENOMEM: return INGEST_ENOMEM;
  default: return INGEST_EINVAL;
  }
}

/* ---- string helpers ---- */

char *ing_strndup(const char *s, size_t n) {
  char *c = malloc(n + 1);
  if (!c) return NULL;
  if (n) memcpy(c, s, n);
  c[n] = 0;
  return c;
}

const char *ing_trim(const char *s, size_t *n) {
  size_t a = 0, b = *n;
  while (a < b && ing_is_space((unsigned char)s[a])) a++;
  while (b > a && ing_is_space((unsigned char)s[b - 1])) b--;
  *n = b - a;
  return s + a;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

bool ing_ieq(const char *a, size_t n, const char *b) {
  size_t bn = strlen(b);
  if (n != bn) return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
  return true;
}

bool ing_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t len;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, min = 0x10000, c &= 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      c = (c << 6) | (p[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

/* ---- labels ---- */

int ingest_labels_add(ingest_labels *l, const char *key, size_t klen, const char *value, size_t vlen) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    ingest_label *nv = realloc(l->v, nc * sizeof(*nv));
    if (!nv) return INGEST_ENOMEM;
    l->v = nv;
    l->cap = nc;
  }
  char *k = ing_strndup(key ? key : "", key ? klen : 0);
  char *v = ing_strndup(value ? value : "", value ? vlen : 0);
  if (!k || !v) {
    free(k);
    free(v);
    return INGEST_ENOMEM;
  }
  l->v[l->n].key = k;
  l->v[l->n].value = v;
  l->n++;
  return INGEST_OK;
}

const char *ingest_labels_get(const ingest_labels *l, const char *key) {
  for (size_t i = 0; l && i < l->n; i++)
    if (strcmp(l->v[i].key, key) == 0) return l->v[i].value;
  return NULL;
}

/* Insertion sort: stable, and label lists are short (a request's labels). */
void ingest_labels_sort(ingest_labels *l) {
  for (size_t i = 1; i < l->n; i++) {
    ingest_label t = l->v[i];
    size_t j = i;
    while (j > 0 && strcmp(l->v[j - 1].key, t.key) > 0) {
      l->v[j] = l->v[j - 1];
      j--;
    }
    l->v[j] = t;
  }
}

void ingest_labels_sort_unique(ingest_labels *l) {
  ingest_labels_sort(l);
  size_t k = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (i + 1 < l->n && strcmp(l->v[i].key, l->v[i + 1].key) == 0) {
      free(l->v[i].key);
      free(l->v[i].value);
      continue; /* a later pair has the same key: it wins */
    }
    l->v[k++] = l->v[i];
  }
  l->n = k;
}

int ingest_labels_copy(ingest_labels *dst, const ingest_labels *src) {
  ingest_labels t = {0};
  for (size_t i = 0; src && i < src->n; i++) {
    if (ingest_labels_add(&t, src->v[i].key, strlen(src->v[i].key), src->v[i].value, strlen(src->v[i].value))) {
      ingest_labels_free(&t);
      return INGEST_ENOMEM;
    }
  }
  ingest_labels_free(dst);
  *dst = t;
  return INGEST_OK;
}

char *ingest_labels_string(const ingest_labels *l) {
  size_t need = 1;
  for (size_t i = 0; l && i < l->n; i++) need += strlen(l->v[i].key) + strlen(l->v[i].value) + 2;
  char *s = malloc(need), *p = s;
  if (!s) return NULL;
  for (size_t i = 0; l && i < l->n; i++) {
    size_t kl = strlen(l->v[i].key), vl = strlen(l->v[i].value);
    if (i) *p++ = ',';
    memcpy(p, l->v[i].key, kl);
    p += kl;
    *p++ = '=';
    memcpy(p, l->v[i].value, vl);
    p += vl;
  }
  *p = 0;
  return s;
}

void ingest_labels_free(ingest_labels *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].key);
    free(l->v[i].value);
  }
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

/* ---- URL decoding ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int ingest_url_unescape(const char *s, size_t n, int plus_is_space, char **out, char *err, size_t errlen) {
  *out = NULL;
  char *r = malloc(n + 1);
  if (!r) {
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      int a = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int b = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (a < 0 || b < 0) {
        size_t show = n - i < 3 ? n - i : 3;
        errbuf_set(err, errlen, "bad escape \"%.*s\" in \"%.*s\"", (int)show, s + i, n > 200 ? 200 : (int)n, s);
        free(r);
        return INGEST_EINVAL;
      }
      r[k++] = (char)(a * 16 + b);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      r[k++] = ' ';
    } else {
      r[k++] = (char)c;
    }
  }
  r[k] = 0;
  *out = r;
  return INGEST_OK;
}

int ingest_query_parse(const char *query, ingest_labels *out, char *err, size_t errlen) {
  if (!query) return INGEST_OK;
  const char *p = query;
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n) {
      if (memchr(p, ';', n)) {
        errbuf_set(err, errlen, "invalid semicolon separator in query \"%.*s\"", n > 200 ? 200 : (int)n, p);
        ingest_labels_free(out);
        return INGEST_EINVAL;
      }
      const char *eq = memchr(p, '=', n);
      size_t kl = eq ? (size_t)(eq - p) : n;
      char *k = NULL, *v = NULL;
      int rc = ingest_url_unescape(p, kl, 1, &k, err, errlen);
      if (!rc) rc = ingest_url_unescape(eq ? eq + 1 : "", eq ? n - kl - 1 : 0, 1, &v, err, errlen);
      if (!rc) rc = ingest_labels_add(out, k, strlen(k), v, strlen(v));
      free(k);
      free(v);
      if (rc) {
        if (rc == INGEST_ENOMEM) errbuf_set(err, errlen, "out of memory");
        ingest_labels_free(out);
        return rc;
      }
    }
    if (!amp) break;
    p = amp + 1;
  }
  return INGEST_OK;
}
