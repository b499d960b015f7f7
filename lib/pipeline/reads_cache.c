/*
 * reads_cache.c — the output cache of the read side (reads.h): a byte-bounded
 * LRU of immutable outputs with single-flight fills.
 *
 * One mutex guards everything; it is never held while a fill runs or while
 * an answer is sent, only for the hash lookup and the list updates, so its
 * cost per request is a few hundred nanoseconds beside a blob stat.
 * Entries:
 *   FILLING  in the hash table (so that others find it and wait on the
 *            condition variable), not in the LRU list, not counted;
 *   READY    in the table and the LRU list, counted in `bytes` — unless it
 *            was larger than the bound, in which case it was only handed
 *            to the callers of its flight and lives until they release it;
 *   FAILED   out of the table; kept until the callers that waited for it
 *            have read the fill's code and message.
 * An entry is freed when it is out of the table and nobody references it;
 * evicting a referenced entry only unlinks it, so memory may exceed the
 * bound by the outputs being sent at that moment.
 */
#include "reads.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

enum { E_FILLING, E_READY, E_FAILED };

typedef struct entry {
  reads_item item; /* first: reads_cache_release finds the entry from the item */
  char *key, *group;
  uint64_t hash;
  int state;
  int rc;       /* E_FAILED: the fill's code */
  char *errmsg; /* E_FAILED: its message */
  unsigned refs;
  int in_table, in_lru;
  size_t charge; /* what it counts against the bound: the output, its key and this struct */
  struct entry *hnext;
  struct entry *prev, *next; /* LRU: head = most recently used */
} entry;

struct reads_cache {
  pthread_mutex_t mu;
  pthread_cond_t done;
  size_t max_bytes;
  entry **buckets;
  size_t nbuckets, count;
  entry *head, *tail;
  reads_cache_stats st;
  svc_metric *m_bytes, *m_entries, *m_evict;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

reads_cache *reads_cache_new(size_t max_bytes, svc_metrics *m) {
  reads_cache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->max_bytes = max_bytes;
  c->nbuckets = 64;
  c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->done, NULL);
  if (m) {
    c->m_bytes = svc_metrics_gauge(m, "pgopipe_read_cache_bytes", "Bytes of converted outputs held by the read cache",
                                   NULL);
    c->m_entries = svc_metrics_gauge(m, "pgopipe_read_cache_entries", "Outputs held by the read cache", NULL);
    c->m_evict = svc_metrics_counter(m, "pgopipe_read_cache_evictions_total",
                                     "Outputs dropped from the read cache: size (least recently used, to make room), "
                                     "superseded (made from an older version of a source stored anew)",
                                     "reason");
    if (!c->m_bytes || !c->m_entries || !c->m_evict) {
      reads_cache_free(c);
      return NULL;
    }
  }
  return c;
}

static void entry_free(entry *e) {
  free((void *)(uintptr_t)e->item.data);
  free(e->key);
  free(e->group);
  free(e->errmsg);
  free(e);
}

void reads_cache_free(reads_cache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->nbuckets; i++) {
    entry *e = c->buckets[i];
    while (e) {
      entry *n = e->hnext;
      entry_free(e);
      e = n;
    }
  }
  free(c->buckets);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->done);
  free(c);
}

/* ---- the table and the list (mutex held) ---- */

static entry *table_find(reads_cache *c, const char *key, uint64_t h) {
  for (entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
    if (e->hash == h && strcmp(e->key, key) == 0) return e;
  return NULL;
}

static void table_grow(reads_cache *c) {
  size_t nb = c->nbuckets * 2;
  entry **b = calloc(nb, sizeof *b);
  if (!b) return; /* longer chains, still correct */
  for (size_t i = 0; i < c->nbuckets; i++) {
    entry *e = c->buckets[i];
    while (e) {
      entry *n = e->hnext;
      e->hnext = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
      e = n;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->nbuckets = nb;
}

static void table_add(reads_cache *c, entry *e) {
  if (c->count + 1 > c->nbuckets) table_grow(c);
  entry **b = &c->buckets[e->hash & (c->nbuckets - 1)];
  e->hnext = *b;
  *b = e;
  e->in_table = 1;
  c->count++;
}

static void table_remove(reads_cache *c, entry *e) {
  entry **p = &c->buckets[e->hash & (c->nbuckets - 1)];
  while (*p && *p != e) p = &(*p)->hnext;
  if (*p) *p = e->hnext;
  e->hnext = NULL;
  e->in_table = 0;
  c->count--;
}

static void lru_unlink(reads_cache *c, entry *e) {
  if (e->prev) e->prev->next = e->next;
  else c->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else c->tail = e->prev;
  e->prev = e->next = NULL;
  e->in_lru = 0;
}

static void lru_push_front(reads_cache *c, entry *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
  e->in_lru = 1;
}

static void publish_gauges(reads_cache *c) {
  svc_metric_set(c->m_bytes, (double)c->st.bytes);
  svc_metric_set(c->m_entries, (double)c->st.entries);
}

/* Takes a stored entry out (eviction); frees it unless referenced. */
static void drop(reads_cache *c, entry *e) {
  if (e->in_lru) {
    lru_unlink(c, e);
    c->st.bytes -= e->charge;
    c->st.entries--;
  }
  if (e->in_table) table_remove(c, e);
  if (e->refs == 0) entry_free(e);
}

/* Stores a filled entry: drops older versions of its group and, from the
 * least recently used end, what does not fit any more. */
static void store(reads_cache *c, entry *e) {
  e->charge = e->item.len + strlen(e->key) + (e->group ? strlen(e->group) : 0) + sizeof *e;
  if (e->charge > c->max_bytes) {
    table_remove(c, e); /* handed to its callers only */
    return;
  }
  if (e->group) {
    entry *o = c->tail;
    while (o) {
      entry *prev = o->prev;
      if (o->group && strcmp(o->group, e->group) == 0 && o->item.version.mtime_ms < e->item.version.mtime_ms &&
          strcmp(o->item.version.etag, e->item.version.etag) != 0) {
        drop(c, o);
        c->st.superseded++;
        svc_metric_add(c->m_evict, 1, "superseded");
      }
      o = prev;
    }
  }
  while (c->tail && c->st.bytes + e->charge > c->max_bytes) {
    drop(c, c->tail);
    c->st.evictions++;
    svc_metric_add(c->m_evict, 1, "size");
  }
  lru_push_front(c, e);
  c->st.bytes += e->charge;
  c->st.entries++;
}

/* ---- get ---- */

/* Runs the fill outside the lock; no table. */
static int fill_uncached(reads_cache *c, reads_fill_fn fill, void *ctx, const reads_item **item, char *err,
                         size_t errlen) {
  entry *e = calloc(1, sizeof *e);
  if (!e) {
    errbuf_set(err, errlen, "out of memory");
    return -1;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = fill(ctx, &data, &len, &e->item.version, err, errlen);
  if (rc != 0) {
    free(data);
    free(e);
    return rc;
  }
  e->item.data = data;
  e->item.len = len;
  e->state = E_READY;
  e->refs = 1;
  pthread_mutex_lock(&c->mu);
  c->st.misses++;
  pthread_mutex_unlock(&c->mu);
  *item = &e->item;
  return 0;
}

int reads_cache_get(reads_cache *c, const char *key, const char *group, reads_fill_fn fill, void *ctx,
                    const reads_item **item, reads_cache_outcome *outcome, char *err, size_t errlen) {
  reads_cache_outcome oc = READS_CACHE_MISS;
  *item = NULL;
  if (!key) {
    if (outcome) *outcome = oc;
    return fill_uncached(c, fill, ctx, item, err, errlen);
  }
  uint64_t h = hash_str(key);
  pthread_mutex_lock(&c->mu);
  entry *e = table_find(c, key, h);
  if (e) {
    e->refs++;
    if (e->state == E_READY) {
      if (e->in_lru) {
        lru_unlink(c, e);
        lru_push_front(c, e);
      }
      c->st.hits++;
      oc = READS_CACHE_HIT;
    } else {
      oc = READS_CACHE_SHARED;
      while (e->state == E_FILLING) pthread_cond_wait(&c->done, &c->mu);
      if (e->state == E_READY) c->st.shared++;
    }
    if (e->state == E_FAILED) {
      int rc = e->rc;
      errbuf_set(err, errlen, "%s", e->errmsg ? e->errmsg : "failed");
      if (--e->refs == 0 && !e->in_table) entry_free(e);
      pthread_mutex_unlock(&c->mu);
      if (outcome) *outcome = oc;
      return rc;
    }
    pthread_mutex_unlock(&c->mu);
    if (outcome) *outcome = oc;
    *item = &e->item;
    return 0;
  }
  /* A miss: this caller fills; the entry is in the table meanwhile. */
  e = calloc(1, sizeof *e);
  char *k = strdup(key), *g = group ? strdup(group) : NULL;
  if (!e || !k || (group && !g)) {
    pthread_mutex_unlock(&c->mu);
    free(e);
    free(k);
    free(g);
    errbuf_set(err, errlen, "out of memory");
    return -1;
  }
  e->key = k;
  e->group = g;
  e->hash = h;
  e->state = E_FILLING;
  e->refs = 1;
  table_add(c, e);
  c->st.misses++;
  pthread_mutex_unlock(&c->mu);

  uint8_t *data = NULL;
  size_t len = 0;
  blob_info version;
  memset(&version, 0, sizeof version);
  int rc = fill(ctx, &data, &len, &version, err, errlen);

  pthread_mutex_lock(&c->mu);
  if (rc == 0) {
    e->item.data = data;
    e->item.len = len;
    e->item.version = version;
    e->state = E_READY;
    store(c, e);
    publish_gauges(c);
    *item = &e->item;
  } else {
    free(data);
    e->state = E_FAILED;
    e->rc = rc;
    e->errmsg = strdup(err && errlen ? err : "failed");
    table_remove(c, e);
    c->st.fills_failed++;
    if (--e->refs == 0) entry_free(e);
  }
  pthread_cond_broadcast(&c->done);
  pthread_mutex_unlock(&c->mu);
  if (outcome) *outcome = oc;
  return rc;
}

void reads_cache_release(reads_cache *c, const reads_item *item) {
  if (!item) return;
  entry *e = (entry *)(uintptr_t)item; /* item is the entry's first member */
  pthread_mutex_lock(&c->mu);
  if (--e->refs == 0 && !e->in_table) entry_free(e);
  pthread_mutex_unlock(&c->mu);
}

void reads_cache_stats_get(reads_cache *c, reads_cache_stats *out) {
  pthread_mutex_lock(&c->mu);
  *out = c->st;
  pthread_mutex_unlock(&c->mu);
}
