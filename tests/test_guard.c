/*
 * test_guard.c - guarded calls: iso_call, iso_guard_begin/end and
 * ISO_GUARDED on every path (success, each failure type, each raw code,
 * refusal without running the operation, retry-after honoured, early
 * returns), and the trader example's supervisor restarting a SIGKILLed
 * broker worker while the other brokers keep trading.
 *
 * Time is moved with iso_clock_set, never slept through (except in the
 * supervisor test, which drives real processes and only waits, bounded,
 * for things to happen).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"
#include "../tools/common/clock.h"

/* ------------------------------------------------------------- fixture */

static char seg[64];
static iso_reg_t *reg;
static uint64_t fake_ns = 1000000000000ull; /* an arbitrary start */

static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_ns;
}

static void advance_ms(uint64_t ms)
{
	fake_ns += ms * 1000000ull;
}

static void setup(void)
{
	static int n;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE |
					      ISO_ATTACH_EXCL,
				     .capacity = 64 };
	snprintf(seg, sizeof(seg), "/isoreg-test-guard-%d-%d", (int)getpid(),
		 n++);
	iso_clock_set(fake_clock, NULL);
	int rc = iso_attach(seg, &o, &reg);
	cr_assert_eq(rc, 0, "attach %s: %s (%s)", seg, iso_strerror(rc),
		     iso_last_error());
}

static void teardown(void)
{
	if (reg)
		iso_detach(reg);
	reg = NULL;
	iso_unlink(seg);
	iso_clock_set(NULL, NULL);
}

TestSuite(guard, .init = setup, .fini = teardown);

static iso_account_t account(const char *id)
{
	iso_account_t a;
	int rc = iso_register(reg, "user", id, "KRAKEN", &a);
	cr_assert_eq(rc, 0, "register %s: %s", id, iso_last_error());
	return a;
}

static struct iso_status status(const iso_account_t *a)
{
	struct iso_status st;
	cr_assert_eq(iso_status(a, &st), 0, "%s", iso_last_error());
	return st;
}

static void configure(const iso_account_t *a, uint32_t fail_thr,
		      uint32_t succ_thr, uint32_t open_ms)
{
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = fail_thr;
	c.success_threshold = succ_thr;
	c.degrade_after = 1;
	c.open_timeout_ms = open_ms;
	cr_assert_eq(iso_configure(a, &c), 0, "%s", iso_last_error());
}

/* ---------------------------------------------------- operations for iso_call */

/* What the fake operation does, and how often it ran. */
struct op {
	int calls;
	uint64_t takes_ms;   /* advances the fake clock by this much */
	enum { OP_OK, OP_FAIL, OP_ERRNO, OP_HTTP, OP_CURL, OP_MSG,
	       OP_SILENT } what;
	int code;
	enum iso_failure_type type;
	uint64_t retry_ms;
	const char *text;
	int ret;
};

static int run_op(void *ctx, struct iso_outcome *out)
{
	struct op *op = ctx;
	op->calls++;
	advance_ms(op->takes_ms);
	switch (op->what) {
	case OP_OK: iso_outcome_success(out); break;
	case OP_FAIL: iso_outcome_failure(out, op->type, op->retry_ms); break;
	case OP_ERRNO: iso_outcome_errno(out, op->code); break;
	case OP_HTTP: iso_outcome_http(out, op->code, op->text); break;
	case OP_CURL: iso_outcome_curl(out, op->code); break;
	case OP_MSG: iso_outcome_message(out, op->text); break;
	case OP_SILENT: return op->ret; /* an early return: no outcome */
	}
	return op->ret;
}

/* -------------------------------------------------------------- iso_call */

Test(guard, call_success_runs_once_times_and_records)
{
	iso_account_t a = account("ok");
	struct op op = { .what = OP_OK, .takes_ms = 3, .ret = 7 };
	struct iso_call_result r;

	cr_assert_eq(iso_call(&a, run_op, &op, &r), 0, "%s",
		     iso_last_error());
	cr_expect_eq(op.calls, 1);
	cr_expect(r.called);
	cr_expect(!r.unreported);
	cr_expect_eq(r.fn_rc, 7, "fn's own value comes back");
	cr_expect_eq(r.op_ns, 3000000, "timed with iso_now_ns: %llu",
		     (unsigned long long)r.op_ns);
	cr_expect_eq(r.outcome.kind, ISO_OUTCOME_SUCCESS);
	cr_expect_eq(r.record_rc, 0);
	cr_expect_eq(r.permit.reason, ISO_REASON_HEALTHY);

	struct iso_status st = status(&a);
	cr_expect_eq(st.successes, 1);
	cr_expect_eq(st.failures, 0);
	cr_expect_eq(st.timed_operations, 1);
	cr_expect(st.avg_op_ms > 2.99 && st.avg_op_ms < 3.01, "avg %f",
		  st.avg_op_ms);
}

Test(guard, call_records_each_failure_type_as_reported)
{
	for (int t = 0; t < ISO_FAIL__COUNT; t++) {
		char id[16];
		snprintf(id, sizeof(id), "type%d", t);
		iso_account_t a = account(id);
		struct op op = { .what = OP_FAIL, .type = t, .takes_ms = 1 };
		struct iso_call_result r;

		cr_expect_eq(iso_call(&a, run_op, &op, &r), ISO_CALL_FAILED,
			     "type %s", iso_failure_type_name(t));
		cr_expect_eq(r.outcome.kind, ISO_OUTCOME_FAILURE);
		cr_expect_eq(r.outcome.type, (enum iso_failure_type)t);
		struct iso_status st = status(&a);
		for (int u = 0; u < ISO_FAIL__COUNT; u++)
			cr_expect_eq(st.failures_by_type[u], u == t,
				     "reported %s, counted %llu %s",
				     iso_failure_type_name(t),
				     (unsigned long long)st.failures_by_type[u],
				     iso_failure_type_name(u));
		cr_expect_eq(st.successes, 0);
		cr_expect_eq(st.health, ISO_DEGRADED);
	}
}

Test(guard, call_classifies_raw_codes_through_the_outcome_setters)
{
	static const struct {
		int what, code;
		const char *text;
		int want; /* failure type, or -1 for success */
	} cases[] = {
		{ OP_ERRNO, ECONNRESET, NULL, ISO_FAIL_NETWORK },
		{ OP_ERRNO, EACCES, NULL, ISO_FAIL_AUTHENTICATION },
		{ OP_ERRNO, 0, NULL, -1 },
		{ OP_HTTP, 401, NULL, ISO_FAIL_AUTHENTICATION },
		{ OP_HTTP, 429, "30", ISO_FAIL_RATE_LIMIT },
		{ OP_HTTP, 502, NULL, ISO_FAIL_API },
		{ OP_HTTP, 404, NULL, ISO_FAIL_EXECUTION },
		{ OP_HTTP, 200, NULL, -1 },
		{ OP_CURL, 28, NULL, ISO_FAIL_NETWORK },
		{ OP_CURL, 60, NULL, ISO_FAIL_AUTHENTICATION },
		{ OP_CURL, 0, NULL, -1 },
		{ OP_MSG, 0, "EOrder:Insufficient funds", ISO_FAIL_BALANCE },
		{ OP_MSG, 0, "EOrder:Positions limit exceeded",
		  ISO_FAIL_POSITION },
		{ OP_MSG, 0, "EOrder:Unknown order", ISO_FAIL_EXECUTION },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[16];
		snprintf(id, sizeof(id), "raw%zu", i);
		iso_account_t a = account(id);
		struct op op = { .what = cases[i].what, .code = cases[i].code,
				 .text = cases[i].text };
		int rc = iso_call(&a, run_op, &op, NULL);
		struct iso_status st = status(&a);
		if (cases[i].want < 0) {
			cr_expect_eq(rc, 0, "case %zu", i);
			cr_expect_eq(st.successes, 1, "case %zu", i);
		} else {
			cr_expect_eq(rc, ISO_CALL_FAILED, "case %zu", i);
			cr_expect_eq(st.failures_by_type[cases[i].want], 1,
				     "case %zu: want one %s", i,
				     iso_failure_type_name(cases[i].want));
			cr_expect_eq(st.failures, 1, "case %zu", i);
		}
	}
}

Test(guard, call_refused_never_runs_the_operation)
{
	iso_account_t a = account("halted");
	struct op op = { .what = OP_OK };
	struct iso_call_result r;

	cr_assert_eq(iso_force_open(&a), 0);
	cr_expect_eq(iso_call(&a, run_op, &op, &r), ISO_EOPEN);
	cr_expect_eq(op.calls, 0, "operation ran although refused");
	cr_expect(!r.called);
	cr_expect_eq(r.permit.reason, ISO_REASON_FORCED_OPEN);
	cr_expect_eq(r.outcome.kind, ISO_OUTCOME_NONE);
	cr_expect_eq(status(&a).operations, 0, "a refusal is not an operation");

	/* Tripped by failures: refused with the time left until probes. */
	iso_account_t b = account("tripped");
	configure(&b, 3, 1, 10000);
	struct op bad = { .what = OP_ERRNO, .code = ETIMEDOUT };
	for (int i = 0; i < 3; i++)
		cr_expect_eq(iso_call(&b, run_op, &bad, NULL), ISO_CALL_FAILED);
	advance_ms(4000);
	cr_expect_eq(iso_call(&b, run_op, &op, &r), ISO_EOPEN);
	cr_expect_eq(op.calls, 0);
	cr_expect_eq(r.permit.reason, ISO_REASON_OPEN);
	cr_expect_eq(r.permit.retry_in_ms, 6000, "retry in %llu ms",
		     (unsigned long long)r.permit.retry_in_ms);
	cr_expect_eq(status(&b).failures_by_type[ISO_FAIL_NETWORK], 3);
}

Test(guard, call_honours_retry_after_beyond_the_open_timeout)
{
	/* [M2]: the breaker stays open at least as long as the exchange
	 * asked, even though its own open timeout is much shorter. */
	iso_account_t a = account("ratelimited");
	configure(&a, 1, 1, 1000);
	struct op limited = { .what = OP_HTTP, .code = 429, .text = "60" };
	struct op ok = { .what = OP_OK };
	struct iso_call_result r;

	cr_expect_eq(iso_call(&a, run_op, &limited, &r), ISO_CALL_FAILED);
	cr_expect_eq(r.outcome.type, ISO_FAIL_RATE_LIMIT);
	cr_expect_eq(r.outcome.retry_after_ms, 60000);

	cr_expect_eq(iso_call(&a, run_op, &ok, &r), ISO_EOPEN);
	cr_expect(r.permit.retry_in_ms > 1000 &&
		  r.permit.retry_in_ms <= 60000,
		  "retry in %llu ms", (unsigned long long)r.permit.retry_in_ms);
	/* Well past the 1 s open timeout, up to the last ms of 60 s: refused. */
	for (int k = 1; k <= 60; k++) {
		advance_ms(k < 60 ? 1000 : 999);
		cr_expect_eq(iso_call(&a, run_op, &ok, &r), ISO_EOPEN,
			     "allowed %d ms after a 60 s Retry-After",
			     k < 60 ? k * 1000 : 59999);
	}
	cr_expect_eq(ok.calls, 0);
	advance_ms(2);
	cr_expect_eq(iso_call(&a, run_op, &ok, &r), 0, "still refused: %s",
		     iso_reason_name(r.permit.reason));
	cr_expect_eq(ok.calls, 1);
	cr_expect(r.permit.flags & ISO_PERMIT_PROBE, "not a probe: %s",
		  iso_reason_name(r.permit.reason));
	cr_expect_eq(status(&a).breaker, ISO_BREAKER_CLOSED);
}

Test(guard, call_without_outcome_records_unknown_failure)
{
	iso_account_t a = account("silent");
	struct op op = { .what = OP_SILENT, .ret = -42, .takes_ms = 2 };
	struct iso_call_result r;

	cr_expect_eq(iso_call(&a, run_op, &op, &r), ISO_CALL_FAILED);
	cr_expect_eq(op.calls, 1);
	cr_expect(r.unreported);
	cr_expect_eq(r.fn_rc, -42);
	cr_expect_eq(r.outcome.kind, ISO_OUTCOME_FAILURE);
	cr_expect_eq(r.outcome.type, ISO_FAIL_UNKNOWN);
	struct iso_status st = status(&a);
	cr_expect_eq(st.failures_by_type[ISO_FAIL_UNKNOWN], 1);
	cr_expect_eq(st.successes, 0, "never a success nobody claimed");
}

Test(guard, call_releases_the_probe_permit_on_every_path)
{
	/* half_open_max_calls = 1 and success_threshold = 2: the breaker can
	 * only close if each recorded probe gives its permit back [B6]. */
	iso_account_t a = account("prober");
	configure(&a, 1, 2, 1000);
	struct op bad = { .what = OP_FAIL, .type = ISO_FAIL_API };
	struct op silent = { .what = OP_SILENT };
	struct op ok = { .what = OP_OK };
	struct iso_call_result r;

	cr_assert_eq(iso_call(&a, run_op, &bad, NULL), ISO_CALL_FAILED);
	advance_ms(1001);
	/* A probe that returns early: recorded (failure), so it reopens. */
	cr_expect_eq(iso_call(&a, run_op, &silent, &r), ISO_CALL_FAILED);
	cr_expect(r.permit.flags & ISO_PERMIT_PROBE, "not a probe: %s",
		  iso_reason_name(r.permit.reason));
	cr_expect_eq(status(&a).breaker, ISO_BREAKER_OPEN);
	cr_expect_eq(status(&a).probes_in_flight, 0);

	advance_ms(60 * 60 * 1000); /* past any back-off */
	cr_expect_eq(iso_call(&a, run_op, &ok, &r), 0);
	cr_expect(r.permit.flags & ISO_PERMIT_PROBE, "not a probe: %s",
		  iso_reason_name(r.permit.reason));
	cr_expect_eq(status(&a).probes_in_flight, 0, "permit not released");
	cr_expect_eq(iso_call(&a, run_op, &ok, &r), 0,
		     "second probe refused: %d", r.permit.reason);
	cr_expect_eq(status(&a).breaker, ISO_BREAKER_CLOSED);
}

Test(guard, call_refuses_bad_arguments_and_stale_handles)
{
	iso_account_t a = account("args");
	struct op op = { .what = OP_OK };
	struct iso_call_result r;

	cr_expect_eq(iso_call(&a, NULL, &op, &r), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "fn") != NULL, "%s",
		  iso_last_error());
	cr_expect_eq(iso_call(NULL, run_op, &op, &r), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "acct") != NULL, "%s",
		  iso_last_error());
	cr_expect(!r.called);

	cr_assert_eq(iso_retire(&a), 0, "%s", iso_last_error());
	cr_expect_eq(iso_call(&a, run_op, &op, &r), ISO_ESTALE);
	cr_expect_eq(op.calls, 0, "operation ran on a retired account");
}

/* ---------------------------------------------------------------- guards */

Test(guard, begin_end_records_once)
{
	iso_account_t a = account("pair");
	struct iso_guard g;
	struct iso_outcome out = { 0 };

	cr_assert_eq(iso_guard_begin(&a, &g), 0);
	advance_ms(5);
	iso_outcome_curl(&out, 7); /* COULDNT_CONNECT */
	cr_expect_eq(iso_guard_end(&g, &out), ISO_CALL_FAILED);
	cr_expect_eq(g.op_ns, 5000000);
	cr_expect_eq(iso_guard_end(&g, &out), ISO_EINVAL, "ended twice");
	cr_expect(strstr(iso_last_error(), "already ended") != NULL, "%s",
		  iso_last_error());
	struct iso_status st = status(&a);
	cr_expect_eq(st.failures_by_type[ISO_FAIL_NETWORK], 1);
	cr_expect_eq(st.operations, 1, "the second end counted");

	/* NULL outcome: an UNKNOWN failure, not a success. */
	cr_assert_eq(iso_guard_begin(&a, &g), 0);
	cr_expect_eq(iso_guard_end(&g, NULL), ISO_CALL_FAILED);
	cr_expect_eq(status(&a).failures_by_type[ISO_FAIL_UNKNOWN], 1);

	iso_outcome_success(&out);
	cr_assert_eq(iso_guard_begin(&a, &g), 0);
	cr_expect_eq(iso_guard_end(&g, &out), 0);
	cr_expect_eq(status(&a).successes, 1);
}

Test(guard, begin_refused_leaves_nothing_to_end)
{
	iso_account_t a = account("pairhalt");
	struct iso_guard g;
	struct iso_outcome out = { 0 };

	cr_assert_eq(iso_force_open(&a), 0);
	cr_expect_eq(iso_guard_begin(&a, &g), ISO_EOPEN);
	cr_expect_eq(g.rc, ISO_EOPEN);
	cr_expect_eq(g.permit.reason, ISO_REASON_FORCED_OPEN);
	iso_outcome_success(&out);
	cr_expect_eq(iso_guard_end(&g, &out), ISO_EINVAL);
	cr_expect_eq(status(&a).operations, 0);
	cr_expect_eq(iso_guard_begin(NULL, &g), ISO_EINVAL);
	cr_expect_eq(iso_guard_begin(&a, NULL), ISO_EINVAL);
	cr_expect_eq(iso_guard_end(NULL, &out), ISO_EINVAL);
}

/* ---------------------------------------------------------- ISO_GUARDED */

static int ran;

/* Leaves the guarded block by return, with an outcome or without. */
static int leave_by_return(const iso_account_t *a, bool report)
{
	struct iso_guard g;
	ISO_GUARDED(a, &g) {
		ran++;
		advance_ms(1);
		if (report)
			iso_outcome_errno(&g.outcome, EPIPE);
		return 1;
	}
	return g.rc == 0 ? 2 : 3;
}

Test(guard, guarded_block_records_at_normal_end)
{
	iso_account_t a = account("block");
	struct iso_guard g;
	int body = 0;

	ISO_GUARDED(&a, &g) {
		body++;
		advance_ms(2);
		iso_outcome_success(&g.outcome);
	}
	cr_expect_eq(body, 1, "body ran %d times", body);
	cr_expect_eq(g.rc, 0);
	cr_expect_eq(g.op_ns, 2000000);
	cr_expect_eq(g.record_rc, 0);
	cr_expect_eq(status(&a).successes, 1);
	cr_expect_eq(status(&a).operations, 1);
}

Test(guard, guarded_block_records_on_break_and_continue)
{
	iso_account_t a = account("breaker");
	struct iso_guard g;
	int after = 0, loops = 0;

	ISO_GUARDED(&a, &g) {
		iso_outcome_http(&g.outcome, 403, NULL);
		break;
		after++;
	}
	cr_expect_eq(after, 0);
	cr_expect_eq(status(&a).failures_by_type[ISO_FAIL_AUTHENTICATION], 1);

	/* continue leaves the block too; it does not reach the outer loop's
	 * next turn from inside (the outer loop still runs its 3 turns). */
	for (int i = 0; i < 3; i++) {
		loops++;
		ISO_GUARDED(&a, &g) {
			iso_outcome_success(&g.outcome);
			continue;
			after++;
		}
	}
	cr_expect_eq(after, 0);
	cr_expect_eq(loops, 3);
	cr_expect_eq(status(&a).successes, 3);
	cr_expect_eq(status(&a).operations, 4, "each exit recorded once");
}

Test(guard, guarded_block_records_on_goto_out_of_it)
{
	iso_account_t a = account("goto");
	struct iso_guard g;
	int body = 0;

	ISO_GUARDED(&a, &g) {
		body++;
		iso_outcome_message(&g.outcome, "EAPI:Rate limit exceeded");
		goto out;
	}
	cr_expect_fail("the goto did not leave the block");
out:
	cr_expect_eq(body, 1);
	cr_expect_eq(status(&a).failures_by_type[ISO_FAIL_RATE_LIMIT], 1);
	cr_expect_eq(status(&a).operations, 1);
}

Test(guard, guarded_block_records_on_return_even_without_outcome)
{
	iso_account_t a = account("returner");
	ran = 0;

	cr_expect_eq(leave_by_return(&a, true), 1);
	cr_expect_eq(status(&a).failures_by_type[ISO_FAIL_NETWORK], 1);
	/* The early return the brief warns of: no outcome, no end call. It
	 * cannot vanish: it is an UNKNOWN failure in the counters. */
	cr_expect_eq(leave_by_return(&a, false), 1);
	cr_expect_eq(status(&a).failures_by_type[ISO_FAIL_UNKNOWN], 1);
	cr_expect_eq(status(&a).operations, 2);
	cr_expect_eq(status(&a).timed_operations, 2);
	cr_expect_eq(ran, 2);
}

Test(guard, guarded_block_is_skipped_when_refused)
{
	iso_account_t a = account("skipped");
	struct iso_guard g;
	int body = 0;

	cr_assert_eq(iso_force_open(&a), 0);
	ISO_GUARDED(&a, &g) {
		body++;
		iso_outcome_success(&g.outcome);
	}
	cr_expect_eq(body, 0);
	cr_expect_eq(g.rc, ISO_EOPEN);
	cr_expect_eq(g.permit.reason, ISO_REASON_FORCED_OPEN);
	ran = 0;
	cr_expect_eq(leave_by_return(&a, true), 3);
	cr_expect_eq(ran, 0);
	cr_expect_eq(status(&a).operations, 0);
}

Test(guard, guarded_blocks_nest_on_two_accounts)
{
	iso_account_t a = account("outer"), b = account("inner");
	struct iso_guard ga, gb;

	ISO_GUARDED(&a, &ga) {
		ISO_GUARDED(&b, &gb) {
			iso_outcome_message(&gb.outcome,
					    "EOrder:Insufficient funds");
		}
		iso_outcome_success(&ga.outcome);
	}
	cr_expect_eq(status(&a).successes, 1);
	cr_expect_eq(status(&a).failures, 0);
	cr_expect_eq(status(&b).failures_by_type[ISO_FAIL_BALANCE], 1);
	cr_expect_eq(status(&b).successes, 0);
}

Test(guard, outcome_setters_keep_outcomes_recordable)
{
	struct iso_outcome o = { 0 };
	iso_outcome_failure(&o, (enum iso_failure_type)99, 5);
	cr_expect_eq(o.kind, ISO_OUTCOME_FAILURE);
	cr_expect_eq(o.type, ISO_FAIL_UNKNOWN, "out-of-range type kept");
	iso_outcome_http(&o, 204, "10");
	cr_expect_eq(o.kind, ISO_OUTCOME_SUCCESS);
	cr_expect_eq(o.retry_after_ms, 0);
	iso_outcome_http(&o, 503, "10");
	cr_expect_eq(o.kind, ISO_OUTCOME_FAILURE);
	cr_expect_eq(o.type, ISO_FAIL_API);
	cr_expect_eq(o.retry_after_ms, 10000);
	iso_outcome_curl(&o, 0);
	cr_expect_eq(o.kind, ISO_OUTCOME_SUCCESS);
	iso_outcome_errno(&o, ENETUNREACH);
	cr_expect_eq(o.type, ISO_FAIL_NETWORK);
}

/* ------------------------------------------- the trader's supervisor */

/* A line reader over a pipe with a deadline; no stdio on the fd. */
struct lines {
	int fd;
	char buf[8192];
	size_t len;
	char all[65536]; /* everything read, for failure messages */
	size_t all_len;
};

/* Next line into @out (without '\n'); false at EOF or after @timeout_ms. */
static bool next_line(struct lines *l, char *out, size_t outlen,
		      unsigned timeout_ms)
{
	uint64_t end = tc_mono_ms() + timeout_ms;
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->len);
		if (nl) {
			size_t n = (size_t)(nl - l->buf);
			size_t c = n < outlen - 1 ? n : outlen - 1;
			memcpy(out, l->buf, c);
			out[c] = '\0';
			memmove(l->buf, nl + 1, l->len - n - 1);
			l->len -= n + 1;
			return true;
		}
		uint64_t now = tc_mono_ms();
		if (now >= end || l->len == sizeof(l->buf))
			return false;
		struct pollfd p = { .fd = l->fd, .events = POLLIN };
		if (poll(&p, 1, (int)(end - now)) <= 0)
			continue;
		ssize_t r = read(l->fd, l->buf + l->len,
				 sizeof(l->buf) - l->len);
		if (r <= 0)
			return false;
		if (l->all_len + (size_t)r < sizeof(l->all)) {
			memcpy(l->all + l->all_len, l->buf + l->len, (size_t)r);
			l->all_len += (size_t)r;
			l->all[l->all_len] = '\0';
		}
		l->len += (size_t)r;
	}
}

/* Wait for "trader: worker <broker> pid <n> started"; returns the pid. */
static pid_t wait_started(struct lines *l, const char *want_broker,
			  pid_t not_pid, char *broker_out)
{
	char line[512], b[32];
	int pid;
	uint64_t end = tc_mono_ms() + 15000;
	while (tc_mono_ms() < end) {
		if (!next_line(l, line, sizeof(line),
			       (unsigned)(end - tc_mono_ms())))
			return -1;
		if (sscanf(line, "trader: worker %31s pid %d started", b,
			   &pid) != 2)
			continue;
		if (want_broker && strcmp(b, want_broker))
			continue;
		if (pid == not_pid)
			continue;
		if (broker_out)
			strcpy(broker_out, b);
		return pid;
	}
	return -1;
}

struct broker_sum {
	const char *broker;
	uint64_t ops;
};

static int sum_broker(const struct iso_status *st, void *p)
{
	struct broker_sum *c = p;
	if (!strcmp(st->key.broker, c->broker))
		c->ops += st->operations;
	return 0;
}

/* Operations of every account of @broker, read from the segment. */
static uint64_t broker_ops(iso_reg_t *r, const char *broker)
{
	struct broker_sum c = { broker, 0 };
	iso_foreach(r, sum_broker, &c);
	return c.ops;
}

/* Polls until @broker's accounts did more than @above operations. */
static bool broker_grows(iso_reg_t *r, const char *broker, uint64_t above,
			 unsigned timeout_ms)
{
	uint64_t end = tc_mono_ms() + timeout_ms;
	while (tc_mono_ms() < end) {
		if (broker_ops(r, broker) > above)
			return true;
		usleep(20000);
	}
	return false;
}

static const char *bin_dir(void)
{
	const char *b = getenv("ISOREG_BIN");
	return b && *b ? b : "build/bin";
}

Test(guard, trader_supervisor_restarts_a_killed_broker_while_others_trade,
     .timeout = 60)
{
	/* The independent-trader pattern: one process per broker, so a
	 * SIGKILLed KRAKEN worker costs KRAKEN a restart and nothing else. */
	char path[512], line[512];
	int pfd[2];
	pid_t sup, pids[3];
	const char *brokers[3] = { "KRAKEN", "COINBASE", "BINANCE" };
	struct lines *l = calloc(1, sizeof(*l));
	iso_reg_t *r = reg; /* the fixture's segment: its fini unlinks it */

	iso_clock_set(NULL, NULL);
	snprintf(path, sizeof(path), "%s/trader", bin_dir());
	cr_assert_eq(access(path, X_OK), 0, "%s not built (ISOREG_BIN)", path);
	cr_assert_eq(pipe(pfd), 0);

	char *argv[] = { path, "--segment", seg, "--brokers",
			 "KRAKEN,COINBASE,BINANCE", "--duration", "0",
			 "--fail-rate", "0.01", NULL };
	pid_t me = getpid();
	sup = fork();
	cr_assert(sup >= 0, "fork: %s", strerror(errno));
	if (sup == 0) {
		/* If this test dies on a failed assert, the supervisor goes
		 * too (and takes its workers), and it holds none of the
		 * runner's descriptors open. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != me)
			_exit(127);
		dup2(pfd[1], STDOUT_FILENO);
		close_range(3, ~0u, 0);
		execv(path, argv);
		_exit(127);
	}
	close(pfd[1]);
	l->fd = pfd[0];

	for (int i = 0; i < 3; i++) {
		char b[32];
		pid_t p = wait_started(l, NULL, -1, b);
		cr_assert(p > 0, "only %d workers started; output:\n%s", i,
			  l->all);
		for (int k = 0; k < 3; k++)
			if (!strcmp(b, brokers[k]))
				pids[k] = p;
	}

	uint64_t end;
	for (int k = 0; k < 3; k++)
		cr_assert(broker_grows(r, brokers[k], 0, 10000),
			  "%s never traded; output:\n%s", brokers[k], l->all);

	uint64_t before_cb = broker_ops(r, "COINBASE");
	uint64_t before_bn = broker_ops(r, "BINANCE");
	cr_assert_eq(kill(pids[0], SIGKILL), 0);

	/* The supervisor notices, says so, and starts a new KRAKEN worker. */
	pid_t again = wait_started(l, "KRAKEN", pids[0], NULL);
	cr_assert(again > 0 && again != pids[0],
		  "KRAKEN not restarted; output:\n%s", l->all);
	cr_expect(strstr(l->all, "killed by signal 9") != NULL,
		  "the death was not logged; output:\n%s", l->all);
	uint64_t kraken_at_restart = broker_ops(r, "KRAKEN");

	/* The other brokers kept trading, and KRAKEN trades again. */
	cr_expect(broker_grows(r, "COINBASE", before_cb, 10000),
		  "COINBASE stalled after KRAKEN's death");
	cr_expect(broker_grows(r, "BINANCE", before_bn, 10000),
		  "BINANCE stalled after KRAKEN's death");
	cr_expect(broker_grows(r, "KRAKEN", kraken_at_restart, 10000),
		  "the new KRAKEN worker does not trade");
	cr_expect_eq(kill(pids[1], 0), 0, "COINBASE worker died");
	cr_expect_eq(kill(pids[2], 0), 0, "BINANCE worker died");

	struct iso_report rep;
	cr_expect_eq(iso_report(r, &rep), 0);
	cr_expect_eq(rep.cross_account_errors, 0);

	/* An operator replaces the segment (SPEC §6, issue 13 item 4): every
	 * worker notices its name points elsewhere and attaches again, so no
	 * one keeps trading on the orphan, out of every tool's sight. */
	iso_reg_t *fresh = NULL;
	struct iso_attach_opts co = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				      .capacity = 64 };
	cr_assert_eq(iso_unlink(seg), 0);
	cr_assert_eq(iso_attach(seg, &co, &fresh), 0, "%s", iso_last_error());
	for (int k = 0; k < 3; k++)
		cr_expect(broker_grows(fresh, brokers[k], 0, 15000),
			  "%s kept trading on the orphan; output:\n%s", brokers[k],
			  l->all);
	while (next_line(l, line, sizeof(line), 200))
		;
	cr_expect(strstr(l->all, "attaching again") != NULL,
		  "the re-attach was not logged; output:\n%s", l->all);
	iso_detach(fresh);

	/* A clean stop: SIGTERM ends the workers and the supervisor, 0. */
	int st = 0;
	kill(sup, SIGTERM);
	end = tc_mono_ms() + 10000;
	while (waitpid(sup, &st, WNOHANG) == 0 && tc_mono_ms() < end)
		usleep(20000);
	if (tc_mono_ms() >= end) {
		kill(sup, SIGKILL);
		waitpid(sup, &st, 0);
		cr_expect_fail("supervisor did not stop on SIGTERM");
	}
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "supervisor status %#x", st);
	while (next_line(l, line, sizeof(line), 2000))
		;
	cr_expect_neq(kill(again, 0), 0, "KRAKEN worker outlived the stop");
	close(l->fd);
	free(l);
}
