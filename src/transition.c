/*
 * transition.c - the breaker's CAS loop [B4]: the pure function
 * (breaker.c) applied to a consistent read of the word, installed with
 * one double-width CAS, then the version bump, the slot's note of the
 * transition and its event, and a closing breaker's window cleared [B7].
 * The hot path (account.c) and operators (operator.c) step breakers
 * only through here.
 */
#include "failpoint.h"
#include "handle.h"
#include "transition.h"
#include "window.h"

/* Note a transition in the slot and the event ring. */
static void record_transition(iso_reg_t *reg, struct iso_slot *s,
			      uint32_t slot, uint32_t gen,
			      const struct iso_bw *from, const struct iso_bw *to,
			      enum iso_cause cause, int ftype, const char *text,
			      uint64_t wall)
{
	enum iso_health hf = iso_bw_health(from), ht = iso_bw_health(to);
	/* An operator's action is always an event, even when it moves
	 * nothing visible (a reset of a healthy account). */
	if (hf == ht && from->state == to->state && !text)
		return;
	ISO_FP("transition.info");
	if (!wall) /* one read for the slot and the event */
		wall = (uint64_t)iso_wall_ms();
	iso_store64_relaxed(&s->last_transition_ms, wall);
	iso_store32_relaxed(&s->last_transition_info,
			    ((uint32_t)cause << 8) | (uint32_t)(ftype & 0xff));
	iso_event_append_at(reg, wall, slot, gen, hf, ht,
			    (enum iso_breaker_state)to->state, cause, ftype,
			    text);
}

/*
 * The CAS loop around the pure function [B4]. Returns 0 or ISO_ESTALE;
 * *out gets the answer computed from the word that was installed.
 */
int iso_transition(const iso_account_t *a, struct iso_slot *s,
		   const struct iso_bevent *ev, struct iso_bout *out,
		   enum iso_cause cause, uint16_t *episode, const char *text,
		   uint64_t wall)
{
	struct iso_config cfg;
	uint64_t now = iso_now_ms();
	iso_slot_config(a->reg, s, &cfg);
	/* Consistent, because "nothing changes" is decided from it alone. */
	iso_pair_t cur = iso_bw_load(&s->breaker, &s->bw_version);
	for (;;) {
		struct iso_bw from = iso_bw_unpack(cur);
		if (unlikely(from.gen != a->gen)) {
			iso_count_violation(a->reg);
			return iso_fail(ISO_ESTALE, "account handle (slot %u gen "
					"%u) is stale: breaker belongs to gen "
					"%u", a->slot, a->gen, from.gen);
		}
		struct iso_bevent e = *ev;
		if (episode && ev->kind != ISO_BEV_ACQUIRE)
			e.old_episode = *episode != from.episode;
		struct iso_bw to = iso_breaker_next(from, &e, &cfg, now, out);
		out->changed = !iso_bw_equal(&from, &to);
		if (!out->changed) {
			if (episode && ev->kind == ISO_BEV_ACQUIRE)
				*episode = from.episode;
			return 0;
		}
		to.seq = (uint8_t)(from.seq + 1);
		ISO_FP("transition.cas");
		/* acq_rel: the word is the breaker's whole state. On failure
		 * we decide again from a consistent read (the value a failed
		 * CAS hands back may be torn on aarch64; atomic.h). */
		if (!iso_cas128_acq_rel(&s->breaker, &cur, iso_bw_pack(&to))) {
			cur = iso_bw_load(&s->breaker, &s->bw_version);
			continue;
		}
		ISO_FP("transition.version");
		/* release: pairs with iso_bw_load's acquire. */
		iso_faa64_release(&s->bw_version, 1);
		/* [B7] a breaker that closes (recovery, reset, release)
		 * starts its window again: the failures that opened it must
		 * not trip it once more. */
		if (to.state == ISO_BREAKER_CLOSED &&
		    (from.state != ISO_BREAKER_CLOSED ||
		     to.episode != from.episode) && a->reg->win)
			iso_window_clear(iso_slot_window(a->reg, s));
		if (out->quarantined) {
			ISO_FP("transition.quarantines");
			iso_add64_relaxed(&s->quarantines, 1);
		}
		/* A timeout that happened lazily inside this step is
		 * its own transition, reported as such. Time alone moves
		 * only OPEN and HALF_OPEN. */
		struct iso_bevent t = { .kind = ISO_BEV_TICK };
		struct iso_bw mid = from;
		if (from.state == ISO_BREAKER_OPEN ||
		    from.state == ISO_BREAKER_HALF_OPEN)
			mid = iso_breaker_next(from, &t, &cfg, now, NULL);
		if (!iso_bw_equal(&mid, &from) && ev->kind != ISO_BEV_TICK &&
		    mid.state != from.state) {
			record_transition(a->reg, s, a->slot, a->gen,
					  &from, &mid,
					  ISO_CAUSE_TIMEOUT, -1, NULL, wall);
			from = mid;
		}
		record_transition(a->reg, s, a->slot, a->gen, &from, &to,
				  cause, ev->kind == ISO_BEV_FAILURE
				  ? ev->ftype : -1, text, wall);
		if (episode && ev->kind == ISO_BEV_ACQUIRE)
			*episode = to.episode;
		return 0;
	}
}

int iso_operator_event(const iso_account_t *acct, enum iso_bev_kind kind,
		       enum iso_cause cause, const char *text, bool *changed)
{
	int rc;
	struct iso_slot *s;
	struct iso_bout out = { 0 };
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	struct iso_bevent ev = { .kind = kind };
	rc = iso_transition(acct, s, &ev, &out, cause, NULL, text, 0);
	if (changed)
		*changed = out.changed;
	return rc;
}
