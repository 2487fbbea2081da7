/*
 * doctor.c - verify a segment and reclaim what dead processes left.
 *
 * What a process killed at any step can leave (RELIABILITY.md has the
 * table), and what REPAIR does with it:
 *  - a RESERVED slot whose owner is dead: if a live directory entry names
 *    it, the account exists and the slot is published; otherwise its
 *    pending entries are tombstoned and the slot is given back. The owner
 *    is judged before anything in the slot is read: a registrant killed
 *    before writing its key left nothing else to judge by.
 *  - a dead directory entry (it names a slot generation that is no longer
 *    LIVE or RESERVED: a retirer killed after its CAS): tombstoned.
 * Owners are judged by pid, start time and pid namespace (process.c); a
 * reservation made in another pid namespace is left for a doctor there.
 * Every repair is one CAS from an exactly known value, so a doctor killed
 * mid-way leaves work the next one finishes, and two doctors never undo
 * each other. Slots and entries failing their integrity check are counted
 * (and as isolation violations); REPAIR does not guess at those.
 */
#include <string.h>

#include "failpoint.h"
#include "slot.h"

/* A RESERVED slot: judge its owner, and settle it if the owner is dead. */
static void doctor_reserved(iso_reg_t *reg, uint32_t i, iso_pair_t sw,
			    bool repair, struct iso_doctor_report *r)
{
	struct iso_slot *s = &reg->slots[i];
	uint32_t gen = ISO_SW_GEN(sw.lo);
	switch (iso_owner_judge(ISO_SW_PID(sw.lo), sw.hi)) {
	case ISO_OWNER_ALIVE:
		r->reserved_pending++;
		return;
	case ISO_OWNER_FOREIGN:
		r->reserved_foreign++;
		return;
	case ISO_OWNER_DEAD:
		break;
	}
	r->reserved_dead++;
	if (!repair)
		return;
	ISO_FP("doctor.settle");
	int live = iso_dir_settle_slot(reg, i, gen);
	iso_pair_t want = sw;
	ISO_FP("doctor.slot");
	if (live) {
		if (iso_cas128_acq_rel(&s->state, &want, (iso_pair_t){
					ISO_SW_MAKE(gen, ISO_SLOT_LIVE, 0), 0 })) {
			r->published++;
			ISO_FP("doctor.generation");
			iso_faa64_relaxed(&reg->hdr->generation, 1); /* a hint */
		}
	} else if (iso_cas128_acq_rel(&s->state, &want, (iso_pair_t){
					ISO_SW_MAKE(gen, ISO_SLOT_FREE, 0), 0 })) {
		r->reclaimed++;
	}
}

/* A LIVE slot: its breaker word and its entry. */
static void doctor_live(iso_reg_t *reg, uint32_t i, uint64_t lo, bool repair,
			struct iso_doctor_report *r)
{
	struct iso_slot *s = &reg->slots[i];
	uint32_t gen = ISO_SW_GEN(lo);
	struct iso_key k;
	iso_slot_read_key(s, &k);
	if (!iso_key_valid_stored(k.type, k.id, k.broker)) {
		r->bad_slots++;
		iso_count_violation(reg);
		return;
	}
	r->live++;
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	if (!iso_bw_valid(&b) || b.gen != gen) {
		r->bad_breaker_words++;
		iso_count_violation(reg);
	}
	uint64_t hash = iso_load64_relaxed(&s->hash);
	if (iso_dir_entry_of(reg, hash, i, gen) == 1 ||
	    iso_slot_lo(s) != lo)
		return;
	/* LIVE with no entry: no protocol step leaves this (an entry is
	 * published before LIVE and removed after RETIRED). Damage: REPAIR
	 * retires it, so the key can be registered cleanly again. */
	r->dir_missing++;
	if (repair) {
		iso_pair_t want = { lo, 0 };
		if (iso_cas128_acq_rel(&s->state, &want, (iso_pair_t){
				ISO_SW_MAKE(gen, ISO_SLOT_RETIRED, 0), iso_stamp_ms() }))
			r->retires_finished++;
	}
}

/* The directory: dead entries, bad entries, duplicates. */
static void doctor_directory(iso_reg_t *reg, bool repair,
			     struct iso_doctor_report *r)
{
	for (uint32_t i = 0; i < reg->dir_capacity; i++) {
		iso_dirent_t *e = &reg->dir[i];
		iso_pair_t v;
		/* acquire, both: pair with the CAS that wrote the entry. */
		v.lo = iso_load64_acquire(&e->lo);
		v.hi = iso_load64_acquire(&e->hi);
		if (!v.lo)
			continue;
		if (!v.hi) {
			r->dir_tombstones++;
			continue;
		}
		uint32_t s1 = ISO_DE_SLOT1(v.hi);
		if (s1 == 0 || s1 > reg->capacity) {
			r->dir_bad++;
			continue;
		}
		if (iso_dir_entry_dead(reg, v.hi)) {
			r->dir_dead++;
			ISO_FP("doctor.dead_entry");
			if (repair && iso_dir_tombstone(reg, i, v))
				r->dir_cleared++;
			continue;
		}
		r->dir_entries++;
		if (v.hi & ISO_DE_PENDING)
			continue; /* a registration in progress */
		struct iso_slot *s = &reg->slots[s1 - 1];
		uint64_t lo = iso_slot_lo(s);
		if (ISO_SW_STATE(lo) == ISO_SLOT_LIVE &&
		    iso_load64_relaxed(&s->hash) != v.lo) {
			r->dir_bad++;
			continue;
		}
		/* Two live entries for one key: a lookup would find the first,
		 * so the other one is a duplicate [S3]. */
		struct iso_key k;
		uint32_t found, gen;
		iso_slot_read_key(s, &k);
		if (ISO_SW_STATE(lo) == ISO_SLOT_LIVE &&
		    iso_key_valid_stored(k.type, k.id, k.broker) &&
		    iso_dir_find(reg, &k, v.lo, &found, &gen) == 0 &&
		    (found != s1 - 1 || gen != ISO_DE_GEN(v.hi)) &&
		    iso_slot_lo(s) == lo)
			r->dir_bad++;
	}
}

int iso_doctor(iso_reg_t *reg, unsigned flags, struct iso_doctor_report *r)
{
	if (!iso_reg_ok(reg) || !r)
		return iso_fail(ISO_EINVAL, "iso_doctor: NULL argument");
	if (flags & ~ISO_DOCTOR_REPAIR)
		return iso_fail(ISO_EINVAL, "iso_doctor: unknown flags 0x%x",
				flags);
	bool repair = flags & ISO_DOCTOR_REPAIR;
	if (repair && reg->rdonly)
		return iso_fail(ISO_ERDONLY, "iso_doctor: repair needs a "
				"read-write attachment");
	memset(r, 0, sizeof(*r));

	uint32_t used = iso_load32_relaxed(&reg->hdr->next_slot);
	if (used > reg->capacity)
		used = reg->capacity;
	for (uint32_t i = 0; i < reg->capacity; i++) {
		struct iso_slot *s = &reg->slots[i];
		iso_pair_t sw = iso_slot_pair(reg, s);
		uint32_t st = ISO_SW_STATE(sw.lo);
		r->slots_checked++;
		if (st != ISO_SLOT_FREE && i >= used) {
			/* reserved after we read the mark? read it again */
			used = iso_load32_relaxed(&reg->hdr->next_slot);
			if (used > reg->capacity)
				used = reg->capacity;
		}
		if (st > ISO_SLOT_RETIRED || (st != ISO_SLOT_FREE && i >= used)) {
			/* no state we write, or in use past the high-water mark */
			r->bad_slots++;
			iso_count_violation(reg);
			continue;
		}
		if (st == ISO_SLOT_FREE)
			continue;
		if (st == ISO_SLOT_RETIRED)
			r->retired++;
		else if (st == ISO_SLOT_RESERVED)
			doctor_reserved(reg, i, sw, repair, r);
		else
			doctor_live(reg, i, sw.lo, repair, r);
	}
	doctor_directory(reg, repair, r);
	/* The broker-halt count must be at least the entries (broker.c). No
	 * protocol step leaves it lower; REPAIR raises it if damage did. It
	 * is never lowered here: a halter between its count and its entry
	 * would be undone. One left too high costs only table look-ups. */
	uint32_t count = iso_load32_relaxed(&reg->hdr->broker_halts);
	uint32_t halts = iso_broker_recount(reg);
	if (repair && count < halts) {
		ISO_FP("doctor.broker_count");
		iso_faa32_relaxed(&reg->hdr->broker_halts, halts - count);
	}
	r->cross_account_errors = iso_load64_relaxed(&reg->hdr->cross_account_errors);
	/* Dead reservations and dead entries are what REPAIR fixes; the rest
	 * is damage no protocol step leaves. */
	r->ok = r->bad_slots == 0 && r->bad_breaker_words == 0 &&
		r->dir_bad == 0 && r->dir_missing == 0;
	return 0;
}
