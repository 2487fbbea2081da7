/*
 * bykey.c - the reference's calls by key (acquire, record, status, reset
 * by type/id/broker): each registers the account if needed, like the
 * reference, or looks it up, then calls the handle's function. On top of
 * everything else; nothing calls up into it.
 */
#include "internal.h"

#define BY_KEY(reg, type, id, broker, acct)                                  \
	iso_account_t acct;                                                  \
	int rc_ = iso_register((reg), (type), (id), (broker), &acct);        \
	if (rc_)                                                             \
		return rc_

int iso_acquire_by_key(iso_reg_t *reg, const char *type, const char *id,
		       const char *broker, iso_permit_t *permit)
{
	BY_KEY(reg, type, id, broker, a);
	return iso_acquire(&a, permit);
}

int iso_record_success_by_key(iso_reg_t *reg, const char *type,
			      const char *id, const char *broker,
			      uint64_t op_ns)
{
	BY_KEY(reg, type, id, broker, a);
	return iso_record_success(&a, NULL, op_ns);
}

int iso_record_failure_by_key(iso_reg_t *reg, const char *type,
			      const char *id, const char *broker,
			      enum iso_failure_type ftype, uint64_t op_ns,
			      uint64_t retry_after_ms)
{
	if ((unsigned)ftype >= ISO_FAIL__COUNT)
		return iso_fail(ISO_EINVAL, "failure type %d out of range "
				"0..%d", (int)ftype, ISO_FAIL__COUNT - 1);
	BY_KEY(reg, type, id, broker, a);
	return iso_record_failure_retry(&a, NULL, ftype, op_ns, retry_after_ms);
}

int iso_status_by_key(iso_reg_t *reg, const char *type, const char *id,
		      const char *broker, struct iso_status *st)
{
	iso_account_t a;
	int rc = iso_lookup(reg, type, id, broker, &a);
	return rc ? rc : iso_status(&a, st);
}

int iso_reset_by_key(iso_reg_t *reg, const char *type, const char *id,
		     const char *broker)
{
	iso_account_t a;
	int rc = iso_lookup(reg, type, id, broker, &a);
	return rc ? rc : iso_reset(&a);
}
