/*
 * scale.c — column arithmetic on a profile: scale sample values column by
 * column by integer factors, find a column's smallest value, set the time
 * header; and a deep copy, since subtraction consumes its inputs (a merger
 * takes ownership) while a caller often needs the original again.
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

#include <stdlib.h>

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

/* Copies n elements of size sz from src into a fresh array (NULL for 0).
 * Returns 0 or -1 (no memory). */
static int dup_array(void **dst, const void *src, size_t n, size_t sz) {
  *dst = NULL;
  if (!n || !src) return 0;
  if (n > SIZE_MAX / sz) return -1;
  *dst = malloc(n * sz);
  if (!*dst) return -1;
  memcpy(*dst, src, n * sz);
  return 0;
}

pp_profile *pp_clone(const pp_profile *p) {
  if (!p) return NULL;
  pp_profile *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  *c = *p;
  /* Every pointer is replaced below; clear them first so that a failure
   * half-way frees only what this copy owns. */
  memset(&c->sp, 0, sizeof(c->sp));
  c->stypes = NULL;
  c->comments = NULL;
  c->maps = NULL;
  c->funcs = NULL;
  c->locs = NULL;
  c->lines = NULL;
  c->samples = NULL;
  c->sloc = NULL;
  c->values = NULL;
  c->labels = NULL;
  const pp_strpool *a = &p->sp;
  pp_strpool *b = &c->sp;
  b->seed = a->seed; /* the slots below are laid out for this seed */
  b->n = b->cap = a->n;
  b->blen = b->bcap = a->blen;
  b->nslots = a->nslots;
  size_t nv = p->nsamples * p->nstypes;
  int bad = dup_array((void **)&b->bytes, a->bytes, a->blen, 1) ||
            dup_array((void **)&b->off, a->off, a->n, sizeof(*a->off)) ||
            dup_array((void **)&b->len, a->len, a->n, sizeof(*a->len)) ||
            dup_array((void **)&b->hash, a->hash, a->n, sizeof(*a->hash)) ||
            dup_array((void **)&b->slots, a->slots, a->nslots, sizeof(*a->slots)) ||
            dup_array((void **)&c->stypes, p->stypes, p->nstypes, sizeof(*p->stypes)) ||
            dup_array((void **)&c->comments, p->comments, p->ncomments, sizeof(*p->comments)) ||
            dup_array((void **)&c->maps, p->maps, p->nmaps, sizeof(*p->maps)) ||
            dup_array((void **)&c->funcs, p->funcs, p->nfuncs, sizeof(*p->funcs)) ||
            dup_array((void **)&c->locs, p->locs, p->nlocs, sizeof(*p->locs)) ||
            dup_array((void **)&c->lines, p->lines, p->nlines, sizeof(*p->lines)) ||
            dup_array((void **)&c->samples, p->samples, p->nsamples, sizeof(*p->samples)) ||
            dup_array((void **)&c->sloc, p->sloc, p->nsloc, sizeof(*p->sloc)) ||
            dup_array((void **)&c->values, p->values, nv, sizeof(*p->values)) ||
            dup_array((void **)&c->labels, p->labels, p->nlabels, sizeof(*p->labels));
  if (bad) {
    pp_free(c);
    return NULL;
  }
  c->ccomments = p->ncomments;
  c->cmaps = p->nmaps;
  c->cfuncs = p->nfuncs;
  c->clocs = p->nlocs;
  c->clines = p->nlines;
  c->csamples = p->nsamples;
  c->csloc = p->nsloc;
  c->cvalues = nv;
  c->clabels = p->nlabels;
  return c;
}
