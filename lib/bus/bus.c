/*
 * bus.c — URL dispatch for the event bus, and the parts every backend shares.
 *
 * A bus URL names its backend by scheme (kafka://, nats://, mem://). This file parses
 * the URL once (percent-decoding the name and the query parameters), picks
 * the backend from a small table, checks the arguments common to all
 * backends, and forwards to the backend's operation (bus_internal.h). Its
 * only state is the application's logger (bus_set_logger): everything else
 * lives in the handles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "bus_internal.h"
#include "errbuf.h"
#include "rnd.h"

static const bus_backend *const backends[] = {&bus_backend_kafka, &bus_backend_nats, &bus_backend_mem};

/* Set once at start-up (bus_set_logger), read by backend threads after. */
static core_logger bus_log;

void bus_set_logger(const core_logger *lg) {
  if (lg)
    bus_log = *lg;
  else
    memset(&bus_log, 0, sizeof bus_log);
}

const core_logger *bus_logger(void) { return &bus_log; }

const char *bus_strerror(int code) {
  switch (code) {
  case BUS_OK: return "ok";
  case BUS_EIO: return "permanent failure";
  case BUS_EINVAL: return "invalid argument";
  case BUS_ERETRY: return "transient failure, retry";
  case BUS_ENOMEM: return "out of memory";
  case BUS_ECLOSED: return "closed";
  default: return "unknown error";
  }
}

int bus_valid_topic(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

/* ---- URL parsing ---- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL and *bad=1 on a malformed
 * escape or a decoded NUL, NULL and *bad=0 when out of memory. */
static char *pct_decode(const char *s, size_t n, int *bad) {
  char *out = malloc(n + 1), *o = out;
  *bad = 0;
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (n - i < 3) { /* need two hex digits after '%' */
        free(out);
        *bad = 1;
        return NULL;
      }
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0 || (h == 0 && l == 0)) {
        free(out);
        *bad = 1;
        return NULL;
      }
      *o++ = (char)(h * 16 + l);
      i += 2;
    } else {
      *o++ = s[i];
    }
  }
  *o = 0;
  return out;
}

static void url_free(bus_url *u) {
  free(u->scheme);
  free(u->name);
  for (size_t i = 0; i < u->nparams; i++) {
    free(u->params[i].key);
    free(u->params[i].value);
  }
  free(u->params);
  memset(u, 0, sizeof *u);
}

/* Adds the query parameter p[0..plen) ("KEY=VALUE") to u. */
static int url_add_param(bus_url *u, const char *url, const char *p, size_t plen, char *err,
                         size_t errlen) {
  const char *eq = memchr(p, '=', plen);
  if (!eq || eq == p) {
    errbuf_set(err, errlen, "bus: %s: query parameter \"%.*s\" is not KEY=VALUE", url, (int)plen,
               p);
    return BUS_EINVAL;
  }
  bus_param *np = realloc(u->params, (u->nparams + 1) * sizeof *np);
  if (!np) {
    errbuf_set(err, errlen, "bus: %s: out of memory", url);
    return BUS_ENOMEM;
  }
  u->params = np;
  bus_param *bp = &u->params[u->nparams];
  memset(bp, 0, sizeof *bp);
  int bad = 0;
  bp->key = pct_decode(p, (size_t)(eq - p), &bad);
  if (bp->key)
    bp->value = pct_decode(eq + 1, plen - (size_t)(eq - p) - 1, &bad);
  if (!bp->key || !bp->value) {
    free(bp->key);
    if (!bad) {
      errbuf_set(err, errlen, "bus: %s: out of memory", url);
      return BUS_ENOMEM;
    }
    errbuf_set(err, errlen, "bus: %s: bad percent-escape in \"%.*s\"", url, (int)plen, p);
    return BUS_EINVAL;
  }
  u->nparams++;
  for (size_t i = 0; i + 1 < u->nparams; i++)
    if (!strcmp(u->params[i].key, bp->key)) {
      errbuf_set(err, errlen, "bus: %s: query parameter \"%s\" given twice", url, bp->key);
      return BUS_EINVAL;
    }
  return 0;
}

/* Parses SCHEME://NAME?k=v&... into *u. On failure nothing is left to free. */
static int url_parse(const char *url, bus_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  if (!url || !*url) {
    errbuf_set(err, errlen, "bus: empty URL (want kafka://TOPIC, nats://SUBJECT or mem://TOPIC)");
    return BUS_EINVAL;
  }
  const char *sep = strstr(url, "://");
  if (!sep || sep == url) {
    errbuf_set(err, errlen, "bus: %s: not a URL (want kafka://TOPIC, nats://SUBJECT or mem://TOPIC)", url);
    return BUS_EINVAL;
  }
  const char *rest = sep + 3;
  const char *q = strchr(rest, '?');
  size_t nlen = q ? (size_t)(q - rest) : strlen(rest);
  if (nlen == 0) {
    errbuf_set(err, errlen, "bus: %s: no topic/group name after \"://\"", url);
    return BUS_EINVAL;
  }
  if (memchr(rest, '/', nlen)) {
    errbuf_set(err, errlen, "bus: %s: the name must not contain '/'", url);
    return BUS_EINVAL;
  }
  int bad = 0, rc = 0;
  u->scheme = strndup(url, (size_t)(sep - url));
  if (u->scheme)
    u->name = pct_decode(rest, nlen, &bad);
  if (!u->name) {
    url_free(u);
    if (bad) {
      errbuf_set(err, errlen, "bus: %s: bad percent-escape in the name", url);
      return BUS_EINVAL;
    }
    errbuf_set(err, errlen, "bus: %s: out of memory", url);
    return BUS_ENOMEM;
  }
  for (const char *p = q ? q + 1 : ""; *p && rc == 0;) {
    const char *amp = strchr(p, '&');
    size_t plen = amp ? (size_t)(amp - p) : strlen(p);
    if (plen > 0)
      rc = url_add_param(u, url, p, plen, err, errlen);
    p = amp ? amp + 1 : p + plen;
  }
  if (rc)
    url_free(u);
  return rc;
}

const char *bus_url_param(bus_url *u, const char *key) {
  for (size_t i = 0; i < u->nparams; i++)
    if (!strcmp(u->params[i].key, key)) {
      u->params[i].used = 1;
      return u->params[i].value;
    }
  return NULL;
}

int bus_url_param_int(bus_url *u, const char *key, long min, long max, long *out, char *err,
                      size_t errlen) {
  const char *v = bus_url_param(u, key);
  if (!v)
    return 0;
  char *end;
  long n = strtol(v, &end, 10);
  if (!*v || *end || n < min || n > max) {
    errbuf_set(err, errlen, "%s://%s: %s=%s: want an integer in [%ld, %ld]", u->scheme, u->name,
               key, v, min, max);
    return BUS_EINVAL;
  }
  *out = n;
  return 0;
}

/* gocloud's other buses, which autopgo deployments may name: a clear
 * "not supported" before their URLs (with '/' in the name) are parsed. */
static int unsupported_bus(const char *url, char *err, size_t errlen) {
  static const char *const elsewhere[][2] = {
      {"awssnssqs", "AWS SNS/SQS"}, {"awssns", "AWS SNS"}, {"awssqs", "AWS SQS"},
      {"gcppubsub", "Google Cloud Pub/Sub"}, {"azuresb", "Azure Service Bus"}, {"rabbit", "RabbitMQ"}};
  const char *sep = url ? strstr(url, "://") : NULL;
  if (!sep) return 0;
  for (size_t i = 0; i < sizeof elsewhere / sizeof elsewhere[0]; i++)
    if (strlen(elsewhere[i][0]) == (size_t)(sep - url) && !strncmp(url, elsewhere[i][0], (size_t)(sep - url))) {
      errbuf_set(err, errlen,
                 "bus: %.200s: %s (%s://) is not supported: use kafka://TOPIC or nats://SUBJECT (JetStream), "
                 "or bridge it to one of them",
                 url, elsewhere[i][1], elsewhere[i][0]);
      return 1;
    }
  return 0;
}

/* Parses url into *u and finds its backend by scheme. On success the caller
 * owns *u (url_free); on failure nothing is left to free. */
static int parse_url_backend(const char *url, bus_url *u, const bus_backend **be, char *err,
                             size_t errlen) {
  if (unsupported_bus(url, err, errlen)) return BUS_EINVAL;
  int rc = url_parse(url, u, err, errlen);
  if (rc)
    return rc;
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
    if (!strcmp(backends[i]->scheme, u->scheme)) {
      *be = backends[i];
      return 0;
    }
  errbuf_set(err, errlen, "bus: %s: unknown scheme \"%s\" (want kafka://, nats:// or mem://)", url,
             u->scheme);
  rc = BUS_EINVAL;
  url_free(u);
  return rc;
}

/* Opens a writer (wout) or a reader (rout; the other is NULL) for url
 * through its backend. */
static int open_handle(const char *fn, const char *url, bus_writer **wout, bus_reader **rout,
                       char *err, size_t errlen) {
  errbuf_clear(err, errlen);
  if (wout)
    *wout = NULL;
  else if (rout)
    *rout = NULL;
  else {
    errbuf_set(err, errlen, "bus: %s: out is NULL", fn);
    return BUS_EINVAL;
  }
  bus_url u;
  const bus_backend *be = NULL;
  int rc = parse_url_backend(url, &u, &be, err, errlen);
  if (rc)
    return rc;
  rc = wout ? be->writer_open(&u, wout, err, errlen) : be->reader_open(&u, rout, err, errlen);
  url_free(&u);
  return rc;
}

/* ---- writers ---- */

int bus_writer_open(const char *url, bus_writer **out, char *err, size_t errlen) {
  return open_handle("bus_writer_open", url, out, NULL, err, errlen);
}

int bus_publish(bus_writer *w, const char *key, const void *msg, size_t len, char *err,
                size_t errlen) {
  errbuf_clear(err, errlen);
  if (!w) {
    errbuf_set(err, errlen, "bus: publish on a NULL writer");
    return BUS_EINVAL;
  }
  if (!msg && len) {
    errbuf_set(err, errlen, "bus: publish: NULL message of %zu bytes", len);
    return BUS_EINVAL;
  }
  return w->be->publish(w, key ? key : "", msg ? msg : "", len, err, errlen);
}

int bus_publish_event(bus_writer *w, const bus_event *ev, char *err, size_t errlen) {
  char *json = NULL;
  size_t len = 0;
  errbuf_clear(err, errlen);
  if (!ev) {
    errbuf_set(err, errlen, "bus: publish of a NULL event");
    return BUS_EINVAL;
  }
  int rc = bus_event_encode(ev, &json, &len, err, errlen);
  if (rc)
    return rc;
  rc = bus_publish(w, ev->app, json, len, err, errlen);
  free(json);
  return rc;
}

int bus_writer_check(bus_writer *w, char *err, size_t errlen) {
  errbuf_clear(err, errlen);
  if (!w) {
    errbuf_set(err, errlen, "bus: check on a NULL writer");
    return BUS_EINVAL;
  }
  return w->be->writer_check(w, err, errlen);
}

void bus_writer_close(bus_writer *w) {
  if (w)
    w->be->writer_close(w);
}

/* ---- readers ---- */

int bus_reader_open(const char *url, bus_reader **out, char *err, size_t errlen) {
  int rc = open_handle("bus_reader_open", url, NULL, out, err, errlen);
  if (rc == 0) {
    /* 64 random bits: unique among readers for all purposes */
    uint64_t v = 0;
    if (rnd_bytes(&v, sizeof v) != 0) {
      bus_reader_close(*out);
      *out = NULL;
      errbuf_set(err, errlen, "bus: %s: no random bytes for a reader id", url);
      return BUS_EIO;
    }
    (*out)->id = v | 1; /* never 0 */
  }
  return rc;
}

int bus_poll(bus_reader *r, int timeout_ms, bus_msg **msg, char *err, size_t errlen) {
  errbuf_clear(err, errlen);
  if (!r || !msg) {
    errbuf_set(err, errlen, "bus: poll: NULL reader or msg");
    return BUS_EINVAL;
  }
  *msg = NULL;
  if (timeout_ms < 0)
    timeout_ms = 0;
  bus_msg_full *m = NULL;
  int rc = r->be->poll(r, timeout_ms, &m, err, errlen);
  if (rc == 1)
    *msg = &m->pub;
  return rc;
}

void bus_msg_free(bus_msg *msg) {
  /* pub is the first member of the single allocation made by bus_msg_new. */
  free(msg);
}

bus_msg_full *bus_msg_new(const struct bus_reader *owner, const void *key, size_t keylen,
                          const void *payload, size_t len, int32_t partition, int64_t offset,
                          uint64_t gen) {
  if (!key)
    keylen = 0;
  if (keylen > SIZE_MAX / 2 || len > SIZE_MAX / 2)
    return NULL;
  bus_msg_full *m = malloc(sizeof *m + keylen + 1 + len + 1);
  if (!m)
    return NULL;
  char *k = (char *)(m + 1);
  if (keylen)
    memcpy(k, key, keylen);
  k[keylen] = 0;
  char *p = k + keylen + 1;
  if (len)
    memcpy(p, payload, len);
  p[len] = 0; /* a convenience for text payloads; len is authoritative */
  m->pub.key = k;
  m->pub.payload = p;
  m->pub.len = len;
  m->pub.partition = partition;
  m->pub.offset = offset;
  m->owner = owner->id;
  m->gen = gen;
  return m;
}

int bus_commit(bus_reader *r, const bus_msg *msg, char *err, size_t errlen) {
  errbuf_clear(err, errlen);
  if (!r || !msg) {
    errbuf_set(err, errlen, "bus: commit: NULL reader or msg");
    return BUS_EINVAL;
  }
  const bus_msg_full *m = (const bus_msg_full *)msg;
  if (m->owner != r->id) {
    errbuf_set(err, errlen, "bus: commit of a message this reader did not deliver");
    return BUS_EINVAL;
  }
  return r->be->commit(r, m, err, errlen);
}

int bus_reader_check(bus_reader *r, char *err, size_t errlen) {
  errbuf_clear(err, errlen);
  if (!r) {
    errbuf_set(err, errlen, "bus: check on a NULL reader");
    return BUS_EINVAL;
  }
  return r->be->reader_check(r, err, errlen);
}

void bus_reader_close(bus_reader *r) {
  if (r)
    r->be->reader_close(r);
}
