/*
 * offline.c — the verbs that work on profile files without a server:
 * merge, prune and inspect. Each is a thin layer over the engine (pprof.h):
 * parse the command line, read files, call the engine, write the result.
 *
 * merge reads its inputs one at a time and folds each into a pp_merger as soon
 * as it is decoded; with several CPUs the next inputs are decoded meanwhile
 * on threads of their own (at most one per CPU, up to 4). Peak memory is
 * about the result plus a few inputs, however many inputs there are. Compression uses the CPUs
 * online (pp_encode_mt; the bytes do not depend on how many). Output files
 * are written atomically (fileio.c): on any error no output file, partial or
 * whole, is left behind.
 */
#include "chrono.h"
#include "cli.h"
#include "pprof.h"

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERRLEN 512

/* Options merge and prune share. */
struct opts {
  const char *verb;
  const char *output;
  pp_rules *rules;
  const char *pending_drop; /* a --drop waiting for its optional --keep */
  const char *pending_keep;
  int level;
  pp_limits lim;
  int top;
};

enum { OPT_DROP = 256, OPT_KEEP, OPT_LEVEL, OPT_MAX_INPUT, OPT_MAX_DECODED, OPT_TOP };

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"drop", required_argument, NULL, OPT_DROP},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"max-input-bytes", required_argument, NULL, OPT_MAX_INPUT},
    {"max-decoded-bytes", required_argument, NULL, OPT_MAX_DECODED},
    {"top", required_argument, NULL, OPT_TOP},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char limits_help[] =
    "  --max-input-bytes N    refuse an input file larger than N bytes (default %u)\n"
    "  --max-decoded-bytes N  refuse a profile larger than N bytes after gunzip (default %u)\n";

static void help_merge(FILE *f) {
  fprintf(f,
          "usage: pgopipe merge -o OUT [--drop RX [--keep RX]]... IN...\n\n"
          "Merges the profiles IN... the way `go tool pprof -proto IN... > OUT` does\n"
          "(pprof Merge semantics: the first input's types win, inputs must have the\n"
          "same period and sample types), then applies each --drop/--keep pair in\n"
          "order with pprof Prune semantics, compacts, and writes a gzipped profile.\n"
          "Inputs are gzipped or raw profile.proto; \"-\" reads standard input.\n\n"
          "  -o, --output OUT       output file (\"-\" = standard output); written\n"
          "                         atomically, never left half-written\n"
          "  --drop RX              remove frames below (callee side of) functions whose\n"
          "                         simplified name matches RX (unanchored PCRE2 search)\n"
          "  --keep RX              ...except those matching RX (belongs to the --drop\n"
          "                         before it)\n"
          "  --level N              gzip level 0-12 of the output (default 6;\n"
          "                         10-12: slower, smaller)\n");
  fprintf(f, limits_help, PP_DEFAULT_MAX_INPUT, PP_DEFAULT_MAX_DECODED);
  fprintf(f, "\nExit status: 0 success, 1 failure (bad or incompatible input, I/O),\n"
             "2 usage error (including a regular expression that does not compile).\n");
}

static void help_prune(FILE *f) {
  fprintf(f,
          "usage: pgopipe prune -o OUT --drop RX [--keep RX] IN\n\n"
          "Applies pprof's Prune to one profile: in every stack, the frames below the\n"
          "rootmost function (above the first user frame) whose simplified name matches\n"
          "--drop and not --keep are removed; then samples with identical stacks are\n"
          "aggregated and unreferenced entries dropped. Further --drop/--keep pairs\n"
          "are applied in order. Names are simplified as pprof does: a Go method with a\n"
          "pointer receiver, e.g. sync.(*Mutex).Lock, is matched as \"sync.\".\n\n"
          "  -o, --output OUT       output file (\"-\" = standard output)\n"
          "  --drop RX, --keep RX   the rule (unanchored PCRE2 search)\n"
          "  --level N              gzip level 0-12 of the output (default 6;\n"
          "                         10-12: slower, smaller)\n");
  fprintf(f, limits_help, PP_DEFAULT_MAX_INPUT, PP_DEFAULT_MAX_DECODED);
  fprintf(f, "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

static void help_inspect(FILE *f) {
  fprintf(f,
          "usage: pgopipe inspect [--top N] IN\n\n"
          "Prints the profile's header (sample types, period, duration, time),\n"
          "table counts, the total of each sample type, and the top N functions\n"
          "(default 10) by flat and by cumulative value of the default sample type.\n\n"
          "  --top N                how many functions to list (0 = none)\n");
  fprintf(f, limits_help, PP_DEFAULT_MAX_INPUT, PP_DEFAULT_MAX_DECODED);
  fprintf(f, "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

/* Adds the pending --drop/--keep pair to the rule list. Returns an exit code. */
static int flush_rule(struct opts *o) {
  if (!o->pending_drop) return CLI_OK;
  char err[ERRLEN] = "";
  if (!o->rules && !(o->rules = pp_rules_new())) {
    cli_errorf(o->verb, "out of memory");
    return CLI_FAIL;
  }
  int rc = pp_rules_add(o->rules, o->pending_drop, o->pending_keep, err, sizeof err);
  o->pending_drop = o->pending_keep = NULL;
  if (rc == PP_EREGEX) {
    cli_errorf(o->verb, "%s", err);
    return CLI_USAGE;
  }
  if (rc != 0) {
    cli_errorf(o->verb, "%s", err[0] ? err : pp_strerror(rc));
    return CLI_FAIL;
  }
  return CLI_OK;
}

/*
 * Parses the options of every offline verb. Returns -1 when parsing succeeded
 * and the verb should run, otherwise the exit code to return (help printed:
 * 0; usage error: 2).
 */
static int parse(struct opts *o, int argc, char **argv, void (*help)(FILE *),
                 int allow_rules, int allow_output, int allow_top) {
  o->level = -1;
  o->top = 10;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
    size_t sz;
    int rc;
    switch (c) {
    case 'h':
      help(stdout);
      return CLI_OK;
    case 'o':
      if (!allow_output) goto bad;
      if (o->output) {
        cli_errorf(o->verb, "-o given twice");
        return CLI_USAGE;
      }
      o->output = optarg;
      break;
    case OPT_DROP:
      if (!allow_rules) goto bad;
      if ((rc = flush_rule(o)) != CLI_OK) return rc;
      o->pending_drop = optarg;
      break;
    case OPT_KEEP:
      if (!allow_rules) goto bad;
      if (!o->pending_drop || o->pending_keep) {
        cli_errorf(o->verb, "--keep %s must follow a --drop (one --keep per --drop)", optarg);
        return CLI_USAGE;
      }
      o->pending_keep = optarg;
      break;
    case OPT_LEVEL:
      if (!allow_output || cli_parse_size(optarg, &sz) != 0 || sz > 12) {
        cli_errorf(o->verb, "--level wants a number from 0 to 12, not \"%s\"", optarg);
        return CLI_USAGE;
      }
      o->level = (int)sz;
      break;
    case OPT_MAX_INPUT:
    case OPT_MAX_DECODED:
      if (cli_parse_size(optarg, &sz) != 0 || sz == 0) {
        cli_errorf(o->verb, "%s wants a positive number of bytes, not \"%s\"",
                   c == OPT_MAX_INPUT ? "--max-input-bytes" : "--max-decoded-bytes", optarg);
        return CLI_USAGE;
      }
      if (c == OPT_MAX_INPUT)
        o->lim.max_input_bytes = sz;
      else
        o->lim.max_decoded_bytes = sz;
      break;
    case OPT_TOP:
      if (!allow_top || cli_parse_size(optarg, &sz) != 0 || sz > 1000000) {
        cli_errorf(o->verb, "--top wants a number, not \"%s\"", optarg);
        return CLI_USAGE;
      }
      o->top = (int)sz;
      break;
    case ':':
      cli_errorf(o->verb, "option %s needs a value (see pgopipe %s --help)", argv[optind - 1], o->verb);
      return CLI_USAGE;
    default:
    bad:
      cli_errorf(o->verb, "unknown option %s (see pgopipe %s --help)", argv[optind - 1], o->verb);
      return CLI_USAGE;
    }
  }
  int rc = flush_rule(o);
  if (rc != CLI_OK) return rc;
  if (allow_output && !o->output) {
    cli_errorf(o->verb, "missing -o OUT (see pgopipe %s --help)", o->verb);
    return CLI_USAGE;
  }
  return -1;
}

/* Reads and decodes one input. Returns NULL after printing the error. */
static pp_profile *load(const char *verb, const char *path, const pp_limits *lim) {
  char msg[ERRLEN + 64];
  pp_profile *p = cli_load_profile(path, lim, msg, sizeof msg);
  if (!p) cli_errorf(verb, "%s", msg);
  return p;
}

/* Threads the engine may use: the CPUs online (at most 64). */
static int cpu_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/*
 * Decoding ahead of the merge: loader threads (one per CPU besides the
 * merge's own, at most AHEAD_MAX - 1) read and decode the next inputs while
 * the current one is folded into the result; a loader takes input i only
 * while i is fewer than `window` (loaders + 1) inputs past the last one the
 * merge took, so memory is the result plus at most window + 1 inputs.
 * Decoded inputs wait in slot i % window. The merge, one thread folding
 * every input in order, is the longest chain: loaders on every CPU would
 * take CPU time from it (50 profiles merged on 2 CPUs: ~10% longer with two
 * loaders than with one). Messages are printed by the merge, in input
 * order; after a failure nothing more is loaded.
 */
enum { AHEAD_MAX = 4 };

typedef struct ahead_slot {
  int full;
  pp_profile *p; /* NULL with msg when the input failed */
  char msg[ERRLEN + 64];
} ahead_slot;

typedef struct ahead {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char **paths;
  int n;
  const pp_limits *lim;
  int window;
  int next;  /* next input a loader takes */
  int taken; /* inputs the merge has taken */
  int stop;  /* the merge gave up */
  ahead_slot slot[AHEAD_MAX];
  pthread_t tid[AHEAD_MAX];
  int nthreads;
} ahead;

static void *ahead_run(void *arg) {
  ahead *a = arg;
  pthread_mutex_lock(&a->mu);
  for (;;) {
    while (!a->stop && a->next < a->n && a->next >= a->taken + a->window) pthread_cond_wait(&a->cv, &a->mu);
    if (a->stop || a->next >= a->n) break;
    int i = a->next++;
    pthread_mutex_unlock(&a->mu);
    char msg[sizeof a->slot[0].msg] = "";
    pp_profile *p = cli_load_profile(a->paths[i], a->lim, msg, sizeof msg);
    pthread_mutex_lock(&a->mu);
    ahead_slot *s = &a->slot[i % a->window];
    s->full = 1;
    s->p = p;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    if (!p) a->next = a->n; /* nothing after a failure */
    pthread_cond_broadcast(&a->cv);
  }
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

/* Starts `loaders` loader threads (at most AHEAD_MAX - 1); 0 when none
 * could start (then load in turn). */
static int ahead_start(ahead *a, char **paths, int n, const pp_limits *lim, int loaders) {
  memset(a, 0, sizeof *a);
  a->paths = paths;
  a->n = n;
  a->lim = lim;
  if (loaders > AHEAD_MAX - 1) loaders = AHEAD_MAX - 1;
  a->window = loaders + 1;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  for (int i = 0; i < loaders; i++)
    if (pthread_create(&a->tid[a->nthreads], NULL, ahead_run, a) == 0) a->nthreads++;
  if (a->nthreads) return 1;
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
  return 0;
}

/* Takes input i (inputs are taken in order); NULL after printing its error. */
static pp_profile *ahead_take(ahead *a, const char *verb, int i) {
  pthread_mutex_lock(&a->mu);
  ahead_slot *s = &a->slot[i % a->window];
  while (!s->full) pthread_cond_wait(&a->cv, &a->mu);
  pp_profile *p = s->p;
  s->full = 0;
  s->p = NULL;
  a->taken = i + 1;
  if (!p) cli_errorf(verb, "%s", s->msg);
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  return p;
}

/* Stops the loaders, waits for them and frees what they decoded. */
static void ahead_stop(ahead *a) {
  pthread_mutex_lock(&a->mu);
  a->stop = 1;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  for (int i = 0; i < a->nthreads; i++) pthread_join(a->tid[i], NULL);
  for (int i = 0; i < a->window; i++) pp_free(a->slot[i].p);
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
}

/* Prunes (when rules were given), encodes and writes p; frees p. */
static int finish(struct opts *o, pp_profile *p) {
  char err[ERRLEN] = "";
  int rc;
  if (o->rules && (rc = pp_prune(p, o->rules, err, sizeof err)) != 0) {
    cli_errorf(o->verb, "prune: %s", err[0] ? err : pp_strerror(rc));
    pp_free(p);
    return CLI_FAIL;
  }
  uint8_t *out = NULL;
  size_t outlen = 0;
  rc = pp_encode_mt(p, o->level, cpu_threads(), &out, &outlen, err, sizeof err);
  pp_free(p);
  if (rc != 0) {
    cli_errorf(o->verb, "%s: encoding failed: %s", o->output, err[0] ? err : pp_strerror(rc));
    return CLI_FAIL;
  }
  rc = cli_write_file_atomic(o->output, out, outlen, err, sizeof err);
  free(out);
  if (rc != 0) {
    cli_errorf(o->verb, "%s", err);
    return CLI_FAIL;
  }
  return CLI_OK;
}

int cli_merge(int argc, char **argv) {
  struct opts o = {.verb = "merge"};
  int rc = parse(&o, argc, argv, help_merge, 1, 1, 0);
  if (rc >= 0) goto done;
  if (optind >= argc) {
    cli_errorf(o.verb, "no input profiles (see pgopipe merge --help)");
    rc = CLI_USAGE;
    goto done;
  }
  cli_big_heap();
  pp_merger *m = pp_merger_new();
  if (!m) {
    cli_errorf(o.verb, "out of memory");
    rc = CLI_FAIL;
    goto done;
  }
  char err[ERRLEN] = "";
  ahead a;
  int threaded = argc - optind > 1 && cpu_threads() > 1 &&
                 ahead_start(&a, argv + optind, argc - optind, &o.lim, cpu_threads() - 1);
  for (int i = optind; i < argc; i++) {
    pp_profile *p = threaded ? ahead_take(&a, o.verb, i - optind) : load(o.verb, argv[i], &o.lim);
    if (!p) {
      if (threaded) ahead_stop(&a);
      pp_merger_free(m);
      rc = CLI_FAIL;
      goto done;
    }
    int e = pp_merger_add(m, p, err, sizeof err); /* consumes p */
    if (e != 0) {
      cli_errorf(o.verb, "%s: %s", cli_display_name(argv[i]), err[0] ? err : pp_strerror(e));
      if (threaded) ahead_stop(&a);
      pp_merger_free(m);
      rc = CLI_FAIL;
      goto done;
    }
  }
  if (threaded) ahead_stop(&a);
  pp_profile *res = NULL;
  int e = pp_merger_finish(m, &res, err, sizeof err);
  pp_merger_free(m);
  if (e != 0) {
    cli_errorf(o.verb, "%s", err[0] ? err : pp_strerror(e));
    rc = CLI_FAIL;
    goto done;
  }
  rc = finish(&o, res);
done:
  pp_rules_free(o.rules);
  return rc;
}

int cli_prune(int argc, char **argv) {
  struct opts o = {.verb = "prune"};
  int rc = parse(&o, argc, argv, help_prune, 1, 1, 0);
  if (rc >= 0) goto done;
  rc = CLI_USAGE;
  if (!o.rules) {
    cli_errorf(o.verb, "missing --drop RX (see pgopipe prune --help)");
    goto done;
  }
  if (argc - optind != 1) {
    cli_errorf(o.verb, "want exactly one input profile, got %d (see pgopipe prune --help)", argc - optind);
    goto done;
  }
  cli_big_heap();
  pp_profile *p = load(o.verb, argv[optind], &o.lim);
  rc = p ? finish(&o, p) : CLI_FAIL;
done:
  pp_rules_free(o.rules);
  return rc;
}

/* ---- inspect ---- */

static void print_ns(int64_t ns) {
  printf("%.3fs (%" PRId64 " ns)", (double)ns / 1e9, ns);
}

static double pct(int64_t v, int64_t total) {
  return total ? 100.0 * (double)v / (double)total : 0.0;
}

static int by_cum(const void *a, const void *b) {
  const pp_top_entry *x = a, *y = b;
  if (x->cum != y->cum) return x->cum > y->cum ? -1 : 1;
  return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void print_top(const char *title, const pp_top_entry *e, size_t n, int64_t total) {
  printf("\n%s\n%14s %7s %14s %7s  %s\n", title, "flat", "flat%", "cum", "cum%", "function");
  for (size_t i = 0; i < n; i++)
    printf("%14" PRId64 " %6.2f%% %14" PRId64 " %6.2f%%  %s\n", e[i].flat, pct(e[i].flat, total),
           e[i].cum, pct(e[i].cum, total), e[i].name ? e[i].name : "?");
}

int cli_inspect(int argc, char **argv) {
  struct opts o = {.verb = "inspect"};
  int rc = parse(&o, argc, argv, help_inspect, 0, 0, 1);
  if (rc >= 0) return rc;
  if (argc - optind != 1) {
    cli_errorf(o.verb, "want exactly one input profile, got %d (see pgopipe inspect --help)", argc - optind);
    return CLI_USAGE;
  }
  const char *path = argv[optind];
  pp_profile *p = load(o.verb, path, &o.lim);
  if (!p) return CLI_FAIL;

  printf("File: %s\n", path);
  size_t nst = pp_sample_type_count(p);
  printf("Sample types:");
  for (size_t i = 0; i < nst; i++) {
    pp_value_type t = pp_sample_type(p, i);
    printf(" %s/%s", t.type, t.unit);
  }
  size_t vi = pp_default_value_index(p);
  if (nst) {
    pp_value_type d = pp_sample_type(p, vi);
    printf(" (default %s/%s)", d.type, d.unit);
  }
  pp_value_type pt = pp_period_type(p);
  printf("\nPeriod: %" PRId64 " %s/%s\n", pp_period(p), pt.type, pt.unit);
  printf("Duration: ");
  print_ns(pp_duration_nanos(p));
  int64_t t = pp_time_nanos(p);
  printf("\nTime: ");
  if (t) {
    char when[32];
    if (chrono_format_rfc3339(t / 1000000000 * 1000, 0, when, sizeof when) != 0)
      strcpy(when, "?");
    printf("%s (%" PRId64 " ns since the epoch)\n", when, t);
  } else {
    printf("unset\n");
  }
  for (size_t i = 0; i < pp_comment_count(p); i++) printf("Comment: %s\n", pp_comment(p, i));
  printf("Tables: %zu samples, %zu locations, %zu functions, %zu mappings, %zu strings\n",
         pp_sample_count(p), pp_location_count(p), pp_function_count(p), pp_mapping_count(p),
         pp_string_count(p));
  printf("Totals:");
  for (size_t i = 0; i < nst; i++) {
    pp_value_type st = pp_sample_type(p, i);
    printf(" %s/%s=%" PRId64, st.type, st.unit, pp_total(p, i));
  }
  printf("\n");

  rc = CLI_OK;
  if (o.top > 0 && nst > 0) {
    char err[ERRLEN] = "";
    pp_top_entry *e = NULL;
    size_t n = 0;
    int r = pp_top(p, vi, &e, &n, err, sizeof err);
    if (r != 0) {
      cli_errorf(o.verb, "%s: %s", path, err[0] ? err : pp_strerror(r));
      rc = CLI_FAIL;
    } else {
      /* Functions that only appear in samples whose value of this type is
       * zero carry nothing: left out, as pprof's reports leave them out. */
      size_t kept = 0;
      for (size_t i = 0; i < n; i++)
        if (e[i].flat != 0 || e[i].cum != 0) e[kept++] = e[i];
      n = kept;
      int64_t total = pp_total(p, vi);
      pp_value_type d = pp_sample_type(p, vi);
      size_t k = n < (size_t)o.top ? n : (size_t)o.top;
      char title[256];
      snprintf(title, sizeof title, "Top %zu by flat %s/%s:", k, d.type, d.unit);
      print_top(title, e, k, total);
      qsort(e, n, sizeof *e, by_cum);
      snprintf(title, sizeof title, "Top %zu by cum %s/%s:", k, d.type, d.unit);
      print_top(title, e, k, total);
      free(e);
    }
  }
  pp_free(p);
  if (fflush(stdout) != 0) {
    cli_errorf(o.verb, "standard output: write failed");
    rc = CLI_FAIL;
  }
  return rc;
}
