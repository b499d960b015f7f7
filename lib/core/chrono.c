/* chrono.c — see chrono.h. */
#include "chrono.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"

int64_t chrono_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t chrono_now_ms(void) { return chrono_now_ns() / 1000000; }

int64_t chrono_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t chrono_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void chrono_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n decimal digits. */
static int digits(const char *s, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 0;
}

int chrono_parse_rfc3339(const char *s, int64_t *ms_out) {
  int Y, M, D, h, m, sec;
  if (!s || strlen(s) < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) ||
      s[7] != '-' || digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
      digits(s + 17, 2, &sec))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 ||
      m > 59 || sec > 59)
    return -1;
  const char *p = s + 19;
  int frac_ms = 0;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
      if (nd < 3) frac_ms = frac_ms * 10 + (*p - '0');
      nd++;
      p++;
    }
    if (nd == 0 || nd > 9) return -1;
    for (; nd < 3; nd++) frac_ms *= 10;
  }
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
      return -1;
    off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return -1;
  }
  if (*p) return -1;
  int64_t secs = chrono_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 +
                 sec - (int64_t)off * 60;
  *ms_out = secs * 1000 + frac_ms;
  return 0;
}

int chrono_parse_time(const char *s, int64_t *ms) {
  if (!s || !*s) return -1;
  size_t n = strlen(s);
  if (strspn(s, "0123456789") == n) {
    if (n > 12) return -1;
    int64_t sec = 0;
    for (size_t i = 0; i < n; i++) sec = sec * 10 + (s[i] - '0');
    if (sec > 253402300799LL) return -1;
    *ms = sec * 1000;
    return 0;
  }
  int64_t v;
  if (chrono_parse_rfc3339(s, &v) != 0 || v < 0 || v > 253402300799999LL) return -1;
  *ms = v;
  return 0;
}

int chrono_format_rfc3339(int64_t ms, int with_ms, char *buf, size_t buflen) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int milli = (int)(ms - secs * 1000);
  time_t t = (time_t)secs;
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
    if (buf && buflen) buf[0] = '\0';
    return -1;
  }
  int n;
  if (with_ms)
    n = snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
  else
    n = snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return n > 0 && (size_t)n < buflen ? 0 : -1;
}

int chrono_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen) {
  uint64_t n = 0;
  size_t i = 0;
  uint64_t mult;
  if (!s) goto bad;
  while (s[i] >= '0' && s[i] <= '9') {
    unsigned d = (unsigned)(s[i] - '0');
    if (n > (UINT64_MAX - d) / 10) goto bad;
    n = n * 10 + d;
    i++;
  }
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
  errbuf_set(err, errlen,
             "bad duration \"%s\": want a whole number with unit ms, s, m or h (e.g. 500ms, 30s, "
             "5m, 24h)",
             s ? s : "");
  return -1;
}
