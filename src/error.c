/*
 * error.c - error codes and each thread's last detail. The vocabulary
 * (names of states, failure types, causes, reasons) is names.c.
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
