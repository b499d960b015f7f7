/*
 * suite.c — the behaviour every blob backend must show, run by
 * test_blob_file (file://) and test_blob_s3 (s3:// against the real test
 * server): every operation, awkward keys, exact byte round trips (binary,
 * empty, several MB), missing keys, limits at and past the edge, ETags that
 * change with the content, listing order and paging past 1000 keys, and
 * concurrent use from several threads.
 */
#include "suite.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *pattern(size_t n, unsigned seed) {
  uint8_t *p = malloc(n ? n : 1);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return p;
}

static void roundtrip(blob_store *s, const char *key, const uint8_t *data, size_t len) {
  char err[1024] = "";
  int rc = blob_put(s, key, data, len, err, sizeof err);
  CHECK(rc == 0, "put %s (%zu bytes): %d %s", key, len, rc, err);
  uint8_t *got = NULL;
  size_t glen = 0;
  blob_info info;
  rc = blob_get(s, key, 0, &got, &glen, &info, err, sizeof err);
  CHECK(rc == 0, "get %s: %d %s", key, rc, err);
  CHECK(rc || (glen == len && (len == 0 || memcmp(got, data, len) == 0)),
        "get %s: bytes differ (%zu vs %zu)", key, glen, len);
  CHECK(rc || got[glen] == 0, "get %s: no terminating NUL", key);
  CHECK(rc || info.size == len, "get %s: info.size %llu", key, (unsigned long long)info.size);
  CHECK(rc || info.etag[0] == '"', "get %s: etag \"%s\"", key, info.etag);
  free(got);
  blob_info st;
  rc = blob_stat(s, key, &st, err, sizeof err);
  CHECK(rc == 0 && st.size == len, "stat %s: %d size %llu %s", key, rc, (unsigned long long)st.size,
        err);
  CHECK(rc || !strcmp(st.etag, info.etag), "stat %s: etag %s vs get %s", key, st.etag, info.etag);
  CHECK(rc || st.mtime_ms > 1600000000000LL, "stat %s: mtime %lld", key, (long long)st.mtime_ms);
}

typedef struct sink {
  uint8_t *buf;
  size_t len, cap;
  int calls, abort_after;
} sink;

static int sink_write(void *ctx, const void *chunk, size_t n) {
  sink *k = ctx;
  k->calls++;
  if (k->abort_after && k->calls >= k->abort_after) return 1;
  if (k->len + n > k->cap) {
    k->cap = (k->len + n) * 2;
    k->buf = realloc(k->buf, k->cap);
  }
  memcpy(k->buf + k->len, chunk, n);
  k->len += n;
  return 0;
}

static int list_all(blob_store *s, const char *prefix, char ***keys, size_t *n) {
  char err[1024] = "";
  blob_iter *it;
  int rc = blob_list(s, prefix, &it, err, sizeof err);
  CHECK(rc == 0, "list %s: %d %s", prefix, rc, err);
  *keys = NULL;
  *n = 0;
  if (rc) return rc;
  const char *key;
  blob_info info;
  size_t cap = 0;
  while ((rc = blob_iter_next(it, &key, &info, err, sizeof err)) == 1) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      *keys = realloc(*keys, cap * sizeof **keys);
    }
    (*keys)[(*n)++] = strdup(key);
  }
  CHECK(rc == 0, "list %s: iteration ended with %d %s", prefix, rc, err);
  blob_iter_free(it);
  return rc;
}

static void free_keys(char **keys, size_t n) {
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
}

static void test_basic(blob_store *s, const char *pfx) {
  char key[512], err[1024] = "";
  /* Round trips: text, empty, binary with NULs, 3 MB. */
  snprintf(key, sizeof key, "%s/basic/text", pfx);
  roundtrip(s, key, (const uint8_t *)"hello, blob", 11);
  snprintf(key, sizeof key, "%s/basic/empty", pfx);
  roundtrip(s, key, (const uint8_t *)"", 0);
  uint8_t bin[256];
  for (int i = 0; i < 256; i++) bin[i] = (uint8_t)(255 - i);
  snprintf(key, sizeof key, "%s/basic/binary", pfx);
  roundtrip(s, key, bin, sizeof bin);
  size_t big = 3 * 1024 * 1024 + 17;
  uint8_t *data = pattern(big, 7);
  snprintf(key, sizeof key, "%s/basic/big", pfx);
  roundtrip(s, key, data, big);

  /* Streaming the big object gives the same bytes and the info first. */
  sink k = {0};
  blob_info info;
  int rc = blob_get_stream(s, key, sink_write, &k, &info, err, sizeof err);
  CHECK(rc == 0 && k.len == big && memcmp(k.buf, data, big) == 0,
        "stream %s: rc %d len %zu %s", key, rc, k.len, err);
  CHECK(info.size == big, "stream info size %llu", (unsigned long long)info.size);
  free(k.buf);
  /* A receiver that stops early aborts the transfer with BLOB_EIO. */
  sink k2 = {.abort_after = 1};
  rc = blob_get_stream(s, key, sink_write, &k2, NULL, err, sizeof err);
  CHECK(rc == BLOB_EIO, "aborted stream: %d %s", rc, err);

  /* max_bytes: at the edge passes, one byte past fails. */
  uint8_t *got;
  size_t glen;
  rc = blob_get(s, key, big, &got, &glen, NULL, err, sizeof err);
  CHECK(rc == 0 && glen == big, "get at limit: %d %s", rc, err);
  free(got);
  rc = blob_get(s, key, big - 1, &got, &glen, NULL, err, sizeof err);
  CHECK(rc == BLOB_ETOOBIG && got == NULL, "get past limit: %d %s", rc, err);
  CHECK(rc != BLOB_ETOOBIG || strstr(err, "basic/big"), "limit message names the key: %s", err);
  free(data);

  /* Overwrite: new bytes, new ETag; the same bytes again keep it stable. */
  snprintf(key, sizeof key, "%s/basic/over", pfx);
  blob_info a, b, c;
  blob_put(s, key, "version-1", 9, err, sizeof err);
  blob_stat(s, key, &a, err, sizeof err);
  blob_put(s, key, "version-2", 9, err, sizeof err);
  blob_stat(s, key, &b, err, sizeof err);
  CHECK(strcmp(a.etag, b.etag) != 0, "etag unchanged after overwrite: %s", a.etag);
  rc = blob_get(s, key, 0, &got, &glen, &c, err, sizeof err);
  CHECK(rc == 0 && glen == 9 && !memcmp(got, "version-2", 9), "overwrite not visible");
  CHECK(!strcmp(c.etag, b.etag), "get etag %s vs stat %s", c.etag, b.etag);
  free(got);
  /* Many quick overwrites: every read sees exactly the last write. */
  for (int i = 0; i < 30; i++) {
    char v[32];
    int n = snprintf(v, sizeof v, "value number %d", i);
    blob_put(s, key, v, (size_t)n, err, sizeof err);
    rc = blob_get(s, key, 0, &got, &glen, NULL, err, sizeof err);
    CHECK(rc == 0 && glen == (size_t)n && !memcmp(got, v, glen), "read after put %d: %.*s", i,
          (int)glen, got ? (char *)got : "");
    free(got);
  }

  /* Missing keys. */
  snprintf(key, sizeof key, "%s/basic/missing", pfx);
  rc = blob_get(s, key, 0, &got, &glen, NULL, err, sizeof err);
  CHECK(rc == BLOB_ENOTFOUND && got == NULL, "get missing: %d %s", rc, err);
  CHECK(strstr(err, "basic/missing") != NULL, "not-found message names the key: %s", err);
  rc = blob_stat(s, key, &info, err, sizeof err);
  CHECK(rc == BLOB_ENOTFOUND, "stat missing: %d %s", rc, err);
  sink k3 = {0};
  rc = blob_get_stream(s, key, sink_write, &k3, NULL, err, sizeof err);
  CHECK(rc == BLOB_ENOTFOUND && k3.calls == 0, "stream missing: %d %s", rc, err);
  rc = blob_delete(s, key, err, sizeof err);
  CHECK(rc == 0, "delete missing: %d %s", rc, err);
  /* A prefix is not an object. */
  snprintf(key, sizeof key, "%s/basic", pfx);
  rc = blob_stat(s, key, &info, err, sizeof err);
  CHECK(rc == BLOB_ENOTFOUND, "stat of a prefix: %d %s", rc, err);

  /* Delete removes. */
  snprintf(key, sizeof key, "%s/basic/text", pfx);
  rc = blob_delete(s, key, err, sizeof err);
  CHECK(rc == 0, "delete: %d %s", rc, err);
  rc = blob_stat(s, key, &info, err, sizeof err);
  CHECK(rc == BLOB_ENOTFOUND, "stat after delete: %d", rc);

  /* Invalid keys never reach the store. */
  const char *bad[] = {"", "/abs", "a//b", "a/", "./a", "a/./b", "../x", "a/../../x", "a/..",
                       "tab\tkey", "del\x7f", "bad\xff\xfe utf8"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rc = blob_put(s, bad[i], "x", 1, err, sizeof err);
    CHECK(rc == BLOB_EINVAL, "put of invalid key \"%s\": %d", bad[i], rc);
    rc = blob_get(s, bad[i], 0, &got, &glen, NULL, err, sizeof err);
    CHECK(rc == BLOB_EINVAL, "get of invalid key \"%s\": %d", bad[i], rc);
    rc = blob_delete(s, bad[i], err, sizeof err);
    CHECK(rc == BLOB_EINVAL, "delete of invalid key \"%s\": %d", bad[i], rc);
  }
  char longkey[1100];
  memset(longkey, 'k', sizeof longkey);
  longkey[1024] = '\0';
  snprintf(key, sizeof key, "%s/", pfx);
  /* 1024 bytes is valid as a key (the store may still refuse such a long name). */
  CHECK(blob_key_valid(longkey), "1024-byte key refused");
  longkey[1024] = 'k';
  longkey[1025] = '\0';
  CHECK(!blob_key_valid(longkey), "1025-byte key accepted");
  rc = blob_put(s, longkey, "x", 1, err, sizeof err);
  CHECK(rc == BLOB_EINVAL, "put of a 1025-byte key: %d", rc);
}

static const char *weird[] = {
    "with space/a b c",
    "plus+sign/1+1=2",
    "percent/100%/%20literal",
    "unicode/\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xf0\x9f\x98\x80",
    "deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/leaf",
    "marks/amp&lt<gt>quote\"apos'",
    "marks/tilde~star*paren()comma,semi;colon:at@eq=q?hash#dollar$",
    "dots/.hidden/..twice/...three",
    "backslash/a\\b",
};

static void test_weird_keys(blob_store *s, const char *pfx) {
  char key[512], err[1024];
  size_t n = sizeof weird / sizeof weird[0];
  for (size_t i = 0; i < n; i++) {
    snprintf(key, sizeof key, "%s/weird/%s", pfx, weird[i]);
    roundtrip(s, key, (const uint8_t *)weird[i], strlen(weird[i]));
  }
  char lp[256];
  snprintf(lp, sizeof lp, "%s/weird/", pfx);
  char **keys;
  size_t nk;
  list_all(s, lp, &keys, &nk);
  CHECK(nk == n, "listed %zu weird keys, want %zu", nk, n);
  for (size_t i = 0; i < n; i++) {
    snprintf(key, sizeof key, "%s/weird/%s", pfx, weird[i]);
    int found = 0;
    for (size_t j = 0; j < nk; j++) found |= !strcmp(keys[j], key);
    CHECK(found, "key \"%s\" not listed exactly", key);
  }
  for (size_t j = 1; j < nk; j++)
    CHECK(strcmp(keys[j - 1], keys[j]) < 0, "list order: \"%s\" before \"%s\"", keys[j - 1], keys[j]);
  free_keys(keys, nk);
  /* A prefix that ends inside a segment. */
  snprintf(lp, sizeof lp, "%s/weird/plus+", pfx);
  list_all(s, lp, &keys, &nk);
  CHECK(nk == 1, "partial-segment prefix listed %zu", nk);
  free_keys(keys, nk);
  for (size_t i = 0; i < n; i++) {
    snprintf(key, sizeof key, "%s/weird/%s", pfx, weird[i]);
    int rc = blob_delete(s, key, err, sizeof err);
    CHECK(rc == 0, "delete %s: %d %s", key, rc, err);
  }
  snprintf(lp, sizeof lp, "%s/weird/", pfx);
  list_all(s, lp, &keys, &nk);
  CHECK(nk == 0, "%zu keys left after deleting all", nk);
  free_keys(keys, nk);
}

static void test_order(blob_store *s, const char *pfx) {
  /* Byte order: '-' (2d) < '.' (2e) < '/' (2f) < '0' (30). */
  const char *names[] = {"x0", "x/y", "x.z", "x-y", "x/a/b", "w"};
  const char *want[] = {"w", "x-y", "x.z", "x/a/b", "x/y", "x0"};
  char key[256], err[256];
  for (size_t i = 0; i < 6; i++) {
    snprintf(key, sizeof key, "%s/order/%s", pfx, names[i]);
    CHECK(blob_put(s, key, names[i], strlen(names[i]), err, sizeof err) == 0, "put %s: %s", key, err);
  }
  char lp[256];
  snprintf(lp, sizeof lp, "%s/order/", pfx);
  char **keys;
  size_t nk;
  list_all(s, lp, &keys, &nk);
  CHECK(nk == 6, "order: listed %zu", nk);
  for (size_t i = 0; i < nk && i < 6; i++) {
    snprintf(key, sizeof key, "%s/order/%s", pfx, want[i]);
    CHECK(!strcmp(keys[i], key), "order[%zu] = %s, want %s", i, keys[i], key);
  }
  free_keys(keys, nk);
  /* Listing with info: sizes are right. */
  blob_iter *it;
  blob_list(s, lp, &it, err, sizeof err);
  const char *k;
  blob_info info;
  int rc;
  while ((rc = blob_iter_next(it, &k, &info, err, sizeof err)) == 1) {
    const char *leaf = k + strlen(lp);
    CHECK(info.size == strlen(leaf), "list size of %s: %llu", k, (unsigned long long)info.size);
    CHECK(info.mtime_ms > 1600000000000LL, "list mtime of %s: %lld", k, (long long)info.mtime_ms);
    CHECK(info.etag[0] == '"', "list etag of %s: %s", k, info.etag);
  }
  CHECK(rc == 0, "order iteration: %d %s", rc, err);
  blob_iter_free(it);
  for (size_t i = 0; i < 6; i++) {
    snprintf(key, sizeof key, "%s/order/%s", pfx, names[i]);
    blob_delete(s, key, err, sizeof err);
  }
  /* An empty listing ends at once. */
  snprintf(lp, sizeof lp, "%s/nothing-here/", pfx);
  list_all(s, lp, &keys, &nk);
  CHECK(nk == 0, "empty prefix listed %zu", nk);
  free_keys(keys, nk);
}

typedef struct worker_arg {
  blob_store *s;
  const char *pfx;
  int id, from, to;
  int mode; /* 0 put, 1 delete, 2 mixed */
  int failures;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  char key[256], err[1024], val[64];
  for (int i = a->from; i < a->to; i++) {
    if (a->mode == 0) {
      snprintf(key, sizeof key, "%s/many/k%05d", a->pfx, i);
      int n = snprintf(val, sizeof val, "value-%d", i);
      if (blob_put(a->s, key, val, (size_t)n, err, sizeof err)) {
        if (!a->failures++) fprintf(stderr, "put %s: %s\n", key, err);
      }
    } else if (a->mode == 1) {
      snprintf(key, sizeof key, "%s/many/k%05d", a->pfx, i);
      if (blob_delete(a->s, key, err, sizeof err)) {
        if (!a->failures++) fprintf(stderr, "delete %s: %s\n", key, err);
      }
    } else {
      snprintf(key, sizeof key, "%s/conc/t%d/k%d", a->pfx, a->id, i);
      uint8_t *d = pattern(20000 + (size_t)i, (unsigned)(a->id * 1000 + i));
      uint8_t *got = NULL;
      size_t glen = 0;
      int bad = blob_put(a->s, key, d, 20000 + (size_t)i, err, sizeof err) ||
                blob_get(a->s, key, 0, &got, &glen, NULL, err, sizeof err) ||
                glen != 20000 + (size_t)i || memcmp(got, d, glen) ||
                blob_delete(a->s, key, err, sizeof err);
      if (bad && !a->failures++) fprintf(stderr, "thread %d key %s: %s\n", a->id, key, err);
      free(got);
      free(d);
    }
  }
  return NULL;
}

static void run_threads(blob_store *s, const char *pfx, int mode, int total, int nthreads) {
  pthread_t th[16];
  worker_arg args[16];
  for (int t = 0; t < nthreads; t++) {
    args[t] = (worker_arg){s, pfx, t, total * t / nthreads, total * (t + 1) / nthreads, mode, 0};
    pthread_create(&th[t], NULL, worker, &args[t]);
  }
  for (int t = 0; t < nthreads; t++) {
    pthread_join(th[t], NULL);
    CHECK(args[t].failures == 0, "thread %d (mode %d): %d failures", t, mode, args[t].failures);
  }
}

static void test_many(blob_store *s, const char *pfx, int total) {
  run_threads(s, pfx, 0, total, 4);
  char lp[256], key[256];
  snprintf(lp, sizeof lp, "%s/many/", pfx);
  char **keys;
  size_t nk;
  list_all(s, lp, &keys, &nk);
  CHECK(nk == (size_t)total, "listed %zu of %d keys", nk, total);
  size_t bad = 0;
  for (size_t i = 0; i < nk && i < (size_t)total; i++) {
    snprintf(key, sizeof key, "%s/many/k%05zu", pfx, i);
    if (strcmp(keys[i], key) && !bad++) CHECK(0, "listing[%zu] = %s, want %s", i, keys[i], key);
  }
  CHECK(bad == 0, "%zu keys out of place", bad);
  free_keys(keys, nk);
  run_threads(s, pfx, 1, total, 4);
  list_all(s, lp, &keys, &nk);
  CHECK(nk == 0, "%zu keys left after deletes", nk);
  free_keys(keys, nk);
}

void suite_run(blob_store *s, const char *pfx, int many) {
  char err[1024];
  int rc = blob_check(s, err, sizeof err);
  CHECK(rc == 0, "check: %d %s", rc, err);
  test_basic(s, pfx);
  test_weird_keys(s, pfx);
  test_order(s, pfx);
  run_threads(s, pfx, 2, 25, 4);
  test_many(s, pfx, many);
}
