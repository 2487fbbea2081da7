/*
 * batch.c - isotop -b: the same frames as the screen, as plain text on
 * stdout, one every interval, like `top -b`. No curses, no colours.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "isotop.h"

#define TOP_BATCH_WINDOW 1024 /* table lines laid out at once */

static void top_sleep(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s };

	ts.tv_nsec = (long)((s - floor(s)) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Print the lines of section @sec of the frame just built. */
static void top_print_section(const struct top_frame *f, enum top_section sec)
{
	for (size_t l = 0; l < f->n; l++)
		if (f->lines[l].section == sec)
			printf("%s\n", f->lines[l].text);
}

/*
 * One frame, laid out a window of TOP_BATCH_WINDOW table lines at a time
 * so that a segment of a million accounts costs a window of lines in
 * memory, not a million. The window is laid out from the same sample, so
 * the frame is the one the screen would show, only all of it.
 */
static int top_print_frame(struct top_app *app, struct top_frame_opts *fo)
{
	size_t first = 0;

	fo->max_rows = TOP_BATCH_WINDOW;
	do {
		fo->first_row = first;
		if (top_frame_build(&app->frame, &app->model, &app->events, fo) < 0)
			return -1;
		if (first == 0) {
			top_print_section(&app->frame, TOP_SEC_HEAD);
			top_print_section(&app->frame, TOP_SEC_COLUMNS);
		}
		top_print_section(&app->frame, TOP_SEC_ROWS);
		first += TOP_BATCH_WINDOW;
	} while (first < app->frame.rows_total);
	top_print_section(&app->frame, TOP_SEC_EVENTS);
	return 0;
}

int top_batch_run(struct top_app *app)
{
	struct top_frame_opts fo = {
		.segment = app->segment,
		.max_events = TOP_BATCH_EVENTS,
	};

	int rc = 0;

	for (unsigned long i = 0; !app->iterations || i < app->iterations; i++) {
		if (i)
			top_sleep(app->interval_s);
		/* A missing or damaged segment is said, and the frames go on
		 * once a valid one is attached again [R7]. The exit status is
		 * that of the last frame. */
		if (top_app_refresh(app) < 0) {
			fprintf(stderr, "isotop: %s\n", app->error);
			fflush(stderr);
			rc = 1;
			continue;
		}
		rc = 0;
		if (app->notice[0]) {
			fprintf(stderr, "isotop: %s\n", app->notice);
			fflush(stderr);
		}
		fo.interval_s = app->interval_s;
		if (i)
			putchar('\n');
		if (top_print_frame(app, &fo) < 0) {
			fprintf(stderr, "isotop: out of memory laying out a frame\n");
			return 1;
		}
		if (fflush(stdout) == EOF) {
			fprintf(stderr, "isotop: writing to stdout: %s\n",
				strerror(errno));
			return 1;
		}
	}
	return rc;
}
