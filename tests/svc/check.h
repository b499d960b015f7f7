/*
 * check.h — the assertion helpers of the svc and server tests: a failed check
 * prints file:line and the expression, counts, and the test goes on so one
 * run shows every failure; main returns check_finish().
 */
#ifndef PGOPIPE_TEST_CHECK_H
#define PGOPIPE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                          \
  do {                                                                       \
    check_count++;                                                           \
    if (!(cond)) {                                                           \
      check_failures++;                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

#define CHECK_INT(a, b)                                                                 \
  do {                                                                                  \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                     \
    check_count++;                                                                      \
    if (check_a_ != check_b_) {                                                         \
      check_failures++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
              #a, #b, check_a_, check_b_);                                              \
    }                                                                                   \
  } while (0)

#define CHECK_STR(a, b)                                                                   \
  do {                                                                                    \
    const char *check_a_ = (a), *check_b_ = (b);                                          \
    check_count++;                                                                        \
    if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                      \
      check_failures++;                                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, \
              #a, #b, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");   \
    }                                                                                     \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                                        \
  do {                                                                                     \
    const char *check_h_ = (hay), *check_n_ = (needle);                                    \
    check_count++;                                                                         \
    if (!check_h_ || !strstr(check_h_, check_n_)) {                                        \
      check_failures++;                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n", __FILE__, __LINE__, \
              check_h_ ? check_h_ : "(null)", check_n_);                                  \
    }                                                                                      \
  } while (0)

static int check_finish(const char *name) {
  fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
  return check_failures ? 1 : 0;
}

#endif
