/*
 * test_window.c - rolling windows [B7]: the pure parts as tables (a
 * word's next value across rotation, laps and clock jumps; the judgement
 * at its edges), then the account: an alternating account trips at 50 %,
 * slow calls trip, ignored types stay out, min_calls gates, a closing
 * breaker starts its window again, and N processes count exactly while
 * they race each other through rotations.
 *
 * Invariants (written before the tests):
 *   W1 a counted outcome is in the window until its bucket is
 *      ISO_WIN_BUCKETS epochs old, and never after;
 *   W2 every word is whole: epoch | count, each judged by its own epoch;
 *   W3 a CLOSED breaker trips when, with at least min_calls calls in the
 *      window, failures (or slow calls) * 100 >= threshold * calls; and
 *      only then, and the event names the rate;
 *   W4 N processes' counts within one window sum exactly.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "window.h"
#include "support/util.h"

/* ------------------------------------------------------- pure: words */

Test(window, a_word_adds_in_its_bucket_and_rotates_out_of_it)
{
	const uint32_t NB = ISO_WIN_BUCKETS;
	struct {
		uint64_t w;
		uint32_t epoch;
		bool add;
		uint64_t next;
		const char *why;
	} rows[] = {
		{ 0, 50, false, ISO_WW_MAKE(50, 1), "never used (epoch 0)" },
		{ ISO_WW_MAKE(50, 7), 50, true, ISO_WW_MAKE(50, 8), "this bucket" },
		{ ISO_WW_MAKE(40, 7), 50, false, ISO_WW_MAKE(50, 1),
		  "one lap old: rotated, the old count dropped" },
		{ ISO_WW_MAKE(50 - 3 * NB, 9), 50, false, ISO_WW_MAKE(50, 1),
		  "three laps old" },
		{ ISO_WW_MAKE(60, 4), 50, true, ISO_WW_MAKE(60, 5),
		  "a lap ahead (a later clock read): counted there, not erased" },
		{ ISO_WW_MAKE(50 + 5 * NB, 4), 50, false, ISO_WW_MAKE(50, 1),
		  "far ahead: a shorter window before; rotated" },
		{ ISO_WW_MAKE(UINT32_MAX - 4, 2), 5, false, ISO_WW_MAKE(5, 1),
		  "the epoch wrapped: an old lap" },
		{ ISO_WW_MAKE(3, 2), 3, true, ISO_WW_MAKE(3, 3), "small epochs" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool add;
		uint64_t n = iso_ww_add(rows[i].w, rows[i].epoch, &add);
		cr_expect_eq(add, rows[i].add, "row %zu (%s): add %d", i,
			     rows[i].why, add);
		cr_expect_eq(n, rows[i].next, "row %zu (%s): next %#llx", i,
			     rows[i].why, (unsigned long long)n);
	}
}

Test(window, a_word_counts_for_the_last_ten_epochs_only)
{
	/* W1 at the edges. */
	cr_expect(iso_ww_current(100, 100));
	cr_expect(iso_ww_current(91, 100), "9 epochs old: in");
	cr_expect(!iso_ww_current(90, 100), "10 epochs old: out");
	cr_expect(iso_ww_current(101, 100), "a clock read a bit later: in");
	cr_expect(!iso_ww_current(0, 100), "cleared: out");
	cr_expect(iso_ww_current(UINT32_MAX, 3), "across the wrap: in");
	cr_expect(!iso_ww_current(100 + 11, 100), "far ahead: out");
}

/* ---------------------------------------------------- pure: judgement */

static struct iso_config wcfg(uint32_t min_calls, uint32_t fr, uint32_t sms,
			      uint32_t sr)
{
	struct iso_config c;
	iso_config_default(&c);
	c.window_ms = 10000;
	c.min_calls = min_calls;
	c.failure_rate_threshold = fr;
	c.slow_call_ms = sms;
	c.slow_call_rate_threshold = sr;
	return c;
}

Test(window, the_judgement_at_its_edges)
{
	struct {
		struct iso_config c;
		struct iso_wsum s;
		int cause;
		const char *why;
	} rows[] = {
		{ wcfg(10, 50, 0, 0), { 9, 9, 0 }, -1, "below min_calls" },
		{ wcfg(10, 50, 0, 0), { 10, 5, 0 }, ISO_CAUSE_FAILURE_RATE,
		  "exactly the threshold" },
		{ wcfg(10, 50, 0, 0), { 10, 4, 0 }, -1, "just below" },
		{ wcfg(10, 50, 0, 0), { 3, 2, 0 }, -1, "66 % of too few" },
		{ wcfg(1, 100, 0, 0), { 1, 1, 0 }, ISO_CAUSE_FAILURE_RATE,
		  "one call, all failed, 100 %" },
		{ wcfg(10, 0, 0, 0), { 100, 100, 0 }, -1, "failure rate off" },
		{ wcfg(10, 0, 1000, 50), { 10, 0, 5 }, ISO_CAUSE_SLOW_CALL_RATE,
		  "slow calls at the threshold" },
		{ wcfg(10, 0, 0, 50), { 10, 0, 10 }, -1,
		  "slow rate without slow_call_ms is off" },
		{ wcfg(10, 50, 1000, 50), { 10, 5, 5 }, ISO_CAUSE_FAILURE_RATE,
		  "both reached: the failure rate is named" },
		{ wcfg(10, 60, 1000, 50), { 10, 5, 5 }, ISO_CAUSE_SLOW_CALL_RATE,
		  "only the slow rate reached" },
		{ wcfg(10, 1, 0, 0), { 1000000, 10000, 0 },
		  ISO_CAUSE_FAILURE_RATE, "1 % of a million" },
		{ wcfg(10, 1, 0, 0), { 1000000, 9999, 0 }, -1,
		  "just under 1 % of a million" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got = iso_window_judge(&rows[i].s, &rows[i].c);
		cr_expect_eq(got, rows[i].cause, "row %zu (%s): %d", i,
			     rows[i].why, got);
	}
	struct iso_config off = wcfg(1, 50, 0, 0);
	off.window_ms = 0;
	struct iso_wsum all = { 10, 10, 10 };
	cr_expect_eq(iso_window_judge(&all, &off), -1, "windows off");
}

/* --------------------------------------- counting across rotations */

Test(window, counts_leave_the_window_after_ten_buckets_and_clock_jumps)
{
	struct iso_shm_window w;
	struct iso_wsum s;
	memset(&w, 0, sizeof(w));
	/* One outcome per epoch from 1000 to 1014: a failure every third. */
	for (uint32_t e = 1000; e < 1015; e++)
		iso_window_count(&w, e, e % 3 == 0, e % 5 == 0);
	iso_window_sum(&w, 1014, false, &s);
	cr_expect_eq(s.calls, 10, "W1: epochs 1005..1014, got %llu",
		     (unsigned long long)s.calls);
	/* failures at 1005..1014 where e%3==0: 1005 1008 1011 1014. */
	cr_expect_eq(s.fails, 4);
	cr_expect_eq(s.slow, 2, "1005 and 1010");
	iso_window_sum(&w, 1014, true, &s);
	cr_expect_eq(s.calls, 10);
	cr_expect_eq(s.fails, 0, "calls only");
	/* Time moves on without outcomes: they drop out one by one. */
	iso_window_sum(&w, 1019, false, &s);
	cr_expect_eq(s.calls, 5);
	iso_window_sum(&w, 1024, false, &s);
	cr_expect_eq(s.calls, 0, "a whole window later, nothing");
	/* A jump of many windows, then an outcome: only it counts. */
	iso_window_count(&w, 500000, true, false);
	iso_window_sum(&w, 500000, false, &s);
	cr_expect_eq(s.calls, 1);
	cr_expect_eq(s.fails, 1);
	/* A clock read a little earlier (another process's) still counts,
	 * in its own bucket, and reads back from the newer epoch. */
	iso_window_count(&w, 499999, false, false);
	iso_window_sum(&w, 500000, false, &s);
	cr_expect_eq(s.calls, 2);
	iso_window_clear(&w);
	iso_window_sum(&w, 500000, false, &s);
	cr_expect_eq(s.calls + s.fails + s.slow, 0, "cleared");
}

/* ------------------------------------------------------ the account */

static iso_reg_t *reg;
static char seg[128];

static void setup(void)
{
	tu_clock_install();
	snprintf(seg, sizeof(seg), "%s", tu_segment("window"));
	struct iso_config d;
	iso_config_default(&d);
	d.window_ms = 10000; /* a region, and every account has a window */
	reg = tu_create(seg, 64, &d);
}

static void teardown(void)
{
	iso_detach(reg);
	iso_unlink(seg);
	iso_clock_set(NULL, NULL);
}

TestSuite(window_account, .init = setup, .fini = teardown);

static iso_account_t account(const char *id, uint32_t fr, uint32_t sms,
			     uint32_t sr)
{
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", id, "KRAKEN", &a), 0, "%s",
		     iso_last_error());
	struct iso_config c = wcfg(10, fr, sms, sr);
	c.failure_threshold = 255; /* consecutive tripping out of reach */
	c.degrade_after = 255;
	cr_assert_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
	return a;
}

static struct iso_status status(const iso_account_t *a)
{
	struct iso_status st;
	cr_assert_eq(iso_status(a, &st), 0, "%s", iso_last_error());
	return st;
}

static int last_trip_cause(void)
{
	struct iso_event ev[64];
	uint64_t cur = 0;
	int n = iso_events_read(reg, &cur, ev, 64, NULL), cause = -1;
	for (int i = 0; i < n; i++)
		if (ev[i].to == ISO_QUARANTINED)
			cause = (int)ev[i].cause;
	return cause;
}

Test(window_account, an_account_failing_every_other_call_trips_at_50_percent)
{
	iso_account_t a = account("alt", 50, 0, 0);
	for (int i = 0; i < 9; i++) {
		cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
		tu_advance_ms(100);
		int rc = iso_record_failure(&a, NULL, ISO_FAIL_API, 0);
		cr_assert_eq(rc, 0);
		tu_advance_ms(100);
		struct iso_status st = status(&a);
		if (st.breaker != ISO_BREAKER_CLOSED) {
			/* 2 x 5 = min_calls 10 reached at the fifth pair. */
			cr_assert_eq(i, 4, "tripped at pair %d", i);
			cr_assert_eq(st.last_cause, ISO_CAUSE_FAILURE_RATE);
			cr_assert_eq(st.window_calls, 10);
			cr_assert_eq(st.window_failures, 5);
			cr_assert_float_eq(st.failure_rate, 50.0, 1e-9);
			cr_assert_eq(last_trip_cause(), ISO_CAUSE_FAILURE_RATE,
				     "the event names the rate");
			cr_assert_eq(st.consecutive_failures, 1,
				     "no consecutive streak did it");
			return;
		}
		cr_assert_float_eq(st.failure_rate, -1.0, 1e-9,
				   "not judged below min_calls");
	}
	cr_assert_fail("an alternating account never tripped");
}

Test(window_account, slow_calls_trip_on_their_own_rate)
{
	iso_account_t a = account("slow", 0, 1000, 50);
	for (int i = 0; i < 10; i++) {
		/* 2 s, then 10 ms: half the calls slow, none failed. */
		uint64_t ns = i % 2 ? 10000000ull : 2000000000ull;
		cr_assert_eq(iso_record_success(&a, NULL, ns), 0);
		tu_advance_ms(50);
	}
	struct iso_status st = status(&a);
	cr_assert_eq(st.health, ISO_QUARANTINED, "health %s",
		     iso_health_name(st.health));
	cr_assert_eq(st.last_cause, ISO_CAUSE_SLOW_CALL_RATE);
	cr_assert_eq(st.window_slow_calls, 5);
	cr_assert_eq(st.failures, 0);
	cr_assert_eq(last_trip_cause(), ISO_CAUSE_SLOW_CALL_RATE);
}

Test(window_account, a_success_that_reaches_min_calls_is_judged)
{
	iso_account_t a = account("late", 50, 0, 0);
	for (int i = 0; i < 9; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	cr_assert_eq(status(&a).breaker, ISO_BREAKER_CLOSED, "9 < min_calls");
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	struct iso_status st = status(&a);
	cr_assert_eq(st.breaker, ISO_BREAKER_OPEN, "90 %% of 10 calls");
	cr_assert_eq(st.last_cause, ISO_CAUSE_FAILURE_RATE);
}

Test(window_account, ignored_failure_types_stay_out_of_the_rates)
{
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", "ign", "KRAKEN", &a), 0);
	struct iso_config c = wcfg(4, 50, 0, 0);
	c.failure_threshold = 255;
	c.ignore = ISO_FAIL_MASK(ISO_FAIL_BALANCE);
	cr_assert_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
	for (int i = 0; i < 20; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_BALANCE, 0), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	struct iso_status st = status(&a);
	cr_assert_eq(st.breaker, ISO_BREAKER_CLOSED);
	cr_assert_eq(st.window_calls, 4, "ignored: neither calls nor failures");
	cr_assert_eq(st.window_failures, 0);
	cr_assert_float_eq(st.failure_rate, 0.0, 1e-9);
	cr_assert_eq(st.failures, 20, "still counted as failures [M1]");
}

Test(window_account, a_breaker_that_closes_starts_its_window_again)
{
	iso_account_t a = account("heal", 50, 0, 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	cr_assert_eq(status(&a).breaker, ISO_BREAKER_OPEN);
	/* Recover inside the same window (open 5 min > window 10 s would
	 * age it out; a reset is the short way). */
	cr_assert_eq(iso_reset(&a), 0);
	struct iso_status st = status(&a);
	cr_assert_eq(st.window_calls, 0, "window cleared on close");
	cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	cr_assert_eq(status(&a).breaker, ISO_BREAKER_CLOSED,
		     "one failure after closing does not trip on old ones");
}

Test(window_account, the_window_slides_with_time)
{
	iso_account_t a = account("slide", 50, 0, 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	tu_advance_ms(10000); /* those six are a window old now */
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
		cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	}
	struct iso_status st = status(&a);
	cr_assert_eq(st.breaker, ISO_BREAKER_CLOSED, "33 %% < 50 %%");
	cr_assert_eq(st.window_calls, 30, "only this window's");
	cr_assert_eq(st.window_failures, 10);
}

Test(window_account, consecutive_tripping_still_works_beside_the_rates)
{
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", "both", "KRAKEN", &a), 0);
	struct iso_config c = wcfg(100, 50, 0, 0);
	c.failure_threshold = 3;
	cr_assert_eq(iso_configure(&a, &c), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	struct iso_status st = status(&a);
	cr_assert_eq(st.breaker, ISO_BREAKER_OPEN);
	cr_assert_eq(st.last_cause, ISO_CAUSE_FAILURE);
}

Test(window, windows_need_a_segment_made_with_them)
{
	const char *name = tu_segment("nowin");
	iso_reg_t *r = tu_create(name, 1000, NULL);
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(r, &info), 0);
	cr_expect(!info.windows);
	cr_expect_leq(info.bytes_per_account, 512, "[P5] %llu B",
		      (unsigned long long)info.bytes_per_account);
	iso_account_t a;
	cr_assert_eq(iso_register(r, "user", "x", "KRAKEN", &a), 0);
	struct iso_config c = wcfg(10, 50, 0, 0);
	int rc = iso_configure(&a, &c);
	cr_expect_eq(rc, ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "window region"), "%s",
		  iso_last_error());
	cr_expect_eq(iso_configure_default(r, &c), ISO_EINVAL);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.config.window_ms, 0, "nothing stored");
	cr_expect_eq(st.config.failure_threshold, 5, "config undisturbed");
	iso_detach(r);
	iso_unlink(name);

	/* ISO_ATTACH_WINDOWS makes a region without a default window. */
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE |
				     ISO_ATTACH_EXCL | ISO_ATTACH_WINDOWS,
				     .capacity = 1000 };
	cr_assert_eq(iso_attach(name, &o, &r), 0, "%s", iso_last_error());
	cr_assert_eq(iso_segment_info(r, &info), 0);
	cr_expect(info.windows);
	cr_expect_eq(info.defaults.window_ms, 0);
	cr_expect_gt(info.bytes_per_account, 512, "the region costs");
	cr_expect_leq(info.bytes_per_account, 512 + ISO_WINDOW_SIZE);
	cr_assert_eq(iso_register(r, "user", "x", "KRAKEN", &a), 0);
	cr_expect_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
	iso_detach(r);
	iso_unlink(name);
}

Test(window, bad_window_config_is_refused_by_name)
{
	struct iso_config c;
	iso_config_default(&c);
	struct { const char *f, *v, *says; } bad[] = {
		{ "window_ms", "50", "window_ms" },
		{ "window_ms", "3600001", "window_ms" },
		{ "min_calls", "0", "min_calls" },
		{ "failure_rate_threshold", "101", "failure_rate_threshold" },
		{ "slow_call_rate_threshold", "200", "slow_call_rate_threshold" },
		{ "slow_call_ms", "-1", "slow_call_ms" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(iso_config_set(&c, bad[i].f, bad[i].v), ISO_EINVAL,
			     "%s=%s accepted", bad[i].f, bad[i].v);
		cr_expect(strstr(iso_last_error(), bad[i].says), "%s",
			  iso_last_error());
	}
	struct iso_config d;
	iso_config_default(&d);
	cr_expect(!memcmp(&c, &d, sizeof(c)), "refused input changed nothing");
	cr_assert_eq(iso_config_set(&c, "window_ms", "60000"), 0);
	cr_assert_eq(iso_config_set(&c, "failure_rate_threshold", "50"), 0);
	cr_expect_eq(c.window_ms, 60000);
	cr_expect_eq(c.failure_rate_threshold, 50);
}

/* ------------------------------------- W4: N processes, exact counts */

#define PROCS 4
#define EACH 20000

/* A clock the children share and move, in ticks of 1/4000 ms: every
 * outcome moves it 0.1 ms, so all of them race through the same
 * rotations. */
static uint64_t *shared_ms;

static uint64_t shared_clock(void *ctx)
{
	(void)ctx;
	return iso_load64_relaxed(shared_ms) / 4000 * 1000000ull;
}

Test(window, processes_racing_through_rotations_count_exactly)
{
	const char *name = tu_segment("winmp");
	struct iso_config d;
	iso_config_default(&d);
	d.window_ms = 10000;
	d.failure_threshold = 255;
	d.degrade_after = 255;
	iso_reg_t *r = tu_create(name, 16, &d);
	iso_account_t a;
	cr_assert_eq(iso_register(r, "user", "mp", "KRAKEN", &a), 0);
	shared_ms = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(shared_ms, MAP_FAILED);
	/* Start at 5 s, the start of a 1 s bucket. */
	iso_store64_relaxed(shared_ms, 5000ull * 4000);
	int pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		if ((pids[p] = fork()) == 0) {
			iso_clock_set(shared_clock, NULL);
			for (int i = 0; i < EACH; i++) {
				iso_faa64_relaxed(shared_ms, 400);
				int rc = i % 4 == 0
					? iso_record_failure(&a, NULL,
							     ISO_FAIL_API, 0)
					: iso_record_success(&a, NULL, 0);
				if (rc)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++)
		cr_assert_eq(tu_wait(pids[p]), 0);
	/* The clock moved 80,000 x 400 / 4000 = 8000 ms: 8 of the 10
	 * buckets, every one of them rotated by whoever got there first. */
	uint64_t end_ms = iso_load64_relaxed(shared_ms) / 4000;
	cr_assert_eq(end_ms, 5000 + 8000);
	iso_clock_set(shared_clock, NULL);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	iso_clock_set(NULL, NULL);
	cr_expect_eq(st.window_calls, PROCS * EACH, "W4: %llu",
		     (unsigned long long)st.window_calls);
	cr_expect_eq(st.window_failures, PROCS * EACH / 4);
	cr_expect_eq(st.operations, PROCS * EACH);
	munmap(shared_ms, 4096);
	iso_detach(r);
	iso_unlink(name);
}
