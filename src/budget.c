/*
 * budget.c - the request budget's shell [B9]: the config word, and the one
 * CAS that spends (or gives back) budget on the slot's TAT word around the
 * pure GCRA decision (budget.h).
 *
 * Must never: wait for another process, hold anything across calls, or
 * touch the breaker. A spend is one CAS: a process killed before it spent
 * nothing, one killed after it spent what it asked for.
 */
#include <math.h>

#include "budget.h"
#include "failpoint.h"

uint64_t iso_budget_word(const struct iso_config *cfg)
{
	if (!(cfg->rate_per_s > 0))
		return 0;
	double t = 1e9 / cfg->rate_per_s;
	uint64_t interval = (uint64_t)(t + 0.5); /* nearest ns */
	if (interval < 1)
		interval = 1;
	if (interval > ISO_BUDGET_INTERVAL_MAX)
		interval = ISO_BUDGET_INTERVAL_MAX;
	uint32_t burst = cfg->burst ? cfg->burst : 1;
	return ISO_BUDGET_MAKE(interval, burst);
}

uint64_t iso_budget_of(iso_reg_t *reg, const struct iso_slot *s)
{
	/* acquire: pairs with the release store of override in
	 * iso_config_store_shm, so the budget word stored before it is seen. */
	if (iso_load8_acquire(&s->config.override))
		return iso_load64_relaxed(&s->budget_cfg);
	return iso_load64_relaxed(&reg->hdr->defaults_budget);
}

int iso_budget_spend(struct iso_slot *s, uint64_t bw, uint32_t cost,
		     uint64_t *retry_ms)
{
	uint64_t interval = ISO_BUDGET_INTERVAL(bw);
	uint64_t burst = ISO_BUDGET_BURST(bw);
	/* relaxed: a first guess for the CAS, which decides. */
	uint64_t tat = iso_load64_relaxed(&s->budget_tat);
	for (;;) {
		/* The clock after the TAT, and again after a failed CAS: a
		 * spender preempted between the two would otherwise judge a
		 * newer TAT by an older now and refuse what is there. */
		uint64_t now = iso_now_ns();
		struct iso_gcra g = iso_gcra_next(tat, now, cost, interval, burst);
		if (!g.allowed) {
			ISO_FP("budget.refusal");
			iso_add64_relaxed(&s->budget_refusals, 1); /* statistic */
			*retry_ms = g.retry_ns == UINT64_MAX
				? UINT64_MAX : (g.retry_ns + 999999) / 1000000;
			return ISO_ELIMIT;
		}
		ISO_FP("budget.cas");
		/* acq_rel: the TAT is the budget's whole state; on failure tat
		 * gets the word another spender installed and we decide again.
		 * Pairs with every other spender's and refunder's CAS. */
		if (iso_cas64_acq_rel(&s->budget_tat, &tat, g.tat))
			return 0;
	}
}

void iso_budget_refund(struct iso_slot *s, uint64_t bw, uint32_t cost)
{
	uint64_t interval = ISO_BUDGET_INTERVAL(bw);
	uint64_t now = iso_now_ns();
	uint64_t tat = iso_load64_relaxed(&s->budget_tat); /* a first guess */
	for (;;) {
		uint64_t back = iso_gcra_refund(tat, now, cost, interval);
		if (back == tat)
			return;
		ISO_FP("budget.refund");
		/* acq_rel: pairs with the spenders' CAS (iso_budget_spend). */
		if (iso_cas64_acq_rel(&s->budget_tat, &tat, back))
			return;
	}
}

void iso_budget_status(iso_reg_t *reg, const struct iso_slot *s,
		       struct iso_status *st)
{
	st->budget_refusals = iso_load64_relaxed(&s->budget_refusals);
	uint64_t bw = iso_budget_of(reg, s);
	if (!bw)
		return;
	uint64_t interval = ISO_BUDGET_INTERVAL(bw), now = iso_now_ns();
	uint64_t tat = iso_load64_relaxed(&s->budget_tat);
	st->budget_available = iso_gcra_available(tat, now, interval,
						  ISO_BUDGET_BURST(bw));
	if (st->budget_available < 1) {
		struct iso_gcra g = iso_gcra_next(tat, now, 1, interval,
						  ISO_BUDGET_BURST(bw));
		st->budget_retry_in_ms = (g.retry_ns + 999999) / 1000000;
	}
}
