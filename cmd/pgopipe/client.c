/*
 * client.c — pgopipe's server verbs: upload, download, list, delete, clean.
 *
 * Each verb parses its command line, builds a client (lib/client) from
 * --api-url / PGOPIPE_API_URL and the token from --auth-token-file /
 * PGOPIPE_AUTH_TOKEN, makes its calls and prints the result. Variables
 * are read through cli_getenv (autopgo's AUTOPGO_ names work too); clean
 * takes autopgo's short flags -d (--older-than) and -s (--larger-than). On failure it
 * prints one line naming the verb, the request (method and URL, hence the
 * app) and the server's own message, and exits 1. The profile bytes are the
 * server's business: upload sends the file as it is and lets the server
 * say what is wrong with it (400/413/422), so the CLI and the scraper see
 * the same rules.
 */
#include "client_verbs.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chrono.h"
#include "cli.h"
#include "client.h"
#include "export.h"
#include "layout.h"
#include "pgo.h"

#define ERRLEN 1024
#define DEFAULT_API_URL "http://localhost:8080"
#define MAX_UPLOAD_BYTES (64u << 20)  /* the server's default compressed-body limit */
#define PROGRESS_MIN_BYTES (1u << 20) /* progress only for downloads above 1 MiB */

enum { OPT_TOKEN_FILE = 256, OPT_OLDER, OPT_LARGER, OPT_KIND, OPT_KEEP, OPT_INSTANCE, OPT_FROM, OPT_TO };

struct copts {
  const char *verb;
  const char *api_url;
  const char *token_file;
  const char *app;
  const char *output;
  int64_t older_ms;   /* -1 = not given */
  int64_t larger;     /* -1 = not given */
  /* download: the read's parameters (NULL = the server's default) */
  const char *kind;     /* upload, download: --kind */
  const char *format;
  const char *keep;
  const char *instance; /* upload --instance */
  const char *from, *to; /* download --from/--to: a time range */
};

static const struct option long_opts[] = {
    {"api-url", required_argument, NULL, 'u'},
    {"auth-token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"app", required_argument, NULL, 'a'},
    {"output", required_argument, NULL, 'o'},
    {"older-than", required_argument, NULL, OPT_OLDER},
    {"larger-than", required_argument, NULL, OPT_LARGER},
    {"kind", required_argument, NULL, OPT_KIND},
    {"format", required_argument, NULL, 'f'},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"instance", required_argument, NULL, OPT_INSTANCE},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char common_help[] =
    "  -u, --api-url URL        server URL (env PGOPIPE_API_URL, default " DEFAULT_API_URL ")\n"
    "  --auth-token-file F      send the bearer token read from F (env PGOPIPE_AUTH_TOKEN)\n"
    "  -l, --log-level LEVEL    debug, info, warn or error (env PGOPIPE_LOG_LEVEL)\n"
    "  -h, --help               this help\n\n"
    "Every PGOPIPE_NAME variable may also be set as autopgo's AUTOPGO_NAME (PGOPIPE_ wins).\n"
    "Exit status: 0 success, 1 failure (the server's message on stderr), 2 usage error.\n";

static void help(const char *verb, FILE *f) {
  if (!strcmp(verb, "upload"))
    fprintf(f, "usage: pgopipe upload -a APP [--kind K [--instance ID]] FILE\n\n"
               "Sends the profile FILE (gzipped or raw profile.proto) to the server,\n"
               "which stages it for merging into APP's base profile. Transient failures\n"
               "(no connection, 5xx, 429) are retried with backoff. Prints the stored key.\n"
               "Without --kind FILE must be a CPU profile (the default.pgo base); with it,\n"
               "the server checks FILE's sample types against K (422 when they disagree).\n\n"
               "  -a, --app APP            application name (env PGOPIPE_APP)\n"
               "  --kind K                 cpu, heap (or allocs), mutex, block, goroutine or\n"
               "                           threadcreate\n"
               "  --instance ID            the process FILE comes from, for a cumulative\n"
               "                           snapshot (heap, mutex, block, threadcreate as\n"
               "                           /debug/pprof serves them): the server turns the\n"
               "                           snapshots of one ID into deltas\n");
  else if (!strcmp(verb, "download"))
    fprintf(f, "usage: pgopipe download APP [--kind K] [--from T --to T] [-f FORMAT] [--keep N]\n"
               "                        [-o FILE]\n\n"
               "Writes APP's merged base profile of a kind (default cpu) in a format\n"
               "(default pprof: the base as stored, ready for `go build -pgo=FILE`), or,\n"
               "with --from and --to, the merge of what was uploaded in that time range.\n"
               "The file is replaced atomically: it is never left half-written.\n\n"
               "  --kind K                 cpu, heap, mutex, block, goroutine or threadcreate\n"
               "                           (default cpu)\n"
               "  --from T, --to T         a time range [T, T): RFC 3339 (2026-11-21T12:00:00Z)\n"
               "                           or Unix seconds, both rounded down to the hour\n"
               "  -f, --format FORMAT      pprof (default), pgo (trimmed for go build -pgo),\n"
               "                           preprofile (Go 1.23+ -pgoprofile), folded,\n"
               "                           speedscope or chrome\n"
               "  --keep N                 format pgo: leaf-most locations kept per sample\n"
               "                           (default 2; 0 = every frame, for old compilers)\n"
               "  -o, --output FILE        output file (\"-\" = stdout; env PGOPIPE_OUTPUT); default\n"
               "                           the server's name for it: default.pgo (cpu, pprof\n"
               "                           and pgo), default.preprofile, APP.folded,\n"
               "                           APP.speedscope.json, APP.cpuprofile; other kinds\n"
               "                           APP-KIND.pb.gz, APP-KIND.folded, ...\n");
  else if (!strcmp(verb, "list"))
    fprintf(f, "usage: pgopipe list\n\n"
               "Lists the merged base profiles on the server, one line per base:\n"
               "app, kind, size, last modified, and the hours of history the server\n"
               "keeps of that kind (what download --from/--to can read): from the\n"
               "first hour's start to the last hour's end, and how many hours.\n\n");
  else if (!strcmp(verb, "delete"))
    fprintf(f, "usage: pgopipe delete APP\n\nDeletes APP's merged base profile.\n\n");
  else
    fprintf(f, "usage: pgopipe clean [--older-than DUR] [--larger-than BYTES]\n\n"
               "Deletes the merged base profiles last modified longer than DUR ago and/or\n"
               "larger than BYTES; with both, a profile matching either is deleted.\n"
               "Prints each profile it removed.\n\n"
               "  -d, --older-than DUR     e.g. 500ms, 30s, 5m, 24h (env PGOPIPE_OLDER_THAN)\n"
               "  -s, --larger-than BYTES  a plain number of bytes (env PGOPIPE_LARGER_THAN)\n");
  fputs(common_help, f);
}

static int set_older(struct copts *o, const char *v, const char *from) {
  if (chrono_parse_duration(v, &o->older_ms, NULL, 0) != 0) {
    cli_errorf(o->verb, "%s wants a duration like 30s, 5m or 24h, not \"%s\"", from, v);
    return CLI_USAGE;
  }
  return -1;
}

static int set_larger(struct copts *o, const char *v, const char *from) {
  size_t n;
  if (cli_parse_size(v, &n) != 0 || n > INT64_MAX) {
    cli_errorf(o->verb, "%s wants a number of bytes, not \"%s\"", from, v);
    return CLI_USAGE;
  }
  o->larger = (int64_t)n;
  return -1;
}

/* Returns -1 to go on, or the exit status (help, usage error). */
static int parse(struct copts *o, int argc, char **argv, const char *shortopts) {
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, shortopts, long_opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      help(o->verb, stdout);
      return CLI_OK;
    case 'u':
      o->api_url = optarg;
      break;
    case OPT_TOKEN_FILE:
      o->token_file = optarg;
      break;
    case 'a':
      o->app = optarg;
      break;
    case 'o':
      o->output = optarg;
      break;
    case OPT_FROM:
    case OPT_TO: {
      int64_t ms;
      if (strcmp(o->verb, "download") != 0) {
        cli_errorf(o->verb, "unknown option %s (see pgopipe %s --help)", argv[optind - 1], o->verb);
        return CLI_USAGE;
      }
      if (chrono_parse_time(optarg, &ms) != 0) {
        cli_errorf(o->verb, "%s \"%s\": want an RFC 3339 time (2026-11-21T12:00:00Z) or Unix seconds",
                   c == OPT_FROM ? "--from" : "--to", optarg);
        return CLI_USAGE;
      }
      *(c == OPT_FROM ? &o->from : &o->to) = optarg;
      break;
    }
    case OPT_INSTANCE:
      if (strcmp(o->verb, "upload") != 0) {
        cli_errorf(o->verb, "unknown option %s (see pgopipe %s --help)", argv[optind - 1], o->verb);
        return CLI_USAGE;
      }
      o->instance = optarg;
      break;
    case OPT_KIND:
      if (layout_kind_parse(optarg) == LAYOUT_KIND_NONE) {
        cli_errorf(o->verb, "--kind \"%s\": want cpu, heap, allocs, mutex, block, goroutine or threadcreate",
                   optarg);
        return CLI_USAGE;
      }
      o->kind = optarg;
      break;
    case 'f':
      if (!pp_export_format_find(optarg)) {
        cli_errorf(o->verb, "--format \"%s\": want pprof, pgo, preprofile, folded, speedscope or chrome",
                   optarg);
        return CLI_USAGE;
      }
      o->format = optarg;
      break;
    case OPT_KEEP: {
      unsigned k;
      char kerr[256];
      if (pp_pgo_keep_parse(optarg, &k, kerr, sizeof kerr) != 0) {
        cli_errorf(o->verb, "--keep: %s", kerr);
        return CLI_USAGE;
      }
      o->keep = optarg;
      break;
    }
    case 'd': /* autopgo's short name */
    case OPT_OLDER:
      if (set_older(o, optarg, "--older-than") >= 0) return CLI_USAGE;
      break;
    case 's': /* autopgo's short name */
    case OPT_LARGER:
      if (set_larger(o, optarg, "--larger-than") >= 0) return CLI_USAGE;
      break;
    case ':':
      cli_errorf(o->verb, "option %s needs a value (see pgopipe %s --help)", argv[optind - 1],
                 o->verb);
      return CLI_USAGE;
    default:
      cli_errorf(o->verb, "unknown option %s (see pgopipe %s --help)", argv[optind - 1],
                 o->verb);
      return CLI_USAGE;
    }
  }
  return -1;
}

/* The token in buf[0..len), trimmed like the server trims its own (file or
 * variable alike) into *token (malloc'd). Returns 0 or -1 after saying why,
 * naming `what`. */
static int trimmed_token(const struct copts *o, const char *what, const uint8_t *buf, size_t len,
                         char **token) {
  size_t a = 0, b = len;
  while (a < b && isspace(buf[a])) a++;
  while (b > a && isspace(buf[b - 1])) b--;
  if (a == b) {
    cli_errorf(o->verb, "auth token %s is empty", what);
    return -1;
  }
  for (size_t i = a; i < b; i++)
    if (buf[i] <= ' ' || buf[i] == 0x7f) {
      cli_errorf(o->verb, "auth token %s holds a space or a control character", what);
      return -1;
    }
  *token = malloc(b - a + 1);
  if (!*token) {
    cli_errorf(o->verb, "out of memory");
    return -1;
  }
  memcpy(*token, buf + a, b - a);
  (*token)[b - a] = '\0';
  return 0;
}

/* The token from --auth-token-file or PGOPIPE_AUTH_TOKEN, both trimmed (a
 * trailing newline of `echo` or of the file); NULL when neither. Returns 0
 * or -1 after printing the error. */
static int load_token(const struct copts *o, char **token) {
  *token = NULL;
  char what[1100];
  if (o->token_file) {
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[ERRLEN];
    if (cli_read_file(o->token_file, 64 * 1024, &buf, &len, err, sizeof err) != 0) {
      cli_errorf(o->verb, "auth token file %s", err);
      return -1;
    }
    if (len > 64 * 1024) {
      cli_errorf(o->verb, "auth token file %s: is larger than 64 KiB", o->token_file);
      free(buf);
      return -1;
    }
    snprintf(what, sizeof what, "file %s", o->token_file);
    int rc = trimmed_token(o, what, buf, len, token);
    free(buf);
    if (rc == 0) cli_debugf(o->verb, "bearer token from %s", o->token_file);
    return rc;
  }
  const char *env = getenv("PGOPIPE_AUTH_TOKEN");
  if (env && *env) {
    if (trimmed_token(o, "in PGOPIPE_AUTH_TOKEN", (const uint8_t *)env, strlen(env), token) != 0)
      return -1;
    cli_debugf(o->verb, "bearer token from PGOPIPE_AUTH_TOKEN");
  }
  return 0;
}

static client_t *make_client(const struct copts *o, char **token) {
  if (load_token(o, token) != 0) return NULL;
  const char *url = o->api_url;
  if (!url || !*url) url = cli_getenv("API_URL");
  if (!url || !*url) url = DEFAULT_API_URL;
  cli_debugf(o->verb, "server %s", url);
  client_config cfg = {.api_url = url, .token = *token};
  char err[ERRLEN];
  client_t *c = client_new(&cfg, err, sizeof err);
  if (!c) {
    cli_errorf(o->verb, "%s", err);
    free(*token);
    *token = NULL;
  }
  return c;
}

/* Frees what make_client made and passes the verb's exit status through. */
static int done(client_t *c, char *token, int status) {
  client_free(c);
  free(token);
  return status;
}

/* Prints a failed call and returns the exit status for it. */
static int report(const struct copts *o, int rc, const char *err) {
  if (rc == CLIENT_ENET && strstr(err, "cannot connect"))
    cli_errorf(o->verb, "%s (is pgopipe-server running there? see --api-url)", err);
  else
    cli_errorf(o->verb, "%s", err);
  return rc == CLIENT_EINVAL ? CLI_USAGE : CLI_FAIL;
}

static int want_args(const struct copts *o, int argc, int n, const char *what) {
  if (argc - optind != n) {
    cli_errorf(o->verb, "want %s, got %d argument%s (see pgopipe %s --help)", what,
               argc - optind, argc - optind == 1 ? "" : "s", o->verb);
    return 0;
  }
  return 1;
}

/* -1 when app is a valid name (layout_app_valid), else the usage status
 * after saying why. */
static int check_app(const struct copts *o, const char *app) {
  if (layout_app_valid(app))
    return -1;
  cli_errorf(o->verb, "invalid app name \"%s\": want 1-63 characters of a-z, 0-9 and '-'", app);
  return CLI_USAGE;
}

/* The verbs on one app (download, delete): the options, then exactly one
 * valid APP. Returns -1 to go on with *app set, or the exit status. */
static int parse_app_verb(struct copts *o, int argc, char **argv, const char *shortopts,
                          const char **app) {
  int rc = parse(o, argc, argv, shortopts);
  if (rc >= 0)
    return rc;
  if (!want_args(o, argc, 1, "one APP"))
    return CLI_USAGE;
  *app = argv[optind];
  return check_app(o, *app);
}

int cli_upload(int argc, char **argv) {
  struct copts o = {.verb = "upload", .older_ms = -1, .larger = -1};
  int rc = parse(&o, argc, argv, ":u:a:h");
  if (rc >= 0) return rc;
  if (!o.app || !*o.app) o.app = cli_getenv("APP");
  if (!o.app || !*o.app) {
    cli_errorf(o.verb, "missing -a APP (or PGOPIPE_APP)");
    return CLI_USAGE;
  }
  if (!want_args(&o, argc, 1, "one profile FILE")) return CLI_USAGE;
  if ((rc = check_app(&o, o.app)) >= 0)
    return rc;
  if (o.instance && !o.kind) {
    cli_errorf(o.verb, "--instance needs --kind (a CPU profile is a delta: it has no instance)");
    return CLI_USAGE;
  }
  const char *path = argv[optind];
  char err[ERRLEN];
  uint8_t *buf = NULL;
  size_t len = 0;
  if (cli_read_file(path, MAX_UPLOAD_BYTES, &buf, &len, err, sizeof err) != 0) {
    cli_errorf(o.verb, "%s", err);
    return CLI_FAIL;
  }
  if (len > MAX_UPLOAD_BYTES) {
    cli_errorf(o.verb, "%s: larger than %u bytes, the upload limit", path, MAX_UPLOAD_BYTES);
    free(buf);
    return CLI_FAIL;
  }
  char *token = NULL;
  client_t *c = make_client(&o, &token);
  if (!c) {
    free(buf);
    return CLI_FAIL;
  }
  char key[512];
  int attempts = 0;
  cli_debugf(o.verb, "POST /api/profile/%s with %s (%zu bytes)", o.app, path, len);
  int64_t t0 = chrono_mono_ns();
  client_upload_query q = {.kind = o.kind, .instance = o.instance};
  rc = client_upload_with(c, o.app, &q, buf, len, key, sizeof key, &attempts, err, sizeof err);
  cli_debugf(o.verb, "%d attempt%s, %.0f ms", attempts, attempts == 1 ? "" : "s",
             (double)(chrono_mono_ns() - t0) / 1e6);
  int status = CLI_OK;
  if (rc != CLIENT_OK)
    status = report(&o, rc, err);
  else
    printf("uploaded %s (%zu bytes) for %s: %s\n", path, len, o.app, key);
  free(buf);
  return done(c, token, status);
}

struct progress {
  const char *app;
  int shown;
};

static void show_progress(void *ud, uint64_t now, uint64_t total) {
  struct progress *p = ud;
  if ((total ? total : now) < PROGRESS_MIN_BYTES) return;
  if (total)
    fprintf(stderr, "\rdownloading %s: %.1f / %.1f MiB (%d%%)", p->app, (double)now / 1048576.0,
            (double)total / 1048576.0, (int)(now * 100 / total));
  else
    fprintf(stderr, "\rdownloading %s: %.1f MiB", p->app, (double)now / 1048576.0);
  p->shown = 1;
}

int cli_download(int argc, char **argv) {
  struct copts o = {.verb = "download", .older_ms = -1, .larger = -1};
  const char *app = NULL;
  int rc = parse_app_verb(&o, argc, argv, ":u:o:f:h", &app);
  if (rc >= 0) return rc;
  if (o.keep) {
    const pp_export_format *f = pp_export_format_find(o.format ? o.format : "pprof");
    if (!(f->reads & PP_EXPORT_READS_KEEP)) {
      cli_errorf(o.verb, "--keep applies to --format pgo only");
      return CLI_USAGE;
    }
  }
  if (!o.from != !o.to) {
    cli_errorf(o.verb, "--from and --to go together: a time range needs both ends");
    return CLI_USAGE;
  }
  if (o.from) {
    int64_t f, t;
    chrono_parse_time(o.from, &f);
    chrono_parse_time(o.to, &t);
    if (f / 3600000 >= t / 3600000) {
      cli_errorf(o.verb, "--from must be before --to once both are rounded down to the hour");
      return CLI_USAGE;
    }
  }
  /* no -o: PGOPIPE_OUTPUT, else the server's name for the download */
  const char *out = o.output ? o.output : cli_getenv("OUTPUT");
  char *token = NULL;
  client_t *c = make_client(&o, &token);
  if (!c) return CLI_FAIL;
  struct progress pr = {.app = app};
  client_download_opts dopts = {.kind = o.kind, .format = o.format, .keep = o.keep, .from = o.from, .to = o.to};
  if (isatty(STDERR_FILENO) && cli_log_level <= CLI_LOG_INFO) {
    dopts.progress = show_progress;
    dopts.progress_ud = &pr;
  }
  client_download_result res;
  char err[ERRLEN];
  cli_debugf(o.verb, "GET /api/profile/%s into %s", app, out ? out : "(the server's file name)");
  rc = client_download(c, app, out, &dopts, &res, err, sizeof err);
  if (pr.shown) fputc('\n', stderr);
  int status = CLI_OK;
  if (rc != CLIENT_OK)
    status = report(&o, rc, err);
  else if (strcmp(res.path, "-") != 0 && o.from)
    printf("wrote %s (%" PRIu64 " bytes): the %s profile of %s from %s to %s, format %s\n", res.path, res.bytes,
           o.kind ? layout_kind_name(layout_kind_parse(o.kind)) : "cpu", app, o.from, o.to,
           o.format ? o.format : "pprof");
  else if (strcmp(res.path, "-") != 0)
    printf("wrote %s (%" PRIu64 " bytes): the %s profile of %s, format %s\n", res.path, res.bytes,
           o.kind ? layout_kind_name(layout_kind_parse(o.kind)) : "cpu", app, o.format ? o.format : "pprof");
  return done(c, token, status);
}

static void format_size(uint64_t n, char *buf, size_t len) {
  if (n < 1024)
    snprintf(buf, len, "%" PRIu64 " B", n);
  else if (n < 1048576)
    snprintf(buf, len, "%.1f KiB", (double)n / 1024.0);
  else
    snprintf(buf, len, "%.1f MiB", (double)n / 1048576.0);
}

/* The merged profiles on the server, with the client that listed them
 * (list and clean). */
typedef struct listing {
  client_t *c;
  char *token;
  client_profile *ps;
  size_t n;
} listing;

/* -1 with l filled (listing_done frees it), or the exit status after
 * reporting (nothing left to free). */
static int fetch_list(const struct copts *o, listing *l) {
  memset(l, 0, sizeof *l);
  l->c = make_client(o, &l->token);
  if (!l->c) return CLI_FAIL;
  char err[ERRLEN];
  cli_debugf(o->verb, "GET /api/profile");
  int rc = client_list(l->c, &l->ps, &l->n, err, sizeof err);
  if (rc == CLIENT_OK) {
    cli_debugf(o->verb, "%zu merged profile%s", l->n, l->n == 1 ? "" : "s");
    return -1;
  }
  int status = report(o, rc, err);
  done(l->c, l->token, 0);
  return status;
}

static int listing_done(listing *l, int status) {
  client_profiles_free(l->ps, l->n);
  return done(l->c, l->token, status);
}

int cli_list(int argc, char **argv) {
  struct copts o = {.verb = "list", .older_ms = -1, .larger = -1};
  int rc = parse(&o, argc, argv, ":u:h");
  if (rc >= 0) return rc;
  if (!want_args(&o, argc, 0, "no arguments")) return CLI_USAGE;
  listing l;
  if ((rc = fetch_list(&o, &l)) >= 0) return rc;
  printf("%-40s %-12s %12s  %-20s  %s\n", "APP", "KIND", "SIZE", "LAST MODIFIED", "HISTORY");
  for (size_t i = 0; i < l.n; i++)
    for (size_t k = 0; k < l.ps[i].nkinds; k++) {
      const client_base *b = &l.ps[i].kinds[k];
      char span[128] = "-";
      if (b->history.from[0])
        snprintf(span, sizeof span, "%s .. %s (%" PRId64 " hours)", b->history.from, b->history.to,
                 b->history.hours);
      printf("%-40s %-12s %12" PRIu64 "  %-20s  %s\n", l.ps[i].app, b->kind, b->size, b->last_modified, span);
    }
  return listing_done(&l, CLI_OK);
}

int cli_delete(int argc, char **argv) {
  struct copts o = {.verb = "delete", .older_ms = -1, .larger = -1};
  const char *app = NULL;
  int rc = parse_app_verb(&o, argc, argv, ":u:h", &app);
  if (rc >= 0) return rc;
  char *token = NULL;
  client_t *c = make_client(&o, &token);
  if (!c) return CLI_FAIL;
  char err[ERRLEN];
  cli_debugf(o.verb, "DELETE /api/profile/%s", app);
  rc = client_delete(c, app, NULL, err, sizeof err);
  int status = CLI_OK;
  if (rc != CLIENT_OK)
    status = report(&o, rc, err);
  else
    printf("deleted the base profile of %s\n", app);
  return done(c, token, status);
}

int cli_clean(int argc, char **argv) {
  struct copts o = {.verb = "clean", .older_ms = -1, .larger = -1};
  int rc = parse(&o, argc, argv, ":u:d:s:h");
  if (rc >= 0) return rc;
  if (!want_args(&o, argc, 0, "no arguments")) return CLI_USAGE;
  const char *ev;
  if (o.older_ms < 0 && (ev = cli_getenv("OLDER_THAN")) && set_older(&o, ev, "PGOPIPE_OLDER_THAN") >= 0)
    return CLI_USAGE;
  if (o.larger < 0 && (ev = cli_getenv("LARGER_THAN")) && set_larger(&o, ev, "PGOPIPE_LARGER_THAN") >= 0)
    return CLI_USAGE;
  if (o.older_ms < 0 && o.larger < 0) {
    cli_errorf(o.verb, "give --older-than DUR and/or --larger-than BYTES (see pgopipe clean --help)");
    return CLI_USAGE;
  }
  listing l;
  if ((rc = fetch_list(&o, &l)) >= 0) return rc;
  char err[ERRLEN];
  int64_t now_ms = chrono_now_ms();
  int status = CLI_OK;
  size_t removed = 0;
  for (size_t i = 0; i < l.n; i++) {
    client_profile *p = &l.ps[i];
    int old = 0, large = 0;
    if (o.older_ms >= 0) {
      if (p->last_modified_ms < 0)
        cli_warnf(o.verb, "%s: cannot read lastModified \"%s\", age not checked", p->app,
                  p->last_modified);
      else
        old = now_ms - p->last_modified_ms > o.older_ms;
    }
    if (o.larger >= 0) large = p->size > (uint64_t)o.larger;
    if (!old && !large) continue;
    cli_debugf(o.verb, "DELETE /api/profile/%s", p->app);
    long st = 0;
    rc = client_delete(l.c, p->app, &st, err, sizeof err);
    if (rc == CLIENT_EHTTP && st == 404) {
      cli_warnf(o.verb, "%s: already gone", p->app);
      continue;
    }
    if (rc != CLIENT_OK) {
      report(&o, rc, err);
      status = CLI_FAIL;
      continue;
    }
    char sz[32];
    format_size(p->size, sz, sizeof sz);
    printf("removed %s (%s, last modified %s%s%s)\n", p->app, sz, p->last_modified,
           old ? ", older than asked" : "", large ? ", larger than asked" : "");
    removed++;
  }
  printf("removed %zu of %zu merged profiles\n", removed, l.n);
  return listing_done(&l, status);
}
