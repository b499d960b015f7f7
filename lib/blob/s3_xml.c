/*
 * s3_xml.c — ListObjectsV2 pages and S3 error bodies, with expat (see
 * s3_xml.h).
 *
 * One small state machine serves both documents: expat reports elements
 * and text, the state keeps the local names of the first four levels and
 * the text of the current element (up to 2047 bytes), and an element's end
 * decides what its text means from where it stands: Code and Message under
 * <Error>; IsTruncated, NextContinuationToken and Contents under
 * <ListBucketResult>; Key, Size, LastModified and ETag inside a Contents.
 */
#include "s3_xml.h"

#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"

typedef struct xml_state {
  int depth;
  char path[4][32]; /* element names at depth 1..4 (local names) */
  char text[2048];
  size_t tlen;
  int too_long;
  /* error bodies */
  char code[128], message[512];
  /* listings */
  s3_list_item *items;
  size_t n, cap;
  s3_list_item cur;
  int in_contents;
  int truncated;
  char *next_token;
  int oom;
} xml_state;

/* Copies src into dst[size], truncating. */
static void copy_trunc(char *dst, size_t size, const char *src) {
  if (!dst || size == 0) return;
  size_t n = strlen(src);
  if (n >= size) n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static const char *local_name(const char *n) {
  const char *c = strrchr(n, ':');
  return c ? c + 1 : n;
}

static void XMLCALL xml_start(void *ud, const XML_Char *name, const XML_Char **atts) {
  (void)atts;
  xml_state *x = ud;
  x->depth++;
  if (x->depth <= 4) snprintf(x->path[x->depth - 1], sizeof x->path[0], "%s", local_name(name));
  x->tlen = 0;
  x->too_long = 0;
  x->text[0] = '\0';
  if (x->depth == 2 && !strcmp(x->path[1], "Contents")) {
    memset(&x->cur, 0, sizeof x->cur);
    x->in_contents = 1;
  }
}

static void XMLCALL xml_text(void *ud, const XML_Char *s, int len) {
  xml_state *x = ud;
  if (x->tlen + (size_t)len >= sizeof x->text) {
    x->too_long = 1;
    return;
  }
  memcpy(x->text + x->tlen, s, (size_t)len);
  x->tlen += (size_t)len;
  x->text[x->tlen] = '\0';
}

/* The end of a <Contents>: its item joins the page when it has a key. */
static void end_contents(xml_state *x) {
  x->in_contents = 0;
  if (!x->cur.key) return;
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    s3_list_item *it = realloc(x->items, cap * sizeof *it);
    if (!it) {
      x->oom = 1;
      free(x->cur.key);
      x->cur.key = NULL;
      return;
    }
    x->items = it;
    x->cap = cap;
  }
  x->items[x->n++] = x->cur;
  x->cur.key = NULL;
}

/* A child of <ListBucketResult>. */
static void end_list_child(xml_state *x, const char *ln) {
  if (!strcmp(ln, "IsTruncated")) {
    x->truncated = !strcmp(x->text, "true");
  } else if (!strcmp(ln, "NextContinuationToken") && !x->too_long) {
    free(x->next_token);
    x->next_token = strdup(x->text);
    if (!x->next_token) x->oom = 1;
  } else if (!strcmp(ln, "Contents") && x->in_contents) {
    end_contents(x);
  }
}

/* A child of <Contents>. */
static void end_item_field(xml_state *x, const char *ln) {
  if (!strcmp(ln, "Key") && !x->too_long) {
    free(x->cur.key);
    x->cur.key = strdup(x->text);
    if (!x->cur.key) x->oom = 1;
  } else if (!strcmp(ln, "Size")) {
    x->cur.info.size = strtoull(x->text, NULL, 10);
  } else if (!strcmp(ln, "LastModified")) {
    int64_t ms;
    x->cur.info.mtime_ms = chrono_parse_rfc3339(x->text, &ms) == 0 ? ms : 0;
  } else if (!strcmp(ln, "ETag")) {
    copy_trunc(x->cur.info.etag, sizeof x->cur.info.etag, x->text);
  }
}

static void XMLCALL xml_end(void *ud, const XML_Char *name) {
  xml_state *x = ud;
  const char *ln = local_name(name);
  if (x->depth == 2 && !strcmp(x->path[0], "Error")) {
    if (!strcmp(ln, "Code"))
      copy_trunc(x->code, sizeof x->code, x->text);
    else if (!strcmp(ln, "Message"))
      copy_trunc(x->message, sizeof x->message, x->text);
  } else if (x->depth == 2 && !strcmp(x->path[0], "ListBucketResult")) {
    end_list_child(x, ln);
  } else if (x->depth == 3 && x->in_contents) {
    end_item_field(x, ln);
  }
  x->depth--;
  x->tlen = 0;
  x->text[0] = '\0';
}

/* Runs expat over the whole body. 0, or -1 when malformed or out of memory. */
static int xml_parse(xml_state *x, const char *body, size_t len) {
  if (len > INT32_MAX) return -1;
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p) return -1;
  XML_SetUserData(p, x);
  XML_SetElementHandler(p, xml_start, xml_end);
  XML_SetCharacterDataHandler(p, xml_text);
  int ok = XML_Parse(p, body ? body : "", (int)len, 1) == XML_STATUS_OK;
  XML_ParserFree(p);
  return ok && !x->oom ? 0 : -1;
}

static void xml_free(xml_state *x) {
  for (size_t i = 0; i < x->n; i++)
    free(x->items[i].key);
  free(x->items);
  free(x->cur.key);
  free(x->next_token);
}

int s3_xml_parse_list(const char *body, size_t len, s3_list_page *page) {
  memset(page, 0, sizeof *page);
  xml_state *x = calloc(1, sizeof *x);
  if (!x) return -1;
  int rc = xml_parse(x, body, len);
  if (rc == 0) {
    page->items = x->items;
    page->n = x->n;
    page->truncated = x->truncated;
    page->next_token = x->next_token;
    x->items = NULL;
    x->n = 0;
    x->next_token = NULL;
  }
  xml_free(x);
  free(x);
  return rc;
}

void s3_list_page_free(s3_list_page *page) {
  if (!page) return;
  for (size_t i = 0; i < page->n; i++)
    free(page->items[i].key);
  free(page->items);
  free(page->next_token);
  memset(page, 0, sizeof *page);
}

int s3_xml_parse_error(const char *body, size_t len, char *code, size_t codelen, char *message,
                       size_t messagelen) {
  xml_state *x = calloc(1, sizeof *x);
  if (!x) {
    copy_trunc(code, codelen, "");
    copy_trunc(message, messagelen, "");
    return -1;
  }
  int rc = xml_parse(x, body, len);
  copy_trunc(code, codelen, x->code);
  copy_trunc(message, messagelen, x->message);
  xml_free(x);
  free(x);
  return rc;
}
