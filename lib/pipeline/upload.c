/*
 * upload.c — validate, stage, announce (see upload.h for the rule and why
 * gzipped bodies are stored as received). Each step either succeeds or
 * undoes what the steps before it did, so a refusal leaves nothing behind.
 */
#include "upload.h"

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
  char err[768], derr[512];
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

  int rc = pp_decode(body, len, &lim, &p, err, sizeof err);
  if (rc != PP_OK) {
    errbuf_set(res->message, sizeof res->message, "profile for app %s: %s", app, err);
    if (rc == PP_ETOOBIG)
      return refuse(res, 413, UPLOAD_TOO_BIG);
    if (rc == PP_EMALFORMED)
      return refuse(res, 400, UPLOAD_MALFORMED);
    return refuse(res, 500, UPLOAD_INTERNAL);
  }

  rc = pp_check_cpu(p, err, sizeof err);
  if (rc != PP_OK) {
    pp_free(p);
    errbuf_set(res->message, sizeof res->message,
               "profile for app %s: %s (pgopipe merges CPU profiles for go build -pgo)", app, err);
    return refuse(res, 422, UPLOAD_NOT_CPU);
  }

  /* Stored form: gzip as received, raw re-encoded as gzip. */
  uint8_t *enc = NULL;
  const uint8_t *data = body;
  size_t dlen = len;
  if (!(len >= 2 && body[0] == 0x1f && body[1] == 0x8b)) {
    rc = pp_encode(p, -1, &enc, &dlen, err, sizeof err);
    if (rc != PP_OK) {
      pp_free(p);
      errbuf_set(res->message, sizeof res->message, "encoding profile for app %s: %s", app, err);
      return refuse(res, 500, UPLOAD_INTERNAL);
    }
    data = enc;
  }
  pp_free(p);

  if (layout_staging_key_new(app, chrono_now_ns(), res->key, sizeof res->key) != 0) {
    free(enc);
    errbuf_set(res->message, sizeof res->message,
               "no staging key for app %s: no randomness available", app);
    return refuse(res, 500, UPLOAD_INTERNAL);
  }

  int64_t t1 = chrono_mono_ns();
  res->decode_ns = t1 - t0;
  rc = blob_put(cfg->blob, res->key, data, dlen, err, sizeof err);
  free(enc);
  int64_t t2 = chrono_mono_ns();
  res->store_ns = t2 - t1;
  if (rc != BLOB_OK) {
    res->key[0] = '\0';
    errbuf_set(res->message, sizeof res->message,
               "blob store unavailable, upload for app %s not accepted: %s", app, err);
    return refuse(res, 503, UPLOAD_BLOB);
  }

  bus_event ev;
  if (bus_event_init(&ev, BUS_TYPE_UPLOADED, app) != BUS_OK) {
    errbuf_set(err, sizeof err, "could not build the event");
    rc = BUS_EINVAL;
  } else {
    snprintf(ev.profile_key, sizeof ev.profile_key, "%s", res->key);
    rc = bus_publish_event(cfg->bus, &ev, err, sizeof err);
  }
  res->publish_ns = chrono_mono_ns() - t2;
  if (rc != BUS_OK) {
    /* Not announced: take the staged object back so nothing half-accepted
     * remains. If even that fails, say so loudly; the object is inert
     * (nobody is told to merge it) except for start-up reconciliation. */
    char key[sizeof res->key];
    snprintf(key, sizeof key, "%s", res->key);
    res->key[0] = '\0';
    if (blob_delete(cfg->blob, key, derr, sizeof derr) != BLOB_OK) {
      res->orphaned = 1;
      core_log(&cfg->log, CORE_LOG_ERROR,
               "publish failed and the staged upload could not be removed", "app", app, "key", key,
               "publish_error", err, "delete_error", derr, NULL);
    }
    errbuf_set(res->message, sizeof res->message,
               "event bus unavailable, upload for app %s not accepted: %s", app, err);
    return refuse(res, 503, UPLOAD_PUBLISH);
  }

  res->status = 201;
  res->reason = UPLOAD_OK;
  return 0;
}
