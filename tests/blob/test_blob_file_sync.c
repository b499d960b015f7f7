/*
 * test_blob_file_sync.c — the file backend's durability under concurrency:
 * many threads putting at once, each acknowledged put checked against the
 * system calls the store made for it.
 *
 * fsync and rename are wrapped at link time (-Wl,--wrap=fsync,--wrap=rename,
 * see CMakeLists.txt), so every call the store makes is logged with a global
 * sequence number (start and end) and the path it acted on. For every put
 * that returned 0, the log must show, in this order: an fsync of its
 * temporary file, the rename of that file to the object, then a successful
 * fsync of the object's directory that STARTED after the rename and ended
 * before the put returned — i.e. its data and its directory entry were on
 * disk before it was acknowledged. Directory fsyncs are slowed (2 ms) so
 * that puts pile up, and the test checks that they were shared (fewer
 * directory fsyncs than puts). Then failing directory fsyncs are injected:
 * no put covered by a failed fsync may return 0.
 *
 * Last, a crash: a child process puts from 8 threads and appends each
 * acknowledged key to a log; it is killed with SIGKILL mid-stream; every
 * logged key must then be readable and complete, and no object anywhere may
 * be partial. (SIGKILL kills the process, not the machine: the page cache
 * survives it, so this checks that nothing is acknowledged before it is in
 * place and that no partial object ever becomes visible; durability against
 * power loss is what the fsync ordering above checks.)
 *
 * Usage: test_blob_file_sync (makes and removes its own temporary directory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"
#include "blob.h"

CHECK_DEFINE_COUNTERS

/* ---- the system-call log ---- */

enum { EV_FSYNC, EV_RENAME, EV_ACK };

typedef struct event {
  int kind;
  long start, end; /* sequence numbers */
  int ok;          /* the call succeeded */
  char path[PATH_MAX]; /* fsync: the file or directory; rename: the new name; ack: the object */
  char from[PATH_MAX]; /* rename: the old name */
} event;

#define MAX_EVENTS 20000
static event *events;
static long nevents, seq;
static int slow_dir_us;    /* sleep in each directory fsync */
static int fail_every;     /* fail every Nth directory fsync (0 = never) */
static long dir_fsyncs;    /* directory fsyncs made */

static long next_seq(void) { return __atomic_add_fetch(&seq, 1, __ATOMIC_SEQ_CST); }

static event *new_event(int kind) {
  long i = __atomic_fetch_add(&nevents, 1, __ATOMIC_SEQ_CST);
  if (i >= MAX_EVENTS) return NULL;
  events[i].kind = kind;
  return &events[i];
}

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);

int __wrap_fsync(int fd) {
  char link[64];
  event *e = new_event(EV_FSYNC);
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char path[PATH_MAX] = "";
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n > 0) path[n] = '\0';
  struct stat st;
  int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  long start = next_seq();
  int r;
  if (is_dir) {
    long k = __atomic_add_fetch(&dir_fsyncs, 1, __ATOMIC_SEQ_CST);
    if (slow_dir_us) usleep((useconds_t)slow_dir_us);
    if (fail_every && k % fail_every == 0) {
      errno = EIO;
      r = -1;
    } else {
      r = __real_fsync(fd);
    }
  } else {
    r = __real_fsync(fd);
  }
  int saved = errno;
  if (e) {
    e->start = start;
    e->end = next_seq();
    e->ok = r == 0;
    snprintf(e->path, sizeof e->path, "%s", path);
  }
  errno = saved;
  return r;
}

int __wrap_rename(const char *from, const char *to) {
  event *e = new_event(EV_RENAME);
  long start = next_seq();
  int r = __real_rename(from, to);
  int saved = errno;
  if (e) {
    e->start = start;
    e->end = next_seq();
    e->ok = r == 0;
    snprintf(e->path, sizeof e->path, "%s", to);
    snprintf(e->from, sizeof e->from, "%s", from);
  }
  errno = saved;
  return r;
}

/* ---- objects whose content says what they should be ---- */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

static uint64_t key_hash(const char *key) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  return h;
}

/* 1 to 64 KiB; the first 8 bytes hold the length, the rest follows the key. */
static uint8_t *make_object(const char *key, size_t *len) {
  uint64_t h = key_hash(key);
  size_t n = 8 + (size_t)(mix(h) % (64 * 1024 - 8));
  uint8_t *b = malloc(n);
  for (size_t i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
  for (size_t i = 8; i < n; i++) b[i] = (uint8_t)mix(h + i);
  *len = n;
  return b;
}

static int object_complete(const char *key, const uint8_t *b, size_t n) {
  size_t want;
  uint8_t *w = make_object(key, &want);
  int ok = n == want && memcmp(w, b, n) == 0;
  free(w);
  return ok;
}

/* ---- concurrent puts ---- */

typedef struct worker {
  blob_store *s;
  const char *prefix;
  int id, n;
  int ok, failed, bad_msg;
} worker;

static void *put_loop(void *arg) {
  worker *w = arg;
  for (int i = 0; i < w->n; i++) {
    char key[256], err[512];
    snprintf(key, sizeof key, "%s/%02d-%04d", w->prefix, w->id, i);
    size_t n;
    uint8_t *b = make_object(key, &n);
    int rc = blob_put(w->s, key, b, n, err, sizeof err);
    long at = next_seq();
    free(b);
    if (rc == 0) {
      w->ok++;
      event *e = new_event(EV_ACK);
      if (e) {
        e->start = e->end = at;
        e->ok = 1;
        snprintf(e->path, sizeof e->path, "%s", key);
      }
    } else {
      w->failed++;
      if (!strstr(err, "fsync")) w->bad_msg++;
    }
  }
  return NULL;
}

/* Checks the fsync/rename protocol for every acknowledged put in the log;
 * returns the number of puts checked. */
static int check_protocol(const char *dir) {
  int checked = 0;
  long n = nevents < MAX_EVENTS ? nevents : MAX_EVENTS;
  for (long i = 0; i < n; i++) {
    const event *a = &events[i];
    if (a->kind != EV_ACK) continue;
    char path[2 * PATH_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", dir, a->path);
    const event *rn = NULL;
    for (long j = 0; j < n; j++)
      if (events[j].kind == EV_RENAME && events[j].ok && !strcmp(events[j].path, path)) rn = &events[j];
    CHECK(rn != NULL, "acknowledged %s was never renamed into place", a->path);
    if (!rn) continue;
    CHECK(rn->end < a->start, "%s acknowledged before its rename ended", a->path);
    int data = 0, entry = 0;
    char parent[sizeof path];
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = '\0';
    for (long j = 0; j < n; j++) {
      const event *f = &events[j];
      if (f->kind != EV_FSYNC || !f->ok) continue;
      if (!strcmp(f->path, rn->from) && f->end < rn->start) data = 1;
      if (!strcmp(f->path, parent) && f->start > rn->end && f->end < a->start) entry = 1;
    }
    CHECK(data, "%s: no fsync of its data (%s) before the rename", a->path, rn->from);
    CHECK(entry, "%s: no successful fsync of %s between its rename and its acknowledgement", a->path, parent);
    checked++;
  }
  return checked;
}

static long count_dir_fsyncs(const char *dir) {
  long k = 0, n = nevents < MAX_EVENTS ? nevents : MAX_EVENTS;
  for (long i = 0; i < n; i++)
    if (events[i].kind == EV_FSYNC && !strcmp(events[i].path, dir)) k++;
  return k;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

static int count_tmp(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, ".blobtmp-", 9)) n++;
  closedir(d);
  return n;
}

/* Every object under prefix readable and complete; returns how many. */
static int check_all_complete(blob_store *s, const char *prefix) {
  char err[512];
  blob_iter *it = NULL;
  int rc = blob_list(s, prefix, &it, err, sizeof err);
  CHECK(rc == 0, "list %s: %s", prefix, err);
  if (rc) return 0;
  int n = 0, cap = 0;
  char **keys = NULL;
  const char *key;
  blob_info info;
  while ((rc = blob_iter_next(it, &key, &info, err, sizeof err)) == 1) {
    if (n == cap) {
      cap = cap ? cap * 2 : 256;
      keys = realloc(keys, (size_t)cap * sizeof *keys);
    }
    keys[n++] = strdup(key);
  }
  CHECK(rc == 0, "list next: %s", err);
  blob_iter_free(it);
  for (int i = 0; i < n; i++) {
    uint8_t *b;
    size_t len;
    rc = blob_get(s, keys[i], 0, &b, &len, NULL, err, sizeof err);
    CHECK(rc == 0, "get %s: %s", keys[i], err);
    if (!rc) {
      CHECK(object_complete(keys[i], b, len), "%s is partial or wrong (%zu bytes)", keys[i], len);
      free(b);
    }
    free(keys[i]);
  }
  free(keys);
  return n;
}

static void test_concurrent(const char *root) {
  char dir[PATH_MAX], url[PATH_MAX + 16], err[512];
  snprintf(dir, sizeof dir, "%s/conc", root);
  snprintf(url, sizeof url, "file://%s", dir);
  blob_store *s;
  CHECK(blob_open(url, &s, err, sizeof err) == 0, "open: %s", err);
  nevents = 0;
  dir_fsyncs = 0;
  slow_dir_us = 2000;
  enum { HOT = 16, OTHER = 4, EACH = 40 };
  worker w[HOT + OTHER];
  pthread_t t[HOT + OTHER];
  char other[OTHER][32];
  for (int i = 0; i < HOT + OTHER; i++) {
    if (i >= HOT) snprintf(other[i - HOT], sizeof other[0], "other-%d/staging", i - HOT);
    w[i] = (worker){s, i < HOT ? "hot/staging" : other[i - HOT], i, EACH, 0, 0, 0};
    pthread_create(&t[i], NULL, put_loop, &w[i]);
  }
  int ok = 0, failed = 0;
  for (int i = 0; i < HOT + OTHER; i++) {
    pthread_join(t[i], NULL);
    ok += w[i].ok;
    failed += w[i].failed;
  }
  slow_dir_us = 0;
  CHECK(ok == (HOT + OTHER) * EACH && failed == 0, "%d puts failed", failed);
  CHECK(nevents < MAX_EVENTS, "event log full");
  int checked = check_protocol(dir);
  CHECK(checked == ok, "protocol checked for %d of %d puts", checked, ok);
  char hot[PATH_MAX + 16];
  snprintf(hot, sizeof hot, "%s/hot/staging", dir);
  long shared = count_dir_fsyncs(hot);
  printf("concurrent: %d puts from %d threads, %ld fsyncs of the hot directory for %d puts into it\n", ok,
         HOT + OTHER, shared, HOT * EACH);
  CHECK(shared > 0 && shared <= HOT * EACH / 2, "directory fsyncs not shared: %ld for %d puts", shared,
        HOT * EACH);
  CHECK(check_all_complete(s, "") == ok, "not every object is listed");
  CHECK(count_tmp(hot) == 0, "temporary files left behind");
  blob_close(s);
}

static void test_failing_fsync(const char *root) {
  char dir[PATH_MAX], url[PATH_MAX + 16], err[512];
  snprintf(dir, sizeof dir, "%s/fail", root);
  snprintf(url, sizeof url, "file://%s", dir);
  blob_store *s;
  CHECK(blob_open(url, &s, err, sizeof err) == 0, "open: %s", err);
  /* the directory exists before failures start: its creation is not what fails */
  CHECK(blob_put(s, "app/staging/first", "x", 1, err, sizeof err) == 0, "first put: %s", err);
  blob_delete(s, "app/staging/first", err, sizeof err);
  CHECK(blob_put(s, "app/staging/keep", "x", 1, err, sizeof err) == 0, "put: %s", err);
  nevents = 0;
  dir_fsyncs = 0;
  slow_dir_us = 1000;
  fail_every = 3;
  enum { N = 8, EACH = 25 };
  worker w[N];
  pthread_t t[N];
  for (int i = 0; i < N; i++) {
    w[i] = (worker){s, "app/staging", i, EACH, 0, 0, 0};
    pthread_create(&t[i], NULL, put_loop, &w[i]);
  }
  int ok = 0, failed = 0, bad_msg = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    ok += w[i].ok;
    failed += w[i].failed;
    bad_msg += w[i].bad_msg;
  }
  fail_every = 0;
  slow_dir_us = 0;
  printf("failing fsyncs: %d puts acknowledged, %d refused, %ld directory fsyncs (every 3rd failed)\n", ok,
         failed, dir_fsyncs);
  CHECK(failed > 0 && ok > 0, "injection: %d ok, %d failed", ok, failed);
  CHECK(bad_msg == 0, "%d failures do not name the fsync", bad_msg);
  CHECK(check_protocol(dir) == ok, "an acknowledged put lacks a successful directory fsync");
  blob_close(s);
}

/* The child: puts from 8 threads until killed, logging each acknowledged
 * key with one write(2) to an O_APPEND file. */
typedef struct crash_arg {
  blob_store *s;
  int id, log;
} crash_arg;

static void *crash_loop(void *arg) {
  crash_arg *c = arg;
  for (int i = 0;; i++) {
    char key[128], err[512], line[160];
    snprintf(key, sizeof key, "crash/staging/%d-%06d", c->id, i);
    size_t n;
    uint8_t *b = make_object(key, &n);
    int rc = blob_put(c->s, key, b, n, err, sizeof err);
    free(b);
    if (rc == 0) {
      int k = snprintf(line, sizeof line, "%s\n", key);
      if (write(c->log, line, (size_t)k) != k) _exit(3);
    }
  }
  return NULL;
}

static long log_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  long n = 0;
  int ch;
  while ((ch = fgetc(f)) != EOF)
    if (ch == '\n') n++;
  fclose(f);
  return n;
}

static void test_crash(const char *root) {
  char dir[PATH_MAX], url[PATH_MAX + 16], logp[PATH_MAX], err[512];
  snprintf(dir, sizeof dir, "%s/crash", root);
  snprintf(url, sizeof url, "file://%s", dir);
  snprintf(logp, sizeof logp, "%s/acked.log", root);
  pid_t pid = fork();
  if (pid == 0) {
    blob_store *s;
    if (blob_open(url, &s, err, sizeof err)) _exit(2);
    int log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) _exit(2);
    crash_arg c[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
      c[i] = (crash_arg){s, i, log};
      pthread_create(&t[i], NULL, crash_loop, &c[i]);
    }
    for (;;) pause();
  }
  CHECK(pid > 0, "fork");
  if (pid <= 0) return;
  double t0 = check_now();
  while (log_lines(logp) < 300 && check_now() - t0 < 60) usleep(5000);
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the child did not die of SIGKILL (status %d)", st);
  blob_store *s;
  CHECK(blob_open(url, &s, err, sizeof err) == 0, "open: %s", err);
  FILE *f = fopen(logp, "r");
  long acked = 0, present = 0;
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    acked++;
    uint8_t *b;
    size_t n;
    int rc = blob_get(s, line, 0, &b, &n, NULL, err, sizeof err);
    CHECK(rc == 0, "acknowledged %s is missing after the kill: %s", line, err);
    if (rc) continue;
    CHECK(object_complete(line, b, n), "acknowledged %s is partial (%zu bytes)", line, n);
    present += object_complete(line, b, n);
    free(b);
  }
  if (f) fclose(f);
  int listed = check_all_complete(s, "crash/");
  printf("crash: %ld puts acknowledged before SIGKILL, %ld present and complete; %d objects in all, none "
         "partial\n",
         acked, present, listed);
  CHECK(acked >= 300, "only %ld acknowledgements before the kill", acked);
  CHECK(listed >= acked, "fewer objects (%d) than acknowledgements (%ld)", listed, acked);
  blob_close(s);
}

int main(void) {
  char tmpl[] = "/tmp/pgopipe-blob-sync-XXXXXX";
  char *root = mkdtemp(tmpl);
  if (!root) {
    perror("mkdtemp");
    return 1;
  }
  events = calloc(MAX_EVENTS, sizeof *events);
  test_concurrent(root);
  test_failing_fsync(root);
  test_crash(root);
  free(events);
  nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return check_exit("test_blob_file_sync");
}
