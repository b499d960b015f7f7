/*
 * extool.c — drives the engine's exports from test scripts and the export
 * benchmark: the UI's tree JSON (which has no CLI verb) and in-process
 * timings without process start-up or file I/O.
 *
 *   extool tree [--type T] [--share X] [--top N] IN     tree JSON on stdout
 *   extool diff [--type T] [--share X] [--top N] BASE NEW
 *   extool time [--runs N] [--share X] IN               median wall and CPU ms of decode and of each export
 *
 * Exit status: 0 ok, 1 export or I/O failure (message on stderr), 2 usage.
 */
#include "export.h"
#include "pprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(void) {
  fprintf(stderr, "usage: extool tree|diff|time [--type T] [--share X] [--top N] [--runs N] IN [NEW]\n");
  return 2;
}

/* The whole file in a malloc'd buffer (NULL after printing an error). */
static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = malloc(cap);
  for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += r;
    if (n == cap) {
      uint8_t *q = realloc(buf, cap *= 2);
      if (!q) free(buf);
      buf = q;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

static pp_profile *load(const char *path) {
  size_t n;
  uint8_t *buf = read_all(path, &n);
  if (!buf) return NULL;
  char err[512];
  pp_profile *p = NULL;
  if (pp_decode(buf, n, NULL, &p, err, sizeof err) != 0) fprintf(stderr, "%s: %s\n", path, err);
  free(buf);
  return p;
}

static double now_ms(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int emit(int rc, uint8_t *out, size_t len, const char *err) {
  if (rc != 0) {
    fprintf(stderr, "extool: %s\n", err);
    return 1;
  }
  fwrite(out, 1, len, stdout);
  free(out);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  const char *cmd = argv[1];
  pp_export_opts o = {0};
  int runs = 5, i = 2;
  for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (!strcmp(argv[i], "--type")) o.sample_type = argv[i + 1];
    else if (!strcmp(argv[i], "--share")) o.min_share = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--top")) o.max_top = (size_t)atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    else return usage();
  }
  char err[512] = "";
  uint8_t *out = NULL;
  size_t len = 0;
  if (!strcmp(cmd, "tree") && argc - i == 1) {
    pp_profile *p = load(argv[i]);
    if (!p) return 1;
    int rc = pp_export_tree(p, &o, &out, &len, err, sizeof err);
    pp_free(p);
    return emit(rc, out, len, err);
  }
  if (!strcmp(cmd, "diff") && argc - i == 2) {
    pp_profile *b = load(argv[i]), *c = load(argv[i + 1]);
    int rc = b && c ? pp_export_diff(b, c, &o, &out, &len, err, sizeof err) : 1;
    pp_free(b);
    pp_free(c);
    if (rc == 1) return 1;
    return emit(rc, out, len, err);
  }
  if (!strcmp(cmd, "time") && argc - i == 1 && runs > 0 && runs <= 1000) {
    size_t n;
    uint8_t *raw = read_all(argv[i], &n);
    double *t = malloc((size_t)runs * sizeof *t), *c = malloc((size_t)runs * sizeof *c);
    if (!raw || !t || !c) {
      free(raw);
      free(t);
      free(c);
      return 1;
    }
    const char *names[] = {"decode", "tree", "folded", "speedscope", "chrome"};
    size_t sizes[5] = {0};
    printf("%-11s %9s %9s %12s\n", "step", "wall_ms", "cpu_ms", "output_bytes");
    for (int step = 0; step < 5; step++) {
      for (int r = 0; r < runs; r++) {
        pp_profile *p = NULL;
        double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        int rc = pp_decode(raw, n, NULL, &p, err, sizeof err);
        double t1 = now_ms(CLOCK_MONOTONIC), c1 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        if (rc == 0 && step > 0) {
          switch (step) {
          case 1: rc = pp_export_tree(p, &o, &out, &len, err, sizeof err); break;
          case 2: rc = pp_export_folded(p, &o, &out, &len, err, sizeof err); break;
          case 3: rc = pp_export_speedscope(p, &o, &out, &len, err, sizeof err); break;
          default: rc = pp_export_chrome(p, &o, &out, &len, err, sizeof err); break;
          }
          sizes[step] = len;
          free(out);
          out = NULL;
        }
        double t2 = now_ms(CLOCK_MONOTONIC), c2 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        pp_free(p);
        if (rc != 0) {
          fprintf(stderr, "extool: %s: %s\n", names[step], err);
          free(t);
          free(c);
          free(raw);
          return 1;
        }
        t[r] = step ? t2 - t1 : t1 - t0;
        c[r] = step ? c2 - c1 : c1 - c0;
        if (!step) sizes[0] = n;
      }
      qsort(t, (size_t)runs, sizeof *t, dcmp);
      qsort(c, (size_t)runs, sizeof *c, dcmp);
      printf("%-11s %9.2f %9.2f %12zu\n", names[step], t[runs / 2], c[runs / 2], sizes[step]);
    }
    free(t);
    free(c);
    free(raw);
    return 0;
  }
  return usage();
}
