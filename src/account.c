/*
 * account.c - accounts: registration, handles, the hot path, and operator
 * actions, each a thin shell around the pure breaker function.
 *
 * A slot's life is in slot.h. Every call through a handle checks the
 * slot's publication word for LIVE and the handle's generation; every
 * breaker CAS compares the generation carried in the breaker word, so a
 * stale handle can never move another account's breaker.
 *
 * Registration: reserve a slot (one CAS naming us as owner), fill it,
 * publish a directory entry naming (slot, gen), then CAS the slot LIVE.
 * Retire: CAS the slot RETIRED (the account ends there), then remove the
 * entry naming that generation. So a LIVE slot always has its entry, a key
 * never has two LIVE slots, and a process killed between any two steps
 * leaves a state every other process reads correctly (RELIABILITY.md).
 *
 * Must never: block, wait for another writer, or trust an index read from
 * the segment without a bounds check.
 */
#include <stdio.h>
#include <string.h>

#include "failpoint.h"
#include "slot.h"

/* Operation times above this (13 days) are clamped: no overflow in the
 * EMA or the sum, whatever a caller passes. */
#define OP_NS_MAX (1ull << 50)

#define REGISTER_ATTEMPTS 64

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
static struct iso_slot *slot_of_slow(const iso_account_t *a, struct iso_slot *s,
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
	return slot_of_slow(a, s, sw, rc);
}

static struct iso_slot *writable_slot_of(const iso_account_t *a, int *rc)
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

/* Note a transition in the slot and the event ring. */
static void record_transition(iso_reg_t *reg, struct iso_slot *s,
			      uint32_t slot, uint32_t gen,
			      const struct iso_bw *from, const struct iso_bw *to,
			      enum iso_cause cause, int ftype, const char *text)
{
	enum iso_health hf = iso_bw_health(from), ht = iso_bw_health(to);
	/* An operator's action is always an event, even when it moves
	 * nothing visible (a reset of a healthy account). */
	if (hf == ht && from->state == to->state && !text)
		return;
	ISO_FP("transition.info");
	iso_store64_relaxed(&s->last_transition_ms, (uint64_t)iso_wall_ms());
	iso_store32_relaxed(&s->last_transition_info,
			    ((uint32_t)cause << 8) | (uint32_t)(ftype & 0xff));
	iso_event_append_text(reg, slot, gen, hf, ht,
			      (enum iso_breaker_state)to->state, cause, ftype,
			      text);
}

/*
 * The CAS loop around the pure function [B4]. Returns 0 or ISO_ESTALE;
 * *out gets the answer computed from the word that was installed.
 */
static int transition_text(const iso_account_t *a, struct iso_slot *s,
			   const struct iso_bevent *ev, struct iso_bout *out,
			   enum iso_cause cause, uint16_t *episode,
			   const char *text)
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
		if (out->quarantined) {
			ISO_FP("transition.quarantines");
			iso_add64_relaxed(&s->quarantines, 1);
		}
		/* A timeout that happened lazily inside this step is
		 * its own transition, reported as such. */
		struct iso_bevent t = { .kind = ISO_BEV_TICK };
		struct iso_bw mid = iso_breaker_next(from, &t, &cfg, now, NULL);
		if (!iso_bw_equal(&mid, &from) && ev->kind != ISO_BEV_TICK &&
		    mid.state != from.state) {
			record_transition(a->reg, s, a->slot, a->gen,
					  &from, &mid,
					  ISO_CAUSE_TIMEOUT, -1, NULL);
			from = mid;
		}
		record_transition(a->reg, s, a->slot, a->gen, &from, &to,
				  cause, ev->kind == ISO_BEV_FAILURE
				  ? ev->ftype : -1, text);
		if (episode && ev->kind == ISO_BEV_ACQUIRE)
			*episode = to.episode;
		return 0;
	}
}

static int transition(const iso_account_t *a, struct iso_slot *s,
		      const struct iso_bevent *ev, struct iso_bout *out,
		      enum iso_cause cause, uint16_t *episode)
{
	return transition_text(a, s, ev, out, cause, episode, NULL);
}

/* ----------------------------------------------------- registration */

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
		iso_store64_relaxed(&s->hist[i], 0);
}

static int lookup_key(iso_reg_t *reg, const struct iso_key *key,
		      uint64_t hash, iso_account_t *acct)
{
	uint32_t slot, gen;
	if (iso_index_get(reg, key, hash, &slot, &gen)) {
		uint64_t sw = iso_slot_lo(&reg->slots[slot]);
		if (sw == ISO_SW_MAKE(gen, ISO_SLOT_LIVE, 0)) {
			*acct = (iso_account_t){ reg, slot, gen };
			return 0;
		}
		iso_index_drop(reg, key, hash); /* retired elsewhere */
	}
	if (iso_dir_find(reg, key, hash, &slot, &gen) == 0) {
		iso_index_put(reg, key, hash, slot, gen);
		*acct = (iso_account_t){ reg, slot, gen };
		return 0;
	}
	char k[ISO_KEY_STR_MAX + 1];
	iso_key_format(key, k, sizeof(k));
	return iso_fail(ISO_ENOENT, "account %s is not registered", k);
}

int iso_lookup_key(iso_reg_t *reg, const struct iso_key *key,
		   iso_account_t *acct)
{
	if (!iso_reg_ok(reg) || !key || !acct)
		return iso_fail(ISO_EINVAL, "iso_lookup: NULL argument");
	struct iso_key k;
	int rc = iso_key_make(key->type, key->id, key->broker, &k);
	if (rc)
		return rc;
	return lookup_key(reg, &k, iso_key_hash(&k), acct);
}

int iso_lookup(iso_reg_t *reg, const char *type, const char *id,
	       const char *broker, iso_account_t *acct)
{
	struct iso_key k;
	int rc;
	if (!iso_reg_ok(reg) || !acct)
		return iso_fail(ISO_EINVAL, "iso_lookup: NULL argument");
	if ((rc = iso_key_make(type, id, broker, &k)))
		return rc;
	return lookup_key(reg, &k, iso_key_hash(&k), acct);
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
	struct iso_key k;
	int rc;

	if (!iso_reg_ok(reg) || !acct)
		return iso_fail(ISO_EINVAL, "iso_register: NULL argument");
	if ((rc = iso_key_make(type, id, broker, &k)))
		return rc;
	uint64_t hash = iso_key_hash(&k);
	/*
	 * Each pass ends in a live handle or a fresh try: the key found live
	 * and then retired before we used it, or our own account retired
	 * (or its reservation lost) between our entry and our LIVE CAS, are
	 * races with other callers, never an answer to give ours.
	 */
	for (int attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
		uint32_t slot = 0, gen = 0, found = 0, fgen = 0;
		if (lookup_key(reg, &k, hash, acct) == 0)
			return 0;
		if (reg->rdonly)
			return iso_fail(ISO_ERDONLY, "cannot register %s/%s/%s: "
					"segment %s is attached read-only",
					k.type, k.id, k.broker, reg->name);
		if ((rc = slot_reserve(reg, &slot, &gen))) {
			/* Full, unless the key was registered meanwhile. */
			char why[256];
			if (rc != ISO_EFULL)
				return rc;
			snprintf(why, sizeof(why), "%s", iso_last_error());
			if (lookup_key(reg, &k, hash, acct) == 0)
				return 0;
			return iso_fail(ISO_EFULL, "%s", why);
		}
		slot_fill(reg, &reg->slots[slot], gen, &k, hash);

		rc = iso_dir_insert(reg, &k, hash, slot, gen, &found, &fgen);
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
			iso_index_put(reg, &k, hash, slot, gen);
			*acct = (iso_account_t){ reg, slot, gen };
			return 0;
		}
		slot_give_back(reg, slot, gen);
		if (rc != ISO_EEXIST)
			return rc;
		/* Someone registered the same key first: look theirs up. */
	}
	return iso_fail(ISO_EBUSY, "registering %s/%s/%s: the key was retired "
			"or re-registered under us %d times in a row", k.type,
			k.id, k.broker, REGISTER_ATTEMPTS);
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

/* ------------------------------------------------------- the hot path */

int iso_acquire(const iso_account_t *acct, iso_permit_t *p)
{
	int rc;
	struct iso_slot *s;
	if (unlikely(!p))
		return iso_fail(ISO_EINVAL, "iso_acquire: permit is NULL");
	if (unlikely(!(s = writable_slot_of(acct, &rc))))
		return rc;
	/* acquire: pairs with the CAS that installed this breaker word. */
	uint64_t lo = iso_load64_acquire(&s->breaker.lo);
	p->slot = acct->slot;
	p->gen = acct->gen;
	p->retry_in_ms = 0;
	/* Broker-wide halts (broker.c): one relaxed load of a read-mostly
	 * header word; the table only while some broker is halted. */
	if (unlikely(iso_load32_relaxed(&acct->reg->hdr->broker_halts)) &&
	    iso_broker_halted_slot(acct->reg, s)) {
		p->episode = iso_bw_lo_episode(lo);
		p->flags = 0;
		p->reason = ISO_REASON_FORCED_OPEN;
		p->health = ISO_QUARANTINED;
		return ISO_EOPEN;
	}
	if (likely(iso_bw_lo_state(lo) == ISO_BREAKER_CLOSED &&
		   iso_bw_lo_gen(lo) == acct->gen)) {
		/* CLOSED admits everyone: one load, no write. */
		bool deg = iso_bw_lo_degraded(lo);
		p->episode = iso_bw_lo_episode(lo);
		p->flags = 0;
		p->reason = deg ? ISO_REASON_DEGRADED : ISO_REASON_HEALTHY;
		p->health = deg ? ISO_DEGRADED : ISO_HEALTHY;
		return 0;
	}
	struct iso_bevent ev = { .kind = ISO_BEV_ACQUIRE };
	struct iso_bout out;
	uint16_t episode = 0;
	if ((rc = transition(acct, s, &ev, &out, ISO_CAUSE_TIMEOUT, &episode)))
		return rc;
	struct iso_bw now = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	p->episode = episode;
	p->flags = (out.probe ? ISO_PERMIT_PROBE : 0) |
		   (out.reason == ISO_REASON_OBSERVED ? ISO_PERMIT_OBSERVED : 0);
	p->reason = out.reason;
	p->health = (uint8_t)iso_bw_health(&now);
	p->retry_in_ms = out.retry_in_ms;
	return out.allowed ? 0 : ISO_EOPEN;
}

/* Log2 bucket of an operation time; see ISO_HIST_BUCKETS. */
static inline unsigned hist_bucket(uint64_t ns)
{
	if (ns < (1ull << 14))
		return 0;
	unsigned b = 63u - (unsigned)__builtin_clzll(ns); /* floor(log2) */
	b -= 13;
	return b >= ISO_SLOT_HIST ? ISO_SLOT_HIST - 1 : b;
}

uint64_t iso_hist_upper_ns(int i)
{
	if (i < 0 || i >= ISO_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return 1ull << (14 + i);
}

static inline void record_time(struct iso_slot *s, uint64_t op_ns)
{
	if (!op_ns)
		return;
	if (unlikely(op_ns > OP_NS_MAX))
		op_ns = OP_NS_MAX;
	ISO_FP("outcome.time");
	iso_add64_relaxed(&s->hist[hist_bucket(op_ns)], 1);
	iso_add64_relaxed(&s->op_ns_sum, op_ns);
	/* The EMA is a statistic: a racing update may be lost, never torn.
	 * Both values are at most OP_NS_MAX, so the difference fits. */
	uint64_t old = iso_load64_relaxed(&s->ema_ns);
	uint64_t ema = old ? (uint64_t)((int64_t)old +
					((int64_t)op_ns - (int64_t)old) / 10)
			   : op_ns;
	iso_store64_relaxed(&s->ema_ns, ema);
}

static int outcome_slow(const iso_account_t *acct, struct iso_slot *s,
			const iso_permit_t *p, const struct iso_bevent *ev,
			enum iso_cause cause)
{
	struct iso_bout out;
	uint16_t episode;
	if (p && (p->slot != acct->slot || p->gen != acct->gen))
		return iso_fail(ISO_EINVAL, "permit belongs to slot %u gen %u, "
				"not to this account (slot %u gen %u)",
				p->slot, p->gen, acct->slot, acct->gen);
	if (p) {
		episode = (uint16_t)p->episode;
		return transition(acct, s, ev, &out, cause, &episode);
	}
	return transition(acct, s, ev, &out, cause, NULL);
}

int iso_record_success(const iso_account_t *acct, const iso_permit_t *p,
		       uint64_t op_ns)
{
	int rc;
	struct iso_slot *s;
	if (unlikely(!(s = writable_slot_of(acct, &rc))))
		return rc;
	/* Statistics first. acquire: see check_landed. */
	ISO_FP("outcome.count");
	iso_add64_acquire(&s->successes, 1);
	record_time(s, op_ns);
	ISO_FP("outcome.last");
	iso_store64_relaxed((uint64_t *)&s->last_success_ms,
			    (uint64_t)iso_wall_ms());
	check_landed(acct, s);
	uint64_t lo = iso_load64_acquire(&s->breaker.lo);
	if (likely(iso_bw_lo_quiet(lo) && iso_bw_lo_gen(lo) == acct->gen))
		return 0; /* CLOSED, healthy, no streak: nothing to move */
	struct iso_bevent ev = { .kind = ISO_BEV_SUCCESS };
	return outcome_slow(acct, s, p, &ev, ISO_CAUSE_SUCCESS);
}

int iso_record_failure_retry(const iso_account_t *acct, const iso_permit_t *p,
			     enum iso_failure_type type, uint64_t op_ns,
			     uint64_t retry_after_ms)
{
	int rc;
	struct iso_slot *s;
	if (unlikely((unsigned)type >= ISO_FAIL__COUNT))
		return iso_fail(ISO_EINVAL, "failure type %d out of range "
				"0..%d", (int)type, ISO_FAIL__COUNT - 1);
	if (unlikely(!(s = writable_slot_of(acct, &rc))))
		return rc;
	/* [M2] an exchange's retry-after holds the breaker at most this
	 * long; a larger value is a bug or an attack, not a wish. */
	if (retry_after_ms > ISO_TIMEOUT_MAX_MS)
		retry_after_ms = ISO_TIMEOUT_MAX_MS;
	ISO_FP("outcome.count");
	iso_add64_acquire(&s->failures[type], 1); /* see check_landed */
	record_time(s, op_ns);
	ISO_FP("outcome.last");
	iso_store64_relaxed((uint64_t *)&s->last_failure_ms,
			    (uint64_t)iso_wall_ms());
	iso_store64_relaxed(&s->successes_at_failure,
			    iso_load64_relaxed(&s->successes));
	check_landed(acct, s);
	struct iso_bevent ev = { .kind = ISO_BEV_FAILURE, .ftype = (uint8_t)type,
				 .retry_after_ms = retry_after_ms };
	return outcome_slow(acct, s, p, &ev, ISO_CAUSE_FAILURE);
}

int iso_record_failure(const iso_account_t *acct, const iso_permit_t *p,
		       enum iso_failure_type type, uint64_t op_ns)
{
	return iso_record_failure_retry(acct, p, type, op_ns, 0);
}

/* ------------------------------------------------------- operators */

int iso_operator_event(const iso_account_t *acct, enum iso_bev_kind kind,
		       enum iso_cause cause, const char *text, bool *changed)
{
	int rc;
	struct iso_slot *s;
	struct iso_bout out = { 0 };
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	struct iso_bevent ev = { .kind = kind };
	rc = transition_text(acct, s, &ev, &out, cause, NULL, text);
	if (changed)
		*changed = out.changed;
	return rc;
}

int iso_reset(const iso_account_t *acct)
{
	return iso_operator_event(acct, ISO_BEV_RESET, ISO_CAUSE_RESET, NULL, NULL);
}

int iso_force_open(const iso_account_t *acct)
{
	return iso_operator_event(acct, ISO_BEV_FORCE_OPEN, ISO_CAUSE_FORCE_OPEN,
				  NULL, NULL);
}

int iso_configure(const iso_account_t *acct, const struct iso_config *cfg)
{
	return iso_configure_text(acct, cfg, NULL);
}

int iso_configure_text(const iso_account_t *acct, const struct iso_config *cfg,
		       const char *text)
{
	int rc;
	struct iso_slot *s;
	if (cfg && (rc = iso_config_validate(cfg)))
		return rc;
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	if (cfg) {
		iso_config_store_shm(&s->config, cfg, 1);
	} else {
		ISO_FP("configure.override");
		/* release: pairs with iso_slot_config's acquire. */
		iso_store8_release(&s->config.override, 0);
	}
	check_landed(acct, s);
	/* Not a transition, but operators want to see it in the stream. */
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	iso_event_append_text(acct->reg, acct->slot, acct->gen, iso_bw_health(&b),
			      iso_bw_health(&b), (enum iso_breaker_state)b.state,
			      ISO_CAUSE_CONFIG, -1, text);
	return 0;
}

int iso_retire(const iso_account_t *acct)
{
	return iso_retire_text(acct, NULL);
}

int iso_retire_text(const iso_account_t *acct, const char *text)
{
	int rc;
	struct iso_slot *s;
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	iso_reg_t *reg = acct->reg;
	uint64_t hash = iso_load64_relaxed(&s->hash);
	struct iso_key k;
	iso_slot_read_key(s, &k);
	/*
	 * The account ends with this CAS: from here no lookup finds it (its
	 * entry names a generation that is not LIVE), and a registration of
	 * the key makes a new one. The stamp comes in the same CAS, so no
	 * reuser ever sees RETIRED with another retire's time.
	 */
	iso_pair_t want = { ISO_SW_MAKE(acct->gen, ISO_SLOT_LIVE, 0), 0 };
	iso_pair_t done = { ISO_SW_MAKE(acct->gen, ISO_SLOT_RETIRED, 0),
			    iso_stamp_ms() };
	ISO_FP("retire.cas");
	/* acq_rel: releases this account's last writes to the reuser. */
	if (!iso_cas128_acq_rel(&s->state, &want, done)) {
		iso_count_violation(reg);
		return iso_fail(ISO_ESTALE, "account (slot %u gen %u) was "
				"retired or reused concurrently (slot now gen "
				"%u, state %u)", acct->slot, acct->gen,
				ISO_SW_GEN(want.lo), ISO_SW_STATE(want.lo));
	}
	/* Then give its entry back. Killed here, the entry is dead already
	 * and the slot's next reserver (or doctor) removes it. */
	ISO_FP("retire.entry");
	iso_dir_remove(reg, hash, acct->slot, acct->gen);
	ISO_FP("retire.generation");
	iso_faa64_relaxed(&reg->hdr->generation, 1); /* a hint for viewers */
	iso_index_drop(reg, &k, hash);
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	iso_event_append_text(reg, acct->slot, acct->gen, iso_bw_health(&b),
			      iso_bw_health(&b), (enum iso_breaker_state)b.state,
			      ISO_CAUSE_RETIRE, -1, text);
	return 0;
}

/* ----------------------------------------------------------- status */

static void percentiles(const uint64_t *hist, uint64_t total, uint64_t *p50,
			uint64_t *p99)
{
	const double q[2] = { 0.50, 0.99 };
	uint64_t *out[2] = { p50, p99 };
	for (int k = 0; k < 2; k++) {
		*out[k] = 0;
		if (!total)
			continue;
		double target = q[k] * (double)total, cum = 0;
		for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
			if (!hist[i])
				continue;
			if (cum + (double)hist[i] >= target) {
				double lo = i == 0 ? 0 : (double)(1ull << (13 + i));
				double hi = i == ISO_HIST_BUCKETS - 1
					? lo * 2 : (double)iso_hist_upper_ns(i);
				double f = (target - cum) / (double)hist[i];
				*out[k] = (uint64_t)(lo + f * (hi - lo));
				break;
			}
			cum += (double)hist[i];
		}
	}
}

int iso_status_slot(iso_reg_t *reg, uint32_t slot, struct iso_status *st)
{
	struct iso_slot *s = &reg->slots[slot];
	/* acquire (iso_slot_lo): pairs with the slot's publication; the key
	 * is read after. */
	uint64_t sw = iso_slot_lo(s);
	if (!iso_slot_effectively_live(reg, slot, sw))
		return ISO_ENOENT;
	memset(st, 0, sizeof(*st));
	iso_slot_read_key(s, &st->key);
	st->slot = slot;
	st->gen = ISO_SW_GEN(sw);
	iso_slot_config(reg, s, &st->config);
	st->config_override = iso_load8_relaxed(&s->config.override);

	/* Effective state now: lazy timeouts applied, nothing written. */
	uint64_t now = iso_now_ms();
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	struct iso_bevent tick = { .kind = ISO_BEV_TICK };
	b = iso_breaker_next(b, &tick, &st->config, now, NULL);
	if (!iso_bw_valid(&b) || b.gen != st->gen)
		return ISO_ECORRUPT;
	st->health = iso_bw_health(&b);
	st->breaker = (enum iso_breaker_state)b.state;
	st->consecutive_failures = b.cf;
	st->probes_in_flight = b.probes;
	st->backoff_step = b.backoff;
	st->episode = b.episode;
	if (b.state == ISO_BREAKER_OPEN && b.time_ms > now)
		st->retry_in_ms = b.time_ms - now;

	st->successes = iso_load64_relaxed(&s->successes);
	for (int i = 0; i < ISO_FAIL__COUNT; i++) {
		st->failures_by_type[i] = iso_load64_relaxed(&s->failures[i]);
		st->failures += st->failures_by_type[i]; /* derived [M1] */
	}
	st->operations = st->successes + st->failures;
	/* The breaker counts successes only where they move it; elsewhere
	 * the streak is the successes since the last failure. */
	if (b.state == ISO_BREAKER_HALF_OPEN || b.degraded) {
		st->consecutive_successes = b.cs;
	} else if (b.cf == 0 && b.state == ISO_BREAKER_CLOSED) {
		uint64_t at = iso_load64_relaxed(&s->successes_at_failure);
		st->consecutive_successes = st->successes > at
			? (uint32_t)(st->successes - at) : 0;
	}
	st->quarantines = iso_load64_relaxed(&s->quarantines);
	st->last_success_ms = (int64_t)iso_load64_relaxed((uint64_t *)&s->last_success_ms);
	st->last_failure_ms = (int64_t)iso_load64_relaxed((uint64_t *)&s->last_failure_ms);
	st->last_transition_ms = (int64_t)iso_load64_relaxed(&s->last_transition_ms);
	uint32_t info = iso_load32_relaxed(&s->last_transition_info);
	st->last_cause = (enum iso_cause)((info >> 8) & 0xff);
	if ((unsigned)st->last_cause >= ISO_CAUSE__COUNT)
		st->last_cause = ISO_CAUSE_REGISTER;
	st->last_failure_type = (info & 0xff) < ISO_FAIL__COUNT ? (int)(info & 0xff) : -1;
	/* A broker halt overrides what the account's own breaker says. */
	if (iso_load32_relaxed(&reg->hdr->broker_halts) &&
	    iso_broker_halted_slot(reg, s)) {
		st->broker_halted = true;
		st->health = ISO_QUARANTINED;
		st->breaker = ISO_BREAKER_FORCED_OPEN;
		st->retry_in_ms = 0;
	}

	uint64_t timed = 0;
	for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
		st->hist[i] = iso_load64_relaxed(&s->hist[i]);
		timed += st->hist[i];
	}
	st->timed_operations = timed;
	uint64_t sum = iso_load64_relaxed(&s->op_ns_sum);
	st->avg_op_ms = timed ? (double)sum / (double)timed / 1e6 : 0;
	st->ema_op_ms = (double)iso_load64_relaxed(&s->ema_ns) / 1e6;
	percentiles(st->hist, timed, &st->p50_op_ns, &st->p99_op_ns);

	/* The slot may have been retired while we read: then say so. Its
	 * generation is what matters (RESERVED -> LIVE is the same account). */
	uint64_t sw2 = iso_slot_lo(s);
	if (ISO_SW_GEN(sw2) != ISO_SW_GEN(sw) ||
	    ISO_SW_STATE(sw2) == ISO_SLOT_RETIRED || ISO_SW_STATE(sw2) == ISO_SLOT_FREE)
		return ISO_ENOENT;
	return 0;
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

/* --------------------------------------------------- by key */

#define BY_KEY(reg, type, id, broker, acct)                                  \
	iso_account_t acct;                                                  \
	int rc_ = iso_register((reg), (type), (id), (broker), &acct);        \
	if (rc_)                                                             \
		return rc_

int iso_acquire_by_key(iso_reg_t *reg, const char *type, const char *id,
		       const char *broker, iso_permit_t *permit)
{
	BY_KEY(reg, type, id, broker, a);
	return iso_acquire(&a, permit);
}

int iso_record_success_by_key(iso_reg_t *reg, const char *type,
			      const char *id, const char *broker,
			      uint64_t op_ns)
{
	BY_KEY(reg, type, id, broker, a);
	return iso_record_success(&a, NULL, op_ns);
}

int iso_record_failure_by_key(iso_reg_t *reg, const char *type,
			      const char *id, const char *broker,
			      enum iso_failure_type ftype, uint64_t op_ns,
			      uint64_t retry_after_ms)
{
	if ((unsigned)ftype >= ISO_FAIL__COUNT)
		return iso_fail(ISO_EINVAL, "failure type %d out of range "
				"0..%d", (int)ftype, ISO_FAIL__COUNT - 1);
	BY_KEY(reg, type, id, broker, a);
	return iso_record_failure_retry(&a, NULL, ftype, op_ns, retry_after_ms);
}

int iso_status_by_key(iso_reg_t *reg, const char *type, const char *id,
		      const char *broker, struct iso_status *st)
{
	iso_account_t a;
	int rc = iso_lookup(reg, type, id, broker, &a);
	return rc ? rc : iso_status(&a, st);
}

int iso_reset_by_key(iso_reg_t *reg, const char *type, const char *id,
		     const char *broker)
{
	iso_account_t a;
	int rc = iso_lookup(reg, type, id, broker, &a);
	return rc ? rc : iso_reset(&a);
}
