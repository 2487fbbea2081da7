/*
 * directory.c - the shared key -> slot table [S3]: open addressing, linear
 * probing, every entry a 16-byte pair changed only by one CAS.
 *
 * Invariants that make it lock-free and duplicate-free:
 *  - An entry's hash (lo) is written once, together with its slot, by the
 *    CAS that claims the empty entry; it never changes afterwards.
 *  - A probe chain ends at the first empty entry, and entries never become
 *    empty again, so a chain only grows.
 *  - An insert of key K scans the whole chain first; if K is live there it
 *    loses. Otherwise it CASes the first entry that is empty or a
 *    tombstone of K's own hash. Two inserts of K compute the same first
 *    candidate from the same chain, so exactly one CAS wins; the other
 *    rescans and finds K. (Two *different* keys with one 64-bit hash share
 *    tombstones; a duplicate then needs such a collision plus a retire of
 *    one racing a registration of the other.)
 *  - Retiring turns (hash, slot) into (hash, 0), a tombstone, reused only
 *    by a key of that hash: re-registering a retired key costs nothing.
 * A registrant that dies after its CAS leaves a RESERVED slot that the
 * directory already points to; lookups (and doctor) finish publishing it.
 */
#include "internal.h"

static bool slot_has_key(iso_reg_t *reg, uint32_t s, const struct iso_key *key,
			 uint32_t *gen)
{
	struct iso_slot *slot = &reg->slots[s];
	/* acquire: pairs with the release that published the slot (or with
	 * the directory CAS, a full barrier, for a pending one); the key is
	 * read after it. */
	uint64_t sw = iso_load_acquire(&slot->state);
	uint32_t st = ISO_SW_STATE(sw);
	if (st != ISO_SLOT_LIVE && st != ISO_SLOT_RESERVED)
		return false;
	bool same = iso_slot_key_equals(slot, key);
	/* acquire fence: the key loads complete before the re-check; a slot
	 * retired and reused meanwhile changed its word, so a torn key is
	 * thrown away instead of trusted. */
	iso_fence_acquire();
	if (!same || iso_load_relaxed(&slot->state) != sw)
		return false;
	if (st == ISO_SLOT_RESERVED && !reg->rdonly) {
		/* The directory points here, so the registrant got past its
		 * CAS and the slot is complete: help publish it. If the
		 * registrant did it first, this CAS fails harmlessly. */
		uint64_t want = sw;
		if (iso_cas(&slot->state, &want,
			    ISO_SW_MAKE(ISO_SW_GEN(sw), ISO_SLOT_LIVE, 0)))
			iso_faa32(&reg->hdr->live, 1);
	}
	*gen = ISO_SW_GEN(sw);
	return true;
}

int iso_dir_find(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		 uint32_t *slot, uint32_t *gen)
{
	uint32_t i = (uint32_t)hash & reg->dir_mask;
	for (uint32_t n = 0; n <= reg->dir_mask; n++, i = (i + 1) & reg->dir_mask) {
		iso_dirent_t *e = &reg->dir[i];
		/* acquire: pairs with the claiming CAS; hi is read after. */
		uint64_t h = iso_load_acquire(&e->lo);
		if (h == 0)
			return ISO_ENOENT;
		if (h != hash)
			continue;
		uint64_t hi = iso_load_acquire(&e->hi);
		if (hi == 0 || hi > reg->capacity)
			continue; /* tombstone, or a bad index: never follow */
		if (slot_has_key(reg, (uint32_t)(hi - 1), key, gen)) {
			*slot = (uint32_t)(hi - 1);
			return 0;
		}
	}
	return ISO_ENOENT;
}

int iso_dir_insert(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t slot, uint32_t *found_slot)
{
	for (;;) {
		uint32_t i = (uint32_t)hash & reg->dir_mask;
		int64_t cand = -1;
		iso_pair_t cand_val = { 0, 0 };
		uint32_t gen;

		for (uint32_t n = 0; n <= reg->dir_mask;
		     n++, i = (i + 1) & reg->dir_mask) {
			iso_dirent_t *e = &reg->dir[i];
			uint64_t h = iso_load_acquire(&e->lo);
			if (h == 0) {
				if (cand < 0) {
					cand = i;
					cand_val = (iso_pair_t){ 0, 0 };
				}
				break;
			}
			if (h != hash)
				continue;
			uint64_t hi = iso_load_acquire(&e->hi);
			if (hi == 0) {
				if (cand < 0) {
					cand = i;
					cand_val = (iso_pair_t){ hash, 0 };
				}
				continue;
			}
			if (hi <= reg->capacity &&
			    slot_has_key(reg, (uint32_t)(hi - 1), key, &gen)) {
				*found_slot = (uint32_t)(hi - 1);
				return ISO_EEXIST;
			}
		}
		if (cand < 0)
			return iso_fail(ISO_EFULL, "directory full: %u entries "
					"all claimed (live keys and retired "
					"keys' tombstones)", reg->dir_mask + 1);
		iso_pair_t want = cand_val;
		/* Full barrier: the slot's key and initial state, written
		 * before, are visible to whoever acquires this entry. */
		if (iso_cas_pair(&reg->dir[cand], &want,
				 (iso_pair_t){ hash, (uint64_t)slot + 1 })) {
			if (cand_val.lo)
				iso_dec32(&reg->hdr->dir_tombstones);
			return 0;
		}
		/* Someone changed that entry: look again. */
	}
}

int iso_dir_remove(iso_reg_t *reg, uint64_t hash, uint32_t slot)
{
	uint32_t i = (uint32_t)hash & reg->dir_mask;
	for (uint32_t n = 0; n <= reg->dir_mask; n++, i = (i + 1) & reg->dir_mask) {
		iso_dirent_t *e = &reg->dir[i];
		uint64_t h = iso_load_acquire(&e->lo);
		if (h == 0)
			break;
		if (h != hash)
			continue;
		iso_pair_t want = { hash, (uint64_t)slot + 1 };
		if (iso_cas_pair(e, &want, (iso_pair_t){ hash, 0 })) {
			iso_faa32(&reg->hdr->dir_tombstones, 1);
			return 0;
		}
	}
	return ISO_ENOENT;
}

bool iso_dir_points_to(iso_reg_t *reg, uint64_t hash, uint32_t slot)
{
	uint32_t i = (uint32_t)hash & reg->dir_mask;
	for (uint32_t n = 0; n <= reg->dir_mask; n++, i = (i + 1) & reg->dir_mask) {
		iso_dirent_t *e = &reg->dir[i];
		uint64_t h = iso_load_acquire(&e->lo);
		if (h == 0)
			return false;
		if (h == hash && iso_load_acquire(&e->hi) == (uint64_t)slot + 1)
			return true;
	}
	return false;
}
