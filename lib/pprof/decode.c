/*
 * decode.c — bytes to a validated pp_profile.
 *
 * Input is gunzipped (pp_gunzip, gunzip.c: bounded by the decompressed-size
 * limit, the top-level field structure checked as bytes arrive, so a gzip
 * bomb stops at its first implausible field or at the limit), then the
 * profile.proto wire format is read directly into the flat model of
 * internal.h. Reading the wire format here,
 * instead of unpacking a generic message tree first, means no per-message
 * allocation and no second copy of the profile: peak memory is the
 * decompressed bytes plus the model. It also gives exact error messages and
 * lets us see things a generic decoder hides (a second time_nanos field
 * means two concatenated profiles).
 *
 * The rules are those of Go's profile.Parse + CheckValid: unknown fields are
 * skipped, repeated scalars are accepted packed and unpacked, group wire types
 * are rejected, label quirks are applied, every string index is range-checked.
 * Several passes over the top-level fields resolve references in any field
 * order: strings, then mappings, functions, locations, sample types, samples.
 *
 * The samples pass, the longest (a sample per stack, locations looked up
 * for each frame), may run on two threads for a large profile
 * (pp_decode_mt): the first pass notes where every SAMPLE_MARK-th sample
 * starts, the second thread reads the samples from the middle mark on into
 * stacks and labels of its own, which are then appended; the profile is
 * the same, and errors are those of the first bad sample in file order.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------ wire reader */

typedef struct field {
  uint32_t num, typ;
  uint64_t u64;
  const uint8_t *data;
  size_t len;
} field;

/* Reads a varint (at most 10 bytes; bits past 64 are dropped). Values of
 * one to three bytes, nearly all of a profile's (ids, lengths, line
 * numbers), take straight-line paths; the loop handles the rest. */
static inline int rd_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v) {
  const uint8_t *p = *pp;
  if (p < end && !(*p & 0x80)) {
    *v = *p;
    *pp = p + 1;
    return 0;
  }
  uint64_t u = 0;
  int i = 0;
  if (end - p >= 3) {
    u = (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7;
    if (!(p[1] & 0x80)) {
      *v = u;
      *pp = p + 2;
      return 0;
    }
    u |= (uint64_t)(p[2] & 0x7f) << 14;
    if (!(p[2] & 0x80)) {
      *v = u;
      *pp = p + 3;
      return 0;
    }
    i = 3;
  }
  for (; i < 10; i++) {
    if (p + i >= end) return -1;
    uint8_t b = p[i];
    u |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = u;
      *pp = p + i + 1;
      return 0;
    }
  }
  return -1;
}

/* Reads one field; returns 0, or -1 with *why set. */
static inline int rd_field(const uint8_t **pp, const uint8_t *end, field *f, const char **why) {
  uint64_t key;
  if (rd_varint(pp, end, &key)) {
    *why = "bad varint";
    return -1;
  }
  f->num = (uint32_t)(key >> 3);
  if (key >> 3 > UINT32_MAX) f->num = UINT32_MAX;
  f->typ = key & 7;
  f->data = NULL;
  f->len = 0;
  f->u64 = 0;
  switch (f->typ) {
  case 0:
    if (rd_varint(pp, end, &f->u64)) {
      *why = "bad varint";
      return -1;
    }
    return 0;
  case 1:
    if (end - *pp < 8) {
      *why = "truncated fixed64";
      return -1;
    }
    memcpy(&f->u64, *pp, 8);
    *pp += 8;
    return 0;
  case 2: {
    uint64_t n;
    if (rd_varint(pp, end, &n)) {
      *why = "bad varint";
      return -1;
    }
    if (n > (uint64_t)(end - *pp)) {
      f->len = n > SIZE_MAX ? SIZE_MAX : (size_t)n; /* for the caller's limit check */
      *why = "length past the end of the data";
      return -1;
    }
    f->data = *pp;
    f->len = (size_t)n;
    *pp += n;
    return 0;
  }
  case 5: {
    if (end - *pp < 4) {
      *why = "truncated fixed32";
      return -1;
    }
    uint32_t v;
    memcpy(&v, *pp, 4);
    f->u64 = v;
    *pp += 4;
    return 0;
  }
  default:
    *why = "unsupported wire type";
    return -1;
  }
}

/* ------------------------------------------------------------- id maps */

/* uint64 id -> dense index. Ids 1..n use a direct table (the usual case:
 * Go writes dense ids), others an open-addressing hash. */
typedef struct idmap {
  uint32_t *direct; /* [ndirect + 1] */
  size_t ndirect;
  uint64_t *keys;
  uint32_t *vals; /* PP_NONE = empty */
  size_t cap;     /* power of two, 0 = none */
  uint64_t seed;  /* ids are chosen by the file's author: keyed hash */
} idmap;

static int idmap_init(idmap *m, size_t n, uint64_t seed) {
  memset(m, 0, sizeof(*m));
  m->seed = seed;
  m->ndirect = n;
  m->direct = malloc((n + 1) * sizeof(*m->direct));
  if (!m->direct) return PP_ENOMEM;
  memset(m->direct, 0xff, (n + 1) * sizeof(*m->direct));
  return PP_OK;
}

static void idmap_free(idmap *m) {
  free(m->direct);
  free(m->keys);
  free(m->vals);
}

static inline uint32_t idmap_get(const idmap *m, uint64_t id) {
  if (id <= m->ndirect) return m->direct[id];
  if (!m->cap) return PP_NONE;
  size_t mask = m->cap - 1, j = pp_hfin(m->seed, pp_mix(m->seed, id)) & mask;
  while (m->vals[j] != PP_NONE) {
    if (m->keys[j] == id) return m->vals[j];
    j = (j + 1) & mask;
  }
  return PP_NONE;
}

/* Inserts id -> v; returns 1 if id was already present, <0 on ENOMEM. */
static int idmap_put(idmap *m, uint64_t id, uint32_t v) {
  if (id <= m->ndirect) {
    if (m->direct[id] != PP_NONE) return 1;
    m->direct[id] = v;
    return 0;
  }
  if (!m->cap) {
    /* At most ndirect entries can fall outside 1..n. */
    size_t c = 16;
    while (c < m->ndirect * 2) c *= 2;
    m->keys = malloc(c * sizeof(*m->keys));
    m->vals = malloc(c * sizeof(*m->vals));
    if (!m->keys || !m->vals) return PP_ENOMEM;
    memset(m->vals, 0xff, c * sizeof(*m->vals));
    m->cap = c;
  }
  size_t mask = m->cap - 1, j = pp_hfin(m->seed, pp_mix(m->seed, id)) & mask;
  while (m->vals[j] != PP_NONE) {
    if (m->keys[j] == id) return 1;
    j = (j + 1) & mask;
  }
  m->keys[j] = id;
  m->vals[j] = v;
  return 0;
}

/* ------------------------------------------------------------- decoder */

typedef struct span {
  const uint8_t *p;
  size_t n;
} span;

typedef struct dec {
  const uint8_t *buf, *end;
  size_t limit; /* decoded-size limit: declared lengths beyond it are PP_ETOOBIG */
  char *err;
  size_t errlen;
  pp_profile *p;
  pp_sid *smap; /* input string index -> sid */
  size_t nstr;
  size_t cnt[16]; /* top-level field counts */
  size_t first[16], last[16]; /* byte range where each top-level field number occurs */
  idmap mids, fids, lids;
  pp_label *ltmp; /* label sort scratch */
  size_t cltmp;
  /* per-sample limits and the memory budget (pp_limits) */
  size_t max_depth, max_labels;
  size_t mem_limit; /* 0: memory not counted */
  size_t mem;       /* bytes counted so far: the input and what is built from it */
  uint32_t cur_loc_off, cur_label_off; /* of the sample being read */
  int threads;      /* for the samples pass (pp_decode_mt) */
  size_t *marks;    /* byte offset of samples 0, SAMPLE_MARK, 2 * SAMPLE_MARK, ... (threads > 1) */
  size_t nmarks, cmarks;
} dec;

/* Samples between two marks; a profile with at least SPLIT_SAMPLES samples
 * reads them on two threads. */
enum { SAMPLE_MARK = 4096, SPLIT_SAMPLES = 16384 };

/* Counts bytes of memory the profile being built takes; PP_ETOOBIG once
 * the input and the model together pass the limit. */
static int mem_add(dec *d, size_t bytes) {
  if (!d->mem_limit) return PP_OK;
  d->mem = bytes > SIZE_MAX - d->mem ? SIZE_MAX : d->mem + bytes;
  if (d->mem <= d->mem_limit) return PP_OK;
  return pp_err(d->err, d->errlen, PP_ETOOBIG,
                "profile takes more than %zu bytes decoded (its data plus the tables, stacks and labels "
                "built from it in memory), over the decoded-size limit",
                d->mem_limit);
}

static int wire_err(dec *d, const char *where, const char *why, const uint8_t *at) {
  return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: %s: %s (near byte %zu of the decoded data)",
                where, why, (size_t)(at - d->buf));
}

/* A known field with the wrong wire type (often: not a profile.proto file,
 * e.g. one of pprof's legacy text or binary formats). */
static int type_err(dec *d, const char *where, const field *f, uint32_t want) {
  return pp_err(d->err, d->errlen, PP_EMALFORMED,
                "malformed profile: %s field %u has wire type %s, expected %s (not a profile.proto message?)", where,
                f->num, pp_wire_name(f->typ), pp_wire_name(want));
}

/* Translates a string index read from the file. */
static int tr_str(dec *d, uint64_t idx, pp_sid *out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static int tr_str(dec *d, uint64_t idx, pp_sid *out, const char *fmt, ...) {
  if (idx < d->nstr) {
    *out = d->smap[idx];
    return PP_OK;
  }
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  return pp_err(d->err, d->errlen, PP_EMALFORMED,
                "malformed profile: %s refers to string %lld, but the string table has %zu entries", what,
                (long long)(int64_t)idx, d->nstr);
}

/* Iterates the top-level fields numbered `want`, calling fn on each. */
typedef int (*field_fn)(dec *d, const field *f, size_t i);
/* The top-level fields numbered `want` in buf[from, to), the first of
 * them being number i of its kind. */
static int each_in(dec *d, uint32_t want, size_t from, size_t to, size_t i, field_fn fn) {
  const uint8_t *p = d->buf + from, *end = d->buf + to;
  field f = {0};
  const char *why;
  while (p < end) {
    if (rd_field(&p, end, &f, &why)) return wire_err(d, "profile", why, p);
    if (f.num != want) continue;
    if (f.typ != 2) return type_err(d, "profile", &f, 2);
    int rc = fn(d, &f, i++);
    if (rc) return rc;
  }
  return PP_OK;
}

/* Only the byte range where that field occurs is scanned: writers group
 * repeated fields, so each pass reads little besides its own fields. */
static int each_top(dec *d, uint32_t want, field_fn fn) {
  if (!d->cnt[want]) return PP_OK;
  return each_in(d, want, d->first[want], d->last[want], 0, fn);
}

static int rd_sub(dec *d, const uint8_t **p, const uint8_t *end, field *f, const char *where) {
  const char *why;
  if (rd_field(p, end, f, &why)) return wire_err(d, where, why, *p);
  return PP_OK;
}

/* Scalar check: wire type must be varint. */
#define WANT_VARINT(where)                                                                                     \
  do {                                                                                                         \
    if (f.typ != 0) return type_err(d, where, &f, 0);                                                             \
  } while (0)

static int dec_valuetype(dec *d, const uint8_t *p, const uint8_t *end, uint64_t *type, uint64_t *unit,
                         const char *where) {
  field f = {0};
  *type = *unit = 0;
  while (p < end) {
    int rc = rd_sub(d, &p, end, &f, where);
    if (rc) return rc;
    if (f.num == 1 || f.num == 2) {
      WANT_VARINT(where);
      if (f.num == 1)
        *type = f.u64;
      else
        *unit = f.u64;
    }
  }
  return PP_OK;
}

static int do_mapping(dec *d, const field *tf, size_t i) {
  const uint8_t *p = tf->data, *end = p + tf->len;
  field f = {0};
  uint64_t id = 0, file = 0, bid = 0;
  pp_mapping m = {0};
  while (p < end) {
    int rc = rd_sub(d, &p, end, &f, "mapping");
    if (rc) return rc;
    if (f.num >= 1 && f.num <= 10) WANT_VARINT("mapping");
    switch (f.num) {
    case 1: id = f.u64; break;
    case 2: m.start = f.u64; break;
    case 3: m.limit = f.u64; break;
    case 4: m.offset = f.u64; break;
    case 5: file = f.u64; break;
    case 6: bid = f.u64; break;
    case 7: m.flags = (m.flags & ~PP_HAS_FUNCTIONS) | (f.u64 ? PP_HAS_FUNCTIONS : 0); break;
    case 8: m.flags = (m.flags & ~PP_HAS_FILENAMES) | (f.u64 ? PP_HAS_FILENAMES : 0); break;
    case 9: m.flags = (m.flags & ~PP_HAS_LINE_NUMBERS) | (f.u64 ? PP_HAS_LINE_NUMBERS : 0); break;
    case 10: m.flags = (m.flags & ~PP_HAS_INLINE_FRAMES) | (f.u64 ? PP_HAS_INLINE_FRAMES : 0); break;
    default: break;
    }
  }
  int rc;
  if ((rc = tr_str(d, file, &m.file, "mapping %zu (id %llu) file name", i, (unsigned long long)id))) return rc;
  if ((rc = tr_str(d, bid, &m.build_id, "mapping %zu (id %llu) build id", i, (unsigned long long)id))) return rc;
  if (id == 0)
    return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: mapping %zu has the reserved id 0", i);
  rc = idmap_put(&d->mids, id, (uint32_t)d->p->nmaps);
  if (rc < 0) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
  if (rc) return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: multiple mappings with id %llu",
                        (unsigned long long)id);
  d->p->maps[d->p->nmaps++] = m;
  return PP_OK;
}

static int do_function(dec *d, const field *tf, size_t i) {
  const uint8_t *p = tf->data, *end = p + tf->len;
  field f = {0};
  uint64_t id = 0, name = 0, sys = 0, file = 0;
  pp_function fn = {0};
  while (p < end) {
    int rc = rd_sub(d, &p, end, &f, "function");
    if (rc) return rc;
    if (f.num >= 1 && f.num <= 5) WANT_VARINT("function");
    switch (f.num) {
    case 1: id = f.u64; break;
    case 2: name = f.u64; break;
    case 3: sys = f.u64; break;
    case 4: file = f.u64; break;
    case 5: fn.start_line = (int64_t)f.u64; break;
    default: break;
    }
  }
  int rc;
  if ((rc = tr_str(d, name, &fn.name, "function %zu (id %llu) name", i, (unsigned long long)id))) return rc;
  if ((rc = tr_str(d, sys, &fn.system_name, "function %zu (id %llu) system name", i, (unsigned long long)id)))
    return rc;
  if ((rc = tr_str(d, file, &fn.filename, "function %zu (id %llu) file name", i, (unsigned long long)id))) return rc;
  if (id == 0)
    return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: function %zu has the reserved id 0", i);
  rc = idmap_put(&d->fids, id, (uint32_t)d->p->nfuncs);
  if (rc < 0) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
  if (rc) return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: multiple functions with id %llu",
                        (unsigned long long)id);
  d->p->funcs[d->p->nfuncs++] = fn;
  return PP_OK;
}

static int do_location(dec *d, const field *tf, size_t i) {
  const uint8_t *p = tf->data, *end = p + tf->len;
  field f = {0};
  pp_profile *P = d->p;
  uint64_t id = 0, mid = 0;
  pp_location l = {0};
  l.line_off = (uint32_t)P->nlines;
  while (p < end) {
    int rc = rd_sub(d, &p, end, &f, "location");
    if (rc) return rc;
    if (f.num == 4) {
      if (f.typ != 2) return type_err(d, "location", &f, 2);
      const uint8_t *q = f.data, *qe = q + f.len;
      field g = {0};
      uint64_t fid = 0;
      pp_line ln = {0};
      while (q < qe) {
        rc = rd_sub(d, &q, qe, &g, "line");
        if (rc) return rc;
        if (g.num >= 1 && g.num <= 3 && g.typ != 0) return type_err(d, "line", &g, 0);
        if (g.num == 1)
          fid = g.u64;
        else if (g.num == 2)
          ln.line = (int64_t)g.u64;
        else if (g.num == 3)
          ln.column = (int64_t)g.u64;
      }
      if (fid == 0)
        return pp_err(d->err, d->errlen, PP_EMALFORMED,
                      "malformed profile: location %zu (id %llu) has a line with no function (function id 0)", i,
                      (unsigned long long)id);
      ln.func = idmap_get(&d->fids, fid);
      if (ln.func == PP_NONE)
        return pp_err(d->err, d->errlen, PP_EMALFORMED,
                      "malformed profile: location %zu (id %llu) refers to unknown function %llu", i,
                      (unsigned long long)id, (unsigned long long)fid);
      if ((rc = mem_add(d, sizeof ln))) return rc;
      if (PP_GROW(P->lines, P->clines, P->nlines + 1) || P->nlines >= UINT32_MAX)
        return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
      P->lines[P->nlines++] = ln;
      continue;
    }
    if (f.num >= 1 && f.num <= 5) WANT_VARINT("location");
    switch (f.num) {
    case 1: id = f.u64; break;
    case 2: mid = f.u64; break;
    case 3: l.address = f.u64; break;
    case 5: l.folded = f.u64 != 0; break;
    default: break;
    }
  }
  l.nlines = (uint32_t)(P->nlines - l.line_off);
  /* A location's unknown mapping id silently means "no mapping" (as pprof). */
  l.mapping = mid ? idmap_get(&d->mids, mid) : PP_NONE;
  if (id == 0)
    return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: location %zu has the reserved id 0", i);
  int rc = idmap_put(&d->lids, id, (uint32_t)P->nlocs);
  if (rc < 0) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
  if (rc) return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: multiple locations with id %llu",
                        (unsigned long long)id);
  P->locs[P->nlocs++] = l;
  return PP_OK;
}

static int do_stype(dec *d, const field *tf, size_t i) {
  uint64_t t, u;
  int rc = dec_valuetype(d, tf->data, tf->data + tf->len, &t, &u, "sample type");
  if (rc) return rc;
  pp_vt *vt = &d->p->stypes[d->p->nstypes++];
  if ((rc = tr_str(d, t, &vt->type, "sample type %zu type", i))) return rc;
  return tr_str(d, u, &vt->unit, "sample type %zu unit", i);
}

static int push_loc(dec *d, size_t si, uint64_t lid) {
  pp_profile *P = d->p;
  uint32_t li = idmap_get(&d->lids, lid);
  if (li == PP_NONE)
    return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: sample %zu refers to unknown location %llu",
                  si, (unsigned long long)lid);
  if (P->nsloc - d->cur_loc_off >= d->max_depth)
    return pp_err(d->err, d->errlen, PP_ETOOBIG,
                  "sample %zu has a stack of more than %zu locations, over the limit", si, d->max_depth);
  int rc = mem_add(d, sizeof *P->sloc);
  if (rc) return rc;
  if ((P->nsloc == P->csloc && PP_GROW(P->sloc, P->csloc, P->nsloc + 1)) || P->nsloc >= UINT32_MAX)
    return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
  P->sloc[P->nsloc++] = li;
  return PP_OK;
}

/* A sample's packed location ids (the bulk of a profile): each id becomes
 * a location index, looked up in the direct table when ids are dense, as
 * Go writes them. Each id takes at least one byte, so `len` bounds the
 * count and the room is reserved once. */
static int sample_locs(dec *d, size_t si, const uint8_t *q, size_t len) {
  pp_profile *P = d->p;
  size_t depth = P->nsloc - d->cur_loc_off; /* ids this sample already has */
  /* room for the packed ids at once, but never past the depth limit */
  size_t room = depth < d->max_depth ? d->max_depth - depth + 1 : 1;
  if (room > len) room = len;
  if (P->nsloc + room >= UINT32_MAX || PP_GROW(P->sloc, P->csloc, P->nsloc + room))
    return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
  const uint8_t *qe = q + len;
  const uint32_t *direct = d->lids.direct;
  const uint64_t nd = d->lids.ndirect;
  uint32_t *out = P->sloc + P->nsloc, *o = out;
  int rc = PP_OK;
  while (q < qe) {
    uint64_t v;
    if (*q < 0x80) {
      v = *q++;
    } else if (rd_varint(&q, qe, &v)) {
      rc = wire_err(d, "sample", "bad packed varint", q);
      break;
    }
    uint32_t li = v <= nd ? direct[v] : idmap_get(&d->lids, v);
    if (li == PP_NONE) {
      P->nsloc += (size_t)(o - out);
      return push_loc(d, si, v); /* the message */
    }
    if (depth + (size_t)(o - out) >= d->max_depth) {
      rc = pp_err(d->err, d->errlen, PP_ETOOBIG, "sample %zu has a stack of more than %zu locations, over the limit",
                  si, d->max_depth);
      break;
    }
    *o++ = li;
  }
  P->nsloc += (size_t)(o - out);
  if (rc) return rc;
  return mem_add(d, (size_t)(o - out) * sizeof *P->sloc);
}

static int push_val(dec *d, size_t *nv, uint64_t v) {
  pp_profile *P = d->p;
  size_t at = P->nsamples * P->nstypes + *nv;
  if (*nv >= P->nstypes) {
    (*nv)++; /* counted for the error message, not stored */
    return PP_OK;
  }
  P->values[at] = (int64_t)v;
  (*nv)++;
  return PP_OK;
}

static int do_sample(dec *d, const field *tf, size_t i) {
  const uint8_t *p = tf->data, *end = p + tf->len;
  field f = {0};
  pp_profile *P = d->p;
  pp_sample s = {0};
  s.loc_off = (uint32_t)P->nsloc;
  s.label_off = (uint32_t)P->nlabels;
  d->cur_loc_off = s.loc_off;
  d->cur_label_off = s.label_off;
  size_t nv = 0;
  int rc;
  while (p < end) {
    rc = rd_sub(d, &p, end, &f, "sample");
    if (rc) return rc;
    if (f.num == 1 || f.num == 2) {
      if (f.typ == 2 && f.num == 1) {
        if ((rc = sample_locs(d, i, f.data, f.len))) return rc;
      } else if (f.typ == 2) {
        const uint8_t *q = f.data, *qe = q + f.len;
        while (q < qe) {
          uint64_t v;
          if (rd_varint(&q, qe, &v)) return wire_err(d, "sample", "bad packed varint", q);
          push_val(d, &nv, v);
        }
      } else if (f.typ == 0) {
        rc = f.num == 1 ? push_loc(d, i, f.u64) : push_val(d, &nv, f.u64);
        if (rc) return rc;
      } else {
        return type_err(d, "sample", &f, 0);
      }
    } else if (f.num == 3) {
      if (f.typ != 2) return type_err(d, "sample", &f, 2);
      const uint8_t *q = f.data, *qe = q + f.len;
      field g = {0};
      uint64_t key = 0, str = 0, unit = 0, num = 0;
      while (q < qe) {
        rc = rd_sub(d, &q, qe, &g, "label");
        if (rc) return rc;
        if (g.num >= 1 && g.num <= 4 && g.typ != 0) return type_err(d, "label", &g, 0);
        switch (g.num) {
        case 1: key = g.u64; break;
        case 2: str = g.u64; break;
        case 3: num = g.u64; break;
        case 4: unit = g.u64; break;
        default: break;
        }
      }
      pp_label l = {0};
      size_t li = P->nlabels - s.label_off;
      if ((rc = tr_str(d, key, &l.key, "sample %zu label %zu key", i, li))) return rc;
      if (str != 0) {
        if ((rc = tr_str(d, str, &l.str, "sample %zu label %zu value", i, li))) return rc;
      } else if (num != 0 || unit != 0) {
        l.is_num = 1;
        l.num = (int64_t)num;
        if (unit != 0 && (rc = tr_str(d, unit, &l.unit, "sample %zu label %zu unit", i, li))) return rc;
      } else {
        continue; /* key with empty value, zero number and no unit: dropped, as pprof does */
      }
      if (P->nlabels - d->cur_label_off >= d->max_labels)
        return pp_err(d->err, d->errlen, PP_ETOOBIG, "sample %zu has more than %zu labels, over the limit", i,
                      d->max_labels);
      if ((rc = mem_add(d, sizeof l))) return rc;
      if (PP_GROW(P->labels, P->clabels, P->nlabels + 1) || P->nlabels >= UINT32_MAX)
        return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
      P->labels[P->nlabels++] = l;
    }
  }
  if (nv != P->nstypes)
    return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: sample %zu has %zu values but there are %zu sample types",
                  i, nv, P->nstypes);
  s.nlocs = (uint32_t)(P->nsloc - s.loc_off);
  s.nlabels = (uint32_t)(P->nlabels - s.label_off);
  if (s.nlabels > 1) {
    if (s.nlabels > 16 && PP_GROW(d->ltmp, d->cltmp, s.nlabels))
      return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
    pp_labels_canonical(&P->sp, PP_OFF(P->labels, s.label_off), s.nlabels, d->ltmp);
  }
  P->samples[P->nsamples++] = s;
  return PP_OK;
}

/* Pass 1: counts, strings, header scalars. */
static int scan_top(dec *d, span **strs, uint64_t **cmt, size_t *ncmt, uint64_t hdr[16], const uint8_t **ptype,
                    size_t *ptlen) {
  const uint8_t *p = d->buf;
  field f = {0};
  const char *why;
  size_t cstr = 0, ccmt = 0, nstr = 0;
  uint64_t time_seen = 0;
  while (p < d->end) {
    const uint8_t *at = p;
    if (rd_field(&p, d->end, &f, &why)) {
      size_t pos = (size_t)(p - d->buf);
      if (f.typ == 2 && f.len && (pos > d->limit || f.len > d->limit - pos))
        return pp_err(d->err, d->errlen, PP_ETOOBIG,
                      "decompressed profile is over the limit of %zu bytes (field %u at byte %zu declares %zu bytes; "
                      "gzip bomb or limit too low)",
                      d->limit, f.num, (size_t)(at - d->buf), f.len);
      return wire_err(d, "profile", why, p);
    }
    if (f.num == 0) return wire_err(d, "profile", "field number 0 (not a profile.proto message?)", at);
    if (f.num < 16) {
      if (!d->cnt[f.num]) d->first[f.num] = (size_t)(at - d->buf);
      d->last[f.num] = (size_t)(p - d->buf);
      d->cnt[f.num]++;
    }
    if (f.num == 2 && d->threads > 1 && (d->cnt[2] - 1) % SAMPLE_MARK == 0) {
      if (PP_GROW(d->marks, d->cmarks, d->nmarks + 1)) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
      d->marks[d->nmarks++] = (size_t)(at - d->buf);
    }
    switch (f.num) {
    case 1: case 2: case 3: case 4: case 5: case 11:
      if (f.typ != 2) return type_err(d, "profile", &f, 2);
      if (f.num == 11) {
        *ptype = f.data;
        *ptlen = f.len;
      }
      break;
    case 6:
      if (f.typ != 2) return type_err(d, "profile string table", &f, 2);
      if (mem_add(d, sizeof **strs)) return PP_ETOOBIG; /* 16 bytes for a 2-byte empty string */
      if (PP_GROW(*strs, cstr, nstr + 1)) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
      (*strs)[nstr].p = f.data;
      (*strs)[nstr].n = f.len;
      nstr++;
      break;
    case 13:
      if (f.typ == 2) {
        const uint8_t *q = f.data, *qe = q + f.len;
        while (q < qe) {
          uint64_t v;
          if (rd_varint(&q, qe, &v)) return wire_err(d, "profile comments", "bad packed varint", q);
          if (mem_add(d, sizeof **cmt + sizeof(pp_sid))) return PP_ETOOBIG;
          if (PP_GROW(*cmt, ccmt, *ncmt + 1)) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
          (*cmt)[(*ncmt)++] = v;
        }
      } else if (f.typ == 0) {
        if (mem_add(d, sizeof **cmt + sizeof(pp_sid))) return PP_ETOOBIG;
        if (PP_GROW(*cmt, ccmt, *ncmt + 1)) return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory");
        (*cmt)[(*ncmt)++] = f.u64;
      } else {
        return type_err(d, "profile", &f, 0);
      }
      break;
    case 9:
      if (f.typ != 0) return type_err(d, "profile", &f, 0);
      if (time_seen)
        return pp_err(d->err, d->errlen, PP_EMALFORMED,
                      "malformed profile: concatenated profiles detected (a second time_nanos field)");
      time_seen = f.u64 != 0;
      hdr[9] = f.u64;
      break;
    case 7: case 8: case 10: case 12: case 14: case 15:
      if (f.typ != 0) return type_err(d, "profile", &f, 0);
      hdr[f.num] = f.u64;
      break;
    default:
      break;
    }
  }
  d->nstr = nstr;
  return PP_OK;
}

static int dec_nomem(dec *d) {
  return pp_err(d->err, d->errlen, PP_ENOMEM, "out of memory decoding the profile");
}

/* What the top-level counts alone can refuse: string 0, sizes, samples
 * without types. */
static int check_counts(dec *d, const span *strs) {
  if (d->nstr == 0 || strs[0].n != 0)
    return pp_err(d->err, d->errlen, PP_EMALFORMED,
                  d->nstr == 0 ? "malformed profile: empty string table (string 0 must be \"\")"
                               : "malformed profile: string table entry 0 is not the empty string");
  for (int k = 1; k <= 6; k++)
    if (d->cnt[k] >= UINT32_MAX - 2)
      return pp_err(d->err, d->errlen, PP_ETOOBIG,
                    "profile has %zu entries of field %d, over the engine's limit of %u", d->cnt[k], k,
                    (unsigned)(UINT32_MAX - 2));
  if (d->cnt[2] > 0 && d->cnt[1] == 0)
    return pp_err(d->err, d->errlen, PP_EMALFORMED, "malformed profile: %zu samples but no sample types",
                  d->cnt[2]);
  return PP_OK;
}

/* What the tables sized by the top-level counts take in memory (the
 * entity arrays, values, strings, the decoder's id maps), counted before
 * any of it is allocated. */
static int count_tables(dec *d, const span *strs) {
  size_t sbytes = 0;
  for (size_t i = 0; i < d->nstr; i++) sbytes += strs[i].n + 1;
  const size_t per_id = 2 * (sizeof(uint64_t) + sizeof(uint32_t)); /* an idmap slot, half full */
  size_t b = sbytes + d->nstr * (3 * sizeof(uint32_t) + 2 * sizeof(uint32_t) + sizeof(pp_sid));
  b += d->cnt[3] * (sizeof(pp_mapping) + per_id) + d->cnt[5] * (sizeof(pp_function) + per_id) +
       d->cnt[4] * (sizeof(pp_location) + per_id) + d->cnt[2] * sizeof(pp_sample) +
       d->cnt[1] * sizeof(pp_vt);
  if (d->cnt[1] && d->cnt[2] > SIZE_MAX / sizeof(int64_t) / d->cnt[1]) return mem_add(d, SIZE_MAX);
  b += d->cnt[1] * d->cnt[2] * sizeof(int64_t);
  return mem_add(d, b);
}

/* Interns the string table into P's pool; d->smap maps file index to sid. */
static int intern_strings(dec *d, pp_profile *P, const span *strs) {
  size_t sbytes = 0;
  for (size_t i = 0; i < d->nstr; i++) sbytes += strs[i].n + 1;
  if (pp_pool_init(&P->sp, d->nstr, sbytes)) return dec_nomem(d);
  d->smap = malloc(d->nstr * sizeof(*d->smap));
  if (!d->smap) return dec_nomem(d);
  for (size_t i = 0; i < d->nstr; i++)
    if (pp_pool_intern(&P->sp, (const char *)strs[i].p, strs[i].n, &d->smap[i])) return dec_nomem(d);
  return PP_OK;
}

/* Exact-size entity arrays and id maps from the counts, the values array,
 * and an estimate of the lines (trimmed after decode). */
static int alloc_entities(dec *d, pp_profile *P, size_t len) {
  P->cmaps = d->cnt[3];
  P->cfuncs = d->cnt[5];
  P->clocs = d->cnt[4];
  P->csamples = d->cnt[2];
  if ((P->cmaps && !(P->maps = malloc(P->cmaps * sizeof(*P->maps)))) ||
      (P->cfuncs && !(P->funcs = malloc(P->cfuncs * sizeof(*P->funcs)))) ||
      (P->clocs && !(P->locs = malloc(P->clocs * sizeof(*P->locs)))) ||
      (P->csamples && !(P->samples = malloc(P->csamples * sizeof(*P->samples)))) ||
      (d->cnt[1] && !(P->stypes = malloc(d->cnt[1] * sizeof(*P->stypes)))))
    return dec_nomem(d);
  if (idmap_init(&d->mids, d->cnt[3], P->sp.seed ^ 0x6d) || idmap_init(&d->fids, d->cnt[5], P->sp.seed ^ 0x66) ||
      idmap_init(&d->lids, d->cnt[4], P->sp.seed ^ 0x6c))
    return dec_nomem(d);
  if (d->cnt[1] && d->cnt[2]) {
    if (d->cnt[1] > SIZE_MAX / sizeof(int64_t) / d->cnt[2]) return dec_nomem(d);
    P->cvalues = d->cnt[1] * d->cnt[2];
    if (P->cvalues > len) /* each value costs at least one byte */
      return pp_err(d->err, d->errlen, PP_EMALFORMED,
                    "malformed profile: %zu samples with %zu sample types cannot fit in %zu bytes", d->cnt[2],
                    d->cnt[1], len);
    P->values = malloc(P->cvalues * sizeof(*P->values));
    if (!P->values) return dec_nomem(d);
  }
  /* Each line or location id costs at least two bytes of input, so the
   * estimate never exceeds the input. */
  size_t est = d->cnt[4] + d->cnt[4] / 4;
  if (est > len / 2) est = len / 2;
  if (est && PP_GROW(P->lines, P->clines, est)) return dec_nomem(d);
  return PP_OK;
}

/* Room for the stacks of n samples stored in `bytes` bytes of input (a
 * guess: trimmed after decode, grown while reading if short). */
static int reserve_stacks(dec *d, pp_profile *P, size_t n, size_t bytes) {
  size_t est = n * 8;
  if (est > bytes) est = bytes;
  if (est && PP_GROW(P->sloc, P->csloc, P->nsloc + est)) return dec_nomem(d);
  return PP_OK;
}

/* The second half of a split samples pass: its own decoder state and a
 * profile that shares the samples and values arrays (a range of its own)
 * but collects stacks and labels apart. */
typedef struct half {
  dec d;
  pp_profile p;
  size_t from, to, first;
  char err[512];
  int rc;
} half;

static void *half_run(void *arg) {
  half *h = arg;
  h->rc = reserve_stacks(&h->d, &h->p, h->d.cnt[2] - h->first, h->to - h->from);
  if (!h->rc) h->rc = each_in(&h->d, 2, h->from, h->to, h->first, do_sample);
  return NULL;
}

/* Appends the second half's stacks and labels to P and points its samples
 * at them. */
static int join_half(dec *d, pp_profile *P, half *h) {
  size_t lo = P->nsloc, bo = P->nlabels, n = h->p.nsamples;
  if (lo + h->p.nsloc >= UINT32_MAX || bo + h->p.nlabels >= UINT32_MAX ||
      PP_GROW(P->sloc, P->csloc, lo + h->p.nsloc) || PP_GROW(P->labels, P->clabels, bo + h->p.nlabels))
    return dec_nomem(d);
  if (h->p.nsloc) memcpy(P->sloc + lo, h->p.sloc, h->p.nsloc * sizeof(*P->sloc));
  if (h->p.nlabels) memcpy(P->labels + bo, h->p.labels, h->p.nlabels * sizeof(*P->labels));
  for (size_t i = h->first; i < n; i++) {
    P->samples[i].loc_off += (uint32_t)lo;
    P->samples[i].label_off += (uint32_t)bo;
  }
  P->nsloc += h->p.nsloc;
  P->nlabels += h->p.nlabels;
  P->nsamples = n;
  return mem_add(d, h->d.mem); /* the two halves together within the limit */
}

/* The samples, on two threads when there are many (see the top). */
static int read_samples(dec *d, pp_profile *P, size_t len) {
  if (d->threads < 2 || d->cnt[2] < SPLIT_SAMPLES || d->nmarks < 2) {
    int rc = reserve_stacks(d, P, d->cnt[2], len);
    return rc ? rc : each_top(d, 2, do_sample);
  }
  size_t m = d->nmarks / 2, cut = d->marks[m];
  half *h = malloc(sizeof *h);
  if (!h) return dec_nomem(d);
  h->d = *d;
  h->d.p = &h->p;
  h->d.err = h->err;
  h->d.errlen = sizeof h->err;
  h->d.ltmp = NULL;
  h->d.cltmp = 0;
  h->d.mem = 0;
  h->p = *P;
  h->p.sloc = NULL;
  h->p.csloc = h->p.nsloc = 0;
  h->p.labels = NULL;
  h->p.clabels = h->p.nlabels = 0;
  h->first = h->p.nsamples = m * SAMPLE_MARK;
  h->from = cut;
  h->to = d->last[2];
  h->err[0] = 0;
  h->rc = PP_OK;
  pthread_t t;
  int started = pthread_create(&t, NULL, half_run, h) == 0;
  int rc = reserve_stacks(d, P, h->first, cut - d->first[2]);
  if (!rc) rc = each_in(d, 2, d->first[2], cut, 0, do_sample);
  if (started) {
    pthread_join(t, NULL);
  } else if (!rc) {
    half_run(h); /* no thread: the second half after the first */
  }
  if (!rc && h->rc) rc = pp_err(d->err, d->errlen, h->rc, "%s", h->err);
  if (!rc) rc = join_half(d, P, h);
  free(h->p.sloc);
  free(h->p.labels);
  free(h->d.ltmp);
  free(h);
  return rc;
}

/* Mappings, functions, locations, sample types, then samples. */
static int read_entities(dec *d, pp_profile *P, size_t len) {
  int rc;
  if ((rc = each_top(d, 3, do_mapping)) || (rc = each_top(d, 5, do_function)) ||
      (rc = each_top(d, 4, do_location)) || (rc = each_top(d, 1, do_stype)))
    return rc;
  return read_samples(d, P, len);
}

/* The header fields scan_top collected: period type, string fields, times,
 * comments. */
static int read_header(dec *d, pp_profile *P, const uint64_t hdr[16], const uint8_t *ptype, size_t ptlen,
                       const uint64_t *cmt, size_t ncmt) {
  int rc;
  if (ptype) {
    uint64_t t, u;
    if ((rc = dec_valuetype(d, ptype, ptype + ptlen, &t, &u, "period type"))) return rc;
    if ((rc = tr_str(d, t, &P->ptype.type, "period type")) || (rc = tr_str(d, u, &P->ptype.unit, "period unit")))
      return rc;
  }
  if ((rc = tr_str(d, hdr[7], &P->drop_frames, "drop_frames")) ||
      (rc = tr_str(d, hdr[8], &P->keep_frames, "keep_frames")) ||
      (rc = tr_str(d, hdr[14], &P->default_st, "default_sample_type")) ||
      (rc = tr_str(d, hdr[15], &P->doc_url, "doc_url")))
    return rc;
  P->time_nanos = (int64_t)hdr[9];
  P->duration_nanos = (int64_t)hdr[10];
  P->period = (int64_t)hdr[12];
  if (ncmt) {
    P->comments = malloc(ncmt * sizeof(*P->comments));
    if (!P->comments) return dec_nomem(d);
    P->ccomments = ncmt;
    for (size_t i = 0; i < ncmt; i++)
      if ((rc = tr_str(d, cmt[i], &P->comments[P->ncomments++], "comment %zu", i))) return rc;
  }
  return PP_OK;
}

/* The wire format in buf[0, len) to a profile, in passes: scan_top finds
 * and counts the top-level fields, then the steps above. */
static int decode_proto(const uint8_t *buf, size_t len, size_t limit, const pp_limits *lim, int threads,
                        pp_profile **out, char *err, size_t errlen) {
  dec D;
  memset(&D, 0, sizeof(D));
  dec *d = &D;
  d->threads = threads;
  d->buf = buf;
  d->end = buf + len;
  d->limit = limit;
  d->err = err;
  d->errlen = errlen;
  d->max_depth = lim && lim->max_stack_depth ? lim->max_stack_depth : PP_DEFAULT_MAX_STACK_DEPTH;
  d->max_labels = lim && lim->max_labels ? lim->max_labels : PP_DEFAULT_MAX_LABELS;
  d->mem_limit = lim && lim->count_memory ? limit : 0;
  d->mem = len;
  span *strs = NULL;
  uint64_t *cmt = NULL;
  size_t ncmt = 0;
  uint64_t hdr[16] = {0};
  const uint8_t *ptype = NULL;
  size_t ptlen = 0;
  pp_profile *P = NULL;
  int rc = scan_top(d, &strs, &cmt, &ncmt, hdr, &ptype, &ptlen);
  if (!rc) rc = check_counts(d, strs);
  if (!rc) rc = count_tables(d, strs);
  if (!rc && !(P = calloc(1, sizeof(*P)))) rc = dec_nomem(d);
  d->p = P;
  if (!rc) P->wire_strings = d->nstr;
  if (!rc) rc = intern_strings(d, P, strs);
  free(strs);
  if (!rc) rc = alloc_entities(d, P, len);
  if (!rc) rc = read_entities(d, P, len);
  if (!rc) rc = read_header(d, P, hdr, ptype, ptlen, cmt, ncmt);
  if (!rc) pp_profile_shrink(P);
  free(cmt);
  free(d->marks);
  free(d->smap);
  free(d->ltmp);
  idmap_free(&d->mids);
  idmap_free(&d->fids);
  idmap_free(&d->lids);
  if (rc) {
    pp_free(P);
    return rc;
  }
  *out = P;
  return PP_OK;
}

int pp_decode(const uint8_t *buf, size_t len, const pp_limits *lim, pp_profile **out, char *err, size_t errlen) {
  return pp_decode_mt(buf, len, lim, 1, out, err, errlen);
}

int pp_decode_mt(const uint8_t *buf, size_t len, const pp_limits *lim, int threads, pp_profile **out, char *err,
                 size_t errlen) {
  if (!out || (!buf && len)) return pp_err(err, errlen, PP_EINVAL, "pp_decode: bad arguments");
  *out = NULL;
  size_t max_in = lim && lim->max_input_bytes ? lim->max_input_bytes : PP_DEFAULT_MAX_INPUT;
  size_t max_dec = lim && lim->max_decoded_bytes ? lim->max_decoded_bytes : PP_DEFAULT_MAX_DECODED;
  if (len > max_in)
    return pp_err(err, errlen, PP_ETOOBIG, "profile is %zu bytes, over the limit of %zu bytes", len, max_in);
  if (len == 0) return pp_err(err, errlen, PP_EMALFORMED, "malformed profile: empty input");
  if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rc = pp_gunzip(buf, len, max_dec, &raw, &rawlen, err, errlen);
    if (rc) return rc;
    if (rawlen == 0) {
      free(raw);
      return pp_err(err, errlen, PP_EMALFORMED, "malformed profile: gzip data decompresses to nothing");
    }
    rc = decode_proto(raw, rawlen, max_dec, lim, threads, out, err, errlen);
    free(raw);
    return rc;
  }
  if (len > max_dec)
    return pp_err(err, errlen, PP_ETOOBIG, "profile is %zu bytes, over the decoded-size limit of %zu bytes", len,
                  max_dec);
  return decode_proto(buf, len, max_dec, lim, threads, out, err, errlen);
}
