/*
 * fileio.c — file handling shared by pgopipe's verbs.
 *
 * Reads are capped (a profile bigger than the decoder's input limit is never
 * held whole in memory) and writes are atomic (temporary file in the target
 * directory, fsync, rename, fsync of the directory), because a half-written
 * default.pgo fed to `go build -pgo` is worse than none. Profiles are read
 * under the decoder's limits (cli_load_profile).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_errorf(const char *verb, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "pgopipe %s: ", verb);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

const char *cli_display_name(const char *path) {
  return strcmp(path, "-") ? path : "standard input";
}

int cli_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *len,
                  char *err, size_t errlen) {
  int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  path = cli_display_name(path);
  size_t cap = 1 << 16, n = 0;
  size_t want = max_bytes < SIZE_MAX ? max_bytes + 1 : SIZE_MAX;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: is a directory", path);
    if (fd != STDIN_FILENO) close(fd);
    return -1;
  }
  if (fd != STDIN_FILENO && S_ISREG(st.st_mode) && st.st_size > 0) {
    size_t sz = (size_t)st.st_size;
    cap = (sz < want ? sz : want) + 1;
  }
  uint8_t *buf = malloc(cap);
  if (!buf) {
    snprintf(err, errlen, "%s: out of memory", path);
    if (fd != STDIN_FILENO) close(fd);
    return -1;
  }
  while (n < want) {
    if (n == cap) {
      size_t ncap = cap * 2 < want ? cap * 2 : want;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        if (fd != STDIN_FILENO) close(fd);
        return -1;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
      free(buf);
      if (fd != STDIN_FILENO) close(fd);
      return -1;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  if (fd != STDIN_FILENO) close(fd);
  *out = buf;
  *len = n;
  return 0;
}

static int write_all(int fd, const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

int cli_write_file_atomic(const char *path, const uint8_t *buf, size_t len,
                          char *err, size_t errlen) {
  if (!strcmp(path, "-")) {
    if (write_all(STDOUT_FILENO, buf, len) != 0) {
      snprintf(err, errlen, "standard output: %s", strerror(errno));
      return -1;
    }
    return 0;
  }
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  char *dir = malloc(plen + 2);
  if (!tmp || !dir) {
    free(tmp);
    free(dir);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  /* The temporary file sits beside the target so rename() stays on one
   * file system and is atomic. */
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  const char *slash = strrchr(path, '/');
  if (!slash)
    strcpy(dir, ".");
  else if (slash == path)
    strcpy(dir, "/");
  else {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = 0;
  }
  int rc = -1;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create a file in %s: %s", path, dir, strerror(errno));
    goto out;
  }
  if (fchmod(fd, 0644) != 0 || write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    close(fd);
    unlink(tmp);
    goto out;
  }
  if (close(fd) != 0) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    unlink(tmp);
    goto out;
  }
  if (rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    unlink(tmp);
    goto out;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd); /* best effort: the data itself is already durable */
    close(dfd);
  }
  rc = 0;
out:
  free(tmp);
  free(dir);
  return rc;
}

int cli_parse_size(const char *s, size_t *out) {
  if (!s || !*s) return -1;
  unsigned long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (ULLONG_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v > SIZE_MAX) return -1;
  *out = (size_t)v;
  return 0;
}

pp_profile *cli_load_profile(const char *path, const pp_limits *lim, char *msg, size_t msglen) {
  char err[512] = "";
  uint8_t *buf = NULL;
  size_t len = 0;
  size_t max = lim->max_input_bytes ? lim->max_input_bytes : PP_DEFAULT_MAX_INPUT;
  if (cli_read_file(path, max, &buf, &len, err, sizeof err) != 0) {
    snprintf(msg, msglen, "%s", err);
    return NULL;
  }
  pp_profile *p = NULL;
  /* A large profile's samples are read on two threads when there are two
   * CPUs (pp_decode_mt). */
  int rc = pp_decode_mt(buf, len, lim, sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1, &p, err, sizeof err);
  free(buf);
  if (rc != 0) {
    snprintf(msg, msglen, "%s: %s", cli_display_name(path), err[0] ? err : pp_strerror(rc));
    return NULL;
  }
  return p;
}

void cli_big_heap(void) {
  enum { PAD = 64 << 20 };
  mallopt(M_ARENA_MAX, 1);               /* the loader threads too */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   /* glibc's largest: blocks below it come from the heap */
  mallopt(M_TRIM_THRESHOLD, INT_MAX);    /* freed memory stays for the next array */
  mallopt(M_TOP_PAD, PAD);
  void *first = malloc(1); /* grows the heap by the pad */
  void *brk_end = sbrk(0);
  if (first && brk_end != (void *)-1 && (uintptr_t)brk_end > (uintptr_t)first)
    pp_huge(first, (size_t)((uintptr_t)brk_end - (uintptr_t)first));
  free(first);
}
