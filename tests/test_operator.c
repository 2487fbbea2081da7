/*
 * test_operator.c - operator actions are attributed and distinct [R8]:
 * halt, release, reset, retire and config each make an event with the
 * uid, pid and reason of whoever did it; release lifts only a halt; a plain
 * operator reset leaves a halt alone.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "isoreg.h"
#include "support/util.h"

static iso_reg_t *reg;
static const char *seg;

static void setup(void)
{
	seg = tu_segment("op");
	reg = tu_create(seg, 8, NULL);
}

static void teardown(void)
{
	iso_detach(reg);
	iso_unlink(seg);
}

/* The newest event. */
static struct iso_event last_event(void)
{
	struct iso_event ev[64], e;
	uint64_t cur = 0;
	int n = iso_events_read(reg, &cur, ev, 64, NULL);
	cr_assert_gt(n, 0, "no event");
	e = ev[n - 1];
	return e;
}

TestSuite(operator, .init = setup, .fini = teardown);

Test(operator, halt_and_release_are_events_with_uid_pid_and_reason)
{
	iso_account_t a;
	iso_permit_t p;
	cr_assert_eq(iso_register(reg, "user", "u1", "KRAKEN", &a), 0);
	struct iso_op op = { .reason = "exchange maintenance window" };
	cr_assert_eq(iso_halt(&a, &op), 0, "%s", iso_last_error());
	struct iso_event e = last_event();
	cr_expect_eq(e.cause, ISO_CAUSE_FORCE_OPEN);
	cr_expect_eq(e.uid, (uint32_t)geteuid());
	cr_expect_eq(e.pid, (uint32_t)getpid());
	cr_expect_str_eq(e.reason, "exchange mainten", "the first 16 bytes");
	cr_expect_str_eq(e.key.id, "u1");
	cr_expect_eq(iso_acquire(&a, &p), ISO_EOPEN);

	/* Halting a halted account says so and changes nothing. */
	cr_expect_eq(iso_halt(&a, &op), ISO_EEXIST);

	cr_assert_eq(iso_release(&a, &(struct iso_op){ .reason = "done" }), 0);
	e = last_event();
	cr_expect_eq(e.cause, ISO_CAUSE_RELEASE, "release is not logged as %s",
		     iso_cause_name(e.cause));
	cr_expect_str_eq(e.reason, "done");
	cr_expect_eq(iso_acquire(&a, &p), 0);
	cr_expect_eq(iso_release(&a, NULL), ISO_ENOENT, "nothing to release");
}

Test(operator, a_plain_reset_never_lifts_a_halt)
{
	iso_account_t a;
	iso_permit_t p;
	cr_assert_eq(iso_register(reg, "user", "u2", "KRAKEN", &a), 0);
	cr_assert_eq(iso_halt(&a, NULL), 0);
	cr_expect_eq(iso_reset_op(&a, NULL), ISO_EPERM);
	cr_expect(strstr(iso_last_error(), "release"), "%s", iso_last_error());
	cr_expect_eq(iso_acquire(&a, &p), ISO_EOPEN, "the halt was lifted");
	cr_expect_eq(iso_reset_op(&a, &(struct iso_op){ .flags = ISO_OP_FORCE,
							.reason = "forced" }), 0);
	cr_expect_eq(last_event().cause, ISO_CAUSE_RESET);
	cr_expect_eq(iso_acquire(&a, &p), 0);
	/* A reset of a healthy account is still an operator's action. */
	uint64_t before = iso_events_head(reg);
	cr_expect_eq(iso_reset_op(&a, NULL), 0);
	cr_expect_eq(iso_events_head(reg), before + 1, "the reset left no event");
}

Test(operator, config_retire_and_defaults_are_attributed)
{
	iso_account_t a;
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 9;
	cr_assert_eq(iso_register(reg, "user", "u3", "KRAKEN", &a), 0);
	cr_assert_eq(iso_configure_op(&a, &c, &(struct iso_op){ .reason = "flaky" }), 0);
	struct iso_event e = last_event();
	cr_expect_eq(e.cause, ISO_CAUSE_CONFIG);
	cr_expect_str_eq(e.reason, "flaky");
	cr_assert_eq(iso_configure_default_op(reg, &c, &(struct iso_op){ .reason = "all" }), 0);
	e = last_event();
	cr_expect_eq(e.cause, ISO_CAUSE_DEFAULTS, "a default change leaves no event");
	cr_expect_eq(e.slot, ISO_NO_SLOT);
	cr_assert_eq(iso_retire_op(&a, &(struct iso_op){ .reason = "closed" }), 0);
	e = last_event();
	cr_expect_eq(e.cause, ISO_CAUSE_RETIRE);
	cr_expect_str_eq(e.reason, "closed");
}

Test(operator, bad_reasons_are_refused_and_change_nothing)
{
	iso_account_t a;
	char longr[ISO_OP_REASON_MAX + 2];
	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	cr_assert_eq(iso_register(reg, "user", "u4", "KRAKEN", &a), 0);
	uint64_t before = iso_events_head(reg);
	cr_expect_eq(iso_halt(&a, &(struct iso_op){ .reason = "evil\x1b[2J" }), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "printable"), "%s", iso_last_error());
	cr_expect_eq(iso_halt(&a, &(struct iso_op){ .reason = longr }), ISO_EINVAL);
	cr_expect_eq(iso_halt(&a, &(struct iso_op){ .flags = 0x80 }), ISO_EINVAL);
	cr_expect_eq(iso_events_head(reg), before);
	struct iso_status st;
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_eq(st.breaker, ISO_BREAKER_CLOSED);
}

/* [R8] a broker halt refuses every account of the broker, those
 * registered later too, leaves other brokers alone, and on release every
 * account comes back as its own breaker says (an individual halt stays). */
Test(operator, broker_halt_covers_later_accounts_and_releases_cleanly)
{
	iso_account_t k1, k2, k3, c1;
	iso_permit_t p;
	struct iso_status st;
	cr_assert_eq(iso_register(reg, "user", "k1", "KRAKEN", &k1), 0);
	cr_assert_eq(iso_register(reg, "user", "k2", "KRAKEN", &k2), 0);
	cr_assert_eq(iso_register(reg, "user", "c1", "COINBASE", &c1), 0);
	cr_assert_eq(iso_halt(&k2, &(struct iso_op){ .reason = "this one" }), 0);
	cr_assert_eq(iso_halt_broker(reg, "kraken", &(struct iso_op){ .reason = "outage" }), 0);
	struct iso_event e = last_event();
	cr_expect_eq(e.cause, ISO_CAUSE_BROKER_HALT);
	cr_expect_str_eq(e.key.broker, "KRAKEN");
	cr_expect_eq(iso_halt_broker(reg, "KRAKEN", NULL), ISO_EEXIST);

	cr_expect_eq(iso_acquire(&k1, &p), ISO_EOPEN);
	cr_expect_eq(p.reason, ISO_REASON_FORCED_OPEN);
	cr_expect_eq(iso_acquire(&c1, &p), 0, "another broker was halted");
	cr_assert_eq(iso_register(reg, "user", "k3", "KRAKEN", &k3), 0);
	cr_expect_eq(iso_acquire(&k3, &p), ISO_EOPEN, "a later account trades");
	cr_assert_eq(iso_status(&k3, &st), 0);
	cr_expect(st.broker_halted && st.health == ISO_QUARANTINED &&
		  st.breaker == ISO_BREAKER_FORCED_OPEN);
	char names[4][ISO_BROKER_MAX + 1];
	cr_expect_eq(iso_halted_brokers(reg, names, 4), 1);
	cr_expect_str_eq(names[0], "KRAKEN");

	cr_assert_eq(iso_release_broker(reg, "KRAKEN", NULL), 0);
	cr_expect_eq(last_event().cause, ISO_CAUSE_BROKER_RELEASE);
	cr_expect_eq(iso_acquire(&k1, &p), 0);
	cr_expect_eq(iso_acquire(&k3, &p), 0);
	cr_expect_eq(iso_acquire(&k2, &p), ISO_EOPEN, "the account's own halt was lifted");
	cr_expect_eq(iso_release_broker(reg, "KRAKEN", NULL), ISO_ENOENT);
	cr_expect_eq(iso_halted_brokers(reg, names, 4), 0);
}
