/*
 * rules_test.c — the worker's prune rules files (rules.h): accepted forms;
 * every error names file, app, rule index and regex offset; the file size
 * limit at and past the edge; a missing file.
 *
 *   rules_test
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "pprof.h"
#include "rules.h"

CHECK_DEFINE_COUNTERS

static char g_tmp[64];

static void test_rules(void) {
  rules_set *s = NULL;
  char err[512];
  const char *ok = "[{\"app\": \"example\", \"rules\": [{\"drop\": \"^runtime\\\\.\", \"keep\": "
                   "\"^runtime\\\\.mallocgc$\"}, {\"drop\": \"^sync\\\\.\"}]}, {\"app\": \"b\", \"rules\": []}]";
  CHECK(rules_parse(ok, strlen(ok), "r.json", &s, err, sizeof err) == 0, "%s", err);
  CHECK(rules_app_count(s) == 2 && rules_rule_count(s) == 2, "counts");
  CHECK(rules_for_app(s, "example") && pp_rules_count(rules_for_app(s, "example")) == 2, "example");
  CHECK(rules_for_app(s, "nope") == NULL, "absent app");
  rules_free(s);
  CHECK(rules_parse("[]", 2, "r.json", &s, err, sizeof err) == 0 && rules_app_count(s) == 0, "empty");
  rules_free(s);

  struct { const char *json, *want1, *want2; } bad[] = {
      {"[{\"app\": \"a\", \"rules\": [", "r.json", "invalid JSON at line 1"},
      {"{\"app\": \"a\"}", "r.json", "expected a JSON array"},
      {"[{\"rules\": []}]", "entry 0", "missing \"app\""},
      {"[{\"app\": \"a\"}]", "app \"a\"", "missing \"rules\""},
      {"[{\"app\": \"a\", \"rules\": [{\"keep\": \"x\"}]}]", "app \"a\" rule 0", "missing \"drop\""},
      {"[{\"app\": \"a\", \"rules\": [{\"drop\": 3}]}]", "app \"a\" rule 0", "non-string \"drop\""},
      {"[{\"app\": \"a\", \"rules\": [{\"drop\": \"x\"}, {\"drop\": \"(x\"}]}]", "app \"a\" rule 1",
       "offset 2"},
      {"[{\"app\": \"a\", \"rules\": [{\"drop\": \"x\", \"keep\": \"[\"}]}]", "app \"a\" rule 0", "offset"},
      {"[{\"app\": \"a\", \"rules\": []}, {\"app\": \"a\", \"rules\": []}]", "app \"a\"", "twice"},
      {"[{\"app\": \"Bad_App\", \"rules\": []}]", "Bad_App", "not a valid app name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = NULL;
    err[0] = 0;
    int rc = rules_parse(bad[i].json, strlen(bad[i].json), "r.json", &s, err, sizeof err);
    CHECK(rc != 0 && s == NULL, "bad[%zu] accepted", i);
    CHECK(strstr(err, "r.json") && strstr(err, bad[i].want1) && strstr(err, bad[i].want2),
          "bad[%zu]: message \"%s\" lacks \"%s\"/\"%s\"", i, err, bad[i].want1, bad[i].want2);
  }

  /* the file size limit, at and past the edge */
  char path[700];
  snprintf(path, sizeof path, "%s/rules-big.json", g_tmp);
  for (int past = 0; past <= 1; past++) {
    FILE *f = fopen(path, "wb");
    fputs("[]", f);
    for (size_t i = 2; i < RULES_MAX_FILE_BYTES + (size_t)past; i++) fputc(' ', f);
    fclose(f);
    s = NULL;
    int rc = rules_load(path, &s, err, sizeof err);
    if (!past) CHECK(rc == 0, "file of exactly the limit refused: %s", err);
    else CHECK(rc != 0 && strstr(err, "larger than") && strstr(err, path), "past the limit: %s", err);
    rules_free(s);
  }
  unlink(path);
  CHECK(rules_load("/nonexistent/rules.json", &s, err, sizeof err) != 0 &&
            strstr(err, "/nonexistent/rules.json"), "missing file: %s", err);
}

int main(void) {
  snprintf(g_tmp, sizeof g_tmp, "/tmp/rules-test.XXXXXX");
  if (!mkdtemp(g_tmp)) return 1;
  test_rules();
  rmdir(g_tmp);
  return check_exit("rules_test");
}
