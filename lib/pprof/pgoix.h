/*
 * pgoix.h — the identity index the PGO modules (pgo.c, pgo_trim.c) share:
 * an open-addressing table from a 32-bit hash to an entry number, where the
 * entries themselves live in the caller's arrays and the caller says what
 * "equal" means. Keys are hashed with a per-table seed (pp_seed), like every
 * other table of the engine; nothing a caller sees depends on slot order.
 * Private to lib/pprof.
 */
#ifndef PGOPIPE_PPROF_PGOIX_H
#define PGOPIPE_PPROF_PGOIX_H

#include "internal.h"

#include <stdlib.h>

typedef struct pgo_ix {
  uint32_t *val; /* entry + 1; 0 = empty slot */
  uint32_t *hv;  /* hash of the entry in the slot */
  size_t nslots; /* power of two */
  size_t n;
  uint64_t seed;
} pgo_ix;

static inline int pgo_ix_init(pgo_ix *ix, size_t expect) {
  memset(ix, 0, sizeof(*ix));
  size_t ns = 16;
  while (ns < expect * 2 && ns < ((size_t)1 << 31)) ns *= 2;
  ix->val = calloc(ns, sizeof(*ix->val));
  ix->hv = malloc(ns * sizeof(*ix->hv));
  if (!ix->val || !ix->hv) {
    free(ix->val);
    free(ix->hv);
    ix->val = ix->hv = NULL;
    return PP_ENOMEM;
  }
  ix->nslots = ns;
  ix->seed = pp_seed();
  return PP_OK;
}

static inline void pgo_ix_free(pgo_ix *ix) {
  free(ix->val);
  free(ix->hv);
  memset(ix, 0, sizeof(*ix));
}

/* The table's 32-bit hash of a pp_mix chain. */
static inline uint32_t pgo_ix_hash(const pgo_ix *ix, uint64_t h) { return pp_hfin(ix->seed, h); }

/*
 * Finds the entry with hash h for which eq(ctx, entry) holds. Returns it, or
 * UINT32_MAX when absent; *slot is then where pgo_ix_put inserts.
 */
static inline uint32_t pgo_ix_get(const pgo_ix *ix, uint32_t h, int (*eq)(const void *ctx, uint32_t e),
                                  const void *ctx, size_t *slot) {
  size_t mask = ix->nslots - 1, j = h & mask;
  for (;;) {
    uint32_t v = ix->val[j];
    if (!v) break;
    if (ix->hv[j] == h && eq(ctx, v - 1)) {
      *slot = j;
      return v - 1;
    }
    j = (j + 1) & mask;
  }
  *slot = j;
  return UINT32_MAX;
}

/* Inserts entry e (hash h) at the slot pgo_ix_get left; grows when half full. */
static inline int pgo_ix_put(pgo_ix *ix, size_t slot, uint32_t h, uint32_t e) {
  ix->val[slot] = e + 1;
  ix->hv[slot] = h;
  ix->n++;
  if (ix->n * 2 <= ix->nslots) return PP_OK;
  if (ix->nslots >= ((size_t)1 << 31)) return PP_ENOMEM;
  size_t ns = ix->nslots * 2, mask = ns - 1;
  uint32_t *val = calloc(ns, sizeof(*val)), *hv = malloc(ns * sizeof(*hv));
  if (!val || !hv) {
    free(val);
    free(hv);
    return PP_ENOMEM;
  }
  for (size_t i = 0; i < ix->nslots; i++) {
    if (!ix->val[i]) continue;
    size_t j = ix->hv[i] & mask;
    while (val[j]) j = (j + 1) & mask;
    val[j] = ix->val[i];
    hv[j] = ix->hv[i];
  }
  free(ix->val);
  free(ix->hv);
  ix->val = val;
  ix->hv = hv;
  ix->nslots = ns;
  return PP_OK;
}

/* Wrapping 64-bit addition, as Go's int64 arithmetic. */
static inline int64_t pgo_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

#endif
