/*
 * cmd_operator.c - what operators do to accounts and brokers [R8]: halt,
 * release, reset and retire, each attributed (an event with the uid, pid
 * and --reason) and, for halts, durable: recorded in the segment's state
 * file (`isoctl state`), which is applied when the segment is next
 * created. Several keys in one command; --broker for a whole broker.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isoctl.h"

enum op { OP_HALT, OP_RELEASE, OP_RESET, OP_RETIRE };

struct op_args {
	const char *reason;
	const char *broker;
	bool force;
	bool no_state;
	int nkeys;
	char **keys;
};

static int parse(struct isoctl *ctx, int argc, char **argv, enum op op,
		 struct op_args *a)
{
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "broker", required_argument, NULL, 'b' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-state", no_argument, NULL, 'n' },
		ISOCTL_COMMON_OPTS
	};
	int c, rc;
	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS "r:b:f", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'r':
			a->reason = optarg;
			break;
		case 'b':
			a->broker = optarg;
			break;
		case 'f':
			a->force = true;
			break;
		case 'n':
			a->no_state = true;
			break;
		default:
			if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
				return rc;
		}
	}
	a->nkeys = argc - optind;
	a->keys = argv + optind;
	if (a->broker && (op == OP_RESET || op == OP_RETIRE))
		return isoctl_usage_error(ctx, "--broker goes with halt and "
					  "release only");
	if (a->force && op != OP_RESET)
		return isoctl_usage_error(ctx, "--force goes with reset only");
	if (a->broker && a->nkeys)
		return isoctl_usage_error(ctx, "either KEY... or --broker B, "
					  "not both");
	if (!a->broker && !a->nkeys)
		return isoctl_usage_error(ctx, "missing KEY (type/id/BROKER, "
					  "e.g. user/user1/KRAKEN), or --broker");
	if (a->reason) {
		struct iso_op o = { .reason = a->reason };
		if (iso_op_check(&o) < 0)
			return isoctl_usage_error(ctx, "--reason: %s",
						  iso_last_error());
	}
	return -1;
}

/* Record or drop the durable side; a failure there is reported, since
 * the action then would not outlive the segment. */
static int durable(struct isoctl *ctx, const struct op_args *a, bool put,
		   struct iso_state_entry *e)
{
	char path[4096];
	if (a->no_state)
		return CLI_EXIT_OK;
	if (iso_state_path(cli_segment(ctx->segment), path, sizeof(path)) < 0) {
		cli_iso_error(ctx->prog, "state file", ISO_EINVAL);
		return CLI_EXIT_RUNTIME;
	}
	e->uid = (uint32_t)getuid();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	e->time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	snprintf(e->reason, sizeof(e->reason), "%s", a->reason ? a->reason : "");
	int rc = put ? iso_state_put(path, e) : iso_state_remove(path, e);
	if (rc == ISO_ENOENT)
		return CLI_EXIT_OK; /* nothing was recorded: nothing to drop */
	if (rc < 0) {
		char what[4400];
		snprintf(what, sizeof(what), "done in the segment, but not "
			 "recorded in %s (it would not survive losing the "
			 "segment; --no-state to act on the segment alone)", path);
		cli_iso_error(ctx->prog, what, rc);
		return CLI_EXIT_RUNTIME;
	}
	return CLI_EXIT_OK;
}

static int broker_op(struct isoctl *ctx, enum op op, const struct op_args *a)
{
	iso_reg_t *reg;
	int rc = tool_attach(ctx->prog, ctx->segment, 0, &reg);
	struct iso_op o = { .reason = a->reason };
	if (rc != CLI_EXIT_OK)
		return rc;
	struct iso_key k;
	if (iso_key_make("x", "x", a->broker, &k) < 0) {
		cli_iso_error(ctx->prog, "--broker", ISO_EINVAL);
		iso_detach(reg);
		return CLI_EXIT_USAGE;
	}
	rc = op == OP_HALT ? iso_halt_broker(reg, k.broker, &o)
			   : iso_release_broker(reg, k.broker, &o);
	iso_detach(reg);
	struct iso_state_entry e = { .kind = ISO_STATE_HALT_BROKER };
	memcpy(e.broker, k.broker, sizeof(e.broker));
	if (rc == ISO_EEXIST) {
		printf("broker %s is already halted; nothing changed\n", k.broker);
		return CLI_EXIT_OK;
	}
	if (rc == ISO_ENOENT) {
		printf("broker %s is not halted; nothing changed\n", k.broker);
		return durable(ctx, a, false, &e);
	}
	if (rc < 0) {
		cli_iso_error(ctx->prog, op == OP_HALT ? "halting the broker"
			      : "releasing the broker", rc);
		return CLI_EXIT_RUNTIME;
	}
	if (op == OP_HALT)
		printf("halted broker %s: every %s account is refused, "
		       "accounts registered later too, until 'isoctl release "
		       "--broker %s'\n", k.broker, k.broker, k.broker);
	else
		printf("released broker %s: its accounts act as their own "
		       "breakers say\n", k.broker);
	return durable(ctx, a, op == OP_HALT, &e);
}

/* One key: act, say what changed, keep the state file in step. */
static int key_op(struct isoctl *ctx, enum op op, const struct op_args *a,
		  const char *text)
{
	struct iso_key key;
	struct iso_status before, after;
	iso_account_t acct;
	iso_reg_t *reg;
	char k[ISO_KEY_STR_MAX * 4 + 1], was[48], now[48];
	struct iso_op o = { .reason = a->reason,
			    .flags = a->force ? ISO_OP_FORCE : 0 };
	int rc = isoctl_lookup(ctx, text, false, &reg, &acct, &key);
	if (rc != CLI_EXIT_OK) {
		if (reg)
			iso_detach(reg);
		return rc;
	}
	cli_key_escape(&key, k, sizeof(k));
	if (iso_status(&acct, &before) < 0)
		memset(&before, 0, sizeof(before));
	snprintf(was, sizeof(was), "%s (%s)", iso_health_name(before.health),
		 iso_breaker_state_name(before.breaker));
	switch (op) {
	case OP_HALT:
		rc = iso_halt(&acct, &o);
		break;
	case OP_RELEASE:
		rc = iso_release(&acct, &o);
		break;
	case OP_RESET:
		rc = iso_reset_op(&acct, &o);
		break;
	case OP_RETIRE:
		rc = iso_retire_op(&acct, &o);
		break;
	}
	if (rc == 0 && op != OP_RETIRE && iso_status(&acct, &after) == 0)
		snprintf(now, sizeof(now), "%s (%s)", iso_health_name(after.health),
			 iso_breaker_state_name(after.breaker));
	else
		snprintf(now, sizeof(now), "unknown");
	iso_detach(reg);

	struct iso_state_entry e = { .kind = ISO_STATE_HALT, .key = key };
	switch (rc) {
	case 0:
		break;
	case ISO_EEXIST: /* halt of a halted account: the record stays */
		printf("%s is already halted; nothing changed\n", k);
		return CLI_EXIT_OK;
	case ISO_ENOENT: /* release of an account not halted */
		printf("%s is not halted (%s); nothing changed\n", k, was);
		return durable(ctx, a, false, &e);
	case ISO_EPERM:
		cli_error(ctx->prog, "%s is halted by an operator: 'isoctl "
			  "release %s' lifts the halt, 'isoctl reset --force' "
			  "resets it anyway", k, k);
		return CLI_EXIT_RUNTIME;
	default: {
		char what[ISO_KEY_STR_MAX * 4 + 32];
		snprintf(what, sizeof(what), "%s of '%s' failed", ctx->cmd, k);
		cli_iso_error(ctx->prog, what, rc);
		return CLI_EXIT_RUNTIME;
	}
	}
	switch (op) {
	case OP_HALT:
		printf("halted %s: was %s, now %s; every operation is refused "
		       "until 'isoctl release %s'\n", k, was, now, k);
		return durable(ctx, a, true, &e);
	case OP_RELEASE:
		printf("released %s: was %s, now %s\n", k, was, now);
		return durable(ctx, a, false, &e);
	case OP_RESET:
		printf("reset %s: was %s, now %s\n", k, was, now);
		return a->force ? durable(ctx, a, false, &e) : CLI_EXIT_OK;
	case OP_RETIRE:
		printf("retired %s (was %s, slot %u); its slot is reused after "
		       "the retire cooldown\n", k, was, acct.slot);
		/* A retired account's halt and config go with it. */
		rc = durable(ctx, a, false, &e);
		e.kind = ISO_STATE_CONFIG;
		return rc ? rc : durable(ctx, a, false, &e);
	}
	return CLI_EXIT_OK;
}

static int run(struct isoctl *ctx, int argc, char **argv, enum op op)
{
	struct op_args a;
	int rc = parse(ctx, argc, argv, op, &a), worst = CLI_EXIT_OK;
	if (rc >= 0)
		return rc;
	if (a.broker)
		return broker_op(ctx, op, &a);
	for (int i = 0; i < a.nkeys; i++) {
		rc = key_op(ctx, op, &a, a.keys[i]);
		if (rc > worst)
			worst = rc;
	}
	return worst;
}

int isoctl_cmd_halt(struct isoctl *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, OP_HALT);
}

int isoctl_cmd_release(struct isoctl *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, OP_RELEASE);
}

int isoctl_cmd_reset(struct isoctl *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, OP_RESET);
}

int isoctl_cmd_retire(struct isoctl *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, OP_RETIRE);
}

/* Print one state entry as the file has it. */
static int show_entry(const struct iso_state_entry *e, void *ctx)
{
	static const char *const kind[] = { "halt", "halt-broker", "config",
					    "defaults" };
	char k[ISO_KEY_STR_MAX * 4 + 1] = "";
	(*(int *)ctx)++;
	if (e->kind == ISO_STATE_HALT || e->kind == ISO_STATE_CONFIG)
		cli_key_escape(&e->key, k, sizeof(k));
	time_t t = (time_t)(e->time_ms / 1000);
	struct tm tm;
	char when[32];
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-12s %-32s uid %-6u %s%s%s\n", kind[e->kind],
	       e->kind == ISO_STATE_HALT_BROKER ? e->broker : k, e->uid, when,
	       e->reason[0] ? "  " : "", e->reason);
	return 0;
}

int isoctl_cmd_state(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { ISOCTL_COMMON_OPTS };
	char path[4096];
	int c, rc, n = 0;
	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1)
		if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	if (optind != argc)
		return isoctl_usage_error(ctx, "no arguments expected, got '%s'",
					  argv[optind]);
	if (iso_state_path(cli_segment(ctx->segment), path, sizeof(path)) < 0) {
		cli_iso_error(ctx->prog, "state file", ISO_EINVAL);
		return CLI_EXIT_USAGE;
	}
	printf("# %s\n", path);
	rc = iso_state_foreach(path, show_entry, &n);
	if (rc < 0) {
		cli_iso_error(ctx->prog, "the state file is refused", rc);
		return CLI_EXIT_RUNTIME;
	}
	if (!n)
		printf("# no halts or config overrides recorded\n");
	return CLI_EXIT_OK;
}
