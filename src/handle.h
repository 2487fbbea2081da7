/*
 * handle.h - checking a handle on every call through it: the slot it
 * names, in range, LIVE in the handle's generation (or RESERVED behind a
 * live directory entry: a registrant that died after publishing it), and
 * after a write, that the generation did not move under it.
 *
 * The checks are inline: they are the hot path's first instructions.
 * A handle whose slot is no longer its account's is a detected isolation
 * violation and is counted.
 */
#ifndef ISO_HANDLE_H
#define ISO_HANDLE_H

#include "slot.h"

/**
 * iso_slot_of_slow - the rare half of slot_of: anything but LIVE in the
 * handle's generation. Returns the slot (a RESERVED one published now, if
 * the caller may write) or NULL with *rc = ISO_ESTALE, counted.
 */
struct iso_slot *iso_slot_of_slow(const iso_account_t *a, struct iso_slot *s,
				  uint64_t sw, int *rc);

/*
 * Check a handle and return its slot, or NULL with *rc set. A handle whose slot is no longer its
 * account's is a detected isolation violation: it is counted.
 */
static inline struct iso_slot *slot_of(const iso_account_t *a, int *rc)
{
	if (unlikely(!a || !iso_reg_ok(a->reg))) {
		*rc = iso_fail(ISO_EINVAL, "account handle is NULL or not "
			       "from iso_register/iso_lookup");
		return NULL;
	}
	iso_reg_t *reg = a->reg;
	if (unlikely(a->slot >= reg->capacity)) {
		*rc = iso_fail(ISO_EINVAL, "account handle: slot %u out of "
			       "range (capacity %u)", a->slot, reg->capacity);
		return NULL;
	}
	struct iso_slot *s = &reg->slots[a->slot];
	/* acquire (iso_slot_lo): pairs with the release of the CAS that
	 * published the slot, so the key and config read later are this
	 * generation's. */
	uint64_t sw = iso_slot_lo(s);
	if (likely(sw == ISO_SW_MAKE(a->gen, ISO_SLOT_LIVE, 0)))
		return s;
	return iso_slot_of_slow(a, s, sw, rc);
}

static inline struct iso_slot *writable_slot_of(const iso_account_t *a, int *rc)
{
	struct iso_slot *s = slot_of(a, rc);
	if (s && unlikely(a->reg->rdonly)) {
		*rc = iso_fail(ISO_ERDONLY, "segment %s is attached read-only",
			       a->reg->name);
		return NULL;
	}
	return s;
}

/*
 * After a write through a handle: if the slot's generation moved while
 * we wrote, the write may have landed in the account that reuses the slot.
 * That needs a thread stalled past the whole retire cooldown between its
 * check and its write (the stated bound, isoreg.h); it cannot be undone,
 * so it is detected and counted. The first counter add of every outcome
 * is acquire and slot_fill's zeroing is release, so a write that landed
 * after a reuse always sees the new generation here.
 */
static inline void check_landed(const iso_account_t *a, struct iso_slot *s)
{
	if (unlikely(ISO_SW_GEN(iso_load64_relaxed(&s->state.lo)) != a->gen))
		iso_count_violation(a->reg);
}

#endif /* ISO_HANDLE_H */
