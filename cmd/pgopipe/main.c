/*
 * main.c — the pgopipe command: finds the verb and hands it the rest of the
 * command line. Verbs live in their own files (offline.c: merge, prune,
 * inspect; client.c: the server verbs) and are listed in one table here, so
 * `pgopipe --help` always shows exactly what the binary can do.
 */
#include "cli.h"
#include "client_verbs.h"
#include "pgopipe_version.h"

#include <stdio.h>
#include <string.h>

struct verb {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct verb verbs[] = {
    {"merge", cli_merge, "merge profiles like `go tool pprof -proto`, optionally prune"},
    {"prune", cli_prune, "remove frames below matching functions (pprof Prune)"},
    {"inspect", cli_inspect, "print a profile's header, counts, totals and top functions"},
    {"export", cli_export, "write a profile as folded stacks, speedscope or Chrome JSON (-f FORMAT IN)"},
    {"pgo", cli_pgo, "the compiler's view: call sites entering/leaving the hot set (pgo diff OLD NEW)"},
    {"upload", cli_upload, "send a profile to the server for an app (-a APP FILE)"},
    {"download", cli_download, "fetch an app's base profile, in a format (APP [--kind K] [-f FORMAT] [-o FILE])"},
    {"list", cli_list, "list the merged base profiles on the server"},
    {"delete", cli_delete, "delete an app's merged base profile (APP)"},
    {"clean", cli_clean, "delete base profiles older and/or larger than given"},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: pgopipe [-l LEVEL] VERB [OPTIONS] [ARGS]\n"
          "       pgopipe --help | --version\n"
          "       pgopipe VERB --help\n\n"
          "Verbs:\n");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
  fprintf(f,
          "\nEvery verb, before or after its name:\n"
          "  -l, --log-level LEVEL  debug (say what the verb does on stderr), info, warn\n"
          "                         (no progress) or error (no warnings); env\n"
          "                         PGOPIPE_LOG_LEVEL (default info)\n"
          "\nEnvironment variables PGOPIPE_NAME may also be given by their autopgo name\n"
          "AUTOPGO_NAME (PGOPIPE_ wins).\n"
          "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

/* Takes -l LEVEL, -lLEVEL, --log-level LEVEL and --log-level=LEVEL out of
 * argv (anywhere before "--"), like autopgo's global flag, and sets the
 * level from it or from the environment. Returns -1 to go on (argc
 * updated), or the usage status after saying why. */
static int take_log_level(int *argc, char **argv) {
  const char *value = cli_getenv("LOG_LEVEL");
  const char *from = "PGOPIPE_LOG_LEVEL";
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      for (; i < *argc; i++) argv[out++] = argv[i];
      break;
    }
    const char *v = NULL;
    if (!strcmp(a, "-l") || !strcmp(a, "--log-level")) {
      if (i + 1 >= *argc) {
        fprintf(stderr, "pgopipe: %s needs a level (debug, info, warn or error)\n", a);
        return CLI_USAGE;
      }
      v = argv[++i];
    } else if (!strncmp(a, "--log-level=", 12)) {
      v = a + 12;
    } else if (!strncmp(a, "-l", 2) && a[2]) {
      v = a + 2;
    } else {
      argv[out++] = argv[i];
      continue;
    }
    value = v;
    from = "-l/--log-level";
  }
  argv[out] = NULL;
  *argc = out;
  if (value && cli_parse_log_level(value, &cli_log_level) != 0) {
    fprintf(stderr, "pgopipe: %s: bad level \"%s\" (want debug, info, warn or error)\n", from,
            value);
    return CLI_USAGE;
  }
  return -1;
}

int main(int argc, char **argv) {
  int rc = take_log_level(&argc, argv);
  if (rc >= 0) return rc;
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  const char *v = argv[1];
  if (!strcmp(v, "--help") || !strcmp(v, "-h") || !strcmp(v, "help")) {
    usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(v, "--version") || !strcmp(v, "version")) {
    printf("pgopipe %s\n", PGOPIPE_VERSION_STRING);
    return CLI_OK;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (!strcmp(v, verbs[i].name)) return verbs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "pgopipe: unknown verb \"%s\" (see pgopipe --help)\n", v);
  return CLI_USAGE;
}
