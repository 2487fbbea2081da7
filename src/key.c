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

/*
 * Validate one field and copy it case-folded in a single pass. Only
 * printable ASCII gets this far, so folding is plain arithmetic (the C
 * library's toupper consults the locale and costs more than the lookup).
 */
static int take_field(const char *what, const char *v, size_t max, char *dst,
		      bool upper)
{
	size_t i;
	if (!v)
		return iso_fail(ISO_EINVAL, "%s: missing (NULL)", what);
	for (i = 0; v[i]; i++) {
		unsigned char c = (unsigned char)v[i];
		if (i == max)
			return iso_fail(ISO_EINVAL,
					"%s: longer than %zu bytes (\"%.*s...\")",
					what, max, 20, v);
		if (c <= 0x20 || c >= 0x7f)
			return iso_fail(ISO_EINVAL,
					"%s: byte %zu is 0x%02x; only printable "
					"ASCII without spaces is allowed",
					what, i, c);
		if (c == '/')
			return iso_fail(ISO_EINVAL,
					"%s: contains '/', which separates key "
					"fields", what);
		if (upper && c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		dst[i] = (char)c;
	}
	if (i == 0)
		return iso_fail(ISO_EINVAL, "%s: empty; it needs 1 to %zu bytes",
				what, max);
	dst[i] = '\0';
	return 0;
}

int iso_key_make(const char *type, const char *id, const char *broker,
		 struct iso_key *out)
{
	struct iso_key k;
	int rc;
	if (!out)
		return iso_fail(ISO_EINVAL, "iso_key_make: output is NULL");
	memset(&k, 0, sizeof(k));
	if ((rc = take_field("account type", type, ISO_TYPE_MAX, k.type, false)) ||
	    (rc = take_field("account id", id, ISO_ID_MAX, k.id, false)) ||
	    (rc = take_field("broker", broker, ISO_BROKER_MAX, k.broker, true)))
		return rc;
	*out = k;
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
	/* Bounded: a caller's key need not be terminated. */
	int n = snprintf(buf, len, "%.*s/%.*s/%.*s",
			 (int)strnlen(key->type, sizeof(key->type)), key->type,
			 (int)strnlen(key->id, sizeof(key->id)), key->id,
			 (int)strnlen(key->broker, sizeof(key->broker)), key->broker);
	return n < 0 ? 0 : ((size_t)n >= len ? (int)len - 1 : n);
}

uint64_t iso_key_hash(const struct iso_key *key)
{
	/* One contiguous "type\0id\0broker\0" so "a/bc" != "ab/c"; XXH3 in
	 * one shot is several times cheaper than a streaming XXH64 state. */
	char buf[sizeof(key->type) + sizeof(key->id) + sizeof(key->broker)];
	size_t t = strlen(key->type) + 1, i = strlen(key->id) + 1,
	       b = strlen(key->broker) + 1;
	memcpy(buf, key->type, t);
	memcpy(buf + t, key->id, i);
	memcpy(buf + t + i, key->broker, b);
	uint64_t h = XXH3_64bits_withSeed(buf, t + i + b, 0x69736f726567ull);
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
