/*
 * test_state.c - operators' intent outlives the segment [R8]: halts (of
 * accounts and brokers) and configs, kept in the state file, are in force
 * in a segment created again before any trader can act; a malformed file
 * is refused with its line and field, and no segment is created.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isoreg.h"
#include "support/util.h"

static char dir[64], path[256];
static const char *seg;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/isoreg-state-%d", (int)getpid());
	mkdir(dir, 0700);
	setenv("ISOREG_STATE_DIR", dir, 1);
	seg = tu_segment("state");
	iso_unlink(seg);
	cr_assert_eq(iso_state_path(seg, path, sizeof(path)), 0);
}

static void teardown(void)
{
	char cmd[128];
	iso_unlink(seg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

TestSuite(state, .init = setup, .fini = teardown);

/* Count the entries. */
static int fn(const struct iso_state_entry *e, void *ctx)
{
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

static iso_reg_t *create(void)
{
	iso_reg_t *r = NULL;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE, .capacity = 16 };
	int rc = iso_attach(seg, &o, &r);
	cr_assert_eq(rc, 0, "create: %s", iso_last_error());
	return r;
}

static struct iso_state_entry entry(enum iso_state_kind k, const char *key,
				    const char *reason)
{
	struct iso_state_entry e = { .kind = k, .uid = (uint32_t)getuid(),
				     .time_ms = 1764489600000 };
	iso_config_default(&e.config);
	if (key && k != ISO_STATE_HALT_BROKER)
		cr_assert_eq(iso_key_parse(key, &e.key), 0);
	if (key && k == ISO_STATE_HALT_BROKER)
		snprintf(e.broker, sizeof(e.broker), "%s", key);
	if (reason)
		snprintf(e.reason, sizeof(e.reason), "%s", reason);
	return e;
}

Test(state, halts_and_configs_survive_losing_the_segment)
{
	struct iso_state_entry h = entry(ISO_STATE_HALT, "user/u1/KRAKEN", "maintenance"),
			       b = entry(ISO_STATE_HALT_BROKER, "COINBASE", "outage"),
			       c = entry(ISO_STATE_CONFIG, "user/u2/KRAKEN", NULL),
			       d = entry(ISO_STATE_DEFAULTS, NULL, "tighter");
	c.config.failure_threshold = 9;
	d.config.open_timeout_ms = 7000;
	d.config.max_open_timeout_ms = 70000;
	cr_assert_eq(iso_state_put(path, &h), 0, "%s", iso_last_error());
	cr_assert_eq(iso_state_put(path, &b), 0);
	cr_assert_eq(iso_state_put(path, &c), 0);
	cr_assert_eq(iso_state_put(path, &d), 0);

	/* A reboot, or an unlink: the next creator, here a trader's
	 * create-or-attach, applies all of it before linking the segment. */
	iso_reg_t *r = create();
	iso_account_t a;
	iso_permit_t p;
	struct iso_status st;
	cr_assert_eq(iso_lookup(r, "user", "u1", "KRAKEN", &a), 0, "the halted account is there");
	cr_expect_eq(iso_acquire(&a, &p), ISO_EOPEN, "a halt was lost with the segment");
	cr_assert_eq(iso_register(r, "user", "c9", "COINBASE", &a), 0);
	cr_expect_eq(iso_acquire(&a, &p), ISO_EOPEN, "a broker halt was lost");
	cr_assert_eq(iso_lookup(r, "user", "u2", "KRAKEN", &a), 0);
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.config.failure_threshold, 9);
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(r, &info), 0);
	cr_expect_eq(info.defaults.open_timeout_ms, 7000);
	/* The events say who and why. */
	struct iso_event ev[32];
	uint64_t cur = 0;
	int n = iso_events_read(r, &cur, ev, 32, NULL), halts = 0;
	for (int i = 0; i < n; i++)
		if (ev[i].cause == ISO_CAUSE_FORCE_OPEN &&
		    !strcmp(ev[i].reason, "maintenance"))
			halts++;
	cr_expect_eq(halts, 1);
	iso_detach(r);
}

Test(state, put_replaces_and_remove_drops)
{
	struct iso_state_entry h = entry(ISO_STATE_HALT, "user/u1/KRAKEN", "first");
	cr_assert_eq(iso_state_put(path, &h), 0);
	snprintf(h.reason, sizeof(h.reason), "second");
	cr_assert_eq(iso_state_put(path, &h), 0);
	int count = 0;
	cr_assert_eq(iso_state_foreach(path, fn, &count), 0);
	cr_expect_eq(count, 1, "the halt is recorded %d times", count);
	cr_assert_eq(iso_state_remove(path, &h), 0);
	cr_expect_eq(iso_state_remove(path, &h), ISO_ENOENT);
	count = 0;
	cr_assert_eq(iso_state_foreach(path, fn, &count), 0);
	cr_expect_eq(count, 0);
}

Test(state, a_malformed_file_refuses_creation_naming_line_and_field)
{
	const char *bad[] = {
		"halt user/u1/KRAKEN uid=0 at=1\nconfig user/u2/KRAKEN failure_treshold=3\n",
		"halt user/u1 uid=0\n",
		"defaults failure_threshold=0\n",
		"halt-broker KRAKEN reason=\"unterminated\n",
		"resume user/u1/KRAKEN\n",
	};
	const char *want[] = { "line 2: field failure_treshold", "line 1: halt needs",
			       "line 1: field failure_threshold", "line 1: field reason",
			       "line 1: 'resume'" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(bad[i], f);
		fclose(f);
		iso_reg_t *r = NULL;
		struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE, .capacity = 16 };
		cr_expect_eq(iso_attach(seg, &o, &r), ISO_EINVAL, "case %zu", i);
		cr_expect(strstr(iso_last_error(), want[i]), "case %zu: %s", i,
			  iso_last_error());
		cr_expect_eq(iso_attach(seg, NULL, &r), ISO_ENOENT,
			     "case %zu: a half-configured segment exists", i);
	}
}

/*
 * [B7] a window in the operators' state makes the window region however
 * the segment is recreated: a fleet restarted after a reboot must come
 * back, and with the account's window.
 */
Test(state, a_window_in_the_state_makes_the_region_at_creation)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("config user/w1/KRAKEN uid=0 at=1 window_ms=60000 "
	      "failure_rate_threshold=50\n", f);
	fclose(f);
	iso_reg_t *r = NULL;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE, .capacity = 16 };
	cr_assert_eq(iso_attach(seg, &o, &r), 0, "%s", iso_last_error());
	struct iso_segment_info in;
	cr_assert_eq(iso_segment_info(r, &in), 0);
	cr_expect(in.windows, "no window region");
	struct iso_status st;
	cr_assert_eq(iso_status_by_key(r, "user", "w1", "KRAKEN", &st), 0,
		     "%s", iso_last_error());
	cr_expect_eq(st.config.window_ms, 60000);
	cr_expect_eq(st.config.failure_rate_threshold, 50);
	iso_detach(r);
}

/* Concurrent operators lose nothing: 4 processes record 25 halts each. */
Test(state, concurrent_writers_lose_no_entry)
{
	pid_t pids[4];
	for (int w = 0; w < 4; w++) {
		pids[w] = fork();
		cr_assert_geq(pids[w], 0);
		if (pids[w] == 0) {
			for (int i = 0; i < 25; i++) {
				char key[64];
				snprintf(key, sizeof(key), "user/w%d-%d/KRAKEN", w, i);
				struct iso_state_entry h = { .kind = ISO_STATE_HALT };
				if (iso_key_parse(key, &h.key) || iso_state_put(path, &h))
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int w = 0; w < 4; w++)
		cr_assert_eq(tu_wait(pids[w]), 0);
	int count = 0;
	cr_assert_eq(iso_state_foreach(path, fn, &count), 0);
	cr_expect_eq(count, 100);
}
