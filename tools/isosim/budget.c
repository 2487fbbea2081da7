/*
 * budget.c - the fleet-budget scenario (issue 16, [B9]): several trader
 * processes trade one account against an exchange that allows LIMIT calls
 * a second for that account, whoever makes them. It runs twice on a
 * segment of its own: without a budget the fleet breaks the exchange's
 * limit (the exchange answers 429, RATE_LIMIT); with a budget of 90 % of
 * the limit, shared by every process through the segment, it stays under.
 * The exchange's count lives in a MAP_SHARED page: the exchange is one
 * server, whatever process calls it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cli.h"
#include "sim.h"

#define LIMIT 400u            /* the exchange's calls per second, per account */
#define CALL_NS 250000ull     /* an exchange call takes 250 us */

struct exchange {
	_Atomic uint64_t window;  /* second (32) | calls in it (32) */
	_Atomic uint64_t calls, limited, waits, errors;
};

/* The exchange's side: one call at @now_ns; false if over the limit. */
static bool exchange_call(struct exchange *ex, uint64_t now_ns)
{
	uint64_t sec = now_ns / 1000000000ull, cur, next;
	cur = atomic_load_explicit(&ex->window, memory_order_relaxed);
	do {
		uint64_t n = (cur >> 32) == sec ? (cur & 0xffffffffull) + 1 : 1;
		next = (sec << 32) | n;
	} while (!atomic_compare_exchange_weak_explicit(&ex->window, &cur, next,
							memory_order_relaxed,
							memory_order_relaxed));
	return (next & 0xffffffffull) <= LIMIT;
}

static void nap_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull),
			       (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One trader: acquire (the budget may say wait), call, record. */
static int trader(const char *segment, struct exchange *ex, uint64_t until_ns)
{
	iso_reg_t *reg;
	iso_account_t a;
	if (iso_attach(segment, NULL, &reg) ||
	    iso_register(reg, "user", "fleet", "KRAKEN", &a))
		return 1;
	while (tc_mono_ns() < until_ns) {
		iso_permit_t p;
		int rc = iso_acquire(&a, &p);
		if (rc == ISO_ELIMIT) {
			atomic_fetch_add(&ex->waits, 1);
			nap_ns((p.retry_in_ms ? p.retry_in_ms : 1) * 1000000ull);
			continue;
		}
		if (rc) {
			atomic_fetch_add(&ex->errors, 1);
			nap_ns(1000000);
			continue;
		}
		nap_ns(CALL_NS);
		atomic_fetch_add(&ex->calls, 1);
		if (exchange_call(ex, tc_mono_ns())) {
			iso_record_success(&a, &p, CALL_NS);
		} else {
			atomic_fetch_add(&ex->limited, 1);
			iso_record_failure_retry(&a, &p, ISO_FAIL_RATE_LIMIT,
						 CALL_NS, 0);
		}
	}
	iso_detach(reg);
	return 0;
}

/* One run of @procs traders for @seconds; the exchange's tallies in @ex. */
static int one_run(const char *segment, unsigned procs, double seconds,
		   double rate, struct exchange *ex)
{
	struct iso_config cfg;
	iso_reg_t *reg;
	iso_config_default(&cfg);
	/* The exchange's 429s are the subject here, not the breaker's: kept
	 * out of it, so both runs trade for the whole time. */
	cfg.ignore = ISO_FAIL_MASK(ISO_FAIL_RATE_LIMIT);
	cfg.rate_per_s = rate;
	cfg.burst = rate > 0 ? LIMIT / 20 : 0;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = 64, .defaults = &cfg };
	int rc = iso_attach(segment, &o, &reg);
	if (rc) {
		cli_iso_error(SIM_PROG, "create the budget scenario's segment", rc);
		return -1;
	}
	memset(ex, 0, sizeof(*ex));
	uint64_t until = tc_mono_ns() + (uint64_t)(seconds * 1e9);
	pid_t pids[64];
	unsigned n = 0;
	for (; n < procs; n++) {
		pids[n] = fork();
		if (pids[n] < 0)
			break;
		if (pids[n] == 0)
			_exit(trader(segment, ex, until));
	}
	int bad = n < procs;
	for (unsigned i = 0; i < n; i++) {
		int st;
		while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
			;
		bad |= !WIFEXITED(st) || WEXITSTATUS(st);
	}
	iso_detach(reg);
	iso_unlink(segment);
	return bad ? -1 : 0;
}

int sim_budget_run(const char *segment, unsigned procs, double seconds)
{
	struct exchange *ex = mmap(NULL, sizeof(*ex), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t calls[2], limited[2], waits[2];
	double rate = LIMIT * 0.9;
	if (ex == MAP_FAILED) {
		cli_error(SIM_PROG, "exchange page: %s", strerror(errno));
		return CLI_EXIT_RUNTIME;
	}
	if (procs < 2 || procs > 64) {
		cli_error(SIM_PROG, "--scenario budget: --procs 2..64 (one "
			  "account, several processes)");
		munmap(ex, sizeof(*ex));
		return CLI_EXIT_USAGE;
	}
	printf("isosim: budget: %u processes trade user/fleet/KRAKEN for %.1fs "
	       "each run; the exchange allows %u calls a second for it\n",
	       procs, seconds, LIMIT);
	for (int run = 0; run < 2; run++) {
		if (one_run(segment, procs, seconds, run ? rate : 0, ex) < 0) {
			munmap(ex, sizeof(*ex));
			return CLI_EXIT_RUNTIME;
		}
		calls[run] = atomic_load(&ex->calls);
		limited[run] = atomic_load(&ex->limited);
		waits[run] = atomic_load(&ex->waits);
		if (run == 0)
			printf("  without a budget:            %8llu calls, %8llu "
			       "refused by the exchange (RATE_LIMIT)\n",
			       (unsigned long long)calls[0],
			       (unsigned long long)limited[0]);
		else
			printf("  with rate_per_s=%.0f burst=%u: %8llu calls, %8llu "
			       "refused by the exchange (RATE_LIMIT), %llu waits "
			       "for the budget (ISO_ELIMIT)\n", rate, LIMIT / 20,
			       (unsigned long long)calls[1],
			       (unsigned long long)limited[1],
			       (unsigned long long)waits[1]);
	}
	munmap(ex, sizeof(*ex));
	bool pass = limited[0] > 0 && limited[1] == 0;
	printf("result: %s - %s\n", pass ? "PASS" : "FAIL",
	       pass ? "the shared budget kept the fleet under the exchange's "
		      "limit, which it broke without one"
		    : "the budget did not keep the fleet under the limit");
	return pass ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}
