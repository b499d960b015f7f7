/*
 * testutil.h — helpers for the engine's unit tests: a small builder that
 * assembles profile.proto messages with the protobuf-c generated structs
 * (so inputs are produced by an independent encoder, not by our own), and
 * accessors of the decoded model for the checks (tests/common/check.h).
 */
#ifndef PGOPIPE_TEST_PPROF_UTIL_H
#define PGOPIPE_TEST_PPROF_UTIL_H

#include "../common/check.h"
#include "internal.h"
#include "profile.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- builder ---- */

typedef Perftools__Profiles__Profile PB;
typedef Perftools__Profiles__Sample PBSample;

typedef struct tb {
  PB p;
  void **allocs;
  size_t nallocs;
} tb;

static void *tb_alloc(tb *b, size_t n) {
  void *p = calloc(1, n ? n : 1);
  b->allocs = realloc(b->allocs, (b->nallocs + 1) * sizeof(void *));
  b->allocs[b->nallocs++] = p;
  return p;
}

#define TB_PUSH(b, arr, n, val)                                                                                \
  do {                                                                                                         \
    void *_np = realloc((arr), ((n) + 1) * sizeof(*(arr)));                                                    \
    (arr) = _np;                                                                                               \
    (arr)[(n)++] = (val);                                                                                      \
  } while (0)

static void tb_init(tb *b) {
  memset(b, 0, sizeof(*b));
  perftools__profiles__profile__init(&b->p);
  char *e = tb_alloc(b, 1);
  TB_PUSH(b, b->p.string_table, b->p.n_string_table, e);
}

/* Index of s in the string table (added when new). */
static int64_t S_(tb *b, const char *s) {
  for (size_t i = 0; i < b->p.n_string_table; i++)
    if (strcmp(b->p.string_table[i], s) == 0) return (int64_t)i;
  char *c = tb_alloc(b, strlen(s) + 1);
  strcpy(c, s);
  TB_PUSH(b, b->p.string_table, b->p.n_string_table, c);
  return (int64_t)b->p.n_string_table - 1;
}

static Perftools__Profiles__ValueType *tb_vt(tb *b, const char *t, const char *u) {
  Perftools__Profiles__ValueType *v = tb_alloc(b, sizeof(*v));
  perftools__profiles__value_type__init(v);
  v->type = S_(b, t);
  v->unit = S_(b, u);
  return v;
}

static void tb_stype(tb *b, const char *t, const char *u) {
  Perftools__Profiles__ValueType *v = tb_vt(b, t, u);
  TB_PUSH(b, b->p.sample_type, b->p.n_sample_type, v);
}

static void tb_period(tb *b, const char *t, const char *u, int64_t period) {
  b->p.period_type = tb_vt(b, t, u);
  b->p.period = period;
}

/* CPU header: samples/count, cpu/nanoseconds, period cpu/nanoseconds. */
static void tb_cpu(tb *b) {
  tb_stype(b, "samples", "count");
  tb_stype(b, "cpu", "nanoseconds");
  tb_period(b, "cpu", "nanoseconds", 10000000);
}

static Perftools__Profiles__Mapping *tb_map(tb *b, uint64_t id, uint64_t start, uint64_t limit, uint64_t off,
                                            const char *file, const char *bid) {
  Perftools__Profiles__Mapping *m = tb_alloc(b, sizeof(*m));
  perftools__profiles__mapping__init(m);
  m->id = id;
  m->memory_start = start;
  m->memory_limit = limit;
  m->file_offset = off;
  m->filename = S_(b, file);
  m->build_id = S_(b, bid);
  TB_PUSH(b, b->p.mapping, b->p.n_mapping, m);
  return m;
}

static Perftools__Profiles__Function *tb_func(tb *b, uint64_t id, const char *name, const char *file, int64_t sl) {
  Perftools__Profiles__Function *f = tb_alloc(b, sizeof(*f));
  perftools__profiles__function__init(f);
  f->id = id;
  f->name = S_(b, name);
  f->system_name = S_(b, name);
  f->filename = S_(b, file);
  f->start_line = sl;
  TB_PUSH(b, b->p.function, b->p.n_function, f);
  return f;
}

/* Location whose lines are given as "fid:line fid:line ..." (innermost first). */
static Perftools__Profiles__Location *tb_loc(tb *b, uint64_t id, uint64_t mid, uint64_t addr, const char *lines) {
  Perftools__Profiles__Location *l = tb_alloc(b, sizeof(*l));
  perftools__profiles__location__init(l);
  l->id = id;
  l->mapping_id = mid;
  l->address = addr;
  const char *q = lines;
  char *e;
  while (q && *q) {
    uint64_t fid = strtoull(q, &e, 10);
    if (e == q) break;
    int64_t line = 0;
    q = e;
    if (*q == ':') {
      line = strtoll(q + 1, &e, 10);
      q = e;
    }
    Perftools__Profiles__Line *ln = tb_alloc(b, sizeof(*ln));
    perftools__profiles__line__init(ln);
    ln->function_id = fid;
    ln->line = line;
    TB_PUSH(b, l->line, l->n_line, ln);
    while (*q == ' ') q++;
  }
  TB_PUSH(b, b->p.location, b->p.n_location, l);
  return l;
}

/* Sample with values "v1 v2 ..." and location ids "l1 l2 ..." (leaf first). */
static PBSample *tb_sample(tb *b, const char *values, const char *locs) {
  PBSample *s = tb_alloc(b, sizeof(*s));
  perftools__profiles__sample__init(s);
  char *e;
  for (const char *q = values; q && *q;) {
    int64_t v = strtoll(q, &e, 10);
    if (e == q) break;
    TB_PUSH(b, s->value, s->n_value, v);
    q = e;
  }
  for (const char *q = locs; q && *q;) {
    uint64_t v = strtoull(q, &e, 10);
    if (e == q) break;
    TB_PUSH(b, s->location_id, s->n_location_id, v);
    q = e;
  }
  TB_PUSH(b, b->p.sample, b->p.n_sample, s);
  return s;
}

/* Raw label with string-table indexes as given. */
static void tb_label_raw(tb *b, PBSample *s, int64_t key, int64_t str, int64_t num, int64_t unit) {
  Perftools__Profiles__Label *l = tb_alloc(b, sizeof(*l));
  perftools__profiles__label__init(l);
  l->key = key;
  l->str = str;
  l->num = num;
  l->num_unit = unit;
  TB_PUSH(b, s->label, s->n_label, l);
}

/* (string indexes are taken in a fixed order: argument evaluation order is
 * unspecified in C, and tests must build the same bytes with every compiler) */
static void tb_label(tb *b, PBSample *s, const char *k, const char *v) {
  int64_t ki = S_(b, k);
  int64_t vi = S_(b, v);
  tb_label_raw(b, s, ki, vi, 0, 0);
}

static void tb_numlabel(tb *b, PBSample *s, const char *k, int64_t num, const char *unit) {
  int64_t ki = S_(b, k);
  int64_t ui = unit ? S_(b, unit) : 0;
  tb_label_raw(b, s, ki, 0, num, ui);
}

static uint8_t *tb_pack(tb *b, size_t *len) {
  *len = perftools__profiles__profile__get_packed_size(&b->p);
  uint8_t *buf = malloc(*len ? *len : 1);
  perftools__profiles__profile__pack(&b->p, buf);
  return buf;
}

static void tb_free(tb *b) {
  for (size_t i = 0; i < b->p.n_sample; i++) {
    free(b->p.sample[i]->value);
    free(b->p.sample[i]->location_id);
    free(b->p.sample[i]->label);
  }
  for (size_t i = 0; i < b->p.n_location; i++) free(b->p.location[i]->line);
  free(b->p.sample);
  free(b->p.sample_type);
  free(b->p.mapping);
  free(b->p.location);
  free(b->p.function);
  free(b->p.string_table);
  free(b->p.comment);
  for (size_t i = 0; i < b->nallocs; i++) free(b->allocs[i]);
  free(b->allocs);
  memset(b, 0, sizeof(*b));
}

/* Decodes the builder's message; rc is the expected code. Frees b. */
static pp_profile *tb_decode_rc(tb *b, int want_rc, char *err, size_t errlen) {
  size_t n;
  uint8_t *buf = tb_pack(b, &n);
  tb_free(b);
  pp_profile *p = NULL;
  err[0] = 0;
  int rc = pp_decode(buf, n, NULL, &p, err, errlen);
  free(buf);
  CHECK(rc == want_rc, "decode returned %d (%s), want %d", rc, err, want_rc);
  return p;
}

static pp_profile *tb_decode(tb *b) {
  char err[512];
  return tb_decode_rc(b, PP_OK, err, sizeof(err));
}

/* ---- model access for checks ---- */

static const char *fname(const pp_profile *p, uint32_t fi) { return pp_pool_str(&p->sp, p->funcs[fi].name); }

/* Leaf-first stack of sample i as "f1;f2;..." using each location's lines
 * innermost first, lines joined by '+'. */
static const char *stack(const pp_profile *p, size_t i, char *buf, size_t n) {
  size_t at = 0;
  buf[0] = 0;
  const pp_sample *s = &p->samples[i];
  for (size_t j = 0; j < s->nlocs; j++) {
    const pp_location *l = &p->locs[p->sloc[s->loc_off + j]];
    for (size_t k = 0; k < l->nlines; k++)
      at += (size_t)snprintf(buf + at, n - at, "%s%s", k ? "+" : (j ? ";" : ""),
                             fname(p, p->lines[l->line_off + k].func));
    if (!l->nlines) at += (size_t)snprintf(buf + at, n - at, "%s?", j ? ";" : "");
  }
  return buf;
}

static int64_t val(const pp_profile *p, size_t si, size_t vi) { return p->values[si * p->nstypes + vi]; }

/* Encodes and decodes again (round trip through our own codec). */
static pp_profile *roundtrip(const pp_profile *p) {
  uint8_t *o;
  size_t n;
  char err[256];
  if (pp_encode(p, -1, &o, &n, err, sizeof(err))) return NULL;
  pp_profile *q = NULL;
  pp_decode(o, n, NULL, &q, err, sizeof(err));
  free(o);
  return q;
}

static pp_profile *merge2(pp_profile *a, pp_profile *b, int want_rc, char *err, size_t errlen) {
  pp_profile *in[2] = {a, b}, *out = NULL;
  err[0] = 0;
  int rc = pp_merge(in, 2, &out, err, errlen);
  CHECK(rc == want_rc, "merge returned %d (%s), want %d", rc, err, want_rc);
  return out;
}

#endif
