/*
 * test_upload.c — the upload rule of lib/pipeline (upload_accept) without
 * HTTP: the file store and the in-process bus (mem://), real Go profiles.
 * Checks every outcome and that a refusal leaves nothing behind: no object
 * and no event for 400/413/422, no object when the publish fails (the
 * staged object is taken back), no event when the store fails.
 *   test_upload PROFILES WORKDIR
 */
#include "../common/check.h"
#include "../common/proc.h"

CHECK_DEFINE_COUNTERS

#include "blob.h"
#include "bus.h"
#include "pprof.h"
#include "layout.h"
#include "upload.h"

#include "events.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The decoded-size limit a profile needs exactly: the smallest the engine
 * accepts it under, its in-memory form counted as the upload rule counts
 * it (pp_limits.count_memory). */
static size_t decoded_edge(const uint8_t *b, size_t n) {
  size_t lo = 1, hi = (size_t)1 << 30;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    pp_limits l = {.max_input_bytes = n + 1, .max_decoded_bytes = mid, .count_memory = 1};
    pp_profile *p = NULL;
    char e[256];
    if (pp_decode(b, n, &l, &p, e, sizeof e) == PP_OK) {
      pp_free(p);
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

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

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_upload PROFILES WORKDIR\n");
    return 2;
  }
  size_t cpu_len, raw_len, heap_len;
  uint8_t *cpu = t_read_fixture(argv[1], "cpu.pprof", &cpu_len);
  uint8_t *raw = t_read_fixture(argv[1], "cpu.raw", &raw_len);
  uint8_t *heap = t_read_fixture(argv[1], "heap.pprof", &heap_len);
  char url[1200], err[512];
  snprintf(url, sizeof url, "file://%s/upload-data", argv[2]);
  blob_store *bs;
  bus_writer *w, *w1;
  bus_reader *rd, *rd1;
  CHECK_EQ(blob_open(url, &bs, err, sizeof err), 0);
  CHECK_EQ(bus_writer_open("mem://uploads", &w, err, sizeof err), 0);
  CHECK_EQ(bus_reader_open("mem://uploads", &rd, err, sizeof err), 0);
  size_t edge = decoded_edge(raw, raw_len);
  CHECK(edge > raw_len, "the decoded limit counts only the bytes: %zu", edge);
  upload_config cfg = {.blob = bs, .bus = w, .max_input_bytes = 1 << 20, .max_decoded_bytes = edge};
  upload_result res;
  bus_event ev;

  /* app names and the staging key's form are lib/core's (tests/core) */
  /* accepted: gzip stored as received, event after the object */
  CHECK_EQ(upload_accept(&cfg, "demo", cpu, cpu_len, &res), 0);
  CHECK_EQ(res.status, 201);
  CHECK(layout_staged_name(res.key, "demo") != NULL && strlen(res.key) == 13 + 19 + 1 + 8);
  CHECK_EQ(res.reason, UPLOAD_OK);
  CHECK_STR(upload_reason_name(res.reason), "ok");
  {
    uint8_t *d;
    size_t n;
    CHECK_EQ(blob_get(bs, res.key, 0, &d, &n, NULL, err, sizeof err), 0);
    CHECK(n == cpu_len && memcmp(d, cpu, n) == 0);
    free(d);
  }
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_STR(ev.type, BUS_TYPE_UPLOADED);
  CHECK_STR(ev.app, "demo");
  CHECK_STR(ev.profile_key, res.key);

  /* raw: stored as gzip of the same profile */
  CHECK_EQ(upload_accept(&cfg, "demo", raw, raw_len, &res), 0);
  {
    uint8_t *d;
    size_t n;
    pp_profile *a = NULL, *b = NULL;
    CHECK_EQ(blob_get(bs, res.key, 0, &d, &n, NULL, err, sizeof err), 0);
    CHECK(n > 2 && d[0] == 0x1f && d[1] == 0x8b);
    CHECK_EQ(pp_decode(d, n, NULL, &a, err, sizeof err), 0);
    CHECK_EQ(pp_decode(raw, raw_len, NULL, &b, err, sizeof err), 0);
    if (a && b) {
      CHECK_EQ(pp_sample_count(a), pp_sample_count(b));
      CHECK_EQ(pp_total(a, 0), pp_total(b, 0));
      CHECK_EQ(pp_total(a, 1), pp_total(b, 1));
      CHECK_EQ(pp_period(a), pp_period(b));
    }
    pp_free(a);
    pp_free(b);
    free(d);
  }
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_EQ(count(bs, "demo/staging/"), 2);

  /* refusals: nothing stored, nothing announced */
  CHECK_EQ(upload_accept(&cfg, "Bad_App", cpu, cpu_len, &res), -1);
  CHECK_EQ(res.status, 400);
  CHECK_STR(upload_reason_name(res.reason), "bad_app");
  CHECK_EQ(upload_accept(&cfg, "demo", (const uint8_t *)"nope", 4, &res), -1);
  CHECK_EQ(res.status, 400);
  CHECK_STR(upload_reason_name(res.reason), "malformed");
  CHECK(strstr(res.message, "malformed") != NULL);
  CHECK_EQ(upload_accept(&cfg, "demo", heap, heap_len, &res), -1);
  CHECK_EQ(res.status, 422);
  CHECK_STR(upload_reason_name(res.reason), "not_cpu");
  CHECK(strstr(res.message, "space/bytes") != NULL);
  upload_config tight = cfg;
  tight.max_decoded_bytes = edge - 1; /* one past the decoded limit (bytes and memory) */
  CHECK_EQ(upload_accept(&tight, "demo", cpu, cpu_len, &res), -1);
  CHECK_EQ(res.status, 413);
  CHECK_STR(upload_reason_name(res.reason), "too_big");
  tight.max_decoded_bytes = edge; /* exactly at it */
  CHECK_EQ(upload_accept(&tight, "demo", cpu, cpu_len, &res), 0);
  CHECK_EQ(drain(rd, &ev), 1);
  tight.max_input_bytes = cpu_len - 1; /* body one past the input limit */
  CHECK_EQ(upload_accept(&tight, "demo", cpu, cpu_len, &res), -1);
  CHECK_EQ(res.status, 413);
  CHECK_EQ(drain(rd, &ev), 0);
  CHECK_EQ(count(bs, "demo/staging/"), 3);
  CHECK_EQ(count(bs, "Bad_App/"), 0);

  /* publish fails (topic full at one message): the staged object is removed */
  CHECK_EQ(bus_writer_open("mem://full?max.messages=1", &w1, err, sizeof err), 0);
  CHECK_EQ(bus_reader_open("mem://full", &rd1, err, sizeof err), 0);
  upload_config one = {.blob = bs, .bus = w1};
  CHECK_EQ(upload_accept(&one, "full", cpu, cpu_len, &res), 0);
  CHECK_EQ(upload_accept(&one, "full", cpu, cpu_len, &res), -1);
  CHECK_EQ(res.status, 503);
  CHECK_STR(upload_reason_name(res.reason), "publish");
  CHECK_EQ(res.orphaned, 0);
  CHECK_STR(res.key, "");
  CHECK(strstr(res.message, "event bus unavailable") != NULL);
  CHECK_EQ(count(bs, "full/staging/"), 1);
  CHECK_EQ(drain(rd1, &ev), 1);
  bus_reader_close(rd1);
  bus_writer_close(w1);

  /* store fails: 503 and no event */
  blob_store *bad;
  char badurl[1300];
  snprintf(badurl, sizeof badurl, "file://%s/readonly", argv[2]);
  snprintf(url, sizeof url, "%s/readonly", argv[2]);
  mkdir(url, 0555);
  CHECK_EQ(blob_open(badurl, &bad, err, sizeof err), 0);
  upload_config ro = {.blob = bad, .bus = w};
  if (geteuid() == 0) {
    /* root writes anywhere: use a file where the store's directory should be */
    blob_close(bad);
    snprintf(url, sizeof url, "%s/notadir", argv[2]);
    FILE *f = fopen(url, "w");
    fclose(f);
    snprintf(badurl, sizeof badurl, "file://%s/notadir", argv[2]);
    CHECK_EQ(blob_open(badurl, &bad, err, sizeof err), 0);
    ro.blob = bad;
  }
  CHECK_EQ(upload_accept(&ro, "demo", cpu, cpu_len, &res), -1);
  CHECK_EQ(res.status, 503);
  CHECK_STR(upload_reason_name(res.reason), "blob");
  CHECK(strstr(res.message, "blob store unavailable") != NULL);
  CHECK_EQ(drain(rd, &ev), 0);
  blob_close(bad);

  bus_reader_close(rd);
  bus_writer_close(w);
  blob_close(bs);
  free(cpu);
  free(raw);
  free(heap);
  return check_exit("test_upload");
}
