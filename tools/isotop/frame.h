/*
 * frame.h - one isotop frame as styled text lines: the header, the
 * per-broker line, the account table and the recent-transitions pane.
 *
 * The screen draws these lines with colours; batch mode prints the same
 * lines as plain text, so both always show the same content.
 */
#ifndef ISOTOP_FRAME_H
#define ISOTOP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "model.h"

#define TOP_HEAD_LINES 3 /* title, accounts, brokers */
#define TOP_LINE_MAX 1024
#define TOP_SPANS_MAX 32

enum top_style {
	TOP_ST_NORMAL = 0,
	TOP_ST_TITLE,    /* the first header line */
	TOP_ST_COLUMNS,  /* the table's column names */
	TOP_ST_GROUP,    /* a broker's heading when grouped */
	TOP_ST_ALERT,    /* a broker-wide incident, isolation breached */
	TOP_ST_GOOD,     /* isolation ACTIVE */
	TOP_ST_DIM,      /* secondary text */
	TOP_ST_HEALTH,   /* + enum iso_health: one colour per health */
	TOP_ST__COUNT = TOP_ST_HEALTH + ISO_HEALTH__COUNT
};

enum top_section {
	TOP_SEC_HEAD = 0, /* header and broker lines */
	TOP_SEC_COLUMNS,  /* column names */
	TOP_SEC_ROWS,     /* accounts (and broker headings when grouped) */
	TOP_SEC_EVENTS,   /* the transitions pane, its title first */
};

struct top_span {
	uint16_t start;
	uint16_t len;
	uint8_t style; /* enum top_style */
};

struct top_line {
	enum top_section section;
	uint16_t len;
	uint8_t n_spans;
	char text[TOP_LINE_MAX];
	struct top_span spans[TOP_SPANS_MAX];
};

struct top_frame {
	struct top_line *lines;
	size_t n, cap;
	size_t rows_total; /* table lines (rows and headings) before windowing */
};

/* What the frame shows besides the model. */
struct top_frame_opts {
	const char *segment;  /* name as given */
	double interval_s;
	unsigned max_events;  /* transitions in the pane */
	size_t first_row;     /* window of table lines to lay out: a screen */
	size_t max_rows;      /* lays out what it can show; 0 = all (batch) */
};

void top_frame_init(struct top_frame *f);
void top_frame_free(struct top_frame *f);

/**
 * top_frame_build - lay out the model's current view and the newest
 * @opts->max_events transitions (those matching the filter) into @f.
 *
 * Returns 0 or ISO_ENOMEM.
 */
int top_frame_build(struct top_frame *f, const struct top_model *m,
		    const struct top_events *ev,
		    const struct top_frame_opts *opts);

/** top_frame_count - lines of @f in section @s. */
size_t top_frame_count(const struct top_frame *f, enum top_section s);

/** top_frame_first - index of the first line of section @s (or f->n). */
size_t top_frame_first(const struct top_frame *f, enum top_section s);

#endif /* ISOTOP_FRAME_H */
