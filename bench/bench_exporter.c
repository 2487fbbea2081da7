/*
 * bench_exporter.c - the cost of one Prometheus scrape of `isoctl serve`
 * at 1k, 10k and 100k accounts, per series budget: series, bytes of text,
 * bytes once gzipped, and the CPU of rendering and of compressing, through
 * a read-only attachment as the exporter has it, without HTTP.
 *
 * A scrape is timed as the server does it: render into the renderer's
 * buffers (metrics.c), then compress the text into a snapshot at zlib
 * level 1 (snapshot.c), which is what a response sends. The floor is one
 * iso_foreach over the same accounts (the iso_status snapshots a scrape
 * cannot avoid). Every account has timed outcomes recorded; 1 in 100 is
 * quarantined and 1 in 100 degraded, so `--accounts unhealthy` has
 * something to show.
 *
 * Targets (issue 18), default budget at 10k accounts: <= 150,000 series,
 * <= 15 MB of text, <= 1.5 MB gzipped, render CPU <= 20 ms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench.h"
#include "isoreg.h"

/* The Makefile builds a bench from bench/ only; the renderer is a tool's. */
#include "../tools/isoctl/metrics.h"
#include "../tools/isoctl/snapshot.h"

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
		uint32_t fails = i % 100 == 0 ? 5 : 1; /* 5: quarantined */
		for (uint32_t k = 0; k < fails; k++)
			iso_record_failure(&a, NULL,
					   (enum iso_failure_type)(i % ISO_FAIL__COUNT),
					   250000);
		if (i % 100 > 1) /* all but 1 in 100 back to HEALTHY */
			for (uint32_t k = 0; k < 3; k++)
				iso_record_success(&a, NULL, 20000);
	}
	iso_detach(reg);
}

struct budget {
	const char *name;
	struct iso_metrics_opts opts;
	uint32_t max_accounts; /* larger fleets skip it (the full text of 100k is 0.5 GB) */
};

int main(int argc, char **argv)
{
	static const struct bench_col cols[] = {
		{ "series", BENCH_COUNT },         { "bytes", BENCH_COUNT },
		{ "gzip bytes", BENCH_COUNT },     { "render cpu ms", BENCH_NUM },
		{ "gzip cpu ms", BENCH_NUM },      { "scrape cpu p99", BENCH_NUM },
		{ "bytes/account", BENCH_NUM },
	};
	static const uint32_t sizes[] = { 1000, 10000, 100000 };
	static const struct budget budgets[] = {
		{ "default", { ISO_METRICS_ACCOUNTS_ALL, false, false }, 100000 },
		{ "unhealthy only", { ISO_METRICS_ACCOUNTS_UNHEALTHY, false, false }, 100000 },
		{ "--account-histograms", { ISO_METRICS_ACCOUNTS_ALL, false, true }, 10000 },
		{ "full", { ISO_METRICS_ACCOUNTS_ALL, true, true }, 10000 },
	};
	const int nbudgets = (int)(sizeof(budgets) / sizeof(budgets[0]));
	struct bench_opts o;
	struct bench_table t;
	char seg[64];

	bench_parse_args(argc, argv, "bench_exporter", 15, &o);
	bench_table_init(&t, "exporter", 7, cols);
	bench_segment_name(seg, sizeof(seg), "exporter");

	double *rv = calloc((size_t)o.runs, sizeof(double));
	double *gv = calloc((size_t)o.runs, sizeof(double));
	double *tv = calloc((size_t)o.runs, sizeof(double));
	struct iso_gzip *gz = iso_gzip_new(1);
	if (!rv || !gv || !tv || !gz)
		bench_die("out of memory");

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t n = sizes[s];
		struct iso_attach_opts ro = { .flags = ISO_ATTACH_RDONLY };
		struct bench_summary fs, rs, gs, ts;
		iso_reg_t *reg;
		char name[72];

		if (o.quick && n > 10000)
			break;
		fill(seg, n);
		if (iso_attach(seg, &ro, &reg) < 0)
			bench_die("attach %s read-only: %s", seg, iso_last_error());

		/* Floor: the status snapshots alone. */
		for (int r = 0; r < o.runs; r++) {
			uint64_t sum = 0, c0 = bench_cpu_ns();
			if (iso_foreach(reg, count_status, &sum) < 0)
				bench_die("foreach: %s", iso_last_error());
			rv[r] = (double)(bench_cpu_ns() - c0) / 1e6;
			bench_keep(sum);
		}
		bench_summarize(rv, (size_t)o.runs, &fs);
		snprintf(name, sizeof(name), "%uk: iso_foreach (floor)", n / 1000);
		bench_table_row(&t, name, "ms",
				(double[]){ NAN, NAN, NAN, fs.median, NAN, fs.p99, NAN });

		for (int b = 0; b < nbudgets; b++) {
			if (n > budgets[b].max_accounts)
				continue;
			struct iso_metrics *m = iso_metrics_new(&budgets[b].opts);
			size_t len = 0, gzlen = 0, series = 0;
			if (!m)
				bench_die("out of memory");
			for (int r = 0; r < o.runs; r++) {
				struct iso_snapshot *snap;
				uint64_t c0 = bench_cpu_ns();
				if (iso_metrics_render(m, reg, NULL) < 0)
					bench_die("render: %s", iso_last_error());
				uint64_t c1 = bench_cpu_ns();
				if (iso_snapshot_make(gz, m, &snap) < 0)
					bench_die("gzip: out of memory");
				uint64_t c2 = bench_cpu_ns();
				rv[r] = (double)(c1 - c0) / 1e6;
				gv[r] = (double)(c2 - c1) / 1e6;
				tv[r] = (double)(c2 - c0) / 1e6;
				len = iso_metrics_len(m);
				series = iso_metrics_series(m);
				gzlen = iso_snapshot_gz_len(snap);
				iso_snapshot_unref(snap);
			}
			bench_summarize(rv, (size_t)o.runs, &rs);
			bench_summarize(gv, (size_t)o.runs, &gs);
			bench_summarize(tv, (size_t)o.runs, &ts);
			snprintf(name, sizeof(name), "%uk: %s", n / 1000, budgets[b].name);
			bench_table_row(&t, name, "ms",
					(double[]){ (double)series, (double)len,
						    (double)gzlen, rs.median,
						    gs.median, ts.p99,
						    (double)len / n });
			iso_metrics_free(m);
		}
		iso_detach(reg);
		iso_unlink(seg);
	}
	bench_table_note(&t, "%d runs each; cpu: this thread's CPU time, median (p99: render + gzip)", o.runs);
	bench_table_note(&t, "default: 12 series per account plus per-broker sums and histograms; full: --full");
	bench_table_note(&t, "gzip: zlib level 1, as isoctl serve sends it; 1 in 100 accounts quarantined, 1 in 100 degraded");
	bench_table_note(&t, "targets at 10k, default: <= 150000 series, <= 15 MB, <= 1.5 MB gzip, render <= 20 ms cpu");
	bench_table_print(&t, &o);
	iso_gzip_free(gz);
	free(rv);
	free(gv);
	free(tv);
	return 0;
}
