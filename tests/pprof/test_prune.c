/*
 * test_prune.c — pp_prune against pprof's Prune semantics: the simplified
 * name, location classification with in-place line trimming, the root-to-leaf
 * cut, keep rules, several rules in order, compaction, regex errors. The
 * stacks are the observed examples of the semantics notes.
 */
#include "testutil.h"

CHECK_DEFINE_COUNTERS

static void test_simplify(void) {
  static const char *const cases[][2] = {
      {"main.(*T).Method", "main."},
      {"runtime.(*mheap).alloc", "runtime."},
      {"sync.(*Mutex).Lock", "sync."},
      {"(*T).M", ""},
      {"runtime.gcBgMarkWorker.func2", "runtime.gcBgMarkWorker.func2"},
      {"pkg.Generic[...]", "pkg.Generic[...]"},
      {"pkg.F[go.shape.int_0]", "pkg.F[go.shape.int_0]"},
      {"type..eq.[2]interface {}", "type..eq.[2]interface {}"},
      {".ppc.func", "ppc.func"},
      {"..x", ".x"},
      {"foo::bar(int, char)", "foo::bar"},
      {"(anonymous namespace)::f(int)", "(anonymous namespace)::f"},
      {"ns::(anonymous namespace)::g()", "ns::(anonymous namespace)::g"},
      {"Foo::operator()(int)", "Foo::operator()"},
      {"std::function<void (int)>::operator()", "std::function<void "},
      {"x(", "x"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *s;
    size_t n = pp_simplify_name(cases[i][0], strlen(cases[i][0]), &s);
    char buf[128];
    snprintf(buf, sizeof(buf), "%.*s", (int)n, s);
    CHECK_STR(buf, cases[i][1]);
  }
}

/* Builds a profile with one sample per stack; stacks are ';'-separated
 * frames leaf first, and a frame "a+b" is one location with line a inlined
 * into b. Each distinct frame text is one location. */
static pp_profile *build(const char *const *stacks, size_t n) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  char names[64][64];
  size_t nf = 0;
  char locs[64][128];
  size_t nl = 0;
  for (size_t i = 0; i < n; i++) {
    char st[512], ids[256] = "";
    snprintf(st, sizeof(st), "%s", stacks[i]);
    for (char *save = NULL, *fr = strtok_r(st, ";", &save); fr; fr = strtok_r(NULL, ";", &save)) {
      size_t li = 0;
      while (li < nl && strcmp(locs[li], fr)) li++;
      if (li == nl) {
        snprintf(locs[nl++], sizeof(locs[0]), "%s", fr);
        char lines[256] = "", fcopy[128];
        snprintf(fcopy, sizeof(fcopy), "%s", fr);
        for (char *s2 = NULL, *fn = strtok_r(fcopy, "+", &s2); fn; fn = strtok_r(NULL, "+", &s2)) {
          size_t fi = 0;
          while (fi < nf && strcmp(names[fi], fn)) fi++;
          if (fi == nf) {
            snprintf(names[nf++], sizeof(names[0]), "%s", fn);
            tb_func(&b, fi + 1, fn, "x.go", 0);
          }
          char t[32];
          snprintf(t, sizeof(t), "%zu:%zu ", fi + 1, li + 1);
          strcat(lines, t);
        }
        tb_loc(&b, li + 1, 0, 0x1000 + li, lines);
      }
      char t[16];
      snprintf(t, sizeof(t), "%zu ", li + 1);
      strcat(ids, t);
    }
    tb_sample(&b, "1 1", ids);
  }
  return tb_decode(&b);
}

/* Prunes a one-sample profile and returns its stack. */
static const char *pruned(const char *stackin, const char *drop, const char *keep, char *out, size_t n) {
  pp_profile *p = build(&stackin, 1);
  pp_rules *r = pp_rules_new();
  char err[256];
  CHECK_EQ(pp_rules_add(r, drop, keep, err, sizeof(err)), 0);
  CHECK_EQ(pp_prune(p, r, err, sizeof(err)), 0);
  stack(p, 0, out, n);
  pp_rules_free(r);
  pp_free(p);
  return out;
}

static void test_cuts(void) {
  char b[512];
  const char *alloc = "runtime.mallocgc;runtime.newobject;main.work;main.main;runtime.main";
  CHECK_STR(pruned(alloc, "^runtime\\.", NULL, b, sizeof(b)), "main.work;main.main;runtime.main");
  /* keep only stops a frame being the cut point */
  CHECK_STR(pruned(alloc, "^runtime\\.", "^runtime\\.mallocgc", b, sizeof(b)), "main.work;main.main;runtime.main");
  CHECK_STR(pruned(alloc, "^main\\.", "^main\\.main$", b, sizeof(b)), "main.main;runtime.main");
  /* a matching root never cuts; .* changes nothing; all-matching stacks stay */
  CHECK_STR(pruned(alloc, "^runtime\\.main$", NULL, b, sizeof(b)), alloc);
  CHECK_STR(pruned(alloc, ".*", NULL, b, sizeof(b)), alloc);
  CHECK_STR(pruned("runtime.gcBgMarkWorker;runtime.goexit", "^runtime\\.", NULL, b, sizeof(b)),
            "runtime.gcBgMarkWorker;runtime.goexit");
  /* matching frames between the root and the first user frame stay */
  CHECK_STR(pruned("main.leaf;runtime.mcall;runtime.main", "^runtime\\.", NULL, b, sizeof(b)),
            "main.leaf;runtime.mcall;runtime.main");
  /* unanchored search: runtime\. also matches foo/runtime.bar */
  CHECK_STR(pruned("foo/runtime.bar;main.main", "runtime\\.", NULL, b, sizeof(b)), "main.main");
  /* pointer-receiver methods are compared as "pkg." */
  const char *mh = "runtime.(*mheap).alloc;main.f;main.main";
  CHECK_STR(pruned(mh, "mheap", NULL, b, sizeof(b)), mh);
  CHECK_STR(pruned("sync.(*Mutex).Lock;main.f", "^sync\\.\\(\\*Mutex\\)\\.Lock$", NULL, b, sizeof(b)),
            "sync.(*Mutex).Lock;main.f");
  CHECK_STR(pruned("sync.(*Mutex).Lock;main.f", "^sync\\.$", NULL, b, sizeof(b)), "main.f");
  CHECK_STR(pruned(mh, "^runtime\\.", NULL, b, sizeof(b)), "main.f;main.main");
  /* inlined: a hit on an inner line trims the location and makes it the leaf */
  CHECK_STR(pruned("runtime.memmove+main.inl;main.main;runtime.main", "^runtime\\.", NULL, b, sizeof(b)),
            "main.inl;main.main;runtime.main");
  /* a hit on the outermost line removes the location even with user code inlined */
  CHECK_STR(pruned("x.leaf;main.inl+runtime.inlcaller;main.main", "^runtime\\.", NULL, b, sizeof(b)), "main.main");
  /* deeper: the cut is at the matching frame nearest the root */
  CHECK_STR(pruned("a.x;b.y;a.z;main.f;a.root", "^a\\.", NULL, b, sizeof(b)), "main.f;a.root");
  /* RE2-like anchoring: $ does not match before a final newline */
  CHECK_STR(pruned("bad\n;main.f", "bad$", NULL, b, sizeof(b)), "bad\n;main.f");
  /* case-insensitive flag, classes */
  CHECK_STR(pruned("Runtime.X;main.f", "(?i)^runtime\\.", NULL, b, sizeof(b)), "main.f");
  CHECK_STR(pruned("pkg.f2;main.f", "^pkg\\.f\\d$", NULL, b, sizeof(b)), "main.f");
}

static void test_table_effects(void) {
  /* Trimming is permanent and shared: a sample not cut still sees the
   * trimmed location. */
  const char *st[] = {
      "runtime.memmove+main.inl;main.main;runtime.main",
      "main.inl2;runtime.memmove+main.inl;main.main;runtime.main",
  };
  pp_profile *p = build(st, 2);
  pp_rules *r = pp_rules_new();
  char err[256], b1[256];
  CHECK_EQ(pp_rules_add(r, "^runtime\\.memmove$", NULL, err, sizeof(err)), 0);
  CHECK_EQ(pp_prune_nocompact(p, r, err, sizeof(err)), 0);
  CHECK_STR(stack(p, 0, b1, sizeof(b1)), "main.inl;main.main;runtime.main");
  CHECK_STR(stack(p, 1, b1, sizeof(b1)), "main.inl;main.main;runtime.main");
  /* nocompact: counts unchanged, duplicate stacks stay apart */
  CHECK_EQ(p->nsamples, 2);
  CHECK_EQ(p->nfuncs, 5);
  /* compaction (what pp_prune does next) aggregates and drops the unused */
  CHECK_EQ(pp_compact(&p, err, sizeof(err)), 0);
  CHECK_EQ(p->nsamples, 1);
  CHECK_EQ(val(p, 0, 0), 2);
  CHECK_EQ(p->nfuncs, 3);
  CHECK_EQ(p->nlocs, 3);
  pp_free(p);
  pp_rules_free(r);

  /* Several rules in order; an earlier rule's trimming is seen by later ones.
   * Rule 1 trims runtime.a out of "runtime.a+main.x"; rule 2 (^main\.x$)
   * then finds main.x as the outermost line and drops the location whole. */
  const char *st2[] = {"runtime.a+main.x;main.y;main.main"};
  p = build(st2, 1);
  r = pp_rules_new();
  CHECK_EQ(pp_rules_add(r, "^runtime\\.", NULL, err, sizeof(err)), 0);
  CHECK_EQ(pp_rules_add(r, "^main\\.x$", NULL, err, sizeof(err)), 0);
  CHECK_EQ(pp_rules_count(r), 2);
  CHECK_EQ(pp_prune(p, r, err, sizeof(err)), 0);
  CHECK_STR(stack(p, 0, b1, sizeof(b1)), "main.y;main.main");
  CHECK_EQ(p->nfuncs, 2);
  pp_free(p);
  pp_rules_free(r);

  /* Unsymbolized locations (no lines) are user locations. */
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_func(&b, 1, "runtime.x", "r.go", 0);
  tb_func(&b, 2, "runtime.main", "r.go", 0);
  tb_loc(&b, 1, 0, 0x10, "1:1");
  tb_loc(&b, 2, 0, 0x20, "");
  tb_loc(&b, 3, 0, 0x30, "2:1");
  tb_sample(&b, "1 1", "1 2 3");
  p = tb_decode(&b);
  r = pp_rules_new();
  pp_rules_add(r, "^runtime\\.", NULL, err, sizeof(err));
  CHECK_EQ(pp_prune(p, r, err, sizeof(err)), 0);
  CHECK_STR(stack(p, 0, b1, sizeof(b1)), "?;runtime.main");
  pp_free(p);

  /* No rules: untouched (not even compacted). */
  const char *st3[] = {"a;b", "a;b"};
  p = build(st3, 2);
  pp_rules *empty = pp_rules_new();
  CHECK_EQ(pp_prune(p, empty, err, sizeof(err)), 0);
  CHECK_EQ(pp_prune(p, NULL, err, sizeof(err)), 0);
  CHECK_EQ(p->nsamples, 2);
  pp_free(p);
  pp_rules_free(empty);
  pp_rules_free(r);
}

static void test_regex_errors(void) {
  pp_rules *r = pp_rules_new();
  char err[256];
  CHECK_EQ(pp_rules_add(r, "(x", NULL, err, sizeof(err)), PP_EREGEX);
  CHECK_STR(err, "bad drop regex \"(x\": missing closing parenthesis at offset 2");
  CHECK_EQ(pp_rules_add(r, "ok", "[z", err, sizeof(err)), PP_EREGEX);
  CHECK_CONTAINS(err, "bad keep regex \"[z\": missing terminating ] for character class at offset 2");
  CHECK_EQ(pp_rules_add(r, "a\\Cb", NULL, err, sizeof(err)), PP_EREGEX); /* \C refused, as in Go */
  CHECK_EQ(pp_rules_add(r, NULL, NULL, err, sizeof(err)), PP_EINVAL);
  CHECK_EQ(pp_rules_count(r), 0);
  /* RE2 syntax PCRE2 also accepts */
  CHECK_EQ(pp_rules_add(r, "(?P<n>x)|\\pL|[[:alpha:]]|x*?", NULL, err, sizeof(err)), 0);
  CHECK_EQ(pp_rules_count(r), 1);
  pp_rules_free(r);
}

int main(void) {
  test_simplify();
  test_cuts();
  test_table_effects();
  test_regex_errors();
  return check_exit("test_prune");
}
