/*
 * meta.c — the metadata of an upload (kind, mode, source, original name,
 * request labels, instance, time) and its two encodings: the JSON record
 * in the staged object's "pgopipe-upload: " comment, and the optional
 * fields of the profile.uploaded payload. Both use the same field names and
 * value encodings, so one reader serves both; both tolerate fields they do
 * not know (a newer writer) and default what is absent (an older writer,
 * or an autopgo server whose events carry only app and profileKey).
 *
 * Also the per-source rules that fill a record: which instance an upload
 * belongs to, which mode its counter columns are in, and its time.
 */
#include "internal.h"

#include "errbuf.h"

#include <stdlib.h>

const char *ingest_mode_name(ingest_mode m) { return m == INGEST_MODE_CUMULATIVE ? "cumulative" : "delta"; }

int ingest_mode_parse(const char *s, ingest_mode *m) {
  if (s && strcmp(s, "delta") == 0) *m = INGEST_MODE_DELTA;
  else if (s && strcmp(s, "cumulative") == 0) *m = INGEST_MODE_CUMULATIVE;
  else return INGEST_EINVAL;
  return INGEST_OK;
}

static const char *const source_names[] = {"api", "scraper", "pyroscope", "profefe", "traceway"};

const char *ingest_source_name(ingest_source s) {
  return (unsigned)s < sizeof source_names / sizeof source_names[0] ? source_names[s] : "";
}

int ingest_source_parse(const char *s, ingest_source *out) {
  for (size_t i = 0; s && i < sizeof source_names / sizeof source_names[0]; i++)
    if (strcmp(s, source_names[i]) == 0) {
      *out = (ingest_source)i;
      return INGEST_OK;
    }
  return INGEST_EINVAL;
}

void ingest_meta_init(ingest_meta *m) {
  memset(m, 0, sizeof(*m));
  m->kind = INGEST_KIND_CPU;
  m->mode = INGEST_MODE_DELTA;
  m->source = INGEST_SOURCE_API;
}

void ingest_meta_free(ingest_meta *m) {
  if (!m) return;
  free(m->name);
  free(m->instance);
  ingest_labels_free(&m->labels);
  ingest_meta_init(m);
}

static int dup_opt(const char *s, char **out) {
  *out = NULL;
  if (!s) return INGEST_OK;
  *out = ing_strndup(s, strlen(s));
  return *out ? INGEST_OK : INGEST_ENOMEM;
}

int ingest_meta_copy(ingest_meta *dst, const ingest_meta *src) {
  ingest_meta t;
  ingest_meta_init(&t);
  t.kind = src->kind;
  t.mode = src->mode;
  t.source = src->source;
  t.time_ns = src->time_ns;
  t.received_ns = src->received_ns;
  if (dup_opt(src->name, &t.name) || dup_opt(src->instance, &t.instance) ||
      ingest_labels_copy(&t.labels, &src->labels)) {
    ingest_meta_free(&t);
    return INGEST_ENOMEM;
  }
  ingest_meta_free(dst);
  *dst = t;
  return INGEST_OK;
}

int ingest_meta_is_default(const ingest_meta *m) {
  return m->kind == INGEST_KIND_CPU && m->mode == INGEST_MODE_DELTA && m->source == INGEST_SOURCE_API &&
         (!m->name || !*m->name) && m->labels.n == 0 && (!m->instance || !*m->instance);
}

/* ---- JSON ---- */

static bool utf8_ok(const char *s) { return !s || ing_utf8_valid(s, strlen(s)); }

/* Adds the record's fields to object o; with_received for the comment.
 * INGEST_EINVAL when a string is not UTF-8 (JSON cannot carry it). */
static int meta_fill(const ingest_meta *m, json_t *o, int with_received, char *err, size_t errlen) {
  bool text_ok = utf8_ok(m->name) && utf8_ok(m->instance);
  for (size_t i = 0; text_ok && i < m->labels.n; i++)
    text_ok = utf8_ok(m->labels.v[i].key) && utf8_ok(m->labels.v[i].value);
  if (!text_ok) {
    errbuf_set(err, errlen, "upload metadata: a name, label or instance is not valid UTF-8");
    return INGEST_EINVAL;
  }
  int bad = 0;
  bad |= json_object_set_new(o, "kind", json_string(ingest_kind_name(m->kind)));
  bad |= json_object_set_new(o, "mode", json_string(ingest_mode_name(m->mode)));
  bad |= json_object_set_new(o, "source", json_string(ingest_source_name(m->source)));
  if (m->name) bad |= json_object_set_new(o, "name", json_stringn(m->name, strlen(m->name)));
  if (m->labels.n) {
    json_t *l = json_object();
    bad |= !l;
    for (size_t i = 0; l && i < m->labels.n; i++) {
      const char *k = m->labels.v[i].key;
      json_t *v = json_stringn(m->labels.v[i].value, strlen(m->labels.v[i].value));
      json_t *have = json_object_get(l, k);
      if (!v) {
        bad = 1;
      } else if (!have) {
        bad |= json_object_set_new(l, k, v);
      } else if (json_is_array(have)) {
        bad |= json_array_append_new(have, v);
      } else {
        json_t *a = json_array();
        bad |= !a || json_array_append(a, have) || json_array_append_new(a, v) || json_object_set_new(l, k, a);
      }
    }
    if (l) bad |= json_object_set_new(o, "labels", l);
  }
  if (m->instance && *m->instance)
    bad |= json_object_set_new(o, "instance", json_stringn(m->instance, strlen(m->instance)));
  if (m->time_ns) bad |= json_object_set_new(o, "time", json_integer(m->time_ns));
  if (with_received && m->received_ns) bad |= json_object_set_new(o, "received", json_integer(m->received_ns));
  if (bad) errbuf_set(err, errlen, "out of memory");
  return bad ? INGEST_ENOMEM : INGEST_OK;
}

int ingest_meta_to_json(const ingest_meta *m, char **json, char *err, size_t errlen) {
  *json = NULL;
  json_t *o = json_object();
  int rc = o ? meta_fill(m, o, 1, err, errlen) : INGEST_ENOMEM;
  if (!rc) {
    *json = json_dumps(o, JSON_COMPACT);
    if (!*json) rc = INGEST_ENOMEM;
  }
  json_decref(o);
  if (rc == INGEST_ENOMEM) errbuf_set(err, errlen, "out of memory");
  return rc;
}

static int bad_field(const char *what, const char *field, char *err, size_t errlen) {
  errbuf_set(err, errlen, "%s: field \"%s\" has a wrong type or value", what, field);
  return INGEST_EINVAL;
}

/* Reads the record's fields from object o (missing = default). */
static int meta_read(const json_t *o, ingest_meta *m, const char *what, char *err, size_t errlen) {
  ingest_meta_init(m);
  json_t *v;
  int rc = INGEST_OK;
  if ((v = json_object_get(o, "kind")) && (!json_is_string(v) || ingest_kind_parse(json_string_value(v), &m->kind)))
    return bad_field(what, "kind", err, errlen);
  if ((v = json_object_get(o, "mode")) && (!json_is_string(v) || ingest_mode_parse(json_string_value(v), &m->mode)))
    return bad_field(what, "mode", err, errlen);
  if ((v = json_object_get(o, "source")) &&
      (!json_is_string(v) || ingest_source_parse(json_string_value(v), &m->source)))
    return bad_field(what, "source", err, errlen);
  if ((v = json_object_get(o, "time")) && !json_is_integer(v)) return bad_field(what, "time", err, errlen);
  m->time_ns = v ? (int64_t)json_integer_value(v) : 0;
  if ((v = json_object_get(o, "received")) && !json_is_integer(v)) return bad_field(what, "received", err, errlen);
  m->received_ns = v ? (int64_t)json_integer_value(v) : 0;
  if ((v = json_object_get(o, "name"))) {
    if (!json_is_string(v)) return bad_field(what, "name", err, errlen);
    rc = dup_opt(json_string_value(v), &m->name);
  }
  if (!rc && (v = json_object_get(o, "instance"))) {
    if (!json_is_string(v)) return bad_field(what, "instance", err, errlen);
    rc = dup_opt(json_string_value(v), &m->instance);
  }
  if (!rc && (v = json_object_get(o, "labels"))) {
    if (!json_is_object(v)) {
      ingest_meta_free(m);
      return bad_field(what, "labels", err, errlen);
    }
    const char *k;
    json_t *lv;
    json_object_foreach((json_t *)v, k, lv) {
      if (json_is_string(lv)) {
        rc = ingest_labels_add(&m->labels, k, strlen(k), json_string_value(lv), json_string_length(lv));
      } else if (json_is_array(lv)) {
        size_t i;
        json_t *e;
        json_array_foreach(lv, i, e) {
          if (!json_is_string(e)) {
            ingest_meta_free(m);
            return bad_field(what, "labels", err, errlen);
          }
          if ((rc = ingest_labels_add(&m->labels, k, strlen(k), json_string_value(e), json_string_length(e))))
            break;
        }
      } else {
        ingest_meta_free(m);
        return bad_field(what, "labels", err, errlen);
      }
      if (rc) break;
    }
  }
  if (rc) {
    ingest_meta_free(m);
    errbuf_set(err, errlen, "out of memory");
  }
  return rc;
}

int ingest_meta_from_json(const char *json, size_t len, ingest_meta *m, char *err, size_t errlen) {
  ingest_meta_init(m);
  json_error_t je;
  json_t *o = json_loadb(json, len, 0, &je);
  if (!o) {
    errbuf_set(err, errlen, "upload record: invalid JSON: %s", je.text);
    return INGEST_EINVAL;
  }
  int rc;
  if (!json_is_object(o)) {
    errbuf_set(err, errlen, "upload record: not a JSON object");
    rc = INGEST_EINVAL;
  } else {
    rc = meta_read(o, m, "upload record", err, errlen);
  }
  json_decref(o);
  return rc;
}

int ingest_meta_comment(const ingest_meta *m, char **comment, char *err, size_t errlen) {
  *comment = NULL;
  char *j = NULL;
  int rc = ingest_meta_to_json(m, &j, err, errlen);
  if (rc) return rc;
  size_t pl = strlen(INGEST_META_COMMENT_PREFIX), jl = strlen(j);
  char *c = malloc(pl + jl + 1);
  if (!c) {
    free(j);
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  memcpy(c, INGEST_META_COMMENT_PREFIX, pl);
  memcpy(c + pl, j, jl + 1);
  free(j);
  *comment = c;
  return INGEST_OK;
}

int ingest_meta_from_profile(const pp_profile *p, ingest_meta *m, int *found, char *err, size_t errlen) {
  ingest_meta_init(m);
  *found = 0;
  size_t pl = strlen(INGEST_META_COMMENT_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, INGEST_META_COMMENT_PREFIX, pl) != 0) continue;
    *found = 1;
    return ingest_meta_from_json(c + pl, strlen(c + pl), m, err, errlen);
  }
  return INGEST_OK;
}

int ingest_meta_payload_set(const ingest_meta *m, json_t *payload, char *err, size_t errlen) {
  return meta_fill(m, payload, 0, err, errlen);
}

int ingest_meta_payload_get(const json_t *payload, ingest_meta *m, char *err, size_t errlen) {
  ingest_meta_init(m);
  if (!json_is_object(payload)) {
    errbuf_set(err, errlen, "event payload: not a JSON object");
    return INGEST_EINVAL;
  }
  return meta_read(payload, m, "event payload", err, errlen);
}

/* ---- rules ---- */

#define HOUR_NS 3600000000000LL

int64_t ingest_upload_time(int64_t time_nanos, int64_t now_ns, int64_t retention_ns) {
  if (time_nanos == 0) return now_ns;
  if (now_ns <= INT64_MAX - HOUR_NS && time_nanos > now_ns + HOUR_NS) return now_ns;
  if (retention_ns > 0 && now_ns >= INT64_MIN + retention_ns && time_nanos < now_ns - retention_ns) return now_ns;
  return time_nanos;
}

int ingest_instance_id(ingest_source src, const ingest_labels *labels, const char *explicit_id, char **out) {
  const char *id = "";
  char *built = NULL;
  switch (src) {
  case INGEST_SOURCE_PYROSCOPE: {
    const char *s = labels ? ingest_labels_get(labels, "__session_id__") : NULL;
    id = s ? s : "";
    break;
  }
  case INGEST_SOURCE_PROFEFE:
    if (explicit_id && *explicit_id) {
      id = explicit_id;
    } else if (labels && labels->n) {
      built = ingest_labels_string(labels);
      if (!built) return INGEST_ENOMEM;
      *out = built;
      return INGEST_OK;
    }
    break;
  default: id = explicit_id ? explicit_id : ""; break;
  }
  *out = ing_strndup(id, strlen(id));
  return *out ? INGEST_OK : INGEST_ENOMEM;
}

ingest_mode ingest_mode_for(ingest_source src, ingest_kind kind, int has_instance) {
  if (kind == INGEST_KIND_CPU) return INGEST_MODE_DELTA;
  switch (src) {
  case INGEST_SOURCE_PYROSCOPE: return INGEST_MODE_DELTA;
  case INGEST_SOURCE_API: return has_instance ? INGEST_MODE_CUMULATIVE : INGEST_MODE_DELTA;
  default: return INGEST_MODE_CUMULATIVE;
  }
}
