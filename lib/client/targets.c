/*
 * targets.c — the scraper's targets file (JSON) and target sampling.
 *
 * The file is read whole (it is small and bounded) and checked entry by
 * entry, so that one bad entry is reported with its index and the file is
 * rejected as a whole: a reload never leaves the scraper with half a list.
 */
#include "scrape.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"

void scrape_targets_free(scrape_targets *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) {
    free(t->v[i].address);
    free(t->v[i].path);
  }
  free(t->v);
  t->v = NULL;
  t->n = 0;
}

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int has_ctl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) return 1;
  return 0;
}

int scrape_targets_parse(const char *json, size_t len, const char *name,
                         const scrape_target_limits *lim, scrape_targets *out, char *err,
                         size_t errlen) {
  size_t max_targets = lim && lim->max_targets ? lim->max_targets : SCRAPE_DEFAULT_MAX_TARGETS;
  out->v = NULL;
  out->n = 0;
  if (!name) name = "targets";
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  if (!root) {
    errbuf_set(err, errlen, "%s:%d:%d: not valid JSON: %s", name, je.line, je.column, je.text);
    return CLIENT_EINVAL;
  }
  int rc = CLIENT_EINVAL;
  scrape_targets t = {0};
  if (!json_is_array(root)) {
    errbuf_set(err, errlen, "%s: want a JSON array of {\"address\": ..., \"path\": ...} objects",
               name);
    goto done;
  }
  size_t n = json_array_size(root);
  if (n == 0) {
    errbuf_set(err, errlen, "%s: no targets (the array is empty)", name);
    goto done;
  }
  if (n > max_targets) {
    errbuf_set(err, errlen, "%s: %zu targets, more than the limit of %zu", name, n, max_targets);
    goto done;
  }
  t.v = calloc(n, sizeof *t.v);
  if (!t.v) {
    errbuf_set(err, errlen, "%s: out of memory", name);
    rc = CLIENT_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(root, i);
    if (!json_is_object(e)) {
      errbuf_set(err, errlen, "%s: entry %zu: want an object with \"address\"", name, i);
      goto done;
    }
    json_t *a = json_object_get(e, "address");
    json_t *p = json_object_get(e, "path");
    if (!a) {
      errbuf_set(err, errlen, "%s: entry %zu: \"address\" is missing", name, i);
      goto done;
    }
    const char *as = json_is_string(a) ? json_string_value(a) : NULL;
    size_t al = as ? strlen(as) : 0;
    const char *rest = NULL;
    if (as && strncmp(as, "http://", 7) == 0) rest = as + 7;
    if (as && strncmp(as, "https://", 8) == 0) rest = as + 8;
    if (!rest || !*rest || *rest == '/' || has_ctl(as) || strpbrk(as, "?#")) {
      errbuf_set(err, errlen,
                 "%s: entry %zu: \"address\" must be a URL like \"http://host:port\" "
                 "(http:// or https://, no query)",
                 name, i);
      goto done;
    }
    while (al && as[al - 1] == '/') al--;
    const char *ps = SCRAPE_DEFAULT_PATH;
    if (p && !json_is_null(p)) {
      ps = json_is_string(p) ? json_string_value(p) : NULL;
      if (!ps || ps[0] != '/' || has_ctl(ps) || strchr(ps, '#')) {
        errbuf_set(err, errlen, "%s: entry %zu: \"path\" must be a string starting with '/'", name,
                   i);
        goto done;
      }
    }
    t.v[i].address = dupn(as, al);
    t.v[i].path = dupn(ps, strlen(ps));
    t.n = i + 1;
    if (!t.v[i].address || !t.v[i].path) {
      errbuf_set(err, errlen, "%s: out of memory", name);
      rc = CLIENT_ENOMEM;
      goto done;
    }
  }
  *out = t;
  t.v = NULL;
  t.n = 0;
  rc = CLIENT_OK;
done:
  scrape_targets_free(&t);
  json_decref(root);
  return rc;
}

int scrape_targets_load(const char *path, const scrape_target_limits *lim, scrape_targets *out,
                        char *err, size_t errlen) {
  size_t max = lim && lim->max_file_bytes ? lim->max_file_bytes : SCRAPE_DEFAULT_MAX_FILE_BYTES;
  out->v = NULL;
  out->n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
    return CLIENT_EIO;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    errbuf_set(err, errlen, "%s: not a regular file", path);
    fclose(f);
    return CLIENT_EIO;
  }
  if ((uint64_t)st.st_size > max) {
    errbuf_set(err, errlen, "%s: %lld bytes, more than the limit of %zu", path,
               (long long)st.st_size, max);
    fclose(f);
    return CLIENT_EINVAL;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    fclose(f);
    errbuf_set(err, errlen, "%s: out of memory", path);
    return CLIENT_ENOMEM;
  }
  /* at most the size checked above, even if the file grew since */
  size_t got = fread(buf, 1, (size_t)st.st_size, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr) {
    free(buf);
    errbuf_set(err, errlen, "%s: read error", path);
    return CLIENT_EIO;
  }
  int rc = scrape_targets_parse(buf, got, path, lim, out, err, errlen);
  free(buf);
  return rc;
}

char *scrape_target_url(const scrape_target *t, long seconds) {
  size_t n = strlen(t->address) + strlen(t->path) + 40;
  char *u = malloc(n);
  if (!u) return NULL;
  snprintf(u, n, "%s%s%sseconds=%ld", t->address, t->path, strchr(t->path, '?') ? "&" : "?",
           seconds);
  return u;
}

char *scrape_target_kind_url(const scrape_target *t, const char *kind) {
  /* The path up to its query; its last segment "profile" becomes the kind. */
  size_t pl = strcspn(t->path, "?");
  const char *base = t->path;
  size_t bl = pl;
  static const char seg[] = "/profile";
  if (!(pl >= sizeof seg - 1 && memcmp(t->path + pl - (sizeof seg - 1), seg, sizeof seg - 1) == 0)) {
    base = SCRAPE_DEFAULT_PATH;
    bl = strlen(base);
  }
  bl -= sizeof seg - 1; /* keep the '/' before "profile" out, add it back below */
  size_t n = strlen(t->address) + bl + strlen(kind) + 2;
  char *u = malloc(n);
  if (!u) return NULL;
  snprintf(u, n, "%s%.*s/%s", t->address, (int)bl, base, kind);
  return u;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

size_t scrape_sample(size_t n, size_t k, uint64_t *rng, size_t *idx) {
  if (k == 0 || k > n) k = n;
  for (size_t i = 0; i < n; i++) idx[i] = i;
  for (size_t i = 0; i < k; i++) {
    size_t j = i + (size_t)(xorshift(rng) % (n - i));
    size_t tmp = idx[i];
    idx[i] = idx[j];
    idx[j] = tmp;
  }
  return k;
}
