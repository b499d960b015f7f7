/*
 * test_nats — the nats:// bus against a real nats-server with JetStream
 * (started per scenario by tests/support/nats/with-nats.sh on 127.0.0.1, a
 * random port and a temporary store, which exports NATS_SERVER_URL).
 *
 * Usage: test_nats SCENARIO
 *   produce_consume  publish (one thread and four) and consume: all
 *                    messages, in publish order per key (and overall),
 *                    keys carried; events round-trip; health checks
 *   restart          a reader commits part and closes; a new one on the
 *                    same durable resumes right after the last commit and
 *                    gets the uncommitted ones again, in order
 *   crash            a reader process dies holding messages (no close): a
 *                    new reader gets them again after ack_wait, in order
 *   keepalive        a reader holding messages longer than ack_wait keeps
 *                    them (in-progress): nothing is redelivered under it
 *   server_down      nats-server stops: publish and check fail with
 *                    BUS_ERETRY within timeout=; back on the same port, the
 *                    same handles work again and nothing committed returns
 *   autopgo          what autopgo (gocloud's natspubsub) publishes, a plain
 *                    NATS message of the event's JSON on the subject, with
 *                    no header, is stored by the stream and read; queue=NAME
 *                    (gocloud's subscription parameter) names the durable
 *   urls             bad URLs and settings refused with clear messages;
 *                    streams made elsewhere (wrong subjects, create=false)
 *   unreachable      (no server) open fails in bounded time, BUS_ERETRY
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "bus.h"
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

static char err[1024];

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

__attribute__((format(printf, 3, 4))) static void publish(bus_writer *w, const char *key, const char *fmt, ...) {
  char msg[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int rc = bus_publish(w, key, msg, strlen(msg), err, sizeof err);
  CHECK(rc == 0, "publish %s: %s", msg, err);
}

/* Polls one message within ms; its payload into buf ("" on timeout). */
static bus_msg *next(bus_reader *r, int ms, char *buf, size_t n) {
  bus_msg *m = NULL;
  buf[0] = 0;
  int64_t end = now_ms() + ms;
  while (now_ms() < end) {
    int rc = bus_poll(r, 200, &m, err, sizeof err);
    if (rc == 1) {
      snprintf(buf, n, "%.*s", (int)m->len, (const char *)m->payload);
      return m;
    }
    CHECK(rc == 0, "poll: %d %s", rc, err);
    if (rc < 0) break;
  }
  return NULL;
}

/* ---- produce_consume ---- */

#define KEYS 4
#define PER_KEY 10
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
  bus_writer *w = writer("nats://pc");
  if (!w) return;
  CHECK(bus_writer_check(w, err, sizeof err) == 0, "writer check: %s", err);
  for (int i = 0; i < PER_KEY * KEYS; i++) publish(w, keys[i % KEYS], "%s:%d", keys[i % KEYS], i / KEYS);
  shared = w;
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, publisher, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) {
    void *res;
    pthread_join(th[i], &res);
    CHECK(res == NULL, "publisher thread %d failed", i);
  }
  bus_event ev, back;
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "app-e");
  snprintf(ev.profile_key, sizeof ev.profile_key, "app-e/staging/1730075435311000000-0a1b2c3d");
  CHECK(bus_publish_event(w, &ev, err, sizeof err) == 0, "publish event: %s", err);

  bus_reader *r = reader("nats://pc?durable=g-pc");
  if (!r) return;
  CHECK(bus_reader_check(r, err, sizeof err) == 0, "reader check: %s", err);
  const int total = PER_KEY * KEYS + THREADS * PER_THREAD + 1;
  struct {
    char key[16];
    int next;
  } seen[KEYS + THREADS + 1];
  int nseen = 0, got = 0, bad_order = 0, bad_key = 0;
  int64_t last_offset = -1;
  bus_msg *m;
  char buf[2048];
  while (got < total && (m = next(r, 5000, buf, sizeof buf))) {
    got++;
    CHECK(m->partition == 0 && m->offset > last_offset, "offset %lld after %lld", (long long)m->offset,
          (long long)last_offset);
    last_offset = m->offset;
    if (!strcmp(m->key, "app-e")) {
      CHECK(bus_event_decode(m->payload, m->len, &back, err, sizeof err) == 0, "decode: %s", err);
      CHECK(!strcmp(back.id, ev.id) && !strcmp(back.profile_key, ev.profile_key), "event round trip");
    } else {
      char k[16];
      int n = -1;
      if (sscanf(buf, "%15[^:]:%d", k, &n) != 2 || strcmp(k, m->key)) bad_key++;
      int s = 0;
      while (s < nseen && strcmp(seen[s].key, k)) s++;
      if (s == nseen) {
        snprintf(seen[nseen].key, sizeof seen[0].key, "%s", k);
        seen[nseen++].next = 0;
      }
      if (n != seen[s].next) bad_order++;
      seen[s].next = n + 1;
    }
    if (got == total) CHECK(bus_commit(r, m, err, sizeof err) == 0, "commit: %s", err);
    bus_msg_free(m);
  }
  CHECK(got == total, "got %d of %d", got, total);
  CHECK(bad_order == 0 && bad_key == 0, "%d out of order, %d with the wrong key", bad_order, bad_key);
  /* everything committed: nothing more for this durable */
  CHECK(next(r, 500, buf, sizeof buf) == NULL, "a message after all were committed");
  bus_reader_close(r);
  r = reader("nats://pc?durable=g-pc");
  if (r) {
    m = next(r, 1000, buf, sizeof buf);
    CHECK(m == NULL, "committed message delivered again: %s", buf);
    if (m) bus_msg_free(m);
    bus_reader_close(r);
  }
  bus_writer_close(w);
}

/* ---- restart ---- */

static void restart(void) {
  bus_writer *w = writer("nats://rs");
  if (!w) return;
  for (int i = 1; i <= 10; i++) publish(w, "app", "m%d", i);
  bus_reader *r = reader("nats://rs?durable=g-rs");
  char buf[64];
  bus_msg *held[6] = {0};
  for (int i = 0; i < 6; i++) {
    held[i] = next(r, 5000, buf, sizeof buf);
    char want[8];
    snprintf(want, sizeof want, "m%d", i + 1);
    CHECK(held[i] && !strcmp(buf, want), "first reader: got \"%s\", want %s", buf, want);
  }
  if (held[3]) CHECK(bus_commit(r, held[3], err, sizeof err) == 0, "commit m4: %s", err);
  /* committing an earlier one again is harmless */
  if (held[1]) CHECK(bus_commit(r, held[1], err, sizeof err) == 0, "commit m2 again: %s", err);
  bus_reader_close(r); /* m5, m6 held and not committed: delivered again at once */
  for (int i = 0; i < 6; i++)
    if (held[i]) bus_msg_free(held[i]);
  int64_t t0 = now_ms();
  r = reader("nats://rs?durable=g-rs");
  for (int i = 5; i <= 10; i++) {
    bus_msg *m = next(r, 5000, buf, sizeof buf);
    char want[8];
    snprintf(want, sizeof want, "m%d", i);
    CHECK(m && !strcmp(buf, want), "after the restart: got \"%s\", want %s", buf, want);
    if (m && i == 10) CHECK(bus_commit(r, m, err, sizeof err) == 0, "commit m10: %s", err);
    if (m) bus_msg_free(m);
  }
  CHECK(now_ms() - t0 < 5000, "resuming took %lld ms", (long long)(now_ms() - t0));
  bus_reader_close(r);
  bus_writer_close(w);
}

/* ---- crash ---- */

static void crash(void) {
  bus_writer *w = writer("nats://cr");
  if (!w) return;
  for (int i = 1; i <= 8; i++) publish(w, "app", "m%d", i);
  pid_t pid = fork();
  if (pid == 0) {
    char e[512], b[64];
    bus_reader *r = NULL;
    if (bus_reader_open("nats://cr?durable=g-cr&ack_wait=2s", &r, e, sizeof e) != 0) _exit(2);
    bus_msg *m[4] = {0};
    for (int i = 0; i < 4; i++) {
      int64_t end = now_ms() + 5000;
      while (!m[i] && now_ms() < end) bus_poll(r, 200, &m[i], e, sizeof e);
      if (!m[i]) _exit(3);
      snprintf(b, sizeof b, "%.*s", (int)m[i]->len, (const char *)m[i]->payload);
    }
    if (bus_commit(r, m[1], e, sizeof e) != 0) _exit(4); /* m1, m2 done */
    _exit(0); /* dies holding m3, m4: no close, no nak */
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the crashing reader failed (%d)", st);
  int64_t t0 = now_ms();
  bus_reader *r = reader("nats://cr?durable=g-cr&ack_wait=2s");
  char buf[64];
  for (int i = 3; i <= 8; i++) {
    bus_msg *m = next(r, 10000, buf, sizeof buf);
    char want[8];
    snprintf(want, sizeof want, "m%d", i);
    CHECK(m && !strcmp(buf, want), "after the crash: got \"%s\", want %s", buf, want);
    if (m) bus_msg_free(m);
  }
  int64_t dt = now_ms() - t0;
  CHECK(dt >= 1000 && dt < 8000, "the dead reader's messages came back after %lld ms (ack_wait 2 s)",
        (long long)dt);
  bus_reader_close(r);
  bus_writer_close(w);
}

/* ---- keepalive ---- */

static void keepalive(void) {
  bus_writer *w = writer("nats://ka");
  if (!w) return;
  for (int i = 1; i <= 3; i++) publish(w, "app", "m%d", i);
  bus_reader *a = reader("nats://ka?durable=g-ka&ack_wait=1s");
  char buf[64];
  bus_msg *m1 = next(a, 5000, buf, sizeof buf);
  CHECK(m1 && !strcmp(buf, "m1"), "got %s", buf);
  /* a second reader on the durable (a standby) sees nothing of what the
   * first one holds, however long it holds it */
  bus_reader *b = reader("nats://ka?durable=g-ka&ack_wait=1s&fetch=1");
  int64_t end = now_ms() + 3500;
  int stolen = 0;
  while (now_ms() < end) {
    bus_msg *m = NULL;
    if (bus_poll(b, 200, &m, err, sizeof err) == 1) {
      if (!memcmp(m->payload, "m1", 2)) stolen++;
      bus_msg_free(m);
    }
  }
  CHECK(stolen == 0, "a held message was redelivered %d times under its live reader", stolen);
  if (m1) {
    CHECK(bus_commit(a, m1, err, sizeof err) == 0, "commit after 3.5 s: %s", err);
    bus_msg_free(m1);
  }
  bus_reader_close(b);
  bus_reader_close(a);
  bus_writer_close(w);
}

/* ---- server_down ---- */

static int run(const char *cmd) { return system(cmd); }

static void server_down(void) {
  const char *dir = getenv("NATS_DIR"), *support = getenv("NATS_SUPPORT");
  if (!dir || !support) {
    CHECK(0, "NATS_DIR / NATS_SUPPORT not set (run under with-nats.sh)");
    return;
  }
  bus_writer *w = writer("nats://sd?timeout=1s");
  bus_reader *r = reader("nats://sd?durable=g-sd&timeout=1s");
  if (!w || !r) return;
  publish(w, "app", "before");
  char buf[64], cmd[2048];
  bus_msg *m = next(r, 5000, buf, sizeof buf);
  CHECK(m && !strcmp(buf, "before"), "got %s", buf);
  if (m) {
    CHECK(bus_commit(r, m, err, sizeof err) == 0, "commit: %s", err);
    bus_msg_free(m);
  }
  snprintf(cmd, sizeof cmd, "%s/nats-down.sh %s", support, dir);
  CHECK(run(cmd) == 0, "stopping the server");
  int64_t t0 = now_ms();
  int rc = bus_publish(w, "app", "lost", 4, err, sizeof err);
  CHECK(rc == BUS_ERETRY, "publish with the server down: %d %s", rc, err);
  CHECK(now_ms() - t0 < 4000, "publish took %lld ms", (long long)(now_ms() - t0));
  CHECK(bus_writer_check(w, err, sizeof err) == BUS_ERETRY, "writer check with the server down: %s", err);
  CHECK(bus_reader_check(r, err, sizeof err) == BUS_ERETRY, "reader check with the server down: %s", err);
  m = NULL;
  rc = bus_poll(r, 300, &m, err, sizeof err);
  CHECK(rc <= 0, "a message while the server is down");
  if (m) bus_msg_free(m);
  /* back on the same port, same store */
  char port[32] = "";
  snprintf(cmd, sizeof cmd, "%s/port", dir);
  FILE *f = fopen(cmd, "r");
  if (f) {
    if (!fgets(port, sizeof port, f)) port[0] = 0;
    fclose(f);
  }
  port[strcspn(port, "\n")] = 0;
  snprintf(cmd, sizeof cmd, "%s/nats-up.sh %s %s >/dev/null", support, dir, port);
  CHECK(run(cmd) == 0, "restarting the server");
  int64_t end = now_ms() + 15000;
  do {
    rc = bus_publish(w, "app", "after", 5, err, sizeof err);
    if (rc) usleep(200000);
  } while (rc && now_ms() < end);
  CHECK(rc == 0, "publish after the server came back: %s", err);
  m = next(r, 10000, buf, sizeof buf);
  CHECK(m && !strcmp(buf, "after"), "after the restart: got \"%s\" (want after; \"before\" was committed)", buf);
  if (m) bus_msg_free(m);
  CHECK(bus_writer_check(w, err, sizeof err) == 0, "writer check after: %s", err);
  bus_reader_close(r);
  bus_writer_close(w);
}

/* ---- autopgo ---- */

static void autopgo(void) {
  bus_writer *w = writer("nats://ap"); /* makes the stream */
  if (!w) return;
  /* a plain core publish, as gocloud's natspubsub sends a message without metadata */
  natsConnection *nc = NULL;
  natsStatus s = natsConnection_ConnectTo(&nc, getenv("NATS_SERVER_URL"));
  CHECK(s == NATS_OK, "connect: %s", natsStatus_GetText(s));
  if (s != NATS_OK) {
    bus_writer_close(w);
    return;
  }
  const char *ev = "{\"id\":\"7c1f0c3e-2b1a-4d59-9a3e-3f1e2d4c5b6a\",\"timestamp\":\"2024-11-21T12:16:34.964Z\","
                   "\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"example\","
                   "\"profileKey\":\"example/staging/1730075435311000000\"}}";
  s = natsConnection_PublishString(nc, "ap", ev);
  if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 5000);
  CHECK(s == NATS_OK, "publish: %s", natsStatus_GetText(s));
  publish(w, "example", "ours");
  bus_reader *r = reader("nats://ap?queue=autopgo-workers");
  char buf[512];
  bus_msg *m = next(r, 5000, buf, sizeof buf);
  CHECK(m && !strcmp(buf, ev), "autopgo's message: \"%s\"", buf);
  if (m) {
    CHECK(!strcmp(m->key, ""), "no key: \"%s\"", m->key);
    bus_event e;
    CHECK(bus_event_decode(m->payload, m->len, &e, err, sizeof err) == 0 && !strcmp(e.app, "example") &&
              !strcmp(e.profile_key, "example/staging/1730075435311000000"),
          "decodes as an event: %s", err);
    CHECK(bus_commit(r, m, err, sizeof err) == 0, "commit: %s", err);
    bus_msg_free(m);
  }
  m = next(r, 5000, buf, sizeof buf);
  CHECK(m && !strcmp(buf, "ours") && !strcmp(m->key, "example"), "then ours: \"%s\"", buf);
  if (m) bus_msg_free(m);
  if (r) bus_reader_close(r);
  /* queue= named the durable: durable= of the same name resumes it */
  r = reader("nats://ap?durable=autopgo-workers&create=false");
  m = next(r, 5000, buf, sizeof buf);
  CHECK(m && !strcmp(buf, "ours"), "the durable is queue's name: \"%s\"", buf);
  if (m) bus_msg_free(m);
  if (r) bus_reader_close(r);
  natsConnection_Destroy(nc);
  bus_writer_close(w);
}

/* ---- urls ---- */

static void expect_bad(int writer_side, const char *url, const char *why) {
  int rc;
  if (writer_side) {
    bus_writer *w = NULL;
    rc = bus_writer_open(url, &w, err, sizeof err);
    if (w) bus_writer_close(w);
  } else {
    bus_reader *r = NULL;
    rc = bus_reader_open(url, &r, err, sizeof err);
    if (r) bus_reader_close(r);
  }
  CHECK(rc == BUS_EINVAL && strstr(err, why), "%s: %d %s (want \"%s\")", url, rc, err, why);
}

static void urls(void) {
  expect_bad(1, "nats://a.*", "bad subject");
  expect_bad(1, "nats://a..b", "bad subject");
  expect_bad(1, "nats://ok?stream=bad.name", "bad stream name");
  expect_bad(1, "nats://ok?durable=x", "durable= is a reader's");
  expect_bad(1, "nats://ok?linger=1", "unknown parameter \"linger\"");
  expect_bad(0, "nats://ok?durable=has.dot", "bad durable name");
  expect_bad(0, "nats://ok?ack_wait=soon", "ack_wait");
  expect_bad(0, "nats://ok?fetch=0", "fetch");
  expect_bad(0, "nats://ok?durable=a&queue=b", "name two consumers");
  expect_bad(1, "nats://ok?queue=a", "unknown parameter \"queue\"");
  expect_bad(1, "nats://missing?create=false", "does not exist");
  /* a stream made for another subject does not take ours */
  bus_writer *w = writer("nats://one?stream=SHARED");
  if (w) bus_writer_close(w);
  expect_bad(1, "nats://two?stream=SHARED", "does not take the subject two");
  /* stream and consumer made here, then create=false finds them */
  w = writer("nats://made");
  bus_reader *r = reader("nats://made?durable=d");
  if (r) bus_reader_close(r);
  if (w) bus_writer_close(w);
  w = writer("nats://made?create=false");
  r = reader("nats://made?durable=d&create=false");
  if (r) bus_reader_close(r);
  if (w) bus_writer_close(w);
  expect_bad(0, "nats://made?durable=other&create=false", "does not exist");
}

/* ---- unreachable ---- */

static void unreachable(void) {
  setenv("NATS_SERVER_URL", "nats://127.0.0.1:1", 1);
  int64_t t0 = now_ms();
  bus_writer *w = NULL;
  int rc = bus_writer_open("nats://x?timeout=1s", &w, err, sizeof err);
  CHECK(rc == BUS_ERETRY && w == NULL && strstr(err, "cannot connect"), "writer: %d %s", rc, err);
  bus_reader *r = NULL;
  rc = bus_reader_open("nats://x?timeout=1s", &r, err, sizeof err);
  CHECK(rc == BUS_ERETRY && r == NULL, "reader: %d %s", rc, err);
  CHECK(now_ms() - t0 < 5000, "took %lld ms", (long long)(now_ms() - t0));
  /* credentials in the server URL are never shown */
  setenv("NATS_SERVER_URL", "nats://user:s3cret@127.0.0.1:1", 1);
  rc = bus_writer_open("nats://x?timeout=1s", &w, err, sizeof err);
  CHECK(rc == BUS_ERETRY && !strstr(err, "s3cret"), "message shows the password: %s", err);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_nats SCENARIO\n");
    return 2;
  }
  const char *s = argv[1];
  if (strcmp(s, "unreachable") && !getenv("NATS_SERVER_URL")) {
    fprintf(stderr, "test_nats %s: run under tests/support/nats/with-nats.sh\n", s);
    return 2;
  }
  if (!strcmp(s, "produce_consume")) produce_consume();
  else if (!strcmp(s, "restart")) restart();
  else if (!strcmp(s, "crash")) crash();
  else if (!strcmp(s, "keepalive")) keepalive();
  else if (!strcmp(s, "server_down")) server_down();
  else if (!strcmp(s, "autopgo")) autopgo();
  else if (!strcmp(s, "urls")) urls();
  else if (!strcmp(s, "unreachable")) unreachable();
  else {
    fprintf(stderr, "unknown scenario %s\n", s);
    return 2;
  }
  return check_exit("test_nats");
}
