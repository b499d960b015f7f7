/*
 * upload.c — the native route's rule: validate (app, profile, kind), then
 * stage and announce through push_stage (push.c), which also carries the
 * metadata of an upload with a kind. See upload.h for the rule and why
 * gzipped bodies are stored as received.
 */
#include "upload.h"

#include "push.h"

#include "pprof.h"
#include "chrono.h"
#include "errbuf.h"
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *upload_reason_name(upload_reason r) {
  switch (r) {
  case UPLOAD_OK: return "ok";
  case UPLOAD_BAD_APP: return "bad_app";
  case UPLOAD_MALFORMED: return "malformed";
  case UPLOAD_TOO_BIG: return "too_big";
  case UPLOAD_NOT_CPU: return "not_cpu";
  case UPLOAD_BAD_KIND: return "bad_kind";
  case UPLOAD_BLOB: return "blob";
  case UPLOAD_PUBLISH: return "publish";
  case UPLOAD_INTERNAL: return "internal";
  }
  return "internal";
}

/* Records a refusal (the message is already in res->message); returns -1. */
static int refuse(upload_result *res, int status, upload_reason reason) {
  res->status = status;
  res->reason = reason;
  return -1;
}

int upload_accept(const upload_config *cfg, const char *app, const uint8_t *body, size_t len,
                  upload_result *res) {
  return upload_accept_opts(cfg, app, body, len, NULL, res);
}

/* 1 when p has a comment of pgopipe's own (a record no client may write). */
static int has_reserved_comment(const pp_profile *p) {
  size_t n = strlen(INGEST_RESERVED_COMMENT_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++)
    if (strncmp(pp_comment(p, i), INGEST_RESERVED_COMMENT_PREFIX, n) == 0) return 1;
  return 0;
}

/* The metadata of a native upload: kind, its source, the mode its instance
 * implies, the query's labels and instance, and its time. */
static int native_meta(const upload_config *cfg, const upload_opts *o, ingest_kind kind, const pp_profile *p,
                       ingest_meta *m) {
  ingest_meta_init(m);
  m->kind = kind;
  /* The scraper's CPU uploads carry no kind: they stay plain native ones. */
  int with_kind = o && o->kind && *o->kind;
  m->source = with_kind && o->source == INGEST_SOURCE_SCRAPER ? INGEST_SOURCE_SCRAPER : INGEST_SOURCE_API;
  int has_instance = o && o->instance && *o->instance;
  m->mode = ingest_mode_for(m->source, kind, has_instance);
  if (has_instance && !(m->instance = strdup(o->instance))) return -1;
  if (o && o->labels && ingest_labels_copy(&m->labels, o->labels) != INGEST_OK) return -1;
  int64_t now = chrono_now_ns();
  m->received_ns = now;
  m->time_ns = ingest_upload_time(pp_time_nanos(p), now, cfg->retention_ns);
  return 0;
}

int upload_accept_opts(const upload_config *cfg, const char *app, const uint8_t *body, size_t len,
                       const upload_opts *opts, upload_result *res) {
  char err[768];
  pp_profile *p = NULL;
  /* the decoded size counts the profile built in memory too: the bound on
   * an upload's memory is the limit (pp_limits.count_memory) */
  pp_limits lim = {.max_input_bytes = cfg->max_input_bytes,
                   .max_decoded_bytes = cfg->max_decoded_bytes,
                   .count_memory = 1};
  memset(res, 0, sizeof *res);
  int64_t t0 = chrono_mono_ns();

  if (!layout_app_valid(app)) {
    errbuf_set(res->message, sizeof res->message,
               "invalid app name \"%.80s\": want 1 to 63 characters of a-z, 0-9 and '-'",
               app ? app : "");
    return refuse(res, 400, UPLOAD_BAD_APP);
  }
  ingest_kind hint = INGEST_KIND_NONE;
  int with_kind = opts && opts->kind && *opts->kind;
  if (with_kind && ingest_kind_parse(opts->kind, &hint) != INGEST_OK) {
    errbuf_set(res->message, sizeof res->message,
               "unknown kind \"%.40s\": want cpu, heap, mutex, block, goroutine or threadcreate (allocs = heap)",
               opts->kind);
    return refuse(res, 400, UPLOAD_MALFORMED);
  }

  int rc = pp_decode(body, len, &lim, &p, err, sizeof err);
  if (rc != PP_OK) {
    errbuf_set(res->message, sizeof res->message, "profile for app %s: %s", app, err);
    if (rc == PP_ETOOBIG)
      return refuse(res, 413, UPLOAD_TOO_BIG);
    if (rc == PP_EMALFORMED)
      return refuse(res, 400, UPLOAD_MALFORMED);
    return refuse(res, 500, UPLOAD_INTERNAL);
  }

  ingest_kind_info ki;
  if (!with_kind) {
    rc = pp_check_cpu(p, err, sizeof err);
    if (rc != PP_OK) {
      pp_free(p);
      errbuf_set(res->message, sizeof res->message,
                 "profile for app %s: %s (pgopipe merges CPU profiles for go build -pgo; other kinds need "
                 "?kind=)",
                 app, err);
      return refuse(res, 422, UPLOAD_NOT_CPU);
    }
    ki.kind = INGEST_KIND_CPU;
  } else if (ingest_kind_detect(p, hint, &ki, err, sizeof err) != INGEST_OK) {
    pp_free(p);
    errbuf_set(res->message, sizeof res->message, "profile for app %s: %s", app, err);
    return refuse(res, 422, UPLOAD_BAD_KIND);
  }

  int modified = 0;
  if (has_reserved_comment(p)) {
    pp_remove_comments_with_prefix(p, INGEST_RESERVED_COMMENT_PREFIX);
    modified = 1;
  }
  ingest_meta meta;
  if (native_meta(cfg, opts, ki.kind, p, &meta) != 0) {
    ingest_meta_free(&meta);
    pp_free(p);
    errbuf_set(res->message, sizeof res->message, "out of memory");
    return refuse(res, 500, UPLOAD_INTERNAL);
  }
  res->decode_ns = chrono_mono_ns() - t0;
  rc = push_stage(cfg, app, body, len, p, modified, &meta, res);
  ingest_meta_free(&meta);
  pp_free(p);
  return rc;
}
