/*
 * test_targets.c — the scraper's targets file and target sampling.
 *
 * Proves: valid files parse with the default path and a trimmed address;
 * every kind of bad file is refused with a message naming the file and the
 * entry index; the target-count and file-size limits hold at and past the
 * edge; fetch URLs get ?seconds= (or &seconds=); sampling picks distinct
 * indexes, all of them for 0, and every target over many rounds.
 */
#include <sys/stat.h>

#include "../common/check.h"
#include "../common/proc.h"
#include "scrape.h"

CHECK_DEFINE_COUNTERS

static int parse(const char *json, const scrape_target_limits *lim, scrape_targets *t, char *err,
                 size_t errlen) {
  return scrape_targets_parse(json, strlen(json), "targets.json", lim, t, err, errlen);
}

static void expect_error(const char *json, const char *needle) {
  scrape_targets t;
  char err[512] = "";
  int rc = parse(json, NULL, &t, err, sizeof err);
  CHECK(rc != CLIENT_OK);
  CHECK(t.n == 0 && t.v == NULL);
  CHECK_CONTAINS(err, "targets.json");
  CHECK_CONTAINS(err, needle);
}

static void test_parse(void) {
  scrape_targets t;
  char err[512];
  int rc = parse("[{\"address\": \"http://localhost:6060\"},"
                 " {\"address\": \"https://10.0.0.2:443/\", \"path\": \"/custom/profile\", \"x\": 1},"
                 " {\"address\": \"http://h:1\", \"path\": null}]",
                 NULL, &t, err, sizeof err);
  CHECK(rc == CLIENT_OK);
  CHECK(t.n == 3);
  if (t.n == 3) {
    CHECK(!strcmp(t.v[0].address, "http://localhost:6060"));
    CHECK(!strcmp(t.v[0].path, "/debug/pprof/profile"));
    CHECK(!strcmp(t.v[1].address, "https://10.0.0.2:443"));
    CHECK(!strcmp(t.v[1].path, "/custom/profile"));
    CHECK(!strcmp(t.v[2].path, SCRAPE_DEFAULT_PATH));
    char *u = scrape_target_url(&t.v[0], 30);
    CHECK(u && !strcmp(u, "http://localhost:6060/debug/pprof/profile?seconds=30"));
    free(u);
  }
  scrape_targets_free(&t);
  CHECK(t.n == 0 && t.v == NULL);

  scrape_target q = {.address = "http://a:1", .path = "/p?debug=0"};
  char *u = scrape_target_url(&q, 5);
  CHECK(u && !strcmp(u, "http://a:1/p?debug=0&seconds=5"));
  free(u);

  expect_error("[{\"address\": \"http://a:1\"", "targets.json:1:");
  expect_error("{\"address\": \"http://a:1\"}", "want a JSON array");
  expect_error("[]", "no targets");
  expect_error("[{\"address\": \"http://a:1\"}, 7]", "entry 1: want an object");
  expect_error("[{\"path\": \"/x\"}]", "entry 0: \"address\" is missing");
  expect_error("[{\"address\": \"http://a:1\"}, {\"address\": \"ftp://a:1\"}]",
               "entry 1: \"address\" must be a URL");
  expect_error("[{\"address\": \"localhost:6060\"}]", "entry 0: \"address\" must be a URL");
  expect_error("[{\"address\": \"http://a:1/?x=1\"}]", "entry 0: \"address\" must be a URL");
  expect_error("[{\"address\": \"http://\"}]", "entry 0: \"address\" must be a URL");
  expect_error("[{\"address\": \"http://a b\"}]", "entry 0: \"address\" must be a URL");
  expect_error("[{\"address\": 6060}]", "entry 0: \"address\" must be a URL");
  expect_error("[{\"address\": \"http://a:1\", \"path\": \"debug\"}]",
               "entry 0: \"path\" must be a string starting with '/'");
  expect_error("[{\"address\": \"http://a:1\"}, {\"address\": \"http://a:2\"},"
               " {\"address\": \"http://a:1\", \"path\": 3}]",
               "entry 2: \"path\"");
}

static void test_limits(const char *tmp) {
  scrape_targets t;
  char err[512];
  const char *three = "[{\"address\":\"http://a:1\"},{\"address\":\"http://a:2\"},"
                      "{\"address\":\"http://a:3\"}]";
  scrape_target_limits lim = {.max_targets = 3};
  CHECK(parse(three, &lim, &t, err, sizeof err) == CLIENT_OK && t.n == 3);
  scrape_targets_free(&t);
  lim.max_targets = 2;
  CHECK(parse(three, &lim, &t, err, sizeof err) == CLIENT_EINVAL);
  CHECK_CONTAINS(err, "3 targets, more than the limit of 2");

  char path[400];
  snprintf(path, sizeof path, "%s/targets.json", tmp);
  FILE *f = fopen(path, "w");
  fputs(three, f);
  fclose(f);
  size_t size = strlen(three);
  scrape_target_limits fl = {.max_file_bytes = size};
  CHECK(scrape_targets_load(path, &fl, &t, err, sizeof err) == CLIENT_OK && t.n == 3);
  scrape_targets_free(&t);
  fl.max_file_bytes = size - 1;
  CHECK(scrape_targets_load(path, &fl, &t, err, sizeof err) == CLIENT_EINVAL);
  CHECK_CONTAINS(err, path);
  CHECK_CONTAINS(err, "more than the limit");
  CHECK(t.n == 0);

  /* the default limit is used when none is given */
  CHECK(scrape_targets_load(path, NULL, &t, err, sizeof err) == CLIENT_OK && t.n == 3);
  scrape_targets_free(&t);

  char missing[450];
  snprintf(missing, sizeof missing, "%s/nope.json", tmp);
  CHECK(scrape_targets_load(missing, NULL, &t, err, sizeof err) == CLIENT_EIO);
  CHECK_CONTAINS(err, missing);
  CHECK(scrape_targets_load(tmp, NULL, &t, err, sizeof err) == CLIENT_EIO);
  CHECK_CONTAINS(err, "not a regular file");

  /* a bad entry in a file: the message names the file path and the entry */
  f = fopen(path, "w");
  fputs("[{\"address\":\"http://a:1\"},{\"adress\":\"http://a:2\"}]", f);
  fclose(f);
  CHECK(scrape_targets_load(path, NULL, &t, err, sizeof err) == CLIENT_EINVAL);
  CHECK_CONTAINS(err, path);
  CHECK_CONTAINS(err, "entry 1: \"address\" is missing");
}

static void test_sample(void) {
  uint64_t rng = 42;
  size_t idx[10];
  size_t k = scrape_sample(10, 3, &rng, idx);
  CHECK(k == 3);
  CHECK(idx[0] < 10 && idx[1] < 10 && idx[2] < 10);
  CHECK(idx[0] != idx[1] && idx[1] != idx[2] && idx[0] != idx[2]);
  k = scrape_sample(10, 0, &rng, idx);
  CHECK(k == 10);
  int seen[10] = {0};
  for (size_t i = 0; i < k; i++) seen[idx[i]]++;
  int all = 1;
  for (int i = 0; i < 10; i++) all &= seen[i] == 1;
  CHECK(all);
  CHECK(scrape_sample(10, 20, &rng, idx) == 10);
  CHECK(scrape_sample(1, 1, &rng, idx) == 1 && idx[0] == 0);
  /* k = 1 of 5, 5000 times: every target gets picked, roughly evenly */
  int count[5] = {0};
  for (int r = 0; r < 5000; r++) {
    size_t j[5];
    scrape_sample(5, 1, &rng, j);
    count[j[0]]++;
  }
  for (int i = 0; i < 5; i++) CHECK(count[i] > 800 && count[i] < 1200);
}

int main(void) {
  char tmp[] = "/tmp/pgopipe-test-targets-XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  test_parse();
  test_limits(tmp);
  test_sample();
  t_rm_rf(tmp);
  return check_exit("test_targets");
}
