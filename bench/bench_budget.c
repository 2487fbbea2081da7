/*
 * bench_budget.c - a request budget shared by processes [B9]: isoreg's
 * GCRA word (one CAS per admitted acquire) against the lock design, a
 * token bucket under a process-shared robust pthread mutex, with 1 and 2
 * forked processes spending one account's budget.
 *
 * Each run: a fresh account (a full burst), every worker does CALLS
 * acquires from a barrier on; ns/call is the worker's elapsed time over
 * its calls, and the run's figure is the slowest worker's. The rate and
 * burst (1e6/s, 1e6) admit every call of a run, so both designs do the
 * same work: read the clock, decide, write the bucket. Runs alternate
 * between the designs so that a noisy moment hits both alike. (Bytes
 * per account [P5]: bench_scale.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bench.h"
#include "isoreg.h"

#define CALLS 200000u
#define RATE 1e6
#define BURST 1000000u

/* The lock design: a token bucket in shared memory behind a robust mutex. */
struct mutex_bucket {
	pthread_mutex_t mu;
	double tokens;
	uint64_t last_ns;
	uint64_t refused;
};

static void mb_init(struct mutex_bucket *b)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&b->mu, &a);
	pthread_mutexattr_destroy(&a);
	b->tokens = BURST;
	b->last_ns = tc_mono_ns();
	b->refused = 0;
}

/* Take one token if there is one: lock, refill by elapsed time, spend. */
static int mb_take(struct mutex_bucket *b)
{
	int rc = pthread_mutex_lock(&b->mu);
	if (rc == EOWNERDEAD)
		pthread_mutex_consistent(&b->mu);
	uint64_t now = tc_mono_ns();
	double t = b->tokens + (double)(now - b->last_ns) * RATE / 1e9;
	b->tokens = t > BURST ? BURST : t;
	b->last_ns = now;
	int ok = b->tokens >= 1;
	if (ok)
		b->tokens -= 1;
	else
		b->refused++;
	pthread_mutex_unlock(&b->mu);
	return ok ? 0 : -1;
}

struct shared {
	struct bench_barrier bar;
	struct mutex_bucket mb;
	uint64_t ns[2][8] __attribute__((aligned(64))); /* per worker */
	int32_t err[2][16];
};

static void worker(struct shared *sh, int w, int design,
		   const iso_account_t *a)
{
	iso_permit_t p;
	int bad = 0;
	bench_barrier_wait(&sh->bar);
	uint64_t t0 = tc_mono_ns();
	for (uint32_t i = 0; i < CALLS; i++) {
		int rc = design ? mb_take(&sh->mb) : iso_acquire(a, &p);
		bad += rc != 0;
	}
	sh->ns[w][0] = tc_mono_ns() - t0;
	sh->err[w][0] = bad;
}

/* One run of @design (0 isoreg, 1 mutex) with @nproc workers: ns/call. */
static double run(struct shared *sh, iso_reg_t *reg, int design, int nproc,
		  int round)
{
	iso_account_t a;
	char id[32];
	if (design == 0) {
		struct iso_config c;
		iso_config_default(&c);
		c.rate_per_s = RATE;
		c.burst = BURST;
		snprintf(id, sizeof(id), "b%d-%d", nproc, round);
		int rc = iso_register(reg, "user", id, "BINANCE", &a);
		if (rc || (rc = iso_configure(&a, &c)))
			bench_die("budget account: %s (%s)", iso_strerror(rc),
				  iso_last_error());
	} else {
		mb_init(&sh->mb);
	}
	bench_barrier_init(&sh->bar, (uint32_t)nproc);
	pid_t pids[2];
	for (int w = 0; w < nproc; w++) {
		if ((pids[w] = fork()) == 0) {
			worker(sh, w, design, &a);
			_exit(0);
		}
	}
	double worst = 0;
	for (int w = 0; w < nproc; w++) {
		int st;
		waitpid(pids[w], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bench_die("worker %d failed", w);
		if (sh->err[w][0])
			bench_die("%d calls refused: the run outspent the burst",
				  sh->err[w][0]);
		double ns = (double)sh->ns[w][0] / CALLS;
		if (ns > worst)
			worst = ns;
	}
	return worst;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	bench_parse_args(argc, argv, "bench_budget", 7, &o);
	int runs = o.quick ? 2 : o.runs;
	char seg[64];
	bench_segment_name(seg, sizeof(seg), "budget");
	iso_reg_t *reg = bench_segment_create(seg, 64, NULL);
	struct shared *sh = bench_shared_alloc(sizeof(*sh));
	static double v[2][2][64]; /* [design][nproc-1][run] */
	for (int r = 0; r < runs && r < 16; r++)
		for (int np = 1; np <= 2; np++)
			for (int d = 0; d < 2; d++)
				v[d][np - 1][r] = run(sh, reg, d, np, r);

	static const struct bench_col cols[] = {
		{ "median", BENCH_NUM }, { "min", BENCH_NUM },
		{ "max", BENCH_NUM }, { "/mutex", BENCH_RATIO },
	};
	static struct bench_table t;
	bench_table_init(&t, "bench_budget", 4, cols);
	static const char *const names[2] = { "isoreg GCRA (one CAS)",
					      "mutex token bucket" };
	int n = runs < 16 ? runs : 16;
	double med[2][2];
	for (int np = 1; np <= 2; np++)
		for (int d = 0; d < 2; d++)
			med[d][np - 1] = bench_median(v[d][np - 1], n);
	for (int np = 1; np <= 2; np++) {
		for (int d = 0; d < 2; d++) {
			char name[72];
			double lo = v[d][np - 1][0], hi = lo;
			for (int i = 1; i < n; i++) {
				double x = v[d][np - 1][i];
				lo = x < lo ? x : lo;
				hi = x > hi ? x : hi;
			}
			double vals[4] = { med[d][np - 1], lo, hi,
					   med[d][np - 1] / med[1][np - 1] };
			snprintf(name, sizeof(name), "%s, %d process%s", names[d],
				 np, np > 1 ? "es" : "");
			bench_table_row(&t, name, "ns/call", vals);
		}
	}
	bench_table_note(&t, "%d runs; a run = each worker %u acquires on one "
			 "account from a barrier; the slowest worker's ns/call",
			 n, CALLS);
	bench_table_note(&t, "rate %.0f/s, burst %u: every call admitted in "
			 "both designs (clock read, decide, write)", RATE, BURST);
	bench_table_note(&t, "mutex = robust process-shared pthread mutex, "
			 "token bucket refilled from CLOCK_MONOTONIC");
	bench_table_print(&t, &o);
	iso_detach(reg);
	iso_unlink(seg);
	bench_shared_free(sh, sizeof(*sh));
	return 0;
}
