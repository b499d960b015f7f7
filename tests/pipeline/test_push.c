/*
 * test_push.c — storing uploads of any kind with their metadata (push.c)
 * and the native route's kind rule (upload_accept_opts), without HTTP: the
 * file store and mem://, real Go profiles (a CPU and a heap profile).
 *
 * Proves: a gzipped body with metadata is stored as received plus a
 * second gzip member, which our decoder reads as the record; the event
 * carries the same fields; the default CPU upload is byte for byte with
 * autopgo's event; forged pgopipe- comments never reach the store; the kind
 * rule (422 contradiction, 400 unknown kind, 422 without a kind for a heap
 * profile as before); push_accept of a parsed profefe push (stored, its id
 * naming the object), of an empty push (nothing stored); metadata that does
 * not fit an event (400, nothing stored); profefe ids both ways.
 *   test_push PROFILES WORKDIR
 */
#include "../common/check.h"
#include "../common/proc.h"

CHECK_DEFINE_COUNTERS

#include "blob.h"
#include "bus.h"
#include "ingest.h"
#include "layout.h"
#include "pprof.h"
#include "push.h"
#include "upload.h"

#include "events.h"

#include <stdlib.h>

static int count(blob_store *bs, const char *prefix) {
  blob_iter *it;
  char err[256];
  const char *k;
  blob_info info;
  int n = 0, rc;
  if (blob_list(bs, prefix, &it, err, sizeof err) != 0) return -1;
  while ((rc = blob_iter_next(it, &k, &info, err, sizeof err)) == 1) n++;
  blob_iter_free(it);
  return rc < 0 ? -1 : n;
}

/* The staged object at key: its bytes, its decode and its record. */
typedef struct staged {
  uint8_t *data;
  size_t len;
  pp_profile *p;
  ingest_meta meta;
  int found;
} staged;

static void staged_load(blob_store *bs, const char *key, staged *s) {
  char err[512];
  memset(s, 0, sizeof *s);
  ingest_meta_init(&s->meta);
  CHECK_EQ(blob_get(bs, key, 0, &s->data, &s->len, NULL, err, sizeof err), 0);
  CHECK_EQ(pp_decode(s->data, s->len, NULL, &s->p, err, sizeof err), 0);
  if (s->p) CHECK_EQ(ingest_meta_from_profile(s->p, &s->meta, &s->found, err, sizeof err), 0);
}

static void staged_free(staged *s) {
  free(s->data);
  pp_free(s->p);
  ingest_meta_free(&s->meta);
}

static void native_kinds(blob_store *bs, bus_reader *rd, const upload_config *cfg, const uint8_t *cpu,
                         size_t cpu_len, const uint8_t *heap, size_t heap_len) {
  upload_result res;
  bus_event ev;
  staged s;

  /* kind + instance + labels: the body as received, then the record */
  ingest_labels labels = {0};
  ingest_labels_add(&labels, "env", 3, "prod", 4);
  ingest_labels_add(&labels, "zone", 4, "eu-1", 4);
  upload_opts o = {.kind = "allocs", .instance = "http://10.0.0.7:6060", .labels = &labels,
                   .source = INGEST_SOURCE_SCRAPER};
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, &o, &res), 0);
  CHECK_EQ(res.status, 201);
  CHECK_EQ(res.stored, 1);
  staged_load(bs, res.key, &s);
  CHECK(s.len > heap_len && !memcmp(s.data, heap, heap_len), "the heap body is not the stored object's prefix");
  CHECK(s.data[heap_len] == 0x1f && s.data[heap_len + 1] == 0x8b, "no second gzip member");
  CHECK_EQ(s.found, 1);
  CHECK_EQ(s.meta.kind, INGEST_KIND_HEAP);
  CHECK_EQ(s.meta.mode, INGEST_MODE_CUMULATIVE);
  CHECK_EQ(s.meta.source, INGEST_SOURCE_SCRAPER);
  CHECK_STR(s.meta.instance, "http://10.0.0.7:6060");
  CHECK(s.meta.labels.n == 2 && !strcmp(ingest_labels_get(&s.meta.labels, "zone"), "eu-1"), "labels lost");
  CHECK(s.meta.time_ns == pp_time_nanos(s.p), "time %lld, the profile's %lld", (long long)s.meta.time_ns,
        (long long)pp_time_nanos(s.p));
  CHECK(s.meta.received_ns > 0, "no receipt time");
  staged_free(&s);
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_STR(ev.profile_key, res.key);
  CHECK_STR(ev.kind, "heap");
  CHECK_STR(ev.mode, "cumulative");
  CHECK_STR(ev.source, "scraper");
  CHECK_STR(ev.instance, "http://10.0.0.7:6060");
  CHECK_STR(ev.labels, "{\"env\":\"prod\",\"zone\":\"eu-1\"}");
  CHECK(ev.name[0] == 0 && ev.time_ns > 0, "name %s time %lld", ev.name, (long long)ev.time_ns);
  ingest_labels_free(&labels);

  /* kind without instance: delta; source api */
  o = (upload_opts){.kind = "heap"};
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, &o, &res), 0);
  staged_load(bs, res.key, &s);
  CHECK(s.found && s.meta.mode == INGEST_MODE_DELTA && s.meta.source == INGEST_SOURCE_API, "mode %d source %d",
        s.meta.mode, s.meta.source);
  staged_free(&s);
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_STR(ev.mode, "delta");

  /* kind=cpu without instance or labels: the default, byte for byte, autopgo's event */
  o = (upload_opts){.kind = "cpu"};
  CHECK_EQ(upload_accept_opts(cfg, "shop", cpu, cpu_len, &o, &res), 0);
  staged_load(bs, res.key, &s);
  CHECK(s.len == cpu_len && !memcmp(s.data, cpu, cpu_len) && !s.found, "cpu default not stored as received");
  staged_free(&s);
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK(!ev.kind[0] && !ev.mode[0] && !ev.source[0] && !ev.time_ns, "default upload's event has fields: kind %s",
        ev.kind);

  /* the kind rule */
  o = (upload_opts){.kind = "heap"};
  CHECK_EQ(upload_accept_opts(cfg, "shop", cpu, cpu_len, &o, &res), -1);
  CHECK_EQ(res.status, 422);
  CHECK_STR(upload_reason_name(res.reason), "bad_kind");
  CHECK(strstr(res.message, "contradicts") != NULL, "%s", res.message);
  o = (upload_opts){.kind = "mutex"};
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, &o, &res), -1);
  CHECK_EQ(res.status, 422);
  o = (upload_opts){.kind = "wall"};
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, &o, &res), -1);
  CHECK_EQ(res.status, 400);
  CHECK(strstr(res.message, "unknown kind \"wall\"") != NULL, "%s", res.message);
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, NULL, &res), -1);
  CHECK_EQ(res.status, 422);
  CHECK_STR(upload_reason_name(res.reason), "not_cpu");
  /* an instance that does not fit profile.uploaded */
  char big[600];
  memset(big, 'i', sizeof big - 1);
  big[sizeof big - 1] = 0;
  o = (upload_opts){.kind = "heap", .instance = big};
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, &o, &res), -1);
  CHECK_EQ(res.status, 400);
  CHECK(strstr(res.message, "payload.instance") != NULL, "%s", res.message);
  o = (upload_opts){.kind = "heap", .instance = "\xff\xfe"};
  CHECK_EQ(upload_accept_opts(cfg, "shop", heap, heap_len, &o, &res), -1);
  CHECK_EQ(res.status, 400);
  CHECK_EQ(drain(rd, &ev), 0);
  CHECK_EQ(count(bs, "shop/staging/"), 3);
}

/* A CPU profile carrying forged pgopipe- comments: stored without them. */
static void forged(blob_store *bs, bus_reader *rd, const upload_config *cfg, const uint8_t *cpu, size_t cpu_len) {
  char err[256];
  pp_profile *p = NULL;
  CHECK_EQ(pp_decode(cpu, cpu_len, NULL, &p, err, sizeof err), 0);
  pp_add_comment(p, "pgopipe-upload: {\"kind\":\"heap\"}");
  pp_add_comment(p, "pgopipe-merged-staged: 1-00000000");
  pp_add_comment(p, "a user's own note");
  uint8_t *enc = NULL;
  size_t n;
  CHECK_EQ(pp_encode(p, -1, &enc, &n, err, sizeof err), 0);
  pp_free(p);
  upload_result res;
  bus_event ev;
  CHECK_EQ(upload_accept(cfg, "forged", enc, n, &res), 0);
  staged s;
  staged_load(bs, res.key, &s);
  CHECK(!s.found && s.p && pp_comment_count(s.p) == 1 && !strcmp(pp_comment(s.p, 0), "a user's own note"),
        "forged comments stored");
  staged_free(&s);
  CHECK_EQ(drain(rd, &ev), 1);
  free(enc);
}

/* A parsed profefe push through push_accept; an empty one; ids. */
static void pushes(blob_store *bs, bus_reader *rd, const upload_config *cfg, const uint8_t *heap, size_t heap_len) {
  ingest_request rq = {.method = "POST",
                       .query = "service=Checkout_API&type=heap&labels=host%3Dweb-1%2Cregion%3Deu",
                       .body = heap,
                       .len = heap_len};
  ingest_config ic = {.now_ns = 1763800000000000000LL};
  ingest_upload up;
  int status;
  char msg[512];
  CHECK_EQ(ingest_request_parse(INGEST_PROFEFE, &rq, &ic, &up, &status, msg, sizeof msg), 0);
  upload_result res;
  bus_event ev;
  CHECK_EQ(push_accept(cfg, &up, &res), 0);
  CHECK_EQ(res.status, 200);
  CHECK_EQ(res.stored, 1);
  char app[LAYOUT_APP_MAX + 1];
  layout_kind k;
  int64_t hour;
  const char *name = NULL;
  CHECK_EQ(push_profefe_id_parse(res.id, app, &k, &hour, &name), 0);
  CHECK_STR(app, "checkout-api");
  CHECK_EQ(k, LAYOUT_KIND_HEAP);
  CHECK_EQ(hour, layout_hour_of_ns(up.meta.time_ns));
  CHECK(name && !strcmp(name, layout_staged_name(res.key, "checkout-api")), "id %s, key %s", res.id, res.key);
  staged s;
  staged_load(bs, res.key, &s);
  CHECK(s.found && s.meta.source == INGEST_SOURCE_PROFEFE && !strcmp(s.meta.name, "Checkout_API") &&
            !strcmp(s.meta.instance, "host=web-1,region=eu") && s.meta.mode == INGEST_MODE_CUMULATIVE,
        "profefe record");
  staged_free(&s);
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_STR(ev.name, "Checkout_API");
  CHECK_STR(ev.source, "profefe");
  CHECK_STR(ev.labels, "{\"host\":\"web-1\",\"region\":\"eu\"}");
  ingest_upload_free(&up);

  /* empty: success, nothing stored, nothing announced */
  ingest_upload empty = {0};
  ingest_meta_init(&empty.meta);
  empty.empty = 1;
  CHECK_EQ(push_accept(cfg, &empty, &res), 0);
  CHECK(res.status == 200 && !res.stored && !res.key[0] && !res.id[0], "empty push stored");
  CHECK_EQ(drain(rd, &ev), 0);

  /* a name that does not fit the event: 400, nothing stored */
  char longname[300];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  char query[600];
  snprintf(query, sizeof query, "service=%s&type=heap", longname);
  rq.query = query;
  CHECK_EQ(ingest_request_parse(INGEST_PROFEFE, &rq, &ic, &up, &status, msg, sizeof msg), 0);
  int before = count(bs, "");
  CHECK_EQ(push_accept(cfg, &up, &res), -1);
  CHECK_EQ(res.status, 400);
  CHECK(strstr(res.message, "payload.name") != NULL, "%s", res.message);
  CHECK_EQ(count(bs, ""), before);
  CHECK_EQ(drain(rd, &ev), 0);
  ingest_upload_free(&up);

  /* ids both ways, and what parse refuses */
  char id[128];
  CHECK_EQ(push_profefe_id("a-b", LAYOUT_KIND_GOROUTINE, 1763800000000000000LL, "1763800000000000000-0a1b2c3d", id,
                           sizeof id),
           0);
  CHECK_STR(id, "a-b.goroutine.2025112208.1763800000000000000-0a1b2c3d");
  CHECK_EQ(push_profefe_id("a-b", LAYOUT_KIND_CPU, 0, "1-0a1b2c3d", id, 10), -1);
  CHECK_EQ(push_profefe_id("A", LAYOUT_KIND_CPU, 0, "1-0a1b2c3d", id, sizeof id), -1);
  CHECK_EQ(push_profefe_id("a", LAYOUT_KIND_CPU, 0, "1-0a1b2c3d/x", id, sizeof id), -1);
  static const char *bad[] = {
      "a.cpu.2025112208",                            "a.cpu.2025112208.1-0a1b2c3d.x",
      "A.cpu.2025112208.1-0a1b2c3d",                 "a.allocs.2025112208.1-0a1b2c3d",
      "a.cpu.2025112224.1-0a1b2c3d",                 "a.cpu.2025112208.1-0a1b2c3",
      "a.cpu.2025112208.1-0a1b2c3d/../../x",         "a.cpu.2025112208.x-0a1b2c3d",
      "a.cpu.2025112208.12345678901234567890-0a1b2c3d", ".cpu.2025112208.1-0a1b2c3d",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *nm;
    CHECK(push_profefe_id_parse(bad[i], app, &k, &hour, &nm) == -1, "id %s accepted", bad[i]);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_push PROFILES WORKDIR\n");
    return 2;
  }
  size_t cpu_len, heap_len;
  uint8_t *cpu = t_read_fixture(argv[1], "cpu.pprof", &cpu_len);
  uint8_t *heap = t_read_fixture(argv[1], "heap.pprof", &heap_len);
  char url[1200], err[512];
  snprintf(url, sizeof url, "file://%s/push-data", argv[2]);
  blob_store *bs;
  bus_writer *w;
  bus_reader *rd;
  CHECK_EQ(blob_open(url, &bs, err, sizeof err), 0);
  CHECK_EQ(bus_writer_open("mem://push", &w, err, sizeof err), 0);
  CHECK_EQ(bus_reader_open("mem://push", &rd, err, sizeof err), 0);
  upload_config cfg = {.blob = bs, .bus = w, .retention_ns = 0};
  native_kinds(bs, rd, &cfg, cpu, cpu_len, heap, heap_len);
  forged(bs, rd, &cfg, cpu, cpu_len);
  pushes(bs, rd, &cfg, heap, heap_len);
  bus_reader_close(rd);
  bus_writer_close(w);
  blob_close(bs);
  free(cpu);
  free(heap);
  return check_exit("test_push");
}
