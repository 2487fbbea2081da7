/*
 * breaker.c - the circuit breaker's transition function, pure [B4].
 *
 * Owns the semantics of SPEC §3: states, health, thresholds, lazy timeouts
 * [B5], probe permits and their expiry [B6], back-off, masks, retry-after
 * [M2] and observe-only mode [B8]. It must never read shared memory or a
 * clock: transition.c feeds it a word and the time and CASes the result in.
 */
#include "breaker.h"

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

struct iso_bw iso_bw_initial(uint32_t gen, uint64_t now_ms)
{
	struct iso_bw b = { 0 };
	b.gen = gen;
	b.state = ISO_BREAKER_CLOSED;
	b.time_ms = now_ms & ISO_BW_TIME_MASK;
	return b;
}

/* How long OPEN lasts after @backoff failed recoveries: doubling, capped. */
static uint64_t open_time_ms(const struct iso_config *cfg, unsigned backoff)
{
	uint64_t base = clamp_u32(cfg->open_timeout_ms, 1, ISO_TIMEOUT_MAX_MS);
	uint64_t cap = max_u64(base, cfg->max_open_timeout_ms);
	if (backoff >= 32)
		return cap;
	uint64_t t = base << backoff;
	return t > cap ? cap : t;
}

static struct iso_bw enter_open(struct iso_bw b, const struct iso_config *cfg,
				uint64_t now_ms, uint64_t retry_after_ms,
				unsigned backoff)
{
	b.state = ISO_BREAKER_OPEN;
	b.degraded = false;
	b.backoff = (uint8_t)(backoff > ISO_BW_BACKOFF_MAX ? ISO_BW_BACKOFF_MAX
							   : backoff);
	b.probes = 0;
	b.cs = 0;
	b.episode++;
	/* [M2] the exchange's retry-after is a floor on the open time, and
	 * is itself capped at ISO_TIMEOUT_MAX_MS: an absurd value must not
	 * wrap the 40-bit time and so open the breaker at once. */
	if (retry_after_ms > ISO_TIMEOUT_MAX_MS)
		retry_after_ms = ISO_TIMEOUT_MAX_MS;
	b.time_ms = (now_ms + max_u64(open_time_ms(cfg, b.backoff),
				      retry_after_ms)) & ISO_BW_TIME_MASK;
	return b;
}

static struct iso_bw enter_closed(struct iso_bw b, uint64_t now_ms)
{
	b.state = ISO_BREAKER_CLOSED;
	b.degraded = false;
	b.backoff = 0;
	b.cf = 0;
	b.cs = 0;
	b.probes = 0;
	b.time_ms = now_ms & ISO_BW_TIME_MASK;
	return b;
}

static uint8_t sat_inc(uint8_t v)
{
	return v == UINT8_MAX ? v : (uint8_t)(v + 1);
}

/* Lazy time transitions [B5]: whoever looks after the timeout makes them. */
static struct iso_bw tick(struct iso_bw b, const struct iso_config *cfg,
			  uint64_t now_ms, bool *recovery)
{
	*recovery = false;
	if (b.state == ISO_BREAKER_OPEN && now_ms >= b.time_ms) {
		b.state = ISO_BREAKER_HALF_OPEN;
		b.probes = 0;
		b.cs = 0;
		b.time_ms = now_ms & ISO_BW_TIME_MASK;
		*recovery = true;
	} else if (b.state == ISO_BREAKER_HALF_OPEN && b.probes > 0 &&
		   now_ms >= b.time_ms + clamp_u32(cfg->probe_timeout_ms, 1,
						   ISO_TIMEOUT_MAX_MS)) {
		/* [B6] probes whose outcome never came free their permits. */
		b.probes = 0;
	}
	return b;
}

static struct iso_bw acquire(struct iso_bw b, const struct iso_config *cfg,
			     uint64_t now_ms, bool recovery,
			     struct iso_bout *out)
{
	uint32_t max_calls = clamp_u32(cfg->half_open_max_calls, 1,
				       ISO_THRESHOLD_MAX);

	switch (b.state) {
	case ISO_BREAKER_CLOSED:
		out->allowed = true;
		out->reason = b.degraded ? ISO_REASON_DEGRADED
					 : ISO_REASON_HEALTHY;
		return b;
	case ISO_BREAKER_HALF_OPEN:
		if (b.probes < max_calls) {
			b.probes++;
			b.time_ms = now_ms & ISO_BW_TIME_MASK;
			out->allowed = true;
			out->probe = true;
			out->reason = recovery ? ISO_REASON_RECOVERY
					       : ISO_REASON_PROBE;
			return b;
		}
		out->reason = ISO_REASON_HALF_OPEN_LIMIT;
		out->retry_in_ms = b.time_ms + cfg->probe_timeout_ms > now_ms
			? b.time_ms + cfg->probe_timeout_ms - now_ms : 0;
		break;
	case ISO_BREAKER_OPEN:
		out->reason = ISO_REASON_OPEN;
		out->retry_in_ms = b.time_ms > now_ms ? b.time_ms - now_ms : 0;
		break;
	default:
		/* An operator's halt is not the breaker's opinion: observe-only
		 * mode does not lift it. */
		out->reason = ISO_REASON_FORCED_OPEN;
		return b;
	}
	/* [B8] observe-only: report what would happen, refuse nothing. */
	if (cfg->flags & ISO_CFG_OBSERVE_ONLY) {
		out->allowed = true;
		out->reason = ISO_REASON_OBSERVED;
	}
	return b;
}

static struct iso_bw success(struct iso_bw b, const struct iso_bevent *ev,
			     const struct iso_config *cfg, uint64_t now_ms)
{
	uint32_t need = clamp_u32(cfg->success_threshold, 1, ISO_THRESHOLD_MAX);

	switch (b.state) {
	case ISO_BREAKER_CLOSED:
		/* The failure streak ends in the counters (the next failure
		 * sees after_success), and so does this streak: only the
		 * success that reaches the threshold writes. */
		if (b.degraded) {
			uint32_t streak = ev->streak ? ev->streak : 1;
			if (streak >= need) {
				b.degraded = false;
				b.cs = 0;
				b.cf = 0;
				b.time_ms = now_ms & ISO_BW_TIME_MASK;
			}
		}
		return b;
	case ISO_BREAKER_HALF_OPEN:
		/* [B6] every outcome in HALF_OPEN releases one permit. */
		if (b.probes)
			b.probes--;
		b.cf = 0;
		b.cs = sat_inc(b.cs);
		if (b.cs >= need)
			b = enter_closed(b, now_ms);
		return b;
	default:
		/* Work that began before the trip: statistics only. */
		return b;
	}
}

static struct iso_bw failure(struct iso_bw b, const struct iso_bevent *ev,
			     const struct iso_config *cfg, uint64_t now_ms,
			     struct iso_bout *out)
{
	uint32_t ft = ev->ftype < ISO_FAIL__COUNT ? ev->ftype : ISO_FAIL_UNKNOWN;
	bool trip_now = cfg->trip_on & ISO_FAIL_MASK(ft);

	if (cfg->ignore & ISO_FAIL_MASK(ft)) {
		/* Counted in statistics, kept out of the breaker; a probe's
		 * permit is still released so it does not leak. */
		if (b.state == ISO_BREAKER_HALF_OPEN && b.probes)
			b.probes--;
		return b;
	}
	switch (b.state) {
	case ISO_BREAKER_CLOSED: {
		uint32_t trip = clamp_u32(cfg->failure_threshold, 1,
					  ISO_THRESHOLD_MAX);
		uint32_t degrade = clamp_u32(cfg->degrade_after, 1,
					     ISO_THRESHOLD_MAX);
		b.cf = ev->after_success ? 1 : sat_inc(b.cf);
		b.cs = 0;
		out->failure_counted = true;
		if (b.cf >= degrade && !b.degraded) {
			b.degraded = true;
			b.time_ms = now_ms & ISO_BW_TIME_MASK;
		}
		if (b.cf >= trip || trip_now) {
			b = enter_open(b, cfg, now_ms, ev->retry_after_ms, 0);
			out->quarantined = true;
		}
		return b;
	}
	case ISO_BREAKER_HALF_OPEN:
		/* A failed recovery: open again, for twice as long. */
		b.cf = sat_inc(b.cf);
		return enter_open(b, cfg, now_ms, ev->retry_after_ms,
				  (unsigned)b.backoff + 1);
	default:
		return b;
	}
}

struct iso_bw iso_breaker_next(struct iso_bw w, const struct iso_bevent *ev,
			       const struct iso_config *cfg, uint64_t now_ms,
			       struct iso_bout *out)
{
	bool recovery;
	struct iso_bout none = { 0 };

	if (!out)
		out = &none;
	*out = (struct iso_bout){ 0 };
	if (w.state >= ISO_BREAKER__COUNT)
		return w; /* not ours to repair here; doctor reports it */

	switch (ev->kind) {
	case ISO_BEV_RESET:
		w = enter_closed(w, now_ms);
		w.episode++;
		return w;
	case ISO_BEV_RELEASE: /* lift a halt; anything else stays as it is */
		if (w.state != ISO_BREAKER_FORCED_OPEN)
			return w;
		w = enter_closed(w, now_ms);
		w.episode++;
		return w;
	case ISO_BEV_RESET_UNHALTED: /* a reset that leaves a halt alone */
		if (w.state == ISO_BREAKER_FORCED_OPEN)
			return w;
		w = enter_closed(w, now_ms);
		w.episode++;
		return w;
	case ISO_BEV_FORCE_OPEN:
		if (w.state != ISO_BREAKER_FORCED_OPEN) {
			out->quarantined = true;
			w.state = ISO_BREAKER_FORCED_OPEN;
			w.degraded = false;
			w.probes = 0;
			w.cs = 0;
			w.episode++;
			w.time_ms = now_ms & ISO_BW_TIME_MASK;
		}
		return w;
	default:
		break;
	}

	w = tick(w, cfg, now_ms, &recovery);
	switch (ev->kind) {
	case ISO_BEV_ACQUIRE:
		return acquire(w, cfg, now_ms, recovery, out);
	case ISO_BEV_SUCCESS:
		return ev->old_episode ? w : success(w, ev, cfg, now_ms);
	case ISO_BEV_FAILURE:
		return ev->old_episode ? w : failure(w, ev, cfg, now_ms, out);
	case ISO_BEV_RATE_TRIP:
		/* [B7] the window judged a CLOSED breaker (healthy or
		 * degraded); by now it may have tripped or been reset. */
		if (w.state != ISO_BREAKER_CLOSED)
			return w;
		out->quarantined = true;
		return enter_open(w, cfg, now_ms, ev->retry_after_ms, 0);
	default:
		return w;
	}
}
