/*
 * mem.c — the in-process event bus (mem://TOPIC), for the all-in-one mode
 * where the upload service and the merge worker share one process.
 *
 * It behaves like a Kafka topic with ONE partition read by ONE consumer
 * group, so the code above it cannot tell the difference:
 *  - a topic is an in-memory log with increasing offsets (from 0);
 *  - the group has one committed offset; a reader that opens (or takes over
 *    after another closed) starts there, so whatever was delivered but not
 *    committed is delivered again (at-least-once, as with Kafka);
 *  - the partition is owned by one reader at a time: further readers of the
 *    same topic wait (their polls time out empty) until the owner closes,
 *    as extra members of a Kafka group with one partition would. A commit of
 *    a message from an ownership that ended returns BUS_ERETRY.
 * Committed entries are freed at once; the log holds only what is not
 * committed yet, up to a writer's max.messages (default 100000): past that,
 * publish fails with BUS_ERETRY rather than grow without bound.
 *
 * The registry of topics is the library's only global state: a list of
 * topics by name, created on first open and freed when the last handle
 * closes with nothing left uncommitted (a topic holding uncommitted
 * messages stays, so that a restarted reader still finds them). One mutex
 * guards the registry and every topic in it: traffic here is a few events
 * per upload, so one lock is simpler than per-topic locks and never a
 * bottleneck; it is never held while calling out of this file. Publishing
 * is O(1) amortised (append, or compact when the dead head grows), a poll
 * copies one message.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "bus_internal.h"
#include "errbuf.h"

#define MEM_DEFAULT_MAX_MESSAGES 100000L

typedef struct mem_entry {
  char *key;
  void *payload;
  size_t keylen, len;
} mem_entry;

struct mem_reader;

typedef struct mem_topic {
  struct mem_topic *next;
  char *name;
  int refs;             /* open writers + readers */
  pthread_cond_t cond;  /* broadcast on publish and on ownership change */
  mem_entry *log;       /* entries [head, head+count) are offsets base.. */
  size_t cap, head, count;
  int64_t base;         /* offset of log[head] */
  int64_t committed;    /* the group's committed offset (next to read) */
  struct mem_reader *owner;
  uint64_t gen;         /* bumped at every change of owner */
} mem_topic;

typedef struct mem_writer {
  struct bus_writer base;
  mem_topic *t;
  long max_messages;
} mem_writer;

typedef struct mem_reader {
  struct bus_reader base;
  mem_topic *t;
  int64_t position;     /* next offset to deliver, valid while owner */
  uint64_t gen;         /* the topic's gen when this reader became owner */
} mem_reader;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mem_topic *registry; /* guarded by registry_lock, as is every topic */

/* Finds or creates topic name; called with registry_lock held. */
static mem_topic *topic_ref(const char *name) {
  for (mem_topic *t = registry; t; t = t->next)
    if (!strcmp(t->name, name)) {
      t->refs++;
      return t;
    }
  mem_topic *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->name = strdup(name);
  pthread_condattr_t ca;
  int ok = t->name && pthread_condattr_init(&ca) == 0;
  if (ok) {
    ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&t->cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (!ok) {
    free(t->name);
    free(t);
    return NULL;
  }
  t->refs = 1;
  t->next = registry;
  registry = t;
  return t;
}

/* Drops a reference; frees the topic when unused and empty. Lock held. */
static void topic_unref(mem_topic *t) {
  if (--t->refs > 0 || t->count > 0)
    return;
  for (mem_topic **pp = &registry; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  pthread_cond_destroy(&t->cond);
  free(t->log);
  free(t->name);
  free(t);
}

/* Frees entries below the committed offset. Lock held. */
static void topic_trim(mem_topic *t) {
  while (t->count > 0 && t->base < t->committed) {
    mem_entry *e = &t->log[t->head];
    free(e->key);
    free(e->payload);
    t->head++;
    t->count--;
    t->base++;
  }
  if (t->count == 0)
    t->head = 0;
}

static int check_params(bus_url *u, char *err, size_t errlen) {
  for (size_t i = 0; i < u->nparams; i++)
    if (!u->params[i].used) {
      errbuf_set(err, errlen, "mem://%s: unknown parameter \"%s\" (mem:// takes max.messages)",
                 u->name, u->params[i].key);
      return BUS_EINVAL;
    }
  return 0;
}

static int valid_name(const bus_url *u, char *err, size_t errlen) {
  if (bus_valid_topic(u->name)) return 0;
  errbuf_set(err, errlen, "mem://%s: bad topic name (want [A-Za-z0-9._-]{1,249})", u->name);
  return BUS_EINVAL;
}

/* A reference to the topic of u (created when new); NULL when out of
 * memory. */
static mem_topic *ref_topic(const bus_url *u) {
  pthread_mutex_lock(&registry_lock);
  mem_topic *t = topic_ref(u->name);
  pthread_mutex_unlock(&registry_lock);
  return t;
}

static int out_of_memory(const bus_url *u, char *err, size_t errlen) {
  errbuf_set(err, errlen, "mem://%s: out of memory", u->name);
  return BUS_ENOMEM;
}

static int mem_writer_open(bus_url *u, struct bus_writer **out, char *err, size_t errlen) {
  long max = MEM_DEFAULT_MAX_MESSAGES;
  int rc = valid_name(u, err, errlen);
  if (rc || (rc = bus_url_param_int(u, "max.messages", 1, 1L << 30, &max, err, errlen)) ||
      (rc = check_params(u, err, errlen)))
    return rc;
  mem_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->t = ref_topic(u))) {
    free(w);
    return out_of_memory(u, err, errlen);
  }
  w->base.be = &bus_backend_mem;
  w->max_messages = max;
  *out = &w->base;
  return 0;
}

static int mem_publish(struct bus_writer *bw, const char *key, const void *msg, size_t len,
                       char *err, size_t errlen) {
  mem_writer *w = (mem_writer *)bw;
  mem_topic *t = w->t;
  size_t keylen = strlen(key);
  char *k = malloc(keylen + 1);
  void *p = malloc(len ? len : 1);
  if (!k || !p) {
    free(k);
    free(p);
    errbuf_set(err, errlen, "mem://%s: out of memory", t->name);
    return BUS_ENOMEM;
  }
  memcpy(k, key, keylen + 1);
  if (len)
    memcpy(p, msg, len);
  int rc = 0;
  pthread_mutex_lock(&registry_lock);
  if (t->count >= (size_t)w->max_messages) {
    errbuf_set(
        err, errlen,
        "mem://%s: %zu messages are not committed yet (max.messages=%ld); is the worker running?",
        t->name, t->count, w->max_messages);
    rc = BUS_ERETRY;
  } else {
    if (t->head + t->count == t->cap) {
      if (t->head > 0 && t->head >= t->cap / 2) { /* slide the live part down */
        memmove(t->log, t->log + t->head, t->count * sizeof *t->log);
        t->head = 0;
      } else {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        mem_entry *nl = realloc(t->log, ncap * sizeof *nl);
        if (!nl) {
          errbuf_set(err, errlen, "mem://%s: out of memory", t->name);
          rc = BUS_ENOMEM;
        } else {
          t->log = nl;
          t->cap = ncap;
        }
      }
    }
    if (!rc) {
      t->log[t->head + t->count] = (mem_entry){k, p, keylen, len};
      t->count++;
      k = NULL;
      p = NULL;
      pthread_cond_broadcast(&t->cond);
    }
  }
  pthread_mutex_unlock(&registry_lock);
  free(k);
  free(p);
  return rc;
}

static int mem_writer_check(struct bus_writer *w, char *err, size_t errlen) { return 0; }

static void mem_writer_close(struct bus_writer *bw) {
  mem_writer *w = (mem_writer *)bw;
  pthread_mutex_lock(&registry_lock);
  topic_unref(w->t);
  pthread_mutex_unlock(&registry_lock);
  free(w);
}

static int mem_reader_open(bus_url *u, struct bus_reader **out, char *err, size_t errlen) {
  int rc = valid_name(u, err, errlen);
  if (rc || (rc = check_params(u, err, errlen)))
    return rc;
  mem_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->t = ref_topic(u))) {
    free(r);
    return out_of_memory(u, err, errlen);
  }
  r->base.be = &bus_backend_mem;
  *out = &r->base;
  return 0;
}

static void deadline_after(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static int mem_poll(struct bus_reader *br, int timeout_ms, bus_msg_full **msg, char *err,
                    size_t errlen) {
  mem_reader *r = (mem_reader *)br;
  mem_topic *t = r->t;
  struct timespec deadline;
  deadline_after(&deadline, timeout_ms);
  pthread_mutex_lock(&registry_lock);
  for (;;) {
    if (!t->owner) { /* take the partition, from the group's committed offset */
      t->owner = r;
      r->gen = ++t->gen;
      r->position = t->committed;
    }
    if (t->owner == r && r->position < t->base + (int64_t)t->count) {
      mem_entry *e = &t->log[t->head + (size_t)(r->position - t->base)];
      bus_msg_full *m = bus_msg_new(br, e->key, e->keylen, e->payload, e->len, 0, r->position, r->gen);
      if (!m) {
        pthread_mutex_unlock(&registry_lock);
        errbuf_set(err, errlen, "mem://%s: out of memory", t->name);
        return BUS_ENOMEM;
      }
      r->position++;
      pthread_mutex_unlock(&registry_lock);
      *msg = m;
      return 1;
    }
    if (timeout_ms == 0 || pthread_cond_timedwait(&t->cond, &registry_lock, &deadline) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&registry_lock);
  return 0;
}

static int mem_commit(struct bus_reader *br, const bus_msg_full *m, char *err, size_t errlen) {
  mem_reader *r = (mem_reader *)br;
  mem_topic *t = r->t;
  int rc = 0;
  pthread_mutex_lock(&registry_lock);
  if (t->owner != r || m->gen != t->gen) {
    errbuf_set(err, errlen,
               "mem://%s: partition 0 is no longer assigned to this reader; offset %lld will be "
               "redelivered",
               t->name, (long long)m->pub.offset);
    rc = BUS_ERETRY;
  } else if (m->pub.offset + 1 > t->committed) {
    t->committed = m->pub.offset + 1;
    topic_trim(t);
  }
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

static int mem_reader_check(struct bus_reader *r, char *err, size_t errlen) { return 0; }

static void mem_reader_close(struct bus_reader *br) {
  mem_reader *r = (mem_reader *)br;
  pthread_mutex_lock(&registry_lock);
  if (r->t->owner == r) {
    r->t->owner = NULL;
    pthread_cond_broadcast(&r->t->cond); /* a waiting reader may take over */
  }
  topic_unref(r->t);
  pthread_mutex_unlock(&registry_lock);
  free(r);
}

const bus_backend bus_backend_mem = {
    .scheme = "mem",
    .writer_open = mem_writer_open,
    .publish = mem_publish,
    .writer_check = mem_writer_check,
    .writer_close = mem_writer_close,
    .reader_open = mem_reader_open,
    .poll = mem_poll,
    .commit = mem_commit,
    .reader_check = mem_reader_check,
    .reader_close = mem_reader_close,
};
