/*
 * s3.c — the S3 backend (AWS S3, MinIO, any S3-compatible store).
 *
 * URL: s3://BUCKET?endpoint=URL&region=R&use_path_style=true plus optional
 * connect_timeout=DUR, timeout=DUR, retries=N, retry_backoff=DUR (see
 * lib/blob/README.md). Credentials come from AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read when the store opens.
 *
 * Transport: libcurl, one easy handle per thread and store (a pthread key),
 * reset between requests so its connection cache is kept: consecutive
 * requests from a thread reuse one TCP/TLS connection. Every request is
 * signed here (sigv4.c) and sent with exactly the canonical path and query
 * it was signed with; x-amz-content-sha256 is always sent.
 *
 * Errors: 404 -> BLOB_ENOTFOUND; 403 (and the 400s that mean bad
 * credentials) -> BLOB_EAUTH with S3's Code and Message; 408, 429, 5xx,
 * refused connections, resets and timeouts -> up to `retries` more attempts
 * with exponential backoff and jitter, then BLOB_ERETRY. Each attempt is
 * bounded by connect_timeout and timeout, so an operation takes at most
 * (retries + 1) * timeout plus the backoff sleeps.
 *
 * Listing uses ListObjectsV2 with continuation tokens; responses and error
 * bodies are parsed with expat, which decodes entities (&amp;, &#x27;).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob_internal.h"
#include "sigv4.h"

#define ERR_BODY_MAX (64 * 1024)

/* --- store and per-thread handles ---------------------------------------- */

typedef struct s3_handle {
  CURL *curl;
  struct s3_handle *prev, *next;
  struct s3_store *owner;
} s3_handle;

typedef struct s3_store {
  char *bucket;
  char *region;
  char *base;      /* scheme://host[:port], with "bucket." in front for virtual-hosted style */
  char *host;      /* Host header value */
  char *path_pfx;  /* "/bucket" (path style) or "" */
  char *access_key, *secret_key, *session_token;
  long connect_timeout_ms, timeout_ms, retries, backoff_ms;
  pthread_key_t tkey;
  pthread_mutex_t mu;
  s3_handle *handles;
} s3_store;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void handle_destroy(void *p) {
  s3_handle *h = p;
  if (!h) return;
  s3_store *s = h->owner;
  pthread_mutex_lock(&s->mu);
  if (h->prev) h->prev->next = h->next;
  else s->handles = h->next;
  if (h->next) h->next->prev = h->prev;
  pthread_mutex_unlock(&s->mu);
  curl_easy_cleanup(h->curl);
  free(h);
}

static CURL *thread_handle(s3_store *s) {
  s3_handle *h = pthread_getspecific(s->tkey);
  if (h) {
    curl_easy_reset(h->curl);
    return h->curl;
  }
  h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->curl = curl_easy_init();
  if (!h->curl) {
    free(h);
    return NULL;
  }
  h->owner = s;
  pthread_mutex_lock(&s->mu);
  h->next = s->handles;
  if (s->handles) s->handles->prev = h;
  s->handles = h;
  pthread_mutex_unlock(&s->mu);
  if (pthread_setspecific(s->tkey, h) != 0) {
    handle_destroy(h);
    return NULL;
  }
  return h->curl;
}

static void s3_close(void *impl) {
  s3_store *s = impl;
  if (!s) return;
  pthread_key_delete(s->tkey);
  while (s->handles) {
    s3_handle *h = s->handles;
    s->handles = h->next;
    curl_easy_cleanup(h->curl);
    free(h);
  }
  pthread_mutex_destroy(&s->mu);
  free(s->bucket);
  free(s->region);
  free(s->base);
  free(s->host);
  free(s->path_pfx);
  free(s->access_key);
  if (s->secret_key) {
    memset(s->secret_key, 0, strlen(s->secret_key));
    free(s->secret_key);
  }
  free(s->session_token);
  free(s);
}

/* --- URL parsing ---------------------------------------------------------- */

static int valid_bucket(const char *b) {
  size_t n = strlen(b);
  if (n < 3 || n > 63) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = b[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return 0;
  }
  return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

static int parse_bool(const char *v, int *out) {
  if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) *out = 1;
  else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) *out = 0;
  else return -1;
  return 0;
}

static char *env_dup(const char *name) {
  const char *v = getenv(name);
  return v && *v ? strdup(v) : NULL;
}

static int s3_open(const char *url, void **impl, char **printable, char *err, size_t errlen) {
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return blob_fail(BLOB_EIO, err, errlen, "s3: libcurl initialisation failed: %s",
                     curl_easy_strerror(curl_init_rc));
  char *copy = strdup(url + strlen("s3://"));
  s3_store *s = calloc(1, sizeof *s);
  int rc = 0;
  if (!copy || !s) {
    free(copy);
    free(s);
    return blob_fail(BLOB_ENOMEM, err, errlen, "s3 %s: out of memory", url);
  }
  s->connect_timeout_ms = 5000;
  s->timeout_ms = 60000;
  s->retries = 3;
  s->backoff_ms = 200;
  int path_style = 0;
  char *endpoint = NULL, *region = NULL;
  char *q = strchr(copy, '?');
  if (q) *q++ = '\0';
  char *slash = strchr(copy, '/');
  if (slash && slash[1] == '\0') *slash = '\0';
  if (!valid_bucket(copy)) {
    rc = blob_fail(BLOB_EINVAL, err, errlen,
                   "blob store URL \"%.200s\": \"%.80s\" is not a bucket name (3-63 of a-z 0-9 . -; "
                   "no key prefix after the bucket)",
                   url, copy);
    goto out;
  }
  s->bucket = strdup(copy);
  for (char *tok = q ? strtok(q, "&") : NULL; tok && !rc; tok = strtok(NULL, "&")) {
    char *eq = strchr(tok, '=');
    char *v = eq ? eq + 1 : (char *)"";
    if (eq) *eq = '\0';
    if (blob_pct_decode(v) < 0) {
      rc = blob_fail(BLOB_EINVAL, err, errlen, "blob store URL \"%.200s\": bad %% escape in %s",
                     url, tok);
    } else if (!strcmp(tok, "endpoint")) {
      endpoint = v;
    } else if (!strcmp(tok, "region")) {
      region = v;
    } else if (!strcmp(tok, "use_path_style")) {
      if (parse_bool(v, &path_style) < 0)
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": use_path_style must be true or false", url);
    } else if (!strcmp(tok, "connect_timeout") || !strcmp(tok, "timeout") ||
               !strcmp(tok, "retry_backoff")) {
      long ms = blob_parse_duration_ms(v);
      if (ms <= 0 && strcmp(tok, "retry_backoff"))
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": %s must be a positive duration like 500ms, 5s "
                       "or 2m",
                       url, tok);
      else if (ms < 0)
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": retry_backoff must be a duration like 200ms", url);
      else if (!strcmp(tok, "connect_timeout")) s->connect_timeout_ms = ms;
      else if (!strcmp(tok, "timeout")) s->timeout_ms = ms;
      else s->backoff_ms = ms;
    } else if (!strcmp(tok, "retries")) {
      char *end;
      long n = strtol(v, &end, 10);
      if (!*v || *end || n < 0 || n > 20)
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": retries must be an integer from 0 to 20", url);
      else s->retries = n;
    } else {
      rc = blob_fail(BLOB_EINVAL, err, errlen,
                     "blob store URL \"%.200s\": unknown parameter \"%s\" (known: endpoint, region, "
                     "use_path_style, connect_timeout, timeout, retries, retry_backoff)",
                     url, tok);
    }
  }
  if (rc) goto out;
  s->region = strdup(region && *region ? region : "us-east-1");
  {
    char scheme[8], hostport[512];
    if (endpoint && *endpoint) {
      const char *p = strstr(endpoint, "://");
      size_t sl = p ? (size_t)(p - endpoint) : 0;
      if (!p || sl >= sizeof scheme) {
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": endpoint must look like http://HOST:PORT or "
                       "https://HOST",
                       url);
        goto out;
      }
      memcpy(scheme, endpoint, sl);
      scheme[sl] = '\0';
      const char *hp = p + 3;
      size_t hl = strcspn(hp, "/?#");
      if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": endpoint scheme must be http or https", url);
        goto out;
      }
      if (hl == 0 || hl >= sizeof hostport || (hp[hl] && strcmp(hp + hl, "/"))) {
        rc = blob_fail(BLOB_EINVAL, err, errlen,
                       "blob store URL \"%.200s\": endpoint must be scheme://HOST[:PORT] without a "
                       "path",
                       url);
        goto out;
      }
      memcpy(hostport, hp, hl);
      hostport[hl] = '\0';
    } else {
      snprintf(scheme, sizeof scheme, "https");
      snprintf(hostport, sizeof hostport, "s3.%s.amazonaws.com", s->region);
    }
    char host[600], base[700];
    if (path_style) snprintf(host, sizeof host, "%s", hostport);
    else snprintf(host, sizeof host, "%s.%s", s->bucket, hostport);
    snprintf(base, sizeof base, "%s://%s", scheme, host);
    s->host = strdup(host);
    s->base = strdup(base);
    if (path_style) {
      char pfx[80];
      snprintf(pfx, sizeof pfx, "/%s", s->bucket);
      s->path_pfx = strdup(pfx);
    } else {
      s->path_pfx = strdup("");
    }
  }
  s->access_key = env_dup("AWS_ACCESS_KEY_ID");
  s->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
  s->session_token = env_dup("AWS_SESSION_TOKEN");
  if (!s->access_key || !s->secret_key) {
    rc = blob_fail(BLOB_EINVAL, err, errlen,
                   "s3 bucket %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                   "environment",
                   s->bucket);
    goto out;
  }
  if (!s->bucket || !s->region || !s->host || !s->base || !s->path_pfx) {
    rc = blob_fail(BLOB_ENOMEM, err, errlen, "s3 %s: out of memory", url);
    goto out;
  }
  if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_key_create(&s->tkey, handle_destroy) != 0) {
    rc = blob_fail(BLOB_EIO, err, errlen, "s3 %s: cannot create a thread key", url);
    goto out;
  }
  *printable = strdup(url);
  if (!*printable) {
    rc = blob_fail(BLOB_ENOMEM, err, errlen, "s3 %s: out of memory", url);
    s3_close(s);
    free(copy);
    return rc;
  }
  free(copy);
  *impl = s;
  return 0;
out:
  free(copy);
  free(s->bucket);
  free(s->region);
  free(s->base);
  free(s->host);
  free(s->path_pfx);
  free(s->access_key);
  free(s->secret_key);
  free(s->session_token);
  free(s);
  return rc;
}

/* --- XML (expat) ---------------------------------------------------------- */

typedef struct list_item {
  char *key;
  blob_info info;
} list_item;

typedef struct xml_state {
  int depth;
  char path[4][32]; /* element names at depth 1..4 (local names) */
  char text[2048];
  size_t tlen;
  int too_long;
  /* error bodies */
  char code[128], message[512];
  /* listings */
  list_item *items;
  size_t n, cap;
  list_item cur;
  int in_contents;
  int truncated;
  char *next_token;
  int oom;
} xml_state;

/* Copies src into dst[size], truncating. */
static void copy_trunc(char *dst, size_t size, const char *src) {
  size_t n = strlen(src);
  if (n >= size) n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static const char *local_name(const char *n) {
  const char *c = strrchr(n, ':');
  return c ? c + 1 : n;
}

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  (void)atts;
  xml_state *x = ud;
  x->depth++;
  if (x->depth <= 4) snprintf(x->path[x->depth - 1], sizeof x->path[0], "%s", local_name(name));
  x->tlen = 0;
  x->too_long = 0;
  x->text[0] = '\0';
  if (x->depth == 2 && !strcmp(x->path[1], "Contents")) {
    memset(&x->cur, 0, sizeof x->cur);
    x->in_contents = 1;
  }
}

static void XMLCALL xml_text(void *ud, const XML_Char *s, int len) {
  xml_state *x = ud;
  if (x->tlen + (size_t)len >= sizeof x->text) {
    x->too_long = 1;
    return;
  }
  memcpy(x->text + x->tlen, s, (size_t)len);
  x->tlen += (size_t)len;
  x->text[x->tlen] = '\0';
}

/* "2026-11-22T01:15:11.000Z" -> ms since the epoch; 0 if malformed. */
static int64_t parse_iso8601_ms(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int ms = 0;
  char frac[16] = "";
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%15[.0-9]", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac) < 6)
    return 0;
  if (frac[0] == '.') {
    int digits = 0;
    for (const char *p = frac + 1; *p && digits < 3; p++, digits++) ms = ms * 10 + (*p - '0');
    for (; digits < 3; digits++) ms *= 10;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return (int64_t)t * 1000 + ms;
}

static void XMLCALL xml_end(void *ud, const XML_Char *name) {
  xml_state *x = ud;
  const char *ln = local_name(name);
  if (x->depth == 2 && !strcmp(x->path[0], "Error")) {
    if (!strcmp(ln, "Code")) copy_trunc(x->code, sizeof x->code, x->text);
    else if (!strcmp(ln, "Message")) copy_trunc(x->message, sizeof x->message, x->text);
  } else if (x->depth == 2 && !strcmp(x->path[0], "ListBucketResult")) {
    if (!strcmp(ln, "IsTruncated")) x->truncated = !strcmp(x->text, "true");
    else if (!strcmp(ln, "NextContinuationToken") && !x->too_long) {
      free(x->next_token);
      x->next_token = strdup(x->text);
      if (!x->next_token) x->oom = 1;
    } else if (!strcmp(ln, "Contents") && x->in_contents) {
      x->in_contents = 0;
      if (x->cur.key) {
        if (x->n == x->cap) {
          size_t cap = x->cap ? x->cap * 2 : 64;
          list_item *it = realloc(x->items, cap * sizeof *it);
          if (!it) {
            x->oom = 1;
            free(x->cur.key);
            x->cur.key = NULL;
            goto done;
          }
          x->items = it;
          x->cap = cap;
        }
        x->items[x->n++] = x->cur;
        x->cur.key = NULL;
      }
    }
  } else if (x->depth == 3 && x->in_contents) {
    if (!strcmp(ln, "Key") && !x->too_long) {
      free(x->cur.key);
      x->cur.key = strdup(x->text);
      if (!x->cur.key) x->oom = 1;
    } else if (!strcmp(ln, "Size")) {
      x->cur.info.size = strtoull(x->text, NULL, 10);
    } else if (!strcmp(ln, "LastModified")) {
      x->cur.info.mtime_ms = parse_iso8601_ms(x->text);
    } else if (!strcmp(ln, "ETag")) {
      copy_trunc(x->cur.info.etag, sizeof x->cur.info.etag, x->text);
    }
  }
done:
  x->depth--;
  x->tlen = 0;
  x->text[0] = '\0';
}

static int xml_parse(xml_state *x, const char *body, size_t len) {
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p) return -1;
  XML_SetUserData(p, x);
  XML_SetElementHandler(p, xml_start, xml_end);
  XML_SetCharacterDataHandler(p, xml_text);
  int ok = XML_Parse(p, body, (int)len, 1) == XML_STATUS_OK;
  XML_ParserFree(p);
  return ok && !x->oom ? 0 : -1;
}

static void xml_free(xml_state *x) {
  for (size_t i = 0; i < x->n; i++) free(x->items[i].key);
  free(x->items);
  free(x->cur.key);
  free(x->next_token);
}

/* --- one HTTP exchange ----------------------------------------------------- */

typedef struct s3_req {
  const char *op;     /* for messages: "PUT", "GET", "HEAD", "DELETE", "LIST" */
  const char *method; /* HTTP method */
  const char *key;    /* NULL: the bucket itself */
  const sigv4_kv *query;
  size_t nquery;
  const void *body;
  size_t body_len;
  const char *range; /* Range header value, or NULL */
  /* response handling */
  blob_write_fn write; /* streaming GET */
  void *ctx;
  blob_info *info; /* filled from headers on success */
  size_t max_bytes;
} s3_req;

typedef struct s3_resp {
  long status;
  char *body;
  size_t len, cap;
  char etag[80];
  int64_t mtime_ms;
  uint64_t content_length;
  int has_length;
  int delivered; /* streaming: chunks handed to the caller */
  int aborted;   /* the caller's write returned non-zero */
  int toobig;
  int oom;
  const s3_req *req;
  CURL *curl;
  /* upload */
  size_t sent;
} s3_resp;

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
  s3_resp *r = ud;
  size_t len = size * n;
  char line[1024];
  size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
  memcpy(line, buf, l);
  line[l] = '\0';
  while (l && (line[l - 1] == '\r' || line[l - 1] == '\n')) line[--l] = '\0';
  if (!strncmp(line, "HTTP/", 5)) {
    r->etag[0] = '\0';
    r->mtime_ms = 0;
    r->has_length = 0;
    return len;
  }
  char *colon = strchr(line, ':');
  if (!colon) return len;
  *colon = '\0';
  char *v = colon + 1;
  while (*v == ' ' || *v == '\t') v++;
  if (!strcasecmp(line, "ETag")) {
    snprintf(r->etag, sizeof r->etag, "%s", v);
  } else if (!strcasecmp(line, "Last-Modified")) {
    time_t t = curl_getdate(v, NULL);
    if (t > 0) r->mtime_ms = (int64_t)t * 1000;
  } else if (!strcasecmp(line, "Content-Length")) {
    r->content_length = strtoull(v, NULL, 10);
    r->has_length = 1;
  }
  return len;
}

static void fill_info_from(const s3_resp *r, blob_info *info) {
  if (!info) return;
  info->size = r->content_length;
  info->mtime_ms = r->mtime_ms;
  snprintf(info->etag, sizeof info->etag, "%s", r->etag);
}

static int buf_append(s3_resp *r, const char *d, size_t n) {
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n + 1) cap *= 2;
    char *p = realloc(r->body, cap);
    if (!p) return -1;
    r->body = p;
    r->cap = cap;
  }
  memcpy(r->body + r->len, d, n);
  r->len += n;
  r->body[r->len] = '\0';
  return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud) {
  s3_resp *r = ud;
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300 && r->req->write) {
    if (!r->delivered) fill_info_from(r, r->req->info);
    r->delivered = 1;
    if (len && r->req->write(r->req->ctx, buf, len) != 0) {
      r->aborted = 1;
      return 0;
    }
    return len;
  }
  if (status >= 200 && status < 300) {
    size_t max = r->req->max_bytes;
    if (max && ((r->has_length && r->content_length > max) || r->len + len > max)) {
      r->toobig = 1;
      return 0;
    }
    if (r->len == 0 && r->has_length && r->content_length < ((size_t)1 << 34) && !r->cap) {
      r->body = malloc((size_t)r->content_length + 1);
      if (r->body) r->cap = (size_t)r->content_length + 1;
    }
  } else if (r->len + len > ERR_BODY_MAX) {
    return len; /* keep the start of a long error body only */
  }
  if (buf_append(r, buf, len) < 0) {
    r->oom = 1;
    return 0;
  }
  return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud) {
  s3_resp *r = ud;
  size_t left = r->req->body_len - r->sent;
  size_t k = size * n < left ? size * n : left;
  memcpy(buf, (const char *)r->req->body + r->sent, k);
  r->sent += k;
  return k;
}

static int curl_transient(CURLcode c) {
  switch (c) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
    return 1;
  default:
    return 0;
  }
}

/* "s3 OP KEY" / "s3 OP bucket B" prefix for messages. */
static void what(const s3_store *s, const s3_req *q, char *out, size_t n) {
  if (q->key) snprintf(out, n, "s3 %s %s/%.300s", q->op, s->bucket, q->key);
  else snprintf(out, n, "s3 %s bucket %s", q->op, s->bucket);
}

/*
 * One attempt. Returns 0, a final BLOB_E* code, or 1 for "transient, may be
 * retried" (with the message already in err).
 */
static int perform_once(s3_store *s, const s3_req *q, s3_resp *r, char *err, size_t errlen) {
  char w[512];
  what(s, q, w, sizeof w);
  CURL *c = thread_handle(s);
  if (!c) return blob_fail(BLOB_ENOMEM, err, errlen, "%s: cannot create a curl handle", w);
  r->curl = c;
  r->req = q;

  /* Canonical path and query, sent exactly as signed. */
  size_t klen = q->key ? strlen(q->key) : 0;
  size_t ulen = strlen(s->path_pfx) + 3 * klen + 4;
  char *uri = malloc(ulen);
  char *query = sigv4_canonical_query(q->query, q->nquery);
  char *url = NULL, *auth = NULL;
  struct curl_slist *hl = NULL;
  int rc = 0;
  if (!uri || !query) {
    rc = blob_fail(BLOB_ENOMEM, err, errlen, "%s: out of memory", w);
    goto out;
  }
  if (q->key) {
    int n = snprintf(uri, ulen, "%s/", s->path_pfx);
    sigv4_uri_encode(q->key, klen, 1, uri + n, ulen - (size_t)n);
  } else {
    snprintf(uri, ulen, "%s", *s->path_pfx ? s->path_pfx : "/");
  }
  size_t url_len = strlen(s->base) + strlen(uri) + strlen(query) + 2;
  url = malloc(url_len);
  if (!url) {
    rc = blob_fail(BLOB_ENOMEM, err, errlen, "%s: out of memory", w);
    goto out;
  }
  snprintf(url, url_len, "%s%s%s%s", s->base, uri, *query ? "?" : "", query);

  char payload[65], amz_date[17];
  if (q->body_len) sigv4_sha256_hex(q->body, q->body_len, payload);
  else snprintf(payload, sizeof payload, "%s", SIGV4_EMPTY_SHA256);
  sigv4_amz_date(time(NULL), amz_date);
  sigv4_kv hs[4] = {{"host", s->host},
                    {"x-amz-content-sha256", payload},
                    {"x-amz-date", amz_date},
                    {"x-amz-security-token", s->session_token}};
  size_t nh = s->session_token ? 4 : 3;
  sigv4_request sr = {q->method, uri,        query,          hs,          nh,  payload,
                      amz_date,  s->region, "s3",           s->access_key, s->secret_key};
  size_t auth_cap = strlen(s->access_key) + 512;
  auth = malloc(auth_cap);
  if (!auth || sigv4_sign(&sr, auth, auth_cap, NULL) < 0) {
    rc = blob_fail(BLOB_ENOMEM, err, errlen, "%s: cannot sign the request", w);
    goto out;
  }
  char line[4096];
  struct curl_slist *tmp;
#define ADDH(...)                                                                                  \
  do {                                                                                             \
    snprintf(line, sizeof line, __VA_ARGS__);                                                      \
    tmp = curl_slist_append(hl, line);                                                             \
    if (!tmp) {                                                                                    \
      rc = blob_fail(BLOB_ENOMEM, err, errlen, "%s: out of memory", w);                            \
      goto out;                                                                                    \
    }                                                                                              \
    hl = tmp;                                                                                      \
  } while (0)
  ADDH("Host: %s", s->host);
  ADDH("x-amz-content-sha256: %s", payload);
  ADDH("x-amz-date: %s", amz_date);
  ADDH("Authorization: %s", auth);
  if (s->session_token) ADDH("x-amz-security-token: %s", s->session_token);
  if (q->range) ADDH("Range: %s", q->range);
  ADDH("Expect:");
  ADDH("Accept:");
  if (!strcmp(q->method, "PUT")) ADDH("Content-Type: application/octet-stream");
#undef ADDH

  char curl_err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  if (!strcmp(q->method, "HEAD")) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (!strcmp(q->method, "PUT")) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, r);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
  } else if (strcmp(q->method, "GET")) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
  }

  CURLcode cc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  /* Keep the handle free of pointers into this frame. */
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);

  if (r->aborted) {
    rc = blob_fail(BLOB_EIO, err, errlen, "%s: aborted by the receiver", w);
    goto out;
  }
  if (r->toobig) {
    rc = blob_fail(BLOB_ETOOBIG, err, errlen, "%s: object is over the limit of %zu bytes", w,
                   q->max_bytes);
    goto out;
  }
  if (r->oom) {
    rc = blob_fail(BLOB_ENOMEM, err, errlen, "%s: out of memory", w);
    goto out;
  }
  if (cc != CURLE_OK) {
    const char *detail = curl_err[0] ? curl_err : curl_easy_strerror(cc);
    if (curl_transient(cc)) {
      blob_fail(BLOB_ERETRY, err, errlen, "%s: %s (%s)", w, detail, s->base);
      rc = 1;
    } else {
      rc = blob_fail(BLOB_EIO, err, errlen, "%s: %s (%s)", w, detail, s->base);
    }
    goto out;
  }
  long st = r->status;
  if (st >= 200 && st < 300) {
    fill_info_from(r, q->info);
    if (q->info && !strcmp(q->method, "GET") && !q->write) q->info->size = r->len;
    goto out;
  }
  /* An error: S3 explains it in an XML body (none for HEAD). */
  xml_state x;
  memset(&x, 0, sizeof x);
  if (r->len) xml_parse(&x, r->body, r->len);
  xml_free(&x);
  char why[700];
  if (x.code[0]) snprintf(why, sizeof why, "%ld %s: %s", st, x.code, x.message);
  else snprintf(why, sizeof why, "%ld %s", st, st == 404 ? "Not Found" : st == 403 ? "Forbidden" : "error");
  if (st == 404 && !strcmp(x.code, "NoSuchBucket"))
    rc = blob_fail(BLOB_EIO, err, errlen, "%s: %s (the bucket does not exist)", w, why);
  else if (st == 404)
    rc = blob_fail(BLOB_ENOTFOUND, err, errlen, "%s: %s", w, why);
  else if (st == 401 || st == 403 ||
           (st == 400 && (!strcmp(x.code, "AuthorizationHeaderMalformed") ||
                          !strcmp(x.code, "ExpiredToken") || !strcmp(x.code, "InvalidToken") ||
                          !strcmp(x.code, "InvalidAccessKeyId"))))
    rc = blob_fail(BLOB_EAUTH, err, errlen, "%s: %s", w, why);
  else if (st == 408 || st == 429 || st >= 500) {
    blob_fail(BLOB_ERETRY, err, errlen, "%s: %s", w, why);
    rc = 1;
  } else if (st >= 300 && st < 400)
    rc = blob_fail(BLOB_EIO, err, errlen, "%s: %s (redirected: check the region and endpoint)", w,
                   why);
  else
    rc = blob_fail(BLOB_EIO, err, errlen, "%s: %s", w, why);
out:
  curl_slist_free_all(hl);
  free(auth);
  free(url);
  free(query);
  free(uri);
  return rc;
}

static void backoff_sleep(const s3_store *s, long attempt) {
  if (s->backoff_ms <= 0) return;
  long ms = s->backoff_ms;
  for (long i = 0; i < attempt && ms < 5000; i++) ms *= 2;
  if (ms > 5000) ms = 5000;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&ms;
  ms = ms / 2 + (long)(rand_r(&seed) % (unsigned)(ms / 2 + 1));
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* Runs a request with bounded retries; r holds the last response. */
static int perform(s3_store *s, const s3_req *q, s3_resp *r, char *err, size_t errlen) {
  int rc = 0;
  for (long attempt = 0; attempt <= s->retries; attempt++) {
    free(r->body);
    memset(r, 0, sizeof *r);
    rc = perform_once(s, q, r, err, errlen);
    if (rc != 1) return rc;
    if (r->delivered) {
      size_t n = strlen(err);
      snprintf(err + n, errlen - n, " (not retried: part of the object was already delivered)");
      return BLOB_ERETRY;
    }
    if (attempt < s->retries) backoff_sleep(s, attempt);
  }
  size_t n = strlen(err);
  snprintf(err + n, errlen - n, " (gave up after %ld attempts)", s->retries + 1);
  return BLOB_ERETRY;
}

/* --- operations ------------------------------------------------------------ */

static int s3_put(void *impl, const char *key, const void *data, size_t len, char *err,
                  size_t errlen) {
  s3_req q = {.op = "PUT", .method = "PUT", .key = key, .body = data, .body_len = len};
  s3_resp r = {0};
  int rc = perform(impl, &q, &r, err, errlen);
  free(r.body);
  return rc;
}

static int s3_get(void *impl, const char *key, size_t max_bytes, uint8_t **data, size_t *len,
                  blob_info *info, char *err, size_t errlen) {
  s3_req q = {.op = "GET", .method = "GET", .key = key, .info = info, .max_bytes = max_bytes};
  s3_resp r = {0};
  int rc = perform(impl, &q, &r, err, errlen);
  if (rc) {
    free(r.body);
    return rc;
  }
  if (!r.body) {
    r.body = malloc(1);
    if (!r.body) return blob_fail(BLOB_ENOMEM, err, errlen, "s3 GET %s: out of memory", key);
    r.body[0] = '\0';
  }
  if (r.has_length && r.content_length != r.len) {
    free(r.body);
    return blob_fail(BLOB_ERETRY, err, errlen,
                     "s3 GET %s: got %zu bytes, Content-Length said %llu", key, r.len,
                     (unsigned long long)r.content_length);
  }
  *data = (uint8_t *)r.body;
  *len = r.len;
  return 0;
}

static int s3_get_stream(void *impl, const char *key, blob_write_fn write, void *ctx,
                         blob_info *info, char *err, size_t errlen) {
  s3_req q = {.op = "GET", .method = "GET", .key = key, .write = write, .ctx = ctx, .info = info};
  s3_resp r = {0};
  int rc = perform(impl, &q, &r, err, errlen);
  free(r.body);
  return rc;
}

/*
 * HEAD answers carry no body, so a refused HEAD says only "403". The same
 * permission governs GET, so a one-byte ranged GET fetches S3's Code and
 * Message for the report; only on that error path.
 */
static int s3_stat(void *impl, const char *key, blob_info *info, char *err, size_t errlen) {
  s3_req q = {.op = "HEAD", .method = "HEAD", .key = key, .info = info};
  s3_resp r = {0};
  int rc = perform(impl, &q, &r, err, errlen);
  long status = r.status;
  free(r.body);
  if ((rc == BLOB_EAUTH || rc == BLOB_EIO) && status >= 400 && status < 500) {
    char e2[1024];
    s3_req g = {.op = "HEAD", .method = "GET", .key = key, .range = "bytes=0-0"};
    s3_resp r2 = {0};
    int rc2 = perform(impl, &g, &r2, e2, sizeof e2);
    free(r2.body);
    if (rc2 == rc && strstr(e2, ": ")) blob_fail(rc, err, errlen, "%s", e2);
  }
  return rc;
}

static int s3_del(void *impl, const char *key, char *err, size_t errlen) {
  s3_req q = {.op = "DELETE", .method = "DELETE", .key = key};
  s3_resp r = {0};
  int rc = perform(impl, &q, &r, err, errlen);
  free(r.body);
  return rc == BLOB_ENOTFOUND ? 0 : rc;
}

typedef struct s3_iter {
  s3_store *s;
  char *prefix;
  list_item *items;
  size_t n, i;
  char *token;
  int started, truncated;
} s3_iter;

static void iter_clear_page(s3_iter *it) {
  for (size_t i = 0; i < it->n; i++) free(it->items[i].key);
  free(it->items);
  it->items = NULL;
  it->n = it->i = 0;
}

static int s3_list_open(void *impl, const char *prefix, void **state, char *err, size_t errlen) {
  s3_iter *it = calloc(1, sizeof *it);
  if (!it) return blob_fail(BLOB_ENOMEM, err, errlen, "s3 LIST: out of memory");
  it->s = impl;
  it->prefix = strdup(prefix);
  if (!it->prefix) {
    free(it);
    return blob_fail(BLOB_ENOMEM, err, errlen, "s3 LIST: out of memory");
  }
  *state = it;
  return 0;
}

static int fetch_page(s3_iter *it, char *err, size_t errlen) {
  sigv4_kv qs[3] = {{"list-type", "2"}, {"prefix", it->prefix}, {"continuation-token", it->token}};
  size_t nq = it->token ? 3 : 2;
  s3_req q = {.op = "LIST", .method = "GET", .key = NULL, .query = qs, .nquery = nq};
  s3_resp r = {0};
  int rc = perform(it->s, &q, &r, err, errlen);
  if (rc) {
    free(r.body);
    return rc;
  }
  xml_state x;
  memset(&x, 0, sizeof x);
  if (xml_parse(&x, r.body ? r.body : "", r.len) < 0) {
    xml_free(&x);
    free(r.body);
    return blob_fail(BLOB_EIO, err, errlen,
                     "s3 LIST bucket %s prefix \"%s\": malformed ListObjectsV2 response",
                     it->s->bucket, it->prefix);
  }
  free(r.body);
  iter_clear_page(it);
  it->items = x.items;
  it->n = x.n;
  x.items = NULL;
  x.n = 0;
  free(it->token);
  it->token = x.next_token;
  x.next_token = NULL;
  it->truncated = x.truncated;
  it->started = 1;
  xml_free(&x);
  if (it->truncated && !it->token)
    return blob_fail(BLOB_EIO, err, errlen,
                     "s3 LIST bucket %s: truncated page without NextContinuationToken",
                     it->s->bucket);
  return 0;
}

static int s3_list_next(void *state, const char **key, blob_info *info, char *err,
                        size_t errlen) {
  s3_iter *it = state;
  while (it->i >= it->n) {
    if (it->started && !it->truncated) return 0;
    int rc = fetch_page(it, err, errlen);
    if (rc) return rc;
  }
  list_item *li = &it->items[it->i++];
  *key = li->key;
  *info = li->info;
  return 1;
}

static void s3_list_free(void *state) {
  s3_iter *it = state;
  if (!it) return;
  iter_clear_page(it);
  free(it->token);
  free(it->prefix);
  free(it);
}

static int s3_check(void *impl, char *err, size_t errlen) {
  sigv4_kv qs[2] = {{"list-type", "2"}, {"max-keys", "1"}};
  s3_req q = {.op = "LIST", .method = "GET", .key = NULL, .query = qs, .nquery = 2};
  s3_resp r = {0};
  int rc = perform(impl, &q, &r, err, errlen);
  free(r.body);
  return rc;
}

const struct blob_backend blob_s3_backend = {
    .name = "s3",
    .scheme = "s3://",
    .open = s3_open,
    .close = s3_close,
    .put = s3_put,
    .get = s3_get,
    .get_stream = s3_get_stream,
    .stat = s3_stat,
    .del = s3_del,
    .list_open = s3_list_open,
    .list_next = s3_list_next,
    .list_free = s3_list_free,
    .check = s3_check,
};
