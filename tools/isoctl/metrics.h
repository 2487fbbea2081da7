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
 * iso_metrics_render - take every metric of @reg, in text format 0.0.4,
 * into the renderer's buffers.
 * @m: the renderer; one thread at a time, and not while a previous
 *     render's text is still being read out of it.
 * @reg: the attachment (read-only is enough).
 * @self: the exporter's own figures, or NULL to leave them out.
 *
 * One pass over the accounts (iso_foreach) plus iso_report and
 * iso_segment_info: cost O(accounts), no lock taken, nothing written to the
 * segment. Read the text with iso_metrics_read() or iso_metrics_text().
 * Returns 0, ISO_ENOMEM, or the negative code of the library call that
 * failed (its detail in iso_last_error()); the text is then empty.
 */
int iso_metrics_render(struct iso_metrics *m, iso_reg_t *reg,
		       const struct iso_metrics_self *self);

/** iso_metrics_len - bytes of text the last render made. */
size_t iso_metrics_len(const struct iso_metrics *m);

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

#endif /* ISOCTL_METRICS_H */
