/*
 * embedded_worker.c — the hook through which pgopipe-server runs the merge
 * worker in its own process (--worker, and the all-in-one default on
 * file://./data + mem://profiles): lib/pipeline's worker_embed_* on the
 * server's blob store, its metrics registry and its bus URLs.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>

#include "worker.h"

struct embedded_worker {
  worker_embed *e;
};

int embedded_worker_available(void) { return 1; }

int embedded_worker_start(const server_opts *o, blob_store *blob, svc_metrics *m, embedded_worker **out,
                          char *err, size_t errlen) {
  *out = NULL;
  embedded_worker *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  worker_embed_config c = {0};
  c.blob = blob;
  c.writer_url = o->writer_url;
  c.reader_url = o->reader_url;
  c.prune_path = o->prune;
  c.batch_max = o->batch_max > 0 ? (size_t)o->batch_max : 0;
  c.batch_wait_ms = (int)o->batch_wait_ms;
  c.metrics = m;
  if (worker_embed_start(&c, &w->e, err, errlen) != 0) {
    free(w);
    return -1;
  }
  *out = w;
  return 0;
}

int embedded_worker_check(embedded_worker *w, char *err, size_t errlen) {
  if (!w) return 0;
  worker_stats *st = worker_embed_stats(w->e);
  char msg[512];
  static const char *const deps[] = {"blob", "bus"};
  for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++) {
    if (worker_stats_dep(st, deps[i], msg, sizeof msg) != 0) {
      snprintf(err, errlen, "merge worker: %s: %s", deps[i], msg);
      return -1;
    }
  }
  return 0;
}

void embedded_worker_reload(embedded_worker *w) {
  if (w) worker_embed_reload(w->e);
}

int embedded_worker_stop(embedded_worker *w, char *err, size_t errlen) {
  if (!w) return 0;
  int rc = worker_embed_stop(w->e, err, errlen);
  free(w);
  return rc;
}
