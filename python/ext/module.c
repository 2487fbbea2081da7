/*
 * module.c - the module isoreg._isoreg: loading libisoreg, errors, the
 * library's names and classifiers, the test clock, and the facts about
 * the structures this extension was compiled against.
 *
 * The library is dlopen()ed from the path isoreg's Python side chose
 * (ISOREG_LIB, the copy beside the package, the system's), not linked at
 * build time: the tests run against the build under test, and one built
 * extension works with any libisoreg.so of the same header.
 */
#include "isoreg_ext.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

struct isoext_api isoext;
int isoext_loaded;
struct isoext_state isoext_st;

static void *lib_handle;
static PyObject *lib_path;

/* ------------------------------------------------------------- errors */

/* Raise the exception for @rc of @call: ValueError for ISO_EINVAL (the
 * caller's mistake, with the library's message naming the field), else
 * isoreg.IsoregError(rc, detail, call). Returns NULL. */
PyObject *isoext_raise(int rc, const char *call)
{
	const char *detail = isoext.iso_last_error();
	PyObject *e;

	if (!detail || !*detail)
		detail = isoext.iso_strerror(rc);
	if (rc == ISO_EINVAL || !isoext_st.isoreg_error) {
		PyErr_SetString(rc == ISO_EINVAL ? PyExc_ValueError
						 : PyExc_OSError, detail);
		return NULL;
	}
	e = PyObject_CallFunction(isoext_st.isoreg_error, "iss", rc, detail,
				  call);
	if (e) {
		PyErr_SetObject((PyObject *)Py_TYPE(e), e);
		Py_DECREF(e);
	}
	return NULL;
}

/* isoext_raise for @call on the caller's key @key ("call t/i/b"). */
PyObject *isoext_raise_key(int rc, const char *call, PyObject *const *key)
{
	char buf[64 + 3 * 128];
	const char *s[3];

	for (int f = 0; f < 3; f++) {
		s[f] = PyUnicode_Check(key[f]) ? PyUnicode_AsUTF8(key[f]) : NULL;
		if (!s[f]) {
			PyErr_Clear();
			s[f] = "?";
		}
	}
	snprintf(buf, sizeof(buf), "%s %.127s/%.127s/%.127s", call, s[0], s[1],
		 s[2]);
	return isoext_raise(rc, buf);
}

/* An int in 0..@max, else OverflowError naming @what (see the header). */
int isoext_to_u64(PyObject *o, const char *what, uint64_t max, uint64_t *out)
{
	unsigned long long v = 0;
	long long sv;
	int overflow, bad;

	if (!PyLong_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s: expected an integer, got %R",
			     what, o);
		return -1;
	}
	sv = PyLong_AsLongLongAndOverflow(o, &overflow);
	if (sv == -1 && !overflow && PyErr_Occurred())
		return -1;
	bad = overflow < 0 || (!overflow && sv < 0);
	if (!bad) {
		v = PyLong_AsUnsignedLongLong(o);
		if (v == (unsigned long long)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			bad = 1;
		}
	}
	if (bad || v > max) {
		PyErr_Format(PyExc_OverflowError,
			     "%s: %R is out of range 0..%llu", what, o,
			     (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* The tuple's integer fields, in struct iso_config's order; rate_per_s
 * (a float) sits between burst's predecessors and burst. */
static const char *const cfg_fields[] = {
	"failure_threshold", "success_threshold", "half_open_max_calls",
	"degrade_after", "open_timeout_ms", "max_open_timeout_ms",
	"probe_timeout_ms", "trip_on", "ignore", "flags", "rate_per_s",
	"burst", "window_ms", "min_calls", "failure_rate_threshold",
	"slow_call_ms", "slow_call_rate_threshold"
};
#define CFG_TUPLE 17 /* the ten, rate_per_s (float), burst, the five [B7] */
#define CFG_RATE 10  /* the one float */
_Static_assert(sizeof(cfg_fields) / sizeof(cfg_fields[0]) == CFG_TUPLE,
	       "one name per tuple field");

/* struct iso_config from CircuitBreakerConfig.to_c()'s 17-tuple. */
int isoext_config_from(PyObject *o, struct iso_config *cfg)
{
	uint32_t *f[CFG_TUPLE] = {
		&cfg->failure_threshold, &cfg->success_threshold,
		&cfg->half_open_max_calls, &cfg->degrade_after,
		&cfg->open_timeout_ms, &cfg->max_open_timeout_ms,
		&cfg->probe_timeout_ms, &cfg->trip_on, &cfg->ignore,
		&cfg->flags, NULL, &cfg->burst, &cfg->window_ms,
		&cfg->min_calls, &cfg->failure_rate_threshold,
		&cfg->slow_call_ms, &cfg->slow_call_rate_threshold
	};

	isoext.iso_config_default(cfg); /* a field added later starts sane */
	if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != CFG_TUPLE) {
		PyErr_Format(PyExc_TypeError,
			     "config: expected the %d-tuple of "
			     "CircuitBreakerConfig.to_c(), got %R", CFG_TUPLE, o);
		return -1;
	}
	for (int i = 0; i < CFG_TUPLE; i++) {
		uint64_t v;

		if (i == CFG_RATE)
			continue;
		if (isoext_to_u64(PyTuple_GET_ITEM(o, i), cfg_fields[i],
				  UINT32_MAX, &v) < 0)
			return -1;
		*f[i] = (uint32_t)v;
	}
	PyObject *r = PyTuple_GET_ITEM(o, CFG_RATE);
	if (!PyFloat_Check(r) && !PyLong_Check(r)) {
		PyErr_Format(PyExc_ValueError, "rate_per_s: %R is not a number",
			     r);
		return -1;
	}
	cfg->rate_per_s = PyFloat_AsDouble(r);
	if (cfg->rate_per_s == -1.0 && PyErr_Occurred())
		return -1;
	return 0;
}

/* The 17-tuple of @c, in struct iso_config's field order. */
PyObject *isoext_config_tuple(const struct iso_config *c)
{
	return Py_BuildValue("(IIIIIIIIIIdIIIIII)", c->failure_threshold,
			     c->success_threshold, c->half_open_max_calls,
			     c->degrade_after, c->open_timeout_ms,
			     c->max_open_timeout_ms, c->probe_timeout_ms,
			     c->trip_on, c->ignore, c->flags, c->rate_per_s,
			     c->burst, c->window_ms, c->min_calls,
			     c->failure_rate_threshold, c->slow_call_ms,
			     c->slow_call_rate_threshold);
}

/* Reason texts come from the library (the reference's wording). The ones
 * with no number in them (all but "retry in Ns") are the same every time,
 * so they are made once per reason code. */
PyObject *isoext_reason(const iso_permit_t *p)
{
	char buf[ISO_KEY_STR_MAX + 128];
	int n, has_digit = 0;
	PyObject *s;

	if (p->reason < ISO_REASON__COUNT && isoext_st.reason_text[p->reason])
		return Py_NewRef(isoext_st.reason_text[p->reason]);
	n = isoext.iso_permit_reason(p, buf, sizeof(buf));
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = (int)strnlen(buf, sizeof(buf) - 1);
	for (int i = 0; i < n; i++)
		has_digit |= buf[i] >= '0' && buf[i] <= '9';
	s = PyUnicode_DecodeASCII(buf, n, "replace");
	if (s && p->reason < ISO_REASON__COUNT && p->reason != ISO_REASON_OPEN &&
	    !has_digit)
		isoext_st.reason_text[p->reason] = Py_NewRef(s);
	return s;
}

/* ------------------------------------------------------------ loading */

static PyObject *mod_load(PyObject *m, PyObject *arg)
{
	const char *path;
	void *h;
	struct isoext_api api;

	if (!PyUnicode_Check(arg) || !(path = PyUnicode_AsUTF8(arg)))
		return PyErr_Format(PyExc_TypeError,
				    "load: expected a path, got %R", arg);
	if (isoext_loaded) {
		int same = PyObject_RichCompareBool(arg, lib_path, Py_EQ);

		if (same < 0)
			return NULL;
		if (same)
			Py_RETURN_NONE;
		return PyErr_Format(PyExc_RuntimeError,
				    "isoreg: libisoreg is loaded from %S "
				    "already, cannot load %S as well",
				    lib_path, arg);
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return PyErr_Format(PyExc_OSError, "%s", dlerror());
#define ISOEXT_RESOLVE(f)                                               \
	if (!(*(void **)&api.f = dlsym(h, #f))) {                       \
		dlclose(h);                                             \
		return PyErr_Format(PyExc_OSError,                      \
				    "%s: no symbol %s (a libisoreg "    \
				    "older than this binding's header?)", \
				    path, #f);                          \
	}
	ISOEXT_API(ISOEXT_RESOLVE)
#undef ISOEXT_RESOLVE
	isoext = api;
	lib_handle = h;
	lib_path = Py_NewRef(arg);
	isoext_loaded = 1;
	if (isoext_make_names() < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* Whether load() has run; RuntimeError (-1) if not. */
static int need_lib(void)
{
	if (isoext_loaded)
		return 0;
	PyErr_SetString(PyExc_RuntimeError,
			"isoreg._isoreg: libisoreg is not loaded");
	return -1;
}

/*
 * _bind(IsoregError, UnknownAccountError, failure_types, failure_code,
 *       classify): the Python objects the C side raises and dispatches to.
 */
static PyObject *mod_bind(PyObject *m, PyObject *args)
{
	PyObject *err, *unknown, *types, *code, *classify;

	if (!PyArg_ParseTuple(args, "OOOOO:_bind", &err, &unknown, &types,
			      &code, &classify))
		return NULL;
	if (!PyTuple_Check(types) || PyTuple_GET_SIZE(types) != ISO_FAIL__COUNT)
		return PyErr_Format(PyExc_ValueError,
				    "_bind: failure_types must be a tuple of %d "
				    "members, in the library's order",
				    ISO_FAIL__COUNT);
	for (int t = 0; t < ISO_FAIL__COUNT; t++) {
		PyObject *ft = PyTuple_GET_ITEM(types, t);
		PyObject *v = PyObject_GetAttrString(ft, "value");

		if (!v)
			return NULL;
		if (!PyUnicode_Check(v)) {
			Py_DECREF(v);
			return PyErr_Format(PyExc_TypeError,
					    "_bind: %R.value is not a str", ft);
		}
		Py_XSETREF(isoext_st.failure_types[t], Py_NewRef(ft));
		Py_XSETREF(isoext_st.failure_values[t], v);
	}
	Py_XSETREF(isoext_st.isoreg_error, Py_NewRef(err));
	Py_XSETREF(isoext_st.unknown_account, Py_NewRef(unknown));
	Py_XSETREF(isoext_st.failure_code, Py_NewRef(code));
	Py_XSETREF(isoext_st.classify, Py_NewRef(classify));
	Py_RETURN_NONE;
}

/*
 * _bind_guard(AccountBlockedError, health_members, guard_outcome, Guard):
 * what the C guard raises on a refusal, the AccountHealthStatus of each
 * health code, the classifier of an exception that left a guard, and the
 * class manager.guard() makes.
 */
static PyObject *mod_bind_guard(PyObject *m, PyObject *args)
{
	PyObject *blocked, *members, *outcome, *cls;

	if (!PyArg_ParseTuple(args, "OO!OO!:_bind_guard", &blocked,
			      &PyTuple_Type, &members, &outcome, &PyType_Type,
			      &cls))
		return NULL;
	if (!PyType_IsSubtype((PyTypeObject *)cls, &isoext_guard_type))
		return PyErr_Format(PyExc_TypeError,
				    "_bind_guard: %R is not a GuardBase", cls);
	if (PyTuple_GET_SIZE(members) != ISO_HEALTH__COUNT)
		return PyErr_Format(PyExc_ValueError,
				    "_bind_guard: %d health members expected",
				    ISO_HEALTH__COUNT);
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		Py_XSETREF(isoext_st.health_members[h],
			   Py_NewRef(PyTuple_GET_ITEM(members, h)));
	Py_XSETREF(isoext_st.blocked_error, Py_NewRef(blocked));
	Py_XSETREF(isoext_st.guard_outcome, Py_NewRef(outcome));
	Py_XSETREF(isoext_st.guard_class, Py_NewRef(cls));
	Py_RETURN_NONE;
}

/* ----------------------------------------------------- names and codes */

static PyObject *cstr(const char *s)
{
	return PyUnicode_DecodeASCII(s ? s : "", s ? (Py_ssize_t)strlen(s) : 0,
				     "replace");
}

/* strerror(code): iso_strerror. */
static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
	int rc = PyLong_AsLong(arg);

	if ((rc == -1 && PyErr_Occurred()) || need_lib() < 0)
		return NULL;
	return cstr(isoext.iso_strerror(rc));
}

/* last_error(): this thread's iso_last_error. */
static PyObject *mod_last_error(PyObject *m, PyObject *unused)
{
	if (need_lib() < 0)
		return NULL;
	return cstr(isoext.iso_last_error());
}

/* One of the library's name tables, by index. */
#define NAME_FN(pyname, cfn, type)                                  \
	static PyObject *pyname(PyObject *m, PyObject *arg)         \
	{                                                           \
		long v = PyLong_AsLong(arg);                        \
		if ((v == -1 && PyErr_Occurred()) || need_lib() < 0) \
			return NULL;                                \
		return cstr(isoext.cfn((type)v));                   \
	}
NAME_FN(mod_health_name, iso_health_name, enum iso_health)
NAME_FN(mod_breaker_state_name, iso_breaker_state_name, enum iso_breaker_state)
NAME_FN(mod_reason_name, iso_reason_name, enum iso_reason)
NAME_FN(mod_failure_type_name, iso_failure_type_name, enum iso_failure_type)

/* failure_type_parse(bytes): a type code or ISO_EINVAL. */
static PyObject *mod_failure_type_parse(PyObject *m, PyObject *args)
{
	const char *s;

	if (!PyArg_ParseTuple(args, "y:failure_type_parse", &s) ||
	    need_lib() < 0)
		return NULL;
	return PyLong_FromLong(isoext.iso_failure_type_parse(s));
}

/* config_default(): iso_config_default as a 17-tuple. */
static PyObject *mod_config_default(PyObject *m, PyObject *unused)
{
	struct iso_config c;

	if (need_lib() < 0)
		return NULL;
	isoext.iso_config_default(&c);
	return isoext_config_tuple(&c);
}

/* config_validate(tuple): ValueError naming the bad field. */
static PyObject *mod_config_validate(PyObject *m, PyObject *arg)
{
	struct iso_config c;
	int rc;

	if (need_lib() < 0 || isoext_config_from(arg, &c) < 0)
		return NULL;
	if ((rc = isoext.iso_config_validate(&c)) < 0)
		return isoext_raise(rc, "config");
	Py_RETURN_NONE;
}

/* segment_name(): $ISOREG_SEGMENT or the default. */
static PyObject *mod_segment_name(PyObject *m, PyObject *unused)
{
	if (need_lib() < 0)
		return NULL;
	return PyUnicode_DecodeFSDefault(isoext.iso_segment_name());
}

/* unlink(name) -> ISO_* code; a NUL in the name is refused. */
static PyObject *mod_unlink(PyObject *m, PyObject *args)
{
	const char *name;
	Py_ssize_t n;
	int rc;

	if (!PyArg_ParseTuple(args, "s#:unlink", &name, &n) || need_lib() < 0)
		return NULL;
	if ((size_t)n != strlen(name))
		return PyErr_Format(PyExc_ValueError,
				    "segment: %R contains a NUL character",
				    PyTuple_GET_ITEM(args, 0));
	rc = isoext.iso_unlink(name);
	return PyLong_FromLong(rc);
}

/* --------------------------------------------------------- classifiers */

/* classify_errno(errno): iso_classify_errno. */
static PyObject *mod_classify_errno(PyObject *m, PyObject *args)
{
	int e;

	if (!PyArg_ParseTuple(args, "i:classify_errno", &e) || need_lib() < 0)
		return NULL;
	return PyLong_FromLong(isoext.iso_classify_errno(e));
}

/* classify_http(status, retry_after: bytes|None, now) -> (type, retry_ms) */
static PyObject *mod_classify_http(PyObject *m, PyObject *args)
{
	int status;
	const char *ra = NULL;
	long long now;
	uint64_t ms = 0;
	int t;

	if (!PyArg_ParseTuple(args, "iz#L:classify_http", &status, &ra,
			      &(Py_ssize_t){ 0 }, &now) ||
	    need_lib() < 0)
		return NULL;
	t = isoext.iso_classify_http(status, ra, (int64_t)now, &ms);
	return Py_BuildValue("(iK)", t, (unsigned long long)ms);
}

/* classify_message(bytes): iso_classify_message. */
static PyObject *mod_classify_message(PyObject *m, PyObject *args)
{
	const char *s;

	if (!PyArg_ParseTuple(args, "y:classify_message", &s) || need_lib() < 0)
		return NULL;
	return PyLong_FromLong(isoext.iso_classify_message(s));
}

/* retry_after_parse(bytes, now) -> milliseconds, or None if unreadable. */
static PyObject *mod_retry_after_parse(PyObject *m, PyObject *args)
{
	const char *s;
	long long now;
	uint64_t ms = 0;

	if (!PyArg_ParseTuple(args, "yL:retry_after_parse", &s, &now) ||
	    need_lib() < 0)
		return NULL;
	if (isoext.iso_retry_after_parse(s, (int64_t)now, &ms) != 0)
		Py_RETURN_NONE;
	return PyLong_FromUnsignedLongLong(ms);
}

/* classify_add_message(bytes, type): teach the process a text. */
static PyObject *mod_classify_add_message(PyObject *m, PyObject *args)
{
	const char *s;
	int t, rc;

	if (!PyArg_ParseTuple(args, "yi:classify_add_message", &s, &t) ||
	    need_lib() < 0)
		return NULL;
	if ((rc = isoext.iso_classify_add_message(s, (enum iso_failure_type)t)) < 0)
		return isoext_raise(rc, "classify_add_message");
	Py_RETURN_NONE;
}

/* ------------------------------------------------------------- clock */

/* The manual clock of isoreg.testing: a value Python sets, read by the
 * library without calling back into Python (no GIL needed, any thread). */
static _Atomic uint64_t manual_now;

/* The library's clock while a ManualClock is installed. */
static uint64_t manual_clock(void *ctx)
{
	/* relaxed: a test moves the clock between calls, from one thread;
	 * nothing else is published through it. */
	return atomic_load_explicit(&manual_now, memory_order_relaxed);
}

/* clock_manual(now_ns, install): set the manual clock's value. */
static PyObject *mod_clock_manual(PyObject *m, PyObject *args)
{
	PyObject *now_o;
	int install;
	uint64_t now;

	if (!PyArg_ParseTuple(args, "Op:clock_manual", &now_o, &install) ||
	    need_lib() < 0 ||
	    isoext_to_u64(now_o, "clock (ns)", UINT64_MAX, &now) < 0)
		return NULL;
	atomic_store_explicit(&manual_now, now, memory_order_relaxed);
	if (install)
		isoext.iso_clock_set(manual_clock, NULL);
	Py_RETURN_NONE;
}

/* clock_real(): give the library its real clock back. */
static PyObject *mod_clock_real(PyObject *m, PyObject *unused)
{
	if (need_lib() < 0)
		return NULL;
	isoext.iso_clock_set(NULL, NULL);
	Py_RETURN_NONE;
}

/* now_ns(): the library's clock. */
static PyObject *mod_now_ns(PyObject *m, PyObject *unused)
{
	if (need_lib() < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong(isoext.iso_now_ns());
}

/* ------------------------------------------------------ the structures */

/*
 * struct_layout() -> {"iso_status": (size, {"field": offset, ...}), ...}
 * as this extension was compiled: python/tests/test_abi.py compares it
 * with a probe compiled against the header in the tree, so an extension
 * built from an older header (make python not re-run) is caught.
 */
#define LAYOUT_BEGIN(name, type)                                        \
	do {                                                            \
		PyObject *f_ = PyDict_New(), *t_;                       \
		const char *n_ = name;                                  \
		size_t size_ = sizeof(type);                            \
		if (!f_)                                                \
			goto fail;
#define LAYOUT_FIELD(type, field)                                       \
		if (put_size(f_, #field, offsetof(type, field)) < 0) {  \
			Py_DECREF(f_);                                  \
			goto fail;                                      \
		}
#define LAYOUT_END()                                                    \
		t_ = Py_BuildValue("(nN)", (Py_ssize_t)size_, f_);      \
		if (!t_ || PyDict_SetItemString(out, n_, t_) < 0) {     \
			Py_XDECREF(t_);                                 \
			goto fail;                                      \
		}                                                       \
		Py_DECREF(t_);                                          \
	} while (0)

/* d[k] = v for a size; 0 or -1. */
static int put_size(PyObject *d, const char *k, size_t v)
{
	PyObject *o = PyLong_FromSize_t(v);
	int rc = o ? PyDict_SetItemString(d, k, o) : -1;

	Py_XDECREF(o);
	return rc;
}

/* struct_layout(): sizes and offsets as compiled here. */
static PyObject *mod_struct_layout(PyObject *m, PyObject *unused)
{
	PyObject *out = PyDict_New();

	if (!out)
		return NULL;
	LAYOUT_BEGIN("iso_config", struct iso_config)
	LAYOUT_FIELD(struct iso_config, failure_threshold)
	LAYOUT_FIELD(struct iso_config, success_threshold)
	LAYOUT_FIELD(struct iso_config, half_open_max_calls)
	LAYOUT_FIELD(struct iso_config, degrade_after)
	LAYOUT_FIELD(struct iso_config, open_timeout_ms)
	LAYOUT_FIELD(struct iso_config, max_open_timeout_ms)
	LAYOUT_FIELD(struct iso_config, probe_timeout_ms)
	LAYOUT_FIELD(struct iso_config, trip_on)
	LAYOUT_FIELD(struct iso_config, ignore)
	LAYOUT_FIELD(struct iso_config, flags)
	LAYOUT_FIELD(struct iso_config, rate_per_s)
	LAYOUT_FIELD(struct iso_config, burst)
	LAYOUT_FIELD(struct iso_config, window_ms)
	LAYOUT_FIELD(struct iso_config, min_calls)
	LAYOUT_FIELD(struct iso_config, failure_rate_threshold)
	LAYOUT_FIELD(struct iso_config, slow_call_ms)
	LAYOUT_FIELD(struct iso_config, slow_call_rate_threshold)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_key", struct iso_key)
	LAYOUT_FIELD(struct iso_key, type)
	LAYOUT_FIELD(struct iso_key, id)
	LAYOUT_FIELD(struct iso_key, broker)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_attach_opts", struct iso_attach_opts)
	LAYOUT_FIELD(struct iso_attach_opts, flags)
	LAYOUT_FIELD(struct iso_attach_opts, capacity)
	LAYOUT_FIELD(struct iso_attach_opts, mode)
	LAYOUT_FIELD(struct iso_attach_opts, retire_cooldown_ms)
	LAYOUT_FIELD(struct iso_attach_opts, defaults)
	LAYOUT_FIELD(struct iso_attach_opts, attach_timeout_ms)
	LAYOUT_FIELD(struct iso_attach_opts, owner)
	LAYOUT_FIELD(struct iso_attach_opts, events)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_account", iso_account_t)
	LAYOUT_FIELD(iso_account_t, reg)
	LAYOUT_FIELD(iso_account_t, slot)
	LAYOUT_FIELD(iso_account_t, gen)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_permit", iso_permit_t)
	LAYOUT_FIELD(iso_permit_t, slot)
	LAYOUT_FIELD(iso_permit_t, gen)
	LAYOUT_FIELD(iso_permit_t, episode)
	LAYOUT_FIELD(iso_permit_t, flags)
	LAYOUT_FIELD(iso_permit_t, reason)
	LAYOUT_FIELD(iso_permit_t, health)
	LAYOUT_FIELD(iso_permit_t, retry_in_ms)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_segment_info", struct iso_segment_info)
	LAYOUT_FIELD(struct iso_segment_info, name)
	LAYOUT_FIELD(struct iso_segment_info, capacity)
	LAYOUT_FIELD(struct iso_segment_info, generation)
	LAYOUT_FIELD(struct iso_segment_info, read_only)
	LAYOUT_FIELD(struct iso_segment_info, defaults)
	LAYOUT_FIELD(struct iso_segment_info, windows)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_status", struct iso_status)
	LAYOUT_FIELD(struct iso_status, key)
	LAYOUT_FIELD(struct iso_status, health)
	LAYOUT_FIELD(struct iso_status, breaker)
	LAYOUT_FIELD(struct iso_status, operations)
	LAYOUT_FIELD(struct iso_status, failures_by_type)
	LAYOUT_FIELD(struct iso_status, quarantines)
	LAYOUT_FIELD(struct iso_status, last_failure_ms)
	LAYOUT_FIELD(struct iso_status, retry_in_ms)
	LAYOUT_FIELD(struct iso_status, avg_op_ms)
	LAYOUT_FIELD(struct iso_status, hist)
	LAYOUT_FIELD(struct iso_status, config)
	LAYOUT_FIELD(struct iso_status, config_override)
	LAYOUT_FIELD(struct iso_status, broker_halted)
	LAYOUT_FIELD(struct iso_status, budget_available)
	LAYOUT_FIELD(struct iso_status, budget_refusals)
	LAYOUT_FIELD(struct iso_status, last_cause)
	LAYOUT_FIELD(struct iso_status, window_calls)
	LAYOUT_FIELD(struct iso_status, window_failures)
	LAYOUT_FIELD(struct iso_status, window_slow_calls)
	LAYOUT_FIELD(struct iso_status, failure_rate)
	LAYOUT_FIELD(struct iso_status, slow_call_rate)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_broker_summary", struct iso_broker_summary)
	LAYOUT_FIELD(struct iso_broker_summary, broker)
	LAYOUT_FIELD(struct iso_broker_summary, accounts)
	LAYOUT_FIELD(struct iso_broker_summary, unhealthy)
	LAYOUT_FIELD(struct iso_broker_summary, degraded)
	LAYOUT_FIELD(struct iso_broker_summary, incident)
	LAYOUT_END();
	LAYOUT_BEGIN("iso_report", struct iso_report)
	LAYOUT_FIELD(struct iso_report, total_accounts)
	LAYOUT_FIELD(struct iso_report, by_health)
	LAYOUT_FIELD(struct iso_report, cross_account_errors)
	LAYOUT_FIELD(struct iso_report, isolation_active)
	LAYOUT_FIELD(struct iso_report, brokers_count)
	LAYOUT_FIELD(struct iso_report, brokers)
	LAYOUT_FIELD(struct iso_report, brokers_dropped)
	LAYOUT_END();
	return out;
fail:
	Py_DECREF(out);
	return NULL;
}

/* -------------------------------------------------------------- module */

#define FN(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef mod_methods[] = {
	{ "load", mod_load, METH_O,
	  "load(path): dlopen libisoreg.so at @path and resolve every "
	  "function this binding calls (OSError if it cannot)" },
	{ "_bind", mod_bind, METH_VARARGS, NULL },
	{ "_bind_guard", mod_bind_guard, METH_VARARGS, NULL },
	{ "strerror", mod_strerror, METH_O, "iso_strerror(code)" },
	{ "last_error", mod_last_error, METH_NOARGS,
	  "iso_last_error(): this thread's detail of its last failure" },
	{ "health_name", mod_health_name, METH_O, "iso_health_name(h)" },
	{ "breaker_state_name", mod_breaker_state_name, METH_O,
	  "iso_breaker_state_name(s)" },
	{ "reason_name", mod_reason_name, METH_O, "iso_reason_name(r)" },
	{ "failure_type_name", mod_failure_type_name, METH_O,
	  "iso_failure_type_name(t)" },
	{ "failure_type_parse", mod_failure_type_parse, METH_VARARGS,
	  "iso_failure_type_parse(bytes) -> type or ISO_EINVAL" },
	{ "config_default", mod_config_default, METH_NOARGS,
	  "iso_config_default() as the 17-tuple of struct iso_config" },
	{ "config_validate", mod_config_validate, METH_O,
	  "iso_config_validate(tuple): ValueError naming the field" },
	{ "segment_name", mod_segment_name, METH_NOARGS, "iso_segment_name()" },
	{ "unlink", mod_unlink, METH_VARARGS, "iso_unlink(name) -> code" },
	{ "classify_errno", mod_classify_errno, METH_VARARGS, NULL },
	{ "classify_http", mod_classify_http, METH_VARARGS,
	  "classify_http(status, retry_after bytes|None, now) -> "
	  "(type, retry_after_ms)" },
	{ "classify_message", mod_classify_message, METH_VARARGS, NULL },
	{ "retry_after_parse", mod_retry_after_parse, METH_VARARGS,
	  "retry_after_parse(bytes, now) -> ms or None" },
	{ "classify_add_message", mod_classify_add_message, METH_VARARGS, NULL },
	{ "clock_manual", mod_clock_manual, METH_VARARGS,
	  "clock_manual(now_ns, install): set (and install) the manual clock" },
	{ "clock_real", mod_clock_real, METH_NOARGS,
	  "restore the library's real clock" },
	{ "now_ns", mod_now_ns, METH_NOARGS, "iso_now_ns()" },
	{ "struct_layout", mod_struct_layout, METH_NOARGS,
	  "sizes and offsets of the structures as compiled here" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "isoreg._isoreg",
	.m_doc = "libisoreg for CPython: the C half of the isoreg package.",
	.m_size = -1,
	.m_methods = mod_methods,
};

/* The module: types, interned keys, and the header's constants. */
PyMODINIT_FUNC PyInit__isoreg(void)
{
	PyObject *m;

	if (PyType_Ready(&isoext_registry_type) < 0 ||
	    PyType_Ready(&isoext_guard_type) < 0 || isoext_make_keys() < 0)
		return NULL;
	if (!(isoext_st.str_q = PyUnicode_InternFromString("?")))
		return NULL;
	if (!(m = PyModule_Create(&module)))
		return NULL;
	if (PyModule_AddObjectRef(m, "Registry",
				  (PyObject *)&isoext_registry_type) < 0 ||
	    PyModule_AddObjectRef(m, "GuardBase",
				  (PyObject *)&isoext_guard_type) < 0)
		goto fail;
#define C(name) if (PyModule_AddIntConstant(m, #name, name) < 0) goto fail;
	C(ISO_OK) C(ISO_EINVAL) C(ISO_ENOENT) C(ISO_EEXIST) C(ISO_EFULL)
	C(ISO_ECORRUPT) C(ISO_EVERSION) C(ISO_ESTALE) C(ISO_EOPEN)
	C(ISO_ERDONLY) C(ISO_ESYS) C(ISO_ENOMEM) C(ISO_EPERM) C(ISO_EBUSY) C(ISO_ELIMIT)
	C(ISO_FAIL__COUNT) C(ISO_HEALTH__COUNT) C(ISO_BREAKER__COUNT)
	C(ISO_REASON__COUNT) C(ISO_HIST_BUCKETS) C(ISO_REPORT_MAX_BROKERS)
	C(ISO_INCIDENT_UNHEALTHY_PCT) C(ISO_INCIDENT_MIN_ACCOUNTS)
	C(ISO_TYPE_MAX) C(ISO_ID_MAX) C(ISO_BROKER_MAX) C(ISO_KEY_STR_MAX)
	C(ISO_HEALTHY) C(ISO_DEGRADED) C(ISO_RECOVERING) C(ISO_QUARANTINED)
	C(ISO_FAILING) C(ISO_BREAKER_CLOSED) C(ISO_BREAKER_OPEN)
	C(ISO_BREAKER_HALF_OPEN) C(ISO_BREAKER_FORCED_OPEN)
	C(ISO_REASON_HEALTHY) C(ISO_REASON_DEGRADED) C(ISO_REASON_PROBE)
	C(ISO_REASON_OPEN) C(ISO_REASON_HALF_OPEN_LIMIT)
	C(ISO_REASON_FORCED_OPEN) C(ISO_REASON_OBSERVED)
	C(ISO_REASON_RECOVERY) C(ISO_REASON_RATE_LIMITED) C(ISO_NOT_A_FAILURE) C(ISO_CALL_FAILED)
	C(ISO_CFG_OBSERVE_ONLY) C(ISO_ATTACH_CREATE) C(ISO_ATTACH_EXCL)
	C(ISO_ATTACH_RDONLY) C(ISO_PERMIT_PROBE) C(ISO_PERMIT_OBSERVED)
	C(ISO_FAIL_API) C(ISO_FAIL_UNKNOWN) C(ISO_TIMEOUT_MAX_MS)
	C(ISO_THRESHOLD_MAX) C(ISO_DEFAULT_CAPACITY) C(ISO_CAPACITY_MAX)
	C(ISO_CLASSIFY_MSG_MAX) C(ISO_VERSION_MAJOR) C(ISO_VERSION_MINOR)
	C(ISO_VERSION_PATCH) C(ISO_ATTACH_WINDOWS) C(ISO_WINDOW_MS_MIN)
	C(ISO_WINDOW_MS_MAX) C(ISO_MIN_CALLS_MAX) C(ISO_CAUSE__COUNT)
	C(ISO_CAUSE_FAILURE_RATE) C(ISO_CAUSE_SLOW_CALL_RATE)
#undef C
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
