/*
 * push_tool — what the push tests read back from a running pipeline, as
 * JSON lines for push-check.py:
 *
 *   push_tool staged BLOB_URL [DUMPDIR]
 *       every staged object of the store ({app}/staging/NAME): its key,
 *       app and name, its upload record (the pgopipe-upload comment, null
 *       when it has none), its sample types, sample count, column totals,
 *       time_nanos, and the SHA-256 of its first gzip member (the bytes a
 *       client sent, when the server stored them as received); with DUMPDIR
 *       each object is also written to DUMPDIR/APP/NAME.pb.gz ("file").
 *   push_tool events READER_URL COUNT TIMEOUT_MS [TYPE]
 *       the events of a bus (kafka://GROUP?topic=T), each as its envelope,
 *       until COUNT events of TYPE (default profile.uploaded) were read or
 *       TIMEOUT_MS passed without an event; exit 1 when fewer than COUNT
 *       came.
 *
 * Exit status: 0, 1 on a failure (message on stderr), 2 on usage.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "blob.h"
#include "bus.h"
#include "ingest.h"
#include "layout.h"
#include "pprof.h"

static int usage(void) {
  fprintf(stderr, "usage: push_tool staged BLOB_URL [DUMPDIR]\n"
                  "       push_tool events READER_URL COUNT TIMEOUT_MS [TYPE]\n");
  return 2;
}

/* Length of the first gzip member of b (0 when b is not gzip). */
static size_t first_member(const uint8_t *b, size_t n) {
  if (n < 2 || b[0] != 0x1f || b[1] != 0x8b) return 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return 0;
  uint8_t out[65536];
  z.next_in = (Bytef *)(uintptr_t)b;
  z.avail_in = (uInt)n;
  int rc;
  do {
    z.next_out = out;
    z.avail_out = sizeof out;
    rc = inflate(&z, Z_NO_FLUSH);
  } while (rc == Z_OK);
  size_t used = rc == Z_STREAM_END ? n - z.avail_in : 0;
  inflateEnd(&z);
  return used;
}

static void hex_sha256(const uint8_t *b, size_t n, char out[65]) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(b, n, d);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static int mkdirs(const char *dir, const char *app, char *path, size_t n) {
  snprintf(path, n, "%s/%s", dir, app);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

/* One staged object as a JSON object (caller decrefs); NULL on failure. */
static json_t *describe(blob_store *bs, const char *key, const layout_ref *ref, const char *dump) {
  char err[512];
  uint8_t *data = NULL;
  size_t len = 0;
  if (blob_get(bs, key, 0, &data, &len, NULL, err, sizeof err) != BLOB_OK) {
    fprintf(stderr, "push_tool: %s: %s\n", key, err);
    return NULL;
  }
  pp_profile *p = NULL;
  json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "key", key, "app", ref->app, "name", ref->name, "bytes",
                        (json_int_t)len);
  if (pp_decode(data, len, NULL, &p, err, sizeof err) != PP_OK) {
    json_object_set_new(o, "error", json_string(err));
    free(data);
    return o;
  }
  ingest_meta m;
  int found = 0;
  if (ingest_meta_from_profile(p, &m, &found, err, sizeof err) != INGEST_OK) {
    json_object_set_new(o, "record_error", json_string(err));
  } else if (found) {
    char *j = NULL;
    if (ingest_meta_to_json(&m, &j, err, sizeof err) == INGEST_OK)
      json_object_set_new(o, "record", json_loads(j, 0, NULL));
    free(j);
  }
  ingest_meta_free(&m);
  if (!found) json_object_set_new(o, "record", json_null());
  json_t *types = json_array(), *totals = json_array();
  for (size_t i = 0; i < pp_sample_type_count(p); i++) {
    pp_value_type t = pp_sample_type(p, i);
    char tu[256];
    snprintf(tu, sizeof tu, "%s/%s", t.type, t.unit);
    json_array_append_new(types, json_string(tu));
    json_array_append_new(totals, json_integer(pp_total(p, i)));
  }
  json_object_set_new(o, "types", types);
  json_object_set_new(o, "totals", totals);
  json_object_set_new(o, "samples", json_integer((json_int_t)pp_sample_count(p)));
  json_object_set_new(o, "time_nanos", json_integer(pp_time_nanos(p)));
  json_object_set_new(o, "comments", json_integer((json_int_t)pp_comment_count(p)));
  size_t fm = first_member(data, len);
  char sha[65];
  hex_sha256(data, fm ? fm : len, sha);
  json_object_set_new(o, "first_member_sha256", json_string(sha));
  json_object_set_new(o, "members", json_integer(fm && fm < len ? 2 : 1));
  if (dump) {
    char dir[1024], file[1400];
    if (mkdirs(dump, ref->app, dir, sizeof dir) == 0) {
      snprintf(file, sizeof file, "%s/%s.pb.gz", dir, ref->name);
      FILE *f = fopen(file, "wb");
      if (f && fwrite(data, 1, len, f) == len && fclose(f) == 0) json_object_set_new(o, "file", json_string(file));
    }
  }
  pp_free(p);
  free(data);
  return o;
}

static int staged(const char *url, const char *dump) {
  char err[512];
  blob_store *bs = NULL;
  if (blob_open(url, &bs, err, sizeof err) != BLOB_OK) {
    fprintf(stderr, "push_tool: %s\n", err);
    return 1;
  }
  blob_iter *it = NULL;
  if (blob_list(bs, "", &it, err, sizeof err) != BLOB_OK) {
    fprintf(stderr, "push_tool: listing %s: %s\n", url, err);
    blob_close(bs);
    return 1;
  }
  /* Keys first (the iterator's key is valid until the next call). */
  size_t n = 0, cap = 0;
  char **keys = NULL;
  const char *k;
  blob_info info;
  int rc;
  while ((rc = blob_iter_next(it, &k, &info, err, sizeof err)) == 1) {
    layout_ref ref;
    if (layout_parse_key(k, &ref) != 0 || ref.type != LAYOUT_KEY_STAGED) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      keys = realloc(keys, cap * sizeof *keys);
    }
    keys[n++] = strdup(k);
  }
  blob_iter_free(it);
  int status = rc < 0 ? 1 : 0;
  if (rc < 0) fprintf(stderr, "push_tool: listing %s: %s\n", url, err);
  for (size_t i = 0; i < n && !status; i++) {
    layout_ref ref;
    layout_parse_key(keys[i], &ref);
    json_t *o = describe(bs, keys[i], &ref, dump);
    if (!o) {
      status = 1;
      break;
    }
    char *line = json_dumps(o, JSON_COMPACT);
    puts(line);
    free(line);
    json_decref(o);
  }
  for (size_t i = 0; i < n; i++) free(keys[i]);
  free(keys);
  blob_close(bs);
  return status;
}

static int events(const char *url, long want, int timeout_ms, const char *type) {
  char err[512];
  bus_reader *rd = NULL;
  if (bus_reader_open(url, &rd, err, sizeof err) != BUS_OK) {
    fprintf(stderr, "push_tool: %s\n", err);
    return 1;
  }
  long seen = 0;
  while (seen < want) {
    bus_msg *m = NULL;
    int rc = bus_poll(rd, timeout_ms, &m, err, sizeof err);
    if (rc == 0) break;
    if (rc < 0) {
      fprintf(stderr, "push_tool: %s\n", err);
      break;
    }
    bus_event ev;
    if (bus_event_decode(m->payload, m->len, &ev, err, sizeof err) != BUS_OK) {
      fprintf(stderr, "push_tool: undecodable event: %s\n", err);
    } else {
      char *j = NULL;
      size_t jl;
      if (bus_event_encode(&ev, &j, &jl, err, sizeof err) == BUS_OK) puts(j);
      free(j);
      if (!strcmp(ev.type, type)) seen++;
    }
    bus_commit(rd, m, err, sizeof err);
    bus_msg_free(m);
  }
  bus_reader_close(rd);
  if (seen < want) {
    fprintf(stderr, "push_tool: %ld %s events, want %ld\n", seen, type, want);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "staged")) return staged(argv[2], argc == 4 ? argv[3] : NULL);
  if (argc >= 5 && argc <= 6 && !strcmp(argv[1], "events"))
    return events(argv[2], atol(argv[3]), atoi(argv[4]), argc == 6 ? argv[5] : BUS_TYPE_UPLOADED);
  return usage();
}
