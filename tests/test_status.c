/*
 * test_status.c - reading one account: iso_status_lite against the full
 * snapshot it abridges, in every breaker state and across the lazy
 * transitions that only time makes [B2][B3][B5][M1]; and what it says of
 * an account retired, or whose slot another key now holds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/util.h"

static iso_reg_t *reg;
static char seg[128]; /* a copy: tu_segment reuses its buffer */

static void setup(void)
{
	tu_clock_install();
	snprintf(seg, sizeof(seg), "%s", tu_segment("status"));
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 4, .retire_cooldown_ms = 1 };
	iso_unlink(seg);
	cr_assert_eq(iso_attach(seg, &o, &reg), 0, "%s", iso_last_error());
}

static void teardown(void)
{
	iso_clock_set(NULL, NULL);
	iso_detach(reg);
	iso_unlink(seg);
}

TestSuite(status, .init = setup, .fini = teardown);

/*
 * Read both and hold every field the lite status has to the full one's.
 * The test clock stands still between the two reads, so they must agree
 * exactly. Returns the lite status for the caller's own expectations.
 */
static struct iso_status_lite both(const iso_account_t *a, const char *step)
{
	struct iso_status f;
	struct iso_status_lite l;
	memset(&l, 0x5a, sizeof(l)); /* every field must be written */
	cr_assert_eq(iso_status(a, &f), 0, "%s: %s", step, iso_last_error());
	cr_assert_eq(iso_status_lite(a, &l), 0, "%s: %s", step, iso_last_error());
#define SAME(field)                                                          \
	cr_expect_eq(l.field, f.field, "%s: " #field " lite %lld, full %lld",  \
		     step, (long long)l.field, (long long)f.field)
	SAME(health);
	SAME(breaker);
	SAME(broker_halted);
	SAME(consecutive_failures);
	SAME(consecutive_successes);
	SAME(probes_in_flight);
	SAME(backoff_step);
	SAME(episode);
	SAME(retry_in_ms);
	SAME(operations);
	SAME(successes);
	SAME(failures);
	for (int i = 0; i < ISO_FAIL__COUNT; i++)
		SAME(failures_by_type[i]);
	SAME(quarantines);
	SAME(last_success_ms);
	SAME(last_failure_ms);
	SAME(ema_op_ns);
#undef SAME
	return l;
}

/* [B2][B3][B5][M1] Lite equals full through every breaker state, each
 * lazy transition seen by both before anything is written (OPEN turning
 * HALF_OPEN at its timeout, a lost probe's permit freed after
 * probe_timeout_ms), a halt, a broker halt and a reset; and time passing
 * in CLOSED changes neither. */
Test(status, lite_equals_full_in_every_breaker_state)
{
	iso_account_t a, other;
	iso_permit_t p;
	cr_assert_eq(iso_register(reg, "user", "u1", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(reg, "user", "u2", "BINANCE", &other), 0);
	/* Its own config, so a lite status that read the segment default
	 * instead would free the lost probe 25 s late. */
	struct iso_config cfg;
	iso_config_default(&cfg);
	cfg.probe_timeout_ms = 5000;
	cr_assert_eq(iso_configure(&a, &cfg), 0, "%s", iso_last_error());
	struct iso_status_lite l = both(&a, "new");
	cr_expect(l.health == ISO_HEALTHY && l.operations == 0);

	cr_assert_eq(iso_record_success(&a, NULL, 2000000), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 4000000), 0);
	l = both(&a, "two successes");
	cr_expect(l.consecutive_successes == 2 && l.ema_op_ns > 0);
	tu_advance_ms(3600 * 1000);
	both(&a, "an hour of CLOSED");

	cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 1000000), 0);
	l = both(&a, "one failure");
	cr_expect(l.health == ISO_DEGRADED && l.consecutive_failures == 1);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	both(&a, "degraded, one success");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, i % 2 ? ISO_FAIL_API
						    : ISO_FAIL_RATE_LIMIT, 0), 0);
	l = both(&a, "tripped");
	cr_expect(l.health == ISO_QUARANTINED && l.breaker == ISO_BREAKER_OPEN);
	cr_expect_eq(l.retry_in_ms, 300000);
	cr_expect_eq(l.failures, 6);
	tu_advance_ms(120000);
	l = both(&a, "two minutes into OPEN");
	cr_expect_eq(l.retry_in_ms, 180000);

	tu_advance_ms(180000); /* the timeout: no call has written anything */
	l = both(&a, "OPEN past its timeout");
	cr_expect(l.health == ISO_RECOVERING && l.breaker == ISO_BREAKER_HALF_OPEN,
		  "the lazy OPEN -> HALF_OPEN is not seen: health %d", l.health);
	cr_assert_eq(iso_acquire(&a, &p), 0);
	l = both(&a, "a probe out");
	cr_expect_eq(l.probes_in_flight, 1);
	tu_advance_ms(5000); /* probe_timeout_ms: the permit frees itself */
	l = both(&a, "the probe lost");
	cr_expect_eq(l.probes_in_flight, 0);
	cr_assert_eq(iso_acquire(&a, &p), 0);
	cr_assert_eq(iso_record_failure(&a, &p, ISO_FAIL_API, 0), 0);
	l = both(&a, "a failed recovery");
	cr_expect(l.health == ISO_FAILING && l.backoff_step == 1);
	cr_expect_eq(l.retry_in_ms, 600000, "backed off x2");

	cr_assert_eq(iso_force_open(&a), 0);
	l = both(&a, "halted");
	cr_expect(l.breaker == ISO_BREAKER_FORCED_OPEN && l.retry_in_ms == 0);
	cr_assert_eq(iso_reset(&a), 0);
	l = both(&a, "reset");
	cr_expect(l.health == ISO_HEALTHY && l.quarantines >= 1);

	cr_assert_eq(iso_halt_broker(reg, "KRAKEN", NULL), 0);
	l = both(&a, "its broker halted");
	cr_expect(l.broker_halted && l.breaker == ISO_BREAKER_FORCED_OPEN &&
		  l.health == ISO_QUARANTINED);
	l = both(&other, "another broker's account");
	cr_expect(!l.broker_halted && l.health == ISO_HEALTHY);
	cr_assert_eq(iso_release_broker(reg, "KRAKEN", NULL), 0);
	l = both(&a, "broker released");
	cr_expect(!l.broker_halted && l.health == ISO_HEALTHY);
}

/* Lite reads only: it works through a read-only attachment, and reading
 * moves nothing (the lazy transition stays lazy). */
Test(status, lite_works_read_only_and_writes_nothing)
{
	iso_account_t a, ra;
	iso_reg_t *ro;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_RDONLY };
	cr_assert_eq(iso_register(reg, "user", "u1", "KRAKEN", &a), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 0), 0);
	tu_advance_ms(300000);
	cr_assert_eq(iso_attach(seg, &o, &ro), 0, "%s", iso_last_error());
	cr_assert_eq(iso_lookup(ro, "user", "u1", "KRAKEN", &ra), 0);
	struct iso_status_lite l;
	cr_assert_eq(iso_status_lite(&ra, &l), 0, "%s", iso_last_error());
	cr_expect_eq(l.health, ISO_RECOVERING);
	cr_expect_eq(l.failures_by_type[ISO_FAIL_API], 5);
	struct iso_status f;
	cr_assert_eq(iso_status(&a, &f), 0);
	cr_expect_eq(f.last_cause, ISO_CAUSE_FAILURE,
		     "reading made the transition (cause %d)", f.last_cause);
	iso_detach(ro);
}

/* [S5] A handle whose account was retired is refused, and so is one whose
 * slot another key now holds: lite never shows the next account. */
Test(status, lite_of_a_retired_or_reused_account_is_stale)
{
	iso_reg_t *r1;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 1, .retire_cooldown_ms = 1 };
	char name[128];
	snprintf(name, sizeof(name), "%s", tu_segment("status1"));
	iso_unlink(name);
	cr_assert_eq(iso_attach(name, &o, &r1), 0, "%s", iso_last_error());
	iso_clock_set(NULL, NULL); /* the cooldown runs on the real clock */

	iso_account_t a, b;
	struct iso_status_lite l;
	cr_assert_eq(iso_register(r1, "user", "alice", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_success(&a, NULL, 0), 0);
	cr_assert_eq(iso_retire(&a), 0);
	cr_expect_eq(iso_status_lite(&a, &l), ISO_ESTALE, "retired, then read");
	usleep(5000);
	cr_assert_eq(iso_register(r1, "user", "bob", "KRAKEN", &b), 0);
	cr_assert_eq(b.slot, a.slot);
	cr_expect_eq(iso_status_lite(&a, &l), ISO_ESTALE,
		     "alice's handle read bob's account");
	cr_assert_eq(iso_status_lite(&b, &l), 0);
	cr_expect_eq(l.successes, 0, "bob starts from nothing");
	iso_detach(r1);
	iso_unlink(name);
}

/*
 * A clock that, the first time it is read while armed, retires alice and
 * registers bob into her slot, with a failure on his account: a retire and
 * reuse landing in the middle of a status read (the read takes the clock
 * after the breaker word and before the counters, in OPEN).
 */
struct midread {
	uint64_t now_ns;
	bool armed, busy;
	iso_reg_t *reg;
	iso_account_t alice, bob;
	int rc;
};

static uint64_t midread_clock(void *ctx)
{
	struct midread *m = ctx;
	if (m->armed && !m->busy) {
		m->busy = true; /* registration reads the clock too */
		m->armed = false;
		m->rc = iso_retire(&m->alice);
		m->now_ns += 10 * 1000000ull; /* past the 1 ms cooldown */
		if (!m->rc)
			m->rc = iso_register(m->reg, "user", "bob", "KRAKEN", &m->bob);
		if (!m->rc)
			m->rc = iso_record_failure(&m->bob, NULL, ISO_FAIL_API, 0);
		m->busy = false;
	}
	return m->now_ns;
}

/* [S5] The account retired and its slot given to another key while the
 * status is being read: lite (and full) answer ESTALE, never a mix of
 * alice's breaker and bob's counters. */
Test(status, lite_read_across_a_retire_and_reuse_is_stale)
{
	static struct midread m = { .now_ns = 1000ull * 1000000000ull };
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 1, .retire_cooldown_ms = 1 };
	char name[128];
	snprintf(name, sizeof(name), "%s", tu_segment("status2"));
	iso_unlink(name);
	iso_clock_set(midread_clock, &m);
	cr_assert_eq(iso_attach(name, &o, &m.reg), 0, "%s", iso_last_error());
	for (int full = 0; full < 2; full++) {
		cr_assert_eq(iso_register(m.reg, "user", "alice", "KRAKEN", &m.alice), 0,
			     "%s", iso_last_error());
		for (int i = 0; i < 5; i++) /* OPEN: the read takes the clock */
			cr_assert_eq(iso_record_failure(&m.alice, NULL, ISO_FAIL_API, 0), 0);
		m.armed = true;
		struct iso_status_lite l;
		struct iso_status f;
		int rc = full ? iso_status(&m.alice, &f) : iso_status_lite(&m.alice, &l);
		cr_assert_eq(m.rc, 0, "the reuse mid-read failed: %s", iso_last_error());
		cr_assert_eq(m.bob.slot, m.alice.slot, "capacity 1: the slot is reused");
		cr_expect_eq(rc, ISO_ESTALE, "%s read across a reuse answered %d",
			     full ? "iso_status" : "iso_status_lite", rc);
		cr_assert_eq(iso_retire(&m.bob), 0);
		m.now_ns += 10 * 1000000ull;
	}
	iso_clock_set(NULL, NULL);
	iso_detach(m.reg);
	iso_unlink(name);
}
