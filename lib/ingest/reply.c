/*
 * reply.c — the answer bodies each protocol's clients expect: Pyroscope's
 * {"code","message"} errors (connect codes), profefe's {"code","error"}
 * errors and its {"code":200,"body":...} success envelope (kube-profefe
 * reads body.id from it; the read API's lists, services and version come in
 * it too), traceway's {"error"} (and the empty body of its 401). Built with jansson, so any message text is escaped correctly.
 */
#include "internal.h"

#include "chrono.h"

#include <stdlib.h>

/* json_dumps of o plus a newline (Go's json.Encoder ends with one), or
 * without it; o is consumed. */
static char *dump(json_t *o, int newline) {
  if (!o) return NULL;
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s || !newline) return s;
  size_t n = strlen(s);
  char *r = realloc(s, n + 2);
  if (!r) {
    free(s);
    return NULL;
  }
  r[n] = '\n';
  r[n + 1] = 0;
  return r;
}

/* A JSON string of s; invalid UTF-8 bytes become U+FFFD (messages quote
 * client input). */
static json_t *text(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  if (ing_utf8_valid(s, n)) return json_stringn(s, n);
  char *c = malloc(n * 3 + 1);
  if (!c) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    size_t len = 1;
    unsigned char b = (unsigned char)s[i];
    if (b >= 0xc0) len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    if (b >= 0x80 && (i + len > n || len == 1 || !ing_utf8_valid(s + i, len))) {
      memcpy(c + k, "\xef\xbf\xbd", 3);
      k += 3;
      i++;
      continue;
    }
    memcpy(c + k, s + i, len);
    k += len;
    i += len;
  }
  json_t *j = json_stringn(c, k);
  free(c);
  return j;
}

char *ingest_reply_pyroscope_error(int http_status, const char *message) {
  json_t *o = json_object();
  if (!o || json_object_set_new(o, "code", json_string(ingest_connect_code(http_status))) ||
      json_object_set_new(o, "message", text(message))) {
    json_decref(o);
    return NULL;
  }
  return dump(o, 1);
}

char *ingest_reply_profefe_error(int http_status, const char *message) {
  json_t *o = json_object();
  if (!o || json_object_set_new(o, "code", json_integer(http_status)) ||
      json_object_set_new(o, "error", text(message))) {
    json_decref(o);
    return NULL;
  }
  return dump(o, 1);
}

/* profefe's profile model {"id","type","service"[,"labels"],"created_at"},
 * or NULL when out of memory. */
static json_t *profefe_meta(const char *id, const char *type, const char *service, const ingest_labels *labels,
                            int64_t created_at_ns) {
  char when[32];
  int64_t s = created_at_ns / 1000000000;
  if (created_at_ns < 0 && created_at_ns % 1000000000) s--;
  if (chrono_format_rfc3339(s * 1000, 0, when, sizeof when)) when[0] = 0;
  json_t *b = json_object();
  int bad = !b;
  bad = bad || json_object_set_new(b, "id", text(id)) || json_object_set_new(b, "type", text(type)) ||
        json_object_set_new(b, "service", text(service));
  if (!bad && labels && labels->n) {
    json_t *a = json_array();
    bad = !a;
    for (size_t i = 0; !bad && i < labels->n; i++) {
      json_t *l = json_object();
      if (!l) {
        bad = 1;
        break;
      }
      bad |= json_object_set_new(l, "key", text(labels->v[i].key));
      bad |= json_object_set_new(l, "value", text(labels->v[i].value));
      bad |= json_array_append_new(a, l); /* takes l, also on failure */
    }
    if (a) bad = json_object_set_new(b, "labels", a) || bad;
  }
  bad = bad || json_object_set_new(b, "created_at", json_string(when));
  if (bad) {
    json_decref(b);
    return NULL;
  }
  return b;
}

/* {"code":200,"body":BODY} and a newline; body is consumed. */
static char *profefe_envelope(json_t *body) {
  json_t *o = body ? json_object() : NULL;
  if (!o || json_object_set_new(o, "code", json_integer(200)) || json_object_set_new(o, "body", body)) {
    if (!o) json_decref(body);
    json_decref(o);
    return NULL;
  }
  return dump(o, 1);
}

char *ingest_reply_profefe_ok(const char *id, const char *type, const char *service, const ingest_labels *labels,
                              int64_t created_at_ns) {
  return profefe_envelope(profefe_meta(id, type, service, labels, created_at_ns));
}

char *ingest_reply_profefe_list(const ingest_profefe_item *items, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++) {
    json_t *m = profefe_meta(items[i].id, items[i].type, items[i].service, items[i].labels, items[i].created_at_ns);
    if (!m || json_array_append_new(a, m)) {
      json_decref(a);
      a = NULL;
    }
  }
  return profefe_envelope(a);
}

char *ingest_reply_profefe_names(const char *const *names, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n; i++)
    if (json_array_append_new(a, text(names[i]))) {
      json_decref(a);
      a = NULL;
    }
  return profefe_envelope(a);
}

char *ingest_reply_profefe_version(const char *version, const char *commit, const char *build_time) {
  return profefe_envelope(json_pack("{s:o, s:o, s:o}", "version", text(version), "commit", text(commit),
                                    "build_time", text(build_time)));
}

char *ingest_reply_traceway_error(int http_status, const char *message) {
  if (http_status == 401) {
    char *e = malloc(1);
    if (e) e[0] = 0;
    return e;
  }
  json_t *o = json_object();
  if (!o || json_object_set_new(o, "error", text(message))) {
    json_decref(o);
    return NULL;
  }
  return dump(o, 0);
}

char *ingest_reply_error(ingest_protocol proto, int http_status, const char *message) {
  switch (proto) {
  case INGEST_PYROSCOPE: return ingest_reply_pyroscope_error(http_status, message);
  case INGEST_PROFEFE: return ingest_reply_profefe_error(http_status, message);
  default: return ingest_reply_traceway_error(http_status, message);
  }
}
