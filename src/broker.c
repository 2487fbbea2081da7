/*
 * broker.c - broker-wide halts [R8]: a small table of broker names in the
 * header. While a broker is in it, every acquire of its accounts is
 * refused, whatever their own breakers say (they are kept, and count on);
 * an account registered during the halt is refused too, because the check
 * is made at acquire time, not copied into accounts. So a halt has no race
 * with registration, and a process killed at any step of a halt or release
 * leaves either the halt in force or not, plus at worst a count one too
 * high (a harmless extra table look-up until doctor REPAIR recounts).
 */
#include <string.h>

#include "failpoint.h"
#include "slot.h"

/* Validate and normalise a broker name into 16 zero-padded bytes. */
static int broker_name(const char *broker, iso_pair_t *out, char *norm)
{
	struct iso_key k;
	int rc = iso_key_make("x", "x", broker, &k);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	memcpy(out, k.broker, sizeof(k.broker));
	memcpy(norm, k.broker, sizeof(k.broker));
	return 0;
}

/* Entry @i as two acquire loads: entries only go from empty to a name and
 * back, so a torn read is a half name, which matches nothing. */
static iso_pair_t entry(iso_reg_t *reg, int i)
{
	iso_pair_t v;
	/* acquire: pairs with the CAS that wrote it. */
	v.lo = iso_load64_acquire(&reg->hdr->halted_brokers[i].lo);
	v.hi = iso_load64_acquire(&reg->hdr->halted_brokers[i].hi);
	return v;
}

/*
 * Is @name in the table? The scan stops after as many names as the count
 * said, which is never below the entries (the count goes up before an
 * entry is added, down after one is removed). A name added during the
 * scan can use up that budget before an older one is reached: then the
 * count has moved too (its raise happens-before the entry we acquired),
 * and a second, whole scan decides.
 */
static bool table_has(iso_reg_t *reg, iso_pair_t name)
{
	uint32_t count = iso_load32_relaxed(&reg->hdr->broker_halts), left = count;
	for (int i = 0; i < ISO_BROKER_HALTS_MAX && left; i++) {
		iso_pair_t v = entry(reg, i);
		if (!v.lo && !v.hi)
			continue;
		if (v.lo == name.lo && v.hi == name.hi)
			return true;
		left--;
	}
	if (iso_load32_relaxed(&reg->hdr->broker_halts) == count)
		return false;
	for (int i = 0; i < ISO_BROKER_HALTS_MAX; i++) {
		iso_pair_t v = entry(reg, i);
		if (v.lo == name.lo && v.hi == name.hi)
			return true;
	}
	return false;
}

bool iso_broker_halted_slot(iso_reg_t *reg, const struct iso_slot *s)
{
	/* The broker's 16 bytes of the key words (slot.h). */
	const uint64_t *w = (const uint64_t *)(const void *)s->broker;
	iso_pair_t name = { iso_load64_relaxed(&w[0]), iso_load64_relaxed(&w[1]) };
	return table_has(reg, name);
}

int iso_halt_broker(iso_reg_t *reg, const char *broker, const struct iso_op *op)
{
	iso_pair_t name;
	char norm[ISO_BROKER_MAX + 1];
	int rc;
	if (!iso_reg_ok(reg))
		return iso_fail(ISO_EINVAL, "iso_halt_broker: not an attachment");
	if ((rc = broker_name(broker, &name, norm)) || (rc = iso_op_check(op)))
		return rc;
	if (reg->rdonly)
		return iso_fail(ISO_ERDONLY, "halting broker %s: segment %s is "
				"attached read-only", norm, reg->name);
	if (table_has(reg, name))
		return iso_fail(ISO_EEXIST, "broker %s is already halted", norm);
	/* Count first: an entry without its count would be missed by the
	 * hot path; a count without its entry only costs a look-up. */
	ISO_FP("broker.count");
	iso_faa32_relaxed(&reg->hdr->broker_halts, 1);
	for (int i = 0; i < ISO_BROKER_HALTS_MAX; i++) {
		iso_pair_t want = { 0, 0 };
		ISO_FP("broker.add");
		/* acq_rel: the name is whole for whoever acquires the entry. */
		if (iso_cas128_acq_rel(&reg->hdr->halted_brokers[i], &want, name)) {
			ISO_FP("broker.event");
			iso_event_append_text(reg, ISO_NO_SLOT, 0, ISO_HEALTHY,
					      ISO_QUARANTINED, ISO_BREAKER_FORCED_OPEN,
					      ISO_CAUSE_BROKER_HALT, -1, norm);
			return 0;
		}
	}
	iso_sub32_relaxed(&reg->hdr->broker_halts, 1);
	return iso_fail(ISO_EFULL, "cannot halt broker %s: %d brokers are "
			"halted already", norm, ISO_BROKER_HALTS_MAX);
}

int iso_release_broker(iso_reg_t *reg, const char *broker,
		       const struct iso_op *op)
{
	iso_pair_t name;
	char norm[ISO_BROKER_MAX + 1];
	int rc, removed = 0;
	if (!iso_reg_ok(reg))
		return iso_fail(ISO_EINVAL, "iso_release_broker: not an attachment");
	if ((rc = broker_name(broker, &name, norm)) || (rc = iso_op_check(op)))
		return rc;
	if (reg->rdonly)
		return iso_fail(ISO_ERDONLY, "releasing broker %s: segment %s is "
				"attached read-only", norm, reg->name);
	for (int i = 0; i < ISO_BROKER_HALTS_MAX; i++) {
		iso_pair_t want = name;
		ISO_FP("broker.remove");
		if (iso_cas128_acq_rel(&reg->hdr->halted_brokers[i], &want,
				       (iso_pair_t){ 0, 0 })) {
			ISO_FP("broker.uncount");
			iso_sub32_relaxed(&reg->hdr->broker_halts, 1);
			removed++;
		}
	}
	if (!removed)
		return iso_fail(ISO_ENOENT, "broker %s is not halted", norm);
	ISO_FP("broker.event");
	iso_event_append_text(reg, ISO_NO_SLOT, 0, ISO_QUARANTINED, ISO_HEALTHY,
			      ISO_BREAKER_CLOSED, ISO_CAUSE_BROKER_RELEASE, -1, norm);
	return 0;
}

int iso_halted_brokers(iso_reg_t *reg, char (*out)[ISO_BROKER_MAX + 1], int max)
{
	int n = 0;
	if (!iso_reg_ok(reg) || (max > 0 && !out) || max < 0)
		return iso_fail(ISO_EINVAL, "iso_halted_brokers: bad argument");
	for (int i = 0; i < ISO_BROKER_HALTS_MAX; i++) {
		iso_pair_t v = entry(reg, i);
		char name[sizeof(v) + 1];
		if (!v.lo && !v.hi)
			continue;
		memcpy(name, &v, sizeof(v));
		name[sizeof(v)] = '\0';
		struct iso_key k;
		if (iso_key_make("x", "x", name, &k))
			continue; /* not a name we wrote: doctor's business */
		if (n < max)
			memcpy(out[n], k.broker, sizeof(k.broker));
		n++;
	}
	return n;
}

uint32_t iso_broker_recount(iso_reg_t *reg)
{
	uint32_t n = 0;
	for (int i = 0; i < ISO_BROKER_HALTS_MAX; i++) {
		iso_pair_t v = entry(reg, i);
		n += v.lo || v.hi;
	}
	return n;
}
