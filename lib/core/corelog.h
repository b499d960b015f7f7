/*
 * corelog.h — how libraries hand log lines to the application.
 *
 * Libraries (lib/blob, lib/bus, lib/pipeline, ...) never print: they call a
 * core_log_fn the application installed, as librdkafka does with its log
 * callback. The daemons pass one that writes JSON lines (lib/svc's svc_log);
 * tests pass one that records. A library with no callback installed stays
 * silent.
 *
 * A record is a level, a message and key/value string pairs:
 * kv[2*i] is a key, kv[2*i+1] its value (NULL is written as null).
 */
#ifndef PGOPIPE_CORE_CORELOG_H
#define PGOPIPE_CORE_CORELOG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels, in the order of -l debug|info|warn|error. */
enum { CORE_LOG_DEBUG = 0, CORE_LOG_INFO = 1, CORE_LOG_WARN = 2, CORE_LOG_ERROR = 3 };

typedef void (*core_log_fn)(void *ctx, int level, const char *msg, const char *const *kv,
                            size_t npairs);

/* A callback and its context, as a library keeps them. */
typedef struct core_logger {
  core_log_fn fn; /* NULL = silent */
  void *ctx;
  int level;      /* records below it are not built (CORE_LOG_*) */
} core_logger;

/*
 * Emits one record through lg (NULL or no callback: nothing) when level is at
 * least lg->level. The variadic part is key, value, key, value, ... ended by
 * a NULL key; at most 16 pairs are passed on.
 */
void core_log(const core_logger *lg, int level, const char *msg, ...);

/* 1 when a record at `level` would reach the callback (skip costly fields). */
int core_log_enabled(const core_logger *lg, int level);

#ifdef __cplusplus
}
#endif
#endif
