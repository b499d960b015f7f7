/*
 * discover_kube.c — scrape targets from the Kubernetes API: the running
 * pods labelled for autopgo's scraper, in every namespace (discover.h).
 *
 * The selection is autopgo's (its scraper's kube mode): labels
 * autopgo.scrape=true and autopgo.scrape.app=APP, phase Running, the pod IP
 * as host, the port, path and scheme from the annotations
 * autopgo.scrape.port (required), autopgo.scrape.path and
 * autopgo.scrape.scheme. The API server filters by label and phase (the
 * selectors in the query); the phase and IP are checked again here, since a
 * pod's state may change between the server's filter and its answer.
 *
 * In a pod, the API server is https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT, authenticated with the service account's token
 * (read again at every listing: the kubelet rotates it) and verified
 * against the cluster CA, both mounted under
 * /var/run/secrets/kubernetes.io/serviceaccount/. The service account needs
 * list on pods in all namespaces (a ClusterRole). Kubeconfig files are not
 * read.
 */
#include "discover.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

#define KUBE_PAGE 500
#define KUBE_MAX_PAGES 200

static const char *annotation(json_t *pod, const char *key) {
  json_t *v = json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"), key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *str_at(json_t *o, const char *a, const char *b) {
  json_t *v = json_object_get(json_object_get(o, a), b);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int valid_port(const char *p) {
  if (!p || !*p || strlen(p) > 5) return 0;
  long v = 0;
  for (const char *c = p; *c; c++) {
    if (*c < '0' || *c > '9') return 0;
    v = v * 10 + (*c - '0');
  }
  return v >= 1 && v <= 65535;
}

static int valid_ip(const char *ip) {
  if (!ip || !*ip || strlen(ip) > 45) return 0;
  for (const char *c = ip; *c; c++)
    if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F') || *c == '.' ||
          *c == ':'))
      return 0;
  return 1;
}

/* The target of one pod into t, or the reason it has none (returned). */
static const char *pod_target(json_t *pod, scrape_targets *t, size_t *cap, int *oom) {
  const char *phase = str_at(pod, "status", "phase");
  const char *ip = str_at(pod, "status", "podIP");
  const char *port = annotation(pod, "autopgo.scrape.port");
  const char *path = annotation(pod, "autopgo.scrape.path");
  const char *scheme = annotation(pod, "autopgo.scrape.scheme");
  if (!phase || strcmp(phase, "Running")) return "not running";
  if (!ip || !*ip) return "no pod IP";
  if (!valid_ip(ip)) return "pod IP is not an address";
  if (!port || !*port) return "no autopgo.scrape.port annotation";
  if (!valid_port(port)) return "autopgo.scrape.port is not a port number";
  if (!scheme || !*scheme) scheme = "http";
  if (strcmp(scheme, "http") && strcmp(scheme, "https")) return "autopgo.scrape.scheme is not http or https";
  if (!path || !*path) path = SCRAPE_DEFAULT_PATH;
  if (path[0] != '/' || strpbrk(path, " \t\r\n#")) return "autopgo.scrape.path does not start with '/'";
  if (t->n >= SCRAPE_DEFAULT_MAX_TARGETS) return "more targets than the scraper takes";
  if (t->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    scrape_target *nv = realloc(t->v, nc * sizeof *nv);
    if (!nv) {
      *oom = 1;
      return "out of memory";
    }
    t->v = nv;
    *cap = nc;
  }
  char addr[128];
  if (strchr(ip, ':')) snprintf(addr, sizeof addr, "%s://[%s]:%s", scheme, ip, port);
  else snprintf(addr, sizeof addr, "%s://%s:%s", scheme, ip, port);
  t->v[t->n].address = strdup(addr);
  t->v[t->n].path = strdup(path);
  if (!t->v[t->n].address || !t->v[t->n].path) {
    free(t->v[t->n].address);
    free(t->v[t->n].path);
    *oom = 1;
    return "out of memory";
  }
  t->n++;
  return NULL;
}

int discover_kube_parse(const char *json, size_t len, const char *name, scrape_targets *out,
                        char **next, discover_skip_fn skip, void *ud, char *err, size_t errlen) {
  if (next) *next = NULL;
  if (!name) name = "pods";
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  if (!root) {
    errbuf_set(err, errlen, "%s: not valid JSON (%d:%d): %s", name, je.line, je.column, je.text);
    return CLIENT_EPROTO;
  }
  json_t *items = json_object_get(root, "items");
  const char *kind = json_string_value(json_object_get(root, "kind"));
  if (!json_is_array(items) || (kind && strcmp(kind, "PodList"))) {
    errbuf_set(err, errlen, "%s: not a PodList (kind %s)", name, kind ? kind : "missing");
    json_decref(root);
    return CLIENT_EPROTO;
  }
  size_t cap = out->n, i;
  json_t *pod;
  int oom = 0;
  json_array_foreach(items, i, pod) {
    const char *why = pod_target(pod, out, &cap, &oom);
    if (oom) break;
    if (why && skip) {
      char who[300];
      const char *ns = str_at(pod, "metadata", "namespace"), *pn = str_at(pod, "metadata", "name");
      snprintf(who, sizeof who, "%s/%s", ns ? ns : "?", pn ? pn : "?");
      skip(ud, who, why);
    }
  }
  const char *cont = str_at(root, "metadata", "continue");
  if (!oom && next && cont && *cont) {
    *next = strdup(cont);
    if (!*next) oom = 1;
  }
  json_decref(root);
  if (oom) {
    errbuf_set(err, errlen, "%s: out of memory", name);
    return CLIENT_ENOMEM;
  }
  return CLIENT_OK;
}

/* Reads the service-account token (trimmed); malloc'd, or NULL with err. */
static char *read_token(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    errbuf_set(err, errlen, "kubernetes: service account token %s: %s (run in a pod, or give --kube-token-file)",
               path, strerror(errno));
    return NULL;
  }
  char *tok = malloc(16385);
  size_t n = tok ? fread(tok, 1, 16384, f) : 0;
  fclose(f);
  if (!tok) {
    errbuf_set(err, errlen, "kubernetes: out of memory");
    return NULL;
  }
  tok[n] = '\0';
  while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ')) tok[--n] = '\0';
  if (!n) {
    free(tok);
    errbuf_set(err, errlen, "kubernetes: service account token %s is empty", path);
    return NULL;
  }
  return tok;
}

int discover_kube(const discover_kube_config *cfg, scrape_targets *out, char *err, size_t errlen) {
  out->v = NULL;
  out->n = 0;
  char api[512];
  if (cfg->api_url && *cfg->api_url) {
    snprintf(api, sizeof api, "%s", cfg->api_url);
  } else {
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host) {
      errbuf_set(err, errlen, "kubernetes: KUBERNETES_SERVICE_HOST is not set (run in a pod, or give --kube-api-url)");
      return CLIENT_EINVAL;
    }
    snprintf(api, sizeof api, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
             port && *port ? port : "443");
  }
  size_t al = strlen(api);
  while (al && api[al - 1] == '/') api[--al] = '\0';
  char *token = read_token(cfg->token_file ? cfg->token_file : DISCOVER_KUBE_TOKEN, err, errlen);
  if (!token) return CLIENT_EINVAL;
  CURL *c = curl_easy_init();
  char *app = c ? curl_easy_escape(c, cfg->app, 0) : NULL;
  if (c) curl_easy_cleanup(c);
  if (!app) {
    free(token);
    errbuf_set(err, errlen, "kubernetes: out of memory");
    return CLIENT_ENOMEM;
  }
  const char *ca = cfg->ca_file ? cfg->ca_file : DISCOVER_KUBE_CA;
  char *cont = NULL;
  int rc = CLIENT_OK;
  scrape_targets t = {0};
  for (int page = 0; page < KUBE_MAX_PAGES && rc == CLIENT_OK; page++) {
    char url[4096];
    snprintf(url, sizeof url,
             "%s/api/v1/pods?labelSelector=autopgo.scrape%%3Dtrue%%2Cautopgo.scrape.app%%3D%s"
             "&fieldSelector=status.phase%%3DRunning&limit=%d%s%s",
             api, app, KUBE_PAGE, cont ? "&continue=" : "", cont ? cont : "");
    curl_free(cont);
    cont = NULL;
    char *body = NULL;
    size_t len = 0;
    rc = discover_get(url, token, ca, cfg->timeout_ms, cfg->max_bytes, &body, &len, err, errlen);
    if (rc == CLIENT_OK) {
      char *next = NULL;
      rc = discover_kube_parse(body, len, api, &t, &next, cfg->skip, cfg->ud, err, errlen);
      free(body);
      if (rc == CLIENT_OK && next) {
        CURL *e = curl_easy_init();
        cont = e ? curl_easy_escape(e, next, 0) : NULL;
        if (e) curl_easy_cleanup(e);
        free(next);
        if (!cont) rc = CLIENT_ENOMEM;
      }
    }
    if (rc == CLIENT_OK && !cont) break;
  }
  if (cont) { /* the API server kept answering pages: do not scrape a part as if it were all */
    curl_free(cont);
    if (rc == CLIENT_OK) {
      errbuf_set(err, errlen, "%s: more than %d pages of %d pods", api, KUBE_MAX_PAGES, KUBE_PAGE);
      rc = CLIENT_EPROTO;
    }
  }
  curl_free(app);
  memset(token, 0, strlen(token));
  free(token);
  if (rc != CLIENT_OK) {
    scrape_targets_free(&t);
    return rc;
  }
  *out = t;
  return CLIENT_OK;
}
