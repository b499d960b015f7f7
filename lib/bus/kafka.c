/*
 * kafka.c — the Kafka event bus on librdkafka.
 *
 * Writer (kafka://TOPIC): an idempotent producer with acks=all, message key
 * = the app, so one app's events keep their order in one partition.
 * bus_publish blocks until the broker acknowledged the message: each call
 * hands librdkafka a small heap-allocated completion record as the message
 * opaque and sleeps on that record's condition variable; a background
 * thread owned by the writer runs rd_kafka_poll(), whose delivery-report
 * callback fills the record and wakes exactly that caller. A dedicated poll
 * thread (rather than callers polling in turn) keeps reports flowing while
 * no caller is inside librdkafka and lets any number of threads publish
 * concurrently, their messages batched together by librdkafka. The record
 * is reference-counted (caller + callback), so a caller that gives up after
 * the delivery timeout (message.timeout.ms, default 30000, plus a margin)
 * never leaves the callback writing to freed memory. linger.ms defaults to
 * 0: a synchronous publish should not wait for a batch to fill.
 *
 * Reader (kafka://GROUP?topic=TOPIC): a consumer-group member with
 * enable.auto.commit=false and enable.auto.offset.store=false; the caller
 * commits each message after handling it (bus_commit: synchronous commit of
 * offset + 1 for that partition). Rebalances: the callback records which
 * partitions this member owns and gives each assignment a fresh generation
 * number; on revocation it commits nothing (everything done was already
 * committed by bus_commit, everything else must be redelivered), and a
 * later bus_commit of a message from a revoked (or since re-assigned)
 * partition returns BUS_ERETRY. Works with the eager assignors (default)
 * and with cooperative-sticky (incremental assign/unassign).
 *
 * Both: brokers from KAFKA_BROKERS (or a bootstrap.servers parameter);
 * every query parameter except the reader's topic and our check.timeout.ms
 * goes to rd_kafka_conf_set untouched, applied after our defaults so the
 * URL can override them (a failure names the property). Opening checks
 * that a broker answers a metadata request within check.timeout.ms
 * (default 5000) and returns BUS_ERETRY otherwise. librdkafka's own log
 * lines and errors go to the application's logger (bus_set_logger) as
 * records "kafka: DETAIL" with fields facility and client; with none
 * installed they are dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "bus.h"
#include "bus_internal.h"
#include "corelog.h"
#include "errbuf.h"

#define KAFKA_CHECK_TIMEOUT_MS 5000L
#define KAFKA_DELIVERY_MARGIN_MS 5000L
#define KAFKA_CLOSE_FLUSH_MS 10000

/* ---- shared: logging, configuration ---- */

/* One record for the application's logger (bus_set_logger): message
 * "kafka: DETAIL" with the librdkafka facility and client name. */
static void log_line(int level, const char *client, const char *facility, const char *detail) {
  const core_logger *lg = bus_logger();
  if (!core_log_enabled(lg, level))
    return;
  char msg[2048];
  snprintf(msg, sizeof msg, "kafka: %s", detail);
  core_log(lg, level, msg, "facility", facility, "client", client, NULL);
}

/* librdkafka's syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  int lv = level <= 3   ? CORE_LOG_ERROR
           : level <= 4 ? CORE_LOG_WARN
           : level <= 6 ? CORE_LOG_INFO
                        : CORE_LOG_DEBUG;
  log_line(lv, rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  /* Connection failures are already logged by log_cb; the operations that
   * fail report the rest to their callers. This keeps the other errors
   * (all brokers down, fatal producer errors) visible in the logs too. */
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT)
    return;
  log_line(err == RD_KAFKA_RESP_ERR__FATAL ? CORE_LOG_ERROR : CORE_LOG_WARN, rd_kafka_name(rk),
           rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* "5s" or "1500ms", for messages. */
static void fmt_ms(char *buf, size_t n, long ms) {
  if (ms % 1000 == 0)
    snprintf(buf, n, "%lds", ms / 1000);
  else
    snprintf(buf, n, "%ldms", ms);
}

/*
 * Builds the configuration: defaults (pairs of key, value), then the brokers,
 * then every unused URL parameter. what = "kafka://TOPIC" for messages.
 */
static int build_conf(bus_url *u, const char *what, const char *const *defaults,
                      rd_kafka_conf_t **out, char *brokers_out, size_t brokers_cap, char *err,
                      size_t errlen) {
  char errstr[512];
  const char *brokers = getenv("KAFKA_BROKERS");
  int have_bs = 0;
  for (size_t i = 0; i < u->nparams; i++)
    if (!u->params[i].used && !strcmp(u->params[i].key, "bootstrap.servers"))
      have_bs = 1;
  if ((!brokers || !*brokers) && !have_bs) {
    errbuf_set(err, errlen, "%s: KAFKA_BROKERS is not set (want host:port[,host:port...])", what);
    return BUS_EINVAL;
  }
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!conf) {
    errbuf_set(err, errlen, "%s: out of memory", what);
    return BUS_ENOMEM;
  }
  for (size_t i = 0; defaults[i]; i += 2)
    if (rd_kafka_conf_set(conf, defaults[i], defaults[i + 1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      errbuf_set(err, errlen, "%s: property \"%s\": %s", what, defaults[i], errstr);
      return BUS_EIO;
    }
  if (brokers && *brokers &&
      rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    errbuf_set(err, errlen, "%s: KAFKA_BROKERS=%s: %s", what, brokers, errstr);
    return BUS_EINVAL;
  }
  for (size_t i = 0; i < u->nparams; i++) {
    bus_param *p = &u->params[i];
    if (p->used)
      continue;
    p->used = 1;
    /* The value is not echoed: it may be a password. */
    if (rd_kafka_conf_set(conf, p->key, p->value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      errbuf_set(err, errlen, "%s: property \"%s\": %s", what, p->key, errstr);
      return BUS_EINVAL;
    }
  }
  size_t n = brokers_cap;
  if (rd_kafka_conf_get(conf, "bootstrap.servers", brokers_out, &n) != RD_KAFKA_CONF_OK)
    snprintf(brokers_out, brokers_cap, "%s", brokers ? brokers : "?");
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
  *out = conf;
  return 0;
}

/* Asks a broker for metadata within ms; 0 if one answered. */
static int check_brokers(rd_kafka_t *rk, rd_kafka_topic_t *rkt, long ms, const char *what,
                         const char *brokers, char *err, size_t errlen) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, (int)ms);
  if (md)
    rd_kafka_metadata_destroy(md);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  char t[32];
  fmt_ms(t, sizeof t, ms);
  errbuf_set(err, errlen, "kafka: no broker reachable at %s within %s (%s: %s)", brokers, t, what,
             rd_kafka_err2str(e));
  return BUS_ERETRY;
}

static long conf_long(rd_kafka_conf_t *conf, const char *key, long dflt) {
  char buf[64];
  size_t n = sizeof buf;
  if (rd_kafka_conf_get(conf, key, buf, &n) != RD_KAFKA_CONF_OK)
    return dflt;
  char *end;
  long v = strtol(buf, &end, 10);
  return *end ? dflt : v;
}

/* ---- writer ---- */

typedef struct delivery {
  pthread_cond_t cond;
  int refs; /* caller + delivery callback; guarded by the writer's mu */
  int done;
  rd_kafka_resp_err_t err;
} delivery;

typedef struct kafka_writer {
  struct bus_writer base;
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  char *topic;
  char what[300];     /* "kafka://TOPIC" */
  char brokers[512];
  long check_ms;
  long delivery_ms;   /* message.timeout.ms in effect */
  pthread_mutex_t mu; /* guards every delivery record */
  pthread_t poller;
  atomic_int stop;
} kafka_writer;

static void delivery_unref(kafka_writer *w, delivery *d) {
  /* called with w->mu held */
  if (--d->refs == 0) {
    pthread_cond_destroy(&d->cond);
    free(d);
  }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  kafka_writer *w = opaque;
  delivery *d = m->_private;
  if (!d)
    return;
  pthread_mutex_lock(&w->mu);
  d->err = m->err;
  d->done = 1;
  pthread_cond_signal(&d->cond);
  delivery_unref(w, d);
  pthread_mutex_unlock(&w->mu);
}

static void *poll_main(void *arg) {
  kafka_writer *w = arg;
  /* rd_kafka_poll returns as soon as a report is queued; the 100 ms bound
   * is only how quickly the thread notices stop. */
  while (!atomic_load(&w->stop))
    rd_kafka_poll(w->rk, 100);
  return NULL;
}

static int is_permanent(rd_kafka_resp_err_t e) {
  switch (e) {
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_INVALID_MSG:
  case RD_KAFKA_RESP_ERR_INVALID_RECORD:
  case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
  case RD_KAFKA_RESP_ERR__INVALID_ARG:
  case RD_KAFKA_RESP_ERR__FATAL:
    return 1;
  default:
    return 0;
  }
}

static void kafka_writer_free(kafka_writer *w) {
  if (w->rkt)
    rd_kafka_topic_destroy(w->rkt);
  if (w->rk)
    rd_kafka_destroy(w->rk);
  pthread_mutex_destroy(&w->mu);
  free(w->topic);
  free(w);
}

static int kafka_writer_open(bus_url *u, struct bus_writer **out, char *err, size_t errlen) {
  char errstr[512];
  if (!bus_valid_topic(u->name)) {
    errbuf_set(err, errlen, "kafka://%s: bad topic name (want [A-Za-z0-9._-]{1,249})", u->name);
    return BUS_EINVAL;
  }
  kafka_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->topic = strdup(u->name))) {
    free(w);
    errbuf_set(err, errlen, "kafka://%s: out of memory", u->name);
    return BUS_ENOMEM;
  }
  pthread_mutex_init(&w->mu, NULL);
  snprintf(w->what, sizeof w->what, "kafka://%s", u->name);
  w->check_ms = KAFKA_CHECK_TIMEOUT_MS;
  int rc = bus_url_param_int(u, "check.timeout.ms", 1, 3600000, &w->check_ms, err, errlen);
  if (!rc && bus_url_param(u, "topic")) {
    errbuf_set(err, errlen, "%s: a writer's topic is the URL's name; drop ?topic=", w->what);
    rc = BUS_EINVAL;
  }
  if (rc) {
    kafka_writer_free(w);
    return rc;
  }
  static const char *const defaults[] = {
      "client.id", "pgopipe-writer",
      "enable.idempotence", "true",
      "acks", "all",
      "linger.ms", "0",
      "message.timeout.ms", "30000",
      "log.connection.close", "false",
      NULL};
  rd_kafka_conf_t *conf;
  rc = build_conf(u, w->what, defaults, &conf, w->brokers, sizeof w->brokers, err, errlen);
  if (rc) {
    kafka_writer_free(w);
    return rc;
  }
  w->delivery_ms = conf_long(conf, "message.timeout.ms", 30000);
  rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
  rd_kafka_conf_set_opaque(conf, w);
  w->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!w->rk) {
    rd_kafka_conf_destroy(conf);
    kafka_writer_free(w);
    errbuf_set(err, errlen, "kafka://%s: %s", u->name, errstr);
    return BUS_EINVAL;
  }
  w->rkt = rd_kafka_topic_new(w->rk, w->topic, NULL);
  if (!w->rkt) {
    errbuf_set(err, errlen, "%s: %s", w->what, rd_kafka_err2str(rd_kafka_last_error()));
    rc = BUS_EIO;
    kafka_writer_free(w);
    return rc;
  }
  rc = check_brokers(w->rk, w->rkt, w->check_ms, w->what, w->brokers, err, errlen);
  if (rc) {
    kafka_writer_free(w);
    return rc;
  }
  if (pthread_create(&w->poller, NULL, poll_main, w) != 0) {
    kafka_writer_free(w);
    errbuf_set(err, errlen, "%s: cannot start the delivery-report thread", u->name);
    return BUS_EIO;
  }
  w->base.be = &bus_backend_kafka;
  *out = &w->base;
  return 0;
}

static int kafka_publish(struct bus_writer *bw, const char *key, const void *msg, size_t len,
                         char *err, size_t errlen) {
  kafka_writer *w = (kafka_writer *)bw;
  delivery *d = calloc(1, sizeof *d);
  if (!d || pthread_cond_init(&d->cond, NULL) != 0) {
    free(d);
    errbuf_set(err, errlen, "%s: out of memory", w->what);
    return BUS_ENOMEM;
  }
  d->refs = 2;
  size_t keylen = strlen(key);
  /* RD_KAFKA_MSG_F_COPY: librdkafka copies key and value; its API takes them non-const. */
  union {
    const void *in;
    void *arg;
  } k = {.in = keylen ? key : NULL}, v = {.in = msg};
  rd_kafka_resp_err_t e = rd_kafka_producev(
      w->rk, RD_KAFKA_V_RKT(w->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(k.arg, keylen), RD_KAFKA_V_VALUE(v.arg, len),
      RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
  if (e) {
    pthread_cond_destroy(&d->cond);
    free(d);
    errbuf_set(err, errlen, "%s: publish (key \"%s\", %zu bytes): %s", w->what, key, len,
               rd_kafka_err2str(e));
    return is_permanent(e) ? BUS_EIO : BUS_ERETRY;
  }
  /* librdkafka reports every message within message.timeout.ms; the margin
   * covers a report still in flight to the poll thread. */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  long ms = w->delivery_ms + KAFKA_DELIVERY_MARGIN_MS;
  deadline.tv_sec += ms / 1000;
  deadline.tv_nsec += (ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  int timed_out = 0;
  pthread_mutex_lock(&w->mu);
  while (!d->done && !timed_out)
    timed_out = pthread_cond_timedwait(&d->cond, &w->mu, &deadline) == ETIMEDOUT;
  int done = d->done;
  e = d->err;
  delivery_unref(w, d);
  pthread_mutex_unlock(&w->mu);
  if (!done) {
    errbuf_set(err, errlen, "%s: no delivery report within %ld ms (key \"%s\")", w->what, ms, key);
    return BUS_ERETRY;
  }
  if (e) {
    if (e == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
      errbuf_set(err, errlen,
                 "%s: not acknowledged by %s within message.timeout.ms=%ld (key \"%s\")", w->what,
                 w->brokers, w->delivery_ms, key);
      return BUS_ERETRY;
    }
    errbuf_set(err, errlen, "%s: delivery (key \"%s\", %zu bytes): %s", w->what, key, len,
               rd_kafka_err2str(e));
    return is_permanent(e) ? BUS_EIO : BUS_ERETRY;
  }
  return 0;
}

static int kafka_writer_check(struct bus_writer *bw, char *err, size_t errlen) {
  kafka_writer *w = (kafka_writer *)bw;
  char fatal[256];
  if (rd_kafka_fatal_error(w->rk, fatal, sizeof fatal)) {
    errbuf_set(err, errlen, "%s: producer failed: %s", w->what, fatal);
    return BUS_EIO;
  }
  return check_brokers(w->rk, w->rkt, w->check_ms, w->what, w->brokers, err, errlen);
}

static void kafka_writer_close(struct bus_writer *bw) {
  kafka_writer *w = (kafka_writer *)bw;
  rd_kafka_resp_err_t e = rd_kafka_flush(w->rk, KAFKA_CLOSE_FLUSH_MS);
  if (e)
    log_line(CORE_LOG_WARN, rd_kafka_name(w->rk), "close",
             "messages still undelivered after 10s were dropped");
  atomic_store(&w->stop, 1);
  pthread_join(w->poller, NULL);
  kafka_writer_free(w);
}

/* ---- reader ---- */

typedef struct kpart {
  int32_t partition;
  int owned;
  uint64_t gen;
} kpart;

typedef struct kafka_reader {
  struct bus_reader base;
  rd_kafka_t *rk;
  char *topic;
  char what[600];       /* "kafka://GROUP?topic=TOPIC" */
  char brokers[512];
  long check_ms;
  pthread_mutex_t mu;   /* guards parts, nparts, gen_counter */
  kpart *parts;
  size_t nparts;
  uint64_t gen_counter;
} kafka_reader;

/* Finds or adds the entry of partition p; NULL if out of memory. mu held. */
static kpart *part_get(kafka_reader *r, int32_t p) {
  for (size_t i = 0; i < r->nparts; i++)
    if (r->parts[i].partition == p)
      return &r->parts[i];
  kpart *np = realloc(r->parts, (r->nparts + 1) * sizeof *np);
  if (!np)
    return NULL;
  r->parts = np;
  np[r->nparts] = (kpart){p, 0, 0};
  return &np[r->nparts++];
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  kafka_reader *r = opaque;
  int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  pthread_mutex_lock(&r->mu);
  if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++) {
      if (strcmp(parts->elems[i].topic, r->topic))
        continue;
      kpart *k = part_get(r, parts->elems[i].partition);
      if (k) {
        k->owned = 1;
        k->gen = ++r->gen_counter;
      }
    }
  } else {
    /* Revoked (or an error): nothing is committed here. Every message the
     * caller finished was committed by bus_commit already; the rest belongs
     * to the next owner. */
    if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && parts) {
      for (int i = 0; i < parts->cnt; i++)
        for (size_t j = 0; j < r->nparts; j++)
          if (r->parts[j].partition == parts->elems[i].partition)
            r->parts[j].owned = 0;
    } else {
      for (size_t j = 0; j < r->nparts; j++)
        r->parts[j].owned = 0;
    }
  }
  pthread_mutex_unlock(&r->mu);

  rd_kafka_error_t *ce = NULL;
  rd_kafka_resp_err_t ae = 0;
  if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
    cooperative ? (void)(ce = rd_kafka_incremental_assign(rk, parts)) : (void)(ae = rd_kafka_assign(rk, parts));
  else if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && cooperative)
    ce = rd_kafka_incremental_unassign(rk, parts);
  else
    ae = rd_kafka_assign(rk, NULL);
  if (ce) {
    log_line(CORE_LOG_ERROR, rd_kafka_name(rk), "rebalance", rd_kafka_error_string(ce));
    rd_kafka_error_destroy(ce);
  } else if (ae) {
    log_line(CORE_LOG_ERROR, rd_kafka_name(rk), "rebalance", rd_kafka_err2str(ae));
  }
}

static void kafka_reader_free(kafka_reader *r) {
  if (r->rk)
    rd_kafka_destroy(r->rk);
  pthread_mutex_destroy(&r->mu);
  free(r->parts);
  free(r->topic);
  free(r);
}

static int kafka_reader_open(bus_url *u, struct bus_reader **out, char *err, size_t errlen) {
  char errstr[512];
  const char *topic = bus_url_param(u, "topic");
  if (!topic || !*topic) {
    errbuf_set(err, errlen, "kafka://%s: a reader needs ?topic=TOPIC (the URL's name is the group)",
               u->name);
    return BUS_EINVAL;
  }
  if (!bus_valid_topic(topic)) {
    errbuf_set(err, errlen, "kafka://%s?topic=%s: bad topic name (want [A-Za-z0-9._-]{1,249})",
               u->name, topic);
    return BUS_EINVAL;
  }
  if (strlen(u->name) > 255) {
    errbuf_set(err, errlen, "kafka://%.40s...: group name longer than 255 bytes", u->name);
    return BUS_EINVAL;
  }
  kafka_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->topic = strdup(topic))) {
    free(r);
    errbuf_set(err, errlen, "kafka://%s: out of memory", u->name);
    return BUS_ENOMEM;
  }
  pthread_mutex_init(&r->mu, NULL);
  snprintf(r->what, sizeof r->what, "kafka://%s?topic=%s", u->name, topic);
  r->check_ms = KAFKA_CHECK_TIMEOUT_MS;
  int rc = bus_url_param_int(u, "check.timeout.ms", 1, 3600000, &r->check_ms, err, errlen);
  if (rc) {
    kafka_reader_free(r);
    return rc;
  }
  const char *const defaults[] = {
      "client.id", "pgopipe-reader",
      "group.id", u->name,
      "enable.auto.commit", "false",
      "enable.auto.offset.store", "false",
      "auto.offset.reset", "earliest",
      "fetch.wait.max.ms", "50",
      "session.timeout.ms", "10000",
      "log.connection.close", "false",
      NULL};
  rd_kafka_conf_t *conf;
  rc = build_conf(u, r->what, defaults, &conf, r->brokers, sizeof r->brokers, err, errlen);
  if (rc) {
    kafka_reader_free(r);
    return rc;
  }
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_opaque(conf, r);
  r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!r->rk) {
    rd_kafka_conf_destroy(conf);
    kafka_reader_free(r);
    errbuf_set(err, errlen, "%s: %s", r->what, errstr);
    return BUS_EINVAL;
  }
  rd_kafka_poll_set_consumer(r->rk);
  rc = check_brokers(r->rk, NULL, r->check_ms, r->what, r->brokers, err, errlen);
  if (rc) {
    kafka_reader_free(r);
    return rc;
  }
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, r->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(r->rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (e) {
    errbuf_set(err, errlen, "%s: subscribe: %s", r->what, rd_kafka_err2str(e));
    rc = BUS_EIO;
    rd_kafka_consumer_close(r->rk);
    kafka_reader_free(r);
    return rc;
  }
  r->base.be = &bus_backend_kafka;
  *out = &r->base;
  return 0;
}

static int kafka_poll(struct bus_reader *br, int timeout_ms, bus_msg_full **msg, char *err,
                      size_t errlen) {
  kafka_reader *r = (kafka_reader *)br;
  char fatal[256];
  rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, timeout_ms);
  if (!m) {
    if (rd_kafka_fatal_error(r->rk, fatal, sizeof fatal)) {
      errbuf_set(err, errlen, "%s: consumer failed: %s", r->what, fatal);
      return BUS_EIO;
    }
    return 0;
  }
  if (m->err) {
    rd_kafka_resp_err_t e = m->err;
    int rc = 0;
    if (e != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      errbuf_set(err, errlen, "%s: %s", r->what, rd_kafka_message_errstr(m));
      rc = e == RD_KAFKA_RESP_ERR__FATAL ? BUS_EIO : BUS_ERETRY;
    }
    rd_kafka_message_destroy(m);
    return rc;
  }
  uint64_t gen = 0; /* 0 is never a valid assignment: commit will refuse */
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nparts; i++)
    if (r->parts[i].partition == m->partition && r->parts[i].owned)
      gen = r->parts[i].gen;
  pthread_mutex_unlock(&r->mu);
  bus_msg_full *f = bus_msg_new(br, m->key, m->key_len, m->payload, m->len, m->partition,
                                m->offset, gen);
  rd_kafka_message_destroy(m);
  if (!f) {
    errbuf_set(err, errlen, "%s: out of memory", r->what);
    return BUS_ENOMEM;
  }
  *msg = f;
  return 1;
}

static int kafka_commit(struct bus_reader *br, const bus_msg_full *m, char *err, size_t errlen) {
  kafka_reader *r = (kafka_reader *)br;
  int owned = 0;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nparts; i++)
    if (r->parts[i].partition == m->pub.partition)
      owned = r->parts[i].owned && r->parts[i].gen == m->gen && m->gen != 0;
  pthread_mutex_unlock(&r->mu);
  /* The lock is not held across the network round trip: a rebalance that
   * slips in between can at worst let this commit (of a message that WAS
   * handled) land after the partition moved, which redelivers, never loses. */
  if (!owned) {
    errbuf_set(err, errlen,
               "%s: partition %d was revoked from this reader; offset %lld will be redelivered",
               r->what, (int)m->pub.partition, (long long)m->pub.offset);
    return BUS_ERETRY;
  }
  rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offs, r->topic, m->pub.partition)->offset = m->pub.offset + 1;
  rd_kafka_resp_err_t e = rd_kafka_commit(r->rk, offs, 0);
  if (!e && offs->cnt == 1)
    e = offs->elems[0].err;
  rd_kafka_topic_partition_list_destroy(offs);
  if (e) {
    errbuf_set(err, errlen, "%s: commit of partition %d offset %lld: %s", r->what,
               (int)m->pub.partition, (long long)m->pub.offset + 1, rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR__FATAL ? BUS_EIO : BUS_ERETRY;
  }
  return 0;
}

static int kafka_reader_check(struct bus_reader *br, char *err, size_t errlen) {
  kafka_reader *r = (kafka_reader *)br;
  char fatal[256];
  if (rd_kafka_fatal_error(r->rk, fatal, sizeof fatal)) {
    errbuf_set(err, errlen, "%s: consumer failed: %s", r->what, fatal);
    return BUS_EIO;
  }
  return check_brokers(r->rk, NULL, r->check_ms, r->what, r->brokers, err, errlen);
}

static void kafka_reader_close(struct bus_reader *br) {
  kafka_reader *r = (kafka_reader *)br;
  /* Leaves the group: the revoke callback runs and commits nothing. */
  rd_kafka_resp_err_t e = rd_kafka_consumer_close(r->rk);
  if (e)
    log_line(CORE_LOG_WARN, rd_kafka_name(r->rk), "close", rd_kafka_err2str(e));
  kafka_reader_free(r);
}

const bus_backend bus_backend_kafka = {
    .scheme = "kafka",
    .writer_open = kafka_writer_open,
    .publish = kafka_publish,
    .writer_check = kafka_writer_check,
    .writer_close = kafka_writer_close,
    .reader_open = kafka_reader_open,
    .poll = kafka_poll,
    .commit = kafka_commit,
    .reader_check = kafka_reader_check,
    .reader_close = kafka_reader_close,
};
