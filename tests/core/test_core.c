/* test_core.c — lib/core: app names, layout keys, RFC 3339, durations, errors, randomness, hex text,
 * the string buffer, log records. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "chrono.h"
#include "corelog.h"
#include "errbuf.h"
#include "hex.h"
#include "layout.h"
#include "rnd.h"
#include "strbuf.h"

CHECK_DEFINE_COUNTERS

static void test_app_names(void) {
  CHECK(layout_app_valid("a"), "one letter");
  CHECK(layout_app_valid("my-app-2"), "letters digits dash");
  char n63[64], n64[65];
  memset(n63, 'a', 63);
  n63[63] = 0;
  memset(n64, 'a', 64);
  n64[64] = 0;
  CHECK(layout_app_valid(n63), "63 chars");
  CHECK(!layout_app_valid(n64), "64 chars");
  CHECK(!layout_app_valid(""), "empty");
  CHECK(!layout_app_valid(NULL), "NULL");
  CHECK(!layout_app_valid("My"), "upper case");
  CHECK(!layout_app_valid("a_b"), "underscore");
  CHECK(!layout_app_valid("a/b"), "slash");
  CHECK(!layout_app_valid("a.b"), "dot");
  CHECK(layout_app_valid("0"), "digits only");
  CHECK(!layout_app_valid("A"), "one upper-case letter");
  CHECK(!layout_app_valid("a b"), "space");
  CHECK(!layout_app_valid("\xc3\xa9"), "non-ASCII letter");
  CHECK(layout_app_valid_n("abc/def", 3), "prefix");
  CHECK(!layout_app_valid_n("abc/def", 4), "prefix with slash");
  CHECK(!layout_app_valid_n("abc", 0), "zero length");
}

static void test_keys(void) {
  char b[LAYOUT_KEY_BUF];
  CHECK(layout_base_key("app", b, sizeof b) == 0 && !strcmp(b, "app/default.pgo"), "%s", b);
  CHECK(layout_app_prefix("app", b, sizeof b) == 0 && !strcmp(b, "app/"), "%s", b);
  CHECK(layout_staging_prefix("app", b, sizeof b) == 0 && !strcmp(b, "app/staging/"), "%s", b);
  CHECK(layout_staging_key("app", "1-ab", b, sizeof b) == 0 && !strcmp(b, "app/staging/1-ab"), "%s", b);
  CHECK(layout_rejected_prefix("app", b, sizeof b) == 0 && !strcmp(b, "app/rejected/"), "%s", b);
  CHECK(layout_rejected_key("app", "1-ab", b, sizeof b) == 0 && !strcmp(b, "app/rejected/1-ab"), "%s", b);
  CHECK(layout_rejected_base_key("app", 42, b, sizeof b) == 0 &&
            !strcmp(b, "app/rejected/default.pgo.42"), "%s", b);
  CHECK(layout_rejected_kind_base_key("app", LAYOUT_KIND_CPU, 42, b, sizeof b) == 0 &&
            !strcmp(b, "app/rejected/default.pgo.42"), "%s", b);
  CHECK(layout_rejected_kind_base_key("app", LAYOUT_KIND_MUTEX, 43, b, sizeof b) == 0 &&
            !strcmp(b, "app/rejected/mutex.pgo.43"), "%s", b);
  CHECK(layout_rejected_kind_base_key("app", LAYOUT_KIND_NONE, 43, b, sizeof b) == -1 && b[0] == 0,
        "no kind refused");
  CHECK(layout_base_key("Bad", b, sizeof b) == -1 && b[0] == 0, "bad app refused");
  CHECK(layout_base_key("app", b, 5) == -1 && b[0] == 0, "small buffer refused");
  CHECK(layout_staging_key("app", "", b, sizeof b) == -1, "empty name refused");

  CHECK(layout_staging_key_new("app", 1730075435311000000LL, b, sizeof b) == 0, "new key");
  CHECK(!strncmp(b, "app/staging/1730075435311000000-", 32) && strlen(b) == 40, "%s", b);
  const char *name = layout_staged_name(b, "app");
  CHECK(name && !strcmp(name, b + 12), "staged name of %s", b);
  int64_t ns = 0;
  CHECK(name && layout_name_stamp_ns(name, &ns) == 0 && ns == 1730075435311000000LL, "stamp %" PRId64, ns);
  CHECK(layout_staged_name("app/staging/", "app") == NULL, "no name");
  CHECK(layout_staged_name("app/staging/a/b", "app") == NULL, "nested");
  CHECK(layout_staged_name("app/staging/a b", "app") == NULL, "space");
  CHECK(layout_staged_name("apx/staging/a", "app") == NULL, "other app");
  CHECK(layout_staged_name("app/rejected/a", "app") == NULL, "other dir");

  char app[LAYOUT_APP_MAX + 1];
  CHECK(layout_key_app("my-app/staging/1-a", app, sizeof app) == 0 && !strcmp(app, "my-app"), "%s", app);
  CHECK(layout_key_app("My/staging/1-a", app, sizeof app) == -1, "bad app in key");
  CHECK(layout_key_app("noslash", app, sizeof app) == -1, "no slash");

  CHECK(layout_name_stamp_ns("default.pgo.77", &ns) == 0 && ns == 77, "rejected base stamp");
  CHECK(layout_name_stamp_ns("abc-1", &ns) == -1, "no digits");
  CHECK(layout_name_stamp_ns("12x", &ns) == -1, "junk after digits");
  CHECK(layout_name_stamp_ns("99999999999999999999-a", &ns) == -1, "overflow");
  /* autopgo names staged uploads {unix_nanos}, digits only */
  CHECK(layout_name_stamp_ns("1730075435311000000", &ns) == 0 && ns == 1730075435311000000LL,
        "digits-only staged name is a time: %" PRId64, ns);
  CHECK(layout_name_stamp_ns("99999999999999999999", &ns) == -1, "digits-only overflow");
  CHECK(layout_name_stamp_ns("", &ns) == -1, "empty name");
}

static void test_kinds_hours(void) {
  char b[LAYOUT_KEY_BUF];
  CHECK(layout_kind_parse("cpu") == LAYOUT_KIND_CPU && layout_kind_parse("allocs") == LAYOUT_KIND_HEAP &&
            layout_kind_parse("threadcreate") == LAYOUT_KIND_THREADCREATE, "kind names");
  CHECK(layout_kind_parse("Heap") == LAYOUT_KIND_NONE && layout_kind_parse(NULL) == LAYOUT_KIND_NONE, "bad kinds");
  for (int k = 0; k < LAYOUT_KIND_COUNT; k++)
    CHECK(layout_kind_parse(layout_kind_name((layout_kind)k)) == (layout_kind)k, "round trip %d", k);
  CHECK(layout_kind_name(LAYOUT_KIND_NONE) == NULL && layout_kind_name(LAYOUT_KIND_COUNT) == NULL, "out of range");
  CHECK(layout_kind_base_key("app", LAYOUT_KIND_CPU, b, sizeof b) == 0 && !strcmp(b, "app/default.pgo"), "%s", b);
  CHECK(layout_kind_base_key("app", LAYOUT_KIND_HEAP, b, sizeof b) == 0 && !strcmp(b, "app/kinds/heap.pgo"), "%s", b);
  CHECK(layout_kind_base_key("app", LAYOUT_KIND_NONE, b, sizeof b) == -1 && !b[0], "no kind");

  /* FNV-1a 64 test vectors */
  CHECK(layout_instance_hash("") == 0xcbf29ce484222325ull, "fnv empty");
  CHECK(layout_instance_hash("a") == 0xaf63dc4c8601ec8cull, "fnv a");
  CHECK(layout_instance_key("app", LAYOUT_KIND_HEAP, "a", b, sizeof b) == 0 &&
            !strcmp(b, "app/instances/heap/af63dc4c8601ec8c"), "%s", b);

  int64_t h = layout_hour_of_ns(1795263394964LL * 1000000); /* 2026-11-21T12:16:34.964Z */
  CHECK(layout_hour_format(h, b, sizeof b) == 0 && !strcmp(b, "2026112112"), "%s", b);
  int64_t back = -1;
  CHECK(layout_hour_parse("2026112112", &back) == 0 && back == h, "parse");
  CHECK(layout_hour_of_ns(-1) == -1 && layout_hour_of_ns(0) == 0, "floor");
  CHECK(layout_hour_format(-1, b, sizeof b) == -1, "before 1970");
  CHECK(layout_hour_parse("2026022912", &back) == -1 && layout_hour_parse("2026112124", &back) == -1 &&
            layout_hour_parse("202611211", &back) == -1 && layout_hour_parse("2026-11-21", &back) == -1,
        "bad hours");
  int bad = 0;
  for (int64_t x = 0; x < 24 * 366 * 60; x += 97) {
    char t[11];
    int64_t y;
    if (layout_hour_format(x, t, sizeof t) || layout_hour_parse(t, &y) || y != x) bad++;
  }
  CHECK(bad == 0, "%d hour round trips failed", bad);
  CHECK(layout_hour_key("app", LAYOUT_KIND_CPU, h, b, sizeof b) == 0 && !strcmp(b, "app/hours/cpu/2026112112.pgo"), "%s", b);
  CHECK(layout_history_key("app", LAYOUT_KIND_MUTEX, h, "1-ab", b, sizeof b) == 0 &&
            !strcmp(b, "app/history/mutex/2026112112/1-ab"), "%s", b);
  CHECK(layout_history_prefix("app", LAYOUT_KIND_MUTEX, -1, b, sizeof b) == 0 && !strcmp(b, "app/history/mutex/"), "%s", b);
  CHECK(layout_history_prefix("app", LAYOUT_KIND_MUTEX, h, b, sizeof b) == 0 &&
            !strcmp(b, "app/history/mutex/2026112112/"), "%s", b);
  CHECK(layout_history_key("app", LAYOUT_KIND_MUTEX, h, "a/b", b, sizeof b) == -1, "nested name");

  layout_ref r;
  CHECK(layout_parse_key("app/default.pgo", &r) == 0 && r.type == LAYOUT_KEY_BASE && r.kind == LAYOUT_KIND_CPU &&
            !strcmp(r.app, "app"), "cpu base");
  CHECK(layout_parse_key("app/kinds/heap.pgo", &r) == 0 && r.type == LAYOUT_KEY_BASE && r.kind == LAYOUT_KIND_HEAP, "heap base");
  CHECK(layout_parse_key("app/kinds/cpu.pgo", &r) == 0 && r.type == LAYOUT_KEY_OTHER, "cpu lives in default.pgo");
  CHECK(layout_parse_key("app/kinds/x.pgo", &r) == 0 && r.type == LAYOUT_KEY_OTHER, "unknown kind");
  CHECK(layout_parse_key("app/staging/1-ab", &r) == 0 && r.type == LAYOUT_KEY_STAGED && !strcmp(r.name, "1-ab"), "staged");
  CHECK(layout_parse_key("app/staging/a/b", &r) == 0 && r.type == LAYOUT_KEY_OTHER, "nested staged");
  CHECK(layout_parse_key("app/rejected/default.pgo.5", &r) == 0 && r.type == LAYOUT_KEY_REJECTED, "rejected");
  CHECK(layout_parse_key("app/instances/heap/af63dc4c8601ec8c", &r) == 0 && r.type == LAYOUT_KEY_INSTANCE &&
            r.kind == LAYOUT_KIND_HEAP, "instance");
  CHECK(layout_parse_key("app/instances/heap/af63", &r) == 0 && r.type == LAYOUT_KEY_OTHER, "short instance");
  CHECK(layout_parse_key("app/hours/cpu/2026112112.pgo", &r) == 0 && r.type == LAYOUT_KEY_HOUR && r.hour == h, "hour");
  CHECK(layout_parse_key("app/hours/cpu/2026112199.pgo", &r) == 0 && r.type == LAYOUT_KEY_OTHER, "bad hour");
  CHECK(layout_parse_key("app/history/block/2026112112/1-ab", &r) == 0 && r.type == LAYOUT_KEY_HISTORY &&
            r.kind == LAYOUT_KIND_BLOCK && r.hour == h && !strcmp(r.name, "1-ab"), "history");
  CHECK(layout_parse_key("app/something", &r) == 0 && r.type == LAYOUT_KEY_OTHER, "other");
  CHECK(layout_parse_key("App/default.pgo", &r) == -1 && layout_parse_key("noslash", &r) == -1, "no app");
}

static void test_rfc3339(void) {
  int64_t ms = 0;
  CHECK(chrono_parse_rfc3339("1970-01-01T00:00:00Z", &ms) == 0 && ms == 0, "epoch");
  CHECK(chrono_parse_rfc3339("2026-11-21T12:16:34.964Z", &ms) == 0 && ms == 1795263394964LL,
        "%" PRId64, ms);
  CHECK(chrono_parse_rfc3339("2026-11-21T13:16:34.964123456+01:00", &ms) == 0 &&
            ms == 1795263394964LL, "offset, 9 digits: %" PRId64, ms);
  CHECK(chrono_parse_rfc3339("2026-11-21 12:16:34.9z", &ms) == 0 && ms == 1795263394900LL, "space, z");
  CHECK(chrono_parse_rfc3339("1969-12-31T23:59:59.500Z", &ms) == 0 && ms == -500, "before epoch");
  CHECK(chrono_parse_rfc3339("2024-02-29T00:00:00Z", &ms) == 0, "leap day");
  CHECK(chrono_parse_rfc3339("2025-02-29T00:00:00Z", &ms) == -1, "not a leap year");
  CHECK(chrono_parse_rfc3339("2026-04-31T00:00:00Z", &ms) == -1, "April 31");
  CHECK(chrono_parse_rfc3339("2026-11-21T12:16:60Z", &ms) == -1, "leap second");
  CHECK(chrono_parse_rfc3339("2026-11-21T12:16:34", &ms) == -1, "no zone");
  CHECK(chrono_parse_rfc3339("2026-11-21T12:16:34.Z", &ms) == -1, "empty fraction");
  CHECK(chrono_parse_rfc3339("2026-11-21T12:16:34.1234567890Z", &ms) == -1, "10 digits");
  CHECK(chrono_parse_rfc3339("2026-11-21T12:16:34Zx", &ms) == -1, "trailing junk");
  CHECK(chrono_parse_rfc3339(NULL, &ms) == -1, "NULL");
  CHECK(chrono_parse_rfc3339("", &ms) == -1, "empty");
  CHECK(chrono_parse_rfc3339("yesterday", &ms) == -1, "not a date");
  CHECK(chrono_parse_rfc3339("2026-13-01T00:00:00Z", &ms) == -1, "month 13");
  CHECK(chrono_parse_rfc3339("2000-02-29T00:00:00.5Z", &ms) == 0 && ms == 951782400500LL,
        "leap day 2000, one fraction digit: %" PRId64, ms);
  char b[32];
  CHECK(chrono_format_rfc3339(1795263394964LL, 1, b, sizeof b) == 0 &&
            !strcmp(b, "2026-11-21T12:16:34.964Z"), "%s", b);
  CHECK(chrono_format_rfc3339(1795263394964LL, 0, b, sizeof b) == 0 &&
            !strcmp(b, "2026-11-21T12:16:34Z"), "%s", b);
  CHECK(chrono_format_rfc3339(0, 1, b, sizeof b) == 0 && !strcmp(b, "1970-01-01T00:00:00.000Z"), "%s", b);
  CHECK(chrono_format_rfc3339(-500, 1, b, sizeof b) == 0 && !strcmp(b, "1969-12-31T23:59:59.500Z"), "%s", b);
  CHECK(chrono_format_rfc3339(0, 1, b, 10) == -1, "small buffer");
  /* round trip over a range of days */
  int bad = 0;
  for (int64_t t = -86400000LL * 800; t < 86400000LL * 40000; t += 86400000LL * 7 + 12345) {
    int64_t back;
    if (chrono_format_rfc3339(t, 1, b, sizeof b) || chrono_parse_rfc3339(b, &back) || back != t) bad++;
  }
  CHECK(bad == 0, "%d round trips failed", bad);
}

static void test_time_param(void) {
  int64_t ms = -1;
  CHECK(chrono_parse_time("1795263394", &ms) == 0 && ms == 1795263394000LL, "Unix seconds");
  CHECK(chrono_parse_time("0", &ms) == 0 && ms == 0, "zero");
  CHECK(chrono_parse_time("2026-11-21T12:16:34.964Z", &ms) == 0 && ms == 1795263394964LL, "RFC 3339");
  CHECK(chrono_parse_time("253402300799", &ms) == 0, "the last second of 9999");
  CHECK(chrono_parse_time("253402300800", &ms) == -1, "past 9999");
  CHECK(chrono_parse_time("1969-12-31T23:59:59Z", &ms) == -1, "before the epoch");
  CHECK(chrono_parse_time("-1", &ms) == -1 && chrono_parse_time("+1", &ms) == -1, "signs");
  CHECK(chrono_parse_time("1.5", &ms) == -1 && chrono_parse_time("1e9", &ms) == -1, "not whole seconds");
  CHECK(chrono_parse_time("0000000000001", &ms) == -1, "13 digits");
  CHECK(chrono_parse_time("", &ms) == -1 && chrono_parse_time(NULL, &ms) == -1, "empty");
  CHECK(chrono_parse_time("2026-11-21T12:16:34", &ms) == -1, "no zone");
}

static void test_duration(void) {
  int64_t ms = -1;
  char e[160];
  CHECK(chrono_parse_duration("500ms", &ms, e, sizeof e) == 0 && ms == 500, "ms");
  CHECK(chrono_parse_duration("30s", &ms, e, sizeof e) == 0 && ms == 30000, "s");
  CHECK(chrono_parse_duration("5m", &ms, e, sizeof e) == 0 && ms == 300000, "m");
  CHECK(chrono_parse_duration("24h", &ms, e, sizeof e) == 0 && ms == 86400000, "h");
  CHECK(chrono_parse_duration("0", &ms, e, sizeof e) == 0 && ms == 0, "bare 0");
  e[0] = 0;
  CHECK(chrono_parse_duration("5", &ms, e, sizeof e) == -1 && strstr(e, "bad duration \"5\""), "%s", e);
  CHECK(chrono_parse_duration("5x", &ms, e, sizeof e) == -1, "unit");
  CHECK(chrono_parse_duration("-5s", &ms, e, sizeof e) == -1, "negative");
  CHECK(chrono_parse_duration("1.5s", &ms, e, sizeof e) == -1, "fraction");
  CHECK(chrono_parse_duration("", &ms, e, sizeof e) == -1, "empty");
  CHECK(chrono_parse_duration("99999999999999999999h", &ms, NULL, 0) == -1, "overflow");
  CHECK(chrono_parse_duration("9223372036854775807h", &ms, NULL, 0) == -1, "overflow on multiply");
}

static void test_errbuf_rnd(void) {
  char e[8];
  errbuf_set(e, sizeof e, "%s-%d", "abcdef", 12);
  CHECK(!strcmp(e, "abcdef-"), "truncated: %s", e);
  errbuf_set(NULL, 0, "%s", "x"); /* no crash */
  errbuf_clear(e, sizeof e);
  CHECK(e[0] == 0, "cleared");
  char h[17];
  CHECK(rnd_hex(h, 8) == 0 && strlen(h) == 16 && strspn(h, "0123456789abcdef") == 16, "%s", h);
  char u[37];
  CHECK(rnd_uuid4(u) == 0 && strlen(u) == 36 && u[14] == '4' && strchr("89ab", u[19]), "%s", u);
  char u2[37];
  CHECK(rnd_uuid4(u2) == 0 && strcmp(u, u2) != 0, "two uuids differ: %s %s", u, u2);
  CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-' &&
            strspn(u, "0123456789abcdef-") == 36,
        "uuid layout: %s", u);
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  char hx[9] = "xxxxxxxx";
  hex_encode(bytes, sizeof bytes, hx);
  CHECK_STR(hx, "000fa5ff");
  hex_encode(bytes, 0, hx);
  CHECK(hx[0] == '\0', "no bytes: empty text");
  strbuf sb = {0};
  strbuf_add(&sb, "", 0);
  CHECK(sb.p && sb.len == 0 && sb.p[0] == '\0', "an empty append gives an empty text");
  strbuf_str(&sb, "ab");
  strbuf_add(&sb, "cdef", 2);
  CHECK_STR(sb.p, "abcd");
  for (int i = 0; i < 1000; i++) strbuf_str(&sb, "0123456789");
  CHECK(!sb.oom && sb.len == 4 + 10000 && strlen(sb.p) == sb.len && !memcmp(sb.p + sb.len - 10, "0123456789", 10),
        "grown to %zu bytes", sb.len);
  free(sb.p);
}

typedef struct rec {
  int n, level;
  char msg[64], kv[256];
} rec;

static void record(void *ctx, int level, const char *msg, const char *const *kv, size_t np) {
  rec *r = ctx;
  r->n++;
  r->level = level;
  snprintf(r->msg, sizeof r->msg, "%s", msg);
  r->kv[0] = 0;
  for (size_t i = 0; i < np; i++) {
    size_t l = strlen(r->kv);
    snprintf(r->kv + l, sizeof r->kv - l, "%s=%s;", kv[2 * i], kv[2 * i + 1] ? kv[2 * i + 1] : "(null)");
  }
}

static void test_log(void) {
  rec r = {0};
  core_logger lg = {record, &r, CORE_LOG_INFO};
  core_log(&lg, CORE_LOG_DEBUG, "hidden", "a", "1", NULL);
  CHECK(r.n == 0, "below level");
  core_log(&lg, CORE_LOG_WARN, "shown", "a", "1", "b", NULL, NULL);
  CHECK(r.n == 1 && r.level == CORE_LOG_WARN && !strcmp(r.msg, "shown") && !strcmp(r.kv, "a=1;b=(null);"),
        "%s %s", r.msg, r.kv);
  core_log(NULL, CORE_LOG_ERROR, "no logger", NULL); /* silent */
  core_logger none = {0};
  CHECK(!core_log_enabled(&none, CORE_LOG_ERROR), "no callback: disabled");
}

int main(void) {
  test_app_names();
  test_keys();
  test_kinds_hours();
  test_rfc3339();
  test_time_param();
  test_duration();
  test_errbuf_rnd();
  test_log();
  return check_exit("core");
}
