/*
 * hist.h - the operation-time histogram's geometry, in one place: bucket i
 * holds times in [2^(13+i), 2^(14+i)) ns, bucket 0 everything below
 * 2^14 ns, the last everything above. The hot path, status, the exporter
 * and Python all read it from here (iso_hist_upper_ns is public).
 */
#ifndef ISO_HIST_H
#define ISO_HIST_H

#include <stdint.h>

#include "layout.h"

/* The bucket of an operation time: one clz, no loop (hot path). */
static inline unsigned iso_hist_bucket(uint64_t ns)
{
	if (ns < (1ull << 14))
		return 0;
	unsigned b = 63u - (unsigned)__builtin_clzll(ns); /* floor(log2) */
	b -= 13;
	return b >= ISO_SLOT_HIST ? ISO_SLOT_HIST - 1 : b;
}

/**
 * iso_hist_percentiles - p50 and p99 of @total samples in @hist, each
 * interpolated linearly inside its bucket; 0 when there are none.
 */
void iso_hist_percentiles(const uint64_t *hist, uint64_t total, uint64_t *p50,
			  uint64_t *p99);

#endif /* ISO_HIST_H */
