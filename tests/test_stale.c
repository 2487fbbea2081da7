/*
 * test_stale.c - a handle that outlived its account is refused and never
 * writes into whatever account took its slot next [S2][§5 handles].
 *
 * Each test makes the slot be reused for real (capacity small, retire
 * cooldown tiny), then writes through the old handle from another process
 * and compares the whole segment, byte for byte, before and after: the
 * only bytes allowed to move are the header's cross_account_errors
 * counter, and it must move by exactly the number of refusals.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/chaos_util.h"
#include "atomic.h"
#include "isoreg.h"
#include "layout.h"

#define XERR_OFF offsetof(struct iso_shm_header, cross_account_errors)

struct tally {
	uint32_t stale;    /* calls refused with ISO_ESTALE */
	uint32_t other;    /* calls that returned anything else */
	int32_t other_rc;
	int32_t other_line;
	uint32_t no_msg;   /* refusals without an iso_last_error() message */
};

#define TRY(t, call)                                                          \
	do {                                                                   \
		int rc_ = (call);                                              \
		if (rc_ == ISO_ESTALE) {                                       \
			(t)->stale++;                                          \
			if (!iso_last_error()[0])                              \
				(t)->no_msg++;                                 \
		} else if ((t)->other++ == 0) {                                \
			(t)->other_rc = rc_;                                   \
			(t)->other_line = __LINE__;                            \
		}                                                              \
	} while (0)

/* Every call that takes a handle, through a stale one. */
static void try_all(const iso_account_t *h, const iso_permit_t *old_permit,
		    struct tally *t)
{
	struct iso_config cfg;
	struct iso_status st;
	struct iso_key key;
	iso_permit_t p;

	iso_config_default(&cfg);
	TRY(t, iso_acquire(h, &p));
	TRY(t, iso_record_success(h, NULL, 1000));
	TRY(t, iso_record_success(h, old_permit, 1000));
	TRY(t, iso_record_failure(h, NULL, ISO_FAIL_NETWORK, 1000));
	TRY(t, iso_record_failure(h, old_permit, ISO_FAIL_AUTHENTICATION, 1000));
	TRY(t, iso_record_failure_retry(h, NULL, ISO_FAIL_RATE_LIMIT, 1000, 5000));
	TRY(t, iso_reset(h));
	TRY(t, iso_force_open(h));
	TRY(t, iso_configure(h, &cfg));
	TRY(t, iso_configure(h, NULL));
	TRY(t, iso_status(h, &st));
	TRY(t, iso_account_key(h, &key));
	TRY(t, iso_retire(h));
}
#define TRY_ALL_CALLS 13

/* ------------------------------------------------------------------ */

struct holder {
	char seg[64];
	uint32_t phase;     /* 1: holder has its handles; 2: go write */
	uint32_t naccts;
	struct tally t;
	int32_t setup_rc;
};

/* acquire: pairs with the release store that moved the phase on. */
static void wait_phase(const uint32_t *p, uint32_t want)
{
	while (iso_load32_acquire(p) < want)
		chaos_sleep_us(100);
}

/* Another process holding handles (and permits) to accounts "old<i>". */
static int holder_main(void *arg)
{
	struct holder *hd = arg;
	iso_account_t *h = calloc(hd->naccts, sizeof(*h));
	iso_permit_t *p = calloc(hd->naccts, sizeof(*p));
	iso_reg_t *reg;
	int rc;

	if ((rc = iso_attach(hd->seg, NULL, &reg)) != 0) {
		hd->setup_rc = rc;
		return 1;
	}
	for (unsigned i = 0; i < hd->naccts; i++) {
		char id[32];

		snprintf(id, sizeof(id), "old%u", i);
		if ((rc = iso_lookup(reg, "user", id, "KRAKEN", &h[i])) != 0 ||
		    (rc = iso_acquire(&h[i], &p[i])) != 0) {
			hd->setup_rc = rc;
			return 1;
		}
	}
	iso_store32_release(&hd->phase, 1); /* handles taken: slots may be reused */
	wait_phase(&hd->phase, 2);
	for (unsigned i = 0; i < hd->naccts; i++)
		try_all(&h[i], &p[i], &hd->t);
	iso_detach(reg);
	free(h);
	free(p);
	return 0;
}

/* The doctor's report in one line, for failure messages. */
static const char *doc_str(const struct iso_doctor_report *d)
{
	static char buf[320];

	snprintf(buf, sizeof(buf), "checked %u live %u pending %u dead %u "
		 "reclaimed %u published %u retired %u bad_words %u bad_slots %u "
		 "dir %u tomb %u dir_bad %u dir_missing %u ok %d",
		 d->slots_checked, d->live, d->reserved_pending, d->reserved_dead,
		 d->reclaimed, d->published, d->retired, d->bad_breaker_words,
		 d->bad_slots, d->dir_entries, d->dir_tombstones, d->dir_bad,
		 d->dir_missing, d->ok);
	return buf;
}

static uint64_t xerrs(iso_reg_t *reg)
{
	struct iso_report rep;

	cr_assert_eq(iso_report(reg, &rep), 0);
	return rep.cross_account_errors;
}

static void expect_clean(const struct tally *t, unsigned calls, const char *who)
{
	cr_expect_eq(t->other, 0, "%s: %u calls through a stale handle were not "
		     "refused; first: %s (line %d)", who, t->other,
		     iso_strerror(t->other_rc), t->other_line);
	cr_expect_eq(t->stale, calls, "%s: %u of %u calls refused with ISO_ESTALE",
		     who, t->stale, calls);
	cr_expect_eq(t->no_msg, 0, "%s: %u refusals without a message", who, t->no_msg);
}

/* SPEC §5: retired, cooled down, slot reused by a new key: the old handle
 * (held by another process) is refused, and the new account is untouched. */
Test(stale, retired_handle_never_reaches_the_account_that_reuses_its_slot)
{
	struct holder *hd = chaos_shared_alloc(sizeof(*hd));
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 1, .retire_cooldown_ms = 1 };
	iso_reg_t *reg;
	iso_account_t a, b;
	iso_permit_t pa;
	struct iso_status st;
	struct tally mine = { 0 };
	uint8_t *before, *after;
	size_t len_b, len_a;
	int status, rc;

	chaos_segname(hd->seg, sizeof(hd->seg), "stale");
	hd->naccts = 1;
	rc = iso_attach(hd->seg, &opts, &reg);
	cr_assert_eq(rc, 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "old0", "KRAKEN", &a), 0);
	cr_assert_eq(iso_record_failure(&a, NULL, ISO_FAIL_API, 10), 0);
	cr_assert_eq(iso_acquire(&a, &pa), 0);

	pid_t pid = chaos_fork(holder_main, hd);
	wait_phase(&hd->phase, 1);

	cr_assert_eq(iso_retire(&a), 0, "%s", iso_last_error());
	chaos_sleep_us(20000); /* past the 1 ms cooldown */
	rc = iso_register(reg, "user", "new", "COINBASE", &b);
	cr_assert_eq(rc, 0, "register after cooldown: %s (%s)", iso_strerror(rc),
		     iso_last_error());
	cr_assert_eq(b.slot, a.slot, "capacity 1: the new key must reuse the slot");
	cr_assert_neq(b.gen, a.gen, "a reused slot keeps its generation");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(iso_record_success(&b, NULL, 2000), 0);
	cr_assert_eq(iso_record_failure(&b, NULL, ISO_FAIL_BALANCE, 2000), 0);

	uint64_t x0 = xerrs(reg);
	cr_assert_eq(chaos_shm_read(hd->seg, &before, &len_b), 0);
	iso_store32_release(&hd->phase, 2); /* the snapshot is taken: write */
	cr_assert_eq(chaos_wait(pid, 10000, &status), 0);
	cr_assert_eq(chaos_exit_code(status), 0, "holder: setup %s",
		     iso_strerror(hd->setup_rc));
	try_all(&a, &pa, &mine);
	cr_assert_eq(chaos_shm_read(hd->seg, &after, &len_a), 0);

	expect_clean(&hd->t, TRY_ALL_CALLS, "other process");
	expect_clean(&mine, TRY_ALL_CALLS, "this process");
	cr_assert_eq(len_a, len_b);
	long d = chaos_mem_diff(before, after, len_a, XERR_OFF, sizeof(uint64_t));
	cr_expect_eq(d, -1, "stale writes changed segment byte %ld", d);
	cr_expect_eq(xerrs(reg) - x0, hd->t.stale + mine.stale,
		     "cross_account_errors moved by %llu for %u refusals",
		     (unsigned long long)(xerrs(reg) - x0), hd->t.stale + mine.stale);

	cr_assert_eq(iso_status(&b, &st), 0);
	cr_expect_eq(st.successes, 3);
	cr_expect_eq(st.failures, 1);
	cr_expect_eq(st.health, ISO_DEGRADED);
	cr_expect_eq(st.breaker, ISO_BREAKER_CLOSED);
	cr_expect_str_eq(st.key.id, "new");

	free(before);
	free(after);
	iso_detach(reg);
	iso_unlink(hd->seg);
	chaos_shared_free(hd, sizeof(*hd));
}

/* ------------------------------------------------------------------ */

struct registrant {
	char seg[64];
	uint32_t naccts;
	uint32_t started;
	uint32_t done;     /* registrations completed before the kill */
	uint32_t _pad;
};

/* Registers and retires "eph/e<i>" round and round until killed, so the
 * kill lands at a random point of some registration (or of a retire, or
 * of a scan that finds every slot cooling down). */
static int registrant_main(void *arg)
{
	struct registrant *rg = arg;
	iso_reg_t *reg;
	iso_account_t h;

	if (iso_attach(rg->seg, NULL, &reg) != 0)
		return 1;
	iso_store32_release(&rg->started, 1); /* pairs with the driver's acquire */
	for (unsigned i = 0;; i = (i + 1) % rg->naccts) {
		char id[32];

		snprintf(id, sizeof(id), "e%u", i);
		if (iso_register(reg, "eph", id, "KRAKEN", &h) == 0) {
			/* release: the count never runs ahead of the
			 * registration it counts, wherever the kill lands. */
			iso_store32_release(&rg->done, rg->done + 1);
			iso_retire(&h);
		}
	}
}

static int retire_eph(const struct iso_status *st, void *p)
{
	iso_reg_t *reg = p;
	iso_account_t h;

	if (strcmp(st->key.type, "eph") == 0 &&
	    iso_lookup_key(reg, &st->key, &h) == 0)
		iso_retire(&h);
	return 0;
}

static int untouched(const struct iso_status *st, void *p)
{
	unsigned *touched = p;

	if (st->operations != 0)
		(*touched)++;
	return 0;
}

/* SPEC [S3] + §5: a registrant killed half-way leaves a dead reservation
 * on a slot whose old account another process still holds; doctor REPAIR
 * reclaims it, a new key takes it, and the old handles stay refused. */
Test(stale, slot_reclaimed_by_doctor_is_never_written_through_old_handles)
{
	/* Every slot once held an "old" account the holder keeps a handle
	 * to, so whichever slot the dead reservation is on, a stale handle
	 * points at it. The same "eph" keys are used on every try, so the
	 * directory holds 2 * cap keys at most. */
	const unsigned cap = 96, tries = 1000;
	struct holder *hd = chaos_shared_alloc(sizeof(*hd));
	struct registrant *rg = chaos_shared_alloc(sizeof(*rg));
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = cap, .retire_cooldown_ms = 1 };
	struct iso_doctor_report doc = { 0 };
	struct iso_segment_info info;
	iso_reg_t *reg;
	iso_account_t h;
	uint64_t rng = chaos_seed();
	unsigned attempt, dead = 0;
	uint8_t *before, *after;
	size_t len_b, len_a;
	int status, rc;

	chaos_segname(hd->seg, sizeof(hd->seg), "stale");
	memcpy(rg->seg, hd->seg, sizeof(rg->seg));
	hd->naccts = rg->naccts = cap;
	cr_assert_eq(iso_attach(hd->seg, &opts, &reg), 0, "%s", iso_last_error());
	for (unsigned i = 0; i < cap; i++) {
		char id[32];

		snprintf(id, sizeof(id), "old%u", i);
		cr_assert_eq(iso_register(reg, "user", id, "KRAKEN", &h), 0);
		cr_assert_eq(iso_record_success(&h, NULL, 0), 0);
	}
	pid_t holder = chaos_fork(holder_main, hd);
	wait_phase(&hd->phase, 1);
	cr_assert_eq(hd->setup_rc, 0);
	for (unsigned i = 0; i < cap; i++) {
		char id[32];

		snprintf(id, sizeof(id), "old%u", i);
		cr_assert_eq(iso_lookup(reg, "user", id, "KRAKEN", &h), 0);
		cr_assert_eq(iso_retire(&h), 0);
	}

	for (attempt = 0; attempt < tries; attempt++) {
		chaos_sleep_us(3000); /* past the cooldown: every slot reusable */
		rg->started = rg->done = 0;
		pid_t pid = chaos_fork(registrant_main, rg);
		while (!iso_load32_acquire(&rg->started))
			chaos_sleep_us(50);
		chaos_sleep_us(100 + tc_rand(&rng) % 2000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);

		cr_assert_eq(iso_doctor(reg, 0, &doc), 0, "%s", iso_last_error());
		cr_assert_eq(doc.bad_slots, 0, "try %u: a registrant killed after %u "
			     "registrations left %u slots doctor calls bad", attempt,
			     rg->done, doc.bad_slots);
		if (doc.reserved_dead > 0)
			break;
		cr_assert_eq(iso_foreach(reg, retire_eph, reg), 0);
	}
	cr_assert_lt(attempt, tries, "no kill landed inside a registration in %u tries",
		     tries);
	dead = doc.reserved_dead;
	cr_expect(doc.ok, "doctor: not ok for %u dead reservations, which REPAIR "
		  "fixes (isoreg.h: ok means nothing wrong that REPAIR cannot fix)",
		  dead);

	cr_assert_eq(iso_doctor(reg, ISO_DOCTOR_REPAIR, &doc), 0, "%s", iso_last_error());
	cr_expect_eq(doc.reclaimed + doc.published, dead,
		     "repair: %u reclaimed + %u published of %u dead reservations",
		     doc.reclaimed, doc.published, dead);
	cr_assert_eq(iso_doctor(reg, 0, &doc), 0);
	cr_expect(doc.ok, "after repair: %s", doc_str(&doc));
	cr_expect_eq(doc.reserved_dead, 0);

	/* Fill every slot again, the reclaimed one included. */
	chaos_sleep_us(20000); /* past the cooldown, even on a coarse clock */
	for (unsigned i = 0; i < cap; i++) {
		char id[32];

		snprintf(id, sizeof(id), "e%u", i);
		rc = iso_register(reg, "eph", id, "KRAKEN", &h);
		if (rc) {
			iso_doctor(reg, 0, &doc);
			cr_assert_eq(rc, 0, "register e%u: %s (%s); doctor: %s", i,
				     iso_strerror(rc), iso_last_error(), doc_str(&doc));
		}
	}
	cr_assert_eq(iso_segment_info(reg, &info), 0);
	cr_assert_eq(info.live, cap, "%u live accounts in %u slots after repair",
		     info.live, cap);

	uint64_t x0 = xerrs(reg);
	cr_assert_eq(chaos_shm_read(hd->seg, &before, &len_b), 0);
	iso_store32_release(&hd->phase, 2); /* the snapshot is taken: write */
	cr_assert_eq(chaos_wait(holder, 20000, &status), 0);
	cr_assert_eq(chaos_exit_code(status), 0);
	cr_assert_eq(chaos_shm_read(hd->seg, &after, &len_a), 0);

	expect_clean(&hd->t, cap * TRY_ALL_CALLS, "holder of the retired handles");
	cr_assert_eq(len_a, len_b);
	long d = chaos_mem_diff(before, after, len_a, XERR_OFF, sizeof(uint64_t));
	cr_expect_eq(d, -1, "stale writes changed segment byte %ld", d);
	cr_expect_eq(xerrs(reg) - x0, hd->t.stale);
	unsigned touched = 0;
	cr_assert_eq(iso_foreach(reg, untouched, &touched), 0);
	cr_expect_eq(touched, 0, "%u accounts on reused slots have operations", touched);
	fprintf(stderr, "stale: dead reservation made on try %u (%u dead, %u "
		"reclaimed/published), %u stale calls refused, 0 landed\n",
		attempt + 1, dead, dead, hd->t.stale);

	free(before);
	free(after);
	iso_detach(reg);
	iso_unlink(hd->seg);
	chaos_shared_free(rg, sizeof(*rg));
	chaos_shared_free(hd, sizeof(*hd));
}

/* SPEC §5 iso_retire: "its directory entry and slot are freed for reuse
 * after a cooldown". A long-lived segment sees accounts come and go: the
 * number of distinct keys it can ever hold must not be bounded by the
 * directory size. */
Test(stale, retired_keys_give_back_their_directory_entries)
{
	char seg[64];
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 4, .retire_cooldown_ms = 1 };
	struct iso_segment_info info;
	iso_reg_t *reg;
	iso_account_t h[4];
	unsigned total;

	chaos_segname(seg, sizeof(seg), "stale");
	cr_assert_eq(iso_attach(seg, &opts, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_segment_info(reg, &info), 0);
	total = 8 * info.dir_capacity;
	for (unsigned n = 0; n < total; n += 4) {
		for (unsigned i = 0; i < 4; i++) {
			char id[32];
			int rc;

			snprintf(id, sizeof(id), "gone%u", n + i);
			/* Slots still cooling give EFULL for a moment (the
			 * cooldown clock may be coarse); a full directory
			 * never clears, so waiting cannot hide it. */
			for (int w = 0; w < 200; w++) {
				rc = iso_register(reg, "user", id, "KRAKEN", &h[i]);
				if (rc != ISO_EFULL)
					break;
				chaos_sleep_us(1000);
			}
			cr_assert_eq(rc, 0, "key #%u of a 4-slot segment (directory %u): "
				     "%s (%s)", n + i, info.dir_capacity,
				     iso_strerror(rc), iso_last_error());
		}
		for (unsigned i = 0; i < 4; i++)
			cr_assert_eq(iso_retire(&h[i]), 0);
		chaos_sleep_us(1500);
	}
	iso_detach(reg);
	iso_unlink(seg);
}

/* ------------------------------------------------------------------ */

struct hammer {
	char seg[64];
	uint32_t ready;
	uint32_t stop;
	uint64_t ok, stale, other;
	int32_t other_rc;
};

/* Records on "user/old0/KRAKEN" without pause until told to stop. */
static int hammer_main(void *arg)
{
	struct hammer *hm = arg;
	iso_reg_t *reg;
	iso_account_t h;

	if (iso_attach(hm->seg, NULL, &reg) ||
	    iso_lookup(reg, "user", "old0", "KRAKEN", &h))
		return 1;
	iso_store32_release(&hm->ready, 1); /* pairs with the test's acquire */
	/* acquire: pairs with the test's release store of stop. */
	while (!iso_load32_acquire(&hm->stop)) {
		int rc = iso_record_success(&h, NULL, 0);

		if (rc == 0)
			hm->ok++;
		else if (rc == ISO_ESTALE)
			hm->stale++;
		else if (hm->other++ == 0)
			hm->other_rc = rc;
	}
	iso_detach(reg);
	return 0;
}

/* SPEC §5: a writer hammering its handle while the account is retired and
 * its slot reused after the cooldown never counts into the new account. */
Test(stale, writer_racing_retire_and_reuse_never_lands_in_the_new_account)
{
	struct hammer *hm = chaos_shared_alloc(sizeof(*hm));
	/* The cooldown is the documented bound for a write that passed its
	 * check to land; 500 ms is far above any scheduling hiccup here. */
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 1, .retire_cooldown_ms = 500 };
	iso_reg_t *reg;
	iso_account_t a, b;
	struct iso_status st;
	int status, rc;

	chaos_segname(hm->seg, sizeof(hm->seg), "stale");
	cr_assert_eq(iso_attach(hm->seg, &opts, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "old0", "KRAKEN", &a), 0);
	uint64_t x0 = xerrs(reg);
	pid_t pid = chaos_fork(hammer_main, hm);
	while (!iso_load32_acquire(&hm->ready))
		chaos_sleep_us(100);
	chaos_sleep_us(5000);
	cr_assert_eq(iso_retire(&a), 0);

	/* Reused only after the cooldown: EFULL until then, never early. */
	uint64_t t0 = tc_mono_ns();
	while ((rc = iso_register(reg, "user", "new", "COINBASE", &b)) == ISO_EFULL)
		chaos_sleep_us(10000);
	cr_assert_eq(rc, 0, "%s", iso_last_error());
	cr_expect_geq(tc_mono_ns() - t0, 500000000ull - 20000000ull,
		      "slot reused %llu ms after retire, before the 500 ms cooldown",
		      (unsigned long long)((tc_mono_ns() - t0) / 1000000));
	cr_assert_eq(b.slot, a.slot);
	chaos_sleep_us(50000); /* the old handle keeps hammering the new account */
	iso_store32_release(&hm->stop, 1);

	cr_assert_eq(chaos_wait(pid, 20000, &status), 0);
	cr_assert_eq(chaos_exit_code(status), 0);
	cr_expect_eq(hm->other, 0, "hammer got %s", iso_strerror(hm->other_rc));
	cr_assert_eq(iso_status(&b, &st), 0);
	cr_expect_eq(st.operations, 0, "%llu stale writes landed in the new account",
		     (unsigned long long)st.operations);
	cr_expect_eq(xerrs(reg) - x0, hm->stale);
	fprintf(stderr, "stale: hammer: %llu writes before retire, %llu refused after, "
		"0 landed in the reused slot\n", (unsigned long long)hm->ok,
		(unsigned long long)hm->stale);

	iso_detach(reg);
	iso_unlink(hm->seg);
	chaos_shared_free(hm, sizeof(*hm));
}

/* ------------------------------------------------------------------ */

/*
 * SPEC [S3] "leave nothing behind for dead processes": iso_retire makes the
 * account unreachable (directory entry -> tombstone) and then marks the
 * slot RETIRED. A process killed between the two leaves a LIVE slot no
 * entry points to. The random kills above reach that window only now and
 * then; this test puts the segment in exactly that state (the tombstone
 * written into the mapping the way a retire writes it) and asks doctor
 * REPAIR to give the slot back.
 */
Test(stale, retire_killed_after_its_tombstone_leaks_no_slot)
{
	char seg[64], path[96];
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 1, .retire_cooldown_ms = 1 };
	struct iso_doctor_report doc;
	iso_reg_t *reg;
	iso_account_t a, b;
	int fd, rc = ISO_EFULL;

	chaos_segname(seg, sizeof(seg), "stale");
	cr_assert_eq(iso_attach(seg, &opts, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "half", "KRAKEN", &a), 0);

	/* The first half of iso_retire, done by a process that then died. */
	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	struct stat sb;
	cr_assert_eq(fstat(fd, &sb), 0);
	uint8_t *base = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0);
	close(fd);
	cr_assert_neq(base, MAP_FAILED);
	struct iso_shm_header *hdr = (struct iso_shm_header *)base;
	struct iso_slot *slot = (struct iso_slot *)(base + hdr->slots_off) + a.slot;
	iso_dirent_t *dir = (iso_dirent_t *)(base + hdr->dir_off);
	unsigned tombstoned = 0;
	for (uint32_t i = 0; i < hdr->dir_capacity; i++) {
		/* acquire: as a read-only viewer reads an entry; release:
		 * as a retire's CAS writes the tombstone (directory.c). The
		 * tombstone count is a statistic, relaxed as
		 * iso_dir_tombstone adds to it: the doctor calls below run
		 * on this thread, after it, and need no more. */
		if (iso_load64_acquire(&dir[i].lo) == slot->hash &&
		    (iso_load64_acquire(&dir[i].hi) & 0xffffffffu) == a.slot + 1u) {
			iso_store64_release(&dir[i].hi, 0);
			iso_faa32_relaxed(&hdr->dir_tombstones, 1);
			tombstoned++;
		}
	}
	cr_assert_eq(tombstoned, 1, "no directory entry for the account");

	cr_assert_eq(iso_doctor(reg, 0, &doc), 0);
	cr_expect_eq(doc.dir_missing, 1, "doctor does not see the unreachable slot: %s",
		     doc_str(&doc));
	cr_assert_eq(iso_doctor(reg, ISO_DOCTOR_REPAIR, &doc), 0, "%s", iso_last_error());
	cr_assert_eq(iso_doctor(reg, 0, &doc), 0);
	cr_expect(doc.ok && doc.dir_missing == 0, "after repair: %s", doc_str(&doc));

	/* The one slot is usable again once its cooldown has passed. */
	for (int w = 0; w < 100 && rc == ISO_EFULL; w++) {
		chaos_sleep_us(10000);
		rc = iso_register(reg, "user", "next", "KRAKEN", &b);
	}
	cr_expect_eq(rc, 0, "the slot of a half-retired account is lost: %s (%s)",
		     iso_strerror(rc), iso_last_error());

	munmap(base, (size_t)sb.st_size);
	iso_detach(reg);
	iso_unlink(seg);
}
