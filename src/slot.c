/*
 * slot.c - the slot record: key words, publication pair, config in force.
 *
 * Must never: call the directory, the event ring or the hot path (they
 * sit above), or trust a value read from the slot without a re-check.
 */
#include <string.h>

#include "failpoint.h"
#include "slot.h"

_Static_assert(offsetof(struct iso_slot, broker) ==
	       offsetof(struct iso_slot, type) + ISO_TYPE_MAX + 1, "key layout");
_Static_assert(offsetof(struct iso_slot, id) ==
	       offsetof(struct iso_slot, broker) + ISO_BROKER_MAX + 1, "key layout");
_Static_assert(offsetof(struct iso_slot, type) % 8 == 0, "key alignment");

/* @n words from @src (acquire loads, see slot.h) to @dst, one store each. */
static inline void copy_words(char *dst, const uint64_t *src, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t w = iso_load64_acquire(&src[i]);
		memcpy(dst + 8 * i, &w, 8);
	}
}

void iso_slot_read_key(const struct iso_slot *s, struct iso_key *k)
{
	/* Each word straight to its place in @k (slot order: type, broker,
	 * id): a copy through a buffer of words made every wider load of
	 * the buffer wait for the word stores (a fifth of an iso_status). */
	const uint64_t *src = (const uint64_t *)(const void *)s->type;
	copy_words(k->type, src, 2);
	copy_words(k->broker, src + 2, 2);
	copy_words(k->id, src + 4, 8);
	k->type[ISO_TYPE_MAX] = k->id[ISO_ID_MAX] = k->broker[ISO_BROKER_MAX] = 0;
}
_Static_assert(ISO_KEY_WORDS == 12, "type 2, broker 2, id 8 words");

void iso_slot_write_key(struct iso_slot *s, const struct iso_key *k)
{
	uint64_t w[ISO_KEY_WORDS];
	char *b = (char *)w;
	memcpy(b, k->type, sizeof(s->type));
	memcpy(b + sizeof(s->type), k->broker, sizeof(s->broker));
	memcpy(b + sizeof(s->type) + sizeof(s->broker), k->id, sizeof(s->id));
	uint64_t *dst = (uint64_t *)(void *)s->type;
	for (int i = 0; i < ISO_KEY_WORDS; i++) {
		ISO_FP("slot.write_key");
		iso_store64_relaxed(&dst[i], w[i]);
	}
}

iso_pair_t iso_slot_pair(iso_reg_t *reg, struct iso_slot *s)
{
	if (!reg->rdonly)
		return iso_read128_acq_rel(&s->state);
	iso_pair_t v;
	uint64_t lo2;
	do {
		/* acquire, three times: program order of the loads is kept. */
		v.lo = iso_load64_acquire(&s->state.lo);
		v.hi = iso_load64_acquire(&s->state.hi);
		lo2 = iso_load64_acquire(&s->state.lo);
	} while (lo2 != v.lo);
	return v;
}

bool iso_slot_publish(iso_reg_t *reg, uint32_t slot, uint32_t gen)
{
	struct iso_slot *s = &reg->slots[slot];
	iso_pair_t cur = iso_read128_acq_rel(&s->state);
	while (ISO_SW_GEN(cur.lo) == gen &&
	       ISO_SW_STATE(cur.lo) == ISO_SLOT_RESERVED) {
		/* acq_rel: releases the registrant's fill (already published
		 * by its directory claim) to whoever acquires LIVE. */
		if (iso_cas128_acq_rel(&s->state, &cur,
				       (iso_pair_t){ ISO_SW_MAKE(gen, ISO_SLOT_LIVE, 0), 0 }))
			return true;
		cur = iso_read128_acq_rel(&s->state); /* see atomic.h */
	}
	return ISO_SW_GEN(cur.lo) == gen && ISO_SW_STATE(cur.lo) == ISO_SLOT_LIVE;
}

void iso_slot_config(iso_reg_t *reg, const struct iso_slot *s,
		     struct iso_config *cfg)
{
	/* acquire: pairs with the release store of override in
	 * iso_config_store_shm, so the fields it guards are seen. */
	if (iso_load8_acquire(&s->config.override))
		iso_config_load_shm(&s->config, &s->budget_cfg,
				    iso_slot_wincfg(reg, s), cfg);
	else
		iso_config_load_shm(&reg->hdr->defaults,
				    &reg->hdr->defaults_budget,
				    reg->win ? &reg->hdr->defaults_window : NULL,
				    cfg);
}

void iso_count_violation(iso_reg_t *reg)
{
	if (!reg->rdonly)
		iso_add64_relaxed(&reg->hdr->cross_account_errors, 1);
}
