/*
 * check.h — the assertion helpers of every C test program: CHECK records a
 * failure with its location and goes on, so one run reports every broken
 * property; check_exit() turns the count into the exit status.
 */
#ifndef PGOPIPE_TESTS_COMMON_CHECK_H
#define PGOPIPE_TESTS_COMMON_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* Defined once per test program with CHECK_DEFINE_COUNTERS. */
extern int check_failures;
extern int check_count;
#define CHECK_DEFINE_COUNTERS                                                                      \
  int check_failures;                                                                              \
  int check_count;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                                         \
    if (!(cond)) {                                                                                 \
      __atomic_add_fetch(&check_failures, 1, __ATOMIC_RELAXED);                                    \
      fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond);                            \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

static inline int check_exit(const char *name) {
  if (check_failures) {
    fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
    return 1;
  }
  printf("%s: all %d checks passed\n", name, check_count);
  return 0;
}

#endif
