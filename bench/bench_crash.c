/*
 * bench_crash.c - a kill storm [P4]: a survivor records on an account
 * continuously while a driver SIGKILLs another process that records on the
 * same account, in the middle of its loop, over and over (200 kills a run
 * by default), restarting it each time. Reported: the survivor's per-call
 * latency (median, p99, p99.9, worst) during the storm, beside the same
 * setup without kills ("calm"), for isoreg and for the robust-mutex
 * baseline.
 *
 * With isoreg a killed process holds nothing: survivors never wait for it.
 * With the mutex a kill that lands inside a call leaves the account lock
 * held by a dead owner; the kernel hands it to the next locker with
 * EOWNERDEAD and that locker repairs it (pthread_mutex_consistent): the
 * EOWNERDEAD column counts those recoveries.
 *
 * Each call is timed alone with the TSC (lfence; rdtsc), calibrated against
 * CLOCK_MONOTONIC, into a log-linear histogram (about 6 % resolution; the
 * worst value is exact). With two CPUs or more the survivor is pinned to
 * CPU 0 and every victim to CPU 1, so they really run at once and share
 * the account's cache lines (and, for the mutex, its lock). The driver
 * floats: its forks and reaps still cost the survivor some CPU, so the
 * worst case includes scheduler delays in every row alike.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bench.h"
#include "common/mutex_baseline.h"
#include "isoreg.h"

#define MAXRUNS 32

enum impl { IMPL_ISO, IMPL_MUTEX };
static const char *const impl_name[] = { "isoreg", "mutex" };

struct shared {
	struct bench_barrier bar;
	struct bench_flag stop;
	struct bench_flag victim_ready;
	int32_t err;
	uint64_t survivor_ops;
	struct bench_hist hist;
};

static struct shared *sh;
static struct mb_registry *mb;
static int mb_s;
static char seg[64];
static bool pinned; /* survivor on CPU 0, victims on CPU 1 */

static iso_reg_t *attach_lookup(iso_account_t *acct)
{
	iso_reg_t *reg;
	int rc = iso_attach(seg, NULL, &reg);
	if (rc)
		bench_die("iso_attach %s: %s", seg, iso_strerror(rc));
	if ((rc = iso_lookup(reg, "user", "shared", "KRAKEN", acct)))
		bench_die("iso_lookup: %s", iso_strerror(rc));
	return reg;
}

static inline int one_call(enum impl impl, const iso_account_t *acct)
{
	if (impl == IMPL_ISO) {
		iso_permit_t p;
		int rc = iso_acquire(acct, &p);
		if (rc == 0)
			rc = iso_record_success(acct, &p, 0);
		return rc;
	}
	if (mb_can_execute(mb, mb_s, NULL))
		mb_record_success(mb, mb_s, 0);
	return 0;
}

/* The victim: records until it is killed (or, calm, until stop). */
static int victim_main(void *arg, int unused)
{
	enum impl impl = (enum impl)(intptr_t)arg;
	if (pinned)
		bench_pin(1);
	iso_account_t acct;
	if (impl == IMPL_ISO)
		attach_lookup(&acct);
	for (int i = 0; i < 64; i++)
		one_call(impl, &acct);
	bench_flag_set(&sh->victim_ready, 1);
	while (!bench_flag_get(&sh->stop))
		for (int i = 0; i < 64; i++)
			one_call(impl, &acct);
	return 0;
}

static int survivor_main(void *arg, int unused)
{
	enum impl impl = (enum impl)(intptr_t)arg;
	if (pinned)
		bench_pin(0);
	iso_account_t acct;
	iso_reg_t *reg = NULL;
	if (impl == IMPL_ISO)
		reg = attach_lookup(&acct);
	static struct bench_hist h; /* private: no sharing in the loop */
	bench_hist_reset(&h);
	int err = 0;
	bench_barrier_wait(&sh->bar);
	while (!bench_flag_get(&sh->stop)) {
		for (int i = 0; i < 64; i++) {
			uint64_t t0 = bench_ticks();
			err |= one_call(impl, &acct);
			uint64_t t1 = bench_ticks();
			bench_hist_add(&h, t1 - t0);
		}
	}
	sh->hist = h;
	sh->survivor_ops = h.count;
	sh->err = err;
	if (reg)
		iso_detach(reg);
	return 0;
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static pid_t start_victim(enum impl impl)
{
	bench_flag_set(&sh->victim_ready, 0);
	pid_t v = bench_fork(victim_main, (void *)(intptr_t)impl, 0);
	uint64_t t0 = tc_mono_ns();
	while (!bench_flag_get(&sh->victim_ready)) {
		if (tc_mono_ns() - t0 > 5000000000ull)
			bench_die("victim %d did not start", (int)v);
		bench_sleep_ns(20000);
	}
	return v;
}

static void kill_victim(pid_t v)
{
	kill(v, SIGKILL);
	int st;
	while (waitpid(v, &st, 0) < 0 && errno == EINTR)
		;
}

struct outcome {
	uint64_t kills;
	uint64_t owner_dead;
	double elapsed_ns;
};

/*
 * One run: survivor plus a victim; with @kills > 0 the victim is killed
 * after a random 0.2-1.5 ms of recording and restarted, @kills times; with
 * @kills == 0 it records for @calm_ns and is killed once at the end, after
 * the survivor has stopped measuring.
 */
static void run(enum impl impl, int kills, uint64_t calm_ns,
		struct bench_hist *into, uint64_t *worst, struct outcome *out)
{
	uint64_t od0 = mb_owner_dead(mb);
	bench_flag_set(&sh->stop, 0);
	bench_barrier_init(&sh->bar, 2);
	pid_t s = bench_fork(survivor_main, (void *)(intptr_t)impl, 0);
	pid_t v = start_victim(impl);
	bench_barrier_wait(&sh->bar);
	uint64_t t0 = tc_mono_ns();
	if (kills > 0) {
		for (int k = 0; k < kills; k++) {
			bench_sleep_ns(200000 + rnd() % 1300000);
			kill_victim(v);
			out->kills++;
			if (k + 1 < kills)
				v = start_victim(impl);
		}
	} else {
		bench_sleep_ns(calm_ns);
	}
	bench_flag_set(&sh->stop, 1);
	out->elapsed_ns = (double)(tc_mono_ns() - t0);
	if (bench_wait(s))
		bench_die("survivor failed");
	if (kills == 0)
		kill_victim(v);
	if (sh->err)
		bench_die("survivor: %s", iso_strerror(sh->err));
	bench_hist_merge(into, &sh->hist);
	*worst = sh->hist.max;
	out->owner_dead += mb_owner_dead(mb) - od0;
}

static int setup_segment(void *arg, int idx)
{
	iso_reg_t *reg = bench_segment_create(seg, 16, NULL);
	iso_account_t a;
	int rc;
	if ((rc = iso_register(reg, "user", "shared", "KRAKEN", &a)))
		bench_die("iso_register: %s", iso_strerror(rc));
	iso_detach(reg);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	bench_parse_args(argc, argv, "bench_crash", 5, &o);
	if (o.runs > MAXRUNS)
		o.runs = MAXRUNS;
	int kills = o.quick ? 20 : 200;
	pinned = bench_ncpus() >= 2;
	rnd_state ^= (uint64_t)getpid() << 20;
	bench_ticks_calibrate();

	bench_segment_setup(seg, sizeof(seg), "crash", setup_segment);
	sh = bench_shared_alloc(sizeof(*sh));
	mb = mb_create(16, NULL);
	mb_s = mb_register(mb, "user", "shared", "KRAKEN");

	/* Variants: 0 iso storm, 1 iso calm, 2 mutex storm, 3 mutex calm. */
	static struct bench_hist hist[4];
	static uint64_t worst[4][MAXRUNS];
	struct outcome out[4];
	memset(out, 0, sizeof(out));
	double storm_ns[2] = { 0, 0 };
	for (int im = 0; im < 2; im++) { /* warm-up: faults, caches, attach */
		static struct bench_hist scratch;
		uint64_t w;
		struct outcome tmp = { 0 };
		run(im, 0, 50000000ull, &scratch, &w, &tmp);
	}
	for (int r = 0; r < o.runs; r++) {
		for (int im = 0; im < 2; im++) {
			struct outcome tmp = { 0 };
			run(im, kills, 0, &hist[2 * im], &worst[2 * im][r],
			    &out[2 * im]);
			storm_ns[im] = out[2 * im].elapsed_ns;
			run(im, 0, (uint64_t)storm_ns[im], &hist[2 * im + 1],
			    &worst[2 * im + 1][r], &tmp);
			out[2 * im + 1].owner_dead += tmp.owner_dead;
		}
	}

	static const struct bench_col cols[] = {
		{ "median", BENCH_NUM },  { "p99", BENCH_NUM },
		{ "p99.9", BENCH_NUM },   { "p99.99", BENCH_NUM },
		{ "worst", BENCH_NUM },
		{ "best-run worst", BENCH_NUM }, { "kills", BENCH_COUNT },
		{ "EOWNERDEAD", BENCH_COUNT },
	};
	static struct bench_table t;
	bench_table_init(&t, "bench_crash", 8, cols);
	for (int v = 0; v < 4; v++) {
		double w[MAXRUNS];
		for (int r = 0; r < o.runs; r++)
			w[r] = bench_ticks_to_ns(worst[v][r]);
		struct bench_summary sw;
		bench_summarize(w, (size_t)o.runs, &sw);
		double vals[8] = {
			bench_ticks_to_ns(bench_hist_pct(&hist[v], 50)),
			bench_ticks_to_ns(bench_hist_pct(&hist[v], 99)),
			bench_ticks_to_ns(bench_hist_pct(&hist[v], 99.9)),
			bench_ticks_to_ns(bench_hist_pct(&hist[v], 99.99)),
			sw.max, sw.min, (double)out[v].kills,
			v / 2 == IMPL_MUTEX ? (double)out[v].owner_dead : NAN };
		char name[72];
		snprintf(name, sizeof(name), "%s survivor, %s",
			 impl_name[v / 2], v % 2 ? "calm (no kills)" :
			 "kill storm");
		bench_table_row(&t, name, "ns/call", vals);
	}
	bench_table_note(&t, "%d runs; a storm = %d SIGKILLs of a process "
			 "recording on the survivor's account, each after "
			 "0.2-1.5 ms, restarted each time", o.runs, kills);
	bench_table_note(&t, "calm = the same two processes for as long, no "
			 "kill; percentiles over all calls of all runs "
			 "(log-linear histogram, ~6%%)");
	bench_table_note(&t, "worst = slowest call of any run; best-run worst "
			 "= the smallest per-run worst");
	bench_table_note(&t, "a call = acquire + record_success, timed alone "
			 "with lfence;rdtsc");
	bench_table_note(&t, "%s", pinned ? "survivor pinned to CPU 0, "
			 "victims to CPU 1 (truly concurrent); the driver is "
			 "not pinned" : "one CPU: nothing pinned");
	bench_table_print(&t, &o);
	mb_destroy(mb);
	iso_unlink(seg);
	return 0;
}
