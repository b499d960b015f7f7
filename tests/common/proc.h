/*
 * proc.h — processes and files for the C test programs: the monotonic clock
 * and sleeps, starting a helper process and reading the number (a port) it
 * writes to a file, stopping it by PID, reading a whole file and removing a
 * temporary directory. Header-only (static inline), for one or more
 * translation units of a program.
 */
#ifndef PGOPIPE_TESTS_COMMON_PROC_H
#define PGOPIPE_TESTS_COMMON_PROC_H

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Monotonic clock in milliseconds. */
static inline int64_t t_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds (resumed after a signal). */
static inline void t_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Starts argv[0] with argv (NULL-terminated); returns the pid (or -1). */
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

/* Reads a whole file; *len set; NUL-terminated; NULL if unreadable. The
 * caller frees the result. */
static inline uint8_t *t_read_file(const char *path, size_t *len) {
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

/* Reads DIR/NAME, a generated fixture, whole (as t_read_file); exits
 * with a message naming it when it is missing. */
static inline uint8_t *t_read_fixture(const char *dir, const char *name, size_t *len) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  uint8_t *b = t_read_file(p, len);
  if (!b) {
    fprintf(stderr, "missing %s (run gen-profiles.sh)\n", p);
    exit(1);
  }
  return b;
}

static inline int t_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

/* Removes dir and everything under it. */
static inline void t_rm_rf(const char *dir) { nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

#endif
