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

static void top_sleep(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s };

	ts.tv_nsec = (long)((s - floor(s)) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int top_batch_run(struct top_app *app)
{
	struct top_frame_opts fo = {
		.segment = app->segment,
		.max_events = TOP_BATCH_EVENTS,
	};

	for (unsigned long i = 0; !app->iterations || i < app->iterations; i++) {
		if (i)
			top_sleep(app->interval_s);
		if (top_app_refresh(app) < 0) {
			fprintf(stderr, "isotop: %s\n", app->error);
			return 1;
		}
		fo.interval_s = app->interval_s;
		if (top_frame_build(&app->frame, &app->model, &app->events, &fo) < 0) {
			fprintf(stderr, "isotop: out of memory laying out a frame\n");
			return 1;
		}
		if (i)
			putchar('\n');
		for (size_t l = 0; l < app->frame.n; l++)
			printf("%s\n", app->frame.lines[l].text);
		if (fflush(stdout) == EOF) {
			fprintf(stderr, "isotop: writing to stdout: %s\n",
				strerror(errno));
			return 1;
		}
	}
	return 0;
}
