/*
 * views.c - the reference's dicts (an account's metrics, every account's,
 * the isolation report) built straight from the library's snapshots.
 *
 * Built in C because get_all_account_statuses() over 10,000 accounts is
 * 250,000 dictionary entries: through ctypes and Python it took ~45 ms.
 * Keys are interned once; constant values (health names, breaker names,
 * failure-type values) are shared objects made at load time.
 */
#include "isoreg_ext.h"

#include <time.h>

struct isoext_keys isoext_k;

/* Make the interned dictionary keys. Returns 0 or -1. */
int isoext_make_keys(void)
{
#define ISOEXT_MAKEKEY(k)                                         \
	if (!(isoext_k.k = PyUnicode_InternFromString(#k)))       \
		return -1;
	ISOEXT_KEYS(ISOEXT_MAKEKEY)
#undef ISOEXT_MAKEKEY
	return 0;
}

/* The health and breaker names, from the library's own tables (SPEC's
 * names, lower-cased for health as the reference's values are). */
int isoext_make_names(void)
{
	for (int h = 0; h < ISO_HEALTH__COUNT; h++) {
		const char *n = isoext.iso_health_name((enum iso_health)h);
		char low[32];
		size_t k;

		for (k = 0; n && n[k] && k < sizeof(low) - 1; k++)
			low[k] = (char)(n[k] >= 'A' && n[k] <= 'Z' ? n[k] + 32 : n[k]);
		low[k] = 0;
		Py_XDECREF(isoext_st.health_values[h]);
		if (!(isoext_st.health_values[h] = PyUnicode_InternFromString(low)))
			return -1;
	}
	for (int b = 0; b < ISO_BREAKER__COUNT; b++) {
		const char *n =
			isoext.iso_breaker_state_name((enum iso_breaker_state)b);

		Py_XDECREF(isoext_st.breaker_names[b]);
		if (!(isoext_st.breaker_names[b] =
			      PyUnicode_InternFromString(n ? n : "?")))
			return -1;
	}
	return 0;
}

/* Store @v (a new reference, may be NULL after a failed constructor)
 * under @k; consumes @v. Returns 0 or -1. */
static inline int put(PyObject *d, PyObject *k, PyObject *v)
{
	int rc;

	if (!v)
		return -1;
	rc = PyDict_SetItem(d, k, v);
	Py_DECREF(v);
	return rc;
}

/* Unix milliseconds as seconds (time.time()'s unit), None for "never". */
static inline PyObject *time_or_none(int64_t ms)
{
	if (ms == 0)
		Py_RETURN_NONE;
	return PyFloat_FromDouble((double)ms / 1000.0);
}

static inline PyObject *shared(PyObject *o)
{
	Py_INCREF(o);
	return o;
}

/* The reference's metrics dict (plus isoreg's extras) for @st; the keys
 * and their order are those of the ctypes binding this replaces. */
PyObject *isoext_status_dict(const struct iso_status *st)
{
	PyObject *d = PyDict_New(), *fb;
	int h = (int)st->health, b = (int)st->breaker;

	if (!d)
		return NULL;
	if (h < 0 || h >= ISO_HEALTH__COUNT)
		h = ISO_HEALTHY;
	if (put(d, isoext_k.account_type, PyUnicode_FromString(st->key.type)) ||
	    put(d, isoext_k.account_id, PyUnicode_FromString(st->key.id)) ||
	    put(d, isoext_k.broker_type, PyUnicode_FromString(st->key.broker)) ||
	    put(d, isoext_k.status, shared(isoext_st.health_values[h])) ||
	    put(d, isoext_k.total_failures,
		PyLong_FromUnsignedLongLong(st->failures)) ||
	    put(d, isoext_k.consecutive_failures,
		PyLong_FromUnsignedLong(st->consecutive_failures)) ||
	    put(d, isoext_k.consecutive_successes,
		PyLong_FromUnsignedLong(st->consecutive_successes)) ||
	    /* As in the reference, the circuit counts as open while it is
	     * being probed; circuit_half_open tells the two apart. */
	    put(d, isoext_k.circuit_open,
		PyBool_FromLong(b != ISO_BREAKER_CLOSED)) ||
	    put(d, isoext_k.circuit_half_open,
		PyBool_FromLong(b == ISO_BREAKER_HALF_OPEN)) ||
	    put(d, isoext_k.quarantine_count,
		PyLong_FromUnsignedLongLong(st->quarantines)) ||
	    put(d, isoext_k.last_failure_time, time_or_none(st->last_failure_ms)) ||
	    put(d, isoext_k.last_success_time, time_or_none(st->last_success_ms)) ||
	    put(d, isoext_k.average_operation_time_ms,
		PyFloat_FromDouble(st->avg_op_ms)))
		goto fail;
	if (!(fb = PyDict_New()) || put(d, isoext_k.failure_breakdown, fb))
		goto fail;
	for (int t = 0; t < ISO_FAIL__COUNT; t++) {
		if (!st->failures_by_type[t])
			continue;
		if (put(fb, isoext_st.failure_values[t],
			PyLong_FromUnsignedLongLong(st->failures_by_type[t])))
			goto fail;
	}
	if (put(d, isoext_k.total_operations,
		PyLong_FromUnsignedLongLong(st->operations)) ||
	    put(d, isoext_k.total_successes,
		PyLong_FromUnsignedLongLong(st->successes)) ||
	    put(d, isoext_k.breaker_state,
		shared(b >= 0 && b < ISO_BREAKER__COUNT
			       ? isoext_st.breaker_names[b]
			       : isoext_st.str_q)))
		goto fail;
	if (b == ISO_BREAKER_OPEN) {
		if (put(d, isoext_k.retry_in_seconds,
			PyFloat_FromDouble((double)st->retry_in_ms / 1000.0)))
			goto fail;
	} else if (put(d, isoext_k.retry_in_seconds, shared(Py_None))) {
		goto fail;
	}
	if (put(d, isoext_k.ema_operation_time_ms,
		PyFloat_FromDouble(st->ema_op_ms)) ||
	    put(d, isoext_k.p50_operation_time_ms,
		PyFloat_FromDouble((double)st->p50_op_ns / 1e6)) ||
	    put(d, isoext_k.p99_operation_time_ms,
		PyFloat_FromDouble((double)st->p99_op_ns / 1e6)) ||
	    put(d, isoext_k.probes_in_flight,
		PyLong_FromUnsignedLong(st->probes_in_flight)) ||
	    put(d, isoext_k.last_transition_time,
		time_or_none(st->last_transition_ms)))
		goto fail;
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

struct walk {
	PyObject *out;
	int failed;
};

/* iso_foreach's visitor: one entry "type/id/BROKER" -> metrics. */
static int visit(const struct iso_status *st, void *ctx)
{
	struct walk *w = ctx;
	char key[ISO_KEY_STR_MAX + 1];
	int n = isoext.iso_key_format(&st->key, key, sizeof(key));
	PyObject *k, *v;

	if (n < 0 || (size_t)n >= sizeof(key))
		n = (int)strnlen(key, sizeof(key) - 1);
	k = PyUnicode_DecodeASCII(key, n, "replace");
	v = k ? isoext_status_dict(st) : NULL;
	if (!v || PyDict_SetItem(w->out, k, v) < 0) {
		Py_XDECREF(k);
		Py_XDECREF(v);
		w->failed = 1;
		return 1; /* stop: an exception is set */
	}
	Py_DECREF(k);
	Py_DECREF(v);
	return 0;
}

/* get_all_account_statuses(): one walk of the segment, GIL held (every
 * visit builds Python objects). */
PyObject *isoext_statuses(iso_reg_t *reg)
{
	struct walk w = { PyDict_New(), 0 };
	int rc;

	if (!w.out)
		return NULL;
	rc = isoext.iso_foreach(reg, visit, &w);
	if (w.failed) {
		Py_DECREF(w.out);
		return NULL;
	}
	if (rc < 0) {
		Py_DECREF(w.out);
		return isoext_raise(rc, "foreach");
	}
	return w.out;
}

/* The reference's isolation report, plus brokers and capacity. */
PyObject *isoext_report_dict(const struct iso_report *rep)
{
	PyObject *d = PyDict_New(), *br;
	struct timespec ts;
	uint32_t nb = rep->brokers_count;

	if (!d)
		return NULL;
	if (!(br = PyDict_New()))
		goto fail;
	if (nb > ISO_REPORT_MAX_BROKERS)
		nb = ISO_REPORT_MAX_BROKERS;
	for (uint32_t i = 0; i < nb; i++) {
		const struct iso_broker_summary *b = &rep->brokers[i];
		PyObject *e = PyDict_New(), *name;

		if (!e || put(e, isoext_k.accounts,
			      PyLong_FromUnsignedLong(b->accounts)) ||
		    put(e, isoext_k.unhealthy,
			PyLong_FromUnsignedLong(b->unhealthy)) ||
		    put(e, isoext_k.degraded,
			PyLong_FromUnsignedLong(b->degraded))) {
			Py_XDECREF(e);
			Py_DECREF(br);
			goto fail;
		}
		name = PyUnicode_DecodeASCII(b->broker,
					     (Py_ssize_t)strnlen(b->broker,
								 sizeof(b->broker)),
					     "replace");
		if (!name || PyDict_SetItem(br, name, e) < 0) {
			Py_XDECREF(name);
			Py_DECREF(e);
			Py_DECREF(br);
			goto fail;
		}
		Py_DECREF(name);
		Py_DECREF(e);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (put(d, isoext_k.total_accounts,
		PyLong_FromUnsignedLong(rep->total_accounts)) ||
	    put(d, isoext_k.healthy_accounts,
		PyLong_FromUnsignedLong(rep->by_health[ISO_HEALTHY])) ||
	    put(d, isoext_k.degraded_accounts,
		PyLong_FromUnsignedLong(rep->by_health[ISO_DEGRADED])) ||
	    put(d, isoext_k.quarantined_accounts,
		PyLong_FromUnsignedLong(rep->by_health[ISO_QUARANTINED])) ||
	    put(d, isoext_k.failing_accounts,
		PyLong_FromUnsignedLong(rep->by_health[ISO_FAILING])) ||
	    put(d, isoext_k.recovering_accounts,
		PyLong_FromUnsignedLong(rep->by_health[ISO_RECOVERING])) ||
	    put(d, isoext_k.total_failures_across_all_accounts,
		PyLong_FromUnsignedLongLong(rep->total_failures)) ||
	    put(d, isoext_k.total_quarantines,
		PyLong_FromUnsignedLongLong(rep->total_quarantines)) ||
	    put(d, isoext_k.total_operations,
		PyLong_FromUnsignedLongLong(rep->total_operations)) ||
	    put(d, isoext_k.cross_account_errors_detected,
		PyLong_FromUnsignedLongLong(rep->cross_account_errors)) ||
	    put(d, isoext_k.isolation_guarantee,
		PyUnicode_FromString(rep->isolation_active ? "ACTIVE"
							   : "VIOLATED"))) {
		Py_DECREF(br);
		goto fail;
	}
	if (put(d, isoext_k.brokers, br) ||
	    put(d, isoext_k.brokers_dropped,
		PyLong_FromUnsignedLong(rep->brokers_dropped)) ||
	    put(d, isoext_k.capacity, PyLong_FromUnsignedLong(rep->capacity)) ||
	    put(d, isoext_k.timestamp,
		PyFloat_FromDouble((double)ts.tv_sec + ts.tv_nsec * 1e-9)))
		goto fail;
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}
