/*
 * strbuf.h — a growing, always NUL-terminated string buffer for building
 * texts piece by piece (signatures, metrics pages). After an allocation
 * fails, `oom` is set and every further append does nothing, so a builder
 * checks once at the end.
 */
#ifndef PGOPIPE_CORE_STRBUF_H
#define PGOPIPE_CORE_STRBUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Zero-initialise ({0}); p is malloc'd (owned by the buffer's user: free(p)
 * when done), NULL until the first append. */
typedef struct strbuf {
  char *p;
  size_t len, cap;
  int oom;
} strbuf;

/* Appends s[0..n). */
void strbuf_add(strbuf *b, const char *s, size_t n);
/* Appends the C string s. */
void strbuf_str(strbuf *b, const char *s);

#ifdef __cplusplus
}
#endif
#endif
