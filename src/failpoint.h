/*
 * failpoint.h - named points between the steps of every multi-step
 * protocol, where the kill-and-stall harness (tests/killpoints/) stops or
 * kills a process [R6].
 *
 * A failpoint stands before every store, CAS or add on shared memory that
 * a protocol makes after its first, so killing a process at a failpoint is
 * the same as killing it at any instruction between two of its shared
 * writes: what other processes can see differs only at those writes.
 *
 * Compiled in only when ISO_FAILPOINTS is defined (the harness's own build
 * of the library, $(BUILD)/fp/); everywhere else ISO_FP() is nothing.
 */
#ifndef ISO_FAILPOINT_H
#define ISO_FAILPOINT_H

#ifdef ISO_FAILPOINTS

enum iso_fp_action {
	ISO_FP_OFF = 0,
	ISO_FP_TRACE,   /* record the names of the points passed */
	ISO_FP_KILL,    /* SIGKILL ourselves at the n-th point */
	ISO_FP_STOP,    /* SIGSTOP ourselves at the n-th point, then go on */
};

/**
 * iso_fp_arm - what the next points passed in this process do.
 * @action: see enum iso_fp_action.
 * @nth: with KILL or STOP, the 1-based number of the point to act at,
 *	counting from this call.
 * Process-wide; call it in the child that runs the protocol under test.
 */
void iso_fp_arm(enum iso_fp_action action, unsigned nth);

/** iso_fp_count - points passed since iso_fp_arm. */
unsigned iso_fp_count(void);

/** iso_fp_name - the name of the @i-th point passed (0-based) while
 * tracing, or NULL. */
const char *iso_fp_name(unsigned i);

void iso_fp_hit(const char *name);
#define ISO_FP(name) iso_fp_hit(name)

#else
#define ISO_FP(name) ((void)0)
#endif

#endif /* ISO_FAILPOINT_H */
