/*
 * chrono.h — time in pgopipe: clocks, RFC 3339 date-times and durations,
 * each with one grammar used everywhere (flags, URLs, events, S3 listings,
 * the API's JSON).
 *
 * Depends on nothing but libc.
 */
#ifndef PGOPIPE_CORE_CHRONO_H
#define PGOPIPE_CORE_CHRONO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wall-clock time since the epoch. */
int64_t chrono_now_ns(void);
int64_t chrono_now_ms(void);
/* Monotonic clock in ns, for measuring durations. */
int64_t chrono_mono_ns(void);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
int64_t chrono_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The inverse: the date of a day number. */
void chrono_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/*
 * Parses an RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
 * ('t', 'z' and a space for 'T' accepted, as RFC 3339 allows; 1 to 9
 * fraction digits), into ms since the epoch, the fraction truncated to the
 * ms. Dates are checked (month lengths, leap years); a leap second (60) is
 * refused, as Go's time.Parse does. Returns 0, or -1 when s is not one.
 */
int chrono_parse_rfc3339(const char *s, int64_t *ms);

/*
 * Parses a point in time as the API's time parameters take it (from, to):
 * an RFC 3339 date-time (chrono_parse_rfc3339) or whole Unix seconds (one
 * to twelve digits, no sign), into ms since the epoch. Times before the
 * epoch or after 9999-12-31T23:59:59Z are refused. Returns 0, or -1 when s
 * is neither.
 */
int chrono_parse_time(const char *s, int64_t *ms);

/*
 * Formats ms since the epoch as RFC 3339 UTC: "2026-11-21T12:16:34Z", or
 * with milliseconds ("2026-11-21T12:16:34.964Z") when with_ms. buf must
 * hold 25 bytes. Returns 0, or -1 for a year outside 0..9999.
 */
int chrono_format_rfc3339(int64_t ms, int with_ms, char *buf, size_t buflen);

/*
 * Parses a duration: a whole non-negative number followed by one unit of
 * ms, s, m or h ("500ms", "30s", "5m", "24h"); a bare "0" is accepted (a
 * bare other number is ambiguous and refused). Result in ms. Returns 0, or
 * -1 with a message in err ("bad duration \"5x\": want a whole number with
 * unit ms, s, m or h (e.g. 500ms, 30s, 5m, 24h)").
 */
int chrono_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
