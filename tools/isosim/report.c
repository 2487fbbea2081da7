/*
 * report.c - isosim's final report: the registry's own isolation report
 * (iso_report), then what the sim saw per scenario (which accounts it
 * faulted, which were blocked, and whether any account outside the faulted
 * set was), then the accounts worth a look.
 *
 * It only reads: the traders are gone when it runs, and the segment is
 * attached read-only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define LIST_MAX 8 /* names printed per list before "+N more" */

static uint64_t load64(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

static void print_list(const char *label, const struct sim_plan *plan,
		       struct sim_scoreboard *sb, int s, int what)
{
	uint32_t shown = 0, more = 0;

	printf("    %-10s", label);
	for (uint32_t a = 0; a < plan->naccounts; a++) {
		struct sim_tally *t = sim_tally(plan, sb, s, a);
		uint64_t n = 0;

		if (what == 0)
			n = atomic_load_explicit(&t->faulted,
						 memory_order_relaxed);
		else if (what == 1)
			n = load64(&t->blocks);
		else
			n = load64(&t->blocks_unfaulted);
		if (!n)
			continue;
		if (shown == LIST_MAX) {
			more++;
			continue;
		}
		if (what == 0)
			printf("%s%s", shown ? ", " : " ", plan->accounts[a].name);
		else
			printf("%s%s (%" PRIu64 " refusals)", shown ? ", " : " ",
			       plan->accounts[a].name, n);
		shown++;
	}
	if (!shown)
		printf(" none");
	if (more)
		printf(", +%u more", more);
	printf("\n");
}

static void print_registry(iso_reg_t *reg, const struct iso_report *rep)
{
	struct iso_segment_info info;

	if (iso_segment_info(reg, &info) == 0)
		printf("isolation report (segment %s):\n", info.name);
	else
		printf("isolation report:\n");
	printf("  accounts             %u:", rep->total_accounts);
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		printf(" %s %u", iso_health_name(h), rep->by_health[h]);
	printf("\n");
	printf("  operations           %" PRIu64 "\n", rep->total_operations);
	printf("  total failures       %" PRIu64 "\n", rep->total_failures);
	printf("  quarantines          %" PRIu64 "\n", rep->total_quarantines);
	printf("  cross-account errors %" PRIu64 "\n", rep->cross_account_errors);
	printf("  isolation guarantee  %s\n",
	       rep->isolation_active ? "ACTIVE" : "VIOLATED");
	printf("  per broker:\n");
	for (uint32_t b = 0; b < rep->brokers_count && b < ISO_REPORT_MAX_BROKERS;
	     b++)
		printf("    %-15s %4u accounts, %u unhealthy, %u degraded%s\n",
		       rep->brokers[b].broker, rep->brokers[b].accounts,
		       rep->brokers[b].unhealthy, rep->brokers[b].degraded,
		       rep->brokers[b].incident ? " (broker-wide)" : "");
	if (rep->brokers_dropped)
		printf("    (+%u brokers not listed)\n", rep->brokers_dropped);
}

static void print_scenarios(const struct sim_plan *plan,
			    struct sim_scoreboard *sb)
{
	printf("scenarios:\n");
	for (int s = 0; s < SIM__COUNT; s++) {
		uint64_t runs = load64(&sb->phases[s]), ops = 0;

		if (!runs)
			continue;
		for (uint32_t a = 0; a < plan->naccounts; a++) {
			struct sim_tally *t = sim_tally(plan, sb, s, a);

			ops += load64(&t->ops);
		}
		printf("  %s: %" PRIu64 " run%s, %" PRIu64 " operations - %s\n",
		       sim_scenario_name(s), runs, runs == 1 ? "" : "s", ops,
		       sim_scenario_story(s));
		print_list("faulted:", plan, sb, s, 0);
		print_list("blocked:", plan, sb, s, 1);
		print_list("outside:", plan, sb, s, 2);
		if (s == SIM_KILL)
			printf("    kills:     %" PRIu64 " (%" PRIu64
			       " mid-operation), restarts %" PRIu64
			       ", the others made %" PRIu64
			       " operations while it was down\n",
			       load64(&sb->kills[s]), load64(&sb->kills_mid_op),
			       load64(&sb->restarts),
			       load64(&sb->ops_while_down));
	}
}

/* Returns how many accounts were blocked outside the faulted set. */
static uint32_t count_outside(const struct sim_plan *plan,
			      struct sim_scoreboard *sb)
{
	uint32_t outside = 0;

	for (uint32_t a = 0; a < plan->naccounts; a++) {
		uint64_t n = 0;

		for (int s = 0; s < SIM__COUNT; s++)
			n += load64(&sim_tally(plan, sb, s, a)->blocks_unfaulted);
		outside += n != 0;
	}
	return outside;
}

static void print_accounts(const struct sim_plan *plan,
			   struct sim_scoreboard *sb, iso_reg_t *reg)
{
	uint32_t quiet = 0;

	printf("accounts (faulted, blocked or not healthy at the end):\n");
	printf("  %-24s %-11s %9s %9s %5s %9s %8s\n", "account", "health",
	       "ops", "failures", "quar", "refusals", "outside");
	for (uint32_t a = 0; a < plan->naccounts; a++) {
		uint64_t blocks = 0, outside = 0;
		uint32_t faulted = 0;
		struct iso_status st;
		iso_account_t h;

		for (int s = 0; s < SIM__COUNT; s++) {
			struct sim_tally *t = sim_tally(plan, sb, s, a);

			blocks += load64(&t->blocks);
			outside += load64(&t->blocks_unfaulted);
			faulted |= atomic_load_explicit(&t->faulted,
							memory_order_relaxed);
		}
		if (iso_lookup_key(reg, &plan->accounts[a].key, &h) < 0 ||
		    iso_status(&h, &st) < 0) {
			printf("  %-24s %s\n", plan->accounts[a].name,
			       "(not in the segment)");
			continue;
		}
		if (!faulted && !blocks && st.health == ISO_HEALTHY &&
		    !st.quarantines) {
			quiet++;
			continue;
		}
		printf("  %-24s %-11s %9" PRIu64 " %9" PRIu64 " %5" PRIu64
		       " %9" PRIu64 " %8" PRIu64 "\n",
		       plan->accounts[a].name, iso_health_name(st.health),
		       st.operations, st.failures, st.quarantines, blocks,
		       outside);
	}
	if (quiet)
		printf("  (%u other accounts: healthy, never faulted, never "
		       "blocked)\n", quiet);
}

bool sim_report_print(const struct sim_plan *plan, struct sim_scoreboard *sb,
		      iso_reg_t *reg)
{
	struct iso_report rep;
	uint64_t crashes = load64(&sb->crashes);
	uint32_t outside;
	bool ok;
	int rc;

	rc = iso_report(reg, &rep);
	if (rc < 0) {
		fprintf(stderr, "%s: iso_report: %s: %s\n", SIM_PROG,
			iso_strerror(rc), iso_last_error());
		return false;
	}
	print_registry(reg, &rep);
	print_scenarios(plan, sb);
	outside = count_outside(plan, sb);
	print_accounts(plan, sb, reg);

	ok = outside == 0 && rep.isolation_active && crashes == 0;
	if (outside)
		printf("result: FAIL - %u account%s outside the faulted set "
		       "%s blocked\n", outside, outside == 1 ? "" : "s",
		       outside == 1 ? "was" : "were");
	if (!rep.isolation_active)
		printf("result: FAIL - the registry detected %" PRIu64
		       " cross-account errors\n", rep.cross_account_errors);
	if (crashes)
		printf("result: FAIL - %" PRIu64 " trader%s died without "
		       "being killed\n", crashes, crashes == 1 ? "" : "s");
	if (ok)
		printf("result: PASS - no account outside the faulted set was "
		       "ever blocked\n");
	return ok;
}
