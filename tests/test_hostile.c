/*
 * test_hostile.c - hostile neighbours [R7]: /dev/shm is world-writable, so
 * anyone may put their own object, a FIFO, a directory or a symlink at a
 * segment's name, plant temporary names, fill the file system, shrink an
 * object they can write, or write escape sequences into a key.
 *
 * Each attack is tried as the attacker would: the uid checks use a real
 * second uid (created with useradd when we are root; skipped otherwise),
 * the full-disk case a private mount namespace with a 2 MiB tmpfs on
 * /dev/shm, the viewers are the real binaries ($ISOREG_BIN). The SIGBUS
 * guard and the escaping helpers are the tools' own code, compiled in.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"
#include "support/chaos_util.h"

/* The tools' guard and escaping, tested as they are built into the tools. */
#include "../tools/common/busguard.h"
#include "../tools/common/cli.h"

#define ATTACKER "isoreg-hostile"

static char seg[96];
static char extra[160]; /* a second segment some tests make */

static void cleanup(void)
{
	if (seg[0])
		iso_unlink(seg);
	if (extra[0])
		iso_unlink(extra);
	seg[0] = extra[0] = '\0';
}

static const char *path_of(const char *name)
{
	static char p[4][300];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "/dev/shm%s", name);
	return p[i];
}

static void new_seg(const char *tag)
{
	chaos_segname(seg, sizeof(seg), tag);
	iso_unlink(seg);
}

/* Create @name with @mode and a few accounts, then detach: the test keeps
 * no mapping of its own that a shrink could fault. */
static void make_segment(const char *name, mode_t mode, const char *id)
{
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 64, .mode = mode };
	iso_reg_t *reg;
	iso_account_t a;

	cr_assert_eq(iso_attach(name, &o, &reg), 0, "create %s: %s", name,
		     iso_last_error());
	cr_assert_eq(iso_register(reg, "user", id, "KRAKEN", &a), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iso_record_success(&a, NULL, 1000), 0);
	cr_assert_eq(iso_register(reg, "user", "other", "BINANCE", &a), 0);
	iso_detach(reg);
}

static const char *bin(const char *tool)
{
	static char p[16][PATH_MAX];
	static int i;
	const char *b = getenv("ISOREG_BIN");

	i = (i + 1) % 16;
	snprintf(p[i], sizeof(p[i]), "%s/%s", b && *b ? b : "build/bin", tool);
	cr_assert_eq(access(p[i], X_OK), 0, "%s not built (set ISOREG_BIN)", p[i]);
	return p[i];
}

/*
 * Run @argv with stdout and stderr into @out, at most @timeout_ms (then
 * SIGKILL). Returns the exit code, 1000 + signal if killed by one, or -1 if
 * it had to be killed for taking too long.
 */
static int run(char *const argv[], char *out, size_t len, unsigned timeout_ms)
{
	char tpl[] = "/tmp/isoreg-hostile-XXXXXX";
	int fd = mkstemp(tpl), status = 0;
	pid_t parent = getpid(), pid;
	ssize_t got;

	cr_assert_geq(fd, 0);
	unlink(tpl);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	int w = chaos_wait(pid, timeout_ms, &status);
	got = pread(fd, out, len - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	if (w < 0)
		return -1;
	return chaos_exit_code(status);
}

/* ------------------------------------------------------- a second uid */

static uid_t att_uid;
static gid_t att_gid;

/* The attacker's uid, made with useradd if needed; skips when not root. */
static void need_attacker(void)
{
	struct passwd *pw;

	if (geteuid() != 0)
		cr_skip_test("needs root: to create the second uid '" ATTACKER
			     "' with useradd and to switch to it");
	pw = getpwnam(ATTACKER);
	if (!pw) {
		int rc = system("useradd --system --no-create-home --shell "
				"/usr/sbin/nologin " ATTACKER " >/dev/null 2>&1");
		pw = getpwnam(ATTACKER);
		if (!pw)
			cr_skip_test("useradd " ATTACKER " failed (exit %d): no "
				     "second uid to attack with", rc);
	}
	att_uid = pw->pw_uid;
	att_gid = pw->pw_gid;
}

/* In a child: drop to the attacker's uid, then fn(arg); its exit code. */
static int as_attacker(int (*fn)(void *), void *arg)
{
	struct { int (*fn)(void *); void *arg; } call = { fn, arg };
	int status;

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(att_gid, att_gid, att_gid) ||
		    setresuid(att_uid, att_uid, att_uid) || geteuid() != att_uid)
			_exit(99);
		_exit(call.fn(call.arg));
	}
	cr_assert_eq(chaos_wait(pid, 20000, &status), 0, "attacker hung");
	return chaos_exit_code(status);
}

/* The attacker creates a real, valid segment at @name with mode @mode. */
static int plant_segment(void *p)
{
	const struct { const char *name; mode_t mode; } *a = p;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 16, .mode = a->mode };
	iso_reg_t *reg;
	iso_account_t h;

	if (iso_attach(a->name, &o, &reg))
		return 1;
	if (iso_register(reg, "user", "victim", "KRAKEN", &h))
		return 2;
	iso_detach(reg);
	return 0;
}

static int try_truncate(void *p)
{
	return truncate(path_of(p), 4096) == 0 ? 0 : errno == EACCES ? 13 : 1;
}

/* SPEC [R7]: another uid's object at the name - a valid segment of theirs,
 * mode 0600 or 0666 - is never attached, not by create-or-attach, not
 * read-only, and not by root; the message names owner, mode and what was
 * expected. Naming that owner is the one way to trust it. */
Test(hostile, another_uids_segment_is_refused_even_by_root, .fini = cleanup)
{
	static const mode_t modes[] = { 0600, 0666 };
	char out[8192], want[64];

	need_attacker();
	for (size_t m = 0; m < 2; m++) {
		struct { const char *name; mode_t mode; } a;
		iso_reg_t *reg = NULL;

		new_seg("hostile-own");
		a.name = seg;
		a.mode = modes[m];
		cr_assert_eq(as_attacker(plant_segment, &a), 0, "attacker could not "
			     "create its segment");
		static const uint32_t flags[] = { ISO_ATTACH_CREATE, 0,
						   ISO_ATTACH_RDONLY };
		for (size_t f = 0; f < 3; f++) {
			struct iso_attach_opts o = { .flags = flags[f], .capacity = 16 };
			int rc = iso_attach(seg, &o, &reg);

			cr_expect_eq(rc, ISO_EPERM, "mode 0%o flags 0x%x: rc %d (%s)",
				     modes[m], flags[f], rc, iso_last_error());
			if (rc == 0)
				iso_detach(reg);
			snprintf(want, sizeof(want), "belongs to uid %u", (unsigned)att_uid);
			cr_expect(strstr(iso_last_error(), want), "%s", iso_last_error());
			snprintf(want, sizeof(want), "mode %04o", (unsigned)modes[m]);
			cr_expect(strstr(iso_last_error(), want), "%s", iso_last_error());
			cr_expect(strstr(iso_last_error(), "expected uid 0"), "%s",
				  iso_last_error());
		}
		/* Trusting that owner by name: the 0600 one is attached; the
		 * 0666 one only if other-write is asked for as well. */
		struct iso_attach_opts t = { .flags = ISO_ATTACH_RDONLY | ISO_ATTACH_OWNER,
					     .owner = att_uid };
		int rc = iso_attach(seg, &t, &reg);
		if (modes[m] == 0600) {
			cr_expect_eq(rc, 0, "trusted owner: %s", iso_last_error());
		} else {
			cr_expect_eq(rc, ISO_EPERM, "0666 without asking");
			cr_expect(strstr(iso_last_error(), "every user may write"),
				  "%s", iso_last_error());
			t.mode = 0666;
			rc = iso_attach(seg, &t, &reg);
			cr_expect_eq(rc, 0, "0666 asked: %s", iso_last_error());
		}
		if (rc == 0)
			iso_detach(reg);

		/* The tools: refused by default, attached with --owner. */
		char *list[] = { (char *)bin("isoctl"), "--segment", seg, "list", NULL };
		cr_expect_eq(run(list, out, sizeof(out), 10000), 1, "%s", out);
		cr_expect(strstr(out, "belongs to uid"), "%s", out);
		char *halt[] = { (char *)bin("isoctl"), "--segment", seg, "halt",
				 "user/victim/KRAKEN", NULL };
		cr_expect_eq(run(halt, out, sizeof(out), 10000), 1, "%s", out);
		if (modes[m] == 0600) {
			char *trusted[] = { (char *)bin("isoctl"), "--segment", seg,
					    "--owner", ATTACKER, "list", NULL };
			cr_expect_eq(run(trusted, out, sizeof(out), 10000), 0, "%s", out);
			cr_expect(strstr(out, "user/victim/KRAKEN"), "%s", out);
		}
		iso_unlink(seg);
	}
}

/* SPEC [R7]: a trader's own 0600 segment: the attacker can neither shrink
 * it nor attach it, so the trader runs on. */
Test(hostile, another_uid_cannot_shrink_or_attach_a_traders_segment, .fini = cleanup)
{
	int status;

	need_attacker();
	new_seg("hostile-trader");
	make_segment(seg, 0600, "trader");
	pid_t trader = fork();
	cr_assert_geq(trader, 0);
	if (trader == 0) {
		iso_reg_t *reg;
		iso_account_t a;
		uint64_t end = tc_mono_ns() + 1500000000ull;

		if (iso_attach(seg, NULL, &reg) || iso_lookup(reg, "user", "trader",
							      "KRAKEN", &a))
			_exit(2);
		while (tc_mono_ns() < end)
			if (iso_record_success(&a, NULL, 100))
				_exit(3);
		_exit(iso_segment_check(reg) == 0 ? 0 : 4);
	}
	chaos_sleep_us(200000);
	cr_expect_eq(as_attacker(try_truncate, seg), 13, "the attacker's "
		     "ftruncate was not refused with EACCES");
	cr_assert_eq(chaos_wait(trader, 20000, &status), 0);
	cr_expect_eq(chaos_exit_code(status), 0, "trader: verdict %d",
		     chaos_exit_code(status));
}

/* SPEC [R7]: group write only when a group mode is asked, other write
 * never unless asked: a segment of our own uid with wider write bits than
 * the attacher intends is refused, and accepted when that mode is asked. */
Test(hostile, write_bits_beyond_the_mode_asked_are_refused, .fini = cleanup)
{
	static const struct { mode_t have, ask; int rc; } cases[] = {
		{ 0600, 0, 0 }, { 0640, 0, 0 }, { 0644, 0, 0 },
		{ 0660, 0, ISO_EPERM }, { 0660, 0660, 0 }, { 0660, 0640, ISO_EPERM },
		{ 0666, 0660, ISO_EPERM }, { 0662, 0, ISO_EPERM }, { 0666, 0666, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct iso_attach_opts o = { .flags = ISO_ATTACH_RDONLY,
					     .mode = cases[i].ask };
		iso_reg_t *reg = NULL;
		int rc;

		new_seg("hostile-mode");
		make_segment(seg, cases[i].have, "m");
		rc = iso_attach(seg, &o, &reg);
		cr_expect_eq(rc, cases[i].rc, "mode 0%o asked 0%o: rc %d (%s)",
			     cases[i].have, cases[i].ask, rc, iso_last_error());
		if (rc == 0)
			iso_detach(reg);
		else
			cr_expect(strstr(iso_last_error(), "may write it"), "%s",
				  iso_last_error());
		iso_unlink(seg);
	}
}

/* ------------------------------------------------ FIFO, directory, link */

/* Attach @name three ways in a child; 0 if all were refused with
 * ISO_EPERM, else which one was not. A hang is the test's time-out. */
static int attach_all_ways(void *p)
{
	static const uint32_t flags[] = { ISO_ATTACH_RDONLY, 0, ISO_ATTACH_CREATE };

	for (int i = 0; i < 3; i++) {
		struct iso_attach_opts o = { .flags = flags[i] };
		iso_reg_t *reg;

		if (iso_attach(p, &o, &reg) != ISO_EPERM)
			return 10 + i;
	}
	return 0;
}

/* SPEC [R7]: a FIFO, a directory or a symbolic link at the name hangs
 * nobody and is attached by nobody: the library and every viewer answer at
 * once with an error naming what sits there. */
Test(hostile, fifo_directory_or_symlink_at_the_name_hangs_nobody, .fini = cleanup)
{
	static const char *const kinds[] = { "FIFO", "directory", "symbolic link" };
	char out[8192];
	int status;

	for (int k = 0; k < 3; k++) {
		new_seg("hostile-kind");
		if (k == 0) {
			cr_assert_eq(mkfifo(path_of(seg), 0600), 0);
		} else if (k == 1) {
			cr_assert_eq(mkdir(path_of(seg), 0700), 0);
		} else {
			chaos_segname(extra, sizeof(extra), "hostile-target");
			make_segment(extra, 0600, "t");
			cr_assert_eq(symlink(path_of(extra), path_of(seg)), 0);
		}
		pid_t pid = chaos_fork(attach_all_ways, seg);
		cr_assert_eq(chaos_wait(pid, 10000, &status), 0, "%s: attach hung",
			     kinds[k]);
		cr_expect_eq(chaos_exit_code(status), 0, "%s: verdict %d", kinds[k],
			     chaos_exit_code(status));

		const char *views[][2] = { { "list", NULL }, { "info", NULL },
					   { "events", NULL }, { "doctor", NULL },
					   { "status", NULL }, { "report", NULL } };
		for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
			char *argv[] = { (char *)bin("isoctl"), "--segment", seg,
					 (char *)views[v][0], NULL };
			int code = run(argv, out, sizeof(out), 10000);

			cr_expect_eq(code, 1, "isoctl %s on a %s: exit %d: %s",
				     views[v][0], kinds[k], code, out);
			cr_expect(strstr(out, kinds[k]), "isoctl %s: %s", views[v][0], out);
		}
		char *top[] = { (char *)bin("isotop"), "--segment", seg, "-b", "-n",
				"1", NULL };
		int code = run(top, out, sizeof(out), 10000);
		cr_expect_eq(code, 1, "isotop on a %s: exit %d: %s", kinds[k], code, out);
		cr_expect(strstr(out, kinds[k]), "isotop: %s", out);

		if (k == 0)
			unlink(path_of(seg));
		else if (k == 1)
			rmdir(path_of(seg));
		else
			unlink(path_of(seg));
		cleanup();
	}
}

/* ------------------------------------------------------ an exporter */

struct server {
	pid_t pid;
	int port;
};

/* Start `isoctl serve` on a free port; its address is read from its
 * first line of output. */
static struct server serve_start(void)
{
	struct server s = { -1, 0 };
	int pfd[2];
	char line[512] = "";
	size_t n = 0;
	pid_t parent = getpid();

	cr_assert_eq(pipe(pfd), 0);
	s.pid = fork();
	cr_assert_geq(s.pid, 0);
	if (s.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(bin("isoctl"), "isoctl", "--segment", seg, "serve", "--listen",
		      "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (n < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		ssize_t r;

		cr_assert_gt(poll(&p, 1, 10000), 0, "isoctl serve said nothing");
		r = read(pfd[0], line + n, sizeof(line) - 1 - n);
		cr_assert_gt(r, 0, "isoctl serve exited: %s", line);
		n += (size_t)r;
		line[n] = '\0';
	}
	close(pfd[0]);
	char *colon = strstr(line, "127.0.0.1:");
	cr_assert(colon, "no address in '%s'", line);
	s.port = atoi(colon + strlen("127.0.0.1:"));
	return s;
}

/* GET @path; the status code, the body into @body. -1 if no answer. */
static int http_get(int port, const char *path, char *body, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char req[256];
	size_t n = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), code = -1;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, 10000) <= 0)
			break;
		r = read(fd, body + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == len - 1)
			break;
	}
	body[n] = '\0';
	close(fd);
	sscanf(body, "HTTP/1.%*d %d", &code);
	return code;
}

static bool alive(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == 0;
}

/* SPEC [R7]: `isoctl serve` survives its segment shrinking under it: the
 * scrape says isoreg_up 0 (and /healthz "damaged", 503), the exporter stays up, and it
 * serves again once a valid segment carries the name. Nor does a FIFO at
 * the name wedge it: it still answers, and still stops on SIGTERM. */
Test(hostile, exporter_survives_a_shrink_and_a_fifo, .fini = cleanup)
{
	static char body[1 << 20];
	int status, code;

	new_seg("hostile-serve");
	make_segment(seg, 0600, "before");
	struct server s = serve_start();

	code = http_get(s.port, "/metrics", body, sizeof(body));
	cr_assert_eq(code, 200, "%s", body);
	cr_assert(strstr(body, "account_id=\"before\""), "no account in:\n%.2000s", body);

	/* A scrape is never an HTTP error (issue 18): 200 with isoreg_up 0,
	 * counted as damaged; /healthz gives the reason with a 503. */
	cr_assert_eq(truncate(path_of(seg), 4096), 0);
	for (int i = 0; i < 3; i++) {
		code = http_get(s.port, "/metrics", body, sizeof(body));
		cr_expect_eq(code, 200, "scrape %d after the shrink: %d\n%.2000s", i,
			     code, body);
		cr_expect(strstr(body, "\nisoreg_up 0\n"), "%.2000s", body);
		cr_expect(!strstr(body, "account_id=\"before\""), "%.2000s", body);
		cr_expect(!strstr(body, "isoreg_exporter_scrape_errors_total{reason=\"damaged\"} 0\n"),
			  "not counted as damaged: %.2000s", body);
		cr_assert(alive(s.pid), "the exporter died of the shrink");
	}
	code = http_get(s.port, "/healthz", body, sizeof(body));
	cr_expect_eq(code, 503, "healthz: %d %s", code, body);
	cr_expect(strstr(body, "damaged") || strstr(body, "truncated"), "%.2000s", body);

	cr_assert_eq(iso_unlink(seg), 0);
	make_segment(seg, 0600, "after");
	code = http_get(s.port, "/metrics", body, sizeof(body));
	cr_expect_eq(code, 200, "%.2000s", body);
	cr_expect(strstr(body, "account_id=\"after\""), "not re-attached:\n%.2000s", body);

	/* A FIFO in place of the segment: answered at once, never hung. */
	cr_assert_eq(iso_unlink(seg), 0);
	cr_assert_eq(mkfifo(path_of(seg), 0600), 0);
	code = http_get(s.port, "/metrics", body, sizeof(body));
	cr_expect_eq(code, 200, "FIFO: %d %.2000s", code, body);
	cr_expect(strstr(body, "\nisoreg_up 0\n"), "%.2000s", body);
	code = http_get(s.port, "/healthz", body, sizeof(body));
	cr_expect_eq(code, 503, "FIFO: %d %.2000s", code, body);
	cr_expect(strstr(body, "FIFO"), "%.2000s", body);
	unlink(path_of(seg));

	kill(s.pid, SIGTERM);
	cr_assert_eq(chaos_wait(s.pid, 10000, &status), 0, "serve ignored SIGTERM");
	cr_expect_eq(chaos_exit_code(status), 0, "serve: %d", chaos_exit_code(status));
}

/* ------------------------------------------------------- isotop -b */

/* Read the file @path into @buf; its length. */
static size_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* Poll @path until it contains @what (at most 10 s). */
static bool wait_text(const char *path, const char *what, char *buf, size_t len)
{
	for (int i = 0; i < 200; i++) {
		slurp(path, buf, len);
		if (strstr(buf, what))
			return true;
		chaos_sleep_us(50000);
	}
	return false;
}

/* SPEC [R7]: isotop -b survives its segment shrinking under it: it says
 * the segment is damaged, goes on, and shows the new segment once a valid
 * one carries the name. Also `isoctl events --follow`. */
Test(hostile, viewers_survive_a_shrink_and_attach_again, .fini = cleanup)
{
	static char buf[1 << 18];
	char out_path[] = "/tmp/isoreg-hostile-top-XXXXXX";
	char err_path[] = "/tmp/isoreg-hostile-err-XXXXXX";
	char ev_path[] = "/tmp/isoreg-hostile-ev-XXXXXX";
	int out = mkstemp(out_path), err = mkstemp(err_path), ev = mkstemp(ev_path);
	pid_t parent = getpid(), top, follow;
	int status;

	cr_assert(out >= 0 && err >= 0 && ev >= 0);
	new_seg("hostile-top");
	make_segment(seg, 0600, "before");
	top = fork();
	cr_assert_geq(top, 0);
	if (top == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(out, 1);
		dup2(err, 2);
		execl(bin("isotop"), "isotop", "--segment", seg, "-b", "-d", "0.05",
		      "-n", "200", (char *)NULL);
		_exit(127);
	}
	follow = fork();
	cr_assert_geq(follow, 0);
	if (follow == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(ev, 1);
		dup2(ev, 2);
		execl(bin("isoctl"), "isoctl", "--segment", seg, "events", "--follow",
		      "--interval-ms", "50", (char *)NULL);
		_exit(127);
	}
	cr_assert(wait_text(out_path, "user/before/KRAKEN", buf, sizeof(buf)),
		  "no first frame:\n%s", buf);
	cr_assert(wait_text(ev_path, "following", buf, sizeof(buf)),
		  "events --follow did not start:\n%s", buf);

	cr_assert_eq(truncate(path_of(seg), 4096), 0);
	cr_expect(wait_text(err_path, "damaged", buf, sizeof(buf)),
		  "isotop did not report the damage:\n%s", buf);
	cr_expect(wait_text(ev_path, "damaged", buf, sizeof(buf)),
		  "events --follow did not report the damage:\n%s", buf);
	cr_assert(alive(top), "isotop died of the shrink");
	cr_assert(alive(follow), "isoctl events --follow died of the shrink");

	cr_assert_eq(iso_unlink(seg), 0);
	make_segment(seg, 0600, "after");
	cr_expect(wait_text(out_path, "user/after/KRAKEN", buf, sizeof(buf)),
		  "isotop did not attach the new segment:\n%s", buf);
	cr_expect(wait_text(ev_path, "created again", buf, sizeof(buf)),
		  "events --follow did not attach the new segment:\n%s", buf);

	kill(follow, SIGTERM);
	cr_assert_eq(chaos_wait(follow, 10000, &status), 0);
	cr_expect_eq(chaos_exit_code(status), 0, "events: %d", chaos_exit_code(status));
	cr_assert_eq(chaos_wait(top, 30000, &status), 0, "isotop did not finish");
	cr_expect_eq(chaos_exit_code(status), 0, "isotop: exit %d (1000+ is a signal)",
		     chaos_exit_code(status));
	close(out);
	close(err);
	close(ev);
	unlink(out_path);
	unlink(err_path);
	unlink(ev_path);
}

/* SPEC [R7]: iso_segment_check tells a trader or viewer what became of its
 * segment without touching the mapping: whole (0), shrunk or overwritten
 * (ISO_ECORRUPT), unlinked or replaced (ISO_ESTALE). */
Test(hostile, segment_check_tells_shrunk_from_replaced, .fini = cleanup)
{
	iso_reg_t *a, *b;
	int fd;

	new_seg("hostile-check");
	make_segment(seg, 0600, "c");
	cr_assert_eq(iso_attach(seg, NULL, &a), 0);
	cr_assert_eq(iso_segment_check(a), 0, "%s", iso_last_error());
	cr_assert_eq(iso_unlink(seg), 0);
	cr_expect_eq(iso_segment_check(a), ISO_ESTALE);
	cr_expect(strstr(iso_last_error(), "unlinked"), "%s", iso_last_error());
	make_segment(seg, 0600, "c2");
	cr_expect_eq(iso_segment_check(a), ISO_ESTALE);
	cr_expect(strstr(iso_last_error(), "replaced"), "%s", iso_last_error());
	cr_assert_eq(iso_attach(seg, NULL, &b), 0);
	cr_assert_eq(iso_segment_check(b), 0);
	/* The header overwritten in place: damaged, though whole in size. */
	fd = open(path_of(seg), O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "XXXXXXXX", 8, 0), 8);
	cr_expect_eq(iso_segment_check(b), ISO_ECORRUPT);
	cr_expect(strstr(iso_last_error(), "overwritten"), "%s", iso_last_error());
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd);
	cr_expect_eq(iso_segment_check(b), ISO_ECORRUPT);
	cr_expect(strstr(iso_last_error(), "shrank"), "%s", iso_last_error());
	iso_detach(a);
	iso_detach(b);
}

static int read_past(void *p)
{
	return *(volatile const unsigned char *)p;
}

/* SPEC [R7]: the tools' SIGBUS guard turns a read past the end of a shrunk
 * mapping into TOOL_BUS_FAULT, leaves a normal pass alone, and can be used
 * again afterwards. */
Test(hostile, bus_guard_turns_a_read_past_a_shrink_into_an_error, .fini = cleanup)
{
	char tpl[] = "/dev/shm/isoreg-hostile-guard-XXXXXX";
	int fd = mkstemp(tpl);
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *m;

	cr_assert_geq(fd, 0);
	unlink(tpl);
	cr_assert_eq(ftruncate(fd, 4 * page), 0);
	m = mmap(NULL, (size_t)(4 * page), PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	cr_expect_eq(tool_bus_guard(read_past, m + 3 * page), 0);
	cr_assert_eq(ftruncate(fd, page), 0);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(tool_bus_guard(read_past, m + 3 * page), TOOL_BUS_FAULT);
	cr_expect_eq(tool_bus_guard(read_past, m), 0, "a page still there");
	munmap(m, (size_t)(4 * page));
	close(fd);
}

/* ------------------------------------------------------ a full /dev/shm */

enum { NS_OK = 0, NS_SETUP = 10, NS_CREATED, NS_LEFT, NS_MSG, NS_SMALL,
       NS_FILL, NS_WRITE, NS_DOCTOR, NS_TOOL, NS_TOOL_LEFT };

static int count_dev_shm(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* In a private mount namespace with a 2 MiB tmpfs on /dev/shm. */
static int full_disk_child(void *p)
{
	const char *isoctl = p;
	struct iso_attach_opts big = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				       .capacity = 100000 };
	struct iso_attach_opts small = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					 .capacity = 64 };
	static char buf[1 << 16];
	iso_reg_t *reg;
	iso_account_t a;
	int status;

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=2m,mode=1777"))
		return NS_SETUP;
	/* Too big for the file system: refused now, not SIGBUS later. */
	if (iso_attach("/full", &big, &reg) != ISO_ESYS)
		return NS_CREATED;
	if (!strstr(iso_last_error(), "No space left"))
		return NS_MSG;
	if (count_dev_shm() != 0)
		return NS_LEFT;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(isoctl, "isoctl", "--segment", "/full", "create", "--capacity",
		      "100000", (char *)NULL);
		_exit(127);
	}
	if (chaos_wait(pid, 10000, &status) || chaos_exit_code(status) != 1)
		return NS_TOOL;
	if (count_dev_shm() != 0)
		return NS_TOOL_LEFT;

	/* One that fits, then someone fills the rest: its untouched pages
	 * were reserved, so writing and reading them cannot fault. */
	if (iso_attach("/small", &small, &reg))
		return NS_SMALL;
	int fill = open("/dev/shm/filler", O_CREAT | O_WRONLY, 0600);
	if (fill < 0)
		return NS_FILL;
	while (write(fill, buf, sizeof(buf)) > 0)
		;
	if (errno != ENOSPC)
		return NS_FILL;
	close(fill);
	for (int i = 0; i < 60; i++) {
		char id[16];

		snprintf(id, sizeof(id), "u%d", i);
		if (iso_register(reg, "user", id, "KRAKEN", &a) ||
		    iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 1000))
			return NS_WRITE;
	}
	iso_detach(reg);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(isoctl, "isoctl", "--segment", "/small", "doctor", (char *)NULL);
		_exit(127);
	}
	if (chaos_wait(pid, 10000, &status) || chaos_exit_code(status) != 0)
		return NS_DOCTOR;
	return NS_OK;
}

/* SPEC [R7]: a full /dev/shm refuses a creation with ISO_ESYS (ENOSPC) and
 * a clear message, leaves nothing behind, and cannot make a created
 * segment's readers or writers die of SIGBUS. */
Test(hostile, full_dev_shm_refuses_creation_and_kills_nobody)
{
	int status;

	if (geteuid() != 0)
		cr_skip_test("needs root: a private mount namespace (unshare -m) "
			     "with a small tmpfs on /dev/shm");
	pid_t pid = chaos_fork(full_disk_child, (void *)bin("isoctl"));
	cr_assert_eq(chaos_wait(pid, 60000, &status), 0, "hung");
	int v = chaos_exit_code(status);
	if (v == NS_SETUP)
		cr_skip_test("cannot make a private mount namespace here");
	cr_expect_eq(v, NS_OK, "verdict %d (1000+ is a signal: %s)", v,
		     v > 1000 ? strsignal(v - 1000) : "-");
}

/* ------------------------------------------------- temporary names */

/* SPEC [R7][R2]: creating /x never removes a live segment whose name looks
 * like a temporary name of /x (on 7e0da25, /x.tmp.<dead pid> was swept). */
Test(hostile, creation_never_removes_a_live_segment, .fini = cleanup)
{
	iso_reg_t *reg;

	new_seg("hostile-tmp");
	snprintf(extra, sizeof(extra), "%s.tmp.4194305", seg);
	make_segment(extra, 0600, "live");
	snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ".0");
	make_segment(extra, 0600, "live0");
	make_segment(seg, 0600, "x");
	cr_expect_eq(iso_attach(extra, NULL, &reg), 0, "%s was removed: %s", extra,
		     iso_last_error());
	if (reg)
		iso_detach(reg);
	extra[strlen(extra) - 2] = '\0';
	cr_expect_eq(iso_attach(extra, NULL, &reg), 0, "%s was removed: %s", extra,
		     iso_last_error());
	if (reg)
		iso_detach(reg);
	iso_unlink(extra);
	strcat(extra, ".0");
}

/* SPEC [R7]: temporary names planted where a creator would have put them
 * (<name>.tmp.<pid>.<n>, for every n it could use) do not make a creation
 * fail: creation names nothing but the segment (O_TMPFILE, then linkat). */
Test(hostile, planted_temporary_names_do_not_stop_creation, .fini = cleanup)
{
	char p[300];

	new_seg("hostile-plant");
	for (int n = 0; n < 256; n++) {
		snprintf(p, sizeof(p), "%s.tmp.%d.%d", path_of(seg), (int)getpid(), n);
		int fd = open(p, O_CREAT | O_WRONLY, 0600);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	make_segment(seg, 0600, "planted");
	for (int n = 0; n < 256; n++) {
		snprintf(p, sizeof(p), "%s.tmp.%d.%d", path_of(seg), (int)getpid(), n);
		cr_expect_eq(access(p, F_OK), 0, "a planted name that is no "
			     "temporary of ours was removed: %s", p);
		unlink(p);
	}
}

static int plant_temp(void *p)
{
	int fd = open(p, O_CREAT | O_WRONLY, 0600);

	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

/* SPEC [R7][R2]: creation has no temporary names, so it removes nothing
 * beside its name: not a dead creator's leftover of the old pattern, a
 * live one's, a FIFO, nor another uid's file (on 7e0da25 the first went). */
Test(hostile, creation_removes_nothing_beside_its_name, .fini = cleanup)
{
	char dead[300], live[300], fifo[300], other[300];

	new_seg("hostile-sweep");
	/* pid 2^22+1 is above pid_max: a creator that is certainly dead. */
	snprintf(dead, sizeof(dead), "%s.tmp.4194305.0", path_of(seg));
	snprintf(live, sizeof(live), "%s.tmp.%d.0", path_of(seg), (int)getpid());
	snprintf(fifo, sizeof(fifo), "%s.tmp.4194305.1", path_of(seg));
	snprintf(other, sizeof(other), "%s.tmp.4194305.2", path_of(seg));
	cr_assert_eq(plant_temp(dead), 0);
	cr_assert_eq(plant_temp(live), 0);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	bool root = geteuid() == 0;
	if (root) {
		need_attacker();
		cr_assert_eq(as_attacker(plant_temp, other), 0);
	}

	make_segment(seg, 0600, "creator");
	cr_expect_eq(access(dead, F_OK), 0, "a dead creator's leftover was removed");
	cr_expect_eq(access(live, F_OK), 0, "a live creator's file was removed");
	cr_expect_eq(access(fifo, F_OK), 0, "a FIFO was removed");
	if (root)
		cr_expect_eq(access(other, F_OK), 0, "another uid's file was removed");
	unlink(dead);
	unlink(live);
	unlink(fifo);
	unlink(other);
}

/* ------------------------------------------------------ escape bytes */

/* Replace every occurrence of @from in the object @name by @to (same
 * length), through a file descriptor: a hostile writer's edit. */
static int poke(const char *name, const char *from, const char *to)
{
	uint8_t *b;
	size_t len, n = strlen(from);
	int hits = 0, fd;

	cr_assert_eq(chaos_shm_read(name, &b, &len), 0);
	fd = open(path_of(name), O_RDWR);
	cr_assert_geq(fd, 0);
	for (size_t i = 0; i + n <= len; i++) {
		if (memcmp(b + i, from, n) == 0) {
			cr_assert_eq(pwrite(fd, to, n, (off_t)i), (ssize_t)n);
			hits++;
		}
	}
	close(fd);
	free(b);
	return hits;
}

/* SPEC [R7]: escape sequences written into a slot's key (and broker)
 * reach no terminal raw: isoctl list, status and report and isotop -b show
 * them as \xHH, and flag the slot as corrupt. */
Test(hostile, escape_bytes_in_a_key_reach_no_terminal_raw, .fini = cleanup)
{
	static char out[1 << 16];

	new_seg("hostile-esc");
	make_segment(seg, 0600, "evilkey");
	cr_assert_gt(poke(seg, "evilkey", "e\x1b[2Jk\x07"), 0);
	cr_assert_gt(poke(seg, "BINANCE", "BIN\x1b]0X"), 0);

	char *cmds[][8] = {
		{ (char *)bin("isoctl"), "--segment", seg, "list", NULL },
		{ (char *)bin("isoctl"), "--segment", seg, "status", NULL },
		{ (char *)bin("isoctl"), "--segment", seg, "report", NULL },
		{ (char *)bin("isoctl"), "--segment", seg, "events", NULL },
		{ (char *)bin("isotop"), "--segment", seg, "-b", "-n", "1", NULL },
	};
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		const char *what = c == 4 ? "isotop -b" : cmds[c][3];
		int code = run(cmds[c], out, sizeof(out), 10000);

		cr_expect_eq(code, 0, "%s: exit %d: %s", what, code, out);
		cr_expect_null(memchr(out, 0x1b, strlen(out)), "%s printed a raw ESC:\n%s",
			       what, out);
		cr_expect_null(memchr(out, 0x07, strlen(out)), "%s printed a raw BEL", what);
		/* events may show the slot instead of a key it cannot vouch
		 * for; the others show the key, escaped. */
		if (c != 2 && c != 3)
			cr_expect(strstr(out, "e\\x1b[2Jk\\x07"), "%s: key not escaped:\n%s",
				  what, out);
		if (c == 0 || c == 1 || c == 4)
			cr_expect(strstr(out, "CORRUPT"), "%s: slot not flagged:\n%s",
				  what, out);
		if (c == 2 || c == 4)
			cr_expect(strstr(out, "BIN\\x1b]0X"), "%s: broker not escaped:\n%s",
				  what, out);
	}
}

/* SPEC [R7]: the escaping helper itself: printable ASCII passes, anything
 * else is \xHH, and it says whether the text was clean. */
Test(hostile, escaping_shows_every_unprintable_byte)
{
	char buf[64];
	struct iso_key k = { "user", "a\x1b" "b", "KR\xff" };

	cr_expect(cli_escape("plain-Text_1", 32, buf, sizeof(buf)));
	cr_expect_str_eq(buf, "plain-Text_1");
	cr_expect(!cli_escape("a b\n\x7f", 32, buf, sizeof(buf)));
	cr_expect_str_eq(buf, "a\\x20b\\x0a\\x7f");
	cr_expect(!cli_key_escape(&k, buf, sizeof(buf)));
	cr_expect_str_eq(buf, "user/a\\x1bb/KR\\xff");
	struct iso_key empty = { "user", "", "KRAKEN" };
	cr_expect(!cli_key_escape(&empty, buf, sizeof(buf)), "an empty id is no key");
}
