/*
 * test_svc_metrics.c — the Prometheus text output, exactly: HELP/TYPE lines,
 * label escaping, cumulative histogram buckets with +Inf, _sum and _count,
 * and counts that stay exact under concurrent updates.
 */
#include "../common/check.h"

#include "svc_metrics.h"

#include <pthread.h>
#include <stdlib.h>

CHECK_DEFINE_COUNTERS

static svc_metric *conc;

static void *bump(void *arg) {
  (void)arg;
  for (int i = 0; i < 10000; i++) svc_metric_add(conc, 1, i % 2 ? "odd" : "even");
  return NULL;
}

int main(void) {
  svc_metrics *m = svc_metrics_new();
  svc_metric *c = svc_metrics_counter(m, "t_requests_total", "Requests by route\nand code", "route,code");
  svc_metric *g = svc_metrics_gauge(m, "t_in_flight", "In flight", NULL);
  double b[] = {0.01, 0.1, 1};
  svc_metric *h = svc_metrics_histogram(m, "t_latency_seconds", "Latency", "route", b, 3);
  CHECK(c && g && h);
  CHECK(svc_metrics_counter(m, "t_requests_total", "dup", "") == NULL);

  svc_metric_add(c, 1, "POST /x", "201");
  svc_metric_add(c, 2, "POST /x", "201");
  svc_metric_add(c, 1, "GET \"q\"\\\n", "404");
  svc_metric_set(g, 3);
  svc_metric_add(g, -1);
  svc_metric_observe(h, 0.005, "a");
  svc_metric_observe(h, 0.05, "a");
  svc_metric_observe(h, 0.1, "a"); /* on the bound: counts in le=0.1 */
  svc_metric_observe(h, 5, "a");
  svc_metric_add(NULL, 1, "ignored");

  CHECK(svc_metric_value(c, "POST /x", "201") == 3);
  CHECK(svc_metric_value(c, "POST /x", "500") == 0);
  CHECK(svc_metric_value(g) == 2);
  CHECK(svc_metric_value(h, "a") == 4);

  char *text = svc_metrics_render(m);
  const char *want =
      "# HELP t_requests_total Requests by route\\nand code\n"
      "# TYPE t_requests_total counter\n"
      "t_requests_total{route=\"POST /x\",code=\"201\"} 3\n"
      "t_requests_total{route=\"GET \\\"q\\\"\\\\\\n\",code=\"404\"} 1\n"
      "# HELP t_in_flight In flight\n"
      "# TYPE t_in_flight gauge\n"
      "t_in_flight 2\n"
      "# HELP t_latency_seconds Latency\n"
      "# TYPE t_latency_seconds histogram\n"
      "t_latency_seconds_bucket{route=\"a\",le=\"0.01\"} 1\n"
      "t_latency_seconds_bucket{route=\"a\",le=\"0.1\"} 3\n"
      "t_latency_seconds_bucket{route=\"a\",le=\"1\"} 3\n"
      "t_latency_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
      "t_latency_seconds_sum{route=\"a\"} 5.155\n"
      "t_latency_seconds_count{route=\"a\"} 4\n";
  CHECK_STR(text, want);
  free(text);

  conc = svc_metrics_counter(m, "t_conc_total", "Concurrent", "parity");
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, bump, NULL);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  CHECK(svc_metric_value(conc, "odd") == 20000);
  CHECK(svc_metric_value(conc, "even") == 20000);
  svc_metrics_free(m);
  return check_exit("test_svc_metrics");
}
