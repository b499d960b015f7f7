/*
 * export_tree.c — the call-tree JSON the web UI draws its flame graph and
 * top table from (pp_export_tree), and the same for two profiles at once
 * (pp_export_diff). The JSON shapes are documented in export.h.
 *
 * The shape is chosen for size and parse speed: names are interned once in
 * a "names" array and nodes are small arrays of integers in depth-first
 * order, so a page rebuilds the tree in one pass (a node's parent always
 * precedes it) without a JSON object per node. Nodes under the share the
 * caller asks for are collapsed while writing, so a multi-megabyte base
 * becomes a few thousand nodes; the top table is computed on the whole
 * tree before collapsing, so it stays exact.
 *
 * Cost: building the call tree dominates (see export_internal.h); then one
 * walk of the whole tree for the top table, one walk of the kept part for
 * the nodes, and sorts of the kept nodes' children and of the functions.
 */
#include "export_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* One profile of the output: slot 0 is the current profile, slot 1 the
 * base of a diff. */
typedef struct side {
  const pp_profile *p;
  size_t vi;
  int64_t total;
} side;

static inline uint64_t uabs64(int64_t v) { return v < 0 ? 0 - (uint64_t)v : (uint64_t)v; }

static int sortkey_cmp(const void *x, const void *y) {
  const ex_sortkey *a = x, *b = y;
  if (a->k1 != b->k1) return a->k1 < b->k1 ? -1 : 1;
  if (a->k2 != b->k2) return a->k2 < b->k2 ? -1 : 1;
  return a->k3 < b->k3 ? -1 : a->k3 > b->k3;
}

/* The "names" table of the output: frames get indexes in order of first use. */
typedef struct names_out {
  uint32_t *idx; /* per frame, UINT32_MAX = not yet */
  uint32_t *order;
  uint32_t n;
} names_out;

static int64_t name_of(names_out *no, uint32_t frame) {
  if (no->idx[frame] == UINT32_MAX) {
    no->order[no->n] = frame;
    no->idx[frame] = ++no->n; /* 0 is "all" */
  }
  return no->idx[frame];
}

static void write_types(ex_buf *b, const pp_profile *p) {
  ex_puts(b, "[");
  for (size_t i = 0; i < p->nstypes; i++) {
    pp_value_type st = pp_sample_type(p, i);
    ex_puts(b, i ? ",{\"type\":" : "{\"type\":");
    ex_json_str(b, st.type, strlen(st.type));
    ex_puts(b, ",\"unit\":");
    ex_json_str(b, st.unit, strlen(st.unit));
    ex_puts(b, ",\"total\":");
    ex_i64(b, pp_total(p, i));
    ex_putc(b, '}');
  }
  ex_putc(b, ']');
}

typedef struct dfs_ent {
  uint32_t node;
  uint32_t out;  /* output index */
  uint32_t next; /* next child position */
  bool other;
  int64_t osum[2];
} dfs_ent;

static int write_tree(const side *sd, size_t nsides, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen) {
  double share = opts ? opts->min_share : 0;
  if (!(share >= 0 && share <= 1))
    return pp_err(err, errlen, PP_EINVAL, "the share under which nodes are collapsed must be from 0 to 1, not %g",
                  share);
  size_t k = nsides;
  ex_frames F;
  ex_tree t;
  memset(&t, 0, sizeof t);
  if (ex_frames_init(&F, EX_BY_NAME) || ex_tree_init(&t, k)) {
    ex_frames_free(&F);
    ex_tree_free(&t);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  ex_buf head = {0}, body = {0};
  uint32_t *rank = NULL, *onpath = NULL, *stackfr = NULL;
  int64_t *flat = NULL, *cum = NULL;
  ex_sortkey *tmp = NULL, *top = NULL;
  names_out no = {0};
  dfs_ent *st = NULL;
  ex_walk w = {0};
  bool oom = false;
  int rc = PP_OK;
  for (size_t s = 0; s < nsides && rc == PP_OK; s++) {
    ex_pmap m;
    if ((rc = ex_pmap_build(&F, sd[s].p, &m, err, errlen))) break;
    rc = ex_tree_add(&t, &m, &sd[s].vi, 1, s, err, errlen);
    ex_pmap_free(&m);
  }
  if (rc || (rc = ex_tree_finish(&t, err, errlen))) goto done;

  rc = PP_ENOMEM;
  size_t nf = F.n;
  flat = calloc((nf ? nf : 1) * k, sizeof *flat);
  cum = calloc((nf ? nf : 1) * k, sizeof *cum);
  onpath = calloc(nf ? nf : 1, sizeof *onpath);
  no.idx = malloc((nf ? nf : 1) * sizeof *no.idx);
  no.order = malloc((nf ? nf : 1) * sizeof *no.order);
  tmp = malloc((ex_tree_max_kids(&t) + 1) * sizeof *tmp);
  if (!flat || !cum || !onpath || !no.idx || !no.order || !tmp || ex_frames_rank(&F, NULL, &rank) ||
      ex_walk_init(&w, &t))
    goto oom;
  for (size_t i = 0; i < nf; i++) no.idx[i] = UINT32_MAX;

  /* Top table: flat and cum per name over the whole tree. A node adds its
   * total to its name's cum only when no ancestor has the same name, so
   * recursion counts each sample once. onpath[] tracks the current path. */
  {
    size_t sdepth = 0, scap = 64;
    stackfr = malloc(scap * sizeof *stackfr);
    if (!stackfr) goto oom;
    for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
      if (n == 0) continue;
      while (sdepth >= w.depth) onpath[stackfr[--sdepth]]--;
      uint32_t fr = t.n[n].frame;
      if (sdepth == scap) {
        uint32_t *q = realloc(stackfr, 2 * scap * sizeof *q);
        if (!q) goto oom;
        stackfr = q;
        scap *= 2;
      }
      for (size_t j = 0; j < k; j++) {
        flat[fr * k + j] = (int64_t)((uint64_t)flat[fr * k + j] + (uint64_t)t.self[(size_t)n * k + j]);
        if (!onpath[fr]) cum[fr * k + j] = (int64_t)((uint64_t)cum[fr * k + j] + (uint64_t)t.total[(size_t)n * k + j]);
      }
      onpath[fr]++;
      stackfr[sdepth++] = fr;
    }
    if (oom) goto oom;
  }
  size_t nrows = 0;
  top = malloc((nf ? nf : 1) * sizeof *top);
  if (!top) goto oom;
  for (size_t f = 0; f < nf; f++) {
    bool any = false;
    for (size_t j = 0; j < k; j++) any |= flat[f * k + j] != 0 || cum[f * k + j] != 0;
    if (any) top[nrows++] = (ex_sortkey){UINT64_MAX - uabs64(flat[f * k]), rank[f], 0, (uint32_t)f};
  }
  qsort(top, nrows, sizeof *top, sortkey_cmp);
  size_t shown = opts && opts->max_top && opts->max_top < nrows ? opts->max_top : nrows;

  /* Nodes: depth-first over the kept part; collapsed children are summed
   * into their parent's "other" node, written after the kept children. */
  double thr[2];
  for (size_t j = 0; j < k; j++) thr[j] = share * (double)uabs64(sd[j].total);
  size_t scap = 64, sn = 0;
  st = malloc(scap * sizeof *st);
  if (!st) goto oom;
  uint32_t nout = 0;
  ex_puts(&body, "\"nodes\":[[0,-1");
  for (size_t j = 0; j < k; j++) {
    ex_putc(&body, ',');
    ex_i64(&body, t.self[j]);
    ex_putc(&body, ',');
    ex_i64(&body, t.total[j]);
  }
  ex_putc(&body, ']');
  st[sn++] = (dfs_ent){0, nout++, t.koff[0], false, {0, 0}};
  ex_tree_sort_kids(&t, 0, rank, 0, k > 1, tmp);
  while (sn > 0) {
    dfs_ent *e = &st[sn - 1];
    if (e->next == t.koff[e->node + 1]) {
      if (e->other) {
        ex_puts(&body, ",[-1,");
        ex_i64(&body, e->out);
        for (size_t j = 0; j < k; j++) {
          ex_putc(&body, ',');
          ex_i64(&body, e->osum[j]);
          ex_putc(&body, ',');
          ex_i64(&body, e->osum[j]);
        }
        ex_putc(&body, ']');
        nout++;
      }
      sn--;
      continue;
    }
    uint32_t c = t.kids[e->next++];
    const int64_t *tot = t.total + (size_t)c * k;
    bool keep = false;
    for (size_t j = 0; j < k; j++) keep |= (double)uabs64(tot[j]) >= thr[j];
    if (!keep) {
      e->other = true;
      for (size_t j = 0; j < k; j++) e->osum[j] = (int64_t)((uint64_t)e->osum[j] + (uint64_t)tot[j]);
      continue;
    }
    ex_puts(&body, ",[");
    ex_i64(&body, name_of(&no, t.n[c].frame));
    ex_putc(&body, ',');
    ex_i64(&body, e->out);
    for (size_t j = 0; j < k; j++) {
      ex_putc(&body, ',');
      ex_i64(&body, t.self[(size_t)c * k + j]);
      ex_putc(&body, ',');
      ex_i64(&body, tot[j]);
    }
    ex_putc(&body, ']');
    if (sn == scap) {
      dfs_ent *q = realloc(st, 2 * scap * sizeof *q);
      if (!q) goto oom;
      st = q;
      scap *= 2;
    }
    ex_tree_sort_kids(&t, c, rank, 0, k > 1, tmp);
    st[sn++] = (dfs_ent){c, nout++, t.koff[c], false, {0, 0}};
  }
  ex_puts(&body, "],\"top\":[");
  int64_t run = 0, total = sd[0].total;
  for (size_t i = 0; i < shown; i++) {
    uint32_t f = top[i].node;
    int64_t fl = flat[f * k], cu = cum[f * k];
    run = (int64_t)((uint64_t)run + (uint64_t)fl);
    ex_puts(&body, i ? ",[" : "[");
    ex_i64(&body, name_of(&no, f));
    ex_putc(&body, ',');
    ex_i64(&body, fl);
    ex_putc(&body, ',');
    ex_pct(&body, fl, total);
    ex_putc(&body, ',');
    ex_pct(&body, run, total);
    ex_putc(&body, ',');
    ex_i64(&body, cu);
    ex_putc(&body, ',');
    ex_pct(&body, cu, total);
    if (k > 1) {
      ex_putc(&body, ',');
      ex_i64(&body, flat[f * k + 1]);
      ex_putc(&body, ',');
      ex_i64(&body, cum[f * k + 1]);
    }
    ex_putc(&body, ']');
  }
  ex_puts(&body, "],\"functions\":");
  ex_i64(&body, (int64_t)nrows);
  ex_puts(&body, "}\n");

  /* Head: header fields and names, then the body. */
  const pp_profile *p = sd[0].p;
  ex_puts(&head, "{\"version\":1,\"sampleTypes\":");
  write_types(&head, p);
  ex_puts(&head, ",\"sampleType\":");
  ex_i64(&head, p->nstypes ? (int64_t)sd[0].vi : -1);
  pp_value_type vt = pp_sample_type(p, sd[0].vi);
  ex_puts(&head, ",\"unit\":");
  ex_json_str(&head, vt.unit, strlen(vt.unit));
  ex_puts(&head, ",\"total\":");
  ex_i64(&head, total);
  pp_value_type pt = pp_period_type(p);
  ex_puts(&head, ",\"periodType\":{\"type\":");
  ex_json_str(&head, pt.type, strlen(pt.type));
  ex_puts(&head, ",\"unit\":");
  ex_json_str(&head, pt.unit, strlen(pt.unit));
  ex_puts(&head, "},\"period\":");
  ex_i64(&head, p->period);
  ex_puts(&head, ",\"durationNanos\":");
  ex_i64(&head, p->duration_nanos);
  ex_puts(&head, ",\"timeNanos\":");
  ex_i64(&head, p->time_nanos);
  char num[64];
  snprintf(num, sizeof num, "%.15g", share);
  ex_puts(&head, ",\"minShare\":");
  ex_puts(&head, num);
  if (k > 1) {
    const pp_profile *bp = sd[1].p;
    ex_puts(&head, ",\"base\":{\"sampleTypes\":");
    write_types(&head, bp);
    ex_puts(&head, ",\"sampleType\":");
    ex_i64(&head, (int64_t)sd[1].vi);
    ex_puts(&head, ",\"total\":");
    ex_i64(&head, sd[1].total);
    ex_puts(&head, ",\"durationNanos\":");
    ex_i64(&head, bp->duration_nanos);
    ex_puts(&head, ",\"timeNanos\":");
    ex_i64(&head, bp->time_nanos);
    ex_putc(&head, '}');
  }
  ex_puts(&head, ",\"names\":[\"all\"");
  for (uint32_t i = 0; i < no.n; i++) {
    size_t len;
    const char *s = ex_frame_name(&F, no.order[i], &len);
    ex_putc(&head, ',');
    ex_json_str(&head, s, len);
  }
  ex_puts(&head, "],");
  if (body.oom) head.oom = true;
  ex_put(&head, body.p, body.len);
  rc = ex_take(&head, out, outlen, err, errlen);
  goto done;
oom:
  rc = pp_err(err, errlen, PP_ENOMEM, "out of memory writing the call tree");
done:
  ex_walk_free(&w);
  ex_buf_free(&head);
  ex_buf_free(&body);
  free(rank);
  free(onpath);
  free(stackfr);
  free(flat);
  free(cum);
  free(tmp);
  free(top);
  free(no.idx);
  free(no.order);
  free(st);
  ex_frames_free(&F);
  ex_tree_free(&t);
  return rc;
}

static int64_t total_of(const pp_profile *p, size_t vi) { return vi < p->nstypes ? pp_total(p, vi) : 0; }

int pp_export_tree(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen, char *err,
                   size_t errlen) {
  if (!p || !out || !outlen) return pp_err(err, errlen, PP_EINVAL, "export: bad arguments");
  *out = NULL;
  *outlen = 0;
  side s = {p, 0, 0};
  int rc = pp_export_value_index(p, opts ? opts->sample_type : NULL, &s.vi, err, errlen);
  if (rc) return rc;
  s.total = total_of(p, s.vi);
  return write_tree(&s, 1, opts, out, outlen, err, errlen);
}

int pp_export_diff(const pp_profile *base, const pp_profile *cur, const pp_export_opts *opts, uint8_t **out,
                   size_t *outlen, char *err, size_t errlen) {
  if (!base || !cur || !out || !outlen) return pp_err(err, errlen, PP_EINVAL, "export: bad arguments");
  *out = NULL;
  *outlen = 0;
  side s[2] = {{cur, 0, 0}, {base, 0, 0}};
  int rc = pp_export_value_index(cur, opts ? opts->sample_type : NULL, &s[0].vi, err, errlen);
  if (rc) return rc;
  pp_value_type want = pp_sample_type(cur, s[0].vi);
  size_t j = 0;
  for (; j < base->nstypes; j++) {
    pp_value_type b = pp_sample_type(base, j);
    if (!strcmp(b.type, want.type) && !strcmp(b.unit, want.unit)) break;
  }
  if (j == base->nstypes || !cur->nstypes)
    return pp_err(err, errlen, PP_EINCOMPATIBLE,
                  "cannot compare: the base profile has no sample type %s/%s (the profiles are of different kinds)",
                  want.type, want.unit);
  s[1].vi = j;
  s[0].total = total_of(cur, s[0].vi);
  s[1].total = total_of(base, j);
  return write_tree(s, 2, opts, out, outlen, err, errlen);
}
