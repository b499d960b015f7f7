/*
 * check.h — the few assertion helpers the bus tests share: a failed CHECK
 * prints where and why and counts, so one run reports every failure; the
 * test's exit status is check_status().
 */
#ifndef PGOPIPE_TEST_CHECK_H
#define PGOPIPE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>
#include <time.h>

static int check_failures;
static int check_count;

#define CHECK(cond, ...)                                                                \
  do {                                                                                  \
    check_count++;                                                                      \
    if (!(cond)) {                                                                      \
      check_failures++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                                     \
      fputc('\n', stderr);                                                              \
    }                                                                                   \
  } while (0)

/* Checks that rc == want and, if sub is not NULL, that err contains sub. */
#define CHECK_RC(rc, want, err, sub)                                                    \
  do {                                                                                  \
    int rc_ = (rc);                                                                     \
    const char *sub_ = (sub);                                                           \
    CHECK(rc_ == (want), "rc %d, want %d (err: %s)", rc_, (int)(want), (err));          \
    if (sub_)                                                                           \
      CHECK(strstr((err), sub_) != NULL, "error \"%s\" does not mention \"%s\"", (err), sub_); \
  } while (0)

static inline double check_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int check_status(const char *name) {
  fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
  return check_failures ? 1 : 0;
}

#endif
