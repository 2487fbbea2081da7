/*
 * events.c - the recent-transitions pane's memory (see events.h).
 *
 * It only reads the segment's ring through iso_events_read, which never
 * waits for a writer, and keeps a copy of the last TOP_EVENTS_KEEP events,
 * so a busy ring cannot make a refresh slow: when more than that arrived
 * since the last poll, the older surplus is skipped without being read.
 */
#include "events.h"

#include <string.h>

#define TOP_EVENTS_CHUNK 64

void top_events_init(struct top_events *te)
{
	memset(te, 0, sizeof(*te));
}

/* Append one event, dropping the oldest when full. */
static void top_events_push(struct top_events *te, const struct iso_event *e)
{
	struct top_event *d;

	if (te->count == TOP_EVENTS_KEEP) {
		te->start = (te->start + 1) % TOP_EVENTS_KEEP;
		te->count--;
	}
	d = &te->ev[(te->start + te->count) % TOP_EVENTS_KEEP];
	te->count++;
	d->time_ms = e->time_ms;
	d->slot = e->slot;
	d->gen = e->gen;
	d->pid = e->pid;
	if (e->key.type[0])
		cli_key_escape(&e->key, d->key, sizeof(d->key));
	else
		d->key[0] = '\0';
	d->from = e->from;
	d->to = e->to;
	d->breaker = e->breaker;
	d->cause = e->cause;
	d->failure_type = e->failure_type;
}

int top_events_poll(struct top_events *te, iso_reg_t *reg,
		    uint32_t ring_capacity)
{
	struct iso_event buf[TOP_EVENTS_CHUNK];
	uint64_t head = iso_events_head(reg);
	uint64_t keep = TOP_EVENTS_KEEP;
	bool first = !te->started;
	int rounds;

	if (first) {
		/* Start a screenful back, but not before the oldest event
		 * the ring can still hold: those are gone, not missed. */
		if (ring_capacity && ring_capacity < keep)
			keep = ring_capacity;
		te->cursor = head > keep ? head - keep : 0;
		te->started = true;
	} else if (head > te->cursor && head - te->cursor > keep) {
		te->skipped += head - keep - te->cursor;
		te->cursor = head - keep;
	}

	/* Bounded: a writer storm must not keep a refresh reading forever. */
	for (rounds = 0; rounds < TOP_EVENTS_KEEP / TOP_EVENTS_CHUNK + 2; rounds++) {
		uint64_t missed = 0;
		int n = iso_events_read(reg, &te->cursor, buf, TOP_EVENTS_CHUNK,
					&missed);

		if (n < 0)
			return n;
		if (!first)
			te->missed += missed;
		for (int i = 0; i < n; i++)
			top_events_push(te, &buf[i]);
		if (n < TOP_EVENTS_CHUNK)
			break;
	}
	return 0;
}

const struct top_event *top_events_at(const struct top_events *te,
				      unsigned i)
{
	if (i >= te->count)
		return NULL;
	return &te->ev[(te->start + i) % TOP_EVENTS_KEEP];
}
