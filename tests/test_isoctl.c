/*
 * test_isoctl.c - end-to-end tests of the isoctl admin CLI [T1]: each test
 * runs the built binary ($ISOREG_BIN/isoctl) on a segment of its own and
 * checks exit codes, messages, and --json output parsed with json-c.
 *
 * json-c is loaded with dlopen because the test binary is not linked with
 * it (TEST_LIBS has no -ljson-c); the calls are json-c's own.
 */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "isoreg.h"
#include "layout.h" /* to damage a segment on purpose */

#define OUT_MAX (256 * 1024)
#define MAX_ARGS 32

/* ----------------------------------------------------------- json-c */

static struct {
	void *lib;
	json_object *(*parse)(const char *);
	json_bool (*get_ex)(const json_object *, const char *, json_object **);
	int64_t (*get_int64)(const json_object *);
	const char *(*get_string)(json_object *);
	json_bool (*get_boolean)(const json_object *);
	size_t (*array_length)(const json_object *);
	json_object *(*array_get)(const json_object *, size_t);
	int (*put)(json_object *);
	json_type (*get_type)(const json_object *);
} J;

static void json_load(void)
{
	if (J.lib)
		return;
	J.lib = dlopen("libjson-c.so.5", RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(J.lib, "dlopen libjson-c.so.5: %s", dlerror());
#define SYM(field, name)                                                   \
	do {                                                               \
		*(void **)&J.field = dlsym(J.lib, name);                   \
		cr_assert_not_null(J.field, "json-c lacks %s", name);      \
	} while (0)
	SYM(parse, "json_tokener_parse");
	SYM(get_ex, "json_object_object_get_ex");
	SYM(get_int64, "json_object_get_int64");
	SYM(get_string, "json_object_get_string");
	SYM(get_boolean, "json_object_get_boolean");
	SYM(array_length, "json_object_array_length");
	SYM(array_get, "json_object_array_get_idx");
	SYM(put, "json_object_put");
	SYM(get_type, "json_object_get_type");
#undef SYM
}

static json_object *json_parse(const char *text)
{
	json_object *o;

	json_load();
	o = J.parse(text);
	cr_assert_not_null(o, "output is not JSON:\n%s", text);
	return o;
}

/* The member at dotted @path ("config.failure_threshold"); fails the test
 * if any part is missing. */
static json_object *jget(json_object *o, const char *path)
{
	char buf[256], *save = NULL, *part;
	json_object *cur = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part;
	     part = strtok_r(NULL, ".", &save)) {
		json_object *next = NULL;

		cr_assert(J.get_ex(cur, part, &next), "JSON has no '%s' (in %s)",
			  part, path);
		cur = next;
	}
	return cur;
}

static int64_t jint(json_object *o, const char *path)
{
	return J.get_int64(jget(o, path));
}

static const char *jstr(json_object *o, const char *path)
{
	json_object *v = jget(o, path);

	cr_assert_eq(J.get_type(v), json_type_string, "%s is not a string",
		     path);
	return J.get_string(v);
}

static bool jbool(json_object *o, const char *path)
{
	json_object *v = jget(o, path);

	cr_assert_eq(J.get_type(v), json_type_boolean, "%s is not a boolean",
		     path);
	return J.get_boolean(v);
}

/* ------------------------------------------------------ running isoctl */

struct run {
	int code;          /* exit status, or 128 + signal */
	char out[OUT_MAX];
	char err[OUT_MAX];
};

static char seg[64];
static char bin[512];

static char state_dir[64];

static void setup(void)
{
	static int n;
	const char *dir = getenv("ISOREG_BIN");

	snprintf(seg, sizeof(seg), "/isoreg-test-isoctl-%d-%d", (int)getpid(),
		 n++);
	snprintf(bin, sizeof(bin), "%s/isoctl", dir && dir[0] ? dir : "build/bin");
	cr_assert_eq(access(bin, X_OK), 0, "no isoctl binary at %s "
		     "(set ISOREG_BIN)", bin);
	/* Operators' durable state goes to a directory of this test's own,
	 * never the machine's /var/lib/isoreg. */
	snprintf(state_dir, sizeof(state_dir), "/tmp/isoreg-test-state-%d",
		 (int)getpid());
	mkdir(state_dir, 0700);
	setenv("ISOREG_STATE_DIR", state_dir, 1);
}

static void teardown(void)
{
	char cmd[128];
	iso_unlink(seg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", state_dir);
}

/* Start isoctl with @argv (NULL-terminated, without the program); its
 * stdout and stderr come back through *@out_fd / *@err_fd. */
static pid_t spawn(const char *env_segment, const char *const *args,
		   int *out_fd, int *err_fd)
{
	int o[2], e[2];
	pid_t pid;

	cr_assert_eq(pipe(o), 0);
	cr_assert_eq(pipe(e), 0);
	pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		const char *argv[MAX_ARGS + 2];
		int i = 0;

		argv[i++] = bin;
		for (; args[i - 1] && i <= MAX_ARGS; i++)
			argv[i] = args[i - 1];
		argv[i] = NULL;
		dup2(o[1], 1);
		dup2(e[1], 2);
		close(o[0]);
		close(o[1]);
		close(e[0]);
		close(e[1]);
		if (env_segment)
			setenv("ISOREG_SEGMENT", env_segment, 1);
		else
			unsetenv("ISOREG_SEGMENT");
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	*out_fd = o[0];
	*err_fd = e[0];
	return pid;
}

/* Append what is readable on @fd to @buf; false at EOF. */
static bool slurp(int fd, char *buf, size_t *len)
{
	ssize_t n = read(fd, buf + *len, OUT_MAX - 1 - *len);

	if (n <= 0)
		return false;
	*len += (size_t)n;
	buf[*len] = '\0';
	return true;
}

static int wait_code(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run isoctl to completion with @args; collect both streams. */
static void runv(struct run *r, const char *env_segment, const char *const *args)
{
	size_t ol = 0, el = 0;
	int ofd, efd;
	pid_t pid = spawn(env_segment, args, &ofd, &efd);
	struct pollfd p[2] = { { .fd = ofd, .events = POLLIN },
			       { .fd = efd, .events = POLLIN } };
	int open_fds = 2;

	r->out[0] = r->err[0] = '\0';
	while (open_fds) {
		/* A hung isoctl is a failure, not a hung suite. */
		int n = poll(p, 2, 20000);

		if (n == 0) {
			kill(pid, SIGKILL);
			cr_assert_fail("isoctl %s timed out", args[0]);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (p[0].revents && !slurp(ofd, r->out, &ol)) {
			p[0].fd = -1;
			open_fds--;
		}
		if (p[1].revents && !slurp(efd, r->err, &el)) {
			p[1].fd = -1;
			open_fds--;
		}
	}
	close(ofd);
	close(efd);
	r->code = wait_code(pid);
}

/* isoctl --segment <seg> <the NULL-terminated words in @ap>; returns the
 * command word for messages. */
static const char *vrun(struct run *r, va_list ap)
{
	const char *args[MAX_ARGS + 1];
	int n = 0;

	args[n++] = "--segment";
	args[n++] = seg;
	while (n < MAX_ARGS && (args[n] = va_arg(ap, const char *)))
		n++;
	args[n] = NULL;
	runv(r, NULL, args);
	return args[2] ? args[2] : "(no command)";
}

/* run(r, "status", "--json", NULL): isoctl --segment <seg> status --json */
static void run(struct run *r, ...)
{
	va_list ap;

	va_start(ap, r);
	vrun(r, ap);
	va_end(ap);
}

/* Like run, but the command must succeed. */
static void ok(struct run *r, ...)
{
	const char *cmd;
	va_list ap;

	va_start(ap, r);
	cmd = vrun(r, ap);
	va_end(ap);
	cr_assert_eq(r->code, 0, "isoctl %s exited %d\nstdout:\n%s\nstderr:\n%s",
		     cmd, r->code, r->out, r->err);
}

static void create_segment(struct run *r)
{
	ok(r, "create", "--capacity", "64", "failure_threshold=3",
	   "open_timeout_ms=600000", NULL);
}

/* status KEY --json, parsed; the caller puts it. */
static json_object *status_json(struct run *r, const char *key)
{
	ok(r, "status", key, "--json", NULL);
	return json_parse(r->out);
}

static struct run R; /* big buffers: static, one test per process */

TestSuite(isoctl, .init = setup, .fini = teardown, .timeout = 60);

/* [T1] create sets capacity and default config; info reports them. */
Test(isoctl, create_then_info_reports_the_segment)
{
	json_object *o;

	create_segment(&R);
	cr_assert(strstr(R.out, "created"), "%s", R.out);
	ok(&R, "info", "--json", NULL);
	o = json_parse(R.out);
	cr_assert_eq(jint(o, "capacity"), 64);
	cr_assert_eq(jint(o, "live"), 0);
	cr_assert_str_eq(jstr(o, "name"), seg);
	cr_assert(jbool(o, "read_only"), "info must attach read-only [R3]");
	cr_assert_eq(jint(o, "defaults.failure_threshold"), 3);
	cr_assert_eq(jint(o, "defaults.open_timeout_ms"), 600000);
	cr_assert_eq(jint(o, "bytes_per_account") * 64,
		     jint(o, "segment_size"));
	J.put(o);
	ok(&R, "info", NULL);
	cr_assert(strstr(R.out, "bytes per account"), "%s", R.out);
}

/* [R3] create honours --mode: the shm object gets exactly that mode,
 * group write included whatever the umask. */
Test(isoctl, create_sets_the_requested_mode)
{
	char path[128];
	struct stat sb;

	ok(&R, "create", "--capacity", "16", "--mode", "0660", NULL);
	cr_assert(strstr(R.out, "mode 0660"), "%s", R.out);
	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	cr_assert_eq(stat(path, &sb), 0, "stat %s: %s", path, strerror(errno));
	cr_assert_eq(sb.st_mode & 0777, 0660, "mode %o", sb.st_mode & 0777);
}

/* [T1] a second create of the same segment is a runtime error. */
Test(isoctl, create_refuses_an_existing_segment)
{
	create_segment(&R);
	run(&R, "create", NULL);
	cr_assert_eq(R.code, 1, "stderr: %s", R.err);
	cr_assert(strstr(R.err, seg), "the message names the segment: %s",
		  R.err);
}

/* [T1][K1] register normalises the key; record and status agree. */
Test(isoctl, recorded_outcomes_show_in_status_json)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "USER/User1/kraken", NULL);
	cr_assert(strstr(R.out, "user/user1/KRAKEN"), "%s", R.out);
	ok(&R, "record", "user/user1/KRAKEN", "failure", "--type", "network",
	   "--op-ms", "2", "--count", "2", NULL);
	ok(&R, "record", "user/user1/KRAKEN", "success", "--op-ms", "1.5",
	   "--count", "4", NULL);
	o = status_json(&R, "user/user1/KRAKEN");
	cr_assert_str_eq(jstr(o, "key"), "user/user1/KRAKEN");
	cr_assert_str_eq(jstr(o, "broker"), "KRAKEN");
	cr_assert_eq(jint(o, "operations"), 6);
	cr_assert_eq(jint(o, "successes"), 4);
	cr_assert_eq(jint(o, "failures"), 2);
	cr_assert_eq(jint(o, "failures_by_type.NETWORK"), 2);
	cr_assert_eq(jint(o, "failures_by_type.API"), 0);
	cr_assert_eq(jint(o, "timed_operations"), 6);
	cr_assert_eq(jint(o, "consecutive_successes"), 4);
	cr_assert_eq(jint(o, "consecutive_failures"), 0);
	cr_assert_str_eq(jstr(o, "breaker"), "CLOSED");
	cr_assert_eq(jint(o, "config.failure_threshold"), 3);
	cr_assert_not(jbool(o, "config_override"));
	cr_assert_gt(jint(o, "p50_op_ns"), 0);
	J.put(o);

	ok(&R, "status", "user/user1/KRAKEN", NULL);
	cr_assert(strstr(R.out, "NETWORK=2"), "%s", R.out);
	cr_assert(strstr(R.out, "6 (4 successes, 2 failures)"), "%s", R.out);
}

/* [T1][B3] failure_threshold failures quarantine the account; list shows
 * it first with its retry time, and only it. */
Test(isoctl, tripped_account_is_quarantined_in_list)
{
	json_object *o, *acc;

	create_segment(&R);
	ok(&R, "register", "user/calm/KRAKEN", NULL);
	ok(&R, "record", "user/bad/KRAKEN", "failure", "--type", "API",
	   "--count", "3", NULL);
	cr_assert(strstr(R.out, "QUARANTINED"), "%s", R.out);
	o = status_json(&R, "user/bad/KRAKEN");
	cr_assert_str_eq(jstr(o, "health"), "QUARANTINED");
	cr_assert_str_eq(jstr(o, "breaker"), "OPEN");
	cr_assert_gt(jint(o, "retry_in_ms"), 0);
	cr_assert_leq(jint(o, "retry_in_ms"), 600000);
	cr_assert_eq(jint(o, "quarantines"), 1);
	J.put(o);

	ok(&R, "list", "--json", NULL);
	o = json_parse(R.out);
	acc = jget(o, "accounts");
	cr_assert_eq(J.array_length(acc), 2);
	cr_assert_str_eq(jstr(J.array_get(acc, 0), "key"), "user/bad/KRAKEN",
			 "worst first");
	cr_assert_str_eq(jstr(J.array_get(acc, 1), "health"), "HEALTHY");
	J.put(o);

	ok(&R, "list", "--not-healthy", NULL);
	cr_assert(strstr(R.out, "user/bad/KRAKEN"), "%s", R.out);
	cr_assert_null(strstr(R.out, "user/calm/KRAKEN"), "%s", R.out);
	cr_assert(strstr(R.out, "API=3"), "%s", R.out);
}

/* [T1][B2] halt forces the breaker open until release; release of an
 * account that is not halted says so. */
Test(isoctl, halt_holds_until_release)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "platform/main/COINBASE", NULL);
	ok(&R, "halt", "platform/main/COINBASE", NULL);
	cr_assert(strstr(R.out, "FORCED_OPEN"), "%s", R.out);
	o = status_json(&R, "platform/main/COINBASE");
	cr_assert_str_eq(jstr(o, "breaker"), "FORCED_OPEN");
	cr_assert_str_eq(jstr(o, "health"), "QUARANTINED");
	J.put(o);
	ok(&R, "list", NULL);
	cr_assert(strstr(R.out, "halted"), "%s", R.out);
	/* Successes do not lift a halt (--force: record is refused on a
	 * halted account otherwise, as a trader's acquire is). */
	ok(&R, "record", "platform/main/COINBASE", "success", "--count", "5",
	   "--force", NULL);
	o = status_json(&R, "platform/main/COINBASE");
	cr_assert_str_eq(jstr(o, "breaker"), "FORCED_OPEN");
	J.put(o);

	ok(&R, "release", "platform/main/COINBASE", NULL);
	cr_assert(strstr(R.out, "released"), "%s", R.out);
	cr_assert_null(strstr(R.out, "not halted"), "%s", R.out);
	o = status_json(&R, "platform/main/COINBASE");
	cr_assert_str_eq(jstr(o, "breaker"), "CLOSED");
	cr_assert_str_eq(jstr(o, "health"), "HEALTHY");
	J.put(o);

	ok(&R, "release", "platform/main/COINBASE", NULL);
	cr_assert(strstr(R.out, "not halted"), "%s", R.out);
}

/* [T1] reset closes a tripped breaker and keeps the statistics. */
Test(isoctl, reset_closes_a_tripped_breaker)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "record", "user/u2/KRAKEN", "failure", "--count", "3", NULL);
	ok(&R, "reset", "user/u2/KRAKEN", NULL);
	cr_assert(strstr(R.out, "was QUARANTINED (OPEN), now HEALTHY (CLOSED)"),
		  "%s", R.out);
	o = status_json(&R, "user/u2/KRAKEN");
	cr_assert_str_eq(jstr(o, "health"), "HEALTHY");
	cr_assert_eq(jint(o, "failures"), 3);
	cr_assert_eq(jint(o, "failures_by_type.UNKNOWN"), 3);
	cr_assert_eq(jint(o, "consecutive_failures"), 0);
	J.put(o);
}

/* [T1][B1] config per account, back to the default, and the default. */
Test(isoctl, config_per_account_and_segment_default)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/u3/KRAKEN", NULL);
	ok(&R, "config", "user/u3/KRAKEN", "failure_threshold=2",
	   "trip_on=AUTHENTICATION", NULL);
	o = status_json(&R, "user/u3/KRAKEN");
	cr_assert(jbool(o, "config_override"));
	cr_assert_eq(jint(o, "config.failure_threshold"), 2);
	cr_assert_str_eq(J.get_string(J.array_get(jget(o, "config.trip_on"), 0)),
			 "AUTHENTICATION");
	J.put(o);

	/* The override takes effect: two failures now trip it. */
	ok(&R, "record", "user/u3/KRAKEN", "failure", "--count", "2", NULL);
	o = status_json(&R, "user/u3/KRAKEN");
	cr_assert_str_eq(jstr(o, "breaker"), "OPEN");
	J.put(o);

	/* The segment default is untouched. */
	ok(&R, "config", "--json", NULL);
	o = json_parse(R.out);
	cr_assert_eq(jint(o, "failure_threshold"), 3);
	J.put(o);

	ok(&R, "config", "user/u3/KRAKEN", "--default", NULL);
	ok(&R, "config", "failure_threshold=7", NULL);
	ok(&R, "config", "user/u3/KRAKEN", "--json", NULL);
	o = json_parse(R.out);
	cr_assert_not(jbool(o, "override"));
	cr_assert_eq(jint(o, "failure_threshold"), 7,
		     "an account without override follows the new default");
	J.put(o);
	ok(&R, "config", NULL);
	cr_assert(strstr(R.out, "failure_threshold=7\n"), "%s", R.out);
}

/* [T1][B1] a bad config is refused with the field named, exit 2. */
Test(isoctl, bad_config_is_refused_naming_the_field)
{
	create_segment(&R);
	run(&R, "config", "no_such_field=1", NULL);
	cr_assert_eq(R.code, 2, "stderr: %s", R.err);
	cr_assert(strstr(R.err, "no_such_field"), "%s", R.err);
	run(&R, "config", "success_threshold=0", NULL);
	cr_assert_eq(R.code, 2);
	cr_assert(strstr(R.err, "success_threshold"), "%s", R.err);
	run(&R, "config", "threshold", NULL);
	cr_assert_eq(R.code, 2);
	run(&R, "create", "half_open_max_calls=zero", NULL);
	cr_assert_eq(R.code, 2);
	cr_assert(strstr(R.err, "half_open_max_calls"), "%s", R.err);
	/* Nothing changed. */
	ok(&R, "config", NULL);
	cr_assert(strstr(R.out, "success_threshold=3\n"), "%s", R.out);
}

/* [T1] events lists the transitions, text and JSON. */
Test(isoctl, events_lists_transitions)
{
	json_object *o;
	char *line, *save = NULL;
	bool saw_trip = false;

	create_segment(&R);
	ok(&R, "record", "user/ev/KRAKEN", "failure", "--type",
	   "RATE_LIMIT", "--count", "3", NULL);
	ok(&R, "halt", "user/ev/KRAKEN", NULL);
	ok(&R, "events", NULL);
	cr_assert(strstr(R.out, "user/ev/KRAKEN"), "%s", R.out);
	cr_assert(strstr(R.out, "-> QUARANTINED"), "%s", R.out);
	cr_assert(strstr(R.out, "RATE_LIMIT"), "%s", R.out);
	cr_assert(strstr(R.out, "force_open") || strstr(R.out, "FORCED_OPEN"),
		  "%s", R.out);

	ok(&R, "events", "--json", NULL);
	for (line = strtok_r(R.out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *k;

		o = json_parse(line);
		if (J.get_ex(o, "missed", &k)) {
			J.put(o);
			continue;
		}
		cr_assert_eq(jint(o, "pid") > 0, true);
		if (strcmp(jstr(o, "to"), "QUARANTINED") == 0 &&
		    strcmp(jstr(o, "cause"), iso_cause_name(ISO_CAUSE_FAILURE)) == 0) {
			cr_assert_str_eq(jstr(o, "key"), "user/ev/KRAKEN");
			cr_assert_str_eq(jstr(o, "failure_type"), "RATE_LIMIT");
			cr_assert_str_eq(jstr(o, "breaker"), "OPEN");
			saw_trip = true;
		}
		J.put(o);
	}
	cr_assert(saw_trip, "no trip event in --json output");

	ok(&R, "events", "--last", "1", NULL);
	cr_assert_eq(strchr(R.out, '\n'), R.out + strlen(R.out) - 1,
		     "--last 1 prints one line: %s", R.out);
}

/* Read @fd into @buf until @needle shows up; fails the test if the
 * process ends first. The poll timeout only guards against a hang. */
static void wait_for(pid_t pid, int fd, char *buf, size_t *len,
		     const char *needle)
{
	while (!strstr(buf, needle)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, 30000);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kill(pid, SIGKILL);
			cr_assert_fail("no '%s' from the follower: %s", needle, buf);
		}
		cr_assert(slurp(fd, buf, len), "follower ended before '%s': %s",
			  needle, buf);
	}
}

/* [T1] events --follow --from-start prints the backlog, then transitions
 * as they happen, and stops cleanly (exit 0) on SIGINT. */
Test(isoctl, events_follow_streams_until_sigint)
{
	const char *args[] = { "--segment", seg, "events", "--follow",
			       "--from-start", "--interval-ms", "20", NULL };
	static char out[OUT_MAX], err[OUT_MAX];
	size_t ol = 0, el = 0;
	int ofd, efd, code;
	pid_t pid;

	create_segment(&R);
	ok(&R, "record", "user/fol/KRAKEN", "failure", "--count", "3", NULL);
	pid = spawn(NULL, args, &ofd, &efd);
	wait_for(pid, efd, err, &el, "following");
	wait_for(pid, ofd, out, &ol, "-> QUARANTINED");
	cr_assert(strstr(out, "user/fol/KRAKEN"), "%s", out);
	cr_assert_null(strstr(out, "FORCED_OPEN"), "%s", out);
	/* The follower announced itself: this halt comes after its cursor. */
	ok(&R, "halt", "user/fol/KRAKEN", NULL);
	wait_for(pid, ofd, out, &ol, "FORCED_OPEN");
	cr_assert_eq(kill(pid, SIGINT), 0);
	while (slurp(ofd, out, &ol))
		;
	while (slurp(efd, err, &el))
		;
	close(ofd);
	close(efd);
	code = wait_code(pid);
	cr_assert_eq(code, 0, "exit %d after SIGINT: %s", code, err);
}

/* [T1] a follower outlives its segment: it says when the name is
 * unlinked, and moves to a segment created again under the same name. */
Test(isoctl, events_follow_moves_to_a_recreated_segment)
{
	const char *args[] = { "--segment", seg, "events", "--follow",
			       "--interval-ms", "20", NULL };
	static char out[OUT_MAX], err[OUT_MAX];
	size_t ol = 0, el = 0;
	int ofd, efd;
	pid_t pid;

	create_segment(&R);
	pid = spawn(NULL, args, &ofd, &efd);
	wait_for(pid, efd, err, &el, "following");
	/* The follower has it mapped: unlink names it and needs --force. */
	run(&R, "unlink", NULL);
	cr_assert_eq(R.code, 1, "unlinked under an attached process");
	cr_assert(strstr(R.err, "isoctl"), "the attached process is not named: %s", R.err);
	ok(&R, "unlink", "--force", NULL);
	wait_for(pid, efd, err, &el, "unlinked");
	create_segment(&R);
	ok(&R, "record", "user/again/KRAKEN", "failure", "--count", "3", NULL);
	wait_for(pid, efd, err, &el, "created again");
	wait_for(pid, ofd, out, &ol, "-> QUARANTINED");
	cr_assert(strstr(out, "user/again/KRAKEN"), "%s", out);
	cr_assert_eq(kill(pid, SIGINT), 0);
	while (slurp(ofd, out, &ol))
		;
	close(ofd);
	close(efd);
	cr_assert_eq(wait_code(pid), 0);
}

/* [T1] a follower that falls behind the ring reports what it missed:
 * missed + printed covers every transition after its cursor, exactly. */
Test(isoctl, events_follow_reports_missed_events)
{
	const char *args[] = { "--segment", seg, "events", "--follow", "--json",
			       "--interval-ms", "20", NULL };
	static char out[OUT_MAX], err[OUT_MAX];
	size_t ol = 0, el = 0;
	int64_t missed = 0, printed = 0, ring;
	char last[64], *line, *save = NULL;
	iso_account_t acct;
	iso_reg_t *reg;
	json_object *o;
	int ofd, efd, loops;
	pid_t pid;

	ok(&R, "create", "--capacity", "8", NULL);
	ok(&R, "info", "--json", NULL);
	o = json_parse(R.out);
	ring = jint(o, "ring_capacity");
	J.put(o);
	loops = (int)ring; /* two transitions each: twice the ring */
	cr_assert_eq(iso_attach(seg, NULL, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "lag", "KRAKEN", &acct), 0);

	pid = spawn(NULL, args, &ofd, &efd);
	wait_for(pid, efd, err, &el, "following");
	/* Hold the follower still while the ring wraps under it. */
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	for (int i = 0; i < loops; i++) {
		cr_assert_eq(iso_force_open(&acct), 0);
		cr_assert_eq(iso_reset(&acct), 0);
	}
	cr_assert_eq(kill(pid, SIGCONT), 0);
	/* Events from seq 0 (a registration is not an event). */
	snprintf(last, sizeof(last), "\"seq\":%d,", 2 * loops - 1);
	wait_for(pid, ofd, out, &ol, last);
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(wait_code(pid), 0);
	close(ofd);
	close(efd);
	iso_detach(reg);

	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *m;

		o = json_parse(line);
		if (J.get_ex(o, "missed", &m))
			missed += J.get_int64(m);
		else
			printed++;
		J.put(o);
	}
	cr_assert_gt(missed, 0, "the ring wrapped: something was missed");
	cr_assert_leq(printed, ring);
	cr_assert_eq(missed + printed, 2 * loops,
		     "missed %lld + printed %lld", (long long)missed,
		     (long long)printed);
}

/* [T1] doctor says OK on a sound segment (read-only unless --repair). */
Test(isoctl, doctor_passes_a_sound_segment)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/d1/KRAKEN", NULL);
	ok(&R, "register", "user/d2/KRAKEN", NULL);
	ok(&R, "doctor", "--json", NULL);
	o = json_parse(R.out);
	cr_assert(jbool(o, "ok"));
	cr_assert_eq(jint(o, "live"), 2);
	cr_assert_eq(jint(o, "bad_slots"), 0);
	cr_assert_eq(jint(o, "reserved_dead"), 0);
	J.put(o);
	ok(&R, "doctor", "--repair", NULL);
	cr_assert(strstr(R.out, "OK"), "%s", R.out);
}

/* [T1][R1] doctor finds a damaged slot, says PROBLEMS FOUND and exits 1;
 * --repair cannot mend it and says so the same way. */
Test(isoctl, doctor_fails_a_damaged_segment)
{
	struct iso_shm_header *hdr;
	struct iso_slot *slot;
	char path[128];
	json_object *o;
	struct stat sb;
	void *map;
	int fd;

	ok(&R, "create", "--capacity", "8", NULL);
	ok(&R, "register", "user/d1/KRAKEN", NULL);
	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &sb), 0);
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	cr_assert_neq(map, MAP_FAILED);
	hdr = map;
	/* The last slot was never used: give it a state no slot can have. */
	slot = (struct iso_slot *)((char *)map + hdr->slots_off +
				   (size_t)(hdr->capacity - 1) * hdr->slot_size);
	slot->state.lo = ISO_SW_MAKE(1, 0xee, 0);
	munmap(map, (size_t)sb.st_size);
	close(fd);

	run(&R, "doctor", NULL);
	cr_assert_eq(R.code, 1, "stdout: %s", R.out);
	cr_assert(strstr(R.out, "PROBLEMS FOUND"), "%s", R.out);
	run(&R, "doctor", "--json", NULL);
	cr_assert_eq(R.code, 1);
	o = json_parse(R.out);
	cr_assert_not(jbool(o, "ok"));
	cr_assert_eq(jint(o, "bad_slots"), 1);
	cr_assert_eq(jint(o, "live"), 1);
	J.put(o);
	run(&R, "doctor", "--repair", NULL);
	cr_assert_eq(R.code, 1);
}

/* [T1][M1] report counts unhealthy accounts per broker and says the
 * isolation guarantee holds. */
Test(isoctl, report_counts_unhealthy_per_broker)
{
	json_object *o, *brokers;
	size_t i, n;
	int seen = 0;

	create_segment(&R);
	ok(&R, "record", "user/r1/KRAKEN", "failure", "--count", "3", NULL);
	ok(&R, "record", "user/r2/KRAKEN", "success", NULL);
	ok(&R, "record", "user/r3/COINBASE", "failure", NULL);
	ok(&R, "report", "--json", NULL);
	o = json_parse(R.out);
	cr_assert_eq(jint(o, "total_accounts"), 3);
	cr_assert_eq(jint(o, "by_health.QUARANTINED"), 1);
	cr_assert_eq(jint(o, "by_health.DEGRADED"), 1);
	cr_assert_eq(jint(o, "by_health.HEALTHY"), 1);
	cr_assert_eq(jint(o, "total_operations"), 5);
	cr_assert_eq(jint(o, "total_failures"), 4);
	cr_assert_eq(jint(o, "cross_account_errors"), 0);
	cr_assert_str_eq(jstr(o, "isolation_guarantee"), "ACTIVE");
	brokers = jget(o, "brokers");
	n = J.array_length(brokers);
	for (i = 0; i < n; i++) {
		json_object *b = J.array_get(brokers, i);

		if (strcmp(jstr(b, "broker"), "KRAKEN") == 0) {
			cr_assert_eq(jint(b, "accounts"), 2);
			cr_assert_eq(jint(b, "unhealthy"), 1);
			seen++;
		} else if (strcmp(jstr(b, "broker"), "COINBASE") == 0) {
			cr_assert_eq(jint(b, "unhealthy"), 0);
			cr_assert_eq(jint(b, "degraded"), 1);
			seen++;
		}
	}
	cr_assert_eq(seen, 2, "both brokers listed");
	J.put(o);
	ok(&R, "report", NULL);
	cr_assert(strstr(R.out, "ACTIVE"), "%s", R.out);
}

/* [T1] retire removes the account; status then says it is unknown. */
Test(isoctl, retired_account_is_gone)
{
	create_segment(&R);
	ok(&R, "register", "user/gone/KRAKEN", NULL);
	ok(&R, "retire", "user/gone/KRAKEN", NULL);
	run(&R, "status", "user/gone/KRAKEN", NULL);
	cr_assert_eq(R.code, 1);
	cr_assert(strstr(R.err, "no account 'user/gone/KRAKEN'"), "%s", R.err);
	run(&R, "reset", "user/gone/KRAKEN", NULL);
	cr_assert_eq(R.code, 1);
}

/* [T1] usage errors exit 2 and say what was wrong. */
Test(isoctl, usage_errors_exit_2_with_a_message)
{
	static const char *const cases[][5] = {
		{ "frobnicate", NULL },
		{ "status", "--bogus", NULL },
		{ "create", "--capacity", "lots", NULL },
		{ "create", "--capacity", "-1", NULL },
		{ "create", "--mode", "0999", NULL },
		{ "record", "user/u/KRAKEN", NULL },
		{ "record", "user/u/KRAKEN", "maybe", NULL },
		{ "record", "user/u/KRAKEN", "failure", "--type", NULL },
		{ "reset", NULL },
		{ "events", "--from-start", NULL },
	};

	create_segment(&R);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[8] = { "--segment", seg };
		int n = 2;

		for (int j = 0; cases[i][j]; j++)
			args[n++] = cases[i][j];
		args[n] = NULL;
		runv(&R, NULL, args);
		cr_assert_eq(R.code, 2, "isoctl %s %s: exit %d", cases[i][0],
			     cases[i][1] ? cases[i][1] : "", R.code);
		cr_assert_gt(strlen(R.err), 10, "isoctl %s: no message",
			     cases[i][0]);
	}
	run(&R, "record", "user/u/KRAKEN", "failure", "--type", "SOLAR_FLARE",
	    NULL);
	cr_assert_eq(R.code, 2);
	cr_assert(strstr(R.err, "SOLAR_FLARE"), "%s", R.err);
	run(&R, "record", "user/u/KRAKEN", "success", "--type", "API", NULL);
	cr_assert_eq(R.code, 2);
	cr_assert(strstr(R.err, "--type"), "%s", R.err);
	run(&R, NULL);
	cr_assert_eq(R.code, 2);
	cr_assert(strstr(R.err, "usage"), "%s", R.err);
}

/* [T1][K2] a bad key exits 2 and the message names the field. */
Test(isoctl, bad_key_is_refused_naming_the_field)
{
	json_object *o;

	create_segment(&R);
	run(&R, "register", "user/u1/THISBROKERISTOOLONG", NULL);
	cr_assert_eq(R.code, 2, "stderr: %s", R.err);
	cr_assert(strstr(R.err, "broker"), "%s", R.err);
	run(&R, "status", "user/u1", NULL);
	cr_assert_eq(R.code, 2, "stderr: %s", R.err);
	cr_assert(strstr(R.err, "user/u1"), "%s", R.err);
	run(&R, "halt", "user/has space/KRAKEN", NULL);
	cr_assert_eq(R.code, 2, "stderr: %s", R.err);
	cr_assert(strstr(R.err, "account id"), "%s", R.err);
	ok(&R, "list", "--json", NULL);
	o = json_parse(R.out);
	cr_assert_eq(J.array_length(jget(o, "accounts")), 0,
		     "nothing was registered: %s", R.out);
	J.put(o);
}

/* [S1][T1] an unknown segment is a runtime error (1) naming it. */
Test(isoctl, unknown_segment_exits_1)
{
	static const char *const cmds[] = { "info", "list", "status", "report",
					    "events", "doctor", "unlink" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		run(&R, cmds[i], NULL);
		cr_assert_eq(R.code, 1, "isoctl %s on a missing segment: exit %d",
			     cmds[i], R.code);
		cr_assert(strstr(R.err, seg), "isoctl %s: %s", cmds[i], R.err);
	}
}

/* [S1] ISOREG_SEGMENT names the segment when --segment is absent. */
Test(isoctl, segment_comes_from_the_environment)
{
	const char *args[] = { "info", "--json", NULL };
	json_object *o;

	create_segment(&R);
	runv(&R, seg, args);
	cr_assert_eq(R.code, 0, "%s", R.err);
	o = json_parse(R.out);
	cr_assert_str_eq(jstr(o, "name"), seg);
	J.put(o);
}

/* [T1] unlink removes the name; later commands find nothing. */
Test(isoctl, unlink_removes_the_segment)
{
	create_segment(&R);
	ok(&R, "unlink", NULL);
	run(&R, "info", NULL);
	cr_assert_eq(R.code, 1);
}

/* [T1] every command answers --help with exit 0. */
Test(isoctl, every_command_has_help)
{
	static const char *const cmds[] = {
		"create", "unlink", "info", "list", "status", "report",
		"register", "reset", "halt", "release", "retire", "record",
		"config", "events", "doctor", "check",
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		run(&R, cmds[i], "--help", NULL);
		cr_assert_eq(R.code, 0, "isoctl %s --help: %d", cmds[i], R.code);
		cr_assert(strstr(R.out, "usage: isoctl"), "isoctl %s --help: %s",
			  cmds[i], R.out);
	}
	run(&R, "--help", NULL);
	cr_assert_eq(R.code, 0);
	cr_assert(strstr(R.out, "doctor"), "%s", R.out);
}

/* [R8] an operator's halt is attributed (uid, reason in status and events),
 * durable (in force again when the segment is created anew), and a plain
 * reset does not lift it. */
Test(isoctl, halts_are_attributed_durable_and_survive_a_reset)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/h1/KRAKEN", NULL);
	ok(&R, "register", "user/h2/KRAKEN", NULL);
	ok(&R, "halt", "user/h1/KRAKEN", "user/h2/KRAKEN", "--reason",
	   "exchange maintenance", NULL);
	cr_assert(strstr(R.out, "halted user/h1/KRAKEN") &&
		  strstr(R.out, "halted user/h2/KRAKEN"), "several keys: %s", R.out);
	ok(&R, "halt", "user/h1/KRAKEN", NULL);
	cr_expect(strstr(R.out, "already halted"), "%s", R.out);

	ok(&R, "status", "user/h1/KRAKEN", NULL);
	cr_expect(strstr(R.out, "exchange maintenance") && strstr(R.out, "by uid"),
		  "who halted it, and why: %s", R.out);
	ok(&R, "events", "--json", NULL);
	cr_expect(strstr(R.out, "\"reason\":\"exchange mainten\""), "%s", R.out);
	cr_expect(strstr(R.out, "\"uid\":"), "%s", R.out);

	run(&R, "reset", "user/h1/KRAKEN", NULL);
	cr_expect_eq(R.code, 1, "a plain reset lifted a halt: %s", R.out);
	cr_expect(strstr(R.err, "release"), "%s", R.err);
	o = status_json(&R, "user/h1/KRAKEN");
	cr_expect_str_eq(jstr(o, "breaker"), "FORCED_OPEN");
	J.put(o);

	/* Lose the segment: the halt comes back with the next creation. */
	ok(&R, "release", "user/h2/KRAKEN", NULL);
	ok(&R, "state", NULL);
	cr_expect(strstr(R.out, "user/h1/KRAKEN") && !strstr(R.out, "user/h2/KRAKEN"),
		  "%s", R.out);
	ok(&R, "unlink", "--force", NULL);
	create_segment(&R);
	o = status_json(&R, "user/h1/KRAKEN");
	cr_expect_str_eq(jstr(o, "breaker"), "FORCED_OPEN", "the halt was lost");
	J.put(o);
	ok(&R, "reset", "--force", "user/h1/KRAKEN", NULL);
	o = status_json(&R, "user/h1/KRAKEN");
	cr_expect_str_eq(jstr(o, "health"), "HEALTHY");
	J.put(o);
	ok(&R, "state", NULL);
	cr_expect_null(strstr(R.out, "user/h1/KRAKEN"), "%s", R.out);
}

/* [R8] a broker halt refuses every account of the broker, later ones
 * too, and is lifted by release --broker. */
Test(isoctl, broker_halt_refuses_every_account_of_the_broker)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/k1/KRAKEN", NULL);
	ok(&R, "register", "user/c1/COINBASE", NULL);
	ok(&R, "halt", "--broker", "kraken", "--reason", "outage", NULL);
	ok(&R, "register", "user/k2/KRAKEN", NULL);
	o = status_json(&R, "user/k2/KRAKEN");
	cr_expect_str_eq(jstr(o, "health"), "QUARANTINED", "a later account trades");
	J.put(o);
	o = status_json(&R, "user/c1/COINBASE");
	cr_expect_str_eq(jstr(o, "health"), "HEALTHY");
	J.put(o);
	ok(&R, "status", "user/k1/KRAKEN", NULL);
	cr_expect(strstr(R.out, "broker halted") && strstr(R.out, "outage"), "%s", R.out);
	ok(&R, "release", "--broker", "KRAKEN", NULL);
	o = status_json(&R, "user/k1/KRAKEN");
	cr_expect_str_eq(jstr(o, "health"), "HEALTHY");
	J.put(o);
}

/* [R8] the event ring is sized at creation, and a fleet start of many
 * registrations does not wipe what operators need from it. */
Test(isoctl, event_ring_is_sized_at_create_and_survives_a_fleet_start)
{
	json_object *o;

	run(&R, "create", "--capacity", "64", "--events", "100", NULL);
	cr_expect_eq(R.code, 2, "a ring that is no power of two");
	ok(&R, "create", "--capacity", "64", "--events", "4096", NULL);
	ok(&R, "info", "--json", NULL);
	o = json_parse(R.out);
	cr_expect_eq(jint(o, "ring_capacity"), 4096);
	J.put(o);
	ok(&R, "register", "user/first/KRAKEN", NULL);
	ok(&R, "halt", "user/first/KRAKEN", "--reason", "before the fleet", NULL);
	for (int i = 0; i < 60; i++) {
		char key[64];
		snprintf(key, sizeof(key), "user/f%d/KRAKEN", i);
		ok(&R, "register", key, NULL);
	}
	ok(&R, "events", "--json", NULL);
	cr_expect(strstr(R.out, "before the fleet"), "the fleet start wiped the halt: %s",
		  R.out);
}

/* ------------------------------------------------- issue 13, item 9 and 10 */

/* Counts the lines of @text that contain @needle. */
static int count_lines_with(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		n += strstr(line, needle) != NULL;
		p = e ? e + 1 : NULL;
	}
	return n;
}

/* [T1] check: exit 0/1/2 by the worst health (Nagios convention), one
 * line on stdout that says why; a missing segment is CRITICAL. */
Test(isoctl, check_exits_0_1_2_by_the_worst_health)
{
	create_segment(&R);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 0, "no accounts: %s%s", R.out, R.err);
	cr_assert(strstr(R.out, "ISOREG OK - "), "%s", R.out);
	ok(&R, "record", "user/fine/KRAKEN", "success", NULL);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 0, "%s", R.out);

	ok(&R, "record", "user/wobbly/KRAKEN", "failure", NULL);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 1, "a DEGRADED account: %s", R.out);
	cr_assert(strstr(R.out, "ISOREG WARNING - "), "%s", R.out);
	cr_assert(strstr(R.out, "worst user/wobbly/KRAKEN DEGRADED"), "%s",
		  R.out);
	cr_assert_eq(count_lines_with(R.out, "ISOREG"), 1, "one line: %s", R.out);

	ok(&R, "record", "user/down/KRAKEN", "failure", "--count", "3", NULL);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 2, "a QUARANTINED account: %s", R.out);
	cr_assert(strstr(R.out, "ISOREG CRITICAL - "), "%s", R.out);
	cr_assert(strstr(R.out, "worst user/down/KRAKEN QUARANTINED"), "%s",
		  R.out);
	cr_assert(strstr(R.out, "1 quarantined"), "%s", R.out);
	cr_assert(strstr(R.out, "| accounts=3 "), "perfdata: %s", R.out);

	/* A halt is a quarantine too: CRITICAL until released. */
	ok(&R, "reset", "user/down/KRAKEN", NULL);
	ok(&R, "reset", "user/wobbly/KRAKEN", NULL);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 0, "%s", R.out);
	ok(&R, "halt", "user/fine/KRAKEN", NULL);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 2, "%s", R.out);

	ok(&R, "unlink", NULL);
	run(&R, "check", NULL);
	cr_assert_eq(R.code, 2, "missing segment: %s", R.out);
	cr_assert(strstr(R.out, "ISOREG CRITICAL - segment"), "%s", R.out);
	cr_assert(strstr(R.out, seg), "names it: %s", R.out);
	cr_assert(strstr(R.out, "ISO_ENOENT"), "%s", R.out);
}

/* [T1] events KEY shows only that account's transitions, and --since
 * only those at or after a time: Unix ms, ISO-8601 UTC or a time ago. */
Test(isoctl, events_filter_by_account_and_since)
{
	char future[32], iso[48];
	int64_t now_ms;
	struct timespec ts;

	create_segment(&R);
	ok(&R, "record", "user/mine/KRAKEN", "failure", "--count", "3", NULL);
	ok(&R, "record", "user/other/KRAKEN", "failure", NULL);
	ok(&R, "events", NULL);
	cr_assert_gt(count_lines_with(R.out, "user/other/KRAKEN"), 0, "%s", R.out);

	ok(&R, "events", "user/mine/KRAKEN", NULL);
	cr_assert_eq(count_lines_with(R.out, "user/other/KRAKEN"), 0, "%s", R.out);
	cr_assert(strstr(R.out, "-> QUARANTINED"), "%s", R.out);
	cr_assert_eq(count_lines_with(R.out, "user/mine/KRAKEN"),
		     count_lines_with(R.out, " pid "), "%s", R.out);
	/* The key is normalised like every other command's. */
	ok(&R, "events", "USER/Mine/kraken", "--json", NULL);
	cr_assert_eq(count_lines_with(R.out, "user/other/KRAKEN"), 0, "%s", R.out);
	cr_assert_gt(count_lines_with(R.out, "user/mine/KRAKEN"), 0, "%s", R.out);

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	snprintf(future, sizeof(future), "%lld", (long long)(now_ms + 3600000));
	ok(&R, "events", "--since", future, NULL);
	cr_assert_eq(R.out[0], '\0', "nothing after an hour from now: %s", R.out);
	ok(&R, "events", "--since", "10m", NULL);
	cr_assert_gt(count_lines_with(R.out, "user/other/KRAKEN"), 0, "%s", R.out);
	ok(&R, "events", "user/mine/KRAKEN", "--since", "2h", NULL);
	cr_assert(strstr(R.out, "-> QUARANTINED"), "%s", R.out);
	cr_assert_eq(count_lines_with(R.out, "user/other/KRAKEN"), 0, "%s", R.out);
	{
		time_t t = (time_t)(now_ms / 1000 + 3600);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	ok(&R, "events", "--since", iso, NULL);
	cr_assert_eq(R.out[0], '\0', "nothing after %s: %s", iso, R.out);
	ok(&R, "events", "--since", "2000-01-01T00:00:00.000Z", NULL);
	cr_assert_gt(count_lines_with(R.out, "user/mine/KRAKEN"), 0, "%s", R.out);

	run(&R, "events", "--since", "yesterday", NULL);
	cr_assert_eq(R.code, 2);
	cr_assert(strstr(R.err, "--since: 'yesterday'"), "%s", R.err);
	run(&R, "events", "--since", "2026-02-31", NULL);
	cr_assert_eq(R.code, 2, "no such day: %s", R.err);
	run(&R, "events", "user/a/KRAKEN", "user/b/KRAKEN", NULL);
	cr_assert_eq(R.code, 2);
	run(&R, "events", "user/has space/KRAKEN", NULL);
	cr_assert_eq(R.code, 2);
}

/* [T1] --follow with a KEY streams only that account's new transitions. */
Test(isoctl, events_follow_with_a_key_streams_only_that_account)
{
	const char *args[] = { "--segment", seg, "events", "user/f1/KRAKEN",
			       "--follow", "--interval-ms", "20", NULL };
	static char out[OUT_MAX], err[OUT_MAX];
	size_t ol = 0, el = 0;
	int ofd, efd;
	pid_t pid;

	create_segment(&R);
	pid = spawn(NULL, args, &ofd, &efd);
	wait_for(pid, efd, err, &el, "following");
	ok(&R, "record", "user/f2/KRAKEN", "failure", "--count", "3", NULL);
	ok(&R, "record", "user/f1/KRAKEN", "failure", "--count", "3", NULL);
	wait_for(pid, ofd, out, &ol, "-> QUARANTINED");
	cr_assert_eq(kill(pid, SIGINT), 0);
	while (slurp(ofd, out, &ol))
		;
	close(ofd);
	close(efd);
	cr_assert_eq(wait_code(pid), 0);
	cr_assert(strstr(out, "user/f1/KRAKEN"), "%s", out);
	cr_assert_null(strstr(out, "user/f2/KRAKEN"), "%s", out);
}

/* [T1][B1] config never raises max_open_timeout_ms behind the operator's
 * back: open_timeout_ms above it is refused naming both, unless both are
 * given. */
Test(isoctl, config_refuses_to_raise_the_back_off_cap_silently)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/cap/KRAKEN", NULL);
	run(&R, "config", "user/cap/KRAKEN", "open_timeout_ms=7200000", NULL);
	cr_assert_eq(R.code, 2, "%s", R.err);
	cr_assert(strstr(R.err, "open_timeout_ms=7200000"), "%s", R.err);
	cr_assert(strstr(R.err, "max_open_timeout_ms=3600000"), "%s", R.err);
	o = status_json(&R, "user/cap/KRAKEN");
	cr_assert_eq(jint(o, "config.open_timeout_ms"), 600000);
	cr_assert_eq(jint(o, "config.max_open_timeout_ms"), 3600000);
	cr_assert_not(jbool(o, "config_override"));
	J.put(o);

	/* The same for the segment default, and in either order. */
	run(&R, "config", "open_timeout_ms=7200000", NULL);
	cr_assert_eq(R.code, 2, "%s", R.err);
	run(&R, "config", "max_open_timeout_ms=3600000",
	    "open_timeout_ms=7200000", NULL);
	cr_assert_eq(R.code, 2, "%s", R.err);
	cr_assert(strstr(R.err, "max_open_timeout_ms=3600000 (as given)"), "%s",
		  R.err);
	ok(&R, "config", "--json", NULL);
	o = json_parse(R.out);
	cr_assert_eq(jint(o, "max_open_timeout_ms"), 3600000);
	J.put(o);

	ok(&R, "config", "user/cap/KRAKEN", "open_timeout_ms=7200000",
	   "max_open_timeout_ms=7200000", NULL);
	o = status_json(&R, "user/cap/KRAKEN");
	cr_assert_eq(jint(o, "config.open_timeout_ms"), 7200000);
	cr_assert_eq(jint(o, "config.max_open_timeout_ms"), 7200000);
	J.put(o);
	run(&R, "create", "--segment", "/isoreg-test-never-made",
	    "open_timeout_ms=7200000", NULL);
	cr_assert_eq(R.code, 2, "create too: %s", R.err);
}

/* [T1] record asks first, exactly as a trader would: on a halted or
 * quarantined account it records nothing, says why and exits 1; --force
 * records anyway (and still never lifts the halt). */
Test(isoctl, record_is_refused_on_a_halted_account_unless_forced)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/stop/KRAKEN", NULL);
	ok(&R, "halt", "user/stop/KRAKEN", NULL);
	run(&R, "record", "user/stop/KRAKEN", "success", NULL);
	cr_assert_eq(R.code, 1, "stdout %s stderr %s", R.out, R.err);
	cr_assert(strstr(R.err, "refused"), "%s", R.err);
	cr_assert(strstr(R.err, "Halted"), "the reason: %s", R.err);
	cr_assert(strstr(R.err, "FORCED_OPEN"), "%s", R.err);
	o = status_json(&R, "user/stop/KRAKEN");
	cr_assert_eq(jint(o, "operations"), 0, "nothing recorded");
	J.put(o);

	ok(&R, "record", "user/stop/KRAKEN", "failure", "--force", NULL);
	o = status_json(&R, "user/stop/KRAKEN");
	cr_assert_eq(jint(o, "operations"), 1);
	cr_assert_str_eq(jstr(o, "breaker"), "FORCED_OPEN");
	J.put(o);

	/* A trip in the middle of --count stops at the refusal. */
	run(&R, "record", "user/trip/KRAKEN", "failure", "--count", "5", NULL);
	cr_assert_eq(R.code, 1, "%s", R.err);
	cr_assert(strstr(R.err, "3 of 5 outcome(s) recorded"), "%s", R.err);
	o = status_json(&R, "user/trip/KRAKEN");
	cr_assert_eq(jint(o, "failures"), 3);
	cr_assert_str_eq(jstr(o, "health"), "QUARANTINED");
	J.put(o);
}

/* [S1] a malformed segment name is a usage error (2), and the message
 * says when the name came from $ISOREG_SEGMENT. */
Test(isoctl, malformed_segment_name_is_a_usage_error)
{
	const char *status[] = { "status", NULL };
	const char *flag[] = { "--segment", "no-slash", "status", NULL };
	const char *create[] = { "--segment", "/has/slash", "create", NULL };
	const char *unlinkc[] = { "--segment", "no-slash", "unlink", NULL };

	runv(&R, "no-slash", status);
	cr_assert_eq(R.code, 2, "%s", R.err);
	cr_assert(strstr(R.err, "'no-slash' (from $ISOREG_SEGMENT)"), "%s",
		  R.err);
	runv(&R, NULL, flag);
	cr_assert_eq(R.code, 2, "%s", R.err);
	cr_assert(strstr(R.err, "'no-slash'"), "%s", R.err);
	cr_assert_null(strstr(R.err, "ISOREG_SEGMENT"), "%s", R.err);
	runv(&R, NULL, create);
	cr_assert_eq(R.code, 2, "%s", R.err);
	runv(&R, NULL, unlinkc);
	cr_assert_eq(R.code, 2, "%s", R.err);
}

/* The text report marks a broker-wide incident by the alert's rule: more
 * than half unhealthy and at least 3 accounts. */
Test(isoctl, report_marks_broker_wide_by_the_alert_rule)
{
	create_segment(&R);
	/* KRAKEN: 2 of 2 unhealthy, too few accounts for an incident. */
	ok(&R, "record", "user/k1/KRAKEN", "failure", "--count", "3", NULL);
	ok(&R, "record", "user/k2/KRAKEN", "failure", "--count", "3", NULL);
	/* COINBASE: 2 of 3 unhealthy. */
	ok(&R, "record", "user/c1/COINBASE", "failure", "--count", "3", NULL);
	ok(&R, "record", "user/c2/COINBASE", "failure", "--count", "3", NULL);
	ok(&R, "record", "user/c3/COINBASE", "success", NULL);
	ok(&R, "report", NULL);
	{
		const char *k = strstr(R.out, "\nKRAKEN "), *c = strstr(R.out, "\nCOINBASE ");
		char kl[128], cl[128];

		cr_assert(k && c, "%s", R.out);
		snprintf(kl, sizeof(kl), "%.*s", (int)strcspn(k + 1, "\n"), k + 1);
		snprintf(cl, sizeof(cl), "%.*s", (int)strcspn(c + 1, "\n"), c + 1);
		cr_assert(strstr(cl, "broker-wide"), "%s", cl);
		cr_assert_null(strstr(kl, "broker-wide"), "%s", kl);
	}
	run(&R, "check", NULL);
	cr_assert(strstr(R.out, "broker-wide: COINBASE 2/3"), "%s", R.out);
	cr_assert_null(strstr(R.out, "broker-wide: KRAKEN"), "%s", R.out);
}

/* [R8] config overrides, per account and the segment default, are events
 * with a reason and outlive the segment. */
Test(isoctl, config_changes_are_logged_and_outlive_the_segment)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/cf/KRAKEN", NULL);
	ok(&R, "config", "user/cf/KRAKEN", "failure_threshold=9", "--reason", "flaky api", NULL);
	ok(&R, "config", "success_threshold=4", "--reason", "slower recovery", NULL);
	ok(&R, "events", "--json", NULL);
	cr_expect(strstr(R.out, "\"cause\":\"config\"") && strstr(R.out, "flaky api"),
		  "%s", R.out);
	cr_expect(strstr(R.out, "\"cause\":\"defaults\""),
		  "a default change left no event: %s", R.out);
	ok(&R, "unlink", "--force", NULL);
	ok(&R, "create", "--capacity", "64", NULL);
	o = status_json(&R, "user/cf/KRAKEN");
	cr_expect_eq(jint(o, "config.failure_threshold"), 9, "the override was lost");
	cr_expect_eq(jint(o, "config.success_threshold"), 3, "own override");
	J.put(o);
	ok(&R, "config", "--json", NULL);
	o = json_parse(R.out);
	cr_expect_eq(jint(o, "success_threshold"), 4, "the default was lost");
	J.put(o);
	ok(&R, "config", "user/cf/KRAKEN", "--default", NULL);
	ok(&R, "state", NULL);
	cr_expect_null(strstr(R.out, "config       user/cf"), "%s", R.out);
}

/* The member at @path is JSON null. */
static bool jnull(json_object *o, const char *path)
{
	return J.get_type(jget(o, path)) == json_type_null;
}

/* [B7] (issue 15): on a segment made with --windows, an account given a
 * window by `isoctl config` that fails every other call trips at 50 %:
 * status says "not judged" below min_calls, then the rate against its
 * threshold and the cause failure_rate; list grows a FAIL-RATE column;
 * JSON carries the config and the window. */
Test(isoctl, windows_trip_on_a_failure_rate_shown_in_status_list_and_json)
{
	json_object *o;

	ok(&R, "create", "--capacity", "64", "--windows", "failure_threshold=3",
	   NULL);
	cr_assert(strstr(R.out, "with windows"), "%s", R.out);
	ok(&R, "info", NULL);
	cr_expect(strstr(R.out, "windows            yes"), "%s", R.out);
	ok(&R, "register", "user/alt/KRAKEN", NULL);
	ok(&R, "register", "user/plain/KRAKEN", NULL);
	ok(&R, "config", "user/alt/KRAKEN", "window_ms=60000", "min_calls=4",
	   "failure_rate_threshold=50", NULL);
	cr_expect(strstr(R.out, "window_ms=60000\nmin_calls=4\n"
			 "failure_rate_threshold=50\n"), "%s", R.out);

	ok(&R, "record", "user/alt/KRAKEN", "success", NULL);
	ok(&R, "record", "user/alt/KRAKEN", "failure", "--type", "API", NULL);
	ok(&R, "status", "user/alt/KRAKEN", NULL);
	cr_expect(strstr(R.out, "window              last 1m00s: 2 outcomes, "
			 "1 failure, 0 slow\n"), "%s", R.out);
	cr_expect(strstr(R.out, "  failure rate      not judged: 2 of "
			 "min_calls 4 (trips at 50%)\n"), "%s", R.out);
	cr_expect(strstr(R.out, "  slow-call rate    off (slow_call_ms=0"),
		  "%s", R.out);
	o = status_json(&R, "user/alt/KRAKEN");
	cr_expect(jnull(o, "failure_rate"), "a rate before min_calls: %s", R.out);
	cr_expect_eq(jint(o, "window_calls"), 2);
	J.put(o);
	ok(&R, "list", NULL);
	cr_expect(strstr(R.out, "FAIL-RATE"), "%s", R.out);
	cr_expect(strstr(R.out, "(2/4)"), "%s", R.out);

	/* Never three failures in a row: only the rate can trip it. */
	ok(&R, "record", "user/alt/KRAKEN", "success", NULL);
	ok(&R, "record", "user/alt/KRAKEN", "failure", "--type", "API", NULL);
	cr_expect(strstr(R.out, "QUARANTINED (OPEN)"), "%s", R.out);
	ok(&R, "status", "user/alt/KRAKEN", NULL);
	cr_expect(strstr(R.out, "window              last 1m00s: 4 outcomes, "
			 "2 failures, 0 slow\n"), "%s", R.out);
	cr_expect(strstr(R.out, "  failure rate      50.0% (trips at 50%)\n"),
		  "%s", R.out);
	cr_expect(strstr(R.out, "  cause             failure_rate\n"), "%s",
		  R.out);
	o = status_json(&R, "user/alt/KRAKEN");
	cr_expect_str_eq(jstr(o, "breaker"), "OPEN");
	cr_expect_str_eq(jstr(o, "last_cause"), "failure_rate");
	cr_expect_eq(jint(o, "window_calls"), 4);
	cr_expect_eq(jint(o, "window_failures"), 2);
	cr_expect_eq(jint(o, "window_slow_calls"), 0);
	cr_expect_eq(jint(o, "failure_rate"), 50);
	cr_expect_eq(jint(o, "slow_call_rate"), 0);
	cr_expect_eq(jint(o, "config.window_ms"), 60000);
	cr_expect_eq(jint(o, "config.min_calls"), 4);
	cr_expect_eq(jint(o, "config.failure_rate_threshold"), 50);
	J.put(o);
	ok(&R, "list", NULL);
	cr_expect(strstr(R.out, "50.0%"), "%s", R.out);
	ok(&R, "events", "--json", NULL);
	cr_expect(strstr(R.out, "\"cause\":\"failure_rate\""), "%s", R.out);

	/* An account without a window: no window line, JSON nulls. */
	ok(&R, "status", "user/plain/KRAKEN", NULL);
	cr_expect_null(strstr(R.out, "\nwindow "), "%s", R.out);
	cr_expect_null(strstr(R.out, "failure rate"), "%s", R.out);
	o = status_json(&R, "user/plain/KRAKEN");
	cr_expect(jnull(o, "failure_rate"));
	cr_expect(jnull(o, "slow_call_rate"));
	cr_expect_eq(jint(o, "config.window_ms"), 0);
	cr_expect_eq(jint(o, "config.min_calls"), 10);
	J.put(o);
}

/* [B7] a slow-call rate trips too, and says so. */
Test(isoctl, windows_trip_on_a_slow_call_rate)
{
	json_object *o;

	ok(&R, "create", "--capacity", "16", "window_ms=60000", "min_calls=3",
	   "slow_call_ms=100", "slow_call_rate_threshold=60", NULL);
	cr_assert(strstr(R.out, "with windows"),
		  "a window_ms default brings the region: %s", R.out);
	ok(&R, "record", "user/slow/KRAKEN", "success", "--op-ms", "5", NULL);
	ok(&R, "record", "user/slow/KRAKEN", "success", "--op-ms", "250",
	   "--count", "2", NULL);
	cr_expect(strstr(R.out, "QUARANTINED (OPEN)"), "%s", R.out);
	ok(&R, "status", "user/slow/KRAKEN", NULL);
	cr_expect(strstr(R.out, "  slow-call rate    66.7% (trips at 60%)\n"),
		  "%s", R.out);
	cr_expect(strstr(R.out, "  failure rate      0.0% (never trips: "
			 "failure_rate_threshold=0)\n"), "%s", R.out);
	cr_expect(strstr(R.out, "  cause             slow_call_rate\n"), "%s",
		  R.out);
	o = status_json(&R, "user/slow/KRAKEN");
	cr_expect_eq(jint(o, "window_slow_calls"), 2);
	cr_expect_str_eq(jstr(o, "last_cause"), "slow_call_rate");
	J.put(o);
}

/* [B7] a window value out of range is a usage error naming the field and
 * changes nothing; a window on a segment without the region is refused
 * naming the region and the way to get it. */
Test(isoctl, bad_window_values_are_refused_naming_the_field)
{
	json_object *o;

	create_segment(&R);
	ok(&R, "register", "user/w/KRAKEN", NULL);
	ok(&R, "info", NULL);
	cr_expect(strstr(R.out, "windows            no"), "%s", R.out);
	ok(&R, "list", NULL);
	cr_expect_null(strstr(R.out, "FAIL-RATE"), "a window column without "
		       "windows: %s", R.out);
	static const char *const bad[][2] = {
		{ "window_ms=50", "window_ms" },
		{ "window_ms=3600001", "window_ms" },
		{ "min_calls=0", "min_calls" },
		{ "failure_rate_threshold=101", "failure_rate_threshold" },
		{ "slow_call_ms=fast", "slow_call_ms" },
		{ "slow_call_rate_threshold=-1", "slow_call_rate_threshold" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run(&R, "config", "user/w/KRAKEN", bad[i][0], NULL);
		cr_expect_eq(R.code, 2, "%s: exit %d: %s", bad[i][0], R.code, R.err);
		cr_expect(strstr(R.err, bad[i][1]), "%s: %s", bad[i][0], R.err);
		run(&R, "config", bad[i][0], NULL);
		cr_expect_eq(R.code, 2, "default %s: exit %d", bad[i][0], R.code);
	}
	run(&R, "config", "user/w/KRAKEN", "window_ms=1000", NULL);
	cr_expect_eq(R.code, 1, "%s", R.err);
	cr_expect(strstr(R.err, "window_ms") && strstr(R.err, "window region") &&
		  strstr(R.err, "--windows"), "%s", R.err);
	run(&R, "config", "window_ms=1000", NULL);
	cr_expect_eq(R.code, 1, "%s", R.err);
	cr_expect(strstr(R.err, "window region"), "%s", R.err);
	o = status_json(&R, "user/w/KRAKEN");
	cr_expect_not(jbool(o, "config_override"), "a refused config was applied");
	cr_expect_eq(jint(o, "config.window_ms"), 0);
	cr_expect_eq(jint(o, "config.min_calls"), 10);
	J.put(o);
	ok(&R, "state", NULL);
	cr_expect_null(strstr(R.out, "user/w/KRAKEN"), "a refused config was "
		       "recorded: %s", R.out);
}

/* Write @text to a file in this test's state directory; its path. */
static const char *conf_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", state_dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	return path;
}

/* [B7] create --config takes windows = yes|no and the five window keys;
 * a bad one is refused with its line and nothing is created. */
Test(isoctl, create_config_file_takes_the_window_keys)
{
	json_object *o;
	const char *bad = conf_file("bad.conf", "capacity = 8\n"
				    "windows = maybe\n");

	run(&R, "create", "--config", bad, NULL);
	cr_expect_eq(R.code, 2, "%s", R.err);
	cr_expect(strstr(R.err, "line 2: windows: 'maybe'"), "%s", R.err);
	run(&R, "create", "--config",
	    conf_file("no.conf", "windows = no\nwindow_ms = 1000\n"), NULL);
	cr_expect_eq(R.code, 2, "%s", R.err);
	cr_expect(strstr(R.err, "windows = no") && strstr(R.err, "window_ms"),
		  "%s", R.err);
	run(&R, "create", "--config",
	    conf_file("range.conf", "min_calls = 2000000\n"), NULL);
	cr_expect_eq(R.code, 2, "%s", R.err);
	cr_expect(strstr(R.err, "line 1: min_calls"), "%s", R.err);
	run(&R, "info", NULL);
	cr_expect_eq(R.code, 1, "a refused file created the segment: %s", R.out);

	ok(&R, "create", "--config",
	   conf_file("good.conf", "capacity = 16\n"
		     "windows = yes\n"
		     "window_ms = 30000\n"
		     "min_calls = 20\n"
		     "failure_rate_threshold = 40\n"
		     "slow_call_ms = 1500\n"
		     "slow_call_rate_threshold = 90\n"), NULL);
	ok(&R, "info", "--json", NULL);
	o = json_parse(R.out);
	cr_expect(jbool(o, "windows"));
	cr_expect_eq(jint(o, "capacity"), 16);
	cr_expect_eq(jint(o, "defaults.window_ms"), 30000);
	cr_expect_eq(jint(o, "defaults.min_calls"), 20);
	cr_expect_eq(jint(o, "defaults.failure_rate_threshold"), 40);
	cr_expect_eq(jint(o, "defaults.slow_call_ms"), 1500);
	cr_expect_eq(jint(o, "defaults.slow_call_rate_threshold"), 90);
	J.put(o);
	ok(&R, "unlink", "--force", NULL);
	/* windows = yes alone: the region, every window field its default. */
	ok(&R, "create", "--config", conf_file("bare.conf", "windows = yes\n"
					       "capacity = 8\n"), NULL);
	ok(&R, "info", "--json", NULL);
	o = json_parse(R.out);
	cr_expect(jbool(o, "windows"));
	cr_expect_eq(jint(o, "defaults.window_ms"), 0);
	J.put(o);
}
