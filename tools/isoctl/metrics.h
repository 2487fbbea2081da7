/*
 * metrics.h - the registry as Prometheus text exposition (format 0.0.4).
 *
 * Kept apart from the HTTP server (serve.c) so that the text can be tested
 * and benchmarked without a socket. The renderer only reads: it works on a
 * read-only attachment and never makes a writer wait.
 *
 * What it writes is chosen once, at iso_metrics_new(): the series budget
 * (docs/monitoring.md). By default an account costs 12 series (health,
 * operations, 8 failure types, quarantines, retry-in), plus 2 with a
 * request budget and up to 3 with a rolling window; its extra gauges and
 * its operation-time histogram are opt-in, and per-account series can be
 * limited to the accounts that are not HEALTHY. The per-broker sums and the
 * per-broker histogram are always there, so the dashboards and alerts keep
 * working whatever the choice.
 */
#ifndef ISOCTL_METRICS_H
#define ISOCTL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isoreg.h"

/* The build's version ("0.1.0"), from the public header's macros. */
#define ISO_METRICS_STR_(x) #x
#define ISO_METRICS_STR(x) ISO_METRICS_STR_(x)
#define ISO_METRICS_VERSION                                  \
	ISO_METRICS_STR(ISO_VERSION_MAJOR)                   \
	"." ISO_METRICS_STR(ISO_VERSION_MINOR) "." ISO_METRICS_STR(ISO_VERSION_PATCH)

/* The Content-Type of what iso_metrics_render() writes. */
#define ISO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A renderer: per-family buffers kept between scrapes; opaque. */
struct iso_metrics;

/* Which accounts get series of their own. */
enum iso_metrics_accounts {
	ISO_METRICS_ACCOUNTS_ALL,       /* every account (default) */
	ISO_METRICS_ACCOUNTS_UNHEALTHY, /* only accounts not HEALTHY now */
	ISO_METRICS_ACCOUNTS_NONE,      /* none: registry and broker series only */
};

/* The series budget; all-zero is the default. */
struct iso_metrics_opts {
	enum iso_metrics_accounts accounts;
	bool account_detail;     /* breaker state, successes, streaks, probes,
				    back-off step, timestamps, EMA */
	bool account_histograms; /* the operation-time histogram per account */
};

/* Why a scrape could not read the segment (isoreg_exporter_scrape_errors_total). */
enum iso_metrics_error {
	ISO_METRICS_ERR_MISSING,    /* no segment of that name (yet) */
	ISO_METRICS_ERR_DAMAGED,    /* refused by validation, or failed mid-read */
	ISO_METRICS_ERR_UNREADABLE, /* permissions or a system error */
	ISO_METRICS_ERR__COUNT
};

/* Facts about the exporter itself, rendered after the registry's. */
struct iso_metrics_self {
	uint64_t scrapes;            /* /metrics requests answered, this one included */
	uint64_t reattaches;         /* times the segment was found recreated */
	uint64_t errors[ISO_METRICS_ERR__COUNT]; /* scrapes without a segment, by cause */
	uint64_t connections_cut;    /* connections closed for overrunning --web.timeout */
	uint64_t responses;          /* /metrics responses being sent (held by clients) */
	uint64_t response_bytes;     /* memory those responses hold */
	uint64_t scrape_start_ns;    /* CLOCK_MONOTONIC when this scrape began; 0: none */
};

/**
 * iso_metrics_new - a renderer.
 * @opts: the series budget; NULL means the default.
 *
 * Returns NULL only if memory is exhausted.
 */
struct iso_metrics *iso_metrics_new(const struct iso_metrics_opts *opts);

/** iso_metrics_free - free @m and its buffers. NULL is allowed. */
void iso_metrics_free(struct iso_metrics *m);

/**
 * iso_metrics_render - take the metrics of @reg, in text format 0.0.4,
 * into the renderer's buffers.
 * @m: the renderer; one thread at a time.
 * @reg: the attachment (read-only is enough), or NULL when there is no
 *       segment to read: the text then says `isoreg_up 0` and holds the
 *       exporter's own series only.
 * @self: the exporter's own figures, or NULL to leave them out.
 *
 * One pass over the accounts (iso_snapshot: rows and totals from the same
 * walk) and iso_segment_info: cost O(accounts), no lock taken, nothing written to the
 * segment. Read the text with iso_metrics_chunk(), iso_metrics_read() or
 * iso_metrics_text(). Returns 0, ISO_ENOMEM, or the negative code of the
 * library call that failed (its detail in iso_last_error()); the text is
 * then empty, and the caller renders again with @reg NULL.
 */
int iso_metrics_render(struct iso_metrics *m, iso_reg_t *reg,
		       const struct iso_metrics_self *self);

/** iso_metrics_len - bytes of text the last render made. */
size_t iso_metrics_len(const struct iso_metrics *m);

/** iso_metrics_series - samples (lines that are not comments) of the last render. */
size_t iso_metrics_series(const struct iso_metrics *m);

/**
 * iso_metrics_chunk - the text is a few contiguous pieces, one after the
 * other; piece @i of them, its length in *@len. Returns NULL past the last.
 * Valid until the next render.
 */
const char *iso_metrics_chunk(const struct iso_metrics *m, size_t i,
			      size_t *len);

/**
 * iso_metrics_read - copy up to @max bytes of the text, from byte @pos on,
 * into @dst. Returns the bytes copied; 0 at the end.
 */
size_t iso_metrics_read(const struct iso_metrics *m, size_t pos, char *dst,
			size_t max);

/**
 * iso_metrics_text - the whole text as one malloc'd, NUL-terminated copy
 * (*@buf, the caller frees it), for tests and tools; *@len its length.
 * Returns 0 or ISO_ENOMEM.
 */
int iso_metrics_text(const struct iso_metrics *m, char **buf, size_t *len);

/**
 * iso_metrics_error_name - the reason label of @e ("missing", "damaged",
 * "unreadable").
 */
const char *iso_metrics_error_name(enum iso_metrics_error e);

#endif /* ISOCTL_METRICS_H */
