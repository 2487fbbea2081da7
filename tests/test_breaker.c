/*
 * test_breaker.c - the pure transition function against SPEC §3 [B2]-[B6],
 * [B8], [M2]: every breaker state x every event, exhaustively, then the
 * properties a table cannot show (back-off doubling, the half-open case
 * the reference gets wrong, observe-only).
 */
#include <criterion/criterion.h>

#include "breaker.h"

#define NOW 100000u

static struct iso_config cfg(void)
{
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 3;
	c.success_threshold = 2;
	c.half_open_max_calls = 1;
	c.degrade_after = 1;
	c.open_timeout_ms = 1000;
	c.max_open_timeout_ms = 8000;
	c.probe_timeout_ms = 500;
	c.trip_on = ISO_FAIL_MASK(ISO_FAIL_AUTHENTICATION);
	c.ignore = ISO_FAIL_MASK(ISO_FAIL_BALANCE);
	return c;
}

/* The starting states: one per row of SPEC §3's table, and its edges. */
enum st {
	S_HEALTHY, S_DEGRADED, S_DEGRADED_EDGE, S_DEGRADED_MENDING,
	S_QUARANTINED, S_QUARANTINED_DUE, S_RECOVERING, S_RECOVERING_FULL,
	S_RECOVERING_LAST, S_RECOVERING_LOST, S_FAILING, S_FORCED, S__N
};
static const char *st_name[S__N] = {
	"HEALTHY", "DEGRADED", "DEGRADED(one failure from trip)",
	"DEGRADED(one success from healthy)", "QUARANTINED",
	"QUARANTINED(timeout passed)", "RECOVERING(permit free)",
	"RECOVERING(permits taken)", "RECOVERING(one success from closed)",
	"RECOVERING(probe lost)", "FAILING", "FORCED_OPEN",
};

static struct iso_bw start(enum st s)
{
	struct iso_bw b = iso_bw_initial(7, NOW - 50);
	b.episode = 10;
	switch (s) {
	case S_HEALTHY: break;
	case S_DEGRADED: b.degraded = true; b.cf = 1; break;
	case S_DEGRADED_EDGE: b.degraded = true; b.cf = 2; break;
	case S_DEGRADED_MENDING: b.degraded = true; break; /* see counters() */
	case S_QUARANTINED: b.state = ISO_BREAKER_OPEN; b.cf = 3;
		b.time_ms = NOW + 500; break;
	case S_QUARANTINED_DUE: b.state = ISO_BREAKER_OPEN; b.cf = 3;
		b.time_ms = NOW - 1; break;
	case S_RECOVERING: b.state = ISO_BREAKER_HALF_OPEN; b.time_ms = NOW; break;
	case S_RECOVERING_FULL: b.state = ISO_BREAKER_HALF_OPEN; b.probes = 1;
		b.time_ms = NOW - 10; break;
	case S_RECOVERING_LAST: b.state = ISO_BREAKER_HALF_OPEN; b.cs = 1;
		b.time_ms = NOW; break;
	case S_RECOVERING_LOST: b.state = ISO_BREAKER_HALF_OPEN; b.probes = 1;
		b.time_ms = NOW - 600; break;
	case S_FAILING: b.state = ISO_BREAKER_OPEN; b.backoff = 1; b.cf = 4;
		b.time_ms = NOW + 500; break;
	case S_FORCED: b.state = ISO_BREAKER_FORCED_OPEN; b.time_ms = NOW - 5;
		break;
	default: break;
	}
	return b;
}

enum ev {
	E_ACQUIRE, E_SUCCESS, E_FAILURE, E_FAILURE_TRIP_ON, E_FAILURE_IGNORED,
	E_SUCCESS_OLD, E_FAILURE_OLD, E_TICK, E_RESET, E_FORCE_OPEN,
	E_FAILURE_RETRY_AFTER, E_RATE_TRIP, E__N
};
static const char *ev_name[E__N] = {
	"acquire", "success", "failure", "failure(trip_on type)",
	"failure(ignored type)", "success(old episode)",
	"failure(old episode)", "tick", "reset", "force_open",
	"failure(retry-after 5 s)", "rate trip [B7]",
};

static struct iso_bevent event(enum ev e)
{
	struct iso_bevent v = { 0 };
	switch (e) {
	case E_ACQUIRE: v.kind = ISO_BEV_ACQUIRE; break;
	case E_SUCCESS: v.kind = ISO_BEV_SUCCESS; break;
	case E_FAILURE: v.kind = ISO_BEV_FAILURE; v.ftype = ISO_FAIL_API; break;
	case E_FAILURE_TRIP_ON: v.kind = ISO_BEV_FAILURE;
		v.ftype = ISO_FAIL_AUTHENTICATION; break;
	case E_FAILURE_IGNORED: v.kind = ISO_BEV_FAILURE;
		v.ftype = ISO_FAIL_BALANCE; break;
	case E_SUCCESS_OLD: v.kind = ISO_BEV_SUCCESS; v.old_episode = true; break;
	case E_FAILURE_OLD: v.kind = ISO_BEV_FAILURE; v.ftype = ISO_FAIL_API;
		v.old_episode = true; break;
	case E_TICK: v.kind = ISO_BEV_TICK; break;
	case E_RESET: v.kind = ISO_BEV_RESET; break;
	case E_FORCE_OPEN: v.kind = ISO_BEV_FORCE_OPEN; break;
	case E_FAILURE_RETRY_AFTER: v.kind = ISO_BEV_FAILURE;
		v.ftype = ISO_FAIL_RATE_LIMIT; v.retry_after_ms = 5000; break;
	case E_RATE_TRIP: v.kind = ISO_BEV_RATE_TRIP; break;
	default: break;
	}
	return v;
}

/*
 * What the slot's counters say beside the word [B4]: in DEGRADED_MENDING
 * one success came since the last failure, so the next success's streak
 * is 2 and the next failure starts a new streak.
 */
static void counters(enum st s, struct iso_bevent *v)
{
	if (s != S_DEGRADED_MENDING)
		return;
	if (v->kind == ISO_BEV_SUCCESS)
		v->streak = 2;
	if (v->kind == ISO_BEV_FAILURE)
		v->after_success = true;
}

/* Expected health after each state x event, from SPEC §3's table.
 * H healthy, D degraded, R recovering, Q quarantined, F failing. */
static const char expect_health[S__N][E__N + 1] = {
	/*                      ACQ SUC FAI TRP IGN SOL FOL TIK RST FRC RTY RAT */
	[S_HEALTHY]          = "H" "H" "D" "Q" "H" "H" "H" "H" "H" "Q" "D" "Q",
	[S_DEGRADED]         = "D" "D" "D" "Q" "D" "D" "D" "D" "H" "Q" "D" "Q",
	[S_DEGRADED_EDGE]    = "D" "D" "Q" "Q" "D" "D" "D" "D" "H" "Q" "Q" "Q",
	[S_DEGRADED_MENDING] = "D" "H" "D" "Q" "D" "D" "D" "D" "H" "Q" "D" "Q",
	[S_QUARANTINED]      = "Q" "Q" "Q" "Q" "Q" "Q" "Q" "Q" "H" "Q" "Q" "Q",
	[S_QUARANTINED_DUE]  = "R" "R" "F" "F" "R" "R" "R" "R" "H" "Q" "F" "R",
	[S_RECOVERING]       = "R" "R" "F" "F" "R" "R" "R" "R" "H" "Q" "F" "R",
	[S_RECOVERING_FULL]  = "R" "R" "F" "F" "R" "R" "R" "R" "H" "Q" "F" "R",
	[S_RECOVERING_LAST]  = "R" "H" "F" "F" "R" "R" "R" "R" "H" "Q" "F" "R",
	[S_RECOVERING_LOST]  = "R" "R" "F" "F" "R" "R" "R" "R" "H" "Q" "F" "R",
	[S_FAILING]          = "F" "F" "F" "F" "F" "F" "F" "F" "H" "Q" "F" "F",
	[S_FORCED]           = "Q" "Q" "Q" "Q" "Q" "Q" "Q" "Q" "H" "Q" "Q" "Q",
};

/* May it act? (acquire only) 1 yes, 0 no. */
static const int expect_allowed[S__N] = {
	[S_HEALTHY] = 1, [S_DEGRADED] = 1, [S_DEGRADED_EDGE] = 1,
	[S_DEGRADED_MENDING] = 1, [S_QUARANTINED] = 0, [S_QUARANTINED_DUE] = 1,
	[S_RECOVERING] = 1, [S_RECOVERING_FULL] = 0, [S_RECOVERING_LAST] = 1,
	[S_RECOVERING_LOST] = 1, [S_FAILING] = 0, [S_FORCED] = 0,
};

static const int expect_reason[S__N] = {
	[S_HEALTHY] = ISO_REASON_HEALTHY, [S_DEGRADED] = ISO_REASON_DEGRADED,
	[S_DEGRADED_EDGE] = ISO_REASON_DEGRADED,
	[S_DEGRADED_MENDING] = ISO_REASON_DEGRADED,
	[S_QUARANTINED] = ISO_REASON_OPEN,
	[S_QUARANTINED_DUE] = ISO_REASON_RECOVERY,
	[S_RECOVERING] = ISO_REASON_PROBE,
	[S_RECOVERING_FULL] = ISO_REASON_HALF_OPEN_LIMIT,
	[S_RECOVERING_LAST] = ISO_REASON_PROBE,
	[S_RECOVERING_LOST] = ISO_REASON_PROBE,
	[S_FAILING] = ISO_REASON_OPEN, [S_FORCED] = ISO_REASON_FORCED_OPEN,
};

static char letter(enum iso_health h)
{
	return "HDRQF"[h];
}

/* [B4] every state x every event, against the SPEC §3 table. */
Test(breaker, every_state_and_event_matches_the_spec_table)
{
	struct iso_config c = cfg();
	int checked = 0;
	for (int s = 0; s < S__N; s++) {
		for (int e = 0; e < E__N; e++) {
			struct iso_bw from = start((enum st)s);
			struct iso_bevent ev = event((enum ev)e);
			counters((enum st)s, &ev);
			struct iso_bout out;
			struct iso_bw to = iso_breaker_next(from, &ev, &c, NOW, &out);
			char got = letter(iso_bw_health(&to));
			cr_expect_eq(got, expect_health[s][e],
				     "%s + %s: health %c, SPEC says %c",
				     st_name[s], ev_name[e], got,
				     expect_health[s][e]);
			cr_expect(iso_bw_valid(&to), "%s + %s: illegal word",
				  st_name[s], ev_name[e]);
			cr_expect_eq(to.gen, from.gen, "gen never changes");
			cr_expect_eq(to.seq, from.seq, "seq is the CAS loop's");
			if (e == E_ACQUIRE) {
				cr_expect_eq(out.allowed, expect_allowed[s],
					     "%s: allowed %d", st_name[s],
					     out.allowed);
				cr_expect_eq(out.reason, expect_reason[s],
					     "%s: reason %s", st_name[s],
					     iso_reason_name(out.reason));
			}
			/* [B6] outcomes of an older episode never move the
			 * breaker beyond what time alone does. */
			if (e == E_SUCCESS_OLD || e == E_FAILURE_OLD) {
				struct iso_bevent t = { .kind = ISO_BEV_TICK };
				struct iso_bw ticked = iso_breaker_next(from, &t, &c, NOW, NULL);
				cr_expect(iso_bw_equal(&to, &ticked),
					  "%s + %s moved the breaker",
					  st_name[s], ev_name[e]);
			}
			checked++;
		}
	}
	cr_assert_eq(checked, S__N * E__N);
}

/* Episode moves on trip, halt and reset, and only then [B6]. */
Test(breaker, episode_moves_on_trip_halt_and_reset_only)
{
	struct iso_config c = cfg();
	for (int s = 0; s < S__N; s++) {
		for (int e = 0; e < E__N; e++) {
			struct iso_bw from = start((enum st)s);
			struct iso_bevent ev = event((enum ev)e);
			struct iso_bw to = iso_breaker_next(from, &ev, &c, NOW, NULL);
			bool entered_open =
				(to.state == ISO_BREAKER_OPEN &&
				 from.state != ISO_BREAKER_OPEN) ||
				(to.state == ISO_BREAKER_OPEN &&
				 s == S_QUARANTINED_DUE);
			bool forced = to.state == ISO_BREAKER_FORCED_OPEN &&
				      from.state != ISO_BREAKER_FORCED_OPEN;
			bool moved = to.episode != from.episode;
			cr_expect_eq(moved, entered_open || forced || e == E_RESET,
				     "%s + %s: episode %u -> %u", st_name[s],
				     ev_name[e], from.episode, to.episode);
		}
	}
}

/* [B5][B6] a trip opens for open_timeout; retry-after is a floor [M2]. */
Test(breaker, open_time_is_timeout_or_retry_after_whichever_is_longer)
{
	struct iso_config c = cfg();
	struct iso_bevent f = event(E_FAILURE);
	struct iso_bevent r = event(E_FAILURE_RETRY_AFTER);
	struct iso_bw b = iso_breaker_next(start(S_DEGRADED_EDGE), &f, &c, NOW, NULL);
	cr_assert_eq(b.time_ms, NOW + 1000);
	b = iso_breaker_next(start(S_DEGRADED_EDGE), &r, &c, NOW, NULL);
	cr_assert_eq(b.time_ms, NOW + 5000);
	r.retry_after_ms = 10;
	b = iso_breaker_next(start(S_DEGRADED_EDGE), &r, &c, NOW, NULL);
	cr_assert_eq(b.time_ms, NOW + 1000, "a short retry-after does not "
		     "shorten the open time");
}

/* [B3] each failed recovery doubles the open time, up to the cap. */
Test(breaker, failed_recoveries_back_off_doubling_up_to_the_cap)
{
	struct iso_config c = cfg(); /* open 1000, cap 8000 */
	struct iso_bevent acq = event(E_ACQUIRE), f = event(E_FAILURE);
	struct iso_bw b = iso_breaker_next(start(S_DEGRADED_EDGE), &f, &c, NOW, NULL);
	uint64_t now = NOW, expect[] = { 2000, 4000, 8000, 8000, 8000 };
	cr_assert_eq(iso_bw_health(&b), ISO_QUARANTINED);
	for (int i = 0; i < 5; i++) {
		now = b.time_ms; /* the timeout passes */
		struct iso_bout out;
		b = iso_breaker_next(b, &acq, &c, now, &out);
		cr_assert(out.allowed && out.probe, "round %d: a probe", i);
		cr_assert_eq(iso_bw_health(&b), ISO_RECOVERING);
		b = iso_breaker_next(b, &f, &c, now, NULL);
		cr_assert_eq(iso_bw_health(&b), ISO_FAILING);
		cr_assert_eq(b.time_ms - now, expect[i], "round %d: open %llu ms",
			     i, (unsigned long long)(b.time_ms - now));
	}
	/* Recovery resets the back-off. */
	now = b.time_ms;
	struct iso_bevent s = event(E_SUCCESS);
	for (int i = 0; i < 2; i++) {
		b = iso_breaker_next(b, &acq, &c, now, NULL);
		b = iso_breaker_next(b, &s, &c, now, NULL);
	}
	cr_assert_eq(iso_bw_health(&b), ISO_HEALTHY);
	cr_assert_eq(b.backoff, 0);
}

/* [B6] the reference cannot close when half_open_max_calls <
 * success_threshold; ours closes after three probes taken one at a time. */
Test(breaker, one_permit_three_successes_closes_after_three_probes)
{
	struct iso_config c = cfg();
	c.half_open_max_calls = 1;
	c.success_threshold = 3;
	struct iso_bevent acq = event(E_ACQUIRE), s = event(E_SUCCESS);
	struct iso_bw b = start(S_QUARANTINED_DUE);
	for (int i = 0; i < 3; i++) {
		struct iso_bout out;
		cr_assert_eq(iso_bw_health(&b), i ? ISO_RECOVERING : ISO_QUARANTINED);
		b = iso_breaker_next(b, &acq, &c, NOW, &out);
		cr_assert(out.allowed, "probe %d refused", i);
		b = iso_breaker_next(b, &acq, &c, NOW, &out);
		cr_assert(!out.allowed, "a second concurrent probe is refused");
		cr_assert_eq(out.reason, ISO_REASON_HALF_OPEN_LIMIT);
		b = iso_breaker_next(b, &s, &c, NOW, NULL);
		cr_assert_eq(b.probes, 0, "success released the permit");
	}
	cr_assert_eq(iso_bw_health(&b), ISO_HEALTHY);
	cr_assert_eq(b.state, ISO_BREAKER_CLOSED);
}

/* [B6] a probe whose outcome never comes frees its permit. */
Test(breaker, lost_probe_frees_its_permit_after_probe_timeout)
{
	struct iso_config c = cfg();
	struct iso_bevent acq = event(E_ACQUIRE);
	struct iso_bout out;
	struct iso_bw b = iso_breaker_next(start(S_RECOVERING), &acq, &c, NOW, &out);
	cr_assert(out.allowed);
	b = iso_breaker_next(b, &acq, &c, NOW + 499, &out);
	cr_assert(!out.allowed, "still held just before probe_timeout");
	cr_assert_eq(out.retry_in_ms, 1);
	b = iso_breaker_next(b, &acq, &c, NOW + 500, &out);
	cr_assert(out.allowed, "free at probe_timeout");
}

/* [B2] FORCED_OPEN never reopens by itself, however long it waits. */
Test(breaker, forced_open_never_reopens_by_itself)
{
	struct iso_config c = cfg();
	struct iso_bevent acq = event(E_ACQUIRE);
	struct iso_bout out;
	struct iso_bw b = iso_breaker_next(start(S_FORCED), &acq, &c,
					   NOW + 1000ull * 3600 * 24 * 365, &out);
	cr_assert(!out.allowed);
	cr_assert_eq(b.state, ISO_BREAKER_FORCED_OPEN);
}

/* [B8] observe-only computes transitions but never refuses; a halt
 * still refuses. */
Test(breaker, observe_only_never_refuses_but_still_trips)
{
	struct iso_config c = cfg();
	c.flags = ISO_CFG_OBSERVE_ONLY;
	struct iso_bevent acq = event(E_ACQUIRE), f = event(E_FAILURE);
	struct iso_bout out;
	struct iso_bw b = iso_breaker_next(start(S_DEGRADED_EDGE), &f, &c, NOW, NULL);
	cr_assert_eq(iso_bw_health(&b), ISO_QUARANTINED, "still trips");
	iso_breaker_next(b, &acq, &c, NOW, &out);
	cr_assert(out.allowed);
	cr_assert_eq(out.reason, ISO_REASON_OBSERVED);
	cr_assert_eq(out.retry_in_ms, 1000);
	iso_breaker_next(start(S_FORCED), &acq, &c, NOW, &out);
	cr_assert(!out.allowed, "an operator's halt is not lifted");
}

/* Saturating counts: a thousand failures in CLOSED never wrap. */
Test(breaker, counts_saturate_instead_of_wrapping)
{
	struct iso_config c = cfg();
	c.failure_threshold = 255;
	struct iso_bevent f = event(E_FAILURE);
	struct iso_bw b = start(S_HEALTHY);
	for (int i = 0; i < 254; i++)
		b = iso_breaker_next(b, &f, &c, NOW, NULL);
	cr_assert_eq(b.cf, 254);
	cr_assert_eq(iso_bw_health(&b), ISO_DEGRADED);
	b = iso_breaker_next(b, &f, &c, NOW, NULL);
	cr_assert_eq(iso_bw_health(&b), ISO_QUARANTINED);
	cr_assert_eq(b.cf, 255);
}

/* The packed word round-trips every field. */
Test(breaker, word_packs_and_unpacks_every_field)
{
	struct iso_bw b = {
		.gen = 0xdeadbeef, .state = ISO_BREAKER_HALF_OPEN, .degraded = false,
		.backoff = 31, .cf = 200, .cs = 17, .probes = 255,
		.episode = 0xfffe, .time_ms = (1ull << 40) - 2, .seq = 0xab,
	};
	struct iso_bw c = iso_bw_unpack(iso_bw_pack(&b));
	cr_assert(iso_bw_equal(&b, &c));
	/* [B4] the whole 32-bit slot generation: a stale handle's CAS fails
	 * however many times the slot was reused (not just 65,536). */
	cr_assert_eq(c.gen, 0xdeadbeef);
	cr_assert_eq(c.backoff, 31);
	cr_assert_eq(c.cf, 200);
	cr_assert_eq(c.cs, 17);
	cr_assert_eq(c.probes, 255);
	cr_assert_eq(c.episode, 0xfffe);
	cr_assert_eq(c.time_ms, (1ull << 40) - 2);
	cr_assert_eq(c.seq, 0xab);
}

/*
 * [B4] issue 19: in CLOSED an outcome that moves no state leaves the
 * word as it is (so the caller needs no CAS): every success of a healthy
 * account, whatever failure streak came before; every success of a
 * degraded one short of success_threshold. The streaks live in the
 * counters and reach the function through the event.
 */
Test(breaker, closed_outcomes_that_move_no_state_leave_the_word_alone)
{
	struct iso_config c = cfg(); /* success_threshold 2, trip at 3 */
	c.degrade_after = 2;
	struct iso_bw h = start(S_HEALTHY);
	h.cf = 1; /* one failure, below degrade_after */
	struct iso_bevent s = event(E_SUCCESS);
	struct iso_bw to = iso_breaker_next(h, &s, &c, NOW, NULL);
	cr_expect(iso_bw_equal(&to, &h), "a healthy success wrote the word");

	struct iso_bw d = start(S_DEGRADED);
	s.streak = 1;
	to = iso_breaker_next(d, &s, &c, NOW, NULL);
	cr_expect(iso_bw_equal(&to, &d), "a degraded success short of the "
		  "threshold wrote the word");
	s.streak = 2;
	to = iso_breaker_next(d, &s, &c, NOW, NULL);
	cr_expect_eq(iso_bw_health(&to), ISO_HEALTHY, "the streak's second "
		     "success heals");
	cr_expect_eq(to.cf, 0);

	/* A failure after a success starts a new streak; without one it
	 * goes on. */
	struct iso_bevent f = event(E_FAILURE);
	struct iso_bw two = start(S_DEGRADED_EDGE); /* cf 2, trip at 3 */
	f.after_success = true;
	to = iso_breaker_next(two, &f, &c, NOW, NULL);
	cr_expect_eq(to.state, ISO_BREAKER_CLOSED, "a success broke the streak");
	cr_expect_eq(to.cf, 1);
	f.after_success = false;
	to = iso_breaker_next(two, &f, &c, NOW, NULL);
	cr_expect_eq(to.state, ISO_BREAKER_OPEN, "the third in a row trips");
}
