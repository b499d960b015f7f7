/*
 * pgo.c — the compiler's view of a profile: its named call-edge map, Go's
 * preprocessed text format, the hot set, and the comparison of two views
 * (pgo.h says exactly what is computed). The trimmed profile of format=pgo
 * is made in pgo_trim.c.
 *
 * The edge map is computed in one pass over the samples with three hash
 * tables: nodes (one per distinct (address, line, name, start line), built
 * for every location like Go's CreateNodes), graph edges (node pairs) and
 * named edges. The per-sample "seen" sets are generation stamps on nodes and
 * graph edges (a stamp equal to the current sample number means "already
 * counted in this sample"), so a sample costs only its frames, and the
 * full-frames walk of deep stacks stays linear.
 */
#include "pgo.h"

#include "internal.h"
#include "pgoix.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- sample type ---- */

static int str_is(const pp_profile *p, pp_sid s, const char *lit) {
  size_t n = strlen(lit);
  return pp_pool_len(&p->sp, s) == n && memcmp(pp_pool_str(&p->sp, s), lit, n) == 0;
}

int pp_pgo_value_index(const pp_profile *p, size_t *vi, char *err, size_t errlen) {
  if (!p || !vi) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_value_index: bad arguments");
  for (size_t i = 0; i < p->nstypes; i++) {
    if ((str_is(p, p->stypes[i].type, "samples") && str_is(p, p->stypes[i].unit, "count")) ||
        (str_is(p, p->stypes[i].type, "cpu") && str_is(p, p->stypes[i].unit, "nanoseconds"))) {
      *vi = i;
      return PP_OK;
    }
  }
  /* Go's message, verbatim (its odd quoting included). */
  return pp_err(err, errlen, PP_EINCOMPATIBLE,
                "profile does not contain a sample index with value/type \"samples/count\" or "
                "cpu/nanoseconds\"");
}

/* ---- the edge map ---- */

typedef struct gnode {
  uint64_t addr;
  int64_t line, start;
  pp_sid name;
  int64_t cum, flat;
  size_t stamp; /* sample number + 1 that last added to cum */
} gnode;

typedef struct gedge {
  uint32_t src, dst;
  int64_t w;
  size_t stamp; /* sample number + 1 that last added to w */
} gedge;

typedef struct nedge {
  pp_sid caller, callee;
  int64_t off, w;
} nedge;

typedef struct ectx {
  const pp_profile *p;
  gnode *nodes;
  size_t nnodes, cnodes;
  gedge *edges;
  size_t nedges, cedges;
  nedge *named;
  size_t nnamed, cnamed;
  uint32_t *locnode; /* nodes of location i, innermost first, at locoff[i] */
  size_t *locoff;
  pgo_ix nix, eix, xix;
  gnode key_n;
  gedge key_e;
  nedge key_x;
} ectx;

static int node_eq(const void *c, uint32_t e) {
  const ectx *x = c;
  const gnode *a = &x->nodes[e], *b = &x->key_n;
  return a->addr == b->addr && a->line == b->line && a->name == b->name && a->start == b->start;
}

static int gedge_eq(const void *c, uint32_t e) {
  const ectx *x = c;
  return x->edges[e].src == x->key_e.src && x->edges[e].dst == x->key_e.dst;
}

static int nedge_eq(const void *c, uint32_t e) {
  const ectx *x = c;
  const nedge *a = &x->named[e], *b = &x->key_x;
  return a->caller == b->caller && a->callee == b->callee && a->off == b->off;
}

/* Finds or creates the node of (addr, line, name, start); *id. */
static int node_get(ectx *x, uint64_t addr, int64_t line, pp_sid name, int64_t start, uint32_t *id) {
  x->key_n = (gnode){.addr = addr, .line = line, .name = name, .start = start};
  uint64_t h = pp_mix(pp_mix(pp_mix(addr, (uint64_t)line), name), (uint64_t)start);
  uint32_t hh = pgo_ix_hash(&x->nix, h);
  size_t slot;
  uint32_t e = pgo_ix_get(&x->nix, hh, node_eq, x, &slot);
  if (e == UINT32_MAX) {
    if (x->nnodes >= UINT32_MAX - 1 || PP_GROW(x->nodes, x->cnodes, x->nnodes + 1)) return PP_ENOMEM;
    e = (uint32_t)x->nnodes++;
    x->nodes[e] = x->key_n;
    if (pgo_ix_put(&x->nix, slot, hh, e)) return PP_ENOMEM;
  }
  *id = e;
  return PP_OK;
}

/* Adds w to graph edge src->dst unless this sample (stamp) already did. */
static int gedge_add(ectx *x, uint32_t src, uint32_t dst, int64_t w, size_t stamp) {
  x->key_e = (gedge){.src = src, .dst = dst};
  uint32_t hh = pgo_ix_hash(&x->eix, pp_mix(src, dst));
  size_t slot;
  uint32_t e = pgo_ix_get(&x->eix, hh, gedge_eq, x, &slot);
  if (e == UINT32_MAX) {
    if (x->nedges >= UINT32_MAX - 1 || PP_GROW(x->edges, x->cedges, x->nedges + 1)) return PP_ENOMEM;
    e = (uint32_t)x->nedges++;
    x->edges[e] = x->key_e;
    if (pgo_ix_put(&x->eix, slot, hh, e)) return PP_ENOMEM;
  }
  if (x->edges[e].stamp != stamp) {
    x->edges[e].stamp = stamp;
    x->edges[e].w = pgo_add(x->edges[e].w, w);
  }
  return PP_OK;
}

static int named_add(ectx *x, pp_sid caller, pp_sid callee, int64_t off, int64_t w) {
  x->key_x = (nedge){.caller = caller, .callee = callee, .off = off};
  uint32_t hh = pgo_ix_hash(&x->xix, pp_mix(pp_mix(caller, callee), (uint64_t)off));
  size_t slot;
  uint32_t e = pgo_ix_get(&x->xix, hh, nedge_eq, x, &slot);
  if (e == UINT32_MAX) {
    if (x->nnamed >= UINT32_MAX - 1 || PP_GROW(x->named, x->cnamed, x->nnamed + 1)) return PP_ENOMEM;
    e = (uint32_t)x->nnamed++;
    x->named[e] = x->key_x;
    if (pgo_ix_put(&x->xix, slot, hh, e)) return PP_ENOMEM;
  }
  x->named[e].w = pgo_add(x->named[e].w, w);
  return PP_OK;
}

static void ectx_free(ectx *x) {
  free(x->nodes);
  free(x->edges);
  free(x->named);
  free(x->locnode);
  free(x->locoff);
  pgo_ix_free(&x->nix);
  pgo_ix_free(&x->eix);
  pgo_ix_free(&x->xix);
}

/* Go's string order: bytewise, a prefix first. */
static int edge_order(const void *va, const void *vb) {
  const pp_pgo_edge *a = va, *b = vb;
  if (a->weight != b->weight) return a->weight > b->weight ? -1 : 1;
  int c = pp_bytes_cmp(a->caller, a->caller_len, b->caller, b->caller_len);
  if (c) return c;
  c = pp_bytes_cmp(a->callee, a->callee_len, b->callee, b->callee_len);
  if (c) return c;
  return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Builds the public map from the named edges: names copied once each. */
static int edges_out(const ectx *x, pp_pgo_edges *m) {
  const pp_strpool *sp = &x->p->sp;
  size_t *at = malloc((sp->n ? sp->n : 1) * sizeof(*at));
  if (!at) return PP_ENOMEM;
  for (size_t i = 0; i < sp->n; i++) at[i] = SIZE_MAX;
  size_t bytes = 0;
  for (size_t i = 0; i < x->nnamed; i++) {
    pp_sid s[2] = {x->named[i].caller, x->named[i].callee};
    for (int k = 0; k < 2; k++) {
      if (at[s[k]] != SIZE_MAX) continue;
      at[s[k]] = bytes;
      bytes += pp_pool_len(sp, s[k]) + 1;
    }
  }
  m->names_ = malloc(bytes ? bytes : 1);
  m->edge = malloc((x->nnamed ? x->nnamed : 1) * sizeof(*m->edge));
  if (!m->names_ || !m->edge) {
    free(at);
    return PP_ENOMEM;
  }
  for (size_t i = 0; i < sp->n; i++)
    if (at[i] != SIZE_MAX) memcpy(m->names_ + at[i], pp_pool_str(sp, (pp_sid)i), pp_pool_len(sp, (pp_sid)i) + 1);
  for (size_t i = 0; i < x->nnamed; i++) {
    const nedge *e = &x->named[i];
    m->edge[i] = (pp_pgo_edge){.caller = m->names_ + at[e->caller],
                               .callee = m->names_ + at[e->callee],
                               .caller_len = pp_pool_len(sp, e->caller),
                               .callee_len = pp_pool_len(sp, e->callee),
                               .offset = e->off,
                               .weight = e->w};
  }
  m->n = x->nnamed;
  free(at);
  qsort(m->edge, m->n, sizeof(*m->edge), edge_order);
  return PP_OK;
}

static int compute(const pp_profile *p, pp_pgo_walk walk, pp_pgo_edges *m, char *err, size_t errlen) {
  if (p->nsamples == 0) return PP_OK;
  size_t vi;
  int rc = pp_pgo_value_index(p, &vi, err, errlen);
  if (rc) return rc;
  m->value_index = vi;

  ectx x = {.p = p};
  rc = PP_ENOMEM;
  size_t nln = 0;
  for (size_t i = 0; i < p->nlocs; i++) nln += p->locs[i].nlines ? p->locs[i].nlines : 1;
  x.locoff = malloc((p->nlocs + 1) * sizeof(*x.locoff));
  x.locnode = malloc((nln ? nln : 1) * sizeof(*x.locnode));
  if (!x.locoff || !x.locnode || pgo_ix_init(&x.nix, nln) || pgo_ix_init(&x.eix, p->nsamples * 2) ||
      pgo_ix_init(&x.xix, p->nsamples))
    goto fail;

  /* Nodes of every location, innermost line first (as stored). */
  size_t at = 0;
  for (size_t i = 0; i < p->nlocs; i++) {
    const pp_location *l = &p->locs[i];
    x.locoff[i] = at;
    if (!l->nlines) {
      if (node_get(&x, l->address, 0, 0, 0, &x.locnode[at++])) goto fail;
      continue;
    }
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    for (size_t k = 0; k < l->nlines; k++) {
      const pp_function *f = &p->funcs[ln[k].func];
      if (node_get(&x, l->address, ln[k].line, f->name, f->start_line, &x.locnode[at++])) goto fail;
    }
  }
  x.locoff[p->nlocs] = at;

  /* Walk the samples: caller location(s) first, each outermost line first. */
  for (size_t s = 0; s < p->nsamples; s++) {
    int64_t w = p->values[s * p->nstypes + vi];
    const pp_sample *smp = &p->samples[s];
    if (w == 0 || smp->nlocs == 0) continue;
    const uint32_t *L = PP_OFF(p->sloc, smp->loc_off);
    size_t top = walk == PP_PGO_ALL_FRAMES ? smp->nlocs - 1 : (smp->nlocs > 1 ? 1 : 0);
    uint32_t parent = UINT32_MAX;
    size_t stamp = s + 1;
    for (size_t i = top + 1; i-- > 0;) {
      size_t lo = x.locoff[L[i]], hi = x.locoff[L[i] + 1];
      for (size_t k = hi; k-- > lo;) {
        uint32_t n = x.locnode[k];
        if (x.nodes[n].stamp != stamp) {
          x.nodes[n].stamp = stamp;
          x.nodes[n].cum = pgo_add(x.nodes[n].cum, w);
        }
        if (parent != UINT32_MAX && n != parent && gedge_add(&x, parent, n, w, stamp)) goto fail;
        parent = n;
      }
    }
    if (parent != UINT32_MAX) x.nodes[parent].flat = pgo_add(x.nodes[parent].flat, w);
  }

  /* Named edges of the nodes that are part of the graph. */
  for (size_t i = 0; i < x.nnodes; i++)
    if ((x.nodes[i].cum != 0 || x.nodes[i].flat != 0) && x.nodes[i].start != 0) m->has_start_line = 1;
  for (size_t i = 0; i < x.nedges; i++) {
    const gedge *e = &x.edges[i];
    const gnode *a = &x.nodes[e->src], *b = &x.nodes[e->dst];
    if (a->cum == 0 && a->flat == 0) continue;
    int64_t off = (int64_t)((uint64_t)a->line - (uint64_t)a->start);
    if (named_add(&x, a->name, b->name, off, e->w)) goto fail;
    m->total = pgo_add(m->total, e->w);
  }
  if (edges_out(&x, m)) goto fail;
  rc = PP_OK;
fail:
  ectx_free(&x);
  if (rc) return pp_err(err, errlen, rc, "out of memory computing the call-edge map");
  return PP_OK;
}

int pp_pgo_edges_compute(const pp_profile *p, pp_pgo_walk walk, pp_pgo_edges **out, char *err, size_t errlen) {
  if (!p || !out) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_edges_compute: bad arguments");
  *out = NULL;
  pp_pgo_edges *m = calloc(1, sizeof(*m));
  if (!m) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  int rc = compute(p, walk, m, err, errlen);
  if (rc) {
    pp_pgo_edges_free(m);
    return rc;
  }
  *out = m;
  return PP_OK;
}

void pp_pgo_edges_free(pp_pgo_edges *e) {
  if (!e) return;
  free(e->edge);
  free(e->names_);
  free(e);
}

size_t pp_pgo_hot_count(const pp_pgo_edges *e) {
  if (!e || e->n == 0 || e->total == 0) return 0;
  int64_t cum = 0;
  for (size_t i = 0; i < e->n; i++) {
    cum = pgo_add(cum, e->edge[i].weight);
    /* As Go's WeightInPercentage: float64(value) / float64(total) * 100. */
    if ((double)cum / (double)e->total * 100 > PP_PGO_HOT_PERCENT) return i + 1;
  }
  return e->n;
}

/* ---- preprofile ---- */

typedef struct tbuf {
  char *p;
  size_t n, cap;
  int oom;
} tbuf;

static void tb_put(tbuf *b, const char *s, size_t n) {
  if (b->oom || PP_GROW(b->p, b->cap, b->n + n)) {
    b->oom = 1;
    return;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

int pp_pgo_preprofile(const pp_profile *p, char **out, size_t *outlen, char *err, size_t errlen) {
  if (!p || !out || !outlen) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_preprofile: bad arguments");
  *out = NULL;
  *outlen = 0;
  pp_pgo_edges *m = NULL;
  int rc = pp_pgo_edges_compute(p, PP_PGO_LAST_TWO, &m, err, errlen);
  if (rc) return rc;
  if (p->nsamples && !m->has_start_line) {
    pp_pgo_edges_free(m);
    return pp_err(err, errlen, PP_EINCOMPATIBLE,
                  "profile missing Function.start_line data (Go version of profiled application too "
                  "old? Go 1.20+ automatically adds this to profiles)");
  }
  static const char header[] = "GO PREPROFILE V1\n";
  tbuf b = {0};
  tb_put(&b, header, sizeof(header) - 1);
  if (m->total != 0) {
    for (size_t i = 0; i < m->n; i++) {
      const pp_pgo_edge *e = &m->edge[i];
      char num[64];
      int k = snprintf(num, sizeof(num), "%" PRId64 " %" PRId64 "\n", e->offset, e->weight);
      tb_put(&b, e->caller, e->caller_len);
      tb_put(&b, "\n", 1);
      tb_put(&b, e->callee, e->callee_len);
      tb_put(&b, "\n", 1);
      tb_put(&b, num, (size_t)k);
    }
  }
  pp_pgo_edges_free(m);
  if (b.oom) {
    free(b.p);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory writing the preprofile");
  }
  *out = b.p;
  *outlen = b.n;
  return PP_OK;
}

/* ---- parsing, bytes in / bytes out ---- */

int pp_pgo_format_parse(const char *name, pp_pgo_format *f, char *err, size_t errlen) {
  if (name && f && !strcmp(name, "pgo")) {
    *f = PP_PGO_FORMAT_PGO;
    return PP_OK;
  }
  if (name && f && !strcmp(name, "preprofile")) {
    *f = PP_PGO_FORMAT_PREPROFILE;
    return PP_OK;
  }
  return pp_err(err, errlen, PP_EINVAL, "unknown format \"%s\" (want pgo or preprofile)", name ? name : "");
}

int pp_pgo_keep_parse(const char *s, unsigned *keep, char *err, size_t errlen) {
  if (!s || !keep) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_keep_parse: bad arguments");
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > PP_PGO_MAX_KEEP) break;
  }
  if (i == 0 || s[i] != 0 || v > PP_PGO_MAX_KEEP || v == 1)
    return pp_err(err, errlen, PP_EINVAL,
                  "bad keep \"%s\": want 0 (every location) or a number of leaf-most locations from 2 "
                  "to %u (1 would drop the caller locations the compiler reads)",
                  s, PP_PGO_MAX_KEEP);
  *keep = (unsigned)v;
  return PP_OK;
}

int pp_gzip(const uint8_t *buf, size_t len, int level, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
  return pp_gzip_mt(buf, len, level, 1, out, outlen, err, errlen);
}

int pp_pgo_convert(const uint8_t *in, size_t inlen, const pp_limits *lim, pp_pgo_format f, unsigned keep,
                   int level, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
  if (!out || !outlen) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_convert: bad arguments");
  *out = NULL;
  *outlen = 0;
  if (f != PP_PGO_FORMAT_PGO && f != PP_PGO_FORMAT_PREPROFILE)
    return pp_err(err, errlen, PP_EINVAL, "pp_pgo_convert: unknown format %d", (int)f);
  pp_profile *p = NULL;
  int rc = pp_decode(in, inlen, lim, &p, err, errlen);
  if (rc) return rc;
  if (f == PP_PGO_FORMAT_PGO) {
    rc = pp_pgo_encode(p, keep, level, out, outlen, err, errlen);
  } else {
    char *t = NULL;
    rc = pp_pgo_preprofile(p, &t, outlen, err, errlen);
    *out = (uint8_t *)t;
  }
  pp_free(p);
  return rc;
}

/* ---- diff ---- */

/* An edge map with an index by (caller, callee, offset) text. */
typedef struct emap {
  pp_pgo_edges *m;
  size_t hot;
  pgo_ix ix;
  const pp_pgo_edge *key;
} emap;

static uint64_t site_hash(uint64_t seed, const pp_pgo_edge *e) {
  return pp_mix(pp_mix(pp_hash_bytes(seed, e->caller, e->caller_len), pp_hash_bytes(seed, e->callee, e->callee_len)),
                (uint64_t)e->offset);
}

static int site_eq_edge(const pp_pgo_edge *a, const pp_pgo_edge *b) {
  return a->offset == b->offset && a->caller_len == b->caller_len && a->callee_len == b->callee_len &&
         memcmp(a->caller, b->caller, a->caller_len) == 0 && memcmp(a->callee, b->callee, a->callee_len) == 0;
}

static int emap_eq(const void *c, uint32_t e) {
  const emap *x = c;
  return site_eq_edge(&x->m->edge[e], x->key);
}

static int emap_build(const pp_profile *p, emap *x, char *err, size_t errlen) {
  int rc = pp_pgo_edges_compute(p, PP_PGO_LAST_TWO, &x->m, err, errlen);
  if (rc) return rc;
  if (x->m->total == 0) x->m->n = 0; /* the compiler's rule: nothing to use */
  x->hot = pp_pgo_hot_count(x->m);
  if (pgo_ix_init(&x->ix, x->m->n)) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  for (size_t i = 0; i < x->m->n; i++) {
    x->key = &x->m->edge[i];
    uint32_t h = pgo_ix_hash(&x->ix, site_hash(x->ix.seed, x->key));
    size_t slot;
    if (pgo_ix_get(&x->ix, h, emap_eq, x, &slot) == UINT32_MAX && pgo_ix_put(&x->ix, slot, h, (uint32_t)i))
      return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  return PP_OK;
}

/* Index of edge e in x, or SIZE_MAX. */
static size_t emap_find(emap *x, const pp_pgo_edge *e) {
  if (x->m->n == 0) return SIZE_MAX;
  x->key = e;
  uint32_t h = pgo_ix_hash(&x->ix, site_hash(x->ix.seed, e));
  size_t slot;
  uint32_t i = pgo_ix_get(&x->ix, h, emap_eq, x, &slot);
  return i == UINT32_MAX ? SIZE_MAX : i;
}

static void emap_free(emap *x) {
  pp_pgo_edges_free(x->m);
  pgo_ix_free(&x->ix);
}

static double share(int64_t w, int64_t total) { return total ? (double)w / (double)total * 100 : 0.0; }

/* Names (as NUL-terminated byte strings) of the functions OLD's samples reach. */
typedef struct nameset {
  pgo_ix ix;
  const pp_profile *p;
  pp_sid *sid;
  size_t n, cap;
  const char *key;
  size_t keylen;
} nameset;

static int nameset_eq(const void *c, uint32_t e) {
  const nameset *s = c;
  return pp_pool_len(&s->p->sp, s->sid[e]) == s->keylen &&
         memcmp(pp_pool_str(&s->p->sp, s->sid[e]), s->key, s->keylen) == 0;
}

static int nameset_has(nameset *s, const char *name, size_t len, size_t *slot, uint32_t *h) {
  s->key = name;
  s->keylen = len;
  *h = pgo_ix_hash(&s->ix, pp_hash_bytes(s->ix.seed, name, len));
  return pgo_ix_get(&s->ix, *h, nameset_eq, s, slot) != UINT32_MAX;
}

static int nameset_build(const pp_profile *p, nameset *s) {
  s->p = p;
  if (pgo_ix_init(&s->ix, p->nfuncs + 1)) return PP_ENOMEM;
  uint8_t *seen = calloc(p->nlocs ? p->nlocs : 1, 1);
  if (!seen) return PP_ENOMEM;
  int rc = PP_OK;
  for (size_t i = 0; i < p->nsloc && !rc; i++) {
    uint32_t li = p->sloc[i];
    if (seen[li]) continue;
    seen[li] = 1;
    const pp_location *l = &p->locs[li];
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    for (size_t k = 0; k < (l->nlines ? l->nlines : 1) && !rc; k++) {
      pp_sid name = l->nlines ? p->funcs[ln[k].func].name : 0;
      size_t slot;
      uint32_t h;
      if (nameset_has(s, pp_pool_str(&p->sp, name), pp_pool_len(&p->sp, name), &slot, &h)) continue;
      if (PP_GROW(s->sid, s->cap, s->n + 1) || pgo_ix_put(&s->ix, slot, h, (uint32_t)s->n)) {
        rc = PP_ENOMEM;
        break;
      }
      s->sid[s->n++] = name;
    }
  }
  free(seen);
  return rc;
}

/* Fills a site from edge e (found in maps a and b at ia/ib, SIZE_MAX = absent). */
static pp_pgo_site make_site(const pp_pgo_edge *e, const emap *o, size_t io, const emap *n, size_t in) {
  pp_pgo_site s = {.caller = e->caller, .callee = e->callee, .caller_len = e->caller_len,
                   .callee_len = e->callee_len, .offset = e->offset};
  if (io != SIZE_MAX) {
    s.in_old = 1;
    s.old_weight = o->m->edge[io].weight;
    s.old_share = share(s.old_weight, o->m->total);
  }
  if (in != SIZE_MAX) {
    s.in_new = 1;
    s.new_weight = n->m->edge[in].weight;
    s.new_share = share(s.new_weight, n->m->total);
  }
  return s;
}

/* Copies the names of the sites into one buffer owned by d. */
static int own_names(pp_pgo_diff *d) {
  size_t bytes = 1;
  pp_pgo_site *lists[2] = {d->entering, d->leaving};
  size_t counts[2] = {d->nentering, d->nleaving};
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; i < counts[l]; i++) bytes += lists[l][i].caller_len + lists[l][i].callee_len + 2;
  d->names_ = malloc(bytes);
  if (!d->names_) return PP_ENOMEM;
  size_t at = 0;
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; i < counts[l]; i++) {
      pp_pgo_site *s = &lists[l][i];
      memcpy(d->names_ + at, s->caller, s->caller_len + 1);
      s->caller = d->names_ + at;
      at += s->caller_len + 1;
      memcpy(d->names_ + at, s->callee, s->callee_len + 1);
      s->callee = d->names_ + at;
      at += s->callee_len + 1;
    }
  return PP_OK;
}

int pp_pgo_diff_profiles(const pp_profile *oldp, const pp_profile *newp, pp_pgo_diff **out, char *err,
                         size_t errlen) {
  if (!oldp || !newp || !out) return pp_err(err, errlen, PP_EINVAL, "pp_pgo_diff_profiles: bad arguments");
  *out = NULL;
  emap o = {0}, n = {0};
  nameset names = {0};
  pp_pgo_diff *d = calloc(1, sizeof(*d));
  int rc = d ? PP_OK : PP_ENOMEM;
  if (!rc) rc = emap_build(oldp, &o, err, errlen);
  if (!rc) rc = emap_build(newp, &n, err, errlen);
  if (rc) goto done;
  rc = PP_ENOMEM;
  d->entering = malloc((n.hot ? n.hot : 1) * sizeof(*d->entering));
  d->leaving = malloc((o.hot ? o.hot : 1) * sizeof(*d->leaving));
  if (!d->entering || !d->leaving || nameset_build(oldp, &names)) goto done;
  for (size_t i = 0; i < n.hot; i++) {
    const pp_pgo_edge *e = &n.m->edge[i];
    size_t io = emap_find(&o, e);
    if (io != SIZE_MAX && io < o.hot) continue;
    d->entering[d->nentering++] = make_site(e, &o, io, &n, i);
  }
  for (size_t i = 0; i < o.hot; i++) {
    const pp_pgo_edge *e = &o.m->edge[i];
    size_t in = emap_find(&n, e);
    if (in != SIZE_MAX && in < n.hot) continue;
    d->leaving[d->nleaving++] = make_site(e, &o, i, &n, in);
  }
  for (size_t i = 0; i < n.m->n; i++) {
    const pp_pgo_edge *e = &n.m->edge[i];
    size_t slot;
    uint32_t h;
    if (nameset_has(&names, e->caller, e->caller_len, &slot, &h) &&
        nameset_has(&names, e->callee, e->callee_len, &slot, &h))
      continue;
    d->stale_edges++;
    d->stale_weight = pgo_add(d->stale_weight, e->weight);
  }
  d->old_edges = o.m->n;
  d->new_edges = n.m->n;
  d->old_hot = o.hot;
  d->new_hot = n.hot;
  d->old_total = o.m->total;
  d->new_total = n.m->total;
  d->old_start_line = o.m->has_start_line;
  d->new_start_line = n.m->has_start_line;
  d->stale_share = share(d->stale_weight, d->new_total);
  if (own_names(d)) goto done;
  rc = PP_OK;
done:
  emap_free(&o);
  emap_free(&n);
  pgo_ix_free(&names.ix);
  free(names.sid);
  if (rc) {
    pp_pgo_diff_free(d);
    if (rc == PP_ENOMEM) return pp_err(err, errlen, rc, "out of memory comparing profiles");
    return rc;
  }
  *out = d;
  return PP_OK;
}

void pp_pgo_diff_free(pp_pgo_diff *d) {
  if (!d) return;
  free(d->entering);
  free(d->leaving);
  free(d->names_);
  free(d);
}
