/*
 * pgo_trim.c — format=pgo: the smallest profile whose call-edge map, as Go's
 * compiler computes it (pgo.h), equals the input's.
 *
 * Why each step keeps the map exact:
 *  - The compiler reads one sample type and, of each sample, the `keep`
 *    leaf-most locations (2 for current compilers); everything else about a
 *    sample (other values, labels, deeper frames) is dropped. Samples with a
 *    zero value are skipped by the compiler, so they go.
 *  - A sample's contribution to the map is its weight times a set of edges
 *    that depends only on its (kept) stack, so samples with equal stacks add
 *    up. When they cancel out to zero but were not zero, the compiler still
 *    created their edges (with weight 0): such a group is written as two
 *    samples of weights 1 and -1, which create the same edges, net zero.
 *  - Nodes are keyed by (address, line, function name, start line), so
 *    mappings, columns, file and system names go; functions equal in name
 *    and start line are one; locations equal in address and lines are one.
 *  - Addresses only matter through node equality: two locations must keep
 *    distinct addresses only if they share a (function, line) key, and equal
 *    ones if they had equal addresses. The new addresses are colours of the
 *    original address classes, greedy in canonical order (smallest colour
 *    not used by a class sharing a key), so most are 0 and the field is
 *    omitted on the wire.
 *  - Leaf collapse (every kept weight positive, keep != 0): the innermost
 *    line of a location that is only ever at the leaf position is never a
 *    call site, and with positive weights every node a sample reaches is in
 *    the graph, so only equality with the other nodes of the same sample
 *    matters. A leaf-only location that shares no node with another location
 *    of its address, and whose innermost function is not also one of its
 *    outer frames, gets line 0 there and merges with the leaf-only locations
 *    of the same frames; it gets an address class of its own, so colouring
 *    keeps it apart from every other location sharing one of its nodes.
 *    Two such locations never meet in one sample (one leaf per sample).
 *  - Caller merge (keep == 2 only, every kept weight positive): a location
 *    only ever seen at index 1 (the caller position) that shares no node
 *    with another location of its address merges with the caller-only
 *    locations of equal lines, whatever their addresses: with two locations
 *    per sample, two of them never meet in one sample, and an address class
 *    of its own keeps it apart from the leaf it meets.
 *  - Otherwise locations with equal lines but distinct addresses stay
 *    distinct: a recursive stack can walk both, and merging them would turn
 *    their edges into self-edges, which the compiler skips.
 *  - Relative lines (keep != 0): see relative_lines().
 * The output is canonical: functions by (name, start line, file), locations
 * by lines, samples by stack; table order never depends on the input's.
 */
#include "pgo.h"

#include "internal.h"
#include "pgoix.h"

#include <stdlib.h>

/* ---- the trimmer's tables ---- */

#define NOLINE UINT32_MAX /* node-function id of a location without lines */

typedef struct tline {
  uint32_t func; /* function rank in the output */
  int64_t line;
} tline;

typedef struct tfunc {
  pp_sid name, file; /* in the input's pool; file is 0 unless keep == 0 */
  int64_t start;
} tfunc;

typedef struct tloc {
  uint64_t addr;        /* the input's address (unused when merged by lines) */
  uint32_t off, n;      /* lines at lines[off..off+n), innermost first */
  uint8_t role;         /* bases: 1 = seen at the leaf, 2 = seen above it */
  uint8_t collapsed;    /* finals: 0 = by address, LEAF or CALLER (merged by lines) */
  uint32_t fin;         /* bases: index of the final location */
  uint32_t cls;         /* finals: address class */
} tloc;

typedef struct tgroup {
  uint32_t off, n; /* stack at sq[off..off+n), leaf first */
  int64_t w;
} tgroup;

typedef struct nkey {
  uint32_t f; /* node-function id, or NOLINE */
  int64_t line;
} nkey;

typedef struct trim {
  const pp_profile *p;
  size_t vi;
  unsigned keep;
  int collapse;

  uint32_t *ks;   /* kept samples */
  uint32_t *kn;   /* their kept location counts */
  size_t nks;
  uint8_t *lrole; /* per input location: 1 leaf, 2 above */

  tfunc *funcs;
  size_t nfuncs, cfuncs;
  uint32_t *fmap;  /* input function -> function entry, then -> rank */
  uint32_t *frank; /* function entry -> rank */
  uint32_t *nfid;  /* rank -> node-function id (first rank of equal name and start line) */
  uint32_t emptyf; /* node-function id of ("", 0), or NOLINE */
  int64_t *shift;  /* rank -> what its lines and start line move by */

  tline *lines; /* base and final location lines */
  size_t nlines, clines;
  tloc *bases;
  size_t nbases, cbases;
  uint32_t *lbase; /* input location -> base */
  tloc *fins;
  size_t nfins, cfins;
  uint32_t *frank_loc; /* final -> rank (output order) */
  uint64_t *color;     /* final -> output address */

  uint32_t *sq; /* group stacks (final ranks) */
  size_t nsq, csq;
  tgroup *groups;
  size_t ngroups, cgroups;

  pgo_ix ix; /* reused for each identity table in turn */
  /* lookup keys */
  const tfunc *kf;
  const tline *kl;
  uint32_t kln;
  uint64_t kaddr;
  int kcollapsed;
  const uint32_t *ks_seq;
  uint32_t ks_n;
} trim;

static void trim_free(trim *t) {
  free(t->ks);
  free(t->kn);
  free(t->lrole);
  free(t->funcs);
  free(t->fmap);
  free(t->frank);
  free(t->nfid);
  free(t->shift);
  free(t->lines);
  free(t->bases);
  free(t->lbase);
  free(t->fins);
  free(t->frank_loc);
  free(t->color);
  free(t->sq);
  free(t->groups);
  pgo_ix_free(&t->ix);
}

static int ix_reset(trim *t, size_t expect) {
  pgo_ix_free(&t->ix);
  return pgo_ix_init(&t->ix, expect);
}

/* The indexes 0..n-1 in the stable order of cmp (malloc'd, caller frees);
 * NULL when out of memory. */
static uint32_t *sorted_order(size_t n, pp_cmp_ctx cmp, void *ctx) {
  uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
  if (!order) return NULL;
  for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
  if (pp_msort(order, n, sizeof(*order), cmp, ctx)) {
    free(order);
    return NULL;
  }
  return order;
}

/* ---- step 1: kept samples ---- */

static int keep_samples(trim *t) {
  const pp_profile *p = t->p;
  t->ks = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*t->ks));
  t->kn = malloc((p->nsamples ? p->nsamples : 1) * sizeof(*t->kn));
  t->lrole = calloc(p->nlocs ? p->nlocs : 1, 1);
  if (!t->ks || !t->kn || !t->lrole) return PP_ENOMEM;
  int positive = 1;
  int64_t sum = 0;
  for (size_t s = 0; s < p->nsamples; s++) {
    int64_t w = p->values[s * p->nstypes + t->vi];
    const pp_sample *smp = &p->samples[s];
    if (w == 0 || smp->nlocs == 0) continue;
    uint32_t n = smp->nlocs;
    if (t->keep && n > t->keep) n = t->keep;
    const uint32_t *L = PP_OFF(p->sloc, smp->loc_off);
    for (uint32_t j = 0; j < n; j++) t->lrole[L[j]] |= j == 0 ? 1 : 2;
    t->ks[t->nks] = (uint32_t)s;
    t->kn[t->nks++] = n;
    if (w < 0 || __builtin_add_overflow(sum, w, &sum)) positive = 0;
  }
  t->collapse = positive && t->keep != 0;
  return PP_OK;
}

/* ---- step 2: functions ---- */

/*
 * For keep != 0: the compiler only uses a line through line - start line, so
 * a function whose name has one non-zero start line gets start line
 * max(1, start - its lowest line) and its lines move by the same amount:
 * offsets stay, numbers get small (one-byte varints), none negative. Node
 * keys stay distinct: the move is one-to-one per (name, start line), and a
 * name with several start lines is left alone. keep == 0 keeps the numbers
 * (old compilers are not known to have used offsets).
 */
static int relative_lines(trim *t) {
  const pp_profile *p = t->p;
  t->shift = calloc(t->nfuncs ? t->nfuncs : 1, sizeof(*t->shift));
  int64_t *minl = malloc((t->nfuncs ? t->nfuncs : 1) * sizeof(*minl));
  if (!t->shift || !minl) {
    free(minl);
    return PP_ENOMEM;
  }
  if (t->keep == 0) {
    free(minl);
    return PP_OK;
  }
  for (size_t r = 0; r < t->nfuncs; r++) minl[r] = INT64_MAX;
  for (size_t i = 0; i < p->nlocs; i++) {
    if (!t->lrole[i]) continue;
    const pp_location *l = &p->locs[i];
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    for (size_t k = 0; k < l->nlines; k++) {
      uint32_t r = t->fmap[ln[k].func];
      if (ln[k].line < minl[r]) minl[r] = ln[k].line;
    }
  }
  for (size_t r = 0; r < t->nfuncs;) {
    size_t e = r + 1; /* ranks r..e share a name (sorted by name, then start) */
    while (e < t->nfuncs && t->funcs[e].name == t->funcs[r].name) e++;
    size_t nonzero = 0, at = r;
    for (size_t j = r; j < e; j++)
      if (t->funcs[j].start != 0) {
        nonzero++;
        at = j;
      }
    tfunc *f = &t->funcs[at];
    /* Lines far below the start (or absurd values) would overflow: leave those. */
    if (nonzero == 1 && minl[at] != INT64_MAX && f->start > 0 && minl[at] > INT64_MIN / 4 &&
        f->start < INT64_MAX / 4) {
      int64_t ns = f->start - minl[at];
      if (ns < 1) ns = 1;
      if (ns < INT64_MAX / 4) {
        t->shift[at] = ns - f->start;
        f->start = ns;
      }
    }
    r = e;
  }
  free(minl);
  return PP_OK;
}

static int func_eq(const void *c, uint32_t e) {
  const trim *t = c;
  const tfunc *a = &t->funcs[e], *b = t->kf;
  return a->name == b->name && a->start == b->start && a->file == b->file;
}

static int func_order(const void *va, const void *vb, void *ctx) {
  const trim *t = ctx;
  const tfunc *a = &t->funcs[*(const uint32_t *)va], *b = &t->funcs[*(const uint32_t *)vb];
  int c = pp_pool_cmp(&t->p->sp, a->name, b->name);
  if (c) return c;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return pp_pool_cmp(&t->p->sp, a->file, b->file);
}

static int build_funcs(trim *t) {
  const pp_profile *p = t->p;
  t->fmap = malloc((p->nfuncs ? p->nfuncs : 1) * sizeof(*t->fmap));
  if (!t->fmap || ix_reset(t, p->nfuncs)) return PP_ENOMEM;
  for (size_t i = 0; i < p->nfuncs; i++) t->fmap[i] = UINT32_MAX;
  for (size_t i = 0; i < p->nlocs; i++) {
    if (!t->lrole[i]) continue;
    const pp_location *l = &p->locs[i];
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    for (size_t k = 0; k < l->nlines; k++) {
      uint32_t f = ln[k].func;
      if (t->fmap[f] != UINT32_MAX) continue;
      const pp_function *pf = &p->funcs[f];
      tfunc key = {.name = pf->name, .start = pf->start_line, .file = t->keep == 0 ? pf->filename : 0};
      t->kf = &key;
      uint32_t h = pgo_ix_hash(&t->ix, pp_mix(pp_mix(key.name, (uint64_t)key.start), key.file));
      size_t slot;
      uint32_t e = pgo_ix_get(&t->ix, h, func_eq, t, &slot);
      if (e == UINT32_MAX) {
        if (PP_GROW(t->funcs, t->cfuncs, t->nfuncs + 1)) return PP_ENOMEM;
        e = (uint32_t)t->nfuncs++;
        t->funcs[e] = key;
        if (pgo_ix_put(&t->ix, slot, h, e)) return PP_ENOMEM;
      }
      t->fmap[f] = e;
    }
  }
  /* Ranks: canonical order. */
  t->frank = malloc((t->nfuncs ? t->nfuncs : 1) * sizeof(*t->frank));
  t->nfid = malloc((t->nfuncs ? t->nfuncs : 1) * sizeof(*t->nfid));
  uint32_t *order = t->frank && t->nfid ? sorted_order(t->nfuncs, func_order, t) : NULL;
  if (!order) return PP_ENOMEM;
  t->emptyf = NOLINE;
  for (size_t r = 0; r < t->nfuncs; r++) {
    t->frank[order[r]] = (uint32_t)r;
    const tfunc *f = &t->funcs[order[r]], *g = r ? &t->funcs[order[r - 1]] : NULL;
    t->nfid[r] = (g && g->name == f->name && g->start == f->start) ? t->nfid[r - 1] : (uint32_t)r;
    if (f->name == 0 && f->start == 0) t->emptyf = t->nfid[r];
  }
  /* Sort the entries themselves into rank order, so funcs[r] is rank r. */
  tfunc *sorted = malloc((t->nfuncs ? t->nfuncs : 1) * sizeof(*sorted));
  if (!sorted) {
    free(order);
    return PP_ENOMEM;
  }
  for (size_t r = 0; r < t->nfuncs; r++) sorted[r] = t->funcs[order[r]];
  free(t->funcs);
  t->funcs = sorted;
  t->cfuncs = t->nfuncs;
  for (size_t i = 0; i < p->nfuncs; i++)
    if (t->fmap[i] != UINT32_MAX) t->fmap[i] = t->frank[t->fmap[i]];
  free(order);
  return relative_lines(t);
}

/* ---- step 3: base locations (address + lines) ---- */

static int lines_eq(const tline *a, const tline *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i].func != b[i].func || a[i].line != b[i].line) return 0;
  return 1;
}

static uint64_t lines_hash(const tline *l, uint32_t n) {
  uint64_t h = n;
  for (uint32_t i = 0; i < n; i++) h = pp_mix(pp_mix(h, l[i].func), (uint64_t)l[i].line);
  return h;
}

static int base_eq(const void *c, uint32_t e) {
  const trim *t = c;
  const tloc *b = &t->bases[e];
  return b->addr == t->kaddr && b->n == t->kln && lines_eq(&t->lines[b->off], t->kl, t->kln);
}

static int build_bases(trim *t) {
  const pp_profile *p = t->p;
  t->lbase = malloc((p->nlocs ? p->nlocs : 1) * sizeof(*t->lbase));
  /* Never NULL below, even when no location has lines (&NULL[0] is undefined). */
  if (!t->lbase || PP_GROW(t->lines, t->clines, 16) || ix_reset(t, p->nlocs)) return PP_ENOMEM;
  for (size_t i = 0; i < p->nlocs; i++) {
    t->lbase[i] = UINT32_MAX;
    if (!t->lrole[i]) continue;
    const pp_location *l = &p->locs[i];
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    /* Stage the lines at the end of the lines array; keep them if new. */
    if (PP_GROW(t->lines, t->clines, t->nlines + l->nlines)) return PP_ENOMEM;
    tline *st = &t->lines[t->nlines];
    for (size_t k = 0; k < l->nlines; k++) {
      uint32_t r = t->fmap[ln[k].func];
      st[k] = (tline){.func = r, .line = (int64_t)((uint64_t)ln[k].line + (uint64_t)t->shift[r])};
    }
    t->kaddr = l->address;
    t->kl = st;
    t->kln = l->nlines;
    uint32_t h = pgo_ix_hash(&t->ix, pp_mix(lines_hash(st, l->nlines), l->address));
    size_t slot;
    uint32_t e = pgo_ix_get(&t->ix, h, base_eq, t, &slot);
    if (e == UINT32_MAX) {
      if (PP_GROW(t->bases, t->cbases, t->nbases + 1)) return PP_ENOMEM;
      e = (uint32_t)t->nbases++;
      t->bases[e] = (tloc){.addr = l->address, .off = (uint32_t)t->nlines, .n = l->nlines};
      t->nlines += l->nlines;
      if (pgo_ix_put(&t->ix, slot, h, e)) return PP_ENOMEM;
    }
    t->bases[e].role |= t->lrole[i];
    t->lbase[i] = e;
  }
  return PP_OK;
}

/* The node key of line k of a location (k == n: a location without lines). */
static nkey node_key(const trim *t, const tline *l, uint32_t n, uint32_t k) {
  if (n == 0) return (nkey){.f = t->emptyf, .line = 0};
  return (nkey){.f = t->nfid[l[k].func], .line = l[k].line};
}

/* ---- step 4: which bases merge by lines alone ---- */

enum { BY_ADDRESS = 0, LEAF = 1, CALLER = 2 };

typedef struct share_ent {
  uint64_t addr;
  nkey k;
  uint32_t first; /* first base seen with this node */
  uint32_t multi; /* another base of the same address has it too */
} share_ent;

typedef struct share_ctx {
  share_ent *e;
  const share_ent *key;
} share_ctx;

static int share_eq(const void *c, uint32_t i) {
  const share_ctx *s = c;
  const share_ent *a = &s->e[i], *b = s->key;
  return a->addr == b->addr && a->k.f == b->k.f && a->k.line == b->k.line;
}

/* Sets eligible[b] to LEAF or CALLER for the bases that merge by lines. */
static int mark_collapsible(trim *t, uint8_t *eligible) {
  if (!t->collapse) return PP_OK;
  share_ctx s = {0};
  size_t n = 0, cap = 0;
  uint32_t *which = malloc((t->nlines + t->nbases + 1) * sizeof(*which));
  if (!which || ix_reset(t, t->nlines + t->nbases)) {
    free(which);
    return PP_ENOMEM;
  }
  int rc = PP_OK;
  size_t at = 0;
  for (uint32_t b = 0; b < t->nbases && !rc; b++) {
    const tloc *L = &t->bases[b];
    uint32_t nk = L->n ? L->n : 1;
    for (uint32_t k = 0; k < nk; k++) {
      share_ent key = {.addr = L->addr, .k = node_key(t, &t->lines[L->off], L->n, k)};
      s.key = &key;
      uint32_t h = pgo_ix_hash(&t->ix, pp_mix(pp_mix(key.addr, key.k.f), (uint64_t)key.k.line));
      size_t slot;
      uint32_t e = pgo_ix_get(&t->ix, h, share_eq, &s, &slot);
      if (e == UINT32_MAX) {
        if (PP_GROW(s.e, cap, n + 1)) {
          rc = PP_ENOMEM;
          break;
        }
        e = (uint32_t)n++;
        key.first = b;
        s.e[e] = key;
        if (pgo_ix_put(&t->ix, slot, h, e)) {
          rc = PP_ENOMEM;
          break;
        }
      } else if (s.e[e].first != b) {
        s.e[e].multi = 1;
      }
      which[at++] = e;
    }
  }
  at = 0;
  for (uint32_t b = 0; b < t->nbases && !rc; b++) {
    const tloc *L = &t->bases[b];
    uint32_t nk = L->n ? L->n : 1;
    int kind = L->role == 1 ? LEAF : (L->role == 2 && t->keep == 2) ? CALLER : BY_ADDRESS;
    for (uint32_t k = 0; k < nk; k++, at++)
      if (s.e[which[at]].multi) kind = BY_ADDRESS;
    /* A collapsed leaf's innermost function must not also be an outer frame. */
    const tline *ln = &t->lines[L->off];
    for (uint32_t k = 1; kind == LEAF && k < L->n; k++)
      if (t->nfid[ln[k].func] == t->nfid[ln[0].func]) kind = BY_ADDRESS;
    eligible[b] = (uint8_t)kind;
  }
  free(which);
  free(s.e);
  return rc;
}

/* ---- step 5: final locations, in canonical order ---- */

static int fin_eq(const void *c, uint32_t e) {
  const trim *t = c;
  const tloc *f = &t->fins[e];
  if (f->collapsed != t->kcollapsed || f->n != t->kln) return 0;
  if (!f->collapsed && f->addr != t->kaddr) return 0;
  return lines_eq(&t->lines[f->off], t->kl, t->kln);
}

static int fin_order(const void *va, const void *vb, void *ctx) {
  const trim *t = ctx;
  const tloc *a = &t->fins[*(const uint32_t *)va], *b = &t->fins[*(const uint32_t *)vb];
  const tline *la = &t->lines[a->off], *lb = &t->lines[b->off];
  for (uint32_t i = 0; i < a->n && i < b->n; i++) {
    if (la[i].func != lb[i].func) return la[i].func < lb[i].func ? -1 : 1;
    if (la[i].line != lb[i].line) return la[i].line < lb[i].line ? -1 : 1;
  }
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  if (a->collapsed != b->collapsed) return a->collapsed > b->collapsed ? -1 : 1;
  return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int build_finals(trim *t) {
  uint8_t *eligible = calloc(t->nbases ? t->nbases : 1, 1);
  if (!eligible) return PP_ENOMEM;
  int rc = mark_collapsible(t, eligible);
  if (!rc && ix_reset(t, t->nbases)) rc = PP_ENOMEM;
  for (uint32_t b = 0; b < t->nbases && !rc; b++) {
    tloc B = t->bases[b];
    int col = eligible[b];
    if (col == LEAF) {
      /* Collapsed lines: a copy with the innermost line number zeroed. */
      if (PP_GROW(t->lines, t->clines, t->nlines + B.n)) {
        rc = PP_ENOMEM;
        break;
      }
      memcpy(&t->lines[t->nlines], &t->lines[B.off], B.n * sizeof(tline));
      if (B.n) t->lines[t->nlines].line = 0;
      B.off = (uint32_t)t->nlines;
    }
    t->kcollapsed = col;
    t->kaddr = B.addr;
    t->kl = &t->lines[B.off];
    t->kln = B.n;
    uint64_t h0 = lines_hash(t->kl, B.n);
    uint32_t h = pgo_ix_hash(&t->ix, col ? pp_mix(h0, (uint64_t)col) : pp_mix(pp_mix(h0, 0), B.addr));
    size_t slot;
    uint32_t e = pgo_ix_get(&t->ix, h, fin_eq, t, &slot);
    if (e == UINT32_MAX) {
      if (PP_GROW(t->fins, t->cfins, t->nfins + 1)) {
        rc = PP_ENOMEM;
        break;
      }
      e = (uint32_t)t->nfins++;
      t->fins[e] = (tloc){.addr = col ? 0 : B.addr, .off = B.off, .n = B.n, .collapsed = (uint8_t)col};
      if (col == LEAF) t->nlines += B.n;
      if (pgo_ix_put(&t->ix, slot, h, e)) {
        rc = PP_ENOMEM;
        break;
      }
    }
    t->bases[b].fin = e;
  }
  free(eligible);
  if (rc) return rc;

  t->frank_loc = malloc((t->nfins ? t->nfins : 1) * sizeof(*t->frank_loc));
  uint32_t *order = t->frank_loc ? sorted_order(t->nfins, fin_order, t) : NULL;
  if (!order) return PP_ENOMEM;
  tloc *sorted = malloc((t->nfins ? t->nfins : 1) * sizeof(*sorted));
  if (!sorted) {
    free(order);
    return PP_ENOMEM;
  }
  for (size_t r = 0; r < t->nfins; r++) {
    t->frank_loc[order[r]] = (uint32_t)r;
    sorted[r] = t->fins[order[r]];
  }
  free(t->fins);
  t->fins = sorted;
  t->cfins = t->nfins;
  free(order);
  return PP_OK;
}

/* ---- step 6: addresses by colouring address classes ---- */

typedef struct cctx {
  const trim *t;
  const tloc *fins;
  uint64_t kaddr;
  nkey *keys;
  nkey kk;
  uint64_t *used; /* (key index, colour) pairs */
  uint64_t ku;
} cctx;

static int cls_eq(const void *c, uint32_t e) {
  const cctx *x = c;
  return !x->fins[e].collapsed && x->fins[e].addr == x->kaddr;
}

static int key_eq(const void *c, uint32_t e) {
  const cctx *x = c;
  return x->keys[e].f == x->kk.f && x->keys[e].line == x->kk.line;
}

static int used_eq(const void *c, uint32_t e) {
  const cctx *x = c;
  return x->used[e] == x->ku;
}

/* Address classes, in order of their first location: the final locations
 * of one address share a class, a collapsed one has a class of its own.
 * fcls[i]: location i's class; head[c], next[i]: the locations of class c
 * in order (UINT32_MAX ends). tail: room for nf. */
static int address_classes(const trim *t, uint32_t *fcls, uint32_t *head, uint32_t *next, uint32_t *tail,
                           size_t *ncls) {
  pgo_ix cix;
  cctx x = {.t = t, .fins = t->fins};
  if (pgo_ix_init(&cix, t->nfins)) return PP_ENOMEM;
  int rc = PP_OK;
  *ncls = 0;
  for (uint32_t i = 0; i < t->nfins && rc == PP_OK; i++) {
    next[i] = UINT32_MAX;
    uint32_t c = UINT32_MAX;
    size_t slot = 0;
    uint32_t h = 0;
    if (!t->fins[i].collapsed) {
      x.kaddr = t->fins[i].addr;
      h = pgo_ix_hash(&cix, t->fins[i].addr);
      uint32_t e = pgo_ix_get(&cix, h, cls_eq, &x, &slot);
      if (e != UINT32_MAX) c = fcls[e];
    }
    if (c == UINT32_MAX) {
      c = (uint32_t)(*ncls)++;
      head[c] = tail[c] = i;
      if (!t->fins[i].collapsed) rc = pgo_ix_put(&cix, slot, h, i);
    } else {
      next[tail[c]] = i;
      tail[c] = i;
    }
    fcls[i] = c;
  }
  pgo_ix_free(&cix);
  return rc;
}

/* The colouring of the classes: the distinct node keys seen so far, and
 * which (key, colour) pairs are taken. */
typedef struct colouring {
  cctx x;
  pgo_ix kix, uix;
  nkey *keys;
  size_t nkeys, ckeysn;
  uint32_t *lowfree; /* per key: no colour below it is free */
  size_t clow;
  uint32_t *ckeys; /* the current class's keys */
  size_t nck, cck;
  uint64_t *used; /* (key index, colour) pairs */
  size_t nused, cused;
} colouring;

/* The distinct node keys of the class whose first location is `first`,
 * into g->ckeys. */
static int class_keys(colouring *g, uint32_t first, const uint32_t *next) {
  const trim *t = g->x.t;
  g->nck = 0;
  for (uint32_t i = first; i != UINT32_MAX; i = next[i]) {
    const tloc *L = &t->fins[i];
    uint32_t nk = L->n ? L->n : 1;
    for (uint32_t k = 0; k < nk; k++) {
      g->x.kk = node_key(t, &t->lines[L->off], L->n, k);
      g->x.keys = g->keys;
      uint32_t h = pgo_ix_hash(&g->kix, pp_mix(g->x.kk.f, (uint64_t)g->x.kk.line));
      size_t slot;
      uint32_t e = pgo_ix_get(&g->kix, h, key_eq, &g->x, &slot);
      if (e == UINT32_MAX) {
        if (PP_GROW(g->keys, g->ckeysn, g->nkeys + 1)) return PP_ENOMEM;
        if (PP_GROW(g->lowfree, g->clow, g->nkeys + 1)) return PP_ENOMEM;
        e = (uint32_t)g->nkeys++;
        g->keys[e] = g->x.kk;
        g->lowfree[e] = 0;
        if (pgo_ix_put(&g->kix, slot, h, e)) return PP_ENOMEM;
      }
      if (PP_GROW(g->ckeys, g->cck, g->nck + 1)) return PP_ENOMEM;
      g->ckeys[g->nck++] = e;
    }
  }
  return PP_OK;
}

/* 1 when colour `cand` is taken for key k. */
static int colour_used(colouring *g, uint32_t k, uint64_t cand, size_t *slot) {
  g->x.ku = ((uint64_t)k << 32) | cand;
  g->x.used = g->used;
  return pgo_ix_get(&g->uix, pgo_ix_hash(&g->uix, g->x.ku), used_eq, &g->x, slot) != UINT32_MAX;
}

/* The smallest colour no class sharing one of the current class's keys
 * has, into *out; it is then taken for each of those keys. */
static int class_colour(colouring *g, uint64_t *out) {
  uint64_t cand = 0;
  size_t slot;
  for (size_t j = 0; j < g->nck; j++)
    if (g->lowfree[g->ckeys[j]] > cand) cand = g->lowfree[g->ckeys[j]];
  for (size_t j = 0; j < g->nck;) {
    if (colour_used(g, g->ckeys[j], cand, &slot)) {
      cand++;
      j = 0;
    } else {
      j++;
    }
  }
  if (cand >= UINT32_MAX) return PP_ENOMEM;
  *out = cand;
  for (size_t j = 0; j < g->nck; j++) {
    uint32_t k = g->ckeys[j];
    if (colour_used(g, k, cand, &slot)) continue;
    uint32_t h = pgo_ix_hash(&g->uix, g->x.ku);
    if (PP_GROW(g->used, g->cused, g->nused + 1)) return PP_ENOMEM;
    g->used[g->nused] = g->x.ku;
    g->x.used = g->used;
    if (pgo_ix_put(&g->uix, slot, h, (uint32_t)g->nused++)) return PP_ENOMEM;
    while (colour_used(g, k, g->lowfree[k], &slot)) g->lowfree[k]++;
  }
  return PP_OK;
}

static int colour(trim *t) {
  size_t nf = t->nfins, ncls = 0;
  colouring g = {.x = {.t = t, .fins = t->fins}};
  int rc = PP_ENOMEM;
  uint32_t *fcls = malloc((nf ? nf : 1) * sizeof(*fcls));
  uint32_t *head = malloc((nf ? nf : 1) * sizeof(*head));
  uint32_t *next = malloc((nf ? nf : 1) * sizeof(*next));
  uint32_t *tail = malloc((nf ? nf : 1) * sizeof(*tail));
  uint64_t *ccol = malloc((nf ? nf : 1) * sizeof(*ccol));
  t->color = calloc(nf ? nf : 1, sizeof(*t->color));
  if (!fcls || !head || !next || !tail || !t->color || !ccol || pgo_ix_init(&g.kix, t->nlines + 1) ||
      pgo_ix_init(&g.uix, t->nlines + 1) || address_classes(t, fcls, head, next, tail, &ncls))
    goto done;
  for (uint32_t c = 0; c < ncls; c++)
    if (class_keys(&g, head[c], next) || class_colour(&g, &ccol[c])) goto done;
  for (uint32_t i = 0; i < nf; i++) t->color[i] = ccol[fcls[i]];
  rc = PP_OK;
done:
  free(fcls);
  free(head);
  free(next);
  free(tail);
  free(ccol);
  free(g.lowfree);
  free(g.keys);
  free(g.ckeys);
  free(g.used);
  pgo_ix_free(&g.kix);
  pgo_ix_free(&g.uix);
  return rc;
}

/* ---- step 7: samples grouped by stack ---- */

static int group_eq(const void *c, uint32_t e) {
  const trim *t = c;
  const tgroup *g = &t->groups[e];
  return g->n == t->ks_n && memcmp(&t->sq[g->off], t->ks_seq, g->n * sizeof(uint32_t)) == 0;
}

static int group_order(const void *va, const void *vb, void *ctx) {
  const trim *t = ctx;
  const tgroup *a = va, *b = vb;
  const uint32_t *x = &t->sq[a->off], *y = &t->sq[b->off];
  for (uint32_t i = 0; i < a->n && i < b->n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return a->n < b->n ? -1 : a->n > b->n;
}

static int build_groups(trim *t) {
  const pp_profile *p = t->p;
  if (PP_GROW(t->sq, t->csq, 16) || ix_reset(t, t->nks)) return PP_ENOMEM;
  for (size_t i = 0; i < t->nks; i++) {
    const pp_sample *smp = &p->samples[t->ks[i]];
    const uint32_t *L = PP_OFF(p->sloc, smp->loc_off);
    uint32_t n = t->kn[i];
    if (PP_GROW(t->sq, t->csq, t->nsq + n)) return PP_ENOMEM;
    uint32_t *st = &t->sq[t->nsq];
    uint64_t h0 = n;
    for (uint32_t j = 0; j < n; j++) {
      st[j] = t->frank_loc[t->bases[t->lbase[L[j]]].fin];
      h0 = pp_mix(h0, st[j]);
    }
    t->ks_seq = st;
    t->ks_n = n;
    uint32_t h = pgo_ix_hash(&t->ix, h0);
    size_t slot;
    uint32_t e = pgo_ix_get(&t->ix, h, group_eq, t, &slot);
    if (e == UINT32_MAX) {
      if (PP_GROW(t->groups, t->cgroups, t->ngroups + 1)) return PP_ENOMEM;
      e = (uint32_t)t->ngroups++;
      t->groups[e] = (tgroup){.off = (uint32_t)t->nsq, .n = n};
      t->nsq += n;
      if (pgo_ix_put(&t->ix, slot, h, e)) return PP_ENOMEM;
    }
    t->groups[e].w = pgo_add(t->groups[e].w, p->values[t->ks[i] * p->nstypes + t->vi]);
  }
  return pp_msort(t->groups, t->ngroups, sizeof(*t->groups), group_order, t);
}

/* ---- step 8: the output profile ---- */

static int intern_from(pp_profile *q, const pp_profile *p, pp_sid s, pp_sid *out) {
  return pp_pool_intern(&q->sp, pp_pool_str(&p->sp, s), pp_pool_len(&p->sp, s), out);
}

static int emit(trim *t, pp_profile **out) {
  const pp_profile *p = t->p;
  pp_profile *q = pp_profile_new();
  if (!q) return PP_ENOMEM;
  int rc = PP_ENOMEM;
  size_t nsamp = 0, nsl = 0;
  for (size_t g = 0; g < t->ngroups; g++) {
    size_t k = t->groups[g].w ? 1 : 2;
    nsamp += k;
    nsl += k * t->groups[g].n;
  }
  /* The compiler takes a profile without samples as empty, but refuses one
   * whose samples all add nothing (its graph has no start line): when every
   * sample went, one zero sample without locations keeps that verdict. */
  int placeholder = t->ngroups == 0 && p->nsamples > 0;
  if (placeholder) nsamp = 1;
  if (PP_GROW(q->stypes, q->nstypes, 1) || PP_GROW(q->funcs, q->cfuncs, t->nfuncs) ||
      PP_GROW(q->locs, q->clocs, t->nfins) || PP_GROW(q->samples, q->csamples, nsamp) ||
      PP_GROW(q->sloc, q->csloc, nsl) || PP_GROW(q->values, q->cvalues, nsamp))
    goto fail;
  size_t nl = 0;
  for (size_t i = 0; i < t->nfins; i++) nl += t->fins[i].n;
  if (PP_GROW(q->lines, q->clines, nl)) goto fail;

  q->nstypes = 1;
  if (intern_from(q, p, p->stypes[t->vi].type, &q->stypes[0].type) ||
      intern_from(q, p, p->stypes[t->vi].unit, &q->stypes[0].unit) ||
      intern_from(q, p, p->ptype.type, &q->ptype.type) || intern_from(q, p, p->ptype.unit, &q->ptype.unit))
    goto fail;
  q->period = p->period;
  q->time_nanos = p->time_nanos;
  q->duration_nanos = p->duration_nanos;

  for (size_t r = 0; r < t->nfuncs; r++) {
    pp_function *f = &q->funcs[r];
    memset(f, 0, sizeof(*f));
    if (intern_from(q, p, t->funcs[r].name, &f->name) || intern_from(q, p, t->funcs[r].file, &f->filename))
      goto fail;
    f->start_line = t->funcs[r].start;
  }
  q->nfuncs = t->nfuncs;

  for (size_t i = 0; i < t->nfins; i++) {
    const tloc *L = &t->fins[i];
    q->locs[i] = (pp_location){.address = t->color[i], .mapping = PP_NONE, .line_off = (uint32_t)q->nlines,
                               .nlines = L->n};
    for (uint32_t k = 0; k < L->n; k++)
      q->lines[q->nlines++] = (pp_line){.func = t->lines[L->off + k].func, .line = t->lines[L->off + k].line};
  }
  q->nlocs = t->nfins;

  for (size_t g = 0; g < t->ngroups; g++) {
    const tgroup *G = &t->groups[g];
    int64_t w[2] = {G->w, 0};
    size_t k = 1;
    if (G->w == 0) { /* cancelled out: keep the edges, net zero */
      w[0] = 1;
      w[1] = -1;
      k = 2;
    }
    for (size_t j = 0; j < k; j++) {
      pp_sample *s = &q->samples[q->nsamples];
      *s = (pp_sample){.loc_off = (uint32_t)q->nsloc, .nlocs = G->n};
      memcpy(&q->sloc[q->nsloc], &t->sq[G->off], G->n * sizeof(uint32_t));
      q->nsloc += G->n;
      q->values[q->nsamples++] = w[j];
    }
  }
  if (placeholder) {
    q->samples[0] = (pp_sample){0};
    q->values[0] = 0;
    q->nsamples = 1;
  }
  *out = q;
  return PP_OK;
fail:
  pp_free(q);
  return rc;
}

int pp_pgo_trim(const pp_profile *p, unsigned keep, pp_profile **out, char *err, size_t errlen) {
  if (!p || !out) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_trim: bad arguments");
  *out = NULL;
  if (keep == 1 || keep > PP_PGO_MAX_KEEP)
    return pp_err(err, errlen, PP_EINVAL,
                  "bad keep %u: want 0 (every location) or a number of leaf-most locations from 2 to %u "
                  "(1 would drop the caller locations the compiler reads)",
                  keep, PP_PGO_MAX_KEEP);
  trim t = {.p = p, .keep = keep};
  int rc = pp_pgo_value_index(p, &t.vi, err, errlen);
  if (rc) return rc;
  if ((rc = keep_samples(&t)) || (rc = build_funcs(&t)) || (rc = build_bases(&t)) || (rc = build_finals(&t)) ||
      (rc = colour(&t)) || (rc = build_groups(&t)) || (rc = emit(&t, out))) {
    trim_free(&t);
    return pp_err(err, errlen, rc, "out of memory trimming the profile");
  }
  trim_free(&t);
  return PP_OK;
}

int pp_pgo_encode(const pp_profile *p, unsigned keep, int level, uint8_t **out, size_t *outlen, char *err,
                  size_t errlen) {
  if (!out || !outlen) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_encode: bad arguments");
  pp_profile *q = NULL;
  int rc = pp_pgo_trim(p, keep, &q, err, errlen);
  if (rc) return rc;
  rc = pp_encode(q, level, out, outlen, err, errlen);
  pp_free(q);
  return rc;
}
