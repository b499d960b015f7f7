/*
 * env.c — what every pgopipe verb shares beyond files: the environment
 * variables (PGOPIPE_<NAME>, and autopgo's AUTOPGO_<NAME> read as an alias,
 * so an autopgo user's shell keeps working; ours win) and the log level
 * (-l/--log-level, taken by main.c from anywhere on the command line, like
 * autopgo's global flag).
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cli_log_level = CLI_LOG_INFO;

const char *cli_getenv(const char *name) {
  char var[128];
  static const char *const prefixes[] = {"PGOPIPE_", "AUTOPGO_"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    snprintf(var, sizeof var, "%s%s", prefixes[i], name);
    const char *v = getenv(var);
    if (v && *v) return v;
  }
  return NULL;
}

int cli_parse_log_level(const char *s, int *level) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (s && strcasecmp(s, names[i]) == 0) {
      *level = i;
      return 0;
    }
  return -1;
}

__attribute__((format(printf, 3, 0))) static void say(const char *verb, const char *what, const char *fmt,
                                                        va_list ap) {
  fprintf(stderr, "pgopipe %s: %s: ", verb, what);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void cli_debugf(const char *verb, const char *fmt, ...) {
  if (cli_log_level > CLI_LOG_DEBUG) return;
  va_list ap;
  va_start(ap, fmt);
  say(verb, "debug", fmt, ap);
  va_end(ap);
}

void cli_warnf(const char *verb, const char *fmt, ...) {
  if (cli_log_level > CLI_LOG_WARN) return;
  va_list ap;
  va_start(ap, fmt);
  say(verb, "warning", fmt, ap);
  va_end(ap);
}
