/*
 * test_key.c - keys [K1][K2] and configs [B1]: normalisation, every way a
 * field can be wrong, messages that name the field, nothing truncated.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "isoreg.h"

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
