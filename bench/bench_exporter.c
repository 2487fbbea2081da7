/*
 * bench_exporter.c - the cost of one Prometheus scrape of `isoctl serve`:
 * rendering every metric of 1k and 10k accounts, through a read-only
 * attachment as the exporter has it, without HTTP.
 *
 * A scrape is timed as the server does it: render into the renderer's
 * buffers, then read the text out in 64 KB blocks (the socket's side is
 * left out). The floor is one iso_foreach over the same accounts (the iso_status
 * snapshots a scrape cannot avoid); the ratio says what the text costs on
 * top. Every account has outcomes and timed operations recorded, so its
 * histogram buckets and counters are not all zero.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench.h"
#include "isoreg.h"

/* The Makefile builds a bench from bench/ only; the renderer is a tool's. */
#include "../tools/isoctl/metrics.c"

static const char *const brokers[] = { "KRAKEN", "COINBASE", "BINANCE",
				       "BITSTAMP" };

static int count_status(const struct iso_status *st, void *ctx)
{
	uint64_t *sum = ctx;

	*sum += st->operations + st->hist[0];
	return 0;
}

/* Create @seg with @n accounts, each with a few timed outcomes. */
static void fill(const char *seg, uint32_t n)
{
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
		.capacity = n + n / 4,
	};
	iso_reg_t *reg;
	char id[32];

	iso_unlink(seg);
	if (iso_attach(seg, &o, &reg) < 0)
		bench_die("create %s: %s", seg, iso_last_error());
	for (uint32_t i = 0; i < n; i++) {
		iso_account_t a;

		snprintf(id, sizeof(id), "acct%u", i);
		if (iso_register(reg, i % 8 ? "user" : "platform", id,
				 brokers[i % 4], &a) < 0)
			bench_die("register %s: %s", id, iso_last_error());
		for (uint32_t k = 0; k < 8; k++)
			iso_record_success(&a, NULL, 1000u << (k + i % 8));
		iso_record_failure(&a, NULL, (enum iso_failure_type)(i % ISO_FAIL__COUNT),
				   250000);
	}
	iso_detach(reg);
}

int main(int argc, char **argv)
{
	static const struct bench_col cols[] = {
		{ "ns/scrape med", BENCH_NUM }, { "p99", BENCH_NUM },
		{ "cpu ns med", BENCH_NUM },    { "ns/account", BENCH_NUM },
		{ "bytes", BENCH_COUNT },       { "ratio", BENCH_RATIO },
	};
	static const uint32_t sizes[] = { 1000, 10000 };
	struct bench_opts o;
	struct bench_table t;
	char seg[64];
	static char block[64 * 1024]; /* what isoctl serve hands MHD at a time */

	bench_parse_args(argc, argv, "bench_exporter", 30, &o);
	bench_table_init(&t, "exporter", 6, cols);
	bench_segment_name(seg, sizeof(seg), "exporter");

	struct iso_metrics *m = iso_metrics_new();
	double *v = calloc((size_t)o.runs, sizeof(double));
	double *cpu = calloc((size_t)o.runs, sizeof(double));
	if (!m || !v || !cpu)
		bench_die("out of memory");

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
		struct bench_summary floor_s, render_s, floor_c, render_c;
		iso_reg_t *reg;
		size_t len = 0;
		char name[72];

		fill(seg, n);
		if (iso_attach(seg, &ro, &reg) < 0)
			bench_die("attach %s read-only: %s", seg, iso_last_error());

		/* Floor: the status snapshots alone. */
		for (int r = 0; r < o.runs; r++) {
			uint64_t sum = 0, c0 = bench_cpu_ns(), t0 = bench_now_ns();
			if (iso_foreach(reg, count_status, &sum) < 0)
				bench_die("foreach: %s", iso_last_error());
			v[r] = (double)(bench_now_ns() - t0);
			cpu[r] = (double)(bench_cpu_ns() - c0);
			bench_keep(sum);
		}
		bench_summarize(v, (size_t)o.runs, &floor_s);
		bench_summarize(cpu, (size_t)o.runs, &floor_c);

		/* A scrape: render, then read the text out in the server's blocks. */
		for (int r = 0; r < o.runs; r++) {
			uint64_t c0 = bench_cpu_ns(), t0 = bench_now_ns();
			if (iso_metrics_render(m, reg, NULL) < 0)
				bench_die("render: %s", iso_last_error());
			size_t pos = 0, got;
			while ((got = iso_metrics_read(m, pos, block, sizeof(block))) > 0)
				pos += got;
			v[r] = (double)(bench_now_ns() - t0);
			cpu[r] = (double)(bench_cpu_ns() - c0);
			len = pos;
			bench_keep(block[0]);
		}
		bench_summarize(v, (size_t)o.runs, &render_s);
		bench_summarize(cpu, (size_t)o.runs, &render_c);

		snprintf(name, sizeof(name), "foreach %uk accounts (floor)", n / 1000);
		bench_table_row(&t, name, "ns",
				(double[]){ floor_s.median, floor_s.p99,
					    floor_c.median, floor_s.median / n,
					    NAN, 1.0 });
		snprintf(name, sizeof(name), "render %uk accounts", n / 1000);
		bench_table_row(&t, name, "ns",
				(double[]){ render_s.median, render_s.p99,
					    render_c.median, render_s.median / n,
					    (double)len,
					    render_s.median / floor_s.median });
		iso_detach(reg);
		iso_unlink(seg);
	}
	bench_table_note(&t, "%d runs each; a scrape renders every family of every account (%d histogram buckets each)",
			 o.runs, ISO_HIST_BUCKETS);
	bench_table_note(&t, "ratio: render over the iso_foreach floor of the same size (wall medians)");
	bench_table_note(&t, "cpu ns: this thread's CPU time, which a busy machine inflates less than wall time");
	bench_table_print(&t, &o);
	iso_metrics_free(m);
	free(v);
	free(cpu);
	return 0;
}
