/*
 * detail.h - isotop's detail view: one account in full (Enter on a row):
 * health and breaker, counters by failure type, the config in force, the
 * last transition, latency percentiles and that account's recent events.
 *
 * Laid out as plain lines with one style each, so the screen only places
 * them; nothing here draws.
 */
#ifndef ISOTOP_DETAIL_H
#define ISOTOP_DETAIL_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "../common/cli.h"
#include "isoreg.h"

#define TOP_DETAIL_LINE 256

struct top_detail_line {
	char text[TOP_DETAIL_LINE];
	uint8_t style; /* enum top_style */
};

struct top_detail {
	char key[CLI_KEY_ESC_MAX + 1];  /* the account shown, as in the table
					  * (escaped: a corrupt key never
					  * parses, so it is never looked up) */
	struct top_detail_line *lines;
	size_t n, cap;
};

/** top_detail_init - an empty view showing nothing yet. */
void top_detail_init(struct top_detail *d);

/** top_detail_free - release the lines. */
void top_detail_free(struct top_detail *d);

/**
 * top_detail_build - look up d->key in @reg (read-only is enough), take its
 * iso_status, and read the segment's event ring for the newest
 * @max_events transitions of that account; lay it all out in @d.
 * @now_unix_ms: for "how long ago".
 *
 * An account that is gone (retired since) or a key that does not parse is
 * shown as a line saying so, not an error.
 * Returns 0, or ISO_ENOMEM.
 */
int top_detail_build(struct top_detail *d, iso_reg_t *reg,
		     unsigned max_events, int64_t now_unix_ms);

#endif /* ISOTOP_DETAIL_H */
