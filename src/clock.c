/*
 * clock.c - the library's notion of time.
 *
 * Breaker timeouts run on the monotonic clock, which every process on the
 * host shares (and /dev/shm does not outlive a boot). Tests replace it per
 * process with iso_clock_set. Timestamps shown to people (last success,
 * events) are Unix time from the coarse realtime clock: a few ns in the
 * vDSO, which keeps it affordable on the hot path.
 */
#include <time.h>

#include "internal.h"

static iso_clock_fn clock_fn;
static void *clock_ctx;

void iso_clock_set(iso_clock_fn fn, void *ctx)
{
	clock_ctx = ctx;
	clock_fn = fn;
}

uint64_t iso_now_ns(void)
{
	struct timespec ts;
	if (clock_fn)
		return clock_fn(clock_ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Breaker time, in ms. Timeouts are seconds to hours, so the coarse clock
 * (one vDSO read, no TSC, ~4 ms resolution) is precise enough and costs a
 * fifth of the fine one on every failure and every non-CLOSED acquire.
 */
uint64_t iso_now_ms(void)
{
	struct timespec ts;
	if (clock_fn)
		return clock_fn(clock_ctx) / 1000000ull;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* Slot retire stamps and cooldown checks: rare, and a cooldown may be as
 * short as a millisecond, below the coarse clock's resolution. */
uint64_t iso_stamp_ms(void)
{
	return iso_now_ns() / 1000000ull;
}

int64_t iso_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t iso_mono_to_wall_ms(uint64_t mono_ms)
{
	struct timespec rt, mo;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mo);
	int64_t wall_now = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
	/* With a test clock, monotonic "now" is the test's. */
	int64_t mono_now = (int64_t)iso_now_ms();
	(void)mo;
	return wall_now - (mono_now - (int64_t)mono_ms);
}
