/*
 * hist.c - the operation-time histogram's bounds and percentiles (hist.h).
 */
#include "hist.h"
#include "isoreg.h"

uint64_t iso_hist_upper_ns(int i)
{
	if (i < 0 || i >= ISO_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return 1ull << (ISO_HIST_LOW_SHIFT + i);
}

uint64_t iso_round3(uint64_t v)
{
	uint64_t scale = 1;
	while (v / scale >= 1000)
		scale *= 10;
	if (scale == 1)
		return v;
	uint64_t q = (v + scale / 2) / scale;
	return q * scale;
}

void iso_hist_percentiles(const uint64_t *hist, uint64_t total,
			  uint64_t min_ns, uint64_t max_ns, uint64_t *p50,
			  uint64_t *p99)
{
	const double q[2] = { 0.50, 0.99 };
	uint64_t *out[2] = { p50, p99 };
	for (int k = 0; k < 2; k++) {
		*out[k] = 0;
		if (!total)
			continue;
		double target = q[k] * (double)total, cum = 0;
		for (int i = 0; i < ISO_HIST_BUCKETS; i++) {
			if (!hist[i])
				continue;
			if (cum + (double)hist[i] >= target) {
				double lo = i == 0 ? 0
					: (double)(1ull << (ISO_HIST_LOW_SHIFT - 1 + i));
				double hi = i < ISO_HIST_BUCKETS - 1
					? (double)iso_hist_upper_ns(i)
					: ((double)max_ns > lo ? (double)max_ns : lo * 2);
				double f = (target - cum) / (double)hist[i];
				uint64_t v = (uint64_t)(lo + f * (hi - lo));
				/* The bucket cannot know better than what was
				 * seen: one 10 s operation is 10 s, not 8..16. */
				if (max_ns && v > max_ns)
					v = max_ns;
				if (min_ns && v < min_ns)
					v = min_ns;
				*out[k] = iso_round3(v);
				break;
			}
			cum += (double)hist[i];
		}
	}
}
