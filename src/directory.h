/*
 * directory.h - the shared key -> slot table [S3] (directory.c). Entries
 * name a slot and its generation (layout.h). Sits above slot.h, below
 * every file that registers, retires or looks up by key.
 */
#ifndef ISO_DIRECTORY_H
#define ISO_DIRECTORY_H

#include "slot.h"

/*
 * iso_dir_home - a key's home entry, @hash % dir_capacity (the format:
 * every process must agree), without a 64-bit divide on every lookup:
 * dir_magic is floor((2^64 - 1) / d), so the quotient taken from the high
 * half of hash * dir_magic is the true one or one less, and one
 * subtraction fixes the remainder. Pure; any thread.
 */
static inline uint32_t iso_dir_home(const iso_reg_t *reg, uint64_t hash)
{
	uint64_t d = reg->dir_capacity;
	uint64_t q = (uint64_t)(((unsigned __int128)hash * reg->dir_magic) >> 64);
	uint64_t r = hash - q * d;
	return (uint32_t)(r >= d ? r - d : r);
}

/* Writers only, except iso_dir_find(_key) and iso_dir_entry_of, which also
 * work read-only. */
/** iso_dir_find_key - the account holding @key: a live entry whose slot
 * holds the key in that generation, LIVE or RESERVED (a registrant that
 * died after publishing its entry; a writer finishes its publication).
 * Returns 0 or ISO_ENOENT, and records no error text. */
int iso_dir_find_key(iso_reg_t *reg, const struct iso_nkey *key,
		     uint32_t *slot, uint32_t *gen);
/** iso_dir_find - the same from a normalised, terminated key and its hash
 * (doctor, tests). */
int iso_dir_find(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		 uint32_t *slot, uint32_t *gen);
/** iso_dir_insert - publish (@slot, @gen) for @key, which this process has
 * reserved and filled. Returns 0, ISO_EEXIST with *found_slot and
 * *found_gen if the key is live elsewhere, or ISO_EFULL. Never waits. */
int iso_dir_insert(iso_reg_t *reg, const struct iso_nkey *key,
		   uint32_t slot, uint32_t gen, uint32_t *found_slot,
		   uint32_t *found_gen);
/** iso_dir_remove - tombstone the live entry (@hash, @slot, @gen), if it is
 * still there. One CAS on an entry naming that generation only. */
int iso_dir_remove(iso_reg_t *reg, uint64_t hash, uint32_t slot, uint32_t gen);
/** iso_dir_entry_of - the entry naming (@slot, @gen) on @hash's chain:
 * 1 live, 0 pending, -1 none. */
int iso_dir_entry_of(iso_reg_t *reg, uint64_t hash, uint32_t slot,
		     uint32_t gen);
/** iso_dir_settle_slot - for doctor, on a reservation whose owner is dead:
 * searches the whole table (its hash may never have been written) for
 * entries naming (@slot, @gen). A live one: returns 1 (publish the slot).
 * Else tombstones the pending ones and returns 0. */
int iso_dir_settle_slot(iso_reg_t *reg, uint32_t slot, uint32_t gen);
/** iso_dir_entry_dead - whether entry value @hi names a slot generation
 * that is no longer LIVE or RESERVED (anyone may tombstone it). */
bool iso_dir_entry_dead(iso_reg_t *reg, uint64_t hi);
/** iso_dir_tombstone - CAS entry @i from exactly @v to a tombstone. */
bool iso_dir_tombstone(iso_reg_t *reg, uint32_t i, iso_pair_t v);

#endif /* ISO_DIRECTORY_H */
