/*
 * test_lookup.c - finding an account by its key [S3][S4]: the directory
 * entry a hash leads to, the full comparison of the key against the
 * slot's (hashes collide), and what a lookup answers once the account is
 * retired and its slot holds another key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "directory.h"
#include "support/util.h"

static struct iso_nkey nkey(const char *type, const char *id, const char *broker)
{
	struct iso_nkey n;
	cr_assert_eq(iso_key_norm(type, id, broker, &n), 0, "%s", iso_last_error());
	return n;
}

/* [S3] A key's home entry is its hash modulo the directory size: the
 * format, which every process computes alike. Checked where a reduction
 * without a divide goes wrong: 0, the top of the range, multiples of the
 * size and their neighbours, over the sizes real segments get and the
 * largest a header can state. */
Test(lookup, home_entry_is_the_hash_modulo_the_directory_size)
{
	static const uint32_t caps[] = { 1, 33, 1000, 100000 };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]) + 3; c++) {
		iso_reg_t *reg = NULL, fake;
		const iso_reg_t *r;
		if (c < sizeof(caps) / sizeof(caps[0])) {
			reg = tu_fresh("home", caps[c]);
			r = reg; /* the magic as attach computes it */
		} else {
			static const uint32_t big[] = { 0x7fffffffu, 0xfffffffeu,
							0xffffffffu };
			memset(&fake, 0, sizeof(fake));
			fake.dir_capacity = big[c - sizeof(caps) / sizeof(caps[0])];
			fake.dir_magic = UINT64_MAX / fake.dir_capacity;
			r = &fake;
		}
		uint64_t d = r->dir_capacity;
		uint64_t edge[] = { 0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d,
				    UINT64_MAX, UINT64_MAX - 1,
				    UINT64_MAX - UINT64_MAX % d,
				    UINT64_MAX - UINT64_MAX % d - 1,
				    (UINT64_MAX / d) * d - 1 };
		for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
			cr_assert_eq(iso_dir_home(r, edge[i]), edge[i] % d,
				     "d %llu hash %#llx", (unsigned long long)d,
				     (unsigned long long)edge[i]);
		for (int i = 0; i < 200000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cr_assert_eq(iso_dir_home(r, x), x % d, "d %llu hash %#llx",
				     (unsigned long long)d, (unsigned long long)x);
		}
		if (reg)
			tu_gone(reg);
	}
}

/* [K1] A slot's key matches a key field by field as strcmp would: a
 * prefix or an extension is another key, in every field, at every
 * length up to the maximum; bytes after a field's NUL in the slot (a
 * segment written by something else) do not count. */
Test(lookup, a_slot_key_matches_field_by_field_as_strcmp_would)
{
	iso_reg_t *reg = tu_fresh("slotkey", 4);
	char id63[ISO_ID_MAX + 1], other63[ISO_ID_MAX + 1];
	memset(id63, 'x', ISO_ID_MAX);
	id63[ISO_ID_MAX] = '\0';
	memcpy(other63, id63, sizeof(id63));
	other63[ISO_ID_MAX - 1] = 'y';
	iso_account_t a, m;
	cr_assert_eq(iso_register(reg, "user", "acct1", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(reg, "platformaccount", id63, "BITFINEXEXCHANG", &m), 0);
	struct iso_slot *sa = &reg->slots[a.slot], *sm = &reg->slots[m.slot];

	struct iso_nkey same = nkey("USER", "Acct1", "kraken");
	cr_expect(iso_slot_key_is(sa, &same));
	struct iso_nkey n = nkey("platformaccount", id63, "BITFINEXEXCHANG");
	cr_expect(iso_slot_key_is(sm, &n), "every field at its maximum");
	n = nkey("platformaccount", other63, "BITFINEXEXCHANG");
	cr_expect(!iso_slot_key_is(sm, &n), "last byte of a 63-byte id");

	static const char *const other[][3] = {
		{ "user", "acct", "KRAKEN" },   { "user", "acct12", "KRAKEN" },
		{ "use", "acct1", "KRAKEN" },   { "users", "acct1", "KRAKEN" },
		{ "user", "acct1", "KRAKE" },   { "user", "acct1", "KRAKENX" },
		{ "user", "acct2", "KRAKEN" },  { "user", "KRAKEN", "ACCT1" },
		{ "acct1", "user", "KRAKEN" },
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		n = nkey(other[i][0], other[i][1], other[i][2]);
		cr_expect(!iso_slot_key_is(sa, &n), "%s/%s/%s matched user/acct1/KRAKEN",
			  other[i][0], other[i][1], other[i][2]);
	}

	/* Junk after each NUL: still the same key, by compare and by lookup. */
	sa->type[5] = 'Z';
	sa->broker[7] = 'Z';
	sa->id[6] = 'Z';
	sa->id[ISO_ID_MAX] = 'Z';
	cr_expect(iso_slot_key_is(sa, &same), "bytes after a NUL were compared");
	iso_account_t found;
	cr_expect_eq(iso_lookup(reg, "user", "acct1", "KRAKEN", &found), 0,
		     "%s", iso_last_error());
	cr_expect(found.slot == a.slot && found.gen == a.gen);
	tu_gone(reg);
}

/* Reserve a never-used slot for this process by hand (one CAS's worth of
 * state), write @k into it with a hash of our choosing, and publish it
 * through the directory as registration does. */
static uint32_t register_with_hash(iso_reg_t *reg, const struct iso_nkey *k)
{
	uint32_t s = iso_faa32_relaxed(&reg->hdr->next_slot, 1);
	struct iso_slot *sl = &reg->slots[s];
	uint32_t gen = ISO_SW_GEN(sl->state.lo) + 1;
	sl->state.hi = iso_owner_tag();
	sl->state.lo = ISO_SW_MAKE(gen, ISO_SLOT_RESERVED, iso_self_pid() & 0xffffff);
	sl->hash = k->hash;
	iso_slot_write_key(sl, &k->k);
	uint32_t fs, fg;
	cr_assert_eq(iso_dir_insert(reg, k, s, gen, &fs, &fg), 0,
		     "the directory refused a key of its own: %s", iso_last_error());
	cr_assert(iso_slot_publish(reg, s, gen));
	return s;
}

/* [S3] Two keys with one hash: each finds its own account, because the
 * whole key is compared with the slot's, and neither finds the other's. */
Test(lookup, keys_are_compared_in_full_when_hashes_collide)
{
	iso_reg_t *reg = tu_fresh("collide", 8);
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", "alice", "KRAKEN", &a), 0);
	struct iso_nkey ka = nkey("user", "alice", "KRAKEN");
	struct iso_nkey kb = nkey("user", "bob", "KRAKEN");
	struct iso_nkey kc = nkey("user", "carol", "KRAKEN");
	kb.hash = kc.hash = ka.hash; /* collisions, forced */

	uint32_t s, g;
	cr_expect_eq(iso_dir_find_key(reg, &kb, &s, &g), ISO_ENOENT,
		     "bob found alice's account by her hash");
	uint32_t sb = register_with_hash(reg, &kb);
	cr_assert_neq(sb, a.slot);

	cr_assert_eq(iso_dir_find_key(reg, &ka, &s, &g), 0);
	cr_expect(s == a.slot && g == a.gen, "alice's lookup found slot %u", s);
	cr_assert_eq(iso_dir_find_key(reg, &kb, &s, &g), 0);
	cr_expect_eq(s, sb, "bob's lookup found slot %u", s);
	cr_expect_eq(iso_dir_find_key(reg, &kc, &s, &g), ISO_ENOENT,
		     "carol, on the same chain, found slot %u", s);
	/* And registering carol (her real hash) makes a third account. */
	iso_account_t c;
	cr_assert_eq(iso_register(reg, "user", "carol", "KRAKEN", &c), 0);
	cr_expect(c.slot != a.slot && c.slot != sb);
	tu_gone(reg);
}
