/*
 * worker_merge_test.c — the merge step of the worker, checked in-process on
 * the real file:// store and the real mem:// bus with real Go CPU profiles.
 *
 *   worker_merge_test PROFILE_DIR
 *
 * What it proves, each in its own function:
 *  - an upload lands in the base once; the base equals an independent merge;
 *    profile.merged removes the staged object; the base kept in memory is
 *    used, and not once the stored base was replaced;
 *  - redelivery (same events again, as after a crash before the commit) and
 *    a crash between the base write and the commit count nothing twice;
 *  - a staged object gone and not in the record is skipped, not fatal;
 *  - poison (garbage, heap into a CPU base, a corrupt base) ends in
 *    rejected/, others merge;
 *  - batching: many uploads, one base write, same totals, byte for byte
 *    the sequential merge (the uploads were merged on threads first);
 *  - prune rules give what merge+prune gives;
 *  - malformed envelopes and unknown types are skipped and committed;
 *  - the staged-object size limit at and past its edge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "worker_env.h"

CHECK_DEFINE_COUNTERS

static void test_merge_once(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char k1[1024], k2[1024];
  upload(&e, "app", g_cpu[0], k1, sizeof k1);
  upload(&e, "app", g_cpu[1], k2, sizeof k2);
  drain(&e, 50);
  pp_profile *b = base_of(&e, "app");
  CHECK(b != NULL, "no base");
  if (b) {
    for (size_t vi = 0; vi < 2; vi++)
      CHECK(pp_total(b, vi) == file_total(g_cpu[0], vi) + file_total(g_cpu[1], vi), "total %zu", vi);
    /* an independent merge of exactly those uploads */
    pp_profile *in[2] = {decode_file(g_cpu[1]), decode_file(g_cpu[0])};
    pp_profile *ref = NULL;
    char err[256];
    CHECK(pp_merge(in, 2, &ref, err, sizeof err) == 0, "%s", err);
    if (ref) {
      CHECK(pp_sample_count(b) == pp_sample_count(ref), "samples %zu vs %zu", pp_sample_count(b),
            pp_sample_count(ref));
      CHECK(pp_location_count(b) == pp_location_count(ref), "locations");
      CHECK(pp_function_count(b) == pp_function_count(ref), "functions");
      pp_free(ref);
    }
  }
  pp_free(b);
  CHECK(!exists(&e, k1) && !exists(&e, k2), "staged objects still there after profile.merged");
  worker_counts c = counts(&e);
  CHECK(c.uploads_merged == 2 && c.duplicates == 0, "merged %llu", (unsigned long long)c.uploads_merged);
  CHECK(c.staged_deleted == 2, "staged_deleted %llu", (unsigned long long)c.staged_deleted);
  CHECK(c.conflicts == 0 && c.retries == 0, "conflicts %llu retries %llu on a quiet store",
        (unsigned long long)c.conflicts, (unsigned long long)c.retries);
  /* The worker keeps the base it wrote; a base replaced behind its back
   * (another writer, a restore) must be read again, not the kept one used. */
  upload(&e, "app", g_cpu[2], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) + file_total(g_cpu[2], 1),
        "second write from the kept base");
  CHECK(counts(&e).cache_hits == 1, "kept base not used (hits %llu)", (unsigned long long)counts(&e).cache_hits);
  pp_free(b);
  {
    size_t len;
    uint8_t *raw = slurp(g_cpu[2], &len);
    char err[256];
    CHECK(raw && blob_put(e.blob, "app/default.pgo", raw, len, err, sizeof err) == 0, "replace base");
    free(raw);
  }
  upload(&e, "app", g_cpu[1], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[2], 1) + file_total(g_cpu[1], 1),
        "a replaced base was not read again: total %lld", b ? (long long)pp_total(b, 1) : -1LL);
  CHECK(counts(&e).cache_hits == 1, "kept base used after it was replaced");
  pp_free(b);
  env_close(&e);
}

static void test_redelivery_and_crash(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char k1[1024], k2[1024];
  stage(&e, "app", g_cpu[0], k1, sizeof k1);
  stage(&e, "app", g_cpu[1], k2, sizeof k2);
  char err[512];
  const char *keys[] = {k1, k2};
  /* A crash after the base write, before publishing and committing: the
   * merge happened, nothing else. */
  CHECK(worker_merge_app(e.w, "app", keys, 2, err, sizeof err) == 0, "%s", err);
  env_restart(&e, 0);
  drain(&e, 50); /* drop the profile.merged the first attempt published */
  /* Kafka redelivers the uploads (never committed): */
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  publish(&e, BUS_TYPE_UPLOADED, "app", k2);
  drain(&e, 50);
  /* and once more, after the staged objects are gone */
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  publish(&e, BUS_TYPE_UPLOADED, "app", k2);
  drain(&e, 50);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1),
        "base counted a redelivered upload twice");
  worker_counts c = counts(&e);
  /* both rounds are recognised by the record (no base write since) */
  CHECK(c.duplicates == 4, "duplicates %llu", (unsigned long long)c.duplicates);
  CHECK(!exists(&e, k1) && !exists(&e, k2), "staged left");

  /* A later upload: the record shrinks to what is still staged. */
  char k3[1024];
  upload(&e, "app", g_cpu[2 % g_ncpu], k3, sizeof k3);
  drain(&e, 50);
  pp_free(b);
  b = base_of(&e, "app");
  CHECK(b && record_size(b) == 1, "record holds %zu names, want 1 (only the last upload)",
        b ? record_size(b) : 0);
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) +
                                   file_total(g_cpu[2 % g_ncpu], 1), "total after third");
  /* now k1 is neither staged nor in the record: skipped as missing */
  publish(&e, BUS_TYPE_UPLOADED, "app", k1);
  drain(&e, 50);
  CHECK(counts(&e).missing == 1, "missing %llu", (unsigned long long)counts(&e).missing);
  pp_free(b);
  /* the same events handled twice in one batch */
  char k4[1024];
  stage(&e, "app", g_cpu[0], k4, sizeof k4);
  publish(&e, BUS_TYPE_UPLOADED, "app", k4);
  publish(&e, BUS_TYPE_UPLOADED, "app", k4);
  drain(&e, 50);
  b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == 2 * file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1) +
                                   file_total(g_cpu[2 % g_ncpu], 1), "duplicate in one batch");
  pp_free(b);
  env_close(&e);
}

static void test_poison(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char good[1024], garbage[1024], heap[1024], gpath[700];
  snprintf(gpath, sizeof gpath, "%s/garbage.bin", g_tmp);
  FILE *f = fopen(gpath, "wb");
  fputs("this is not a profile", f);
  fclose(f);
  upload(&e, "app", g_cpu[0], good, sizeof good);
  drain(&e, 50);
  upload(&e, "app", gpath, garbage, sizeof garbage);
  upload(&e, "app", g_heap, heap, sizeof heap);
  char good2[1024];
  upload(&e, "app", g_cpu[1], good2, sizeof good2);
  drain(&e, 50);
  worker_counts c = counts(&e);
  CHECK(c.rejected == 2, "rejected %llu", (unsigned long long)c.rejected);
  char rk[1200];
  snprintf(rk, sizeof rk, "app/rejected/%s", strrchr(garbage, '/') + 1);
  CHECK(exists(&e, rk), "%s missing", rk);
  snprintf(rk, sizeof rk, "app/rejected/%s", strrchr(heap, '/') + 1);
  CHECK(exists(&e, rk), "%s missing", rk);
  CHECK(!exists(&e, garbage) && !exists(&e, heap), "poison still staged");
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1) + file_total(g_cpu[1], 1),
        "good uploads around the poison not merged");
  pp_free(b);
  /* A heap profile first, with no base: it becomes the reference; the CPU
   * upload after it in the same batch is the incompatible one. Either way
   * exactly one of them ends in rejected/ and nothing crashes. */
  upload(&e, "other", g_heap, NULL, 0);
  upload(&e, "other", g_cpu[0], NULL, 0);
  drain(&e, 50);
  CHECK(count_prefix(&e, "other/rejected/") == 1, "one rejected for other");
  /* a corrupt base is set aside, and a new base is started */
  {
    char err[256];
    CHECK(blob_put(e.blob, "third/default.pgo", "junk", 4, err, sizeof err) == 0, "%s", err);
  }
  upload(&e, "third", g_cpu[0], NULL, 0);
  drain(&e, 50);
  b = base_of(&e, "third");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1), "new base after a corrupt one");
  pp_free(b);
  CHECK(count_prefix(&e, "third/rejected/") == 1, "corrupt base not kept in rejected/");
  env_close(&e);
}

static void test_batching(void) {
  size_t n = 40;
  env e;
  env_open(&e, NULL, 200, 0);
  int64_t want = 0;
  for (size_t i = 0; i < n; i++) {
    upload(&e, "app", g_cpu[i % g_ncpu], NULL, 0);
    want += file_total(g_cpu[i % g_ncpu], 1);
  }
  drain(&e, 200);
  worker_counts c = counts(&e);
  CHECK(c.merges == 1, "%llu base writes for one batch", (unsigned long long)c.merges);
  CHECK(c.uploads_merged == n, "uploads merged %llu", (unsigned long long)c.uploads_merged);
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == want, "batched total");
  /* byte for byte Merge([newest upload, ..., oldest]), though the uploads
   * were merged in runs on several threads first */
  pp_profile **in = calloc(n, sizeof *in);
  for (size_t i = 0; in && i < n; i++) in[i] = decode_file(g_cpu[(n - 1 - i) % g_ncpu]);
  pp_profile *ref = NULL;
  char err[256];
  CHECK(in && pp_merge(in, n, &ref, err, sizeof err) == 0, "%s", err);
  free(in);
  if (b && ref) {
    pp_remove_comments_with_prefix(b, WORKER_COMMENT_PREFIX);
    pp_remove_comments_with_prefix(ref, WORKER_COMMENT_PREFIX);
    uint8_t *eb = NULL, *er = NULL;
    size_t lb = 0, lr = 0;
    CHECK(pp_encode_raw(b, &eb, &lb, err, sizeof err) == 0 &&
              pp_encode_raw(ref, &er, &lr, err, sizeof err) == 0,
          "%s", err);
    CHECK(lb == lr && lb > 0 && memcmp(eb, er, lb) == 0,
          "batched base differs from the sequential merge (%zu vs %zu bytes raw)", lb, lr);
    free(eb);
    free(er);
  }
  pp_free(ref);
  pp_free(b);
  CHECK(count_prefix(&e, "app/staging/") == 0, "staging not empty");
  /* unbatched: one write per upload, same result */
  env f;
  env_open(&f, NULL, 1, 0);
  for (size_t i = 0; i < 5; i++) upload(&f, "app", g_cpu[i % g_ncpu], NULL, 0);
  drain(&f, 1);
  CHECK(counts(&f).merges == 5, "unbatched merges %llu", (unsigned long long)counts(&f).merges);
  env_close(&f);
  env_close(&e);
}

static void test_prune(void) {
  rules_set *rs = NULL;
  char err[512];
  const char *j = "[{\"app\": \"pruned\", \"rules\": [{\"drop\": \"^runtime\\\\.\", \"keep\": "
                  "\"^runtime\\\\.mallocgc$\"}, {\"drop\": \"^sort\\\\.\"}]}]";
  CHECK(rules_parse(j, strlen(j), "t.json", &rs, err, sizeof err) == 0, "%s", err);
  env e;
  env_open(&e, rs, 50, 0);
  upload(&e, "pruned", g_cpu[0], NULL, 0);
  upload(&e, "pruned", g_cpu[1], NULL, 0);
  upload(&e, "plain", g_cpu[0], NULL, 0);
  drain(&e, 50);
  pp_profile *in[2] = {decode_file(g_cpu[1]), decode_file(g_cpu[0])};
  pp_profile *ref = NULL;
  CHECK(pp_merge(in, 2, &ref, err, sizeof err) == 0, "%s", err);
  size_t unpruned_locs = ref ? pp_location_count(ref) : 0;
  CHECK(pp_prune(ref, rules_for_app(rs, "pruned"), err, sizeof err) == 0, "%s", err);
  pp_profile *b = base_of(&e, "pruned");
  CHECK(b && ref, "bases");
  if (b && ref) {
    CHECK(pp_sample_count(b) == pp_sample_count(ref), "samples %zu vs %zu", pp_sample_count(b),
          pp_sample_count(ref));
    CHECK(pp_location_count(b) == pp_location_count(ref), "locations %zu vs %zu",
          pp_location_count(b), pp_location_count(ref));
    CHECK(pp_total(b, 1) == pp_total(ref, 1), "totals");
    CHECK(pp_location_count(b) <= unpruned_locs, "pruning removed nothing");
  }
  pp_free(b);
  pp_free(ref);
  pp_profile *plain = base_of(&e, "plain");
  CHECK(plain && pp_total(plain, 1) == file_total(g_cpu[0], 1), "unpruned app");
  pp_free(plain);
  env_close(&e);
  rules_free(rs);
}

/* ---- a tiny CPU profile written by hand (profile.proto wire format) ---- */

typedef struct pbuf {
  uint8_t b[4096];
  size_t n;
} pbuf;

static void pb_varint(pbuf *o, uint64_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    o->b[o->n++] = (uint8_t)(c | (v ? 0x80 : 0));
  } while (v);
}
static void pb_tag(pbuf *o, unsigned field, unsigned wire) { pb_varint(o, (uint64_t)field << 3 | wire); }
static void pb_int(pbuf *o, unsigned field, uint64_t v) {
  pb_tag(o, field, 0);
  pb_varint(o, v);
}
static void pb_bytes(pbuf *o, unsigned field, const void *d, size_t n) {
  pb_tag(o, field, 2);
  pb_varint(o, n);
  memcpy(o->b + o->n, d, n);
  o->n += n;
}
static void pb_msg(pbuf *o, unsigned field, const pbuf *m) { pb_bytes(o, field, m->b, m->n); }
static void pb_vt(pbuf *o, unsigned field, uint64_t type, uint64_t unit) {
  pbuf m = {.n = 0};
  pb_int(&m, 1, type);
  pb_int(&m, 2, unit);
  pb_msg(o, field, &m);
}

/* A CPU profile of one sample, main.main calling `leaf`, 10 ms, into path. */
static void write_tiny_cpu_profile(const char *path, const char *leaf) {
  const char *strs[] = {"", "samples", "count", "cpu", "nanoseconds", "main.main", leaf, "main.go"};
  pbuf p = {.n = 0};
  pb_vt(&p, 1, 1, 2);
  pb_vt(&p, 1, 3, 4);
  pbuf sm = {.n = 0}, packed = {.n = 0};
  pb_varint(&packed, 2); /* leaf first */
  pb_varint(&packed, 1);
  pb_msg(&sm, 1, &packed);
  packed.n = 0;
  pb_varint(&packed, 1);
  pb_varint(&packed, 10000000);
  pb_msg(&sm, 2, &packed);
  pb_msg(&p, 2, &sm);
  for (uint64_t id = 1; id <= 2; id++) {
    pbuf loc = {.n = 0}, line = {.n = 0}, fn = {.n = 0};
    pb_int(&line, 1, id);
    pb_int(&line, 2, 10 * id);
    pb_int(&loc, 1, id);
    pb_int(&loc, 3, 0x1000 * id);
    pb_msg(&loc, 4, &line);
    pb_msg(&p, 4, &loc);
    pb_int(&fn, 1, id);
    pb_int(&fn, 2, 4 + id);
    pb_int(&fn, 3, 4 + id);
    pb_int(&fn, 4, 7);
    pb_msg(&p, 5, &fn);
  }
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) pb_bytes(&p, 6, strs[i], strlen(strs[i]));
  pb_vt(&p, 11, 3, 4);
  pb_int(&p, 12, 10000000);
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(p.b, 1, p.n, f) == p.n, "write %s", path);
  if (f) fclose(f);
}

/* A rule PCRE2 cannot evaluate on one function's name (its match limit) is
 * that upload's problem, never the pipeline's: the rule is skipped for that
 * name, loudly (counted), the upload is merged, other apps go on, and the
 * worker stays healthy. */
static void test_prune_unevaluable(void) {
  char path[700], name[64], err[512];
  snprintf(name, sizeof name, "main.%.40s!", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  snprintf(path, sizeof path, "%s/backtrack.pb", g_tmp);
  write_tiny_cpu_profile(path, name);
  rules_set *rs = NULL;
  const char *j = "[{\"app\": \"slow\", \"rules\": [{\"drop\": \"(a+)+$\"}, {\"drop\": \"^zzz\\\\.\"}]}]";
  CHECK(rules_parse(j, strlen(j), "t.json", &rs, err, sizeof err) == 0, "%s", err);
  pp_profile *probe = decode_file(path);
  CHECK(probe && pp_prune(probe, rules_for_app(rs, "slow"), err, sizeof err) == PP_EREGEX,
        "the rule is evaluable after all: %s", err);
  pp_free(probe);
  env e;
  env_open(&e, rs, 50, 0);
  upload(&e, "slow", path, NULL, 0);
  upload(&e, "other", g_cpu[0], NULL, 0);
  upload(&e, "slow", g_cpu[1], NULL, 0);
  volatile sig_atomic_t stop = 0;
  /* a batch that would be retried forever: handled at once */
  char e2[256];
  bus_msg *m[8];
  size_t n = 0;
  while (n < 8 && bus_poll(e.rd, 200, &m[n], e2, sizeof e2) == 1) n++;
  CHECK(n == 3, "polled %zu", n);
  CHECK(worker_handle_batch(e.w, m, n, &stop) == 0, "the batch did not finish");
  for (size_t i = 0; i < n; i++) bus_msg_free(m[i]);
  drain(&e, 50);
  pp_profile *b = base_of(&e, "slow");
  CHECK(b && pp_total(b, 1) == 10000000 + file_total(g_cpu[1], 1), "slow base total %lld",
        b ? (long long)pp_total(b, 1) : -1LL);
  pp_free(b);
  b = base_of(&e, "other");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1), "another app waited");
  pp_free(b);
  worker_counts c = counts(&e);
  CHECK(c.prune_skipped >= 1, "the skipped rule was not counted");
  CHECK(c.retries == 0, "retried %llu times", (unsigned long long)c.retries);
  CHECK(worker_stats_health(e.st, NULL), "unhealthy after a skipped rule");
  env_close(&e);
  rules_free(rs);
}

static void test_malformed(void) {
  env e;
  env_open(&e, NULL, 50, 0);
  char err[256];
  bus_publish(e.wr, "x", "{not json", 9, err, sizeof err);
  bus_publish(e.wr, "x", "{}", 2, err, sizeof err);
  const char *other = "{\"id\":\"e9e23fa8-9d46-4c66-9190-2f64eacd73a2\",\"timestamp\":"
                      "\"2026-11-21T12:16:34.964Z\",\"type\":\"profile.viewed\",\"payload\":{}}";
  bus_publish(e.wr, "x", other, strlen(other), err, sizeof err);
  /* a profileKey outside the app's staging must never be read or deleted */
  publish(&e, BUS_TYPE_UPLOADED, "app", "app/default.pgo");
  publish(&e, BUS_TYPE_MERGED, "app", "other/default.pgo");
  upload(&e, "app", g_cpu[0], NULL, 0);
  blob_put(e.blob, "other/default.pgo", "keep", 4, err, sizeof err);
  drain(&e, 50);
  worker_counts c = counts(&e);
  CHECK(c.malformed >= 4, "malformed %llu", (unsigned long long)c.malformed);
  CHECK(c.skipped_types == 1, "skipped types %llu", (unsigned long long)c.skipped_types);
  CHECK(exists(&e, "other/default.pgo"), "a profile.merged deleted a non-staged key");
  pp_profile *b = base_of(&e, "app");
  CHECK(b && pp_total(b, 1) == file_total(g_cpu[0], 1), "good event after bad ones");
  pp_free(b);
  /* everything was committed: a new reader of the topic sees nothing */
  env_restart(&e, 0);
  bus_msg *m = NULL;
  CHECK(bus_poll(e.rd, 50, &m, err, sizeof err) == 0, "uncommitted events left");
  if (m) bus_msg_free(m);
  env_close(&e);
}

/* The staged-object size limit, at and past the edge: a valid profile of
 * exactly the limit merges, one a byte larger is set aside. */
static void test_limit(void) {
  size_t small = 0, big = 0, si = 0, bi = 0;
  for (size_t i = 0; i < g_ncpu; i++) {
    struct stat st;
    if (stat(g_cpu[i], &st)) continue;
    if (!small || (size_t)st.st_size < small) { small = (size_t)st.st_size; si = i; }
    if ((size_t)st.st_size > big) { big = (size_t)st.st_size; bi = i; }
  }
  CHECK(big > small, "profiles of one size");
  env e;
  env_open(&e, NULL, 50, small);
  char k1[1024], k2[1024];
  upload(&e, "lim", g_cpu[si], k1, sizeof k1);
  drain(&e, 50);
  /* one byte past the limit: the largest profile with the limit at its
   * size minus one (a valid profile, so size is the only reason to refuse) */
  worker_free(e.w);
  worker_config c = env_config(&e, 50, big - 1);
  char err[256];
  CHECK(worker_new(&c, &e.w, err, sizeof err) == 0, "%s", err);
  upload(&e, "lim", g_cpu[bi], k2, sizeof k2);
  drain(&e, 50);
  worker_counts n = counts(&e);
  CHECK(n.uploads_merged == 1 && n.rejected == 1, "at the limit merged %llu, past it rejected %llu",
        (unsigned long long)n.uploads_merged, (unsigned long long)n.rejected);
  char rk[1200];
  snprintf(rk, sizeof rk, "lim/rejected/%s", strrchr(k2, '/') + 1);
  CHECK(exists(&e, rk), "oversized upload not in rejected/");
  env_close(&e);
}

int main(int argc, char **argv) {
  int rc = wenv_init(argc, argv, "worker_merge_test");
  if (rc) return rc;
  test_merge_once();
  test_redelivery_and_crash();
  test_poison();
  test_batching();
  test_prune();
  test_prune_unevaluable();
  test_malformed();
  test_limit();
  wenv_done();
  return check_exit("worker_merge_test");
}
