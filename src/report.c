/*
 * report.c - the registry-wide view (get_isolation_report): accounts per
 * health, totals, and per broker how many accounts are unhealthy, so that
 * a broker-wide incident shows as one (the library decides the flag, the
 * tools show it). iso_snapshot gives the accounts and the totals from one
 * walk. Reads only; works read-only.
 */
#include <string.h>

#include "internal.h"

struct walk {
	struct iso_report *r;
	iso_foreach_fn fn;
	void *ctx;
};

static void add_account(struct iso_report *r, const struct iso_status *st)
{
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
			return;
		}
		b = &r->brokers[r->brokers_count++];
		memcpy(b->broker, st->key.broker, sizeof(b->broker));
	}
	b->accounts++;
	if (st->health == ISO_DEGRADED)
		b->degraded++;
	else if (st->health != ISO_HEALTHY)
		b->unhealthy++;
}

static int visit(const struct iso_status *st, void *ctx)
{
	struct walk *w = ctx;
	add_account(w->r, st);
	return w->fn ? w->fn(st, w->ctx) : 0;
}

/* unhealthy / accounts > pct / 100, in integers (no rounding). */
static bool incident(const struct iso_broker_summary *b)
{
	return b->accounts >= ISO_INCIDENT_MIN_ACCOUNTS &&
	       (uint64_t)b->unhealthy * 100u >
	       (uint64_t)b->accounts * ISO_INCIDENT_UNHEALTHY_PCT;
}

int iso_snapshot(iso_reg_t *reg, struct iso_report *r,
		 iso_foreach_fn fn, void *ctx)
{
	if (!iso_reg_ok(reg) || !r)
		return iso_fail(ISO_EINVAL, "iso_snapshot: NULL argument");
	memset(r, 0, sizeof(*r));
	r->capacity = reg->capacity;
	struct walk w = { r, fn, ctx };
	int rc = iso_foreach(reg, visit, &w);
	for (uint32_t i = 0; i < r->brokers_count; i++)
		r->brokers[i].incident = incident(&r->brokers[i]);
	r->cross_account_errors = iso_load64_relaxed(&reg->hdr->cross_account_errors);
	r->isolation_active = r->cross_account_errors == 0;
	return rc;
}

int iso_report(iso_reg_t *reg, struct iso_report *r)
{
	if (!iso_reg_ok(reg) || !r)
		return iso_fail(ISO_EINVAL, "iso_report: NULL argument");
	return iso_snapshot(reg, r, NULL, NULL);
}
