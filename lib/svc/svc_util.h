/*
 * svc_util.h — small helpers every daemon needs: size parsing (plain byte
 * counts), constant-time comparison, the auth token (file or environment),
 * and signal handling through signalfd. Durations, clocks, RFC 3339 times
 * and randomness are lib/core's (chrono.h, rnd.h).
 *
 * Signals: a daemon calls svc_signals_block() first thing in main, before it
 * starts any thread, so that SIGTERM/SIGINT/SIGHUP are blocked in every
 * thread and delivered only through svc_signals_wait() (a signalfd). No code
 * runs in signal-handler context, so handlers cannot race with the rest of
 * the program. SIGPIPE is ignored (a client that hangs up is an error value,
 * not a process death).
 */
#ifndef PGOPIPE_SVC_UTIL_H
#define PGOPIPE_SVC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version string of the build ("0.1.0"). */
const char *svc_version(void);

/*
 * Parses a size in bytes: plain digits ("1048576"), optionally with a
 * binary suffix KiB, MiB or GiB. Returns 0 or -1 with a message in err.
 */
int svc_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);

/* Compares two byte strings in time independent of where they differ (the
 * length of b is not hidden). Returns 1 when equal. */
int svc_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/*
 * Loads the bearer token: from `file` when it is non-NULL and non-empty,
 * otherwise from the environment variable `env_name` (e.g.
 * "PGOPIPE_AUTH_TOKEN"; unset or "" = none). Both are read by one rule:
 * surrounding whitespace (a trailing newline) is trimmed; what is left must
 * be non-empty and free of spaces and control characters, or it is an
 * error naming the file or variable. *token is malloc'd (caller frees) or
 * NULL when neither gives one. Returns 0 or -1 with a message in err.
 */
int svc_load_token(const char *file, const char *env_name, char **token, char *err, size_t errlen);

/* Returns 1 when `host` (an address or name given to --bind) is loopback:
 * 127.0.0.0/8, ::1 or "localhost". */
int svc_is_loopback(const char *host);

/*
 * Makes the allocator give memory back to the system instead of keeping a
 * daemon at its peak size after a burst of large uploads or merges: blocks
 * of 1 MiB and more are mapped and unmapped on their own (never kept in an
 * arena), and an arena's free top is returned once it passes 2 MiB
 * (glibc's defaults grow both thresholds up to 32/64 MiB after the first
 * large free, per arena, which kept hundreds of MiB for good). Call once
 * from main, before starting threads.
 */
void svc_memory_init(void);

/*
 * Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and so in every
 * thread created after), ignores SIGPIPE, and opens a signalfd for them.
 * Call once from main before starting threads. Returns 0 or -1 with err.
 */
int svc_signals_block(char *err, size_t errlen);

/* Waits up to timeout_ms (-1 = forever) for one of the blocked signals.
 * Returns the signal number, 0 on timeout, -1 on error. */
int svc_signals_wait(int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
