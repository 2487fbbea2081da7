/*
 * state_write.c - writing the operators' state file (state.c reads it):
 * every change rewrites the file whole and atomically (a new file beside
 * it, fsync, rename, fsync of the directory) under an flock of the
 * directory, so two operators never lose each other's lines and a reader
 * never sees half a file.
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
		 "ignore=%s observe_only=%d rate_per_s=%.9g burst=%u",
		 c->failure_threshold,
		 c->success_threshold, c->half_open_max_calls, c->degrade_after,
		 c->open_timeout_ms, c->max_open_timeout_ms, c->probe_timeout_ms,
		 trip, ign, (c->flags & ISO_CFG_OBSERVE_ONLY) ? 1 : 0,
		 c->rate_per_s, c->burst);
	/* [B7] only when not the defaults: older readers and state files
	 * without windows stay as they were. */
	if (c->window_ms || c->min_calls != 10 || c->failure_rate_threshold ||
	    c->slow_call_ms || c->slow_call_rate_threshold) {
		size_t o = strlen(buf);
		snprintf(buf + o, len - o, " window_ms=%u min_calls=%u "
			 "failure_rate_threshold=%u slow_call_ms=%u "
			 "slow_call_rate_threshold=%u", c->window_ms,
			 c->min_calls, c->failure_rate_threshold,
			 c->slow_call_ms, c->slow_call_rate_threshold);
	}
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
			 iso_state_kind_word[e->kind], *subject ? " " : "", subject, e->uid,
			 e->time_ms, *cfg ? " " : "", cfg,
			 e->reason[0] ? " reason=\"" : "", e->reason,
			 e->reason[0] ? "\"" : "");
	return n < 0 || (size_t)n >= len ? -1 : n;
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

