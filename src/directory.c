/*
 * directory.c - the shared key -> slot table [S3]: open addressing, linear
 * probing, every entry a 16-byte pair changed only by one CAS.
 *
 *   lo: the hash of the key the entry holds (or last held); 0 = empty
 *   hi: gen | pending | slot + 1 (layout.h); 0 = tombstone
 *
 * Entries never become empty again, so a probe chain (home position to
 * the first empty entry) only grows, and every key's entry lies on it.
 * Tombstones are reused by any key.
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
 * "Live" means: not pending, and its slot holds that generation LIVE or
 * RESERVED with the key. An entry whose slot generation is gone (retired,
 * given back, reused) is dead and is passed over like a tombstone; its
 * retirer, the slot's next reserver or doctor turns it into one.
 *
 * Lookups compare the full key and trust no index they read.
 */
#include <sched.h>

#include "failpoint.h"
#include "directory.h"

/* The slot an entry value names, if it is one we may follow. */
static inline bool de_slot(iso_reg_t *reg, uint64_t hi, uint32_t *slot)
{
	uint32_t s1 = ISO_DE_SLOT1(hi);
	if (s1 == 0 || s1 > reg->capacity)
		return false; /* tombstone, or an index never to follow */
	*slot = s1 - 1;
	return true;
}

/* The next position along a probe chain (the home is iso_dir_home). */
static inline uint32_t dir_next(iso_reg_t *reg, uint32_t i)
{
	return i + 1 == reg->dir_capacity ? 0 : i + 1;
}

/*
 * An entry, read by a writer exactly (a CAS that changes nothing) or by a
 * read-only viewer as two loads. A torn viewer read is harmless: lo never
 * changes once set, and whatever hi says is checked against the slot.
 */
static inline iso_pair_t dir_read(iso_reg_t *reg, iso_dirent_t *e)
{
	if (!reg->rdonly)
		return iso_read128_acq_rel(e);
	/* acquire, both: pairs with the release of the CAS that wrote the
	 * entry, which came after the slot's key was written. */
	iso_pair_t v;
	v.lo = iso_load64_acquire(&e->lo);
	v.hi = iso_load64_acquire(&e->hi);
	return v;
}

/*
 * Does slot @s hold @key in generation @gen, LIVE or RESERVED? The key is
 * read as acquire words and the publication word re-checked after, so a
 * slot reused meanwhile never matches by a torn read. The state alone may
 * move on (RESERVED -> LIVE as its registrant publishes) and must not make
 * a live rival look absent: only the generation is re-checked. Returns
 * the re-checked publication word (never 0: LIVE and RESERVED are not),
 * or 0 if the slot does not hold the key. Inlined into each caller: it is
 * most of a lookup.
 */
static inline __attribute__((always_inline)) uint64_t
slot_holds(iso_reg_t *reg, uint32_t s, uint32_t gen, const struct iso_nkey *key)
{
	struct iso_slot *slot = &reg->slots[s];
	uint64_t sw = iso_slot_lo(slot);
	uint32_t st = ISO_SW_STATE(sw);
	if (ISO_SW_GEN(sw) != gen ||
	    (st != ISO_SLOT_LIVE && st != ISO_SLOT_RESERVED))
		return 0;
	if (!iso_slot_key_is(slot, key))
		return 0;
	sw = iso_slot_lo(slot);
	return ISO_SW_GEN(sw) == gen ? sw : 0;
}

bool iso_dir_entry_dead(iso_reg_t *reg, uint64_t hi)
{
	uint32_t s;
	if (!de_slot(reg, hi, &s))
		return hi != 0; /* a bad index is dead too; 0 is a tombstone */
	uint64_t sw = iso_slot_lo(&reg->slots[s]);
	uint32_t st = ISO_SW_STATE(sw);
	return ISO_SW_GEN(sw) != ISO_DE_GEN(hi) ||
	       (st != ISO_SLOT_LIVE && st != ISO_SLOT_RESERVED);
}

bool iso_dir_tombstone(iso_reg_t *reg, uint32_t i, iso_pair_t v)
{
	iso_pair_t want = v;
	ISO_FP("dir.tombstone");
	/* acq_rel: one CAS decides against a racing publish or defeat. */
	if (!iso_cas128_acq_rel(&reg->dir[i], &want, (iso_pair_t){ v.lo, 0 }))
		return false;
	ISO_FP("dir.tombstone.count");
	iso_faa32_relaxed(&reg->hdr->dir_tombstones, 1); /* statistic */
	return true;
}

int iso_dir_find_key(iso_reg_t *reg, const struct iso_nkey *key,
		     uint32_t *slot, uint32_t *gen)
{
	const uint64_t hash = key->hash;
	uint32_t i = iso_dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		iso_dirent_t *e = &reg->dir[i];
		/* acquire: pairs with the release of the CAS that set lo. */
		uint64_t h = iso_load64_acquire(&e->lo);
		if (h == 0)
			return ISO_ENOENT;
		if (h != hash)
			continue;
		/* acquire: pairs with the CAS that published the entry after
		 * its slot's key was written. */
		uint64_t hi = iso_load64_acquire(&e->hi);
		uint32_t s, g = ISO_DE_GEN(hi);
		uint64_t sw;
		if ((hi & ISO_DE_PENDING) || !de_slot(reg, hi, &s) ||
		    !(sw = slot_holds(reg, s, g, key)))
			continue;
		/* A live entry names it, so its registrant got past its
		 * publish: a writer finishes the slot's publication for it
		 * (it may have died); read-only callers treat it as live. */
		if (unlikely(ISO_SW_STATE(sw) == ISO_SLOT_RESERVED) &&
		    !reg->rdonly && !iso_slot_publish(reg, s, g))
			continue; /* retired meanwhile */
		*slot = s;
		*gen = g;
		return 0;
	}
	return ISO_ENOENT;
}

int iso_dir_find(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		 uint32_t *slot, uint32_t *gen)
{
	struct iso_nkey nk;
	iso_key_norm_key(key, &nk);
	nk.hash = hash;
	return iso_dir_find_key(reg, &nk, slot, gen);
}

int iso_dir_entry_of(iso_reg_t *reg, uint64_t hash, uint32_t slot,
		     uint32_t gen)
{
	uint32_t i = iso_dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		iso_dirent_t *e = &reg->dir[i];
		uint64_t h = iso_load64_acquire(&e->lo); /* as in iso_dir_find */
		if (h == 0)
			return -1;
		if (h != hash)
			continue;
		uint64_t hi = iso_load64_acquire(&e->hi);
		if ((hi & ~ISO_DE_PENDING) == ISO_DE_MAKE(gen, slot, 0))
			return (hi & ISO_DE_PENDING) ? 0 : 1;
	}
	return -1;
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
static bool rivals_beat_us(iso_reg_t *reg, const struct iso_nkey *key,
			   uint64_t hash, uint32_t mine, uint32_t *found,
			   uint32_t *found_gen)
{
	uint32_t i = iso_dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		if (i == mine)
			continue;
		iso_pair_t v = dir_read(reg, &reg->dir[i]);
		uint32_t s, g = ISO_DE_GEN(v.hi);
		if (v.lo == 0)
			return false;
		if (v.lo != hash || !de_slot(reg, v.hi, &s) ||
		    !slot_holds(reg, s, g, key))
			continue;
		if (!(v.hi & ISO_DE_PENDING)) {
			*found = s;
			*found_gen = g;
			return true; /* a live entry for our key */
		}
		if (iso_dir_tombstone(reg, i, v))
			continue; /* defeated: its publish will fail */
		iso_pair_t now = dir_read(reg, &reg->dir[i]);
		if (now.lo == v.lo && now.hi == (v.hi & ~ISO_DE_PENDING)) {
			*found = s;
			*found_gen = g;
			return true; /* it published first */
		}
	}
	return false;
}

int iso_dir_insert(iso_reg_t *reg, const struct iso_nkey *key,
		   uint32_t slot, uint32_t gen, uint32_t *found_slot,
		   uint32_t *found_gen)
{
	const uint64_t hash = key->hash;
	const uint64_t live = ISO_DE_MAKE(gen, slot, 0);
	const uint64_t pending = ISO_DE_MAKE(gen, slot, 1);
	for (unsigned attempt = 0;; attempt++) {
		uint32_t i = iso_dir_home(reg, hash), found = 0, fgen = 0;
		int64_t cand = -1;
		iso_pair_t cand_val = { 0, 0 };

		/* 1. Scan: is the key live already? Where could it go? */
		for (uint32_t n = 0; n < reg->dir_capacity;
		     n++, i = dir_next(reg, i)) {
			iso_pair_t v = dir_read(reg, &reg->dir[i]);
			uint32_t s, g = ISO_DE_GEN(v.hi);
			if (v.lo == 0 || v.hi == 0) {
				if (cand < 0) {
					cand = i;
					cand_val = v;
				}
				if (v.lo == 0)
					break;
				continue;
			}
			if (v.lo == hash && !(v.hi & ISO_DE_PENDING) &&
			    de_slot(reg, v.hi, &s) && slot_holds(reg, s, g, key)) {
				*found_slot = s;
				*found_gen = g;
				return ISO_EEXIST;
			}
			/* A dead entry on the way: give it back, so retired
			 * accounts never fill the table. */
			if (!(v.hi & ISO_DE_PENDING) && iso_dir_entry_dead(reg, v.hi) &&
			    iso_dir_tombstone(reg, i, v) && cand < 0) {
				cand = i;
				cand_val = (iso_pair_t){ v.lo, 0 };
			}
		}
		if (cand < 0)
			return iso_fail(ISO_EFULL, "directory full: all %u "
					"entries hold live or registering keys",
					reg->dir_capacity);

		/* 2. Claim. acq_rel: the slot's key, written before, is
		 * visible to whoever acquires this entry. */
		iso_pair_t want = cand_val;
		ISO_FP("dir.claim");
		if (!iso_cas128_acq_rel(&reg->dir[cand], &want,
					(iso_pair_t){ hash, pending }))
			continue;
		if (cand_val.lo) {
			ISO_FP("dir.claim.count");
			iso_sub32_relaxed(&reg->hdr->dir_tombstones, 1);
		}

		/* 3. Rivals, then 4. publish. */
		bool lost = rivals_beat_us(reg, key, hash, (uint32_t)cand,
					   &found, &fgen);
		want = (iso_pair_t){ hash, pending };
		ISO_FP("dir.publish");
		if (!lost && iso_cas128_acq_rel(&reg->dir[cand], &want,
						(iso_pair_t){ hash, live }))
			return 0;
		/* Lost: give the entry back if a rival has not already. */
		iso_dir_tombstone(reg, (uint32_t)cand, (iso_pair_t){ hash, pending });
		if (lost) {
			*found_slot = found;
			*found_gen = fgen;
			return ISO_EEXIST;
		}
		backoff(attempt, reg->pid);
	}
}

int iso_dir_remove(iso_reg_t *reg, uint64_t hash, uint32_t slot, uint32_t gen)
{
	uint32_t i = iso_dir_home(reg, hash);
	for (uint32_t n = 0; n < reg->dir_capacity; n++, i = dir_next(reg, i)) {
		uint64_t h = iso_load64_acquire(&reg->dir[i].lo); /* as in find */
		if (h == 0)
			break;
		if (h == hash &&
		    iso_dir_tombstone(reg, i, (iso_pair_t){ hash, ISO_DE_MAKE(gen, slot, 0) }))
			return 0;
	}
	return ISO_ENOENT;
}

int iso_dir_settle_slot(iso_reg_t *reg, uint32_t slot, uint32_t gen)
{
	for (uint32_t i = 0; i < reg->dir_capacity; i++) {
		iso_pair_t v = dir_read(reg, &reg->dir[i]);
		if (v.lo == 0 || (v.hi & ~ISO_DE_PENDING) != ISO_DE_MAKE(gen, slot, 0))
			continue;
		if (!(v.hi & ISO_DE_PENDING))
			return 1;
		/* The owner is dead, so nobody can publish this entry now;
		 * if the CAS fails it was defeated or published meanwhile. */
		if (!iso_dir_tombstone(reg, i, v)) {
			iso_pair_t now = dir_read(reg, &reg->dir[i]);
			if (now.hi == ISO_DE_MAKE(gen, slot, 0))
				return 1;
		}
	}
	return 0;
}
