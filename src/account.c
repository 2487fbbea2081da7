/*
 * account.c - the hot path: acquire, and record an outcome (its counters,
 * operation time, rolling window, and the breaker's step when it moves);
 * each a thin shell around the pure breaker function (breaker.c) in the
 * CAS loop of transition.c.
 *
 * Every call through a handle checks the slot's publication word for LIVE
 * and the handle's generation (handle.h); every breaker CAS compares the
 * generation carried in the breaker word, so a stale handle can never move
 * another account's breaker (retire.c ends an account). An account with a
 * request budget spends it in acquire with one more CAS (budget.c).
 *
 * Must never: block, wait for another writer, or trust an index read from
 * the segment without a bounds check.
 */
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "failpoint.h"
#include "handle.h"
#include "directory.h"
#include "hist.h"
#include "transition.h"
#include "window.h"

/* Operation times above this (13 days) are clamped: no overflow in the
 * EMA or the sum, whatever a caller passes. */
#define OP_NS_MAX (1ull << 50)

/* The CAS loop (transition.c), no operator's text, its own clock read. */
static inline int transition(const iso_account_t *a, struct iso_slot *s,
			     const struct iso_bevent *ev, struct iso_bout *out,
			     enum iso_cause cause, uint16_t *episode)
{
	return iso_transition(a, s, ev, out, cause, episode, NULL, 0);
}

/* ------------------------------------------------------- the hot path */

/*
 * The breaker's half of acquire, after the broker check: in CLOSED one
 * load (@lo, already made), else one transition.
 */
static int breaker_acquire(const iso_account_t *acct, struct iso_slot *s,
			   uint64_t lo, iso_permit_t *p)
{
	int rc;
	if (likely(iso_bw_lo_state(lo) == ISO_BREAKER_CLOSED &&
		   iso_bw_lo_gen(lo) == acct->gen)) {
		/* CLOSED admits everyone: one load, no write. */
		bool deg = iso_bw_lo_degraded(lo);
		p->episode = iso_bw_lo_episode(lo);
		p->flags = 0;
		p->reason = deg ? ISO_REASON_DEGRADED : ISO_REASON_HEALTHY;
		p->health = deg ? ISO_DEGRADED : ISO_HEALTHY;
		return 0;
	}
	struct iso_bevent ev = { .kind = ISO_BEV_ACQUIRE };
	struct iso_bout out;
	uint16_t episode = 0;
	if ((rc = transition(acct, s, &ev, &out, ISO_CAUSE_TIMEOUT, &episode)))
		return rc;
	struct iso_bw now = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	p->episode = episode;
	p->flags = (out.probe ? ISO_PERMIT_PROBE : 0) |
		   (out.reason == ISO_REASON_OBSERVED ? ISO_PERMIT_OBSERVED : 0);
	p->reason = out.reason;
	p->health = (uint8_t)iso_bw_health(&now);
	p->retry_in_ms = out.retry_in_ms;
	return out.allowed ? 0 : ISO_EOPEN;
}

/*
 * Acquire with a request budget [B9]: the budget first, so a refused
 * acquire takes no probe permit; a unit the breaker then refuses is given
 * back. A halted account spends nothing.
 */
static int budget_acquire(const iso_account_t *acct, struct iso_slot *s,
			  uint64_t lo, uint64_t bw, uint32_t cost,
			  iso_permit_t *p)
{
	uint64_t retry_ms;
	if (unlikely(cost > ISO_BUDGET_BURST(bw)))
		return iso_fail(ISO_EINVAL, "iso_acquire_cost: cost %u is more "
				"than the account's burst (%u): it could never "
				"be admitted", cost, ISO_BUDGET_BURST(bw));
	if (iso_bw_lo_state(lo) == ISO_BREAKER_FORCED_OPEN)
		return breaker_acquire(acct, s, lo, p);
	if (iso_budget_spend(s, bw, cost, &retry_ms)) {
		struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker,
							    &s->bw_version));
		p->episode = b.episode;
		p->flags = 0;
		p->reason = ISO_REASON_RATE_LIMITED;
		p->health = (uint8_t)iso_bw_health(&b);
		p->retry_in_ms = retry_ms;
		return ISO_ELIMIT;
	}
	int rc = breaker_acquire(acct, s, lo, p);
	if (rc == ISO_EOPEN)
		iso_budget_refund(s, bw, cost);
	return rc;
}

static inline int acquire_cost(const iso_account_t *acct, uint32_t cost,
			       iso_permit_t *p)
{
	int rc;
	struct iso_slot *s;
	if (unlikely(!p))
		return iso_fail(ISO_EINVAL, "iso_acquire: permit is NULL");
	if (unlikely(!(s = writable_slot_of(acct, &rc))))
		return rc;
	/* acquire: pairs with the CAS that installed this breaker word. */
	uint64_t lo = iso_load64_acquire(&s->breaker.lo);
	p->slot = acct->slot;
	p->gen = acct->gen;
	p->retry_in_ms = 0;
	struct iso_shm_header *h = acct->reg->hdr;
	/* Broker-wide halts (broker.c): one relaxed load of a read-mostly
	 * header word; the table only while some broker is halted. */
	if (unlikely(iso_load32_relaxed(&h->broker_halts)) &&
	    iso_broker_halted_slot(acct->reg, s)) {
		p->episode = iso_bw_lo_episode(lo);
		p->flags = 0;
		p->reason = ISO_REASON_FORCED_OPEN;
		p->health = ISO_QUARANTINED;
		return ISO_EOPEN;
	}
	/* relaxed, same line as broker_halts: pairs with nothing; raised
	 * only after a budget config was stored (config.c), and the config
	 * itself is read with the override's acquire (iso_budget_of). */
	if (unlikely(iso_load32_relaxed(&h->features) & ISO_FEAT_BUDGET)) {
		uint64_t bw = iso_budget_of(acct->reg, s);
		if (bw)
			return budget_acquire(acct, s, lo, bw, cost, p);
	}
	return breaker_acquire(acct, s, lo, p);
}

int iso_acquire(const iso_account_t *acct, iso_permit_t *p)
{
	return acquire_cost(acct, 1, p);
}

int iso_acquire_cost(const iso_account_t *acct, uint32_t cost,
		     iso_permit_t *p)
{
	if (unlikely(!cost))
		return iso_fail(ISO_EINVAL, "iso_acquire_cost: cost is 0; "
				"an acquire spends 1..burst units");
	return acquire_cost(acct, cost, p);
}

/* Keep the smallest and largest operation time: a CAS only for a new
 * extreme, so almost every outcome makes two relaxed loads. */
static inline void record_extremes(struct iso_slot *s, uint64_t op_ns)
{
	uint64_t mx = iso_load64_relaxed(&s->op_ns_max);
	/* acq_rel CAS: pairs with other recorders' CAS on the same word;
	 * on failure mx is the newer extreme and we compare again. */
	while (op_ns > mx) {
		ISO_FP("outcome.extremes");
		if (iso_cas64_acq_rel(&s->op_ns_max, &mx, op_ns))
			break;
	}
	uint64_t mn = iso_load64_relaxed(&s->op_ns_min);
	while (mn == 0 || op_ns < mn) {
		ISO_FP("outcome.extremes");
		if (iso_cas64_acq_rel(&s->op_ns_min, &mn, op_ns))
			break;
	}
}

/*
 * A last-outcome time (coarse wall ms): stored only when it moved, so
 * processes recording outcomes of one account within the same tick
 * share the line instead of taking it from each other on every call.
 */
static inline void store_if_changed(uint64_t *p, uint64_t v)
{
	/* The point is passed either way: a run's points must not depend
	 * on the clock (the harness replays them by number). */
	ISO_FP("outcome.last");
	/* relaxed, both: a timestamp for people, read relaxed by status;
	 * it publishes nothing. */
	if (iso_load64_relaxed(p) != v)
		iso_store64_relaxed(p, v);
}

static inline void record_time(struct iso_slot *s, uint64_t op_ns)
{
	if (!op_ns)
		return;
	if (unlikely(op_ns > OP_NS_MAX))
		op_ns = OP_NS_MAX;
	ISO_FP("outcome.time");
	iso_faa32_relaxed(&s->hist[iso_hist_bucket(op_ns)], 1);
	iso_add64_relaxed(&s->op_ns_sum, op_ns);
	/* The EMA is a statistic: a racing update may be lost, never torn.
	 * Both values are at most OP_NS_MAX, so the difference fits. */
	uint64_t old = iso_load64_relaxed(&s->ema_ns);
	uint64_t ema = old ? (uint64_t)((int64_t)old +
					((int64_t)op_ns - (int64_t)old) / 10)
			   : op_ns;
	iso_store64_relaxed(&s->ema_ns, ema);
	record_extremes(s, op_ns);
}

static int outcome_slow(const iso_account_t *acct, struct iso_slot *s,
			const iso_permit_t *p, const struct iso_bevent *ev,
			enum iso_cause cause, struct iso_bout *outp,
			uint64_t wall)
{
	struct iso_bout none;
	struct iso_bout *out = outp ? outp : &none;
	uint16_t episode;
	if (p && (p->slot != acct->slot || p->gen != acct->gen))
		return iso_fail(ISO_EINVAL, "permit belongs to slot %u gen %u, "
				"not to this account (slot %u gen %u)",
				p->slot, p->gen, acct->slot, acct->gen);
	if (p) {
		episode = (uint16_t)p->episode;
		return iso_transition(acct, s, ev, out, cause, &episode,
				       NULL, wall);
	}
	return iso_transition(acct, s, ev, out, cause, NULL, NULL, wall);
}

/*
 * [B7] Count an outcome in the account's rolling window and, when it may
 * have raised a rate to its threshold, judge a CLOSED breaker: on a
 * counted failure, a slow call, and on the success that brings the
 * window to min_calls (a success alone never raises a rate). Returns 0
 * or the rate-trip transition's error.
 */
static int window_outcome(const iso_account_t *acct, struct iso_slot *s,
			  int ftype, uint64_t op_ns, uint64_t retry_after_ms)
{
	struct iso_config cfg;
	/* The window's fields and the ignore mask only: the rest of the
	 * config is read by the transition, if there is one. */
	if (!iso_slot_window_config(acct->reg, s, &cfg) ||
	    (ftype >= 0 && (cfg.ignore & ISO_FAIL_MASK(ftype))))
		return 0;
	struct iso_shm_window *w = iso_slot_window(acct->reg, s);
	uint32_t epoch = iso_window_epoch(iso_now_ms(), cfg.window_ms);
	bool fail = ftype >= 0;
	bool slow = cfg.slow_call_ms && op_ns &&
		    op_ns >= (uint64_t)cfg.slow_call_ms * 1000000ull;
	uint32_t here = iso_window_count(w, epoch, fail, slow);
	if (!cfg.failure_rate_threshold &&
	    !(cfg.slow_call_rate_threshold && cfg.slow_call_ms))
		return 0; /* rates shown, never judged */
	struct iso_wsum sum;
	if (!fail && !slow) {
		/* A success is judged only where it brings the window to
		 * min_calls: past it already when this bucket alone is. */
		if (here > cfg.min_calls)
			return 0;
		iso_window_sum(w, epoch, true, &sum);
		if (sum.calls != cfg.min_calls)
			return 0;
	}
	iso_window_sum(w, epoch, false, &sum);
	int cause = iso_window_judge(&sum, &cfg);
	if (cause < 0)
		return 0;
	/* Only a CLOSED breaker trips on a rate; the pure function says
	 * so again against the word it CASes. */
	uint64_t lo = iso_load64_acquire(&s->breaker.lo);
	if (iso_bw_lo_state(lo) != ISO_BREAKER_CLOSED)
		return 0;
	struct iso_bevent ev = { .kind = ISO_BEV_RATE_TRIP,
				 .retry_after_ms = retry_after_ms };
	struct iso_bout out;
	return transition(acct, s, &ev, &out, (enum iso_cause)cause, NULL);
}

static inline bool windows_on(const iso_account_t *acct)
{
	/* relaxed, the line acquire reads: raised only after a window
	 * config was stored; the config is read with the override's
	 * acquire (iso_slot_config). */
	return iso_load32_relaxed(&acct->reg->hdr->features) & ISO_FEAT_WINDOW;
}

int iso_record_success(const iso_account_t *acct, const iso_permit_t *p,
		       uint64_t op_ns)
{
	int rc;
	struct iso_slot *s;
	if (unlikely(!(s = writable_slot_of(acct, &rc))))
		return rc;
	/* Statistics first. acquire: see check_landed. */
	ISO_FP("outcome.count");
	iso_add64_acquire(&s->successes, 1);
	record_time(s, op_ns);
	uint64_t wall = (uint64_t)iso_wall_ms(); /* also a transition's */
	store_if_changed((uint64_t *)&s->last_success_ms, wall);
	check_landed(acct, s);
	if (unlikely(windows_on(acct)) &&
	    (rc = window_outcome(acct, s, -1, op_ns, 0)))
		return rc;
	uint64_t lo = iso_load64_acquire(&s->breaker.lo);
	/* One compare for the common case: CLOSED, healthy, this
	 * generation, and (with a permit) this episode. */
	uint64_t m = ISO_BW_QUIET_MASK | ((1ull << 32) - 1) << ISO_BW_GEN_SHIFT;
	uint64_t want = (uint64_t)acct->gen << ISO_BW_GEN_SHIFT;
	if (p) {
		m |= 0xffffull << ISO_BW_EPISODE_SHIFT;
		want |= (uint64_t)(uint16_t)p->episode << ISO_BW_EPISODE_SHIFT;
	}
	if (likely((lo & m) == want))
		return 0; /* CLOSED and healthy: nothing to move */
	bool closed = iso_bw_lo_state(lo) == ISO_BREAKER_CLOSED &&
		      iso_bw_lo_gen(lo) == acct->gen;
	if (closed && p && (uint16_t)p->episode != iso_bw_lo_episode(lo)) {
		/* [B6] work that began before a trip or reset: statistics
		 * only. It must not count in the counters' streaks either,
		 * so the streak's base moves past it. */
		ISO_FP("outcome.streak");
		/* relaxed: the streak base is a count the next outcome reads;
		 * a racing failure's store replaces it, which starts the
		 * streak anew anyway. */
		iso_add64_relaxed(&s->successes_at_failure, 1);
		return 0;
	}
	struct iso_bevent ev = { .kind = ISO_BEV_SUCCESS };
	if (closed) {
		/* DEGRADED: the streak is in the counters; only the success
		 * that reaches success_threshold moves the breaker. Relaxed:
		 * a streak read a little short only delays healing by one
		 * success. */
		uint64_t n = iso_load64_relaxed(&s->successes) -
			     iso_load64_relaxed(&s->successes_at_failure);
		/* A base ahead of the count (a racing failure's store) is no
		 * streak, not a huge one. */
		if ((int64_t)n < 0)
			n = 0;
		ev.streak = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		if (ev.streak < iso_slot_success_threshold(acct->reg, s))
			return 0;
	}
	return outcome_slow(acct, s, p, &ev, ISO_CAUSE_SUCCESS, NULL, wall);
}

int iso_record_failure_retry(const iso_account_t *acct, const iso_permit_t *p,
			     enum iso_failure_type type, uint64_t op_ns,
			     uint64_t retry_after_ms)
{
	int rc;
	struct iso_slot *s;
	if (unlikely((unsigned)type >= ISO_FAIL__COUNT))
		return iso_fail(ISO_EINVAL, "failure type %d out of range "
				"0..%d", (int)type, ISO_FAIL__COUNT - 1);
	if (unlikely(!(s = writable_slot_of(acct, &rc))))
		return rc;
	/* [M2] an exchange's retry-after holds the breaker at most this
	 * long; a larger value is a bug or an attack, not a wish. */
	if (retry_after_ms > ISO_TIMEOUT_MAX_MS)
		retry_after_ms = ISO_TIMEOUT_MAX_MS;
	ISO_FP("outcome.count");
	iso_add64_acquire(&s->failures[type], 1); /* see check_landed */
	record_time(s, op_ns);
	uint64_t wall = (uint64_t)iso_wall_ms(); /* also a transition's */
	store_if_changed((uint64_t *)&s->last_failure_ms, wall);
	/* The streaks [B4]: a success since the last counted failure ends
	 * the failure streak. */
	uint64_t wins = iso_load64_relaxed(&s->successes);
	bool after_success = wins != iso_load64_relaxed(&s->successes_at_failure);
	check_landed(acct, s);
	struct iso_bevent ev = { .kind = ISO_BEV_FAILURE, .ftype = (uint8_t)type,
				 .retry_after_ms = retry_after_ms,
				 .after_success = after_success };
	struct iso_bout out = { 0 };
	if ((rc = outcome_slow(acct, s, p, &ev, ISO_CAUSE_FAILURE, &out, wall)))
		return rc;
	/* Only a failure the CLOSED breaker counted starts the success
	 * streak again: an ignored type, an older episode's outcome or a
	 * failure while OPEN moves no streak [B6]. Killed before this
	 * store, the next failure sees a success that it already saw:
	 * its streak starts at 1, never too early a trip. */
	if (out.failure_counted) {
		ISO_FP("outcome.streak");
		/* relaxed: read relaxed by the next outcome; one read a
		 * little stale sees the streak one success short or long, as
		 * two racing outcomes could order themselves either way. */
		iso_store64_relaxed(&s->successes_at_failure, wins);
	}
	/* After the failure's own step: a consecutive-failure trip comes
	 * first and is reported as such. */
	if (unlikely(windows_on(acct)))
		return window_outcome(acct, s, (int)type, op_ns, retry_after_ms);
	return 0;
}

int iso_record_failure(const iso_account_t *acct, const iso_permit_t *p,
		       enum iso_failure_type type, uint64_t op_ns)
{
	return iso_record_failure_retry(acct, p, type, op_ns, 0);
}
