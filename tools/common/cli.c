/*
 * cli.c - parsing and formatting shared by the isoreg tools.
 *
 * Owns: strict number/key parsing with messages that name the bad value,
 * attaching the segment the user named, human formats for durations, times
 * and failure breakdowns. Must never decide policy or touch an account: the
 * tools print what the library reports.
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
	const char *name = cli_segment(segment);
	char what[300];
	int rc;

	if (cli_trust_opts(prog, &opts) < 0)
		return CLI_EXIT_RUNTIME;
	rc = iso_attach(name, &opts, reg);
	if (rc == 0)
		return CLI_EXIT_OK;
	snprintf(what, sizeof(what), "cannot attach segment '%s'", name);
	cli_iso_error(prog, what, rc);
	return CLI_EXIT_RUNTIME;
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

char *cli_format_duration_ms(uint64_t ms, char *buf, size_t len)
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

char *cli_format_ns(uint64_t ns, char *buf, size_t len)
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

char *cli_format_time_ms(int64_t unix_ms, char *buf, size_t len)
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

char *cli_format_mask(uint32_t mask, char *buf, size_t len)
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

char *cli_format_breakdown(const uint64_t by_type[ISO_FAIL__COUNT], char *buf,
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
