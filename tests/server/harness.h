/*
 * harness.h — what the server integration tests share: starting a real
 * pgopipe-server process (fork/exec, log to a file, port read from its
 * "listening" log line), stopping it by PID, an HTTP client on libcurl, and
 * file helpers. Header-only: each test program includes it once.
 */
#ifndef PGOPIPE_TEST_HARNESS_H
#define PGOPIPE_TEST_HARNESS_H

#include "check.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t h_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void h_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Reads a whole file; *len set; NUL-terminated; NULL if unreadable. */
static uint8_t *h_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    fclose(f);
    return NULL;
  }
  fclose(f);
  b[n] = 0;
  *len = (size_t)n;
  return b;
}

/* ---- the server process ---- */

typedef struct srv {
  pid_t pid;
  int port;
  char log[512];
} srv;

/*
 * Starts `bin` with the NULL-terminated args (after argv[0]) and extra
 * environment "K=V" strings in env (NULL-terminated, may be NULL), stderr to
 * logpath. Waits up to 20 s for the listening line. Returns 0, or -1 when the
 * process exited (its status in *exit_status when not NULL).
 */
static int srv_start_env(srv *s, const char *bin, const char *logpath, char *const *env, char *const *args,
                         int *exit_status) {
  memset(s, 0, sizeof *s);
  snprintf(s->log, sizeof s->log, "%s", logpath);
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)bin;
  for (int i = 0; args && args[i] && n < 63; i++) argv[n++] = args[i];
  argv[n] = NULL;
  /* Created here, before the child exists: a log left by an earlier process
   * under the same name must not be mistaken for this one's. */
  int lfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (lfd < 0) return -1;
  close(lfd);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(logpath, O_WRONLY | O_APPEND);
    dup2(fd, 2);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    for (int i = 0; env && env[i]; i++) putenv(env[i]);
    execv(bin, argv);
    _exit(127);
  }
  s->pid = pid;
  int64_t deadline = h_now_ms() + 20000;
  while (h_now_ms() < deadline) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = 0;
      if (exit_status) *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return -1;
    }
    size_t len;
    char *text = (char *)h_read_file(logpath, &len);
    const char *p = text ? strstr(text, "\"msg\":\"listening\"") : NULL;
    if (p && (p = strstr(p, "\"port\":"))) {
      s->port = atoi(p + 7);
      free(text);
      return 0;
    }
    free(text);
    h_sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  s->pid = 0;
  if (exit_status) *exit_status = -1;
  return -1;
}

/* Sends sig and waits up to limit_ms for the exit. Returns the exit status
 * (128+signal when killed), or -1 when it had to be SIGKILLed. */
static int srv_stop_sig(srv *s, int sig, int limit_ms) {
  if (!s->pid) return -1;
  kill(s->pid, sig);
  int64_t deadline = h_now_ms() + limit_ms;
  int st;
  while (h_now_ms() < deadline) {
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    h_sleep_ms(10);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
  return -1;
}

static int srv_stop(srv *s) { return srv_stop_sig(s, SIGTERM, 20000); }

/* Runs bin with args to completion (stdout+stderr captured into *out, malloc'd). */
static int run_capture(const char *bin, char *const *args, char *const *env, char **out) {
  char path[] = "/tmp/pgopipe-run-XXXXXX";
  int fd = mkstemp(path);
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)bin;
  for (int i = 0; args && args[i] && n < 63; i++) argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    for (int i = 0; env && env[i]; i++) putenv(env[i]);
    execv(bin, argv);
    _exit(127);
  }
  int st, rc = -1;
  int64_t deadline = h_now_ms() + 20000;
  for (;;) {
    if (waitpid(pid, &st, WNOHANG) == pid) {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (h_now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      rc = -2; /* still running: it started serving */
      break;
    }
    h_sleep_ms(10);
  }
  close(fd);
  size_t len;
  *out = (char *)h_read_file(path, &len);
  if (!*out) *out = calloc(1, 1);
  unlink(path);
  return rc;
}

/* ---- HTTP ---- */

typedef struct resp {
  long status;
  char *body;
  size_t len;
  char headers[8192];
  double secs;
} resp;

static size_t h_on_body(char *p, size_t sz, size_t n, void *ud) {
  resp *r = ud;
  r->body = realloc(r->body, r->len + sz * n + 1);
  memcpy(r->body + r->len, p, sz * n);
  r->len += sz * n;
  r->body[r->len] = '\0';
  return sz * n;
}

static size_t h_on_header(char *p, size_t sz, size_t n, void *ud) {
  resp *r = ud;
  size_t room = sizeof r->headers - strlen(r->headers) - 1;
  strncat(r->headers, p, sz * n < room ? sz * n : room);
  return sz * n;
}

typedef struct h_src {
  const uint8_t *data;
  size_t len, off;
} h_src;

static size_t h_on_read(char *buf, size_t sz, size_t n, void *ud) {
  h_src *s = ud;
  size_t k = s->len - s->off;
  if (k > sz * n) k = sz * n;
  memcpy(buf, s->data + s->off, k);
  s->off += k;
  return k;
}

/* One request. hdrs: NULL-terminated extra headers or NULL. chunked: send the
 * body with Transfer-Encoding: chunked instead of Content-Length. */
static resp http_do(int port, const char *method, const char *path, const void *body, size_t blen, int chunked,
                    const char *const *hdrs) {
  resp r;
  memset(&r, 0, sizeof r);
  char url[1024];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  h_src src = {body, blen, 0};
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, h_on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, h_on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  h = curl_slist_append(h, "Expect:");
  for (int i = 0; hdrs && hdrs[i]; i++) h = curl_slist_append(h, hdrs[i]);
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (body && chunked) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, h_on_read);
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
  int64_t t0 = h_now_ms();
  if (curl_easy_perform(c) != CURLE_OK) r.status = -1;
  else curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.secs = (double)(h_now_ms() - t0) / 1000.0;
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (!r.body) r.body = calloc(1, 1);
  return r;
}

/* Value of a response header (case-insensitive name) into buf; 0 if found. */
static int resp_header(const resp *r, const char *name, char *buf, size_t n) {
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

/* {"message": string, "code": N} with N == status? Returns 1 when so. */
static int is_error_body(const resp *r) {
  json_t *o = json_loads(r->body, 0, NULL);
  int ok = o && json_is_string(json_object_get(o, "message")) &&
           json_integer_value(json_object_get(o, "code")) == r->status && json_object_size(o) == 2;
  json_decref(o);
  return ok;
}

#define CHECK_ERROR(resp_, status_)                                                  \
  do {                                                                               \
    CHECK_INT((resp_).status, (status_));                                            \
    CHECK(is_error_body(&(resp_)));                                                  \
    if ((resp_).status != (status_)) fprintf(stderr, "  body: %s\n", (resp_).body);  \
  } while (0)

#endif
