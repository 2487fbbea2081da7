/*
 * breaker.h - the breaker as a pure function [B4].
 *
 * iso_breaker_next(word, event, config, now) computes the next breaker word
 * and what the caller should be told. It reads no shared memory and no
 * clock, so every state x event pair is tested exhaustively; transition.c wraps
 * it in a CAS loop.
 */
#ifndef ISO_BREAKER_H
#define ISO_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "isoreg.h"
#include "layout.h"

/* The breaker word, unpacked. See layout.h for the packed form. */
struct iso_bw {
	uint32_t gen;      /* the slot generation */
	uint8_t state;     /* enum iso_breaker_state */
	bool degraded;     /* CLOSED only: DEGRADED until enough successes */
	uint8_t backoff;   /* failed recoveries in a row, 0..ISO_BW_BACKOFF_MAX */
	uint8_t cf;        /* consecutive failures as of the last failure,
			      saturating; in CLOSED a success since (the
			      counters say: iso_bevent.after_success) makes
			      it 0 without a write */
	uint8_t cs;        /* consecutive successes toward a threshold
			      (HALF_OPEN; CLOSED: see iso_bevent.streak) */
	uint8_t probes;    /* HALF_OPEN probe permits in flight */
	uint16_t episode;  /* moves on every trip, halt and reset */
	uint64_t time_ms;  /* see layout.h */
	uint8_t seq;       /* moves on every CAS */
};

enum iso_bev_kind {
	ISO_BEV_ACQUIRE = 0,
	ISO_BEV_SUCCESS,
	ISO_BEV_FAILURE,
	ISO_BEV_TICK,       /* nothing happened but time: lazy transitions only */
	ISO_BEV_RESET,
	ISO_BEV_FORCE_OPEN,
	ISO_BEV_RELEASE,        /* FORCED_OPEN -> CLOSED; nothing else moves */
	ISO_BEV_RESET_UNHALTED, /* RESET, except that FORCED_OPEN stays */
	ISO_BEV_RATE_TRIP,      /* [B7] a window rate reached its threshold:
				   CLOSED trips, anything else stays */
	ISO_BEV__COUNT
};

struct iso_bevent {
	enum iso_bev_kind kind;
	uint8_t ftype;           /* ISO_BEV_FAILURE: enum iso_failure_type */
	bool old_episode;        /* the outcome's permit is from an earlier episode */
	/*
	 * Streaks in CLOSED come from the slot's counters, so an outcome
	 * that moves no state needs no CAS [B4]:
	 *   after_success (ISO_BEV_FAILURE): a success was recorded since
	 *	the previous failure, so this one starts a new streak;
	 *   streak (ISO_BEV_SUCCESS): successes since the last failure,
	 *	this one included (0: not known; counts as 1).
	 */
	bool after_success;
	uint32_t streak;
	uint64_t retry_after_ms; /* ISO_BEV_FAILURE, ISO_BEV_RATE_TRIP: exchange's
				    retry-after, or 0 */
};

struct iso_bout {
	bool allowed;           /* ISO_BEV_ACQUIRE: may act */
	bool probe;             /* ISO_BEV_ACQUIRE: took a probe permit */
	uint8_t reason;         /* ISO_BEV_ACQUIRE: enum iso_reason */
	uint64_t retry_in_ms;   /* ISO_BEV_ACQUIRE refused: time until retry */
	bool quarantined;       /* this step entered QUARANTINED (a trip or halt) */
	bool failure_counted;   /* ISO_BEV_FAILURE counted in CLOSED: the
				   caller marks the counters' success streak
				   as started again (iso_bevent.streak) */
	bool changed;           /* set by the CAS loop: the word moved */
};

static inline struct iso_bw iso_bw_unpack(iso_pair_t w)
{
	struct iso_bw b = {
		.gen = (uint32_t)(w.lo >> ISO_BW_GEN_SHIFT),
		.state = (uint8_t)((w.lo >> ISO_BW_STATE_SHIFT) & 0x3),
		.degraded = (w.lo >> ISO_BW_DEGRADED_SHIFT) & 0x1,
		.backoff = (uint8_t)((w.lo >> ISO_BW_BACKOFF_SHIFT) & 0x1f),
		.cf = (uint8_t)(w.lo >> ISO_BW_CF_SHIFT),
		.episode = (uint16_t)(w.lo >> ISO_BW_EPISODE_SHIFT),
		.time_ms = w.hi & ISO_BW_TIME_MASK,
		.cs = (uint8_t)(w.hi >> ISO_BW_CS_SHIFT),
		.probes = (uint8_t)(w.hi >> ISO_BW_PROBES_SHIFT),
		.seq = (uint8_t)(w.hi >> ISO_BW_SEQ_SHIFT),
	};
	return b;
}

static inline iso_pair_t iso_bw_pack(const struct iso_bw *b)
{
	iso_pair_t w;
	w.lo = ((uint64_t)b->gen << ISO_BW_GEN_SHIFT) |
	       ((uint64_t)(b->state & 0x3) << ISO_BW_STATE_SHIFT) |
	       ((uint64_t)(b->degraded ? 1 : 0) << ISO_BW_DEGRADED_SHIFT) |
	       ((uint64_t)(b->backoff & 0x1f) << ISO_BW_BACKOFF_SHIFT) |
	       ((uint64_t)b->cf << ISO_BW_CF_SHIFT) |
	       ((uint64_t)b->episode << ISO_BW_EPISODE_SHIFT);
	w.hi = (b->time_ms & ISO_BW_TIME_MASK) |
	       ((uint64_t)b->cs << ISO_BW_CS_SHIFT) |
	       ((uint64_t)b->probes << ISO_BW_PROBES_SHIFT) |
	       ((uint64_t)b->seq << ISO_BW_SEQ_SHIFT);
	return w;
}

/* Fast-path views of the lo word alone. */
static inline uint32_t iso_bw_lo_state(uint64_t lo)
{ return (uint32_t)((lo >> ISO_BW_STATE_SHIFT) & 0x3); }
static inline uint32_t iso_bw_lo_gen(uint64_t lo)
{ return (uint32_t)(lo >> ISO_BW_GEN_SHIFT); }
static inline uint16_t iso_bw_lo_episode(uint64_t lo)
{ return (uint16_t)(lo >> ISO_BW_EPISODE_SHIFT); }
static inline bool iso_bw_lo_degraded(uint64_t lo)
{ return (lo >> ISO_BW_DEGRADED_SHIFT) & 0x1; }
/* CLOSED and healthy, the bits of lo that say so (CLOSED == 0): there a
 * success changes nothing (its streak is in the counters, and a failure
 * streak ends without a write). record_success tests them with the
 * generation and the permit's episode in one masked compare. */
#define ISO_BW_QUIET_MASK ((0x3ull << ISO_BW_STATE_SHIFT) |                \
			   (0x1ull << ISO_BW_DEGRADED_SHIFT))

/**
 * iso_bw_load - a consistent read of a breaker word without a CAS, so it
 * works on read-only mappings.
 * @w: the slot's breaker pair.
 * @version: the slot's bw_version, which every writer bumps (release)
 *	right after its successful CAS.
 *
 * Accepts (lo, hi) only when hi reads the same twice and no version bump
 * came in between. A torn read slips through only if the pair changed and
 * came back to the same hi (which takes 256 CASes, seq is 8 bits) while
 * every one of those writers is still between its CAS and its bump: one
 * writer per thread can be there, so it needs 256 threads stopped at that
 * instruction at once. Lock-free: it retries only when a CAS completed.
 */
static inline iso_pair_t iso_bw_load(const iso_pair_t *w,
				     const uint64_t *version)
{
	iso_pair_t v;
	uint64_t v1, v2, hi2;
	do {
		/* acquire: pairs with the writers' release bump; every CAS
		 * sequenced before a bump we see is visible to the loads
		 * below. Each load is acquire so none moves above another. */
		v1 = iso_load64_acquire(version);
		v.hi = iso_load64_acquire(&w->hi);
		v.lo = iso_load64_acquire(&w->lo);
		hi2 = iso_load64_acquire(&w->hi);
		v2 = iso_load64_relaxed(version);
	} while (hi2 != v.hi || v2 != v1);
	return v;
}

/** iso_bw_initial - a CLOSED, HEALTHY word for slot generation @gen. */
struct iso_bw iso_bw_initial(uint32_t gen, uint64_t now_ms);

/** iso_bw_health - the health a word stands for [B3] (apply TICK first).
 * Inline: every status read and every transition asks. */
static inline enum iso_health iso_bw_health(const struct iso_bw *b)
{
	switch (b->state) {
	case ISO_BREAKER_CLOSED:
		return b->degraded ? ISO_DEGRADED : ISO_HEALTHY;
	case ISO_BREAKER_HALF_OPEN:
		return ISO_RECOVERING;
	case ISO_BREAKER_FORCED_OPEN:
		return ISO_QUARANTINED;
	default:
		return b->backoff == 0 ? ISO_QUARANTINED : ISO_FAILING;
	}
}

/** iso_bw_valid - whether a word is in a legal state (status, doctor,
 * fuzzing). */
static inline bool iso_bw_valid(const struct iso_bw *b)
{
	if (b->state >= ISO_BREAKER__COUNT)
		return false;
	if (b->degraded && b->state != ISO_BREAKER_CLOSED)
		return false;
	if (b->probes && b->state != ISO_BREAKER_HALF_OPEN)
		return false;
	if (b->backoff > ISO_BW_BACKOFF_MAX)
		return false;
	return true;
}

/**
 * iso_breaker_next - the breaker transition function [B4][B5][B6].
 * @w: the current word.
 * @ev: what happened.
 * @cfg: the config in force (any valid config; fields are clamped).
 * @now_ms: the monotonic clock, ms.
 * @out: (output) the answer for the caller.
 *
 * Pure: the same inputs always give the same outputs. Returns the next
 * word; equal to @w when nothing changes. Never touches seq or gen.
 */
struct iso_bw iso_breaker_next(struct iso_bw w, const struct iso_bevent *ev,
			       const struct iso_config *cfg, uint64_t now_ms,
			       struct iso_bout *out);

static inline bool iso_bw_equal(const struct iso_bw *a, const struct iso_bw *b)
{
	iso_pair_t x = iso_bw_pack(a), y = iso_bw_pack(b);
	return x.lo == y.lo && x.hi == y.hi;
}

#endif /* ISO_BREAKER_H */
