/*
 * test_badinput.c - every public function, fed what it must refuse,
 * returns its documented error with a message, and leaves the segment
 * exactly as it was [K2][B1][R1][R3].
 *
 * Each refused call runs between two byte-for-byte copies of the whole
 * segment file; the copies must be equal. The one legitimate change is a
 * stale handle's refusal, which counts once in the header's
 * cross_account_errors: that is asserted exactly.
 *
 * Crashes found by the fuzzers (tests/fuzz/) become regression tests at
 * the end of this file.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/chaos_util.h"
#include "isoreg.h"
#include "layout.h"

#define XERR_OFF offsetof(struct iso_shm_header, cross_account_errors)

static char seg[64];
static iso_reg_t *rw, *ro;
static iso_account_t good, good_ro;
static uint8_t *snap;
static size_t snap_len;

static void setup(void)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 8 };
	struct iso_attach_opts ro_opts = { .flags = ISO_ATTACH_RDONLY };

	chaos_segname(seg, sizeof(seg), "badinput");
	cr_assert_eq(iso_attach(seg, &opts, &rw), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(rw, "user", "ok", "KRAKEN", &good), 0);
	cr_assert_eq(iso_record_failure(&good, NULL, ISO_FAIL_NETWORK, 1000), 0);
	cr_assert_eq(iso_record_success(&good, NULL, 1000), 0);
	cr_assert_eq(iso_attach(seg, &ro_opts, &ro), 0, "%s", iso_last_error());
	cr_assert_eq(iso_lookup(ro, "user", "ok", "KRAKEN", &good_ro), 0);
}

static void teardown(void)
{
	free(snap);
	snap = NULL;
	if (ro)
		iso_detach(ro);
	if (rw)
		iso_detach(rw);
	ro = rw = NULL;
	iso_unlink(seg);
}

static uint64_t xerrs_now(void)
{
	uint64_t v;

	/* Read from the file copy: iso_report itself is under test here. */
	memcpy(&v, snap + XERR_OFF, sizeof(v));
	return v;
}

static void take_snapshot(void)
{
	free(snap);
	snap = NULL;
	cr_assert_eq(chaos_shm_read(seg, &snap, &snap_len), 0);
}

/* After a refused call: right code, a message, and the segment as before
 * except for @xerr_delta counted isolation violations. */
static void check_refused(int want, int got, const char *call, int line,
			  uint64_t xerr_delta)
{
	uint8_t *now;
	size_t len;
	uint64_t x0 = xerrs_now(), x1;
	long d;

	cr_expect_eq(got, want, "line %d: %s returned %d (%s), want %s", line, call,
		     got, iso_strerror(got), iso_strerror(want));
	cr_expect(iso_last_error()[0] != '\0', "line %d: %s: no iso_last_error()",
		  line, call);
	cr_assert_eq(chaos_shm_read(seg, &now, &len), 0);
	cr_assert_eq(len, snap_len);
	d = chaos_mem_diff(snap, now, len, XERR_OFF, sizeof(uint64_t));
	cr_expect_eq(d, -1, "line %d: %s changed segment byte %ld", line, call, d);
	memcpy(&x1, now + XERR_OFF, sizeof(x1));
	cr_expect_eq(x1 - x0, xerr_delta, "line %d: %s moved cross_account_errors "
		     "by %llu, want %llu", line, call, (unsigned long long)(x1 - x0),
		     (unsigned long long)xerr_delta);
	free(now);
}

#define REFUSED(want, call)                                                   \
	do {                                                                   \
		take_snapshot();                                               \
		int got_ = (call);                                             \
		check_refused((want), got_, #call, __LINE__, 0);               \
	} while (0)

/* A stale handle's refusal is a detected violation: counted once. */
#define REFUSED_STALE(call)                                                   \
	do {                                                                   \
		take_snapshot();                                               \
		int got_ = (call);                                             \
		check_refused(ISO_ESTALE, got_, #call, __LINE__, 1);           \
	} while (0)

/* The message names what was wrong. */
#define NAMES(word)                                                           \
	cr_expect(strstr(iso_last_error(), (word)) != NULL,                   \
		  "line %d: message \"%s\" does not name \"%s\"", __LINE__,      \
		  iso_last_error(), (word))

static int count_fn(const struct iso_status *st, void *ctx)
{
	(*(unsigned *)ctx)++;
	return 0;
}

/* ------------------------------------------------------------ NULLs */

/* Every NULL pointer argument: ISO_EINVAL ("bad argument: ... NULL"). */
Test(badinput, null_pointers_are_refused_with_einval, .init = setup,
     .fini = teardown)
{
	struct iso_key key;
	struct iso_config cfg;
	struct iso_status st;
	struct iso_status_lite lite;
	struct iso_report rep;
	struct iso_segment_info info;
	struct iso_doctor_report doc;
	struct iso_event ev[4];
	iso_account_t a;
	iso_permit_t p;
	uint64_t cur = 0;
	unsigned n = 0;
	char buf[128];

	iso_config_default(&cfg);
	iso_key_make("user", "x", "KRAKEN", &key);

	REFUSED(ISO_EINVAL, iso_failure_type_parse(NULL));
	REFUSED(ISO_EINVAL, iso_key_make(NULL, "x", "KRAKEN", &key));
	REFUSED(ISO_EINVAL, iso_key_make("user", NULL, "KRAKEN", &key));
	REFUSED(ISO_EINVAL, iso_key_make("user", "x", NULL, &key));
	REFUSED(ISO_EINVAL, iso_key_make("user", "x", "KRAKEN", NULL));
	REFUSED(ISO_EINVAL, iso_key_parse(NULL, &key));
	REFUSED(ISO_EINVAL, iso_key_parse("user/x/KRAKEN", NULL));
	REFUSED(ISO_EINVAL, iso_key_format(NULL, buf, sizeof(buf)));
	REFUSED(ISO_EINVAL, iso_key_format(&key, NULL, 10));
	REFUSED(ISO_EINVAL, iso_config_validate(NULL));
	REFUSED(ISO_EINVAL, iso_config_set(NULL, "failure_threshold", "5"));
	REFUSED(ISO_EINVAL, iso_config_set(&cfg, NULL, "5"));
	REFUSED(ISO_EINVAL, iso_config_set(&cfg, "failure_threshold", NULL));
	REFUSED(ISO_EINVAL, iso_attach(seg, NULL, NULL));
	REFUSED(ISO_EINVAL, iso_detach(NULL));
	/* iso_unlink(NULL) is not called: like iso_attach it may mean the
	 * default segment, and a test must never remove that. */
	REFUSED(ISO_EINVAL, iso_segment_info(NULL, &info));
	REFUSED(ISO_EINVAL, iso_segment_info(rw, NULL));
	REFUSED(ISO_EINVAL, iso_configure_default(NULL, &cfg));
	REFUSED(ISO_EINVAL, iso_configure_default(rw, NULL));
	REFUSED(ISO_EINVAL, iso_register(NULL, "user", "x", "KRAKEN", &a));
	REFUSED(ISO_EINVAL, iso_register(rw, NULL, "x", "KRAKEN", &a));
	REFUSED(ISO_EINVAL, iso_register(rw, "user", NULL, "KRAKEN", &a));
	REFUSED(ISO_EINVAL, iso_register(rw, "user", "x", NULL, &a));
	REFUSED(ISO_EINVAL, iso_register(rw, "user", "x", "KRAKEN", NULL));
	REFUSED(ISO_EINVAL, iso_lookup(NULL, "user", "ok", "KRAKEN", &a));
	REFUSED(ISO_EINVAL, iso_lookup(rw, "user", "ok", "KRAKEN", NULL));
	REFUSED(ISO_EINVAL, iso_lookup(rw, NULL, "ok", "KRAKEN", &a));
	REFUSED(ISO_EINVAL, iso_register_key(NULL, &key, &a));
	REFUSED(ISO_EINVAL, iso_register_key(rw, NULL, &a));
	REFUSED(ISO_EINVAL, iso_register_key(rw, &key, NULL));
	REFUSED(ISO_EINVAL, iso_lookup_key(NULL, &key, &a));
	REFUSED(ISO_EINVAL, iso_lookup_key(rw, NULL, &a));
	REFUSED(ISO_EINVAL, iso_lookup_key(rw, &key, NULL));
	REFUSED(ISO_EINVAL, iso_account_key(NULL, &key));
	REFUSED(ISO_EINVAL, iso_account_key(&good, NULL));
	REFUSED(ISO_EINVAL, iso_acquire(NULL, &p));
	REFUSED(ISO_EINVAL, iso_acquire(&good, NULL));
	REFUSED(ISO_EINVAL, iso_record_success(NULL, NULL, 0));
	REFUSED(ISO_EINVAL, iso_record_failure(NULL, NULL, ISO_FAIL_API, 0));
	REFUSED(ISO_EINVAL, iso_record_failure_retry(NULL, NULL, ISO_FAIL_API, 0, 10));
	REFUSED(ISO_EINVAL, iso_status(NULL, &st));
	REFUSED(ISO_EINVAL, iso_status(&good, NULL));
	REFUSED(ISO_EINVAL, iso_status_lite(NULL, &lite));
	REFUSED(ISO_EINVAL, iso_status_lite(&good, NULL));
	REFUSED(ISO_EINVAL, iso_foreach(NULL, count_fn, &n));
	REFUSED(ISO_EINVAL, iso_foreach(rw, NULL, &n));
	REFUSED(ISO_EINVAL, iso_report(NULL, &rep));
	REFUSED(ISO_EINVAL, iso_report(rw, NULL));
	REFUSED(ISO_EINVAL, iso_reset(NULL));
	REFUSED(ISO_EINVAL, iso_force_open(NULL));
	REFUSED(ISO_EINVAL, iso_configure(NULL, &cfg));
	REFUSED(ISO_EINVAL, iso_retire(NULL));
	REFUSED(ISO_EINVAL, iso_acquire_by_key(NULL, "user", "ok", "KRAKEN", &p));
	REFUSED(ISO_EINVAL, iso_acquire_by_key(rw, "user", "ok", "KRAKEN", NULL));
	REFUSED(ISO_EINVAL, iso_acquire_by_key(rw, NULL, "ok", "KRAKEN", &p));
	REFUSED(ISO_EINVAL, iso_record_success_by_key(NULL, "user", "ok", "KRAKEN", 0));
	REFUSED(ISO_EINVAL, iso_record_success_by_key(rw, "user", NULL, "KRAKEN", 0));
	REFUSED(ISO_EINVAL, iso_record_failure_by_key(NULL, "user", "ok", "KRAKEN",
						      ISO_FAIL_API, 0, 0));
	REFUSED(ISO_EINVAL, iso_record_failure_by_key(rw, "user", "ok", NULL,
						      ISO_FAIL_API, 0, 0));
	REFUSED(ISO_EINVAL, iso_status_by_key(NULL, "user", "ok", "KRAKEN", &st));
	REFUSED(ISO_EINVAL, iso_status_by_key(rw, "user", "ok", "KRAKEN", NULL));
	REFUSED(ISO_EINVAL, iso_reset_by_key(NULL, "user", "ok", "KRAKEN"));
	REFUSED(ISO_EINVAL, iso_reset_by_key(rw, NULL, "ok", "KRAKEN"));
	REFUSED(ISO_EINVAL, iso_events_read(NULL, &cur, ev, 4, NULL));
	REFUSED(ISO_EINVAL, iso_events_read(rw, NULL, ev, 4, NULL));
	REFUSED(ISO_EINVAL, iso_events_read(rw, &cur, NULL, 4, NULL));
	REFUSED(ISO_EINVAL, iso_doctor(NULL, 0, &doc));
	REFUSED(ISO_EINVAL, iso_doctor(rw, 0, NULL));
	cr_expect_eq(n, 0, "iso_foreach called back on refusal");

	REFUSED(ISO_EINVAL, iso_permit_reason(NULL, buf, sizeof(buf)));
	REFUSED(ISO_EINVAL, iso_permit_reason(&p, NULL, 10));
	REFUSED(ISO_EINVAL, iso_key_format(&key, buf, 0));
	/* No error code to give: NULL reads as an empty ring. */
	cr_expect_eq(iso_events_head(NULL), 0);
}

/* ----------------------------------------------------------- handles */

typedef int (*handle_fn)(const iso_account_t *a);

static int h_acquire(const iso_account_t *a)
{
	iso_permit_t p;

	return iso_acquire(a, &p);
}
static int h_success(const iso_account_t *a) { return iso_record_success(a, NULL, 5); }
static int h_failure(const iso_account_t *a)
{
	return iso_record_failure(a, NULL, ISO_FAIL_EXECUTION, 5);
}
static int h_failure_retry(const iso_account_t *a)
{
	return iso_record_failure_retry(a, NULL, ISO_FAIL_RATE_LIMIT, 5, 1000);
}
static int h_status(const iso_account_t *a)
{
	struct iso_status st;

	return iso_status(a, &st);
}
static int h_status_lite(const iso_account_t *a)
{
	struct iso_status_lite st;

	return iso_status_lite(a, &st);
}
static int h_key(const iso_account_t *a)
{
	struct iso_key k;

	return iso_account_key(a, &k);
}
static int h_reset(const iso_account_t *a) { return iso_reset(a); }
static int h_force(const iso_account_t *a) { return iso_force_open(a); }
static int h_configure(const iso_account_t *a)
{
	struct iso_config cfg;

	iso_config_default(&cfg);
	return iso_configure(a, &cfg);
}
static int h_unconfigure(const iso_account_t *a) { return iso_configure(a, NULL); }
static int h_retire(const iso_account_t *a) { return iso_retire(a); }

static const struct {
	const char *name;
	handle_fn fn;
	bool writes;
} handle_calls[] = {
	{ "iso_acquire", h_acquire, false },
	{ "iso_record_success", h_success, true },
	{ "iso_record_failure", h_failure, true },
	{ "iso_record_failure_retry", h_failure_retry, true },
	{ "iso_status", h_status, false },
	{ "iso_status_lite", h_status_lite, false },
	{ "iso_account_key", h_key, false },
	{ "iso_reset", h_reset, true },
	{ "iso_force_open", h_force, true },
	{ "iso_configure", h_configure, true },
	{ "iso_configure(NULL)", h_unconfigure, true },
	{ "iso_retire", h_retire, true },
};
#define N_HANDLE_CALLS (sizeof(handle_calls) / sizeof(handle_calls[0]))

/* A zeroed handle, one whose reg points at garbage, one with a slot out of
 * range: ISO_EINVAL. One whose generation is wrong: ISO_ESTALE, counted. */
Test(badinput, zeroed_garbage_and_out_of_range_handles_are_refused, .init = setup,
     .fini = teardown)
{
	/* A fake attachment: readable memory that is no iso_reg_t. */
	static uint8_t garbage[8192];
	iso_account_t zero = { 0 };
	iso_account_t junk = { (iso_reg_t *)garbage, 0, 0 };
	iso_account_t far = { rw, 8, good.gen };
	iso_account_t huge = { rw, UINT32_MAX, good.gen };
	iso_account_t wrong_gen = { rw, good.slot, good.gen + 1 };
	iso_account_t never_used = { rw, 5, 0 };
	iso_account_t never_used_g1 = { rw, 5, 1 };

	memset(garbage, 0xa5, sizeof(garbage));
	for (unsigned i = 0; i < N_HANDLE_CALLS; i++) {
		const char *name = handle_calls[i].name;
		handle_fn fn = handle_calls[i].fn;
		int rc;

		take_snapshot();
		rc = fn(&zero);
		check_refused(ISO_EINVAL, rc, name, __LINE__, 0);
		take_snapshot();
		rc = fn(&junk);
		check_refused(ISO_EINVAL, rc, name, __LINE__, 0);
		take_snapshot();
		rc = fn(&far);
		check_refused(ISO_EINVAL, rc, name, __LINE__, 0);
		take_snapshot();
		rc = fn(&huge);
		check_refused(ISO_EINVAL, rc, name, __LINE__, 0);
		take_snapshot();
		rc = fn(&wrong_gen);
		check_refused(ISO_ESTALE, rc, name, __LINE__, 1);
		take_snapshot();
		rc = fn(&never_used);
		check_refused(ISO_ESTALE, rc, name, __LINE__, 1);
		take_snapshot();
		rc = fn(&never_used_g1);
		check_refused(ISO_ESTALE, rc, name, __LINE__, 1);
	}

	/* A stale handle on a read-only attachment: refused; the counter
	 * cannot move (the mapping is read-only). */
	iso_account_t ro_stale = { ro, good.slot, good.gen + 1 };
	REFUSED(ISO_ESTALE, h_status(&ro_stale));

	/* The good handle still works, and saw none of this. */
	struct iso_status st;
	cr_assert_eq(iso_status(&good, &st), 0);
	cr_expect_eq(st.successes, 1);
	cr_expect_eq(st.failures, 1);
	cr_expect_eq(st.breaker, ISO_BREAKER_CLOSED);
}

/* A permit from another account, or with garbage fields, never moves the
 * breaker of the account it is passed with into an illegal state. */
Test(badinput, foreign_or_garbage_permits_do_not_corrupt_a_breaker, .init = setup,
     .fini = teardown)
{
	iso_account_t other;
	iso_permit_t p, junk;
	struct iso_status st;
	struct iso_doctor_report doc;

	cr_assert_eq(iso_register(rw, "user", "other", "KRAKEN", &other), 0);
	cr_assert_eq(iso_acquire(&other, &p), 0);
	memset(&junk, 0xa5, sizeof(junk));
	for (int i = 0; i < 20; i++) {
		int rc1 = iso_record_success(&good, &p, 10);
		int rc2 = iso_record_failure(&good, &junk, ISO_FAIL_API, 10);

		cr_expect(rc1 == 0 || rc1 == ISO_EINVAL, "%s", iso_strerror(rc1));
		cr_expect(rc2 == 0 || rc2 == ISO_EINVAL, "%s", iso_strerror(rc2));
		if (rc1 || rc2)
			cr_expect(iso_last_error()[0] != '\0');
	}
	cr_assert_eq(iso_status(&good, &st), 0);
	cr_expect_lt((unsigned)st.breaker, ISO_BREAKER__COUNT);
	cr_expect_lt((unsigned)st.health, ISO_HEALTH__COUNT);
	cr_expect_eq(st.operations, st.successes + st.failures);
	cr_assert_eq(iso_doctor(rw, 0, &doc), 0);
	cr_expect(doc.ok);
	cr_expect_eq(doc.bad_breaker_words, 0);
}

/* ------------------------------------------------------------- keys */

static const struct {
	const char *field;
	const char *type, *id, *broker;
} bad_keys[] = {
	{ "type", "", "x", "KRAKEN" },
	{ "type", "abcdefghijklmnop", "x", "KRAKEN" }, /* 16 bytes */
	{ "type", "us/er", "x", "KRAKEN" },
	{ "type", "us er", "x", "KRAKEN" },
	{ "type", "us\ter", "x", "KRAKEN" },
	{ "type", "us\x01" "er", "x", "KRAKEN" },
	{ "type", "us\x7f" "er", "x", "KRAKEN" },
	{ "type", "us\xc3\xa9r", "x", "KRAKEN" },
	{ "id", "user", "", "KRAKEN" },
	{ "id", "user",
	  "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
	  "KRAKEN" },
	{ "id", "user", "a/b", "KRAKEN" },
	{ "id", "user", "a b", "KRAKEN" },
	{ "id", "user", "a\nb", "KRAKEN" },
	{ "id", "user", "a\x1f" "b", "KRAKEN" },
	{ "id", "user", "a\x7f", "KRAKEN" },
	{ "id", "user", "\xff", "KRAKEN" },
	{ "broker", "user", "x", "" },
	{ "broker", "user", "x", "KRAKENKRAKENKRAK" }, /* 16 */
	{ "broker", "user", "x", "KRA/KEN" },
	{ "broker", "user", "x", "KRA KEN" },
	{ "broker", "user", "x", "KRA\rKEN" },
	{ "broker", "user", "x", "\x80KRAKEN" },
};
#define N_BAD_KEYS (sizeof(bad_keys) / sizeof(bad_keys[0]))

/* SPEC [K2]: each field empty, too long, with '/', space or a
 * non-printable byte: ISO_EINVAL naming the field, nothing registered. */
Test(badinput, invalid_keys_are_refused_naming_the_field, .init = setup,
     .fini = teardown)
{
	struct iso_key key, untouched;
	iso_account_t a;
	iso_permit_t p;
	struct iso_status st;

	for (unsigned i = 0; i < N_BAD_KEYS; i++) {
		const char *t = bad_keys[i].type, *id = bad_keys[i].id,
			   *b = bad_keys[i].broker, *f = bad_keys[i].field;
		char str[256];

		memset(&key, 0x5a, sizeof(key));
		untouched = key;
		REFUSED(ISO_EINVAL, iso_key_make(t, id, b, &key));
		NAMES(f);
		cr_expect_eq(memcmp(&key, &untouched, sizeof(key)), 0,
			     "key #%u: output written on error", i);
		snprintf(str, sizeof(str), "%s/%s/%s", t, id, b);
		if (strchr(t, '/') == NULL && strchr(id, '/') == NULL &&
		    strchr(b, '/') == NULL) {
			REFUSED(ISO_EINVAL, iso_key_parse(str, &key));
			NAMES(f);
		}
		REFUSED(ISO_EINVAL, iso_register(rw, t, id, b, &a));
		NAMES(f);
		REFUSED(ISO_EINVAL, iso_lookup(rw, t, id, b, &a));
		REFUSED(ISO_EINVAL, iso_acquire_by_key(rw, t, id, b, &p));
		REFUSED(ISO_EINVAL, iso_record_success_by_key(rw, t, id, b, 0));
		REFUSED(ISO_EINVAL, iso_record_failure_by_key(rw, t, id, b,
							      ISO_FAIL_API, 0, 0));
		REFUSED(ISO_EINVAL, iso_status_by_key(rw, t, id, b, &st));
		REFUSED(ISO_EINVAL, iso_reset_by_key(rw, t, id, b));
	}

	/* A struct iso_key with no NUL anywhere. */
	memset(&key, 'a', sizeof(key));
	REFUSED(ISO_EINVAL, iso_register_key(rw, &key, &a));
	REFUSED(ISO_EINVAL, iso_lookup_key(rw, &key, &a));
	char buf[ISO_KEY_STR_MAX + 1];
	int n = iso_key_format(&key, buf, sizeof(buf));
	cr_expect(n < 0 || (size_t)n < sizeof(buf), "format overran: %d", n);

	/* Strings that do not split into three fields. */
	const char *bad_strs[] = { "", "/", "//", "user", "user/x", "user/x/",
				   "/x/KRAKEN", "user//KRAKEN", "user/x/KRAKEN/",
				   "user/x/KRAKEN/y", "a/b/c/d/e" };
	for (unsigned i = 0; i < sizeof(bad_strs) / sizeof(bad_strs[0]); i++)
		REFUSED(ISO_EINVAL, iso_key_parse(bad_strs[i], &key));

	/* Limits are inclusive: 15/63/15 bytes are fine. */
	cr_expect_eq(iso_key_make("abcdefghijklmno",
				  "012345678901234567890123456789012345678901234567890123456789012",
				  "KRAKENKRAKENKRA", &key), 0, "%s", iso_last_error());
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(rw, &info), 0);
	cr_expect_eq(info.live, 1, "an invalid key was registered");
}

/* ----------------------------------------------------------- configs */

struct cfg_case {
	const char *field;
	void (*spoil)(struct iso_config *c);
};
#define SPOIL(name, body) static void name(struct iso_config *c) { body; }
SPOIL(ft0, c->failure_threshold = 0)
SPOIL(ft256, c->failure_threshold = 256)
SPOIL(st0, c->success_threshold = 0)
SPOIL(st256, c->success_threshold = 256)
SPOIL(hm0, c->half_open_max_calls = 0)
SPOIL(hm256, c->half_open_max_calls = 256)
SPOIL(da0, c->degrade_after = 0)
SPOIL(da256, c->degrade_after = 256)
SPOIL(ot0, c->open_timeout_ms = 0)
SPOIL(otmax, c->open_timeout_ms = ISO_TIMEOUT_MAX_MS + 1; c->max_open_timeout_ms = UINT32_MAX)
SPOIL(mo_lt, c->max_open_timeout_ms = c->open_timeout_ms - 1)
SPOIL(mo_max, c->max_open_timeout_ms = UINT32_MAX)
SPOIL(pt0, c->probe_timeout_ms = 0)
SPOIL(ptmax, c->probe_timeout_ms = ISO_TIMEOUT_MAX_MS + 1)
SPOIL(trip_bits, c->trip_on = 1u << ISO_FAIL__COUNT)
SPOIL(ignore_bits, c->ignore = 0x80000000u)
SPOIL(both, c->trip_on = ISO_FAIL_MASK(ISO_FAIL_API); c->ignore = ISO_FAIL_MASK(ISO_FAIL_API))
SPOIL(flag_bits, c->flags = 0x100)

static const struct cfg_case bad_cfgs[] = {
	{ "failure_threshold", ft0 }, { "failure_threshold", ft256 },
	{ "success_threshold", st0 }, { "success_threshold", st256 },
	{ "half_open_max_calls", hm0 }, { "half_open_max_calls", hm256 },
	{ "degrade_after", da0 }, { "degrade_after", da256 },
	{ "open_timeout_ms", ot0 }, { "open_timeout_ms", otmax },
	{ "max_open_timeout_ms", mo_lt }, { "max_open_timeout_ms", mo_max },
	{ "probe_timeout_ms", pt0 }, { "probe_timeout_ms", ptmax },
	{ "trip_on", trip_bits }, { "ignore", ignore_bits }, { "", both },
	{ "flags", flag_bits },
};

/* SPEC [B1]: each field out of range is refused naming the field, by
 * validate, by iso_configure, by iso_configure_default and by creation. */
Test(badinput, invalid_configs_are_refused_naming_the_field, .init = setup,
     .fini = teardown)
{
	for (unsigned i = 0; i < sizeof(bad_cfgs) / sizeof(bad_cfgs[0]); i++) {
		struct iso_config cfg;
		struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE,
						.capacity = 4, .defaults = &cfg };
		char other[64];
		iso_reg_t *r = NULL;

		iso_config_default(&cfg);
		bad_cfgs[i].spoil(&cfg);
		REFUSED(ISO_EINVAL, iso_config_validate(&cfg));
		NAMES(bad_cfgs[i].field);
		REFUSED(ISO_EINVAL, iso_configure(&good, &cfg));
		NAMES(bad_cfgs[i].field);
		REFUSED(ISO_EINVAL, iso_configure_default(rw, &cfg));
		chaos_segname(other, sizeof(other), "badinput");
		REFUSED(ISO_EINVAL, iso_attach(other, &opts, &r));
		cr_expect_null(r);
		cr_expect_eq(iso_unlink(other), ISO_ENOENT, "refused create left %s", other);
	}
	struct iso_status st;
	cr_assert_eq(iso_status(&good, &st), 0);
	cr_expect(!st.config_override, "a refused config was applied");
}

/* iso_config_set: unknown fields and unparsable or out-of-range values
 * are refused, and @cfg is left exactly as it was. */
Test(badinput, config_set_refuses_bad_text_and_leaves_cfg_unchanged)
{
	static const char *const bad[][2] = {
		{ "", "5" }, { "no_such_field", "5" }, { "FAILURE_THRESHOLD ", "5" },
		{ "failure_threshold", "" }, { "failure_threshold", "abc" },
		{ "failure_threshold", "-1" }, { "failure_threshold", "0" },
		{ "failure_threshold", "256" }, { "failure_threshold", "5x" },
		{ "failure_threshold", "0x5z" },
		{ "failure_threshold", "99999999999999999999999" },
		{ "success_threshold", "0" }, { "half_open_max_calls", "1000" },
		{ "degrade_after", "-0" }, { "open_timeout_ms", "0" },
		{ "open_timeout_ms", "604800001" }, { "probe_timeout_ms", "4294967296" },
		{ "max_open_timeout_ms", "1" }, { "trip_on", "BOGUS" },
		{ "trip_on", "API,,NETWORK" }, { "trip_on", "API," },
		{ "ignore", "balance;api" }, { "ignore", "" },
		{ "observe_only", "2" }, { "observe_only", "yes please" },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iso_config cfg, before;

		iso_config_default(&cfg);
		before = cfg;
		int rc = iso_config_set(&cfg, bad[i][0], bad[i][1]);
		cr_expect_eq(rc, ISO_EINVAL, "config_set(%s, \"%s\") = %d", bad[i][0],
			     bad[i][1], rc);
		cr_expect(iso_last_error()[0] != '\0');
		cr_expect_eq(memcmp(&cfg, &before, sizeof(cfg)), 0,
			     "config_set(%s, \"%s\") changed cfg on error", bad[i][0],
			     bad[i][1]);
	}
}

/* ------------------------------------------------------------- enums */

/* Failure type 99, -1; out-of-range names; doctor flags. */
Test(badinput, out_of_range_enums_are_refused, .init = setup, .fini = teardown)
{
	iso_permit_t p;

	REFUSED(ISO_EINVAL, iso_record_failure(&good, NULL, (enum iso_failure_type)99, 0));
	REFUSED(ISO_EINVAL, iso_record_failure(&good, NULL, (enum iso_failure_type)-1, 0));
	REFUSED(ISO_EINVAL, iso_record_failure(&good, NULL, ISO_FAIL__COUNT, 0));
	REFUSED(ISO_EINVAL, iso_record_failure_retry(&good, NULL,
						     (enum iso_failure_type)99, 0, 10));
	REFUSED(ISO_EINVAL, iso_record_failure_by_key(rw, "user", "ok", "KRAKEN",
						      (enum iso_failure_type)99, 0, 0));
	/* By key, a bad type must not register the account either. */
	REFUSED(ISO_EINVAL, iso_record_failure_by_key(rw, "user", "fresh", "KRAKEN",
						      (enum iso_failure_type)99, 0, 0));
	REFUSED(ISO_EINVAL, iso_failure_type_parse("bogus"));
	REFUSED(ISO_EINVAL, iso_failure_type_parse(""));
	REFUSED(ISO_EINVAL, iso_failure_type_parse("API "));
	struct iso_doctor_report doc;
	REFUSED(ISO_EINVAL, iso_doctor(rw, 0x80, &doc));
	REFUSED(ISO_EINVAL, iso_events_read(rw, &(uint64_t){ 0 },
					    (struct iso_event[1]){ { 0 } }, -1, NULL));

	/* Names of out-of-range values: a string, never NULL. */
	const int odd[] = { -1, 99, INT_MAX, INT_MIN };
	for (unsigned i = 0; i < 4; i++) {
		cr_expect_not_null(iso_strerror(odd[i]));
		cr_expect_not_null(iso_failure_type_name((enum iso_failure_type)odd[i]));
		cr_expect_not_null(iso_health_name((enum iso_health)odd[i]));
		cr_expect_not_null(iso_breaker_state_name((enum iso_breaker_state)odd[i]));
		cr_expect_not_null(iso_reason_name((enum iso_reason)odd[i]));
		cr_expect_not_null(iso_cause_name((enum iso_cause)odd[i]));
	}
	/* A permit carrying a garbage reason still formats within bounds. */
	char small[8];
	memset(&p, 0xff, sizeof(p));
	int n = iso_permit_reason(&p, small, sizeof(small));
	cr_expect(n >= 0);
	cr_expect(memchr(small, '\0', sizeof(small)) != NULL, "not terminated");
}

/* ---------------------------------------------------------- read-only */

/* SPEC [R3]: every write through a read-only attachment: ISO_ERDONLY. */
Test(badinput, read_only_attachment_refuses_every_write, .init = setup,
     .fini = teardown)
{
	struct iso_config cfg;
	struct iso_doctor_report doc;
	iso_account_t a;
	iso_permit_t p;
	struct iso_status st;

	iso_config_default(&cfg);
	for (unsigned i = 0; i < N_HANDLE_CALLS; i++) {
		if (!handle_calls[i].writes)
			continue;
		take_snapshot();
		int rc = handle_calls[i].fn(&good_ro);
		check_refused(ISO_ERDONLY, rc, handle_calls[i].name, __LINE__, 0);
	}
	REFUSED(ISO_ERDONLY, iso_register(ro, "user", "new", "KRAKEN", &a));
	REFUSED(ISO_ERDONLY, iso_configure_default(ro, &cfg));
	REFUSED(ISO_ERDONLY, iso_doctor(ro, ISO_DOCTOR_REPAIR, &doc));
	REFUSED(ISO_ERDONLY, iso_record_success_by_key(ro, "user", "ok", "KRAKEN", 0));
	REFUSED(ISO_ERDONLY, iso_record_failure_by_key(ro, "user", "ok", "KRAKEN",
						       ISO_FAIL_API, 0, 0));
	REFUSED(ISO_ERDONLY, iso_reset_by_key(ro, "user", "ok", "KRAKEN"));
	REFUSED(ISO_ERDONLY, iso_record_success_by_key(ro, "user", "new", "KRAKEN", 0));

	/* Reading works and changes nothing. */
	take_snapshot();
	cr_expect_eq(iso_status(&good_ro, &st), 0);
	cr_expect_eq(iso_doctor(ro, 0, &doc), 0);
	cr_expect_eq(iso_lookup(ro, "user", "ok", "KRAKEN", &a), 0);
	int rc = iso_acquire(&good_ro, &p);
	cr_expect(rc == 0 || rc == ISO_ERDONLY, "acquire on read-only: %s",
		  iso_strerror(rc));
	uint8_t *now;
	size_t len;
	cr_assert_eq(chaos_shm_read(seg, &now, &len), 0);
	cr_expect_eq(chaos_mem_diff(snap, now, len, 0, 0), -1, "reads changed the segment");
	free(now);
}

/* ------------------------------------------------------------ attach */

/* Bad names and options are refused before anything is created. */
Test(badinput, attach_refuses_bad_names_and_options, .init = setup,
     .fini = teardown)
{
	char longname[300], fresh[64];
	struct iso_config bad_cfg;
	iso_reg_t *r = NULL;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	chaos_segname(fresh, sizeof(fresh), "badinput");
	iso_config_default(&bad_cfg);
	bad_cfg.failure_threshold = 0;

	struct {
		const char *name;
		struct iso_attach_opts opts;
		int want;
	} cases[] = {
		{ "", { .flags = ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ "noslash", { .flags = ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ "/a/b", { .flags = ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ "/a b", { .flags = ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ "/", { .flags = ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ longname, { .flags = ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ fresh, { .flags = 0x80 | ISO_ATTACH_CREATE }, ISO_EINVAL },
		{ fresh, { .flags = ISO_ATTACH_CREATE, .capacity = ISO_CAPACITY_MAX + 1 },
		  ISO_EINVAL },
		{ fresh, { .flags = ISO_ATTACH_CREATE, .defaults = &bad_cfg }, ISO_EINVAL },
		{ fresh, { .flags = ISO_ATTACH_CREATE, .mode = 010000 }, ISO_EINVAL },
		{ fresh, { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_RDONLY }, ISO_EINVAL },
		{ fresh, { .flags = 0 }, ISO_ENOENT },
		{ fresh, { .flags = ISO_ATTACH_RDONLY }, ISO_ENOENT },
		{ seg, { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL }, ISO_EEXIST },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = NULL;
		REFUSED(cases[i].want, iso_attach(cases[i].name, &cases[i].opts, &r));
		cr_expect_null(r, "case %u: output set on error", i);
		cr_expect_eq(iso_unlink(fresh), ISO_ENOENT, "case %u created %s", i, fresh);
	}
	REFUSED(ISO_ENOENT, iso_unlink(fresh));
	REFUSED(ISO_EINVAL, iso_unlink(""));
	REFUSED(ISO_EINVAL, iso_unlink("/a/b"));
	REFUSED(ISO_EINVAL, iso_unlink(longname));
}

/* ---------------------------------------------------- small buffers */

/* Formatting into short buffers truncates and terminates, never overruns
 * (ASan watches the bytes past the end). */
Test(badinput, short_buffers_are_never_overrun, .init = setup, .fini = teardown)
{
	struct iso_key key;
	iso_permit_t p;

	cr_assert_eq(iso_key_make("user", "someone", "KRAKEN", &key), 0);
	cr_assert_eq(iso_force_open(&good), 0);
	cr_assert_eq(iso_acquire(&good, &p), ISO_EOPEN);
	for (size_t len = 1; len < 24; len++) {
		char *buf = malloc(len);

		int n = iso_key_format(&key, buf, len);
		cr_expect(n < 0 || memchr(buf, '\0', len) != NULL, "key, len %zu", len);
		n = iso_permit_reason(&p, buf, len);
		cr_expect(n >= 0 && memchr(buf, '\0', len) != NULL, "reason, len %zu", len);
		free(buf);
	}
}

/* ------------------------------------------- fuzzer regressions */
