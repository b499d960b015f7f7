/*
 * delta.c — the stateless delta of old Pyroscope clients (pyroscope-io/
 * client up to v0.4), which send each cumulative snapshot together with the
 * previous one (`prev_profile`). The delta is profile - prev_profile on the
 * cumulative columns, computed as Go's tools compute it: the previous
 * snapshot scaled by -1 on those columns (and 0 on the others, so the
 * in-use gauges come from `profile` alone), merged after `profile`.
 *
 * A value that went down means the process restarted between the two
 * snapshots; the newer one then counts from zero, as it does for the
 * per-instance deltas of cumulative sources.
 */
#include "internal.h"

#include "errbuf.h"

#include <stdio.h>

static int decode(const char *what, const uint8_t *b, size_t n, const pp_limits *lim, pp_profile **out, char *err,
                  size_t errlen) {
  char e[512];
  int rc = pp_decode(b, n, lim, out, e, sizeof e);
  if (rc) {
    errbuf_set(err, errlen, "%s: %s", what, e);
    return ing_from_pp(rc);
  }
  return INGEST_OK;
}

int ingest_prev_delta(const uint8_t *profile, size_t plen, const uint8_t *prev, size_t prevlen,
                      const pp_limits *lim, const ingest_stc *stc, pp_profile **out, int *reset, char *err,
                      size_t errlen) {
  *out = NULL;
  *reset = 0;
  pp_profile *cur = NULL, *old = NULL;
  int rc = decode("profile", profile, plen, lim, &cur, err, errlen);
  if (!rc) rc = decode("prev_profile", prev, prevlen, lim, &old, err, errlen);
  if (rc) {
    pp_free(cur);
    return rc;
  }
  size_t nt = pp_sample_type_count(cur);
  if (nt != pp_sample_type_count(old) || nt > INGEST_MAX_COLUMNS) {
    pp_free(cur);
    pp_free(old);
    errbuf_set(err, errlen, "prev_profile: its sample types differ from the profile's");
    return INGEST_EKIND;
  }
  int64_t factors[INGEST_MAX_COLUMNS];
  int cumulative[INGEST_MAX_COLUMNS];
  for (size_t i = 0; i < nt; i++) {
    cumulative[i] = ingest_stc_cumulative(stc, pp_sample_type(cur, i).type);
    factors[i] = cumulative[i] ? -1 : 0;
  }
  int64_t t_cur = pp_time_nanos(cur), t_old = pp_time_nanos(old);
  char e[512];
  pp_merger *m = pp_merger_new();
  pp_profile *res = NULL;
  if (!m) {
    pp_free(cur);
    pp_free(old);
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  int prc = pp_scale_columns(old, factors, nt, e, sizeof e);
  if (!prc) prc = pp_merger_add(m, cur, e, sizeof e);
  else pp_free(cur);
  if (!prc) prc = pp_merger_add(m, old, e, sizeof e);
  else pp_free(old);
  if (!prc) prc = pp_merger_finish(m, &res, e, sizeof e);
  pp_merger_free(m);
  if (prc) {
    errbuf_set(err, errlen, "prev_profile: %s", e);
    return ing_from_pp(prc);
  }
  int went_down = 0;
  for (size_t i = 0; i < nt && !went_down; i++) went_down = cumulative[i] && pp_column_min(res, i) < 0;
  if (went_down) {
    pp_free(res);
    *reset = 1;
    return decode("profile", profile, plen, lim, out, err, errlen);
  }
  /* The delta spans from the previous snapshot to this one; times before
   * 1970 (a hostile or broken prev_profile) are not believed, and with both
   * positive the difference cannot overflow. */
  if (t_old > 0 && t_cur > t_old) pp_set_time(res, t_old, t_cur - t_old);
  *out = res;
  return INGEST_OK;
}
