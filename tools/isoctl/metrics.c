/*
 * metrics.c - the registry as Prometheus text exposition format 0.0.4.
 *
 * The format wants every sample of a metric family together, under its HELP
 * and TYPE lines, while the registry is walked account by account. So one
 * pass over the accounts appends each account's samples to one buffer per
 * family (each buffer starts with its family's HELP and TYPE lines), and
 * the text is those buffers one after the other: every figure of an
 * account comes from the same iso_status snapshot, and the cost stays one
 * iso_status per account. The buffers live in the renderer and keep their
 * size between scrapes, so a steady fleet costs no reallocation, and they
 * are never copied into one: the server compresses the text straight out
 * of them (iso_metrics_chunk, snapshot.c), which spares a copy and the
 * page faults of a fresh buffer of tens of MB on every scrape.
 *
 * The same walk sums every account into its broker (operations, failures
 * by type, quarantines, the operation-time histogram), so the per-broker
 * series cost nothing extra and stay there whatever per-account budget is
 * chosen (metrics.h). Without a segment the text is `isoreg_up 0` and the
 * exporter's own series: a scrape is never an HTTP error for that.
 *
 * This file reads the segment only; it must never write to it nor wait for
 * anything a writer holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "../common/clock.h"

/* A growing byte buffer; @oom sticks once an allocation failed. */
struct mbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

enum family {
	/* the exporter's verdict and version, first so that a reader sees them at once */
	F_UP,
	F_BUILD_INFO,
	/* per account, by default */
	F_HEALTH,
	F_OPERATIONS,
	F_FAILURES,
	F_QUARANTINES,
	F_RETRY_IN,
	/* per account with a request budget (or past refusals) [B9] */
	F_BUDGET_REFUSALS,
	F_BUDGET_AVAILABLE,
	/* per account with a rolling window [B7]; the ratios once judged */
	F_WINDOW_CALLS,
	F_WINDOW_FAILURE_RATIO,
	F_WINDOW_SLOW_RATIO,
	F_LAST_CAUSE,
	/* per account, with account_detail */
	F_BREAKER,
	F_SUCCESSES,
	F_CONSEC_FAILURES,
	F_CONSEC_SUCCESSES,
	F_PROBES,
	F_FAILED_RECOVERIES,
	F_LAST_SUCCESS,
	F_LAST_FAILURE,
	F_LAST_TRANSITION,
	F_EMA,
	/* per account, with account_histograms */
	F_OP_SECONDS,
	/* per registry and broker */
	F_REG_INFO,
	F_REG_CAPACITY,
	F_REG_SLOTS_USED,
	F_REG_LIVE,
	F_REG_BY_HEALTH,
	F_REG_DIR_CAPACITY,
	F_REG_DIR_TOMBSTONES,
	F_REG_SEGMENT_BYTES,
	F_REG_CROSS_ERRORS,
	F_REG_ISOLATION,
	F_REG_BROKERS_DROPPED,
	F_BROKER_ACCOUNTS,
	F_BROKER_UNHEALTHY,
	F_BROKER_DEGRADED,
	F_BROKER_RATIO,
	F_BROKER_OPERATIONS,
	F_BROKER_FAILURES,
	F_BROKER_QUARANTINES,
	F_BROKER_OP_SECONDS,
	/* the exporter itself */
	F_EXP_SCRAPES,
	F_EXP_ERRORS,
	F_EXP_REATTACHES,
	F_EXP_CUT,
	F_EXP_RESPONSES,
	F_EXP_RESPONSE_BYTES,
	F_EXP_DURATION,
	F__COUNT
};

struct family_desc {
	const char *name;
	const char *type;
	const char *help;
};

/* Names follow Prometheus conventions: base units (seconds), _total on counters. */
static const struct family_desc families[F__COUNT] = {
	[F_UP] = { "isoreg_up", "gauge",
		"1 while the exporter is attached to a valid segment and read it for this scrape; 0 while the segment is missing, damaged or unreadable." },
	[F_BUILD_INFO] = { "isoreg_build_info", "gauge",
		"The exporter's version; always 1." },
	[F_HEALTH] = { "isoreg_account_health", "gauge",
		"Health of the account: one series, whose state label is the current health (healthy, degraded, recovering, quarantined, failing); always 1." },
	[F_OPERATIONS] = { "isoreg_account_operations_total", "counter",
		"Operations recorded for the account (successes plus failures)." },
	[F_FAILURES] = { "isoreg_account_failures_total", "counter",
		"Failed operations recorded for the account, by failure type." },
	[F_QUARANTINES] = { "isoreg_account_quarantines_total", "counter",
		"Times the account was quarantined (breaker tripped from closed, or halted)." },
	[F_RETRY_IN] = { "isoreg_account_retry_in_seconds", "gauge",
		"While the breaker is open: seconds until probes are allowed; 0 otherwise." },
	[F_BUDGET_REFUSALS] = { "isoreg_account_budget_refusals_total", "counter",
		"Acquires refused because the account's request budget was spent (never counted as failures); only for accounts with a budget or past refusals." },
	[F_BUDGET_AVAILABLE] = { "isoreg_account_budget_available", "gauge",
		"Units of the account's request budget spendable now (0..burst); only for accounts with a budget." },
	[F_WINDOW_CALLS] = { "isoreg_account_window_calls", "gauge",
		"Outcomes in the account's rolling window (the last window_ms; ignored failure types left out); only for accounts with a window." },
	[F_WINDOW_FAILURE_RATIO] = { "isoreg_account_window_failure_ratio", "gauge",
		"Share of the window's outcomes that failed (0 to 1); the breaker trips at failure_rate_threshold percent. Only for accounts with a window holding at least min_calls outcomes (judged)." },
	[F_WINDOW_SLOW_RATIO] = { "isoreg_account_window_slow_call_ratio", "gauge",
		"Share of the window's outcomes that took slow_call_ms or longer (0 to 1); the breaker trips at slow_call_rate_threshold percent. Only for accounts with a window and a slow_call_ms, holding at least min_calls outcomes." },
	[F_LAST_CAUSE] = { "isoreg_account_last_transition_cause", "gauge",
		"Why an account that is not healthy is where it is: one series, whose cause label is its last transition's cause (failure, failure_rate, slow_call_rate, force_open, broker_halt, ...); always 1. Only for accounts that are not healthy." },
	[F_BREAKER] = { "isoreg_account_breaker_state", "gauge",
		"Circuit breaker state of the account: one series, whose state label is the current state (closed, open, half_open, forced_open); always 1." },
	[F_SUCCESSES] = { "isoreg_account_successes_total", "counter",
		"Successful operations recorded for the account." },
	[F_CONSEC_FAILURES] = { "isoreg_account_consecutive_failures", "gauge",
		"Failures in a row since the last success." },
	[F_CONSEC_SUCCESSES] = { "isoreg_account_consecutive_successes", "gauge",
		"Successes in a row since the last failure." },
	[F_PROBES] = { "isoreg_account_probes_in_flight", "gauge",
		"Half-open probe permits currently held." },
	[F_FAILED_RECOVERIES] = { "isoreg_account_failed_recoveries", "gauge",
		"Failed recoveries in a row (the open-time back-off step)." },
	[F_LAST_SUCCESS] = { "isoreg_account_last_success_timestamp_seconds", "gauge",
		"Unix time of the last success; absent if none yet." },
	[F_LAST_FAILURE] = { "isoreg_account_last_failure_timestamp_seconds", "gauge",
		"Unix time of the last failure; absent if none yet." },
	[F_LAST_TRANSITION] = { "isoreg_account_last_transition_timestamp_seconds", "gauge",
		"Unix time of the last breaker transition; absent if none yet." },
	[F_EMA] = { "isoreg_account_operation_ema_seconds", "gauge",
		"Exponential moving average (alpha 0.1) of the operation time." },
	[F_OP_SECONDS] = { "isoreg_account_operation_seconds", "histogram",
		"Operation time of the timed operations of the account." },
	[F_REG_INFO] = { "isoreg_registry_info", "gauge",
		"The attached segment; always 1." },
	[F_REG_CAPACITY] = { "isoreg_registry_capacity_slots", "gauge",
		"Account slots in the segment." },
	[F_REG_SLOTS_USED] = { "isoreg_registry_slots_used", "gauge",
		"Account slots ever taken (high-water mark; retired slots are reused after a cooldown)." },
	[F_REG_LIVE] = { "isoreg_registry_accounts_live", "gauge",
		"Accounts registered now." },
	[F_REG_BY_HEALTH] = { "isoreg_registry_accounts", "gauge",
		"Accounts by health state." },
	[F_REG_DIR_CAPACITY] = { "isoreg_registry_directory_capacity", "gauge",
		"Entries of the shared key directory." },
	[F_REG_DIR_TOMBSTONES] = { "isoreg_registry_directory_tombstones", "gauge",
		"Directory entries left by retired keys." },
	[F_REG_SEGMENT_BYTES] = { "isoreg_registry_segment_bytes", "gauge",
		"Size of the shared-memory segment." },
	[F_REG_CROSS_ERRORS] = { "isoreg_registry_cross_account_errors_total", "counter",
		"Detected violations of account isolation (stale-handle writes, slots failing their integrity check)." },
	[F_REG_ISOLATION] = { "isoreg_registry_isolation_active", "gauge",
		"1 while no cross-account error has been detected." },
	[F_REG_BROKERS_DROPPED] = { "isoreg_registry_brokers_dropped", "gauge",
		"Brokers left out of the isoreg_broker_* series (the report keeps the first 64)." },
	[F_BROKER_ACCOUNTS] = { "isoreg_broker_accounts", "gauge",
		"Accounts of the broker." },
	[F_BROKER_UNHEALTHY] = { "isoreg_broker_unhealthy_accounts", "gauge",
		"Accounts of the broker that are quarantined, recovering or failing." },
	[F_BROKER_DEGRADED] = { "isoreg_broker_degraded_accounts", "gauge",
		"Accounts of the broker that are degraded." },
	[F_BROKER_RATIO] = { "isoreg_broker_unhealthy_ratio", "gauge",
		"Share of the broker's accounts that are unhealthy (0 to 1)." },
	[F_BROKER_OPERATIONS] = { "isoreg_broker_operations_total", "counter",
		"Operations of the broker's live accounts, summed (drops when an account is retired)." },
	[F_BROKER_FAILURES] = { "isoreg_broker_failures_total", "counter",
		"Failures of the broker's live accounts by failure type, summed (drops when an account is retired)." },
	[F_BROKER_QUARANTINES] = { "isoreg_broker_quarantines_total", "counter",
		"Quarantines of the broker's live accounts, summed (drops when an account is retired)." },
	[F_BROKER_OP_SECONDS] = { "isoreg_broker_operation_seconds", "histogram",
		"Operation time of the timed operations of the broker's live accounts." },
	[F_EXP_SCRAPES] = { "isoreg_exporter_scrapes_total", "counter",
		"Requests for /metrics answered by this exporter." },
	[F_EXP_ERRORS] = { "isoreg_exporter_scrape_errors_total", "counter",
		"Scrapes answered with isoreg_up 0, by reason: the segment was missing, damaged or unreadable." },
	[F_EXP_REATTACHES] = { "isoreg_exporter_reattaches_total", "counter",
		"Times the segment was found unlinked and recreated, and attached again." },
	[F_EXP_CUT] = { "isoreg_exporter_connections_cut_total", "counter",
		"Connections closed because a request or a response overran --web.timeout." },
	[F_EXP_RESPONSES] = { "isoreg_exporter_responses_in_flight", "gauge",
		"Earlier /metrics responses not yet fully taken by their clients." },
	[F_EXP_RESPONSE_BYTES] = { "isoreg_exporter_response_bytes", "gauge",
		"Memory held by those responses (each keeps its scrape gzip-compressed)." },
	[F_EXP_DURATION] = { "isoreg_exporter_scrape_duration_seconds", "gauge",
		"Time this scrape took to check and read the segment and render the text up to this line." },
};

/* Per-broker sums, made during the same walk as the account series. */
struct broker_agg {
	char name[ISO_BROKER_MAX + 1];
	uint64_t operations;
	uint64_t failures[ISO_FAIL__COUNT];
	uint64_t quarantines;
	uint64_t hist[ISO_HIST_BUCKETS];
	uint64_t sum_ns;
};

/* Brokers summed: as many as the report keeps, so both name the same set. */
#define MAX_BROKERS ISO_REPORT_MAX_BROKERS

struct iso_metrics {
	struct iso_metrics_opts opts;
	struct mbuf fam[F__COUNT];
	struct mbuf labels;                      /* one account's label set */
	char health_name[ISO_HEALTH__COUNT][16]; /* lower-case state names */
	char breaker_name[ISO_BREAKER__COUNT][16];
	char failure_name[ISO_FAIL__COUNT][24];
	char le[ISO_HIST_BUCKETS][24];           /* bucket upper bounds, seconds */
	int nle;                                 /* buckets with a finite bound */
	size_t name_len[F__COUNT];               /* strlen(families[f].name) */
	size_t hdr_len[F__COUNT];                /* HELP and TYPE, at each buffer's head */
	struct broker_agg brokers[MAX_BROKERS];
	uint32_t nbrokers;
	struct broker_agg *last_broker;          /* accounts of a broker often come together */
	size_t total;                            /* bytes of the last render */
	size_t series;                           /* samples of the last render */
};

/* ------------------------------------------------------------- buffers */

/* The slow side of mbuf_reserve: grow by doubling. */
static __attribute__((noinline)) bool mbuf_grow(struct mbuf *b, size_t more)
{
	if (b->oom)
		return false;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

/* Room for @more bytes; false (and oom set) if memory ran out. */
static inline bool mbuf_reserve(struct mbuf *b, size_t more)
{
	return b->cap - b->len >= more || mbuf_grow(b, more);
}

static inline void put(struct mbuf *b, const char *s, size_t n)
{
	/* An empty family has no buffer yet: memcpy from NULL is undefined. */
	if (n == 0 || !mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(struct mbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putc_(struct mbuf *b, char c)
{
	put(b, &c, 1);
}

/* Decimal without snprintf: a scrape of 10k accounts writes ~500k numbers. */
static void put_u64(struct mbuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, tmp + i, sizeof(tmp) - i);
}

/* @v thousandths as a decimal ("12.345", "0.007", "3"). */
static void put_milli(struct mbuf *b, uint64_t v)
{
	put_u64(b, v / 1000);
	uint64_t frac = v % 1000;
	if (frac) {
		char tmp[4] = { '.', (char)('0' + frac / 100),
				(char)('0' + frac / 10 % 10),
				(char)('0' + frac % 10) };
		size_t n = 4;
		while (tmp[n - 1] == '0')
			n--;
		put(b, tmp, n);
	}
}

/* @ns nanoseconds as seconds, exactly: "0.002001", "4", "0.000000128". */
static void put_ns_seconds(struct mbuf *b, uint64_t ns)
{
	put_u64(b, ns / 1000000000u);
	uint64_t frac = ns % 1000000000u;
	if (frac) {
		char tmp[10];
		tmp[0] = '.';
		for (int i = 9; i >= 1; i--) {
			tmp[i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		size_t n = 10;
		while (tmp[n - 1] == '0')
			n--;
		put(b, tmp, n);
	}
}

/* A float, exactly enough for Go's ParseFloat to get the same double back. */
static void put_double(struct mbuf *b, double v)
{
	char tmp[40];
	int n = snprintf(tmp, sizeof(tmp), "%.17g", v);

	if (n > 0 && (size_t)n < sizeof(tmp))
		put(b, tmp, (size_t)n);
	else
		putc_(b, '0');
}

/* A label value: backslash, double quote and newline escaped (format 0.0.4). */
static void put_label_value(struct mbuf *b, const char *s)
{
	putc_(b, '"');
	for (;;) {
		size_t run = strcspn(s, "\\\"\n");
		put(b, s, run);
		s += run;
		if (!*s)
			break;
		put(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		s++;
	}
	putc_(b, '"');
}

/* A HELP text: backslash and newline escaped. */
static void put_help(struct mbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(b, "\\\\", 2);
		else if (*s == '\n')
			put(b, "\\n", 2);
		else
			putc_(b, *s);
	}
}

/* ------------------------------------------------------------ renderer */

static void lower_into(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < len; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32)
							  : src[i];
	dst[i] = 0;
}

const char *iso_metrics_error_name(enum iso_metrics_error e)
{
	switch (e) {
	case ISO_METRICS_ERR_MISSING: return "missing";
	case ISO_METRICS_ERR_DAMAGED: return "damaged";
	case ISO_METRICS_ERR_UNREADABLE: return "unreadable";
	default: return "unknown";
	}
}

struct iso_metrics *iso_metrics_new(const struct iso_metrics_opts *opts)
{
	struct iso_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (opts)
		m->opts = *opts;
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		lower_into(m->health_name[h], sizeof(m->health_name[h]),
			   iso_health_name((enum iso_health)h));
	for (int s = 0; s < ISO_BREAKER__COUNT; s++)
		lower_into(m->breaker_name[s], sizeof(m->breaker_name[s]),
			   iso_breaker_state_name((enum iso_breaker_state)s));
	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		lower_into(m->failure_name[t], sizeof(m->failure_name[t]),
			   iso_failure_type_name((enum iso_failure_type)t));
	/*
	 * Bucket i of struct iso_status ends (exclusive) at iso_hist_upper_ns(i),
	 * a whole number of ns, written exactly in seconds with nine decimals
	 * and the trailing zeros cut. Prometheus' le is inclusive: an op of
	 * exactly the bound sits in the next bucket, a 1 ns difference. The
	 * last bucket is open-ended: it only shows in +Inf.
	 */
	for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
		uint64_t ns = iso_hist_upper_ns(i);
		char *s = m->le[i];

		if (ns == UINT64_MAX)
			break;
		int n = snprintf(s, sizeof(m->le[i]), "%" PRIu64 ".%09" PRIu64,
				 ns / 1000000000u, ns % 1000000000u);
		while (n > 0 && s[n - 1] == '0')
			s[--n] = 0;
		if (n > 0 && s[n - 1] == '.')
			s[--n] = 0;
		m->nle = i + 1;
	}
	/* Each family's buffer starts with its HELP and TYPE lines, once. */
	for (int f = 0; f < F__COUNT; f++) {
		struct mbuf *b = &m->fam[f];

		m->name_len[f] = strlen(families[f].name);
		puts_(b, "# HELP ");
		puts_(b, families[f].name);
		putc_(b, ' ');
		put_help(b, families[f].help);
		puts_(b, "\n# TYPE ");
		puts_(b, families[f].name);
		putc_(b, ' ');
		puts_(b, families[f].type);
		putc_(b, '\n');
		if (b->oom) {
			iso_metrics_free(m);
			return NULL;
		}
		m->hdr_len[f] = b->len;
	}
	return m;
}

void iso_metrics_free(struct iso_metrics *m)
{
	if (!m)
		return;
	for (int f = 0; f < F__COUNT; f++)
		free(m->fam[f].p);
	free(m->labels.p);
	free(m);
}

/* " v\n" closes a sample; every sample ends here, so this is where they are counted. */
static inline void sample_end_u64(struct iso_metrics *m, struct mbuf *b,
				  uint64_t v)
{
	putc_(b, ' ');
	put_u64(b, v);
	putc_(b, '\n');
	m->series++;
}

/* "name{labels" - the caller closes the brace (maybe after more labels). */
static void sample_open(struct iso_metrics *m, enum family f,
			const char *suffix, size_t suffix_len)
{
	struct mbuf *b = &m->fam[f];

	put(b, families[f].name, m->name_len[f]);
	put(b, suffix, suffix_len);
	putc_(b, '{');
	put(b, m->labels.p, m->labels.len);
}

/* name{account labels} v */
static void account_u64(struct iso_metrics *m, enum family f, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	sample_open(m, f, NULL, 0);
	putc_(b, '}');
	sample_end_u64(m, b, v);
}

/* name{account labels,@lname="@lvalue"} v; @lvalue needs no escaping. */
static void account_u64_l(struct iso_metrics *m, enum family f,
			  const char *lname, const char *lvalue, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	sample_open(m, f, NULL, 0);
	putc_(b, ',');
	puts_(b, lname);
	put(b, "=\"", 2);
	puts_(b, lvalue);
	put(b, "\"}", 2);
	sample_end_u64(m, b, v);
}

/* A Unix-ms timestamp as seconds; left out while it never happened. */
/* name{account labels} and the space before a value; see value_end. */
static struct mbuf *account_value(struct iso_metrics *m, enum family f)
{
	struct mbuf *b = &m->fam[f];

	sample_open(m, f, NULL, 0);
	put(b, "} ", 2);
	return b;
}

/* Ends the sample account_value opened, once its value is written. */
static void value_end(struct iso_metrics *m, struct mbuf *b)
{
	putc_(b, '\n');
	m->series++;
}

static void account_time(struct iso_metrics *m, enum family f, int64_t ms)
{
	struct mbuf *b;

	if (ms <= 0)
		return;
	b = account_value(m, f);
	put_milli(b, (uint64_t)ms);
	value_end(m, b);
}

/*
 * A histogram's lines into family @f: the labels are m->labels (an
 * account's or a broker's). Cumulative, as Prometheus buckets are; _count
 * is the +Inf bucket, so bucket and count agree even if a writer landed
 * between the status reads.
 */
static void put_histogram(struct iso_metrics *m, enum family f,
			  const uint64_t hist[ISO_HIST_BUCKETS], uint64_t sum_ns)
{
	struct mbuf *b = &m->fam[f];
	uint64_t cum = 0;

	for (int i = 0; i < m->nle; i++) {
		cum += hist[i];
		sample_open(m, f, "_bucket", 7);
		put(b, ",le=\"", 5);
		puts_(b, m->le[i]);
		put(b, "\"}", 2);
		sample_end_u64(m, b, cum);
	}
	for (int i = m->nle; i < ISO_HIST_BUCKETS; i++)
		cum += hist[i];
	sample_open(m, f, "_bucket", 7);
	put(b, ",le=\"+Inf\"}", 11);
	sample_end_u64(m, b, cum);

	sample_open(m, f, "_sum", 4);
	put(b, "} ", 2);
	put_ns_seconds(b, sum_ns);
	value_end(m, b);
	sample_open(m, f, "_count", 6);
	putc_(b, '}');
	sample_end_u64(m, b, cum);
}

/* The sums of @broker, found or started; NULL once MAX_BROKERS are taken. */
static struct broker_agg *broker_of(struct iso_metrics *m, const char *broker)
{
	struct broker_agg *a = m->last_broker;

	if (a && strcmp(a->name, broker) == 0)
		return a;
	for (uint32_t i = 0; i < m->nbrokers; i++) {
		if (strcmp(m->brokers[i].name, broker) == 0)
			return m->last_broker = &m->brokers[i];
	}
	if (m->nbrokers == MAX_BROKERS)
		return NULL;
	a = &m->brokers[m->nbrokers++];
	memset(a, 0, sizeof(*a));
	/* The key comes from shared memory: bound it. */
	snprintf(a->name, sizeof(a->name), "%.*s", ISO_BROKER_MAX, broker);
	return m->last_broker = a;
}

/* Add one account to its broker's sums. */
static void broker_add(struct iso_metrics *m, const struct iso_status *st)
{
	struct broker_agg *a = broker_of(m, st->key.broker);

	if (!a)
		return;
	a->operations += st->operations;
	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		a->failures[t] += st->failures_by_type[t];
	a->quarantines += st->quarantines;
	for (int i = 0; i < ISO_HIST_BUCKETS; i++)
		a->hist[i] += st->hist[i];
	a->sum_ns += st->op_ns_sum;
}

/* The series of one account, as the budget says. */
static int render_account(const struct iso_status *st, void *ctx)
{
	struct iso_metrics *m = ctx;
	struct mbuf *l = &m->labels;

	broker_add(m, st);
	if (m->opts.accounts == ISO_METRICS_ACCOUNTS_NONE ||
	    (m->opts.accounts == ISO_METRICS_ACCOUNTS_UNHEALTHY &&
	     st->health == ISO_HEALTHY))
		return 0;

	l->len = 0;
	puts_(l, "account_type=");
	put_label_value(l, st->key.type);
	puts_(l, ",account_id=");
	put_label_value(l, st->key.id);
	puts_(l, ",broker=");
	put_label_value(l, st->key.broker);
	if (l->oom)
		return ISO_ENOMEM;

	int h = (int)st->health;
	account_u64_l(m, F_HEALTH, "state",
		      h >= 0 && h < ISO_HEALTH__COUNT ? m->health_name[h]
						      : "unknown", 1);
	account_u64(m, F_OPERATIONS, st->operations);
	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		account_u64_l(m, F_FAILURES, "type", m->failure_name[t],
			      st->failures_by_type[t]);
	account_u64(m, F_QUARANTINES, st->quarantines);

	struct mbuf *r = account_value(m, F_RETRY_IN);
	put_milli(r, st->retry_in_ms);
	value_end(m, r);

	if (st->config.rate_per_s > 0 || st->budget_refusals)
		account_u64(m, F_BUDGET_REFUSALS, st->budget_refusals);
	if (st->config.rate_per_s > 0) {
		struct mbuf *ba = account_value(m, F_BUDGET_AVAILABLE);
		put_double(ba, st->budget_available);
		value_end(m, ba);
	}

	/* [B7] The library's percent as a ratio, Prometheus' unit; a rate
	 * not judged yet (-1: under min_calls) is no sample, not a zero. */
	if (st->config.window_ms) {
		account_u64(m, F_WINDOW_CALLS, st->window_calls);
		if (st->failure_rate >= 0) {
			struct mbuf *w = account_value(m, F_WINDOW_FAILURE_RATIO);
			put_double(w, st->failure_rate / 100.0);
			value_end(m, w);
		}
		if (st->config.slow_call_ms && st->slow_call_rate >= 0) {
			struct mbuf *w = account_value(m, F_WINDOW_SLOW_RATIO);
			put_double(w, st->slow_call_rate / 100.0);
			value_end(m, w);
		}
	}

	/* [B7] whether a rate or a streak tripped it, and the rest. */
	if (st->health != ISO_HEALTHY && st->last_transition_ms > 0 &&
	    (unsigned)st->last_cause < ISO_CAUSE__COUNT)
		account_u64_l(m, F_LAST_CAUSE, "cause",
			      iso_cause_name(st->last_cause), 1);

	if (m->opts.account_detail) {
		int s = (int)st->breaker;
		account_u64_l(m, F_BREAKER, "state",
			      s >= 0 && s < ISO_BREAKER__COUNT
				      ? m->breaker_name[s]
				      : "unknown", 1);
		account_u64(m, F_SUCCESSES, st->successes);
		account_u64(m, F_CONSEC_FAILURES, st->consecutive_failures);
		account_u64(m, F_CONSEC_SUCCESSES, st->consecutive_successes);
		account_u64(m, F_PROBES, st->probes_in_flight);
		account_u64(m, F_FAILED_RECOVERIES, st->backoff_step);
		account_time(m, F_LAST_SUCCESS, st->last_success_ms);
		account_time(m, F_LAST_FAILURE, st->last_failure_ms);
		account_time(m, F_LAST_TRANSITION, st->last_transition_ms);

		struct mbuf *e = account_value(m, F_EMA);
		put_ns_seconds(e, st->ema_op_ns);
		value_end(m, e);
	}
	if (m->opts.account_histograms)
		put_histogram(m, F_OP_SECONDS, st->hist, st->op_ns_sum);
	return 0;
}

/* name v, for a family without labels. */
static void plain_u64(struct iso_metrics *m, enum family f, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	put(b, families[f].name, m->name_len[f]);
	sample_end_u64(m, b, v);
}

/* name{lname="lvalue"} v */
static void labelled_u64(struct iso_metrics *m, enum family f,
			 const char *lname, const char *lvalue, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	put(b, families[f].name, m->name_len[f]);
	putc_(b, '{');
	puts_(b, lname);
	putc_(b, '=');
	put_label_value(b, lvalue);
	putc_(b, '}');
	sample_end_u64(m, b, v);
}

/* name{broker="B",lname="lvalue"} v */
static void broker_u64_l(struct iso_metrics *m, enum family f,
			 const char *broker, const char *lname,
			 const char *lvalue, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	put(b, families[f].name, m->name_len[f]);
	puts_(b, "{broker=");
	put_label_value(b, broker);
	putc_(b, ',');
	puts_(b, lname);
	put(b, "=\"", 2);
	puts_(b, lvalue);
	put(b, "\"}", 2);
	sample_end_u64(m, b, v);
}

/* The per-broker sums made during the walk. */
static int render_broker_sums(struct iso_metrics *m)
{
	struct mbuf *l = &m->labels;

	for (uint32_t i = 0; i < m->nbrokers; i++) {
		const struct broker_agg *a = &m->brokers[i];

		labelled_u64(m, F_BROKER_OPERATIONS, "broker", a->name,
			     a->operations);
		for (int t = 0; t < ISO_FAIL__COUNT; t++)
			broker_u64_l(m, F_BROKER_FAILURES, a->name, "type",
				     m->failure_name[t], a->failures[t]);
		labelled_u64(m, F_BROKER_QUARANTINES, "broker", a->name,
			     a->quarantines);
		l->len = 0;
		puts_(l, "broker=");
		put_label_value(l, a->name);
		if (l->oom)
			return ISO_ENOMEM;
		put_histogram(m, F_BROKER_OP_SECONDS, a->hist, a->sum_ns);
	}
	return 0;
}

static void render_registry(struct iso_metrics *m,
			    const struct iso_segment_info *info,
			    const struct iso_report *rep)
{
	struct mbuf *b = &m->fam[F_REG_INFO];
	char version[16];

	snprintf(version, sizeof(version), "%" PRIu32, info->layout_version);
	puts_(b, families[F_REG_INFO].name);
	puts_(b, "{segment=");
	put_label_value(b, info->name);
	puts_(b, ",layout_version=");
	put_label_value(b, version);
	puts_(b, "} 1\n");
	m->series++;

	plain_u64(m, F_REG_CAPACITY, info->capacity);
	plain_u64(m, F_REG_SLOTS_USED, info->used);
	plain_u64(m, F_REG_LIVE, info->live);
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		labelled_u64(m, F_REG_BY_HEALTH, "state", m->health_name[h],
			     rep->by_health[h]);
	plain_u64(m, F_REG_DIR_CAPACITY, info->dir_capacity);
	plain_u64(m, F_REG_DIR_TOMBSTONES, info->dir_tombstones);
	plain_u64(m, F_REG_SEGMENT_BYTES, info->segment_size);
	plain_u64(m, F_REG_CROSS_ERRORS, rep->cross_account_errors);
	plain_u64(m, F_REG_ISOLATION, rep->isolation_active ? 1 : 0);
	plain_u64(m, F_REG_BROKERS_DROPPED, rep->brokers_dropped);

	uint32_t nb = rep->brokers_count;
	if (nb > ISO_REPORT_MAX_BROKERS)
		nb = ISO_REPORT_MAX_BROKERS;
	for (uint32_t i = 0; i < nb; i++) {
		const struct iso_broker_summary *bs = &rep->brokers[i];
		char name[ISO_BROKER_MAX + 1];

		/* The report's string comes from shared memory: bound it. */
		memcpy(name, bs->broker, ISO_BROKER_MAX);
		name[ISO_BROKER_MAX] = 0;
		labelled_u64(m, F_BROKER_ACCOUNTS, "broker", name, bs->accounts);
		labelled_u64(m, F_BROKER_UNHEALTHY, "broker", name,
			     bs->unhealthy);
		labelled_u64(m, F_BROKER_DEGRADED, "broker", name,
			     bs->degraded);

		struct mbuf *r = &m->fam[F_BROKER_RATIO];
		puts_(r, families[F_BROKER_RATIO].name);
		puts_(r, "{broker=");
		put_label_value(r, name);
		put(r, "} ", 2);
		put_double(r, bs->accounts ? (double)bs->unhealthy /
						     (double)bs->accounts
					   : 0.0);
		value_end(m, r);
	}
}

static void render_self(struct iso_metrics *m,
			const struct iso_metrics_self *self)
{
	plain_u64(m, F_EXP_SCRAPES, self->scrapes);
	for (int e = 0; e < ISO_METRICS_ERR__COUNT; e++)
		labelled_u64(m, F_EXP_ERRORS, "reason",
			     iso_metrics_error_name((enum iso_metrics_error)e),
			     self->errors[e]);
	plain_u64(m, F_EXP_REATTACHES, self->reattaches);
	plain_u64(m, F_EXP_CUT, self->connections_cut);
	plain_u64(m, F_EXP_RESPONSES, self->responses);
	plain_u64(m, F_EXP_RESPONSE_BYTES, self->response_bytes);

	struct mbuf *b = &m->fam[F_EXP_DURATION];
	uint64_t now = tc_mono_ns();
	put(b, families[F_EXP_DURATION].name, m->name_len[F_EXP_DURATION]);
	putc_(b, ' ');
	put_ns_seconds(b, self->scrape_start_ns && now > self->scrape_start_ns
				  ? now - self->scrape_start_ns
				  : 0);
	putc_(b, '\n');
	m->series++;
}

/* The part of the text that does not need the segment. */
static void render_head(struct iso_metrics *m, bool up)
{
	plain_u64(m, F_UP, up ? 1 : 0);
	struct mbuf *b = &m->fam[F_BUILD_INFO];
	put(b, families[F_BUILD_INFO].name, m->name_len[F_BUILD_INFO]);
	puts_(b, "{version=\"" ISO_METRICS_VERSION "\"} 1\n");
	m->series++;
}

/* Empty every family (its HELP and TYPE kept) for a new render. */
static void reset(struct iso_metrics *m)
{
	for (int f = 0; f < F__COUNT; f++) {
		m->fam[f].len = m->hdr_len[f];
		m->fam[f].oom = false;
	}
	m->labels.oom = false;
	m->total = 0;
	m->series = 0;
	m->nbrokers = 0;
	m->last_broker = NULL;
}

/*
 * Families with no sample are dropped whole (their HELP and TYPE too), so
 * the text does not list what this budget leaves out. Returns 0 or
 * ISO_ENOMEM.
 */
static int finish(struct iso_metrics *m)
{
	size_t total = 0;

	for (int f = 0; f < F__COUNT; f++) {
		if (m->fam[f].oom)
			return ISO_ENOMEM;
		if (m->fam[f].len == m->hdr_len[f])
			m->fam[f].len = 0;
		total += m->fam[f].len;
	}
	m->total = total;
	return 0;
}

int iso_metrics_render(struct iso_metrics *m, iso_reg_t *reg,
		       const struct iso_metrics_self *self)
{
	struct iso_segment_info info;
	struct iso_report rep;
	int rc;

	if (!m)
		return ISO_EINVAL;
	reset(m);
	if (reg) {
		rc = iso_segment_info(reg, &info);
		if (rc == 0)
			rc = iso_snapshot(reg, &rep, render_account, m);
		if (rc == 0)
			rc = render_broker_sums(m);
		if (rc < 0) {
			reset(m);
			return rc;
		}
		render_registry(m, &info, &rep);
	}
	render_head(m, reg != NULL);
	if (self)
		render_self(m, self);
	rc = finish(m);
	if (rc < 0)
		reset(m);
	return rc;
}

size_t iso_metrics_len(const struct iso_metrics *m)
{
	return m->total;
}

size_t iso_metrics_series(const struct iso_metrics *m)
{
	return m->series;
}

const char *iso_metrics_chunk(const struct iso_metrics *m, size_t i,
			      size_t *len)
{
	for (size_t f = 0; f < F__COUNT; f++) {
		if (m->fam[f].len == 0)
			continue;
		if (i-- == 0) {
			*len = m->fam[f].len;
			return m->fam[f].p;
		}
	}
	*len = 0;
	return NULL;
}

size_t iso_metrics_read(const struct iso_metrics *m, size_t pos, char *dst,
			size_t max)
{
	size_t done = 0;

	for (int f = 0; f < F__COUNT && done < max; f++) {
		size_t len = m->fam[f].len;

		if (pos >= len) {
			pos -= len;
			continue;
		}
		size_t n = len - pos;
		if (n > max - done)
			n = max - done;
		memcpy(dst + done, m->fam[f].p + pos, n);
		done += n;
		pos = 0;
	}
	return done;
}

int iso_metrics_text(const struct iso_metrics *m, char **buf, size_t *len)
{
	char *p = malloc(m->total + 1);

	if (!p)
		return ISO_ENOMEM;
	*len = iso_metrics_read(m, 0, p, m->total);
	p[*len] = 0;
	*buf = p;
	return 0;
}
