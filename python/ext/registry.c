/*
 * registry.c - the C base of AccountIsolationManager: one attachment, a
 * cache of account handles by key, and the reference's calls.
 *
 * The hot calls (can_execute_operation, record_success, record_failure)
 * are here in full, so a call from Python is one vectorcall into C: a hash
 * of three str objects whose hashes Python caches, a probe of a small
 * table, and the library call. They keep the GIL: the library call takes
 * no lock and makes no system call, so dropping and retaking the GIL
 * would cost more than the call itself.
 *
 * Every method runs with the GIL held and calls no Python code while it
 * holds a pointer into the cache, so the cache needs no lock of its own.
 * What this file must never do: keep account state (the segment has it),
 * or register an account on an operator's call (halt, configure, release).
 */
#include "isoreg_ext.h"

#include <string.h>

/* ----------------------------------------------------------- the cache */

/* Whether two exact str objects hold the same text. */
static inline int str_eq(PyObject *a, PyObject *b)
{
	Py_ssize_t n;

	if (a == b)
		return 1;
	n = PyUnicode_GET_LENGTH(a);
	if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b))
		return 0;
	return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b),
		      (size_t)n * PyUnicode_KIND(a)) == 0;
}

/* The combined hash of three exact str keys, or -1 with an exception. */
static inline Py_hash_t key_hash(PyObject *const *k)
{
	Py_hash_t a = PyObject_Hash(k[0]), b, c;
	uint64_t h;

	if (a == -1 || (b = PyObject_Hash(k[1])) == -1 ||
	    (c = PyObject_Hash(k[2])) == -1)
		return -1;
	h = (uint64_t)a * 0x9E3779B97F4A7C15ull;
	h = (h ^ (uint64_t)b) * 0xC2B2AE3D27D4EB4Full;
	h = (h ^ (uint64_t)c) * 0x165667B19E3779F9ull;
	h ^= h >> 29;
	return (Py_hash_t)(h == (uint64_t)-1 ? 0 : h);
}

/* The entry for key @k (hash @h), or NULL. */
static inline struct isoext_hentry *cache_find(struct isoext_cache *c,
					       PyObject *const *k, Py_hash_t h)
{
	size_t i;

	if (!c->e)
		return NULL;
	for (i = (size_t)h & c->mask;; i = (i + 1) & c->mask) {
		struct isoext_hentry *e = &c->e[i];

		if (!e->t)
			return NULL;
		if (e->h == h && str_eq(e->t, k[0]) && str_eq(e->i, k[1]) &&
		    str_eq(e->b, k[2]))
			return e;
	}
}

/* Put @src's key and handle into the table @e of @mask (no resize). */
static void cache_place(struct isoext_hentry *e, size_t mask,
			const struct isoext_hentry *src)
{
	size_t i;

	for (i = (size_t)src->h & mask; e[i].t; i = (i + 1) & mask)
		;
	e[i] = *src;
}

/* Remember @acct for key @k. Returns 0 or -1 (MemoryError). */
static int cache_put(struct isoext_cache *c, PyObject *const *k, Py_hash_t h,
		     const iso_account_t *acct)
{
	struct isoext_hentry *e = cache_find(c, k, h), n;

	if (e) {
		e->acct = *acct;
		return 0;
	}
	if (!c->e || (c->used + 1) * 2 > c->mask + 1) {
		size_t size = c->e ? (c->mask + 1) * 2 : 16;
		struct isoext_hentry *t = PyMem_Calloc(size, sizeof(*t));

		if (!t) {
			PyErr_NoMemory();
			return -1;
		}
		if (c->e) {
			for (size_t i = 0; i <= c->mask; i++)
				if (c->e[i].t)
					cache_place(t, size - 1, &c->e[i]);
			PyMem_Free(c->e);
		}
		c->e = t;
		c->mask = size - 1;
	}
	n.t = k[0];
	n.i = k[1];
	n.b = k[2];
	n.h = h;
	n.acct = *acct;
	Py_INCREF(n.t);
	Py_INCREF(n.i);
	Py_INCREF(n.b);
	cache_place(c->e, c->mask, &n);
	c->used++;
	return 0;
}

/* Forget key @k, if cached (backward-shift deletion keeps probes short). */
static void cache_del(struct isoext_cache *c, PyObject *const *k, Py_hash_t h)
{
	struct isoext_hentry *e = cache_find(c, k, h);
	size_t i, j;

	if (!e)
		return;
	Py_DECREF(e->t);
	Py_DECREF(e->i);
	Py_DECREF(e->b);
	i = (size_t)(e - c->e);
	for (j = (i + 1) & c->mask; c->e[j].t; j = (j + 1) & c->mask) {
		size_t home = (size_t)c->e[j].h & c->mask;

		/* Move j back into the hole at i unless its home lies
		 * cyclically in (i, j]. */
		if (((j - home) & c->mask) >= ((j - i) & c->mask)) {
			c->e[i] = c->e[j];
			i = j;
		}
	}
	memset(&c->e[i], 0, sizeof(c->e[i]));
	c->used--;
}

/* Drop every entry (close, dealloc). */
static void cache_clear(struct isoext_cache *c)
{
	if (c->e) {
		for (size_t i = 0; i <= c->mask; i++) {
			if (c->e[i].t) {
				Py_DECREF(c->e[i].t);
				Py_DECREF(c->e[i].i);
				Py_DECREF(c->e[i].b);
			}
		}
		PyMem_Free(c->e);
	}
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ handles */

static const char *const key_fields[3] = { "account_type", "account_id",
					   "broker_type" };

/* Raise ValueError: operation on a closed manager. Returns -1. */
static int closed_error(isoext_registry *self)
{
	PyObject *seg = PyObject_GetAttr((PyObject *)self, isoext_k.segment);

	if (!seg) {
		PyErr_Clear();
		seg = Py_NewRef(Py_None);
	}
	PyErr_Format(PyExc_ValueError,
		     "AccountIsolationManager: operation on a closed manager "
		     "(segment %S)", seg);
	Py_DECREF(seg);
	return -1;
}

/* The bytes of key part @o for the library: a str of ASCII with no NUL
 * (the library checks the alphabet and lengths [K2]; a NUL would cut the
 * key short on the way, so it is refused here). Returns NULL with
 * ValueError naming @field. */
static const char *key_part(PyObject *o, const char *field)
{
	Py_ssize_t n;
	const char *s;

	if (!PyUnicode_Check(o)) {
		PyErr_Format(PyExc_ValueError, "%s: expected a string, got %R",
			     field, o);
		return NULL;
	}
#if PY_VERSION_HEX < 0x030C0000
	if (PyUnicode_READY(o) < 0) /* a no-op, deprecated, from 3.12 */
		return NULL;
#endif
	if (!PyUnicode_IS_ASCII(o)) {
		PyErr_Format(PyExc_ValueError, "%s: %R is not printable ASCII",
			     field, o);
		return NULL;
	}
	if (!(s = PyUnicode_AsUTF8AndSize(o, &n)))
		return NULL;
	if ((size_t)n != strlen(s)) {
		PyErr_Format(PyExc_ValueError,
			     "%s: %R contains a NUL character (a key part is "
			     "1 or more printable ASCII bytes)", field, o);
		return NULL;
	}
	return s;
}

/* Whether the three key parts are exact str objects (cacheable). */
static inline int exact_strs(PyObject *const *k)
{
	return PyUnicode_CheckExact(k[0]) && PyUnicode_CheckExact(k[1]) &&
	       PyUnicode_CheckExact(k[2]);
}

/* Register (@create) or look up the account @k in the library, apply the
 * manager's override to a registration, and cache the handle.
 * Returns 0, 1 (absent, only without @create) or -1 with an exception. */
static int handle_slow(isoext_registry *self, PyObject *const *k, int create,
		       iso_account_t *acct)
{
	const char *s[3];
	int rc;

	if (!self->reg)
		return closed_error(self);
	for (int f = 0; f < 3; f++)
		if (!(s[f] = key_part(k[f], key_fields[f])))
			return -1;
	rc = create ? isoext.iso_register(self->reg, s[0], s[1], s[2], acct)
		    : isoext.iso_lookup(self->reg, s[0], s[1], s[2], acct);
	if (rc == ISO_ENOENT && !create)
		return 1;
	if (rc < 0) {
		isoext_raise_key(rc, create ? "register" : "lookup", k);
		return -1;
	}
	if (create && self->has_override) {
		rc = isoext.iso_configure(acct, &self->override);
		if (rc < 0) {
			isoext_raise_key(rc, "configure", k);
			return -1;
		}
	}
	if (exact_strs(k)) {
		Py_hash_t h = key_hash(k);

		if (h == -1 || cache_put(&self->cache, k, h, acct) < 0)
			return -1;
	}
	return 0;
}

/* The handle of account @k: from the cache, else as handle_slow. */
static inline int handle(isoext_registry *self, PyObject *const *k,
			 int create, iso_account_t *acct)
{
	if (self->reg && exact_strs(k)) {
		Py_hash_t h = key_hash(k);
		struct isoext_hentry *e;

		if (h == -1)
			return -1;
		if ((e = cache_find(&self->cache, k, h))) {
			*acct = e->acct;
			return 0;
		}
	}
	return handle_slow(self, k, create, acct);
}

/* ISO_ESTALE: someone retired the account (isoctl, another process).
 * Forget the handle and find (or, with @create, register) it afresh, as
 * the reference auto-registers. Returns as handle_slow. */
static int refresh(isoext_registry *self, PyObject *const *k, int create,
		   iso_account_t *acct)
{
	if (exact_strs(k)) {
		Py_hash_t h = key_hash(k);

		if (h == -1)
			return -1;
		cache_del(&self->cache, k, h);
	}
	return handle_slow(self, k, create, acct);
}

/* handle() for guard.c. */
int isoext_handle(isoext_registry *self, PyObject *const *k, int create,
		  iso_account_t *acct)
{
	return handle(self, k, create, acct);
}

/* refresh() for guard.c. */
int isoext_refresh(isoext_registry *self, PyObject *const *k, int create,
		   iso_account_t *acct)
{
	return refresh(self, k, create, acct);
}

/* closed_error() for guard.c. */
int isoext_closed_error(isoext_registry *self)
{
	return closed_error(self);
}

/* ------------------------------------------------------ argument parsing */

/*
 * Fill @out[0..n-1] from the vectorcall arguments by the names @names;
 * the first @required must be given, the others are NULL when absent.
 * Returns 0, or -1 with the TypeError Python would raise.
 */
int isoext_parse(const char *fn, PyObject *const *args, Py_ssize_t nargs,
		 PyObject *kwnames, const char *const *names, int n,
		 int required, PyObject **out)
{
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

	if (nargs > n) {
		PyErr_Format(PyExc_TypeError,
			     "%s() takes at most %d arguments (%zd given)", fn,
			     n, nargs);
		return -1;
	}
	for (int i = 0; i < n; i++)
		out[i] = i < nargs ? args[i] : NULL;
	for (Py_ssize_t j = 0; j < nkw; j++) {
		PyObject *name = PyTuple_GET_ITEM(kwnames, j);
		int i;

		for (i = 0; i < n; i++)
			if (PyUnicode_CompareWithASCIIString(name, names[i]) == 0)
				break;
		if (i == n) {
			PyErr_Format(PyExc_TypeError,
				     "%s() got an unexpected keyword argument "
				     "'%S'", fn, name);
			return -1;
		}
		if (out[i]) {
			PyErr_Format(PyExc_TypeError,
				     "%s() got multiple values for argument "
				     "'%s'", fn, names[i]);
			return -1;
		}
		out[i] = args[nargs + j];
	}
	for (int i = 0; i < required; i++) {
		if (!out[i]) {
			PyErr_Format(PyExc_TypeError,
				     "%s() missing required argument '%s' "
				     "(pos %d)", fn, names[i], i + 1);
			return -1;
		}
	}
	return 0;
}

/* A non-negative number of @unit (ms or s) as an integer count of the
 * library's unit, @scale of them per @unit: 0 for absent, None, zero or
 * negative (not measured), OverflowError when it does not fit in 64 bits
 * (it used to wrap), ValueError for NaN. */
static int scaled_u64(PyObject *o, double scale, const char *what,
		      uint64_t *out)
{
	double v, x;

	*out = 0;
	if (!o || o == Py_None)
		return 0;
	if (PyFloat_CheckExact(o)) {
		v = PyFloat_AS_DOUBLE(o);
	} else {
		v = PyFloat_AsDouble(o);
		if (v == -1.0 && PyErr_Occurred())
			return -1;
	}
	if (v != v) {
		PyErr_Format(PyExc_ValueError, "%s: %R is not a number", what, o);
		return -1;
	}
	if (!(v > 0))
		return 0;
	x = v * scale;
	if (!(x < 18446744073709551616.0)) {
		PyErr_Format(PyExc_OverflowError,
			     "%s: %R is out of range (the library keeps it in "
			     "64 bits: at most %.0f)", what, o,
			     18446744073709551615.0 / scale);
		return -1;
	}
	*out = (uint64_t)x;
	return 0;
}

/* ------------------------------------------------ the reference's calls */

static const char *const names3[] = { "account_type", "account_id",
				      "broker_type" };

/* A cached (allowed, reason) pair, or a new one for a text with a number. */
static PyObject *reason_pair(int allowed, const iso_permit_t *p)
{
	PyObject *t, *s;

	if (p->reason < ISO_REASON__COUNT &&
	    (t = isoext_st.reason_tuple[allowed][p->reason]))
		return Py_NewRef(t);
	if (!(s = isoext_reason(p)))
		return NULL;
	t = PyTuple_Pack(2, allowed ? Py_True : Py_False, s);
	Py_DECREF(s);
	if (t && p->reason < ISO_REASON__COUNT &&
	    isoext_st.reason_text[p->reason])
		isoext_st.reason_tuple[allowed][p->reason] = Py_NewRef(t);
	return t;
}

PyDoc_STRVAR(can_execute_doc,
"can_execute_operation(account_type, account_id, broker_type)\n"
"--\n\n"
"May the account act now? Registers it if needed.\n\n"
"Returns (allowed, reason), the reason in the reference's words. While\n"
"recovering, an allowed answer holds a probe permit that the next\n"
"record_success/record_failure of the account releases.");

static PyObject *reg_can_execute(isoext_registry *self, PyObject *const *args,
				 Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[3];
	iso_account_t a;
	iso_permit_t p;
	int rc;

	if (nargs == 3 && !kwnames) {
		k[0] = args[0];
		k[1] = args[1];
		k[2] = args[2];
	} else if (isoext_parse("can_execute_operation", args, nargs, kwnames, names3,
			 3, 3, k) < 0) {
		return NULL;
	}
	if (handle(self, k, 1, &a) < 0)
		return NULL;
	rc = isoext.iso_acquire(&a, &p);
	if (rc == ISO_ESTALE) {
		if (refresh(self, k, 1, &a) < 0)
			return NULL;
		rc = isoext.iso_acquire(&a, &p);
	}
	if (rc == 0 || rc == ISO_EOPEN || rc == ISO_ELIMIT)
		return reason_pair(rc == 0, &p);
	return isoext_raise_key(rc, "acquire", k);
}

PyDoc_STRVAR(record_success_doc,
"record_success(account_type, account_id, broker_type, operation_time_ms=0.0)\n"
"--\n\n"
"Record a successful operation that took operation_time_ms (0: not\n"
"measured, kept out of the average).");

static PyObject *reg_record_success(isoext_registry *self,
				    PyObject *const *args, Py_ssize_t nargs,
				    PyObject *kwnames)
{
	static const char *const names[] = { "account_type", "account_id",
					     "broker_type", "operation_time_ms" };
	PyObject *k[4];
	iso_account_t a;
	uint64_t ns;
	int rc;

	if (nargs == 3 && !kwnames) {
		k[0] = args[0];
		k[1] = args[1];
		k[2] = args[2];
		k[3] = NULL;
	} else if (isoext_parse("record_success", args, nargs, kwnames, names, 4, 3,
			 k) < 0) {
		return NULL;
	}
	if (scaled_u64(k[3], 1e6, "operation_time_ms", &ns) < 0 ||
	    handle(self, k, 1, &a) < 0)
		return NULL;
	rc = isoext.iso_record_success(&a, NULL, ns);
	if (rc == ISO_ESTALE) {
		if (refresh(self, k, 1, &a) < 0)
			return NULL;
		rc = isoext.iso_record_success(&a, NULL, ns);
	}
	if (rc < 0)
		return isoext_raise_key(rc, "record_success", k);
	Py_RETURN_NONE;
}

/* The C value of failure type @ft: one of our FailureType members by
 * identity, else isoreg's failure_type_code() (strings, other enums).
 * Returns the code or -1 with an exception. */
static int failure_code(PyObject *ft)
{
	PyObject *r;
	long code;

	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		if (ft == isoext_st.failure_types[t])
			return t;
	if (!isoext_st.failure_code) {
		PyErr_SetString(PyExc_RuntimeError,
				"isoreg._isoreg: failure types not bound");
		return -1;
	}
	if (!(r = PyObject_CallOneArg(isoext_st.failure_code, ft)))
		return -1;
	code = PyLong_AsLong(r);
	Py_DECREF(r);
	if (code == -1 && PyErr_Occurred())
		return -1;
	if (code < 0 || code >= ISO_FAIL__COUNT) {
		PyErr_Format(PyExc_ValueError, "failure_type: %R gave code %ld",
			     ft, code);
		return -1;
	}
	return (int)code;
}

PyDoc_STRVAR(record_failure_doc,
"record_failure(account_type, account_id, broker_type, error=None,\n"
"               failure_type=FailureType.UNKNOWN_ERROR,\n"
"               operation_time_ms=0.0, retry_after_seconds=None)\n"
"--\n\n"
"Record a failed operation.\n\n"
"error: the exception (or message); used only to classify it when\n"
"    failure_type is None (see isoreg.classify_exception).\n"
"failure_type: a FailureType (default UNKNOWN_ERROR, like the\n"
"    reference), its value string, or None to classify error.\n"
"operation_time_ms: how long the failed call took; 0 if unknown.\n"
"retry_after_seconds: the exchange's Retry-After: if this failure opens\n"
"    the breaker it stays open at least that long [M2].");

static PyObject *reg_record_failure(isoext_registry *self,
				    PyObject *const *args, Py_ssize_t nargs,
				    PyObject *kwnames)
{
	static const char *const names[] = {
		"account_type", "account_id", "broker_type", "error",
		"failure_type", "operation_time_ms", "retry_after_seconds" };
	PyObject *k[7], *classified = NULL, *retry;
	iso_account_t a;
	uint64_t ns, retry_ms;
	int rc, code;

	if (isoext_parse("record_failure", args, nargs, kwnames, names, 7, 3, k) < 0)
		return NULL;
	retry = k[6];
	if (!k[4]) {
		code = ISO_FAIL_UNKNOWN;
	} else if (k[4] == Py_None) {
		/* Classify the error (the Python classifier: exception
		 * classes, HTTP status, errno, message). */
		PyObject *ft;

		if (!isoext_st.classify) {
			PyErr_SetString(PyExc_RuntimeError,
					"isoreg._isoreg: classifier not bound");
			return NULL;
		}
		classified = PyObject_CallOneArg(isoext_st.classify,
						 k[3] ? k[3] : Py_None);
		if (!classified)
			return NULL;
		if (!PyTuple_Check(classified) ||
		    PyTuple_GET_SIZE(classified) != 2) {
			Py_DECREF(classified);
			PyErr_SetString(PyExc_TypeError,
					"classify_exception must return "
					"(FailureType, seconds or None)");
			return NULL;
		}
		ft = PyTuple_GET_ITEM(classified, 0);
		if (!retry || retry == Py_None)
			retry = PyTuple_GET_ITEM(classified, 1);
		code = failure_code(ft);
	} else {
		code = failure_code(k[4]);
	}
	if (code < 0 || scaled_u64(k[5], 1e6, "operation_time_ms", &ns) < 0 ||
	    scaled_u64(retry, 1e3, "retry_after_seconds", &retry_ms) < 0 ||
	    handle(self, k, 1, &a) < 0) {
		Py_XDECREF(classified);
		return NULL;
	}
	Py_XDECREF(classified);
	rc = isoext.iso_record_failure_retry(&a, NULL,
					     (enum iso_failure_type)code, ns,
					     retry_ms);
	if (rc == ISO_ESTALE) {
		if (refresh(self, k, 1, &a) < 0)
			return NULL;
		rc = isoext.iso_record_failure_retry(
			&a, NULL, (enum iso_failure_type)code, ns, retry_ms);
	}
	if (rc < 0)
		return isoext_raise_key(rc, "record_failure", k);
	Py_RETURN_NONE;
}

/* --------------------------------------------------- the slower calls */

/* Parse exactly the three key arguments of @fn into @k. */
static int parse3(const char *fn, PyObject *const *args, Py_ssize_t nargs,
		  PyObject *kwnames, PyObject **k)
{
	return isoext_parse(fn, args, nargs, kwnames, names3, 3, 3, k);
}

/* Raise UnknownAccountError for the operator's call @fn on key @k, which
 * the library does not know. Returns NULL. */
static PyObject *unknown_account(isoext_registry *self, const char *fn,
				 PyObject *const *k)
{
	struct iso_key key;
	char text[ISO_KEY_STR_MAX + 1];
	const char *s[3];
	PyObject *seg, *msg, *cls = isoext_st.unknown_account;

	for (int f = 0; f < 3; f++)
		if (!(s[f] = key_part(k[f], key_fields[f])))
			return NULL;
	if (isoext.iso_key_make(s[0], s[1], s[2], &key) < 0 ||
	    isoext.iso_key_format(&key, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "%s/%s/%s", s[0], s[1], s[2]);
	seg = PyObject_GetAttr((PyObject *)self, isoext_k.segment);
	if (!seg) {
		PyErr_Clear();
		seg = Py_NewRef(Py_None);
	}
	msg = PyUnicode_FromFormat(
		"%s: no account %s in segment %S; nothing was changed and "
		"nothing registered (check the key; an operator's call never "
		"registers an account)", fn, text, seg);
	Py_DECREF(seg);
	if (!msg)
		return NULL;
	PyErr_SetObject(cls ? cls : PyExc_KeyError, msg);
	Py_DECREF(msg);
	return NULL;
}

PyDoc_STRVAR(register_doc,
"_register(account_type, account_id, broker_type)\n--\n\n"
"Register the account (idempotent) and cache its handle.");

static PyObject *reg_register(isoext_registry *self, PyObject *const *args,
			      Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[3];
	iso_account_t a;

	if (parse3("register_account", args, nargs, kwnames, k) < 0 ||
	    handle_slow(self, k, 1, &a) < 0)
		return NULL;
	Py_RETURN_TRUE;
}

PyDoc_STRVAR(status_doc,
"_status(account_type, account_id, broker_type)\n--\n\n"
"The metrics dict of the account, or None if nobody registered it.");

static PyObject *reg_status(isoext_registry *self, PyObject *const *args,
			    Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[3];
	iso_account_t a;
	struct iso_status st;
	int rc;

	if (parse3("get_account_status", args, nargs, kwnames, k) < 0)
		return NULL;
	if ((rc = handle(self, k, 0, &a)) != 0)
		return rc < 0 ? NULL : Py_NewRef(Py_None);
	rc = isoext.iso_status(&a, &st);
	if (rc == ISO_ESTALE) {
		if ((rc = refresh(self, k, 0, &a)) != 0)
			return rc < 0 ? NULL : Py_NewRef(Py_None);
		rc = isoext.iso_status(&a, &st);
	}
	if (rc < 0)
		return isoext_raise_key(rc, "status", k);
	return isoext_status_dict(&st);
}

enum op { OP_RESET, OP_HALT, OP_RELEASE, OP_RETIRE, OP_CONFIGURE };

/* One operator action on a known account, attributed (@op: uid, pid and
 * reason in its event [R8]). For OP_RELEASE the result says whether a
 * halt was lifted. Returns 0/1 or a negative code; ISO_ESTALE is returned
 * as is for the caller's retry. */
static int act(const iso_account_t *a, enum op op,
	       const struct iso_config *cfg, const struct iso_op *attr)
{
	int rc;

	switch (op) {
	case OP_RESET:
		return isoext.iso_reset(a);
	case OP_HALT:
		/* Halting a halted account changes nothing: not an error
		 * for the binding, as it was not before. */
		rc = isoext.iso_halt(a, attr);
		return rc == ISO_EEXIST ? 0 : rc;
	case OP_CONFIGURE:
		return isoext.iso_configure_op(a, cfg, attr);
	case OP_RETIRE:
		return isoext.iso_retire(a);
	case OP_RELEASE:
		/* One CAS in the library: only a halt is lifted; a breaker
		 * the account tripped itself is left to recover. */
		rc = isoext.iso_release(a, attr);
		return rc == 0 ? 1 : rc == ISO_ENOENT ? 0 : rc;
	}
	return ISO_EINVAL;
}

/* The operator calls by key: look up (never register), act, retry once on
 * a retired handle. @strict raises UnknownAccountError for an unknown
 * account; otherwise the result is False. */
static PyObject *operate(isoext_registry *self, const char *fn,
			 const char *call, PyObject *const *k, enum op op,
			 const struct iso_config *cfg, const struct iso_op *attr,
			 int strict)
{
	iso_account_t a;
	int rc = handle(self, k, 0, &a), absent;

	if (rc < 0)
		return NULL;
	absent = rc == 1;
	if (!absent) {
		if (op == OP_RETIRE && exact_strs(k)) {
			Py_hash_t h = key_hash(k);

			if (h == -1)
				return NULL;
			cache_del(&self->cache, k, h);
		}
		rc = act(&a, op, cfg, attr);
		if (rc == ISO_ESTALE && op == OP_RETIRE)
			Py_RETURN_FALSE;
		if (rc == ISO_ESTALE) {
			if ((rc = refresh(self, k, 0, &a)) < 0)
				return NULL;
			absent = rc == 1;
			if (!absent)
				rc = act(&a, op, cfg, attr);
		}
	}
	if (absent) {
		if (strict)
			return unknown_account(self, fn, k);
		Py_RETURN_FALSE;
	}
	if (rc < 0)
		return isoext_raise_key(rc, call, k);
	if (op == OP_HALT || op == OP_CONFIGURE)
		Py_RETURN_NONE;
	if (op == OP_RELEASE)
		return PyBool_FromLong(rc == 1);
	Py_RETURN_TRUE;
}

/* An operator's reason for the event: None, or a str with no NUL (the
 * library checks its length and bytes and names what is wrong). */
static int reason_of(PyObject *o, struct iso_op *attr)
{
	Py_ssize_t n;

	memset(attr, 0, sizeof(*attr));
	if (!o || o == Py_None)
		return 0;
	if (!PyUnicode_Check(o)) {
		PyErr_Format(PyExc_TypeError, "reason: expected a string, got %R",
			     o);
		return -1;
	}
	if (!(attr->reason = PyUnicode_AsUTF8AndSize(o, &n)))
		return -1;
	if ((size_t)n != strlen(attr->reason)) {
		PyErr_Format(PyExc_ValueError,
			     "reason: %R contains a NUL character", o);
		return -1;
	}
	return 0;
}

/* reset_account: True, or False for an unknown account. */
static PyObject *reg_reset(isoext_registry *self, PyObject *const *args,
			   Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[3];

	if (parse3("reset_account", args, nargs, kwnames, k) < 0)
		return NULL;
	return operate(self, "reset_account", "reset", k, OP_RESET, NULL, NULL,
		       0);
}

/* retire_account: True, or False for an unknown account. */
static PyObject *reg_retire(isoext_registry *self, PyObject *const *args,
			    Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[3];

	if (parse3("retire_account", args, nargs, kwnames, k) < 0)
		return NULL;
	return operate(self, "retire_account", "retire", k, OP_RETIRE, NULL,
		       NULL, 0);
}

static const char *const names_op[] = { "account_type", "account_id",
					 "broker_type", "reason" };

/* halt_account(t, i, b, reason=None); an unknown account is refused. */
static PyObject *reg_halt(isoext_registry *self, PyObject *const *args,
			  Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[4];
	struct iso_op attr;

	if (isoext_parse("halt_account", args, nargs, kwnames, names_op, 4, 3,
			 k) < 0 ||
	    reason_of(k[3], &attr) < 0)
		return NULL;
	return operate(self, "halt_account", "halt", k, OP_HALT, NULL, &attr,
		       1);
}

/* release_account(t, i, b, reason=None): whether a halt was lifted. */
static PyObject *reg_release(isoext_registry *self, PyObject *const *args,
			     Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *k[4];
	struct iso_op attr;

	if (isoext_parse("release_account", args, nargs, kwnames, names_op, 4,
			 3, k) < 0 ||
	    reason_of(k[3], &attr) < 0)
		return NULL;
	return operate(self, "release_account", "release", k, OP_RELEASE,
		       NULL, &attr, 1);
}

/* configure_account(t, i, b, config, reason=None). */
static PyObject *reg_configure(isoext_registry *self, PyObject *const *args,
			       Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "account_type", "account_id",
					     "broker_type", "config",
					     "reason" };
	PyObject *k[5];
	struct iso_config cfg;
	struct iso_op attr;

	if (isoext_parse("configure_account", args, nargs, kwnames, names, 5,
			 4, k) < 0 ||
	    reason_of(k[4], &attr) < 0)
		return NULL;
	if (k[3] != Py_None && isoext_config_from(k[3], &cfg) < 0)
		return NULL;
	return operate(self, "configure_account", "configure", k, OP_CONFIGURE,
		       k[3] == Py_None ? NULL : &cfg, &attr, 1);
}

PyDoc_STRVAR(guard_doc,
"guard(account_type, account_id, broker_type, classify=None)\n--\n\n"
"A context manager around one operation of the account, `with` or\n"
"`async with`; see isoreg.guard.Guard.");

static PyObject *reg_guard(isoext_registry *self, PyObject *const *args,
			   Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = { "account_type", "account_id",
					     "broker_type", "classify" };
	PyObject *k[4];
	PyTypeObject *cls = isoext_st.guard_class
				    ? (PyTypeObject *)isoext_st.guard_class
				    : &isoext_guard_type;

	if (isoext_parse("guard", args, nargs, kwnames, names, 4, 3, k) < 0)
		return NULL;
	return isoext_guard_make(cls, (PyObject *)self, k[0], k[1], k[2],
				 k[3] ? k[3] : Py_None);
}

/* ------------------------------------------------------- the segment */

/* _attach(name, flags, capacity, config|None[, timeout_ms]): attach or
 * create; returns the ISO_* code, for the caller's retry loop (EEXIST for
 * a private name taken, EBUSY while another creates). */
static PyObject *reg_attach(isoext_registry *self, PyObject *args)
{
	const char *name;
	Py_ssize_t n;
	unsigned int flags;
	PyObject *cap_o, *cfg_o, *tmo_o = Py_None;
	uint64_t cap = 0, tmo = 0;
	struct iso_config cfg;
	struct iso_attach_opts opts;
	iso_reg_t *reg = NULL;
	int rc;

	if (!PyArg_ParseTuple(args, "s#IOO|O:_attach", &name, &n, &flags,
			      &cap_o, &cfg_o, &tmo_o))
		return NULL;
	if ((size_t)n != strlen(name)) {
		PyErr_Format(PyExc_ValueError,
			     "segment: %R contains a NUL character",
			     PyTuple_GET_ITEM(args, 0));
		return NULL;
	}
	if (self->reg) {
		PyErr_SetString(PyExc_RuntimeError,
				"AccountIsolationManager: already attached");
		return NULL;
	}
	if (isoext_to_u64(cap_o, "capacity", UINT32_MAX, &cap) < 0 ||
	    (tmo_o != Py_None &&
	     isoext_to_u64(tmo_o, "attach_timeout_ms", UINT32_MAX, &tmo) < 0))
		return NULL;
	memset(&opts, 0, sizeof(opts));
	opts.flags = flags;
	opts.capacity = (uint32_t)cap;
	opts.attach_timeout_ms = (uint32_t)tmo;
	if (cfg_o != Py_None) {
		if (isoext_config_from(cfg_o, &cfg) < 0)
			return NULL;
		opts.defaults = &cfg;
	}
	/* Attach may wait for a creator (up to attach_timeout_ms). */
	Py_BEGIN_ALLOW_THREADS
	rc = isoext.iso_attach(name, &opts, &reg);
	Py_END_ALLOW_THREADS
	if (rc == 0)
		self->reg = reg;
	return PyLong_FromLong(rc);
}

/* _broker(op, broker, reason=None): halt (1) or release (0) a whole
 * broker; the library's code (0, ISO_EEXIST, ISO_ENOENT) for Python. */
static PyObject *reg_broker(isoext_registry *self, PyObject *args)
{
	int halt;
	const char *broker;
	Py_ssize_t n;
	PyObject *reason_o = Py_None;
	struct iso_op attr;
	int rc;

	if (!PyArg_ParseTuple(args, "ps#|O:_broker", &halt, &broker, &n,
			      &reason_o))
		return NULL;
	if ((size_t)n != strlen(broker)) {
		PyErr_Format(PyExc_ValueError, "broker: %R contains a NUL "
			     "character", PyTuple_GET_ITEM(args, 1));
		return NULL;
	}
	if (reason_of(reason_o, &attr) < 0)
		return NULL;
	if (!self->reg) {
		closed_error(self);
		return NULL;
	}
	rc = halt ? isoext.iso_halt_broker(self->reg, broker, &attr)
		  : isoext.iso_release_broker(self->reg, broker, &attr);
	if (rc < 0 && rc != ISO_EEXIST && rc != ISO_ENOENT)
		return isoext_raise(rc, halt ? "halt_broker" : "release_broker");
	return PyLong_FromLong(rc);
}

/* _halted_brokers(): the names of the brokers halted now. */
static PyObject *reg_halted_brokers(isoext_registry *self, PyObject *unused)
{
	char names[ISO_BROKER_HALTS_MAX][ISO_BROKER_MAX + 1];
	int n;

	if (!self->reg) {
		closed_error(self);
		return NULL;
	}
	n = isoext.iso_halted_brokers(self->reg, names, ISO_BROKER_HALTS_MAX);
	if (n < 0)
		return isoext_raise(n, "halted_brokers");
	PyObject *l = PyList_New(0);
	for (int i = 0; l && i < n && i < ISO_BROKER_HALTS_MAX; i++) {
		PyObject *u = PyUnicode_FromString(names[i]);
		if (!u || PyList_Append(l, u) < 0) {
			Py_XDECREF(u);
			Py_CLEAR(l);
			break;
		}
		Py_DECREF(u);
	}
	return l;
}

/* _segment_check(): iso_segment_check's code (0, ISO_ESTALE: the name
 * points elsewhere now, ISO_ECORRUPT: damaged). */
static PyObject *reg_segment_check(isoext_registry *self, PyObject *unused)
{
	if (!self->reg) {
		closed_error(self);
		return NULL;
	}
	return PyLong_FromLong(isoext.iso_segment_check(self->reg));
}

/* _detach(): forget the handles and detach (close()); idempotent. */
static PyObject *reg_detach(isoext_registry *self, PyObject *unused)
{
	iso_reg_t *reg = self->reg;

	cache_clear(&self->cache);
	self->reg = NULL;
	if (reg)
		isoext.iso_detach(reg);
	Py_RETURN_NONE;
}

/* _set_override(config|None): the config every registration applies. */
static PyObject *reg_set_override(isoext_registry *self, PyObject *cfg_o)
{
	if (cfg_o == Py_None) {
		self->has_override = 0;
		Py_RETURN_NONE;
	}
	if (isoext_config_from(cfg_o, &self->override) < 0)
		return NULL;
	self->has_override = 1;
	Py_RETURN_NONE;
}

/* _segment_info(): struct iso_segment_info as a dict. */
static PyObject *reg_segment_info(isoext_registry *self, PyObject *unused)
{
	struct iso_segment_info in;
	int rc;

	if (!self->reg) {
		closed_error(self);
		return NULL;
	}
	if ((rc = isoext.iso_segment_info(self->reg, &in)) < 0)
		return isoext_raise(rc, "segment_info");
	return Py_BuildValue(
		"{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:K,s:K,s:K,s:I,s:I,s:O,s:O,"
		"s:N}",
		"name", in.name, "capacity", in.capacity, "used", in.used,
		"live", in.live, "dir_capacity", in.dir_capacity,
		"dir_tombstones", in.dir_tombstones, "ring_capacity",
		in.ring_capacity, "slot_size", in.slot_size, "segment_size",
		(unsigned long long)in.segment_size, "bytes_per_account",
		(unsigned long long)in.bytes_per_account, "generation",
		(unsigned long long)in.generation, "retire_cooldown_ms",
		in.retire_cooldown_ms, "layout_version", in.layout_version,
		"read_only", in.read_only ? Py_True : Py_False, "windows",
		in.windows ? Py_True : Py_False, "defaults",
		isoext_config_tuple(&in.defaults));
}

PyDoc_STRVAR(statuses_doc,
"get_all_account_statuses()\n--\n\n"
"Metrics of every account in the segment, from every process.\n\n"
"Keyed like the reference, \"type/id/BROKER\" (normalised: type and id\n"
"lower-case, broker upper-case); each value has a 'status' field.");

static PyObject *reg_statuses(isoext_registry *self, PyObject *unused)
{
	if (!self->reg) {
		closed_error(self);
		return NULL;
	}
	return isoext_statuses(self->reg);
}

PyDoc_STRVAR(report_doc,
"get_isolation_report()\n--\n\n"
"The reference's isolation report over the whole segment.\n\n"
"cross_account_errors_detected counts the violations the library\n"
"detected (writes refused through stale handles, slots failing their\n"
"integrity check); isolation_guarantee is \"ACTIVE\" while it is 0.\n"
"'brokers' maps each broker to its accounts, unhealthy and degraded\n"
"counts, so a broker-wide incident shows as one line.");

static PyObject *reg_report(isoext_registry *self, PyObject *unused)
{
	struct iso_report *rep;
	PyObject *d;
	int rc;

	if (!self->reg) {
		closed_error(self);
		return NULL;
	}
	if (!(rep = PyMem_Malloc(sizeof(*rep))))
		return PyErr_NoMemory();
	/* A walk of every slot: another thread may run meanwhile. */
	Py_BEGIN_ALLOW_THREADS
	rc = isoext.iso_report(self->reg, rep);
	Py_END_ALLOW_THREADS
	d = rc < 0 ? isoext_raise(rc, "report") : isoext_report_dict(rep);
	PyMem_Free(rep);
	return d;
}

/* _attached: whether the manager is attached (not closed). */
static PyObject *reg_get_attached(isoext_registry *self, void *unused)
{
	return PyBool_FromLong(self->reg != NULL);
}

/* _cached_handles: how many handles the cache holds. */
static PyObject *reg_get_cached(isoext_registry *self, void *unused)
{
	return PyLong_FromSize_t(self->cache.used);
}

/* Free the cache and detach. */
static void reg_dealloc(isoext_registry *self)
{
	iso_reg_t *reg = self->reg;

	cache_clear(&self->cache);
	self->reg = NULL;
	if (reg)
		isoext.iso_detach(reg);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A manager not attached yet (the Python __init__ attaches). */
static PyObject *reg_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	isoext_registry *self;

	if (!isoext_loaded) {
		PyErr_SetString(PyExc_RuntimeError,
				"isoreg._isoreg: libisoreg is not loaded");
		return NULL;
	}
	self = (isoext_registry *)type->tp_alloc(type, 0);
	if (self) {
		self->reg = NULL;
		memset(&self->cache, 0, sizeof(self->cache));
		self->has_override = 0;
	}
	return (PyObject *)self;
}

#define FAST (METH_FASTCALL | METH_KEYWORDS)
#define FN(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef reg_methods[] = {
	{ "can_execute_operation", FN(reg_can_execute), FAST, can_execute_doc },
	{ "record_success", FN(reg_record_success), FAST, record_success_doc },
	{ "record_failure", FN(reg_record_failure), FAST, record_failure_doc },
	{ "get_all_account_statuses", FN(reg_statuses), METH_NOARGS,
	  statuses_doc },
	{ "get_isolation_report", FN(reg_report), METH_NOARGS, report_doc },
	{ "_register", FN(reg_register), FAST, register_doc },
	{ "_status", FN(reg_status), FAST, status_doc },
	{ "_reset", FN(reg_reset), FAST, NULL },
	{ "_retire", FN(reg_retire), FAST, NULL },
	{ "_halt", FN(reg_halt), FAST, NULL },
	{ "_release", FN(reg_release), FAST, NULL },
	{ "_configure", FN(reg_configure), FAST, NULL },
	{ "guard", FN(reg_guard), FAST, guard_doc },
	{ "_attach", FN(reg_attach), METH_VARARGS,
	  "_attach(name, flags, capacity, config_tuple|None[, timeout_ms]) "
	  "-> ISO_* code" },
	{ "_detach", FN(reg_detach), METH_NOARGS, NULL },
	{ "_set_override", FN(reg_set_override), METH_O, NULL },
	{ "_segment_info", FN(reg_segment_info), METH_NOARGS, NULL },
	{ "_broker", FN(reg_broker), METH_VARARGS, NULL },
	{ "_halted_brokers", FN(reg_halted_brokers), METH_NOARGS, NULL },
	{ "_segment_check", FN(reg_segment_check), METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef reg_getset[] = {
	{ "_attached", (getter)reg_get_attached, NULL, NULL, NULL },
	{ "_cached_handles", (getter)reg_get_cached, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

PyTypeObject isoext_registry_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "isoreg._isoreg.Registry",
	.tp_basicsize = sizeof(isoext_registry),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "The C base of AccountIsolationManager: one attachment and "
		  "its handle cache.",
	.tp_new = reg_new,
	.tp_dealloc = (destructor)reg_dealloc,
	.tp_methods = reg_methods,
	.tp_getset = reg_getset,
};
