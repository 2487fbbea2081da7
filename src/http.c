/*
 * http.c - an HTTP status and its Retry-After as a failure type [M2]:
 * the status table, and Retry-After parsed as delta-seconds or as an
 * IMF-fixdate (RFC 9110), with no locale and no libc time zone.
 *
 * It must never touch the segment or allocate: a pure function of its
 * input, like the rest of the classifiers (classify.c).
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"


/*
 * Statuses with a type of their own; the rest of 4xx and 5xx follow the
 * class rule in iso_classify_http (4xx and 5xx: API).
 *  - 401/403/407: the key, its permissions or the proxy's credentials.
 *  - 404: exchanges answer it for an order or resource this account does
 *    not have (cancel of a filled order); a wrong path would fail every
 *    account of the broker at once and shows in the per-broker report.
 *  - 409/422: the request was understood and refused as an order (state
 *    conflict, validation): EXECUTION.
 *  - 418: Binance's answer to an IP that kept going after 429s.
 *  - 408/504 and Cloudflare's 522/524: a timeout on the way: NETWORK.
 */
static const struct code_row http_rows[] = {
	{ 401, ISO_FAIL_AUTHENTICATION },
	{ 403, ISO_FAIL_AUTHENTICATION },
	{ 404, ISO_FAIL_EXECUTION },
	{ 407, ISO_FAIL_AUTHENTICATION },
	{ 408, ISO_FAIL_NETWORK },
	{ 409, ISO_FAIL_EXECUTION },
	{ 418, ISO_FAIL_RATE_LIMIT },
	{ 422, ISO_FAIL_EXECUTION },
	{ 429, ISO_FAIL_RATE_LIMIT },
	{ 504, ISO_FAIL_NETWORK },
	{ 522, ISO_FAIL_NETWORK },
	{ 524, ISO_FAIL_NETWORK },
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly @n digits at *@p into *@v. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

static bool lit(const char **p, const char *s)
{
	size_t n = strlen(s);
	if (strncmp(*p, s, n))
		return false;
	*p += n;
	return true;
}

/*
 * IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT". The two
 * obsolete forms are not accepted: no exchange we know sends them, and a
 * misread date would hold an account open for the wrong time.
 */
static bool parse_imf_fixdate(const char *p, const char *end, int64_t *unix_s)
{
	static const char *const wdays[] = { "Mon", "Tue", "Wed", "Thu",
					     "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
					      "May", "Jun", "Jul", "Aug",
					      "Sep", "Oct", "Nov", "Dec" };
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30,
					  31, 31, 30, 31, 30, 31 };
	int day, year, hh, mm, ss, mon = -1;
	bool wd = false;

	if (end - p != 29)
		return false;
	for (int i = 0; i < 7 && !wd; i++)
		wd = lit(&p, wdays[i]);
	if (!wd || !lit(&p, ", ") || !digits(&p, 2, &day) || !lit(&p, " "))
		return false;
	for (int i = 0; i < 12 && mon < 0; i++)
		if (lit(&p, months[i]))
			mon = i;
	if (mon < 0 || !lit(&p, " ") || !digits(&p, 4, &year) ||
	    !lit(&p, " ") || !digits(&p, 2, &hh) || !lit(&p, ":") ||
	    !digits(&p, 2, &mm) || !lit(&p, ":") || !digits(&p, 2, &ss) ||
	    !lit(&p, " GMT"))
		return false;
	unsigned dim = mdays[mon] + (mon == 1 && leap(year));
	/* 60 seconds: a leap second is a legal time of day. */
	if (day < 1 || (unsigned)day > dim || hh > 23 || mm > 59 || ss > 60)
		return false;
	*unix_s = days_from_civil(year, (unsigned)mon + 1, (unsigned)day) *
			  86400 + hh * 3600 + mm * 60 + ss;
	return true;
}

int iso_retry_after_parse(const char *value, int64_t now_unix_s,
			  uint64_t *retry_after_ms)
{
	const char *p, *end;

	if (!retry_after_ms)
		return iso_fail(ISO_EINVAL, "retry-after: NULL output");
	*retry_after_ms = 0;
	if (!value)
		return iso_fail(ISO_EINVAL, "retry-after: NULL value");
	p = value;
	while (is_ows(*p))
		p++;
	end = p + strlen(p);
	while (end > p && is_ows(end[-1]))
		end--;
	if (p == end)
		return iso_fail(ISO_EINVAL, "retry-after: empty value");

	if (is_digit(*p)) { /* delta-seconds = 1*DIGIT */
		uint64_t s = 0;
		for (const char *q = p; q < end; q++) {
			if (!is_digit(*q))
				return iso_fail(ISO_EINVAL,
						"retry-after '%s': not "
						"delta-seconds", value);
			/* Saturate: the cap below applies anyway. */
			if (s < ISO_TIMEOUT_MAX_MS / 1000 + 1)
				s = s * 10 + (uint64_t)(*q - '0');
		}
		*retry_after_ms = s * 1000;
	} else {
		int64_t at;
		if (!parse_imf_fixdate(p, end, &at))
			return iso_fail(ISO_EINVAL,
					"retry-after '%s': neither "
					"delta-seconds nor an IMF-fixdate "
					"like 'Sun, 06 Nov 1994 08:49:37 GMT'",
					value);
		/* A date already past means: retry now. */
		*retry_after_ms = at > now_unix_s ?
			(uint64_t)(at - now_unix_s) * 1000 : 0;
	}
	/* A hostile or mistaken header must not halt an account for ever. */
	if (*retry_after_ms > ISO_TIMEOUT_MAX_MS)
		*retry_after_ms = ISO_TIMEOUT_MAX_MS;
	return 0;
}

int iso_classify_http(int status, const char *retry_after, int64_t now_unix_s,
		      uint64_t *retry_after_ms)
{
	int type;

	if (retry_after_ms)
		*retry_after_ms = 0;
	if (status < 100 || status > 599)
		return ISO_FAIL_UNKNOWN; /* not an HTTP status at all */
	if (status < 400)
		return ISO_NOT_A_FAILURE;
	type = iso_code_lookup(http_rows, sizeof(http_rows) / sizeof(http_rows[0]),
		      status);
	if (type == ISO_FAIL_UNKNOWN)
		type = ISO_FAIL_API; /* the rest of 4xx and 5xx */
	/*
	 * Retry-After comes with 429 and 503 mostly, but whatever failure
	 * carries one, the exchange has said when to come back [M2]. An
	 * unreadable header is ignored, not an error: the status still counts.
	 */
	if (retry_after && retry_after_ms &&
	    iso_retry_after_parse(retry_after, now_unix_s, retry_after_ms))
		*retry_after_ms = 0;
	return type;
}

