/*
 * test_chaos.c - processes SIGKILLed at random instructions lose nothing
 * and stall no one [S6][R5][P4][B5].
 *
 * The kill storm: K writer processes record outcomes on their own accounts
 * and on shared ones, and acknowledge each completed call in a private
 * counter in MAP_SHARED memory, written only after the library call
 * returned. A driver SIGKILLs a random writer every few ms and forks a
 * replacement. Afterwards every account must hold exactly what was
 * acknowledged, give or take the one call each killed writer had in flight:
 *     acked <= counted <= acked + in_flight_at_kill.
 *
 * Default: hundreds of kills in a few seconds. ISOREG_CHAOS_LONG=1 (make
 * chaos): thousands, more writers.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/chaos_util.h"
#include "atomic.h"
#include "isoreg.h"

#define KS_MAX_WRITERS 8
#define KS_OWN 4    /* accounts only one writer position touches */
#define KS_SHARED 4 /* accounts every writer touches */
#define KS_ACCTS (KS_MAX_WRITERS * KS_OWN + KS_SHARED)
#define KS_MAX_PIDS 16384
#define KS_IDLE UINT32_MAX /* inflight: no call in flight */

/* One writer position; written by the one live incarnation at a time. */
struct ks_worker {
	uint64_t acked[KS_ACCTS][2]; /* [account][0 success, 1 failure] */
	uint32_t inflight;           /* account * 2 + kind, or KS_IDLE */
	uint32_t incarnation;
	uint64_t ops;
	uint64_t worst_ns;           /* this incarnation's slowest call */
	int32_t bad_rc;              /* first unexpected return code */
	int32_t bad_line;
};

struct ks_shared {
	uint32_t stop;
	char seg[64];
	uint64_t seed;
	struct ks_worker w[KS_MAX_WRITERS];
};

static void ks_key(unsigned a, char *type, char *id)
{
	if (a < KS_MAX_WRITERS * KS_OWN) {
		strcpy(type, "user");
		sprintf(id, "w%u-a%u", a / KS_OWN, a % KS_OWN);
	} else {
		strcpy(type, "platform");
		sprintf(id, "shared%u", a - KS_MAX_WRITERS * KS_OWN);
	}
}

static const char *ks_broker(unsigned a)
{
	return (a & 1) ? "KRAKEN" : "COINBASE";
}

/* release: bad_line is in memory before bad_rc, wherever a kill lands.
 * bad_rc stays int32_t (a negative ISO_E* code) and is stored through its
 * unsigned view, which C11 lets alias it. */
#define KS_FAIL(wk, rc)                                                       \
	do {                                                                   \
		if ((wk)->bad_rc == 0) {                                       \
			(wk)->bad_line = __LINE__;                             \
			iso_store32_release((uint32_t *)&(wk)->bad_rc,         \
					    (uint32_t)(rc));                   \
		}                                                              \
		return 1;                                                      \
	} while (0)

/* A writer incarnation: attach, register, then record until stopped or
 * killed. Runs in a forked child; reports only through shared memory. */
struct ks_arg {
	struct ks_shared *sh;
	unsigned idx;
};

static int ks_writer(void *arg)
{
	struct ks_shared *sh = ((struct ks_arg *)arg)->sh;
	unsigned me = ((struct ks_arg *)arg)->idx;
	struct ks_worker *wk = &sh->w[me];
	struct iso_attach_opts opts = { .flags = 0 };
	iso_account_t h[KS_ACCTS];
	iso_reg_t *reg;
	uint64_t rng = sh->seed ^ ((uint64_t)getpid() << 20) ^ me;
	char type[16], id[64];
	int rc;

	rc = iso_attach(sh->seg, &opts, &reg);
	if (rc)
		KS_FAIL(wk, rc);
	/* A fresh key per incarnation, so kills also land inside the
	 * registration of new accounts (reserve, fill, publish). */
	sprintf(id, "w%u-i%u", me, wk->incarnation);
	rc = iso_register(reg, "eph", id, "KRAKEN", &h[0]);
	if (rc)
		KS_FAIL(wk, rc);
	for (unsigned a = 0; a < KS_ACCTS; a++) {
		ks_key(a, type, id);
		rc = iso_register(reg, type, id, ks_broker(a), &h[a]);
		if (rc)
			KS_FAIL(wk, rc);
	}

	/* acquire: pairs with the driver's release store of stop. */
	while (!iso_load32_acquire(&sh->stop)) {
		uint64_t r = tc_rand(&rng), t0, t1, dt;
		unsigned a = (r & 1) ? me * KS_OWN + (unsigned)((r >> 1) % KS_OWN)
				     : KS_MAX_WRITERS * KS_OWN +
					       (unsigned)((r >> 1) % KS_SHARED);
		unsigned kind = ((r >> 8) % 10) < 6 ? 0 : 1;
		enum iso_failure_type ft = (enum iso_failure_type)((r >> 16) % ISO_FAIL__COUNT);
		iso_permit_t permit;
		const iso_permit_t *pp = NULL;

		if ((r >> 24) & 1) {
			t0 = tc_mono_ns();
			rc = iso_acquire(&h[a], &permit);
			t1 = tc_mono_ns();
			if (rc == 0)
				pp = &permit;
			else if (rc != ISO_EOPEN)
				KS_FAIL(wk, rc);
			dt = t1 - t0;
			if (dt > wk->worst_ns)
				wk->worst_ns = dt;
		}

		/* In flight from here until the ack: if we die in between,
		 * the driver allows this one call either way.
		 *
		 * The driver reads inflight and acked only after reaping
		 * this process, and a kill stops it between two
		 * instructions, so these stores need program order, not
		 * visibility to a live reader. Release keeps each store
		 * after everything before it: the ack after the call's
		 * writes, the clear after the ack. The mark stays before the
		 * call's writes because the call is to another object file,
		 * past which no store to shared memory is moved. They were
		 * seq_cst; that adds only an order against later seq_cst
		 * loads, and this process makes none. */
		iso_store32_release(&wk->inflight, (uint32_t)(a * 2 + kind));
		t0 = tc_mono_ns();
		if (kind == 0)
			rc = iso_record_success(&h[a], pp, (r >> 32) % 5000000);
		else
			rc = iso_record_failure(&h[a], pp, ft, (r >> 32) % 5000000);
		t1 = tc_mono_ns();
		if (rc)
			KS_FAIL(wk, rc);
		/* The ack comes strictly after the call returned. */
		iso_store64_release(&wk->acked[a][kind], wk->acked[a][kind] + 1);
		iso_store32_release(&wk->inflight, KS_IDLE);
		wk->ops++;
		dt = t1 - t0;
		if (dt > wk->worst_ns)
			wk->worst_ns = dt;
	}
	iso_detach(reg);
	return 0;
}

static pid_t ks_spawn(struct ks_shared *sh, unsigned idx)
{
	/* On the driver's stack: the child gets its own copy at fork. */
	struct ks_arg arg = { sh, idx };

	sh->w[idx].inflight = KS_IDLE;
	sh->w[idx].worst_ns = 0;
	return chaos_fork(ks_writer, &arg);
}

/* Everything the event reader checks, and its running totals. */
struct ks_events {
	uint64_t cursor, start, delivered, missed, last_seq;
	int64_t t_min_ms, t_max_ms;
	uint32_t capacity;
	const pid_t *pids;
	unsigned npids;
	pid_t self;
	unsigned bad;
	char why[256];
};

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool ks_known_pid(const struct ks_events *ev, uint32_t pid)
{
	if ((pid_t)pid == ev->self)
		return true;
	for (unsigned i = 0; i < ev->npids; i++)
		if ((uint32_t)ev->pids[i] == pid)
			return true;
	return false;
}

static void ks_bad(struct ks_events *ev, const char *what, uint64_t seq)
{
	if (ev->bad++ == 0)
		snprintf(ev->why, sizeof(ev->why), "event seq %llu: %s",
			 (unsigned long long)seq, what);
}

/* Every registered account, whoever made it, reads as a legal breaker
 * with counters that add up. */
static int ks_legal(const struct iso_status *st, void *ctx)
{
	unsigned *bad = ctx;
	uint64_t by_type = 0;

	for (unsigned t = 0; t < ISO_FAIL__COUNT; t++)
		by_type += st->failures_by_type[t];
	if ((unsigned)st->health >= ISO_HEALTH__COUNT ||
	    (unsigned)st->breaker >= ISO_BREAKER__COUNT ||
	    by_type != st->failures || st->operations != st->successes + st->failures ||
	    st->probes_in_flight > st->config.half_open_max_calls)
		(*bad)++;
	return 0;
}

/* Reads what is there now; returns the number of events read. */
static int ks_read_events(iso_reg_t *reg, struct ks_events *ev)
{
	struct iso_event buf[64];
	int total = 0;

	for (;;) {
		uint64_t missed = 0;
		int n = iso_events_read(reg, &ev->cursor, buf, 64, &missed);

		if (n < 0) {
			ks_bad(ev, iso_strerror(n), ev->cursor);
			return total;
		}
		ev->missed += missed;
		ev->delivered += (uint64_t)n;
		for (int i = 0; i < n; i++) {
			const struct iso_event *e = &buf[i];

			if (ev->last_seq != UINT64_MAX && e->seq <= ev->last_seq)
				ks_bad(ev, "sequence went backwards", e->seq);
			ev->last_seq = e->seq;
			if (e->slot >= ev->capacity)
				ks_bad(ev, "slot out of range", e->seq);
			if ((unsigned)e->from >= ISO_HEALTH__COUNT ||
			    (unsigned)e->to >= ISO_HEALTH__COUNT)
				ks_bad(ev, "health out of range", e->seq);
			if ((unsigned)e->breaker >= ISO_BREAKER__COUNT)
				ks_bad(ev, "breaker out of range", e->seq);
			if ((unsigned)e->cause >= ISO_CAUSE__COUNT)
				ks_bad(ev, "cause out of range", e->seq);
			if (e->cause == ISO_CAUSE_FAILURE
				    ? (e->failure_type < 0 || e->failure_type >= ISO_FAIL__COUNT)
				    : e->failure_type != -1)
				ks_bad(ev, "failure type does not fit the cause", e->seq);
			if (e->time_ms < ev->t_min_ms || e->time_ms > unix_ms() + 1000)
				ks_bad(ev, "time out of the run's range", e->seq);
			if (!ks_known_pid(ev, e->pid))
				ks_bad(ev, "pid of no process of this test", e->seq);
			if (e->key.type[0] && strcmp(e->key.type, "user") &&
			    strcmp(e->key.type, "platform") && strcmp(e->key.type, "eph"))
				ks_bad(ev, "key of no account of this test", e->seq);
		}
		total += n;
		if (n < 64)
			return total;
	}
}

/* SPEC [S6][R5][P4]: SIGKILL storm; nothing lost, nothing stalled. */
Test(chaos, kill_storm_loses_no_acknowledged_outcome)
{
	unsigned writers = chaos_scale(4, 8);
	unsigned kills = chaos_scale(300, 5000);
	/* Slow machines (CI, sanitizers) make fewer kills, not a longer run. */
	uint64_t budget_ns = chaos_scale(8, 900) * 1000000000ull;
	struct ks_shared *sh = chaos_shared_alloc(sizeof(*sh));
	pid_t *pids = chaos_shared_alloc(sizeof(pid_t) * KS_MAX_PIDS);
	pid_t live[KS_MAX_WRITERS];
	uint64_t lost[KS_ACCTS][2] = { { 0 } };
	uint64_t worst_killed = 0, rng, t_start;
	unsigned npids = 0, in_flight_kills = 0;
	struct iso_config cfg;
	struct iso_attach_opts opts = { 0 };
	struct ks_events ev = { 0 };
	iso_reg_t *reg;
	int rc;

	sh->seed = rng = chaos_seed();
	chaos_segname(sh->seg, sizeof(sh->seg), "chaos");
	cr_log_info("kill storm: seed %llu (ISOREG_CHAOS_SEED to replay)",
		    (unsigned long long)sh->seed);

	/* Breakers that move a lot: every kind of transition, many events. */
	iso_config_default(&cfg);
	cfg.failure_threshold = 3;
	cfg.success_threshold = 2;
	cfg.half_open_max_calls = 2;
	cfg.open_timeout_ms = 2;
	cfg.max_open_timeout_ms = 16;
	cfg.probe_timeout_ms = 5;
	opts.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL;
	opts.capacity = KS_ACCTS + kills + 2 * writers + 64;
	opts.defaults = &cfg;
	rc = iso_attach(sh->seg, &opts, &reg);
	cr_assert_eq(rc, 0, "create %s: %s (%s)", sh->seg, iso_strerror(rc),
		     iso_last_error());

	ev.capacity = opts.capacity;
	ev.pids = pids;
	ev.self = getpid();
	ev.last_seq = UINT64_MAX;
	ev.t_min_ms = unix_ms() - 1000;
	/* One event first, so the start cursor is not 0 (which would mean
	 * "from the oldest" and hide what wrapped before the first read). */
	{
		iso_account_t d;

		cr_assert_eq(iso_register(reg, "platform", "driver", "KRAKEN", &d), 0);
		cr_assert_eq(iso_force_open(&d), 0);
	}
	ev.cursor = ev.start = iso_events_head(reg);
	cr_assert_neq(ev.start, 0, "halting made no event");

	for (unsigned i = 0; i < writers; i++) {
		live[i] = pids[npids++] = ks_spawn(sh, i);
	}

	t_start = tc_mono_ns();
	unsigned k;
	for (k = 0; k < kills && tc_mono_ns() - t_start < budget_ns; k++) {
		unsigned victim = (unsigned)(tc_rand(&rng) % writers);
		struct ks_worker *wk = &sh->w[victim];
		int status;
		uint32_t fl;

		chaos_sleep_us(500 + tc_rand(&rng) % 3000);
		kill(live[victim], SIGKILL);
		cr_assert_eq(waitpid(live[victim], &status, 0), live[victim]);
		cr_assert_eq(wk->bad_rc, 0, "writer %u failed at line %d: %s",
			     victim, wk->bad_line, iso_strerror(wk->bad_rc));
		/* The victim is gone: its in-flight mark is final. acquire:
		 * pairs with its release stores of inflight (waitpid has
		 * already ordered them before this read). */
		fl = iso_load32_acquire(&wk->inflight);
		if (fl != KS_IDLE) {
			lost[fl / 2][fl % 2]++;
			in_flight_kills++;
		}
		if (wk->worst_ns > worst_killed)
			worst_killed = wk->worst_ns;
		wk->incarnation++;
		cr_assert_lt(npids, KS_MAX_PIDS);
		live[victim] = pids[npids++] = ks_spawn(sh, victim);
		ev.npids = npids;
		ks_read_events(reg, &ev); /* a reader while writers die */
	}

	kills = k;
	cr_expect_gt(kills, 0);

	/* Stop the survivors; one that cannot stop was stalled by a death. */
	iso_store32_release(&sh->stop, 1);
	uint64_t worst_survivor = 0, ops = 0;
	for (unsigned i = 0; i < writers; i++) {
		int status;

		cr_assert_eq(chaos_wait(live[i], 20000, &status), 0,
			     "writer %u did not stop within 20 s: stalled", i);
		cr_assert_eq(chaos_exit_code(status), 0,
			     "writer %u: exit %d, rc %s at line %d", i,
			     chaos_exit_code(status), iso_strerror(sh->w[i].bad_rc),
			     sh->w[i].bad_line);
		if (sh->w[i].worst_ns > worst_survivor)
			worst_survivor = sh->w[i].worst_ns;
		ops += sh->w[i].ops;
	}
	double secs = (double)(tc_mono_ns() - t_start) / 1e9;

	/* The segment is sound, before and after repair. */
	struct iso_doctor_report doc;
	rc = iso_doctor(reg, 0, &doc);
	cr_assert_eq(rc, 0, "doctor: %s (%s)", iso_strerror(rc), iso_last_error());
	cr_expect(doc.ok, "doctor finds the segment not ok");
	cr_expect_eq(doc.bad_breaker_words, 0);
	cr_expect_eq(doc.bad_slots, 0);
	cr_expect_eq(doc.dir_bad, 0);
	unsigned dead_reservations = doc.reserved_dead;
	rc = iso_doctor(reg, ISO_DOCTOR_REPAIR, &doc);
	cr_assert_eq(rc, 0, "doctor repair: %s (%s)", iso_strerror(rc), iso_last_error());
	cr_expect(doc.ok);
	cr_expect_eq(doc.reclaimed + doc.published, dead_reservations,
		     "repair freed %u + published %u of %u dead reservations",
		     doc.reclaimed, doc.published, dead_reservations);
	rc = iso_doctor(reg, 0, &doc);
	cr_assert_eq(rc, 0);
	cr_expect(doc.ok);
	cr_expect_eq(doc.reserved_dead, 0, "dead reservations left after repair");
	cr_expect_eq(doc.dir_missing, 0);

	/* Every account holds exactly what was acknowledged. */
	for (unsigned a = 0; a < KS_ACCTS; a++) {
		char type[16], id[64];
		iso_account_t h;
		struct iso_status st;
		uint64_t acked[2] = { 0, 0 };

		ks_key(a, type, id);
		if (a < KS_MAX_WRITERS * KS_OWN && a / KS_OWN >= writers)
			continue; /* no writer position owns it in this run */
		rc = iso_lookup(reg, type, id, ks_broker(a), &h);
		cr_assert_eq(rc, 0, "lookup %s/%s: %s", type, id, iso_strerror(rc));
		rc = iso_status(&h, &st);
		cr_assert_eq(rc, 0, "status %s/%s: %s", type, id, iso_strerror(rc));
		cr_expect_lt((unsigned)st.health, ISO_HEALTH__COUNT);
		cr_expect_lt((unsigned)st.breaker, ISO_BREAKER__COUNT);
		for (unsigned w = 0; w < writers; w++) {
			acked[0] += sh->w[w].acked[a][0];
			acked[1] += sh->w[w].acked[a][1];
		}
		cr_expect(acked[0] <= st.successes && st.successes <= acked[0] + lost[a][0],
			  "%s/%s successes %llu, acked %llu, in flight at kills %llu",
			  type, id, (unsigned long long)st.successes,
			  (unsigned long long)acked[0], (unsigned long long)lost[a][0]);
		cr_expect(acked[1] <= st.failures && st.failures <= acked[1] + lost[a][1],
			  "%s/%s failures %llu, acked %llu, in flight at kills %llu",
			  type, id, (unsigned long long)st.failures,
			  (unsigned long long)acked[1], (unsigned long long)lost[a][1]);
		uint64_t by_type = 0;
		for (unsigned t = 0; t < ISO_FAIL__COUNT; t++)
			by_type += st.failures_by_type[t];
		cr_expect_eq(by_type, st.failures, "failures by type do not add up");
		cr_expect_eq(st.operations, st.successes + st.failures);
	}

	/* Every registered account, eph ones included, reads as legal. */
	unsigned illegal = 0;
	cr_assert_eq(iso_foreach(reg, ks_legal, &illegal), 0);
	cr_expect_eq(illegal, 0, "%u accounts in an illegal state", illegal);
	struct iso_report rep;
	rc = iso_report(reg, &rep);
	cr_assert_eq(rc, 0);
	cr_expect_eq(rep.cross_account_errors, 0);
	cr_expect(rep.isolation_active);
	unsigned by_health = 0;
	for (unsigned i = 0; i < ISO_HEALTH__COUNT; i++)
		by_health += rep.by_health[i];
	cr_expect_eq(by_health, rep.total_accounts);

	/* The ring reads cleanly to its end; only entries a killed writer
	 * never finished, at the very tail, may stay pending. */
	uint64_t idle_since = tc_mono_ns();
	while (ev.cursor < iso_events_head(reg) &&
	       tc_mono_ns() - idle_since < 1000000000ull) {
		if (ks_read_events(reg, &ev) > 0)
			idle_since = tc_mono_ns();
		else
			chaos_sleep_us(5000);
	}
	uint64_t head = iso_events_head(reg);
	cr_expect_eq(ev.bad, 0, "%u bad events; first: %s", ev.bad, ev.why);
	cr_expect_eq(ev.delivered + ev.missed, ev.cursor - ev.start,
		     "events: %llu read + %llu missed != %llu positions passed",
		     (unsigned long long)ev.delivered, (unsigned long long)ev.missed,
		     (unsigned long long)(ev.cursor - ev.start));
	cr_expect_leq(head - ev.cursor, kills,
		      "%llu events left pending after the storm",
		      (unsigned long long)(head - ev.cursor));
	cr_expect_gt(ev.delivered, 0, "a storm of breaker flips made no event");

	fprintf(stderr,
		"chaos: kill storm: %u writers, %u kills (%u mid-record) in %.2f s, "
		"%llu acked ops; worst op: survivors %.3f ms, killed %.3f ms; "
		"events %llu read, %llu missed, %llu pending; dead reservations %u\n",
		writers, kills, in_flight_kills, secs, (unsigned long long)ops,
		(double)worst_survivor / 1e6, (double)worst_killed / 1e6,
		(unsigned long long)ev.delivered, (unsigned long long)ev.missed,
		(unsigned long long)(head - ev.cursor), dead_reservations);

	iso_detach(reg);
	iso_unlink(sh->seg);
	chaos_shared_free(pids, sizeof(pid_t) * KS_MAX_PIDS);
	chaos_shared_free(sh, sizeof(*sh));
}

/* ------------------------------------------------------------------ */

struct prober_arg {
	const char *seg;
	uint32_t *granted; /* read by the test after reaping the prober */
};

static int prober(void *p)
{
	struct prober_arg *pa = p;
	iso_reg_t *reg;
	iso_account_t h;
	iso_permit_t permit;

	if (iso_attach(pa->seg, NULL, &reg) ||
	    iso_lookup(reg, "user", "prober", "KRAKEN", &h))
		return 2;
	if (iso_acquire(&h, &permit) != 0 || !(permit.flags & ISO_PERMIT_PROBE))
		return 3;
	/* release: the flag is in memory only after the permit was taken,
	 * the one order the test needs (it reads the flag after reaping this
	 * process); seq_cst, as it was, added nothing a lone store uses. */
	iso_store32_release(pa->granted, 1);
	/* Die holding the only probe permit, its outcome never recorded. */
	raise(SIGKILL);
	return 4;
}

/* SPEC [B5]: a prober SIGKILLed with its permit frees it after
 * probe_timeout_ms; the breaker is not stuck in HALF_OPEN. */
Test(chaos, killed_prober_frees_its_permit_after_probe_timeout)
{
	char seg[64];
	struct iso_config cfg;
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 8, .defaults = &cfg };
	uint32_t *granted = chaos_shared_alloc(sizeof(uint32_t));
	struct prober_arg pa = { seg, granted };
	iso_reg_t *reg;
	iso_account_t h;
	iso_permit_t permit;
	int status, rc;

	chaos_segname(seg, sizeof(seg), "chaos");
	iso_config_default(&cfg);
	cfg.failure_threshold = 1;
	cfg.half_open_max_calls = 1;
	cfg.open_timeout_ms = 20;
	cfg.max_open_timeout_ms = 20;
	cfg.probe_timeout_ms = 200;
	cr_assert_eq(iso_attach(seg, &opts, &reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(reg, "user", "prober", "KRAKEN", &h), 0);
	cr_assert_eq(iso_record_failure(&h, NULL, ISO_FAIL_NETWORK, 0), 0);
	chaos_sleep_us(40000); /* past open_timeout: probes allowed */

	pid_t pid = chaos_fork(prober, &pa);
	cr_assert_eq(chaos_wait(pid, 10000, &status), 0);
	cr_assert_eq(chaos_exit_code(status), 1000 + SIGKILL,
		     "prober exit %d", chaos_exit_code(status));
	cr_assert_eq(*granted, 1);

	/* The dead prober's permit is still taken... */
	uint64_t t0 = tc_mono_ns();
	rc = iso_acquire(&h, &permit);
	if (tc_mono_ns() - t0 < 150000000ull) {
		cr_expect_eq(rc, ISO_EOPEN, "a second probe was granted at once");
		cr_expect_eq(permit.reason, ISO_REASON_HALF_OPEN_LIMIT);
	}
	/* ...and free once probe_timeout_ms has passed. */
	chaos_sleep_us(400000);
	rc = iso_acquire(&h, &permit);
	cr_expect_eq(rc, 0, "breaker stuck after a prober died: %s (%s)",
		     iso_strerror(rc), iso_last_error());
	cr_expect(permit.flags & ISO_PERMIT_PROBE);
	cr_expect_eq(iso_record_success(&h, &permit, 1000), 0);

	iso_detach(reg);
	iso_unlink(seg);
	chaos_shared_free(granted, sizeof(uint32_t));
}
