/*
 * client.h — the HTTP client of the pgopipe server API (libcurl).
 *
 * Both client programs talk to pgopipe-server through this module: the
 * `pgopipe` CLI verbs (upload, download, list, delete, clean) and
 * pgopipe-scraper (uploads of scraped profiles). It knows the routes of the
 * contract (POST/GET/DELETE /api/profile/{app} with the read parameters,
 * GET /api/profile), sends the
 * bearer token, turns the server's JSON error body {"message","code"} into
 * the error message, and retries uploads that failed for a transient reason
 * (no connection, timeout, 5xx, 429) with capped exponential backoff.
 *
 * Two ways to use it:
 *   - blocking calls (client_upload, client_download, client_list,
 *     client_delete) on a client_t handle whose curl share handle keeps the
 *     connection cache, so consecutive calls reuse the connection;
 *   - request objects (client_req_*) for callers that drive many transfers
 *     in one curl multi handle, as the scraper does. The blocking upload is
 *     built from the same pieces, so both interpret answers identically.
 *
 * App names are checked with layout_app_valid (lib/core) before anything is
 * sent. Errors: functions return CLIENT_OK (0) or a negative CLIENT_E* code
 * and fill err with one line naming the method and URL, e.g.
 *   GET http://127.0.0.1:8080/api/profile/demo: 404: no profile for app "demo"
 *   POST http://127.0.0.1:9/api/profile/demo: cannot connect: Connection refused
 *
 * Thread safety: a client_t is used by one thread at a time. Call
 * curl_global_init once in main before using this module from threads.
 */
#ifndef PGOPIPE_CLIENT_H
#define PGOPIPE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  CLIENT_OK = 0,
  CLIENT_ENOMEM = -1,  /* allocation failed */
  CLIENT_EINVAL = -2,  /* bad argument (app name, URL) */
  CLIENT_ENET = -3,    /* no answer: connection refused, DNS, timeout, reset */
  CLIENT_EHTTP = -4,   /* the server answered with an error status */
  CLIENT_EPROTO = -5,  /* the answer could not be understood (bad JSON, too big) */
  CLIENT_EIO = -6      /* local file error (download target, upload source) */
};

/* Defaults for zero fields of client_config. */
#define CLIENT_DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define CLIENT_DEFAULT_TIMEOUT_MS 60000L
#define CLIENT_DEFAULT_ATTEMPTS 4
#define CLIENT_DEFAULT_BACKOFF_MS 250L
#define CLIENT_DEFAULT_BACKOFF_MAX_MS 5000L
#define CLIENT_DEFAULT_MAX_RESPONSE (1u << 20) /* JSON answers and error bodies */

typedef struct client_config {
  const char *api_url;      /* e.g. "http://localhost:8080"; a trailing '/' is ignored */
  const char *token;        /* bearer token, or NULL/"" for none */
  long connect_timeout_ms;  /* 0 = default */
  /* Whole-request bound for uploads, list and delete (0 = default). Downloads
   * are bounded by connect timeout + a stall limit of the same length
   * instead, so a large base profile on a slow link is not cut off. */
  long timeout_ms;
  int upload_attempts;      /* total attempts for an upload, >= 1 (0 = default) */
  long backoff_ms;          /* first retry delay (0 = default) */
  long backoff_max_ms;      /* retry delay cap (0 = default) */
  size_t max_response_bytes; /* bound on JSON/error bodies read into memory (0 = default) */
} client_config;

/* Returns a short static name of a CLIENT_E* code ("network error", ...). */
const char *client_strerror(int code);

/*
 * Delay before retry number `attempt` (1 = first retry): backoff_ms doubled
 * per attempt, capped at backoff_max_ms, then scaled by a random factor in
 * [0.5, 1] so that many clients do not retry in lockstep. `rnd` is a caller
 * supplied random value in [0, 1] (tests pass fixed values).
 */
long client_backoff_ms(const client_config *cfg, int attempt, double rnd);

/* The wait before retry `attempt`: client_backoff_ms, or the server's
 * Retry-After (ms, 0 = none) when longer, capped at backoff_max_ms. */
long client_retry_delay_ms(const client_config *cfg, int attempt, double rnd, long retry_after_ms);

/* ---- Request objects (for curl multi users) ---- */

typedef struct client_req client_req;

/*
 * Builds an upload request: POST {api_url}/api/profile/{app} with body
 * (len bytes; NOT copied — it must outlive the request). The request owns a
 * curl easy handle (client_req_easy) ready to be added to a multi handle or
 * performed. Returns NULL with err filled on a bad app name or ENOMEM.
 * Free with client_req_free (after removing the handle from any multi).
 */
client_req *client_req_upload(const client_config *cfg, const char *app,
                              const uint8_t *body, size_t len, char *err, size_t errlen);

/* What an upload's query adds on the native route (all optional): the
 * profile's kind (?kind=), the instance a cumulative snapshot belongs to
 * (?instance=), and that the scraper sent it (?source=scraper). */
typedef struct client_upload_query {
  const char *kind;     /* NULL or "" = none: a CPU profile, as autopgo sends */
  const char *instance; /* NULL or "" = none */
  int scraper;          /* 1: ?source=scraper */
} client_upload_query;

/* client_req_upload with a query (q NULL = none); the values are
 * URL-escaped. */
client_req *client_req_upload_with(const client_config *cfg, const char *app, const client_upload_query *q,
                                    const uint8_t *body, size_t len, char *err, size_t errlen);

/* The request's easy handle (owned by the request). */
CURL *client_req_easy(client_req *r);

/* "POST http://host/api/profile/app": the request line used in messages. */
const char *client_req_what(const client_req *r);

/*
 * Interprets a finished transfer whose curl result was cc. Returns
 * CLIENT_OK (201; the stored key is then available from client_req_key),
 * or a negative code with err filled. *transient (may be NULL) is set to 1
 * when trying again later may succeed (no connection, timeout, 5xx, 429),
 * 0 otherwise (e.g. 400, 401, 413, 422). *status gets the HTTP status (0
 * when none). A request may be finished only once.
 */
int client_req_finish(client_req *r, CURLcode cc, long *status, int *transient,
                      char *err, size_t errlen);

/* The server's Retry-After of a finished request in ms (seconds form only;
 * 0 when absent). Retries wait max(backoff, this), capped at backoff_max_ms. */
long client_req_retry_after_ms(const client_req *r);

/* Key returned by the server for a successful upload ("" otherwise). */
const char *client_req_key(const client_req *r);

/* Frees the request and its easy handle; NULL is fine. */
void client_req_free(client_req *r);

/* ---- Blocking calls ---- */

typedef struct client client_t;

/*
 * Creates a client for cfg (copied; strings duplicated). Returns NULL with
 * err filled when the URL is empty or on ENOMEM. Free with client_free.
 */
client_t *client_new(const client_config *cfg, char *err, size_t errlen);
void client_free(client_t *c);

/*
 * Uploads body to app, retrying transient failures up to upload_attempts
 * times with client_backoff_ms delays (longer when the server sends
 * Retry-After, up to backoff_max_ms). On success copies the stored key
 * into key (may be NULL). *attempts (may be NULL) receives the number of
 * attempts made. The error message of the last attempt is reported, with
 * "(after N attempts)" when retried.
 */
int client_upload(client_t *c, const char *app, const uint8_t *body, size_t len,
                  char *key, size_t keylen, int *attempts, char *err, size_t errlen);

/* client_upload with a query (q NULL = none). */
int client_upload_with(client_t *c, const char *app, const client_upload_query *q, const uint8_t *body, size_t len,
                        char *key, size_t keylen, int *attempts, char *err, size_t errlen);

/* Progress callback for downloads: bytes received so far and the total
 * (0 when the server did not say). Called at least once per received chunk. */
typedef void (*client_progress_fn)(void *ud, uint64_t now, uint64_t total);

typedef struct client_download_opts {
  const char *if_none_match;  /* ETag to send in If-None-Match, or NULL */
  client_progress_fn progress; /* may be NULL */
  void *progress_ud;
  /* The read's query parameters (contract, "Reads"), sent as given; NULL =
   * not sent (the server's default: the cpu base as stored). */
  const char *kind;   /* ?kind=  (cpu, heap, ...) */
  const char *format; /* ?format= (pprof, pgo, preprofile, folded, ...) */
  const char *keep;   /* ?keep=  (format=pgo) */
  const char *from;   /* ?from= and ?to=: a time range (RFC 3339 or Unix seconds; */
  const char *to;     /* the server rounds both down to the hour) */
} client_download_opts;

typedef struct client_download_result {
  int not_modified;  /* 1 when the server answered 304 (the output untouched) */
  uint64_t bytes;    /* body bytes written (after any Content-Encoding is undone) */
  char etag[128];    /* ETag header of the answer, "" when none */
  char path[256];    /* the file written (out_path, or the name the server proposed) */
} client_download_result;

/*
 * Downloads a base profile of app into out_path, streamed: the body goes
 * to a temporary file next to out_path (same directory) which is flushed,
 * fsync'd and renamed over out_path only after a complete 200 answer, so
 * out_path is never left half-written. out_path "-" writes to stdout
 * instead. out_path NULL: the file name the server proposes in
 * Content-Disposition (a plain name of letters, digits, '.', '-' and '_'
 * not starting with '.'), in the current directory; "default.pgo" when it
 * proposes none or anything else. A body the server sent gzip-encoded
 * (Content-Encoding, text formats) is written decoded. opts and res may be
 * NULL. 404 and other errors leave the output as it was and give the
 * server's message.
 */
int client_download(client_t *c, const char *app, const char *out_path,
                    const client_download_opts *opts, client_download_result *res,
                    char *err, size_t errlen);

/* The hours of history a server keeps ("history" in GET /api/profile):
 * from the start of the first hour to the end of the last, RFC 3339 strings
 * as sent; all empty (hours 0) when it keeps none or does not say. */
typedef struct client_span {
  char from[40], to[40];
  int64_t hours; /* hour buckets held (per kind; 0 for an app as a whole) */
} client_span;

/* One base of an app in GET /api/profile ("kinds"). */
typedef struct client_base {
  char kind[16];            /* "cpu", "heap", ... */
  uint64_t size;            /* bytes */
  char *last_modified;      /* RFC 3339 string as sent by the server */
  int64_t last_modified_ms; /* parsed; -1 when it could not be */
  client_span history;      /* the kind's hours of history */
} client_base;

/* One app from GET /api/profile. */
typedef struct client_profile {
  char *app;              /* the "key" field: the application name */
  uint64_t size;          /* bytes (of the app's bases together) */
  char *last_modified;    /* RFC 3339 string as sent by the server (the newest base) */
  int64_t last_modified_ms; /* parsed (chrono_parse_rfc3339); -1 when it could not be */
  client_base *kinds;     /* the app's bases, as listed; a server that lists none
                             (autopgo) gives one "cpu" base with the fields above */
  size_t nkinds;
  client_span history;    /* the app's hours of history (any kind) */
} client_profile;

/*
 * Lists merged profiles. *out is a malloc'd array of *n entries owned by
 * the caller (free with client_profiles_free).
 */
int client_list(client_t *c, client_profile **out, size_t *n, char *err, size_t errlen);
void client_profiles_free(client_profile *p, size_t n);

/* Deletes app's base profile (DELETE /api/profile/{app}). */
int client_delete(client_t *c, const char *app, long *status, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
