/*
 * util.c - helpers for the library's own tests; see util.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "internal.h"
#include "util.h"

const char *tu_segment(const char *tag)
{
	static _Thread_local char name[128];
	static uint32_t n; /* relaxed: only unique numbers are wanted */
	snprintf(name, sizeof(name), "/isoreg-t-%s-%d-%u", tag, (int)getpid(),
		 iso_faa32_relaxed(&n, 1));
	return name;
}

iso_reg_t *tu_create(const char *name, uint32_t capacity,
		     const struct iso_config *defaults)
{
	iso_reg_t *reg = NULL;
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
		.capacity = capacity,
		.defaults = defaults,
	};
	iso_unlink(name);
	int rc = iso_attach(name, &o, &reg);
	cr_assert_eq(rc, 0, "creating %s: %s (%s)", name, iso_strerror(rc),
		     iso_last_error());
	return reg;
}

/* The test clock: relaxed, it orders nothing but itself (the library reads
 * it as it would read CLOCK_MONOTONIC). */
iso_reg_t *tu_fresh(const char *tag, uint32_t cap)
{
	iso_reg_t *reg = NULL;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = cap, .retire_cooldown_ms = 1 };
	const char *name = tu_segment(tag);
	iso_unlink(name);
	cr_assert_eq(iso_attach(name, &o, &reg), 0, "%s", iso_last_error());
	return reg;
}

void tu_gone(iso_reg_t *reg)
{
	char name[256];
	snprintf(name, sizeof(name), "%s", reg->name);
	iso_detach(reg);
	iso_unlink(name);
}

static uint64_t test_now_ns = 1000ull * 1000000000ull;

static uint64_t test_clock(void *ctx)
{
	(void)ctx;
	return iso_load64_relaxed(&test_now_ns);
}

void tu_clock_install(void)
{
	iso_clock_set(test_clock, NULL);
}

void tu_advance_ms(uint64_t ms)
{
	iso_add64_relaxed(&test_now_ns, ms * 1000000ull);
}

int tu_wait(int pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}
