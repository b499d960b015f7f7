/*
 * rules.h — the worker's prune rules: which frames to cut from each app's
 * base profile after every merge.
 *
 * The file format is autopgo's (`--prune FILE`), a JSON array of apps, each
 * with an ordered list of (drop, keep) regular expressions:
 *
 *   [{"app": "example", "rules": [{"drop": "^runtime\\.", "keep": "^runtime\\.mallocgc$"}]}]
 *
 * Rules are compiled once, when the file is loaded, into one pp_rules list
 * per app (the engine's compiled form), so a bad regex is reported at start
 * or on reload, never in the middle of a merge. Loading is all or nothing:
 * any error (invalid JSON, a missing or mistyped field, an app named twice, a
 * regex that does not compile) rejects the whole file with one message that
 * names the file, the app, the rule index and, for a regex, the offset of the
 * error — so a reload with a broken file can keep the old rules.
 *
 * Thread safety: a loaded rules_set is immutable; it may be read from any
 * thread. Reloading builds a new set and swaps pointers (the caller's job).
 */
#ifndef PGOPIPE_RULES_H
#define PGOPIPE_RULES_H

#include <stddef.h>

#include "pprof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest rules file accepted (bytes); a bigger one is an error. */
#define RULES_MAX_FILE_BYTES ((size_t)4 << 20)

/* The compiled rules of every app in one file. Opaque, immutable once built. */
typedef struct rules_set rules_set;

/*
 * Parses a rules document held in memory. `name` is used in messages (the
 * file name). On success *out is a new set owned by the caller (rules_free).
 * On failure returns a negative code (-1 syntax/shape, PP_EREGEX for a bad
 * pattern, PP_ENOMEM) and writes e.g.
 *   "prune rules /etc/p.json: app \"web\" rule 1: bad drop regex \"(x\":
 *    missing closing parenthesis at offset 2"
 * An empty array is a valid, empty set.
 */
int rules_parse(const char *json, size_t len, const char *name, rules_set **out,
                char *err, size_t errlen);

/* Reads and parses a rules file (see rules_parse); errors name the file. */
int rules_load(const char *path, rules_set **out, char *err, size_t errlen);

/* The app's compiled rules, or NULL when the set has none for it. The
 * pointer is owned by the set and valid while the set lives. */
const pp_rules *rules_for_app(const rules_set *s, const char *app);

/* Number of apps, and of rules in total (for logs). */
size_t rules_app_count(const rules_set *s);
size_t rules_rule_count(const rules_set *s);

/* Frees a set; NULL is fine. */
void rules_free(rules_set *s);

#ifdef __cplusplus
}
#endif
#endif
