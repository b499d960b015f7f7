/*
 * export.c — profile exports: the shared machinery (output buffer, JSON
 * strings, frames, the call tree and its walk) and the folded, speedscope,
 * chrome and pprof writers, with the format table. The UI's tree JSON is in
 * export_tree.c. Semantics and output shapes are documented in export.h.
 *
 * Every writer aggregates the profile into a call tree of frames first (see
 * export_internal.h) and writes from it: identical stacks are added up once
 * there, so output size follows the number of distinct stacks, not samples,
 * and all formats see the same stacks.
 */
#include "export_internal.h"
#include "pgo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- output buffer ---- */

bool ex_reserve(ex_buf *b, size_t more) {
  if (b->oom) return false;
  if (b->cap - b->len >= more) return true;
  if (more > SIZE_MAX / 2 - b->len) {
    b->oom = true;
    return false;
  }
  size_t nc = b->cap < 4096 ? 4096 : b->cap;
  while (nc - b->len < more) nc *= 2;
  char *q = realloc(b->p, nc);
  if (!q) {
    b->oom = true;
    return false;
  }
  b->p = q;
  b->cap = nc;
  return true;
}

void ex_i64(ex_buf *b, int64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) tmp[--i] = '-';
  ex_put(b, tmp + i, sizeof tmp - i);
}

void ex_pct(ex_buf *b, int64_t v, int64_t total) {
  double x = total ? 100.0 * (double)v / (double)total : 0.0;
  if (!isfinite(x)) x = 0;
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, "%.2f", x);
  if (n > 0 && (size_t)n < sizeof tmp) {
    if (!strcmp(tmp, "-0.00")) ex_puts(b, "0.00");
    else ex_put(b, tmp, (size_t)n);
  }
}

size_t ex_utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;      /* no overlong 3-byte forms */
    else if (c == 0xed) hi = 0x9f; /* no surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;      /* no overlong 4-byte forms */
    else if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
  } else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return len;
}

static const char hexd[] = "0123456789abcdef";

void ex_json_str(ex_buf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  if (!ex_reserve(b, n + 2)) return;
  ex_putc(b, '"');
  size_t i = 0;
  while (i < n) {
    /* Runs of plain printable ASCII are copied at once. */
    size_t j = i;
    while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\') j++;
    ex_put(b, s + i, j - i);
    if (j == n) break;
    i = j;
    unsigned c = s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      ex_put(b, e, 2);
      i++;
    } else if (c < 0x20) {
      switch (c) {
      case '\n': ex_put(b, "\\n", 2); break;
      case '\r': ex_put(b, "\\r", 2); break;
      case '\t': ex_put(b, "\\t", 2); break;
      case '\b': ex_put(b, "\\b", 2); break;
      case '\f': ex_put(b, "\\f", 2); break;
      default: {
        char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
        ex_put(b, e, 6);
      }
      }
      i++;
    } else {
      size_t l = ex_utf8_len(s + i, n - i);
      if (l) {
        ex_put(b, s + i, l);
        i += l;
      } else {
        ex_put(b, "\xef\xbf\xbd", 3);
        i++;
      }
    }
  }
  ex_putc(b, '"');
}

int ex_take(ex_buf *b, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
  if (b->oom) {
    ex_buf_free(b);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory writing the export");
  }
  if (!b->p && !ex_reserve(b, 1)) return pp_err(err, errlen, PP_ENOMEM, "out of memory writing the export");
  *out = (uint8_t *)b->p;
  *outlen = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return PP_OK;
}

void ex_buf_free(ex_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- frames ---- */

int ex_frames_init(ex_frames *F, int mode) {
  memset(F, 0, sizeof *F);
  F->mode = mode;
  F->seed = pp_seed();
  return pp_pool_init(&F->names, 256, 8192);
}

void ex_frames_free(ex_frames *F) {
  pp_pool_free(&F->names);
  free(F->f);
  free(F->slots);
  memset(F, 0, sizeof *F);
}

static uint32_t frame_hash(const ex_frames *F, pp_sid name, pp_sid file, int64_t line) {
  return pp_hfin(F->seed, pp_mix(pp_mix(name, file), (uint64_t)line));
}

static int frames_rehash(ex_frames *F) {
  size_t ns = F->nslots ? F->nslots * 2 : 256;
  uint32_t *sl = calloc(ns, sizeof *sl);
  if (!sl) return PP_ENOMEM;
  for (size_t i = 0; i < F->n; i++) {
    size_t h = frame_hash(F, F->f[i].name, F->f[i].file, F->f[i].line) & (ns - 1);
    while (sl[h]) h = (h + 1) & (ns - 1);
    sl[h] = (uint32_t)i + 1;
  }
  free(F->slots);
  F->slots = sl;
  F->nslots = ns;
  return PP_OK;
}

/* The frame (name text, file, line); created when new. */
static int frame_get(ex_frames *F, const char *name, size_t nlen, pp_sid file, int64_t line, uint32_t *out) {
  pp_sid nm;
  int rc = pp_pool_intern(&F->names, name, nlen, &nm);
  if (rc) return rc;
  if ((F->n + 1) * 2 > F->nslots && (rc = frames_rehash(F))) return rc;
  size_t mask = F->nslots - 1;
  size_t h = frame_hash(F, nm, file, line) & mask;
  for (; F->slots[h]; h = (h + 1) & mask) {
    const ex_frame *f = &F->f[F->slots[h] - 1];
    if (f->name == nm && f->file == file && f->line == line) {
      *out = F->slots[h] - 1;
      return PP_OK;
    }
  }
  if (F->n >= UINT32_MAX - 1) return PP_ENOMEM;
  if (PP_GROW(F->f, F->cap, F->n + 1)) return PP_ENOMEM;
  F->f[F->n] = (ex_frame){nm, file, line};
  F->slots[h] = (uint32_t)F->n + 1;
  *out = (uint32_t)F->n++;
  return PP_OK;
}

/* Writes name made valid UTF-8 (and folded-safe) into dst (room: 3 × n). */
static size_t clean_name(const char *name, size_t n, bool folded, char *dst) {
  const unsigned char *s = (const unsigned char *)name;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (folded && c == ';') c = ':';
      else if (folded && (c < 0x20 || c == 0x7f)) c = ' ';
      dst[o++] = (char)c;
      i++;
      continue;
    }
    size_t l = ex_utf8_len(s + i, n - i);
    if (l) {
      memcpy(dst + o, s + i, l);
      o += l;
      i += l;
    } else {
      memcpy(dst + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    }
  }
  return o;
}

/* Frame of a location without lines or of a function without a name:
 * "[base name of the mapping file]" or "<unknown>". */
static int unsym_frame(ex_frames *F, const pp_profile *p, uint32_t mapping, char **tmp, size_t *tcap,
                       uint32_t *out) {
  const char *file = "";
  size_t flen = 0;
  if (mapping != PP_NONE) {
    /* The last element of the path, like Go's filepath.Base: trailing
     * slashes ignored, "/" for a path of slashes only. */
    file = pp_pool_str(&p->sp, p->maps[mapping].file);
    flen = pp_pool_len(&p->sp, p->maps[mapping].file);
    while (flen > 1 && file[flen - 1] == '/') flen--;
    size_t cut = flen;
    while (cut > 0 && file[cut - 1] != '/') cut--;
    if (cut < flen) {
      file += cut;
      flen -= cut;
    }
  }
  if (!flen) return frame_get(F, "<unknown>", 9, 0, 0, out);
  if (PP_GROW(*tmp, *tcap, flen * 3 + 2)) return PP_ENOMEM;
  (*tmp)[0] = '[';
  size_t o = 1 + clean_name(file, flen, F->mode == EX_BY_NAME_FOLDED, *tmp + 1);
  (*tmp)[o++] = ']';
  return frame_get(F, *tmp, o, 0, 0, out);
}

int ex_pmap_build(ex_frames *F, const pp_profile *p, ex_pmap *m, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->p = p;
  int rc = PP_ENOMEM;
  char *tmp = NULL;
  size_t tcap = 0;
  uint32_t *ff = malloc((p->nfuncs ? p->nfuncs : 1) * sizeof *ff);
  uint32_t *mf = malloc((p->nmaps + 1) * sizeof *mf);
  m->loc_off = malloc((p->nlocs + 1) * sizeof *m->loc_off);
  size_t nfr = 0;
  for (size_t i = 0; i < p->nlocs; i++) nfr += p->locs[i].nlines ? p->locs[i].nlines : 1;
  m->fr = malloc((nfr ? nfr : 1) * sizeof *m->fr);
  if (!ff || !mf || !m->loc_off || !m->fr || nfr >= UINT32_MAX) goto out;
  for (size_t i = 0; i < p->nfuncs; i++) ff[i] = UINT32_MAX;
  for (size_t i = 0; i <= p->nmaps; i++) mf[i] = UINT32_MAX;
  if ((rc = frame_get(F, "[no stack]", 10, 0, 0, &m->nostack))) goto out;
  size_t o = 0;
  for (size_t i = 0; i < p->nlocs; i++) {
    const pp_location *l = &p->locs[i];
    m->loc_off[i] = (uint32_t)o;
    size_t mi = l->mapping == PP_NONE ? p->nmaps : l->mapping;
    if (l->nlines == 0) {
      if (mf[mi] == UINT32_MAX && (rc = unsym_frame(F, p, l->mapping, &tmp, &tcap, &mf[mi]))) goto out;
      m->fr[o++] = mf[mi];
      continue;
    }
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    for (size_t k = l->nlines; k-- > 0;) {
      uint32_t fi = ln[k].func;
      const pp_function *fn = &p->funcs[fi];
      size_t nlen = pp_pool_len(&p->sp, fn->name);
      if (nlen == 0) {
        if (mf[mi] == UINT32_MAX && (rc = unsym_frame(F, p, l->mapping, &tmp, &tcap, &mf[mi]))) goto out;
        m->fr[o++] = mf[mi];
        continue;
      }
      if (ff[fi] == UINT32_MAX) {
        if (PP_GROW(tmp, tcap, nlen * 3)) goto out;
        size_t cl = clean_name(pp_pool_str(&p->sp, fn->name), nlen, F->mode == EX_BY_NAME_FOLDED, tmp);
        bool frm = F->mode == EX_BY_FRAME;
        if ((rc = frame_get(F, tmp, cl, frm ? fn->filename : 0, frm && fn->start_line > 0 ? fn->start_line : 0,
                            &ff[fi])))
          goto out;
      }
      m->fr[o++] = ff[fi];
    }
  }
  m->loc_off[p->nlocs] = (uint32_t)o;
  rc = PP_OK;
out:
  free(ff);
  free(mf);
  free(tmp);
  if (rc) {
    ex_pmap_free(m);
    return pp_err(err, errlen, rc, "out of memory listing the profile's frames");
  }
  return PP_OK;
}

void ex_pmap_free(ex_pmap *m) {
  free(m->loc_off);
  free(m->fr);
  m->loc_off = m->fr = NULL;
}

typedef struct rank_ent {
  const char *s;
  size_t len;
  const char *file;
  size_t flen;
  int64_t line;
  uint32_t id;
} rank_ent;

static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  if (c) return c;
  return al < bl ? -1 : al > bl;
}

static int rank_cmp(const void *x, const void *y) {
  const rank_ent *a = x, *b = y;
  int c = bytes_cmp(a->s, a->len, b->s, b->len);
  if (!c) c = bytes_cmp(a->file, a->flen, b->file, b->flen);
  if (!c && a->line != b->line) c = a->line < b->line ? -1 : 1;
  if (!c) c = a->id < b->id ? -1 : a->id > b->id;
  return c;
}

int ex_frames_rank(const ex_frames *F, const pp_profile *p, uint32_t **rank) {
  rank_ent *e = malloc((F->n ? F->n : 1) * sizeof *e);
  uint32_t *r = malloc((F->n ? F->n : 1) * sizeof *r);
  if (!e || !r) {
    free(e);
    free(r);
    return PP_ENOMEM;
  }
  for (size_t i = 0; i < F->n; i++) {
    const ex_frame *f = &F->f[i];
    e[i] = (rank_ent){pp_pool_str(&F->names, f->name), pp_pool_len(&F->names, f->name), "", 0, f->line,
                      (uint32_t)i};
    if (p && f->file) {
      e[i].file = pp_pool_str(&p->sp, f->file);
      e[i].flen = pp_pool_len(&p->sp, f->file);
    }
  }
  qsort(e, F->n, sizeof *e, rank_cmp);
  for (size_t i = 0; i < F->n; i++) r[e[i].id] = (uint32_t)i;
  free(e);
  *rank = r;
  return PP_OK;
}

/* ---- the call tree ---- */

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

static inline uint64_t uabs(int64_t v) { return v < 0 ? 0 - (uint64_t)v : (uint64_t)v; }

static int key_cmp(const void *x, const void *y) {
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
      e->k1 = UINT64_MAX - uabs(t->total[(size_t)c * t->k + (size_t)by_total]);
      if (two) e->k2 = UINT64_MAX - uabs(t->total[(size_t)c * t->k + (size_t)by_total + 1]);
    }
  }
  qsort(tmp, b - a, sizeof *tmp, key_cmp);
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

/* ---- shared set-up ---- */

int pp_export_value_index(const pp_profile *p, const char *name, size_t *vi, char *err, size_t errlen) {
  if (!p || !vi) return pp_err(err, errlen, PP_EINVAL, "pp_export_value_index: bad arguments");
  if (!name || !*name) {
    *vi = pp_default_value_index(p);
    return PP_OK;
  }
  size_t n = 0;
  const char *c = name;
  for (; *c >= '0' && *c <= '9' && n < 1000000; c++) n = n * 10 + (size_t)(*c - '0');
  if (!*c) {
    if (n < p->nstypes) {
      *vi = n;
      return PP_OK;
    }
  } else {
    for (size_t i = 0; i < p->nstypes; i++)
      if (!strcmp(pp_pool_str(&p->sp, p->stypes[i].type), name)) {
        *vi = i;
        return PP_OK;
      }
  }
  char have[256] = "";
  size_t o = 0;
  for (size_t i = 0; i < p->nstypes && o + 1 < sizeof have; i++) {
    int w = snprintf(have + o, sizeof have - o, "%s%s", i ? ", " : "", pp_pool_str(&p->sp, p->stypes[i].type));
    if (w < 0) break;
    o += (size_t)w;
  }
  if (o >= sizeof have) o = sizeof have - 1;
  return pp_err(err, errlen, PP_EINVAL, "sample type \"%s\" is not in the profile (it has %s)", name,
                p->nstypes ? have : "no sample types");
}

/* The call tree of one profile for the value indexes vi[0..nvi). */
static int build_one(const pp_profile *p, int mode, const size_t *vi, size_t nvi, ex_frames *F, ex_tree *t,
                     char *err, size_t errlen) {
  ex_pmap m;
  memset(t, 0, sizeof *t);
  if (ex_frames_init(F, mode) || ex_tree_init(t, nvi)) {
    ex_frames_free(F);
    ex_tree_free(t);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  int rc = ex_pmap_build(F, p, &m, err, errlen);
  if (rc == PP_OK) {
    rc = ex_tree_add(t, &m, vi, nvi, 0, err, errlen);
    ex_pmap_free(&m);
  }
  if (rc == PP_OK) rc = ex_tree_finish(t, err, errlen);
  if (rc) {
    ex_frames_free(F);
    ex_tree_free(t);
  }
  return rc;
}

/* Sorts every node's children by frame rank (the folded order). */
static int sort_all_by_rank(ex_tree *t, const ex_frames *F, const pp_profile *p, char *err, size_t errlen) {
  uint32_t *rank = NULL;
  ex_sortkey *tmp = malloc((ex_tree_max_kids(t) + 1) * sizeof *tmp);
  if (!tmp || ex_frames_rank(F, p, &rank)) {
    free(tmp);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory sorting the call tree");
  }
  for (size_t i = 0; i < t->nn; i++) ex_tree_sort_kids(t, (uint32_t)i, rank, -1, false, tmp);
  free(tmp);
  free(rank);
  return PP_OK;
}

#define CHECK_OUT()                                                                                 \
  do {                                                                                              \
    if (!p || !out || !outlen) return pp_err(err, errlen, PP_EINVAL, "export: bad arguments");     \
    *out = NULL;                                                                                    \
    *outlen = 0;                                                                                    \
  } while (0)

/* ---- folded ---- */

int pp_export_folded(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen) {
  CHECK_OUT();
  size_t vi;
  int rc = pp_export_value_index(p, opts ? opts->sample_type : NULL, &vi, err, errlen);
  if (rc) return rc;
  ex_frames F;
  ex_tree t;
  if ((rc = build_one(p, EX_BY_NAME_FOLDED, &vi, 1, &F, &t, err, errlen))) return rc;
  ex_buf b = {0};
  ex_walk w;
  bool oom = false;
  if ((rc = sort_all_by_rank(&t, &F, NULL, err, errlen)) || (rc = ex_walk_init(&w, &t))) {
    if (!rc) rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
    goto done;
  }
  for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
    if (n == 0 || t.self[n] == 0) continue;
    for (size_t d = 1; d <= w.depth; d++) {
      size_t len;
      const char *s = ex_frame_name(&F, w.path[d], &len);
      if (d > 1) ex_putc(&b, ';');
      ex_put(&b, s, len);
    }
    ex_putc(&b, ' ');
    ex_i64(&b, t.self[n]);
    ex_putc(&b, '\n');
  }
  ex_walk_free(&w);
  b.oom |= oom;
  rc = ex_take(&b, out, outlen, err, errlen);
done:
  ex_buf_free(&b);
  ex_frames_free(&F);
  ex_tree_free(&t);
  return rc;
}

/* ---- speedscope ---- */

/* speedscope's name for a pprof unit. */
static const char *speedscope_unit(const char *u) {
  static const struct {
    const char *pprof, *ss;
  } m[] = {{"nanoseconds", "nanoseconds"},   {"ns", "nanoseconds"},   {"microseconds", "microseconds"},
           {"us", "microseconds"},           {"milliseconds", "milliseconds"}, {"ms", "milliseconds"},
           {"seconds", "seconds"},           {"s", "seconds"},        {"bytes", "bytes"},
           {"B", "bytes"}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    if (!strcmp(u, m[i].pprof)) return m[i].ss;
  return "none";
}

int pp_export_speedscope(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                         char *err, size_t errlen) {
  CHECK_OUT();
  size_t k = p->nstypes;
  size_t *vi = malloc((k ? k : 1) * sizeof *vi);
  if (!vi) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  for (size_t i = 0; i < k; i++) vi[i] = i;
  ex_frames F;
  ex_tree t;
  int rc = build_one(p, EX_BY_FRAME, vi, k, &F, &t, err, errlen);
  free(vi);
  if (rc) return rc;
  ex_buf b = {0};
  ex_walk w = {0};
  bool oom = false;
  if ((rc = sort_all_by_rank(&t, &F, p, err, errlen))) goto done;

  const char *name = opts && opts->name ? opts->name : "profile";
  ex_puts(&b, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"exporter\":\"pgopipe\",\"name\":");
  ex_json_str(&b, name, strlen(name));
  ex_puts(&b, ",\"activeProfileIndex\":");
  ex_i64(&b, k ? (int64_t)pp_default_value_index(p) : 0);
  ex_puts(&b, ",\"shared\":{\"frames\":[");
  for (size_t i = 0; i < F.n; i++) {
    const ex_frame *f = &F.f[i];
    size_t len;
    const char *s = ex_frame_name(&F, (uint32_t)i, &len);
    ex_puts(&b, i ? ",{\"name\":" : "{\"name\":");
    ex_json_str(&b, s, len);
    if (f->file && pp_pool_len(&p->sp, f->file)) {
      ex_puts(&b, ",\"file\":");
      ex_json_str(&b, pp_pool_str(&p->sp, f->file), pp_pool_len(&p->sp, f->file));
    }
    if (f->line > 0) {
      ex_puts(&b, ",\"line\":");
      ex_i64(&b, f->line);
    }
    ex_putc(&b, '}');
  }
  ex_puts(&b, "]},\"profiles\":[");
  for (size_t ti = 0; ti < k; ti++) {
    pp_value_type st = pp_sample_type(p, ti);
    ex_puts(&b, ti ? ",{\"type\":\"sampled\",\"name\":" : "{\"type\":\"sampled\",\"name\":");
    ex_json_str(&b, st.type, strlen(st.type));
    ex_puts(&b, ",\"unit\":\"");
    ex_puts(&b, speedscope_unit(st.unit));
    ex_puts(&b, "\",\"startValue\":0,\"endValue\":");
    ex_i64(&b, pp_total(p, ti));
    ex_puts(&b, ",\"samples\":[");
    /* Two walks of the tree: the stacks, then their weights. */
    for (int pass = 0; pass < 2; pass++) {
      bool first = true;
      if (pass) ex_puts(&b, "],\"weights\":[");
      if ((rc = ex_walk_init(&w, &t))) {
        rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
        goto done;
      }
      for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
        int64_t v = t.self[(size_t)n * k + ti];
        if (n == 0 || v == 0) continue;
        if (!first) ex_putc(&b, ',');
        first = false;
        if (pass) {
          ex_i64(&b, v);
          continue;
        }
        ex_putc(&b, '[');
        for (size_t d = 1; d <= w.depth; d++) {
          if (d > 1) ex_putc(&b, ',');
          ex_i64(&b, w.path[d]);
        }
        ex_putc(&b, ']');
      }
      ex_walk_free(&w);
    }
    ex_puts(&b, "]}");
  }
  ex_puts(&b, "]}\n");
  b.oom |= oom;
  rc = ex_take(&b, out, outlen, err, errlen);
done:
  ex_walk_free(&w);
  ex_buf_free(&b);
  ex_frames_free(&F);
  ex_tree_free(&t);
  return rc;
}

/* ---- chrome ---- */

typedef unsigned __int128 u128;

/* floor(a × b / c) for c > 0, without overflow for a, b < 2^64. */
static uint64_t muldiv(u128 a, uint64_t b, u128 c) { return (uint64_t)(a * b / c); }

int pp_export_chrome(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen) {
  CHECK_OUT();
  size_t ci = SIZE_MAX, ti = SIZE_MAX;
  for (size_t i = 0; i < p->nstypes; i++) {
    const char *ty = pp_pool_str(&p->sp, p->stypes[i].type), *un = pp_pool_str(&p->sp, p->stypes[i].unit);
    if (ci == SIZE_MAX && !strcmp(ty, "samples") && !strcmp(un, "count")) ci = i;
    if (ti == SIZE_MAX && !strcmp(ty, "cpu") && !strcmp(un, "nanoseconds")) ti = i;
  }
  if (ci == SIZE_MAX || strcmp(pp_pool_str(&p->sp, p->ptype.unit), "nanoseconds"))
    return pp_err(err, errlen, PP_EINCOMPATIBLE,
                  "the chrome format needs a CPU profile (sample type samples/count, period in nanoseconds); "
                  "this one has period type %s/%s and %zu sample types",
                  pp_pool_str(&p->sp, p->ptype.type), pp_pool_str(&p->sp, p->ptype.unit), p->nstypes);
  ex_frames F;
  ex_tree t;
  int rc = build_one(p, EX_BY_FRAME, &ci, 1, &F, &t, err, errlen);
  if (rc) return rc;
  ex_buf b = {0};
  ex_walk w = {0};
  uint32_t *order = NULL, *id = NULL, *script = NULL;
  uint64_t *emit = NULL;
  bool oom = false;
  if ((rc = sort_all_by_rank(&t, &F, p, err, errlen))) goto done;

  /* Preorder numbering: id[node] = 1 + position; order[pos] = node. */
  order = malloc(t.nn * sizeof *order);
  id = malloc(t.nn * sizeof *id);
  emit = malloc(t.nn * sizeof *emit);
  script = calloc(p->sp.n ? p->sp.n : 1, sizeof *script);
  if (!order || !id || !emit || !script || ex_walk_init(&w, &t)) {
    rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
    goto done;
  }
  size_t pos = 0;
  u128 hits = 0;
  for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
    if (t.self[n] < 0) {
      rc = pp_err(err, errlen, PP_EINVAL,
                  "the chrome format cannot show negative sample counts (is this a difference of profiles?)");
      goto done;
    }
    order[pos] = n;
    id[n] = (uint32_t)++pos;
    hits += (uint64_t)t.self[n];
  }
  ex_walk_free(&w);
  if (oom) {
    rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
    goto done;
  }
  /* Samples per node: all hits, or scaled to max_samples with the rounding
   * carried along the preorder (cumulative floor), so the sum is exact. */
  uint64_t maxs = opts && opts->max_samples ? opts->max_samples : PP_EXPORT_CHROME_MAX_SAMPLES;
  if (maxs > UINT32_MAX) maxs = UINT32_MAX; /* keeps the scaling's products within 128 bits */
  uint64_t nsamp = 0;
  {
    u128 cum = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < pos; i++) {
      uint64_t h = (uint64_t)t.self[order[i]];
      if (hits <= maxs) {
        emit[i] = h;
      } else {
        cum += h;
        uint64_t now = muldiv(cum, maxs, hits);
        emit[i] = now - prev;
        prev = now;
      }
      nsamp += emit[i];
    }
  }
  /* The profile's CPU time in microseconds. */
  u128 ns;
  if (ti != SIZE_MAX) {
    int64_t cpu = pp_total(p, ti);
    ns = cpu > 0 ? (u128)cpu : 0;
  } else {
    ns = p->period > 0 && hits <= UINT64_MAX ? hits * (uint64_t)p->period : 0;
    if (p->period > 0 && hits > UINT64_MAX) ns = (u128)INT64_MAX * 1000;
  }
  u128 us = ns / 1000;
  if (us > (u128)INT64_MAX / 2) us = (u128)INT64_MAX / 2;
  int64_t start = p->time_nanos > 0 ? p->time_nanos / 1000 : 0;
  if (start > INT64_MAX / 2) start = 0;

  ex_puts(&b, "{\"nodes\":[");
  uint32_t nscripts = 0;
  for (size_t i = 0; i < pos; i++) {
    uint32_t n = order[i];
    ex_puts(&b, i ? ",{\"id\":" : "{\"id\":");
    ex_i64(&b, id[n]);
    ex_puts(&b, ",\"callFrame\":{\"functionName\":");
    if (n == 0) {
      ex_puts(&b, "\"(root)\",\"scriptId\":\"0\",\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1}");
    } else {
      const ex_frame *f = &F.f[t.n[n].frame];
      size_t len;
      const char *s = ex_frame_name(&F, t.n[n].frame, &len);
      ex_json_str(&b, s, len);
      ex_puts(&b, ",\"scriptId\":\"");
      size_t flen = f->file ? pp_pool_len(&p->sp, f->file) : 0;
      if (flen) {
        if (!script[f->file]) script[f->file] = ++nscripts;
        ex_i64(&b, script[f->file]);
      } else {
        ex_putc(&b, '0');
      }
      ex_puts(&b, "\",\"url\":");
      ex_json_str(&b, flen ? pp_pool_str(&p->sp, f->file) : "", flen);
      ex_puts(&b, ",\"lineNumber\":");
      ex_i64(&b, f->line > 0 ? f->line - 1 : -1);
      ex_puts(&b, f->line > 0 ? ",\"columnNumber\":0}" : ",\"columnNumber\":-1}");
    }
    ex_puts(&b, ",\"hitCount\":");
    ex_i64(&b, (int64_t)emit[i]);
    if (t.koff[n + 1] > t.koff[n]) {
      ex_puts(&b, ",\"children\":[");
      for (uint32_t j = t.koff[n]; j < t.koff[n + 1]; j++) {
        if (j > t.koff[n]) ex_putc(&b, ',');
        ex_i64(&b, id[t.kids[j]]);
      }
      ex_putc(&b, ']');
    }
    ex_putc(&b, '}');
  }
  ex_puts(&b, "],\"startTime\":");
  ex_i64(&b, start);
  ex_puts(&b, ",\"endTime\":");
  ex_i64(&b, start + (int64_t)us);
  ex_puts(&b, ",\"samples\":[");
  bool first = true;
  for (size_t i = 0; i < pos && !b.oom; i++) {
    char num[16];
    int nl = snprintf(num, sizeof num, "%s%u", ",", (unsigned)id[order[i]]);
    for (uint64_t j = 0; j < emit[i]; j++) {
      ex_put(&b, first ? num + 1 : num, first ? (size_t)nl - 1 : (size_t)nl);
      first = false;
    }
  }
  ex_puts(&b, "],\"timeDeltas\":[");
  uint64_t prev = 0;
  for (uint64_t j = 1; j <= nsamp && !b.oom; j++) {
    uint64_t now = muldiv(j, (uint64_t)us, nsamp);
    if (j > 1) ex_putc(&b, ',');
    ex_i64(&b, (int64_t)(now - prev));
    prev = now;
  }
  ex_puts(&b, "]}\n");
  rc = ex_take(&b, out, outlen, err, errlen);
done:
  ex_walk_free(&w);
  free(order);
  free(id);
  free(emit);
  free(script);
  ex_buf_free(&b);
  ex_frames_free(&F);
  ex_tree_free(&t);
  return rc;
}

/* ---- pprof ---- */

int pp_export_pprof(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen, char *err,
                    size_t errlen) {
  CHECK_OUT();
  return pp_encode(p, -1, out, outlen, err, errlen);
}

/* ---- pgo, preprofile (pgo.h) ---- */

/* format=pgo: the trimmed profile for `go build -pgo`; keep 0 = default. */
static int export_pgo(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen) {
  CHECK_OUT();
  unsigned keep = opts && opts->keep_set && opts->keep >= 0 ? (unsigned)opts->keep : PP_PGO_DEFAULT_KEEP;
  return pp_pgo_encode(p, keep, -1, out, outlen, err, errlen);
}

static int export_preprofile(const pp_profile *p, const pp_export_opts *opts, uint8_t **out,
                             size_t *outlen, char *err, size_t errlen) {
  CHECK_OUT();
  char *text = NULL;
  int rc = pp_pgo_preprofile(p, &text, outlen, err, errlen);
  *out = (uint8_t *)text;
  return rc;
}

/* ---- the format table ---- */

static const pp_export_format formats[] = {
    {"pprof", "application/octet-stream", ".pb.gz", "the profile itself, gzipped profile.proto (go tool pprof)", 0,
     pp_export_pprof},
    {"folded", "text/plain; charset=utf-8", ".folded",
     "folded stacks, one `root;...;leaf VALUE` line per stack (flamegraph.pl, inferno, speedscope)",
     PP_EXPORT_READS_SAMPLE_TYPE, pp_export_folded},
    {"speedscope", "application/json", ".speedscope.json",
     "speedscope's JSON file format, one sampled profile per sample type", PP_EXPORT_READS_NAME,
     pp_export_speedscope},
    {"chrome", "application/json", ".cpuprofile",
     "Chrome DevTools .cpuprofile (CPU profiles only; DevTools Performance panel, VS Code)",
     PP_EXPORT_READS_MAX_SAMPLES, pp_export_chrome},
    {"pgo", "application/octet-stream", ".pgo",
     "trimmed for go build -pgo: the compiler's call edges only (--keep N, default 2)",
     PP_EXPORT_READS_KEEP, export_pgo},
    {"preprofile", "text/plain; charset=utf-8", ".preprofile",
     "Go's preprocessed call edges, GO PREPROFILE V1 (Go 1.23+)", 0,
     export_preprofile},
};

size_t pp_export_format_count(void) { return sizeof formats / sizeof formats[0]; }

const pp_export_format *pp_export_format_at(size_t i) {
  return i < pp_export_format_count() ? &formats[i] : NULL;
}

const pp_export_format *pp_export_format_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < pp_export_format_count(); i++)
    if (!strcmp(formats[i].name, name)) return &formats[i];
  return NULL;
}
