/*
 * cmd_events.c - `isoctl events`: breaker transitions from the segment's
 * event ring, once or followed (--follow) until SIGINT/SIGTERM.
 *
 * Read-only: the ring is read with iso_events_read, which never waits for a
 * writer; events lost to overwrite or to a writer that died are reported as
 * "missed", never silently skipped. A follower outlives its segment: if the
 * name is unlinked it keeps reading the old mapping, and if a segment is
 * created again under the name it moves to the new one. A segment that
 * shrinks or is overwritten under it is dropped, said so, and attached
 * again once a valid one carries the name [R7]: the reads run under the
 * SIGBUS guard and each pass starts with iso_segment_check.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "isoctl.h"
#include "../common/busguard.h"

#define EVENTS_BATCH 256

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void print_event(const struct iso_event *ev, bool json)
{
	char t[48], key[CLI_KEY_ESC_MAX + 32], ft[32] = "";

	if (json) {
		isoctl_print_json(isoctl_json_event(ev), true);
		return;
	}
	if (ev->key.type[0]) {
		/* Keys come from slots: never raw to the terminal [R7]. */
		if (!cli_key_escape(&ev->key, key, sizeof(key)))
			strcat(key, " (CORRUPT key)");
	} else if (ev->slot == ISO_NO_SLOT) { /* about the segment */
		snprintf(key, sizeof(key), "%s%s", ev->key.broker[0] ? "broker "
			 : "(segment)", ev->key.broker);
	} else /* the slot was reused since: the event outlived its key */
		snprintf(key, sizeof(key), "(slot %u, reused)", ev->slot);
	if (ev->failure_type >= 0 && ev->failure_type < ISO_FAIL__COUNT)
		snprintf(ft, sizeof(ft), " %s",
			 iso_failure_type_name(ev->failure_type));
	printf("%s  %-24s  %-11s -> %-11s  %-11s  %s%s  uid %u pid %u  seq %" PRIu64
	       "%s%s%s\n", fmt_utc_ms(ev->time_ms, t, sizeof(t)), key,
	       iso_health_name(ev->from), iso_health_name(ev->to),
	       iso_breaker_state_name(ev->breaker), iso_cause_name(ev->cause),
	       ft, ev->uid, ev->pid, ev->seq, ev->reason[0] ? "  \"" : "",
	       ev->reason, ev->reason[0] ? "\"" : "");
}

static void print_missed(uint64_t missed, bool json)
{
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "missed", json_object_new_uint64(missed));
		isoctl_print_json(o, true);
	} else {
		printf("-- missed %" PRIu64 " event(s): overwritten, torn, or "
		       "left unfinished by a writer that died\n", missed);
	}
}

/* Which events to show: one account's (KEY), and from a time on (--since). */
struct ev_filter {
	bool has_key;
	struct iso_key key;
	bool has_since;
	int64_t since_ms;
};

/* True if @ev passes @f. An event whose slot was reused since has lost its
 * key, so it never matches a KEY filter. */
static bool ev_match(const struct ev_filter *f, const struct iso_event *ev)
{
	if (f->has_since && ev->time_ms < f->since_ms)
		return false;
	if (!f->has_key)
		return true;
	return strcmp(ev->key.type, f->key.type) == 0 &&
	       strcmp(ev->key.id, f->key.id) == 0 &&
	       strcmp(ev->key.broker, f->key.broker) == 0;
}

/* Keeps the last N events of the backlog for --last. */
struct tail {
	struct iso_event *v;
	size_t cap, n, next;
};

static void tail_push(struct tail *t, const struct iso_event *ev)
{
	t->v[t->next] = *ev;
	t->next = (t->next + 1) % t->cap;
	if (t->n < t->cap)
		t->n++;
}

static void tail_print(const struct tail *t, bool json)
{
	size_t first = (t->next + t->cap - t->n) % t->cap;

	for (size_t i = 0; i < t->n; i++)
		print_event(&t->v[(first + i) % t->cap], json);
}

/*
 * Read everything available from *@cursor: print it (or keep it in @tail).
 * Returns the number of events read, or a negative code.
 */
static long drain(iso_reg_t *reg, uint64_t *cursor, struct iso_event *buf,
		  struct tail *tail, const struct ev_filter *f, bool json)
{
	long total = 0;

	for (;;) {
		uint64_t missed = 0;
		int n = iso_events_read(reg, cursor, buf, EVENTS_BATCH, &missed);

		if (n < 0)
			return n;
		if (missed)
			print_missed(missed, json);
		for (int i = 0; i < n; i++) {
			if (!ev_match(f, &buf[i]))
				continue;
			if (tail)
				tail_push(tail, &buf[i]);
			else
				print_event(&buf[i], json);
		}
		total += n;
		if (n < EVENTS_BATCH)
			return total;
	}
}

/* drain() as a pass for tool_bus_guard. */
struct drain_pass {
	iso_reg_t *reg;
	uint64_t *cursor;
	struct iso_event *buf;
	struct tail *tail;
	const struct ev_filter *f;
	bool json;
	long n;
};

static int drain_pass(void *arg)
{
	struct drain_pass *d = arg;

	d->n = drain(d->reg, d->cursor, d->buf, d->tail, d->f, d->json);
	return 0;
}

/* drain() under the SIGBUS guard: TOOL_BUS_FAULT if the segment shrank
 * during the read, else what drain returned. */
static long drain_guarded(iso_reg_t *reg, uint64_t *cursor,
			  struct iso_event *buf, struct tail *tail,
			  const struct ev_filter *f, bool json)
{
	struct drain_pass d = { reg, cursor, buf, tail, f, json, 0 };

	return tool_bus_guard(drain_pass, &d) == TOOL_BUS_FAULT
		       ? TOOL_BUS_FAULT : d.n;
}

/* Attach @name read-only as tool_attach would, silently: 0 or the
 * library's code (the reason stays in iso_last_error). */
static int attach_quiet(const char *prog, const char *name, iso_reg_t **reg)
{
	struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };

	*reg = NULL;
	if (cli_trust_opts(prog, &ro) < 0)
		return ISO_EINVAL;
	return iso_attach(name, &ro, reg);
}

int isoctl_cmd_events(struct isoctl *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "from-start", no_argument, NULL, 'a' },
		{ "last", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "since", required_argument, NULL, 'T' },
		ISOCTL_COMMON_OPTS
	};
	struct ev_filter filter = { .has_key = false };
	bool follow = false, from_start = false, json = false, gone_said = false;
	bool damage_said = false;
	const char *name = cli_segment(ctx->segment);
	uint32_t last = 0, interval_ms = 200;
	struct iso_event *buf = NULL;
	struct tail tail = { 0 };
	struct sigaction sa;
	uint64_t cursor = 0;
	iso_reg_t *reg;
	long n;
	int c, rc;

	while ((c = getopt_long(argc, argv, ISOCTL_SHORT_OPTS "f", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'a':
			from_start = true;
			break;
		case 'j':
			json = true;
			break;
		case 'l':
			if (cli_parse_u32(ctx->prog, "--last", optarg, 1, 1u << 24,
					  &last) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'i':
			if (cli_parse_u32(ctx->prog, "--interval-ms", optarg, 1,
					  60000, &interval_ms) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'T':
			if (cli_parse_since(ctx->prog, "--since", optarg,
					    cli_now_unix_ms(),
					    &filter.since_ms) < 0)
				return CLI_EXIT_USAGE;
			filter.has_since = true;
			break;
		default:
			if ((rc = isoctl_common_opt(ctx, c, argc, argv)) >= 0)
				return rc;
		}
	}
	if (argc - optind > 1)
		return isoctl_usage_error(ctx, "one KEY at most, got '%s' too",
					  argv[optind + 1]);
	if (optind < argc) {
		if (cli_parse_key(ctx->prog, argv[optind], &filter.key) < 0)
			return CLI_EXIT_USAGE;
		filter.has_key = true;
	}
	if (from_start && filter.has_since)
		return isoctl_usage_error(ctx, "--from-start and --since "
			"contradict each other (--since already says where "
			"the backlog starts)");
	if (from_start && !follow)
		return isoctl_usage_error(ctx, "--from-start only makes sense "
			"with --follow (without it every event in the ring is "
			"printed)");
	if (from_start && last)
		return isoctl_usage_error(ctx, "--from-start and --last N "
					  "contradict each other");
	if ((rc = tool_attach(ctx->prog, ctx->segment, ISO_ATTACH_RDONLY,
			      &reg)) != CLI_EXIT_OK)
		return rc;
	buf = calloc(EVENTS_BATCH, sizeof(*buf));
	if (last) {
		tail.cap = last;
		tail.v = calloc(last, sizeof(*tail.v));
	}
	if (!buf || (last && !tail.v)) {
		cli_error(ctx->prog, "out of memory");
		rc = CLI_EXIT_RUNTIME;
		goto out;
	}

	/* Backlog: everything in the ring (or its last N), unless following
	 * only what happens from now on. */
	if (follow && !from_start && !last && !filter.has_since) {
		cursor = iso_events_head(reg);
	} else {
		n = drain_guarded(reg, &cursor, buf, last ? &tail : NULL,
				  &filter, json);
		if (n == TOOL_BUS_FAULT || isoctl_verify(ctx, reg) != CLI_EXIT_OK) {
			if (n == TOOL_BUS_FAULT)
				cli_error(ctx->prog, "segment %s shrank while its "
					  "events were read (SIGBUS caught): "
					  "nothing above can be trusted", name);
			rc = CLI_EXIT_RUNTIME;
			goto out;
		}
		if (n < 0) {
			cli_iso_error(ctx->prog, "reading events", (int)n);
			rc = CLI_EXIT_RUNTIME;
			goto out;
		}
		if (last)
			tail_print(&tail, json);
	}
	rc = CLI_EXIT_OK;
	if (!follow)
		goto out;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal must cut the sleep short. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* On stderr, so stdout stays pure events for a pipe; it also tells a
	 * script that transitions from now on will be seen. */
	fprintf(stderr, "%s: following %s from event %" PRIu64
		"; SIGINT (Ctrl-C) stops\n", ctx->prog, name, cursor);
	fflush(stdout);
	while (!stop_requested) {
		struct timespec ts = {
			.tv_sec = interval_ms / 1000,
			.tv_nsec = (long)(interval_ms % 1000) * 1000000L,
		};
		int check = reg ? iso_segment_check(reg) : ISO_ECORRUPT;

		if (check == ISO_ECORRUPT && reg) {
			/* Shrunk or overwritten: its mapping must not be read
			 * again. Dropped; the name is tried on each pass. */
			fprintf(stderr, "%s: segment %s is damaged: %s; waiting "
				"for a valid one\n", ctx->prog, name,
				iso_last_error());
			iso_detach(reg);
			reg = NULL;
			damage_said = true;
		}
		if (check != 0) {
			iso_reg_t *fresh;
			int arc = attach_quiet(ctx->prog, name, &fresh);

			/* Gone: keep reading the old mapping (its writers may
			 * still be at work) and say so once. New: move to it,
			 * from its first event, since all of them are news.
			 * Refused (foreign, damaged): say why, once. */
			if (arc == 0) {
				if (reg)
					iso_detach(reg);
				reg = fresh;
				cursor = 0;
				gone_said = damage_said = false;
				fprintf(stderr, "%s: segment %s was created "
					"again; following the new one from its "
					"first event\n", ctx->prog, name);
			} else if (reg && !gone_said) {
				if (arc == ISO_ENOENT)
					fprintf(stderr, "%s: segment %s was "
						"unlinked; still following the "
						"old one until it comes back\n",
						ctx->prog, name);
				else
					fprintf(stderr, "%s: segment %s was "
						"replaced by one refused (%s: %s); "
						"still following the old one\n",
						ctx->prog, name, iso_strerror(arc),
						iso_last_error());
				gone_said = true;
			} else if (!reg && !damage_said) {
				fprintf(stderr, "%s: no valid segment %s yet: "
					"%s\n", ctx->prog, name, iso_last_error());
				damage_said = true;
			}
		}
		n = reg ? drain_guarded(reg, &cursor, buf, NULL, &filter, json) : 0;
		if (n == TOOL_BUS_FAULT) {
			fprintf(stderr, "%s: segment %s damaged: it shrank while "
				"being read (SIGBUS caught); waiting for a valid "
				"one\n",
				ctx->prog, name);
			iso_detach(reg);
			reg = NULL;
			damage_said = true;
			n = 0;
		}
		if (n < 0) {
			cli_iso_error(ctx->prog, "reading events", (int)n);
			rc = CLI_EXIT_RUNTIME;
			break;
		}
		if (n && fflush(stdout) != 0) {
			rc = CLI_EXIT_RUNTIME;
			break;
		}
		if (!stop_requested)
			nanosleep(&ts, NULL);
	}
out:
	free(tail.v);
	free(buf);
	if (reg)
		iso_detach(reg);
	return rc;
}
