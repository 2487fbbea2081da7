/*
 * status.c - reading accounts: one account's snapshot, every account in
 * slot order, the live count. Reads only: works on read-only mappings,
 * and a slot retired while it is read is reported as gone, never torn.
 */
#include <string.h>

#include "handle.h"
#include "budget.h"
#include "hist.h"
#include "window.h"


int iso_status_slot(iso_reg_t *reg, uint32_t slot, struct iso_status *st)
{
	struct iso_slot *s = &reg->slots[slot];
	/* acquire (iso_slot_lo): pairs with the slot's publication; the key
	 * is read after. */
	uint64_t sw = iso_slot_lo(s);
	if (!iso_slot_effectively_live(reg, slot, sw))
		return ISO_ENOENT;
	memset(st, 0, sizeof(*st));
	iso_slot_read_key(s, &st->key);
	st->slot = slot;
	st->gen = ISO_SW_GEN(sw);
	iso_slot_config(reg, s, &st->config);
	st->config_override = iso_load8_relaxed(&s->config.override);

	/* Effective state now: lazy timeouts applied, nothing written. */
	uint64_t now = iso_now_ms();
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	struct iso_bevent tick = { .kind = ISO_BEV_TICK };
	b = iso_breaker_next(b, &tick, &st->config, now, NULL);
	if (!iso_bw_valid(&b) || b.gen != st->gen)
		return ISO_ECORRUPT;
	st->health = iso_bw_health(&b);
	st->breaker = (enum iso_breaker_state)b.state;
	st->consecutive_failures = b.cf; /* CLOSED: corrected below */
	st->probes_in_flight = b.probes;
	st->backoff_step = b.backoff;
	st->episode = b.episode;
	if (b.state == ISO_BREAKER_OPEN && b.time_ms > now)
		st->retry_in_ms = b.time_ms - now;

	st->successes = iso_load64_relaxed(&s->successes);
	for (int i = 0; i < ISO_FAIL__COUNT; i++) {
		st->failures_by_type[i] = iso_load64_relaxed(&s->failures[i]);
		st->failures += st->failures_by_type[i]; /* derived [M1] */
	}
	st->operations = st->successes + st->failures;
	/* In CLOSED the streaks are in the counters [B4]: the successes
	 * since the last failure, and the word's failure streak only if
	 * no success came after it. HALF_OPEN counts in the word. */
	if (b.state == ISO_BREAKER_HALF_OPEN) {
		st->consecutive_successes = b.cs;
	} else if (b.state == ISO_BREAKER_CLOSED) {
		uint64_t at = iso_load64_relaxed(&s->successes_at_failure);
		uint64_t n = st->successes > at ? st->successes - at : 0;
		st->consecutive_successes = n > UINT32_MAX ? UINT32_MAX
							   : (uint32_t)n;
		if (n)
			st->consecutive_failures = 0;
	}
	st->quarantines = iso_load64_relaxed(&s->quarantines);
	st->last_success_ms = (int64_t)iso_load64_relaxed((uint64_t *)&s->last_success_ms);
	st->last_failure_ms = (int64_t)iso_load64_relaxed((uint64_t *)&s->last_failure_ms);
	st->last_transition_ms = (int64_t)iso_load64_relaxed(&s->last_transition_ms);
	uint32_t info = iso_load32_relaxed(&s->last_transition_info);
	st->last_cause = (enum iso_cause)((info >> 8) & 0xff);
	if ((unsigned)st->last_cause >= ISO_CAUSE__COUNT)
		st->last_cause = ISO_CAUSE_REGISTER;
	st->last_failure_type = (info & 0xff) < ISO_FAIL__COUNT ? (int)(info & 0xff) : -1;
	/* A broker halt overrides what the account's own breaker says. */
	if (iso_load32_relaxed(&reg->hdr->broker_halts) &&
	    iso_broker_halted_slot(reg, s)) {
		st->broker_halted = true;
		st->health = ISO_QUARANTINED;
		st->breaker = ISO_BREAKER_FORCED_OPEN;
		st->retry_in_ms = 0;
	}

	uint64_t timed = 0;
	for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
		st->hist[i] = iso_load32_relaxed(&s->hist[i]);
		timed += st->hist[i];
	}
	st->min_op_ns = iso_load64_relaxed(&s->op_ns_min);
	st->max_op_ns = iso_load64_relaxed(&s->op_ns_max);
	iso_budget_status(reg, s, st);
	st->timed_operations = timed;
	st->op_ns_sum = iso_load64_relaxed(&s->op_ns_sum);
	st->ema_op_ns = iso_load64_relaxed(&s->ema_ns);
	st->avg_op_ms = timed ? (double)st->op_ns_sum / (double)timed / 1e6 : 0;
	st->ema_op_ms = (double)st->ema_op_ns / 1e6;
	iso_hist_percentiles(st->hist, timed, st->min_op_ns, st->max_op_ns,
			     &st->p50_op_ns, &st->p99_op_ns);
	if (st->config.window_ms && reg->win) {
		struct iso_wsum w;
		iso_window_sum(iso_slot_window(reg, s),
			       iso_window_epoch(now, st->config.window_ms),
			       false, &w);
		st->window_calls = w.calls;
		st->window_failures = w.fails;
		st->window_slow_calls = w.slow;
		bool judged = w.calls && w.calls >= st->config.min_calls;
		st->failure_rate = judged ? iso_window_rate(w.fails, w.calls) : -1;
		st->slow_call_rate = judged ? iso_window_rate(w.slow, w.calls) : -1;
	}

	/* The slot may have been retired while we read: then say so. Its
	 * generation is what matters (RESERVED -> LIVE is the same account). */
	uint64_t sw2 = iso_slot_lo(s);
	if (ISO_SW_GEN(sw2) != ISO_SW_GEN(sw) ||
	    ISO_SW_STATE(sw2) == ISO_SLOT_RETIRED || ISO_SW_STATE(sw2) == ISO_SLOT_FREE)
		return ISO_ENOENT;
	return 0;
}

int iso_status(const iso_account_t *acct, struct iso_status *st)
{
	int rc;
	if (!st)
		return iso_fail(ISO_EINVAL, "iso_status: status is NULL");
	if (!slot_of(acct, &rc))
		return rc;
	rc = iso_status_slot(acct->reg, acct->slot, st);
	if (rc == ISO_ENOENT)
		return iso_fail(ISO_ESTALE, "account (slot %u) was retired "
				"while being read", acct->slot);
	if (rc == ISO_ECORRUPT) {
		iso_count_violation(acct->reg);
		return iso_fail(ISO_ECORRUPT, "slot %u: breaker word fails its "
				"integrity check", acct->slot);
	}
	return rc;
}

int iso_foreach(iso_reg_t *reg, iso_foreach_fn fn, void *ctx)
{
	struct iso_status st;
	if (!iso_reg_ok(reg) || !fn)
		return iso_fail(ISO_EINVAL, "iso_foreach: NULL argument");
	uint32_t used = iso_load32_relaxed(&reg->hdr->next_slot);
	if (used > reg->capacity)
		used = reg->capacity;
	for (uint32_t i = 0; i < used; i++) {
		if (iso_status_slot(reg, i, &st) != 0)
			continue;
		int r = fn(&st, ctx);
		if (r)
			return r;
	}
	return 0;
}

uint32_t iso_live_count(iso_reg_t *reg)
{
	uint32_t used = iso_load32_relaxed(&reg->hdr->next_slot), n = 0;
	if (used > reg->capacity)
		used = reg->capacity;
	for (uint32_t i = 0; i < used; i++)
		n += iso_slot_effectively_live(reg, i, iso_slot_lo(&reg->slots[i]));
	return n;
}
