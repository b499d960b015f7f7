/*
 * envelope.c — the event envelope of the contract, as JSON (jansson):
 *
 *   {"id":"<UUIDv4>","timestamp":"2026-11-21T12:16:34.964Z",
 *    "type":"profile.uploaded","payload":{"app":"...","profileKey":"..."}}
 *
 * Ids are random (version 4) UUIDs (rnd_uuid4: the kernel's CSPRNG, no
 * state to seed). Timestamps are written as RFC 3339 UTC with milliseconds;
 * on input any RFC 3339 date-time (other fraction lengths, numeric offsets,
 * as Go's time.Time writes) is accepted and normalised to that form, so
 * events from other producers fit. App names follow layout_app_valid, the
 * times chrono.h: the one rule and the one grammar of the whole pipeline.
 *
 * Decoding is a trust boundary — a consumer reads whatever is on the topic —
 * so it checks everything it copies, reports the first problem by field
 * name, and never writes past the fixed-size fields of bus_event. Unknown
 * top-level and payload fields are ignored (forward compatibility): a known
 * type keeps exactly its own payload fields, so decode(encode(e)) == e;
 * unknown event types are kept as read, with whatever of app / profileKey /
 * mergedKey they carry as strings.
 *
 * Optional payload fields (bus.h): profile.uploaded may carry the upload's
 * metadata (kind, mode, source, name, labels, instance, time), profile.merged
 * the kind of the base it wrote. They are checked like the required ones
 * when present, and absent ones stay absent, so events from autopgo (which
 * sends none) decode as before. Labels are kept as their compact JSON text:
 * decode writes that form and encode parses it back, so decode(encode(e))
 * == e still holds byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "bus_internal.h"
#include "chrono.h"
#include "errbuf.h"
#include "layout.h"
#include "rnd.h"

static int copy_field(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap)
    return -1;
  memcpy(dst, src, n + 1);
  return 0;
}

/* Which payload fields a known type requires. */
enum { NEED_APP = 1, NEED_PROFILE = 2, NEED_MERGED = 4 };

static int type_needs(const char *type) {
  if (!strcmp(type, BUS_TYPE_UPLOADED))
    return NEED_APP | NEED_PROFILE;
  if (!strcmp(type, BUS_TYPE_MERGED))
    return NEED_APP | NEED_PROFILE | NEED_MERGED;
  if (!strcmp(type, BUS_TYPE_DELETED))
    return NEED_APP;
  return -1; /* unknown type */
}

/* Which optional payload fields a type carries. */
enum { OPT_KIND = 1, OPT_META = 2 };

static int type_optional(const char *type) {
  if (!strcmp(type, BUS_TYPE_UPLOADED))
    return OPT_KIND | OPT_META;
  if (!strcmp(type, BUS_TYPE_MERGED))
    return OPT_KIND;
  return 0;
}

int bus_event_init(bus_event *ev, const char *type, const char *app) {
  if (!ev || !type)
    return BUS_EINVAL;
  memset(ev, 0, sizeof *ev);
  if (!app)
    app = "";
  if (copy_field(ev->type, sizeof ev->type, type) || copy_field(ev->app, sizeof ev->app, app))
    return BUS_EINVAL;
  if (rnd_uuid4(ev->id))
    return BUS_EIO;
  if (chrono_format_rfc3339(chrono_now_ms(), 1, ev->timestamp, sizeof ev->timestamp))
    return BUS_EIO;
  return 0;
}

/* ---- Optional payload fields ---- */

static void clear_meta(bus_event *ev) {
  ev->kind[0] = ev->mode[0] = ev->source[0] = 0;
  ev->name[0] = ev->instance[0] = ev->labels[0] = 0;
  ev->time_ns = 0;
}

static int bad_field(const bus_event *ev, const char *field, const char *why, char *err, size_t errlen) {
  errbuf_set(err, errlen, "event %s: \"payload.%s\" %s", ev->type, field, why);
  return BUS_EINVAL;
}

/* A string member that must not contain NUL: 1 present (*out), 0 absent,
 * BUS_EINVAL otherwise. */
static int opt_string(const bus_event *ev, const json_t *payload, const char *field, const char **out, char *err,
                      size_t errlen) {
  json_t *v = json_object_get(payload, field);
  if (!v)
    return 0;
  if (!json_is_string(v))
    return bad_field(ev, field, "is not a string", err, errlen);
  if (strlen(json_string_value(v)) != json_string_length(v))
    return bad_field(ev, field, "contains a NUL character", err, errlen);
  *out = json_string_value(v);
  return 1;
}

/* Copies a text field of capacity cap (NUL included). */
static int opt_text(bus_event *ev, const json_t *payload, const char *field, char *dst, size_t cap, char *err,
                    size_t errlen) {
  const char *s = NULL;
  int r = opt_string(ev, payload, field, &s, err, errlen);
  if (r <= 0)
    return r;
  if (copy_field(dst, cap, s)) {
    char why[64];
    snprintf(why, sizeof why, "is longer than %zu bytes", cap - 1);
    return bad_field(ev, field, why, err, errlen);
  }
  return 0;
}

static int source_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 15)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
      return 0;
  return 1;
}

/* 1 when v is a string without NUL. */
static int plain_string(const json_t *v) {
  return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* payload.labels: an object of strings or arrays of strings, kept as its
 * compact text. */
static int opt_labels(bus_event *ev, const json_t *payload, char *err, size_t errlen) {
  json_t *v = json_object_get(payload, "labels");
  if (!v)
    return 0;
  if (!json_is_object(v))
    return bad_field(ev, "labels", "is not an object", err, errlen);
  const char *k;
  size_t klen;
  json_t *lv;
  json_object_keylen_foreach(v, k, klen, lv) {
    if (strlen(k) != klen)
      return bad_field(ev, "labels", "has a key with a NUL character", err, errlen);
    if (json_is_array(lv)) {
      size_t i;
      json_t *e;
      json_array_foreach(lv, i, e) {
        if (!plain_string(e))
          return bad_field(ev, "labels", "has a value that is not a string or an array of strings", err,
                           errlen);
      }
    } else if (!plain_string(lv)) {
      return bad_field(ev, "labels", "has a value that is not a string or an array of strings", err, errlen);
    }
  }
  if (json_object_size(v) == 0)
    return 0;
  char *text = json_dumps(v, JSON_COMPACT);
  if (!text) {
    errbuf_set(err, errlen, "event %s: out of memory", ev->type);
    return BUS_ENOMEM;
  }
  int rc = copy_field(ev->labels, sizeof ev->labels, text);
  free(text);
  if (rc) {
    char why[64];
    snprintf(why, sizeof why, "is longer than %d bytes as JSON", BUS_LABELS_MAX);
    return bad_field(ev, "labels", why, err, errlen);
  }
  return 0;
}

int bus_event_set_meta(bus_event *ev, const json_t *payload, char *err, size_t errlen) {
  clear_meta(ev);
  if (!json_is_object(payload)) {
    errbuf_set(err, errlen, "event %s: \"payload\" is not an object", ev->type);
    return BUS_EINVAL;
  }
  int opt = type_optional(ev->type);
  const char *s = NULL;
  int r = 0;
  if (opt & OPT_KIND) {
    if ((r = opt_string(ev, payload, "kind", &s, err, errlen)) < 0)
      goto fail;
    if (r > 0 && s[0]) {
      layout_kind k = layout_kind_parse(s);
      if (k == LAYOUT_KIND_NONE) {
        r = bad_field(ev, "kind", "is not a profile kind (cpu, heap, mutex, block, goroutine, threadcreate)", err,
                      errlen);
        goto fail;
      }
      copy_field(ev->kind, sizeof ev->kind, layout_kind_name(k));
    }
  }
  if (!(opt & OPT_META))
    return 0;
  if ((r = opt_string(ev, payload, "mode", &s, err, errlen)) < 0)
    goto fail;
  if (r > 0 && s[0]) {
    if (strcmp(s, "delta") != 0 && strcmp(s, "cumulative") != 0) {
      r = bad_field(ev, "mode", "is not \"delta\" or \"cumulative\"", err, errlen);
      goto fail;
    }
    copy_field(ev->mode, sizeof ev->mode, s);
  }
  if ((r = opt_string(ev, payload, "source", &s, err, errlen)) < 0)
    goto fail;
  if (r > 0 && s[0]) {
    if (!source_ok(s)) {
      r = bad_field(ev, "source", "is not 1 to 15 characters of a-z, 0-9, '_' and '-'", err, errlen);
      goto fail;
    }
    copy_field(ev->source, sizeof ev->source, s);
  }
  if ((r = opt_text(ev, payload, "name", ev->name, sizeof ev->name, err, errlen)) ||
      (r = opt_text(ev, payload, "instance", ev->instance, sizeof ev->instance, err, errlen)) ||
      (r = opt_labels(ev, payload, err, errlen)))
    goto fail;
  json_t *t = json_object_get(payload, "time");
  if (t) {
    if (!json_is_integer(t)) {
      r = bad_field(ev, "time", "is not an integer (ns since the epoch)", err, errlen);
      goto fail;
    }
    ev->time_ns = (int64_t)json_integer_value(t);
  }
  return 0;
fail:
  clear_meta(ev);
  return r;
}

json_t *bus_event_meta(const bus_event *ev) {
  json_t *o = json_object();
  int bad = !o;
  if (!bad && ev->kind[0])
    bad |= json_object_set_new(o, "kind", json_string(ev->kind));
  if (!bad && ev->mode[0])
    bad |= json_object_set_new(o, "mode", json_string(ev->mode));
  if (!bad && ev->source[0])
    bad |= json_object_set_new(o, "source", json_string(ev->source));
  if (!bad && ev->name[0])
    bad |= json_object_set_new(o, "name", json_string(ev->name));
  if (!bad && ev->labels[0]) {
    json_error_t je;
    json_t *l = json_loads(ev->labels, JSON_REJECT_DUPLICATES, &je);
    bad |= !json_is_object(l) || json_object_set_new(o, "labels", l);
    if (l && !json_is_object(l))
      json_decref(l);
  }
  if (!bad && ev->instance[0])
    bad |= json_object_set_new(o, "instance", json_string(ev->instance));
  if (!bad && ev->time_ns)
    bad |= json_object_set_new(o, "time", json_integer(ev->time_ns));
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* The optional fields of ev for encode, checked as decode checks them:
 * *meta is NULL when there are none. */
static int encode_meta(const bus_event *ev, json_t **meta, char *err, size_t errlen) {
  *meta = NULL;
  int opt = type_optional(ev->type);
  static const struct {
    const char *name;
    size_t off;
    int need;
  } f[] = {
      {"kind", offsetof(bus_event, kind), OPT_KIND},        {"mode", offsetof(bus_event, mode), OPT_META},
      {"source", offsetof(bus_event, source), OPT_META},    {"name", offsetof(bus_event, name), OPT_META},
      {"instance", offsetof(bus_event, instance), OPT_META}, {"labels", offsetof(bus_event, labels), OPT_META},
  };
  int any = ev->time_ns != 0;
  if (any && !(opt & OPT_META)) {
    errbuf_set(err, errlen, "event: encode %s: \"payload.time\" is not a field of this type", ev->type);
    return BUS_EINVAL;
  }
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    if (!((const char *)ev + f[i].off)[0])
      continue;
    if (!(opt & f[i].need)) {
      errbuf_set(err, errlen, "event: encode %s: \"payload.%s\" is not a field of this type", ev->type,
                 f[i].name);
      return BUS_EINVAL;
    }
    any = 1;
  }
  if (!any)
    return 0;
  json_t *m = bus_event_meta(ev);
  if (!m) {
    errbuf_set(err, errlen, "event: encode %s: \"payload.labels\" is not a JSON object (or out of memory)",
               ev->type);
    return BUS_EINVAL;
  }
  bus_event check;
  memcpy(check.type, ev->type, sizeof check.type);
  int rc = bus_event_set_meta(&check, m, err, errlen);
  if (!rc && strcmp(check.kind, ev->kind) != 0) {
    errbuf_set(err, errlen, "event: encode %s: \"payload.kind\" \"%s\" is not a kind's own name (use \"%s\")",
               ev->type, ev->kind, check.kind);
    rc = BUS_EINVAL;
  }
  if (rc) {
    json_decref(m);
    return rc;
  }
  *meta = m;
  return 0;
}

/* Checks that fixed-size fields are terminated, so a caller-filled event
 * that overran nothing but forgot a NUL is refused rather than over-read. */
static int terminated(const char *f, size_t cap) { return memchr(f, 0, cap) != NULL; }

int bus_event_encode(const bus_event *ev, char **json, size_t *len, char *err, size_t errlen) {
  if (json)
    *json = NULL;
  if (len)
    *len = 0;
  if (!ev || !json) {
    errbuf_set(err, errlen, "event: encode: NULL event or output");
    return BUS_EINVAL;
  }
  if (!terminated(ev->id, sizeof ev->id) || !terminated(ev->timestamp, sizeof ev->timestamp) ||
      !terminated(ev->type, sizeof ev->type) || !terminated(ev->app, sizeof ev->app) ||
      !terminated(ev->profile_key, sizeof ev->profile_key) ||
      !terminated(ev->merged_key, sizeof ev->merged_key) || !terminated(ev->kind, sizeof ev->kind) ||
      !terminated(ev->mode, sizeof ev->mode) || !terminated(ev->source, sizeof ev->source) ||
      !terminated(ev->name, sizeof ev->name) || !terminated(ev->instance, sizeof ev->instance) ||
      !terminated(ev->labels, sizeof ev->labels)) {
    errbuf_set(err, errlen, "event: encode: a field is not NUL-terminated");
    return BUS_EINVAL;
  }
  if (!ev->id[0] || !ev->timestamp[0] || !ev->type[0]) {
    errbuf_set(err, errlen,
               "event: encode: id, timestamp and type are required (use bus_event_init)");
    return BUS_EINVAL;
  }
  int needs = type_needs(ev->type);
  if (needs > 0) {
    if (!layout_app_valid(ev->app)) {
      errbuf_set(err, errlen,
                 "event: encode %s: app \"%s\" is not a valid app name (^[a-z0-9-]{1,63}$)",
                 ev->type, ev->app);
      return BUS_EINVAL;
    }
    if ((needs & NEED_PROFILE) && !ev->profile_key[0]) {
      errbuf_set(err, errlen, "event: encode %s: profileKey is empty", ev->type);
      return BUS_EINVAL;
    }
    if ((needs & NEED_MERGED) && !ev->merged_key[0]) {
      errbuf_set(err, errlen, "event: encode %s: mergedKey is empty", ev->type);
      return BUS_EINVAL;
    }
  }
  json_t *meta = NULL;
  int rc = encode_meta(ev, &meta, err, errlen);
  if (rc)
    return rc;
  json_t *payload = json_object();
  json_t *root = json_object();
  int bad = !payload || !root;
  /* Known types write exactly their fields; unknown types whatever is set. */
  if (!bad && (needs > 0 ? (needs & NEED_APP) : ev->app[0] != 0))
    bad |= json_object_set_new(payload, "app", json_string(ev->app));
  if (!bad && (needs > 0 ? (needs & NEED_PROFILE) : ev->profile_key[0] != 0))
    bad |= json_object_set_new(payload, "profileKey", json_string(ev->profile_key));
  if (!bad && (needs > 0 ? (needs & NEED_MERGED) : ev->merged_key[0] != 0))
    bad |= json_object_set_new(payload, "mergedKey", json_string(ev->merged_key));
  if (!bad && meta)
    bad |= json_object_update(payload, meta);
  json_decref(meta);
  if (!bad) {
    /* json_string returns NULL for invalid UTF-8; set_new then fails. */
    bad |= json_object_set_new(root, "id", json_string(ev->id));
    bad |= json_object_set_new(root, "timestamp", json_string(ev->timestamp));
    bad |= json_object_set_new(root, "type", json_string(ev->type));
    bad |= json_object_set(root, "payload", payload);
  }
  char *out = bad ? NULL : json_dumps(root, JSON_COMPACT);
  json_decref(payload);
  json_decref(root);
  if (!out) {
    errbuf_set(err, errlen, "event: encode %s: a field is not valid UTF-8 (or out of memory)",
               ev->type);
    return BUS_EINVAL;
  }
  *json = out;
  if (len)
    *len = strlen(out);
  return 0;
}

/* Gets a string member; 1 if present and a string without NUL, 0 if absent,
 * -1 (message in err) if present but not such a string. */
static int get_string(json_t *obj, const char *key, const char *where, const char **out,
                      char *err, size_t errlen) {
  json_t *v = json_object_get(obj, key);
  if (!v)
    return 0;
  if (!json_is_string(v)) {
    errbuf_set(err, errlen, "event: \"%s%s\" is not a string", where, key);
    return -1;
  }
  const char *s = json_string_value(v);
  if (strlen(s) != json_string_length(v)) {
    errbuf_set(err, errlen, "event: \"%s%s\" contains a NUL character", where, key);
    return -1;
  }
  *out = s;
  return 1;
}

/* A required string member: 0 with *out set, or BUS_EINVAL naming it. */
static int need_string(json_t *obj, const char *key, const char **out, char *err, size_t errlen) {
  int r = get_string(obj, key, "", out, err, errlen);
  if (r == 0)
    errbuf_set(err, errlen, "event: missing \"%s\"", key);
  return r > 0 ? 0 : BUS_EINVAL;
}

static int is_uuid(const char *s) {
  if (strlen(s) != 36)
    return 0;
  for (int i = 0; i < 36; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return 0;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return 0;
    }
  }
  return 1;
}

static int decode_obj(json_t *root, bus_event *ev, char *err, size_t errlen) {
  if (!json_is_object(root)) {
    errbuf_set(err, errlen, "event: not a JSON object");
    return BUS_EINVAL;
  }
  const char *id = NULL, *ts = NULL, *type = NULL;
  int r;
  if ((r = need_string(root, "id", &id, err, errlen)) != 0)
    return r;
  if (!is_uuid(id)) {
    errbuf_set(err, errlen, "event: \"id\" %.40s%s is not a UUID", id,
               strlen(id) > 40 ? "..." : "");
    return BUS_EINVAL;
  }
  if ((r = need_string(root, "timestamp", &ts, err, errlen)) != 0)
    return r;
  int64_t ms;
  if (chrono_parse_rfc3339(ts, &ms) ||
      chrono_format_rfc3339(ms, 1, ev->timestamp, sizeof ev->timestamp)) {
    errbuf_set(err, errlen, "event: \"timestamp\" \"%.40s%s\" is not RFC 3339", ts,
               strlen(ts) > 40 ? "..." : "");
    return BUS_EINVAL;
  }
  if ((r = need_string(root, "type", &type, err, errlen)) != 0)
    return r;
  if (!type[0]) {
    errbuf_set(err, errlen, "event: \"type\" is empty");
    return BUS_EINVAL;
  }
  if (copy_field(ev->type, sizeof ev->type, type)) {
    errbuf_set(err, errlen, "event: \"type\" is longer than %zu bytes", sizeof ev->type - 1);
    return BUS_EINVAL;
  }
  for (int i = 0; i < 36; i++)
    ev->id[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
  ev->id[36] = 0;

  json_t *payload = json_object_get(root, "payload");
  if (!payload) {
    errbuf_set(err, errlen, "event: missing \"payload\"");
    return BUS_EINVAL;
  }
  if (!json_is_object(payload)) {
    errbuf_set(err, errlen, "event: \"payload\" is not an object");
    return BUS_EINVAL;
  }

  int needs = type_needs(ev->type);
  static const struct {
    const char *name;
    int need;
    size_t off, cap;
  } fields[] = {
      {"app", NEED_APP, offsetof(bus_event, app), sizeof ((bus_event *)0)->app},
      {"profileKey", NEED_PROFILE, offsetof(bus_event, profile_key),
       sizeof ((bus_event *)0)->profile_key},
      {"mergedKey", NEED_MERGED, offsetof(bus_event, merged_key),
       sizeof ((bus_event *)0)->merged_key},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const char *v = NULL;
    char *dst = (char *)ev + fields[i].off;
    int required = needs > 0 && (needs & fields[i].need);
    if (needs > 0 && !required) /* a known type keeps only its own fields */
      continue;
    r = get_string(payload, fields[i].name, "payload.", &v, err, errlen);
    if (r < 0) {
      if (!required) { /* unknown type: a field of another shape is not ours */
        err[0] = 0;
        continue;
      }
      return BUS_EINVAL;
    }
    if (r == 0 || !v[0]) {
      if (required) {
        errbuf_set(err, errlen, "event %s: missing \"payload.%s\"", ev->type, fields[i].name);
        return BUS_EINVAL;
      }
      continue;
    }
    if (copy_field(dst, fields[i].cap, v)) {
      if (required) {
        errbuf_set(err, errlen, "event %s: \"payload.%s\" is longer than %zu bytes", ev->type,
                   fields[i].name, fields[i].cap - 1);
        return BUS_EINVAL;
      }
      dst[0] = 0;
      continue;
    }
    if (fields[i].need == NEED_APP && required && !layout_app_valid(v)) {
      errbuf_set(
          err, errlen,
          "event %s: \"payload.app\" \"%.64s%s\" is not a valid app name (^[a-z0-9-]{1,63}$)",
          ev->type, v, strlen(v) > 64 ? "..." : "");
      return BUS_EINVAL;
    }
  }
  return bus_event_set_meta(ev, payload, err, errlen);
}

int bus_event_decode(const void *json, size_t len, bus_event *ev, char *err, size_t errlen) {
  char dummy[1];
  if (!err || !errlen) { /* decode_obj writes err[0]; give it somewhere */
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = 0;
  if (!ev) {
    errbuf_set(err, errlen, "event: decode: NULL event");
    return BUS_EINVAL;
  }
  memset(ev, 0, sizeof *ev);
  if (!json && len) {
    errbuf_set(err, errlen, "event: decode: NULL input");
    return BUS_EINVAL;
  }
  if (len == 0) {
    errbuf_set(err, errlen, "event: empty message");
    return BUS_EINVAL;
  }
  json_error_t je;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!root) {
    errbuf_set(err, errlen, "event: not JSON: %s (line %d, column %d)", je.text, je.line,
               je.column);
    return BUS_EINVAL;
  }
  int rc = decode_obj(root, ev, err, errlen);
  json_decref(root);
  if (rc)
    memset(ev, 0, sizeof *ev);
  return rc;
}
