/*
 * cmd_segment.c - isoctl sub-commands about the segment as a whole:
 * create, unlink, info, doctor.
 *
 * Only doctor --repair writes to an existing segment; info and doctor
 * attach read-only so they can run beside a live fleet [R3].
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "isoctl.h"
#include "createconf.h"

/* Apply "field=value" words to @cfg through the library's own parser, so
 * the CLI accepts exactly the names and values the library does. */
static int apply_fields(struct isoctl *ctx, struct iso_config *cfg, int n,
			char **words)
{
	/* iso_config_set lifts max_open_timeout_ms to open_timeout_ms when
	 * the latter passes it; an operator must see that, not find it
	 * later. The cap must be what they named, or what was in force. */
	uint32_t max_want = cfg->max_open_timeout_ms;
	bool max_named = false;

	for (int i = 0; i < n; i++) {
		char field[64];
		const char *eq = strchr(words[i], '=');
		size_t flen = eq ? (size_t)(eq - words[i]) : 0;
		char what[160];
		int rc;

		if (!eq || flen == 0 || flen >= sizeof(field))
			return isoctl_usage_error(ctx,
				"'%s' is not field=value", words[i]);
		memcpy(field, words[i], flen);
		field[flen] = '\0';
		rc = iso_config_set(cfg, field, eq + 1);
		if (rc < 0) {
			snprintf(what, sizeof(what), "config '%.100s'", words[i]);
			cli_iso_error(ctx->prog, what, rc);
			return CLI_EXIT_USAGE;
		}
		if (strcmp(field, "max_open_timeout_ms") == 0) {
			max_named = true;
			max_want = cfg->max_open_timeout_ms;
		}
	}
	if (cfg->max_open_timeout_ms != max_want)
		return isoctl_usage_error(ctx, "open_timeout_ms=%u is above "
			"max_open_timeout_ms=%u (%s), the cap of the back-off; "
			"it is not raised silently: give both, e.g. "
			"open_timeout_ms=%u max_open_timeout_ms=%u",
			cfg->open_timeout_ms, max_want,
			max_named ? "as given" : "in force",
			cfg->open_timeout_ms, cfg->open_timeout_ms);
	return CLI_EXIT_OK;
}

int isoctl_config_fields(struct isoctl *ctx, struct iso_config *cfg, int n,
			 char **words)
{
	int rc = apply_fields(ctx, cfg, n, words);

	if (rc != CLI_EXIT_OK)
		return rc;
	/* Each field may be valid alone and the whole not (max below open). */
	rc = iso_config_validate(cfg);
	if (rc < 0) {
		cli_iso_error(ctx->prog, "config refused", rc);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

static void print_size(uint64_t bytes)
{
	if (bytes >= 1u << 20)
		printf("%.1f MiB (%" PRIu64 " bytes)\n",
		       bytes / (1024.0 * 1024.0), bytes);
	else
		printf("%.1f KiB (%" PRIu64 " bytes)\n", bytes / 1024.0, bytes);
}

static void print_info(const struct iso_segment_info *in)
{
	char d[32];

	printf("segment            %s\n", in->name);
	printf("layout version     %u\n", in->layout_version);
	printf("capacity           %u accounts\n", in->capacity);
	printf("used               %u slots (high-water mark)\n", in->used);
	printf("live               %u accounts\n", in->live);
	printf("slot size          %u bytes\n", in->slot_size);
	printf("segment size       ");
	print_size(in->segment_size);
	/* The header and ring are shared by all slots, so a small segment
	 * costs more per account than the slot itself; no verdict here. */
	printf("bytes per account  %" PRIu64 " (segment size / capacity; "
	       "[P5] budget 512%s)\n", in->bytes_per_account,
	       in->windows ? ", windows included" : "");
	/* [B7] the region is fixed at creation: say how to get it. */
	printf("windows            %s\n", in->windows
	       ? "yes (rolling-window region, 256 bytes per account)"
	       : "no (window_ms needs a segment made with 'isoctl create "
		 "--windows')");
	printf("directory          %u entries, %u tombstones\n",
	       in->dir_capacity, in->dir_tombstones);
	printf("event ring         %u events\n", in->ring_capacity);
	printf("retire cooldown    %s\n",
	       fmt_duration_ms(in->retire_cooldown_ms, d, sizeof(d)));
	printf("generation         %" PRIu64 "\n", in->generation);
	printf("attached           %s\n", in->read_only ? "read-only" : "read-write");
	printf("default config\n");
	isoctl_print_config(&in->defaults, 2);
}

/* create --config FILE: the file's settings into @opts, @mode and @cfg
 * (each set field through the same checks as on the command line), then
 * become its owner and group. Options given on the command line are parsed
 * before and applied after, so they win. */
static int create_from_file(struct isoctl *ctx, const char *path,
			    struct createconf *cc, struct iso_attach_opts *opts,
			    unsigned *mode, struct iso_config *cfg)
{
	int rc = createconf_read(ctx->prog, path, cc);

	if (rc != CLI_EXIT_OK)
		return rc;
	if (cc->has_capacity && !opts->capacity)
		opts->capacity = cc->capacity;
	if (cc->has_events && !opts->events)
		opts->events = cc->events;
	if (cc->has_cooldown && !opts->retire_cooldown_ms)
		opts->retire_cooldown_ms = cc->cooldown_ms;
	if (cc->has_mode && !*mode)
		*mode = cc->mode;
	if (cc->has_windows && cc->windows)
		opts->flags |= ISO_ATTACH_WINDOWS;
	rc = isoctl_config_fields(ctx, cfg, cc->nfields, cc->fields);
	if (rc != CLI_EXIT_OK) {
		fprintf(stderr, "%s: (the config fields of %s)\n", ctx->prog,
			path);
		createconf_free(cc);
		return rc;
	}
	createconf_free(cc);
	return createconf_become(ctx->prog, cc);
}

/* create --exist-ok found the name taken: a clean no-op if it is a valid
 * segment of ours (attached read-only, the usual owner and mode checks),
 * an error otherwise. Nothing is changed either way. */
static int create_exists(struct isoctl *ctx, const char *name,
			 const struct iso_attach_opts *want)
{
	struct iso_attach_opts ro = *want;
	struct iso_segment_info info;
	iso_reg_t *reg;
	int rc;

	ro.flags = (want->flags & ISO_ATTACH_OWNER) | ISO_ATTACH_RDONLY;
	rc = iso_attach(name, &ro, &reg);
	if (rc < 0) {
		int code = cli_segment_error(ctx->prog, "check the existing",
					     ctx->segment, rc);

		fprintf(stderr, "%s: %s exists but is not a segment this "
			"create may leave in place\n", ctx->prog, name);
		return code;
	}
	if ((rc = isoctl_segment_info(ctx, reg, &info)) != CLI_EXIT_OK)
		return rc;
	printf("exists %s: %u accounts, %" PRIu64 " bytes; left as it is "
	       "(--exist-ok)\n", info.name, info.capacity, info.segment_size);
	if (want->capacity && want->capacity != info.capacity)
		fprintf(stderr, "%s: note: %s has %u accounts, not the %u asked "
			"for; it takes effect when the segment is created anew "
			"('isoctl unlink' once no trader has it mapped)\n",
			ctx->prog, name, info.capacity, want->capacity);
	if (((want->flags & ISO_ATTACH_WINDOWS) ||
	     (want->defaults && want->defaults->window_ms)) && !info.windows)
		fprintf(stderr, "%s: note: %s has no rolling-window region, "
			"which was asked for; it takes effect when the segment "
			"is created anew ('isoctl unlink' once no trader has it "
			"mapped)\n", ctx->prog, name);
	iso_detach(reg);
	return CLI_EXIT_OK;
}

int isoctl_cmd_create(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "capacity", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "cooldown-ms", required_argument, NULL, 'k' },
		{ "events", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'f' },
		{ "exist-ok", no_argument, NULL, 'x' },
		{ "windows", no_argument, NULL, 'w' },
		ISOCTL_COMMON_OPTS
	};
	struct iso_attach_opts opts = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
	};
	struct iso_segment_info info;
	struct iso_config cfg;
	struct createconf cc = { 0 };
	unsigned mode = 0; /* 0: $ISOREG_MODE, else 0600 */
	const char *name, *conf = NULL;
	bool exist_ok = false;
	iso_reg_t *reg;
	int c, rc;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			if (cli_parse_u32(ctx->prog, "--capacity", optarg, 1,
					  ISO_CAPACITY_MAX, &opts.capacity) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'm':
			if (cli_parse_mode(ctx->prog, optarg, &mode) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'k':
			if (cli_parse_u32(ctx->prog, "--cooldown-ms", optarg, 1,
					  UINT32_MAX, &opts.retire_cooldown_ms) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'e':
			if (cli_parse_u32(ctx->prog, "--events", optarg, 64,
					  ISO_EVENTS_MAX, &opts.events) < 0)
				return CLI_EXIT_USAGE;
			if (opts.events & (opts.events - 1))
				return isoctl_usage_error(ctx, "--events %u: a power "
							  "of two (64, 128, ... %u)",
							  opts.events, ISO_EVENTS_MAX);
			break;
		case 'f':
			conf = optarg;
			break;
		case 'x':
			exist_ok = true;
			break;
		case 'w':
			opts.flags |= ISO_ATTACH_WINDOWS;
			break;
		default:
			if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
				return rc;
		}
	}
	iso_config_default(&cfg);
	if (conf) {
		/* The file first; options on the command line win over it. */
		rc = create_from_file(ctx, conf, &cc, &opts, &mode, &cfg);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	rc = isoctl_config_fields(ctx, &cfg, argc - optind, argv + optind);
	if (rc != CLI_EXIT_OK)
		return rc;
	/* A window default brings the region with it (the library adds it);
	 * a file that says it wants none must not get one silently. */
	if (cc.has_windows && !cc.windows && cfg.window_ms &&
	    !(opts.flags & ISO_ATTACH_WINDOWS))
		return isoctl_usage_error(ctx, "%s says windows = no, but "
			"window_ms=%u needs the rolling-window region: say "
			"windows = yes, or drop window_ms", conf, cfg.window_ms);
	opts.mode = (mode_t)mode;
	opts.defaults = &cfg;
	/* A foreign --owner is refused by the library with its reason. */
	if (cli_trust_opts(ctx->prog, &opts) < 0)
		return CLI_EXIT_USAGE;
	if (!opts.mode)
		opts.mode = 0600;
	name = cli_segment(ctx->segment);
	rc = iso_attach(name, &opts, &reg);
	if (rc == ISO_EEXIST && exist_ok)
		return create_exists(ctx, name, &opts);
	if (rc < 0) {
		/* Every option was checked above: ISO_EINVAL is the name
		 * (or a cooldown past the library's bound, also a usage
		 * error; the message names which). */
		int code = cli_segment_error(ctx->prog, "create", ctx->segment,
					     rc);

		if (rc == ISO_EEXIST)
			fprintf(stderr, "%s: it already exists; 'isoctl info' "
				"shows it, 'isoctl unlink' removes it\n",
				ctx->prog);
		return code;
	}
	if ((rc = isoctl_segment_info(ctx, reg, &info)) != CLI_EXIT_OK)
		return rc;
	printf("created %s: %u accounts, mode %04o, %" PRIu64
	       " bytes (%" PRIu64 " per account%s)\n",
	       info.name, info.capacity, (unsigned)opts.mode, info.segment_size,
	       info.bytes_per_account, info.windows ? ", with windows" : "");
	iso_detach(reg);
	return CLI_EXIT_OK;
}

int isoctl_cmd_unlink(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		ISOCTL_COMMON_OPTS
	};
	const char *name;
	struct iso_user users[16];
	bool force = false;
	int c, rc, unknown = 0;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS "f", longopts,
				NULL)) != -1) {
		if (c == 'f')
			force = true;
		else if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	}
	if (optind < argc)
		return isoctl_usage_error(ctx, "unexpected argument '%s' "
			"(name the segment with --segment)", argv[optind]);
	name = cli_segment(ctx->segment);
	/* Traders on an unlinked segment go on trading on an orphan that no
	 * tool can see or halt: say who they are, and refuse unless told. */
	int n = iso_segment_users(name, users, 16, &unknown);
	if (n > 0) {
		fprintf(stderr, "%s: %d process%s %s segment %s mapped:\n",
			ctx->prog, n, n == 1 ? "" : "es", n == 1 ? "has" : "have",
			name);
		for (int i = 0; i < n && i < 16; i++)
			fprintf(stderr, "  pid %u (%s)\n", users[i].pid, users[i].comm);
		if (n > 16)
			fprintf(stderr, "  ... and %d more\n", n - 16);
		if (!force) {
			cli_error(ctx->prog, "not unlinked: they would keep "
				  "trading on an orphan no tool can see or halt "
				  "(stop them first, or --force)");
			return CLI_EXIT_RUNTIME;
		}
	}
	if (unknown && !force)
		fprintf(stderr, "%s: %d process%s of other users could not be "
			"checked\n", ctx->prog, unknown, unknown == 1 ? "" : "es");
	rc = iso_unlink(name);
	if (rc < 0)
		return cli_segment_error(ctx->prog, "unlink", ctx->segment, rc);
	printf("unlinked %s\n", name);
	if (n > 0)
		printf("%d process%s still %s the old segment: they see it as "
		       "replaced (iso_segment_check: ISO_ESTALE) and should "
		       "attach again\n", n, n == 1 ? "" : "es",
		       n == 1 ? "maps" : "map");
	return CLI_EXIT_OK;
}

int isoctl_cmd_info(struct isoctl *ctx, int argc, char **argv)
{
	struct iso_segment_info info;
	bool json;
	iso_reg_t *reg;
	int rc;

	if ((rc = isoctl_view_open(ctx, argc, argv, &json, &reg)) >= 0)
		return rc;
	if ((rc = isoctl_segment_info(ctx, reg, &info)) != CLI_EXIT_OK)
		return rc;
	if ((rc = isoctl_verify(ctx, reg)) != CLI_EXIT_OK) {
		iso_detach(reg);
		return rc;
	}
	if (json)
		isoctl_print_json(isoctl_json_info(&info), false);
	else
		print_info(&info);
	iso_detach(reg);
	return CLI_EXIT_OK;
}

static void print_doctor(const struct iso_doctor_report *r, bool repair)
{
	printf("%-22s %u\n", "slots checked", r->slots_checked);
	printf("%-22s %u\n", "live accounts", r->live);
	printf("%-22s %u\n", "retired, cooling down", r->retired);
	printf("%-22s %u\n", "reserved, owner alive", r->reserved_pending);
	printf("%-22s %u\n", "reserved, owner dead", r->reserved_dead);
	if (repair) {
		printf("%-22s %u\n", "reclaimed", r->reclaimed);
		printf("%-22s %u\n", "published", r->published);
	}
	printf("%-22s %u\n", "bad breaker words", r->bad_breaker_words);
	printf("%-22s %u\n", "bad slots", r->bad_slots);
	printf("%-22s %u entries, %u tombstones, %u bad, %u live slots "
	       "missing\n", "directory", r->dir_entries, r->dir_tombstones,
	       r->dir_bad, r->dir_missing);
	printf("%-22s %" PRIu64 "\n", "cross-account errors",
	       r->cross_account_errors);
	if (!repair && r->reserved_dead)
		printf("hint: 'isoctl doctor --repair' reclaims the %u "
		       "reservation(s) of dead registrants\n", r->reserved_dead);
	printf("%-22s %s\n", "verdict", r->ok ? "OK" : "PROBLEMS FOUND");
}

int isoctl_cmd_doctor(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		ISOCTL_COMMON_OPTS
	};
	struct iso_doctor_report rep;
	bool json = false, repair = false;
	iso_reg_t *reg;
	int c, rc;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'r')
			repair = true;
		else if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	}
	if (optind < argc)
		return isoctl_usage_error(ctx, "unexpected argument '%s'",
					  argv[optind]);
	if ((rc = tool_attach(ctx->prog, ctx->segment,
			      repair ? 0 : ISO_ATTACH_RDONLY, &reg)) != CLI_EXIT_OK)
		return rc;
	memset(&rep, 0, sizeof(rep));
	rc = iso_doctor(reg, repair ? ISO_DOCTOR_REPAIR : 0, &rep);
	if (rc < 0) {
		cli_iso_error(ctx->prog, "doctor", rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	if ((rc = isoctl_verify(ctx, reg)) != CLI_EXIT_OK) {
		iso_detach(reg);
		return rc;
	}
	if (json)
		isoctl_print_json(isoctl_json_doctor(&rep), false);
	else
		print_doctor(&rep, repair);
	iso_detach(reg);
	return rep.ok ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}
