/*
 * model.c - isotop's samples, rates and view (see model.h).
 *
 * It only reads the segment, through iso_snapshot (rows and report from
 * one walk) and iso_segment_info on a read-only attachment. Rates are deltas between two
 * of our own samples, divided by our own monotonic clock: a slot whose
 * generation changed between them is a different account (retired and
 * reused), so it gets no rate rather than a difference of two accounts.
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../common/clock.h"

static const char *const top_sort_names[TOP_SORT__COUNT] = {
	[TOP_SORT_SEVERITY] = "severity",
	[TOP_SORT_FAIL_RATE] = "fail/s",
	[TOP_SORT_OPS_RATE] = "ops/s",
	[TOP_SORT_KEY] = "key",
};

const char *top_sort_name(enum top_sort s)
{
	return (unsigned)s < TOP_SORT__COUNT ? top_sort_names[s] : "?";
}

int top_sort_parse(const char *name)
{
	static const struct { const char *name; enum top_sort s; } alias[] = {
		{ "severity", TOP_SORT_SEVERITY }, { "health", TOP_SORT_SEVERITY },
		{ "fail", TOP_SORT_FAIL_RATE }, { "fail/s", TOP_SORT_FAIL_RATE },
		{ "ops", TOP_SORT_OPS_RATE }, { "ops/s", TOP_SORT_OPS_RATE },
		{ "key", TOP_SORT_KEY },
	};

	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcasecmp(name, alias[i].name) == 0)
			return (int)alias[i].s;
	return -1;
}

void top_model_init(struct top_model *m, iso_reg_t *reg)
{
	memset(m, 0, sizeof(*m));
	m->reg = reg;
	m->sort = TOP_SORT_SEVERITY;
}

void top_model_free(struct top_model *m)
{
	free(m->rows);
	free(m->prev);
	free(m->view);
	memset(m, 0, sizeof(*m));
}

/* Grow @arr (of @size-byte items) to hold at least @need; false on ENOMEM. */
static bool top_reserve(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

/* iso_snapshot callback: copy the fields we show into the next row. */
static int top_collect(const struct iso_status *st, void *ctx)
{
	struct top_model *m = ctx;
	struct top_row *r;

	if (!top_reserve((void **)&m->rows, &m->cap_rows, m->n_rows + 1,
			 sizeof(*m->rows)))
		return ISO_ENOMEM;
	r = &m->rows[m->n_rows++];
	memset(r, 0, sizeof(*r));
	r->corrupt = !cli_key_escape(&st->key, r->key, sizeof(r->key));
	memcpy(r->broker, st->key.broker, sizeof(r->broker));
	r->broker[ISO_BROKER_MAX] = '\0';
	r->slot = st->slot;
	r->gen = st->gen;
	r->health = (unsigned)st->health < ISO_HEALTH__COUNT ? st->health : ISO_FAILING;
	r->breaker = st->breaker;
	r->operations = st->operations;
	r->failures = st->failures;
	memcpy(r->failures_by_type, st->failures_by_type,
	       sizeof(r->failures_by_type));
	r->consecutive_failures = st->consecutive_failures;
	r->p50_op_ns = st->p50_op_ns;
	r->p99_op_ns = st->p99_op_ns;
	r->retry_in_ms = st->retry_in_ms;
	r->has_budget = st->config.rate_per_s > 0;
	r->budget_available = st->budget_available;
	r->burst = st->config.burst;
	r->budget_refusals = st->budget_refusals;
	r->has_window = st->config.window_ms != 0;
	r->slow_calls_counted = st->config.slow_call_ms != 0;
	r->window_calls = st->window_calls;
	r->min_calls = st->config.min_calls;
	r->failure_rate = st->failure_rate;
	r->slow_call_rate = st->slow_call_rate;
	/* At a threshold is where the library trips (or tripped) it. */
	r->window_alert =
		(st->config.failure_rate_threshold && st->failure_rate >= 0 &&
		 st->failure_rate >= st->config.failure_rate_threshold) ||
		(st->config.slow_call_rate_threshold && r->slow_calls_counted &&
		 st->slow_call_rate >= 0 &&
		 st->slow_call_rate >= st->config.slow_call_rate_threshold);
	return 0;
}

static int top_cmp_slot(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	return (x->slot > y->slot) - (x->slot < y->slot);
}

/* The previous sample's row for @slot, or NULL. prev is in slot order. */
static const struct top_row *top_find_prev(const struct top_model *m,
					   uint32_t slot)
{
	size_t lo = 0, hi = m->n_prev;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->prev[mid].slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_prev && m->prev[lo].slot == slot ? &m->prev[lo] : NULL;
}

static void top_rates(struct top_model *m)
{
	double dt = (double)(m->sample_ns - m->prev_ns) / 1e9;

	for (size_t i = 0; i < m->n_rows; i++) {
		struct top_row *r = &m->rows[i];
		const struct top_row *p;

		r->has_rate = false;
		if (m->samples < 2 || dt <= 0)
			continue;
		p = top_find_prev(m, r->slot);
		/* Same slot, other generation: another account now. Counters
		 * that went down can only mean the same, so no rate either. */
		if (!p || p->gen != r->gen || p->operations > r->operations ||
		    p->failures > r->failures)
			continue;
		r->has_rate = true;
		r->ops_rate = (double)(r->operations - p->operations) / dt;
		r->fail_rate = (double)(r->failures - p->failures) / dt;
	}
}

/* Swap the current and previous samples. */
static void top_swap(struct top_model *m)
{
	struct top_row *t = m->prev;
	size_t n = m->n_prev, cap = m->cap_prev;
	uint64_t ns = m->prev_ns;

	m->prev = m->rows;
	m->n_prev = m->n_rows;
	m->cap_prev = m->cap_rows;
	m->prev_ns = m->sample_ns;
	m->rows = t;
	m->n_rows = n;
	m->cap_rows = cap;
	m->sample_ns = ns;
}

int top_model_sample(struct top_model *m)
{
	int rc;

	/* The current sample becomes the previous one; the new one is
	 * collected into the buffer of the one before. */
	top_swap(m);
	m->n_rows = 0;
	rc = iso_segment_info(m->reg, &m->info);
	if (rc == 0)
		rc = iso_snapshot(m->reg, &m->report, top_collect, m);
	if (rc < 0) {
		/* Keep showing the last good sample (the view indexes it);
		 * the one before it is gone, so no rates until the next. */
		top_swap(m);
		m->n_prev = 0;
		return rc;
	}
	m->sample_ns = tc_mono_ns();
	m->sample_unix_ms = tc_unix_ms();
	m->samples++;
	/* iso_snapshot visits in slot order; the rate lookup depends on it, so
	 * make sure rather than trust it. */
	for (size_t i = 1; i < m->n_rows; i++) {
		if (m->rows[i - 1].slot > m->rows[i].slot) {
			qsort(m->rows, m->n_rows, sizeof(*m->rows), top_cmp_slot);
			break;
		}
	}
	top_rates(m);
	return top_model_set_view(m, m->sort, m->group, NULL);
}

bool top_model_matches(const struct top_model *m, const char *key)
{
	return !m->filter[0] || strcasestr(key, m->filter) != NULL;
}

static int top_cmp_double_desc(double a, double b)
{
	return (a < b) - (a > b);
}

/* Order of two rows under sort @s; ties always fall back to the key, so
 * the order is total and rows do not jump between refreshes. */
static int top_cmp_rows(const void *a, const void *b, void *ctx)
{
	const struct top_model *m = ctx;
	const struct top_row *x = &m->rows[*(const size_t *)a];
	const struct top_row *y = &m->rows[*(const size_t *)b];
	double xf = x->has_rate ? x->fail_rate : 0, yf = y->has_rate ? y->fail_rate : 0;
	double xo = x->has_rate ? x->ops_rate : 0, yo = y->has_rate ? y->ops_rate : 0;
	int c = 0;

	switch (m->sort) {
	case TOP_SORT_SEVERITY:
		c = (int)y->health - (int)x->health;
		if (!c)
			c = top_cmp_double_desc(xf, yf);
		if (!c)
			c = (x->consecutive_failures < y->consecutive_failures) -
			    (x->consecutive_failures > y->consecutive_failures);
		break;
	case TOP_SORT_FAIL_RATE:
		c = top_cmp_double_desc(xf, yf);
		if (!c)
			c = (int)y->health - (int)x->health;
		break;
	case TOP_SORT_OPS_RATE:
		c = top_cmp_double_desc(xo, yo);
		break;
	default:
		break;
	}
	if (!c)
		c = strcmp(x->key, y->key);
	return c;
}

/* Sort context for grouping: view positions ordered by broker, then by
 * position, so the first of each run is where that broker first appears. */
struct top_group_ctx {
	const struct top_model *m;
	const size_t *view;
};

static int top_cmp_broker_pos(const void *a, const void *b, void *ctx)
{
	const struct top_group_ctx *g = ctx;
	size_t pa = *(const size_t *)a, pb = *(const size_t *)b;
	int c = strcmp(g->m->rows[g->view[pa]].broker, g->m->rows[g->view[pb]].broker);

	return c ? c : (pa > pb) - (pa < pb);
}

static int top_cmp_rank_pos(const void *a, const void *b, void *ctx)
{
	const size_t *rank = ctx;
	size_t pa = *(const size_t *)a, pb = *(const size_t *)b;

	if (rank[pa] != rank[pb])
		return (rank[pa] > rank[pb]) - (rank[pa] < rank[pb]);
	return (pa > pb) - (pa < pb);
}

/* Reorder the sorted view so each broker's rows sit together, brokers in
 * the order their first (worst, under the current sort) row appears. */
static int top_group(struct top_model *m)
{
	size_t n = m->n_view;
	size_t *pos, *rank, *out;
	struct top_group_ctx g = { m, m->view };

	if (n < 2)
		return 0;
	pos = malloc(n * sizeof(*pos));
	rank = malloc(n * sizeof(*rank));
	out = malloc(n * sizeof(*out));
	if (!pos || !rank || !out) {
		free(pos); free(rank); free(out);
		return ISO_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pos[i] = i;
	qsort_r(pos, n, sizeof(*pos), top_cmp_broker_pos, &g);
	for (size_t i = 0, first = 0; i < n; i++) {
		if (i == 0 || strcmp(m->rows[m->view[pos[i]]].broker,
				     m->rows[m->view[pos[i - 1]]].broker))
			first = pos[i];
		rank[pos[i]] = first;
	}
	for (size_t i = 0; i < n; i++)
		pos[i] = i;
	qsort_r(pos, n, sizeof(*pos), top_cmp_rank_pos, rank);
	for (size_t i = 0; i < n; i++)
		out[i] = m->view[pos[i]];
	memcpy(m->view, out, n * sizeof(*out));
	free(pos); free(rank); free(out);
	return 0;
}

int top_model_set_view(struct top_model *m, enum top_sort sort, bool group,
		       const char *filter)
{
	if ((unsigned)sort >= TOP_SORT__COUNT)
		return -1;
	if (filter) {
		if (strlen(filter) > TOP_FILTER_MAX)
			return -1;
		strcpy(m->filter, filter);
	}
	m->sort = sort;
	m->group = group;
	if (!top_reserve((void **)&m->view, &m->cap_view, m->n_rows ? m->n_rows : 1,
			 sizeof(*m->view)))
		return ISO_ENOMEM;
	m->n_view = 0;
	m->key_width = 0;
	for (size_t i = 0; i < m->n_rows; i++) {
		if (top_model_matches(m, m->rows[i].key)) {
			size_t n = strlen(m->rows[i].key);

			m->view[m->n_view++] = i;
			if (n > m->key_width)
				m->key_width = n;
		}
	}
	qsort_r(m->view, m->n_view, sizeof(*m->view), top_cmp_rows, m);
	return group ? top_group(m) : 0;
}

const struct top_row *top_model_row(const struct top_model *m, size_t i)
{
	return i < m->n_view ? &m->rows[m->view[i]] : NULL;
}

const struct iso_broker_summary *top_model_broker(const struct top_model *m,
						  const char *broker)
{
	for (uint32_t i = 0; i < m->report.brokers_count &&
			     i < ISO_REPORT_MAX_BROKERS; i++)
		if (strcmp(m->report.brokers[i].broker, broker) == 0)
			return &m->report.brokers[i];
	return NULL;
}
