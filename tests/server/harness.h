/*
 * harness.h — what the server integration tests add to tests/common:
 * starting a real pgopipe-server process (fork/exec, log to a file, port read
 * from its "listening" log line), stopping it by PID, running a command to
 * completion, and checking the API's JSON error bodies. Header-only: each
 * test program includes it once.
 */
#ifndef PGOPIPE_TEST_HARNESS_H
#define PGOPIPE_TEST_HARNESS_H

#include "../common/check.h"
#include "../common/http.h"
#include "../common/proc.h"

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
  argv[n++] = (char *)(uintptr_t)bin;
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
  int64_t deadline = t_now_ms() + 20000;
  while (t_now_ms() < deadline) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = 0;
      if (exit_status) *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return -1;
    }
    size_t len;
    char *text = (char *)t_read_file(logpath, &len);
    const char *p = text ? strstr(text, "\"msg\":\"listening\"") : NULL;
    if (p && (p = strstr(p, "\"port\":"))) {
      s->port = atoi(p + 7);
      free(text);
      return 0;
    }
    free(text);
    t_sleep_ms(20);
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
  int64_t deadline = t_now_ms() + limit_ms;
  int st;
  while (t_now_ms() < deadline) {
    if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
      s->pid = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    t_sleep_ms(10);
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
  argv[n++] = (char *)(uintptr_t)bin;
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
  int64_t deadline = t_now_ms() + 20000;
  for (;;) {
    if (waitpid(pid, &st, WNOHANG) == pid) {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (t_now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      rc = -2; /* still running: it started serving */
      break;
    }
    t_sleep_ms(10);
  }
  close(fd);
  size_t len;
  *out = (char *)t_read_file(path, &len);
  if (!*out) *out = calloc(1, 1);
  unlink(path);
  return rc;
}

/* {"message": string, "code": N} with N == status? Returns 1 when so. */
static int is_error_body(const http_resp *r) {
  json_t *o = json_loads(r->body, 0, NULL);
  int ok = o && json_is_string(json_object_get(o, "message")) &&
           json_integer_value(json_object_get(o, "code")) == r->status && json_object_size(o) == 2;
  json_decref(o);
  return ok;
}

#define CHECK_ERROR(resp_, status_)                                                  \
  do {                                                                               \
    CHECK_EQ((resp_).status, (status_));                                            \
    CHECK(is_error_body(&(resp_)));                                                  \
    if ((resp_).status != (status_)) fprintf(stderr, "  body: %s\n", (resp_).body);  \
  } while (0)

#endif
