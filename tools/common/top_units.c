/*
 * top_units.c - short human-readable units for viewers (see top_units.h).
 *
 * Every formatter keeps to a small fixed width so table columns line up;
 * when a value outgrows one unit it moves to the next rather than widening.
 */
#include "top_units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *top_fmt_ns(uint64_t ns, char *buf, size_t len)
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

char *top_fmt_ms_left(uint64_t ms, char *buf, size_t len)
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

char *top_fmt_rate(double r, char *buf, size_t len)
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

char *top_fmt_clock(int64_t unix_ms, char *buf, size_t len)
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

int top_parse_seconds(const char *text, double min_s, double max_s,
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
