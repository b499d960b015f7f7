/*
 * test_scrape.c — scrape rounds against real processes: two instances of the
 * Go scrape target (net/http/pprof, burning CPU in main.hashWork,
 * main.sortWork, main.stringWork), a dead port, a port that accepts but
 * never answers, and the test receiver playing a garbage-returning target,
 * a 500-ing target and the upload server (with injected failures or delay).
 *
 *   test_scrape RECEIVER GOTARGET
 *
 * Proves: every outcome is classified (ok, connect_error, timeout,
 * http_error, invalid, not_cpu, too_large, aborted); good targets are
 * uploaded before the hanging one times out (no target delays another
 * beyond its own timeout) and the round ends at that timeout; the uploads
 * are real CPU profiles with the target's functions; uploads are retried on
 * 503 and give up after the attempts; the body limit holds at and past the
 * edge; a stop aborts fetches at once, lets an upload in flight finish
 * within the drain bound and abandons it past the bound.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../common/check.h"
#include "../common/http.h"
#include "../common/proc.h"
#include "pprof.h"
#include "scrape.h"

CHECK_DEFINE_COUNTERS

static char g_tmp[200];
static const char *g_receiver, *g_gotarget;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct rcv {
  pid_t pid;
  long port, hang_port;
  char dir[300];
  char url[64];
} rcv;

static int rcv_start(rcv *r, const char *name, const char *const *extra) {
  char pf[300], hf[300];
  snprintf(r->dir, sizeof r->dir, "%s/%s", g_tmp, name);
  mkdir(r->dir, 0755);
  snprintf(pf, sizeof pf, "%s/%s.port", g_tmp, name);
  snprintf(hf, sizeof hf, "%s/%s.hang", g_tmp, name);
  char *argv[24];
  int n = 0;
  argv[n++] = (char *)(uintptr_t)g_receiver;
  argv[n++] = "--dir";
  argv[n++] = r->dir;
  argv[n++] = "--port-file";
  argv[n++] = pf;
  argv[n++] = "--hang-port-file";
  argv[n++] = hf;
  for (; extra && *extra && n < 22; extra++) argv[n++] = (char *)(uintptr_t)*extra;
  argv[n] = NULL;
  r->pid = t_spawn(argv);
  r->port = t_wait_number_file(pf, 10000);
  r->hang_port = t_wait_number_file(hf, 10000);
  snprintf(r->url, sizeof r->url, "http://127.0.0.1:%ld", r->port);
  return r->port > 0 && r->hang_port > 0 ? 0 : -1;
}

typedef struct gt {
  pid_t pid;
  char addr[64];
} gt;

static int gt_start(gt *g, const char *name) {
  char af[300];
  snprintf(af, sizeof af, "%s/%s.addr", g_tmp, name);
  char *argv[] = {(char *)(uintptr_t)g_gotarget, "-addr", "127.0.0.1:0", "-addr-file", af, "-workers", "1",
                  NULL};
  g->pid = t_spawn(argv);
  for (int i = 0; i < 500; i++) {
    FILE *f = fopen(af, "r");
    if (f) {
      char line[64] = "";
      int ok = fgets(line, sizeof line, f) != NULL;
      fclose(f);
      line[strcspn(line, "\n")] = 0;
      if (ok && line[0]) {
        snprintf(g->addr, sizeof g->addr, "http://%s", line);
        return 0;
      }
    }
    t_sleep_ms(20);
  }
  return -1;
}

/* Results of one round, by target index (matched by URL). */
#define MAXT 16
typedef struct got {
  size_t n;
  char url[MAXT][200];
  int done[MAXT];
  scrape_outcome outcome[MAXT];
  long status[MAXT];
  uint64_t bytes[MAXT];
  int uploaded[MAXT], attempts[MAXT];
  char key[MAXT][300];
  char msg[MAXT][300];
  char uerr[MAXT][700];
  int64_t at_ms[MAXT]; /* when reported, since the round started */
  int64_t start_ms;
  /* stop control */
  int64_t stop_after_ms; /* -1 = never */
  const char *stop_when_posted; /* receiver URL: stop once it has seen a new POST */
  int posts_before;
} got;

static void on_result(void *ud, const scrape_result *r) {
  got *g = ud;
  for (size_t i = 0; i < g->n; i++) {
    if (strcmp(g->url[i], r->url) != 0 || g->done[i]) continue;
    g->done[i]++;
    g->outcome[i] = r->outcome;
    g->status[i] = r->http_status;
    g->bytes[i] = r->bytes;
    g->uploaded[i] = r->uploaded;
    g->attempts[i] = r->upload_attempts;
    snprintf(g->key[i], sizeof g->key[i], "%s", r->key);
    snprintf(g->msg[i], sizeof g->msg[i], "%s", r->message);
    snprintf(g->uerr[i], sizeof g->uerr[i], "%s", r->upload_error);
    g->at_ms[i] = mono_ms() - g->start_ms;
    return;
  }
  CHECK(0, "unexpected result for %s", r->url);
}

static int posts_seen(const char *url) {
  char u[128];
  snprintf(u, sizeof u, "%s/stats", url);
  http_resp r = http_url("GET", u, NULL, 0, 0, NULL, 2000);
  int posts = -1;
  const char *p = strstr(r.body, "\"posts\":");
  if (p) posts = atoi(p + 8);
  http_resp_free(&r);
  return posts;
}

static int should_stop(void *ud) {
  got *g = ud;
  if (g->stop_after_ms >= 0 && mono_ms() - g->start_ms >= g->stop_after_ms) return 1;
  if (g->stop_when_posted && posts_seen(g->stop_when_posted) > g->posts_before) return 1;
  return 0;
}

/* Runs one round over "address|path" specs and checks each target was
 * reported exactly once. Returns the round's wall time in ms. */
static int64_t do_round(const scrape_config *cfg, const char *const *specs, size_t n, got *g,
                        int64_t stop_after_ms, const char *stop_when_posted) {
  memset(g, 0, sizeof *g);
  scrape_target tv[MAXT];
  const scrape_target *tp[MAXT];
  char addr[MAXT][100], path[MAXT][100];
  for (size_t i = 0; i < n; i++) {
    const char *bar = strchr(specs[i], '|');
    snprintf(addr[i], sizeof addr[i], "%.*s", (int)(bar - specs[i]), specs[i]);
    snprintf(path[i], sizeof path[i], "%s", bar + 1);
    tv[i].address = addr[i];
    tv[i].path = path[i];
    tp[i] = &tv[i];
    char *u = scrape_target_url(&tv[i], (long)((cfg->duration_ms + 999) / 1000));
    snprintf(g->url[i], sizeof g->url[i], "%s", u);
    free(u);
  }
  g->n = n;
  g->stop_after_ms = stop_after_ms;
  g->stop_when_posted = stop_when_posted;
  if (stop_when_posted) g->posts_before = posts_seen(stop_when_posted);
  char err[512];
  g->start_ms = mono_ms();
  int rc = scrape_round(cfg, tp, n, on_result, should_stop, g, err, sizeof err);
  int64_t took = mono_ms() - g->start_ms;
  CHECK(rc == 0);
  for (size_t i = 0; i < n; i++) CHECK(g->done[i] == 1);
  return took;
}

static int staged_cpu_profiles(const char *dir, int *with_target_funcs) {
  char sd[400];
  snprintf(sd, sizeof sd, "%s/demo/staging", dir);
  DIR *d = opendir(sd);
  if (!d) return 0;
  int n = 0;
  *with_target_funcs = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[700];
    snprintf(p, sizeof p, "%s/%s", sd, e->d_name);
    FILE *f = fopen(p, "rb");
    if (!f) continue;
    static uint8_t buf[4 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    pp_profile *prof = NULL;
    char err[256];
    if (pp_decode(buf, len, NULL, &prof, err, sizeof err) != 0) continue;
    if (pp_check_cpu(prof, err, sizeof err) == 0) n++;
    pp_top_entry *top = NULL;
    size_t cnt = 0;
    if (pp_top(prof, pp_default_value_index(prof), &top, &cnt, err, sizeof err) == 0) {
      for (size_t i = 0; i < cnt; i++)
        if (!strcmp(top[i].name, "main.hashWork") || !strcmp(top[i].name, "main.sortWork") ||
            !strcmp(top[i].name, "main.stringWork")) {
          (*with_target_funcs)++;
          break;
        }
      free(top);
    }
    pp_free(prof);
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_scrape RECEIVER GOTARGET\n");
    return 2;
  }
  g_receiver = argv[1];
  g_gotarget = argv[2];
  curl_global_init(CURL_GLOBAL_DEFAULT);
  snprintf(g_tmp, sizeof g_tmp, "/tmp/pgopipe-test-scrape-XXXXXX");
  if (!mkdtemp(g_tmp)) return 1;

  rcv api = {0}, flaky = {0}, down = {0}, slow = {0};
  gt g1 = {0}, g2 = {0};
  const char *fl[] = {"--fail-posts", "2", NULL};
  const char *dn[] = {"--fail-posts", "1000", NULL};
  const char *sl[] = {"--delay-ms", "1500", NULL};
  int ok = rcv_start(&api, "api", NULL) == 0 && rcv_start(&flaky, "flaky", fl) == 0 &&
           rcv_start(&down, "down", dn) == 0 && rcv_start(&slow, "slow", sl) == 0 &&
           gt_start(&g1, "g1") == 0 && gt_start(&g2, "g2") == 0;
  CHECK(ok);
  if (!ok) goto out;

  char s_g1[160], s_g2[160], s_dead[160], s_hang[160], s_junk[160], s_500[160], s_heap[160];
  snprintf(s_g1, sizeof s_g1, "%s|/debug/pprof/profile", g1.addr);
  snprintf(s_g2, sizeof s_g2, "%s|/debug/pprof/profile", g2.addr);
  snprintf(s_dead, sizeof s_dead, "http://127.0.0.1:%d|/debug/pprof/profile", http_dead_port());
  snprintf(s_hang, sizeof s_hang, "http://127.0.0.1:%ld|/debug/pprof/profile", api.hang_port);
  snprintf(s_junk, sizeof s_junk, "%s|/debug/garbage", api.url);
  snprintf(s_500, sizeof s_500, "%s|/debug/status/500", api.url);
  snprintf(s_heap, sizeof s_heap, "%s|/debug/pprof/heap", g1.addr);

  /* 1. one round over good and bad targets */
  {
    const char *specs[] = {s_g1, s_g2, s_dead, s_hang, s_junk, s_500, s_heap};
    scrape_config cfg = {.api = {.api_url = api.url}, .app = "demo", .duration_ms = 1000,
                         .margin_ms = 3000};
    got g;
    int64_t took = do_round(&cfg, specs, 7, &g, -1, NULL);
    CHECK(g.outcome[0] == SCRAPE_OK && g.uploaded[0] && g.attempts[0] == 1);
    CHECK(g.outcome[1] == SCRAPE_OK && g.uploaded[1] && g.attempts[1] == 1);
    CHECK(strncmp(g.key[0], "demo/staging/", 13) == 0 && strncmp(g.key[1], "demo/staging/", 13) == 0);
    CHECK(g.bytes[0] > 100 && g.bytes[1] > 100);
    CHECK(g.outcome[2] == SCRAPE_CONNECT_ERROR);
    CHECK_CONTAINS(g.msg[2], "cannot connect");
    CHECK(g.outcome[3] == SCRAPE_TIMEOUT);
    CHECK_CONTAINS(g.msg[3], "timed out");
    CHECK(g.outcome[4] == SCRAPE_INVALID);
    CHECK_CONTAINS(g.msg[4], "not a profile");
    CHECK(g.outcome[5] == SCRAPE_HTTP_ERROR && g.status[5] == 500);
    CHECK_CONTAINS(g.msg[5], "HTTP status 500");
    CHECK(g.outcome[6] == SCRAPE_NOT_CPU);
    CHECK_CONTAINS(g.msg[6], "not a CPU profile");
    for (int i = 2; i < 7; i++) CHECK(!g.uploaded[i] && g.attempts[i] == 0);
    /* the good ones were uploaded long before the hanging one's timeout (4 s) */
    CHECK(g.at_ms[0] < 3500 && g.at_ms[1] < 3500);
    CHECK(g.at_ms[3] >= 3900);
    CHECK(g.at_ms[3] > g.at_ms[0] && g.at_ms[3] > g.at_ms[1]);
    /* the failing-fast ones did not wait for anything */
    CHECK(g.at_ms[2] < 1500 && g.at_ms[4] < 1500 && g.at_ms[5] < 1500);
    /* the round lasted the hanging target's timeout, not more */
    CHECK(took >= 3900 && took < 6000);
    int with_funcs = 0;
    CHECK(staged_cpu_profiles(api.dir, &with_funcs) == 2);
    CHECK(with_funcs >= 1);
    fprintf(stderr, "round 1: %lld ms; good targets uploaded at %lld and %lld ms\n",
            (long long)took, (long long)g.at_ms[0], (long long)g.at_ms[1]);
  }

  /* 2. uploads: 503 twice then accepted; always failing → gives up */
  {
    const char *specs[] = {s_g1};
    scrape_config cfg = {.api = {.api_url = flaky.url, .upload_attempts = 4, .backoff_ms = 20},
                         .app = "demo", .duration_ms = 1000};
    got g;
    do_round(&cfg, specs, 1, &g, -1, NULL);
    CHECK(g.outcome[0] == SCRAPE_OK && g.uploaded[0] && g.attempts[0] == 3);
    scrape_config cfg2 = {.api = {.api_url = down.url, .upload_attempts = 2, .backoff_ms = 20},
                          .app = "demo", .duration_ms = 1000};
    do_round(&cfg2, specs, 1, &g, -1, NULL);
    CHECK(g.outcome[0] == SCRAPE_OK && !g.uploaded[0] && g.attempts[0] == 2);
    CHECK_CONTAINS(g.uerr[0], "503: injected failure (after 2 attempts)");
    CHECK_CONTAINS(g.uerr[0], down.url);
  }

  /* 3. body limit at and past the edge (the garbage answer is 50 bytes) */
  {
    const char *specs[] = {s_junk};
    scrape_config cfg = {.api = {.api_url = api.url}, .app = "demo", .duration_ms = 1000,
                         .max_body_bytes = 50};
    got g;
    do_round(&cfg, specs, 1, &g, -1, NULL);
    CHECK(g.outcome[0] == SCRAPE_INVALID && g.bytes[0] == 50);
    cfg.max_body_bytes = 49;
    do_round(&cfg, specs, 1, &g, -1, NULL);
    CHECK(g.outcome[0] == SCRAPE_TOO_LARGE);
    CHECK_CONTAINS(g.msg[0], "limit of 49 bytes");
    /* a real profile past a small limit */
    const char *gs[] = {s_g2};
    cfg.max_body_bytes = 64;
    do_round(&cfg, gs, 1, &g, -1, NULL);
    CHECK(g.outcome[0] == SCRAPE_TOO_LARGE);
  }

  /* 4. stop: fetches in progress are aborted at once */
  {
    const char *specs[] = {s_g1, s_hang};
    scrape_config cfg = {.api = {.api_url = api.url}, .app = "demo", .duration_ms = 5000};
    got g;
    int64_t took = do_round(&cfg, specs, 2, &g, 300, NULL);
    CHECK(g.outcome[0] == SCRAPE_ABORTED && g.outcome[1] == SCRAPE_ABORTED);
    CHECK(took < 1500);
  }

  /* 5. stop while an upload is in flight: finished within the drain bound,
   *    abandoned past it (the slow server answers after 1.5 s) */
  {
    /* g2: g1 is still profiling for the aborted 5 s fetch above (Go answers
     * 500 "cpu profiling already in use" until it is done) */
    const char *specs[] = {s_g2};
    scrape_config cfg = {.api = {.api_url = slow.url, .upload_attempts = 1}, .app = "demo",
                         .duration_ms = 1000, .drain_ms = 5000};
    got g;
    do_round(&cfg, specs, 1, &g, -1, slow.url);
    CHECK(g.outcome[0] == SCRAPE_OK && g.uploaded[0]);
    if (!g.uploaded[0]) fprintf(stderr, "outcome %d: %s / %s\n", g.outcome[0], g.msg[0], g.uerr[0]);
    cfg.drain_ms = 200;
    int64_t took = do_round(&cfg, specs, 1, &g, -1, slow.url);
    CHECK(g.outcome[0] == SCRAPE_OK && !g.uploaded[0]);
    if (g.outcome[0] != SCRAPE_OK) fprintf(stderr, "outcome %d: %s\n", g.outcome[0], g.msg[0]);
    CHECK_CONTAINS(g.uerr[0], "drain");
    CHECK(took < 1000 + 1500);
  }

  /* 6. bad configuration is an error, not a crash */
  {
    scrape_config cfg = {.api = {.api_url = api.url}, .app = "Bad App"};
    char err[256];
    CHECK(scrape_round(&cfg, NULL, 0, NULL, NULL, NULL, err, sizeof err) == CLIENT_EINVAL);
    CHECK_CONTAINS(err, "invalid app name");
  }

out:
  t_stop(api.pid);
  t_stop(flaky.pid);
  t_stop(down.pid);
  t_stop(slow.pid);
  t_stop(g1.pid);
  t_stop(g2.pid);
  t_rm_rf(g_tmp);
  curl_global_cleanup();
  return check_exit("test_scrape");
}
