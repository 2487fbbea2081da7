/*
 * main.c - isoctl, the isoreg admin CLI [T1]: global options, the table of
 * sub-commands with their help, and the option conventions they share.
 *
 * It must never act on an account itself: every sub-command (cmd_*.c) asks
 * the library and prints what it answered. Exit codes: 0 ok, 1 runtime
 * error, 2 usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isoctl.h"
#include "serve.h"
#include "../common/busguard.h"

struct isoctl_command {
	const char *name;
	int (*fn)(struct isoctl *ctx, int argc, char **argv);
	const char *summary;
	const char *help;
};

static int cmd_serve(struct isoctl *ctx, int argc, char **argv)
{
	(void)ctx;
	return isoctl_serve(argc, argv);
}

static const struct isoctl_command commands[] = {
	{ "create", isoctl_cmd_create, "create a new segment",
	  "usage: isoctl create [--capacity N] [--mode 0660] [--cooldown-ms N]\n"
	  "                     [--events N] [--windows] [--config FILE]\n"
	  "                     [--exist-ok] [field=value ...]\n"
	  "\n"
	  "Create the segment (it must not exist yet) with room for N accounts\n"
	  "(default 4096), file mode MODE (default 0600), and a retire cooldown\n"
	  "of N ms before a retired account's slot is reused (default 60000).\n"
	  "--events N sizes the event ring (a power of two, 64 to 4194304;\n"
	  "default capacity/4, 64 to 65536, 64 bytes each).\n"
	  "--windows adds the rolling-window region (256 bytes per account),\n"
	  "which window_ms needs; a window_ms default adds it by itself.\n"
	  "The segment's state file ('isoctl state') is applied before the\n"
	  "segment is linked into place.\n"
	  "Each field=value sets a default breaker config field, e.g.\n"
	  "failure_threshold=3 open_timeout_ms=60000 trip_on=AUTHENTICATION.\n"
	  "Fields: failure_threshold success_threshold half_open_max_calls\n"
	  "degrade_after open_timeout_ms max_open_timeout_ms probe_timeout_ms\n"
	  "trip_on ignore observe_only rate_per_s burst window_ms min_calls\n"
	  "failure_rate_threshold slow_call_ms slow_call_rate_threshold.\n"
	  "--config FILE reads these settings from FILE, one 'key = value' a\n"
	  "line ('#' comments): capacity mode owner group events cooldown_ms\n"
	  "windows (yes or no) and the config fields; the command line wins\n"
	  "over it. A bad line is refused with its number. With owner or\n"
	  "group, isoctl (as root) becomes that user and group before\n"
	  "creating, so the segment is theirs from the start.\n"
	  "--exist-ok: if a valid segment of that owner already has the name,\n"
	  "say so and exit 0, changing nothing (isoreg@.service runs\n"
	  "'create --config /etc/isoreg/NAME.conf --exist-ok').\n" },
	{ "unlink", isoctl_cmd_unlink, "remove the segment's name",
	  "usage: isoctl unlink [--force]\n"
	  "\n"
	  "Remove the segment's name. Processes that have it mapped would keep\n"
	  "trading on an orphan that no tool can see or halt, so while any do,\n"
	  "it lists them (pid, command) and refuses; --force unlinks anyway.\n"
	  "New attaches fail until it is created again; halts and configs in\n"
	  "the state file ('isoctl state') apply to the new one.\n" },
	{ "info", isoctl_cmd_info, "segment facts: capacity, use, sizes",
	  "usage: isoctl info [--json]\n"
	  "\n"
	  "Capacity, slots used and live, slot size, bytes per account (the\n"
	  "SPEC [P5] budget is 512), whether it has the rolling-window region\n"
	  "(256 bytes per account more), directory tombstones, event ring\n"
	  "size, retire cooldown and the segment's default breaker config.\n" },
	{ "list", isoctl_cmd_list, "table of every account",
	  "usage: isoctl list [--json] [--sort severity|key|slot] [--broker B]\n"
	  "                   [--not-healthy]\n"
	  "\n"
	  "One row per account: key, health, breaker, operations, failures,\n"
	  "consecutive failures, p50/p99 operation time, time until probes are\n"
	  "allowed (RETRY-IN; 'halted' for a forced open), failures by type.\n"
	  "Where any account has a rolling window, a FAIL-RATE column: its\n"
	  "window's failure rate, (N/M) while N of its min_calls M outcomes\n"
	  "are in the window, '-' for an account without one.\n"
	  "Sorted worst first by default.\n" },
	{ "status", isoctl_cmd_status, "one account in full, or all accounts",
	  "usage: isoctl status [KEY] [--json] [list options]\n"
	  "\n"
	  "With KEY (type/id/BROKER, e.g. user/user1/KRAKEN): everything the\n"
	  "registry knows about that account: breaker, counters, failure\n"
	  "breakdown, times, operation-time histogram, its rolling window\n"
	  "(outcomes, failures, slow calls and both rates against their\n"
	  "thresholds) and the config in force.\n"
	  "Without KEY: a one-line summary of the segment, then the table of\n"
	  "'isoctl list'.\n" },
	{ "report", isoctl_cmd_report, "isolation report (all accounts)",
	  "usage: isoctl report [--json]\n"
	  "\n"
	  "Accounts per health state, total operations, failures and\n"
	  "quarantines, per broker how many accounts are unhealthy (a\n"
	  "broker-wide incident shows as one line), detected cross-account\n"
	  "errors, and whether the isolation guarantee is ACTIVE or VIOLATED.\n" },
	{ "register", isoctl_cmd_register, "register an account",
	  "usage: isoctl register KEY\n"
	  "\n"
	  "Find or create the account KEY (type/id/BROKER) and print its slot.\n" },
	{ "reset", isoctl_cmd_reset, "close an account's breaker",
	  "usage: isoctl reset KEY... [--force] [--reason TEXT]\n"
	  "\n"
	  "Close the breaker and clear the consecutive counts: the account is\n"
	  "HEALTHY and may act at once. Statistics are kept. Do this only once\n"
	  "the cause of its failures is fixed. An operator's halt is left alone\n"
	  "(use 'isoctl release'), unless --force.\n"
	  "  --force        lift a halt too (and drop it from the state file)\n"
	  "  --reason TEXT  why, in the event log (at most 200 bytes)\n" },
	{ "halt", isoctl_cmd_halt, "stop accounts or a broker",
	  "usage: isoctl halt KEY... [--reason TEXT] [--no-state]\n"
	  "       isoctl halt --broker BROKER [--reason TEXT] [--no-state]\n"
	  "\n"
	  "Force the breaker open (FORCED_OPEN): every operation of the\n"
	  "account is refused until 'isoctl release KEY'. It never reopens by\n"
	  "itself. With --broker, every account of BROKER is refused, accounts\n"
	  "registered later too, until 'isoctl release --broker BROKER'. The\n"
	  "halt is an event with your uid, pid and reason, and is recorded in\n"
	  "the segment's state file ('isoctl state'), so it is in force again\n"
	  "when the segment is created anew (after a reboot, or an unlink).\n"
	  "  --reason TEXT  why (at most 200 bytes; 'isoctl status KEY' shows it)\n"
	  "  --no-state     act on the segment only; record nothing\n" },
	{ "release", isoctl_cmd_release, "undo a halt",
	  "usage: isoctl release KEY... [--reason TEXT] [--no-state]\n"
	  "       isoctl release --broker BROKER [--reason TEXT] [--no-state]\n"
	  "\n"
	  "Undo 'isoctl halt': FORCED_OPEN becomes CLOSED, and the halt is\n"
	  "dropped from the state file. An account that is not halted is left\n"
	  "as it is (it says so). With --broker: lift a broker halt; its\n"
	  "accounts act as their own breakers say.\n" },
	{ "retire", isoctl_cmd_retire, "remove accounts",
	  "usage: isoctl retire KEY... [--reason TEXT] [--no-state]\n"
	  "\n"
	  "The account is gone: its slot is retired and its directory entry\n"
	  "removed; the slot is reused after the segment's retire cooldown.\n"
	  "Handles still held by processes are refused from now on. Its halt\n"
	  "and config, if recorded, leave the state file.\n" },
	{ "state", isoctl_cmd_state, "the operators' durable state",
	  "usage: isoctl state\n"
	  "\n"
	  "Show (and so check) the segment's state file: the halts, broker\n"
	  "halts and config overrides applied whenever the segment is created,\n"
	  "before any trader can act. It lives in $ISOREG_STATE_DIR (default\n"
	  "/var/lib/isoreg) as NAME.state; see docs/state.md for its format.\n"
	  "A malformed file is refused with its line and field named.\n" },
	{ "record", isoctl_cmd_record, "inject outcomes (tests, drills)",
	  "usage: isoctl record KEY success|failure [--type T] [--op-ms X]\n"
	  "                     [--retry-after-ms N] [--count N] [--force]\n"
	  "\n"
	  "Record N (default 1) outcomes for KEY as a trader would, registering\n"
	  "the account if needed, then print its health. For drills and tests:\n"
	  "the breaker reacts exactly as to real traffic. Like a trader, it asks\n"
	  "first (acquire) before each outcome: if the account refuses (halted,\n"
	  "quarantined, no probe permit free) it stops, prints the reason and\n"
	  "exits 1.\n"
	  "  --type T            failure type (API NETWORK AUTHENTICATION\n"
	  "                      RATE_LIMIT BALANCE POSITION EXECUTION UNKNOWN);\n"
	  "                      default UNKNOWN\n"
	  "  --op-ms X           operation time in ms (fractions allowed)\n"
	  "  --retry-after-ms N  the exchange's retry-after, failures only\n"
	  "  --count N           how many outcomes to record\n"
	  "  --force             record without asking (as work that began\n"
	  "                      before a trip would)\n" },
	{ "config", isoctl_cmd_config, "show or change breaker config",
	  "usage: isoctl config [--json]                 segment default\n"
	  "       isoctl config field=value ...          change the default\n"
	  "       isoctl config KEY [--json]             config in force for KEY\n"
	  "       isoctl config KEY field=value ...      give KEY its own config\n"
	  "       isoctl config KEY --default            KEY follows the default\n"
	  "\n"
	  "Fields: failure_threshold success_threshold half_open_max_calls\n"
	  "degrade_after open_timeout_ms max_open_timeout_ms probe_timeout_ms\n"
	  "trip_on ignore (failure types, comma-separated, or none) and\n"
	  "observe_only (0 or 1), and the request budget rate_per_s (calls\n"
	  "a second, fractions allowed; 0 = none) and burst (calls at once).\n"
	  "Rate tripping [B7]: window_ms (the rolling window, 100 to 3600000;\n"
	  "0 = off), min_calls (outcomes in it before a rate is judged),\n"
	  "failure_rate_threshold and slow_call_rate_threshold (percent, 1 to\n"
	  "100; 0 = off) and slow_call_ms (an outcome this slow is slow). A\n"
	  "window needs a segment made with 'isoctl create --windows'.\n"
	  "Unnamed fields keep the value in force.\n"
	  "open_timeout_ms above the max_open_timeout_ms in force is refused\n"
	  "(exit 2) unless max_open_timeout_ms is given too: the cap is never\n"
	  "raised behind the operator's back.\n"
	  "A change is an event (cause config, or defaults for the segment\n"
	  "default) with your uid, pid and --reason TEXT, and is recorded in\n"
	  "the state file ('isoctl state') so it holds again when the segment\n"
	  "is created anew; --default drops KEY's record; --no-state records\n"
	  "nothing.\n" },
	{ "events", isoctl_cmd_events, "breaker transitions (of one account, since)",
	  "usage: isoctl events [KEY] [--since TIME] [--last N] [--json]\n"
	  "                     [--follow [--from-start] [--interval-ms N]]\n"
	  "\n"
	  "Print breaker transitions from the event ring, one per line: time,\n"
	  "account, health from -> to, breaker, cause, failure type, pid.\n"
	  "With KEY: only that account's events. --since TIME: only events at\n"
	  "or after TIME: Unix ms (1764494476123), an ISO-8601 UTC time\n"
	  "(2026-11-30T09:11:16Z, or 2026-11-30), or a time ago (90s, 10m, 2h,\n"
	  "1d).\n"
	  "Without --follow: every event still in the ring (or the last N).\n"
	  "With --follow: new events as they happen, until SIGINT or SIGTERM;\n"
	  "it polls every N ms (default 200), and --from-start (or --since)\n"
	  "prints the events already in the ring first. A follower\n"
	  "moves to a segment created again under the same name.\n"
	  "Events lost to overwrite or to a writer that died are reported as\n"
	  "'missed N'.\n" },
	{ "check", isoctl_cmd_check, "exit 0/1/2 by the worst health (monitoring)",
	  "usage: isoctl check\n"
	  "\n"
	  "One line on stdout and an exit status by the worst account, for\n"
	  "systemd and monitoring checks (the Nagios plugin convention):\n"
	  "  0 OK        every account HEALTHY (or none registered)\n"
	  "  1 WARNING   the worst is DEGRADED or RECOVERING\n"
	  "  2 CRITICAL  an account QUARANTINED (tripped or halted) or FAILING,\n"
	  "              isolation VIOLATED, or the segment missing or\n"
	  "              unreadable (the line says why)\n"
	  "The line names broker-wide incidents and the worst account, and\n"
	  "ends with performance data after '|'. Usage errors exit 2 too.\n" },
	{ "doctor", isoctl_cmd_doctor, "verify the segment (and --repair)",
	  "usage: isoctl doctor [--repair] [--json]\n"
	  "\n"
	  "Check every slot, breaker word and directory entry. With --repair,\n"
	  "free slots reserved by registrants that died half-way and finish\n"
	  "publishing those already in the directory. Exit status 1 if the\n"
	  "segment is not ok.\n" },
	{ "serve", cmd_serve, "Prometheus /metrics endpoint",
	  "usage: isoctl serve [--listen ADDR:PORT] (see 'isoctl serve --help')\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct isoctl_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: isoctl [--segment NAME] [--owner USER|UID] COMMAND [options] [args]\n"
		"\n"
		"Administer an isoreg segment (default %s, or ISOREG_SEGMENT).\n"
		"\n"
		"commands:\n",
		ISO_DEFAULT_SEGMENT);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Every command takes --help, --segment NAME and --owner USER|UID\n"
		"(attach a segment that belongs to that user; default: your own\n"
		"uid, or ISOREG_OWNER). KEY is an account key type/id/BROKER,\n"
		"e.g. user/user1/KRAKEN.\n"
		"Exit status: 0 ok, 1 runtime error, 2 usage error.\n");
}

void isoctl_help(const struct isoctl *ctx)
{
	const struct isoctl_command *c = find_command(ctx->cmd);

	if (c)
		fputs(c->help, stdout);
	printf("\nCommon options: -s, --segment NAME (default $ISOREG_SEGMENT or "
	       "%s), --owner USER|UID (trust a segment of that owner; default "
	       "$ISOREG_OWNER, else your own uid), --help.\n",
	       ISO_DEFAULT_SEGMENT);
}

int isoctl_usage_error(const struct isoctl *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctx->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'isoctl %s --help'.\n", ctx->cmd);
	return CLI_EXIT_USAGE;
}

/*
 * --owner: checked here, then exported as ISOREG_OWNER, so that every
 * attach of this run (serve's re-attaches included) reads one rule,
 * cli_trust_opts. Returns 0, or -1 after printing what was wrong.
 */
static int set_owner(const char *prog, const char *text)
{
	uid_t uid;

	if (cli_parse_owner(prog, "--owner", text, &uid) < 0)
		return -1;
	if (setenv("ISOREG_OWNER", text, 1) != 0) {
		perror("isoctl: setenv ISOREG_OWNER");
		return -1;
	}
	return 0;
}

int isoctl_verify(struct isoctl *ctx, iso_reg_t *reg)
{
	int rc = iso_segment_check(reg);

	if (rc == 0 || rc == ISO_ESTALE)
		return CLI_EXIT_OK;
	cli_iso_error(ctx->prog, "the segment changed under this read; what "
		      "it showed cannot be trusted", rc);
	return CLI_EXIT_RUNTIME;
}

int isoctl_segment_info(struct isoctl *ctx, iso_reg_t *reg,
			struct iso_segment_info *info)
{
	int rc = iso_segment_info(reg, info);

	if (rc == 0)
		return CLI_EXIT_OK;
	cli_iso_error(ctx->prog, "segment info", rc);
	iso_detach(reg);
	return CLI_EXIT_RUNTIME;
}

int isoctl_common_opt(struct isoctl *ctx, int c, int argc, char **argv)
{
	/* getopt leaves the offending word just before optind. */
	const char *word = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";

	switch (c) {
	case 'h':
		isoctl_help(ctx);
		return CLI_EXIT_OK;
	case 'S':
	case 's':
		if (!optarg[0])
			return isoctl_usage_error(ctx, "--segment needs a name");
		ctx->segment = optarg;
		return -1;
	case 'O':
		return set_owner(ctx->prog, optarg) < 0 ? CLI_EXIT_USAGE : -1;
	case ':':
		return isoctl_usage_error(ctx, "option '%s' needs a value", word);
	default:
		return isoctl_usage_error(ctx, "unknown option '%s'", word);
	}
}

int isoctl_view_open(struct isoctl *ctx, int argc, char **argv, bool *json,
		     iso_reg_t **reg)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		ISOCTL_COMMON_OPTS
	};
	int c, rc;

	*json = false;
	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1) {
		if (c == 'j')
			*json = true;
		else if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	}
	if (optind < argc)
		return isoctl_usage_error(ctx, "unexpected argument '%s'",
					  argv[optind]);
	rc = tool_attach(ctx->prog, ctx->segment, ISO_ATTACH_RDONLY, reg);
	return rc == CLI_EXIT_OK ? -1 : rc;
}

void isoctl_print_json(json_object *obj, bool compact)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (compact ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY);

	puts(json_object_to_json_string_ext(obj, flags));
	json_object_put(obj);
}

int isoctl_lookup(struct isoctl *ctx, const char *text, bool rdonly,
		  iso_reg_t **reg, iso_account_t *acct, struct iso_key *key)
{
	char what[ISO_KEY_STR_MAX + 300];
	int rc;

	*reg = NULL;
	if (cli_parse_key(ctx->prog, text, key) < 0)
		return CLI_EXIT_USAGE;
	rc = tool_attach(ctx->prog, ctx->segment,
			 rdonly ? ISO_ATTACH_RDONLY : 0, reg);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = iso_lookup_key(*reg, key, acct);
	if (rc == 0)
		return CLI_EXIT_OK;
	if (rc == ISO_ENOENT) {
		char k[ISO_KEY_STR_MAX + 1];

		iso_key_format(key, k, sizeof(k));
		cli_error(ctx->prog, "no account '%s' in segment '%s' "
			  "(see 'isoctl list')", k, cli_segment(ctx->segment));
	} else {
		snprintf(what, sizeof(what), "lookup of '%s'", text);
		cli_iso_error(ctx->prog, what, rc);
	}
	return CLI_EXIT_RUNTIME;
}

/* Everything written must reach its reader: a full disk or a closed pipe
 * is a runtime error, not a silent success. */
static int finish_output(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("isoctl: writing output");
		return rc ? rc : CLI_EXIT_RUNTIME;
	}
	return rc;
}

/* One sub-command, run under the SIGBUS guard. */
struct run {
	const struct isoctl_command *c;
	struct isoctl *ctx;
	int argc;
	char **argv;
};

static int run_command(void *arg)
{
	struct run *r = arg;

	return r->c->fn(r->ctx, r->argc, r->argv);
}

int main(int argc, char **argv)
{
	struct isoctl ctx = { .segment = NULL };
	const struct isoctl_command *c;
	int i = 1;

	/* Global options come before the command; each command parses its
	 * own (it also accepts --segment, for convenience). */
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return finish_output(CLI_EXIT_OK);
		} else if (strcmp(a, "--version") == 0) {
			printf("isoctl %d.%d.%d\n", ISO_VERSION_MAJOR,
			       ISO_VERSION_MINOR, ISO_VERSION_PATCH);
			return finish_output(CLI_EXIT_OK);
		} else if (strcmp(a, "--segment") == 0 || strcmp(a, "-s") == 0) {
			if (i + 1 >= argc || !argv[i + 1][0]) {
				fprintf(stderr, "isoctl: %s needs a segment name\n", a);
				return CLI_EXIT_USAGE;
			}
			ctx.segment = argv[i + 1];
			i += 2;
		} else if (strncmp(a, "--segment=", 10) == 0 && a[10]) {
			ctx.segment = a + 10;
			i++;
		} else if (strcmp(a, "--owner") == 0) {
			if (i + 1 >= argc || set_owner("isoctl", argv[i + 1]) < 0) {
				if (i + 1 >= argc)
					fprintf(stderr, "isoctl: --owner needs a "
						"user name or uid\n");
				return CLI_EXIT_USAGE;
			}
			i += 2;
		} else if (strncmp(a, "--owner=", 8) == 0) {
			if (set_owner("isoctl", a + 8) < 0)
				return CLI_EXIT_USAGE;
			i++;
		} else {
			fprintf(stderr, "isoctl: unknown option '%s'\n"
				"Try 'isoctl --help'.\n", a);
			return CLI_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc && (c = find_command(argv[i + 1]))) {
			ctx.cmd = c->name;
			isoctl_help(&ctx);
		} else {
			usage(stdout);
		}
		return finish_output(CLI_EXIT_OK);
	}
	c = find_command(argv[i]);
	if (!c) {
		fprintf(stderr, "isoctl: unknown command '%s'\n"
			"Try 'isoctl --help'.\n", argv[i]);
		return CLI_EXIT_USAGE;
	}
	/* serve (written separately) reads the segment the library way:
	 * exporting the choice keeps one rule for every command. */
	if (ctx.segment && setenv("ISOREG_SEGMENT", ctx.segment, 1) != 0) {
		perror("isoctl: setenv ISOREG_SEGMENT");
		return CLI_EXIT_RUNTIME;
	}
	ctx.cmd = c->name;
	snprintf(ctx.prog, sizeof(ctx.prog), "isoctl %s", c->name);
	optind = 0; /* GNU: re-initialise getopt for the sub-command */
	opterr = 0; /* we word option errors ourselves */
	struct run r = { c, &ctx, argc - i, argv + i };
	int rc = tool_bus_guard(run_command, &r);

	if (rc == TOOL_BUS_FAULT) {
		/* The segment shrank under a read [R7]: no figure printed
		 * so far can be trusted, and the process must not die. */
		fflush(stdout);
		fprintf(stderr, "%s: segment '%s' shrank or was damaged while "
			"being read (SIGBUS caught): nothing above can be "
			"trusted; 'isoctl info' checks it\n", ctx.prog,
			cli_segment(ctx.segment));
		rc = CLI_EXIT_RUNTIME;
	}
	return finish_output(rc);
}
