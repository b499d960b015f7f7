/*
 * s3_conf.c — what an s3:// URL and the environment configure (see
 * s3_conf.h): the bucket, where to send requests and how to address the
 * bucket, the timing parameters, encryption and the credentials. The
 * parameters of gocloud's S3 URLs are read with gocloud's meaning (its
 * gocloud.dev/aws and blob/s3blob), so an autopgo configuration works as
 * it is; those that select something of the Go SDK are accepted and said
 * to be ignored.
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
  const char *endpoint, *region, *profile; /* point into q; NULL when absent */
  int path_style;
  int disable_https; /* -1: not given */
  int hostname_immutable, dualstack, fips, accelerate, anonymous;
  const char *sse, *kms_key_id;
} s3_params;

/* A boolean parameter of gocloud's (strconv.ParseBool's words too). */
static int bool_param(const char *url, const char *k, const char *v, int *out, char *err, size_t errlen) {
  if (!strcasecmp(v, "t") || !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
    *out = 1;
  else if (!strcasecmp(v, "f") || !strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
    *out = 0;
  else {
    errbuf_set(err, errlen, "blob store URL \"%.200s\": %s must be true or false", url, k);
    return BLOB_EINVAL;
  }
  return 0;
}

/* A parameter of gocloud's S3 URLs that has no meaning here: accepted, and
 * said once, so a copied autopgo configuration starts. */
static void ignored(const char *url, const char *k, const char *why) {
  char u[256];
  snprintf(u, sizeof u, "%.*s", (int)strcspn(url, "?"), url);
  core_log(blob_logger(), CORE_LOG_WARN, "s3 URL parameter ignored", "url", u, "parameter", k, "why", why,
           NULL);
}

/* gocloud's parameters (gocloud.dev/aws, s3blob), as autopgo's users have
 * them. Returns 1 when k is not one of them, else 0 or an error. */
static int gocloud_param(s3_params *p, const char *url, const char *k, const char *v, char *err,
                         size_t errlen) {
  int rc = 0;
  if (!strcmp(k, "disable_https") || !strcmp(k, "disableSSL")) {
    rc = bool_param(url, k, v, &p->disable_https, err, errlen);
  } else if (!strcmp(k, "s3ForcePathStyle")) {
    rc = bool_param(url, k, v, &p->path_style, err, errlen);
  } else if (!strcmp(k, "hostname_immutable")) {
    rc = bool_param(url, k, v, &p->hostname_immutable, err, errlen);
  } else if (!strcmp(k, "dualstack")) {
    rc = bool_param(url, k, v, &p->dualstack, err, errlen);
  } else if (!strcmp(k, "fips")) {
    rc = bool_param(url, k, v, &p->fips, err, errlen);
  } else if (!strcmp(k, "accelerate")) {
    rc = bool_param(url, k, v, &p->accelerate, err, errlen);
  } else if (!strcmp(k, "profile")) {
    p->profile = v;
  } else if (!strcmp(k, "anonymous")) {
    rc = bool_param(url, k, v, &p->anonymous, err, errlen);
  } else if (!strcmp(k, "ssetype")) {
    if (!strcasecmp(v, "AES256")) p->sse = "AES256";
    else if (!strcasecmp(v, "aws:kms")) p->sse = "aws:kms";
    else if (!strcasecmp(v, "aws:kms:dsse")) p->sse = "aws:kms:dsse";
    else {
      errbuf_set(err, errlen, "blob store URL \"%.200s\": ssetype must be AES256, aws:kms or aws:kms:dsse", url);
      rc = BLOB_EINVAL;
    }
  } else if (!strcmp(k, "kmskeyid")) {
    p->kms_key_id = v;
  } else if (!strcmp(k, "awssdk")) {
    ignored(url, k, "it chooses the version of the Go AWS SDK; pgopipe speaks S3 itself");
  } else if (!strcmp(k, "rate_limiter_capacity")) {
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0) {
      errbuf_set(err, errlen, "blob store URL \"%.200s\": rate_limiter_capacity must be a whole number", url);
      rc = BLOB_EINVAL;
    } else {
      ignored(url, k, "retries are bounded by retries= and retry_backoff= instead");
    }
  } else if (!strcmp(k, "request_checksum_calculation") || !strcmp(k, "response_checksum_validation")) {
    if (strcasecmp(v, "when_supported") && strcasecmp(v, "when_required")) {
      errbuf_set(err, errlen, "blob store URL \"%.200s\": %s must be when_supported or when_required", url, k);
      rc = BLOB_EINVAL;
    } else {
      ignored(url, k, "every request body is signed with its SHA-256 (x-amz-content-sha256) instead");
    }
  } else {
    return 1;
  }
  return rc;
}

/* One KEY=VALUE of the query (value already percent-decoded). */
static int parse_param(s3_conf *s, s3_params *p, const char *url, const char *k, const char *v,
                       char *err, size_t errlen) {
  if (!strcmp(k, "endpoint")) {
    p->endpoint = v;
  } else if (!strcmp(k, "region")) {
    p->region = v;
  } else if (!strcmp(k, "use_path_style")) {
    return bool_param(url, k, v, &p->path_style, err, errlen);
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
    int rc = gocloud_param(p, url, k, v, err, errlen);
    if (rc != 1) return rc;
    errbuf_set(err, errlen,
               "blob store URL \"%.200s\": unknown parameter \"%s\" (known: endpoint, region, "
               "use_path_style, connect_timeout, timeout, retries, retry_backoff, and gocloud's "
               "disable_https, disableSSL, s3ForcePathStyle, hostname_immutable, dualstack, fips, "
               "accelerate, profile, anonymous, ssetype, kmskeyid, awssdk, rate_limiter_capacity, "
               "request_checksum_calculation, response_checksum_validation)",
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

/* AWS's endpoint for the region and the options (dualstack, fips,
 * accelerate), as the AWS SDKs form it. */
static void aws_endpoint(const s3_params *p, const char *region, char *hostport, size_t n) {
  if (p->accelerate)
    snprintf(hostport, n, "s3-accelerate%s.amazonaws.com", p->dualstack ? ".dualstack" : "");
  else
    snprintf(hostport, n, "s3%s%s.%s.amazonaws.com", p->fips ? "-fips" : "", p->dualstack ? ".dualstack" : "",
             region);
}

/* Splits the endpoint "[http(s)://]HOST[:PORT][/]" into scheme and hostport
 * (without a scheme, as gocloud allows, https unless disable_https); with
 * no endpoint, AWS's for the region (http with disable_https). */
static int parse_endpoint(const s3_params *prm, const char *region, const char *url, char *scheme,
                          size_t scheme_len, char *hostport, size_t hostport_len, char *err,
                          size_t errlen) {
  const char *endpoint = prm->endpoint;
  const char *dflt = prm->disable_https == 1 ? "http" : "https";
  if (!endpoint || !*endpoint) {
    snprintf(scheme, scheme_len, "%s", dflt);
    aws_endpoint(prm, region, hostport, hostport_len);
    return 0;
  }
  const char *p = strstr(endpoint, "://");
  size_t sl = p ? (size_t)(p - endpoint) : 0;
  const char *why = NULL;
  const char *hp = endpoint;
  if (p && sl < scheme_len) {
    memcpy(scheme, endpoint, sl);
    scheme[sl] = '\0';
    hp = p + 3;
    if (prm->disable_https == 1 && !strcmp(scheme, "https")) {
      char u[256];
      snprintf(u, sizeof u, "%.*s", (int)strcspn(url, "?"), url);
      core_log(blob_logger(), CORE_LOG_WARN, "s3 URL parameter ignored", "url", u, "parameter", "disable_https",
               "why", "the endpoint names its scheme (https), which wins as in the AWS SDKs", NULL);
    }
  } else if (p) {
    why = "endpoint must look like http://HOST:PORT, https://HOST or HOST[:PORT]";
  } else {
    snprintf(scheme, scheme_len, "%s", dflt);
  }
  if (!why) {
    size_t hl = strcspn(hp, "/?#");
    if (strcmp(scheme, "http") && strcmp(scheme, "https"))
      why = "endpoint scheme must be http or https";
    else if (hl == 0 || hl >= hostport_len || (hp[hl] && strcmp(hp + hl, "/")))
      why = "endpoint must be [scheme://]HOST[:PORT] without a path";
    else
      snprintf(hostport, hostport_len, "%.*s", (int)hl, hp);
  }
  if (!why) return 0;
  errbuf_set(err, errlen, "blob store URL \"%.200s\": %s", url, why);
  return BLOB_EINVAL;
}

/* Sets host, base and path_pfx from the endpoint and the addressing style. */
static int set_addressing(s3_conf *s, s3_params *p, const char *url, char *err, size_t errlen) {
  char scheme[8], hostport[512], host[600], base[700];
  const char *clash = NULL;
  if (p->endpoint && *p->endpoint && (p->dualstack || p->fips || p->accelerate))
    clash = "dualstack, fips and accelerate choose AWS's endpoint: they cannot go with endpoint=";
  else if (p->accelerate && p->path_style)
    clash = "accelerate needs virtual-hosted addressing: it cannot go with use_path_style";
  if (clash) {
    errbuf_set(err, errlen, "blob store URL \"%.200s\": %s", url, clash);
    return BLOB_EINVAL;
  }
  /* an immutable endpoint host: the bucket goes in the path */
  if (p->hostname_immutable && p->endpoint && *p->endpoint) p->path_style = 1;
  int rc = parse_endpoint(p, s->region, url, scheme, sizeof scheme, hostport, sizeof hostport, err, errlen);
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

/* ---- credentials of a profile (the shared AWS files) ---- */

typedef struct profile_creds {
  char access_key[256], secret_key[256], session_token[2048], region[64];
} profile_creds;

/* The path of a shared file: the variable's value, else ~/.aws/NAME. */
static void shared_path(const char *var, const char *name, char *out, size_t n) {
  const char *v = getenv(var);
  const char *home = getenv("HOME");
  if (v && *v) snprintf(out, n, "%s", v);
  else snprintf(out, n, "%s/.aws/%s", home && *home ? home : ".", name);
}

static char *trim(char *t) {
  while (*t == ' ' || *t == '\t') t++;
  size_t n = strlen(t);
  while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r' || t[n - 1] == '\n')) t[--n] = '\0';
  return t;
}

/* Reads the keys of section `want` of an INI file into pc (only keys not
 * set yet). */
static void read_ini(const char *path, const char *want, profile_creds *pc) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[4096];
  int in = 0;
  while (fgets(line, sizeof line, f)) {
    char *t = trim(line);
    if (*t == '#' || *t == ';' || !*t) continue;
    if (*t == '[') {
      char *e = strchr(t, ']');
      if (e) *e = '\0';
      in = !strcmp(trim(t + 1), want);
      continue;
    }
    char *eq = strchr(t, '=');
    if (!in || !eq) continue;
    *eq = '\0';
    char *k = trim(t), *v = trim(eq + 1);
    struct {
      const char *key;
      char *dst;
      size_t n;
    } keys[] = {{"aws_access_key_id", pc->access_key, sizeof pc->access_key},
                {"aws_secret_access_key", pc->secret_key, sizeof pc->secret_key},
                {"aws_session_token", pc->session_token, sizeof pc->session_token},
                {"region", pc->region, sizeof pc->region}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (!strcmp(k, keys[i].key) && !keys[i].dst[0]) snprintf(keys[i].dst, keys[i].n, "%s", v);
  }
  memset(line, 0, sizeof line);
  fclose(f);
}

/* What the shared files say for profile: the credentials file's section
 * [NAME] first, then the config file's [profile NAME] ([default] there). */
static void read_profile(const char *profile, profile_creds *pc) {
  char path[1024], section[300];
  memset(pc, 0, sizeof *pc);
  shared_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof path);
  read_ini(path, profile, pc);
  shared_path("AWS_CONFIG_FILE", "config", path, sizeof path);
  if (!strcmp(profile, "default")) snprintf(section, sizeof section, "default");
  else snprintf(section, sizeof section, "profile %s", profile);
  read_ini(path, section, pc);
}

static char *dup_or_null(const char *v) { return v && *v ? strdup(v) : NULL; }

/* The keys: the environment's when set (the AWS SDKs' order), else the
 * profile's; none with anonymous. */
static int set_credentials(s3_conf *s, const s3_params *p, const profile_creds *pc, const char *profile, char *err,
                           size_t errlen) {
  if (p->anonymous) {
    s->anonymous = 1;
    return 0;
  }
  s->access_key = env_dup("AWS_ACCESS_KEY_ID");
  s->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
  if (s->access_key && s->secret_key) {
    s->session_token = env_dup("AWS_SESSION_TOKEN");
    return 0;
  }
  free(s->access_key);
  free(s->secret_key);
  s->access_key = dup_or_null(pc->access_key);
  s->secret_key = dup_or_null(pc->secret_key);
  s->session_token = dup_or_null(pc->session_token);
  if (s->access_key && s->secret_key) return 0;
  errbuf_set(err, errlen,
             "s3 bucket %s: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
             "environment, or aws_access_key_id and aws_secret_access_key in the profile \"%s\" of "
             "the shared AWS files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), or anonymous=true",
             s->bucket, profile);
  return BLOB_EINVAL;
}

/* Server-side encryption of what is written (ssetype, kmskeyid). */
static int set_encryption(s3_conf *s, const s3_params *p, const char *url, char *err, size_t errlen) {
  const char *sse = p->sse ? p->sse : (p->kms_key_id && *p->kms_key_id ? "aws:kms" : NULL);
  if (!sse) return 0;
  s->sse = strdup(sse);
  if (p->kms_key_id && *p->kms_key_id) s->kms_key_id = strdup(p->kms_key_id);
  if (s->sse && (!p->kms_key_id || !*p->kms_key_id || s->kms_key_id)) return 0;
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
  s3_params p = {.disable_https = -1};
  s->bucket = strdup(copy);
  int rc = parse_query(s, q, &p, url, err, errlen);
  if (rc) return rc;
  profile_creds pc;
  const char *profile = p.profile && *p.profile ? p.profile : getenv("AWS_PROFILE");
  if (!profile || !*profile) profile = "default";
  read_profile(profile, &pc);
  const char *region = p.region && *p.region ? p.region : pc.region[0] ? pc.region : "us-east-1";
  s->region = strdup(region);
  if (!s->bucket || !s->region) {
    errbuf_set(err, errlen, "s3 %s: out of memory", url);
    return BLOB_ENOMEM;
  }
  rc = set_addressing(s, &p, url, err, errlen);
  if (!rc) rc = set_encryption(s, &p, url, err, errlen);
  if (!rc) rc = set_credentials(s, &p, &pc, profile, err, errlen);
  memset(&pc, 0, sizeof pc);
  return rc;
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
  free(c->sse);
  free(c->kms_key_id);
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
