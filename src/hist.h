/*
 * hist.h - the operation-time histogram's geometry, in one place: bucket 0
 * holds times below 2^10 ns (1.02 us), bucket i (1..26) times in
 * [2^(9+i), 2^(10+i)) ns, the last everything from 2^36 ns (68.7 s) up.
 * The hot path, status, the exporter and Python all read it from here
 * (iso_hist_upper_ns is public).
 */
#ifndef ISO_HIST_H
#define ISO_HIST_H

#include <stdint.h>

#include "layout.h"

#define ISO_HIST_LOW_SHIFT 10 /* bucket 0 ends at 2^10 ns */

/* The bucket of an operation time: one clz, no loop (hot path). */
static inline unsigned iso_hist_bucket(uint64_t ns)
{
	if (ns < (1ull << ISO_HIST_LOW_SHIFT))
		return 0;
	unsigned b = 63u - (unsigned)__builtin_clzll(ns); /* floor(log2) */
	b -= ISO_HIST_LOW_SHIFT - 1;
	return b >= ISO_SLOT_HIST ? ISO_SLOT_HIST - 1 : b;
}

/**
 * iso_hist_percentiles - p50 and p99 of @total samples in @hist, each
 * interpolated linearly inside its bucket, clamped to [@min_ns, @max_ns]
 * (the smallest and largest samples seen; 0, 0 if unknown) and rounded to
 * three significant digits; 0 when there are none.
 */
void iso_hist_percentiles(const uint64_t *hist, uint64_t total,
			  uint64_t min_ns, uint64_t max_ns, uint64_t *p50,
			  uint64_t *p99);

/** iso_round3 - @v rounded to three significant digits. */
uint64_t iso_round3(uint64_t v);

#endif /* ISO_HIST_H */
