/*
 * server.h — what the pieces of pgopipe-server share: its options, its open
 * dependencies and its metrics. main.c parses and wires, routes.c answers
 * HTTP, embedded_worker.c runs the merge worker in-process (--worker).
 */
#ifndef PGOPIPE_SERVER_H
#define PGOPIPE_SERVER_H

#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "svc_http.h"
#include "svc_metrics.h"
#include "upload.h"

typedef struct server_opts {
  int64_t port;
  const char *bind;
  const char *blob_url;
  const char *writer_url;
  const char *token_file;
  int insecure;
  uint64_t max_profile_bytes;
  uint64_t max_decoded_bytes;
  uint64_t max_download_bytes;
  int64_t max_uploads;
  int64_t request_timeout_ms;
  int64_t idle_timeout_ms;
  int64_t shutdown_timeout_ms;
  int64_t http_threads;
  const char *http_mode;
  const char *log_level;
  int worker;
  /* worker flags, used with --worker */
  const char *reader_url;
  const char *prune;
  int64_t batch_max;
  int64_t batch_wait_ms;
} server_opts;

typedef struct server {
  server_opts o;
  char *token;          /* NULL: no auth */
  blob_store *blob;
  bus_writer *bus;
  upload_config up;
  svc_metrics *metrics;
  struct embedded_worker *worker; /* the in-process worker, NULL without --worker */
  svc_metric *m_upload_bytes, *m_upload_seconds, *m_uploads, *m_rejected, *m_publish_err, *m_blob_err;
} server;

/* Registers every route of the contract on h. */
int server_routes(server *s, svc_http *h);

/* Creates the server's own metric families in s->metrics. */
int server_metrics(server *s);

/* ---- The in-process merge worker (--worker, and the embedded default) ---- */

typedef struct embedded_worker embedded_worker;

/* Returns 1 when this build contains the merge worker. */
int embedded_worker_available(void);

/*
 * Starts the merge worker on a thread of its own, sharing the server's blob
 * store and reading the bus at o->reader_url (for mem:// the same topic the
 * server writes). Returns 0 or -1 with err.
 */
int embedded_worker_start(const server_opts *o, blob_store *blob, svc_metrics *m, embedded_worker **out,
                          char *err, size_t errlen);

/* Health of the in-process worker: 0 when its blob store and bus worked at
 * their last use, -1 with the failing one's last error in err otherwise.
 * NULL (no worker) is healthy. */
int embedded_worker_check(embedded_worker *w, char *err, size_t errlen);

/* Asks the worker to reload its prune rules (SIGHUP). */
void embedded_worker_reload(embedded_worker *w);

/* Asks the worker to finish its batch, waits for it and frees it. Returns its
 * exit status (0 clean). NULL is fine. */
int embedded_worker_stop(embedded_worker *w, char *err, size_t errlen);

#endif
