/*
 * window.c - rolling windows [B7]: counting, summing and judging an
 * account's recent outcomes (window.h). Calls only the atomics and the
 * failpoints: below the account files, beside slot.c.
 */
#include "failpoint.h"
#include "window.h"

int iso_window_judge(const struct iso_wsum *sum, const struct iso_config *cfg)
{
	if (!cfg->window_ms || sum->calls < cfg->min_calls || !sum->calls)
		return -1;
	/* Integer percent, no rounding: rate >= threshold exactly. */
	if (cfg->failure_rate_threshold &&
	    sum->fails * 100 >= (uint64_t)cfg->failure_rate_threshold * sum->calls)
		return ISO_CAUSE_FAILURE_RATE;
	if (cfg->slow_call_rate_threshold && cfg->slow_call_ms &&
	    sum->slow * 100 >= (uint64_t)cfg->slow_call_rate_threshold * sum->calls)
		return ISO_CAUSE_SLOW_CALL_RATE;
	return -1;
}

/* Returns the word's count after this add. */
static uint32_t count_word(uint64_t *p, uint32_t epoch)
{
	/* relaxed: the word is judged whole by its own epoch; nothing else
	 * is published through it. */
	uint64_t w = iso_load64_relaxed(p);
	for (;;) {
		bool add;
		uint64_t nw = iso_ww_add(w, epoch, &add);
		if (add) {
			ISO_FP("window.count");
			/* relaxed: a count orders nothing (as the slot's). */
			return ISO_WW_COUNT(iso_faa64_relaxed(p, 1) + 1);
		}
		/* acq_rel: pairs with other rotators' and adders' writes to
		 * this word; on failure w is the newer word, judged again. */
		ISO_FP("window.rotate");
		if (iso_cas64_acq_rel(p, &w, nw))
			return 1;
	}
}

uint32_t iso_window_count(struct iso_shm_window *w, uint32_t epoch, bool fail,
			  bool slow)
{
	unsigned i = epoch % ISO_WIN_BUCKETS;
	uint32_t n = count_word(&w->calls[i], epoch);
	if (fail)
		count_word(&w->fails[i], epoch);
	if (slow)
		count_word(&w->slow[i], epoch);
	return n;
}

static uint64_t sum_words(const uint64_t *words, uint32_t epoch)
{
	uint64_t n = 0;
	for (int i = 0; i < ISO_WIN_BUCKETS; i++) {
		uint64_t w = iso_load64_relaxed(&words[i]);
		if (iso_ww_current(ISO_WW_EPOCH(w), epoch))
			n += ISO_WW_COUNT(w);
	}
	return n;
}

void iso_window_sum(const struct iso_shm_window *w, uint32_t epoch,
		    bool calls_only, struct iso_wsum *sum)
{
	sum->calls = sum_words(w->calls, epoch);
	sum->fails = calls_only ? 0 : sum_words(w->fails, epoch);
	sum->slow = calls_only ? 0 : sum_words(w->slow, epoch);
}

void iso_window_clear(struct iso_shm_window *w)
{
	ISO_FP("window.clear");
	/* relaxed: each word is whole; an add racing the clear lands in a
	 * word of epoch 0 (an old lap) or survives it: a count either way. */
	for (int i = 0; i < ISO_WIN_BUCKETS; i++)
		iso_store64_relaxed(&w->calls[i], 0);
	ISO_FP("window.clear");
	for (int i = 0; i < ISO_WIN_BUCKETS; i++) {
		iso_store64_relaxed(&w->fails[i], 0);
		iso_store64_relaxed(&w->slow[i], 0);
	}
}
