/*
 * util.h - small helpers the library's own tests share: unique segment
 * names, a movable test clock, and fork helpers.
 */
#ifndef ISO_TEST_UTIL_H
#define ISO_TEST_UTIL_H

#include <stdint.h>

#include "isoreg.h"

/* A unique segment name for this process and purpose: "/isoreg-t-TAG-PID-N". */
const char *tu_segment(const char *tag);

/* Create a fresh segment (unlinking any old one) or fail the test. */
iso_reg_t *tu_create(const char *name, uint32_t capacity,
		     const struct iso_config *defaults);

/* A fresh segment for a protocol test: its own name from @tag, @cap
 * slots, a retire cooldown of 1 ms; tu_gone detaches and unlinks it. */
iso_reg_t *tu_fresh(const char *tag, uint32_t cap);
void tu_gone(iso_reg_t *reg);

/* A test clock, starting at 1000 s, moved only by tu_advance_ms. */
void tu_clock_install(void);
void tu_advance_ms(uint64_t ms);

/* Wait for a child and return its exit status (or 128 + signal). */
int tu_wait(int pid);

#endif
