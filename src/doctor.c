/*
 * doctor.c - verify a segment and reclaim what dead processes left.
 *
 * A registrant killed between reserving a slot and publishing it leaves a
 * RESERVED slot. If its directory entry exists the slot is complete and is
 * published; otherwise nobody can reach it and it is freed. A reservation
 * is judged dead by its pid *and* that process's start time (pid reuse).
 * Everything else is only checked and counted; isolation violations found
 * (slots failing their integrity check) count in cross_account_errors.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "internal.h"

static bool owner_alive(uint32_t pid, uint64_t start)
{
	if (pid == 0)
		return false;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return false;
	uint64_t now_start = iso_proc_start_time(pid);
	/* start is 0 if the registrant died before writing it: then the pid
	 * alone decides. A different start time means a reused pid. */
	return !(start && now_start && now_start != start);
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
		uint64_t sw = iso_load_acquire(&s->state);
		uint32_t st = ISO_SW_STATE(sw);
		r->slots_checked++;
		if (st > ISO_SLOT_RETIRED) {
			r->bad_slots++;
			continue;
		}
		if (st == ISO_SLOT_FREE)
			continue;
		if (i >= used) {
			r->bad_slots++; /* in use beyond the high-water mark */
			continue;
		}
		if (st == ISO_SLOT_RETIRED) {
			r->retired++;
			continue;
		}
		uint64_t hash = iso_load_relaxed(&s->hash);
		struct iso_key k;
		iso_slot_read_key(s, &k);
		if (!iso_key_valid_stored(k.type, k.id, k.broker)) {
			r->bad_slots++;
			continue;
		}
		if (st == ISO_SLOT_RESERVED) {
			uint64_t start = iso_load_relaxed(&s->owner_start);
			if (owner_alive(ISO_SW_PID(sw), start)) {
				r->reserved_pending++;
				continue;
			}
			r->reserved_dead++;
			if (!repair)
				continue;
			bool reachable = iso_dir_points_to(reg, hash, i);
			if (!reachable)
				iso_dir_clear_pending(reg, i);
			uint64_t want = sw;
			if (iso_cas(&s->state, &want,
				    ISO_SW_MAKE(ISO_SW_GEN(sw),
						reachable ? ISO_SLOT_LIVE
							  : ISO_SLOT_FREE, 0))) {
				if (reachable) {
					r->published++;
					iso_faa32(&reg->hdr->live, 1);
				} else {
					r->reclaimed++;
				}
			}
			continue;
		}
		/* LIVE */
		r->live++;
		struct iso_bw b = iso_bw_unpack(iso_load_pair(&s->breaker));
		if (!iso_bw_valid(&b) || b.gen != (uint16_t)ISO_SW_GEN(sw)) {
			r->bad_breaker_words++;
			iso_count_violation(reg);
		}
		if (iso_dir_points_to(reg, hash, i))
			continue;
		/* Unreachable by key: its retire removed the entry and died
		 * (or is running now). Finishing it is what the retirer
		 * wanted; handles to it go stale either way. */
		r->dir_missing++;
		if (repair) {
			iso_store_relaxed(&s->stamp_ms, iso_stamp_ms());
			uint64_t want = sw;
			if (iso_cas(&s->state, &want,
				    ISO_SW_MAKE(ISO_SW_GEN(sw), ISO_SLOT_RETIRED, 0))) {
				r->retires_finished++;
				iso_dec32(&reg->hdr->live);
			}
		}
	}

	for (uint32_t i = 0; i < reg->dir_capacity; i++) {
		iso_dirent_t *e = &reg->dir[i];
		uint64_t h = iso_load_acquire(&e->lo);
		if (!h)
			continue;
		uint64_t hi = iso_load_acquire(&e->hi);
		if (!hi) {
			r->dir_tombstones++;
			continue;
		}
		r->dir_entries++;
		if (iso_dir_entry_pending(hi))
			hi &= 0xffffffffull; /* a registration in progress */
		if (hi == 0 || hi > reg->capacity) {
			r->dir_bad++;
			continue;
		}
		struct iso_slot *s = &reg->slots[hi - 1];
		uint64_t sw = iso_load_acquire(&s->state);
		uint32_t st = ISO_SW_STATE(sw);
		/* A retired or reused slot behind a live entry is a retire in
		 * progress or a bug; a hash mismatch is a bug. */
		if ((st == ISO_SLOT_LIVE || st == ISO_SLOT_RESERVED) &&
		    iso_load_relaxed(&s->hash) != h) {
			r->dir_bad++;
			continue;
		}
		/* Two live entries for one key: a lookup of the key would find
		 * the first, so the other one is a duplicate [S3]. */
		struct iso_key k;
		uint32_t found, gen;
		iso_slot_read_key(s, &k);
		if (st == ISO_SLOT_LIVE && !iso_dir_entry_pending(e->hi) &&
		    iso_dir_find(reg, &k, h, &found, &gen) == 0 &&
		    found != hi - 1)
			r->dir_bad++;
	}
	r->cross_account_errors = iso_load_relaxed(&reg->hdr->cross_account_errors);
	/* Dead reservations and interrupted retires are what REPAIR fixes. */
	r->ok = r->bad_slots == 0 && r->bad_breaker_words == 0 &&
		r->dir_bad == 0;
	return 0;
}
