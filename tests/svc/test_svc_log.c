/*
 * test_svc_log.c — the JSON-lines logger: every line parses as JSON whatever
 * the strings contain (quotes, backslashes, control characters, invalid
 * UTF-8), typed fields keep their types, levels filter, records of the
 * libraries' core_logger come out the same way, and lines written by many
 * threads at once never interleave.
 */
#include "../common/check.h"

#include "svc_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

CHECK_DEFINE_COUNTERS

static char *read_all(int fd) {
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap);
  lseek(fd, 0, SEEK_SET);
  for (;;) {
    if (len + 4096 > cap) b = realloc(b, cap *= 2);
    ssize_t n = read(fd, b + len, cap - len - 1);
    if (n <= 0) break;
    len += (size_t)n;
  }
  b[len] = '\0';
  return b;
}

static int logfd(void) {
  char path[] = "/tmp/svc-log-XXXXXX";
  int fd = mkstemp(path);
  unlink(path);
  svc_log_set_fd(fd);
  return fd;
}

static void *spam(void *arg) {
  long id = (long)arg;
  char big[3000];
  memset(big, 'a' + (int)id, sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int i = 0; i < 200; i++) SVC_INFO("spam", SVC_INT("thread", id), SVC_INT("i", i), SVC_STR("pad", big));
  return NULL;
}

int main(void) {
  int fd = logfd();
  const char nasty[] = "q\"b\\s/n\nt\tc\x01\x1f del\x7f bad\xff\xfe ok\xc3\xa9 trunc\xe2\x82";
  SVC_INFO("hello \"world\"", SVC_STR("app", "demo"), SVC_INT("bytes", 20480), SVC_INT("neg", -5),
           SVC_FLOAT("ms", 1.5), SVC_BOOL("ok", 1), SVC_STR("nil", NULL), SVC_STR("nasty", nasty));
  SVC_DEBUG("hidden at info");
  svc_log_set_level(SVC_LOG_ERROR);
  SVC_WARN("hidden at error");
  SVC_ERROR("shown");
  svc_log_set_level(SVC_LOG_DEBUG);
  SVC_DEBUG("shown debug");
  svc_log_set_level(SVC_LOG_INFO);

  char *text = read_all(fd);
  char *save = NULL;
  int lines = 0;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    CHECK(o != NULL);
    if (!o) {
      fprintf(stderr, "bad line: %s (%s)\n", line, je.text);
      continue;
    }
    lines++;
    const char *t = json_string_value(json_object_get(o, "time"));
    CHECK(t && strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z');
    if (lines == 1) {
      CHECK_STR(json_string_value(json_object_get(o, "level")), "info");
      CHECK_STR(json_string_value(json_object_get(o, "msg")), "hello \"world\"");
      CHECK_STR(json_string_value(json_object_get(o, "app")), "demo");
      CHECK_EQ(json_integer_value(json_object_get(o, "bytes")), 20480);
      CHECK_EQ(json_integer_value(json_object_get(o, "neg")), -5);
      CHECK(json_real_value(json_object_get(o, "ms")) == 1.5);
      CHECK(json_is_true(json_object_get(o, "ok")));
      CHECK(json_is_null(json_object_get(o, "nil")));
      CHECK_STR(json_string_value(json_object_get(o, "nasty")),
                "q\"b\\s/n\nt\tc\x01\x1f del\x7f bad\xef\xbf\xbd\xef\xbf\xbd ok\xc3\xa9 trunc\xef\xbf\xbd\xef\xbf\xbd");
      CHECK(strstr(line, "\\u0001") != NULL);
    } else if (lines == 2) {
      CHECK_STR(json_string_value(json_object_get(o, "level")), "error");
      CHECK_STR(json_string_value(json_object_get(o, "msg")), "shown");
    } else if (lines == 3) {
      CHECK_STR(json_string_value(json_object_get(o, "level")), "debug");
    }
    json_decref(o);
  }
  CHECK_EQ(lines, 3);
  free(text);
  close(fd);

  int lvl;
  CHECK_EQ(svc_log_parse_level("warn", &lvl), 0);
  CHECK_EQ(lvl, SVC_LOG_WARN);
  CHECK_EQ(svc_log_parse_level("debug", &lvl), 0);
  CHECK_EQ(lvl, SVC_LOG_DEBUG);
  CHECK_EQ(svc_log_parse_level("loud", &lvl), -1);

  /* records of libraries (core_log through svc_log_core): string fields, the
   * level captured by svc_core_logger */
  fd = logfd();
  svc_log_set_level(SVC_LOG_WARN);
  core_logger lg = svc_core_logger();
  svc_log_set_level(SVC_LOG_INFO);
  CHECK_EQ(lg.level, CORE_LOG_WARN);
  core_log(&lg, CORE_LOG_INFO, "below the captured level", "a", "1", NULL);
  core_log(&lg, CORE_LOG_ERROR, "kafka: Connect to ipv4#127.0.0.1:1 failed", "facility", "FAIL", "client",
           "pgopipe-writer#producer-1", "none", NULL, NULL);
  lg.level = CORE_LOG_DEBUG;
  core_log(&lg, CORE_LOG_DEBUG, "below svc's level", NULL);
  text = read_all(fd);
  {
    json_t *o = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
    CHECK(o != NULL && strchr(text, '\n') == strrchr(text, '\n'));
    CHECK_STR(json_string_value(json_object_get(o, "level")), "error");
    CHECK_STR(json_string_value(json_object_get(o, "msg")), "kafka: Connect to ipv4#127.0.0.1:1 failed");
    CHECK_STR(json_string_value(json_object_get(o, "facility")), "FAIL");
    CHECK_STR(json_string_value(json_object_get(o, "client")), "pgopipe-writer#producer-1");
    CHECK(json_is_null(json_object_get(o, "none")));
    CHECK(json_string_value(json_object_get(o, "time")) != NULL);
    json_decref(o);
  }
  free(text);
  close(fd);

  /* 8 threads x 200 lines of 3 KB: each line intact */
  fd = logfd();
  pthread_t th[8];
  for (long i = 0; i < 8; i++) pthread_create(&th[i], NULL, spam, (void *)i);
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
  text = read_all(fd);
  int good = 0, total = 0;
  save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    total++;
    json_t *o = json_loads(line, 0, NULL);
    if (o && strlen(json_string_value(json_object_get(o, "pad"))) == 2999) good++;
    json_decref(o);
  }
  CHECK_EQ(total, 1600);
  CHECK_EQ(good, 1600);
  free(text);
  close(fd);
  svc_log_set_fd(2);
  return check_exit("test_svc_log");
}
