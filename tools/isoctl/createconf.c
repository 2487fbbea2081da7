/*
 * createconf.c - `isoctl create --config FILE` (createconf.h).
 *
 * One parser for the creation file, here; breaker fields go through the
 * library's iso_config_set, as on the command line, so the file accepts
 * exactly the fields and values `isoctl config` does.
 */
#include <errno.h>
#include <stdarg.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isoctl.h"
#include "createconf.h"

#define LINE_MAX_BYTES 1024

static const char *const own_keys[] = {
	"capacity", "mode", "owner", "group", "events", "cooldown_ms",
	"windows", NULL
};
#define OWN_KEYS 7

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* A whole decimal number in [min, max], or -1. */
static int parse_u32(const char *text, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/*
 * A user (@group false) or group (@group true) named or numbered in @text,
 * into *@id. (uid_t)-1 and (gid_t)-1 mean "none" to the kernel: refused.
 */
static int parse_id(const char *text, bool group, uint32_t *id)
{
	char buf[4096];

	if (text[0] >= '0' && text[0] <= '9')
		return parse_u32(text, 0, UINT32_MAX - 1, id);
	if (group) {
		struct group gr, *found = NULL;

		if (getgrnam_r(text, &gr, buf, sizeof(buf), &found) || !found)
			return -1;
		*id = found->gr_gid;
	} else {
		struct passwd pw, *found = NULL;

		if (getpwnam_r(text, &pw, buf, sizeof(buf), &found) || !found)
			return -1;
		*id = found->pw_uid;
	}
	return 0;
}

/* Set key @k to @v; returns NULL, or what is wrong with the value. */
static const char *set_own(struct createconf *cc, const char *k, const char *v)
{
	if (strcmp(k, "capacity") == 0) {
		static char why[80];

		cc->has_capacity = true;
		snprintf(why, sizeof(why), "not a whole number of accounts in "
			 "1..%u", (unsigned)ISO_CAPACITY_MAX);
		return parse_u32(v, 1, ISO_CAPACITY_MAX, &cc->capacity) < 0 ?
			why : NULL;
	}
	if (strcmp(k, "mode") == 0) {
		unsigned long m;
		char *end;

		cc->has_mode = true;
		if (v[0] < '0' || v[0] > '7')
			return "not an octal mode like 0640";
		errno = 0;
		m = strtoul(v, &end, 8);
		if (errno || *end || m > 0777)
			return "not an octal mode in 0..0777";
		if (m & 0002)
			return "other-writable: anyone on the host could halt "
			       "or shrink the segment; use 0640 or 0660";
		cc->mode = (unsigned)m;
		return NULL;
	}
	if (strcmp(k, "owner") == 0) {
		uint32_t id;

		cc->has_owner = true;
		if (parse_id(v, false, &id) < 0)
			return "no such user (a user name or a uid)";
		cc->owner = (uid_t)id;
		return NULL;
	}
	if (strcmp(k, "group") == 0) {
		uint32_t id;

		cc->has_group = true;
		if (parse_id(v, true, &id) < 0)
			return "no such group (a group name or a gid)";
		cc->group = (gid_t)id;
		return NULL;
	}
	if (strcmp(k, "events") == 0) {
		cc->has_events = true;
		if (parse_u32(v, 64, ISO_EVENTS_MAX, &cc->events) < 0 ||
		    (cc->events & (cc->events - 1)))
			return "not a power of two in 64..4194304";
		return NULL;
	}
	if (strcmp(k, "windows") == 0) {
		cc->has_windows = true;
		cc->windows = strcmp(v, "yes") == 0;
		return cc->windows || strcmp(v, "no") == 0 ? NULL :
			"not yes or no (the rolling-window region, 256 bytes "
			"per account)";
	}
	/* cooldown_ms */
	cc->has_cooldown = true;
	return parse_u32(v, 1, UINT32_MAX, &cc->cooldown_ms) < 0 ?
		"not a whole number of milliseconds, at least 1" : NULL;
}

static int bad(const char *prog, const char *path, int line, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));
static int bad(const char *prog, const char *path, int line, const char *fmt,
	       ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s line %d: ", prog, path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_USAGE;
}

static int parse_line(const char *prog, const char *path, int line, char *s,
		      struct createconf *cc, char seen[][64], int *nseen)
{
	char *eq, *k, *v;
	const char *why;
	bool own = false;

	s = trim(s);
	if (!*s || *s == '#')
		return CLI_EXIT_OK;
	eq = strchr(s, '=');
	if (!eq)
		return bad(prog, path, line, "'%.80s' is not key = value", s);
	*eq = '\0';
	k = trim(s);
	v = trim(eq + 1);
	if (!*k)
		return bad(prog, path, line, "no key before '='");
	if (strlen(k) >= 64)
		return bad(prog, path, line, "key '%.40s...' is too long", k);
	if (!*v)
		return bad(prog, path, line, "%s: no value", k);
	for (int i = 0; i < *nseen; i++)
		if (strcmp(seen[i], k) == 0)
			return bad(prog, path, line, "%s: given twice", k);
	if (*nseen >= CREATECONF_FIELDS_MAX + OWN_KEYS)
		return bad(prog, path, line, "too many keys");
	snprintf(seen[(*nseen)++], 64, "%s", k);

	for (int i = 0; own_keys[i]; i++)
		if (strcmp(own_keys[i], k) == 0)
			own = true;
	if (own) {
		why = set_own(cc, k, v);
		if (why)
			return bad(prog, path, line, "%s: '%.80s': %s", k, v, why);
		return CLI_EXIT_OK;
	}

	/* A breaker config field: the library's parser decides. */
	struct iso_config scratch;
	int rc;

	iso_config_default(&scratch);
	rc = iso_config_set(&scratch, k, v);
	if (rc < 0) {
		const char *detail = iso_last_error();

		bool unknown = detail && strstr(detail, "unknown field");

		return bad(prog, path, line, "%s: %s%s%s%s", k, iso_strerror(rc),
			   detail && *detail ? ": " : "", detail ? detail : "",
			   unknown ? "; or one of capacity mode owner group "
			   "events cooldown_ms windows" : "");
	}
	if (cc->nfields >= CREATECONF_FIELDS_MAX)
		return bad(prog, path, line, "too many config fields");
	if (asprintf(&cc->fields[cc->nfields], "%s=%s", k, v) < 0) {
		cli_error(prog, "%s: out of memory", path);
		return CLI_EXIT_RUNTIME;
	}
	cc->field_line[cc->nfields++] = line;
	return CLI_EXIT_OK;
}

int createconf_read(const char *prog, const char *path, struct createconf *cc)
{
	char seen[CREATECONF_FIELDS_MAX + OWN_KEYS][64];
	int nseen = 0, line = 0, rc = CLI_EXIT_OK;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	memset(cc, 0, sizeof(*cc));
	f = fopen(path, "re");
	if (!f) {
		cli_error(prog, "--config %s: %s", path, strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	while ((n = getline(&buf, &cap, f)) != -1) {
		line++;
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (n > LINE_MAX_BYTES) {
			rc = bad(prog, path, line, "longer than %d bytes",
				 LINE_MAX_BYTES);
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[i];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				rc = bad(prog, path, line, "control byte 0x%02x "
					 "at column %zd", ch, i + 1);
				break;
			}
		}
		if (rc != CLI_EXIT_OK)
			break;
		rc = parse_line(prog, path, line, buf, cc, seen, &nseen);
		if (rc != CLI_EXIT_OK)
			break;
	}
	if (rc == CLI_EXIT_OK && ferror(f)) {
		cli_error(prog, "--config %s: %s", path, strerror(errno));
		rc = CLI_EXIT_RUNTIME;
	}
	free(buf);
	fclose(f);
	if (rc != CLI_EXIT_OK)
		createconf_free(cc);
	return rc;
}

void createconf_free(struct createconf *cc)
{
	for (int i = 0; i < cc->nfields; i++)
		free(cc->fields[i]);
	cc->nfields = 0;
}

int createconf_become(const char *prog, const struct createconf *cc)
{
	uid_t uid = cc->has_owner ? cc->owner : geteuid();
	gid_t gid = getegid();

	if (cc->has_group) {
		gid = cc->group;
	} else if (cc->has_owner) {
		struct passwd pw, *found = NULL;
		char buf[4096];

		if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) || !found) {
			cli_error(prog, "owner %u has no passwd entry to take "
				  "its group from: give group =", (unsigned)uid);
			return CLI_EXIT_RUNTIME;
		}
		gid = found->pw_gid;
	}
	if (uid == geteuid() && gid == getegid())
		return CLI_EXIT_OK;
	if (geteuid() != 0) {
		cli_error(prog, "owner uid %u, group gid %u: creating the segment "
			  "as another user or group needs root (isoctl then "
			  "becomes them before creating); you are uid %u gid %u",
			  (unsigned)uid, (unsigned)gid, (unsigned)geteuid(),
			  (unsigned)getegid());
		return CLI_EXIT_RUNTIME;
	}
	/* Group first, while still root; all three ids, no way back. */
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		cli_error(prog, "becoming uid %u gid %u: %s", (unsigned)uid,
			  (unsigned)gid, strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}
