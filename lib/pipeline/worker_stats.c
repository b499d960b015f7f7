/*
 * worker_stats.c — the worker's counters, health and readiness, and their
 * pgopipe_worker_* metric families.
 *
 * Counters are C11 atomics, so worker_stats_counts and health may be read
 * from any thread without locks; the two dependency error messages take a
 * mutex. The metric families (names, help texts, buckets) are written down
 * once, below, and registered in the daemon's lib/svc registry by
 * worker_stats_attach: that registry is the only place they are rendered.
 * Without a registry the counters still count (tests, worker_counts).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "svc_log.h"
#include "svc_metrics.h"
#include "worker_internal.h"

/* The counter families, in registration order (the enum's); a counter
 * without a name has no family of its own. */
static const struct {
  const char *name, *help;
} counter_family[WK_NCOUNTERS] = {
    [WK_MALFORMED] = {"pgopipe_worker_malformed_events_total",
                      "Events whose envelope could not be decoded (skipped and committed)."},
    [WK_MERGES] = {"pgopipe_worker_merges_total", "Base profiles written."},
    [WK_UPLOADS_MERGED] = {"pgopipe_worker_uploads_merged_total", "Uploads folded into a base."},
    [WK_DUPLICATES] = {"pgopipe_worker_duplicates_total",
                       "Redelivered uploads found already merged (skipped)."},
    [WK_MISSING] = {"pgopipe_worker_staged_missing_total",
                    "Uploads whose staged object was already gone (skipped)."},
    [WK_REJECTED] = {"pgopipe_worker_rejected_total", "Staged uploads moved to rejected/."},
    [WK_BASES_REJECTED] = {"pgopipe_worker_bases_rejected_total",
                           "Undecodable base profiles moved to rejected/."},
    [WK_RETRIES] = {"pgopipe_worker_retries_total",
                    "Transient failures (store or bus) retried with backoff."},
    [WK_STAGED_DELETED] = {"pgopipe_worker_staged_deleted_total",
                           "Staged objects deleted after merging."},
    [WK_APPS_DELETED] = {"pgopipe_worker_apps_deleted_total", "Apps deleted (profile.deleted)."},
    [WK_COMMITS] = {"pgopipe_worker_commits_total", "Offsets committed."},
    [WK_COMMIT_FAILURES] = {"pgopipe_worker_commit_failures_total",
                            "Commits refused (partition revoked or broker trouble; redelivery is "
                            "harmless)."},
    [WK_CONFLICTS] = {"pgopipe_worker_base_conflicts_total",
                      "Batches restarted because the base changed between read and write."},
    [WK_CACHE_HITS] = {"pgopipe_worker_base_cache_hits_total",
                       "Base writes that started from the base kept in memory (no GET + decode)."},
    [WK_PRUNE_SKIPPED] = {"pgopipe_worker_prune_rules_skipped_total",
                          "Prune rules skipped for a function name PCRE2 could not evaluate them on "
                          "(match limit)."},
    [WK_BUCKET_WRITES] = {"pgopipe_worker_hour_bucket_writes_total", "Hour buckets written."},
    [WK_HISTORY_KEPT] = {"pgopipe_worker_history_kept_total",
                         "Staged uploads copied to history/ after merging."},
    [WK_WINDOW_ADVANCES] = {"pgopipe_worker_window_hours_left_total",
                            "Hour buckets taken out of a base (by subtraction) as their hour left "
                            "the window."},
    [WK_WINDOW_REBUILDS] = {"pgopipe_worker_window_rebuilds_total",
                            "Bases rebuilt from their window's hour buckets."},
    [WK_RETENTION_DELETED] = {"pgopipe_worker_retention_deleted_total",
                              "Hour buckets, history objects and instance states deleted as older "
                              "than the retention."},
};

/* The per-kind counter families (label "kind"), in wk_kind_counter order. */
static const struct {
  const char *name, *help;
} kind_family[WK_NKCOUNTERS] = {
    [WK_K_UPLOADS] = {"pgopipe_worker_kind_uploads_total",
                      "Uploads folded into a base, by profile kind."},
    [WK_K_BASE_WRITES] = {"pgopipe_worker_kind_base_writes_total",
                          "Base profiles written, by profile kind."},
    [WK_K_STATE_WRITES] = {"pgopipe_worker_instance_states_written_total",
                           "Instance states written (the last snapshot of an instance), by "
                           "profile kind."},
    [WK_K_FIRST] = {"pgopipe_worker_first_snapshots_total",
                    "Cumulative uploads of an instance without a previous snapshot (counted from "
                    "zero), by profile kind."},
    [WK_K_RESTARTS] = {"pgopipe_worker_instance_restarts_total",
                       "Cumulative uploads in which a value went down since the instance's last "
                       "snapshot (a restart: counted from zero), by profile kind."},
    [WK_K_STALE] = {"pgopipe_worker_stale_snapshots_total",
                    "Snapshots older than their instance's last one (their counters are in it "
                    "already), by profile kind."},
    [WK_K_EXPIRED] = {"pgopipe_worker_gauge_expired_total",
                      "Instances whose gauges left the gauge part (not seen within the gauge "
                      "TTL), by profile kind."},
};

static const double merge_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500};
static const double base_bounds[] = {65536,    262144,   1048576,  4194304,
                                     16777216, 67108864, 268435456};
#define NBOUNDS(a) (sizeof(a) / sizeof(a)[0])

static const char *const dep_names[WK_NDEPS] = {"blob", "event-writer", "event-reader", "worker"};

struct worker_stats {
  _Atomic uint64_t count[WK_NCOUNTERS];
  _Atomic uint64_t kcount[WK_NKCOUNTERS][LAYOUT_KIND_COUNT];
  _Atomic int64_t gauge_instances[LAYOUT_KIND_COUNT];
  svc_metric *kfamily[WK_NKCOUNTERS], *gauge_instances_family;
  _Atomic uint64_t last_base_bytes;
  _Atomic int ready;
  /* The families in a svc registry (worker_stats_attach); NULL = none. */
  svc_metric *family[WK_NCOUNTERS];
  svc_metric *events_by_type, *base_last_bytes, *healthy, *merge_seconds, *batch_uploads,
      *base_bytes;
  /* Guards the dependencies' state. A pointer (to mu_storage), so readers
   * holding a const worker_stats can take it. */
  pthread_mutex_t *mu, mu_storage;
  int dep_failing[WK_NDEPS];
  char dep_msg[WK_NDEPS][512];
};

worker_stats *worker_stats_new(void) {
  worker_stats *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->mu = &st->mu_storage;
  pthread_mutex_init(st->mu, NULL);
  return st;
}

void worker_stats_free(worker_stats *st) {
  if (!st) return;
  pthread_mutex_destroy(st->mu);
  free(st);
}

int worker_stats_attach(worker_stats *st, svc_metrics *m) {
  st->events_by_type = svc_metrics_counter(m, "pgopipe_worker_events_total",
                                           "Events read from the bus, by type.", "type");
  if (!st->events_by_type) return -1;
  for (int c = 0; c < WK_NCOUNTERS; c++) {
    if (!counter_family[c].name) continue;
    st->family[c] = svc_metrics_counter(m, counter_family[c].name, counter_family[c].help, NULL);
    if (!st->family[c]) return -1;
  }
  for (int c = 0; c < WK_NKCOUNTERS; c++) {
    st->kfamily[c] = svc_metrics_counter(m, kind_family[c].name, kind_family[c].help, "kind");
    if (!st->kfamily[c]) return -1;
  }
  st->gauge_instances_family =
      svc_metrics_gauge(m, "pgopipe_worker_gauge_instances",
                        "Instances whose latest snapshot is in a gauge part kept in memory, by "
                        "profile kind.",
                        "kind");
  if (!st->gauge_instances_family) return -1;
  st->base_last_bytes = svc_metrics_gauge(m, "pgopipe_worker_base_last_bytes",
                                          "Size of the last base written.", NULL);
  st->healthy = svc_metrics_gauge(m, "pgopipe_worker_healthy",
                                  "1 when the store and the bus work and no operation is being retried.",
                                  NULL);
  st->merge_seconds = svc_metrics_histogram(m, "pgopipe_worker_merge_seconds",
                                            "Time to merge a batch and write the base.", NULL,
                                            merge_bounds, NBOUNDS(merge_bounds));
  st->batch_uploads = svc_metrics_histogram(m, "pgopipe_worker_batch_uploads",
                                            "Uploads merged per base write.", NULL, batch_bounds,
                                            NBOUNDS(batch_bounds));
  st->base_bytes = svc_metrics_histogram(m, "pgopipe_worker_base_bytes",
                                         "Size of base profiles written (gzipped bytes).", NULL,
                                         base_bounds, NBOUNDS(base_bounds));
  if (!st->base_last_bytes || !st->healthy || !st->merge_seconds || !st->batch_uploads ||
      !st->base_bytes)
    return -1;
  svc_metric_set(st->healthy, 1);
  return 0;
}

void wk_stat_add(worker_stats *st, wk_counter c, uint64_t v) {
  atomic_fetch_add(&st->count[c], v);
  svc_metric_add(st->family[c], (double)v);
}

void wk_stat_kind(worker_stats *st, wk_kind_counter c, layout_kind k, uint64_t v) {
  if (k < 0 || k >= LAYOUT_KIND_COUNT || !v) return;
  atomic_fetch_add(&st->kcount[c][k], v);
  svc_metric_add(st->kfamily[c], (double)v, layout_kind_name(k));
}

void wk_stat_gauge_instances(worker_stats *st, layout_kind k, int64_t d) {
  if (k < 0 || k >= LAYOUT_KIND_COUNT || !d) return;
  int64_t now = atomic_fetch_add(&st->gauge_instances[k], d) + d;
  svc_metric_set(st->gauge_instances_family, (double)now, layout_kind_name(k));
}

void wk_stat_event(worker_stats *st, const char *type_label) {
  svc_metric_add(st->events_by_type, 1, type_label);
}

void wk_stat_base_written(worker_stats *st, double seconds, size_t uploads, size_t bytes) {
  wk_stat_add(st, WK_MERGES, 1);
  wk_stat_add(st, WK_UPLOADS_MERGED, uploads);
  atomic_store(&st->last_base_bytes, (uint64_t)bytes);
  svc_metric_set(st->base_last_bytes, (double)bytes);
  svc_metric_observe(st->merge_seconds, seconds);
  svc_metric_observe(st->batch_uploads, (double)uploads);
  svc_metric_observe(st->base_bytes, (double)bytes);
}

void wk_stat_set_ready(worker_stats *st, int ready) { atomic_store(&st->ready, ready); }

void wk_stat_dep_fail(worker_stats *st, int dep, const char *msg) {
  pthread_mutex_lock(st->mu);
  st->dep_failing[dep] = 1;
  snprintf(st->dep_msg[dep], sizeof st->dep_msg[dep], "%.500s", msg);
  pthread_mutex_unlock(st->mu);
  svc_metric_set(st->healthy, 0);
}

void wk_stat_dep_ok(worker_stats *st, int dep) {
  pthread_mutex_lock(st->mu);
  st->dep_failing[dep] = 0;
  st->dep_msg[dep][0] = 0;
  int all_ok = 1;
  for (int i = 0; i < WK_NDEPS; i++) all_ok &= !st->dep_failing[i];
  pthread_mutex_unlock(st->mu);
  svc_metric_set(st->healthy, all_ok);
}

void worker_stats_counts(const worker_stats *st, worker_counts *o) {
  memset(o, 0, sizeof *o);
  if (!st) return;
  const _Atomic uint64_t *c = st->count;
  o->events = atomic_load(&c[WK_EVENTS]);
  o->malformed = atomic_load(&c[WK_MALFORMED]);
  o->skipped_types = atomic_load(&c[WK_SKIPPED_TYPES]);
  o->merges = atomic_load(&c[WK_MERGES]);
  o->uploads_merged = atomic_load(&c[WK_UPLOADS_MERGED]);
  o->duplicates = atomic_load(&c[WK_DUPLICATES]);
  o->missing = atomic_load(&c[WK_MISSING]);
  o->rejected = atomic_load(&c[WK_REJECTED]);
  o->bases_rejected = atomic_load(&c[WK_BASES_REJECTED]);
  o->retries = atomic_load(&c[WK_RETRIES]);
  o->staged_deleted = atomic_load(&c[WK_STAGED_DELETED]);
  o->apps_deleted = atomic_load(&c[WK_APPS_DELETED]);
  o->commits = atomic_load(&c[WK_COMMITS]);
  o->commit_failures = atomic_load(&c[WK_COMMIT_FAILURES]);
  o->conflicts = atomic_load(&c[WK_CONFLICTS]);
  o->cache_hits = atomic_load(&c[WK_CACHE_HITS]);
  o->prune_skipped = atomic_load(&c[WK_PRUNE_SKIPPED]);
  o->bucket_writes = atomic_load(&c[WK_BUCKET_WRITES]);
  o->history_kept = atomic_load(&c[WK_HISTORY_KEPT]);
  o->window_advances = atomic_load(&c[WK_WINDOW_ADVANCES]);
  o->window_rebuilds = atomic_load(&c[WK_WINDOW_REBUILDS]);
  o->retention_deleted = atomic_load(&c[WK_RETENTION_DELETED]);
  o->last_base_bytes = atomic_load(&st->last_base_bytes);
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++) {
    o->kind_uploads[k] = atomic_load(&st->kcount[WK_K_UPLOADS][k]);
    o->kind_base_writes[k] = atomic_load(&st->kcount[WK_K_BASE_WRITES][k]);
    o->state_writes[k] = atomic_load(&st->kcount[WK_K_STATE_WRITES][k]);
    o->first_snapshots[k] = atomic_load(&st->kcount[WK_K_FIRST][k]);
    o->restarts[k] = atomic_load(&st->kcount[WK_K_RESTARTS][k]);
    o->stale[k] = atomic_load(&st->kcount[WK_K_STALE][k]);
    o->gauge_expired[k] = atomic_load(&st->kcount[WK_K_EXPIRED][k]);
    int64_t gi = atomic_load(&st->gauge_instances[k]);
    o->gauge_instances[k] = gi > 0 ? (uint64_t)gi : 0;
  }
}

/* Copies every dependency's state under the mutex. */
static void deps_snapshot(const worker_stats *st, int failing[WK_NDEPS],
                          char msg[WK_NDEPS][512]) {
  pthread_mutex_lock(st->mu);
  for (int i = 0; i < WK_NDEPS; i++) {
    failing[i] = st->dep_failing[i];
    memcpy(msg[i], st->dep_msg[i], sizeof msg[i]);
  }
  pthread_mutex_unlock(st->mu);
}

int worker_stats_dep(const worker_stats *st, const char *name, char *msg, size_t msglen) {
  int dep = -1;
  for (int i = 0; i < WK_NDEPS; i++)
    if (!strcmp(name, dep_names[i])) dep = i;
  if (dep < 0) {
    errbuf_set(msg, msglen, "unknown dependency %s", name);
    return -1;
  }
  int failing[WK_NDEPS];
  char m[WK_NDEPS][512];
  deps_snapshot(st, failing, m);
  if (failing[dep]) errbuf_set(msg, msglen, "%s", m[dep]);
  return failing[dep] ? -1 : 0;
}

int worker_stats_ready(const worker_stats *st) {
  return st ? atomic_load(&st->ready) : 0;
}

/* The health body (see worker.h); NULL when out of memory. */
static char *health_json(int ok, const int failing[WK_NDEPS], char msg[WK_NDEPS][512]) {
  char *body = NULL, *esc = NULL;
  size_t len = 0, cap = 0, elen;
  FILE *f = open_memstream(&body, &len);
  if (!f) return NULL;
  int bad = 0;
  fprintf(f, "{\"status\":\"%s\",\"dependencies\":[", ok ? "healthy" : "unhealthy");
  for (int i = 0; i < WK_NDEPS; i++) {
    fprintf(f, "%s{\"name\":\"%s\",\"status\":\"%s\"", i ? "," : "", dep_names[i],
            failing[i] ? "unhealthy" : "healthy");
    if (failing[i]) {
      elen = 0;
      bad |= svc_json_append_str(&esc, &cap, &elen, msg[i], strlen(msg[i])) != 0;
      if (!bad) fprintf(f, ",\"message\":%.*s", (int)elen, esc);
    }
    fputc('}', f);
  }
  fputs("]}", f);
  bad |= fclose(f) != 0;
  free(esc);
  if (bad) {
    free(body);
    return NULL;
  }
  return body;
}

int worker_stats_health(const worker_stats *st, char **json) {
  int failing[WK_NDEPS];
  char msg[WK_NDEPS][512];
  deps_snapshot(st, failing, msg);
  int ok = 1;
  for (int i = 0; i < WK_NDEPS; i++) ok &= !failing[i];
  if (json) *json = health_json(ok, failing, msg);
  return ok;
}
