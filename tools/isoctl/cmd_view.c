/*
 * cmd_view.c - isoctl's read-only views of accounts: list, status, report.
 *
 * All attach with ISO_ATTACH_RDONLY and change nothing [R3]. The table
 * shows the library's own snapshot of each account (iso_foreach), sorted
 * and filtered here; every figure in it comes from struct iso_status.
 */
#include <inttypes.h>
#include <pwd.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "isoctl.h"

enum sort_order { SORT_SEVERITY, SORT_KEY, SORT_SLOT };

struct view_opts {
	bool json;
	enum sort_order sort;
	const char *broker;  /* only this broker (any case), or NULL */
	bool not_healthy;    /* hide HEALTHY accounts */
};

struct collect {
	struct iso_status *v;
	size_t n, cap;
	const struct view_opts *opts;
	bool nomem;
};

static int collect_one(const struct iso_status *st, void *arg)
{
	struct collect *c = arg;

	if (c->opts->broker && strcasecmp(c->opts->broker, st->key.broker) != 0)
		return 0;
	if (c->opts->not_healthy && st->health == ISO_HEALTHY)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct iso_status *v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			c->nomem = true;
			return 1;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *st;
	return 0;
}

static int key_cmp(const struct iso_status *a, const struct iso_status *b)
{
	int r = strcmp(a->key.type, b->key.type);

	if (!r)
		r = strcmp(a->key.id, b->key.id);
	if (!r)
		r = strcmp(a->key.broker, b->key.broker);
	return r;
}

static int cmp_key(const void *pa, const void *pb)
{
	return key_cmp(pa, pb);
}

static int cmp_slot(const void *pa, const void *pb)
{
	const struct iso_status *a = pa, *b = pb;

	return (a->slot > b->slot) - (a->slot < b->slot);
}

/* Worst first: health is ordered by severity; a halt outranks a trip. */
static int cmp_severity(const void *pa, const void *pb)
{
	const struct iso_status *a = pa, *b = pb;

	if (a->health != b->health)
		return (int)b->health - (int)a->health;
	if (a->breaker != b->breaker)
		return (int)b->breaker - (int)a->breaker;
	if (a->consecutive_failures != b->consecutive_failures)
		return a->consecutive_failures > b->consecutive_failures ? -1 : 1;
	return key_cmp(a, b);
}

/* What the RETRY-IN column says for an account. */
static const char *retry_in(const struct iso_status *st, char *buf, size_t len)
{
	switch (st->breaker) {
	case ISO_BREAKER_FORCED_OPEN:
		return "halted";
	case ISO_BREAKER_OPEN:
		return fmt_duration_ms(st->retry_in_ms, buf, len);
	case ISO_BREAKER_HALF_OPEN:
		return "probing";
	default:
		return "-";
	}
}

/* The HEALTH column: a slot whose key holds bytes no key may hold is
 * flagged, whatever its breaker says [R7]. */
static const char *health_col(const struct iso_status *st, bool clean)
{
	return clean ? iso_health_name(st->health) : "CORRUPT-KEY";
}

/* The FAIL-RATE cell [B7]: the window's failure rate, "(N/M)" while N of
 * min_calls M outcomes are in it, "-" without a window. */
static const char *fail_rate_cell(const struct iso_status *st, char *buf,
				  size_t len)
{
	if (!st->config.window_ms)
		snprintf(buf, len, "-");
	else if (st->failure_rate < 0)
		snprintf(buf, len, "(%" PRIu64 "/%u)", st->window_calls,
			 st->config.min_calls);
	else
		snprintf(buf, len, "%.1f%%", st->failure_rate);
	return buf;
}

static void print_table(const struct collect *c)
{
	int kw = 3;
	char key[CLI_KEY_ESC_MAX + 1], p50[24], p99[24], rin[24], bd[256];
	char bud[32], fr[48];
	size_t corrupt = 0;
	bool windows = false;

	for (size_t i = 0; i < c->n; i++) {
		cli_key_escape(&c->v[i].key, key, sizeof(key));
		int l = (int)strlen(key);

		if (l > kw)
			kw = l;
		windows |= c->v[i].config.window_ms != 0;
	}
	/* FAIL-RATE only where some account has a window: a fleet without
	 * windows keeps the table it always had. */
	printf("%-*s  %-11s  %-11s  %10s  %8s  %6s  %8s  %8s  %8s  %11s  ",
	       kw, "KEY", "HEALTH", "BREAKER", "OPS", "FAILS", "CONSEC", "P50",
	       "P99", "RETRY-IN", "BUDGET");
	if (windows)
		printf("%11s  ", "FAIL-RATE");
	printf("%s\n", "FAILURES BY TYPE");
	for (size_t i = 0; i < c->n; i++) {
		const struct iso_status *st = &c->v[i];
		bool clean = cli_key_escape(&st->key, key, sizeof(key));

		corrupt += !clean;
		/* budget: units spendable now / burst; "-" without one */
		if (st->config.rate_per_s > 0)
			snprintf(bud, sizeof(bud), "%.1f/%u",
				 st->budget_available, st->config.burst);
		else
			snprintf(bud, sizeof(bud), "-");
		printf("%-*s  %-11s  %-11s  %10" PRIu64 "  %8" PRIu64
		       "  %6u  %8s  %8s  %8s  %11s  ",
		       kw, key, health_col(st, clean),
		       iso_breaker_state_name(st->breaker), st->operations,
		       st->failures, st->consecutive_failures,
		       fmt_ns(st->p50_op_ns, p50, sizeof(p50)),
		       fmt_ns(st->p99_op_ns, p99, sizeof(p99)),
		       retry_in(st, rin, sizeof(rin)), bud);
		if (windows)
			printf("%11s  ", fail_rate_cell(st, fr, sizeof(fr)));
		printf("%s\n", fmt_breakdown(st->failures_by_type, bd,
					      sizeof(bd)));
	}
	if (c->n == 0)
		printf("(no accounts%s)\n",
		       c->opts->broker || c->opts->not_healthy ? " match" : "");
	if (corrupt)
		printf("%zu slot(s) hold a key with bytes no key may have "
		       "(shown escaped, \\xHH): the segment is corrupt or "
		       "hostile; see 'isoctl doctor'\n", corrupt);
}

/* Parse the options list and status share; returns -1 to go on. */
static int parse_view_opts(struct isoctl *ctx, int argc, char **argv,
			   struct view_opts *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "sort", required_argument, NULL, 'o' },
		{ "broker", required_argument, NULL, 'b' },
		{ "not-healthy", no_argument, NULL, 'n' },
		ISOCTL_COMMON_OPTS
	};
	int c, rc;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS, longopts,
				NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'o':
			if (strcmp(optarg, "severity") == 0)
				o->sort = SORT_SEVERITY;
			else if (strcmp(optarg, "key") == 0)
				o->sort = SORT_KEY;
			else if (strcmp(optarg, "slot") == 0)
				o->sort = SORT_SLOT;
			else
				return isoctl_usage_error(ctx, "--sort: '%s' is "
					"not one of severity, key, slot", optarg);
			break;
		case 'b':
			o->broker = optarg;
			break;
		case 'n':
			o->not_healthy = true;
			break;
		default:
			if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
				return rc;
		}
	}
	return -1;
}

/* Gather, sort and print every account (list, and status without KEY). */
static int show_accounts(struct isoctl *ctx, const struct view_opts *o,
			 bool summary)
{
	struct collect c = { .opts = o };
	struct iso_report rep;
	iso_reg_t *reg;
	int rc;

	if ((rc = tool_attach(ctx->prog, ctx->segment, ISO_ATTACH_RDONLY,
			      &reg)) != CLI_EXIT_OK)
		return rc;
	rc = iso_snapshot(reg, &rep, collect_one, &c);
	if (rc < 0 || c.nomem) {
		if (c.nomem)
			cli_error(ctx->prog, "out of memory collecting accounts");
		else
			cli_iso_error(ctx->prog, "reading accounts", rc);
		free(c.v);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	if ((rc = isoctl_verify(ctx, reg)) != CLI_EXIT_OK) {
		free(c.v);
		iso_detach(reg);
		return rc;
	}
	if (c.n > 1) /* qsort must not see the NULL of an empty list */
		qsort(c.v, c.n, sizeof(*c.v),
		      o->sort == SORT_KEY ? cmp_key :
		      o->sort == SORT_SLOT ? cmp_slot : cmp_severity);
	if (o->json) {
		json_object *root = json_object_new_object();
		json_object *arr = json_object_new_array();

		json_object_object_add(root, "segment",
			json_object_new_string(cli_segment(ctx->segment)));
		for (size_t i = 0; i < c.n; i++)
			json_object_array_add(arr, isoctl_json_status(&c.v[i]));
		json_object_object_add(root, "accounts", arr);
		if (summary)
			json_object_object_add(root, "report",
				isoctl_json_report(&rep, cli_segment(ctx->segment)));
		isoctl_print_json(root, false);
	} else {
		if (summary) {
			printf("%s: %u accounts: %u healthy, %u degraded, "
			       "%u recovering, %u quarantined, %u failing; "
			       "isolation %s\n\n",
			       cli_segment(ctx->segment), rep.total_accounts,
			       rep.by_health[ISO_HEALTHY],
			       rep.by_health[ISO_DEGRADED],
			       rep.by_health[ISO_RECOVERING],
			       rep.by_health[ISO_QUARANTINED],
			       rep.by_health[ISO_FAILING],
			       rep.isolation_active ? "ACTIVE" : "VIOLATED");
		}
		print_table(&c);
	}
	free(c.v);
	iso_detach(reg);
	return CLI_EXIT_OK;
}

int isoctl_cmd_list(struct isoctl *ctx, int argc, char **argv)
{
	struct view_opts o = { .sort = SORT_SEVERITY };
	int rc = parse_view_opts(ctx, argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (optind < argc)
		return isoctl_usage_error(ctx, "unexpected argument '%s' "
			"(for one account use 'isoctl status KEY')", argv[optind]);
	return show_accounts(ctx, &o, false);
}

static void print_ago(const char *label, int64_t when, int64_t now)
{
	char t[48], d[32];

	if (when <= 0) {
		printf("%-19s never\n", label);
		return;
	}
	printf("%-19s %s (%s ago)\n", label, fmt_utc_ms(when, t, sizeof(t)),
	       fmt_duration_ms(now > when ? (uint64_t)(now - when) : 0,
				      d, sizeof(d)));
}

/* The rolling window [B7]: what it holds and both rates; nothing at all
 * for an account without one, whose status reads as it always did. */
static void print_window(const struct iso_status *st)
{
	char b[160];

	if (!st->config.window_ms)
		return;
	printf("%-19s %s\n", "window", fmt_window(st, b, sizeof(b)));
	printf("%-19s %s\n", "  failure rate",
	       fmt_window_rate(st, false, b, sizeof(b)));
	printf("%-19s %s\n", "  slow-call rate",
	       fmt_window_rate(st, true, b, sizeof(b)));
}

static void print_status(const struct iso_status *st)
{
	char key[CLI_KEY_ESC_MAX + 1], bd[256], d[32], a[24], b[24];
	int64_t now = cli_now_unix_ms();
	bool clean = cli_key_escape(&st->key, key, sizeof(key));

	printf("%-19s %s%s\n", "account", key,
	       clean ? "" : "  (CORRUPT: bytes no key may hold, shown \\xHH)");
	printf("%-19s %u (generation %u)\n", "slot", st->slot, st->gen);
	printf("%-19s %s\n", "health", iso_health_name(st->health));
	printf("%-19s %s (episode %u, back-off step %u)\n", "breaker",
	       iso_breaker_state_name(st->breaker), st->episode,
	       st->backoff_step);
	if (st->breaker == ISO_BREAKER_OPEN)
		printf("%-19s %s\n", "retry in",
		       fmt_duration_ms(st->retry_in_ms, d, sizeof(d)));
	else if (st->broker_halted)
		printf("%-19s never by itself: its broker is halted ('isoctl "
		       "release --broker %s')\n", "retry in", st->key.broker);
	else if (st->breaker == ISO_BREAKER_FORCED_OPEN)
		printf("%-19s never by itself: halted ('isoctl release %s')\n",
		       "retry in", key);
	printf("%-19s %u\n", "probes in flight", st->probes_in_flight);
	printf("%-19s %" PRIu64 " (%" PRIu64 " successes, %" PRIu64
	       " failures)\n", "operations", st->operations, st->successes,
	       st->failures);
	printf("%-19s %s\n", "failures by type",
	       fmt_breakdown(st->failures_by_type, bd, sizeof(bd)));
	printf("%-19s %u failures, %u successes\n", "consecutive",
	       st->consecutive_failures, st->consecutive_successes);
	printf("%-19s %" PRIu64 "\n", "quarantines", st->quarantines);
	if (st->config.rate_per_s > 0)
		printf("%-19s %.9g/s, burst %u: %.2f available%s, %" PRIu64
		       " refused\n", "request budget", st->config.rate_per_s,
		       st->config.burst, st->budget_available,
		       st->budget_available < 1 ? " (spent)" : "",
		       st->budget_refusals);
	else if (st->budget_refusals)
		printf("%-19s none now; %" PRIu64 " refused\n", "request budget",
		       st->budget_refusals);
	print_window(st);
	print_ago("last success", st->last_success_ms, now);
	print_ago("last failure", st->last_failure_ms, now);
	print_ago("last transition", st->last_transition_ms, now);
	if (st->last_transition_ms > 0)
		printf("%-19s %s%s%s\n", "  cause", iso_cause_name(st->last_cause),
		       st->last_failure_type >= 0 ? ", " : "",
		       st->last_failure_type >= 0 &&
				       st->last_failure_type < ISO_FAIL__COUNT
			       ? iso_failure_type_name(st->last_failure_type)
			       : "");
	printf("%-19s %" PRIu64 " timed: avg %.3fms, ema %.3fms, p50 %s, "
	       "p99 %s\n", "operation time", st->timed_operations, st->avg_op_ms,
	       st->ema_op_ms, fmt_ns(st->p50_op_ns, a, sizeof(a)),
	       fmt_ns(st->p99_op_ns, b, sizeof(b)));
	if (st->timed_operations)
		printf("%-19s min %s, max %s\n", "", fmt_ns(st->min_op_ns,
		       a, sizeof(a)), fmt_ns(st->max_op_ns, b, sizeof(b)));
	for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
		uint64_t hi = iso_hist_upper_ns(i);

		if (!st->hist[i])
			continue;
		/* Bucket i spans [upper(i-1), upper(i)); the last is open. */
		if (i > 0)
			fmt_ns(iso_hist_upper_ns(i - 1), a, sizeof(a));
		else
			snprintf(a, sizeof(a), "0");
		if (hi == UINT64_MAX)
			snprintf(b, sizeof(b), "up");
		else
			fmt_ns(hi, b, sizeof(b));
		printf("  %8s .. %-8s  %" PRIu64 "\n", a, b, st->hist[i]);
	}
	printf("config%s\n", st->config_override
				     ? " (own override; 'isoctl config KEY --default' reverts)"
				     : " (segment default)");
	isoctl_print_config(&st->config, 2);
}

/* Who halted @key (or its broker), when and why: the state file's word. */
struct who {
	const struct iso_key *key;
	bool found_key, found_broker;
	struct iso_state_entry key_e, broker_e;
};

static int find_halt(const struct iso_state_entry *e, void *ctx)
{
	struct who *w = ctx;
	if (e->kind == ISO_STATE_HALT && !strcmp(e->key.type, w->key->type) &&
	    !strcmp(e->key.id, w->key->id) && !strcmp(e->key.broker, w->key->broker)) {
		w->found_key = true;
		w->key_e = *e;
	} else if (e->kind == ISO_STATE_HALT_BROKER &&
		   !strcmp(e->broker, w->key->broker)) {
		w->found_broker = true;
		w->broker_e = *e;
	}
	return 0;
}

static void print_who(const char *label, const struct iso_state_entry *e)
{
	struct passwd *pw = getpwuid(e->uid);
	char when[32];
	time_t t = (time_t)(e->time_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	printf("%-19s by uid %u%s%s%s at %s%s%s%s\n", label, e->uid,
	       pw ? " (" : "", pw ? pw->pw_name : "", pw ? ")" : "", when,
	       e->reason[0] ? ": \"" : "", e->reason, e->reason[0] ? "\"" : "");
}

/* The halt records of the state file for @st's account, if any. */
static void print_halt_records(struct isoctl *ctx, const struct iso_status *st)
{
	char path[4096];
	struct who w = { .key = &st->key };
	if (iso_state_path(cli_segment(ctx->segment), path, sizeof(path)) < 0 ||
	    iso_state_foreach(path, find_halt, &w) < 0)
		return;
	if (w.found_key)
		print_who("halted", &w.key_e);
	if (w.found_broker)
		print_who("broker halted", &w.broker_e);
}

int isoctl_cmd_status(struct isoctl *ctx, int argc, char **argv)
{
	struct view_opts o = { .sort = SORT_SEVERITY };
	struct iso_status st;
	struct iso_key key;
	iso_account_t acct;
	iso_reg_t *reg;
	int rc = parse_view_opts(ctx, argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (optind == argc)
		return show_accounts(ctx, &o, true);
	if (argc - optind > 1)
		return isoctl_usage_error(ctx, "one KEY at most, got '%s' too",
					  argv[optind + 1]);
	rc = isoctl_lookup(ctx, argv[optind], true, &reg, &acct, &key);
	if (rc != CLI_EXIT_OK) {
		if (reg)
			iso_detach(reg);
		return rc;
	}
	rc = iso_status(&acct, &st);
	if (rc < 0) {
		cli_iso_error(ctx->prog, "status", rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	if ((rc = isoctl_verify(ctx, reg)) != CLI_EXIT_OK) {
		iso_detach(reg);
		return rc;
	}
	if (o.json) {
		isoctl_print_json(isoctl_json_status(&st), false);
	} else {
		print_status(&st);
		print_halt_records(ctx, &st);
	}
	iso_detach(reg);
	return CLI_EXIT_OK;
}

static void print_report(const struct iso_report *r, const char *segment)
{
	uint32_t n = r->brokers_count;

	printf("segment               %s\n", segment);
	printf("accounts              %u of %u\n", r->total_accounts, r->capacity);
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		printf("  %-19s %u\n", iso_health_name(h), r->by_health[h]);
	printf("operations            %" PRIu64 "\n", r->total_operations);
	printf("failures              %" PRIu64 "\n", r->total_failures);
	printf("quarantines           %" PRIu64 "\n", r->total_quarantines);
	printf("cross-account errors  %" PRIu64 "\n", r->cross_account_errors);
	printf("isolation             %s\n",
	       r->isolation_active ? "ACTIVE" : "VIOLATED");
	if (n > ISO_REPORT_MAX_BROKERS)
		n = ISO_REPORT_MAX_BROKERS;
	if (n) {
		printf("\n%-16s %8s %9s %8s\n", "BROKER", "ACCOUNTS", "UNHEALTHY",
		       "DEGRADED");
		for (uint32_t i = 0; i < n; i++) {
			char b[ISO_BROKER_MAX * 4 + 1];

			/* Broker names come from slots: never raw [R7]. */
			cli_escape(r->brokers[i].broker,
				   sizeof(r->brokers[i].broker), b, sizeof(b));
			printf("%-16s %8u %9u %8u%s\n", b,
			       r->brokers[i].accounts, r->brokers[i].unhealthy,
			       r->brokers[i].degraded,
			       r->brokers[i].incident ?
				       "  broker-wide" : "");
		}
	}
	if (r->brokers_dropped)
		printf("(%u more brokers not listed)\n", r->brokers_dropped);
}

int isoctl_cmd_report(struct isoctl *ctx, int argc, char **argv)
{
	struct iso_report rep;
	bool json;
	iso_reg_t *reg;
	int rc;

	if ((rc = isoctl_view_open(ctx, argc, argv, &json, &reg)) >= 0)
		return rc;
	memset(&rep, 0, sizeof(rep));
	rc = iso_report(reg, &rep);
	if (rc < 0) {
		cli_iso_error(ctx->prog, "report", rc);
		iso_detach(reg);
		return CLI_EXIT_RUNTIME;
	}
	if ((rc = isoctl_verify(ctx, reg)) != CLI_EXIT_OK) {
		iso_detach(reg);
		return rc;
	}
	if (json)
		isoctl_print_json(isoctl_json_report(&rep, cli_segment(ctx->segment)),
				  false);
	else
		print_report(&rep, cli_segment(ctx->segment));
	iso_detach(reg);
	return CLI_EXIT_OK;
}
