/*
 * report.c - the registry-wide view (get_isolation_report): accounts per
 * health, totals, and per broker how many accounts are unhealthy, so that
 * a broker-wide incident shows as one. Reads only; works read-only.
 */
#include <string.h>

#include "internal.h"

static int add_account(const struct iso_status *st, void *ctx)
{
	struct iso_report *r = ctx;
	r->total_accounts++;
	r->by_health[st->health]++;
	r->total_operations += st->operations;
	r->total_failures += st->failures;
	r->total_quarantines += st->quarantines;

	struct iso_broker_summary *b = NULL;
	for (uint32_t i = 0; i < r->brokers_count; i++) {
		if (!strcmp(r->brokers[i].broker, st->key.broker)) {
			b = &r->brokers[i];
			break;
		}
	}
	if (!b) {
		if (r->brokers_count == ISO_REPORT_MAX_BROKERS) {
			r->brokers_dropped++;
			return 0;
		}
		b = &r->brokers[r->brokers_count++];
		memcpy(b->broker, st->key.broker, sizeof(b->broker));
	}
	b->accounts++;
	if (st->health == ISO_DEGRADED)
		b->degraded++;
	else if (st->health != ISO_HEALTHY)
		b->unhealthy++;
	return 0;
}

int iso_report(iso_reg_t *reg, struct iso_report *r)
{
	if (!iso_reg_ok(reg) || !r)
		return iso_fail(ISO_EINVAL, "iso_report: NULL argument");
	memset(r, 0, sizeof(*r));
	r->capacity = reg->capacity;
	int rc = iso_foreach(reg, add_account, r);
	if (rc)
		return rc;
	r->cross_account_errors = iso_load64_relaxed(&reg->hdr->cross_account_errors);
	r->isolation_active = r->cross_account_errors == 0;
	return 0;
}
