/*
 * server.h — what the pieces of pgopipe-server share: its options, its open
 * dependencies and its metrics. main.c parses and wires (and starts the
 * in-process merge worker, lib/pipeline's worker_embed, with --worker),
 * routes.c answers HTTP, reads.c the read routes (downloads, time ranges,
 * listing), ingest.c the push routes, profefe.c profefe's read API, ui.c
 * serves the web UI and applies the access rule.
 */
#ifndef PGOPIPE_SERVER_H
#define PGOPIPE_SERVER_H

#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "reads.h"
#include "svc_http.h"
#include "svc_metrics.h"
#include "apps.h"
#include "history.h"
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
  uint64_t read_cache_bytes;
  int64_t max_uploads;
  int64_t request_timeout_ms;
  int64_t idle_timeout_ms;
  int64_t shutdown_timeout_ms;
  int64_t http_threads;
  const char *http_mode;
  const char *log_level;
  int worker;
  int protect_reads; /* every GET needs the token (ui.c, lib/pipeline access.h) */
  int debug; /* autopgo's --debug: accepted, ignored */
  /* worker flags, used with --worker */
  const char *reader_url;
  const char *prune;
  int64_t batch_max;
  int64_t batch_wait_ms;
  int64_t gauge_ttl_ms;
  int64_t window_ms;    /* the bases hold the last window_ms (0: all time) */
  int64_t retention_ms; /* uploads' times older than this are their receipt times; the
                           worker deletes history older than this */
} server_opts;

typedef struct server {
  server_opts o;
  char *token;          /* NULL: no auth */
  blob_store *blob;
  bus_writer *bus;
  upload_config up;
  svc_metrics *metrics;
  worker_embed *worker; /* the in-process worker, NULL without --worker */
  struct ui *ui;        /* the web UI and the access rule (ui.c) */
  reads *reads;         /* the read side: conversions and their cache */
  history *history;     /* kept uploads for profefe's read API (profefe.c) */
  svc_metric *m_upload_bytes, *m_upload_seconds, *m_uploads, *m_rejected, *m_publish_err, *m_blob_err;
  svc_metric *m_push_requests, *m_push_uploads, *m_push_seconds; /* ingest.c */
} server;

/* Registers every route of the contract on h. */
int server_routes(server *s, svc_http *h);

/* GET/HEAD /api/profile/{app}: a base in any format (reads.c). */
void server_read_profile(svc_req *r, void *ctx);

/* GET /api/profile: the apps and their bases (reads.c). */
void server_list_profiles(svc_req *r, void *ctx);

/* Creates the server's own metric families in s->metrics. */
int server_metrics(server *s);

/* ---- ui.c: the web UI (contract "UI") ---- */

/* Opens the UI's state in s->ui: the access rule (token, bind, --protect-reads)
 * and the cached views of the blob store. Call once the token and the blob
 * store are open. Returns 0 or -1 with a message in err. */
int ui_open(server *s, char *err, size_t errlen);

/* Registers the UI's routes (/, /ui/..., /api/ui/...) and the access gate
 * on h. */
int ui_routes(server *s, svc_http *h);

/* Frees s->ui (NULL is fine). */
void ui_close(server *s);

/* The push routes (ingest.c): Pyroscope, profefe and traceway. */
int server_push_routes(server *s, svc_http *h);
/* Creates the push routes' metric families. */
int server_push_metrics(server *s);
/* Counts a refusal the HTTP layer made on a push route (413, 503). */
void server_push_refused(server *s, const char *route, int status);

/* profefe's read API (profefe.c): GET /api/0/profiles, /api/0/profiles/merge,
 * /api/0/profiles/{id}, /api/0/services, /api/0/version. */
int server_profefe_routes(server *s, svc_http *h);

#endif
