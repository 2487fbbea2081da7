/*
 * batched.c - the single-thread "batched variants" harness that
 * bench_hotpath and bench_guard share: warm up, size each variant's run,
 * run the variants interleaved, summarise into table rows.
 *
 * Interleaving the runs across variants, rather than finishing one variant
 * before the next, lets a noisy moment (a timer interrupt storm, a
 * frequency change) hit every variant alike, so the ratios between rows
 * stay honest even when the absolute figures wobble.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/*
 * time_batch - ns/op of one batch of @v. The prep (a reset, say) runs
 * before the first clock read: it is set-up, not the operation measured.
 */
static double time_batch(struct bench_ctx *c, const struct bench_variant *v)
{
	if (v->prep)
		v->prep(c);
	uint64_t t0 = tc_mono_ns();
	v->fn(c, v->batch);
	uint64_t t1 = tc_mono_ns();
	return (double)(t1 - t0) / v->batch;
}

static void *alloc_or_die(size_t size)
{
	void *p = malloc(size);
	if (!p)
		bench_die("out of memory");
	return p;
}

double bench_batched_run(struct bench_ctx *c, struct bench_variant *vars,
			 int nvar, const struct bench_opts *o)
{
	/* Warm up, then size each variant's run to ~target_ns of work. */
	double target_ns = o->quick ? 2e6 : 40e6;
	for (int v = 0; v < nvar; v++) {
		struct bench_variant *x = &vars[v];
		double per = 0;
		for (int i = 0; i < 50; i++)
			per = time_batch(c, x);
		double b = target_ns / (per * x->batch);
		x->batches = b < BENCH_BATCHES_MIN ? BENCH_BATCHES_MIN
			   : b > BENCH_BATCHES_MAX ? BENCH_BATCHES_MAX
						   : (uint32_t)b;
		x->samples = alloc_or_die(sizeof(double) * x->batches *
					  (size_t)o->runs);
		x->nsamples = 0;
		x->medians = alloc_or_die(sizeof(double) * (size_t)o->runs);
	}
	/* bench_median sorts: a copy keeps the samples in batch order. */
	double *tmp = alloc_or_die(sizeof(double) * BENCH_BATCHES_MAX);
	for (int r = 0; r < o->runs; r++)
		for (int v = 0; v < nvar; v++) {
			struct bench_variant *x = &vars[v];
			double *s = x->samples + x->nsamples;
			for (uint32_t b = 0; b < x->batches; b++)
				s[b] = time_batch(c, x);
			x->nsamples += x->batches;
			memcpy(tmp, s, sizeof(double) * x->batches);
			x->medians[r] = bench_median(tmp, x->batches);
		}
	free(tmp);
	return target_ns;
}

void bench_batched_rows(struct bench_table *t, struct bench_variant *vars,
			int nvar, const struct bench_opts *o, double *med)
{
	for (int v = 0; v < nvar; v++) {
		struct bench_variant *x = &vars[v];
		struct bench_summary runs, all;
		bench_summarize(x->medians, (size_t)o->runs, &runs);
		bench_summarize(x->samples, x->nsamples, &all);
		med[v] = runs.median;
		double vals[BENCH_MAX_COLS];
		for (int i = 0; i < BENCH_MAX_COLS; i++)
			vals[i] = NAN;
		vals[0] = runs.median;
		vals[1] = all.p99;
		vals[2] = runs.min;
		vals[3] = runs.max;
		bench_table_row(t, x->name, "ns/op", vals);
	}
}

void bench_batched_free(struct bench_variant *vars, int nvar)
{
	for (int v = 0; v < nvar; v++) {
		free(vars[v].samples);
		free(vars[v].medians);
		vars[v].samples = vars[v].medians = NULL;
	}
}
