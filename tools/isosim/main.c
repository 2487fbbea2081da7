/*
 * isosim - a fleet of trader processes driving many accounts against a
 * simulated exchange with scripted faults [T4], to watch per-account
 * isolation at work (run it beside isotop; `make demo` does).
 *
 * isosim drives a segment of its own: by default /isosim-<uid>-<pid>, or
 * the --segment NAME it is given, created exclusively either way, and
 * removed at exit unless --keep. It never reads $ISOREG_SEGMENT: a
 * simulator must not find production by default. Pointing it at a segment
 * that exists takes --attach-existing NAME, and even then it configures
 * only the accounts it registered itself, never resets or releases an
 * account, and never unlinks the segment: an operator's halt stays a halt.
 *
 * The parent prepares the segment and the plan, forks --procs traders,
 * follows the schedule (announcing each scenario, killing and restarting a
 * trader in the kill scenario), then stops the fleet and prints the
 * isolation report. It holds no attachment while traders run, so a fork
 * never copies a live attachment into a child: each trader attaches on its
 * own, like the unrelated processes the registry is built for.
 *
 * Exit status: 0 if no account outside the faulted set was ever blocked
 * (and the registry saw no cross-account error), 1 otherwise or on a
 * runtime error, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cli.h"
#include "sim.h"

static volatile sig_atomic_t parent_stop;

static void on_stop(int sig)
{
	(void)sig;
	parent_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: isosim [options]\n"
"\n"
"A fleet of trader processes trading many accounts against a simulated\n"
"exchange with scripted faults. Watch it with `isotop`.\n"
"\n"
"  --segment NAME        shm segment to create for the run (default\n"
"                        /isosim-<uid>-<pid>); it must not exist: isosim\n"
"                        creates it exclusively, with a demo config\n"
"  --attach-existing NAME  drive a segment that already exists instead;\n"
"                        isosim configures only accounts it registers\n"
"                        itself, never resets or releases one (a halt\n"
"                        stays), and never removes the segment\n"
"  --keep                leave the segment it created in place at exit\n"
"                        (default: removed after the final report)\n"
"  --scenario NAME       all (default: cycle through every scenario), or one of\n"
"                        scenario1, scenario2, broker-outage, auth, rate-limit, kill;\n"
"                        or budget: P processes trade one account against an\n"
"                        exchange limit of 400 calls/s, run twice (without and\n"
"                        with a shared request budget, rate_per_s=360), printing\n"
"                        both runs' RATE_LIMIT refusals (--duration: per run,\n"
"                        default 2 s; --procs default 4)\n"
"  --accounts N          accounts in the fleet, >= 6 (default 12)\n"
"  --procs P             trader processes, 1..accounts (default 3)\n"
"  --duration SECONDS    how long to run; 0 = until SIGINT/SIGTERM\n"
"                        (default: one pass through the chosen scenarios)\n"
"  --speed X             compress time X times, 0 < X <= 1000 (default 1)\n"
"  --open-timeout-ms MS  breaker open time (default 1000 / speed)\n"
"  --quiet               print only the final report\n"
"  --help                this text\n"
"  --version             print the version and exit\n"
"\n"
"Exit status: 0 if no account outside the faulted set was ever blocked,\n"
"1 if one was (or on a runtime error), 2 on a usage error.\n");
}

struct fleet {
	struct sim_plan *plan;
	struct sim_scoreboard *sb;
	pid_t *pids;            /* 0: not running */
	uint64_t restart_at;    /* kill scenario: when to restart ... */
	int restart_idx;        /* ... this trader; -1: none pending */
	uint64_t others_ops;    /* the others' operations at the kill */
	bool error;
};

static int spawn(struct fleet *fl, uint32_t k)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cli_error(SIM_PROG, "fork trader %u: %s", k, strerror(errno));
		return -1;
	}
	if (pid == 0)
		sim_trader_run(fl->plan, fl->sb, k);
	fl->pids[k] = pid;
	atomic_store_explicit(&fl->sb->traders[k].pid, pid,
			      memory_order_relaxed);
	return 0;
}

static void say(const struct sim_plan *plan, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct sim_plan *plan, const char *fmt, ...)
{
	va_list ap;

	if (plan->quiet)
		return;
	printf("[%8.3fs] ", (double)(tc_mono_ns() - plan->t0_ns) / 1e9);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Reaps traders that ended on their own: errors, crashes, or the end. */
static void reap(struct fleet *fl, bool restart)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		uint32_t k;

		for (k = 0; k < fl->plan->nprocs; k++)
			if (fl->pids[k] == pid)
				break;
		if (k == fl->plan->nprocs)
			continue;
		fl->pids[k] = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		if (WIFEXITED(status)) {
			/* The trader printed why; the fleet cannot go on. */
			fl->error = true;
			continue;
		}
		/* Our own SIGTERM can land before a new trader installed its
		 * handler: that is a stop, not a crash. */
		if (!restart && WTERMSIG(status) == SIGTERM)
			continue;
		atomic_fetch_add_explicit(&fl->sb->crashes, 1,
					  memory_order_relaxed);
		say(fl->plan, "trader %u (pid %d) died of signal %d; restarting",
		    k, (int)pid, WTERMSIG(status));
		if (restart)
			spawn(fl, k);
	}
}

/* Returns the operations of every account but trader @v's so far. */
static uint64_t others_ops(const struct fleet *fl, uint32_t v)
{
	uint64_t n = 0;

	for (int s = 0; s < SIM__COUNT; s++)
		for (uint32_t a = 0; a < fl->plan->naccounts; a++)
			if (a % fl->plan->nprocs != v)
				n += atomic_load_explicit(
					&sim_tally(fl->plan, fl->sb, s, a)->ops,
					memory_order_relaxed);
	return n;
}

/* Kills trader @v mid-operation (if it is in one within 100 ms). */
static void kill_trader(struct fleet *fl, uint32_t v, int scenario)
{
	struct sim_trader *t = &fl->sb->traders[v];
	uint64_t deadline = tc_mono_ns() + 100000000u;
	pid_t pid = fl->pids[v];
	int mid;

	if (!pid)
		return;
	while (!(mid = atomic_load_explicit(&t->in_op, memory_order_relaxed)) &&
	       tc_mono_ns() < deadline)
		sim_sleep_ns(50000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fl->pids[v] = 0;
	atomic_store_explicit(&t->in_op, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&fl->sb->kills[scenario], 1,
				  memory_order_relaxed);
	if (mid)
		atomic_fetch_add_explicit(&fl->sb->kills_mid_op, 1,
					  memory_order_relaxed);
	fl->restart_at = tc_mono_ns() + fl->plan->restart_ns;
	fl->restart_idx = (int)v;
	fl->others_ops = others_ops(fl, v);
	say(fl->plan, "kill: SIGKILL trader %u (pid %d)%s; restart in %.0fms",
	    v, (int)pid, mid ? " mid-operation" : "",
	    (double)fl->plan->restart_ns / 1e6);
}

static void announce_phase(struct fleet *fl, uint64_t phase, int s)
{
	const struct sim_plan *plan = fl->plan;

	atomic_fetch_add_explicit(&fl->sb->phases[s], 1, memory_order_relaxed);
	for (uint32_t a = 0; a < plan->naccounts; a++)
		if (sim_is_target(plan, phase, a))
			atomic_store_explicit(
				&sim_tally(plan, fl->sb, s, a)->faulted, 1,
				memory_order_relaxed);
	if (s == SIM_KILL)
		say(plan, "phase %" PRIu64 ": %s - %s (trader %u)", phase,
		    sim_scenario_name(s), sim_scenario_story(s),
		    sim_kill_victim(plan, phase));
	else
		say(plan, "phase %" PRIu64 ": %s - %s", phase,
		    sim_scenario_name(s), sim_scenario_story(s));
}

/* Follows the schedule until the duration ends or a signal stops us. */
static void run_fleet(struct fleet *fl)
{
	const struct sim_plan *plan = fl->plan;
	uint64_t last_phase = UINT64_MAX, tick = plan->idle_ns;
	uint32_t kills_done = 0;
	bool in_fault = false;

	if (tick > 5000000u)
		tick = 5000000u;
	for (uint32_t k = 0; k < plan->nprocs; k++)
		if (spawn(fl, k) < 0) {
			fl->error = true;
			return;
		}
	while (!parent_stop && !fl->error) {
		uint64_t off, now = tc_mono_ns();
		uint64_t p = sim_phase_at(plan, now, &off);
		int s = sim_phase_scenario(plan, p);
		bool fault;

		if (plan->duration_ns && now >= plan->t0_ns + plan->duration_ns)
			break;
		if (atomic_load_explicit(&fl->sb->error, memory_order_relaxed)) {
			fl->error = true;
			break;
		}
		if (p != last_phase) {
			announce_phase(fl, p, s);
			last_phase = p;
			kills_done = 0;
		}
		fault = off >= plan->warm_ns && off < plan->warm_ns + plan->fault_ns;
		if (fault != in_fault) {
			say(plan, "%s: fault window %s", sim_scenario_name(s),
			    fault ? "opens" : "closes");
			in_fault = fault;
		}
		if (fl->restart_idx >= 0 && now >= fl->restart_at) {
			uint32_t v = (uint32_t)fl->restart_idx;
			uint64_t n;

			fl->restart_idx = -1;
			if (spawn(fl, v) < 0) {
				fl->error = true;
				break;
			}
			n = others_ops(fl, v) - fl->others_ops;
			atomic_fetch_add_explicit(&fl->sb->restarts, 1,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&fl->sb->ops_while_down, n,
						  memory_order_relaxed);
			say(plan, "restart: trader %u is back (pid %d); the "
			    "others made %" PRIu64 " operations meanwhile", v,
			    (int)fl->pids[v], n);
		}
		if (s == SIM_KILL && fault && fl->restart_idx < 0 &&
		    kills_done < plan->kills_per_phase &&
		    off >= plan->warm_ns +
				   kills_done * plan->fault_ns /
					   plan->kills_per_phase) {
			kill_trader(fl, sim_kill_victim(plan, p), s);
			kills_done++;
		}
		reap(fl, true);
		sim_sleep_ns(tick);
	}
}

/* Stops every trader: SIGTERM, then SIGKILL after 5 s. */
static void stop_fleet(struct fleet *fl)
{
	uint64_t deadline = tc_mono_ns() + 5000000000u;
	bool left;

	atomic_store_explicit(&fl->sb->stop, 1, memory_order_relaxed);
	for (uint32_t k = 0; k < fl->plan->nprocs; k++)
		if (fl->pids[k])
			kill(fl->pids[k], SIGTERM);
	do {
		reap(fl, false);
		left = false;
		for (uint32_t k = 0; k < fl->plan->nprocs; k++)
			left |= fl->pids[k] != 0;
		if (left)
			sim_sleep_ns(1000000);
	} while (left && tc_mono_ns() < deadline);
	for (uint32_t k = 0; k < fl->plan->nprocs; k++)
		if (fl->pids[k]) {
			cli_error(SIM_PROG, "trader %u (pid %d) ignored SIGTERM; "
				  "killing it", k, (int)fl->pids[k]);
			kill(fl->pids[k], SIGKILL);
			waitpid(fl->pids[k], NULL, 0);
			fl->pids[k] = 0;
		}
}

static bool config_equal(const struct iso_config *a, const struct iso_config *b)
{
	return a->failure_threshold == b->failure_threshold &&
	       a->success_threshold == b->success_threshold &&
	       a->half_open_max_calls == b->half_open_max_calls &&
	       a->degrade_after == b->degrade_after &&
	       a->open_timeout_ms == b->open_timeout_ms &&
	       a->max_open_timeout_ms == b->max_open_timeout_ms &&
	       a->probe_timeout_ms == b->probe_timeout_ms &&
	       a->trip_on == b->trip_on && a->ignore == b->ignore &&
	       a->flags == b->flags;
}

/*
 * Gives the accounts of the plan their config on a segment isosim created
 * (all of them are its own) or, with --attach-existing, on one that was
 * there: an account that already existed keeps its config and its breaker
 * (halted or not) untouched; only the ones isosim registers now get the
 * demo config and, for the auth scenario, trip_on AUTHENTICATION.
 * Nothing is ever reset: on a created segment every breaker starts CLOSED,
 * and on an existing one the breakers are the operators'.
 */
static int prepare_accounts(const struct sim_plan *plan, iso_reg_t *reg,
			    bool existing)
{
	struct iso_segment_info info;
	struct iso_config auth;
	bool override;
	uint32_t kept = 0, halted = 0;
	int rc;

	rc = iso_segment_info(reg, &info);
	if (rc < 0)
		return rc;
	/* An existing segment keeps its default; our accounts get ours. */
	override = !config_equal(&info.defaults, &plan->cfg);
	auth = plan->cfg;
	auth.trip_on |= ISO_FAIL_MASK(ISO_FAIL_AUTHENTICATION);
	for (uint32_t a = 0; a < plan->naccounts; a++) {
		const struct sim_account *acc = &plan->accounts[a];
		struct iso_status st;
		iso_account_t h;

		rc = existing ? iso_lookup_key(reg, &acc->key, &h) : ISO_ENOENT;
		if (rc == 0) {
			/* Not ours: look, say, touch nothing. */
			kept++;
			if (iso_status(&h, &st) == 0 &&
			    st.breaker == ISO_BREAKER_FORCED_OPEN) {
				halted++;
				cli_error(SIM_PROG, "%s is halted (FORCED_OPEN); "
					  "isosim leaves it halted", acc->name);
			}
			continue;
		}
		if (rc != ISO_ENOENT)
			return rc;
		rc = iso_register_key(reg, &acc->key, &h);
		if (rc < 0)
			return rc;
		if (a == plan->a_user2_coinbase)
			rc = iso_configure(&h, &auth);
		else if (override)
			rc = iso_configure(&h, &plan->cfg);
		if (rc < 0)
			return rc;
	}
	if (kept && !plan->quiet)
		printf("isosim: %u of the %u accounts already existed in %s: "
		       "their config and breakers are left as they are%s\n",
		       kept, plan->naccounts, plan->segment,
		       halted ? " (halted ones stay halted)" : "");
	return 0;
}

/*
 * Creates the segment exclusively (demo config as its default), or with
 * --attach-existing attaches the one there, and prepares the accounts.
 * *@created says whether this run made the segment (and so may remove it).
 * Returns 0 or an exit code.
 */
static int prepare_segment(const struct sim_plan *plan, bool existing,
			   bool *created)
{
	struct iso_attach_opts opts = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
		.capacity = plan->naccounts > ISO_DEFAULT_CAPACITY
				    ? plan->naccounts
				    : ISO_DEFAULT_CAPACITY,
		.defaults = &plan->cfg,
	};
	iso_reg_t *reg;
	char what[300];
	int rc;

	*created = false;
	rc = iso_attach(plan->segment, existing ? NULL : &opts, &reg);
	if (rc < 0) {
		snprintf(what, sizeof(what), "%s %s",
			 existing ? "attach existing segment" : "create segment",
			 plan->segment);
		cli_iso_error(SIM_PROG, what, rc);
		if (rc == ISO_EEXIST)
			fprintf(stderr, "%s: it already exists and may hold real "
				"accounts; isosim only creates its own. Give "
				"another --segment name, or --attach-existing %s "
				"to drive it on purpose\n", SIM_PROG,
				plan->segment);
		return rc == ISO_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
	}
	*created = !existing;
	rc = prepare_accounts(plan, reg, existing);
	if (rc < 0) /* before the detach, while the detail is the library's */
		cli_iso_error(SIM_PROG, "prepare the segment's accounts", rc);
	iso_detach(reg);
	return rc < 0 ? CLI_EXIT_RUNTIME : 0;
}

/* Removes the segment if this run created it and was not asked to keep
 * it; says what it did either way. */
static void finish_segment(const struct sim_plan *plan, bool created,
			   bool keep)
{
	int rc;

	if (!created)
		return;
	if (keep) {
		if (!plan->quiet)
			printf("isosim: kept segment %s ('isoctl -s %s status' "
			       "reads it, 'isoctl -s %s unlink' removes it)\n",
			       plan->segment, plan->segment, plan->segment);
		return;
	}
	rc = iso_unlink(plan->segment);
	if (rc < 0 && rc != ISO_ENOENT)
		cli_iso_error(SIM_PROG, "remove its segment", rc);
	else if (!plan->quiet)
		printf("isosim: removed segment %s (--keep keeps it)\n",
		       plan->segment);
}

static int final_report(struct fleet *fl)
{
	struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
	iso_reg_t *reg;
	bool ok;
	int rc;

	rc = iso_attach(fl->plan->segment, &ro, &reg);
	if (rc < 0) {
		char what[300];

		snprintf(what, sizeof(what), "attach %s for the report",
			 fl->plan->segment);
		cli_iso_error(SIM_PROG, what, rc);
		return CLI_EXIT_RUNTIME;
	}
	printf("\n== isosim: %u accounts, %u traders, %.1fs at speed %g ==\n",
	       fl->plan->naccounts, fl->plan->nprocs,
	       (double)(tc_mono_ns() - fl->plan->t0_ns) / 1e9,
	       fl->plan->speed);
	ok = sim_report_print(fl->plan, fl->sb, reg);
	fflush(stdout);
	iso_detach(reg);
	return ok ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}

enum { OPT_SEGMENT = 256, OPT_SCENARIO, OPT_ACCOUNTS, OPT_PROCS,
       OPT_DURATION, OPT_SPEED, OPT_OPEN_TIMEOUT, OPT_QUIET, OPT_HELP,
       OPT_ATTACH_EXISTING, OPT_KEEP, OPT_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "segment", required_argument, NULL, OPT_SEGMENT },
		{ "scenario", required_argument, NULL, OPT_SCENARIO },
		{ "accounts", required_argument, NULL, OPT_ACCOUNTS },
		{ "procs", required_argument, NULL, OPT_PROCS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "speed", required_argument, NULL, OPT_SPEED },
		{ "open-timeout-ms", required_argument, NULL, OPT_OPEN_TIMEOUT },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "attach-existing", required_argument, NULL,
		  OPT_ATTACH_EXISTING },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct sim_plan plan = { .naccounts = 12, .nprocs = 3, .speed = 1 };
	const char *segment = NULL, *existing = NULL, *scenario = "all";
	char own_name[64];
	bool procs_given = false;
	bool keep = false;
	double duration = -1, speed = 1;
	uint32_t open_ms = 0;
	struct fleet fl = { .plan = &plan, .restart_idx = -1 };
	struct sigaction sa;
	bool created = false;
	int opt, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SEGMENT:
			segment = optarg;
			break;
		case OPT_SCENARIO:
			scenario = optarg;
			break;
		case OPT_ACCOUNTS:
			if (cli_parse_u32(SIM_PROG, "--accounts", optarg, 6,
					  ISO_CAPACITY_MAX, &plan.naccounts) < 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_PROCS:
			if (cli_parse_u32(SIM_PROG, "--procs", optarg, 1, 1024,
					  &plan.nprocs) < 0)
				return CLI_EXIT_USAGE;
			procs_given = true;
			break;
		case OPT_DURATION:
			if (cli_parse_double(SIM_PROG, "--duration", optarg, 0,
					     &duration) < 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_SPEED:
			if (cli_parse_double(SIM_PROG, "--speed", optarg, 0,
					     &speed) < 0)
				return CLI_EXIT_USAGE;
			if (speed <= 0 || speed > 1000) {
				cli_error(SIM_PROG, "--speed: '%s' is not in "
					  "(0, 1000]", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_OPEN_TIMEOUT:
			if (cli_parse_u32(SIM_PROG, "--open-timeout-ms", optarg,
					  1, ISO_TIMEOUT_MAX_MS / 4,
					  &open_ms) < 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_QUIET:
			plan.quiet = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return CLI_EXIT_OK;
		case OPT_VERSION:
			printf("isosim %d.%d.%d\n", ISO_VERSION_MAJOR,
			       ISO_VERSION_MINOR, ISO_VERSION_PATCH);
			return CLI_EXIT_OK;
		case OPT_ATTACH_EXISTING:
			existing = optarg;
			break;
		case OPT_KEEP:
			keep = true;
			break;
		default:
			if (optopt)
				cli_error(SIM_PROG, "option '%s' needs a value",
					  argv[optind - 1]);
			else
				cli_error(SIM_PROG, "unknown option '%s'",
					  argv[optind - 1]);
			fprintf(stderr, "Try 'isosim --help'.\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error(SIM_PROG, "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	/* The fleet-budget scenario is its own run: one account, a shared
	 * exchange limit, with and without a budget (budget.c). */
	if (strcmp(scenario, "budget") == 0) {
		if (existing) {
			cli_error(SIM_PROG, "--scenario budget makes segments of "
				  "its own; it cannot --attach-existing");
			return CLI_EXIT_USAGE;
		}
		snprintf(own_name, sizeof(own_name), "/isosim-%u-%d",
			 (unsigned)getuid(), (int)getpid());
		return sim_budget_run(segment ? segment : own_name,
				      procs_given ? plan.nprocs : 4,
				      duration > 0 ? duration : 2.0);
	}
	if (plan.nprocs > plan.naccounts) {
		cli_error(SIM_PROG, "--procs %u: more traders than the %u "
			  "accounts", plan.nprocs, plan.naccounts);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(scenario, "all") == 0) {
		for (int s = 0; s < SIM__COUNT; s++)
			plan.cycle[plan.ncycle++] = s;
	} else {
		int s = sim_scenario_parse(scenario);

		if (s < 0) {
			cli_error(SIM_PROG, "--scenario: unknown scenario '%s' "
				  "(all, scenario1, scenario2, broker-outage, "
				  "auth, rate-limit, kill)", scenario);
			return CLI_EXIT_USAGE;
		}
		plan.cycle[plan.ncycle++] = s;
	}
	if (plan.cycle[0] == SIM_KILL && plan.ncycle == 1 && plan.nprocs < 2) {
		cli_error(SIM_PROG, "--scenario kill needs --procs >= 2, so "
			  "someone keeps trading");
		return CLI_EXIT_USAGE;
	}

	if (segment && existing) {
		cli_error(SIM_PROG, "--segment creates a segment and "
			  "--attach-existing drives one that exists: give one");
		return CLI_EXIT_USAGE;
	}
	if (existing && keep) {
		cli_error(SIM_PROG, "--keep: isosim never removes a segment it "
			  "did not create, so --attach-existing keeps it anyway");
		return CLI_EXIT_USAGE;
	}
	/* Never $ISOREG_SEGMENT or /isoreg: a name no one else uses. */
	snprintf(own_name, sizeof(own_name), "/isosim-%u-%d",
		 (unsigned)getuid(), (int)getpid());
	plan.segment = existing ? existing : segment ? segment : own_name;
	if (plan.segment[0] != '/' || !plan.segment[1]) {
		cli_error(SIM_PROG, "%s: '%s' is not a shm name like "
			  "/isosim-demo", existing ? "--attach-existing" :
			  "--segment", plan.segment);
		return CLI_EXIT_USAGE;
	}
	sim_plan_timings(&plan, speed, open_ms);
	if (duration < 0)
		plan.duration_ns = plan.phase_ns * (uint64_t)plan.ncycle;
	else
		plan.duration_ns = (uint64_t)(duration * 1e9);
	if (sim_plan_accounts(&plan) < 0) {
		cli_error(SIM_PROG, "cannot build %u accounts", plan.naccounts);
		return CLI_EXIT_RUNTIME;
	}

	/* A trader visits its accounts in turn: if one round takes a good
	 * part of the fault window, the faulted account sees too few calls to
	 * trip, and the demo shows nothing. Say so rather than mislead. */
	if ((uint64_t)(plan.naccounts / plan.nprocs + 1) *
		    (plan.op_min_ns + plan.op_max_ns) / 2 >
	    plan.fault_ns / 10)
		cli_error(SIM_PROG, "warning: %u accounts per trader make a "
			  "round longer than a tenth of the fault window; "
			  "faulted accounts may not trip (add --procs)",
			  plan.naccounts / plan.nprocs);

	rc = prepare_segment(&plan, existing != NULL, &created);
	if (rc)
		goto out;
	fl.sb = sim_scoreboard_map(&plan);
	fl.pids = calloc(plan.nprocs, sizeof(*fl.pids));
	if (!fl.sb || !fl.pids) {
		cli_error(SIM_PROG, "scoreboard: %s", strerror(errno));
		rc = CLI_EXIT_RUNTIME;
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	plan.t0_ns = tc_mono_ns();
	if (!plan.quiet) {
		char until[64];

		if (plan.duration_ns)
			snprintf(until, sizeof(until), "for %.1fs",
				 (double)plan.duration_ns / 1e9);
		else
			snprintf(until, sizeof(until), "until ^C");
		say(&plan, "segment %s (%s): %u accounts, %u traders, "
		    "scenario %s, phase %.1fs, open timeout %ums, %s",
		    plan.segment, created ? "created" : "existing, attached",
		    plan.naccounts, plan.nprocs, scenario,
		    (double)plan.phase_ns / 1e9, plan.cfg.open_timeout_ms,
		    until);
	}
	run_fleet(&fl);
	stop_fleet(&fl);
	if (fl.error || atomic_load_explicit(&fl.sb->error, memory_order_relaxed)) {
		cli_error(SIM_PROG, "a trader hit a runtime error (above); "
			  "the run was cut short");
		final_report(&fl);
		rc = CLI_EXIT_RUNTIME;
		goto out;
	}
	rc = final_report(&fl);
out:
	finish_segment(&plan, created, keep);
	sim_scoreboard_unmap(&plan, fl.sb);
	free(fl.pids);
	free(plan.accounts);
	return rc;
}
