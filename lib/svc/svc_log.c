/*
 * svc_log.c — JSON-lines logger (see svc_log.h). A line is formatted into a
 * heap buffer first and then written with a single write(2) under a mutex:
 * formatting runs concurrently, only the write is serialised.
 */
#include "svc_log.h"

#include "chrono.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int log_level = SVC_LOG_INFO;
static atomic_int log_fd = 2;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void svc_log_set_level(int level) {
  if (level < SVC_LOG_DEBUG) level = SVC_LOG_DEBUG;
  if (level > SVC_LOG_ERROR) level = SVC_LOG_ERROR;
  atomic_store(&log_level, level);
}
int svc_log_get_level(void) { return atomic_load(&log_level); }
int svc_log_enabled(int level) { return level >= atomic_load(&log_level); }
void svc_log_set_fd(int fd) { atomic_store(&log_fd, fd); }

int svc_log_parse_level(const char *s, int *level) {
  if (!s) return -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) { *level = i; return 0; }
  if (strcmp(s, "warning") == 0) { *level = SVC_LOG_WARN; return 0; }
  return -1;
}

static int grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 256;
  while (ncap < need) ncap *= 2;
  char *nb = realloc(*buf, ncap);
  if (!nb) return -1;
  *buf = nb;
  *cap = ncap;
  return 0;
}

static int append(char **buf, size_t *cap, size_t *len, const char *s, size_t n) {
  if (grow(buf, cap, *len + n + 1) != 0) return -1;
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

/* Length of a valid UTF-8 sequence starting at p (at most `left` bytes), or 0
 * if the bytes there are not valid UTF-8 (overlongs and surrogates refused). */
static size_t utf8_len(const unsigned char *p, size_t left) {
  unsigned c = p[0];
  if (c >= 0xc2 && c <= 0xdf) {
    if (left >= 2 && (p[1] & 0xc0) == 0x80) return 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    if (left >= 3 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
      if (c == 0xe0 && p[1] < 0xa0) return 0;
      if (c == 0xed && p[1] >= 0xa0) return 0;
      return 3;
    }
  } else if (c >= 0xf0 && c <= 0xf4) {
    if (left >= 4 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80) {
      if (c == 0xf0 && p[1] < 0x90) return 0;
      if (c == 0xf4 && p[1] >= 0x90) return 0;
      return 4;
    }
  }
  return 0;
}

int svc_json_append_str(char **buf, size_t *cap, size_t *len_io, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  /* Worst case every byte becomes \u00XX (6 bytes) or U+FFFD (6 bytes). */
  if (grow(buf, cap, *len_io + n * 6 + 3) != 0) return -1;
  char *o = *buf + *len_io;
  *o++ = '"';
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    if (c < 0x80) {
      switch (c) {
      case '"': *o++ = '\\'; *o++ = '"'; break;
      case '\\': *o++ = '\\'; *o++ = '\\'; break;
      case '\n': *o++ = '\\'; *o++ = 'n'; break;
      case '\r': *o++ = '\\'; *o++ = 'r'; break;
      case '\t': *o++ = '\\'; *o++ = 't'; break;
      case '\b': *o++ = '\\'; *o++ = 'b'; break;
      case '\f': *o++ = '\\'; *o++ = 'f'; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          o += sprintf(o, "\\u%04x", c);
        } else {
          *o++ = (char)c;
        }
      }
      i++;
    } else {
      size_t l = utf8_len(p + i, n - i);
      if (l == 0) {
        memcpy(o, "\\ufffd", 6);
        o += 6;
        i++;
      } else {
        memcpy(o, p + i, l);
        o += l;
        i += l;
      }
    }
  }
  *o++ = '"';
  *o = '\0';
  *len_io = (size_t)(o - *buf);
  return 0;
}

static void write_line(int level, const char *msg, const svc_field *fields, size_t n, va_list *ap) {
  char *buf = NULL;
  size_t cap = 0, len = 0;
  char ts[40], num[64];
  int ok = 1;

  chrono_format_rfc3339(chrono_now_ms(), 1, ts, sizeof ts);
  ok &= append(&buf, &cap, &len, "{\"time\":\"", 9) == 0;
  ok &= append(&buf, &cap, &len, ts, strlen(ts)) == 0;
  ok &= append(&buf, &cap, &len, "\",\"level\":\"", 11) == 0;
  ok &= append(&buf, &cap, &len, level_names[level], strlen(level_names[level])) == 0;
  ok &= append(&buf, &cap, &len, "\",\"msg\":", 8) == 0;
  ok &= svc_json_append_str(&buf, &cap, &len, msg ? msg : "", msg ? strlen(msg) : 0) == 0;
  for (size_t k = 0; ok; k++) {
    svc_field f;
    if (ap) {
      f = va_arg(*ap, svc_field);
      if (!f.key) break;
    } else {
      if (k >= n) break;
      f = fields[k];
      if (!f.key) continue;
    }
    ok &= append(&buf, &cap, &len, ",", 1) == 0;
    ok &= svc_json_append_str(&buf, &cap, &len, f.key, strlen(f.key)) == 0;
    ok &= append(&buf, &cap, &len, ":", 1) == 0;
    switch (f.kind) {
    case SVC_FIELD_STR:
      if (f.s) ok &= svc_json_append_str(&buf, &cap, &len, f.s, strlen(f.s)) == 0;
      else ok &= append(&buf, &cap, &len, "null", 4) == 0;
      break;
    case SVC_FIELD_INT:
      snprintf(num, sizeof num, "%" PRId64, f.i);
      ok &= append(&buf, &cap, &len, num, strlen(num)) == 0;
      break;
    case SVC_FIELD_FLOAT:
      if (isfinite(f.d)) {
        /* shortest form that reads back as the same double */
        for (int prec = 1; prec <= 17; prec++) {
          snprintf(num, sizeof num, "%.*g", prec, f.d);
          if (strtod(num, NULL) == f.d) break;
        }
      } else {
        snprintf(num, sizeof num, "null");
      }
      ok &= append(&buf, &cap, &len, num, strlen(num)) == 0;
      break;
    case SVC_FIELD_BOOL:
      ok &= append(&buf, &cap, &len, f.i ? "true" : "false", f.i ? 4 : 5) == 0;
      break;
    default:
      ok &= append(&buf, &cap, &len, "null", 4) == 0;
    }
  }
  ok &= append(&buf, &cap, &len, "}\n", 2) == 0;
  if (!ok) {
    free(buf);
    buf = NULL;
    static const char oom[] = "{\"level\":\"error\",\"msg\":\"log line lost: out of memory\"}\n";
    pthread_mutex_lock(&log_mu);
    if (write(atomic_load(&log_fd), oom, sizeof oom - 1) < 0) { /* nowhere left to report */ }
    pthread_mutex_unlock(&log_mu);
    return;
  }
  pthread_mutex_lock(&log_mu);
  {
    size_t off = 0;
    int fd = atomic_load(&log_fd);
    while (off < len) {
      ssize_t w = write(fd, buf + off, len - off);
      if (w <= 0) break;
      off += (size_t)w;
    }
  }
  pthread_mutex_unlock(&log_mu);
  free(buf);
}

void svc_log(int level, const char *msg, ...) {
  va_list ap;
  if (level < SVC_LOG_DEBUG || level > SVC_LOG_ERROR) level = SVC_LOG_ERROR;
  if (!svc_log_enabled(level)) return;
  va_start(ap, msg);
  write_line(level, msg, NULL, 0, &ap);
  va_end(ap);
}

void svc_log_fields(int level, const char *msg, const svc_field *fields, size_t n) {
  if (level < SVC_LOG_DEBUG || level > SVC_LOG_ERROR) level = SVC_LOG_ERROR;
  if (!svc_log_enabled(level)) return;
  write_line(level, msg, fields, n, NULL);
}

_Static_assert((int)CORE_LOG_DEBUG == (int)SVC_LOG_DEBUG &&
                   (int)CORE_LOG_INFO == (int)SVC_LOG_INFO &&
                   (int)CORE_LOG_WARN == (int)SVC_LOG_WARN &&
                   (int)CORE_LOG_ERROR == (int)SVC_LOG_ERROR,
               "core and svc log levels are the same numbers");

void svc_log_core(void *ctx, int level, const char *msg, const char *const *kv, size_t npairs) {
  (void)ctx;
  svc_field f[16];
  size_t n = npairs < 16 ? npairs : 16;
  for (size_t i = 0; i < n; i++)
    f[i] = SVC_STR(kv[2 * i], kv[2 * i + 1]);
  svc_log_fields(level, msg, f, n);
}

core_logger svc_core_logger(void) {
  core_logger lg = {svc_log_core, NULL, svc_log_get_level()};
  return lg;
}
