/*
 * s3.c — the S3 backend (AWS S3, MinIO, any S3-compatible store).
 *
 * URL: s3://BUCKET?endpoint=URL&region=R&use_path_style=true plus optional
 * connect_timeout=DUR, timeout=DUR, retries=N, retry_backoff=DUR (see
 * lib/blob/README.md; DUR in the common grammar of chrono_parse_duration),
 * read by s3_conf.c. Credentials come from AWS_ACCESS_KEY_ID,
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
 * Listing uses ListObjectsV2 with continuation tokens; its pages and error
 * bodies are read by s3_xml.c (expat). An attempt is built in named steps:
 * wire_target (canonical path, query, URL), wire_sign (SigV4 and headers),
 * curl_setup, then transfer_result and status_result say what came back.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob_internal.h"
#include "chrono.h"
#include "s3_conf.h"
#include "s3_xml.h"
#include "sigv4.h"

#define ERR_BODY_MAX (64 * 1024)

/* --- store and per-thread handles ---------------------------------------- */

typedef struct s3_handle {
  CURL *curl;
  struct s3_handle *prev, *next;
  struct s3_store *owner;
} s3_handle;

typedef struct s3_store {
  s3_conf c; /* what the URL and the environment say */
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
  s3_conf_free(&s->c);
  free(s);
}

/* A store with the defaults, its thread key and lock; NULL when out of
 * memory or thread keys (*rc says which). Freed with s3_close. */
static s3_store *store_new(int *rc) {
  s3_store *s = calloc(1, sizeof *s);
  *rc = BLOB_ENOMEM;
  if (!s) return NULL;
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s);
    return NULL;
  }
  if (pthread_key_create(&s->tkey, handle_destroy) != 0) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    *rc = BLOB_EIO;
    return NULL;
  }
  return s;
}

static int s3_open(const char *url, void **impl, char **printable, char *err, size_t errlen) {
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK) {
    errbuf_set(err, errlen, "s3: libcurl initialisation failed: %s",
               curl_easy_strerror(curl_init_rc));
    return BLOB_EIO;
  }
  int rc;
  s3_store *s = store_new(&rc);
  if (!s) {
    if (rc == BLOB_EIO)
      errbuf_set(err, errlen, "s3 %s: cannot create a thread key", url);
    else
      errbuf_set(err, errlen, "s3 %s: out of memory", url);
    return rc;
  }
  rc = s3_conf_parse(url, &s->c, err, errlen);
  if (!rc && !(*printable = strdup(url))) {
    errbuf_set(err, errlen, "s3 %s: out of memory", url);
    rc = BLOB_ENOMEM;
  }
  if (rc) {
    s3_close(s);
    return rc;
  }
  *impl = s;
  return 0;
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
  if (q->key)
    snprintf(out, n, "s3 %s %s/%.300s", q->op, s->c.bucket, q->key);
  else
    snprintf(out, n, "s3 %s bucket %s", q->op, s->c.bucket);
}

/* What one attempt sends: the canonical path and query (sent exactly as
 * signed), the URL they make, and the signed header list. */
typedef struct s3_wire {
  char *uri, *query, *url;
  struct curl_slist *headers;
} s3_wire;

static void wire_free(s3_wire *wr) {
  curl_slist_free_all(wr->headers);
  free(wr->url);
  free(wr->query);
  free(wr->uri);
}

/* Builds the canonical path and query and the URL. 0 or -1 (no memory). */
static int wire_target(const s3_store *s, const s3_req *q, s3_wire *wr) {
  size_t klen = q->key ? strlen(q->key) : 0;
  size_t ulen = strlen(s->c.path_pfx) + 3 * klen + 4;
  wr->uri = malloc(ulen);
  wr->query = sigv4_canonical_query(q->query, q->nquery);
  if (!wr->uri || !wr->query) return -1;
  if (q->key) {
    int n = snprintf(wr->uri, ulen, "%s/", s->c.path_pfx);
    sigv4_uri_encode(q->key, klen, 1, wr->uri + n, ulen - (size_t)n);
  } else {
    snprintf(wr->uri, ulen, "%s", *s->c.path_pfx ? s->c.path_pfx : "/");
  }
  size_t url_len = strlen(s->c.base) + strlen(wr->uri) + strlen(wr->query) + 2;
  wr->url = malloc(url_len);
  if (!wr->url) return -1;
  snprintf(wr->url, url_len, "%s%s%s%s", s->c.base, wr->uri, *wr->query ? "?" : "", wr->query);
  return 0;
}

/* Appends one formatted header line; -1 when out of memory. */
__attribute__((format(printf, 2, 3))) static int add_header(s3_wire *wr, const char *fmt, ...);

static int add_header(s3_wire *wr, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  struct curl_slist *l = curl_slist_append(wr->headers, line);
  if (!l) return -1;
  wr->headers = l;
  return 0;
}

/* Signs the request (SigV4: payload hash, date, Authorization) and builds
 * the header list. 0, or BLOB_ENOMEM with the message in err. */
static int wire_sign(const s3_store *s, const s3_req *q, s3_wire *wr, const char *w, char *err,
                     size_t errlen) {
  char payload[65], amz_date[17];
  if (q->body_len) sigv4_sha256_hex(q->body, q->body_len, payload);
  else snprintf(payload, sizeof payload, "%s", SIGV4_EMPTY_SHA256);
  sigv4_amz_date(time(NULL), amz_date);
  /* server-side encryption (ssetype, kmskeyid) goes with every PUT, signed */
  int put = !strcmp(q->method, "PUT");
  const char *sse = put ? s->c.sse : NULL, *kms = put ? s->c.kms_key_id : NULL;
  sigv4_kv hs[6] = {{"host", s->c.host}, {"x-amz-content-sha256", payload}, {"x-amz-date", amz_date}};
  size_t nh = 3;
  if (s->c.session_token) hs[nh++] = (sigv4_kv){"x-amz-security-token", s->c.session_token};
  if (sse) hs[nh++] = (sigv4_kv){"x-amz-server-side-encryption", sse};
  if (kms) hs[nh++] = (sigv4_kv){"x-amz-server-side-encryption-aws-kms-key-id", kms};
  sigv4_request sr = {.method = q->method,
                      .canonical_uri = wr->uri,
                      .canonical_query = wr->query,
                      .headers = hs,
                      .n_headers = nh,
                      .payload_sha256 = payload,
                      .amz_date = amz_date,
                      .region = s->c.region,
                      .service = "s3",
                      .access_key = s->c.access_key,
                      .secret_key = s->c.secret_key};
  char *auth = NULL;
  if (!s->c.anonymous) { /* anonymous=true: a public bucket, nothing signed */
    size_t auth_cap = strlen(s->c.access_key) + 512;
    auth = malloc(auth_cap);
    if (!auth || sigv4_sign(&sr, auth, auth_cap, NULL) < 0) {
      free(auth);
      errbuf_set(err, errlen, "%s: cannot sign the request", w);
      return BLOB_ENOMEM;
    }
  }
  int bad =
      add_header(wr, "Host: %s", s->c.host) ||
      add_header(wr, "x-amz-content-sha256: %s", payload) ||
      add_header(wr, "x-amz-date: %s", amz_date) || (auth && add_header(wr, "Authorization: %s", auth)) ||
      (s->c.session_token && add_header(wr, "x-amz-security-token: %s", s->c.session_token)) ||
      (sse && add_header(wr, "x-amz-server-side-encryption: %s", sse)) ||
      (kms && add_header(wr, "x-amz-server-side-encryption-aws-kms-key-id: %s", kms)) ||
      (q->range && add_header(wr, "Range: %s", q->range)) || add_header(wr, "Expect:") ||
      add_header(wr, "Accept:") ||
      (!strcmp(q->method, "PUT") && add_header(wr, "Content-Type: application/octet-stream"));
  free(auth);
  if (!bad) return 0;
  errbuf_set(err, errlen, "%s: out of memory", w);
  return BLOB_ENOMEM;
}

/* Points the thread's handle at this request and its response. */
static void curl_setup(const s3_store *s, const s3_req *q, s3_resp *r, CURL *c, const s3_wire *wr,
                       char *curl_err) {
  curl_easy_setopt(c, CURLOPT_URL, wr->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, wr->headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->c.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->c.timeout_ms);
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
}

/* 1 when a 400 carries one of the codes that mean bad credentials. */
static int auth_code(const char *code) {
  return !strcmp(code, "AuthorizationHeaderMalformed") || !strcmp(code, "ExpiredToken") ||
         !strcmp(code, "InvalidToken") || !strcmp(code, "InvalidAccessKeyId");
}

/* What an error status means, with S3's explanation from the body (none
 * for HEAD). Returns a BLOB_E* code, or 1 for "transient". */
static int status_result(const s3_resp *r, const char *w, char *err, size_t errlen) {
  long st = r->status;
  char code[128], message[512], why[700];
  s3_xml_parse_error(r->body, r->len, code, sizeof code, message, sizeof message);
  if (code[0])
    snprintf(why, sizeof why, "%ld %s: %s", st, code, message);
  else
    snprintf(why, sizeof why, "%ld %s", st,
             st == 404   ? "Not Found"
             : st == 403 ? "Forbidden"
                         : "error");
  const char *hint = "";
  int rc;
  if (st == 404 && !strcmp(code, "NoSuchBucket")) {
    rc = BLOB_EIO;
    hint = " (the bucket does not exist)";
  } else if (st == 404) {
    rc = BLOB_ENOTFOUND;
  } else if (st == 401 || st == 403 || (st == 400 && auth_code(code))) {
    rc = BLOB_EAUTH;
  } else if (st == 408 || st == 429 || st >= 500) {
    rc = 1;
  } else if (st >= 300 && st < 400) {
    rc = BLOB_EIO;
    hint = " (redirected: check the region and endpoint)";
  } else {
    rc = BLOB_EIO;
  }
  errbuf_set(err, errlen, "%s: %s%s", w, why, hint);
  return rc;
}

/* What the transfer itself says (before any status): a BLOB_E* code, 1 for
 * "transient", or 0 when there is a status to look at. */
static int transfer_result(const s3_store *s, const s3_req *q, const s3_resp *r, CURLcode cc,
                           const char *curl_err, const char *w, char *err, size_t errlen) {
  if (r->aborted) {
    errbuf_set(err, errlen, "%s: aborted by the receiver", w);
    return BLOB_EIO;
  }
  if (r->toobig) {
    errbuf_set(err, errlen, "%s: object is over the limit of %zu bytes", w, q->max_bytes);
    return BLOB_ETOOBIG;
  }
  if (r->oom) {
    errbuf_set(err, errlen, "%s: out of memory", w);
    return BLOB_ENOMEM;
  }
  if (cc == CURLE_OK) return 0;
  errbuf_set(err, errlen, "%s: %s (%s)", w, curl_err[0] ? curl_err : curl_easy_strerror(cc),
             s->c.base);
  return curl_transient(cc) ? 1 : BLOB_EIO;
}

/*
 * One attempt. Returns 0, a final BLOB_E* code, or 1 for "transient, may be
 * retried" (with the message already in err).
 */
static int perform_once(s3_store *s, const s3_req *q, s3_resp *r, char *err, size_t errlen) {
  char w[512];
  what(s, q, w, sizeof w);
  CURL *c = thread_handle(s);
  if (!c) {
    errbuf_set(err, errlen, "%s: cannot create a curl handle", w);
    return BLOB_ENOMEM;
  }
  r->curl = c;
  r->req = q;
  s3_wire wr = {0};
  if (wire_target(s, q, &wr) != 0) {
    wire_free(&wr);
    errbuf_set(err, errlen, "%s: out of memory", w);
    return BLOB_ENOMEM;
  }
  int rc = wire_sign(s, q, &wr, w, err, errlen);
  if (rc) {
    wire_free(&wr);
    return rc;
  }
  char curl_err[CURL_ERROR_SIZE] = "";
  curl_setup(s, q, r, c, &wr, curl_err);
  CURLcode cc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  /* Keep the handle free of pointers into this frame. */
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  wire_free(&wr);

  rc = transfer_result(s, q, r, cc, curl_err, w, err, errlen);
  if (rc) return rc;
  if (r->status >= 200 && r->status < 300) {
    fill_info_from(r, q->info);
    if (q->info && !strcmp(q->method, "GET") && !q->write) q->info->size = r->len;
    return 0;
  }
  return status_result(r, w, err, errlen);
}

static void backoff_sleep(const s3_store *s, long attempt) {
  if (s->c.backoff_ms <= 0) return;
  long ms = s->c.backoff_ms;
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
  for (long attempt = 0; attempt <= s->c.retries; attempt++) {
    free(r->body);
    memset(r, 0, sizeof *r);
    rc = perform_once(s, q, r, err, errlen);
    if (rc != 1) return rc;
    if (r->delivered) {
      size_t n = strlen(err);
      snprintf(err + n, errlen - n, " (not retried: part of the object was already delivered)");
      return BLOB_ERETRY;
    }
    if (attempt < s->c.retries) backoff_sleep(s, attempt);
  }
  size_t n = strlen(err);
  snprintf(err + n, errlen - n, " (gave up after %ld attempts)", s->c.retries + 1);
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
    if (!r.body) {
      errbuf_set(err, errlen, "s3 GET %s: out of memory", key);
      return BLOB_ENOMEM;
    }
    r.body[0] = '\0';
  }
  if (r.has_length && r.content_length != r.len) {
    free(r.body);
    errbuf_set(err, errlen, "s3 GET %s: got %zu bytes, Content-Length said %llu", key, r.len,
               (unsigned long long)r.content_length);
    return BLOB_ERETRY;
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
    if (rc2 == rc && strstr(e2, ": ")) errbuf_set(err, errlen, "%s", e2);
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
  const char *prefix; /* blob.c's copy */
  s3_list_page page;  /* the current page; its token asks for the next */
  size_t i;           /* next item of the page */
  int started;
} s3_iter;

static int s3_list_open(void *impl, const char *prefix, void **state, char *err, size_t errlen) {
  s3_iter *it = calloc(1, sizeof *it);
  if (!it) {
    errbuf_set(err, errlen, "s3 LIST: out of memory");
    return BLOB_ENOMEM;
  }
  it->s = impl;
  it->prefix = prefix;
  *state = it;
  return 0;
}

static int fetch_page(s3_iter *it, char *err, size_t errlen) {
  sigv4_kv qs[3] = {
      {"list-type", "2"}, {"prefix", it->prefix}, {"continuation-token", it->page.next_token}};
  size_t nq = it->page.next_token ? 3 : 2;
  s3_req q = {.op = "LIST", .method = "GET", .key = NULL, .query = qs, .nquery = nq};
  s3_resp r = {0};
  int rc = perform(it->s, &q, &r, err, errlen);
  if (rc) {
    free(r.body);
    return rc;
  }
  s3_list_page page;
  rc = s3_xml_parse_list(r.body, r.len, &page);
  free(r.body);
  if (rc < 0) {
    errbuf_set(err, errlen, "s3 LIST bucket %s prefix \"%s\": malformed ListObjectsV2 response",
               it->s->c.bucket, it->prefix);
    return BLOB_EIO;
  }
  s3_list_page_free(&it->page);
  it->page = page;
  it->i = 0;
  it->started = 1;
  if (it->page.truncated && !it->page.next_token) {
    errbuf_set(err, errlen, "s3 LIST bucket %s: truncated page without NextContinuationToken",
               it->s->c.bucket);
    return BLOB_EIO;
  }
  return 0;
}

static int s3_list_next(void *state, const char **key, blob_info *info, char *err,
                        size_t errlen) {
  s3_iter *it = state;
  while (it->i >= it->page.n) {
    if (it->started && !it->page.truncated) return 0;
    int rc = fetch_page(it, err, errlen);
    if (rc) return rc;
  }
  const s3_list_item *li = &it->page.items[it->i++];
  *key = li->key;
  *info = li->info;
  return 1;
}

static void s3_list_free(void *state) {
  s3_iter *it = state;
  if (!it) return;
  s3_list_page_free(&it->page);
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
