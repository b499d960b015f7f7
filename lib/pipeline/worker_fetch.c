/*
 * worker_fetch.c — fetching and decoding the uploads of one merge at once.
 *
 * Staged uploads are small and many per batch; fetched one after the other
 * their round trips add up (50 GETs ≈ 50 round trips). A few threads fetch
 * and decode them at once; the blob store is thread-safe and decoding is
 * pure. The merge step then judges the results one by one, in order.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "worker_internal.h"

#define FETCH_THREADS 4

typedef struct fetch_job {
  worker *w;
  wk_fetched *items;
  size_t n;
  _Atomic size_t next;
} fetch_job;

static void *fetch_main(void *arg) {
  fetch_job *j = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    wk_fetched *f = &j->items[i];
    if (f->skip) continue;
    f->rc = blob_get(j->w->cfg.blob, f->key, j->w->cfg.max_profile_bytes, &f->data, &f->len, NULL,
                     f->err, sizeof f->err);
    if (f->rc != 0) continue;
    /* the server's rule (upload.h): the same limits, memory counted */
    pp_limits lim = {.max_input_bytes = j->w->cfg.max_profile_bytes,
                     .max_decoded_bytes = j->w->cfg.max_decoded_bytes,
                     .count_memory = 1};
    f->drc = pp_decode(f->data, f->len, &lim, &f->p, f->err, sizeof f->err);
  }
  return NULL;
}

int wk_fetch(worker *w, const char *app, const wk_strlist *names, const wk_strlist *record,
             wk_fetched **out) {
  wk_fetched *items = calloc(names->n ? names->n : 1, sizeof *items);
  if (!items) return -1;
  size_t todo = 0;
  for (size_t i = 0; i < names->n; i++) {
    items[i].name = names->v[i];
    layout_staging_key(app, names->v[i], items[i].key, sizeof items[i].key);
    items[i].skip = wk_sl_has_sorted(record, names->v[i]);
    todo += !items[i].skip;
  }
  fetch_job j = {w, items, names->n, 0};
  size_t nt = todo < FETCH_THREADS ? todo : FETCH_THREADS;
  pthread_t th[FETCH_THREADS];
  size_t started = 0;
  for (size_t t = 1; t < nt; t++)
    if (pthread_create(&th[started], NULL, fetch_main, &j) == 0) started++;
  fetch_main(&j); /* this thread works too */
  for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
  *out = items;
  return 0;
}

void wk_fetched_free(wk_fetched *items, size_t n) {
  if (!items) return;
  for (size_t i = 0; i < n; i++) {
    free(items[i].data);
    pp_free(items[i].p);
  }
  free(items);
}
