/*
 * fleet-load.c — the open-loop load of tests/bench/fleet-bench.sh: a fleet
 * of instances of one service, each POSTing its CPU profile, offered at a
 * fixed rate whatever the server's answers take.
 *
 *   fleet-load URL RATE SECONDS THREADS PROFILE...
 *
 * Upload k (k = 0, 1, ...) is due at start + k / RATE and is sent by thread
 * k mod THREADS (a thread that is late sends at once, so a slow server sees
 * the backlog, not a slower client). The body of upload k is PROFILE[k mod
 * count]. URL is the full upload URL (http://HOST:PORT/api/profile/APP).
 * Prints one line: "RESULT offered=N accepted=N non2xx=N failed=N
 * seconds=S accepted_per_s=R p50_ms=X p99_ms=Y max_ms=Z".
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../common/http.h"

typedef struct body {
  uint8_t *data;
  size_t len;
} body;

typedef struct load {
  const char *url;
  double rate;
  size_t total;
  size_t threads;
  body *bodies;
  size_t nbodies;
  struct timespec start;
  _Atomic size_t accepted, non2xx, failed;
  double *lat; /* per upload, seconds */
} load;

typedef struct worker_arg {
  load *l;
  size_t index;
} worker_arg;

static double since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *sender(void *arg) {
  worker_arg *a = arg;
  load *l = a->l;
  for (size_t k = a->index; k < l->total; k += l->threads) {
    double due = (double)k / l->rate;
    double now = since(&l->start);
    if (due > now) {
      double d = due - now;
      struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
      nanosleep(&ts, NULL);
    }
    const body *b = &l->bodies[k % l->nbodies];
    const char *hdrs[] = {"Content-Type: application/octet-stream", NULL};
    http_resp r = http_url("POST", l->url, b->data, b->len, 0, hdrs, 30000);
    l->lat[k] = r.secs;
    if (r.status < 0) atomic_fetch_add(&l->failed, 1);
    else if (r.status >= 200 && r.status < 300) atomic_fetch_add(&l->accepted, 1);
    else atomic_fetch_add(&l->non2xx, 1);
    http_resp_free(&r);
  }
  return NULL;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static int read_file(const char *path, body *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  b->data = malloc(n > 0 ? (size_t)n : 1);
  b->len = n > 0 ? (size_t)n : 0;
  size_t got = b->data ? fread(b->data, 1, b->len, f) : 0;
  fclose(f);
  return b->data && got == b->len ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: fleet-load URL RATE SECONDS THREADS PROFILE...\n");
    return 2;
  }
  load l = {.url = argv[1], .rate = atof(argv[2])};
  double secs = atof(argv[3]);
  l.threads = (size_t)atoi(argv[4]);
  if (l.rate <= 0 || secs <= 0 || l.threads < 1 || l.threads > 256) {
    fprintf(stderr, "fleet-load: RATE, SECONDS > 0 and THREADS 1..256 wanted\n");
    return 2;
  }
  l.total = (size_t)(l.rate * secs);
  l.nbodies = (size_t)(argc - 5);
  l.bodies = calloc(l.nbodies, sizeof *l.bodies);
  l.lat = calloc(l.total ? l.total : 1, sizeof *l.lat);
  if (!l.bodies || !l.lat) return 1;
  for (size_t i = 0; i < l.nbodies; i++)
    if (read_file(argv[5 + i], &l.bodies[i]) != 0) {
      fprintf(stderr, "fleet-load: cannot read %s\n", argv[5 + i]);
      return 1;
    }
  curl_global_init(CURL_GLOBAL_ALL);
  pthread_t *th = calloc(l.threads, sizeof *th);
  worker_arg *args = calloc(l.threads, sizeof *args);
  if (!th || !args) return 1;
  clock_gettime(CLOCK_MONOTONIC, &l.start);
  for (size_t t = 0; t < l.threads; t++) {
    args[t] = (worker_arg){&l, t};
    if (pthread_create(&th[t], NULL, sender, &args[t]) != 0) return 1;
  }
  for (size_t t = 0; t < l.threads; t++) pthread_join(th[t], NULL);
  double took = since(&l.start);
  qsort(l.lat, l.total, sizeof *l.lat, cmp_double);
  size_t acc = atomic_load(&l.accepted);
  printf("RESULT offered=%zu accepted=%zu non2xx=%zu failed=%zu seconds=%.3f accepted_per_s=%.1f "
         "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
         l.total, acc, atomic_load(&l.non2xx), atomic_load(&l.failed), took, (double)acc / took,
         l.total ? l.lat[l.total / 2] * 1000 : 0.0,
         l.total ? l.lat[(size_t)((double)l.total * 0.99)] * 1000 : 0.0,
         l.total ? l.lat[l.total - 1] * 1000 : 0.0);
  for (size_t i = 0; i < l.nbodies; i++) free(l.bodies[i].data);
  free(l.bodies);
  free(l.lat);
  free(th);
  free(args);
  curl_global_cleanup();
  return 0;
}
