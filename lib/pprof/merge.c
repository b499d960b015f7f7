/*
 * merge.c — pprof's Merge, folded one input at a time.
 *
 * The merger owns the result profile and four open-addressing hash tables,
 * one per identity (mapping, function, location, sample), whose slots hold
 * an entity's hash beside its index into the result's flat arrays, so that
 * probes skip other entities without reading them and tables grow without
 * recomputing keys. An input is translated
 * into the result's vocabulary through per-input memo arrays (input index ->
 * result index, input string id -> result string id), looked up by identity,
 * created when new, and then freed: peak memory is the result plus the one
 * input being folded.
 *
 * Identity rules (those of the key() methods in Go's
 * github.com/google/pprof/profile/merge.go):
 *   mapping  = (limit - start rounded up to 4 KiB, file offset, build id or
 *              else file name); a matching input mapping shifts its
 *              locations' addresses by (result start - input start);
 *   function = (name, system name, file name, start line);
 *   location = (address relative to its result mapping's start, mapping,
 *              ordered (function, line, column) list, is_folded);
 *   sample   = (ordered location list, labels in canonical order).
 * Columns are part of a location's identity for every line (upstream pprof
 * keeps only the last line's column in its key; Go runtimes up to 1.22 emit
 * no columns, so the two agree on Go profiles).
 *
 * Entities get dense indexes in creation order; samples are kept in order of
 * first occurrence; all-zero input samples are skipped. pp_merger_finish
 * re-merges the result alone while it holds all-zero samples (values that
 * cancelled), which drops them and everything only they used.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* A slot holds an entity's 32-bit hash (high half) and its index + 1 (low
 * half; 0 = empty): a probe compares hashes without touching the entity
 * arrays, so a lookup costs one cache miss per slot visited plus the
 * entity it finds, and growing needs no stored hashes. */
typedef struct tab {
  uint64_t *slots;
  size_t cap; /* power of two */
} tab;

static inline uint64_t tab_slot(uint32_t h, uint32_t idx) { return (uint64_t)h << 32 | (idx + 1); }
static inline uint32_t slot_hash(uint64_t v) { return (uint32_t)(v >> 32); }
static inline uint32_t slot_idx(uint64_t v) { return (uint32_t)v - 1; }

struct pp_merger {
  pp_profile *r;
  size_t ninputs;
  uint64_t seed; /* of the identity hashes, drawn per merger (pp_seed) */
  tab mt, ft, lt, st;
  /* per-input memo */
  pp_sid *smap; /* input sid -> result sid + 1, 0 = not yet */
  size_t csmap;
  uint32_t *mmap; /* input mapping -> result mapping, PP_NONE = not yet */
  int64_t *moff;
  size_t cmmap, cmoff;
  uint32_t *fmap, *lmap;
  size_t cfmap, clmap;
  /* scratch */
  struct prep *prep; /* two: the sample being put and the next one */
  pp_line *tlines;
  size_t ctlines;
  uint8_t *cseen; /* result string id -> already a comment of the result */
  size_t ccseen;
};

/* ---- tables ---- */

static int tab_init(tab *t, size_t expect) {
  size_t c = 64;
  while (c < expect * 2) c *= 2;
  t->slots = pp_zalloc(c, sizeof(*t->slots)); /* probed before written: see pp_zalloc */
  if (!t->slots) return PP_ENOMEM;
  t->cap = c;
  return PP_OK;
}

/* Grows t so that `count` entities fill at most half of it. */
static int tab_fit(tab *t, size_t count) {
  if (count * 2 < t->cap) return PP_OK;
  size_t nc = t->cap * 2;
  while (count * 2 >= nc) nc *= 2;
  uint64_t *s = pp_zalloc(nc, sizeof(*s));
  if (!s) return PP_ENOMEM;
  size_t mask = nc - 1;
  for (size_t i = 0; i < t->cap; i++) {
    uint64_t e = t->slots[i];
    if (!e) continue;
    size_t j = slot_hash(e) & mask;
    while (s[j]) j = (j + 1) & mask;
    s[j] = e;
  }
  free(t->slots);
  t->slots = s;
  t->cap = nc;
  return PP_OK;
}

/* ---- helpers ---- */

static inline uint64_t map_size(const pp_mapping *m) {
  uint64_t size = m->limit - m->start;
  size = size + 0x1000 - 1;
  return size - (size % 0x1000);
}

static inline pp_sid map_name(const pp_mapping *m) { return m->build_id ? m->build_id : m->file; }

static inline uint32_t hash_mapping(uint64_t seed, const pp_mapping *m) {
  uint64_t h = pp_mix(seed ^ 0x6d, map_size(m));
  h = pp_mix(h, m->offset);
  return pp_hfin(seed, pp_mix(h, map_name(m)));
}

static inline uint32_t hash_function(uint64_t seed, const pp_function *f) {
  uint64_t h = pp_mix(seed ^ 0x66, f->name);
  h = pp_mix(h, f->system_name);
  h = pp_mix(h, f->filename);
  return pp_hfin(seed, pp_mix(h, (uint64_t)f->start_line));
}

static inline uint64_t loc_rel(const pp_profile *r, const pp_location *l) {
  return l->mapping == PP_NONE ? l->address : l->address - r->maps[l->mapping].start;
}

static inline uint32_t hash_location(uint64_t seed, uint64_t rel, uint32_t mapping, uint32_t folded,
                                     const pp_line *ln, size_t n) {
  uint64_t h = pp_mix(seed ^ 0x6c, rel);
  h = pp_mix(h, mapping);
  h = pp_mix(h, folded);
  for (size_t i = 0; i < n; i++) {
    h = pp_mix(h, ln[i].func);
    h = pp_mix(h, (uint64_t)ln[i].line);
    if (ln[i].column) h = pp_mix(h, (uint64_t)ln[i].column ^ 0xc01);
  }
  return pp_hfin(seed, h);
}

/* The location list, the bulk of a sample's key, is hashed as bytes (two
 * indexes per round; the length is part of the hash). */
static inline uint32_t hash_sample(uint64_t seed, const uint32_t *locs, size_t nl, const pp_label *lb, size_t nb) {
  uint64_t h = pp_hash_bytes(seed ^ 0x73, locs, nl * sizeof(*locs));
  for (size_t i = 0; i < nb; i++) {
    h = pp_mix(h, ((uint64_t)lb[i].key << 1) | lb[i].is_num);
    h = pp_mix(h, lb[i].is_num ? (uint64_t)lb[i].num ^ ((uint64_t)lb[i].unit << 40) : lb[i].str);
  }
  return pp_hfin(seed, h);
}

static inline bool label_eq(const pp_label *a, const pp_label *b) {
  return a->key == b->key && a->is_num == b->is_num && a->str == b->str && a->num == b->num && a->unit == b->unit;
}

/* Translates an input string id to a result string id. */
static inline int tr_sid(pp_merger *m, const pp_profile *in, pp_sid s, pp_sid *out) {
  if (s == 0) {
    *out = 0;
    return PP_OK;
  }
  if (m->smap[s]) {
    *out = m->smap[s] - 1;
    return PP_OK;
  }
  pp_sid id;
  const char *str = pp_pool_str(&in->sp, s);
  size_t len = pp_pool_len(&in->sp, s);
  /* Pools are keyed separately: the input's stored hash is reusable only
   * when both share a seed (e.g. when compacting a merge result). */
  uint64_t h = in->sp.seed == m->r->sp.seed ? in->sp.hash[s] : pp_hash_bytes(m->r->sp.seed, str, len);
  if (pp_pool_intern_h(&m->r->sp, str, len, h, &id)) return PP_ENOMEM;
  m->smap[s] = id + 1;
  *out = id;
  return PP_OK;
}

/* ---- entity mapping ---- */

static int map_mapping(pp_merger *m, const pp_profile *in, uint32_t mi, uint32_t *out) {
  if (m->mmap[mi] != PP_NONE) {
    *out = m->mmap[mi];
    return PP_OK;
  }
  pp_profile *r = m->r;
  const pp_mapping *src = &in->maps[mi];
  pp_mapping nm = *src;
  if (tr_sid(m, in, src->file, &nm.file) || tr_sid(m, in, src->build_id, &nm.build_id)) return PP_ENOMEM;
  uint32_t h = hash_mapping(m->seed, &nm);
  uint64_t sz = map_size(&nm);
  pp_sid nn = map_name(&nm);
  size_t mask = m->mt.cap - 1, j = h & mask;
  for (uint64_t v; (v = m->mt.slots[j]); j = (j + 1) & mask) {
    if (slot_hash(v) != h) continue;
    uint32_t e = slot_idx(v);
    const pp_mapping *x = &r->maps[e];
    if (x->offset == nm.offset && map_name(x) == nn && map_size(x) == sz) {
      m->mmap[mi] = e;
      m->moff[mi] = (int64_t)(x->start - src->start);
      *out = e;
      return PP_OK;
    }
  }
  if (PP_GROW(r->maps, r->cmaps, r->nmaps + 1)) return PP_ENOMEM;
  uint32_t id = (uint32_t)r->nmaps++;
  r->maps[id] = nm;
  m->mt.slots[j] = tab_slot(h, id);
  if (tab_fit(&m->mt, r->nmaps)) return PP_ENOMEM;
  m->mmap[mi] = id;
  m->moff[mi] = 0;
  *out = id;
  return PP_OK;
}

static int map_function(pp_merger *m, const pp_profile *in, uint32_t fi, uint32_t *out) {
  if (m->fmap[fi] != PP_NONE) {
    *out = m->fmap[fi];
    return PP_OK;
  }
  pp_profile *r = m->r;
  const pp_function *src = &in->funcs[fi];
  pp_function nf = *src;
  if (tr_sid(m, in, src->name, &nf.name) || tr_sid(m, in, src->system_name, &nf.system_name) ||
      tr_sid(m, in, src->filename, &nf.filename))
    return PP_ENOMEM;
  uint32_t h = hash_function(m->seed, &nf);
  size_t mask = m->ft.cap - 1, j = h & mask;
  for (uint64_t v; (v = m->ft.slots[j]); j = (j + 1) & mask) {
    if (slot_hash(v) != h) continue;
    uint32_t e = slot_idx(v);
    const pp_function *x = &r->funcs[e];
    if (x->name == nf.name && x->system_name == nf.system_name && x->filename == nf.filename &&
        x->start_line == nf.start_line) {
      m->fmap[fi] = e;
      *out = e;
      return PP_OK;
    }
  }
  if (PP_GROW(r->funcs, r->cfuncs, r->nfuncs + 1)) return PP_ENOMEM;
  uint32_t id = (uint32_t)r->nfuncs++;
  r->funcs[id] = nf;
  m->ft.slots[j] = tab_slot(h, id);
  if (tab_fit(&m->ft, r->nfuncs)) return PP_ENOMEM;
  m->fmap[fi] = id;
  *out = id;
  return PP_OK;
}

static int map_location(pp_merger *m, const pp_profile *in, uint32_t li, uint32_t *out) {
  if (m->lmap[li] != PP_NONE) {
    *out = m->lmap[li];
    return PP_OK;
  }
  pp_profile *r = m->r;
  const pp_location *src = &in->locs[li];
  pp_location nl = {0};
  nl.mapping = PP_NONE;
  nl.address = src->address;
  nl.folded = src->folded;
  if (src->mapping != PP_NONE) {
    if (map_mapping(m, in, src->mapping, &nl.mapping)) return PP_ENOMEM;
    nl.address = (uint64_t)((int64_t)src->address + m->moff[src->mapping]);
  }
  if (PP_GROW(m->tlines, m->ctlines, src->nlines)) return PP_ENOMEM;
  const pp_line *sl = PP_OFF(in->lines, src->line_off);
  for (size_t i = 0; i < src->nlines; i++) {
    m->tlines[i] = sl[i];
    if (map_function(m, in, sl[i].func, &m->tlines[i].func)) return PP_ENOMEM;
  }
  uint64_t rel = loc_rel(r, &nl);
  uint32_t h = hash_location(m->seed, rel, nl.mapping, nl.folded, m->tlines, src->nlines);
  size_t mask = m->lt.cap - 1, j = h & mask;
  for (uint64_t v; (v = m->lt.slots[j]); j = (j + 1) & mask) {
    if (slot_hash(v) != h) continue;
    uint32_t e = slot_idx(v);
    const pp_location *x = &r->locs[e];
    if (x->mapping != nl.mapping || x->folded != nl.folded || x->nlines != src->nlines || loc_rel(r, x) != rel)
      continue;
    const pp_line *xl = PP_OFF(r->lines, x->line_off);
    size_t k = 0;
    while (k < src->nlines && xl[k].func == m->tlines[k].func && xl[k].line == m->tlines[k].line &&
           xl[k].column == m->tlines[k].column)
      k++;
    if (k == src->nlines) {
      m->lmap[li] = e;
      *out = e;
      return PP_OK;
    }
  }
  if (PP_GROW(r->locs, r->clocs, r->nlocs + 1) ||
      PP_GROW(r->lines, r->clines, r->nlines + src->nlines) || r->nlines + src->nlines > UINT32_MAX)
    return PP_ENOMEM;
  nl.line_off = (uint32_t)r->nlines;
  nl.nlines = src->nlines;
  if (src->nlines) memcpy(r->lines + r->nlines, m->tlines, src->nlines * sizeof(pp_line));
  r->nlines += src->nlines;
  uint32_t id = (uint32_t)r->nlocs++;
  r->locs[id] = nl;
  m->lt.slots[j] = tab_slot(h, id);
  if (tab_fit(&m->lt, r->nlocs)) return PP_ENOMEM;
  m->lmap[li] = id;
  *out = id;
  return PP_OK;
}

/*
 * A sample in two steps, so that the fold can look one sample ahead:
 * prep_sample translates sample si into the result's vocabulary (creating
 * its new locations, in order of first use as before), hashes it and asks
 * the CPU to fetch its table slot; put_sample then probes and adds it. The
 * fold prepares sample i + 1 before putting sample i, which hides the
 * cache miss of the slot (one per sample: the table is megabytes) behind
 * the translation work. Creation order, hence the output, is unchanged:
 * locations are still created in sample order, samples put in order.
 */
typedef struct prep {
  uint32_t *locs;
  size_t clocs;
  pp_label *labels;
  size_t clabels;
  uint32_t h;
} prep;

static int prep_sample(pp_merger *m, const pp_profile *in, size_t si, prep *q) {
  const pp_sample *s = &in->samples[si];
  if (PP_GROW(q->locs, q->clocs, s->nlocs) || PP_GROW(q->labels, q->clabels, s->nlabels)) return PP_ENOMEM;
  const uint32_t *sl = PP_OFF(in->sloc, s->loc_off);
  /* The memo first: most locations recur. (map_location reallocates
   * neither array.) */
  const uint32_t *lmap = m->lmap;
  uint32_t *tl = q->locs;
  for (size_t i = 0, n = s->nlocs; i < n; i++) {
    uint32_t x = lmap[sl[i]];
    if (x == PP_NONE && map_location(m, in, sl[i], &x)) return PP_ENOMEM;
    tl[i] = x;
  }
  const pp_label *lb = PP_OFF(in->labels, s->label_off);
  for (size_t i = 0; i < s->nlabels; i++) {
    pp_label *t = &q->labels[i];
    *t = lb[i];
    if (tr_sid(m, in, lb[i].key, &t->key) || tr_sid(m, in, lb[i].str, &t->str) || tr_sid(m, in, lb[i].unit, &t->unit))
      return PP_ENOMEM;
  }
  q->h = hash_sample(m->seed, q->locs, s->nlocs, q->labels, s->nlabels);
  __builtin_prefetch(&m->st.slots[q->h & (m->st.cap - 1)]);
  return PP_OK;
}

static int put_sample(pp_merger *m, const pp_profile *in, size_t si, const prep *q) {
  pp_profile *r = m->r;
  const pp_sample *s = &in->samples[si];
  const int64_t *v = PP_OFF(in->values, si * in->nstypes);
  uint32_t h = q->h;
  size_t mask = m->st.cap - 1, j = h & mask;
  size_t nv = r->nstypes;
  for (uint64_t sv; (sv = m->st.slots[j]); j = (j + 1) & mask) {
    if (slot_hash(sv) != h) continue;
    uint32_t e = slot_idx(sv);
    const pp_sample *x = &r->samples[e];
    if (x->nlocs != s->nlocs || x->nlabels != s->nlabels) continue;
    if (s->nlocs && memcmp(PP_OFF(r->sloc, x->loc_off), q->locs, s->nlocs * sizeof(uint32_t))) continue;
    const pp_label *xl = PP_OFF(r->labels, x->label_off);
    size_t k = 0;
    while (k < s->nlabels && label_eq(&xl[k], &q->labels[k])) k++;
    if (k != s->nlabels) continue;
    int64_t *rv = PP_OFF(r->values, (size_t)e * nv);
    for (size_t c = 0; c < nv; c++) rv[c] = (int64_t)((uint64_t)rv[c] + (uint64_t)v[c]);
    return PP_OK;
  }
  if (PP_GROW(r->samples, r->csamples, r->nsamples + 1) ||
      PP_GROW(r->sloc, r->csloc, r->nsloc + s->nlocs) || PP_GROW(r->labels, r->clabels, r->nlabels + s->nlabels) ||
      PP_GROW(r->values, r->cvalues, (r->nsamples + 1) * nv) || r->nsloc + s->nlocs > UINT32_MAX ||
      r->nlabels + s->nlabels > UINT32_MAX)
    return PP_ENOMEM;
  pp_sample ns = {(uint32_t)r->nsloc, s->nlocs, (uint32_t)r->nlabels, s->nlabels};
  if (s->nlocs) memcpy(r->sloc + r->nsloc, q->locs, s->nlocs * sizeof(uint32_t));
  r->nsloc += s->nlocs;
  if (s->nlabels) memcpy(r->labels + r->nlabels, q->labels, s->nlabels * sizeof(pp_label));
  r->nlabels += s->nlabels;
  if (nv) memcpy(r->values + r->nsamples * nv, v, nv * sizeof(int64_t));
  uint32_t id = (uint32_t)r->nsamples++;
  r->samples[id] = ns;
  m->st.slots[j] = tab_slot(h, id);
  if (tab_fit(&m->st, r->nsamples)) return PP_ENOMEM;
  return PP_OK;
}

/* The first sample at or after i with a non-zero value (all-zero samples
 * are skipped, as Go's Merge skips them); in->nsamples when none. */
static size_t next_sample(const pp_profile *in, size_t i) {
  size_t nv = in->nstypes;
  for (; i < in->nsamples; i++) {
    const int64_t *v = PP_OFF(in->values, i * nv);
    size_t k = 0;
    while (k < nv && v[k] == 0) k++;
    if (k < nv) return i;
  }
  return in->nsamples;
}

/* ---- public ---- */

pp_merger *pp_merger_new(void) { return calloc(1, sizeof(pp_merger)); }

static void merger_clear(pp_merger *m) {
  pp_free(m->r);
  free(m->mt.slots);
  free(m->ft.slots);
  free(m->lt.slots);
  free(m->st.slots);
  free(m->smap);
  free(m->mmap);
  free(m->moff);
  free(m->fmap);
  free(m->lmap);
  if (m->prep)
    for (int i = 0; i < 2; i++) {
      free(m->prep[i].locs);
      free(m->prep[i].labels);
    }
  free(m->prep);
  free(m->tlines);
  free(m->cseen);
  memset(m, 0, sizeof(*m));
}

void pp_merger_free(pp_merger *m) {
  if (!m) return;
  merger_clear(m);
  free(m);
}

static void vt_str(const pp_profile *p, pp_vt v, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", pp_pool_str(&p->sp, v.type), pp_pool_str(&p->sp, v.unit));
}

static void vts_str(const pp_profile *p, const pp_vt *v, size_t nv, char *buf, size_t n) {
  size_t at = 0;
  buf[0] = 0;
  for (size_t i = 0; i < nv && at + 1 < n; i++) {
    int k = snprintf(buf + at, n - at, "%s%s/%s", i ? " " : "", pp_pool_str(&p->sp, v[i].type),
                     pp_pool_str(&p->sp, v[i].unit));
    if (k < 0) break;
    at += (size_t)k;
  }
}

static bool vt_eq(const pp_profile *a, pp_vt x, const pp_profile *b, pp_vt y) {
  return pp_pool_eq(&a->sp, x.type, &b->sp, y.type) && pp_pool_eq(&a->sp, x.unit, &b->sp, y.unit);
}

static int check_compat(const pp_profile *r, const pp_profile *in, char *err, size_t errlen) {
  if (!vt_eq(r, r->ptype, in, in->ptype)) {
    char a[256], b[256];
    vt_str(r, r->ptype, a, sizeof(a));
    vt_str(in, in->ptype, b, sizeof(b));
    return pp_err(err, errlen, PP_EINCOMPATIBLE, "incompatible period types %s and %s", a, b);
  }
  bool same = r->nstypes == in->nstypes;
  for (size_t i = 0; same && i < r->nstypes; i++) same = vt_eq(r, r->stypes[i], in, in->stypes[i]);
  if (!same) {
    char a[512], b[512];
    vts_str(r, r->stypes, r->nstypes, a, sizeof(a));
    vts_str(in, in->stypes, in->nstypes, b, sizeof(b));
    return pp_err(err, errlen, PP_EINCOMPATIBLE, "incompatible sample types [%s] and [%s]", a, b);
  }
  return PP_OK;
}

static int memo_reset(pp_merger *m, const pp_profile *in) {
  if (PP_GROW(m->smap, m->csmap, in->sp.n) || PP_GROW(m->mmap, m->cmmap, in->nmaps) ||
      PP_GROW(m->moff, m->cmoff, in->nmaps) || PP_GROW(m->fmap, m->cfmap, in->nfuncs) ||
      PP_GROW(m->lmap, m->clmap, in->nlocs))
    return PP_ENOMEM;
  memset(m->smap, 0, in->sp.n * sizeof(*m->smap));
  if (in->nmaps) memset(m->mmap, 0xff, in->nmaps * sizeof(*m->mmap));
  if (in->nfuncs) memset(m->fmap, 0xff, in->nfuncs * sizeof(*m->fmap));
  if (in->nlocs) memset(m->lmap, 0xff, in->nlocs * sizeof(*m->lmap));
  return PP_OK;
}

/* Reserves room for everything `in` could add (exact sizes instead of
 * doubling: the result is trimmed at the end). */
static int reserve(pp_merger *m, const pp_profile *in) {
  pp_profile *r = m->r;
  /* Indexes are 32-bit. */
  if (r->nmaps + in->nmaps >= UINT32_MAX - 2 || r->nfuncs + in->nfuncs >= UINT32_MAX - 2 ||
      r->nlocs + in->nlocs >= UINT32_MAX - 2 || r->nsamples + in->nsamples >= UINT32_MAX - 2)
    return PP_ENOMEM;
  if (PP_GROW(r->maps, r->cmaps, r->nmaps + in->nmaps) || PP_GROW(r->funcs, r->cfuncs, r->nfuncs + in->nfuncs) ||
      PP_GROW(r->locs, r->clocs, r->nlocs + in->nlocs) ||
      PP_GROW(r->lines, r->clines, r->nlines + in->nlines) ||
      PP_GROW(r->samples, r->csamples, r->nsamples + in->nsamples) ||
      PP_GROW(r->sloc, r->csloc, r->nsloc + in->nsloc) ||
      PP_GROW(r->labels, r->clabels, r->nlabels + in->nlabels) ||
      PP_GROW(r->values, r->cvalues, (r->nsamples + in->nsamples) * in->nstypes))
    return PP_ENOMEM;
  if (tab_fit(&m->mt, r->nmaps + in->nmaps) || tab_fit(&m->ft, r->nfuncs + in->nfuncs) ||
      tab_fit(&m->lt, r->nlocs + in->nlocs) || tab_fit(&m->st, r->nsamples + in->nsamples))
    return PP_ENOMEM;
  return PP_OK;
}

static int fold(pp_merger *m, pp_profile *in) {
  pp_profile *r = m->r;
  if (memo_reset(m, in) || reserve(m, in)) return PP_ENOMEM;
  if (m->ninputs == 0) {
    /* Sample types, period type, drop/keep frames come from the first input. */
    r->stypes = malloc((in->nstypes ? in->nstypes : 1) * sizeof(*r->stypes));
    if (!r->stypes) return PP_ENOMEM;
    r->nstypes = in->nstypes;
    for (size_t i = 0; i < in->nstypes; i++)
      if (tr_sid(m, in, in->stypes[i].type, &r->stypes[i].type) ||
          tr_sid(m, in, in->stypes[i].unit, &r->stypes[i].unit))
        return PP_ENOMEM;
    if (tr_sid(m, in, in->ptype.type, &r->ptype.type) || tr_sid(m, in, in->ptype.unit, &r->ptype.unit) ||
        tr_sid(m, in, in->drop_frames, &r->drop_frames) || tr_sid(m, in, in->keep_frames, &r->keep_frames))
      return PP_ENOMEM;
  }
  if (r->time_nanos == 0 || in->time_nanos < r->time_nanos) r->time_nanos = in->time_nanos;
  r->duration_nanos = (int64_t)((uint64_t)r->duration_nanos + (uint64_t)in->duration_nanos);
  if (r->period == 0 || r->period < in->period) r->period = in->period;
  for (size_t i = 0; i < in->ncomments; i++) {
    pp_sid c;
    if (tr_sid(m, in, in->comments[i], &c)) return PP_ENOMEM;
    if (c >= m->ccseen) { /* a flag per result string: de-duplication in O(1) */
      size_t old = m->ccseen;
      if (PP_GROW(m->cseen, m->ccseen, (size_t)c + 1)) return PP_ENOMEM;
      memset(m->cseen + old, 0, m->ccseen - old);
    }
    if (m->cseen[c]) continue;
    m->cseen[c] = 1;
    if (PP_GROW(r->comments, r->ccomments, r->ncomments + 1)) return PP_ENOMEM;
    r->comments[r->ncomments++] = c;
  }
  if (r->default_st == 0 && tr_sid(m, in, in->default_st, &r->default_st)) return PP_ENOMEM;
  if (r->doc_url == 0 && tr_sid(m, in, in->doc_url, &r->doc_url)) return PP_ENOMEM;

  if (r->nmaps == 0 && in->nmaps > 0) {
    uint32_t id;
    if (map_mapping(m, in, 0, &id)) return PP_ENOMEM;
  }
  /* One sample ahead: sample k is prepared before sample i is put. */
  size_t n = in->nsamples, i = next_sample(in, 0);
  int cur = 0;
  if (i < n && prep_sample(m, in, i, &m->prep[cur])) return PP_ENOMEM;
  while (i < n) {
    size_t k = next_sample(in, i + 1);
    if (k < n && prep_sample(m, in, k, &m->prep[cur ^ 1])) return PP_ENOMEM;
    if (put_sample(m, in, i, &m->prep[cur])) return PP_ENOMEM;
    i = k;
    cur ^= 1;
  }
  return PP_OK;
}

int pp_merger_add(pp_merger *m, pp_profile *in, char *err, size_t errlen) {
  if (!m || !in) {
    pp_free(in);
    return pp_err(err, errlen, PP_EINVAL, "pp_merger_add: bad arguments");
  }
  int rc;
  if (!m->r) {
    m->r = pp_profile_new();
    m->seed = pp_seed();
    m->prep = calloc(2, sizeof(*m->prep));
    if (!m->r || !m->prep || tab_init(&m->mt, in->nmaps) || tab_init(&m->ft, in->nfuncs) ||
        tab_init(&m->lt, in->nlocs) || tab_init(&m->st, in->nsamples)) {
      merger_clear(m);
      pp_free(in);
      return pp_err(err, errlen, PP_ENOMEM, "out of memory starting the merge");
    }
  } else if ((rc = check_compat(m->r, in, err, errlen))) {
    pp_free(in);
    return rc;
  }
  rc = fold(m, in);
  pp_free(in);
  if (rc) return pp_err(err, errlen, rc, "out of memory merging profile %zu", m->ninputs);
  m->ninputs++;
  return PP_OK;
}

static bool has_zero_sample(const pp_profile *p) {
  for (size_t i = 0; i < p->nsamples; i++) {
    const int64_t *v = PP_OFF(p->values, i * p->nstypes);
    size_t k = 0;
    while (k < p->nstypes && v[k] == 0) k++;
    if (k == p->nstypes) return true;
  }
  return false;
}

/* Merge-of-one into a fresh merger; consumes *p. */
static int remerge(pp_profile **p, char *err, size_t errlen) {
  pp_merger m2;
  memset(&m2, 0, sizeof(m2));
  pp_profile *in = *p;
  *p = NULL;
  int rc = pp_merger_add(&m2, in, err, errlen);
  if (rc) {
    merger_clear(&m2);
    return rc;
  }
  *p = m2.r;
  m2.r = NULL;
  merger_clear(&m2);
  return PP_OK;
}

int pp_compact(pp_profile **p, char *err, size_t errlen) {
  int rc = remerge(p, err, errlen);
  while (!rc && has_zero_sample(*p)) rc = remerge(p, err, errlen);
  return rc;
}

int pp_merger_finish(pp_merger *m, pp_profile **out, char *err, size_t errlen) {
  if (!m || !out) return pp_err(err, errlen, PP_EINVAL, "pp_merger_finish: bad arguments");
  *out = NULL;
  if (!m->r || m->ninputs == 0) return pp_err(err, errlen, PP_EINVAL, "no profiles to merge");
  pp_profile *r = m->r;
  m->r = NULL;
  merger_clear(m);
  int rc = PP_OK;
  while (!rc && has_zero_sample(r)) rc = remerge(&r, err, errlen);
  if (rc) return rc;
  pp_profile_shrink(r);
  *out = r;
  return PP_OK;
}

int pp_merge(pp_profile **in, size_t n, pp_profile **out, char *err, size_t errlen) {
  if (!out) return pp_err(err, errlen, PP_EINVAL, "pp_merge: bad arguments");
  *out = NULL;
  pp_merger *m = pp_merger_new();
  if (!m) {
    for (size_t i = 0; i < n; i++) pp_free(in[i]);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  int rc = PP_OK;
  for (size_t i = 0; i < n; i++) {
    if (!rc) {
      rc = pp_merger_add(m, in[i], err, errlen);
      in[i] = NULL;
    } else {
      pp_free(in[i]);
      in[i] = NULL;
    }
  }
  if (!rc) rc = pp_merger_finish(m, out, err, errlen);
  pp_merger_free(m);
  return rc;
}
