/*
 * detail.c - the detail view's content (see detail.h): everything
 * iso_status says about one account (its rolling window too), in the
 * words `isoctl status KEY` uses, and that account's transitions still in
 * the event ring.
 *
 * It reads the segment through the library only (lookup, status, events),
 * never writes, and never trusts a key's bytes for the terminal: anything
 * outside printable ASCII is shown as '?'.
 */
#include "detail.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cli.h"
#include "../common/fmt.h"

#define TOP_DETAIL_EVENTS_CHUNK 128

void top_detail_init(struct top_detail *d)
{
	memset(d, 0, sizeof(*d));
}

void top_detail_free(struct top_detail *d)
{
	free(d->lines);
	d->lines = NULL;
	d->n = d->cap = 0;
}

/* Append one line in @style; returns -1 when out of memory. */
static int top_dline(struct top_detail *d, int style, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int top_dline(struct top_detail *d, int style, const char *fmt, ...)
{
	struct top_detail_line *l;
	va_list ap;

	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		void *p = realloc(d->lines, ncap * sizeof(*d->lines));

		if (!p)
			return -1;
		d->lines = p;
		d->cap = ncap;
	}
	l = &d->lines[d->n++];
	l->style = (uint8_t)style;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	/* Only our own format strings and numbers reach here besides the
	 * key; still, nothing but printable ASCII goes to the terminal. */
	for (char *p = l->text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return 0;
}

/* "2026-11-30T09:11:16.123Z (12s ago)", or "never". */
static char *top_ago(int64_t when, int64_t now, char *buf, size_t len)
{
	char t[48], d[32];

	if (when <= 0) {
		snprintf(buf, len, "never");
		return buf;
	}
	snprintf(buf, len, "%s (%s ago)", fmt_utc_ms(when, t, sizeof(t)),
		 fmt_duration_ms(now > when ? (uint64_t)(now - when) : 0,
					d, sizeof(d)));
	return buf;
}

/* The newest @max events of the account (@st's slot and generation). */
static int top_detail_events(struct top_detail *d, iso_reg_t *reg,
			     const struct iso_status *st, unsigned max)
{
	struct iso_event *buf, *keep;
	uint64_t cursor = 0, missed = 0;
	unsigned n = 0, next = 0;
	int got, rc = 0;

	if (!max)
		return 0;
	buf = calloc(TOP_DETAIL_EVENTS_CHUNK, sizeof(*buf));
	keep = calloc(max, sizeof(*keep));
	if (!buf || !keep) {
		free(buf);
		free(keep);
		return -1;
	}
	/* The whole ring, oldest first, keeping the last @max matches: an
	 * event names its slot and that slot's generation, so a reused slot's
	 * older tenant never shows here. */
	while ((got = iso_events_read(reg, &cursor, buf, TOP_DETAIL_EVENTS_CHUNK,
				      &missed)) > 0) {
		for (int i = 0; i < got; i++) {
			if (buf[i].slot != st->slot || buf[i].gen != st->gen ||
			    !buf[i].key.type[0])
				continue;
			keep[next] = buf[i];
			next = (next + 1) % max;
			if (n < max)
				n++;
		}
		if (got < TOP_DETAIL_EVENTS_CHUNK)
			break;
	}
	if (top_dline(d, TOP_ST_COLUMNS, "recent transitions of this account "
		      "(newest last, from the segment's event ring)") < 0)
		rc = -1;
	if (!rc && n == 0 &&
	    top_dline(d, TOP_ST_DIM, "  (none left in the ring)") < 0)
		rc = -1;
	for (unsigned i = 0; !rc && i < n; i++) {
		const struct iso_event *e = &keep[(next + max - n + i) % max];
		char clk[32], ft[32] = "";

		if (e->cause == ISO_CAUSE_FAILURE && e->failure_type >= 0 &&
		    e->failure_type < ISO_FAIL__COUNT)
			snprintf(ft, sizeof(ft), " %s",
				 iso_failure_type_name(e->failure_type));
		if (top_dline(d, TOP_ST_NORMAL, "  %s  %-11s -> %-11s  %s%s  "
			      "breaker %s, pid %u",
			      fmt_cell_clock(e->time_ms, clk, sizeof(clk)),
			      iso_health_name(e->from), iso_health_name(e->to),
			      iso_cause_name(e->cause), ft,
			      iso_breaker_state_name(e->breaker), e->pid) < 0)
			rc = -1;
	}
	free(buf);
	free(keep);
	return rc;
}

/* The config in force, one field a line, in `isoctl config` words. */
static int top_detail_config(struct top_detail *d, const struct iso_status *st)
{
	const struct iso_config *c = &st->config;
	char trip[160], ign[160];
	int rc = 0;

	fmt_mask(c->trip_on, trip, sizeof(trip));
	fmt_mask(c->ignore, ign, sizeof(ign));
	rc |= top_dline(d, TOP_ST_COLUMNS, "config in force (%s)",
			st->config_override ? "own override" : "segment default");
	rc |= top_dline(d, TOP_ST_NORMAL, "  failure_threshold=%u  "
			"success_threshold=%u  half_open_max_calls=%u  "
			"degrade_after=%u", c->failure_threshold,
			c->success_threshold, c->half_open_max_calls,
			c->degrade_after);
	rc |= top_dline(d, TOP_ST_NORMAL, "  open_timeout_ms=%u  "
			"max_open_timeout_ms=%u  probe_timeout_ms=%u",
			c->open_timeout_ms, c->max_open_timeout_ms,
			c->probe_timeout_ms);
	rc |= top_dline(d, TOP_ST_NORMAL, "  trip_on=%s  ignore=%s  "
			"observe_only=%d", trip, ign,
			(c->flags & ISO_CFG_OBSERVE_ONLY) ? 1 : 0);
	if (c->rate_per_s > 0)
		rc |= top_dline(d, TOP_ST_NORMAL, "  rate_per_s=%.9g  burst=%u:"
				"  %.2f available, %llu refused", c->rate_per_s,
				c->burst, st->budget_available,
				(unsigned long long)st->budget_refusals);
	else
		rc |= top_dline(d, TOP_ST_NORMAL, "  rate_per_s=0 (no request "
				"budget)  %llu refused",
				(unsigned long long)st->budget_refusals);
	if (c->window_ms)
		rc |= top_dline(d, TOP_ST_NORMAL, "  window_ms=%u  min_calls=%u"
				"  failure_rate_threshold=%u  slow_call_ms=%u  "
				"slow_call_rate_threshold=%u", c->window_ms,
				c->min_calls, c->failure_rate_threshold,
				c->slow_call_ms, c->slow_call_rate_threshold);
	else
		rc |= top_dline(d, TOP_ST_NORMAL, "  window_ms=0 (no rolling "
				"window)");
	return rc ? -1 : 0;
}

/* Breaker, counters, times and latency of @st. */
static int top_detail_status(struct top_detail *d, const struct iso_status *st,
			     int64_t now)
{
	char when[96], bd[256], dur[32], avg[16], p50[16], p99[16];
	int rc = 0;

	rc |= top_dline(d, TOP_ST_TITLE, "account %s  (slot %u, generation %u)"
			"  - Esc returns to the table", d->key, st->slot,
			st->gen);
	rc |= top_dline(d, TOP_ST_NORMAL, "%s", "");
	rc |= top_dline(d, TOP_ST_HEALTH + (st->health < ISO_HEALTH__COUNT ?
					    st->health : ISO_FAILING),
			"health             %s", iso_health_name(st->health));
	if (st->breaker == ISO_BREAKER_OPEN)
		snprintf(when, sizeof(when), ", probes allowed in %s",
			 fmt_duration_ms(st->retry_in_ms, dur, sizeof(dur)));
	else if (st->breaker == ISO_BREAKER_FORCED_OPEN)
		snprintf(when, sizeof(when), ", halted by an operator: "
			 "never reopens by itself");
	else
		when[0] = '\0';
	rc |= top_dline(d, TOP_ST_NORMAL, "breaker            %s (episode %u, "
			"back-off step %u, %u probe(s) in flight)%s",
			iso_breaker_state_name(st->breaker), st->episode,
			st->backoff_step, st->probes_in_flight, when);
	rc |= top_dline(d, TOP_ST_NORMAL, "operations         %" PRIu64
			" (%" PRIu64 " successes, %" PRIu64 " failures)",
			st->operations, st->successes, st->failures);
	rc |= top_dline(d, TOP_ST_NORMAL, "failures by type   %s",
			fmt_breakdown(st->failures_by_type, bd,
					     sizeof(bd)));
	rc |= top_dline(d, TOP_ST_NORMAL, "consecutive        %u failures, "
			"%u successes", st->consecutive_failures,
			st->consecutive_successes);
	rc |= top_dline(d, TOP_ST_NORMAL, "quarantines        %" PRIu64,
			st->quarantines);
	if (st->config.window_ms) {
		char w[160];

		rc |= top_dline(d, TOP_ST_NORMAL, "window             %s",
				fmt_window(st, w, sizeof(w)));
		rc |= top_dline(d, TOP_ST_NORMAL, "  failure rate     %s",
				fmt_window_rate(st, false, w, sizeof(w)));
		rc |= top_dline(d, TOP_ST_NORMAL, "  slow-call rate   %s",
				fmt_window_rate(st, true, w, sizeof(w)));
	}
	rc |= top_dline(d, TOP_ST_NORMAL, "last success       %s",
			top_ago(st->last_success_ms, now, when, sizeof(when)));
	rc |= top_dline(d, TOP_ST_NORMAL, "last failure       %s",
			top_ago(st->last_failure_ms, now, when, sizeof(when)));
	top_ago(st->last_transition_ms, now, when, sizeof(when));
	if (st->last_transition_ms > 0) {
		char ft[40] = "";

		if (st->last_failure_type >= 0 &&
		    st->last_failure_type < ISO_FAIL__COUNT)
			snprintf(ft, sizeof(ft), ", %s",
				 iso_failure_type_name(st->last_failure_type));
		rc |= top_dline(d, TOP_ST_NORMAL, "last transition    %s, "
				"cause %s%s", when, iso_cause_name(st->last_cause),
				ft);
	} else {
		rc |= top_dline(d, TOP_ST_NORMAL, "last transition    never");
	}
	snprintf(avg, sizeof(avg), "%.3fms", st->avg_op_ms);
	rc |= top_dline(d, TOP_ST_NORMAL, "operation time     p50 %s, p99 %s, "
			"avg %s, ema %.3fms (%" PRIu64 " timed)",
			fmt_ns(st->p50_op_ns, p50, sizeof(p50)),
			fmt_ns(st->p99_op_ns, p99, sizeof(p99)), avg,
			st->ema_op_ms, st->timed_operations);
	rc |= top_dline(d, TOP_ST_NORMAL, "%s", "");
	return rc ? -1 : 0;
}

int top_detail_build(struct top_detail *d, iso_reg_t *reg,
		     unsigned max_events, int64_t now_unix_ms)
{
	struct iso_status st;
	struct iso_key key;
	iso_account_t acct;
	int rc;

	d->n = 0;
	rc = iso_key_parse(d->key, &key);
	if (rc == 0)
		rc = iso_lookup_key(reg, &key, &acct);
	if (rc == 0)
		rc = iso_status(&acct, &st);
	if (rc < 0) {
		if (top_dline(d, TOP_ST_TITLE, "account %s  - Esc returns to "
			      "the table", d->key) < 0 ||
		    top_dline(d, TOP_ST_ALERT, "cannot be looked up (%s): it "
			      "was retired, the segment replaced, or its key "
			      "holds bytes no key may hold",
			      iso_strerror(rc)) < 0)
			return ISO_ENOMEM;
		return 0;
	}
	if (top_detail_status(d, &st, now_unix_ms) < 0 ||
	    top_detail_config(d, &st) < 0 ||
	    top_dline(d, TOP_ST_NORMAL, "%s", "") < 0 ||
	    top_detail_events(d, reg, &st, max_events) < 0)
		return ISO_ENOMEM;
	return 0;
}
