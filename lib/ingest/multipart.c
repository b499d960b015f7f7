/*
 * multipart.c — multipart/form-data bodies (RFC 7578 on RFC 2046 §5.1), as
 * Pyroscope clients send them, parsed from a complete body in memory.
 *
 * The grammar follows Go's mime/multipart reader, which is what every Go
 * agent's server-side counterpart uses, including its leniencies (a
 * preamble, transport padding after the boundary, LF line ends when the
 * first boundary line has them, a bare boundary at the start of an empty
 * part) and its strictness (a delimiter-looking line that is not a valid
 * delimiter is an error, not content). The body is scanned once with
 * memmem for "CRLF--boundary"; every candidate is decided by looking at the
 * few bytes after it, so the cost is linear in the body whatever it holds.
 * Part data is never copied: parts point into the caller's body.
 *
 * Hostile input is bounded by the caller's body size and by two limits:
 * the number of parts and the size of each part's header block (the only
 * things allocated per part are its name, filename and content type, all
 * inside that header block).
 */
#include "internal.h"

#include "errbuf.h"

#include <stdlib.h>

/* RFC 2045 tspecials and token characters. */
static bool is_tspecial(int c) { return c && strchr("()<>@,;:\\\"/[]?=", c) != NULL; }
static bool is_token_char(int c) { return c > 32 && c < 127 && !is_tspecial(c); }

/* RFC 2046 bchars (space allowed, but not last). */
static bool is_bchar(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'' || c == '(' ||
         c == ')' || c == '+' || c == '_' || c == ',' || c == '-' || c == '.' || c == '/' || c == ':' ||
         c == '=' || c == '?' || c == ' ';
}

/*
 * Walks a parameter list "; a=b; c=\"d\"" in s[0..n) (RFC 2045 syntax, as
 * Go's mime.ParseMediaType reads it: spaces around ';' and '=', token or
 * quoted-string values, a backslash escaping only a tspecial). For each
 * name in want[] (case-insensitive) the value is copied into values[i]
 * (malloc'd). A repeated parameter is an error (Go refuses it too).
 * Returns 0, -1 on a syntax error, -2 when out of memory.
 */
static int parse_params(const char *s, size_t n, const char *const *want, char **values, size_t nwant) {
  size_t i = 0;
  for (;;) {
    while (i < n && (ing_is_space((unsigned char)s[i]) || s[i] == '\r' || s[i] == '\n')) i++;
    if (i == n) return 0;
    if (s[i] != ';') return -1;
    i++;
    while (i < n && ing_is_space((unsigned char)s[i])) i++;
    if (i == n) return 0; /* a trailing ';' is tolerated, as Go does */
    size_t ks = i;
    while (i < n && is_token_char((unsigned char)s[i])) i++;
    size_t kl = i - ks;
    if (!kl) return -1;
    while (i < n && ing_is_space((unsigned char)s[i])) i++;
    if (i == n || s[i] != '=') return -1;
    i++;
    while (i < n && ing_is_space((unsigned char)s[i])) i++;
    char *val = NULL;
    if (i < n && s[i] == '"') {
      i++;
      val = malloc(n - i + 1);
      if (!val) return -2;
      size_t k = 0;
      bool closed = false;
      while (i < n) {
        char c = s[i];
        if (c == '"') {
          closed = true;
          i++;
          break;
        }
        if (c == '\\' && i + 1 < n && is_tspecial((unsigned char)s[i + 1])) {
          val[k++] = s[i + 1];
          i += 2;
          continue;
        }
        if (c == '\r' || c == '\n') break;
        val[k++] = c;
        i++;
      }
      val[k] = 0;
      if (!closed) {
        free(val);
        return -1;
      }
    } else {
      size_t vs = i;
      while (i < n && is_token_char((unsigned char)s[i])) i++;
      if (i == vs) return -1;
      val = ing_strndup(s + vs, i - vs);
      if (!val) return -2;
    }
    size_t w = 0;
    for (; w < nwant; w++)
      if (ing_ieq(s + ks, kl, want[w])) break;
    if (w == nwant) {
      free(val);
      continue;
    }
    if (values[w]) {
      free(val);
      return -1; /* duplicate parameter */
    }
    values[w] = val;
  }
}

/* The media type s[0..n) before ';' is `want`? Sets *rest past it. */
static bool media_type_is(const char *s, const char *want, const char **rest) {
  const char *semi = strchr(s, ';');
  size_t n = semi ? (size_t)(semi - s) : strlen(s);
  const char *t = ing_trim(s, &n);
  *rest = semi ? semi : s + strlen(s);
  return ing_ieq(t, n, want);
}

int ingest_is_multipart(const char *content_type) {
  const char *rest;
  return content_type && media_type_is(content_type, "multipart/form-data", &rest);
}

int ingest_multipart_boundary(const char *content_type, char *out, size_t outlen, char *err, size_t errlen) {
  if (outlen) out[0] = 0;
  if (!content_type || !*content_type) {
    errbuf_set(err, errlen, "multipart: missing Content-Type: want multipart/form-data; boundary=...");
    return INGEST_EINVAL;
  }
  const char *rest;
  if (!media_type_is(content_type, "multipart/form-data", &rest)) {
    errbuf_set(err, errlen, "multipart: Content-Type \"%.200s\" is not multipart/form-data", content_type);
    return INGEST_EINVAL;
  }
  static const char *const want[] = {"boundary"};
  char *b = NULL;
  int rc = parse_params(rest, strlen(rest), want, &b, 1);
  if (rc == -2) {
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  if (rc) {
    free(b);
    errbuf_set(err, errlen, "multipart: malformed parameters in Content-Type \"%.200s\"", content_type);
    return INGEST_EINVAL;
  }
  if (!b) {
    errbuf_set(err, errlen, "multipart: missing boundary in Content-Type \"%.200s\"", content_type);
    return INGEST_EINVAL;
  }
  size_t bl = strlen(b);
  bool ok = bl >= 1 && bl <= INGEST_BOUNDARY_MAX && b[bl - 1] != ' ';
  for (size_t i = 0; ok && i < bl; i++) ok = is_bchar((unsigned char)b[i]);
  if (!ok) {
    errbuf_set(err, errlen,
               "multipart: malformed boundary \"%.80s\" in Content-Type (want 1 to 70 of the characters "
               "RFC 2046 allows, not ending in a space)",
               b);
    free(b);
    return INGEST_EINVAL;
  }
  if (bl + 1 > outlen) {
    free(b);
    errbuf_set(err, errlen, "multipart: boundary buffer too small");
    return INGEST_EINVAL;
  }
  memcpy(out, b, bl + 1);
  free(b);
  return INGEST_OK;
}

/* ---- body ---- */

typedef struct scan {
  const uint8_t *b;
  size_t len;
  const char *dash; /* "--boundary" */
  size_t dlen;
  bool lf; /* bare LF line ends */
} scan;

static void part_free(ingest_part *p) {
  free(p->name);
  free(p->filename);
  free(p->content_type);
}

void ingest_form_free(ingest_form *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nparts; i++) part_free(&f->parts[i]);
  free(f->parts);
  f->parts = NULL;
  f->nparts = 0;
}

const ingest_part *ingest_form_part(const ingest_form *f, const char *name) {
  for (size_t i = 0; f && i < f->nparts; i++)
    if (strcmp(f->parts[i].name, name) == 0) return &f->parts[i];
  return NULL;
}

static size_t skip_lwsp(const scan *s, size_t i) {
  while (i < s->len && (s->b[i] == ' ' || s->b[i] == '\t')) i++;
  return i;
}

/* At i: the mode's line end? Returns its length or 0. */
static size_t at_nl(const scan *s, size_t i) {
  if (!s->lf && i + 1 < s->len && s->b[i] == '\r' && s->b[i + 1] == '\n') return 2;
  if (s->lf && i < s->len && s->b[i] == '\n') return 1;
  return 0;
}

enum { DELIM_NONE = 0, DELIM_NEXT, DELIM_FINAL, DELIM_BAD, DELIM_EOF };

/*
 * A "--boundary" starts at i. Decides, as Go's matchAfterPrefix and
 * NextPart do, whether it is a delimiter line and which: DELIM_NEXT (then
 * *next = the start of the part's header block), DELIM_FINAL, DELIM_NONE
 * (just content that happens to look like it), DELIM_BAD (looks like a
 * delimiter but the line is malformed) or DELIM_EOF (the body ends within).
 */
static int classify(const scan *s, size_t i, size_t *next) {
  size_t j = i + s->dlen;
  if (j == s->len) return DELIM_EOF;
  uint8_t c = s->b[j];
  if (c == '-') {
    if (j + 1 == s->len) return DELIM_EOF;
    if (s->b[j + 1] != '-') return DELIM_NONE;
    size_t k = skip_lwsp(s, j + 2);
    if (k == s->len || at_nl(s, k)) return DELIM_FINAL;
    /* Go also accepts the other line end after the final boundary. */
    if (s->b[k] == '\n' || (s->b[k] == '\r' && k + 1 < s->len && s->b[k + 1] == '\n')) return DELIM_FINAL;
    return DELIM_BAD;
  }
  if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return DELIM_NONE;
  size_t k = skip_lwsp(s, j);
  if (k == s->len) return DELIM_EOF;
  size_t nl = at_nl(s, k);
  if (!nl) {
    if (!s->lf && s->b[k] == '\r' && k + 1 == s->len) return DELIM_EOF;
    return DELIM_BAD;
  }
  *next = k + nl;
  return DELIM_NEXT;
}

/* Parses one part's header block starting at i; sets *content to where its
 * content starts. */
static int parse_headers(const scan *s, size_t i, size_t max_header, size_t partno, ingest_part *p,
                         size_t *content, char *err, size_t errlen) {
  size_t start = i;
  bool have_cd = false, have_ct = false;
  for (;;) {
    size_t avail = s->len - i;
    size_t used = i - start;
    size_t room = max_header > used ? max_header - used : 0;
    const uint8_t *nlp = memchr(s->b + i, '\n', avail < room ? avail : room);
    if (!nlp) {
      if (avail >= room) {
        errbuf_set(err, errlen, "multipart: part %zu: header block over %zu bytes", partno, max_header);
        return INGEST_ETOOBIG;
      }
      errbuf_set(err, errlen, "multipart: part %zu: body ends inside the part's header block", partno);
      return INGEST_EINVAL;
    }
    size_t e = (size_t)(nlp - s->b); /* index of '\n' */
    size_t le = e;
    if (le > i && s->b[le - 1] == '\r') le--;
    const char *line = (const char *)s->b + i;
    size_t ll = le - i;
    i = e + 1;
    if (ll == 0) break; /* the empty line */
    if (ing_is_space((unsigned char)line[0])) {
      errbuf_set(err, errlen, "multipart: part %zu: folded header lines are not supported", partno);
      return INGEST_EINVAL;
    }
    const char *colon = memchr(line, ':', ll);
    if (!colon || colon == line) {
      errbuf_set(err, errlen, "multipart: part %zu: header line without a name and ':'", partno);
      return INGEST_EINVAL;
    }
    size_t nl = (size_t)(colon - line);
    for (size_t k = 0; k < nl; k++)
      if (!is_token_char((unsigned char)line[k])) {
        errbuf_set(err, errlen, "multipart: part %zu: malformed header name \"%.*s\"", partno,
                   nl > 60 ? 60 : (int)nl, line);
        return INGEST_EINVAL;
      }
    size_t vl = ll - nl - 1;
    const char *v = ing_trim(colon + 1, &vl);
    if (ing_ieq(line, nl, "Content-Disposition") && !have_cd) {
      have_cd = true;
      size_t tl = 0;
      while (tl < vl && v[tl] != ';') tl++;
      size_t tn = tl;
      const char *t = ing_trim(v, &tn);
      static const char *const want[] = {"name", "filename"};
      char *vals[2] = {NULL, NULL};
      int rc = parse_params(v + tl, vl - tl, want, vals, 2);
      if (rc == -2) {
        free(vals[0]);
        free(vals[1]);
        errbuf_set(err, errlen, "out of memory");
        return INGEST_ENOMEM;
      }
      if (rc) {
        free(vals[0]);
        free(vals[1]);
        errbuf_set(err, errlen, "multipart: part %zu: malformed Content-Disposition \"%.*s\"", partno,
                   vl > 200 ? 200 : (int)vl, v);
        return INGEST_EINVAL;
      }
      if (ing_ieq(t, tn, "form-data") && vals[0]) {
        free(p->name);
        p->name = vals[0];
        vals[0] = NULL;
      }
      if (vals[1]) {
        p->filename = vals[1];
        vals[1] = NULL;
      }
      free(vals[0]);
      free(vals[1]);
    } else if (ing_ieq(line, nl, "Content-Type") && !have_ct) {
      have_ct = true;
      char *ct = ing_strndup(v, vl);
      if (!ct) {
        errbuf_set(err, errlen, "out of memory");
        return INGEST_ENOMEM;
      }
      p->content_type = ct;
    }
  }
  *content = i;
  return INGEST_OK;
}

int ingest_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                           const ingest_multipart_limits *lim, ingest_form *form, char *err, size_t errlen) {
  form->parts = NULL;
  form->nparts = 0;
  size_t max_parts = lim && lim->max_parts ? lim->max_parts : INGEST_MULTIPART_MAX_PARTS;
  size_t max_header = lim && lim->max_header_bytes ? lim->max_header_bytes : INGEST_MULTIPART_MAX_HEADER;
  char boundary[INGEST_BOUNDARY_MAX + 1];
  int rc = ingest_multipart_boundary(content_type, boundary, sizeof boundary, err, errlen);
  if (rc) return rc;
  char dash[INGEST_BOUNDARY_MAX + 3];
  size_t dlen = strlen(boundary) + 2;
  dash[0] = dash[1] = '-';
  memcpy(dash + 2, boundary, dlen - 2);
  dash[dlen] = 0;
  scan s = {body ? body : (const uint8_t *)"", body ? len : 0, dash, dlen, false};

  /* The first delimiter: "--boundary" at the start of the body or of a line. */
  size_t i = 0, next = 0;
  int kind = DELIM_NONE;
  for (;;) {
    const uint8_t *hit = s.len >= i ? memmem(s.b + i, s.len - i, dash, dlen) : NULL;
    if (!hit) {
      errbuf_set(err, errlen, "multipart: the body does not contain the boundary \"%s\" from its Content-Type",
                 boundary);
      return INGEST_EINVAL;
    }
    size_t at = (size_t)(hit - s.b);
    i = at + 1;
    if (at > 0 && s.b[at - 1] != '\n') continue;
    /* Line end of the first boundary line decides CRLF or LF mode. */
    size_t k = skip_lwsp(&s, at + dlen);
    if (k + 1 < s.len && s.b[k] == '\r' && s.b[k + 1] == '\n') {
      s.lf = false;
    } else if (k < s.len && s.b[k] == '\n') {
      s.lf = true;
    }
    kind = classify(&s, at, &next);
    /* In the preamble, lines that only look like a delimiter are skipped
     * (Go reads the preamble line by line the same way). */
    if (kind == DELIM_NONE || kind == DELIM_BAD) continue;
    break;
  }
  if (kind == DELIM_EOF) goto unterminated;
  if (kind == DELIM_FINAL) return INGEST_OK; /* no parts at all */

  for (size_t partno = 1;; partno++) {
    if (form->nparts == max_parts) {
      errbuf_set(err, errlen, "multipart: more than %zu parts", max_parts);
      rc = INGEST_ETOOBIG;
      goto fail;
    }
    ingest_part *np = realloc(form->parts, (form->nparts + 1) * sizeof(*np));
    if (!np) {
      errbuf_set(err, errlen, "out of memory");
      rc = INGEST_ENOMEM;
      goto fail;
    }
    form->parts = np;
    ingest_part *p = &form->parts[form->nparts++];
    memset(p, 0, sizeof(*p));
    p->name = ing_strndup("", 0);
    if (!p->name) {
      errbuf_set(err, errlen, "out of memory");
      rc = INGEST_ENOMEM;
      goto fail;
    }
    size_t content;
    rc = parse_headers(&s, next, max_header, partno, p, &content, err, errlen);
    if (rc) goto fail;

    /* The content ends at the next delimiter: "--boundary" right at the
     * start (an empty part), else "CRLF--boundary" (or "LF--boundary"). */
    size_t end = 0, delim_at = 0;
    int dk = DELIM_NONE;
    if (content + dlen <= s.len && memcmp(s.b + content, dash, dlen) == 0) {
      dk = classify(&s, content, &next);
      if (dk != DELIM_NONE) end = delim_at = content;
    }
    size_t from = content;
    while (dk == DELIM_NONE) {
      size_t pre = s.lf ? 1 : 2;
      const uint8_t *hit = NULL;
      size_t at = from;
      for (;;) {
        hit = s.len > at ? memmem(s.b + at, s.len - at, dash, dlen) : NULL;
        if (!hit) break;
        size_t h = (size_t)(hit - s.b);
        if (h >= content + pre && s.b[h - 1] == '\n' && (s.lf || s.b[h - 2] == '\r')) break;
        at = h + 1;
      }
      if (!hit) goto unterminated;
      delim_at = (size_t)(hit - s.b);
      end = delim_at - pre;
      dk = classify(&s, delim_at, &next);
      from = delim_at + 1;
    }
    if (dk == DELIM_EOF) goto unterminated;
    if (dk == DELIM_BAD) {
      errbuf_set(err, errlen, "multipart: part %zu: malformed boundary line after it", partno);
      rc = INGEST_EINVAL;
      goto fail;
    }
    p->data = s.b + content;
    p->len = end - content;
    if (dk == DELIM_FINAL) return INGEST_OK;
  }

unterminated:
  errbuf_set(err, errlen, "multipart: unterminated body (no closing \"--%s--\")", boundary);
  rc = INGEST_EINVAL;
fail:
  ingest_form_free(form);
  return rc;
}
