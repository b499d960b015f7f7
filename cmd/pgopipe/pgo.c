/*
 * pgo.c — `pgopipe pgo`: the compiler's view of profiles. One sub-verb so
 * far, `pgo diff OLD NEW`: the call sites that enter or leave the hot set Go's
 * inliner computes (the heaviest call edges up to 99% of the total edge
 * weight), with their weights and shares in both profiles, and how much of
 * NEW's edge weight lies on functions OLD does not have (a base gone stale).
 * The computation is the engine's (pp_pgo_diff_profiles, lib/pprof/pgo.h);
 * this file reads the files and prints text or JSON.
 */
#include "cli.h"
#include "pgo.h"
#include "pprof.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 512
#define VERB "pgo diff"

static void help_pgo(FILE *f) {
  fprintf(f, "usage: pgopipe pgo diff [--json] OLD NEW\n\n"
             "Compares profiles the way Go's compiler reads them for -pgo.\n\n"
             "Sub-verbs:\n"
             "  diff      call sites entering and leaving the compiler's hot set between two\n"
             "            profiles, and the share of NEW's weight on functions OLD lacks\n\n"
             "See pgopipe pgo diff --help.\n");
}

static void help_diff(FILE *f) {
  fprintf(f,
          "usage: pgopipe pgo diff [--json] OLD NEW\n\n"
          "Compares the call edges Go's compiler takes from two CPU profiles (gzipped or\n"
          "raw profile.proto) for profile-guided optimisation.\n\n"
          "A call edge is (caller, callee, call-site line offset from the caller's first\n"
          "line) with a weight: the samples of the compiler's sample type (samples/count,\n"
          "else cpu/nanoseconds) whose leaf and caller locations make that call, as\n"
          "`go build -pgo` computes it. The hot set is what the inliner treats as hot:\n"
          "the edges sorted by weight (heaviest first; ties by caller, callee, offset),\n"
          "up to and including the first edge at which the running sum exceeds %d%% of\n"
          "the total edge weight.\n\n"
          "Printed: each profile's edge count, total weight and hot-set size; the call\n"
          "sites entering the hot set (hot in NEW, not in OLD; NEW's order) and leaving\n"
          "it (hot in OLD, not in NEW; OLD's order), each with its weight and share of\n"
          "the total in both profiles (\"-\" where the edge is absent); and staleness:\n"
          "the share of NEW's total edge weight on edges whose caller or callee is no\n"
          "function of OLD (renamed, moved or new code the old profile cannot speak for).\n"
          "A profile without Function.start_line (Go before 1.20) is compared all the\n"
          "same, with a note: `go build -pgo` refuses it, and its offsets are absolute\n"
          "line numbers.\n\n"
          "  --json                 print one JSON object instead of text\n"
          "  --max-input-bytes N    refuse an input file larger than N bytes (default %u)\n"
          "  --max-decoded-bytes N  refuse a profile larger than N bytes after gunzip (default %u)\n\n"
          "Exit status: 0 success, 1 failure (unreadable or unusable profile), 2 usage error.\n",
          PP_PGO_HOT_PERCENT, PP_DEFAULT_MAX_INPUT, PP_DEFAULT_MAX_DECODED);
}

enum { OPT_JSON = 256, OPT_MAX_INPUT, OPT_MAX_DECODED };

static const struct option diff_opts[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"max-input-bytes", required_argument, NULL, OPT_MAX_INPUT},
    {"max-decoded-bytes", required_argument, NULL, OPT_MAX_DECODED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Reads and decodes one input. Returns NULL after printing the error. */
static pp_profile *load(const char *path, const pp_limits *lim) {
  char msg[CLI_LOAD_MSGLEN];
  pp_profile *p = cli_load_profile(path, lim, msg, sizeof msg);
  if (!p) cli_errorf(VERB, "%s", msg);
  return p;
}

/* ---- text ---- */

/* A name for a terminal: control bytes as \xHH. */
static void put_name(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      printf("\\x%02x", c);
    else
      putchar(c);
  }
}

static void put_site(const pp_pgo_site *s) {
  char w[2][32], sh[2][32];
  if (s->in_old) {
    snprintf(w[0], sizeof w[0], "%" PRId64, s->old_weight);
    snprintf(sh[0], sizeof sh[0], "%.3f%%", s->old_share);
  } else {
    strcpy(w[0], "-");
    strcpy(sh[0], "-");
  }
  if (s->in_new) {
    snprintf(w[1], sizeof w[1], "%" PRId64, s->new_weight);
    snprintf(sh[1], sizeof sh[1], "%.3f%%", s->new_share);
  } else {
    strcpy(w[1], "-");
    strcpy(sh[1], "-");
  }
  printf("  %14s %9s %14s %9s  ", w[0], sh[0], w[1], sh[1]);
  put_name(s->caller, s->caller_len);
  printf(":%+" PRId64 " -> ", s->offset);
  put_name(s->callee, s->callee_len);
  putchar('\n');
}

static void put_list(const char *title, const pp_pgo_site *s, size_t n) {
  printf("\n%s (%zu call site%s)%s\n", title, n, n == 1 ? "" : "s", n ? ":" : ".");
  if (!n) return;
  printf("  %14s %9s %14s %9s  %s\n", "OLD weight", "OLD share", "NEW weight", "NEW share",
         "call site (caller:+offset -> callee)");
  for (size_t i = 0; i < n; i++) put_site(&s[i]);
}

static void print_text(const pp_pgo_diff *d, const char *oldf, const char *newf) {
  printf("OLD %s: %zu call edges, total weight %" PRId64 ", hot set %zu edges\n", oldf, d->old_edges,
         d->old_total, d->old_hot);
  printf("NEW %s: %zu call edges, total weight %" PRId64 ", hot set %zu edges\n", newf, d->new_edges,
         d->new_total, d->new_hot);
  printf("(hot set: the heaviest call edges up to %d%% of the total edge weight, as Go's inliner picks them)\n",
         PP_PGO_HOT_PERCENT);
  const char *which[2] = {"OLD", "NEW"};
  int has[2] = {d->old_start_line, d->new_start_line};
  size_t edges[2] = {d->old_edges, d->new_edges};
  for (int i = 0; i < 2; i++)
    if (!has[i] && edges[i])
      printf("note: %s has no Function.start_line (Go before 1.20): `go build -pgo` refuses it, and its "
             "offsets are absolute line numbers\n",
             which[i]);
  put_list("Entering the hot set", d->entering, d->nentering);
  put_list("Leaving the hot set", d->leaving, d->nleaving);
  printf("\nStaleness: %.2f%% of NEW's edge weight (%" PRId64 " of %" PRId64 ", on %zu call edge%s) is on call "
         "edges whose caller or callee is no function of OLD.\n",
         d->stale_share, d->stale_weight, d->new_total, d->stale_edges, d->stale_edges == 1 ? "" : "s");
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t k;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) k = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) k = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) k = 4, cp = c & 0x07;
  else return 0;
  if (k > n) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return k;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_str(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  putchar('"');
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      printf("\\%c", c);
      i++;
    } else if (c < 0x20) {
      printf("\\u%04x", c);
      i++;
    } else {
      size_t k = utf8_len(u + i, n - i);
      if (!k) {
        fputs("\\ufffd", stdout);
        i++;
      } else {
        fwrite(u + i, 1, k, stdout);
        i += k;
      }
    }
  }
  putchar('"');
}

static void json_sites(const pp_pgo_site *s, size_t n) {
  putchar('[');
  for (size_t i = 0; i < n; i++) {
    printf("%s{\"caller\":", i ? "," : "");
    json_str(s[i].caller, s[i].caller_len);
    printf(",\"callee\":");
    json_str(s[i].callee, s[i].callee_len);
    printf(",\"offset\":%" PRId64 ",\"in_old\":%s,\"old_weight\":%" PRId64 ",\"old_share\":%.6f"
           ",\"in_new\":%s,\"new_weight\":%" PRId64 ",\"new_share\":%.6f}",
           s[i].offset, s[i].in_old ? "true" : "false", s[i].old_weight, s[i].old_share,
           s[i].in_new ? "true" : "false", s[i].new_weight, s[i].new_share);
  }
  putchar(']');
}

static void json_side(const char *file, size_t edges, int64_t total, size_t hot, int start_line) {
  printf("{\"file\":");
  json_str(file, strlen(file));
  printf(",\"edges\":%zu,\"total_weight\":%" PRId64 ",\"hot_edges\":%zu,\"start_line\":%s}", edges, total, hot,
         start_line ? "true" : "false");
}

static void print_json(const pp_pgo_diff *d, const char *oldf, const char *newf) {
  printf("{\"hot_percent\":%d,\"old\":", PP_PGO_HOT_PERCENT);
  json_side(oldf, d->old_edges, d->old_total, d->old_hot, d->old_start_line);
  printf(",\"new\":");
  json_side(newf, d->new_edges, d->new_total, d->new_hot, d->new_start_line);
  printf(",\"entering\":");
  json_sites(d->entering, d->nentering);
  printf(",\"leaving\":");
  json_sites(d->leaving, d->nleaving);
  printf(",\"stale\":{\"edges\":%zu,\"weight\":%" PRId64 ",\"share\":%.6f}}\n", d->stale_edges, d->stale_weight,
         d->stale_share);
}

static int pgo_diff(int argc, char **argv) {
  int json = 0;
  pp_limits lim = {0};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", diff_opts, NULL)) != -1) {
    size_t v;
    switch (c) {
    case 'h':
      help_diff(stdout);
      return CLI_OK;
    case OPT_JSON:
      json = 1;
      break;
    case OPT_MAX_INPUT:
    case OPT_MAX_DECODED:
      if (cli_parse_size(optarg, &v) != 0 || v == 0) {
        cli_errorf(VERB, "bad size \"%s\" (want a positive number of bytes)", optarg);
        return CLI_USAGE;
      }
      if (c == OPT_MAX_INPUT)
        lim.max_input_bytes = v;
      else
        lim.max_decoded_bytes = v;
      break;
    case ':':
      cli_errorf(VERB, "option %s needs a value (see pgopipe pgo diff --help)", argv[optind - 1]);
      return CLI_USAGE;
    default:
      cli_errorf(VERB, "unknown option %s (see pgopipe pgo diff --help)", argv[optind - 1]);
      return CLI_USAGE;
    }
  }
  if (argc - optind != 2) {
    cli_errorf(VERB, "want two profiles, OLD and NEW, got %d (see pgopipe pgo diff --help)", argc - optind);
    return CLI_USAGE;
  }
  const char *oldf = argv[optind], *newf = argv[optind + 1];
  pp_profile *oldp = load(oldf, &lim);
  if (!oldp) return CLI_FAIL;
  pp_profile *newp = load(newf, &lim);
  if (!newp) {
    pp_free(oldp);
    return CLI_FAIL;
  }
  char err[ERRLEN] = "";
  pp_pgo_diff *d = NULL;
  int rc = pp_pgo_diff_profiles(oldp, newp, &d, err, sizeof err);
  pp_free(oldp);
  pp_free(newp);
  if (rc != 0) {
    cli_errorf(VERB, "%s", err[0] ? err : pp_strerror(rc));
    return CLI_FAIL;
  }
  if (json)
    print_json(d, oldf, newf);
  else
    print_text(d, cli_display_name(oldf), cli_display_name(newf));
  pp_pgo_diff_free(d);
  if (fflush(stdout) != 0) {
    cli_errorf(VERB, "writing the output failed");
    return CLI_FAIL;
  }
  return CLI_OK;
}

int cli_pgo(int argc, char **argv) {
  if (argc < 2) {
    help_pgo(stderr);
    return CLI_USAGE;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
    help_pgo(stdout);
    return CLI_OK;
  }
  if (!strcmp(sub, "diff")) return pgo_diff(argc - 1, argv + 1);
  fprintf(stderr, "pgopipe pgo: unknown sub-verb \"%s\" (see pgopipe pgo --help)\n", sub);
  return CLI_USAGE;
}
