/*
 * prune.c — pprof's Prune(drop, keep), then compaction.
 *
 * Each rule is a pair of PCRE2 patterns used as an unanchored search on a
 * function's "simplified" name (one leading '.' removed, cut before the first
 * '(' that does not start "(anonymous namespace)" or "operator()"). Per rule:
 *   1. every location is classified, scanning its lines from the outermost:
 *      the first line whose name matches drop and not keep is the hit; a hit
 *      on the outermost line drops the whole location, a hit on an inner line
 *      trims the location's lines in place to those outside the hit;
 *   2. every sample's stack is walked from the root; after the first user
 *      (non-hit) location, the first hit location cuts the stack: a dropped
 *      location is removed with everything leafward of it, a trimmed one is
 *      kept as the new leaf.
 * Match results are cached per function name (interned, so per string id).
 * Stacks and line lists are cut by moving offsets; nothing is copied.
 * After all rules the profile is compacted (a merge of the profile alone),
 * which aggregates samples whose stacks became identical and drops entries
 * nothing references — Go's Prune leaves both to the next merge.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "internal.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct rule {
  pcre2_code *drop, *keep;
} rule;

struct pp_rules {
  rule *r;
  size_t n, cap;
};

pp_rules *pp_rules_new(void) { return calloc(1, sizeof(pp_rules)); }

size_t pp_rules_count(const pp_rules *r) { return r ? r->n : 0; }

void pp_rules_free(pp_rules *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) {
    pcre2_code_free(r->r[i].drop);
    pcre2_code_free(r->r[i].keep);
  }
  free(r->r);
  free(r);
}

/* Options chosen to behave like Go's RE2 on the patterns both accept:
 * UTF-8 mode with invalid bytes tolerated in subjects, `$` only at the very
 * end, no `\C`. */
static int compile(const char *pat, const char *what, pcre2_code **out, char *err, size_t errlen) {
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C,
                                &ec, &eo, NULL);
  if (!c) {
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0) snprintf((char *)msg, sizeof(msg), "error %d", ec);
    return pp_err(err, errlen, PP_EREGEX, "bad %s regex \"%s\": %s at offset %zu", what, pat, (char *)msg,
                  (size_t)eo);
  }
  /* No JIT: matches run once per distinct function name, so the interpreter
   * is fast enough, and JIT code may read a few bytes past the subject. */
  *out = c;
  return PP_OK;
}

int pp_rules_add(pp_rules *r, const char *drop, const char *keep, char *err, size_t errlen) {
  if (!r || !drop) return pp_err(err, errlen, PP_EINVAL, "pp_rules_add: a drop regex is required");
  rule nr = {0};
  int rc = compile(drop, "drop", &nr.drop, err, errlen);
  if (rc) return rc;
  if (keep && (rc = compile(keep, "keep", &nr.keep, err, errlen))) {
    pcre2_code_free(nr.drop);
    return rc;
  }
  if (PP_GROW(r->r, r->cap, r->n + 1)) {
    pcre2_code_free(nr.drop);
    pcre2_code_free(nr.keep);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  r->r[r->n++] = nr;
  return PP_OK;
}

size_t pp_simplify_name(const char *name, size_t n, const char **start) {
  static const char anon[] = "(anonymous namespace)";
  static const char op[] = "operator()";
  if (n && name[0] == '.') {
    name++;
    n--;
  }
  *start = name;
  size_t i = 0;
  while (i < n) {
    if (n - i >= sizeof(anon) - 1 && memcmp(name + i, anon, sizeof(anon) - 1) == 0) {
      i += sizeof(anon) - 1;
    } else if (n - i >= sizeof(op) - 1 && memcmp(name + i, op, sizeof(op) - 1) == 0) {
      i += sizeof(op) - 1;
    } else if (name[i] == '(') {
      return i;
    } else {
      i++;
    }
  }
  return n;
}

/* 1 = matches, 0 = not, <0 = matching failed. */
static int search(const pcre2_code *c, pcre2_match_data *md, const char *s, size_t n) {
  int rc = pcre2_match(c, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
  if (rc >= 0) return 1;
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  return rc;
}

enum { LOC_USER = 0, LOC_WHOLE = 1, LOC_CUT = 2 };

/* Notes a name the rule could not be evaluated on (skipped). */
static void note_skip(pp_prune_skips *sk, const pp_profile *p, pp_sid name, int pcre_rc) {
  if (!sk->count) {
    snprintf(sk->first_name, sizeof sk->first_name, "%s", pp_pool_str(&p->sp, name));
    PCRE2_UCHAR msg[120];
    if (pcre2_get_error_message(pcre_rc, msg, sizeof msg) < 0) snprintf((char *)msg, sizeof msg, "error");
    snprintf(sk->first_error, sizeof sk->first_error, "PCRE2 error %d: %s", pcre_rc, (char *)msg);
  }
  sk->count++;
}

static int apply_rule(pp_profile *p, const rule *ru, int8_t *cache, uint8_t *cls, pcre2_match_data *md,
                      pp_prune_skips *sk, char *err, size_t errlen) {
  memset(cache, -1, p->sp.n);
  for (size_t li = 0; li < p->nlocs; li++) {
    pp_location *l = &p->locs[li];
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    long i;
    for (i = (long)l->nlines - 1; i >= 0; i--) {
      pp_sid name = p->funcs[ln[i].func].name;
      if (name == 0) continue;
      if (cache[name] < 0) {
        const char *s;
        size_t n = pp_simplify_name(pp_pool_str(&p->sp, name), pp_pool_len(&p->sp, name), &s);
        int hit = search(ru->drop, md, s, n);
        if (hit == 1 && ru->keep) {
          int k = search(ru->keep, md, s, n);
          if (k < 0) hit = k;
          else if (k == 1) hit = 0;
        }
        if (hit < 0 && !sk)
          return pp_err(err, errlen, PP_EREGEX, "regex matching failed on \"%s\" (PCRE2 error %d)",
                        pp_pool_str(&p->sp, name), hit);
        if (hit < 0) {
          note_skip(sk, p, name, hit);
          hit = 0; /* the rule does not apply to this name */
        }
        cache[name] = (int8_t)hit;
      }
      if (cache[name]) break;
    }
    if (i < 0) {
      cls[li] = LOC_USER;
    } else if (i == (long)l->nlines - 1) {
      cls[li] = LOC_WHOLE;
    } else {
      cls[li] = LOC_CUT;
      l->line_off += (uint32_t)(i + 1);
      l->nlines -= (uint32_t)(i + 1);
    }
  }
  for (size_t si = 0; si < p->nsamples; si++) {
    pp_sample *s = &p->samples[si];
    const uint32_t *L = PP_OFF(p->sloc, s->loc_off);
    bool user = false;
    for (long i = (long)s->nlocs - 1; i >= 0; i--) {
      uint8_t c = cls[L[i]];
      if (c == LOC_USER) {
        user = true;
        continue;
      }
      if (!user) continue;
      uint32_t cut = c == LOC_WHOLE ? (uint32_t)(i + 1) : (uint32_t)i;
      s->loc_off += cut;
      s->nlocs -= cut;
      break;
    }
  }
  return PP_OK;
}

static int prune_nocompact(pp_profile *p, const pp_rules *rules, pp_prune_skips *sk, char *err,
                           size_t errlen) {
  if (!p) return pp_err(err, errlen, PP_EINVAL, "pp_prune: no profile");
  if (!rules || rules->n == 0) return PP_OK;
  int8_t *cache = malloc(p->sp.n ? p->sp.n : 1);
  uint8_t *cls = malloc(p->nlocs ? p->nlocs : 1);
  pcre2_match_data *md = pcre2_match_data_create(1, NULL);
  int rc = PP_OK;
  if (!cache || !cls || !md)
    rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < rules->n; i++)
    rc = apply_rule(p, &rules->r[i], cache, cls, md, sk, err, errlen);
  free(cache);
  free(cls);
  pcre2_match_data_free(md);
  return rc;
}

int pp_prune_nocompact(pp_profile *p, const pp_rules *rules, char *err, size_t errlen) {
  return prune_nocompact(p, rules, NULL, err, errlen);
}

static int prune(pp_profile *p, const pp_rules *rules, pp_prune_skips *sk, char *err, size_t errlen) {
  int rc = prune_nocompact(p, rules, sk, err, errlen);
  if (rc || !rules || rules->n == 0) return rc;
  /* Compact through a merge of p alone, then move the result into *p. */
  pp_profile *tmp = malloc(sizeof(*tmp));
  if (!tmp) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  *tmp = *p;
  memset(p, 0, sizeof(*p));
  rc = pp_compact(&tmp, err, errlen);
  if (rc) {
    /* tmp was consumed; leave p a valid empty profile. */
    if (pp_pool_init(&p->sp, 1, 1)) pp_pool_free(&p->sp);
    return rc;
  }
  *p = *tmp;
  free(tmp);
  return PP_OK;
}

int pp_prune(pp_profile *p, const pp_rules *rules, char *err, size_t errlen) {
  return prune(p, rules, NULL, err, errlen);
}

int pp_prune_skipping(pp_profile *p, const pp_rules *rules, pp_prune_skips *skips, char *err,
                      size_t errlen) {
  memset(skips, 0, sizeof *skips);
  return prune(p, rules, skips, err, errlen);
}
