/*
 * window.h - rolling windows [B7]: an account's recent failure and
 * slow-call rates, kept as time-bucketed counters in the optional window
 * region (layout.h, struct iso_shm_window).
 *
 * The pure half (epochs, a word's next value, the judgement) reads no
 * shared memory and no clock, and is tested as tables. The shared half
 * is atomic adds and CASes on words that each carry their own epoch, so
 * a process killed between any two instructions leaves every word whole
 * and the window, at worst, short of that process's counts.
 */
#ifndef ISO_WINDOW_H
#define ISO_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "isoreg.h"
#include "layout.h"

/* What a window holds now: its words whose epoch is inside it, summed. */
struct iso_wsum {
	uint64_t calls;
	uint64_t fails;
	uint64_t slow;
};

/** iso_window_bucket_ms - one bucket's length for @window_ms (> 0). */
static inline uint32_t iso_window_bucket_ms(uint32_t window_ms)
{
	uint32_t b = window_ms / ISO_WIN_BUCKETS;
	return b ? b : 1;
}

/** iso_window_epoch - the bucket epoch of monotonic @now_ms. */
static inline uint32_t iso_window_epoch(uint64_t now_ms, uint32_t window_ms)
{
	return (uint32_t)(now_ms / iso_window_bucket_ms(window_ms));
}

/**
 * iso_ww_current - whether a word of epoch @e counts toward the window
 * whose newest bucket is @epoch: one of the last ISO_WIN_BUCKETS epochs,
 * or a little ahead (another process read the clock a bucket later than
 * we did). Anything else is an old lap, or a word from before the window
 * length changed: not counted, and rotated by the next add.
 */
static inline bool iso_ww_current(uint32_t e, uint32_t epoch)
{
	int32_t d = (int32_t)(e - epoch);
	return d > -ISO_WIN_BUCKETS && d <= ISO_WIN_BUCKETS;
}

/**
 * iso_ww_add - the word an add of 1 at @epoch should leave, given the
 * word @w read now, and whether that is a plain add (*@add): the word is
 * this bucket's or a newer one's (a clock read a little later; the count
 * goes there rather than erase it), else the word starts this bucket
 * with a count of 1. Pure.
 */
static inline uint64_t iso_ww_add(uint64_t w, uint32_t epoch, bool *add)
{
	int32_t d = (int32_t)(ISO_WW_EPOCH(w) - epoch);
	*add = d >= 0 && d <= ISO_WIN_BUCKETS;
	return *add ? w + 1 : ISO_WW_MAKE(epoch, 1);
}

/**
 * iso_window_judge - the cause a CLOSED breaker trips with for window
 * counts @sum under @cfg: ISO_CAUSE_FAILURE_RATE, ISO_CAUSE_SLOW_CALL_RATE,
 * or -1 (not enough calls, no threshold reached, or windows off). Pure.
 */
int iso_window_judge(const struct iso_wsum *sum, const struct iso_config *cfg);

/** iso_window_rate - @part as a percent of @calls (0 when none). */
static inline double iso_window_rate(uint64_t part, uint64_t calls)
{
	return calls ? 100.0 * (double)part / (double)calls : 0;
}

/**
 * iso_window_count - count one outcome at @epoch: a call, and a failure
 * and a slow call if so. Any process that may write the segment; relaxed
 * adds and acq_rel CASes on the account's own words; lock-free. Returns
 * the calls in the current bucket after this one (a floor of the
 * window's calls).
 */
uint32_t iso_window_count(struct iso_shm_window *w, uint32_t epoch, bool fail,
		      bool slow);

/**
 * iso_window_sum - the window's counts at @epoch; @calls_only reads only
 * the calls words. Relaxed loads: each word is whole, the sum of several
 * is not one snapshot (neither are the counters in iso_status). Works on
 * read-only mappings.
 */
void iso_window_sum(const struct iso_shm_window *w, uint32_t epoch,
		    bool calls_only, struct iso_wsum *sum);

/**
 * iso_window_clear - start an account's window again (registration, and
 * a breaker that closes: the failures that opened it must not trip it
 * again). Word by word, relaxed: a word cleared is epoch 0, an old lap.
 */
void iso_window_clear(struct iso_shm_window *w);

#endif /* ISO_WINDOW_H */
