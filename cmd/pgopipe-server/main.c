/*
 * pgopipe-server — the upload service.
 *
 * A thin main: parse flags (each with its PGOPIPE_* environment variable),
 * open the blob store and the event writer, serve the HTTP API (routes.c)
 * on lib/svc's HTTP layer, and shut down cleanly. Signals arrive through a
 * signalfd in this thread only: SIGTERM/SIGINT stop accepting connections,
 * let in-flight requests finish (bounded by --shutdown-timeout), stop the
 * in-process worker if any, flush the producer and exit 0; SIGHUP reloads
 * the in-process worker's prune rules.
 *
 * With no URL flags it is the all-in-one pipeline: file://./data,
 * mem://profiles and the merge worker in this process. A mem:// bus is only
 * accepted together with the in-process worker, since nothing else could
 * ever read it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "svc_config.h"
#include "svc_http.h"
#include "svc_log.h"
#include "svc_util.h"

/* --batch-max's help says how far a batch grows. */
_Static_assert(WORKER_BATCH_GROW == 16 && WORKER_BATCH_GROW_BYTES == (16u << 20), "--batch-max's help text");

#define DEFAULT_BLOB_URL "file://./data"
#define DEFAULT_BUS_URL "mem://profiles"

static server S;

static svc_flag flags[] = {
    {"port", 'p', SVC_FLAG_INT, "8080", "HTTP port (0 = any free port, logged at start)", &S.o.port, NULL, NULL, 0},
    {"bind", 0, SVC_FLAG_STRING, "127.0.0.1",
     "address to listen on; a non-loopback address needs an auth token or --insecure", &S.o.bind, NULL, "ADDR", 0},
    {"blob-store-url", 0, SVC_FLAG_STRING, NULL,
     "blob store: file:///DIR, file://./DIR or s3://BUCKET?endpoint=URL&region=R&use_path_style=true "
     "(embedded default " DEFAULT_BLOB_URL ")",
     &S.o.blob_url, NULL, "URL", 0},
    {"event-writer-url", 0, SVC_FLAG_STRING, NULL,
     "event bus to announce uploads on: kafka://TOPIC (brokers from KAFKA_BROKERS), nats://SUBJECT (JetStream, "
     "servers from NATS_SERVER_URL) or mem://TOPIC with --worker (embedded default " DEFAULT_BUS_URL ")",
     &S.o.writer_url, NULL, "URL", 0},
    {"auth-token-file", 0, SVC_FLAG_STRING, NULL,
     "file holding the bearer token required on POST and DELETE (or the token itself in $PGOPIPE_AUTH_TOKEN)",
     &S.o.token_file, NULL, "FILE", 0},
    {"insecure", 0, SVC_FLAG_BOOL, "false", "allow a non-loopback --bind without an auth token", &S.o.insecure, NULL,
     NULL, 0},
    {"max-profile-bytes", 0, SVC_FLAG_SIZE, "67108864",
     "largest accepted upload body (compressed), else 413 (with --worker, its limit too)",
     &S.o.max_profile_bytes, NULL, NULL, 0},
    {"max-decoded-bytes", 0, SVC_FLAG_SIZE, "67108864",
     "largest accepted upload after decompression, the profile it makes in memory included, else 413 "
     "(with --worker, its limits too)",
     &S.o.max_decoded_bytes, NULL, NULL, 0},
    {"max-download-bytes", 0, SVC_FLAG_SIZE, "1073741824", "largest base profile served by GET",
     &S.o.max_download_bytes, NULL, NULL, 0},
    {"read-cache-bytes", 0, SVC_FLAG_SIZE, "67108864",
     "memory for converted downloads (format=pgo, preprofile, ...) kept per base version, least recently used "
     "dropped first (0 = keep none)",
     &S.o.read_cache_bytes, NULL, NULL, 0},
    {"max-uploads", 0, SVC_FLAG_INT, "64", "uploads handled at once; more get 503 (0 = unlimited)", &S.o.max_uploads,
     NULL, NULL, 0},
    {"request-timeout", 0, SVC_FLAG_DURATION, "60s", "longest time to receive one request", &S.o.request_timeout_ms,
     NULL, NULL, 0},
    {"idle-timeout", 0, SVC_FLAG_DURATION, "30s", "close connections idle this long", &S.o.idle_timeout_ms, NULL,
     NULL, 0},
    {"shutdown-timeout", 0, SVC_FLAG_DURATION, "30s", "on SIGTERM, longest wait for in-flight requests",
     &S.o.shutdown_timeout_ms, NULL, NULL, 0},
    {"http-mode", 0, SVC_FLAG_STRING, "thread", "HTTP threading: thread (one per connection) or pool (epoll pool)",
     &S.o.http_mode, NULL, "MODE", 0},
    {"http-threads", 0, SVC_FLAG_INT, "4", "threads of the epoll pool (--http-mode pool)", &S.o.http_threads, NULL,
     NULL, 0},
    {"log-level", 'l', SVC_FLAG_STRING, "info", "debug, info, warn or error", &S.o.log_level, NULL, "LEVEL", 0},
    {"worker", 0, SVC_FLAG_BOOL, "false", "also run the merge worker in this process", &S.o.worker, NULL, NULL, 0},
    {"protect-reads", 0, SVC_FLAG_BOOL, "false",
     "every GET route needs the auth token (bearer or UI login), on any bind; health, readiness and metrics stay open",
     &S.o.protect_reads, NULL, NULL, 0},
    {"event-reader-url", 0, SVC_FLAG_STRING, NULL,
     "with --worker: where the worker reads events: kafka://GROUP?topic=TOPIC (required with a kafka:// writer), "
     "nats://SUBJECT?durable=NAME (default: the writer's URL); with a mem:// writer, the same mem:// topic",
     &S.o.reader_url, NULL, "URL", 0},
    {"prune", 0, SVC_FLAG_STRING, NULL, "with --worker: prune rules file (JSON)", &S.o.prune, NULL, "FILE", 0},
    {"batch-max", 0, SVC_FLAG_INT, "50", "with --worker: most uploads merged in one pass, up to 16x as many (16 MiB of them) while a backlog is waiting", &S.o.batch_max, NULL, NULL,
     0},
    {"batch-wait", 0, SVC_FLAG_DURATION, "100ms", "with --worker: wait this long to fill a batch", &S.o.batch_wait_ms,
     NULL, NULL, 0},
    {"gauge-ttl", 0, SVC_FLAG_DURATION, "10m",
     "with --worker: gauges (heap in-use, goroutines) of instances not seen this long leave the bases",
     &S.o.gauge_ttl_ms, NULL, NULL, 0},
    {"debug", 0, SVC_FLAG_BOOL, "false", "accepted for autopgo's command lines and ignored with a warning (its Go debug endpoints do not exist here)", &S.o.debug, NULL, NULL, 0},
    {"window", 0, SVC_FLAG_DURATION, "0",
     "with --worker: each base holds the uploads of the last DURATION, at hour granularity (0 = all time)",
     &S.o.window_ms, NULL, NULL, 0},
    {"retention", 0, SVC_FLAG_DURATION, "168h",
     "an upload whose time is older than this counts at its receipt time; with --worker: hour buckets, kept "
     "uploads (history/) and instance states older than this are deleted (at least --window)",
     &S.o.retention_ms, NULL, NULL, 0},
};
#define NFLAGS (sizeof flags / sizeof flags[0])

static const svc_cmd cmd = {
    "pgopipe-server", NULL,
    "The pgopipe upload service: accepts pprof CPU profiles on POST /api/profile/{app} (other kinds with\n"
    "?kind=) and the pushes of Pyroscope (/ingest), profefe (/api/0/profiles) and traceway\n"
    "(/api/profiles/ingest) agents, stores them in the blob store, announces them on the event bus, and\n"
    "serves the merged base profile for go build -pgo and a web UI of the profiles at /ui/ (flame graph,\n"
    "top table, diff, downloads).\n"
    "With no URL flags it runs the whole pipeline in this process on " DEFAULT_BLOB_URL " and " DEFAULT_BUS_URL "."};

static void on_refused(void *ctx, const char *method, const char *route, int status) {
  server *s = ctx;
  if (strcmp(method, "POST") != 0) return;
  if (strcmp(route, "/api/profile/{app}") != 0) {
    server_push_refused(s, route, status);
    return;
  }
  const char *reason = status == 413 ? "too_big" : status == 401 ? "unauthorized" : "overloaded";
  svc_metric_add(s->m_rejected, 1, reason);
}

static int fail(const char *what, const char *err) {
  fprintf(stderr, "pgopipe-server: %s%s%s\n", what, err ? ": " : "", err ? err : "");
  SVC_ERROR("start-up failed", SVC_STR("what", what), SVC_STR("error", err));
  return 1;
}

/* Parses the flags into S.o and checks them. Returns -1 to go on, or the
 * exit status (0 after --help/--version, 2 on a usage error); *mode is the
 * HTTP threading mode. */
static int parse_args(int argc, char **argv, int *mode) {
  int rc = svc_flags_main(&cmd, flags, NFLAGS, argc, argv, NULL, NULL);
  if (rc >= 0)
    return rc;
  int level;
  if (svc_log_parse_level(S.o.log_level, &level) != 0) {
    fprintf(stderr, "pgopipe-server: --log-level: bad level \"%s\" (want debug, info, warn or error)\n",
            S.o.log_level);
    return 2;
  }
  svc_log_set_level(level);
  if (S.o.debug) SVC_WARN("--debug ignored: autopgo's Go debug endpoints do not exist in pgopipe-server");
  if (S.o.port < 0 || S.o.port > 65535) {
    fprintf(stderr, "pgopipe-server: --port: %lld is not a port (0-65535)\n", (long long)S.o.port);
    return 2;
  }
  if (S.o.max_profile_bytes == 0 || S.o.max_decoded_bytes == 0) {
    fprintf(stderr, "pgopipe-server: --max-profile-bytes and --max-decoded-bytes must be positive\n");
    return 2;
  }
  if (S.o.max_uploads < 0 || S.o.http_threads < 1 || S.o.http_threads > 256) {
    fprintf(stderr, "pgopipe-server: --max-uploads must be >= 0 and --http-threads 1..256\n");
    return 2;
  }
  if (S.o.gauge_ttl_ms < 1000) {
    fprintf(stderr, "pgopipe-server: --gauge-ttl: at least 1s\n");
    return 2;
  }
  if (S.o.retention_ms < 3600 * 1000) {
    fprintf(stderr, "pgopipe-server: --retention: at least 1h\n");
    return 2;
  }
  if (S.o.window_ms < 0 || S.o.window_ms > S.o.retention_ms) {
    fprintf(stderr, "pgopipe-server: --window: at most --retention (the hours it needs would be deleted); 0 for "
                    "all time\n");
    return 2;
  }
  if (strcmp(S.o.http_mode, "thread") == 0)
    *mode = SVC_HTTP_THREAD_PER_CONNECTION;
  else if (strcmp(S.o.http_mode, "pool") == 0)
    *mode = SVC_HTTP_POOL;
  else {
    fprintf(stderr, "pgopipe-server: --http-mode: bad mode \"%s\" (want thread or pool)\n", S.o.http_mode);
    return 2;
  }
  return -1;
}

/* The embedded default (no URL flags: the all-in-one pipeline), the URLs'
 * defaults, and whether the bus can be read. -1 to go on, else the status. */
static int choose_topology(void) {
  int embedded = !S.o.blob_url && !S.o.writer_url;
  if (embedded) S.o.worker = 1;
  if (!S.o.blob_url) S.o.blob_url = DEFAULT_BLOB_URL;
  if (!S.o.writer_url) S.o.writer_url = DEFAULT_BUS_URL;
  int mem_bus = strncmp(S.o.writer_url, "mem://", 6) == 0;
  if (mem_bus && !S.o.worker)
    return fail("--event-writer-url",
                "a mem:// bus is in-process only and needs the merge worker in this process (--worker); "
                "use kafka://TOPIC for a separate pgopipe-worker");
  if (S.o.worker && !S.o.reader_url && mem_bus)
    S.o.reader_url = S.o.writer_url;
  return -1;
}

/* Starts the merge worker on a thread of its own, on the server's blob store
 * and metrics, reading the bus at --event-reader-url (for mem:// the topic
 * the server writes). */
static int start_worker(const core_logger *lg, char *err, size_t errlen) {
  worker_embed_config c = {0};
  c.blob = S.blob;
  c.writer_url = S.o.writer_url;
  c.reader_url = S.o.reader_url;
  c.prune_path = S.o.prune;
  c.batch_max = S.o.batch_max > 0 ? (size_t)S.o.batch_max : 0;
  c.batch_wait_ms = (int)S.o.batch_wait_ms;
  c.gauge_ttl_ms = S.o.gauge_ttl_ms;
  c.max_profile_bytes = (size_t)S.o.max_profile_bytes; /* one setting, one limit */
  c.max_decoded_bytes = (size_t)S.o.max_decoded_bytes;
  c.window_ms = S.o.window_ms;
  c.retention_ms = S.o.retention_ms;
  c.metrics = S.metrics;
  c.log = *lg;
  return worker_embed_start(&c, &S.worker, err, errlen);
}

/* The auth token, signals, metrics, blob store, bus writer, upload rule and
 * the in-process worker. -1 to go on (everything open), else the status
 * (everything closed again). */
static int open_deps(const core_logger *lg) {
  char err[1024];
  if (svc_load_token(S.o.token_file, "PGOPIPE_AUTH_TOKEN", &S.token, err, sizeof err) != 0)
    return fail("--auth-token-file", err);
  if (!S.token && !svc_is_loopback(S.o.bind) && !S.o.insecure) {
    fprintf(stderr,
            "pgopipe-server: refusing to listen on %s without an auth token: set --auth-token-file or "
            "PGOPIPE_AUTH_TOKEN, or pass --insecure\n",
            S.o.bind);
    return 1;
  }
  if (S.o.protect_reads && !S.token)
    return fail("--protect-reads", "needs an auth token to protect with (--auth-token-file or PGOPIPE_AUTH_TOKEN)");
  if (svc_signals_block(err, sizeof err) != 0) return fail("signals", err);
  S.metrics = svc_metrics_new();
  if (!S.metrics || server_metrics(&S) != 0 || server_push_metrics(&S) != 0) return fail("metrics", "out of memory");
  if (blob_open(S.o.blob_url, &S.blob, err, sizeof err) != BLOB_OK) return fail("--blob-store-url", err);
  if (blob_check(S.blob, err, sizeof err) != BLOB_OK)
    SVC_WARN("blob store not reachable yet; uploads get 503 until it is", SVC_STR("url", blob_url(S.blob)),
             SVC_STR("error", err));
  if (bus_writer_open(S.o.writer_url, &S.bus, err, sizeof err) != BUS_OK) {
    blob_close(S.blob);
    return fail("--event-writer-url", err);
  }
  if (ui_open(&S, err, sizeof err) != 0) {
    bus_writer_close(S.bus);
    blob_close(S.blob);
    return fail("ui", err);
  }
  S.up.blob = S.blob;
  S.up.bus = S.bus;
  S.up.max_input_bytes = (size_t)S.o.max_profile_bytes;
  S.up.max_decoded_bytes = (size_t)S.o.max_decoded_bytes;
  S.up.log = *lg;
  reads_config rc = {S.blob, (size_t)S.o.max_download_bytes, (size_t)S.o.read_cache_bytes, S.metrics};
  if (reads_new(&rc, &S.reads, err, sizeof err) != 0) {
    bus_writer_close(S.bus);
    blob_close(S.blob);
    return fail("reads", err);
  }
  S.up.retention_ns = S.o.retention_ms * 1000000;
  history_config hc = {S.blob,
                       {.max_input_bytes = (size_t)S.o.max_download_bytes,
                        .max_decoded_bytes = (size_t)S.o.max_decoded_bytes},
                       S.up.retention_ns, 0};
  if (history_new(&hc, &S.history) != HISTORY_OK) {
    reads_free(S.reads);
    ui_close(&S);
    bus_writer_close(S.bus);
    blob_close(S.blob);
    return fail("history", "out of memory");
  }
  if (S.o.worker && start_worker(lg, err, sizeof err) != 0) {
    history_free(S.history);
    reads_free(S.reads);
    ui_close(&S);
    bus_writer_close(S.bus);
    blob_close(S.blob);
    return fail("--worker", err);
  }
  return -1;
}

/* Builds and starts the HTTP server; NULL after reporting (and, when the
 * start itself failed, closing the dependencies). */
static svc_http *start_http(int mode) {
  char err[1024] = "";
  svc_http_config hc = {0};
  hc.bind = S.o.bind;
  hc.port = (int)S.o.port;
  hc.mode = mode;
  hc.threads = (unsigned)S.o.http_threads;
  hc.idle_timeout_s = (unsigned)((S.o.idle_timeout_ms + 999) / 1000);
  hc.request_timeout_ms = S.o.request_timeout_ms;
  hc.max_uploads = (unsigned)S.o.max_uploads;
  hc.metrics = S.metrics;
  hc.name = "pgopipe-server";
  hc.on_refused = on_refused;
  hc.refused_ctx = &S;
  svc_http *h = NULL;
  if (svc_http_new(&hc, &h, err, sizeof err) != 0 || svc_http_set_token(h, S.token) != 0 ||
      server_routes(&S, h) != 0) {
    fail("http", err[0] ? err : "out of memory");
    return NULL;
  }
  if (svc_http_start(h, err, sizeof err) != 0) {
    worker_embed_stop(S.worker, err, sizeof err);
    history_free(S.history);
    reads_free(S.reads);
    bus_writer_close(S.bus);
    ui_close(&S);
    blob_close(S.blob);
    svc_http_free(h);
    fail("http", err);
    return NULL;
  }
  svc_http_set_ready(h, 1);
  return h;
}

static void log_listening(svc_http *h) {
  /* The bus URL's query may carry librdkafka secrets (sasl.password): log
   * only what comes before it. */
  char bus_url_printable[256];
  size_t qpos = strcspn(S.o.writer_url, "?");
  snprintf(bus_url_printable, sizeof bus_url_printable, "%.*s%s", (int)(qpos < 200 ? qpos : 200), S.o.writer_url,
           S.o.writer_url[qpos] ? "?..." : "");
  SVC_INFO("listening", SVC_STR("bind", S.o.bind), SVC_INT("port", svc_http_port(h)),
           SVC_STR("blob", blob_url(S.blob)), SVC_STR("bus", bus_url_printable), SVC_BOOL("worker", S.o.worker),
           SVC_BOOL("auth", S.token != NULL), SVC_BOOL("protect_reads", S.o.protect_reads),
           SVC_STR("http_mode", S.o.http_mode),
           SVC_INT("max_profile_bytes", S.o.max_profile_bytes), SVC_STR("version", svc_version()));
}

/* Serves until SIGTERM/SIGINT (SIGHUP reloads the worker's rules); returns
 * the signal that ended it. */
static int wait_for_stop(void) {
  for (;;) {
    int sig = svc_signals_wait(-1);
    if (sig == SIGHUP) {
      SVC_INFO("SIGHUP: reloading the worker's prune rules", SVC_BOOL("worker", S.worker != NULL));
      worker_embed_reload(S.worker);
      continue;
    }
    if (sig == SIGTERM || sig == SIGINT)
      return sig;
    if (sig < 0) {
      SVC_ERROR("waiting for signals failed; shutting down");
      return sig;
    }
  }
}

/* Stops taking requests, lets those in flight finish, stops the worker and
 * closes everything. Returns the exit status. */
static int shut_down(svc_http *h, int sig) {
  char err[1024];
  SVC_INFO("shutting down: no new connections, finishing requests in flight",
           SVC_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"), SVC_INT("in_flight", svc_http_in_flight(h)));
  unsigned left = svc_http_stop(h, S.o.shutdown_timeout_ms);
  if (left) SVC_WARN("shutdown grace period over; requests cut off", SVC_INT("unfinished", left));
  int wrc = worker_embed_stop(S.worker, err, sizeof err);
  if (wrc != 0) SVC_ERROR("worker stopped with an error", SVC_STR("error", err));
  bus_writer_close(S.bus); /* flushes the producer */
  svc_http_free(h);
  history_free(S.history);
  reads_free(S.reads);
  ui_close(&S);
  blob_close(S.blob);
  svc_metrics_free(S.metrics);
  free(S.token);
  SVC_INFO("stopped");
  return left || wrc ? 1 : 0;
}

int main(int argc, char **argv) {
  int mode = 0;
  int rc = parse_args(argc, argv, &mode);
  if (rc >= 0)
    return rc;
  svc_memory_init();
  /* Libraries log through svc's JSON lines, at the level just set. */
  core_logger lg = svc_core_logger();
  bus_set_logger(&lg);
  blob_set_logger(&lg);
  if ((rc = choose_topology()) >= 0 || (rc = open_deps(&lg)) >= 0)
    return rc;
  svc_http *h = start_http(mode);
  if (!h)
    return 1;
  log_listening(h);
  return shut_down(h, wait_for_stop());
}
