/*
 * broker_rule.c - whether a broker's summary is a broker-wide incident
 * (the rule and its numbers are in broker_rule.h). Pure: it reads the
 * summary the library computed and decides nothing else.
 */
#include <stdint.h>

#include "broker_rule.h"

bool broker_incident(const struct iso_broker_summary *b)
{
	if (!b || b->accounts < BROKER_INCIDENT_MIN_ACCOUNTS)
		return false;
	/* unhealthy / accounts > pct / 100, in integers (no rounding). */
	return (uint64_t)b->unhealthy * 100u >
	       (uint64_t)b->accounts * BROKER_INCIDENT_UNHEALTHY_PCT;
}
