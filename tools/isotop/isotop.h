/*
 * isotop.h - what isotop's two front ends (the curses screen and batch
 * mode) share: the attachment, the model, the transitions pane, the frame,
 * and one refresh step.
 */
#ifndef ISOTOP_H
#define ISOTOP_H

#include "events.h"
#include "frame.h"
#include "model.h"

#define TOP_INTERVAL_MIN_S 0.05
#define TOP_INTERVAL_MAX_S 3600.0
#define TOP_BATCH_EVENTS 10 /* transitions per batch frame */

struct top_app {
	iso_reg_t *reg;
	const char *segment;   /* as given, for the title */
	double interval_s;
	unsigned long iterations; /* frames to show; 0 = until quit */
	struct top_model model;
	struct top_events events;
	struct top_frame frame;
	char error[1024];      /* the last refresh's failure, or "" */
	char notice[512];      /* the segment was unlinked or replaced, or "" */
	double notice_until;   /* monotonic s: show a replacement this long */
};

/**
 * top_app_refresh - take a new sample and read new transitions.
 * Returns 0, or -1 with app->error saying what failed.
 */
int top_app_refresh(struct top_app *app);

/** top_batch_run - print frames like `top -b`. Returns the exit code. */
int top_batch_run(struct top_app *app);

/** top_screen_run - the interactive curses viewer. Returns the exit code. */
int top_screen_run(struct top_app *app);

#endif /* ISOTOP_H */
