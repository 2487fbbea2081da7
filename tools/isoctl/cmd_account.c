/*
 * cmd_account.c - isoctl sub-commands that act on one account: register,
 * record, and config (per account or the segment default). Halt, release,
 * reset and retire are in cmd_operator.c.
 *
 * Each one calls the library once for the action and reports the state
 * before and after as the library saw it; the "before" is read just ahead
 * of the action, so a trader racing it can make it slightly stale.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "isoctl.h"

/* Parse "[options] KEY" for the commands that take just a key. */
static int one_key(struct isoctl *ctx, int argc, char **argv, const char **key)
{
	static const struct option longopts[] = { ISOCTL_COMMON_OPTS };
	int c, rc;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1)
		if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	if (optind == argc)
		return isoctl_usage_error(ctx, "missing KEY (type/id/BROKER, "
					  "e.g. user/user1/KRAKEN)");
	if (argc - optind > 1)
		return isoctl_usage_error(ctx, "one KEY only, got '%s' too",
					  argv[optind + 1]);
	*key = argv[optind];
	return -1;
}


int isoctl_cmd_register(struct isoctl *ctx, int argc, char **argv)
{
	const char *text = NULL;
	struct iso_key key;
	struct iso_status st;
	iso_account_t acct;
	iso_reg_t *reg;
	char k[ISO_KEY_STR_MAX + 1];
	int rc = one_key(ctx, argc, argv, &text);

	if (rc >= 0)
		return rc;
	if (cli_parse_key(ctx->prog, text, &key) < 0)
		return CLI_EXIT_USAGE;
	if ((rc = tool_attach(ctx->prog, ctx->segment, 0, &reg)) != CLI_EXIT_OK)
		return rc;
	iso_key_format(&key, k, sizeof(k));
	rc = iso_register_key(reg, &key, &acct);
	if (rc < 0) {
		char what[ISO_KEY_STR_MAX + 32];

		snprintf(what, sizeof(what), "cannot register '%s'", k);
		cli_iso_error(ctx->prog, what, rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	if (iso_status(&acct, &st) == 0)
		printf("registered %s: slot %u, generation %u, %s\n", k,
		       acct.slot, acct.gen, iso_health_name(st.health));
	else
		printf("registered %s: slot %u, generation %u\n", k, acct.slot,
		       acct.gen);
	iso_detach(reg);
	return CLI_EXIT_OK;
}


/* Say that @acct refused an operation, why, and what was recorded. */
static void record_refused(struct isoctl *ctx, const char *k,
			   const iso_account_t *acct, const iso_permit_t *permit,
			   uint64_t done, uint64_t count)
{
	struct iso_status st;
	char why[128], state[48] = "";

	iso_permit_reason(permit, why, sizeof(why));
	if (iso_status(acct, &st) == 0)
		snprintf(state, sizeof(state), " (%s, %s)",
			 iso_health_name(st.health),
			 iso_breaker_state_name(st.breaker));
	cli_error(ctx->prog, "%s refused the operation: %s%s; %" PRIu64
		  " of %" PRIu64 " outcome(s) recorded (a trader would not "
		  "have acted; --force records anyway)", k, why, state, done,
		  count);
}

int isoctl_cmd_record(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "op-ms", required_argument, NULL, 'o' },
		{ "retry-after-ms", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'F' },
		ISOCTL_COMMON_OPTS
	};
	const char *type_arg = NULL;
	bool has_retry = false, success, force = false;
	uint64_t retry_after = 0, count = 1, op_ns = 0, done;
	double op_ms = 0;
	int ftype = ISO_FAIL_UNKNOWN;
	struct iso_key key;
	struct iso_status st;
	iso_account_t acct;
	iso_reg_t *reg;
	char k[ISO_KEY_STR_MAX + 1], d[32], what[ISO_KEY_STR_MAX + 64];
	int c, rc;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1) {
		switch (c) {
		case 't':
			type_arg = optarg;
			break;
		case 'o':
			/* A week is far beyond any exchange call; it bounds
			 * the conversion to ns well inside 64 bits. */
			if (cli_parse_double(ctx->prog, "--op-ms", optarg, 0,
					     &op_ms) < 0)
				return CLI_EXIT_USAGE;
			if (op_ms > ISO_TIMEOUT_MAX_MS)
				return isoctl_usage_error(ctx, "--op-ms: %s is "
					"more than a week", optarg);
			op_ns = (uint64_t)llround(op_ms * 1e6);
			break;
		case 'r':
			if (cli_parse_u64(ctx->prog, "--retry-after-ms", optarg, 0,
					  ISO_TIMEOUT_MAX_MS, &retry_after) < 0)
				return CLI_EXIT_USAGE;
			has_retry = true;
			break;
		case 'n':
			if (cli_parse_u64(ctx->prog, "--count", optarg, 1,
					  1000000000, &count) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'F':
			force = true;
			break;
		default:
			if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
				return rc;
		}
	}
	if (argc - optind != 2)
		return isoctl_usage_error(ctx, "need KEY and an outcome "
			"(success or failure), got %d argument(s)", argc - optind);
	if (strcmp(argv[optind + 1], "success") == 0)
		success = true;
	else if (strcmp(argv[optind + 1], "failure") == 0)
		success = false;
	else
		return isoctl_usage_error(ctx, "outcome '%s' is neither "
					  "'success' nor 'failure'",
					  argv[optind + 1]);
	if (success && (type_arg || has_retry))
		return isoctl_usage_error(ctx, "--type and --retry-after-ms "
					  "apply to failures only");
	if (type_arg) {
		ftype = iso_failure_type_parse(type_arg);
		if (ftype < 0) {
			snprintf(what, sizeof(what), "--type '%.32s'", type_arg);
			cli_iso_error(ctx->prog, what, ftype);
			return CLI_EXIT_USAGE;
		}
	}
	if (cli_parse_key(ctx->prog, argv[optind], &key) < 0)
		return CLI_EXIT_USAGE;
	if ((rc = tool_attach(ctx->prog, ctx->segment, 0, &reg)) != CLI_EXIT_OK)
		return rc;
	iso_key_format(&key, k, sizeof(k));
	/* Like the library's by-key calls (and the reference), recording for
	 * an unknown account registers it. */
	rc = iso_register_key(reg, &key, &acct);
	if (rc < 0) {
		snprintf(what, sizeof(what), "cannot register '%s'", k);
		cli_iso_error(ctx->prog, what, rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	for (done = 0; done < count; done++) {
		iso_permit_t permit;
		const iso_permit_t *p = NULL;

		/* As a trader would: ask first, and act only if allowed.
		 * --force skips the question; its NULL permit records into
		 * the current episode. */
		if (!force) {
			rc = iso_acquire(&acct, &permit);
			if (rc == ISO_EOPEN || rc == ISO_ELIMIT) {
				record_refused(ctx, k, &acct, &permit, done, count);
				iso_detach(reg);
				return CLI_EXIT_RUNTIME;
			}
			if (rc < 0)
				break;
			p = &permit;
		}
		if (success)
			rc = iso_record_success(&acct, p, op_ns);
		else if (has_retry)
			rc = iso_record_failure_retry(&acct, p, ftype, op_ns,
						      retry_after);
		else
			rc = iso_record_failure(&acct, p, ftype, op_ns);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		snprintf(what, sizeof(what), "recording for '%s' stopped after "
			 "%" PRIu64 " of %" PRIu64, k, done, count);
		cli_iso_error(ctx->prog, what, rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	printf("recorded %" PRIu64 " %s%s", count,
	       success ? "success" : "failure",
	       count == 1 ? "" : (success ? "es" : "s"));
	if (!success)
		printf(" (%s)", iso_failure_type_name(ftype));
	printf(" for %s", k);
	if (iso_status(&acct, &st) == 0) {
		printf(": now %s (%s)", iso_health_name(st.health),
		       iso_breaker_state_name(st.breaker));
		if (st.breaker == ISO_BREAKER_OPEN)
			printf(", retry in %s",
			       fmt_duration_ms(st.retry_in_ms, d, sizeof(d)));
	}
	putchar('\n');
	iso_detach(reg);
	return CLI_EXIT_OK;
}

/* Print @cfg (text or JSON) with where it comes from. */
static void show_config(const struct iso_config *cfg, const char *what,
			bool json, bool has_override, bool override)
{
	if (json) {
		json_object *o = isoctl_json_config(cfg);

		if (has_override)
			json_object_object_add(o, "override",
					       json_object_new_boolean(override));
		isoctl_print_json(o, false);
		return;
	}
	printf("# %s\n", what);
	isoctl_print_config(cfg, 0);
}

int isoctl_cmd_config(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "default", no_argument, NULL, 'd' },
		{ "reason", required_argument, NULL, 'r' },
		{ "no-state", no_argument, NULL, 'n' },
		ISOCTL_COMMON_OPTS
	};
	bool json = false, to_default = false, no_state = false;
	const char *keytext = NULL, *reason = NULL;
	struct iso_segment_info info;
	struct iso_status st;
	struct iso_config cfg;
	struct iso_key key;
	iso_account_t acct;
	iso_reg_t *reg;
	char k[ISO_KEY_STR_MAX + 1], what[ISO_KEY_STR_MAX + 64];
	int c, rc, nfields;
	char **fields;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS "r:", longopts,
				NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'd')
			to_default = true;
		else if (c == 'r')
			reason = optarg;
		else if (c == 'n')
			no_state = true;
		else if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	}
	struct iso_op op = { .reason = reason };
	if (iso_op_check(&op) < 0)
		return isoctl_usage_error(ctx, "--reason: %s", iso_last_error());
	/* A key has no '='; every field=value word has one. */
	if (optind < argc && !strchr(argv[optind], '='))
		keytext = argv[optind++];
	fields = argv + optind;
	nfields = argc - optind;
	for (int i = 0; i < nfields; i++)
		if (!strchr(fields[i], '='))
			return isoctl_usage_error(ctx, "'%s' is not field=value%s",
				fields[i], keytext ? " (only one KEY may be given)" : "");
	if (to_default && !keytext)
		return isoctl_usage_error(ctx, "--default needs a KEY: it makes "
					  "that account follow the segment default");
	if (to_default && nfields)
		return isoctl_usage_error(ctx, "--default takes no field=value");

	if (!keytext) {
		rc = tool_attach(ctx->prog, ctx->segment,
				 nfields ? 0 : ISO_ATTACH_RDONLY, &reg);
		if (rc != CLI_EXIT_OK)
			return rc;
		if ((rc = isoctl_segment_info(ctx, reg, &info)) != CLI_EXIT_OK)
			return rc;
		cfg = info.defaults;
		if (nfields) {
			rc = isoctl_config_fields(ctx, &cfg, nfields, fields);
			if (rc != CLI_EXIT_OK) {
				iso_detach(reg);
				return rc;
			}
			rc = iso_configure_default_op(reg, &cfg, &op);
			if (rc < 0) {
				cli_iso_error(ctx->prog, "cannot change the "
					      "segment default", rc);
				iso_detach(reg);
				return CLI_EXIT_RUNTIME;
			}
			/* Show what the segment now holds, not what we sent. */
			if (iso_segment_info(reg, &info) == 0)
				cfg = info.defaults;
		}
		show_config(&cfg, nfields ? "segment default (changed)"
					  : "segment default", json, false, false);
		iso_detach(reg);
		if (!nfields)
			return CLI_EXIT_OK;
		struct iso_state_entry d = { .kind = ISO_STATE_DEFAULTS, .config = cfg };
		return isoctl_record_state(ctx, true, &d, reason, no_state);
	}

	rc = isoctl_lookup(ctx, keytext, !nfields && !to_default, &reg, &acct,
			   &key);
	if (rc != CLI_EXIT_OK) {
		if (reg)
			iso_detach(reg);
		return rc;
	}
	iso_key_format(&key, k, sizeof(k));
	rc = iso_status(&acct, &st);
	if (rc == 0 && (nfields || to_default)) {
		cfg = st.config;
		if (nfields) {
			rc = isoctl_config_fields(ctx, &cfg, nfields, fields);
			if (rc != CLI_EXIT_OK) {
				iso_detach(reg);
				return rc;
			}
		}
		rc = iso_configure_op(&acct, to_default ? NULL : &cfg, &op);
		if (rc == 0)
			rc = iso_status(&acct, &st);
	}
	if (rc < 0) {
		snprintf(what, sizeof(what), "config of '%s'", k);
		cli_iso_error(ctx->prog, what, rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	snprintf(what, sizeof(what), "%s: %s%s", k,
		 st.config_override ? "own override" : "segment default",
		 to_default ? " (reverted)" : nfields ? " (changed)" : "");
	show_config(&st.config, what, json, true, st.config_override);
	iso_detach(reg);
	if (!nfields && !to_default)
		return CLI_EXIT_OK;
	/* The override outlives the segment (or leaves the state file). */
	struct iso_state_entry e = { .kind = ISO_STATE_CONFIG, .key = key,
				     .config = st.config };
	return isoctl_record_state(ctx, !to_default, &e, reason, no_state);
}
