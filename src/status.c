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


/*
 * The breaker and the counters of slot @s in generation @gen, into @c:
 * what iso_status and iso_status_lite share, so the two cannot disagree.
 * @cfg: the config in force if the caller has it, else NULL (then read
 * here, only when needed). Reads only. Returns 0 or ISO_ECORRUPT (the
 * breaker word is in no legal state, or names another generation).
 * Inlined into both callers: called, its output went through memory and
 * iso_status's copy of it waited on those stores.
 */
static inline __attribute__((always_inline)) int
status_core(iso_reg_t *reg, struct iso_slot *s, uint32_t gen,
	    const struct iso_config *cfg, struct iso_status_lite *c)
{
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	/* Effective state now: lazy timeouts applied, nothing written. Time
	 * moves a breaker only out of OPEN (its timeout) and in HALF_OPEN (a
	 * lost probe frees its permit) [B5]; elsewhere a clock read and the
	 * config would change nothing (acquire relies on the same in CLOSED;
	 * status/lite_equals_full holds the two to it in every state). */
	uint64_t now = 0;
	if (b.state == ISO_BREAKER_OPEN || b.state == ISO_BREAKER_HALF_OPEN) {
		struct iso_config own;
		struct iso_bevent tick = { .kind = ISO_BEV_TICK };
		if (!cfg) {
			iso_slot_config(reg, s, &own);
			cfg = &own;
		}
		now = iso_now_ms();
		b = iso_breaker_next(b, &tick, cfg, now, NULL);
	}
	if (!iso_bw_valid(&b) || b.gen != gen)
		return ISO_ECORRUPT;
	c->health = iso_bw_health(&b);
	c->breaker = (enum iso_breaker_state)b.state;
	c->broker_halted = false;
	c->consecutive_failures = b.cf;
	c->consecutive_successes = 0;
	c->probes_in_flight = b.probes;
	c->backoff_step = b.backoff;
	c->episode = b.episode;
	c->retry_in_ms = 0;
	if (b.state == ISO_BREAKER_OPEN && b.time_ms > now)
		c->retry_in_ms = b.time_ms - now;

	c->successes = iso_load64_relaxed(&s->successes);
	/* Summed in a register: through c->failures, each add waited for
	 * the last one's store (the loads are asm, so the compiler keeps
	 * every store), which was most of this function's time. */
	uint64_t failures = 0;
#pragma GCC unroll 8 /* the loads are asm: GCC would keep the loop */
	for (int i = 0; i < ISO_FAIL__COUNT; i++) {
		c->failures_by_type[i] = iso_load64_relaxed(&s->failures[i]);
		failures += c->failures_by_type[i]; /* derived [M1] */
	}
	c->failures = failures;
	c->operations = c->successes + failures;
	/* In CLOSED the streaks are in the counters [B4]: the successes
	 * since the last failure, and the word's failure streak only if
	 * no success came after it. HALF_OPEN counts in the word. */
	if (b.state == ISO_BREAKER_HALF_OPEN) {
		c->consecutive_successes = b.cs;
	} else if (b.state == ISO_BREAKER_CLOSED) {
		uint64_t at = iso_load64_relaxed(&s->successes_at_failure);
		uint64_t n = c->successes > at ? c->successes - at : 0;
		c->consecutive_successes = n > UINT32_MAX ? UINT32_MAX
							  : (uint32_t)n;
		if (n)
			c->consecutive_failures = 0;
	}
	c->quarantines = iso_load64_relaxed(&s->quarantines);
	c->last_success_ms = (int64_t)iso_load64_relaxed((uint64_t *)&s->last_success_ms);
	c->last_failure_ms = (int64_t)iso_load64_relaxed((uint64_t *)&s->last_failure_ms);
	c->ema_op_ns = iso_load64_relaxed(&s->ema_ns);
	/* A broker halt overrides what the account's own breaker says. */
	if (iso_load32_relaxed(&reg->hdr->broker_halts) &&
	    iso_broker_halted_slot(reg, s)) {
		c->broker_halted = true;
		c->health = ISO_QUARANTINED;
		c->breaker = ISO_BREAKER_FORCED_OPEN;
		c->retry_in_ms = 0;
	}
	return 0;
}

/* Whether the slot's generation moved on from @sw's, or it was freed or
 * retired, since @sw was read: then what was read may be the next
 * account's (RESERVED -> LIVE is the same account). */
static bool status_gone(struct iso_slot *s, uint64_t sw)
{
	uint64_t sw2 = iso_slot_lo(s);
	return ISO_SW_GEN(sw2) != ISO_SW_GEN(sw) ||
	       ISO_SW_STATE(sw2) == ISO_SLOT_RETIRED ||
	       ISO_SW_STATE(sw2) == ISO_SLOT_FREE;
}

int iso_status_slot(iso_reg_t *reg, uint32_t slot, struct iso_status *st)
{
	struct iso_slot *s = &reg->slots[slot];
	struct iso_status_lite c;
	/* acquire (iso_slot_lo): pairs with the slot's publication; the key
	 * is read after. */
	uint64_t sw = iso_slot_lo(s);
	if (!iso_slot_effectively_live(reg, slot, sw))
		return ISO_ENOENT;
	/* Zeroed by the C library's memset: GCC expands a memset of a known
	 * 504 bytes into `rep stos`, whose start-up cost was a fifth of a
	 * whole iso_status; hiding the size keeps it a call. */
	size_t size = sizeof(*st);
	__asm__("" : "+r"(size));
	memset(st, 0, size);
	iso_slot_read_key(s, &st->key);
	st->slot = slot;
	st->gen = ISO_SW_GEN(sw);
	iso_slot_config(reg, s, &st->config);
	st->config_override = iso_load8_relaxed(&s->config.override);

	int rc = status_core(reg, s, st->gen, &st->config, &c);
	if (rc)
		return rc;
	st->health = c.health;
	st->breaker = c.breaker;
	st->broker_halted = c.broker_halted;
	st->consecutive_failures = c.consecutive_failures;
	st->consecutive_successes = c.consecutive_successes;
	st->probes_in_flight = c.probes_in_flight;
	st->backoff_step = c.backoff_step;
	st->episode = c.episode;
	st->retry_in_ms = c.retry_in_ms;
	st->operations = c.operations;
	st->successes = c.successes;
	st->failures = c.failures;
	memcpy(st->failures_by_type, c.failures_by_type,
	       sizeof(st->failures_by_type));
	st->quarantines = c.quarantines;
	st->last_success_ms = c.last_success_ms;
	st->last_failure_ms = c.last_failure_ms;
	st->ema_op_ns = c.ema_op_ns;

	st->last_transition_ms = (int64_t)iso_load64_relaxed(&s->last_transition_ms);
	uint32_t info = iso_load32_relaxed(&s->last_transition_info);
	st->last_cause = (enum iso_cause)((info >> 8) & 0xff);
	if ((unsigned)st->last_cause >= ISO_CAUSE__COUNT)
		st->last_cause = ISO_CAUSE_REGISTER;
	st->last_failure_type = (info & 0xff) < ISO_FAIL__COUNT ? (int)(info & 0xff) : -1;

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
	st->avg_op_ms = timed ? (double)st->op_ns_sum / (double)timed / 1e6 : 0;
	st->ema_op_ms = (double)st->ema_op_ns / 1e6;
	iso_hist_percentiles(st->hist, timed, st->min_op_ns, st->max_op_ns,
			     &st->p50_op_ns, &st->p99_op_ns);
	if (st->config.window_ms && reg->win) {
		struct iso_wsum w;
		iso_window_sum(iso_slot_window(reg, s),
			       iso_window_epoch(iso_now_ms(),
						st->config.window_ms),
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
	return status_gone(s, sw) ? ISO_ENOENT : 0;
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

int iso_status_lite(const iso_account_t *acct, struct iso_status_lite *st)
{
	int rc;
	struct iso_slot *s;
	if (!st)
		return iso_fail(ISO_EINVAL, "iso_status_lite: status is NULL");
	if (!(s = slot_of(acct, &rc)))
		return rc;
	/* slot_of's check was of this generation, LIVE (or RESERVED behind a
	 * live entry): the word to compare with afterwards. */
	uint64_t sw = ISO_SW_MAKE(acct->gen, ISO_SLOT_LIVE, 0);
	rc = status_core(acct->reg, s, acct->gen, NULL, st);
	if (rc == ISO_ECORRUPT) {
		iso_count_violation(acct->reg);
		return iso_fail(ISO_ECORRUPT, "slot %u: breaker word fails its "
				"integrity check", acct->slot);
	}
	if (status_gone(s, sw))
		return iso_fail(ISO_ESTALE, "account (slot %u) was retired "
				"while being read", acct->slot);
	return 0;
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
