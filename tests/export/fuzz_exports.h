/*
 * fuzz_exports.h — the export writers under the engine's fuzz target
 * (tests/fuzz/fuzz_profile.c calls fuzz_exports on every profile the
 * decoder accepts). Findings are crashes, leaks and sanitizer reports, and
 * these invariants: every writer succeeds (chrome, pgo and preprofile may refuse a profile that
 * is not a CPU profile or has negative counts), the folded values add up to
 * the total of the default sample type, and so does the tree's root.
 */
#ifndef PGOPIPE_TESTS_EXPORT_FUZZ_EXPORTS_H
#define PGOPIPE_TESTS_EXPORT_FUZZ_EXPORTS_H

#include "export.h"
#include "pprof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_exports_fail(const char *what, const char *err) {
  fprintf(stderr, "fuzz_exports: invariant failed: %s (%s)\n", what, err);
  abort();
}

static void fuzz_exports(const pp_profile *p) {
  char err[256] = "";
  pp_export_opts o = {.max_samples = 1000, .min_share = 0.01, .max_top = 50};
  for (size_t i = 0; i < pp_export_format_count(); i++) {
    const pp_export_format *f = pp_export_format_at(i);
    uint8_t *out = NULL;
    size_t len = 0;
    int rc = f->write(p, &o, &out, &len, err, sizeof err);
    if (rc == PP_ENOMEM) continue;
    /* chrome, pgo and preprofile refuse profiles that are not CPU profiles
     * (pgo also one whose samples add nothing); the rest always succeed. */
    int may_refuse = !strcmp(f->name, "chrome") || !strcmp(f->name, "pgo") || !strcmp(f->name, "preprofile");
    if (rc != 0 && !(may_refuse && (rc == PP_EINCOMPATIBLE || rc == PP_EINVAL)))
      fuzz_exports_fail(f->name, err);
    if (rc == 0 && !strcmp(f->name, "folded") && pp_sample_type_count(p) > 0) {
      uint64_t sum = 0;
      for (size_t a = 0, b; a < len; a = b + 1) {
        for (b = a; b < len && out[b] != '\n'; b++) {
        }
        size_t sp = b;
        while (sp > a && out[sp - 1] != ' ') sp--;
        char num[24] = "";
        if (b - sp < sizeof num) memcpy(num, out + sp, b - sp);
        sum += (uint64_t)strtoll(num, NULL, 10);
      }
      if ((int64_t)sum != pp_total(p, pp_default_value_index(p))) fuzz_exports_fail("folded sums to the total", "");
    }
    free(out);
  }
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = pp_export_tree(p, &o, &out, &len, err, sizeof err);
  if (rc != 0 && rc != PP_ENOMEM) fuzz_exports_fail("tree", err);
  if (rc == 0 && pp_sample_type_count(p) > 0) {
    char want[64];
    snprintf(want, sizeof want, "\"nodes\":[[0,-1,0,%" PRId64 "]", pp_total(p, pp_default_value_index(p)));
    char *s = malloc(len + 1);
    if (s) {
      memcpy(s, out, len);
      s[len] = 0;
      if (!strstr(s, want)) fuzz_exports_fail("tree root total", want);
      free(s);
    }
  }
  free(out);
  out = NULL;
  rc = pp_export_diff(p, p, &o, &out, &len, err, sizeof err);
  if (rc != 0 && rc != PP_ENOMEM && !(rc == PP_EINCOMPATIBLE && pp_sample_type_count(p) == 0))
    fuzz_exports_fail("diff of a profile with itself", err);
  free(out);
}

#endif
