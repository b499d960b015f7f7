/*
 * client.c — the pgopipe server API over libcurl.
 *
 * Every call is one client_req: a curl easy handle plus what is needed to
 * read its answer (a capped in-memory body for JSON and error answers, or a
 * file descriptor for a streamed download, and the ETag header). The
 * blocking calls perform a request on the spot; the scraper adds the same
 * requests to its multi handle. Answers are interpreted in one place
 * (req_result), so "what counts as success, what is worth a retry and what
 * message the user sees" is decided identically for both.
 *
 * Connection reuse between blocking calls comes from a curl share handle
 * holding the connection cache: `pgopipe clean` lists and then deletes
 * several apps over one connection.
 */
#include "client.h"

#include "chrono.h"
#include "errbuf.h"
#include "layout.h"
#include "pgopipe_version.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct client_req {
  CURL *easy;
  struct curl_slist *headers;
  char *url;
  char *what;            /* "METHOD URL" */
  /* in-memory answer body (JSON, error messages), capped */
  char *body;
  size_t body_len, body_cap, body_max;
  int body_truncated;
  /* streamed download: the body of a 200 goes to fd instead */
  int fd;                /* -1 when not streaming */
  int write_errno;       /* errno of a failed write(2) to fd */
  uint64_t written;
  client_progress_fn progress;
  void *progress_ud;
  char etag[128];
  char filename[256];    /* Content-Disposition filename="...", as sent */
  long retry_after_ms;
  char key[512];
  char errbuf[CURL_ERROR_SIZE];
  int finished;
};

struct client {
  client_config cfg;
  char *api_url;
  char *token;
  CURLSH *share;
  uint64_t rng;
};

const char *client_strerror(int code) {
  switch (code) {
  case CLIENT_OK: return "ok";
  case CLIENT_ENOMEM: return "out of memory";
  case CLIENT_EINVAL: return "invalid argument";
  case CLIENT_ENET: return "network error";
  case CLIENT_EHTTP: return "server error";
  case CLIENT_EPROTO: return "bad answer";
  case CLIENT_EIO: return "file error";
  default: return "unknown error";
  }
}

/* Makes a message one line: text from a server, curl or the command line
 * must not break the caller's log line. */
static void one_line(char *err, size_t errlen) {
  if (!err || errlen == 0) return;
  for (char *p = err; *p; p++)
    if ((unsigned char)*p < 0x20) *p = ' ';
}

static long cfg_long(long v, long def) { return v > 0 ? v : def; }

long client_backoff_ms(const client_config *cfg, int attempt, double rnd) {
  long base = cfg_long(cfg ? cfg->backoff_ms : 0, CLIENT_DEFAULT_BACKOFF_MS);
  long cap = cfg_long(cfg ? cfg->backoff_max_ms : 0, CLIENT_DEFAULT_BACKOFF_MAX_MS);
  if (attempt < 1) attempt = 1;
  long d = base;
  for (int i = 1; i < attempt && d < cap; i++) d *= 2;
  if (d > cap) d = cap;
  if (rnd < 0) rnd = 0;
  if (rnd > 1) rnd = 1;
  return (long)((double)d * (0.5 + 0.5 * rnd));
}

/* ---- request plumbing ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  client_req *r = ud;
  size_t n = size * nmemb;
  if (r->fd >= 0) {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) {
      size_t off = 0;
      while (off < n) {
        ssize_t w = write(r->fd, ptr + off, n - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          r->write_errno = errno;
          return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
        }
        off += (size_t)w;
      }
      r->written += n;
      return n;
    }
  }
  /* in memory, capped: beyond the cap the rest is read and dropped */
  size_t room = r->body_max > r->body_len ? r->body_max - r->body_len : 0;
  size_t take = n < room ? n : room;
  if (take < n) r->body_truncated = 1;
  if (take) {
    if (r->body_len + take + 1 > r->body_cap) {
      size_t cap = r->body_cap ? r->body_cap : 1024;
      while (cap < r->body_len + take + 1) cap *= 2;
      char *nb = realloc(r->body, cap);
      if (!nb) return 0;
      r->body = nb;
      r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, ptr, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
  }
  return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
  client_req *r = ud;
  size_t n = size * nitems;
  if (n > 5 && strncasecmp(buf, "etag:", 5) == 0) {
    const char *v = buf + 5;
    size_t vl = n - 5;
    while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
    if (vl >= sizeof r->etag) vl = sizeof r->etag - 1;
    memcpy(r->etag, v, vl);
    r->etag[vl] = '\0';
  }
  if (n > 20 && strncasecmp(buf, "content-disposition:", 20) == 0) {
    /* filename="NAME" (or filename=NAME); anything odd is left to the caller's check */
    const char *end = buf + n, *v = buf + 20;
    for (; v + 9 <= end; v++)
      if (strncasecmp(v, "filename=", 9) == 0 && (v == buf + 20 || v[-1] == ' ' || v[-1] == ';')) break;
    if (v + 9 <= end) {
      v += 9;
      int quoted = v < end && *v == '"';
      if (quoted) v++;
      size_t l = 0;
      while (v + l < end && v[l] != (quoted ? '"' : ';') && v[l] != '\r' && v[l] != '\n' && l + 1 < sizeof r->filename)
        l++;
      memcpy(r->filename, v, l);
      r->filename[l] = '\0';
    }
  }
  if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
    const char *v = buf + 12;
    while (*v == ' ' || *v == '\t') v++;
    long secs = 0;
    int digits = 0;
    while (v < buf + n && *v >= '0' && *v <= '9' && secs < 86400) {
      secs = secs * 10 + (*v++ - '0');
      digits++;
    }
    if (digits) r->retry_after_ms = secs * 1000;
  }
  return n;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow) {
  client_req *r = ud;
  if (r->progress && r->fd >= 0 && dlnow > 0)
    r->progress(r->progress_ud, (uint64_t)dlnow, dltotal > 0 ? (uint64_t)dltotal : 0);
  return 0;
}

static char *strdup_s(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Builds a request for METHOD {api_url}/api/profile[/app]. */
static client_req *req_new(const client_config *cfg, const char *method, const char *app,
                           char *err, size_t errlen) {
  if (!cfg || !cfg->api_url || !*cfg->api_url) {
    errbuf_set(err, errlen, "no API URL given (--api-url or PGOPIPE_API_URL)");
    return NULL;
  }
  if (app && !layout_app_valid(app)) {
    errbuf_set(err, errlen, "invalid app name \"%s\": want 1-63 characters of a-z, 0-9 and '-'",
               app);
    one_line(err, errlen);
    return NULL;
  }
  client_req *r = calloc(1, sizeof *r);
  if (!r) goto nomem;
  r->fd = -1;
  r->body_max = cfg->max_response_bytes ? cfg->max_response_bytes : CLIENT_DEFAULT_MAX_RESPONSE;
  size_t bl = strlen(cfg->api_url);
  while (bl && cfg->api_url[bl - 1] == '/') bl--;
  size_t ul = bl + sizeof "/api/profile/" + (app ? strlen(app) : 0);
  r->url = malloc(ul);
  if (!r->url) goto nomem;
  snprintf(r->url, ul, "%.*s/api/profile%s%s", (int)bl, cfg->api_url, app ? "/" : "",
           app ? app : "");
  size_t wl = strlen(method) + 1 + strlen(r->url) + 1;
  r->what = malloc(wl);
  if (!r->what) goto nomem;
  snprintf(r->what, wl, "%s %s", method, r->url);

  r->easy = curl_easy_init();
  if (!r->easy) goto nomem;
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "pgopipe/" PGOPIPE_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   cfg_long(cfg->connect_timeout_ms, CLIENT_DEFAULT_CONNECT_TIMEOUT_MS));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg_long(cfg->timeout_ms, CLIENT_DEFAULT_TIMEOUT_MS));
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (strcmp(method, "GET") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (cfg->token && *cfg->token) {
    size_t hl = strlen(cfg->token) + sizeof "Authorization: Bearer ";
    char *h = malloc(hl);
    if (!h) goto nomem;
    snprintf(h, hl, "Authorization: Bearer %s", cfg->token);
    struct curl_slist *l = curl_slist_append(r->headers, h);
    free(h);
    if (!l) goto nomem;
    r->headers = l;
  }
  /* no "Expect: 100-continue" round trip on uploads */
  struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
  if (!l) goto nomem;
  r->headers = l;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  return r;
nomem:
  errbuf_set(err, errlen, "out of memory building a request");
  client_req_free(r);
  return NULL;
}

void client_req_free(client_req *r) {
  if (!r) return;
  if (r->easy) curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  free(r->url);
  free(r->what);
  free(r->body);
  free(r);
}

CURL *client_req_easy(client_req *r) { return r->easy; }
const char *client_req_what(const client_req *r) { return r->what; }
const char *client_req_key(const client_req *r) { return r->key; }
long client_req_retry_after_ms(const client_req *r) { return r->retry_after_ms; }

long client_retry_delay_ms(const client_config *cfg, int attempt, double rnd, long retry_after_ms) {
  long d = client_backoff_ms(cfg, attempt, rnd);
  long cap = cfg_long(cfg ? cfg->backoff_max_ms : 0, CLIENT_DEFAULT_BACKOFF_MAX_MS);
  if (retry_after_ms > d) d = retry_after_ms < cap ? retry_after_ms : cap;
  return d;
}

/* Short message from an error answer: the JSON "message" when there is one,
 * else the first line of the body, else nothing. */
static void answer_message(const client_req *r, char *out, size_t outlen) {
  out[0] = '\0';
  if (!r->body || r->body_len == 0) return;
  json_error_t je;
  json_t *j = json_loadb(r->body, r->body_len, 0, &je);
  if (j) {
    json_t *m = json_is_object(j) ? json_object_get(j, "message") : NULL;
    if (json_is_string(m)) snprintf(out, outlen, "%s", json_string_value(m));
    json_decref(j);
    if (out[0]) return;
  }
  size_t n = 0;
  while (n < r->body_len && r->body[n] != '\n' && n + 1 < outlen && n < 200) n++;
  snprintf(out, outlen, "%.*s", (int)n, r->body);
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) *p = '?';
}

/*
 * The one place that decides what an answer means. ok_status lists the
 * success codes (0-terminated).
 */
static int req_result(client_req *r, CURLcode cc, const long *ok_status, long *status,
                      int *transient, char *err, size_t errlen) {
  long code = 0;
  int tr = 0, rc = CLIENT_OK;
  r->finished = 1;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  if (cc != CURLE_OK) {
    const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
      errbuf_set(err, errlen, "%s: cannot connect: %s", r->what, detail);
      tr = 1;
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      errbuf_set(err, errlen, "%s: cannot resolve host: %s", r->what, detail);
      tr = 1;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      errbuf_set(err, errlen, "%s: timed out: %s", r->what, detail);
      tr = 1;
      break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      errbuf_set(err, errlen, "%s: connection failed: %s", r->what, detail);
      tr = 1;
      break;
    case CURLE_WRITE_ERROR:
      if (r->write_errno) {
        errbuf_set(err, errlen, "%s: writing the answer to a file: %s", r->what,
                   strerror(r->write_errno));
        rc = CLIENT_EIO;
        goto out;
      }
      errbuf_set(err, errlen, "%s: %s", r->what, detail);
      break;
    default:
      errbuf_set(err, errlen, "%s: %s", r->what, detail);
      break;
    }
    rc = CLIENT_ENET;
    goto out;
  }
  for (const long *s = ok_status; *s; s++)
    if (code == *s) goto out;
  {
    char msg[512];
    answer_message(r, msg, sizeof msg);
    if (msg[0])
      errbuf_set(err, errlen, "%s: %ld: %s", r->what, code, msg);
    else
      errbuf_set(err, errlen, "%s: HTTP status %ld", r->what, code);
    tr = code >= 500 || code == 429;
    rc = CLIENT_EHTTP;
  }
out:
  if (rc != CLIENT_OK)
    one_line(err, errlen);
  if (status) *status = code;
  if (transient) *transient = tr;
  return rc;
}

/* Appends "?kind=...&instance=...&source=scraper" (what q sets) to the
 * request's URL and to its description. Returns 0 or -1 (no memory). */
static int add_upload_query(client_req *r, const client_upload_query *q) {
  if (!q || (!(q->kind && *q->kind) && !(q->instance && *q->instance) && !q->scraper)) return 0;
  char *k = q->kind && *q->kind ? curl_easy_escape(r->easy, q->kind, 0) : NULL;
  char *i = q->instance && *q->instance ? curl_easy_escape(r->easy, q->instance, 0) : NULL;
  size_t n = strlen(r->url) + (k ? strlen(k) : 0) + (i ? strlen(i) : 0) + 64;
  char *url = malloc(n), *what = malloc(n + 16);
  int ok = url && what && (!(q->kind && *q->kind) || k) && (!(q->instance && *q->instance) || i);
  if (ok) {
    int w = snprintf(url, n, "%s", r->url);
    char sep = '?';
    if (k) w += snprintf(url + w, n - (size_t)w, "%ckind=%s", sep, k), sep = '&';
    if (i) w += snprintf(url + w, n - (size_t)w, "%cinstance=%s", sep, i), sep = '&';
    if (q->scraper) snprintf(url + w, n - (size_t)w, "%csource=scraper", sep);
    snprintf(what, n + 16, "POST %s", url);
    free(r->url);
    free(r->what);
    r->url = url;
    r->what = what;
    curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
  } else {
    free(url);
    free(what);
  }
  curl_free(k);
  curl_free(i);
  return ok ? 0 : -1;
}

client_req *client_req_upload(const client_config *cfg, const char *app, const uint8_t *body,
                              size_t len, char *err, size_t errlen) {
  return client_req_upload_with(cfg, app, NULL, body, len, err, errlen);
}

client_req *client_req_upload_with(const client_config *cfg, const char *app, const client_upload_query *q,
                                    const uint8_t *body, size_t len, char *err, size_t errlen) {
  client_req *r = req_new(cfg, "POST", app, err, errlen);
  if (!r) return NULL;
  if (add_upload_query(r, q) != 0) {
    errbuf_set(err, errlen, "out of memory building a request");
    client_req_free(r);
    return NULL;
  }
  curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
  /* never NULL: with NULL postfields curl would read the body from stdin */
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  struct curl_slist *l = curl_slist_append(r->headers, "Content-Type: application/octet-stream");
  if (!l) {
    errbuf_set(err, errlen, "out of memory building a request");
    client_req_free(r);
    return NULL;
  }
  r->headers = l;
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
  return r;
}

int client_req_finish(client_req *r, CURLcode cc, long *status, int *transient, char *err,
                      size_t errlen) {
  static const long ok[] = {201, 200, 0};
  int rc = req_result(r, cc, ok, status, transient, err, errlen);
  if (rc != CLIENT_OK) return rc;
  json_error_t je;
  json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
  json_t *k = json_is_object(j) ? json_object_get(j, "key") : NULL;
  if (!json_is_string(k)) {
    errbuf_set(err, errlen, "%s: answer has no \"key\" (body %.80s)", r->what,
               r->body ? r->body : "");
    one_line(err, errlen);
    json_decref(j);
    if (transient) *transient = 0;
    return CLIENT_EPROTO;
  }
  snprintf(r->key, sizeof r->key, "%s", json_string_value(k));
  json_decref(j);
  return CLIENT_OK;
}

/* ---- blocking client ---- */

client_t *client_new(const client_config *cfg, char *err, size_t errlen) {
  if (!cfg || !cfg->api_url || !*cfg->api_url) {
    errbuf_set(err, errlen, "no API URL given (--api-url or PGOPIPE_API_URL)");
    return NULL;
  }
  if (strncmp(cfg->api_url, "http://", 7) != 0 && strncmp(cfg->api_url, "https://", 8) != 0) {
    errbuf_set(err, errlen, "API URL \"%s\" must start with http:// or https://", cfg->api_url);
    one_line(err, errlen);
    return NULL;
  }
  client_t *c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  c->cfg = *cfg;
  c->api_url = strdup_s(cfg->api_url);
  if (!c->api_url) goto nomem;
  if (cfg->token) {
    c->token = strdup_s(cfg->token);
    if (!c->token) goto nomem;
  }
  c->cfg.api_url = c->api_url;
  c->cfg.token = c->token;
  c->share = curl_share_init();
  if (!c->share) goto nomem;
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
  return c;
nomem:
  errbuf_set(err, errlen, "out of memory");
  client_free(c);
  return NULL;
}

void client_free(client_t *c) {
  if (!c) return;
  if (c->share) curl_share_cleanup(c->share);
  free(c->api_url);
  free(c->token);
  free(c);
}

static double rng_unit(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return (double)(x >> 11) / (double)(1ull << 53);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static CURLcode perform(client_t *c, client_req *r) {
  curl_easy_setopt(r->easy, CURLOPT_SHARE, c->share);
  CURLcode cc = curl_easy_perform(r->easy);
  /* detach so the request's handle may be freed independently of the share */
  curl_easy_setopt(r->easy, CURLOPT_SHARE, NULL);
  return cc;
}

int client_upload(client_t *c, const char *app, const uint8_t *body, size_t len, char *key,
                  size_t keylen, int *attempts, char *err, size_t errlen) {
  return client_upload_with(c, app, NULL, body, len, key, keylen, attempts, err, errlen);
}

int client_upload_with(client_t *c, const char *app, const client_upload_query *q, const uint8_t *body, size_t len,
                        char *key, size_t keylen, int *attempts, char *err, size_t errlen) {
  int max = c->cfg.upload_attempts > 0 ? c->cfg.upload_attempts : CLIENT_DEFAULT_ATTEMPTS;
  int rc = CLIENT_EINVAL, n = 0;
  if (key && keylen) key[0] = '\0';
  for (n = 1; n <= max; n++) {
    client_req *r = client_req_upload_with(&c->cfg, app, q, body, len, err, errlen);
    if (!r) {
      rc = layout_app_valid(app) ? CLIENT_ENOMEM : CLIENT_EINVAL;
      break;
    }
    int transient = 0;
    CURLcode cc = perform(c, r);
    rc = client_req_finish(r, cc, NULL, &transient, err, errlen);
    if (rc == CLIENT_OK && key && keylen) snprintf(key, keylen, "%s", r->key);
    long retry_after = r->retry_after_ms;
    client_req_free(r);
    if (rc == CLIENT_OK || !transient || n == max) break;
    sleep_ms(client_retry_delay_ms(&c->cfg, n, rng_unit(&c->rng), retry_after));
  }
  if (n > max) n = max;
  if (rc != CLIENT_OK && n > 1 && err && errlen) {
    size_t l = strlen(err);
    snprintf(err + l, errlen - l, " (after %d attempts)", n);
  }
  if (attempts) *attempts = n;
  return rc;
}

/* Appends "?k=v&..." for the parameters given (values URL-encoded) to the
 * request's URL. Returns 0 or -1 when out of memory. */
static int req_add_query(client_req *r, const char *const *kv, size_t n) {
  size_t need = strlen(r->url) + 1;
  char *esc[8] = {0};
  int rc = -1;
  for (size_t i = 0; i + 1 < n && i / 2 < 8; i += 2) {
    if (!kv[i + 1]) continue;
    esc[i / 2] = curl_easy_escape(r->easy, kv[i + 1], 0);
    if (!esc[i / 2]) goto out;
    need += strlen(kv[i]) + strlen(esc[i / 2]) + 2;
  }
  char *url = malloc(need), *what = malloc(need + 8);
  if (!url || !what) {
    free(url);
    free(what);
    goto out;
  }
  size_t off = (size_t)snprintf(url, need, "%s", r->url);
  char sep = '?';
  for (size_t i = 0; i + 1 < n && i / 2 < 8; i += 2) {
    if (!esc[i / 2]) continue;
    off += (size_t)snprintf(url + off, need - off, "%c%s=%s", sep, kv[i], esc[i / 2]);
    sep = '&';
  }
  /* "GET URL": the method is the first word of what */
  snprintf(what, need + 8, "%.*s%s", (int)(strcspn(r->what, " ") + 1), r->what, url);
  free(r->url);
  free(r->what);
  r->url = url;
  r->what = what;
  curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
  rc = 0;
out:
  for (size_t i = 0; i < 8; i++) curl_free(esc[i]);
  return rc;
}

/* A name the server proposed is used as a file name in the current
 * directory only when it is plain: letters, digits, '.', '-', '_', not
 * starting with '.', not empty. */
static int plain_file_name(const char *s) {
  if (!*s || *s == '.') return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_') return 0;
  return 1;
}

/* Where the body goes: standard output, or (without a name yet) a new
 * temporary file next to out_path or in the current directory (*tmp, its
 * name, the caller's). */
static int download_target(client_req *r, const char *out_path, int to_stdout, char **tmp, char *err,
                           size_t errlen) {
  if (to_stdout) {
    r->fd = STDOUT_FILENO;
    return CLIENT_OK;
  }
  const char *base = out_path ? out_path : "pgopipe-download";
  size_t tl = strlen(base) + sizeof ".tmp-XXXXXX";
  *tmp = malloc(tl);
  if (!*tmp) {
    errbuf_set(err, errlen, "out of memory");
    return CLIENT_ENOMEM;
  }
  snprintf(*tmp, tl, "%s.tmp-XXXXXX", base);
  r->fd = mkstemp(*tmp);
  if (r->fd < 0) {
    errbuf_set(err, errlen, "cannot create a temporary file next to %s: %s",
               out_path ? out_path : "the current directory's files", strerror(errno));
    free(*tmp);
    *tmp = NULL;
    return CLIENT_EIO;
  }
  fchmod(r->fd, 0644);
  return CLIENT_OK;
}

/* The transfer's settings: stalls bounded (not the whole transfer),
 * encodings accepted, If-None-Match, the progress callback. */
static int download_options(client_t *c, client_req *r, const client_download_opts *opts, char *err,
                            size_t errlen) {
  /* a large base on a slow link: bound stalls, not the whole transfer */
  long stall = cfg_long(c->cfg.timeout_ms, CLIENT_DEFAULT_TIMEOUT_MS);
  curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 0L);
  curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, stall / 1000 > 0 ? stall / 1000 : 1L);
  /* text formats may come gzip-encoded: curl undoes it */
  curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
  struct curl_slist *inm = NULL;
  if (opts && opts->if_none_match && *opts->if_none_match) {
    size_t hl = strlen(opts->if_none_match) + sizeof "If-None-Match: ";
    char *h = malloc(hl);
    if (h) {
      snprintf(h, hl, "If-None-Match: %s", opts->if_none_match);
      inm = curl_slist_append(r->headers, h);
      free(h);
    }
    if (!inm) {
      errbuf_set(err, errlen, "out of memory");
      return CLIENT_ENOMEM;
    }
    r->headers = inm;
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
  }
  if (opts && opts->progress) {
    r->progress = opts->progress;
    r->progress_ud = opts->progress_ud;
    curl_easy_setopt(r->easy, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(r->easy, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(r->easy, CURLOPT_NOPROGRESS, 0L);
  }
  return CLIENT_OK;
}

/* The temporary file made durable and renamed to its final name. */
static int download_commit(client_req *r, const char *tmp, const char *final, char *err, size_t errlen) {
  if (fsync(r->fd) != 0) {
    errbuf_set(err, errlen, "writing %s: %s", tmp, strerror(errno));
    return CLIENT_EIO;
  }
  int fd = r->fd;
  r->fd = -1;
  if (close(fd) != 0) {
    errbuf_set(err, errlen, "writing %s: %s", tmp, strerror(errno));
    return CLIENT_EIO;
  }
  if (rename(tmp, final) != 0) {
    errbuf_set(err, errlen, "renaming %s to %s: %s", tmp, final, strerror(errno));
    return CLIENT_EIO;
  }
  return CLIENT_OK;
}

int client_download(client_t *c, const char *app, const char *out_path,
                    const client_download_opts *opts, client_download_result *res, char *err,
                    size_t errlen) {
  client_download_result dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  if (out_path && !*out_path) {
    errbuf_set(err, errlen, "no output file given");
    return CLIENT_EINVAL;
  }
  client_req *r = req_new(&c->cfg, "GET", app, err, errlen);
  if (!r)
    return layout_app_valid(app) ? CLIENT_ENOMEM : CLIENT_EINVAL;
  int to_stdout = out_path && strcmp(out_path, "-") == 0;
  char *tmp = NULL;
  int rc;
  if (opts && (opts->kind || opts->format || opts->keep || opts->from || opts->to)) {
    const char *kv[] = {"kind", opts->kind, "format", opts->format, "keep", opts->keep,
                        "from", opts->from, "to", opts->to};
    if (req_add_query(r, kv, sizeof kv / sizeof kv[0]) != 0) {
      errbuf_set(err, errlen, "out of memory");
      rc = CLIENT_ENOMEM;
      goto done;
    }
  }
  if ((rc = download_target(r, out_path, to_stdout, &tmp, err, errlen)) != CLIENT_OK ||
      (rc = download_options(c, r, opts, err, errlen)) != CLIENT_OK)
    goto done;
  static const long ok[] = {200, 304, 0};
  long status = 0;
  rc = req_result(r, perform(c, r), ok, &status, NULL, err, errlen);
  res->bytes = r->written;
  snprintf(res->etag, sizeof res->etag, "%s", r->etag);
  const char *final = to_stdout ? "-" : out_path ? out_path
                                      : plain_file_name(r->filename) ? r->filename
                                                                     : LAYOUT_BASE_NAME;
  snprintf(res->path, sizeof res->path, "%s", final);
  if (rc != CLIENT_OK) goto done;
  if (status == 304) {
    res->not_modified = 1;
    goto done;
  }
  if (!to_stdout && (rc = download_commit(r, tmp, final, err, errlen)) == CLIENT_OK) {
    free(tmp);
    tmp = NULL;
  }
done:
  if (rc != CLIENT_OK)
    one_line(err, errlen);
  if (!to_stdout && r && r->fd >= 0) close(r->fd);
  if (tmp) {
    unlink(tmp);
    free(tmp);
  }
  client_req_free(r);
  return rc;
}

void client_profiles_free(client_profile *p, size_t n) {
  if (!p) return;
  for (size_t i = 0; i < n; i++) {
    free(p[i].app);
    free(p[i].last_modified);
    for (size_t k = 0; k < p[i].nkinds; k++) free(p[i].kinds[k].last_modified);
    free(p[i].kinds);
  }
  free(p);
}

/* A "history" object {"from","to"[,"hours"]} into *h; absent: all empty.
 * Returns 0, or -1 when it is malformed. */
static int list_span(json_t *o, client_span *h) {
  memset(h, 0, sizeof *h);
  if (!o) return 0;
  json_t *f = json_object_get(o, "from"), *t = json_object_get(o, "to"), *n = json_object_get(o, "hours");
  if (!json_is_object(o) || !json_is_string(f) || !json_is_string(t) || (n && !json_is_integer(n))) return -1;
  snprintf(h->from, sizeof h->from, "%s", json_string_value(f));
  snprintf(h->to, sizeof h->to, "%s", json_string_value(t));
  h->hours = n ? (int64_t)json_integer_value(n) : 0;
  return 0;
}

/* The "kinds" of one listed app into p->kinds; without the field, one cpu
 * base with the app's own fields. Returns 0, or -1 (malformed or out of
 * memory; p->kinds then holds what was read, freed with the rest). */
static int list_kinds(json_t *e, client_profile *p) {
  json_t *ks = json_object_get(e, "kinds");
  size_t nk = json_is_array(ks) ? json_array_size(ks) : 1;
  if (ks && !json_is_array(ks)) return -1;
  p->kinds = calloc(nk ? nk : 1, sizeof *p->kinds);
  if (!p->kinds) return -1;
  if (!ks) {
    client_base *b = &p->kinds[p->nkinds++];
    snprintf(b->kind, sizeof b->kind, "cpu");
    b->size = p->size;
    b->last_modified = strdup_s(p->last_modified);
    b->last_modified_ms = p->last_modified_ms;
    return b->last_modified ? 0 : -1;
  }
  for (size_t k = 0; k < nk; k++) {
    json_t *o = json_array_get(ks, k);
    json_t *kd = json_object_get(o, "kind"), *sz = json_object_get(o, "size"), *lm = json_object_get(o, "lastModified");
    if (!json_is_string(kd) || !json_is_integer(sz) || json_integer_value(sz) < 0) return -1;
    client_base *b = &p->kinds[p->nkinds++];
    snprintf(b->kind, sizeof b->kind, "%s", json_string_value(kd));
    b->size = (uint64_t)json_integer_value(sz);
    b->last_modified = strdup_s(json_is_string(lm) ? json_string_value(lm) : "");
    if (!b->last_modified) return -1;
    if (chrono_parse_rfc3339(b->last_modified, &b->last_modified_ms) != 0) b->last_modified_ms = -1;
    if (list_span(json_object_get(o, "history"), &b->history) != 0) return -1;
  }
  return list_span(json_object_get(e, "history"), &p->history);
}

int client_list(client_t *c, client_profile **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  client_req *r = req_new(&c->cfg, "GET", NULL, err, errlen);
  if (!r) return CLIENT_ENOMEM;
  /* a listing can be long: allow it 64 times the error-body bound */
  r->body_max *= 64;
  static const long ok[] = {200, 0};
  int rc = req_result(r, perform(c, r), ok, NULL, NULL, err, errlen);
  if (rc != CLIENT_OK) goto done;
  if (r->body_truncated) {
    errbuf_set(err, errlen, "%s: listing larger than %zu bytes", r->what, r->body_max);
    rc = CLIENT_EPROTO;
    goto done;
  }
  json_error_t je;
  json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
  json_t *arr = json_is_object(j) ? json_object_get(j, "profiles") : NULL;
  if (!json_is_array(arr)) {
    errbuf_set(err, errlen, "%s: answer is not {\"profiles\":[...]}", r->what);
    json_decref(j);
    rc = CLIENT_EPROTO;
    goto done;
  }
  size_t cnt = json_array_size(arr);
  client_profile *ps = calloc(cnt ? cnt : 1, sizeof *ps);
  if (!ps) {
    json_decref(j);
    errbuf_set(err, errlen, "out of memory");
    rc = CLIENT_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < cnt; i++) {
    json_t *e = json_array_get(arr, i);
    json_t *k = json_object_get(e, "key");
    json_t *sz = json_object_get(e, "size");
    json_t *lm = json_object_get(e, "lastModified");
    if (!json_is_string(k) || !json_is_integer(sz) || json_integer_value(sz) < 0) {
      errbuf_set(err, errlen, "%s: profile %zu lacks a string \"key\" or an integer \"size\"",
                 r->what, i);
      client_profiles_free(ps, cnt);
      json_decref(j);
      rc = CLIENT_EPROTO;
      goto done;
    }
    ps[i].app = strdup_s(json_string_value(k));
    ps[i].size = (uint64_t)json_integer_value(sz);
    ps[i].last_modified = strdup_s(json_is_string(lm) ? json_string_value(lm) : "");
    if (!ps[i].app || !ps[i].last_modified) {
      client_profiles_free(ps, cnt);
      json_decref(j);
      errbuf_set(err, errlen, "out of memory");
      rc = CLIENT_ENOMEM;
      goto done;
    }
    if (chrono_parse_rfc3339(ps[i].last_modified, &ps[i].last_modified_ms) != 0)
      ps[i].last_modified_ms = -1;
    if (list_kinds(e, &ps[i]) != 0) {
      client_profiles_free(ps, cnt);
      json_decref(j);
      errbuf_set(err, errlen, "%s: profile %zu has a malformed \"kinds\" list", r->what, i);
      rc = CLIENT_EPROTO;
      goto done;
    }
  }
  json_decref(j);
  *out = ps;
  *n = cnt;
done:
  if (rc != CLIENT_OK)
    one_line(err, errlen);
  client_req_free(r);
  return rc;
}

int client_delete(client_t *c, const char *app, long *status, char *err, size_t errlen) {
  client_req *r = req_new(&c->cfg, "DELETE", app, err, errlen);
  if (!r)
    return layout_app_valid(app) ? CLIENT_ENOMEM : CLIENT_EINVAL;
  static const long ok[] = {200, 204, 0};
  int rc = req_result(r, perform(c, r), ok, status, NULL, err, errlen);
  client_req_free(r);
  return rc;
}
