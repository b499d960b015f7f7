/*
 * worker_fetch.c — fetching and decoding the objects of one merge at once:
 * the staged uploads (with their metadata), and the instance states of the
 * other kinds.
 *
 * Staged uploads are small and many per batch; fetched one after the other
 * their round trips add up (50 GETs ≈ 50 round trips). A few threads fetch
 * and decode them at once; the blob store is thread-safe and decoding is
 * pure. The merge step then judges the results one by one, in order.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "worker_internal.h"

#define FETCH_THREADS 4

typedef struct fetch_job {
  worker *w;
  wk_fetched *items;
  size_t n;
  size_t limit;
  _Atomic size_t next;
} fetch_job;

/* The upload's metadata (the pgopipe-upload comment; defaults without one). */
static void read_meta(wk_fetched *f) {
  int found = 0;
  f->mrc = ingest_meta_from_profile(f->p, &f->meta, &found, f->err, sizeof f->err);
  f->kind = LAYOUT_KIND_CPU;
  if (f->mrc != 0) return;
  f->kind = layout_kind_parse(ingest_kind_name(f->meta.kind));
  if (f->kind == LAYOUT_KIND_NONE) {
    f->mrc = INGEST_EINVAL;
    snprintf(f->err, sizeof f->err, "upload record: no profile kind");
  }
}

static void *fetch_main(void *arg) {
  fetch_job *j = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    wk_fetched *f = &j->items[i];
    if (f->skip) continue;
    f->rc = blob_get(j->w->cfg.blob, f->key, j->limit, &f->data, &f->len, NULL, f->err,
                     sizeof f->err);
    if (f->rc == 0) {
      __atomic_add_fetch(&j->w->fetched_bytes, (uint64_t)f->len, __ATOMIC_RELAXED);
      __atomic_add_fetch(&j->w->fetched_n, 1, __ATOMIC_RELAXED);
    }
    if (f->rc != 0) continue;
    /* A staged upload gets the server's rule (upload.h): the same limits,
     * memory counted; an instance state the base's limit. */
    pp_limits lim = {.max_input_bytes = j->limit};
    if (f->with_meta)
      lim = (pp_limits){.max_input_bytes = j->w->cfg.max_profile_bytes,
                        .max_decoded_bytes = j->w->cfg.max_decoded_bytes,
                        .count_memory = 1};
    f->drc = pp_decode(f->data, f->len, &lim, &f->p, f->err, sizeof f->err);
    if (f->drc == PP_OK && f->with_meta) read_meta(f);
  }
  return NULL;
}

int wk_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 4 ? 4 : (int)n;
}

void wk_fetch_items(worker *w, wk_fetched *items, size_t n, size_t limit) {
  size_t todo = 0;
  for (size_t i = 0; i < n; i++) todo += !items[i].skip;
  fetch_job j = {w, items, n, limit, 0};
  size_t nt = todo < FETCH_THREADS ? todo : FETCH_THREADS;
  pthread_t th[FETCH_THREADS];
  size_t started = 0;
  for (size_t t = 1; t < nt; t++)
    if (pthread_create(&th[started], NULL, fetch_main, &j) == 0) started++;
  fetch_main(&j); /* this thread works too */
  for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
}

int wk_fetch(worker *w, const char *app, const wk_strlist *names, const wk_strlist *record,
             wk_fetched **out) {
  wk_fetched *items = calloc(names->n ? names->n : 1, sizeof *items);
  if (!items) return -1;
  for (size_t i = 0; i < names->n; i++) {
    items[i].name = names->v[i];
    layout_staging_key(app, names->v[i], items[i].key, sizeof items[i].key);
    items[i].skip = wk_sl_has_sorted(record, names->v[i]);
    items[i].with_meta = 1;
    items[i].kind = LAYOUT_KIND_CPU;
    ingest_meta_init(&items[i].meta);
  }
  wk_fetch_items(w, items, names->n, w->cfg.max_profile_bytes);
  *out = items;
  return 0;
}

void wk_fetched_free(wk_fetched *items, size_t n) {
  if (!items) return;
  for (size_t i = 0; i < n; i++) {
    free(items[i].data);
    pp_free(items[i].p);
    ingest_meta_free(&items[i].meta);
  }
  free(items);
}
