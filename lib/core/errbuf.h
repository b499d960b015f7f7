/*
 * errbuf.h — the one way errors are written in pgopipe.
 *
 * Every function that can fail returns 0 or a negative code of its module
 * and, when the caller passes a buffer (err, errlen), writes one line a user
 * can act on. errbuf_set is the single helper for that; it accepts a NULL
 * buffer or a zero length (the caller did not want the text).
 * Depends on nothing but libc.
 */
#ifndef PGOPIPE_CORE_ERRBUF_H
#define PGOPIPE_CORE_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Formats into err (truncating to errlen - 1 bytes). err may be NULL. */
__attribute__((format(printf, 3, 4))) void errbuf_set(char *err, size_t errlen, const char *fmt,
                                                      ...);
__attribute__((format(printf, 3, 0))) void errbuf_vset(char *err, size_t errlen, const char *fmt,
                                                       va_list ap);
/* Writes the empty string (no error) when err is non-NULL. */
void errbuf_clear(char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
