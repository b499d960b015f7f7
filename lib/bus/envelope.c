/*
 * envelope.c — the event envelope of the contract, as JSON (jansson):
 *
 *   {"id":"<UUIDv4>","timestamp":"2026-11-21T12:16:34.964Z",
 *    "type":"profile.uploaded","payload":{"app":"...","profileKey":"..."}}
 *
 * Ids are random (version 4) UUIDs made from getrandom(2): the kernel's
 * CSPRNG, no extra library and no state to seed. Timestamps are written as
 * RFC 3339 UTC with milliseconds; on input any RFC 3339 date-time (other
 * fraction lengths, numeric offsets, as Go's time.Time writes) is accepted
 * and normalised to that form, so events from other producers fit.
 *
 * Decoding is a trust boundary — a consumer reads whatever is on the topic —
 * so it checks everything it copies, reports the first problem by field
 * name, and never writes past the fixed-size fields of bus_event. Unknown
 * top-level and payload fields are ignored (forward compatibility): a known
 * type keeps exactly its own payload fields, so decode(encode(e)) == e;
 * unknown event types are kept as read, with whatever of app / profileKey /
 * mergedKey they carry as strings.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "bus.h"
#include "bus_internal.h"

int bus_valid_app(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return 0;
    if (n >= 63)
      return 0;
  }
  return n >= 1;
}

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

static void format_uuid(const unsigned char b[16], char out[37]) {
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *o++ = '-';
    *o++ = hex[b[i] >> 4];
    *o++ = hex[b[i] & 15];
  }
  *o = 0;
}

int bus_uuid4(char out[37]) {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return BUS_EIO;
    }
    got += (size_t)n;
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  format_uuid(b, out);
  return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (y/m/d civil). */
static long long days_from_civil(long long y, int m, int d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  long long yoe = y - era * 400;
  long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int format_time_ms(long long ms, char out[32]) {
  time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int milli = (int)(ms - (long long)secs * 1000);
  struct tm tm;
  if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
    return -1;
  char buf[80];
  int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
  if (n != 24)
    return -1;
  memcpy(out, buf, 25);
  return 0;
}

static int digits(const char *s, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 0;
}

/*
 * Parses an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM); 't'/'z'
 * and a space for 'T' accepted as RFC 3339 allows) into milliseconds since
 * the epoch, truncating the fraction. Leap second 60 is refused.
 */
int bus_parse_rfc3339(const char *s, long long *ms_out) {
  int Y, M, D, h, m, sec;
  size_t n = strlen(s);
  if (n < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
      digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
      digits(s + 17, 2, &sec))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 ||
      m > 59 || sec > 59)
    return -1;
  const char *p = s + 19;
  int frac_ms = 0;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (nd < 3)
        frac_ms = frac_ms * 10 + (*p - '0');
      nd++;
      p++;
    }
    if (nd == 0 || nd > 9)
      return -1;
    for (; nd < 3; nd++)
      frac_ms *= 10;
  }
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
      return -1;
    off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1;
  }
  if (*p)
    return -1;
  long long secs = days_from_civil(Y, M, D) * 86400LL + h * 3600 + m * 60 + sec - off * 60LL;
  *ms_out = secs * 1000 + frac_ms;
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
  if (bus_uuid4(ev->id))
    return BUS_EIO;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (format_time_ms((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, ev->timestamp))
    return BUS_EIO;
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
  if (!ev || !json)
    return bus_fail(err, errlen, BUS_EINVAL, "event: encode: NULL event or output");
  if (!terminated(ev->id, sizeof ev->id) || !terminated(ev->timestamp, sizeof ev->timestamp) ||
      !terminated(ev->type, sizeof ev->type) || !terminated(ev->app, sizeof ev->app) ||
      !terminated(ev->profile_key, sizeof ev->profile_key) ||
      !terminated(ev->merged_key, sizeof ev->merged_key))
    return bus_fail(err, errlen, BUS_EINVAL, "event: encode: a field is not NUL-terminated");
  if (!ev->id[0] || !ev->timestamp[0] || !ev->type[0])
    return bus_fail(err, errlen, BUS_EINVAL,
                    "event: encode: id, timestamp and type are required (use bus_event_init)");
  int needs = type_needs(ev->type);
  if (needs > 0) {
    if (!bus_valid_app(ev->app))
      return bus_fail(err, errlen, BUS_EINVAL,
                      "event: encode %s: app \"%s\" is not a valid app name (^[a-z0-9-]{1,63}$)",
                      ev->type, ev->app);
    if ((needs & NEED_PROFILE) && !ev->profile_key[0])
      return bus_fail(err, errlen, BUS_EINVAL, "event: encode %s: profileKey is empty", ev->type);
    if ((needs & NEED_MERGED) && !ev->merged_key[0])
      return bus_fail(err, errlen, BUS_EINVAL, "event: encode %s: mergedKey is empty", ev->type);
  }
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
  if (!out)
    return bus_fail(err, errlen, BUS_EINVAL,
                    "event: encode %s: a field is not valid UTF-8 (or out of memory)", ev->type);
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
    bus_fail(err, errlen, BUS_EINVAL, "event: \"%s%s\" is not a string", where, key);
    return -1;
  }
  const char *s = json_string_value(v);
  if (strlen(s) != json_string_length(v)) {
    bus_fail(err, errlen, BUS_EINVAL, "event: \"%s%s\" contains a NUL character", where, key);
    return -1;
  }
  *out = s;
  return 1;
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
  if (!json_is_object(root))
    return bus_fail(err, errlen, BUS_EINVAL, "event: not a JSON object");
  const char *id = NULL, *ts = NULL, *type = NULL;
  int r;
  if ((r = get_string(root, "id", "", &id, err, errlen)) <= 0)
    return r < 0 ? BUS_EINVAL : bus_fail(err, errlen, BUS_EINVAL, "event: missing \"id\"");
  if (!is_uuid(id))
    return bus_fail(err, errlen, BUS_EINVAL, "event: \"id\" %.40s%s is not a UUID", id,
                    strlen(id) > 40 ? "..." : "");
  if ((r = get_string(root, "timestamp", "", &ts, err, errlen)) <= 0)
    return r < 0 ? BUS_EINVAL : bus_fail(err, errlen, BUS_EINVAL, "event: missing \"timestamp\"");
  long long ms;
  if (bus_parse_rfc3339(ts, &ms) || format_time_ms(ms, ev->timestamp))
    return bus_fail(err, errlen, BUS_EINVAL, "event: \"timestamp\" \"%.40s%s\" is not RFC 3339",
                    ts, strlen(ts) > 40 ? "..." : "");
  if ((r = get_string(root, "type", "", &type, err, errlen)) <= 0)
    return r < 0 ? BUS_EINVAL : bus_fail(err, errlen, BUS_EINVAL, "event: missing \"type\"");
  if (!type[0])
    return bus_fail(err, errlen, BUS_EINVAL, "event: \"type\" is empty");
  if (copy_field(ev->type, sizeof ev->type, type))
    return bus_fail(err, errlen, BUS_EINVAL, "event: \"type\" is longer than %zu bytes",
                    sizeof ev->type - 1);
  for (int i = 0; i < 36; i++)
    ev->id[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
  ev->id[36] = 0;

  json_t *payload = json_object_get(root, "payload");
  if (!payload)
    return bus_fail(err, errlen, BUS_EINVAL, "event: missing \"payload\"");
  if (!json_is_object(payload))
    return bus_fail(err, errlen, BUS_EINVAL, "event: \"payload\" is not an object");

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
      if (required)
        return bus_fail(err, errlen, BUS_EINVAL, "event %s: missing \"payload.%s\"", ev->type,
                        fields[i].name);
      continue;
    }
    if (copy_field(dst, fields[i].cap, v)) {
      if (required)
        return bus_fail(err, errlen, BUS_EINVAL, "event %s: \"payload.%s\" is longer than %zu bytes",
                        ev->type, fields[i].name, fields[i].cap - 1);
      dst[0] = 0;
      continue;
    }
    if (fields[i].need == NEED_APP && required && !bus_valid_app(v))
      return bus_fail(err, errlen, BUS_EINVAL,
                      "event %s: \"payload.app\" \"%.64s%s\" is not a valid app name (^[a-z0-9-]{1,63}$)",
                      ev->type, v, strlen(v) > 64 ? "..." : "");
  }
  return 0;
}

int bus_event_decode(const void *json, size_t len, bus_event *ev, char *err, size_t errlen) {
  char dummy[1];
  if (!err || !errlen) { /* decode_obj writes err[0]; give it somewhere */
    err = dummy;
    errlen = sizeof dummy;
  }
  err[0] = 0;
  if (!ev)
    return bus_fail(err, errlen, BUS_EINVAL, "event: decode: NULL event");
  memset(ev, 0, sizeof *ev);
  if (!json && len)
    return bus_fail(err, errlen, BUS_EINVAL, "event: decode: NULL input");
  if (len == 0)
    return bus_fail(err, errlen, BUS_EINVAL, "event: empty message");
  json_error_t je;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!root)
    return bus_fail(err, errlen, BUS_EINVAL, "event: not JSON: %s (line %d, column %d)", je.text,
                    je.line, je.column);
  int rc = decode_obj(root, ev, err, errlen);
  json_decref(root);
  if (rc)
    memset(ev, 0, sizeof *ev);
  return rc;
}
