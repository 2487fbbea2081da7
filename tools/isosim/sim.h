/*
 * sim.h - isosim's shared vocabulary: the plan every process of the fleet
 * follows (accounts, scenario schedule, timings), the simulated exchange,
 * and the small shared-memory scoreboard the traders fill for the parent.
 *
 * The plan is built by the parent before it forks and never changes
 * afterwards, so every trader (including one restarted after a kill) derives
 * the same schedule from the same start time: which scenario runs now, which
 * accounts it faults, and whether an account's fault is active. Nothing here
 * decides an account's health; the library does, through iso_acquire and
 * iso_record_*.
 *
 * The scoreboard is an anonymous MAP_SHARED mapping inherited across fork:
 * it is the sim's own bookkeeping (who was blocked while not faulted, how
 * many kills), deliberately kept apart from the registry it is testing.
 */
#ifndef ISOSIM_SIM_H
#define ISOSIM_SIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "isoreg.h"
#include "../common/clock.h"
#include "../common/prng.h"

#define SIM_PROG "isosim"

enum sim_scenario {
	SIM_SCENARIO1 = 0,   /* user/user1/KRAKEN: API errors */
	SIM_SCENARIO2,       /* platform/main/COINBASE: network timeouts */
	SIM_BROKER_OUTAGE,   /* every KRAKEN account fails */
	SIM_AUTH,            /* user/user2/COINBASE: bad credentials */
	SIM_RATE_LIMIT,      /* user/user1/COINBASE: 429 with retry-after */
	SIM_KILL,            /* one trader SIGKILLed mid-operation, restarted */
	SIM__COUNT
};

/* One simulated account and where it lives. */
struct sim_account {
	struct iso_key key;
	char name[ISO_KEY_STR_MAX + 1]; /* "user/user1/KRAKEN" */
	uint32_t broker;                /* index into the broker list */
	uint32_t user;                  /* 0: the platform account */
};

/* Everything the fleet agrees on; fixed before the first fork. */
struct sim_plan {
	const char *segment;
	bool quiet;
	double speed;

	uint32_t naccounts;
	uint32_t nprocs;
	struct sim_account *accounts;

	int cycle[SIM__COUNT];  /* the scenarios run, in order, repeated */
	int ncycle;

	/* Schedule: each phase runs one scenario: warm-up, fault, recovery. */
	uint64_t t0_ns;         /* CLOCK_MONOTONIC start, shared by all */
	uint64_t warm_ns;
	uint64_t fault_ns;
	uint64_t phase_ns;
	uint64_t duration_ns;   /* 0: until SIGINT/SIGTERM */

	/* Exchange timings (already divided by --speed). */
	uint64_t op_min_ns;     /* latency of a normal call */
	uint64_t op_max_ns;
	uint64_t timeout_ns;    /* how long a network timeout takes */
	uint64_t idle_ns;       /* pause after a refused acquire */
	uint64_t restart_ns;    /* kill scenario: pause before the restart */
	uint32_t kills_per_phase;

	/* Rate limiter of the rate-limit scenario. */
	uint64_t rl_interval_ns; /* one call allowed per interval */
	uint64_t rl_penalty_ms;  /* Retry-After the exchange answers */

	struct iso_config cfg;  /* breaker config suited to the demo */

	/* The reference accounts the scenarios fault. */
	uint32_t a_user1_kraken;
	uint32_t a_platform_coinbase;
	uint32_t a_user2_coinbase;
	uint32_t a_user1_coinbase;
	uint32_t b_kraken;      /* broker index of KRAKEN */
};

/* Per (scenario, account) tallies; relaxed atomics: plain statistics. */
struct sim_tally {
	_Atomic uint64_t ops;
	_Atomic uint64_t failures;
	_Atomic uint64_t blocks;            /* acquire refused */
	_Atomic uint64_t blocks_unfaulted;  /* ... while not in the faulted set */
	_Atomic uint32_t faulted;           /* was in the faulted set */
	uint32_t pad;
};

struct sim_trader {
	_Atomic int pid;
	_Atomic int in_op;      /* between acquire and record */
};

struct sim_scoreboard {
	_Atomic int stop;
	_Atomic int error;      /* a trader hit a runtime error */
	_Atomic uint64_t phases[SIM__COUNT];
	_Atomic uint64_t kills[SIM__COUNT];
	_Atomic uint64_t kills_mid_op;
	_Atomic uint64_t restarts;
	_Atomic uint64_t ops_while_down; /* by the others, during kills */
	_Atomic uint64_t crashes;   /* traders that died without our kill */
	struct sim_trader *traders; /* nprocs, in the same mapping */
	struct sim_tally *tallies;  /* SIM__COUNT x naccounts */
};

/* scenario.c */
const char *sim_scenario_name(int s);
const char *sim_scenario_story(int s);
int sim_scenario_parse(const char *name);
int sim_plan_accounts(struct sim_plan *plan);
void sim_plan_timings(struct sim_plan *plan, double speed,
		      uint32_t open_timeout_ms);
uint64_t sim_phase_at(const struct sim_plan *plan, uint64_t now_ns,
		      uint64_t *offset_ns);
int sim_phase_scenario(const struct sim_plan *plan, uint64_t phase);
uint32_t sim_kill_victim(const struct sim_plan *plan, uint64_t phase);
bool sim_is_target(const struct sim_plan *plan, uint64_t phase, uint32_t a);
bool sim_is_faulted(const struct sim_plan *plan, uint64_t now_ns, uint32_t a);
bool sim_fault_active(const struct sim_plan *plan, uint64_t now_ns,
		      uint32_t a, int *scenario);
void sim_sleep_ns(uint64_t ns);

/* scoreboard.c */
struct sim_scoreboard *sim_scoreboard_map(const struct sim_plan *plan);
void sim_scoreboard_unmap(const struct sim_plan *plan,
			  struct sim_scoreboard *sb);
struct sim_tally *sim_tally(const struct sim_plan *plan,
			    struct sim_scoreboard *sb, int scenario,
			    uint32_t a);

/* exchange.c: one simulated call; returns 0 or a failure type. */
struct sim_exchange {
	uint64_t rng;
	uint64_t rl_next_ns;   /* rate limiter: next time a call is allowed */
};
struct sim_outcome {
	bool ok;
	enum iso_failure_type type;
	uint64_t retry_after_ms; /* 0 unless RATE_LIMIT */
};
void sim_exchange_init(struct sim_exchange *ex, uint64_t seed);
uint64_t sim_rand(struct sim_exchange *ex);
void sim_exchange_call(const struct sim_plan *plan, struct sim_exchange *ex,
		       uint32_t a, struct sim_outcome *out);

/* trader.c: the body of one trader process; never returns. */
void sim_trader_run(const struct sim_plan *plan, struct sim_scoreboard *sb,
		    uint32_t index) __attribute__((noreturn));

/* report.c: prints the final report; returns true if isolation held. */
bool sim_report_print(const struct sim_plan *plan,
		      struct sim_scoreboard *sb, iso_reg_t *reg);

/* budget.c: the fleet-budget scenario (--scenario budget); an exit code. */
int sim_budget_run(const char *segment, unsigned procs, double seconds);

#endif /* ISOSIM_SIM_H */
