/*
 * worker_env.h — what the merge worker's test programs share: real Go CPU
 * profiles, a fresh file:// store and mem:// bus per scenario with a worker
 * on them, and the steps the other services would take (stage an upload,
 * publish its event, DELETE an app) plus ways to look at the result.
 *
 * Every test program takes PROFILE_DIR (cpu/NAME.pb.gz and heap.pb.gz, from
 * tests/worker/gen-profiles.sh) and calls wenv_init first and wenv_done
 * last. WORKER_TEST_DEBUG=1 shows the worker's log records on stderr.
 */
#ifndef PGOPIPE_TESTS_WORKER_ENV_H
#define PGOPIPE_TESTS_WORKER_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "blob.h"
#include "bus.h"
#include "check.h"
#include "pprof.h"
#include "rules.h"
#include "worker.h"

extern char g_cpu[64][1024]; /* CPU profiles, sorted by path */
extern size_t g_ncpu;
extern char g_heap[1024]; /* a heap profile */
extern char g_tmp[512];   /* a scratch directory, removed by wenv_done */

/* Loads the profile list and makes g_tmp. Returns 0, or the exit status. */
int wenv_init(int argc, char **argv, const char *prog);
void wenv_done(void);

/* A test case of a program, by name. */
typedef struct wenv_case {
  const char *name;
  void (*fn)(void);
} wenv_case;
/* Runs the case of cases[0..n) named name. Returns 1, or 0 (said on stderr,
 * with prog) when there is none. */
int wenv_run_case(const wenv_case *cases, size_t n, const char *name, const char *prog);

/* The worker's log records on stderr with WORKER_TEST_DEBUG set, else none. */
core_logger wenv_log(void);

/* A fresh store + bus per scenario, and a worker (not running) on them. */
typedef struct env {
  char dir[600];
  char url[700];
  char topic[64];
  blob_store *blob;
  bus_writer *wr;
  bus_reader *rd;
  worker_stats *st;
  worker *w;
  const rules_set *rules;
  /* the wall clock the worker measures the gauge TTL with (NULL: the real
   * one), and the TTL (0: the default); kept by env_restart */
  int64_t (*clock_ns)(void *ctx);
  void *clock_ctx;
  int64_t gauge_ttl_ms;
  /* the window and retention (0: the defaults); kept by env_restart */
  int64_t window_ms, retention_ms;
} env;

/* Opens a scenario; the worker merges up to batch_max messages at once and
 * reads staged objects up to max_profile bytes (0 = the default). */
void env_open(env *e, const rules_set *rules, size_t batch_max, size_t max_profile);
/* Gives the worker of e this clock and gauge TTL (a new worker on the same
 * store and bus, batches of up to batch_max). */
void env_set_clock(env *e, int64_t (*clock_ns)(void *ctx), void *ctx, int64_t gauge_ttl_ms,
                   size_t batch_max);
/* Gives the worker of e this window and retention (a new worker on the same
 * store and bus, batches of up to batch_max). */
void env_set_history(env *e, int64_t window_ms, int64_t retention_ms, size_t batch_max);
/* "Crash": drops the worker and the reader without committing more and
 * starts new ones; new_topic=1 also empties the bus (a new process's
 * in-process bus, offsets from 0). */
void env_restart(env *e, int new_topic);
void env_close(env *e);
/* The worker configuration of a scenario (the handles of e). */
worker_config env_config(const env *e, size_t batch_max, size_t max_profile);

/* Stages file under {app}/staging/{now}-{seq}, the key into key. */
void stage(env *e, const char *app, const char *file, char *key, size_t n);
/* Stages file under {app}/staging/{ns}-{seq}, a name with a chosen time. */
void stage_at(env *e, const char *app, const char *file, int64_t ns, char *key, size_t n);
/* Publishes an envelope of type for app (profileKey key, may be NULL). */
void publish(env *e, const char *type, const char *app, const char *key);
/* What the upload service does: stage, then publish profile.uploaded. key
 * may be NULL. */
void upload(env *e, const char *app, const char *file, char *key, size_t n);
/* What the server's DELETE does: publish profile.deleted, then remove the
 * base. The event's timestamp is ms (at_ms when >= 0, else now); returns it. */
int64_t server_delete(env *e, const char *app, int64_t at_ms);
/* Handles everything the bus has (including the profile.merged events the
 * worker itself publishes) in batches of up to `max`. */
void drain(env *e, size_t max);

int64_t wall_ns(void);
/* Returns once the wall clock's millisecond has moved past that of ns. */
void past_ms_of(int64_t ns);

uint8_t *slurp(const char *path, size_t *len);
pp_profile *decode_file(const char *path);
int exists(env *e, const char *key);
size_t count_prefix(env *e, const char *prefix);
/* The app's base, decoded (caller frees), or NULL. */
pp_profile *base_of(env *e, const char *app);
/* Total of sample value vi over a profile file. */
int64_t file_total(const char *file, size_t vi);
/* The number of names in a base's merge record. */
size_t record_size(const pp_profile *p);
worker_counts counts(env *e);
/* Polls pred(ctx) every 10 ms for up to ms; returns its last answer. */
int wait_for(int (*pred)(void *), void *ctx, int ms);

/* The object at key, decoded (caller frees), or NULL. */
pp_profile *env_get_profile(env *e, const char *key);
/* The bytes of key (caller frees; NULL when absent), their length into len. */
uint8_t *env_save_key(env *e, const char *key, size_t *len);
/* Puts key back as env_save_key found it (b, taken: deleted when NULL). */
void env_restore_key(env *e, const char *key, uint8_t *b, size_t len);
/* Writes p gzipped to path. Returns 0 or -1. */
int env_write_profile(const char *path, const pp_profile *p);
/* actual equals Go's profile.Merge of expected[0..n) by summary (`agents
 * compare`, the emulator at agents): a CHECK with `what` in its message.
 * Returns 1 when equal. */
int same_as_go(const char *agents, const char *what, pp_profile *const *expected, size_t n,
               const pp_profile *actual);

/* ---- Profiles of every kind ---- */

/* 1 when the sample type is a gauge (inuse_objects, inuse_space, goroutine). */
int is_gauge(const char *type);
/* A copy of p (caller frees), counter columns times cf, gauge columns times
 * gf, samples left all zero dropped. */
pp_profile *scaled(const pp_profile *p, int64_t cf, int64_t gf);
/* The counter part of p: scaled(p, 1, 0). */
pp_profile *counters(const pp_profile *p);
/* The gauge part of p: scaled(p, 0, 1). */
pp_profile *gauges(const pp_profile *p);
/* Go's Merge of copies of v[0..n) (caller frees). */
pp_profile *merged(pp_profile *const *v, size_t n);
/* Frees v[0..n). */
void free_all(pp_profile **v, size_t n);
/* The total of the column of sample type `type` (0 when p is NULL or has none). */
int64_t total_of(const pp_profile *p, const char *type);
/* Loads the profiles with samples among DIR/KIND/NAME.pb.gz, in name order,
 * into v[0..max) (caller frees them). Returns how many. */
size_t load_dir(const char *dir, const char *kind, pp_profile **v, size_t max);

/* The metadata the server writes into an upload's `pgopipe-upload:` comment. */
typedef struct up_meta {
  const char *kind, *mode, *source, *instance;
  int64_t time_ns;     /* 0: none */
  int64_t received_ns; /* 0: now */
} up_meta;
/* p as the server stages it: with the metadata comment of m (and its time
 * set to m->time_ns unless 0), encoded gzipped. Returns the bytes (caller
 * frees), their length into n. */
uint8_t *meta_encode(const pp_profile *p, const up_meta *m, size_t *n);

#endif
