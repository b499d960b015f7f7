/*
 * kind.c — what kind of profile an upload is, from its sample types, and
 * which of its columns are counters and which gauges.
 *
 * The sample types decide (every protocol's server does the same: Pyroscope
 * and traceway trust them, profefe's type is only a label); a hint from the
 * request may narrow contentions/delay down to mutex or block, and must
 * otherwise agree. The table is small and fixed, so detection compares the
 * profile's sample types against each row as a set.
 */
#include "internal.h"

#include "errbuf.h"

#include <stdio.h>

typedef struct col {
  const char *type, *unit;
  unsigned char gauge;
} col;

typedef struct row {
  ingest_kind kind; /* MUTEX stands for "mutex or block" */
  const char *period_type, *period_unit; /* required period type, or NULL */
  size_t ncols;
  col cols[4];
} row;

static const row rows[] = {
  {INGEST_KIND_CPU, "cpu", "nanoseconds", 2, {{"samples", "count", 0}, {"cpu", "nanoseconds", 0}}},
  {INGEST_KIND_HEAP, NULL, NULL, 4,
   {{"alloc_objects", "count", 0}, {"alloc_space", "bytes", 0}, {"inuse_objects", "count", 1},
    {"inuse_space", "bytes", 1}}},
  {INGEST_KIND_MUTEX, NULL, NULL, 2, {{"contentions", "count", 0}, {"delay", "nanoseconds", 0}}},
  {INGEST_KIND_GOROUTINE, NULL, NULL, 1, {{"goroutine", "count", 1}}},
  {INGEST_KIND_THREADCREATE, NULL, NULL, 1, {{"threadcreate", "count", 0}}},
};

const char *ingest_kind_name(ingest_kind k) {
  switch (k) {
  case INGEST_KIND_CPU: return "cpu";
  case INGEST_KIND_HEAP: return "heap";
  case INGEST_KIND_MUTEX: return "mutex";
  case INGEST_KIND_BLOCK: return "block";
  case INGEST_KIND_GOROUTINE: return "goroutine";
  case INGEST_KIND_THREADCREATE: return "threadcreate";
  default: return "";
  }
}

int ingest_kind_parse(const char *s, ingest_kind *k) {
  if (!s) return INGEST_EINVAL;
  for (int i = INGEST_KIND_CPU; i <= INGEST_KIND_MAX; i++)
    if (strcmp(s, ingest_kind_name((ingest_kind)i)) == 0) {
      *k = (ingest_kind)i;
      return INGEST_OK;
    }
  if (strcmp(s, "allocs") == 0) {
    *k = INGEST_KIND_HEAP;
    return INGEST_OK;
  }
  return INGEST_EINVAL;
}

/* "a/b,c/d" of the profile's sample types into buf. */
static void types_text(const pp_profile *p, char *buf, size_t n) {
  size_t at = 0;
  buf[0] = 0;
  size_t nt = pp_sample_type_count(p);
  for (size_t i = 0; i < nt && at + 1 < n; i++) {
    pp_value_type v = pp_sample_type(p, i);
    int k = snprintf(buf + at, n - at, "%s%.60s/%.60s", i ? "," : "", v.type, v.unit);
    if (k < 0) break;
    at += (size_t)k;
  }
  if (!nt) snprintf(buf, n, "(none)");
}

/* Matches row r as a set; fills gauge flags in the profile's column order. */
static bool match_row(const pp_profile *p, const row *r, unsigned char *gauge) {
  size_t nt = pp_sample_type_count(p);
  if (nt != r->ncols) return false;
  if (r->period_type) {
    pp_value_type pt = pp_period_type(p);
    if (strcmp(pt.type, r->period_type) != 0 || strcmp(pt.unit, r->period_unit) != 0) return false;
  }
  unsigned used = 0;
  for (size_t i = 0; i < nt; i++) {
    pp_value_type v = pp_sample_type(p, i);
    size_t j = 0;
    for (; j < r->ncols; j++)
      if (!(used & (1u << j)) && strcmp(v.type, r->cols[j].type) == 0 && strcmp(v.unit, r->cols[j].unit) == 0) break;
    if (j == r->ncols) return false;
    used |= 1u << j;
    gauge[i] = r->cols[j].gauge;
  }
  return true;
}

int ingest_kind_detect(const pp_profile *p, ingest_kind hint, ingest_kind_info *out, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  char types[512];
  const row *hit = NULL;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0] && !hit; i++)
    if (match_row(p, &rows[i], out->gauge)) hit = &rows[i];
  if (!hit) {
    types_text(p, types, sizeof types);
    memset(out, 0, sizeof(*out));
    errbuf_set(err, errlen,
               "unsupported profile kind: sample types %s (want the sample types of a cpu, heap, mutex, block, "
               "goroutine or threadcreate profile)",
               types);
    return INGEST_EKIND;
  }
  ingest_kind k = hit->kind;
  bool contention = k == INGEST_KIND_MUTEX;
  if (contention) {
    if (hint == INGEST_KIND_MUTEX || hint == INGEST_KIND_BLOCK) k = hint;
    else if (hint == INGEST_KIND_NONE) {
      memset(out, 0, sizeof(*out));
      errbuf_set(err, errlen,
                 "a contentions/delay profile is a mutex or a block profile: only a kind hint tells them apart, "
                 "and there is none");
      return INGEST_EKIND;
    }
  }
  if (hint != INGEST_KIND_NONE && hint != k) {
    types_text(p, types, sizeof types);
    memset(out, 0, sizeof(*out));
    errbuf_set(err, errlen, "kind hint \"%s\" contradicts the profile's sample types %s (a %s profile)",
               ingest_kind_name(hint), types, contention ? "mutex or block" : ingest_kind_name(k));
    return INGEST_EKIND;
  }
  out->kind = k;
  out->ncols = hit->ncols;
  return INGEST_OK;
}

void ingest_kind_factors(const ingest_kind_info *ki, int64_t counter_factor, int64_t gauge_factor,
                         int64_t *factors) {
  for (size_t i = 0; i < ki->ncols && i < INGEST_MAX_COLUMNS; i++)
    factors[i] = ki->gauge[i] ? gauge_factor : counter_factor;
}
