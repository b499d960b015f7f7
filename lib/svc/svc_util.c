/*
 * svc_util.c — size parsing, token and signal handling shared by every
 * daemon (see svc_util.h). Everything here is small and dependency-free so
 * that tests can reach each rule directly.
 */
#include "svc_util.h"

#include "errbuf.h"
#include "pgopipe_version.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

const char *svc_version(void) { return PGOPIPE_VERSION_STRING; }

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
  errbuf_set(err, errlen,
             "bad size \"%s\": want a number of bytes (optionally with KiB, MiB or GiB)",
             s ? s : "");
  return -1;
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

/* Trims s in place (whitespace both ends) and checks what is left can be
 * sent in an Authorization header: visible characters only. Returns the
 * trimmed start, or NULL with why set. */
static char *clean_token(char *s, const char **why) {
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  while (isspace((unsigned char)*s)) s++;
  if (!*s) {
    *why = "is empty";
    return NULL;
  }
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f) {
      *why = "holds a space or a control character (a bearer token cannot)";
      return NULL;
    }
  return s;
}

int svc_load_token(const char *file, const char *env_name, char **token, char *err, size_t errlen) {
  *token = NULL;
  const char *why = NULL;
  if (file && *file) {
    FILE *f = fopen(file, "rb");
    char buf[4097];
    size_t n;
    if (!f) {
      errbuf_set(err, errlen, "auth token file %s: %s", file, strerror(errno));
      return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    if (n == sizeof buf - 1) {
      errbuf_set(err, errlen, "auth token file %s: longer than %zu bytes", file, sizeof buf - 2);
      return -1;
    }
    buf[n] = '\0';
    char *p = clean_token(buf, &why);
    if (!p) {
      errbuf_set(err, errlen, "auth token file %s %s", file, why);
      return -1;
    }
    *token = strdup(p);
    return *token ? 0 : -1;
  }
  if (env_name) {
    const char *v = getenv(env_name);
    if (v && *v) {
      char *copy = strdup(v);
      if (!copy) return -1;
      char *p = clean_token(copy, &why);
      if (!p) {
        errbuf_set(err, errlen, "auth token in %s %s", env_name, why);
        free(copy);
        return -1;
      }
      memmove(copy, p, strlen(p) + 1);
      *token = copy;
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

void svc_memory_init(void) {
  /* Setting either threshold also turns off glibc's dynamic raising of both. */
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 2 << 20);
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
    errbuf_set(err, errlen, "blocking signals failed");
    return -1;
  }
  if (sig_fd >= 0) return 0;
  sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sig_fd < 0) {
    errbuf_set(err, errlen, "signalfd: %s", strerror(errno));
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
