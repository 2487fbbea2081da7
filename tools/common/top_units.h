/*
 * top_units.h - human units for a viewer: latencies, durations, rates and
 * wall-clock times as short fixed-width text, and an interval in seconds
 * parsed from the command line.
 *
 * Pure functions of their arguments (plus the local time zone for
 * top_fmt_clock); nothing here touches a segment.
 */
#ifndef TOP_UNITS_H
#define TOP_UNITS_H

#include <stddef.h>
#include <stdint.h>

/**
 * top_fmt_ns - a latency as "850ns", "12.3us", "4.56ms" or "1.23s".
 * @ns: nanoseconds.
 * @buf, @len: where to write; 16 bytes are always enough.
 *
 * Returns @buf.
 */
char *top_fmt_ns(uint64_t ns, char *buf, size_t len);

/**
 * top_fmt_ms_left - a time left as "950ms", "12.3s", "4m59s", "2h03m" or
 * "3d04h" (always at most 6 characters).
 *
 * Returns @buf.
 */
char *top_fmt_ms_left(uint64_t ms, char *buf, size_t len);

/**
 * top_fmt_rate - a per-second rate as "0", "0.4", "12.3", "1234", "12.3k"
 * or "4.5M" (at most 6 characters).
 *
 * Returns @buf.
 */
char *top_fmt_rate(double per_s, char *buf, size_t len);

/**
 * top_fmt_clock - Unix milliseconds as local "HH:MM:SS.mmm".
 *
 * Returns @buf.
 */
char *top_fmt_clock(int64_t unix_ms, char *buf, size_t len);

/**
 * top_parse_seconds - parse a positive interval such as "1", "0.2" or
 * "2.5" seconds.
 * @text: the argument as given.
 * @min_s, @max_s: the accepted range, inclusive.
 * @out: (output) the value; unchanged on error.
 *
 * Returns 0, or -1 if @text is not a number, has trailing characters, or is
 * out of range.
 */
int top_parse_seconds(const char *text, double min_s, double max_s,
		      double *out);

#endif /* TOP_UNITS_H */
