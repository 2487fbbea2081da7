/*
 * guard.c - guarded calls: acquire, time, classify, record, release.
 *
 * Owns iso_call, the iso_guard_begin/iso_guard_end pair that ISO_GUARDED
 * is built on, and the iso_outcome setters. It adds no state of its own to
 * the segment: everything it does goes through iso_acquire and
 * iso_record_*, so a guarded call moves the breaker exactly as the bare
 * pair would. It must never leave a permit unrecorded on a path it
 * controls: recording the outcome is what releases a half-open probe
 * permit [B6], and an unrecorded one would hold a probe slot until
 * probe_timeout_ms.
 */
#include <time.h>

#include "internal.h"

enum {
	GUARD_IDLE = 0x6775a000, /* never begun, or refused */
	GUARD_ACTIVE,            /* permit held, clock running */
	GUARD_DONE,              /* outcome recorded */
};

/* --------------------------------------------------------------- outcomes */

void iso_outcome_success(struct iso_outcome *out)
{
	out->kind = ISO_OUTCOME_SUCCESS;
	out->type = ISO_FAIL_UNKNOWN;
	out->retry_after_ms = 0;
}

void iso_outcome_failure(struct iso_outcome *out, enum iso_failure_type type,
			 uint64_t retry_after_ms)
{
	out->kind = ISO_OUTCOME_FAILURE;
	out->type = (unsigned)type < ISO_FAIL__COUNT ? type : ISO_FAIL_UNKNOWN;
	out->retry_after_ms = retry_after_ms;
}

/* Success for ISO_NOT_A_FAILURE, else a failure of that type. */
static void from_class(struct iso_outcome *out, int type, uint64_t retry_ms)
{
	if (type == ISO_NOT_A_FAILURE)
		iso_outcome_success(out);
	else
		iso_outcome_failure(out, (enum iso_failure_type)type, retry_ms);
}

void iso_outcome_errno(struct iso_outcome *out, int err)
{
	from_class(out, iso_classify_errno(err), 0);
}

void iso_outcome_curl(struct iso_outcome *out, int curl_code)
{
	from_class(out, iso_classify_curl(curl_code), 0);
}

void iso_outcome_http(struct iso_outcome *out, int status,
		      const char *retry_after)
{
	uint64_t ms = 0;
	/* Wall time only matters for an HTTP-date; skip the call otherwise. */
	int64_t now = retry_after ? (int64_t)time(NULL) : 0;
	/* Two statements: @ms must be read after the call has set it. */
	int type = iso_classify_http(status, retry_after, now, &ms);
	from_class(out, type, ms);
}

void iso_outcome_message(struct iso_outcome *out, const char *exchange_error)
{
	from_class(out, iso_classify_message(exchange_error), 0);
}

/* ---------------------------------------------------------------- record */

/*
 * Record a normalised outcome with @permit: the one place an outcome
 * becomes a counter. Returns 0, ISO_CALL_FAILED, or the recording error.
 */
static int record(const iso_account_t *acct, const iso_permit_t *permit,
		  const struct iso_outcome *out, uint64_t op_ns)
{
	int rc;

	if (out->kind == ISO_OUTCOME_SUCCESS)
		return iso_record_success(acct, permit, op_ns);
	if (out->retry_after_ms)
		rc = iso_record_failure_retry(acct, permit, out->type, op_ns,
					      out->retry_after_ms);
	else
		rc = iso_record_failure(acct, permit, out->type, op_ns);
	return rc ? rc : ISO_CALL_FAILED;
}

/*
 * The outcome as it will be recorded: a valid success, or a failure with
 * a type in range. NONE and garbage kinds become an UNKNOWN failure.
 */
static void normalise(struct iso_outcome *out)
{
	if (out->kind == ISO_OUTCOME_SUCCESS)
		iso_outcome_success(out);
	else if (out->kind == ISO_OUTCOME_FAILURE)
		iso_outcome_failure(out, out->type, out->retry_after_ms);
	else
		iso_outcome_failure(out, ISO_FAIL_UNKNOWN, 0);
}

/* -------------------------------------------------------------- iso_call */

int iso_call(const iso_account_t *acct, iso_call_fn fn, void *ctx,
	     struct iso_call_result *res)
{
	struct iso_call_result local;
	uint64_t t0;
	int rc;

	if (!res)
		res = &local;
	*res = (struct iso_call_result){ 0 };
	if (!acct || !fn)
		return iso_fail(ISO_EINVAL, "iso_call: %s is NULL",
				acct ? "fn" : "acct");

	rc = iso_acquire(acct, &res->permit);
	if (rc)
		return rc; /* ISO_EOPEN, ISO_ELIMIT: res->permit says why;
			    fn not called */

	t0 = iso_now_ns();
	res->fn_rc = fn(ctx, &res->outcome);
	res->op_ns = iso_now_ns() - t0;
	res->called = true;

	/* Whatever fn did, from here on the permit is recorded exactly once. */
	res->unreported = res->outcome.kind != ISO_OUTCOME_SUCCESS &&
			  res->outcome.kind != ISO_OUTCOME_FAILURE;
	normalise(&res->outcome);
	rc = record(acct, &res->permit, &res->outcome, res->op_ns);
	res->record_rc = rc == ISO_CALL_FAILED ? 0 : rc;
	return rc;
}

/* ---------------------------------------------------------------- guards */

int iso_guard_begin(const iso_account_t *acct, struct iso_guard *guard)
{
	if (!guard)
		return iso_fail(ISO_EINVAL, "iso_guard_begin: guard is NULL");
	/* Field by field, not a struct literal: the permit is filled by
	 * iso_acquire anyway, and zeroing it first cost a measurable few ns
	 * per guarded call (bench_guard). */
	guard->state = GUARD_IDLE;
	guard->outcome = (struct iso_outcome){ 0 };
	guard->op_ns = 0;
	guard->start_ns = 0;
	guard->record_rc = 0;
	if (!acct) {
		guard->permit = (iso_permit_t){ 0 };
		return guard->rc = iso_fail(ISO_EINVAL,
					    "iso_guard_begin: acct is NULL");
	}
	guard->acct = *acct;
	guard->rc = iso_acquire(acct, &guard->permit);
	if (guard->rc)
		return guard->rc;
	guard->state = GUARD_ACTIVE;
	guard->start_ns = iso_now_ns();
	return 0;
}

int iso_guard_end(struct iso_guard *guard, const struct iso_outcome *outcome)
{
	struct iso_outcome out = { 0 };
	int rc;

	if (!guard)
		return iso_fail(ISO_EINVAL, "iso_guard_end: guard is NULL");
	if (guard->state != GUARD_ACTIVE)
		return iso_fail(ISO_EINVAL, "iso_guard_end: guard is not "
				"active (%s)", guard->state == GUARD_DONE ?
				"already ended" : "never begun or refused");
	guard->op_ns = iso_now_ns() - guard->start_ns;
	/* Marked done before recording: a second end must never count twice,
	 * whatever the recording returns. */
	guard->state = GUARD_DONE;
	if (outcome)
		out = *outcome;
	normalise(&out);
	guard->outcome = out;
	rc = record(&guard->acct, &guard->permit, &out, guard->op_ns);
	guard->record_rc = rc == ISO_CALL_FAILED ? 0 : rc;
	return rc;
}
