/*
 * mkbad.c — writes the bad-input corpus for pgopipe's robustness tests.
 *
 *   mkbad DIR [BOMB_MIB]
 *
 * Every file is a hostile or broken profile that a decoder must refuse with a
 * clear message (exit 1), without crashing, leaking or leaving output behind.
 * They are generated at test time rather than committed: the gzip bombs expand
 * to a gibibyte and the rest are tiny protobuf messages written field by field
 * here, so each file breaks exactly one rule. DIR/good.pb is a valid profile
 * the corruptions start from (tests check it is accepted, so a failing case
 * really is about its one defect). DIR/LIST names every bad file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- a minimal protobuf writer ---- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + n) c *= 2;
    b->p = realloc(b->p, c);
    if (!b->p) abort();
    b->cap = c;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void varint(buf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) t[n] |= 0x80;
    n++;
  } while (v);
  put(b, t, n);
}

static void field_varint(buf *b, unsigned f, uint64_t v) {
  varint(b, (uint64_t)f << 3);
  varint(b, v);
}

static void field_bytes(buf *b, unsigned f, const void *d, size_t n) {
  varint(b, (uint64_t)f << 3 | 2);
  varint(b, n);
  put(b, d, n);
}

static void field_msg(buf *b, unsigned f, buf *m) {
  field_bytes(b, f, m->p, m->n);
  free(m->p);
  *m = (buf){0};
}

static void field_str(buf *b, unsigned f, const char *s) { field_bytes(b, f, s, strlen(s)); }

/* ---- the valid profile and its one-defect variants ---- */

/* Defects, one per file. */
enum defect {
  D_NONE,
  D_STRING0_NOT_EMPTY,
  D_STRING_INDEX_OOR,    /* function name index past the string table */
  D_NEG_STRING_INDEX,    /* label key -1 */
  D_DANGLING_LOCATION,   /* sample -> location 99 */
  D_DANGLING_FUNCTION,   /* line -> function 99 */
  D_FUNCTION_ID_ZERO,    /* line -> function 0 */
  D_DUP_LOCATION,
  D_DUP_FUNCTION,
  D_DUP_MAPPING,
  D_LOCATION_ID_ZERO,
  D_MAPPING_ID_ZERO,
  D_FUNCTION_ID_ZERO_DEF,
  D_MORE_VALUES,         /* 3 values, 2 sample types */
  D_FEWER_VALUES,        /* 1 value, 2 sample types */
  D_NO_SAMPLE_TYPES,     /* samples but no sample types */
  D_WRONG_WIRE_SAMPLE_TYPE, /* field 1 as a varint */
  D_WRONG_WIRE_STRING,   /* string_table (6) as a varint */
  D_WRONG_WIRE_PERIOD,   /* period (12) as length-delimited */
  D_WRONG_WIRE_NESTED,   /* location.line as a fixed64 */
  D_PERIOD_TYPE_OOR,     /* period type unit index past the table */
  D_SAMPLE_TYPE_OOR,
  D_DROP_FRAMES_OOR,
  D_COMMENT_OOR,
};

static buf profile(enum defect d) {
  buf b = {0}, m = {0}, l = {0};
  if (d != D_NO_SAMPLE_TYPES) {
    if (d == D_WRONG_WIRE_SAMPLE_TYPE) {
      field_varint(&b, 1, 1);
    } else {
      field_varint(&m, 1, d == D_SAMPLE_TYPE_OOR ? 77 : 1);
      field_varint(&m, 2, 2);
      field_msg(&b, 1, &m);
    }
    field_varint(&m, 1, 3);
    field_varint(&m, 2, 4);
    field_msg(&b, 1, &m);
  }
  /* sample: location 1 (leaf), 2; values 1, 10000000; a string label */
  field_varint(&m, 1, d == D_DANGLING_LOCATION ? 99 : 1);
  field_varint(&m, 1, 2);
  field_varint(&m, 2, 1);
  if (d != D_FEWER_VALUES) field_varint(&m, 2, 10000000);
  if (d == D_MORE_VALUES) field_varint(&m, 2, 5);
  field_varint(&l, 1, d == D_NEG_STRING_INDEX ? (uint64_t)-1 : 9);
  field_varint(&l, 2, 10);
  field_msg(&m, 3, &l);
  field_msg(&b, 2, &m);
  /* mapping 1 */
  field_varint(&m, 1, d == D_MAPPING_ID_ZERO ? 0 : 1);
  field_varint(&m, 2, 0x400000);
  field_varint(&m, 3, 0x500000);
  field_varint(&m, 5, 8);
  field_msg(&b, 3, &m);
  if (d == D_DUP_MAPPING) {
    field_varint(&m, 1, 1);
    field_varint(&m, 2, 0x600000);
    field_varint(&m, 3, 0x700000);
    field_msg(&b, 3, &m);
  }
  /* locations 1 (main.leaf inlined into main.caller) and 2 (main.main) */
  for (unsigned id = 1; id <= 2; id++) {
    unsigned wid = id;
    if (d == D_LOCATION_ID_ZERO && id == 2) wid = 0;
    if (d == D_DUP_LOCATION && id == 2) wid = 1;
    field_varint(&m, 1, wid);
    field_varint(&m, 2, 1);
    field_varint(&m, 3, 0x401000 + id * 0x10);
    if (d == D_WRONG_WIRE_NESTED && id == 1) {
      uint8_t fixed[8] = {0};
      varint(&m, 4u << 3 | 1);
      put(&m, fixed, sizeof fixed);
    } else {
      uint64_t fid = id == 1 ? 1 : 3;
      if (id == 1 && d == D_DANGLING_FUNCTION) fid = 99;
      if (id == 1 && d == D_FUNCTION_ID_ZERO) fid = 0;
      field_varint(&l, 1, fid);
      field_varint(&l, 2, 10 + id);
      field_msg(&m, 4, &l);
      if (id == 1) {
        field_varint(&l, 1, 2);
        field_varint(&l, 2, 20);
        field_msg(&m, 4, &l);
      }
    }
    field_msg(&b, 4, &m);
  }
  /* functions 1 main.leaf, 2 main.caller, 3 main.main; file string 7 */
  for (unsigned id = 1; id <= 3; id++) {
    unsigned wid = id;
    if (d == D_DUP_FUNCTION && id == 3) wid = 2;
    if (d == D_FUNCTION_ID_ZERO_DEF && id == 2) wid = 0;
    field_varint(&m, 1, wid);
    field_varint(&m, 2, d == D_STRING_INDEX_OOR && id == 2 ? 1000 : 4 + id);
    field_varint(&m, 3, 4 + id);
    field_varint(&m, 4, 11);
    field_varint(&m, 5, id);
    field_msg(&b, 5, &m);
  }
  static const char *strs[] = {"",       "samples",   "count",    "cpu",
                               "nanoseconds", "main.leaf", "main.caller", "main.main",
                               "/bin/app", "key",      "value",       "main.go"};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    if (i == 0 && d == D_STRING0_NOT_EMPTY)
      field_str(&b, 6, "nonempty");
    else
      field_str(&b, 6, strs[i]);
  }
  if (d == D_WRONG_WIRE_STRING) field_varint(&b, 6, 5);
  if (d == D_DROP_FRAMES_OOR) field_varint(&b, 7, 500);
  field_varint(&b, 9, 1700000000000000000ull); /* time */
  field_varint(&b, 10, 1000000000);           /* duration */
  field_varint(&m, 1, 3);
  field_varint(&m, 2, d == D_PERIOD_TYPE_OOR ? 12 : 4);
  field_msg(&b, 11, &m);
  if (d == D_WRONG_WIRE_PERIOD)
    field_bytes(&b, 12, "\x01\x02", 2);
  else
    field_varint(&b, 12, 10000000);
  if (d == D_COMMENT_OOR) field_varint(&b, 13, 13);
  return b;
}

static FILE *list;
static const char *dir;

static void save(const char *name, const void *d, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  if (strcmp(name, "good.pb") && strcmp(name, "good.pb.gz")) fprintf(list, "%s\n", name);
}

static void save_profile(const char *name, enum defect d) {
  buf b = profile(d);
  save(name, b.p, b.n);
  free(b.p);
}

/* Raw-deflates `n` bytes with a full flush, so the output can be repeated:
 * each copy is a self-contained run of deflate blocks. */
static buf deflate_chunk(const uint8_t *d, size_t n, int finish) {
  buf out = {0};
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  uint8_t tmp[1 << 16];
  z.next_in = (uint8_t *)(uintptr_t)d;
  z.avail_in = (uInt)n;
  int r;
  do {
    z.next_out = tmp;
    z.avail_out = sizeof tmp;
    r = deflate(&z, finish ? Z_FINISH : Z_FULL_FLUSH);
    if (r == Z_STREAM_ERROR) abort();
    put(&out, tmp, sizeof tmp - z.avail_out);
  } while (z.avail_out == 0 || (finish && r != Z_STREAM_END));
  deflateEnd(&z);
  return out;
}

static void le32(buf *b, uint32_t v) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, t, 4);
}

/* One gzip member: `head` then `mib` MiB of zeros. Built from one compressed
 * MiB repeated, so a gibibyte bomb costs milliseconds to make. */
static buf gzip_zeros(const uint8_t *head, size_t headlen, uint64_t mib) {
  static uint8_t zeros[1 << 20];
  buf out = {0};
  put(&out, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  uLong crc = crc32(0L, Z_NULL, 0);
  if (headlen) {
    buf h = deflate_chunk(head, headlen, 0);
    put(&out, h.p, h.n);
    free(h.p);
    crc = crc32(crc, head, (uInt)headlen);
  }
  buf z = deflate_chunk(zeros, sizeof zeros, 0);
  uLong zcrc = crc32(crc32(0L, Z_NULL, 0), zeros, sizeof zeros);
  for (uint64_t i = 0; i < mib; i++) {
    put(&out, z.p, z.n);
    crc = crc32_combine(crc, zcrc, (z_off_t)sizeof zeros);
  }
  free(z.p);
  buf f = deflate_chunk(NULL, 0, 1);
  put(&out, f.p, f.n);
  free(f.p);
  le32(&out, (uint32_t)crc);
  le32(&out, (uint32_t)(headlen + (mib << 20)));
  return out;
}

static buf gzip_buf(const uint8_t *d, size_t n) {
  buf out = {0};
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  uint8_t tmp[1 << 16];
  z.next_in = (uint8_t *)(uintptr_t)d;
  z.avail_in = (uInt)n;
  int r;
  do {
    z.next_out = tmp;
    z.avail_out = sizeof tmp;
    r = deflate(&z, Z_FINISH);
    put(&out, tmp, sizeof tmp - z.avail_out);
  } while (r != Z_STREAM_END);
  deflateEnd(&z);
  return out;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: mkbad DIR [BOMB_MIB]\n");
    return 2;
  }
  dir = argv[1];
  uint64_t bomb = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1024) << 20;
  char lp[4096];
  snprintf(lp, sizeof lp, "%s/LIST", dir);
  list = fopen(lp, "w");
  if (!list) {
    perror(lp);
    return 1;
  }

  buf good = profile(D_NONE);
  save("good.pb", good.p, good.n);
  buf gz = gzip_buf(good.p, good.n);
  save("good.pb.gz", gz.p, gz.n);

  /* gzip damage */
  save("truncated-gzip.pb.gz", gz.p, gz.n / 2);
  save("gzip-header-only.pb.gz", gz.p, 10);
  {
    buf c = {0};
    put(&c, gz.p, gz.n);
    c.p[c.n - 6] ^= 0xff; /* CRC32 of the trailer */
    save("gzip-bad-crc.pb.gz", c.p, c.n);
    c.n = 0;
    put(&c, gz.p, gz.n);
    put(&c, "garbage!", 8);
    save("gzip-trailing-garbage.pb.gz", c.p, c.n);
    free(c.p);
  }
  save("gzip-magic-only.pb.gz", "\x1f\x8b", 2);

  /* bombs: a string_table entry claiming `bomb` bytes, then zeros */
  {
    buf h = {0};
    varint(&h, 6u << 3 | 2);
    varint(&h, bomb);
    buf b = gzip_zeros(h.p, h.n, bomb >> 20);
    save("gzip-bomb.pb.gz", b.p, b.n);
    free(b.p);
    free(h.p);
    /* the same expansion as many small gzip members (multi-member stream) */
    buf one = gzip_zeros(NULL, 0, 1);
    buf multi = {0};
    for (uint64_t i = 0; i < (bomb >> 20); i++) put(&multi, one.p, one.n);
    save("gzip-bomb-multimember.pb.gz", multi.p, multi.n);
    free(one.p);
    free(multi.p);
  }

  /* not a profile at all */
  {
    uint8_t r[4096];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof r; i++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      r[i] = (uint8_t)s;
    }
    r[0] = 0x42; /* not the gzip magic */
    save("random-bytes.pb", r, sizeof r);
    buf g = gzip_buf(r, sizeof r);
    save("random-bytes-gzipped.pb.gz", g.p, g.n);
    free(g.p);
  }
  save("empty.pb", "", 0);
  {
    buf g = gzip_buf((const uint8_t *)"", 0);
    save("empty-gzipped.pb.gz", g.p, g.n);
    free(g.p);
  }

  /* wire-level damage */
  save_profile("wrong-wire-sample-type.pb", D_WRONG_WIRE_SAMPLE_TYPE);
  save_profile("wrong-wire-string-table.pb", D_WRONG_WIRE_STRING);
  save_profile("wrong-wire-period.pb", D_WRONG_WIRE_PERIOD);
  save_profile("wrong-wire-nested-line.pb", D_WRONG_WIRE_NESTED);
  {
    buf c = {0};
    put(&c, good.p, good.n);
    field_bytes(&c, 6, "abc", 3);
    c.n -= 3;
    c.p[c.n - 1] = 100; /* length 100, 0 bytes follow */
    save("oversize-length.pb", c.p, c.n);
    free(c.p);
    c = (buf){0};
    put(&c, good.p, good.n);
    varint(&c, 6u << 3 | 2);
    varint(&c, 1ull << 62); /* length larger than any buffer */
    save("huge-length.pb", c.p, c.n);
    free(c.p);
    c = (buf){0};
    put(&c, good.p, good.n);
    varint(&c, 12u << 3);
    put(&c, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11); /* 11-byte varint */
    save("overlong-varint.pb", c.p, c.n);
    free(c.p);
    c = (buf){0};
    put(&c, good.p, good.n);
    varint(&c, 3u << 3 | 2);
    varint(&c, 5);
    put(&c, "\x08", 1); /* mapping message cut inside */
    save("truncated-message.pb", c.p, c.n);
    free(c.p);
    c = (buf){0};
    put(&c, good.p, good.n);
    varint(&c, 20u << 3 | 3); /* deprecated group start wire type */
    save("group-wire-type.pb", c.p, c.n);
    free(c.p);
  }

  /* rule violations (decode fine, validate must refuse) */
  save_profile("string0-not-empty.pb", D_STRING0_NOT_EMPTY);
  save_profile("string-index-out-of-range.pb", D_STRING_INDEX_OOR);
  save_profile("negative-string-index.pb", D_NEG_STRING_INDEX);
  save_profile("sample-type-index-out-of-range.pb", D_SAMPLE_TYPE_OOR);
  save_profile("period-type-index-out-of-range.pb", D_PERIOD_TYPE_OOR);
  save_profile("drop-frames-index-out-of-range.pb", D_DROP_FRAMES_OOR);
  save_profile("comment-index-out-of-range.pb", D_COMMENT_OOR);
  save_profile("dangling-location.pb", D_DANGLING_LOCATION);
  save_profile("dangling-function.pb", D_DANGLING_FUNCTION);
  save_profile("line-function-id-0.pb", D_FUNCTION_ID_ZERO);
  save_profile("duplicate-location-id.pb", D_DUP_LOCATION);
  save_profile("duplicate-function-id.pb", D_DUP_FUNCTION);
  save_profile("duplicate-mapping-id.pb", D_DUP_MAPPING);
  save_profile("location-id-0.pb", D_LOCATION_ID_ZERO);
  save_profile("mapping-id-0.pb", D_MAPPING_ID_ZERO);
  save_profile("function-id-0.pb", D_FUNCTION_ID_ZERO_DEF);
  save_profile("more-values-than-types.pb", D_MORE_VALUES);
  save_profile("fewer-values-than-types.pb", D_FEWER_VALUES);
  save_profile("samples-without-types.pb", D_NO_SAMPLE_TYPES);
  {
    buf c = {0};
    put(&c, good.p, good.n);
    put(&c, good.p, good.n);
    save("concatenated-profiles.pb", c.p, c.n);
    free(c.p);
  }
  {
    /* two gzip members each holding a whole profile: one stream of two profiles */
    buf c = {0};
    put(&c, gz.p, gz.n);
    put(&c, gz.p, gz.n);
    save("concatenated-gzip-members.pb.gz", c.p, c.n);
    free(c.p);
  }
  free(good.p);
  free(gz.p);
  if (fclose(list) != 0) {
    perror(lp);
    return 1;
  }
  return 0;
}
