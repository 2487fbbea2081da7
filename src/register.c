/*
 * register.c - registration and lookup: reserve a slot (one CAS that
 * names us as its owner), fill it, publish a directory entry naming (slot,
 * gen), then CAS the slot LIVE. A key never has two live slots, and a
 * process killed between any two steps leaves a state every other process
 * reads correctly and doctor can finish (RELIABILITY.md).
 *
 * Must never: wait for another registrant, or return a handle that was
 * not live when it was returned.
 */
#include <stdio.h>
#include <string.h>

#include "failpoint.h"
#include "window.h"
#include "handle.h"
#include "directory.h"

#define REGISTER_ATTEMPTS 64

/*
 * Reserve slot @s, whose publication pair is exactly @cur (FREE, or
 * RETIRED past its cooldown): one CAS makes it RESERVED in the next
 * generation and names this process as its owner.
 */
static bool reserve_one(iso_reg_t *reg, uint32_t s, iso_pair_t cur,
			uint32_t *gen)
{
	uint32_t g = ISO_SW_GEN(cur.lo) + 1;
	iso_pair_t mine = { ISO_SW_MAKE(g, ISO_SLOT_RESERVED, reg->pid & 0xffffff),
			    reg->owner_tag };
	struct iso_slot *sl = &reg->slots[s];
	ISO_FP("reserve.cas");
	/* acq_rel: acquire pairs with the retirer's release (its slot is
	 * done with); release orders nothing yet. */
	if (!iso_cas128_acq_rel(&sl->state, &cur, mine))
		return false;
	*gen = g;
	/* The previous account's entry, if its retirer died before removing
	 * it: it is dead already (it names the old generation), and giving
	 * it back keeps the table from filling. The hash is still the old
	 * account's: we own the slot and have not rewritten it. */
	if (ISO_SW_STATE(cur.lo) == ISO_SLOT_RETIRED) {
		ISO_FP("reserve.clean");
		iso_dir_remove(reg, iso_load64_relaxed(&sl->hash), s,
			       ISO_SW_GEN(cur.lo));
	}
	return true;
}

/* Claim a slot for a new account: never-used slots first, then slots
 * given back or retired longer ago than the cooldown. */
static int slot_reserve(iso_reg_t *reg, uint32_t *slot, uint32_t *gen)
{
	struct iso_shm_header *h = reg->hdr;

	while (iso_load32_relaxed(&h->next_slot) < reg->capacity) {
		ISO_FP("reserve.next");
		/* relaxed: the slot's own CAS decides who gets it. */
		uint32_t s = iso_faa32_relaxed(&h->next_slot, 1);
		if (s >= reg->capacity)
			break;
		iso_pair_t cur = iso_read128_acq_rel(&reg->slots[s].state);
		if (ISO_SW_STATE(cur.lo) != ISO_SLOT_FREE)
			continue; /* corrupt or raced: leave it to doctor */
		if (reserve_one(reg, s, cur, gen)) {
			*slot = s;
			return 0;
		}
	}

	uint64_t now = iso_stamp_ms();
	uint32_t start = (uint32_t)(reg->pid * 2654435761u) % reg->capacity;
	uint32_t cooling = 0;
	for (uint32_t n = 0; n < reg->capacity; n++) {
		uint32_t s = (start + n) % reg->capacity;
		struct iso_slot *sl = &reg->slots[s];
		uint32_t st = ISO_SW_STATE(iso_slot_lo(sl));
		if (st != ISO_SLOT_RETIRED && st != ISO_SLOT_FREE)
			continue;
		iso_pair_t cur = iso_read128_acq_rel(&sl->state);
		st = ISO_SW_STATE(cur.lo);
		if (st == ISO_SLOT_RETIRED) {
			/* The stamp came with RETIRED in one CAS. */
			if (now < cur.hi + reg->cooldown_ms) {
				cooling++;
				continue;
			}
		} else if (st != ISO_SLOT_FREE) {
			continue;
		}
		if (reserve_one(reg, s, cur, gen)) {
			*slot = s;
			return 0;
		}
	}
	return iso_fail(ISO_EFULL, "segment %s is full: all %u slots hold "
			"accounts (%u retired slots are still cooling down)",
			reg->name, reg->capacity, cooling);
}

/* Give a reservation back: never reachable, so no cooldown is needed. */
static void slot_give_back(iso_reg_t *reg, uint32_t slot, uint32_t gen)
{
	iso_pair_t want = { ISO_SW_MAKE(gen, ISO_SLOT_RESERVED, reg->pid & 0xffffff),
			    reg->owner_tag };
	ISO_FP("register.give_back");
	iso_cas128_acq_rel(&reg->slots[slot].state, &want,
			   (iso_pair_t){ ISO_SW_MAKE(gen, ISO_SLOT_FREE, 0), 0 });
}

/*
 * Fill a reserved slot. No one else writes it: only we hold it, and the
 * cooldown makes every stale handle's write land (or be detected) before
 * reuse. The counters are zeroed with release so a stale write landing
 * after them sees the new generation (check_landed).
 */
static void slot_fill(iso_reg_t *reg, struct iso_slot *s, uint32_t gen,
		      const struct iso_key *key, uint64_t hash)
{
	ISO_FP("fill.hash");
	iso_store64_relaxed(&s->hash, hash);
	iso_slot_write_key(s, key);
	struct iso_bw b = iso_bw_initial(gen, iso_now_ms());
	iso_pair_t w = iso_bw_pack(&b);
	ISO_FP("fill.breaker");
	iso_store64_relaxed(&s->breaker.lo, w.lo);
	iso_store64_relaxed(&s->breaker.hi, w.hi);
	ISO_FP("fill.config");
	iso_store8_relaxed(&s->config.override, 0);
	iso_store32_relaxed(&s->last_transition_info,
			    (uint32_t)ISO_CAUSE_REGISTER << 8 | 0xff);
	iso_store64_relaxed(&s->last_transition_ms, (uint64_t)iso_wall_ms());
	ISO_FP("fill.counters");
	iso_store64_relaxed(&s->quarantines, 0);
	iso_store64_release(&s->successes, 0);
	for (int i = 0; i < ISO_FAIL__COUNT; i++)
		iso_store64_release(&s->failures[i], 0);
	iso_store64_relaxed(&s->op_ns_sum, 0);
	iso_store64_relaxed(&s->ema_ns, 0);
	iso_store64_relaxed((uint64_t *)&s->last_success_ms, 0);
	iso_store64_relaxed((uint64_t *)&s->last_failure_ms, 0);
	iso_store64_relaxed(&s->successes_at_failure, 0);
	for (int i = 0; i < ISO_SLOT_HIST; i++)
		iso_store32_relaxed(&s->hist[i], 0);
	iso_store64_relaxed(&s->op_ns_min, 0);
	iso_store64_relaxed(&s->op_ns_max, 0);
	/* A new account starts with a full budget: TAT 0 is "long ago". */
	ISO_FP("fill.budget");
	iso_store64_relaxed(&s->budget_cfg, 0);
	iso_store64_relaxed(&s->budget_tat, 0);
	iso_store64_relaxed(&s->budget_refusals, 0);
	/* [B7] the window entry: its counts, and its config (read only
	 * behind config.override, stored 0 above). */
	struct iso_shm_window *win = iso_slot_window(reg, s);
	if (win) {
		iso_window_clear(win);
		iso_store32_relaxed(&win->cfg.window_ms, 0);
	}
}

/*
 * The live account of @k, or ISO_ENOENT without a word of error text:
 * registration asks this first of every new key, and a miss is its
 * normal case.
 */
static int find_key(iso_reg_t *reg, const struct iso_nkey *k,
		    iso_account_t *acct)
{
	uint32_t slot, gen;
	if (iso_index_get(reg, k, &slot, &gen)) {
		uint64_t sw = iso_slot_lo(&reg->slots[slot]);
		if (sw == ISO_SW_MAKE(gen, ISO_SLOT_LIVE, 0)) {
			*acct = (iso_account_t){ reg, slot, gen };
			return 0;
		}
		iso_index_drop(reg, k); /* retired elsewhere */
	}
	if (iso_dir_find_key(reg, k, &slot, &gen) == 0) {
		iso_index_put(reg, k, slot, gen);
		*acct = (iso_account_t){ reg, slot, gen };
		return 0;
	}
	return ISO_ENOENT;
}

/* find_key for a caller that gets the answer: a miss says which key. */
static int lookup_key(iso_reg_t *reg, const struct iso_nkey *k,
		      iso_account_t *acct)
{
	if (likely(find_key(reg, k, acct) == 0))
		return 0;
	char ks[ISO_KEY_STR_MAX + 1];
	iso_key_format(&k->k, ks, sizeof(ks));
	return iso_fail(ISO_ENOENT, "account %s is not registered", ks);
}

int iso_lookup_key(iso_reg_t *reg, const struct iso_key *key,
		   iso_account_t *acct)
{
	if (!iso_reg_ok(reg) || !key || !acct)
		return iso_fail(ISO_EINVAL, "iso_lookup: NULL argument");
	struct iso_nkey k;
	int rc = iso_key_norm(key->type, key->id, key->broker, &k);
	return rc ? rc : lookup_key(reg, &k, acct);
}

int iso_lookup(iso_reg_t *reg, const char *type, const char *id,
	       const char *broker, iso_account_t *acct)
{
	struct iso_nkey k;
	int rc;
	if (!iso_reg_ok(reg) || !acct)
		return iso_fail(ISO_EINVAL, "iso_lookup: NULL argument");
	if ((rc = iso_key_norm(type, id, broker, &k)))
		return rc;
	return lookup_key(reg, &k, acct);
}

int iso_register_key(iso_reg_t *reg, const struct iso_key *key,
		     iso_account_t *acct)
{
	if (!key)
		return iso_fail(ISO_EINVAL, "iso_register: key is NULL");
	return iso_register(reg, key->type, key->id, key->broker, acct);
}

int iso_register(iso_reg_t *reg, const char *type, const char *id,
		 const char *broker, iso_account_t *acct)
{
	struct iso_nkey nk;
	const struct iso_key *k = &nk.k;
	int rc;

	if (!iso_reg_ok(reg) || !acct)
		return iso_fail(ISO_EINVAL, "iso_register: NULL argument");
	if ((rc = iso_key_norm(type, id, broker, &nk)))
		return rc;
	const uint64_t hash = nk.hash;
	/*
	 * Each pass ends in a live handle or a fresh try: the key found live
	 * and then retired before we used it, or our own account retired
	 * (or its reservation lost) between our entry and our LIVE CAS, are
	 * races with other callers, never an answer to give ours.
	 */
	for (int attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
		uint32_t slot = 0, gen = 0, found = 0, fgen = 0;
		if (find_key(reg, &nk, acct) == 0)
			return 0;
		if (reg->rdonly)
			return iso_fail(ISO_ERDONLY, "cannot register %s/%s/%s: "
					"segment %s is attached read-only",
					k->type, k->id, k->broker, reg->name);
		if ((rc = slot_reserve(reg, &slot, &gen))) {
			/* Full, unless the key was registered meanwhile. */
			char why[256];
			if (rc != ISO_EFULL)
				return rc;
			snprintf(why, sizeof(why), "%s", iso_last_error());
			if (find_key(reg, &nk, acct) == 0)
				return 0;
			return iso_fail(ISO_EFULL, "%s", why);
		}
		slot_fill(reg, &reg->slots[slot], gen, k, hash);

		rc = iso_dir_insert(reg, &nk, slot, gen, &found, &fgen);
		if (rc == 0) {
			ISO_FP("register.generation");
			/* relaxed: a hint for viewers to rescan, nothing more. */
			iso_faa64_relaxed(&reg->hdr->generation, 1);
			if (!iso_slot_publish(reg, slot, gen)) {
				/* Retired by someone who found our entry, or
				 * our reservation was taken: the entry is dead
				 * either way. Start again. */
				iso_dir_remove(reg, hash, slot, gen);
				continue;
			}
			/* No event: a fleet start of thousands of
			 * registrations would wipe the ring of what operators
			 * need from it (transitions and their own actions);
			 * new accounts show in the generation and the list. */
			iso_index_put(reg, &nk, slot, gen);
			*acct = (iso_account_t){ reg, slot, gen };
			return 0;
		}
		slot_give_back(reg, slot, gen);
		if (rc != ISO_EEXIST)
			return rc;
		/* Someone registered the same key first: look theirs up. */
	}
	return iso_fail(ISO_EBUSY, "registering %s/%s/%s: the key was retired "
			"or re-registered under us %d times in a row", k->type,
			k->id, k->broker, REGISTER_ATTEMPTS);
}

int iso_account_key(const iso_account_t *acct, struct iso_key *key)
{
	int rc;
	struct iso_slot *s;
	if (!key)
		return iso_fail(ISO_EINVAL, "iso_account_key: key is NULL");
	if (!(s = slot_of(acct, &rc)))
		return rc;
	iso_slot_read_key(s, key);
	return 0;
}
