/*
 * test_protocol.c - the states a process killed or stalled mid-protocol
 * leaves, written into the mapping exactly, and what every other process
 * must make of them [R6] [S3]. Each test is one item of the kill-and-stall
 * review (issue 11); tests/killpoints/ reaches the same states by killing
 * real processes at every step, these pin each one down deterministically.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "breaker.h"
#include "directory.h"
#include "support/util.h"

/* A pid that is certainly dead: a child we made and reaped. */
static uint32_t dead_pid(void)
{
	pid_t p = fork();
	cr_assert_geq(p, 0);
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return (uint32_t)p;
}

/* Reserve the next never-used slot by hand, as a registrant that then
 * died would have: one CAS, nothing else written. */
static uint32_t reserve_by_hand(iso_reg_t *reg, uint32_t pid, uint64_t tag)
{
	/* relaxed, as registration takes a never-used slot (register.c). */
	uint32_t s = iso_faa32_relaxed(&reg->hdr->next_slot, 1);
	iso_pair_t *st = &reg->slots[s].state;
	st->hi = tag;
	st->lo = ISO_SW_MAKE(ISO_SW_GEN(st->lo) + 1, ISO_SLOT_RESERVED, pid);
	return s;
}

/* Item 1: a registrant killed right after its reservation CAS, before its
 * key: doctor judges the owner first, and REPAIR gives the slot back. */
Test(protocol, reservation_killed_before_its_key_is_reclaimed)
{
	iso_reg_t *reg = tu_fresh("p1", 4);
	uint32_t s = reserve_by_hand(reg, dead_pid(), iso_owner_tag());
	struct iso_doctor_report d;
	cr_assert_eq(iso_doctor(reg, 0, &d), 0);
	cr_expect_eq(d.reserved_dead, 1);
	cr_expect(d.ok, "a dead reservation is not damage (bad slots %u)", d.bad_slots);
	cr_assert_eq(iso_doctor(reg, ISO_DOCTOR_REPAIR, &d), 0);
	cr_expect_eq(d.reclaimed, 1);
	cr_assert_eq(iso_doctor(reg, 0, &d), 0);
	cr_expect(d.ok && d.reserved_dead == 0, "after repair: ok %d, %u dead",
		  d.ok, d.reserved_dead);
	cr_expect_eq(ISO_SW_STATE(reg->slots[s].state.lo), ISO_SLOT_FREE);
	iso_account_t a[4];
	for (int i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "a%d", i);
		cr_expect_eq(iso_register(reg, "user", id, "KRAKEN", &a[i]), 0,
			     "slot %d lost: %s", i, iso_last_error());
	}
	tu_gone(reg);
}

/* Item 2: a reservation names its owner in the CAS that makes it, so a
 * doctor running while the owner is alive (here: stopped) leaves it. */
Test(protocol, doctor_leaves_a_live_owners_reservation)
{
	iso_reg_t *reg = tu_fresh("p2", 4);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t p = fork();
	cr_assert_geq(p, 0);
	if (p == 0) {
		uint64_t tag = iso_owner_tag();
		if (write(fds[1], &tag, sizeof(tag)) != sizeof(tag))
			_exit(1);
		raise(SIGSTOP);
		_exit(0);
	}
	uint64_t tag;
	cr_assert_eq(read(fds[0], &tag, sizeof(tag)), (ssize_t)sizeof(tag));
	waitpid(p, NULL, WUNTRACED);
	reserve_by_hand(reg, (uint32_t)p, tag);
	struct iso_doctor_report d;
	cr_assert_eq(iso_doctor(reg, ISO_DOCTOR_REPAIR, &d), 0);
	cr_expect_eq(d.reserved_pending, 1, "a stopped owner is alive");
	cr_expect_eq(d.reclaimed, 0, "doctor freed a live process's reservation");
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	cr_assert_eq(iso_doctor(reg, ISO_DOCTOR_REPAIR, &d), 0);
	cr_expect_eq(d.reclaimed, 1, "once dead, it is reclaimed");
	tu_gone(reg);
}

/* Item 3: a retire ends the account with its slot CAS; its entry is
 * removed after. Killed in between, the key has no live slot, and
 * registering it again gives one account, not two. */
Test(protocol, retire_killed_before_its_entry_leaves_one_account)
{
	iso_reg_t *reg = tu_fresh("p3", 4);
	iso_account_t a, b;
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &a), 0);
	iso_pair_t *st = &reg->slots[a.slot].state;
	st->hi = 1;
	st->lo = ISO_SW_MAKE(a.gen, ISO_SLOT_RETIRED, 0);
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &b), 0);
	cr_expect(b.slot != a.slot || b.gen != a.gen, "the retired account came back");
	unsigned live = 0;
	for (uint32_t i = 0; i < 4; i++)
		live += ISO_SW_STATE(reg->slots[i].state.lo) == ISO_SLOT_LIVE;
	cr_expect_eq(live, 1, "one key, %u live slots", live);
	/* The dead entry was given back by the registration that passed it. */
	struct iso_doctor_report d;
	cr_assert_eq(iso_doctor(reg, 0, &d), 0);
	cr_expect(d.ok && d.dir_dead == 0, "ok %d, %u dead entries", d.ok, d.dir_dead);
	tu_gone(reg);
}

/* Item 4: an entry names its slot generation, so removing the entry of a
 * retired account never removes the entry of the account that reused its
 * slot for the same key. */
Test(protocol, a_late_retire_cannot_unlink_the_next_account)
{
	iso_reg_t *reg = tu_fresh("p4", 1);
	iso_account_t a, b;
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &a), 0);
	uint64_t hash = reg->slots[a.slot].hash;
	cr_assert_eq(iso_retire(&a), 0);
	usleep(5000);
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &b), 0);
	cr_assert_eq(b.slot, a.slot, "one slot: reused");
	/* What a retirer of @a stalled before its entry step does now. */
	cr_expect_eq(iso_dir_remove(reg, hash, a.slot, a.gen), ISO_ENOENT);
	uint32_t s, g;
	struct iso_key k;
	cr_assert_eq(iso_key_make("user", "k", "KRAKEN", &k), 0);
	cr_expect_eq(iso_dir_find(reg, &k, hash, &s, &g), 0, "the next account is unreachable");
	cr_expect_eq(g, b.gen);
	cr_expect_eq(iso_retire(&a), ISO_ESTALE);
	tu_gone(reg);
}

/* Item 5: retry-after and operation times at the top of their range. */
Test(protocol, huge_retry_after_and_op_times_neither_wrap_nor_overflow)
{
	iso_reg_t *reg = tu_fresh("p5", 2);
	iso_account_t a;
	iso_permit_t p;
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 1;
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &a), 0);
	cr_assert_eq(iso_configure(&a, &c), 0);
	cr_assert_eq(iso_record_failure_retry(&a, NULL, ISO_FAIL_RATE_LIMIT, UINT64_MAX,
					      1ull << 48), 0);
	cr_expect_eq(iso_acquire(&a, &p), ISO_EOPEN, "a wrapped retry-after opened at once");
	cr_expect_geq(p.retry_in_ms, (uint64_t)ISO_TIMEOUT_MAX_MS - 1000);
	cr_expect_leq(p.retry_in_ms, (uint64_t)ISO_TIMEOUT_MAX_MS);
	struct iso_status st;
	cr_assert_eq(iso_record_success(&a, NULL, UINT64_MAX), 0);
	cr_assert_eq(iso_status(&a, &st), 0);
	cr_expect_gt(st.ema_op_ms, 0.0);
	tu_gone(reg);
}

/* Item 6: the breaker word carries the whole slot generation. A handle
 * that passed its slot check and then saw its slot reused 65,536 times
 * (the breaker word is gen + 65,536) moves nothing and is counted. */
Test(protocol, breaker_generation_is_the_whole_slot_generation)
{
	iso_reg_t *reg = tu_fresh("p6", 2);
	iso_account_t a;
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &a), 0);
	struct iso_slot *s = &reg->slots[a.slot];
	struct iso_bw b = iso_bw_unpack(s->breaker);
	b.gen = a.gen + 65536;
	s->breaker = iso_bw_pack(&b);
	cr_expect_eq(iso_force_open(&a), ISO_ESTALE);
	b = iso_bw_unpack(s->breaker);
	cr_expect_eq(b.state, ISO_BREAKER_CLOSED, "a stale handle halted the account");
	struct iso_report r;
	cr_assert_eq(iso_report(reg, &r), 0);
	cr_expect_geq(r.cross_account_errors, 1, "the refusal is counted");
	tu_gone(reg);
}

/* Item 8: a registrant killed after its entry went live and before its
 * LIVE CAS: the account exists, and read-only viewers see it too. */
Test(protocol, registrant_killed_after_its_entry_is_visible_read_only)
{
	iso_reg_t *reg = tu_fresh("p8", 2), *ro = NULL;
	iso_account_t a, r;
	cr_assert_eq(iso_register(reg, "user", "k", "KRAKEN", &a), 0);
	iso_pair_t *st = &reg->slots[a.slot].state;
	st->hi = iso_owner_tag();
	st->lo = ISO_SW_MAKE(a.gen, ISO_SLOT_RESERVED, dead_pid());
	struct iso_attach_opts o = { .flags = ISO_ATTACH_RDONLY };
	cr_assert_eq(iso_attach(reg->name, &o, &ro), 0);
	cr_assert_eq(iso_lookup(ro, "user", "k", "KRAKEN", &r), 0);
	struct iso_status s;
	cr_expect_eq(iso_status(&r, &s), 0, "%s", iso_last_error());
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(ro, &info), 0);
	cr_expect_eq(info.live, 2 - 1, "live count %u", info.live);
	iso_detach(ro);
	tu_gone(reg);
}

/* Item 11: a reservation made in another pid namespace is not judged by
 * our pids (pid 1 exists here, but it is not the owner). */
Test(protocol, reservations_from_another_pid_namespace_are_left_alone)
{
	iso_reg_t *reg = tu_fresh("p11", 2);
	uint64_t tag = iso_owner_tag() ^ (0x5a5aull << 32); /* another ns */
	reserve_by_hand(reg, 1, tag);
	struct iso_doctor_report d;
	cr_assert_eq(iso_doctor(reg, ISO_DOCTOR_REPAIR, &d), 0);
	cr_expect_eq(d.reserved_foreign, 1);
	cr_expect_eq(d.reclaimed, 0, "freed another namespace's reservation");
	tu_gone(reg);
}

/* Item 12: the live count is the number of live slots, whatever a killed
 * registrant or retirer left half-done. */
Test(protocol, live_count_is_derived_from_the_slots)
{
	iso_reg_t *reg = tu_fresh("p12", 4);
	iso_account_t a, b;
	cr_assert_eq(iso_register(reg, "user", "a", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(reg, "user", "b", "KRAKEN", &b), 0);
	iso_pair_t *st = &reg->slots[a.slot].state;
	st->hi = 1;
	st->lo = ISO_SW_MAKE(a.gen, ISO_SLOT_RETIRED, 0); /* retirer killed */
	reserve_by_hand(reg, dead_pid(), iso_owner_tag()); /* registrant killed */
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(reg, &info), 0);
	cr_expect_eq(info.live, 1);
	tu_gone(reg);
}
