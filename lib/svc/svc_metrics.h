/*
 * svc_metrics.h — counters, gauges and histograms with labels, rendered in
 * the Prometheus text exposition format (version 0.0.4).
 *
 * A registry holds metric families; a family has a name, help text and a
 * fixed list of label names; each distinct tuple of label values is a series,
 * created on first use. Updates take the family's mutex for a hash-free
 * linear lookup over its series: families here have a handful of series
 * (routes x status codes), so this is cheaper than anything cleverer and
 * safe from any thread.
 *
 *   svc_metrics *m = svc_metrics_new();
 *   svc_metric *req = svc_metrics_counter(m, "pgopipe_http_requests_total",
 *                                         "HTTP requests by route and status", "route,code");
 *   svc_metric_add(req, 1, "POST /api/profile/{app}", "201");
 *   char *text = svc_metrics_render(m);   // serve on GET /metrics
 *
 * Families are created at start-up (not thread-safe against rendering);
 * svc_metric_* updates and svc_metrics_render are thread-safe.
 */
#ifndef PGOPIPE_SVC_METRICS_H
#define PGOPIPE_SVC_METRICS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct svc_metrics svc_metrics;
typedef struct svc_metric svc_metric;

/* Returns a new, empty registry (NULL on allocation failure). */
svc_metrics *svc_metrics_new(void);
/* Frees the registry and every family in it; NULL is fine. */
void svc_metrics_free(svc_metrics *m);

/*
 * Creates a family. `labels` is a comma-separated list of label names, or
 * NULL/"" for none. The strings are copied. Returns a handle owned by the
 * registry, or NULL (allocation failure, or a name already registered).
 * Histogram buckets are upper bounds in increasing order (+Inf is implicit);
 * they are copied.
 */
svc_metric *svc_metrics_counter(svc_metrics *m, const char *name, const char *help, const char *labels);
svc_metric *svc_metrics_gauge(svc_metrics *m, const char *name, const char *help, const char *labels);
svc_metric *svc_metrics_histogram(svc_metrics *m, const char *name, const char *help, const char *labels,
                                  const double *buckets, size_t nbuckets);

/*
 * Updates the series whose label values follow (exactly as many const char *
 * as the family has labels; NULL is written as ""). A NULL metric is ignored,
 * so optional metrics need no checks at call sites.
 *   counter: add v (v >= 0)        gauge: add v (may be negative) or set v
 *   histogram: observe v
 */
void svc_metric_add(svc_metric *c, double v, ...);
void svc_metric_set(svc_metric *g, double v, ...);
void svc_metric_observe(svc_metric *h, double v, ...);

/* Current value of a counter/gauge series (0 if absent; for tests). For a
 * histogram, the number of observations. */
double svc_metric_value(svc_metric *c, ...);

/* Renders every family in registration order. Returns a malloc'd,
 * NUL-terminated string (caller frees), or NULL on allocation failure. */
char *svc_metrics_render(svc_metrics *m);

/* Default latency buckets in seconds (1 ms .. 10 s) and their count. */
extern const double svc_metrics_latency_buckets[];
extern const size_t svc_metrics_latency_nbuckets;
/* Default size buckets in bytes (1 KiB .. 64 MiB, powers of 4). */
extern const double svc_metrics_size_buckets[];
extern const size_t svc_metrics_size_nbuckets;

#ifdef __cplusplus
}
#endif
#endif
