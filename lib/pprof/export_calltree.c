/*
 * export_calltree.c — the call tree every export writer is built on: a trie
 * of frames filled from a profile's samples, its totals and child lists, the
 * orderings of children, and the depth-first walk (see export_internal.h for
 * the structure and its cost).
 */
#include "export_internal.h"

#include <stdlib.h>

int ex_tree_init(ex_tree *t, size_t k) {
  memset(t, 0, sizeof *t);
  t->k = k;
  t->seed = pp_seed();
  if (PP_GROW(t->n, t->cn, 1024)) return PP_ENOMEM;
  t->self = calloc(t->cn * (k ? k : 1), sizeof *t->self);
  t->nslots = 2048;
  t->slots = calloc(t->nslots, sizeof *t->slots);
  if (!t->self || !t->slots) return PP_ENOMEM;
  t->n[0] = (ex_node){UINT32_MAX, UINT32_MAX};
  t->nn = 1;
  return PP_OK;
}

void ex_tree_free(ex_tree *t) {
  free(t->n);
  free(t->self);
  free(t->total);
  free(t->slots);
  free(t->koff);
  free(t->kids);
  memset(t, 0, sizeof *t);
}

static inline uint32_t node_hash(const ex_tree *t, uint32_t parent, uint32_t frame) {
  return pp_hfin(t->seed, ((uint64_t)parent << 32) | frame);
}

static int tree_rehash(ex_tree *t) {
  size_t ns = t->nslots * 2;
  uint32_t *sl = calloc(ns, sizeof *sl);
  if (!sl) return PP_ENOMEM;
  for (size_t i = 1; i < t->nn; i++) {
    size_t h = node_hash(t, t->n[i].parent, t->n[i].frame) & (ns - 1);
    while (sl[h]) h = (h + 1) & (ns - 1);
    sl[h] = (uint32_t)i + 1;
  }
  free(t->slots);
  t->slots = sl;
  t->nslots = ns;
  return PP_OK;
}

/* The child of `parent` for `frame`, created when new. */
static inline int tree_child(ex_tree *t, uint32_t parent, uint32_t frame, uint32_t *out) {
  size_t mask = t->nslots - 1;
  size_t h = node_hash(t, parent, frame) & mask;
  for (uint32_t s; (s = t->slots[h]); h = (h + 1) & mask) {
    const ex_node *n = &t->n[s - 1];
    if (n->parent == parent && n->frame == frame) {
      *out = s - 1;
      return PP_OK;
    }
  }
  if (t->nn >= UINT32_MAX - 1) return PP_ENOMEM;
  if (t->nn == t->cn) {
    size_t oc = t->cn;
    if (PP_GROW(t->n, t->cn, t->nn + 1)) return PP_ENOMEM;
    int64_t *s = realloc(t->self, t->cn * (t->k ? t->k : 1) * sizeof *s);
    if (!s) {
      t->cn = oc;
      return PP_ENOMEM;
    }
    t->self = s;
    memset(s + oc * t->k, 0, (t->cn - oc) * t->k * sizeof *s);
  }
  uint32_t id = (uint32_t)t->nn++;
  t->n[id] = (ex_node){parent, frame};
  t->slots[h] = id + 1;
  if (t->nn * 2 > t->nslots && tree_rehash(t)) return PP_ENOMEM;
  *out = id;
  return PP_OK;
}

int ex_tree_add(ex_tree *t, const ex_pmap *m, const size_t *vi, size_t nvi, size_t slot0, char *err,
                size_t errlen) {
  const pp_profile *p = m->p;
  /* The previous sample's locations (root first) and the node each one
   * ended at: consecutive samples often share their outer frames, and the
   * shared part is not looked up again. */
  uint32_t *prev_loc = NULL, *prev_node = NULL;
  size_t prev_n = 0, pcap = 0;
  /* And per location, the parent it was last added under and the node that
   * gave: a location seen again under the same parent (common in deep,
   * repetitive stacks) costs no table lookup. */
  uint32_t *memo = malloc((p->nlocs ? p->nlocs : 1) * 2 * sizeof *memo);
  int rc = memo ? PP_OK : PP_ENOMEM;
  for (size_t i = 0; memo && i < p->nlocs; i++) memo[2 * i] = UINT32_MAX;
  for (size_t si = 0; si < p->nsamples && rc == PP_OK; si++) {
    const pp_sample *s = &p->samples[si];
    const int64_t *v = PP_OFF(p->values, si * p->nstypes);
    bool any = false;
    for (size_t j = 0; j < nvi; j++) any |= vi[j] < p->nstypes && v[vi[j]] != 0;
    if (!any) continue;
    const uint32_t *L = PP_OFF(p->sloc, s->loc_off);
    size_t nl = s->nlocs;
    uint32_t node = 0;
    if (nl == 0) {
      if ((rc = tree_child(t, 0, m->nostack, &node))) break;
    } else {
      if (nl > pcap) {
        size_t nc = nl * 2;
        uint32_t *a = realloc(prev_loc, nc * sizeof *a), *b = a ? realloc(prev_node, nc * sizeof *b) : NULL;
        if (a) prev_loc = a;
        if (!a || !b) {
          rc = PP_ENOMEM;
          break;
        }
        prev_node = b;
        pcap = nc;
      }
      size_t d = 0;
      while (d < nl && d < prev_n && prev_loc[d] == L[nl - 1 - d]) d++;
      if (d) node = prev_node[d - 1];
      for (; d < nl; d++) {
        uint32_t loc = L[nl - 1 - d];
        if (memo[2 * loc] == node) {
          node = memo[2 * loc + 1];
        } else {
          memo[2 * loc] = node;
          for (uint32_t f = m->loc_off[loc]; f < m->loc_off[loc + 1]; f++)
            if ((rc = tree_child(t, node, m->fr[f], &node))) goto out;
          memo[2 * loc + 1] = node;
        }
        prev_loc[d] = loc;
        prev_node[d] = node;
      }
      prev_n = nl;
    }
    int64_t *self = t->self + (size_t)node * t->k + slot0;
    for (size_t j = 0; j < nvi; j++)
      if (vi[j] < p->nstypes) self[j] = (int64_t)((uint64_t)self[j] + (uint64_t)v[vi[j]]);
  }
out:
  free(prev_loc);
  free(prev_node);
  free(memo);
  if (rc) return pp_err(err, errlen, rc, "out of memory building the call tree");
  return PP_OK;
}

int ex_tree_finish(ex_tree *t, char *err, size_t errlen) {
  size_t k = t->k, nn = t->nn;
  t->total = malloc(nn * (k ? k : 1) * sizeof *t->total);
  t->koff = calloc(nn + 1, sizeof *t->koff);
  t->kids = malloc(nn * sizeof *t->kids);
  if (!t->total || !t->koff || !t->kids) return pp_err(err, errlen, PP_ENOMEM, "out of memory building the call tree");
  memcpy(t->total, t->self, nn * k * sizeof *t->total);
  for (size_t i = nn; i-- > 1;) {
    const int64_t *c = t->total + i * k;
    int64_t *pa = t->total + (size_t)t->n[i].parent * k;
    for (size_t j = 0; j < k; j++) pa[j] = (int64_t)((uint64_t)pa[j] + (uint64_t)c[j]);
  }
  /* Children by counting sort on the parent: koff[p+1] counts, then prefix sums. */
  for (size_t i = 1; i < nn; i++) t->koff[t->n[i].parent + 1]++;
  for (size_t i = 0; i < nn; i++) t->koff[i + 1] += t->koff[i];
  uint32_t *fill = malloc(nn * sizeof *fill);
  if (!fill) return pp_err(err, errlen, PP_ENOMEM, "out of memory building the call tree");
  memcpy(fill, t->koff, nn * sizeof *fill);
  for (size_t i = 1; i < nn; i++) t->kids[fill[t->n[i].parent]++] = (uint32_t)i;
  free(fill);
  return PP_OK;
}

size_t ex_tree_max_kids(const ex_tree *t) {
  size_t m = 0;
  for (size_t i = 0; i < t->nn; i++)
    if (t->koff[i + 1] - t->koff[i] > m) m = t->koff[i + 1] - t->koff[i];
  return m;
}

int ex_sortkey_cmp(const void *x, const void *y) {
  const ex_sortkey *a = x, *b = y;
  if (a->k1 != b->k1) return a->k1 < b->k1 ? -1 : 1;
  if (a->k2 != b->k2) return a->k2 < b->k2 ? -1 : 1;
  return a->k3 < b->k3 ? -1 : a->k3 > b->k3;
}

void ex_tree_sort_kids(ex_tree *t, uint32_t i, const uint32_t *rank, int by_total, bool two, ex_sortkey *tmp) {
  uint32_t a = t->koff[i], b = t->koff[i + 1];
  if (b - a < 2) return;
  for (uint32_t j = a; j < b; j++) {
    uint32_t c = t->kids[j];
    ex_sortkey *e = &tmp[j - a];
    e->node = c;
    e->k3 = rank[t->n[c].frame];
    e->k1 = e->k2 = 0;
    if (by_total >= 0) {
      e->k1 = UINT64_MAX - ex_uabs(t->total[(size_t)c * t->k + (size_t)by_total]);
      if (two) e->k2 = UINT64_MAX - ex_uabs(t->total[(size_t)c * t->k + (size_t)by_total + 1]);
    }
  }
  qsort(tmp, b - a, sizeof *tmp, ex_sortkey_cmp);
  for (uint32_t j = a; j < b; j++) t->kids[j] = tmp[j - a].node;
}

int ex_walk_init(ex_walk *w, const ex_tree *t) {
  memset(w, 0, sizeof *w);
  w->t = t;
  w->cap = 64;
  w->node = malloc(w->cap * sizeof *w->node);
  w->next = malloc(w->cap * sizeof *w->next);
  w->path = malloc(w->cap * sizeof *w->path);
  if (!w->node || !w->next || !w->path) {
    ex_walk_free(w);
    return PP_ENOMEM;
  }
  return PP_OK;
}

void ex_walk_free(ex_walk *w) {
  free(w->node);
  free(w->next);
  free(w->path);
  w->node = w->next = w->path = NULL;
}

uint32_t ex_walk_next(ex_walk *w, bool *oom) {
  const ex_tree *t = w->t;
  if (!w->started) {
    w->started = true;
    w->depth = 0;
    w->node[0] = 0;
    w->next[0] = t->koff[0];
    w->path[0] = UINT32_MAX;
    return 0;
  }
  for (;;) {
    size_t d = w->depth;
    uint32_t n = w->node[d];
    if (w->next[d] < t->koff[n + 1]) {
      uint32_t c = t->kids[w->next[d]++];
      if (d + 1 >= w->cap) {
        size_t nc = w->cap * 2;
        uint32_t *a = realloc(w->node, nc * sizeof *a);
        if (a) w->node = a;
        uint32_t *b = a ? realloc(w->next, nc * sizeof *b) : NULL;
        if (b) w->next = b;
        uint32_t *c2 = b ? realloc(w->path, nc * sizeof *c2) : NULL;
        if (!c2) {
          *oom = true;
          return UINT32_MAX;
        }
        w->path = c2;
        w->cap = nc;
      }
      w->depth = d + 1;
      w->node[d + 1] = c;
      w->next[d + 1] = t->koff[c];
      w->path[d + 1] = t->n[c].frame;
      return c;
    }
    if (d == 0) return UINT32_MAX;
    w->depth = d - 1;
  }
}
