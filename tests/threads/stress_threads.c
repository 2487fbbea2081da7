/*
 * stress_threads.c - threads sharing one attachment, for ThreadSanitizer.
 *
 * Criterion cannot run under TSan (its inheritable arena fails to map:
 * Snaipe/Criterion#274), so the threaded scenarios live in this plain
 * program. `make test` runs it in the plain build and again built with
 * -fsanitize=thread, where any data race aborts the run. Each scenario
 * also checks its own result, so it can fail without TSan too.
 *
 * Prints one line per scenario and a closing "N passed, N failed".
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "isoreg.h"

#define THREADS 8

static int failures;
static char seg[128];

static void check(int ok, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "  FAILED: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static iso_reg_t *fresh(const char *tag, uint32_t cap)
{
	iso_reg_t *r = NULL;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .capacity = cap, .retire_cooldown_ms = 1 };
	snprintf(seg, sizeof(seg), "/isoreg-threads-%s-%d", tag, (int)getpid());
	iso_unlink(seg);
	if (iso_attach(seg, &o, &r)) {
		fprintf(stderr, "attach %s: %s\n", seg, iso_last_error());
		exit(1);
	}
	return r;
}

static void done(iso_reg_t *r)
{
	iso_detach(r);
	iso_unlink(seg);
}

static void run(void *(*fn)(void *), void *args, size_t size)
{
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, fn, (char *)args + i * size);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
}

/* ---------------------------------------------- 1. exact counters [R5] */

struct count_arg { iso_reg_t *reg; int t; };
#define OPS 20000

static void *count_worker(void *p)
{
	struct count_arg *a = p;
	iso_account_t shared, own;
	char id[16];
	snprintf(id, sizeof(id), "own%d", a->t);
	iso_register(a->reg, "platform", "shared", "KRAKEN", &shared);
	iso_register(a->reg, "user", id, "KRAKEN", &own);
	for (int i = 0; i < OPS; i++) {
		iso_permit_t pm;
		iso_account_t *x = i & 1 ? &shared : &own;
		if (iso_acquire(x, &pm) == 0)
			iso_record_success(x, &pm, 1000 + (uint64_t)i);
		else
			iso_record_failure(x, &pm, ISO_FAIL_API, 0);
	}
	return NULL;
}

static void exact_counters(void)
{
	iso_reg_t *r = fresh("count", 64);
	struct count_arg a[THREADS];
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct count_arg){ r, i };
	run(count_worker, a, sizeof(a[0]));
	struct iso_status st;
	iso_status_by_key(r, "platform", "shared", "KRAKEN", &st);
	check(st.operations == (uint64_t)THREADS * OPS / 2,
	      "shared account: %llu operations, want %d",
	      (unsigned long long)st.operations, THREADS * OPS / 2);
	done(r);
}

/* --------------------------------- 2. registration race, one slot [S3] */

struct reg_arg { iso_reg_t *reg; int t; uint32_t slot[500]; };

static void *reg_worker(void *p)
{
	struct reg_arg *a = p;
	for (int i = 0; i < 500; i++) {
		int k = (i + a->t * 61) % 500;
		char id[16];
		iso_account_t h;
		snprintf(id, sizeof(id), "k%03d", k);
		if (iso_register(a->reg, "user", id, "BINANCE", &h) == 0)
			a->slot[k] = h.slot;
		else
			a->slot[k] = UINT32_MAX;
		iso_lookup(a->reg, "user", id, "BINANCE", &h);
	}
	return NULL;
}

static void registration_race(void)
{
	iso_reg_t *r = fresh("reg", 1024);
	static struct reg_arg a[THREADS];
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct reg_arg){ .reg = r, .t = i };
	run(reg_worker, a, sizeof(a[0]));
	for (int k = 0; k < 500; k++)
		for (int t = 1; t < THREADS; t++)
			check(a[t].slot[k] == a[0].slot[k] && a[0].slot[k] != UINT32_MAX,
			      "key %d: thread %d got slot %u, thread 0 %u", k, t,
			      a[t].slot[k], a[0].slot[k]);
	struct iso_segment_info si;
	iso_segment_info(r, &si);
	check(si.live == 500, "%u live accounts, want 500", si.live);
	done(r);
}

/* ------------------------- 3. half-open permits under contention [B6] */

/* A clock the test moves: relaxed, it orders nothing but itself. */
static uint64_t fake_ms = 1000000;
static uint64_t fake_clock(void *c) { (void)c; return iso_load64_relaxed(&fake_ms) * 1000000ull; }

struct probe_arg { iso_account_t a; int over; int granted; };

static void *probe_worker(void *p)
{
	struct probe_arg *a = p;
	for (int i = 0; i < 5000; i++) {
		iso_permit_t pm;
		if (iso_acquire(&a->a, &pm) == 0) {
			struct iso_status st;
			a->granted++;
			if (iso_status(&a->a, &st) == 0 && st.probes_in_flight > 2)
				a->over++;
			iso_record_success(&a->a, &pm, 0);
		}
	}
	return NULL;
}

static void half_open_contention(void)
{
	iso_reg_t *r = fresh("probe", 16);
	iso_clock_set(fake_clock, NULL);
	iso_account_t a;
	iso_register(r, "user", "prober", "KRAKEN", &a);
	struct iso_config c;
	iso_config_default(&c);
	c.half_open_max_calls = 2;
	c.success_threshold = 200;
	iso_configure(&a, &c);
	for (int i = 0; i < 5; i++)
		iso_record_failure(&a, NULL, ISO_FAIL_API, 0);
	iso_add64_relaxed(&fake_ms, 300000);
	struct probe_arg args[THREADS];
	for (int i = 0; i < THREADS; i++)
		args[i] = (struct probe_arg){ .a = a };
	run(probe_worker, args, sizeof(args[0]));
	int over = 0, granted = 0;
	for (int i = 0; i < THREADS; i++) {
		over += args[i].over;
		granted += args[i].granted;
	}
	struct iso_status st;
	iso_status(&a, &st);
	check(over == 0, "%d times more than 2 probes were in flight", over);
	check(st.health == ISO_HEALTHY, "health %s after %d probes",
	      iso_health_name(st.health), granted);
	iso_clock_set(NULL, NULL);
	done(r);
}

/* ------------------------------ 4. event ring: writers and readers */

struct ev_arg { iso_reg_t *reg; int t; int bad; uint64_t seen, missed; };

static void *ev_writer(void *p)
{
	struct ev_arg *a = p;
	iso_account_t h;
	char id[16];
	snprintf(id, sizeof(id), "ev%d", a->t);
	iso_register(a->reg, "user", id, "KRAKEN", &h);
	for (int i = 0; i < 3000; i++) {
		iso_force_open(&h);
		iso_reset(&h);
	}
	return NULL;
}

static void *ev_reader(void *p)
{
	struct ev_arg *a = p;
	uint64_t cur = 0, last = 0;
	struct iso_event ev[64];
	for (int i = 0; i < 20000; i++) {
		uint64_t missed;
		int n = iso_events_read(a->reg, &cur, ev, 64, &missed);
		a->missed += missed;
		for (int j = 0; j < n; j++) {
			if ((unsigned)ev[j].to >= ISO_HEALTH__COUNT ||
			    (last && ev[j].seq <= last))
				a->bad++;
			last = ev[j].seq;
			a->seen++;
		}
	}
	return NULL;
}

static void *ev_worker(void *p)
{
	struct ev_arg *a = p;
	return a->t < THREADS / 2 ? ev_writer(p) : ev_reader(p);
}

static void event_ring(void)
{
	iso_reg_t *r = fresh("events", 64);
	struct ev_arg a[THREADS];
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct ev_arg){ .reg = r, .t = i };
	run(ev_worker, a, sizeof(a[0]));
	uint64_t seen = 0, bad = 0;
	for (int i = THREADS / 2; i < THREADS; i++) {
		seen += a[i].seen;
		bad += (uint64_t)a[i].bad;
	}
	check(bad == 0, "%llu malformed or out-of-order events",
	      (unsigned long long)bad);
	check(seen > 0, "readers saw no event at all");
	done(r);
}

/* ------------------- 5. retire and re-register while others record */

struct churn_arg { iso_reg_t *reg; int t; int other; };

static void *churn_worker(void *p)
{
	struct churn_arg *a = p;
	for (int i = 0; i < 3000; i++) {
		iso_account_t h;
		if (a->t == 0) {
			if (iso_register(a->reg, "user", "churn", "KRAKEN", &h) == 0)
				iso_retire(&h);
			continue;
		}
		if (iso_register(a->reg, "user", "churn", "KRAKEN", &h) == 0) {
			int rc = iso_record_success(&h, NULL, 0);
			if (rc != 0 && rc != ISO_ESTALE)
				a->other++;
		}
	}
	return NULL;
}

static void retire_churn(void)
{
	iso_reg_t *r = fresh("churn", 32);
	struct churn_arg a[THREADS];
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct churn_arg){ .reg = r, .t = i };
	run(churn_worker, a, sizeof(a[0]));
	int other = 0;
	for (int i = 0; i < THREADS; i++)
		other += a[i].other;
	check(other == 0, "%d writes failed with something other than ESTALE",
	      other);
	struct iso_doctor_report d;
	iso_doctor(r, 0, &d);
	check(d.ok, "doctor: segment not ok after churn");
	done(r);
}

/* ------- 6. tombstone reuse: same-key registrants racing retires [S3] */

#define RACERS (THREADS / 2)
#define ROUNDS 600

struct tomb_shared {
	iso_reg_t *reg;
	pthread_barrier_t bar;
	uint32_t stop;
	uint32_t slot[RACERS];
	int mismatches;
};
struct tomb_arg { struct tomb_shared *sh; int t; };

/* Churn retires slots faster than their (1 ms) cooldown: wait for one. */
static int full_retry(iso_reg_t *reg, const char *id, iso_account_t *h)
{
	int rc;
	while ((rc = iso_register(reg, "user", id, "KRAKEN", h)) == ISO_EFULL)
		sched_yield();
	return rc;
}

static void *tomb_worker(void *p)
{
	struct tomb_arg *a = p;
	struct tomb_shared *sh = a->sh;
	char id[16];
	iso_account_t h;
	if (a->t >= RACERS) {
		/* Churn: distinct keys come and go, leaving tombstones in
		 * every chain for the racers to reuse. */
		/* acquire: pairs with racer 0's release store of stop. */
		for (int n = 0; !iso_load32_acquire(&sh->stop); n++) {
			snprintf(id, sizeof(id), "c%d_%d", a->t, n % 5);
			if (full_retry(sh->reg, id, &h) == 0)
				iso_retire(&h);
		}
		return NULL;
	}
	for (int round = 0; round < ROUNDS; round++) {
		snprintf(id, sizeof(id), "same%d", round % 8);
		pthread_barrier_wait(&sh->bar);
		int rc = full_retry(sh->reg, id, &h);
		sh->slot[a->t] = rc == 0 ? h.slot : UINT32_MAX;
		pthread_barrier_wait(&sh->bar);
		if (a->t == 0) {
			for (int i = 1; i < RACERS; i++)
				if (sh->slot[i] != sh->slot[0] || sh->slot[i] == UINT32_MAX)
					sh->mismatches++;
			iso_retire(&h); /* the next round registers it anew */
		}
		pthread_barrier_wait(&sh->bar);
	}
	iso_store32_release(&sh->stop, 1);
	return NULL;
}

static void tombstone_reuse(void)
{
	static struct tomb_shared sh;
	struct tomb_arg a[THREADS];
	sh = (struct tomb_shared){ .reg = fresh("tomb", 48) };
	pthread_barrier_init(&sh.bar, NULL, RACERS);
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct tomb_arg){ &sh, i };
	run(tomb_worker, a, sizeof(a[0]));
	pthread_barrier_destroy(&sh.bar);
	check(sh.mismatches == 0, "%d of %d rounds gave racers different slots "
	      "for one key", sh.mismatches, ROUNDS);
	struct iso_doctor_report d;
	iso_doctor(sh.reg, 0, &d);
	check(d.ok && d.dir_bad == 0, "doctor: %u bad directory entries "
	      "(duplicates)", d.dir_bad);
	done(sh.reg);
}

/* ---- 6b. lookups racing a retire and reuse of their slot by another key */

#define REUSES 1000

struct reuse_shared {
	iso_reg_t *reg;
	uint32_t stop;
	uint8_t owner[2 * REUSES + 64]; /* gen -> 1 alice, 2 bob (0: not yet) */
	uint32_t wrong, found;
};
struct reuse_arg { struct reuse_shared *sh; int t; };

/*
 * Thread 0 registers alice, retires her, registers bob into the same slot
 * (capacity 1), retires him, and so on, noting which key each generation
 * went to. Two others look both keys up all the while: a lookup must
 * answer its own key's generation or ENOENT, never the other key's
 * account in the slot they share, and a status read through its handle
 * must answer with that account or ESTALE [S5].
 */
static void *reuse_worker(void *p)
{
	struct reuse_arg *a = p;
	struct reuse_shared *sh = a->sh;
	static const char *const who[2] = { "alice", "bob" };
	iso_account_t h;
	if (a->t == 0) {
		for (int i = 0; i < 2 * REUSES; i++) {
			if (full_retry(sh->reg, who[i & 1], &h) != 0 ||
			    h.gen >= sizeof(sh->owner)) {
				iso_faa32_relaxed(&sh->wrong, 1);
				break;
			}
			iso_store8_release(&sh->owner[h.gen],
					   (uint8_t)(1 + (i & 1)));
			/* Marks a reader can tell apart: alice succeeds,
			 * bob fails (once: he degrades, never trips). */
			if (i & 1)
				iso_record_failure(&h, NULL, ISO_FAIL_API, 0);
			else
				iso_record_success(&h, NULL, 0);
			sched_yield(); /* let lookups find it */
			iso_retire(&h);
		}
		iso_store32_release(&sh->stop, 1);
		return NULL;
	}
	if (a->t > 2)
		return NULL; /* two readers: on two cores, thread 0 must run */
	for (int n = 0; !iso_load32_acquire(&sh->stop); n++) {
		int k = (n + a->t) & 1;
		if ((n & 63) == 63)
			sched_yield();
		if (iso_lookup(sh->reg, "user", who[k], "KRAKEN", &h) != 0)
			continue;
		if (h.gen >= sizeof(sh->owner)) {
			iso_faa32_relaxed(&sh->wrong, 1);
			continue;
		}
		/* Thread 0 notes the owner right after its register returns:
		 * wait for it (a bounded spin; never long). */
		uint8_t o = 0;
		for (int spin = 0; spin < 1000000 && !o; spin++) {
			o = iso_load8_acquire(&sh->owner[h.gen]);
			if (!o)
				sched_yield();
		}
		if (o != 1 + k)
			iso_faa32_relaxed(&sh->wrong, 1);
		iso_faa32_relaxed(&sh->found, 1);
		/* Read through the handle (maybe retired by now): a status
		 * that answers must be this key's account, never the next. */
		struct iso_status_lite l;
		if (iso_status_lite(&h, &l) == 0 &&
		    (k == 0 ? l.failures != 0 : l.successes != 0))
			iso_faa32_relaxed(&sh->wrong, 1);
	}
	return NULL;
}

static void lookup_reuse(void)
{
	static struct reuse_shared sh;
	struct reuse_arg a[THREADS];
	sh = (struct reuse_shared){ .reg = fresh("reuse", 1) };
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct reuse_arg){ &sh, i };
	run(reuse_worker, a, sizeof(a[0]));
	check(sh.wrong == 0, "%u lookups answered the other key's account "
	      "(or a generation out of range), of %u found", sh.wrong, sh.found);
	check(sh.found > 0, "no lookup ever found an account");
	done(sh.reg);
}

/* ------------- 7. classification table: appends racing lookups */

struct cls_arg { int t; int wrong; };

static void *cls_worker(void *p)
{
	struct cls_arg *a = p;
	char text[64];
	if (a->t < THREADS / 2) {
		for (int i = 0; i < 8; i++) {
			snprintf(text, sizeof(text), "venue%d-error-%d", a->t, i);
			iso_classify_add_message(text, ISO_FAIL_POSITION);
		}
		return NULL;
	}
	for (int i = 0; i < 20000; i++) {
		/* A taught text is POSITION once its row is visible, and the
		 * built-in fallback (API) before: anything else is torn. */
		snprintf(text, sizeof(text), "xx venue%d-error-%d xx",
			 i % (THREADS / 2), i % 8);
		int ft = iso_classify_message(text);
		if (ft != ISO_FAIL_POSITION && ft != ISO_FAIL_API)
			a->wrong++;
	}
	return NULL;
}

static void classify_table(void)
{
	struct cls_arg a[THREADS];
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct cls_arg){ .t = i };
	run(cls_worker, a, sizeof(a[0]));
	int wrong = 0;
	for (int i = 0; i < THREADS; i++)
		wrong += a[i].wrong;
	check(wrong == 0, "%d lookups saw a torn row", wrong);
	check(iso_classify_message("venue0-error-3") == ISO_FAIL_POSITION,
	      "a taught row is not found afterwards");
}

/* ------- 8. broker halts racing acquires and registrations [R8] */

struct halt_shared {
	iso_reg_t *reg;
	uint32_t stop;
	uint32_t violations; /* a COINBASE account refused, or one allowed
				while the halter knows KRAKEN is halted */
	uint32_t epoch;      /* odd between the halter's halt and release
				calls; moves on each, so a window is told
				from the next */
};
struct halt_arg { struct halt_shared *sh; int t; };

static void *halt_worker(void *p)
{
	struct halt_arg *a = p;
	struct halt_shared *sh = a->sh;
	iso_account_t k, c;
	iso_permit_t pm;
	char id[16];
	if (a->t == 0) {
		/*
		 * The epoch was seq_cst; acq_rel increments and acquire
		 * loads give the window check all it had. The halter only
		 * writes the epoch and the readers only read it: no
		 * store-load (Dekker) pattern, only two message-passing
		 * pairs, so a single total order over the epoch adds
		 * nothing. An odd epoch read means the halt came before
		 * (release half, after the halt). A release seen means the
		 * even epoch came before it: the acquire half keeps
		 * release_broker's writes after the increment, but the
		 * reader sees the release through the hot path's relaxed
		 * broker_halts load (account.c), which C11 does not order
		 * before the epoch re-read; x86 does. seq_cst, ordering
		 * only seq_cst accesses, did not close that either.
		 */
		for (int n = 0; n < 400; n++) {
			iso_halt_broker(sh->reg, "KRAKEN", NULL);
			iso_faa32_acq_rel(&sh->epoch, 1);
			sched_yield();
			iso_faa32_acq_rel(&sh->epoch, 1);
			iso_release_broker(sh->reg, "KRAKEN", NULL);
		}
		iso_store32_release(&sh->stop, 1);
		return NULL;
	}
	snprintf(id, sizeof(id), "h%d", a->t);
	if (iso_register(sh->reg, "user", id, "COINBASE", &c))
		return NULL;
	/* acquire: pairs with the halter's release store of stop. */
	for (int n = 0; !iso_load32_acquire(&sh->stop); n++) {
		/* Registrations during halts: each new KRAKEN account must be
		 * refused while the halt is known to be in force. */
		snprintf(id, sizeof(id), "k%d_%d", a->t, n % 4);
		if (iso_register(sh->reg, "user", id, "KRAKEN", &k))
			continue;
		/* Wholly inside one halt window (same odd epoch before and
		 * after): the acquire must be refused. */
		/* acquire, both: pair with the halter's increments. */
		uint32_t before = iso_load32_acquire(&sh->epoch);
		int rc = iso_acquire(&k, &pm);
		if ((before & 1) && rc == 0 &&
		    iso_load32_acquire(&sh->epoch) == before)
			iso_faa32_relaxed(&sh->violations, 1); /* a count */
		if (iso_acquire(&c, &pm) != 0)
			iso_faa32_relaxed(&sh->violations, 1);
	}
	return NULL;
}

static void broker_halts(void)
{
	iso_reg_t *r = fresh("halts", 64);
	struct halt_shared sh = { .reg = r };
	struct halt_arg a[THREADS];
	for (int i = 0; i < THREADS; i++)
		a[i] = (struct halt_arg){ .sh = &sh, .t = i };
	run(halt_worker, a, sizeof(a[0]));
	check(sh.violations == 0, "%u acquires contradicted a broker halt",
	      sh.violations);
	char names[4][ISO_BROKER_MAX + 1];
	check(iso_halted_brokers(r, names, 4) == 0, "a halt outlived its release");
	done(r);
}

int main(void)
{
	struct { const char *name; void (*fn)(void); } s[] = {
		{ "exact counters from 8 threads", exact_counters },
		{ "8 threads register the same 500 keys", registration_race },
		{ "half-open permits under contention", half_open_contention },
		{ "event ring with 4 writers and 4 readers", event_ring },
		{ "retire and re-register under writers", retire_churn },
		{ "same-key registrants reuse tombstones of retiring keys", tombstone_reuse },
		{ "lookups racing a retire and reuse of their slot by another key", lookup_reuse },
		{ "classification rows appended while others classify", classify_table },
		{ "broker halts racing acquires and registrations", broker_halts },
	};
	int passed = 0, failed = 0;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		int before = failures;
		s[i].fn();
		if (failures == before) {
			passed++;
			printf("threads: %s: ok\n", s[i].name);
		} else {
			failed++;
			printf("threads: %s: FAILED\n", s[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
