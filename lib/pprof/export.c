/*
 * export.c — what every export writer shares: the output buffer and JSON
 * strings, the frames a profile's locations expand into and their order,
 * the set-up of one profile's call tree; the pprof, pgo and preprofile
 * writers and the format table. The call tree itself is in
 * export_calltree.c; the other writers have a file each (export_folded.c,
 * export_speedscope.c, export_chrome.c, and export_tree.c for the UI's tree
 * JSON). Semantics and output shapes are documented in export.h.
 *
 * Every writer aggregates the profile into a call tree of frames first (see
 * export_internal.h) and writes from it: identical stacks are added up once
 * there, so output size follows the number of distinct stacks, not samples,
 * and all formats see the same stacks.
 */
#include "export_internal.h"
#include "pgo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- output buffer ---- */

bool ex_reserve(ex_buf *b, size_t more) {
  if (b->oom) return false;
  if (b->cap - b->len >= more) return true;
  if (more > SIZE_MAX / 2 - b->len) {
    b->oom = true;
    return false;
  }
  size_t nc = b->cap < 4096 ? 4096 : b->cap;
  while (nc - b->len < more) nc *= 2;
  char *q = realloc(b->p, nc);
  if (!q) {
    b->oom = true;
    return false;
  }
  b->p = q;
  b->cap = nc;
  return true;
}

void ex_i64(ex_buf *b, int64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) tmp[--i] = '-';
  ex_put(b, tmp + i, sizeof tmp - i);
}

void ex_pct(ex_buf *b, int64_t v, int64_t total) {
  double x = total ? 100.0 * (double)v / (double)total : 0.0;
  if (!isfinite(x)) x = 0;
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, "%.2f", x);
  if (n > 0 && (size_t)n < sizeof tmp) {
    if (!strcmp(tmp, "-0.00")) ex_puts(b, "0.00");
    else ex_put(b, tmp, (size_t)n);
  }
}

size_t ex_utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;      /* no overlong 3-byte forms */
    else if (c == 0xed) hi = 0x9f; /* no surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;      /* no overlong 4-byte forms */
    else if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
  } else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return len;
}

static const char hexd[] = "0123456789abcdef";

void ex_json_str(ex_buf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  if (!ex_reserve(b, n + 2)) return;
  ex_putc(b, '"');
  size_t i = 0;
  while (i < n) {
    /* Runs of plain printable ASCII are copied at once. */
    size_t j = i;
    while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\') j++;
    ex_put(b, s + i, j - i);
    if (j == n) break;
    i = j;
    unsigned c = s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      ex_put(b, e, 2);
      i++;
    } else if (c < 0x20) {
      switch (c) {
      case '\n': ex_put(b, "\\n", 2); break;
      case '\r': ex_put(b, "\\r", 2); break;
      case '\t': ex_put(b, "\\t", 2); break;
      case '\b': ex_put(b, "\\b", 2); break;
      case '\f': ex_put(b, "\\f", 2); break;
      default: {
        char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
        ex_put(b, e, 6);
      }
      }
      i++;
    } else {
      size_t l = ex_utf8_len(s + i, n - i);
      if (l) {
        ex_put(b, s + i, l);
        i += l;
      } else {
        ex_put(b, "\xef\xbf\xbd", 3);
        i++;
      }
    }
  }
  ex_putc(b, '"');
}

int ex_take(ex_buf *b, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
  if (b->oom) {
    ex_buf_free(b);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory writing the export");
  }
  if (!b->p && !ex_reserve(b, 1)) return pp_err(err, errlen, PP_ENOMEM, "out of memory writing the export");
  *out = (uint8_t *)b->p;
  *outlen = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return PP_OK;
}

void ex_buf_free(ex_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- frames ---- */

int ex_frames_init(ex_frames *F, int mode) {
  memset(F, 0, sizeof *F);
  F->mode = mode;
  F->seed = pp_seed();
  return pp_pool_init(&F->names, 256, 8192);
}

void ex_frames_free(ex_frames *F) {
  pp_pool_free(&F->names);
  free(F->f);
  free(F->slots);
  memset(F, 0, sizeof *F);
}

static uint32_t frame_hash(const ex_frames *F, pp_sid name, pp_sid file, int64_t line) {
  return pp_hfin(F->seed, pp_mix(pp_mix(name, file), (uint64_t)line));
}

static int frames_rehash(ex_frames *F) {
  size_t ns = F->nslots ? F->nslots * 2 : 256;
  uint32_t *sl = calloc(ns, sizeof *sl);
  if (!sl) return PP_ENOMEM;
  for (size_t i = 0; i < F->n; i++) {
    size_t h = frame_hash(F, F->f[i].name, F->f[i].file, F->f[i].line) & (ns - 1);
    while (sl[h]) h = (h + 1) & (ns - 1);
    sl[h] = (uint32_t)i + 1;
  }
  free(F->slots);
  F->slots = sl;
  F->nslots = ns;
  return PP_OK;
}

/* The frame (name text, file, line); created when new. */
static int frame_get(ex_frames *F, const char *name, size_t nlen, pp_sid file, int64_t line, uint32_t *out) {
  pp_sid nm;
  int rc = pp_pool_intern(&F->names, name, nlen, &nm);
  if (rc) return rc;
  if ((F->n + 1) * 2 > F->nslots && (rc = frames_rehash(F))) return rc;
  size_t mask = F->nslots - 1;
  size_t h = frame_hash(F, nm, file, line) & mask;
  for (; F->slots[h]; h = (h + 1) & mask) {
    const ex_frame *f = &F->f[F->slots[h] - 1];
    if (f->name == nm && f->file == file && f->line == line) {
      *out = F->slots[h] - 1;
      return PP_OK;
    }
  }
  if (F->n >= UINT32_MAX - 1) return PP_ENOMEM;
  if (PP_GROW(F->f, F->cap, F->n + 1)) return PP_ENOMEM;
  F->f[F->n] = (ex_frame){nm, file, line};
  F->slots[h] = (uint32_t)F->n + 1;
  *out = (uint32_t)F->n++;
  return PP_OK;
}

/* Writes name made valid UTF-8 (and folded-safe) into dst (room: 3 × n). */
static size_t clean_name(const char *name, size_t n, bool folded, char *dst) {
  const unsigned char *s = (const unsigned char *)name;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (folded && c == ';') c = ':';
      else if (folded && (c < 0x20 || c == 0x7f)) c = ' ';
      dst[o++] = (char)c;
      i++;
      continue;
    }
    size_t l = ex_utf8_len(s + i, n - i);
    if (l) {
      memcpy(dst + o, s + i, l);
      o += l;
      i += l;
    } else {
      memcpy(dst + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    }
  }
  return o;
}

/* Frame of a location without lines or of a function without a name:
 * "[base name of the mapping file]" or "<unknown>". */
static int unsym_frame(ex_frames *F, const pp_profile *p, uint32_t mapping, char **tmp, size_t *tcap,
                       uint32_t *out) {
  const char *file = "";
  size_t flen = 0;
  if (mapping != PP_NONE) {
    /* The last element of the path, like Go's filepath.Base: trailing
     * slashes ignored, "/" for a path of slashes only. */
    file = pp_pool_str(&p->sp, p->maps[mapping].file);
    flen = pp_pool_len(&p->sp, p->maps[mapping].file);
    while (flen > 1 && file[flen - 1] == '/') flen--;
    size_t cut = flen;
    while (cut > 0 && file[cut - 1] != '/') cut--;
    if (cut < flen) {
      file += cut;
      flen -= cut;
    }
  }
  if (!flen) return frame_get(F, "<unknown>", 9, 0, 0, out);
  if (PP_GROW(*tmp, *tcap, flen * 3 + 2)) return PP_ENOMEM;
  (*tmp)[0] = '[';
  size_t o = 1 + clean_name(file, flen, F->mode == EX_BY_NAME_FOLDED, *tmp + 1);
  (*tmp)[o++] = ']';
  return frame_get(F, *tmp, o, 0, 0, out);
}

int ex_pmap_build(ex_frames *F, const pp_profile *p, ex_pmap *m, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  m->p = p;
  int rc = PP_ENOMEM;
  char *tmp = NULL;
  size_t tcap = 0;
  uint32_t *ff = malloc((p->nfuncs ? p->nfuncs : 1) * sizeof *ff);
  uint32_t *mf = malloc((p->nmaps + 1) * sizeof *mf);
  m->loc_off = malloc((p->nlocs + 1) * sizeof *m->loc_off);
  size_t nfr = 0;
  for (size_t i = 0; i < p->nlocs; i++) nfr += p->locs[i].nlines ? p->locs[i].nlines : 1;
  m->fr = malloc((nfr ? nfr : 1) * sizeof *m->fr);
  if (!ff || !mf || !m->loc_off || !m->fr || nfr >= UINT32_MAX) goto out;
  for (size_t i = 0; i < p->nfuncs; i++) ff[i] = UINT32_MAX;
  for (size_t i = 0; i <= p->nmaps; i++) mf[i] = UINT32_MAX;
  if ((rc = frame_get(F, "[no stack]", 10, 0, 0, &m->nostack))) goto out;
  size_t o = 0;
  for (size_t i = 0; i < p->nlocs; i++) {
    const pp_location *l = &p->locs[i];
    m->loc_off[i] = (uint32_t)o;
    size_t mi = l->mapping == PP_NONE ? p->nmaps : l->mapping;
    if (l->nlines == 0) {
      if (mf[mi] == UINT32_MAX && (rc = unsym_frame(F, p, l->mapping, &tmp, &tcap, &mf[mi]))) goto out;
      m->fr[o++] = mf[mi];
      continue;
    }
    const pp_line *ln = PP_OFF(p->lines, l->line_off);
    for (size_t k = l->nlines; k-- > 0;) {
      uint32_t fi = ln[k].func;
      const pp_function *fn = &p->funcs[fi];
      size_t nlen = pp_pool_len(&p->sp, fn->name);
      if (nlen == 0) {
        if (mf[mi] == UINT32_MAX && (rc = unsym_frame(F, p, l->mapping, &tmp, &tcap, &mf[mi]))) goto out;
        m->fr[o++] = mf[mi];
        continue;
      }
      if (ff[fi] == UINT32_MAX) {
        if (PP_GROW(tmp, tcap, nlen * 3)) goto out;
        size_t cl = clean_name(pp_pool_str(&p->sp, fn->name), nlen, F->mode == EX_BY_NAME_FOLDED, tmp);
        bool frm = F->mode == EX_BY_FRAME;
        if ((rc = frame_get(F, tmp, cl, frm ? fn->filename : 0, frm && fn->start_line > 0 ? fn->start_line : 0,
                            &ff[fi])))
          goto out;
      }
      m->fr[o++] = ff[fi];
    }
  }
  m->loc_off[p->nlocs] = (uint32_t)o;
  rc = PP_OK;
out:
  free(ff);
  free(mf);
  free(tmp);
  if (rc) {
    ex_pmap_free(m);
    return pp_err(err, errlen, rc, "out of memory listing the profile's frames");
  }
  return PP_OK;
}

void ex_pmap_free(ex_pmap *m) {
  free(m->loc_off);
  free(m->fr);
  m->loc_off = m->fr = NULL;
}

typedef struct rank_ent {
  const char *s;
  size_t len;
  const char *file;
  size_t flen;
  int64_t line;
  uint32_t id;
} rank_ent;

static int rank_cmp(const void *x, const void *y) {
  const rank_ent *a = x, *b = y;
  int c = pp_bytes_cmp(a->s, a->len, b->s, b->len);
  if (!c) c = pp_bytes_cmp(a->file, a->flen, b->file, b->flen);
  if (!c && a->line != b->line) c = a->line < b->line ? -1 : 1;
  if (!c) c = a->id < b->id ? -1 : a->id > b->id;
  return c;
}

int ex_frames_rank(const ex_frames *F, const pp_profile *p, uint32_t **rank) {
  rank_ent *e = malloc((F->n ? F->n : 1) * sizeof *e);
  uint32_t *r = malloc((F->n ? F->n : 1) * sizeof *r);
  if (!e || !r) {
    free(e);
    free(r);
    return PP_ENOMEM;
  }
  for (size_t i = 0; i < F->n; i++) {
    const ex_frame *f = &F->f[i];
    e[i] = (rank_ent){pp_pool_str(&F->names, f->name), pp_pool_len(&F->names, f->name), "", 0, f->line,
                      (uint32_t)i};
    if (p && f->file) {
      e[i].file = pp_pool_str(&p->sp, f->file);
      e[i].flen = pp_pool_len(&p->sp, f->file);
    }
  }
  qsort(e, F->n, sizeof *e, rank_cmp);
  for (size_t i = 0; i < F->n; i++) r[e[i].id] = (uint32_t)i;
  free(e);
  *rank = r;
  return PP_OK;
}

/* ---- shared set-up ---- */

int pp_export_value_index(const pp_profile *p, const char *name, size_t *vi, char *err, size_t errlen) {
  if (!p || !vi) return pp_err(err, errlen, PP_EINVAL, "pp_export_value_index: bad arguments");
  if (!name || !*name) {
    *vi = pp_default_value_index(p);
    return PP_OK;
  }
  size_t n = 0;
  const char *c = name;
  for (; *c >= '0' && *c <= '9' && n < 1000000; c++) n = n * 10 + (size_t)(*c - '0');
  if (!*c) {
    if (n < p->nstypes) {
      *vi = n;
      return PP_OK;
    }
  } else {
    for (size_t i = 0; i < p->nstypes; i++)
      if (!strcmp(pp_pool_str(&p->sp, p->stypes[i].type), name)) {
        *vi = i;
        return PP_OK;
      }
  }
  char have[256] = "";
  size_t o = 0;
  for (size_t i = 0; i < p->nstypes && o + 1 < sizeof have; i++) {
    int w = snprintf(have + o, sizeof have - o, "%s%s", i ? ", " : "", pp_pool_str(&p->sp, p->stypes[i].type));
    if (w < 0) break;
    o += (size_t)w;
  }
  if (o >= sizeof have) o = sizeof have - 1;
  return pp_err(err, errlen, PP_EINVAL, "sample type \"%s\" is not in the profile (it has %s)", name,
                p->nstypes ? have : "no sample types");
}

int ex_build_one(const pp_profile *p, int mode, const size_t *vi, size_t nvi, ex_frames *F, ex_tree *t, char *err,
                 size_t errlen) {
  ex_pmap m;
  memset(t, 0, sizeof *t);
  if (ex_frames_init(F, mode) || ex_tree_init(t, nvi)) {
    ex_frames_free(F);
    ex_tree_free(t);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  int rc = ex_pmap_build(F, p, &m, err, errlen);
  if (rc == PP_OK) {
    rc = ex_tree_add(t, &m, vi, nvi, 0, err, errlen);
    ex_pmap_free(&m);
  }
  if (rc == PP_OK) rc = ex_tree_finish(t, err, errlen);
  if (rc) {
    ex_frames_free(F);
    ex_tree_free(t);
  }
  return rc;
}

int ex_sort_by_rank(ex_tree *t, const ex_frames *F, const pp_profile *p, char *err, size_t errlen) {
  uint32_t *rank = NULL;
  ex_sortkey *tmp = malloc((ex_tree_max_kids(t) + 1) * sizeof *tmp);
  if (!tmp || ex_frames_rank(F, p, &rank)) {
    free(tmp);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory sorting the call tree");
  }
  for (size_t i = 0; i < t->nn; i++) ex_tree_sort_kids(t, (uint32_t)i, rank, -1, false, tmp);
  free(tmp);
  free(rank);
  return PP_OK;
}

/* ---- pprof ---- */

int pp_export_pprof(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen, char *err,
                    size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  return pp_encode(p, -1, out, outlen, err, errlen);
}

/* ---- pgo, preprofile (pgo.h) ---- */

/* format=pgo: the trimmed profile for `go build -pgo`; keep 0 = default. */
static int export_pgo(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  unsigned keep = opts && opts->keep_set && opts->keep >= 0 ? (unsigned)opts->keep : PP_PGO_DEFAULT_KEEP;
  return pp_pgo_encode(p, keep, -1, out, outlen, err, errlen);
}

static int export_preprofile(const pp_profile *p, const pp_export_opts *opts, uint8_t **out,
                             size_t *outlen, char *err, size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  char *text = NULL;
  int rc = pp_pgo_preprofile(p, &text, outlen, err, errlen);
  *out = (uint8_t *)text;
  return rc;
}

/* ---- the format table ---- */

static const pp_export_format formats[] = {
    {"pprof", "application/octet-stream", ".pb.gz", "the profile itself, gzipped profile.proto (go tool pprof)", 0,
     pp_export_pprof},
    {"folded", "text/plain; charset=utf-8", ".folded",
     "folded stacks, one `root;...;leaf VALUE` line per stack (flamegraph.pl, inferno, speedscope)",
     PP_EXPORT_READS_SAMPLE_TYPE, pp_export_folded},
    {"speedscope", "application/json", ".speedscope.json",
     "speedscope's JSON file format, one sampled profile per sample type", PP_EXPORT_READS_NAME,
     pp_export_speedscope},
    {"chrome", "application/json", ".cpuprofile",
     "Chrome DevTools .cpuprofile (CPU profiles only; DevTools Performance panel, VS Code)",
     PP_EXPORT_READS_MAX_SAMPLES, pp_export_chrome},
    {"pgo", "application/octet-stream", ".pgo",
     "trimmed for go build -pgo: the compiler's call edges only (--keep N, default 2)",
     PP_EXPORT_READS_KEEP, export_pgo},
    {"preprofile", "text/plain; charset=utf-8", ".preprofile",
     "Go's preprocessed call edges, GO PREPROFILE V1 (Go 1.23+)", 0,
     export_preprofile},
};

size_t pp_export_format_count(void) { return sizeof formats / sizeof formats[0]; }

const pp_export_format *pp_export_format_at(size_t i) {
  return i < pp_export_format_count() ? &formats[i] : NULL;
}

const pp_export_format *pp_export_format_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < pp_export_format_count(); i++)
    if (!strcmp(formats[i].name, name)) return &formats[i];
  return NULL;
}
