/*
 * embedded_worker.c — the hook through which pgopipe-server runs the merge
 * worker in its own process (--worker, and the all-in-one default on
 * file://./data + mem://profiles).
 *
 * The worker itself lives in lib/pipeline; this file is the only place that
 * connects it to the server. Until it is connected, this build reports the
 * worker as unavailable, and main refuses --worker and mem:// buses with a
 * message instead of accepting uploads nobody would ever merge.
 */
#include "server.h"

#include <stdio.h>

struct embedded_worker {
  int unused;
};

int embedded_worker_available(void) { return 0; }

int embedded_worker_start(const server_opts *o, blob_store *blob, svc_metrics *m, embedded_worker **out,
                          char *err, size_t errlen) {
  (void)o;
  (void)blob;
  (void)m;
  *out = NULL;
  snprintf(err, errlen,
           "this pgopipe-server build has no in-process merge worker: run pgopipe-worker and give "
           "--event-writer-url kafka://TOPIC (with KAFKA_BROKERS) instead of --worker / mem://");
  return -1;
}

void embedded_worker_reload(embedded_worker *w) { (void)w; }

int embedded_worker_stop(embedded_worker *w, char *err, size_t errlen) {
  (void)w;
  (void)err;
  (void)errlen;
  return 0;
}
