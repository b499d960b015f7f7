/*
 * svc_util.c — parsing, time, randomness, token and signal helpers shared by
 * every daemon (see svc_util.h). Everything here is small and dependency-free
 * so that tests can reach each rule directly.
 */
#include "svc_util.h"

#include "pgopipe_version.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

const char *svc_version(void) { return PGOPIPE_VERSION_STRING; }

static void seterr(char *err, size_t errlen, const char *fmt, const char *arg) {
  if (err && errlen) snprintf(err, errlen, fmt, arg);
}

/* Reads a run of decimal digits into *v, refusing overflow. Returns the
 * number of digits read (0 = none or overflow). */
static size_t read_u64(const char *s, uint64_t *v) {
  uint64_t x = 0;
  size_t i = 0;
  while (isdigit((unsigned char)s[i])) {
    unsigned d = (unsigned)(s[i] - '0');
    if (x > (UINT64_MAX - d) / 10) return 0;
    x = x * 10 + d;
    i++;
  }
  *v = x;
  return i;
}

int svc_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen) {
  uint64_t n;
  size_t i;
  uint64_t mult;
  if (!s || !*s) goto bad;
  i = read_u64(s, &n);
  if (i == 0) goto bad;
  if (s[i] == '\0') {
    if (n != 0) goto bad; /* a bare number other than 0 is ambiguous */
    *ms = 0;
    return 0;
  }
  if (strcmp(s + i, "ms") == 0) mult = 1;
  else if (strcmp(s + i, "s") == 0) mult = 1000;
  else if (strcmp(s + i, "m") == 0) mult = 60000;
  else if (strcmp(s + i, "h") == 0) mult = 3600000;
  else goto bad;
  if (n > (uint64_t)INT64_MAX / mult) goto bad;
  *ms = (int64_t)(n * mult);
  return 0;
bad:
  seterr(err, errlen, "bad duration \"%s\": want a whole number with unit ms, s, m or h (e.g. 500ms, 30s, 5m, 24h)",
         s ? s : "");
  return -1;
}

int svc_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen) {
  uint64_t n, mult = 1;
  size_t i;
  if (!s || !*s) goto bad;
  i = read_u64(s, &n);
  if (i == 0) goto bad;
  if (s[i] == '\0') mult = 1;
  else if (strcmp(s + i, "KiB") == 0) mult = 1024;
  else if (strcmp(s + i, "MiB") == 0) mult = 1024 * 1024;
  else if (strcmp(s + i, "GiB") == 0) mult = 1024ull * 1024 * 1024;
  else goto bad;
  if (n > UINT64_MAX / mult) goto bad;
  *bytes = n * mult;
  return 0;
bad:
  seterr(err, errlen, "bad size \"%s\": want a number of bytes (optionally with KiB, MiB or GiB)", s ? s : "");
  return -1;
}

void svc_time_rfc3339(int64_t epoch_ms, int with_ms, char *buf, size_t buflen) {
  time_t secs = (time_t)(epoch_ms / 1000);
  int msec = (int)(epoch_ms % 1000);
  struct tm tm;
  if (msec < 0) { msec += 1000; secs -= 1; }
  gmtime_r(&secs, &tm);
  if (with_ms)
    snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
  else
    snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t svc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t svc_now_ms(void) { return svc_now_ns() / 1000000; }

int64_t svc_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int svc_random_hex(char *out, size_t nbytes) {
  static const char hex[] = "0123456789abcdef";
  unsigned char buf[64];
  size_t done = 0;
  while (done < nbytes) {
    size_t want = nbytes - done < sizeof buf ? nbytes - done : sizeof buf;
    ssize_t got = getrandom(buf, want, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (ssize_t i = 0; i < got; i++) {
      out[2 * (done + (size_t)i)] = hex[buf[i] >> 4];
      out[2 * (done + (size_t)i) + 1] = hex[buf[i] & 15];
    }
    done += (size_t)got;
  }
  out[2 * nbytes] = '\0';
  return 0;
}

int svc_ct_equal(const void *a, size_t alen, const void *b, size_t blen) {
  const volatile unsigned char *x = a, *y = b;
  unsigned char diff = alen != blen;
  /* Walk the expected value's full length whatever the input is. */
  for (size_t i = 0; i < blen; i++) {
    unsigned char xc = i < alen ? x[i] : 0;
    diff |= (unsigned char)(xc ^ y[i]);
  }
  return diff == 0;
}

int svc_load_token(const char *file, const char *env_name, char **token, char *err, size_t errlen) {
  *token = NULL;
  if (file && *file) {
    FILE *f = fopen(file, "rb");
    char buf[4097];
    size_t n;
    if (!f) {
      if (err) snprintf(err, errlen, "auth token file %s: %s", file, strerror(errno));
      return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == sizeof buf - 1) {
      if (err) snprintf(err, errlen, "auth token file %s: longer than %zu bytes", file, sizeof buf - 2);
      return -1;
    }
    buf[n] = '\0';
    while (n > 0 && isspace((unsigned char)buf[n - 1])) buf[--n] = '\0';
    char *p = buf;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) {
      if (err) snprintf(err, errlen, "auth token file %s is empty", file);
      return -1;
    }
    *token = strdup(p);
    return *token ? 0 : -1;
  }
  if (env_name) {
    const char *v = getenv(env_name);
    if (v && *v) {
      *token = strdup(v);
      return *token ? 0 : -1;
    }
  }
  return 0;
}

int svc_is_loopback(const char *host) {
  if (!host) return 0;
  if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0) return 1;
  if (strncmp(host, "127.", 4) == 0) {
    /* 127.x.y.z with digits and dots only */
    for (const char *p = host + 4; *p; p++)
      if (!isdigit((unsigned char)*p) && *p != '.') return 0;
    return 1;
  }
  return 0;
}

static int sig_fd = -1;

int svc_signals_block(char *err, size_t errlen) {
  sigset_t set;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
    if (err) snprintf(err, errlen, "blocking signals failed");
    return -1;
  }
  if (sig_fd >= 0) return 0;
  sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sig_fd < 0) {
    if (err) snprintf(err, errlen, "signalfd: %s", strerror(errno));
    return -1;
  }
  return 0;
}

int svc_signals_wait(int timeout_ms) {
  struct pollfd pfd;
  struct signalfd_siginfo si;
  int rc;
  if (sig_fd < 0) return -1;
  pfd.fd = sig_fd;
  pfd.events = POLLIN;
  rc = poll(&pfd, 1, timeout_ms);
  if (rc == 0) return 0;
  if (rc < 0) return errno == EINTR ? 0 : -1;
  if (read(sig_fd, &si, sizeof si) != (ssize_t)sizeof si) return -1;
  return (int)si.ssi_signo;
}
