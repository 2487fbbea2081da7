/*
 * retire.c - ending an account: one CAS on its slot's publication pair,
 * then its directory entry given back, so a process killed between the
 * two leaves a key with no live slot, never two (RELIABILITY.md).
 *
 * Must never: remove a directory entry that names another generation, or
 * touch the slot after a failed CAS.
 */
#include "directory.h"
#include "failpoint.h"
#include "handle.h"

int iso_retire(const iso_account_t *acct)
{
	return iso_retire_text(acct, NULL);
}

int iso_retire_text(const iso_account_t *acct, const char *text)
{
	int rc;
	struct iso_slot *s;
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	iso_reg_t *reg = acct->reg;
	uint64_t hash = iso_load64_relaxed(&s->hash);
	struct iso_key k;
	struct iso_nkey nk;
	iso_slot_read_key(s, &k);
	/*
	 * The account ends with this CAS: from here no lookup finds it (its
	 * entry names a generation that is not LIVE), and a registration of
	 * the key makes a new one. The stamp comes in the same CAS, so no
	 * reuser ever sees RETIRED with another retire's time.
	 */
	iso_pair_t want = { ISO_SW_MAKE(acct->gen, ISO_SLOT_LIVE, 0), 0 };
	iso_pair_t done = { ISO_SW_MAKE(acct->gen, ISO_SLOT_RETIRED, 0),
			    iso_stamp_ms() };
	ISO_FP("retire.cas");
	/* acq_rel: releases this account's last writes to the reuser. */
	if (!iso_cas128_acq_rel(&s->state, &want, done)) {
		iso_count_violation(reg);
		return iso_fail(ISO_ESTALE, "account (slot %u gen %u) was "
				"retired or reused concurrently (slot now gen "
				"%u, state %u)", acct->slot, acct->gen,
				ISO_SW_GEN(want.lo), ISO_SW_STATE(want.lo));
	}
	/* Then give its entry back. Killed here, the entry is dead already
	 * and the slot's next reserver (or doctor) removes it. */
	ISO_FP("retire.entry");
	iso_dir_remove(reg, hash, acct->slot, acct->gen);
	ISO_FP("retire.generation");
	iso_faa64_relaxed(&reg->hdr->generation, 1); /* a hint for viewers */
	iso_key_norm_key(&k, &nk);
	nk.hash = hash; /* the one the index was given */
	iso_index_drop(reg, &nk);
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	iso_event_append_text(reg, acct->slot, acct->gen, iso_bw_health(&b),
			      iso_bw_health(&b), (enum iso_breaker_state)b.state,
			      ISO_CAUSE_RETIRE, -1, text);
	return 0;
}
