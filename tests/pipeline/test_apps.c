/*
 * test_apps.c — the app rules of lib/pipeline (apps.c) without HTTP, on the
 * file store and the in-process bus (mem://): which keys are bases in a
 * listing (every kind's, grouped by app, cpu first), and every outcome of a
 * deletion with what it leaves behind (nothing done for 404 and 503, the
 * event before the bases go for 200; an app with only another kind's base
 * is deleted too).
 * An S3 URL on a closed port stands for a store that does not answer.
 *   test_apps WORKDIR
 */
#include "../common/check.h"

CHECK_DEFINE_COUNTERS

#include "apps.h"
#include "blob.h"
#include "bus.h"

#include "events.h"

#include <stdlib.h>

static void put(blob_store *bs, const char *key, size_t len) {
  char err[256], buf[64] = {0};
  CHECK_EQ(blob_put(bs, key, buf, len, err, sizeof err), 0);
}

static int exists(blob_store *bs, const char *key) {
  char err[256];
  return blob_stat(bs, key, NULL, err, sizeof err) == BLOB_OK;
}

static void test_list(blob_store *bs) {
  char err[512];
  apps_base *b = NULL;
  size_t n = 99;
  CHECK_EQ(apps_list_bases(bs, &b, &n, err, sizeof err), 0);
  CHECK_EQ(n, 0);
  CHECK(b == NULL);
  put(bs, "other/default.pgo", 7);
  put(bs, "demo/default.pgo", 12);
  put(bs, "demo/staging/1730075435311000000-0a1b2c3d", 3);
  put(bs, "demo/rejected/default.pgo.5", 3);
  put(bs, "Bad_App/default.pgo", 3); /* a key, but not an app's */
  put(bs, "x/default.pgo.bak", 3);
  put(bs, "nested/dir/default.pgo", 3);
  CHECK_EQ(apps_list_bases(bs, &b, &n, err, sizeof err), 0);
  CHECK_EQ(n, 2);
  if (n == 2) {
    CHECK_STR(b[0].app, "demo");
    CHECK_EQ(b[0].size, 12);
    CHECK(b[0].mtime_ms > 0);
    CHECK_EQ(b[0].nkinds, 1);
    CHECK_EQ(b[0].kinds[0].kind, LAYOUT_KIND_CPU);
    CHECK_EQ(b[0].kinds[0].size, 12);
    CHECK_STR(b[1].app, "other");
    CHECK_EQ(b[1].size, 7);
  }
  free(b);

  /* the other kinds' bases: listed with their app, in kind order */
  put(bs, "demo/kinds/threadcreate.pgo", 2);
  put(bs, "demo/kinds/heap.pgo", 5);
  put(bs, "demo/kinds/cpu.pgo", 3);     /* not a base: cpu's is default.pgo */
  put(bs, "demo/kinds/allocs.pgo", 3);  /* not a base: the kind is heap */
  put(bs, "demo/kinds/heap.pgo.tmp", 3);
  put(bs, "demo/hours/heap/2026010203.pgo", 3);
  put(bs, "demo-x/kinds/mutex.pgo", 4); /* an app of its own, sorted before demo/ */
  CHECK_EQ(apps_list_bases(bs, &b, &n, err, sizeof err), 0);
  CHECK_EQ(n, 3);
  if (n == 3) {
    CHECK_STR(b[0].app, "demo-x");
    CHECK_EQ(b[0].nkinds, 1);
    CHECK_EQ(b[0].kinds[0].kind, LAYOUT_KIND_MUTEX);
    CHECK_EQ(b[0].size, 4);
    CHECK_STR(b[1].app, "demo");
    CHECK_EQ(b[1].nkinds, 3);
    CHECK_EQ(b[1].kinds[0].kind, LAYOUT_KIND_CPU);
    CHECK_EQ(b[1].kinds[1].kind, LAYOUT_KIND_HEAP);
    CHECK_EQ(b[1].kinds[1].size, 5);
    CHECK_EQ(b[1].kinds[2].kind, LAYOUT_KIND_THREADCREATE);
    CHECK_EQ(b[1].size, 12 + 5 + 2);
    int64_t newest = 0;
    for (size_t k = 0; k < b[1].nkinds; k++)
      if (b[1].kinds[k].mtime_ms > newest) newest = b[1].kinds[k].mtime_ms;
    CHECK_EQ(b[1].mtime_ms, newest);
    CHECK_STR(b[2].app, "other");
  }
  free(b);
}

static void test_delete(blob_store *bs, bus_reader *rd, bus_writer *w) {
  apps_delete_result res;
  bus_event ev;
  CHECK_EQ(apps_delete(bs, w, "nosuch", &res), -1);
  CHECK_EQ(res.outcome, APPS_NO_BASE);
  CHECK_STR(res.key, "nosuch/default.pgo");
  CHECK_STR(res.error, "");
  CHECK_EQ(drain(rd, &ev), 0);

  CHECK_EQ(apps_delete(bs, w, "Bad_App", &res), -1);
  CHECK_EQ(res.outcome, APPS_BAD_APP);
  CHECK_STR(res.key, "");
  CHECK(exists(bs, "Bad_App/default.pgo"));

  CHECK_EQ(apps_delete(bs, w, "other", &res), 0);
  CHECK_EQ(res.outcome, APPS_DELETED);
  CHECK_EQ(res.base_left, 0);
  CHECK(!exists(bs, "other/default.pgo"));
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_STR(ev.type, BUS_TYPE_DELETED);
  CHECK_STR(ev.app, "other");

  /* The bus does not take it (topic full at one message): nothing changes. */
  char err[512];
  bus_writer *w1;
  bus_reader *rd1;
  CHECK_EQ(bus_writer_open("mem://full?max.messages=1", &w1, err, sizeof err), 0);
  CHECK_EQ(bus_reader_open("mem://full", &rd1, err, sizeof err), 0);
  put(bs, "full/default.pgo", 3);
  CHECK_EQ(apps_delete(bs, w1, "demo", &res), 0); /* the one message the topic holds */
  CHECK(!exists(bs, "demo/default.pgo"));
  CHECK(!exists(bs, "demo/kinds/heap.pgo")); /* every base of the app */
  CHECK(!exists(bs, "demo/kinds/threadcreate.pgo"));
  CHECK_EQ(apps_delete(bs, w1, "full", &res), -1);
  CHECK_EQ(res.outcome, APPS_BUS_FAILED);
  CHECK(strstr(res.error, "mem://full") != NULL);
  CHECK(exists(bs, "full/default.pgo"));
  CHECK_EQ(drain(rd1, &ev), 1);
  CHECK_STR(ev.app, "demo");
  bus_reader_close(rd1);
  bus_writer_close(w1);

  /* an app with only another kind's base */
  CHECK_EQ(apps_delete(bs, w, "demo-x", &res), 0);
  CHECK_EQ(res.outcome, APPS_DELETED);
  CHECK_EQ(res.base_left, 0);
  CHECK(!exists(bs, "demo-x/kinds/mutex.pgo"));
  CHECK_EQ(drain(rd, &ev), 1);
  CHECK_STR(ev.app, "demo-x");
  CHECK_EQ(apps_delete(bs, w, "demo-x", &res), -1);
  CHECK_EQ(res.outcome, APPS_NO_BASE);
}

/* A store that does not answer: the listing fails, a deletion does nothing. */
static void test_store_down(bus_reader *rd, bus_writer *w) {
  setenv("AWS_ACCESS_KEY_ID", "k", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
  blob_store *down;
  char err[512];
  CHECK_EQ(blob_open("s3://bucket?endpoint=http://127.0.0.1:1&use_path_style=true&retries=0"
                      "&connect_timeout=500ms",
                      &down, err, sizeof err),
            0);
  apps_base *b = (apps_base *)1;
  size_t n = 99;
  CHECK(apps_list_bases(down, &b, &n, err, sizeof err) < 0);
  CHECK(b == NULL && n == 0);
  CHECK(strstr(err, "127.0.0.1") != NULL);
  apps_delete_result res;
  bus_event ev;
  CHECK_EQ(apps_delete(down, w, "demo", &res), -1);
  CHECK_EQ(res.outcome, APPS_STORE_FAILED);
  CHECK(strstr(res.error, "s3 HEAD") != NULL);
  CHECK_EQ(drain(rd, &ev), 0);
  blob_close(down);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_apps WORKDIR\n");
    return 2;
  }
  char url[1200], err[512];
  snprintf(url, sizeof url, "file://%s/apps-data", argv[1]);
  blob_store *bs;
  bus_writer *w;
  bus_reader *rd;
  CHECK_EQ(blob_open(url, &bs, err, sizeof err), 0);
  CHECK_EQ(bus_writer_open("mem://apps", &w, err, sizeof err), 0);
  CHECK_EQ(bus_reader_open("mem://apps", &rd, err, sizeof err), 0);
  test_list(bs);
  test_delete(bs, rd, w);
  test_store_down(rd, w);
  bus_reader_close(rd);
  bus_writer_close(w);
  blob_close(bs);
  return check_exit("test_apps");
}
