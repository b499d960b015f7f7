/*
 * discover_http.c — scrape targets from a Prometheus-style HTTP service
 * discovery endpoint (discover.h), and the one GET both discoveries use.
 *
 * The document is small and read whole; every group and target is checked
 * and one that does not fit the format fails the whole document, so a
 * refresh never leaves the scraper with half a list.
 */
#include "discover.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* ---- the GET ---- */

typedef struct sink {
  char *b;
  size_t n, cap, max;
  int over;
} sink;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
  sink *s = ud;
  size_t n = sz * nm;
  if (s->n + n > s->max) {
    s->over = 1;
    return 0;
  }
  if (s->n + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < s->n + n + 1) cap *= 2;
    char *nb = realloc(s->b, cap);
    if (!nb) return 0;
    s->b = nb;
    s->cap = cap;
  }
  memcpy(s->b + s->n, p, n);
  s->n += n;
  s->b[s->n] = '\0';
  return n;
}

int discover_get(const char *url, const char *bearer, const char *ca_file, long timeout_ms,
                 size_t max_bytes, char **body, size_t *len, char *err, size_t errlen) {
  *body = NULL;
  *len = 0;
  CURL *c = curl_easy_init();
  if (!c) {
    errbuf_set(err, errlen, "GET %s: out of memory", url);
    return CLIENT_ENOMEM;
  }
  sink s = {.max = max_bytes ? max_bytes : DISCOVER_DEFAULT_MAX_BYTES};
  struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
  char auth[8192];
  if (bearer && *bearer) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    struct curl_slist *nh = curl_slist_append(h, auth);
    if (nh) h = nh;
  }
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : DISCOVER_DEFAULT_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  if (ca_file && *ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  memset(auth, 0, sizeof auth);
  curl_easy_cleanup(c);
  if (s.over) {
    free(s.b);
    errbuf_set(err, errlen, "GET %s: answer larger than %zu bytes", url, s.max);
    return CLIENT_EPROTO;
  }
  if (rc != CURLE_OK) {
    free(s.b);
    errbuf_set(err, errlen, "GET %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    return CLIENT_ENET;
  }
  if (status != 200) {
    errbuf_set(err, errlen, "GET %s: HTTP %ld: %.200s", url, status, s.b ? s.b : "");
    free(s.b);
    return CLIENT_EHTTP;
  }
  *body = s.b ? s.b : calloc(1, 1);
  *len = s.n;
  return *body ? CLIENT_OK : CLIENT_ENOMEM;
}

/* ---- the document ---- */

static const char *label(json_t *labels, const char *a, const char *b) {
  json_t *v = json_object_get(labels, a);
  if (!json_is_string(v)) v = json_object_get(labels, b);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int bad_text(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) return 1;
  return 0;
}

/* Appends SCHEME://HOSTPORT with PATH to t (capacity grown as needed). */
static int add_target(scrape_targets *t, size_t *cap, const char *scheme, const char *hostport,
                      const char *path) {
  if (t->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    scrape_target *nv = realloc(t->v, nc * sizeof *nv);
    if (!nv) return -1;
    t->v = nv;
    *cap = nc;
  }
  size_t n = strlen(scheme) + strlen(hostport) + 4;
  char *a = malloc(n), *p = strdup(path);
  if (!a || !p) {
    free(a);
    free(p);
    return -1;
  }
  snprintf(a, n, "%s://%s", scheme, hostport);
  t->v[t->n].address = a;
  t->v[t->n].path = p;
  t->n++;
  return 0;
}

int discover_http_parse(const char *json, size_t len, const char *name, const char *app,
                        scrape_targets *out, char *err, size_t errlen) {
  out->v = NULL;
  out->n = 0;
  if (!name) name = "http_sd";
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  if (!root) {
    errbuf_set(err, errlen, "%s: not valid JSON (%d:%d): %s", name, je.line, je.column, je.text);
    return CLIENT_EPROTO;
  }
  int rc = CLIENT_EPROTO;
  scrape_targets t = {0};
  size_t cap = 0;
  if (!json_is_array(root)) {
    errbuf_set(err, errlen, "%s: want [{\"targets\": [\"host:port\", ...], \"labels\": {...}}, ...]", name);
    goto done;
  }
  size_t gi;
  json_t *g;
  json_array_foreach(root, gi, g) {
    json_t *targets = json_object_get(g, "targets"), *labels = json_object_get(g, "labels");
    if (!json_is_object(g) || !json_is_array(targets) || (labels && !json_is_object(labels))) {
      errbuf_set(err, errlen, "%s: group %zu: want {\"targets\": [...], \"labels\": {...}}", name, gi);
      goto done;
    }
    const char *gapp = label(labels, "autopgo.scrape.app", "autopgo.scrape.app");
    if (app && gapp && strcmp(gapp, app)) continue; /* another app's */
    const char *scheme = label(labels, "__scheme__", "autopgo.scrape.scheme");
    const char *path = label(labels, "__profile_path__", "autopgo.scrape.path");
    if (!scheme) scheme = "http";
    if (!path) path = SCRAPE_DEFAULT_PATH;
    if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
      errbuf_set(err, errlen, "%s: group %zu: scheme \"%.40s\" (want http or https)", name, gi, scheme);
      goto done;
    }
    if (path[0] != '/' || bad_text(path) || strchr(path, '#')) {
      errbuf_set(err, errlen, "%s: group %zu: path \"%.80s\" must start with '/'", name, gi, path);
      goto done;
    }
    size_t ti;
    json_t *tv;
    json_array_foreach(targets, ti, tv) {
      const char *hp = json_is_string(tv) ? json_string_value(tv) : NULL;
      if (!hp || !*hp || bad_text(hp) || strpbrk(hp, "/?#@")) {
        errbuf_set(err, errlen, "%s: group %zu, target %zu: want \"host:port\"", name, gi, ti);
        goto done;
      }
      if (t.n >= SCRAPE_DEFAULT_MAX_TARGETS) {
        errbuf_set(err, errlen, "%s: more than %d targets", name, SCRAPE_DEFAULT_MAX_TARGETS);
        goto done;
      }
      if (add_target(&t, &cap, scheme, hp, path) != 0) {
        errbuf_set(err, errlen, "%s: out of memory", name);
        rc = CLIENT_ENOMEM;
        goto done;
      }
    }
  }
  *out = t;
  t.v = NULL;
  t.n = 0;
  rc = CLIENT_OK;
done:
  scrape_targets_free(&t);
  json_decref(root);
  return rc;
}

int discover_http(const discover_http_config *cfg, scrape_targets *out, char *err, size_t errlen) {
  out->v = NULL;
  out->n = 0;
  char *body = NULL;
  size_t len = 0;
  int rc = discover_get(cfg->url, NULL, NULL, cfg->timeout_ms, cfg->max_bytes, &body, &len, err, errlen);
  if (rc != CLIENT_OK) return rc;
  rc = discover_http_parse(body, len, cfg->url, cfg->app, out, err, errlen);
  free(body);
  return rc;
}
