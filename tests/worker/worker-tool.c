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

static int stage(blob_store *s, const char *app, const char *file, char *key, size_t keyn) {
  size_t len;
  uint8_t *data = read_file(file, &len);
  if (!data) return die("cannot read %s", file);
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

int main(int argc, char **argv) {
  if (argc < 2) return die("usage: see the header of worker-tool.c");
  const char *cmd = argv[1];
  if (!strcmp(cmd, "totals") && argc >= 3) return cmd_totals(argc, argv);
  if (!strcmp(cmd, "record") && argc == 3) return cmd_record(argv);
  if (argc < 3) return die("usage: see the header of worker-tool.c");
  if (!strcmp(cmd, "publish") || !strcmp(cmd, "raw") || !strcmp(cmd, "upload") ||
      !strcmp(cmd, "upload-timed"))
    return cmd_bus(cmd, argc, argv);
  return cmd_blob(cmd, argc, argv);
}
