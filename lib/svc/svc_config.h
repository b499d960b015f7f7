/*
 * svc_config.h — command-line flags and their environment variables, from one
 * table per binary.
 *
 * Each flag has a long name (--blob-store-url), an optional short name (-p),
 * a type, a default, help text, and an environment variable named
 * PGOPIPE_<LONG_NAME_IN_CAPS> with '-' turned into '_' (PGOPIPE_BLOB_STORE_URL).
 * autopgo's name of the same variable, AUTOPGO_<LONG_NAME_IN_CAPS>, is read
 * too, so an autopgo deployment keeps its environment.
 * Precedence: command line > PGOPIPE_ > AUTOPGO_ > default. The same table
 * produces --help, so the documentation cannot drift from the parser.
 *
 * Accepted forms: --name=value, --name value, -p value, -pvalue, and for
 * booleans --name (true) or --name=false. "--" ends the flags. Arguments that
 * are not flags are returned in order as positionals.
 *
 * The parser never prints and never exits: it returns a code and a one-line
 * message, and the binary's main decides (usage errors exit 2).
 */
#ifndef PGOPIPE_SVC_CONFIG_H
#define PGOPIPE_SVC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum svc_flag_type {
  SVC_FLAG_STRING,   /* dest: const char ** (points into argv, environ or def; not copied) */
  SVC_FLAG_INT,      /* dest: int64_t *, decimal, may be negative */
  SVC_FLAG_BOOL,     /* dest: int * (0/1); values true/false, 1/0, yes/no, on/off */
  SVC_FLAG_DURATION, /* dest: int64_t * in milliseconds; "500ms", "30s", "5m", "24h" */
  SVC_FLAG_SIZE      /* dest: uint64_t * bytes; plain digits (or KiB/MiB/GiB) */
} svc_flag_type;

enum { SVC_SRC_DEFAULT = 0, SVC_SRC_ENV = 1, SVC_SRC_FLAG = 2 };

typedef struct svc_flag {
  const char *name;    /* long name without dashes: "blob-store-url" */
  char short_name;     /* 'p', or 0 for none */
  svc_flag_type type;
  const char *def;     /* default, in the textual form (parsed like a value); NULL = none */
  const char *help;    /* one line */
  void *dest;          /* where the value goes; see svc_flag_type */
  const char *env;     /* NULL: PGOPIPE_<NAME> (and its alias AUTOPGO_<NAME>);
                          "": no environment variable; else that name alone */
  const char *metavar; /* shown in --help ("URL", "FILE"); NULL: derived from the type */
  int source;          /* out: SVC_SRC_* — where the value came from */
} svc_flag;

/* What the binary is, for --help and --version. */
typedef struct svc_cmd {
  const char *name;    /* "pgopipe-server" */
  const char *args;    /* after "[flags]" in the usage line ("TARGETS.json"), or NULL */
  const char *summary; /* one paragraph */
} svc_cmd;

enum {
  SVC_FLAGS_OK = 0,
  SVC_FLAGS_HELP = 1,     /* --help / -h was given: print svc_flags_help, exit 0 */
  SVC_FLAGS_VERSION = 2,  /* --version was given: print svc_flags_version, exit 0 */
  SVC_FLAGS_EUSAGE = -1   /* bad flag/value; message in err; exit 2 */
};

/*
 * Parses argv[1..argc-1] against flags[0..n-1]. Defaults are applied first,
 * then environment variables, then the command line. Positionals are stored
 * in pos[] (capacity argc, pointers into argv) and counted in *npos (pos and
 * npos may be NULL when the binary takes none; then a positional is a usage
 * error). Returns SVC_FLAGS_*; on SVC_FLAGS_EUSAGE err holds one line such as
 * "--port: bad integer \"80x\"" or "PGOPIPE_BATCH_WAIT: bad duration ...".
 */
int svc_flags_parse(svc_flag *flags, size_t n, int argc, char **argv, char **pos, int *npos,
                    char *err, size_t errlen);

/*
 * The start of a daemon's main: svc_flags_parse, then --help or --version
 * written to stdout (returns 0, the exit status), or a usage error written
 * to stderr as "NAME: MESSAGE (see --help)" (returns 2). Returns -1 when
 * the flags are parsed and the program goes on. pos and npos as above.
 */
int svc_flags_main(const svc_cmd *cmd, svc_flag *flags, size_t n, int argc, char **argv, char **pos,
                   int *npos);

/* Writes the usage text generated from the table to out. */
void svc_flags_help(FILE *out, const svc_cmd *cmd, const svc_flag *flags, size_t n);

/* Writes "NAME VERSION\n" to out. */
void svc_flags_version(FILE *out, const svc_cmd *cmd);

/* Returns the flag with long name `name`, or NULL. */
svc_flag *svc_flags_find(svc_flag *flags, size_t n, const char *name);

/* Writes the environment variable name of f into buf ("PGOPIPE_PORT"). */
void svc_flag_env_name(const svc_flag *f, char *buf, size_t buflen);

/* Writes autopgo's name of f's variable into buf ("AUTOPGO_PORT"); "" when
 * f names its own variable or has none. */
void svc_flag_alias_name(const svc_flag *f, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif
