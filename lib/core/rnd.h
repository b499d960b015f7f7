/*
 * rnd.h — randomness from the kernel (getrandom(2)): staged-object names,
 * event ids, request ids. No state, nothing to seed.
 */
#ifndef PGOPIPE_CORE_RND_H
#define PGOPIPE_CORE_RND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fills buf with n random bytes. Returns 0, or -1 when the kernel gave none. */
int rnd_bytes(void *buf, size_t n);

/* Writes 2*nbytes lowercase hex digits plus a NUL into out (size >=
 * 2*nbytes+1). Returns 0 or -1. */
int rnd_hex(char *out, size_t nbytes);

/* Writes a random (version 4) UUID, lower case, into out. Returns 0 or -1. */
int rnd_uuid4(char out[37]);

#ifdef __cplusplus
}
#endif
#endif
