/*
 * util.c — small building blocks of the engine: growable arrays, hashing,
 * the interning string pool, error formatting and stable sorts.
 *
 * The string pool stores every distinct string once, back to back in one
 * buffer, with an open-addressing table of ids. Hashes are kept per string so
 * the table can grow without rehashing bytes and so a merge can intern a
 * string into another pool without hashing it again.
 */
#include "internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

void pp_huge(void *p, size_t bytes) {
  if (!p || bytes < PP_HUGE_MIN) return;
  const uintptr_t hp = (uintptr_t)2 << 20;
  uintptr_t a = ((uintptr_t)p + hp - 1) & ~(hp - 1), e = ((uintptr_t)p + bytes) & ~(hp - 1);
  if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice: refusal changes nothing */
}

int pp_grow(void **p, size_t *cap, size_t need, size_t elsz) {
  if (need <= *cap) return PP_OK;
  /* Doubling for one-at-a-time growth; exactly `need` for a reservation. */
  size_t nc = *cap < 8 ? 8 : *cap;
  nc = nc > SIZE_MAX / 2 ? SIZE_MAX : nc * 2;
  if (nc < need) nc = need;
  if (nc > SIZE_MAX / elsz) return PP_ENOMEM;
  void *q = realloc(*p, nc * elsz);
  if (!q) return PP_ENOMEM;
  pp_huge(q, nc * elsz);
  *p = q;
  *cap = nc;
  return PP_OK;
}

void pp_shrink(void **p, size_t *cap, size_t n, size_t elsz) {
  if (!*p || n >= *cap) return;
  if (n == 0) {
    free(*p);
    *p = NULL;
    *cap = 0;
    return;
  }
  void *q = realloc(*p, n * elsz);
  if (q) {
    *p = q;
    *cap = n;
  }
}

void pp_profile_shrink(pp_profile *p) {
#define SHR(a, c, n) pp_shrink((void **)&p->a, &p->c, p->n, sizeof(*p->a))
  SHR(maps, cmaps, nmaps);
  SHR(funcs, cfuncs, nfuncs);
  SHR(locs, clocs, nlocs);
  SHR(lines, clines, nlines);
  SHR(samples, csamples, nsamples);
  SHR(sloc, csloc, nsloc);
  SHR(labels, clabels, nlabels);
#undef SHR
  size_t nv = p->nsamples * p->nstypes;
  pp_shrink((void **)&p->values, &p->cvalues, nv, sizeof(*p->values));
  pp_shrink((void **)&p->sp.bytes, &p->sp.bcap, p->sp.blen, 1);
}

static inline uint64_t rd64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Each 8-byte block is xored into the state, multiplied, rotated and
 * multiplied again: the rotation between the multiplications makes a
 * block's effect depend on the (seeded) state, so block differences that
 * cancel for every seed (possible with xor-multiply alone, via the top bit)
 * do not exist in any simple form. */
uint64_t pp_hash_bytes(uint64_t seed, const void *vp, size_t n) {
  const unsigned char *p = vp;
  uint64_t h = seed ^ 0x243f6a8885a308d3ull ^ (n * 0x9e3779b97f4a7c15ull);
  while (n >= 8) {
    h = rotl64((h ^ rd64(p)) * 0xbf58476d1ce4e5b9ull, 29) * 0x94d049bb133111ebull;
    p += 8;
    n -= 8;
  }
  uint64_t t = 0;
  for (size_t i = 0; i < n; i++) t |= (uint64_t)p[i] << (8 * i);
  h = rotl64((h ^ t) * 0xbf58476d1ce4e5b9ull, 29) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

void *pp_zalloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  size_t bytes = n * size;
  void *p = malloc(bytes ? bytes : 1);
  pp_huge(p, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

static int pool_rehash(pp_strpool *sp, size_t nslots) {
  uint32_t *s = pp_zalloc(nslots, sizeof(*s));
  if (!s) return PP_ENOMEM;
  size_t mask = nslots - 1;
  for (size_t i = 0; i < sp->n; i++) {
    size_t j = sp->hash[i] & mask;
    while (s[j]) j = (j + 1) & mask;
    s[j] = (uint32_t)i + 1;
  }
  free(sp->slots);
  sp->slots = s;
  sp->nslots = nslots;
  return PP_OK;
}

uint64_t pp_seed(void) {
  uint64_t s = 0;
  if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s)) return s;
  /* No kernel entropy (very early boot, seccomp): still differs per call. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  s = pp_mix((uint64_t)ts.tv_nsec, (uint64_t)ts.tv_sec);
  return pp_mix(s, (uint64_t)(uintptr_t)&s);
}

/* The string pools' seed, drawn once per process: random, so a hostile
 * profile cannot be built to collide, and shared, so that strings move
 * between pools (a merge, a compaction) with the hash they already have. */
static uint64_t pool_seed;
static void pool_seed_init(void) { pool_seed = pp_seed(); }

int pp_pool_init(pp_strpool *sp, size_t expect_strings, size_t expect_bytes) {
  memset(sp, 0, sizeof(*sp));
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, pool_seed_init);
  sp->seed = pool_seed;
  size_t ns = 16;
  while (ns < expect_strings * 2) ns *= 2;
  if (PP_GROW(sp->bytes, sp->bcap, expect_bytes + 64) || PP_GROW(sp->off, sp->cap, expect_strings + 1))
    return PP_ENOMEM;
  sp->len = malloc(sp->cap * sizeof(*sp->len));
  sp->hash = malloc(sp->cap * sizeof(*sp->hash));
  if (!sp->len || !sp->hash) return PP_ENOMEM;
  if (pool_rehash(sp, ns)) return PP_ENOMEM;
  pp_sid z;
  return pp_pool_intern(sp, "", 0, &z);
}

void pp_pool_free(pp_strpool *sp) {
  free(sp->bytes);
  free(sp->off);
  free(sp->len);
  free(sp->hash);
  free(sp->slots);
  memset(sp, 0, sizeof(*sp));
}

int pp_pool_intern_h(pp_strpool *sp, const char *s, size_t n, uint64_t hash, pp_sid *id) {
  uint32_t h32 = (uint32_t)hash;
  size_t mask = sp->nslots - 1;
  size_t j = h32 & mask;
  for (;;) {
    uint32_t e = sp->slots[j];
    if (!e) break;
    e--;
    if (sp->hash[e] == h32 && sp->len[e] == n && memcmp(sp->bytes + sp->off[e], s, n) == 0) {
      *id = e;
      return PP_OK;
    }
    j = (j + 1) & mask;
  }
  if (n > UINT32_MAX - 1 || sp->blen + n + 1 > UINT32_MAX || sp->n >= UINT32_MAX - 2) return PP_ENOMEM;
  if (sp->n + 1 > sp->cap) {
    size_t c = sp->cap;
    if (PP_GROW(sp->off, c, sp->n + 1)) return PP_ENOMEM;
    uint32_t *l = realloc(sp->len, c * sizeof(*l));
    if (!l) return PP_ENOMEM;
    sp->len = l;
    uint32_t *h = realloc(sp->hash, c * sizeof(*h));
    if (!h) return PP_ENOMEM;
    sp->hash = h;
    sp->cap = c;
  }
  if (PP_GROW(sp->bytes, sp->bcap, sp->blen + n + 1)) return PP_ENOMEM;
  memcpy(sp->bytes + sp->blen, s, n);
  sp->bytes[sp->blen + n] = 0;
  pp_sid nid = (pp_sid)sp->n++;
  sp->off[nid] = (uint32_t)sp->blen;
  sp->len[nid] = (uint32_t)n;
  sp->hash[nid] = h32;
  sp->blen += n + 1;
  sp->slots[j] = nid + 1;
  if (sp->n * 2 > sp->nslots) {
    if (pool_rehash(sp, sp->nslots * 2)) return PP_ENOMEM;
  }
  *id = nid;
  return PP_OK;
}

int pp_pool_cmp(const pp_strpool *sp, pp_sid a, pp_sid b) {
  if (a == b) return 0;
  return pp_bytes_cmp(pp_pool_str(sp, a), sp->len[a], pp_pool_str(sp, b), sp->len[b]);
}

int pp_err(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* Canonical order key: string labels before numeric ones, then key text. */
static int label_cmp(const pp_strpool *sp, const pp_label *a, const pp_label *b) {
  if (a->is_num != b->is_num) return a->is_num ? 1 : -1;
  return pp_pool_cmp(sp, a->key, b->key);
}

static void label_isort(const pp_strpool *sp, pp_label *l, size_t n) {
  for (size_t i = 1; i < n; i++) {
    if (label_cmp(sp, &l[i - 1], &l[i]) <= 0) continue;
    pp_label t = l[i];
    size_t j = i;
    while (j > 0 && label_cmp(sp, &l[j - 1], &t) > 0) {
      l[j] = l[j - 1];
      j--;
    }
    l[j] = t;
  }
}

static void label_msort(const pp_strpool *sp, pp_label *l, size_t n, pp_label *tmp) {
  if (n <= 16) {
    label_isort(sp, l, n);
    return;
  }
  size_t h = n / 2;
  label_msort(sp, l, h, tmp);
  label_msort(sp, l + h, n - h, tmp);
  if (label_cmp(sp, &l[h - 1], &l[h]) <= 0) return;
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) tmp[k++] = label_cmp(sp, &l[j], &l[i]) < 0 ? l[j++] : l[i++];
  while (i < h) tmp[k++] = l[i++];
  while (j < n) tmp[k++] = l[j++];
  memcpy(l, tmp, n * sizeof(*l));
}

void pp_labels_canonical(const pp_strpool *sp, pp_label *l, size_t n, pp_label *tmp) {
  /* Stable: insertion sort for the usual short lists, merge sort beyond. */
  if (n <= 16 || !tmp)
    label_isort(sp, l, n);
  else
    label_msort(sp, l, n, tmp);
}

static void msort_rec(char *a, char *tmp, size_t n, size_t sz, pp_cmp_ctx cmp, void *ctx) {
  if (n < 2) return;
  if (n <= 12) {
    for (size_t i = 1; i < n; i++) {
      size_t j = i;
      memcpy(tmp, a + i * sz, sz);
      while (j > 0 && cmp(a + (j - 1) * sz, tmp, ctx) > 0) {
        memcpy(a + j * sz, a + (j - 1) * sz, sz);
        j--;
      }
      memcpy(a + j * sz, tmp, sz);
    }
    return;
  }
  size_t h = n / 2;
  msort_rec(a, tmp, h, sz, cmp, ctx);
  msort_rec(a + h * sz, tmp, n - h, sz, cmp, ctx);
  if (cmp(a + (h - 1) * sz, a + h * sz, ctx) <= 0) return;
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    if (cmp(a + j * sz, a + i * sz, ctx) < 0)
      memcpy(tmp + (k++) * sz, a + (j++) * sz, sz);
    else
      memcpy(tmp + (k++) * sz, a + (i++) * sz, sz);
  }
  while (i < h) memcpy(tmp + (k++) * sz, a + (i++) * sz, sz);
  while (j < n) memcpy(tmp + (k++) * sz, a + (j++) * sz, sz);
  memcpy(a, tmp, n * sz);
}

int pp_msort(void *base, size_t n, size_t sz, pp_cmp_ctx cmp, void *ctx) {
  if (n < 2) return PP_OK;
  char *tmp = malloc(n * sz);
  if (!tmp) return PP_ENOMEM;
  msort_rec(base, tmp, n, sz, cmp, ctx);
  free(tmp);
  return PP_OK;
}

pp_profile *pp_profile_new(void) {
  pp_profile *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  if (pp_pool_init(&p->sp, 16, 256)) {
    pp_pool_free(&p->sp);
    free(p);
    return NULL;
  }
  return p;
}
