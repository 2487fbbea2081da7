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

#include "atomic.h"
#include "isoreg.h"
#include "support/exporter_util.h"

/*
 * The Makefile links tools' sources only into the tools, and the renderer
 * is meant to be tested without HTTP: compile it into this file.
 */
#include "../tools/isoctl/metrics.h"
#include "../tools/isoctl/snapshot.h"
#include <zlib.h>

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
	ex_remove_tmpdir(tmpdir);
	tmpdir[0] = 0;
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

static int start_exporter(struct ex_child *c)
{
	return ex_start_exporter(c, seg, NULL);
}

static void make_tmpdir(void)
{
	ex_make_tmpdir(tmpdir, sizeof(tmpdir));
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

static const struct iso_metrics_opts full_opts = {
	.accounts = ISO_METRICS_ACCOUNTS_ALL,
	.account_detail = true,
	.account_histograms = true,
};

/* The text of one render of @reg under budget @opts (NULL: default). */
static char *render_opts(iso_reg_t *reg, const struct iso_metrics_opts *opts)
{
	struct iso_metrics *m = iso_metrics_new(opts);
	char *buf;
	size_t len;

	cr_assert_not_null(m);
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0, "%s", iso_last_error());
	cr_assert_eq(iso_metrics_text(m, &buf, &len), 0);
	cr_assert_eq(len, iso_metrics_len(m));
	cr_assert_eq(strlen(buf), len);
	cr_assert_eq(ex_count_samples(buf, ""), iso_metrics_series(m),
		     "iso_metrics_series disagrees with the text");
	iso_metrics_free(m);
	return buf;
}

static char *render(iso_reg_t *reg)
{
	return render_opts(reg, &full_opts);
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

/* promtool check metrics on @text: its complaints, or "" if it has none. */
static void promtool_check_metrics(const char *text, const char *what)
{
	char path[256], cmd[512], out[4096];

	if (!tmpdir[0])
		make_tmpdir();
	snprintf(path, sizeof(path), "%s/metrics.txt", tmpdir);
	ex_write_file(path, text);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < '%s' 2>&1", path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int st = pclose(p);
	cr_expect_eq(st, 0, "promtool check metrics (%s) failed:\n%s", what, out);
	cr_expect_eq(n, 0, "promtool check metrics (%s) complains:\n%s", what, out);
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

	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "alice", NULL)), 6);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_successes_total", "alice", NULL)), 3);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_failures_total", "alice", "type=\"network\"")), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_failures_total", "alice", "type=\"rate_limit\"")), 2);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_failures_total", "alice", "type=\"api\"")), 0);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_consecutive_failures", "alice", NULL)), 3);

	/* Health and breaker state: one series each, labelled with the state now. */
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_health", "alice", "state=\"degraded\"")), 1);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_health", "alice", "state=\"healthy\""))));
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_health", "bob", "state=\"quarantined\"")), 1);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_health", "bob", "state=\"degraded\""))));
	cr_expect_eq(ex_count_samples(t, "isoreg_account_health{"), 2, "one health series per account");
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_breaker_state", "bob", "state=\"open\"")), 1);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_breaker_state", "bob", "state=\"closed\""))));
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_quarantines_total", "bob", NULL)), 1);
	double retry = ex_sample(t, acct_series("isoreg_account_retry_in_seconds", "bob", NULL));
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
		double v = ex_sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", le));
		cr_expect_eq(v, (double)cum, "bucket %s: %f, want %" PRIu64, le, v, cum);
	}
	cr_expect_eq(cum, 3, "the three timed operations are in hist[]");
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"+Inf\"")), 3);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operation_seconds_count", "alice", NULL)), 3);
	/* 1 us is below 2^14 ns, both 1 ms in [2^19, 2^20) ns. */
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"0.000016384\"")), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"0.000524288\"")), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operation_seconds_bucket", "alice", "le=\"0.001048576\"")), 3);
	/* A second past the last finite bound lands in +Inf only. */
	iso_account_t slow;
	cr_assert_eq(iso_register(reg, "user", "slow", "KRAKEN", &slow), 0);
	cr_assert_eq(iso_record_success(&slow, NULL, 4000000000u), 0);
	char *t2 = render(reg);
	cr_expect_eq(ex_sample(t2, acct_series("isoreg_account_operation_seconds_bucket", "slow", "le=\"+Inf\"")), 1);
	cr_expect_eq(ex_sample(t2, acct_series("isoreg_account_operation_seconds_bucket", "slow", "le=\"1.073741824\"")), 0);
	cr_expect_eq(ex_sample(t2, acct_series("isoreg_account_operation_seconds_count", "slow", NULL)), 1);
	cr_expect_eq(ex_sample(t2, acct_series("isoreg_account_operation_seconds_sum", "slow", NULL)), 4);
	free(t2);
	double sum = ex_sample(t, acct_series("isoreg_account_operation_seconds_sum", "alice", NULL));
	cr_expect_eq(sum, 0.002001, "_sum %.9f, want exactly 0.002001 (1 us + 2 x 1 ms)", sum);

	/* Registry and broker. */
	cr_expect_eq(ex_sample(t, "isoreg_registry_capacity_slots"), 64);
	cr_expect_eq(ex_sample(t, "isoreg_registry_accounts_live"), 2);
	cr_expect_eq(ex_sample(t, "isoreg_registry_accounts{state=\"degraded\"}"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_registry_accounts{state=\"quarantined\"}"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_registry_cross_account_errors_total"), 0);
	cr_expect_eq(ex_sample(t, "isoreg_registry_isolation_active"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_broker_accounts{broker=\"KRAKEN\"}"), 2);
	cr_expect_eq(ex_sample(t, "isoreg_broker_unhealthy_accounts{broker=\"KRAKEN\"}"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_broker_unhealthy_ratio{broker=\"KRAKEN\"}"), 0.5);

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
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "a\\\"b\\\\c", NULL)), 0,
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
	cr_expect_eq(ex_sample(whole, acct_series("isoreg_account_health", "bob", "state=\"quarantined\"")), 1);
	free(whole);
	iso_metrics_free(m);
	iso_detach(reg);
}

/* The account series of user/<id>/KRAKEN in @t. */
static size_t account_samples(const char *t, const char *id)
{
	char needle[160];
	size_t n = 0;

	snprintf(needle, sizeof(needle),
		 "{account_type=\"user\",account_id=\"%s\",broker=\"KRAKEN\"", id);
	for (const char *p = t; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/*
 * [T3] The default series budget (issue 18): 12 series per account (health,
 * operations, 8 failure types, quarantines, retry-in), no per-account
 * histogram or detail, and the broker sums and histogram beside them.
 */
Test(exporter, default_budget_is_12_series_per_account_and_broker_histograms)
{
	seg_name("budget");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a, b;

	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(reg, "user", "bob", "KRAKEN", &b), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 1000000), 0);
	cr_assert_eq(iso_record_success(&b, NULL, 1000000), 0);
	cr_assert_eq(iso_record_success(&b, NULL, 3000000), 0);
	cr_assert_eq(iso_record_failure(&b, NULL, ISO_FAIL_API, 1000), 0);
	char *t = render_opts(reg, NULL);

	cr_expect_eq(account_samples(t, "alice"), 12, "alice has %zu series:\n%s",
		     account_samples(t, "alice"), t);
	cr_expect_eq(account_samples(t, "bob"), 13, "degraded: + the cause");
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_last_transition_cause", "bob", "cause=\"failure\"")), 1);
	cr_expect_null(strstr(t, "isoreg_account_operation_seconds"), "per-account histogram by default");
	cr_expect_null(strstr(t, "isoreg_account_successes_total"), "detail by default");
	cr_expect_null(strstr(t, "isoreg_account_breaker_state"), "detail by default");
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_health", "alice", "state=\"healthy\"")), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "bob", NULL)), 3);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_failures_total", "bob", "type=\"api\"")), 1);

	/* The broker sums: every account of KRAKEN, histogram included. */
	cr_expect_eq(ex_sample(t, "isoreg_broker_operations_total{broker=\"KRAKEN\"}"), 4);
	cr_expect_eq(ex_sample(t, "isoreg_broker_failures_total{broker=\"KRAKEN\",type=\"api\"}"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_broker_quarantines_total{broker=\"KRAKEN\"}"), 0);
	cr_expect_eq(ex_sample(t, "isoreg_broker_operation_seconds_count{broker=\"KRAKEN\"}"), 4);
	cr_expect_eq(ex_sample(t, "isoreg_broker_operation_seconds_sum{broker=\"KRAKEN\"}"), 0.005001);
	/* 1 ms is in [2^19, 2^20) ns, 3 ms in [2^21, 2^22), 1 us below 2^14. */
	cr_expect_eq(ex_sample(t, "isoreg_broker_operation_seconds_bucket{broker=\"KRAKEN\",le=\"0.000016384\"}"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_broker_operation_seconds_bucket{broker=\"KRAKEN\",le=\"0.001048576\"}"), 3);
	cr_expect_eq(ex_sample(t, "isoreg_broker_operation_seconds_bucket{broker=\"KRAKEN\",le=\"0.004194304\"}"), 4);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_build_info{version=\"" ISO_METRICS_VERSION "\"}"), 1);
	free(t);
	iso_detach(reg);
}

/*
 * [T3] --accounts unhealthy: series only for accounts that are not
 * HEALTHY; the registry and broker series still count every account.
 * --accounts none: no account series at all.
 */
Test(exporter, unhealthy_only_and_none_budgets_keep_the_broker_sums)
{
	seg_name("unhealthy");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a, b;

	cr_assert_eq(iso_register(reg, "user", "calm", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	cr_assert_eq(iso_register(reg, "user", "shaky", "KRAKEN", &b), 0);
	cr_assert_eq(iso_record_failure(&b, NULL, ISO_FAIL_NETWORK, 0), 0);
	quarantine(reg, "bad");

	struct iso_metrics_opts o = { .accounts = ISO_METRICS_ACCOUNTS_UNHEALTHY };
	char *t = render_opts(reg, &o);
	cr_expect_eq(account_samples(t, "calm"), 0, "a healthy account is exported:\n%s", t);
	cr_expect_eq(account_samples(t, "shaky"), 13);
	cr_expect_eq(account_samples(t, "bad"), 13);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_health", "shaky", "state=\"degraded\"")), 1);
	cr_expect_eq(ex_sample(t, "isoreg_broker_operations_total{broker=\"KRAKEN\"}"), 7);
	cr_expect_eq(ex_sample(t, "isoreg_registry_accounts{state=\"healthy\"}"), 1);
	free(t);

	o.accounts = ISO_METRICS_ACCOUNTS_NONE;
	o.account_detail = o.account_histograms = true; /* nothing to add them to */
	t = render_opts(reg, &o);
	cr_expect_null(strstr(t, "isoreg_account_"), "an account series with --accounts none:\n%s", t);
	cr_expect_null(strstr(t, "# HELP isoreg_account_"), "HELP of an empty family");
	cr_expect_eq(ex_sample(t, "isoreg_broker_accounts{broker=\"KRAKEN\"}"), 3);
	cr_expect_eq(ex_sample(t, "isoreg_broker_unhealthy_accounts{broker=\"KRAKEN\"}"), 1);
	/* Timed operations only: the 5 failures of "bad" carried 1 ms each. */
	cr_expect_eq(ex_sample(t, "isoreg_broker_operation_seconds_count{broker=\"KRAKEN\"}"), 5);
	free(t);
	iso_detach(reg);
}

/*
 * [B7][T3] (issue 15): an account with a rolling window gets
 * isoreg_account_window_calls, and once min_calls outcomes are in it the
 * failure ratio (and the slow-call ratio where slow_call_ms is set), as
 * ratios 0..1; one not judged yet gets the count alone; a plain account
 * none of them. In the default budget too, and promtool accepts it all.
 */
Test(exporter, window_gauges_only_for_accounts_with_a_window_once_judged)
{
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL | ISO_ATTACH_WINDOWS,
		.capacity = 16,
	};
	iso_reg_t *reg = NULL;
	iso_account_t alt, young, plain;
	struct iso_config cfg;
	struct iso_status st;

	seg_name("windows");
	cr_assert_eq(iso_attach(seg, &o, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "alt", "KRAKEN", &alt), 0);
	cr_assert_eq(iso_register(reg, "user", "young", "KRAKEN", &young), 0);
	cr_assert_eq(iso_register(reg, "user", "plain", "KRAKEN", &plain), 0);
	iso_config_default(&cfg);
	cfg.window_ms = 60000;
	cfg.min_calls = 4;
	cfg.failure_rate_threshold = 50;
	cfg.slow_call_ms = 100;
	cr_assert_eq(iso_configure(&alt, &cfg), 0, "%s", iso_last_error());
	cfg.slow_call_ms = 0;
	cr_assert_eq(iso_configure(&young, &cfg), 0, "%s", iso_last_error());
	/* alt: one slow success, one fast, two failures: trips at 50 %. */
	cr_assert_eq(iso_record_success(&alt, NULL, 200000000), 0);
	cr_assert_eq(iso_record_failure(&alt, NULL, ISO_FAIL_API, 1000000), 0);
	cr_assert_eq(iso_record_success(&alt, NULL, 1000000), 0);
	cr_assert_eq(iso_record_failure(&alt, NULL, ISO_FAIL_API, 1000000), 0);
	cr_assert_eq(iso_status(&alt, &st), 0);
	cr_assert_eq(st.last_cause, ISO_CAUSE_FAILURE_RATE, "%s",
		     iso_cause_name(st.last_cause));
	cr_assert_eq(iso_record_success(&young, NULL, 1000000), 0);
	cr_assert_eq(iso_record_success(&plain, NULL, 1000000), 0);

	for (int pass = 0; pass < 2; pass++) {
		char *t = pass ? render_opts(reg, NULL) : render(reg);

		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_window_calls", "alt", NULL)), 4, "%s", t);
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_window_failure_ratio", "alt", NULL)), 0.5);
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_window_slow_call_ratio", "alt", NULL)), 0.25);
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_window_calls", "young", NULL)), 1);
		cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_window_failure_ratio", "young", NULL))),
			  "a ratio before min_calls");
		cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_window_slow_call_ratio", "young", NULL))),
			  "a slow-call ratio without slow_call_ms");
		cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_window_calls", "plain", NULL))),
			  "a window series for an account without one");
		cr_expect_eq(ex_count_samples(t, "isoreg_account_window_"), 4, "%s", t);
		cr_expect(strstr(t, "# TYPE isoreg_account_window_failure_ratio gauge\n"));
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_last_transition_cause", "alt", "cause=\"failure_rate\"")), 1,
			     "a rate trip names its rate");
		cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_last_transition_cause", "plain", "cause=\"register\""))),
			  "a healthy account has no cause series");
		cr_expect_eq(ex_count_samples(t, "isoreg_account_last_transition_cause"), 1, "%s", t);
		if (pass) { /* the default budget: 12, 3 for the window, and
			     * the cause of an account that is not healthy */
			cr_expect_eq(account_samples(t, "plain"), 12, "%s", t);
			cr_expect_eq(account_samples(t, "alt"), 16, "%s", t);
		}
		promtool_check_metrics(t, pass ? "windows, default budget" : "windows, full");
		free(t);
	}
	iso_detach(reg);
}

/* [T3] With no segment: isoreg_up 0, the build, the exporter's own series, nothing else. */
Test(exporter, renders_up_0_and_no_account_series_without_a_segment)
{
	struct iso_metrics *m = iso_metrics_new(&full_opts);
	struct iso_metrics_self self = { .scrapes = 3 };
	char *t;
	size_t len;

	self.errors[ISO_METRICS_ERR_MISSING] = 2;
	cr_assert_not_null(m);
	cr_assert_eq(iso_metrics_render(m, NULL, &self), 0);
	cr_assert_eq(iso_metrics_text(m, &t, &len), 0);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 0);
	cr_expect_eq(ex_sample(t, "isoreg_build_info{version=\"" ISO_METRICS_VERSION "\"}"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_scrapes_total"), 3);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_scrape_errors_total{reason=\"missing\"}"), 2);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_scrape_errors_total{reason=\"damaged\"}"), 0);
	cr_expect_null(strstr(t, "isoreg_account_"), "%s", t);
	cr_expect_null(strstr(t, "isoreg_registry_"), "%s", t);
	cr_expect_null(strstr(t, "isoreg_broker_"), "%s", t);
	cr_expect_eq(ex_count_samples(t, ""), iso_metrics_series(m));
	free(t);
	iso_metrics_free(m);
}

/* The gzip snapshot inflates back to the rendered text, byte for byte. */
static void expect_snapshot_roundtrip(struct iso_metrics *m, struct iso_gzip *z)
{
	struct iso_snapshot *snap;
	char *text;
	size_t len;

	cr_assert_eq(iso_metrics_text(m, &text, &len), 0);
	cr_assert_eq(iso_snapshot_make(z, m, &snap), 0);
	cr_expect_eq(iso_snapshot_text_len(snap), len);
	cr_expect_lt(iso_snapshot_gz_len(snap), len, "gzip made it larger");

	/* As a gzip client gets it: the bytes inflate (zlib) to the text. */
	struct iso_body *gz = iso_body_new(snap, true);
	cr_assert_eq(iso_body_len(gz), iso_snapshot_gz_len(snap));
	unsigned char *zbytes = malloc(iso_body_len(gz));
	size_t pos = 0;
	ssize_t got;
	while ((got = iso_body_read(gz, pos, (char *)zbytes + pos, 1000)) > 0)
		pos += (size_t)got;
	cr_assert_eq(pos, iso_body_len(gz));
	char *back = malloc(len + 1);
	z_stream zs = { 0 };
	cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = zbytes;
	zs.avail_in = (uInt)pos;
	zs.next_out = (unsigned char *)back;
	zs.avail_out = (uInt)len + 1;
	cr_expect_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	cr_expect_eq(zs.total_out, len);
	cr_expect_eq(memcmp(back, text, len), 0, "gzip body differs from the text");
	inflateEnd(&zs);
	iso_body_free(gz);

	/* As a plain client gets it, in odd blocks: the text itself. */
	static const size_t blocks[] = { 1, 333, 65536 };
	for (size_t k = 0; k < 3; k++) {
		struct iso_body *plain = iso_body_new(snap, false);
		cr_assert_eq(iso_body_len(plain), len);
		memset(back, 0, len + 1);
		pos = 0;
		while (pos < len && (got = iso_body_read(plain, pos, back + pos,
						       blocks[k] < len - pos ? blocks[k] : len - pos)) > 0)
			pos += (size_t)got;
		cr_expect_eq(pos, len, "block %zu: %zu of %zu bytes", blocks[k], pos, len);
		cr_expect_eq(memcmp(back, text, len), 0, "block %zu: plain body differs", blocks[k]);
		cr_expect_eq(iso_body_read(plain, pos + 1, back, 10), -1, "a read out of order is refused");
		iso_body_free(plain);
	}
	iso_snapshot_unref(snap); /* the bodies held their own references */
	free(back);
	free(zbytes);
	free(text);
}

/* [T3] What a response sends, gzip or not, is exactly the rendered text. */
Test(exporter, gzip_snapshot_gives_back_the_text_exactly)
{
	seg_name("gzip");
	iso_reg_t *reg = create_segment(256);
	struct iso_metrics *m = iso_metrics_new(&full_opts);
	struct iso_gzip *z = iso_gzip_new(1);
	char id[32];

	cr_assert(m && z);
	for (int i = 0; i < 200; i++) {
		iso_account_t a;
		snprintf(id, sizeof(id), "acct%d", i);
		cr_assert_eq(iso_register(reg, "user", id, i % 2 ? "KRAKEN" : "COINBASE", &a), 0);
		cr_assert_eq(iso_record_success(&a, NULL, 1000u * (unsigned)i), 0);
	}
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
	expect_snapshot_roundtrip(m, z);
	/* Again with the same compressor (reset, not rebuilt), and with no segment. */
	cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
	expect_snapshot_roundtrip(m, z);
	cr_assert_eq(iso_metrics_render(m, NULL, NULL), 0);
	expect_snapshot_roundtrip(m, z);
	iso_gzip_free(z);
	iso_metrics_free(m);
	iso_detach(reg);
}

/* Writers for the test below: each records @n outcomes on its own account. */
struct writer_arg {
	iso_account_t acct;
	int n;
	uint32_t *done; /* writers finished; the renders go on until all are */
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
	iso_add32_release(w->done, 1); /* pairs with the renderer's acquire */
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
	uint32_t done = 0;
	int rounds = 0;
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
	struct iso_metrics *m = iso_metrics_new(&full_opts);
	cr_assert_not_null(m);
	/* acquire: pairs with each writer's release at its end. */
	while (iso_load32_acquire(&done) < W || rounds < 3) {
		char *t;
		rounds++;
		size_t len;
		cr_assert_eq(iso_metrics_render(m, reg, NULL), 0);
		cr_assert_eq(iso_metrics_text(m, &t, &len), 0);
		for (int i = 0; i < W; i++) {
			snprintf(id, sizeof(id), "w%d", i);
			double ops = ex_sample(t, acct_series("isoreg_account_operations_total", id, NULL));
			double inf = ex_sample(t, acct_series("isoreg_account_operation_seconds_bucket", id, "le=\"+Inf\""));
			double cnt = ex_sample(t, acct_series("isoreg_account_operation_seconds_count", id, NULL));
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
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", id, NULL)), N);
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_failures_total", id, "type=\"api\"")), N / 10);
		cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operation_seconds_count", id, NULL)), N);
	}
	free(t);
	iso_metrics_free(m);
	iso_detach(reg);
}

/* ----------------------------------------------------------- over HTTP */

/* Inflate a gzip body; the text, NUL-terminated (the caller frees it). */
static char *gunzip(const char *z, size_t zlen)
{
	size_t cap = zlen * 40 + 4096;
	char *out = malloc(cap);
	z_stream zs = { 0 };

	cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (unsigned char *)z;
	zs.avail_in = (uInt)zlen;
	zs.next_out = (unsigned char *)out;
	zs.avail_out = (uInt)cap - 1;
	cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END, "not a whole gzip stream");
	out[zs.total_out] = 0;
	inflateEnd(&zs);
	return out;
}

/*
 * [T3] /metrics over HTTP: status, Content-Type, values; gzip when asked
 * (and not when refused); promtool accepts the default and the --full text.
 */
Test(exporter, serves_metrics_that_promtool_accepts)
{
	seg_name("http");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a;
	struct ex_child c, full;
	struct ex_reply r;

	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 5000), 0);
	quarantine(reg, "bob");
	int port = start_exporter(&c);

	cr_assert(ex_http_get(port, "/metrics", NULL, &r));
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.type, "text/plain; version=0.0.4; charset=utf-8");
	cr_expect_str_eq(r.encoding, "", "gzip without Accept-Encoding");
	cr_expect_eq(ex_sample(r.body, acct_series("isoreg_account_operations_total", "alice", NULL)), 1);
	cr_expect_eq(ex_sample(r.body, acct_series("isoreg_account_health", "bob", "state=\"quarantined\"")), 1);
	cr_expect_eq(ex_sample(r.body, "isoreg_exporter_scrapes_total"), 1);
	cr_expect_eq(ex_sample(r.body, "isoreg_up"), 1);
	cr_expect(ex_sample(r.body, "isoreg_exporter_scrape_duration_seconds") > 0);

	/* A writer keeps writing while we scrape: the next scrape sees it, gzipped. */
	cr_assert_eq(iso_record_success(&a, NULL, 5000), 0);
	struct ex_reply r2;
	cr_assert(ex_http_get(port, "/metrics", "Accept-Encoding: gzip\r\n", &r2));
	cr_expect_eq(r2.status, 200);
	cr_expect_str_eq(r2.encoding, "gzip");
	char *text = gunzip(r2.body, r2.len);
	cr_expect_lt(r2.len, strlen(text), "gzip is not smaller");
	cr_expect_eq(ex_sample(text, acct_series("isoreg_account_operations_total", "alice", NULL)), 2);
	cr_expect_eq(ex_sample(text, "isoreg_exporter_scrapes_total"), 2);
	free(text);
	free(r2.body);
	/* Refused with q=0, or offered among others the way Prometheus does. */
	cr_assert(ex_http_get(port, "/metrics", "Accept-Encoding: gzip;q=0, identity\r\n", &r2));
	cr_expect_str_eq(r2.encoding, "");
	cr_expect_eq(ex_sample(r2.body, "isoreg_up"), 1);
	free(r2.body);
	cr_assert(ex_http_get(port, "/metrics", "Accept-Encoding: identity;q=0.5, GZIP ; q=1\r\n", &r2));
	cr_expect_str_eq(r2.encoding, "gzip");
	free(r2.body);

	const char *extra[] = { "--full", NULL };
	int fport = ex_start_exporter(&full, seg, extra);
	cr_assert(ex_http_get(fport, "/metrics", NULL, &r2));
	cr_expect_eq(ex_sample(r2.body, acct_series("isoreg_account_successes_total", "alice", NULL)), 2);
	cr_expect_eq(ex_sample(r2.body, acct_series("isoreg_account_operation_seconds_count", "alice", NULL)), 2);

	if (!ex_have("/usr/bin/promtool")) {
		free(r.body);
		free(r2.body);
		ex_stop(&c, SIGTERM);
		ex_stop(&full, SIGTERM);
		cr_skip_test("promtool not installed (Debian package prometheus): text not linted");
	}
	promtool_check_metrics(r.body, "default");
	promtool_check_metrics(r2.body, "--full");
	free(r.body);
	free(r2.body);
	cr_expect_eq(WEXITSTATUS(ex_stop(&c, SIGTERM)), 0, "isoctl serve exits 0 on SIGTERM");
	cr_expect_eq(WEXITSTATUS(ex_stop(&full, SIGTERM)), 0);
	iso_detach(reg);
}

/* [T3] /healthz answers 200; / is a landing page; unknown paths 404. */
Test(exporter, answers_healthz_landing_page_and_refuses_other_paths)
{
	seg_name("paths");
	iso_reg_t *reg = create_segment(16);
	struct ex_child c;
	struct ex_reply r;
	int port = start_exporter(&c);

	cr_assert(ex_http_get(port, "/healthz", NULL, &r));
	cr_expect_eq(r.status, 200);
	free(r.body);
	cr_assert(ex_http_get(port, "/", NULL, &r));
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.type, "text/html; charset=utf-8");
	cr_expect_not_null(strstr(r.body, "<a href=\"/metrics\">"), "%s", r.body);
	cr_expect_not_null(strstr(r.body, seg), "the page does not name the segment: %s", r.body);
	cr_expect_not_null(strstr(r.body, ISO_METRICS_VERSION), "no version: %s", r.body);
	free(r.body);
	cr_assert(ex_http_get(port, "/metrics/x", NULL, &r));
	cr_expect_eq(r.status, 404);
	free(r.body);
	ex_stop(&c, SIGTERM);
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
	snprintf(bin, sizeof(bin), "%s/isoctl", ex_bin_dir());
	char *argv[] = { bin, "serve", "--listen", listen_at, "--segment", seg, NULL };

	int st = ex_run(argv, err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d: %s", st, err);
	cr_expect_not_null(strstr(err, listen_at), "message does not name %s: %s", listen_at, err);
	cr_expect_not_null(strstr(err, "in use"), "message does not say in use: %s", err);
	close(fd);
	iso_detach(reg);
}

/* GET /metrics: 200, and the text (the caller frees it). */
static char *scrape(int port)
{
	struct ex_reply r;

	cr_assert(ex_http_get(port, "/metrics", NULL, &r), "the exporter did not answer");
	cr_expect_eq(r.status, 200, "a scrape is never an HTTP error: %d %s", r.status, r.body);
	return r.body;
}

/*
 * [T3][R1] The exporter starts before the segment exists and answers 200
 * with isoreg_up 0 and no account series while it is missing, damaged or
 * unreadable, counting each reason; then serves it once it is created.
 */
Test(exporter, starts_without_a_segment_and_answers_up_0_until_it_is_valid)
{
	seg_name("missing");
	struct ex_child c;
	struct ex_reply r;
	char path[128];
	int port = start_exporter(&c);

	char *t = scrape(port);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 0);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_scrape_errors_total{reason=\"missing\"}"), 1);
	cr_expect_null(strstr(t, "isoreg_account_"), "%s", t);
	cr_expect_null(strstr(t, "isoreg_registry_"), "%s", t);
	free(t);
	cr_assert(ex_http_get(port, "/healthz", NULL, &r));
	cr_expect_eq(r.status, 503);
	cr_expect_not_null(strstr(r.body, seg), "503 body does not name the segment: %s", r.body);
	free(r.body);
	cr_assert(ex_http_get(port, "/", NULL, &r));
	cr_expect_not_null(strstr(r.body, "isoreg_up 0"), "%s", r.body);
	free(r.body);

	/* Not a segment at all: refused by the library's validation [R1]. */
	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	ex_write_file(path, "this is not an isoreg segment, just some text\n");
	t = scrape(port);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 0);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_scrape_errors_total{reason=\"damaged\"}"), 1);
	free(t);
	cr_assert(ex_http_get(port, "/healthz", NULL, &r));
	cr_expect_not_null(strstr(r.body, "cannot attach segment"), "%s", r.body);
	free(r.body);
	cr_assert_eq(unlink(path), 0);

	iso_reg_t *reg = create_segment(16);
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	t = scrape(port);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "alice", NULL)), 0);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_reattaches_total"), 0, "a first attach is no re-attach");
	free(t);
	cr_expect_eq(WEXITSTATUS(ex_stop(&c, SIGTERM)), 0);
	iso_detach(reg);
}

/* [T3] Bad arguments: exit 2, the message naming the value. */
Test(exporter, bad_arguments_are_clear_errors)
{
	char bin[512], err[2048];
	static const char *const cases[][3] = {
		{ "--listen", "localhost", "localhost" },
		{ "--accounts", "some", "--accounts 'some'" },
		{ "--web.timeout", "0", "--web.timeout '0'" },
		{ "--web.max-connections", "many", "'many'" },
		{ "--web.config.file", "/nonexistent/web.yml", "/nonexistent/web.yml" },
	};

	seg_name("badargs");
	snprintf(bin, sizeof(bin), "%s/isoctl", ex_bin_dir());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { bin, "serve", "--segment", seg, (char *)cases[i][0],
				 (char *)cases[i][1], NULL };
		int st = ex_run(argv, err, sizeof(err));
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s %s: status %d: %s",
			  cases[i][0], cases[i][1], st, err);
		cr_expect_not_null(strstr(err, cases[i][2]), "message does not name %s: %s",
				   cases[i][2], err);
	}
}

/*
 * [T3] The segment is unlinked and recreated under a running exporter:
 * 200 with isoreg_up 0 in the gap, then the new segment's accounts (and not
 * the old ones), and the exporter counts the re-attach.
 */
Test(exporter, reattaches_when_the_segment_is_recreated)
{
	seg_name("recreate");
	iso_reg_t *reg = create_segment(16);
	iso_account_t a;
	struct ex_child c;
	struct ex_reply r;

	cr_assert_eq(iso_register(reg, "user", "old", "KRAKEN", &a), 0);
	int port = start_exporter(&c);
	char *t = scrape(port);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "old", NULL)), 0);
	free(t);

	cr_assert_eq(iso_unlink(seg), 0);
	t = scrape(port);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 0);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_operations_total", "old", NULL))),
		  "the unlinked segment's account is still served");
	free(t);
	cr_assert(ex_http_get(port, "/healthz", NULL, &r));
	cr_expect_eq(r.status, 503);
	cr_expect_not_null(strstr(r.body, "gone (unlinked)"), "%s", r.body);
	free(r.body);
	iso_detach(reg);

	reg = create_segment(32);
	cr_assert_eq(iso_register(reg, "user", "new", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	t = scrape(port);
	cr_expect_eq(ex_sample(t, "isoreg_up"), 1);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "new", NULL)), 1);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_operations_total", "old", NULL))),
		  "the old segment's account is still served");
	cr_expect_eq(ex_sample(t, "isoreg_registry_capacity_slots"), 32);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_reattaches_total"), 1);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_scrape_errors_total{reason=\"missing\"}"), 1);
	free(t);

	/* Replaced between two scrapes, no gap seen: the inode tells. */
	iso_detach(reg);
	cr_assert_eq(iso_unlink(seg), 0);
	reg = create_segment(48);
	cr_assert_eq(iso_register(reg, "user", "newer", "KRAKEN", &a), 0);
	t = scrape(port);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_operations_total", "newer", NULL)), 0);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_operations_total", "new", NULL))),
		  "the replaced segment's account is still served");
	cr_expect_eq(ex_sample(t, "isoreg_registry_capacity_slots"), 48);
	cr_expect_eq(ex_sample(t, "isoreg_exporter_reattaches_total"), 2);
	free(t);
	cr_expect_eq(WEXITSTATUS(ex_stop(&c, SIGTERM)), 0);
	iso_detach(reg);
}

/* ------------------------------------------------------------ promtool */

/* The shipped rules load, and each alert's unit test passes. */
Test(exporter, alert_rules_pass_promtool_check_and_unit_tests)
{
	char err[8192];

	if (!ex_have("/usr/bin/promtool"))
		cr_skip_test("promtool not installed (Debian package prometheus)");
	char *check[] = { "/usr/bin/promtool", "check", "rules",
			  "tools/prometheus/alerts.yml", NULL };
	int st = ex_run(check, err, sizeof(err));
	cr_expect_eq(st, 0, "promtool check rules:\n%s", err);
	char *config[] = { "/usr/bin/promtool", "check", "config",
			   "tools/prometheus/prometheus.yml", NULL };
	st = ex_run(config, err, sizeof(err));
	cr_expect_eq(st, 0, "promtool check config:\n%s", err);
	char *test[] = { "/usr/bin/promtool", "test", "rules",
			 "tools/prometheus/alerts_test.yml", NULL };
	st = ex_run(test, err, sizeof(err));
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
		struct ex_reply r;
		if (ex_http_get(port, path, NULL, &r)) {
			bool all = r.status == 200;
			for (int k = 0; all && want[k]; k++)
				all = strstr(r.body, want[k]) != NULL;
			free(*last);
			*last = r.body;
			if (all)
				return true;
		}
		ex_sleep_ms(200);
	}
	return false;
}

/*
 * [T3] A real Prometheus scrapes the exporter over TLS with basic auth
 * (--web.config.file, a bcrypt hash), with gzip as it always asks, and
 * fires the quarantine alert. promtool checks the web config first.
 */
Test(exporter, prometheus_scrapes_over_tls_with_basic_auth_and_fires_the_quarantine_alert)
{
	if (!ex_have("/usr/bin/prometheus"))
		cr_skip_test("prometheus not installed (Debian package prometheus)");
	seg_name("prom");
	iso_reg_t *reg = create_segment(64);
	iso_account_t a;
	struct ex_child ex, prom;
	char path[256], conf[2048], rules[256], log[256], flag[3][300];
	char web[256], hash[128], out[4096];

	cr_assert_eq(iso_register(reg, "user", "calm", "KRAKEN", &a), 0);
	make_tmpdir();
	if (!ex_make_cert(tmpdir, "server", NULL))
		cr_skip_test("openssl not installed (Debian package openssl): no certificate");
	ex_bcrypt("scrape-secret", hash, sizeof(hash));
	snprintf(conf, sizeof(conf),
		 "# the exporter-toolkit format; paths are relative to this file\n"
		 "tls_server_config:\n"
		 "  cert_file: server.crt\n"
		 "  key_file: server.key\n"
		 "basic_auth_users:\n"
		 "  prometheus: %s\n",
		 hash);
	snprintf(web, sizeof(web), "%s/web.yml", tmpdir);
	ex_write_file(web, conf);
	char *check[] = { "/usr/bin/promtool", "check", "web-config", web, NULL };
	int st = ex_run(check, out, sizeof(out));
	cr_expect_eq(st, 0, "promtool check web-config %s:\n%s", web, out);

	const char *extra[] = { "--web.config.file", web, NULL };
	int eport = ex_start_exporter(&ex, seg, extra);
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
		 "    scheme: https\n"
		 "    tls_config:\n"
		 "      ca_file: %s/server.crt\n"
		 "    basic_auth:\n"
		 "      username: prometheus\n"
		 "      password: scrape-secret\n"
		 "    static_configs:\n"
		 "      - targets: ['127.0.0.1:%d']\n",
		 rules, tmpdir, eport);
	snprintf(path, sizeof(path), "%s/prometheus.yml", tmpdir);
	ex_write_file(path, conf);
	snprintf(log, sizeof(log), "%s/prometheus.log", tmpdir);

	int pport = ex_free_port();
	snprintf(flag[0], sizeof(flag[0]), "--config.file=%s", path);
	snprintf(flag[1], sizeof(flag[1]), "--storage.tsdb.path=%s/data", tmpdir);
	snprintf(flag[2], sizeof(flag[2]), "--web.listen-address=127.0.0.1:%d", pport);
	char *argv[] = { "/usr/bin/prometheus", flag[0], flag[1], flag[2],
			 "--log.level=warn", NULL };
	prom = ex_spawn(argv, log);

	char *last = NULL;
	const char *up[] = { "\"job\":\"isoreg\"", "\"value\":[", "\"1\"]", NULL };
	bool ok = await_body(pport, "/api/v1/query?query=up%7Bjob%3D%22isoreg%22%7D", up, &last);
	cr_assert(ok, "Prometheus never scraped the exporter; last answer: %s (log in %s)",
		  last ? last : "none", log);
	/* Over TLS with the password: the exporter says so itself. */
	const char *upx[] = { "\"isoreg_up\"", "\"1\"]", NULL };
	ok = await_body(pport, "/api/v1/query?query=isoreg_up", upx, &last);
	cr_expect(ok, "isoreg_up is not 1 in Prometheus; last answer: %s", last ? last : "none");

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

	ex_stop(&prom, SIGKILL);
	ex_stop(&ex, SIGTERM);
	iso_detach(reg);
}

/* [B9] budget series: only for accounts with a budget (or past refusals),
 * so a fleet without budgets scrapes exactly as before. */
Test(exporter, budget_series_only_where_a_budget_is)
{
	seg_name("budget");
	iso_reg_t *reg = create_segment(16);
	iso_account_t a, b;
	iso_permit_t p;
	struct iso_config c;
	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(reg, "user", "bob", "KRAKEN", &b), 0);
	iso_config_default(&c);
	c.rate_per_s = 0.5;
	c.burst = 1;
	cr_assert_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
	cr_assert_eq(iso_acquire(&a, &p), 0);
	cr_assert_eq(iso_acquire(&a, &p), ISO_ELIMIT);
	cr_assert_eq(iso_acquire(&a, &p), ISO_ELIMIT);
	char *t = render(reg);
	cr_expect_eq(ex_sample(t, acct_series("isoreg_account_budget_refusals_total", "alice", NULL)), 2);
	double av = ex_sample(t, acct_series("isoreg_account_budget_available", "alice", NULL));
	cr_expect(av >= 0 && av < 1, "available %f", av);
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_budget_refusals_total", "bob", NULL))));
	cr_expect(isnan(ex_sample(t, acct_series("isoreg_account_budget_available", "bob", NULL))));
	promtool_check_metrics(t, "budget series");
	free(t);
	iso_detach(reg);
}
