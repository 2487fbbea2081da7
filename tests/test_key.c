/*
 * test_key.c - keys [K1][K2] and configs [B1]: normalisation, every way a
 * field can be wrong, messages that name the field, nothing truncated.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"

Test(key, normalises_type_and_id_lower_and_broker_upper)
{
	struct iso_key k;
	cr_assert_eq(iso_key_make("User", "USER1", "kraken", &k), 0);
	cr_assert_str_eq(k.type, "user");
	cr_assert_str_eq(k.id, "user1");
	cr_assert_str_eq(k.broker, "KRAKEN");
	char buf[ISO_KEY_STR_MAX + 1];
	iso_key_format(&k, buf, sizeof(buf));
	cr_assert_str_eq(buf, "user/user1/KRAKEN");
	struct iso_key p;
	cr_assert_eq(iso_key_parse("USER/User1/Kraken", &p), 0);
	cr_assert_eq(memcmp(&k, &p, sizeof(k)), 0);
}

Test(key, accepts_fields_at_their_maximum_length)
{
	char t[16], id[64], b[16];
	memset(t, 'a', 15); t[15] = 0;
	memset(id, 'b', 63); id[63] = 0;
	memset(b, 'C', 15); b[15] = 0;
	struct iso_key k;
	cr_assert_eq(iso_key_make(t, id, b, &k), 0, "%s", iso_last_error());
	char buf[ISO_KEY_STR_MAX + 1];
	cr_assert_eq(iso_key_format(&k, buf, sizeof(buf)), ISO_KEY_STR_MAX);
}

struct bad { const char *type, *id, *broker, *names; };

Test(key, refuses_every_bad_field_naming_it)
{
	char long_t[17], long_id[65], long_b[17];
	memset(long_t, 'a', 16); long_t[16] = 0;
	memset(long_id, 'a', 64); long_id[64] = 0;
	memset(long_b, 'A', 16); long_b[16] = 0;
	const struct bad rows[] = {
		{ NULL, "u", "K", "account type" },
		{ "", "u", "K", "account type" },
		{ long_t, "u", "K", "account type" },
		{ "us er", "u", "K", "account type" },
		{ "us/er", "u", "K", "account type" },
		{ "us\ter", "u", "K", "account type" },
		{ "user", NULL, "K", "account id" },
		{ "user", "", "K", "account id" },
		{ "user", long_id, "K", "account id" },
		{ "user", "a b", "K", "account id" },
		{ "user", "a/b", "K", "account id" },
		{ "user", "caf\xc3\xa9", "K", "account id" },
		{ "user", "u", NULL, "broker" },
		{ "user", "u", "", "broker" },
		{ "user", "u", long_b, "broker" },
		{ "user", "u", "KRA KEN", "broker" },
		{ "user", "u", "K/R", "broker" },
		{ "user", "u", "K\x7f", "broker" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct iso_key k;
		int rc = iso_key_make(rows[i].type, rows[i].id, rows[i].broker, &k);
		cr_expect_eq(rc, ISO_EINVAL, "row %zu accepted", i);
		cr_expect(strstr(iso_last_error(), rows[i].names),
			  "row %zu: message '%s' does not name '%s'", i,
			  iso_last_error(), rows[i].names);
	}
}

Test(key, parse_wants_exactly_three_fields)
{
	struct iso_key k;
	const char *bad[] = { "", "user", "user/u1", "user/u1/K/X", "/u1/K",
			      "user//K", "user/u1/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(iso_key_parse(bad[i], &k), ISO_EINVAL, "'%s'", bad[i]);
	iso_key_parse("user", &k);
	cr_assert(strstr(iso_last_error(), "type/id/BROKER"));
}

Test(key, config_defaults_are_the_specs)
{
	struct iso_config c;
	iso_config_default(&c);
	cr_assert_eq(c.failure_threshold, 5);
	cr_assert_eq(c.success_threshold, 3);
	cr_assert_eq(c.open_timeout_ms, 300000);
	cr_assert_eq(c.half_open_max_calls, 1);
	cr_assert_eq(c.degrade_after, 1);
	cr_assert_eq(c.max_open_timeout_ms, 3600000);
	cr_assert_eq(c.probe_timeout_ms, 30000);
	cr_assert_eq(c.trip_on, 0);
	cr_assert_eq(c.ignore, 0);
	cr_assert_eq(iso_config_validate(&c), 0);
}

Test(key, config_refuses_every_bad_field_naming_it)
{
	struct { const char *field, *value; } rows[] = {
		{ "failure_threshold", "0" }, { "failure_threshold", "256" },
		{ "success_threshold", "0" }, { "half_open_max_calls", "0" },
		{ "degrade_after", "0" }, { "open_timeout_ms", "0" },
		{ "open_timeout_ms", "99999999999" },
		{ "max_open_timeout_ms", "1" }, { "probe_timeout_ms", "0" },
		{ "probe_timeout_ms", "-5" }, { "failure_threshold", "5x" },
		{ "trip_on", "SOMETIMES" }, { "observe_only", "maybe" },
		{ "no_such_field", "1" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct iso_config c, before;
		iso_config_default(&c);
		before = c;
		cr_expect_eq(iso_config_set(&c, rows[i].field, rows[i].value),
			     ISO_EINVAL, "%s=%s accepted", rows[i].field,
			     rows[i].value);
		cr_expect(strstr(iso_last_error(), rows[i].field),
			  "%s: message '%s'", rows[i].field, iso_last_error());
		cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0,
			     "%s: config changed on error", rows[i].field);
	}
	struct iso_config c;
	iso_config_default(&c);
	c.trip_on = c.ignore = ISO_FAIL_MASK(ISO_FAIL_API);
	cr_assert_eq(iso_config_validate(&c), ISO_EINVAL, "both trip and ignore");
}

Test(key, config_set_parses_numbers_masks_and_flags)
{
	struct iso_config c;
	iso_config_default(&c);
	cr_assert_eq(iso_config_set(&c, "failure_threshold", "7"), 0);
	cr_assert_eq(iso_config_set(&c, "trip_on", "authentication,rate_limit_error"), 0);
	cr_assert_eq(iso_config_set(&c, "ignore", "BALANCE"), 0);
	cr_assert_eq(iso_config_set(&c, "observe_only", "true"), 0);
	cr_assert_eq(iso_config_set(&c, "open_timeout_ms", "7200000"), 0);
	cr_assert_eq(c.failure_threshold, 7);
	cr_assert_eq(c.trip_on, ISO_FAIL_MASK(ISO_FAIL_AUTHENTICATION) |
				ISO_FAIL_MASK(ISO_FAIL_RATE_LIMIT));
	cr_assert_eq(c.ignore, ISO_FAIL_MASK(ISO_FAIL_BALANCE));
	cr_assert_eq(c.flags, ISO_CFG_OBSERVE_ONLY);
	cr_assert_eq(c.max_open_timeout_ms, 7200000, "the cap follows up");
	cr_assert_eq(iso_failure_type_parse("network_error"), ISO_FAIL_NETWORK);
	cr_assert_eq(iso_failure_type_parse("Network"), ISO_FAIL_NETWORK);
	cr_assert_eq(iso_failure_type_parse("networking"), ISO_EINVAL);
}

Test(key, names_and_error_strings_cover_every_value)
{
	for (int i = 0; i < ISO_FAIL__COUNT; i++)
		cr_expect_neq(strcmp(iso_failure_type_name(i), "INVALID"), 0);
	for (int i = 0; i < ISO_HEALTH__COUNT; i++)
		cr_expect_neq(strcmp(iso_health_name(i), "INVALID"), 0);
	for (int i = 0; i < ISO_REASON__COUNT; i++)
		cr_expect_neq(strcmp(iso_reason_name(i), "Invalid reason"), 0);
	for (int e = ISO_OK; e >= ISO_EBUSY; e--)
		cr_expect(strncmp(iso_strerror(e), "ISO_E?", 6), "code %d", e);
	cr_assert_str_eq(iso_failure_type_name(99), "INVALID");
}

/*
 * The key rules [K1][K2] written out plainly, one byte at a time, as the
 * reference the library's table-driven path is held to.
 */
static int ref_field(const char *v, size_t max, char *dst, bool upper)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= 0x20 || c >= 0x7f || c == '/')
			return -1;
		if (upper && c >= 'a' && c <= 'z')
			c -= 32;
		if (!upper && c >= 'A' && c <= 'Z')
			c += 32;
		dst[i] = (char)c;
	}
	return 0;
}

/* The directory's hash as the format defines it: XXH3 of
 * "type\0id\0BROKER\0" with the segment seed. */
static uint64_t ref_hash(const struct iso_key *k)
{
	char buf[sizeof(*k)];
	size_t t = strlen(k->type) + 1, i = strlen(k->id) + 1,
	       b = strlen(k->broker) + 1;
	memcpy(buf, k->type, t);
	memcpy(buf + t, k->id, i);
	memcpy(buf + t + i, k->broker, b);
	uint64_t h = XXH3_64bits_withSeed(buf, t + i + b, 0x69736f726567ull);
	return h ? h : 1;
}

/* One key through iso_key_norm and iso_key_make against the reference:
 * same verdict, same key (zero-padded), same hash, lengths right; a
 * refusal names @field. */
static void agree(const char *t, const char *id, const char *b,
		  const char *field, const char *what)
{
	struct iso_key want;
	memset(&want, 0, sizeof(want));
	bool ok = ref_field(t, ISO_TYPE_MAX, want.type, false) == 0 &&
		  ref_field(id, ISO_ID_MAX, want.id, false) == 0 &&
		  ref_field(b, ISO_BROKER_MAX, want.broker, true) == 0;
	struct iso_nkey n;
	memset(&n, 0xa5, sizeof(n)); /* padding must be written, not kept */
	int rc = iso_key_norm(t, id, b, &n);
	cr_assert_eq(rc, ok ? 0 : ISO_EINVAL, "%s: iso_key_norm said %d", what, rc);
	if (!ok) {
		cr_assert(strstr(iso_last_error(), field),
			  "%s: message '%s' does not name %s", what,
			  iso_last_error(), field);
		struct iso_key k;
		cr_assert_eq(iso_key_make(t, id, b, &k), ISO_EINVAL, "%s", what);
		return;
	}
	cr_assert_eq(memcmp(&n.k, &want, sizeof(want)), 0,
		     "%s: normalised to %s/%s/%s", what, n.k.type, n.k.id,
		     n.k.broker);
	cr_assert_eq(n.len[0], strlen(want.type), "%s: type length", what);
	cr_assert_eq(n.len[1], strlen(want.id), "%s: id length", what);
	cr_assert_eq(n.len[2], strlen(want.broker), "%s: broker length", what);
	cr_assert_eq(n.hash, ref_hash(&want), "%s: hash", what);
	cr_assert_eq(n.hash, iso_key_hash(&want), "%s: iso_key_hash", what);
	struct iso_key k;
	cr_assert_eq(iso_key_make(t, id, b, &k), 0, "%s", what);
	cr_assert_eq(memcmp(&k, &want, sizeof(k)), 0, "%s: iso_key_make", what);
}

/* [K1][K2] The by-key paths' one-pass normaliser (a byte table, no
 * message unless refused) decides every byte value, in every field, at
 * its first, a middle and its last allowed position, as the rules do;
 * and every length from 0 to one past the maximum. */
Test(key, fast_normaliser_agrees_with_the_rules_on_every_byte_and_length)
{
	static const struct { size_t max; const char *name; } f[3] = {
		{ ISO_TYPE_MAX, "account type" }, { ISO_ID_MAX, "account id" },
		{ ISO_BROKER_MAX, "broker" },
	};
	for (int which = 0; which < 3; which++) {
		for (int c = 1; c < 256; c++) {
			size_t pos[3] = { 0, f[which].max / 2, f[which].max - 1 };
			for (int p = 0; p < 3; p++) {
				char v[3][ISO_ID_MAX + 2] = { "Platform", "Acct-07", "KraKen" };
				memset(v[which], 'q', f[which].max);
				v[which][f[which].max] = '\0';
				v[which][pos[p]] = (char)c;
				char what[64];
				snprintf(what, sizeof(what), "%s byte 0x%02x at %zu",
					 f[which].name, c, pos[p]);
				agree(v[0], v[1], v[2], f[which].name, what);
			}
		}
		for (size_t len = 0; len <= f[which].max + 1; len++) {
			char v[3][ISO_ID_MAX + 2] = { "user", "u1", "KRAKEN" };
			memset(v[which], 'Z', len);
			v[which][len] = '\0';
			char what[64];
			snprintf(what, sizeof(what), "%s of %zu bytes", f[which].name, len);
			agree(v[0], v[1], v[2], f[which].name, what);
		}
	}
}

/* [S3] The directory hash is part of the segment format: processes built
 * from different commits share one directory. Pinned to a value. */
Test(key, directory_hash_is_pinned_by_the_format)
{
	struct iso_nkey n;
	cr_assert_eq(iso_key_norm("User", "user1", "kraken", &n), 0);
	cr_assert_eq(n.hash, 0xd7fc37dd3be67f94ull, "hash %#llx",
		     (unsigned long long)n.hash);
	cr_assert_eq(iso_key_hash(&n.k), n.hash);
	/* Field boundaries are part of it: "a/bc" is not "ab/c". */
	struct iso_nkey m;
	cr_assert_eq(iso_key_norm("a", "bc", "K", &n), 0);
	cr_assert_eq(iso_key_norm("ab", "c", "K", &m), 0);
	cr_assert_neq(n.hash, m.hash);
	cr_assert(!iso_key_same(&n.k, &m.k));
}
