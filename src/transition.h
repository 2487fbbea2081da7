/*
 * transition.h - the breaker's CAS loop (transition.c), for the files that
 * step breakers: account.c (outcomes, acquire out of CLOSED) and
 * operator.c (through iso_operator_event, internal.h).
 */
#ifndef ISO_TRANSITION_H
#define ISO_TRANSITION_H

#include "breaker.h"
#include "handle.h"

/**
 * iso_transition - apply @ev to @a's breaker [B4]: a consistent read of the
 * word (iso_bw_load), the pure function, one iso_cas128_acq_rel, retried
 * from a fresh read on failure; after a CAS that moved the word, the
 * version bump (release, pairs with iso_bw_load), the quarantine count,
 * the slot's last transition and the event (lazy timeouts inside the step
 * reported as their own transition), and a closing breaker's window
 * cleared [B7].
 * @out: the answer computed from the word that was installed (or that
 *	stood, when nothing moved); out->changed says which.
 * @episode: with ISO_BEV_ACQUIRE, (output) the permit's episode; with an
 *	outcome, the permit's episode in (an older one moves nothing [B6]);
 *	NULL: none.
 * @text: an operator's reason for the event, or NULL.
 * @wall: the caller's Unix ms for the stamps, or 0 to read the clock.
 * Returns 0 or ISO_ESTALE (counted) when the word names another
 * generation. Writers only; never blocks; lock-free (a retry means some
 * other CAS succeeded).
 */
int iso_transition(const iso_account_t *a, struct iso_slot *s,
		   const struct iso_bevent *ev, struct iso_bout *out,
		   enum iso_cause cause, uint16_t *episode, const char *text,
		   uint64_t wall);

#endif /* ISO_TRANSITION_H */
