/*
 * mutex_baseline.c - the reference's per-account-lock manager, in C.
 *
 * The reference (MULTI_ACCOUNT_ISOLATION_ARCHITECTURE.md) keeps a dict of
 * accounts under a manager lock and a lock per account; each call takes
 * the account's lock, reads the wall clock for its timestamps, updates the
 * consecutive counts, the health, the breaker and the counters, and lets
 * go. Here the locks are PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST
 * mutexes in MAP_SHARED memory: the only way a lock-based design can serve
 * several processes and survive one being killed while holding a lock (the
 * next locker gets EOWNERDEAD, marks the lock consistent and carries on
 * with whatever half-updated record it finds).
 *
 * Decisions follow SPEC §3 exactly as isoreg makes them (degrade_after,
 * trip_on, ignore, back-off, probe permits released by outcomes), so a
 * comparison measures synchronisation, not different work. It must never
 * be used outside the harnesses.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "atomic.h"
#include "bench.h"
#include "mutex_baseline.h"

struct mb_account {
	pthread_mutex_t lock;
	char key[ISO_KEY_STR_MAX + 1]; /* "type/id/BROKER", normalised */
	uint64_t hash;
	struct mb_config config;

	/* Circuit breaker. */
	enum iso_breaker_state state;
	enum iso_health health;
	uint32_t consecutive_failures;
	uint32_t consecutive_successes;
	uint32_t half_open_calls;
	uint32_t backoff_step;
	uint64_t open_until_ns; /* monotonic */

	/* Metrics, as the reference's AccountMetrics keeps them. */
	uint64_t total_operations;
	uint64_t successes;
	uint64_t total_failures; /* kept beside the per-type counts, as there */
	uint64_t failures_by_type[ISO_FAIL__COUNT];
	uint64_t quarantines;
	int64_t last_success_ms;
	int64_t last_failure_ms;
	uint64_t timed_operations;
	double total_op_ms;
	double avg_op_ms;
	double ema_op_ms;
} __attribute__((aligned(64)));

struct mb_registry {
	pthread_mutex_t lock; /* the manager lock: dict and count */
	uint32_t capacity;
	uint32_t count;
	uint32_t table_mask;
	uint32_t _pad;
	uint64_t owner_dead; /* relaxed counter: EOWNERDEAD recoveries */
	struct mb_config defaults;
	size_t size;
	uint32_t *table;     /* account index + 1; 0 = empty */
	struct mb_account *accounts;
} __attribute__((aligned(64)));

void mb_config_default(struct mb_config *c)
{
	c->failure_threshold = 5;
	c->success_threshold = 3;
	c->half_open_max_calls = 1;
	c->degrade_after = 1;
	c->open_timeout_ms = 300000;
	c->max_open_timeout_ms = 3600000;
	c->trip_on = 0;
	c->ignore = 0;
}

static void init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(m, &a) != 0)
		bench_die("robust process-shared mutex: unsupported");
	pthread_mutexattr_destroy(&a);
}

/*
 * Take a robust lock. A holder that died leaves EOWNERDEAD: the record may
 * be half-updated, and the reference has no way to repair it, so like any
 * robust-mutex user that cannot roll back we mark it consistent and go on.
 */
static void lock(struct mb_registry *r, pthread_mutex_t *m)
{
	int rc = pthread_mutex_lock(m);
	if (rc == EOWNERDEAD) {
		iso_add64_relaxed(&r->owner_dead, 1);
		pthread_mutex_consistent(m);
	} else if (rc != 0) {
		bench_die("pthread_mutex_lock: %s", strerror(rc));
	}
}

static void unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct mb_registry *mb_create(uint32_t capacity, const struct mb_config *c)
{
	uint32_t tsize = 2;
	while (tsize < 2 * capacity)
		tsize *= 2;
	size_t head = (sizeof(struct mb_registry) + 63) & ~(size_t)63;
	size_t tbytes = ((size_t)tsize * sizeof(uint32_t) + 63) & ~(size_t)63;
	size_t size = head + tbytes + (size_t)capacity * sizeof(struct mb_account);
	char *base = bench_shared_alloc(size);
	struct mb_registry *r = (struct mb_registry *)base;
	init_lock(&r->lock);
	r->capacity = capacity;
	r->table_mask = tsize - 1;
	r->size = size;
	if (c)
		r->defaults = *c;
	else
		mb_config_default(&r->defaults);
	r->table = (uint32_t *)(base + head);
	r->accounts = (struct mb_account *)(base + head + tbytes);
	return r;
}

void mb_destroy(struct mb_registry *r)
{
	bench_shared_free(r, r->size);
}

/* Normalise as the reference does: type and id lower, broker upper. */
static int make_key(char *out, const char *type, const char *id,
		    const char *broker)
{
	size_t lt = strlen(type), li = strlen(id), lb = strlen(broker);
	if (lt < 1 || lt > ISO_TYPE_MAX || li < 1 || li > ISO_ID_MAX ||
	    lb < 1 || lb > ISO_BROKER_MAX)
		return -1;
	char *p = out;
	for (size_t i = 0; i < lt; i++)
		*p++ = (char)tolower((unsigned char)type[i]);
	*p++ = '/';
	for (size_t i = 0; i < li; i++)
		*p++ = (char)tolower((unsigned char)id[i]);
	*p++ = '/';
	for (size_t i = 0; i < lb; i++)
		*p++ = (char)toupper((unsigned char)broker[i]);
	*p = '\0';
	return 0;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Probe for @key under the registry lock; returns its table position. */
static uint32_t probe(struct mb_registry *r, const char *key, uint64_t h,
		      bool *found)
{
	uint32_t pos = (uint32_t)h & r->table_mask;
	for (;;) {
		uint32_t e = r->table[pos];
		if (e == 0) {
			*found = false;
			return pos;
		}
		struct mb_account *a = &r->accounts[e - 1];
		if (a->hash == h && strcmp(a->key, key) == 0) {
			*found = true;
			return pos;
		}
		pos = (pos + 1) & r->table_mask;
	}
}

static int find(struct mb_registry *r, const char *type, const char *id,
		const char *broker, bool create)
{
	char key[ISO_KEY_STR_MAX + 1];
	if (make_key(key, type, id, broker) != 0)
		return -1;
	uint64_t h = fnv1a(key);
	bool found;
	lock(r, &r->lock);
	uint32_t pos = probe(r, key, h, &found);
	int idx;
	if (found) {
		idx = (int)r->table[pos] - 1;
	} else if (!create) {
		idx = -1;
	} else if (r->count >= r->capacity) {
		idx = -2;
	} else {
		idx = (int)r->count++;
		struct mb_account *a = &r->accounts[idx];
		init_lock(&a->lock);
		snprintf(a->key, sizeof(a->key), "%s", key);
		a->hash = h;
		a->config = r->defaults;
		a->state = ISO_BREAKER_CLOSED;
		a->health = ISO_HEALTHY;
		r->table[pos] = (uint32_t)idx + 1;
	}
	unlock(&r->lock);
	return idx;
}

int mb_register(struct mb_registry *r, const char *type, const char *id,
		const char *broker)
{
	return find(r, type, id, broker, true);
}

int mb_lookup(struct mb_registry *r, const char *type, const char *id,
	      const char *broker)
{
	return find(r, type, id, broker, false);
}

static uint64_t mono_ns(void)
{
	return tc_mono_ns();
}

bool mb_can_execute(struct mb_registry *r, int acct, enum iso_reason *why)
{
	struct mb_account *a = &r->accounts[acct];
	bool ok = true;
	enum iso_reason reason = ISO_REASON_HEALTHY;
	lock(r, &a->lock);
	switch (a->state) {
	case ISO_BREAKER_FORCED_OPEN:
		ok = false;
		reason = ISO_REASON_FORCED_OPEN;
		break;
	case ISO_BREAKER_OPEN:
		if (mono_ns() < a->open_until_ns) {
			ok = false;
			reason = ISO_REASON_OPEN;
			break;
		}
		a->state = ISO_BREAKER_HALF_OPEN;
		a->health = ISO_RECOVERING;
		a->half_open_calls = 0;
		a->consecutive_successes = 0;
		/* The first probe may go now. */
		__attribute__((fallthrough));
	case ISO_BREAKER_HALF_OPEN:
		if (a->half_open_calls >= a->config.half_open_max_calls) {
			ok = false;
			reason = ISO_REASON_HALF_OPEN_LIMIT;
		} else {
			a->half_open_calls++;
			reason = ISO_REASON_PROBE;
		}
		break;
	case ISO_BREAKER_CLOSED:
	default:
		reason = a->health == ISO_DEGRADED ? ISO_REASON_DEGRADED
						   : ISO_REASON_HEALTHY;
		break;
	}
	unlock(&a->lock);
	if (why)
		*why = reason;
	return ok;
}

static void note_time(struct mb_account *a, uint64_t op_ns)
{
	if (op_ns == 0)
		return;
	double ms = (double)op_ns / 1e6;
	a->timed_operations++;
	a->total_op_ms += ms;
	a->avg_op_ms = a->total_op_ms / (double)a->timed_operations;
	a->ema_op_ms = a->timed_operations == 1 ? ms
						: 0.1 * ms + 0.9 * a->ema_op_ms;
}

void mb_record_success(struct mb_registry *r, int acct, uint64_t op_ns)
{
	struct mb_account *a = &r->accounts[acct];
	lock(r, &a->lock);
	a->total_operations++;
	a->successes++;
	a->last_success_ms = wall_ms();
	note_time(a, op_ns);
	a->consecutive_failures = 0;
	if (a->consecutive_successes < 255)
		a->consecutive_successes++;
	switch (a->state) {
	case ISO_BREAKER_HALF_OPEN:
		if (a->half_open_calls > 0)
			a->half_open_calls--;
		if (a->consecutive_successes >= a->config.success_threshold) {
			a->state = ISO_BREAKER_CLOSED;
			a->health = ISO_HEALTHY;
			a->backoff_step = 0;
		}
		break;
	case ISO_BREAKER_CLOSED:
		if (a->health == ISO_DEGRADED &&
		    a->consecutive_successes >= a->config.success_threshold)
			a->health = ISO_HEALTHY;
		break;
	default: /* OPEN: work from before the trip moves nothing [B6] */
		break;
	}
	unlock(&a->lock);
}

static void trip(struct mb_account *a, enum iso_health to, uint32_t open_ms)
{
	a->state = ISO_BREAKER_OPEN;
	a->health = to;
	a->half_open_calls = 0;
	a->open_until_ns = mono_ns() + (uint64_t)open_ms * 1000000ull;
}

void mb_record_failure(struct mb_registry *r, int acct,
		       enum iso_failure_type type, uint64_t op_ns)
{
	struct mb_account *a = &r->accounts[acct];
	if ((unsigned)type >= ISO_FAIL__COUNT)
		type = ISO_FAIL_UNKNOWN;
	lock(r, &a->lock);
	a->total_operations++;
	a->total_failures++;
	a->failures_by_type[type]++;
	a->last_failure_ms = wall_ms();
	note_time(a, op_ns);
	if (a->config.ignore & ISO_FAIL_MASK(type)) {
		unlock(&a->lock);
		return;
	}
	a->consecutive_successes = 0;
	if (a->consecutive_failures < 255)
		a->consecutive_failures++;
	switch (a->state) {
	case ISO_BREAKER_HALF_OPEN: {
		if (a->backoff_step < 31)
			a->backoff_step++;
		uint64_t ms = (uint64_t)a->config.open_timeout_ms
			      << a->backoff_step;
		if (ms > a->config.max_open_timeout_ms)
			ms = a->config.max_open_timeout_ms;
		trip(a, ISO_FAILING, (uint32_t)ms);
		break;
	}
	case ISO_BREAKER_CLOSED:
		if ((a->config.trip_on & ISO_FAIL_MASK(type)) ||
		    a->consecutive_failures >= a->config.failure_threshold) {
			a->quarantines++;
			trip(a, ISO_QUARANTINED, a->config.open_timeout_ms);
		} else if (a->consecutive_failures >= a->config.degrade_after) {
			a->health = ISO_DEGRADED;
		}
		break;
	default:
		break;
	}
	unlock(&a->lock);
}

void mb_status(struct mb_registry *r, int acct, struct mb_status *st)
{
	struct mb_account *a = &r->accounts[acct];
	lock(r, &a->lock);
	st->state = a->state;
	st->health = a->health;
	st->consecutive_failures = a->consecutive_failures;
	st->consecutive_successes = a->consecutive_successes;
	st->half_open_calls = a->half_open_calls;
	st->backoff_step = a->backoff_step;
	st->total_operations = a->total_operations;
	st->successes = a->successes;
	st->total_failures = a->total_failures;
	memcpy(st->failures_by_type, a->failures_by_type,
	       sizeof(st->failures_by_type));
	st->quarantines = a->quarantines;
	st->last_success_ms = a->last_success_ms;
	st->last_failure_ms = a->last_failure_ms;
	st->avg_op_ms = a->avg_op_ms;
	st->ema_op_ms = a->ema_op_ms;
	unlock(&a->lock);
}

void mb_reset(struct mb_registry *r, int acct)
{
	struct mb_account *a = &r->accounts[acct];
	lock(r, &a->lock);
	a->state = ISO_BREAKER_CLOSED;
	a->health = ISO_HEALTHY;
	a->consecutive_failures = 0;
	a->consecutive_successes = 0;
	a->half_open_calls = 0;
	a->backoff_step = 0;
	unlock(&a->lock);
}

uint32_t mb_count(struct mb_registry *r)
{
	lock(r, &r->lock);
	uint32_t n = r->count;
	unlock(&r->lock);
	return n;
}

uint64_t mb_owner_dead(struct mb_registry *r)
{
	return iso_load64_relaxed(&r->owner_dead);
}
