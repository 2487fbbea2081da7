/*
 * handle.c - the rare paths of handle checks (handle.h): a slot that is not
 * LIVE in the handle's generation, and whether a slot holds an account.
 * Sits above the directory (it asks whether a live entry names a RESERVED
 * slot) and below every file that takes a handle.
 */
#include "directory.h"
#include "handle.h"

bool iso_slot_effectively_live(iso_reg_t *reg, uint32_t slot, uint64_t lo)
{
	uint32_t st = ISO_SW_STATE(lo);
	if (st == ISO_SLOT_LIVE)
		return true;
	if (st != ISO_SLOT_RESERVED)
		return false;
	/* A registrant that published its entry and then died (or has not
	 * yet made its last CAS): the account exists. The hash was written
	 * before the entry was claimed; a stale one just finds no entry. */
	struct iso_slot *s = &reg->slots[slot];
	uint64_t hash = iso_load64_relaxed(&s->hash);
	return iso_dir_entry_of(reg, hash, slot, ISO_SW_GEN(lo)) == 1 &&
	       iso_slot_lo(s) == lo;
}

/* The slow half of slot_of: anything but LIVE in the handle's generation. */
struct iso_slot *iso_slot_of_slow(const iso_account_t *a, struct iso_slot *s,
				     uint64_t sw, int *rc)
{
	iso_reg_t *reg = a->reg;
	if (ISO_SW_GEN(sw) == a->gen && iso_slot_effectively_live(reg, a->slot, sw) &&
	    (reg->rdonly || iso_slot_publish(reg, a->slot, a->gen)))
		return s;
	iso_count_violation(reg);
	*rc = iso_fail(ISO_ESTALE, "account handle (slot %u gen %u) is "
		       "stale: the slot is now gen %u, state %u",
		       a->slot, a->gen, ISO_SW_GEN(sw), ISO_SW_STATE(sw));
	return NULL;
}
