/*
 * receiver.c — a small test HTTP server speaking the pgopipe server API, for
 * the client and scraper tests' fault injection. It is a real HTTP server
 * (libmicrohttpd) that stores uploads as files, but no pgopipe-server: it
 * does no profile validation and no merging. What it adds is control the
 * real server cannot give a test:
 *   --fail-posts N    answer the first N uploads with 503 {"message","code"}
 *   --fail-status S   ... with status S instead (e.g. 500, 429, 400)
 *   --delay-ms MS     wait MS before answering every API request
 *   --token T         require "Authorization: Bearer T" (401 otherwise)
 *   --retry-after S   send "Retry-After: S" with the injected failures
 * and counters at GET /stats ({"posts":N,"stored":M}) so tests can assert
 * how many attempts a client made.
 *
 * It also plays the scraper's bad targets: GET /debug/status/{code} answers
 * that status, GET /debug/garbage answers 200 with bytes that are no
 * profile, and --hang-port-file F opens a second port that accepts TCP
 * connections (kernel backlog) but never answers: a target that hangs.
 *
 *   receiver --dir D --port-file F [options]
 *
 * Layout under D is the contract's blob layout: {app}/staging/{n}-{hex} for
 * uploads, {app}/default.pgo served by GET /api/profile/{app}. Runs until
 * SIGTERM/SIGINT.
 */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (64u << 20)

static const char *g_dir;
static const char *g_token;
static int g_fail_posts;
static int g_fail_status = 503;
static int g_delay_ms;
static const char *g_retry_after;
static unsigned g_posts, g_stored;
static volatile sig_atomic_t g_stop;

struct conn {
  char *buf;
  size_t len, cap;
  int too_big;
};

static int valid_app(const char *a) {
  size_t n = strlen(a);
  if (n < 1 || n > 63) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9') || a[i] == '-')) return 0;
  return 1;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             const char *body) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, const char *msg) {
  char b[512];
  snprintf(b, sizeof b, "{\"message\":\"%s\",\"code\":%u}", msg, status);
  return reply(c, status, "application/json", b);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
  (void)cls;
  (void)version;
  struct conn *cn = *con_cls;
  if (!cn) {
    cn = calloc(1, sizeof *cn);
    if (!cn) return MHD_NO;
    *con_cls = cn;
    return MHD_YES;
  }
  if (*data_size) {
    if (cn->len + *data_size > MAX_BODY) {
      cn->too_big = 1;
    } else {
      if (cn->len + *data_size > cn->cap) {
        size_t cap = cn->cap ? cn->cap : 65536;
        while (cap < cn->len + *data_size) cap *= 2;
        char *nb = realloc(cn->buf, cap);
        if (!nb) return MHD_NO;
        cn->buf = nb;
        cn->cap = cap;
      }
      memcpy(cn->buf + cn->len, data, *data_size);
      cn->len += *data_size;
    }
    *data_size = 0;
    return MHD_YES;
  }
  if (!strncmp(url, "/debug/status/", 14)) {
    int code = atoi(url + 14);
    return fail(c, code >= 200 && code < 600 ? (unsigned)code : 500, "status asked for");
  }
  if (!strcmp(url, "/debug/garbage")) {
    static const char junk[] = "this is not a profile\n\x01\x02\xff garbage garbage garbage\n";
    return reply(c, 200, "application/octet-stream", junk);
  }
  if (!strcmp(url, "/stats")) {
    char b[128];
    snprintf(b, sizeof b, "{\"posts\":%u,\"stored\":%u}", __atomic_load_n(&g_posts, __ATOMIC_SEQ_CST),
             __atomic_load_n(&g_stored, __ATOMIC_SEQ_CST));
    return reply(c, 200, "application/json", b);
  }
  /* counted on arrival, before any delay, so a test can see a request in flight */
  unsigned nth = !strcmp(method, "POST") ? __atomic_add_fetch(&g_posts, 1, __ATOMIC_SEQ_CST) : 0;
  if (g_delay_ms) usleep((useconds_t)g_delay_ms * 1000);
  if (g_token) {
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char want[512];
    snprintf(want, sizeof want, "Bearer %s", g_token);
    if (!auth || strcmp(auth, want) != 0) return fail(c, 401, "missing or wrong bearer token");
  }
  const char *pre = "/api/profile";
  if (strncmp(url, pre, strlen(pre)) != 0) return fail(c, 404, "no such route");
  const char *rest = url + strlen(pre);
  char path[4096];
  if (!*rest || !strcmp(rest, "/")) {
    if (strcmp(method, "GET")) return fail(c, 405, "method not allowed");
    DIR *d = opendir(g_dir);
    if (!d) return fail(c, 500, "cannot read the store");
    size_t cap = 65536, len = 0;
    char *b = malloc(cap);
    if (!b) {
      closedir(d);
      return MHD_NO;
    }
    len += (size_t)snprintf(b, cap, "{\"profiles\":[");
    struct dirent *e;
    int first = 1;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      struct stat st;
      snprintf(path, sizeof path, "%s/%s/default.pgo", g_dir, e->d_name);
      if (stat(path, &st) != 0) continue;
      char ts[64];
      struct tm tm;
      gmtime_r(&st.st_mtime, &tm);
      strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
      if (len + 512 > cap) break;
      len += (size_t)snprintf(b + len, cap - len, "%s{\"key\":\"%s\",\"size\":%lld,\"lastModified\":\"%s\"}",
                              first ? "" : ",", e->d_name, (long long)st.st_size, ts);
      first = 0;
    }
    closedir(d);
    snprintf(b + len, cap - len, "]}");
    enum MHD_Result ret = reply(c, 200, "application/json", b);
    free(b);
    return ret;
  }
  const char *app = rest + 1;
  if (!valid_app(app)) return fail(c, 400, "invalid app name");
  if (!strcmp(method, "POST")) {
    if ((int)nth <= g_fail_posts) {
      char b[128];
      snprintf(b, sizeof b, "{\"message\":\"injected failure\",\"code\":%d}", g_fail_status);
      struct MHD_Response *rs =
          MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_MUST_COPY);
      MHD_add_response_header(rs, "Content-Type", "application/json");
      if (g_retry_after) MHD_add_response_header(rs, "Retry-After", g_retry_after);
      enum MHD_Result ret = MHD_queue_response(c, (unsigned)g_fail_status, rs);
      MHD_destroy_response(rs);
      return ret;
    }
    if (cn->too_big) return fail(c, 413, "body over the limit");
    snprintf(path, sizeof path, "%s/%s", g_dir, app);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/staging", g_dir, app);
    mkdir(path, 0755);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char key[256];
    snprintf(key, sizeof key, "%s/staging/%lld-%08x", app,
             (long long)ts.tv_sec * 1000000000 + ts.tv_nsec, (unsigned)rand());
    snprintf(path, sizeof path, "%s/%s", g_dir, key);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(cn->buf ? cn->buf : "", 1, cn->len, f) != cn->len) {
      if (f) fclose(f);
      return fail(c, 500, "cannot store");
    }
    fclose(f);
    __atomic_add_fetch(&g_stored, 1, __ATOMIC_SEQ_CST);
    char b[300];
    snprintf(b, sizeof b, "{\"key\":\"%s\"}", key);
    return reply(c, 201, "application/json", b);
  }
  snprintf(path, sizeof path, "%s/%s/default.pgo", g_dir, app);
  if (!strcmp(method, "DELETE")) {
    if (unlink(path) != 0) return fail(c, 404, "no profile for this app");
    return reply(c, 200, "application/json", "{}");
  }
  if (strcmp(method, "GET") != 0) return fail(c, 405, "method not allowed");
  struct stat st;
  FILE *f = fopen(path, "rb");
  if (!f || fstat(fileno(f), &st) != 0) {
    if (f) fclose(f);
    return fail(c, 404, "no profile for this app");
  }
  char etag[64];
  snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
           (unsigned long long)st.st_mtime);
  const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
  if (inm && !strcmp(inm, etag)) {
    fclose(f);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "ETag", etag);
    enum MHD_Result ret = MHD_queue_response(c, 304, r);
    MHD_destroy_response(r);
    return ret;
  }
  struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fileno(f));
  MHD_add_response_header(r, "ETag", etag);
  MHD_add_response_header(r, "Content-Type", "application/octet-stream");
  enum MHD_Result ret = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r); /* closes the fd when done */
  return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  struct conn *cn = *con_cls;
  if (cn) {
    free(cn->buf);
    free(cn);
  }
  *con_cls = NULL;
}

static int write_port(const char *file, unsigned port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", file);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    perror(tmp);
    return -1;
  }
  fprintf(f, "%u\n", port);
  fclose(f);
  return rename(tmp, file);
}

/* A listening socket nobody accepts on: connections complete in the
 * kernel backlog and requests are never answered. */
static int write_hang_port(const char *file) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(0x7f000001);
  socklen_t sl = sizeof sa;
  if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 64) != 0 ||
      getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
    perror("receiver: hang socket");
    return -1;
  }
  return write_port(file, ntohs(sa.sin_port));
}

static void on_sig(int s) {
  (void)s;
  g_stop = 1;
}

int main(int argc, char **argv) {
  const char *port_file = NULL, *hang_file = NULL;
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "receiver: %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--dir")) g_dir = v;
    else if (!strcmp(a, "--port-file")) port_file = v;
    else if (!strcmp(a, "--token")) g_token = v;
    else if (!strcmp(a, "--fail-posts")) g_fail_posts = atoi(v);
    else if (!strcmp(a, "--fail-status")) g_fail_status = atoi(v);
    else if (!strcmp(a, "--delay-ms")) g_delay_ms = atoi(v);
    else if (!strcmp(a, "--hang-port-file")) hang_file = v;
    else if (!strcmp(a, "--retry-after")) g_retry_after = v;
    else {
      fprintf(stderr, "receiver: unknown flag %s\n", a);
      return 2;
    }
  }
  if (!g_dir || !port_file) {
    fprintf(stderr, "usage: receiver --dir D --port-file F [--token T] [--fail-posts N] "
                    "[--fail-status S] [--delay-ms MS] [--retry-after S]\n");
    return 2;
  }
  signal(SIGTERM, on_sig);
  signal(SIGINT, on_sig);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(0x7f000001);
  sa.sin_port = 0;
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handler,
      NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "receiver: cannot start the HTTP server\n");
    return 1;
  }
  if (hang_file && write_hang_port(hang_file) != 0) return 1;
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (write_port(port_file, (unsigned)di->port) != 0) return 1;
  while (!g_stop) usleep(20000);
  MHD_stop_daemon(d);
  return 0;
}
