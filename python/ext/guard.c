/*
 * guard.c - one guarded operation of an account: the C half of
 * isoreg.guard.Guard (`with manager.guard(...)`).
 *
 * __enter__ asks the breaker and starts the clock; __exit__ records the
 * outcome with the permit taken on entry [B6], so a half-open probe slot
 * is always given back and an outcome of work begun before a trip or a
 * reset never moves the new episode's breaker. Classifying an exception
 * is Python's (isoreg.guard._guard_outcome); everything else is here, so
 * a `with` block costs a few C calls. The Python subclass adds the async
 * methods and fail().
 *
 * A guard object serves one operation; it must never record twice.
 */
#include "isoreg_ext.h"

#include <string.h>
#include <time.h>

typedef struct {
	PyObject_HEAD
	isoext_registry *owner; /* the manager (strong) */
	PyObject *key;          /* (account_type, account_id, broker_type) */
	PyObject *classify;     /* None or the caller's classifier */
	iso_account_t acct;
	iso_permit_t permit;
	uint64_t t0;            /* CLOCK_MONOTONIC ns at entry */
	int entered;            /* a permit is held */
	int done;               /* its outcome was recorded */
} isoext_guard;

/* time.perf_counter_ns()'s clock on Linux. */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A new guard of @type for account (@t, @i, @b) of manager @m. */
PyObject *isoext_guard_make(PyTypeObject *type, PyObject *m, PyObject *t,
			    PyObject *i, PyObject *b, PyObject *classify)
{
	isoext_guard *g = (isoext_guard *)type->tp_alloc(type, 0);

	if (!g)
		return NULL;
	g->owner = (isoext_registry *)Py_NewRef(m);
	g->key = PyTuple_Pack(3, t, i, b);
	g->classify = Py_NewRef(classify);
	g->entered = g->done = 0;
	if (!g->key) {
		Py_DECREF(g);
		return NULL;
	}
	return (PyObject *)g;
}

/* Guard(manager, account_type, account_id, broker_type, classify=None). */
static PyObject *guard_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *names[] = { "manager", "account_type", "account_id",
				 "broker_type", "classify", NULL };
	PyObject *m, *t, *i, *b, *classify = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OOO|O:Guard", names,
					 &isoext_registry_type, &m, &t, &i,
					 &b, &classify))
		return NULL;
	return isoext_guard_make(type, m, t, i, b, classify);
}

/* GC: the references a guard holds. */
static int guard_traverse(isoext_guard *g, visitproc visit, void *arg)
{
	/* A heap subclass's traverse (subtype_traverse) visits the type. */
	Py_VISIT(g->owner);
	Py_VISIT(g->key);
	Py_VISIT(g->classify);
	return 0;
}

/* GC: drop the references a guard holds. */
static int guard_clear(isoext_guard *g)
{
	Py_CLEAR(g->owner);
	Py_CLEAR(g->key);
	Py_CLEAR(g->classify);
	return 0;
}

/* The Python subclass's dealloc (subtype_dealloc) calls this and then
 * releases its heap type itself. */
static void guard_dealloc(isoext_guard *g)
{
	PyObject_GC_UnTrack(g);
	guard_clear(g);
	Py_TYPE(g)->tp_free((PyObject *)g);
}

/* "type/id/BROKER" as the caller spelt it. */
static PyObject *key_text(isoext_guard *g)
{
	return PyUnicode_FromFormat("%S/%S/%S", PyTuple_GET_ITEM(g->key, 0),
				    PyTuple_GET_ITEM(g->key, 1),
				    PyTuple_GET_ITEM(g->key, 2));
}

/* The account's key as the library has it (normalised), else as given. */
static PyObject *library_key_text(isoext_guard *g)
{
	struct iso_key key;
	char text[ISO_KEY_STR_MAX + 1];

	if (g->owner->reg && g->owner->reg == g->acct.reg &&
	    isoext.iso_account_key(&g->acct, &key) == 0 &&
	    isoext.iso_key_format(&key, text, sizeof(text)) >= 0)
		return PyUnicode_DecodeASCII(
			text, (Py_ssize_t)strnlen(text, sizeof(text)), "replace");
	return key_text(g);
}

/* The AccountHealthStatus of health code @h (None before binding). */
static PyObject *health_member(int h)
{
	if (h >= 0 && h < ISO_HEALTH__COUNT && isoext_st.health_members[h])
		return Py_NewRef(isoext_st.health_members[h]);
	Py_RETURN_NONE;
}

/* Raise AccountBlockedError(reason, account, status, retry_in) for the
 * refusal in g->permit. Returns NULL. */
static PyObject *blocked(isoext_guard *g)
{
	PyObject *reason = isoext_reason(&g->permit), *acct = NULL, *st = NULL;
	PyObject *retry = NULL, *e;

	if (!reason || !(acct = library_key_text(g)))
		goto out;
	st = health_member(g->permit.health);
	if (g->permit.reason == ISO_REASON_OPEN)
		retry = PyFloat_FromDouble((double)g->permit.retry_in_ms / 1000.0);
	else
		retry = Py_NewRef(Py_None);
	if (!retry)
		goto out;
	if (!isoext_st.blocked_error) {
		PyErr_SetObject(PyExc_RuntimeError, reason);
		goto out;
	}
	e = PyObject_CallFunctionObjArgs(isoext_st.blocked_error, reason, acct,
					 st, retry, NULL);
	if (e) {
		PyErr_SetObject(isoext_st.blocked_error, e);
		Py_DECREF(e);
	}
out:
	Py_XDECREF(reason);
	Py_XDECREF(acct);
	Py_XDECREF(st);
	Py_XDECREF(retry);
	return NULL;
}

/* __enter__: ask the breaker; a refusal raises AccountBlockedError. */
static PyObject *guard_enter(isoext_guard *g, PyObject *unused)
{
	PyObject *const *k = &PyTuple_GET_ITEM(g->key, 0);
	int rc;

	if (g->entered && !g->done) {
		PyErr_SetString(PyExc_RuntimeError,
				"Guard: already in an operation (one guard "
				"serves one operation)");
		return NULL;
	}
	g->entered = g->done = 0;
	memset(&g->permit, 0, sizeof(g->permit));
	if (isoext_handle(g->owner, k, 1, &g->acct) < 0)
		return NULL;
	rc = isoext.iso_acquire(&g->acct, &g->permit);
	if (rc == ISO_ESTALE) {
		if (isoext_refresh(g->owner, k, 1, &g->acct) < 0)
			return NULL;
		rc = isoext.iso_acquire(&g->acct, &g->permit);
	}
	if (rc == ISO_EOPEN || rc == ISO_ELIMIT)
		return blocked(g);
	if (rc < 0)
		return isoext_raise_key(rc, "acquire", k);
	g->entered = 1;
	g->t0 = mono_ns();
	return Py_NewRef(g);
}

/* Record the outcome (success with @code < 0) with the permit; once. */
static int record(isoext_guard *g, int code, uint64_t op_ns,
		  uint64_t retry_ms)
{
	int rc;

	if (!g->owner->reg || g->owner->reg != g->acct.reg) {
		g->done = 1;
		return isoext_closed_error(g->owner);
	}
	g->done = 1;
	rc = code < 0 ? isoext.iso_record_success(&g->acct, &g->permit, op_ns)
		      : isoext.iso_record_failure_retry(
				&g->acct, &g->permit,
				(enum iso_failure_type)code, op_ns, retry_ms);
	/* ISO_ESTALE: the account was retired while we worked; the outcome
	 * belongs to nobody now, and recording it on a new registration
	 * would credit work to an account that did not do it. */
	if (rc < 0 && rc != ISO_ESTALE) {
		isoext_raise_key(rc, code < 0 ? "record_success"
					      : "record_failure",
				 &PyTuple_GET_ITEM(g->key, 0));
		return -1;
	}
	return 0;
}

/* What Python's classifier makes of @exc: (code, retry_ms); UNKNOWN with
 * no wait if it fails (it is written never to). */
static void outcome_of(isoext_guard *g, PyObject *exc, int *code,
		       uint64_t *retry_ms)
{
	PyObject *r;
	long c;
	unsigned long long ms;

	*code = ISO_FAIL_UNKNOWN;
	*retry_ms = 0;
	if (!isoext_st.guard_outcome)
		return;
	r = PyObject_CallFunctionObjArgs(isoext_st.guard_outcome, g->classify,
					 exc, NULL);
	if (!r || !PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2) {
		Py_XDECREF(r);
		PyErr_Clear();
		return;
	}
	c = PyLong_AsLong(PyTuple_GET_ITEM(r, 0));
	ms = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(r, 1));
	Py_DECREF(r);
	if (PyErr_Occurred() || c < 0 || c >= ISO_FAIL__COUNT) {
		PyErr_Clear();
		return;
	}
	*code = (int)c;
	*retry_ms = ms;
}

/* __exit__: record the outcome with the permit; never swallows. */
static PyObject *guard_exit(isoext_guard *g, PyObject *const *args,
			    Py_ssize_t nargs)
{
	PyObject *et, *ev;
	uint64_t dt, retry_ms = 0;
	int code = -1;

	if (nargs != 3) {
		PyErr_Format(PyExc_TypeError,
			     "__exit__ takes 3 arguments (%zd given)", nargs);
		return NULL;
	}
	if (!g->entered || g->done)
		Py_RETURN_FALSE;
	dt = mono_ns() - g->t0;
	et = args[0];
	ev = args[1];
	if (et != Py_None) {
		/* A BaseException that is not an Exception (CancelledError,
		 * KeyboardInterrupt) left without an outcome: UNKNOWN, as the
		 * C guard records it, never a success nobody claimed. */
		code = ISO_FAIL_UNKNOWN;
		if (PyType_Check(et) &&
		    PyType_IsSubtype((PyTypeObject *)et,
				     (PyTypeObject *)PyExc_Exception))
			outcome_of(g, ev, &code, &retry_ms);
	}
	if (record(g, code, dt, retry_ms) < 0)
		return NULL;
	Py_RETURN_FALSE;
}

/* _fail(code, retry_ms): record a failure now (Guard.fail). */
static PyObject *guard_fail(isoext_guard *g, PyObject *args)
{
	PyObject *code_o, *retry_o;
	uint64_t code, retry;

	if (!PyArg_ParseTuple(args, "OO:_fail", &code_o, &retry_o))
		return NULL;
	if (!g->entered || g->done) {
		PyErr_SetString(PyExc_RuntimeError,
				"Guard.fail: no operation in progress");
		return NULL;
	}
	if (isoext_to_u64(code_o, "failure type", ISO_FAIL__COUNT - 1,
			  &code) < 0 ||
	    isoext_to_u64(retry_o, "retry_after_ms", UINT64_MAX, &retry) < 0)
		return NULL;
	if (record(g, (int)code, mono_ns() - g->t0, retry) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* g.reason: the breaker's answer in the reference's words. */
static PyObject *guard_get_reason(isoext_guard *g, void *unused)
{
	return isoext_reason(&g->permit);
}

/* g.status: the account's health at entry. */
static PyObject *guard_get_status(isoext_guard *g, void *unused)
{
	return health_member(g->permit.health);
}

/* g.account: "type/id/BROKER" as the caller spelt it. */
static PyObject *guard_get_account(isoext_guard *g, void *unused)
{
	return key_text(g);
}

/* g.manager: the AccountIsolationManager. */
static PyObject *guard_get_manager(isoext_guard *g, void *unused)
{
	return Py_NewRef(g->owner);
}

/* g.key: the (type, id, broker) tuple. */
static PyObject *guard_get_key(isoext_guard *g, void *unused)
{
	return Py_NewRef(g->key);
}

/* g.classify: the caller's classifier or None. */
static PyObject *guard_get_classify(isoext_guard *g, void *unused)
{
	return Py_NewRef(g->classify);
}

/* g._active: a permit is held and no outcome recorded yet. */
static PyObject *guard_get_active(isoext_guard *g, void *unused)
{
	return PyBool_FromLong(g->entered && !g->done);
}

static PyMethodDef guard_methods[] = {
	{ "__enter__", (PyCFunction)guard_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)(void (*)(void))guard_exit, METH_FASTCALL,
	  NULL },
	{ "_fail", (PyCFunction)guard_fail, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef guard_getset[] = {
	{ "reason", (getter)guard_get_reason, NULL,
	  "the breaker's answer in the reference's words", NULL },
	{ "status", (getter)guard_get_status, NULL,
	  "the account's AccountHealthStatus at entry", NULL },
	{ "account", (getter)guard_get_account, NULL, "\"type/id/BROKER\"",
	  NULL },
	{ "manager", (getter)guard_get_manager, NULL, NULL, NULL },
	{ "key", (getter)guard_get_key, NULL, NULL, NULL },
	{ "classify", (getter)guard_get_classify, NULL, NULL, NULL },
	{ "_active", (getter)guard_get_active, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

PyTypeObject isoext_guard_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "isoreg._isoreg.GuardBase",
	.tp_basicsize = sizeof(isoext_guard),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |
		    Py_TPFLAGS_HAVE_GC,
	.tp_doc = "The C half of isoreg.guard.Guard: one guarded operation.",
	.tp_new = guard_new,
	.tp_dealloc = (destructor)guard_dealloc,
	.tp_traverse = (traverseproc)guard_traverse,
	.tp_clear = (inquiry)guard_clear,
	.tp_methods = guard_methods,
	.tp_getset = guard_getset,
};
