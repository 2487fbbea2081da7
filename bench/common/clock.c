/*
 * clock.c - converting the cheap tick counter to nanoseconds.
 *
 * The TSC is read in a few cycles where clock_gettime costs a vDSO call;
 * harnesses that time single operations (the kill storm's survivors) use
 * ticks and convert afterwards, so the conversion never runs in a timed
 * region.
 */
#include <errno.h>

#include "bench.h"

static double ns_per_tick = 1.0;

double bench_ticks_calibrate(void)
{
#if defined(__x86_64__)
	/* Three 20 ms windows; the median guards against one preempted one. */
	double r[3];
	for (int i = 0; i < 3; i++) {
		uint64_t n0 = tc_mono_ns(), t0 = bench_ticks();
		while (tc_mono_ns() - n0 < 20000000ull)
			bench_pause();
		uint64_t n1 = tc_mono_ns(), t1 = bench_ticks();
		r[i] = (double)(n1 - n0) / (double)(t1 - t0);
	}
	ns_per_tick = bench_median(r, 3);
#else
	ns_per_tick = 1.0;
#endif
	return ns_per_tick;
}

double bench_ticks_to_ns(uint64_t ticks)
{
	return (double)ticks * ns_per_tick;
}

void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
