/*
 * svc_log.h — structured logging: one JSON object per line on stderr.
 *
 *   {"time":"2026-11-21T12:16:34.964Z","level":"info","msg":"upload accepted","app":"demo","bytes":20480}
 *
 * Lines are built in memory and written with one write(2) under a mutex, so
 * lines from different threads never interleave. Strings are escaped as JSON
 * requires (quotes, backslash, control characters as \uXXXX) and invalid
 * UTF-8 is replaced by U+FFFD, so every line parses whatever a client sent.
 *
 * Fields are typed values built with the SVC_STR/SVC_INT/... macros:
 *   SVC_INFO("upload accepted", SVC_STR("app", app), SVC_INT("bytes", n));
 *   SVC_ERROR("blob put failed", SVC_STR("error", err));
 */
#ifndef PGOPIPE_SVC_LOG_H
#define PGOPIPE_SVC_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "corelog.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { SVC_LOG_DEBUG = 0, SVC_LOG_INFO = 1, SVC_LOG_WARN = 2, SVC_LOG_ERROR = 3 };

enum { SVC_FIELD_END = 0, SVC_FIELD_STR, SVC_FIELD_INT, SVC_FIELD_FLOAT, SVC_FIELD_BOOL };

typedef struct svc_field {
  const char *key; /* NULL ends the list */
  int kind;        /* SVC_FIELD_* */
  const char *s;   /* STR: NULL is written as null */
  int64_t i;       /* INT, BOOL */
  double d;        /* FLOAT */
} svc_field;

#define SVC_STR(k, v)   ((svc_field){.key = (k), .kind = SVC_FIELD_STR, .s = (v)})
#define SVC_INT(k, v)   ((svc_field){.key = (k), .kind = SVC_FIELD_INT, .i = (int64_t)(v)})
#define SVC_FLOAT(k, v) ((svc_field){.key = (k), .kind = SVC_FIELD_FLOAT, .d = (double)(v)})
#define SVC_BOOL(k, v)  ((svc_field){.key = (k), .kind = SVC_FIELD_BOOL, .i = !!(v)})
#define SVC_FEND        ((svc_field){.key = NULL, .kind = SVC_FIELD_END})

/* Logs msg with the fields that follow (svc_field values, ended by SVC_FEND;
 * the SVC_DEBUG..SVC_ERROR macros add the end marker). Thread-safe. */
void svc_log(int level, const char *msg, ...);

#define SVC_DEBUG(...) svc_log(SVC_LOG_DEBUG, __VA_ARGS__, SVC_FEND)
#define SVC_INFO(...)  svc_log(SVC_LOG_INFO, __VA_ARGS__, SVC_FEND)
#define SVC_WARN(...)  svc_log(SVC_LOG_WARN, __VA_ARGS__, SVC_FEND)
#define SVC_ERROR(...) svc_log(SVC_LOG_ERROR, __VA_ARGS__, SVC_FEND)

/* Same with an array of n fields. */
void svc_log_fields(int level, const char *msg, const svc_field *fields, size_t n);

/*
 * The adapter through which libraries log (corelog.h): writes the record as
 * one line like svc_log's, its key/value pairs as string fields (a NULL
 * value as null). Levels are the same numbers (CORE_LOG_x == SVC_LOG_x).
 * ctx is unused. Thread-safe.
 */
void svc_log_core(void *ctx, int level, const char *msg, const char *const *kv, size_t npairs);

/* A core_logger writing through svc_log_core at the current level
 * (svc_log_set_level first): what a daemon hands to its libraries. */
core_logger svc_core_logger(void);

/* Minimum level written (default info). */
void svc_log_set_level(int level);
int svc_log_get_level(void);
/* Returns 1 when a line at `level` would be written (skip costly fields). */
int svc_log_enabled(int level);

/* Parses "debug|info|warn|error" (also "warning"). Returns 0 or -1. */
int svc_log_parse_level(const char *s, int *level);

/* Redirects output to fd (default 2); for tests. */
void svc_log_set_fd(int fd);

/*
 * Appends s (len bytes) to the buffer *buf (size *cap, used *len_io) as a
 * JSON string with quotes, escaping as described above. Grows the buffer
 * with realloc (*buf owned by the caller). Returns 0 or -1 on ENOMEM.
 * Exposed because the HTTP layer builds JSON bodies with it too.
 */
int svc_json_append_str(char **buf, size_t *cap, size_t *len_io, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
