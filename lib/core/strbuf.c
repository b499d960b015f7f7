/* strbuf.c — see strbuf.h. */
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

void strbuf_add(strbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void strbuf_str(strbuf *b, const char *s) { strbuf_add(b, s, strlen(s)); }
