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

static int make_template(void);

/* Make the interned dictionary keys. Returns 0 or -1. */
int isoext_make_keys(void)
{
#define ISOEXT_MAKEKEY(k)                                         \
	if (!(isoext_k.k = PyUnicode_InternFromString(#k)))       \
		return -1;
	ISOEXT_KEYS(ISOEXT_MAKEKEY)
#undef ISOEXT_MAKEKEY
	return make_template();
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
	for (int c = 0; c < ISO_CAUSE__COUNT; c++) {
		const char *n = isoext.iso_cause_name((enum iso_cause)c);

		Py_XDECREF(isoext_st.cause_names[c]);
		if (!(isoext_st.cause_names[c] =
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

/*
 * The status dicts share one table of keys (a "split" dict, as CPython
 * makes for the attributes of a class's instances): each dict then holds
 * only its values (28 of them), not a hash table of its own (with 26
 * keys: 256 bytes instead of 830), and 10,000 of them fault in a fraction
 * of the memory. CPython shares at most 30 keys (SHARED_KEYS_MAX_SIZE):
 * past that every copy is a combined dict and get_all_account_statuses
 * took twice as long, so the rolling window is one key with a small dict
 * of its own. The C API makes one such dict, the __dict__
 * of an instance of a private class; PyDict_Copy of it is another sharing
 * the same keys (a copy of the values, no lookups), whose values are then
 * replaced. They are ordinary dicts to their users (a key added later just
 * turns one into a combined dict); on an interpreter that makes combined
 * dicts instead, the copy is an ordinary copy and nothing else changes.
 */
static PyObject *template;

/* The split template every status dict is copied from. */
static int make_template(void)
{
	PyObject *keys[] = {
		isoext_k.account_type, isoext_k.account_id,
		isoext_k.broker_type, isoext_k.status,
		isoext_k.total_failures, isoext_k.consecutive_failures,
		isoext_k.consecutive_successes, isoext_k.circuit_open,
		isoext_k.circuit_half_open, isoext_k.quarantine_count,
		isoext_k.last_failure_time, isoext_k.last_success_time,
		isoext_k.average_operation_time_ms, isoext_k.failure_breakdown,
		isoext_k.total_operations, isoext_k.total_successes,
		isoext_k.breaker_state, isoext_k.retry_in_seconds,
		isoext_k.ema_operation_time_ms, isoext_k.p50_operation_time_ms,
		isoext_k.p99_operation_time_ms, isoext_k.probes_in_flight,
		isoext_k.last_transition_time, isoext_k.broker_halted,
		isoext_k.budget_available, isoext_k.budget_refusals,
		isoext_k.last_transition_cause, isoext_k.window };
	PyObject *cls, *proto;

	cls = PyObject_CallFunction((PyObject *)&PyType_Type, "s(O){}",
				    "_status", &PyBaseObject_Type);
	if (!cls)
		return -1;
	proto = PyObject_CallNoArgs(cls);
	Py_DECREF(cls);
	if (!proto)
		return -1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (PyObject_SetAttr(proto, keys[i], Py_None) < 0) {
			Py_DECREF(proto);
			return -1;
		}
	}
	template = PyObject_GenericGetDict(proto, NULL);
	Py_DECREF(proto);
	return template ? 0 : -1;
}

/* A str of the @n bytes at @p: built directly when they are ASCII (a key
 * validated by the library always is), decoded with replacement if a
 * hostile segment put other bytes there. */
static inline PyObject *ascii_str(const char *p, size_t n)
{
	PyObject *s;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return PyUnicode_DecodeASCII(p, (Py_ssize_t)n, "replace");
	if (!(s = PyUnicode_New((Py_ssize_t)n, 127)))
		return NULL;
	memcpy(PyUnicode_1BYTE_DATA(s), p, n);
	return s;
}

/* The str of a key field, reusing @cache's when the text is the same: an
 * account type or broker repeats across thousands of accounts. */
struct strcache {
	char text[ISO_ID_MAX + 1];
	size_t n;
	PyObject *obj; /* strong */
};

/* A key field's str, shared through @c when it repeats. */
static PyObject *field_str(struct strcache *c, const char *p, size_t cap)
{
	size_t n = strnlen(p, cap);

	if (c && c->obj && c->n == n && memcmp(c->text, p, n) == 0)
		return Py_NewRef(c->obj);
	PyObject *s = ascii_str(p, n);

	if (s && c && n < sizeof(c->text)) {
		Py_XSETREF(c->obj, Py_NewRef(s));
		memcpy(c->text, p, n);
		c->n = n;
	}
	return s;
}

/* A new reference to a shared constant. */
static inline PyObject *shared(PyObject *o)
{
	Py_INCREF(o);
	return o;
}

/* A window rate [B7] in percent, or None while not judged yet (the
 * library's -1: fewer than min_calls outcomes). */
static inline PyObject *rate_or_none(double r)
{
	if (r < 0)
		Py_RETURN_NONE;
	return PyFloat_FromDouble(r);
}

/* The rolling window [B7] of @st: a dict of its counts and rates, or None
 * when the account has no window. */
static PyObject *window_dict(const struct iso_status *st)
{
	if (!st->config.window_ms)
		Py_RETURN_NONE;
	PyObject *w = PyDict_New();
	if (!w)
		return NULL;
	if (put(w, isoext_k.calls, PyLong_FromUnsignedLongLong(st->window_calls)) ||
	    put(w, isoext_k.failures,
		PyLong_FromUnsignedLongLong(st->window_failures)) ||
	    put(w, isoext_k.slow_calls,
		PyLong_FromUnsignedLongLong(st->window_slow_calls)) ||
	    put(w, isoext_k.failure_rate, rate_or_none(st->failure_rate)) ||
	    put(w, isoext_k.slow_call_rate, rate_or_none(st->slow_call_rate))) {
		Py_DECREF(w);
		return NULL;
	}
	return w;
}

/* The reference's metrics dict (plus isoreg's extras) for @st; the keys
 * and their order are those of the ctypes binding this replaces. */
/* isoext_status_dict with strings shared through @type_c and @broker_c
 * (NULL: none). */
static PyObject *status_dict(const struct iso_status *st,
			     struct strcache *type_c, struct strcache *broker_c)
{
	PyObject *d = PyDict_Copy(template), *fb;
	int h = (int)st->health, b = (int)st->breaker;

	if (!d)
		return NULL;
	if (h < 0 || h >= ISO_HEALTH__COUNT)
		h = ISO_HEALTHY;
	if (put(d, isoext_k.account_type,
		field_str(type_c, st->key.type, sizeof(st->key.type))) ||
	    put(d, isoext_k.account_id,
		field_str(NULL, st->key.id, sizeof(st->key.id))) ||
	    put(d, isoext_k.broker_type,
		field_str(broker_c, st->key.broker, sizeof(st->key.broker))) ||
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
	if (!(fb = PyDict_New()))
		goto fail;
	if (put(d, isoext_k.failure_breakdown, Py_NewRef(fb))) {
		Py_DECREF(fb);
		goto fail;
	}
	for (int t = 0; t < ISO_FAIL__COUNT; t++) {
		if (!st->failures_by_type[t])
			continue;
		if (put(fb, isoext_st.failure_values[t],
			PyLong_FromUnsignedLongLong(st->failures_by_type[t]))) {
			Py_DECREF(fb);
			goto fail;
		}
	}
	Py_DECREF(fb);
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
		time_or_none(st->last_transition_ms)) ||
	    put(d, isoext_k.broker_halted,
		shared(st->broker_halted ? Py_True : Py_False)) ||
	    put(d, isoext_k.budget_available,
		st->config.rate_per_s > 0
			? PyFloat_FromDouble(st->budget_available)
			: shared(Py_None)) ||
	    put(d, isoext_k.budget_refusals,
		PyLong_FromUnsignedLongLong(st->budget_refusals)))
		goto fail;
	/* The template holds None for these two: most accounts have no
	 * window, and every store into the copy costs (10,000 of them in
	 * get_all_account_statuses). */
	if (st->last_transition_ms > 0 &&
	    (unsigned)st->last_cause < ISO_CAUSE__COUNT &&
	    put(d, isoext_k.last_transition_cause,
		shared(isoext_st.cause_names[st->last_cause])))
		goto fail;
	if (st->config.window_ms && put(d, isoext_k.window, window_dict(st)))
		goto fail;
	return d;
fail:
	Py_DECREF(d);
	return NULL;
}

/* The metrics dict of one account (get_account_status). */
PyObject *isoext_status_dict(const struct iso_status *st)
{
	return status_dict(st, NULL, NULL);
}

struct walk {
	PyObject *out;
	int failed;
	struct strcache type_c, broker_c;
};

/* iso_foreach's visitor: one entry "type/id/BROKER" -> metrics. */
static int visit(const struct iso_status *st, void *ctx)
{
	struct walk *w = ctx;
	char key[ISO_KEY_STR_MAX + 1];
	size_t nt = strnlen(st->key.type, sizeof(st->key.type));
	size_t ni = strnlen(st->key.id, sizeof(st->key.id));
	size_t nb = strnlen(st->key.broker, sizeof(st->key.broker));
	PyObject *k, *v;

	/* "type/id/BROKER", as iso_key_format writes it, without printf. */
	memcpy(key, st->key.type, nt);
	key[nt] = '/';
	memcpy(key + nt + 1, st->key.id, ni);
	key[nt + 1 + ni] = '/';
	memcpy(key + nt + ni + 2, st->key.broker, nb);
	k = ascii_str(key, nt + ni + nb + 2);
	v = k ? status_dict(st, &w->type_c, &w->broker_c) : NULL;
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
 * visit builds Python objects). The cyclic GC is paused for the walk: the
 * result holds no cycle, and with it running, 10,000 new dicts set off
 * dozens of collections that each traverse every survivor so far (it cost
 * as much as building the dicts). The allocations still count, so one
 * collection follows soon after. */
PyObject *isoext_statuses(iso_reg_t *reg)
{
	struct walk w;
	int rc, gc_was;

	memset(&w, 0, sizeof(w));
	if (!(w.out = PyDict_New()))
		return NULL;
	gc_was = PyGC_Disable();
	rc = isoext.iso_foreach(reg, visit, &w);
	if (gc_was)
		PyGC_Enable();
	Py_XDECREF(w.type_c.obj);
	Py_XDECREF(w.broker_c.obj);
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
			PyLong_FromUnsignedLong(b->degraded)) ||
		    put(e, isoext_k.incident, PyBool_FromLong(b->incident))) {
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
