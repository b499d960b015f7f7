/*
 * test_kafka — the kafka:// bus against a real Kafka-protocol broker (the
 * kafka-mock of tests/support/kafka, started per scenario by with-kafka.sh,
 * which exports KAFKA_BROKERS), with kcat as an independent client.
 *
 * Usage: test_kafka SCENARIO
 *   produce_consume  publish (one thread and four) and consume: all
 *                    messages, per-key order, one partition per key; events
 *                    round-trip; health checks
 *   restart          a consumer commits part, stops; a new one resumes after
 *                    the last commit and gets the uncommitted ones again
 *   group            two consumers in one group split the partitions; a
 *                    message held across the rebalance cannot be committed
 *                    (BUS_ERETRY) and is redelivered
 *   group_cooperative the same with cooperative-sticky assignment
 *   kcat             kcat reads what we published (key + JSON); we read what
 *                    kcat published
 *   broker_down      the broker stops: publish and check fail with
 *                    BUS_ERETRY within their bounds, no hang
 *   unreachable      (no broker) bounded, clear errors at open; bad URLs
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

static char err[1024];

#define SESSION "session.timeout.ms=6000"

static bus_writer *writer(const char *url) {
  bus_writer *w = NULL;
  int rc = bus_writer_open(url, &w, err, sizeof err);
  CHECK(rc == 0, "open %s: %s", url, err);
  return w;
}

static bus_reader *reader(const char *url) {
  bus_reader *r = NULL;
  int rc = bus_reader_open(url, &r, err, sizeof err);
  CHECK(rc == 0, "open %s: %s", url, err);
  return r;
}

static int same_event(const bus_event *a, const bus_event *b) {
  return !strcmp(a->id, b->id) && !strcmp(a->timestamp, b->timestamp) && !strcmp(a->type, b->type) &&
         !strcmp(a->app, b->app) && !strcmp(a->profile_key, b->profile_key) &&
         !strcmp(a->merged_key, b->merged_key);
}

/* Publishes the message fmt, ... under key. */
__attribute__((format(printf, 3, 4))) static int publish(bus_writer *w, const char *key, const char *fmt,
                                                         ...) {
  char msg[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int rc = bus_publish(w, key, msg, strlen(msg), err, sizeof err);
  CHECK(rc == 0, "publish %s: %s", msg, err);
  return rc;
}

/* ---- produce_consume ---- */

#define KEYS 4
#define SYNC_PER_KEY 10
#define THREADS 4
#define PER_THREAD 25

static bus_writer *shared;

static void *publisher(void *arg) {
  char key[16], msg[64], e[512];
  snprintf(key, sizeof key, "t%d", (int)(intptr_t)arg);
  for (int i = 0; i < PER_THREAD; i++) {
    snprintf(msg, sizeof msg, "%s:%d", key, i);
    if (bus_publish(shared, key, msg, strlen(msg), e, sizeof e) != 0) {
      fprintf(stderr, "publisher %s: %s\n", key, e);
      return (void *)1;
    }
  }
  return NULL;
}

static void produce_consume(void) {
  static const char *keys[KEYS] = {"app-a", "app-b", "app-c", "app-d"};
  bus_writer *w = writer("kafka://pc");
  if (!w)
    return;
  for (int i = 0; i < SYNC_PER_KEY * KEYS; i++)
    publish(w, keys[i % KEYS], "%s:%d", keys[i % KEYS], i / KEYS);
  shared = w;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&th[i], NULL, publisher, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) {
    void *res;
    pthread_join(th[i], &res);
    CHECK(res == NULL, "publisher thread %d failed", i);
  }

  bus_reader *r = reader("kafka://g-pc?topic=pc&" SESSION);
  if (!r)
    return;
  const int total = SYNC_PER_KEY * KEYS + THREADS * PER_THREAD;
  struct {
    char key[16];
    int next;
    int32_t partition;
  } seen[KEYS + THREADS];
  int nseen = 0, got = 0, bad_order = 0, bad_part = 0;
  int64_t last_off[64];
  for (int i = 0; i < 64; i++)
    last_off[i] = -1;
  double t0 = check_now(), first = 0, end = t0 + 40;
  while (got < total && check_now() < end) {
    bus_msg *m = NULL;
    int rc = bus_poll(r, 500, &m, err, sizeof err);
    if (rc < 0)
      fprintf(stderr, "poll: %s\n", err);
    if (rc != 1)
      continue;
    if (!got)
      first = check_now() - t0;
    got++;
    char key[16];
    int seq = -1;
    const char *colon = memchr(m->payload, ':', m->len);
    snprintf(key, sizeof key, "%.*s", colon ? (int)(colon - (const char *)m->payload) : 0,
             (const char *)m->payload);
    if (colon)
      seq = atoi(colon + 1);
    CHECK(!strcmp(key, m->key), "payload %.*s under key %s", (int)m->len, (const char *)m->payload, m->key);
    int s = -1;
    for (int i = 0; i < nseen; i++)
      if (!strcmp(seen[i].key, key))
        s = i;
    if (s < 0 && nseen < KEYS + THREADS) {
      s = nseen++;
      snprintf(seen[s].key, sizeof seen[s].key, "%s", key);
      seen[s].next = 0;
      seen[s].partition = m->partition;
    }
    if (s >= 0) {
      if (seq != seen[s].next)
        bad_order++;
      seen[s].next = seq + 1;
      if (m->partition != seen[s].partition)
        bad_part++;
    }
    if (m->partition >= 0 && m->partition < 64) {
      CHECK(m->offset > last_off[m->partition], "partition %d offset %lld after %lld", (int)m->partition,
            (long long)m->offset, (long long)last_off[m->partition]);
      last_off[m->partition] = m->offset;
    }
    CHECK_RC(bus_commit(r, m, err, sizeof err), 0, err, NULL);
    bus_msg_free(m);
  }
  fprintf(stderr, "produce_consume: %d messages, first after %.2fs, all after %.2fs\n", got, first,
          check_now() - t0);
  CHECK(got == total, "got %d of %d", got, total);
  CHECK(nseen == KEYS + THREADS, "%d keys seen", nseen);
  CHECK(bad_order == 0, "%d messages out of per-key order", bad_order);
  CHECK(bad_part == 0, "%d messages in another partition than their key's first", bad_part);
  for (int i = 0; i < nseen; i++) {
    int want = seen[i].key[0] == 't' ? PER_THREAD : SYNC_PER_KEY;
    CHECK(seen[i].next == want, "key %s: last seq %d, want %d", seen[i].key, seen[i].next, want);
  }

  /* An envelope travels intact, keyed by its app. */
  bus_event ev, back;
  bus_event_init(&ev, BUS_TYPE_MERGED, "shop");
  strcpy(ev.profile_key, "shop/staging/1730075435311000000-0a1b2c3d");
  strcpy(ev.merged_key, "shop/default.pgo");
  CHECK_RC(bus_publish_event(w, &ev, err, sizeof err), 0, err, NULL);
  bus_msg *m = NULL;
  CHECK(bus_poll(r, 10000, &m, err, sizeof err) == 1, "event not received: %s", err);
  if (m) {
    CHECK(!strcmp(m->key, "shop"), "event key %s", m->key);
    CHECK_RC(bus_event_decode(m->payload, m->len, &back, err, sizeof err), 0, err, NULL);
    CHECK(same_event(&ev, &back), "event changed on the way");
    CHECK_RC(bus_commit(r, m, err, sizeof err), 0, err, NULL);
    bus_msg_free(m);
  }
  CHECK_RC(bus_writer_check(w, err, sizeof err), 0, err, NULL);
  CHECK_RC(bus_reader_check(r, err, sizeof err), 0, err, NULL);
  /* An empty key and an empty payload are legal messages. */
  CHECK_RC(bus_publish(w, "", "", 0, err, sizeof err), 0, err, NULL);
  CHECK(bus_poll(r, 10000, &m, err, sizeof err) == 1, "empty message not received: %s", err);
  if (m) {
    CHECK(m->key[0] == 0 && m->len == 0, "empty message came back as key \"%s\", %zu bytes", m->key, m->len);
    bus_msg_free(m);
  }
  bus_reader_close(r);
  bus_writer_close(w);
}

/* ---- restart ---- */

static int poll_seq(bus_reader *r, int ms, bus_msg **out) {
  bus_msg *m = NULL;
  double end = check_now() + ms / 1000.0;
  int rc = 0;
  while (rc != 1 && check_now() < end) {
    rc = bus_poll(r, 200, &m, err, sizeof err);
    if (rc < 0)
      fprintf(stderr, "poll: %s\n", err);
  }
  if (rc != 1)
    return -1;
  *out = m;
  return atoi((const char *)m->payload + 2); /* "k:N" */
}

static void restart(void) {
  bus_writer *w = writer("kafka://rs");
  if (!w)
    return;
  for (int i = 0; i < 10; i++)
    publish(w, "k", "%s:%d", "k", i);
  const char *url = "kafka://g-rs?topic=rs&" SESSION;

  bus_reader *a = reader(url);
  bus_msg *m = NULL;
  for (int i = 0; i < 10 && a; i++) {
    int seq = poll_seq(a, 20000, &m);
    CHECK(seq == i, "first reader: got %d, want %d", seq, i);
    if (seq < 0)
      break;
    if (i == 3)
      CHECK_RC(bus_commit(a, m, err, sizeof err), 0, err, NULL);
    bus_msg_free(m);
  }
  double t0 = check_now();
  bus_reader_close(a);

  bus_reader *b = reader(url);
  for (int i = 4; i < 10 && b; i++) {
    int seq = poll_seq(b, 20000, &m);
    CHECK(seq == i, "after restart: got %d, want %d (resume after the last commit)", seq, i);
    if (seq < 0)
      break;
    if (i == 9)
      CHECK_RC(bus_commit(b, m, err, sizeof err), 0, err, NULL);
    bus_msg_free(m);
  }
  fprintf(stderr, "restart: second reader done %.2fs after the first closed\n", check_now() - t0);
  bus_reader_close(b);

  bus_reader *c = reader(url);
  publish(w, "k", "%s:%d", "k", 10);
  int seq = c ? poll_seq(c, 20000, &m) : -1;
  CHECK(seq == 10, "third reader: got %d, want 10 (everything before was committed)", seq);
  if (seq >= 0)
    bus_msg_free(m);
  bus_reader_close(c);
  bus_writer_close(w);
}

/* ---- group ---- */

#define GKEYS 8

typedef struct got_t {
  int n;
  int32_t part[4096];
  int64_t off[4096];
  int round[4096];
  int steady[4096];
} got_t;

static got_t ga, gb;

/* Drains r for up to ms, committing each message except those of partition
 * skip (-1: none); records what came. */
static void drain(bus_reader *r, got_t *g, int ms, int *retries, int32_t skip) {
  double end = check_now() + ms / 1000.0;
  while (check_now() < end) {
    bus_msg *m = NULL;
    int rc = bus_poll(r, 50, &m, err, sizeof err);
    if (rc < 0)
      fprintf(stderr, "poll: %s\n", err);
    if (rc != 1)
      continue;
    if (g->n < 4096) {
      g->part[g->n] = m->partition;
      g->off[g->n] = m->offset;
      const char *p = m->payload;
      g->steady[g->n] = p[0] == 's';
      g->round[g->n] = atoi(p + 1);
      g->n++;
    }
    rc = m->partition == skip ? 0 : bus_commit(r, m, err, sizeof err);
    if (rc == BUS_ERETRY) {
      if ((*retries)++ < 3)
        fprintf(stderr, "group: commit refused: %s\n", err);
    }
    else
      CHECK(rc == 0, "commit: %s", err);
    bus_msg_free(m);
  }
}

/* cooperative: partition.assignment.strategy=cooperative-sticky, where a
 * rebalance only moves some partitions (incremental assign/unassign). */
static void group(int cooperative) {
  bus_writer *w = writer("kafka://gr");
  if (!w)
    return;
  char key[16];
  for (int k = 0; k < GKEYS; k++) {
    snprintf(key, sizeof key, "k%d", k);
    publish(w, key, "r0:%s%d", key, 0);
  }
  const char *url = cooperative
                        ? "kafka://g-gr?topic=gr&" SESSION "&partition.assignment.strategy=cooperative-sticky"
                        : "kafka://g-gr?topic=gr&" SESSION;
  bus_reader *a = reader(url);
  if (!a)
    return;
  /* a alone: gets the whole first round; the last message is held, and
   * nothing of its partition is committed. */
  bus_msg *ms[GKEYS] = {0};
  int n = 0;
  double end = check_now() + 20;
  while (n < GKEYS && check_now() < end)
    if (bus_poll(a, 200, &ms[n], err, sizeof err) == 1)
      n++;
  CHECK(n == GKEYS, "first reader got %d of %d", n, GKEYS);
  if (n == 0)
    return;
  bus_msg *held = ms[n - 1];
  for (int i = 0; i < n - 1; i++) {
    if (ms[i]->partition != held->partition)
      CHECK_RC(bus_commit(a, ms[i], err, sizeof err), 0, err, NULL);
    bus_msg_free(ms[i]);
  }

  bus_reader *b = reader(url);
  if (!b)
    return;
  /* Keep publishing rounds until b has joined and a has been given its new
   * share after the rebalance. */
  int retries = 0, round = 1, b_first_round = -1, a_after = 0;
  double t0 = check_now();
  end = t0 + 45;
  while (check_now() < end && !(b_first_round > 0 && a_after)) {
    for (int k = 0; k < GKEYS; k++) {
      snprintf(key, sizeof key, "k%d", k);
      char msg[32];
      snprintf(msg, sizeof msg, "r%d:%s", round, key);
      bus_publish(w, key, msg, strlen(msg), err, sizeof err);
    }
    round++;
    /* a commits nothing of the held message's partition: a later commit
     * there would cover the held message too. */
    drain(a, &ga, 300, &retries, held->partition);
    drain(b, &gb, 300, &retries, -1);
    if (b_first_round < 0 && gb.n > 0)
      b_first_round = round;
    for (int i = 0; i < ga.n && b_first_round > 0; i++)
      if (ga.round[i] >= b_first_round)
        a_after = 1;
  }
  fprintf(stderr, "group: rebalanced after %.2fs, %d rounds, %d commits refused during it\n",
          check_now() - t0, round, retries);
  CHECK(b_first_round > 0, "the second reader never got a message");
  CHECK(a_after, "the first reader got nothing after the rebalance");

  /* Steady state: the partitions are split, each message goes to one. */
  int base_a = ga.n, base_b = gb.n;
  for (int i = 0; i < 4 * GKEYS; i++) {
    snprintf(key, sizeof key, "k%d", i % GKEYS);
    publish(w, key, "s0:%s%d", key, i);
  }
  end = check_now() + 20;
  while (check_now() < end && (ga.n - base_a) + (gb.n - base_b) < 4 * GKEYS) {
    drain(a, &ga, 200, &retries, -1);
    drain(b, &gb, 200, &retries, -1);
  }
  int in_a[64] = {0}, in_b[64] = {0}, na = 0, nb = 0;
  for (int i = base_a; i < ga.n; i++)
    if (ga.steady[i] && ga.part[i] < 64)
      in_a[ga.part[i]] = 1, na++;
  for (int i = base_b; i < gb.n; i++)
    if (gb.steady[i] && gb.part[i] < 64)
      in_b[gb.part[i]] = 1, nb++;
  CHECK(na + nb == 4 * GKEYS, "steady state: %d + %d messages, want %d", na, nb, 4 * GKEYS);
  CHECK(na > 0 && nb > 0, "steady state: a got %d, b got %d: partitions not split", na, nb);
  for (int p = 0; p < 64; p++)
    CHECK(!(in_a[p] && in_b[p]), "partition %d delivered to both readers", p);

  /* The held message: its partition was revoked, so it cannot be
   * committed, and it was delivered again. */
  /* The held message: with the eager protocol every partition was revoked
   * (and re-assigned), so it cannot be committed and was delivered again.
   * With cooperative-sticky its partition may have stayed with a: then the
   * commit succeeds and nothing is redelivered; if it moved, as eager. */
  int rc = bus_commit(a, held, err, sizeof err);
  int redelivered = 0;
  for (int i = 0; i < ga.n; i++)
    if (ga.part[i] == held->partition && ga.off[i] == held->offset)
      redelivered = 1;
  for (int i = 0; i < gb.n; i++)
    if (gb.part[i] == held->partition && gb.off[i] == held->offset)
      redelivered = 1;
  fprintf(stderr, "group: held message (partition %d): commit rc %d, redelivered %d\n",
          (int)held->partition, rc, redelivered);
  if (!cooperative)
    CHECK_RC(rc, BUS_ERETRY, err, "revoked");
  else
    CHECK(rc == 0 || (rc == BUS_ERETRY && strstr(err, "revoked")), "commit: %d %s", rc, err);
  CHECK((rc == BUS_ERETRY) == redelivered,
        "held message (partition %d offset %lld): commit rc %d but redelivered=%d", (int)held->partition,
        (long long)held->offset, rc, redelivered);
  bus_msg_free(held);
  bus_reader_close(a);
  bus_reader_close(b);
  bus_writer_close(w);
}

/* ---- kcat ---- */

static const char *kcat(void) {
  const char *k = getenv("KCAT");
  return k && *k ? k : "kcat";
}

static void with_kcat(void) {
  const char *brokers = getenv("KAFKA_BROKERS");
  bus_writer *w = writer("kafka://kc");
  if (!w || !brokers)
    return;
  bus_event evs[5];
  static const char *types[] = {BUS_TYPE_UPLOADED, BUS_TYPE_MERGED, BUS_TYPE_DELETED};
  for (int i = 0; i < 5; i++) {
    char app[16];
    snprintf(app, sizeof app, "app-%d", i);
    bus_event_init(&evs[i], types[i % 3], app);
    snprintf(evs[i].profile_key, sizeof evs[i].profile_key, "%s/staging/17300754353110000%02d-0a1b2c3d", app, i);
    snprintf(evs[i].merged_key, sizeof evs[i].merged_key, "%s/default.pgo", app);
    if (!strcmp(types[i % 3], BUS_TYPE_UPLOADED))
      evs[i].merged_key[0] = 0;
    if (!strcmp(types[i % 3], BUS_TYPE_DELETED))
      evs[i].profile_key[0] = evs[i].merged_key[0] = 0;
    CHECK_RC(bus_publish_event(w, &evs[i], err, sizeof err), 0, err, NULL);
  }
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -b '%s' -C -t kc -o beginning -e -q -f '%%k\\t%%s\\n'", kcat(), brokers);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL, "cannot run %s", cmd);
  int matched = 0, lines = 0;
  char line[4096];
  while (p && fgets(line, sizeof line, p)) {
    lines++;
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t');
    CHECK(tab != NULL, "kcat line without key: %s", line);
    if (!tab)
      continue;
    *tab = 0;
    bus_event ev;
    CHECK_RC(bus_event_decode(tab + 1, strlen(tab + 1), &ev, err, sizeof err), 0, err, NULL);
    for (int i = 0; i < 5; i++)
      if (!strcmp(ev.id, evs[i].id)) {
        CHECK(same_event(&ev, &evs[i]), "event %d differs as read by kcat", i);
        CHECK(!strcmp(line, evs[i].app), "kcat sees key %s for app %s", line, evs[i].app);
        matched++;
      }
  }
  int st = p ? pclose(p) : -1;
  CHECK(st == 0, "kcat consumer exited with status %d", st);
  CHECK(lines == 5 && matched == 5, "kcat read %d lines, %d matched our 5 events", lines, matched);

  /* kcat produces, we read: keys and payloads exactly as sent. */
  snprintf(cmd, sizeof cmd, "%s -b '%s' -P -t kc2 -K '\\t'", kcat(), brokers);
  p = popen(cmd, "w");
  CHECK(p != NULL, "cannot run %s", cmd);
  static const char *sent[][2] = {{"alpha", "{\"n\":1}"}, {"beta", "two words"}, {"alpha", "{\"n\":3}"}};
  for (int i = 0; p && i < 3; i++)
    fprintf(p, "%s\t%s\n", sent[i][0], sent[i][1]);
  st = p ? pclose(p) : -1;
  CHECK(st == 0, "kcat producer exited with status %d", st);
  bus_reader *r = reader("kafka://g-kc?topic=kc2&" SESSION);
  int got = 0, alpha_next = 0;
  double end = check_now() + 20;
  while (r && got < 3 && check_now() < end) {
    bus_msg *m = NULL;
    if (bus_poll(r, 200, &m, err, sizeof err) != 1)
      continue;
    got++;
    int ok = 0;
    for (int i = 0; i < 3; i++)
      if (!strcmp(m->key, sent[i][0]) && m->len == strlen(sent[i][1]) &&
          !memcmp(m->payload, sent[i][1], m->len)) {
        ok = 1;
        if (!strcmp(m->key, "alpha")) {
          CHECK(i == alpha_next, "alpha messages out of order");
          alpha_next = i == 0 ? 2 : 3;
        }
      }
    CHECK(ok, "unexpected message %s => %.*s", m->key, (int)m->len, (const char *)m->payload);
    CHECK_RC(bus_commit(r, m, err, sizeof err), 0, err, NULL);
    bus_msg_free(m);
  }
  CHECK(got == 3, "read %d of kcat's 3 messages", got);
  bus_reader_close(r);

  /* kcat as a member of our group sees nothing left: all was committed. */
  snprintf(cmd, sizeof cmd,
           "%s -b '%s' -G g-kc -X auto.offset.reset=earliest -X session.timeout.ms=6000 -e -q -f '%%s\\n' kc2",
           kcat(), brokers);
  p = popen(cmd, "r");
  lines = 0;
  while (p && fgets(line, sizeof line, p))
    lines++;
  st = p ? pclose(p) : -1;
  CHECK(st == 0 && lines == 0, "kcat in group g-kc: status %d, %d uncommitted messages", st, lines);
  bus_writer_close(w);
}

/* ---- broker_down ---- */

static void broker_down(void) {
  const char *support = getenv("KAFKA_SUPPORT"), *dir = getenv("KAFKA_MOCK_DIR");
  CHECK(support && dir, "KAFKA_SUPPORT and KAFKA_MOCK_DIR must be set (run under with-kafka.sh)");
  if (!support || !dir)
    return;
  bus_writer *w = writer("kafka://bd?message.timeout.ms=3000&check.timeout.ms=2000");
  if (!w)
    return;
  publish(w, "k", "%s:%d", "k", 0);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/kafka-down.sh' '%s'", support, dir);
  CHECK(system(cmd) == 0, "%s failed", cmd);
  double t0 = check_now();
  int rc = bus_publish(w, "k", "x", 1, err, sizeof err);
  double dt = check_now() - t0;
  fprintf(stderr, "broker_down: publish failed after %.2fs: %s\n", dt, err);
  CHECK_RC(rc, BUS_ERETRY, err, "kafka://bd");
  CHECK(dt < 10, "publish took %.2fs with message.timeout.ms=3000", dt);
  t0 = check_now();
  rc = bus_writer_check(w, err, sizeof err);
  dt = check_now() - t0;
  CHECK_RC(rc, BUS_ERETRY, err, "no broker reachable");
  CHECK(dt < 5, "check took %.2fs with check.timeout.ms=2000", dt);
  t0 = check_now();
  bus_writer_close(w);
  CHECK(check_now() - t0 < 12, "close took %.2fs", check_now() - t0);
}

/* ---- unreachable ---- */

/* What reached the logger installed with bus_set_logger. */
static struct {
  pthread_mutex_t mu;
  int n, kafka_prefixed, with_fields;
  char first[256];
} logged = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};

static void record(void *ctx, int level, const char *msg, const char *const *kv, size_t npairs) {
  (void)ctx;
  (void)level;
  pthread_mutex_lock(&logged.mu);
  if (logged.n++ == 0)
    snprintf(logged.first, sizeof logged.first, "%s", msg);
  logged.kafka_prefixed += strncmp(msg, "kafka: ", 7) == 0;
  logged.with_fields += npairs == 2 && !strcmp(kv[0], "facility") && kv[1] &&
                        !strcmp(kv[2], "client") && kv[3] && !strncmp(kv[3], "pgopipe-", 8);
  pthread_mutex_unlock(&logged.mu);
}

static void unreachable(void) {
  bus_writer *w = NULL;
  bus_reader *r = NULL;
  core_logger lg = {record, NULL, CORE_LOG_DEBUG};
  bus_set_logger(&lg);
  unsetenv("KAFKA_BROKERS");
  CHECK_RC(bus_writer_open("kafka://t", &w, err, sizeof err), BUS_EINVAL, err, "KAFKA_BROKERS is not set");
  CHECK_RC(bus_reader_open("kafka://g?topic=t", &r, err, sizeof err), BUS_EINVAL, err,
           "KAFKA_BROKERS is not set");
  setenv("KAFKA_BROKERS", "127.0.0.1:1", 1);

  double t0 = check_now();
  int rc = bus_writer_open("kafka://t", &w, err, sizeof err);
  double dt = check_now() - t0;
  fprintf(stderr, "unreachable: writer open failed after %.2fs: %s\n", dt, err);
  CHECK_RC(rc, BUS_ERETRY, err, "kafka: no broker reachable at 127.0.0.1:1 within 5s");
  CHECK(dt > 4.0 && dt < 9.0, "writer open gave up after %.2fs, want about 5s", dt);

  t0 = check_now();
  rc = bus_reader_open("kafka://g?topic=t&check.timeout.ms=1500", &r, err, sizeof err);
  dt = check_now() - t0;
  CHECK_RC(rc, BUS_ERETRY, err, "no broker reachable at 127.0.0.1:1 within 1500ms");
  CHECK(dt > 1.0 && dt < 5.0, "reader open gave up after %.2fs, want about 1.5s", dt);
  CHECK(w == NULL && r == NULL, "handles set on failure");
  /* librdkafka's complaints about the refused connections reached the
   * application's logger, each "kafka: ..." with facility and client */
  pthread_mutex_lock(&logged.mu);
  CHECK(logged.n > 0 && logged.kafka_prefixed == logged.n && logged.with_fields == logged.n,
        "%d records, %d \"kafka: \", %d with facility and client; first: %s", logged.n,
        logged.kafka_prefixed, logged.with_fields, logged.first);
  fprintf(stderr, "unreachable: %d log records, first: %s\n", logged.n, logged.first);
  pthread_mutex_unlock(&logged.mu);
  bus_set_logger(NULL);

  /* URL errors, before any connection is tried. */
  CHECK_RC(bus_writer_open("kafka://t?no.such.property=1", &w, err, sizeof err), BUS_EINVAL, err,
           "\"no.such.property\"");
  CHECK_RC(bus_writer_open("kafka://t?acks=maybe", &w, err, sizeof err), BUS_EINVAL, err, "\"acks\"");
  CHECK_RC(bus_writer_open("kafka://t?sasl.password=s3cret&bogus.x=1", &w, err, sizeof err), BUS_EINVAL,
           err, "bogus.x");
  CHECK(!strstr(err, "s3cret"), "a property value leaked into the error: %s", err);
  CHECK_RC(bus_writer_open("kafka://t?enable.idempotence=true&acks=1", &w, err, sizeof err), BUS_EINVAL,
           err, "kafka://t");
  CHECK_RC(bus_writer_open("kafka://t?topic=x", &w, err, sizeof err), BUS_EINVAL, err, "drop ?topic=");
  CHECK_RC(bus_writer_open("kafka://t?check.timeout.ms=0", &w, err, sizeof err), BUS_EINVAL, err,
           "check.timeout.ms");
  CHECK_RC(bus_writer_open("kafka://bad topic", &w, err, sizeof err), BUS_EINVAL, err, "bad topic name");
  CHECK_RC(bus_reader_open("kafka://g", &r, err, sizeof err), BUS_EINVAL, err, "needs ?topic=TOPIC");
  CHECK_RC(bus_reader_open("kafka://g?topic=a/b", &r, err, sizeof err), BUS_EINVAL, err, "bad topic name");
  CHECK_RC(bus_reader_open("kafka://g?topic=t&fetch.wait.max.ms=-5", &r, err, sizeof err), BUS_EINVAL, err,
           "fetch.wait.max.ms");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_kafka produce_consume|restart|group|group_cooperative|kcat|broker_down|unreachable\n");
    return 2;
  }
  const char *s = argv[1];
  if (strcmp(s, "unreachable") && !getenv("KAFKA_BROKERS")) {
    fprintf(stderr, "test_kafka %s: KAFKA_BROKERS is not set (run under with-kafka.sh)\n", s);
    return 1;
  }
  double t0 = check_now();
  if (!strcmp(s, "produce_consume"))
    produce_consume();
  else if (!strcmp(s, "restart"))
    restart();
  else if (!strcmp(s, "group"))
    group(0);
  else if (!strcmp(s, "group_cooperative"))
    group(1);
  else if (!strcmp(s, "kcat"))
    with_kcat();
  else if (!strcmp(s, "broker_down"))
    broker_down();
  else if (!strcmp(s, "unreachable"))
    unreachable();
  else {
    fprintf(stderr, "test_kafka: unknown scenario %s\n", s);
    return 2;
  }
  fprintf(stderr, "test_kafka %s: %.2fs\n", s, check_now() - t0);
  return check_exit(s);
}
