/*
 * appname.c — service names of the push protocols turned into app names
 * (^[a-z0-9-]{1,63}$), the contract's rule: lowercase, runs of anything
 * else become '-', no '-' at either end, long names cut to 54 characters
 * plus '-' and 8 hex digits of FNV-1a 32 of the original name.
 *
 * FNV-1a is chosen for being stable (fixed constants, no seed, the same on
 * every platform and release), tiny, and good enough to keep two long
 * names with the same 54-character prefix apart; it is not a security
 * boundary (anyone may push under any name).
 */
#include "internal.h"

#include "errbuf.h"

#include <stdio.h>
#include <stdlib.h>

uint32_t ingest_fnv1a32(const void *data, size_t n) {
  const uint8_t *p = data;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

int ingest_app_from_service(const char *name, char *app, size_t applen, char *err, size_t errlen) {
  if (applen) app[0] = 0;
  if (applen < LAYOUT_APP_MAX + 1) {
    errbuf_set(err, errlen, "app buffer too small");
    return INGEST_EINVAL;
  }
  if (!name) name = "";
  size_t len = strlen(name);
  char *out = malloc(len + 1);
  if (!out) {
    errbuf_set(err, errlen, "out of memory");
    return INGEST_ENOMEM;
  }
  size_t n = 0;
  bool gap = false; /* a run of other bytes since the last kept character */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      gap = n > 0; /* a leading run is dropped, a trailing one never written */
      continue;
    }
    if (gap) out[n++] = '-';
    out[n++] = (char)c;
    gap = false;
  }
  if (n == 0) {
    free(out);
    errbuf_set(err, errlen,
               "service name \"%.100s\" has no letters or digits: it normalises to an empty app name", name);
    return INGEST_EINVAL;
  }
  if (n > LAYOUT_APP_MAX)
    snprintf(app, applen, "%.54s-%08x", out, (unsigned)ingest_fnv1a32(name, len));
  else {
    memcpy(app, out, n);
    app[n] = 0;
  }
  free(out);
  return INGEST_OK;
}
