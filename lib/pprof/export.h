/*
 * export.h — a decoded profile written in the formats other profiling tools
 * read, and as the call-tree JSON of pgopipe's web UI.
 *
 *   folded      flamegraph.pl / inferno "collapsed stacks": `root;...;leaf VALUE`
 *   speedscope  speedscope's file format (https://www.speedscope.app/file-format-schema.json)
 *   chrome      a Chrome DevTools .cpuprofile (CPU profiles only)
 *   pprof       the profile itself, gzipped profile.proto (the default of reads)
 *   tree        the UI's JSON: call tree with small nodes collapsed, top table,
 *               sample types and totals; and its two-profile diff form
 *
 * Like the rest of the engine these are pure functions: a profile in, bytes
 * out, no I/O, no globals (the format table is constant data).
 *
 * Frames. Every writer expands a location into one frame per line, so
 * functions the compiler inlined appear as frames of their own, as in
 * `go tool pprof` reports and flame graphs (a location's lines are stored
 * innermost first; stacks are written root first, so both the sample's
 * locations and each location's lines are reversed). A frame is named by
 * its function's name. A location without lines (not symbolized) and a
 * function without a name get the frame "[FILE]" — the base name of the
 * location's mapping file, as pprof's reports name them — or "<unknown>"
 * when there is no mapping file; a sample without locations gets the single
 * frame "[no stack]", so that nothing is lost and every format adds up to
 * the profile's totals. Names that are not valid UTF-8 have each invalid
 * byte replaced by U+FFFD in every format. Labels are not exported: samples
 * that differ only in labels are added up.
 *
 * Identity. folded and tree merge frames by name (as pprof's flame graph and
 * -top do: two functions of the same name are one node); speedscope and
 * chrome keep functions of the same name in different files or at different
 * start lines apart (their frames carry file and line).
 *
 * Determinism. The output depends only on the profile and the options:
 * folded lines are sorted by their frames (compared frame by frame, byte by
 * byte, a stack before its extensions), tree children by decreasing total
 * then name, and the other formats walk the call tree in the folded order.
 *
 * Errors: 0 (PP_OK) or a negative PP_E* code, with a one-line message in the
 * caller's buffer (err may be NULL). Output: *out is a malloc'd buffer of
 * *outlen bytes OWNED BY THE CALLER (free()); on error *out is NULL.
 * The profile is only read: several exports of one profile may run on
 * different threads at once.
 *
 * Cost: each writer builds the call tree once — at most O(samples × stack
 * depth) hash-table steps, fewer where stacks share their outer frames —
 * then writes in time linear in its output. On the 4 MB-raw merged CPU base
 * of tests/bench (53k samples, 30k locations, 110k call-tree nodes; 2
 * shared cores) the tree JSON with min_share 0.001 takes ~22 ms from the
 * decoded profile (decoding: ~17 ms), folded and speedscope ~48 ms, chrome
 * ~60 ms (tests/bench/export-bench.results).
 */
#ifndef PGOPIPE_PPROF_EXPORT_H
#define PGOPIPE_PPROF_EXPORT_H

#include "pprof.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* chrome: the default bound on the number of samples written (see pp_export_chrome). */
#define PP_EXPORT_CHROME_MAX_SAMPLES 1000000u

/* Options of every writer. Zero-initialised means defaults; each writer reads
 * the fields its documentation names and ignores the others. */
typedef struct pp_export_opts {
  /* folded, tree, diff: the sample type, by type name ("alloc_space") or
   * decimal index ("2"); NULL or "" = the profile's default sample type
   * (pp_default_value_index). */
  const char *sample_type;
  /* speedscope: the file's "name" (shown by speedscope); NULL = "profile". */
  const char *name;
  /* chrome: most samples written; 0 = PP_EXPORT_CHROME_MAX_SAMPLES; at most 2^32 - 1. */
  size_t max_samples;
  /* tree, diff: nodes whose |total| is below min_share × |profile total| are
   * collapsed into one "other" child of their parent; 0 keeps every node.
   * Must be in [0, 1]. */
  double min_share;
  /* tree, diff: rows of the top table; 0 = every function. */
  size_t max_top;
  /* Formats that trim stacks to their leaf-most locations (pgo): how many to
   * keep (0 = all), used when keep_set is non-zero (else the format's
   * default, 2 for pgo). Ignored by the other formats. */
  int keep;
  int keep_set;
} pp_export_opts;

/*
 * Finds the sample type `name` names (see pp_export_opts.sample_type) in p.
 * Returns 0 and *vi, or PP_EINVAL with "sample type \"x\" is not in the
 * profile (it has samples, cpu)". A profile without sample types has no
 * values: NULL/"" then gives index 0, and every export of it is empty.
 */
int pp_export_value_index(const pp_profile *p, const char *name, size_t *vi, char *err, size_t errlen);

/*
 * folded: one line per distinct stack, `root;...;leaf VALUE\n`, VALUE the
 * sum of the chosen sample type (opts->sample_type) over the samples with
 * that stack, in decimal (negative values are written, zero ones omitted),
 * so the values add up to pp_total (64-bit wrapping). Lines are sorted (see
 * Determinism above). Frame names are made safe for the format: ';' becomes
 * ':' and every control character (U+0000-U+001F, U+007F: newline, tab...)
 * becomes a space; stacks that become equal by this are one line.
 * opts may be NULL. An empty profile gives an empty output (*outlen 0).
 */
int pp_export_folded(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen);

/*
 * speedscope: a speedscope file (schema above) with one "sampled" profile
 * per sample type, in the profile's order, named by the type, and
 * activeProfileIndex = the default sample type. Frames are shared: one per
 * distinct (function name, file, start line), with "file" and "line" left out
 * when unknown. Each profile lists the distinct stacks (frame indexes, root
 * first) whose value of its type is non-zero, with that value as weight;
 * startValue is 0 and endValue the sum of the weights (= pp_total). Units
 * map to speedscope's: nanoseconds, microseconds, milliseconds, seconds and
 * bytes (also their abbreviations ns, us, ms, s, B) as such, anything else
 * (count...) to "none". Reads opts->name.
 */
int pp_export_speedscope(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                         char *err, size_t errlen);

/*
 * chrome: a Chrome DevTools CPU profile (.cpuprofile, the JSON of the
 * DevTools protocol's Profiler.Profile): {"nodes","startTime","endTime",
 * "samples","timeDeltas"}. The nodes are the call tree (node 1 is "(root)"),
 * numbered in depth-first order, each with callFrame {functionName, scriptId
 * (one per source file, "0" for none), url (the file), lineNumber and
 * columnNumber (the function's start line, 0-based, and 0; -1 and -1 when
 * unknown)}, hitCount and the ids of its children.
 *
 * p must be a CPU profile: a sample type samples/count (the hit counts)
 * and a period type in nanoseconds; otherwise PP_EINCOMPATIBLE. Negative
 * counts (a difference of profiles) are refused (PP_EINVAL). Times are in
 * microseconds: startTime is the profile's time (0 when unset), and the
 * profile lasts the CPU time it records — the sum of its cpu/nanoseconds
 * sample type when it has one (0 if that sum is negative), else hits ×
 * period — divided by 1000 and rounded down; endTime - startTime is
 * exactly that.
 *
 * One sample is written per hit (node ids, in depth-first order), so that
 * hitCount = the number of samples naming the node, and timeDeltas spread the
 * profile's time evenly over them (each delta the rounded-down share, the
 * rounding carried so the deltas add up exactly). A profile with more hits
 * than opts->max_samples (default PP_EXPORT_CHROME_MAX_SAMPLES, about 14 MB
 * of output) is scaled down to exactly that many samples, each node's hits
 * rounded in depth-first order with the rounding carried (so every node keeps
 * its share within one sample); hitCounts are then the scaled counts and the
 * total time stays that of the profile.
 */
int pp_export_chrome(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen);

/*
 * pprof: pp_encode at the default level (the profile as it is, gzipped).
 */
int pp_export_pprof(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                    char *err, size_t errlen);

/*
 * tree: the web UI's JSON, for the chosen sample type (opts->sample_type):
 *
 *   {"version":1,
 *    "sampleTypes":[{"type":"samples","unit":"count","total":N},...],
 *    "sampleType":I (-1 when there are none), "unit":"nanoseconds", "total":T,
 *    "periodType":{"type":"cpu","unit":"nanoseconds"}, "period":P,
 *    "durationNanos":D, "timeNanos":S, "minShare":F,
 *    "names":["all","runtime.main",...],
 *    "nodes":[[NAME,PARENT,SELF,TOTAL],...],
 *    "top":[[NAME,FLAT,FLATPCT,SUMPCT,CUM,CUMPCT],...], "functions":K}
 *
 * nodes: the call tree in depth-first order (a node's index is greater than
 * its parent's; children by decreasing |total|, then name). Node 0 is the
 * root "all" (PARENT -1, TOTAL = T, SELF 0). NAME
 * indexes "names"; NAME -1 marks an "other" node: the children of PARENT
 * whose |total| is below minShare × |T|, collapsed into one node with
 * SELF = TOTAL = their sum (their subtrees are dropped), placed after its
 * kept siblings. So at every node
 * TOTAL = SELF + the children's TOTALs, with or without collapsing.
 * top: like `go tool pprof -top` on the whole profile (not collapsed): per
 * function name, FLAT (value where it is the leaf frame), CUM (value of the
 * samples it appears in, once per sample), and FLATPCT, SUMPCT (running sum of
 * FLATPCT), CUMPCT in percent of T with two decimals; sorted as pprof
 * sorts -top: by |FLAT| decreasing, then name; functions with FLAT and CUM
 * both zero left out; at most opts->max_top rows. "functions" is the
 * number of rows before that cut.
 *
 * Reads opts->sample_type, min_share, max_top. PP_EINVAL for a bad
 * sample_type or min_share.
 */
int pp_export_tree(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                   char *err, size_t errlen);

/*
 * diff: the tree JSON of two profiles in one tree, so a page can color nodes
 * by change. The sample type is chosen in `cur` (opts->sample_type); `base`
 * must have one of the same type and unit (else PP_EINCOMPATIBLE, e.g. a CPU
 * profile against a heap profile). The JSON is the tree's with:
 *   "base":{"sampleTypes":[...],"sampleType":J,"total":B,"durationNanos":..,"timeNanos":..},
 *   nodes [NAME,PARENT,SELF,TOTAL,BASESELF,BASETOTAL] (SELF/TOTAL of cur),
 *   top rows [NAME,FLAT,FLATPCT,SUMPCT,CUM,CUMPCT,BASEFLAT,BASECUM]
 *   (percentages of cur's total; rows sorted by cur's values, functions that
 *   only occur in base included).
 * A node is collapsed when both its |TOTAL| < minShare × |T| and its
 * |BASETOTAL| < minShare × |B|.
 */
int pp_export_diff(const pp_profile *base, const pp_profile *cur, const pp_export_opts *opts, uint8_t **out,
                   size_t *outlen, char *err, size_t errlen);

/* ---- The format table: what `pgopipe export -f` and the read route offer ---- */

typedef int (*pp_export_fn)(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                            char *err, size_t errlen);

/* Which pp_export_opts fields a format reads (pp_export_format.reads), so a
 * front end can refuse an option that would have no effect. */
enum {
  PP_EXPORT_READS_SAMPLE_TYPE = 1, /* sample_type */
  PP_EXPORT_READS_NAME = 2,        /* name */
  PP_EXPORT_READS_MAX_SAMPLES = 4, /* max_samples */
  PP_EXPORT_READS_KEEP = 8         /* keep */
};

typedef struct pp_export_format {
  const char *name;       /* "folded", the value of -f / ?format= */
  const char *media_type; /* HTTP Content-Type */
  const char *suffix;     /* file name suffix: ".folded", ".speedscope.json", ... */
  const char *summary;    /* one line for --help */
  unsigned reads;         /* PP_EXPORT_READS_* */
  pp_export_fn write;
} pp_export_format;

/* The formats, in a fixed order: pprof, folded, speedscope, chrome. More
 * formats are added as rows of the table in export.c. */
size_t pp_export_format_count(void);
/* The i-th format (NULL when i is out of range). */
const pp_export_format *pp_export_format_at(size_t i);
/* The format called `name` (exact match), or NULL. */
const pp_export_format *pp_export_format_find(const char *name);

#ifdef __cplusplus
}
#endif
#endif
