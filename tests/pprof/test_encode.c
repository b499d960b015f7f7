/*
 * test_encode.c — pp_encode / pp_encode_raw checked with an independent
 * decoder (protobuf-c's generated unpacker): rebuilt string table ("" first,
 * no duplicates, first-use order), dense IDs, omitted empty period type,
 * Line.column and doc_url through round trips, compression levels, large
 * messages in gzip members (the same bytes on any number of threads, read
 * back whatever the member layout); plus the accessors: comments, pp_top,
 * pp_check_cpu, pp_string_count.
 */
#include "testutil.h"

#include <libdeflate.h>

CHECK_DEFINE_COUNTERS

static pp_profile *sample_profile(void) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  /* strings in the input table in an odd order, with a duplicate entry */
  S_(&b, "zzz-unused");
  tb_map(&b, 5, 0x400000, 0x500000, 0x10, "/bin/app", "bid");
  tb_func(&b, 9, "main.main", "main.go", 3);
  tb_func(&b, 4, "main.f", "main.go", 7);
  Perftools__Profiles__Location *l = tb_loc(&b, 30, 5, 0x401000, "4:8 9:4");
  l->line[0]->column = 17;
  l->line[1]->column = 2;
  tb_loc(&b, 20, 5, 0x402000, "9:5");
  PBSample *s = tb_sample(&b, "2 20000", "30 20");
  tb_label(&b, s, "goroutine", "worker");
  tb_numlabel(&b, s, "bytes", 64, "B");
  tb_sample(&b, "1 10000", "20");
  b.p.doc_url = S_(&b, "https://go.dev/doc/pgo");
  b.p.time_nanos = 99;
  b.p.n_comment = 2;
  b.p.comment = malloc(2 * sizeof(int64_t));
  b.p.comment[0] = S_(&b, "pgopipe:merged=3");
  b.p.comment[1] = S_(&b, "note");
  return tb_decode(&b);
}

static void test_raw_layout(void) {
  pp_profile *p = sample_profile();
  uint8_t *raw;
  size_t n;
  char err[256];
  CHECK_EQ(pp_encode_raw(p, &raw, &n, err, sizeof(err)), 0);
  PB *m = perftools__profiles__profile__unpack(NULL, n, raw);
  CHECK(m != NULL);
  if (m) {
    CHECK(m->n_string_table >= 1);
    CHECK_STR(m->string_table[0], "");
    for (size_t i = 0; i < m->n_string_table; i++)
      for (size_t j = i + 1; j < m->n_string_table; j++) CHECK(strcmp(m->string_table[i], m->string_table[j]));
    /* first-use order: sample types, then labels, mappings, functions, ... */
    CHECK_STR(m->string_table[1], "samples");
    CHECK_STR(m->string_table[2], "count");
    CHECK_STR(m->string_table[3], "cpu");
    CHECK_STR(m->string_table[4], "nanoseconds");
    CHECK_STR(m->string_table[5], "goroutine");
    CHECK_STR(m->string_table[6], "worker");
    CHECK_STR(m->string_table[7], "bytes");
    CHECK_STR(m->string_table[8], "B");
    CHECK_STR(m->string_table[9], "/bin/app");
    CHECK_STR(m->string_table[10], "bid");
    CHECK_STR(m->string_table[11], "main.main");
    CHECK_EQ(m->n_string_table, 17); /* the unused string is gone */
    CHECK_EQ(pp_string_count(p), 17);
    /* dense ids, references rewritten */
    CHECK_EQ(m->n_mapping, 1);
    CHECK_EQ(m->mapping[0]->id, 1);
    CHECK_EQ(m->mapping[0]->file_offset, 0x10);
    CHECK_EQ(m->n_location, 2);
    CHECK_EQ(m->location[0]->id, 1);
    CHECK_EQ(m->location[0]->mapping_id, 1);
    CHECK_EQ(m->location[0]->n_line, 2);
    CHECK_EQ(m->location[0]->line[0]->column, 17);
    CHECK_EQ(m->location[0]->line[1]->column, 2);
    CHECK_EQ(m->location[0]->line[0]->function_id, 2);
    CHECK_EQ(m->n_function, 2);
    CHECK_STR(m->string_table[m->function[1]->name], "main.f");
    CHECK_EQ(m->function[1]->start_line, 7);
    CHECK_EQ(m->n_sample, 2);
    CHECK_EQ(m->sample[0]->n_location_id, 2);
    CHECK_EQ(m->sample[0]->location_id[1], 2);
    CHECK_EQ(m->sample[0]->value[1], 20000);
    CHECK_EQ(m->sample[0]->n_label, 2);
    CHECK_STR(m->string_table[m->sample[0]->label[0]->key], "goroutine"); /* string labels first */
    CHECK_EQ(m->sample[0]->label[1]->num, 64);
    CHECK_STR(m->string_table[m->doc_url], "https://go.dev/doc/pgo");
    CHECK_EQ(m->time_nanos, 99);
    CHECK_EQ(m->n_comment, 2);
    CHECK(m->period_type != NULL);
    perftools__profiles__profile__free_unpacked(m, NULL);
  }
  free(raw);

  /* Columns and doc_url survive a round trip and a merge. */
  pp_profile *q = roundtrip(p);
  CHECK(q != NULL);
  if (q) {
    CHECK_STR(pp_doc_url(q), "https://go.dev/doc/pgo");
    CHECK_EQ(q->lines[q->locs[0].line_off].column, 17);
    pp_profile *r = NULL;
    CHECK_EQ(pp_merge(&q, 1, &r, err, sizeof(err)), 0);
    CHECK_EQ(r->lines[r->locs[0].line_off].column, 17);
    pp_free(r);
  }
  pp_free(p);

  /* An empty period type is omitted, a present one kept. */
  tb b;
  tb_init(&b);
  p = tb_decode(&b);
  CHECK_EQ(pp_encode_raw(p, &raw, &n, err, sizeof(err)), 0);
  m = perftools__profiles__profile__unpack(NULL, n, raw);
  CHECK(m && m->period_type == NULL);
  CHECK(m && m->n_string_table == 1);
  perftools__profiles__profile__free_unpacked(m, NULL);
  free(raw);
  CHECK_STR(pp_period_type(p).type, "");
  pp_free(p);
}

static void test_columns_identity(void) {
  /* Locations differing only in a column are different locations. */
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_func(&b, 1, "main.f", "a.go", 1);
  tb_loc(&b, 1, 0, 0x10, "1:5")->line[0]->column = 1;
  tb_loc(&b, 2, 0, 0x10, "1:5")->line[0]->column = 2;
  tb_loc(&b, 3, 0, 0x10, "1:5")->line[0]->column = 1;
  tb_sample(&b, "1 1", "1");
  tb_sample(&b, "1 1", "2");
  tb_sample(&b, "1 1", "3");
  pp_profile *p = tb_decode(&b), *r = NULL;
  char err[256];
  CHECK_EQ(pp_merge(&p, 1, &r, err, sizeof(err)), 0);
  CHECK_EQ(r->nlocs, 2);
  CHECK_EQ(r->nsamples, 2);
  pp_free(r);
}

static void test_levels(void) {
  pp_profile *p = sample_profile();
  char err[256];
  int levels[] = {-1, 0, 1, 6, 9, 12};
  for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
    uint8_t *o;
    size_t n;
    CHECK_EQ(pp_encode(p, levels[i], &o, &n, err, sizeof(err)), 0);
    CHECK(n > 18 && o[0] == 0x1f && o[1] == 0x8b);
    pp_profile *q = NULL;
    CHECK_EQ(pp_decode(o, n, NULL, &q, err, sizeof(err)), 0);
    if (q) CHECK_EQ(pp_sample_count(q), 2);
    pp_free(q);
    free(o);
  }
  uint8_t *o;
  size_t n;
  CHECK_EQ(pp_encode(p, 13, &o, &n, err, sizeof(err)), PP_EINVAL);
  CHECK_CONTAINS(err, "compression level 13 out of range");
  CHECK_EQ(pp_encode(p, -2, &o, &n, err, sizeof(err)), PP_EINVAL);
  pp_free(p);
}

/* A profile of about 3.7 MiB raw: 14,500 samples of 100 locations each,
 * among 20,000 locations (three-byte ids). Sample arrays are filled
 * directly: the builder's string parsing would take long for 1.2M ids. */
static pp_profile *large_profile(void) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x4000000, 0, "/bin/big", "bid");
  char name[64];
  for (int f = 1; f <= 300; f++) {
    snprintf(name, sizeof name, "main.function%03d", f);
    tb_func(&b, (uint64_t)f, name, "main.go", f * 10);
  }
  char lines[32];
  for (int l = 1; l <= 20000; l++) {
    snprintf(lines, sizeof lines, "%d:%d", 1 + l % 300, l);
    tb_loc(&b, (uint64_t)l, 1, 0x400000 + (uint64_t)l * 16, lines);
  }
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 14500; i++) {
    PBSample *s = tb_sample(&b, "1 10000000", "");
    s->n_location_id = 100;
    s->location_id = malloc(100 * sizeof(uint64_t));
    for (int j = 0; j < 100; j++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      s->location_id[j] = 1 + x % 20000;
    }
    s->value[0] = i + 1;
  }
  return tb_decode(&b);
}

/* Gzip members in buf: their count, and whether each member's ISIZE is at
 * most the last one's; the inflated bytes go to *raw. */
static size_t gz_members(const uint8_t *buf, size_t n, uint8_t **raw, size_t *rawlen, int *last_largest) {
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  size_t cap = 64u << 20, have = 0, pos = 0, k = 0, largest = 0, last = 0;
  *raw = malloc(cap);
  while (pos < n) {
    size_t used = 0, got = 0;
    if (libdeflate_gzip_decompress_ex(d, buf + pos, n - pos, *raw + have, cap - have, &used, &got) !=
        LIBDEFLATE_SUCCESS)
      break;
    pos += used;
    have += got;
    if (got > largest) largest = got;
    last = got;
    k++;
  }
  libdeflate_free_decompressor(d);
  *rawlen = have;
  *last_largest = pos == n && last == largest;
  return pos == n ? k : 0;
}

/* Large messages: gzip members of about 256 KiB, the same bytes whatever the
 * number of threads, read back by pp_decode at any member layout. */
static void test_pieces(void) {
  pp_profile *p = large_profile();
  char err[256];
  uint8_t *raw, *one, *other;
  size_t rawlen, onelen, otherlen;
  CHECK_EQ(pp_encode_raw(p, &raw, &rawlen, err, sizeof err), 0);
  CHECK(rawlen > 3700000 && rawlen < 4100000, "raw size %zu", rawlen);
  size_t pieces = pp_gzip_pieces(rawlen);
  CHECK(pieces >= 14 && pieces <= 16, "%zu pieces of %zu bytes", pieces, rawlen);
  CHECK_EQ(pp_gzip_pieces(0), 1);
  CHECK_EQ(pp_gzip_pieces(393215), 1);
  CHECK_EQ(pp_gzip_pieces(393216), 2);
  CHECK_EQ(pp_gzip_pieces((size_t)1 << 40), PP_GZIP_MAX_PIECES);
  CHECK_EQ(pp_encode(p, -1, &one, &onelen, err, sizeof err), 0);
  uint8_t *back;
  size_t backlen;
  int last_largest = 0;
  CHECK_EQ(gz_members(one, onelen, &back, &backlen, &last_largest), pieces);
  CHECK(last_largest, "a member is larger than the last one");
  CHECK(backlen == rawlen && memcmp(back, raw, rawlen) == 0, "members do not inflate to the raw message");
  free(back);
  int threads[] = {1, 2, 3, 8, 0, -5};
  for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
    CHECK_EQ(pp_encode_mt(p, -1, threads[i], &other, &otherlen, err, sizeof err), 0);
    CHECK(otherlen == onelen && memcmp(one, other, onelen) == 0, "%d threads: other bytes", threads[i]);
    free(other);
  }
  /* read back: the same message */
  pp_profile *q = NULL;
  CHECK_EQ(pp_decode(one, onelen, NULL, &q, err, sizeof err), 0);
  if (q) {
    CHECK_EQ(pp_encode_raw(q, &back, &backlen, err, sizeof err), 0);
    CHECK(backlen == rawlen && memcmp(back, raw, rawlen) == 0, "decoded members differ");
    free(back);
    pp_free(q);
  }
  /* the limit applies to the members together */
  pp_limits lim = {.max_decoded_bytes = rawlen};
  CHECK_EQ(pp_decode(one, onelen, &lim, &q, err, sizeof err), 0);
  pp_free(q);
  lim.max_decoded_bytes = rawlen - 1;
  q = NULL;
  CHECK_EQ(pp_decode(one, onelen, &lim, &q, err, sizeof err), PP_ETOOBIG);
  CHECK_CONTAINS(err, "over the limit");
  CHECK(q == NULL);
  /* members of other writers: the first larger than the last, and a tiny
   * last one (the trailer's size says little about the whole) */
  size_t cuts[][3] = {{rawlen * 7 / 10, rawlen, rawlen}, {rawlen / 3, rawlen - 10000, rawlen}};
  for (size_t c = 0; c < 2; c++) {
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(1);
    size_t bound = libdeflate_gzip_compress_bound(z, rawlen) + 3 * 64;
    uint8_t *gz = malloc(bound);
    size_t gzlen = 0, from = 0;
    for (size_t k = 0; k < 3 && from < rawlen; k++) {
      gzlen += libdeflate_gzip_compress(z, raw + from, cuts[c][k] - from, gz + gzlen, bound - gzlen);
      from = cuts[c][k];
    }
    libdeflate_free_compressor(z);
    q = NULL;
    int rc = pp_decode(gz, gzlen, NULL, &q, err, sizeof err);
    CHECK(rc == 0, "layout %zu: %s", c, err);
    if (q) {
      CHECK_EQ(pp_encode_raw(q, &back, &backlen, err, sizeof err), 0);
      CHECK(backlen == rawlen && memcmp(back, raw, rawlen) == 0, "layout %zu: decoded members differ", c);
      free(back);
      pp_free(q);
    }
    free(gz);
  }
  free(one);
  free(raw);
  pp_free(p);
}

static void test_accessors(void) {
  pp_profile *p = sample_profile();
  CHECK_EQ(pp_comment_count(p), 2);
  CHECK_EQ(pp_add_comment(p, "pgopipe:merged=4"), 0);
  CHECK_EQ(pp_add_comment(p, "other"), 0);
  pp_remove_comments_with_prefix(p, "pgopipe:");
  CHECK_EQ(pp_comment_count(p), 2);
  CHECK_STR(pp_comment(p, 0), "note");
  CHECK_STR(pp_comment(p, 1), "other");
  CHECK_STR(pp_comment(p, 7), "");
  CHECK_STR(pp_strerror(PP_ETOOBIG), "too big");
  CHECK_STR(pp_strerror(PP_EREGEX), "bad regex");

  /* top: sample 1 = [f+main.main (inlined), main.main] value 20000,
   * sample 2 = [main.main] value 10000. main.main appears twice in sample 1
   * but its cum counts once. */
  pp_top_entry *t;
  size_t n;
  char err[256];
  CHECK_EQ(pp_top(p, 1, &t, &n, err, sizeof(err)), 0);
  CHECK_EQ(n, 2);
  CHECK_STR(t[0].name, "main.f");
  CHECK_EQ(t[0].flat, 20000);
  CHECK_EQ(t[0].cum, 20000);
  CHECK_STR(t[1].name, "main.main");
  CHECK_EQ(t[1].flat, 10000);
  CHECK_EQ(t[1].cum, 30000);
  free(t);
  CHECK_EQ(pp_top(p, 5, &t, &n, err, sizeof(err)), PP_EINVAL);
  CHECK_EQ(pp_total(p, 0), 3);
  CHECK_EQ(pp_total(p, 9), 0);
  CHECK_EQ(pp_default_value_index(p), 1); /* no default: the last type */
  pp_free(p);

  tb b;
  tb_init(&b);
  tb_stype(&b, "alloc_objects", "count");
  tb_stype(&b, "alloc_space", "bytes");
  tb_stype(&b, "inuse_objects", "count");
  tb_period(&b, "space", "bytes", 524288);
  b.p.default_sample_type = S_(&b, "alloc_space");
  p = tb_decode(&b);
  CHECK_EQ(pp_check_cpu(p, err, sizeof(err)), PP_EINCOMPATIBLE);
  CHECK_CONTAINS(err, "profile is not a CPU profile: period type space/bytes, sample types "
                 "alloc_objects/count,alloc_space/bytes,inuse_objects/count");
  CHECK_EQ(pp_default_value_index(p), 1);
  pp_free(p);
}

/* pp_append_comment: the wire string count (duplicates included), the
 * appended comment seen by pp_decode and by protobuf-c, raw and gzipped,
 * one and several stored blocks, and bad arguments. */
static void test_append_comment(void) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_func(&b, 1, "main.main", "main.go", 3);
  tb_loc(&b, 1, 0, 0x401000, "1:4");
  tb_sample(&b, "2 20000", "1");
  S_(&b, "dup");
  b.p.n_string_table++; /* a duplicate entry: "dup" twice */
  b.p.string_table = realloc(b.p.string_table, b.p.n_string_table * sizeof(char *));
  b.p.string_table[b.p.n_string_table - 1] = "dup";
  b.p.n_comment = 1;
  b.p.comment = malloc(sizeof(int64_t));
  b.p.comment[0] = S_(&b, "first");
  size_t nstr = b.p.n_string_table, n;
  uint8_t *raw = tb_pack(&b, &n);
  tb_free(&b);
  char err[256];
  pp_profile *p = NULL;
  CHECK_EQ(pp_decode(raw, n, NULL, &p, err, sizeof err), PP_OK);
  CHECK_EQ(pp_wire_string_count(p), nstr);
  CHECK(pp_string_count(p) < nstr, "the duplicate is counted by pp_string_count");

  static char longc[70001];
  memset(longc, 'c', sizeof longc - 1);
  const char *comments[] = {"pgopipe-upload: {\"kind\":\"heap\"}", longc};
  uint8_t *gz = NULL;
  size_t gzlen = 0;
  CHECK_EQ(pp_encode(p, -1, &gz, &gzlen, err, sizeof err), PP_OK);
  pp_profile *pg = NULL;
  CHECK_EQ(pp_decode(gz, gzlen, NULL, &pg, err, sizeof err), PP_OK);
  for (size_t c = 0; c < 2; c++) {
    for (int zip = 0; zip < 2; zip++) {
      const uint8_t *in = zip ? gz : raw;
      size_t inlen = zip ? gzlen : n;
      size_t ns = zip ? pp_wire_string_count(pg) : nstr;
      uint8_t *o = NULL;
      size_t olen = 0;
      CHECK_EQ(pp_append_comment(in, inlen, ns, comments[c], &o, &olen, err, sizeof err), PP_OK);
      CHECK(olen > inlen && !memcmp(o, in, inlen), "the input is not kept as the prefix");
      pp_profile *q = NULL;
      CHECK_EQ(pp_decode(o, olen, NULL, &q, err, sizeof err), PP_OK);
      if (q) {
        CHECK_EQ(pp_comment_count(q), 2);
        CHECK_STR(pp_comment(q, 0), "first");
        CHECK(pp_comment_count(q) == 2 && !strcmp(pp_comment(q, 1), comments[c]), "comment %zu (zip %d) lost", c,
              zip);
        CHECK_EQ(pp_sample_count(q), 1);
        CHECK_EQ(pp_total(q, 1), 20000);
        CHECK_EQ(pp_wire_string_count(q), ns + 1);
      }
      pp_free(q);
      if (!zip) { /* an independent reader of the raw message */
        Perftools__Profiles__Profile *m = perftools__profiles__profile__unpack(NULL, olen, o);
        CHECK(m && m->n_comment == 2 && m->n_string_table == nstr + 1 &&
                  m->comment[1] == (int64_t)nstr && !strcmp(m->string_table[nstr], comments[c]),
              "protobuf-c reads the appended comment differently");
        if (m) perftools__profiles__profile__free_unpacked(m, NULL);
      } else {
        CHECK(o[inlen] == 0x1f && o[inlen + 1] == 0x8b, "no second gzip member");
      }
      free(o);
    }
  }
  uint8_t *o = NULL;
  size_t olen;
  CHECK_EQ(pp_append_comment(raw, n, 0, "x", &o, &olen, err, sizeof err), PP_EINVAL);
  CHECK_EQ(pp_append_comment(raw, n, nstr, NULL, &o, &olen, err, sizeof err), PP_EINVAL);
  pp_free(p);
  pp_free(pg);
  free(gz);
  free(raw);
}

int main(void) {
  test_append_comment();
  test_raw_layout();
  test_columns_identity();
  test_levels();
  test_pieces();
  test_accessors();
  return check_exit("test_encode");
}
