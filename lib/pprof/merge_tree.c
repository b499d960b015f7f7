/*
 * merge_tree.c — pp_merge_tree: many inputs merged on several threads, in
 * consecutive runs whose results are then merged in order, with exactly
 * the result of merging them one after the other (see pprof.h for when
 * that holds: pp_tree_exact).
 *
 * Why the runs give pp_merge's result: entities (mappings, functions,
 * locations, samples) are created in the order a walk over the inputs'
 * samples first reaches them, and a run's result lists its samples in
 * order of first occurrence with its entities in order of first reach, so
 * walking run results in order reaches the new entities in the same order
 * as walking the inputs. Sample values add with wrapping arithmetic
 * (associative), comments and the default sample type keep the first
 * seen, the duration sums, the header's types and frames come from the
 * first input. What is not associative is excluded by pp_tree_exact: a
 * time of 0 resets pprof's time walk and a non-positive period breaks its
 * maximum; and a run whose sum of a sample is 0 would lose the sample's
 * place (negative values, or a wrap-around).
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

/* Every value below this keeps a sum of inputs far from wrapping. */
#define TREE_SUM_LIMIT ((uint64_t)1 << 62)
#define TREE_MAX_THREADS 16

int pp_tree_exact(pp_profile *const *in, size_t n) {
  if (!in) return 0;
  size_t nt = 0;
  for (size_t i = 0; i < n; i++)
    if (in[i]) {
      nt = in[i]->nstypes;
      break;
    }
  uint64_t sums[64] = {0};
  if (nt > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    const pp_profile *p = in[i];
    if (!p) continue;
    if (p->time_nanos == 0 || p->period <= 0 || p->nstypes != nt) return 0;
    for (size_t j = 0; j < nt; j++) {
      uint64_t colmax = 0;
      for (size_t s = 0; s < p->nsamples; s++) {
        int64_t v = p->values[s * nt + j];
        if (v < 0) return 0;
        if ((uint64_t)v > colmax) colmax = (uint64_t)v;
      }
      /* every sum of this column stays below the limit */
      if (p->nsamples && colmax > (TREE_SUM_LIMIT - sums[j] - 1) / p->nsamples) return 0;
      sums[j] += colmax * p->nsamples;
    }
  }
  return 1;
}

typedef struct tree_run {
  pp_profile **in; /* consecutive inputs, consumed */
  size_t n;
  pp_profile *out;
  int rc;
  char err[512];
} tree_run;

static void *run_main(void *arg) {
  tree_run *r = arg;
  r->rc = pp_merge(r->in, r->n, &r->out, r->err, sizeof r->err);
  return NULL;
}

int pp_merge_tree(pp_profile **in, size_t n, int threads, pp_profile **out, char *err, size_t errlen) {
  if (out) *out = NULL;
  if (!in || !out) {
    for (size_t i = 0; in && i < n; i++) pp_free(in[i]);
    return pp_err(err, errlen, PP_EINVAL, "pp_merge_tree: bad arguments");
  }
  size_t runs = threads < 1 ? 1 : (size_t)threads;
  if (runs > TREE_MAX_THREADS) runs = TREE_MAX_THREADS;
  if (runs > n / 2) runs = n / 2;
  if (runs < 2) return pp_merge(in, n, out, err, errlen);
  tree_run r[TREE_MAX_THREADS];
  pthread_t th[TREE_MAX_THREADS];
  int started[TREE_MAX_THREADS] = {0};
  size_t at = 0;
  for (size_t t = 0; t < runs; t++) {
    size_t len = n / runs + (t < n % runs);
    r[t] = (tree_run){.in = in + at, .n = len};
    at += len;
  }
  for (size_t t = 1; t < runs; t++) started[t] = pthread_create(&th[t], NULL, run_main, &r[t]) == 0;
  run_main(&r[0]);
  for (size_t t = 1; t < runs; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else run_main(&r[t]); /* no thread: done here */
  }
  int rc = PP_OK;
  for (size_t t = 0; t < runs && rc == PP_OK; t++)
    if (r[t].rc != PP_OK) rc = pp_err(err, errlen, r[t].rc, "%s", r[t].err);
  pp_profile *res[TREE_MAX_THREADS];
  for (size_t t = 0; t < runs; t++) res[t] = r[t].out;
  if (rc != PP_OK) {
    for (size_t t = 0; t < runs; t++) pp_free(res[t]);
    return rc;
  }
  return pp_merge(res, runs, out, err, errlen);
}
