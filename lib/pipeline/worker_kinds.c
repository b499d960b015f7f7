/*
 * worker_kinds.c — the profile kinds other than cpu (worker.h, "Profile
 * kinds"): the uploads of one kind in one attempt (a wk_group) are checked
 * against their kind, turned into counter contributions per instance in
 * batch order (deltas as they are; cumulative snapshots minus the instance's
 * previous one, or from zero after a restart), their gauge columns set as
 * their instance's latest snapshot in G, and folded into the (app, kind)
 * base (when their hour is in its window) and their hour's bucket; the
 * buckets are written first, then (after every bucket of the attempt) the
 * base, then (after every base) the instance states.
 *
 * The exactly-once argument (worker.h): the buckets, the base and every
 * instance state carry their own record; an upload already in its
 * instance's state is in its bucket and base too (they are written first),
 * so it is skipped for all; one in some of the objects but not in the state
 * (a crash between the writes) still advances the state, and its
 * contribution — computed against the same previous snapshot as the first
 * time, since the state did not move — goes to the objects that lack it;
 * one in none contributes to each and advances the state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chrono.h"
#include "errbuf.h"
#include "worker_internal.h"

/* ---- Instance state comments ---- */

int wk_state_info_read(const pp_profile *p, wk_state_info *out) {
  memset(out, 0, sizeof *out);
  size_t pl = strlen(WK_INSTANCE_PREFIX);
  for (size_t i = 0; i < pp_comment_count(p); i++) {
    const char *c = pp_comment(p, i);
    if (strncmp(c, WK_INSTANCE_PREFIX, pl) != 0) continue;
    json_error_t je;
    json_t *o = json_loads(c + pl, 0, &je);
    json_t *id = json_object_get(o, "id"), *mode = json_object_get(o, "mode");
    json_t *seen = json_object_get(o, "seen"), *t = json_object_get(o, "time");
    int ok = json_is_object(o) && json_is_string(id) && json_is_string(mode) &&
             json_is_integer(seen) && (!t || json_is_integer(t));
    if (ok) {
      out->id = strdup(json_string_value(id));
      out->cumulative = strcmp(json_string_value(mode), "cumulative") == 0;
      out->seen_ns = (int64_t)json_integer_value(seen);
      out->time_ns = t ? (int64_t)json_integer_value(t) : 0;
    }
    json_decref(o);
    if (!ok) return 1;
    return out->id ? 0 : -1;
  }
  return 1;
}

void wk_state_info_free(wk_state_info *i) {
  free(i->id);
  memset(i, 0, sizeof *i);
}

/* Writes the state comment into p. Returns 0 or a PP_E* code. */
static int state_info_write(pp_profile *p, const wk_state_info *in) {
  json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "id", in->id ? in->id : "", "mode",
                        in->cumulative ? "cumulative" : "delta", "seen", (json_int_t)in->seen_ns,
                        "time", (json_int_t)in->time_ns);
  char *j = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!j) return PP_ENOMEM;
  size_t pl = strlen(WK_INSTANCE_PREFIX), jl = strlen(j);
  char *c = malloc(pl + jl + 1);
  int rc = PP_ENOMEM;
  if (c) {
    memcpy(c, WK_INSTANCE_PREFIX, pl);
    memcpy(c + pl, j, jl + 1);
    rc = pp_add_comment(p, c);
  }
  free(c);
  free(j);
  return rc;
}

/* ---- A group ---- */

/* One instance touched by the group: its stored state and what the batch
 * makes of it. */
typedef struct wk_inst {
  uint64_t hash;
  char *id;           /* the instance id of the uploads (owned) */
  wk_fetched state;   /* the stored state as read (key set) */
  pp_profile *snap;   /* its latest snapshot (owned), NULL: none */
  wk_state_info info; /* of snap */
  wk_strlist record;  /* the stored state's record */
  wk_strlist applied; /* the uploads applied to it now */
  int advanced;       /* snap replaced by an upload of this batch */
} wk_inst;

struct wk_group {
  layout_kind kind;
  wk_fetched **ups; /* in batch order; profiles still in ups[i]->p */
  size_t n, cap;
  unsigned char *ok; /* ups[i] passed the kind and compatibility checks */
  wk_base base;
  wk_columns cols;
  int have_cols;
  wk_gauge *gauge; /* kinds with gauge columns */
  wk_inst *inst;
  size_t ninst;
  pp_profile **contrib; /* counter contributions of the new uploads, in batch order */
  size_t ncontrib;
  pp_profile *shape; /* the first good upload with every value zero: the kind's shape */
  wk_hours *hours;   /* the hour buckets the uploads go into */
  int idle;          /* no upload to fold: nothing to write */
  int64_t t0;
};

wk_group *wk_group_new(layout_kind kind) {
  wk_group *g = calloc(1, sizeof *g);
  if (g) g->kind = kind;
  return g;
}

static void inst_free(wk_inst *i) {
  free(i->id);
  free(i->state.data);
  pp_free(i->state.p);
  ingest_meta_free(&i->state.meta);
  pp_free(i->snap);
  wk_state_info_free(&i->info);
  wk_sl_free(&i->record);
  wk_sl_free(&i->applied);
}

void wk_group_free(wk_group *g) {
  if (!g) return;
  free(g->ups);
  free(g->ok);
  wk_base_free(&g->base);
  for (size_t i = 0; i < g->ninst; i++) inst_free(&g->inst[i]);
  free(g->inst);
  for (size_t i = 0; i < g->ncontrib; i++) pp_free(g->contrib[i]);
  free(g->contrib);
  pp_free(g->shape);
  wk_hours_free(g->hours);
  free(g);
}

int wk_group_add(wk_group *g, wk_fetched *f) {
  if (g->n == g->cap) {
    size_t nc = g->cap ? g->cap * 2 : 8;
    wk_fetched **nv = realloc(g->ups, nc * sizeof *nv);
    if (!nv) return -1;
    g->ups = nv;
    g->cap = nc;
  }
  g->ups[g->n++] = f;
  return 0;
}

static const char *kind_name(const wk_group *g) { return layout_kind_name(g->kind); }

/* The upload's instance id ("" for the anonymous instance). */
static const char *instance_of(const wk_fetched *f) {
  return f->meta.instance ? f->meta.instance : "";
}

/* When the upload was received (server clock): its metadata, else its
 * staged name's time, else now. */
static int64_t seen_of(const worker *w, const wk_fetched *f) {
  int64_t ns;
  if (f->meta.received_ns > 0) return f->meta.received_ns;
  if (f->name && layout_name_stamp_ns(f->name, &ns) == 0 && ns > 0) return ns;
  return wk_now_ns(w);
}

/* 1 when the upload's counter columns are cumulative. */
static int cumulative(const wk_group *g, const wk_fetched *f) {
  return g->cols.has_counters && f->meta.mode == INGEST_MODE_CUMULATIVE;
}

/* 1 when the upload needs its instance's state: cumulative counters, or
 * gauges (the latest snapshot per instance). */
static int needs_state(const wk_group *g, const wk_fetched *f) {
  return cumulative(g, f) || g->cols.has_gauges;
}

/* ---- Step 1: the kind and compatibility of each upload ---- */

static int judge(wk_attempt *a, wk_group *g) {
  worker *w = a->w;
  g->ok = calloc(g->n ? g->n : 1, 1);
  if (!g->ok) return wk_out_of_memory(a);
  const pp_profile *ref = g->base.p;
  for (size_t i = 0; i < g->n; i++) {
    wk_fetched *f = g->ups[i];
    char why[600];
    ingest_kind_info ki;
    int ok = ingest_kind_detect(f->p, f->meta.kind, &ki, why, sizeof why) == INGEST_OK;
    if (ok && ref) ok = wk_compatible(ref, f->p, why, sizeof why);
    if (!ok) {
      int rc = wk_reject_staged(w, a->app, f, f->data, f->len, why, a->err, a->errlen);
      if (rc != 0) return wk_store_failed(a, rc);
      continue;
    }
    free(f->data);
    f->data = NULL;
    f->hour = wk_upload_hour(w, f);
    if (!g->have_cols) {
      wk_columns_of(&ki, &g->cols);
      g->have_cols = 1;
    }
    pp_remove_comments_with_prefix(f->p, WORKER_COMMENT_PREFIX);
    g->ok[i] = 1;
    if (!ref) ref = f->p;
  }
  return 0;
}

/* ---- Step 2: the instance states ---- */

static wk_inst *find_inst(wk_group *g, uint64_t hash) {
  for (size_t i = 0; i < g->ninst; i++)
    if (g->inst[i].hash == hash) return &g->inst[i];
  return NULL;
}

/* Reads what one fetched state holds. Returns 0 or a WORKER_E* code. */
static int take_state(wk_attempt *a, wk_group *g, wk_inst *in) {
  worker *w = a->w;
  wk_fetched *f = &in->state;
  if (f->rc == BLOB_ENOTFOUND) return 0;
  if (f->rc != 0) {
    errbuf_set(a->err, a->errlen, "%s", f->err);
    return wk_store_failed(a, f->rc);
  }
  if (f->drc == PP_ENOMEM) return wk_out_of_memory(a);
  const char *why = f->err;
  wk_state_info info;
  int irc = f->drc == PP_OK ? wk_state_info_read(f->p, &info) : 1;
  if (irc < 0) return wk_out_of_memory(a);
  if (irc == 0 && strcmp(info.id, in->id) != 0) {
    why = "the state belongs to another instance with the same hash";
    wk_state_info_free(&info);
    irc = 1;
  } else if (irc == 0 && g->have_cols &&
             pp_sample_type_count(f->p) != g->cols.ncols) {
    why = "the state's sample types are not the kind's";
    wk_state_info_free(&info);
    irc = 1;
  } else if (irc == 1 && f->drc == PP_OK) {
    why = "no instance record in it";
  }
  if (irc != 0) {
    WK_LOG(w, CORE_LOG_WARN,
           "instance state unusable: the instance starts again from its next snapshot", "app",
           a->app, "key", f->key, "reason", why, NULL);
    return 0;
  }
  if (wk_record_read(f->p, &in->record) != 0) {
    wk_state_info_free(&info);
    return wk_out_of_memory(a);
  }
  pp_remove_comments_with_prefix(f->p, WORKER_COMMENT_PREFIX);
  in->snap = f->p;
  f->p = NULL;
  in->info = info;
  return 0;
}

/* Reads the states of every instance the group's uploads need, at once. */
static int load_states(wk_attempt *a, wk_group *g) {
  g->inst = calloc(g->n ? g->n : 1, sizeof *g->inst);
  if (!g->inst) return wk_out_of_memory(a);
  for (size_t i = 0; i < g->n; i++) {
    if (!g->ok[i] || !needs_state(g, g->ups[i])) continue;
    const char *id = instance_of(g->ups[i]);
    uint64_t h = layout_instance_hash(id);
    if (find_inst(g, h)) continue;
    wk_inst *in = &g->inst[g->ninst++];
    in->hash = h;
    in->id = strdup(id);
    if (!in->id) return wk_out_of_memory(a);
    layout_instance_key(a->app, g->kind, id, in->state.key, sizeof in->state.key);
    ingest_meta_init(&in->state.meta);
  }
  if (!g->ninst) return 0;
  wk_fetched *items = calloc(g->ninst, sizeof *items);
  if (!items) return wk_out_of_memory(a);
  for (size_t i = 0; i < g->ninst; i++) items[i] = g->inst[i].state;
  wk_fetch_items(a->w, items, g->ninst, a->w->cfg.max_base_bytes);
  for (size_t i = 0; i < g->ninst; i++) g->inst[i].state = items[i];
  free(items);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < g->ninst; i++) rc = take_state(a, g, &g->inst[i]);
  return rc;
}

/* ---- Step 3: each upload in batch order ---- */

/* U − S on the counter columns, or NULL with *restart = 1 when a counter
 * value of any stack went down (a restart: U counts from zero). *rc is a
 * PP_E* code on failure. */
static pp_profile *delta(const wk_group *g, const pp_profile *u, const pp_profile *s,
                         int *restart, int *rc, char *why, size_t whylen) {
  *restart = 0;
  pp_profile *cu = wk_scaled(u, &g->cols, 1, 0, 0);
  pp_profile *ns = wk_scaled(s, &g->cols, -1, 0, 0);
  pp_profile *d = NULL;
  if (!cu || !ns) {
    pp_free(cu);
    pp_free(ns);
    *rc = PP_ENOMEM;
    return NULL;
  }
  pp_profile *in[2] = {cu, ns};
  *rc = pp_merge(in, 2, &d, why, whylen);
  if (*rc != PP_OK) return NULL;
  for (size_t j = 0; j < g->cols.ncols && !*restart; j++)
    if (!g->cols.gauge[j] && pp_column_min(d, j) < 0) *restart = 1;
  if (*restart) {
    pp_free(d);
    return NULL;
  }
  int64_t t0 = pp_time_nanos(s), t1 = pp_time_nanos(u);
  if (t0 > 0 && t1 > t0) pp_set_time(d, t0, t1 - t0);
  return d;
}

/* The counter contribution of upload f of instance in (NULL: none). */
static int contribution(wk_attempt *a, wk_group *g, const wk_fetched *f, const wk_inst *in,
                        pp_profile **out) {
  worker *w = a->w;
  *out = NULL;
  if (!g->cols.has_counters) return 0;
  const pp_profile *prev = in ? in->snap : NULL;
  char why[600] = "";
  if (cumulative(g, f) && prev && in->info.cumulative && wk_compatible(f->p, prev, why, sizeof why)) {
    int restart = 0, prc = PP_OK;
    *out = delta(g, f->p, prev, &restart, &prc, why, sizeof why);
    if (prc != PP_OK) {
      errbuf_set(a->err, a->errlen, "subtracting %s's previous snapshot from %s: %s", in->id,
                 f->key, why);
      return wk_from_pp(prc);
    }
    if (restart) {
      wk_stat_kind(w->st, WK_K_RESTARTS, g->kind, 1);
      WK_LOG(w, CORE_LOG_INFO,
             "a value went down since the instance's last snapshot (a restart): the snapshot "
             "counts from zero",
             "app", a->app, "kind", kind_name(g), "instance", in->id, "key", f->key, NULL);
    }
  } else if (cumulative(g, f)) {
    wk_stat_kind(w->st, WK_K_FIRST, g->kind, 1);
    WK_LOG(w, CORE_LOG_DEBUG, "first snapshot of an instance: counts from zero", "app", a->app,
           "kind", kind_name(g), "instance", in ? in->id : "", "key", f->key, NULL);
  }
  if (!*out && !(*out = wk_scaled(f->p, &g->cols, 1, 0, 0))) return wk_out_of_memory(a);
  return 0;
}

/* 1 when f's snapshot is older than the one its instance holds. */
static int stale(const wk_fetched *f, const wk_inst *in) {
  return in && in->snap && in->info.time_ns > 0 && f->meta.time_ns > 0 &&
         f->meta.time_ns < in->info.time_ns;
}

/* Makes f's profile its instance's latest snapshot. */
static int advance(wk_attempt *a, wk_group *g, wk_fetched *f, wk_inst *in) {
  pp_profile *snap = f->p;
  f->p = NULL;
  if (!cumulative(g, f)) {
    /* a delta's counters say nothing about the next upload: keep the gauges */
    pp_profile *gs = wk_scaled(snap, &g->cols, 0, 1, 1);
    pp_free(snap);
    if (!(snap = gs)) return wk_out_of_memory(a);
  }
  pp_free(in->snap);
  in->snap = snap;
  char *id = strdup(in->id);
  if (!id) return wk_out_of_memory(a);
  wk_state_info_free(&in->info);
  in->info.id = id;
  in->info.cumulative = cumulative(g, f);
  in->info.seen_ns = seen_of(a->w, f);
  in->info.time_ns = f->meta.time_ns;
  in->advanced = 1;
  return 0;
}

/* One upload, in batch order. */
static int one_upload(wk_attempt *a, wk_group *g, wk_fetched *f) {
  worker *w = a->w;
  wk_inst *in = needs_state(g, f) ? find_inst(g, layout_instance_hash(instance_of(f))) : NULL;
  if (in && wk_sl_has_sorted(&in->record, f->name)) {
    /* the state holds it, so its bucket and base do too (written first) */
    wk_count(w, WK_DUPLICATES, 1);
    WK_LOG(w, CORE_LOG_INFO, "upload already in its instance state (redelivered): skipped", "app",
           a->app, "kind", kind_name(g), "key", f->key, NULL);
    return wk_announce_add(a, f->key, g->kind);
  }
  /* Each object that sums counter contributions (the base, when the hour
   * is in its window, and the hour's bucket) is judged by its own record;
   * the contribution is computed when one of them lacks the upload. */
  wk_base *bucket = NULL;
  int rc = wk_hours_get(a, g->hours, f->hour, g->base.p ? g->base.p : g->shape, &bucket);
  if (rc != 0) return rc;
  int need_bucket = !wk_sl_has_sorted(&bucket->record, f->name);
  int need_base = wk_window_holds(w, &g->base, f->hour) &&
                  !wk_sl_has_sorted(&g->base.record, f->name);
  int old = stale(f, in);
  if (old) {
    wk_stat_kind(w->st, WK_K_STALE, g->kind, 1);
    WK_LOG(w, CORE_LOG_WARN,
           "snapshot older than its instance's last one: its counters are in that one already",
           "app", a->app, "kind", kind_name(g), "instance", in->id, "key", f->key, NULL);
  }
  pp_profile *c = NULL, *cb = NULL;
  if (!need_base && !need_bucket) {
    wk_count(w, WK_DUPLICATES, 1);
    WK_LOG(w, CORE_LOG_INFO,
           "upload already in the base and its hour bucket, not yet in its instance state: the "
           "state advances",
           "app", a->app, "kind", kind_name(g), "key", f->key, NULL);
  } else if (!(old && cumulative(g, f))) {
    rc = contribution(a, g, f, in, &c);
    if (rc != 0) return rc;
    if (c && need_base && need_bucket && !(cb = pp_clone(c))) {
      pp_free(c);
      return wk_out_of_memory(a);
    }
    if (c && !need_base) {
      cb = c;
      c = NULL;
    }
  }
  if (need_base) {
    if (c) g->contrib[g->ncontrib++] = c;
    if (wk_sl_add(&g->base.fresh, f->name) != 0) {
      pp_free(cb);
      return wk_out_of_memory(a);
    }
  } else {
    pp_free(c);
  }
  if (need_bucket && (rc = wk_hours_add(a, g->hours, bucket, f->name, cb)) != 0) return rc;
  if (!need_bucket) pp_free(cb);
  if (in) {
    if (wk_sl_add(&in->applied, f->name) != 0) return wk_out_of_memory(a);
    if (!old) {
      rc = advance(a, g, f, in);
      if (rc != 0) return rc;
    }
  }
  return wk_announce_add(a, f->key, g->kind);
}

/* ---- Step 4: G ---- */

static int update_gauges(wk_attempt *a, wk_group *g) {
  worker *w = a->w;
  int rc = wk_gauge_get(a, g->kind, &g->cols, g->base.p ? g->base.p : g->shape, g->base.existed,
                        &g->base.info, &g->gauge);
  if (rc != 0) return rc;
  char why[600];
  /* expiry first: an instance seen again now replaces its expired entry */
  if (wk_gauge_expire(w, g->gauge, why, sizeof why) != 0) {
    wk_gauge_drop(w, g->gauge);
    g->gauge = NULL;
    return wk_out_of_memory(a);
  }
  for (size_t i = 0; i < g->ninst; i++) {
    wk_inst *in = &g->inst[i];
    if (!in->advanced) continue;
    pp_profile *gs = wk_scaled(in->snap, &g->cols, 0, 1, 1);
    if (!gs || wk_gauge_set(w, g->gauge, in->hash, in->id, in->info.seen_ns, gs) != 0) {
      wk_gauge_drop(w, g->gauge);
      g->gauge = NULL;
      return wk_out_of_memory(a);
    }
  }
  if (wk_gauge_apply(w, g->gauge, why, sizeof why) != 0) {
    wk_gauge_drop(w, g->gauge);
    g->gauge = NULL;
    errbuf_set(a->err, a->errlen, "the gauge part of %s: %s", g->base.key, why);
    return WORKER_EENGINE;
  }
  return 0;
}

/* ---- Step 5: the buckets, then the base ---- */

/* The new base: contributions newest first, the old base with its gauge
 * columns zeroed, G; then the app's prune rules. */
static int merge_base(wk_attempt *a, wk_group *g) {
  pp_profile *old = g->base.p;
  g->base.p = NULL;
  int rc = wk_fold(a, g->base.key, g->contrib, g->ncontrib, old, &g->cols, g->gauge, g->shape,
                   &g->base.result);
  g->ncontrib = 0;
  return rc;
}

static double ms_since(int64_t t0) { return (double)(chrono_mono_ns() - t0) / 1e6; }

static void report_written(wk_attempt *a, wk_group *g) {
  worker *w = a->w;
  double ms = ms_since(g->t0);
  size_t nfresh = g->base.fresh.n;
  wk_stat_base_written(w->st, ms / 1000, nfresh, g->base.enclen);
  wk_stat_kind(w->st, WK_K_UPLOADS, g->kind, nfresh);
  wk_stat_kind(w->st, WK_K_BASE_WRITES, g->kind, 1);
  for (size_t i = 0; i < nfresh; i++)
    WK_LOG(w, CORE_LOG_DEBUG, "upload merged", "app", a->app, "kind", kind_name(g), "name",
           g->base.fresh.v[i], NULL);
  char nb[32], sz[32], mss[32];
  snprintf(nb, sizeof nb, "%zu", nfresh);
  snprintf(sz, sizeof sz, "%zu", g->base.enclen);
  snprintf(mss, sizeof mss, "%.1f", ms);
  WK_LOG(w, CORE_LOG_INFO, "base written", "app", a->app, "kind", kind_name(g), "uploads", nb,
         "base_bytes", sz, "merge_ms", mss, NULL);
}

int wk_group_prepare(wk_attempt *a, wk_group *g) {
  g->t0 = chrono_mono_ns();
  wk_base_init(&g->base, a, g->kind);
  int rc = wk_base_load(a, &g->base);
  if (rc == 0) rc = wk_window_fill(a, &g->base);
  if (rc == 0) rc = judge(a, g);
  if (rc != 0) return rc;
  const pp_profile *shape = NULL;
  for (size_t i = 0; i < g->n && !shape; i++)
    if (g->ok[i]) shape = g->ups[i]->p;
  if (!shape) {
    g->idle = 1;
    wk_known_note(a->w, a->app, &g->base);
    wk_base_keep_read(a, &g->base);
    return 0;
  }
  /* the first upload's shape, for an empty base and as the reference of a
   * rebuild of G: its profile may move into a state below */
  if (!(g->shape = wk_scaled(shape, &g->cols, 0, 0, 0))) return wk_out_of_memory(a);
  if (!(g->hours = wk_hours_new(g->kind))) return wk_out_of_memory(a);
  g->contrib = calloc(g->n, sizeof *g->contrib);
  rc = g->contrib ? load_states(a, g) : wk_out_of_memory(a);
  for (size_t i = 0; rc == 0 && i < g->n; i++)
    if (g->ok[i]) rc = one_upload(a, g, g->ups[i]);
  if (rc == 0 && g->cols.has_gauges) rc = update_gauges(a, g);
  return rc;
}

/* Another writer: G may not be what the stores say any more. */
static void conflict(wk_attempt *a, wk_group *g) {
  if (!g->gauge) return;
  wk_gauge_drop(a->w, g->gauge);
  g->gauge = NULL;
}

int wk_group_write_buckets(wk_attempt *a, wk_group *g) {
  if (g->idle || !g->hours) return 0;
  int rc = wk_hours_write(a, g->hours, &g->cols, g->gauge, g->shape);
  if (rc == 1) conflict(a, g);
  return rc;
}

int wk_group_write_base(wk_attempt *a, wk_group *g) {
  if (g->idle) return 0;
  int write = g->base.fresh.n > 0 || (g->gauge && wk_gauge_dirty(g->gauge)) ||
              wk_base_unwritten(&g->base);
  if (!write) {
    wk_known_note(a->w, a->app, &g->base);
    wk_base_keep_read(a, &g->base);
    return 0;
  }
  int rc = merge_base(a, g);
  if (rc == 0) rc = wk_base_encode(a, &g->base);
  if (rc == 0) rc = wk_base_write(a, &g->base);
  if (rc == 0) {
    if (g->gauge) wk_gauge_written(g->gauge, &g->base.info);
    report_written(a, g);
  }
  if (rc == 1) conflict(a, g);
  return rc;
}

/* ---- Step 6: the instance states ---- */

static int write_state(wk_attempt *a, wk_group *g, wk_inst *in) {
  worker *w = a->w;
  wk_strlist next = {0};
  int rc = wk_next_names(a, &in->record, &in->applied, &next);
  if (rc != 0) return rc;
  pp_profile *p = in->snap;
  pp_remove_comments_with_prefix(p, WORKER_COMMENT_PREFIX);
  int prc = state_info_write(p, &in->info);
  if (prc == PP_OK) prc = wk_record_write(p, &next);
  wk_sl_free(&next);
  uint8_t *enc = NULL;
  size_t len = 0;
  char why[600];
  if (prc != PP_OK) return wk_out_of_memory(a);
  prc = pp_encode(p, w->cfg.gzip_level, &enc, &len, why, sizeof why);
  if (prc != PP_OK) {
    errbuf_set(a->err, a->errlen, "encoding %s: %s", in->state.key, why);
    return wk_from_pp(prc);
  }
  int brc = blob_put(w->cfg.blob, in->state.key, enc, len, a->err, a->errlen);
  free(enc);
  if (brc != 0) return wk_store_failed(a, brc);
  wk_stat_kind(w->st, WK_K_STATE_WRITES, g->kind, 1);
  WK_LOG(w, CORE_LOG_DEBUG, "instance state written", "app", a->app, "kind", kind_name(g),
         "instance", in->id, "key", in->state.key, NULL);
  return 0;
}

int wk_group_write_states(wk_attempt *a, wk_group *g) {
  for (size_t i = 0; i < g->ninst; i++) {
    wk_inst *in = &g->inst[i];
    if (!in->applied.n || !in->snap) continue;
    int rc = write_state(a, g, in);
    if (rc != 0) return rc;
  }
  return 0;
}
