/*
 * history_fixture.h — kept history written the way the merge worker writes
 * it, for the tests of the read side (range reads, profefe's read API):
 *
 *   hf_upload_make   an accepted upload from a real Go profile: its
 *                    time_nanos set, a "pgopipe-upload:" record comment
 *                    (ingest_meta_comment) unless it is a plain cpu upload,
 *                    a staged name "NANOS-8HEX";
 *   hf_bucket_make   the hour bucket of some uploads of one hour: their
 *                    counter columns summed, the gauge columns (heap
 *                    inuse_*, goroutine) those of the last upload (one
 *                    instance), with a "pgopipe-merged-staged:" record;
 *   hf_put_*         the objects under their layout keys ({app}/hours/...,
 *                    {app}/history/..., {app}/staging/...);
 *   hf_write_part    what an upload contributes, as a file for `agents
 *                    compare` (Go's Merge): its counter part or gauge part.
 * Header-only (static functions); link lib/pipeline (pprof, ingest, blob).
 */
#ifndef PGOPIPE_TESTS_COMMON_HISTORY_FIXTURE_H
#define PGOPIPE_TESTS_COMMON_HISTORY_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

#include "blob.h"
#include "ingest.h"
#include "layout.h"
#include "pprof.h"

#define HF_HOUR_NS (3600LL * 1000000000LL)

typedef struct hf_upload {
  char name[64];    /* staged name */
  layout_kind kind;
  int64_t time_ns;
  int64_t hour;
  uint8_t *bytes;   /* as stored (malloc'd) */
  size_t len;
} hf_upload;

static inline ingest_kind hf_ingest_kind(layout_kind k) {
  ingest_kind ik = INGEST_KIND_NONE;
  ingest_kind_parse(layout_kind_name(k), &ik);
  return ik;
}

static inline int hf_write(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int bad = fwrite(data, 1, len, f) != len;
  bad |= fclose(f) != 0;
  return bad ? -1 : 0;
}

/*
 * Makes an upload of kind from the profile src: time_ns as its time; with
 * a record (plain == 0) of source profefe, the original service name and
 * labels "k=v,k=v" (NULL: none); a plain one carries none (cpu only).
 * seq makes the staged name unique. Returns 0 or -1.
 */
static inline int hf_upload_make(const uint8_t *src, size_t srclen, layout_kind kind, int64_t time_ns, int plain,
                                 const char *service, const char *labels, unsigned seq, hf_upload *u) {
  memset(u, 0, sizeof *u);
  pp_profile *p = NULL;
  char err[512];
  if (pp_decode(src, srclen, NULL, &p, err, sizeof err) != PP_OK) {
    fprintf(stderr, "hf_upload_make: %s\n", err);
    return -1;
  }
  pp_set_time(p, time_ns, pp_duration_nanos(p));
  if (!plain) {
    ingest_meta m;
    ingest_meta_init(&m);
    m.kind = hf_ingest_kind(kind);
    m.mode = kind == LAYOUT_KIND_CPU ? INGEST_MODE_DELTA : INGEST_MODE_CUMULATIVE;
    m.source = INGEST_SOURCE_PROFEFE;
    m.name = service ? strdup(service) : NULL;
    if (labels) ingest_profefe_labels(labels, &m.labels, err, sizeof err);
    m.time_ns = time_ns;
    m.received_ns = time_ns + 1000;
    char *comment = NULL;
    int rc = ingest_meta_comment(&m, &comment, err, sizeof err);
    if (rc == INGEST_OK) pp_add_comment(p, comment);
    free(comment);
    ingest_meta_free(&m);
    if (rc != INGEST_OK) {
      pp_free(p);
      return -1;
    }
  }
  int rc = pp_encode(p, -1, &u->bytes, &u->len, err, sizeof err);
  pp_free(p);
  if (rc != PP_OK) return -1;
  u->kind = kind;
  u->time_ns = time_ns;
  u->hour = time_ns / HF_HOUR_NS;
  snprintf(u->name, sizeof u->name, "%lld-%08x", (long long)(time_ns + 1000), seq);
  return 0;
}

static inline void hf_upload_free(hf_upload *u) {
  free(u->bytes);
  u->bytes = NULL;
}

/* Scales p's columns: counter columns by cf, gauge columns by gf. */
static inline int hf_scale(pp_profile *p, layout_kind kind, int64_t cf, int64_t gf) {
  ingest_kind_info ki;
  char err[512];
  if (ingest_kind_detect(p, hf_ingest_kind(kind), &ki, err, sizeof err) != INGEST_OK) {
    fprintf(stderr, "hf_scale: %s\n", err);
    return -1;
  }
  int64_t f[INGEST_MAX_COLUMNS];
  ingest_kind_factors(&ki, cf, gf, f);
  return pp_scale_columns(p, f, ki.ncols, err, sizeof err) == PP_OK ? 0 : -1;
}

/* 1 when kind has gauge columns. */
static inline int hf_has_gauges(layout_kind kind) {
  return kind == LAYOUT_KIND_HEAP || kind == LAYOUT_KIND_GOROUTINE;
}

/* Decodes an upload, its pgopipe- comments removed. */
static inline pp_profile *hf_decode(const hf_upload *u) {
  pp_profile *p = NULL;
  char err[512];
  if (pp_decode(u->bytes, u->len, NULL, &p, err, sizeof err) != PP_OK) return NULL;
  pp_remove_comments_with_prefix(p, INGEST_RESERVED_COMMENT_PREFIX);
  return p;
}

/*
 * The bucket of the uploads u[0..n) (one hour, one kind, in time order):
 * counters summed, gauges the last upload's, and a merge record naming
 * them. *out malloc'd. Returns 0 or -1.
 */
static inline int hf_bucket_make(const hf_upload *const *u, size_t n, uint8_t **out, size_t *outlen) {
  pp_merger *m = pp_merger_new();
  char err[512];
  int rc = m ? 0 : -1;
  layout_kind kind = n ? u[0]->kind : LAYOUT_KIND_CPU;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    pp_profile *p = hf_decode(u[i]);
    if (!p || (hf_has_gauges(kind) && hf_scale(p, kind, 1, 0) != 0)) {
      pp_free(p);
      rc = -1;
      break;
    }
    rc = pp_merger_add(m, p, err, sizeof err) == PP_OK ? 0 : -1;
  }
  if (rc == 0 && n && hf_has_gauges(kind)) {
    pp_profile *g = hf_decode(u[n - 1]);
    rc = g && hf_scale(g, kind, 0, 1) == 0 && pp_merger_add(m, g, err, sizeof err) == PP_OK ? 0 : -1;
  }
  pp_profile *b = NULL;
  if (rc == 0) rc = pp_merger_finish(m, &b, err, sizeof err) == PP_OK ? 0 : -1;
  pp_merger_free(m);
  if (rc != 0) {
    fprintf(stderr, "hf_bucket_make: %s\n", err);
    return -1;
  }
  char record[4096] = "pgopipe-merged-staged:";
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(record);
    snprintf(record + l, sizeof record - l, " %s", u[i]->name);
  }
  pp_add_comment(b, record);
  rc = pp_encode(b, -1, out, outlen, err, sizeof err) == PP_OK ? 0 : -1;
  pp_free(b);
  return rc;
}

static inline int hf_put(blob_store *bs, const char *key, const void *data, size_t len) {
  char err[512];
  int rc = blob_put(bs, key, data, len, err, sizeof err);
  if (rc != BLOB_OK) fprintf(stderr, "hf_put %s: %s\n", key, err);
  return rc == BLOB_OK ? 0 : -1;
}

/* The bucket of u[0..n) at {app}/hours/{kind}/{hour}.pgo. */
static inline int hf_put_bucket(blob_store *bs, const char *app, const hf_upload *const *u, size_t n) {
  uint8_t *b = NULL;
  size_t bl = 0;
  char key[LAYOUT_KEY_BUF];
  if (!n || hf_bucket_make(u, n, &b, &bl) != 0 || layout_hour_key(app, u[0]->kind, u[0]->hour, key, sizeof key) != 0)
    return -1;
  int rc = hf_put(bs, key, b, bl);
  free(b);
  return rc;
}

/* The upload kept at {app}/history/{kind}/{hour}/{name}. */
static inline int hf_put_history(blob_store *bs, const char *app, const hf_upload *u) {
  char key[LAYOUT_KEY_BUF];
  if (layout_history_key(app, u->kind, u->hour, u->name, key, sizeof key) != 0) return -1;
  return hf_put(bs, key, u->bytes, u->len);
}

/* The upload waiting at {app}/staging/{name}. */
static inline int hf_put_staged(blob_store *bs, const char *app, const hf_upload *u) {
  char key[LAYOUT_KEY_BUF];
  if (layout_staging_key(app, u->name, key, sizeof key) != 0) return -1;
  return hf_put(bs, key, u->bytes, u->len);
}

/* Writes to path what u contributes: its counter part (gauges zeroed;
 * gauge_part 0) or its gauge part (counters zeroed; gauge_part 1), with no
 * pgopipe- comments. Returns 0 or -1. */
static inline int hf_write_part(const hf_upload *u, int gauge_part, const char *path) {
  pp_profile *p = hf_decode(u);
  if (!p) return -1;
  int rc = 0;
  if (hf_has_gauges(u->kind)) rc = hf_scale(p, u->kind, gauge_part ? 0 : 1, gauge_part ? 1 : 0);
  uint8_t *b = NULL;
  size_t bl = 0;
  char err[256];
  if (rc == 0) rc = pp_encode(p, -1, &b, &bl, err, sizeof err) == PP_OK ? 0 : -1;
  pp_free(p);
  if (rc == 0) rc = hf_write(path, b, bl);
  free(b);
  return rc;
}

#endif
