/*
 * export_internal.h — what the export writers (export.c, export_folded.c,
 * export_speedscope.c, export_chrome.c, export_tree.c) share: an output
 * buffer with JSON escaping, the frames a profile's locations expand into,
 * and the call tree every writer is built on (export_calltree.c).
 *
 * The call tree is a trie of frames, root first: node 0 is the root, and a
 * node's children are found through one open-addressing hash table keyed
 * by (parent, frame), so adding a stack of depth d costs d table steps. Each
 * node keeps k "self" values (the sample values whose stack ends there, one
 * slot per exported sample type or per profile of a diff); totals are summed
 * bottom-up afterwards, which works in one backward pass because a node is
 * always created after its parent. Children are then listed per node
 * (counting sort by parent) for the depth-first walks of the writers.
 *
 * Nothing here is public API; see export.h.
 */
#ifndef PGOPIPE_PPROF_EXPORT_INTERNAL_H
#define PGOPIPE_PPROF_EXPORT_INTERNAL_H

#include "export.h"
#include "internal.h"

#include <stdbool.h>

/* ---- output buffer ---- */

/* A growing byte buffer. After an allocation failure `oom` is set and
 * every further append does nothing; ex_take reports it once. */
typedef struct ex_buf {
  char *p;
  size_t len, cap;
  bool oom;
} ex_buf;

/* Makes room for `more` bytes; false (and oom set) on failure. */
bool ex_reserve(ex_buf *b, size_t more);
static inline void ex_put(ex_buf *b, const void *s, size_t n) {
  if (n && (b->cap - b->len >= n || ex_reserve(b, n))) {
    memcpy(b->p + b->len, s, n);
    b->len += n;
  }
}
static inline void ex_putc(ex_buf *b, char c) {
  if (b->len < b->cap || ex_reserve(b, 1)) b->p[b->len++] = c;
}
static inline void ex_puts(ex_buf *b, const char *s) { ex_put(b, s, strlen(s)); }
/* Decimal integer. */
void ex_i64(ex_buf *b, int64_t v);
/* 100 × v / total with two decimals ("12.34"); 0.00 when total is 0. */
void ex_pct(ex_buf *b, int64_t v, int64_t total);
/* A JSON string literal (with quotes): '"', '\\' and control characters
 * escaped, each byte that is not part of valid UTF-8 written as U+FFFD. */
void ex_json_str(ex_buf *b, const char *s, size_t n);
/* Hands the bytes to the caller (*out malloc'd, owned by the caller) and
 * empties b; PP_ENOMEM if an append failed on the way. */
int ex_take(ex_buf *b, uint8_t **out, size_t *outlen, char *err, size_t errlen);
void ex_buf_free(ex_buf *b);

/* Length of the valid UTF-8 sequence at s[0..n) (1-4), or 0 when s[0]
 * does not start one (Go's rules: no overlong forms, no surrogates, nothing
 * above U+10FFFF). */
size_t ex_utf8_len(const unsigned char *s, size_t n);

/* ---- frames ---- */

enum ex_mode {
  EX_BY_NAME,        /* a frame is a function name (tree, diff) */
  EX_BY_NAME_FOLDED, /* ... made safe for folded stacks (';' and control characters replaced) */
  EX_BY_FRAME        /* (name, file, start line) (speedscope, chrome); one profile only */
};

typedef struct ex_frame {
  pp_sid name;      /* display name, in ex_frames.names */
  pp_sid file;      /* EX_BY_FRAME: the function's file in the profile's pool; else 0 */
  int64_t line;     /* EX_BY_FRAME: the function's start line (0 = unknown); else 0 */
} ex_frame;

/* The distinct frames of one export (of one profile, or of both profiles
 * of a diff in EX_BY_NAME mode: names are compared as text). */
typedef struct ex_frames {
  int mode;
  pp_strpool names; /* display names: valid UTF-8 */
  ex_frame *f;
  size_t n, cap;
  uint32_t *slots; /* frame index + 1; 0 = empty */
  size_t nslots;
  uint64_t seed;
} ex_frames;

int ex_frames_init(ex_frames *F, int mode);
void ex_frames_free(ex_frames *F);
static inline const char *ex_frame_name(const ex_frames *F, uint32_t fr, size_t *len) {
  pp_sid s = F->f[fr].name;
  *len = pp_pool_len(&F->names, s);
  return pp_pool_str(&F->names, s);
}
/* rank[frame]: the frames' order (name bytes, a name before its
 * extensions; then file — its text in p, which may be NULL outside
 * EX_BY_FRAME — then line). *rank is malloc'd, caller frees. */
int ex_frames_rank(const ex_frames *F, const pp_profile *p, uint32_t **rank);

/* How one profile's locations expand into frames. */
typedef struct ex_pmap {
  const pp_profile *p;
  uint32_t *loc_off; /* nlocs + 1 offsets into fr */
  uint32_t *fr;      /* each location's frames, root (outermost line) first */
  uint32_t nostack;  /* the frame "[no stack]" */
} ex_pmap;

int ex_pmap_build(ex_frames *F, const pp_profile *p, ex_pmap *m, char *err, size_t errlen);
void ex_pmap_free(ex_pmap *m);

/* ---- the call tree ---- */

typedef struct ex_node {
  uint32_t parent; /* UINT32_MAX for the root */
  uint32_t frame;  /* UINT32_MAX for the root */
} ex_node;

typedef struct ex_tree {
  ex_node *n;
  size_t nn, cn;
  size_t k;        /* values per node */
  int64_t *self;   /* nn × k */
  int64_t *total;  /* nn × k, after ex_tree_finish */
  uint32_t *slots; /* node index + 1, keyed by (parent, frame) */
  size_t nslots;
  uint64_t seed;
  uint32_t *koff;  /* after ex_tree_finish: node i's children are kids[koff[i] .. koff[i+1]) */
  uint32_t *kids;
} ex_tree;

/* An empty tree (just the root) with k values per node. */
int ex_tree_init(ex_tree *t, size_t k);
void ex_tree_free(ex_tree *t);
/* Adds every sample of m's profile: value vi[j] goes to slot slot0 + j
 * (indexes past the profile's sample types add nothing). */
int ex_tree_add(ex_tree *t, const ex_pmap *m, const size_t *vi, size_t nvi, size_t slot0, char *err,
                size_t errlen);
/* Sums totals and lists children (in creation order). */
int ex_tree_finish(ex_tree *t, char *err, size_t errlen);
/* Sorts the children of node `i`: by rank[frame] when by_total < 0, else by
 * decreasing |total[slot by_total]|, then decreasing |total[slot
 * by_total + 1]| when `two`, then rank. tmp: room for the widest node
 * (ex_tree_max_kids). */
typedef struct ex_sortkey {
  uint64_t k1, k2;
  uint32_t k3, node;
} ex_sortkey;
/* qsort's order of sort keys: k1, then k2, then k3, all ascending. */
int ex_sortkey_cmp(const void *x, const void *y);
void ex_tree_sort_kids(ex_tree *t, uint32_t i, const uint32_t *rank, int by_total, bool two, ex_sortkey *tmp);
size_t ex_tree_max_kids(const ex_tree *t);

/* A depth-first walk: ex_walk_next returns the nodes in preorder (children
 * in the order of kids[]), starting with the root, and UINT32_MAX at the
 * end; `depth` is the node's depth (root 0) and path[1..depth] the frames
 * from the root down to it. */
typedef struct ex_walk {
  const ex_tree *t;
  uint32_t *node; /* stack: node at each depth */
  uint32_t *next; /* stack: next child index of that node */
  uint32_t *path; /* frames, path[d] = frame of node[d] */
  size_t depth, cap;
  bool started;
} ex_walk;
int ex_walk_init(ex_walk *w, const ex_tree *t);
uint32_t ex_walk_next(ex_walk *w, bool *oom);
void ex_walk_free(ex_walk *w);

/* |v| as an unsigned number (exact for INT64_MIN). */
static inline uint64_t ex_uabs(int64_t v) { return v < 0 ? 0 - (uint64_t)v : (uint64_t)v; }

/* ---- a writer's set-up (export.c) ---- */

/* Checks a writer's arguments and empties its output: PP_OK, or PP_EINVAL
 * (with the message) when p, out or outlen is NULL. */
static inline int ex_out_init(const pp_profile *p, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
  if (!p || !out || !outlen) return pp_err(err, errlen, PP_EINVAL, "export: bad arguments");
  *out = NULL;
  *outlen = 0;
  return PP_OK;
}

/* The call tree of one profile in frame mode `mode` for the value indexes
 * vi[0..nvi) (slot j holds value vi[j]), finished. On success *F and *t are
 * the caller's (ex_frames_free, ex_tree_free); on error both are freed. */
int ex_build_one(const pp_profile *p, int mode, const size_t *vi, size_t nvi, ex_frames *F, ex_tree *t, char *err,
                 size_t errlen);

/* Sorts every node's children by frame rank (the folded order); p as for
 * ex_frames_rank. */
int ex_sort_by_rank(ex_tree *t, const ex_frames *F, const pp_profile *p, char *err, size_t errlen);

#endif
