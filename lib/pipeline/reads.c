/*
 * reads.c — the rules of GET /api/profile/{app} (see reads.h): parameters,
 * the source, the representation, and serving through the output cache.
 *
 * Serving one read, in order:
 *   1. stat the source: its ETag names the version (404 / 503 here);
 *   2. If-None-Match against the answer's ETag: 304 after that one stat;
 *   3. the output from the cache, keyed by (source, version, format, keep,
 *      encoding), made on a miss:
 *        pprof           the source's bytes (one blob_get);
 *        pgo/preprofile  pp_pgo_convert of the pprof output;
 *        other formats   pp_decode of the pprof output, then the format's
 *                        writer from the export table;
 *        gzip encoding   pp_gzip of the identity output.
 *      Each step asks the cache for the step before, so converting several
 *      formats of one version reads the source once, and concurrent first
 *      requests for one output run one conversion (single-flight).
 * The version in an answer (ETag, Last-Modified) is always that of the
 * bytes served: when the source changed between the stat and the read, the
 * output carries the newer version it was made from.
 */
#include "reads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chrono.h"
#include "errbuf.h"
#include "history.h"
#include "pgo.h"

/* ---- parameters ---- */

/* "cpu, heap, mutex, ..." */
static void kind_names(char *buf, size_t n) {
  size_t off = 0;
  buf[0] = '\0';
  for (int k = 0; k < LAYOUT_KIND_COUNT && off < n; k++)
    off += (size_t)snprintf(buf + off, n - off, "%s%s", k ? ", " : "", layout_kind_name((layout_kind)k));
}

/* "pprof, folded, ..." */
static void format_names(char *buf, size_t n) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < pp_export_format_count() && off < n; i++)
    off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", pp_export_format_at(i)->name);
}

int reads_parse(const char *app, const reads_params *p, reads_request *out, char *err, size_t errlen) {
  static const reads_params none = {NULL, NULL, NULL, NULL, NULL};
  char names[256];
  if (!p) p = &none;
  memset(out, 0, sizeof *out);
  if (!app || !layout_app_valid(app)) {
    errbuf_set(err, errlen, "invalid app name \"%.80s\": want 1 to 63 characters of a-z, 0-9 and '-'",
               app ? app : "");
    return -1;
  }
  layout_kind kind = LAYOUT_KIND_CPU;
  if (p->kind) {
    kind = layout_kind_parse(p->kind);
    if (kind == LAYOUT_KIND_NONE) {
      kind_names(names, sizeof names);
      errbuf_set(err, errlen, "unknown kind \"%.40s\": want one of %s", p->kind, names);
      return -1;
    }
  }
  const pp_export_format *f = pp_export_format_find(p->format ? p->format : "pprof");
  if (!f) {
    format_names(names, sizeof names);
    errbuf_set(err, errlen, "unknown format \"%.40s\": want one of %s", p->format, names);
    return -1;
  }
  unsigned keep = 0;
  if (f->reads & PP_EXPORT_READS_KEEP) {
    keep = PP_PGO_DEFAULT_KEEP;
    if (p->keep) {
      char perr[256];
      if (pp_pgo_keep_parse(p->keep, &keep, perr, sizeof perr) != 0) {
        errbuf_set(err, errlen, "keep: %s", perr);
        return -1;
      }
    }
  } else if (p->keep) {
    errbuf_set(err, errlen, "keep applies to format=pgo only, not format=%s", f->name);
    return -1;
  }
  memcpy(out->source.app, app, strlen(app) + 1);
  out->source.kind = kind;
  if (p->from || p->to) {
    if (history_parse_range(p->from, p->to, &out->source.from_hour, &out->source.to_hour, err, errlen) != 0)
      return -1;
    char prefix[LAYOUT_KEY_BUF], fh[16], th[16];
    if (layout_hours_prefix(app, kind, prefix, sizeof prefix) != 0 ||
        layout_hour_format(out->source.from_hour, fh, sizeof fh) != 0 ||
        layout_hour_format(out->source.to_hour, th, sizeof th) != 0) {
      errbuf_set(err, errlen, "from and to must lie between 1970 and 9999");
      return -1;
    }
    out->source.type = READS_SOURCE_RANGE;
    int w = snprintf(out->source.key, sizeof out->source.key, "%s%s-%s", prefix, fh, th);
    if (w < 0 || (size_t)w >= sizeof out->source.key) {
      errbuf_set(err, errlen, "invalid app name \"%.80s\"", app);
      return -1;
    }
  } else {
    out->source.type = READS_SOURCE_BASE;
    if (layout_kind_base_key(app, kind, out->source.key, sizeof out->source.key) != 0) {
      errbuf_set(err, errlen, "invalid app name \"%.80s\"", app);
      return -1;
    }
  }
  out->format = f;
  out->keep = keep;
  return 0;
}

/* ---- the source ---- */

/* The BLOB_* code of a HISTORY_* code (see reads_source_load). */
static int blob_code_of(int hrc) {
  switch (hrc) {
  case HISTORY_OK: return BLOB_OK;
  case HISTORY_ENOTFOUND: return BLOB_ENOTFOUND;
  case HISTORY_ESTORE: return BLOB_ERETRY;
  case HISTORY_ENOMEM: return BLOB_ENOMEM;
  default: return BLOB_EINVAL;
  }
}

int reads_source_stat(blob_store *blob, const reads_source *src, blob_info *version, char *err, size_t errlen) {
  switch (src->type) {
  case READS_SOURCE_BASE:
    return blob_stat(blob, src->key, version, err, errlen);
  case READS_SOURCE_RANGE: {
    history_bucket *b = NULL;
    size_t n = 0;
    int rc = history_buckets(blob, src->app, src->kind, src->from_hour, src->to_hour, &b, &n, err, errlen);
    if (rc != HISTORY_OK) return blob_code_of(rc);
    if (n == 0) {
      char f[40], t[40];
      chrono_format_rfc3339(src->from_hour * 3600 * 1000, 0, f, sizeof f);
      chrono_format_rfc3339(src->to_hour * 3600 * 1000, 0, t, sizeof t);
      errbuf_set(err, errlen, "no %s profile of app %s between %s and %s: no upload of that kind was merged in those hours",
                 layout_kind_name(src->kind), src->app, f, t);
      return BLOB_ENOTFOUND;
    }
    history_range_version(b, n, version);
    free(b);
    return BLOB_OK;
  }
  }
  errbuf_set(err, errlen, "unknown read source");
  return BLOB_EINVAL;
}

int reads_source_load(blob_store *blob, const reads_source *src, size_t max_bytes, uint8_t **data,
                      size_t *len, blob_info *version, char *err, size_t errlen) {
  switch (src->type) {
  case READS_SOURCE_BASE:
    return blob_get(blob, src->key, max_bytes, data, len, version, err, errlen);
  case READS_SOURCE_RANGE: {
    pp_limits lim = {.max_input_bytes = max_bytes};
    pp_profile *p = NULL;
    int rc = history_range_merge(blob, src->app, src->kind, src->from_hour, src->to_hour, &lim, &p, version, err,
                                 errlen);
    if (rc != HISTORY_OK) return blob_code_of(rc);
    char e[256];
    rc = pp_encode(p, -1, data, len, e, sizeof e);
    pp_free(p);
    if (rc != PP_OK) {
      errbuf_set(err, errlen, "encoding the merge of the range: %s", e);
      return rc == PP_ENOMEM ? BLOB_ENOMEM : BLOB_EINVAL;
    }
    return BLOB_OK;
  }
  }
  errbuf_set(err, errlen, "unknown read source");
  return BLOB_EINVAL;
}

/* A printable name of the source for messages: "the heap profile of app
 * demo" (and its time range). */
static void source_name(const reads_source *src, char *buf, size_t n) {
  if (src->type == READS_SOURCE_RANGE) {
    char f[40], t[40];
    chrono_format_rfc3339(src->from_hour * 3600 * 1000, 0, f, sizeof f);
    chrono_format_rfc3339(src->to_hour * 3600 * 1000, 0, t, sizeof t);
    if (snprintf(buf, n, "the %s profile of app %s from %s to %s", layout_kind_name(src->kind), src->app, f, t) < 0)
      buf[0] = '\0';
    return;
  }
  snprintf(buf, n, "the %s profile of app %s", layout_kind_name(src->kind), src->app);
}

/* ---- representation ---- */

/* The opaque part of an entity tag: without W/ and the quotes. */
static void etag_inner(const char *etag, const char **s, size_t *n) {
  const char *p = etag;
  if (strncmp(p, "W/", 2) == 0) p += 2;
  size_t l = strlen(p);
  if (l >= 2 && p[0] == '"' && p[l - 1] == '"') {
    p++;
    l -= 2;
  }
  *s = p;
  *n = l;
}

int reads_etag(const reads_request *rq, const char *source_etag, char *buf, size_t n) {
  if (!n) return -1;
  buf[0] = '\0';
  if (!source_etag || !*source_etag) return 0;
  int w;
  if (strcmp(rq->format->name, "pprof") == 0) {
    w = snprintf(buf, n, "%s", source_etag);
  } else {
    const char *s;
    size_t l;
    etag_inner(source_etag, &s, &l);
    if (rq->format->reads & PP_EXPORT_READS_KEEP)
      w = snprintf(buf, n, "W/\"%.*s-%s-keep%u\"", (int)l, s, rq->format->name, rq->keep);
    else
      w = snprintf(buf, n, "W/\"%.*s-%s\"", (int)l, s, rq->format->name);
  }
  if (w < 0 || (size_t)w >= n) {
    buf[0] = '\0';
    return -1;
  }
  return 0;
}

int reads_filename(const reads_request *rq, char *buf, size_t n) {
  const char *fmt = rq->format->name;
  int is_pprof = strcmp(fmt, "pprof") == 0;
  int w;
  if (rq->source.kind == LAYOUT_KIND_CPU && (is_pprof || strcmp(fmt, "pgo") == 0))
    w = snprintf(buf, n, "%s", LAYOUT_BASE_NAME);
  else if (rq->source.kind == LAYOUT_KIND_CPU && strcmp(fmt, "preprofile") == 0)
    w = snprintf(buf, n, "default%s", rq->format->suffix);
  else if (rq->source.kind == LAYOUT_KIND_CPU)
    w = snprintf(buf, n, "%s%s", rq->source.app, rq->format->suffix);
  else
    w = snprintf(buf, n, "%s-%s%s", rq->source.app, layout_kind_name(rq->source.kind),
                 is_pprof ? ".pb.gz" : rq->format->suffix);
  if (w < 0 || (size_t)w >= n) {
    if (n) buf[0] = '\0';
    return -1;
  }
  return 0;
}

int reads_compressible(const pp_export_format *f) {
  return f && strcmp(f->media_type, "application/octet-stream") != 0;
}

/* Skips optional whitespace. */
static const char *ows(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

/* The q value of one Accept-Encoding element's parameters (p after the
 * coding); 1 when absent, 0 for q=0, q=0.0, q=0.000. */
static int q_nonzero(const char *p, const char *end) {
  while (p < end) {
    p = ows(p);
    if (*p == ';') {
      p = ows(p + 1);
      if ((*p == 'q' || *p == 'Q') && *ows(p + 1) == '=') {
        p = ows(ows(p + 1) + 1);
        if (*p == '1') return 1;
        if (*p != '0') return 1; /* malformed: be lenient, as for an absent q */
        p++;
        if (*p == '.') {
          p++;
          while (p < end && *p >= '0' && *p <= '9') {
            if (*p != '0') return 1;
            p++;
          }
        }
        return 0;
      }
    }
    while (p < end && *p != ';') p++;
  }
  return 1;
}

int reads_accepts_gzip(const char *ae) {
  if (!ae) return 0;
  int gzip = -1, star = -1; /* -1: not named, 0: refused, 1: accepted */
  const char *p = ae;
  while (*p) {
    p = ows(p);
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *tok = p;
    size_t tl = 0;
    while (tok + tl < end && tok[tl] != ';' && tok[tl] != ' ' && tok[tl] != '\t') tl++;
    int ok = q_nonzero(tok + tl, end);
    if ((tl == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tl == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
      gzip = gzip == 1 ? 1 : ok;
    else if (tl == 1 && tok[0] == '*')
      star = ok;
    p = *end ? end + 1 : end;
  }
  if (gzip >= 0) return gzip;
  return star == 1;
}

int reads_etag_matches(const char *inm, const char *etag) {
  if (!inm || !etag || !*etag) return 0;
  const char *e;
  size_t el;
  etag_inner(etag, &e, &el);
  const char *p = inm;
  while (*p) {
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    if (!*p) break;
    if (*p == '*') return 1;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    const char *start = p, *end;
    size_t l;
    if (*p == '"') {
      end = strchr(p + 1, '"');
      if (!end) return 0;
      start = p + 1;
      l = (size_t)(end - start);
      p = end + 1;
    } else {
      end = p;
      while (*end && *end != ',' && *end != ' ') end++;
      l = (size_t)(end - start);
      p = end;
    }
    if (l == el && strncmp(start, e, el) == 0) return 1;
  }
  return 0;
}

/* ---- serving ---- */

struct reads {
  reads_config cfg;
  reads_cache *cache;
  svc_metric *m_hits, *m_misses, *m_convert;
};

int reads_new(const reads_config *cfg, reads **out, char *err, size_t errlen) {
  *out = NULL;
  reads *r = calloc(1, sizeof *r);
  if (!r) goto nomem;
  r->cfg = *cfg;
  r->cache = reads_cache_new(cfg->cache_bytes, cfg->metrics);
  if (!r->cache) goto nomem;
  if (cfg->metrics) {
    svc_metrics *m = cfg->metrics;
    r->m_hits = svc_metrics_counter(m, "pgopipe_read_cache_hits_total",
                                    "Profile reads answered from a stored output (or one another request was making)",
                                    "format");
    r->m_misses = svc_metrics_counter(m, "pgopipe_read_cache_misses_total",
                                      "Profile reads whose output was made for them (source read, converted)", "format");
    static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    r->m_convert = svc_metrics_histogram(
        m, "pgopipe_read_conversion_seconds",
        "Time to make a read's output from the stored profile (identity: decode and convert; gzip: compress)",
        "format,encoding", buckets, sizeof buckets / sizeof buckets[0]);
    if (!r->m_hits || !r->m_misses || !r->m_convert) goto nomem;
  }
  *out = r;
  return 0;
nomem:
  errbuf_set(err, errlen, "out of memory (or read metrics registered twice)");
  reads_free(r);
  return -1;
}

void reads_free(reads *r) {
  if (!r) return;
  reads_cache_free(r->cache);
  free(r);
}

/* One output being made: what the fill functions need. */
typedef struct job {
  reads *r;
  const reads_request *rq;
  const pp_export_format *format; /* this output's format (pprof for the source's bytes) */
  int gzip;                       /* this output is gzip-encoded */
  char version[sizeof ((blob_info *)0)->etag]; /* the source version it is keyed by, "" = uncached */
  char key[LAYOUT_KEY_BUF + 256];
  const char *blob_op; /* set by a failed store read */
} job;

static int fill_pprof(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err, size_t errlen);
static int fill_convert(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err, size_t errlen);
static int fill_gzip(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err, size_t errlen);

/*
 * The output of job j (format, encoding, version) through the cache: the
 * key is (source, version, format, keep, encoding); without a version
 * nothing is cached. Status codes of fills are HTTP statuses.
 */
static int job_get(job *j, const reads_item **item, reads_cache_outcome *oc, char *err, size_t errlen) {
  const pp_export_format *f = j->format;
  snprintf(j->key, sizeof j->key, "%s\n%s\n%s\n%u\n%s", j->rq->source.key, j->version, f->name,
           (f->reads & PP_EXPORT_READS_KEEP) ? j->rq->keep : 0, j->gzip ? "gzip" : "identity");
  reads_fill_fn fill = j->gzip ? fill_gzip : strcmp(f->name, "pprof") == 0 ? fill_pprof : fill_convert;
  return reads_cache_get(j->r->cache, j->version[0] ? j->key : NULL, j->rq->source.key, fill, j, item, oc, err,
                         errlen);
}

/* The output the job's output is made from: same version, format f, identity. */
static int job_get_input(job *j, const pp_export_format *f, const reads_item **item, char *err, size_t errlen) {
  job in = *j;
  in.format = f;
  in.gzip = 0;
  in.blob_op = NULL;
  int rc = job_get(&in, item, NULL, err, errlen);
  if (in.blob_op) j->blob_op = in.blob_op;
  return rc;
}

static int fill_pprof(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err, size_t errlen) {
  job *j = ctx;
  char e[768], what[160];
  int rc = reads_source_load(j->r->cfg.blob, &j->rq->source, j->r->cfg.max_source_bytes, data, len, version, e,
                             sizeof e);
  if (rc == BLOB_OK) return 0;
  if (rc == BLOB_ENOTFOUND) {
    if (j->rq->source.type == READS_SOURCE_RANGE)
      errbuf_set(err, errlen, "%s", e);
    else
      errbuf_set(err, errlen, "no %s profile for app %s yet", layout_kind_name(j->rq->source.kind),
                 j->rq->source.app);
    return 404;
  }
  source_name(&j->rq->source, what, sizeof what);
  if (rc == BLOB_EINVAL || rc == BLOB_ENOMEM) {
    /* a range whose buckets do not decode or merge: the store is fine */
    errbuf_set(err, errlen, "reading %s: %s", what, e);
    return 500;
  }
  j->blob_op = "get";
  errbuf_set(err, errlen, "reading %s: %s", what, e);
  return rc == BLOB_ETOOBIG ? 500 : 503;
}

/* Converts the source's bytes (the pprof output) to the job's format. */
static int fill_convert(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err, size_t errlen) {
  job *j = ctx;
  const reads_request *rq = j->rq;
  const reads_item *src = NULL;
  int rc = job_get_input(j, pp_export_format_find("pprof"), &src, err, errlen);
  if (rc != 0) return rc;
  *version = src->version;
  /* the source was read within max_source_bytes already */
  pp_limits lim = {.max_input_bytes = src->len > PP_DEFAULT_MAX_INPUT ? src->len : PP_DEFAULT_MAX_INPUT};
  char e[768], what[160];
  source_name(&rq->source, what, sizeof what);
  const char *f = j->format->name;
  int64_t t0 = chrono_mono_ns();
  int pprc;
  if (strcmp(f, "pgo") == 0 || strcmp(f, "preprofile") == 0) {
    pprc = pp_pgo_convert(src->data, src->len, &lim,
                          strcmp(f, "pgo") == 0 ? PP_PGO_FORMAT_PGO : PP_PGO_FORMAT_PREPROFILE, rq->keep, -1, data,
                          len, e, sizeof e);
  } else {
    pp_profile *p = NULL;
    pprc = pp_decode(src->data, src->len, &lim, &p, e, sizeof e);
    if (pprc == PP_OK) {
      char name[LAYOUT_APP_MAX + 32];
      snprintf(name, sizeof name, "%s %s", rq->source.app, layout_kind_name(rq->source.kind));
      pp_export_opts o;
      memset(&o, 0, sizeof o);
      o.name = name;
      if (j->format->reads & PP_EXPORT_READS_KEEP) {
        o.keep = (int)rq->keep;
        o.keep_set = 1;
      }
      pprc = j->format->write(p, &o, data, len, e, sizeof e);
      pp_free(p);
    } else {
      /* the stored profile is broken: not the format's fault */
      reads_cache_release(j->r->cache, src);
      errbuf_set(err, errlen, "%s does not decode: %s", what, e);
      return 500;
    }
  }
  svc_metric_observe(j->r->m_convert, (double)(chrono_mono_ns() - t0) / 1e9, f, "identity");
  reads_cache_release(j->r->cache, src);
  if (pprc == PP_OK) return 0;
  if (pprc == PP_EINCOMPATIBLE) {
    errbuf_set(err, errlen, "%s cannot be written as format=%s: %s", what, f, e);
    return 422;
  }
  if (pprc == PP_EMALFORMED || pprc == PP_ETOOBIG) {
    errbuf_set(err, errlen, "%s does not decode: %s", what, e);
    return 500;
  }
  errbuf_set(err, errlen, "converting %s to format=%s: %s", what, f, e);
  return 500;
}

/* Compresses the identity output of the same format. */
static int fill_gzip(void *ctx, uint8_t **data, size_t *len, blob_info *version, char *err, size_t errlen) {
  job *j = ctx;
  const reads_item *plain = NULL;
  int rc = job_get_input(j, j->format, &plain, err, errlen);
  if (rc != 0) return rc;
  *version = plain->version;
  char e[256];
  int64_t t0 = chrono_mono_ns();
  int pprc = pp_gzip(plain->data, plain->len, -1, data, len, e, sizeof e);
  svc_metric_observe(j->r->m_convert, (double)(chrono_mono_ns() - t0) / 1e9, j->format->name, "gzip");
  reads_cache_release(j->r->cache, plain);
  if (pprc != PP_OK) {
    errbuf_set(err, errlen, "compressing the answer: %s", e);
    return 500;
  }
  return 0;
}

void reads_serve(reads *r, const reads_request *rq, const char *if_none_match, const char *accept_encoding,
                 reads_answer *a) {
  memset(a, 0, sizeof *a);
  const pp_export_format *f = rq->format;
  int compressible = reads_compressible(f);
  a->content_type = f->media_type;
  a->vary_encoding = compressible;
  reads_filename(rq, a->filename, sizeof a->filename);

  char e[768], what[160];
  blob_info v;
  int rc = reads_source_stat(r->cfg.blob, &rq->source, &v, e, sizeof e);
  if (rc == BLOB_ENOTFOUND) {
    a->status = 404;
    if (rq->source.type == READS_SOURCE_RANGE)
      snprintf(a->message, sizeof a->message, "%s", e);
    else if (rq->source.kind == LAYOUT_KIND_CPU)
      snprintf(a->message, sizeof a->message, "no merged profile for app %s yet", rq->source.app);
    else
      snprintf(a->message, sizeof a->message, "no %s profile for app %s yet", layout_kind_name(rq->source.kind),
               rq->source.app);
    return;
  }
  if (rc != BLOB_OK) {
    a->status = 503;
    a->blob_op = "stat";
    source_name(&rq->source, what, sizeof what);
    snprintf(a->message, sizeof a->message, "reading %s: %s", what, e);
    return;
  }
  reads_etag(rq, v.etag, a->etag, sizeof a->etag);
  a->mtime_ms = v.mtime_ms;
  if (if_none_match && reads_etag_matches(if_none_match, a->etag)) {
    a->status = 304;
    return;
  }

  job j;
  memset(&j, 0, sizeof j);
  j.r = r;
  j.rq = rq;
  j.format = f;
  j.gzip = compressible && reads_accepts_gzip(accept_encoding);
  snprintf(j.version, sizeof j.version, "%s", v.etag);
  const reads_item *item = NULL;
  reads_cache_outcome oc = READS_CACHE_MISS;
  rc = job_get(&j, &item, &oc, a->message, sizeof a->message);
  if (rc != 0) {
    a->status = rc >= 400 && rc <= 599 ? rc : 500;
    a->blob_op = j.blob_op;
    if (rc < 0) snprintf(a->message, sizeof a->message, "out of memory");
    /* the source vanished between the stat and the read: as before the stat */
    if (rc == 404 && rq->source.type == READS_SOURCE_BASE && rq->source.kind == LAYOUT_KIND_CPU)
      snprintf(a->message, sizeof a->message, "no merged profile for app %s yet", rq->source.app);
    return;
  }
  svc_metric_add(oc == READS_CACHE_MISS ? r->m_misses : r->m_hits, 1, f->name);
  a->status = 200;
  a->cache = oc;
  a->item_ = item;
  a->body = item->data;
  a->len = item->len;
  a->content_encoding = j.gzip ? "gzip" : NULL;
  /* the bytes' own version (newer than the stat's when the source changed in between) */
  if (strcmp(item->version.etag, v.etag) != 0) reads_etag(rq, item->version.etag, a->etag, sizeof a->etag);
  a->mtime_ms = item->version.mtime_ms;
}

void reads_answer_done(reads *r, reads_answer *a) {
  if (a->item_) reads_cache_release(r->cache, a->item_);
  a->item_ = NULL;
  a->body = NULL;
  a->len = 0;
}
