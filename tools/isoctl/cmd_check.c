/*
 * cmd_check.c - `isoctl check`: one line and an exit status for systemd
 * and monitoring (the Nagios plugin convention: 0 OK, 1 WARNING,
 * 2 CRITICAL), from the worst health in the segment.
 *
 *   0 OK        every account HEALTHY (or no account at all)
 *   1 WARNING   the worst is DEGRADED or RECOVERING
 *   2 CRITICAL  an account is QUARANTINED (tripped or halted) or FAILING,
 *               the isolation guarantee is VIOLATED, or the segment cannot
 *               be read (missing, corrupt, refused)
 *
 * Usage errors exit 2 as in every isoreg tool: a check that is set up
 * wrong must not read as OK. Read-only: it attaches with
 * ISO_ATTACH_RDONLY and changes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "isoctl.h"

#define CHECK_OK 0
#define CHECK_WARNING 1
#define CHECK_CRITICAL 2

static const char *const check_word[] = { "OK", "WARNING", "CRITICAL" };

/* The exit status a health state contributes. */
static int check_level(enum iso_health h)
{
	switch (h) {
	case ISO_HEALTHY:
		return CHECK_OK;
	case ISO_DEGRADED:
	case ISO_RECOVERING:
		return CHECK_WARNING;
	default: /* QUARANTINED, FAILING, or a value we do not know */
		return CHECK_CRITICAL;
	}
}

/* The worst account seen by iso_foreach (highest level, then health). */
struct worst {
	bool any;
	struct iso_status st;
};

static int note_worst(const struct iso_status *st, void *arg)
{
	struct worst *w = arg;

	if (!w->any || check_level(st->health) > check_level(w->st.health) ||
	    (check_level(st->health) == check_level(w->st.health) &&
	     st->health > w->st.health)) {
		w->st = *st;
		w->any = true;
	}
	return 0;
}

int isoctl_cmd_check(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { ISOCTL_COMMON_OPTS };
	const char *name = cli_segment(ctx->segment);
	struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
	struct iso_report rep;
	struct worst w = { .any = false };
	iso_reg_t *reg;
	char key[ISO_KEY_STR_MAX + 1], esc[CLI_KEY_ESC_MAX + 1];
	char broker[ISO_BROKER_MAX * 4 + 1];
	int c, rc, level = CHECK_OK;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1)
		if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
			return rc;
	if (optind < argc)
		return isoctl_usage_error(ctx, "unexpected argument '%s'",
					  argv[optind]);
	/* Trust whom the other tools trust (ISOREG_OWNER, ISOREG_MODE). */
	if (cli_trust_opts(ctx->prog, &ro) < 0)
		return CHECK_CRITICAL;
	/* A monitor reads stdout: the reason goes there, in the one line. */
	rc = iso_attach(name, &ro, &reg);
	if (rc == 0) {
		memset(&rep, 0, sizeof(rep));
		rc = iso_snapshot(reg, &rep, note_worst, &w);
		if (rc < 0)
			iso_detach(reg);
	}
	if (rc < 0) {
		const char *detail = iso_last_error();

		printf("ISOREG CRITICAL - segment %s%s cannot be read: %s%s%s\n",
		       name, cli_segment_origin(ctx->segment), iso_strerror(rc),
		       detail && detail[0] ? ": " : "", detail ? detail : "");
		return CHECK_CRITICAL;
	}
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		if (rep.by_health[h] && check_level(h) > level)
			level = check_level(h);
	if (!rep.isolation_active)
		level = CHECK_CRITICAL;

	printf("ISOREG %s - %s: %u accounts: %u healthy, %u degraded, "
	       "%u recovering, %u quarantined, %u failing; isolation %s",
	       check_word[level], name, rep.total_accounts,
	       rep.by_health[ISO_HEALTHY], rep.by_health[ISO_DEGRADED],
	       rep.by_health[ISO_RECOVERING], rep.by_health[ISO_QUARANTINED],
	       rep.by_health[ISO_FAILING],
	       rep.isolation_active ? "ACTIVE" : "VIOLATED");
	if (!rep.isolation_active)
		printf(" (%" PRIu64 " cross-account errors)",
		       rep.cross_account_errors);
	for (uint32_t i = 0; i < rep.brokers_count &&
			     i < ISO_REPORT_MAX_BROKERS; i++)
		if (rep.brokers[i].incident) {
			/* Names come from the segment: never raw [R7]. */
			cli_escape(rep.brokers[i].broker,
				   sizeof(rep.brokers[i].broker), broker,
				   sizeof(broker));
			printf("; broker-wide: %s %u/%u unhealthy", broker,
			       rep.brokers[i].unhealthy,
			       rep.brokers[i].accounts);
		}
	if (w.any && w.st.health != ISO_HEALTHY) {
		iso_key_format(&w.st.key, key, sizeof(key));
		cli_escape(key, sizeof(key), esc, sizeof(esc));
		printf("; worst %s %s (%s)", esc, iso_health_name(w.st.health),
		       iso_breaker_state_name(w.st.breaker));
	}
	/* Performance data after '|', as monitoring plugins print it. */
	printf(" | accounts=%u healthy=%u degraded=%u recovering=%u "
	       "quarantined=%u failing=%u cross_account_errors=%" PRIu64 "\n",
	       rep.total_accounts, rep.by_health[ISO_HEALTHY],
	       rep.by_health[ISO_DEGRADED], rep.by_health[ISO_RECOVERING],
	       rep.by_health[ISO_QUARANTINED], rep.by_health[ISO_FAILING],
	       rep.cross_account_errors);
	iso_detach(reg);
	return level;
}
