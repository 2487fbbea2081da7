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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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
	uint64_t deadline = now_ms() + RUN_TIMEOUT_MS;
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
		int64_t left = (int64_t)(deadline - now_ms());
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
			       "--quiet", NULL };
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

/* [T4][B1] On an existing segment with the SPEC defaults, isosim gives its
 * accounts its own config, and the auth account trips on AUTHENTICATION. */
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
	free(run_scenario(seg, "auth"));

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
