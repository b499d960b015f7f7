/*
 * request.c — one whole push, per protocol: from what the HTTP server saw
 * (method, query, a few headers, the body) to an accepted upload or to the
 * status and message of a refusal. This is where the pieces of this
 * library meet, in the order the checks must happen: method, credentials,
 * parameters, body framing, profile decoding, kind, app name, metadata.
 * Nothing is stored or published here; the server does that with the
 * upload this returns, and answers with the protocol's reply functions.
 */
#include "internal.h"

#include "errbuf.h"

#include <stdlib.h>

typedef struct ctx {
  const ingest_request *rq;
  const ingest_config *cfg;
  ingest_upload *up;
  ingest_labels query;
  int *status;
  char *msg;
  size_t msglen;
} ctx;

static int fail(ctx *c, int code) {
  *c->status = ingest_http_status(code);
  return code;
}

static const char *q(const ctx *c, const char *key) {
  if (!c->rq->query && c->rq->param) return c->rq->param(c->rq->param_ctx, key);
  return ingest_labels_get(&c->query, key);
}

/* Decodes the pprof bytes with the configured limits. */
static int decode(ctx *c, const uint8_t *b, size_t n) {
  if (n == 0) {
    errbuf_set(c->msg, c->msglen, "empty profile body: want a pprof profile (gzipped or not)");
    return fail(c, INGEST_EINVAL);
  }
  int rc = pp_decode(b, n, &c->cfg->limits, &c->up->profile, c->msg, c->msglen);
  return rc ? fail(c, ing_from_pp(rc)) : INGEST_OK;
}

/* A body with a Content-Encoding other than identity: a gzip-encoded pprof
 * is still a gzipped pprof (the decoder sniffs the gzip magic), anything
 * else cannot be read. */
static int check_encoding(ctx *c, bool multipart) {
  const char *e = c->rq->content_encoding;
  if (!e || !*e || ing_ieq(e, strlen(e), "identity")) return INGEST_OK;
  if (!multipart && ing_ieq(e, strlen(e), "gzip")) return INGEST_OK;
  errbuf_set(c->msg, c->msglen, "unsupported Content-Encoding \"%.40s\"%s", e,
             multipart ? " on a multipart body: send the body unencoded" : ": send the pprof bytes as they are");
  return fail(c, INGEST_EMEDIA);
}

/* The common tail: reserved comments out, kind, app, metadata, emptiness. */
static int finish(ctx *c, ingest_source src, const char *service, ingest_kind hint, const char *explicit_instance,
                  int mode_override) {
  ingest_upload *up = c->up;
  pp_profile *p = up->profile;
  size_t rl = strlen(INGEST_RESERVED_COMMENT_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++)
    if (strncmp(pp_comment(p, i), INGEST_RESERVED_COMMENT_PREFIX, rl) == 0) {
      pp_remove_comments_with_prefix(p, INGEST_RESERVED_COMMENT_PREFIX);
      up->modified = 1;
      break;
    }
  int rc = ingest_kind_detect(p, hint, &up->kind, c->msg, c->msglen);
  if (rc) return fail(c, rc);
  rc = ingest_app_from_service(service, up->app, sizeof up->app, c->msg, c->msglen);
  if (rc) return fail(c, rc);
  ingest_meta *m = &up->meta;
  m->kind = up->kind.kind;
  m->source = src;
  m->mode = mode_override >= 0 ? (ingest_mode)mode_override
                               : ingest_mode_for(src, m->kind, explicit_instance && *explicit_instance);
  if (m->kind == INGEST_KIND_CPU) m->mode = INGEST_MODE_DELTA;
  m->name = ing_strndup(service, strlen(service));
  if (!m->name || ingest_instance_id(src, &m->labels, explicit_instance, &m->instance)) {
    errbuf_set(c->msg, c->msglen, "out of memory");
    return fail(c, INGEST_ENOMEM);
  }
  bool text_ok = ing_utf8_valid(m->name, strlen(m->name)) && ing_utf8_valid(m->instance, strlen(m->instance));
  for (size_t i = 0; text_ok && i < m->labels.n; i++)
    text_ok = ing_utf8_valid(m->labels.v[i].key, strlen(m->labels.v[i].key)) &&
              ing_utf8_valid(m->labels.v[i].value, strlen(m->labels.v[i].value));
  if (!text_ok) {
    errbuf_set(c->msg, c->msglen, "the service name or a label is not valid UTF-8");
    return fail(c, INGEST_EINVAL);
  }
  m->received_ns = c->cfg->now_ns;
  m->time_ns = ingest_upload_time(pp_time_nanos(p), c->cfg->now_ns, c->cfg->retention_ns);
  if (pp_sample_count(p) == 0) {
    up->empty = 1;
    pp_free(up->profile);
    up->profile = NULL;
  }
  return INGEST_OK;
}

static int pyroscope(ctx *c) {
  const ingest_request *rq = c->rq;
  ingest_upload *up = c->up;
  const char *name = q(c, "name");
  if (!name || !*name) {
    errbuf_set(c->msg, c->msglen, "missing \"name\" parameter (want SERVICE or SERVICE{k=v,...})");
    return fail(c, INGEST_EINVAL);
  }
  char *service = NULL;
  int rc = ingest_pyroscope_name(name, &service, &up->meta.labels, c->msg, c->msglen);
  if (rc) return fail(c, rc);
  ingest_stc stc = {0};
  ingest_form form = {0};
  const char *from = q(c, "from"), *until = q(c, "until");
  if ((rc = ingest_pyroscope_time(from, c->cfg->now_ns, &up->from_ns, c->msg, c->msglen)) ||
      (rc = ingest_pyroscope_time(until, c->cfg->now_ns, &up->until_ns, c->msg, c->msglen))) {
    fail(c, rc);
    goto out;
  }
  const char *format = q(c, "format");
  bool multipart = ingest_is_multipart(rq->content_type);
  if (format && *format && strcmp(format, "pprof") != 0) {
    errbuf_set(c->msg, c->msglen, "unsupported format \"%.40s\": pgopipe accepts pprof profiles only", format);
    rc = fail(c, INGEST_EMEDIA);
    goto out;
  }
  if (!multipart && !(format && strcmp(format, "pprof") == 0)) {
    errbuf_set(c->msg, c->msglen,
               "unsupported body: send multipart/form-data with a \"profile\" part, or a pprof body with "
               "format=pprof");
    rc = fail(c, INGEST_EMEDIA);
    goto out;
  }
  if ((rc = check_encoding(c, multipart))) goto out;
  const uint8_t *prof = rq->body, *prev = NULL;
  size_t proflen = rq->len, prevlen = 0;
  bool have_stc = false;
  if (multipart) {
    rc = ingest_multipart_parse(rq->content_type, rq->body, rq->len, &c->cfg->multipart, &form, c->msg, c->msglen);
    if (rc) {
      fail(c, rc);
      goto out;
    }
    const ingest_part *pp = ingest_form_part(&form, "profile");
    if (!pp) {
      errbuf_set(c->msg, c->msglen, "missing \"profile\" part in the multipart body");
      rc = fail(c, INGEST_EINVAL);
      goto out;
    }
    prof = pp->data;
    proflen = pp->len;
    const ingest_part *sp = ingest_form_part(&form, "sample_type_config");
    if (sp) {
      if ((rc = ingest_stc_parse(sp->data, sp->len, &stc, c->msg, c->msglen))) {
        fail(c, rc);
        goto out;
      }
      have_stc = true;
    }
    const ingest_part *vp = ingest_form_part(&form, "prev_profile");
    if (vp) {
      prev = vp->data;
      prevlen = vp->len;
    }
  }
  ingest_kind hint = INGEST_KIND_NONE;
  if ((rc = ingest_stc_kind_hint(have_stc ? &stc : NULL, &hint, c->msg, c->msglen))) {
    fail(c, rc);
    goto out;
  }
  up->raw = prof;
  up->rawlen = proflen;
  unsigned char stc_cumulative[INGEST_MAX_COLUMNS] = {0};
  if (prev) {
    if (proflen == 0 || prevlen == 0) {
      errbuf_set(c->msg, c->msglen, "empty %s part", proflen ? "prev_profile" : "profile");
      rc = fail(c, INGEST_EINVAL);
      goto out;
    }
    rc = ingest_prev_delta(prof, proflen, prev, prevlen, &c->cfg->limits, have_stc ? &stc : NULL, &up->profile,
                           &up->prev_reset, c->msg, c->msglen);
    if (rc) {
      fail(c, rc);
      goto out;
    }
    up->modified = 1;
  } else {
    if ((rc = decode(c, prof, proflen))) goto out;
    for (size_t i = 0; have_stc && i < pp_sample_type_count(up->profile) && i < INGEST_MAX_COLUMNS; i++)
      stc_cumulative[i] = (unsigned char)ingest_stc_cumulative(&stc, pp_sample_type(up->profile, i).type);
  }
  rc = finish(c, INGEST_SOURCE_PYROSCOPE, service, hint, NULL, INGEST_MODE_DELTA);
  /* Without prev_profile, a counter column the config calls cumulative
   * makes the upload a cumulative snapshot (deltas per instance). */
  for (size_t i = 0; !rc && i < up->kind.ncols; i++)
    if (stc_cumulative[i] && !up->kind.gauge[i] && up->meta.kind != INGEST_KIND_CPU)
      up->meta.mode = INGEST_MODE_CUMULATIVE;
out:
  free(service);
  ingest_stc_free(&stc);
  ingest_form_free(&form);
  return rc;
}

static int profefe(ctx *c) {
  ingest_profefe_params pp;
  int rc = ingest_profefe_params_parse(q(c, "service"), q(c, "type"), q(c, "labels"), q(c, "instance_id"),
                                       q(c, "created_at"), &pp, c->msg, c->msglen);
  if (rc) return fail(c, rc);
  if (pp.trace) {
    errbuf_set(c->msg, c->msglen, "type=trace: execution traces are not pprof profiles; pgopipe does not keep them");
    rc = fail(c, INGEST_EMEDIA);
    goto out;
  }
  if ((rc = check_encoding(c, false)) || (rc = decode(c, c->rq->body, c->rq->len))) goto out;
  c->up->raw = c->rq->body;
  c->up->rawlen = c->rq->len;
  c->up->meta.labels = pp.labels;
  pp.labels = (ingest_labels){0};
  c->up->reply_type = pp.type;
  pp.type = NULL;
  rc = finish(c, INGEST_SOURCE_PROFEFE, pp.service, pp.hint, pp.instance_id, -1);
out:
  ingest_profefe_params_free(&pp);
  return rc;
}

static int traceway(ctx *c) {
  const char *service = q(c, "service"), *server = q(c, "serverName"), *version = q(c, "appVersion");
  if (!service || !*service) {
    errbuf_set(c->msg, c->msglen, "missing \"service\" parameter");
    return fail(c, INGEST_EINVAL);
  }
  ingest_labels *l = &c->up->meta.labels;
  if ((server && *server && ingest_labels_add(l, "serverName", 10, server, strlen(server))) ||
      (version && *version && ingest_labels_add(l, "appVersion", 10, version, strlen(version)))) {
    errbuf_set(c->msg, c->msglen, "out of memory");
    return fail(c, INGEST_ENOMEM);
  }
  ingest_labels_sort(l);
  int rc;
  if ((rc = check_encoding(c, false)) || (rc = decode(c, c->rq->body, c->rq->len))) return rc;
  c->up->raw = c->rq->body;
  c->up->rawlen = c->rq->len;
  return finish(c, INGEST_SOURCE_TRACEWAY, service, INGEST_KIND_NONE, server ? server : "", -1);
}

int ingest_request_parse(ingest_protocol proto, const ingest_request *rq, const ingest_config *cfg,
                         ingest_upload *up, int *status, char *msg, size_t msglen) {
  memset(up, 0, sizeof(*up));
  ingest_meta_init(&up->meta);
  *status = 200;
  if (msglen) msg[0] = 0;
  ctx c = {rq, cfg, up, {0}, status, msg, msglen};
  int rc;
  if (!rq->method || strcmp(rq->method, "POST") != 0) {
    errbuf_set(msg, msglen, "method %.20s not allowed: use POST", rq->method ? rq->method : "(none)");
    rc = fail(&c, INGEST_EMETHOD);
    goto out;
  }
  if (cfg->token && *cfg->token && (rc = ingest_auth_check(rq->authorization, cfg->token, msg, msglen))) {
    fail(&c, rc);
    goto out;
  }
  if ((rc = ingest_query_parse(rq->query, &c.query, msg, msglen))) {
    fail(&c, rc);
    goto out;
  }
  switch (proto) {
  case INGEST_PYROSCOPE: rc = pyroscope(&c); break;
  case INGEST_PROFEFE: rc = profefe(&c); break;
  default: rc = traceway(&c); break;
  }
out:
  ingest_labels_free(&c.query);
  if (rc) {
    ingest_upload_free(up);
    ingest_meta_init(&up->meta);
  }
  return rc;
}

void ingest_upload_free(ingest_upload *up) {
  if (!up) return;
  pp_free(up->profile);
  ingest_meta_free(&up->meta);
  free(up->reply_type);
  memset(up, 0, sizeof(*up));
}
