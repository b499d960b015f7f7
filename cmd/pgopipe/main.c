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
          "usage: pgopipe VERB [OPTIONS] [ARGS]\n"
          "       pgopipe --help | --version\n"
          "       pgopipe VERB --help\n\n"
          "Verbs:\n");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
  fprintf(f, "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv) {
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
