/*
 * scrape.h — pulling profiles from running Go services and uploading them:
 * the scrape targets file and one scrape round.
 *
 * A round is about one kind (scrape_config.kind): CPU profiles as before
 * (?seconds=, uploaded as plain native CPU uploads), or a snapshot kind
 * (heap, mutex, block, goroutine, threadcreate) fetched from
 * /debug/pprof/{kind} without seconds — the runtime's since-start view —
 * checked to be that kind, and uploaded with ?kind=K&instance=ADDRESS&
 * source=scraper, so the server keeps one instance per target and turns
 * its cumulative snapshots into deltas.
 *
 * A round fetches `{address}{path}?seconds=N` from every chosen target at
 * once on one curl multi handle (one thread, no thread per target), checks
 * each answer is a CPU profile (pp_decode + pp_check_cpu), and uploads each
 * good one to the server through the client module's request objects, on the
 * same multi handle, retrying transient upload failures with backoff. Each
 * target has its own timeout (duration + margin) and body limit, so a dead,
 * slow, failing or garbage-returning target costs only its own slot: the
 * others finish and upload as soon as their own answers are in.
 *
 * The round knows nothing of logs, metrics or signals: it reports every
 * target's result through a callback and polls a stop callback, and the
 * daemon (cmd/pgopipe-scraper) turns those into log lines, counters and
 * shutdown. That keeps it testable on its own against real HTTP servers.
 *
 * This lives next to the client rather than in lib/pipeline because its only
 * dependencies are the engine and the client: the scraper need not link the
 * blob stores and the Kafka client.
 */
#ifndef PGOPIPE_SCRAPE_H
#define PGOPIPE_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Targets file ---- */

#define SCRAPE_DEFAULT_PATH "/debug/pprof/profile"
#define SCRAPE_DEFAULT_MAX_FILE_BYTES (1u << 20) /* targets file */
#define SCRAPE_DEFAULT_MAX_TARGETS 10000

typedef struct scrape_target {
  char *address; /* "http://host:port", trailing '/' removed */
  char *path;    /* "/debug/pprof/profile" unless the entry says otherwise */
} scrape_target;

typedef struct scrape_targets {
  scrape_target *v;
  size_t n;
} scrape_targets;

typedef struct scrape_target_limits {
  size_t max_file_bytes; /* 0 = SCRAPE_DEFAULT_MAX_FILE_BYTES */
  size_t max_targets;    /* 0 = SCRAPE_DEFAULT_MAX_TARGETS */
} scrape_target_limits;

/*
 * Parses a targets document: a JSON array of objects
 *   [{"address": "http://localhost:6060", "path": "/debug/pprof/profile"}]
 * `address` is required (http:// or https://, no query); `path` is optional
 * and must start with '/'; other keys are ignored. An empty array is an
 * error (a scraper with nothing to scrape is a mistake worth reporting).
 * `name` (the file name) starts every message, with the entry index where
 * one is at fault: "targets.json: entry 2: \"address\" is missing".
 * On success *out holds new strings owned by the caller
 * (scrape_targets_free). On error *out is left empty.
 */
int scrape_targets_parse(const char *json, size_t len, const char *name,
                         const scrape_target_limits *lim, scrape_targets *out,
                         char *err, size_t errlen);

/* Reads and parses the file at path (size checked before reading). */
int scrape_targets_load(const char *path, const scrape_target_limits *lim,
                        scrape_targets *out, char *err, size_t errlen);

/* Frees the strings and the array; the struct is left empty. */
void scrape_targets_free(scrape_targets *t);

/*
 * Writes the URL fetched for t: address + path + "?seconds=N" (or
 * "&seconds=N" when path already has a query). Returns a malloc'd string
 * (caller frees) or NULL on ENOMEM.
 */
char *scrape_target_url(const scrape_target *t, long seconds);

/*
 * The URL of a snapshot kind for t: the address, then t's path with its
 * last segment "profile" replaced by the kind (the query dropped), or
 * "/debug/pprof/{kind}" when t's path does not end in "/profile". Returns
 * a malloc'd string (caller frees) or NULL on ENOMEM.
 */
char *scrape_target_kind_url(const scrape_target *t, const char *kind);

/*
 * Chooses which targets a round scrapes: k distinct indexes out of n, at
 * random (partial Fisher-Yates), in idx (room for n). k = 0 or k >= n
 * chooses all n, in random order. Returns the count. *rng is the state of a
 * xorshift generator (any non-zero seed).
 */
size_t scrape_sample(size_t n, size_t k, uint64_t *rng, size_t *idx);

/* ---- One round ---- */

typedef enum scrape_outcome {
  SCRAPE_OK = 0,        /* a valid CPU profile was fetched */
  SCRAPE_CONNECT_ERROR, /* connection refused, host not found */
  SCRAPE_TIMEOUT,       /* no complete answer within duration + margin */
  SCRAPE_NETWORK_ERROR, /* reset, empty reply, other transfer failure */
  SCRAPE_HTTP_ERROR,    /* answered with a status other than 200 */
  SCRAPE_TOO_LARGE,     /* body over max_body_bytes */
  SCRAPE_INVALID,       /* 200, but not a profile */
  SCRAPE_NOT_CPU,       /* a profile, but not a CPU profile */
  SCRAPE_ABORTED,       /* stopped by shutdown before it finished */
  SCRAPE_WRONG_KIND,    /* a snapshot round: a profile, but not of the round's kind */
  SCRAPE_OUTCOME_COUNT
} scrape_outcome;

/* Stable lowercase name used in logs and metric labels ("ok",
 * "connect_error", "timeout", "network_error", "http_error", "too_large",
 * "invalid", "not_cpu", "aborted", "wrong_kind"). */
const char *scrape_outcome_name(scrape_outcome o);

#define SCRAPE_DEFAULT_MARGIN_MS 10000
#define SCRAPE_DEFAULT_MAX_BODY (64u << 20)
#define SCRAPE_DEFAULT_DRAIN_MS 10000

typedef struct scrape_config {
  client_config api;      /* server URL, token, upload timeouts, attempts, backoff */
  const char *app;        /* uploads go to POST /api/profile/{app} */
  const char *kind;       /* NULL, "" or "cpu": CPU profiles; else a snapshot kind (heap, mutex,
                             block, goroutine, threadcreate) */
  int64_t duration_ms;    /* CPU profile length; sent as seconds (rounded up, >= 1) */
  int64_t margin_ms;      /* per-target timeout = duration + margin (0 = default); a
                             snapshot's is the margin alone */
  size_t max_body_bytes;  /* per-target body limit (0 = default) */
  int64_t drain_ms;       /* after stop: bound on finishing uploads (0 = default; <0 = none) */
} scrape_config;

typedef struct scrape_result {
  const char *kind;         /* the round's kind ("cpu", "heap", ...) */
  const char *address;      /* target address (valid during the callback) */
  const char *url;          /* URL fetched */
  scrape_outcome outcome;
  long http_status;         /* 0 when there was no answer */
  uint64_t bytes;           /* body bytes received */
  double fetch_seconds;
  const char *message;      /* why, when outcome != SCRAPE_OK; "" otherwise */
  /* upload, for SCRAPE_OK only */
  int upload_attempts;      /* 0 when no upload was tried */
  int uploaded;             /* 1 when the server stored it */
  const char *key;          /* stored key ("" unless uploaded) */
  const char *upload_error; /* last upload error ("" when uploaded) */
} scrape_result;

/* Called once per scraped target, when it is completely done (fetched and
 * uploaded, or failed). Pointers in r are valid only during the call. */
typedef void (*scrape_result_fn)(void *ud, const scrape_result *r);

/* Polled about every 100 ms; returning non-zero stops the round: fetches in
 * progress are aborted (SCRAPE_ABORTED) and uploads in progress may finish
 * within drain_ms. Once it has returned non-zero it is not called again. */
typedef int (*scrape_stop_fn)(void *ud);

/*
 * Runs one round over the n targets given (pointers; the round copies what
 * it needs, so the targets may be replaced from inside the callbacks).
 * Returns when every target is done. Returns 0, or a negative CLIENT_E*
 * code when the round could not run at all (bad config, ENOMEM); per-target
 * failures are results, not errors. on_result and should_stop may be NULL.
 */
int scrape_round(const scrape_config *cfg, const scrape_target *const *targets, size_t n,
                 scrape_result_fn on_result, scrape_stop_fn should_stop, void *ud,
                 char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
