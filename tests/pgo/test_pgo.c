/*
 * test_pgo.c — unit tests of lib/pprof/pgo.h: the compiler's edge map on
 * hand-built profiles whose edges are worked out here by hand (inline
 * chains, self edges, the per-sample seen set, cancelling values, the
 * sample-type choice), the hot-set cut, the preprofile text, keep/format
 * parsing, and format=pgo trimming checked as a property on thousands of
 * random profiles: the trimmed profile's edge map equals the original's
 * (last-two walk for keep >= 2, both walks for keep = 0), its bytes do not
 * depend on the input's table order, and trimming again changes nothing.
 * Profiles are built directly in the engine's model (internal.h).
 */
#include "check.h"
#include "internal.h"
#include "pgo.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_DEFINE_COUNTERS

/* ---- a small profile builder ---- */

static pp_sid S(pp_profile *p, const char *s) {
  pp_sid id = 0;
  if (pp_pool_intern(&p->sp, s, strlen(s), &id)) abort();
  return id;
}

/* types: "samples/count,cpu/nanoseconds" */
static pp_profile *mk(const char *types) {
  pp_profile *p = pp_profile_new();
  if (!p) abort();
  char buf[256];
  size_t cap = 0;
  snprintf(buf, sizeof buf, "%s", types);
  for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
    char *u = strchr(t, '/');
    *u++ = 0;
    if (PP_GROW(p->stypes, cap, p->nstypes + 1)) abort();
    p->stypes[p->nstypes++] = (pp_vt){S(p, t), S(p, u)};
  }
  p->ptype = (pp_vt){S(p, "cpu"), S(p, "nanoseconds")};
  p->period = 10000000;
  return p;
}

static uint32_t fn(pp_profile *p, const char *name, int64_t start) {
  pp_sid s = S(p, name);
  for (size_t i = 0; i < p->nfuncs; i++)
    if (p->funcs[i].name == s && p->funcs[i].start_line == start) return (uint32_t)i;
  if (PP_GROW(p->funcs, p->cfuncs, p->nfuncs + 1)) abort();
  p->funcs[p->nfuncs] = (pp_function){.name = s, .system_name = s, .filename = S(p, "x.go"), .start_line = start};
  return (uint32_t)p->nfuncs++;
}

/* A location: n frames innermost first, given as (function index, line). */
static uint32_t loc(pp_profile *p, uint64_t addr, size_t n, const uint32_t *f, const int64_t *line) {
  if (PP_GROW(p->locs, p->clocs, p->nlocs + 1) || PP_GROW(p->lines, p->clines, p->nlines + n)) abort();
  p->locs[p->nlocs] = (pp_location){.address = addr, .mapping = PP_NONE, .line_off = (uint32_t)p->nlines,
                                    .nlines = (uint32_t)n};
  for (size_t i = 0; i < n; i++) p->lines[p->nlines++] = (pp_line){.func = f[i], .line = line[i]};
  return (uint32_t)p->nlocs++;
}

static uint32_t loc1(pp_profile *p, uint64_t addr, uint32_t f, int64_t line) { return loc(p, addr, 1, &f, &line); }

/* A sample: values (nstypes of them), locations leaf first. */
static void smp(pp_profile *p, const int64_t *v, size_t n, const uint32_t *locs) {
  if (PP_GROW(p->samples, p->csamples, p->nsamples + 1) || PP_GROW(p->sloc, p->csloc, p->nsloc + n) ||
      PP_GROW(p->values, p->cvalues, (p->nsamples + 1) * p->nstypes))
    abort();
  p->samples[p->nsamples] = (pp_sample){.loc_off = (uint32_t)p->nsloc, .nlocs = (uint32_t)n};
  if (n) memcpy(&p->sloc[p->nsloc], locs, n * sizeof(*locs));
  p->nsloc += n;
  memcpy(&p->values[p->nsamples * p->nstypes], v, p->nstypes * sizeof(*v));
  p->nsamples++;
}

/* One-type sample of weight w. */
static void smp1(pp_profile *p, int64_t w, size_t n, const uint32_t *locs) {
  int64_t v[4] = {w, w, w, w};
  smp(p, v, n, locs);
}

/* Re-reads p through the wire format (what a client would get). */
static pp_profile *roundtrip(const pp_profile *p) {
  uint8_t *b = NULL;
  size_t n = 0;
  char err[256];
  if (pp_encode(p, 1, &b, &n, err, sizeof err)) abort();
  pp_profile *q = NULL;
  if (pp_decode(b, n, NULL, &q, err, sizeof err)) {
    fprintf(stderr, "roundtrip: %s\n", err);
    abort();
  }
  free(b);
  return q;
}

/* ---- edge map helpers ---- */

static pp_pgo_edges *edges(const pp_profile *p, pp_pgo_walk w) {
  pp_pgo_edges *m = NULL;
  char err[256] = "";
  int rc = pp_pgo_edges_compute(p, w, &m, err, sizeof err);
  CHECK(rc == 0, "edges: %s", err);
  return m;
}

/* "caller>callee@off=w;..." in the compiler's order. */
static char *edges_str(const pp_pgo_edges *m) {
  size_t cap = 64 + m->n * 128, at = 0;
  char *s = malloc(cap);
  s[0] = 0;
  for (size_t i = 0; i < m->n; i++) {
    const pp_pgo_edge *e = &m->edge[i];
    if (at + e->caller_len + e->callee_len + 64 > cap) s = realloc(s, cap = cap * 2 + e->caller_len + e->callee_len);
    at += (size_t)snprintf(s + at, cap - at, "%s>%s@%" PRId64 "=%" PRId64 ";", e->caller, e->callee, e->offset,
                           e->weight);
  }
  return s;
}

static int edges_equal(const pp_pgo_edges *a, const pp_pgo_edges *b) {
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

static void expect_edges(const pp_profile *p, pp_pgo_walk w, const char *want, int64_t total) {
  pp_pgo_edges *m = edges(p, w);
  if (!m) return;
  char *got = edges_str(m);
  CHECK(!strcmp(got, want), "edges\n got  %s\n want %s", got, want);
  CHECK(m->total == total, "total %" PRId64 ", want %" PRId64, m->total, total);
  free(got);
  pp_pgo_edges_free(m);
}

/* ---- hand-worked edge maps ---- */

static void test_basic_edges(void) {
  pp_profile *p = mk("samples/count,cpu/nanoseconds");
  uint32_t fmain = fn(p, "main.main", 10), fa = fn(p, "main.a", 20), fb = fn(p, "main.b", 30),
           fc = fn(p, "main.c", 40);
  uint32_t lmain = loc1(p, 0x100, fmain, 12);
  uint32_t la = loc1(p, 0x200, fa, 25);
  /* A leaf location with c inlined into b at line 33. */
  uint32_t chainf[2] = {fc, fb};
  int64_t chainl[2] = {41, 33};
  uint32_t lbc = loc(p, 0x300, 2, chainf, chainl);
  /* c -> b -> a -> main: last two locations are (b/c, a). */
  uint32_t s1[3] = {lbc, la, lmain};
  smp1(p, 5, 3, s1);
  /* a -> main */
  uint32_t s2[2] = {la, lmain};
  smp1(p, 2, 2, s2);
  /* Single location with an inline chain: only its inline edge. */
  uint32_t s3[1] = {lbc};
  smp1(p, 1, 1, s3);
  /* Last two: a>b@5 (5), b>c@3 (5+1), main>a@2 (2). */
  expect_edges(p, PP_PGO_LAST_TWO, "main.b>main.c@3=6;main.a>main.b@5=5;main.main>main.a@2=2;", 13);
  /* Every frame: plus main>a from the first sample. */
  expect_edges(p, PP_PGO_ALL_FRAMES, "main.main>main.a@2=7;main.b>main.c@3=6;main.a>main.b@5=5;", 18);
  pp_free(p);
}

static void test_recursion_and_seen_set(void) {
  pp_profile *p = mk("samples/count,cpu/nanoseconds");
  uint32_t fr = fn(p, "main.rec", 10), fm = fn(p, "main.main", 1);
  uint32_t lm = loc1(p, 0x10, fm, 3);
  uint32_t r1 = loc1(p, 0x20, fr, 15), r2 = loc1(p, 0x30, fr, 15); /* same line, other PC */
  uint32_t leaf = loc1(p, 0x40, fr, 12);
  /* leaf, r1, r2, r1, r2, main: edges r2>r1 and r1>r2 are distinct node pairs
   * named rec>rec@5 — each counted once per sample although walked twice. */
  uint32_t s1[6] = {leaf, r1, r2, r1, r2, lm};
  smp1(p, 3, 6, s1);
  /* The same location twice in a row: parent == child, no edge. */
  uint32_t s2[3] = {r1, r1, lm};
  smp1(p, 4, 3, s2);
  /* Last two of s1: (leaf, r1): rec@15 -> rec: one edge rec>rec@5 = 3. s2: nothing. */
  expect_edges(p, PP_PGO_LAST_TWO, "main.rec>main.rec@5=3;", 3);
  /* All frames, s1: main>r2 (3), r2>r1 (3), r1>r2 (3), r1>leaf (3) — named
   * rec>rec@5 = 9; s2: main>r1 (4). */
  expect_edges(p, PP_PGO_ALL_FRAMES, "main.rec>main.rec@5=9;main.main>main.rec@2=7;", 16);
  pp_free(p);
}

static void test_cancel_and_selection(void) {
  pp_profile *p = mk("samples/count");
  uint32_t fm = fn(p, "main.main", 1), fa = fn(p, "main.a", 10), fb = fn(p, "main.b", 20), fe = fn(p, "main.e", 30);
  uint32_t lm = loc1(p, 1, fm, 2), la = loc1(p, 2, fa, 11), lb = loc1(p, 3, fb, 21), le = loc1(p, 4, fe, 35);
  uint32_t ab[3] = {lb, la, lm}, eb[2] = {lb, le}, ea[2] = {la, le};
  smp1(p, 5, 3, ab);
  smp1(p, -5, 3, ab); /* a>b stays, with weight 0 */
  smp1(p, 4, 2, eb);
  smp1(p, -4, 2, ea); /* e: cum 0, flat 0 -> its edges leave the graph */
  expect_edges(p, PP_PGO_LAST_TWO, "main.a>main.b@1=0;", 0);
  /* The compiler ignores a zero total: preprofile is the header alone. */
  char *t = NULL;
  size_t n = 0;
  char err[256];
  CHECK(pp_pgo_preprofile(p, &t, &n, err, sizeof err) == 0, "%s", err);
  CHECK(n == 17 && !memcmp(t, "GO PREPROFILE V1\n", 17), "got %.*s", (int)n, t);
  free(t);
  /* Trimming keeps the zero edge (two samples +1/-1) and the dropped ones dropped. */
  pp_profile *q = NULL;
  CHECK(pp_pgo_trim(p, 2, &q, err, sizeof err) == 0, "%s", err);
  pp_profile *r = roundtrip(q);
  expect_edges(r, PP_PGO_LAST_TWO, "main.a>main.b@1=0;", 0);
  pp_free(q);
  pp_free(r);
  pp_free(p);
}

static void test_sample_type_choice(void) {
  char err[256] = "";
  size_t vi = 9;
  pp_profile *p = mk("alloc_objects/count,cpu/nanoseconds,samples/count");
  CHECK(pp_pgo_value_index(p, &vi, err, sizeof err) == 0 && vi == 1, "vi %zu", vi);
  pp_free(p);
  p = mk("alloc_objects/count,alloc_space/bytes");
  uint32_t f = fn(p, "main.a", 1), l = loc1(p, 1, f, 2);
  smp1(p, 1, 1, &l);
  CHECK(pp_pgo_value_index(p, &vi, err, sizeof err) == PP_EINCOMPATIBLE, "no type accepted");
  CHECK(strstr(err, "samples/count") != NULL, "message: %s", err);
  pp_pgo_edges *m = NULL;
  CHECK(pp_pgo_edges_compute(p, PP_PGO_LAST_TWO, &m, err, sizeof err) == PP_EINCOMPATIBLE, "edges accepted");
  pp_profile *q = NULL;
  CHECK(pp_pgo_trim(p, 2, &q, err, sizeof err) == PP_EINCOMPATIBLE && !q, "trim accepted");
  pp_free(p);
  /* Samples that add nothing (zero, or no locations): the compiler refuses
   * the profile (no node, so no start line) and must refuse the trimmed one. */
  char *t = NULL;
  size_t n = 0;
  p = mk("samples/count,cpu/nanoseconds");
  uint32_t zf = fn(p, "main.a", 1), zl = loc1(p, 1, zf, 2);
  int64_t zv[2] = {0, 9};
  smp(p, zv, 1, &zl);
  smp1(p, 3, 0, NULL);
  CHECK(pp_pgo_preprofile(p, &t, &n, err, sizeof err) == PP_EINCOMPATIBLE, "all-zero accepted");
  pp_profile *zq = NULL;
  CHECK(pp_pgo_trim(p, 2, &zq, err, sizeof err) == 0, "%s", err);
  pp_profile *zr = zq ? roundtrip(zq) : NULL;
  CHECK(zr && pp_sample_count(zr) == 1 && pp_pgo_preprofile(zr, &t, &n, err, sizeof err) == PP_EINCOMPATIBLE,
        "trimmed all-zero profile is not refused alike");
  pp_free(zq);
  pp_free(zr);
  pp_free(p);
  /* Without samples the compiler does not look at the types. */
  p = mk("alloc_objects/count");
  CHECK(pp_pgo_preprofile(p, &t, &n, err, sizeof err) == 0 && n == 17, "empty: %s", err);
  free(t);
  pp_free(p);
  /* The chosen value is the sample type's, not another's. */
  p = mk("cpu/nanoseconds,samples/count");
  uint32_t fa = fn(p, "a", 1), fb = fn(p, "b", 1);
  uint32_t st[2] = {loc1(p, 2, fb, 3), loc1(p, 1, fa, 2)};
  int64_t v[2] = {70, 3};
  smp(p, v, 2, st);
  expect_edges(p, PP_PGO_LAST_TWO, "a>b@1=70;", 70);
  pp_free(p);
}

static void test_preprofile_text(void) {
  pp_profile *p = mk("samples/count,cpu/nanoseconds");
  uint32_t fm = fn(p, "main.main", 10), fz = fn(p, "z.z", 5), fy = fn(p, "y.y", 0);
  uint32_t lm = loc1(p, 1, fm, 14), lz = loc1(p, 2, fz, 7), ly = loc1(p, 3, fy, 9), lm2 = loc1(p, 4, fm, 12);
  uint32_t a[2] = {lz, lm}, b[2] = {ly, lm2}, c[2] = {ly, lz};
  smp1(p, 2, 2, a);
  smp1(p, 2, 2, b);
  smp1(p, 7, 2, c);
  char *t = NULL;
  size_t n = 0;
  char err[256];
  CHECK(pp_pgo_preprofile(p, &t, &n, err, sizeof err) == 0, "%s", err);
  /* Weight descending; equal weights by caller name then offset. */
  const char *want = "GO PREPROFILE V1\nz.z\ny.y\n2 7\nmain.main\ny.y\n2 2\nmain.main\nz.z\n4 2\n";
  CHECK(n == strlen(want) && !memcmp(t, want, n), "got\n%.*s", (int)n, t);
  free(t);
  pp_free(p);
  /* No start line anywhere: Go's refusal. */
  p = mk("samples/count");
  uint32_t f1 = fn(p, "a", 0), f2 = fn(p, "b", 0);
  uint32_t s[2] = {loc1(p, 1, f2, 3), loc1(p, 2, f1, 4)};
  smp1(p, 1, 2, s);
  CHECK(pp_pgo_preprofile(p, &t, &n, err, sizeof err) == PP_EINCOMPATIBLE, "accepted");
  CHECK(strstr(err, "profile missing Function.start_line data") == err, "message: %s", err);
  pp_free(p);
}

static void test_hot_count(void) {
  static const struct {
    int64_t w[5];
    size_t n, hot;
  } cases[] = {
      {{50, 30, 19, 1}, 4, 4}, /* 99% exactly is not over 99% */
      {{990, 9, 1}, 3, 2},     /* 99.9% after two */
      {{100}, 1, 1},
      {{99, 1}, 2, 2},
      {{5, -5}, 2, 0}, /* zero total: nothing is hot */
      {{1000, 1, 1, 1, 1}, 5, 1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    pp_pgo_edge e[5];
    pp_pgo_edges m = {.edge = e, .n = cases[c].n};
    for (size_t i = 0; i < cases[c].n; i++) {
      e[i] = (pp_pgo_edge){.caller = "a", .callee = "b", .caller_len = 1, .callee_len = 1,
                           .weight = cases[c].w[i]};
      m.total += cases[c].w[i];
    }
    size_t h = pp_pgo_hot_count(&m);
    CHECK(h == cases[c].hot, "case %zu: hot %zu, want %zu", c, h, cases[c].hot);
  }
  CHECK(pp_pgo_hot_count(NULL) == 0, "NULL");
}

static void test_parsing(void) {
  unsigned k = 99;
  char err[256];
  static const char *good[] = {"0", "2", "3", "007", "1000000"};
  static const unsigned goodv[] = {0, 2, 3, 7, 1000000};
  for (size_t i = 0; i < 5; i++)
    CHECK(pp_pgo_keep_parse(good[i], &k, err, sizeof err) == 0 && k == goodv[i], "%s: %s", good[i], err);
  static const char *bad[] = {"1", "", "-2", "2x", " 2", "1000001", "99999999999999999999", "0x2"};
  for (size_t i = 0; i < 8; i++)
    CHECK(pp_pgo_keep_parse(bad[i], &k, err, sizeof err) == PP_EINVAL, "\"%s\" accepted", bad[i]);
  CHECK(strstr(err, "want 0") != NULL, "message: %s", err);
  pp_pgo_format f;
  CHECK(pp_pgo_format_parse("pgo", &f, err, sizeof err) == 0 && f == PP_PGO_FORMAT_PGO, "pgo");
  CHECK(pp_pgo_format_parse("preprofile", &f, err, sizeof err) == 0 && f == PP_PGO_FORMAT_PREPROFILE, "pre");
  CHECK(pp_pgo_format_parse("PGO", &f, err, sizeof err) == PP_EINVAL, "PGO accepted");
  pp_profile *p = mk("samples/count");
  pp_profile *q = NULL;
  CHECK(pp_pgo_trim(p, 1, &q, err, sizeof err) == PP_EINVAL && !q, "keep 1 accepted");
  CHECK(pp_pgo_trim(p, PP_PGO_MAX_KEEP + 1, &q, err, sizeof err) == PP_EINVAL && !q, "huge keep accepted");
  pp_free(p);
}

/* ---- random profiles: trimming is exact ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static uint32_t rn(uint32_t n) { return (uint32_t)(rnd() % n); }

static pp_profile *random_profile(int negative, int labels) {
  pp_profile *p = mk(rn(4) ? "samples/count,cpu/nanoseconds" : "alloc/count,cpu/nanoseconds");
  static const char *names[] = {"a", "b", "c", "d", "e", "f", "main.main", ""};
  uint32_t nf = 2 + rn(6), f[16];
  for (uint32_t i = 0; i < nf; i++) f[i] = fn(p, names[rn(8)], rn(5) ? 1 + rn(3) * 10 : 0);
  /* Mappings: a few, so that mapping-only differences occur. */
  size_t mcap = 0;
  for (int i = 0; i < 2; i++) {
    if (PP_GROW(p->maps, mcap, p->nmaps + 1)) abort();
    p->maps[p->nmaps++] = (pp_mapping){.start = 0x1000u * (i + 1), .limit = 0x9000u * (i + 1), .file = S(p, i ? "b" : "a")};
  }
  uint32_t nl = 2 + rn(14);
  for (uint32_t i = 0; i < nl; i++) {
    uint32_t lf[4];
    int64_t ll[4];
    uint32_t n = rn(6) ? 1 + rn(3) : 0;
    for (uint32_t k = 0; k < n; k++) {
      lf[k] = f[rn(nf)];
      ll[k] = p->funcs[lf[k]].start_line + rn(4);
    }
    uint32_t l = loc(p, 0x10 * (1 + rn(6)), n, lf, ll);
    p->locs[l].mapping = rn(3) ? rn(2) : PP_NONE;
  }
  uint32_t ns = 1 + rn(40);
  for (uint32_t s = 0; s < ns; s++) {
    uint32_t st[8];
    uint32_t d = rn(8);
    for (uint32_t k = 0; k < d; k++) st[k] = rn(nl);
    int64_t v[2] = {rn(5) ? 1 + rn(4) : 0, rn(7)};
    if (negative && rn(3) == 0) v[0] = -v[0];
    if (rn(50) == 0) v[0] = INT64_MAX - rn(3);
    smp(p, v, d, st);
    if (labels && rn(2)) {
      pp_label lb = {.key = S(p, "request"), .str = S(p, rn(2) ? "x" : "y")};
      if (PP_GROW(p->labels, p->clabels, p->nlabels + 1)) abort();
      p->samples[p->nsamples - 1].label_off = (uint32_t)p->nlabels;
      p->samples[p->nsamples - 1].nlabels = 1;
      p->labels[p->nlabels++] = lb;
    }
  }
  return p;
}

/* A copy of p with its samples and locations in another order. */
static pp_profile *shuffled(const pp_profile *p) {
  pp_profile *q = roundtrip(p); /* same tables, fresh arrays */
  /* Reverse the location table, remapping the samples' references. */
  uint32_t n = (uint32_t)q->nlocs;
  for (uint32_t i = 0; i < n / 2; i++) {
    pp_location t = q->locs[i];
    q->locs[i] = q->locs[n - 1 - i];
    q->locs[n - 1 - i] = t;
  }
  for (size_t i = 0; i < q->nsloc; i++) q->sloc[i] = n - 1 - q->sloc[i];
  /* Rotate the samples. */
  if (q->nsamples > 1) {
    size_t k = 1 + rn((uint32_t)q->nsamples - 1), ns = q->nsamples, nst = q->nstypes;
    pp_sample *s = malloc(ns * sizeof(*s));
    int64_t *v = malloc(ns * nst * sizeof(*v));
    for (size_t i = 0; i < ns; i++) {
      s[i] = q->samples[(i + k) % ns];
      memcpy(&v[i * nst], &q->values[((i + k) % ns) * nst], nst * sizeof(*v));
    }
    memcpy(q->samples, s, ns * sizeof(*s));
    memcpy(q->values, v, ns * nst * sizeof(*v));
    free(s);
    free(v);
  }
  return q;
}

static int same_edges(const pp_profile *a, const pp_profile *b, pp_pgo_walk w) {
  pp_pgo_edges *x = NULL, *y = NULL;
  char err[256];
  int ra = pp_pgo_edges_compute(a, w, &x, err, sizeof err), rb = pp_pgo_edges_compute(b, w, &y, err, sizeof err);
  int eq = ra == rb && (ra || edges_equal(x, y));
  if (!eq && !ra && !rb) {
    char *s1 = edges_str(x), *s2 = edges_str(y);
    fprintf(stderr, "  original %s (total %" PRId64 ")\n  trimmed  %s (total %" PRId64 ")\n", s1, x->total, s2,
            y->total);
    free(s1);
    free(s2);
  }
  pp_pgo_edges_free(x);
  pp_pgo_edges_free(y);
  return eq;
}

static void test_trim_random(int iterations) {
  int failures = 0;
  for (int iter = 0; iter < iterations && failures < 5; iter++) {
    pp_profile *p = random_profile(iter % 3 == 0, iter % 2);
    size_t vi;
    char err[256];
    int typed = pp_pgo_value_index(p, &vi, err, sizeof err) == 0;
    static const unsigned keeps[] = {2, 0, 3};
    for (int k = 0; k < 3; k++) {
      pp_profile *q = NULL;
      int rc = pp_pgo_trim(p, keeps[k], &q, err, sizeof err);
      CHECK(typed ? rc == 0 : rc == PP_EINCOMPATIBLE, "iter %d keep %u: rc %d %s", iter, keeps[k], rc, err);
      if (rc) continue;
      pp_profile *r = roundtrip(q); /* what a reader of the bytes sees */
      int ok = same_edges(p, r, PP_PGO_LAST_TWO);
      if (keeps[k] == 0) ok = ok && same_edges(p, r, PP_PGO_ALL_FRAMES);
      CHECK(ok, "iter %d keep %u: edge maps differ", iter, keeps[k]);
      CHECK(r->nstypes == 1 && r->nlabels == 0 && r->nmaps == 0, "iter %d: types/labels/mappings kept", iter);
      for (size_t s = 0; s < r->nsamples; s++)
        CHECK(keeps[k] == 0 || r->samples[s].nlocs <= keeps[k], "iter %d: sample %zu has %u locations", iter, s,
              r->samples[s].nlocs);
      /* Same bytes whatever the input's order; trimming again: same map. */
      uint8_t *b1 = NULL, *b2 = NULL;
      size_t n1 = 0, n2 = 0;
      pp_profile *sh = shuffled(p);
      CHECK(pp_pgo_encode(p, keeps[k], 1, &b1, &n1, err, sizeof err) == 0, "%s", err);
      CHECK(pp_pgo_encode(sh, keeps[k], 1, &b2, &n2, err, sizeof err) == 0, "%s", err);
      CHECK(n1 == n2 && b1 && b2 && !memcmp(b1, b2, n1), "iter %d keep %u: output depends on input order", iter,
            keeps[k]);
      pp_profile *q2 = NULL;
      CHECK(pp_pgo_trim(r, keeps[k], &q2, err, sizeof err) == 0, "%s", err);
      if (q2) {
        pp_profile *r2 = roundtrip(q2);
        CHECK(same_edges(p, r2, PP_PGO_LAST_TWO), "iter %d keep %u: trimming twice changed the map", iter, keeps[k]);
        pp_free(r2);
      }
      if (!ok) failures++;
      free(b1);
      free(b2);
      pp_free(sh);
      pp_free(q2);
      pp_free(q);
      pp_free(r);
    }
    pp_free(p);
  }
}

/* ---- diff ---- */

static void test_diff(void) {
  pp_profile *o = mk("samples/count"), *n = mk("samples/count");
  /* OLD: main>a (900), main>b (95), main>c (5): 99.5% after two, so c is not hot. */
  pp_profile *ps[2] = {o, n};
  uint32_t l[2][5];
  for (int i = 0; i < 2; i++) {
    pp_profile *p = ps[i];
    l[i][0] = loc1(p, 1, fn(p, "main.main", 10), 12);
    l[i][1] = loc1(p, 2, fn(p, "main.a", 20), 21);
    l[i][2] = loc1(p, 3, fn(p, "main.b", 30), 31);
    l[i][3] = loc1(p, 4, fn(p, "main.c", 40), 41);
    l[i][4] = loc1(p, 5, fn(p, "main.new", 50), 51);
  }
  int64_t ow[3] = {900, 95, 5};
  for (int k = 0; k < 3; k++) {
    uint32_t s[2] = {l[0][1 + k], l[0][0]};
    smp1(o, ow[k], 2, s);
  }
  /* NEW: main>c (60), main>a (30), main>new (10): b leaves, c and new enter. */
  int64_t nw[3] = {60, 30, 10};
  int idx[3] = {3, 1, 4};
  for (int k = 0; k < 3; k++) {
    uint32_t s[2] = {l[1][idx[k]], l[1][0]};
    smp1(n, nw[k], 2, s);
  }
  pp_pgo_diff *d = NULL;
  char err[256];
  CHECK(pp_pgo_diff_profiles(o, n, &d, err, sizeof err) == 0, "%s", err);
  if (d) {
    CHECK(d->old_hot == 2 && d->new_hot == 3, "hot %zu %zu", d->old_hot, d->new_hot);
    CHECK(d->nentering == 2, "entering %zu", d->nentering);
    if (d->nentering == 2) {
      CHECK(!strcmp(d->entering[0].callee, "main.c") && d->entering[0].in_old &&
                d->entering[0].new_weight == 60 && d->entering[0].new_share == 60.0 &&
                d->entering[0].old_weight == 5 && d->entering[0].old_share == 0.5,
            "entering[0] %s %" PRId64, d->entering[0].callee, d->entering[0].old_weight);
      CHECK(!strcmp(d->entering[1].callee, "main.new") && !d->entering[1].in_old && d->entering[1].offset == 2,
            "entering[1] %s", d->entering[1].callee);
    }
    CHECK(d->nleaving == 1 && !strcmp(d->leaving[0].callee, "main.b") && !d->leaving[0].in_new &&
              d->leaving[0].old_share == 9.5 && d->leaving[0].old_weight == 95,
          "leaving %zu", d->nleaving);
    /* main.new is no function of OLD: 10 of 100. */
    CHECK(d->stale_edges == 1 && d->stale_weight == 10 && d->stale_share == 10.0, "stale %zu %" PRId64,
          d->stale_edges, d->stale_weight);
  }
  pp_pgo_diff_free(d);
  /* Against itself: nothing moves, nothing is stale. */
  CHECK(pp_pgo_diff_profiles(n, n, &d, err, sizeof err) == 0 && d->nentering == 0 && d->nleaving == 0 &&
            d->stale_weight == 0,
        "self diff");
  pp_pgo_diff_free(d);
  pp_free(o);
  pp_free(n);
}

/* ---- bytes in, bytes out ---- */

static void test_convert(void) {
  pp_profile *p = mk("samples/count,cpu/nanoseconds");
  uint32_t st[2] = {loc1(p, 2, fn(p, "b", 5), 7), loc1(p, 1, fn(p, "a", 1), 3)};
  smp1(p, 4, 2, st);
  uint8_t *in = NULL, *out = NULL;
  size_t inlen = 0, outlen = 0;
  char err[256];
  CHECK(pp_encode(p, 6, &in, &inlen, err, sizeof err) == 0, "%s", err);
  CHECK(pp_pgo_convert(in, inlen, NULL, PP_PGO_FORMAT_PREPROFILE, 0, -1, &out, &outlen, err, sizeof err) == 0,
        "%s", err);
  const char *want = "GO PREPROFILE V1\na\nb\n2 4\n";
  CHECK(outlen == strlen(want) && !memcmp(out, want, outlen), "got %.*s", (int)outlen, (char *)out);
  uint8_t *gz = NULL;
  size_t gzlen = 0;
  CHECK(pp_gzip(out, outlen, -1, &gz, &gzlen, err, sizeof err) == 0 && gzlen > 10 && gz[0] == 0x1f &&
            gz[1] == 0x8b,
        "gzip");
  free(gz);
  free(out);
  CHECK(pp_pgo_convert(in, inlen, NULL, PP_PGO_FORMAT_PGO, 2, -1, &out, &outlen, err, sizeof err) == 0, "%s", err);
  pp_profile *q = NULL;
  CHECK(pp_decode(out, outlen, NULL, &q, err, sizeof err) == 0, "%s", err);
  if (q) {
    CHECK(same_edges(p, q, PP_PGO_LAST_TWO), "convert changed the map");
    CHECK(pp_sample_type_count(q) == 1 && !strcmp(pp_sample_type(q, 0).type, "samples"), "types");
    CHECK(pp_period(q) == 10000000 && !strcmp(pp_period_type(q).type, "cpu"), "header");
  }
  pp_free(q);
  free(out);
  CHECK(pp_pgo_convert(in, inlen, NULL, PP_PGO_FORMAT_PGO, 1, -1, &out, &outlen, err, sizeof err) == PP_EINVAL,
        "keep 1");
  CHECK(pp_pgo_convert((const uint8_t *)"junk", 4, NULL, PP_PGO_FORMAT_PGO, 2, -1, &out, &outlen, err,
                       sizeof err) == PP_EMALFORMED,
        "junk accepted");
  pp_limits lim = {.max_input_bytes = 8};
  CHECK(pp_pgo_convert(in, inlen, &lim, PP_PGO_FORMAT_PGO, 2, -1, &out, &outlen, err, sizeof err) == PP_ETOOBIG,
        "limit not applied");
  free(in);
  pp_free(p);
}

/* test_pgo [ITERATIONS]: random profiles to trim (default 3000). */
int main(int argc, char **argv) {
  int iterations = argc > 1 ? atoi(argv[1]) : 3000;
  test_basic_edges();
  test_recursion_and_seen_set();
  test_cancel_and_selection();
  test_sample_type_choice();
  test_preprofile_text();
  test_hot_count();
  test_parsing();
  test_trim_random(iterations > 0 ? iterations : 3000);
  test_diff();
  test_convert();
  return check_exit("test_pgo");
}
