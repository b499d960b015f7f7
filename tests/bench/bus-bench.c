/*
 * bus-bench — synchronous publish rate of the event bus.
 *
 * Usage: bus-bench URL MESSAGES THREADS [BYTES]
 * THREADS threads share one writer and publish MESSAGES messages in total
 * (each a BYTES-byte payload, default 200 — about one profile.uploaded
 * envelope), every call waiting for its acknowledgement as the upload
 * service does. Prints one line: messages, threads, seconds, messages/s,
 * and the median and 99th-percentile latency of one publish.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"

static bus_writer *w;
static long per_thread;
static size_t bytes;
static double *lat;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg) {
  long id = (long)(intptr_t)arg;
  char key[32], err[512];
  char *msg = malloc(bytes);
  if (!msg)
    return (void *)1;
  memset(msg, 'x', bytes);
  for (long i = 0; i < per_thread; i++) {
    snprintf(key, sizeof key, "app-%ld", (id * 7 + i) % 16);
    double t0 = now();
    if (bus_publish(w, key, msg, bytes, err, sizeof err) != 0) {
      fprintf(stderr, "bus-bench: %s\n", err);
      free(msg);
      return (void *)1;
    }
    lat[id * per_thread + i] = now() - t0;
  }
  free(msg);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bus-bench URL MESSAGES THREADS [BYTES]\n");
    return 2;
  }
  long total = atol(argv[2]), threads = atol(argv[3]);
  bytes = argc > 4 ? (size_t)atol(argv[4]) : 200;
  if (total < 1 || threads < 1 || threads > 256 || bytes < 1) {
    fprintf(stderr, "bus-bench: bad arguments\n");
    return 2;
  }
  per_thread = total / threads;
  total = per_thread * threads;
  char err[512];
  if (bus_writer_open(argv[1], &w, err, sizeof err) != 0) {
    fprintf(stderr, "bus-bench: %s\n", err);
    return 1;
  }
  lat = calloc((size_t)total, sizeof *lat);
  pthread_t th[256];
  double t0 = now();
  for (long i = 0; i < threads; i++)
    pthread_create(&th[i], NULL, run, (void *)(intptr_t)i);
  int failed = 0;
  for (long i = 0; i < threads; i++) {
    void *r;
    pthread_join(th[i], &r);
    failed |= r != NULL;
  }
  double dt = now() - t0;
  bus_writer_close(w);
  if (failed) {
    free(lat);
    return 1;
  }
  qsort(lat, (size_t)total, sizeof *lat, cmp);
  printf("%-28s %7ld msgs %3ld threads %6.2f s %9.0f msg/s  p50 %.2f ms  p99 %.2f ms\n", argv[1], total,
         threads, dt, total / dt, lat[total / 2] * 1e3, lat[(long)(total * 0.99)] * 1e3);
  free(lat);
  return 0;
}
