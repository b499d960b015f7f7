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

/* One tree JSON being written: the call tree of its sides and what the
 * steps below compute from it. */
typedef struct tree_job {
  const side *sd;
  size_t k; /* sides: 1, or 2 for a diff */
  double share;
  ex_frames F;
  ex_tree t;
  uint32_t *rank;   /* per frame: its order by name */
  ex_sortkey *tmp;  /* room for the widest node's children */
  names_out no;     /* the "names" table */
  int64_t *flat;    /* per frame × k: the top table's flat values */
  int64_t *cum;     /* per frame × k: its cumulative values */
  ex_sortkey *top;  /* the top table's rows, sorted */
  size_t nrows;
} tree_job;

static void job_free(tree_job *j) {
  free(j->rank);
  free(j->tmp);
  free(j->no.idx);
  free(j->no.order);
  free(j->flat);
  free(j->cum);
  free(j->top);
  ex_frames_free(&j->F);
  ex_tree_free(&j->t);
}

/* The call tree of every side, slot s for side s. */
static int job_build(tree_job *j, char *err, size_t errlen) {
  memset(&j->t, 0, sizeof j->t);
  if (ex_frames_init(&j->F, EX_BY_NAME) || ex_tree_init(&j->t, j->k)) {
    ex_frames_free(&j->F);
    ex_tree_free(&j->t);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  int rc = PP_OK;
  for (size_t s = 0; s < j->k && rc == PP_OK; s++) {
    ex_pmap m;
    if ((rc = ex_pmap_build(&j->F, j->sd[s].p, &m, err, errlen))) break;
    rc = ex_tree_add(&j->t, &m, &j->sd[s].vi, 1, s, err, errlen);
    ex_pmap_free(&m);
  }
  if (rc == PP_OK) rc = ex_tree_finish(&j->t, err, errlen);
  return rc;
}

/* The per-frame tables of the steps below; false when out of memory. */
static bool job_alloc(tree_job *j) {
  size_t nf = j->F.n ? j->F.n : 1;
  j->flat = calloc(nf * j->k, sizeof *j->flat);
  j->cum = calloc(nf * j->k, sizeof *j->cum);
  j->no.idx = malloc(nf * sizeof *j->no.idx);
  j->no.order = malloc(nf * sizeof *j->no.order);
  j->tmp = malloc((ex_tree_max_kids(&j->t) + 1) * sizeof *j->tmp);
  if (!j->flat || !j->cum || !j->no.idx || !j->no.order || !j->tmp || ex_frames_rank(&j->F, NULL, &j->rank))
    return false;
  for (size_t i = 0; i < j->F.n; i++) j->no.idx[i] = UINT32_MAX;
  return true;
}

/* Top table: flat and cum per name over the whole tree. A node adds its
 * total to its name's cum only when no ancestor has the same name, so
 * recursion counts each sample once. onpath[] tracks the current path.
 * False when out of memory. */
static bool top_sums(tree_job *j) {
  const ex_tree *t = &j->t;
  size_t k = j->k;
  ex_walk w = {0};
  bool oom = false;
  size_t sdepth = 0, scap = 64;
  uint32_t *onpath = calloc(j->F.n ? j->F.n : 1, sizeof *onpath);
  uint32_t *stackfr = malloc(scap * sizeof *stackfr);
  if (!onpath || !stackfr || ex_walk_init(&w, t)) oom = true;
  for (uint32_t n; !oom && (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
    if (n == 0) continue;
    while (sdepth >= w.depth) onpath[stackfr[--sdepth]]--;
    uint32_t fr = t->n[n].frame;
    if (sdepth == scap) {
      uint32_t *q = realloc(stackfr, 2 * scap * sizeof *q);
      if (!q) {
        oom = true;
        break;
      }
      stackfr = q;
      scap *= 2;
    }
    for (size_t i = 0; i < k; i++) {
      int64_t *fl = &j->flat[fr * k + i], *cu = &j->cum[fr * k + i];
      *fl = (int64_t)((uint64_t)*fl + (uint64_t)t->self[(size_t)n * k + i]);
      if (!onpath[fr]) *cu = (int64_t)((uint64_t)*cu + (uint64_t)t->total[(size_t)n * k + i]);
    }
    onpath[fr]++;
    stackfr[sdepth++] = fr;
  }
  ex_walk_free(&w);
  free(onpath);
  free(stackfr);
  return !oom;
}

/* The top table's rows: the names with a value, by decreasing |flat| (of
 * the current profile), then name. False when out of memory. */
static bool top_rows(tree_job *j) {
  size_t k = j->k;
  j->top = malloc((j->F.n ? j->F.n : 1) * sizeof *j->top);
  if (!j->top) return false;
  j->nrows = 0;
  for (size_t f = 0; f < j->F.n; f++) {
    bool any = false;
    for (size_t i = 0; i < k; i++) any |= j->flat[f * k + i] != 0 || j->cum[f * k + i] != 0;
    if (any) j->top[j->nrows++] = (ex_sortkey){UINT64_MAX - ex_uabs(j->flat[f * k]), j->rank[f], 0, (uint32_t)f};
  }
  qsort(j->top, j->nrows, sizeof *j->top, ex_sortkey_cmp);
  return true;
}

typedef struct dfs_ent {
  uint32_t node;
  uint32_t out;  /* output index */
  uint32_t next; /* next child position */
  bool other;
  int64_t osum[2];
} dfs_ent;

/* One node of "nodes": [name, parent, self, total (, base self, base total)]. */
static void put_node(ex_buf *b, int64_t name, int64_t parent, const int64_t *self, const int64_t *tot, size_t k) {
  ex_puts(b, ",[");
  ex_i64(b, name);
  ex_putc(b, ',');
  ex_i64(b, parent);
  for (size_t i = 0; i < k; i++) {
    ex_putc(b, ',');
    ex_i64(b, self[i]);
    ex_putc(b, ',');
    ex_i64(b, tot[i]);
  }
  ex_putc(b, ']');
}

/* Nodes: depth-first over the kept part; collapsed children are summed
 * into their parent's "other" node, written after the kept children.
 * False when out of memory. */
static bool write_nodes(tree_job *j, ex_buf *body) {
  ex_tree *t = &j->t;
  size_t k = j->k;
  double thr[2];
  for (size_t i = 0; i < k; i++) thr[i] = j->share * (double)ex_uabs(j->sd[i].total);
  size_t scap = 64, sn = 0;
  dfs_ent *st = malloc(scap * sizeof *st);
  if (!st) return false;
  uint32_t nout = 0;
  ex_puts(body, "\"nodes\":[[0,-1");
  for (size_t i = 0; i < k; i++) {
    ex_putc(body, ',');
    ex_i64(body, t->self[i]);
    ex_putc(body, ',');
    ex_i64(body, t->total[i]);
  }
  ex_putc(body, ']');
  st[sn++] = (dfs_ent){0, nout++, t->koff[0], false, {0, 0}};
  ex_tree_sort_kids(t, 0, j->rank, 0, k > 1, j->tmp);
  while (sn > 0) {
    dfs_ent *e = &st[sn - 1];
    if (e->next == t->koff[e->node + 1]) {
      if (e->other) {
        put_node(body, -1, e->out, e->osum, e->osum, k);
        nout++;
      }
      sn--;
      continue;
    }
    uint32_t c = t->kids[e->next++];
    const int64_t *tot = t->total + (size_t)c * k;
    bool keep = false;
    for (size_t i = 0; i < k; i++) keep |= (double)ex_uabs(tot[i]) >= thr[i];
    if (!keep) {
      e->other = true;
      for (size_t i = 0; i < k; i++) e->osum[i] = (int64_t)((uint64_t)e->osum[i] + (uint64_t)tot[i]);
      continue;
    }
    put_node(body, name_of(&j->no, t->n[c].frame), e->out, t->self + (size_t)c * k, tot, k);
    if (sn == scap) {
      dfs_ent *q = realloc(st, 2 * scap * sizeof *q);
      if (!q) {
        free(st);
        return false;
      }
      st = q;
      scap *= 2;
    }
    ex_tree_sort_kids(t, c, j->rank, 0, k > 1, j->tmp);
    st[sn++] = (dfs_ent){c, nout++, t->koff[c], false, {0, 0}};
  }
  free(st);
  return true;
}

/* The first `shown` rows of "top": [name, flat, flat%, running flat%, cum,
 * cum% (, base flat, base cum)]. */
static void write_top(tree_job *j, ex_buf *body, size_t shown) {
  size_t k = j->k;
  int64_t run = 0, total = j->sd[0].total;
  for (size_t i = 0; i < shown; i++) {
    uint32_t f = j->top[i].node;
    int64_t fl = j->flat[f * k], cu = j->cum[f * k];
    run = (int64_t)((uint64_t)run + (uint64_t)fl);
    ex_puts(body, i ? ",[" : "[");
    ex_i64(body, name_of(&j->no, f));
    ex_putc(body, ',');
    ex_i64(body, fl);
    ex_putc(body, ',');
    ex_pct(body, fl, total);
    ex_putc(body, ',');
    ex_pct(body, run, total);
    ex_putc(body, ',');
    ex_i64(body, cu);
    ex_putc(body, ',');
    ex_pct(body, cu, total);
    if (k > 1) {
      ex_putc(body, ',');
      ex_i64(body, j->flat[f * k + 1]);
      ex_putc(body, ',');
      ex_i64(body, j->cum[f * k + 1]);
    }
    ex_putc(body, ']');
  }
}

/* The header fields (sample types, totals, the base of a diff) and the
 * names, up to and including the "names" array. */
static void write_head(const tree_job *j, ex_buf *head) {
  const side *sd = j->sd;
  const pp_profile *p = sd[0].p;
  ex_puts(head, "{\"version\":1,\"sampleTypes\":");
  write_types(head, p);
  ex_puts(head, ",\"sampleType\":");
  ex_i64(head, p->nstypes ? (int64_t)sd[0].vi : -1);
  pp_value_type vt = pp_sample_type(p, sd[0].vi);
  ex_puts(head, ",\"unit\":");
  ex_json_str(head, vt.unit, strlen(vt.unit));
  ex_puts(head, ",\"total\":");
  ex_i64(head, sd[0].total);
  pp_value_type pt = pp_period_type(p);
  ex_puts(head, ",\"periodType\":{\"type\":");
  ex_json_str(head, pt.type, strlen(pt.type));
  ex_puts(head, ",\"unit\":");
  ex_json_str(head, pt.unit, strlen(pt.unit));
  ex_puts(head, "},\"period\":");
  ex_i64(head, p->period);
  ex_puts(head, ",\"durationNanos\":");
  ex_i64(head, p->duration_nanos);
  ex_puts(head, ",\"timeNanos\":");
  ex_i64(head, p->time_nanos);
  char num[64];
  snprintf(num, sizeof num, "%.15g", j->share);
  ex_puts(head, ",\"minShare\":");
  ex_puts(head, num);
  if (j->k > 1) {
    const pp_profile *bp = sd[1].p;
    ex_puts(head, ",\"base\":{\"sampleTypes\":");
    write_types(head, bp);
    ex_puts(head, ",\"sampleType\":");
    ex_i64(head, (int64_t)sd[1].vi);
    ex_puts(head, ",\"total\":");
    ex_i64(head, sd[1].total);
    ex_puts(head, ",\"durationNanos\":");
    ex_i64(head, bp->duration_nanos);
    ex_puts(head, ",\"timeNanos\":");
    ex_i64(head, bp->time_nanos);
    ex_putc(head, '}');
  }
  ex_puts(head, ",\"names\":[\"all\"");
  for (uint32_t i = 0; i < j->no.n; i++) {
    size_t len;
    const char *s = ex_frame_name(&j->F, j->no.order[i], &len);
    ex_putc(head, ',');
    ex_json_str(head, s, len);
  }
  ex_puts(head, "],");
}

static int write_tree(const side *sd, size_t nsides, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen) {
  double share = opts ? opts->min_share : 0;
  if (!(share >= 0 && share <= 1))
    return pp_err(err, errlen, PP_EINVAL, "the share under which nodes are collapsed must be from 0 to 1, not %g",
                  share);
  tree_job j = {.sd = sd, .k = nsides, .share = share};
  int rc = job_build(&j, err, errlen);
  if (rc) {
    job_free(&j);
    return rc;
  }
  ex_buf head = {0}, body = {0};
  if (!job_alloc(&j) || !top_sums(&j) || !top_rows(&j) || !write_nodes(&j, &body)) {
    rc = pp_err(err, errlen, PP_ENOMEM, "out of memory writing the call tree");
  } else {
    size_t shown = opts && opts->max_top && opts->max_top < j.nrows ? opts->max_top : j.nrows;
    ex_puts(&body, "],\"top\":[");
    write_top(&j, &body, shown);
    ex_puts(&body, "],\"functions\":");
    ex_i64(&body, (int64_t)j.nrows);
    ex_puts(&body, "}\n");
    /* the head (header fields and the names the body used), then the body */
    write_head(&j, &head);
    if (body.oom) head.oom = true;
    ex_put(&head, body.p, body.len);
    rc = ex_take(&head, out, outlen, err, errlen);
  }
  ex_buf_free(&head);
  ex_buf_free(&body);
  job_free(&j);
  return rc;
}

static int64_t total_of(const pp_profile *p, size_t vi) { return vi < p->nstypes ? pp_total(p, vi) : 0; }

int pp_export_tree(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen, char *err,
                   size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  side s = {p, 0, 0};
  int rc = pp_export_value_index(p, opts ? opts->sample_type : NULL, &s.vi, err, errlen);
  if (rc) return rc;
  s.total = total_of(p, s.vi);
  return write_tree(&s, 1, opts, out, outlen, err, errlen);
}

int pp_export_diff(const pp_profile *base, const pp_profile *cur, const pp_export_opts *opts, uint8_t **out,
                   size_t *outlen, char *err, size_t errlen) {
  if (!base) return pp_err(err, errlen, PP_EINVAL, "export: bad arguments");
  if (ex_out_init(cur, out, outlen, err, errlen)) return PP_EINVAL;
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

