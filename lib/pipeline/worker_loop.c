/*
 * worker_loop.c — batches and the poll loop.
 *
 * worker_run polls up to batch_max messages (waiting at most batch_wait
 * after the first) and hands them to worker_handle_batch, which decodes
 * them, handles them per app in event order (uploads gathered into one
 * merge up to the app's next profile.deleted, which is a barrier), and
 * commits each partition's last message. Between batches the loop reloads
 * the rules when asked, runs the gauge tick every gauge_tick_ms (expired
 * instances leave their bases' gauge parts) and the history tick as often
 * (hours leave windows, old history goes), and, while idle, checks the
 * dependencies so health recovers without traffic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* ---- One batch ---- */

typedef struct batch {
  worker *w;
  bus_msg *const *msgs;
  size_t n;
  volatile sig_atomic_t *stop;
  bus_event *evs;     /* decoded envelopes */
  char *done;         /* handled (or skipped) already */
  char *ok;           /* a valid event of a type handled here */
  const char **keys;  /* scratch: uploads of the app being handled */
  const char **dels;  /* scratch: its profile.merged keys */
  const char **later; /* scratch: its uploads after a profile.deleted */
} batch;

static int batch_alloc(batch *b) {
  size_t n = b->n;
  b->evs = calloc(n, sizeof *b->evs);
  b->done = calloc(n, 1);
  b->ok = calloc(n, 1);
  b->keys = calloc(n, sizeof *b->keys);
  b->dels = calloc(n, sizeof *b->dels);
  b->later = calloc(n, sizeof *b->later);
  return b->evs && b->done && b->ok && b->keys && b->dels && b->later ? 0 : -1;
}

static void batch_free(batch *b) {
  free(b->evs);
  free(b->done);
  free(b->ok);
  free(b->keys);
  free(b->dels);
  free(b->later);
}

/* Decodes message i; a malformed envelope, another event type or an
 * invalid app is counted, logged and marked done (it is committed). */
static void decode_one(batch *b, size_t i) {
  worker *w = b->w;
  const bus_msg *m = b->msgs[i];
  char derr[512];
  wk_count(w, WK_EVENTS, 1);
  if (bus_event_decode(m->payload, m->len, &b->evs[i], derr, sizeof derr) != 0) {
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    wk_count(w, WK_MALFORMED, 1);
    WK_LOG(w, CORE_LOG_WARN, "malformed event: skipped", "partition", part, "offset", off, "error",
           derr, NULL);
    b->done[i] = 1;
    return;
  }
  const char *t = b->evs[i].type;
  int known =
      !strcmp(t, BUS_TYPE_UPLOADED) || !strcmp(t, BUS_TYPE_MERGED) || !strcmp(t, BUS_TYPE_DELETED);
  wk_stat_event(w->st, known ? t : "other");
  if (!known) {
    wk_count(w, WK_SKIPPED_TYPES, 1);
    WK_LOG(w, CORE_LOG_DEBUG, "event type not handled here: skipped", "type", t, NULL);
    b->done[i] = 1;
    return;
  }
  if (!layout_app_valid(b->evs[i].app)) {
    wk_count(w, WK_MALFORMED, 1);
    WK_LOG(w, CORE_LOG_WARN, "event with an invalid app name: skipped", "app", b->evs[i].app,
           NULL);
    b->done[i] = 1;
    return;
  }
  b->ok[i] = 1;
}

/* The operations a batch retries (wk_op; merging is wk_op_merge). */
static int op_delete_staged(worker *w, void *arg, char *err, size_t errlen) {
  const wk_keys *k = arg;
  return wk_delete_staged(w, k->app, k->keys, k->n, err, errlen);
}

typedef struct delete_op {
  const char *app;
  wk_delete_args args;
} delete_op;

static int op_delete_app(worker *w, void *arg, char *err, size_t errlen) {
  delete_op *d = arg;
  return wk_delete_app(w, d->app, &d->args, err, errlen);
}

/* Moves the staged objects of the profile.merged events gathered so far to
 * history (all of them again after a failure: each step is idempotent). */
static int delete_merged(batch *b, const char *app, size_t nd) {
  if (!nd) return 0;
  wk_keys op = {app, b->dels, nd};
  return wk_retry(b->w, app, op_delete_staged, &op, b->stop);
}

/* The profile.deleted at j, a barrier: the profile.merged before it run
 * first; the nk uploads before it are not merged (the delete removes their
 * staged objects); the uploads after it in the batch stay. */
static int handle_deleted(batch *b, size_t j, const char *app, size_t nk, size_t nd) {
  worker *w = b->w;
  int rc = delete_merged(b, app, nd);
  size_t nl = 0;
  for (size_t k = j + 1; k < b->n; k++)
    if (b->ok[k] && !strcmp(b->evs[k].app, app) && !strcmp(b->evs[k].type, BUS_TYPE_UPLOADED))
      b->later[nl++] = b->evs[k].profile_key;
  delete_op op = {app, {INT64_MIN, b->keys, nk, b->later, nl}};
  int64_t ms;
  if (chrono_parse_rfc3339(b->evs[j].timestamp, &ms) == 0 && ms < INT64_MAX / 1000000 &&
      ms > INT64_MIN / 1000000) {
    op.args.cutoff_ns = ms * 1000000;
  } else {
    WK_LOG(w, CORE_LOG_WARN,
           "profile.deleted with an unreadable timestamp: staged uploads not in this batch kept",
           "app", app, "timestamp", b->evs[j].timestamp, NULL);
  }
  for (size_t d = 0; d < nk; d++)
    WK_LOG(w, CORE_LOG_DEBUG, "upload followed by its app's deletion: not merged", "app", app,
           "key", b->keys[d], NULL);
  if (rc == 0) rc = wk_retry(w, app, op_delete_app, &op, b->stop);
  return rc;
}

/*
 * Handles every event of the app of event i, in event order. Uploads
 * accumulate into one merge up to the app's next profile.deleted;
 * profile.merged deletions run after that merge (they never concern an
 * upload of the same merge that is not yet in the base: those are
 * redeliveries, which the record recognises).
 */
static int handle_app(batch *b, size_t i) {
  const char *app = b->evs[i].app;
  size_t nk = 0, nd = 0;
  int rc = 0;
  for (size_t j = i; j < b->n && rc == 0; j++) {
    if (b->done[j] || strcmp(b->evs[j].app, app) != 0) continue;
    b->done[j] = 1;
    const char *t = b->evs[j].type;
    if (!strcmp(t, BUS_TYPE_UPLOADED)) {
      b->keys[nk++] = b->evs[j].profile_key;
    } else if (!strcmp(t, BUS_TYPE_MERGED)) {
      b->dels[nd++] = b->evs[j].profile_key;
    } else {
      rc = handle_deleted(b, j, app, nk, nd);
      nk = nd = 0;
    }
  }
  if (rc == 0 && nk) {
    wk_keys op = {app, b->keys, nk};
    rc = wk_retry(b->w, app, wk_op_merge, &op, b->stop);
  }
  if (rc == 0) rc = delete_merged(b, app, nd);
  return rc;
}

/* Commits each partition's last message (it covers everything before it). */
static void commit_batch(batch *b) {
  worker *w = b->w;
  for (size_t i = b->n; i-- > 0;) {
    int seen = 0;
    for (size_t j = i + 1; j < b->n && !seen; j++)
      seen = b->msgs[j]->partition == b->msgs[i]->partition;
    if (seen) continue;
    char cerr[512];
    int crc = bus_commit(w->cfg.reader, b->msgs[i], cerr, sizeof cerr);
    if (crc == 0) {
      wk_count(w, WK_COMMITS, 1);
    } else {
      wk_count(w, WK_COMMIT_FAILURES, 1);
      WK_LOG(w, crc == BUS_ERETRY ? CORE_LOG_INFO : CORE_LOG_WARN,
             "commit failed (the events will be redelivered; the base record makes that harmless)",
             "error", cerr, NULL);
    }
  }
}

int worker_handle_batch(worker *w, bus_msg *const *msgs, size_t n, volatile sig_atomic_t *stop) {
  if (!n) return 0;
  batch b = {.w = w, .msgs = msgs, .n = n, .stop = stop};
  if (batch_alloc(&b) != 0) {
    WK_LOG(w, CORE_LOG_ERROR, "out of memory handling a batch; it will be redelivered", NULL);
    batch_free(&b);
    return WORKER_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) decode_one(&b, i);
  /* Per app, in order of first appearance. */
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    if (!b.done[i]) rc = handle_app(&b, i);
  if (rc != 0)
    WK_LOG(w, CORE_LOG_WARN, "stopping with a batch unfinished: nothing of it committed", NULL);
  else
    commit_batch(&b);
  batch_free(&b);
  return rc;
}

/* ---- The loop ---- */

static void reload_rules(worker *w) {
  if (!w->cfg.prune_path) {
    WK_LOG(w, CORE_LOG_INFO, "reload requested, but no --prune file is configured", NULL);
    return;
  }
  rules_set *ns = NULL;
  char err[1024];
  if (rules_load(w->cfg.prune_path, &ns, err, sizeof err) != 0) {
    WK_LOG(w, CORE_LOG_ERROR, "prune rules reload failed; keeping the old rules", "error", err,
           NULL);
    return;
  }
  char a[24], r[24];
  snprintf(a, sizeof a, "%zu", rules_app_count(ns));
  snprintf(r, sizeof r, "%zu", rules_rule_count(ns));
  worker_set_rules(w, ns);
  WK_LOG(w, CORE_LOG_INFO, "prune rules reloaded", "file", w->cfg.prune_path, "apps", a, "rules",
         r, NULL);
}

static void check_deps(worker *w) {
  char err[512];
  if (blob_check(w->cfg.blob, err, sizeof err) == 0) wk_dep_ok(w, WK_DEP_BLOB);
  else wk_dep_fail(w, WK_DEP_BLOB, err);
  if (bus_reader_check(w->cfg.reader, err, sizeof err) == 0) wk_dep_ok(w, WK_DEP_READER);
  else wk_dep_fail(w, WK_DEP_READER, err);
  if (bus_writer_check(w->cfg.writer, err, sizeof err) == 0) wk_dep_ok(w, WK_DEP_WRITER);
  else wk_dep_fail(w, WK_DEP_WRITER, err);
}

static void log_start(worker *w) {
  char batch_s[24], wait_s[24];
  snprintf(batch_s, sizeof batch_s, "%zu", w->cfg.batch_max);
  snprintf(wait_s, sizeof wait_s, "%d", w->cfg.batch_wait_ms);
  /* the reader URL's query may carry librdkafka secrets (sasl.password):
   * log only what comes before it */
  char events[256];
  const char *ru = w->cfg.reader_url ? w->cfg.reader_url : "";
  size_t rl = strcspn(ru, "?");
  snprintf(events, sizeof events, "%.*s%s", (int)(rl < 200 ? rl : 200), ru, ru[rl] ? "?..." : "");
  char ttl_s[24], win_s[24], ret_s[24];
  snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)w->cfg.gauge_ttl_ms);
  snprintf(win_s, sizeof win_s, "%lld", (long long)w->cfg.window_ms);
  snprintf(ret_s, sizeof ret_s, "%lld", (long long)w->cfg.retention_ms);
  WK_LOG(w, CORE_LOG_INFO, "worker starting", "store", blob_url(w->cfg.blob), "events", events,
         "batch_max", batch_s, "batch_wait_ms", wait_s, "gauge_ttl_ms", ttl_s, "window_ms", win_s,
         "retention_ms", ret_s, NULL);
}

static int64_t mono_ms(void) { return chrono_mono_ns() / 1000000; }

/* The most messages of one batch: batch_max, or WORKER_BATCH_GROW times it
 * when a backlog is waiting (1 stays 1: no batching). */
static size_t batch_cap(const worker *w) {
  size_t m = w->cfg.batch_max;
  return m <= 1 ? 1 : m > SIZE_MAX / WORKER_BATCH_GROW ? m : m * WORKER_BATCH_GROW;
}

/* The most messages of this batch: batch_cap, but a batch grown past
 * batch_max holds at most batch_grow_bytes of staged uploads at the last
 * batch's average size (all of a batch is decoded at once); before a batch
 * has read any, it does not grow. */
static size_t grown_cap(const worker *w) {
  size_t cap = batch_cap(w), m = w->cfg.batch_max;
  uint64_t per = w->bytes_per_upload;
  if (cap <= m) return cap;
  if (per == 0) return m;
  uint64_t fit = (uint64_t)w->cfg.batch_grow_bytes / per;
  return fit >= cap ? cap : fit <= m ? m : (size_t)fit;
}

/* After a batch: the average staged upload it read (kept when it read none). */
static void note_batch_bytes(worker *w) {
  uint64_t n = __atomic_exchange_n(&w->fetched_n, 0, __ATOMIC_RELAXED);
  uint64_t b = __atomic_exchange_n(&w->fetched_bytes, 0, __ATOMIC_RELAXED);
  if (n) w->bytes_per_upload = b / n ? b / n : 1;
}

/* Polls up to batch_max messages into msgs, the first one waiting up to
 * poll_ms, the others until batch_wait after it; then, while more are
 * already waiting (a backlog), up to batch_cap in all without waiting.
 * Returns the count, or -1 when polling failed (perr says why). */
static int poll_batch(worker *w, bus_msg **msgs, char *perr, size_t perrlen) {
  bus_msg *m = NULL;
  int prc = bus_poll(w->cfg.reader, w->cfg.poll_ms, &m, perr, perrlen);
  if (prc <= 0) return prc < 0 ? -1 : 0;
  size_t n = 0;
  msgs[n++] = m;
  int64_t deadline = mono_ms() + w->cfg.batch_wait_ms;
  size_t cap = grown_cap(w);
  while (n < cap) {
    int64_t left = n < w->cfg.batch_max ? deadline - mono_ms() : 0;
    if (left < 0) left = 0;
    bus_msg *more = NULL;
    if (bus_poll(w->cfg.reader, (int)left, &more, perr, perrlen) != 1) break;
    msgs[n++] = more;
  }
  return (int)n;
}

/* Polls and handles batches until *stop. */
static void consume(worker *w, bus_msg **msgs, volatile sig_atomic_t *stop,
                    volatile sig_atomic_t *reload) {
  int poll_fail = 0;
  int64_t idle_since = mono_ms(), last_check = 0;
  while (!*stop) {
    if (reload && *reload) {
      *reload = 0;
      reload_rules(w);
    }
    char perr[512];
    int n = poll_batch(w, msgs, perr, sizeof perr);
    if (n < 0) {
      wk_dep_fail(w, WK_DEP_READER, perr);
      WK_LOG(w, CORE_LOG_WARN, "polling the bus failed, retrying with backoff", "error", perr,
             NULL);
      wk_backoff(w, poll_fail++, stop);
      continue;
    }
    if (poll_fail) {
      poll_fail = 0;
      wk_dep_ok(w, WK_DEP_READER);
    }
    if (n == 0) {
      /* Idle: check the dependencies now and then, so health turns back to
       * 200 (or to 503) without traffic. */
      int64_t t = mono_ms();
      if (t - idle_since > 2000 && t - last_check > 5000) {
        last_check = t;
        check_deps(w);
      }
    } else {
      worker_handle_batch(w, msgs, (size_t)n, stop);
      note_batch_bytes(w);
      for (int i = 0; i < n; i++) bus_msg_free(msgs[i]);
      idle_since = mono_ms();
    }
    /* Gauges of instances gone quiet leave their bases, with or without traffic. */
    if (w->ngauges && mono_ms() - w->last_tick_ms >= w->cfg.gauge_tick_ms) worker_gauge_tick(w);
    /* Hours leave the windows and old history goes, with or without traffic. */
    if ((w->nknown || w->napps) &&
        (w->htick_more || mono_ms() - w->last_htick_ms >= w->cfg.gauge_tick_ms))
      worker_history_tick(w);
  }
}

int worker_run(const worker_config *cfg, volatile sig_atomic_t *stop,
               volatile sig_atomic_t *reload, char *err, size_t errlen) {
  worker *w = NULL;
  int rc = worker_new(cfg, &w, err, errlen);
  if (rc != 0) return rc;
  log_start(w);
  if (!w->cfg.reconcile || worker_reconcile(w, stop) == 0) {
    wk_stat_set_ready(w->st, 1);
    bus_msg **msgs = calloc(batch_cap(w), sizeof *msgs);
    if (msgs) {
      consume(w, msgs, stop, reload);
    } else {
      errbuf_set(err, errlen, "worker: out of memory");
      rc = WORKER_ENOMEM;
    }
    free(msgs);
  }
  wk_stat_set_ready(w->st, 0);
  WK_LOG(w, CORE_LOG_INFO, "worker stopped", NULL);
  worker_free(w);
  return rc;
}
