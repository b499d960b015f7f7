/*
 * cli.h — what the pgopipe command's files share: the verb entry points that
 * main.c dispatches to, and small file helpers (whole-file reads with a size
 * cap, atomic writes) every verb that touches files uses.
 *
 * A verb is a function `int verb(int argc, char **argv)` where argv[0] is the
 * verb's name; it returns the process exit status: 0 success, 1 failure (after
 * printing one line on stderr naming the file involved), 2 usage error.
 * Adding a group of verbs = one new .c file + its lines in main.c's table.
 */
#ifndef PGOPIPE_CLI_H
#define PGOPIPE_CLI_H

#include "pprof.h"

#include <stddef.h>
#include <stdint.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Offline verbs (offline.c). */
int cli_merge(int argc, char **argv);
int cli_prune(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_export(int argc, char **argv); /* export.c */

/* The compiler's view of profiles: pgo diff (pgo.c). */
int cli_pgo(int argc, char **argv);

/* ---- Environment and log level (env.c) ---- */

/* The value of PGOPIPE_<name>, else of autopgo's AUTOPGO_<name>; NULL when
 * both are unset or empty. name is "API_URL", "APP", ... */
const char *cli_getenv(const char *name);

/* The log level of every verb (debug shows what a verb does on stderr;
 * warn hides progress; error hides warnings too), set by main.c from
 * -l/--log-level or PGOPIPE_LOG_LEVEL / AUTOPGO_LOG_LEVEL. */
enum { CLI_LOG_DEBUG = 0, CLI_LOG_INFO, CLI_LOG_WARN, CLI_LOG_ERROR };
extern int cli_log_level;

/* "debug", "info", "warn" or "error" (any case) into *level; 0 or -1. */
int cli_parse_log_level(const char *s, int *level);

/* "pgopipe VERB: debug: MESSAGE" on stderr at the debug level. */
void cli_debugf(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "pgopipe VERB: warning: MESSAGE" on stderr unless the level is error. */
void cli_warnf(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "pgopipe VERB: MESSAGE" on stderr (one line). */
void cli_errorf(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The name messages use for a path: "standard input" for "-". */
const char *cli_display_name(const char *path);

/*
 * Reads the whole of `path` ("-" = standard input) into a malloc'd buffer
 * (*out, caller frees; *len its size). Reading stops at max_bytes + 1 bytes,
 * so a caller with a size limit can tell "over the limit" without holding an
 * arbitrarily large file; the returned length then exceeds max_bytes.
 * Returns 0, or -1 with a message (naming the path) in err.
 */
int cli_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len,
                  char *err, size_t errlen);

/*
 * Writes buf to `path` atomically ("-" = standard output): a temporary file in
 * the same directory is written, fsync'd and renamed over path, so readers
 * never see a partial file and a failure leaves no file behind.
 * Returns 0, or -1 with a message naming the path in err.
 */
int cli_write_file_atomic(const char *path, const uint8_t *buf, size_t len,
                          char *err, size_t errlen);

/*
 * Reads `path` ("-" = standard input) under lim's input size limit
 * (PP_DEFAULT_MAX_INPUT when 0) and decodes it under lim. Returns the
 * profile (caller frees: pp_free), or NULL with the message for the user
 * (naming the path) in msg; CLI_LOAD_MSGLEN bytes hold any message whole.
 */
enum { CLI_LOAD_MSGLEN = 8192 + 512 };
pp_profile *cli_load_profile(const char *path, const pp_limits *lim, char *msg, size_t msglen);

/*
 * Sets the allocator up for a verb that builds large profiles and exits:
 * one heap for all threads, grown 64 MiB at a time and never trimmed,
 * large blocks from it rather than from a mapping each (so that freed
 * memory is used again instead of being returned and faulted in anew), and
 * huge pages asked for on it (madvise, as glibc's glibc.malloc.hugetlb=1
 * tunable would). A 4 MB base merged with an upload takes ~500 page faults
 * instead of ~9,000. Only advice: nothing fails if it is refused.
 */
void cli_big_heap(void);

/*
 * Parses a non-negative decimal size ("1048576"); returns 0 or -1 when the
 * text is not a plain number that fits in size_t.
 */
int cli_parse_size(const char *s, size_t *out);

#endif
