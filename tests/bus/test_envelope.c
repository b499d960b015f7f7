/*
 * test_envelope — the event envelope: encode/decode round trips for every
 * known type, the exact JSON written, normalisation of foreign timestamps
 * and ids, the app-name rule at and past its edges, and a table of malformed
 * envelopes each refused with a message naming the problem.
 */
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "bus_internal.h"
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

static int is_v4(const char *id) {
  if (strlen(id) != 36 || id[14] != '4' || !strchr("89ab", id[19]))
    return 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-')
        return 0;
    } else if (!strchr("0123456789abcdef", id[i])) {
      return 0;
    }
  }
  return 1;
}

static void round_trip(const char *type, const char *app, const char *pk, const char *mk) {
  bus_event ev, back;
  char err[256], *json = NULL;
  size_t len = 0;
  CHECK_RC(bus_event_init(&ev, type, app), 0, "", NULL);
  CHECK(is_v4(ev.id), "id %s is not a lower-case UUIDv4", ev.id);
  CHECK(strlen(ev.timestamp) == 24 && ev.timestamp[10] == 'T' && ev.timestamp[23] == 'Z',
        "timestamp %s", ev.timestamp);
  snprintf(ev.profile_key, sizeof ev.profile_key, "%s", pk);
  snprintf(ev.merged_key, sizeof ev.merged_key, "%s", mk);
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  if (!json)
    return;
  CHECK(len == strlen(json), "len %zu vs %zu", len, strlen(json));
  CHECK_RC(bus_event_decode(json, len, &back, err, sizeof err), 0, err, NULL);
  CHECK(!strcmp(ev.id, back.id) && !strcmp(ev.timestamp, back.timestamp) &&
            !strcmp(ev.type, back.type) && !strcmp(ev.app, back.app) &&
            !strcmp(ev.profile_key, back.profile_key) && !strcmp(ev.merged_key, back.merged_key),
        "round trip of %s differs: %s", type, json);
  free(json);
}

static void exact_json(void) {
  bus_event ev;
  char err[256], *json = NULL, want[512];
  size_t len;
  bus_event_init(&ev, BUS_TYPE_MERGED, "example");
  strcpy(ev.profile_key, "example/staging/1730075435311000000-0a1b2c3d");
  strcpy(ev.merged_key, "example/default.pgo");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  snprintf(want, sizeof want,
           "{\"id\":\"%s\",\"timestamp\":\"%s\",\"type\":\"profile.merged\",\"payload\":{\"app\":"
           "\"example\",\"profileKey\":\"example/staging/1730075435311000000-0a1b2c3d\","
           "\"mergedKey\":\"example/default.pgo\"}}",
           ev.id, ev.timestamp);
  CHECK(json && !strcmp(json, want), "got %s\nwant %s", json, want);
  free(json);

  /* Only the fields of the type: a deleted event carries no keys. */
  bus_event_init(&ev, BUS_TYPE_DELETED, "example");
  strcpy(ev.profile_key, "stray");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  CHECK(json && strstr(json, "\"payload\":{\"app\":\"example\"}}") && !strstr(json, "stray"),
        "deleted: %s", json);
  free(json);

  /* Unknown types are encoded with whatever is set. */
  bus_event_init(&ev, "profile.custom", "");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  CHECK(json && strstr(json, "\"payload\":{}"), "custom: %s", json);
  free(json);
}

static void encode_refusals(void) {
  bus_event ev;
  char err[256], *json = (char *)1;
  size_t len;
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "Bad_App");
  strcpy(ev.profile_key, "x");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "not a valid app name");
  CHECK(json == NULL, "json not cleared on failure");
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "ok");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "profileKey is empty");
  bus_event_init(&ev, BUS_TYPE_MERGED, "ok");
  strcpy(ev.profile_key, "ok/staging/1");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "mergedKey is empty");
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "ok");
  strcpy(ev.profile_key, "ok/\xff\xfe");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "UTF-8");
  memset(ev.app, 'a', sizeof ev.app); /* no terminator */
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "NUL-terminated");
  char type[100];
  memset(type, 't', 99);
  type[99] = 0;
  CHECK(bus_event_init(&ev, type, "a") == BUS_EINVAL, "over-long type accepted by init");
  char app[100];
  memset(app, 'a', 99);
  app[99] = 0;
  CHECK(bus_event_init(&ev, BUS_TYPE_DELETED, app) == BUS_EINVAL, "over-long app accepted by init");
}

/* A profile.deleted envelope for app, into json. */
static void deleted_event(char *json, size_t n, const char *app) {
  snprintf(json, n,
           "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":\"2026-11-21T12:16:34.964Z\","
           "\"type\":\"profile.deleted\",\"payload\":{\"app\":\"%s\"}}",
           app);
}

static void app_names(void) {
  char a63[64], a64[65];
  memset(a63, 'a', 63);
  a63[63] = 0;
  memset(a64, 'a', 64);
  a64[64] = 0;
  /* the app-name rule (layout_app_valid, tests/core) in decode, at the edge */
  char json[512], err[256];
  bus_event ev;
  deleted_event(json, sizeof json, a63);
  CHECK_RC(bus_event_decode(json, strlen(json), &ev, err, sizeof err), 0, err, NULL);
  CHECK(!strcmp(ev.app, a63), "63-char app not kept");
  deleted_event(json, sizeof json, a64);
  CHECK_RC(bus_event_decode(json, strlen(json), &ev, err, sizeof err), BUS_EINVAL, err, "payload.app");
}

static void foreign_forms(void) {
  bus_event ev;
  char err[256];
  struct {
    const char *ts, *want;
  } t[] = {
      {"2026-11-21T12:16:34.964Z", "2026-11-21T12:16:34.964Z"},
      {"2026-11-21T12:16:34Z", "2026-11-21T12:16:34.000Z"},
      {"2026-11-21T12:16:34.9Z", "2026-11-21T12:16:34.900Z"},
      {"2026-11-21T12:16:34.964123456Z", "2026-11-21T12:16:34.964Z"},
      {"2026-11-21T14:16:34.964+02:00", "2026-11-21T12:16:34.964Z"},
      {"2026-11-21T00:30:00.000-01:00", "2026-11-21T01:30:00.000Z"},
      {"2024-02-29t23:59:59.999z", "2024-02-29T23:59:59.999Z"},
      {"2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000Z"},
      {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char json[512];
    snprintf(json, sizeof json,
             "{\"id\":\"E9E23FA8-9D46-4C66-9190-2F64EACD73A2\",\"timestamp\":\"%s\",\"type\":\"profile.uploaded\","
             "\"payload\":{\"app\":\"a\",\"profileKey\":\"a/staging/1\"},\"extra\":[1,2]}",
             t[i].ts);
    CHECK_RC(bus_event_decode(json, strlen(json), &ev, err, sizeof err), 0, err, NULL);
    CHECK(!strcmp(ev.timestamp, t[i].want), "%s -> %s, want %s", t[i].ts, ev.timestamp, t[i].want);
    CHECK(!strcmp(ev.id, "e9e23fa8-9d46-4c66-9190-2f64eacd73a2"), "id not lower-cased: %s", ev.id);
  }
  /* A known type keeps only its own payload fields (found by the fuzzer:
   * otherwise decode(encode(e)) != e). */
  const char *extra = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":\"2026-11-21T12:16:34Z\","
                      "\"type\":\"profile.deleted\",\"payload\":{\"app\":\"x\",\"profileKey\":\"x/staging/1\",\"n\":1}}";
  CHECK_RC(bus_event_decode(extra, strlen(extra), &ev, err, sizeof err), 0, err, NULL);
  CHECK(!strcmp(ev.app, "x") && !ev.profile_key[0], "deleted kept profileKey %s", ev.profile_key);
  /* An unknown type is kept with its string fields; odd-shaped ones ignored. */
  const char *custom = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":\"2026-11-21T12:16:34.964Z\","
                       "\"type\":\"profile.other\",\"payload\":{\"app\":\"Any Thing\",\"profileKey\":7}}";
  CHECK_RC(bus_event_decode(custom, strlen(custom), &ev, err, sizeof err), 0, err, NULL);
  CHECK(!strcmp(ev.type, "profile.other") && !strcmp(ev.app, "Any Thing") && !ev.profile_key[0],
        "custom kept as: type=%s app=%s pk=%s", ev.type, ev.app, ev.profile_key);
}

static void malformed(void) {
  static const char ID[] = "\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\"";
  static const char TS[] = "\"timestamp\":\"2026-11-21T12:16:34.964Z\"";
  char longkey[1100];
  memset(longkey, 'k', 1025);
  longkey[1025] = 0;
  char buf[64][1600];
  struct {
    const char *json;
    const char *want;
  } t[64];
  int n = 0;
#define ROW(want_, ...)                                                        \
  do {                                                                         \
    snprintf(buf[n], sizeof buf[n], __VA_ARGS__);                              \
    t[n].json = buf[n];                                                        \
    t[n].want = want_;                                                         \
    n++;                                                                       \
  } while (0)
  ROW("empty message", "%s", "");
  ROW("not JSON", "%s", "{");
  ROW("not JSON", "%s", "{\"id\":1,}");
  ROW("not JSON", "%s", "{} trailing");
  ROW("not JSON", "%s", "\xff\xfe{}");
  ROW("not a JSON object", "%s", "[]");
  ROW("not a JSON object", "%s", "\"event\"");
  ROW("missing \"id\"", "{%s,\"type\":\"x\",\"payload\":{}}", TS);
  ROW("\"id\" is not a string", "{\"id\":7,%s,\"type\":\"x\",\"payload\":{}}", TS);
  ROW("is not a UUID", "{\"id\":\"abc\",%s,\"type\":\"x\",\"payload\":{}}", TS);
  ROW("is not a UUID", "{\"id\":\"e9e23fa8x9d46-4c66-9190-2f64eacd73a2\",%s,\"type\":\"x\",\"payload\":{}}", TS);
  ROW("is not a UUID", "{\"id\":\"g9e23fa8-9d46-4c66-9190-2f64eacd73a2\",%s,\"type\":\"x\",\"payload\":{}}", TS);
  ROW("missing \"timestamp\"", "{%s,\"type\":\"x\",\"payload\":{}}", ID);
  ROW("\"timestamp\" is not a string", "{%s,\"timestamp\":1700000000,\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"yesterday\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-11-21 12:16:34\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-02-29T12:16:34Z\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-13-01T12:16:34Z\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-11-21T24:00:00Z\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-11-21T12:16:34.Z\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-11-21T12:16:34+0200\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("not RFC 3339", "{%s,\"timestamp\":\"2026-11-21T12:16:34Zjunk\",\"type\":\"x\",\"payload\":{}}", ID);
  ROW("missing \"type\"", "{%s,%s,\"payload\":{}}", ID, TS);
  ROW("\"type\" is not a string", "{%s,%s,\"type\":null,\"payload\":{}}", ID, TS);
  ROW("\"type\" is empty", "{%s,%s,\"type\":\"\",\"payload\":{}}", ID, TS);
  ROW("\"type\" is longer than", "{%s,%s,\"type\":\"%060d\",\"payload\":{}}", ID, TS, 0);
  ROW("is not allowed", "{%s,%s,\"type\":\"profile.merged\\u0000x\",\"payload\":{}}", ID, TS);
  ROW("missing \"payload\"", "{%s,%s,\"type\":\"profile.deleted\"}", ID, TS);
  ROW("\"payload\" is not an object", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":\"a\"}", ID, TS);
  ROW("\"payload\" is not an object", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":null}", ID, TS);
  ROW("missing \"payload.app\"", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{}}", ID, TS);
  ROW("missing \"payload.app\"", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{\"app\":\"\"}}", ID, TS);
  ROW("\"payload.app\" is not a string", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{\"app\":[]}}", ID, TS);
  ROW("not a valid app name", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{\"app\":\"My App\"}}", ID, TS);
  ROW("not a valid app name", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{\"app\":\"../x\"}}", ID, TS);
  ROW("is not allowed", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{\"app\":\"a\\u0000b\"}}", ID, TS);
  ROW("missing \"payload.profileKey\"", "{%s,%s,\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"a\"}}", ID, TS);
  ROW("\"payload.profileKey\" is not a string",
      "{%s,%s,\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"a\",\"profileKey\":{}}}", ID, TS);
  ROW("\"payload.profileKey\" is longer than 1024",
      "{%s,%s,\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"a\",\"profileKey\":\"%s\"}}", ID, TS, longkey);
  ROW("missing \"payload.mergedKey\"",
      "{%s,%s,\"type\":\"profile.merged\",\"payload\":{\"app\":\"a\",\"profileKey\":\"a/staging/1\"}}", ID, TS);
  ROW("not JSON", "{%s,%s,\"type\":\"profile.deleted\",\"payload\":{\"app\":\"a\"},\"type\":\"x\"}", ID, TS);
#undef ROW
  for (int i = 0; i < n; i++) {
    bus_event ev;
    char err[256];
    memset(&ev, 0x5a, sizeof ev);
    int rc = bus_event_decode(t[i].json, strlen(t[i].json), &ev, err, sizeof err);
    CHECK(rc == BUS_EINVAL, "row %d: rc %d for %s", i, rc, t[i].json);
    CHECK(strstr(err, t[i].want) != NULL, "row %d: error \"%s\" lacks \"%s\"", i, err, t[i].want);
    CHECK(!strncmp(err, "event", 5), "row %d: error \"%s\" does not say it is about an event", i, err);
    CHECK(ev.id[0] == 0 && ev.app[0] == 0, "row %d: event not cleared after failure", i);
  }
  /* A profileKey of exactly 1024 bytes is the largest kept. */
  char json[1600], err[256];
  bus_event ev;
  longkey[1024] = 0;
  snprintf(json, sizeof json, "{%s,%s,\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"a\",\"profileKey\":\"%s\"}}",
           ID, TS, longkey);
  CHECK_RC(bus_event_decode(json, strlen(json), &ev, err, sizeof err), 0, err, NULL);
  CHECK(strlen(ev.profile_key) == 1024, "1024-byte key not kept");
  /* Not NUL-terminated input, and no error buffer at all, are both fine. */
  const char raw[] = {'{', '}'};
  CHECK(bus_event_decode(raw, sizeof raw, &ev, NULL, 0) == BUS_EINVAL, "{} without err buffer");
  /* Deep nesting is refused by the parser, not by a stack overflow. */
  static char deep[200001];
  memset(deep, '[', 100000);
  memset(deep + 100000, ']', 100000);
  CHECK_RC(bus_event_decode(deep, 200000, &ev, err, sizeof err), BUS_EINVAL, err, "event");
}

/* The optional payload fields: exact JSON, round trips, what each type
 * keeps, and refusals naming the field. */
static void meta_fields(void) {
  bus_event ev, back;
  char err[256], *json = NULL, want[1024];
  size_t len;
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "my-app-v2");
  strcpy(ev.profile_key, "my-app-v2/staging/1763800000000000000-0a1b2c3d");
  strcpy(ev.kind, "heap");
  strcpy(ev.mode, "cumulative");
  strcpy(ev.source, "pyroscope");
  strcpy(ev.name, "My_App.v2");
  strcpy(ev.labels, "{\"__session_id__\":\"8f2c0a1b3d4e5f60\",\"env\":[\"prod\",\"eu\"]}");
  strcpy(ev.instance, "8f2c0a1b3d4e5f60");
  ev.time_ns = 1763800000123456789;
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  snprintf(want, sizeof want,
           "{\"id\":\"%s\",\"timestamp\":\"%s\",\"type\":\"profile.uploaded\",\"payload\":{\"app\":"
           "\"my-app-v2\",\"profileKey\":\"my-app-v2/staging/1763800000000000000-0a1b2c3d\",\"kind\":\"heap\","
           "\"mode\":\"cumulative\",\"source\":\"pyroscope\",\"name\":\"My_App.v2\",\"labels\":{"
           "\"__session_id__\":\"8f2c0a1b3d4e5f60\",\"env\":[\"prod\",\"eu\"]},\"instance\":"
           "\"8f2c0a1b3d4e5f60\",\"time\":1763800000123456789}}",
           ev.id, ev.timestamp);
  CHECK(json && !strcmp(json, want), "got %s\nwant %s", json, want);
  CHECK_RC(bus_event_decode(json, len, &back, err, sizeof err), 0, err, NULL);
  CHECK(!memcmp(&ev, &back, sizeof ev), "uploaded with metadata: decode(encode(e)) != e");
  free(json);

  /* bus_event_meta gives the fields back as an object, set_meta reads it. */
  json_t *m = bus_event_meta(&ev);
  CHECK(m && json_object_size(m) == 7, "bus_event_meta: %zu fields", m ? json_object_size(m) : 0);
  bus_event_init(&back, BUS_TYPE_UPLOADED, "my-app-v2");
  CHECK_RC(bus_event_set_meta(&back, m, err, sizeof err), 0, err, NULL);
  CHECK(!strcmp(back.labels, ev.labels) && back.time_ns == ev.time_ns && !strcmp(back.source, ev.source),
        "set_meta(meta(e)) differs: %s", back.labels);
  json_decref(m);

  /* profile.merged carries the kind only; an upload's other fields are dropped on decode. */
  const char *merged = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":\"2026-11-21T12:16:34Z\","
                       "\"type\":\"profile.merged\",\"payload\":{\"app\":\"a\",\"profileKey\":\"a/staging/1\","
                       "\"mergedKey\":\"a/kinds/heap.pgo\",\"kind\":\"allocs\",\"mode\":\"delta\",\"time\":5}}";
  CHECK_RC(bus_event_decode(merged, strlen(merged), &ev, err, sizeof err), 0, err, NULL);
  CHECK(!strcmp(ev.kind, "heap") && !ev.mode[0] && ev.time_ns == 0, "merged kept kind=%s mode=%s time=%lld",
        ev.kind, ev.mode, (long long)ev.time_ns);
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  CHECK(json && strstr(json, "\"mergedKey\":\"a/kinds/heap.pgo\",\"kind\":\"heap\"}"), "merged: %s", json);
  CHECK_RC(bus_event_decode(json, len, &back, err, sizeof err), 0, err, NULL);
  CHECK(!memcmp(&ev, &back, sizeof ev), "merged with kind: decode(encode(e)) != e");
  free(json);

  /* Absent, empty and zero are the same: no field written. */
  const char *empty = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":\"2026-11-21T12:16:34Z\","
                      "\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"a\",\"profileKey\":\"a/staging/1\","
                      "\"kind\":\"\",\"name\":\"\",\"labels\":{},\"time\":0}}";
  CHECK_RC(bus_event_decode(empty, strlen(empty), &ev, err, sizeof err), 0, err, NULL);
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), 0, err, NULL);
  CHECK(json && strstr(json, "\"payload\":{\"app\":\"a\",\"profileKey\":\"a/staging/1\"}}"), "empty: %s", json);
  free(json);

  /* Encode refuses a field its type does not carry, and bad values. */
  bus_event_init(&ev, BUS_TYPE_MERGED, "a");
  strcpy(ev.profile_key, "a/staging/1");
  strcpy(ev.merged_key, "a/default.pgo");
  strcpy(ev.mode, "delta");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "payload.mode\" is not a field");
  ev.mode[0] = 0;
  ev.time_ns = 7;
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "payload.time\" is not a field");
  bus_event_init(&ev, BUS_TYPE_UPLOADED, "a");
  strcpy(ev.profile_key, "a/staging/1");
  strcpy(ev.kind, "allocs");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "use \"heap\"");
  strcpy(ev.kind, "wall");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "is not a profile kind");
  strcpy(ev.kind, "cpu");
  strcpy(ev.labels, "[1]");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "payload.labels");
  strcpy(ev.labels, "{\"k\":1}");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "payload.labels");
  ev.labels[0] = 0;
  strcpy(ev.source, "Pyro");
  CHECK_RC(bus_event_encode(&ev, &json, &len, err, sizeof err), BUS_EINVAL, err, "payload.source");

  /* Decode: wrong shapes, by field; capacities at and past their edge. */
  static const char HEAD[] = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":\"2026-11-21T12:16:34Z\","
                             "\"type\":\"profile.uploaded\",\"payload\":{\"app\":\"a\",\"profileKey\":\"a/staging/1\",";
  static struct {
    const char *field, *want;
  } rows[] = {
      {"\"kind\":7", "\"payload.kind\" is not a string"},
      {"\"kind\":\"wall\"", "is not a profile kind"},
      {"\"mode\":\"sum\"", "\"payload.mode\" is not"},
      {"\"source\":\"a b\"", "\"payload.source\""},
      {"\"source\":\"sixteen-chars-xx\"", "\"payload.source\""},
      {"\"name\":[]", "\"payload.name\" is not a string"},
      {"\"name\":\"a\\u0000b\"", "is not allowed"}, /* the parser refuses NUL already */
      {"\"instance\":{}", "\"payload.instance\" is not a string"},
      {"\"labels\":\"a=b\"", "\"payload.labels\" is not an object"},
      {"\"labels\":{\"a\":1}", "\"payload.labels\" has a value"},
      {"\"labels\":{\"a\":[\"x\",2]}", "\"payload.labels\" has a value"},
      {"\"labels\":{\"a\":\"x\\u0000\"}", "is not allowed"},
      {"\"time\":\"2026-11-21T12:16:34Z\"", "\"payload.time\" is not an integer"},
      {"\"time\":1.5", "\"payload.time\" is not an integer"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char j[512];
    snprintf(j, sizeof j, "%s%s}}", HEAD, rows[i].field);
    memset(&ev, 0x5a, sizeof ev);
    CHECK_RC(bus_event_decode(j, strlen(j), &ev, err, sizeof err), BUS_EINVAL, err, rows[i].want);
    CHECK(ev.kind[0] == 0 && ev.app[0] == 0, "row %zu: event not cleared", i);
  }
  static char big[BUS_LABELS_MAX + 600];
  char name[BUS_NAME_MAX + 2];
  memset(name, 'n', BUS_NAME_MAX);
  name[BUS_NAME_MAX] = 0;
  snprintf(big, sizeof big, "%s\"name\":\"%s\"}}", HEAD, name);
  CHECK_RC(bus_event_decode(big, strlen(big), &ev, err, sizeof err), 0, err, NULL);
  CHECK(strlen(ev.name) == BUS_NAME_MAX, "a name of %d bytes not kept", BUS_NAME_MAX);
  strcat(name, "n");
  snprintf(big, sizeof big, "%s\"name\":\"%s\"}}", HEAD, name);
  CHECK_RC(bus_event_decode(big, strlen(big), &ev, err, sizeof err), BUS_EINVAL, err, "longer than 255 bytes");
  /* labels: {"k":"vvv..."} is 8 bytes of JSON around the value */
  static char val[BUS_LABELS_MAX + 2];
  memset(val, 'v', BUS_LABELS_MAX - 8);
  val[BUS_LABELS_MAX - 8] = 0;
  snprintf(big, sizeof big, "%s\"labels\":{\"k\" : \"%s\"}}}", HEAD, val);
  CHECK_RC(bus_event_decode(big, strlen(big), &ev, err, sizeof err), 0, err, NULL);
  CHECK(strlen(ev.labels) == BUS_LABELS_MAX && !strncmp(ev.labels, "{\"k\":\"v", 7),
        "labels of %d bytes: %zu kept", BUS_LABELS_MAX, strlen(ev.labels));
  strcat(val, "v");
  snprintf(big, sizeof big, "%s\"labels\":{\"k\":\"%s\"}}}", HEAD, val);
  CHECK_RC(bus_event_decode(big, strlen(big), &ev, err, sizeof err), BUS_EINVAL, err, "longer than 4095 bytes");
}

int main(void) {
  round_trip(BUS_TYPE_UPLOADED, "example", "example/staging/1730075435311000000-0a1b2c3d", "");
  round_trip(BUS_TYPE_MERGED, "a-b-9", "a-b-9/staging/1-00000000", "a-b-9/default.pgo");
  round_trip(BUS_TYPE_DELETED, "x", "", "");
  round_trip(BUS_TYPE_UPLOADED, "unicode", "unicode/staging/é 漢字 +%20", "");
  exact_json();
  encode_refusals();
  app_names();
  foreign_forms();
  malformed();
  meta_fields();
  return check_exit("test_envelope");
}
