/*
 * fmt.c - the one place the tools turn numbers into text (see fmt.h).
 *
 * Two families: fmt_cell_* keep to a small fixed width so isotop's
 * columns line up (a value that outgrows one unit moves to the next rather
 * than widening); fmt_* are for isoctl's lines, where exactness beats width.
 */
#include "fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *fmt_cell_ns(uint64_t ns, char *buf, size_t len)
{
	double v = (double)ns;

	if (ns < 1000)
		snprintf(buf, len, "%uns", (unsigned)ns);
	else if (ns < 1000000)
		snprintf(buf, len, v < 1e4 ? "%.2fus" : v < 1e5 ? "%.1fus" : "%.0fus", v / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, v < 1e7 ? "%.2fms" : v < 1e8 ? "%.1fms" : "%.0fms", v / 1e6);
	else
		snprintf(buf, len, v < 1e10 ? "%.2fs" : v < 1e11 ? "%.1fs" : "%.0fs", v / 1e9);
	return buf;
}

char *fmt_cell_ms_left(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%ums", (unsigned)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1fs", (double)ms / 1e3);
	else if (s < 3600)
		snprintf(buf, len, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
	else if (s / 86400 < 1000)
		snprintf(buf, len, "%ud%02uh", (unsigned)(s / 86400), (unsigned)(s % 86400 / 3600));
	else
		snprintf(buf, len, ">999d");
	return buf;
}

char *fmt_cell_rate(double r, char *buf, size_t len)
{
	if (!(r > 0))	/* also catches NaN: a rate is never negative */
		snprintf(buf, len, "0");
	else if (r < 100)
		snprintf(buf, len, "%.1f", r);
	else if (r < 1e4)
		snprintf(buf, len, "%.0f", r);
	else if (r < 1e6)
		snprintf(buf, len, r < 1e5 ? "%.1fk" : "%.0fk", r / 1e3);
	else if (r < 1e9)
		snprintf(buf, len, r < 1e8 ? "%.1fM" : "%.0fM", r / 1e6);
	else
		snprintf(buf, len, "%.1fG", r / 1e9);
	return buf;
}

char *fmt_cell_clock(int64_t unix_ms, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (unix_ms < 0 || !localtime_r(&t, &tm)) {
		snprintf(buf, len, "--:--:--.---");
		return buf;
	}
	snprintf(buf, len, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, (int)(unix_ms % 1000));
	return buf;
}

int fmt_parse_seconds(const char *text, double min_s, double max_s,
		      double *out)
{
	char *end;
	double v;

	if (!text || !*text)
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || *end || !isfinite(v) || v < min_s || v > max_s)
		return -1;
	*out = v;
	return 0;
}

char *fmt_duration_ms(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000 && ms != 0)
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
			 s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400,
			 s % 86400 / 3600);
	return buf;
}

char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0)
		snprintf(buf, len, "-");
	else if (ns < 1000)
		snprintf(buf, len, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

char *fmt_utc_ms(int64_t unix_ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t;
	char day[32];

	if (unix_ms <= 0) {
		snprintf(buf, len, "never");
		return buf;
	}
	t = (time_t)(unix_ms / 1000);
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, len, "%" PRId64 "ms", unix_ms);
		return buf;
	}
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, (int)(unix_ms % 1000));
	return buf;
}

char *fmt_mask(uint32_t mask, char *buf, size_t len)
{
	size_t used = 0;
	int t;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (mask == 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (t = 0; t < ISO_FAIL__COUNT; t++) {
		if (!(mask & ISO_FAIL_MASK(t)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s",
				 used ? "," : "", iso_failure_type_name(t));
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	/* Bits beyond the known types would be a library bug; show them. */
	if (mask >> ISO_FAIL__COUNT && used < len)
		snprintf(buf + used, len - used, "%s0x%x", used ? "," : "",
			 mask & ~((1u << ISO_FAIL__COUNT) - 1));
	return buf;
}

char *fmt_breakdown(const uint64_t by_type[ISO_FAIL__COUNT], char *buf,
			   size_t len)
{
	size_t used = 0;
	int t;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (t = 0; t < ISO_FAIL__COUNT; t++) {
		if (!by_type[t])
			continue;
		int n = snprintf(buf + used, len - used, "%s%s=%" PRIu64,
				 used ? "," : "", iso_failure_type_name(t),
				 by_type[t]);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, len, "-");
	return buf;
}

char *fmt_window(const struct iso_status *st, char *buf, size_t len)
{
	char d[32];

	snprintf(buf, len, "last %s: %" PRIu64 " outcome%s, %" PRIu64
		 " failure%s, %" PRIu64 " slow",
		 fmt_duration_ms(st->config.window_ms, d, sizeof(d)),
		 st->window_calls, st->window_calls == 1 ? "" : "s",
		 st->window_failures, st->window_failures == 1 ? "" : "s",
		 st->window_slow_calls);
	return buf;
}

char *fmt_window_rate(const struct iso_status *st, bool slow, char *buf,
		      size_t len)
{
	const struct iso_config *c = &st->config;
	uint32_t threshold = slow ? c->slow_call_rate_threshold
				  : c->failure_rate_threshold;
	double rate = slow ? st->slow_call_rate : st->failure_rate;
	char t[64];

	if (slow && !c->slow_call_ms) {
		snprintf(buf, len, "off (slow_call_ms=0: no call is slow)");
		return buf;
	}
	/* A threshold of 0 turns the trip off, not the rate: still shown. */
	if (threshold)
		snprintf(t, sizeof(t), "trips at %u%%", threshold);
	else
		snprintf(t, sizeof(t), "never trips: %s=0", slow
			 ? "slow_call_rate_threshold" : "failure_rate_threshold");
	if (rate < 0)
		snprintf(buf, len, "not judged: %" PRIu64 " of min_calls %u (%s)",
			 st->window_calls, c->min_calls, t);
	else
		snprintf(buf, len, "%.1f%% (%s)", rate, t);
	return buf;
}
