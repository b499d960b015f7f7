/*
 * http.h — the HTTP client of the C test programs, on libcurl: one request,
 * its status, headers and body in memory (http_url, http_do), a response
 * header by name, and a loopback port nothing listens on. Header-only
 * (static inline); link the program with libcurl.
 */
#ifndef PGOPIPE_TESTS_COMMON_HTTP_H
#define PGOPIPE_TESTS_COMMON_HTTP_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* An answer. status is -1 when no answer came (connection or timeout);
 * body is NUL-terminated and never NULL (the caller frees it, or calls
 * http_resp_free); headers holds the raw header lines (truncated). */
typedef struct http_resp {
  long status;
  char *body;
  size_t len;
  char headers[8192];
  double secs; /* time the request took */
} http_resp;

static inline size_t http_on_body_(char *p, size_t sz, size_t n, void *ud) {
  http_resp *r = ud;
  r->body = realloc(r->body, r->len + sz * n + 1);
  memcpy(r->body + r->len, p, sz * n);
  r->len += sz * n;
  r->body[r->len] = '\0';
  return sz * n;
}

static inline size_t http_on_header_(char *p, size_t sz, size_t n, void *ud) {
  http_resp *r = ud;
  size_t room = sizeof r->headers - strlen(r->headers) - 1;
  strncat(r->headers, p, sz * n < room ? sz * n : room);
  return sz * n;
}

typedef struct http_src_ {
  const uint8_t *data;
  size_t len, off, chunk;
} http_src_;

static inline size_t http_on_read_(char *buf, size_t sz, size_t n, void *ud) {
  http_src_ *s = ud;
  size_t k = s->len - s->off;
  if (k > sz * n) k = sz * n;
  if (k > s->chunk) k = s->chunk;
  memcpy(buf, s->data + s->off, k);
  s->off += k;
  return k;
}

/*
 * One request to url. body (blen bytes; NULL = none) is sent with
 * Content-Length when chunk is 0, else with Transfer-Encoding: chunked in
 * chunks of at most chunk bytes (SIZE_MAX: as large as libcurl reads).
 * hdrs: NULL-terminated extra request headers, or NULL. The request fails
 * (status -1) after timeout_ms.
 */
static inline http_resp http_url(const char *method, const char *url, const void *body, size_t blen,
                                 size_t chunk, const char *const *hdrs, long timeout_ms) {
  http_resp r;
  memset(&r, 0, sizeof r);
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  http_src_ src = {body, blen, 0, chunk};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body_);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header_);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  h = curl_slist_append(h, "Expect:");
  for (int i = 0; hdrs && hdrs[i]; i++) h = curl_slist_append(h, hdrs[i]);
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (body && chunk) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, http_on_read_);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    h = curl_slist_append(h, "Transfer-Encoding: chunked");
  } else if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (curl_easy_perform(c) != CURLE_OK) r.status = -1;
  else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r.secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (!r.body) r.body = calloc(1, 1);
  return r;
}

/* One request to http://127.0.0.1:port + path, 60 s at most; chunked
 * non-zero sends the body with Transfer-Encoding: chunked. */
static inline http_resp http_do(int port, const char *method, const char *path, const void *body,
                                size_t blen, int chunked, const char *const *hdrs) {
  char url[1024];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  return http_url(method, url, body, blen, chunked ? SIZE_MAX : 0, hdrs, 60000);
}

static inline void http_resp_free(http_resp *r) {
  free(r->body);
  r->body = NULL;
}

/* Value of a response header (case-insensitive name) into buf; 0 if found. */
static inline int http_resp_header(const http_resp *r, const char *name, char *buf, size_t n) {
  size_t nl = strlen(name);
  const char *p = r->headers;
  while (p && *p) {
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      p += nl + 1;
      while (*p == ' ') p++;
      size_t l = strcspn(p, "\r\n");
      if (l >= n) l = n - 1;
      memcpy(buf, p, l);
      buf[l] = '\0';
      return 0;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

/* A port on 127.0.0.1 with nothing listening: bound, read, closed again. */
static inline int http_dead_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  return ntohs(a.sin_port);
}

#endif
