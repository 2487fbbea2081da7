/*
 * test_exporter.c - `isoctl serve` and the Prometheus side [T3].
 *
 * The metric text is checked in-process (metrics.c is compiled into this
 * file, see below) and over HTTP against a real `isoctl serve`; promtool
 * checks the text and the alert rules; one test runs a real Prometheus
 * against the exporter and waits for the quarantine alert to fire.
 *
 * Every child (isoctl, prometheus) gets PR_SET_PDEATHSIG so that a failed
 * assertion, which ends this test's process, never leaves one behind.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"

/*
 * The Makefile links tools' sources only into the tools, and the renderer
 * is meant to be tested without HTTP: compile it into this file.
 */
#include "../tools/isoctl/metrics.c"

/* ------------------------------------------------------------ helpers */

static char seg[64];
static char tmpdir[128];

static void seg_name(const char *what)
{
	snprintf(seg, sizeof(seg), "/isoreg-test-exporter-%s-%d", what,
		 (int)getpid());
	iso_unlink(seg);
}

static void cleanup(void)
{
	if (seg[0])
		iso_unlink(seg);
	if (tmpdir[0]) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			cr_log_warn("could not remove %s", tmpdir);
		tmpdir[0] = 0;
	}
}

static iso_reg_t *create_segment(uint32_t capacity)
{
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
		.capacity = capacity,
	};
	iso_reg_t *reg = NULL;
	int rc = iso_attach(seg, &o, &reg);

	cr_assert_eq(rc, 0, "create %s: %s", seg, iso_last_error());
	return reg;
}

static const char *bin_dir(void)
{
	const char *b = getenv("ISOREG_BIN");
	return b && *b ? b : "build/bin";
}

static bool have_program(const char *path)
{
	return access(path, X_OK) == 0;
}

/* The value of the sample named exactly @series ("name{labels}"), or NaN. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return __builtin_nan("");
}

/* A series of account user/<id>/KRAKEN: name{account labels[,extra]}. */
static const char *acct_series(const char *name, const char *id,
			       const char *extra)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "%s{account_type=\"user\",account_id=\"%s\",broker=\"KRAKEN\"%s%s}",
		 name, id, extra ? "," : "", extra ? extra : "");
	return buf;
}

static char *render(iso_reg_t *reg)
{
	struct iso_metrics *m = iso_metrics_new(NULL);
	char *buf;
	size_t len;

	cr_assert_not_null(m);
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0, "%s", iso_last_error());
	cr_assert_eq(iso_metrics_text(m, &buf, &len), 0);
	cr_assert_eq(len, iso_metrics_len(m));
	cr_assert_eq(strlen(buf), len);
	iso_metrics_free(m);
	return buf;
}

/* ----------------------------------------------------- child processes */

struct child {
	pid_t pid;
	int out; /* its stdout, or -1 */
};

/* Start argv[0] with stdout (and stderr if @err_path) captured. */
static struct child spawn(char *const argv[], const char *out_path)
{
	int pfd[2];
	struct child c = { -1, -1 };

	cr_assert_eq(pipe(pfd), 0);
	pid_t parent = getpid();
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(pfd[1], 1);
		if (out_path) {
			int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	c.out = pfd[0];
	return c;
}

/* Kill @c with @sig and reap it; returns its wait status. */
static int stop(struct child *c, int sig)
{
	int st = 0;

	if (c->pid <= 0)
		return 0;
	kill(c->pid, sig);
	waitpid(c->pid, &st, 0);
	c->pid = -1;
	if (c->out >= 0)
		close(c->out);
	c->out = -1;
	return st;
}

/* Run argv to completion; its stderr (and stdout) into @err. Returns status. */
static int run(char *const argv[], char *err, size_t errlen)
{
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while ((r = read(pfd[0], err + n, errlen - 1 - n)) > 0 && n + 1 < errlen)
		n += (size_t)r;
	err[n] = 0;
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return st;
}

/* `isoctl serve --listen 127.0.0.1:0 --segment seg`; returns the port. */
static int start_exporter(struct child *c)
{
	char bin[512], line[512];
	size_t n = 0;

	snprintf(bin, sizeof(bin), "%s/isoctl", bin_dir());
	cr_assert(have_program(bin), "no %s (set ISOREG_BIN)", bin);
	char *argv[] = { bin, "serve", "--listen", "127.0.0.1:0", "--segment",
			 seg, NULL };
	*c = spawn(argv, NULL);

	/* It says where it listens once the socket is bound. */
	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = c->out, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, 10000), 1, "isoctl serve said nothing");
		ssize_t r = read(c->out, line + n, 1);
		cr_assert_eq(r, 1, "isoctl serve exited before listening");
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	const char *at = strstr(line, "http://127.0.0.1:");
	cr_assert_not_null(at, "unexpected first line: %s", line);
	return atoi(at + strlen("http://127.0.0.1:"));
}

/* A reply: status code, Content-Type value, body (all NUL-terminated). */
struct reply {
	int status;
	char type[128];
	char *body;
};

/* A plain HTTP/1.0 GET on 127.0.0.1:@port; false if nothing answered. */
static bool http_get(int port, const char *path, struct reply *r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 10 };
	char req[1024];

	memset(r, 0, sizeof(*r));
	cr_assert_geq(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return false;
	}
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	cr_assert_eq(write(fd, req, (size_t)n), n);

	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t got;
	for (;;) {
		if (cap - len < 4096)
			buf = realloc(buf, cap *= 2);
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = 0;
	char *end = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1 || !end) {
		free(buf);
		return false;
	}
	*end = 0;
	for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n")) {
		if (strncasecmp(h + 2, "Content-Type: ", 14) == 0) {
			size_t l = strcspn(h + 16, "\r");
			if (l >= sizeof(r->type))
				l = sizeof(r->type) - 1;
			memcpy(r->type, h + 16, l);
			r->type[l] = 0;
		}
	}
	r->body = strdup(end + 4);
	free(buf);
	return true;
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/isoreg-test-exporter-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Drive user/<id>/KRAKEN to QUARANTINED with the default threshold. */
static void quarantine(iso_reg_t *reg, const char *id)
{
	iso_account_t a;
	struct iso_config cfg;

	iso_config_default(&cfg);
	cr_assert_eq(iso_register(reg, "user", id, "KRAKEN", &a), 0);
	for (uint32_t i = 0; i < cfg.failure_threshold; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_NETWORK,
						1000000),
			     0);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_assert_eq(st.health, ISO_QUARANTINED);
}

TestSuite(exporter, .fini = cleanup, .timeout = 60);

/* ------------------------------------------------------ the text itself */

/* [M1][T3] Every counter of an account appears with its value. */
Test(exporter, renders_account_counters_health_and_histogram)
{
	seg_name("render");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a, b;

	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(reg, "user", "bob", "KRAKEN", &b), 0);
	/* 1 us, 1 ms, 1 ms: buckets [2^9,2^10) once and [2^19,2^20) twice. */
	cr_assert_eq(iso_record_success(&a, NULL, 1000), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 1000000), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 1000000), 0);
	cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 0), 0);
	cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_RATE_LIMIT, 0), 0);
	cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_RATE_LIMIT, 0), 0);
	quarantine(reg, "bob");

	char *t = render(reg);

	cr_expect_eq(sample(t, acct_series("isoreg_account_operations_total", "alice", NULL)), 6);
	cr_expect_eq(sample(t, acct_series("isoreg_account_successes_total", "alice", NULL)), 3);
	cr_expect_eq(sample(t, acct_series("isoreg_account_failures_total", "alice", "type=\"network\"")), 1);
	cr_expect_eq(sample(t, acct_series("isoreg_account_failures_total", "alice", "type=\"rate_limit\"")), 2);
	cr_expect_eq(sample(t, acct_series("isoreg_account_failures_total", "alice", "type=\"api\"")), 0);
	cr_expect_eq(sample(t, acct_series("isoreg_account_consecutive_failures", "alice", NULL)), 3);

	/* The health enum: exactly one state is 1. */
	cr_expect_eq(sample(t, acct_series("isoreg_account_health", "alice", "state=\"degraded\"")), 1);
	cr_expect_eq(sample(t, acct_series("isoreg_account_health", "alice", "state=\"healthy\"")), 0);
	cr_expect_eq(sample(t, acct_series("isoreg_account_health", "bob", "state=\"quarantined\"")), 1);
	cr_expect_eq(sample(t, acct_series("isoreg_account_health", "bob", "state=\"degraded\"")), 0);
	cr_expect_eq(sample(t, acct_series("isoreg_account_breaker_state", "bob", "state=\"open\"")), 1);
	cr_expect_eq(sample(t, acct_series("isoreg_account_breaker_state", "bob", "state=\"closed\"")), 0);
	cr_expect_eq(sample(t, acct_series("isoreg_account_quarantines_total", "bob", NULL)), 1);
	double retry = sample(t, acct_series("isoreg_account_retry_in_seconds", "bob", NULL));
	cr_expect(retry > 0 && retry <= 300, "retry_in_seconds %f", retry);

	/* Histogram: cumulative, +Inf == _count == timed operations. */
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	uint64_t cum = 0;
	for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
		char le[64];
		uint64_t ns = iso_hist_upper_ns(i);
		cum += st.hist[i];
		if (ns == UINT64_MAX) {
			/* open-ended: no le of its own, only +Inf */
			cr_expect_eq(i, ISO_HIST_BUCKETS - 1);
			break;
		}
		/* The bound in seconds, exact: nine decimals, zeros cut. */
		int n = snprintf(le, sizeof(le), "le=\"%" PRIu64 ".%09" PRIu64,
				 ns / 1000000000u, ns % 1000000000u);
		while (le[n - 1] == '0')
			n--;
		if (le[n - 1] == '.')
			n--;
		snprintf(le + n, sizeof(le) - (size_t)n, "\"");
		double v = sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", le));
		cr_expect_eq(v, (double)cum, "bucket %s: %f, want %" PRIu64, le, v, cum);
	}
	cr_expect_eq(cum, 3, "the three timed operations are in hist[]");
	cr_expect_eq(sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"+Inf\"")), 3);
	cr_expect_eq(sample(t, acct_series("isoreg_account_operation_seconds_count", "alice", NULL)), 3);
	/* 1 us is below 2^14 ns, both 1 ms in [2^19, 2^20) ns. */
	cr_expect_eq(sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"0.000016384\"")), 1);
	cr_expect_eq(sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"0.000524288\"")), 1);
	cr_expect_eq(sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"0.001048576\"")), 3);
	/* A second past the last finite bound lands in +Inf only. */
	iso_account_t slow;
	cr_assert_eq(iso_register(reg, "user", "slow", "KRAKEN", &slow), 0);
	cr_assert_eq(iso_record_success(&slow, NULL, 4000000000u), 0);
	char *t2 = render(reg);
	cr_expect_eq(sample(t2, acct_series("isoreg_account_operation_seconds_bucket", "slow", "le=\"+Inf\"")), 1);
	cr_expect_eq(sample(t2, acct_series("isoreg_account_operation_seconds_bucket", "slow", "le=\"1.073741824\"")), 0);
	cr_expect_eq(sample(t2, acct_series("isoreg_account_operation_seconds_count", "slow", NULL)), 1);
	cr_expect_eq(sample(t2, acct_series("isoreg_account_operation_seconds_sum", "slow", NULL)), 4);
	free(t2);
	double sum = sample(t, acct_series("isoreg_account_operation_seconds_sum", "alice", NULL));
	cr_expect_eq(sum, 0.002001, "_sum %.9f, want exactly 0.002001 (1 us + 2 x 1 ms)", sum);

	/* Registry and broker. */
	cr_expect_eq(sample(t, "isoreg_registry_capacity_slots"), 64);
	cr_expect_eq(sample(t, "isoreg_registry_accounts_live"), 2);
	cr_expect_eq(sample(t, "isoreg_registry_accounts{state=\"degraded\"}"), 1);
	cr_expect_eq(sample(t, "isoreg_registry_accounts{state=\"quarantined\"}"), 1);
	cr_expect_eq(sample(t, "isoreg_registry_cross_account_errors_total"), 0);
	cr_expect_eq(sample(t, "isoreg_registry_isolation_active"), 1);
	cr_expect_eq(sample(t, "isoreg_broker_accounts{broker=\"KRAKEN\"}"), 2);
	cr_expect_eq(sample(t, "isoreg_broker_unhealthy_accounts{broker=\"KRAKEN\"}"), 1);
	cr_expect_eq(sample(t, "isoreg_broker_unhealthy_ratio{broker=\"KRAKEN\"}"), 0.5);

	/* Every family has HELP and TYPE exactly once. */
	cr_expect_not_null(strstr(t, "# TYPE isoreg_account_operation_seconds histogram\n"));
	cr_expect_not_null(strstr(t, "# TYPE isoreg_account_failures_total counter\n"));
	const char *dup = strstr(t, "# TYPE isoreg_account_health gauge\n");
	cr_expect(dup && !strstr(dup + 1, "# TYPE isoreg_account_health gauge\n"));
	free(t);
	iso_detach(reg);
}

/* [K2][T3] '"' and '\' are legal in a key; they must come out escaped. */
Test(exporter, escapes_quotes_and_backslashes_in_label_values)
{
	seg_name("escape");
	iso_reg_t *reg = create_segment(16);
	iso_account_t a;

	cr_assert_eq(iso_register(reg, "user", "a\"b\\c", "KRAKEN", &a), 0);
	char *t = render(reg);
	cr_expect_eq(sample(t, acct_series("isoreg_account_operations_total", "a\\\"b\\\\c", NULL)), 0,
		     "escaped series missing:\n%.600s", t);
	cr_expect_null(strstr(t, "account_id=\"a\"b"), "an unescaped quote");
	free(t);
	iso_detach(reg);
}

/* The server reads the text in blocks across family buffers: same bytes. */
Test(exporter, reads_the_text_out_in_blocks_unchanged)
{
	seg_name("blocks");
	iso_reg_t *reg = create_segment(16);
	struct iso_metrics *m = iso_metrics_new(NULL);
	iso_account_t a;
	char *whole;
	size_t len;

	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	quarantine(reg, "bob");
	cr_assert_not_null(m);
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
	cr_assert_eq(iso_metrics_text(m, &whole, &len), 0);
	cr_assert_gt(len, 1000);

	/* Odd block sizes so blocks straddle every family boundary. */
	static const size_t blocks[] = { 1, 7, 333, 4096 };
	char *copy = malloc(len + 1);
	for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++) {
		size_t pos = 0, got;
		memset(copy, 0, len + 1);
		while ((got = iso_metrics_read(m, pos, copy + pos,
					       len - pos < blocks[k] ? len - pos : blocks[k])) > 0)
			pos += got;
		cr_expect_eq(pos, len, "block %zu: read %zu of %zu", blocks[k], pos, len);
		cr_expect_eq(memcmp(copy, whole, len), 0, "block %zu: text differs", blocks[k]);
		cr_expect_eq(iso_metrics_read(m, len, copy, 10), 0, "past the end reads nothing");
	}
	free(copy);

	/* A second render into the same renderer starts afresh, HELP included once. */
	free(whole);
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
	cr_assert_eq(iso_metrics_text(m, &whole, &len), 0);
	const char *help = "# HELP isoreg_account_health ";
	const char *first = strstr(whole, help);
	cr_expect(first && !strstr(first + 1, help), "HELP not exactly once");
	cr_expect_eq(sample(whole, acct_series("isoreg_account_health", "bob", "state=\"quarantined\"")), 1);
	free(whole);
	iso_metrics_free(m);
	iso_detach(reg);
}

/* Writers for the test below: each records @n outcomes on its own account. */
struct writer_arg {
	iso_account_t acct;
	int n;
	int *done; /* writers finished; the renders go on until all are */
};

static void *writer(void *p)
{
	struct writer_arg *w = p;

	for (int i = 0; i < w->n; i++) {
		if (i % 10 == 9)
			iso_record_failure(&w->acct, NULL, ISO_FAIL_API, 20000);
		else
			iso_record_success(&w->acct, NULL, 20000 + (uint64_t)i);
	}
	__atomic_add_fetch(w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * [T3][R5] Renders taken while 4 threads record: counters never go back
 * from one scrape to the next, a histogram's +Inf bucket always equals its
 * _count, and the last scrape has every outcome. (Also run under TSan.)
 */
Test(exporter, renders_consistently_while_4_threads_record)
{
	enum { W = 4, N = 200000 };
	int done = 0, rounds = 0;
	seg_name("threads");
	iso_reg_t *reg = create_segment(16);
	struct writer_arg w[W];
	pthread_t th[W];
	char id[16];
	double last_ops[W] = { 0 };

	for (int i = 0; i < W; i++) {
		snprintf(id, sizeof(id), "w%d", i);
		cr_assert_eq(iso_register(reg, "user", id, "KRAKEN", &w[i].acct), 0);
		w[i].n = N;
		w[i].done = &done;
		cr_assert_eq(pthread_create(&th[i], NULL, writer, &w[i]), 0);
	}
	struct iso_metrics *m = iso_metrics_new(NULL);
	cr_assert_not_null(m);
	/* acquire: pairs with each writer's release at its end. */
	while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < W || rounds < 3) {
		char *t;
		rounds++;
		size_t len;
		cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
		cr_assert_eq(iso_metrics_text(m, &t, &len), 0);
		for (int i = 0; i < W; i++) {
			snprintf(id, sizeof(id), "w%d", i);
			double ops = sample(t, acct_series("isoreg_account_operations_total", id, NULL));
			double inf = sample(t, acct_series("isoreg_account_operation_seconds_bucket", id, "le=\"+Inf\""));
			double cnt = sample(t, acct_series("isoreg_account_operation_seconds_count", id, NULL));
			cr_expect_geq(ops, last_ops[i], "%s went back: %f after %f", id, ops, last_ops[i]);
			cr_expect_eq(inf, cnt, "%s: +Inf %f, _count %f", id, inf, cnt);
			last_ops[i] = ops;
		}
		free(t);
	}
	for (int i = 0; i < W; i++)
		pthread_join(th[i], NULL);

	char *t;
	size_t len;
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
	cr_assert_eq(iso_metrics_text(m, &t, &len), 0);
	for (int i = 0; i < W; i++) {
		snprintf(id, sizeof(id), "w%d", i);
		cr_expect_eq(sample(t, acct_series("isoreg_account_operations_total", id, NULL)), N);
		cr_expect_eq(sample(t, acct_series("isoreg_account_failures_total", id, "type=\"api\"")), N / 10);
		cr_expect_eq(sample(t, acct_series("isoreg_account_operation_seconds_count", id, NULL)), N);
	}
	free(t);
	iso_metrics_free(m);
	iso_detach(reg);
}

/* ----------------------------------------------------------- over HTTP */

/* [T3] /metrics over HTTP: status, Content-Type, values, promtool-clean. */
Test(exporter, serves_metrics_that_promtool_accepts)
{
	seg_name("http");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a;
	struct child c;
	struct reply r;

	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 5000), 0);
	quarantine(reg, "bob");
	int port = start_exporter(&c);

	cr_assert(http_get(port, "/metrics", &r));
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.type, "text/plain; version=0.0.4; charset=utf-8");
	cr_expect_eq(sample(r.body, acct_series("isoreg_account_successes_total", "alice", NULL)), 1);
	cr_expect_eq(sample(r.body, acct_series("isoreg_account_health", "bob", "state=\"quarantined\"")), 1);
	cr_expect_eq(sample(r.body, "isoreg_exporter_scrapes_total"), 1);

	/* A writer keeps writing while we scrape: the next scrape sees it. */
	cr_assert_eq(iso_record_success(&a, NULL, 5000), 0);
	struct reply r2;
	cr_assert(http_get(port, "/metrics", &r2));
	cr_expect_eq(sample(r2.body, acct_series("isoreg_account_successes_total", "alice", NULL)), 2);
	cr_expect_eq(sample(r2.body, "isoreg_exporter_scrapes_total"), 2);
	free(r2.body);

	if (!have_program("/usr/bin/promtool")) {
		free(r.body);
		stop(&c, SIGTERM);
		cr_skip_test("promtool not installed (Debian package prometheus): text not linted");
	}
	make_tmpdir();
	char path[256], out[4096];
	snprintf(path, sizeof(path), "%s/metrics.txt", tmpdir);
	write_file(path, r.body);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < '%s' 2>&1", path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	cr_expect_eq(st, 0, "promtool check metrics failed:\n%s", out);
	cr_expect_eq(n, 0, "promtool check metrics complains:\n%s", out);
	free(r.body);
	cr_expect_eq(WEXITSTATUS(stop(&c, SIGTERM)), 0, "isoctl serve exits 0 on SIGTERM");
	iso_detach(reg);
}

/* [T3] /healthz answers 200; unknown paths 404; POST 405. */
Test(exporter, answers_healthz_and_refuses_other_paths)
{
	seg_name("paths");
	iso_reg_t *reg = create_segment(16);
	struct child c;
	struct reply r;
	int port = start_exporter(&c);

	cr_assert(http_get(port, "/healthz", &r));
	cr_expect_eq(r.status, 200);
	free(r.body);
	cr_assert(http_get(port, "/", &r));
	cr_expect_eq(r.status, 404);
	free(r.body);
	cr_assert(http_get(port, "/metrics/x", &r));
	cr_expect_eq(r.status, 404);
	free(r.body);
	stop(&c, SIGTERM);
	iso_detach(reg);
}

/* [T3] A port in use: exit 1, and the message names the address. */
Test(exporter, port_in_use_is_a_clear_error_naming_the_address)
{
	seg_name("inuse");
	iso_reg_t *reg = create_segment(16);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	char bin[512], listen_at[64], err[2048];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", ntohs(a.sin_port));
	snprintf(bin, sizeof(bin), "%s/isoctl", bin_dir());
	char *argv[] = { bin, "serve", "--listen", listen_at, "--segment", seg, NULL };

	int st = run(argv, err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d: %s", st, err);
	cr_expect_not_null(strstr(err, listen_at), "message does not name %s: %s", listen_at, err);
	cr_expect_not_null(strstr(err, "in use"), "message does not say in use: %s", err);
	close(fd);
	iso_detach(reg);
}

/* [T3][R1] Missing or garbage segment: exit 1 naming it; a bad --listen: exit 2. */
Test(exporter, missing_or_garbage_segment_and_bad_listen_are_clear_errors)
{
	seg_name("missing");
	char bin[512], err[2048];

	snprintf(bin, sizeof(bin), "%s/isoctl", bin_dir());
	char *argv[] = { bin, "serve", "--listen", "127.0.0.1:0", "--segment", seg, NULL };
	int st = run(argv, err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d: %s", st, err);
	cr_expect_not_null(strstr(err, seg), "message does not name %s: %s", seg, err);

	/* Not a segment at all: refused by the library's validation [R1]. */
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	write_file(path, "this is not an isoreg segment, just some text\n");
	st = run(argv, err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d: %s", st, err);
	cr_expect_not_null(strstr(err, "cannot attach segment"), "%s", err);
	cr_expect_not_null(strstr(err, seg), "message does not name %s: %s", seg, err);
	cr_assert_eq(unlink(path), 0);

	iso_reg_t *reg = create_segment(16);
	char *bad[] = { bin, "serve", "--listen", "localhost", "--segment", seg, NULL };
	st = run(bad, err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %d: %s", st, err);
	cr_expect_not_null(strstr(err, "localhost"), "message does not name the value: %s", err);
	iso_detach(reg);
}

/*
 * [T3] The segment is unlinked and recreated under a running exporter:
 * 503 with a message in the gap, then the new segment's accounts (and not
 * the old ones), and the exporter counts the re-attach.
 */
Test(exporter, reattaches_when_the_segment_is_recreated)
{
	seg_name("recreate");
	iso_reg_t *reg = create_segment(16);
	iso_account_t a;
	struct child c;
	struct reply r;

	cr_assert_eq(iso_register(reg, "user", "old", "KRAKEN", &a), 0);
	int port = start_exporter(&c);
	cr_assert(http_get(port, "/metrics", &r));
	cr_expect_eq(r.status, 200);
	cr_expect_eq(sample(r.body, acct_series("isoreg_account_operations_total", "old", NULL)), 0);
	free(r.body);

	cr_assert_eq(iso_unlink(seg), 0);
	cr_assert(http_get(port, "/metrics", &r), "the exporter died in the gap");
	cr_expect_eq(r.status, 503);
	cr_expect_not_null(strstr(r.body, seg), "503 body does not name the segment: %s", r.body);
	free(r.body);
	cr_assert(http_get(port, "/healthz", &r));
	cr_expect_eq(r.status, 503);
	free(r.body);
	iso_detach(reg);

	reg = create_segment(32);
	cr_assert_eq(iso_register(reg, "user", "new", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	cr_assert(http_get(port, "/metrics", &r));
	cr_expect_eq(r.status, 200);
	cr_expect_eq(sample(r.body, acct_series("isoreg_account_operations_total", "new", NULL)), 1);
	cr_expect(isnan(sample(r.body, acct_series("isoreg_account_operations_total", "old", NULL))),
		  "the old segment's account is still served");
	cr_expect_eq(sample(r.body, "isoreg_registry_capacity_slots"), 32);
	cr_expect_eq(sample(r.body, "isoreg_exporter_reattaches_total"), 1);
	cr_expect_eq(sample(r.body, "isoreg_exporter_unavailable_scrapes_total"), 1);
	free(r.body);

	/* Replaced between two scrapes, no gap seen: the inode tells. */
	iso_detach(reg);
	cr_assert_eq(iso_unlink(seg), 0);
	reg = create_segment(48);
	cr_assert_eq(iso_register(reg, "user", "newer", "KRAKEN", &a), 0);
	cr_assert(http_get(port, "/metrics", &r));
	cr_expect_eq(r.status, 200);
	cr_expect_eq(sample(r.body, acct_series("isoreg_account_operations_total", "newer", NULL)), 0);
	cr_expect(isnan(sample(r.body, acct_series("isoreg_account_operations_total", "new", NULL))),
		  "the replaced segment's account is still served");
	cr_expect_eq(sample(r.body, "isoreg_registry_capacity_slots"), 48);
	cr_expect_eq(sample(r.body, "isoreg_exporter_reattaches_total"), 2);
	free(r.body);
	cr_expect_eq(WEXITSTATUS(stop(&c, SIGTERM)), 0);
	iso_detach(reg);
}

/* ------------------------------------------------------------ promtool */

/* The shipped rules load, and each alert's unit test passes. */
Test(exporter, alert_rules_pass_promtool_check_and_unit_tests)
{
	char err[8192];

	if (!have_program("/usr/bin/promtool"))
		cr_skip_test("promtool not installed (Debian package prometheus)");
	char *check[] = { "/usr/bin/promtool", "check", "rules",
			  "tools/prometheus/alerts.yml", NULL };
	int st = run(check, err, sizeof(err));
	cr_expect_eq(st, 0, "promtool check rules:\n%s", err);
	char *config[] = { "/usr/bin/promtool", "check", "config",
			   "tools/prometheus/prometheus.yml", NULL };
	st = run(config, err, sizeof(err));
	cr_expect_eq(st, 0, "promtool check config:\n%s", err);
	char *test[] = { "/usr/bin/promtool", "test", "rules",
			 "tools/prometheus/alerts_test.yml", NULL };
	st = run(test, err, sizeof(err));
	cr_expect_eq(st, 0, "promtool test rules:\n%s", err);
}

/* ---------------------------------------------------------- prometheus */

/*
 * Copy alerts.yml with every `for:` set to 0s: the expressions under test
 * are the shipped ones, while the durations (covered by alerts_test.yml)
 * would make this test wait minutes.
 */
static void copy_rules_without_for(const char *to)
{
	FILE *in = fopen("tools/prometheus/alerts.yml", "r");
	FILE *out = fopen(to, "w");
	char line[1024];

	cr_assert_not_null(in, "tools/prometheus/alerts.yml: %s", strerror(errno));
	cr_assert_not_null(out);
	while (fgets(line, sizeof(line), in)) {
		char *p = line + strspn(line, " ");
		if (strncmp(p, "for:", 4) == 0)
			fprintf(out, "%.*sfor: 0s\n", (int)(p - line), line);
		else
			fputs(line, out);
	}
	fclose(in);
	cr_assert_eq(fclose(out), 0);
}

/* GET @path until its body contains every one of @want, for ~20 s. */
static bool await_body(int port, const char *path, const char *const want[],
		       char **last)
{
	for (int i = 0; i < 100; i++) {
		struct reply r;
		if (http_get(port, path, &r)) {
			bool all = r.status == 200;
			for (int k = 0; all && want[k]; k++)
				all = strstr(r.body, want[k]) != NULL;
			free(*last);
			*last = r.body;
			if (all)
				return true;
		}
		sleep_ms(200);
	}
	return false;
}

/* [T3] A real Prometheus scrapes the exporter and fires the quarantine alert. */
Test(exporter, prometheus_scrapes_and_fires_the_quarantine_alert)
{
	if (!have_program("/usr/bin/prometheus"))
		cr_skip_test("prometheus not installed (Debian package prometheus)");
	seg_name("prom");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a;
	struct child ex, prom;
	char path[256], conf[1024], rules[256], log[256], flag[3][300];

	cr_assert_eq(iso_register(reg, "user", "calm", "KRAKEN", &a), 0);
	int eport = start_exporter(&ex);
	make_tmpdir();
	snprintf(rules, sizeof(rules), "%s/alerts.yml", tmpdir);
	copy_rules_without_for(rules);
	snprintf(conf, sizeof(conf),
		 "global:\n"
		 "  scrape_interval: 1s\n"
		 "  evaluation_interval: 1s\n"
		 "rule_files:\n"
		 "  - %s\n"
		 "scrape_configs:\n"
		 "  - job_name: isoreg\n"
		 "    static_configs:\n"
		 "      - targets: ['127.0.0.1:%d']\n",
		 rules, eport);
	snprintf(path, sizeof(path), "%s/prometheus.yml", tmpdir);
	write_file(path, conf);
	snprintf(log, sizeof(log), "%s/prometheus.log", tmpdir);

	int pport = free_port();
	snprintf(flag[0], sizeof(flag[0]), "--config.file=%s", path);
	snprintf(flag[1], sizeof(flag[1]), "--storage.tsdb.path=%s/data", tmpdir);
	snprintf(flag[2], sizeof(flag[2]), "--web.listen-address=127.0.0.1:%d", pport);
	char *argv[] = { "/usr/bin/prometheus", flag[0], flag[1], flag[2],
			 "--log.level=warn", NULL };
	prom = spawn(argv, log);

	char *last = NULL;
	const char *up[] = { "\"job\":\"isoreg\"", "\"value\":[", "\"1\"]", NULL };
	bool ok = await_body(pport, "/api/v1/query?query=up%7Bjob%3D%22isoreg%22%7D", up, &last);
	cr_assert(ok, "Prometheus never scraped the exporter; last answer: %s (log in %s)",
		  last ? last : "none", log);

	/* Now trip an account: the series and then the alert must show it. */
	quarantine(reg, "bad");
	const char *series[] = { "\"account_id\":\"bad\"", "\"state\":\"quarantined\"", "\"1\"]", NULL };
	ok = await_body(pport,
			"/api/v1/query?query=isoreg_account_health%7Bstate%3D%22quarantined%22%7D%3D%3D1",
			series, &last);
	cr_expect(ok, "no quarantined series in Prometheus; last answer: %s", last ? last : "none");
	const char *alert[] = { "\"alertname\":\"IsoregAccountQuarantined\"", "\"account_id\":\"bad\"",
				"\"state\":\"firing\"", NULL };
	ok = await_body(pport, "/api/v1/alerts", alert, &last);
	cr_expect(ok, "IsoregAccountQuarantined never fired; last answer: %s", last ? last : "none");
	cr_expect_null(strstr(last ? last : "", "\"account_id\":\"calm\""),
		       "the healthy account is in an alert: %s", last);
	free(last);

	stop(&prom, SIGKILL);
	stop(&ex, SIGTERM);
	iso_detach(reg);
}
