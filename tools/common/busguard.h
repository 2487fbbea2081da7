/*
 * busguard.h - survive a segment that shrinks under a reader [R7].
 *
 * Anyone allowed to write a segment can ftruncate it smaller; a read of the
 * mapping past the new end then raises SIGBUS, which kills the process by
 * default. Every tool runs its passes over the mapping through
 * tool_bus_guard: a SIGBUS inside the pass ends the pass instead of the
 * process, and the tool reports the segment as damaged and attaches again
 * later. iso_segment_check() tells the same thing without a fault, before
 * a pass; the guard covers a shrink during one.
 */
#ifndef ISO_TOOLS_BUSGUARD_H
#define ISO_TOOLS_BUSGUARD_H

#include <limits.h>

/* What tool_bus_guard returns when the pass was cut short by SIGBUS. */
#define TOOL_BUS_FAULT INT_MIN

/**
 * tool_bus_guard - run @fn(@ctx) so that a SIGBUS inside it returns
 * TOOL_BUS_FAULT here instead of killing the process.
 * @fn: the pass over the mapping; it must not return TOOL_BUS_FAULT itself.
 *
 * The pass is abandoned where it faulted (siglongjmp): @fn must hold no
 * lock and own no allocation it has not recorded where the caller can find
 * it, and the caller must treat whatever @fn was filling as garbage. The
 * library's read calls (iso_foreach, iso_status, iso_report,
 * iso_events_read, iso_doctor, iso_segment_info) qualify: they hold no
 * lock while they touch the mapping. Guards nest, and each thread has its
 * own; a SIGBUS outside any guard kills the process as before.
 *
 * Returns what @fn returned, or TOOL_BUS_FAULT.
 */
int tool_bus_guard(int (*fn)(void *ctx), void *ctx);

#endif /* ISO_TOOLS_BUSGUARD_H */
