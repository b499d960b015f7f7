/*
 * test_merge.c — pp_merger / pp_merge against pprof's Merge semantics:
 * compatibility checks, header rules, identity rules of mappings, functions,
 * locations and samples (labels included), zero samples, the first-mapping
 * rule, the clean-up pass and dense IDs in creation order; pp_merge_tree
 * against merging one input after the other.
 */
#include "testutil.h"

#include <unistd.h>

CHECK_DEFINE_COUNTERS

/* A one-frame CPU profile: function `fn` at `addr` in /bin/app. */
static pp_profile *one(const char *fn, uint64_t addr, const char *values) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_func(&b, 1, fn, "a.go", 1);
  tb_loc(&b, 1, 1, addr, "1:10");
  tb_sample(&b, values, "1");
  return tb_decode(&b);
}

static pp_profile *hdr(int64_t time, int64_t dur, int64_t period, const char *dst, const char *drop,
                       const char *comment) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  b.p.period = period;
  b.p.time_nanos = time;
  b.p.duration_nanos = dur;
  if (dst) b.p.default_sample_type = S_(&b, dst);
  if (drop) b.p.drop_frames = S_(&b, drop);
  if (comment) {
    b.p.n_comment = 2;
    b.p.comment = malloc(2 * sizeof(int64_t));
    b.p.comment[0] = S_(&b, comment);
    b.p.comment[1] = S_(&b, comment); /* duplicate inside one input */
  }
  tb_func(&b, 1, "f", "f.go", 0);
  tb_loc(&b, 1, 0, 1, "1:1");
  tb_sample(&b, "1 1", "1");
  return tb_decode(&b);
}

static int64_t merged_time(int n, const int64_t *times) {
  pp_merger *m = pp_merger_new();
  char err[256];
  for (int i = 0; i < n; i++) pp_merger_add(m, hdr(times[i], 0, 1, NULL, NULL, NULL), err, sizeof(err));
  pp_profile *r;
  pp_merger_finish(m, &r, err, sizeof(err));
  pp_merger_free(m);
  int64_t t = pp_time_nanos(r);
  pp_free(r);
  return t;
}

static void test_header(void) {
  CHECK_EQ(merged_time(2, (int64_t[]){500, 300}), 300);
  CHECK_EQ(merged_time(2, (int64_t[]){500, 0}), 0);
  CHECK_EQ(merged_time(2, (int64_t[]){0, 500}), 500);
  CHECK_EQ(merged_time(3, (int64_t[]){100, 0, 300}), 300);
  CHECK_EQ(merged_time(2, (int64_t[]){300, 500}), 300);

  char err[256];
  pp_merger *m = pp_merger_new();
  CHECK_EQ(pp_merger_add(m, hdr(1, 10, 8192, NULL, NULL, "c1"), err, sizeof(err)), 0);
  CHECK_EQ(pp_merger_add(m, hdr(1, 20, 524288, "cpu", "^runtime", "c2"), err, sizeof(err)), 0);
  CHECK_EQ(pp_merger_add(m, hdr(1, 30, 0, "samples", NULL, "c1"), err, sizeof(err)), 0);
  CHECK_EQ(pp_merger_add(m, hdr(1, 40, 4096, NULL, NULL, NULL), err, sizeof(err)), 0);
  pp_profile *r;
  CHECK_EQ(pp_merger_finish(m, &r, err, sizeof(err)), 0);
  pp_merger_free(m);
  CHECK_EQ(pp_duration_nanos(r), 100);
  CHECK_EQ(pp_period(r), 524288);
  CHECK_STR(pp_default_sample_type(r), "cpu");
  CHECK_STR(pp_pool_str(&r->sp, r->drop_frames), ""); /* from the first input, even if empty */
  CHECK_EQ(pp_comment_count(r), 2);
  CHECK_STR(pp_comment(r, 0), "c1");
  CHECK_STR(pp_comment(r, 1), "c2");
  CHECK_EQ(pp_sample_count(r), 1);
  CHECK_EQ(val(r, 0, 0), 4);
  pp_free(r);

  /* negative running period: an input replaces it only when larger */
  m = pp_merger_new();
  pp_merger_add(m, hdr(1, 0, -5, NULL, NULL, NULL), err, sizeof(err));
  pp_merger_add(m, hdr(1, 0, -9, NULL, NULL, NULL), err, sizeof(err));
  pp_merger_finish(m, &r, err, sizeof(err));
  pp_merger_free(m);
  CHECK_EQ(pp_period(r), -5);
  pp_free(r);

  /* drop frames of the first input win */
  m = pp_merger_new();
  pp_merger_add(m, hdr(1, 0, 1, NULL, "^first", NULL), err, sizeof(err));
  pp_merger_add(m, hdr(1, 0, 1, NULL, "^second", NULL), err, sizeof(err));
  pp_merger_finish(m, &r, err, sizeof(err));
  pp_merger_free(m);
  CHECK_STR(pp_pool_str(&r->sp, r->drop_frames), "^first");
  pp_free(r);

  /* doc_url: first non-empty */
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  pp_profile *a = tb_decode(&b);
  tb_init(&b);
  tb_cpu(&b);
  b.p.doc_url = S_(&b, "https://example.com/doc");
  pp_profile *c = tb_decode(&b);
  r = merge2(a, c, 0, err, sizeof(err));
  CHECK_STR(pp_doc_url(r), "https://example.com/doc");
  pp_free(r);

  /* no inputs */
  m = pp_merger_new();
  CHECK_EQ(pp_merger_finish(m, &r, err, sizeof(err)), PP_EINVAL);
  CHECK_STR(err, "no profiles to merge");
  pp_merger_free(m);
  CHECK_EQ(pp_merge(NULL, 0, &r, err, sizeof(err)), PP_EINVAL);
}

static pp_profile *typed(const char *pt, const char *pu, int n, const char *const *st) {
  tb b;
  tb_init(&b);
  tb_period(&b, pt, pu, 1);
  for (int i = 0; i < n; i++) tb_stype(&b, st[2 * i], st[2 * i + 1]);
  return tb_decode(&b);
}

static void test_incompatible(void) {
  char err[256];
  static const char *const cpu[] = {"samples", "count", "cpu", "nanoseconds"};
  static const char *const heap[] = {"alloc_objects", "count", "alloc_space", "bytes"};
  static const char *const cpu_rev[] = {"cpu", "nanoseconds", "samples", "count"};
  static const char *const cpu_ms[] = {"samples", "count", "cpu", "milliseconds"};
  pp_profile *r;
  r = merge2(typed("cpu", "nanoseconds", 2, cpu), typed("space", "bytes", 2, heap), PP_EINCOMPATIBLE, err,
             sizeof(err));
  CHECK(r == NULL);
  CHECK_STR(err, "incompatible period types cpu/nanoseconds and space/bytes");
  r = merge2(typed("cpu", "nanoseconds", 2, cpu), typed("cpu", "nanoseconds", 2, heap), PP_EINCOMPATIBLE, err,
             sizeof(err));
  CHECK_STR(err,
            "incompatible sample types [samples/count cpu/nanoseconds] and [alloc_objects/count alloc_space/bytes]");
  merge2(typed("cpu", "nanoseconds", 2, cpu), typed("cpu", "nanoseconds", 1, cpu), PP_EINCOMPATIBLE, err,
         sizeof(err));
  CHECK_CONTAINS(err, "incompatible sample types");
  merge2(typed("cpu", "nanoseconds", 2, cpu), typed("cpu", "nanoseconds", 2, cpu_rev), PP_EINCOMPATIBLE, err,
         sizeof(err));
  CHECK_CONTAINS(err, "incompatible sample types"); /* order matters */
  merge2(typed("cpu", "nanoseconds", 2, cpu), typed("cpu", "nanoseconds", 2, cpu_ms), PP_EINCOMPATIBLE, err,
         sizeof(err));
  CHECK_CONTAINS(err, "incompatible sample types"); /* units matter */
  /* period type is checked first */
  merge2(typed("cpu", "nanoseconds", 2, cpu), typed("space", "bytes", 1, heap), PP_EINCOMPATIBLE, err, sizeof(err));
  CHECK_CONTAINS(err, "incompatible period types");

  /* After a refused input the merger goes on unchanged. */
  pp_merger *m = pp_merger_new();
  CHECK_EQ(pp_merger_add(m, one("main.a", 0x401000, "1 10"), err, sizeof(err)), 0);
  CHECK_EQ(pp_merger_add(m, typed("space", "bytes", 2, heap), err, sizeof(err)), PP_EINCOMPATIBLE);
  CHECK_EQ(pp_merger_add(m, one("main.a", 0x401000, "2 20"), err, sizeof(err)), 0);
  CHECK_EQ(pp_merger_finish(m, &r, err, sizeof(err)), 0);
  pp_merger_free(m);
  CHECK_EQ(pp_sample_count(r), 1);
  CHECK_EQ(val(r, 0, 1), 30);
  pp_free(r);
}

/* Two profiles, each one sample in one mapping; returns the mapping count
 * of the merge and the location count. */
static void map_pair(uint64_t s1, uint64_t l1, const char *f1, const char *b1, uint64_t s2, uint64_t l2,
                     const char *f2, const char *b2, size_t *nmaps, size_t *nlocs, pp_profile **keep) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, s1, l1, 0, f1, b1)->has_functions = 1;
  tb_func(&b, 1, "main.f", "a.go", 1);
  tb_loc(&b, 1, 1, s1 + 0x10, "1:10");
  tb_sample(&b, "1 1", "1");
  pp_profile *a = tb_decode(&b);
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 7, s2, l2, 0, f2, b2)->has_line_numbers = 1;
  tb_func(&b, 3, "main.f", "a.go", 1);
  tb_loc(&b, 5, 7, s2 + 0x10, "3:10");
  tb_sample(&b, "1 1", "5");
  pp_profile *c = tb_decode(&b);
  char err[256];
  pp_profile *r = merge2(a, c, 0, err, sizeof(err));
  *nmaps = r->nmaps;
  *nlocs = r->nlocs;
  if (keep)
    *keep = r;
  else
    pp_free(r);
}

static void test_mapping_identity(void) {
  size_t nm, nl;
  pp_profile *r;
  /* size rounding: 0x3ff001 .. 0x400000 all round to 0x400000 */
  map_pair(0x400000, 0x400000 + 0x3ff001, "/bin/app", "", 0x400000, 0x800000, "/bin/app", "", &nm, &nl, NULL);
  CHECK_EQ(nm, 1);
  CHECK_EQ(nl, 1);
  map_pair(0x400000, 0x400000 + 0x400001, "/bin/app", "", 0x400000, 0x800000, "/bin/app", "", &nm, &nl, NULL);
  CHECK_EQ(nm, 2);
  CHECK_EQ(nl, 2);
  /* build id wins over file name */
  map_pair(0x400000, 0x500000, "/bin/app", "abc", 0x400000, 0x500000, "/other/name", "abc", &nm, &nl, NULL);
  CHECK_EQ(nm, 1);
  map_pair(0x400000, 0x500000, "/bin/app", "abc", 0x400000, 0x500000, "/bin/app", "abd", &nm, &nl, NULL);
  CHECK_EQ(nm, 2);
  map_pair(0x400000, 0x500000, "/bin/app", "", 0x400000, 0x500000, "/bin/app2", "", &nm, &nl, NULL);
  CHECK_EQ(nm, 2);
  /* fake mappings (neither build id nor file) are one */
  map_pair(0x1000, 0x2000, "", "", 0x9000, 0xa000, "", "", &nm, &nl, NULL);
  CHECK_EQ(nm, 1);
  CHECK_EQ(nl, 1);
  /* ASLR: same binary at another start; addresses shifted, locations unified,
   * first mapping's start and flags kept */
  map_pair(0x400000, 0x500000, "/bin/app", "", 0x7f0000400000, 0x7f0000500000, "/bin/app", "", &nm, &nl, &r);
  CHECK_EQ(nm, 1);
  CHECK_EQ(nl, 1);
  CHECK_EQ(r->maps[0].start, 0x400000);
  CHECK_EQ(r->maps[0].flags, PP_HAS_FUNCTIONS);
  CHECK_EQ(r->locs[0].address, 0x400010);
  CHECK_EQ(r->nsamples, 1);
  CHECK_EQ(val(r, 0, 0), 2);
  pp_free(r);

  /* An address shift applies to locations that do not unify too. */
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_func(&b, 1, "main.f", "a.go", 1);
  tb_loc(&b, 1, 1, 0x400010, "1:10");
  tb_sample(&b, "1 1", "1");
  pp_profile *a = tb_decode(&b);
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x1400000, 0x1500000, 0, "/bin/app", "");
  tb_func(&b, 1, "main.g", "a.go", 1);
  tb_loc(&b, 1, 1, 0x1400020, "1:10");
  tb_sample(&b, "1 1", "1");
  char err[256];
  r = merge2(a, tb_decode(&b), 0, err, sizeof(err));
  CHECK_EQ(r->nlocs, 2);
  CHECK_EQ(r->locs[1].address, 0x400020);
  pp_free(r);
}

static void test_function_location_identity(void) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_func(&b, 1, "main.f", "a.go", 1);
  tb_func(&b, 2, "main.f", "b.go", 1); /* other file: other function */
  tb_func(&b, 3, "main.f", "a.go", 2); /* other start line: other function */
  tb_func(&b, 4, "main.f", "a.go", 1); /* same as 1 */
  tb_loc(&b, 1, 1, 0x401000, "1:10");
  tb_loc(&b, 2, 1, 0x401000, "4:10");          /* same as 1 after translation */
  tb_loc(&b, 3, 1, 0x402000, "1:10");          /* other address */
  tb_loc(&b, 4, 1, 0x401000, "1:11");          /* other line */
  tb_loc(&b, 5, 1, 0x401000, "2:10 1:10");     /* other inlining */
  Perftools__Profiles__Location *f = tb_loc(&b, 6, 1, 0x401000, "1:10");
  f->is_folded = 1;                             /* folded: other location */
  tb_sample(&b, "1 1", "1");
  tb_sample(&b, "1 1", "2"); /* same sample as the first */
  tb_sample(&b, "1 1", "3");
  tb_sample(&b, "1 1", "4");
  tb_sample(&b, "1 1", "5");
  tb_sample(&b, "1 1", "6");
  tb_sample(&b, "1 1", "3 1"); /* order and length matter */
  tb_sample(&b, "1 1", "1 3");
  tb_sample(&b, "1 1", "1 3 3");
  tb_sample(&b, "1 1", "1 3");
  tb_sample(&b, "0 0", "1 2 3 4 5 6"); /* zero: skipped, creates nothing */
  tb_func(&b, 9, "main.zero", "z.go", 0);
  tb_loc(&b, 9, 1, 0x409000, "9:1");
  tb_sample(&b, "0 0", "9");
  tb_sample(&b, "-3 -3", "1"); /* negative values are added */
  tb_loc(&b, 7, 1, 0x407000, "3:10");
  tb_sample(&b, "1 1", "7");
  pp_profile *p = tb_decode(&b);
  pp_profile *r = NULL;
  char err[256];
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(r->nfuncs, 3);
  CHECK_EQ(r->nlocs, 6);
  CHECK_EQ(r->nsamples, 9);
  CHECK_EQ(val(r, 0, 0), 2 - 3);
  CHECK_EQ(val(r, 6, 0), 2);
  CHECK_EQ(r->nmaps, 1);
  for (size_t i = 0; i < r->nfuncs; i++) CHECK(strcmp(fname(r, (uint32_t)i), "main.zero") != 0);
  /* creation order: functions f(a.go:1), then f(b.go) first used by location 5 */
  CHECK_STR(pp_pool_str(&r->sp, r->funcs[1].filename), "b.go");
  CHECK_EQ(r->funcs[2].start_line, 2);
  CHECK_EQ(r->locs[4].folded, 1);
  pp_free(r);
}

static void test_sample_labels(void) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_func(&b, 1, "main.f", "a.go", 1);
  tb_loc(&b, 1, 0, 0x10, "1:10");
  PBSample *s;
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "k", "x");
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "k", "y");
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "k", "x");
  tb_label(&b, s, "k", "y");
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "k", "y");
  tb_label(&b, s, "k", "x");
  s = tb_sample(&b, "1 1", "1"); /* no label */
  s = tb_sample(&b, "1 1", "1");
  tb_label_raw(&b, s, S_(&b, "k"), 0, 0, 0); /* k="" is dropped on decode: same as no label */
  s = tb_sample(&b, "1 1", "1");             /* key order does not matter */
  tb_label(&b, s, "k", "x");
  tb_label(&b, s, "j", "x");
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "j", "x");
  tb_label(&b, s, "k", "x");
  s = tb_sample(&b, "1 1", "1"); /* numeric: with unit / no unit / empty unit */
  tb_numlabel(&b, s, "n", 5, "bytes");
  s = tb_sample(&b, "1 1", "1");
  tb_numlabel(&b, s, "n", 5, NULL);
  s = tb_sample(&b, "1 1", "1");
  tb_numlabel(&b, s, "n", 5, "");
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "n", "5"); /* string label with the same text: different */
  s = tb_sample(&b, "1 1", "1");
  tb_label(&b, s, "k", "x"); /* same as the first sample */
  pp_profile *p = tb_decode(&b), *r = NULL;
  char err[256];
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(r->nsamples, 9);
  CHECK_EQ(val(r, 0, 0), 2);            /* k=x twice */
  CHECK_EQ(val(r, 4, 0), 2);            /* none + k="" */
  CHECK_EQ(val(r, 5, 0), 2);            /* {j,k} in either key order */
  CHECK_EQ(val(r, 7, 0), 2);            /* n=5 without unit == with empty unit */
  pp_free(r);
}

static void test_first_mapping_and_cleanup(void) {
  /* The first input's first mapping is added first even if no sample uses it. */
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/unused", "");
  tb_map(&b, 2, 0x7f0000, 0x800000, 0, "/lib/libc.so", "");
  tb_func(&b, 1, "libc.f", "c.c", 1);
  tb_loc(&b, 1, 2, 0x7f0010, "1:10");
  tb_sample(&b, "1 1", "1");
  pp_profile *p = tb_decode(&b), *r = NULL;
  char err[256];
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(r->nmaps, 2);
  CHECK_STR(pp_pool_str(&r->sp, r->maps[0].file), "/bin/unused");
  CHECK_EQ(r->locs[0].mapping, 1);
  pp_free(r);

  /* ...but a mapping only reached from zero samples is not */
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_map(&b, 2, 0x7f0000, 0x800000, 0, "/lib/libc.so", "");
  tb_func(&b, 1, "libc.f", "c.c", 1);
  tb_loc(&b, 1, 2, 0x7f0010, "1:10");
  tb_sample(&b, "0 0", "1");
  p = tb_decode(&b);
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(r->nmaps, 1);
  CHECK_EQ(r->nsamples, 0);
  CHECK_EQ(r->nlocs, 0);
  pp_free(r);

  /* Clean-up: +5 and -5 cancel; main.cancel, its location and function go,
   * everything is renumbered densely in the same relative order. */
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_func(&b, 1, "main.keep1", "a.go", 1);
  tb_func(&b, 2, "main.cancel", "a.go", 2);
  tb_func(&b, 3, "main.keep2", "a.go", 3);
  tb_loc(&b, 1, 1, 0x401000, "1:1");
  tb_loc(&b, 2, 1, 0x402000, "2:1");
  tb_loc(&b, 3, 1, 0x403000, "3:1");
  tb_sample(&b, "1 1", "1");
  tb_sample(&b, "5 5", "2");
  tb_sample(&b, "1 1", "3");
  pp_profile *a = tb_decode(&b);
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_func(&b, 1, "main.cancel", "a.go", 2);
  tb_loc(&b, 1, 1, 0x402000, "1:1");
  tb_sample(&b, "-5 -5", "1");
  b.p.time_nanos = 42;
  b.p.n_comment = 1;
  b.p.comment = malloc(sizeof(int64_t));
  b.p.comment[0] = S_(&b, "hello");
  r = merge2(a, tb_decode(&b), 0, err, sizeof(err));
  CHECK_EQ(r->nsamples, 2);
  CHECK_EQ(r->nfuncs, 2);
  CHECK_EQ(r->nlocs, 2);
  CHECK_STR(fname(r, 0), "main.keep1");
  CHECK_STR(fname(r, 1), "main.keep2");
  CHECK_EQ(r->locs[1].address, 0x403000);
  CHECK_EQ(r->sloc[r->samples[1].loc_off], 1);
  CHECK_EQ(pp_time_nanos(r), 42); /* header unchanged by the clean-up */
  CHECK_EQ(pp_comment_count(r), 1);
  pp_free(r);

  /* cancellation inside one input also goes */
  tb_init(&b);
  tb_cpu(&b);
  tb_func(&b, 1, "main.x", "a.go", 1);
  tb_loc(&b, 1, 0, 0x1, "1:1");
  tb_sample(&b, "5 5", "1");
  tb_sample(&b, "-5 -5", "1");
  p = tb_decode(&b);
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(r->nsamples, 0);
  CHECK_EQ(r->nfuncs, 0);
  pp_free(r);

  /* 64-bit wrapping */
  tb_init(&b);
  tb_cpu(&b);
  tb_func(&b, 1, "main.x", "a.go", 1);
  tb_loc(&b, 1, 0, 0x1, "1:1");
  tb_sample(&b, "9223372036854775807 1", "1");
  tb_sample(&b, "1 1", "1");
  p = tb_decode(&b);
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(val(r, 0, 0), INT64_MIN);
  pp_free(r);
}

static void test_order_and_roundtrip(void) {
  /* Upload first (autopgo's order): its first mapping is mapping 1 and its
   * entities come first; the result survives an encode/decode round trip. */
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/new", "");
  tb_func(&b, 1, "main.new", "n.go", 1);
  tb_func(&b, 2, "main.shared", "s.go", 1);
  tb_loc(&b, 1, 1, 0x400100, "1:5");
  tb_loc(&b, 2, 1, 0x400200, "2:6");
  tb_sample(&b, "1 10", "1 2");
  pp_profile *up = tb_decode(&b);
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/old", "");
  tb_func(&b, 1, "main.shared", "s.go", 1);
  tb_func(&b, 2, "main.old", "o.go", 1);
  tb_loc(&b, 1, 1, 0x400300, "2:7");
  tb_loc(&b, 2, 1, 0x400200, "1:6");
  tb_sample(&b, "2 20", "1 2");
  pp_profile *bs = tb_decode(&b);
  char err[256];
  pp_profile *r = merge2(up, bs, 0, err, sizeof(err));
  CHECK_EQ(r->nmaps, 2);
  CHECK_STR(pp_pool_str(&r->sp, r->maps[0].file), "/bin/new");
  CHECK_EQ(r->nfuncs, 3);
  CHECK_STR(fname(r, 0), "main.new");
  CHECK_STR(fname(r, 1), "main.shared");
  CHECK_STR(fname(r, 2), "main.old");
  CHECK_EQ(r->nlocs, 4); /* main.shared@0x400200 differs: other mapping */
  pp_profile *q = roundtrip(r);
  CHECK(q != NULL);
  if (q) {
    CHECK_EQ(q->nmaps, r->nmaps);
    CHECK_EQ(q->nlocs, r->nlocs);
    CHECK_EQ(q->nfuncs, r->nfuncs);
    CHECK_EQ(q->nsamples, r->nsamples);
    char s1[256], s2[256];
    for (size_t i = 0; i < r->nsamples; i++) {
      CHECK_STR(stack(q, i, s1, sizeof(s1)), stack(r, i, s2, sizeof(s2)));
      CHECK_EQ(val(q, i, 1), val(r, i, 1));
    }
    pp_free(q);
  }
  pp_free(r);
}

/* 50,000 distinct comments, each twice: de-duplication stays linear. */
static void test_many_comments(void) {
  enum { N = 50000 };
  size_t cap = (size_t)N * 16 + 1024, n = 0;
  uint8_t *b = malloc(cap);
  b[n++] = 0x32;
  b[n++] = 0x00;
  for (int i = 1; i <= N; i++) {
    char s[16];
    int l = snprintf(s, sizeof(s), "c%d", i);
    b[n++] = 0x32;
    b[n++] = (uint8_t)l;
    memcpy(b + n, s, (size_t)l);
    n += (size_t)l;
  }
  for (int rep = 0; rep < 2; rep++)
    for (int i = 1; i <= N; i++) { /* unpacked comment indexes */
      b[n++] = 0x68;
      uint32_t v = (uint32_t)i;
      while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
      }
      b[n++] = (uint8_t)v;
    }
  pp_profile *p = NULL, *r = NULL;
  char err[256];
  CHECK_EQ(pp_decode(b, n, NULL, &p, err, sizeof(err)), 0);
  free(b);
  if (!p) return;
  CHECK_EQ(pp_comment_count(p), 2 * N);
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(pp_comment_count(r), N);
  CHECK_STR(pp_comment(r, N - 1), "c50000");
  pp_free(r);
}

/* Input k of the seed test: overlapping functions, locations and stacks. */
static pp_profile *gen(int k) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000 + (uint64_t)k * 0x10000, 0x900000 + (uint64_t)k * 0x10000, 0, "/bin/app", "");
  char name[64], spec[32];
  for (int i = 1; i <= 300; i++) {
    int f = (i * 7 + k * 50) % 400; /* inputs share part of their functions */
    snprintf(name, sizeof(name), "pkg.F%d", f);
    tb_func(&b, (uint64_t)i, name, "f.go", f);
    snprintf(spec, sizeof(spec), "%d:%d", i, f + 1);
    tb_loc(&b, (uint64_t)i, 1, 0x400000 + (uint64_t)k * 0x10000 + (uint64_t)f * 64, spec);
  }
  for (int i = 0; i < 2000; i++) {
    char vals[32], locs[64];
    snprintf(vals, sizeof(vals), "%d %d", 1 + i % 3, (1 + i % 3) * 10);
    snprintf(locs, sizeof(locs), "%d %d %d", 1 + (i * 13 + k) % 300, 1 + (i * 29) % 300, 1 + (i / 7) % 300);
    tb_sample(&b, vals, locs);
  }
  return tb_decode(&b);
}

/* The seed-independence merge in a process of its own (`test_merge
 * seed-run`): its string pools' seed, then the merged message in hex. */
static int seed_run(void) {
  pp_profile *in[3];
  for (int k = 0; k < 3; k++) in[k] = gen(k);
  printf("%016llx\n", (unsigned long long)in[0]->sp.seed);
  pp_profile *r = NULL;
  char err[256];
  if (pp_merge(in, 3, &r, err, sizeof(err))) return 1;
  uint8_t *raw = NULL;
  size_t n = 0;
  if (pp_encode_raw(r, &raw, &n, err, sizeof(err))) return 1;
  for (size_t i = 0; i < n; i++) printf("%02x", raw[i]);
  printf("\n");
  free(raw);
  pp_free(r);
  return 0;
}

/* Reads what a seed-run child printed: its seed and its bytes. */
static char *child_run(char *seed, size_t seedlen) {
  char self[4096], cmd[4200];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) return NULL;
  self[sl] = 0;
  snprintf(cmd, sizeof cmd, "'%s' seed-run", self);
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  size_t cap = 1 << 20, n = 0;
  char *out = malloc(cap);
  if (!fgets(seed, (int)seedlen, f)) seed[0] = 0;
  for (size_t k; out && (k = fread(out + n, 1, cap - n - 1, f)) > 0;) {
    n += k;
    if (n + 1 == cap) out = realloc(out, cap *= 2);
  }
  if (out) out[n] = 0;
  pclose(f);
  return out;
}

/* Hash tables are keyed by a fresh random seed per merger (string pools:
 * per process); the output must not depend on it: IDs and order come from
 * creation order, never from table order. */
static void test_seed_independence(void) {
  uint8_t *first = NULL;
  size_t firstn = 0;
  uint64_t seeds[2] = {0, 0};
  for (int run = 0; run < 6; run++) {
    pp_profile *in[3];
    for (int k = 0; k < 3; k++) in[k] = gen(k);
    if (run < 2 && in[0]) seeds[run] = in[0]->sp.seed;
    if (in[0] && in[1]) CHECK(in[0]->sp.seed == in[1]->sp.seed, "string pools of one process share a seed");
    pp_profile *r = NULL;
    char err[256];
    CHECK_EQ(pp_merge(in, 3, &r, err, sizeof(err)), 0);
    if (!r) return;
    CHECK(r->nfuncs > 300 && r->nsamples > 1000);
    uint8_t *raw = NULL;
    size_t n = 0;
    CHECK_EQ(pp_encode_raw(r, &raw, &n, err, sizeof(err)), 0);
    pp_free(r);
    if (run == 0) {
      first = raw;
      firstn = n;
      continue;
    }
    CHECK(n == firstn && memcmp(raw, first, n) == 0);
    free(raw);
  }
  CHECK(seeds[0] == seeds[1] && seeds[0] != 0);
  /* other processes, other string-pool seeds: the same bytes */
  char s1[64], s2[64], *hex = malloc(2 * firstn + 2);
  for (size_t i = 0; hex && i < firstn; i++) snprintf(hex + 2 * i, 3, "%02x", first[i]);
  if (hex) strcpy(hex + 2 * firstn, "\n");
  char *o1 = child_run(s1, sizeof s1), *o2 = child_run(s2, sizeof s2);
  CHECK(o1 && o2 && hex, "the seed-run children");
  if (o1 && o2 && hex) {
    CHECK(strcmp(s1, s2) != 0, "two processes drew seeds %s and %s", s1, s2);
    CHECK(strcmp(o1, hex) == 0 && strcmp(o2, hex) == 0, "a merge in another process wrote other bytes");
  }
  free(o1);
  free(o2);
  free(hex);
  free(first);
}


/* ---- Merging in runs on threads (pp_merge_tree) ---- */

static uint32_t lcg(uint32_t *st) {
  *st = *st * 1103515245u + 12345u;
  return (*st >> 8) & 0xffffff;
}

/* A varied CPU profile of one program: the binary at one of three addresses
 * (ASLR), a shared library with a build id, locations with inlined lines,
 * stacks drawn from a shared pool, some all-zero samples, labels, comments,
 * drop frames on some. time_nanos as given; neg makes one value negative. */
static pp_profile *varied(uint32_t seed, int64_t time_nanos, int neg) {
  uint32_t st = seed * 2654435761u + 7;
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  b.p.time_nanos = time_nanos;
  b.p.duration_nanos = 1000 + seed;
  b.p.period = 10000000 + (int64_t)(seed % 3);
  uint64_t base = 0x400000 + (uint64_t)(seed % 3) * 0x10000000;
  int lib_first = seed % 4 == 1;
  if (lib_first) tb_map(&b, 2, 0x7f0000000000, 0x7f0000200000, 0, "/lib/libc.so.6", "abc123");
  tb_map(&b, 1, base, base + 0x300000, 0, "/bin/app", "");
  if (!lib_first) tb_map(&b, 2, 0x7f0000000000, 0x7f0000200000, 0, "/lib/libc.so.6", "abc123");
  if (seed % 5 == 2) tb_map(&b, 3, 0x9000000, 0x9001000, 0, "/unused", "");
  char name[32];
  for (uint64_t f = 1; f <= 24; f++) {
    uint64_t g = (f + seed) % 24 + 1; /* other function ids per input */
    snprintf(name, sizeof name, "pkg.F%llu", (unsigned long long)f);
    tb_func(&b, g, name, f % 3 ? "a.go" : "b.go", (int64_t)f);
  }
  char lines[64];
  for (uint64_t l = 1; l <= 40; l++) {
    uint64_t f1 = (l * 7 + seed) % 24 + 1, f2 = (l * 5 + seed) % 24 + 1;
    if (l % 4 == 0) snprintf(lines, sizeof lines, "%llu:%llu %llu:%llu", (unsigned long long)f1,
                             (unsigned long long)l, (unsigned long long)f2, (unsigned long long)l + 1);
    else snprintf(lines, sizeof lines, "%llu:%llu", (unsigned long long)f1, (unsigned long long)l);
    if (l % 9 == 0) tb_loc(&b, l, 2, 0x7f0000000000 + l * 0x10, lines);
    else tb_loc(&b, l, 1, base + 0x1000 + l * 0x10, lines);
  }
  char vals[64], locs[64];
  for (int i = 0; i < 30; i++) {
    int depth = 1 + (int)(lcg(&st) % 5);
    int o = 0;
    uint32_t pick = lcg(&st) % 12; /* stacks from a small shared pool */
    for (int d = 0; d < depth; d++)
      o += snprintf(locs + o, sizeof locs - (size_t)o, "%u ", (pick * 3 + (uint32_t)d * 7) % 40 + 1);
    int64_t v = (int64_t)(lcg(&st) % 20);
    if (neg && i == 3) v = -v - 1;
    snprintf(vals, sizeof vals, "%lld %lld", (long long)v, (long long)v * 10000000);
    PBSample *smp = tb_sample(&b, vals, locs);
    if (pick % 4 == 1) tb_label(&b, smp, "handler", pick % 8 == 1 ? "/a" : "/b");
  }
  snprintf(name, sizeof name, "comment %u", seed % 4);
  b.p.n_comment = 1;
  b.p.comment = malloc(sizeof(int64_t));
  b.p.comment[0] = S_(&b, name);
  if (seed % 6 == 5) b.p.drop_frames = S_(&b, "runtime\\..*");
  return tb_decode(&b);
}

static uint8_t *encoded(pp_profile *p, size_t *len) {
  uint8_t *out = NULL;
  char err[256];
  CHECK_EQ(pp_encode_raw(p, &out, len, err, sizeof err), 0);
  pp_free(p);
  return out;
}

/* Merge(inputs) one by one, then with a base, against the same through
 * pp_merge_tree on 2..4 threads: byte-identical raw encodings. */
static void test_tree_equals_sequential(void) {
  static const size_t counts[] = {4, 8, 13, 40};
  for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
    size_t n = counts[c];
    for (int threads = 2; threads <= 4; threads++) {
      pp_profile *seq[41], *tree[41];
      for (size_t i = 0; i < n; i++) {
        seq[i] = varied((uint32_t)(i + c), 5000 - (int64_t)((i * 37) % 11), 0);
        tree[i] = varied((uint32_t)(i + c), 5000 - (int64_t)((i * 37) % 11), 0);
      }
      CHECK(pp_tree_exact(tree, n), "n %zu", n);
      seq[n] = varied(999, 7000, 0); /* the base, last */
      char err[256];
      pp_profile *a = NULL, *pre = NULL, *b = NULL;
      CHECK_EQ(pp_merge(seq, n + 1, &a, err, sizeof err), 0);
      CHECK_EQ(pp_merge_tree(tree, n, threads, &pre, err, sizeof err), 0);
      pp_profile *two[2] = {pre, varied(999, 7000, 0)};
      CHECK_EQ(pp_merge(two, 2, &b, err, sizeof err), 0);
      size_t la = 0, lb = 0;
      uint8_t *ea = encoded(a, &la), *eb = encoded(b, &lb);
      CHECK(la == lb && la > 0 && memcmp(ea, eb, la) == 0, "n %zu threads %d: %zu vs %zu bytes", n,
            threads, la, lb);
      free(ea);
      free(eb);
      /* the tree alone equals the merge alone */
      for (size_t i = 0; i < n; i++) {
        seq[i] = varied((uint32_t)(i + c), 5000, 0);
        tree[i] = varied((uint32_t)(i + c), 5000, 0);
      }
      CHECK_EQ(pp_merge(seq, n, &a, err, sizeof err), 0);
      CHECK_EQ(pp_merge_tree(tree, n, threads, &b, err, sizeof err), 0);
      ea = encoded(a, &la);
      eb = encoded(b, &lb);
      CHECK(la == lb && memcmp(ea, eb, la) == 0, "alone: n %zu threads %d", n, threads);
      free(ea);
      free(eb);
    }
  }
}

/* What pp_tree_exact refuses, and why it must: a time of 0 resets pprof's
 * time walk, so runs would give another time. */
static void test_tree_exact_guard(void) {
  pp_profile *in[8];
  for (int i = 0; i < 8; i++) in[i] = varied((uint32_t)i, 100 + i, 0);
  CHECK(pp_tree_exact(in, 8));
  pp_free(in[5]);
  in[5] = varied(5, 0, 0);
  CHECK(!pp_tree_exact(in, 8), "a time of 0 is refused");
  char err[256];
  pp_profile *a = NULL, *b = NULL, *c[8];
  for (int i = 0; i < 8; i++) c[i] = varied((uint32_t)i, i == 5 ? 0 : 100 + i, 0);
  CHECK_EQ(pp_merge(in, 8, &a, err, sizeof err), 0);
  CHECK_EQ(pp_merge_tree(c, 8, 2, &b, err, sizeof err), 0);
  CHECK_EQ(pp_time_nanos(a), 106); /* 0 reset the walk; 106 and 107 follow */
  CHECK_EQ(pp_time_nanos(b), 100); /* the runs: min(100..103), then 106 */
  pp_free(a);
  pp_free(b);
  for (int i = 0; i < 8; i++) in[i] = varied((uint32_t)i, 100 + i, i == 6);
  CHECK(!pp_tree_exact(in, 8), "a negative value is refused");
  for (int i = 0; i < 8; i++) pp_free(in[i]);
  tb bb;
  tb_init(&bb);
  tb_cpu(&bb);
  bb.p.time_nanos = 1;
  tb_func(&bb, 1, "f", "f.go", 0);
  tb_loc(&bb, 1, 0, 1, "1:1");
  tb_sample(&bb, "4611686018427387904 1", "1");
  pp_profile *big = tb_decode(&bb);
  CHECK(!pp_tree_exact(&big, 1), "values that could wrap are refused");
  pp_free(big);
  CHECK(pp_tree_exact(NULL, 0) == 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "seed-run") == 0) return seed_run();
  test_seed_independence();
  test_many_comments();
  test_header();
  test_incompatible();
  test_mapping_identity();
  test_function_location_identity();
  test_sample_labels();
  test_first_mapping_and_cleanup();
  test_order_and_roundtrip();
  test_tree_equals_sequential();
  test_tree_exact_guard();
  return check_exit("test_merge");
}
