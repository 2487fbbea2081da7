/*
 * bench_scale.c - how the registry behaves as it grows [P5]: at 1k, 10k
 * and 100k accounts, the rate of registering new accounts, the cost of
 * finding one by key (iso_lookup, and iso_register of a key that exists),
 * a first lookup in a process whose index is still cold, one iso_report,
 * one full iso_foreach scan, and the segment's bytes per account.
 *
 * Lookups pick keys in a random order, so at 100k accounts they pay the
 * cache misses a real fleet would. The robust-mutex baseline (a registry
 * lock over a hash table, as the reference keeps a dict under its manager
 * lock) registers and looks up the same keys, for a ratio.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench.h"
#include "common/mutex_baseline.h"
#include "isoreg.h"

#define MAXN 100000
#define NIDX 65536
#define BATCH 1000
#define MAXRUNS 32
#define MIN_BATCHES 20
#define BUDGET_NS 150000000ull

struct key {
	const char *type;
	const char *broker;
	char id[16];
};

static struct key keys[MAXN];
static uint32_t order[NIDX];

static const char *const brokers[] = { "KRAKEN", "COINBASE", "BINANCE",
				       "BITSTAMP", "BYBIT", "OKX",
				       "GEMINI", "BITFINEX" };

enum row {
	R_REGISTER_NEW,
	R_REGISTER_EXISTING,
	R_LOOKUP,
	R_LOOKUP_COLD,
	R_REPORT,
	R_FOREACH,
	R_FOREACH_PER,
	R_MB_REGISTER_NEW,
	R_MB_LOOKUP,
	R__COUNT
};

static const char *const row_name[R__COUNT] = {
	"isoreg register (new key)",
	"isoreg register (existing key)",
	"isoreg lookup by key",
	"isoreg lookup, cold process index",
	"isoreg report",
	"isoreg foreach (full scan)",
	"isoreg foreach, per account",
	"mutex register (new key)",
	"mutex lookup by key",
};
static const char *const row_unit[R__COUNT] = {
	"ns/op", "ns/op", "ns/op", "ns/op", "us/call", "us/scan", "ns/acct",
	"ns/op", "ns/op",
};
/* The mutex row each isoreg row is compared with, or -1. */
static const int row_mutex[R__COUNT] = { R_MB_REGISTER_NEW, R_MB_LOOKUP,
					 R_MB_LOOKUP, -1, -1, -1, -1, -1, -1 };

struct series {
	double run[MAXRUNS]; /* per-run figure */
	double *batches;     /* per-batch ns/op of every run (or NULL) */
	size_t nb, cap;
};

static int noop_cb(const struct iso_status *st, void *ctx)
{
	(*(uint64_t *)ctx) += st->slot;
	return 0;
}

static void add_batch(struct series *s, double v)
{
	if (s->nb == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		s->batches = realloc(s->batches, s->cap * sizeof(double));
		if (!s->batches)
			bench_die("out of memory");
	}
	s->batches[s->nb++] = v;
}

static void check(int rc, const char *what)
{
	if (rc)
		bench_die("%s: %s (%s)", what, iso_strerror(rc),
			  iso_last_error());
}

/*
 * One batch of BATCH random-key finds from key position @j, timed alone:
 * ns/op. A function per kind keeps each timed loop what it was: no
 * dispatch inside it.
 */
static double iso_batch(iso_reg_t *reg, uint32_t n, bool reg_existing,
			uint32_t j)
{
	int rc = 0;
	uint64_t t0 = tc_mono_ns();
	for (int i = 0; i < BATCH; i++) {
		const struct key *k = &keys[order[j++ % NIDX] % n];
		iso_account_t a;
		rc |= reg_existing ? iso_register(reg, k->type, k->id,
						  k->broker, &a)
				   : iso_lookup(reg, k->type, k->id,
						k->broker, &a);
	}
	uint64_t t1 = tc_mono_ns();
	check(rc, "lookup");
	return (double)(t1 - t0) / BATCH;
}

static double mb_batch(struct mb_registry *mb, uint32_t n, uint32_t j)
{
	int bad = 0;
	uint64_t t0 = tc_mono_ns();
	for (int i = 0; i < BATCH; i++) {
		const struct key *k = &keys[order[j++ % NIDX] % n];
		bad |= mb_lookup(mb, k->type, k->id, k->broker) < 0;
	}
	uint64_t t1 = tc_mono_ns();
	if (bad)
		bench_die("mutex lookup missed a key");
	return (double)(t1 - t0) / BATCH;
}

/*
 * Median ns/op of up to @nbatch random-key batches (fewer, but at least
 * MIN_BATCHES, once BUDGET_NS has passed); each batch also goes into @s.
 * With @mb the baseline's lookups, else isoreg's on @reg (iso_register of
 * existing keys with @reg_existing).
 */
static double lookups(iso_reg_t *reg, struct mb_registry *mb, uint32_t n,
		      bool reg_existing, int nbatch, struct series *s)
{
	double *per = malloc(sizeof(double) * (size_t)nbatch);
	if (!per)
		bench_die("out of memory");
	uint64_t start = tc_mono_ns();
	int b;
	for (b = 0; b < nbatch; b++) {
		if (b >= MIN_BATCHES && tc_mono_ns() - start > BUDGET_NS)
			break;
		/* Batch b starts where batch b-1 ended in the key order. */
		uint32_t j = (uint32_t)b * BATCH;
		per[b] = mb ? mb_batch(mb, n, j)
			    : iso_batch(reg, n, reg_existing, j);
		add_batch(s, per[b]);
	}
	double m = bench_median(per, (size_t)b);
	free(per);
	return m;
}

struct size_result {
	uint32_t n;
	struct series s[R__COUNT];
	struct iso_segment_info info;
};

static void one_run(struct size_result *res, int r, bool quick)
{
	uint32_t n = res->n;
	char seg[64];
	bench_segment_name(seg, sizeof(seg), "scale");
	iso_reg_t *reg = bench_segment_create(seg, n, NULL);

	/* Registration: every key new, in key order. */
	uint64_t t0 = tc_mono_ns();
	for (uint32_t i = 0; i < n; i++) {
		iso_account_t a;
		int rc = iso_register(reg, keys[i].type, keys[i].id,
				      keys[i].broker, &a);
		if (rc)
			check(rc, "iso_register");
	}
	res->s[R_REGISTER_NEW].run[r] = (double)(tc_mono_ns() - t0) / n;
	check(iso_segment_info(reg, &res->info), "iso_segment_info");

	int nbatch = quick ? 20 : 200;
	res->s[R_REGISTER_EXISTING].run[r] = lookups(
		reg, NULL, n, true, nbatch, &res->s[R_REGISTER_EXISTING]);
	res->s[R_LOOKUP].run[r] =
		lookups(reg, NULL, n, false, nbatch, &res->s[R_LOOKUP]);

	/* Cold: a second attachment has an empty index; one pass fills it. */
	iso_reg_t *cold;
	check(iso_attach(seg, NULL, &cold), "iso_attach (cold)");
	uint32_t m = n < 10000 ? n : 10000;
	t0 = tc_mono_ns();
	for (uint32_t i = 0; i < m; i++) {
		const struct key *k = &keys[order[i] % n];
		iso_account_t a;
		int rc = iso_lookup(cold, k->type, k->id, k->broker, &a);
		if (rc)
			check(rc, "iso_lookup (cold)");
	}
	res->s[R_LOOKUP_COLD].run[r] = (double)(tc_mono_ns() - t0) / m;
	iso_detach(cold);

	/* Whole-registry reads: ~0.2 s of calls at ~100 ns an account. */
	int calls = quick ? 2 : (int)(2000000ull / n);
	if (calls < 5)
		calls = 5;
	double *per = malloc(sizeof(double) * (size_t)calls);
	if (!per)
		bench_die("out of memory");
	static struct iso_report rep;
	for (int c = 0; c < calls; c++) {
		t0 = tc_mono_ns();
		check(iso_report(reg, &rep), "iso_report");
		per[c] = (double)(tc_mono_ns() - t0) / 1e3;
		add_batch(&res->s[R_REPORT], per[c]);
	}
	if (rep.total_accounts != n)
		bench_die("iso_report counts %u accounts, registered %u",
			  rep.total_accounts, n);
	res->s[R_REPORT].run[r] = bench_median(per, (size_t)calls);
	for (int c = 0; c < calls; c++) {
		uint64_t sum = 0;
		t0 = tc_mono_ns();
		check(iso_foreach(reg, noop_cb, &sum) < 0, "iso_foreach");
		per[c] = (double)(tc_mono_ns() - t0) / 1e3;
		bench_keep(sum);
		add_batch(&res->s[R_FOREACH], per[c]);
		add_batch(&res->s[R_FOREACH_PER], per[c] * 1e3 / n);
	}
	res->s[R_FOREACH].run[r] = bench_median(per, (size_t)calls);
	res->s[R_FOREACH_PER].run[r] = res->s[R_FOREACH].run[r] * 1e3 / n;
	free(per);
	iso_detach(reg);
	iso_unlink(seg);

	/* The baseline, same keys, same order. */
	struct mb_registry *mb = mb_create(n, NULL);
	t0 = tc_mono_ns();
	for (uint32_t i = 0; i < n; i++)
		if (mb_register(mb, keys[i].type, keys[i].id,
				keys[i].broker) < 0)
			bench_die("mutex register failed");
	res->s[R_MB_REGISTER_NEW].run[r] = (double)(tc_mono_ns() - t0) / n;
	res->s[R_MB_LOOKUP].run[r] =
		lookups(NULL, mb, n, false, nbatch, &res->s[R_MB_LOOKUP]);
	mb_destroy(mb);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	bench_parse_args(argc, argv, "bench_scale", 5, &o);
	if (o.runs > MAXRUNS)
		o.runs = MAXRUNS;
	int ncpu = bench_ncpus();
	bool pinned = ncpu > 1 && bench_pin(ncpu - 1);

	for (uint32_t i = 0; i < MAXN; i++) {
		keys[i].type = i % 5 ? "user" : "platform";
		keys[i].broker = brokers[i % 8];
		snprintf(keys[i].id, sizeof(keys[i].id), "acct%06u", i);
	}
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < NIDX; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		order[i] = (uint32_t)(x >> 11);
	}

	static struct size_result res[3];
	static const uint32_t sizes[] = { 1000, 10000, 100000 };
	for (int z = 0; z < 3; z++)
		res[z].n = sizes[z];
	one_run(&res[0], 0, true); /* warm-up */
	for (int z = 0; z < 3; z++)
		for (int i = 0; i < R__COUNT; i++)
			res[z].s[i].nb = 0;
	for (int r = 0; r < o.runs; r++)
		for (int z = 0; z < 3; z++)
			one_run(&res[z], r, o.quick);

	static const struct bench_col cols[] = {
		{ "median", BENCH_NUM }, { "p99", BENCH_NUM },
		{ "min", BENCH_NUM },    { "max", BENCH_NUM },
		{ "/mutex", BENCH_RATIO },
	};
	static struct bench_table t;
	bench_table_init(&t, "bench_scale", 5, cols);
	for (int z = 0; z < 3; z++) {
		double med[R__COUNT];
		int first = t.nrows;
		for (int i = 0; i < R__COUNT; i++) {
			struct series *s = &res[z].s[i];
			struct bench_summary rs, bs;
			bench_summarize(s->run, (size_t)o.runs, &rs);
			double p99 = NAN;
			if (s->nb) {
				bench_summarize(s->batches, s->nb, &bs);
				p99 = bs.p99;
			}
			med[i] = rs.median;
			char name[72];
			snprintf(name, sizeof(name), "%uk: %s", res[z].n / 1000,
				 row_name[i]);
			double vals[5] = { rs.median, p99, rs.min, rs.max, NAN };
			bench_table_row(&t, name, row_unit[i], vals);
		}
		for (int i = 0; i < R__COUNT; i++)
			if (row_mutex[i] >= 0)
				t.rows[first + i].v[4] = med[i] / med[row_mutex[i]];
		const struct iso_segment_info *in = &res[z].info;
		char name[72];
		double v[5] = { (double)in->bytes_per_account, NAN, NAN, NAN,
				NAN };
		snprintf(name, sizeof(name), "%uk: segment bytes per account",
			 res[z].n / 1000);
		bench_table_row(&t, name, "bytes", v);
		v[0] = (double)in->slot_size;
		snprintf(name, sizeof(name), "%uk: slot size", res[z].n / 1000);
		bench_table_row(&t, name, "bytes", v);
		v[0] = (double)in->segment_size / (1024.0 * 1024.0);
		snprintf(name, sizeof(name), "%uk: segment size",
			 res[z].n / 1000);
		bench_table_row(&t, name, "MiB", v);
	}
	bench_table_note(&t, "%d runs per size, each on a fresh segment of "
			 "capacity = size; median/min/max over run figures, "
			 "p99 over batches or calls", o.runs);
	bench_table_note(&t, "lookups: batches of %d (200, or fewer after "
			 "150 ms), keys in a fixed random order; cold = first lookups (up to 10k) through a "
			 "second attachment's empty RCU index", BATCH);
	bench_table_note(&t, "register (new key): all accounts in key order, "
			 "one timing per run; mutex = registry lock + FNV hash "
			 "table, same keys");
	bench_table_note(&t, "foreach: a no-op callback, so it measures the "
			 "iso_status snapshot of every account; SPEC [P5]: <= "
			 "512 bytes per account");
	bench_table_note(&t, "%s", pinned ? "pinned to the last CPU "
			 "(sched_setaffinity)" : "not pinned (one CPU)");
	bench_table_print(&t, &o);
	for (int z = 0; z < 3; z++)
		for (int i = 0; i < R__COUNT; i++)
			free(res[z].s[i].batches);
	return 0;
}
