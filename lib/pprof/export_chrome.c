/*
 * export_chrome.c — format=chrome: a Chrome DevTools .cpuprofile (CPU
 * profiles only): the call tree's nodes in preorder with their hit counts,
 * then one sample id per hit (scaled down to max_samples when there are
 * more) and the time between samples spread evenly over the profile's CPU
 * time (export.h).
 */
#include "export_internal.h"

#include <stdio.h>
#include <stdlib.h>

typedef unsigned __int128 u128;

/* floor(a × b / c) for c > 0, without overflow for a, b < 2^64. */
static uint64_t muldiv(u128 a, uint64_t b, u128 c) { return (uint64_t)(a * b / c); }

/* One .cpuprofile being written: the call tree and its preorder. */
typedef struct chrome_job {
  const pp_profile *p;
  ex_frames F;
  ex_tree t;
  uint32_t *order;  /* order[pos] = the node at preorder position pos */
  uint32_t *id;     /* id[node] = 1 + its position */
  uint64_t *emit;   /* per position: the samples written for the node */
  uint32_t *script; /* per file string: its scriptId, 0 = none yet */
  size_t pos;       /* nodes numbered */
  u128 hits;        /* the sum of every node's hits */
  uint64_t nsamp;   /* the sum of emit[] */
} chrome_job;

/* The sample types the format reads: *ci samples/count (required), *ti
 * cpu/nanoseconds (SIZE_MAX when absent); PP_EINCOMPATIBLE without a CPU
 * profile's types. */
static int chrome_types(const pp_profile *p, size_t *ci, size_t *ti, char *err, size_t errlen) {
  *ci = *ti = SIZE_MAX;
  for (size_t i = 0; i < p->nstypes; i++) {
    const char *ty = pp_pool_str(&p->sp, p->stypes[i].type), *un = pp_pool_str(&p->sp, p->stypes[i].unit);
    if (*ci == SIZE_MAX && !strcmp(ty, "samples") && !strcmp(un, "count")) *ci = i;
    if (*ti == SIZE_MAX && !strcmp(ty, "cpu") && !strcmp(un, "nanoseconds")) *ti = i;
  }
  if (*ci == SIZE_MAX || strcmp(pp_pool_str(&p->sp, p->ptype.unit), "nanoseconds"))
    return pp_err(err, errlen, PP_EINCOMPATIBLE,
                  "the chrome format needs a CPU profile (sample type samples/count, period in nanoseconds); "
                  "this one has period type %s/%s and %zu sample types",
                  pp_pool_str(&p->sp, p->ptype.type), pp_pool_str(&p->sp, p->ptype.unit), p->nstypes);
  return PP_OK;
}

/* Preorder numbering of the nodes (order, id) and the sum of their hits. */
static int number_nodes(chrome_job *j, char *err, size_t errlen) {
  const ex_tree *t = &j->t;
  ex_walk w = {0};
  bool oom = false;
  j->order = malloc(t->nn * sizeof *j->order);
  j->id = malloc(t->nn * sizeof *j->id);
  j->emit = malloc(t->nn * sizeof *j->emit);
  j->script = calloc(j->p->sp.n ? j->p->sp.n : 1, sizeof *j->script);
  if (!j->order || !j->id || !j->emit || !j->script || ex_walk_init(&w, t))
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
    if (t->self[n] < 0) {
      ex_walk_free(&w);
      return pp_err(err, errlen, PP_EINVAL,
                    "the chrome format cannot show negative sample counts (is this a difference of profiles?)");
    }
    j->order[j->pos] = n;
    j->id[n] = (uint32_t)++j->pos;
    j->hits += (uint64_t)t->self[n];
  }
  ex_walk_free(&w);
  return oom ? pp_err(err, errlen, PP_ENOMEM, "out of memory") : PP_OK;
}

/* Samples per node: all hits, or scaled to max_samples with the rounding
 * carried along the preorder (cumulative floor), so the sum is exact. */
static void scale_hits(chrome_job *j, uint64_t maxs) {
  if (maxs > UINT32_MAX) maxs = UINT32_MAX; /* keeps the scaling's products within 128 bits */
  u128 cum = 0;
  uint64_t prev = 0;
  j->nsamp = 0;
  for (size_t i = 0; i < j->pos; i++) {
    uint64_t h = (uint64_t)j->t.self[j->order[i]];
    if (j->hits <= maxs) {
      j->emit[i] = h;
    } else {
      cum += h;
      uint64_t now = muldiv(cum, maxs, j->hits);
      j->emit[i] = now - prev;
      prev = now;
    }
    j->nsamp += j->emit[i];
  }
}

/* The profile's CPU time in microseconds: the cpu/nanoseconds total when
 * there is one (ti), else hits × period; capped at INT64_MAX / 2. */
static int64_t cpu_micros(const pp_profile *p, size_t ti, u128 hits) {
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
  return (int64_t)us;
}

/* A node's "callFrame" object (without the key). */
static void write_call_frame(chrome_job *j, ex_buf *b, uint32_t n, uint32_t *nscripts) {
  const pp_profile *p = j->p;
  if (n == 0) {
    ex_puts(b, "\"(root)\",\"scriptId\":\"0\",\"url\":\"\",\"lineNumber\":-1,\"columnNumber\":-1}");
    return;
  }
  const ex_frame *f = &j->F.f[j->t.n[n].frame];
  size_t len;
  const char *s = ex_frame_name(&j->F, j->t.n[n].frame, &len);
  ex_json_str(b, s, len);
  ex_puts(b, ",\"scriptId\":\"");
  size_t flen = f->file ? pp_pool_len(&p->sp, f->file) : 0;
  if (flen) {
    if (!j->script[f->file]) j->script[f->file] = ++*nscripts;
    ex_i64(b, j->script[f->file]);
  } else {
    ex_putc(b, '0');
  }
  ex_puts(b, "\",\"url\":");
  ex_json_str(b, flen ? pp_pool_str(&p->sp, f->file) : "", flen);
  ex_puts(b, ",\"lineNumber\":");
  ex_i64(b, f->line > 0 ? f->line - 1 : -1);
  ex_puts(b, f->line > 0 ? ",\"columnNumber\":0}" : ",\"columnNumber\":-1}");
}

/* "nodes": every node in preorder with its id, call frame, hit count and
 * children's ids. */
static void write_nodes(chrome_job *j, ex_buf *b) {
  const ex_tree *t = &j->t;
  uint32_t nscripts = 0;
  ex_puts(b, "{\"nodes\":[");
  for (size_t i = 0; i < j->pos; i++) {
    uint32_t n = j->order[i];
    ex_puts(b, i ? ",{\"id\":" : "{\"id\":");
    ex_i64(b, j->id[n]);
    ex_puts(b, ",\"callFrame\":{\"functionName\":");
    write_call_frame(j, b, n, &nscripts);
    ex_puts(b, ",\"hitCount\":");
    ex_i64(b, (int64_t)j->emit[i]);
    if (t->koff[n + 1] > t->koff[n]) {
      ex_puts(b, ",\"children\":[");
      for (uint32_t c = t->koff[n]; c < t->koff[n + 1]; c++) {
        if (c > t->koff[n]) ex_putc(b, ',');
        ex_i64(b, j->id[t->kids[c]]);
      }
      ex_putc(b, ']');
    }
    ex_putc(b, '}');
  }
  ex_puts(b, "]");
}

/* "samples" (a node's id once per sample, in preorder) and "timeDeltas"
 * (us microseconds spread evenly over the samples). */
static void write_samples(const chrome_job *j, ex_buf *b, int64_t us) {
  ex_puts(b, ",\"samples\":[");
  bool first = true;
  for (size_t i = 0; i < j->pos && !b->oom; i++) {
    char num[16];
    int nl = snprintf(num, sizeof num, "%s%u", ",", (unsigned)j->id[j->order[i]]);
    for (uint64_t k = 0; k < j->emit[i]; k++) {
      ex_put(b, first ? num + 1 : num, first ? (size_t)nl - 1 : (size_t)nl);
      first = false;
    }
  }
  ex_puts(b, "],\"timeDeltas\":[");
  uint64_t prev = 0;
  for (uint64_t k = 1; k <= j->nsamp && !b->oom; k++) {
    uint64_t now = muldiv(k, (uint64_t)us, j->nsamp);
    if (k > 1) ex_putc(b, ',');
    ex_i64(b, (int64_t)(now - prev));
    prev = now;
  }
  ex_puts(b, "]");
}

int pp_export_chrome(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  size_t ci, ti;
  int rc = chrome_types(p, &ci, &ti, err, errlen);
  if (rc) return rc;
  chrome_job j = {.p = p};
  if ((rc = ex_build_one(p, EX_BY_FRAME, &ci, 1, &j.F, &j.t, err, errlen))) return rc;
  ex_buf b = {0};
  if ((rc = ex_sort_by_rank(&j.t, &j.F, p, err, errlen)) || (rc = number_nodes(&j, err, errlen))) goto done;
  scale_hits(&j, opts && opts->max_samples ? opts->max_samples : PP_EXPORT_CHROME_MAX_SAMPLES);
  int64_t us = cpu_micros(p, ti, j.hits);
  int64_t start = p->time_nanos > 0 ? p->time_nanos / 1000 : 0;
  if (start > INT64_MAX / 2) start = 0;
  write_nodes(&j, &b);
  ex_puts(&b, ",\"startTime\":");
  ex_i64(&b, start);
  ex_puts(&b, ",\"endTime\":");
  ex_i64(&b, start + us);
  write_samples(&j, &b, us);
  ex_puts(&b, "}\n");
  rc = ex_take(&b, out, outlen, err, errlen);
done:
  free(j.order);
  free(j.id);
  free(j.emit);
  free(j.script);
  ex_buf_free(&b);
  ex_frames_free(&j.F);
  ex_tree_free(&j.t);
  return rc;
}
