/*
 * test_budget.c - the request budget per account [B9]: the GCRA decision
 * as a table, config by name, acquire refusing with ISO_ELIMIT and a
 * retry time, refusals counted and kept out of the breaker, the cost
 * variant, the segment default, and N processes sharing one budget.
 * Also the operation-time histogram's reach to a minute [M1].
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "hist.h"
#include "support/util.h"
#include "../tools/common/clock.h"

static iso_reg_t *reg;
static char seg[128];

static void setup(void)
{
	tu_clock_install();
	snprintf(seg, sizeof(seg), "%s", tu_segment("budget"));
	reg = tu_create(seg, 64, NULL);
}

static void teardown(void)
{
	iso_detach(reg);
	iso_unlink(seg);
	iso_clock_set(NULL, NULL);
}

TestSuite(budget, .init = setup, .fini = teardown);

static iso_account_t account(const char *id)
{
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", id, "KRAKEN", &a), 0, "%s",
		     iso_last_error());
	return a;
}

static void set_budget(const iso_account_t *a, const char *rate,
		       const char *burst)
{
	struct iso_config c;
	iso_config_default(&c);
	cr_assert_eq(iso_config_set(&c, "rate_per_s", rate), 0, "%s",
		     iso_last_error());
	if (burst)
		cr_assert_eq(iso_config_set(&c, "burst", burst), 0, "%s",
			     iso_last_error());
	cr_assert_eq(iso_configure(a, &c), 0, "%s", iso_last_error());
}

/* [B9] the pure decision, row by row: T = 100 ns, burst 3. */
Test(budget, gcra_decision_table)
{
	static const struct {
		uint64_t tat, now, cost;
		bool allowed;
		uint64_t next_tat, retry_ns;
		const char *what;
	} rows[] = {
		{ 0, 1000, 1, true, 1100, 0, "a full budget admits" },
		{ 0, 1000, 3, true, 1300, 0, "the whole burst at once" },
		{ 0, 1000, 4, false, 0, UINT64_MAX, "more than the burst: never" },
		{ 1200, 1000, 1, true, 1300, 0, "the third of a burst" },
		{ 1300, 1000, 1, false, 1300, 100, "the fourth waits one T" },
		{ 1300, 1100, 1, true, 1400, 0, "one T later it passes" },
		{ 1300, 1000, 2, false, 1300, 200, "a cost of 2 waits 2 T" },
		{ 500, 1000, 1, true, 1100, 0, "an old TAT is no credit" },
		{ 1150, 1000, 1, true, 1250, 0, "part of a unit back" },
		{ 1350, 1000, 1, false, 1350, 150, "retry in what is missing" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct iso_gcra g = iso_gcra_next(rows[i].tat, rows[i].now,
						  rows[i].cost, 100, 3);
		cr_expect_eq(g.allowed, rows[i].allowed, "row %zu (%s)", i,
			     rows[i].what);
		if (rows[i].allowed)
			cr_expect_eq(g.tat, rows[i].next_tat, "row %zu (%s): tat "
				     "%lu", i, rows[i].what, (unsigned long)g.tat);
		else
			cr_expect_eq(g.retry_ns, rows[i].retry_ns, "row %zu (%s): "
				     "retry %lu", i, rows[i].what,
				     (unsigned long)g.retry_ns);
	}
	/* A refund gives back what was spent, never time that passed. */
	cr_expect_eq(iso_gcra_refund(1300, 1000, 1, 100), 1200);
	cr_expect_eq(iso_gcra_refund(1050, 1000, 1, 100), 1000);
	cr_expect_eq(iso_gcra_available(0, 1000, 100, 3), 3.0);
	cr_expect_eq(iso_gcra_available(1300, 1000, 100, 3), 0.0);
}

/* [B9] config by name: fractions, defaults, and errors that name the field. */
Test(budget, config_fields_by_name_and_their_errors)
{
	struct iso_config c;
	iso_config_default(&c);
	cr_expect_eq(c.rate_per_s, 0);
	cr_expect_eq(c.burst, 0);
	cr_assert_eq(iso_config_set(&c, "rate_per_s", "0.33"), 0);
	cr_expect_eq(c.burst, 1, "a rate alone has a burst of 1");
	cr_assert_eq(iso_config_set(&c, "burst", "15"), 0);
	cr_expect_eq(c.burst, 15);
	cr_expect_eq(iso_config_set(&c, "rate_per_s", "-1"), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "rate_per_s"), "%s", iso_last_error());
	cr_expect_eq(iso_config_set(&c, "rate_per_s", "2e6"), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "rate_per_s"), "%s", iso_last_error());
	cr_expect_eq(iso_config_set(&c, "rate_per_s", "nan"), ISO_EINVAL);
	cr_expect_eq(iso_config_set(&c, "rate_per_s", "3x"), ISO_EINVAL);
	cr_expect_eq(iso_config_set(&c, "burst", "2000000"), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "burst"), "%s", iso_last_error());
	cr_expect_eq(c.burst, 15, "unchanged on error");
	struct iso_config d;
	iso_config_default(&d);
	d.burst = 5;
	cr_expect_eq(iso_config_validate(&d), ISO_EINVAL, "burst needs a rate");
	cr_expect(strstr(iso_last_error(), "burst"), "%s", iso_last_error());
	cr_assert_eq(iso_config_set(&c, "rate_per_s", "0"), 0);
	cr_expect_eq(c.burst, 0, "no rate, no burst");
}

/* [B9] spent: ISO_ELIMIT, the reason text, a retry time; then time heals. */
Test(budget, spent_budget_refuses_with_retry_time_until_it_refills)
{
	iso_account_t a = account("u1");
	iso_permit_t p;
	char why[128];
	set_budget(&a, "10", "3"); /* one unit every 100 ms */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iso_acquire(&a, &p), 0, "burst call %d", i);
	cr_assert_eq(iso_acquire(&a, &p), ISO_ELIMIT);
	cr_expect_eq(p.reason, ISO_REASON_RATE_LIMITED);
	cr_expect_eq(p.retry_in_ms, 100);
	iso_permit_reason(&p, why, sizeof(why));
	cr_expect_str_eq(why, "Rate limited - retry in 100 ms");
	tu_advance_ms(40);
	cr_assert_eq(iso_acquire(&a, &p), ISO_ELIMIT);
	cr_expect_eq(p.retry_in_ms, 60);
	tu_advance_ms(60);
	cr_expect_eq(iso_acquire(&a, &p), 0, "a unit came back");
	cr_expect_eq(iso_acquire(&a, &p), ISO_ELIMIT);

	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.budget_refusals, 3);
	cr_expect_eq(st.failures, 0, "refusals are not failures");
	cr_expect_eq(st.quarantines, 0);
	cr_expect_eq(st.health, ISO_HEALTHY, "the breaker never heard of it");
	cr_expect_eq(st.config.burst, 3);
	cr_expect(st.config.rate_per_s > 9.999 && st.config.rate_per_s < 10.001);
	cr_expect(st.budget_available < 1);
	cr_expect_eq(st.budget_retry_in_ms, 100);
	tu_advance_ms(1000);
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.budget_available, 3.0, "refilled to the burst, no more");
}

/* [B9] a budget is per account: spending one leaves the others alone. */
Test(budget, one_accounts_budget_leaves_others_alone)
{
	iso_account_t a = account("a"), b = account("b");
	iso_permit_t p;
	set_budget(&a, "1", "1");
	cr_assert_eq(iso_acquire(&a, &p), 0);
	cr_assert_eq(iso_acquire(&a, &p), ISO_ELIMIT);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(iso_acquire(&b, &p), 0, "b has no budget");
}

/* [B9] the cost variant: weights, and costs that could never pass. */
Test(budget, acquire_cost_spends_weights)
{
	iso_account_t a = account("w");
	iso_permit_t p;
	set_budget(&a, "20", "10");
	cr_expect_eq(iso_acquire_cost(&a, 0, &p), ISO_EINVAL);
	cr_expect_eq(iso_acquire_cost(&a, 11, &p), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "burst"), "%s", iso_last_error());
	cr_assert_eq(iso_acquire_cost(&a, 6, &p), 0);
	cr_assert_eq(iso_acquire_cost(&a, 5, &p), ISO_ELIMIT);
	cr_expect_eq(p.retry_in_ms, 50, "one unit missing: 1/20 s");
	cr_assert_eq(iso_acquire_cost(&a, 4, &p), 0);
	/* Without a budget a cost is accepted and ignored. */
	iso_account_t b = account("nob");
	cr_expect_eq(iso_acquire_cost(&b, 1000, &p), 0);
}

/* [B9] a refusal by the breaker gives the unit back; a halt spends none. */
Test(budget, breaker_refusal_spends_no_budget)
{
	iso_account_t a = account("open");
	iso_permit_t p;
	set_budget(&a, "1", "2");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(iso_acquire(&a, &p), ISO_EOPEN, "open: %d", i);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.budget_available, 2.0, "nothing spent while open");
	cr_expect_eq(st.budget_refusals, 0);
	cr_assert_eq(iso_reset(&a), 0);
	cr_assert_eq(iso_force_open(&a), 0);
	cr_assert_eq(iso_acquire(&a, &p), ISO_EOPEN);
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.budget_available, 2.0, "nothing spent while halted");
}

/* [B9] the segment default reaches accounts without their own config. */
Test(budget, segment_default_budget)
{
	iso_account_t a = account("d1");
	iso_permit_t p;
	struct iso_config c;
	iso_config_default(&c);
	c.rate_per_s = 0.5;
	c.burst = 2;
	cr_assert_eq(iso_configure_default(reg, &c), 0, "%s", iso_last_error());
	cr_assert_eq(iso_acquire(&a, &p), 0);
	cr_assert_eq(iso_acquire(&a, &p), 0);
	cr_assert_eq(iso_acquire(&a, &p), ISO_ELIMIT);
	cr_expect_eq(p.retry_in_ms, 2000, "0.5/s: a unit every 2 s");
	/* Back to no budget: the default's budget is gone at once. */
	iso_config_default(&c);
	cr_assert_eq(iso_configure_default(reg, &c), 0);
	cr_expect_eq(iso_acquire(&a, &p), 0);
}

/*
 * [B9] N processes hammering one account for 2 s on the real clock: never
 * more than rate * t + burst admitted, and at least 95 % of it.
 */
Test(budget, processes_share_one_budget_exactly, .timeout = 60)
{
	enum { N = 4 };
	/* A burst of 100 ms of rate: a spender descheduled for less than
	 * that (2 shared cores, 4 spinners) loses the fleet nothing. */
	const double rate = 5000, burst = 500, secs = 2.0;
	iso_clock_set(NULL, NULL);
	iso_account_t a = account("fleet");
	set_budget(&a, "5000", "500");
	uint64_t *admitted = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(admitted != MAP_FAILED);
	memset(admitted, 0, 4096);
	volatile double *start = (volatile double *)&admitted[N];
	int pids[N];
	for (int i = 0; i < N; i++) {
		if ((pids[i] = fork()) == 0) {
			iso_permit_t p;
			uint64_t n = 0;
			while (*start == 0) /* every child forked, then go */
				;
			double t0 = *start;
			while (((double)tc_mono_ns() / 1e9) - t0 < secs) {
				int rc = iso_acquire(&a, &p);
				if (rc == 0)
					n++;
				else if (rc != ISO_ELIMIT)
					_exit(2);
			}
			admitted[i] = n;
			_exit(0);
		}
	}
	double t0 = ((double)tc_mono_ns() / 1e9);
	*start = t0;
	for (int i = 0; i < N; i++)
		cr_assert_eq(tu_wait(pids[i]), 0, "child %d", i);
	double t = ((double)tc_mono_ns() / 1e9) - t0;
	uint64_t total = 0;
	for (int i = 0; i < N; i++)
		total += admitted[i];
	double bound = rate * t + burst;
	fprintf(stderr, "budget: %d processes, %.3f s, admitted %lu of "
		"rate*t+burst %.0f (%.1f %%)\n", N, t, (unsigned long)total,
		bound, 100.0 * (double)total / bound);
	cr_expect((double)total <= bound, "admitted %lu > rate*t+burst %.0f",
		  (unsigned long)total, bound);
	/* The children stop at t0 + secs; the parent's t is a little later. */
	double floor95 = 0.95 * (rate * secs + burst);
	cr_expect((double)total >= floor95, "admitted %lu < 95%% of %.0f",
		  (unsigned long)total, rate * secs + burst);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect(st.budget_refusals > 0);
	munmap(admitted, 4096);
}

/* [M1] operation times to a minute: three 10 s operations are 10 s. */
Test(budget, ten_second_operations_measure_ten_seconds)
{
	iso_account_t a = account("slow");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iso_record_success(&a, NULL, 10000000000ull), 0);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.p50_op_ns, 10000000000ull, "p50 %lu",
		     (unsigned long)st.p50_op_ns);
	cr_expect_eq(st.p99_op_ns, 10000000000ull, "p99 %lu",
		     (unsigned long)st.p99_op_ns);
	cr_expect_eq(st.min_op_ns, 10000000000ull);
	cr_expect_eq(st.max_op_ns, 10000000000ull);
	unsigned b = iso_hist_bucket(10000000000ull);
	cr_expect(b < ISO_HIST_BUCKETS - 1, "10 s has a bounded bucket");
	cr_expect_eq(st.hist[b], 3);
	cr_expect(iso_hist_upper_ns(ISO_HIST_BUCKETS - 2) >= 60000000000ull,
		  "the last bounded bucket reaches past 60 s");
	cr_expect(iso_hist_upper_ns(0) <= 1100, "the first ends near 1 us");

	iso_account_t q = account("quarter");
	cr_assert_eq(iso_record_success(&q, NULL, 250000000ull), 0);
	cr_assert_eq(iso_status(&q, &st), 0);
	cr_expect_eq(st.p50_op_ns, 250000000ull, "one 250 ms op is 250 ms");
}

/* [M1] percentiles of a spread keep three significant digits. */
Test(budget, percentiles_are_clamped_and_rounded)
{
	uint64_t hist[ISO_HIST_BUCKETS] = { 0 }, p50, p99;
	hist[iso_hist_bucket(3000)] = 50;
	hist[iso_hist_bucket(70000000000ull)] = 50;
	iso_hist_percentiles(hist, 100, 3000, 70000000000ull, &p50, &p99);
	cr_expect(p50 >= 3000 && p50 <= 4100, "p50 %lu", (unsigned long)p50);
	cr_expect(p99 <= 70000000000ull && p99 >= 68700000000ull, "p99 %lu",
		  (unsigned long)p99);
	cr_expect_eq(iso_round3(123456), 123000);
	cr_expect_eq(iso_round3(999), 999);
	cr_expect_eq(iso_round3(1005), 1010);
}
