/*
 * worker.c — the merge worker: events in, one merged base per app out.
 *
 * Exactly once (the full design note is in worker.h): each base carries, in
 * a pprof comment written in the same PUT as the data, the names of the
 * staged uploads merged into it whose staged objects may still exist.
 * Redelivered uploads found in that record are skipped; uploads whose staged
 * object is gone were merged and cleaned up (or deleted with their app) and
 * are skipped too. A staged object is deleted only after the base naming it
 * is durable (profile.merged is published after the PUT), and a name leaves
 * the record only once a listing shows its staged object gone. A SIGKILL at
 * any instant therefore loses nothing and counts nothing twice: the bus
 * redelivers whatever was not committed and the record makes it harmless.
 * Names rather than bus offsets, because mem:// offsets restart at 0 and
 * start-up reconciliation merges uploads that have no event at all.
 *
 * Shape: one thread runs worker_run: poll a batch, handle it per app in
 * order, commit each partition's last message. Every step that touches the
 * store or the bus is retried with exponential backoff on failure; only
 * content errors (poison) are final, and those move the object aside.
 * Stats are C11 atomics so the HTTP thread can read them without locks; the
 * two dependency error messages take a mutex.
 */
#define _POSIX_C_SOURCE 200809L
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pprof.h"
#include "svc_log.h"
#include "svc_metrics.h"

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_nanos(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The contract's app-name rule (bus_valid_app) on the first n bytes of s. */
static int app_name_valid(const char *s, size_t n) {
  char app[64];
  if (n < 1 || n >= sizeof app) return 0;
  memcpy(app, s, n);
  app[n] = 0;
  return bus_valid_app(app);
}

/* A growable list of strings (owned copies). */
typedef struct strlist {
  char **v;
  size_t n, cap;
} strlist;

static int sl_add(strlist *l, const char *s) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    l->cap = nc;
  }
  char *c = strdup(s);
  if (!c) return -1;
  l->v[l->n++] = c;
  return 0;
}

static int sl_addn(strlist *l, const char *s, size_t n) {
  char *c = malloc(n + 1);
  if (!c) return -1;
  memcpy(c, s, n);
  c[n] = 0;
  int rc = sl_add(l, c);
  free(c);
  return rc;
}

static void sl_free(strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sl_sort(strlist *l) {
  if (l->n > 1) qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

/* Binary search; the list must be sorted. */
static int sl_has_sorted(const strlist *l, const char *s) {
  if (!l->n) return 0;
  return bsearch(&s, l->v, l->n, sizeof *l->v, cmp_str) != NULL;
}

static int sl_has_linear(const strlist *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return 1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Stats, health, Prometheus text                                      */
/* ------------------------------------------------------------------ */

static const double merge_bounds[WORKER_MERGE_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25,
                                                          0.5,  1,     2.5,  5,   10};
static const double batch_bounds[WORKER_BATCH_BUCKETS] = {1, 2, 5, 10, 20, 50, 100, 200, 500};
static const double base_bounds[WORKER_BASE_BUCKETS] = {65536,    262144,    1048576,  4194304,
                                                        16777216, 67108864, 268435456};

typedef struct hist {
  _Atomic uint64_t b[16]; /* per bucket (non-cumulative); index nb = +Inf */
  _Atomic uint64_t count;
  _Atomic uint64_t sum_micro; /* sum × 1e6, so fractional seconds survive */
} hist;

enum { DEP_BLOB = 0, DEP_BUS = 1, DEP_N = 2 };

struct worker_stats {
  _Atomic uint64_t events, malformed, skipped_types, merges, uploads_merged, duplicates, missing,
      rejected, bases_rejected, retries, staged_deleted, apps_deleted, commits, commit_failures,
      conflicts, last_base_bytes, uploaded_events, merged_events, deleted_events, cache_hits;
  _Atomic int ready;
  hist merge_seconds, batch_size, base_bytes;
  /* Mirrors in a svc_metrics registry (worker_stats_attach); NULL = none. */
  svc_metric *m_events, *m_malformed, *m_skipped_types, *m_merges, *m_uploads_merged, *m_duplicates,
      *m_missing, *m_rejected, *m_bases_rejected, *m_retries, *m_staged_deleted, *m_apps_deleted,
      *m_commits, *m_commit_failures, *m_conflicts, *m_uploaded_events, *m_merged_events,
      *m_deleted_events, *m_cache_hits, *m_typed, *m_last_base_bytes, *m_merge_seconds, *m_batch_size,
      *m_base_bytes, *m_healthy;
  pthread_mutex_t mu;
  int dep_failing[DEP_N];
  char dep_msg[DEP_N][512];
};

worker_stats *worker_stats_new(void) {
  worker_stats *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  pthread_mutex_init(&st->mu, NULL);
  return st;
}

void worker_stats_free(worker_stats *st) {
  if (!st) return;
  pthread_mutex_destroy(&st->mu);
  free(st);
}

int worker_stats_attach(worker_stats *st, svc_metrics *m) {
  const char *P = "pgopipe_worker_";
  char n[96];
#define C(field, name, help)                                               \
  do {                                                                     \
    snprintf(n, sizeof n, "%s%s", P, name);                                \
    if (!(st->m_##field = svc_metrics_counter(m, n, help, NULL))) return -1; \
  } while (0)
  if (!(st->m_typed = svc_metrics_counter(m, "pgopipe_worker_events_total",
                                          "Events read from the bus, by type.", "type")))
    return -1;
  C(malformed, "malformed_events_total", "Events whose envelope could not be decoded (skipped and committed).");
  C(merges, "merges_total", "Base profiles written.");
  C(uploads_merged, "uploads_merged_total", "Uploads folded into a base.");
  C(duplicates, "duplicates_total", "Redelivered uploads found already merged (skipped).");
  C(missing, "staged_missing_total", "Uploads whose staged object was already gone (skipped).");
  C(rejected, "rejected_total", "Staged uploads moved to rejected/.");
  C(bases_rejected, "bases_rejected_total", "Undecodable base profiles moved to rejected/.");
  C(retries, "retries_total", "Transient failures (store or bus) retried with backoff.");
  C(staged_deleted, "staged_deleted_total", "Staged objects deleted after merging.");
  C(apps_deleted, "apps_deleted_total", "Apps deleted (profile.deleted).");
  C(commits, "commits_total", "Offsets committed.");
  C(commit_failures, "commit_failures_total", "Commits refused (partition revoked or broker trouble; redelivery is harmless).");
  C(conflicts, "base_conflicts_total", "Batches restarted because the base changed between read and write.");
  C(cache_hits, "base_cache_hits_total", "Base writes that started from the base kept in memory (no GET + decode).");
#undef C
  st->m_last_base_bytes = svc_metrics_gauge(m, "pgopipe_worker_base_last_bytes", "Size of the last base written.", NULL);
  st->m_healthy = svc_metrics_gauge(m, "pgopipe_worker_healthy", "1 when the store and the bus work.", NULL);
  st->m_merge_seconds = svc_metrics_histogram(m, "pgopipe_worker_merge_seconds",
                                              "Time to merge a batch and write the base.", NULL,
                                              merge_bounds, WORKER_MERGE_BUCKETS);
  st->m_batch_size = svc_metrics_histogram(m, "pgopipe_worker_batch_uploads", "Uploads merged per base write.",
                                           NULL, batch_bounds, WORKER_BATCH_BUCKETS);
  st->m_base_bytes = svc_metrics_histogram(m, "pgopipe_worker_base_bytes",
                                           "Size of base profiles written (gzipped bytes).", NULL,
                                           base_bounds, WORKER_BASE_BUCKETS);
  if (!st->m_last_base_bytes || !st->m_healthy || !st->m_merge_seconds || !st->m_batch_size ||
      !st->m_base_bytes)
    return -1;
  svc_metric_set(st->m_healthy, 1);
  return 0;
}

static void hist_observe(hist *h, const double *bounds, size_t nb, double v) {
  size_t i = 0;
  while (i < nb && v > bounds[i]) i++;
  atomic_fetch_add(&h->b[i], 1);
  atomic_fetch_add(&h->count, 1);
  atomic_fetch_add(&h->sum_micro, (uint64_t)(v * 1e6));
}

void worker_stats_counts(const worker_stats *cst, worker_counts *o) {
  worker_stats *st = (worker_stats *)cst;
  memset(o, 0, sizeof *o);
  if (!st) return;
  o->events = atomic_load(&st->events);
  o->malformed = atomic_load(&st->malformed);
  o->skipped_types = atomic_load(&st->skipped_types);
  o->merges = atomic_load(&st->merges);
  o->uploads_merged = atomic_load(&st->uploads_merged);
  o->duplicates = atomic_load(&st->duplicates);
  o->missing = atomic_load(&st->missing);
  o->rejected = atomic_load(&st->rejected);
  o->bases_rejected = atomic_load(&st->bases_rejected);
  o->retries = atomic_load(&st->retries);
  o->staged_deleted = atomic_load(&st->staged_deleted);
  o->apps_deleted = atomic_load(&st->apps_deleted);
  o->commits = atomic_load(&st->commits);
  o->commit_failures = atomic_load(&st->commit_failures);
  o->conflicts = atomic_load(&st->conflicts);
  o->last_base_bytes = atomic_load(&st->last_base_bytes);
  o->cache_hits = atomic_load(&st->cache_hits);
}

int worker_stats_dep(const worker_stats *cst, const char *name, char *msg, size_t msglen) {
  worker_stats *st = (worker_stats *)cst;
  int dep = !strcmp(name, "blob") ? DEP_BLOB : !strcmp(name, "bus") ? DEP_BUS : -1;
  if (dep < 0) {
    snprintf(msg, msglen, "unknown dependency %s", name);
    return -1;
  }
  pthread_mutex_lock(&st->mu);
  int failing = st->dep_failing[dep];
  if (failing) snprintf(msg, msglen, "%s", st->dep_msg[dep]);
  pthread_mutex_unlock(&st->mu);
  return failing ? -1 : 0;
}

int worker_stats_ready(const worker_stats *st) {
  return st ? atomic_load(&((worker_stats *)st)->ready) : 0;
}

/* Appends printf output to a growing buffer; returns -1 on allocation failure. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) { b->oom = 1; return; }
    if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
    size_t nc = b->cap ? b->cap * 2 : 4096;
    while (nc < b->n + (size_t)k + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) { b->oom = 1; return; }
    b->p = np;
    b->cap = nc;
  }
}

/* JSON string escaping into an sbuf (quotes included). */
static void sb_json_str(sbuf *b, const char *s) {
  sb_printf(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') sb_printf(b, "\\%c", *p);
    else if (*p == '\n') sb_printf(b, "\\n");
    else if (*p == '\t') sb_printf(b, "\\t");
    else if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
    else sb_printf(b, "%c", *p);
  }
  sb_printf(b, "\"");
}

static void prom_counter(sbuf *b, const char *name, const char *help, uint64_t v) {
  sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
            (unsigned long long)v);
}

static void prom_hist(sbuf *b, const char *name, const char *help, hist *h, const double *bounds,
                      size_t nb) {
  sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (size_t i = 0; i < nb; i++) {
    cum += atomic_load(&h->b[i]);
    sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
  }
  cum += atomic_load(&h->b[nb]);
  sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
  sb_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, (double)atomic_load(&h->sum_micro) / 1e6,
            name, (unsigned long long)atomic_load(&h->count));
}

int worker_stats_prometheus(const worker_stats *cst, char **out, size_t *len) {
  worker_stats *st = (worker_stats *)cst;
  sbuf b = {0};
  sb_printf(&b, "# HELP pgopipe_worker_events_total Events read from the bus, by type.\n"
                "# TYPE pgopipe_worker_events_total counter\n");
  sb_printf(&b, "pgopipe_worker_events_total{type=\"profile.uploaded\"} %llu\n",
            (unsigned long long)atomic_load(&st->uploaded_events));
  sb_printf(&b, "pgopipe_worker_events_total{type=\"profile.merged\"} %llu\n",
            (unsigned long long)atomic_load(&st->merged_events));
  sb_printf(&b, "pgopipe_worker_events_total{type=\"profile.deleted\"} %llu\n",
            (unsigned long long)atomic_load(&st->deleted_events));
  sb_printf(&b, "pgopipe_worker_events_total{type=\"other\"} %llu\n",
            (unsigned long long)atomic_load(&st->skipped_types));
  prom_counter(&b, "pgopipe_worker_malformed_events_total",
               "Events whose envelope could not be decoded (skipped and committed).",
               atomic_load(&st->malformed));
  prom_counter(&b, "pgopipe_worker_merges_total", "Base profiles written.",
               atomic_load(&st->merges));
  prom_counter(&b, "pgopipe_worker_uploads_merged_total", "Uploads folded into a base.",
               atomic_load(&st->uploads_merged));
  prom_counter(&b, "pgopipe_worker_duplicates_total",
               "Redelivered uploads found already merged (skipped).",
               atomic_load(&st->duplicates));
  prom_counter(&b, "pgopipe_worker_staged_missing_total",
               "Uploads whose staged object was already gone (skipped).",
               atomic_load(&st->missing));
  prom_counter(&b, "pgopipe_worker_rejected_total", "Staged uploads moved to rejected/.",
               atomic_load(&st->rejected));
  prom_counter(&b, "pgopipe_worker_bases_rejected_total",
               "Undecodable base profiles moved to rejected/.", atomic_load(&st->bases_rejected));
  prom_counter(&b, "pgopipe_worker_retries_total",
               "Transient failures (store or bus) retried with backoff.",
               atomic_load(&st->retries));
  prom_counter(&b, "pgopipe_worker_staged_deleted_total", "Staged objects deleted after merging.",
               atomic_load(&st->staged_deleted));
  prom_counter(&b, "pgopipe_worker_apps_deleted_total", "Apps deleted (profile.deleted).",
               atomic_load(&st->apps_deleted));
  prom_counter(&b, "pgopipe_worker_commits_total", "Offsets committed.",
               atomic_load(&st->commits));
  prom_counter(&b, "pgopipe_worker_commit_failures_total",
               "Commits refused (partition revoked or broker trouble; redelivery is harmless).",
               atomic_load(&st->commit_failures));
  prom_counter(&b, "pgopipe_worker_base_conflicts_total",
               "Batches restarted because the base changed between read and write.",
               atomic_load(&st->conflicts));
  prom_counter(&b, "pgopipe_worker_base_cache_hits_total",
               "Base writes that started from the base kept in memory (no GET + decode).",
               atomic_load(&st->cache_hits));
  sb_printf(&b, "# HELP pgopipe_worker_base_last_bytes Size of the last base written.\n"
                "# TYPE pgopipe_worker_base_last_bytes gauge\npgopipe_worker_base_last_bytes %llu\n",
            (unsigned long long)atomic_load(&st->last_base_bytes));
  prom_hist(&b, "pgopipe_worker_merge_seconds", "Time to merge a batch and write the base.",
            &st->merge_seconds, merge_bounds, WORKER_MERGE_BUCKETS);
  prom_hist(&b, "pgopipe_worker_batch_uploads", "Uploads merged per base write.", &st->batch_size,
            batch_bounds, WORKER_BATCH_BUCKETS);
  prom_hist(&b, "pgopipe_worker_base_bytes", "Size of base profiles written (gzipped bytes).",
            &st->base_bytes, base_bounds, WORKER_BASE_BUCKETS);
  int ok = worker_stats_health(st, NULL);
  sb_printf(&b, "# HELP pgopipe_worker_healthy 1 when the store and the bus work.\n"
                "# TYPE pgopipe_worker_healthy gauge\npgopipe_worker_healthy %d\n", ok);
  if (b.oom) {
    free(b.p);
    return -1;
  }
  *out = b.p;
  if (len) *len = b.n;
  return 0;
}

int worker_stats_health(const worker_stats *cst, char **json) {
  worker_stats *st = (worker_stats *)cst;
  static const char *names[DEP_N] = {"blob", "bus"};
  int failing[DEP_N];
  char msg[DEP_N][512];
  pthread_mutex_lock(&st->mu);
  for (int i = 0; i < DEP_N; i++) {
    failing[i] = st->dep_failing[i];
    memcpy(msg[i], st->dep_msg[i], sizeof msg[i]);
  }
  pthread_mutex_unlock(&st->mu);
  int ok = !failing[DEP_BLOB] && !failing[DEP_BUS];
  if (json) {
    sbuf b = {0};
    sb_printf(&b, "{\"status\":\"%s\",\"dependencies\":[", ok ? "healthy" : "unhealthy");
    for (int i = 0; i < DEP_N; i++) {
      sb_printf(&b, "%s{\"name\":\"%s\",\"status\":\"%s\"", i ? "," : "", names[i],
                failing[i] ? "unhealthy" : "healthy");
      if (failing[i]) {
        sb_printf(&b, ",\"message\":");
        sb_json_str(&b, msg[i]);
      }
      sb_printf(&b, "}");
    }
    sb_printf(&b, "]}");
    *json = b.oom ? NULL : b.p;
    if (b.oom) free(b.p);
  }
  return ok;
}

/* ------------------------------------------------------------------ */
/* The worker                                                          */
/* ------------------------------------------------------------------ */

struct worker {
  worker_config cfg;
  const rules_set *rules; /* current */
  rules_set *owned_rules; /* set by reloads; freed by us */
  worker_stats *st;
  worker_stats *own_st; /* when the caller gave none */
  int fail_dep;         /* DEP_* of the last failure */
  uint64_t rng;
  /* The last base this worker wrote, decoded, with the ETag the store gave
   * it. Both backends' ETags are content digests, so an equal ETag means
   * the stored base is byte for byte what this profile encodes to: the next
   * batch of the same app then needs a HEAD instead of GET + decode. */
  pp_profile *cache;
  char cache_app[64];
  char cache_etag[80];
  uint64_t cache_size;
};

static void cache_drop(worker *w) {
  pp_free(w->cache);
  w->cache = NULL;
  w->cache_app[0] = 0;
}

#define STAT_ADD(w, f, v)                                  \
  do {                                                     \
    atomic_fetch_add(&(w)->st->f, (v));                    \
    svc_metric_add((w)->st->m_##f, (double)(v));           \
  } while (0)

/* Without a caller's log function, records go to svc_log (JSON lines on
 * stderr, filtered by svc_log's level). */
static void default_log(int level, const char *msg, const char *const *fields, size_t n) {
  svc_field f[9];
  size_t k = 0;
  f[k++] = SVC_STR("component", "worker");
  for (size_t i = 0; i < n && k < 9; i++) f[k++] = SVC_STR(fields[2 * i], fields[2 * i + 1]);
  svc_log_fields(level, msg, f, k);
}

/* Logs msg with up to 4 key/value pairs (NULL-terminated varargs list of
 * const char* pairs). */
static void wlog(worker *w, int level, const char *msg, ...) {
  if (level < w->cfg.log_level) return;
  const char *f[8];
  size_t n = 0;
  va_list ap;
  va_start(ap, msg);
  while (n < 4) {
    const char *k = va_arg(ap, const char *);
    if (!k) break;
    f[2 * n] = k;
    f[2 * n + 1] = va_arg(ap, const char *);
    n++;
  }
  va_end(ap);
  if (w->cfg.log) w->cfg.log(w->cfg.log_ctx, level, msg, f, n);
  else default_log(level, msg, f, n);
}

static void dep_fail(worker *w, int dep, const char *msg) {
  w->fail_dep = dep;
  pthread_mutex_lock(&w->st->mu);
  w->st->dep_failing[dep] = 1;
  snprintf(w->st->dep_msg[dep], sizeof w->st->dep_msg[dep], "%.500s", msg);
  pthread_mutex_unlock(&w->st->mu);
  svc_metric_set(w->st->m_healthy, 0);
}

static void dep_ok(worker *w, int dep) {
  pthread_mutex_lock(&w->st->mu);
  w->st->dep_failing[dep] = 0;
  w->st->dep_msg[dep][0] = 0;
  int all_ok = !w->st->dep_failing[DEP_BLOB] && !w->st->dep_failing[DEP_BUS];
  pthread_mutex_unlock(&w->st->mu);
  svc_metric_set(w->st->m_healthy, all_ok);
}

int worker_new(const worker_config *cfg, worker **out, char *err, size_t errlen) {
  char dummy[1];
  if (!err) { err = dummy; errlen = sizeof dummy; }
  *out = NULL;
  if (!cfg || !cfg->blob || !cfg->reader || !cfg->writer) {
    snprintf(err, errlen, "worker: a blob store, a bus reader and a bus writer are required");
    return BLOB_EINVAL;
  }
  worker *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errlen, "worker: out of memory");
    return BLOB_ENOMEM;
  }
  w->cfg = *cfg;
  if (!w->cfg.batch_max) w->cfg.batch_max = 50;
  if (w->cfg.batch_wait_ms < 0) w->cfg.batch_wait_ms = 100;
  if (!w->cfg.max_profile_bytes) w->cfg.max_profile_bytes = (size_t)64 << 20;
  if (!w->cfg.max_base_bytes) w->cfg.max_base_bytes = (size_t)512 << 20;
  if (w->cfg.backoff_min_ms <= 0) w->cfg.backoff_min_ms = 100;
  if (w->cfg.backoff_max_ms <= 0) w->cfg.backoff_max_ms = 30000;
  if (w->cfg.backoff_max_ms < w->cfg.backoff_min_ms) w->cfg.backoff_max_ms = w->cfg.backoff_min_ms;
  if (w->cfg.gzip_level <= 0 || w->cfg.gzip_level > 9) w->cfg.gzip_level = 6;
  if (w->cfg.poll_ms <= 0) w->cfg.poll_ms = 200;
  if (w->cfg.reconcile < 0)
    w->cfg.reconcile = w->cfg.reader_url && strncmp(w->cfg.reader_url, "mem://", 6) == 0;
  w->rules = cfg->rules;
  w->st = cfg->stats;
  if (!w->st) {
    w->own_st = worker_stats_new();
    if (!w->own_st) {
      free(w);
      snprintf(err, errlen, "worker: out of memory");
      return BLOB_ENOMEM;
    }
    w->st = w->own_st;
  }
  w->rng = (uint64_t)wall_nanos() | 1;
  *out = w;
  return 0;
}

void worker_free(worker *w) {
  if (!w) return;
  cache_drop(w);
  rules_free(w->owned_rules);
  worker_stats_free(w->own_st);
  free(w);
}

void worker_set_rules(worker *w, rules_set *rules) {
  rules_free(w->owned_rules);
  w->owned_rules = rules;
  w->rules = rules;
}

/* ---- Merge record (the base's pgopipe-merged-staged comment) ---- */

/* Collects the names in every record comment of p into *names (sorted). */
static int record_read(const pp_profile *p, strlist *names) {
  size_t plen = strlen(WORKER_RECORD_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, WORKER_RECORD_PREFIX, plen) != 0) continue;
    const char *s = c + plen;
    while (*s) {
      while (*s == ' ') s++;
      const char *e = s;
      while (*e && *e != ' ') e++;
      if (e > s && sl_addn(names, s, (size_t)(e - s)) != 0) return -1;
      s = e;
    }
  }
  sl_sort(names);
  return 0;
}

/* Writes the record comment: names, space-separated, after the prefix. */
static int record_write(pp_profile *p, const strlist *names) {
  sbuf b = {0};
  sb_printf(&b, "%s", WORKER_RECORD_PREFIX);
  for (size_t i = 0; i < names->n; i++) sb_printf(&b, " %s", names->v[i]);
  if (b.oom) {
    free(b.p);
    return PP_ENOMEM;
  }
  int rc = pp_add_comment(p, b.p);
  free(b.p);
  return rc;
}

/* ---- Helpers on keys ---- */

/* If key is "{app}/staging/NAME" (NAME without '/' or whitespace), returns
 * NAME; else NULL. */
static const char *staged_name(const char *app, const char *key) {
  size_t al = strlen(app);
  if (strncmp(key, app, al) != 0 || strncmp(key + al, "/staging/", 9) != 0) return NULL;
  const char *name = key + al + 9;
  if (!*name) return NULL;
  for (const char *p = name; *p; p++)
    if (*p == '/' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') return NULL;
  return name;
}

static int compatible(const pp_profile *ref, const pp_profile *p, char *why, size_t n) {
  pp_value_type a = pp_period_type(ref), b = pp_period_type(p);
  if (strcmp(a.type, b.type) || strcmp(a.unit, b.unit)) {
    snprintf(why, n, "incompatible period types %s/%s (base) and %s/%s (upload)", a.type, a.unit,
             b.type, b.unit);
    return 0;
  }
  size_t na = pp_sample_type_count(ref), nb = pp_sample_type_count(p);
  int same = na == nb;
  for (size_t i = 0; same && i < na; i++) {
    pp_value_type x = pp_sample_type(ref, i), y = pp_sample_type(p, i);
    same = !strcmp(x.type, y.type) && !strcmp(x.unit, y.unit);
  }
  if (!same) {
    sbuf s = {0};
    for (size_t i = 0; i < na; i++) {
      pp_value_type x = pp_sample_type(ref, i);
      sb_printf(&s, "%s%s/%s", i ? "," : "", x.type, x.unit);
    }
    sb_printf(&s, " (base) and ");
    for (size_t i = 0; i < nb; i++) {
      pp_value_type y = pp_sample_type(p, i);
      sb_printf(&s, "%s%s/%s", i ? "," : "", y.type, y.unit);
    }
    snprintf(why, n, "incompatible sample types %s (upload)", s.p ? s.p : "");
    free(s.p);
    return 0;
  }
  return 1;
}

static int publish_merged(worker *w, const char *app, const char *key, char *err, size_t errlen) {
  bus_event ev;
  int rc = bus_event_init(&ev, BUS_TYPE_MERGED, app);
  if (rc == 0) {
    snprintf(ev.profile_key, sizeof ev.profile_key, "%s", key);
    snprintf(ev.merged_key, sizeof ev.merged_key, "%s/default.pgo", app);
    rc = bus_publish_event(w->cfg.writer, &ev, err, errlen);
  } else {
    snprintf(err, errlen, "event for %s: cannot build profile.merged", key);
  }
  if (rc != 0) dep_fail(w, DEP_BUS, err);
  return rc;
}

/*
 * Moves a staged object to {app}/rejected/NAME. data may be NULL (then it is
 * read here without a size limit: the object is being set aside, not merged).
 */
static int reject_staged(worker *w, const char *app, const char *key, const char *name,
                         const uint8_t *data, size_t len, const char *reason, char *err,
                         size_t errlen) {
  uint8_t *own = NULL;
  int rc = 0;
  if (!data) {
    rc = blob_get(w->cfg.blob, key, 0, &own, &len, NULL, err, errlen);
    if (rc == BLOB_ENOTFOUND) return 0;
    if (rc != 0) {
      dep_fail(w, DEP_BLOB, err);
      return rc;
    }
    data = own;
  }
  char dst[1200];
  snprintf(dst, sizeof dst, "%s/rejected/%s", app, name);
  rc = blob_put(w->cfg.blob, dst, data, len, err, errlen);
  free(own);
  if (rc == 0) rc = blob_delete(w->cfg.blob, key, err, errlen);
  if (rc != 0) {
    dep_fail(w, DEP_BLOB, err);
    return rc;
  }
  STAT_ADD(w, rejected, 1);
  wlog(w, WORKER_LOG_ERROR, "upload rejected: moved to rejected/", "app", app, "key", key,
       "rejected_key", dst, "reason", reason, NULL);
  return 0;
}

/* Moves an undecodable base aside so later uploads can build a new one. */
static int reject_base(worker *w, const char *app, const uint8_t *data, size_t len,
                       const char *reason, char *err, size_t errlen) {
  char src[128], dst[200];
  snprintf(src, sizeof src, "%s/default.pgo", app);
  snprintf(dst, sizeof dst, "%s/rejected/default.pgo.%lld", app, (long long)wall_nanos());
  int rc = blob_put(w->cfg.blob, dst, data, len, err, errlen);
  if (rc == 0) rc = blob_delete(w->cfg.blob, src, err, errlen);
  if (rc != 0) {
    dep_fail(w, DEP_BLOB, err);
    return rc;
  }
  STAT_ADD(w, bases_rejected, 1);
  wlog(w, WORKER_LOG_ERROR, "base profile does not decode: moved to rejected/, starting a new base",
       "app", app, "rejected_key", dst, "reason", reason, NULL);
  return 0;
}

/* Lists the names under {app}/staging/ (sorted). */
static int list_staged(worker *w, const char *app, strlist *out, char *err, size_t errlen) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s/staging/", app);
  blob_iter *it = NULL;
  int rc = blob_list(w->cfg.blob, prefix, &it, err, errlen);
  if (rc != 0) return rc;
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
    const char *name = staged_name(app, key);
    if (name && sl_add(out, name) != 0) {
      rc = BLOB_ENOMEM;
      snprintf(err, errlen, "listing %s: out of memory", prefix);
      break;
    }
  }
  blob_iter_free(it);
  if (rc < 0) return rc;
  sl_sort(out);
  return 0;
}

/* ---- Fetching uploads in parallel ---- */

/*
 * Staged uploads are small and many per batch; fetched one after the other
 * their round trips add up (50 GETs ≈ 50 round trips). A few threads fetch
 * and decode them at once; the blob store is thread-safe and decoding is
 * pure. The results are then judged one by one, in order, as before.
 */
#define WORKER_FETCH_THREADS 4

typedef struct fetched {
  const char *name;
  char key[1200];
  int skip;       /* already in the base record: not fetched */
  int rc;         /* blob_get result */
  uint8_t *data;
  size_t len;
  int drc;        /* pp_decode result (when rc == 0) */
  pp_profile *p;
  char err[512];  /* blob or decode message */
} fetched;

typedef struct fetch_job {
  worker *w;
  fetched *items;
  size_t n;
  _Atomic size_t next;
} fetch_job;

static void *fetch_main(void *arg) {
  fetch_job *j = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    fetched *f = &j->items[i];
    if (f->skip) continue;
    f->rc = blob_get(j->w->cfg.blob, f->key, j->w->cfg.max_profile_bytes, &f->data, &f->len, NULL,
                     f->err, sizeof f->err);
    if (f->rc != 0) continue;
    pp_limits lim = {j->w->cfg.max_profile_bytes, 0};
    f->drc = pp_decode(f->data, f->len, &lim, &f->p, f->err, sizeof f->err);
  }
  return NULL;
}

/* Fetches and decodes every name not in `record`, using up to
 * WORKER_FETCH_THREADS threads. *out (n items, caller frees with
 * fetched_free) is filled in input order. */
static int prefetch(worker *w, const char *app, const strlist *names, const strlist *record,
                    fetched **out) {
  fetched *items = calloc(names->n ? names->n : 1, sizeof *items);
  if (!items) return -1;
  size_t todo = 0;
  for (size_t i = 0; i < names->n; i++) {
    items[i].name = names->v[i];
    snprintf(items[i].key, sizeof items[i].key, "%s/staging/%s", app, names->v[i]);
    items[i].skip = sl_has_sorted(record, names->v[i]);
    todo += !items[i].skip;
  }
  fetch_job j = {w, items, names->n, 0};
  size_t nt = todo < WORKER_FETCH_THREADS ? todo : WORKER_FETCH_THREADS;
  pthread_t th[WORKER_FETCH_THREADS];
  size_t started = 0;
  for (size_t t = 1; t < nt; t++)
    if (pthread_create(&th[started], NULL, fetch_main, &j) == 0) started++;
  fetch_main(&j); /* this thread works too */
  for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
  *out = items;
  return 0;
}

static void fetched_free(fetched *items, size_t n) {
  if (!items) return;
  for (size_t i = 0; i < n; i++) {
    free(items[i].data);
    pp_free(items[i].p);
  }
  free(items);
}

/* One attempt of worker_merge_app. Returns 0, 1 (conflict: base changed,
 * try again) or a negative error. */
static int merge_attempt(worker *w, const char *app, const strlist *names, char *err,
                         size_t errlen) {
  double t0 = now_s(), t_base = 0, t_ups = 0, t_merge = 0, t_enc = 0;
  char base_key[128];
  snprintf(base_key, sizeof base_key, "%s/default.pgo", app);
  int rc;
  uint8_t *bytes = NULL;
  size_t blen = 0;
  blob_info binfo;
  memset(&binfo, 0, sizeof binfo);
  int base_existed = 0;
  pp_profile *base = NULL;
  strlist record = {0}, fresh = {0}, publish = {0}, present = {0};
  pp_profile **ups = NULL;
  size_t nups = 0;
  fetched *items = NULL;
  pp_merger *m = NULL;
  pp_profile *result = NULL;
  uint8_t *enc = NULL;
  size_t enclen = 0;
  char why[600];

  /* 1. The base and its record: from the cache when the stored base is
   * still the one this worker wrote last, else read and decoded. */
  rc = 1;
  if (w->cache && strcmp(w->cache_app, app) == 0) {
    blob_info now;
    int src = blob_stat(w->cfg.blob, base_key, &now, err, errlen);
    if (src == 0 && now.etag[0] && strcmp(now.etag, w->cache_etag) == 0 && now.size == w->cache_size) {
      base = w->cache;
      w->cache = NULL;
      binfo = now;
      STAT_ADD(w, cache_hits, 1);
      base_existed = 1;
      rc = 0;
      if (record_read(base, &record) != 0) {
        rc = BLOB_ENOMEM;
        snprintf(err, errlen, "reading the record of %s: out of memory", base_key);
        goto out;
      }
    } else if (src != 0 && src != BLOB_ENOTFOUND) {
      rc = src;
      goto fail_blob;
    }
    cache_drop(w);
  }
  if (rc == 0) {
    /* cached */
  } else if ((rc = blob_get(w->cfg.blob, base_key, w->cfg.max_base_bytes, &bytes, &blen, &binfo,
                            err, errlen)) == BLOB_ENOTFOUND) {
    rc = 0;
  } else if (rc == BLOB_ETOOBIG) {
    snprintf(why, sizeof why, "base larger than the limit of %zu bytes", w->cfg.max_base_bytes);
    uint8_t *all = NULL;
    size_t alen = 0;
    rc = blob_get(w->cfg.blob, base_key, 0, &all, &alen, NULL, err, errlen);
    if (rc == 0) rc = reject_base(w, app, all, alen, why, err, errlen);
    free(all);
    if (rc != 0) goto fail_blob;
  } else if (rc != 0) {
    goto fail_blob;
  } else {
    base_existed = 1;
    pp_limits lim = {w->cfg.max_base_bytes, 0};
    int drc = pp_decode(bytes, blen, &lim, &base, why, sizeof why);
    if (drc != PP_OK) {
      if (drc == PP_ENOMEM) {
        snprintf(err, errlen, "decoding %s: out of memory", base_key);
        rc = BLOB_ENOMEM;
        goto fail_blob;
      }
      rc = reject_base(w, app, bytes, blen, why, err, errlen);
      if (rc != 0) goto fail_blob;
      base = NULL;
      base_existed = 0; /* moved aside by us: no base now */
    } else if (record_read(base, &record) != 0) {
      rc = BLOB_ENOMEM;
      snprintf(err, errlen, "reading the record of %s: out of memory", base_key);
      goto out;
    }
  }
  free(bytes);
  bytes = NULL;

  t_base = now_s();
  /* 2. The uploads: duplicates, missing, poison, or new. */
  ups = calloc(names->n ? names->n : 1, sizeof *ups);
  if (!ups || prefetch(w, app, names, &record, &items) != 0) {
    rc = BLOB_ENOMEM;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  const pp_profile *ref = base;
  for (size_t i = 0; i < names->n; i++) {
    fetched *f = &items[i];
    const char *name = f->name, *key = f->key;
    if (f->skip) {
      STAT_ADD(w, duplicates, 1);
      wlog(w, WORKER_LOG_INFO, "upload already in the base (redelivered): skipped", "app", app,
           "key", key, NULL);
      if (sl_add(&publish, key) != 0) goto oom;
      continue;
    }
    rc = f->rc;
    if (rc == BLOB_ENOTFOUND) {
      rc = 0;
      STAT_ADD(w, missing, 1);
      wlog(w, WORKER_LOG_WARN,
           "staged upload is gone and not in the base record (merged and cleaned up before, or "
           "deleted with its app): skipped",
           "app", app, "key", key, NULL);
      continue;
    }
    if (rc == BLOB_ETOOBIG) {
      snprintf(why, sizeof why, "staged object larger than the limit of %zu bytes",
               w->cfg.max_profile_bytes);
      rc = reject_staged(w, app, key, name, NULL, 0, why, err, errlen);
      if (rc != 0) goto fail_blob;
      continue;
    }
    if (rc != 0) {
      snprintf(err, errlen, "%s", f->err);
      goto fail_blob;
    }
    int drc = f->drc;
    if (drc == PP_ENOMEM) {
      rc = BLOB_ENOMEM;
      snprintf(err, errlen, "decoding %s: out of memory", key);
      goto out;
    }
    char derr[512];
    snprintf(derr, sizeof derr, "%s", f->err);
    if (drc == PP_OK && ref && !compatible(ref, f->p, derr, sizeof derr)) drc = PP_EINCOMPATIBLE;
    if (drc != PP_OK) {
      snprintf(why, sizeof why, "%s", derr);
      rc = reject_staged(w, app, key, name, f->data, f->len, why, err, errlen);
      if (rc != 0) goto fail_blob;
      continue;
    }
    pp_profile *up = f->p;
    f->p = NULL;
    free(f->data);
    f->data = NULL;
    pp_remove_comments_with_prefix(up, WORKER_COMMENT_PREFIX);
    ups[nups++] = up;
    if (!ref) ref = up;
    if (sl_add(&fresh, name) != 0 || sl_add(&publish, key) != 0) goto oom;
  }

  if (nups > 0) {
    t_ups = now_s();
    /* 3. Merge: uploads newest first, then the base (autopgo's [upload, base]). */
    m = pp_merger_new();
    if (!m) goto oom;
    for (size_t i = nups; i-- > 0;) {
      pp_profile *up = ups[i];
      ups[i] = NULL;
      int mrc = pp_merger_add(m, up, why, sizeof why);
      if (mrc != PP_OK) {
        rc = mrc == PP_ENOMEM ? BLOB_ENOMEM : BLOB_EIO;
        snprintf(err, errlen, "merging %s/staging/%s: %s", app, fresh.v[i], why);
        goto out;
      }
    }
    if (base) {
      pp_remove_comments_with_prefix(base, WORKER_COMMENT_PREFIX);
      pp_profile *b = base;
      base = NULL;
      int mrc = pp_merger_add(m, b, why, sizeof why);
      if (mrc != PP_OK) {
        rc = mrc == PP_ENOMEM ? BLOB_ENOMEM : BLOB_EIO;
        snprintf(err, errlen, "merging %s: %s", base_key, why);
        goto out;
      }
    }
    int frc = pp_merger_finish(m, &result, why, sizeof why);
    if (frc != PP_OK) {
      rc = frc == PP_ENOMEM ? BLOB_ENOMEM : BLOB_EIO;
      snprintf(err, errlen, "merging into %s: %s", base_key, why);
      goto out;
    }
    const pp_rules *rules = rules_for_app(w->rules, app);
    if (rules && pp_rules_count(rules) > 0) {
      int prc = pp_prune(result, rules, why, sizeof why);
      if (prc != PP_OK) {
        rc = prc == PP_ENOMEM ? BLOB_ENOMEM : BLOB_EIO;
        snprintf(err, errlen, "pruning %s: %s", base_key, why);
        goto out;
      }
    }

    t_merge = now_s();
    /* 4. The new record: old names still staged, plus the names merged now. */
    rc = list_staged(w, app, &present, err, errlen);
    if (rc != 0) goto fail_blob;
    strlist next = {0};
    for (size_t i = 0; i < record.n; i++)
      if (sl_has_sorted(&present, record.v[i]) && sl_add(&next, record.v[i]) != 0) {
        sl_free(&next);
        goto oom;
      }
    for (size_t i = 0; i < fresh.n; i++)
      if (!sl_has_linear(&next, fresh.v[i]) && sl_add(&next, fresh.v[i]) != 0) {
        sl_free(&next);
        goto oom;
      }
    sl_sort(&next);
    pp_remove_comments_with_prefix(result, WORKER_COMMENT_PREFIX);
    int wrc = record_write(result, &next);
    sl_free(&next);
    if (wrc != PP_OK) goto oom;

    int erc = pp_encode(result, w->cfg.gzip_level, &enc, &enclen, why, sizeof why);
    if (erc != PP_OK) {
      rc = erc == PP_ENOMEM ? BLOB_ENOMEM : BLOB_EIO;
      snprintf(err, errlen, "encoding %s: %s", base_key, why);
      goto out;
    }

    t_enc = now_s();
    /* 5. Guard against another writer since our read, then write. */
    blob_info now;
    int src = blob_stat(w->cfg.blob, base_key, &now, err, errlen);
    if (src != 0 && src != BLOB_ENOTFOUND) {
      rc = src;
      goto fail_blob;
    }
    int changed = base_existed ? (src == BLOB_ENOTFOUND || strcmp(now.etag, binfo.etag) != 0 ||
                                  now.size != binfo.size)
                               : (src == 0);
    if (changed) {
      STAT_ADD(w, conflicts, 1);
      wlog(w, WORKER_LOG_WARN, "base changed since it was read (another writer?): merging again",
           "app", app, "key", base_key, NULL);
      rc = 1;
      goto out;
    }
    rc = blob_put(w->cfg.blob, base_key, enc, enclen, err, errlen);
    if (rc != 0) goto fail_blob;
    dep_ok(w, DEP_BLOB);
    /* keep what we wrote for the next batch of this app (see struct worker) */
    blob_info after;
    char serr[256];
    if (blob_stat(w->cfg.blob, base_key, &after, serr, sizeof serr) == 0 && after.etag[0] &&
        after.size == enclen) {
      cache_drop(w);
      w->cache = result;
      result = NULL;
      snprintf(w->cache_app, sizeof w->cache_app, "%s", app);
      snprintf(w->cache_etag, sizeof w->cache_etag, "%s", after.etag);
      w->cache_size = after.size;
    }
    double dt = now_s() - t0;
    STAT_ADD(w, merges, 1);
    STAT_ADD(w, uploads_merged, nups);
    atomic_store(&w->st->last_base_bytes, (uint64_t)enclen);
    svc_metric_set(w->st->m_last_base_bytes, (double)enclen);
    hist_observe(&w->st->merge_seconds, merge_bounds, WORKER_MERGE_BUCKETS, dt);
    hist_observe(&w->st->batch_size, batch_bounds, WORKER_BATCH_BUCKETS, (double)nups);
    hist_observe(&w->st->base_bytes, base_bounds, WORKER_BASE_BUCKETS, (double)enclen);
    svc_metric_observe(w->st->m_merge_seconds, dt);
    svc_metric_observe(w->st->m_batch_size, (double)nups);
    svc_metric_observe(w->st->m_base_bytes, (double)enclen);
    for (size_t i = 0; i < fresh.n; i++)
      wlog(w, WORKER_LOG_DEBUG, "upload merged", "app", app, "name", fresh.v[i], NULL);
    char nb[32], sz[32], ms[32];
    snprintf(nb, sizeof nb, "%zu", nups);
    snprintf(sz, sizeof sz, "%zu", enclen);
    snprintf(ms, sizeof ms, "%.1f", dt * 1000);
    char stages[160];
    snprintf(stages, sizeof stages, "base %.0f, uploads %.0f, merge+prune %.0f, list+encode %.0f, write %.0f",
             (t_base - t0) * 1000, (t_ups - t_base) * 1000, (t_merge - t_ups) * 1000,
             (t_enc - t_merge) * 1000, (now_s() - t_enc) * 1000);
    wlog(w, WORKER_LOG_INFO, "base written", "app", app, "uploads", nb, "base_bytes", sz,
         "merge_ms", ms, NULL);
    wlog(w, WORKER_LOG_DEBUG, "base write stages (ms)", "app", app, "stages", stages, NULL);
  } else {
    dep_ok(w, DEP_BLOB);
  }

  /* 6. Announce: every upload now in the base gets its profile.merged. */
  for (size_t i = 0; i < publish.n; i++) {
    rc = publish_merged(w, app, publish.v[i], err, errlen);
    if (rc != 0) goto out;
  }
  if (publish.n) dep_ok(w, DEP_BUS);
  rc = 0;
  goto out;

oom:
  rc = BLOB_ENOMEM;
  snprintf(err, errlen, "merging %s: out of memory", base_key);
  goto out;
fail_blob:
  dep_fail(w, DEP_BLOB, err);
out:
  free(bytes);
  free(enc);
  pp_free(base);
  pp_free(result);
  pp_merger_free(m);
  if (ups)
    for (size_t i = 0; i < nups; i++) pp_free(ups[i]);
  free(ups);
  fetched_free(items, names->n);
  sl_free(&record);
  sl_free(&fresh);
  sl_free(&publish);
  sl_free(&present);
  return rc;
}

int worker_merge_app(worker *w, const char *app, const char *const *keys, size_t nkeys, char *err,
                     size_t errlen) {
  char dummy[1];
  if (!err) { err = dummy; errlen = sizeof dummy; }
  err[0] = 0;
  strlist names = {0};
  for (size_t i = 0; i < nkeys; i++) {
    const char *name = staged_name(app, keys[i]);
    if (!name) {
      STAT_ADD(w, malformed, 1);
      wlog(w, WORKER_LOG_WARN, "profileKey is not a staged object of its app: skipped", "app", app,
           "key", keys[i], NULL);
      continue;
    }
    if (sl_has_linear(&names, name)) continue;
    if (sl_add(&names, name) != 0) {
      sl_free(&names);
      snprintf(err, errlen, "out of memory");
      return BLOB_ENOMEM;
    }
  }
  int rc = 0;
  if (names.n) {
    for (int attempt = 0;; attempt++) {
      rc = merge_attempt(w, app, &names, err, errlen);
      if (rc != 1) break;
      if (attempt >= 4) {
        snprintf(err, errlen, "%s/default.pgo keeps changing under the worker (another writer?)",
                 app);
        dep_fail(w, DEP_BLOB, err);
        rc = BLOB_ERETRY;
        break;
      }
    }
  }
  sl_free(&names);
  return rc;
}

/* profile.merged: delete the staged object (only ever a staged object). */
static int delete_staged(worker *w, const char *app, const char *key, char *err, size_t errlen) {
  if (!staged_name(app, key)) {
    STAT_ADD(w, malformed, 1);
    wlog(w, WORKER_LOG_WARN, "profile.merged names no staged object of its app: skipped", "app",
         app, "key", key, NULL);
    return 0;
  }
  int rc = blob_delete(w->cfg.blob, key, err, errlen);
  if (rc == BLOB_ENOTFOUND) rc = 0;
  if (rc != 0) {
    dep_fail(w, DEP_BLOB, err);
    return rc;
  }
  STAT_ADD(w, staged_deleted, 1);
  wlog(w, WORKER_LOG_DEBUG, "staged upload deleted", "app", app, "key", key, NULL);
  return 0;
}

/* ---- profile.deleted ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* Parses the envelope's timestamp as the bus normalises it
 * ("2026-11-21T12:16:34.964Z") into ms since the epoch; -1 if it is not
 * of that form. */
static int parse_event_ms(const char *s, int64_t *ms) {
  int v[7] = {0};
  static const int width[7] = {4, 2, 2, 2, 2, 2, 3};
  static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
  const char *p = s;
  for (int f = 0; f < 7; f++) {
    for (int k = 0; k < width[f]; k++, p++) {
      if (*p < '0' || *p > '9') return -1;
      v[f] = v[f] * 10 + (*p - '0');
    }
    if (*p++ != sep[f]) return -1;
  }
  if (*p || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
    return -1;
  int64_t days = days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]);
  *ms = ((days * 86400 + v[3] * 3600 + v[4] * 60 + v[5]) * 1000) + v[6];
  return 0;
}

/* The time stamp (ns since the epoch) in an object name of staging/ or
 * rejected/: "NANOS-HEX" (a staged name) or "default.pgo.NANOS" (a rejected
 * base). Returns 0, or -1 when the name carries none. */
static int name_stamp_ns(const char *name, int64_t *ns) {
  const char *p = name;
  if (strncmp(p, "default.pgo.", 12) == 0) p += 12;
  int64_t v = 0;
  const char *d = p;
  while (*p >= '0' && *p <= '9') {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*p++ - '0');
  }
  if (p == d || (*p != '-' && *p != 0) || (*p == 0 && d == name)) return -1;
  *ns = v;
  return 0;
}

static int key_in(const char *key, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i], key) == 0) return 1;
  return 0;
}

/* What one profile.deleted removes (see worker.h, "Deleting an app"). */
typedef struct delete_args {
  int64_t cutoff_ns;       /* staged/rejected objects stamped before it go */
  const char *const *drop; /* staged keys whose uploads precede the delete in the batch: go */
  size_t ndrop;
  const char *const *keep; /* staged keys whose uploads follow it in the batch: stay */
  size_t nkeep;
} delete_args;

/*
 * profile.deleted: every object under {app}/ that belongs to the app as it
 * was when the DELETE was made, the base last (so a crash half-way leaves
 * the base and the redelivered event finishes the job). Staged and rejected
 * objects stamped at or after the cut-off stay: they are uploads accepted
 * after the DELETE, whose profile.uploaded events follow in the partition.
 */
static int delete_app(worker *w, const char *app, const delete_args *a, char *err,
                      size_t errlen) {
  if (w->cache && strcmp(w->cache_app, app) == 0) cache_drop(w);
  char prefix[80], base_key[128], staging[96], rejected[96];
  snprintf(prefix, sizeof prefix, "%s/", app);
  snprintf(base_key, sizeof base_key, "%s/default.pgo", app);
  snprintf(staging, sizeof staging, "%s/staging/", app);
  snprintf(rejected, sizeof rejected, "%s/rejected/", app);
  size_t sl = strlen(staging), rl = strlen(rejected);
  strlist keys = {0};
  size_t kept = 0;
  blob_iter *it = NULL;
  int rc = blob_list(w->cfg.blob, prefix, &it, err, errlen);
  if (rc == 0) {
    const char *key;
    blob_info info;
    while ((rc = blob_iter_next(it, &key, &info, err, errlen)) == 1) {
      if (strcmp(key, base_key) == 0) continue;
      int64_t ns;
      int is_staged = strncmp(key, staging, sl) == 0;
      int is_rejected = strncmp(key, rejected, rl) == 0;
      int go = 1;
      if (is_staged) {
        /* an unstamped staged name cannot be placed in time: it stays */
        go = key_in(key, a->drop, a->ndrop) ||
             (!key_in(key, a->keep, a->nkeep) && name_stamp_ns(key + sl, &ns) == 0 &&
              ns < a->cutoff_ns);
      } else if (is_rejected) {
        go = name_stamp_ns(key + rl, &ns) != 0 || ns < a->cutoff_ns;
      }
      if (!go) {
        kept++;
        wlog(w, WORKER_LOG_INFO, "object newer than the app's deletion: kept", "app", app, "key",
             key, NULL);
        continue;
      }
      if (sl_add(&keys, key) != 0) {
        rc = BLOB_ENOMEM;
        snprintf(err, errlen, "listing %s: out of memory", prefix);
        break;
      }
    }
    blob_iter_free(it);
  }
  for (size_t i = 0; rc == 0 && i < keys.n; i++) {
    rc = blob_delete(w->cfg.blob, keys.v[i], err, errlen);
    if (rc == BLOB_ENOTFOUND) rc = 0;
  }
  if (rc == 0) rc = blob_delete(w->cfg.blob, base_key, err, errlen);
  if (rc == BLOB_ENOTFOUND) rc = 0;
  if (rc != 0) {
    dep_fail(w, DEP_BLOB, err);
  } else {
    dep_ok(w, DEP_BLOB);
    STAT_ADD(w, apps_deleted, 1);
    char n[32], k[32];
    snprintf(n, sizeof n, "%zu", keys.n + 1);
    snprintf(k, sizeof k, "%zu", kept);
    wlog(w, WORKER_LOG_INFO, "app deleted", "app", app, "objects", n, "kept_newer", k, NULL);
  }
  sl_free(&keys);
  return rc;
}

/* ---- Retrying ---- */

/* Sleeps the backoff for attempt k, in slices, returning early on stop. */
static void backoff_sleep(worker *w, int k, volatile sig_atomic_t *stop) {
  int64_t d = w->cfg.backoff_min_ms;
  for (int i = 0; i < k && d < w->cfg.backoff_max_ms; i++) d *= 2;
  if (d > w->cfg.backoff_max_ms) d = w->cfg.backoff_max_ms;
  /* ±25% jitter so a fleet does not retry in lockstep */
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  d = d * 3 / 4 + (int64_t)(w->rng % (uint64_t)(d / 2 + 1));
  int64_t end = now_ms() + d;
  while (!(stop && *stop)) {
    int64_t left = end - now_ms();
    if (left <= 0) break;
    sleep_ms(left > 50 ? 50 : (int)left);
  }
}

typedef enum { OP_MERGE, OP_DELSTAGED, OP_DELAPP } op_kind;

/* Runs one operation until it succeeds; returns 0, or BUS_ECLOSED when stop
 * was requested while it kept failing. */
static int run_op(worker *w, op_kind op, const char *app, const char *const *keys, size_t n,
                  const delete_args *del, volatile sig_atomic_t *stop) {
  char err[1024];
  for (int k = 0;; k++) {
    err[0] = 0;
    int rc = op == OP_MERGE     ? worker_merge_app(w, app, keys, n, err, sizeof err)
             : op == OP_DELAPP ? delete_app(w, app, del, err, sizeof err)
                               : delete_staged(w, app, keys[0], err, sizeof err);
    if (rc == 0) {
      if (k > 0) wlog(w, WORKER_LOG_INFO, "recovered", "app", app, NULL);
      return 0;
    }
    STAT_ADD(w, retries, 1);
    char attempt[16];
    snprintf(attempt, sizeof attempt, "%d", k + 1);
    wlog(w, WORKER_LOG_WARN, "transient failure, retrying with backoff", "app", app, "error", err,
         "attempt", attempt, NULL);
    if (stop && *stop) return BUS_ECLOSED;
    backoff_sleep(w, k, stop);
    if (stop && *stop) return BUS_ECLOSED;
  }
}

/* ---- Batches ---- */

typedef struct evslot {
  bus_event ev;
  int ok;
} evslot;

int worker_handle_batch(worker *w, bus_msg *const *msgs, size_t n, volatile sig_atomic_t *stop) {
  if (!n) return 0;
  evslot *evs = calloc(n, sizeof *evs);
  const char **keys = calloc(n, sizeof *keys);
  const char **dels = calloc(n, sizeof *dels);
  const char **later = calloc(n, sizeof *later);
  char *done = calloc(n, 1);
  int rc = 0;
  if (!evs || !keys || !dels || !later || !done) {
    wlog(w, WORKER_LOG_ERROR, "out of memory handling a batch; it will be redelivered", NULL);
    rc = BUS_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    char derr[512];
    STAT_ADD(w, events, 1);
    if (bus_event_decode(msgs[i]->payload, msgs[i]->len, &evs[i].ev, derr, sizeof derr) != 0) {
      char part[16], off[24];
      snprintf(part, sizeof part, "%d", (int)msgs[i]->partition);
      snprintf(off, sizeof off, "%lld", (long long)msgs[i]->offset);
      STAT_ADD(w, malformed, 1);
      wlog(w, WORKER_LOG_WARN, "malformed event: skipped", "partition", part, "offset", off,
           "error", derr, NULL);
      done[i] = 1;
      continue;
    }
    const char *t = evs[i].ev.type;
    int known = !strcmp(t, BUS_TYPE_UPLOADED) || !strcmp(t, BUS_TYPE_MERGED) || !strcmp(t, BUS_TYPE_DELETED);
    svc_metric_add(w->st->m_typed, 1, known ? t : "other");
    if (!strcmp(t, BUS_TYPE_UPLOADED)) STAT_ADD(w, uploaded_events, 1);
    else if (!strcmp(t, BUS_TYPE_MERGED)) STAT_ADD(w, merged_events, 1);
    else if (!strcmp(t, BUS_TYPE_DELETED)) STAT_ADD(w, deleted_events, 1);
    else {
      STAT_ADD(w, skipped_types, 1);
      wlog(w, WORKER_LOG_DEBUG, "event type not handled here: skipped", "type", t, NULL);
      done[i] = 1;
      continue;
    }
    if (!bus_valid_app(evs[i].ev.app)) {
      STAT_ADD(w, malformed, 1);
      wlog(w, WORKER_LOG_WARN, "event with an invalid app name: skipped", "app", evs[i].ev.app,
           NULL);
      done[i] = 1;
      continue;
    }
    evs[i].ok = 1;
  }

  /* Per app, in order of first appearance; within an app in event order.
   * Uploads accumulate into one merge up to the app's next profile.deleted;
   * profile.merged deletions run after that merge (they never concern an
   * upload of the same merge that is not yet in the base: those are
   * redeliveries, which the record recognises). Uploads followed by a
   * profile.deleted of their app in the same batch are not merged (the
   * delete would remove them again): their staged objects go with the app.
   * Uploads after it stay, whatever their names say (see worker.h). */
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (done[i]) continue;
    const char *app = evs[i].ev.app;
    size_t nk = 0, nd = 0;
    for (size_t j = i; j < n && rc == 0; j++) {
      if (done[j] || strcmp(evs[j].ev.app, app) != 0) continue;
      done[j] = 1;
      const char *t = evs[j].ev.type;
      if (!strcmp(t, BUS_TYPE_UPLOADED)) {
        keys[nk++] = evs[j].ev.profile_key;
      } else if (!strcmp(t, BUS_TYPE_MERGED)) {
        dels[nd++] = evs[j].ev.profile_key;
      } else { /* deleted: a barrier */
        for (size_t d = 0; rc == 0 && d < nd; d++)
          rc = run_op(w, OP_DELSTAGED, app, &dels[d], 1, NULL, stop);
        size_t nl = 0;
        for (size_t k = j + 1; k < n; k++)
          if (evs[k].ok && !strcmp(evs[k].ev.app, app) && !strcmp(evs[k].ev.type, BUS_TYPE_UPLOADED))
            later[nl++] = evs[k].ev.profile_key;
        int64_t ms;
        delete_args da = {INT64_MIN, keys, nk, later, nl};
        if (parse_event_ms(evs[j].ev.timestamp, &ms) == 0 && ms < INT64_MAX / 1000000 &&
            ms > INT64_MIN / 1000000) {
          da.cutoff_ns = ms * 1000000;
        } else {
          wlog(w, WORKER_LOG_WARN,
               "profile.deleted with an unreadable timestamp: staged uploads not in this batch kept",
               "app", app, "timestamp", evs[j].ev.timestamp, NULL);
        }
        for (size_t d = 0; d < nk; d++)
          wlog(w, WORKER_LOG_DEBUG, "upload followed by its app's deletion: not merged", "app", app,
               "key", keys[d], NULL);
        if (rc == 0) rc = run_op(w, OP_DELAPP, app, NULL, 0, &da, stop);
        nk = nd = 0;
      }
    }
    if (rc == 0 && nk) rc = run_op(w, OP_MERGE, app, keys, nk, NULL, stop);
    for (size_t d = 0; rc == 0 && d < nd; d++)
      rc = run_op(w, OP_DELSTAGED, app, &dels[d], 1, NULL, stop);
  }
  if (rc != 0) {
    wlog(w, WORKER_LOG_WARN, "stopping with a batch unfinished: nothing of it committed", NULL);
    goto out;
  }

  /* Commit each partition's last message (covers everything before it). */
  for (size_t i = n; i-- > 0;) {
    int seen = 0;
    for (size_t j = i + 1; j < n && !seen; j++) seen = msgs[j]->partition == msgs[i]->partition;
    if (seen) continue;
    char cerr[512];
    int crc = bus_commit(w->cfg.reader, msgs[i], cerr, sizeof cerr);
    if (crc == 0) {
      STAT_ADD(w, commits, 1);
    } else {
      STAT_ADD(w, commit_failures, 1);
      wlog(w, crc == BUS_ERETRY ? WORKER_LOG_INFO : WORKER_LOG_WARN,
           "commit failed (the events will be redelivered; the base record makes that harmless)",
           "error", cerr, NULL);
    }
  }
out:
  free(evs);
  free(keys);
  free(dels);
  free(later);
  free(done);
  return rc;
}

/* ---- Reconciliation ---- */

int worker_reconcile(worker *w, volatile sig_atomic_t *stop) {
  char err[1024];
  strlist keys = {0};
  for (int k = 0;; k++) {
    blob_iter *it = NULL;
    int rc = blob_list(w->cfg.blob, "", &it, err, sizeof err);
    if (rc == 0) {
      const char *key;
      blob_info info;
      while ((rc = blob_iter_next(it, &key, &info, err, sizeof err)) == 1) {
        const char *slash = strchr(key, '/');
        if (!slash || !app_name_valid(key, (size_t)(slash - key))) continue;
        if (strncmp(slash, "/staging/", 9) != 0 || strchr(slash + 9, '/')) continue;
        if (sl_add(&keys, key) != 0) {
          rc = BLOB_ENOMEM;
          break;
        }
      }
      blob_iter_free(it);
    }
    if (rc == 0) break;
    sl_free(&keys);
    dep_fail(w, DEP_BLOB, err);
    STAT_ADD(w, retries, 1);
    wlog(w, WORKER_LOG_WARN, "reconcile: listing the store failed, retrying", "error", err, NULL);
    if (stop && *stop) return BUS_ECLOSED;
    backoff_sleep(w, k, stop);
    if (stop && *stop) return BUS_ECLOSED;
  }
  /* Keys are sorted, so one app's staged objects are adjacent, oldest first. */
  size_t i = 0, total = keys.n;
  int rc = 0;
  while (i < keys.n && rc == 0) {
    const char *slash = strchr(keys.v[i], '/');
    char app[64];
    size_t al = (size_t)(slash - keys.v[i]);
    memcpy(app, keys.v[i], al);
    app[al] = 0;
    size_t j = i;
    while (j < keys.n && strncmp(keys.v[j], keys.v[i], al + 1) == 0) j++;
    /* chunks bound memory: each chunk's uploads are held decoded at once */
    size_t chunk = w->cfg.batch_max < 200 ? 200 : w->cfg.batch_max;
    for (size_t s = i; s < j && rc == 0; s += chunk) {
      size_t e = s + chunk < j ? s + chunk : j;
      rc = run_op(w, OP_MERGE, app, (const char *const *)&keys.v[s], e - s, NULL, stop);
    }
    char c[32];
    snprintf(c, sizeof c, "%zu", j - i);
    if (rc == 0) wlog(w, WORKER_LOG_INFO, "reconciled staged uploads", "app", app, "staged", c, NULL);
    i = j;
  }
  sl_free(&keys);
  if (rc == 0 && total == 0) wlog(w, WORKER_LOG_DEBUG, "reconcile: nothing staged", NULL);
  return rc;
}

/* ---- The loop ---- */

static void reload_rules(worker *w) {
  if (!w->cfg.prune_path) {
    wlog(w, WORKER_LOG_INFO, "reload requested, but no --prune file is configured", NULL);
    return;
  }
  rules_set *ns = NULL;
  char err[1024];
  if (rules_load(w->cfg.prune_path, &ns, err, sizeof err) != 0) {
    wlog(w, WORKER_LOG_ERROR, "prune rules reload failed; keeping the old rules", "error", err, NULL);
    return;
  }
  char a[24], r[24];
  snprintf(a, sizeof a, "%zu", rules_app_count(ns));
  snprintf(r, sizeof r, "%zu", rules_rule_count(ns));
  worker_set_rules(w, ns);
  wlog(w, WORKER_LOG_INFO, "prune rules reloaded", "file", w->cfg.prune_path, "apps", a, "rules", r,
       NULL);
}

static void check_deps(worker *w) {
  char err[512];
  if (blob_check(w->cfg.blob, err, sizeof err) == 0) dep_ok(w, DEP_BLOB);
  else dep_fail(w, DEP_BLOB, err);
  if (bus_reader_check(w->cfg.reader, err, sizeof err) == 0) dep_ok(w, DEP_BUS);
  else dep_fail(w, DEP_BUS, err);
}

int worker_run(const worker_config *cfg, volatile sig_atomic_t *stop,
               volatile sig_atomic_t *reload, char *err, size_t errlen) {
  worker *w = NULL;
  int rc = worker_new(cfg, &w, err, errlen);
  if (rc != 0) return rc;
  char batch_s[24], wait_s[24];
  snprintf(batch_s, sizeof batch_s, "%zu", w->cfg.batch_max);
  snprintf(wait_s, sizeof wait_s, "%d", w->cfg.batch_wait_ms);
  /* the reader URL's query may carry librdkafka secrets (sasl.password):
   * log only what comes before it */
  char events[256];
  const char *ru = w->cfg.reader_url ? w->cfg.reader_url : "";
  size_t rl = strcspn(ru, "?");
  snprintf(events, sizeof events, "%.*s%s", (int)(rl < 200 ? rl : 200), ru, ru[rl] ? "?..." : "");
  wlog(w, WORKER_LOG_INFO, "worker starting", "store", blob_url(w->cfg.blob), "events", events,
       "batch_max", batch_s, "batch_wait_ms", wait_s, NULL);
  if (w->cfg.reconcile && worker_reconcile(w, stop) != 0) goto done;
  atomic_store(&w->st->ready, 1);

  bus_msg **msgs = calloc(w->cfg.batch_max, sizeof *msgs);
  if (!msgs) {
    snprintf(err, errlen, "worker: out of memory");
    rc = BUS_ENOMEM;
    goto done;
  }
  int poll_fail = 0;
  int64_t idle_since = now_ms(), last_check = 0;
  while (!*stop) {
    if (reload && *reload) {
      *reload = 0;
      reload_rules(w);
    }
    char perr[512];
    bus_msg *m = NULL;
    int prc = bus_poll(w->cfg.reader, w->cfg.poll_ms, &m, perr, sizeof perr);
    if (prc < 0) {
      dep_fail(w, DEP_BUS, perr);
      STAT_ADD(w, retries, 1);
      wlog(w, WORKER_LOG_WARN, "polling the bus failed, retrying with backoff", "error", perr, NULL);
      backoff_sleep(w, poll_fail++, stop);
      continue;
    }
    if (poll_fail) {
      poll_fail = 0;
      dep_ok(w, DEP_BUS);
    }
    if (prc == 0) {
      /* Idle: check the dependencies now and then, so health turns back to
       * 200 (or to 503) without traffic. */
      int64_t t = now_ms();
      if (t - idle_since > 2000 && t - last_check > 5000) {
        last_check = t;
        check_deps(w);
      }
      continue;
    }
    size_t n = 0;
    msgs[n++] = m;
    int64_t deadline = now_ms() + w->cfg.batch_wait_ms;
    while (n < w->cfg.batch_max) {
      int64_t left = deadline - now_ms();
      if (left < 0) left = 0;
      bus_msg *more = NULL;
      prc = bus_poll(w->cfg.reader, (int)left, &more, perr, sizeof perr);
      if (prc != 1) break;
      msgs[n++] = more;
    }
    worker_handle_batch(w, msgs, n, stop);
    for (size_t i = 0; i < n; i++) bus_msg_free(msgs[i]);
    idle_since = now_ms();
  }
  free(msgs);
  rc = 0;
done:
  atomic_store(&w->st->ready, 0);
  wlog(w, WORKER_LOG_INFO, "worker stopped", NULL);
  worker_free(w);
  return rc;
}
