/*
 * layout.h — the names of pgopipe's world: application names and every key
 * of the blob layout (contract, "Blob layout").
 *
 *   {app}/staging/{unix_nanos}-{8 hex}     an accepted upload of any kind, waiting to be merged
 *   {app}/default.pgo                      the merged base profile of the cpu kind
 *   {app}/kinds/{kind}.pgo                 the base profile of another kind (heap, mutex, ...)
 *   {app}/instances/{kind}/{16 hex}        the last snapshot of one instance (cumulative and
 *                                          gauge state); the hex is a hash of the instance id
 *   {app}/hours/{kind}/{YYYYMMDDHH}.pgo    an hour bucket: the kind's uploads of that hour (UTC)
 *   {app}/history/{kind}/{YYYYMMDDHH}/NAME an accepted upload kept for the retention period
 *   {app}/rejected/NAME                    a staged upload the worker could not merge
 *   {app}/rejected/default.pgo.NANOS       a base that did not decode
 *   {app}/rejected/{kind}.pgo.NANOS        a base of another kind that did not decode
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
#define LAYOUT_KINDS_DIR "kinds"
#define LAYOUT_INSTANCES_DIR "instances"
#define LAYOUT_HOURS_DIR "hours"
#define LAYOUT_HISTORY_DIR "history"

/* Profile kinds, Go's names (contract, "Profile kinds"). */
typedef enum layout_kind {
  LAYOUT_KIND_NONE = -1,
  LAYOUT_KIND_CPU = 0,
  LAYOUT_KIND_HEAP,
  LAYOUT_KIND_MUTEX,
  LAYOUT_KIND_BLOCK,
  LAYOUT_KIND_GOROUTINE,
  LAYOUT_KIND_THREADCREATE,
  LAYOUT_KIND_COUNT
} layout_kind;
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

/* ---- Kinds ---- */

/* "cpu", "heap", ... for a kind; NULL for LAYOUT_KIND_NONE or out of range. */
const char *layout_kind_name(layout_kind k);
/* The kind named s ("allocs" is heap, as Go's /debug/pprof names it);
 * LAYOUT_KIND_NONE when s names none (NULL too). */
layout_kind layout_kind_parse(const char *s);

/* The base of (app, kind): "{app}/default.pgo" for cpu, else
 * "{app}/kinds/{kind}.pgo". */
int layout_kind_base_key(const char *app, layout_kind k, char *buf, size_t n);
/* Where an undecodable base of kind k goes: layout_rejected_base_key's key
 * for cpu, "{app}/rejected/{kind}.pgo.{ns}" for the others. */
int layout_rejected_kind_base_key(const char *app, layout_kind k, int64_t ns, char *buf, size_t n);

/* ---- Instances, hours, history ---- */

/* A stable 64-bit hash of an instance id (FNV-1a 64 of its bytes). */
uint64_t layout_instance_hash(const char *instance);
/* "{app}/instances/{kind}/{16 hex of layout_instance_hash(instance)}" */
int layout_instance_key(const char *app, layout_kind k, const char *instance, char *buf, size_t n);
/* "{app}/instances/{kind}/" */
int layout_instances_prefix(const char *app, layout_kind k, char *buf, size_t n);

/* Hours are counted since the epoch: hour = floor(ns / 3600e9). The text
 * form is UTC "YYYYMMDDHH" (10 digits, years 1970..9999). */
int64_t layout_hour_of_ns(int64_t ns);
/* Writes "YYYYMMDDHH" (buf >= 11 bytes). Returns 0, or -1 out of range. */
int layout_hour_format(int64_t hour, char *buf, size_t n);
/* Parses exactly "YYYYMMDDHH" (a valid date, hour 00..23). Returns 0 or -1. */
int layout_hour_parse(const char *s, int64_t *hour);

/* "{app}/hours/{kind}/{YYYYMMDDHH}.pgo" */
int layout_hour_key(const char *app, layout_kind k, int64_t hour, char *buf, size_t n);
/* "{app}/hours/{kind}/" */
int layout_hours_prefix(const char *app, layout_kind k, char *buf, size_t n);
/* "{app}/history/{kind}/{YYYYMMDDHH}/{name}" (name: a staged name) */
int layout_history_key(const char *app, layout_kind k, int64_t hour, const char *name, char *buf,
                       size_t n);
/* "{app}/history/{kind}/" when hour < 0, else "{app}/history/{kind}/{YYYYMMDDHH}/" */
int layout_history_prefix(const char *app, layout_kind k, int64_t hour, char *buf, size_t n);

/* ---- Reading keys ---- */

typedef enum layout_key_type {
  LAYOUT_KEY_OTHER = 0, /* under a valid app, but none of the forms below */
  LAYOUT_KEY_BASE,      /* {app}/default.pgo or {app}/kinds/{kind}.pgo (kind set) */
  LAYOUT_KEY_STAGED,    /* {app}/staging/NAME (name set) */
  LAYOUT_KEY_REJECTED,  /* {app}/rejected/NAME (name set) */
  LAYOUT_KEY_INSTANCE,  /* {app}/instances/{kind}/{16 hex} (kind, name = the hex) */
  LAYOUT_KEY_HOUR,      /* {app}/hours/{kind}/{YYYYMMDDHH}.pgo (kind, hour) */
  LAYOUT_KEY_HISTORY    /* {app}/history/{kind}/{YYYYMMDDHH}/NAME (kind, hour, name) */
} layout_key_type;

typedef struct layout_ref {
  layout_key_type type;
  char app[LAYOUT_APP_MAX + 1];
  layout_kind kind;  /* LAYOUT_KIND_NONE when the form has none */
  int64_t hour;      /* -1 when the form has none */
  const char *name;  /* points into the key; NULL when the form has none */
} layout_ref;

/*
 * Classifies a key of the layout. Returns 0 and fills *ref when the key's
 * first segment is a valid app name (ref->type then says which form it is,
 * LAYOUT_KEY_OTHER for anything else under the app), -1 otherwise.
 */
int layout_parse_key(const char *key, layout_ref *ref);

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
 * rejected/: "NANOS-HEX" (a staged name), "NANOS" (digits only: the staged
 * names autopgo's servers write, {app}/staging/{unix_nanos}),
 * "default.pgo.NANOS" (a rejected base). Returns 0, or -1 when the name
 * carries none.
 */
int layout_name_stamp_ns(const char *name, int64_t *ns);

#ifdef __cplusplus
}
#endif
#endif
