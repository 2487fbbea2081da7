/*
 * slot.h - one account's record in the segment: its publication pair, its
 * key words and its config in force. Sits below the directory and the
 * event ring, which need only these; nothing here calls upward.
 *
 * A slot's life (the lo word of its publication pair):
 *
 *   FREE(g) --reserve--> RESERVED(g+1, owner) --publish--> LIVE(g+1)
 *      ^                     |                                 |
 *      +-------give back-----+                              retire
 *   RETIRED(g) --after the cooldown, reserve--> RESERVED(g+1) ...
 *
 * Every step is one CAS on the whole pair, so the step and what it says
 * about the slot (its owner, its retire time) land together.
 */
#ifndef ISO_SLOT_H
#define ISO_SLOT_H

#include "internal.h"

/* The key words: 96 bytes moved as twelve 64-bit atomic words. */
#define ISO_KEY_WORDS ((ISO_TYPE_MAX + 1 + ISO_BROKER_MAX + 1 + ISO_ID_MAX + 1) / 8)

/**
 * iso_slot_read_key - copy a slot's key out, word by word.
 * Each word is an acquire load, so a caller's later re-check of the
 * publication word cannot be satisfied before the key was read: a copy
 * torn by a reuse is caught by that re-check (the generation moved).
 */
void iso_slot_read_key(const struct iso_slot *s, struct iso_key *key);

/** iso_slot_write_key - store a key into a slot this process has reserved;
 * published later by the release of the directory claim or LIVE CAS. */
void iso_slot_write_key(struct iso_slot *s, const struct iso_key *key);

/*
 * The bytes [0, @n) of a word as they lie in memory (@n 0..8): a mask that
 * keeps them, whatever the byte order.
 */
static inline uint64_t iso_first_bytes(size_t n)
{
	if (n >= 8)
		return ~0ull;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (1ull << (8 * n)) - 1;
#else
	return ~(~0ull >> (8 * n));
#endif
}

/*
 * Whether the slot's field at @sw holds the string @f of @n bytes (2 ..
 * the field's size), its NUL included: strcmp's equality without a byte
 * loop, blind (as strcmp is) to whatever follows the NUL in the slot. The
 * words before the NUL's are compared whole, the NUL's under a mask, and
 * none after it is read. Each word is an acquire load (see
 * iso_slot_read_key).
 */
static inline uint64_t iso_field_diff(const uint64_t *sw, const char *f,
				      size_t n)
{
	size_t last = (n - 1) / 8;
	uint64_t diff = 0, kw;
	for (size_t j = 0; j < last; j++) {
		__builtin_memcpy(&kw, f + 8 * j, 8);
		diff |= iso_load64_acquire(&sw[j]) ^ kw;
	}
	__builtin_memcpy(&kw, f + 8 * last, 8);
	return diff | ((iso_load64_acquire(&sw[last]) ^ kw) &
		       iso_first_bytes(n - 8 * last));
}

/**
 * iso_slot_key_is - whether @s holds @k (same re-check rule as
 * iso_slot_read_key): each field's words up to its NUL compared, the
 * last under a mask made from @k's field length, exactly as strcmp judges
 * each field (bytes after a NUL in the slot are ignored). @k's lengths
 * are in range (iso_key_norm made them). Any thread; reads only.
 */
static inline bool iso_slot_key_is(const struct iso_slot *s,
				   const struct iso_nkey *k)
{
	const uint64_t *w = (const uint64_t *)(const void *)s->type;
	/* Slot order: type (2 words), broker (2), id (8). */
	return (iso_field_diff(w, k->k.type, k->len[0] + 1u) |
		iso_field_diff(w + 2, k->k.broker, k->len[2] + 1u) |
		iso_field_diff(w + 4, k->k.id, k->len[1] + 1u)) == 0;
}
_Static_assert(ISO_KEY_WORDS == 12, "type 2, broker 2, id 8 words");

/**
 * iso_slot_lo - the publication word alone (acquire: pairs with the
 * release of the CAS that wrote it, so what that CAS published is seen).
 */
static inline uint64_t iso_slot_lo(const struct iso_slot *s)
{
	return iso_load64_acquire(&s->state.lo);
}

/**
 * iso_slot_pair - the whole publication pair, exactly (writers) or as two
 * acquire loads re-checked until lo is stable (read-only mappings; hi
 * changes only together with lo's state, so a stable lo dates hi).
 */
iso_pair_t iso_slot_pair(iso_reg_t *reg, struct iso_slot *s);

/**
 * iso_slot_publish - RESERVED(@gen) -> LIVE(@gen), for its registrant or
 * for anyone who found a live directory entry naming it (the registrant
 * may have died after publishing the entry). Returns true if the slot is
 * LIVE(@gen) afterwards, whoever did it. Writers only. Full acq_rel CAS.
 */
bool iso_slot_publish(iso_reg_t *reg, uint32_t slot, uint32_t gen);

/** iso_slot_config - the config in force for @s (its own or the default). */
void iso_slot_config(iso_reg_t *reg, const struct iso_slot *s,
		     struct iso_config *cfg);

/** iso_slot_window - @s's rolling-window entry [B7], or NULL when the
 * segment has no window region. */
static inline struct iso_shm_window *iso_slot_window(iso_reg_t *reg,
						     const struct iso_slot *s)
{
	return reg->win ? &reg->win[s - reg->slots] : NULL;
}

/** iso_slot_wincfg - the window config stored in @s's own entry, or NULL. */
static inline struct iso_shm_wincfg *iso_slot_wincfg(iso_reg_t *reg,
						     const struct iso_slot *s)
{
	struct iso_shm_window *w = iso_slot_window(reg, s);
	return w ? &w->cfg : NULL;
}

/**
 * iso_slot_window_config - the window fields and the ignore mask of the
 * config in force for @s (the rest of @cfg is left alone). Returns false
 * when the segment has no window region or the window is off. The
 * outcome path's light read of what iso_slot_config reads whole.
 */
static inline bool iso_slot_window_config(iso_reg_t *reg, const struct iso_slot *s,
			    struct iso_config *cfg)
{
	if (!reg->win)
		return false;
	/* acquire: as iso_slot_config. */
	bool own = iso_load8_acquire(&s->config.override);
	const struct iso_shm_wincfg *w = own ? &reg->win[s - reg->slots].cfg
					     : &reg->hdr->defaults_window;
	if (!iso_wincfg_load(w, cfg))
		return false;
	cfg->ignore = iso_load8_relaxed(own ? &s->config.ignore
					    : &reg->hdr->defaults.ignore);
	return true;
}

/** iso_slot_success_threshold - success_threshold of the config in force
 * for @s, clamped to 1..ISO_THRESHOLD_MAX (the outcome path's one field). */
static inline uint32_t iso_slot_success_threshold(iso_reg_t *reg,
						  const struct iso_slot *s)
{
	/* acquire: as iso_slot_config. */
	uint8_t v = iso_load8_acquire(&s->config.override)
		? iso_load8_relaxed(&s->config.success_threshold)
		: iso_load8_relaxed(&reg->hdr->defaults.success_threshold);
	return v ? v : 1;
}

/** iso_count_violation - one detected isolation violation [S5 §5]. */
void iso_count_violation(iso_reg_t *reg);

#endif /* ISO_SLOT_H */
