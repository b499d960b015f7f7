/*
 * fuzz_profile.c — libFuzzer target for the profile engine.
 *
 * Each input goes through the whole life of an upload: decode + validate,
 * merge with itself and with a fixed seed profile, prune with fixed rules,
 * encode, and decode again. Crashes, leaks and sanitizer reports are the
 * findings; beyond those it checks invariants that must hold for every input
 * the decoder accepts: what the encoder writes decodes again, with the same
 * totals, and merging a profile with itself doubles every total.
 *
 * Built only with clang and PGOPIPE_FUZZ=ON; ctest runs it briefly on the
 * committed seed corpus (tests/fuzz/seeds: small real Go profiles).
 */
#include "pprof.h"
#include "../export/fuzz_exports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A valid CPU profile (main.leaf inlined into main.caller <- main.main),
 * the file tests/cli/mkbad.c writes as good.pb. */
static const uint8_t seed_profile[] = {
  0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x0a, 0x04, 0x08, 0x03, 0x10, 0x04,
  0x12, 0x11, 0x08, 0x01, 0x08, 0x02, 0x10, 0x01, 0x10, 0x80, 0xad, 0xe2,
  0x04, 0x1a, 0x04, 0x08, 0x09, 0x10, 0x0a, 0x1a, 0x0e, 0x08, 0x01, 0x10,
  0x80, 0x80, 0x80, 0x02, 0x18, 0x80, 0x80, 0xc0, 0x02, 0x28, 0x08, 0x22,
  0x15, 0x08, 0x01, 0x10, 0x01, 0x18, 0x90, 0xa0, 0x80, 0x02, 0x22, 0x04,
  0x08, 0x01, 0x10, 0x0b, 0x22, 0x04, 0x08, 0x02, 0x10, 0x14, 0x22, 0x0f,
  0x08, 0x02, 0x10, 0x01, 0x18, 0xa0, 0xa0, 0x80, 0x02, 0x22, 0x04, 0x08,
  0x03, 0x10, 0x0c, 0x2a, 0x0a, 0x08, 0x01, 0x10, 0x05, 0x18, 0x05, 0x20,
  0x0b, 0x28, 0x01, 0x2a, 0x0a, 0x08, 0x02, 0x10, 0x06, 0x18, 0x06, 0x20,
  0x0b, 0x28, 0x02, 0x2a, 0x0a, 0x08, 0x03, 0x10, 0x07, 0x18, 0x07, 0x20,
  0x0b, 0x28, 0x03, 0x32, 0x00, 0x32, 0x07, 0x73, 0x61, 0x6d, 0x70, 0x6c,
  0x65, 0x73, 0x32, 0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x32, 0x03, 0x63,
  0x70, 0x75, 0x32, 0x0b, 0x6e, 0x61, 0x6e, 0x6f, 0x73, 0x65, 0x63, 0x6f,
  0x6e, 0x64, 0x73, 0x32, 0x09, 0x6d, 0x61, 0x69, 0x6e, 0x2e, 0x6c, 0x65,
  0x61, 0x66, 0x32, 0x0b, 0x6d, 0x61, 0x69, 0x6e, 0x2e, 0x63, 0x61, 0x6c,
  0x6c, 0x65, 0x72, 0x32, 0x09, 0x6d, 0x61, 0x69, 0x6e, 0x2e, 0x6d, 0x61,
  0x69, 0x6e, 0x32, 0x08, 0x2f, 0x62, 0x69, 0x6e, 0x2f, 0x61, 0x70, 0x70,
  0x32, 0x03, 0x6b, 0x65, 0x79, 0x32, 0x05, 0x76, 0x61, 0x6c, 0x75, 0x65,
  0x32, 0x07, 0x6d, 0x61, 0x69, 0x6e, 0x2e, 0x67, 0x6f, 0x48, 0x80, 0x80,
  0xa8, 0xb1, 0xe3, 0x9f, 0xe7, 0xcb, 0x17, 0x50, 0x80, 0x94, 0xeb, 0xdc,
  0x03, 0x5a, 0x04, 0x08, 0x03, 0x10, 0x04, 0x60, 0x80, 0xad, 0xe2, 0x04
};

#define INVARIANT(cond, what)                                        \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "fuzz_profile: invariant failed: %s\n", what); \
      abort();                                                       \
    }                                                                \
  } while (0)

static pp_profile *redecode(const pp_profile *p, int raw) {
  char err[256];
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = raw ? pp_encode_raw(p, &buf, &len, err, sizeof err)
               : pp_encode(p, 1, &buf, &len, err, sizeof err);
  if (rc == PP_ENOMEM) return NULL;
  INVARIANT(rc == 0, "encoding a valid profile succeeds");
  pp_profile *q = NULL;
  rc = pp_decode(buf, len, NULL, &q, err, sizeof err);
  free(buf);
  if (rc == PP_ENOMEM) return NULL;
  if (rc != 0) fprintf(stderr, "fuzz_profile: re-decode: %s\n", err);
  INVARIANT(rc == 0, "what pp_encode writes decodes again");
  return q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  pp_limits lim = {.max_input_bytes = 1 << 20, .max_decoded_bytes = 8 << 20};
  pp_profile *p = NULL;
  if (pp_decode(data, size, &lim, &p, err, sizeof err) != 0) return 0;
  fuzz_exports(p);

  /* Round trip keeps the totals (zero samples may be dropped, sums not). */
  size_t nst = pp_sample_type_count(p);
  pp_profile *q = redecode(p, 1);
  if (!q) {
    pp_free(p);
    return 0;
  }
  INVARIANT(pp_sample_type_count(q) == nst, "round trip keeps the sample types");
  for (size_t i = 0; i < nst; i++) INVARIANT(pp_total(q, i) == pp_total(p, i), "round trip keeps totals");

  /* Merge p with itself: every total doubles (64-bit wrapping). */
  int64_t totals[64];
  size_t nt = nst < 64 ? nst : 64;
  for (size_t i = 0; i < nt; i++) totals[i] = (int64_t)((uint64_t)pp_total(p, i) * 2u);
  pp_merger *m = pp_merger_new();
  if (!m) {
    pp_free(p);
    pp_free(q);
    return 0;
  }
  int rc = pp_merger_add(m, p, err, sizeof err);
  if (rc == 0) rc = pp_merger_add(m, q, err, sizeof err);
  else pp_free(q);
  pp_profile *seed = NULL;
  if (rc == 0 && pp_decode(seed_profile, sizeof seed_profile, NULL, &seed, err, sizeof err) == 0) {
    int64_t before[64];
    for (size_t i = 0; i < nt; i++) before[i] = totals[i];
    /* Incompatible with most inputs; then the merger must be unchanged. */
    int src = pp_merger_add(m, seed, err, sizeof err);
    if (src != 0) {
      INVARIANT(src == PP_EINCOMPATIBLE || src == PP_ENOMEM, "seed merge fails only as incompatible");
      for (size_t i = 0; i < nt; i++) totals[i] = before[i];
    } else {
      nt = 0; /* totals now include the seed's; not tracked */
    }
  }
  pp_profile *r = NULL;
  if (rc == 0) rc = pp_merger_finish(m, &r, err, sizeof err);
  pp_merger_free(m);
  if (rc != 0) {
    INVARIANT(rc == PP_ENOMEM, "merging a profile with itself succeeds");
    return 0;
  }
  for (size_t i = 0; i < nt; i++) INVARIANT(pp_total(r, i) == totals[i], "self-merge doubles totals");

  /* Prune with fixed rules: totals never change. */
  pp_rules *rules = pp_rules_new();
  if (rules && pp_rules_add(rules, "^runtime\\.", "^runtime\\.mallocgc$", err, sizeof err) == 0 &&
      pp_rules_add(rules, "^main\\.|^sync\\.$", NULL, err, sizeof err) == 0) {
    int64_t pre[64];
    size_t n = pp_sample_type_count(r) < 64 ? pp_sample_type_count(r) : 64;
    for (size_t i = 0; i < n; i++) pre[i] = pp_total(r, i);
    rc = pp_prune(r, rules, err, sizeof err);
    if (rc == 0)
      for (size_t i = 0; i < n; i++) INVARIANT(pp_total(r, i) == pre[i], "prune keeps totals");
  }
  pp_rules_free(rules);

  pp_profile *again = redecode(r, 0);
  if (again) {
    for (size_t i = 0; i < pp_sample_type_count(r); i++)
      INVARIANT(pp_total(again, i) == pp_total(r, i), "encode/decode after merge+prune keeps totals");
  }
  pp_free(again);
  pp_free(r);
  return 0;
}
