/*
 * test_isotop.c - isotop, the top-like viewer [T2], run for real: batch
 * frames read back as text, and the curses screen driven inside a private
 * tmux server (its own socket) with keys and a resize.
 *
 * Every test makes its own segment (unique name) and unlinks it, and the
 * tmux server is killed in the test's fini, so a failed assertion leaves
 * nothing running. Waits are polls with a bounded number of tries for a
 * condition on the screen, never a judgement about how fast anything is.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"

#define POLL_TRIES 200    /* screen polls before a wait gives up */
#define POLL_PAUSE_MS 50

static char seg[96];          /* this test's segment */
static char tmux_sock[96];    /* this test's tmux server socket, or "" */
static iso_reg_t *reg;

/* ------------------------------------------------------------ helpers */

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Absolute path of the isotop binary: $ISOREG_BIN, else build/bin. */
static const char *isotop_path(void)
{
	static char path[PATH_MAX];
	const char *bin = getenv("ISOREG_BIN");
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/isotop", bin && *bin ? bin : "build/bin");
	if (!realpath(rel, path))
		cr_assert_fail("isotop binary not found at %s (set ISOREG_BIN)", rel);
	return path;
}

/*
 * Run @argv, collect its stdout and stderr into @out (NUL-terminated, cut
 * at @len - 1) and return its exit code, or -1 if it died by a signal.
 * Output goes through an unlinked temporary file, not a pipe: a tmux
 * client starts a server that inherits the descriptor and outlives the
 * client, so waiting for a pipe's end would wait for the server.
 */
static int run(char *const argv[], char *out, size_t len)
{
	char path[] = "/tmp/isotop-test-XXXXXX";
	int fd = mkstemp(path), status;
	ssize_t got;
	pid_t pid;

	cr_assert_neq(fd, -1, "mkstemp: %s", strerror(errno));
	unlink(path);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		unsetenv("TMUX"); /* a private server even when run inside tmux */
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	got = pread(fd, out, len - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void make_segment(const char *suite)
{
	static unsigned n;
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
		.capacity = 8,
		.retire_cooldown_ms = 1,
	};
	int rc;

	snprintf(seg, sizeof(seg), "/isoreg-test-%s-%d-%u", suite, (int)getpid(), n++);
	rc = iso_attach(seg, &o, &reg);
	cr_assert_eq(rc, 0, "create %s: %s: %s", seg, iso_strerror(rc), iso_last_error());
}

static void cleanup(void)
{
	if (tmux_sock[0]) {
		char out[256];
		char *argv[] = { "tmux", "-S", tmux_sock, "kill-server", NULL };

		run(argv, out, sizeof(out));
		unlink(tmux_sock);
		tmux_sock[0] = '\0';
	}
	if (reg) {
		iso_detach(reg);
		reg = NULL;
	}
	if (seg[0]) {
		iso_unlink(seg);
		seg[0] = '\0';
	}
}

static iso_account_t account(const char *id, const char *broker)
{
	iso_account_t a;
	int rc = iso_register(reg, "user", id, broker, &a);

	cr_assert_eq(rc, 0, "register %s: %s", id, iso_last_error());
	return a;
}

static void succeed(iso_account_t a, unsigned n, uint64_t op_ns)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(iso_record_success(&a, NULL, op_ns), 0);
}

static void fail(iso_account_t a, unsigned n, enum iso_failure_type t)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, t, 2000000), 0);
}

/*
 * The fleet every test watches: alice healthy with timed successes, bob
 * QUARANTINED by 5 network failures (default failure_threshold), carol
 * DEGRADED by one authentication failure, dave healthy on COINBASE.
 */
static void fleet(void)
{
	iso_account_t alice = account("alice", "KRAKEN");
	iso_account_t bob = account("bob", "KRAKEN");
	iso_account_t carol = account("carol", "COINBASE");
	iso_account_t dave = account("dave", "COINBASE");
	struct iso_status st;

	succeed(alice, 20, 1500000);
	succeed(bob, 3, 800000);
	fail(bob, 5, ISO_FAIL_NETWORK);
	fail(carol, 1, ISO_FAIL_AUTHENTICATION);
	succeed(dave, 1, 0);
	cr_assert_eq(iso_status(&bob, &st), 0);
	cr_assert_eq(st.health, ISO_QUARANTINED, "bob is %s", iso_health_name(st.health));
	cr_assert_eq(iso_status(&carol, &st), 0);
	cr_assert_eq(st.health, ISO_DEGRADED, "carol is %s", iso_health_name(st.health));
}

/*
 * Take @a through a trip with a 1 ms open time so it is RECOVERING (the
 * timeout is lazy: iso_status applies it), and with @then_failing fail its
 * probe under a long open time, so it is FAILING for minutes.
 */
static void recovering_or_failing(iso_account_t a, bool then_failing)
{
	struct iso_config cfg;
	struct iso_status st;
	int tries;

	iso_config_default(&cfg);
	cfg.open_timeout_ms = 1;
	cr_assert_eq(iso_configure(&a, &cfg), 0, "%s", iso_last_error());
	fail(a, cfg.failure_threshold, ISO_FAIL_EXECUTION);
	for (tries = 0; tries < POLL_TRIES; tries++) {
		cr_assert_eq(iso_status(&a, &st), 0);
		if (st.health == ISO_RECOVERING)
			break;
		pause_ms(2);
	}
	cr_assert_eq(st.health, ISO_RECOVERING, "is %s", iso_health_name(st.health));
	if (!then_failing)
		return;
	cfg.open_timeout_ms = 600000;
	cr_assert_eq(iso_configure(&a, &cfg), 0, "%s", iso_last_error());
	fail(a, 1, ISO_FAIL_EXECUTION);
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_assert_eq(st.health, ISO_FAILING, "is %s", iso_health_name(st.health));
}

/* The line of @text (up to its newline) that contains @needle, or NULL. */
static const char *line_with(const char *text, const char *needle, char *buf,
			     size_t len)
{
	const char *p = strstr(text, needle);
	const char *b, *e;

	if (!p)
		return NULL;
	for (b = p; b > text && b[-1] != '\n'; b--)
		;
	e = strchr(p, '\n');
	if (!e)
		e = p + strlen(p);
	snprintf(buf, len, "%.*s", (int)(e - b), b);
	return buf;
}

/* The first line of @text that contains both @a and @b, or NULL. */
static const char *line_with_both(const char *text, const char *a,
				  const char *b, char *buf, size_t len)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (line_with(p, a, buf, len) && strstr(buf, b))
			return buf;
	return NULL;
}

/* The table of a batch frame: from the column names to the pane. */
static const char *table_of(const char *frame, char *buf, size_t len)
{
	const char *b = strstr(frame, "KEY "), *e;

	cr_assert_not_null(b, "no table in:\n%s", frame);
	e = strstr(b, "recent transitions");
	cr_assert_not_null(e, "no pane in:\n%s", frame);
	snprintf(buf, len, "%.*s", (int)(e - b), b);
	return buf;
}

/* The @i-th whitespace-separated field of @line (0-based) into @out. */
static const char *field(const char *line, int i, char *out, size_t len)
{
	const char *p = line;

	out[0] = '\0';
	for (int k = 0; *p; k++) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (k == i) {
			snprintf(out, len, "%.*s", (int)n, p);
			break;
		}
		p += n;
	}
	return out;
}

/* ------------------------------------------------------------ batch */

TestSuite(isotop, .fini = cleanup, .timeout = 60);

/* [T2] -b -n N prints N plain frames with the accounts worst first, their
 * health, the broker summary and the transitions that got them there. */
Test(isotop, batch_frames_list_accounts_worst_first_with_brokers_and_transitions)
{
	char out[65536], line[1024], f[64];
	const char *frame2, *rows, *ev;

	make_segment("isotop");
	/* A broker-wide incident: 2 of the 3 BITSTAMP accounts unhealthy
	 * (more than half, and at least 3 accounts: the alert's rule). Made
	 * first, so bob's trip is among the pane's newest transitions. */
	recovering_or_failing(account("mia", "BITSTAMP"), true);
	recovering_or_failing(account("noah", "BITSTAMP"), false);
	account("olga", "BITSTAMP");
	fleet();
	{
		char *argv[] = { (char *)isotop_path(), "-b", "-n", "2", "-d", "0.2",
				 "--segment", seg, NULL };

		cr_assert_eq(run(argv, out, sizeof(out)), 0, "isotop -b failed:\n%s", out);
	}
	/* Two frames, each starting with its title line. */
	frame2 = strstr(out, "\n\nisotop - ");
	cr_assert(strncmp(out, "isotop - ", 9) == 0, "first frame:\n%s", out);
	cr_assert_not_null(frame2, "no second frame:\n%s", out);
	cr_assert_null(strstr(frame2 + 2 + 9, "isotop - "), "more than 2 frames");
	frame2 += 2;
	cr_assert_not_null(strstr(frame2, seg), "title names the segment");

	/* Health counts in the header, from the report. */
	cr_assert_not_null(strstr(frame2, "accounts 7: 3 HEALTHY 1 DEGRADED 1 RECOVERING 1 QUARANTINED 1 FAILING"),
			   "%s", frame2);
	cr_assert_not_null(strstr(frame2, "isolation ACTIVE"));

	/* The broker line, worst first: BITSTAMP's incident reads as one,
	 * KRAKEN has 1 of 2 unhealthy, COINBASE 0 of 2. */
	cr_assert_not_null(line_with(frame2, "brokers:", line, sizeof(line)));
	cr_assert(strstr(line, "brokers: BITSTAMP 2/3 unhealthy (broker-wide)  KRAKEN 1/2 unhealthy") == line,
		  "%s", line);
	cr_assert_null(strstr(line, "KRAKEN 1/2 unhealthy (broker-wide)"), "%s", line);
	cr_assert_not_null(strstr(line, "COINBASE 0/2 unhealthy 1 degraded"), "%s", line);
	cr_assert(strstr(line, "KRAKEN") < strstr(line, "COINBASE"), "worst broker first: %s", line);

	/* Rows: right after the column names, by severity: FAILING mia,
	 * QUARANTINED bob, RECOVERING noah, DEGRADED carol, then the healthy. */
	rows = strstr(frame2, "KEY ");
	cr_assert_not_null(rows);
	rows = strchr(rows, '\n') + 1;
	cr_assert(strncmp(rows, "user/mia/BITSTAMP ", 18) == 0, "first row:\n%s", rows);
	rows = strchr(rows, '\n') + 1;
	cr_assert(strncmp(rows, "user/bob/KRAKEN ", 16) == 0, "second row:\n%s", rows);
	cr_assert(strstr(rows, "user/noah/") < strstr(rows, "user/carol/"), "%s", rows);
	line_with(frame2, "user/mia/BITSTAMP", line, sizeof(line));
	cr_assert_str_eq(field(line, 1, f, sizeof(f)), "FAILING", "%s", line);
	cr_assert_neq(field(line, 8, f, sizeof(f))[0], '-', "retry countdown: %s", line);
	line_with(frame2, "user/noah/BITSTAMP", line, sizeof(line));
	cr_assert_str_eq(field(line, 1, f, sizeof(f)), "RECOVERING", "%s", line);
	cr_assert_str_eq(field(line, 2, f, sizeof(f)), "HALF_OPEN", "%s", line);
	cr_assert_not_null(strstr(line, "EXEC:5"), "%s", line);
	line_with(rows, "user/bob/KRAKEN", line, sizeof(line));
	cr_assert_str_eq(field(line, 1, f, sizeof(f)), "QUARANTINED", "%s", line);
	cr_assert_str_eq(field(line, 2, f, sizeof(f)), "OPEN", "%s", line);
	cr_assert_str_eq(field(line, 5, f, sizeof(f)), "5", "consecutive failures: %s", line);
	cr_assert_neq(field(line, 8, f, sizeof(f))[0], '-', "retry countdown: %s", line);
	cr_assert_not_null(strstr(line, "NET:5"), "breakdown: %s", line);
	line_with(rows, "user/carol/COINBASE", line, sizeof(line));
	cr_assert_str_eq(field(line, 1, f, sizeof(f)), "DEGRADED", "%s", line);
	cr_assert_not_null(strstr(line, "AUTH:1"), "%s", line);
	cr_assert(strstr(rows, "user/carol/") < strstr(rows, "user/alice/"), "degraded before healthy");
	line_with(rows, "user/alice/KRAKEN", line, sizeof(line));
	cr_assert_str_eq(field(line, 1, f, sizeof(f)), "HEALTHY", "%s", line);
	cr_assert_str_eq(field(line, 2, f, sizeof(f)), "CLOSED", "%s", line);
	cr_assert_neq(field(line, 6, f, sizeof(f))[0], '-', "p50 of timed ops: %s", line);
	cr_assert_str_eq(field(line, 9, f, sizeof(f)), "-", "no failures: %s", line);

	/* The pane shows bob's trip. */
	ev = strstr(frame2, "recent transitions");
	cr_assert_not_null(ev, "%s", frame2);
	cr_assert_not_null(line_with(ev, "user/bob/KRAKEN", line, sizeof(line)), "%s", ev);
	cr_assert_not_null(line_with_both(ev, "user/bob/KRAKEN", "-> QUARANTINED", line, sizeof(line)),
			   "%s", ev);
	cr_assert_not_null(strstr(line, "DEGRADED    -> QUARANTINED"), "%s", line);
	cr_assert_not_null(strstr(line, "breaker OPEN"), "%s", line);
	cr_assert_not_null(strstr(line, "failure NETWORK"), "%s", line);
}

/* [T2] Rates are deltas between two of isotop's own samples; a slot reused
 * by another account (new generation) gets no rate, not a difference of
 * two accounts' counters. The first frame is read before anything changes,
 * so the change lands between the two samples without any timing. */
Test(isotop, batch_rates_come_from_deltas_and_a_reused_slot_starts_afresh)
{
	char out[65536], line[1024], f[64], table[16384];
	const char *frame2;
	iso_account_t alice, bob, erin;
	struct iso_status st;
	size_t got = 0;
	FILE *p;
	char cmd[PATH_MAX + 256];
	uint32_t bob_slot;

	make_segment("isotop");
	fleet();
	alice = account("alice", "KRAKEN");
	bob = account("bob", "KRAKEN");
	cr_assert_eq(iso_status(&bob, &st), 0);
	bob_slot = st.slot;
	/* Fill the segment, so the next registration must reuse a slot. */
	for (int i = 0; i < 4; i++) {
		char id[24];

		snprintf(id, sizeof(id), "filler%d", i);
		account(id, "BITSTAMP");
	}

	snprintf(cmd, sizeof(cmd), "'%s' -b -n 2 -d 0.3 --sort key --segment '%s'",
		 isotop_path(), seg);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	/* Frame 1 is printed whole after its sample: once its pane title is
	 * out, the first sample has been taken. */
	while (fgets(out + got, (int)(sizeof(out) - got), p)) {
		int title = strncmp(out + got, "recent transitions", 18) == 0;

		got += strlen(out + got);
		if (title)
			break;
	}
	cr_assert_not_null(strstr(out, "recent transitions"), "frame 1:\n%s", out);
	line_with(out, "user/alice/KRAKEN", line, sizeof(line));
	cr_assert_str_eq(field(line, 3, f, sizeof(f)), "-", "no rate in the first frame: %s", line);

	succeed(alice, 50, 1000000);
	fail(alice, 2, ISO_FAIL_RATE_LIMIT);
	/* bob's slot goes to erin: same slot, next generation, counters anew. */
	cr_assert_eq(iso_retire(&bob), 0, "%s", iso_last_error());
	for (int tries = 0; tries < POLL_TRIES; tries++) {
		int rc = iso_register(reg, "user", "erin", "KRAKEN", &erin);

		if (rc == 0)
			break;
		cr_assert_eq(rc, ISO_EFULL, "register erin: %s", iso_last_error());
		pause_ms(5); /* the 1 ms retire cooldown */
	}
	cr_assert_eq(iso_status(&erin, &st), 0, "erin registered");
	cr_assert_eq(st.slot, bob_slot, "erin reuses bob's slot");
	succeed(erin, 1, 0);

	while (fgets(out + got, (int)(sizeof(out) - got), p))
		got += strlen(out + got);
	cr_assert_eq(pclose(p), 0, "isotop -b failed:\n%s", out);

	frame2 = strstr(out, "\n\nisotop - ");
	cr_assert_not_null(frame2, "%s", out);
	frame2 = table_of(frame2, table, sizeof(table));
	line_with(frame2, "user/alice/KRAKEN", line, sizeof(line));
	cr_assert_str_neq(field(line, 3, f, sizeof(f)), "-", "ops/s: %s", line);
	cr_assert_str_neq(field(line, 3, f, sizeof(f)), "0", "ops/s: %s", line);
	cr_assert_str_neq(field(line, 4, f, sizeof(f)), "0", "fail/s: %s", line);
	cr_assert_not_null(strstr(line, "RATE:2"), "%s", line);
	cr_assert_null(strstr(frame2, "user/bob/KRAKEN "), "bob is gone from the table");
	line_with(frame2, "user/erin/KRAKEN", line, sizeof(line));
	cr_assert_str_eq(field(line, 3, f, sizeof(f)), "-", "no rate across a reused slot: %s", line);
	line_with(frame2, "user/carol/COINBASE", line, sizeof(line));
	cr_assert_str_eq(field(line, 3, f, sizeof(f)), "0", "idle account: %s", line);
}

/* [T2] Bad command lines exit 2 naming the problem; a missing segment is a
 * runtime error (1) that names the segment. */
Test(isotop, usage_errors_exit_2_and_a_missing_segment_exits_1)
{
	char out[8192], name[96];
	char *help[] = { (char *)isotop_path(), "--help", NULL };
	char *bad_d[] = { (char *)isotop_path(), "-b", "-d", "fast", NULL };
	char *bad_n[] = { (char *)isotop_path(), "-b", "-n", "-3", NULL };
	char *bad_sort[] = { (char *)isotop_path(), "-b", "--sort", "colour", NULL };
	char *bad_opt[] = { (char *)isotop_path(), "--frobnicate", NULL };
	char *missing[] = { (char *)isotop_path(), "-b", "-n", "1", "--segment", name, NULL };

	cr_assert_eq(run(help, out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "Usage: isotop"));
	cr_assert_eq(run(bad_d, out, sizeof(out)), 2);
	cr_assert_not_null(strstr(out, "'fast'"), "%s", out);
	cr_assert_eq(run(bad_n, out, sizeof(out)), 2);
	cr_assert_not_null(strstr(out, "'-3'"), "%s", out);
	cr_assert_eq(run(bad_sort, out, sizeof(out)), 2);
	cr_assert_not_null(strstr(out, "'colour'"), "%s", out);
	cr_assert_eq(run(bad_opt, out, sizeof(out)), 2);
	cr_assert_not_null(strstr(out, "--frobnicate"), "%s", out);

	snprintf(name, sizeof(name), "/isoreg-test-isotop-absent-%d", (int)getpid());
	cr_assert_eq(run(missing, out, sizeof(out)), 1, "%s", out);
	cr_assert_not_null(strstr(out, name), "names the segment: %s", out);
	cr_assert_not_null(strstr(out, "ISO_ENOENT"), "%s", out);
}

/* A file of the source tree: $ISOREG_BUILD's parent, else the current
 * directory (the tests run from the repository's root). */
static const char *src_path(const char *rel, char *buf, size_t len)
{
	const char *build = getenv("ISOREG_BUILD");

	if (build && *build)
		snprintf(buf, len, "%s/../%s", build, rel);
	else
		snprintf(buf, len, "%s", rel);
	return buf;
}

/* [T2][M1] The broker-wide mark follows the alert's rule (> 50 % unhealthy
 * and >= 3 accounts), whose numbers are read back from alerts.yml; and a
 * detected isolation violation reads VIOLATED, the word every tool uses. */
Test(isotop, batch_marks_broker_wide_by_the_alert_rule_and_says_violated)
{
	char out[65536], line[1024], path[PATH_MAX], yml[16384];
	char *argv[] = { (char *)isotop_path(), "-b", "-n", "1", "-s", seg, NULL };
	iso_account_t gone;
	FILE *f;
	size_t n;
	double ratio = 0;
	unsigned min_accounts = 0;
	const char *expr;

	make_segment("isotop");
	fail(account("k1", "KRAKEN"), 5, ISO_FAIL_NETWORK);
	fail(account("k2", "KRAKEN"), 5, ISO_FAIL_NETWORK);
	fail(account("c1", "COINBASE"), 5, ISO_FAIL_API);
	fail(account("c2", "COINBASE"), 5, ISO_FAIL_API);
	succeed(account("c3", "COINBASE"), 1, 0);
	cr_assert_eq(run(argv, out, sizeof(out)), 0, "%s", out);
	cr_assert_not_null(line_with(out, "brokers:", line, sizeof(line)), "%s", out);
	cr_assert_not_null(strstr(line, "COINBASE 2/3 unhealthy (broker-wide)"), "%s", line);
	cr_assert_not_null(strstr(line, "KRAKEN 2/2 unhealthy"), "%s", line);
	cr_assert_null(strstr(line, "KRAKEN 2/2 unhealthy (broker-wide)"),
		       "2 accounts are too few for an incident: %s", line);
	cr_assert_not_null(strstr(out, "isolation ACTIVE"), "%s", out);

	/* A write through a retired account's handle is a detected
	 * violation (counted by the library). */
	gone = account("gone", "OKX");
	cr_assert_eq(iso_retire(&gone), 0);
	cr_assert_eq(iso_record_success(&gone, NULL, 0), ISO_ESTALE);
	cr_assert_eq(run(argv, out, sizeof(out)), 0, "%s", out);
	cr_assert_not_null(strstr(out, "isolation VIOLATED"), "%s", out);
	cr_assert_null(strstr(out, "BREACHED"), "%s", out);

	/* alerts.yml states the same rule with the same numbers. */
	f = fopen(src_path("tools/prometheus/alerts.yml", path, sizeof(path)), "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(yml, 1, sizeof(yml) - 1, f);
	fclose(f);
	yml[n] = '\0';
	expr = strstr(yml, "isoreg_broker_unhealthy_ratio >");
	cr_assert_not_null(expr, "no broker rule in %s", path);
	cr_assert_eq(sscanf(expr, "isoreg_broker_unhealthy_ratio > %lf and "
			    "isoreg_broker_accounts >= %u", &ratio, &min_accounts),
		     2, "%.120s", expr);
	cr_assert_eq((unsigned)(ratio * 100 + 0.5), ISO_INCIDENT_UNHEALTHY_PCT);
	cr_assert_eq(min_accounts, ISO_INCIDENT_MIN_ACCOUNTS);
}

/* [T2] -s NAME like the other tools, --version, and a malformed name is a
 * usage error (2) that says when it came from $ISOREG_SEGMENT. */
Test(isotop, short_segment_option_version_and_malformed_names)
{
	char out[16384];
	char *short_s[] = { (char *)isotop_path(), "-b", "-n", "1", "-s", seg, NULL };
	char *version[] = { (char *)isotop_path(), "--version", NULL };
	char *bad[] = { (char *)isotop_path(), "-b", "-n", "1", "-s", "no-slash", NULL };
	char *env[] = { (char *)isotop_path(), "-b", "-n", "1", NULL };

	make_segment("isotop");
	fleet();
	cr_assert_eq(run(short_s, out, sizeof(out)), 0, "%s", out);
	cr_assert_not_null(strstr(out, seg), "%s", out);
	cr_assert_eq(run(version, out, sizeof(out)), 0, "%s", out);
	{
		char want[64];

		snprintf(want, sizeof(want), "isotop %d.%d.%d\n", ISO_VERSION_MAJOR,
			 ISO_VERSION_MINOR, ISO_VERSION_PATCH);
		cr_assert_str_eq(out, want);
	}
	cr_assert_eq(run(bad, out, sizeof(out)), 2, "%s", out);
	cr_assert_not_null(strstr(out, "'no-slash'"), "%s", out);
	cr_assert_null(strstr(out, "ISOREG_SEGMENT"), "%s", out);
	setenv("ISOREG_SEGMENT", "no-slash", 1);
	cr_assert_eq(run(env, out, sizeof(out)), 2, "%s", out);
	unsetenv("ISOREG_SEGMENT");
	cr_assert_not_null(strstr(out, "'no-slash' (from $ISOREG_SEGMENT)"), "%s", out);
}

/* ------------------------------------------------------------ tmux */

static bool have_tmux(void)
{
	char out[256];
	char *argv[] = { "tmux", "-V", NULL };

	return run(argv, out, sizeof(out)) == 0;
}

static void tmux_cmd(char *const extra[], char *out, size_t len)
{
	char *argv[32] = { "tmux", "-S", tmux_sock };
	int n = 3, rc;

	for (int i = 0; extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	rc = run(argv, out, len);
	cr_assert_eq(rc, 0, "tmux %s failed: %s", extra[0], out);
}

static void screen(char *out, size_t len)
{
	char *argv[] = { "capture-pane", "-p", "-t", "top", NULL };

	tmux_cmd(argv, out, len);
}

static void keys(const char *k, bool literal)
{
	char out[256];
	char *lit[] = { "send-keys", "-t", "top", "-l", (char *)k, NULL };
	char *named[] = { "send-keys", "-t", "top", (char *)k, NULL };

	tmux_cmd(literal ? lit : named, out, sizeof(out));
}

/*
 * Start isotop on the test's segment in a detached tmux session "top",
 * 160x40, refreshing every 0.2 s. After isotop, the shell says how it
 * exited and the pane stays up (tmux can drop the last output of a pane
 * whose process is gone), so its status and anything it said on stderr
 * stay on the screen.
 */
static void start_isotop(void)
{
	static char cmd[PATH_MAX + 256];
	char out[1024];

	snprintf(tmux_sock, sizeof(tmux_sock), "/tmp/isotop-test-tmux-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "'%s' --segment '%s' -d 0.2; "
		 "echo \"isotop exited with $?\"; exec sleep 600",
		 isotop_path(), seg);
	char *a[] = { "-f", "/dev/null", "new-session", "-d", "-s", "top",
		      "-x", "160", "-y", "40", cmd, NULL };

	tmux_cmd(a, out, sizeof(out));
}

typedef bool (*screen_pred)(const char *scr, const void *arg);

/* Poll the screen until @pred holds; fail with the last screen if it never
 * does within POLL_TRIES captures. */
static void wait_for(char *scr, size_t len, screen_pred pred, const void *arg,
		     const char *what)
{
	for (int i = 0; i < POLL_TRIES; i++) {
		screen(scr, len);
		if (pred(scr, arg))
			return;
		pause_ms(POLL_PAUSE_MS);
	}
	cr_assert_fail("screen never showed %s; last screen:\n%s", what, scr);
}

static bool has_text(const char *scr, const void *arg)
{
	return strstr(scr, arg) != NULL;
}

/* The screen has @arg lines and its last line is the key help. */
static bool resized_to(const char *scr, const void *arg)
{
	int want = *(const int *)arg, n = 0;
	const char *last = scr, *p;

	for (p = scr; *p; p++)
		if (*p == '\n' && p[1])
			last = p + 1;
	for (p = scr; *p; p++)
		n += *p == '\n';
	return n == want && strncmp(last, "s sort", 6) == 0;
}

static void wait_text(char *scr, size_t len, const char *text)
{
	wait_for(scr, len, has_text, text, text);
}

/* q quits isotop in the tmux pane, and it exits with status 0. */
static void quit_cleanly(char *scr, size_t len)
{
	char line[256];

	keys("q", true);
	wait_text(scr, len, "isotop exited with ");
	line_with(scr, "isotop exited with ", line, sizeof(line));
	cr_assert_str_eq(line, "isotop exited with 0", "%s", scr);
}

/*
 * What one step expects of the screen, all at once: curses repaints a
 * screen a line at a time, so a capture can catch a frame half drawn, and
 * each step waits for the whole of its expectation rather than asserting
 * on the first capture that shows part of it.
 */
struct expect {
	const char *has[8];      /* each appears somewhere */
	const char *lacks[8];    /* none appears anywhere */
	const char *order[6];    /* these appear, in this order */
	const char *row[6][2];   /* the line with [0] also contains [1] */
};

static bool expect_met(const char *scr, const void *arg)
{
	const struct expect *e = arg;
	const char *at = scr;
	char line[1024];

	for (int i = 0; i < 8 && e->has[i]; i++)
		if (!strstr(scr, e->has[i]))
			return false;
	for (int i = 0; i < 8 && e->lacks[i]; i++)
		if (strstr(scr, e->lacks[i]))
			return false;
	for (int i = 0; i < 6 && e->order[i]; i++) {
		at = strstr(at, e->order[i]);
		if (!at)
			return false;
		at += strlen(e->order[i]);
	}
	for (int i = 0; i < 6 && e->row[i][0]; i++)
		if (!line_with(scr, e->row[i][0], line, sizeof(line)) ||
		    !strstr(line, e->row[i][1]))
			return false;
	return true;
}

static void expect(char *scr, size_t len, const struct expect *e,
		   const char *what)
{
	wait_for(scr, len, expect_met, e, what);
}

/* [T2] The screen, for real in a terminal: rows worst first, then the
 * filter prompt (Enter applies, Esc cancels), sort cycling, grouping by
 * broker, live updates, interval keys, a resize, and q quitting. */
Test(isotop, screen_in_tmux_filters_sorts_groups_resizes_and_quits)
{
	char scr[32768], out[1024];
	iso_account_t alice;
	int rows30 = 30;

	if (!have_tmux()) {
		cr_skip("tmux is not installed: the interactive screen test needs it "
			"(tools/scripts/deps.sh test installs it)");
		return;
	}
	make_segment("isotop");
	fleet();
	alice = account("alice", "KRAKEN");
	start_isotop();

	/* The first frame: worst first, bob quarantined at the top. */
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "sort: severity", "KRAKEN 1/2 unhealthy", "recent transitions" },
		.order = { "KEY ", "user/bob/KRAKEN", "user/carol/COINBASE", "user/alice/KRAKEN" },
		.row = { { "user/bob/KRAKEN", "QUARANTINED" },
			 { "user/carol/COINBASE", "DEGRADED" } },
	}, "the first frame, worst first");
	{
		/* Health colours, as the terminal got them (SGR 31 red, 32
		 * green, 33 yellow). */
		const struct expect colours = {
			.row = { { "user/bob/KRAKEN", "31mQUARANTINED" },
				 { "user/carol/COINBASE", "33mDEGRADED" },
				 { "user/dave/COINBASE", "32mHEALTHY" } },
		};
		char *e[] = { "capture-pane", "-p", "-e", "-t", "top", NULL };
		int i;

		for (i = 0; i < POLL_TRIES; i++) {
			tmux_cmd(e, scr, sizeof(scr));
			if (expect_met(scr, &colours))
				break;
			pause_ms(POLL_PAUSE_MS);
		}
		cr_assert_lt(i, POLL_TRIES, "health colours:\n%s", scr);
	}

	/* Filter: '/' opens the prompt, Enter applies. */
	keys("/", true);
	wait_text(scr, sizeof(scr), "Enter applies, Esc cancels");
	keys("carol", true);
	wait_text(scr, sizeof(scr), "filter: carol_");
	keys("Enter", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "  filter: carol\n", "user/carol/COINBASE", "accounts 4 (1 shown)" },
		.lacks = { "Enter applies", "user/bob/KRAKEN", "user/alice/KRAKEN" },
	}, "only carol, filtered");

	/* Esc cancels: the filter stays what it was. */
	keys("/", true);
	wait_text(scr, sizeof(scr), "Enter applies, Esc cancels");
	keys("C-u", false);
	keys("alice", true);
	wait_text(scr, sizeof(scr), "filter: alice_");
	keys("Escape", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "  filter: carol\n", "user/carol/COINBASE" },
		.lacks = { "Enter applies", "user/alice/KRAKEN" },
	}, "the prompt cancelled, the filter unchanged");

	/* An empty filter shows everyone again. */
	keys("/", true);
	keys("C-u", false);
	keys("Enter", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "user/alice/KRAKEN", "user/bob/KRAKEN", "s sort" },
		.lacks = { "filter:" },
	}, "no filter");

	/* s cycles the sort; by key, alice comes first. */
	keys("s", true);
	wait_text(scr, sizeof(scr), "sort: fail/s");
	keys("s", true);
	wait_text(scr, sizeof(scr), "sort: ops/s");
	keys("s", true);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "sort: key" },
		.order = { "KEY ", "user/alice/KRAKEN", "user/bob/KRAKEN", "user/carol/COINBASE",
			   "user/dave/COINBASE", "recent transitions" },
	}, "rows in key order");
	keys("s", true);
	wait_text(scr, sizeof(scr), "sort: severity");

	/* b groups by broker, KRAKEN (the unhealthy one) first. */
	keys("b", true);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "grouped by broker" },
		.order = { "== KRAKEN: 2 accounts, 1 unhealthy", "user/bob/KRAKEN",
			   "user/alice/KRAKEN", "== COINBASE: 2 accounts, 0 unhealthy",
			   "user/carol/COINBASE" },
	}, "rows grouped by broker");
	keys("b", true);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "user/bob/KRAKEN" },
		.lacks = { "grouped by broker", "== KRAKEN" },
	}, "grouping off");

	/* Live: alice degrades while we watch. */
	fail(alice, 1, ISO_FAIL_API);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "1 HEALTHY 2 DEGRADED" },
		.row = { { "user/alice/KRAKEN", "DEGRADED" },
			 { "user/alice/KRAKEN", "API:1" } },
	}, "alice degraded");

	/* + slows the refresh down the steps, up to 60 s; with nothing due
	 * for a minute, only KEY_RESIZE can redraw after the resize. */
	keys("+", true);
	wait_text(scr, sizeof(scr), "every 0.5s");
	keys("-", true);
	wait_text(scr, sizeof(scr), "every 0.2s");
	for (int i = 0; i < 8; i++)
		keys("+", true);
	wait_text(scr, sizeof(scr), "every 60s");
	{
		char *rs[] = { "resize-window", "-t", "top", "-x", "100", "-y", "30", NULL };

		tmux_cmd(rs, out, sizeof(out));
	}
	wait_for(scr, sizeof(scr), resized_to, &rows30, "a redraw at 100x30");
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "user/bob/KRAKEN", "recent transitions" },
	}, "the whole frame at 100x30");

	/* q quits with status 0. */
	quit_cleanly(scr, sizeof(scr));
}

/* [T2] '?' shows the key help (any key returns); Enter on the selected
 * row shows that account in full: breaker, counters by type, config in
 * force, last transition, percentiles and its own recent transitions; Esc
 * returns; Down selects the next row. */
Test(isotop, screen_help_on_question_mark_and_details_on_enter)
{
	char scr[32768];
	struct iso_config cfg;
	iso_account_t carol;

	if (!have_tmux()) {
		cr_skip("tmux is not installed: the interactive screen test needs it "
			"(tools/scripts/deps.sh test installs it)");
		return;
	}
	make_segment("isotop");
	fleet();
	cr_assert_eq(iso_lookup(reg, "user", "carol", "COINBASE", &carol), 0);
	iso_config_default(&cfg);
	cfg.failure_threshold = 7;
	cr_assert_eq(iso_configure(&carol, &cfg), 0, "%s", iso_last_error());
	start_isotop();
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "sort: severity", "? help", "Enter details" },
		.order = { "KEY ", "user/bob/KRAKEN", "user/carol/COINBASE" },
	}, "the table");

	keys("?", true);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "isotop keys", "Enter        the selected account in full",
			 "at least 3 accounts", "Press any key to return." },
		.lacks = { "KEY " },
	}, "the help overlay");
	keys("x", true);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "sort: severity", "user/bob/KRAKEN" },
		.lacks = { "isotop keys" },
	}, "back to the table");

	/* The first row is selected: bob, quarantined by 5 network failures. */
	keys("Enter", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "account user/bob/KRAKEN", "health             QUARANTINED",
			 "operations         8 (3 successes, 5 failures)",
			 "failures by type   NETWORK=5", "config in force (segment default)",
			 "failure_threshold=5", "recent transitions of this account" },
		.order = { "breaker            OPEN", "last transition", "cause failure, NETWORK",
			   "operation time     p50 ", "HEALTHY     -> DEGRADED",
			   "DEGRADED    -> QUARANTINED" },
		.lacks = { "user/alice/KRAKEN", "user/carol/COINBASE", "KEY " },
	}, "bob in full");
	keys("Escape", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "sort: severity", "user/alice/KRAKEN" },
		.lacks = { "recent transitions of this account" },
	}, "back to the table after Esc");

	/* Down selects carol (DEGRADED, second worst), with her own config. */
	keys("Down", false);
	keys("Enter", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "account user/carol/COINBASE", "health             DEGRADED",
			 "failures by type   AUTHENTICATION=1", "config in force (own override)",
			 "failure_threshold=7", "failure AUTHENTICATION" },
		.lacks = { "user/bob/KRAKEN", "NETWORK" },
	}, "carol in full");

	quit_cleanly(scr, sizeof(scr));
}

/* Every "--option" of @help appears in the man page @page (roff writes
 * '-' as "\-"); returns the count checked. */
static int man_covers_help(const char *help, const char *page)
{
	int n = 0;

	for (const char *p = strstr(help, "--"); p; p = strstr(p + 2, "--")) {
		char opt[64], roff[160];
		size_t len = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
		size_t o = 0;

		if (!len || (p > help && p[-1] != ' ' && p[-1] != ','))
			continue;
		snprintf(opt, sizeof(opt), "--%.*s", (int)len, p + 2);
		for (size_t i = 0; opt[i] && o + 3 < sizeof(roff); i++) {
			if (opt[i] == '-')
				roff[o++] = '\\';
			roff[o++] = opt[i];
		}
		roff[o] = '\0';
		cr_expect_not_null(strstr(page, roff), "the man page lacks %s", opt);
		n++;
	}
	return n;
}

/* [T2] man/isotop.1 exists and documents every option of --help and the
 * keys; isoctl.1 cites it. */
Test(isotop, man_page_matches_help)
{
	char help[8192], path[PATH_MAX], page[65536], ctl[65536];
	char *argv[] = { (char *)isotop_path(), "--help", NULL };
	FILE *f;
	size_t n;

	cr_assert_eq(run(argv, help, sizeof(help)), 0);
	f = fopen(src_path("man/isotop.1", path, sizeof(path)), "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(page, 1, sizeof(page) - 1, f);
	fclose(f);
	page[n] = '\0';
	cr_assert_geq(man_covers_help(help, page), 8, "%s", help);
	cr_expect_not_null(strstr(page, ".BR \\-s \", \" \\-\\-segment"), "-s");
	cr_expect_not_null(strstr(page, ".B ?\n"), "the ? key");
	cr_expect_not_null(strstr(page, ".B Enter\n"), "the Enter key");
	cr_expect_not_null(strstr(page, "at least 3"), "the broker rule");
	f = fopen(src_path("man/isoctl.1", path, sizeof(path)), "r");
	cr_assert_not_null(f, "%s", path);
	n = fread(ctl, 1, sizeof(ctl) - 1, f);
	fclose(f);
	ctl[n] = '\0';
	cr_expect_not_null(strstr(ctl, ".BR isotop (1)"), "isoctl.1 cites isotop(1)");
	cr_expect_not_null(strstr(ctl, ".BR isosim (1)"), "isoctl.1 cites isosim(1)");
}

/* SPEC §6 (issue 13, item 3): isotop notices its segment being replaced,
 * says so, and shows the new one (it kept the orphan, all green, before). */
Test(isotop, batch_says_when_its_segment_is_replaced_and_follows_it)
{
	char path[] = "/tmp/isotop-test-XXXXXX", out[65536];
	int fd, status;

	make_segment("replace");
	iso_account_t a = account("old", "KRAKEN");
	succeed(a, 1, 0);
	fd = mkstemp(path);
	cr_assert_neq(fd, -1);
	unlink(path);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl(isotop_path(), "isotop", "--segment", seg, "-b", "-d", "0.05",
		      "-n", "40", (char *)NULL);
		_exit(127);
	}
	pause_ms(400);
	/* An operator replaces the segment under it. */
	iso_detach(reg);
	reg = NULL;
	cr_assert_eq(iso_unlink(seg), 0);
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 8 };
	cr_assert_eq(iso_attach(seg, &o, &reg), 0, "%s", iso_last_error());
	iso_account_t b = account("fresh", "KRAKEN");
	succeed(b, 1, 0);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	ssize_t got = pread(fd, out, sizeof(out) - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	cr_expect(strstr(out, "was replaced"), "no word of the replacement:\n%s", out);
	cr_expect(strstr(out, "user/fresh/KRAKEN"), "the new segment is not shown:\n%s", out);
}

/* [B9] (issue 16): an account's request budget shows in isotop's list,
 * with what is left, its burst and its refusals; others show none. */
Test(isotop, batch_shows_an_accounts_request_budget)
{
	char out[65536], line[1024];
	make_segment("budget");
	iso_account_t a = account("budgeted", "KRAKEN");
	(void)account("plain", "KRAKEN");
	struct iso_config c;
	iso_config_default(&c);
	c.rate_per_s = 1;
	c.burst = 3;
	cr_assert_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
	iso_permit_t p;
	for (int i = 0; i < 4; i++)
		iso_acquire(&a, &p); /* 3 admitted, the 4th refused */
	char *argv[] = { (char *)isotop_path(), "-b", "-n", "1", "--segment", seg, NULL };
	cr_assert_eq(run(argv, out, sizeof(out)), 0, "isotop -b failed:\n%s", out);
	cr_expect_not_null(line_with(out, "user/budgeted/KRAKEN", line, sizeof(line)), "%s", out);
	cr_expect(strstr(line, "budget 0/3 (1 refused)"), "no budget in the row: %s", line);
	cr_expect_not_null(line_with(out, "user/plain/KRAKEN", line, sizeof(line)), "%s", out);
	cr_expect_null(strstr(line, "budget"), "a budget on an account without one: %s", line);
}

/*
 * [B7] (issue 15): a segment with the window region and three accounts:
 * "alt" given a window of 60 s, min_calls 4, failure_rate_threshold 50,
 * failing every other call until the rate trips it; "young" with the same
 * window and only 2 outcomes (not judged yet); "plain" without a window.
 */
static void window_fleet(void)
{
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL | ISO_ATTACH_WINDOWS,
		.capacity = 8,
	};
	struct iso_config cfg;
	struct iso_status st;
	static unsigned n;

	snprintf(seg, sizeof(seg), "/isoreg-test-windows-%d-%u", (int)getpid(), n++);
	cr_assert_eq(iso_attach(seg, &o, &reg), 0, "create %s: %s", seg,
		     iso_last_error());
	iso_account_t alt = account("alt", "KRAKEN");
	iso_account_t young = account("young", "KRAKEN");
	(void)account("plain", "KRAKEN");
	iso_config_default(&cfg);
	cfg.window_ms = 60000;
	cfg.min_calls = 4;
	cfg.failure_rate_threshold = 50;
	cr_assert_eq(iso_configure(&alt, &cfg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_configure(&young, &cfg), 0, "%s", iso_last_error());
	for (int i = 0; i < 2; i++) {
		succeed(alt, 1, 1000000);
		fail(alt, 1, ISO_FAIL_API);
	}
	succeed(young, 1, 1000000);
	fail(young, 1, ISO_FAIL_API);
	cr_assert_eq(iso_status(&alt, &st), 0);
	cr_assert_eq(st.breaker, ISO_BREAKER_OPEN, "alt did not trip: %s",
		     iso_breaker_state_name(st.breaker));
	cr_assert_eq(st.last_cause, ISO_CAUSE_FAILURE_RATE);
}

/* [B7] The table shows a window's failure rate where an account has
 * one, "N/M calls" while it is not judged, nothing where it has none;
 * the pane names the cause failure_rate. */
Test(isotop, batch_shows_an_accounts_window_rate)
{
	char out[65536], line[1024];

	window_fleet();
	char *argv[] = { (char *)isotop_path(), "-b", "-n", "1", "--segment", seg, NULL };
	cr_assert_eq(run(argv, out, sizeof(out)), 0, "isotop -b failed:\n%s", out);
	cr_expect_not_null(line_with(out, "user/alt/KRAKEN ", line, sizeof(line)), "%s", out);
	cr_expect(strstr(line, "window fail 50.0%"), "no rate in the row: %s", line);
	cr_expect_null(strstr(line, "slow"), "a slow-call rate without slow_call_ms: %s", line);
	cr_expect_not_null(line_with(out, "user/young/KRAKEN ", line, sizeof(line)), "%s", out);
	cr_expect(strstr(line, "window 2/4 calls"), "not judged yet: %s", line);
	cr_expect_not_null(line_with(out, "user/plain/KRAKEN ", line, sizeof(line)), "%s", out);
	cr_expect_null(strstr(line, "window"), "a window on an account without one: %s", line);
	cr_expect_not_null(line_with_both(out, "user/alt/KRAKEN", "-> QUARANTINED", line,
					  sizeof(line)), "%s", out);
	cr_expect(strstr(line, "failure_rate"), "the trip's cause: %s", line);
}

/* [B7] Enter on an account with a window shows what it holds, both
 * rates against their thresholds, the window config and the cause. */
Test(isotop, screen_details_show_the_window_and_its_rates)
{
	char scr[32768];

	if (!have_tmux()) {
		cr_skip("tmux is not installed: the interactive screen test needs it "
			"(tools/scripts/deps.sh test installs it)");
		return;
	}
	window_fleet();
	start_isotop();
	expect(scr, sizeof(scr), &(struct expect){
		.order = { "KEY ", "user/alt/KRAKEN" },
	}, "the table, alt first");
	keys("Enter", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "account user/alt/KRAKEN",
			 "window             last 1m00s: 4 outcomes, 2 failures, 0 slow",
			 "  failure rate     50.0% (trips at 50%)",
			 "  slow-call rate   off (slow_call_ms=0: no call is slow)",
			 "window_ms=60000  min_calls=4  failure_rate_threshold=50" },
		.order = { "cause failure_rate", "-> QUARANTINED  failure_rate" },
	}, "alt's window in full");
	keys("Escape", false);
	keys("Down", false);
	keys("Enter", false);
	expect(scr, sizeof(scr), &(struct expect){
		.has = { "  failure rate     not judged: 2 of min_calls 4 (trips at 50%)" },
		.lacks = { "user/alt/KRAKEN" },
	}, "young's window, not judged");
	quit_cleanly(scr, sizeof(scr));
}
