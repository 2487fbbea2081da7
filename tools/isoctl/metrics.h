/*
 * metrics.h - the registry as Prometheus text exposition (format 0.0.4).
 *
 * Kept apart from the HTTP server (serve.c) so that the text can be tested
 * and benchmarked without a socket. The renderer only reads: it works on a
 * read-only attachment and never makes a writer wait.
 */
#ifndef ISOCTL_METRICS_H
#define ISOCTL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "isoreg.h"

/* The Content-Type of what iso_metrics_render() writes. */
#define ISO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A renderer: per-family buffers kept between scrapes; opaque. */
struct iso_metrics;

/* Facts about the exporter itself, rendered after the registry's. */
struct iso_metrics_self {
	uint64_t scrapes;            /* /metrics requests answered, this one included */
	uint64_t reattaches;         /* times the segment was found recreated */
	uint64_t unavailable;        /* scrapes answered 503 (segment gone) */
	uint64_t last_render_ns;     /* how long the previous render took */
};

/**
 * iso_metrics_new - a renderer.
 *
 * Returns NULL only if memory is exhausted.
 */
struct iso_metrics *iso_metrics_new(void);

/** iso_metrics_free - free @m and its buffers. NULL is allowed. */
void iso_metrics_free(struct iso_metrics *m);

/**
 * iso_metrics_render - write every metric of @reg in text format 0.0.4.
 * @m: the renderer; one thread at a time.
 * @reg: the attachment (read-only is enough).
 * @self: the exporter's own figures, or NULL to leave them out.
 * @buf: (output) a malloc'd buffer the caller frees (not NUL-terminated).
 * @len: (output) its length in bytes.
 *
 * One pass over the accounts (iso_foreach) plus iso_report and
 * iso_segment_info: cost O(accounts), no lock taken, nothing written to the
 * segment. Returns 0, ISO_ENOMEM, or the negative code of the library call
 * that failed (its detail in iso_last_error()).
 */
int iso_metrics_render(struct iso_metrics *m, iso_reg_t *reg,
		       const struct iso_metrics_self *self, char **buf,
		       size_t *len);

#endif /* ISOCTL_METRICS_H */
