/*
 * fmt.h - human units for every isoreg tool: latencies, durations, rates,
 * times, failure masks and breakdowns as text, and an interval in seconds
 * parsed from the command line. fmt_cell_* are short and fixed-width for
 * tables (isotop); fmt_* are exact for lines (isoctl).
 *
 * Pure functions of their arguments (plus the local time zone for
 * fmt_cell_clock); nothing here touches a segment.
 */
#ifndef ISO_TOOLS_FMT_H
#define ISO_TOOLS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isoreg.h"

/**
 * fmt_cell_ns - a latency as "850ns", "12.3us", "4.56ms" or "1.23s".
 * @ns: nanoseconds.
 * @buf, @len: where to write; 16 bytes are always enough.
 *
 * Returns @buf.
 */
char *fmt_cell_ns(uint64_t ns, char *buf, size_t len);

/**
 * fmt_cell_ms_left - a time left as "950ms", "12.3s", "4m59s", "2h03m" or
 * "3d04h" (always at most 6 characters).
 *
 * Returns @buf.
 */
char *fmt_cell_ms_left(uint64_t ms, char *buf, size_t len);

/**
 * fmt_cell_rate - a per-second rate as "0", "0.4", "12.3", "1234", "12.3k"
 * or "4.5M" (at most 6 characters).
 *
 * Returns @buf.
 */
char *fmt_cell_rate(double per_s, char *buf, size_t len);

/**
 * fmt_cell_clock - Unix milliseconds as local "HH:MM:SS.mmm".
 *
 * Returns @buf.
 */
char *fmt_cell_clock(int64_t unix_ms, char *buf, size_t len);

/**
 * fmt_parse_seconds - parse a positive interval such as "1", "0.2" or
 * "2.5" seconds.
 * @text: the argument as given.
 * @min_s, @max_s: the accepted range, inclusive.
 * @out: (output) the value; unchanged on error.
 *
 * Returns 0, or -1 if @text is not a number, has trailing characters, or is
 * out of range.
 */
int fmt_parse_seconds(const char *text, double min_s, double max_s,
		      double *out);

/**
 * fmt_duration_ms - "850ms", "12s", "4m59s", "2h05m", "3d04h";
 * "0s" for 0. Writes at most @len bytes and returns @buf.
 */
char *fmt_duration_ms(uint64_t ms, char *buf, size_t len);

/**
 * fmt_ns - an operation time for a table: "-" for 0 (no sample),
 * else "420ns", "12.5us", "3.20ms", "1.50s". Returns @buf.
 */
char *fmt_ns(uint64_t ns, char *buf, size_t len);

/**
 * fmt_utc_ms - a Unix time in ms as UTC "2026-11-25T09:11:16.123Z",
 * or "never" for 0. Returns @buf.
 */
char *fmt_utc_ms(int64_t unix_ms, char *buf, size_t len);

/**
 * fmt_mask - failure-type mask as "AUTHENTICATION,BALANCE", or
 * "none" for 0 (the form iso_config_set accepts back). Returns @buf.
 */
char *fmt_mask(uint32_t mask, char *buf, size_t len);

/**
 * fmt_breakdown - non-zero failure counts by type as
 * "NETWORK=3,RATE_LIMIT=1", or "-" when all are zero. Returns @buf.
 */
char *fmt_breakdown(const uint64_t by_type[ISO_FAIL__COUNT], char *buf,
			   size_t len);

/**
 * fmt_window - what an account's rolling window [B7] holds, as
 * "last 1m00s: 4 outcomes, 2 failures, 0 slow" (@st->config.window_ms
 * must be set). Returns @buf.
 */
char *fmt_window(const struct iso_status *st, char *buf, size_t len);

/**
 * fmt_window_rate - one of @st's window rates against its threshold:
 * the failure rate, or the slow-call rate if @slow. "50.0% (trips at
 * 50%)", "not judged: 3 of min_calls 10 (trips at 50%)", "0.0% (never
 * trips: failure_rate_threshold=0)", or for the slow-call rate without a
 * slow_call_ms "off (slow_call_ms=0: no call is slow)". Returns @buf.
 */
char *fmt_window_rate(const struct iso_status *st, bool slow, char *buf,
		      size_t len);

#endif /* ISO_TOOLS_FMT_H */
