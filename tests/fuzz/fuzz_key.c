/*
 * fuzz_key.c - key parsing and making, config text and failure-type names
 * on arbitrary strings [K1][K2][B1].
 *
 * Input: one selector byte, then up to three strings separated by NUL
 * bytes, each copied into a buffer of its exact size so that ASan sees any
 * read past its end. Beyond "no crash", each call's contract is checked:
 * an accepted key is normalised and within its limits and survives
 * format -> parse unchanged; a refused call leaves its output alone and
 * says why.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoreg.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_key: %s\n", what);
		abort();
	}
}

static void check_field(const char *f, size_t max, bool lower, bool upper)
{
	size_t n = strnlen(f, max + 1);

	check(n >= 1 && n <= max, "accepted field length out of range");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)f[i];

		check(c > 0x20 && c < 0x7f && c != '/', "accepted a forbidden byte");
		check(!(lower && isupper(c)), "type or id not lower-case");
		check(!(upper && islower(c)), "broker not upper-case");
	}
}

static void check_key(const struct iso_key *k)
{
	char buf[ISO_KEY_STR_MAX + 1];
	struct iso_key again;

	check_field(k->type, ISO_TYPE_MAX, true, false);
	check_field(k->id, ISO_ID_MAX, true, false);
	check_field(k->broker, ISO_BROKER_MAX, false, true);
	int n = iso_key_format(k, buf, sizeof(buf));
	check(n > 0 && (size_t)n == strlen(buf), "format length");
	check(iso_key_parse(buf, &again) == 0, "formatted key does not parse");
	check(strcmp(again.type, k->type) == 0 && strcmp(again.id, k->id) == 0 &&
		      strcmp(again.broker, k->broker) == 0,
	      "format/parse round trip changed the key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s[3] = { NULL, NULL, NULL };
	size_t off = 1;

	if (size < 1)
		return 0;
	for (int i = 0; i < 3; i++) {
		const uint8_t *end = off < size ? memchr(data + off, 0, size - off) : NULL;
		size_t n = off < size ? (end ? (size_t)(end - (data + off)) : size - off) : 0;

		s[i] = malloc(n + 1);
		if (n)
			memcpy(s[i], data + off, n);
		s[i][n] = '\0';
		off += n + 1;
	}

	struct iso_key key, before;
	memset(&key, 0x5a, sizeof(key));
	before = key;
	switch (data[0] % 4) {
	case 0:
		if (iso_key_parse(s[0], &key) == 0)
			check_key(&key);
		else
			check(iso_last_error()[0] && memcmp(&key, &before, sizeof(key)) == 0,
			      "parse: refused without a message, or wrote its output");
		break;
	case 1:
		if (iso_key_make(s[0], s[1], s[2], &key) == 0)
			check_key(&key);
		else
			check(iso_last_error()[0] && memcmp(&key, &before, sizeof(key)) == 0,
			      "make: refused without a message, or wrote its output");
		break;
	case 2: {
		struct iso_config cfg, cfg0;

		iso_config_default(&cfg);
		cfg0 = cfg;
		if (iso_config_set(&cfg, s[0], s[1]) != 0)
			check(iso_last_error()[0] && memcmp(&cfg, &cfg0, sizeof(cfg)) == 0,
			      "config_set: refused without a message, or changed cfg");
		break;
	}
	case 3: {
		int t = iso_failure_type_parse(s[0]);

		if (t >= 0) {
			check(t < ISO_FAIL__COUNT, "failure type out of range");
			check(iso_failure_type_parse(iso_failure_type_name(t)) == t,
			      "failure type name does not parse back");
		} else {
			check(t == ISO_EINVAL && iso_last_error()[0], "bad type name refusal");
		}
		break;
	}
	}
	for (int i = 0; i < 3; i++)
		free(s[i]);
	return 0;
}
