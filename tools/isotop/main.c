/*
 * isotop - a top-like viewer of an isoreg segment [T2].
 *
 * It attaches read-only and never writes to the segment: every refresh
 * samples all accounts, derives rates from the previous sample, and shows
 * them worst first, with the per-broker summary and the recent transitions.
 * This file parses the command line, attaches, and keeps the attachment
 * sound: a segment that shrinks or is overwritten under it is dropped
 * before its mapping is read again, every sample runs under the SIGBUS
 * guard, and a replaced or damaged segment is attached again once a valid
 * one carries the name [R7]. model.c samples, frame.c decides what is
 * shown, screen.c and batch.c show it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isotop.h"
#include "../common/busguard.h"
#include "../common/cli.h"
#include "../common/fmt.h"

static void top_usage(FILE *out)
{
	fprintf(out,
"Usage: isotop [OPTIONS]\n"
"A top-like viewer of an isoreg segment: accounts worst first, with rates,\n"
"failure breakdown, latency, quarantine countdown, a per-broker summary and\n"
"the recent breaker transitions. Attaches read-only.\n"
"\n"
"Options:\n"
"  -s, --segment NAME  segment to watch (default: $ISOREG_SEGMENT, else %s)\n"
"  --owner USER|UID    trust a segment of that owner (default: $ISOREG_OWNER,\n"
"                      else your own uid)\n"
"  -d, --delay SECONDS refresh interval, fractional allowed (default 1)\n"
"  -b, --batch         print plain-text frames to stdout, like top -b\n"
"  -n, --iterations N  stop after N frames (default: until q / forever)\n"
"      --sort KEY      severity (default), fail, ops or key\n"
"      --filter TEXT   only accounts whose key contains TEXT (any case)\n"
"      --group         group the accounts by broker\n"
"  -h, --help          this text\n"
"      --version       print the version and exit\n"
"\n"
"Keys: s cycle sort, / filter (Enter applies, Esc cancels), b group by\n"
"broker, + / - slower / faster refresh, arrows PgUp PgDn select, Enter\n"
"details of the selected account (Esc back), ? help, q quit.\n"
"\n"
"Exit status: 0 ok, 1 runtime error (e.g. no such segment), 2 usage.\n",
		ISO_DEFAULT_SEGMENT);
}

static int top_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "isotop: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'isotop --help'.\n");
	return 2;
}

/* Forget the attachment and everything sampled from it; the view (sort,
 * grouping, filter) stays. */
static void top_app_drop(struct top_app *app)
{
	struct top_model *m = &app->model;
	enum top_sort sort = m->sort;
	bool group = m->group;
	char filter[TOP_FILTER_MAX + 1];

	memcpy(filter, m->filter, sizeof(filter));
	top_model_free(m);
	if (app->reg)
		iso_detach(app->reg);
	app->reg = NULL;
	top_model_init(m, NULL);
	top_model_set_view(m, sort, group, filter);
	top_events_init(&app->events);
}

/* Take @fresh as the attachment, from a clean slate. */
static void top_app_adopt(struct top_app *app, iso_reg_t *fresh)
{
	top_app_drop(app);
	app->reg = fresh;
	app->model.reg = fresh;
}

/* Attach the segment again, trusting whom the user said; 0 or the code. */
static int top_app_attach(struct top_app *app, iso_reg_t **fresh)
{
	struct iso_attach_opts o = { .flags = ISO_ATTACH_RDONLY,
				     .attach_timeout_ms = 200 };

	*fresh = NULL;
	if (cli_trust_opts("isotop", &o) < 0)
		return ISO_EINVAL;
	return iso_attach(app->segment, &o, fresh);
}

/* One sample and one poll of the transitions: the pass over the mapping
 * that runs under the SIGBUS guard. */
static int top_app_sample(void *arg)
{
	struct top_app *app = arg;
	int rc = top_model_sample(&app->model);

	if (rc == 0)
		rc = top_events_poll(&app->events, app->reg,
				     app->model.info.ring_capacity);
	return rc;
}

/*
 * Make sure the attachment is sound and is the segment of the name: a
 * damaged one is dropped, a replaced one swapped for the new one (an
 * unlinked one is kept: its writers may still be at work). Returns 0 with
 * app->reg set, or -1 with app->error saying why there is nothing to read.
 */
static int top_app_follow(struct top_app *app)
{
	char why[300] = "";
	iso_reg_t *fresh;
	int rc;

	if (app->reg) {
		rc = iso_segment_check(app->reg);
		if (rc == 0) {
			if (app->notice[0] && (double)cli_now_unix_ms() / 1000.0 > app->notice_until)
				app->notice[0] = '\0';
			return 0;
		}
		bool stale = rc == ISO_ESTALE;
		if (stale) {
			/* Say it, whatever comes next (SPEC §6: every tool
			 * follows its segment and says so). */
			snprintf(app->notice, sizeof(app->notice), "segment %s "
				 "was unlinked: showing the orphan; traders still on "
				 "it are invisible to every other tool",
				 app->segment);
			app->notice_until = 1e300;
		}
		if (rc == ISO_ECORRUPT) {
			snprintf(why, sizeof(why), "damaged under us (%s); ",
				 iso_last_error());
			top_app_drop(app);
		}
	}
	bool had = app->reg != NULL;
	rc = top_app_attach(app, &fresh);
	if (rc == 0) {
		top_app_adopt(app, fresh);
		if (had) {
			snprintf(app->notice, sizeof(app->notice), "segment %s "
				 "was replaced: now showing the new one",
				 app->segment);
			app->notice_until = (double)cli_now_unix_ms() / 1000.0 + 30;
		}
		return 0;
	}
	if (app->reg)
		return 0; /* unlinked, nothing new: keep the old mapping */
	snprintf(app->error, sizeof(app->error), "segment %s: %sno valid "
		 "segment to attach: %s: %s", app->segment, why,
		 iso_strerror(rc), iso_last_error());
	return -1;
}

int top_app_refresh(struct top_app *app)
{
	int rc;

	if (top_app_follow(app) < 0)
		return -1;
	rc = tool_bus_guard(top_app_sample, app);
	if (rc == TOOL_BUS_FAULT) {
		snprintf(app->error, sizeof(app->error), "segment %s damaged: "
			 "it shrank while being read (SIGBUS caught); waiting "
			 "for a valid one", app->segment);
		top_app_drop(app);
		return -1;
	}
	if (rc < 0) {
		const char *detail = iso_last_error();

		snprintf(app->error, sizeof(app->error), "reading %s: %s%s%s",
			 app->segment, iso_strerror(rc), *detail ? ": " : "",
			 detail);
		return -1;
	}
	app->error[0] = '\0';
	return 0;
}

enum { OPT_SORT = 256, OPT_FILTER, OPT_GROUP, OPT_OWNER, OPT_VERSION };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "segment", required_argument, NULL, 's' },
		{ "delay", required_argument, NULL, 'd' },
		{ "batch", no_argument, NULL, 'b' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "group", no_argument, NULL, OPT_GROUP },
		{ "owner", required_argument, NULL, OPT_OWNER },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct top_app app = { .interval_s = 1.0 };
	const char *filter = "", *segment_arg;
	int sort = TOP_SORT_SEVERITY;
	bool batch = false, group = false;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:d:bn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': /* the letter isoctl uses too */
			if (!*optarg)
				return top_usage_error("--segment needs a name%s", "");
			app.segment = optarg;
			break;
		case 'd':
			if (fmt_parse_seconds(optarg, TOP_INTERVAL_MIN_S,
					      TOP_INTERVAL_MAX_S, &app.interval_s) < 0)
				return top_usage_error("-d: '%s' is not a number of seconds between 0.05 and 3600", optarg);
			break;
		case 'b':
			batch = true;
			break;
		case 'n': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || v == 0)
				return top_usage_error("-n: '%s' is not a positive number of frames", optarg);
			app.iterations = v;
			break;
		}
		case OPT_SORT:
			sort = top_sort_parse(optarg);
			if (sort < 0)
				return top_usage_error("--sort: unknown key '%s' (severity, fail, ops or key)", optarg);
			break;
		case OPT_FILTER:
			if (strlen(optarg) > TOP_FILTER_MAX)
				return top_usage_error("--filter: '%s' is longer than 64 characters", optarg);
			filter = optarg;
			break;
		case OPT_GROUP:
			group = true;
			break;
		case OPT_OWNER: {
			uid_t uid;

			/* Exported: every re-attach reads it (cli_trust_opts). */
			if (cli_parse_owner("isotop", "--owner", optarg, &uid) < 0)
				return 2;
			if (setenv("ISOREG_OWNER", optarg, 1) != 0) {
				perror("isotop: setenv ISOREG_OWNER");
				return 1;
			}
			break;
		}
		case 'h':
			top_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("isotop %d.%d.%d\n", ISO_VERSION_MAJOR,
			       ISO_VERSION_MINOR, ISO_VERSION_PATCH);
			return 0;
		case ':':
			return top_usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return top_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return top_usage_error("unexpected argument '%s'", argv[optind]);
	segment_arg = app.segment;
	app.segment = cli_segment(app.segment);

	rc = tool_attach("isotop", segment_arg, ISO_ATTACH_RDONLY, &app.reg);
	if (rc != CLI_EXIT_OK)
		return rc; /* 2 for a malformed name, 1 otherwise */
	top_model_init(&app.model, app.reg);
	top_model_set_view(&app.model, (enum top_sort)sort, group, filter);
	top_events_init(&app.events);
	top_frame_init(&app.frame);

	rc = batch ? top_batch_run(&app) : top_screen_run(&app);

	top_frame_free(&app.frame);
	top_model_free(&app.model);
	if (app.reg)
		iso_detach(app.reg);
	return rc;
}
