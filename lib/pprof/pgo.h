/*
 * pgo.h — what Go's compiler reads from a profile, and profiles made for it.
 *
 * `go build -pgo` does not use a profile as a whole: it builds a weighted
 * call graph from it and keeps only the named call edges (caller, callee,
 * call-site offset, weight). This module computes exactly that view, writes
 * it in Go's preprocessed text format (`GO PREPROFILE V1`), trims a profile
 * to the smallest one with the same view (`format=pgo`), and compares the
 * views of two profiles (`pgopipe pgo diff`). Like the rest of the engine it
 * is pure: profiles or bytes in, bytes or plain structs out, no I/O.
 *
 * The compiler's view, as Go's sources compute it (cmd/internal/pgo and
 * internal/profile, see PGO.md):
 *  - Sample type: the first of samples/count or cpu/nanoseconds. A profile
 *    with neither is refused; a profile without samples is empty (accepted,
 *    nothing to do) before that check.
 *  - Nodes are keyed by (location address, line, function name, function
 *    start line); a location without lines is one node keyed by its address
 *    alone (empty name, line 0, start line 0). Filenames, mappings, labels,
 *    columns and system names play no part.
 *  - Samples whose value is zero are skipped. Of each other sample, only
 *    the last two locations count (the leaf and its caller; PP_PGO_ALL_FRAMES
 *    walks every location, as the oldest PGO compilers did), each with its
 *    whole inline chain. Walking from the outermost frame of the caller
 *    location down to the leaf, each node adds the sample's weight to its
 *    cumulative value once per sample, each consecutive pair (parent, child)
 *    adds the weight to edge parent->child once per sample (a per-sample seen
 *    set), never when parent == child, and the last node gets the weight as
 *    its flat value.
 *  - A node whose cumulative and flat values are both zero is not part of
 *    the graph, and neither are its outgoing edges (this only happens when
 *    values of opposite signs cancel out).
 *  - The named edge of graph edge parent->child is (parent's function name,
 *    child's function name, parent's line - parent's start line); weights of
 *    equal named edges add up (64-bit, wrapping); the total weight is the sum
 *    of all of them. A profile whose graph has no node with a non-zero start
 *    line is refused ("profile missing Function.start_line data"); a total
 *    weight of zero makes the profile empty (accepted, nothing to do).
 *  - Order ("ByWeight"): weight descending, then caller name, callee name
 *    (bytewise) and offset ascending.
 *  - Hot set: the inliner and devirtualiser treat as hot the prefix of that
 *    order up to and including the first edge at which the running sum of
 *    weights, as (double)sum / (double)total * 100, exceeds 99 (all edges if
 *    it never does) — inlineCDFHotCallSiteThresholdPercent.
 *
 * Ownership: every *out below is allocated here and owned by the caller,
 * freed with the function named beside it. Inputs are never modified.
 * Thread safety: as the rest of the engine (one object, one thread).
 */
#ifndef PGOPIPE_PPROF_PGO_H
#define PGOPIPE_PPROF_PGO_H

#include "pprof.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which frames of a sample make call edges. */
typedef enum pp_pgo_walk {
  PP_PGO_LAST_TWO = 0,  /* current compilers: the leaf location and its caller */
  PP_PGO_ALL_FRAMES = 1 /* the oldest PGO compilers: every location */
} pp_pgo_walk;

/* One named call edge. Names may contain any byte (NUL included); the
 * pointers are NUL-terminated copies owned by the pp_pgo_edges. */
typedef struct pp_pgo_edge {
  const char *caller, *callee;
  size_t caller_len, callee_len;
  int64_t offset; /* call-site line - caller's start line */
  int64_t weight;
} pp_pgo_edge;

/* A profile's named edge map, in the compiler's order (see above). */
typedef struct pp_pgo_edges {
  pp_pgo_edge *edge;
  size_t n;
  int64_t total;      /* sum of all edge weights (wrapping) */
  int has_start_line; /* 1 if a node of the graph has a non-zero start line */
  size_t value_index; /* the sample type used (0 for a profile without samples) */
  char *names_;       /* storage of the names (private) */
} pp_pgo_edges;

/*
 * Index of the sample type the compiler reads: the first samples/count or
 * cpu/nanoseconds. Returns 0 and *vi, or PP_EINCOMPATIBLE with the
 * compiler's own message ("profile does not contain a sample index with
 * value/type ...").
 */
int pp_pgo_value_index(const pp_profile *p, size_t *vi, char *err, size_t errlen);

/*
 * Computes p's named edge map as the compiler does, without its two final
 * rules (so that maps can be compared as they are): the map is returned
 * whatever has_start_line says, and a zero total still lists its edges.
 * A profile without samples gives an empty map. Errors: PP_EINCOMPATIBLE
 * (no sample type the compiler reads), PP_ENOMEM.
 * On success *out is owned by the caller: pp_pgo_edges_free.
 * Cost: O(frames walked) expected, with hash tables of nodes and edges;
 * memory about 40 bytes per location line plus the edges.
 */
int pp_pgo_edges_compute(const pp_profile *p, pp_pgo_walk walk, pp_pgo_edges **out,
                         char *err, size_t errlen);

/* Frees an edge map; NULL is fine. */
void pp_pgo_edges_free(pp_pgo_edges *e);

/* Number of edges in the hot set (a prefix of e->edge, see above); 0 for
 * an empty map or a zero total. */
size_t pp_pgo_hot_count(const pp_pgo_edges *e);

/* ---- Go's preprocessed format ---- */

/*
 * Writes p in `go tool preprofile`'s format (Go >= 1.23; `go build` accepts
 * it through -gcflags=-pgoprofile=FILE): "GO PREPROFILE V1\n", then per
 * edge of the compiler's order three lines: caller name, callee name,
 * "OFFSET WEIGHT" (decimal). A profile without samples or with a zero total
 * weight gives the header alone, as Go's tool does. Errors, with Go's
 * messages: PP_EINCOMPATIBLE when no sample type qualifies or when the graph
 * has no start line ("profile missing Function.start_line data (Go version
 * of profiled application too old? Go 1.20+ automatically adds this to
 * profiles)"); PP_ENOMEM.
 * On success *out is a malloc'd buffer of *outlen bytes (not
 * NUL-terminated; the caller frees it with free()).
 */
int pp_pgo_preprofile(const pp_profile *p, char **out, size_t *outlen, char *err, size_t errlen);

/* ---- format=pgo: the smallest profile with the same compiler view ---- */

/* Default number of leaf-most locations a trimmed profile keeps. */
#define PP_PGO_DEFAULT_KEEP 2u
/* Largest `keep` accepted (deeper stacks are kept whole anyway). */
#define PP_PGO_MAX_KEEP 1000000u

/*
 * Returns a new profile (owned by the caller, pp_free) with the same named
 * edge map as p for the compiler's walk:
 *  - keep >= 2 (default 2): the last-two-locations walk of current
 *    compilers gives exactly p's map (also for keep > 2);
 *  - keep == 0: every location of every sample is kept, so both walks
 *    (PP_PGO_LAST_TWO and PP_PGO_ALL_FRAMES) give p's maps, and function
 *    file names are kept (old compilers' nodes also told files apart);
 *  - keep == 1 is refused (PP_EINVAL): it drops the caller location, whose
 *    edges every compiler reads.
 * What the result holds: the one sample type the compiler reads (as the
 * only sample type), p's period type, period, time and duration; samples
 * cut to their `keep` leaf-most locations, without labels, samples with
 * equal stacks added up, zero ones dropped (when none is left of a profile
 * that had samples, one zero sample without locations stays, so that the
 * compiler still refuses it as it refuses p); functions with name and start
 * line only (plus file name for keep == 0); locations with their lines and
 * no mapping. Locations that differ only in mapping, column or is_folded
 * are one. Addresses are renumbered: they only matter as part of a node's
 * identity, so two locations get distinct numbers exactly when they had
 * distinct addresses and share a (function, line) — most get 0. When every
 * kept weight is positive and keep != 0, a location that is only ever a
 * leaf and shares no node with another location of its address loses its
 * innermost line number (never a call site) and merges with its likes; with
 * keep == 2, locations only ever seen as the caller merge by lines too (two
 * of them never meet in one sample). Other locations with equal lines and
 * different addresses stay apart (merging them would change recursive
 * samples). For keep != 0, line numbers are made relative: a function whose
 * name has one start line gets a small start line and its lines move with
 * it, so every call-site offset stays as it was (keep == 0 leaves line
 * numbers alone). Everything is in a canonical order (functions by name,
 * locations by lines, samples by stack), so the same input gives the same
 * output; the result is a valid profile `go tool pprof` reads, though its
 * line numbers are then no longer the source's.
 * Errors: PP_EINCOMPATIBLE (no sample type the compiler reads — also when p
 * has no samples, which the compiler would take as an empty profile of any
 * kind: a trimmed profile of another kind is never what a caller wants),
 * PP_EINVAL (keep == 1 or above PP_PGO_MAX_KEEP), PP_ENOMEM.
 * Cost: O(size of p) expected (hash tables) plus sorting the output.
 */
int pp_pgo_trim(const pp_profile *p, unsigned keep, pp_profile **out, char *err, size_t errlen);

/*
 * pp_pgo_trim followed by pp_encode at gzip `level` (-1 = default 6):
 * the bytes of `format=pgo`. On success *out (malloc'd, caller frees) holds
 * *outlen bytes. Errors as pp_pgo_trim and pp_encode.
 */
int pp_pgo_encode(const pp_profile *p, unsigned keep, int level, uint8_t **out, size_t *outlen,
                  char *err, size_t errlen);

/* ---- bytes in, bytes out (for a server's per-version cache) ---- */

typedef enum pp_pgo_format {
  PP_PGO_FORMAT_PGO = 1,       /* gzipped trimmed profile (pp_pgo_encode) */
  PP_PGO_FORMAT_PREPROFILE = 2 /* GO PREPROFILE V1 text (pp_pgo_preprofile) */
} pp_pgo_format;

/* Parses a format name: "pgo" or "preprofile". Returns 0, or PP_EINVAL with
 * a message naming the accepted values. */
int pp_pgo_format_parse(const char *name, pp_pgo_format *f, char *err, size_t errlen);

/* Parses a `keep` value: decimal digits, 0 or 2..PP_PGO_MAX_KEEP. Returns 0
 * and *keep, or PP_EINVAL with a message a user can act on. */
int pp_pgo_keep_parse(const char *s, unsigned *keep, char *err, size_t errlen);

/*
 * Decodes a profile (gzipped or raw profile.proto, within `lim`; NULL for
 * the defaults) and converts it to format f: PP_PGO_FORMAT_PGO with `keep`
 * and gzip `level` (-1 = 6), or PP_PGO_FORMAT_PREPROFILE (plain text; keep
 * and level unused — compress it with pp_gzip for clients that accept gzip).
 * On success *out (malloc'd, caller frees) holds *outlen bytes. Errors: those
 * of pp_decode, pp_pgo_encode and pp_pgo_preprofile.
 */
int pp_pgo_convert(const uint8_t *in, size_t inlen, const pp_limits *lim, pp_pgo_format f,
                   unsigned keep, int level, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/*
 * Gzip-compresses buf at `level` (0..12, -1 = 6), as pp_encode compresses
 * profiles. On success *out (malloc'd, caller frees) holds *outlen bytes.
 */
int pp_gzip(const uint8_t *buf, size_t len, int level, uint8_t **out, size_t *outlen,
            char *err, size_t errlen);

/* ---- comparing the compiler's views of two profiles ---- */

/* The compiler's hot-set threshold, in percent of the total edge weight. */
#define PP_PGO_HOT_PERCENT 99

/* A call site (named edge) with its weight and share in both profiles. */
typedef struct pp_pgo_site {
  const char *caller, *callee; /* NUL-terminated, owned by the pp_pgo_diff */
  size_t caller_len, callee_len;
  int64_t offset;
  int64_t old_weight, new_weight; /* 0 where the edge is absent */
  double old_share, new_share;    /* percent of that profile's total edge weight */
  int in_old, in_new;             /* the edge exists in that profile's map */
} pp_pgo_site;

typedef struct pp_pgo_diff {
  pp_pgo_site *entering; /* in NEW's hot set, not in OLD's; NEW's order */
  size_t nentering;
  pp_pgo_site *leaving; /* in OLD's hot set, not in NEW's; OLD's order */
  size_t nleaving;
  size_t old_edges, new_edges; /* edges in each map */
  size_t old_hot, new_hot;     /* size of each hot set */
  int64_t old_total, new_total;
  int old_start_line, new_start_line; /* has_start_line of each profile */
  /* Staleness: NEW's edges whose caller or callee is no function of OLD. */
  size_t stale_edges;
  int64_t stale_weight;
  double stale_share; /* percent of new_total */
  char *names_;       /* storage (private) */
} pp_pgo_diff;

/*
 * Compares the compiler's views (PP_PGO_LAST_TWO, with the compiler's rule
 * that a zero total makes the map empty) of two profiles. A profile without
 * start lines is compared all the same (offsets are then absolute lines;
 * old_start_line/new_start_line tell, since `go build` refuses it). The
 * functions of OLD, for staleness, are those any sample of OLD reaches.
 * On success *out is owned by the caller: pp_pgo_diff_free.
 * Errors: those of pp_pgo_edges_compute.
 */
int pp_pgo_diff_profiles(const pp_profile *oldp, const pp_profile *newp, pp_pgo_diff **out,
                         char *err, size_t errlen);

/* Frees a diff; NULL is fine. */
void pp_pgo_diff_free(pp_pgo_diff *d);

#ifdef __cplusplus
}
#endif
#endif
