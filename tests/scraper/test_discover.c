/*
 * test_discover.c — the target discoveries' documents, without a server:
 * Prometheus http_sd (groups, labels choosing scheme and path, another
 * app's groups left out, bad documents refused whole) and a Kubernetes
 * PodList (the fixture in the API's shape the fake API server serves;
 * pods left out with a reason: not running, no IP, no port annotation;
 * IPv6 pod IPs; the continue token of a page).
 *
 *   test_discover FIXTURE_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "../common/proc.h"
#include "discover.h"

CHECK_DEFINE_COUNTERS

static char skipped[4096];

static void on_skip(void *ud, const char *what, const char *why) {
  (void)ud;
  char line[512];
  snprintf(line, sizeof line, "%s: %s\n", what, why);
  strncat(skipped, line, sizeof skipped - strlen(skipped) - 1);
}

static int has(const scrape_targets *t, const char *address, const char *path) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->v[i].address, address) && !strcmp(t->v[i].path, path)) return 1;
  return 0;
}

static void test_http_sd(void) {
  char err[512];
  scrape_targets t;
  const char *doc =
      "[{\"targets\": [\"10.0.0.1:6060\", \"10.0.0.2:6060\"], \"labels\": {\"job\": \"demo\"}},"
      " {\"targets\": [\"10.0.0.3:443\"], \"labels\": {\"__scheme__\": \"https\", \"__profile_path__\": \"/p\"}},"
      " {\"targets\": [\"10.0.0.4:7000\"], \"labels\": {\"autopgo.scrape.app\": \"demo\","
      "  \"autopgo.scrape.scheme\": \"http\", \"autopgo.scrape.path\": \"/debug/pprof/profile?x=1\"}},"
      " {\"targets\": [\"10.0.0.5:6060\"], \"labels\": {\"autopgo.scrape.app\": \"billing\"}},"
      " {\"targets\": []}]";
  CHECK(discover_http_parse(doc, strlen(doc), "sd", "demo", &t, err, sizeof err) == 0, "%s", err);
  CHECK(t.n == 4, "%zu targets", t.n);
  CHECK(has(&t, "http://10.0.0.1:6060", SCRAPE_DEFAULT_PATH) && has(&t, "http://10.0.0.2:6060", SCRAPE_DEFAULT_PATH),
        "plain group");
  CHECK(has(&t, "https://10.0.0.3:443", "/p"), "__scheme__ and __profile_path__");
  CHECK(has(&t, "http://10.0.0.4:7000", "/debug/pprof/profile?x=1"), "autopgo labels");
  CHECK(!has(&t, "http://10.0.0.5:6060", SCRAPE_DEFAULT_PATH), "another app's group kept");
  scrape_targets_free(&t);
  /* without an app, every group */
  CHECK(discover_http_parse(doc, strlen(doc), "sd", NULL, &t, err, sizeof err) == 0 && t.n == 5, "no filter");
  scrape_targets_free(&t);
  CHECK(discover_http_parse("[]", 2, "sd", "demo", &t, err, sizeof err) == 0 && t.n == 0, "empty is fine");
  const char *bad[] = {
      "{}",
      "[{\"labels\": {}}]",
      "[{\"targets\": [\"http://h:1\"]}]",
      "[{\"targets\": [\"h:1\"], \"labels\": {\"__scheme__\": \"ftp\"}}]",
      "[{\"targets\": [\"h:1\"], \"labels\": {\"__profile_path__\": \"p\"}}]",
      "[{\"targets\": [\"h:1\", 7]}]",
      "not json",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = discover_http_parse(bad[i], strlen(bad[i]), "sd", "demo", &t, err, sizeof err);
    CHECK(rc == CLIENT_EPROTO && t.n == 0 && !strncmp(err, "sd:", 3), "bad %zu: %d %s", i, rc, err);
  }
}

static void test_kube(const char *dir) {
  char path[1024], err[512];
  snprintf(path, sizeof path, "%s/kube-pods.json", dir);
  size_t len;
  char *raw = (char *)t_read_file(path, &len);
  CHECK(raw != NULL, "fixture %s", path);
  if (!raw) return;
  /* the placeholders the fake fills in */
  char *doc = malloc(len + 64), *o = doc;
  for (char *p = raw; *p;) {
    if (!strncmp(p, "${PORT_A}", 9)) o += sprintf(o, "6061"), p += 9;
    else if (!strncmp(p, "${PORT_B}", 9)) o += sprintf(o, "6062"), p += 9;
    else *o++ = *p++;
  }
  *o = 0;
  scrape_targets t = {0};
  char *next = (char *)1;
  skipped[0] = 0;
  /* the whole list unfiltered, as if the API server did not filter */
  int rc = discover_kube_parse(doc, strlen(doc), "fixture", &t, &next, on_skip, NULL, err, sizeof err);
  CHECK(rc == 0 && next == NULL, "%d %s", rc, err);
  CHECK(has(&t, "http://127.0.0.1:6061", SCRAPE_DEFAULT_PATH) && has(&t, "http://127.0.0.1:6062", SCRAPE_DEFAULT_PATH),
        "the running pods with a port");
  CHECK(strstr(skipped, "shop/demo-7f9c6d5b8-noport: no autopgo.scrape.port annotation") &&
            strstr(skipped, "shop/demo-7f9c6d5b8-pending: not running"),
        "skipped: %s", skipped);
  scrape_targets_free(&t);
  free(doc);
  free(raw);
  /* IPv6 pod IPs, custom scheme and path, a continue token */
  const char *v6 = "{\"kind\": \"PodList\", \"apiVersion\": \"v1\", \"metadata\": {\"continue\": \"tok%2B1\"},"
                   " \"items\": [{\"metadata\": {\"name\": \"p\", \"namespace\": \"n\", \"annotations\":"
                   " {\"autopgo.scrape.port\": \"6060\", \"autopgo.scrape.scheme\": \"https\","
                   " \"autopgo.scrape.path\": \"/internal/pprof/profile\"}},"
                   " \"status\": {\"phase\": \"Running\", \"podIP\": \"fd00:10:244::7\"}},"
                   " {\"metadata\": {\"name\": \"q\", \"namespace\": \"n\", \"annotations\":"
                   " {\"autopgo.scrape.port\": \"99999\"}}, \"status\": {\"phase\": \"Running\", \"podIP\": \"10.1.1.1\"}},"
                   " {\"metadata\": {\"name\": \"r\", \"namespace\": \"n\", \"annotations\":"
                   " {\"autopgo.scrape.port\": \"6060\"}}, \"status\": {\"phase\": \"Running\"}}]}";
  skipped[0] = 0;
  rc = discover_kube_parse(v6, strlen(v6), "page", &t, &next, on_skip, NULL, err, sizeof err);
  CHECK(rc == 0 && t.n == 1 && has(&t, "https://[fd00:10:244::7]:6060", "/internal/pprof/profile"), "v6: %s",
        t.n ? t.v[0].address : err);
  CHECK(next && !strcmp(next, "tok%2B1"), "continue token %s", next ? next : "(none)");
  CHECK(strstr(skipped, "n/q: autopgo.scrape.port is not a port number") && strstr(skipped, "n/r: no pod IP"),
        "skipped: %s", skipped);
  free(next);
  scrape_targets_free(&t);
  const char *notlist = "{\"kind\": \"Status\", \"code\": 403}";
  rc = discover_kube_parse(notlist, strlen(notlist), "api", &t, NULL, NULL, NULL, err, sizeof err);
  CHECK(rc == CLIENT_EPROTO && strstr(err, "not a PodList"), "Status answer: %d %s", rc, err);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_discover FIXTURE_DIR\n");
    return 2;
  }
  test_http_sd();
  test_kube(argv[1]);
  return check_exit("test_discover");
}
