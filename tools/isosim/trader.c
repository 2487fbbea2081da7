/*
 * trader.c - one trader process of the fleet: it attaches the registry on
 * its own, owns every account a with a % procs == its index, and loops over
 * them: ask (iso_acquire), call the simulated exchange, record the outcome
 * with its duration and failure type.
 *
 * A refused acquire is a block; the trader tallies it, and tallies it again
 * as a violation when the account is not in the scenario's faulted set at
 * that moment. The trader may be SIGKILLed at any instruction (the kill
 * scenario does it on purpose): it holds nothing another process waits
 * for, and its tallies are single relaxed atomic adds.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"

static volatile sig_atomic_t trader_stop;

static void on_term(int sig)
{
	(void)sig;
	trader_stop = 1;
}

static void say(const struct sim_plan *plan, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Writes one whole line with one write(2), so lines of concurrent traders
 * and the parent never interleave inside a line. */
static void say(const struct sim_plan *plan, const char *fmt, ...)
{
	char line[512];
	uint64_t t = tc_mono_ns() - plan->t0_ns;
	int n;
	va_list ap;

	n = snprintf(line, sizeof(line), "[%8.3fs] ", (double)t / 1e9);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		return; /* nowhere better to say it */
}

static void fail(const struct sim_plan *plan, struct sim_scoreboard *sb,
		 uint32_t index, const char *what, int rc)
{
	fprintf(stderr, "%s: trader %u: %s: %s: %s\n", SIM_PROG, index, what,
		iso_strerror(rc), iso_last_error());
	atomic_store_explicit(&sb->error, 1, memory_order_relaxed);
	_exit(1);
}

struct owned {
	uint32_t a;
	iso_account_t h;
	int health;       /* last health seen; -1 before the first look */
	bool warned;      /* said once that it was blocked outside the set */
};

static bool should_stop(const struct sim_plan *plan,
			struct sim_scoreboard *sb, uint64_t now)
{
	if (trader_stop ||
	    atomic_load_explicit(&sb->stop, memory_order_relaxed))
		return true;
	return plan->duration_ns && now >= plan->t0_ns + plan->duration_ns;
}

static void note_health(const struct sim_plan *plan, struct owned *o,
			const iso_permit_t *permit, int scenario)
{
	char reason[128];

	if (o->health == (int)permit->health)
		return;
	if (o->health >= 0 && !plan->quiet) {
		iso_permit_reason(permit, reason, sizeof(reason));
		say(plan, "%-24s %s -> %s (%s) [%s]",
		    plan->accounts[o->a].name, iso_health_name(o->health),
		    iso_health_name(permit->health), reason,
		    sim_scenario_name(scenario));
	}
	o->health = permit->health;
}

/* One operation on @o: returns true if it was refused. */
static bool trade_once(const struct sim_plan *plan, struct sim_scoreboard *sb,
		       struct sim_exchange *ex, struct owned *o,
		       struct sim_trader *me, uint32_t index, uint64_t now)
{
	uint64_t phase = sim_phase_at(plan, now, NULL);
	int scenario = sim_phase_scenario(plan, phase);
	struct sim_tally *t = sim_tally(plan, sb, scenario, o->a);
	struct sim_outcome out;
	iso_permit_t permit;
	uint64_t start, op_ns;
	int rc;

	rc = iso_acquire(&o->h, &permit);
	if (rc == ISO_EOPEN || rc == ISO_ELIMIT) {
		note_health(plan, o, &permit, scenario);
		atomic_fetch_add_explicit(&t->blocks, 1, memory_order_relaxed);
		if (!sim_is_faulted(plan, now, o->a)) {
			atomic_fetch_add_explicit(&t->blocks_unfaulted, 1,
						  memory_order_relaxed);
			if (!o->warned && !plan->quiet)
				say(plan, "%-24s BLOCKED OUTSIDE THE FAULTED SET [%s]",
				    plan->accounts[o->a].name,
				    sim_scenario_name(scenario));
			o->warned = true;
		}
		return true;
	}
	if (rc < 0)
		fail(plan, sb, index, "iso_acquire", rc);
	note_health(plan, o, &permit, scenario);

	/* Between here and the record the kill scenario aims its SIGKILL. */
	atomic_store_explicit(&me->in_op, 1, memory_order_relaxed);
	start = tc_mono_ns();
	sim_exchange_call(plan, ex, o->a, &out);
	op_ns = tc_mono_ns() - start;
	if (out.ok)
		rc = iso_record_success(&o->h, &permit, op_ns);
	else if (out.type == ISO_FAIL_RATE_LIMIT)
		rc = iso_record_failure_retry(&o->h, &permit, out.type, op_ns,
					      out.retry_after_ms);
	else
		rc = iso_record_failure(&o->h, &permit, out.type, op_ns);
	atomic_store_explicit(&me->in_op, 0, memory_order_relaxed);
	if (rc < 0)
		fail(plan, sb, index, "iso_record", rc);

	atomic_fetch_add_explicit(&t->ops, 1, memory_order_relaxed);
	if (!out.ok)
		atomic_fetch_add_explicit(&t->failures, 1,
					  memory_order_relaxed);
	return false;
}

void sim_trader_run(const struct sim_plan *plan, struct sim_scoreboard *sb,
		    uint32_t index)
{
	struct sim_trader *me = &sb->traders[index];
	struct sim_exchange ex;
	struct sigaction sa;
	struct owned *own;
	uint32_t nown = 0;
	iso_reg_t *reg;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	/* ^C reaches the whole process group; the parent decides. */
	signal(SIGINT, SIG_IGN);

	own = calloc(plan->naccounts / plan->nprocs + 1, sizeof(*own));
	if (!own) {
		fprintf(stderr, "%s: trader %u: out of memory\n", SIM_PROG,
			index);
		_exit(1);
	}
	rc = iso_attach(plan->segment, NULL, &reg);
	if (rc < 0)
		fail(plan, sb, index, "attach", rc);
	for (uint32_t a = index; a < plan->naccounts; a += plan->nprocs) {
		struct owned *o = &own[nown++];

		o->a = a;
		o->health = -1;
		rc = iso_register_key(reg, &plan->accounts[a].key, &o->h);
		if (rc < 0)
			fail(plan, sb, index, "register", rc);
	}
	sim_exchange_init(&ex, tc_mono_ns() ^ ((uint64_t)getpid() << 32));

	for (;;) {
		uint32_t refused = 0;

		for (uint32_t i = 0; i < nown; i++) {
			uint64_t now = tc_mono_ns();

			if (should_stop(plan, sb, now))
				goto out;
			refused += trade_once(plan, sb, &ex, &own[i], me,
					      index, now);
		}
		/* Every account of ours refused: do not spin on the CPU the
		 * other traders need. */
		if (refused == nown)
			sim_sleep_ns(plan->idle_ns);
	}
out:
	iso_detach(reg);
	free(own);
	_exit(0);
}
