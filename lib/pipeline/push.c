/*
 * push.c — staging an upload of any kind with its metadata, and the
 * profefe ids (see push.h for the rule, the two copies of the metadata and
 * how the comment is added). Each step either succeeds or undoes what the
 * steps before it did, so a refusal leaves nothing behind.
 */
#include "push.h"

#include "chrono.h"
#include "errbuf.h"
#include "layout.h"
#include "pprof.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records a refusal (the message is already in res->message); returns -1. */
static int refuse(upload_result *res, int status, upload_reason reason) {
  res->status = status;
  res->reason = reason;
  return -1;
}

/* The profile.uploaded event of an upload: app, and for non-default
 * metadata its optional fields. 0, or -1 with res filled. */
static int build_event(const char *app, const ingest_meta *meta, int with_meta, bus_event *ev, upload_result *res) {
  char err[512];
  if (bus_event_init(ev, BUS_TYPE_UPLOADED, app) != BUS_OK) {
    errbuf_set(res->message, sizeof res->message, "could not build the event for app %s", app);
    return refuse(res, 500, UPLOAD_INTERNAL);
  }
  if (!with_meta) return 0;
  json_t *payload = json_object();
  int rc = payload ? ingest_meta_payload_set(meta, payload, err, sizeof err) : INGEST_ENOMEM;
  if (rc == INGEST_OK && bus_event_set_meta(ev, payload, err, sizeof err) != BUS_OK) rc = INGEST_EINVAL;
  json_decref(payload);
  if (rc == INGEST_ENOMEM) {
    errbuf_set(res->message, sizeof res->message, "out of memory");
    return refuse(res, 500, UPLOAD_INTERNAL);
  }
  if (rc != INGEST_OK) {
    errbuf_set(res->message, sizeof res->message, "upload for app %s: its metadata does not fit: %s", app, err);
    return refuse(res, 400, UPLOAD_MALFORMED);
  }
  return 0;
}

/* The bytes to store: the body as received when possible (plus the comment
 * as a second gzip member), else p encoded (with the comment). *own is what
 * the caller frees. 0, or -1 with res filled. */
static int stored_bytes(const uint8_t *raw, size_t rawlen, pp_profile *p, int modified, const char *comment,
                        const uint8_t **data, size_t *dlen, uint8_t **own, upload_result *res) {
  char err[512];
  int gz = rawlen >= 2 && raw[0] == 0x1f && raw[1] == 0x8b;
  int rc = PP_OK;
  *own = NULL;
  if (!modified && gz) {
    if (!comment) {
      *data = raw;
      *dlen = rawlen;
      return 0;
    }
    rc = pp_append_comment(raw, rawlen, pp_wire_string_count(p), comment, own, dlen, err, sizeof err);
  } else {
    if (comment) rc = pp_add_comment(p, comment);
    if (rc == PP_OK) rc = pp_encode(p, -1, own, dlen, err, sizeof err);
    else errbuf_set(err, sizeof err, "out of memory");
  }
  if (rc != PP_OK) {
    errbuf_set(res->message, sizeof res->message, "encoding the upload: %s", err);
    return refuse(res, 500, UPLOAD_INTERNAL);
  }
  *data = *own;
  return 0;
}

int push_stage(const upload_config *cfg, const char *app, const uint8_t *raw, size_t rawlen, pp_profile *p,
               int modified, const ingest_meta *meta, upload_result *res) {
  char err[768], derr[512];
  int64_t t0 = chrono_mono_ns();
  int with_meta = !ingest_meta_is_default(meta);
  char *comment = NULL;
  if (with_meta) {
    int rc = ingest_meta_comment(meta, &comment, err, sizeof err);
    if (rc != INGEST_OK) {
      errbuf_set(res->message, sizeof res->message, "upload for app %s: %s", app, err);
      return refuse(res, rc == INGEST_ENOMEM ? 500 : 400, rc == INGEST_ENOMEM ? UPLOAD_INTERNAL : UPLOAD_MALFORMED);
    }
  }
  bus_event ev;
  const uint8_t *data = NULL;
  size_t dlen = 0;
  uint8_t *own = NULL;
  if (build_event(app, meta, with_meta, &ev, res) != 0 ||
      stored_bytes(raw, rawlen, p, modified, comment, &data, &dlen, &own, res) != 0) {
    free(comment);
    return -1;
  }
  free(comment);
  if (layout_staging_key_new(app, chrono_now_ns(), res->key, sizeof res->key) != 0) {
    free(own);
    errbuf_set(res->message, sizeof res->message, "no staging key for app %s: no randomness available", app);
    return refuse(res, 500, UPLOAD_INTERNAL);
  }
  int64_t t1 = chrono_mono_ns();
  res->decode_ns += t1 - t0;
  int rc = blob_put(cfg->blob, res->key, data, dlen, err, sizeof err);
  free(own);
  int64_t t2 = chrono_mono_ns();
  res->store_ns = t2 - t1;
  if (rc != BLOB_OK) {
    res->key[0] = '\0';
    errbuf_set(res->message, sizeof res->message, "blob store unavailable, upload for app %s not accepted: %s",
               app, err);
    return refuse(res, 503, UPLOAD_BLOB);
  }
  res->stored_bytes = dlen;
  snprintf(ev.profile_key, sizeof ev.profile_key, "%s", res->key);
  rc = bus_publish_event(cfg->bus, &ev, err, sizeof err);
  res->publish_ns = chrono_mono_ns() - t2;
  if (rc != BUS_OK) {
    /* Not announced: take the staged object back so nothing half-accepted
     * remains. If even that fails, say so loudly; the object is inert
     * (nobody is told to merge it) except for start-up reconciliation. */
    char key[sizeof res->key];
    snprintf(key, sizeof key, "%s", res->key);
    res->key[0] = '\0';
    res->stored_bytes = 0;
    if (blob_delete(cfg->blob, key, derr, sizeof derr) != BLOB_OK) {
      res->orphaned = 1;
      core_log(&cfg->log, CORE_LOG_ERROR, "publish failed and the staged upload could not be removed", "app", app,
               "key", key, "publish_error", err, "delete_error", derr, NULL);
    }
    errbuf_set(res->message, sizeof res->message, "event bus unavailable, upload for app %s not accepted: %s", app,
               err);
    return refuse(res, 503, UPLOAD_PUBLISH);
  }
  res->stored = 1;
  res->status = 201;
  res->reason = UPLOAD_OK;
  return 0;
}

int push_accept(const upload_config *cfg, ingest_upload *up, upload_result *res) {
  memset(res, 0, sizeof *res);
  if (up->empty) {
    res->status = 200;
    return 0;
  }
  if (push_stage(cfg, up->app, up->raw, up->rawlen, up->profile, up->modified, &up->meta, res) != 0) return -1;
  const char *name = layout_staged_name(res->key, up->app);
  layout_kind k = layout_kind_parse(ingest_kind_name(up->meta.kind));
  if (!name || push_profefe_id(up->app, k, up->meta.time_ns, name, res->id, sizeof res->id) != 0)
    res->id[0] = '\0'; /* cannot happen for a key push_stage made */
  res->status = 200;
  return 0;
}

/* A staged name as layout_staging_key_new makes them: NANOS-8HEX. */
static int staged_name_ok(const char *s) {
  size_t d = 0;
  while (s[d] >= '0' && s[d] <= '9') d++;
  if (d == 0 || d > 19 || s[d] != '-') return 0;
  const char *h = s + d + 1;
  for (int i = 0; i < 8; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return 0;
  return h[8] == '\0';
}

int push_profefe_id(const char *app, layout_kind kind, int64_t time_ns, const char *staged_name, char *id,
                    size_t n) {
  char hour[16];
  const char *kn = layout_kind_name(kind);
  if (n) id[0] = '\0';
  if (!layout_app_valid(app) || !kn || !staged_name || !staged_name_ok(staged_name) ||
      layout_hour_format(layout_hour_of_ns(time_ns), hour, sizeof hour) != 0)
    return -1;
  int w = snprintf(id, n, "%s.%s.%s.%s", app, kn, hour, staged_name);
  if (w < 0 || (size_t)w >= n) {
    if (n) id[0] = '\0';
    return -1;
  }
  return 0;
}

int push_profefe_id_parse(const char *id, char app[LAYOUT_APP_MAX + 1], layout_kind *kind, int64_t *hour,
                          const char **name) {
  if (!id) return -1;
  const char *d1 = strchr(id, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  const char *d3 = d2 ? strchr(d2 + 1, '.') : NULL;
  if (!d3 || strchr(d3 + 1, '.') || !layout_app_valid_n(id, (size_t)(d1 - id))) return -1;
  char kn[16], hs[16];
  size_t kl = (size_t)(d2 - d1 - 1), hl = (size_t)(d3 - d2 - 1);
  if (kl == 0 || kl >= sizeof kn || hl >= sizeof hs) return -1;
  memcpy(kn, d1 + 1, kl);
  kn[kl] = '\0';
  memcpy(hs, d2 + 1, hl);
  hs[hl] = '\0';
  layout_kind k = layout_kind_parse(kn);
  int64_t h;
  /* The kind's own name only ("allocs" is not an id's spelling of heap). */
  if (k == LAYOUT_KIND_NONE || strcmp(layout_kind_name(k), kn) != 0 || layout_hour_parse(hs, &h) != 0 ||
      !staged_name_ok(d3 + 1))
    return -1;
  memcpy(app, id, (size_t)(d1 - id));
  app[d1 - id] = '\0';
  *kind = k;
  *hour = h;
  *name = d3 + 1;
  return 0;
}
