/*
 * rules.c — loads autopgo's prune rules file into compiled per-app rule lists.
 *
 * The whole file is validated and compiled before anything is returned, so a
 * caller either gets a complete, usable set or an error and keeps what it
 * had. Apps are few (one entry per service), so lookup is a linear scan of a
 * small array: simpler than a hash table and as fast at this size.
 */
#include "rules.h"

#include "errbuf.h"
#include "layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct rules_app {
  char *app;
  pp_rules *rules;
} rules_app;

struct rules_set {
  rules_app *apps;
  size_t n;
  size_t total;
};

void rules_free(rules_set *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->apps[i].app);
    pp_rules_free(s->apps[i].rules);
  }
  free(s->apps);
  free(s);
}

/* Reads an optional/required string member; returns 1 present, 0 absent,
 * -1 present but not a string. */
static int get_str(json_t *obj, const char *field, const char **out) {
  json_t *v = json_object_get(obj, field);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) return -1;
  *out = json_string_value(v);
  return 1;
}

/* Compiles the (drop, keep) pairs of one app's "rules" array into ra,
 * counting them in *total. Returns 0, -1 (shape) or the engine's code. */
static int add_rules(rules_app *ra, json_t *list, const char *name, const char *app, size_t *total,
                     char *err, size_t errlen) {
  for (size_t r = 0; r < json_array_size(list); r++) {
    json_t *rule = json_array_get(list, r);
    if (!json_is_object(rule)) {
      errbuf_set(err, errlen, "prune rules %s: app \"%s\" rule %zu: expected an object", name, app,
                 r);
      return -1;
    }
    const char *drop, *keep;
    int gd = get_str(rule, "drop", &drop);
    if (gd <= 0 || !drop[0]) {
      errbuf_set(err, errlen, "prune rules %s: app \"%s\" rule %zu: %s \"drop\"", name, app, r,
                 gd == 0  ? "missing"
                 : gd < 0 ? "non-string"
                          : "empty");
      return -1;
    }
    int gk = get_str(rule, "keep", &keep);
    if (gk < 0) {
      errbuf_set(err, errlen, "prune rules %s: app \"%s\" rule %zu: non-string \"keep\"", name, app,
                 r);
      return -1;
    }
    if (keep && !keep[0])
      keep = NULL; /* "" = no keep pattern */
    char rerr[512];
    rerr[0] = 0;
    int prc = pp_rules_add(ra->rules, drop, keep, rerr, sizeof rerr);
    if (prc != PP_OK) {
      errbuf_set(err, errlen, "prune rules %s: app \"%s\" rule %zu: %s", name, app, r,
                 rerr[0] ? rerr : pp_strerror(prc));
      return prc;
    }
    (*total)++;
  }
  return 0;
}

int rules_parse(const char *json, size_t len, const char *name, rules_set **out,
                char *err, size_t errlen) {
  *out = NULL;
  if (!name) name = "(rules)";
  json_error_t je;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    errbuf_set(err, errlen, "prune rules %s: invalid JSON at line %d column %d: %s", name, je.line,
               je.column, je.text);
    return -1;
  }
  int rc = -1;
  rules_set *s = calloc(1, sizeof *s);
  if (!s) {
    rc = PP_ENOMEM;
    errbuf_set(err, errlen, "prune rules %s: out of memory", name);
    goto out;
  }
  if (!json_is_array(root)) {
    errbuf_set(err, errlen,
               "prune rules %s: expected a JSON array of {\"app\": ..., \"rules\": [...]}", name);
    goto out;
  }
  size_t napps = json_array_size(root);
  if (napps) {
    s->apps = calloc(napps, sizeof *s->apps);
    if (!s->apps) {
      rc = PP_ENOMEM;
      errbuf_set(err, errlen, "prune rules %s: out of memory", name);
      goto out;
    }
  }
  for (size_t i = 0; i < napps; i++) {
    json_t *entry = json_array_get(root, i);
    if (!json_is_object(entry)) {
      errbuf_set(err, errlen, "prune rules %s: entry %zu: expected an object", name, i);
      goto out;
    }
    const char *app;
    int g = get_str(entry, "app", &app);
    if (g <= 0) {
      errbuf_set(err, errlen, "prune rules %s: entry %zu: %s \"app\"", name, i,
                 g == 0 ? "missing" : "non-string");
      goto out;
    }
    if (!layout_app_valid(app)) {
      errbuf_set(err, errlen,
                 "prune rules %s: entry %zu: app \"%.80s\" is not a valid app name "
                 "(^[a-z0-9-]{1,63}$)",
                 name, i, app);
      goto out;
    }
    for (size_t k = 0; k < s->n; k++) {
      if (strcmp(s->apps[k].app, app) == 0) {
        errbuf_set(err, errlen, "prune rules %s: app \"%s\" is listed twice (entries %zu and %zu)",
                   name, app, k, i);
        goto out;
      }
    }
    json_t *list = json_object_get(entry, "rules");
    if (!list) {
      errbuf_set(err, errlen, "prune rules %s: app \"%s\": missing \"rules\"", name, app);
      goto out;
    }
    if (!json_is_array(list)) {
      errbuf_set(err, errlen, "prune rules %s: app \"%s\": \"rules\" must be an array", name, app);
      goto out;
    }
    rules_app *ra = &s->apps[s->n];
    ra->app = strdup(app);
    ra->rules = pp_rules_new();
    s->n++;
    if (!ra->app || !ra->rules) {
      rc = PP_ENOMEM;
      errbuf_set(err, errlen, "prune rules %s: out of memory", name);
      goto out;
    }
    rc = add_rules(ra, list, name, app, &s->total, err, errlen);
    if (rc != 0)
      goto out;
    rc = -1;
  }
  rc = 0;
  *out = s;
  s = NULL;
out:
  rules_free(s);
  json_decref(root);
  return rc;
}

int rules_load(const char *path, rules_set **out, char *err, size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    errbuf_set(err, errlen, "prune rules %s: %s", path, strerror(errno));
    return -1;
  }
  /* Read at most one byte past the limit, so a file of exactly the limit is
   * accepted and one byte more is refused. */
  size_t cap = 4096, len = 0, max = RULES_MAX_FILE_BYTES;
  char *buf = malloc(cap);
  int rc = 0;
  while (buf) {
    if (len == cap) {
      size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
      char *nb = realloc(buf, ncap);
      if (!nb) { free(buf); buf = NULL; break; }
      buf = nb;
      cap = ncap;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (len > max) {
      errbuf_set(err, errlen, "prune rules %s: larger than %zu bytes", path, max);
      rc = -1;
      break;
    }
    if (n == 0) {
      if (ferror(f)) {
        errbuf_set(err, errlen, "prune rules %s: read error: %s", path, strerror(errno));
        rc = -1;
      }
      break;
    }
  }
  fclose(f);
  if (!buf) {
    errbuf_set(err, errlen, "prune rules %s: out of memory", path);
    return PP_ENOMEM;
  }
  if (rc == 0) rc = rules_parse(buf, len, path, out, err, errlen);
  free(buf);
  return rc;
}

const pp_rules *rules_for_app(const rules_set *s, const char *app) {
  if (!s || !app) return NULL;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->apps[i].app, app) == 0) return s->apps[i].rules;
  return NULL;
}

size_t rules_app_count(const rules_set *s) { return s ? s->n : 0; }
size_t rules_rule_count(const rules_set *s) { return s ? s->total : 0; }
