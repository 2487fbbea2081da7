/*
 * stats.c - medians, percentiles and the log-linear latency histogram.
 *
 * Percentiles are nearest-rank on sorted samples: no interpolation, so a
 * reported figure is always one that was measured.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

static double pct_sorted(const double *v, size_t n, double p)
{
	if (n == 0)
		return NAN;
	double rank = ceil(p / 100.0 * (double)n);
	size_t i = rank < 1 ? 0 : (size_t)rank - 1;
	if (i >= n)
		i = n - 1;
	return v[i];
}

double bench_pct(double *v, size_t n, double p)
{
	bench_sort(v, n);
	return pct_sorted(v, n, p);
}

double bench_median(double *v, size_t n)
{
	return bench_pct(v, n, 50.0);
}

void bench_summarize(double *v, size_t n, struct bench_summary *s)
{
	bench_sort(v, n);
	s->median = pct_sorted(v, n, 50.0);
	s->p99 = pct_sorted(v, n, 99.0);
	s->min = n ? v[0] : NAN;
	s->max = n ? v[n - 1] : NAN;
}

void bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *h)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		into->b[i] += h->b[i];
	into->count += h->count;
	if (h->max > into->max)
		into->max = h->max;
}

/* The largest value that falls in bucket @i. */
static uint64_t bucket_upper(unsigned i)
{
	if (i < BENCH_HIST_SUB)
		return i;
	unsigned e = i / BENCH_HIST_SUB + 3;
	uint64_t sub = i % BENCH_HIST_SUB;
	uint64_t lo = (1ull << e) | (sub << (e - 4));
	return lo + (1ull << (e - 4)) - 1;
}

uint64_t bench_hist_pct(const struct bench_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	double rank = ceil(p / 100.0 * (double)h->count);
	uint64_t want = rank < 1 ? 1 : (uint64_t)rank, seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t up = bucket_upper(i);
			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}
