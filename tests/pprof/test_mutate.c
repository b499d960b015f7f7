/*
 * test_mutate.c — robustness: thousands of deterministic mutations of a
 * valid profile (bit flips, byte overwrites, truncation, insertion,
 * deletion), raw and gzipped, fed to pp_decode. Whatever decodes must then
 * clone (pp_clone: the copy encodes to the same bytes and can grow on its
 * own), merge, prune, encode, and decode again to a profile with the same
 * sample totals (what we accept we can always write back). Under ASan/UBSan
 * this also proves no memory error or leak on hostile bytes.
 */
#include "testutil.h"

#include <zlib.h>

CHECK_DEFINE_COUNTERS

static uint32_t rng = 0x12345678;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static uint8_t *make(size_t *n) {
  tb b;
  tb_init(&b);
  tb_cpu(&b);
  tb_map(&b, 1, 0x400000, 0x500000, 0, "/bin/app", "");
  tb_map(&b, 2, 0x7f0000, 0x800000, 0x1000, "/lib/libc.so", "abcdef");
  tb_func(&b, 1, "main.main", "main.go", 1);
  tb_func(&b, 2, "runtime.mallocgc", "malloc.go", 2);
  tb_func(&b, 3, "main.(*T).M", "main.go", 3);
  tb_func(&b, 4, "runtime.main", "proc.go", 4);
  tb_loc(&b, 1, 1, 0x401000, "2:10 3:20");
  tb_loc(&b, 2, 1, 0x402000, "1:30");
  tb_loc(&b, 3, 2, 0x7f1000, "4:40");
  tb_loc(&b, 4, 0, 0x9000, "");
  PBSample *s = tb_sample(&b, "1 100", "1 2 3");
  tb_label(&b, s, "k", "v");
  tb_numlabel(&b, s, "n", 7, "bytes");
  tb_sample(&b, "2 200", "2 3");
  tb_sample(&b, "3 300", "4 3");
  tb_sample(&b, "0 0", "1");
  b.p.time_nanos = 5;
  b.p.n_comment = 1;
  b.p.comment = malloc(sizeof(int64_t));
  b.p.comment[0] = S_(&b, "c");
  uint8_t *r = tb_pack(&b, n);
  tb_free(&b);
  return r;
}

static int accepted, rejected;

/* A clone encodes exactly as its original, and grows (a new comment, whose
 * string is interned into the copied pool) without touching the original. */
static void check_clone(const pp_profile *p) {
  char err[256];
  pp_profile *c = pp_clone(p);
  CHECK(c != NULL);
  if (!c) return;
  uint8_t *a = NULL, *b = NULL;
  size_t an = 0, bn = 0;
  CHECK_EQ(pp_encode_raw(p, &a, &an, err, sizeof(err)), 0);
  CHECK_EQ(pp_encode_raw(c, &b, &bn, err, sizeof(err)), 0);
  CHECK(a && b && an == bn && memcmp(a, b, an) == 0, "clone encodes differently");
  free(b);
  size_t nc = pp_comment_count(p);
  char text[64];
  for (int i = 0; i < 40; i++) {
    snprintf(text, sizeof text, "clone comment %d", i);
    CHECK_EQ(pp_add_comment(c, text), 0);
  }
  CHECK_EQ(pp_comment_count(c), nc + 40);
  CHECK_STR(pp_comment(c, nc + 39), "clone comment 39");
  CHECK_EQ(pp_comment_count(p), nc);
  CHECK_EQ(pp_encode_raw(p, &b, &bn, err, sizeof(err)), 0);
  CHECK(b && an == bn && memcmp(a, b, an) == 0, "the original changed with its clone");
  free(a);
  free(b);
  pp_free(c);
}

static void exercise(const uint8_t *buf, size_t n, const pp_rules *rules) {
  if (getenv("MUTATE_TRACE")) {
    uint32_t h = 0;
    for (size_t i = 0; i < n; i++) h = h * 31 + buf[i];
    printf("in %zu %08x\n", n, h);
  }
  pp_profile *p = NULL, *q = NULL;
  char err[512];
  pp_limits lim = {.max_input_bytes = 1 << 20, .max_decoded_bytes = 1 << 20};
  int rc = pp_decode(buf, n, &lim, &p, err, sizeof(err));
  if (rc) {
    CHECK(rc == PP_EMALFORMED || rc == PP_ETOOBIG);
    CHECK(err[0] != 0);
    rejected++;
    if (getenv("MUTATE_TRACE")) printf("R %d %s\n", rc, err);
    return;
  }
  accepted++;
  if (getenv("MUTATE_TRACE")) printf("A\n");
  check_clone(p);
  int64_t t0 = pp_sample_type_count(p) ? pp_total(p, 0) : 0;
  pp_profile *in[2] = {p, NULL};
  CHECK_EQ(pp_decode(buf, n, &lim, &in[1], err, sizeof(err)), 0);
  rc = pp_merge(in, 2, &q, err, sizeof(err));
  CHECK_EQ(rc, 0);
  if (rc) return;
  CHECK_EQ(pp_sample_type_count(q) ? pp_total(q, 0) : 0, (int64_t)((uint64_t)t0 * 2));
  CHECK_EQ(pp_prune(q, rules, err, sizeof(err)), 0);
  pp_top_entry *top;
  size_t nt;
  if (pp_sample_type_count(q)) {
    CHECK_EQ(pp_top(q, 0, &top, &nt, err, sizeof(err)), 0);
    free(top);
  }
  uint8_t *o;
  size_t on;
  CHECK_EQ(pp_encode(q, 1, &o, &on, err, sizeof(err)), 0);
  pp_profile *r = NULL;
  CHECK_EQ(pp_decode(o, on, NULL, &r, err, sizeof(err)), 0);
  if (r) {
    CHECK_EQ(pp_sample_count(r), pp_sample_count(q));
    if (pp_sample_type_count(r)) CHECK_EQ(pp_total(r, 0), pp_total(q, 0));
  }
  pp_free(r);
  free(o);
  pp_free(q);
}

static uint8_t *gzip(const uint8_t *in, size_t n, size_t *outn) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
  size_t cap = deflateBound(&zs, n) + 64;
  uint8_t *o = malloc(cap);
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  zs.next_out = o;
  zs.avail_out = (uInt)cap;
  deflate(&zs, Z_FINISH);
  *outn = cap - zs.avail_out;
  deflateEnd(&zs);
  return o;
}

int main(void) {
  size_t n;
  uint8_t *orig = make(&n);
  pp_rules *rules = pp_rules_new();
  char err[256];
  pp_rules_add(rules, "^runtime\\.", NULL, err, sizeof(err));
  pp_rules_add(rules, "^main\\.$", "^main\\.main$", err, sizeof(err));
  exercise(orig, n, rules);
  CHECK_EQ(accepted, 1);
  uint8_t *buf = malloc(n + 64);
  for (int it = 0; it < 6000; it++) {
    memcpy(buf, orig, n);
    size_t m = n;
    int k = 1 + (int)(rnd() % 4);
    for (int j = 0; j < k && m > 0; j++) {
      size_t at = rnd() % m;
      switch (rnd() % 6) {
      case 0: buf[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
      case 1: buf[at] = (uint8_t)rnd(); break;
      case 2: m = at; break;
      case 3:
        if (m < n + 60) {
          memmove(buf + at + 1, buf + at, m - at);
          buf[at] = (uint8_t)rnd();
          m++;
        }
        break;
      case 4:
        memmove(buf + at, buf + at + 1, m - at - 1);
        m--;
        break;
      case 5: buf[at] = (uint8_t)(rnd() % 3 == 0 ? 0 : 0x80 | rnd()); break;
      }
    }
    if (it % 4 == 0) {
      size_t gn;
      uint8_t *g = gzip(buf, m, &gn);
      if (it % 8 == 0 && gn > 20) g[10 + rnd() % (gn - 20)] ^= 1; /* corrupt the deflate data */
      exercise(g, gn, rules);
      free(g);
    } else {
      exercise(buf, m, rules);
    }
  }
  printf("mutations: %d accepted, %d rejected\n", accepted, rejected);
  CHECK(accepted > 100);
  CHECK(rejected > 100);
  free(buf);
  free(orig);
  pp_rules_free(rules);
  return check_exit("test_mutate");
}
