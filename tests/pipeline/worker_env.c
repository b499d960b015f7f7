/*
 * worker_env.c — see worker_env.h.
 */
#include "worker_env.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "ingest.h"
#include "svc_log.h"

char g_cpu[64][1024];
size_t g_ncpu;
char g_heap[1024];
char g_tmp[512];
static int g_topic;

uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

pp_profile *decode_file(const char *path) {
  size_t len;
  uint8_t *b = slurp(path, &len);
  if (!b) return NULL;
  pp_profile *p = NULL;
  char err[256];
  if (pp_decode(b, len, NULL, &p, err, sizeof err) != 0) p = NULL;
  free(b);
  return p;
}

static void log_stderr(void *ctx, int level, const char *msg, const char *const *kv, size_t n) {
  (void)ctx;
  fprintf(stderr, "worker[%d] %s", level, msg);
  for (size_t i = 0; i < n; i++) fprintf(stderr, " %s=%s", kv[2 * i], kv[2 * i + 1] ? kv[2 * i + 1] : "null");
  fputc('\n', stderr);
}

core_logger wenv_log(void) {
  core_logger lg = {getenv("WORKER_TEST_DEBUG") ? log_stderr : NULL, NULL, CORE_LOG_DEBUG};
  return lg;
}

worker_config env_config(const env *e, size_t batch_max, size_t max_profile) {
  worker_config c;
  memset(&c, 0, sizeof c);
  c.blob = e->blob;
  c.reader = e->rd;
  c.writer = e->wr;
  c.rules = e->rules;
  c.batch_max = batch_max;
  c.batch_wait_ms = 0;
  c.max_profile_bytes = max_profile;
  c.stats = e->st;
  c.log = wenv_log();
  c.backoff_min_ms = 10;
  c.backoff_max_ms = 100;
  c.reader_url = e->topic;
  c.clock_ns = e->clock_ns;
  c.clock_ctx = e->clock_ctx;
  c.gauge_ttl_ms = e->gauge_ttl_ms;
  c.window_ms = e->window_ms;
  c.retention_ms = e->retention_ms;
  return c;
}

static void new_worker(env *e, size_t batch_max, size_t max_profile) {
  worker_config c = env_config(e, batch_max, max_profile);
  char err[512];
  if (worker_new(&c, &e->w, err, sizeof err)) {
    fprintf(stderr, "worker_new: %s\n", err);
    exit(1);
  }
}

void env_open(env *e, const rules_set *rules, size_t batch_max, size_t max_profile) {
  memset(e, 0, sizeof *e);
  snprintf(e->dir, sizeof e->dir, "%s/s%d", g_tmp, ++g_topic);
  mkdir(e->dir, 0755);
  snprintf(e->url, sizeof e->url, "file://%s", e->dir);
  snprintf(e->topic, sizeof e->topic, "mem://t%d", g_topic);
  char err[512];
  if (blob_open(e->url, &e->blob, err, sizeof err) || bus_writer_open(e->topic, &e->wr, err, sizeof err) ||
      bus_reader_open(e->topic, &e->rd, err, sizeof err)) {
    fprintf(stderr, "env: %s\n", err);
    exit(1);
  }
  e->st = worker_stats_new();
  e->rules = rules;
  new_worker(e, batch_max, max_profile);
}

void env_set_clock(env *e, int64_t (*clock_ns)(void *ctx), void *ctx, int64_t gauge_ttl_ms,
                   size_t batch_max) {
  worker_free(e->w);
  e->clock_ns = clock_ns;
  e->clock_ctx = ctx;
  e->gauge_ttl_ms = gauge_ttl_ms;
  new_worker(e, batch_max, 0);
}

void env_set_history(env *e, int64_t window_ms, int64_t retention_ms, size_t batch_max) {
  worker_free(e->w);
  e->window_ms = window_ms;
  e->retention_ms = retention_ms;
  new_worker(e, batch_max, 0);
}

void env_restart(env *e, int new_topic) {
  worker_free(e->w);
  bus_reader_close(e->rd);
  char err[512];
  if (new_topic) {
    /* the in-process bus of a new process: empty, offsets from 0 */
    bus_writer_close(e->wr);
    snprintf(e->topic, sizeof e->topic, "mem://t%d", ++g_topic);
    if (bus_writer_open(e->topic, &e->wr, err, sizeof err)) exit(1);
  }
  if (bus_reader_open(e->topic, &e->rd, err, sizeof err)) exit(1);
  new_worker(e, 1000, 0);
}

void env_close(env *e) {
  worker_free(e->w);
  bus_reader_close(e->rd);
  bus_writer_close(e->wr);
  blob_close(e->blob);
  worker_stats_free(e->st);
}

void stage(env *e, const char *app, const char *file, char *key, size_t n) {
  static unsigned seq;
  size_t len;
  uint8_t *b = slurp(file, &len);
  if (!b) { fprintf(stderr, "cannot read %s\n", file); exit(1); }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(key, n, "%s/staging/%lld-%08x", app, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
           ++seq);
  char err[512];
  if (blob_put(e->blob, key, b, len, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
  free(b);
}

void publish(env *e, const char *type, const char *app, const char *key) {
  bus_event ev;
  bus_event_init(&ev, type, app);
  if (key) snprintf(ev.profile_key, sizeof ev.profile_key, "%s", key);
  if (!strcmp(type, BUS_TYPE_MERGED)) snprintf(ev.merged_key, sizeof ev.merged_key, "%s/default.pgo", app);
  char err[512];
  if (bus_publish_event(e->wr, &ev, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
}

void upload(env *e, const char *app, const char *file, char *key, size_t n) {
  char k[1024];
  if (!key) { key = k; n = sizeof k; }
  stage(e, app, file, key, n);
  publish(e, BUS_TYPE_UPLOADED, app, key);
}

/* Stages file under {app}/staging/{ns}-{hex}, a name with a chosen time. */
void stage_at(env *e, const char *app, const char *file, int64_t ns, char *key, size_t n) {
  static unsigned seq;
  size_t len;
  uint8_t *b = slurp(file, &len);
  if (!b) { fprintf(stderr, "cannot read %s\n", file); exit(1); }
  snprintf(key, n, "%s/staging/%lld-%08x", app, (long long)ns, 0xa0000000u + ++seq);
  char err[512];
  if (blob_put(e->blob, key, b, len, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
  free(b);
}

int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Returns once the wall clock's millisecond has moved past that of ns
 * (at most ~1 ms of polling the clock). */
void past_ms_of(int64_t ns) {
  while (wall_ns() / 1000000 <= ns / 1000000) {
  }
}

/* What the server's DELETE does: publish profile.deleted, then remove the
 * base. The event's timestamp is ms (a time given by the caller when
 * at_ms >= 0, else now); returns that ms. */
int64_t server_delete(env *e, const char *app, int64_t at_ms) {
  bus_event ev;
  bus_event_init(&ev, BUS_TYPE_DELETED, app);
  int64_t ms = at_ms >= 0 ? at_ms : wall_ns() / 1000000;
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char day[32];
  strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ev.timestamp, sizeof ev.timestamp, "%.20s.%03dZ", day, (int)(ms % 1000) % 1000);
  char err[512], key[128];
  if (bus_publish_event(e->wr, &ev, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
  snprintf(key, sizeof key, "%s/default.pgo", app);
  blob_delete(e->blob, key, err, sizeof err);
  return ms;
}

/* Handles everything the bus has (including the profile.merged events the
 * worker itself publishes) in batches of up to `max`. commit=0 simulates a
 * crash before the commit: the messages are handled but not committed. */
void drain(env *e, size_t max) {
  bus_msg *msgs[4096];
  for (;;) {
    size_t n = 0;
    char err[512];
    bus_msg *m;
    while (n < max && n < 4096 && bus_poll(e->rd, n ? 0 : 20, &m, err, sizeof err) == 1) msgs[n++] = m;
    if (!n) return;
    CHECK(worker_handle_batch(e->w, msgs, n, NULL) == 0, "handle_batch");
    for (size_t i = 0; i < n; i++) bus_msg_free(msgs[i]);
  }
}

int exists(env *e, const char *key) {
  blob_info info;
  char err[256];
  return blob_stat(e->blob, key, &info, err, sizeof err) == 0;
}

size_t count_prefix(env *e, const char *prefix) {
  blob_iter *it;
  char err[256];
  if (blob_list(e->blob, prefix, &it, err, sizeof err)) return (size_t)-1;
  const char *k;
  blob_info info;
  size_t n = 0;
  while (blob_iter_next(it, &k, &info, err, sizeof err) == 1) n++;
  blob_iter_free(it);
  return n;
}

pp_profile *base_of(env *e, const char *app) {
  char key[128], err[256];
  snprintf(key, sizeof key, "%s/default.pgo", app);
  uint8_t *b;
  size_t len;
  if (blob_get(e->blob, key, 0, &b, &len, NULL, err, sizeof err)) return NULL;
  pp_profile *p = NULL;
  if (pp_decode(b, len, NULL, &p, err, sizeof err)) p = NULL;
  free(b);
  return p;
}

int64_t file_total(const char *file, size_t vi) {
  pp_profile *p = decode_file(file);
  int64_t t = p ? pp_total(p, vi) : -1;
  pp_free(p);
  return t;
}

size_t record_size(const pp_profile *p) {
  size_t pl = strlen(WORKER_RECORD_PREFIX), n = 0;
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, WORKER_RECORD_PREFIX, pl)) continue;
    for (const char *s = c + pl; *s; s++)
      if (*s != ' ' && (s[-1] == ' ' || s == c + pl)) n++;
  }
  return n;
}

worker_counts counts(env *e) {
  worker_counts c;
  worker_stats_counts(e->st, &c);
  return c;
}
int wait_for(int (*pred)(void *), void *ctx, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (pred(ctx)) return 1;
    struct timespec d = {0, 10000000};
    nanosleep(&d, NULL);
  }
  return pred(ctx);
}

static int cmp_path(const void *a, const void *b) { return strcmp(a, b); }

int wenv_init(int argc, char **argv, const char *prog) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PROFILE_DIR\n", prog);
    return 2;
  }
  char cpudir[760];
  snprintf(cpudir, sizeof cpudir, "%.700s/cpu", argv[1]);
  DIR *d = opendir(cpudir);
  if (!d) {
    fprintf(stderr, "%s: no %s\n", prog, cpudir);
    return 1;
  }
  struct dirent *de;
  while ((de = readdir(d)) && g_ncpu < 64)
    if (strstr(de->d_name, ".pb.gz")) snprintf(g_cpu[g_ncpu++], 1024, "%.700s/%.250s", cpudir, de->d_name);
  closedir(d);
  qsort(g_cpu, g_ncpu, sizeof g_cpu[0], cmp_path);
  snprintf(g_heap, sizeof g_heap, "%s/heap.pb.gz", argv[1]);
  if (g_ncpu < 3) {
    fprintf(stderr, "%s: need at least 3 CPU profiles in %s\n", prog, cpudir);
    return 1;
  }
  if (!getenv("WORKER_TEST_DEBUG")) svc_log_set_level(SVC_LOG_ERROR + 1);
  snprintf(g_tmp, sizeof g_tmp, "/tmp/worker-test.XXXXXX");
  if (!mkdtemp(g_tmp)) return 1;
  return 0;
}

void wenv_done(void) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
}

int wenv_run_case(const wenv_case *cases, size_t n, const char *name, const char *prog) {
  int found = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(name, cases[i].name)) {
      cases[i].fn();
      found = 1;
    }
  if (!found) fprintf(stderr, "%s: unknown case %s\n", prog, name);
  return found;
}

pp_profile *env_get_profile(env *e, const char *key) {
  uint8_t *b;
  size_t len;
  char err[256];
  if (blob_get(e->blob, key, 0, &b, &len, NULL, err, sizeof err)) return NULL;
  pp_profile *p = NULL;
  if (pp_decode(b, len, NULL, &p, err, sizeof err)) p = NULL;
  free(b);
  return p;
}

uint8_t *env_save_key(env *e, const char *key, size_t *len) {
  uint8_t *b = NULL;
  char err[256];
  if (blob_get(e->blob, key, 0, &b, len, NULL, err, sizeof err)) return NULL;
  return b;
}

void env_restore_key(env *e, const char *key, uint8_t *b, size_t len) {
  char err[256];
  if (b) CHECK(blob_put(e->blob, key, b, len, err, sizeof err) == 0, "restore %s", key);
  else blob_delete(e->blob, key, err, sizeof err);
  free(b);
}

int env_write_profile(const char *path, const pp_profile *p) {
  uint8_t *b = NULL;
  size_t n = 0;
  char err[256];
  if (pp_encode(p, 1, &b, &n, err, sizeof err) != 0) return -1;
  FILE *f = fopen(path, "wb");
  int rc = f && fwrite(b, 1, n, f) == n ? 0 : -1;
  if (f) fclose(f);
  free(b);
  return rc;
}

int same_as_go(const char *agents, const char *what, pp_profile *const *expected, size_t n,
               const pp_profile *actual) {
  static int seq;
  if (!actual) {
    CHECK(0, "%s: missing", what);
    return 0;
  }
  char dir[700], path[800];
  snprintf(dir, sizeof dir, "%s/cmp-go%d", g_tmp, ++seq);
  mkdir(dir, 0755);
  size_t cmdcap = 4096 + (n + 2) * 820;
  char *cmd = malloc(cmdcap);
  if (!cmd) return 0;
  size_t at = (size_t)snprintf(cmd, cmdcap, "'%s' compare", agents);
  for (size_t i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/e%03zu.pb.gz", dir, i);
    CHECK(env_write_profile(path, expected[i]) == 0, "%s", path);
    at += (size_t)snprintf(cmd + at, cmdcap - at, " '%s'", path);
  }
  snprintf(path, sizeof path, "%s/actual.pb.gz", dir);
  CHECK(env_write_profile(path, actual) == 0, "%s", path);
  snprintf(cmd + at, cmdcap - at, " -- '%s' >'%s/out.txt' 2>&1", path, dir);
  int rc = system(cmd);
  free(cmd);
  int ok = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
  if (!ok) {
    char show[900];
    snprintf(show, sizeof show, "head -n 20 '%s/out.txt' >&2", dir);
    if (system(show) != 0) fprintf(stderr, "(no output)\n");
  }
  CHECK(ok, "%s: differs from Go's merge of its %zu expected profiles (%s)", what, n, dir);
  return ok;
}

int is_gauge(const char *type) {
  return !strcmp(type, "inuse_objects") || !strcmp(type, "inuse_space") ||
         !strcmp(type, "goroutine");
}

pp_profile *scaled(const pp_profile *p, int64_t cf, int64_t gf) {
  pp_profile *c = pp_clone(p), *out = NULL;
  int64_t f[16];
  size_t n = pp_sample_type_count(p);
  for (size_t j = 0; j < n && j < 16; j++) f[j] = is_gauge(pp_sample_type(p, j).type) ? gf : cf;
  char err[256];
  CHECK(c && pp_scale_columns(c, f, n, err, sizeof err) == 0, "scale");
  CHECK(pp_merge(&c, 1, &out, err, sizeof err) == 0, "%s", err);
  return out;
}

pp_profile *counters(const pp_profile *p) { return scaled(p, 1, 0); }
pp_profile *gauges(const pp_profile *p) { return scaled(p, 0, 1); }

pp_profile *merged(pp_profile *const *v, size_t n) {
  pp_profile **in = calloc(n ? n : 1, sizeof *in), *out = NULL;
  CHECK(in != NULL, "out of memory");
  if (!in) return NULL;
  for (size_t i = 0; i < n; i++) in[i] = pp_clone(v[i]);
  char err[256];
  CHECK(pp_merge(in, n, &out, err, sizeof err) == 0, "%s", err);
  free(in);
  return out;
}

void free_all(pp_profile **v, size_t n) {
  for (size_t i = 0; i < n; i++) pp_free(v[i]);
}

int64_t total_of(const pp_profile *p, const char *type) {
  for (size_t j = 0; p && j < pp_sample_type_count(p); j++)
    if (!strcmp(pp_sample_type(p, j).type, type)) return pp_total(p, j);
  return 0;
}

size_t load_dir(const char *dir, const char *kind, pp_profile **v, size_t max) {
  char d[1200], path[1600];
  snprintf(d, sizeof d, "%.1000s/%.100s", dir, kind);
  DIR *dd = opendir(d);
  if (!dd) return 0;
  char(*names)[256] = calloc(max ? max : 1, sizeof *names);
  if (!names) {
    closedir(dd);
    return 0;
  }
  size_t nn = 0;
  struct dirent *de;
  while ((de = readdir(dd)) && nn < max)
    if (strstr(de->d_name, ".pb.gz")) snprintf(names[nn++], 256, "%s", de->d_name);
  closedir(dd);
  qsort(names, nn, sizeof names[0], cmp_path);
  size_t n = 0;
  for (size_t i = 0; i < nn; i++) {
    snprintf(path, sizeof path, "%s/%.255s", d, names[i]);
    pp_profile *p = decode_file(path);
    if (p && pp_sample_count(p) > 0) v[n++] = p;
    else pp_free(p);
  }
  free(names);
  return n;
}

uint8_t *meta_encode(const pp_profile *p, const up_meta *m, size_t *n) {
  ingest_meta im;
  ingest_meta_init(&im);
  CHECK(ingest_kind_parse(m->kind, &im.kind) == 0, "kind %s", m->kind);
  CHECK(ingest_mode_parse(m->mode, &im.mode) == 0, "mode %s", m->mode);
  CHECK(ingest_source_parse(m->source, &im.source) == 0, "source %s", m->source);
  im.instance = m->instance ? strdup(m->instance) : NULL;
  im.time_ns = m->time_ns;
  im.received_ns = m->received_ns ? m->received_ns : wall_ns();
  char *comment = NULL, err[512];
  CHECK(ingest_meta_comment(&im, &comment, err, sizeof err) == 0, "%s", err);
  ingest_meta_free(&im);
  pp_profile *c = pp_clone(p);
  pp_remove_comments_with_prefix(c, INGEST_RESERVED_COMMENT_PREFIX);
  CHECK(pp_add_comment(c, comment) == 0, "comment");
  free(comment);
  if (m->time_ns) pp_set_time(c, m->time_ns, pp_duration_nanos(c));
  uint8_t *b = NULL;
  *n = 0;
  CHECK(pp_encode(c, 1, &b, n, err, sizeof err) == 0, "%s", err);
  pp_free(c);
  return b;
}
