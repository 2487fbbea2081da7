/*
 * failpoint.c - the kill-and-stall harness's hook (see failpoint.h).
 * Empty unless ISO_FAILPOINTS is defined: shipped libraries carry none.
 */
#include "failpoint.h"

#ifdef ISO_FAILPOINTS
#include <signal.h>
#include <unistd.h>

#define TRACE_MAX 4096

static enum iso_fp_action fp_action;
static unsigned fp_nth, fp_count;
static const char *fp_trace[TRACE_MAX];

void iso_fp_arm(enum iso_fp_action action, unsigned nth)
{
	fp_action = action;
	fp_nth = nth;
	fp_count = 0;
}

unsigned iso_fp_count(void)
{
	return fp_count;
}

const char *iso_fp_name(unsigned i)
{
	return i < fp_count && i < TRACE_MAX ? fp_trace[i] : 0;
}

void iso_fp_hit(const char *name)
{
	if (fp_action == ISO_FP_OFF)
		return;
	if (fp_count < TRACE_MAX)
		fp_trace[fp_count] = name;
	if (++fp_count != fp_nth)
		return;
	if (fp_action == ISO_FP_KILL)
		kill(getpid(), SIGKILL);
	else if (fp_action == ISO_FP_STOP)
		kill(getpid(), SIGSTOP); /* the harness sends SIGCONT */
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int iso_failpoint_unused;
#endif
