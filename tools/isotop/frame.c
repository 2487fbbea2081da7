/*
 * frame.c - lay out one isotop frame as styled text lines (see frame.h).
 *
 * This is the only place that decides what isotop shows and in which
 * words; the screen and batch mode only place and print these lines. It
 * reads the model and the event pane, never the segment.
 */
#include "frame.h"

#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fmt.h"

#define TOP_KEY_MIN 16
#define TOP_KEY_MAX 48

/* Short failure-type names for the compact breakdown column. */
static const char *const top_fail_short[ISO_FAIL__COUNT] = {
	[ISO_FAIL_API] = "API",
	[ISO_FAIL_NETWORK] = "NET",
	[ISO_FAIL_AUTHENTICATION] = "AUTH",
	[ISO_FAIL_RATE_LIMIT] = "RATE",
	[ISO_FAIL_BALANCE] = "BAL",
	[ISO_FAIL_POSITION] = "POS",
	[ISO_FAIL_EXECUTION] = "EXEC",
	[ISO_FAIL_UNKNOWN] = "UNK",
};

void top_frame_init(struct top_frame *f)
{
	memset(f, 0, sizeof(*f));
}

void top_frame_free(struct top_frame *f)
{
	free(f->lines);
	memset(f, 0, sizeof(*f));
}

static struct top_line *top_line_new(struct top_frame *f,
				     enum top_section sec)
{
	struct top_line *l;

	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 64;
		void *p = realloc(f->lines, ncap * sizeof(*f->lines));

		if (!p)
			return NULL;
		f->lines = p;
		f->cap = ncap;
	}
	l = &f->lines[f->n++];
	l->section = sec;
	l->len = 0;
	l->n_spans = 0;
	l->text[0] = '\0';
	return l;
}

/*
 * Append formatted text in @style; text past the line's end is dropped.
 * Any byte outside printable ASCII becomes "\xHH" here, whatever it came
 * from: names and keys read from a hostile segment never reach the
 * terminal raw [R7] (the model escapes keys already, so their widths are
 * right; this catches everything else, broker names included).
 */
static void __attribute__((format(printf, 3, 4)))
top_put(struct top_line *l, enum top_style style, const char *fmt, ...)
{
	static const char hex[] = "0123456789abcdef";
	size_t room = TOP_LINE_MAX - 1 - l->len;
	char raw[TOP_LINE_MAX];
	va_list ap;
	int n = 0;

	if (!room)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	for (const unsigned char *c = (const unsigned char *)raw;
	     *c && (size_t)n < room; c++) {
		char *out = l->text + l->len;

		if (*c >= 0x20 && *c < 0x7f) {
			out[n++] = (char)*c;
		} else if ((size_t)n + 4 <= room) {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[*c >> 4];
			out[n++] = hex[*c & 15];
		} else {
			break;
		}
	}
	l->text[l->len + (size_t)n] = '\0';
	if (n <= 0)
		return;
	if (style != TOP_ST_NORMAL && l->n_spans < TOP_SPANS_MAX) {
		struct top_span *s = &l->spans[l->n_spans++];

		s->start = l->len;
		s->len = (uint16_t)n;
		s->style = (uint8_t)style;
	}
	l->len += (uint16_t)n;
}

/* Copy @s into @buf, cut to @width with a trailing '~' if longer. */
static const char *top_clip(const char *s, size_t width, char *buf,
			    size_t len)
{
	size_t n = strlen(s);

	if (n <= width || width < 2) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	snprintf(buf, len, "%.*s~", (int)(width - 1), s);
	return buf;
}

static void top_head(struct top_frame *f, const struct top_model *m,
		     const struct top_frame_opts *o)
{
	const struct iso_report *r = &m->report;
	struct top_line *l;
	char clk[32];

	l = top_line_new(f, TOP_SEC_HEAD);
	if (!l)
		return;
	/* The verdict on isolation sits on the first line: it is the one
	 * fact that must never scroll or clip away. */
	top_put(l, TOP_ST_TITLE, "isotop - %s  %s  every %gs  isolation ",
		o->segment, fmt_cell_clock(m->sample_unix_ms, clk, sizeof(clk)),
		o->interval_s);
	if (r->isolation_active)
		top_put(l, TOP_ST_GOOD, "ACTIVE");
	else
		top_put(l, TOP_ST_ALERT, "VIOLATED");
	top_put(l, TOP_ST_TITLE, "  sort: %s", top_sort_name(m->sort));
	if (m->filter[0])
		top_put(l, TOP_ST_TITLE, "  filter: %s", m->filter);
	if (m->group)
		top_put(l, TOP_ST_TITLE, "  grouped by broker");

	l = top_line_new(f, TOP_SEC_HEAD);
	if (!l)
		return;
	top_put(l, TOP_ST_NORMAL, "accounts %u", r->total_accounts);
	if (m->filter[0])
		top_put(l, TOP_ST_NORMAL, " (%zu shown)", m->n_view);
	top_put(l, TOP_ST_NORMAL, ":");
	for (int h = 0; h < ISO_HEALTH__COUNT; h++) {
		top_put(l, TOP_ST_NORMAL, " ");
		top_put(l, r->by_health[h] ? TOP_ST_HEALTH + h : TOP_ST_DIM,
			"%u %s", r->by_health[h],
			iso_health_name((enum iso_health)h));
	}
	top_put(l, TOP_ST_NORMAL, " | slots %u/%u used | ", m->info.used,
		m->info.capacity);
	top_put(l, r->cross_account_errors ? TOP_ST_ALERT : TOP_ST_NORMAL,
		"cross-account errors %llu",
		(unsigned long long)r->cross_account_errors);
}

/* Brokers worst first: by the share of accounts unhealthy (compared by
 * cross-multiplying, no division), then how many, then degraded, then name. */
static int top_cmp_broker_severity(const void *a, const void *b)
{
	const struct iso_broker_summary *x = a, *y = b;
	uint64_t xs = (uint64_t)x->unhealthy * (y->accounts ? y->accounts : 1);
	uint64_t ys = (uint64_t)y->unhealthy * (x->accounts ? x->accounts : 1);

	if (xs != ys)
		return xs < ys ? 1 : -1;
	if (x->unhealthy != y->unhealthy)
		return x->unhealthy < y->unhealthy ? 1 : -1;
	if (x->degraded != y->degraded)
		return x->degraded < y->degraded ? 1 : -1;
	return strcmp(x->broker, y->broker);
}

/* One line for all brokers, the worst first, so that a broker-wide
 * incident reads as one thing rather than as many red rows. */
static void top_brokers(struct top_frame *f, const struct top_model *m)
{
	struct iso_broker_summary b[ISO_REPORT_MAX_BROKERS];
	uint32_t n = m->report.brokers_count;
	struct top_line *l = top_line_new(f, TOP_SEC_HEAD);

	if (!l)
		return;
	if (n > ISO_REPORT_MAX_BROKERS)
		n = ISO_REPORT_MAX_BROKERS;
	memcpy(b, m->report.brokers, n * sizeof(b[0]));
	qsort(b, n, sizeof(b[0]), top_cmp_broker_severity);
	top_put(l, TOP_ST_NORMAL, "brokers:");
	if (!n)
		top_put(l, TOP_ST_DIM, " none");
	for (uint32_t i = 0; i < n; i++) {
		bool incident = b[i].incident;

		top_put(l, TOP_ST_NORMAL, i ? "  " : " ");
		top_put(l, incident ? TOP_ST_ALERT : b[i].unhealthy ?
			TOP_ST_HEALTH + ISO_QUARANTINED : TOP_ST_NORMAL,
			"%s %u/%u unhealthy%s", b[i].broker, b[i].unhealthy,
			b[i].accounts, incident ? " (broker-wide)" : "");
		if (b[i].degraded)
			top_put(l, TOP_ST_HEALTH + ISO_DEGRADED, " %u degraded",
				b[i].degraded);
	}
	if (m->report.brokers_dropped)
		top_put(l, TOP_ST_DIM, "  +%u more", m->report.brokers_dropped);
}

static void top_breakdown(struct top_line *l, const struct top_row *r)
{
	bool any = false;

	for (int t = 0; t < ISO_FAIL__COUNT; t++) {
		if (!r->failures_by_type[t])
			continue;
		top_put(l, TOP_ST_NORMAL, "%s%s:%llu", any ? " " : "",
			top_fail_short[t],
			(unsigned long long)r->failures_by_type[t]);
		any = true;
	}
	if (!any)
		top_put(l, TOP_ST_DIM, "-");
}

/* A new table line, or NULL if it falls outside the window being laid
 * out (it is still counted in rows_total, so the screen can scroll). */
static struct top_line *top_table_line(struct top_frame *f,
				       const struct top_frame_opts *o)
{
	size_t i = f->rows_total++;

	if (i < o->first_row || (o->max_rows && i - o->first_row >= o->max_rows))
		return NULL;
	return top_line_new(f, TOP_SEC_ROWS);
}

static void top_row_line(struct top_frame *f, const struct top_frame_opts *o,
			 const struct top_row *r, int kw)
{
	struct top_line *l = top_table_line(f, o);
	char key[CLI_KEY_ESC_MAX + 2], ops[16], fail[16], p50[16], p99[16], left[16];

	if (!l)
		return;
	if (r->has_rate) {
		fmt_cell_rate(r->ops_rate, ops, sizeof(ops));
		fmt_cell_rate(r->fail_rate, fail, sizeof(fail));
	} else {
		strcpy(ops, "-");
		strcpy(fail, "-");
	}
	if (r->p50_op_ns)
		fmt_cell_ns(r->p50_op_ns, p50, sizeof(p50));
	else
		strcpy(p50, "-");
	if (r->p99_op_ns)
		fmt_cell_ns(r->p99_op_ns, p99, sizeof(p99));
	else
		strcpy(p99, "-");
	/* A halt never times out; an open breaker counts down to probing. */
	if (r->breaker == ISO_BREAKER_FORCED_OPEN)
		strcpy(left, "halted");
	else if (r->breaker == ISO_BREAKER_OPEN)
		fmt_cell_ms_left(r->retry_in_ms, left, sizeof(left));
	else
		strcpy(left, "-");

	top_put(l, TOP_ST_NORMAL, "%-*s ", kw,
		top_clip(r->key, (size_t)kw, key, sizeof(key)));
	if (r->corrupt) /* a key no valid slot holds: flagged, not judged */
		top_put(l, TOP_ST_ALERT, "%-11s", "CORRUPT-KEY");
	else
		top_put(l, TOP_ST_HEALTH + r->health, "%-11s",
			iso_health_name(r->health));
	top_put(l, TOP_ST_NORMAL, " %-11s %7s %7s %6u %8s %8s %7s  ",
		iso_breaker_state_name(r->breaker), ops, fail,
		r->consecutive_failures, p50, p99, left);
	top_breakdown(l, r);
	/* The request budget, after the breakdown (the last column), where
	 * an account has one or it refused something [B9]. */
	if (r->has_budget || r->budget_refusals) {
		char refused[40] = "";
		if (r->budget_refusals)
			snprintf(refused, sizeof(refused), " (%" PRIu64 " refused)",
				 r->budget_refusals);
		top_put(l, r->budget_available < 1 && r->has_budget ? TOP_ST_ALERT
								   : TOP_ST_DIM,
			"  budget %.0f/%u%s", r->budget_available, r->burst,
			refused);
	}
	/* The rolling window [B7], last, where an account has one: its
	 * failure rate (and slow-call rate when calls can be slow), or how
	 * far it is from being judged. */
	if (r->has_window) {
		if (r->failure_rate < 0)
			top_put(l, TOP_ST_DIM, "  window %" PRIu64 "/%u calls",
				r->window_calls, r->min_calls);
		else if (r->slow_calls_counted)
			top_put(l, r->window_alert ? TOP_ST_ALERT : TOP_ST_DIM,
				"  window fail %.1f%% slow %.1f%%",
				r->failure_rate, r->slow_call_rate);
		else
			top_put(l, r->window_alert ? TOP_ST_ALERT : TOP_ST_DIM,
				"  window fail %.1f%%", r->failure_rate);
	}
}

static void top_group_line(struct top_frame *f, const struct top_frame_opts *o,
			   const struct top_model *m, const char *broker)
{
	const struct iso_broker_summary *b = top_model_broker(m, broker);
	struct top_line *l = top_table_line(f, o);

	if (!l)
		return;
	if (!b) {
		top_put(l, TOP_ST_GROUP, "== %s ==", broker);
		return;
	}
	top_put(l, b->incident ? TOP_ST_ALERT : TOP_ST_GROUP,
		"== %s: %u accounts, %u unhealthy, %u degraded%s ==", broker,
		b->accounts, b->unhealthy, b->degraded,
		b->incident ? " (broker-wide)" : "");
}

static void top_table(struct top_frame *f, const struct top_model *m,
		      const struct top_frame_opts *o)
{
	struct top_line *l;
	int kw = m->key_width < TOP_KEY_MIN ? TOP_KEY_MIN :
		 m->key_width > TOP_KEY_MAX ? TOP_KEY_MAX : (int)m->key_width;

	l = top_line_new(f, TOP_SEC_COLUMNS);
	if (!l)
		return;
	top_put(l, TOP_ST_COLUMNS,
		"%-*s %-11s %-11s %7s %7s %6s %8s %8s %7s  %s", kw, "KEY",
		"HEALTH", "BREAKER", "OPS/S", "FAIL/S", "CONSEC", "P50", "P99",
		"RETRY", "FAILURES");

	for (size_t i = 0; i < m->n_view; i++) {
		const struct top_row *r = top_model_row(m, i);

		if (m->group &&
		    (i == 0 || strcmp(r->broker, top_model_row(m, i - 1)->broker)))
			top_group_line(f, o, m, r->broker);
		top_row_line(f, o, r, kw);
	}
	if (!m->n_view) {
		l = top_table_line(f, o);
		if (l)
			top_put(l, TOP_ST_DIM, m->filter[0] ?
				"(no account matches the filter)" :
				"(no accounts registered)");
	}
}

static void top_event_line(struct top_frame *f, const struct top_event *e,
			   int kw)
{
	struct top_line *l = top_line_new(f, TOP_SEC_EVENTS);
	unsigned from = (unsigned)e->from < ISO_HEALTH__COUNT ? e->from : ISO_FAILING;
	unsigned to = (unsigned)e->to < ISO_HEALTH__COUNT ? e->to : ISO_FAILING;
	char clk[32], slot[48];

	if (!l)
		return;
	snprintf(slot, sizeof(slot), "slot %u gen %u (reused)", e->slot, e->gen);
	top_put(l, TOP_ST_DIM, "%s ", fmt_cell_clock(e->time_ms, clk, sizeof(clk)));
	top_put(l, TOP_ST_NORMAL, " %-*s  ", kw, e->key[0] ? e->key : slot);
	top_put(l, TOP_ST_HEALTH + from, "%-11s", iso_health_name(from));
	top_put(l, TOP_ST_NORMAL, " -> ");
	top_put(l, TOP_ST_HEALTH + to, "%-11s", iso_health_name(to));
	top_put(l, TOP_ST_NORMAL, "  %s", iso_cause_name(e->cause));
	if (e->cause == ISO_CAUSE_FAILURE && e->failure_type >= 0 &&
	    e->failure_type < ISO_FAIL__COUNT)
		top_put(l, TOP_ST_NORMAL, " %s",
			iso_failure_type_name((enum iso_failure_type)e->failure_type));
	/* Who and the breaker state last: useful, but the first to clip. */
	top_put(l, TOP_ST_DIM, "  breaker %s, pid %u",
		iso_breaker_state_name(e->breaker), e->pid);
}

static bool top_event_matches(const struct top_model *m,
			      const struct top_event *e)
{
	return e->key[0] ? top_model_matches(m, e->key) : !m->filter[0];
}

static void top_events(struct top_frame *f, const struct top_model *m,
		       const struct top_events *ev, unsigned max)
{
	struct top_line *l = top_line_new(f, TOP_SEC_EVENTS);
	unsigned shown = 0, i, j;
	int kw = TOP_KEY_MIN;

	if (!l)
		return;
	top_put(l, TOP_ST_COLUMNS, "recent transitions");
	if (ev->missed)
		top_put(l, TOP_ST_ALERT, " (%llu missed)",
			(unsigned long long)ev->missed);
	/* The newest @max that pass the filter, printed oldest first. */
	for (i = ev->count; i > 0 && shown < max; i--)
		if (top_event_matches(m, top_events_at(ev, i - 1)))
			shown++;
	for (j = i; j < ev->count; j++) {
		const struct top_event *e = top_events_at(ev, j);
		int n = e->key[0] ? (int)strlen(e->key) : 0;

		if (top_event_matches(m, e) && n > kw)
			kw = n > TOP_KEY_MAX ? TOP_KEY_MAX : n;
	}
	for (; i < ev->count; i++) {
		const struct top_event *e = top_events_at(ev, i);

		if (top_event_matches(m, e))
			top_event_line(f, e, kw);
	}
	if (!shown && (l = top_line_new(f, TOP_SEC_EVENTS)))
		top_put(l, TOP_ST_DIM, "(none yet)");
}

int top_frame_build(struct top_frame *f, const struct top_model *m,
		    const struct top_events *ev,
		    const struct top_frame_opts *opts)
{
	size_t want;

	f->n = 0;
	f->rows_total = 0;
	/* Reserve everything up front so a failed allocation is one error
	 * here instead of a frame with lines missing. */
	want = 2 * m->n_view + 1;
	if (opts->max_rows && opts->max_rows < want)
		want = opts->max_rows;
	want += 3 + 1 + 2 + opts->max_events;
	if (want > f->cap) {
		void *p = realloc(f->lines, want * sizeof(*f->lines));

		if (!p)
			return ISO_ENOMEM;
		f->lines = p;
		f->cap = want;
	}
	top_head(f, m, opts);
	top_brokers(f, m);
	top_table(f, m, opts);
	top_events(f, m, ev, opts->max_events);
	return 0;
}

size_t top_frame_count(const struct top_frame *f, enum top_section s)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->lines[i].section == s;
	return n;
}

size_t top_frame_first(const struct top_frame *f, enum top_section s)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->lines[i].section == s)
			return i;
	return f->n;
}
