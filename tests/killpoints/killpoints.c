/*
 * killpoints.c - the exhaustive kill-and-stall harness [R6] [S3] [S6].
 *
 * Built against the library compiled with ISO_FAILPOINTS (src/failpoint.h),
 * where a named point stands before every shared-memory write of every
 * multi-step protocol after its first. For each protocol:
 *
 *   1. a child runs it once tracing, which lists its points in order;
 *   2. for every point k: a fresh segment, a child SIGKILLed at point k;
 *      then the invariants, doctor REPAIR, the invariants after repair;
 *   3. for every point k: a fresh segment, a child SIGSTOPped at point k
 *      while this process acts on the same accounts for longer than the
 *      retire cooldown (doctor REPAIR, lookups, writes, retire and
 *      re-register of the same key into the same slot), then SIGCONT; the
 *      child's answer must be right, and the invariants hold.
 *
 * Invariants (RELIABILITY.md states them with the results):
 *   I1 one live slot per key, and it is reachable by key;
 *   I2 every slot in a state the protocols write; the live count the
 *      segment reports is the number of live slots;
 *   I3 nothing leaked after REPAIR: doctor ok, no dead reservation, no dead
 *      entry, and every slot not live can be registered again;
 *   I4 no write lands in another account: the bystander's counters are
 *      exactly what this process recorded;
 *   I5 no call hangs (every call here and in the child has a deadline);
 *   I6 every refused stale write is counted in cross_account_errors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "failpoint.h"
#include "directory.h"
#include "window.h"
#include "../support/chaos_util.h"
#include "../support/util.h"

#define CAP 8
#define COOLDOWN_MS 1
#define PAST_COOLDOWN_US 4000
/* The long form (make chaos, ISOREG_CHAOS_LONG=1) also stalls each point
 * for 10x and 100x as long, with the interference repeated meanwhile. */
static unsigned stall_rounds(void)
{
	const char *e = getenv("ISOREG_CHAOS_LONG");
	return e && *e && *e != '0' ? 3 : 1;
}
static const unsigned stall_scale[3] = { 1, 10, 100 };
#define MAX_POINTS 256
#define CHILD_DEADLINE_S 20

/* One test world: a fresh segment with a bystander account. */
struct world {
	char seg[96];
	iso_reg_t *reg;
	iso_account_t by;
	uint64_t by_ok;
	const char *proto;
	const char *mode;
	unsigned point;
	const char *point_name;
	unsigned violations;
	int out_fd;         /* what the child wrote, once it has ended */
};

/* A protocol under test. */
struct proto {
	const char *name;
	void (*setup)(struct world *w);           /* parent, fresh segment */
	int (*run)(iso_reg_t *reg, int out_fd);   /* child: the protocol */
	void (*interfere)(struct world *w);       /* parent, child stopped */
	void (*after)(struct world *w, int child_rc, bool killed);
	bool fill;          /* setup used every slot (reuse protocols) */
	bool windows;       /* the segment has the window region [B7] */
};

#define V(w, cond, ...)                                                      \
	do {                                                                 \
		if (!(cond)) {                                               \
			(w)->violations++;                                   \
			cr_log_error("%s %s at point %u (%s): ", (w)->proto, \
				     (w)->mode, (w)->point,                  \
				     (w)->point_name ? (w)->point_name : "-"); \
			cr_log_error(__VA_ARGS__);                           \
		}                                                            \
	} while (0)

static void sleep_us(unsigned us)
{
	nanosleep(&(struct timespec){ us / 1000000, (long)(us % 1000000) * 1000 },
		  NULL);
}

static struct iso_config test_defaults(void)
{
	struct iso_config c;
	iso_config_default(&c);
	c.failure_threshold = 2;
	c.success_threshold = 1;
	c.open_timeout_ms = 1;
	c.max_open_timeout_ms = 1;
	return c;
}

static void world_open(struct world *w, const struct proto *p)
{
	static unsigned n;
	struct iso_config def = test_defaults();
	struct iso_attach_opts o = {
		.flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL |
			 (p->windows ? ISO_ATTACH_WINDOWS : 0),
		.capacity = CAP, .retire_cooldown_ms = COOLDOWN_MS,
		.defaults = &def,
	};
	snprintf(w->seg, sizeof(w->seg), "/isoreg-kp-%d-%u", (int)getpid(), n++);
	iso_unlink(w->seg);
	w->proto = p->name;
	w->violations = 0;
	cr_assert_eq(iso_attach(w->seg, &o, &w->reg), 0, "%s", iso_last_error());
	cr_assert_eq(iso_register(w->reg, "user", "bystander", "KRAKEN", &w->by), 0);
	w->by_ok = 0;
	for (int i = 0; i < 5; i++, w->by_ok++)
		cr_assert_eq(iso_record_success(&w->by, NULL, 1000), 0);
	if (p->setup)
		p->setup(w);
}

static void world_close(struct world *w)
{
	char extra[200];
	iso_detach(w->reg);
	iso_unlink(w->seg);
	/* What the create protocol makes beside it (the trace run too). */
	snprintf(extra, sizeof(extra), "%s-new", w->seg);
	iso_unlink(extra);
}

/* Register the keys f0, f1, ... until every slot is used. */
static void fill_slots(struct world *w)
{
	char id[16];
	iso_account_t a;
	for (int i = 0;; i++) {
		snprintf(id, sizeof(id), "f%d", i);
		int rc = iso_register(w->reg, "user", id, "KRAKEN", &a);
		if (rc == ISO_EFULL)
			break;
		cr_assert_eq(rc, 0, "%s", iso_last_error());
	}
}

/* ------------------------------------------------------- invariants */

/* I1, I2, I4: what must hold at any moment, with or without repair. */
static void check_consistent(struct world *w)
{
	iso_reg_t *reg = w->reg;
	struct iso_key keys[CAP];
	uint32_t nlive = 0;
	for (uint32_t i = 0; i < CAP; i++) {
		struct iso_slot *s = &reg->slots[i];
		uint64_t lo = iso_slot_lo(s);
		V(w, ISO_SW_STATE(lo) <= ISO_SLOT_RETIRED,
		  "slot %u in state %u", i, ISO_SW_STATE(lo));
		if (!iso_slot_effectively_live(reg, i, lo))
			continue;
		struct iso_key k;
		iso_slot_read_key(s, &k);
		for (uint32_t j = 0; j < nlive; j++)
			V(w, strcmp(keys[j].type, k.type) || strcmp(keys[j].id, k.id) ||
			     strcmp(keys[j].broker, k.broker),
			  "I1: key %s/%s/%s live in two slots", k.type, k.id, k.broker);
		keys[nlive++] = k;
		/* By the shared directory, not this process's own index. */
		uint32_t fs = 0, fg = 0;
		int rc = iso_dir_find(reg, &k, iso_key_hash(&k), &fs, &fg);
		V(w, rc == 0 && fs == i && fg == ISO_SW_GEN(lo),
		  "I1: live slot %u (%s/%s/%s gen %u) not reachable by key: rc %d "
		  "slot %u gen %u", i, k.type, k.id, k.broker, ISO_SW_GEN(lo), rc,
		  fs, fg);
	}
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(reg, &info), 0);
	V(w, info.live == nlive, "I2: segment says %u live, slots say %u",
	  info.live, nlive);
	struct iso_status st;
	int rc = iso_status(&w->by, &st);
	V(w, rc == 0 && st.successes == w->by_ok && st.failures == 0 &&
	     st.health == ISO_HEALTHY,
	  "I4: bystander rc %d successes %llu (want %llu) failures %llu", rc,
	  (unsigned long long)st.successes, (unsigned long long)w->by_ok,
	  (unsigned long long)st.failures);
	uint64_t cur = 0, missed = 0;
	struct iso_event ev[64];
	V(w, iso_events_read(reg, &cur, ev, 64, &missed) >= 0, "events unreadable");
}

/* I3: after REPAIR (no process of the protocol is left alive). */
static void check_repaired(struct world *w)
{
	struct iso_doctor_report d;
	cr_assert_eq(iso_doctor(w->reg, ISO_DOCTOR_REPAIR, &d), 0, "%s", iso_last_error());
	cr_assert_eq(iso_doctor(w->reg, 0, &d), 0);
	V(w, d.ok && d.reserved_dead == 0 && d.reserved_pending == 0 &&
	     d.dir_dead == 0 && d.dir_missing == 0,
	  "I3: after repair: ok %d reserved dead %u pending %u, dead entries %u, "
	  "missing %u, bad slots %u, bad entries %u", d.ok, d.reserved_dead,
	  d.reserved_pending, d.dir_dead, d.dir_missing, d.bad_slots, d.dir_bad);
	check_consistent(w);
	/* Every slot that is not live can hold an account again. */
	sleep_us(PAST_COOLDOWN_US);
	struct iso_segment_info info;
	cr_assert_eq(iso_segment_info(w->reg, &info), 0);
	uint32_t added = 0;
	char id[16];
	for (int i = 0; i < 2 * CAP; i++) {
		iso_account_t a;
		snprintf(id, sizeof(id), "p%d", i);
		int rc = iso_register(w->reg, "user", id, "BINANCE", &a);
		if (rc == ISO_EFULL)
			break;
		V(w, rc == 0, "I3: registering after repair: %s", iso_last_error());
		if (rc == 0 && iso_record_success(&a, NULL, 0) == 0)
			added++;
	}
	V(w, info.live + added == CAP, "I3: %u live + %u registrable != %u slots",
	  info.live, added, CAP);
}

/* ---------------------------------------------------------- children */

struct child_arg {
	const struct proto *p;
	const char *seg;
	enum iso_fp_action action;
	unsigned nth;
	int out_fd;
};

static void child_main(struct child_arg *c)
{
	iso_reg_t *reg;
	alarm(CHILD_DEADLINE_S); /* I5 */
	if (iso_attach(c->seg, NULL, &reg))
		_exit(120);
	iso_fp_arm(c->action, c->nth);
	int rc = c->p->run(reg, c->action == ISO_FP_TRACE ? -1 : c->out_fd);
	if (c->action == ISO_FP_TRACE) {
		unsigned n = iso_fp_count();
		if (write(c->out_fd, &n, sizeof(n)) != sizeof(n))
			_exit(121);
		for (unsigned i = 0; i < n && i < MAX_POINTS; i++) {
			char name[64] = { 0 };
			snprintf(name, sizeof(name), "%s", iso_fp_name(i));
			if (write(c->out_fd, name, sizeof(name)) != sizeof(name))
				_exit(121);
		}
	}
	iso_fp_arm(ISO_FP_OFF, 0);
	_exit(rc <= 0 ? -rc : 119);
}

static pid_t spawn(struct child_arg *c)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		child_main(c);
	return pid;
}

/* Wait for the child to stop, end, or miss its deadline (I5). */
static int wait_child(struct world *w, pid_t pid, bool want_stop, int *status)
{
	for (int ms = 0; ms < CHILD_DEADLINE_S * 1000; ms++) {
		pid_t r = waitpid(pid, status, WNOHANG | (want_stop ? WUNTRACED : 0));
		if (r == pid)
			return 0;
		sleep_us(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	V(w, false, "I5: the child hung");
	return -1;
}

static unsigned trace(const struct proto *p, char names[][64])
{
	struct world w;
	int fds[2], st;
	world_open(&w, p);
	cr_assert_eq(pipe(fds), 0);
	struct child_arg c = { p, w.seg, ISO_FP_TRACE, 0, fds[1] };
	pid_t pid = spawn(&c);
	close(fds[1]);
	unsigned n = 0;
	cr_assert_eq(read(fds[0], &n, sizeof(n)), (ssize_t)sizeof(n), "trace");
	for (unsigned i = 0; i < n && i < MAX_POINTS; i++)
		cr_assert_eq(read(fds[0], names[i], 64), 64);
	close(fds[0]);
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s: the traced run failed (status 0x%x)", p->name, st);
	world_close(&w);
	cr_assert_gt(n, 0, "%s passes no failpoint", p->name);
	return n < MAX_POINTS ? n : MAX_POINTS;
}

/* The whole table for one protocol: every point killed, every point
 * stalled. Prints one row for RELIABILITY.md. */
static void exhaust(const struct proto *p)
{
	static char names[MAX_POINTS][64];
	unsigned n = trace(p, names), violations = 0, stalls = 0;
	unsigned rounds = stall_rounds();
	for (unsigned mode = 0; mode < 1 + rounds; mode++) {
		for (unsigned k = 1; k <= n; k++) {
			struct world w;
			int st, fds[2];
			world_open(&w, p);
			w.mode = mode ? "stalled" : "killed";
			w.point = k;
			w.point_name = names[k - 1];
			cr_assert_eq(pipe(fds), 0);
			struct child_arg c = { p, w.seg, mode ? ISO_FP_STOP : ISO_FP_KILL,
					       k, fds[1] };
			pid_t pid = spawn(&c);
			close(fds[1]);
			w.out_fd = fds[0];
			if (wait_child(&w, pid, true, &st) == 0) {
				if (mode == 1) {
					V(&w, WIFSTOPPED(st), "the child did not stop");
					stalls++;
					/* Past the cooldown, with the child stopped. */
					unsigned scale = stall_scale[mode - 1];
					sleep_us(PAST_COOLDOWN_US * scale);
					check_consistent(&w);
					for (unsigned r = 0; r < (scale > 1 ? 2u : 1u); r++)
						if (p->interfere)
							p->interfere(&w);
					check_consistent(&w);
					kill(pid, SIGCONT);
					if (wait_child(&w, pid, false, &st) == 0) {
						V(&w, WIFEXITED(st), "resumed child died: 0x%x", st);
						if (p->after)
							p->after(&w, WIFEXITED(st) ? -WEXITSTATUS(st) : 1,
								 false);
					}
				} else {
					V(&w, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
					  "the child was not killed (0x%x)", st);
					if (p->after)
						p->after(&w, 0, true);
				}
				check_consistent(&w);
				check_repaired(&w);
			}
			close(fds[0]);
			violations += w.violations;
			world_close(&w);
		}
	}
	printf("killpoints: %-18s %3u kill points, %3u stall points, %u violations\n",
	       p->name, n, stalls / rounds, violations);
	fflush(stdout);
	cr_expect_eq(violations, 0, "%s: %u invariant violations (see above)",
		     p->name, violations);
}

/* ------------------------------------------------------- protocols */

/* The common interference while a child is stopped: doctor REPAIR must
 * leave a live process's work alone; the key's account is used, retired
 * and registered again (into the same slot when every slot is used). */
static void interfere_key(struct world *w, const char *id)
{
	struct iso_doctor_report d;
	iso_account_t a;
	cr_assert_eq(iso_doctor(w->reg, ISO_DOCTOR_REPAIR, &d), 0);
	V(w, d.reserved_dead == 0, "doctor judged a stopped process dead");
	if (d.reserved_dead)
		for (uint32_t i = 0; i < CAP; i++) {
			iso_pair_t v = iso_slot_pair(w->reg, &w->reg->slots[i]);
			cr_log_error("slot %u: %016llx %016llx", i, (unsigned long long)v.lo, (unsigned long long)v.hi);
		}
	int rc = iso_lookup(w->reg, "user", id, "KRAKEN", &a);
	if (rc == 0) {
		V(w, iso_record_success(&a, NULL, 0) == 0, "writing a live account");
		V(w, iso_retire(&a) == 0, "retiring: %s", iso_last_error());
		sleep_us(PAST_COOLDOWN_US);
	}
	rc = iso_register(w->reg, "user", id, "KRAKEN", &a);
	V(w, rc == 0 || rc == ISO_EFULL, "re-registering: %s", iso_last_error());
	if (rc == 0)
		V(w, iso_record_success(&a, NULL, 0) == 0, "writing the new account");
}

/* register, into a never-used slot */
static int run_register(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	int rc = iso_register(reg, "user", "k", "KRAKEN", &a);
	uint32_t h[2] = { a.slot, a.gen };
	if (rc == 0 && fd >= 0 && write(fd, h, sizeof(h)) != sizeof(h))
		return ISO_ESYS;
	return rc;
}

static void interfere_register(struct world *w) { interfere_key(w, "k"); }

static void after_register(struct world *w, int rc, bool killed)
{
	uint32_t h[2];
	if (killed)
		return;
	V(w, rc == 0, "register answered %d (%s)", rc, iso_strerror(rc));
	if (rc || read(w->out_fd, h, sizeof(h)) != sizeof(h))
		return;
	/* The handle was live when it was returned (item 2): its slot holds
	 * that generation LIVE, or retired it since, or moved past it; never
	 * FREE in that generation (a reservation taken from under us). */
	uint64_t lo = iso_slot_lo(&w->reg->slots[h[0]]);
	V(w, ISO_SW_GEN(lo) > h[1] ||
	     (ISO_SW_GEN(lo) == h[1] && (ISO_SW_STATE(lo) == ISO_SLOT_LIVE ||
					  ISO_SW_STATE(lo) == ISO_SLOT_RETIRED)),
	  "register returned slot %u gen %u, which is gen %u state %u", h[0], h[1],
	  ISO_SW_GEN(lo), ISO_SW_STATE(lo));
}

/* register, into a retired slot of the same key past its cooldown */
static void setup_reuse(struct world *w)
{
	iso_account_t a;
	cr_assert_eq(iso_register(w->reg, "user", "k", "KRAKEN", &a), 0);
	fill_slots(w);
	cr_assert_eq(iso_retire(&a), 0);
	sleep_us(PAST_COOLDOWN_US);
}

/* retire */
static void setup_one(struct world *w)
{
	iso_account_t a;
	cr_assert_eq(iso_register(w->reg, "user", "k", "KRAKEN", &a), 0);
}

static void setup_one_full(struct world *w)
{
	setup_one(w);
	fill_slots(w);
}

static int run_retire(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	int rc = iso_lookup(reg, "user", "k", "KRAKEN", &a);
	return rc ? rc : iso_retire(&a);
}

static void after_retire(struct world *w, int rc, bool killed)
{
	if (killed)
		return;
	/* The interference retired the key and registered it again (into
	 * the same slot, every slot being used): a stalled retire must not
	 * touch the new account (item 4), and its refusal is counted. */
	iso_account_t a;
	V(w, rc == 0 || rc == ISO_ESTALE, "retire answered %d", rc);
	if (rc == ISO_ESTALE) {
		struct iso_report r;
		cr_assert_eq(iso_report(w->reg, &r), 0);
		V(w, r.cross_account_errors >= 1, "I6: a refused stale retire is not counted");
		V(w, iso_lookup(w->reg, "user", "k", "KRAKEN", &a) == 0,
		  "the stalled retire removed the next account of its key");
	}
}

/* breaker transitions through the whole cycle */
static int run_cycle(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	iso_permit_t p;
	int rc = iso_lookup(reg, "user", "k", "KRAKEN", &a);
	if (rc)
		return rc;
	if ((rc = iso_force_open(&a)) || (rc = iso_reset(&a)))
		return rc;
	if ((rc = iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 1000)) ||
	    (rc = iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 1000)))
		return rc;
	/* past open_timeout_ms, on the coarse clock (4 ms ticks) too, so the
	 * path, and so the points passed, are the same on every run */
	sleep_us(20000);
	if ((rc = iso_acquire(&a, &p)) && rc != ISO_EOPEN)
		return rc;
	return iso_record_success(&a, &p, 1000);
}

static void after_cycle(struct world *w, int rc, bool killed)
{
	iso_account_t a;
	struct iso_status st;
	if (!killed)
		V(w, rc == 0 || rc == ISO_ESTALE, "the cycle answered %d", rc);
	if (rc == ISO_ESTALE) {
		struct iso_report r;
		cr_assert_eq(iso_report(w->reg, &r), 0);
		V(w, r.cross_account_errors >= 1, "I6: a refused stale write is not counted");
	}
	/* Whatever happened, the key's account has a valid breaker that
	 * works: and when the interference replaced it, the stale process
	 * moved nothing of the new one's (item 6). */
	if (iso_lookup(w->reg, "user", "k", "KRAKEN", &a) == 0) {
		V(w, iso_status(&a, &st) == 0, "status: %s", iso_last_error());
		/* The stated bound: a counter add that passed its check and
		 * then stalled past the cooldown lands, and is counted. The
		 * breaker (a CAS on the full generation) never moves. */
		struct iso_report r;
		cr_assert_eq(iso_report(w->reg, &r), 0);
		if (!killed && rc == ISO_ESTALE)
			V(w, st.health == ISO_HEALTHY &&
			     (st.failures == 0 || r.cross_account_errors >= 1),
			  "a stale handle moved the next account (%s, %llu failures, "
			  "%llu detected)", iso_health_name(st.health),
			  (unsigned long long)st.failures,
			  (unsigned long long)r.cross_account_errors);
		V(w, iso_reset(&a) == 0, "reset");
		iso_permit_t p;
		V(w, iso_acquire(&a, &p) == 0, "acquire after reset");
	}
}

/* configure */
static int run_configure(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	struct iso_config c = test_defaults();
	c.failure_threshold = 7;
	c.success_threshold = 6;
	c.open_timeout_ms = 5000;
	c.max_open_timeout_ms = 9000;
	c.probe_timeout_ms = 4000;
	c.trip_on = ISO_FAIL_MASK(ISO_FAIL_AUTHENTICATION);
	int rc = iso_lookup(reg, "user", "k", "KRAKEN", &a);
	return rc ? rc : iso_configure(&a, &c);
}

static void after_configure(struct world *w, int rc, bool killed)
{
	iso_account_t a;
	struct iso_status st;
	if (iso_lookup(w->reg, "user", "k", "KRAKEN", &a) || iso_status(&a, &st))
		return;
	/* Each field old or new, and the whole valid; the next configure
	 * replaces the lot. */
	struct iso_config old = test_defaults();
	V(w, st.config.failure_threshold == old.failure_threshold ||
	     st.config.failure_threshold == 7, "failure_threshold %u",
	  st.config.failure_threshold);
	V(w, iso_config_validate(&st.config) == 0 ||
	     st.config.max_open_timeout_ms < st.config.open_timeout_ms,
	  "config in force invalid: %s", iso_last_error());
	V(w, iso_configure(&a, &old) == 0, "reconfigure");
	V(w, iso_status(&a, &st) == 0 && st.config.failure_threshold == 2 &&
	     st.config.open_timeout_ms == 1, "the next configure did not win");
}

/* doctor REPAIR over every kind of leftover */
static pid_t killed_at(struct world *w, const struct proto *p, const char *point);

static int run_register_k(iso_reg_t *reg, const char *id)
{
	iso_account_t a;
	return iso_register(reg, "user", id, "KRAKEN", &a);
}
static int run_reg_d1(iso_reg_t *reg, int fd) { return run_register_k(reg, "d1"); }
static int run_reg_d2(iso_reg_t *reg, int fd) { return run_register_k(reg, "d2"); }
static int run_retire_d3(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	int rc = iso_lookup(reg, "user", "d3", "KRAKEN", &a);
	return rc ? rc : iso_retire(&a);
}
static const struct proto reg_d1 = { .name = "reg_d1", .run = run_reg_d1 };
static const struct proto reg_d2 = { .name = "reg_d2", .run = run_reg_d2 };
static void setup_d3(struct world *w)
{
	iso_account_t a;
	cr_assert_eq(iso_register(w->reg, "user", "d3", "KRAKEN", &a), 0);
}
static const struct proto retire_d3 = { .name = "retire_d3", .setup = setup_d3,
					.run = run_retire_d3 };

/* Kill a child at the first point named @point (or after the last). */
static pid_t killed_at(struct world *w, const struct proto *p, const char *point)
{
	static char names[MAX_POINTS][64];
	unsigned n = 0, k = 0;
	/* Find @point's number by a trace in a throwaway world: the points
	 * a protocol passes are fixed by its code. */
	struct world tw;
	int fds[2], st;
	world_open(&tw, p);
	cr_assert_eq(pipe(fds), 0);
	struct child_arg tc = { p, tw.seg, ISO_FP_TRACE, 0, fds[1] };
	pid_t tp = spawn(&tc);
	close(fds[1]);
	cr_assert_eq(read(fds[0], &n, sizeof(n)), (ssize_t)sizeof(n));
	for (unsigned i = 0; i < n && i < MAX_POINTS; i++) {
		cr_assert_eq(read(fds[0], names[i], 64), 64);
		if (!k && !strcmp(names[i], point))
			k = i + 1;
	}
	close(fds[0]);
	waitpid(tp, &st, 0);
	world_close(&tw);
	cr_assert_neq(k, 0, "%s has no point %s", p->name, point);
	struct child_arg c = { p, w->seg, ISO_FP_KILL, k, -1 };
	pid_t pid = spawn(&c);
	waitpid(pid, &st, 0);
	cr_assert(WIFSIGNALED(st), "%s was not killed at %s", p->name, point);
	return pid;
}

static void setup_leftovers(struct world *w)
{
	/* d1: killed after publishing its entry, before its LIVE CAS. */
	killed_at(w, &reg_d1, "register.generation");
	/* d2: killed with its entry still pending. */
	killed_at(w, &reg_d2, "dir.publish");
	/* d3: retired, killed before giving its entry back. */
	setup_d3(w);
	killed_at(w, &retire_d3, "retire.entry");
}

static int run_doctor(iso_reg_t *reg, int fd)
{
	struct iso_doctor_report d;
	return iso_doctor(reg, ISO_DOCTOR_REPAIR, &d);
}

static void interfere_doctor(struct world *w)
{
	iso_account_t a;
	/* d1 exists (its entry is live); d2 and d3 do not. */
	V(w, iso_lookup(w->reg, "user", "d1", "KRAKEN", &a) == 0,
	  "a published entry's account is not found");
	V(w, iso_lookup(w->reg, "user", "d3", "KRAKEN", &a) == ISO_ENOENT,
	  "a retired account is found");
	V(w, iso_register(w->reg, "user", "d2", "KRAKEN", &a) == 0,
	  "registering over a dead pending entry: %s", iso_last_error());
}

/* create: a segment built and linked into place */
static int run_create(iso_reg_t *reg, int fd)
{
	char name[300];
	iso_reg_t *r;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE, .capacity = 64 };
	snprintf(name, sizeof(name), "%s-new", reg->name);
	int rc = iso_attach(name, &o, &r);
	if (rc)
		return rc;
	iso_account_t a;
	rc = iso_register(r, "user", "c", "KRAKEN", &a);
	iso_detach(r);
	return rc;
}

static void check_created(struct world *w, bool want)
{
	char name[200];
	iso_reg_t *r;
	snprintf(name, sizeof(name), "%s-new", w->seg);
	int rc = iso_attach(name, &(struct iso_attach_opts){ .attach_timeout_ms = 50 }, &r);
	V(w, rc == 0 || rc == ISO_ENOENT, "I2: a half-made segment: %s",
	  iso_last_error());
	if (rc == 0) {
		struct iso_doctor_report d;
		V(w, iso_doctor(r, 0, &d) == 0 && d.ok, "the new segment is damaged");
		iso_detach(r);
	}
	/* Creating it now works and leaves no temporary file behind. */
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE, .capacity = 64 };
	V(w, iso_attach(name, &o, &r) == 0, "create after: %s", iso_last_error());
	if (r)
		iso_detach(r);
	char pattern[160];
	snprintf(pattern, sizeof(pattern), "%s-new.", w->seg + 1);
	unsigned left = 0;
	char *list = chaos_shm_list(pattern, &left);
	free(list);
	V(w, left == 0 || !want, "%u temporary objects left behind", left);
	iso_unlink(name);
}

static void interfere_create(struct world *w)
{
	char name[200];
	iso_reg_t *r;
	snprintf(name, sizeof(name), "%s-new", w->seg);
	int rc = iso_attach(name, &(struct iso_attach_opts){ .attach_timeout_ms = 50 }, &r);
	V(w, rc == 0 || rc == ISO_ENOENT, "attach beside a stopped creator: %s",
	  iso_last_error());
	if (rc == 0)
		iso_detach(r);
}

static void after_create(struct world *w, int rc, bool killed)
{
	if (!killed)
		V(w, rc == 0, "create answered %d", rc);
	check_created(w, true);
}

/* event reader: a stalled reader never shows a key made of two accounts */
static int run_read_events(iso_reg_t *reg, int fd)
{
	struct iso_event ev[16];
	uint64_t cur = 0;
	int n = iso_events_read(reg, &cur, ev, 16, NULL);
	for (int i = 0; i < n; i++) {
		if (ev[i].slot == 1 && fd >= 0 &&
		    write(fd, &ev[i].key, sizeof(ev[i].key)) < 0)
			return ISO_ESYS;
	}
	return n < 0 ? n : 0;
}

static void interfere_events(struct world *w)
{
	/* k's slot (1) is retired and reused by another key. */
	iso_account_t a;
	cr_assert_eq(iso_lookup(w->reg, "user", "k", "KRAKEN", &a), 0);
	cr_assert_eq(iso_retire(&a), 0);
	sleep_us(PAST_COOLDOWN_US);
	cr_assert_eq(iso_register(w->reg, "user", "other-account", "BINANCE", &a), 0);
	cr_assert_eq(a.slot, 1u);
}

static void after_events(struct world *w, int rc, bool killed)
{
	struct iso_key k;
	if (killed)
		return;
	V(w, rc == 0, "reading events answered %d", rc);
	while (read(w->out_fd, &k, sizeof(k)) == (ssize_t)sizeof(k)) {
		bool empty = !k.type[0] && !k.id[0] && !k.broker[0];
		bool ours = !strcmp(k.type, "user") && !strcmp(k.id, "k") &&
			    !strcmp(k.broker, "KRAKEN");
		V(w, empty || ours, "an event of k shows key %s/%s/%s", k.type,
		  k.id, k.broker);
	}
}

/* broker-wide halt, then its release (not the bystander's broker) */
static void setup_coinbase(struct world *w)
{
	iso_account_t a;
	cr_assert_eq(iso_register(w->reg, "user", "cb", "COINBASE", &a), 0);
}

static int run_broker(iso_reg_t *reg, int fd)
{
	int rc = iso_halt_broker(reg, "COINBASE", &(struct iso_op){ .reason = "kp" });
	return rc ? rc : iso_release_broker(reg, "COINBASE", NULL);
}

static void after_broker(struct world *w, int rc, bool killed)
{
	char names[4][ISO_BROKER_MAX + 1];
	iso_account_t a;
	iso_permit_t p;
	if (!killed)
		V(w, rc == 0, "halt and release answered %d", rc);
	int n = iso_halted_brokers(w->reg, names, 4);
	/* relaxed, as account.c reads it: a count, nothing read through it. */
	uint32_t count = iso_load32_relaxed(&w->reg->hdr->broker_halts);
	V(w, n >= 0 && count >= (uint32_t)n, "%d halted brokers but a count of %u",
	  n, count);
	/* Halted or not, acquire agrees with the table. */
	cr_assert_eq(iso_lookup(w->reg, "user", "cb", "COINBASE", &a), 0);
	int arc = iso_acquire(&a, &p);
	V(w, (n == 1) == (arc == ISO_EOPEN), "%d halted, acquire answered %d", n, arc);
	if (n == 1)
		V(w, iso_release_broker(w->reg, "COINBASE", NULL) == 0, "release after");
	V(w, iso_acquire(&a, &p) == 0, "the broker stays halted");
}

static const struct proto P_REGISTER = { "register.fresh", NULL, run_register,
	interfere_register, after_register, false, true };
static const struct proto P_REUSE = { "register.reuse", setup_reuse, run_register,
	interfere_register, after_register, true, true };
static const struct proto P_RETIRE = { "retire", setup_one_full, run_retire,
	interfere_register, after_retire, true, false };
static const struct proto P_CYCLE = { "breaker.cycle", setup_one_full, run_cycle,
	interfere_register, after_cycle, true, false };
static const struct proto P_CONFIGURE = { "configure", setup_one, run_configure,
	NULL, after_configure, false, false };
static const struct proto P_DOCTOR = { "doctor.repair", setup_leftovers, run_doctor,
	interfere_doctor, NULL, false, false };
static const struct proto P_CREATE = { "create", NULL, run_create,
	interfere_create, after_create, false, false };
/* k (slot 1) with events of its own: a halt and a release. */
static void setup_events(struct world *w)
{
	iso_account_t a;
	setup_one_full(w);
	cr_assert_eq(iso_lookup(w->reg, "user", "k", "KRAKEN", &a), 0);
	cr_assert_eq(iso_halt(&a, &(struct iso_op){ .reason = "kp" }), 0);
	cr_assert_eq(iso_release(&a, NULL), 0);
}

static const struct proto P_EVENTS = { "events.read", setup_events,
	run_read_events, interfere_events, after_events, true, false };

Test(killpoints, register_into_a_fresh_slot) { exhaust(&P_REGISTER); }
Test(killpoints, register_into_a_reused_slot) { exhaust(&P_REUSE); }
Test(killpoints, retire) { exhaust(&P_RETIRE); }
Test(killpoints, breaker_transitions_and_events) { exhaust(&P_CYCLE); }
Test(killpoints, configure) { exhaust(&P_CONFIGURE); }
Test(killpoints, doctor_repair) { exhaust(&P_DOCTOR); }
Test(killpoints, create) { exhaust(&P_CREATE); }
Test(killpoints, event_reader) { exhaust(&P_EVENTS); }
/*
 * request budget [B9]: spends, a spend the breaker refuses (given back),
 * a refusal. Rate 100/s, burst 3: a unit comes back every 10 ms.
 */
#define KP_BURST 3
static void setup_budget(struct world *w)
{
	iso_account_t a;
	struct iso_config c = test_defaults();
	c.open_timeout_ms = c.max_open_timeout_ms = 60000;
	c.rate_per_s = 100;
	c.burst = KP_BURST;
	cr_assert_eq(iso_register(w->reg, "user", "k", "KRAKEN", &a), 0);
	cr_assert_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
}

static int run_budget(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	iso_permit_t p;
	int rc;
	if ((rc = iso_lookup(reg, "user", "k", "KRAKEN", &a)))
		return rc;
	/* Refusals by budget or breaker are answers, not errors: a stalled
	 * run may find units that came back meanwhile. */
#define KP_ACQ()                                                             \
	do {                                                                 \
		rc = iso_acquire(&a, &p);                                    \
		if (rc && rc != ISO_ELIMIT && rc != ISO_EOPEN)               \
			return rc;                                           \
	} while (0)
	KP_ACQ();
	KP_ACQ();
	for (int i = 0; i < 2; i++) /* trip: threshold 2 */
		if ((rc = iso_record_failure(&a, NULL, ISO_FAIL_API, 0)))
			return rc;
	KP_ACQ(); /* spent, then refused by the breaker: given back */
	if ((rc = iso_reset(&a)))
		return rc;
	KP_ACQ();
	KP_ACQ(); /* the fourth unit within 10 ms: refused by budget */
#undef KP_ACQ
	return 0;
}

static void after_budget(struct world *w, int rc, bool killed)
{
	iso_account_t a;
	struct iso_status st;
	if (!killed)
		V(w, rc == 0, "the budget run answered %d", rc);
	cr_assert_eq(iso_lookup(w->reg, "user", "k", "KRAKEN", &a), 0);
	struct iso_slot *s = &w->reg->slots[a.slot];
	uint64_t tat = iso_load64_relaxed(&s->budget_tat);
	uint64_t now = iso_now_ns();
	/* Never more spent than the burst: TAT <= now + burst * T. */
	V(w, tat <= now + KP_BURST * 10000000ull, "TAT %llu ns past now + "
	  "burst", (unsigned long long)(tat - now));
	V(w, iso_status(&a, &st) == 0, "status");
	V(w, st.budget_available >= 0 && st.budget_available <= KP_BURST,
	  "available %f", st.budget_available);
	V(w, st.failures <= 2, "refusals fed the breaker: %llu failures",
	  (unsigned long long)st.failures);
	/* Nothing held by a dead or stalled spender: the burst is back
	 * after burst * T. */
	sleep_us(KP_BURST * 10000 + 2000);
	V(w, iso_status(&a, &st) == 0 && st.budget_available == KP_BURST,
	  "budget not whole after %u ms: %f", KP_BURST * 10 + 2,
	  st.budget_available);
}

static void interfere_budget(struct world *w)
{
	iso_account_t a;
	iso_permit_t p;
	/* Spend beside the stopped child: its CAS must not double-spend. */
	if (iso_lookup(w->reg, "user", "k", "KRAKEN", &a) == 0) {
		int rc = iso_acquire(&a, &p);
		V(w, rc == 0 || rc == ISO_ELIMIT || rc == ISO_EOPEN,
		  "acquire beside a stalled spender: %d", rc);
	}
}

static const struct proto P_BUDGET = { "budget.spend", setup_budget, run_budget,
	interfere_budget, after_budget, false, false };
Test(killpoints, budget_spend_refund_refuse) { exhaust(&P_BUDGET); }

/*
 * rolling windows [B7]: counts, a rotation into a new bucket, a rate trip
 * (transition and event), and the clear of a breaker that closes. Window
 * 1 s (buckets of 100 ms), min_calls 4, trip at 50 %.
 * W2 every word whole: epoch 0 (cleared) or within a few buckets of now,
 * and a count no larger than every outcome ever recorded on the account.
 */
#define KP_WIN_MS 1000
static void setup_window(struct world *w)
{
	iso_account_t a;
	struct iso_config c = test_defaults();
	c.failure_threshold = c.degrade_after = 255;
	c.open_timeout_ms = c.max_open_timeout_ms = 60000;
	c.window_ms = KP_WIN_MS;
	c.min_calls = 4;
	c.failure_rate_threshold = 50;
	c.slow_call_ms = 1;
	c.slow_call_rate_threshold = 100;
	cr_assert_eq(iso_register(w->reg, "user", "k", "KRAKEN", &a), 0);
	cr_assert_eq(iso_configure(&a, &c), 0, "%s", iso_last_error());
}

static int run_window(iso_reg_t *reg, int fd)
{
	iso_account_t a;
	int rc;
	(void)fd;
	if ((rc = iso_lookup(reg, "user", "k", "KRAKEN", &a)))
		return rc;
	/* A bucket boundary first, on the coarse clock too, so the path
	 * (and the points) are the same on every run: a rotation. */
	sleep_us(110000);
	if ((rc = iso_record_success(&a, NULL, 2000000)) || /* slow */
	    (rc = iso_record_failure(&a, NULL, ISO_FAIL_API, 0)) ||
	    (rc = iso_record_success(&a, NULL, 0)) ||
	    (rc = iso_record_failure(&a, NULL, ISO_FAIL_API, 0))) /* trips */
		return rc;
	return iso_reset(&a); /* closes: the window starts again */
}

static void check_window_words(struct world *w, const iso_account_t *a,
			       uint64_t most)
{
	struct iso_shm_window *win = &w->reg->win[a->slot];
	uint32_t now = iso_window_epoch(iso_now_ms(), KP_WIN_MS);
	const uint64_t *words = win->calls;
	for (int i = 0; i < 3 * ISO_WIN_BUCKETS; i++) {
		uint64_t v = iso_load64_relaxed(&words[i]);
		uint32_t e = ISO_WW_EPOCH(v);
		V(w, v == 0 || (e <= now + 1 && now - e < 1000),
		  "W2: word %d has epoch %u, now %u", i, e, now);
		V(w, ISO_WW_COUNT(v) <= most, "W2: word %d counts %u > %llu",
		  i, ISO_WW_COUNT(v), (unsigned long long)most);
	}
}

static void interfere_window(struct world *w)
{
	iso_account_t a;
	/* Count and rotate beside the stopped child. */
	if (iso_lookup(w->reg, "user", "k", "KRAKEN", &a) == 0) {
		V(w, iso_record_success(&a, NULL, 0) == 0, "success beside");
		V(w, iso_record_failure(&a, NULL, ISO_FAIL_NETWORK, 0) == 0,
		  "failure beside");
	}
}

static void after_window(struct world *w, int rc, bool killed)
{
	iso_account_t a;
	struct iso_status st, st2;
	if (!killed)
		V(w, rc == 0, "the window run answered %d", rc);
	cr_assert_eq(iso_lookup(w->reg, "user", "k", "KRAKEN", &a), 0);
	V(w, iso_status(&a, &st) == 0, "status: %s", iso_last_error());
	/* 4 by the child, 2 per interference round, at most 2 rounds. */
	check_window_words(w, &a, 8);
	V(w, st.window_calls <= st.operations, "window %llu > operations %llu",
	  (unsigned long long)st.window_calls,
	  (unsigned long long)st.operations);
	/* The window goes on counting exactly, whatever was cut short. */
	if (st.breaker == ISO_BREAKER_CLOSED) {
		V(w, iso_record_success(&a, NULL, 0) == 0, "success after");
		V(w, iso_status(&a, &st2) == 0 &&
		     (st2.window_calls == st.window_calls + 1 ||
		      st2.breaker != ISO_BREAKER_CLOSED),
		  "one more success counted %llu -> %llu",
		  (unsigned long long)st.window_calls,
		  (unsigned long long)st2.window_calls);
	}
	V(w, iso_reset(&a) == 0, "reset");
	V(w, iso_status(&a, &st) == 0 && st.window_calls == 0,
	  "a reset leaves %llu calls", (unsigned long long)st.window_calls);
}

static const struct proto P_WINDOW = { "window.rate", setup_window, run_window,
	interfere_window, after_window, false, true };
Test(killpoints, window_count_rotate_trip_clear) { exhaust(&P_WINDOW); }

static const struct proto P_BROKER = { "broker.halt", setup_coinbase, run_broker,
	NULL, after_broker, false, false };
Test(killpoints, broker_halt_and_release) { exhaust(&P_BROKER); }
