/*
 * exchange.c - the simulated exchange a trader calls: each call takes a
 * small random latency (scaled by --speed) and succeeds or fails as the
 * scenario script says for that account at that moment.
 *
 * It lives inside the trader process: the exchange's only state is the
 * rate limiter of the accounts this trader owns, and its random generator.
 * It never looks at the registry: the exchange does not know about breakers,
 * exactly like a real one.
 */
#include "sim.h"

/* Spreads latencies and draws faults: tc_rand (splitmix64) on the
 * exchange's own seeded state, so a seeded run is replayed exactly. */
uint64_t sim_rand(struct sim_exchange *ex)
{
	return tc_rand(&ex->rng);
}

void sim_exchange_init(struct sim_exchange *ex, uint64_t seed)
{
	ex->rng = seed;
	ex->rl_next_ns = 0;
}

static uint64_t latency(const struct sim_plan *plan, struct sim_exchange *ex)
{
	uint64_t span = plan->op_max_ns - plan->op_min_ns + 1;

	return plan->op_min_ns + sim_rand(ex) % span;
}

/*
 * sim_exchange_call - one call on account @a; sleeps as long as the call
 * takes and fills @out with its outcome.
 */
void sim_exchange_call(const struct sim_plan *plan, struct sim_exchange *ex,
		       uint32_t a, struct sim_outcome *out)
{
	uint64_t now = tc_mono_ns();
	int scenario;

	out->ok = true;
	out->type = ISO_FAIL_UNKNOWN;
	out->retry_after_ms = 0;
	if (!sim_fault_active(plan, now, a, &scenario)) {
		sim_sleep_ns(latency(plan, ex));
		return;
	}
	out->ok = false;
	switch (scenario) {
	case SIM_SCENARIO1:
		out->type = ISO_FAIL_API;
		sim_sleep_ns(latency(plan, ex));
		break;
	case SIM_SCENARIO2:
		/* A timeout costs the caller the whole timeout. */
		out->type = ISO_FAIL_NETWORK;
		sim_sleep_ns(plan->timeout_ns);
		break;
	case SIM_BROKER_OUTAGE:
		/* Connections refused or timing out, and some 503s. */
		if (sim_rand(ex) % 10 < 6) {
			out->type = ISO_FAIL_NETWORK;
			sim_sleep_ns(plan->timeout_ns);
		} else {
			out->type = ISO_FAIL_API;
			sim_sleep_ns(latency(plan, ex));
		}
		break;
	case SIM_AUTH:
		out->type = ISO_FAIL_AUTHENTICATION;
		sim_sleep_ns(latency(plan, ex));
		break;
	case SIM_RATE_LIMIT:
		/* One call per interval goes through; the rest get 429 at
		 * once, with the exchange's penalty as Retry-After. */
		sim_sleep_ns(plan->op_min_ns);
		if (now >= ex->rl_next_ns) {
			ex->rl_next_ns = now + plan->rl_interval_ns;
			out->ok = true;
		} else {
			out->type = ISO_FAIL_RATE_LIMIT;
			out->retry_after_ms = plan->rl_penalty_ms;
		}
		break;
	default:
		out->ok = true;
		sim_sleep_ns(latency(plan, ex));
	}
}
