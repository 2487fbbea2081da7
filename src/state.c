/*
 * state.c - operators' durable intent [R8]: halts (of accounts and of
 * brokers) and config overrides (per account and the segment default),
 * kept in a plain-text file per segment that outlives the segment, and
 * applied to a new segment before it is linked into place, so no trader
 * can act between its creation and the operators' intent.
 *
 *   $ISOREG_STATE_DIR/<segment name without '/'>.state  (default dir
 *   /var/lib/isoreg), one entry a line, '#' comments, for example:
 *
 *   halt user/user1/KRAKEN uid=1000 at=1764489600000 reason="maintenance"
 *   halt-broker KRAKEN uid=0 at=1764489600000 reason="exchange outage"
 *   config user/user1/KRAKEN uid=0 at=... failure_threshold=3 ...
 *   defaults uid=0 at=... failure_threshold=5 ...
 *
 * Written whole and atomically (a new file beside it, fsync, rename, fsync
 * of the directory) under an flock of the directory, so two
 * operators never lose each other's lines and a reader never sees half a
 * file. A malformed file is refused with its line and field named, and a
 * segment is then not created at all rather than created half-configured.
 *
 * Must never: touch the hot path, or apply anything but whole entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define LINE_MAX_LEN 1024
#define PATH_MAX_LEN 4096

const char *iso_state_dir(void)
{
	const char *d = getenv("ISOREG_STATE_DIR");
	return d && *d ? d : ISO_STATE_DIR_DEFAULT;
}

int iso_state_path(const char *name, char *buf, size_t len)
{
	if (!name || name[0] != '/' || !name[1] || strchr(name + 1, '/') || !buf)
		return iso_fail(ISO_EINVAL, "state path: segment name '%s' must "
				"be /NAME", name ? name : "(null)");
	int n = snprintf(buf, len, "%s/%s.state", iso_state_dir(), name + 1);
	if (n < 0 || (size_t)n >= len)
		return iso_fail(ISO_EINVAL, "state path for %s: longer than %zu "
				"bytes", name, len);
	return 0;
}

static const char *const kind_word[] = {
	[ISO_STATE_HALT] = "halt",
	[ISO_STATE_HALT_BROKER] = "halt-broker",
	[ISO_STATE_CONFIG] = "config",
	[ISO_STATE_DEFAULTS] = "defaults",
};

/* ------------------------------------------------------------ format */

static void mask_text(uint32_t m, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		if (m & ISO_FAIL_MASK(t))
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "",
					      iso_failure_type_name((enum iso_failure_type)t));
	if (!o)
		snprintf(buf, len, "none");
}

static void config_text(const struct iso_config *c, char *buf, size_t len)
{
	char trip[128], ign[128];
	mask_text(c->trip_on, trip, sizeof(trip));
	mask_text(c->ignore, ign, sizeof(ign));
	snprintf(buf, len, "failure_threshold=%u success_threshold=%u "
		 "half_open_max_calls=%u degrade_after=%u open_timeout_ms=%u "
		 "max_open_timeout_ms=%u probe_timeout_ms=%u trip_on=%s "
		 "ignore=%s observe_only=%d", c->failure_threshold,
		 c->success_threshold, c->half_open_max_calls, c->degrade_after,
		 c->open_timeout_ms, c->max_open_timeout_ms, c->probe_timeout_ms,
		 trip, ign, (c->flags & ISO_CFG_OBSERVE_ONLY) ? 1 : 0);
}

static int entry_text(const struct iso_state_entry *e, char *buf, size_t len)
{
	char key[ISO_KEY_STR_MAX + 1] = "", cfg[512] = "";
	if (e->kind == ISO_STATE_HALT || e->kind == ISO_STATE_CONFIG)
		iso_key_format(&e->key, key, sizeof(key));
	if (e->kind == ISO_STATE_CONFIG || e->kind == ISO_STATE_DEFAULTS)
		config_text(&e->config, cfg, sizeof(cfg));
	const char *subject = e->kind == ISO_STATE_HALT_BROKER ? e->broker : key;
	int n = snprintf(buf, len, "%s%s%s uid=%u at=%" PRId64 "%s%s%s%s%s\n",
			 kind_word[e->kind], *subject ? " " : "", subject, e->uid,
			 e->time_ms, *cfg ? " " : "", cfg,
			 e->reason[0] ? " reason=\"" : "", e->reason,
			 e->reason[0] ? "\"" : "");
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* ------------------------------------------------------------- parse */

/* Take the next token of @p: a word, or key="quoted text"; NULL at end. */
static char *token(char **p)
{
	char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return NULL;
	char *t = s;
	bool quoted = false;
	while (*s && (quoted || (*s != ' ' && *s != '\t'))) {
		if (*s == '"')
			quoted = !quoted;
		s++;
	}
	if (*s)
		*s++ = '\0';
	*p = s;
	return t;
}

static int parse_line(const char *path, int lineno, char *line,
		      struct iso_state_entry *e)
{
	char *p = line, *w = token(&p);
	int rc;
	memset(e, 0, sizeof(*e));
	iso_config_default(&e->config);
	int k;
	for (k = 0; k <= ISO_STATE_DEFAULTS; k++)
		if (!strcmp(w, kind_word[k]))
			break;
	if (k > ISO_STATE_DEFAULTS)
		return iso_fail(ISO_EINVAL, "%s line %d: '%s' is not an entry "
				"(halt, halt-broker, config, defaults)", path,
				lineno, w);
	e->kind = (enum iso_state_kind)k;
	if (e->kind == ISO_STATE_HALT || e->kind == ISO_STATE_CONFIG) {
		char *key = token(&p);
		if (!key || (rc = iso_key_parse(key, &e->key)))
			return iso_fail(ISO_EINVAL, "%s line %d: %s needs an account "
					"key: %s", path, lineno, w,
					key ? iso_last_error() : "missing");
	} else if (e->kind == ISO_STATE_HALT_BROKER) {
		char *b = token(&p);
		struct iso_key kb;
		if (!b || iso_key_make("x", "x", b, &kb))
			return iso_fail(ISO_EINVAL, "%s line %d: halt-broker needs "
					"a broker: %s", path, lineno,
					b ? iso_last_error() : "missing");
		memcpy(e->broker, kb.broker, sizeof(e->broker));
	}
	for (char *t; (t = token(&p));) {
		char *eq = strchr(t, '=');
		if (!eq)
			return iso_fail(ISO_EINVAL, "%s line %d: '%s' is not "
					"field=value", path, lineno, t);
		*eq = '\0';
		char *v = eq + 1, *end;
		if (!strcmp(t, "uid")) {
			unsigned long u = strtoul(v, &end, 10);
			if (*v < '0' || *v > '9' || *end || u > UINT32_MAX)
				return iso_fail(ISO_EINVAL, "%s line %d: field uid: "
						"'%s' is not a uid", path, lineno, v);
			e->uid = (uint32_t)u;
		} else if (!strcmp(t, "at")) {
			long long a = strtoll(v, &end, 10);
			if (*v < '0' || *v > '9' || *end)
				return iso_fail(ISO_EINVAL, "%s line %d: field at: "
						"'%s' is not Unix ms", path, lineno, v);
			e->time_ms = a;
		} else if (!strcmp(t, "reason")) {
			size_t n = strlen(v);
			if (n < 2 || v[0] != '"' || v[n - 1] != '"' ||
			    memchr(v + 1, '"', n - 2) || n - 2 > ISO_OP_REASON_MAX)
				return iso_fail(ISO_EINVAL, "%s line %d: field reason: "
						"a \"quoted\" text of at most %u "
						"bytes, without quotes inside", path,
						lineno, ISO_OP_REASON_MAX);
			memcpy(e->reason, v + 1, n - 2);
		} else if (e->kind == ISO_STATE_CONFIG || e->kind == ISO_STATE_DEFAULTS) {
			if (!strcmp(t, "trip_on") || !strcmp(t, "ignore"))
				if (!strcmp(v, "none"))
					v = (char *)"";
			if (*v == '\0') {
				if (!strcmp(t, "trip_on"))
					e->config.trip_on = 0;
				else if (!strcmp(t, "ignore"))
					e->config.ignore = 0;
				else
					return iso_fail(ISO_EINVAL, "%s line %d: "
							"field %s: empty", path,
							lineno, t);
			} else if ((rc = iso_config_set(&e->config, t, v))) {
				return iso_fail(ISO_EINVAL, "%s line %d: field %s: "
						"%s", path, lineno, t, iso_last_error());
			}
		} else {
			return iso_fail(ISO_EINVAL, "%s line %d: field '%s' does "
					"not belong on a %s line", path, lineno, t,
					kind_word[e->kind]);
		}
	}
	if ((e->kind == ISO_STATE_CONFIG || e->kind == ISO_STATE_DEFAULTS) &&
	    (rc = iso_config_validate(&e->config)))
		return iso_fail(ISO_EINVAL, "%s line %d: %s", path, lineno,
				iso_last_error());
	return 0;
}

int iso_state_foreach(const char *path, iso_state_fn fn, void *ctx)
{
	char line[LINE_MAX_LEN + 2];
	int lineno = 0, rc = 0;
	if (!path || !fn)
		return iso_fail(ISO_EINVAL, "iso_state_foreach: NULL argument");
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* no intent recorded: nothing to apply */
		return iso_fail(errno == EACCES ? ISO_EPERM : ISO_ESYS,
				"operator state file %s: %s (halts and configs "
				"in it would be lost, so nothing proceeds)", path,
				strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return iso_fail(ISO_EPERM, "operator state file %s is not a "
				"regular file", path);
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return iso_fail(ISO_ESYS, "reading %s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t n = strlen(line);
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			rc = iso_fail(ISO_EINVAL, "%s line %d: longer than %d bytes",
				      path, lineno, LINE_MAX_LEN);
			break;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
				rc = iso_fail(ISO_EINVAL, "%s line %d: control byte "
					      "0x%02x at column %zu", path, lineno,
					      (unsigned char)line[i], i + 1);
				goto out;
			}
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		struct iso_state_entry e;
		if ((rc = parse_line(path, lineno, s, &e)) || (rc = fn(&e, ctx)))
			break;
	}
out:
	fclose(f);
	return rc;
}

/* ------------------------------------------------------------- write */

struct collect {
	struct iso_state_entry *v;
	size_t n, cap;
};

static int collect_one(const struct iso_state_entry *e, void *ctx)
{
	struct collect *c = ctx;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		void *v = realloc(c->v, cap * sizeof(*c->v));
		if (!v)
			return iso_fail(ISO_ENOMEM, "reading state: out of memory");
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *e;
	return 0;
}

static bool same_subject(const struct iso_state_entry *a,
			 const struct iso_state_entry *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case ISO_STATE_HALT:
	case ISO_STATE_CONFIG:
		return !strcmp(a->key.type, b->key.type) &&
		       !strcmp(a->key.id, b->key.id) &&
		       !strcmp(a->key.broker, b->key.broker);
	case ISO_STATE_HALT_BROKER:
		return !strcmp(a->broker, b->broker);
	default:
		return true;
	}
}

/* Write @c whole to @path: a new file beside it, fsync, rename, fsync of
 * the directory. */
static int write_all(const char *path, const struct collect *c)
{
	char tmp[PATH_MAX_LEN], line[LINE_MAX_LEN];
	int n = snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return iso_fail(ISO_EINVAL, "state path %s too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0644);
	if (fd < 0)
		return iso_fail(errno == EACCES ? ISO_EPERM : ISO_ESYS,
				"writing operator state %s: %s", tmp,
				strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return iso_fail(ISO_ESYS, "writing %s: %s", tmp, strerror(errno));
	}
	fprintf(f, "# isoreg operator state: halts and config overrides, "
		"applied when the segment\n# is created, before any trader can "
		"attach. Written by isoctl; edit with care\n# and check with "
		"`isoctl state`. One entry a line:\n#   halt KEY | halt-broker "
		"BROKER | config KEY | defaults, then uid= at= [fields] "
		"[reason=\"...\"]\n");
	for (size_t i = 0; i < c->n; i++) {
		if (entry_text(&c->v[i], line, sizeof(line)) < 0) {
			fclose(f);
			unlink(tmp);
			return iso_fail(ISO_EINVAL, "state entry too long");
		}
		fputs(line, f);
	}
	if (fflush(f) || fsync(fileno(f)) || ferror(f)) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		return iso_fail(ISO_ESYS, "writing %s: %s", tmp, strerror(e));
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return iso_fail(ISO_ESYS, "renaming %s to %s: %s", tmp, path,
				strerror(e));
	}
	int dfd = open(iso_state_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Read, change, write, under an exclusive flock of the state directory
 * (operators only, and rare: one lock for every segment's file is fine,
 * and leaves no lock file behind). */
static int change(const char *path, const struct iso_state_entry *put,
		  const struct iso_state_entry *drop)
{
	struct collect c = { 0 };
	int rc, found = 0;
	if (!path)
		return iso_fail(ISO_EINVAL, "operator state: path is NULL");
	if (mkdir(iso_state_dir(), 0755) < 0 && errno != EEXIST)
		return iso_fail(errno == EACCES ? ISO_EPERM : ISO_ESYS,
				"creating the state directory %s: %s "
				"(set ISOREG_STATE_DIR to one you may write)",
				iso_state_dir(), strerror(errno));
	int lfd = open(iso_state_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return iso_fail(errno == EACCES ? ISO_EPERM : ISO_ESYS,
				"locking the state directory %s: %s",
				iso_state_dir(), strerror(errno));
	/* Operators only, never a trader's path: waiting here is fine. */
	flock(lfd, LOCK_EX);
	if ((rc = iso_state_foreach(path, collect_one, &c)))
		goto out;
	for (size_t i = 0; i < c.n;) {
		const struct iso_state_entry *key = put ? put : drop;
		if (same_subject(&c.v[i], key)) {
			found++;
			memmove(&c.v[i], &c.v[i + 1], (c.n - i - 1) * sizeof(c.v[0]));
			c.n--;
		} else {
			i++;
		}
	}
	if (drop && !found) {
		rc = ISO_ENOENT; /* nothing recorded: nothing to write */
		goto out;
	}
	if (put && (rc = collect_one(put, &c)))
		goto out;
	rc = write_all(path, &c);
out:
	free(c.v);
	close(lfd);
	return rc;
}

int iso_state_put(const char *path, const struct iso_state_entry *e)
{
	if (!e || (unsigned)e->kind > ISO_STATE_DEFAULTS)
		return iso_fail(ISO_EINVAL, "iso_state_put: bad entry");
	return change(path, e, NULL);
}

int iso_state_remove(const char *path, const struct iso_state_entry *e)
{
	if (!e || (unsigned)e->kind > ISO_STATE_DEFAULTS)
		return iso_fail(ISO_EINVAL, "iso_state_remove: bad entry");
	return change(path, NULL, e);
}

/* ------------------------------------------------------------- apply */

static int apply_one(const struct iso_state_entry *e, void *ctx)
{
	iso_reg_t *reg = ctx;
	iso_account_t a;
	struct iso_op op = { .reason = e->reason };
	int rc;
	switch (e->kind) {
	case ISO_STATE_DEFAULTS:
		return iso_configure_default_op(reg, &e->config, &op);
	case ISO_STATE_HALT_BROKER:
		rc = iso_halt_broker(reg, e->broker, &op);
		return rc == ISO_EEXIST ? 0 : rc;
	case ISO_STATE_HALT:
		if ((rc = iso_register_key(reg, &e->key, &a)))
			return rc;
		rc = iso_halt(&a, &op);
		return rc == ISO_EEXIST ? 0 : rc;
	case ISO_STATE_CONFIG:
		if ((rc = iso_register_key(reg, &e->key, &a)))
			return rc;
		return iso_configure_op(&a, &e->config, &op);
	}
	return 0;
}

int iso_state_apply(iso_reg_t *reg, const char *path)
{
	return iso_state_foreach(path, apply_one, reg);
}
