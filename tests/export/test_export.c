/*
 * test_export.c — unit tests of the export writers (lib/pprof/export.h) on
 * hand-built profiles: the corners real Go profiles rarely reach (names
 * that break formats, invalid UTF-8, unsymbolized and empty stacks,
 * recursion, empty profiles, huge counts), the collapsing rule of the tree
 * JSON, every error path, and the JSON escaping underneath. The JSON
 * outputs are read back with jansson, which refuses invalid JSON and
 * invalid UTF-8. Real profiles are checked by export-test.sh.
 *
 * Profiles are assembled with protobuf-c's generated structs, an encoder
 * independent of the engine's.
 */
#include "check.h"
#include "export.h"
#include "export_internal.h"
#include "pprof.h"
#include "profile.pb-c.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_DEFINE_COUNTERS

/* ---- a small profile builder ---- */

typedef Perftools__Profiles__Profile PB;

typedef struct builder {
  PB p;
  char **strs;
  size_t nstrs;
  void **allocs;
  size_t nallocs;
} builder;

static void *b_alloc(builder *b, size_t n) {
  void *q = calloc(1, n ? n : 1);
  b->allocs = realloc(b->allocs, (b->nallocs + 1) * sizeof *b->allocs);
  b->allocs[b->nallocs++] = q;
  return q;
}

#define PUSH(arr, n, v)                                                                            \
  do {                                                                                             \
    (arr) = realloc((arr), ((n) + 1) * sizeof *(arr));                                             \
    (arr)[(n)++] = (v);                                                                            \
  } while (0)

static int64_t str(builder *b, const char *s) {
  for (size_t i = 0; i < b->p.n_string_table; i++)
    if (!strcmp(b->p.string_table[i], s)) return (int64_t)i;
  char *c = b_alloc(b, strlen(s) + 1);
  strcpy(c, s);
  PUSH(b->p.string_table, b->p.n_string_table, c);
  return (int64_t)b->p.n_string_table - 1;
}

static void b_init(builder *b) {
  memset(b, 0, sizeof *b);
  perftools__profiles__profile__init(&b->p);
  str(b, "");
}

static Perftools__Profiles__ValueType *vt(builder *b, const char *t, const char *u) {
  Perftools__Profiles__ValueType *v = b_alloc(b, sizeof *v);
  perftools__profiles__value_type__init(v);
  v->type = str(b, t);
  v->unit = str(b, u);
  return v;
}

static void stype(builder *b, const char *t, const char *u) {
  Perftools__Profiles__ValueType *v = vt(b, t, u);
  PUSH(b->p.sample_type, b->p.n_sample_type, v);
}

static void cpu_header(builder *b) {
  stype(b, "samples", "count");
  stype(b, "cpu", "nanoseconds");
  b->p.period_type = vt(b, "cpu", "nanoseconds");
  b->p.period = 10000000;
}

static void heap_header(builder *b) {
  stype(b, "alloc_objects", "count");
  stype(b, "alloc_space", "bytes");
  b->p.period_type = vt(b, "space", "bytes");
  b->p.period = 524288;
}

static void mapping(builder *b, uint64_t id, const char *file) {
  Perftools__Profiles__Mapping *m = b_alloc(b, sizeof *m);
  perftools__profiles__mapping__init(m);
  m->id = id;
  m->memory_start = id << 20;
  m->memory_limit = (id + 1) << 20;
  m->filename = str(b, file);
  PUSH(b->p.mapping, b->p.n_mapping, m);
}

static void func(builder *b, uint64_t id, const char *name, const char *file, int64_t start) {
  Perftools__Profiles__Function *f = b_alloc(b, sizeof *f);
  perftools__profiles__function__init(f);
  f->id = id;
  f->name = str(b, name);
  f->system_name = f->name;
  f->filename = str(b, file);
  f->start_line = start;
  PUSH(b->p.function, b->p.n_function, f);
}

/* A location with the given function ids as lines, innermost first (none:
 * not symbolized). */
static void loc(builder *b, uint64_t id, uint64_t map, int nlines, const uint64_t *funcs) {
  Perftools__Profiles__Location *l = b_alloc(b, sizeof *l);
  perftools__profiles__location__init(l);
  l->id = id;
  l->mapping_id = map;
  l->address = 0x1000 + id;
  for (int i = 0; i < nlines; i++) {
    Perftools__Profiles__Line *ln = b_alloc(b, sizeof *ln);
    perftools__profiles__line__init(ln);
    ln->function_id = funcs[i];
    ln->line = 10 + i;
    PUSH(l->line, l->n_line, ln);
  }
  PUSH(b->p.location, b->p.n_location, l);
}
#define LOC(b, id, map, ...) loc(b, id, map, (int)(sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)), (uint64_t[]){__VA_ARGS__})
#define LOC0(b, id, map) loc(b, id, map, 0, NULL)

/* A sample: nv values then the location ids, leaf first (0-terminated). */
static void sample(builder *b, int64_t v0, int64_t v1, const uint64_t *locs) {
  Perftools__Profiles__Sample *s = b_alloc(b, sizeof *s);
  perftools__profiles__sample__init(s);
  PUSH(s->value, s->n_value, v0);
  if (b->p.n_sample_type > 1) PUSH(s->value, s->n_value, v1);
  for (; locs && *locs; locs++) PUSH(s->location_id, s->n_location_id, *locs);
  PUSH(b->p.sample, b->p.n_sample, s);
}
#define SAMPLE(b, v0, v1, ...) sample(b, v0, v1, (uint64_t[]){__VA_ARGS__, 0})

static pp_profile *build(builder *b) {
  size_t n = perftools__profiles__profile__get_packed_size(&b->p);
  uint8_t *buf = malloc(n ? n : 1);
  perftools__profiles__profile__pack(&b->p, buf);
  for (size_t i = 0; i < b->p.n_sample; i++) {
    free(b->p.sample[i]->value);
    free(b->p.sample[i]->location_id);
  }
  for (size_t i = 0; i < b->p.n_location; i++) free(b->p.location[i]->line);
  free(b->p.sample);
  free(b->p.sample_type);
  free(b->p.mapping);
  free(b->p.location);
  free(b->p.function);
  free(b->p.string_table);
  for (size_t i = 0; i < b->nallocs; i++) free(b->allocs[i]);
  free(b->allocs);
  char err[256];
  pp_profile *p = NULL;
  int rc = pp_decode(buf, n, NULL, &p, err, sizeof err);
  free(buf);
  CHECK(rc == 0, "test profile does not decode: %s", err);
  return p;
}

/* ---- helpers ---- */

typedef int (*writer)(const pp_profile *, const pp_export_opts *, uint8_t **, size_t *, char *, size_t);

/* Runs a writer that must succeed; returns its output NUL-terminated (caller frees). */
static char *run(writer w, const pp_profile *p, const pp_export_opts *o, size_t *len) {
  uint8_t *out = NULL;
  size_t n = 0;
  char err[256] = "";
  int rc = w(p, o, &out, &n, err, sizeof err);
  CHECK(rc == 0, "export failed: %d %s", rc, err);
  if (rc) return calloc(1, 1);
  char *s = malloc(n + 1);
  memcpy(s, out, n);
  s[n] = 0;
  free(out);
  if (len) *len = n;
  return s;
}

static json_t *parse(const char *s, const char *what) {
  json_error_t je;
  json_t *j = json_loads(s, 0, &je);
  CHECK(j != NULL, "%s: not valid JSON / UTF-8: %s at %d", what, je.text, je.position);
  return j ? j : json_object();
}

static json_int_t jint(json_t *a, size_t i) { return json_integer_value(json_array_get(a, i)); }

/* ex_json_str of n bytes, as a NUL-terminated string (caller frees). */
static char *jstr(const char *s, size_t n) {
  ex_buf b = {0};
  ex_json_str(&b, s, n);
  ex_putc(&b, 0);
  return b.p;
}

/* ---- tests ---- */

static void test_json_escaping(void) {
  static const struct {
    const char *in;
    size_t n;
    const char *want;
  } cases[] = {
      {"plain", 5, "\"plain\""},
      {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
      {"\x01\n\t\r\b\f\x1f\x7f", 8, "\"\\u0001\\n\\t\\r\\b\\f\\u001f\x7f\""},
      {"nul\0in", 6, "\"nul\\u0000in\""},
      {"\xff", 1, "\"\xef\xbf\xbd\""},
      {"\xc3(", 2, "\"\xef\xbf\xbd(\""},
      {"\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},                         /* overlong '/' */
      {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},         /* surrogate */
      {"\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""},                         /* U+10FFFF */
      {"\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* above */
      {"\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},                         /* truncated */
      {"\xe2\x82\xac \xc3\xa9 \xf0\x9f\x94\xa5", 11, "\"\xe2\x82\xac \xc3\xa9 \xf0\x9f\x94\xa5\""},
      {"\xe2\x80\xa8", 3, "\"\xe2\x80\xa8\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = jstr(cases[i].in, cases[i].n);
    CHECK(!strcmp(got, cases[i].want), "case %zu: got %s want %s", i, got, cases[i].want);
    free(got);
  }
  ex_buf b = {0};
  ex_pct(&b, 1, 3);
  ex_putc(&b, ' ');
  ex_pct(&b, -1, 100000000);
  ex_putc(&b, ' ');
  ex_pct(&b, 5, 0);
  ex_putc(&b, ' ');
  ex_i64(&b, INT64_MIN);
  ex_putc(&b, 0);
  CHECK(!strcmp(b.p, "33.33 0.00 0.00 -9223372036854775808"), "numbers: %s", b.p);
  ex_buf_free(&b);
}

/* Names that break naive writers, unsymbolized and empty stacks, an inlined pair. */
static pp_profile *odd_names(void) {
  builder b;
  b_init(&b);
  cpu_header(&b);
  mapping(&b, 1, "/usr/bin/app/");
  mapping(&b, 2, "");
  func(&b, 1, "main.main", "main.go", 3);
  func(&b, 2, "a;b", "a.go", 0);
  func(&b, 3, "a:b", "a.go", 0);
  func(&b, 4, "line\nbreak\ttab", "x.go", 7);
  func(&b, 5, "q\"uote\\back", "x.go", 9);
  func(&b, 6, "bad\xff", "x.go", 0);
  func(&b, 7, "", "x.go", 0);
  LOC(&b, 1, 1, 1);
  LOC(&b, 2, 1, 2);
  LOC(&b, 3, 1, 3);
  LOC(&b, 4, 1, 4);
  LOC(&b, 5, 1, 5);
  LOC(&b, 6, 1, 6);
  LOC(&b, 7, 1, 7);
  LOC0(&b, 8, 1);
  LOC0(&b, 9, 2);
  LOC(&b, 10, 1, 5, 4); /* q"uote inlined into line-break */
  SAMPLE(&b, 1, 10, 2, 1);
  SAMPLE(&b, 2, 20, 3, 1);
  SAMPLE(&b, 3, 30, 4, 1);
  SAMPLE(&b, 4, 40, 5, 1);
  SAMPLE(&b, 5, 50, 6, 1);
  SAMPLE(&b, 6, 60, 7, 1);
  SAMPLE(&b, 7, 70, 8, 1);
  SAMPLE(&b, 8, 80, 9, 1);
  SAMPLE(&b, 9, 90, 10, 1);
  sample(&b, 10, 100, NULL);
  SAMPLE(&b, 0, 0, 4, 1); /* zero: adds nothing */
  return build(&b);
}

static void test_folded(void) {
  pp_profile *p = odd_names();
  char *got = run(pp_export_folded, p, NULL, NULL);
  const char *want = "[no stack] 100\n"
                     "main.main;<unknown> 80\n"
                     "main.main;[app] 130\n"
                     "main.main;a:b 30\n"
                     "main.main;bad\xef\xbf\xbd 50\n"
                     "main.main;line break tab 30\n"
                     "main.main;line break tab;q\"uote\\back 90\n"
                     "main.main;q\"uote\\back 40\n";
  CHECK(!strcmp(got, want), "folded:\n%s\nwant:\n%s", got, want);
  free(got);
  pp_export_opts o = {.sample_type = "samples"};
  got = run(pp_export_folded, p, &o, NULL);
  CHECK(strstr(got, "main.main;a:b 3\n") && strstr(got, "[no stack] 10\n"), "folded samples: %s", got);
  free(got);
  o.sample_type = "0";
  char *again = run(pp_export_folded, p, &o, NULL);
  o.sample_type = "samples";
  got = run(pp_export_folded, p, &o, NULL);
  CHECK(!strcmp(got, again), "sample type by index and by name differ");
  free(got);
  free(again);
  pp_free(p);
}

/* A string member of a JSON object, or "". */
static const char *jget(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static void test_speedscope_names(void) {
  pp_profile *p = odd_names();
  pp_export_opts o = {.name = "n\"ame"};
  char *s = run(pp_export_speedscope, p, &o, NULL);
  json_t *j = parse(s, "speedscope");
  CHECK(!strcmp(jget(j, "name"), "n\"ame"), "speedscope name");
  json_t *frames = json_object_get(json_object_get(j, "shared"), "frames");
  int seen = 0;
  for (size_t i = 0; i < json_array_size(frames); i++) {
    json_t *f = json_array_get(frames, i);
    const char *n = jget(f, "name");
    if (!strcmp(n, "a;b") || !strcmp(n, "a:b")) seen |= 1 << (n[1] == ';');
    if (!strcmp(n, "line\nbreak\ttab")) {
      seen |= 4;
      CHECK(json_integer_value(json_object_get(f, "line")) == 7 && !strcmp(jget(f, "file"), "x.go"), "frame file/line");
    }
    if (!strcmp(n, "bad\xef\xbf\xbd")) seen |= 8;
    if (!strcmp(n, "[app]")) {
      seen |= 16;
      CHECK(!json_object_get(f, "file") && !json_object_get(f, "line"), "unsymbolized frame has no file or line");
    }
  }
  CHECK(seen == 31, "speedscope frames keep names apart and raw (seen %d)", seen);
  json_t *profs = json_object_get(j, "profiles");
  CHECK(json_array_size(profs) == 2, "two sampled profiles");
  CHECK(json_integer_value(json_object_get(j, "activeProfileIndex")) == 1, "active = default type");
  CHECK(!strcmp(jget(json_array_get(profs, 0), "unit"), "none") &&
            !strcmp(jget(json_array_get(profs, 1), "unit"), "nanoseconds"),
        "units");
  json_t *w = json_object_get(json_array_get(profs, 1), "weights");
  json_int_t sum = 0;
  for (size_t i = 0; i < json_array_size(w); i++) sum += jint(w, i);
  CHECK(sum == 550 && json_integer_value(json_object_get(json_array_get(profs, 1), "endValue")) == 550,
        "weights sum %lld", (long long)sum);
  json_decref(j);
  free(s);
  pp_free(p);
}

static void test_tree_names(void) {
  pp_profile *p = odd_names();
  char *s = run(pp_export_tree, p, NULL, NULL);
  json_t *j = parse(s, "tree");
  json_t *names = json_object_get(j, "names"), *nodes = json_object_get(j, "nodes");
  CHECK(json_integer_value(json_object_get(j, "total")) == 550, "tree total");
  /* "a;b" and "a:b" are two nodes in the tree (names are not folded there). */
  int ab = 0;
  for (size_t i = 0; i < json_array_size(nodes); i++) {
    json_t *n = json_array_get(nodes, i);
    json_int_t ni = jint(n, 0);
    const char *nm = ni >= 0 ? json_string_value(json_array_get(names, (size_t)ni)) : "";
    if (!strcmp(nm, "a;b") || !strcmp(nm, "a:b")) ab++;
  }
  CHECK(ab == 2, "a;b and a:b are separate tree nodes (%d)", ab);
  json_decref(j);
  free(s);
  pp_free(p);
}

static void test_empty(void) {
  builder b;
  b_init(&b);
  cpu_header(&b);
  b.p.time_nanos = 1700000000000000000;
  pp_profile *p = build(&b);
  size_t n = 99;
  char *s = run(pp_export_folded, p, NULL, &n);
  CHECK(n == 0 && !*s, "folded of an empty profile is empty");
  free(s);
  s = run(pp_export_speedscope, p, NULL, NULL);
  json_t *j = parse(s, "speedscope empty");
  json_t *profs = json_object_get(j, "profiles");
  CHECK(json_array_size(profs) == 2 && json_array_size(json_object_get(json_array_get(profs, 0), "samples")) == 0,
        "empty speedscope: %s", s);
  json_decref(j);
  free(s);
  s = run(pp_export_chrome, p, NULL, NULL);
  j = parse(s, "chrome empty");
  CHECK(json_array_size(json_object_get(j, "nodes")) == 1 && json_array_size(json_object_get(j, "samples")) == 0 &&
            json_integer_value(json_object_get(j, "startTime")) == 1700000000000000 &&
            json_integer_value(json_object_get(j, "endTime")) == 1700000000000000,
        "empty chrome: %s", s);
  json_decref(j);
  free(s);
  pp_export_opts o = {.min_share = 0.01};
  s = run(pp_export_tree, p, &o, NULL);
  CHECK(strstr(s, "\"nodes\":[[0,-1,0,0]],\"top\":[],\"functions\":0}") != NULL, "empty tree: %s", s);
  free(s);
  pp_free(p);

  /* No sample types at all. */
  b_init(&b);
  p = build(&b);
  s = run(pp_export_folded, p, NULL, &n);
  CHECK(n == 0, "folded without sample types");
  free(s);
  s = run(pp_export_tree, p, NULL, NULL);
  j = parse(s, "tree without types");
  CHECK(json_integer_value(json_object_get(j, "sampleType")) == -1, "sampleType -1: %s", s);
  json_decref(j);
  free(s);
  s = run(pp_export_speedscope, p, NULL, NULL);
  j = parse(s, "speedscope without types");
  CHECK(json_array_size(json_object_get(j, "profiles")) == 0, "no profiles: %s", s);
  json_decref(j);
  free(s);
  pp_free(p);
}

/* a -> b -> a -> b (recursion) and a alone: cum counts each sample once. */
static void test_recursion_top(void) {
  builder b;
  b_init(&b);
  cpu_header(&b);
  func(&b, 1, "a", "a.go", 1);
  func(&b, 2, "b", "b.go", 1);
  LOC(&b, 1, 0, 1);
  LOC(&b, 2, 0, 2);
  SAMPLE(&b, 5, 5, 2, 1, 2, 1);
  SAMPLE(&b, 1, 1, 1);
  pp_profile *p = build(&b);
  char *s = run(pp_export_tree, p, NULL, NULL);
  /* top rows [name, flat, flat%, sum%, cum, cum%]: b flat 5 cum 5, a flat 1 cum 6. */
  json_t *j = parse(s, "recursion tree");
  json_t *names = json_object_get(j, "names"), *top = json_object_get(j, "top");
  CHECK(json_array_size(top) == 2, "two functions");
  json_t *r0 = json_array_get(top, 0), *r1 = json_array_get(top, 1);
  CHECK(!strcmp(json_string_value(json_array_get(names, (size_t)jint(r0, 0))), "b") && jint(r0, 1) == 5 &&
            jint(r0, 4) == 5,
        "b row: %s", s);
  CHECK(!strcmp(json_string_value(json_array_get(names, (size_t)jint(r1, 0))), "a") && jint(r1, 1) == 1 &&
            jint(r1, 4) == 6,
        "a row: %s", s);
  CHECK(fabs(json_real_value(json_array_get(r1, 3)) - 100.0) < 1e-9, "sum%% reaches 100: %s", s);
  json_decref(j);
  free(s);
  pp_free(p);
}

/* Children of the root with totals 50, 30, 15, 4, 1. */
static pp_profile *fan(const int64_t *v, int n) {
  builder b;
  b_init(&b);
  cpu_header(&b);
  const char *names[] = {"f0", "f1", "f2", "f3", "f4", "f5"};
  for (int i = 0; i < n; i++) {
    func(&b, (uint64_t)i + 1, names[i], "f.go", 1);
    LOC(&b, (uint64_t)i + 1, 0, (uint64_t)i + 1);
    if (v[i]) SAMPLE(&b, v[i], v[i], (uint64_t)i + 1);
  }
  return build(&b);
}

static void test_collapse(void) {
  int64_t v[] = {4, 50, 1, 30, 15};
  pp_profile *p = fan(v, 5);
  pp_export_opts o = {.min_share = 0.05};
  char *s = run(pp_export_tree, p, &o, NULL);
  CHECK(strstr(s, "\"names\":[\"all\",\"f1\",\"f3\",\"f4\",") != NULL, "names in order of use: %s", s);
  CHECK(strstr(s, "\"nodes\":[[0,-1,0,100],[1,0,50,50],[2,0,30,30],[3,0,15,15],[-1,0,5,5]]") != NULL,
        "collapsed into other: %s", s);
  free(s);
  o.min_share = 0.04; /* 4 is exactly at the share: kept */
  s = run(pp_export_tree, p, &o, NULL);
  CHECK(strstr(s, "[4,0,4,4],[-1,0,1,1]]") != NULL, "at the share is kept: %s", s);
  free(s);
  o.max_top = 2;
  s = run(pp_export_tree, p, &o, NULL);
  CHECK(strstr(s, "\"top\":[[1,50,50.00,50.00,50,50.00],[2,30,30.00,80.00,30,30.00]],\"functions\":5}") != NULL,
        "top cut at 2: %s", s);
  free(s);

  /* Diff: f0 is small in the current profile but large in the base: kept. */
  int64_t vb[] = {40, 50, 1, 5, 4};
  pp_profile *base = fan(vb, 5);
  pp_export_opts d = {.min_share = 0.05};
  uint8_t *out = NULL;
  size_t len = 0;
  char err[256];
  int rc = pp_export_diff(base, p, &d, &out, &len, err, sizeof err);
  CHECK(rc == 0, "diff: %s", err);
  if (rc == 0) {
    s = strndup((char *)out, len);
    CHECK(strstr(s, "\"nodes\":[[0,-1,0,100,0,100],[1,0,50,50,50,50],[2,0,30,30,5,5],[3,0,15,15,4,4],"
                    "[4,0,4,4,40,40],[-1,0,1,1,1,1]]") != NULL,
          "diff nodes: %s", s);
    CHECK(strstr(s, "\"base\":{\"sampleTypes\":[{\"type\":\"samples\",\"unit\":\"count\",\"total\":100},") != NULL,
          "diff base header: %s", s);
    free(s);
    free(out);
  }
  pp_free(base);
  pp_free(p);
}

static void test_chrome_counts(void) {
  /* Two leaves with huge counts, scaled to 10 samples: 4 and 6. */
  builder b;
  b_init(&b);
  cpu_header(&b);
  func(&b, 1, "x", "x.go", 0);
  func(&b, 2, "y", "y.go", 5);
  LOC(&b, 1, 0, 1);
  LOC(&b, 2, 0, 2);
  SAMPLE(&b, INT64_C(1) << 62, 10, 1);
  SAMPLE(&b, INT64_C(3) << 61, 20, 2);
  pp_profile *p = build(&b);
  pp_export_opts o = {.max_samples = 10};
  char *s = run(pp_export_chrome, p, &o, NULL);
  json_t *j = parse(s, "chrome scaled");
  json_t *nodes = json_object_get(j, "nodes");
  CHECK(json_array_size(nodes) == 3, "3 nodes");
  CHECK(json_integer_value(json_object_get(json_array_get(nodes, 1), "hitCount")) == 4 &&
            json_integer_value(json_object_get(json_array_get(nodes, 2), "hitCount")) == 6,
        "scaled hit counts: %s", s);
  json_t *y = json_object_get(json_array_get(nodes, 2), "callFrame");
  CHECK(!strcmp(jget(y, "url"), "y.go") && json_integer_value(json_object_get(y, "lineNumber")) == 4 &&
            !strcmp(jget(y, "scriptId"), "2"),
        "callFrame: %s", s);
  json_t *x = json_object_get(json_array_get(nodes, 1), "callFrame");
  CHECK(json_integer_value(json_object_get(x, "lineNumber")) == -1 && !strcmp(jget(x, "scriptId"), "1"),
        "unknown start line: %s", s);
  CHECK(json_array_size(json_object_get(j, "samples")) == 10 && json_array_size(json_object_get(j, "timeDeltas")) == 10,
        "10 samples");
  json_decref(j);
  free(s);
  pp_free(p);

  /* 30 ns of CPU time... 10 us over 3 samples: deltas carry the rounding. */
  b_init(&b);
  cpu_header(&b);
  func(&b, 1, "x", "x.go", 1);
  LOC(&b, 1, 0, 1);
  SAMPLE(&b, 3, 10999, 1);
  p = build(&b);
  s = run(pp_export_chrome, p, NULL, NULL);
  CHECK(strstr(s, "\"startTime\":0,\"endTime\":10,\"samples\":[2,2,2],\"timeDeltas\":[3,3,4]}") != NULL,
        "time deltas: %s", s);
  free(s);
  pp_free(p);
}

static void test_errors(void) {
  pp_profile *p = odd_names();
  char err[256];
  uint8_t *out = (uint8_t *)"x";
  size_t len = 7;
  pp_export_opts o = {.sample_type = "nope"};
  int rc = pp_export_folded(p, &o, &out, &len, err, sizeof err);
  CHECK(rc == PP_EINVAL && out == NULL && len == 0, "unknown sample type: %d", rc);
  CHECK(strstr(err, "\"nope\"") && strstr(err, "samples, cpu"), "message: %s", err);
  o.sample_type = "2";
  CHECK(pp_export_tree(p, &o, &out, &len, err, sizeof err) == PP_EINVAL, "index out of range");
  o.sample_type = NULL;
  double bad[] = {-0.1, 1.5, NAN};
  for (size_t i = 0; i < 3; i++) {
    o.min_share = bad[i];
    rc = pp_export_tree(p, &o, &out, &len, err, sizeof err);
    CHECK(rc == PP_EINVAL && strstr(err, "from 0 to 1"), "share %g: %d %s", bad[i], rc, err);
  }
  CHECK(pp_export_folded(NULL, NULL, &out, &len, err, sizeof err) == PP_EINVAL, "NULL profile");
  CHECK(pp_export_speedscope(p, NULL, NULL, &len, err, sizeof err) == PP_EINVAL, "NULL out");
  CHECK(pp_export_diff(p, NULL, NULL, &out, &len, err, sizeof err) == PP_EINVAL, "NULL profile in diff");

  builder b;
  b_init(&b);
  heap_header(&b);
  func(&b, 1, "x", "x.go", 1);
  LOC(&b, 1, 0, 1);
  SAMPLE(&b, 3, 300, 1);
  pp_profile *heap = build(&b);
  rc = pp_export_chrome(heap, NULL, &out, &len, err, sizeof err);
  CHECK(rc == PP_EINCOMPATIBLE && strstr(err, "needs a CPU profile") && strstr(err, "space/bytes"), "chrome heap: %s", err);
  rc = pp_export_diff(heap, p, NULL, &out, &len, err, sizeof err);
  CHECK(rc == PP_EINCOMPATIBLE && strstr(err, "cpu/nanoseconds"), "diff heap/cpu: %s", err);
  char *s = run(pp_export_folded, heap, NULL, NULL);
  CHECK(!strcmp(s, "x 300\n"), "heap folded uses its default (last) type: %s", s);
  free(s);
  pp_free(heap);

  b_init(&b);
  cpu_header(&b);
  func(&b, 1, "x", "x.go", 1);
  LOC(&b, 1, 0, 1);
  SAMPLE(&b, -3, -30, 1);
  pp_profile *neg = build(&b);
  rc = pp_export_chrome(neg, NULL, &out, &len, err, sizeof err);
  CHECK(rc == PP_EINVAL && strstr(err, "negative"), "chrome negative: %s", err);
  s = run(pp_export_folded, neg, NULL, NULL);
  CHECK(!strcmp(s, "x -30\n"), "negative folded values are written: %s", s);
  free(s);
  pp_free(neg);
  pp_free(p);
}

static void test_table(void) {
  CHECK(pp_export_format_count() == 6, "six formats");
  CHECK(pp_export_format_find("pgo") && pp_export_format_find("pgo")->reads == PP_EXPORT_READS_KEEP &&
            pp_export_format_find("preprofile") && pp_export_format_find("preprofile")->reads == 0,
        "pgo reads --keep, preprofile nothing (their output is tested in tests/pgo)");
  const char *want[] = {"pprof", "folded", "speedscope", "chrome"};
  pp_profile *p = odd_names();
  for (size_t i = 0; i < 4; i++) {
    const pp_export_format *f = pp_export_format_at(i);
    CHECK(f && !strcmp(f->name, want[i]) && pp_export_format_find(want[i]) == f, "format %zu", i);
    if (!f) continue;
    CHECK(f->media_type && f->suffix && f->suffix[0] == '.' && f->summary && f->write, "format %s fields", f->name);
    /* Every format is deterministic: hash seeds differ between runs, output must not. */
    size_t n1, n2;
    char *a = run(f->write, p, NULL, &n1), *c = run(f->write, p, NULL, &n2);
    if (i > 0) CHECK(n1 == n2 && !memcmp(a, c, n1), "%s output differs between runs", f->name);
    free(a);
    free(c);
  }
  CHECK(pp_export_format_at(6) == NULL && pp_export_format_find("nope") == NULL &&
            pp_export_format_find(NULL) == NULL,
        "lookups outside the table");
  CHECK(pp_export_format_find("folded")->reads == PP_EXPORT_READS_SAMPLE_TYPE &&
            pp_export_format_find("chrome")->reads == PP_EXPORT_READS_MAX_SAMPLES,
        "options each format reads");
  size_t vi = 9;
  CHECK(pp_export_value_index(p, "cpu", &vi, NULL, 0) == 0 && vi == 1, "by name");
  CHECK(pp_export_value_index(p, "", &vi, NULL, 0) == 0 && vi == 1, "default");
  CHECK(pp_export_value_index(p, "0", &vi, NULL, 0) == 0 && vi == 0, "by index");
  pp_free(p);
}

int main(void) {
  test_json_escaping();
  test_folded();
  test_speedscope_names();
  test_tree_names();
  test_empty();
  test_recursion_top();
  test_collapse();
  test_chrome_counts();
  test_errors();
  test_table();
  return check_exit("test_export");
}
