/*
 * export.c — `pgopipe export`: one profile file written in another format
 * (folded stacks, speedscope, Chrome DevTools, ...), offline.
 *
 * The formats are the engine's table (lib/pprof/export.h): this verb lists
 * them in --help, finds -f there and hands the decoded profile to the row's
 * writer, so a format added to the table is offered here with no change.
 * Options a format does not read are refused rather than ignored. The
 * output is written atomically, like every file pgopipe writes.
 */
#include "cli.h"
#include "export.h"
#include "pprof.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ERRLEN 512
static const char verb[] = "export";

enum { OPT_KEEP = 256, OPT_SAMPLE_TYPE, OPT_MAX_SAMPLES, OPT_MAX_INPUT, OPT_MAX_DECODED };

static const struct option long_opts[] = {
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"sample-type", required_argument, NULL, OPT_SAMPLE_TYPE},
    {"max-samples", required_argument, NULL, OPT_MAX_SAMPLES},
    {"max-input-bytes", required_argument, NULL, OPT_MAX_INPUT},
    {"max-decoded-bytes", required_argument, NULL, OPT_MAX_DECODED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void format_list(FILE *f) {
  for (size_t i = 0; i < pp_export_format_count(); i++) {
    const pp_export_format *x = pp_export_format_at(i);
    fprintf(f, "%s%s", i ? ", " : "", x->name);
  }
}

static void help(FILE *f) {
  fprintf(f, "usage: pgopipe export -f FORMAT [-o OUT] [OPTIONS] IN\n\n"
             "Writes the profile IN (gzipped or raw profile.proto; \"-\" = standard input)\n"
             "in another format. Formats:\n");
  for (size_t i = 0; i < pp_export_format_count(); i++) {
    const pp_export_format *x = pp_export_format_at(i);
    fprintf(f, "  %-11s %s\n", x->name, x->summary);
  }
  fprintf(f,
          "\nInlined functions are frames of their own; labels are not exported.\n\n"
          "  -f, --format FORMAT    one of the formats above (required)\n"
          "  -o, --output OUT       output file (\"-\" = standard output); by default IN's\n"
          "                         base name without .gz/.pb/.pprof/.prof/.proto/.pgo, plus\n"
          "                         the format's suffix, in the current directory (e.g.\n"
          "                         cpu.pb.gz -> cpu.folded); written atomically\n"
          "  --sample-type TYPE     folded: the sample type, by name (alloc_space) or index\n"
          "                         (default: the profile's default type, as pprof's)\n"
          "  --max-samples N        chrome: write at most N samples; a profile with more\n"
          "                         hits is scaled down to N (default %u)\n"
          "  --keep N               formats that trim stacks: leaf-most locations kept\n",
          PP_EXPORT_CHROME_MAX_SAMPLES);
  fprintf(f,
          "  --max-input-bytes N    refuse an input file larger than N bytes (default %u)\n"
          "  --max-decoded-bytes N  refuse a profile larger than N bytes after gunzip (default %u)\n",
          PP_DEFAULT_MAX_INPUT, PP_DEFAULT_MAX_DECODED);
  fprintf(f, "\nExamples:\n"
             "  pgopipe export -f folded cpu.pb.gz             # -> cpu.folded\n"
             "  pgopipe export -f folded -o - cpu.pb.gz | flamegraph.pl > cpu.svg\n"
             "  pgopipe export -f folded --sample-type alloc_space heap.pb.gz\n"
             "  pgopipe export -f speedscope default.pgo       # -> default.speedscope.json\n"
             "  pgopipe export -f chrome -o app.cpuprofile default.pgo\n"
             "\nExit status: 0 success, 1 failure (bad input, a format that does not fit the\n"
             "profile, I/O), 2 usage error (including an unknown format).\n");
}

/* IN's base name without profile extensions, plus suffix (caller frees). */
static char *default_output(const char *in, const char *suffix) {
  const char *base = strcmp(in, "-") ? in : "profile";
  const char *slash = strrchr(base, '/');
  if (slash) base = slash + 1;
  size_t n = strlen(base);
  static const char *const exts[] = {".gz", ".pb", ".pprof", ".prof", ".proto", ".pgo"};
  for (int again = 1; again;) {
    again = 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
      size_t l = strlen(exts[i]);
      if (n > l && !memcmp(base + n - l, exts[i], l)) {
        n -= l;
        again = 1;
      }
    }
  }
  if (n == 0 || (n == 1 && base[0] == '.') || (n == 2 && !memcmp(base, "..", 2))) {
    base = "profile";
    n = 7;
  }
  size_t sl = strlen(suffix);
  char *out = malloc(n + sl + 1);
  if (!out) return NULL;
  memcpy(out, base, n);
  memcpy(out + n, suffix, sl + 1);
  return out;
}

static int bad_option(const pp_export_format *f, const char *opt) {
  cli_errorf(verb, "%s does not apply to the %s format (see pgopipe export --help)", opt, f->name);
  return CLI_USAGE;
}

/* What the command line asks for. */
typedef struct export_args {
  const char *format, *output, *in;
  pp_export_opts eo;
  pp_limits lim;
  unsigned given; /* PP_EXPORT_READS_* of the options given */
} export_args;

/* Parses the options into *a; returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, export_args *a) {
  size_t sz;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":f:o:h", long_opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      help(stdout);
      return CLI_OK;
    case 'f':
      a->format = optarg;
      break;
    case 'o':
      if (a->output) {
        cli_errorf(verb, "-o given twice");
        return CLI_USAGE;
      }
      a->output = optarg;
      break;
    case OPT_KEEP:
      if (cli_parse_size(optarg, &sz) != 0 || sz > 1000000) {
        cli_errorf(verb, "--keep wants a number of locations (0 = all), not \"%s\"", optarg);
        return CLI_USAGE;
      }
      a->eo.keep = (int)sz;
      a->eo.keep_set = 1;
      a->given |= PP_EXPORT_READS_KEEP;
      break;
    case OPT_SAMPLE_TYPE:
      a->eo.sample_type = optarg;
      a->given |= PP_EXPORT_READS_SAMPLE_TYPE;
      break;
    case OPT_MAX_SAMPLES:
      if (cli_parse_size(optarg, &sz) != 0 || sz == 0 || sz > UINT32_MAX) {
        cli_errorf(verb, "--max-samples wants a number from 1 to %u, not \"%s\"", UINT32_MAX, optarg);
        return CLI_USAGE;
      }
      a->eo.max_samples = sz;
      a->given |= PP_EXPORT_READS_MAX_SAMPLES;
      break;
    case OPT_MAX_INPUT:
    case OPT_MAX_DECODED:
      if (cli_parse_size(optarg, &sz) != 0 || sz == 0) {
        cli_errorf(verb, "%s wants a positive number of bytes, not \"%s\"",
                   c == OPT_MAX_INPUT ? "--max-input-bytes" : "--max-decoded-bytes", optarg);
        return CLI_USAGE;
      }
      if (c == OPT_MAX_INPUT)
        a->lim.max_input_bytes = sz;
      else
        a->lim.max_decoded_bytes = sz;
      break;
    case ':':
      cli_errorf(verb, "option %s needs a value (see pgopipe export --help)", argv[optind - 1]);
      return CLI_USAGE;
    default:
      cli_errorf(verb, "unknown option %s (see pgopipe export --help)", argv[optind - 1]);
      return CLI_USAGE;
    }
  }
  return -1;
}

/* The format of -f, once the options given are ones it reads, and the one
 * input; NULL after printing the usage error. */
static const pp_export_format *check_args(int argc, char **argv, export_args *a) {
  if (!a->format) {
    cli_errorf(verb, "missing -f FORMAT (see pgopipe export --help)");
    return NULL;
  }
  const pp_export_format *fmt = pp_export_format_find(a->format);
  if (!fmt) {
    fprintf(stderr, "pgopipe export: unknown format \"%s\" (formats: ", a->format);
    format_list(stderr);
    fprintf(stderr, ")\n");
    return NULL;
  }
  static const struct {
    unsigned bit;
    const char *opt;
  } optnames[] = {{PP_EXPORT_READS_KEEP, "--keep"},
                  {PP_EXPORT_READS_SAMPLE_TYPE, "--sample-type"},
                  {PP_EXPORT_READS_MAX_SAMPLES, "--max-samples"}};
  for (size_t i = 0; i < sizeof optnames / sizeof optnames[0]; i++)
    if ((a->given & optnames[i].bit) && !(fmt->reads & optnames[i].bit)) {
      bad_option(fmt, optnames[i].opt);
      return NULL;
    }
  if (argc - optind != 1) {
    cli_errorf(verb, "want exactly one input profile, got %d (see pgopipe export --help)", argc - optind);
    return NULL;
  }
  a->in = argv[optind];
  return fmt;
}

/* Without -o: the name derived from the input (*derived, caller frees) into
 * a->output. Returns -1 to go on, else the exit status. */
static int derive_output(export_args *a, const pp_export_format *fmt, char **derived) {
  if (a->output) return -1;
  if (!(*derived = default_output(a->in, fmt->suffix))) {
    cli_errorf(verb, "out of memory");
    return CLI_FAIL;
  }
  a->output = *derived;
  /* A derived name must not replace the input itself. */
  struct stat x, y;
  if (strcmp(a->in, "-") && stat(a->in, &x) == 0 && stat(a->output, &y) == 0 && x.st_dev == y.st_dev &&
      x.st_ino == y.st_ino) {
    cli_errorf(verb, "%s: the default output name is the input file itself; name the output with -o", a->in);
    return CLI_USAGE;
  }
  return -1;
}

/* Reads and decodes the input, writes it in the format to the output. */
static int run(export_args *a, const pp_export_format *fmt) {
  char err[ERRLEN] = "", msg[CLI_LOAD_MSGLEN];
  pp_profile *p = cli_load_profile(a->in, &a->lim, msg, sizeof msg);
  if (!p) {
    cli_errorf(verb, "%s", msg);
    return CLI_FAIL;
  }
  /* speedscope shows the file's name: the input's, without its directory. */
  const char *slash = strrchr(a->in, '/');
  a->eo.name = strcmp(a->in, "-") ? (slash ? slash + 1 : a->in) : "profile";
  uint8_t *outb = NULL;
  size_t outlen = 0;
  int rc = CLI_FAIL;
  int e = fmt->write(p, &a->eo, &outb, &outlen, err, sizeof err);
  if (e != 0)
    cli_errorf(verb, "%s: %s export: %s", cli_display_name(a->in), fmt->name, err[0] ? err : pp_strerror(e));
  else if (cli_write_file_atomic(a->output, outb, outlen, err, sizeof err) != 0)
    cli_errorf(verb, "%s", err);
  else
    rc = CLI_OK;
  pp_free(p);
  free(outb);
  return rc;
}

int cli_export(int argc, char **argv) {
  export_args a = {0};
  int rc = parse_options(argc, argv, &a);
  if (rc >= 0) return rc;
  const pp_export_format *fmt = check_args(argc, argv, &a);
  if (!fmt) return CLI_USAGE;
  char *derived = NULL;
  rc = derive_output(&a, fmt, &derived);
  if (rc < 0) rc = run(&a, fmt);
  free(derived);
  return rc;
}
