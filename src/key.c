/*
 * key.c - account keys: validation, normalisation, parsing, hashing [K1][K2].
 *
 * A key is refused, never truncated or silently fixed, and the message
 * names the field. Stored keys are re-validated before a reader trusts them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"

static int check_field(const char *what, const char *v, size_t max)
{
	if (!v)
		return iso_fail(ISO_EINVAL, "%s: missing (NULL)", what);
	size_t n = strnlen(v, max + 1);
	if (n == 0)
		return iso_fail(ISO_EINVAL, "%s: empty; it needs 1 to %zu bytes",
				what, max);
	if (n > max)
		return iso_fail(ISO_EINVAL,
				"%s: longer than %zu bytes (\"%.*s...\")", what,
				max, 20, v);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= 0x20 || c >= 0x7f)
			return iso_fail(ISO_EINVAL,
					"%s: byte %zu is 0x%02x; only printable "
					"ASCII without spaces is allowed",
					what, i, c);
		if (c == '/')
			return iso_fail(ISO_EINVAL,
					"%s: contains '/', which separates key "
					"fields", what);
	}
	return 0;
}

static void copy_case(char *dst, const char *src, bool upper)
{
	size_t i;
	for (i = 0; src[i]; i++)
		dst[i] = (char)(upper ? toupper((unsigned char)src[i])
				      : tolower((unsigned char)src[i]));
	dst[i] = '\0';
}

int iso_key_make(const char *type, const char *id, const char *broker,
		 struct iso_key *out)
{
	int rc;
	if (!out)
		return iso_fail(ISO_EINVAL, "iso_key_make: output is NULL");
	if ((rc = check_field("account type", type, ISO_TYPE_MAX)) ||
	    (rc = check_field("account id", id, ISO_ID_MAX)) ||
	    (rc = check_field("broker", broker, ISO_BROKER_MAX)))
		return rc;
	memset(out, 0, sizeof(*out));
	copy_case(out->type, type, false);
	copy_case(out->id, id, false);
	copy_case(out->broker, broker, true);
	return 0;
}

int iso_key_parse(const char *str, struct iso_key *out)
{
	char buf[ISO_KEY_STR_MAX + 2];
	if (!str || !out)
		return iso_fail(ISO_EINVAL, "iso_key_parse: NULL argument");
	size_t n = strnlen(str, sizeof(buf));
	if (n >= sizeof(buf))
		return iso_fail(ISO_EINVAL,
				"key: longer than %d bytes; expected "
				"type/id/BROKER", ISO_KEY_STR_MAX);
	memcpy(buf, str, n + 1);
	char *a = buf, *b = strchr(a, '/');
	char *c = b ? strchr(b + 1, '/') : NULL;
	if (!b || !c || strchr(c + 1, '/'))
		return iso_fail(ISO_EINVAL,
				"key '%s': expected three fields "
				"type/id/BROKER, e.g. user/user1/KRAKEN", str);
	*b++ = '\0';
	*c++ = '\0';
	return iso_key_make(a, b, c, out);
}

int iso_key_format(const struct iso_key *key, char *buf, size_t len)
{
	if (!key || !buf || !len)
		return iso_fail(ISO_EINVAL, "iso_key_format: NULL argument");
	int n = snprintf(buf, len, "%s/%s/%s", key->type, key->id, key->broker);
	return n < 0 ? 0 : ((size_t)n >= len ? (int)len - 1 : n);
}

uint64_t iso_key_hash(const struct iso_key *key)
{
	/* Hash the three fields with their NULs so "a/bc" != "ab/c". */
	XXH64_state_t st;
	XXH64_reset(&st, 0x69736f726567ull);
	XXH64_update(&st, key->type, strlen(key->type) + 1);
	XXH64_update(&st, key->id, strlen(key->id) + 1);
	XXH64_update(&st, key->broker, strlen(key->broker) + 1);
	uint64_t h = XXH64_digest(&st);
	return h ? h : 1; /* 0 marks an empty directory entry */
}

/* A key read back from shared memory: terminated, in range, normalised. */
bool iso_key_valid_stored(const char *type, const char *id, const char *broker)
{
	const struct { const char *v; size_t max; int upper; } f[3] = {
		{ type, ISO_TYPE_MAX, 0 }, { id, ISO_ID_MAX, 0 },
		{ broker, ISO_BROKER_MAX, 1 },
	};
	for (int i = 0; i < 3; i++) {
		size_t n = strnlen(f[i].v, f[i].max + 1);
		if (n == 0 || n > f[i].max)
			return false;
		for (size_t j = 0; j < n; j++) {
			unsigned char c = (unsigned char)f[i].v[j];
			if (c <= 0x20 || c >= 0x7f || c == '/')
				return false;
			if (f[i].upper ? islower(c) : isupper(c))
				return false;
		}
	}
	return true;
}
