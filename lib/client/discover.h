/*
 * discover.h — where the scraper's targets come from besides a file: a
 * Prometheus-style HTTP service discovery endpoint, or the Kubernetes API
 * (pods labelled for autopgo's scraper). Both give a scrape_targets list
 * (scrape.h) the scraper refreshes on an interval.
 *
 * HTTP service discovery (Prometheus' http_sd format): GET URL answers
 *   [{"targets": ["host:port", ...], "labels": {"k": "v", ...}}, ...]
 * Each "host:port" becomes a target SCHEME://host:port with PATH, where a
 * group's labels may set SCHEME (__scheme__ or autopgo.scrape.scheme;
 * default http) and PATH (__profile_path__ or autopgo.scrape.path; default
 * /debug/pprof/profile). A group labelled autopgo.scrape.app with another
 * app than the scraper's is not this scraper's and is left out.
 *
 * Kubernetes: GET /api/v1/pods?labelSelector=autopgo.scrape=true,
 * autopgo.scrape.app=APP&fieldSelector=status.phase=Running across all
 * namespaces (as autopgo's scraper selects them), with the pod's
 * service-account token and the cluster CA; each running pod with an IP
 * and the annotation autopgo.scrape.port becomes SCHEME://PODIP:PORT with
 * PATH, from the annotations autopgo.scrape.scheme (default http) and
 * autopgo.scrape.path (default /debug/pprof/profile). Pods left out (no IP,
 * not running, no port) are reported through the skip callback, with why.
 * Pages of the list are followed (limit/continue).
 *
 * Errors: CLIENT_OK, or a negative CLIENT_E* code (client.h) with a message
 * naming the URL: CLIENT_ENET (no answer), CLIENT_EHTTP (an error status),
 * CLIENT_EPROTO (an answer that is not the expected JSON). On error the
 * output list is left empty; the caller keeps its previous targets.
 */
#ifndef PGOPIPE_DISCOVER_H
#define PGOPIPE_DISCOVER_H

#include <stddef.h>

#include "scrape.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DISCOVER_DEFAULT_TIMEOUT_MS 10000
#define DISCOVER_DEFAULT_MAX_BYTES (16u << 20)

/* Told of each discovered endpoint left out, and why (may be NULL). */
typedef void (*discover_skip_fn)(void *ud, const char *what, const char *why);

/* ---- HTTP service discovery ---- */

/*
 * Parses an http_sd document for app (NULL: no app filter). name starts
 * messages. On success *out holds new strings (scrape_targets_free); an
 * empty list is a success (nothing to scrape right now).
 */
int discover_http_parse(const char *json, size_t len, const char *name, const char *app,
                        scrape_targets *out, char *err, size_t errlen);

typedef struct discover_http_config {
  const char *url;      /* http:// or https:// */
  const char *app;      /* the scraper's app (filter, see above); may be NULL */
  long timeout_ms;      /* 0 = DISCOVER_DEFAULT_TIMEOUT_MS */
  size_t max_bytes;     /* 0 = DISCOVER_DEFAULT_MAX_BYTES */
} discover_http_config;

/* Fetches and parses the document at cfg->url. */
int discover_http(const discover_http_config *cfg, scrape_targets *out, char *err, size_t errlen);

/* ---- Kubernetes pods ---- */

#define DISCOVER_KUBE_TOKEN "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define DISCOVER_KUBE_CA "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

/*
 * Parses one page of a PodList (the API's JSON) for the targets it gives;
 * *next gets a malloc'd copy of metadata.continue (NULL on the last page;
 * next may be NULL). Pods left out go to skip(ud, "namespace/name", why).
 */
int discover_kube_parse(const char *json, size_t len, const char *name, scrape_targets *out,
                        char **next, discover_skip_fn skip, void *ud, char *err, size_t errlen);

typedef struct discover_kube_config {
  const char *app;        /* required: the value of the autopgo.scrape.app label */
  const char *api_url;    /* NULL: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
  const char *token_file; /* NULL: DISCOVER_KUBE_TOKEN (read at every call: tokens rotate) */
  const char *ca_file;    /* NULL: DISCOVER_KUBE_CA */
  long timeout_ms;        /* per request; 0 = DISCOVER_DEFAULT_TIMEOUT_MS */
  size_t max_bytes;       /* per page; 0 = DISCOVER_DEFAULT_MAX_BYTES */
  discover_skip_fn skip;  /* may be NULL */
  void *ud;
} discover_kube_config;

/* Lists the app's pods through the API server. */
int discover_kube(const discover_kube_config *cfg, scrape_targets *out, char *err, size_t errlen);

/* ---- Shared ---- */

/*
 * One GET: the body (malloc'd, NUL-terminated; caller frees) of a 200
 * answer of at most max_bytes. bearer (may be NULL) is sent as
 * Authorization: Bearer; ca_file (may be NULL) replaces the system CAs.
 */
int discover_get(const char *url, const char *bearer, const char *ca_file, long timeout_ms,
                 size_t max_bytes, char **body, size_t *len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
