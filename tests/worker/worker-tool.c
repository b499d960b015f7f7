/*
 * worker-tool — the test driver of the merge worker's integration tests.
 *
 * It does what the upload service does (put a staged object, then publish
 * profile.uploaded) without the service, so the worker can be tested on its
 * own against real S3 and Kafka-protocol servers; and it reads back what the
 * worker produced (objects, totals of a profile, the base's merge record).
 *
 *   worker-tool upload BLOB WRITER APP FILE...   stage + publish; prints keys
 *   worker-tool upload-timed BLOB WRITER APP INTERVAL_MS FILE...
 *                                                same, one every INTERVAL_MS, printing
 *                                                "KEY MS" (ms since the epoch when the
 *                                                publish was acknowledged, i.e. the 201)
 *   worker-tool stage BLOB APP FILE              stage only (no event); prints key
 * stage, upload and upload-timed take, before their arguments, the metadata
 * the server writes into a staged upload of another kind (the
 * `pgopipe-upload:` comment): --kind K, --mode delta|cumulative,
 * --instance ID, --source api|scraper|pyroscope|profefe|traceway (default
 * api), --time NS (the profile's time; also written into it); and
 * --profile-time NS, which only rewrites the profile's time_nanos (a plain
 * upload stays plain).
 *   worker-tool series --kind K [--restart R] [--offset O] OUTDIR N FILE...
 *                                                N cumulative snapshots of one instance from
 *                                                the real profiles FILE... (snapshot k: the sum
 *                                                of its life's profiles, gauges of profile k; a
 *                                                restart before snapshot R): OUTDIR/snap-NNN,
 *                                                contrib-NNN (what each adds to a base: its
 *                                                profile's counters), gauge (the last one's
 *                                                gauges), all .pb.gz
 *   worker-tool publish WRITER TYPE APP [KEY]    publish an envelope
 *   worker-tool raw WRITER KEY TEXT              publish arbitrary bytes
 *   worker-tool put BLOB KEY FILE | get BLOB KEY OUT | list BLOB PREFIX
 *   worker-tool totals FILE...                   "samples=N v0=S0 v1=S1 ..." summed over files
 *   worker-tool record FILE                      names in the base's merge record, one a line
 *   worker-tool wait-key BLOB KEY SECS [gone]    waits until KEY exists (or is gone)
 *   worker-tool wait-total BLOB KEY IDX VALUE SECS  waits until the base's total IDX is VALUE
 * Exit 0 on success, 1 on failure with a message on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob.h"
#include "bus.h"
#include "chrono.h"
#include "ingest.h"
#include "layout.h"
#include "pprof.h"
#include "worker.h"

__attribute__((format(printf, 1, 2))) static int die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "worker-tool: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 1;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 65536, n = 0;
  uint8_t *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) { free(buf); buf = NULL; }
      buf = nb;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

/* The metadata of --kind and friends (g_has_meta: given). */
static ingest_meta g_meta;
static int g_has_meta;
/* --profile-time: the time_nanos a plain upload is staged with (0: as it is). */
static int64_t g_profile_time;

/* Takes the metadata options at argv[2...] out of argv. Returns the new
 * argc, or -1 after printing why. */
static int meta_options(int argc, char **argv) {
  ingest_meta_init(&g_meta);
  int i = 2;
  while (i + 1 < argc && !strncmp(argv[i], "--", 2)) {
    const char *o = argv[i] + 2, *v = argv[i + 1];
    int bad = 0;
    if (!strcmp(o, "kind")) bad = ingest_kind_parse(v, &g_meta.kind) != 0;
    else if (!strcmp(o, "mode")) bad = ingest_mode_parse(v, &g_meta.mode) != 0;
    else if (!strcmp(o, "source")) bad = ingest_source_parse(v, &g_meta.source) != 0;
    else if (!strcmp(o, "instance")) bad = !(g_meta.instance = strdup(v));
    else if (!strcmp(o, "time")) g_meta.time_ns = atoll(v);
    else if (!strcmp(o, "profile-time")) g_profile_time = atoll(v);
    else return die("unknown option --%s", o), -1;
    if (bad) return die("bad value for --%s: %s", o, v), -1;
    if (strcmp(o, "profile-time") != 0) g_has_meta = 1;
    i += 2;
  }
  int shift = i - 2;
  for (int j = 2; j + shift <= argc; j++) argv[j] = argv[j + shift];
  return argc - shift;
}

/* The file's profile with the metadata comment (and time) of the options,
 * encoded into *out. Returns 0 or 1 after printing why. */
static int with_meta(const char *file, const uint8_t *data, size_t len, uint8_t **out,
                     size_t *outlen) {
  char err[1024];
  pp_profile *p = NULL;
  if (pp_decode(data, len, NULL, &p, err, sizeof err) != 0) return die("%s: %s", file, err);
  g_meta.received_ns = chrono_now_ns();
  char *comment = NULL;
  int rc = g_has_meta ? ingest_meta_comment(&g_meta, &comment, err, sizeof err) : 0;
  if (rc == 0 && g_has_meta) {
    pp_remove_comments_with_prefix(p, INGEST_RESERVED_COMMENT_PREFIX);
    rc = pp_add_comment(p, comment);
    if (g_meta.time_ns) pp_set_time(p, g_meta.time_ns, pp_duration_nanos(p));
  }
  if (rc == 0 && g_profile_time) pp_set_time(p, g_profile_time, pp_duration_nanos(p));
  if (rc == 0) rc = pp_encode(p, 1, out, outlen, err, sizeof err);
  free(comment);
  pp_free(p);
  return rc != 0 ? die("%s: %s", file, err) : 0;
}

static int stage(blob_store *s, const char *app, const char *file, char *key, size_t keyn) {
  size_t len;
  uint8_t *data = read_file(file, &len);
  if (!data) return die("cannot read %s", file);
  if (g_has_meta || g_profile_time) {
    uint8_t *m = NULL;
    int rc = with_meta(file, data, len, &m, &len);
    free(data);
    if (rc != 0) return rc;
    data = m;
  }
  char err[1024];
  if (layout_staging_key_new(app, chrono_now_ns(), key, keyn) != 0)
    return die("cannot name a staged object of app %s", app);
  int rc = blob_put(s, key, data, len, err, sizeof err);
  free(data);
  if (rc != 0) return die("put: %s", err);
  return 0;
}

/* Reads and decodes a profile file; NULL after printing why. */
static pp_profile *decode_path(const char *path) {
  size_t len;
  uint8_t *data = read_file(path, &len);
  if (!data) {
    die("cannot read %s", path);
    return NULL;
  }
  char err[1024];
  pp_profile *p = NULL;
  int rc = pp_decode(data, len, NULL, &p, err, sizeof err);
  free(data);
  if (rc != 0) {
    die("%s: %s", path, err);
    return NULL;
  }
  return p;
}

static double secs_since(int64_t t0_ns) { return (double)(chrono_mono_ns() - t0_ns) / 1e9; }

static void sleep_ms(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&d, NULL);
}

/* totals FILE... */
static int cmd_totals(int argc, char **argv) {
  int64_t sums[16] = {0};
  size_t nt = 0, samples = 0;
  for (int i = 2; i < argc; i++) {
    pp_profile *p = decode_path(argv[i]);
    if (!p) return 1;
    nt = pp_sample_type_count(p);
    if (nt > 16) nt = 16;
    for (size_t k = 0; k < nt; k++) sums[k] += pp_total(p, k);
    samples += pp_sample_count(p);
    pp_free(p);
  }
  printf("samples=%zu", samples);
  for (size_t k = 0; k < nt; k++) printf(" v%zu=%lld", k, (long long)sums[k]);
  printf("\n");
  return 0;
}

/* record FILE */
static int cmd_record(char **argv) {
  pp_profile *p = decode_path(argv[2]);
  if (!p) return 1;
  size_t pl = strlen(WORKER_RECORD_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, WORKER_RECORD_PREFIX, pl)) continue;
    for (const char *s = c + pl; *s;) {
      while (*s == ' ') s++;
      const char *e = s;
      while (*e && *e != ' ') e++;
      if (e > s) printf("%.*s\n", (int)(e - s), s);
      s = e;
    }
  }
  pp_free(p);
  return 0;
}

/* upload BLOB WRITER APP FILE... / upload-timed BLOB WRITER APP INTERVAL_MS FILE... */
static int upload_files(bus_writer *w, int timed, int argc, char **argv, char *err, size_t errlen) {
  blob_store *s = NULL;
  if (blob_open(argv[2], &s, err, errlen) != 0) return die("%s: %s", argv[2], err);
  long interval = timed ? atol(argv[5]) : 0;
  int rc = 0;
  for (int i = timed ? 6 : 5; i < argc && rc == 0; i++) {
    int64_t t0 = chrono_mono_ns();
    char key[1024];
    if (stage(s, argv[4], argv[i], key, sizeof key) != 0) {
      rc = -1;
      break;
    }
    bus_event ev;
    bus_event_init(&ev, BUS_TYPE_UPLOADED, argv[4]);
    snprintf(ev.profile_key, sizeof ev.profile_key, "%s", key);
    rc = bus_publish_event(w, &ev, err, errlen);
    if (rc == 0 && !timed) printf("%s\n", key);
    if (rc == 0 && timed) {
      printf("%s %lld\n", key, (long long)chrono_now_ms());
      fflush(stdout);
      long spent = (long)(secs_since(t0) * 1000);
      if (spent < interval) sleep_ms(interval - spent);
    }
  }
  blob_close(s);
  return rc;
}

/* publish, raw, upload, upload-timed: the verbs that write to the bus. */
static int cmd_bus(const char *cmd, int argc, char **argv) {
  int timed = !strcmp(cmd, "upload-timed");
  int upl = timed || !strcmp(cmd, "upload");
  const char *wurl = upl ? argv[3] : argv[2];
  if (!strcmp(cmd, "upload") && argc < 6) return die("usage: upload BLOB WRITER APP FILE...");
  if (timed && argc < 7) return die("usage: upload-timed BLOB WRITER APP INTERVAL_MS FILE...");
  if (!strcmp(cmd, "publish") && argc < 5) return die("usage: publish WRITER TYPE APP [KEY]");
  if (!strcmp(cmd, "raw") && argc != 5) return die("usage: raw WRITER KEY TEXT");
  char err[1024];
  bus_writer *w = NULL;
  if (bus_writer_open(wurl, &w, err, sizeof err) != 0) return die("%s: %s", wurl, err);
  int rc = 0;
  if (!strcmp(cmd, "raw")) {
    rc = bus_publish(w, argv[3], argv[4], strlen(argv[4]), err, sizeof err);
  } else if (!strcmp(cmd, "publish")) {
    bus_event ev;
    bus_event_init(&ev, argv[3], argv[4]);
    if (argc > 5) snprintf(ev.profile_key, sizeof ev.profile_key, "%s", argv[5]);
    rc = bus_publish_event(w, &ev, err, sizeof err);
  } else {
    rc = upload_files(w, timed, argc, argv, err, sizeof err);
  }
  bus_writer_close(w);
  if (rc != 0) return die("publish: %s", err);
  return 0;
}

/* get BLOB KEY OUT */
static int cmd_get(blob_store *s, char **argv) {
  char err[1024];
  uint8_t *data;
  size_t len;
  if (blob_get(s, argv[3], 0, &data, &len, NULL, err, sizeof err) != 0) return die("get: %s", err);
  FILE *f = fopen(argv[4], "wb");
  int rc = !f || fwrite(data, 1, len, f) != len;
  if (f) fclose(f);
  free(data);
  if (rc) die("cannot write %s", argv[4]);
  return rc;
}

/* put BLOB KEY FILE */
static int cmd_put(blob_store *s, char **argv) {
  char err[1024];
  size_t len;
  uint8_t *data = read_file(argv[4], &len);
  int rc = 0;
  if (!data) rc = die("cannot read %s", argv[4]);
  else if (blob_put(s, argv[3], data, len, err, sizeof err) != 0) rc = die("put: %s", err);
  free(data);
  return rc;
}

/* list BLOB PREFIX */
static int cmd_list(blob_store *s, char **argv) {
  char err[1024];
  blob_iter *it;
  if (blob_list(s, argv[3], &it, err, sizeof err) != 0) return die("list: %s", err);
  const char *key;
  blob_info info;
  int k;
  while ((k = blob_iter_next(it, &key, &info, err, sizeof err)) == 1) printf("%s\n", key);
  blob_iter_free(it);
  return k < 0 ? die("list: %s", err) : 0;
}

/* wait-key BLOB KEY SECS [gone] */
static int cmd_wait_key(blob_store *s, int argc, char **argv) {
  int want_gone = argc == 6;
  double secs = atof(argv[4]);
  int64_t t0 = chrono_mono_ns();
  char err[1024];
  for (;;) {
    blob_info info;
    int k = blob_stat(s, argv[3], &info, err, sizeof err);
    if ((k == 0 && !want_gone) || (k == BLOB_ENOTFOUND && want_gone)) return 0;
    if (secs_since(t0) > secs)
      return die("timed out waiting for %s%s", argv[3], want_gone ? " to go" : "");
    sleep_ms(50);
  }
}

/* wait-total BLOB KEY IDX VALUE SECS */
static int cmd_wait_total(blob_store *s, char **argv) {
  size_t idx = (size_t)atoi(argv[4]);
  long long want = atoll(argv[5]);
  double secs = atof(argv[6]);
  int64_t t0 = chrono_mono_ns();
  long long last = -1;
  char err[1024];
  for (;;) {
    uint8_t *data;
    size_t len;
    if (blob_get(s, argv[3], 0, &data, &len, NULL, err, sizeof err) == 0) {
      pp_profile *p = NULL;
      if (pp_decode(data, len, NULL, &p, err, sizeof err) == 0) {
        last = idx < pp_sample_type_count(p) ? (long long)pp_total(p, idx) : -1;
        pp_free(p);
      }
      free(data);
    }
    if (last == want) return 0;
    if (secs_since(t0) > secs) {
      char got[64];
      snprintf(got, sizeof got, "%lld", last);
      return die("timed out: total is %s, want %s", got, argv[5]);
    }
    sleep_ms(100);
  }
}

/* The verbs on a blob store: argv[2] is its URL. */
static int cmd_blob(const char *cmd, int argc, char **argv) {
  char err[1024];
  blob_store *s = NULL;
  if (blob_open(argv[2], &s, err, sizeof err) != 0) return die("%s: %s", argv[2], err);
  int rc;
  if (!strcmp(cmd, "stage") && argc == 5) {
    char key[1024];
    rc = stage(s, argv[3], argv[4], key, sizeof key);
    if (rc == 0) printf("%s\n", key);
  } else if (!strcmp(cmd, "put") && argc == 5) {
    rc = cmd_put(s, argv);
  } else if (!strcmp(cmd, "get") && argc == 5) {
    rc = cmd_get(s, argv);
  } else if (!strcmp(cmd, "list") && argc == 4) {
    rc = cmd_list(s, argv);
  } else if (!strcmp(cmd, "wait-key") && (argc == 5 || argc == 6)) {
    rc = cmd_wait_key(s, argc, argv);
  } else if (!strcmp(cmd, "wait-total") && argc == 7) {
    rc = cmd_wait_total(s, argv);
  } else {
    rc = die("unknown command or wrong arguments: %s", cmd);
  }
  blob_close(s);
  return rc;
}

/* ---- series ---- */

/* p scaled: counter columns by cf, gauges by gf (kind k decides which are
 * which), samples left all zero dropped. NULL after printing why. */
static pp_profile *scaled_copy(const pp_profile *p, ingest_kind k, int64_t cf, int64_t gf) {
  char err[1024];
  ingest_kind_info ki;
  if (ingest_kind_detect(p, k, &ki, err, sizeof err) != 0) {
    die("%s", err);
    return NULL;
  }
  int64_t f[INGEST_MAX_COLUMNS];
  ingest_kind_factors(&ki, cf, gf, f);
  pp_profile *c = pp_clone(p), *out = NULL;
  if (!c || pp_scale_columns(c, f, ki.ncols, err, sizeof err) != 0 ||
      pp_merge(&c, 1, &out, err, sizeof err) != 0) {
    die("scaling: %s", err);
    return NULL;
  }
  return out;
}

static int put_profile(const char *dir, const char *name, size_t k, const pp_profile *p) {
  char path[2048], err[1024];
  if (k == (size_t)-1) snprintf(path, sizeof path, "%s/%s.pb.gz", dir, name);
  else snprintf(path, sizeof path, "%s/%s-%03zu.pb.gz", dir, name, k);
  uint8_t *b = NULL;
  size_t n = 0;
  if (pp_encode(p, 1, &b, &n, err, sizeof err) != 0) return die("%s: %s", path, err);
  FILE *f = fopen(path, "wb");
  int rc = !f || fwrite(b, 1, n, f) != n;
  if (f) fclose(f);
  free(b);
  return rc ? die("cannot write %s", path) : 0;
}

/* series --kind K [--restart R] [--offset O] OUTDIR N FILE... */
static int cmd_series(int argc, char **argv) {
  ingest_kind kind = INGEST_KIND_NONE;
  size_t restart = 0, offset = 0;
  int i = 2;
  for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (!strcmp(argv[i], "--kind")) {
      if (ingest_kind_parse(argv[i + 1], &kind) != 0) return die("bad kind %s", argv[i + 1]);
    } else if (!strcmp(argv[i], "--restart")) {
      restart = (size_t)atol(argv[i + 1]);
    } else if (!strcmp(argv[i], "--offset")) {
      offset = (size_t)atol(argv[i + 1]);
    } else {
      return die("unknown option %s", argv[i]);
    }
  }
  if (kind == INGEST_KIND_NONE || argc - i < 3) return die("usage: series --kind K [--restart R] [--offset O] OUTDIR N FILE...");
  const char *dir = argv[i];
  size_t n = (size_t)atol(argv[i + 1]), nsrc = (size_t)(argc - i - 2);
  char **src = argv + i + 2;
  pp_profile *acc[256];
  size_t na = 0;
  int rc = 0;
  for (size_t k = 0; k < n && rc == 0 && na < 255; k++) {
    if (restart && k == restart) {
      for (size_t j = 0; j < na; j++) pp_free(acc[j]);
      na = 0;
    }
    pp_profile *p = decode_path(src[(offset + k) % nsrc]);
    pp_profile *c = p ? scaled_copy(p, kind, 1, 0) : NULL, *g = p ? scaled_copy(p, kind, 0, 1) : NULL;
    pp_profile *in[258], *snap = NULL;
    char err[1024];
    if (!c || !g) {
      pp_free(c);
      rc = 1;
    } else {
      acc[na++] = c;
      for (size_t j = 0; j < na; j++) in[j] = pp_clone(acc[j]);
      in[na] = pp_clone(g);
      if (pp_merge(in, na + 1, &snap, err, sizeof err) != 0) rc = die("merging: %s", err);
    }
    if (rc == 0) rc = put_profile(dir, "snap", k, snap) || put_profile(dir, "contrib", k, c);
    if (rc == 0 && k + 1 == n) rc = put_profile(dir, "gauge", (size_t)-1, g);
    pp_free(snap);
    pp_free(g);
    pp_free(p);
  }
  for (size_t j = 0; j < na; j++) pp_free(acc[j]);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) return die("usage: see the header of worker-tool.c");
  const char *cmd = argv[1];
  if (!strcmp(cmd, "series")) return cmd_series(argc, argv);
  if (!strcmp(cmd, "stage") || !strcmp(cmd, "upload") || !strcmp(cmd, "upload-timed")) {
    argc = meta_options(argc, argv);
    if (argc < 0) return 1;
  }
  if (!strcmp(cmd, "totals") && argc >= 3) return cmd_totals(argc, argv);
  if (!strcmp(cmd, "record") && argc == 3) return cmd_record(argv);
  if (argc < 3) return die("usage: see the header of worker-tool.c");
  if (!strcmp(cmd, "publish") || !strcmp(cmd, "raw") || !strcmp(cmd, "upload") ||
      !strcmp(cmd, "upload-timed"))
    return cmd_bus(cmd, argc, argv);
  return cmd_blob(cmd, argc, argv);
}
