/*
 * names.c - the vocabulary, in one place: the names of failure types,
 * health and breaker states, permit reasons and event causes, parsing a
 * failure type from its name, and a permit's reason as the reference
 * words it. Every tool, the exporter and Python print these, so they are
 * never spelled twice.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const ftype_names[ISO_FAIL__COUNT] = {
	"API", "NETWORK", "AUTHENTICATION", "RATE_LIMIT",
	"BALANCE", "POSITION", "EXECUTION", "UNKNOWN",
};

const char *iso_failure_type_name(enum iso_failure_type t)
{
	return (unsigned)t < ISO_FAIL__COUNT ? ftype_names[t] : "INVALID";
}

int iso_failure_type_parse(const char *name)
{
	if (!name)
		return iso_fail(ISO_EINVAL, "failure type: NULL");
	for (int i = 0; i < ISO_FAIL__COUNT; i++) {
		size_t n = strlen(ftype_names[i]);
		/* Accept "api", "API" and the reference's "api_error". */
		if (!strcasecmp(name, ftype_names[i]) ||
		    (!strncasecmp(name, ftype_names[i], n) &&
		     !strcasecmp(name + n, "_error")))
			return i;
	}
	return iso_fail(ISO_EINVAL,
			"failure type '%s' is not one of API, NETWORK, "
			"AUTHENTICATION, RATE_LIMIT, BALANCE, POSITION, "
			"EXECUTION, UNKNOWN", name);
}

const char *iso_health_name(enum iso_health h)
{
	static const char *const n[ISO_HEALTH__COUNT] = {
		"HEALTHY", "DEGRADED", "RECOVERING", "QUARANTINED", "FAILING",
	};
	return (unsigned)h < ISO_HEALTH__COUNT ? n[h] : "INVALID";
}

const char *iso_breaker_state_name(enum iso_breaker_state s)
{
	static const char *const n[ISO_BREAKER__COUNT] = {
		"CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN",
	};
	return (unsigned)s < ISO_BREAKER__COUNT ? n[s] : "INVALID";
}

/* The reference's can_execute_operation wording, where it has one. */
const char *iso_reason_name(enum iso_reason r)
{
	static const char *const n[ISO_REASON__COUNT] = {
		[ISO_REASON_HEALTHY] = "Healthy",
		[ISO_REASON_DEGRADED] = "Degraded but operational",
		[ISO_REASON_PROBE] = "Half-open test",
		[ISO_REASON_OPEN] = "Circuit breaker open",
		[ISO_REASON_HALF_OPEN_LIMIT] = "Half-open limit reached",
		[ISO_REASON_FORCED_OPEN] = "Halted by operator",
		[ISO_REASON_OBSERVED] = "Observe-only: breaker would refuse",
		[ISO_REASON_RECOVERY] = "Recovery attempt",
		[ISO_REASON_RATE_LIMITED] = "Rate limited",
	};
	return (unsigned)r < ISO_REASON__COUNT ? n[r] : "Invalid reason";
}

const char *iso_cause_name(enum iso_cause c)
{
	static const char *const n[ISO_CAUSE__COUNT] = {
		"failure", "success", "timeout", "reset", "force_open",
		"register", "retire", "config", "release", "defaults",
		"doctor", "broker_halt", "broker_release", "failure_rate",
		"slow_call_rate",
	};
	return (unsigned)c < ISO_CAUSE__COUNT ? n[c] : "invalid";
}

int iso_permit_reason(const iso_permit_t *p, char *buf, size_t len)
{
	int n;
	if (!p || !buf || !len)
		return iso_fail(ISO_EINVAL, "iso_permit_reason: NULL argument");
	const char *base = iso_reason_name((enum iso_reason)p->reason);
	switch (p->reason) {
	case ISO_REASON_OPEN:
	case ISO_REASON_HALF_OPEN_LIMIT:
	case ISO_REASON_OBSERVED:
		n = snprintf(buf, len, "%s - retry in %llus", base,
			     (unsigned long long)((p->retry_in_ms + 999) / 1000));
		break;
	case ISO_REASON_RATE_LIMITED: /* budgets refill in ms, not seconds */
		n = snprintf(buf, len, "%s - retry in %llu ms", base,
			     (unsigned long long)p->retry_in_ms);
		break;
	default:
		n = snprintf(buf, len, "%s", base);
	}
	return n < 0 ? 0 : ((size_t)n >= len ? (int)len - 1 : n);
}
