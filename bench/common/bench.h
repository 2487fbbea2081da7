/*
 * bench.h - what every isoreg harness shares: clocks, statistics, the
 * result table, the batched single-thread harness, a start barrier for
 * forked workers, segment creation, and small process helpers.
 *
 * The harnesses measure; this file must never hide work inside a timed
 * region (no allocation, no formatting, no system call besides the clock
 * read that brackets a batch).
 */
#ifndef ISO_BENCH_H
#define ISO_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "isoreg.h"
#include "../../tools/common/clock.h"

/* ------------------------------------------------------------ options */

struct bench_opts {
	bool json;   /* --json: one JSON object instead of the text table */
	bool quick;  /* --quick: a smoke run, a fraction of the work */
	int runs;    /* --runs N: repeats of every measurement */
};

/*
 * bench_parse_args - read --json, --quick, --runs N, --help.
 * @name: the harness name for the usage text.
 * @default_runs: runs when --runs is not given.
 *
 * Exits 2 with a message on a bad argument, 0 after --help.
 */
void bench_parse_args(int argc, char **argv, const char *name,
		      int default_runs, struct bench_opts *o);

/* -------------------------------------------------------------- clocks */

/* bench_cpu_ns - CPU time this thread has used, in nanoseconds. */
static inline uint64_t bench_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * bench_ticks - a cheap timestamp for timing single operations: the TSC on
 * x86-64 (lfence first, so earlier work is not still in flight), else the
 * monotonic clock. Convert with bench_ticks_to_ns() after
 * bench_ticks_calibrate().
 */
static inline uint64_t bench_ticks(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
#else
	return tc_mono_ns();
#endif
}

/*
 * bench_ticks_calibrate - measure ticks against CLOCK_MONOTONIC over about
 * 50 ms. Returns nanoseconds per tick (1.0 where ticks are nanoseconds).
 * Call it once, before forking, so children inherit the figure.
 */
double bench_ticks_calibrate(void);
double bench_ticks_to_ns(uint64_t ticks);

/* bench_sleep_ns - nanosleep, restarted on EINTR. */
void bench_sleep_ns(uint64_t ns);

/* Keep the compiler from deleting or merging a computation. */
#define bench_keep(x) __asm__ __volatile__("" : : "r"(x) : "memory")

static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* ---------------------------------------------------------- statistics */

/* bench_sort - sort @n doubles ascending, in place. */
void bench_sort(double *v, size_t n);

/*
 * bench_pct - the @p-th percentile (0..100, nearest rank) of @v; sorts @v
 * in place. Returns NaN for n == 0.
 */
double bench_pct(double *v, size_t n, double p);

/* bench_median - bench_pct(v, n, 50). */
double bench_median(double *v, size_t n);

/* The summary of a series: median, a high percentile, min and max. */
struct bench_summary {
	double median, p99, min, max;
};
void bench_summarize(double *v, size_t n, struct bench_summary *s);

/*
 * A log-linear latency histogram: 16 sub-buckets per power of two, so a
 * value is known within 1/16 (about 6 %); exact below 16. Fixed size and
 * free of pointers, so it can live in MAP_SHARED memory and be filled by a
 * forked worker. max is exact.
 */
#define BENCH_HIST_SUB 16
#define BENCH_HIST_BUCKETS (64 * BENCH_HIST_SUB)
struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t b[BENCH_HIST_BUCKETS];
};

static inline unsigned bench_hist_index(uint64_t v)
{
	if (v < BENCH_HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= 4 */
	unsigned sub = (unsigned)(v >> (e - 4)) & (BENCH_HIST_SUB - 1);
	return (e - 3) * BENCH_HIST_SUB + sub;
}

static inline void bench_hist_add(struct bench_hist *h, uint64_t v)
{
	h->b[bench_hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void bench_hist_reset(struct bench_hist *h);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *h);
/* bench_hist_pct - the upper bound of the bucket holding the p-th value. */
uint64_t bench_hist_pct(const struct bench_hist *h, double p);

/* -------------------------------------------------------------- table */

enum bench_col_kind {
	BENCH_NUM,   /* a figure, printed with precision that suits its size */
	BENCH_RATIO, /* a ratio, printed "1.23x" */
	BENCH_COUNT, /* an integer count */
};

struct bench_col {
	const char *name;
	enum bench_col_kind kind;
};

#define BENCH_MAX_COLS 8
#define BENCH_MAX_ROWS 96
#define BENCH_MAX_NOTES 16

struct bench_row {
	char variant[72];
	char unit[12];
	double v[BENCH_MAX_COLS]; /* NaN prints as "-" and JSON null */
};

struct bench_table {
	char bench[32];
	int ncols;
	struct bench_col cols[BENCH_MAX_COLS];
	int nrows;
	struct bench_row rows[BENCH_MAX_ROWS];
	int nnotes;
	char notes[BENCH_MAX_NOTES][200];
};

/* bench_table_init - a table for harness @bench with @ncols columns. */
void bench_table_init(struct bench_table *t, const char *bench, int ncols,
		      const struct bench_col *cols);

/*
 * bench_table_row - append a row; @vals has t->ncols entries. Returns the
 * row index. Exits if the table is full (a harness bug).
 */
int bench_table_row(struct bench_table *t, const char *variant,
		    const char *unit, const double *vals);

/* bench_table_note - a line printed under the table ("#  ...") and in JSON. */
void bench_table_note(struct bench_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* bench_table_print - the aligned text table, or JSON with o->json. */
void bench_table_print(const struct bench_table *t,
		       const struct bench_opts *o);

/* ------------------------------------------------ batched variants */

/*
 * A harness's own state, passed through to its variants untouched. Each
 * harness that uses bench_batched_run() completes this struct itself;
 * here it stays opaque, so variant functions keep their typed argument and
 * are called through a pointer of exactly their type.
 */
struct bench_ctx;

/* Limits on batches per variant per run (bench_batched_run sizes them). */
#define BENCH_BATCHES_MIN 50
#define BENCH_BATCHES_MAX 40000

/*
 * One variant of a single-thread harness: @fn does @batch calls of the
 * operation measured; @prep, if set, runs before every batch outside the
 * timed region (a reset that keeps a failure counter from tripping, say).
 */
struct bench_variant {
	const char *name;
	void (*fn)(struct bench_ctx *c, uint32_t n);
	void (*prep)(struct bench_ctx *c);
	uint32_t batch;
	/*
	 * The variants this one is compared with, or -1: what each comparison
	 * means (and which column it fills) is the harness's to say.
	 */
	int cmp[2];
	/* Filled by bench_batched_run(), freed by bench_batched_free(). */
	uint32_t batches; /* batches per run */
	double *samples;  /* ns/op of every batch of every run */
	size_t nsamples;
	double *medians;  /* each run's median ns/op, o->runs of them */
};

/*
 * bench_batched_run - measure @nvar variants on one thread: warm each up
 * (50 batches), size its run to about 2 ms (--quick) or 40 ms of work
 * (BENCH_BATCHES_MIN..BENCH_BATCHES_MAX batches), then do o->runs runs
 * interleaved across variants, keeping every batch's ns/op and each run's
 * median. Returns the target run length in ns, for the harness's notes.
 * Only the batch itself is between the two clock reads.
 */
double bench_batched_run(struct bench_ctx *c, struct bench_variant *vars,
			 int nvar, const struct bench_opts *o);

/*
 * bench_batched_rows - one "ns/op" row per variant, in order: columns 0-3
 * are the median of run medians, the p99 over all batches, and the min and
 * max of run medians; further columns are NaN, for the harness to fill
 * from @med (nvar entries: each variant's median of run medians). Sorts
 * the samples and medians in place.
 */
void bench_batched_rows(struct bench_table *t, struct bench_variant *vars,
			int nvar, const struct bench_opts *o, double *med);

/* The note that explains bench_batched_rows' first four columns. */
#define BENCH_BATCHED_NOTE                                                   \
	"median = median of run medians; min/max = spread of run medians; "  \
	"p99 = over all batches"

/* bench_batched_free - release what bench_batched_run allocated. */
void bench_batched_free(struct bench_variant *vars, int nvar);

/* ---------------------------------------------- shared memory, workers */

/*
 * bench_shared_alloc - zeroed MAP_SHARED | MAP_ANONYMOUS memory, page
 * aligned, inherited by forked workers at the same address. Exits on
 * failure (nothing to measure without it).
 */
void *bench_shared_alloc(size_t size);
void bench_shared_free(void *p, size_t size);

/*
 * A start barrier for forked workers (or threads) in MAP_SHARED memory:
 * atomics and spinning only, no pthread object, so a worker that dies
 * leaves nothing locked. Sense-reversing: reusable for the same count.
 * Spinners yield the CPU after a while, since runs with more workers than
 * cores are measured too.
 */
struct bench_barrier {
	uint32_t arrived;
	uint32_t phase;
	uint32_t count;
	uint32_t _pad[13];
} __attribute__((aligned(64)));

void bench_barrier_init(struct bench_barrier *b, uint32_t count);
void bench_barrier_wait(struct bench_barrier *b);

/* A stop flag on its own line, set by the driver, polled by workers. */
struct bench_flag {
	uint32_t v;
	uint32_t _pad[15];
} __attribute__((aligned(64)));

static inline bool bench_flag_get(const struct bench_flag *f)
{
	/* acquire: results written before the flag are visible after it. */
	return __atomic_load_n(&f->v, __ATOMIC_ACQUIRE) != 0;
}

static inline void bench_flag_set(struct bench_flag *f, uint32_t v)
{
	__atomic_store_n(&f->v, v, __ATOMIC_RELEASE);
}

/*
 * bench_fork - run @fn(@arg, @idx) in a child that then _exits with its
 * return value. Exits the harness if fork fails.
 */
pid_t bench_fork(int (*fn)(void *arg, int idx), void *arg, int idx);

/*
 * bench_wait - wait for @pid; returns 0 if it exited 0, else prints what
 * happened to stderr and returns -1.
 */
int bench_wait(pid_t pid);

/*
 * bench_pin - pin the calling thread to @cpu if the machine has more than
 * @cpu CPUs. Returns true if pinned. Harnesses say in a note what they
 * pinned.
 */
bool bench_pin(int cpu);
void bench_unpin(void);
int bench_ncpus(void);

/*
 * bench_segment_name - a segment name unique to this harness and process.
 * It also arranges for SIGINT, SIGTERM and SIGHUP to remove that segment
 * before the harness dies, so an interrupted run leaves nothing in
 * /dev/shm.
 */
void bench_segment_name(char *buf, size_t len, const char *what);

/* ------------------------------------------------------------ segments */

/*
 * bench_segment_create - remove any segment called @seg and create it
 * afresh (ISO_ATTACH_CREATE | ISO_ATTACH_EXCL) for @capacity accounts with
 * @defaults (NULL: the library's), attached. Exits on failure.
 */
iso_reg_t *bench_segment_create(const char *seg, uint32_t capacity,
				const struct iso_config *defaults);

/*
 * bench_segment_setup - name the harness's segment (bench_segment_name,
 * into @seg) and run @setup(NULL, 0) in a forked child that creates and
 * fills it, then detaches. For harnesses whose driver must never attach:
 * every worker then attaches fresh, as unrelated processes do, and no RCU
 * state is inherited across fork. Exits if @setup fails.
 */
void bench_segment_setup(char *seg, size_t len, const char *what,
			 int (*setup)(void *arg, int idx));

/* bench_die - print to stderr and exit 1 (setup failures, not results). */
void bench_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif /* ISO_BENCH_H */
