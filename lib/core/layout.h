/*
 * layout.h — the names of pgopipe's world: application names and every key
 * of the blob layout (contract, "Blob layout").
 *
 *   {app}/staging/{unix_nanos}-{8 hex}   an accepted upload, waiting to be merged
 *   {app}/default.pgo                    the merged base profile
 *   {app}/rejected/NAME                  a staged upload the worker could not merge
 *   {app}/rejected/default.pgo.NANOS     a base that did not decode
 *
 * Every module builds and reads keys through these functions only, so the
 * layout is written down once. Functions that build a key return 0, or -1
 * when the app name is invalid or the buffer too small (buf is then "").
 * Depends on nothing but libc.
 */
#ifndef PGOPIPE_CORE_LAYOUT_H
#define PGOPIPE_CORE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LAYOUT_APP_MAX 63            /* longest app name */
#define LAYOUT_BASE_NAME "default.pgo"
#define LAYOUT_STAGING_DIR "staging"
#define LAYOUT_REJECTED_DIR "rejected"
/* A buffer that holds every key this header builds for a valid app and a
 * staged name (app + "/rejected/" + name up to 256 bytes). */
#define LAYOUT_KEY_BUF 384

/* 1 when s (NUL-terminated) is an app name: ^[a-z0-9-]{1,63}$, else 0. */
int layout_app_valid(const char *s);
/* The same rule on the first n bytes of s (s need not be terminated). */
int layout_app_valid_n(const char *s, size_t n);

/* "{app}/" — the prefix of everything an app owns. */
int layout_app_prefix(const char *app, char *buf, size_t n);
/* "{app}/default.pgo" */
int layout_base_key(const char *app, char *buf, size_t n);
/* "{app}/staging/" */
int layout_staging_prefix(const char *app, char *buf, size_t n);
/* "{app}/staging/{name}" */
int layout_staging_key(const char *app, const char *name, char *buf, size_t n);
/* A fresh staged key "{app}/staging/{now_ns}-{8 random hex}". Also -1 when
 * the kernel gives no randomness. */
int layout_staging_key_new(const char *app, int64_t now_ns, char *buf, size_t n);
/* "{app}/rejected/" */
int layout_rejected_prefix(const char *app, char *buf, size_t n);
/* "{app}/rejected/{name}" (name: a staged name) */
int layout_rejected_key(const char *app, const char *name, char *buf, size_t n);
/* "{app}/rejected/default.pgo.{ns}" — where an undecodable base goes */
int layout_rejected_base_key(const char *app, int64_t ns, char *buf, size_t n);

/*
 * If key is "{app}/staging/NAME" with NAME a single non-empty segment
 * (no '/', no whitespace), returns NAME (pointing into key); else NULL.
 */
const char *layout_staged_name(const char *key, const char *app);

/*
 * The app of any key of the layout: copies the first segment into app
 * (>= LAYOUT_APP_MAX + 1 bytes) when it is a valid app name followed by
 * '/'. Returns 0 or -1.
 */
int layout_key_app(const char *key, char *app, size_t n);

/*
 * The time stamp (ns since the epoch) in an object name of staging/ or
 * rejected/: "NANOS-HEX" (a staged name), "default.pgo.NANOS" (a rejected
 * base). Returns 0, or -1 when the name carries none.
 */
int layout_name_stamp_ns(const char *name, int64_t *ns);

#ifdef __cplusplus
}
#endif
#endif
