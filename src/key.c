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

/*
 * The exact path: field by field, byte by byte, with a message naming the
 * first thing wrong. iso_key_norm takes it only when its own check fails,
 * so the messages are this function's alone.
 */
static int key_make_exact(const char *type, const char *id, const char *broker,
			  struct iso_key *out)
{
	struct iso_key k;
	int rc;
	memset(&k, 0, sizeof(k));
	if ((rc = take_field("account type", type, ISO_TYPE_MAX, k.type, false)) ||
	    (rc = take_field("account id", id, ISO_ID_MAX, k.id, false)) ||
	    (rc = take_field("broker", broker, ISO_BROKER_MAX, k.broker, true)))
		return rc;
	*out = k;
	return 0;
}

/*
 * What each byte becomes in a key field, folded to lower case (LOW) or
 * upper case (UP); 0 for a byte [K2] refuses (controls, space, '/',
 * DEL and everything above). Built by the compiler, read-only.
 */
#define KEY_OK(c) ((c) > 0x20 && (c) < 0x7f && (c) != '/')
#define LOW(c) (KEY_OK(c) ? ((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c)) : 0)
#define UP(c) (KEY_OK(c) ? ((c) >= 'a' && (c) <= 'z' ? (c) - 32 : (c)) : 0)
#define ROW4(F, c) F(c), F((c) + 1), F((c) + 2), F((c) + 3)
#define ROW16(F, c) ROW4(F, c), ROW4(F, (c) + 4), ROW4(F, (c) + 8), ROW4(F, (c) + 12)
#define ROW64(F, c) ROW16(F, c), ROW16(F, (c) + 16), ROW16(F, (c) + 32), ROW16(F, (c) + 48)
#define TABLE(F) { ROW64(F, 0), ROW64(F, 64), ROW64(F, 128), ROW64(F, 192) }
static const uint8_t fold_low[256] = TABLE(LOW);
static const uint8_t fold_up[256] = TABLE(UP);

/*
 * Byte @n (0..7) of a word, by its place in memory: where it goes when
 * bytes are gathered in a register and the word is stored whole.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BYTE_AT(b, n) ((uint64_t)(b) << (8 * (n)))
#else
#define BYTE_AT(b, n) ((uint64_t)(b) << (56 - 8 * (n)))
#endif

/*
 * The hash's input, "type\0id\0BROKER\0", gathered a byte at a time in
 * a register and stored a whole aligned word at a time: a load of a word
 * made of byte stores waits for all of them to reach the cache (a
 * store-forwarding stall, a fifth of a lookup when measured), a load of
 * a word stored whole is served from the store.
 */
struct cat_stream {
	uint64_t *w;   /* the next word to store */
	uint64_t acc;  /* bytes gathered for it */
	unsigned fill; /* how many */
};

static inline void cat_put(struct cat_stream *c, uint8_t b)
{
	c->acc |= BYTE_AT(b, c->fill);
	if (++c->fill == 8) {
		*c->w++ = c->acc;
		c->acc = 0;
		c->fill = 0;
	}
}

/*
 * One field into @dst (zeroed by the caller) and onto @cat: one table
 * load per byte and no message. Returns its length, or -1 if anything is
 * wrong with it (the exact path then says what).
 */
static inline int take_fast(const char *v, size_t max, char *dst,
			    struct cat_stream *cat, const uint8_t *fold)
{
	size_t i;
	uint8_t f;
	/* One test a byte: the table folds NUL to 0 as it does every byte
	 * it refuses; which of the two stopped us is looked at once. A field
	 * too long writes dst[max] (the NUL's place, inside the field)
	 * before it is refused. */
	for (i = 0; i <= max && (f = fold[(uint8_t)v[i]]); i++) {
		dst[i] = (char)f;
		cat_put(cat, f);
	}
	if (unlikely(i == 0 || i > max || v[i] != '\0'))
		return -1; /* empty, too long, or a refused byte */
	cat_put(cat, 0);
	return (int)i;
}

/*
 * The directory's hash of "type\0id\0BROKER\0" (@n bytes): one
 * contiguous string, so "a/bc" != "ab/c"; XXH3 in one shot is several
 * times cheaper than a streaming XXH64 state. It is part of the segment
 * format: every process that shares a segment must compute the same.
 */
static inline uint64_t hash_bytes(const char *buf, size_t n)
{
	uint64_t h = XXH3_64bits_withSeed(buf, n, 0x69736f726567ull);
	return h ? h : 1; /* 0 marks an empty directory entry */
}

/* hash_bytes of a zero-padded key whose field lengths are known. */
static inline uint64_t hash_fields(const struct iso_key *k, size_t t,
				   size_t i, size_t b)
{
	/* Fixed-width copies (no library call): each field's zero padding
	 * supplies its NUL, and the next copy overwrites the rest. */
	char buf[sizeof(k->type) + sizeof(k->id) + sizeof(k->broker)];
	memcpy(buf, k->type, sizeof(k->type));
	memcpy(buf + t + 1, k->id, sizeof(k->id));
	memcpy(buf + t + 1 + i + 1, k->broker, sizeof(k->broker));
	return hash_bytes(buf, t + i + b + 3);
}
_Static_assert(ISO_TYPE_MAX + 1 + sizeof(((struct iso_key *)0)->id) +
	       sizeof(((struct iso_key *)0)->broker) <= sizeof(struct iso_key),
	       "hash_fields' copies stay inside buf");

int iso_key_norm(const char *type, const char *id, const char *broker,
		 struct iso_nkey *out)
{
	/* Each field's bytes and its NUL, or (a field too long, refused at
	 * once) max + 1 bytes: never more than the three field sizes of
	 * struct iso_key, 96 bytes, 12 words. */
	uint64_t catw[sizeof(out->k) / 8];
	struct cat_stream cs = { catw, 0, 0 };
	int t, i, b;
	if (unlikely(!type || !id || !broker))
		goto exact;
	memset(&out->k, 0, sizeof(out->k));
	if (unlikely((t = take_fast(type, ISO_TYPE_MAX, out->k.type, &cs,
				    fold_low)) < 0 ||
		     (i = take_fast(id, ISO_ID_MAX, out->k.id, &cs,
				    fold_low)) < 0 ||
		     (b = take_fast(broker, ISO_BROKER_MAX, out->k.broker, &cs,
				    fold_up)) < 0))
		goto exact;
	if (cs.fill)
		*cs.w = cs.acc;
	size_t n = (size_t)(t + i + b + 3);
	out->len[0] = (uint8_t)t;
	out->len[1] = (uint8_t)i;
	out->len[2] = (uint8_t)b;
	out->hash = hash_bytes((const char *)catw, n);
	return 0;
exact:;
	/* Refused: the exact path names the field. (Were it ever to accept
	 * what the fast one refused, its answer stands.) */
	struct iso_key k;
	int rc = key_make_exact(type, id, broker, &k);
	if (rc)
		return rc;
	iso_key_norm_key(&k, out);
	return 0;
}

void iso_key_norm_key(const struct iso_key *key, struct iso_nkey *out)
{
	/* Capped at each field's maximum, so an unterminated field cannot
	 * run on (the callers' keys are terminated: this is a guard). */
	size_t t = strnlen(key->type, ISO_TYPE_MAX),
	       i = strnlen(key->id, ISO_ID_MAX),
	       b = strnlen(key->broker, ISO_BROKER_MAX);
	memset(&out->k, 0, sizeof(out->k));
	memcpy(out->k.type, key->type, t);
	memcpy(out->k.id, key->id, i);
	memcpy(out->k.broker, key->broker, b);
	out->len[0] = (uint8_t)t;
	out->len[1] = (uint8_t)i;
	out->len[2] = (uint8_t)b;
	out->hash = hash_fields(&out->k, t, i, b);
}

int iso_key_make(const char *type, const char *id, const char *broker,
		 struct iso_key *out)
{
	struct iso_nkey n;
	if (!out)
		return iso_fail(ISO_EINVAL, "iso_key_make: output is NULL");
	int rc = iso_key_norm(type, id, broker, &n);
	if (rc == 0)
		*out = n.k;
	return rc;
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
	return hash_fields(key, strlen(key->type), strlen(key->id),
			   strlen(key->broker));
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
