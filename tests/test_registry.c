/*
 * test_registry.c - the reference design's whole test list and both of its
 * example scenarios, through the C API, step by step with the states of
 * SPEC §3; then the API's own promises (by key, retire, configure, full).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "support/util.h"

static iso_reg_t *reg;
static char seg[128]; /* a copy: tu_segment reuses its buffer */

static void setup(void)
{
	tu_clock_install();
	snprintf(seg, sizeof(seg), "%s", tu_segment("reg"));
	reg = tu_create(seg, 256, NULL); /* SPEC §3 defaults */
}

static void teardown(void)
{
	iso_detach(reg);
	iso_unlink(seg);
}

TestSuite(registry, .init = setup, .fini = teardown);

static iso_account_t acct(const char *type, const char *id, const char *broker)
{
	iso_account_t a;
	int rc = iso_register(reg, type, id, broker, &a);
	cr_assert_eq(rc, 0, "register %s/%s/%s: %s", type, id, broker,
		     iso_last_error());
	return a;
}

static enum iso_health health(const iso_account_t *a)
{
	struct iso_status st;
	cr_assert_eq(iso_status(a, &st), 0, "%s", iso_last_error());
	return st.health;
}

static bool can_execute(const iso_account_t *a, char *why, size_t len)
{
	iso_permit_t p;
	int rc = iso_acquire(a, &p);
	cr_assert(rc == 0 || rc == ISO_EOPEN, "acquire: %s", iso_strerror(rc));
	if (why)
		iso_permit_reason(&p, why, len);
	return rc == 0;
}

static void fail_n(const iso_account_t *a, int n, enum iso_failure_type t)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(iso_record_failure(a, NULL, t, 1000000), 0);
}

static void succeed_n(const iso_account_t *a, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(iso_record_success(a, NULL, 1000000), 0);
}

/* Reference test 1: account registration. */
Test(registry, registers_accounts_once_with_normalised_keys)
{
	iso_account_t a = acct("User", "USER1", "kraken");
	iso_account_t b = acct("user", "user1", "KRAKEN");
	cr_assert_eq(a.slot, b.slot, "same key, same slot");
	cr_assert_eq(a.gen, b.gen);
	struct iso_key k;
	cr_assert_eq(iso_account_key(&a, &k), 0);
	cr_assert_str_eq(k.type, "user");
	cr_assert_str_eq(k.id, "user1");
	cr_assert_str_eq(k.broker, "KRAKEN");
	cr_assert_eq(health(&a), ISO_HEALTHY);
	iso_account_t c;
	cr_assert_eq(iso_lookup(reg, "user", "user1", "KRAKEN", &c), 0);
	cr_assert_eq(c.slot, a.slot);
	cr_assert_eq(iso_lookup(reg, "user", "nobody", "KRAKEN", &c), ISO_ENOENT);
	cr_assert(strstr(iso_last_error(), "user/nobody/KRAKEN"));
}

/* Reference test 2: isolated failures, the core guarantee. */
Test(registry, one_accounts_failures_leave_the_others_untouched)
{
	iso_account_t bad = acct("user", "user1", "KRAKEN");
	iso_account_t others[3] = {
		acct("platform", "platform", "KRAKEN"),
		acct("user", "user2", "KRAKEN"),
		acct("user", "user1", "COINBASE"),
	};
	fail_n(&bad, 10, ISO_FAIL_API);
	cr_assert_eq(health(&bad), ISO_QUARANTINED);
	cr_assert(!can_execute(&bad, NULL, 0));
	for (int i = 0; i < 3; i++) {
		struct iso_status st;
		cr_assert_eq(iso_status(&others[i], &st), 0);
		cr_assert_eq(st.health, ISO_HEALTHY);
		cr_assert_eq(st.failures, 0);
		cr_assert(can_execute(&others[i], NULL, 0));
	}
}

/* Reference test 3: the breaker opens at failure_threshold, not before. */
Test(registry, breaker_opens_at_the_failure_threshold)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	fail_n(&a, 4, ISO_FAIL_NETWORK);
	cr_assert_eq(health(&a), ISO_DEGRADED);
	cr_assert(can_execute(&a, NULL, 0), "still operational at 4 of 5");
	fail_n(&a, 1, ISO_FAIL_NETWORK);
	struct iso_status st;
	iso_status(&a, &st);
	cr_assert_eq(st.health, ISO_QUARANTINED);
	cr_assert_eq(st.breaker, ISO_BREAKER_OPEN);
	cr_assert_eq(st.quarantines, 1);
	cr_assert_eq(st.retry_in_ms, 300000);
	char why[128];
	cr_assert(!can_execute(&a, why, sizeof(why)));
	cr_assert_str_eq(why, "Circuit breaker open - retry in 300s");
}

/* Reference test 4: recovery after the timeout. */
Test(registry, breaker_recovers_after_the_timeout)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	char why[128];
	fail_n(&a, 5, ISO_FAIL_API);
	tu_advance_ms(299999);
	cr_assert(!can_execute(&a, NULL, 0), "not a millisecond early");
	tu_advance_ms(1);
	cr_assert_eq(health(&a), ISO_RECOVERING, "lazy: status sees it [B5]");
	cr_assert(can_execute(&a, why, sizeof(why)));
	cr_assert_str_eq(why, "Recovery attempt");
	cr_assert(!can_execute(&a, why, sizeof(why)), "one probe at a time");
	cr_assert_str_eq(why, "Half-open limit reached - retry in 30s");
	succeed_n(&a, 1);
	cr_assert(can_execute(&a, why, sizeof(why)));
	cr_assert_str_eq(why, "Half-open test");
	succeed_n(&a, 2);
	cr_assert_eq(health(&a), ISO_HEALTHY);
}

/* Reference test 5: degraded state. */
Test(registry, failures_below_threshold_degrade_but_allow)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	char why[128];
	fail_n(&a, 1, ISO_FAIL_API);
	cr_assert_eq(health(&a), ISO_DEGRADED);
	cr_assert(can_execute(&a, why, sizeof(why)));
	cr_assert_str_eq(why, "Degraded but operational");
}

/* Reference test 6: success tracking and recovery from DEGRADED. */
Test(registry, successes_are_counted_and_heal_a_degraded_account)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	struct iso_status st;
	succeed_n(&a, 4);
	iso_status(&a, &st);
	cr_assert_eq(st.successes, 4);
	cr_assert_eq(st.consecutive_successes, 4);
	cr_assert_gt(st.last_success_ms, 0);
	cr_assert_eq(st.avg_op_ms, 1.0);
	/* The raw integers the ms fields are derived from, for tools that
	 * want whole nanoseconds rather than a double to multiply back. */
	cr_assert_eq(st.op_ns_sum, 4 * 1000000ull);
	cr_assert_eq(st.ema_op_ns, 1000000ull);
	fail_n(&a, 2, ISO_FAIL_API);
	iso_status(&a, &st);
	cr_assert_eq(st.consecutive_failures, 2);
	cr_assert_eq(st.consecutive_successes, 0);
	succeed_n(&a, 2);
	iso_status(&a, &st);
	cr_assert_eq(st.health, ISO_DEGRADED, "2 of 3 successes");
	cr_assert_eq(st.consecutive_failures, 0);
	cr_assert_eq(st.consecutive_successes, 2);
	succeed_n(&a, 1);
	iso_status(&a, &st);
	cr_assert_eq(st.health, ISO_HEALTHY);
	cr_assert_eq(st.operations, 9);
}

/* Reference test 7: failure types tracked separately; total derived. */
Test(registry, failure_types_are_tracked_separately)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	iso_record_failure(&a, NULL, ISO_FAIL_API, 0);
	iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 0);
	iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 0);
	iso_reset(&a);
	iso_record_failure(&a, NULL, ISO_FAIL_RATE_LIMIT, 0);
	struct iso_status st;
	iso_status(&a, &st);
	cr_assert_eq(st.failures_by_type[ISO_FAIL_API], 1);
	cr_assert_eq(st.failures_by_type[ISO_FAIL_NETWORK], 2);
	cr_assert_eq(st.failures_by_type[ISO_FAIL_RATE_LIMIT], 1);
	cr_assert_eq(st.failures, 4, "derived from the per-type counts [M1]");
	cr_assert_eq(st.last_failure_type, ISO_FAIL_RATE_LIMIT, "the last transition's cause");
	cr_assert_eq(iso_record_failure(&a, NULL, (enum iso_failure_type)99, 0),
		     ISO_EINVAL);
	cr_assert(strstr(iso_last_error(), "99"));
}

struct thread_arg {
	iso_account_t a;
	int n;
};

static void *hammer(void *p)
{
	struct thread_arg *t = p;
	for (int i = 0; i < t->n; i++) {
		iso_permit_t pm;
		if (iso_acquire(&t->a, &pm) == 0)
			iso_record_success(&t->a, &pm, 1000 + (uint64_t)i);
		if (i % 7 == 0)
			iso_record_failure(&t->a, NULL, ISO_FAIL_BALANCE, 0);
	}
	return NULL;
}

/* Reference test 8: thread safety — exact counts from 8 threads on
 * shared and own accounts (runs under TSan too). */
Test(registry, counts_stay_exact_across_8_threads)
{
	struct iso_config c;
	iso_config_default(&c);
	c.ignore = ISO_FAIL_MASK(ISO_FAIL_BALANCE);
	iso_configure_default(reg, &c);
	iso_account_t shared = acct("platform", "platform", "KRAKEN");
	pthread_t th[8];
	struct thread_arg args[8];
	const int n = 2000;
	for (int i = 0; i < 8; i++) {
		char id[16];
		snprintf(id, sizeof(id), "user%d", i);
		args[i].a = i % 2 ? shared : acct("user", id, "KRAKEN");
		args[i].n = n;
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	struct iso_status st;
	iso_status(&shared, &st);
	cr_assert_eq(st.successes, 4 * n);
	cr_assert_eq(st.failures, 4 * ((n + 6) / 7));
	cr_assert_eq(st.health, ISO_HEALTHY, "ignored failures never trip");
	iso_status(&args[0].a, &st);
	cr_assert_eq(st.successes, n);
}

/* Reference test 9: the isolation report. */
Test(registry, report_counts_health_failures_and_brokers)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	iso_account_t b = acct("user", "user2", "KRAKEN");
	acct("user", "user1", "COINBASE");
	fail_n(&a, 5, ISO_FAIL_API);
	fail_n(&b, 1, ISO_FAIL_API);
	struct iso_report r;
	cr_assert_eq(iso_report(reg, &r), 0);
	cr_assert_eq(r.total_accounts, 3);
	cr_assert_eq(r.by_health[ISO_HEALTHY], 1);
	cr_assert_eq(r.by_health[ISO_DEGRADED], 1);
	cr_assert_eq(r.by_health[ISO_QUARANTINED], 1);
	cr_assert_eq(r.total_failures, 6);
	cr_assert_eq(r.total_quarantines, 1);
	cr_assert_eq(r.cross_account_errors, 0);
	cr_assert(r.isolation_active);
	cr_assert_eq(r.brokers_count, 2);
	for (uint32_t i = 0; i < r.brokers_count; i++) {
		if (!strcmp(r.brokers[i].broker, "KRAKEN")) {
			cr_assert_eq(r.brokers[i].accounts, 2);
			cr_assert_eq(r.brokers[i].unhealthy, 1);
			cr_assert_eq(r.brokers[i].degraded, 1);
		} else {
			cr_assert_str_eq(r.brokers[i].broker, "COINBASE");
			cr_assert_eq(r.brokers[i].unhealthy, 0);
		}
	}
}

static int count_cb(const struct iso_status *st, void *ctx);

struct seen {
	uint32_t accounts;
	uint64_t failures;
};

static int seen_cb(const struct iso_status *st, void *ctx)
{
	struct seen *s = ctx;
	s->accounts++;
	s->failures += st->failures;
	return 0;
}

static const struct iso_broker_summary *
broker_of(const struct iso_report *r, const char *name)
{
	for (uint32_t i = 0; i < r->brokers_count; i++)
		if (!strcmp(r->brokers[i].broker, name))
			return &r->brokers[i];
	cr_assert_fail("no broker %s in the report", name);
	return NULL;
}

/* One walk: iso_snapshot's report totals are the sum of the rows it
 * handed out in the same pass, and the library, not each tool, decides a
 * broker-wide incident: at least 3 accounts and over half unhealthy. */
Test(registry, snapshot_gives_rows_and_totals_from_one_walk_with_incidents)
{
	iso_account_t c[3] = { acct("user", "c1", "COINBASE"),
			       acct("user", "c2", "COINBASE"),
			       acct("user", "c3", "COINBASE") };
	iso_account_t k[2] = { acct("user", "k1", "KRAKEN"),
			       acct("user", "k2", "KRAKEN") };
	iso_account_t o[4] = { acct("user", "o1", "OKX"), acct("user", "o2", "OKX"),
			       acct("user", "o3", "OKX"), acct("user", "o4", "OKX") };
	fail_n(&c[0], 5, ISO_FAIL_API);
	fail_n(&c[1], 5, ISO_FAIL_API);  /* 2/3: incident */
	fail_n(&k[0], 5, ISO_FAIL_API);
	fail_n(&k[1], 5, ISO_FAIL_API);  /* 2/2: too few accounts */
	fail_n(&o[0], 5, ISO_FAIL_API);
	fail_n(&o[1], 5, ISO_FAIL_API);  /* 2/4: not over half */

	struct iso_report r;
	struct seen s = { 0 };
	cr_assert_eq(iso_snapshot(reg, &r, seen_cb, &s), 0);
	cr_assert_eq(s.accounts, 9);
	cr_assert_eq(r.total_accounts, s.accounts);
	cr_assert_eq(r.total_failures, s.failures);
	cr_assert_eq(r.total_failures, 30);
	cr_assert(broker_of(&r, "COINBASE")->incident);
	cr_assert_not(broker_of(&r, "KRAKEN")->incident);
	cr_assert_not(broker_of(&r, "OKX")->incident);
	fail_n(&o[2], 5, ISO_FAIL_API);  /* 3/4 */
	cr_assert_eq(iso_snapshot(reg, &r, NULL, NULL), 0);
	cr_assert(broker_of(&r, "OKX")->incident);

	/* iso_report is the same walk without rows. */
	struct iso_report r2;
	cr_assert_eq(iso_report(reg, &r2), 0);
	cr_assert_eq(r2.total_accounts, r.total_accounts);
	cr_assert(broker_of(&r2, "OKX")->incident);

	/* A callback's non-zero return stops the walk and is returned. */
	int n = 0;
	cr_assert_eq(iso_snapshot(reg, &r, count_cb, &n), 42);
	cr_assert_eq(r.total_accounts, 2, "the report covers what was seen");
	cr_assert_eq(iso_snapshot(NULL, &r, NULL, NULL), ISO_EINVAL);
	cr_assert_eq(iso_snapshot(reg, NULL, NULL, NULL), ISO_EINVAL);
}

/* Reference test 10: manual reset. */
Test(registry, manual_reset_returns_a_quarantined_account_to_healthy)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	fail_n(&a, 5, ISO_FAIL_AUTHENTICATION);
	cr_assert_eq(health(&a), ISO_QUARANTINED);
	cr_assert_eq(iso_reset(&a), 0);
	struct iso_status st;
	iso_status(&a, &st);
	cr_assert_eq(st.health, ISO_HEALTHY);
	cr_assert_eq(st.consecutive_failures, 0);
	cr_assert_eq(st.failures, 5, "statistics are kept");
	cr_assert(can_execute(&a, NULL, 0));
	cr_assert_eq(iso_reset_by_key(reg, "user", "user1", "KRAKEN"), 0);
	cr_assert_eq(iso_reset_by_key(reg, "user", "ghost", "KRAKEN"), ISO_ENOENT);
}

/* Reference test 11: several brokers per user are isolated. */
Test(registry, one_users_brokers_are_isolated_from_each_other)
{
	iso_account_t k = acct("user", "user1", "KRAKEN");
	iso_account_t c = acct("user", "user1", "COINBASE");
	iso_account_t b = acct("user", "user1", "BINANCE");
	fail_n(&k, 5, ISO_FAIL_API);
	cr_assert_eq(health(&k), ISO_QUARANTINED);
	cr_assert_eq(health(&c), ISO_HEALTHY);
	cr_assert_eq(health(&b), ISO_HEALTHY);
	cr_assert_neq(k.slot, c.slot);
}

/* The reference's Scenario 1, step by step. Its text says three
 * failures quarantine; with SPEC §3's default threshold of 5 it takes
 * five, and the other accounts never notice either way. */
Test(registry, scenario1_user_fails_platform_continues)
{
	iso_account_t u1k = acct("user", "user1", "KRAKEN");
	iso_account_t others[3] = {
		acct("platform", "platform", "KRAKEN"),
		acct("user", "user2", "KRAKEN"),
		acct("user", "user1", "COINBASE"),
	};
#define OTHERS_FINE()                                                        \
	for (int i = 0; i < 3; i++) {                                        \
		cr_assert(can_execute(&others[i], NULL, 0));                 \
		succeed_n(&others[i], 1);                                    \
		cr_assert_eq(health(&others[i]), ISO_HEALTHY);               \
	}
	/* Time 0: an API error. */
	fail_n(&u1k, 1, ISO_FAIL_API);
	cr_assert_eq(health(&u1k), ISO_DEGRADED);
	OTHERS_FINE();
	/* Time 1: more failures until the breaker opens. */
	fail_n(&u1k, 4, ISO_FAIL_API);
	cr_assert_eq(health(&u1k), ISO_QUARANTINED);
	cr_assert(!can_execute(&u1k, NULL, 0));
	OTHERS_FINE();
	/* Time 2: five minutes later, one test operation. */
	tu_advance_ms(300000);
	char why[128];
	cr_assert(can_execute(&u1k, why, sizeof(why)));
	cr_assert_str_eq(why, "Recovery attempt");
	cr_assert_eq(health(&u1k), ISO_RECOVERING);
	OTHERS_FINE();
	/* Time 3: it succeeds, then two more: HEALTHY. */
	succeed_n(&u1k, 1);
	for (int i = 0; i < 2; i++) {
		cr_assert(can_execute(&u1k, NULL, 0));
		succeed_n(&u1k, 1);
	}
	cr_assert_eq(health(&u1k), ISO_HEALTHY);
	OTHERS_FINE();
}

/* The reference's Scenario 2, step by step. */
Test(registry, scenario2_platform_fails_users_continue)
{
	iso_account_t pc = acct("platform", "platform", "COINBASE");
	iso_account_t others[3] = {
		acct("user", "user1", "COINBASE"),
		acct("user", "user2", "COINBASE"),
		acct("platform", "platform", "KRAKEN"),
	};
	fail_n(&pc, 1, ISO_FAIL_NETWORK);
	cr_assert_eq(health(&pc), ISO_DEGRADED);
	OTHERS_FINE();
	fail_n(&pc, 4, ISO_FAIL_NETWORK);
	cr_assert_eq(health(&pc), ISO_QUARANTINED);
	OTHERS_FINE();
	tu_advance_ms(300000);
	for (int i = 0; i < 3; i++) {
		cr_assert(can_execute(&pc, NULL, 0));
		succeed_n(&pc, 1);
	}
	cr_assert_eq(health(&pc), ISO_HEALTHY, "platform resumes trading");
	OTHERS_FINE();
	for (int i = 0; i < 3; i++) {
		struct iso_status st;
		iso_status(&others[i], &st);
		cr_assert_eq(st.failures, 0, "no user account was affected");
	}
#undef OTHERS_FINE
}

/* [B6] an outcome of work begun before a reset never moves the new
 * episode's breaker, but still counts in the statistics. */
Test(registry, outcome_from_before_a_reset_only_counts_in_statistics)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	iso_permit_t old;
	cr_assert_eq(iso_acquire(&a, &old), 0);
	iso_reset(&a);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(iso_record_failure(&a, &old, ISO_FAIL_API, 0), 0);
	struct iso_status st;
	iso_status(&a, &st);
	cr_assert_eq(st.health, ISO_HEALTHY);
	cr_assert_eq(st.failures, 5);
	iso_permit_t now;
	iso_acquire(&a, &now);
	cr_assert_eq(iso_record_failure(&a, &now, ISO_FAIL_API, 0), 0);
	cr_assert_eq(health(&a), ISO_DEGRADED);
}

/* [M2] a rate limit's retry-after keeps the breaker open that long. */
Test(registry, retry_after_keeps_the_breaker_open_at_least_that_long)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	struct iso_config c;
	iso_config_default(&c);
	c.open_timeout_ms = 1000;
	c.trip_on = ISO_FAIL_MASK(ISO_FAIL_RATE_LIMIT);
	cr_assert_eq(iso_configure(&a, &c), 0);
	cr_assert_eq(iso_record_failure_retry(&a, NULL, ISO_FAIL_RATE_LIMIT, 0,
					      60000), 0);
	tu_advance_ms(59999);
	cr_assert(!can_execute(&a, NULL, 0));
	tu_advance_ms(1);
	cr_assert(can_execute(&a, NULL, 0));
}

/* [B1] per-account config overrides the default and can be reverted. */
Test(registry, per_account_config_overrides_and_reverts)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	iso_account_t b = acct("user", "user2", "KRAKEN");
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 2;
	cr_assert_eq(iso_configure(&a, &c), 0);
	fail_n(&a, 2, ISO_FAIL_API);
	fail_n(&b, 2, ISO_FAIL_API);
	cr_assert_eq(health(&a), ISO_QUARANTINED);
	cr_assert_eq(health(&b), ISO_DEGRADED);
	struct iso_status st;
	iso_status(&a, &st);
	cr_assert(st.config_override);
	cr_assert_eq(st.config.failure_threshold, 2);
	cr_assert_eq(iso_configure(&a, NULL), 0);
	iso_status(&a, &st);
	cr_assert(!st.config_override);
	cr_assert_eq(st.config.failure_threshold, 5);
	c.failure_threshold = 0;
	cr_assert_eq(iso_configure(&a, &c), ISO_EINVAL);
	cr_assert(strstr(iso_last_error(), "failure_threshold"));
	iso_status(&a, &st);
	cr_assert_eq(st.config.failure_threshold, 5, "nothing changed");
}

/* [B2] a halt holds until reset, whatever time does. */
Test(registry, halt_holds_until_reset)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	cr_assert_eq(iso_force_open(&a), 0);
	char why[128];
	cr_assert(!can_execute(&a, why, sizeof(why)));
	cr_assert_str_eq(why, "Halted by operator");
	tu_advance_ms(10ull * 3600 * 1000);
	cr_assert(!can_execute(&a, NULL, 0));
	struct iso_status st;
	iso_status(&a, &st);
	cr_assert_eq(st.breaker, ISO_BREAKER_FORCED_OPEN);
	cr_assert_eq(st.health, ISO_QUARANTINED);
	iso_reset(&a);
	cr_assert(can_execute(&a, NULL, 0));
}

/* Convenience calls by key register like the reference does. */
Test(registry, calls_by_key_register_on_first_use)
{
	iso_permit_t p;
	cr_assert_eq(iso_acquire_by_key(reg, "user", "new", "KRAKEN", &p), 0);
	cr_assert_eq(iso_record_success_by_key(reg, "user", "new", "KRAKEN", 5), 0);
	cr_assert_eq(iso_record_failure_by_key(reg, "user", "new", "KRAKEN",
					       ISO_FAIL_API, 0, 0), 0);
	struct iso_status st;
	cr_assert_eq(iso_status_by_key(reg, "user", "new", "KRAKEN", &st), 0);
	cr_assert_eq(st.operations, 2);
	cr_assert_eq(iso_status_by_key(reg, "user", "other", "KRAKEN", &st),
		     ISO_ENOENT, "status never registers");
	cr_assert_eq(iso_record_success_by_key(reg, "us er", "x", "KRAKEN", 0),
		     ISO_EINVAL);
}

/* [R4] capacity exhausted: ISO_EFULL, clear message, nothing disturbed. */
Test(registry, full_segment_refuses_new_accounts_and_keeps_the_rest)
{
	const char *name = tu_segment("full");
	iso_reg_t *small = tu_create(name, 4, NULL);
	iso_account_t a[4];
	for (int i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "u%d", i);
		cr_assert_eq(iso_register(small, "user", id, "KRAKEN", &a[i]), 0);
		iso_record_success(&a[i], NULL, 0);
	}
	iso_account_t x;
	cr_assert_eq(iso_register(small, "user", "u9", "KRAKEN", &x), ISO_EFULL);
	cr_assert(strstr(iso_last_error(), "full"), "%s", iso_last_error());
	for (int i = 0; i < 4; i++) {
		struct iso_status st;
		cr_assert_eq(iso_status(&a[i], &st), 0);
		cr_assert_eq(st.successes, 1);
	}
	cr_assert_eq(iso_register(small, "user", "u0", "KRAKEN", &x), 0,
		     "existing keys still resolve");
	iso_detach(small);
	iso_unlink(name);
}

/* iso_retire: the handle goes stale, the key can come back, and a slot
 * is reused only after the cooldown with its generation bumped. */
Test(registry, retired_accounts_go_stale_and_slots_return_after_cooldown)
{
	const char *name = tu_segment("retire");
	iso_reg_t *r = NULL;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE, .capacity = 2,
				     .retire_cooldown_ms = 5000 };
	iso_unlink(name);
	cr_assert_eq(iso_attach(name, &o, &r), 0);
	iso_account_t a, b, c;
	cr_assert_eq(iso_register(r, "user", "a", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(r, "user", "b", "KRAKEN", &b), 0);
	iso_record_failure(&a, NULL, ISO_FAIL_API, 0);
	cr_assert_eq(iso_retire(&a), 0);
	iso_permit_t p;
	cr_assert_eq(iso_acquire(&a, &p), ISO_ESTALE);
	cr_assert_eq(iso_record_success(&a, NULL, 0), ISO_ESTALE);
	cr_assert_eq(iso_register(r, "user", "c", "KRAKEN", &c), ISO_EFULL,
		     "the slot is cooling down");
	tu_advance_ms(5000);
	cr_assert_eq(iso_register(r, "user", "c", "KRAKEN", &c), 0);
	cr_assert_eq(c.slot, a.slot, "reused");
	cr_assert_eq(c.gen, a.gen + 1, "generation bumped");
	struct iso_status st;
	iso_status(&c, &st);
	cr_assert_eq(st.failures, 0, "a fresh account");
	cr_assert_eq(iso_record_success(&a, NULL, 0), ISO_ESTALE);
	struct iso_report rep;
	iso_report(r, &rep);
	cr_assert_eq(rep.cross_account_errors, 3, "each stale call counted");
	cr_assert(!rep.isolation_active);
	iso_detach(r);
	iso_unlink(name);
}

/* The segment's default config applies to every account without one. */
Test(registry, segment_default_config_applies_to_accounts_at_once)
{
	iso_account_t a = acct("user", "user1", "KRAKEN");
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 1;
	cr_assert_eq(iso_configure_default(reg, &c), 0);
	fail_n(&a, 1, ISO_FAIL_API);
	cr_assert_eq(health(&a), ISO_QUARANTINED);
	struct iso_segment_info si;
	iso_segment_info(reg, &si);
	cr_assert_eq(si.defaults.failure_threshold, 1);
}

static int count_cb(const struct iso_status *st, void *ctx)
{
	(void)st;
	return ++*(int *)ctx == 2 ? 42 : 0;
}

/* get_all_account_statuses: iso_foreach visits each account; a
 * callback's non-zero return stops it. */
Test(registry, foreach_visits_every_account_and_can_stop)
{
	acct("user", "a", "KRAKEN");
	acct("user", "b", "KRAKEN");
	acct("user", "c", "KRAKEN");
	int n = 0;
	cr_assert_eq(iso_foreach(reg, count_cb, &n), 42);
	cr_assert_eq(n, 2);
}

/* [S2][P5] a slot is at most 512 bytes, and so is the whole segment per
 * account, at any capacity from 256 up (below that the 4 KiB header
 * alone is 16 bytes an account or more), unlucky ones included. */
Test(registry, slot_and_segment_per_account_fit_512_bytes)
{
	const uint32_t caps[] = { 256, 1000, ISO_DEFAULT_CAPACITY, 5462, 10000,
				  65537, 100000, 262144 };
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		char name[128];
		snprintf(name, sizeof(name), "%s", tu_segment("p5"));
		iso_reg_t *r = tu_create(name, caps[i], NULL);
		struct iso_segment_info si;
		iso_segment_info(r, &si);
		cr_log_info("capacity %u: slot %u bytes, segment %llu bytes, "
			    "%llu bytes per account", si.capacity, si.slot_size,
			    (unsigned long long)si.segment_size,
			    (unsigned long long)si.bytes_per_account);
		cr_assert_leq(si.slot_size, 512);
		cr_assert_eq(si.slot_size % 64, 0, "no two slots share a line");
		cr_assert_leq(si.bytes_per_account, 512, "capacity %u: %llu bytes "
			      "per account", caps[i],
			      (unsigned long long)si.bytes_per_account);
		iso_detach(r);
		iso_unlink(name);
	}
}

/*
 * Issue 19 keeps the CLOSED streaks in the counters. What may not move
 * the breaker may not move those streaks either [B6]: an ignored failure
 * type (found by fuzz_api: success, ignored failure, failure tripped a
 * threshold of 2) and a success whose permit is from an older episode.
 */
Test(registry, outcomes_that_move_no_breaker_move_no_streak)
{
	iso_account_t a = acct("user", "streak", "KRAKEN");
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 2;
	c.degrade_after = 4;
	c.ignore = ISO_FAIL_MASK(ISO_FAIL_API);
	cr_assert_eq(iso_configure(&a, &c), 0);
	fail_n(&a, 1, ISO_FAIL_NETWORK);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	fail_n(&a, 1, ISO_FAIL_API); /* ignored */
	fail_n(&a, 1, ISO_FAIL_NETWORK);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.breaker, ISO_BREAKER_CLOSED, "a success came between "
		     "the two counted failures");
	cr_expect_eq(st.consecutive_failures, 1);

	/* A permit from before a reset: its success is statistics only. */
	iso_permit_t old;
	cr_assert_eq(iso_acquire(&a, &old), 0);
	cr_assert_eq(iso_reset(&a), 0);
	fail_n(&a, 1, ISO_FAIL_NETWORK);
	cr_assert_eq(iso_record_success(&a, &old, 0), 0);
	fail_n(&a, 1, ISO_FAIL_NETWORK);
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.breaker, ISO_BREAKER_OPEN, "the old episode's success "
		     "broke the streak: %s", iso_breaker_state_name(st.breaker));
}

/*
 * The streak base can pass the success count for a moment (an older
 * episode's success steps it while a racing failure has just stored it
 * at the count). That is no streak, not a huge one: the account stays
 * DEGRADED until success_threshold real successes.
 */
Test(registry, a_streak_base_past_the_count_is_no_streak)
{
	iso_account_t a = acct("user", "base", "KRAKEN");
	fail_n(&a, 1, ISO_FAIL_NETWORK); /* degrade_after 1: DEGRADED */
	cr_assert_eq(health(&a), ISO_DEGRADED);
	struct iso_slot *s = &reg->slots[a.slot];
	iso_store64_relaxed(&s->successes_at_failure,
			    iso_load64_relaxed(&s->successes) + 2);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	cr_expect_eq(health(&a), ISO_DEGRADED, "healed by an underflowed streak");
}
