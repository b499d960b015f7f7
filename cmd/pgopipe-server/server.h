/*
 * server.h — what the pieces of pgopipe-server share: its options, its open
 * dependencies and its metrics. main.c parses and wires (and starts the
 * in-process merge worker, lib/pipeline's worker_embed, with --worker),
 * routes.c answers HTTP.
 */
#ifndef PGOPIPE_SERVER_H
#define PGOPIPE_SERVER_H

#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "svc_http.h"
#include "svc_metrics.h"
#include "upload.h"
#include "worker.h"

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
  int debug; /* autopgo's --debug: accepted, ignored */
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
  worker_embed *worker; /* the in-process worker, NULL without --worker */
  svc_metric *m_upload_bytes, *m_upload_seconds, *m_uploads, *m_rejected, *m_publish_err, *m_blob_err;
} server;

/* Registers every route of the contract on h. */
int server_routes(server *s, svc_http *h);

/* Creates the server's own metric families in s->metrics. */
int server_metrics(server *s);

#endif
