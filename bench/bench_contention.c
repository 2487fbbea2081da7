/*
 * bench_contention.c - throughput as workers are added: 1, 2, 4 and 8
 * forked processes or threads on ONE account, and on disjoint accounts
 * (one each), for isoreg, the robust-mutex baseline and the floor (a bare
 * atomic add on a shared line, or on a line per worker).
 *
 * On a 2-core machine 4 and 8 workers are more than the cores: the
 * scheduler preempts workers mid-call. isoreg has nothing to hold when
 * preempted; the mutex baseline can be preempted holding the account lock,
 * and then every other worker on that account waits for it to run again.
 *
 * Each worker does acquire + record_success (op_ns = 0) until the driver
 * raises the stop flag; throughput is total calls over the driver's window.
 * The "25% fail" rows record a failure every fourth call instead: a flaky
 * account, where nearly every outcome moves the breaker (isoreg: a CAS on
 * the breaker word, which workers on one account contend for). Both
 * designs use failure_threshold 255 there, so the breaker never trips.
 */
#include <ck_pr.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench.h"
#include "common/mutex_baseline.h"
#include "isoreg.h"

#define MAXW 8
#define CHECK_EVERY 64

enum impl { IMPL_ISO, IMPL_MUTEX, IMPL_FLOOR };
enum mode { MODE_PROCS, MODE_THREADS };

static const char *const impl_name[] = { "isoreg", "mutex", "floor" };
static const char *const mode_name[] = { "procs", "threads" };

struct result {
	uint64_t ops;
	int32_t err;
	uint8_t _pad[52];
} __attribute__((aligned(64)));

struct shared {
	struct bench_barrier bar;
	struct bench_flag stop;
	struct result res[MAXW];
	uint64_t lines[MAXW][8] __attribute__((aligned(64)));
};

struct config {
	enum impl impl;
	enum mode mode;
	bool one; /* all workers on one account, else one account each */
	bool mixed; /* every fourth outcome a failure */
	int n;
	double rate[64]; /* Mops/s per run */
};

static struct shared *sh;
static struct mb_registry *mb;
static int mb_accts[MAXW + 1]; /* [MAXW] is the shared account */
static char seg[64];
static uint64_t window_ns;

/* One worker's loop; @acct/@mbi/@line say what it hammers. */
struct worker {
	const struct config *cfg;
	int idx;
	iso_account_t acct;
	int mbi;
	uint64_t *line;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t ops = 0;
	int err = 0;
	bench_barrier_wait(&sh->bar);
	while (!bench_flag_get(&sh->stop)) {
		switch (w->cfg->impl) {
		case IMPL_ISO:
			for (int i = 0; i < CHECK_EVERY; i++) {
				iso_permit_t p;
				int rc = iso_acquire(&w->acct, &p);
				if (rc == 0 && w->cfg->mixed && (i & 3) == 3)
					rc = iso_record_failure(&w->acct, &p,
								ISO_FAIL_API, 0);
				else if (rc == 0)
					rc = iso_record_success(&w->acct, &p, 0);
				if (rc)
					err = rc;
			}
			break;
		case IMPL_MUTEX:
			for (int i = 0; i < CHECK_EVERY; i++) {
				if (!mb_can_execute(mb, w->mbi, NULL))
					continue;
				if (w->cfg->mixed && (i & 3) == 3)
					mb_record_failure(mb, w->mbi,
							  ISO_FAIL_API, 0);
				else
					mb_record_success(mb, w->mbi, 0);
			}
			break;
		case IMPL_FLOOR:
			for (int i = 0; i < CHECK_EVERY; i++)
				ck_pr_add_64(w->line, 1);
			break;
		}
		ops += CHECK_EVERY;
	}
	sh->res[w->idx].ops = ops;
	sh->res[w->idx].err = err;
	return NULL;
}

static int resolve(struct worker *w, iso_reg_t *reg)
{
	char id[16];
	if (w->cfg->one)
		snprintf(id, sizeof(id), "shared");
	else
		snprintf(id, sizeof(id), "w%d", w->idx);
	w->mbi = mb_accts[w->cfg->one ? MAXW : w->idx];
	w->line = sh->lines[w->cfg->one ? 0 : w->idx];
	if (reg)
		return iso_lookup(reg, "user", id, "KRAKEN", &w->acct);
	return 0;
}

static iso_reg_t *attach_if_iso(const struct config *cfg)
{
	if (cfg->impl != IMPL_ISO)
		return NULL;
	iso_reg_t *reg;
	int rc = iso_attach(seg, NULL, &reg);
	if (rc)
		bench_die("iso_attach %s: %s", seg, iso_strerror(rc));
	return reg;
}

/* A forked worker process: one worker. */
static int proc_main(void *arg, int idx)
{
	const struct config *cfg = arg;
	iso_reg_t *reg = attach_if_iso(cfg);
	struct worker w = { .cfg = cfg, .idx = idx };
	int rc = resolve(&w, reg);
	if (rc)
		bench_die("worker lookup: %s", iso_strerror(rc));
	work(&w);
	if (reg)
		iso_detach(reg);
	return 0;
}

/* A forked process holding cfg->n threads that share one attachment. */
static int threads_main(void *arg, int unused)
{
	const struct config *cfg = arg;
	iso_reg_t *reg = attach_if_iso(cfg);
	struct worker w[MAXW];
	pthread_t th[MAXW];
	for (int i = 0; i < cfg->n; i++) {
		w[i] = (struct worker){ .cfg = cfg, .idx = i };
		int rc = resolve(&w[i], reg);
		if (rc)
			bench_die("worker lookup: %s", iso_strerror(rc));
	}
	for (int i = 0; i < cfg->n; i++)
		if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
			bench_die("pthread_create failed");
	for (int i = 0; i < cfg->n; i++)
		pthread_join(th[i], NULL);
	if (reg)
		iso_detach(reg);
	return 0;
}

static double measure(const struct config *cfg)
{
	pid_t pids[MAXW];
	int np = 0;
	memset(sh->res, 0, sizeof(sh->res));
	bench_flag_set(&sh->stop, 0);
	bench_barrier_init(&sh->bar, (uint32_t)cfg->n + 1);
	if (cfg->mode == MODE_THREADS)
		pids[np++] = bench_fork(threads_main, (void *)cfg, 0);
	else
		for (int i = 0; i < cfg->n; i++)
			pids[np++] = bench_fork(proc_main, (void *)cfg, i);
	bench_barrier_wait(&sh->bar);
	uint64_t t0 = tc_mono_ns();
	bench_sleep_ns(window_ns);
	bench_flag_set(&sh->stop, 1);
	uint64_t t1 = tc_mono_ns();
	int bad = 0;
	for (int i = 0; i < np; i++)
		bad |= bench_wait(pids[i]);
	uint64_t total = 0;
	for (int i = 0; i < cfg->n; i++) {
		total += sh->res[i].ops;
		if (sh->res[i].err)
			bench_die("worker %d: %s", i,
				  iso_strerror(sh->res[i].err));
	}
	if (bad)
		bench_die("a worker failed");
	return (double)total / ((double)(t1 - t0) / 1e9) / 1e6;
}

static int setup_segment(void *arg, int idx)
{
	struct iso_config cfg;
	iso_config_default(&cfg);
	cfg.failure_threshold = ISO_THRESHOLD_MAX; /* "25% fail" never trips */
	iso_reg_t *reg = bench_segment_create(seg, 64, &cfg);
	iso_account_t a;
	int rc;
	if ((rc = iso_register(reg, "user", "shared", "KRAKEN", &a)))
		bench_die("iso_register: %s", iso_strerror(rc));
	for (int i = 0; i < MAXW; i++) {
		char id[16];
		snprintf(id, sizeof(id), "w%d", i);
		if ((rc = iso_register(reg, "user", id, "KRAKEN", &a)))
			bench_die("iso_register: %s", iso_strerror(rc));
	}
	iso_detach(reg);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	bench_parse_args(argc, argv, "bench_contention", 7, &o);
	if (o.runs > 64)
		o.runs = 64;
	window_ns = o.quick ? 20000000ull : 150000000ull;
	int ncpu = bench_ncpus();

	/*
	 * The driver never attaches the segment itself: a child creates it
	 * and every worker attaches fresh, as unrelated processes do (and so
	 * no RCU state is ever inherited across fork).
	 */
	bench_segment_setup(seg, sizeof(seg), "contention", setup_segment);
	sh = bench_shared_alloc(sizeof(*sh));
	struct mb_config mc;
	mb_config_default(&mc);
	mc.failure_threshold = ISO_THRESHOLD_MAX;
	mb = mb_create(64, &mc);
	mb_accts[MAXW] = mb_register(mb, "user", "shared", "KRAKEN");
	for (int i = 0; i < MAXW; i++) {
		char id[16];
		snprintf(id, sizeof(id), "w%d", i);
		mb_accts[i] = mb_register(mb, "user", id, "KRAKEN");
	}

	static struct config cfgs[64];
	int nc = 0;
	static const int ns[] = { 1, 2, 4, 8 };
	for (int im = 0; im < 3; im++)
		for (int md = 0; md < 2; md++) {
			if (im == IMPL_FLOOR && md == MODE_THREADS)
				continue; /* same instruction either way */
			for (int one = 1; one >= 0; one--)
				for (int k = 0; k < 4; k++) {
					if (!one && ns[k] == 1)
						continue; /* same as one account */
					cfgs[nc++] = (struct config){
						.impl = im, .mode = md,
						.one = one, .n = ns[k] };
				}
		}
	for (int im = IMPL_ISO; im <= IMPL_MUTEX; im++)
		for (int k = 0; k < 4; k++)
			cfgs[nc++] = (struct config){ .impl = im,
						      .mode = MODE_PROCS,
						      .one = true, .mixed = true,
						      .n = ns[k] };

	for (int i = 0; i < nc; i++) /* warm-up: page faults, caches */
		if (cfgs[i].n == 1)
			measure(&cfgs[i]);
	for (int r = 0; r < o.runs; r++)
		for (int i = 0; i < nc; i++)
			cfgs[i].rate[r] = measure(&cfgs[i]);

	static const struct bench_col cols[] = {
		{ "total", BENCH_NUM },  { "min", BENCH_NUM },
		{ "max", BENCH_NUM },    { "per-worker", BENCH_NUM },
		{ "vs N=1", BENCH_RATIO }, { "/mutex", BENCH_RATIO },
	};
	static struct bench_table t;
	bench_table_init(&t, "bench_contention", 6, cols);
	double med[64];
	for (int i = 0; i < nc; i++) {
		struct bench_summary s;
		double tmp[64];
		memcpy(tmp, cfgs[i].rate, sizeof(double) * o.runs);
		bench_summarize(tmp, (size_t)o.runs, &s);
		med[i] = s.median;
	}
	for (int i = 0; i < nc; i++) {
		const struct config *c = &cfgs[i];
		double base1 = NAN, mut = NAN, lo = INFINITY, hi = -INFINITY;
		for (int j = 0; j < nc; j++) {
			const struct config *d = &cfgs[j];
			if (d->impl == c->impl && d->mode == c->mode &&
			    d->mixed == c->mixed && d->n == 1)
				base1 = med[j];
			if (c->impl == IMPL_ISO && d->impl == IMPL_MUTEX &&
			    d->mode == c->mode && d->one == c->one &&
			    d->mixed == c->mixed && d->n == c->n)
				mut = med[i] / med[j];
		}
		for (int r = 0; r < o.runs; r++) {
			lo = fmin(lo, c->rate[r]);
			hi = fmax(hi, c->rate[r]);
		}
		char name[72];
		snprintf(name, sizeof(name), "%s %s %s%s N=%d%s",
			 impl_name[c->impl], mode_name[c->mode],
			 c->one ? "one-account" : "disjoint",
			 c->mixed ? " 25%-fail" : "", c->n,
			 c->n > ncpu ? " (>cores)" : "");
		double vals[6] = { med[i], lo, hi, med[i] / c->n,
				   med[i] / base1, mut };
		bench_table_row(&t, name, "Mops/s", vals);
	}
	bench_table_note(&t, "%d runs of %.0f ms per row, interleaved; total = "
			 "median over runs, min/max = spread of runs",
			 o.runs, (double)window_ns / 1e6);
	bench_table_note(&t, "each call = acquire + record_success (op_ns 0); "
			 "floor = one atomic add per call");
	bench_table_note(&t, "25%%-fail: every 4th call records a failure "
			 "instead (failure_threshold 255 in both designs: no "
			 "trip)");
	bench_table_note(&t, "per-worker = total / N; vs N=1 = total over the "
			 "same variant with 1 worker; /mutex = isoreg / mutex");
	bench_table_note(&t, "%d CPUs; workers not pinned (the scheduler "
			 "places them); (>cores) = oversubscribed", ncpu);
	bench_table_print(&t, &o);
	mb_destroy(mb);
	iso_unlink(seg);
	return 0;
}
