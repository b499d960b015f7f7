/*
 * blob-bench.c — PUT and GET rate of 20 KB objects through the blob API.
 * Usage: blob-bench URL [N] [THREADS]
 * Each thread PUTs its share of N objects, then GETs them back (checking
 * the bytes), then deletes them; the rates are objects per second over the
 * wall time of each phase. With one thread every request of a phase goes
 * over one reused connection (per-thread curl handle).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob.h"

#define OBJ (20 * 1024)

static blob_store *store;
static int total, nthreads, phase, errors;
static unsigned char payload[OBJ];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *p) {
  long t = (long)p;
  char key[64], err[1024];
  for (int i = total * t / nthreads; i < total * (t + 1) / nthreads; i++) {
    snprintf(key, sizeof key, "bench/obj-%06d", i);
    int rc;
    if (phase == 0) {
      rc = blob_put(store, key, payload, OBJ, err, sizeof err);
    } else if (phase == 1) {
      unsigned char *d;
      size_t n;
      rc = blob_get(store, key, 0, &d, &n, NULL, err, sizeof err);
      if (!rc && (n != OBJ || memcmp(d, payload, OBJ))) rc = -100;
      if (!rc) free(d);
    } else {
      rc = blob_delete(store, key, err, sizeof err);
    }
    if (rc) {
      if (!__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED)) fprintf(stderr, "%s: %s\n", key, err);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: blob-bench URL [N] [THREADS]\n");
    return 2;
  }
  total = argc > 2 ? atoi(argv[2]) : 1000;
  nthreads = argc > 3 ? atoi(argv[3]) : 1;
  if (nthreads < 1 || nthreads > 64 || total < 1) return 2;
  for (int i = 0; i < OBJ; i++) payload[i] = (unsigned char)(i * 31 + 7);
  char err[1024];
  if (blob_open(argv[1], &store, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  const char *names[] = {"PUT", "GET", "DELETE"};
  for (phase = 0; phase < 3; phase++) {
    pthread_t th[64];
    double t0 = now_s();
    for (long t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, run, (void *)t);
    for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    double dt = now_s() - t0;
    printf("%-6s %d x 20 KB, %d thread(s): %.2f s, %.0f objects/s, %.1f MB/s\n", names[phase],
           total, nthreads, dt, total / dt, phase < 2 ? total * (double)OBJ / dt / 1e6 : 0.0);
  }
  blob_close(store);
  if (errors) fprintf(stderr, "%d errors\n", errors);
  return errors ? 1 : 0;
}
