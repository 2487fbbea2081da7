/*
 * broker_rule.h - the one definition of a broker-wide incident that every
 * isoreg tool shows: more than half of the broker's accounts unhealthy
 * (QUARANTINED, RECOVERING or FAILING) and at least three accounts, so a
 * broker with one or two accounts is left to the per-account view.
 *
 * tools/prometheus/alerts.yml (IsoregBrokerIncident) states the same rule
 * in PromQL; tests/test_isotop.c reads the numbers back from that file and
 * compares them with these, so the two cannot drift apart.
 */
#ifndef ISO_TOOLS_BROKER_RULE_H
#define ISO_TOOLS_BROKER_RULE_H

#include <stdbool.h>

#include "isoreg.h"

/* Unhealthy share that must be exceeded, in percent (alert: > 0.5). */
#define BROKER_INCIDENT_UNHEALTHY_PCT 50u
/* Fewest accounts a broker needs for an incident (alert: >= 3). */
#define BROKER_INCIDENT_MIN_ACCOUNTS 3u

/**
 * broker_incident - true if @b is a broker-wide incident: at least
 * BROKER_INCIDENT_MIN_ACCOUNTS accounts and more than
 * BROKER_INCIDENT_UNHEALTHY_PCT percent of them unhealthy. False for NULL.
 */
bool broker_incident(const struct iso_broker_summary *b);

#endif /* ISO_TOOLS_BROKER_RULE_H */
