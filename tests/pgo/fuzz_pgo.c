/*
 * fuzz_pgo.c — libFuzzer target for the compiler's view (lib/pprof/pgo.h).
 *
 * Every input the decoder accepts goes through the edge map (both walks), the
 * preprofile text, format=pgo with keep 2 and keep 0, and a diff against
 * itself. Beyond crashes, leaks and sanitizer reports it checks the property
 * format=pgo promises for every profile: the trimmed profile, decoded again
 * from its bytes, has the original's last-two edge map (keep 2) and both of
 * its maps (keep 0), and the same preprofile text; and a profile compared with
 * itself has nothing entering or leaving the hot set.
 *
 * Built only with clang and PGOPIPE_FUZZ=ON; ctest runs it briefly on the
 * engine's seed corpus (tests/fuzz/seeds).
 */
#include "pgo.h"
#include "pprof.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, what)                                        \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "fuzz_pgo: invariant failed: %s\n", what); \
      abort();                                                   \
    }                                                            \
  } while (0)

static int same_map(const pp_pgo_edges *a, const pp_pgo_edges *b) {
  if (a->n != b->n || a->total != b->total || a->has_start_line != b->has_start_line) return 0;
  for (size_t i = 0; i < a->n; i++) {
    const pp_pgo_edge *x = &a->edge[i], *y = &b->edge[i];
    if (x->offset != y->offset || x->weight != y->weight || x->caller_len != y->caller_len ||
        x->callee_len != y->callee_len || memcmp(x->caller, y->caller, x->caller_len) ||
        memcmp(x->callee, y->callee, x->callee_len))
      return 0;
  }
  return 1;
}

/* Trims p with keep, decodes the bytes, checks the maps of the given walks. */
static void check_trim(const pp_profile *p, unsigned keep, pp_pgo_edges *const want[2], const char *pre,
                       size_t prelen) {
  char err[256];
  uint8_t *b = NULL;
  size_t n = 0;
  CHECK(pp_pgo_encode(p, keep, 1, &b, &n, err, sizeof err) == 0, "format=pgo refused a profile with a CPU type");
  pp_profile *q = NULL;
  CHECK(pp_decode(b, n, NULL, &q, err, sizeof err) == 0, "format=pgo output does not decode");
  free(b);
  for (int w = 0; w < 2; w++) {
    if (w == PP_PGO_ALL_FRAMES && keep != 0) continue;
    pp_pgo_edges *got = NULL;
    CHECK(pp_pgo_edges_compute(q, (pp_pgo_walk)w, &got, err, sizeof err) == 0, "trimmed map refused");
    CHECK(same_map(want[w], got), keep ? "keep 2 changed the last-two map" : "keep 0 changed a map");
    pp_pgo_edges_free(got);
  }
  char *t = NULL;
  size_t tl = 0;
  int rc = pp_pgo_preprofile(q, &t, &tl, err, sizeof err);
  CHECK((rc == 0) == (pre != NULL), "preprofile accepted one and refused the other");
  CHECK(!pre || (tl == prelen && !memcmp(t, pre, tl)), "preprofile of format=pgo differs");
  free(t);
  pp_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pp_limits lim = {.max_input_bytes = 1 << 20, .max_decoded_bytes = 8 << 20};
  pp_profile *p = NULL;
  char err[256];
  if (pp_decode(data, size, &lim, &p, err, sizeof err) != 0) return 0;
  pp_pgo_edges *m[2] = {NULL, NULL};
  int rc = pp_pgo_edges_compute(p, PP_PGO_LAST_TWO, &m[0], err, sizeof err);
  size_t vi;
  int typed = pp_pgo_value_index(p, &vi, err, sizeof err) == 0;
  CHECK(rc == 0 || !typed, "edge map refused a profile with a CPU type");
  if (rc == 0) {
    CHECK(pp_pgo_edges_compute(p, PP_PGO_ALL_FRAMES, &m[1], err, sizeof err) == 0, "full walk refused");
    CHECK(pp_pgo_hot_count(m[0]) <= m[0]->n, "hot set larger than the map");
    char *pre = NULL;
    size_t prelen = 0;
    if (pp_pgo_preprofile(p, &pre, &prelen, err, sizeof err) != 0) pre = NULL;
    if (typed) {
      check_trim(p, 2, m, pre, prelen);
      check_trim(p, 0, m, pre, prelen);
    }
    pp_pgo_diff *d = NULL;
    CHECK(pp_pgo_diff_profiles(p, p, &d, err, sizeof err) == 0, "self diff failed");
    CHECK(d->nentering == 0 && d->nleaving == 0 && d->stale_weight == 0, "self diff found changes");
    pp_pgo_diff_free(d);
    free(pre);
  }
  pp_pgo_edges_free(m[0]);
  pp_pgo_edges_free(m[1]);
  pp_free(p);
  return 0;
}
