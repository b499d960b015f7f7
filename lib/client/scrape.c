/*
 * scrape.c — one scrape round: fetch from many targets at once, check,
 * upload, on a single curl multi handle.
 *
 * Each chosen target is a small state machine driven by the multi loop:
 *
 * (The round's kind decides the URL, the check and the upload's query: see
 * scrape.h.)
 *
 *   FETCH ──ok──> UPLOAD ──201──> done (uploaded)
 *     │             │ transient failure, attempts left
 *     │             v
 *     │           WAIT ──backoff elapsed──> UPLOAD
 *     └──failure/garbage/not CPU──> done
 *
 * Nothing blocks on one target: every transfer has its own timeout, checks
 * run when an answer is complete (decoding a CPU profile takes
 * milliseconds), and retry delays are timers of the loop, not sleeps. The
 * loop wakes at least every 100 ms to poll the stop callback.
 */
#include "scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chrono.h"
#include "errbuf.h"
#include "ingest.h"
#include "layout.h"
#include "pprof.h"

enum { ST_FETCH, ST_UPLOAD, ST_WAIT, ST_DONE };

typedef struct xfer {
  int state;
  char *address;
  char *url;
  CURL *fetch;
  char errbuf[CURL_ERROR_SIZE];
  uint8_t *body;
  size_t len, cap, max;
  int too_large;
  int64_t started_ns;
  double fetch_seconds;
  scrape_outcome outcome;
  long status;
  char message[512];
  client_req *up;
  int attempts;
  int64_t retry_at_ns;
  int uploaded;
  char key[512];
  char upload_error[640];
} xfer;

typedef struct round {
  const scrape_config *cfg;
  CURLM *multi;
  xfer *x;
  size_t n, remaining;
  scrape_result_fn on_result;
  void *ud;
  int stopping;
  int64_t drain_deadline_ns;
  uint64_t rng;
  int max_attempts;
} round;

static const char *const outcome_names[SCRAPE_OUTCOME_COUNT] = {
    "ok",         "connect_error", "timeout", "network_error", "http_error",
    "too_large",  "invalid",       "not_cpu", "aborted",       "wrong_kind"};

/* The round's kind: NULL for CPU, else the snapshot kind's name. */
static const char *snapshot_kind(const scrape_config *cfg) {
  return cfg->kind && *cfg->kind && strcmp(cfg->kind, "cpu") != 0 ? cfg->kind : NULL;
}

const char *scrape_outcome_name(scrape_outcome o) {
  return (unsigned)o < SCRAPE_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

static double rnd_unit(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return (double)(x >> 11) / (double)(1ull << 53);
}

static size_t on_fetch_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  xfer *x = ud;
  size_t n = size * nmemb;
  if (n > x->max - x->len) {
    x->too_large = 1;
    x->len += n < x->max - x->len ? n : x->max - x->len;
    return 0; /* abort this transfer only */
  }
  if (x->len + n > x->cap) {
    size_t cap = x->cap ? x->cap : 64 * 1024;
    while (cap < x->len + n) cap *= 2;
    if (cap > x->max) cap = x->max;
    uint8_t *nb = realloc(x->body, cap);
    if (!nb) return 0;
    x->body = nb;
    x->cap = cap;
  }
  memcpy(x->body + x->len, ptr, n);
  x->len += n;
  return n;
}

/* Reports x and releases everything it holds. */
static void finish(round *rd, xfer *x) {
  if (x->fetch) {
    curl_multi_remove_handle(rd->multi, x->fetch);
    curl_easy_cleanup(x->fetch);
    x->fetch = NULL;
  }
  if (x->up) {
    curl_multi_remove_handle(rd->multi, client_req_easy(x->up));
    client_req_free(x->up);
    x->up = NULL;
  }
  if (rd->on_result) {
    scrape_result r = {
        .kind = snapshot_kind(rd->cfg) ? rd->cfg->kind : "cpu",
        .address = x->address,
        .url = x->url,
        .outcome = x->outcome,
        .http_status = x->status,
        .bytes = x->len,
        .fetch_seconds = x->fetch_seconds,
        .message = x->outcome == SCRAPE_OK ? "" : x->message,
        .upload_attempts = x->attempts,
        .uploaded = x->uploaded,
        .key = x->uploaded ? x->key : "",
        .upload_error = x->uploaded ? "" : x->upload_error,
    };
    rd->on_result(rd->ud, &r);
  }
  free(x->body);
  x->body = NULL;
  x->state = ST_DONE;
  rd->remaining--;
}

static void start_upload(round *rd, xfer *x) {
  char err[512];
  /* A snapshot belongs to its target: the address is its instance. */
  client_upload_query q = {.kind = snapshot_kind(rd->cfg), .instance = x->address, .scraper = 1};
  x->up = client_req_upload_with(&rd->cfg->api, rd->cfg->app, q.kind ? &q : NULL, x->body, x->len, err, sizeof err);
  if (!x->up) {
    snprintf(x->upload_error, sizeof x->upload_error, "%s", err);
    finish(rd, x);
    return;
  }
  x->attempts++;
  curl_easy_setopt(client_req_easy(x->up), CURLOPT_PRIVATE, x);
  if (curl_multi_add_handle(rd->multi, client_req_easy(x->up)) != CURLM_OK) {
    snprintf(x->upload_error, sizeof x->upload_error, "%s: cannot start the transfer",
             client_req_what(x->up));
    finish(rd, x);
    return;
  }
  x->state = ST_UPLOAD;
}

/* First line of an error body, printable, for the log. */
static void body_excerpt(const xfer *x, char *out, size_t outlen) {
  size_t n = 0;
  while (n < x->len && n < 160 && n + 1 < outlen && x->body[n] != '\n') {
    unsigned char ch = x->body[n];
    out[n] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
    n++;
  }
  out[n] = '\0';
}

static void fetch_done(round *rd, xfer *x, CURLcode cc) {
  x->fetch_seconds = (double)(chrono_mono_ns() - x->started_ns) / 1e9;
  curl_easy_getinfo(x->fetch, CURLINFO_RESPONSE_CODE, &x->status);
  curl_multi_remove_handle(rd->multi, x->fetch);
  const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
  if (cc != CURLE_OK) {
    if (x->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
      x->outcome = SCRAPE_TOO_LARGE;
      snprintf(x->message, sizeof x->message, "answer larger than the limit of %zu bytes",
               x->max);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
      x->outcome = SCRAPE_CONNECT_ERROR;
      snprintf(x->message, sizeof x->message, "cannot connect: %s", detail);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
      x->outcome = SCRAPE_TIMEOUT;
      snprintf(x->message, sizeof x->message, "timed out: %s", detail);
    } else {
      x->outcome = SCRAPE_NETWORK_ERROR;
      snprintf(x->message, sizeof x->message, "transfer failed: %s", detail);
    }
    finish(rd, x);
    return;
  }
  if (x->status != 200) {
    char ex[200];
    body_excerpt(x, ex, sizeof ex);
    x->outcome = SCRAPE_HTTP_ERROR;
    snprintf(x->message, sizeof x->message, "HTTP status %ld%s%s", x->status, ex[0] ? ": " : "",
             ex);
    finish(rd, x);
    return;
  }
  pp_limits lim = {.max_input_bytes = x->max, .max_decoded_bytes = 0};
  pp_profile *p = NULL;
  char perr[400];
  int rc = pp_decode(x->body ? x->body : (const uint8_t *)"", x->len, &lim, &p, perr, sizeof perr);
  if (rc != PP_OK) {
    x->outcome = SCRAPE_INVALID;
    snprintf(x->message, sizeof x->message, "not a profile: %s", perr);
    finish(rd, x);
    return;
  }
  const char *kind = snapshot_kind(rd->cfg);
  if (!kind) {
    rc = pp_check_cpu(p, perr, sizeof perr);
  } else {
    ingest_kind hint = INGEST_KIND_NONE;
    ingest_kind_info ki;
    rc = ingest_kind_parse(kind, &hint) != INGEST_OK ? -1 : ingest_kind_detect(p, hint, &ki, perr, sizeof perr);
    if (rc != 0 && hint == INGEST_KIND_NONE) snprintf(perr, sizeof perr, "unknown kind \"%s\"", kind);
  }
  pp_free(p);
  if (rc != PP_OK) {
    x->outcome = kind ? SCRAPE_WRONG_KIND : SCRAPE_NOT_CPU;
    snprintf(x->message, sizeof x->message, "%s", perr);
    finish(rd, x);
    return;
  }
  x->outcome = SCRAPE_OK;
  curl_easy_cleanup(x->fetch);
  x->fetch = NULL;
  start_upload(rd, x);
}

static void upload_done(round *rd, xfer *x, CURLcode cc) {
  long status = 0;
  int transient = 0;
  char err[512];
  curl_multi_remove_handle(rd->multi, client_req_easy(x->up));
  int rc = client_req_finish(x->up, cc, &status, &transient, err, sizeof err);
  if (rc == CLIENT_OK) {
    snprintf(x->key, sizeof x->key, "%s", client_req_key(x->up));
    x->uploaded = 1;
    finish(rd, x);
    return;
  }
  long retry_after = client_req_retry_after_ms(x->up);
  client_req_free(x->up);
  x->up = NULL;
  if (x->attempts > 1)
    snprintf(x->upload_error, sizeof x->upload_error, "%s (after %d attempts)", err, x->attempts);
  else
    snprintf(x->upload_error, sizeof x->upload_error, "%s", err);
  if (transient && x->attempts < rd->max_attempts) {
    int64_t delay =
        (int64_t)client_retry_delay_ms(&rd->cfg->api, x->attempts, rnd_unit(&rd->rng),
                                       retry_after) * 1000000;
    int64_t at = chrono_mono_ns() + delay;
    if (!rd->stopping || rd->cfg->drain_ms < 0 || at < rd->drain_deadline_ns) {
      x->retry_at_ns = at;
      x->state = ST_WAIT;
      return;
    }
  }
  finish(rd, x);
}

static int start_fetch(round *rd, xfer *x, const scrape_target *t, long seconds,
                       int64_t timeout_ms) {
  x->address = strdup(t->address);
  x->url = snapshot_kind(rd->cfg) ? scrape_target_kind_url(t, rd->cfg->kind) : scrape_target_url(t, seconds);
  x->fetch = curl_easy_init();
  if (!x->address || !x->url || !x->fetch) return CLIENT_ENOMEM;
  x->max = rd->cfg->max_body_bytes ? rd->cfg->max_body_bytes : SCRAPE_DEFAULT_MAX_BODY;
  CURL *e = x->fetch;
  curl_easy_setopt(e, CURLOPT_URL, x->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_USERAGENT, "pgopipe-scraper");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_fetch_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 5000 ? timeout_ms : 5000));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
  x->started_ns = chrono_mono_ns();
  x->state = ST_FETCH;
  if (curl_multi_add_handle(rd->multi, e) != CURLM_OK) return CLIENT_ENOMEM;
  return CLIENT_OK;
}

static void stop_all(round *rd, int64_t now) {
  for (size_t i = 0; i < rd->n; i++) {
    xfer *x = &rd->x[i];
    if (x->state == ST_FETCH) {
      x->fetch_seconds = (double)(now - x->started_ns) / 1e9;
      x->outcome = SCRAPE_ABORTED;
      snprintf(x->message, sizeof x->message, "shutting down");
      finish(rd, x);
    }
  }
}

static void abandon_uploads(round *rd) {
  for (size_t i = 0; i < rd->n; i++) {
    xfer *x = &rd->x[i];
    if (x->state == ST_UPLOAD || x->state == ST_WAIT) {
      size_t l = strlen(x->upload_error);
      snprintf(x->upload_error + l, sizeof x->upload_error - l, "%s%s", l ? "; " : "",
               "upload abandoned: shutdown drain time is over");
      finish(rd, x);
    }
  }
}

int scrape_round(const scrape_config *cfg, const scrape_target *const *targets, size_t n,
                 scrape_result_fn on_result, scrape_stop_fn should_stop, void *ud, char *err,
                 size_t errlen) {
  if (!cfg || !cfg->app || !layout_app_valid(cfg->app)) {
    errbuf_set(err, errlen, "invalid app name \"%s\"", cfg && cfg->app ? cfg->app : "");
    return CLIENT_EINVAL;
  }
  if (n == 0) return CLIENT_OK;
  int64_t dur = cfg->duration_ms > 0 ? cfg->duration_ms : 1000;
  long seconds = (long)((dur + 999) / 1000);
  int64_t timeout_ms = (snapshot_kind(cfg) ? 0 : dur) + (cfg->margin_ms > 0 ? cfg->margin_ms : SCRAPE_DEFAULT_MARGIN_MS);
  round rd = {.cfg = cfg, .n = n, .on_result = on_result, .ud = ud};
  rd.max_attempts = cfg->api.upload_attempts > 0 ? cfg->api.upload_attempts
                                                 : CLIENT_DEFAULT_ATTEMPTS;
  rd.rng = (uint64_t)chrono_mono_ns() ^ (uint64_t)(uintptr_t)&rd;
  rd.x = calloc(n, sizeof *rd.x);
  rd.multi = curl_multi_init();
  int rc = CLIENT_OK;
  if (!rd.x || !rd.multi) {
    errbuf_set(err, errlen, "out of memory starting a scrape round");
    rc = CLIENT_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    rd.remaining++;
    if (start_fetch(&rd, &rd.x[i], targets[i], seconds, timeout_ms) != CLIENT_OK) {
      rd.x[i].outcome = SCRAPE_NETWORK_ERROR;
      snprintf(rd.x[i].message, sizeof rd.x[i].message, "cannot start the transfer");
      finish(&rd, &rd.x[i]);
    }
  }
  while (rd.remaining > 0) {
    int running = 0;
    curl_multi_perform(rd.multi, &running);
    CURLMsg *m;
    int q;
    while ((m = curl_multi_info_read(rd.multi, &q))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL *e = m->easy_handle;
      CURLcode cc = m->data.result;
      xfer *x = NULL;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
      if (!x || x->state == ST_DONE) continue;
      if (x->state == ST_FETCH && e == x->fetch)
        fetch_done(&rd, x, cc);
      else if (x->state == ST_UPLOAD && x->up && e == client_req_easy(x->up))
        upload_done(&rd, x, cc);
    }
    int64_t now = chrono_mono_ns();
    if (!rd.stopping && should_stop && should_stop(ud)) {
      rd.stopping = 1;
      rd.drain_deadline_ns =
          now + (cfg->drain_ms > 0 ? cfg->drain_ms : SCRAPE_DEFAULT_DRAIN_MS) * 1000000;
      stop_all(&rd, now);
    }
    if (rd.stopping && cfg->drain_ms >= 0 && now >= rd.drain_deadline_ns) abandon_uploads(&rd);
    int64_t wait_ns = 100 * 1000000;
    for (size_t i = 0; i < n; i++) {
      xfer *x = &rd.x[i];
      if (x->state != ST_WAIT) continue;
      if (now >= x->retry_at_ns) {
        start_upload(&rd, x);
      } else if (x->retry_at_ns - now < wait_ns) {
        wait_ns = x->retry_at_ns - now;
      }
    }
    if (rd.remaining == 0) break;
    int wait_ms = (int)(wait_ns / 1000000);
    curl_multi_poll(rd.multi, NULL, 0, wait_ms > 0 ? wait_ms : 1, NULL);
  }
out:
  if (rd.x) {
    for (size_t i = 0; i < n; i++) {
      xfer *x = &rd.x[i];
      if (x->fetch) {
        if (rd.multi) curl_multi_remove_handle(rd.multi, x->fetch);
        curl_easy_cleanup(x->fetch);
      }
      if (x->up) {
        if (rd.multi) curl_multi_remove_handle(rd.multi, client_req_easy(x->up));
        client_req_free(x->up);
      }
      free(x->body);
      free(x->address);
      free(x->url);
    }
  }
  free(rd.x);
  if (rd.multi) curl_multi_cleanup(rd.multi);
  return rc;
}
