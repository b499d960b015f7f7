/*
 * worker_embed.c — runs the merge worker inside another daemon
 * (pgopipe-server --worker, and the all-in-one default on mem://).
 *
 * The daemon keeps its signal handling and its HTTP server; this file gives
 * it the calls it needs (start, reload, check, stop) around worker_run on a
 * thread of its own. The stop and reload flags are plain sig_atomic_t set by
 * the daemon's thread and read by the worker between batches: a one-way,
 * single-writer signal per flag, for which nothing heavier is needed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "svc_metrics.h"
#include "worker.h"

struct worker_embed {
  worker_config cfg;
  bus_reader *reader;
  bus_writer *writer;
  rules_set *rules;
  worker_stats *st;
  char *reader_url;
  char *prune_path;
  pthread_t th;
  int started;
  volatile sig_atomic_t stop, reload;
  int rc;
  char err[1024];
};

static void *embed_main(void *arg) {
  worker_embed *e = arg;
  e->rc = worker_run(&e->cfg, &e->stop, &e->reload, e->err, sizeof e->err);
  return NULL;
}

static void embed_free(worker_embed *e) {
  if (e->reader) bus_reader_close(e->reader);
  if (e->writer) bus_writer_close(e->writer);
  rules_free(e->rules);
  worker_stats_free(e->st);
  free(e->reader_url);
  free(e->prune_path);
  free(e);
}

/* Fails the start: frees what was made, returns rc. */
static int start_failed(worker_embed *e, int rc) {
  embed_free(e);
  return rc;
}

int worker_embed_start(const worker_embed_config *c, worker_embed **out, char *err,
                       size_t errlen) {
  *out = NULL;
  if (!c || !c->blob || !c->writer_url) {
    errbuf_set(err, errlen, "in-process worker: a blob store and an event writer URL are required");
    return WORKER_EINVAL;
  }
  worker_embed *e = calloc(1, sizeof *e);
  if (!e) {
    errbuf_set(err, errlen, "in-process worker: out of memory");
    return WORKER_ENOMEM;
  }
  const char *rurl = c->reader_url && c->reader_url[0] ? c->reader_url : c->writer_url;
  e->reader_url = strdup(rurl);
  e->prune_path = c->prune_path && c->prune_path[0] ? strdup(c->prune_path) : NULL;
  e->st = worker_stats_new();
  if (!e->reader_url || (c->prune_path && c->prune_path[0] && !e->prune_path) || !e->st) {
    errbuf_set(err, errlen, "in-process worker: out of memory");
    return start_failed(e, WORKER_ENOMEM);
  }
  if (c->metrics && worker_stats_attach(e->st, c->metrics) != 0) {
    errbuf_set(err, errlen, "in-process worker: cannot register its metrics");
    return start_failed(e, WORKER_ENOMEM);
  }
  char m[900];
  if (e->prune_path && rules_load(e->prune_path, &e->rules, err, errlen) != 0)
    return start_failed(e, WORKER_EINVAL);
  if (bus_writer_open(c->writer_url, &e->writer, m, sizeof m) != 0) {
    errbuf_set(err, errlen, "in-process worker: event writer %s: %s", c->writer_url, m);
    return start_failed(e, WORKER_EBUS);
  }
  if (bus_reader_open(e->reader_url, &e->reader, m, sizeof m) != 0) {
    errbuf_set(err, errlen, "in-process worker: event reader %s: %s", e->reader_url, m);
    return start_failed(e, WORKER_EBUS);
  }
  worker_config *w = &e->cfg;
  w->blob = c->blob;
  w->reader = e->reader;
  w->writer = e->writer;
  w->prune_path = e->prune_path;
  w->rules = e->rules;
  w->batch_max = c->batch_max;
  w->batch_wait_ms = c->batch_wait_ms;
  w->gauge_ttl_ms = c->gauge_ttl_ms;
  w->max_profile_bytes = c->max_profile_bytes;
  w->max_decoded_bytes = c->max_decoded_bytes;
  w->window_ms = c->window_ms;
  w->retention_ms = c->retention_ms;
  w->reconcile = -1; /* on for mem:// (the in-process bus forgets on a crash) */
  w->stats = e->st;
  w->log = c->log;
  w->reader_url = e->reader_url;
  if (pthread_create(&e->th, NULL, embed_main, e) != 0) {
    errbuf_set(err, errlen, "in-process worker: cannot start its thread");
    return start_failed(e, WORKER_ENOMEM);
  }
  e->started = 1;
  *out = e;
  return 0;
}

void worker_embed_reload(worker_embed *e) {
  if (e) e->reload = 1;
}

worker_stats *worker_embed_stats(worker_embed *e) { return e ? e->st : NULL; }

int worker_embed_check_reader(worker_embed *e, char *err, size_t errlen) {
  if (!e) return 0;
  return worker_stats_dep(e->st, "event-reader", err, errlen) == 0 ? 0 : -1;
}

int worker_embed_check(worker_embed *e, char *err, size_t errlen) {
  if (!e) return 0;
  static const char *const deps[] = {"blob", "event-writer", "worker"};
  char msg[512];
  for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++) {
    if (worker_stats_dep(e->st, deps[i], msg, sizeof msg) != 0) {
      errbuf_set(err, errlen, "merge worker: %s: %s", deps[i], msg);
      return -1;
    }
  }
  return 0;
}

int worker_embed_stop(worker_embed *e, char *err, size_t errlen) {
  if (!e) return 0;
  e->stop = 1;
  if (e->started) pthread_join(e->th, NULL);
  int rc = 0;
  if (e->rc != 0) {
    errbuf_set(err, errlen, "in-process worker: %s", e->err);
    rc = -1;
  }
  embed_free(e);
  return rc;
}
