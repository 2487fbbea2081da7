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
 * are never copied into one: the server reads the text out of them in
 * blocks (iso_metrics_read), which spares a copy and the page faults of a
 * fresh buffer of tens of MB on every scrape of a large fleet.
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

#include "metrics.h"

/* A growing byte buffer; @oom sticks once an allocation failed. */
struct mbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

enum family {
	/* per account */
	F_HEALTH,
	F_BREAKER,
	F_OPERATIONS,
	F_SUCCESSES,
	F_FAILURES,
	F_QUARANTINES,
	F_CONSEC_FAILURES,
	F_CONSEC_SUCCESSES,
	F_PROBES,
	F_FAILED_RECOVERIES,
	F_RETRY_IN,
	F_LAST_SUCCESS,
	F_LAST_FAILURE,
	F_LAST_TRANSITION,
	F_EMA,
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
	/* the exporter itself */
	F_EXP_SCRAPES,
	F_EXP_REATTACHES,
	F_EXP_UNAVAILABLE,
	F_EXP_RENDER,
	F__COUNT
};

struct family_desc {
	const char *name;
	const char *type;
	const char *help;
};

/* Names follow Prometheus conventions: base units (seconds), _total on counters. */
static const struct family_desc families[F__COUNT] = {
	[F_HEALTH] = { "isoreg_account_health", "gauge",
		"Health of the account: 1 for its current state, 0 for the others." },
	[F_BREAKER] = { "isoreg_account_breaker_state", "gauge",
		"Circuit breaker state of the account: 1 for the current state, 0 for the others." },
	[F_OPERATIONS] = { "isoreg_account_operations_total", "counter",
		"Operations recorded for the account (successes plus failures)." },
	[F_SUCCESSES] = { "isoreg_account_successes_total", "counter",
		"Successful operations recorded for the account." },
	[F_FAILURES] = { "isoreg_account_failures_total", "counter",
		"Failed operations recorded for the account, by failure type." },
	[F_QUARANTINES] = { "isoreg_account_quarantines_total", "counter",
		"Times the account was quarantined (breaker tripped from closed, or halted)." },
	[F_CONSEC_FAILURES] = { "isoreg_account_consecutive_failures", "gauge",
		"Failures in a row since the last success." },
	[F_CONSEC_SUCCESSES] = { "isoreg_account_consecutive_successes", "gauge",
		"Successes in a row since the last failure." },
	[F_PROBES] = { "isoreg_account_probes_in_flight", "gauge",
		"Half-open probe permits currently held." },
	[F_FAILED_RECOVERIES] = { "isoreg_account_failed_recoveries", "gauge",
		"Failed recoveries in a row (the open-time back-off step)." },
	[F_RETRY_IN] = { "isoreg_account_retry_in_seconds", "gauge",
		"While the breaker is open: seconds until probes are allowed; 0 otherwise." },
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
	[F_EXP_SCRAPES] = { "isoreg_exporter_scrapes_total", "counter",
		"Requests for /metrics answered by this exporter." },
	[F_EXP_REATTACHES] = { "isoreg_exporter_reattaches_total", "counter",
		"Times the segment was found unlinked and recreated, and attached again." },
	[F_EXP_UNAVAILABLE] = { "isoreg_exporter_unavailable_scrapes_total", "counter",
		"Requests for /metrics answered 503 because the segment was missing." },
	[F_EXP_RENDER] = { "isoreg_exporter_render_seconds", "gauge",
		"Time the previous /metrics render took." },
};

struct iso_metrics {
	struct mbuf fam[F__COUNT];
	struct mbuf labels;                      /* one account's label set */
	char health_name[ISO_HEALTH__COUNT][16]; /* lower-case state names */
	char breaker_name[ISO_BREAKER__COUNT][16];
	char failure_name[ISO_FAIL__COUNT][24];
	char le[ISO_HIST_BUCKETS][24];           /* bucket upper bounds, seconds */
	int nle;                                 /* buckets with a finite bound */
	size_t name_len[F__COUNT];               /* strlen(families[f].name) */
	size_t hdr_len[F__COUNT];                /* HELP and TYPE, at each buffer's head */
	size_t total;                            /* bytes of the last render */
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

/*
 * Milliseconds the library derived from a whole number of nanoseconds,
 * back to that number: exact while it stays below 2^53 ns (104 days).
 */
static uint64_t ms_to_ns(double ms)
{
	double ns = ms * 1e6;

	if (!(ns > 0))
		return 0;
	if (ns >= 18446744073709549568.0)
		return UINT64_MAX;
	return (uint64_t)(ns + 0.5);
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

struct iso_metrics *iso_metrics_new(void)
{
	struct iso_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
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

/* "name{labels" - the caller closes the brace (maybe after more labels). */
static void sample_open(struct iso_metrics *m, enum family f,
			const char *suffix)
{
	struct mbuf *b = &m->fam[f];

	put(b, families[f].name, m->name_len[f]);
	if (suffix)
		puts_(b, suffix);
	putc_(b, '{');
	put(b, m->labels.p, m->labels.len);
}

/* name{account labels} v */
static void account_u64(struct iso_metrics *m, enum family f, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	sample_open(m, f, NULL);
	put(b, "} ", 2);
	put_u64(b, v);
	putc_(b, '\n');
}

/* name{account labels,@lname="@lvalue"} v */
static void account_u64_l(struct iso_metrics *m, enum family f,
			  const char *lname, const char *lvalue, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	sample_open(m, f, NULL);
	putc_(b, ',');
	puts_(b, lname);
	putc_(b, '=');
	put_label_value(b, lvalue);
	put(b, "} ", 2);
	put_u64(b, v);
	putc_(b, '\n');
}

/* A Unix-ms timestamp as seconds; left out while it never happened. */
static void account_time(struct iso_metrics *m, enum family f, int64_t ms)
{
	struct mbuf *b = &m->fam[f];

	if (ms <= 0)
		return;
	sample_open(m, f, NULL);
	put(b, "} ", 2);
	put_milli(b, (uint64_t)ms);
	putc_(b, '\n');
}

static void account_histogram(struct iso_metrics *m,
			      const struct iso_status *st)
{
	struct mbuf *b = &m->fam[F_OP_SECONDS];
	uint64_t cum = 0;

	/* Cumulative, as Prometheus buckets are: le counts everything below. */
	for (int i = 0; i < m->nle; i++) {
		cum += st->hist[i];
		sample_open(m, F_OP_SECONDS, "_bucket");
		put(b, ",le=\"", 5);
		puts_(b, m->le[i]);
		put(b, "\"} ", 3);
		put_u64(b, cum);
		putc_(b, '\n');
	}
	for (int i = m->nle; i < ISO_HIST_BUCKETS; i++)
		cum += st->hist[i];
	sample_open(m, F_OP_SECONDS, "_bucket");
	put(b, ",le=\"+Inf\"} ", 12);
	put_u64(b, cum);
	putc_(b, '\n');

	/*
	 * The library keeps the sum of op_ns and gives it as avg_op_ms over
	 * timed_operations; multiplying back and rounding to whole ns
	 * recovers the sum. _count is the +Inf bucket, so bucket and count
	 * agree even if a writer landed between the status reads.
	 */
	uint64_t sum_ns = 0;
	if (st->timed_operations > 0)
		sum_ns = ms_to_ns(st->avg_op_ms * (double)st->timed_operations);
	sample_open(m, F_OP_SECONDS, "_sum");
	put(b, "} ", 2);
	put_ns_seconds(b, sum_ns);
	putc_(b, '\n');
	sample_open(m, F_OP_SECONDS, "_count");
	put(b, "} ", 2);
	put_u64(b, cum);
	putc_(b, '\n');
}

static int render_account(const struct iso_status *st, void *ctx)
{
	struct iso_metrics *m = ctx;
	struct mbuf *l = &m->labels;

	l->len = 0;
	puts_(l, "account_type=");
	put_label_value(l, st->key.type);
	puts_(l, ",account_id=");
	put_label_value(l, st->key.id);
	puts_(l, ",broker=");
	put_label_value(l, st->key.broker);
	if (l->oom)
		return ISO_ENOMEM;

	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		account_u64_l(m, F_HEALTH, "state", m->health_name[h],
			      (int)st->health == h);
	for (int s = 0; s < ISO_BREAKER__COUNT; s++)
		account_u64_l(m, F_BREAKER, "state", m->breaker_name[s],
			      (int)st->breaker == s);
	account_u64(m, F_OPERATIONS, st->operations);
	account_u64(m, F_SUCCESSES, st->successes);
	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		account_u64_l(m, F_FAILURES, "type", m->failure_name[t],
			      st->failures_by_type[t]);
	account_u64(m, F_QUARANTINES, st->quarantines);
	account_u64(m, F_CONSEC_FAILURES, st->consecutive_failures);
	account_u64(m, F_CONSEC_SUCCESSES, st->consecutive_successes);
	account_u64(m, F_PROBES, st->probes_in_flight);
	account_u64(m, F_FAILED_RECOVERIES, st->backoff_step);

	sample_open(m, F_RETRY_IN, NULL);
	put(&m->fam[F_RETRY_IN], "} ", 2);
	put_milli(&m->fam[F_RETRY_IN], st->retry_in_ms);
	putc_(&m->fam[F_RETRY_IN], '\n');

	account_time(m, F_LAST_SUCCESS, st->last_success_ms);
	account_time(m, F_LAST_FAILURE, st->last_failure_ms);
	account_time(m, F_LAST_TRANSITION, st->last_transition_ms);

	sample_open(m, F_EMA, NULL);
	put(&m->fam[F_EMA], "} ", 2);
	put_ns_seconds(&m->fam[F_EMA], ms_to_ns(st->ema_op_ms));
	putc_(&m->fam[F_EMA], '\n');

	account_histogram(m, st);
	return 0;
}

/* name v, for a family without labels. */
static void plain_u64(struct iso_metrics *m, enum family f, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	puts_(b, families[f].name);
	putc_(b, ' ');
	put_u64(b, v);
	putc_(b, '\n');
}

/* name{lname="lvalue"} v */
static void labelled_u64(struct iso_metrics *m, enum family f,
			 const char *lname, const char *lvalue, uint64_t v)
{
	struct mbuf *b = &m->fam[f];

	puts_(b, families[f].name);
	putc_(b, '{');
	puts_(b, lname);
	putc_(b, '=');
	put_label_value(b, lvalue);
	put(b, "} ", 2);
	put_u64(b, v);
	putc_(b, '\n');
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
		putc_(r, '\n');
	}
}

static void render_self(struct iso_metrics *m,
			const struct iso_metrics_self *self)
{
	plain_u64(m, F_EXP_SCRAPES, self->scrapes);
	plain_u64(m, F_EXP_REATTACHES, self->reattaches);
	plain_u64(m, F_EXP_UNAVAILABLE, self->unavailable);

	struct mbuf *b = &m->fam[F_EXP_RENDER];
	puts_(b, families[F_EXP_RENDER].name);
	putc_(b, ' ');
	put_ns_seconds(b, self->last_render_ns);
	putc_(b, '\n');
}

int iso_metrics_render(struct iso_metrics *m, iso_reg_t *reg,
		       const struct iso_metrics_self *self)
{
	struct iso_segment_info info;
	struct iso_report rep;
	int rc;

	if (!m || !reg)
		return ISO_EINVAL;
	for (int f = 0; f < F__COUNT; f++) {
		m->fam[f].len = m->hdr_len[f];
		m->fam[f].oom = false;
	}
	m->labels.oom = false;
	m->total = 0;

	rc = iso_segment_info(reg, &info);
	if (rc < 0)
		return rc;
	rc = iso_report(reg, &rep);
	if (rc < 0)
		return rc;
	rc = iso_foreach(reg, render_account, m);
	if (rc < 0)
		return rc;
	render_registry(m, &info, &rep);
	if (self)
		render_self(m, self);
	else
		for (int f = F_EXP_SCRAPES; f < F__COUNT; f++)
			m->fam[f].len = 0;

	size_t total = 0;
	for (int f = 0; f < F__COUNT; f++) {
		if (m->fam[f].oom)
			return ISO_ENOMEM;
		total += m->fam[f].len;
	}
	m->total = total;
	return 0;
}

size_t iso_metrics_len(const struct iso_metrics *m)
{
	return m->total;
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
