/*
 * pgotool.c — the C side of the PGO differential tests and of
 * tests/bench/pgo-bench.sh: prints what lib/pprof's pgo.h computes, in the
 * oracle's format (tests/pgo/oracle), and writes trimmed profiles.
 *
 *   pgotool edges [-all] FILE            the named edge map (oracle edges format)
 *   pgotool trim [-keep N] [-level L] IN OUT   format=pgo (pp_pgo_encode)
 *   pgotool preprofile IN OUT            format=preprofile ("-" = stdout)
 *   pgotool bench [-runs N] FILE         median times of decode, full encode,
 *                                        trim+encode (keep 2 and 0), preprofile
 *                                        (+ gzip), and the output sizes
 *
 * Errors: "error: MESSAGE" on stderr, exit 1; usage errors exit 2.
 */
#include "pgo.h"
#include "pprof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(const char *msg) {
  fprintf(stderr, "error: %s\n", msg);
  return 1;
}

static int usage(void) {
  fprintf(stderr, "usage: pgotool edges [-all] FILE | trim [-keep N] [-level L] IN OUT | preprofile IN OUT |"
                  " bench [-runs N] FILE\n");
  return 2;
}

static int read_file(const char *path, uint8_t **buf, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16, n = 0;
  uint8_t *b = malloc(cap);
  for (;;) {
    if (!b) break;
    if (n == cap) {
      uint8_t *q = realloc(b, cap *= 2);
      if (!q) {
        free(b);
        b = NULL;
        break;
      }
      b = q;
    }
    size_t k = fread(b + n, 1, cap - n, f);
    n += k;
    if (k == 0) break;
  }
  int bad = ferror(f) || !b;
  fclose(f);
  if (bad) {
    free(b);
    return -1;
  }
  *buf = b;
  *len = n;
  return 0;
}

static int write_file(const char *path, const void *buf, size_t len) {
  FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
  if (!f) return -1;
  int bad = fwrite(buf, 1, len, f) != len;
  if (f != stdout) bad |= fclose(f) != 0;
  else bad |= fflush(f) != 0;
  return bad ? -1 : 0;
}

static pp_profile *load(const char *path, char *err, size_t errlen) {
  uint8_t *buf;
  size_t len;
  if (read_file(path, &buf, &len)) {
    snprintf(err, errlen, "%s: cannot read", path);
    return NULL;
  }
  pp_profile *p = NULL;
  char e[512] = "";
  int rc = pp_decode(buf, len, NULL, &p, e, sizeof e);
  free(buf);
  if (rc) {
    snprintf(err, errlen, "%s: %s", path, e);
    return NULL;
  }
  return p;
}

static void escape(FILE *f, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '\\')
      fprintf(f, "\\x%02x", c);
    else
      fputc(c, f);
  }
}

static int cmd_edges(int argc, char **argv) {
  pp_pgo_walk walk = PP_PGO_LAST_TWO;
  int i = 0;
  if (i < argc && !strcmp(argv[i], "-all")) {
    walk = PP_PGO_ALL_FRAMES;
    i++;
  }
  if (argc - i != 1) return usage();
  char err[600];
  pp_profile *p = load(argv[i], err, sizeof err);
  if (!p) return fail(err);
  pp_pgo_edges *m = NULL;
  int rc = pp_pgo_edges_compute(p, walk, &m, err, sizeof err);
  pp_free(p);
  if (rc) return fail(err);
  printf("start_line: %d\ntotal: %" PRId64 "\nhot: %zu\nedges: %zu\n", m->has_start_line, m->total,
         pp_pgo_hot_count(m), m->n);
  for (size_t k = 0; k < m->n; k++) {
    escape(stdout, m->edge[k].caller, m->edge[k].caller_len);
    putchar('\t');
    escape(stdout, m->edge[k].callee, m->edge[k].callee_len);
    printf("\t%" PRId64 "\t%" PRId64 "\n", m->edge[k].offset, m->edge[k].weight);
  }
  pp_pgo_edges_free(m);
  return 0;
}

static int cmd_trim(int argc, char **argv) {
  unsigned keep = PP_PGO_DEFAULT_KEEP;
  int level = -1, i = 0;
  char err[600];
  while (i + 1 < argc && argv[i][0] == '-') {
    if (!strcmp(argv[i], "-keep")) {
      if (pp_pgo_keep_parse(argv[i + 1], &keep, err, sizeof err)) return fail(err);
    } else if (!strcmp(argv[i], "-level")) {
      level = atoi(argv[i + 1]);
    } else {
      return usage();
    }
    i += 2;
  }
  if (argc - i != 2) return usage();
  pp_profile *p = load(argv[i], err, sizeof err);
  if (!p) return fail(err);
  uint8_t *out = NULL;
  size_t outlen = 0;
  int rc = pp_pgo_encode(p, keep, level, &out, &outlen, err, sizeof err);
  pp_free(p);
  if (rc) return fail(err);
  rc = write_file(argv[i + 1], out, outlen);
  free(out);
  return rc ? fail("cannot write the output") : 0;
}

static int cmd_preprofile(int argc, char **argv) {
  if (argc != 2) return usage();
  char err[600];
  pp_profile *p = load(argv[0], err, sizeof err);
  if (!p) return fail(err);
  char *out = NULL;
  size_t outlen = 0;
  int rc = pp_pgo_preprofile(p, &out, &outlen, err, sizeof err);
  pp_free(p);
  if (rc) return fail(err);
  rc = write_file(argv[1], out, outlen);
  free(out);
  return rc ? fail("cannot write the output") : 0;
}

/* ---- bench ---- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
  return v[n / 2];
}

enum { B_DECODE, B_FULL, B_PGO2, B_PGO0, B_PRE, B_PREGZ, B_N };

static int cmd_bench(int argc, char **argv) {
  int runs = 5, i = 0;
  if (i + 1 < argc && !strcmp(argv[i], "-runs")) {
    runs = atoi(argv[i + 1]);
    i += 2;
  }
  if (argc - i != 1 || runs < 1 || runs > 1000) return usage();
  uint8_t *buf;
  size_t len;
  if (read_file(argv[i], &buf, &len)) return fail("cannot read the input");
  double *t[B_N];
  for (int k = 0; k < B_N; k++) t[k] = calloc((size_t)runs, sizeof(double));
  size_t size[B_N] = {0}, rawpre = 0;
  char err[600];
  int rc = 0;
  for (int r = 0; r < runs && !rc; r++) {
    pp_profile *p = NULL;
    double a = now();
    if (pp_decode(buf, len, NULL, &p, err, sizeof err)) {
      rc = fail(err);
      break;
    }
    double b = now();
    t[B_DECODE][r] = b - a;
    uint8_t *o = NULL;
    size_t ol = 0;
    a = now();
    if (pp_encode(p, -1, &o, &ol, err, sizeof err)) rc = fail(err);
    t[B_FULL][r] = now() - a;
    size[B_FULL] = ol;
    free(o);
    unsigned keeps[2] = {2, 0};
    for (int k = 0; k < 2 && !rc; k++) {
      a = now();
      if (pp_pgo_encode(p, keeps[k], -1, &o, &ol, err, sizeof err)) rc = fail(err);
      t[B_PGO2 + k][r] = now() - a;
      size[B_PGO2 + k] = ol;
      free(o);
    }
    char *txt = NULL;
    a = now();
    if (!rc && pp_pgo_preprofile(p, &txt, &rawpre, err, sizeof err)) {
      /* A profile without start lines has no preprofile: time is not shown. */
      txt = NULL;
      rawpre = 0;
    }
    t[B_PRE][r] = now() - a;
    if (txt) {
      if (pp_gzip((const uint8_t *)txt, rawpre, -1, &o, &ol, err, sizeof err)) rc = fail(err);
      t[B_PREGZ][r] = now() - a;
      size[B_PREGZ] = ol;
      free(o);
      free(txt);
    }
    pp_free(p);
  }
  if (!rc) {
    static const char *names[B_N] = {"decode", "encode_full", "pgo_keep2", "pgo_keep0", "preprofile",
                                     "preprofile_gz"};
    printf("input_bytes %zu\n", len);
    for (int k = 0; k < B_N; k++)
      printf("%s_seconds %.6f\n", names[k], median(t[k], runs));
    printf("encode_full_bytes %zu\npgo_keep2_bytes %zu\npgo_keep0_bytes %zu\npreprofile_raw_bytes %zu\n"
           "preprofile_gz_bytes %zu\n",
           size[B_FULL], size[B_PGO2], size[B_PGO0], rawpre, size[B_PREGZ]);
  }
  for (int k = 0; k < B_N; k++) free(t[k]);
  free(buf);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  if (!strcmp(argv[1], "edges")) return cmd_edges(argc - 2, argv + 2);
  if (!strcmp(argv[1], "trim")) return cmd_trim(argc - 2, argv + 2);
  if (!strcmp(argv[1], "preprofile")) return cmd_preprofile(argc - 2, argv + 2);
  if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
  return usage();
}
