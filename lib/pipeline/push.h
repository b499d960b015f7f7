/*
 * push.h — storing an accepted upload of any kind with its metadata: what
 * the push routes (Pyroscope, profefe, traceway; lib/ingest parses them)
 * and the native route with a kind (upload.h) have in common, apart from
 * HTTP so that tests reach it directly.
 *
 * An upload is staged at a fresh {app}/staging/{unix_nanos}-{8 hex}
 * (layout_staging_key_new), then announced (profile.uploaded, key = app),
 * then answered — or refused with nothing left behind, as upload.h says
 * for the native route (503 when the blob store or the bus fails; the
 * staged object is removed again when the publish fails).
 *
 * Its metadata (ingest_meta: kind, mode, source, original name, request
 * labels, instance, time, receipt time) travels twice:
 *  - in the staged object, as the comment "pgopipe-upload: {JSON}"
 *    (ingest_meta_comment), written in the same PUT as the data, so it is
 *    as durable as the profile. The worker trusts this copy.
 *  - in profile.uploaded, as the optional payload fields (bus.h): kind,
 *    mode, source, name, labels, instance, time.
 * A plain CPU upload of the native route has the default metadata
 * (ingest_meta_is_default) and carries neither: it is stored and announced
 * exactly as before (autopgo's event, the body byte for byte).
 *
 * How the comment is added: a gzipped body that needs no other change
 * (the usual case: every agent sends runtime/pprof's gzip) is stored as
 * received followed by a second gzip member holding the comment
 * (pp_append_comment): no re-encoding on the upload path. A raw body, or
 * one the parser changed (an old Pyroscope client's prev_profile delta,
 * forged "pgopipe-" comments removed), is encoded by the engine with the
 * comment (pp_encode). Why, with measurements: README "Push ingestion".
 *
 * Errors fill upload_result as upload_accept does; statuses: 200 (push) /
 * 201 (native) success, 400 metadata that does not fit an event (a name
 * over 255 bytes, labels over 4095 bytes of JSON, an instance over 511
 * bytes) or is not UTF-8, 500, 503.
 */
#ifndef PGOPIPE_PUSH_H
#define PGOPIPE_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "layout.h"
#include "upload.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Stages p for app with its metadata and announces it (see above). raw is
 * what the client sent (p's encoding when !modified); modified says p
 * differs from raw. p may be changed (the comment is added to it when it is
 * encoded here). On success returns 0 with res->status 201, res->key and
 * res->stored set; on failure -1 with res filled (nothing left behind).
 */
int push_stage(const upload_config *cfg, const char *app, const uint8_t *raw, size_t rawlen, pp_profile *p,
               int modified, const ingest_meta *meta, upload_result *res);

/*
 * Stores a push that ingest_request_parse accepted: an empty one (no
 * samples) is answered without storing anything (res->stored = 0); any
 * other is staged (push_stage) and gets its profefe id (res->id). Success
 * is 0 with res->status 200; failure -1 as push_stage. up's profile may be
 * changed.
 */
int push_accept(const upload_config *cfg, ingest_upload *up, upload_result *res);

/*
 * The profefe id of a staged upload: "{app}.{kind}.{YYYYMMDDHH}.{staged
 * name}", the hour being layout_hour_format(layout_hour_of_ns(time_ns)) —
 * the hour of its history object. '.' occurs in none of the parts, so the
 * id names the object without a listing: {app}/staging/{name} while it
 * waits, {app}/history/{kind}/{hour}/{name} once merged. Returns 0, or -1
 * when a part is invalid or id (>= 128 bytes is always enough) too small.
 */
int push_profefe_id(const char *app, layout_kind kind, int64_t time_ns, const char *staged_name, char *id,
                    size_t n);

/* The parts of a profefe id, checked (app name, kind, hour, staged name
 * "NANOS-HEX"); name points into id. Returns 0 or -1. */
int push_profefe_id_parse(const char *id, char app[LAYOUT_APP_MAX + 1], layout_kind *kind, int64_t *hour,
                          const char **name);

#ifdef __cplusplus
}
#endif
#endif
