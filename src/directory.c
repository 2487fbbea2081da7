/*
 * directory.c - the shared key -> slot table [S3]: open addressing, linear
 * probing, every entry a 16-byte pair changed only by one CAS.
 *
 *   lo: the hash of the key the entry holds (or last held); 0 = empty
 *   hi: slot + 1, with ISO_DIR_PENDING while its registrant still checks
 *       for rivals; 0 = tombstone (the key was retired)
 *
 * Entries never become empty again, so a probe chain (home position to
 * the first empty entry) only grows, and every key's entry lies on it.
 * Tombstones are reused by any key: a retired account gives its entry
 * back, as it gives back its slot.
 *
 * Registration without a lock, and never two live entries for one key:
 *  1. Scan the chain. A live entry for the key: done, use it.
 *  2. Claim the first empty or tombstone entry, PENDING.
 *  3. Scan the chain again. A live rival: lose. A pending rival: defeat
 *     it (CAS it to a tombstone); its own publish CAS will then fail.
 *  4. Publish: CAS our entry PENDING -> live. If a rival defeated us the
 *     CAS fails: lose. A loser gives its entry back and starts over.
 * Any live entry was published after its owner scanned the whole chain
 * past every position a rival could have claimed before it, so two live
 * entries cannot coexist; the CAS on the pending entry decides every race
 * between a publish and a defeat. Nobody waits for anybody: a registrant
 * killed mid-way leaves a PENDING entry that the next registrant of that
 * key defeats (or doctor clears). Two rivals may defeat each other and
 * retry; a randomised back-off ends that.
 *
 * Lookups follow live entries only, compare the full key, and trust no
 * index they read.
 */
#include <sched.h>

#include "internal.h"

#define ISO_DIR_PENDING (1ull << 32)
#define DIR_SLOT(hi) ((hi) & 0xffffffffull) /* slot + 1 */

static inline bool dir_slot_ok(iso_reg_t *reg, uint64_t hi, uint32_t *slot)
{
	uint64_t s = DIR_SLOT(hi);
	if (s == 0 || s > reg->capacity)
		return false; /* tombstone, or an index never to follow */
	*slot = (uint32_t)(s - 1);
	return true;
}

/* A key's home position, and the next one along its probe chain. */
static inline uint32_t dir_home(iso_reg_t *reg, uint64_t hash)
{
	return (uint32_t)(hash % reg->dir_capacity);
}

static inline uint32_t dir_next(iso_reg_t *reg, uint32_t i)
{
	return i + 1 == reg->dir_capacity ? 0 : i + 1;
}

/* A consistent 16-byte read, for writers (a CAS that changes nothing). */
static inline iso_pair_t dir_read(iso_dirent_t *e)
{
	iso_pair_t v = { 0, 0 };
	iso_cas_pair(e, &v, v);
	return v;
}

/*
 * Does slot @s hold @key, in a state a directory entry may point to?
 * The key is read as atomic words and the slot's word re-checked after,
 * so a slot reused meanwhile never matches by a torn read.
 */
static bool slot_holds(iso_reg_t *reg, uint32_t s, const struct iso_key *key,
		       uint64_t *sw_out)
{
	struct iso_slot *slot = &reg->slots[s];
	/* acquire: pairs with the release publishing the slot (or the full
	 * barrier of the directory CAS after it was filled). */
	uint64_t sw = iso_load_acquire(&slot->state);
	uint32_t st = ISO_SW_STATE(sw);
	if (st != ISO_SLOT_LIVE && st != ISO_SLOT_RESERVED)
		return false;
	bool same = iso_slot_key_equals(slot, key);
	/* acquire fence: the key loads complete before the re-check. The key
	 * changes only when the slot is reused, which bumps the generation;
	 * the state alone may move on (RESERVED -> LIVE as its registrant
	 * publishes) and must not make a live rival look absent. */
	iso_fence_acquire();
	if (!same || ISO_SW_GEN(iso_load_relaxed(&slot->state)) != ISO_SW_GEN(sw))
		return false;
	*sw_out = sw;
	return true;
}

int iso_dir_find(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		 uint32_t *slot, uint32_t *gen)
{
	uint32_t i = dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		iso_dirent_t *e = &reg->dir[i];
		/* acquire: pairs with the CAS that wrote the entry; hi is read
		 * after. A torn (lo, hi) is harmless: the key decides. */
		uint64_t h = iso_load_acquire(&e->lo);
		if (h == 0)
			return ISO_ENOENT;
		if (h != hash)
			continue;
		uint64_t hi = iso_load_acquire(&e->hi);
		uint32_t s;
		uint64_t sw;
		if ((hi & ISO_DIR_PENDING) || !dir_slot_ok(reg, hi, &s) ||
		    !slot_holds(reg, s, key, &sw))
			continue;
		if (ISO_SW_STATE(sw) == ISO_SLOT_RESERVED && !reg->rdonly) {
			/* A live entry points here, so the registrant got past
			 * its publish: finish the slot's publication for it (it
			 * may have died). If it did so first, this fails
			 * harmlessly. */
			uint64_t want = sw;
			if (iso_cas(&reg->slots[s].state, &want,
				    ISO_SW_MAKE(ISO_SW_GEN(sw), ISO_SLOT_LIVE, 0)))
				iso_faa32(&reg->hdr->live, 1);
		}
		*slot = s;
		*gen = ISO_SW_GEN(sw);
		return 0;
	}
	return ISO_ENOENT;
}

static void backoff(unsigned attempt, uint32_t pid)
{
	unsigned spins = (pid * 2654435761u >> 20) % (64u << (attempt < 8 ? attempt : 8));
	for (volatile unsigned k = 0; k < spins; k++)
		;
	if (attempt > 4)
		sched_yield();
}

/* Step 3: look for rivals; defeat pending ones. Returns true if we lost. */
static bool rivals_beat_us(iso_reg_t *reg, const struct iso_key *key,
			   uint64_t hash, uint32_t mine, uint32_t *found)
{
	uint32_t i = dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		if (i == mine)
			continue;
		iso_dirent_t *e = &reg->dir[i];
		iso_pair_t v = dir_read(e);
		uint32_t s;
		uint64_t sw;
		if (v.lo == 0)
			return false;
		if (v.lo != hash || !dir_slot_ok(reg, v.hi, &s) ||
		    !slot_holds(reg, s, key, &sw))
			continue;
		if (!(v.hi & ISO_DIR_PENDING)) {
			*found = s;
			return true; /* a live entry for our key */
		}
		iso_pair_t want = v;
		if (iso_cas_pair(e, &want, (iso_pair_t){ hash, 0 })) {
			iso_faa32(&reg->hdr->dir_tombstones, 1);
			continue; /* defeated: its publish will fail */
		}
		if (want.lo == v.lo && want.hi == (v.hi & ~ISO_DIR_PENDING)) {
			*found = s;
			return true; /* it published first */
		}
	}
	return false;
}

int iso_dir_insert(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t slot, uint32_t *found_slot)
{
	const uint64_t live = (uint64_t)slot + 1, pending = live | ISO_DIR_PENDING;
	for (unsigned attempt = 0;; attempt++) {
		uint32_t i = dir_home(reg, hash), found = 0;
		int64_t cand = -1;
		iso_pair_t cand_val = { 0, 0 };

		/* 1. Scan: is the key live already? Where could it go? */
		for (uint32_t n = 0; n < reg->dir_capacity;
		     n++, i = dir_next(reg, i)) {
			iso_pair_t v = dir_read(&reg->dir[i]);
			uint32_t s;
			uint64_t sw;
			if (v.lo == 0 || v.hi == 0) {
				if (cand < 0) {
					cand = i;
					cand_val = v;
				}
				if (v.lo == 0)
					break;
				continue;
			}
			if (v.lo == hash && !(v.hi & ISO_DIR_PENDING) &&
			    dir_slot_ok(reg, v.hi, &s) &&
			    slot_holds(reg, s, key, &sw)) {
				*found_slot = s;
				return ISO_EEXIST;
			}
		}
		if (cand < 0)
			return iso_fail(ISO_EFULL, "directory full: all %u "
					"entries hold live or registering keys",
					reg->dir_capacity);

		/* 2. Claim. Full barrier: the slot's key, written before, is
		 * visible to whoever reads this entry. */
		iso_pair_t want = cand_val;
		if (!iso_cas_pair(&reg->dir[cand], &want,
				  (iso_pair_t){ hash, pending }))
			continue;
		if (cand_val.lo)
			iso_dec32(&reg->hdr->dir_tombstones);

		/* 3. Rivals, then 4. publish. */
		bool lost = rivals_beat_us(reg, key, hash, (uint32_t)cand, &found);
		want = (iso_pair_t){ hash, pending };
		if (!lost && iso_cas_pair(&reg->dir[cand], &want,
					  (iso_pair_t){ hash, live }))
			return 0;
		/* Lost: give the entry back if a rival has not already. */
		want = (iso_pair_t){ hash, pending };
		if (iso_cas_pair(&reg->dir[cand], &want, (iso_pair_t){ hash, 0 }))
			iso_faa32(&reg->hdr->dir_tombstones, 1);
		if (lost) {
			*found_slot = found;
			return ISO_EEXIST;
		}
		backoff(attempt, reg->pid);
	}
}

int iso_dir_remove(iso_reg_t *reg, uint64_t hash, uint32_t slot)
{
	uint32_t i = dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
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
	uint32_t i = dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		iso_dirent_t *e = &reg->dir[i];
		uint64_t h = iso_load_acquire(&e->lo);
		if (h == 0)
			return false;
		if (h == hash && iso_load_acquire(&e->hi) == (uint64_t)slot + 1)
			return true;
	}
	return false;
}

int iso_dir_clear_pending(iso_reg_t *reg, uint32_t slot)
{
	int n = 0;
	for (uint32_t i = 0; i < reg->dir_capacity; i++) {
		iso_dirent_t *e = &reg->dir[i];
		uint64_t h = iso_load_acquire(&e->lo);
		if (h == 0 || iso_load_acquire(&e->hi) !=
			      (((uint64_t)slot + 1) | ISO_DIR_PENDING))
			continue;
		iso_pair_t want = { h, ((uint64_t)slot + 1) | ISO_DIR_PENDING };
		if (iso_cas_pair(e, &want, (iso_pair_t){ h, 0 })) {
			iso_faa32(&reg->hdr->dir_tombstones, 1);
			n++;
		}
	}
	return n;
}

bool iso_dir_entry_pending(uint64_t hi)
{
	return hi & ISO_DIR_PENDING;
}
