/*
 * budget.h - the request budget [B9] as a pure function: GCRA, the generic
 * cell rate algorithm, on one word (the theoretical arrival time, TAT).
 *
 * An account with rate r and burst b comes back one unit every
 * T = 1e9 / r ns. Spending c units at time now moves the TAT to
 * max(TAT, now) + c*T, and is allowed while that is at most now + b*T:
 * over any interval of length t at most r*t + b units are admitted, and a
 * client that spends as fast as it may gets exactly that. iso_gcra_next
 * reads no shared memory and no clock; budget.c wraps it in one CAS.
 */
#ifndef ISO_BUDGET_H
#define ISO_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

/* What one budget decision says. */
struct iso_gcra {
	bool allowed;
	uint64_t tat;      /* the next TAT (unchanged when refused) */
	uint64_t retry_ns; /* refused: time until @cost units are there */
};

/**
 * iso_gcra_next - decide a spend of @cost units.
 * @tat: the current theoretical arrival time (ns; 0 = a full budget).
 * @now: the monotonic clock, ns.
 * @cost: units asked for (>= 1).
 * @interval_ns: T, ns per unit (>= 1).
 * @burst: units allowed at once (>= 1).
 *
 * Pure. @cost above @burst is never allowed (retry_ns is then UINT64_MAX);
 * callers refuse it earlier with ISO_EINVAL. No arithmetic overflows:
 * interval_ns < 2^40 and cost, burst < 2^24.
 */
static inline struct iso_gcra iso_gcra_next(uint64_t tat, uint64_t now,
					    uint64_t cost, uint64_t interval_ns,
					    uint64_t burst)
{
	struct iso_gcra g = { false, tat, 0 };
	if (cost > burst) {
		g.retry_ns = UINT64_MAX;
		return g;
	}
	uint64_t base = tat > now ? tat : now;
	uint64_t next = base + cost * interval_ns;
	uint64_t limit = now + burst * interval_ns;
	if (next <= limit) {
		g.allowed = true;
		g.tat = next;
	} else {
		g.retry_ns = next - limit;
	}
	return g;
}

/**
 * iso_gcra_refund - give back @cost units spent at @tat's last move: the
 * TAT moves back by cost*T, never below @now (time already passed is not
 * credit). Pure; budget.c CASes it in.
 */
static inline uint64_t iso_gcra_refund(uint64_t tat, uint64_t now,
				       uint64_t cost, uint64_t interval_ns)
{
	uint64_t back = cost * interval_ns;
	uint64_t t = tat > back ? tat - back : 0;
	return t > now ? t : now;
}

/**
 * iso_gcra_available - units spendable at @now (0..burst, fractional):
 * for status, never for a decision.
 */
static inline double iso_gcra_available(uint64_t tat, uint64_t now,
					uint64_t interval_ns, uint64_t burst)
{
	uint64_t base = tat > now ? tat : now;
	uint64_t limit = now + burst * interval_ns;
	return base >= limit ? 0.0
			     : (double)(limit - base) / (double)interval_ns;
}

/**
 * iso_budget_word - the config word (layout.h ISO_BUDGET_MAKE) of @cfg's
 * rate_per_s and burst; 0 when there is no budget. @cfg is valid.
 */
uint64_t iso_budget_word(const struct iso_config *cfg);

/**
 * iso_budget_spend - spend @cost units of @s's budget, whose config word
 * is @bw (non-zero), with one CAS. Returns 0, or ISO_ELIMIT with
 * *retry_ms set and the refusal counted. Any process; lock-free.
 */
int iso_budget_spend(struct iso_slot *s, uint64_t bw, uint32_t cost,
		     uint64_t *retry_ms);

/** iso_budget_refund - give back @cost units spent by iso_budget_spend. */
void iso_budget_refund(struct iso_slot *s, uint64_t bw, uint32_t cost);

/**
 * iso_budget_of - the budget word in force for @s: its own when its config
 * is overridden, else the segment default's; 0 if none.
 */
uint64_t iso_budget_of(iso_reg_t *reg, const struct iso_slot *s);

/** iso_budget_status - fill @st's budget fields from @s (reads only). */
void iso_budget_status(iso_reg_t *reg, const struct iso_slot *s,
		       struct iso_status *st);

#endif /* ISO_BUDGET_H */
