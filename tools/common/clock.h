/*
 * clock.h - the one clock of isoreg's tools, tests and benches: monotonic
 * time for intervals and deadlines, wall time for what a person reads.
 * Header-only (a vDSO call each); nothing here touches a segment.
 */
#ifndef ISO_TOOLS_CLOCK_H
#define ISO_TOOLS_CLOCK_H

#include <stdint.h>
#include <time.h>

/** tc_mono_ns - CLOCK_MONOTONIC in nanoseconds: for intervals only. */
static inline uint64_t tc_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** tc_mono_ms - CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t tc_mono_ms(void)
{
	return tc_mono_ns() / 1000000ull;
}

/** tc_unix_ms - wall time (CLOCK_REALTIME) in Unix milliseconds. */
static inline int64_t tc_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* ISO_TOOLS_CLOCK_H */
