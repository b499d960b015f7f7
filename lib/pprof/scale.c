/*
 * scale.c — column arithmetic on a profile: scale sample values column by
 * column by integer factors, find a column's smallest value, set the time
 * header.
 *
 * These are the building blocks of profile subtraction. pprof has no
 * "subtract" operation; Go's own tools (godeltaprof, pyroscope's client)
 * compute `current - previous` as Merge(current, ScaleN(previous, -1)).
 * The same here: pp_scale_columns(prev, {-1, -1, 0, 0}) then a merge of
 * [current, prev] gives the heap delta whose alloc columns are the
 * difference and whose in-use columns are current's (the in-use columns of
 * prev are zeroed by factor 0). pp_column_min then tells whether a value
 * went down (a negative result: the process restarted).
 *
 * Integer factors keep the arithmetic exact (Go's ScaleN multiplies by
 * float64 ratios and rounds; for -1, 0 and 1 both give the same result).
 */
#include "internal.h"

int pp_scale_columns(pp_profile *p, const int64_t *factors, size_t nfactors, char *err, size_t errlen) {
  if (!p || (!factors && nfactors)) return pp_err(err, errlen, PP_EINVAL, "pp_scale_columns: bad arguments");
  if (nfactors != p->nstypes)
    return pp_err(err, errlen, PP_EINVAL, "pp_scale_columns: %zu factors for a profile with %zu sample types",
                  nfactors, p->nstypes);
  size_t nt = p->nstypes;
  int identity = 1;
  for (size_t j = 0; j < nt; j++) identity &= factors[j] == 1;
  if (identity) return PP_OK;
  for (size_t i = 0; i < p->nsamples; i++) {
    int64_t *v = p->values + i * nt;
    for (size_t j = 0; j < nt; j++) v[j] = (int64_t)((uint64_t)v[j] * (uint64_t)factors[j]);
  }
  return PP_OK;
}

int64_t pp_column_min(const pp_profile *p, size_t vi) {
  if (!p || vi >= p->nstypes || p->nsamples == 0) return 0;
  int64_t m = p->values[vi];
  for (size_t i = 1; i < p->nsamples; i++) {
    int64_t v = p->values[i * p->nstypes + vi];
    if (v < m) m = v;
  }
  return m;
}

void pp_set_time(pp_profile *p, int64_t time_nanos, int64_t duration_nanos) {
  if (!p) return;
  p->time_nanos = time_nanos;
  p->duration_nanos = duration_nanos;
}
