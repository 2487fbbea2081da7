/*
 * account.c - accounts: registration, handles, the hot path, and operator
 * actions, each a thin shell around the pure breaker function.
 *
 * A slot's life: FREE -> RESERVED (by one registrant, gen bumped) -> LIVE
 * (published after its directory entry) -> RETIRED -> (after the cooldown)
 * RESERVED again with gen bumped. Every call through a handle checks the
 * slot's publication word for LIVE and the handle's generation; every
 * breaker CAS compares the generation carried in the breaker word, so a
 * stale handle can never move another account's breaker.
 *
 * Must never: block, wait for another writer, or trust an index read from
 * the segment without a bounds check.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------- helpers */

/*
 * A slot's key is 96 bytes (type, broker, id, adjacent) moved as twelve
 * relaxed 64-bit words: a reader racing a slot's reuse gets whole words,
 * never a data race, and callers re-check the slot's publication word
 * afterwards to throw a torn copy away.
 */
#define KEY_WORDS ((ISO_TYPE_MAX + 1 + ISO_BROKER_MAX + 1 + ISO_ID_MAX + 1) / 8)
_Static_assert(offsetof(struct iso_slot, broker) ==
	       offsetof(struct iso_slot, type) + ISO_TYPE_MAX + 1, "key layout");
_Static_assert(offsetof(struct iso_slot, id) ==
	       offsetof(struct iso_slot, broker) + ISO_BROKER_MAX + 1, "key layout");
_Static_assert(offsetof(struct iso_slot, type) % 8 == 0, "key alignment");

void iso_slot_read_key(const struct iso_slot *s, struct iso_key *k)
{
	uint64_t w[KEY_WORDS];
	const uint64_t *src = (const uint64_t *)(const void *)s->type;
	for (int i = 0; i < KEY_WORDS; i++)
		w[i] = iso_load_relaxed(&src[i]);
	const char *b = (const char *)w;
	memcpy(k->type, b, sizeof(k->type));
	memcpy(k->broker, b + sizeof(s->type), sizeof(k->broker));
	memcpy(k->id, b + sizeof(s->type) + sizeof(s->broker), sizeof(k->id));
	k->type[ISO_TYPE_MAX] = k->id[ISO_ID_MAX] = k->broker[ISO_BROKER_MAX] = 0;
}

static void slot_write_key(struct iso_slot *s, const struct iso_key *k)
{
	uint64_t w[KEY_WORDS];
	char *b = (char *)w;
	memcpy(b, k->type, sizeof(s->type));
	memcpy(b + sizeof(s->type), k->broker, sizeof(s->broker));
	memcpy(b + sizeof(s->type) + sizeof(s->broker), k->id, sizeof(s->id));
	uint64_t *dst = (uint64_t *)(void *)s->type;
	for (int i = 0; i < KEY_WORDS; i++)
		iso_store_relaxed(&dst[i], w[i]);
}

bool iso_slot_key_equals(const struct iso_slot *s, const struct iso_key *k)
{
	struct iso_key mine;
	iso_slot_read_key(s, &mine);
	return !strcmp(mine.id, k->id) && !strcmp(mine.type, k->type) &&
	       !strcmp(mine.broker, k->broker);
}

void iso_slot_config(iso_reg_t *reg, const struct iso_slot *s,
		     struct iso_config *cfg)
{
	/* acquire: pairs with the release store of override in
	 * iso_config_store_shm, so the fields it guards are seen. */
	if (__atomic_load_n(&s->config.override, __ATOMIC_ACQUIRE))
		iso_config_load_shm(&s->config, cfg);
	else
		iso_config_load_shm(&reg->hdr->defaults, cfg);
}

void iso_count_violation(iso_reg_t *reg)
{
	if (!reg->rdonly)
		iso_add_relaxed(&reg->hdr->cross_account_errors, 1);
}

/*
 * Check a handle and return its slot, or NULL with *rc set. A handle
 * whose slot is no longer its account's is a detected isolation
 * violation: it is counted (see iso_report).
 */
static struct iso_slot *slot_of(const iso_account_t *a, int *rc)
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
	/* acquire: pairs with the release that published the slot, so the
	 * key and config read afterwards are this generation's. */
	uint64_t sw = iso_load_acquire(&s->state);
	if (unlikely(ISO_SW_GEN(sw) != a->gen ||
		     ISO_SW_STATE(sw) != ISO_SLOT_LIVE)) {
		iso_count_violation(reg);
		*rc = iso_fail(ISO_ESTALE, "account handle (slot %u gen %u) is "
			       "stale: the slot is now gen %u, state %u",
			       a->slot, a->gen, ISO_SW_GEN(sw),
			       ISO_SW_STATE(sw));
		return NULL;
	}
	return s;
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

static void record_transition(iso_reg_t *reg, struct iso_slot *s,
			      uint32_t slot, uint32_t gen,
			      const struct iso_bw *from, const struct iso_bw *to,
			      enum iso_cause cause, int ftype)
{
	enum iso_health hf = iso_bw_health(from), ht = iso_bw_health(to);
	if (hf == ht && from->state == to->state)
		return;
	iso_store_relaxed(&s->last_transition_ms, (uint64_t)iso_wall_ms());
	__atomic_store_n(&s->last_transition_info,
			 ((uint32_t)cause << 8) | (uint32_t)(ftype & 0xff),
			 __ATOMIC_RELAXED);
	iso_event_append(reg, slot, gen, hf, ht, (enum iso_breaker_state)to->state,
			 cause, ftype);
}

/*
 * The CAS loop around the pure function [B4]. Returns 0 or ISO_ESTALE;
 * *out gets the answer computed from the word that was installed.
 */
static int transition(const iso_account_t *a, struct iso_slot *s,
		      const struct iso_bevent *ev, struct iso_bout *out,
		      enum iso_cause cause, uint16_t *episode)
{
	struct iso_config cfg;
	uint64_t now = iso_now_ms();
	iso_slot_config(a->reg, s, &cfg);
	iso_pair_t cur = iso_load_pair(&s->breaker);
	for (;;) {
		struct iso_bw from = iso_bw_unpack(cur);
		if (unlikely(from.gen != (uint16_t)a->gen)) {
			iso_count_violation(a->reg);
			return iso_fail(ISO_ESTALE, "account handle (slot %u gen "
					"%u) is stale: breaker belongs to gen "
					"%u", a->slot, a->gen, from.gen);
		}
		struct iso_bevent e = *ev;
		if (episode && ev->kind != ISO_BEV_ACQUIRE)
			e.old_episode = *episode != from.episode;
		struct iso_bw to = iso_breaker_next(from, &e, &cfg, now, out);
		if (iso_bw_equal(&from, &to)) {
			if (episode && ev->kind == ISO_BEV_ACQUIRE)
				*episode = from.episode;
			return 0;
		}
		to.seq = (uint16_t)(from.seq + 1);
		/* Full barrier on success and failure; on failure cur gets
		 * the word that beat us and we decide again from it. */
		if (iso_cas_pair(&s->breaker, &cur, iso_bw_pack(&to))) {
			if (out->quarantined)
				iso_add_relaxed(&s->quarantines, 1);
			/* A timeout that happened lazily inside this step is
			 * its own transition, reported as such. */
			struct iso_bevent t = { .kind = ISO_BEV_TICK };
			struct iso_bw mid = iso_breaker_next(from, &t, &cfg, now, NULL);
			if (!iso_bw_equal(&mid, &from) && ev->kind != ISO_BEV_TICK &&
			    mid.state != from.state) {
				record_transition(a->reg, s, a->slot, a->gen,
						  &from, &mid,
						  ISO_CAUSE_TIMEOUT, -1);
				from = mid;
			}
			record_transition(a->reg, s, a->slot, a->gen, &from, &to,
					  cause, ev->kind == ISO_BEV_FAILURE
					  ? ev->ftype : -1);
			if (episode && ev->kind == ISO_BEV_ACQUIRE)
				*episode = to.episode;
			return 0;
		}
	}
}

/* ----------------------------------------------------- registration */

/* Claim a slot for a new account: never-used slots first, then slots
 * given back or retired longer ago than the cooldown. */
static int slot_reserve(iso_reg_t *reg, uint32_t *slot, uint32_t *gen)
{
	struct iso_shm_header *h = reg->hdr;
	uint32_t pid = reg->pid & 0xffffff;

	while (iso_load32_relaxed(&h->next_slot) < reg->capacity) {
		uint32_t s = iso_faa32(&h->next_slot, 1);
		if (s >= reg->capacity)
			break;
		uint64_t sw = iso_load_acquire(&reg->slots[s].state);
		if (ISO_SW_STATE(sw) != ISO_SLOT_FREE)
			continue; /* corrupt or raced: leave it to doctor */
		uint64_t want = sw;
		uint32_t g = ISO_SW_GEN(sw) + 1;
		if (iso_cas(&reg->slots[s].state, &want,
			    ISO_SW_MAKE(g, ISO_SLOT_RESERVED, pid))) {
			*slot = s;
			*gen = g;
			return 0;
		}
	}

	uint64_t now = iso_stamp_ms();
	uint32_t start = (uint32_t)(reg->pid * 2654435761u) % reg->capacity;
	uint32_t cooling = 0;
	for (uint32_t n = 0; n < reg->capacity; n++) {
		uint32_t s = (start + n) % reg->capacity;
		struct iso_slot *sl = &reg->slots[s];
		uint64_t sw = iso_load_acquire(&sl->state);
		uint32_t st = ISO_SW_STATE(sw);
		if (st == ISO_SLOT_RETIRED) {
			uint64_t at = iso_load_relaxed(&sl->stamp_ms);
			if (now < at + reg->cooldown_ms) {
				cooling++;
				continue;
			}
		} else if (st != ISO_SLOT_FREE) {
			continue;
		}
		uint64_t want = sw;
		uint32_t g = ISO_SW_GEN(sw) + 1;
		if (iso_cas(&sl->state, &want,
			    ISO_SW_MAKE(g, ISO_SLOT_RESERVED, pid))) {
			*slot = s;
			*gen = g;
			return 0;
		}
	}
	return iso_fail(ISO_EFULL, "segment %s is full: all %u slots hold "
			"accounts (%u retired slots are still cooling down)",
			reg->name, reg->capacity, cooling);
}

/* Fill a reserved slot. No one else writes it: only we hold it. The
 * cooldown guarantees stale handles' writes have landed before reuse. */
static void slot_fill(iso_reg_t *reg, struct iso_slot *s, uint32_t gen,
		      const struct iso_key *key, uint64_t hash)
{
	iso_store_relaxed(&s->hash, hash);
	iso_store_relaxed(&s->owner_start, reg->start_time);
	iso_store_relaxed(&s->stamp_ms, iso_stamp_ms());
	slot_write_key(s, key);
	struct iso_bw b = iso_bw_initial(gen, iso_now_ms());
	iso_pair_t w = iso_bw_pack(&b);
	iso_store_relaxed(&s->breaker.lo, w.lo);
	iso_store_relaxed(&s->breaker.hi, w.hi);
	__atomic_store_n(&s->config.override, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->last_transition_info, (uint32_t)ISO_CAUSE_REGISTER << 8 | 0xff,
			 __ATOMIC_RELAXED);
	iso_store_relaxed(&s->last_transition_ms, (uint64_t)iso_wall_ms());
	iso_store_relaxed(&s->quarantines, 0);
	iso_store_relaxed(&s->successes, 0);
	for (int i = 0; i < ISO_FAIL__COUNT; i++)
		iso_store_relaxed(&s->failures[i], 0);
	iso_store_relaxed(&s->op_ns_sum, 0);
	iso_store_relaxed(&s->ema_ns, 0);
	iso_store_relaxed((uint64_t *)&s->last_success_ms, 0);
	iso_store_relaxed((uint64_t *)&s->last_failure_ms, 0);
	iso_store_relaxed(&s->successes_at_failure, 0);
	for (int i = 0; i < ISO_SLOT_HIST; i++)
		iso_store_relaxed(&s->hist[i], 0);
}

static int lookup_key(iso_reg_t *reg, const struct iso_key *key,
		      uint64_t hash, iso_account_t *acct)
{
	uint32_t slot, gen;
	if (iso_index_get(reg, key, hash, &slot, &gen)) {
		/* acquire: pairs with the slot's publication. */
		uint64_t sw = iso_load_acquire(&reg->slots[slot].state);
		if (ISO_SW_GEN(sw) == gen && ISO_SW_STATE(sw) == ISO_SLOT_LIVE) {
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
	uint32_t slot = 0, gen = 0, found = 0;
	int rc;

	if (!iso_reg_ok(reg) || !acct)
		return iso_fail(ISO_EINVAL, "iso_register: NULL argument");
	if ((rc = iso_key_make(type, id, broker, &k)))
		return rc;
	uint64_t hash = iso_key_hash(&k);
	if (lookup_key(reg, &k, hash, acct) == 0)
		return 0;
	if (reg->rdonly)
		return iso_fail(ISO_ERDONLY, "cannot register %s/%s/%s: segment "
				"%s is attached read-only", k.type, k.id,
				k.broker, reg->name);
	if ((rc = slot_reserve(reg, &slot, &gen)))
		return rc;
	struct iso_slot *s = &reg->slots[slot];
	slot_fill(reg, s, gen, &k, hash);

	rc = iso_dir_insert(reg, &k, hash, slot, &found);
	/* Whatever happens next, our reservation ends: published, or given
	 * back (the slot was never reachable, so no cooldown is needed). */
	uint64_t want = ISO_SW_MAKE(gen, ISO_SLOT_RESERVED, reg->pid & 0xffffff);
	if (rc == 0) {
		/* release: everything slot_fill wrote is visible to whoever
		 * acquires LIVE. A lookup may have published it already. */
		iso_fence_release();
		if (iso_cas(&s->state, &want, ISO_SW_MAKE(gen, ISO_SLOT_LIVE, 0)))
			iso_faa32(&reg->hdr->live, 1);
		iso_faa(&reg->hdr->generation, 1);
		iso_event_append(reg, slot, gen, ISO_HEALTHY, ISO_HEALTHY,
				 ISO_BREAKER_CLOSED, ISO_CAUSE_REGISTER, -1);
		iso_index_put(reg, &k, hash, slot, gen);
		*acct = (iso_account_t){ reg, slot, gen };
		return 0;
	}
	iso_cas(&s->state, &want, ISO_SW_MAKE(gen, ISO_SLOT_FREE, 0));
	if (rc != ISO_EEXIST)
		return rc;
	/* Someone registered the same key first: use theirs. */
	return lookup_key(reg, &k, hash, acct);
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
	uint64_t lo = iso_load_acquire(&s->breaker.lo);
	p->slot = acct->slot;
	p->gen = acct->gen;
	p->retry_in_ms = 0;
	if (likely(iso_bw_lo_state(lo) == ISO_BREAKER_CLOSED &&
		   iso_bw_lo_gen(lo) == (uint16_t)acct->gen)) {
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
	struct iso_bw now = iso_bw_unpack(iso_load_pair(&s->breaker));
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
	iso_add_relaxed(&s->hist[hist_bucket(op_ns)], 1);
	iso_add_relaxed(&s->op_ns_sum, op_ns);
	/* The EMA is a statistic: a racing update may be lost, never torn. */
	uint64_t old = iso_load_relaxed(&s->ema_ns);
	uint64_t ema = old ? (uint64_t)((int64_t)old +
					((int64_t)op_ns - (int64_t)old) / 10)
			   : op_ns;
	iso_store_relaxed(&s->ema_ns, ema);
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
	/* Statistics first (relaxed: they publish nothing). */
	iso_add_relaxed(&s->successes, 1);
	record_time(s, op_ns);
	iso_store_relaxed((uint64_t *)&s->last_success_ms,
			  (uint64_t)iso_wall_ms());
	uint64_t lo = iso_load_acquire(&s->breaker.lo);
	if (likely(iso_bw_lo_quiet(lo) &&
		   iso_bw_lo_gen(lo) == (uint16_t)acct->gen))
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
	iso_add_relaxed(&s->failures[type], 1);
	record_time(s, op_ns);
	iso_store_relaxed((uint64_t *)&s->last_failure_ms,
			  (uint64_t)iso_wall_ms());
	iso_store_relaxed(&s->successes_at_failure,
			  iso_load_relaxed(&s->successes));
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

static int operator_event(const iso_account_t *acct, enum iso_bev_kind kind,
			  enum iso_cause cause)
{
	int rc;
	struct iso_slot *s;
	struct iso_bout out;
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	struct iso_bevent ev = { .kind = kind };
	return transition(acct, s, &ev, &out, cause, NULL);
}

int iso_reset(const iso_account_t *acct)
{
	return operator_event(acct, ISO_BEV_RESET, ISO_CAUSE_RESET);
}

int iso_force_open(const iso_account_t *acct)
{
	return operator_event(acct, ISO_BEV_FORCE_OPEN, ISO_CAUSE_FORCE_OPEN);
}

int iso_configure(const iso_account_t *acct, const struct iso_config *cfg)
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
		/* release: pairs with iso_slot_config's acquire. */
		__atomic_store_n(&s->config.override, 0, __ATOMIC_RELEASE);
	}
	/* Not a transition, but operators want to see it in the stream. */
	struct iso_bw b = iso_bw_unpack(iso_load_pair(&s->breaker));
	iso_event_append(acct->reg, acct->slot, acct->gen, iso_bw_health(&b),
			 iso_bw_health(&b), (enum iso_breaker_state)b.state,
			 ISO_CAUSE_CONFIG, -1);
	return 0;
}

int iso_retire(const iso_account_t *acct)
{
	int rc;
	struct iso_slot *s;
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	iso_reg_t *reg = acct->reg;
	uint64_t hash = iso_load_relaxed(&s->hash);
	struct iso_key k;
	iso_slot_read_key(s, &k);
	/* Unreachable first, then retired: a lookup either finds the
	 * account live or does not find it. */
	iso_dir_remove(reg, hash, acct->slot);
	iso_store_relaxed(&s->stamp_ms, iso_stamp_ms());
	uint64_t want = ISO_SW_MAKE(acct->gen, ISO_SLOT_LIVE, 0);
	/* Full barrier: stamp_ms is visible to whoever sees RETIRED. */
	if (!iso_cas(&s->state, &want,
		     ISO_SW_MAKE(acct->gen, ISO_SLOT_RETIRED, 0)))
		return iso_fail(ISO_ESTALE, "account (slot %u gen %u) was "
				"retired or reused concurrently", acct->slot,
				acct->gen);
	iso_dec32(&reg->hdr->live);
	iso_faa(&reg->hdr->generation, 1);
	iso_index_drop(reg, &k, hash);
	struct iso_bw b = iso_bw_unpack(iso_load_pair(&s->breaker));
	iso_event_append(reg, acct->slot, acct->gen, iso_bw_health(&b),
			 iso_bw_health(&b), (enum iso_breaker_state)b.state,
			 ISO_CAUSE_RETIRE, -1);
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
	/* acquire: pairs with the slot's publication; key read after. */
	uint64_t sw = iso_load_acquire(&s->state);
	if (ISO_SW_STATE(sw) != ISO_SLOT_LIVE)
		return ISO_ENOENT;
	memset(st, 0, sizeof(*st));
	iso_slot_read_key(s, &st->key);
	st->slot = slot;
	st->gen = ISO_SW_GEN(sw);
	iso_slot_config(reg, s, &st->config);
	st->config_override = __atomic_load_n(&s->config.override,
					      __ATOMIC_RELAXED);

	/* Effective state now: lazy timeouts applied, nothing written. */
	uint64_t now = iso_now_ms();
	struct iso_bw b = iso_bw_unpack(iso_load_pair(&s->breaker));
	struct iso_bevent tick = { .kind = ISO_BEV_TICK };
	b = iso_breaker_next(b, &tick, &st->config, now, NULL);
	if (!iso_bw_valid(&b) || b.gen != (uint16_t)st->gen)
		return ISO_ECORRUPT;
	st->health = iso_bw_health(&b);
	st->breaker = (enum iso_breaker_state)b.state;
	st->consecutive_failures = b.cf;
	st->probes_in_flight = b.probes;
	st->backoff_step = b.backoff;
	st->episode = b.episode;
	if (b.state == ISO_BREAKER_OPEN && b.time_ms > now)
		st->retry_in_ms = b.time_ms - now;

	st->successes = iso_load_relaxed(&s->successes);
	for (int i = 0; i < ISO_FAIL__COUNT; i++) {
		st->failures_by_type[i] = iso_load_relaxed(&s->failures[i]);
		st->failures += st->failures_by_type[i]; /* derived [M1] */
	}
	st->operations = st->successes + st->failures;
	/* The breaker counts successes only where they move it; elsewhere
	 * the streak is the successes since the last failure. */
	if (b.state == ISO_BREAKER_HALF_OPEN || b.degraded) {
		st->consecutive_successes = b.cs;
	} else if (b.cf == 0 && b.state == ISO_BREAKER_CLOSED) {
		uint64_t at = iso_load_relaxed(&s->successes_at_failure);
		st->consecutive_successes = st->successes > at
			? (uint32_t)(st->successes - at) : 0;
	}
	st->quarantines = iso_load_relaxed(&s->quarantines);
	st->last_success_ms = (int64_t)iso_load_relaxed((uint64_t *)&s->last_success_ms);
	st->last_failure_ms = (int64_t)iso_load_relaxed((uint64_t *)&s->last_failure_ms);
	st->last_transition_ms = (int64_t)iso_load_relaxed(&s->last_transition_ms);
	uint32_t info = __atomic_load_n(&s->last_transition_info,
					__ATOMIC_RELAXED);
	st->last_cause = (enum iso_cause)((info >> 8) & 0xff);
	if ((unsigned)st->last_cause >= ISO_CAUSE__COUNT)
		st->last_cause = ISO_CAUSE_REGISTER;
	st->last_failure_type = (info & 0xff) < ISO_FAIL__COUNT ? (int)(info & 0xff) : -1;

	uint64_t timed = 0;
	for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
		st->hist[i] = iso_load_relaxed(&s->hist[i]);
		timed += st->hist[i];
	}
	st->timed_operations = timed;
	uint64_t sum = iso_load_relaxed(&s->op_ns_sum);
	st->avg_op_ms = timed ? (double)sum / (double)timed / 1e6 : 0;
	st->ema_op_ms = (double)iso_load_relaxed(&s->ema_ns) / 1e6;
	percentiles(st->hist, timed, &st->p50_op_ns, &st->p99_op_ns);

	/* The slot may have been retired while we read: then say so. */
	if (iso_load_acquire(&s->state) != sw)
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
