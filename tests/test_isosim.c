/*
 * test_isosim.c - isosim [T4] run for real: a fleet of trader processes on
 * a unique segment, time compressed (--speed 10), one scenario each. The
 * verdict is read twice: from isosim's own report and exit status, and from
 * the registry afterwards (iso_status of every account): the faulted
 * accounts were quarantined at some point, every other account traded and
 * never tripped.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"
#include "../tools/common/clock.h"

#define RUN_TIMEOUT_MS 30000

static const char *isosim_path(void)
{
	static char path[4096];
	const char *dir = getenv("ISOREG_BIN");

	snprintf(path, sizeof(path), "%s/isosim",
		 dir && *dir ? dir : "build/bin");
	return path;
}

/* The segment of the running test, removed by the fini even when an
 * assertion ends the test early. */
static char current_seg[64];

static void segname(char *buf, size_t len, const char *what)
{
	static unsigned n;

	snprintf(buf, len, "/isoreg-test-isosim-%s-%d-%u", what, (int)getpid(),
		 n++);
	snprintf(current_seg, sizeof(current_seg), "%s", buf);
}

static void remove_segment(void)
{
	if (current_seg[0])
		iso_unlink(current_seg);
}

TestSuite(isosim, .fini = remove_segment);

/*
 * Runs isosim with @args (NULL-terminated), stdout and stderr into one
 * malloc'ed string *@out. Returns its exit code, or -1 if it was killed by
 * a signal or ran past RUN_TIMEOUT_MS.
 */
static int run_isosim(const char *const *args, char **out)
{
	const char *argv[32];
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	uint64_t deadline = tc_mono_ms() + RUN_TIMEOUT_MS;
	int fds[2], argc = 0, status;
	pid_t pid;

	cr_assert_not_null(buf);
	argv[argc++] = isosim_path();
	while (*args && argc < 31)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		int64_t left = (int64_t)(deadline - tc_mono_ms());
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (len + 4096 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		n = read(fds[0], buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fds[0]);
	buf[len] = '\0';
	*out = buf;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Returns how many "outside:" lines the report has, after checking that
 * each says "none" (no account outside the faulted set was blocked). */
static int outside_lines(const char *out)
{
	const char *p = out;
	int n = 0;

	while ((p = strstr(p, "outside:")) != NULL) {
		p += strlen("outside:");
		p += strspn(p, " ");
		cr_expect_eq(strncmp(p, "none", 4), 0, "blocked outside: %.80s",
			     p);
		n++;
	}
	return n;
}

/* Runs one scenario on @seg, time compressed, and checks the verdict. */
static char *run_scenario(const char *seg, const char *scenario)
{
	const char *args[] = { "--segment", seg, "--scenario", scenario,
			       "--accounts", "9", "--procs", "3",
			       "--speed", "10", "--duration", "1.5",
			       "--quiet", "--keep", NULL };
	char *out;
	int rc = run_isosim(args, &out);

	cr_assert_eq(rc, 0, "isosim --scenario %s exited %d:\n%s", scenario,
		     rc, out);
	cr_assert_not_null(strstr(out, "result: PASS"), "%s", out);
	cr_assert_not_null(strstr(out, "isolation guarantee  ACTIVE"), "%s",
			   out);
	cr_assert_eq(outside_lines(out), 1, "%s", out);
	return out;
}

struct expect {
	bool (*faulted)(const struct iso_key *key);
	int type;          /* failure type the faulted accounts saw; -1 none */
	unsigned seen;     /* accounts visited */
	unsigned faulted_n;
};

static int check_account(const struct iso_status *st, void *ctx)
{
	struct expect *e = ctx;
	char name[ISO_KEY_STR_MAX + 1];

	iso_key_format(&st->key, name, sizeof(name));
	e->seen++;
	/* Everyone traded, the faulted ones too once they recovered. */
	cr_expect_gt(st->successes, 0, "%s never succeeded", name);
	if (e->faulted(&st->key)) {
		e->faulted_n++;
		cr_expect_gt(st->quarantines, 0, "%s was never quarantined",
			     name);
		if (e->type >= 0)
			cr_expect_gt(st->failures_by_type[e->type], 0,
				     "%s saw no %s failure", name,
				     iso_failure_type_name(e->type));
	} else {
		cr_expect_eq(st->failures, 0, "%s failed %llu times", name,
			     (unsigned long long)st->failures);
		cr_expect_eq(st->quarantines, 0, "%s was quarantined", name);
	}
	return 0;
}

/* Reads the segment isosim left behind, checks it, and removes it. */
static void check_segment(const char *seg, struct expect *e,
			  unsigned faulted_n)
{
	struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
	iso_reg_t *reg;
	int rc = iso_attach(seg, &ro, &reg);

	cr_assert_eq(rc, 0, "attach %s: %s", seg, iso_last_error());
	cr_assert_eq(iso_foreach(reg, check_account, e), 0);
	cr_expect_eq(e->seen, 9);
	cr_expect_eq(e->faulted_n, faulted_n);
	iso_detach(reg);
	iso_unlink(seg);
}

static bool is_key(const struct iso_key *k, const char *s)
{
	char name[ISO_KEY_STR_MAX + 1];

	iso_key_format(k, name, sizeof(name));
	return strcmp(name, s) == 0;
}

static bool user1_kraken(const struct iso_key *k)
{
	return is_key(k, "user/user1/KRAKEN");
}

static bool platform_coinbase(const struct iso_key *k)
{
	return is_key(k, "platform/main/COINBASE");
}

static bool any_kraken(const struct iso_key *k)
{
	return strcmp(k->broker, "KRAKEN") == 0;
}

static bool nobody(const struct iso_key *k)
{
	(void)k;
	return false;
}

static bool user2_coinbase(const struct iso_key *k)
{
	return is_key(k, "user/user2/COINBASE");
}

/* [T4] Reference Scenario 1: a user account fails, the platform continues. */
Test(isosim, scenario1_quarantines_only_user1_kraken)
{
	char seg[64];
	struct expect e = { .faulted = user1_kraken, .type = ISO_FAIL_API };

	segname(seg, sizeof(seg), "s1");
	free(run_scenario(seg, "scenario1"));
	check_segment(seg, &e, 1);
}

/* [T4] Reference Scenario 2: the platform account fails, users continue. */
Test(isosim, scenario2_quarantines_only_platform_coinbase)
{
	char seg[64];
	struct expect e = { .faulted = platform_coinbase,
			    .type = ISO_FAIL_NETWORK };

	segname(seg, sizeof(seg), "s2");
	free(run_scenario(seg, "scenario2"));
	check_segment(seg, &e, 1);
}

/* [T4] A broker-wide outage trips every account of that broker, and only
 * those (9 accounts: KRAKEN has platform, user1, user2, user3). */
Test(isosim, broker_outage_quarantines_every_kraken_account_only)
{
	char seg[64];
	struct expect e = { .faulted = any_kraken, .type = -1 };

	segname(seg, sizeof(seg), "outage");
	free(run_scenario(seg, "broker-outage"));
	check_segment(seg, &e, 4);
}

/* [T4][S6] A trader SIGKILLed mid-operation is restarted and nobody else
 * is blocked or tripped. */
Test(isosim, kill_scenario_kills_and_restarts_a_trader)
{
	char seg[64], *out, *p;
	unsigned long kills = 0, mid = 0, restarts = 0, others = 0;
	struct expect e = { .faulted = nobody, .type = -1 };

	segname(seg, sizeof(seg), "kill");
	out = run_scenario(seg, "kill");
	p = strstr(out, "kills:");
	cr_assert_not_null(p, "%s", out);
	cr_assert_eq(sscanf(p, "kills: %lu (%lu mid-operation), restarts %lu, "
			       "the others made %lu",
			    &kills, &mid, &restarts, &others), 4, "%s", p);
	cr_expect_geq(kills, 1, "%s", out);
	cr_expect_eq(restarts, kills, "%s", out);
	/* The other traders kept trading while the victim was down. */
	cr_expect_gt(others, 0, "%s", out);
	free(out);
	check_segment(seg, &e, 0);
}

/* [T4][B1] On an existing segment with the SPEC defaults (driven with
 * --attach-existing), isosim gives the accounts it registers its own
 * config, and the auth account trips on AUTHENTICATION. */
Test(isosim, auth_on_existing_segment_trips_at_once)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE };
	struct expect e = { .faulted = user2_coinbase,
			    .type = ISO_FAIL_AUTHENTICATION };
	struct iso_status st;
	char seg[64];
	iso_reg_t *reg;

	segname(seg, sizeof(seg), "auth");
	cr_assert_eq(iso_attach(seg, &opts, &reg), 0, "%s", iso_last_error());
	iso_detach(reg);
	{
		const char *args[] = { "--attach-existing", seg, "--scenario",
				       "auth", "--accounts", "9", "--procs", "3",
				       "--speed", "10", "--duration", "1.5",
				       "--quiet", NULL };
		char *out;
		int rc = run_isosim(args, &out);

		cr_assert_eq(rc, 0, "exited %d:\n%s", rc, out);
		cr_assert_not_null(strstr(out, "result: PASS"), "%s", out);
		free(out);
	}

	cr_assert_eq(iso_attach(seg, NULL, &reg), 0);
	cr_assert_eq(iso_status_by_key(reg, "user", "user2", "COINBASE", &st),
		     0);
	cr_expect(st.config_override);
	cr_expect(st.config.trip_on &
		  ISO_FAIL_MASK(ISO_FAIL_AUTHENTICATION));
	cr_expect_lt(st.config.open_timeout_ms, 300000u);
	iso_detach(reg);
	check_segment(seg, &e, 1);
}

/* Bad options are usage errors (2) naming the option; nothing is created. */
Test(isosim, bad_options_are_usage_errors)
{
	static const char *const cases[][3] = {
		{ "--speed", "0", "--speed" },
		{ "--speed", "fast", "--speed" },
		{ "--scenario", "meteor", "meteor" },
		{ "--accounts", "5", "--accounts" },
		{ "--procs", "0", "--procs" },
		{ "--duration", "-1", "--duration" },
		{ "--bogus", NULL, "--bogus" },
		{ "--segment", "no-slash", "--segment" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { cases[i][0], cases[i][1], NULL };
		char *out;
		int rc = run_isosim(args, &out);

		cr_expect_eq(rc, 2, "%s %s exited %d: %s", cases[i][0],
			     cases[i][1] ? cases[i][1] : "", rc, out);
		cr_expect_not_null(strstr(out, cases[i][2]), "%s", out);
		free(out);
	}
}

/* ------------------------------------------------- issue 13, items 1, 2 */

static bool shm_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/%s", name + 1);
	return access(path, F_OK) == 0;
}

/* A segment standing for production: one account halted by an operator
 * with a config of its own. */
static void production(const char *seg)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL };
	struct iso_config cfg;
	iso_account_t a;
	iso_reg_t *reg;

	cr_assert_eq(iso_attach(seg, &opts, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "user1", "KRAKEN", &a), 0);
	iso_config_default(&cfg);
	cfg.failure_threshold = 9;
	cr_assert_eq(iso_configure(&a, &cfg), 0);
	cr_assert_eq(iso_force_open(&a), 0);
	iso_detach(reg);
}

/* The halted account is still halted, untouched, with its own config; and
 * the segment holds @live accounts. */
static void production_intact(const char *seg, uint32_t live)
{
	struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
	struct iso_segment_info info;
	struct iso_status st;
	iso_reg_t *reg;

	cr_assert_eq(iso_attach(seg, &ro, &reg), 0, "%s: %s", seg, iso_last_error());
	cr_assert_eq(iso_status_by_key(reg, "user", "user1", "KRAKEN", &st), 0);
	cr_expect_eq(st.breaker, ISO_BREAKER_FORCED_OPEN, "the halt was lifted: %s",
		     iso_breaker_state_name(st.breaker));
	cr_expect_eq(st.operations, 0, "%llu operations recorded",
		     (unsigned long long)st.operations);
	cr_expect_eq(st.config.failure_threshold, 9, "config overwritten");
	cr_assert_eq(iso_segment_info(reg, &info), 0);
	cr_expect_eq(info.live, live);
	iso_detach(reg);
}

/* [T4] With no --segment, isosim makes /isosim-<uid>-<pid> of its own:
 * $ISOREG_SEGMENT (production) is never touched, and the segment it made
 * is gone when it ends. */
Test(isosim, default_segment_is_its_own_never_isoreg_segment)
{
	const char *args[] = { "--scenario", "scenario1", "--accounts", "6",
			       "--procs", "2", "--speed", "10", "--duration",
			       "0.5", NULL };
	char seg[64], own[64], *out, *p;
	int rc;

	segname(seg, sizeof(seg), "prod");
	production(seg);
	setenv("ISOREG_SEGMENT", seg, 1);
	rc = run_isosim(args, &out);
	unsetenv("ISOREG_SEGMENT");
	cr_assert_eq(rc, 0, "exited %d:\n%s", rc, out);
	p = strstr(out, "segment /isosim-");
	cr_assert_not_null(p, "%s", out);
	cr_assert_eq(sscanf(p, "segment %63s", own), 1);
	cr_assert_not_null(strstr(out, "(created)"), "%s", out);
	cr_assert_not_null(strstr(out, "removed segment"), "%s", out);
	cr_expect_not(shm_exists(own), "%s left behind", own);
	production_intact(seg, 1);
	free(out);
}

/* [T4] --segment NAME is created exclusively: an existing NAME is refused
 * (exit 1, pointing at --attach-existing) and left as it was. */
Test(isosim, refuses_an_existing_segment_without_attach_existing)
{
	const char *args[] = { "--segment", NULL, "--speed", "10", "--duration",
			       "0.5", NULL };
	char seg[64], *out;
	int rc;

	segname(seg, sizeof(seg), "exists");
	production(seg);
	args[1] = seg;
	rc = run_isosim(args, &out);
	cr_assert_eq(rc, 1, "exited %d:\n%s", rc, out);
	cr_assert_not_null(strstr(out, "--attach-existing"), "%s", out);
	cr_assert(shm_exists(seg), "the existing segment was removed");
	production_intact(seg, 1);
	free(out);
}

/* [T4][B2] --attach-existing drives an existing segment but never lifts a
 * halt, never overwrites an account's config, and never removes the
 * segment; the accounts it registers itself get its config. */
Test(isosim, attach_existing_never_lifts_a_halt_nor_overwrites_config)
{
	const char *args[] = { "--attach-existing", NULL, "--scenario", "scenario2",
			       "--accounts", "6", "--procs", "2", "--speed", "10",
			       "--duration", "1", NULL };
	struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
	struct iso_status st;
	iso_reg_t *reg;
	char seg[64], *out;
	int rc;

	segname(seg, sizeof(seg), "attach");
	production(seg);
	args[1] = seg;
	rc = run_isosim(args, &out);
	/* The halted account is refused all run long, outside the faulted
	 * set: isosim reports that as blocked (exit 1), which is the truth. */
	cr_assert(rc == 0 || rc == 1, "exited %d:\n%s", rc, out);
	cr_assert_not_null(strstr(out, "user/user1/KRAKEN is halted"), "%s", out);
	cr_assert_not_null(strstr(out, "(existing, attached)"), "%s", out);
	cr_assert(shm_exists(seg), "isosim removed a segment it did not create");
	production_intact(seg, 6);
	cr_assert_eq(iso_attach(seg, &ro, &reg), 0);
	cr_assert_eq(iso_status_by_key(reg, "platform", "main", "COINBASE", &st), 0);
	cr_expect(st.config_override, "isosim's own account has its config");
	cr_expect_lt(st.config.open_timeout_ms, 300000u);
	cr_expect_gt(st.operations, 0);
	iso_detach(reg);
	free(out);

	/* Both ways to name a segment at once, or --keep with an existing
	 * one, are usage errors. */
	{
		const char *both[] = { "--segment", "/x", "--attach-existing", seg, NULL };
		const char *keep[] = { "--attach-existing", seg, "--keep", NULL };

		cr_expect_eq(run_isosim(both, &out), 2, "%s", out);
		free(out);
		cr_expect_eq(run_isosim(keep, &out), 2, "%s", out);
		free(out);
	}
}

/* [T4] The segment isosim created is removed at exit, unless --keep. */
Test(isosim, removes_what_it_created_unless_keep)
{
	const char *args[] = { "--segment", NULL, "--accounts", "6", "--procs", "2",
			       "--speed", "10", "--duration", "0.3", "--quiet",
			       NULL, NULL };
	char seg[64], *out;

	segname(seg, sizeof(seg), "rm");
	args[1] = seg;
	cr_assert_eq(run_isosim(args, &out), 0, "%s", out);
	free(out);
	cr_expect_not(shm_exists(seg), "%s was left behind", seg);
	args[11] = "--keep";
	cr_assert_eq(run_isosim(args, &out), 0, "%s", out);
	free(out);
	cr_expect(shm_exists(seg), "--keep removed %s", seg);
}

/* [T4] make demo (demo.sh) with $ISOREG_SEGMENT set: it runs on a segment
 * of its own, leaves production untouched, and removes its own. */
Test(isosim, demo_never_touches_isoreg_segment, .timeout = 120)
{
	char seg[64], script[4096], before[8192] = "", after[8192] = "";
	const char *build = getenv("ISOREG_BUILD");
	char *argv[4];
	int fds[2], status;
	pid_t pid;
	FILE *ls;

	cr_assert(build && *build, "ISOREG_BUILD is not set");
	snprintf(script, sizeof(script), "%s/../tools/scripts/demo.sh", build);
	segname(seg, sizeof(seg), "demo-prod");
	production(seg);
	ls = popen("ls /dev/shm | grep '^isoreg-demo-' | sort", "r");
	cr_assert_not_null(ls);
	before[fread(before, 1, sizeof(before) - 1, ls)] = '\0';
	pclose(ls);

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		setenv("ISOREG_SEGMENT", seg, 1);
		setenv("ISOSIM_ARGS", "--speed 10 --accounts 6 --procs 2", 1);
		argv[0] = "bash";
		argv[1] = script;
		argv[2] = (char *)build;
		argv[3] = NULL;
		execvp("bash", argv);
		_exit(127);
	}
	close(fds[1]);
	{
		static char out[1 << 20];
		size_t len = 0;
		ssize_t n;

		while ((n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
			len += (size_t)n;
		out[len] = '\0';
		close(fds[0]);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "demo.sh: %d\n%s", status, out);
		cr_assert_not_null(strstr(out, "isotop - /isoreg-demo-"), "%s", out);
		cr_assert_null(strstr(out, seg), "the demo named $ISOREG_SEGMENT:\n%s", out);
		cr_assert_not_null(strstr(out, "result: PASS"), "%s", out);
	}
	production_intact(seg, 1);
	ls = popen("ls /dev/shm | grep '^isoreg-demo-' | sort", "r");
	cr_assert_not_null(ls);
	after[fread(after, 1, sizeof(after) - 1, ls)] = '\0';
	pclose(ls);
	cr_expect_str_eq(after, before, "the demo left its segment behind");
}

/* [T4] man/isosim.1 exists and documents every option of --help. */
Test(isosim, man_page_matches_help)
{
	const char *args[] = { "--help", NULL };
	const char *build = getenv("ISOREG_BUILD");
	char path[4096], page[65536], *help;
	FILE *f;
	size_t n;
	int checked = 0;

	cr_assert_eq(run_isosim(args, &help), 0, "%s", help);
	snprintf(path, sizeof(path), "%s/../man/isosim.1",
		 build && *build ? build : ".");
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(page, 1, sizeof(page) - 1, f);
	fclose(f);
	page[n] = '\0';
	for (const char *p = strstr(help, "  --"); p; p = strstr(p + 4, "  --")) {
		char roff[96];
		size_t len = strspn(p + 4, "abcdefghijklmnopqrstuvwxyz-"), o = 0;

		for (size_t i = 0; i < len + 2 && o + 3 < sizeof(roff); i++) {
			char c = i < 2 ? '-' : p[4 + i - 2];

			if (c == '-')
				roff[o++] = '\\';
			roff[o++] = c;
		}
		roff[o] = '\0';
		cr_expect_not_null(strstr(page, roff), "isosim.1 lacks %.*s",
				   (int)len + 2, p + 2);
		checked++;
	}
	cr_expect_geq(checked, 12, "%s", help);
	cr_expect_not_null(strstr(page, "/isosim\\-"), "the default name");
	free(help);
}

/* Issue 16 [B9]: a fleet of processes on one account breaks the exchange's
 * limit without a budget and stays under it with a shared one. */
Test(isosim, a_shared_budget_keeps_the_fleet_under_the_exchanges_limit)
{
	const char *args[] = { "--scenario", "budget", "--duration", "1", NULL };
	char *out = NULL;
	int rc = run_isosim(args, &out);
	cr_assert_eq(rc, 0, "isosim --scenario budget exited %d:\n%s", rc, out);
	const char *without = strstr(out, "without a budget:");
	const char *with = strstr(out, "with rate_per_s=");
	cr_assert(without && with, "%s", out);
	unsigned long long calls0 = 0, lim0 = 0, calls1 = 0, lim1 = 0;
	cr_assert_eq(sscanf(without, "without a budget: %llu calls, %llu", &calls0,
			    &lim0), 2, "%s", out);
	cr_assert_eq(sscanf(strchr(with, ':') + 1, " %llu calls, %llu", &calls1,
			    &lim1), 2, "%s", out);
	cr_expect_gt(lim0, 0, "the fleet never broke the limit without a budget");
	cr_expect_eq(lim1, 0, "the budget let %llu calls past the limit", lim1);
	/* It still uses what it may: 360 a second plus the burst of 20. */
	cr_expect_geq(calls1, 300, "the budget starved the fleet: %llu calls", calls1);
	cr_expect_leq(calls1, 380, "%llu calls in a second", calls1);
	free(out);
}
