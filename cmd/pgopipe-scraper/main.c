/*
 * pgopipe-scraper — pulls CPU profiles (and, with -k, heap, mutex, block,
 * goroutine and threadcreate snapshots) from running Go services and
 * uploads them to pgopipe-server.
 *
 *   pgopipe-scraper [flags] TARGETS.json             (--mode file, the default)
 *   pgopipe-scraper --targets-url URL [flags]        (Prometheus http_sd)
 *   pgopipe-scraper --mode kube [flags]              (Kubernetes pods, as autopgo)
 *
 * Discovered targets (lib/client/discover.h) are fetched at start and again
 * every --targets-refresh (and on SIGHUP); a failed refresh keeps the
 * previous targets and turns the health dependency "targets" unhealthy.
 *
 * A thin main over lib/client's scrape rounds: parse flags (and their
 * PGOPIPE_* variables), load the targets, serve /api/health, /api/ready and
 * /metrics on --port, then every --frequency pick --sample-size targets at
 * random and run one round per kind of --kinds on them (scrape_round: all
 * fetches at once on one curl multi handle, check, upload with retries):
 * first the CPU window of --duration, then each snapshot kind. Each
 * target's result becomes a log line and counters here.
 *
 * Signals come through a signalfd (svc_signals_*), read in this one thread:
 * between rounds while waiting for the next, and during a round through the
 * round's stop callback, which it polls every 100 ms. SIGHUP re-reads
 * TARGETS.json at once (the running round keeps its own copy; an invalid file
 * is logged and the old targets stay). SIGTERM/SIGINT stop scheduling, abort
 * fetches in progress, give uploads in progress --drain-timeout to finish,
 * and exit 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "chrono.h"
#include "discover.h"
#include "layout.h"
#include "scrape.h"
#include "svc_config.h"
#include "svc_http.h"
#include "svc_log.h"
#include "svc_metrics.h"
#include "svc_util.h"

typedef struct opts {
  const char *api_url;
  const char *app;
  int64_t frequency_ms;
  int64_t duration_ms;
  int64_t sample_size;
  int64_t port;
  const char *bind;
  const char *token_file;
  const char *log_level;
  int64_t margin_ms;
  uint64_t max_profile_bytes;
  int64_t upload_attempts;
  int64_t upload_timeout_ms;
  int64_t drain_ms;
  const char *kinds;
  const char *mode;
  const char *targets_url;
  int64_t refresh_ms;
  const char *kube_api_url, *kube_token_file, *kube_ca_file;
  int debug; /* autopgo's --debug: accepted, ignored */
} opts;

enum { MODE_FILE, MODE_HTTP, MODE_KUBE };

/* --kinds, parsed: cpu first when asked for, then the snapshot kinds in
 * layout order. */
typedef struct kind_list {
  const char *v[LAYOUT_KIND_COUNT];
  size_t n;
} kind_list;

typedef struct state {
  const char *targets_path;
  const opts *o;
  int mode;                 /* MODE_* */
  scrape_targets targets;
  int stop;
  int64_t next_refresh_ns;  /* discovery modes */
  pthread_mutex_t mu;       /* guards discover_error (read by health) */
  char discover_error[1024]; /* "" while the last discovery worked */
  /* metrics */
  svc_metric *scrapes, *bytes, *uploads, *upload_failures, *upload_retries, *rounds, *ntargets,
      *reloads, *last_round, *kind_scrapes, *kind_uploads, *kind_last_ok, *discoveries;
  kind_list kinds;
  /* per round */
  unsigned r_ok, r_failed, r_uploaded;
} state;

/* A discovered pod or endpoint left out, and why. */
static void on_skip(void *ud, const char *what, const char *why) {
  (void)ud;
  SVC_INFO("discovered target left out", SVC_STR("target", what), SVC_STR("why", why));
}

/* Discovery modes: fetches the targets again; on failure the previous ones
 * stay and health says why. */
static void discover(state *st) {
  scrape_targets fresh = {0};
  char err[1024];
  int rc;
  const opts *o = st->o;
  if (st->mode == MODE_HTTP) {
    discover_http_config c = {.url = o->targets_url, .app = o->app};
    rc = discover_http(&c, &fresh, err, sizeof err);
  } else {
    discover_kube_config c = {.app = o->app,
                              .api_url = o->kube_api_url,
                              .token_file = o->kube_token_file,
                              .ca_file = o->kube_ca_file,
                              .skip = on_skip};
    rc = discover_kube(&c, &fresh, err, sizeof err);
  }
  pthread_mutex_lock(&st->mu);
  if (rc == CLIENT_OK) st->discover_error[0] = '\0';
  else snprintf(st->discover_error, sizeof st->discover_error, "%s", err);
  pthread_mutex_unlock(&st->mu);
  if (rc != CLIENT_OK) {
    svc_metric_add(st->discoveries, 1, "error");
    SVC_ERROR("target discovery failed; keeping the previous targets", SVC_STR("error", err),
              SVC_INT("targets", st->targets.n));
    return;
  }
  scrape_targets_free(&st->targets);
  st->targets = fresh;
  svc_metric_add(st->discoveries, 1, "ok");
  svc_metric_set(st->ntargets, (double)st->targets.n);
  SVC_DEBUG("targets discovered", SVC_INT("targets", st->targets.n));
}

/* Health of the discovery: its last error. */
static int check_targets(void *ctx, char *err, size_t errlen) {
  state *st = ctx;
  pthread_mutex_lock(&st->mu);
  int bad = st->discover_error[0] != '\0';
  if (bad) snprintf(err, errlen, "%s", st->discover_error);
  pthread_mutex_unlock(&st->mu);
  return bad ? -1 : 0;
}

static void reload(state *st) {
  if (st->mode != MODE_FILE) {
    discover(st);
    st->next_refresh_ns = chrono_mono_ns() + st->o->refresh_ms * 1000000;
    return;
  }
  scrape_targets fresh;
  char err[1024];
  int rc = scrape_targets_load(st->targets_path, NULL, &fresh, err, sizeof err);
  if (rc != CLIENT_OK) {
    svc_metric_add(st->reloads, 1, "error");
    SVC_ERROR("targets reload failed; keeping the previous targets", SVC_STR("file", st->targets_path),
              SVC_STR("error", err), SVC_INT("targets", st->targets.n));
    return;
  }
  scrape_targets_free(&st->targets);
  st->targets = fresh;
  svc_metric_add(st->reloads, 1, "ok");
  svc_metric_set(st->ntargets, (double)st->targets.n);
  SVC_INFO("targets reloaded", SVC_STR("file", st->targets_path), SVC_INT("targets", st->targets.n));
}

/* Handles every pending signal; returns 1 once a stop was asked. */
static int drain_signals(state *st, int timeout_ms) {
  for (;;) {
    int sig = svc_signals_wait(timeout_ms);
    if (sig <= 0) break;
    timeout_ms = 0;
    if (sig == SIGHUP) {
      reload(st);
    } else if (sig == SIGTERM || sig == SIGINT) {
      if (!st->stop)
        SVC_INFO("shutting down", SVC_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      st->stop = 1;
    }
  }
  return st->stop;
}

static int should_stop(void *ud) { return drain_signals(ud, 0); }

static void on_result(void *ud, const scrape_result *r) {
  state *st = ud;
  svc_metric_add(st->scrapes, 1, scrape_outcome_name(r->outcome));
  svc_metric_add(st->kind_scrapes, 1, r->kind, scrape_outcome_name(r->outcome));
  svc_metric_add(st->bytes, (double)r->bytes);
  if (r->outcome != SCRAPE_OK) {
    st->r_failed++;
    int lvl = r->outcome == SCRAPE_ABORTED ? SVC_LOG_INFO : SVC_LOG_WARN;
    svc_field f[] = {SVC_STR("kind", r->kind), SVC_STR("target", r->address), SVC_STR("url", r->url),
                     SVC_STR("outcome", scrape_outcome_name(r->outcome)),
                     SVC_INT("status", r->http_status), SVC_INT("bytes", r->bytes),
                     SVC_FLOAT("seconds", r->fetch_seconds), SVC_STR("error", r->message)};
    svc_log_fields(lvl, "scrape failed", f, sizeof f / sizeof f[0]);
    return;
  }
  st->r_ok++;
  if (r->upload_attempts > 1) svc_metric_add(st->upload_retries, (double)(r->upload_attempts - 1));
  if (r->uploaded) {
    st->r_uploaded++;
    svc_metric_add(st->uploads, 1);
    svc_metric_add(st->kind_uploads, 1, r->kind);
    svc_metric_set(st->kind_last_ok, (double)chrono_now_ms() / 1000.0, r->kind);
    SVC_INFO("profile uploaded", SVC_STR("kind", r->kind), SVC_STR("target", r->address), SVC_STR("url", r->url),
             SVC_INT("bytes", r->bytes),
             SVC_FLOAT("seconds", r->fetch_seconds), SVC_STR("key", r->key),
             SVC_INT("attempts", r->upload_attempts));
  } else {
    svc_metric_add(st->upload_failures, 1);
    SVC_ERROR("upload failed", SVC_STR("kind", r->kind), SVC_STR("target", r->address), SVC_INT("bytes", r->bytes),
              SVC_INT("attempts", r->upload_attempts), SVC_STR("error", r->upload_error));
  }
}

/* Parses --kinds ("cpu,heap,mutex"; allocs is heap) into k. Returns 0, or
 * -1 with the reason in buf. */
static int parse_kinds(const char *s, kind_list *k, char *buf, size_t n) {
  int want[LAYOUT_KIND_COUNT] = {0};
  const char *p = s;
  k->n = 0;
  while (*p) {
    size_t l = strcspn(p, ",");
    char name[32];
    if (l == 0 || l >= sizeof name) {
      snprintf(buf, n, "--kinds \"%s\": want a comma-separated list of cpu, heap, mutex, block, goroutine, "
                       "threadcreate", s);
      return -1;
    }
    memcpy(name, p, l);
    name[l] = '\0';
    layout_kind kind = layout_kind_parse(name);
    if (kind == LAYOUT_KIND_NONE) {
      snprintf(buf, n, "--kinds: unknown kind \"%s\" (want cpu, heap, mutex, block, goroutine, threadcreate)",
               name);
      return -1;
    }
    want[kind] = 1;
    p += l;
    if (*p == ',') p++;
  }
  for (int i = 0; i < LAYOUT_KIND_COUNT; i++)
    if (want[i]) k->v[k->n++] = layout_kind_name((layout_kind)i);
  if (k->n == 0) {
    snprintf(buf, n, "--kinds is empty");
    return -1;
  }
  return 0;
}

/* The mode the flags choose: --mode, or http with --targets-url. -1 when
 * unknown. */
static int mode_of(const opts *o) {
  if (!strcmp(o->mode, "kube")) return MODE_KUBE;
  if (!strcmp(o->mode, "http")) return MODE_HTTP;
  if (!strcmp(o->mode, "file")) return o->targets_url && *o->targets_url ? MODE_HTTP : MODE_FILE;
  return -1;
}

/* The usage error in o (and the count of positional arguments), or NULL. */
static const char *check_opts(const opts *o, int npos, char *buf, size_t n) {
  int lvl;
  int mode = mode_of(o);
  if (mode < 0) {
    snprintf(buf, n, "--mode \"%s\": want file, http or kube", o->mode);
    return buf;
  }
  if (mode == MODE_FILE && npos != 1) {
    snprintf(buf, n, "want exactly one TARGETS.json argument, got %d", npos);
    return buf;
  }
  if (mode != MODE_FILE && npos != 0)
    return mode == MODE_KUBE ? "--mode kube takes no argument (kubeconfig files are not read: the scraper "
                               "runs in the cluster, or is given --kube-api-url, --kube-token-file and "
                               "--kube-ca-file)"
                             : "--targets-url takes no TARGETS.json argument";
  if (mode == MODE_HTTP && (!o->targets_url || (strncmp(o->targets_url, "http://", 7) &&
                                                strncmp(o->targets_url, "https://", 8))))
    return "--mode http needs --targets-url http://... or https://...";
  if (mode == MODE_KUBE && o->targets_url && *o->targets_url)
    return "--targets-url and --mode kube exclude each other";
  if (mode != MODE_FILE && o->refresh_ms < 1000) return "--targets-refresh must be at least 1s";
  if (!o->app || !*o->app)
    return "--app (or PGOPIPE_APP) is required";
  if (!layout_app_valid(o->app)) {
    snprintf(buf, n, "--app \"%s\": want 1-63 characters of a-z, 0-9 and '-'", o->app);
    return buf;
  }
  if (o->frequency_ms <= 0)
    return "--frequency must be more than 0";
  if (o->duration_ms < 1000)
    return "--duration must be at least 1s (profiles are asked for in whole seconds)";
  if (o->sample_size < 0)
    return "--sample-size must be 0 (all) or more";
  if (o->port < 0 || o->port > 65535)
    return "--port must be 0..65535";
  if (o->upload_attempts < 1 || o->upload_attempts > 100)
    return "--upload-attempts must be 1..100";
  if (svc_log_parse_level(o->log_level, &lvl) != 0) {
    snprintf(buf, n, "--log-level \"%s\": want debug, info, warn or error", o->log_level);
    return buf;
  }
  kind_list k;
  if (parse_kinds(o->kinds, &k, buf, n) != 0) return buf;
  return NULL;
}

/* Parses the command line into o and *targets_path. Returns -1 to go on,
 * or the exit status (0 after --help/--version, 2 on a usage error). */
static int parse_args(opts *o, int argc, char **argv, const char **targets_path) {
  svc_flag flags[] = {
      {"api-url", 'u', SVC_FLAG_STRING, "http://localhost:8080", "pgopipe-server to upload to",
       &o->api_url, NULL, "URL", 0},
      {"app", 'a', SVC_FLAG_STRING, NULL, "application the profiles belong to (required)", &o->app,
       NULL, "APP", 0},
      {"frequency", 'f', SVC_FLAG_DURATION, "60s",
       "time between the starts of two rounds; the first starts at once (autopgo waits one "
       "--frequency first)",
       &o->frequency_ms, NULL, "DUR", 0},
      {"duration", 'd', SVC_FLAG_DURATION, "30s",
       "profile length asked of each target (?seconds=, whole seconds)", &o->duration_ms, NULL,
       "DUR", 0},
      {"sample-size", 's', SVC_FLAG_INT, "0",
       "targets scraped per round, at random; 0 = all (autopgo scrapes none at 0, a setting "
       "that does nothing, so 0 means every target here)",
       &o->sample_size, NULL, "N", 0},
      {"port", 'p', SVC_FLAG_INT, "8082", "port for health, readiness and metrics", &o->port, NULL,
       "PORT", 0},
      {"bind", 0, SVC_FLAG_STRING, "127.0.0.1", "address to listen on", &o->bind, NULL, "ADDR", 0},
      {"auth-token-file", 0, SVC_FLAG_STRING, NULL,
       "file holding the server's bearer token (else PGOPIPE_AUTH_TOKEN)", &o->token_file, NULL,
       "FILE", 0},
      {"log-level", 'l', SVC_FLAG_STRING, "info", "debug|info|warn|error", &o->log_level, NULL,
       "LEVEL", 0},
      {"timeout-margin", 0, SVC_FLAG_DURATION, "10s",
       "a target gets --duration plus this long to answer", &o->margin_ms, NULL, "DUR", 0},
      {"max-profile-bytes", 0, SVC_FLAG_SIZE, "67108864", "largest answer accepted from a target",
       &o->max_profile_bytes, NULL, "BYTES", 0},
      {"upload-attempts", 0, SVC_FLAG_INT, "4",
       "attempts per upload (transient failures: no connection, 5xx, 429)", &o->upload_attempts,
       NULL, "N", 0},
      {"upload-timeout", 0, SVC_FLAG_DURATION, "60s", "bound on one upload request",
       &o->upload_timeout_ms, NULL, "DUR", 0},
      {"drain-timeout", 0, SVC_FLAG_DURATION, "10s",
       "on SIGTERM, how long uploads in progress may still take", &o->drain_ms, NULL, "DUR", 0},
      {"kinds", 'k', SVC_FLAG_STRING, "cpu",
       "profiles pulled each round, comma-separated: cpu (a --duration window), then the snapshots heap, "
       "mutex, block, goroutine, threadcreate (/debug/pprof/KIND, uploaded with ?kind= and ?instance=ADDRESS)",
       &o->kinds, NULL, "LIST", 0},
      {"mode", 'm', SVC_FLAG_STRING, "file",
       "where targets come from: file (TARGETS.json), http (--targets-url) or kube (pods labelled "
       "autopgo.scrape=true and autopgo.scrape.app=APP, all namespaces)",
       &o->mode, NULL, "MODE", 0},
      {"targets-url", 0, SVC_FLAG_STRING, NULL,
       "Prometheus http_sd URL answering [{\"targets\":[\"host:port\"],\"labels\":{...}}] (implies --mode http)",
       &o->targets_url, NULL, "URL", 0},
      {"targets-refresh", 0, SVC_FLAG_DURATION, "60s",
       "how often discovered targets are fetched again (http, kube; SIGHUP: at once)", &o->refresh_ms,
       NULL, "DUR", 0},
      {"kube-api-url", 0, SVC_FLAG_STRING, NULL,
       "Kubernetes API server (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)",
       &o->kube_api_url, NULL, "URL", 0},
      {"kube-token-file", 0, SVC_FLAG_STRING, DISCOVER_KUBE_TOKEN, "bearer token for the API server",
       &o->kube_token_file, NULL, "FILE", 0},
      {"kube-ca-file", 0, SVC_FLAG_STRING, DISCOVER_KUBE_CA, "CA certificate of the API server",
       &o->kube_ca_file, NULL, "FILE", 0},
      {"debug", 0, SVC_FLAG_BOOL, "false", "accepted for autopgo's command lines and ignored with a warning (its Go debug endpoints do not exist here)", &o->debug, NULL, NULL, 0},
  };
  size_t nflags = sizeof flags / sizeof flags[0];
  svc_cmd cmd = {"pgopipe-scraper", "[TARGETS.json]",
                 "Every --frequency, fetches a CPU profile of --duration from --sample-size "
                 "targets at once, checks each is a CPU profile and uploads it to --api-url for "
                 "--app; then, for each snapshot kind of --kinds, fetches /debug/pprof/KIND from "
                 "the same targets and uploads it as that kind, the target's address being its "
                 "instance. Targets come from TARGETS.json ([{\"address\": \"http://host:port\", "
                 "\"path\": \"/debug/pprof/profile\"}]; SIGHUP reloads it), from an HTTP "
                 "service discovery URL (--targets-url) or from the Kubernetes API (--mode kube), "
                 "both refreshed every --targets-refresh. Serves /api/health, /api/ready and "
                 "/metrics on --port."};
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int npos = 0;
  if (!pos) return 1;
  int rc = svc_flags_main(&cmd, flags, nflags, argc, argv, pos, &npos);
  *targets_path = pos[0];
  free(pos);
  if (rc >= 0) return rc;
  char ubuf[512];
  const char *usage_err = check_opts(o, npos, ubuf, sizeof ubuf);
  if (!usage_err) return -1;
  fprintf(stderr, "pgopipe-scraper: %s (see --help)\n", usage_err);
  return 2;
}

/* The scraper's counters and gauges, registered in m, each label at 0. */
static void register_metrics(state *st, svc_metrics *m) {
  st->scrapes = svc_metrics_counter(m, "pgopipe_scraper_scrapes_total",
                                    "Scrapes of targets by outcome", "outcome");
  st->bytes = svc_metrics_counter(m, "pgopipe_scraper_scraped_bytes_total",
                                  "Bytes received from targets", NULL);
  st->uploads = svc_metrics_counter(m, "pgopipe_scraper_uploads_total",
                                    "Profiles stored by the server", NULL);
  st->upload_failures = svc_metrics_counter(m, "pgopipe_scraper_upload_failures_total",
                                            "Scraped profiles that could not be uploaded", NULL);
  st->upload_retries = svc_metrics_counter(m, "pgopipe_scraper_upload_retries_total",
                                           "Upload attempts after the first", NULL);
  st->rounds = svc_metrics_counter(m, "pgopipe_scraper_rounds_total", "Scrape rounds run", NULL);
  st->ntargets = svc_metrics_gauge(m, "pgopipe_scraper_targets", "Targets currently loaded", NULL);
  st->reloads = svc_metrics_counter(m, "pgopipe_scraper_target_reloads_total",
                                    "Reloads of the targets file by result", "result");
  st->last_round = svc_metrics_gauge(m, "pgopipe_scraper_last_round_timestamp_seconds",
                                     "Unix time the last round finished", NULL);
  st->kind_scrapes = svc_metrics_counter(m, "pgopipe_scraper_kind_scrapes_total",
                                         "Scrapes of targets by kind and outcome", "kind,outcome");
  st->kind_uploads = svc_metrics_counter(m, "pgopipe_scraper_kind_uploads_total",
                                         "Profiles stored by the server, by kind", "kind");
  st->kind_last_ok = svc_metrics_gauge(m, "pgopipe_scraper_kind_last_upload_timestamp_seconds",
                                       "Unix time a profile of the kind was last stored", "kind");
  for (size_t k = 0; k < st->kinds.n; k++) {
    svc_metric_add(st->kind_uploads, 0, st->kinds.v[k]);
    svc_metric_add(st->kind_scrapes, 0, st->kinds.v[k], "ok");
  }
  st->discoveries = svc_metrics_counter(m, "pgopipe_scraper_discoveries_total",
                                        "Target discoveries (--targets-url, --mode kube) by result", "result");
  for (int i = 0; i < SCRAPE_OUTCOME_COUNT; i++)
    svc_metric_add(st->scrapes, 0, scrape_outcome_name((scrape_outcome)i));
  svc_metric_add(st->reloads, 0, "ok");
  svc_metric_add(st->reloads, 0, "error");
  svc_metric_add(st->discoveries, 0, "ok");
  svc_metric_add(st->discoveries, 0, "error");
  svc_metric_set(st->ntargets, (double)st->targets.n);
}

/* Serves /api/health, /api/ready and /metrics. NULL with err on failure.
 * Health has the dependency "targets" when they are discovered. */
static svc_http *serve(const opts *o, state *st, svc_metrics *m, char *err, size_t errlen) {
  svc_http_config hc = {
      .bind = o->bind, .port = (int)o->port, .threads = 2, .metrics = m, .name = "pgopipe-scraper"};
  svc_http *http = NULL;
  svc_dep deps[] = {{"targets", check_targets, st}};
  if (svc_http_new(&hc, &http, err, errlen) != 0 ||
      svc_http_add_health(http, "/api/health", deps, st->mode == MODE_FILE ? 0 : 1) != 0 ||
      svc_http_add_ready(http, "/api/ready") != 0 ||
      svc_http_add_metrics(http, "/metrics", m) != 0 || svc_http_start(http, err, errlen) != 0) {
    svc_http_free(http);
    return NULL;
  }
  svc_http_set_ready(http, 1);
  return http;
}

/* One round over --sample-size targets chosen at random, for each kind of
 * --kinds in turn (CPU first); logs and counts. */
static void one_round(const opts *o, state *st, const scrape_config *sc, uint64_t *rng,
                      int64_t next_ns) {
  char err[1024];
  int64_t start = chrono_mono_ns();
  size_t n = st->targets.n;
  if (n == 0) { /* discovery found none (yet) */
    SVC_INFO("round skipped: no targets");
    return;
  }
  size_t *idx = malloc(n * sizeof *idx);
  const scrape_target **chosen = malloc(n * sizeof *chosen);
  if (!idx || !chosen) {
    free(idx);
    free(chosen);
    SVC_ERROR("out of memory starting a round");
    return;
  }
  size_t k = scrape_sample(n, (size_t)o->sample_size, rng, idx);
  for (size_t i = 0; i < k; i++)
    chosen[i] = &st->targets.v[idx[i]];
  free(idx);
  for (size_t i = 0; i < st->kinds.n && !st->stop; i++) {
    scrape_config kc = *sc;
    kc.kind = st->kinds.v[i];
    int64_t kstart = chrono_mono_ns();
    st->r_ok = st->r_failed = st->r_uploaded = 0;
    SVC_DEBUG("round started", SVC_STR("kind", kc.kind), SVC_INT("targets", k));
    int rc = scrape_round(&kc, chosen, k, on_result, should_stop, st, err, sizeof err);
    double ksecs = (double)(chrono_mono_ns() - kstart) / 1e9;
    if (rc != CLIENT_OK)
      SVC_ERROR("round failed", SVC_STR("kind", kc.kind), SVC_STR("error", err));
    else
      SVC_INFO("round done", SVC_STR("kind", kc.kind), SVC_INT("targets", k), SVC_INT("scraped", st->r_ok),
               SVC_INT("failed", st->r_failed), SVC_INT("uploaded", st->r_uploaded), SVC_FLOAT("seconds", ksecs));
  }
  free(chosen);
  svc_metric_add(st->rounds, 1);
  svc_metric_set(st->last_round, (double)chrono_now_ms() / 1000.0);
  double secs = (double)(chrono_mono_ns() - start) / 1e9;
  if (!st->stop && chrono_mono_ns() > next_ns)
    SVC_WARN("round took longer than --frequency; starting the next at once",
             SVC_FLOAT("seconds", secs), SVC_INT("frequency_ms", o->frequency_ms));
}

/* Runs a round every --frequency until a stop is asked. */
static void run_rounds(const opts *o, state *st, const char *token) {
  scrape_config sc = {
      .api = {.api_url = o->api_url,
              .token = token,
              .timeout_ms = (long)o->upload_timeout_ms,
              .upload_attempts = (int)o->upload_attempts},
      .app = o->app,
      .duration_ms = o->duration_ms,
      .margin_ms = o->margin_ms > 0 ? o->margin_ms : 1,
      .max_body_bytes = (size_t)o->max_profile_bytes,
      .drain_ms = o->drain_ms > 0 ? o->drain_ms : 1,
  };
  uint64_t rng = (uint64_t)chrono_now_ns() ^ ((uint64_t)getpid() << 32);
  int64_t next_ns = chrono_mono_ns();
  while (!st->stop) {
    int64_t now = chrono_mono_ns();
    if (st->mode != MODE_FILE && now >= st->next_refresh_ns) {
      discover(st);
      st->next_refresh_ns = chrono_mono_ns() + o->refresh_ms * 1000000;
      continue;
    }
    if (now < next_ns) {
      int64_t wait_ms = (next_ns - now + 999999) / 1000000;
      if (drain_signals(st, (int)(wait_ms > 1000 ? 1000 : wait_ms)))
        break;
      continue;
    }
    if (drain_signals(st, 0))
      break;
    next_ns = chrono_mono_ns() + o->frequency_ms * 1000000;
    one_round(o, st, &sc, &rng, next_ns);
  }
}

int main(int argc, char **argv) {
  opts o;
  memset(&o, 0, sizeof o);
  char err[1024];
  if (svc_signals_block(err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-scraper: %s\n", err);
    return 1;
  }
  state st;
  memset(&st, 0, sizeof st);
  int rc = parse_args(&o, argc, argv, &st.targets_path);
  if (rc >= 0)
    return rc;
  int lvl = SVC_LOG_INFO;
  svc_log_parse_level(o.log_level, &lvl); /* checked by parse_args */
  svc_log_set_level(lvl);
  parse_kinds(o.kinds, &st.kinds, err, sizeof err); /* checked by parse_args */
  if (o.debug) SVC_WARN("--debug ignored: autopgo's Go debug endpoints do not exist in pgopipe-scraper");
  st.o = &o;
  st.mode = mode_of(&o);
  pthread_mutex_init(&st.mu, NULL);

  if (st.mode == MODE_FILE) {
    rc = scrape_targets_load(st.targets_path, NULL, &st.targets, err, sizeof err);
    if (rc != CLIENT_OK) {
      SVC_ERROR("cannot load targets", SVC_STR("file", st.targets_path), SVC_STR("error", err));
      fprintf(stderr, "pgopipe-scraper: %s\n", err);
      return 1;
    }
  }
  char *token = NULL;
  if (svc_load_token(o.token_file, "PGOPIPE_AUTH_TOKEN", &token, err, sizeof err) != 0) {
    fprintf(stderr, "pgopipe-scraper: %s\n", err);
    scrape_targets_free(&st.targets);
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  svc_metrics *m = svc_metrics_new();
  register_metrics(&st, m);
  if (st.mode != MODE_FILE) { /* the first discovery; a failure is retried at the next refresh */
    discover(&st);
    st.next_refresh_ns = chrono_mono_ns() + o.refresh_ms * 1000000;
  }
  int exit_code = 0;
  svc_http *http = serve(&o, &st, m, err, sizeof err);
  if (!http) {
    SVC_ERROR("cannot serve health and metrics", SVC_STR("error", err));
    fprintf(stderr, "pgopipe-scraper: %s\n", err);
    exit_code = 1;
  } else {
    SVC_INFO("scraper started", SVC_STR("app", o.app), SVC_STR("kinds", o.kinds), SVC_STR("api_url", o.api_url),
             SVC_STR("mode", st.mode == MODE_FILE ? "file" : st.mode == MODE_HTTP ? "http" : "kube"),
             SVC_STR("targets_file", st.targets_path), SVC_INT("targets", st.targets.n),
             SVC_INT("frequency_ms", o.frequency_ms), SVC_INT("duration_ms", o.duration_ms),
             SVC_INT("sample_size", o.sample_size), SVC_INT("port", svc_http_port(http)));
    run_rounds(&o, &st, token);
    svc_http_set_ready(http, 0);
    svc_http_stop(http, 1000);
    svc_http_free(http);
  }
  svc_metrics_free(m);
  scrape_targets_free(&st.targets);
  pthread_mutex_destroy(&st.mu);
  free(token);
  curl_global_cleanup();
  if (exit_code == 0) SVC_INFO("scraper stopped");
  return exit_code;
}
