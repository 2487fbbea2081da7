/*
 * test_multiproc.c - the promises that need more than one process (fork)
 * or thread: exact counters [R5], one slot per key under a registration
 * race [S3], and one process's trouble leaving another's accounts alone.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support/util.h"

struct shared {
	int go;
	int ready;
	uint32_t slot[4][1000];
	uint32_t gen[4][1000];
	uint64_t b_refused;
	uint64_t b_ops;
};

static struct shared *shared_new(void)
{
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(s, MAP_FAILED);
	memset(s, 0, sizeof(*s));
	return s;
}

/* All children start at once: each says ready, then spins on go. */
static void start_line(struct shared *s)
{
	__atomic_fetch_add(&s->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void release(struct shared *s, int n)
{
	while (__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) < n)
		sched_yield();
	__atomic_store_n(&s->go, 1, __ATOMIC_RELEASE);
}

static iso_reg_t *child_attach(const char *name)
{
	iso_reg_t *r = NULL;
	if (iso_attach(name, NULL, &r))
		_exit(90);
	return r;
}

/* [R5] N processes x M outcomes on one account: exactly N x M. */
Test(multiproc, counters_are_exact_under_4_processes, .timeout = 60)
{
	const char *name = tu_segment("r5");
	iso_reg_t *reg = tu_create(name, 16, NULL);
	iso_account_t a;
	iso_register(reg, "platform", "platform", "KRAKEN", &a);
	struct shared *s = shared_new();
	const int N = 4, M = 20000;
	int pids[4];
	for (int p = 0; p < N; p++) {
		if ((pids[p] = fork()) == 0) {
			iso_reg_t *r = child_attach(name);
			iso_account_t h;
			if (iso_lookup(r, "platform", "platform", "KRAKEN", &h))
				_exit(91);
			start_line(s);
			for (int i = 0; i < M; i++) {
				int rc = i % 3 ? iso_record_success(&h, NULL, 100 + i)
					       : iso_record_failure(&h, NULL, ISO_FAIL_NETWORK, 0);
				if (rc)
					_exit(92);
			}
			iso_detach(r);
			_exit(0);
		}
	}
	release(s, N);
	for (int p = 0; p < N; p++)
		cr_assert_eq(tu_wait(pids[p]), 0, "child %d", p);
	struct iso_status st;
	iso_status(&a, &st);
	int fails = (M + 2) / 3;
	cr_assert_eq(st.operations, (uint64_t)N * M);
	cr_assert_eq(st.failures_by_type[ISO_FAIL_NETWORK], (uint64_t)N * fails);
	cr_assert_eq(st.successes, (uint64_t)N * (M - fails));
	uint64_t timed = 0;
	for (int i = 0; i < ISO_HIST_BUCKETS; i++)
		timed += st.hist[i];
	cr_assert_eq(timed, (uint64_t)N * (M - fails), "every timed op in the histogram");
	munmap(s, sizeof(*s));
	iso_detach(reg);
	iso_unlink(name);
}

/* [S3] several processes register the same 1,000 new keys at once:
 * exactly 1,000 slots, no duplicates, the same slot everywhere. */
Test(multiproc, racing_registrants_of_1000_keys_get_1000_slots, .timeout = 60)
{
	const char *name = tu_segment("s3");
	iso_reg_t *reg = tu_create(name, 2048, NULL);
	struct shared *s = shared_new();
	const int N = 4, K = 1000;
	int pids[4];
	for (int p = 0; p < N; p++) {
		if ((pids[p] = fork()) == 0) {
			iso_reg_t *r = child_attach(name);
			start_line(s);
			for (int i = 0; i < K; i++) {
				/* Each process walks the keys from its own
				 * offset so every key is contended. */
				int k = (i + p * 250) % K;
				char id[32];
				iso_account_t h;
				snprintf(id, sizeof(id), "acct%04d", k);
				if (iso_register(r, "user", id, "KRAKEN", &h))
					_exit(93);
				s->slot[p][k] = h.slot;
				s->gen[p][k] = h.gen;
			}
			iso_detach(r);
			_exit(0);
		}
	}
	release(s, N);
	for (int p = 0; p < N; p++)
		cr_assert_eq(tu_wait(pids[p]), 0, "child %d", p);
	static uint8_t seen[2048];
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < K; k++) {
		for (int p = 1; p < N; p++) {
			cr_assert_eq(s->slot[p][k], s->slot[0][k], "key %d: slot differs", k);
			cr_assert_eq(s->gen[p][k], s->gen[0][k]);
		}
		cr_assert_eq(seen[s->slot[0][k]], 0, "slot %u used twice", s->slot[0][k]);
		seen[s->slot[0][k]] = 1;
	}
	struct iso_segment_info si;
	iso_segment_info(reg, &si);
	cr_assert_eq(si.live, (uint32_t)K, "exactly %d accounts, not %u", K, si.live);
	struct iso_report rep;
	iso_report(reg, &rep);
	cr_assert_eq(rep.total_accounts, (uint32_t)K);
	struct iso_doctor_report d;
	iso_doctor(reg, 0, &d);
	cr_assert(d.ok);
	cr_assert_eq(d.dir_entries, (uint32_t)K);
	munmap(s, sizeof(*s));
	iso_detach(reg);
	iso_unlink(name);
}

/* One process hammers its account to QUARANTINED while another's
 * accounts stay HEALTHY and keep acting, every single time. */
Test(multiproc, one_process_trips_its_account_while_anothers_keep_acting, .timeout = 60)
{
	const char *name = tu_segment("iso");
	iso_reg_t *reg = tu_create(name, 64, NULL);
	struct shared *s = shared_new();
	int a = fork();
	if (a == 0) {
		iso_reg_t *r = child_attach(name);
		iso_account_t h;
		iso_register(r, "user", "user1", "KRAKEN", &h);
		start_line(s);
		for (int i = 0; i < 20000; i++) {
			iso_permit_t p;
			if (iso_acquire(&h, &p) == 0)
				iso_record_failure(&h, &p, ISO_FAIL_API, 1000);
		}
		iso_detach(r);
		_exit(0);
	}
	int b = fork();
	if (b == 0) {
		iso_reg_t *r = child_attach(name);
		iso_account_t h[3];
		iso_register(r, "platform", "platform", "KRAKEN", &h[0]);
		iso_register(r, "user", "user2", "KRAKEN", &h[1]);
		iso_register(r, "user", "user1", "COINBASE", &h[2]);
		start_line(s);
		for (int i = 0; i < 20000; i++) {
			iso_permit_t p;
			iso_account_t *x = &h[i % 3];
			if (iso_acquire(x, &p) != 0)
				s->b_refused++;
			else
				iso_record_success(x, &p, 1000);
			s->b_ops++;
		}
		iso_detach(r);
		_exit(0);
	}
	release(s, 2);
	cr_assert_eq(tu_wait(a), 0);
	cr_assert_eq(tu_wait(b), 0);
	cr_assert_eq(s->b_ops, 20000);
	cr_assert_eq(s->b_refused, 0, "another account was refused");
	struct iso_status st;
	cr_assert_eq(iso_status_by_key(reg, "user", "user1", "KRAKEN", &st), 0);
	cr_assert_eq(st.health, ISO_QUARANTINED);
	cr_assert_eq(st.failures, 5, "only the five that tripped it got through");
	const char *others[3][3] = { { "platform", "platform", "KRAKEN" },
				     { "user", "user2", "KRAKEN" },
				     { "user", "user1", "COINBASE" } };
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(iso_status_by_key(reg, others[i][0], others[i][1],
					       others[i][2], &st), 0);
		cr_assert_eq(st.health, ISO_HEALTHY);
		cr_assert_eq(st.failures, 0);
	}
	munmap(s, sizeof(*s));
	iso_detach(reg);
	iso_unlink(name);
}

struct reg_thread {
	iso_reg_t *reg;
	int t;
	uint32_t slots[200];
};

static void *register_keys(void *p)
{
	struct reg_thread *a = p;
	for (int i = 0; i < 200; i++) {
		int k = (i + a->t * 50) % 200;
		char id[16];
		iso_account_t h;
		snprintf(id, sizeof(id), "k%d", k);
		if (iso_register(a->reg, "user", id, "KRAKEN", &h) == 0)
			a->slots[k] = h.slot;
		iso_record_success(&h, NULL, 0);
		if (i % 10 == 0)
			iso_lookup(a->reg, "user", id, "KRAKEN", &h);
	}
	return NULL;
}

/* [S4] threads of one process share the RCU index and the directory
 * (this one also runs under TSan). */
Test(multiproc, registration_and_lookup_race_across_8_threads)
{
	const char *name = tu_segment("thr");
	iso_reg_t *reg = tu_create(name, 512, NULL);
	pthread_t th[8];
	static struct reg_thread args[8];
	for (int t = 0; t < 8; t++) {
		args[t] = (struct reg_thread){ .reg = reg, .t = t };
		pthread_create(&th[t], NULL, register_keys, &args[t]);
	}
	for (int t = 0; t < 8; t++)
		pthread_join(th[t], NULL);
	for (int k = 0; k < 200; k++)
		for (int t = 1; t < 8; t++)
			cr_assert_eq(args[t].slots[k], args[0].slots[k]);
	struct iso_report rep;
	iso_report(reg, &rep);
	cr_assert_eq(rep.total_accounts, 200);
	cr_assert_eq(rep.total_operations, 8 * 200);
	iso_detach(reg);
	iso_unlink(name);
}
