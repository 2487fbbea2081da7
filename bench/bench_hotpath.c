/*
 * bench_hotpath.c - what one call costs on one thread [P1][P3].
 *
 * Each variant runs in batches (1000 calls, 200 for failures) bracketed by
 * two clock reads, many batches per run, several runs interleaved across
 * variants so that a noisy moment hits them all alike. Reported: the median
 * over runs of each run's median ns/op, the p99 of ns/op over every batch
 * of every run, and the spread (min, max) of the run medians. Baselines are
 * measured in the same process and the same runs: the floor (one atomic add
 * on a MAP_SHARED line) and the reference's design (a robust
 * process-shared mutex per account, bench/common/mutex_baseline.c).
 */
#include <math.h>
#include <stdio.h>

#include "atomic.h"
#include "common/bench.h"
#include "common/mutex_baseline.h"
#include "isoreg.h"

#define NKEYS 1024
#define NBUD 64 /* budgeted accounts, one per batch in turn: see bud_prep */
#define FAIL_BATCH 200 /* < failure_threshold 255: never trips */

struct bench_ctx {
	iso_reg_t *reg;
	iso_account_t acct, fail_acct;
	iso_reg_t *hreg;       /* a segment where another broker is halted */
	iso_account_t hacct;
	struct mb_registry *mb, *mbf;
	int mb_acct, mbf_acct;
	uint64_t *floor;
	char ids[NKEYS][16];
	const char *brokers[NKEYS];
	uint32_t key_i;
	iso_reg_t *breg;                 /* a segment where budgets exist */
	iso_account_t bud[NBUD], nobud;  /* with a budget; without, beside */
	iso_reg_t *wreg;                 /* a segment with windows [B7] */
	iso_account_t win;               /* window 60 s, trips at 50 % */
	uint32_t bud_i;
	int errors;
	int last_err;
};

/* ------------------------------------------------------- the variants */

static void floor_add(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		iso_add64_relaxed(c->floor, 1); /* the floor: one relaxed add */
}

static void clock_read(struct bench_ctx *c, uint32_t n)
{
	uint64_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += tc_mono_ns();
	bench_keep(s);
}

static inline void note_rc(struct bench_ctx *c, int rc)
{
	if (__builtin_expect(rc != 0, 0)) {
		c->errors++;
		c->last_err = rc;
	}
}

static void iso_acq_succ(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->acct, &p);
		if (rc == 0)
			rc = iso_record_success(&c->acct, &p, 0);
		note_rc(c, rc);
	}
}

/* op_ns as an application would pass it: the histogram and EMA move. */
static void iso_acq_succ_timed(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->acct, &p);
		if (rc == 0)
			rc = iso_record_success(&c->acct, &p,
						1500000 + (i & 1023) * 977);
		note_rc(c, rc);
	}
}

/*
 * [B9] acquire on an account with a budget (rate 1e6/s, burst 1e6): one
 * more clock read and one CAS. A batch spends 1000 units in ~40 us, so
 * each batch takes the next of NBUD accounts, which has refilled since
 * its last turn: every timed call is admitted, none refused.
 */
static void bud_prep(struct bench_ctx *c)
{
	c->bud_i = (c->bud_i + 1) % NBUD;
}

static void iso_acq_budget(struct bench_ctx *c, uint32_t n)
{
	const iso_account_t *a = &c->bud[c->bud_i];
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		note_rc(c, iso_acquire(a, &p));
	}
}

/* The same segment, an account without a budget: the header's feature
 * bit is up, so acquire also reads the account's override flag. */
static void iso_acq_nobudget(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		note_rc(c, iso_acquire(&c->nobud, &p));
	}
}

/* [B7] the same pair on an account with a rolling window: a clock read,
 * its config, one add to the current bucket and a sum of the calls. */
static void iso_acq_succ_win(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->win, &p);
		if (rc == 0)
			rc = iso_record_success(&c->win, &p, 0);
		note_rc(c, rc);
	}
}

/* 1 in 4 fails with a window: every failure also sums the window and
 * judges it (25 % < 50 %: never trips). */
static void iso_flaky_win(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->win, &p);
		if (rc == 0)
			rc = (i & 3) == 3
				? iso_record_failure(&c->win, &p, ISO_FAIL_API, 0)
				: iso_record_success(&c->win, &p, 0);
		note_rc(c, rc);
	}
}

static void iso_acq_only(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		note_rc(c, iso_acquire(&c->acct, &p));
	}
}

/* Acquire while some other broker is halted (issue 13): the account's own
 * broker is not, so every call is allowed, after a look at the table. */
static void iso_acq_other_halted(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		note_rc(c, iso_acquire(&c->hacct, &p));
	}
}

static void iso_succ_only(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		note_rc(c, iso_record_success(&c->acct, NULL, 0));
}

static void iso_acq_fail(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->fail_acct, &p);
		if (rc == 0)
			rc = iso_record_failure(&c->fail_acct, &p,
						ISO_FAIL_API, 0);
		note_rc(c, rc);
	}
}

/*
 * A flaky account: every fourth outcome a failure. With degrade_after 1
 * and success_threshold 3 the account goes DEGRADED and back to HEALTHY
 * every four calls, so nearly every outcome moves the breaker and two in
 * four are health transitions (each one an event in the ring).
 */
static void iso_flaky(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->fail_acct, &p);
		if (rc == 0 && (i & 3) == 3)
			rc = iso_record_failure(&c->fail_acct, &p,
						ISO_FAIL_API, 0);
		else if (rc == 0)
			rc = iso_record_success(&c->fail_acct, &p, 0);
		note_rc(c, rc);
	}
}

static void iso_fail_prep(struct bench_ctx *c)
{
	note_rc(c, iso_reset(&c->fail_acct));
}

static void do_iso_lookup(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = c->key_i++ & (NKEYS - 1);
		iso_account_t a;
		note_rc(c, iso_lookup(c->reg, "user", c->ids[k],
				      c->brokers[k], &a));
	}
}

static void iso_status_one(struct bench_ctx *c, uint32_t n)
{
	struct iso_status st;
	for (uint32_t i = 0; i < n; i++) {
		note_rc(c, iso_status(&c->acct, &st));
		bench_keep(st.successes);
	}
}

/* The light status (issue 19): breaker and counters, as mutex status. */
static void iso_status_lite_one(struct bench_ctx *c, uint32_t n)
{
	struct iso_status_lite st;
	for (uint32_t i = 0; i < n; i++) {
		note_rc(c, iso_status_lite(&c->acct, &st));
		bench_keep(st.successes);
	}
}

static void mb_acq_succ(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (mb_can_execute(c->mb, c->mb_acct, NULL))
			mb_record_success(c->mb, c->mb_acct, 0);
}

static void mb_acq_succ_timed(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (mb_can_execute(c->mb, c->mb_acct, NULL))
			mb_record_success(c->mb, c->mb_acct,
					  1500000 + (i & 1023) * 977);
}

static void mb_acq_fail(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (mb_can_execute(c->mbf, c->mbf_acct, NULL))
			mb_record_failure(c->mbf, c->mbf_acct, ISO_FAIL_API, 0);
}

static void mb_flaky(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!mb_can_execute(c->mbf, c->mbf_acct, NULL))
			continue;
		if ((i & 3) == 3)
			mb_record_failure(c->mbf, c->mbf_acct, ISO_FAIL_API, 0);
		else
			mb_record_success(c->mbf, c->mbf_acct, 0);
	}
}

static void mb_fail_prep(struct bench_ctx *c)
{
	mb_reset(c->mbf, c->mbf_acct);
}

static void mb_lookup_key(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = c->key_i++ & (NKEYS - 1);
		if (mb_lookup(c->mb, "user", c->ids[k], c->brokers[k]) < 0)
			note_rc(c, ISO_ENOENT);
	}
}

static void mb_status_one(struct bench_ctx *c, uint32_t n)
{
	struct mb_status st;
	for (uint32_t i = 0; i < n; i++) {
		mb_status(c->mb, c->mb_acct, &st);
		bench_keep(st.successes);
	}
}

/* cmp[0]: the mutex variant it is compared with (the /mutex column). */
#define V(n, f, p, b, ref)                                                   \
	{ .name = (n), .fn = (f), .prep = (p), .batch = (b),                 \
	  .cmp = { (ref), -1 } }
static struct bench_variant variants[] = {
	V("floor: atomic add, MAP_SHARED line", floor_add, NULL, 1000, -1),
	V("context: clock_gettime(MONOTONIC)", clock_read, NULL, 1000, -1),
	V("isoreg acquire+record_success", iso_acq_succ, NULL, 1000, 10),
	V("isoreg acquire+record_success op_ns", iso_acq_succ_timed, NULL, 1000, 11),
	V("isoreg acquire", iso_acq_only, NULL, 1000, -1),
	V("isoreg record_success (no permit)", iso_succ_only, NULL, 1000, -1),
	V("isoreg acquire+record_failure", iso_acq_fail, iso_fail_prep, FAIL_BATCH, 12),
	V("isoreg acquire+record, 1 in 4 fails", iso_flaky, iso_fail_prep, 1000, 13),
	V("isoreg lookup by key", do_iso_lookup, NULL, 1000, 14),
	V("isoreg status", iso_status_one, NULL, 1000, 15),
	V("mutex acquire+record_success", mb_acq_succ, NULL, 1000, -1),
	V("mutex acquire+record_success op_ns", mb_acq_succ_timed, NULL, 1000, -1),
	V("mutex acquire+record_failure", mb_acq_fail, mb_fail_prep, FAIL_BATCH, -1),
	V("mutex acquire+record, 1 in 4 fails", mb_flaky, mb_fail_prep, 1000, -1),
	V("mutex lookup by key", mb_lookup_key, NULL, 1000, -1),
	V("mutex status", mb_status_one, NULL, 1000, -1),
	V("isoreg acquire, budget 1e6/s (vs acquire)", iso_acq_budget, bud_prep, 1000, 4),
	V("isoreg acquire, no budget, budgets in segment", iso_acq_nobudget, NULL, 1000, 4),
	V("isoreg acquire, another broker halted", iso_acq_other_halted, NULL, 1000, -1),
	V("isoreg acquire+record_success, window (vs off)", iso_acq_succ_win, NULL, 1000, 2),
	V("isoreg 1 in 4 fails, window (vs off)", iso_flaky_win, NULL, 1000, 7),
	V("isoreg status_lite", iso_status_lite_one, NULL, 1000, 15),
};
#define NVAR (int)(sizeof(variants) / sizeof(variants[0]))

static void setup(struct bench_ctx *c, const char *seg, const char *hseg)
{
	int rc;
	c->hreg = bench_segment_create(hseg, 64, NULL);
	if ((rc = iso_register(c->hreg, "user", "hot", "KRAKEN", &c->hacct)) ||
	    (rc = iso_halt_broker(c->hreg, "BINANCE", NULL)))
		bench_die("halted-broker segment: %s", iso_strerror(rc));
	c->reg = bench_segment_create(seg, 4096, NULL);
	if ((rc = iso_register(c->reg, "user", "hot", "KRAKEN", &c->acct)) ||
	    (rc = iso_register(c->reg, "user", "fail", "KRAKEN",
			       &c->fail_acct)))
		bench_die("iso_register: %s", iso_strerror(rc));
	struct iso_config cfg;
	iso_config_default(&cfg);
	cfg.failure_threshold = ISO_THRESHOLD_MAX;
	if ((rc = iso_configure(&c->fail_acct, &cfg)))
		bench_die("iso_configure: %s (%s)", iso_strerror(rc),
			  iso_last_error());

	struct mb_config mc;
	mb_config_default(&mc);
	c->mb = mb_create(4096, &mc);
	mc.failure_threshold = ISO_THRESHOLD_MAX;
	c->mbf = mb_create(16, &mc);
	c->mb_acct = mb_register(c->mb, "user", "hot", "KRAKEN");
	c->mbf_acct = mb_register(c->mbf, "user", "fail", "KRAKEN");

	static const char *const brokers[] = { "KRAKEN", "COINBASE", "BINANCE",
					       "BITSTAMP" };
	for (int k = 0; k < NKEYS; k++) {
		iso_account_t a;
		snprintf(c->ids[k], sizeof(c->ids[k]), "lk%04d", k);
		c->brokers[k] = brokers[k % 4];
		if ((rc = iso_register(c->reg, "user", c->ids[k], c->brokers[k],
				       &a)))
			bench_die("iso_register: %s", iso_strerror(rc));
		if (mb_register(c->mb, "user", c->ids[k], c->brokers[k]) < 0)
			bench_die("mb_register failed");
	}
	c->floor = bench_shared_alloc(4096);

	char bseg[80];
	snprintf(bseg, sizeof(bseg), "%s-budget", seg);
	c->breg = bench_segment_create(bseg, 256, NULL);
	iso_config_default(&cfg);
	cfg.rate_per_s = 1e6;
	cfg.burst = 1000000;
	for (int k = 0; k < NBUD; k++) {
		char id[16];
		snprintf(id, sizeof(id), "bud%02d", k);
		if ((rc = iso_register(c->breg, "user", id, "KRAKEN", &c->bud[k])) ||
		    (rc = iso_configure(&c->bud[k], &cfg)))
			bench_die("budget account: %s (%s)", iso_strerror(rc),
				  iso_last_error());
	}
	if ((rc = iso_register(c->breg, "user", "nobud", "KRAKEN", &c->nobud)))
		bench_die("iso_register: %s", iso_strerror(rc));

	snprintf(bseg, sizeof(bseg), "%s-window", seg);
	iso_config_default(&cfg);
	cfg.failure_threshold = ISO_THRESHOLD_MAX;
	cfg.window_ms = 60000;
	cfg.failure_rate_threshold = 50;
	c->wreg = bench_segment_create(bseg, 256, &cfg);
	if ((rc = iso_register(c->wreg, "user", "win", "KRAKEN", &c->win)))
		bench_die("window account: %s (%s)", iso_strerror(rc),
			  iso_last_error());
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	bench_parse_args(argc, argv, "bench_hotpath", 7, &o);
	static struct bench_ctx c;
	char seg[64], hseg[64];
	bench_segment_name(seg, sizeof(seg), "hotpath");
	bench_segment_name(hseg, sizeof(hseg), "hotpath-halted");
	int ncpu = bench_ncpus();
	bool pinned = ncpu > 1 && bench_pin(ncpu - 1);
	setup(&c, seg, hseg);

	double target_ns = bench_batched_run(&c, variants, NVAR, &o);
	if (c.errors)
		bench_die("%d iso_ calls failed, last: %s", c.errors,
			  iso_strerror(c.last_err));

	static const struct bench_col cols[] = {
		{ "median", BENCH_NUM }, { "p99", BENCH_NUM },
		{ "min", BENCH_NUM },    { "max", BENCH_NUM },
		{ "/floor", BENCH_RATIO }, { "/mutex", BENCH_RATIO },
	};
	static struct bench_table t;
	bench_table_init(&t, "bench_hotpath", 6, cols);
	double med[NVAR];
	bench_batched_rows(&t, variants, NVAR, &o, med);
	for (int v = 1; v < NVAR; v++)
		t.rows[v].v[4] = med[v] / med[0];
	for (int v = 0; v < NVAR; v++)
		if (variants[v].cmp[0] >= 0)
			t.rows[v].v[5] = med[v] / med[variants[v].cmp[0]];

	bench_table_note(&t, "%d runs; a run = %s batches of 1000 calls (200 "
			 "for failures), ~%.0f ms per variant",
			 o.runs, "50..40000", target_ns / 1e6);
	bench_table_note(&t, "%s", BENCH_BATCHED_NOTE);
	bench_table_note(&t, "record_failure: account with failure_threshold "
			 "255, reset before every batch of 200, outside the "
			 "timed region (never trips)");
	bench_table_note(&t, "1 in 4 fails: same account and config, every "
			 "4th outcome a failure: HEALTHY -> DEGRADED -> HEALTHY "
			 "every 4 calls");
	bench_table_note(&t, "op_ns rows pass a measured duration (~1.5 ms), "
			 "so histogram/EMA (isoreg) and avg/EMA (mutex) move");
	bench_table_note(&t, "lookup: %d accounts, cycled; isoreg = normalise, "
			 "hash, per-process RCU index, full key and generation "
			 "check; mutex = registry lock + hash table", NKEYS);
	bench_table_note(&t, "status: iso_status = the full snapshot (key, "
			 "config, effective breaker, counters, histogram, p50/p99, "
			 "budget: 504 bytes); iso_status_lite = breaker, health, "
			 "retry_in, counters by type, last success/failure, EMA; "
			 "mutex status = breaker, health, counters by type, last "
			 "success/failure, avg/EMA under the account lock (152 "
			 "bytes)");
	bench_table_note(&t, "another broker halted: acquire of a KRAKEN account "
			 "while BINANCE is halted in its segment (the halt table "
			 "is read; with no halt, one relaxed load)");
	bench_table_note(&t, "mutex = robust process-shared pthread mutex per "
			 "account, reference logic, wall clock read per record");
	bench_table_note(&t, "budget rows: own segment (budgets configured "
			 "there); /mutex column = ratio to 'isoreg acquire' "
			 "(no budget, no budgets in its segment)");
	bench_table_note(&t, "window rows: own segment with the window region, "
			 "window_ms 60000, failure_rate_threshold 50, "
			 "failure_threshold 255; /mutex column = ratio to the "
			 "same row without a window");
	bench_table_note(&t, "%s", pinned ? "pinned to the last CPU "
			 "(sched_setaffinity)" : "not pinned (one CPU)");
	bench_table_print(&t, &o);

	iso_detach(c.reg);
	iso_unlink(seg);
	iso_detach(c.hreg);
	iso_unlink(hseg);
	iso_detach(c.breg);
	iso_detach(c.wreg);
	{
		char bseg[80];
		snprintf(bseg, sizeof(bseg), "%s-budget", seg);
		iso_unlink(bseg);
		snprintf(bseg, sizeof(bseg), "%s-window", seg);
		iso_unlink(bseg);
	}
	mb_destroy(c.mb);
	mb_destroy(c.mbf);
	bench_batched_free(variants, NVAR);
	return 0;
}
