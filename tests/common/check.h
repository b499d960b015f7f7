/*
 * check.h — the assertion helpers of every C test program: a failed check
 * prints file:line, the expression and what was seen, counts, and the
 * program goes on, so one run reports every broken property; check_exit()
 * turns the counts into the exit status.
 *
 *   CHECK(cond)                    cond holds
 *   CHECK(cond, fmt, ...)          the same, with a printf-style message on failure
 *   CHECK_EQ(a, b)                 two integers are equal (compared as long long)
 *   CHECK_STR(a, b)                two strings are equal (NULL equals nothing)
 *   CHECK_CONTAINS(hay, needle)    hay contains needle (a NULL hay contains nothing)
 *   CHECK_RC(rc, want, err, sub)   rc == want and, unless sub is NULL, err contains sub
 *   check_now()                    monotonic clock in seconds, for checks on durations
 *   check_exit(name)               main's return value: 0 when every check passed
 *
 * The counters are defined once per program, in the file holding main, by
 * CHECK_DEFINE_COUNTERS; they are updated atomically, so checks may run on
 * several threads.
 */
#ifndef PGOPIPE_TESTS_COMMON_CHECK_H
#define PGOPIPE_TESTS_COMMON_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern int check_failures;
extern int check_count;
#define CHECK_DEFINE_COUNTERS                                                                      \
  int check_failures;                                                                              \
  int check_count;

/* Counts one check; when ok is false, counts a failure and prints
 * "file:line: FAILED text" without the line end (the caller adds details). */
#define CHECK_BEGIN_(ok, text)                                                                     \
  (__atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED),                                          \
   (ok) ? 0                                                                                        \
        : (__atomic_add_fetch(&check_failures, 1, __ATOMIC_RELAXED),                               \
           fprintf(stderr, "%s:%d: FAILED %s", __FILE__, __LINE__, (text)), 1))

/* CHECK(cond) or CHECK(cond, fmt, ...): picks the form by the number of
 * arguments after cond (none, or a format and up to 15 values). */
#define CHECK(cond, ...)                                                                           \
  CHECK_PICK_(_, ##__VA_ARGS__, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_,        \
              CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_,  \
              CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_MSG_, CHECK_PLAIN_, )                      \
  ((cond), #cond, ##__VA_ARGS__)
#define CHECK_PICK_(_0, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16,     \
                    form, ...)                                                                     \
  form
#define CHECK_PLAIN_(ok, text)                                                                     \
  do {                                                                                             \
    if (CHECK_BEGIN_(ok, text)) fputc('\n', stderr);                                               \
  } while (0)
#define CHECK_MSG_(ok, text, ...)                                                                  \
  do {                                                                                             \
    if (CHECK_BEGIN_(ok, text)) {                                                                  \
      fputs(": ", stderr);                                                                         \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

#define CHECK_EQ(a, b)                                                                             \
  do {                                                                                             \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                \
    if (CHECK_BEGIN_(check_a_ == check_b_, #a " == " #b))                                          \
      fprintf(stderr, " (%lld != %lld)\n", check_a_, check_b_);                                    \
  } while (0)

#define CHECK_STR(a, b)                                                                            \
  do {                                                                                             \
    const char *check_a_ = (a), *check_b_ = (b);                                                   \
    if (CHECK_BEGIN_(check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0, #a " == " #b))       \
      fprintf(stderr, " (\"%s\" != \"%s\")\n", check_a_ ? check_a_ : "(null)",                     \
              check_b_ ? check_b_ : "(null)");                                                     \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
  do {                                                                                             \
    const char *check_h_ = (hay), *check_n_ = (needle);                                            \
    if (CHECK_BEGIN_(check_h_ && strstr(check_h_, check_n_), #hay " contains " #needle))           \
      fprintf(stderr, " (\"%s\" does not contain \"%s\")\n", check_h_ ? check_h_ : "(null)",       \
              check_n_);                                                                           \
  } while (0)

#define CHECK_RC(rc, want, err, sub)                                                               \
  do {                                                                                             \
    int check_rc_ = (rc);                                                                          \
    const char *check_sub_ = (sub);                                                                \
    if (CHECK_BEGIN_(check_rc_ == (want), #rc " == " #want))                                       \
      fprintf(stderr, " (rc %d, want %d; error: %s)\n", check_rc_, (int)(want), (err));            \
    if (check_sub_ && CHECK_BEGIN_(strstr((err), check_sub_) != NULL, #err " mentions " #sub))     \
      fprintf(stderr, " (\"%s\" does not mention \"%s\")\n", (err), check_sub_);                   \
  } while (0)

static inline double check_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int check_exit(const char *name) {
  int failures = __atomic_load_n(&check_failures, __ATOMIC_RELAXED);
  int count = __atomic_load_n(&check_count, __ATOMIC_RELAXED);
  if (failures) {
    fprintf(stderr, "%s: %d of %d checks failed\n", name, failures, count);
    return 1;
  }
  printf("%s: all %d checks passed\n", name, count);
  return 0;
}

#endif
