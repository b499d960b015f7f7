/*
 * internal.h — small string helpers shared by lib/ingest's files (not API).
 */
#ifndef PGOPIPE_INGEST_INTERNAL_H
#define PGOPIPE_INGEST_INTERNAL_H

#include "ingest.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Copy of s[0..n) with a NUL, malloc'd; NULL when out of memory. */
char *ing_strndup(const char *s, size_t n);
/* s[0..*n) without leading/trailing spaces and tabs (adjusts s and *n). */
const char *ing_trim(const char *s, size_t *n);
/* ASCII case-insensitive equality of a[0..n) and the C string b. */
bool ing_ieq(const char *a, size_t n, const char *b);
static inline bool ing_is_space(int c) { return c == ' ' || c == '\t'; }
/* 1 when s[0..n) is valid UTF-8 (what JSON strings must be). */
bool ing_utf8_valid(const char *s, size_t n);
/* Maps a pprof engine error code to an ingest one. */
int ing_from_pp(int pp_code);

#endif
