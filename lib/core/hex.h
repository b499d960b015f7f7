/*
 * hex.h — bytes as lowercase hexadecimal text (digests in ETags and
 * signatures, MACs of session cookies, random names).
 */
#ifndef PGOPIPE_CORE_HEX_H
#define PGOPIPE_CORE_HEX_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the 2*n lowercase hex digits of bytes[0..n) plus a NUL into out
 * (room: 2*n + 1). */
void hex_encode(const void *bytes, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
