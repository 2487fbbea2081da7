/*
 * mutex_baseline.h - the reference design in C, as a baseline [P3]: an
 * account manager whose every call takes a lock, here a process-shared
 * robust pthread mutex per account (and one for the registry), so it can
 * serve many processes the way isoreg does.
 *
 * It makes the same decisions as isoreg's breaker (SPEC §3) so that the
 * two are compared on the cost of their synchronisation, not on different
 * work. Only the harnesses use it.
 */
#ifndef ISO_BENCH_MUTEX_BASELINE_H
#define ISO_BENCH_MUTEX_BASELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "isoreg.h"

struct mb_registry;

struct mb_config {
	uint32_t failure_threshold;
	uint32_t success_threshold;
	uint32_t half_open_max_calls;
	uint32_t degrade_after;
	uint32_t open_timeout_ms;
	uint32_t max_open_timeout_ms;
	uint32_t trip_on; /* ISO_FAIL_MASK()s */
	uint32_t ignore;
};

/* What mb_status copies out, under the account's lock. */
struct mb_status {
	enum iso_breaker_state state;
	enum iso_health health;
	uint32_t consecutive_failures;
	uint32_t consecutive_successes;
	uint32_t half_open_calls;
	uint32_t backoff_step;
	uint64_t total_operations;
	uint64_t successes;
	uint64_t total_failures;
	uint64_t failures_by_type[ISO_FAIL__COUNT];
	uint64_t quarantines;
	int64_t last_success_ms;
	int64_t last_failure_ms;
	double avg_op_ms;
	double ema_op_ms;
};

/* mb_config_default - the defaults of SPEC §3. */
void mb_config_default(struct mb_config *c);

/*
 * mb_create - a registry of @capacity accounts in MAP_SHARED anonymous
 * memory: processes forked afterwards share it. Exits on failure.
 */
struct mb_registry *mb_create(uint32_t capacity, const struct mb_config *c);
void mb_destroy(struct mb_registry *r);

/*
 * mb_register - find or create the account; mb_lookup - find only.
 * Both take the registry lock. Return the account index (>= 0), -1 for a
 * bad key or an unknown one (lookup), -2 when full.
 */
int mb_register(struct mb_registry *r, const char *type, const char *id,
		const char *broker);
int mb_lookup(struct mb_registry *r, const char *type, const char *id,
	      const char *broker);

/* mb_can_execute - the reference's can_execute_operation. */
bool mb_can_execute(struct mb_registry *r, int acct, enum iso_reason *why);

/* mb_record_success / mb_record_failure - the reference's record_*. */
void mb_record_success(struct mb_registry *r, int acct, uint64_t op_ns);
void mb_record_failure(struct mb_registry *r, int acct,
		       enum iso_failure_type type, uint64_t op_ns);

/* mb_status - get_account_status: a copy taken under the account lock. */
void mb_status(struct mb_registry *r, int acct, struct mb_status *st);

/* mb_reset - reset_account. */
void mb_reset(struct mb_registry *r, int acct);

/* mb_count - accounts registered. */
uint32_t mb_count(struct mb_registry *r);

/*
 * mb_owner_dead - how many times a locker found a lock whose holder had
 * died (EOWNERDEAD) and made it consistent again.
 */
uint64_t mb_owner_dead(struct mb_registry *r);

#endif /* ISO_BENCH_MUTEX_BASELINE_H */
