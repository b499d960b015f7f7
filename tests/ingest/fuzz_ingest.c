/*
 * fuzz_ingest.c — libFuzzer target for lib/ingest's parsers of client input.
 *
 * An input is "HEAD\nBODY": HEAD is used as a Content-Type, a query string,
 * a Pyroscope name and time, profefe labels and created_at, an
 * Authorization header and a service name; BODY as a multipart body (with
 * HEAD as its Content-Type, and again with a fixed boundary), a
 * sample_type_config, an upload record, and the body of whole Pyroscope and
 * profefe requests. Crashes, leaks and sanitizer reports are the findings;
 * beyond those it checks that every multipart part lies inside the body and
 * that the part limit holds.
 *
 * Built only with clang and PGOPIPE_FUZZ=ON; ctest runs it briefly on the
 * committed seeds (tests/ingest/fuzz_seeds).
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, what)                                                                                          \
  do {                                                                                                             \
    if (!(cond)) {                                                                                                 \
      fprintf(stderr, "fuzz_ingest: invariant failed: %s\n", what);                                                \
      abort();                                                                                                     \
    }                                                                                                              \
  } while (0)

static void multipart(const char *ct, const uint8_t *body, size_t len, size_t max_parts) {
  ingest_multipart_limits lim = {max_parts, 256};
  ingest_form f;
  char err[256];
  if (ingest_multipart_parse(ct, body, len, &lim, &f, err, sizeof err) == 0) {
    CHECK(f.nparts <= max_parts, "part limit");
    for (size_t i = 0; i < f.nparts; i++) {
      const ingest_part *p = &f.parts[i];
      CHECK(p->name != NULL, "part name");
      CHECK(p->len == 0 || (p->data >= body && p->data + p->len <= body + len), "part inside the body");
    }
    ingest_form_part(&f, "profile");
  }
  ingest_form_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t hl = nl ? (size_t)(nl - data) : size;
  char *head = malloc(hl + 1);
  memcpy(head, data, hl);
  head[hl] = 0;
  const uint8_t *body = nl ? nl + 1 : data + size;
  size_t blen = nl ? size - hl - 1 : 0;
  char err[256];

  multipart(head, body, blen, 4);
  multipart("multipart/form-data; boundary=B", data, size, 16);

  ingest_labels l = {0};
  ingest_query_parse(head, &l, err, sizeof err);
  ingest_labels_free(&l);
  char *svc = NULL;
  if (ingest_pyroscope_name(head, &svc, &l, err, sizeof err) == 0) {
    CHECK(svc != NULL, "service");
    char *id = NULL;
    if (ingest_instance_id(INGEST_SOURCE_PYROSCOPE, &l, NULL, &id) == 0) free(id);
  }
  free(svc);
  ingest_labels_free(&l);
  int64_t t;
  ingest_pyroscope_time(head, 1763800000000000000LL, &t, err, sizeof err);
  ingest_profefe_labels(head, &l, err, sizeof err);
  char *s = ingest_labels_string(&l);
  free(s);
  ingest_labels_free(&l);
  ingest_profefe_created_at(head, &t, err, sizeof err);
  ingest_kind k;
  ingest_profefe_type(head, &k, err, sizeof err);
  ingest_auth_check(head, "token", err, sizeof err);
  char app[LAYOUT_APP_MAX + 1];
  if (ingest_app_from_service(head, app, sizeof app, err, sizeof err) == 0)
    CHECK(layout_app_valid(app), "normalised name is an app name");

  ingest_stc stc;
  if (ingest_stc_parse(body, blen, &stc, err, sizeof err) == 0) {
    ingest_stc_kind_hint(&stc, &k, err, sizeof err);
    ingest_stc_free(&stc);
  }
  ingest_meta m;
  if (ingest_meta_from_json((const char *)body, blen, &m, err, sizeof err) == 0) {
    char *j = NULL;
    if (ingest_meta_to_json(&m, &j, err, sizeof err) == 0) {
      ingest_meta back;
      CHECK(ingest_meta_from_json(j, strlen(j), &back, err, sizeof err) == 0, "record round trip");
      ingest_meta_free(&back);
      free(j);
    }
  }
  ingest_meta_free(&m);

  ingest_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.now_ns = 1763800000000000000LL;
  cfg.limits.max_input_bytes = 1 << 20;
  cfg.limits.max_decoded_bytes = 4 << 20;
  ingest_request rq = {"POST", head, "multipart/form-data; boundary=B", NULL, NULL, body, blen, NULL, NULL};
  ingest_upload up;
  int status;
  char msg[256];
  if (ingest_request_parse(INGEST_PYROSCOPE, &rq, &cfg, &up, &status, msg, sizeof msg) == 0)
    CHECK(layout_app_valid(up.app) && (up.empty || up.profile), "accepted upload");
  ingest_upload_free(&up);
  rq.content_type = NULL;
  if (ingest_request_parse(INGEST_PROFEFE, &rq, &cfg, &up, &status, msg, sizeof msg) == 0)
    CHECK(layout_app_valid(up.app), "accepted profefe upload");
  ingest_upload_free(&up);
  char *r = ingest_reply_pyroscope_error(400, head);
  free(r);
  free(head);
  return 0;
}
