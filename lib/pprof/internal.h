/*
 * internal.h — the engine's in-memory profile model, shared by its modules.
 *
 * A decoded profile is kept as a handful of flat arrays, not as a tree of
 * small objects: one array per entity kind (mappings, functions, locations,
 * samples), with variable-length parts (a location's lines, a sample's
 * location list, values and labels) stored in shared flat arrays addressed
 * by offset + count. Strings are interned in a per-profile pool, so string
 * equality inside one profile is integer equality. Entities refer to each
 * other by dense 0-based index; IDs in the file are rebuilt as index + 1 on
 * encode. This keeps a multi-megabyte profile in a few large allocations
 * (fast to build, fast to free, cache friendly) and lets merge identities be
 * hashed as plain integers.
 *
 * Nothing here is public API; see pprof.h.
 */
#ifndef PGOPIPE_PPROF_INTERNAL_H
#define PGOPIPE_PPROF_INTERNAL_H

#include "pprof.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint32_t pp_sid; /* interned string id; 0 is always "" */

#define PP_NONE UINT32_MAX /* "no entity" for 32-bit indexes */

/* base + off, but NULL stays NULL (empty arrays are NULL; pointer
 * arithmetic on NULL is undefined even with a zero offset). */
#define PP_OFF(base, off) ((base) ? (base) + (off) : (base))

/* ---- growable arrays ---- */

/* Ensures *p has room for `need` elements of `elsz` bytes (doubling). */
int pp_grow(void **p, size_t *cap, size_t need, size_t elsz);

/* Gives back unused capacity (n may be 0: the array is freed). */
void pp_shrink(void **p, size_t *cap, size_t n, size_t elsz);
#define PP_GROW(arr, cap, need) pp_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* ---- hashing ---- */

static inline uint64_t pp_mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}
/* Keyed byte hash: seed selects the function, so colliding inputs cannot
 * be prepared without knowing it. */
uint64_t pp_hash_bytes(uint64_t seed, const void *p, size_t n);
/* Final avalanche of a pp_mix chain, keyed again: every bit of the 32-bit
 * result (slot indexes are its low bits) depends on every bit of h and on
 * the seed. Without it, keys differing only in high bits share a slot. */
static inline uint32_t pp_hfin(uint64_t seed, uint64_t h) {
  h ^= seed >> 7;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return (uint32_t)h;
}

/*
 * util.c: a zeroed array of n elements of `size` bytes (NULL on overflow
 * or when out of memory; free() it), for tables that are probed (read)
 * before they are written. Unlike calloc, the zeros are written: a fresh
 * mapping that is read first maps the shared zero page, and the first write
 * to each page then faults again and flushes the TLB on every CPU the
 * process runs on, which costs more than the writing.
 */
void *pp_zalloc(size_t n, size_t size);

/* A fresh 64-bit hash seed from getrandom(2) (falling back to clock and
 * address bits if the kernel refuses). Each merger and index draws its
 * own, string pools one per process, so hash-table layout, never output,
 * differs from run to run. */
uint64_t pp_seed(void);

/* ---- string pool (interning) ---- */

typedef struct pp_strpool {
  char *bytes; /* NUL-terminated strings back to back */
  size_t blen, bcap;
  uint32_t *off;  /* string i starts at bytes + off[i] */
  uint32_t *len;  /* its length (may contain NUL bytes) */
  uint32_t *hash; /* its hash (low 32 bits), kept for rehash and merge */
  size_t n, cap;
  uint32_t *slots; /* open addressing: sid + 1, 0 = empty */
  size_t nslots;   /* power of two */
  uint64_t seed;   /* of pp_hash_bytes: drawn once per process (pp_seed), the
                      same in every pool, so that a merge reuses the hashes
                      its inputs' pools already hold instead of hashing
                      every string again */
} pp_strpool;

int pp_pool_init(pp_strpool *sp, size_t expect_strings, size_t expect_bytes);
void pp_pool_free(pp_strpool *sp);
/* Interns s[0..n); hash is pp_hash_bytes(sp->seed, s, n). Returns PP_OK and *id. */
int pp_pool_intern_h(pp_strpool *sp, const char *s, size_t n, uint64_t hash, pp_sid *id);
static inline int pp_pool_intern(pp_strpool *sp, const char *s, size_t n, pp_sid *id) {
  return pp_pool_intern_h(sp, s, n, pp_hash_bytes(sp->seed, s, n), id);
}
static inline const char *pp_pool_str(const pp_strpool *sp, pp_sid id) { return sp->bytes + sp->off[id]; }
static inline size_t pp_pool_len(const pp_strpool *sp, pp_sid id) { return sp->len[id]; }
static inline bool pp_pool_eq(const pp_strpool *a, pp_sid x, const pp_strpool *b, pp_sid y) {
  return a->len[x] == b->len[y] && memcmp(pp_pool_str(a, x), pp_pool_str(b, y), a->len[x]) == 0;
}
int pp_pool_cmp(const pp_strpool *sp, pp_sid a, pp_sid b);

/* Byte-wise order of a[0..al) and b[0..bl), a prefix first (memcmp's sign). */
static inline int pp_bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  if (c) return c;
  return al < bl ? -1 : al > bl;
}

/* ---- entities ---- */

typedef struct pp_vt {
  pp_sid type, unit;
} pp_vt;

enum { PP_HAS_FUNCTIONS = 1, PP_HAS_FILENAMES = 2, PP_HAS_LINE_NUMBERS = 4, PP_HAS_INLINE_FRAMES = 8 };

typedef struct pp_mapping {
  uint64_t start, limit, offset;
  pp_sid file, build_id;
  uint32_t flags; /* PP_HAS_* */
} pp_mapping;

typedef struct pp_function {
  pp_sid name, system_name, filename;
  int64_t start_line;
} pp_function;

typedef struct pp_line {
  uint32_t func; /* function index */
  int64_t line, column;
} pp_line;

typedef struct pp_location {
  uint64_t address;
  uint32_t mapping; /* mapping index or PP_NONE */
  uint32_t line_off, nlines;
  uint32_t folded;
} pp_location;

/* A label as it lives in memory, after the decoding quirks: a string label
 * (is_num 0: key, str) or one numeric value (is_num 1: key, num, unit — the
 * unit padded/aligned the way pprof aligns numeric-label units). A sample's
 * labels are kept in canonical order: string labels first, then numeric,
 * each group sorted by key text, values of one key in stored order. */
typedef struct pp_label {
  pp_sid key, str, unit;
  uint32_t is_num;
  int64_t num;
} pp_label;

typedef struct pp_sample {
  uint32_t loc_off, nlocs;     /* into locs_flat; leaf first */
  uint32_t label_off, nlabels; /* into labels */
} pp_sample;

struct pp_profile {
  pp_strpool sp;

  pp_vt *stypes;
  size_t nstypes;
  pp_vt ptype;
  int64_t period, time_nanos, duration_nanos;
  pp_sid default_st, doc_url, drop_frames, keep_frames;
  pp_sid *comments;
  size_t ncomments, ccomments;

  pp_mapping *maps;
  size_t nmaps, cmaps;
  pp_function *funcs;
  size_t nfuncs, cfuncs;
  pp_location *locs;
  size_t nlocs, clocs;
  pp_line *lines;
  size_t nlines, clines;

  pp_sample *samples;
  size_t nsamples, csamples;
  uint32_t *sloc; /* flat location indexes of all samples */
  size_t nsloc, csloc;
  int64_t *values; /* nsamples * nstypes */
  size_t cvalues;
  pp_label *labels;
  size_t nlabels, clabels;
  size_t wire_strings; /* string_table entries of the decoded bytes (pp_wire_string_count) */
};

/* Allocates an empty profile with string 0 = "". */
pp_profile *pp_profile_new(void);

/* Trims every array of p to its length (after decode and merge). */
void pp_profile_shrink(pp_profile *p);

/* Writes "prefix: ..." into err (if any) and returns code. */
int pp_err(char *err, size_t errlen, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Sorts a sample's labels into canonical order (stable). tmp: room for n
 * labels (used when n > 16; NULL falls back to insertion sort). */
void pp_labels_canonical(const pp_strpool *sp, pp_label *l, size_t n, pp_label *tmp);

/* A stable merge sort of n elements of sz bytes with a context for the
 * comparison (qsort has none): PP_OK, or PP_ENOMEM (base untouched). */
typedef int (*pp_cmp_ctx)(const void *a, const void *b, void *ctx);
int pp_msort(void *base, size_t n, size_t sz, pp_cmp_ctx cmp, void *ctx);

/* Merge-of-one: compacts p (drops zero samples and unreferenced entries,
 * aggregates identical samples, renumbers). Replaces *p on success. */
int pp_compact(pp_profile **p, char *err, size_t errlen);

/*
 * gunzip.c: inflates a gzip stream (several members read as one) into a
 * malloc'd buffer (*out, caller frees) of at most limit bytes, checking the
 * top-level profile.proto fields as they arrive, so a gzip bomb stops at its
 * first implausible field or at the limit. PP_OK, PP_EMALFORMED (bad gzip,
 * bad structure), PP_ETOOBIG or PP_ENOMEM, message in err.
 */
int pp_gunzip(const uint8_t *in, size_t inlen, size_t limit, uint8_t **out, size_t *outlen,
              char *err, size_t errlen);

/*
 * encode.c: gzip-compresses raw[0, rawlen) at `level` into a malloc'd
 * buffer (*out, caller frees). The input is cut into pp_gzip_pieces(rawlen)
 * equal pieces (the remainder in the last), each compressed as a gzip
 * member of its own, by up to `threads` threads (the caller's included);
 * the bytes depend only on the input and the level, never on `threads`.
 * PP_OK, PP_EINVAL (level) or PP_ENOMEM, message in err.
 */
int pp_gzip_mt(const uint8_t *raw, size_t rawlen, int level, int threads, uint8_t **out, size_t *outlen, char *err,
               size_t errlen);
enum { PP_GZIP_PIECE = 1u << 18, PP_GZIP_MAX_PIECES = 128 };
/* Pieces pp_gzip_mt makes of rawlen bytes: rawlen / 256 KiB rounded to the
 * nearest, at least 1, at most PP_GZIP_MAX_PIECES. */
size_t pp_gzip_pieces(size_t rawlen);

/* The name of a protobuf wire type, for messages ("varint", "fixed64", ...). */
const char *pp_wire_name(uint32_t t);

#endif
