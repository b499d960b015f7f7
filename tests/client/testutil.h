/*
 * testutil.h — the few helpers the client and scraper test programs share:
 * checks that count failures instead of aborting (so one run reports every
 * broken case), starting a helper server process and reading the port it
 * bound, and removing a temporary directory. Header-only; each test program
 * is one translation unit.
 */
#ifndef PGOPIPE_TESTS_CLIENT_TESTUTIL_H
#define PGOPIPE_TESTS_CLIENT_TESTUTIL_H

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int t_failures, t_checks;

#define CHECK(cond)                                                                 \
  do {                                                                              \
    t_checks++;                                                                     \
    if (!(cond)) {                                                                  \
      t_failures++;                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
    }                                                                               \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                                 \
  do {                                                                              \
    t_checks++;                                                                     \
    const char *h_ = (hay), *n_ = (needle);                                         \
    if (!h_ || !strstr(h_, n_)) {                                                   \
      t_failures++;                                                                 \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
              h_ ? h_ : "(null)", n_);                                              \
    }                                                                               \
  } while (0)

static inline int t_report(const char *name) {
  fprintf(stderr, "%s: %d checks, %d failed\n", name, t_checks, t_failures);
  return t_failures ? 1 : 0;
}

static inline void t_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Starts argv[0] with argv; returns the pid (or -1). */
static inline pid_t t_spawn(char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

/* Waits up to timeout_ms for `file` to hold a number; returns it or -1. */
static inline long t_wait_number_file(const char *file, long timeout_ms) {
  for (long waited = 0; waited <= timeout_ms; waited += 20) {
    FILE *f = fopen(file, "r");
    if (f) {
      long v = -1;
      int ok = fscanf(f, "%ld", &v) == 1;
      fclose(f);
      if (ok) return v;
    }
    t_sleep_ms(20);
  }
  return -1;
}

/* SIGTERM, then SIGKILL after 5 s; reaps the process. */
static inline void t_stop(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 250; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid) return;
    t_sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static inline int t_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static inline void t_rm_rf(const char *dir) { nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

#endif
