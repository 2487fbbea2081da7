/*
 * bench_guard.c - what a guarded call costs over the bare pair it wraps.
 *
 * iso_call does, per operation: iso_acquire, two iso_now_ns() reads around
 * the callback, an indirect call, and iso_record_* with the measured op_ns.
 * The baselines are the same work spelled by hand, in the same process and
 * the same runs: the bare iso_acquire + iso_record_success pair (no timing,
 * the [P1] figure), and the pair with the two clock reads and op_ns added
 * (what a careful caller writes without iso_call). The difference to the
 * second is the price of the wrapper itself; the difference to the first
 * is mostly the clock.
 *
 * Each variant runs in batches bracketed by two clock reads, many batches
 * per run, runs interleaved across variants so a noisy moment hits all.
 * Reported: median over runs of each run's median ns/op, p99 of ns/op over
 * every batch, the spread of run medians, and the differences.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "common/bench.h"
#include "isoreg.h"

#define BATCH 1000
#define FAIL_BATCH 200 /* < failure_threshold 255: never trips */

struct bench_ctx {
	iso_reg_t *reg;
	iso_account_t acct, fail_acct;
	int errors;
	int last_err;
};

static inline void note_rc(struct bench_ctx *c, int rc, int want)
{
	if (__builtin_expect(rc != want, 0)) {
		c->errors++;
		c->last_err = rc;
	}
}

/* The guarded operations: as little as an operation can be. */
static int op_ok(void *ctx, struct iso_outcome *out)
{
	(void)ctx;
	iso_outcome_success(out);
	return 0;
}

static int op_econnreset(void *ctx, struct iso_outcome *out)
{
	(void)ctx;
	iso_outcome_errno(out, ECONNRESET);
	return 0;
}

/* ------------------------------------------------------- the variants */

static void clock_only(struct bench_ctx *c, uint32_t n)
{
	uint64_t s = 0;
	(void)c;
	for (uint32_t i = 0; i < n; i++)
		s += iso_now_ns();
	bench_keep(s);
}

static void bare_pair(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->acct, &p);
		if (rc == 0)
			rc = iso_record_success(&c->acct, &p, 0);
		note_rc(c, rc, 0);
	}
}

static void bare_pair_timed(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		struct iso_outcome out;
		int rc = iso_acquire(&c->acct, &p);
		if (rc == 0) {
			uint64_t t0 = iso_now_ns();
			op_ok(NULL, &out);
			rc = iso_record_success(&c->acct, &p,
						iso_now_ns() - t0);
		}
		note_rc(c, rc, 0);
	}
}

static void call_ok(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct iso_call_result r;
		note_rc(c, iso_call(&c->acct, op_ok, NULL, &r), 0);
	}
}

static void call_ok_nores(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		note_rc(c, iso_call(&c->acct, op_ok, NULL, NULL), 0);
}

static void guard_pair(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct iso_guard g;
		struct iso_outcome out;
		int rc = iso_guard_begin(&c->acct, &g);
		if (rc == 0) {
			iso_outcome_success(&out);
			rc = iso_guard_end(&g, &out);
		}
		note_rc(c, rc, 0);
	}
}

static void guarded_block(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct iso_guard g;
		ISO_GUARDED(&c->acct, &g) {
			iso_outcome_success(&g.outcome);
		}
		note_rc(c, g.rc ? g.rc : g.record_rc, 0);
	}
}

static void bare_fail(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		iso_permit_t p;
		int rc = iso_acquire(&c->fail_acct, &p);
		if (rc == 0)
			rc = iso_record_failure(&c->fail_acct, &p,
						ISO_FAIL_NETWORK, 0);
		note_rc(c, rc, 0);
	}
}

static void call_fail(struct bench_ctx *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		note_rc(c, iso_call(&c->fail_acct, op_econnreset, NULL, NULL),
			ISO_CALL_FAILED);
}

static void fail_prep(struct bench_ctx *c)
{
	note_rc(c, iso_reset(&c->fail_acct), 0);
}

enum { V_CLOCK, V_BARE, V_BARE_TIMED, V_CALL, V_CALL_NORES, V_GUARD,
       V_BLOCK, V_BARE_FAIL, V_CALL_FAIL, NVAR };

/* cmp: the bare baseline (+ns/bare, /bare), the timed one (+ns/timed). */
static struct bench_variant variants[NVAR] = {
	[V_CLOCK] = { "context: iso_now_ns()", clock_only, NULL, BATCH,
		      { -1, -1 } },
	[V_BARE] = { "bare acquire+record_success", bare_pair, NULL, BATCH,
		     { -1, -1 } },
	[V_BARE_TIMED] = { "bare acquire+2 clock reads+record op_ns",
			   bare_pair_timed, NULL, BATCH, { V_BARE, -1 } },
	[V_CALL] = { "iso_call success", call_ok, NULL, BATCH,
		     { V_BARE, V_BARE_TIMED } },
	[V_CALL_NORES] = { "iso_call success, res NULL", call_ok_nores, NULL,
			   BATCH, { V_BARE, V_BARE_TIMED } },
	[V_GUARD] = { "iso_guard_begin/end success", guard_pair, NULL, BATCH,
		      { V_BARE, V_BARE_TIMED } },
	[V_BLOCK] = { "ISO_GUARDED block success", guarded_block, NULL, BATCH,
		      { V_BARE, V_BARE_TIMED } },
	[V_BARE_FAIL] = { "bare acquire+record_failure", bare_fail, fail_prep,
			  FAIL_BATCH, { -1, -1 } },
	[V_CALL_FAIL] = { "iso_call failure (errno classified)", call_fail,
			  fail_prep, FAIL_BATCH, { V_BARE_FAIL, -1 } },
};

static void setup(struct bench_ctx *c, const char *seg)
{
	struct iso_config cfg;
	int rc;

	c->reg = bench_segment_create(seg, 64, NULL);
	if ((rc = iso_register(c->reg, "user", "guard", "KRAKEN", &c->acct)) ||
	    (rc = iso_register(c->reg, "user", "guardfail", "KRAKEN",
			       &c->fail_acct)))
		bench_die("iso_register: %s (%s)", iso_strerror(rc),
			  iso_last_error());
	iso_config_default(&cfg);
	cfg.failure_threshold = ISO_THRESHOLD_MAX;
	if ((rc = iso_configure(&c->fail_acct, &cfg)))
		bench_die("iso_configure: %s (%s)", iso_strerror(rc),
			  iso_last_error());
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	static struct bench_ctx c;
	char seg[64];

	bench_parse_args(argc, argv, "bench_guard", 7, &o);
	bench_segment_name(seg, sizeof(seg), "guard");
	int ncpu = bench_ncpus();
	bool pinned = ncpu > 1 && bench_pin(ncpu - 1);
	setup(&c, seg);

	double target_ns = bench_batched_run(&c, variants, NVAR, &o);
	if (c.errors)
		bench_die("%d guarded calls went wrong, last: %s", c.errors,
			  iso_strerror(c.last_err));

	static const struct bench_col cols[] = {
		{ "median", BENCH_NUM },   { "p99", BENCH_NUM },
		{ "min", BENCH_NUM },      { "max", BENCH_NUM },
		{ "+ns/bare", BENCH_NUM }, { "/bare", BENCH_RATIO },
		{ "+ns/timed", BENCH_NUM },
	};
	static struct bench_table t;
	double med[NVAR];
	bench_table_init(&t, "bench_guard", 7, cols);
	bench_batched_rows(&t, variants, NVAR, &o, med);
	for (int v = 0; v < NVAR; v++) {
		const int *cmp = variants[v].cmp;
		if (cmp[0] >= 0) {
			t.rows[v].v[4] = med[v] - med[cmp[0]];
			t.rows[v].v[5] = med[v] / med[cmp[0]];
		}
		if (cmp[1] >= 0)
			t.rows[v].v[6] = med[v] - med[cmp[1]];
	}
	bench_table_note(&t, "%d runs; batches of %d calls (%d for failures), "
			 "~%.0f ms per variant per run", o.runs, BATCH,
			 FAIL_BATCH, target_ns / 1e6);
	bench_table_note(&t, "%s", BENCH_BATCHED_NOTE);
	bench_table_note(&t, "+ns/bare, /bare: against the untimed bare pair "
			 "(the failure row: against bare record_failure)");
	bench_table_note(&t, "+ns/timed: against the bare pair with the same "
			 "two iso_now_ns() reads and op_ns: the wrapper alone");
	bench_table_note(&t, "failures: account with failure_threshold 255, "
			 "reset before every batch, outside the timed region");
	bench_table_note(&t, "%s", pinned ? "pinned to the last CPU "
			 "(sched_setaffinity)" : "not pinned (one CPU)");
	bench_table_print(&t, &o);

	bench_batched_free(variants, NVAR);
	iso_detach(c.reg);
	iso_unlink(seg);
	return 0;
}
