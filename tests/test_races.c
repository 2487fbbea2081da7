/*
 * test_races.c - processes racing to create, attach and register at the
 * same instant end up with one segment and one slot per key [S3][R2].
 *
 * Children are forked once and released together each round by a shared
 * start flag they spin on, so their calls overlap as closely as the
 * scheduler allows; some rounds add random microsecond delays to shift
 * the overlap. Killed creators must leave nothing an attacher accepts as
 * valid-but-broken or hangs on.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/chaos_util.h"
#include "atomic.h"
#include "isoreg.h"

#define RC_MAX_PROCS 16
#define RC_KEYS 32

struct rc_result {
	int32_t rc;        /* first failing rc, 0 if all went well */
	int32_t line;
	uint32_t capacity; /* as the attacher sees it */
	uint32_t slot_same;
	uint32_t slot_keys[RC_KEYS];
	unsigned long inode; /* of the mapping, from /proc/self/maps */
};

struct rc_shared {
	char seg[64];
	uint32_t go;    /* round number the children may start */
	uint32_t done;  /* children finished with the current round */
	uint32_t quit;
	uint32_t procs;
	uint32_t jitter; /* this round: add random delays */
	uint64_t seed;
	struct rc_result res[RC_MAX_PROCS];
};

struct rc_arg {
	struct rc_shared *sh;
	unsigned idx;
};

#define RC_FAIL(r, code)                                                      \
	do {                                                                   \
		(r)->rc = (code);                                              \
		(r)->line = __LINE__;                                          \
		goto out;                                                      \
	} while (0)

/* acquire: pairs with the driver's release stores of go and quit. */
static void spin_until(const uint32_t *p, uint32_t want, const uint32_t *quit)
{
	while (iso_load32_acquire(p) < want && !iso_load32_acquire(quit))
		sched_yield();
}

/* One racer: every round, create-or-attach the round's fresh name, then
 * register the same keys as everyone else, in its own random order. */
static int racer(void *p)
{
	struct rc_shared *sh = ((struct rc_arg *)p)->sh;
	unsigned me = ((struct rc_arg *)p)->idx;
	uint64_t rng = sh->seed ^ ((uint64_t)me << 40);

	for (uint32_t round = 1;; round++) {
		struct rc_result *r = &sh->res[me];
		struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE,
						/* the winner's capacity says who created */
						.capacity = 64 + me };
		struct iso_segment_info info;
		iso_reg_t *reg = NULL;
		iso_account_t h;
		unsigned order[RC_KEYS];
		int rc;

		spin_until(&sh->go, round, &sh->quit);
		if (iso_load32_acquire(&sh->quit))
			return 0;
		memset(r, 0, sizeof(*r));
		if (sh->jitter) {
			uint64_t until = tc_mono_ns() + tc_rand(&rng) % 300000;

			while (tc_mono_ns() < until)
				;
		}
		rc = iso_attach(sh->seg, &opts, &reg);
		if (rc)
			RC_FAIL(r, rc);
		rc = iso_segment_info(reg, &info);
		if (rc)
			RC_FAIL(r, rc);
		r->capacity = info.capacity;
		if (chaos_maps_find(sh->seg, NULL, &r->inode, NULL) != 0)
			RC_FAIL(r, -1000);
		rc = iso_register(reg, "race", "same", "KRAKEN", &h);
		if (rc)
			RC_FAIL(r, rc);
		r->slot_same = h.slot;
		rc = iso_record_success(&h, NULL, 0);
		if (rc)
			RC_FAIL(r, rc);

		for (unsigned i = 0; i < RC_KEYS; i++)
			order[i] = i;
		for (unsigned i = RC_KEYS - 1; i > 0; i--) {
			unsigned j = (unsigned)(tc_rand(&rng) % (i + 1)), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (unsigned i = 0; i < RC_KEYS; i++) {
			char id[32];

			snprintf(id, sizeof(id), "k%u", order[i]);
			rc = iso_register(reg, "race", id, "COINBASE", &h);
			if (rc)
				RC_FAIL(r, rc);
			r->slot_keys[order[i]] = h.slot;
			rc = iso_record_failure(&h, NULL, ISO_FAIL_API, 0);
			if (rc)
				RC_FAIL(r, rc);
		}
out:
		if (reg)
			iso_detach(reg);
		/* release: publishes this round's result to the driver's
		 * acquire load of done. No acquire half (it was acq_rel):
		 * the racer takes nothing from done, its next round starts
		 * from its acquire of go, stored after the driver read the
		 * results. */
		iso_add32_release(&sh->done, 1);
	}
}

/* SPEC [S3][R2]: N processes create-or-attach one fresh name at once. */
Test(races, simultaneous_create_or_attach_yields_one_segment_and_one_slot_per_key)
{
	unsigned procs = chaos_scale(6, 16);
	unsigned rounds = chaos_scale(40, 500);
	struct rc_shared *sh = chaos_shared_alloc(sizeof(*sh));
	pid_t pids[RC_MAX_PROCS];
	unsigned creators[RC_MAX_PROCS] = { 0 };
	uint64_t rng;

	sh->procs = procs;
	sh->seed = rng = chaos_seed();
	cr_log_info("races: seed %llu", (unsigned long long)sh->seed);
	for (unsigned i = 0; i < procs; i++) {
		struct rc_arg arg = { sh, i };

		pids[i] = chaos_fork(racer, &arg);
	}

	for (uint32_t round = 1; round <= rounds; round++) {
		iso_reg_t *reg;
		iso_account_t h;
		struct iso_status st;
		struct iso_segment_info info;
		struct iso_doctor_report doc;
		uint64_t deadline;

		chaos_segname(sh->seg, sizeof(sh->seg), "races");
		sh->jitter = (uint32_t)(tc_rand(&rng) & 1);
		/* release: the round's name and jitter, and done back at 0,
		 * before any racer sees go move. */
		iso_store32_release(&sh->done, 0);
		iso_store32_release(&sh->go, round);

		deadline = tc_mono_ns() + 30000000000ull;
		/* acquire: pairs with each racer's release add. */
		while (iso_load32_acquire(&sh->done) < procs) {
			if (tc_mono_ns() > deadline) {
				iso_store32_release(&sh->quit, 1);
				for (unsigned i = 0; i < procs; i++)
					kill(pids[i], SIGKILL);
				cr_assert_fail("round %u: racers hung for 30 s", round);
			}
			chaos_sleep_us(200);
		}

		const struct rc_result *r0 = &sh->res[0];
		for (unsigned i = 0; i < procs; i++) {
			const struct rc_result *r = &sh->res[i];

			cr_assert_eq(r->rc, 0, "round %u racer %u: %s at line %d",
				     round, i, r->rc == -1000 ? "no mapping in /proc/self/maps"
							      : iso_strerror(r->rc), r->line);
			cr_assert_eq(r->inode, r0->inode,
				     "round %u: racers %u and 0 mapped different objects",
				     round, i);
			cr_assert_eq(r->capacity, r0->capacity,
				     "round %u: racers see capacities %u and %u",
				     round, r->capacity, r0->capacity);
			cr_assert_eq(r->slot_same, r0->slot_same,
				     "round %u: one key, slots %u and %u",
				     round, r->slot_same, r0->slot_same);
			for (unsigned k = 0; k < RC_KEYS; k++)
				cr_assert_eq(r->slot_keys[k], r0->slot_keys[k],
					     "round %u key k%u: slots %u and %u", round,
					     k, r->slot_keys[k], r0->slot_keys[k]);
		}
		cr_assert(r0->capacity >= 64 && r0->capacity < 64 + procs,
			  "capacity %u is no racer's", r0->capacity);
		creators[r0->capacity - 64]++;

		/* Nothing was recorded into a segment nobody else sees. */
		cr_assert_eq(iso_attach(sh->seg, NULL, &reg), 0);
		cr_assert_eq(iso_lookup(reg, "race", "same", "KRAKEN", &h), 0);
		cr_assert_eq(iso_status(&h, &st), 0);
		cr_assert_eq(st.successes, procs, "round %u: %llu of %u successes",
			     round, (unsigned long long)st.successes, procs);
		for (unsigned k = 0; k < RC_KEYS; k++) {
			char id[32];

			snprintf(id, sizeof(id), "k%u", k);
			cr_assert_eq(iso_lookup(reg, "race", id, "COINBASE", &h), 0);
			cr_assert_eq(iso_status(&h, &st), 0);
			cr_assert_eq(st.failures, procs);
		}
		cr_assert_eq(iso_segment_info(reg, &info), 0);
		cr_assert_eq(info.live, RC_KEYS + 1, "round %u: %u live accounts for %u keys",
			     round, info.live, RC_KEYS + 1);
		cr_assert_eq(iso_doctor(reg, 0, &doc), 0);
		cr_assert(doc.ok, "round %u: doctor not ok", round);
		cr_assert_eq(doc.reserved_pending + doc.reserved_dead, 0,
			     "round %u: reservations left behind", round);
		iso_detach(reg);
		cr_assert_eq(iso_unlink(sh->seg), 0);
	}

	iso_store32_release(&sh->quit, 1);
	for (unsigned i = 0; i < procs; i++) {
		int status;

		cr_assert_eq(chaos_wait(pids[i], 10000, &status), 0);
		cr_assert_eq(chaos_exit_code(status), 0);
	}
	char who[256] = "";
	for (unsigned i = 0; i < procs; i++)
		snprintf(who + strlen(who), sizeof(who) - strlen(who), " %u", creators[i]);
	fprintf(stderr, "races: %u rounds x %u processes: one segment each round; "
		"creations won per racer:%s\n", rounds, procs, who);
	chaos_shared_free(sh, sizeof(*sh));
}

/* ------------------------------------------------------------------ */

struct creator_arg {
	const char *seg;
	uint32_t capacity;
};

static int big_creator(void *p)
{
	struct creator_arg *ca = p;
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE,
					.capacity = ca->capacity };
	iso_reg_t *reg;

	return iso_attach(ca->seg, &opts, &reg) == 0 ? 0 : 1;
}

enum { AT_OK = 10, AT_NOENT, AT_CORRUPT, AT_BUSY, AT_BAD = 20 };

/* After a killed creator: attach (no CREATE), and if that works the
 * segment must be whole; then CREATE must succeed. Exit code = verdict. */
static int after_kill_attacher(void *p)
{
	struct creator_arg *ca = p;
	struct iso_attach_opts opts = { .flags = 0, .attach_timeout_ms = 300 };
	struct iso_segment_info info;
	struct iso_doctor_report doc;
	iso_reg_t *reg;
	iso_account_t h;
	int verdict, rc = iso_attach(ca->seg, &opts, &reg);

	switch (rc) {
	case 0:
		if (iso_segment_info(reg, &info) || info.capacity != ca->capacity)
			return AT_BAD + 1;
		if (iso_doctor(reg, 0, &doc) || !doc.ok)
			return AT_BAD + 2;
		if (iso_register(reg, "after", "kill", "KRAKEN", &h) ||
		    iso_record_success(&h, NULL, 0))
			return AT_BAD + 3;
		iso_detach(reg);
		verdict = AT_OK;
		break;
	case ISO_ENOENT:
		verdict = AT_NOENT;
		break;
	case ISO_ECORRUPT:
		verdict = AT_CORRUPT;
		break;
	case ISO_EBUSY:
		verdict = AT_BUSY;
		break;
	default:
		return AT_BAD + 4;
	}
	/* Whatever a dead creator left, create-or-attach gets a working one. */
	opts.flags = ISO_ATTACH_CREATE;
	opts.capacity = 64;
	if (iso_attach(ca->seg, &opts, &reg) != 0)
		return AT_BAD + 5;
	if (iso_register(reg, "after", "create", "KRAKEN", &h) ||
	    iso_record_success(&h, NULL, 0))
		return AT_BAD + 6;
	iso_detach(reg);
	return verdict;
}

/* SPEC [R2]: a creator SIGKILLed at a random point of creation leaves no
 * segment an attacher accepts broken or hangs on. */
Test(races, creator_killed_mid_creation_leaves_nothing_broken)
{
	unsigned rounds = chaos_scale(30, 400);
	struct creator_arg ca = { .capacity = 1u << 17 };
	char seg[64], base[80];
	unsigned verdicts[4] = { 0 };
	unsigned leftovers = 0;
	uint64_t rng = chaos_seed(), t0, create_ns;
	int status;

	chaos_segname(seg, sizeof(seg), "races");
	ca.seg = seg;
	/* Anything beside the name: creation uses an unnamed object, so a
	 * killed creator must leave no file at all. */
	snprintf(base, sizeof(base), "%s.", seg + 1);
	cr_log_info("races: seed %llu", (unsigned long long)rng);

	/* How long a full creation takes, so kills land all across it. */
	t0 = tc_mono_ns();
	pid_t pid = chaos_fork(big_creator, &ca);
	cr_assert_eq(chaos_wait(pid, 60000, &status), 0);
	create_ns = tc_mono_ns() - t0;
	cr_assert_eq(chaos_exit_code(status), 0, "creating capacity %u failed",
		     ca.capacity);
	cr_assert_eq(iso_unlink(seg), 0);

	for (unsigned r = 0; r < rounds; r++) {
		uint64_t delay_us = tc_rand(&rng) % (create_ns * 13 / 10 / 1000 + 1);
		int code;

		pid = chaos_fork(big_creator, &ca);
		chaos_sleep_us(delay_us);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);

		pid = chaos_fork(after_kill_attacher, &ca);
		cr_assert_eq(chaos_wait(pid, 15000, &status), 0,
			     "round %u (kill after %llu us): attach hung", r,
			     (unsigned long long)delay_us);
		code = chaos_exit_code(status);
		cr_assert(code >= AT_OK && code <= AT_BUSY,
			  "round %u (kill after %llu us): attacher verdict %d", r,
			  (unsigned long long)delay_us, code);
		verdicts[code - AT_OK]++;
		iso_unlink(seg);

		/* A dead creator's leftover, if any, beside our name:
		 * reported (the test fails), then removed. */
		unsigned n;
		char *left = chaos_shm_list(base, &n);

		if (n) {
			char *line = left, *nl;

			leftovers += n;
			while ((nl = strchr(line, '\n')) != NULL) {
				char path[512];

				*nl = '\0';
				snprintf(path, sizeof(path), "/dev/shm/%s", line);
				unlink(path);
				line = nl + 1;
			}
		}
		free(left);
	}
	fprintf(stderr,
		"races: %u creators (capacity %u, %.1f ms to create) killed at random: "
		"attach ok %u, ENOENT %u, ECORRUPT %u, EBUSY %u; "
		"leftover temporary objects in /dev/shm after the rounds: %u\n",
		rounds, ca.capacity, (double)create_ns / 1e6, verdicts[0], verdicts[1],
		verdicts[2], verdicts[3], leftovers);
	cr_expect_eq(leftovers, 0, "killed creators left %u objects in /dev/shm",
		     leftovers);
}
