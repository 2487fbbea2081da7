/*
 * isoreg_ext.h - what the files of the CPython extension isoreg._isoreg
 * share: the table of libisoreg functions (resolved at load time from the
 * libisoreg.so the package chose, so ISOREG_LIB keeps working), the
 * objects the module caches, and the helpers that turn C results into
 * Python objects and ISO_E* codes into exceptions.
 *
 * The extension never keeps account state of its own: that lives in the
 * segment. It keeps only a process-local cache of handles per manager.
 */
#ifndef ISOREG_EXT_H
#define ISOREG_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "isoreg.h"

/*
 * Every libisoreg function the extension calls. Each pointer has the type
 * of the prototype in isoreg.h (__typeof__), so a signature that drifts in
 * the header fails the build here instead of corrupting a call.
 */
#define ISOEXT_API(X)                                                      \
	X(iso_strerror) X(iso_last_error) X(iso_failure_type_name)         \
	X(iso_health_name) X(iso_breaker_state_name) X(iso_reason_name)    \
	X(iso_failure_type_parse) X(iso_key_make) X(iso_key_format)        \
	X(iso_config_default) X(iso_config_validate) X(iso_segment_name)   \
	X(iso_attach) X(iso_detach) X(iso_unlink) X(iso_segment_info)      \
	X(iso_register) X(iso_lookup) X(iso_account_key) X(iso_acquire)    \
	X(iso_record_success) X(iso_record_failure_retry)                  \
	X(iso_permit_reason) X(iso_status) X(iso_foreach) X(iso_report)    \
	X(iso_reset) X(iso_configure) X(iso_retire) X(iso_halt)            \
	X(iso_release) X(iso_configure_op) X(iso_halt_broker)              \
	X(iso_release_broker) X(iso_halted_brokers) X(iso_segment_check)   \
	X(iso_classify_errno) X(iso_classify_http) X(iso_classify_message) \
	X(iso_retry_after_parse) X(iso_classify_add_message)               \
	X(iso_clock_set) X(iso_now_ns) X(iso_cause_name)

struct isoext_api {
#define ISOEXT_FIELD(f) __typeof__(f) *f;
	ISOEXT_API(ISOEXT_FIELD)
#undef ISOEXT_FIELD
};

/* Filled once by _isoreg.load(); read-only afterwards. */
extern struct isoext_api isoext;
extern int isoext_loaded;

/* The account handles one manager has used, keyed by the caller's three
 * strings (exact str objects only; the same account spelt two ways has two
 * entries pointing at the same slot, which is harmless). Linear probing,
 * power-of-two size, backward-shift deletion: no tombstones. */
struct isoext_hentry {
	PyObject *t, *i, *b; /* strong references; t == NULL: empty */
	Py_hash_t h;
	iso_account_t acct;
};

struct isoext_cache {
	struct isoext_hentry *e;
	size_t mask; /* size - 1; size 0 when e == NULL */
	size_t used;
};

/* The C base of AccountIsolationManager. */
typedef struct {
	PyObject_HEAD
	iso_reg_t *reg; /* NULL: not attached, or closed */
	struct isoext_cache cache;
	int has_override;
	struct iso_config override; /* applied to every account registered */
} isoext_registry;

extern PyTypeObject isoext_registry_type;

/* Objects the module keeps: set by _isoreg._bind() from isoreg's Python
 * side, or made at load time from the library's own names. */
struct isoext_state {
	PyObject *isoreg_error;      /* isoreg.errors.IsoregError */
	PyObject *unknown_account;   /* isoreg.errors.UnknownAccountError */
	PyObject *failure_types[ISO_FAIL__COUNT]; /* FailureType members */
	PyObject *failure_values[ISO_FAIL__COUNT]; /* their .value strings */
	PyObject *failure_code;      /* failure_type_code(ft) -> int */
	PyObject *classify;          /* classify_exception(exc) -> (ft, s) */
	PyObject *guard_outcome;     /* (classify, exc) -> (code, retry_ms) */
	PyObject *blocked_error;     /* isoreg.errors.AccountBlockedError */
	PyObject *guard_class;       /* isoreg.guard.Guard */
	PyObject *health_members[ISO_HEALTH__COUNT]; /* AccountHealthStatus */
	PyObject *health_values[ISO_HEALTH__COUNT]; /* "healthy", ... */
	PyObject *breaker_names[ISO_BREAKER__COUNT]; /* "CLOSED", ... */
	PyObject *cause_names[ISO_CAUSE__COUNT]; /* "failure", "failure_rate", ... */
	PyObject *reason_text[ISO_REASON__COUNT];  /* fixed texts only */
	PyObject *reason_tuple[2][ISO_REASON__COUNT]; /* (allowed, text) */
	PyObject *str_q;             /* "?" */
};
extern struct isoext_state isoext_st;

/* Interned dictionary keys of the status and report dicts. */
#define ISOEXT_KEYS(X)                                                     \
	X(account_type) X(account_id) X(broker_type) X(status)             \
	X(total_failures) X(consecutive_failures) X(consecutive_successes) \
	X(circuit_open) X(circuit_half_open) X(quarantine_count)           \
	X(last_failure_time) X(last_success_time)                          \
	X(average_operation_time_ms) X(failure_breakdown)                  \
	X(total_operations) X(total_successes) X(breaker_state)            \
	X(retry_in_seconds) X(ema_operation_time_ms)                       \
	X(p50_operation_time_ms) X(p99_operation_time_ms)                  \
	X(probes_in_flight) X(last_transition_time) X(broker_halted)       \
	X(budget_available) X(budget_refusals)                             \
	X(last_transition_cause) X(window) X(calls) X(failures)            \
	X(slow_calls) X(failure_rate) X(slow_call_rate)                    \
	X(total_accounts)                                                  \
	X(healthy_accounts) X(degraded_accounts) X(quarantined_accounts)   \
	X(failing_accounts) X(recovering_accounts)                         \
	X(total_failures_across_all_accounts) X(total_quarantines)         \
	X(cross_account_errors_detected) X(isolation_guarantee) X(brokers) \
	X(brokers_dropped) X(capacity) X(timestamp) X(accounts)            \
	X(unhealthy) X(degraded) X(incident) X(segment)

struct isoext_keys {
#define ISOEXT_KEYFIELD(k) PyObject *k;
	ISOEXT_KEYS(ISOEXT_KEYFIELD)
#undef ISOEXT_KEYFIELD
};
extern struct isoext_keys isoext_k;

/* errors.c-like helpers (module.c) */

/* Raise the exception for @rc of @call (ValueError for ISO_EINVAL, else
 * IsoregError with the thread's iso_last_error()). Returns NULL. */
PyObject *isoext_raise(int rc, const char *call);
/* The same with "call t/i/b" naming the caller's key. */
PyObject *isoext_raise_key(int rc, const char *call, PyObject *const *key);

/* Convert @o to an integer in 0..max, raising OverflowError naming @what
 * (TypeError if it is not an integer). Returns 0 or -1. */
int isoext_to_u64(PyObject *o, const char *what, uint64_t max, uint64_t *out);

/* A config from the 17-tuple of CircuitBreakerConfig.to_c() (field order
 * of struct iso_config). Returns 0 or -1 with an exception set. */
int isoext_config_from(PyObject *o, struct iso_config *cfg);
PyObject *isoext_config_tuple(const struct iso_config *cfg);

/* The reason text of @p (cached when it has no number in it). */
PyObject *isoext_reason(const iso_permit_t *p);

/* registry.c, for guard.c: the handle of account @k (cache, else the
 * library; @create registers), and its refresh after ISO_ESTALE.
 * Return 0, 1 (absent, without @create) or -1 with an exception. */
int isoext_handle(isoext_registry *self, PyObject *const *k, int create,
		  iso_account_t *acct);
int isoext_refresh(isoext_registry *self, PyObject *const *k, int create,
		   iso_account_t *acct);
int isoext_closed_error(isoext_registry *self);
/* Vectorcall arguments by name into @out (NULL when absent). */
int isoext_parse(const char *fn, PyObject *const *args, Py_ssize_t nargs,
		 PyObject *kwnames, const char *const *names, int n,
		 int required, PyObject **out);

extern PyTypeObject isoext_guard_type;
/* A new guard of class @type (GuardBase or isoreg.guard.Guard). */
PyObject *isoext_guard_make(PyTypeObject *type, PyObject *m, PyObject *t,
			    PyObject *i, PyObject *b, PyObject *classify);

/* views.c: the reference's dicts. */
PyObject *isoext_status_dict(const struct iso_status *st);
PyObject *isoext_report_dict(const struct iso_report *rep);
PyObject *isoext_statuses(iso_reg_t *reg);
int isoext_make_names(void);
int isoext_make_keys(void);

#endif /* ISOREG_EXT_H */
