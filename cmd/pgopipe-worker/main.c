/*
 * pgopipe-worker — the merge worker daemon.
 *
 * A thin main: parse flags (and their PGOPIPE_* environment variables), open
 * the blob store and the event bus, load the prune rules, serve health,
 * readiness and metrics over HTTP, and run worker_run (lib/pipeline) on a
 * thread of its own. Signals arrive through a signalfd in this thread only:
 * SIGTERM/SIGINT ask the worker to finish its batch, commit and return;
 * SIGHUP reloads the prune rules. The reader is closed last, which leaves the
 * consumer group so the partitions move to the other members at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "bus.h"
#include "rules.h"
#include "svc_config.h"
#include "svc_http.h"
#include "svc_log.h"
#include "svc_metrics.h"
#include "svc_util.h"
#include "worker.h"

/* --batch-max's help says how far a batch grows. */
_Static_assert(WORKER_BATCH_GROW == 16 && WORKER_BATCH_GROW_BYTES == (16u << 20), "--batch-max's help text");

typedef struct opts {
  int64_t port;
  const char *bind;
  const char *blob_url;
  const char *reader_url;
  const char *writer_url;
  const char *prune;
  int64_t batch_max;
  int64_t batch_wait_ms;
  uint64_t max_profile_bytes;
  uint64_t max_decoded_bytes;
  uint64_t max_base_bytes;
  int64_t backoff_max_ms;
  int64_t gauge_ttl_ms;
  int64_t window_ms;
  int64_t retention_ms;
  const char *log_level;
  int debug; /* autopgo's --debug: accepted, ignored */
} opts;

static volatile sig_atomic_t g_stop, g_reload;
static _Atomic int g_done;

typedef struct run_ctx {
  worker_config cfg;
  int rc;
  char err[1024];
} run_ctx;

static void *run_thread(void *arg) {
  run_ctx *c = arg;
  c->rc = worker_run(&c->cfg, &g_stop, &g_reload, c->err, sizeof c->err);
  g_done = 1;
  return NULL;
}

static int check_dep(void *ctx, char *err, size_t errlen, const char *name) {
  return worker_stats_dep((worker_stats *)ctx, name, err, errlen);
}
static int check_blob(void *ctx, char *err, size_t errlen) { return check_dep(ctx, err, errlen, "blob"); }
static int check_writer(void *ctx, char *err, size_t errlen) {
  return check_dep(ctx, err, errlen, "event-writer");
}
static int check_reader(void *ctx, char *err, size_t errlen) {
  return check_dep(ctx, err, errlen, "event-reader");
}
static int check_progress(void *ctx, char *err, size_t errlen) { return check_dep(ctx, err, errlen, "worker"); }

/* Parses and checks the flags into *o. Returns -1 to go on, or the exit
 * status (0 after --help or --version, 2 on a usage error). */
static int parse_opts(int argc, char **argv, opts *o, int *level) {
  memset(o, 0, sizeof *o);
  /* URLs are printed only up to their query: it may hold librdkafka secrets */
  svc_flag flags[] = {
      {"port", 'p', SVC_FLAG_INT, "8081", "port for health, readiness and metrics", &o->port, NULL, "PORT", 0},
      {"bind", 0, SVC_FLAG_STRING, "127.0.0.1", "address to listen on", &o->bind, NULL, "ADDR", 0},
      {"blob-store-url", 0, SVC_FLAG_STRING, "file://./data",
       "blob store: file:///DIR or s3://BUCKET?endpoint=...", &o->blob_url, NULL, "URL", 0},
      {"event-reader-url", 0, SVC_FLAG_STRING, "kafka://pgopipe-worker?topic=profiles",
       "events to consume: kafka://GROUP?topic=TOPIC (brokers from KAFKA_BROKERS) or "
       "nats://SUBJECT?durable=NAME (JetStream, servers from NATS_SERVER_URL)",
       &o->reader_url, NULL, "URL", 0},
      {"event-writer-url", 0, SVC_FLAG_STRING, "kafka://profiles",
       "where profile.merged is published: kafka://TOPIC or nats://SUBJECT", &o->writer_url, NULL, "URL", 0},
      {"prune", 0, SVC_FLAG_STRING, NULL,
       "prune rules JSON file (autopgo format); SIGHUP reloads it", &o->prune, NULL, "FILE", 0},
      {"batch-max", 0, SVC_FLAG_INT, "50",
       "most events handled per batch (one base write per app per batch), up to 16x as many (16 MiB "
       "of uploads) while a backlog is waiting; 1 = no batching",
       &o->batch_max, NULL, "N", 0},
      {"batch-wait", 0, SVC_FLAG_DURATION, "100ms",
       "after the first event, wait this long for more to batch", &o->batch_wait_ms, NULL, "DUR", 0},
      {"max-profile-bytes", 0, SVC_FLAG_SIZE, "67108864",
       "largest staged upload read; larger ones are moved to rejected/ (at least the servers' "
       "--max-profile-bytes)",
       &o->max_profile_bytes, NULL, "BYTES", 0},
      {"max-decoded-bytes", 0, SVC_FLAG_SIZE, "67108864",
       "largest staged upload after decompression, its in-memory profile included; larger ones are "
       "moved to rejected/ (at least the servers' --max-decoded-bytes)",
       &o->max_decoded_bytes, NULL, "BYTES", 0},
      {"max-base-bytes", 0, SVC_FLAG_SIZE, "536870912", "largest base profile read",
       &o->max_base_bytes, NULL, "BYTES", 0},
      {"retry-max", 0, SVC_FLAG_DURATION, "30s",
       "longest pause between retries of a failing store or bus", &o->backoff_max_ms, NULL, "DUR", 0},
      {"gauge-ttl", 0, SVC_FLAG_DURATION, "10m",
       "gauges (heap in-use, goroutines) of instances not seen this long leave the bases",
       &o->gauge_ttl_ms, NULL, "DUR", 0},
      {"window", 0, SVC_FLAG_DURATION, "0",
       "each base holds the uploads of the last DUR, at hour granularity (0 = all time)",
       &o->window_ms, NULL, "DUR", 0},
      {"retention", 0, SVC_FLAG_DURATION, "168h",
       "hour buckets, kept uploads (history/) and instance states older than this are deleted; at "
       "least --window",
       &o->retention_ms, NULL, "DUR", 0},
      {"log-level", 'l', SVC_FLAG_STRING, "info", "debug|info|warn|error", &o->log_level, NULL,
       "LEVEL", 0},
      {"debug", 0, SVC_FLAG_BOOL, "false", "accepted for autopgo's command lines and ignored with a warning (its Go debug endpoints do not exist here)", &o->debug, NULL, NULL, 0},
  };
  size_t nflags = sizeof flags / sizeof flags[0];
  svc_cmd cmd = {"pgopipe-worker", NULL,
                 "Consumes profile events and merges every uploaded profile into the base of its app "
                 "and kind ({app}/default.pgo for CPU, {app}/kinds/KIND.pgo for the others) exactly "
                 "once, pruned by the app's rules. Serves /api/health, /api/ready and /metrics on "
                 "--port."};
  int prc = svc_flags_main(&cmd, flags, nflags, argc, argv, NULL, NULL);
  if (prc >= 0) return prc;
  if (svc_log_parse_level(o->log_level, level) != 0) {
    fprintf(stderr, "pgopipe-worker: --log-level: want debug, info, warn or error, not \"%s\"\n",
            o->log_level);
    return 2;
  }
  if (o->port < 0 || o->port > 65535) {
    fprintf(stderr, "pgopipe-worker: --port: %lld is not a port (0..65535)\n", (long long)o->port);
    return 2;
  }
  if (o->batch_max < 1 || o->batch_max > 100000) {
    fprintf(stderr, "pgopipe-worker: --batch-max: want 1..100000, not %lld\n",
            (long long)o->batch_max);
    return 2;
  }
  if (o->gauge_ttl_ms < 1000) {
    fprintf(stderr, "pgopipe-worker: --gauge-ttl: at least 1s\n");
    return 2;
  }
  if (o->retention_ms < 3600 * 1000) {
    fprintf(stderr, "pgopipe-worker: --retention: at least 1h\n");
    return 2;
  }
  if (o->window_ms < 0 || o->window_ms > o->retention_ms) {
    fprintf(stderr, "pgopipe-worker: --window: at most --retention (the hours it needs would be "
                    "deleted); 0 for all time\n");
    return 2;
  }
  if (o->batch_wait_ms > 600000) {
    fprintf(stderr, "pgopipe-worker: --batch-wait: at most 10m\n");
    return 2;
  }
  if (!strncmp(o->reader_url, "mem://", 6) || !strncmp(o->writer_url, "mem://", 6)) {
    fprintf(stderr, "pgopipe-worker: mem:// events exist only inside one process; run "
                    "pgopipe-server --worker for the embedded pipeline, or use kafka:// or nats://\n");
    return 2;
  }
  return -1;
}

/* What the daemon opens; closed by close_deps. */
typedef struct deps {
  rules_set *rules;
  blob_store *blob;
  bus_reader *reader;
  bus_writer *writer;
  svc_http *http;
  svc_metrics *metrics;
  worker_stats *st;
} deps;

/* Opens the store and the bus, loads the rules, creates the stats and
 * their metrics. Returns 0, or -1 after printing why. */
static int open_deps(const opts *o, deps *d) {
  char err[1024];
  if (o->prune && o->prune[0] && rules_load(o->prune, &d->rules, err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-worker: %s\n", err);
    return -1;
  }
  if (blob_open(o->blob_url, &d->blob, err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-worker: --blob-store-url %s: %s\n", o->blob_url, err);
    return -1;
  }
  if (bus_writer_open(o->writer_url, &d->writer, err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-worker: --event-writer-url %.*s: %s\n", (int)strcspn(o->writer_url, "?"),
            o->writer_url, err);
    return -1;
  }
  if (bus_reader_open(o->reader_url, &d->reader, err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-worker: --event-reader-url %.*s: %s\n", (int)strcspn(o->reader_url, "?"),
            o->reader_url, err);
    return -1;
  }
  d->st = worker_stats_new();
  d->metrics = svc_metrics_new();
  if (!d->st || !d->metrics || worker_stats_attach(d->st, d->metrics) != 0) {
    fprintf(stderr, "pgopipe-worker: out of memory\n");
    return -1;
  }
  return 0;
}

static void close_deps(deps *d) {
  svc_http_free(d->http);
  if (d->reader) bus_reader_close(d->reader); /* leaves the group */
  if (d->writer) bus_writer_close(d->writer);
  blob_close(d->blob);
  svc_metrics_free(d->metrics);
  worker_stats_free(d->st);
  rules_free(d->rules);
}

/* Serves health, readiness and metrics. Returns 0, or -1 after printing why. */
static int start_http(const opts *o, deps *d) {
  /* autopgo's dependency names, and the worker's own progress */
  static svc_dep checks[4];
  checks[0] = (svc_dep){"blob", check_blob, d->st};
  checks[1] = (svc_dep){"event-writer", check_writer, d->st};
  checks[2] = (svc_dep){"event-reader", check_reader, d->st};
  checks[3] = (svc_dep){"worker", check_progress, d->st};
  svc_http_config hc;
  memset(&hc, 0, sizeof hc);
  hc.bind = o->bind;
  hc.port = (int)o->port;
  hc.mode = SVC_HTTP_POOL;
  hc.threads = 1;
  hc.metrics = d->metrics;
  hc.name = "pgopipe-worker";
  char err[1024];
  if (svc_http_new(&hc, &d->http, err, sizeof err) != 0 ||
      svc_http_add_health(d->http, "/api/health", checks, 4) != 0 ||
      svc_http_add_ready(d->http, "/api/ready") != 0 ||
      svc_http_add_metrics(d->http, "/metrics", d->metrics) != 0 ||
      svc_http_start(d->http, err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-worker: http %s:%lld: %s\n", o->bind, (long long)o->port, err);
    return -1;
  }
  SVC_INFO("pgopipe-worker listening", SVC_STR("bind", o->bind),
           SVC_INT("port", svc_http_port(d->http)), SVC_STR("version", svc_version()));
  return 0;
}

/* Runs the worker on its thread until SIGTERM/SIGINT (SIGHUP reloads the
 * rules) or its own end. Returns 0, or -1 after printing why. */
static int run_worker(const opts *o, deps *d, int level) {
  run_ctx rctx;
  memset(&rctx, 0, sizeof rctx);
  rctx.cfg.blob = d->blob;
  rctx.cfg.reader = d->reader;
  rctx.cfg.writer = d->writer;
  rctx.cfg.prune_path = o->prune && o->prune[0] ? o->prune : NULL;
  rctx.cfg.rules = d->rules;
  rctx.cfg.batch_max = (size_t)o->batch_max;
  rctx.cfg.batch_wait_ms = (int)o->batch_wait_ms;
  rctx.cfg.max_profile_bytes = (size_t)o->max_profile_bytes;
  rctx.cfg.max_decoded_bytes = (size_t)o->max_decoded_bytes;
  rctx.cfg.max_base_bytes = (size_t)o->max_base_bytes;
  rctx.cfg.backoff_max_ms = (int)o->backoff_max_ms;
  rctx.cfg.gauge_ttl_ms = o->gauge_ttl_ms;
  rctx.cfg.window_ms = o->window_ms;
  rctx.cfg.retention_ms = o->retention_ms;
  rctx.cfg.reconcile = 0; /* Kafka keeps the events; see worker.h */
  rctx.cfg.stats = d->st;
  rctx.cfg.log = svc_core_logger();
  rctx.cfg.reader_url = o->reader_url;
  pthread_t th;
  if (pthread_create(&th, NULL, run_thread, &rctx) != 0) {
    fprintf(stderr, "pgopipe-worker: cannot start the worker thread\n");
    return -1;
  }
  int finished = 0;
  while (!finished) {
    int sig = svc_signals_wait(200);
    if (sig == SIGTERM || sig == SIGINT) {
      SVC_INFO("shutting down: finishing the current batch", SVC_INT("signal", sig));
      svc_http_set_ready(d->http, 0);
      g_stop = 1;
      finished = 1;
    } else if (sig == SIGHUP) {
      g_reload = 1;
    }
    if (!finished) svc_http_set_ready(d->http, worker_stats_ready(d->st));
    if (!finished && g_done) finished = 1;
  }
  pthread_join(th, NULL);
  if (rctx.rc != 0) {
    fprintf(stderr, "pgopipe-worker: %s\n", rctx.err);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  int level;
  int prc = parse_opts(argc, argv, &o, &level);
  if (prc >= 0) return prc;
  svc_log_set_level(level);
  if (o.debug) SVC_WARN("--debug ignored: autopgo's Go debug endpoints do not exist in pgopipe-worker");
  svc_memory_init();
  core_logger lg = svc_core_logger();
  bus_set_logger(&lg);
  blob_set_logger(&lg);
  char err[1024];
  if (svc_signals_block(err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-worker: %s\n", err);
    return 1;
  }
  deps d;
  memset(&d, 0, sizeof d);
  int rc = 1;
  if (open_deps(&o, &d) == 0 && start_http(&o, &d) == 0 && run_worker(&o, &d, level) == 0) rc = 0;
  close_deps(&d);
  if (rc == 0) SVC_INFO("pgopipe-worker stopped");
  return rc;
}
