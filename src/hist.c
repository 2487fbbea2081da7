/*
 * hist.c - the operation-time histogram's bounds and percentiles (hist.h).
 */
#include "hist.h"
#include "isoreg.h"

uint64_t iso_hist_upper_ns(int i)
{
	if (i < 0 || i >= ISO_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return 1ull << (14 + i);
}

void iso_hist_percentiles(const uint64_t *hist, uint64_t total, uint64_t *p50,
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
				double lo = i == 0 ? 0 : (double)(1ull << (13 + i));
				double hi = i == ISO_HIST_BUCKETS - 1
					? lo * 2 : (double)iso_hist_upper_ns(i);
				double f = (target - cum) / (double)hist[i];
				*out[k] = (uint64_t)(lo + f * (hi - lo));
				break;
			}
			cum += (double)hist[i];
		}
	}
}
