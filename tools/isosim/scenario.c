/*
 * scenario.c - the fleet's script: which accounts exist, which scenario
 * runs when, which accounts it faults, and when their fault is active.
 *
 * Everything here is a pure function of the plan and a CLOCK_MONOTONIC
 * time, so the parent and every trader (also one restarted after a kill)
 * agree on the schedule without talking to each other. It must never touch
 * the registry: the point of the sim is to see what the library does with
 * the outcomes, not to steer it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim.h"

static const struct {
	const char *name;
	const char *story;
} scenarios[SIM__COUNT] = {
	[SIM_SCENARIO1] = { "scenario1",
			    "user/user1/KRAKEN fails with API errors; the others continue" },
	[SIM_SCENARIO2] = { "scenario2",
			    "platform/main/COINBASE times out (network); the users continue" },
	[SIM_BROKER_OUTAGE] = { "broker-outage",
				"every KRAKEN account fails (network, 503s); other brokers continue" },
	[SIM_AUTH] = { "auth",
		       "user/user2/COINBASE gets authentication errors (trip_on AUTHENTICATION)" },
	[SIM_RATE_LIMIT] = { "rate-limit",
			     "user/user1/COINBASE is rate limited (429 with Retry-After)" },
	[SIM_KILL] = { "kill",
		       "one trader is SIGKILLed mid-operation and restarted; the others keep going" },
};

/* Broker names, in the order accounts are spread over them. */
static const char *const brokers[] = {
	"KRAKEN", "COINBASE", "BINANCE", "OKX", "BYBIT", "GEMINI",
	"BITSTAMP", "KUCOIN", "BITFINEX", "HUOBI", "GATEIO", "MEXC",
};
#define NBROKERS (sizeof(brokers) / sizeof(brokers[0]))

const char *sim_scenario_name(int s)
{
	return s >= 0 && s < SIM__COUNT ? scenarios[s].name : "?";
}

const char *sim_scenario_story(int s)
{
	return s >= 0 && s < SIM__COUNT ? scenarios[s].story : "?";
}

/* Returns the scenario named @name, or -1. */
int sim_scenario_parse(const char *name)
{
	for (int s = 0; s < SIM__COUNT; s++)
		if (strcasecmp(name, scenarios[s].name) == 0)
			return s;
	return -1;
}

static void broker_name(uint32_t b, char *buf, size_t len)
{
	if (b < NBROKERS)
		snprintf(buf, len, "%s", brokers[b]);
	else
		snprintf(buf, len, "EXCH%u", b + 1);
}

static int account_make(struct sim_account *acc, uint32_t b, uint32_t u)
{
	char broker[ISO_BROKER_MAX + 1], id[ISO_ID_MAX + 1];
	int rc;

	broker_name(b, broker, sizeof(broker));
	if (u == 0)
		snprintf(id, sizeof(id), "main");
	else
		snprintf(id, sizeof(id), "user%u", u);
	rc = iso_key_make(u == 0 ? "platform" : "user", id, broker, &acc->key);
	if (rc < 0)
		return rc;
	acc->broker = b;
	acc->user = u;
	iso_key_format(&acc->key, acc->name, sizeof(acc->name));
	return 0;
}

/*
 * Returns 0 after filling plan->accounts with naccounts accounts, or -1.
 *
 * Accounts grow as a square over (broker, user): rank r holds broker r with
 * its platform account and users 1..r+1, plus user r+1 on brokers 0..r-1.
 * So the first six are exactly the reference's (platform, user1, user2 on
 * KRAKEN and COINBASE), the next six add BINANCE and user3, and so on:
 * every broker gets a platform account and several users.
 */
int sim_plan_accounts(struct sim_plan *plan)
{
	uint32_t n = 0;

	plan->accounts = calloc(plan->naccounts, sizeof(*plan->accounts));
	if (!plan->accounts)
		return -1;
	for (uint32_t r = 0; n < plan->naccounts; r++) {
		for (uint32_t b = 0; b <= r && n < plan->naccounts; b++) {
			uint32_t u0 = b < r ? r + 1 : 0;

			for (uint32_t u = u0; u <= r + 1 && n < plan->naccounts;
			     u++)
				if (account_make(&plan->accounts[n++], b, u) < 0)
					return -1;
		}
	}
	for (uint32_t a = 0; a < plan->naccounts; a++) {
		const struct sim_account *acc = &plan->accounts[a];

		if (acc->broker == 0 && acc->user == 1)
			plan->a_user1_kraken = a;
		else if (acc->broker == 1 && acc->user == 0)
			plan->a_platform_coinbase = a;
		else if (acc->broker == 1 && acc->user == 1)
			plan->a_user1_coinbase = a;
		else if (acc->broker == 1 && acc->user == 2)
			plan->a_user2_coinbase = a;
	}
	plan->b_kraken = 0;
	return 0;
}

static uint64_t scaled(double ms, double speed)
{
	double ns = ms * 1e6 / speed;

	return ns < 1000 ? 1000 : (uint64_t)ns;
}

/*
 * sim_plan_timings - every duration of the demo, compressed by @speed.
 * @open_timeout_ms: the breaker's open time; 0 picks 1 s / speed.
 *
 * A phase is warm-up, fault window and recovery. The recovery part is at
 * least the longest open time the back-off can reach plus room for the
 * probes, so a faulted account is healthy again before the next scenario
 * starts and a newcomer sees trip, half-open and recovery each time.
 */
void sim_plan_timings(struct sim_plan *plan, double speed,
		      uint32_t open_timeout_ms)
{
	struct iso_config *cfg = &plan->cfg;
	uint64_t recover_ns, open_ns;

	plan->speed = speed;
	if (open_timeout_ms == 0) {
		double ms = 1000.0 / speed;

		open_timeout_ms = ms < 1 ? 1 : (uint32_t)ms;
	}
	iso_config_default(cfg);
	cfg->failure_threshold = 5;
	cfg->success_threshold = 3;
	cfg->half_open_max_calls = 1;
	cfg->degrade_after = 1;
	cfg->open_timeout_ms = open_timeout_ms;
	/* Two failed recoveries reach the cap: visible FAILING, quick heal. */
	cfg->max_open_timeout_ms = open_timeout_ms * 4u;
	cfg->probe_timeout_ms = open_timeout_ms * 2u;

	plan->warm_ns = scaled(2000, speed);
	plan->fault_ns = scaled(5000, speed);
	open_ns = (uint64_t)cfg->max_open_timeout_ms * 1000000u;
	recover_ns = scaled(7000, speed);
	if (recover_ns < open_ns + scaled(3000, speed))
		recover_ns = open_ns + scaled(3000, speed);
	plan->phase_ns = plan->warm_ns + plan->fault_ns + recover_ns;

	plan->op_min_ns = scaled(2, speed);
	plan->op_max_ns = scaled(12, speed);
	plan->timeout_ns = scaled(60, speed);
	plan->idle_ns = scaled(5, speed);
	plan->restart_ns = scaled(300, speed);
	plan->kills_per_phase = 3;
	plan->rl_interval_ns = scaled(400, speed);
	plan->rl_penalty_ms = (uint64_t)open_timeout_ms * 3 / 2;
}

/* Sleeps @ns, returning early if a signal arrives (so stop is prompt). */
void sim_sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_nsec = (long)(ns % 1000000000u),
	};

	nanosleep(&ts, NULL);
}

/* Returns the phase number at @now_ns and, in *@offset_ns, the time into it. */
uint64_t sim_phase_at(const struct sim_plan *plan, uint64_t now_ns,
		      uint64_t *offset_ns)
{
	uint64_t t = now_ns > plan->t0_ns ? now_ns - plan->t0_ns : 0;

	if (offset_ns)
		*offset_ns = t % plan->phase_ns;
	return t / plan->phase_ns;
}

/* Returns the scenario phase @phase runs. */
int sim_phase_scenario(const struct sim_plan *plan, uint64_t phase)
{
	return plan->cycle[phase % (uint64_t)plan->ncycle];
}

/*
 * Returns the trader a kill phase kills: each kill phase picks the next
 * trader, so over several cycles every trader is killed once.
 */
uint32_t sim_kill_victim(const struct sim_plan *plan, uint64_t phase)
{
	return (uint32_t)((phase / (uint64_t)plan->ncycle) % plan->nprocs);
}

/* Returns true if phase @phase's scenario faults account @a. */
bool sim_is_target(const struct sim_plan *plan, uint64_t phase, uint32_t a)
{
	switch (sim_phase_scenario(plan, phase)) {
	case SIM_SCENARIO1:
		return a == plan->a_user1_kraken;
	case SIM_SCENARIO2:
		return a == plan->a_platform_coinbase;
	case SIM_BROKER_OUTAGE:
		return plan->accounts[a].broker == plan->b_kraken;
	case SIM_AUTH:
		return a == plan->a_user2_coinbase;
	case SIM_RATE_LIMIT:
		return a == plan->a_user1_coinbase;
	case SIM_KILL:
		return a % plan->nprocs == sim_kill_victim(plan, phase);
	}
	return false;
}

/*
 * sim_is_faulted - is account @a in the faulted set at @now_ns?
 *
 * The faulted set of a phase is the accounts its scenario targets, for the
 * whole phase (their breaker may still be open after the fault window). The
 * previous phase's targets stay in the set during the warm-up, because
 * their last probes may land just after the phase boundary.
 */
bool sim_is_faulted(const struct sim_plan *plan, uint64_t now_ns, uint32_t a)
{
	uint64_t off, p = sim_phase_at(plan, now_ns, &off);

	if (sim_is_target(plan, p, a))
		return true;
	return p > 0 && off < plan->warm_ns && sim_is_target(plan, p - 1, a);
}

/*
 * sim_fault_active - should the exchange fail account @a's call now?
 * @scenario: (output) the scenario of the moment.
 *
 * Returns true inside the fault window, for the targets of a scenario that
 * faults the exchange (the kill scenario faults processes instead).
 */
bool sim_fault_active(const struct sim_plan *plan, uint64_t now_ns,
		      uint32_t a, int *scenario)
{
	uint64_t off, p = sim_phase_at(plan, now_ns, &off);
	int s = sim_phase_scenario(plan, p);

	*scenario = s;
	if (s == SIM_KILL || off < plan->warm_ns ||
	    off >= plan->warm_ns + plan->fault_ns)
		return false;
	return sim_is_target(plan, p, a);
}
