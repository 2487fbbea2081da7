/*
 * events.h - isotop's pane of recent transitions: a small ring of the last
 * breaker transitions read from the segment's event ring.
 */
#ifndef ISOTOP_EVENTS_H
#define ISOTOP_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "isoreg.h"
#include "../common/cli.h"

#define TOP_EVENTS_KEEP 256 /* transitions remembered; more than a screenful */

/* One remembered transition, with its key already formatted. */
struct top_event {
	int64_t time_ms;
	uint32_t slot;
	uint32_t gen;
	uint32_t pid;
	char key[CLI_KEY_ESC_MAX + 1]; /* escaped [R7]; empty: the slot was
					  reused since */
	enum iso_health from;
	enum iso_health to;
	enum iso_breaker_state breaker;
	enum iso_cause cause;
	int failure_type;
};

struct top_events {
	struct top_event ev[TOP_EVENTS_KEEP]; /* ring; oldest at ev[start] */
	unsigned start;
	unsigned count;
	uint64_t cursor;  /* next sequence number to read */
	uint64_t missed;  /* lost to overwrites or dead writers since start */
	uint64_t skipped; /* read past on purpose: more than we keep, at once */
	bool started;
};

/**
 * top_events_init - an empty pane; the first top_events_poll() starts at
 * the last TOP_EVENTS_KEEP events still in the ring.
 */
void top_events_init(struct top_events *te);

/**
 * top_events_poll - read every transition published since the last poll.
 * @ring_capacity: the segment's ring size (from iso_segment_info), so the
 *                 first poll does not count events overwritten long before
 *                 we looked as missed.
 *
 * Returns 0 or the negative ISO_E* code of iso_events_read.
 */
int top_events_poll(struct top_events *te, iso_reg_t *reg,
		    uint32_t ring_capacity);

/**
 * top_events_at - the @i-th remembered transition, 0 = oldest. NULL if
 * @i >= te->count.
 */
const struct top_event *top_events_at(const struct top_events *te,
				      unsigned i);

#endif /* ISOTOP_EVENTS_H */
