/*
 * pprof.h — the profile engine: decode, validate, merge, prune, encode.
 *
 * Every stage of pgopipe handles one thing, a pprof profile (profile.proto,
 * usually gzipped). This module is that thing's only implementation. It is
 * pure: bytes in, bytes out; no network, no files, no globals, no logging.
 * Everything else in pgopipe depends on it; it depends on nothing of ours:
 * it reads and writes the profile.proto wire format itself (no generated
 * code, no protobuf library), with zlib and libdeflate for gzip and PCRE2
 * for the prune rules.
 *
 * Semantics are those of Go's github.com/google/pprof/profile package
 * (Parse, Merge, Prune, Write).
 * Results are compared with Go's after decoding, never byte for byte.
 *
 * Errors: functions return 0 (PP_OK) or a negative PP_E* code and, when the
 * caller passes a buffer, write a one-line message a user can act on, e.g.
 * "malformed profile: sample 12 refers to unknown location 99".
 *
 * Thread safety: a pp_profile / pp_merger / pp_rules is used by one thread
 * at a time; distinct objects may be used concurrently.
 *
 * Hashing: string interning, id lookup during decode and the merge's
 * identity tables are open-addressing hash tables over data a client
 * chooses (names, ids, addresses), so their hashes are keyed with a seed
 * drawn from getrandom(2) for every profile and every merger: inputs
 * crafted to collide cannot be prepared offline, and learning one merge's
 * layout (e.g. by timing) does not carry over to the next. The mixing
 * functions are fast non-cryptographic ones, chosen so that no simple
 * key difference collides for all seeds (a keyed final avalanche decides
 * the slot). Output never depends on the seed: entity IDs and order come
 * from creation order, not from table order.
 *
 * Representation: a decoded profile is a few flat arrays (mappings,
 * functions, locations, lines, samples, their location lists, values and
 * labels) with interned strings, about 1.5-2x the raw protobuf size; the
 * wire format is read and written directly, without a message tree. IDs are
 * not kept: entities are numbered 1, 2, ... in table order when encoded
 * (decoding then gives an equal profile). Merge results are identical to
 * Go's Merge after decoding, including ID assignment and entity order.
 *
 * Differences from Go's pprof a user could notice:
 *  - Line.column (field 3) and Profile.doc_url (field 15) are kept, as in
 *    current upstream pprof; every line's column is part of a location's
 *    identity (upstream keeps only the last line's column in its key — they
 *    differ only for locations whose inner lines differ only in column; Go
 *    runtimes up to 1.22 write no columns).
 *  - Legacy (non-protobuf) profile formats are not read.
 *  - pp_prune compacts (see there); Go's Prune leaves that to the next merge.
 *  - Regular expressions are PCRE2, not RE2 (see pp_rules_add).
 *  - A string containing a NUL byte is accepted and kept; accessors that
 *    return C strings show it cut at the NUL.
 */
#ifndef PGOPIPE_PPROF_H
#define PGOPIPE_PPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PP_OK = 0,
  PP_ENOMEM = -1,        /* allocation failed */
  PP_EMALFORMED = -2,    /* not a profile, or one that breaks a validation rule (HTTP 400) */
  PP_ETOOBIG = -3,       /* input or decompressed size over the limit (HTTP 413) */
  PP_EINCOMPATIBLE = -4, /* inputs cannot be merged: period/sample types differ (HTTP 422) */
  PP_EREGEX = -5,        /* a prune regex does not compile */
  PP_EINVAL = -6         /* bad argument from the caller */
};

/* Limits applied by pp_decode. Zero fields take the defaults below. */
typedef struct pp_limits {
  size_t max_input_bytes;   /* compressed (or raw) input; default PP_DEFAULT_MAX_INPUT */
  size_t max_decoded_bytes; /* after gunzip (raw input too); default PP_DEFAULT_MAX_DECODED */
  size_t max_stack_depth;   /* locations in one sample's stack; default PP_DEFAULT_MAX_STACK_DEPTH */
  size_t max_labels;        /* labels on one sample; default PP_DEFAULT_MAX_LABELS */
  /* Non-zero: the decompressed bytes AND the profile built from them in
   * memory (tables, stacks, labels, values, strings, and the decoder's
   * own maps) together stay under max_decoded_bytes, counted as they are
   * built, so memory is bounded by the limit whatever the file's shape
   * (a one-byte location reference costs 4 bytes in memory, a six-byte
   * label 32). Servers set it; 0 counts the decompressed bytes only. */
  int count_memory;
} pp_limits;

#define PP_DEFAULT_MAX_INPUT   (64u << 20)  /* 64 MiB */
#define PP_DEFAULT_MAX_DECODED (512u << 20) /* 512 MiB */
/* Go's runtime records at most 128 frames (64 before Go 1.23); other
 * profilers allow a few thousand. */
#define PP_DEFAULT_MAX_STACK_DEPTH 4096
#define PP_DEFAULT_MAX_LABELS      1024

/* A parsed, validated profile. Opaque. */
typedef struct pp_profile pp_profile;

/* Returns a short static string naming a PP_E* code ("malformed", ...). */
const char *pp_strerror(int code);

/*
 * Decodes gzip (detected by the 1f 8b magic, multi-member accepted) or raw
 * profile.proto bytes and validates the result (the rules of Go's
 * profile.Parse + CheckValid, string indexes in range, string 0 empty).
 * lim may be NULL for defaults. On success *out is a new profile owned by the
 * caller (free with pp_free). The input buffer is not retained.
 * Cost: linear in the decompressed size. Gzip input is inflated in chunks
 * while its top-level fields are checked (valid tags, schema wire types,
 * declared lengths within max_decoded_bytes), so a typical gzip bomb (zeros,
 * or a field header claiming more than the limit) is refused after its
 * first chunk (4 KiB to 256 KiB); one with valid structure stops at the
 * limit, after at most about twice `max_decoded_bytes` of decompression
 * work and `max_decoded_bytes` of memory. Several gzip members (as
 * pp_encode writes for large profiles) are read as one stream.
 * Memory: the decompressed bytes (freed before returning) plus the model,
 * typically 1.5-2x the decompressed size; a hostile file made only of tiny
 * locations can reach ~12x, and a sample's stack or labels expand 4-6x, so
 * servers set count_memory: then both together stay under
 * max_decoded_bytes (the 512 MiB default is for trusted offline use).
 * A sample deeper than max_stack_depth or with more than max_labels labels
 * is refused as soon as it is read.
 * Errors: PP_ETOOBIG (input or decompressed size over a limit, a stack too
 * deep, too many labels on a sample, memory over the limit), PP_EMALFORMED
 * ("malformed profile: ..." naming the entity and index: "sample 3 refers to
 * unknown location 99", "function 2 (id 7) name refers to string 900, but
 * the string table has 40 entries", "concatenated profiles detected", wire
 * errors with the byte offset), PP_ENOMEM.
 */
int pp_decode(const uint8_t *buf, size_t len, const pp_limits *lim,
              pp_profile **out, char *err, size_t errlen);

/*
 * Like pp_decode, with up to `threads` threads (the caller's included; 1 =
 * none started): a profile of 16384 samples or more has its samples read by
 * two, each half into its own stacks, joined after. The profile and the
 * errors are pp_decode's (the first bad sample in file order is reported;
 * the memory limit applies to both halves together, checked when they are
 * joined, so a profile both over that limit and with a bad sample in its
 * second half may be refused for either). If the thread cannot be started,
 * the caller reads both halves.
 */
int pp_decode_mt(const uint8_t *buf, size_t len, const pp_limits *lim, int threads, pp_profile **out, char *err,
                 size_t errlen);

/* Frees a profile; NULL is fine. */
void pp_free(pp_profile *p);

/*
 * Asks the kernel to back the whole 2 MiB pages inside p[0, bytes)
 * with huge pages (madvise MADV_HUGEPAGE) when bytes is PP_HUGE_MIN or
 * more; no effect on the data, nothing when refused. A large profile's
 * arrays are written once from start to end right after they are
 * allocated: with 4 KiB pages that is a page fault (and a page cleared)
 * per 4 KiB, most of the kernel time of a merge (a 4 MB base merged with
 * an upload: ~9,000 faults; ~500 with huge pages). Systems whose
 * transparent huge pages are "madvise" (a common default) use them only
 * where asked. The engine calls it on every large array it grows; a
 * program may call it on memory of its own that will hold large profiles.
 */
enum { PP_HUGE_MIN = 4u << 20 };
void pp_huge(void *p, size_t bytes);

/*
 * Encodes p as profile.proto with a rebuilt, deduplicated string table, gzip
 * compressed at `level` (0 = store, 1..9 like gzip, up to 12 for libdeflate's
 * slower, smaller levels; -1 = default 6). IDs are renumbered densely
 * (1, 2, ... in table order); decoding the output gives an equal profile.
 * A raw message of 384 KiB or more becomes several gzip members of about
 * 256 KiB each (see pp_encode_mt).
 * On success *out is a malloc'd buffer owned by the caller (free()).
 */
int pp_encode(const pp_profile *p, int level, uint8_t **out, size_t *outlen,
              char *err, size_t errlen);

/*
 * Like pp_encode, with the compression shared by up to `threads` threads
 * (the caller's included; 1 = none started). The output is byte for byte
 * pp_encode's, whatever `threads` is: a raw message of 384 KiB or more is
 * always compressed in pieces of about 256 KiB, each a gzip member of its own
 * (RFC 1952 allows a series of members, read as one stream by Go's
 * compress/gzip, hence by pprof and go build -pgo, by gzip(1), zlib and
 * libdeflate; pp_decode reads them at full speed). The pieces cost about
 * 1% in size (a 4 MB profile at level 6 still compresses smaller than Go's
 * pprof writes it); with two threads the compression of a 4 MB profile,
 * most of the encoding time, takes less than half as long. If a thread cannot
 * be started, the others do its share.
 */
int pp_encode_mt(const pp_profile *p, int level, int threads, uint8_t **out, size_t *outlen, char *err,
                 size_t errlen);

/*
 * Like pp_encode without compression: the raw profile.proto message.
 * On success *out is a malloc'd buffer owned by the caller (free()).
 */
int pp_encode_raw(const pp_profile *p, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* ---- Header and summary accessors (strings are owned by the profile) ---- */

typedef struct pp_value_type {
  const char *type; /* never NULL; "" when absent */
  const char *unit; /* never NULL */
} pp_value_type;

pp_value_type pp_period_type(const pp_profile *p);
int64_t pp_period(const pp_profile *p);
int64_t pp_time_nanos(const pp_profile *p);
int64_t pp_duration_nanos(const pp_profile *p);
size_t pp_sample_type_count(const pp_profile *p);
pp_value_type pp_sample_type(const pp_profile *p, size_t i);
/* Default sample type name, "" when unset. */
const char *pp_default_sample_type(const pp_profile *p);
/* Documentation URL (profile.proto field 15), "" when unset. */
const char *pp_doc_url(const pp_profile *p);

size_t pp_sample_count(const pp_profile *p);
size_t pp_location_count(const pp_profile *p);
size_t pp_function_count(const pp_profile *p);
size_t pp_mapping_count(const pp_profile *p);
/* Number of entries pp_encode would write in the string table ("" included):
 * the distinct strings the profile uses. Cost: one pass over the profile. */
size_t pp_string_count(const pp_profile *p);

/* Sum of value index `i` over all samples (wrapping 64-bit). */
int64_t pp_total(const pp_profile *p, size_t value_index);

/* Index of the default sample type (pprof's rule: the named default type if
 * present, else the last sample type). */
size_t pp_default_value_index(const pp_profile *p);

/* One function's totals for `pgopipe inspect --top`. */
typedef struct pp_top_entry {
  const char *name; /* owned by the profile */
  int64_t flat;     /* value where the function is the leaf frame (innermost line) */
  int64_t cum;      /* value of samples with the function anywhere on the stack, counted once per sample */
} pp_top_entry;

/*
 * Computes per-function flat and cumulative totals of value index vi.
 * *out is a malloc'd array (caller frees) of *count entries, sorted by flat
 * descending (ties by name). Cost: O(samples × stack depth).
 */
int pp_top(const pp_profile *p, size_t vi, pp_top_entry **out, size_t *count,
           char *err, size_t errlen);

/* Comments (strings), in order. */
size_t pp_comment_count(const pp_profile *p);
const char *pp_comment(const pp_profile *p, size_t i);
/* Appends a comment (copied). */
int pp_add_comment(pp_profile *p, const char *comment);
/* Removes every comment starting with `prefix`. */
void pp_remove_comments_with_prefix(pp_profile *p, const char *prefix);

/*
 * Checks that p is a Go CPU profile, the only kind `go build -pgo` uses:
 * period type cpu/nanoseconds and sample types samples/count, cpu/nanoseconds.
 * Returns 0, or PP_EINCOMPATIBLE with a message naming what p is instead
 * ("profile is not a CPU profile: period type space/bytes, sample types
 * alloc_objects/count,...").
 */
int pp_check_cpu(const pp_profile *p, char *err, size_t errlen);

/* ---- Merge ---- */

/*
 * Incremental merge with pprof's Merge semantics. Inputs are folded one at a
 * time into an accumulator, so peak memory is about result + one input.
 * Usage: m = pp_merger_new(); pp_merger_add(m, in)...; pp_merger_finish(m, &out).
 * Adding inputs A, B, C gives exactly Go's profile.Merge([A, B, C]): the
 * first input's period type, sample types and drop/keep frames; summed
 * duration; pprof's period and time rules; de-duplicated comments; first
 * non-empty default sample type and doc_url; the first input's first mapping
 * as mapping 1; all-zero samples skipped; identical mappings (size rounded
 * up to 4 KiB, offset, build id or else file), functions, locations and
 * samples (stack + labels) unified; IDs dense in creation order.
 * autopgo merges [new upload, base]: add the upload first.
 * Cost: expected O(total input size) (hash tables keyed by identity).
 */
typedef struct pp_merger pp_merger;

/* Returns a new merger (NULL on allocation failure); free with pp_merger_free. */
pp_merger *pp_merger_new(void);

/*
 * Folds `in` into the result. Takes ownership of `in` and frees it, also on
 * error. Compatibility is checked against the first input added:
 * PP_EINCOMPATIBLE ("incompatible period types cpu/nanoseconds and
 * space/bytes", "incompatible sample types ..."). After an error the merger
 * is unchanged (the failed input contributed nothing) and may go on —
 * except after PP_ENOMEM, which can leave a partly folded input: free the
 * merger then.
 */
int pp_merger_add(pp_merger *m, pp_profile *in, char *err, size_t errlen);

/*
 * Finishes: applies the clean-up pass (zero samples dropped, unreferenced
 * entries removed, IDs dense) and hands the result to *out (owned by the
 * caller). The merger is then empty and must be freed. No inputs → error
 * "no profiles to merge" (PP_EINVAL).
 */
int pp_merger_finish(pp_merger *m, pp_profile **out, char *err, size_t errlen);

/* Frees a merger and anything it holds; NULL is fine. */
void pp_merger_free(pp_merger *m);

/* Convenience: merges n profiles (all consumed, also on error). */
int pp_merge(pp_profile **in, size_t n, pp_profile **out, char *err, size_t errlen);

/*
 * 1 when merging in[0..n) in consecutive runs (pp_merge_tree), or merging
 * them first and the result then with more inputs, gives byte for byte the
 * profile of merging everything one input after the other: every input
 * (NULL entries are ignored) has a non-zero time, a positive period, the
 * same number of sample types and no negative value, and the values are
 * small enough that no sum wraps (per column, the sum over inputs of
 * samples x largest value below 2^62). Otherwise 0. Costs one pass over
 * the values.
 */
int pp_tree_exact(pp_profile *const *in, size_t n);

/*
 * Merges in[0..n) (all non-NULL, all consumed, also on error) like
 * pp_merge, split into up to `threads` consecutive runs merged at the same
 * time on threads (the caller's included), whose results are then merged
 * in order. The result equals pp_merge's when pp_tree_exact(in, n) holds;
 * otherwise (a time of 0, a non-positive period, negative values) header
 * fields or the order of samples may differ, as with Go's profile.Merge of
 * the runs' results. Fewer than 4 inputs or threads < 2: pp_merge.
 */
int pp_merge_tree(pp_profile **in, size_t n, int threads, pp_profile **out, char *err, size_t errlen);

/* ---- Prune ---- */

/* A compiled, ordered list of (drop, keep) rules. */
typedef struct pp_rules pp_rules;

/* Returns an empty rule list (NULL on allocation failure). */
pp_rules *pp_rules_new(void);

/*
 * Appends one rule. `drop` is required; `keep` may be NULL. Patterns are
 * compiled now (PCRE2, unanchored search like Go's MatchString). On a bad
 * pattern returns PP_EREGEX with "bad drop regex \"(x\": missing closing
 * parenthesis at offset 2".
 *
 * Patterns are compiled with PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
 * PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C, so that every pattern Go's
 * RE2 syntax accepts matches the same names: `$` matches only at the very
 * end (not before a final newline), \d \w \s are ASCII like RE2's, `.` does
 * not match a newline, (?i) (?s) (?m) (?U)... behave alike, and `\C` is
 * refused (Go refuses it too). Differences users could hit:
 *  - PCRE2 also ACCEPTS what RE2 refuses: backreferences (\1), look-ahead
 *    and look-behind ((?=x) (?!x) (?<=x) (?<!x)), atomic groups and
 *    possessive quantifiers, recursion, \Z, (?<name>...) and (?'name'...).
 *    A rule file using them works here but fails in Go's pprof/autopgo.
 *  - PCRE2 backtracks: a pathological pattern (e.g. (a+)+$) can be slow on
 *    long names where RE2 is linear; PCRE2's match limit then makes
 *    pp_prune fail with PP_EREGEX instead of hanging.
 *  - Unicode classes (\pL, \p{Greek}) use PCRE2's Unicode tables, which may
 *    be a different Unicode version than Go's.
 *  - In names that are not valid UTF-8, Go reads each bad byte as U+FFFD (so
 *    `.` matches it); PCRE2 matches nothing across a bad byte. Go
 *    toolchains write valid UTF-8 names, so this only affects odd inputs.
 * The name matched is pprof's simplified name (see pp_simplify_name), so a
 * pointer-receiver method `pkg.(*T).M` is matched as `pkg.`.
 */
int pp_rules_add(pp_rules *r, const char *drop, const char *keep, char *err, size_t errlen);
size_t pp_rules_count(const pp_rules *r);
void pp_rules_free(pp_rules *r);

/*
 * Applies the rules in order to p with pprof's Prune semantics, then compacts
 * p (samples whose stacks became identical are aggregated, unreferenced
 * entries dropped, zero samples dropped, IDs renumbered; the same as a
 * merge of p alone). rules may be NULL or empty: then p is left untouched.
 * Errors: PP_EREGEX when PCRE2 fails while matching (e.g. its match limit),
 * PP_ENOMEM. If compaction runs out of memory p is left an empty profile.
 */
int pp_prune(pp_profile *p, const pp_rules *rules, char *err, size_t errlen);

/* What pp_prune_skipping left out: names a rule could not be evaluated on. */
typedef struct pp_prune_skips {
  size_t count;            /* (rule, function name) pairs skipped */
  char first_name[200];    /* the first such name (cut to fit) */
  char first_error[160];   /* and PCRE2's error for it ("PCRE2 error -47: match limit exceeded") */
} pp_prune_skips;

/*
 * pp_prune for untrusted profiles: when PCRE2 cannot evaluate a rule on a
 * function name (its match limit, say), the rule does not apply to that
 * name (as if it did not match) instead of failing the whole prune; such
 * names are counted in *skips (always filled) for the caller to report.
 * A name coming from one upload can then never stop an app's merges.
 * Errors: PP_ENOMEM only.
 */
int pp_prune_skipping(pp_profile *p, const pp_rules *rules, pp_prune_skips *skips, char *err,
                      size_t errlen);

/*
 * pp_prune without the compaction: exactly what Go's Prune leaves (duplicate
 * stacks stay separate samples, unreferenced entries stay). For comparisons
 * with Go and for callers that merge right after anyway. On error p may be
 * partly pruned (only when a regex match fails at run time).
 */
int pp_prune_nocompact(pp_profile *p, const pp_rules *rules, char *err, size_t errlen);

/*
 * pprof's simplified function name, the text prune rules are matched
 * against: one leading '.' removed, then cut before the first '(' that does
 * not start "(anonymous namespace)" or "operator()". Returns its length and
 * sets *start (pointing into name, not NUL-terminated at the cut).
 */
size_t pp_simplify_name(const char *name, size_t len, const char **start);

/* ---- Column arithmetic (scale.c) ---- */

/*
 * Multiplies every sample's value in column j by factors[j], in place, for
 * each of the profile's nfactors == pp_sample_type_count(p) columns (else
 * PP_EINVAL). Factor 1 keeps a column, 0 zeroes it, -1 negates it, so that
 * a merge that follows subtracts it: the delta of two cumulative snapshots
 * is pp_merge([cur, prev scaled by -1 on its cumulative columns, 0 on its
 * gauge columns]). Arithmetic wraps on 64-bit overflow (as pp_total does).
 * Samples whose values all become zero are kept here; a merge (or pp_prune)
 * drops them, as Go's Merge does. Cost: O(samples x columns), no allocation.
 */
int pp_scale_columns(pp_profile *p, const int64_t *factors, size_t nfactors, char *err, size_t errlen);

/*
 * The smallest value of column vi over all samples: negative after a
 * subtraction means a value went down (a restarted process). 0 when the
 * profile has no samples or vi is out of range. Cost: O(samples).
 */
int64_t pp_column_min(const pp_profile *p, size_t vi);

/*
 * Sets the header's time_nanos and duration_nanos (e.g. the window of a
 * delta made by subtraction: a merge keeps the earliest time and sums the
 * durations, which for snapshots without a duration is 0).
 */
void pp_set_time(pp_profile *p, int64_t time_nanos, int64_t duration_nanos);

/* ---- A comment appended to encoded bytes (append.c) ---- */

/*
 * The number of string_table entries in the bytes p was decoded from, as
 * they were on the wire (duplicates included); 0 for a profile pp_decode
 * did not make. Changes to p after decoding do not change it.
 */
size_t pp_wire_string_count(const pp_profile *p);

/*
 * Writes into *out (malloc'd, the caller's; free()) the encoded profile
 * in[0..len) followed by bytes that add `comment` to it: one more
 * string_table entry, at index nstrings, and one comment referring to it
 * (concatenated protobuf messages merge; repeated fields append). nstrings
 * must be the message's string count (pp_wire_string_count of its decode),
 * else the comment points at the wrong string. A gzipped input (magic
 * 1f 8b) gets the bytes as a second gzip member (one stored deflate block):
 * Go's pprof and pp_decode read concatenated members as one stream; a raw
 * input gets them raw. The input bytes are copied unchanged, so the result
 * starts with them. Cost: one copy of the input, O(comment) otherwise.
 */
int pp_append_comment(const uint8_t *in, size_t len, size_t nstrings, const char *comment, uint8_t **out,
                      size_t *outlen, char *err, size_t errlen);

/*
 * A deep copy of p (owned by the caller, pp_free), equal to p in every
 * respect, or NULL when out of memory (or p is NULL). Cheaper than an
 * encode and decode: the arrays are copied as they are. Cost: O(size of p).
 */
pp_profile *pp_clone(const pp_profile *p);

#ifdef __cplusplus
}
#endif
#endif
