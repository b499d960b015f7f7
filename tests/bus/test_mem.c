/*
 * test_mem — the in-process bus (mem://): order, commit and resume,
 * redelivery of what was not committed, one owner at a time with takeover
 * when it closes, stale commits refused, the max.messages limit at and past
 * its edge, concurrent publishers, a poller woken by a publish from another
 * thread, and URL errors.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

static char err[512];

static int poll_one(bus_reader *r, int ms, char *out, size_t cap, bus_msg **keep) {
  bus_msg *m = NULL;
  int rc = bus_poll(r, ms, &m, err, sizeof err);
  if (rc != 1)
    return rc;
  snprintf(out, cap, "%s:%.*s", m->key, (int)m->len, (const char *)m->payload);
  if (keep)
    *keep = m;
  else
    bus_msg_free(m);
  return 1;
}

static void order_commit_resume(void) {
  bus_writer *w = NULL;
  bus_reader *r = NULL;
  char got[128], want[128];
  CHECK_RC(bus_writer_open("mem://t1", &w, err, sizeof err), 0, err, NULL);
  for (int i = 0; i < 10; i++) {
    snprintf(want, sizeof want, "m%d", i);
    CHECK_RC(bus_publish(w, i % 2 ? "odd" : "even", want, strlen(want), err, sizeof err), 0, err, NULL);
  }
  CHECK_RC(bus_reader_open("mem://t1", &r, err, sizeof err), 0, err, NULL);
  bus_msg *keep[10] = {0};
  for (int i = 0; i < 10; i++) {
    CHECK(poll_one(r, 1000, got, sizeof got, &keep[i]) == 1, "message %d missing (%s)", i, err);
    snprintf(want, sizeof want, "%s:m%d", i % 2 ? "odd" : "even", i);
    CHECK(!strcmp(got, want), "got %s want %s", got, want);
    CHECK(keep[i] && keep[i]->offset == i && keep[i]->partition == 0, "offset %lld", keep[i] ? (long long)keep[i]->offset : -1LL);
  }
  CHECK(poll_one(r, 50, got, sizeof got, NULL) == 0, "extra message %s", got);
  CHECK_RC(bus_commit(r, keep[3], err, sizeof err), 0, err, NULL);
  bus_reader_close(r);
  /* restart: resumes after the last commit; 4..9 are redelivered */
  CHECK_RC(bus_reader_open("mem://t1", &r, err, sizeof err), 0, err, NULL);
  CHECK(poll_one(r, 1000, got, sizeof got, NULL) == 1 && !strcmp(got, "even:m4"), "after restart got %s", got);
  /* a message of the previous reader cannot be committed by this one */
  CHECK_RC(bus_commit(r, keep[5], err, sizeof err), BUS_EINVAL, err, "did not deliver");
  for (int i = 0; i < 10; i++)
    bus_msg_free(keep[i]);
  bus_msg *last = NULL;
  for (int i = 5; i < 10; i++) {
    CHECK(poll_one(r, 1000, got, sizeof got, &last) == 1, "redelivery %d", i);
    if (i < 9)
      bus_msg_free(last);
  }
  CHECK_RC(bus_commit(r, last, err, sizeof err), 0, err, NULL);
  bus_msg_free(last);
  bus_reader_close(r);
  CHECK_RC(bus_reader_open("mem://t1", &r, err, sizeof err), 0, err, NULL);
  CHECK(poll_one(r, 50, got, sizeof got, NULL) == 0, "all committed, yet got %s", got);
  bus_reader_close(r);
  bus_writer_close(w);
}

static void one_owner(void) {
  bus_writer *w;
  bus_reader *a, *b;
  char got[64];
  bus_msg *ma = NULL, *mb = NULL;
  bus_writer_open("mem://t2", &w, err, sizeof err);
  bus_reader_open("mem://t2", &a, err, sizeof err);
  bus_reader_open("mem://t2", &b, err, sizeof err);
  bus_publish(w, "k", "1", 1, err, sizeof err);
  bus_publish(w, "k", "2", 1, err, sizeof err);
  CHECK(poll_one(a, 100, got, sizeof got, &ma) == 1 && !strcmp(got, "k:1"), "a got %s", got);
  CHECK(poll_one(b, 100, got, sizeof got, NULL) == 0, "b got %s while a owns the topic", got);
  bus_reader_close(a); /* uncommitted: b takes over from offset 0 */
  CHECK(poll_one(b, 100, got, sizeof got, &mb) == 1 && !strcmp(got, "k:1"), "b got %s after takeover", got);
  CHECK_RC(bus_commit(b, mb, err, sizeof err), 0, err, NULL);
  bus_msg_free(ma);
  bus_msg_free(mb);
  bus_reader_close(b);
  bus_reader_open("mem://t2", &a, err, sizeof err);
  CHECK(poll_one(a, 100, got, sizeof got, NULL) == 1 && !strcmp(got, "k:2"), "a got %s", got);
  bus_reader_close(a);
  bus_writer_close(w);
}

static void limit(void) {
  bus_writer *w;
  bus_reader *r;
  bus_msg *m;
  CHECK_RC(bus_writer_open("mem://t3?max.messages=3", &w, err, sizeof err), 0, err, NULL);
  for (int i = 0; i < 3; i++)
    CHECK_RC(bus_publish(w, "k", "x", 1, err, sizeof err), 0, err, NULL);
  CHECK_RC(bus_publish(w, "k", "x", 1, err, sizeof err), BUS_ERETRY, err, "max.messages=3");
  bus_reader_open("mem://t3", &r, err, sizeof err);
  CHECK(bus_poll(r, 100, &m, err, sizeof err) == 1, "poll");
  CHECK_RC(bus_publish(w, "k", "x", 1, err, sizeof err), BUS_ERETRY, err, "not committed");
  CHECK_RC(bus_commit(r, m, err, sizeof err), 0, err, NULL);
  bus_msg_free(m);
  CHECK_RC(bus_publish(w, "k", "x", 1, err, sizeof err), 0, err, NULL);
  bus_reader_close(r);
  bus_writer_close(w);
  CHECK_RC(bus_writer_open("mem://t3?max.messages=0", &w, err, sizeof err), BUS_EINVAL, err, "max.messages");
  CHECK_RC(bus_writer_open("mem://t3?max.messages=x", &w, err, sizeof err), BUS_EINVAL, err, "max.messages");
}

#define NTHREADS 4
#define PER_THREAD 500

static bus_writer *shared_writer;

static void *publisher(void *arg) {
  bus_writer *w = shared_writer;
  char e[256], key[16], msg[32];
  snprintf(key, sizeof key, "k%ld", (long)(intptr_t)arg);
  for (int i = 0; i < PER_THREAD; i++) {
    snprintf(msg, sizeof msg, "%d", i);
    if (bus_publish(w, key, msg, strlen(msg), e, sizeof e) != 0)
      return (void *)1;
  }
  return NULL;
}

static void concurrent(void) {
  bus_writer *w;
  bus_reader *r;
  pthread_t th[NTHREADS];
  bus_writer_open("mem://t4", &w, err, sizeof err);
  bus_reader_open("mem://t4", &r, err, sizeof err);
  shared_writer = w;
  for (int i = 0; i < NTHREADS; i++)
    pthread_create(&th[i], NULL, publisher, (void *)(intptr_t)i);
  /* consume while they publish: per key, messages must come in order */
  struct {
    char key[16];
    int next;
  } seen[NTHREADS] = {{{0}, 0}};
  int total = 0, bad = 0;
  double end = check_now() + 20;
  while (total < NTHREADS * PER_THREAD && check_now() < end) {
    bus_msg *m;
    if (bus_poll(r, 100, &m, err, sizeof err) != 1)
      continue;
    int slot = -1;
    for (int i = 0; i < NTHREADS && slot < 0; i++)
      if (!strcmp(seen[i].key, m->key))
        slot = i;
    for (int i = 0; i < NTHREADS && slot < 0; i++)
      if (!seen[i].key[0]) {
        slot = i;
        snprintf(seen[slot].key, sizeof seen[slot].key, "%s", m->key);
      }
    if (slot < 0 || atoi(m->payload) != seen[slot].next)
      bad++;
    else
      seen[slot].next++;
    if (total % 97 == 0)
      bus_commit(r, m, err, sizeof err);
    bus_msg_free(m);
    total++;
  }
  void *res;
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(th[i], &res);
    CHECK(res == NULL, "publisher %d failed", i);
  }
  CHECK(total == NTHREADS * PER_THREAD, "got %d of %d", total, NTHREADS * PER_THREAD);
  CHECK(bad == 0, "%d messages out of order", bad);
  bus_reader_close(r);
  bus_writer_close(w);
}

static void *late_publish(void *arg) {
  struct timespec ts = {0, 200 * 1000000L};
  nanosleep(&ts, NULL); /* the point is that the poller is already waiting */
  char e[256];
  bus_publish(arg, "late", "x", 1, e, sizeof e);
  return NULL;
}

static void wakeup(void) {
  bus_writer *w;
  bus_reader *r;
  pthread_t th;
  bus_msg *m = NULL;
  bus_writer_open("mem://t5", &w, err, sizeof err);
  bus_reader_open("mem://t5", &r, err, sizeof err);
  pthread_create(&th, NULL, late_publish, w);
  double t0 = check_now();
  int rc = bus_poll(r, 5000, &m, err, sizeof err);
  double dt = check_now() - t0;
  CHECK(rc == 1 && m && !strcmp(m->key, "late"), "poll rc %d", rc);
  CHECK(dt < 2.0, "woken after %.2fs, not at once", dt);
  bus_msg_free(m);
  t0 = check_now();
  CHECK(bus_poll(r, 300, &m, err, sizeof err) == 0, "poll without message");
  dt = check_now() - t0;
  CHECK(dt >= 0.29 && dt < 2.0, "timeout of 300ms took %.3fs", dt);
  pthread_join(th, NULL);
  bus_reader_close(r);
  bus_writer_close(w);
}

static void urls(void) {
  bus_writer *w = NULL;
  bus_reader *r = NULL;
  CHECK_RC(bus_writer_open("amqp://x", &w, err, sizeof err), BUS_EINVAL, err, "unknown scheme \"amqp\"");
  /* gocloud's buses that autopgo deployments may name: said to be unsupported */
  CHECK_RC(bus_writer_open("gcppubsub://projects/p/topics/t", &w, err, sizeof err), BUS_EINVAL, err,
           "Google Cloud Pub/Sub (gcppubsub://) is not supported");
  CHECK_RC(bus_reader_open("awssqs://sqs.us-east-2.amazonaws.com/1/q?region=us-east-2", &r, err, sizeof err),
           BUS_EINVAL, err, "AWS SQS (awssqs://) is not supported");
  CHECK_RC(bus_writer_open("azuresb://topic", &w, err, sizeof err), BUS_EINVAL, err,
           "Azure Service Bus (azuresb://) is not supported");
  CHECK_RC(bus_writer_open("mem:/x", &w, err, sizeof err), BUS_EINVAL, err, "not a URL");
  CHECK_RC(bus_writer_open("", &w, err, sizeof err), BUS_EINVAL, err, "empty URL");
  CHECK_RC(bus_writer_open("mem://", &w, err, sizeof err), BUS_EINVAL, err, "no topic");
  CHECK_RC(bus_writer_open("mem://a/b", &w, err, sizeof err), BUS_EINVAL, err, "'/'");
  CHECK_RC(bus_writer_open("mem://a%zz", &w, err, sizeof err), BUS_EINVAL, err, "percent");
  CHECK_RC(bus_writer_open("mem://a%00", &w, err, sizeof err), BUS_EINVAL, err, "percent");
  CHECK_RC(bus_writer_open("mem://a b", &w, err, sizeof err), BUS_EINVAL, err, "bad topic name");
  CHECK_RC(bus_writer_open("mem://a?x=1", &w, err, sizeof err), BUS_EINVAL, err, "unknown parameter \"x\"");
  CHECK_RC(bus_writer_open("mem://a?x", &w, err, sizeof err), BUS_EINVAL, err, "KEY=VALUE");
  CHECK_RC(bus_writer_open("mem://a?max.messages=1&max.messages=2", &w, err, sizeof err), BUS_EINVAL, err, "twice");
  CHECK_RC(bus_reader_open("mem://a?topic=b", &r, err, sizeof err), BUS_EINVAL, err, "unknown parameter \"topic\"");
  CHECK(w == NULL && r == NULL, "handles set on failure");
  CHECK_RC(bus_writer_open("mem://a%2Db?max.messages=%35", &w, err, sizeof err), 0, err, NULL);
  if (w) {
    /* the name is decoded ("a-b") and the limit is 5 */
    bus_reader_open("mem://a-b", &r, err, sizeof err);
    for (int i = 0; i < 5; i++)
      bus_publish(w, "k", "x", 1, err, sizeof err);
    CHECK_RC(bus_publish(w, "k", "x", 1, err, sizeof err), BUS_ERETRY, err, "max.messages=5");
    bus_msg *m = NULL;
    CHECK(bus_poll(r, 100, &m, err, sizeof err) == 1, "decoded topic name not shared");
    bus_msg_free(m);
    bus_reader_close(r);
    bus_writer_close(w);
  }
  CHECK_RC(bus_publish(NULL, "k", "x", 1, err, sizeof err), BUS_EINVAL, err, "NULL writer");
  CHECK(bus_writer_check(NULL, err, sizeof err) == BUS_EINVAL, "check NULL");
  bus_writer_close(NULL);
  bus_reader_close(NULL);
  CHECK(!strcmp(bus_strerror(BUS_ERETRY), "transient failure, retry"), "strerror");
}

/* An event through mem:// arrives decodable, keyed by app. */
static void events(void) {
  bus_writer *w;
  bus_reader *r;
  bus_event ev, back;
  bus_msg *m = NULL;
  bus_writer_open("mem://t6", &w, err, sizeof err);
  bus_reader_open("mem://t6", &r, err, sizeof err);
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "shop");
  strcpy(ev.profile_key, "shop/staging/1-0a1b2c3d");
  CHECK_RC(bus_publish_event(w, &ev, err, sizeof err), 0, err, NULL);
  CHECK(bus_poll(r, 100, &m, err, sizeof err) == 1, "poll");
  if (m) {
    CHECK(!strcmp(m->key, "shop"), "key %s", m->key);
    CHECK_RC(bus_event_decode(m->payload, m->len, &back, err, sizeof err), 0, err, NULL);
    CHECK(!strcmp(back.id, ev.id) && !strcmp(back.profile_key, ev.profile_key), "event differs");
    CHECK_RC(bus_commit(r, m, err, sizeof err), 0, err, NULL);
    bus_msg_free(m);
  }
  CHECK(bus_writer_check(w, err, sizeof err) == 0 && bus_reader_check(r, err, sizeof err) == 0, "check");
  bus_reader_close(r);
  bus_writer_close(w);
}

int main(void) {
  order_commit_resume();
  one_owner();
  limit();
  concurrent();
  wakeup();
  urls();
  events();
  return check_exit("test_mem");
}
