/*
 * segment.c - creating the isoreg segment a harness measures.
 *
 * Every harness starts from a segment of its own, made afresh: a stale one
 * left by an interrupted run would carry accounts and counters into the
 * figures, and ISO_ATTACH_EXCL turns a name clash into an error instead of
 * a silent share.
 */
#include "bench.h"

iso_reg_t *bench_segment_create(const char *seg, uint32_t capacity,
				const struct iso_config *defaults)
{
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE |
					      ISO_ATTACH_EXCL,
				     .capacity = capacity,
				     .defaults = defaults };
	iso_reg_t *reg;

	iso_unlink(seg);
	int rc = iso_attach(seg, &o, &reg);
	if (rc)
		bench_die("iso_attach %s: %s (%s)", seg, iso_strerror(rc),
			  iso_last_error());
	return reg;
}

void bench_segment_setup(char *seg, size_t len, const char *what,
			 int (*setup)(void *arg, int idx))
{
	bench_segment_name(seg, len, what);
	if (bench_wait(bench_fork(setup, NULL, 0)))
		bench_die("segment setup failed");
}
