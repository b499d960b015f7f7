/*
 * nats.c — the NATS JetStream event bus (nats://SUBJECT), on libnats (the
 * NATS C client).
 *
 *   writer  nats://SUBJECT[?stream=NAME]
 *   reader  nats://SUBJECT?durable=NAME[&stream=NAME]   (queue=NAME: the same)
 *
 * NATS core is not durable (a message nobody listens to is gone), so every
 * event goes through a JetStream stream, which stores it on disk:
 *  - publish waits for the stream's acknowledgement (the PubAck: stored),
 *    bounded by timeout=; the message key (the app) travels in the header
 *    Pgopipe-Key;
 *  - a reader is a durable pull consumer with explicit acks: bus_poll hands
 *    out messages in stream order, bus_commit acknowledges the message and
 *    every earlier one this reader was handed (the "offset" is the stream
 *    sequence, the partition always 0), synchronously for the last one. A
 *    message handed out and not acknowledged is delivered again: at once
 *    after bus_reader_close (which negatively acknowledges what it holds),
 *    after ack_wait when the process died. While a reader holds messages it
 *    tells the server it is still working on them (a thread sends "in
 *    progress" every ack_wait / 3), so a long merge or a store outage does
 *    not make them redeliver under it;
 *  - the stream (subjects: SUBJECT; file storage; kept max_age) and the
 *    consumer (explicit acks, deliver all, unlimited redeliveries) are
 *    created when missing (create=false: they must exist); the consumer is
 *    created here and then bound to, so closing a reader never deletes it.
 *
 * Ordering: one subject, one stream, so events are stored in the order the
 * servers published them, and a durable consumer hands them out in that
 * order: one app's events reach a reader in order. JetStream (2.9) has no
 * keyed partitions: two readers on one durable would share its messages
 * round-robin, so one app's events could be merged by two workers at once.
 * Run one pgopipe-worker per durable; a second one on the same durable is a
 * standby at best (the base's ETag check catches most, not all, of the
 * overlap). Scaling merges out is Kafka's (partitions by app).
 *
 * Servers: NATS_SERVER_URL (what gocloud's natspubsub reads, so autopgo's
 * environment works), else NATS_URL, else nats://127.0.0.1:4222; a
 * comma-separated list is a cluster; credentials go in the URLs
 * (nats://user:password@host) or in creds=FILE (a .creds file).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "bus.h"
#include "bus_internal.h"
#include "chrono.h"
#include "errbuf.h"

#define NATS_KEY_HEADER "Pgopipe-Key"
#define PGOPIPE_NATS_URL "nats://127.0.0.1:4222"

/* What writers and readers share: the connection and its JetStream context. */
typedef struct nats_conn {
  natsConnection *nc;
  jsCtx *js;
  char subject[256];
  char stream[256];
  char what[600];  /* "nats://SUBJECT" for messages */
  int64_t timeout_ms;
} nats_conn;

typedef struct nats_writer {
  struct bus_writer base;
  nats_conn c;
} nats_writer;

/* A message handed out (or fetched and queued) and not yet acknowledged. */
typedef struct held {
  natsMsg *m;
  uint64_t seq;
  int delivered; /* handed out by bus_poll */
} held;

typedef struct nats_reader {
  struct bus_reader base;
  nats_conn c;
  char durable[256];
  natsSubscription *sub;
  int fetch;           /* messages per pull request */
  int64_t ack_wait_ms;
  pthread_mutex_t mu;  /* guards held, nheld, stop */
  pthread_cond_t cv;
  held *held;          /* in stream order */
  size_t nheld, cap;
  int stop;
  pthread_t keeper;
  int keeper_started;
} nats_reader;

/* ---- errors ---- */

/* Maps a libnats status to a bus code: connection trouble and timeouts are
 * transient, the rest permanent. */
static int from_status(natsStatus s) {
  switch (s) {
  case NATS_OK: return BUS_OK;
  case NATS_NO_MEMORY: return BUS_ENOMEM;
  case NATS_CONNECTION_CLOSED:
  case NATS_CONNECTION_DISCONNECTED:
  case NATS_NO_SERVER:
  case NATS_STALE_CONNECTION:
  case NATS_TIMEOUT:
  case NATS_IO_ERROR:
  case NATS_NO_RESPONDERS:
  case NATS_SLOW_CONSUMER:
    return BUS_ERETRY;
  default: return BUS_EIO;
  }
}

static int fail(int code, char *err, size_t errlen, const char *what, const char *op, natsStatus s,
                jsErrCode jerr) {
  const char *detail = nats_GetLastError(NULL);
  if (jerr)
    errbuf_set(err, errlen, "%s: %s: %s (JetStream error %d)%s%s", what, op, natsStatus_GetText(s), (int)jerr,
               detail && *detail ? ": " : "", detail && *detail ? detail : "");
  else
    errbuf_set(err, errlen, "%s: %s: %s%s%s", what, op, natsStatus_GetText(s), detail && *detail ? ": " : "",
               detail && *detail ? detail : "");
  return code;
}

/* ---- connection, stream ---- */

/* A stream name made from the subject: what NATS allows (no '.', '*', '>',
 * spaces), upper-cased by custom. */
static void default_stream(const char *subject, char *out, size_t n) {
  size_t i = 0;
  for (; subject[i] && i + 1 < n; i++) {
    char ch = subject[i];
    out[i] = (ch == '.' || ch == '*' || ch == '>' || ch == ' ') ? '_'
             : (ch >= 'a' && ch <= 'z')                         ? (char)(ch - 'a' + 'A')
                                                                : ch;
  }
  out[i] = '\0';
}

static int valid_name(const char *s) {
  if (!*s || strlen(s) > 200) return 0;
  for (const char *p = s; *p; p++)
    if (*p == '.' || *p == '*' || *p == '>' || *p <= ' ' || *p == 0x7f) return 0;
  return 1;
}

static int valid_subject(const char *s) {
  if (!*s || strlen(s) > 200 || s[0] == '.' || s[strlen(s) - 1] == '.') return 0;
  for (const char *p = s; *p; p++)
    if (*p == '*' || *p == '>' || *p <= ' ' || *p == 0x7f || (*p == '.' && p[1] == '.')) return 0;
  return 1;
}

/* A duration parameter (chrono's grammar) in ms, at least 1 ms. */
static int param_ms(bus_url *u, const char *what, const char *key, int64_t *out, char *err, size_t errlen) {
  const char *v = bus_url_param(u, key);
  if (!v) return 0;
  int64_t ms;
  if (chrono_parse_duration(v, &ms, NULL, 0) != 0 || ms < 1) {
    errbuf_set(err, errlen, "%s: %s=%s: want a duration like 500ms, 30s or 168h", what, key, v);
    return BUS_EINVAL;
  }
  *out = ms;
  return 0;
}

static int param_bool(bus_url *u, const char *what, const char *key, int *out, char *err, size_t errlen) {
  const char *v = bus_url_param(u, key);
  if (!v) return 0;
  if (!strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
  else if (!strcmp(v, "false") || !strcmp(v, "0")) *out = 0;
  else {
    errbuf_set(err, errlen, "%s: %s=%s: want true or false", what, key, v);
    return BUS_EINVAL;
  }
  return 0;
}

/* The stream settings of a URL, used when the stream is created. */
typedef struct stream_opts {
  int create;
  int64_t max_age_ms;
  long replicas;
  const char *creds;
} stream_opts;

/* Reads the parameters writers and readers share, then checks that none is
 * left unknown. */
static int common_params(bus_url *u, nats_conn *c, stream_opts *so, char *err, size_t errlen) {
  snprintf(c->what, sizeof c->what, "nats://%s", u->name);
  if (!valid_subject(u->name)) {
    errbuf_set(err, errlen, "%s: bad subject (tokens separated by '.', no wildcards or spaces)", c->what);
    return BUS_EINVAL;
  }
  snprintf(c->subject, sizeof c->subject, "%s", u->name);
  const char *stream = bus_url_param(u, "stream");
  if (stream) snprintf(c->stream, sizeof c->stream, "%s", stream);
  else default_stream(u->name, c->stream, sizeof c->stream);
  if (!valid_name(c->stream)) {
    errbuf_set(err, errlen, "%s: bad stream name \"%s\" (no '.', '*', '>' or spaces)", c->what, c->stream);
    return BUS_EINVAL;
  }
  c->timeout_ms = 5000;
  so->create = 1;
  so->max_age_ms = 168LL * 3600 * 1000;
  so->replicas = 1;
  so->creds = bus_url_param(u, "creds");
  int rc = param_ms(u, c->what, "timeout", &c->timeout_ms, err, errlen);
  if (!rc) rc = param_ms(u, c->what, "max_age", &so->max_age_ms, err, errlen);
  if (!rc) rc = param_bool(u, c->what, "create", &so->create, err, errlen);
  if (!rc) rc = bus_url_param_int(u, "replicas", 1, 5, &so->replicas, err, errlen);
  return rc;
}

static int unknown_params(bus_url *u, const char *what, char *err, size_t errlen) {
  for (size_t i = 0; i < u->nparams; i++)
    if (!u->params[i].used) {
      errbuf_set(err, errlen,
                 "%s: unknown parameter \"%s\" (known: stream, durable (queue), create, max_age, "
                 "replicas, timeout, ack_wait, fetch, creds)",
                 what, u->params[i].key);
      return BUS_EINVAL;
    }
  return 0;
}

static void conn_close(nats_conn *c) {
  if (c->js) jsCtx_Destroy(c->js);
  if (c->nc) {
    natsConnection_Close(c->nc);
    natsConnection_Destroy(c->nc);
  }
  c->js = NULL;
  c->nc = NULL;
}

/* Connects to the servers of the environment and opens JetStream. */
static int conn_open(nats_conn *c, const stream_opts *so, char *err, size_t errlen) {
  const char *urls = getenv("NATS_SERVER_URL");
  if (!urls || !*urls) urls = getenv("NATS_URL");
  if (!urls || !*urls) urls = PGOPIPE_NATS_URL;
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetURL(o, urls);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, c->timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetName(o, "pgopipe");
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1); /* reconnect for ever */
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 500);
  if (s == NATS_OK && so->creds && *so->creds) s = natsOptions_SetUserCredentialsFromFiles(o, so->creds, NULL);
  if (s != NATS_OK) {
    natsOptions_Destroy(o);
    return fail(s == NATS_NO_MEMORY ? BUS_ENOMEM : BUS_EINVAL, err, errlen, c->what, "options", s, 0);
  }
  s = natsConnection_Connect(&c->nc, o);
  natsOptions_Destroy(o);
  if (s != NATS_OK) {
    c->nc = NULL;
    /* never print the server list: it may carry a password */
    errbuf_set(err, errlen, "%s: cannot connect to the NATS servers of NATS_SERVER_URL: %s", c->what,
               natsStatus_GetText(s));
    return from_status(s) == BUS_EIO ? BUS_ERETRY : from_status(s);
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = c->timeout_ms;
  s = natsConnection_JetStream(&c->js, c->nc, &jo);
  if (s != NATS_OK) {
    c->js = NULL;
    conn_close(c);
    return fail(from_status(s), err, errlen, c->what, "JetStream", s, 0);
  }
  return 0;
}

/* The stream exists (created when missing and allowed) and takes the subject. */
static int ensure_stream(nats_conn *c, const stream_opts *so, char *err, size_t errlen) {
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(&si, c->js, c->stream, NULL, &jerr);
  if (s == NATS_OK) {
    int covers = 0;
    for (int i = 0; si->Config && i < si->Config->SubjectsLen; i++)
      if (!strcmp(si->Config->Subjects[i], c->subject)) covers = 1;
    jsStreamInfo_Destroy(si);
    if (covers) return 0;
    errbuf_set(err, errlen,
               "%s: stream %s does not take the subject %s (add it to the stream's subjects, or name "
               "another stream with stream=)",
               c->what, c->stream, c->subject);
    return BUS_EINVAL;
  }
  if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
    return fail(from_status(s), err, errlen, c->what, "stream info", s, jerr);
  if (!so->create) {
    errbuf_set(err, errlen, "%s: stream %s does not exist (and create=false)", c->what, c->stream);
    return BUS_EINVAL;
  }
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char *subjects[] = {c->subject};
  cfg.Name = c->stream;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  cfg.MaxAge = so->max_age_ms * 1000000;
  cfg.Replicas = so->replicas;
  s = js_AddStream(NULL, c->js, &cfg, NULL, &jerr);
  if (s == NATS_OK || jerr == JSStreamNameExistErr) return 0; /* created, or by someone else meanwhile */
  return fail(from_status(s), err, errlen, c->what, "creating the stream", s, jerr);
}

/* ---- writer ---- */

static void nats_writer_close(struct bus_writer *bw) {
  nats_writer *w = (nats_writer *)bw;
  if (w->c.nc) natsConnection_FlushTimeout(w->c.nc, 2000);
  conn_close(&w->c);
  free(w);
}

static int nats_writer_open(bus_url *u, struct bus_writer **out, char *err, size_t errlen) {
  nats_writer *w = calloc(1, sizeof *w);
  if (!w) {
    errbuf_set(err, errlen, "nats://%s: out of memory", u->name);
    return BUS_ENOMEM;
  }
  stream_opts so;
  int rc = common_params(u, &w->c, &so, err, errlen);
  if (!rc && bus_url_param(u, "durable")) {
    errbuf_set(err, errlen, "%s: durable= is a reader's; a writer takes the subject (and stream=)", w->c.what);
    rc = BUS_EINVAL;
  }
  if (!rc) rc = unknown_params(u, w->c.what, err, errlen);
  if (!rc) rc = conn_open(&w->c, &so, err, errlen);
  if (!rc) rc = ensure_stream(&w->c, &so, err, errlen);
  if (rc) {
    nats_writer_close(&w->base);
    return rc;
  }
  w->base.be = &bus_backend_nats;
  *out = &w->base;
  return 0;
}

static int nats_publish(struct bus_writer *bw, const char *key, const void *msg, size_t len, char *err,
                        size_t errlen) {
  nats_writer *w = (nats_writer *)bw;
  /* While reconnecting, libnats would buffer the message and send it later:
   * a publish reported as failed must not be stored behind the caller's back. */
  if (natsConnection_Status(w->c.nc) != NATS_CONN_STATUS_CONNECTED) {
    errbuf_set(err, errlen, "%s: publish: not connected to NATS (reconnecting)", w->c.what);
    return BUS_ERETRY;
  }
  natsMsg *m = NULL;
  natsStatus s = natsMsg_Create(&m, w->c.subject, NULL, msg, (int)len);
  if (s == NATS_OK && key && *key) s = natsMsgHeader_Set(m, NATS_KEY_HEADER, key);
  if (s != NATS_OK) {
    natsMsg_Destroy(m);
    return fail(from_status(s), err, errlen, w->c.what, "building the message", s, 0);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = w->c.timeout_ms;
  po.ExpectStream = w->c.stream;
  jsErrCode jerr = 0;
  jsPubAck *ack = NULL;
  s = js_PublishMsg(&ack, w->c.js, m, &po, &jerr); /* returns once stored (or not) */
  natsMsg_Destroy(m);
  jsPubAck_Destroy(ack);
  if (s == NATS_OK) return 0;
  return fail(from_status(s) == BUS_EIO && !jerr ? BUS_ERETRY : from_status(s), err, errlen, w->c.what,
              "publish (not acknowledged by the stream)", s, jerr);
}

/* Healthy when connected and the stream answers. */
static int conn_check(nats_conn *c, const char *consumer, char *err, size_t errlen) {
  if (natsConnection_Status(c->nc) != NATS_CONN_STATUS_CONNECTED) {
    errbuf_set(err, errlen, "%s: not connected to NATS (reconnecting)", c->what);
    return BUS_ERETRY;
  }
  jsErrCode jerr = 0;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = c->timeout_ms;
  natsStatus s;
  if (consumer) {
    jsConsumerInfo *ci = NULL;
    s = js_GetConsumerInfo(&ci, c->js, c->stream, consumer, &jo, &jerr);
    jsConsumerInfo_Destroy(ci);
  } else {
    jsStreamInfo *si = NULL;
    s = js_GetStreamInfo(&si, c->js, c->stream, &jo, &jerr);
    jsStreamInfo_Destroy(si);
  }
  if (s == NATS_OK) return 0;
  return fail(from_status(s) == BUS_EIO && !jerr ? BUS_ERETRY : from_status(s), err, errlen, c->what,
              consumer ? "consumer info" : "stream info", s, jerr);
}

static int nats_writer_check(struct bus_writer *bw, char *err, size_t errlen) {
  nats_writer *w = (nats_writer *)bw;
  return conn_check(&w->c, NULL, err, errlen);
}

/* ---- reader ---- */

/* Sends "in progress" for everything held, every ack_wait / 3, so that
 * what this live reader holds is not redelivered under it. */
static void *keeper_main(void *arg) {
  nats_reader *r = arg;
  int64_t every = r->ack_wait_ms / 3;
  if (every < 100) every = 100;
  pthread_mutex_lock(&r->mu);
  while (!r->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += every / 1000;
    ts.tv_nsec += (long)(every % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    if (r->stop) break;
    for (size_t i = 0; i < r->nheld; i++) natsMsg_InProgress(r->held[i].m, NULL);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static void nats_reader_close(struct bus_reader *br) {
  nats_reader *r = (nats_reader *)br;
  if (r->keeper_started) {
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->keeper, NULL);
  }
  /* what is held is not done: delivered again at once, to whoever reads next */
  for (size_t i = 0; i < r->nheld; i++) {
    natsMsg_Nak(r->held[i].m, NULL);
    natsMsg_Destroy(r->held[i].m);
  }
  free(r->held);
  if (r->c.nc) natsConnection_FlushTimeout(r->c.nc, 2000);
  if (r->sub) natsSubscription_Destroy(r->sub); /* bound: the durable stays */
  conn_close(&r->c);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

/* The durable consumer exists (created when missing and allowed); the
 * subscription is bound to it. */
static int bind_consumer(nats_reader *r, const stream_opts *so, char *err, size_t errlen) {
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetConsumerInfo(&ci, r->c.js, r->c.stream, r->durable, NULL, &jerr);
  if (s == NATS_OK) {
    int ok = ci->Config && ci->Config->AckPolicy == js_AckExplicit;
    jsConsumerInfo_Destroy(ci);
    if (!ok) {
      errbuf_set(err, errlen, "%s: consumer %s of stream %s does not acknowledge explicitly (AckPolicy)",
                 r->c.what, r->durable, r->c.stream);
      return BUS_EINVAL;
    }
  } else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
    if (!so->create) {
      errbuf_set(err, errlen, "%s: consumer %s of stream %s does not exist (and create=false)", r->c.what,
                 r->durable, r->c.stream);
      return BUS_EINVAL;
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = r->durable;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = r->ack_wait_ms * 1000000;
    cc.MaxDeliver = -1;
    cc.DeliverPolicy = js_DeliverAll;
    cc.FilterSubject = r->c.subject;
    jerr = 0;
    s = js_AddConsumer(NULL, r->c.js, r->c.stream, &cc, NULL, &jerr);
    if (s != NATS_OK && jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr)
      return fail(from_status(s), err, errlen, r->c.what, "creating the consumer", s, jerr);
  } else {
    return fail(from_status(s), err, errlen, r->c.what, "consumer info", s, jerr);
  }
  jsSubOptions sub;
  jsSubOptions_Init(&sub);
  sub.Stream = r->c.stream;
  sub.Consumer = r->durable;
  sub.ManualAck = true;
  jerr = 0;
  s = js_PullSubscribe(&r->sub, r->c.js, r->c.subject, r->durable, NULL, &sub, &jerr);
  if (s != NATS_OK) {
    r->sub = NULL;
    return fail(from_status(s), err, errlen, r->c.what, "subscribing", s, jerr);
  }
  return 0;
}

static int nats_reader_open(bus_url *u, struct bus_reader **out, char *err, size_t errlen) {
  nats_reader *r = calloc(1, sizeof *r);
  if (!r) {
    errbuf_set(err, errlen, "nats://%s: out of memory", u->name);
    return BUS_ENOMEM;
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  stream_opts so;
  int rc = common_params(u, &r->c, &so, err, errlen);
  /* queue=NAME is how gocloud's (autopgo's) NATS subscription URLs name a
   * queue group, whose members share the messages: a durable here */
  const char *durable = bus_url_param(u, "durable"), *queue = bus_url_param(u, "queue");
  if (!rc && durable && queue && strcmp(durable, queue)) {
    errbuf_set(err, errlen, "%s: durable=%s and queue=%s name two consumers; give one", r->c.what, durable, queue);
    rc = BUS_EINVAL;
  }
  if (!durable) durable = queue;
  snprintf(r->durable, sizeof r->durable, "%s", durable ? durable : "pgopipe-workers");
  r->ack_wait_ms = 30000;
  long fetch = 100;
  if (!rc && !valid_name(r->durable)) {
    errbuf_set(err, errlen, "%s: bad durable name \"%s\" (no '.', '*', '>' or spaces)", r->c.what, r->durable);
    rc = BUS_EINVAL;
  }
  if (!rc) rc = param_ms(u, r->c.what, "ack_wait", &r->ack_wait_ms, err, errlen);
  if (!rc) rc = bus_url_param_int(u, "fetch", 1, 10000, &fetch, err, errlen);
  r->fetch = (int)fetch;
  if (!rc) rc = unknown_params(u, r->c.what, err, errlen);
  if (!rc) rc = conn_open(&r->c, &so, err, errlen);
  if (!rc) rc = ensure_stream(&r->c, &so, err, errlen);
  if (!rc) rc = bind_consumer(r, &so, err, errlen);
  if (!rc) {
    if (pthread_create(&r->keeper, NULL, keeper_main, r) == 0) {
      r->keeper_started = 1;
    } else {
      errbuf_set(err, errlen, "%s: cannot start a thread", r->c.what);
      rc = BUS_ENOMEM;
    }
  }
  if (rc) {
    nats_reader_close(&r->base);
    return rc;
  }
  r->base.be = &bus_backend_nats;
  *out = &r->base;
  return 0;
}

/* Adds fetched messages to what is held (lock held). */
static int hold(nats_reader *r, natsMsg *m) {
  jsMsgMetaData *meta = NULL;
  if (natsMsg_GetMetaData(&meta, m) != NATS_OK) { /* not a JetStream message: skip it */
    natsMsg_Destroy(m);
    return 0;
  }
  uint64_t seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  if (r->nheld == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    held *h = realloc(r->held, cap * sizeof *h);
    if (!h) {
      natsMsg_Nak(m, NULL);
      natsMsg_Destroy(m);
      return BUS_ENOMEM;
    }
    r->held = h;
    r->cap = cap;
  }
  r->held[r->nheld++] = (held){m, seq, 0};
  return 0;
}

/* The first held message not handed out yet, or NULL (lock held). */
static held *next_undelivered(nats_reader *r) {
  for (size_t i = 0; i < r->nheld; i++)
    if (!r->held[i].delivered) return &r->held[i];
  return NULL;
}

static int nats_poll(struct bus_reader *br, int timeout_ms, bus_msg_full **out, char *err, size_t errlen) {
  nats_reader *r = (nats_reader *)br;
  pthread_mutex_lock(&r->mu);
  held *h = next_undelivered(r);
  pthread_mutex_unlock(&r->mu);
  if (!h) {
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, r->sub, r->fetch, timeout_ms > 0 ? timeout_ms : 1, &jerr);
    if (s == NATS_TIMEOUT || (s == NATS_NOT_FOUND && !list.Count)) return 0;
    if (s != NATS_OK) {
      natsMsgList_Destroy(&list);
      return fail(from_status(s) == BUS_EIO && !jerr ? BUS_ERETRY : from_status(s), err, errlen, r->c.what,
                  "fetch", s, jerr);
    }
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    for (int i = 0; i < list.Count; i++) {
      if (!rc) rc = hold(r, list.Msgs[i]);
      else natsMsg_Destroy(list.Msgs[i]);
      list.Msgs[i] = NULL;
    }
    h = next_undelivered(r);
    pthread_mutex_unlock(&r->mu);
    natsMsgList_Destroy(&list);
    if (rc) {
      errbuf_set(err, errlen, "%s: out of memory", r->c.what);
      return rc;
    }
    if (!h) return 0;
  }
  pthread_mutex_lock(&r->mu);
  h = next_undelivered(r);
  const char *key = NULL;
  natsMsgHeader_Get(h->m, NATS_KEY_HEADER, &key);
  bus_msg_full *m = bus_msg_new(&r->base, key, key ? strlen(key) : 0, natsMsg_GetData(h->m),
                                (size_t)natsMsg_GetDataLength(h->m), 0, (int64_t)h->seq, 0);
  if (m) h->delivered = 1;
  pthread_mutex_unlock(&r->mu);
  if (!m) {
    errbuf_set(err, errlen, "%s: out of memory", r->c.what);
    return BUS_ENOMEM;
  }
  *out = m;
  return 1;
}

/* Acknowledges msg and every message handed out before it (stream order),
 * the last one synchronously. */
static int nats_commit(struct bus_reader *br, const bus_msg_full *msg, char *err, size_t errlen) {
  nats_reader *r = (nats_reader *)br;
  uint64_t upto = (uint64_t)msg->pub.offset;
  pthread_mutex_lock(&r->mu);
  size_t n = 0;
  while (n < r->nheld && r->held[n].delivered && r->held[n].seq <= upto) n++;
  if (n == 0 || r->held[n - 1].seq != upto) {
    int done = !r->nheld || upto < r->held[0].seq; /* acknowledged before */
    pthread_mutex_unlock(&r->mu);
    if (done) return 0;
    errbuf_set(err, errlen, "%s: message %" PRIu64 " is not held by this reader", r->c.what, upto);
    return BUS_ERETRY;
  }
  natsStatus s = NATS_OK;
  jsErrCode jerr = 0;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = r->c.timeout_ms;
  for (size_t i = 0; i + 1 < n && s == NATS_OK; i++) s = natsMsg_Ack(r->held[i].m, &jo);
  if (s == NATS_OK) s = natsMsg_AckSync(r->held[n - 1].m, &jo, &jerr);
  if (s == NATS_OK) {
    for (size_t i = 0; i < n; i++) natsMsg_Destroy(r->held[i].m);
    memmove(r->held, r->held + n, (r->nheld - n) * sizeof *r->held);
    r->nheld -= n;
  }
  pthread_mutex_unlock(&r->mu);
  if (s == NATS_OK) return 0;
  return fail(BUS_ERETRY, err, errlen, r->c.what, "ack", s, jerr);
}

static int nats_reader_check(struct bus_reader *br, char *err, size_t errlen) {
  nats_reader *r = (nats_reader *)br;
  return conn_check(&r->c, r->durable, err, errlen);
}

const bus_backend bus_backend_nats = {
    .scheme = "nats",
    .writer_open = nats_writer_open,
    .publish = nats_publish,
    .writer_check = nats_writer_check,
    .writer_close = nats_writer_close,
    .reader_open = nats_reader_open,
    .poll = nats_poll,
    .commit = nats_commit,
    .reader_check = nats_reader_check,
    .reader_close = nats_reader_close,
};
