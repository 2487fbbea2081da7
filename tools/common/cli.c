/*
 * cli.c - parsing shared by the isoreg tools.
 *
 * Owns: strict number/key parsing with messages that name the bad value,
 * attaching the segment the user named (the human formats are in fmt.c).
 * Must never decide policy or touch an account: the tools print what the
 * library reports.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void cli_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_iso_error(const char *prog, const char *what, int rc)
{
	/* Read the detail before anything else can call into the library
	 * and replace this thread's last error. */
	const char *detail = iso_last_error();

	if (detail && detail[0])
		fprintf(stderr, "%s: %s: %s: %s\n", prog, what, iso_strerror(rc),
			detail);
	else
		fprintf(stderr, "%s: %s: %s\n", prog, what, iso_strerror(rc));
}

const char *cli_segment(const char *arg)
{
	return arg ? arg : iso_segment_name();
}

const char *cli_segment_origin(const char *arg)
{
	const char *env = getenv("ISOREG_SEGMENT");

	return !arg && env && *env ? " (from $ISOREG_SEGMENT)" : "";
}

int cli_segment_error(const char *prog, const char *verb, const char *arg,
		      int rc)
{
	const char *name = cli_segment(arg);
	char what[400];

	snprintf(what, sizeof(what), "cannot %s segment '%.200s'%s", verb,
		 name, cli_segment_origin(arg));
	cli_iso_error(prog, what, rc);
	return rc == ISO_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
}

int cli_parse_owner(const char *prog, const char *what, const char *text,
		    uid_t *uid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int e;

	if (!text || !*text) {
		cli_error(prog, "%s: empty; want a user name or a uid", what);
		return -1;
	}
	if (text[0] >= '0' && text[0] <= '9') {
		uint64_t v;

		/* (uid_t)-1 means "no uid" to the kernel: never an owner. */
		if (cli_parse_u64(prog, what, text, 0, UINT32_MAX - 1, &v) < 0)
			return -1;
		*uid = (uid_t)v;
		return 0;
	}
	e = getpwnam_r(text, &pw, buf, sizeof(buf), &found);
	if (e || !found) {
		cli_error(prog, "%s: no user named '%s'%s%s", what, text,
			  e ? ": " : "", e ? strerror(e) : "");
		return -1;
	}
	*uid = found->pw_uid;
	return 0;
}

int cli_trust_opts(const char *prog, struct iso_attach_opts *opts)
{
	const char *owner = getenv("ISOREG_OWNER");
	const char *mode = getenv("ISOREG_MODE");

	if (owner && *owner) {
		uid_t uid;

		if (cli_parse_owner(prog, "ISOREG_OWNER", owner, &uid) < 0)
			return -1;
		if (uid != geteuid()) {
			opts->flags |= ISO_ATTACH_OWNER;
			opts->owner = uid;
		}
	}
	if (mode && *mode && !opts->mode) {
		unsigned m;

		if (cli_parse_mode(prog, mode, &m) < 0) {
			cli_error(prog, "(that was ISOREG_MODE)");
			return -1;
		}
		opts->mode = (mode_t)m;
	}
	return 0;
}

int tool_attach(const char *prog, const char *segment, unsigned flags,
		iso_reg_t **reg)
{
	struct iso_attach_opts opts = { .flags = flags };
	int rc;

	if (cli_trust_opts(prog, &opts) < 0)
		return CLI_EXIT_RUNTIME;
	rc = iso_attach(cli_segment(segment), &opts, reg);
	if (rc == 0)
		return CLI_EXIT_OK;
	/* The flags are ours and valid: ISO_EINVAL can only be the name. */
	return cli_segment_error(prog, "attach", segment, rc);
}

int cli_parse_u64(const char *prog, const char *what, const char *text,
		  uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts "-1" and leading blanks; an operator typing either
	 * means something other than a huge number, so refuse them. */
	if (!text || text[0] < '0' || text[0] > '9') {
		cli_error(prog, "%s: '%s' is not a non-negative whole number",
			  what, text ? text : "");
		return -1;
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno == ERANGE || *end != '\0') {
		cli_error(prog, "%s: '%s' is not a whole number in range", what,
			  text);
		return -1;
	}
	if (v < min || v > max) {
		cli_error(prog, "%s: %s is out of range [%" PRIu64 ", %" PRIu64 "]",
			  what, text, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_u32(const char *prog, const char *what, const char *text,
		  uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (cli_parse_u64(prog, what, text, min, max, &v) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int cli_parse_double(const char *prog, const char *what, const char *text,
		     double min, double *out)
{
	double v;
	char *end;

	if (!text || !text[0] || text[0] == ' ') {
		cli_error(prog, "%s: '%s' is not a number", what,
			  text ? text : "");
		return -1;
	}
	errno = 0;
	v = strtod(text, &end);
	if (errno == ERANGE || *end != '\0' || !isfinite(v)) {
		cli_error(prog, "%s: '%s' is not a finite number", what, text);
		return -1;
	}
	if (v < min) {
		cli_error(prog, "%s: %s is below the minimum %g", what, text, min);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_mode(const char *prog, const char *text, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!text || text[0] < '0' || text[0] > '7') {
		cli_error(prog, "--mode: '%s' is not an octal mode like 0660",
			  text ? text : "");
		return -1;
	}
	errno = 0;
	v = strtoul(text, &end, 8);
	if (errno || *end != '\0' || v > 0777) {
		cli_error(prog, "--mode: '%s' is not an octal mode in 0..0777",
			  text);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int cli_parse_key(const char *prog, const char *text, struct iso_key *key)
{
	char what[ISO_KEY_STR_MAX + 64];
	int rc;

	rc = iso_key_parse(text, key);
	if (rc == 0)
		return 0;
	snprintf(what, sizeof(what), "bad account key '%.*s'",
		 ISO_KEY_STR_MAX + 8, text);
	cli_iso_error(prog, what, rc);
	return -1;
}

/* Parse exactly @n digits at *@p into *@v; advances *@p. */
static bool digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		*v = *v * 10 + (**p - '0');
	}
	return true;
}

/* "YYYY-MM-DD[(T| )HH:MM:SS[.fff]][Z]" as UTC; false if it is not that. */
static bool parse_iso8601(const char *p, int64_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	time_t t;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
	    *p++ != '-' || !digits(&p, 2, &d))
		return false;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
		    *p++ != ':' || !digits(&p, 2, &sec))
			return false;
		if (*p == '.') {
			int scale = 100;

			p++;
			if (*p < '0' || *p > '9')
				return false;
			/* Milliseconds; finer digits are accepted, dropped. */
			for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
				ms += scale ? (*p - '0') * scale : 0;
		}
	}
	if (*p == 'Z')
		p++;
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises 2026-02-31 into March: refuse what moved. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return false;
	*out = (int64_t)t * 1000 + ms;
	return true;
}

int cli_parse_since(const char *prog, const char *what, const char *text,
		    int64_t now_ms, int64_t *out)
{
	size_t n = text ? strspn(text, "0123456789") : 0;

	if (n && text[n] == '\0' && n <= 15) {
		/* Unix ms; 15 digits reach the year 33658, enough. */
		*out = (int64_t)strtoll(text, NULL, 10);
		return 0;
	}
	if (n && n <= 9 && text[n] && strchr("smhd", text[n]) &&
	    text[n + 1] == '\0') {
		static const int64_t unit_ms[] = { ['s' - 'a'] = 1000,
			['m' - 'a'] = 60000, ['h' - 'a'] = 3600000,
			['d' - 'a'] = 86400000 };
		int64_t ago = strtoll(text, NULL, 10) * unit_ms[text[n] - 'a'];

		*out = now_ms > ago ? now_ms - ago : 0;
		return 0;
	}
	if (text && parse_iso8601(text, out))
		return 0;
	cli_error(prog, "%s: '%s' is not a time: give Unix ms "
		  "(1764494476123), an ISO-8601 UTC time "
		  "(2026-11-30T09:11:16Z, or a date 2026-11-30), or a time ago "
		  "(90s, 10m, 2h, 1d)", what, text ? text : "");
	return -1;
}

bool cli_escape(const char *s, size_t max, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	bool clean = true;
	size_t o = 0;

	if (!len)
		return false;
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c > 0x20 && c < 0x7f) {
			if (o + 1 >= len)
				break;
			buf[o++] = (char)c;
			continue;
		}
		clean = false;
		if (o + 4 >= len)
			break;
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[c >> 4];
		buf[o++] = hex[c & 15];
	}
	buf[o] = '\0';
	return clean;
}

bool cli_key_escape(const struct iso_key *key, char *buf, size_t len)
{
	char t[ISO_TYPE_MAX * 4 + 1], i[ISO_ID_MAX * 4 + 1],
		b[ISO_BROKER_MAX * 4 + 1];
	bool clean = cli_escape(key->type, sizeof(key->type), t, sizeof(t));

	/* Every field, even if one is already known bad: each is shown. */
	clean = cli_escape(key->id, sizeof(key->id), i, sizeof(i)) && clean;
	clean = cli_escape(key->broker, sizeof(key->broker), b, sizeof(b)) &&
		clean;
	/* An empty field is no key either (a hostile slot can hold one). */
	clean = clean && t[0] && i[0] && b[0];
	snprintf(buf, len, "%s/%s/%s", t, i, b);
	return clean;
}

int64_t cli_now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
