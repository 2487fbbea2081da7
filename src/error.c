/*
 * error.c - error codes, their names, and each thread's last detail.
 *
 * The detail is formatted only on failure paths; the hot path returns a
 * code and formats nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static _Thread_local char last_error[512];

int iso_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}

const char *iso_last_error(void)
{
	return last_error;
}

const char *iso_strerror(int err)
{
	switch (err) {
	case ISO_OK: return "ISO_OK: success";
	case ISO_EINVAL: return "ISO_EINVAL: invalid argument";
	case ISO_ENOENT: return "ISO_ENOENT: no such account or segment";
	case ISO_EEXIST: return "ISO_EEXIST: segment already exists";
	case ISO_EFULL: return "ISO_EFULL: capacity exhausted";
	case ISO_ECORRUPT: return "ISO_ECORRUPT: segment failed validation";
	case ISO_EVERSION: return "ISO_EVERSION: segment has another layout version";
	case ISO_ESTALE: return "ISO_ESTALE: account handle is stale (retired or reused)";
	case ISO_EOPEN: return "ISO_EOPEN: refused by the account's circuit breaker";
	case ISO_ERDONLY: return "ISO_ERDONLY: write through a read-only attachment";
	case ISO_ESYS: return "ISO_ESYS: system call failed";
	case ISO_ENOMEM: return "ISO_ENOMEM: out of memory";
	case ISO_EPERM: return "ISO_EPERM: permission denied";
	case ISO_EBUSY: return "ISO_EBUSY: segment is being created";
	case ISO_ELIMIT: return "ISO_ELIMIT: the account's request budget is spent";
	default: return "ISO_E?: unknown error code";
	}
}

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
		"doctor", "broker_halt", "broker_release",
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
