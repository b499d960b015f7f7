/*
 * s3_conf.c — what an s3:// URL and the environment configure (see
 * s3_conf.h): the bucket, where to send requests and how to address the
 * bucket, the timing parameters and the credentials.
 */
#include "s3_conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob_internal.h"
#include "chrono.h"

static int valid_bucket(const char *b) {
  size_t n = strlen(b);
  if (n < 3 || n > 63) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = b[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return 0;
  }
  return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

static int parse_bool(const char *v, int *out) {
  if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
    *out = 1;
  else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
    *out = 0;
  else
    return -1;
  return 0;
}

static char *env_dup(const char *name) {
  const char *v = getenv(name);
  return v && *v ? strdup(v) : NULL;
}

/* A timing parameter (connect_timeout, timeout, retry_backoff) in the
 * common duration grammar (chrono_parse_duration), at most a year. */
static int parse_timing(const char *url, const char *name, const char *v, long *out, char *err,
                        size_t errlen) {
  int64_t ms = -1;
  int zero_ok = !strcmp(name, "retry_backoff");
  if (chrono_parse_duration(v, &ms, NULL, 0) != 0 || ms > 365LL * 86400000) ms = -1;
  if (ms < 0 || (ms == 0 && !zero_ok)) {
    if (zero_ok)
      errbuf_set(err, errlen,
                 "blob store URL \"%.200s\": retry_backoff must be a duration like 200ms", url);
    else
      errbuf_set(err, errlen,
                 "blob store URL \"%.200s\": %s must be a positive duration like 500ms, 5s or 2m",
                 url, name);
    return BLOB_EINVAL;
  }
  *out = (long)ms;
  return 0;
}

/* The query of an s3:// URL, parsed in place (q is modified). */
typedef struct s3_params {
  const char *endpoint, *region; /* point into q; NULL when absent */
  int path_style;
} s3_params;

/* One KEY=VALUE of the query (value already percent-decoded). */
static int parse_param(s3_conf *s, s3_params *p, const char *url, const char *k, const char *v,
                       char *err, size_t errlen) {
  if (!strcmp(k, "endpoint")) {
    p->endpoint = v;
  } else if (!strcmp(k, "region")) {
    p->region = v;
  } else if (!strcmp(k, "use_path_style")) {
    if (parse_bool(v, &p->path_style) < 0) {
      errbuf_set(err, errlen, "blob store URL \"%.200s\": use_path_style must be true or false",
                 url);
      return BLOB_EINVAL;
    }
  } else if (!strcmp(k, "connect_timeout")) {
    return parse_timing(url, k, v, &s->connect_timeout_ms, err, errlen);
  } else if (!strcmp(k, "timeout")) {
    return parse_timing(url, k, v, &s->timeout_ms, err, errlen);
  } else if (!strcmp(k, "retry_backoff")) {
    return parse_timing(url, k, v, &s->backoff_ms, err, errlen);
  } else if (!strcmp(k, "retries")) {
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0 || n > 20) {
      errbuf_set(err, errlen, "blob store URL \"%.200s\": retries must be an integer from 0 to 20",
                 url);
      return BLOB_EINVAL;
    }
    s->retries = n;
  } else {
    errbuf_set(err, errlen,
               "blob store URL \"%.200s\": unknown parameter \"%s\" (known: endpoint, region, "
               "use_path_style, connect_timeout, timeout, retries, retry_backoff)",
               url, k);
    return BLOB_EINVAL;
  }
  return 0;
}

static int parse_query(s3_conf *s, char *q, s3_params *p, const char *url, char *err,
                       size_t errlen) {
  char *save = NULL;
  for (char *tok = q ? strtok_r(q, "&", &save) : NULL; tok; tok = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(tok, '=');
    char *v = eq ? eq + 1 : (char *)"";
    if (eq) *eq = '\0';
    if (blob_pct_decode(v) < 0) {
      errbuf_set(err, errlen, "blob store URL \"%.200s\": bad %% escape in %s", url, tok);
      return BLOB_EINVAL;
    }
    int rc = parse_param(s, p, url, tok, v, err, errlen);
    if (rc) return rc;
  }
  return 0;
}

/* Splits endpoint "http(s)://HOST[:PORT][/]" into scheme and hostport; with
 * no endpoint, AWS's for the region. */
static int parse_endpoint(const char *endpoint, const char *region, const char *url, char *scheme,
                          size_t scheme_len, char *hostport, size_t hostport_len, char *err,
                          size_t errlen) {
  if (!endpoint || !*endpoint) {
    snprintf(scheme, scheme_len, "https");
    snprintf(hostport, hostport_len, "s3.%s.amazonaws.com", region);
    return 0;
  }
  const char *p = strstr(endpoint, "://");
  size_t sl = p ? (size_t)(p - endpoint) : 0;
  const char *why = NULL;
  if (!p || sl >= scheme_len) {
    why = "endpoint must look like http://HOST:PORT or https://HOST";
  } else {
    memcpy(scheme, endpoint, sl);
    scheme[sl] = '\0';
    const char *hp = p + 3;
    size_t hl = strcspn(hp, "/?#");
    if (strcmp(scheme, "http") && strcmp(scheme, "https"))
      why = "endpoint scheme must be http or https";
    else if (hl == 0 || hl >= hostport_len || (hp[hl] && strcmp(hp + hl, "/")))
      why = "endpoint must be scheme://HOST[:PORT] without a path";
    else
      snprintf(hostport, hostport_len, "%.*s", (int)hl, hp);
  }
  if (!why) return 0;
  errbuf_set(err, errlen, "blob store URL \"%.200s\": %s", url, why);
  return BLOB_EINVAL;
}

/* Sets host, base and path_pfx from the endpoint and the addressing style. */
static int set_addressing(s3_conf *s, const s3_params *p, const char *url, char *err,
                          size_t errlen) {
  char scheme[8], hostport[512], host[600], base[700];
  int rc = parse_endpoint(p->endpoint, s->region, url, scheme, sizeof scheme, hostport,
                          sizeof hostport, err, errlen);
  if (rc) return rc;
  if (p->path_style)
    snprintf(host, sizeof host, "%s", hostport);
  else
    snprintf(host, sizeof host, "%s.%s", s->bucket, hostport);
  snprintf(base, sizeof base, "%s://%s", scheme, host);
  s->host = strdup(host);
  s->base = strdup(base);
  if (p->path_style) {
    char pfx[80];
    snprintf(pfx, sizeof pfx, "/%s", s->bucket);
    s->path_pfx = strdup(pfx);
  } else {
    s->path_pfx = strdup("");
  }
  if (s->host && s->base && s->path_pfx) return 0;
  errbuf_set(err, errlen, "s3 %s: out of memory", url);
  return BLOB_ENOMEM;
}

/* Parses "BUCKET[/][?QUERY]" (copy, modified in place) into s. */
static int configure(s3_conf *s, char *copy, const char *url, char *err, size_t errlen) {
  char *q = strchr(copy, '?');
  if (q) *q++ = '\0';
  char *slash = strchr(copy, '/');
  if (slash && slash[1] == '\0') *slash = '\0';
  if (!valid_bucket(copy)) {
    errbuf_set(err, errlen,
               "blob store URL \"%.200s\": \"%.80s\" is not a bucket name (3-63 of a-z 0-9 . -; "
               "no key prefix after the bucket)",
               url, copy);
    return BLOB_EINVAL;
  }
  s3_params p = {0};
  s->bucket = strdup(copy);
  int rc = parse_query(s, q, &p, url, err, errlen);
  if (rc) return rc;
  s->region = strdup(p.region && *p.region ? p.region : "us-east-1");
  if (!s->bucket || !s->region) {
    errbuf_set(err, errlen, "s3 %s: out of memory", url);
    return BLOB_ENOMEM;
  }
  rc = set_addressing(s, &p, url, err, errlen);
  if (rc) return rc;
  s->access_key = env_dup("AWS_ACCESS_KEY_ID");
  s->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
  s->session_token = env_dup("AWS_SESSION_TOKEN");
  if (!s->access_key || !s->secret_key) {
    errbuf_set(err, errlen,
               "s3 bucket %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment",
               s->bucket);
    return BLOB_EINVAL;
  }
  return 0;
}

int s3_conf_parse(const char *url, s3_conf *c, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  c->connect_timeout_ms = 5000;
  c->timeout_ms = 60000;
  c->retries = 3;
  c->backoff_ms = 200;
  char *copy = strdup(url + strlen("s3://"));
  if (!copy) {
    errbuf_set(err, errlen, "s3 %s: out of memory", url);
    return BLOB_ENOMEM;
  }
  int rc = configure(c, copy, url, err, errlen);
  free(copy);
  if (rc) s3_conf_free(c);
  return rc;
}

void s3_conf_free(s3_conf *c) {
  free(c->bucket);
  free(c->region);
  free(c->base);
  free(c->host);
  free(c->path_pfx);
  free(c->access_key);
  if (c->secret_key) {
    memset(c->secret_key, 0, strlen(c->secret_key));
    free(c->secret_key);
  }
  free(c->session_token);
  memset(c, 0, sizeof *c);
}
