/*
 * blob.c — the blob store front door: URL dispatch, key validation, and the
 * thin calls through a backend's operation table (blob_internal.h).
 *
 * Keys are validated here once, so every backend can trust them: the file
 * backend relies on it to keep keys inside its directory, the S3 backend to
 * sign well-formed UTF-8. Adding a backend is one file plus one line in
 * `backends` below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"

static const struct blob_backend *const backends[] = {&blob_file_backend, &blob_s3_backend};

struct blob_store {
  const struct blob_backend *be;
  void *impl;
  char *printable;
};

struct blob_iter {
  const struct blob_backend *be;
  void *state;
  char *prefix; /* the backend reads it until list_free */
};

const char *blob_strerror(int code) {
  switch (code) {
  case BLOB_OK: return "ok";
  case BLOB_EIO: return "I/O error";
  case BLOB_ENOTFOUND: return "not found";
  case BLOB_EAUTH: return "access denied";
  case BLOB_ERETRY: return "temporarily unavailable";
  case BLOB_EINVAL: return "invalid argument";
  case BLOB_ETOOBIG: return "object too large";
  case BLOB_ENOMEM: return "out of memory";
  default: return "unknown error";
  }
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int blob_pct_decode(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '%') {
      int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
      if (h < 0 || l < 0 || (h == 0 && l == 0)) return -1;
      *o++ = (char)(h * 16 + l);
      p += 2;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return 0;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    unsigned min, cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return 0;
    }
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

int blob_key_valid(const char *key) {
  if (!key || !*key || key[0] == '/') return 0;
  size_t n = strlen(key);
  if (n > 1024) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c < 0x20 || c == 0x7f) return 0;
  }
  if (!utf8_valid((const unsigned char *)key, n)) return 0;
  const char *seg = key;
  for (;;) {
    const char *slash = strchr(seg, '/');
    size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
    if (len == 0) return 0;
    if (len == 1 && seg[0] == '.') return 0;
    if (len == 2 && seg[0] == '.' && seg[1] == '.') return 0;
    if (!slash) break;
    seg = slash + 1;
  }
  return 1;
}

static int check_key(const char *op, const char *key, char *err, size_t errlen) {
  if (blob_key_valid(key)) return 0;
  errbuf_set(err, errlen,
             "blob %s: invalid key \"%.200s\" (keys are non-empty '/'-separated UTF-8 without "
             "empty, \".\" or \"..\" segments, leading '/' or control characters, at most "
             "1024 bytes)",
             op, key ? key : "(null)");
  return BLOB_EINVAL;
}

static core_logger g_logger;

void blob_set_logger(const core_logger *lg) {
  if (lg) g_logger = *lg;
  else memset(&g_logger, 0, sizeof g_logger);
}

const core_logger *blob_logger(void) { return &g_logger; }

/* Errors go to a local buffer when the caller passed none. */
#define ERRBUF()                                                                                   \
  char local_err_[8];                                                                              \
  if (!err || !errlen) {                                                                           \
    err = local_err_;                                                                              \
    errlen = sizeof local_err_;                                                                    \
  }                                                                                                \
  err[0] = '\0'

int blob_open(const char *url, blob_store **out, char *err, size_t errlen) {
  ERRBUF();
  *out = NULL;
  if (!url) {
    errbuf_set(err, errlen, "blob store URL is missing");
    return BLOB_EINVAL;
  }
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
    const struct blob_backend *be = backends[i];
    if (strncmp(url, be->scheme, strlen(be->scheme)) != 0) continue;
    blob_store *s = calloc(1, sizeof *s);
    if (!s) {
      errbuf_set(err, errlen, "blob store %s: out of memory", be->name);
      return BLOB_ENOMEM;
    }
    s->be = be;
    int rc = be->open(url, &s->impl, &s->printable, err, errlen);
    if (rc < 0) {
      free(s->printable);
      free(s);
      return rc;
    }
    *out = s;
    return 0;
  }
  /* gocloud's other stores, which autopgo deployments may name */
  if (!strncmp(url, "gs://", 5) || !strncmp(url, "azblob://", 9)) {
    errbuf_set(err, errlen,
               "blob store URL \"%.200s\": %s is not supported: use s3://BUCKET (AWS S3, MinIO, or the "
               "S3 interoperability endpoint of the provider, ?endpoint=...) or file:///DIR",
               url, url[0] == 'g' ? "Google Cloud Storage (gs://)" : "Azure Blob Storage (azblob://)");
    return BLOB_EINVAL;
  }
  errbuf_set(err, errlen,
             "blob store URL \"%.200s\": unknown scheme (use file:///DIR, file://./DIR or "
             "s3://BUCKET?endpoint=...)",
             url);
  return BLOB_EINVAL;
}

void blob_close(blob_store *s) {
  if (!s) return;
  s->be->close(s->impl);
  free(s->printable);
  free(s);
}

const char *blob_backend(const blob_store *s) { return s->be->name; }
const char *blob_url(const blob_store *s) { return s->printable; }

int blob_put(blob_store *s, const char *key, const void *data, size_t len, char *err,
             size_t errlen) {
  ERRBUF();
  int rc = check_key("put", key, err, errlen);
  if (rc) return rc;
  if (!data && len) {
    errbuf_set(err, errlen, "blob put %s: no data", key);
    return BLOB_EINVAL;
  }
  return s->be->put(s->impl, key, data ? data : "", len, err, errlen);
}

int blob_get(blob_store *s, const char *key, size_t max_bytes, uint8_t **data, size_t *len,
             blob_info *info, char *err, size_t errlen) {
  ERRBUF();
  *data = NULL;
  *len = 0;
  int rc = check_key("get", key, err, errlen);
  if (rc) return rc;
  if (info) memset(info, 0, sizeof *info);
  return s->be->get(s->impl, key, max_bytes, data, len, info, err, errlen);
}

int blob_get_stream(blob_store *s, const char *key, blob_write_fn write, void *ctx,
                    blob_info *info, char *err, size_t errlen) {
  ERRBUF();
  int rc = check_key("get", key, err, errlen);
  if (rc) return rc;
  if (!write) {
    errbuf_set(err, errlen, "blob get %s: no write callback", key);
    return BLOB_EINVAL;
  }
  if (info) memset(info, 0, sizeof *info);
  return s->be->get_stream(s->impl, key, write, ctx, info, err, errlen);
}

int blob_stat(blob_store *s, const char *key, blob_info *info, char *err, size_t errlen) {
  ERRBUF();
  int rc = check_key("stat", key, err, errlen);
  if (rc) return rc;
  blob_info tmp;
  if (!info) info = &tmp;
  memset(info, 0, sizeof *info);
  return s->be->stat(s->impl, key, info, err, errlen);
}

int blob_delete(blob_store *s, const char *key, char *err, size_t errlen) {
  ERRBUF();
  int rc = check_key("delete", key, err, errlen);
  if (rc) return rc;
  return s->be->del(s->impl, key, err, errlen);
}

int blob_list(blob_store *s, const char *prefix, blob_iter **out, char *err, size_t errlen) {
  ERRBUF();
  *out = NULL;
  if (!prefix) prefix = "";
  size_t n = strlen(prefix);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)prefix[i];
    if (c < 0x20 || c == 0x7f) {
      errbuf_set(err, errlen, "blob list: prefix \"%.200s\" has control characters", prefix);
      return BLOB_EINVAL;
    }
  }
  if (n > 1024 || !utf8_valid((const unsigned char *)prefix, n)) {
    errbuf_set(err, errlen, "blob list: prefix \"%.200s\" is not UTF-8 of at most 1024 bytes",
               prefix);
    return BLOB_EINVAL;
  }
  blob_iter *it = calloc(1, sizeof *it);
  if (it) it->prefix = strdup(prefix);
  if (!it || !it->prefix) {
    free(it);
    errbuf_set(err, errlen, "blob list %s: out of memory", prefix);
    return BLOB_ENOMEM;
  }
  it->be = s->be;
  int rc = s->be->list_open(s->impl, it->prefix, &it->state, err, errlen);
  if (rc < 0) {
    free(it->prefix);
    free(it);
    return rc;
  }
  *out = it;
  return 0;
}

int blob_iter_next(blob_iter *it, const char **key, blob_info *info, char *err, size_t errlen) {
  ERRBUF();
  blob_info tmp;
  if (!info) info = &tmp;
  memset(info, 0, sizeof *info);
  *key = NULL;
  return it->be->list_next(it->state, key, info, err, errlen);
}

void blob_iter_free(blob_iter *it) {
  if (!it) return;
  it->be->list_free(it->state);
  free(it->prefix);
  free(it);
}

int blob_check(blob_store *s, char *err, size_t errlen) {
  ERRBUF();
  return s->be->check(s->impl, err, errlen);
}

int blob_sweep(blob_store *s, const char *prefix, size_t *removed, char *err, size_t errlen) {
  ERRBUF();
  if (removed) *removed = 0;
  if (!s || !prefix) {
    errbuf_set(err, errlen, "blob_sweep: no store or prefix");
    return BLOB_EINVAL;
  }
  return s->be->sweep ? s->be->sweep(s->impl, prefix, removed, err, errlen) : 0;
}
