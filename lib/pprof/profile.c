/*
 * profile.c — lifetime, header accessors, comments, totals and `top` of a
 * pp_profile. Everything here reads the flat model directly; nothing
 * allocates except pp_top's result and comment appends.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

const char *pp_strerror(int code) {
  switch (code) {
  case PP_OK: return "ok";
  case PP_ENOMEM: return "out of memory";
  case PP_EMALFORMED: return "malformed";
  case PP_ETOOBIG: return "too big";
  case PP_EINCOMPATIBLE: return "incompatible";
  case PP_EREGEX: return "bad regex";
  case PP_EINVAL: return "invalid argument";
  default: return "unknown error";
  }
}

void pp_free(pp_profile *p) {
  if (!p) return;
  pp_pool_free(&p->sp);
  free(p->stypes);
  free(p->comments);
  free(p->maps);
  free(p->funcs);
  free(p->locs);
  free(p->lines);
  free(p->samples);
  free(p->sloc);
  free(p->values);
  free(p->labels);
  free(p);
}

static pp_value_type vt_out(const pp_profile *p, pp_vt v) {
  pp_value_type r = {pp_pool_str(&p->sp, v.type), pp_pool_str(&p->sp, v.unit)};
  return r;
}

pp_value_type pp_period_type(const pp_profile *p) { return vt_out(p, p->ptype); }
int64_t pp_period(const pp_profile *p) { return p->period; }
int64_t pp_time_nanos(const pp_profile *p) { return p->time_nanos; }
int64_t pp_duration_nanos(const pp_profile *p) { return p->duration_nanos; }
size_t pp_sample_type_count(const pp_profile *p) { return p->nstypes; }

pp_value_type pp_sample_type(const pp_profile *p, size_t i) {
  if (i >= p->nstypes) {
    pp_value_type e = {"", ""};
    return e;
  }
  return vt_out(p, p->stypes[i]);
}

const char *pp_default_sample_type(const pp_profile *p) { return pp_pool_str(&p->sp, p->default_st); }
const char *pp_doc_url(const pp_profile *p) { return pp_pool_str(&p->sp, p->doc_url); }
size_t pp_sample_count(const pp_profile *p) { return p->nsamples; }
size_t pp_location_count(const pp_profile *p) { return p->nlocs; }
size_t pp_function_count(const pp_profile *p) { return p->nfuncs; }
size_t pp_mapping_count(const pp_profile *p) { return p->nmaps; }

int64_t pp_total(const pp_profile *p, size_t vi) {
  if (vi >= p->nstypes) return 0;
  uint64_t t = 0;
  for (size_t i = 0; i < p->nsamples; i++) t += (uint64_t)p->values[i * p->nstypes + vi];
  return (int64_t)t;
}

size_t pp_default_value_index(const pp_profile *p) {
  if (p->nstypes == 0) return 0;
  if (p->default_st) {
    for (size_t i = 0; i < p->nstypes; i++)
      if (p->stypes[i].type == p->default_st) return i;
  }
  return p->nstypes - 1;
}

size_t pp_comment_count(const pp_profile *p) { return p->ncomments; }

const char *pp_comment(const pp_profile *p, size_t i) {
  return i < p->ncomments ? pp_pool_str(&p->sp, p->comments[i]) : "";
}

int pp_add_comment(pp_profile *p, const char *comment) {
  if (!p || !comment) return PP_EINVAL;
  pp_sid s;
  if (pp_pool_intern(&p->sp, comment, strlen(comment), &s)) return PP_ENOMEM;
  if (PP_GROW(p->comments, p->ccomments, p->ncomments + 1)) return PP_ENOMEM;
  p->comments[p->ncomments++] = s;
  return PP_OK;
}

void pp_remove_comments_with_prefix(pp_profile *p, const char *prefix) {
  if (!p || !prefix) return;
  size_t n = strlen(prefix), k = 0;
  for (size_t i = 0; i < p->ncomments; i++) {
    pp_sid s = p->comments[i];
    if (pp_pool_len(&p->sp, s) >= n && memcmp(pp_pool_str(&p->sp, s), prefix, n) == 0) continue;
    p->comments[k++] = s;
  }
  p->ncomments = k;
}

int pp_check_cpu(const pp_profile *p, char *err, size_t errlen) {
  static const char *const want[2][2] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
  bool ok = strcmp(pp_pool_str(&p->sp, p->ptype.type), "cpu") == 0 &&
            strcmp(pp_pool_str(&p->sp, p->ptype.unit), "nanoseconds") == 0 && p->nstypes == 2;
  for (size_t i = 0; ok && i < 2; i++)
    ok = strcmp(pp_pool_str(&p->sp, p->stypes[i].type), want[i][0]) == 0 &&
         strcmp(pp_pool_str(&p->sp, p->stypes[i].unit), want[i][1]) == 0;
  if (ok) return PP_OK;
  char st[512];
  size_t at = 0;
  st[0] = 0;
  for (size_t i = 0; i < p->nstypes && at + 1 < sizeof(st); i++) {
    int k = snprintf(st + at, sizeof(st) - at, "%s%s/%s", i ? "," : "", pp_pool_str(&p->sp, p->stypes[i].type),
                     pp_pool_str(&p->sp, p->stypes[i].unit));
    if (k < 0) break;
    at += (size_t)k;
  }
  return pp_err(err, errlen, PP_EINCOMPATIBLE,
                "profile is not a CPU profile: period type %s/%s, sample types %s (want period type "
                "cpu/nanoseconds, sample types samples/count,cpu/nanoseconds)",
                pp_pool_str(&p->sp, p->ptype.type), pp_pool_str(&p->sp, p->ptype.unit), at ? st : "(none)");
}

/* ---- top ---- */

typedef struct topacc {
  int64_t flat, cum;
  size_t stamp; /* last sample (index + 1) that counted cum */
  int used;
} topacc;

static int top_cmp(const void *a, const void *b) {
  const pp_top_entry *x = a, *y = b;
  if (x->flat != y->flat) return x->flat > y->flat ? -1 : 1;
  return strcmp(x->name, y->name);
}

int pp_top(const pp_profile *p, size_t vi, pp_top_entry **out, size_t *count, char *err, size_t errlen) {
  if (!p || !out || !count) return pp_err(err, errlen, PP_EINVAL, "pp_top: bad arguments");
  *out = NULL;
  *count = 0;
  if (vi >= p->nstypes && p->nsamples)
    return pp_err(err, errlen, PP_EINVAL, "value index %zu out of range (profile has %zu sample types)", vi,
                  p->nstypes);
  /* Functions are aggregated by name (interned, so by string id). */
  topacc *acc = calloc(p->sp.n ? p->sp.n : 1, sizeof(*acc));
  if (!acc) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  size_t nused = 0;
  for (size_t i = 0; i < p->nsamples; i++) {
    const pp_sample *s = &p->samples[i];
    int64_t v = p->values[i * p->nstypes + vi];
    const uint32_t *L = PP_OFF(p->sloc, s->loc_off);
    for (size_t j = 0; j < s->nlocs; j++) {
      const pp_location *l = &p->locs[L[j]];
      const pp_line *ln = PP_OFF(p->lines, l->line_off);
      for (size_t k = 0; k < l->nlines; k++) {
        pp_sid name = p->funcs[ln[k].func].name;
        topacc *a = &acc[name];
        if (!a->used) {
          a->used = 1;
          nused++;
        }
        if (j == 0 && k == 0) a->flat = (int64_t)((uint64_t)a->flat + (uint64_t)v);
        if (a->stamp != i + 1) {
          a->stamp = i + 1;
          a->cum = (int64_t)((uint64_t)a->cum + (uint64_t)v);
        }
      }
    }
  }
  pp_top_entry *e = malloc((nused ? nused : 1) * sizeof(*e));
  if (!e) {
    free(acc);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  size_t n = 0;
  for (size_t s = 0; s < p->sp.n; s++) {
    if (!acc[s].used) continue;
    e[n].name = pp_pool_str(&p->sp, (pp_sid)s);
    e[n].flat = acc[s].flat;
    e[n].cum = acc[s].cum;
    n++;
  }
  free(acc);
  qsort(e, n, sizeof(*e), top_cmp);
  *out = e;
  *count = n;
  return PP_OK;
}
