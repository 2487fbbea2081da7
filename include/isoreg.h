/*
 * isoreg.h - a lock-free, shared-memory account health registry with
 * per-account circuit breakers.
 *
 * Many processes attach one POSIX shared-memory segment, record the outcome of
 * every operation per account, and ask before each operation whether that
 * account may act. No lock lives in the segment: a process killed at any
 * instruction leaves every other process able to make progress.
 *
 * Conventions:
 *  - Every function returns 0 (or a documented non-negative value) on success
 *    and a negative ISO_E* code on failure. iso_strerror() names a code;
 *    iso_last_error() gives the calling thread's detailed message for the
 *    last failure (which field, which value).
 *  - Unless stated otherwise, every function may be called from any thread of
 *    any process attached to the segment, concurrently with any other call.
 *  - Hot-path calls (iso_acquire, iso_record_*) take no lock, make no system
 *    call and format no string.
 */
#ifndef ISOREG_H
#define ISOREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ISO_VERSION_MAJOR 0
#define ISO_VERSION_MINOR 1
#define ISO_VERSION_PATCH 0

/* ------------------------------------------------------------------ errors */

enum iso_error {
	ISO_OK = 0,
	ISO_EINVAL = -1,   /* bad argument: key field, config, enum, NULL */
	ISO_ENOENT = -2,   /* no such account or segment */
	ISO_EEXIST = -3,   /* segment exists and exclusive creation was asked */
	ISO_EFULL = -4,    /* capacity (slots or directory) exhausted */
	ISO_ECORRUPT = -5, /* the segment failed validation */
	ISO_EVERSION = -6, /* the segment has another layout version */
	ISO_ESTALE = -7,   /* the handle's account was retired or reused */
	ISO_EOPEN = -8,    /* refused: the account's breaker does not allow it */
	ISO_ERDONLY = -9,  /* a write through a read-only attachment */
	ISO_ESYS = -10,    /* a system call failed; the message has errno */
	ISO_ENOMEM = -11,  /* process-local allocation failed */
	ISO_EPERM = -12,   /* the segment's permissions refuse this process */
	ISO_EBUSY = -13,   /* the segment is being created; try again */
	ISO_ELIMIT = -14,  /* refused: the account's request budget is spent
			      [B9]; permit->retry_in_ms says when it is not */
};

/**
 * iso_strerror - name of an ISO_E* code ("ISO_EINVAL: invalid argument").
 * @err: a value returned by an iso_ function.
 *
 * Returns a static string; never NULL.
 */
const char *iso_strerror(int err);

/**
 * iso_last_error - the calling thread's detail for its last failed call.
 *
 * Returns a thread-local string, valid until the thread's next iso_ call
 * that fails. Empty if nothing failed yet.
 */
const char *iso_last_error(void);

/* -------------------------------------------------------------- vocabulary */

/* Failure types of the reference design, in its order. */
enum iso_failure_type {
	ISO_FAIL_API = 0,
	ISO_FAIL_NETWORK,
	ISO_FAIL_AUTHENTICATION,
	ISO_FAIL_RATE_LIMIT,
	ISO_FAIL_BALANCE,
	ISO_FAIL_POSITION,
	ISO_FAIL_EXECUTION,
	ISO_FAIL_UNKNOWN,
	ISO_FAIL__COUNT
};
#define ISO_FAIL_MASK(t) (1u << (t))

/* Health, derived from the breaker word [B3]. Ordered by severity. */
enum iso_health {
	ISO_HEALTHY = 0,
	ISO_DEGRADED,
	ISO_RECOVERING,
	ISO_QUARANTINED,
	ISO_FAILING,
	ISO_HEALTH__COUNT
};

/* Breaker states [B2]. */
enum iso_breaker_state {
	ISO_BREAKER_CLOSED = 0,
	ISO_BREAKER_OPEN,
	ISO_BREAKER_HALF_OPEN,
	ISO_BREAKER_FORCED_OPEN,
	ISO_BREAKER__COUNT
};

/* Why iso_acquire answered as it did. */
enum iso_reason {
	ISO_REASON_HEALTHY = 0,     /* allowed */
	ISO_REASON_DEGRADED,        /* allowed, with a warning */
	ISO_REASON_PROBE,           /* allowed: a half-open probe permit */
	ISO_REASON_OPEN,            /* refused until retry_in_ms passes */
	ISO_REASON_HALF_OPEN_LIMIT, /* refused: probe permits all in use */
	ISO_REASON_FORCED_OPEN,     /* refused: halted by an operator */
	ISO_REASON_OBSERVED,        /* allowed only because observe-only mode */
	ISO_REASON_RECOVERY,        /* allowed: the first probe after the open
				       time ran out (a recovery attempt) */
	ISO_REASON_RATE_LIMITED,    /* refused: request budget spent [B9] */
	ISO_REASON__COUNT
};

/* What caused a breaker transition (recorded in the event ring). */
enum iso_cause {
	ISO_CAUSE_FAILURE = 0, /* a recorded failure; see failure type */
	ISO_CAUSE_SUCCESS,     /* a recorded success */
	ISO_CAUSE_TIMEOUT,     /* the open time ran out (lazy) */
	ISO_CAUSE_RESET,       /* iso_reset / isoctl reset */
	ISO_CAUSE_FORCE_OPEN,  /* iso_force_open, iso_halt / isoctl halt */
	ISO_CAUSE_REGISTER,    /* the account was registered */
	ISO_CAUSE_RETIRE,      /* the account was retired */
	ISO_CAUSE_CONFIG,      /* iso_configure */
	ISO_CAUSE_RELEASE,     /* iso_release / isoctl release: a halt lifted */
	ISO_CAUSE_DEFAULTS,    /* iso_configure_default: the segment default */
	ISO_CAUSE_DOCTOR,      /* iso_doctor REPAIR changed something */
	ISO_CAUSE_BROKER_HALT,    /* iso_halt_broker: every account of a broker */
	ISO_CAUSE_BROKER_RELEASE, /* iso_release_broker */
	ISO_CAUSE_FAILURE_RATE,   /* the window's failure rate reached its threshold */
	ISO_CAUSE_SLOW_CALL_RATE, /* the window's slow-call rate reached its threshold */
	ISO_CAUSE__COUNT
};

const char *iso_failure_type_name(enum iso_failure_type t); /* "API" ... */
const char *iso_health_name(enum iso_health h);             /* "HEALTHY" ... */
const char *iso_breaker_state_name(enum iso_breaker_state s); /* "CLOSED" */
const char *iso_reason_name(enum iso_reason r);             /* "Healthy" ... */
const char *iso_cause_name(enum iso_cause c);               /* "failure" ... */

/**
 * iso_failure_type_parse - failure type from its name, any case.
 * @name: "api", "NETWORK", "rate_limit", ...
 *
 * Returns the type (>= 0) or ISO_EINVAL.
 */
int iso_failure_type_parse(const char *name);

/* -------------------------------------------------------------------- keys */

#define ISO_TYPE_MAX 15   /* bytes, without the terminating NUL [K2] */
#define ISO_ID_MAX 63
#define ISO_BROKER_MAX 15
#define ISO_KEY_STR_MAX (ISO_TYPE_MAX + ISO_ID_MAX + ISO_BROKER_MAX + 2)

/* A normalised account key [K1]: type and id lower-case, broker upper-case. */
struct iso_key {
	char type[ISO_TYPE_MAX + 1];
	char id[ISO_ID_MAX + 1];
	char broker[ISO_BROKER_MAX + 1];
};

/**
 * iso_key_make - validate and normalise the three parts of a key [K1][K2].
 * @type: account type, 1-15 printable ASCII bytes, no '/' nor space.
 * @id: account id, 1-63 bytes, same alphabet.
 * @broker: broker, 1-15 bytes, same alphabet.
 * @out: the normalised key.
 *
 * Returns 0, or ISO_EINVAL with a message naming the field. Nothing is
 * truncated silently.
 */
int iso_key_make(const char *type, const char *id, const char *broker,
		 struct iso_key *out);

/**
 * iso_key_parse - parse "type/id/BROKER" into a normalised key.
 *
 * Returns 0 or ISO_EINVAL naming what was wrong.
 */
int iso_key_parse(const char *str, struct iso_key *out);

/**
 * iso_key_format - write "type/id/BROKER" into @buf (ISO_KEY_STR_MAX + 1
 * bytes are always enough). Returns the length written.
 */
int iso_key_format(const struct iso_key *key, char *buf, size_t len);

/* ------------------------------------------------------------ configuration */

#define ISO_CFG_OBSERVE_ONLY 0x1u /* [B8] compute transitions, never refuse */

/* Breaker configuration [B1]; see SPEC §3 for each field. */
struct iso_config {
	uint32_t failure_threshold;   /* 1..255, default 5 */
	uint32_t success_threshold;   /* 1..255, default 3 */
	uint32_t half_open_max_calls; /* 1..255, default 1 */
	uint32_t degrade_after;       /* 1..255, default 1 */
	uint32_t open_timeout_ms;     /* 1..ISO_TIMEOUT_MAX_MS, default 300000 */
	uint32_t max_open_timeout_ms; /* >= open_timeout_ms, default 3600000 */
	uint32_t probe_timeout_ms;    /* 1..ISO_TIMEOUT_MAX_MS, default 30000 */
	uint32_t trip_on;             /* ISO_FAIL_MASK()s that trip at once */
	uint32_t ignore;              /* ISO_FAIL_MASK()s kept out of the breaker */
	uint32_t flags;               /* ISO_CFG_* */
	/*
	 * Request budget [B9], shared by every process: sustained calls per
	 * second (fractions allowed, ISO_RATE_MIN..ISO_RATE_MAX; 0 = no
	 * budget, the default) and calls allowed at once (1..ISO_BURST_MAX;
	 * 0 with a rate means 1). Stored as the time one call's budget takes
	 * to come back, in whole ns: rate_per_s reads back as 1e9 / that.
	 */
	double rate_per_s;
	uint32_t burst;
	/*
	 * Rolling windows [B7], shared by every process: a CLOSED breaker
	 * also trips when, over the last window_ms with at least min_calls
	 * outcomes, failures or slow calls reach their percentage. Needs a
	 * segment with a window region (ISO_ATTACH_WINDOWS at creation).
	 * window_ms 0 (the default) turns windows off; a threshold of 0
	 * turns that rate off. Ignored failure types are in neither rate.
	 */
	uint32_t window_ms;                /* 0, or ISO_WINDOW_MS_MIN..MAX */
	uint32_t min_calls;                /* 1..ISO_MIN_CALLS_MAX, default 10 */
	uint32_t failure_rate_threshold;   /* percent 1..100; 0 = off */
	uint32_t slow_call_ms;             /* an outcome this slow is slow; 0 = off */
	uint32_t slow_call_rate_threshold; /* percent 1..100; 0 = off */
};
#define ISO_WINDOW_MS_MIN 100u
#define ISO_WINDOW_MS_MAX 3600000u /* an hour: 10 buckets of 6 min at most */
#define ISO_MIN_CALLS_MAX 1000000u
#define ISO_RATE_MIN 0.001
#define ISO_RATE_MAX 1e6
#define ISO_BURST_MAX 1000000u
#define ISO_TIMEOUT_MAX_MS (7u * 24 * 3600 * 1000) /* a week */
#define ISO_THRESHOLD_MAX 255u

/** iso_config_default - fill @cfg with the defaults of SPEC §3. */
void iso_config_default(struct iso_config *cfg);

/**
 * iso_config_validate - check every field of @cfg.
 *
 * Returns 0 or ISO_EINVAL with a message naming the field and its value.
 */
int iso_config_validate(const struct iso_config *cfg);

/**
 * iso_config_set - set one field by name from text ("failure_threshold",
 * "5"); masks take "AUTHENTICATION,BALANCE" or "none", flags take
 * "observe_only=1" style via the field name "observe_only".
 *
 * Returns 0 or ISO_EINVAL naming the field or the value. @cfg is unchanged
 * on error.
 */
int iso_config_set(struct iso_config *cfg, const char *field,
		   const char *value);

/* ----------------------------------------------------------------- segment */

typedef struct iso_reg iso_reg_t; /* one process's attachment; opaque */

#define ISO_ATTACH_CREATE 0x1u  /* create the segment if it does not exist */
#define ISO_ATTACH_EXCL 0x2u    /* with CREATE: fail with ISO_EEXIST if it does */
#define ISO_ATTACH_RDONLY 0x4u  /* read-only mapping; every write is refused */
#define ISO_ATTACH_OWNER 0x8u   /* trust opts->owner, not the caller's euid [R7] */
#define ISO_ATTACH_WINDOWS 0x10u /* when creating: add the rolling-window region
				    [B7] (also when opts->defaults has window_ms) */

#define ISO_DEFAULT_SEGMENT "/isoreg"
#define ISO_DEFAULT_CAPACITY 4096u
#define ISO_CAPACITY_MAX (1u << 22)
#define ISO_DEFAULT_RETIRE_COOLDOWN_MS 60000u

struct iso_attach_opts {
	uint32_t flags;               /* ISO_ATTACH_* */
	uint32_t capacity;            /* accounts, when creating; 0: default */
	mode_t mode;                  /* when creating; 0: 0600 [R3] */
	uint32_t retire_cooldown_ms;  /* when creating; 0: default */
	const struct iso_config *defaults; /* when creating; NULL: SPEC §3 */
	uint32_t attach_timeout_ms;   /* wait for a creator; 0: 2000 */
	uid_t owner;                  /* with ISO_ATTACH_OWNER: the uid the
					 object must belong to [R7] */
	uint32_t events;              /* when creating: event ring entries, a
					 power of two, 64..ISO_EVENTS_MAX; 0:
					 capacity/4 (64..65536), within [P5] */
};
#define ISO_EVENTS_MAX (1u << 22) /* 256 MiB of events at most */

/* A process that has a segment mapped. */
struct iso_user {
	uint32_t pid;
	char comm[17];    /* its command name, printable bytes only */
};

/**
 * iso_segment_users - the processes (other than the caller) that have the
 * segment @name mapped, found in /proc by the object's device and inode.
 * @out: room for @max; @unknown: (output, may be NULL) processes whose maps
 *       could not be read (another uid, without privilege).
 * Returns how many there are (may exceed @max), ISO_ENOENT, ISO_EINVAL or
 * ISO_ESYS. Linux only; a snapshot: a process may attach right after.
 */
int iso_segment_users(const char *name, struct iso_user *out, int max,
		      int *unknown);

/**
 * iso_segment_name - the segment name to use when none is given: the
 * ISOREG_SEGMENT environment variable, else ISO_DEFAULT_SEGMENT [S1].
 */
const char *iso_segment_name(void);

/**
 * iso_attach - create or attach the segment @name.
 * @name: POSIX shm name ("/isoreg"); NULL means iso_segment_name().
 * @opts: NULL means: attach read-write, do not create.
 * @reg: (output) the attachment.
 *
 * Creation is atomic [R2]: the segment is built under a private,
 * unguessable name made with O_EXCL, its pages are reserved (so no access
 * can ever fault for lack of memory in /dev/shm), and it is linked into
 * place complete, so an attacher never sees a half-made one. A full
 * /dev/shm gives ISO_ESYS (ENOSPC) and leaves nothing behind.
 *
 * Attach trusts only its own kind [R7]: the object is opened without
 * following a symbolic link or blocking on a FIFO, and refused with
 * ISO_EPERM (the message names its owner, mode and what was expected)
 * unless it is a regular file owned by the caller's effective uid - or by
 * opts->owner with ISO_ATTACH_OWNER - and grants write to nobody beyond
 * what opts->mode intends: group write only if opts->mode has it, other
 * write only if opts->mode has it (0 means 0600). Root is no exception.
 * A create-or-attach that finds a foreign object refuses it, never
 * attaches it. Then attach validates magic, version, sizes and the
 * object's real size [R1].
 *
 * Returns 0, ISO_ENOENT (no such segment and no CREATE), ISO_EEXIST (EXCL),
 * ISO_ECORRUPT, ISO_EVERSION, ISO_EPERM, ISO_EINVAL (bad options; CREATE
 * with an owner other than the caller's euid), ISO_ESYS or ISO_ENOMEM.
 * Any thread; not on a hot path (system calls, allocation).
 */
int iso_attach(const char *name, const struct iso_attach_opts *opts,
	       iso_reg_t **reg);

/**
 * iso_detach - unmap the segment and free the process-local index.
 * Handles made from @reg must not be used afterwards. Not concurrent with
 * other calls on the same @reg.
 */
int iso_detach(iso_reg_t *reg);

/**
 * iso_unlink - remove the segment's name; attached processes keep their
 * mapping until they detach. Returns 0, ISO_ENOENT or ISO_ESYS.
 */
int iso_unlink(const char *name);

/* Facts about an attachment. */
struct iso_segment_info {
	char name[256];
	uint32_t capacity;        /* slots */
	uint32_t used;            /* slots ever taken (high-water mark) */
	uint32_t live;            /* accounts registered now */
	uint32_t dir_capacity;    /* directory entries */
	uint32_t dir_tombstones;  /* directory entries of retired keys */
	uint32_t ring_capacity;   /* event ring entries */
	uint32_t slot_size;       /* bytes per slot [P5] */
	uint64_t segment_size;    /* bytes of the whole segment */
	uint64_t bytes_per_account; /* segment_size / capacity [P5] */
	uint64_t generation;      /* moves on every registration or retire */
	uint32_t retire_cooldown_ms;
	uint32_t layout_version;
	bool read_only;
	struct iso_config defaults;
	bool windows;             /* has the rolling-window region [B7] */
};
int iso_segment_info(iso_reg_t *reg, struct iso_segment_info *info);

/**
 * iso_configure_default - change the segment's default breaker config; every
 * account without an override of its own follows it at once.
 * Returns 0, ISO_EINVAL or ISO_ERDONLY.
 */
int iso_configure_default(iso_reg_t *reg, const struct iso_config *cfg);

/* ---------------------------------------------------------------- accounts */

/*
 * A handle: cheap, copyable, valid until the account is retired. It holds
 * the slot index and generation; every call through it checks the
 * generation, and a stale handle gets ISO_ESTALE (and counts as a detected
 * isolation violation, see iso_report).
 *
 * What a caller may rely on once a call returns:
 *  - a breaker transition (trip, halt, reset, probe) is one CAS with
 *    acquire-release ordering: every process that acquires the account
 *    afterwards sees it;
 *  - counters are relaxed atomic adds: each is exact and read whole, and
 *    becomes visible to other processes eventually, in no promised order
 *    with other counters;
 *  - registration and retire are linearizable per key: at any moment a key
 *    has at most one live account, and a lookup finds it.
 *
 * The stated bound: a write through a handle that passed its generation
 * check and whose thread then stalls for longer than the whole retire
 * cooldown (default 60 s; SIGSTOP, a VM pause) while its account is retired
 * and the slot reused, lands one count in the new account. It is detected
 * (the writer re-checks the generation after its add) and counted in
 * cross_account_errors; breaker words are never moved that way (their CAS
 * compares the whole 32-bit generation).
 */
typedef struct iso_account {
	iso_reg_t *reg;
	uint32_t slot;
	uint32_t gen;
} iso_account_t;

/**
 * iso_register - find or create the account (@type, @id, @broker).
 * @acct: (output) its handle.
 *
 * Two processes registering the same new key at once get the same slot [S3].
 * Returns 0, ISO_EINVAL (bad key, message names the field), ISO_EFULL [R4],
 * ISO_ERDONLY or ISO_ECORRUPT.
 */
int iso_register(iso_reg_t *reg, const char *type, const char *id,
		 const char *broker, iso_account_t *acct);

/**
 * iso_lookup - like iso_register, but never creates: ISO_ENOENT if absent.
 * Lookups go through the per-process RCU index [S4] and take no lock.
 */
int iso_lookup(iso_reg_t *reg, const char *type, const char *id,
	       const char *broker, iso_account_t *acct);

/** iso_register_key / iso_lookup_key - the same, from a struct iso_key. */
int iso_register_key(iso_reg_t *reg, const struct iso_key *key,
		     iso_account_t *acct);
int iso_lookup_key(iso_reg_t *reg, const struct iso_key *key,
		   iso_account_t *acct);

/**
 * iso_account_key - the key of @acct. Returns 0 or ISO_ESTALE.
 */
int iso_account_key(const iso_account_t *acct, struct iso_key *key);

/* -------------------------------------------------------- the hot path */

#define ISO_PERMIT_PROBE 0x1u    /* this permit holds a half-open probe slot */
#define ISO_PERMIT_OBSERVED 0x2u /* allowed only by observe-only mode */

/*
 * What iso_acquire decided. Pass it back to iso_record_* so that an outcome
 * of work that began in an earlier breaker episode (before a trip or reset)
 * counts in the statistics but never moves the new episode's breaker [B6].
 */
typedef struct iso_permit {
	uint32_t slot;
	uint32_t gen;
	uint32_t episode;
	uint16_t flags;         /* ISO_PERMIT_* */
	uint8_t reason;         /* enum iso_reason */
	uint8_t health;         /* enum iso_health at the time */
	uint64_t retry_in_ms;   /* when refused: time until it may retry */
} iso_permit_t;

/**
 * iso_acquire - may this account act now? (can_execute_operation)
 * @acct: the account.
 * @permit: (output) the decision, its reason, and the episode it was taken in.
 *
 * In CLOSED this is one load. In HALF_OPEN it takes a probe permit with one
 * CAS; a permit whose outcome is never recorded frees itself after
 * probe_timeout_ms [B5][B6].
 *
 * Returns 0 if the account may act, ISO_EOPEN if it may not (permit->reason
 * and permit->retry_in_ms say why), ISO_ESTALE or ISO_EINVAL.
 */
int iso_acquire(const iso_account_t *acct, iso_permit_t *permit);

/**
 * iso_acquire_cost - iso_acquire spending @cost units of the account's
 * request budget [B9] (a Binance request weight); iso_acquire spends 1.
 * @cost: 1..the account's burst; ignored when it has no budget.
 *
 * With a budget (config rate_per_s > 0) an admitted acquire takes @cost
 * units with one CAS on the budget word; nothing is held afterwards, so
 * a process killed at any instruction holds no budget, and no outcome is
 * needed to give it back. Refused by the budget: ISO_ELIMIT, reason
 * ISO_REASON_RATE_LIMITED, permit->retry_in_ms until @cost units are
 * there; the refusal is counted (status budget_refusals) and never moves
 * the breaker. A budget unit spent by an acquire that the breaker then
 * refuses is given back (one more CAS). Returns 0, ISO_ELIMIT, ISO_EOPEN,
 * ISO_ESTALE or ISO_EINVAL (@cost 0 or above the burst).
 */
int iso_acquire_cost(const iso_account_t *acct, uint32_t cost,
		     iso_permit_t *permit);

/**
 * iso_record_success - record a successful operation.
 * @permit: the permit from iso_acquire, or NULL (then the outcome is taken
 *          to belong to the current episode).
 * @op_ns: how long it took, in nanoseconds; 0 if not measured.
 *
 * Returns 0, ISO_ESTALE, ISO_EINVAL or ISO_ERDONLY.
 */
int iso_record_success(const iso_account_t *acct, const iso_permit_t *permit,
		       uint64_t op_ns);

/**
 * iso_record_failure - record a failed operation of type @type.
 * Returns 0, ISO_ESTALE, ISO_EINVAL (type out of range) or ISO_ERDONLY.
 */
int iso_record_failure(const iso_account_t *acct, const iso_permit_t *permit,
		       enum iso_failure_type type, uint64_t op_ns);

/**
 * iso_record_failure_retry - a failure carrying the exchange's retry-after
 * [M2]: if this failure opens the breaker (or fails a probe) the breaker
 * stays open at least @retry_after_ms.
 */
int iso_record_failure_retry(const iso_account_t *acct,
			     const iso_permit_t *permit,
			     enum iso_failure_type type, uint64_t op_ns,
			     uint64_t retry_after_ms);

/**
 * iso_permit_reason - the reason text for @permit, in the reference's words
 * ("Healthy", "Degraded but operational", "Circuit breaker open - retry in
 * 12s", ...). Formats a string: not for the hot path.
 * Returns the length written.
 */
int iso_permit_reason(const iso_permit_t *permit, char *buf, size_t len);

/* ----------------------------------------------------- status and reports */

/*
 * Operation-time histogram, log2 buckets: bucket 0 counts op_ns < 2^10
 * (1.02 us), bucket i (1..26) counts [2^(9+i), 2^(10+i)), and the last
 * counts everything from 2^36 ns (68.7 s) up. Percentiles interpolate
 * linearly inside a bucket and are clamped to the smallest and largest
 * time seen, so they are within a factor of 2 of the truth (exact when
 * every sample is equal) and are rounded to three significant digits.
 */
#define ISO_HIST_BUCKETS 28

/** iso_hist_upper_ns - exclusive upper bound of bucket @i in ns;
 * UINT64_MAX for the last bucket (and for any @i out of range). */
uint64_t iso_hist_upper_ns(int i);

struct iso_status {
	struct iso_key key;
	uint32_t slot;
	uint32_t gen;
	enum iso_health health;
	enum iso_breaker_state breaker; /* effective now (lazy timeouts applied) */
	uint64_t operations;            /* successes + failures, derived */
	uint64_t successes;
	uint64_t failures;              /* sum of failures_by_type, derived */
	uint64_t failures_by_type[ISO_FAIL__COUNT];
	uint32_t consecutive_failures;
	uint32_t consecutive_successes;
	uint32_t probes_in_flight;
	uint32_t backoff_step;          /* failed recoveries in a row */
	uint32_t episode;
	uint64_t quarantines;           /* trips from CLOSED, and halts */
	int64_t last_success_ms;        /* Unix ms; 0 if never */
	int64_t last_failure_ms;        /* Unix ms; 0 if never */
	int64_t last_transition_ms;     /* Unix ms; 0 if never */
	enum iso_cause last_cause;
	int last_failure_type;          /* of the last transition; -1 if none */
	uint64_t retry_in_ms;           /* while OPEN: time until probes */
	double avg_op_ms;               /* op_ns_sum / timed_operations, in ms */
	double ema_op_ms;               /* ema_op_ns in ms (the reference's unit) */
	uint64_t op_ns_sum;             /* sum of every timed operation's ns */
	uint64_t ema_op_ns;             /* exponential moving average (alpha 0.1) */
	uint64_t p50_op_ns;             /* from the histogram; 0 if no samples */
	uint64_t p99_op_ns;
	uint64_t timed_operations;      /* operations that carried op_ns */
	uint64_t hist[ISO_HIST_BUCKETS];
	uint64_t min_op_ns;             /* smallest timed operation; 0 if none */
	uint64_t max_op_ns;             /* largest timed operation */
	/* Request budget [B9]; all 0 without one (config.rate_per_s == 0). */
	double budget_available;        /* units spendable now, 0..burst */
	uint64_t budget_retry_in_ms;    /* while none is: time until one is */
	uint64_t budget_refusals;       /* acquires refused by the budget */
	struct iso_config config;       /* in force for this account */
	bool config_override;           /* true if not the segment default */
	bool broker_halted;             /* its broker is halted (iso_halt_broker):
					   health and breaker say so, the
					   account's own breaker is kept */
	/* Rolling window [B7] over the last config.window_ms; all 0 when
	 * windows are off. Rates are percent of window_calls; -1 while
	 * window_calls is below config.min_calls (not judged yet). */
	uint64_t window_calls;          /* outcomes, ignored types left out */
	uint64_t window_failures;
	uint64_t window_slow_calls;
	double failure_rate;
	double slow_call_rate;
};

/**
 * iso_status - a consistent snapshot of one account's breaker and its
 * counters (each counter read atomically; counters and breaker are not one
 * atomic snapshot). Works on read-only attachments and changes nothing.
 * Returns 0, ISO_ESTALE or ISO_EINVAL.
 */
int iso_status(const iso_account_t *acct, struct iso_status *st);

/**
 * iso_foreach - call @fn for every registered account, in slot order.
 * @fn returns 0 to go on, non-zero to stop (iso_foreach then returns it).
 * Works on read-only attachments. (get_all_account_statuses)
 */
typedef int (*iso_foreach_fn)(const struct iso_status *st, void *ctx);
int iso_foreach(iso_reg_t *reg, iso_foreach_fn fn, void *ctx);

#define ISO_REPORT_MAX_BROKERS 64

/*
 * A broker-wide incident: at least ISO_INCIDENT_MIN_ACCOUNTS accounts and
 * more than ISO_INCIDENT_UNHEALTHY_PCT percent of them unhealthy. The
 * library decides it (iso_broker_summary.incident) and every tool shows
 * that flag; tools/prometheus/alerts.yml states the same numbers in PromQL
 * (a test compares them).
 */
#define ISO_INCIDENT_UNHEALTHY_PCT 50u
#define ISO_INCIDENT_MIN_ACCOUNTS 3u

struct iso_broker_summary {
	char broker[ISO_BROKER_MAX + 1];
	uint32_t accounts;
	uint32_t unhealthy; /* QUARANTINED, RECOVERING or FAILING */
	uint32_t degraded;
	bool incident;      /* a broker-wide incident (rule above) */
};

/* get_isolation_report */
struct iso_report {
	uint32_t total_accounts;
	uint32_t by_health[ISO_HEALTH__COUNT];
	uint64_t total_operations;
	uint64_t total_failures;
	uint64_t total_quarantines;
	uint64_t cross_account_errors; /* detected isolation violations */
	bool isolation_active;         /* cross_account_errors == 0 */
	uint32_t capacity;
	uint32_t brokers_count;
	struct iso_broker_summary brokers[ISO_REPORT_MAX_BROKERS];
	uint32_t brokers_dropped;      /* brokers beyond ISO_REPORT_MAX_BROKERS */
};
int iso_report(iso_reg_t *reg, struct iso_report *rep);

/**
 * iso_snapshot - one walk over the registry: fills @rep as iso_report does
 * and calls @fn (may be NULL) with each account's status from the same
 * pass, so a view's rows and its totals come from one reading of each
 * slot. @fn returns 0 to go on; non-zero stops the walk, and iso_snapshot
 * returns it with @rep covering the accounts seen so far. Works on
 * read-only attachments. Returns 0, @fn's value, or ISO_EINVAL.
 */
int iso_snapshot(iso_reg_t *reg, struct iso_report *rep,
		 iso_foreach_fn fn, void *ctx);

/* ------------------------------------------------------------ operators */

/**
 * iso_reset - close the breaker and clear the consecutive counts: the
 * account is HEALTHY (reset_account; isoctl reset and release). Starts a new
 * episode. Statistics are kept. Returns 0, ISO_ESTALE or ISO_ERDONLY.
 */
int iso_reset(const iso_account_t *acct);

/**
 * iso_force_open - halt the account (FORCED_OPEN): every acquire is refused
 * until iso_reset or iso_release. It never reopens by itself.
 */
int iso_force_open(const iso_account_t *acct);

/* ------------------------------------------------- operator actions [R8] */

#define ISO_OP_REASON_MAX 200 /* bytes of an operator's reason */
#define ISO_OP_FORCE 0x1u     /* iso_reset_op: lift an operator's halt too */

/*
 * An operator action's attribution: every one is an event carrying the
 * uid and pid of the process that made it and the operator's reason.
 */
struct iso_op {
	const char *reason;   /* printable text, at most ISO_OP_REASON_MAX
				 bytes; NULL or "" for none */
	unsigned flags;       /* ISO_OP_* */
};

/** iso_op_check - validate an attribution: the reason's length and bytes,
 * the flags. 0 or ISO_EINVAL naming what is wrong. */
int iso_op_check(const struct iso_op *op);

/**
 * iso_halt - halt the account (FORCED_OPEN) with a reason: an event with
 * cause force_open, uid, pid and reason. Halting a halted account changes
 * nothing and returns ISO_EEXIST (so a tool can say so).
 * Returns 0, ISO_EEXIST, ISO_EINVAL (a reason too long or not printable),
 * ISO_ESTALE or ISO_ERDONLY.
 */
int iso_halt(const iso_account_t *acct, const struct iso_op *op);

/**
 * iso_release - lift an operator's halt: FORCED_OPEN -> CLOSED, an event
 * with cause release. Returns 0, ISO_ENOENT if the account is not halted
 * (nothing changed), ISO_EINVAL, ISO_ESTALE or ISO_ERDONLY.
 */
int iso_release(const iso_account_t *acct, const struct iso_op *op);

/**
 * iso_reset_op - close the breaker, as iso_reset, with a reason; refuses
 * to lift an operator's halt (ISO_EPERM, naming iso_release) unless
 * @op->flags has ISO_OP_FORCE.
 */
int iso_reset_op(const iso_account_t *acct, const struct iso_op *op);

#define ISO_BROKER_HALTS_MAX 16 /* brokers halted at once, per segment */

/**
 * iso_halt_broker - refuse every acquire of every account of @broker,
 * including accounts registered later, until iso_release_broker. The
 * accounts' own breakers are left as they are (and come back as they were).
 * One event (cause broker_halt, key.broker set) with the operator's uid,
 * pid and reason. Status shows each such account QUARANTINED, breaker
 * FORCED_OPEN, broker_halted.
 * Returns 0, ISO_EEXIST (already halted), ISO_EFULL (ISO_BROKER_HALTS_MAX
 * brokers halted already), ISO_EINVAL or ISO_ERDONLY.
 */
int iso_halt_broker(iso_reg_t *reg, const char *broker, const struct iso_op *op);

/** iso_release_broker - lift a broker halt. 0, ISO_ENOENT (not halted),
 * ISO_EINVAL or ISO_ERDONLY. */
int iso_release_broker(iso_reg_t *reg, const char *broker,
		       const struct iso_op *op);

/**
 * iso_halted_brokers - the brokers halted now.
 * @out: room for @max names. Returns how many there are (which may be
 * more than @max) or a negative code. Works read-only.
 */
int iso_halted_brokers(iso_reg_t *reg, char (*out)[ISO_BROKER_MAX + 1], int max);

/* ------------------------------------------ durable operator state [R8] */

/*
 * Operators' intent outlives the segment: halts (of accounts and brokers)
 * and config overrides (per account and the default) are kept in a plain-
 * text file per segment, $ISOREG_STATE_DIR/<name without '/'>.state
 * (default directory ISO_STATE_DIR_DEFAULT), and applied to a new segment
 * before it is linked into place (by iso_attach with ISO_ATTACH_CREATE), so
 * no trader ever sees it without them. A malformed file is refused with its
 * line and field named, and then no segment is created. isoctl keeps the
 * file; docs/state.md describes the format.
 */
#define ISO_STATE_DIR_DEFAULT "/var/lib/isoreg"

enum iso_state_kind {
	ISO_STATE_HALT = 0,     /* an account halted (key) */
	ISO_STATE_HALT_BROKER,  /* a broker halted (broker) */
	ISO_STATE_CONFIG,       /* an account's config override (key, config) */
	ISO_STATE_DEFAULTS,     /* the segment's default config (config) */
};

struct iso_state_entry {
	enum iso_state_kind kind;
	struct iso_key key;                /* HALT, CONFIG */
	char broker[ISO_BROKER_MAX + 1];   /* HALT_BROKER */
	struct iso_config config;          /* CONFIG, DEFAULTS */
	uint32_t uid;                      /* who recorded it */
	int64_t time_ms;                   /* when (Unix ms) */
	char reason[ISO_OP_REASON_MAX + 1];
};

typedef int (*iso_state_fn)(const struct iso_state_entry *e, void *ctx);

/** iso_state_dir - $ISOREG_STATE_DIR, or ISO_STATE_DIR_DEFAULT. */
const char *iso_state_dir(void);

/** iso_state_path - the state file of segment @name into @buf. 0 or
 * ISO_EINVAL. */
int iso_state_path(const char *name, char *buf, size_t len);

/**
 * iso_state_foreach - call @fn for each entry of the state file @path, in
 * order; stops at the first non-zero return. A missing file has no
 * entries (returns 0). Returns 0, @fn's value, ISO_EINVAL naming the line
 * and field of the first malformed entry, ISO_EPERM or ISO_ESYS.
 */
int iso_state_foreach(const char *path, iso_state_fn fn, void *ctx);

/**
 * iso_state_put - record @e, replacing the entry of the same kind and
 * subject (key or broker) if any. The file is rewritten whole and
 * atomically (temp, fsync, rename) under a lock of its directory, so concurrent
 * operators lose nothing. Creates the directory if needed. Returns 0,
 * ISO_EINVAL (the file is malformed: fix it first), ISO_EPERM or ISO_ESYS.
 */
int iso_state_put(const char *path, const struct iso_state_entry *e);

/** iso_state_remove - drop the entry of @e's kind and subject.
 * ISO_ENOENT if there was none (the file is left as it was). */
int iso_state_remove(const char *path, const struct iso_state_entry *e);

/** iso_state_apply - apply every entry of @path to @reg (what creation
 * does). 0 or the first error. */
int iso_state_apply(iso_reg_t *reg, const char *path);

/** iso_retire_op - iso_retire with a reason in its event. */
int iso_retire_op(const iso_account_t *acct, const struct iso_op *op);

/** iso_configure_op - iso_configure with a reason in its event. */
int iso_configure_op(const iso_account_t *acct, const struct iso_config *cfg,
		     const struct iso_op *op);

/** iso_configure_default_op - iso_configure_default, logged as an event
 * (cause defaults) with the operator's reason. */
int iso_configure_default_op(iso_reg_t *reg, const struct iso_config *cfg,
			     const struct iso_op *op);

/**
 * iso_configure - give @acct its own config (@cfg), or NULL to follow the
 * segment default again. A transition racing a reconfigure uses either
 * the old or the new value of each field. Returns 0, ISO_EINVAL, ISO_ESTALE
 * or ISO_ERDONLY.
 */
int iso_configure(const iso_account_t *acct, const struct iso_config *cfg);

/**
 * iso_retire - the account is gone: its slot is marked retired (the one
 * CAS that ends the account), then its directory entry is removed; the slot
 * is reused after the segment's retire cooldown, with its generation bumped
 * so every stale handle is refused. A write that passed its generation
 * check lands within a few instructions; the cooldown (default 60 s) is the
 * bound within which it must (see the handle's stated bound above).
 *
 * Returns 0, or ISO_ESTALE (counted) if the account was already retired or
 * its slot reused, ISO_EINVAL or ISO_ERDONLY.
 */
int iso_retire(const iso_account_t *acct);

/* ----------------------------------------------- convenience by key */

/*
 * The reference's calls by key. Each registers the account if needed (like
 * the reference), then acts through the handle. They cost a lookup in the
 * process-local RCU index; keep a handle on the hot path.
 */
int iso_acquire_by_key(iso_reg_t *reg, const char *type, const char *id,
		       const char *broker, iso_permit_t *permit);
int iso_record_success_by_key(iso_reg_t *reg, const char *type,
			      const char *id, const char *broker,
			      uint64_t op_ns);
int iso_record_failure_by_key(iso_reg_t *reg, const char *type,
			      const char *id, const char *broker,
			      enum iso_failure_type ftype, uint64_t op_ns,
			      uint64_t retry_after_ms);
/* Status by key never registers: ISO_ENOENT if unknown. */
int iso_status_by_key(iso_reg_t *reg, const char *type, const char *id,
		      const char *broker, struct iso_status *st);
int iso_reset_by_key(iso_reg_t *reg, const char *type, const char *id,
		     const char *broker);

/* ------------------------------------------------------------- events */

/* One breaker transition, as read from the event ring. */
#define ISO_EVENT_REASON_MAX 16
#define ISO_NO_SLOT UINT32_MAX /* an event about the segment, not an account */

struct iso_event {
	uint64_t seq;             /* position in the ring's history */
	int64_t time_ms;          /* Unix ms */
	uint32_t slot;
	uint32_t gen;
	uint32_t pid;             /* the process that made the transition */
	struct iso_key key;       /* empty if the slot was reused since; for
				     broker halts and releases only
				     key.broker is set (slot ISO_NO_SLOT) */
	enum iso_health from;
	enum iso_health to;
	enum iso_breaker_state breaker; /* after */
	enum iso_cause cause;
	int failure_type;         /* with ISO_CAUSE_FAILURE; else -1 */
	uint32_t uid;             /* the user the process ran as [R8] */
	/* An operator's reason, its first ISO_EVENT_REASON_MAX bytes (the
	 * whole text is in the state file); "" if none was given. */
	char reason[ISO_EVENT_REASON_MAX + 1];
};

/**
 * iso_events_read - read events from *@cursor on, at most @max.
 * @cursor: in/out, the sequence number to read next; 0 starts at the
 *          oldest event still in the ring (those overwritten before it
 *          count as missed); iso_events_head() starts at the next new one.
 * @missed: (output, may be NULL) events skipped because they were
 *          overwritten, torn, or never finished by a writer that died.
 *
 * Never waits for a writer: an entry still being written is left for the
 * next call, unless a later entry is already complete and the entry has
 * been pending longer than a grace period, then it is counted as missed.
 * Returns the number of events stored in @out (>= 0) or a negative code.
 */
int iso_events_read(iso_reg_t *reg, uint64_t *cursor, struct iso_event *out,
		    int max, uint64_t *missed);

/** iso_events_head - the sequence number the next event will take. */
uint64_t iso_events_head(iso_reg_t *reg);

/* ------------------------------------------------------------- doctor */

#define ISO_DOCTOR_REPAIR 0x1u /* reclaim what can be reclaimed */

struct iso_doctor_report {
	uint32_t slots_checked;
	uint32_t live;
	uint32_t reserved_pending;   /* reserved by a process still running */
	uint32_t reserved_dead;      /* reserved by a process that is gone */
	uint32_t reclaimed;          /* dead reservations freed (REPAIR) */
	uint32_t published;          /* dead reservations completed (REPAIR) */
	uint32_t retired;            /* waiting for their cooldown */
	uint32_t bad_breaker_words;  /* breaker words in no legal state */
	uint32_t bad_slots;          /* slots failing their integrity check */
	uint32_t dir_entries;
	uint32_t dir_tombstones;
	uint32_t dir_bad;            /* entries pointing nowhere valid */
	uint32_t dir_missing;        /* live slots no entry points to: a
					retire interrupted half-way */
	uint32_t retires_finished;   /* of those, retired by REPAIR */
	uint64_t cross_account_errors;
	bool ok;                     /* no damage (what REPAIR fixes is not
					damage: dead reservations and entries) */
	uint32_t reserved_foreign;   /* reserved from another pid namespace:
					only a doctor there can judge them */
	uint32_t dir_dead;           /* entries naming a retired or reused
					slot generation (a retirer died) */
	uint32_t dir_cleared;        /* of those, tombstoned by REPAIR */
};

/**
 * iso_doctor - verify the segment: every slot, breaker word and directory
 * entry (duplicate live entries for one key count as bad entries).
 * @flags: ISO_DOCTOR_REPAIR to also reclaim what dead processes left:
 *         slots reserved by registrants that died half-way (judged by pid,
 *         start time and pid namespace; reservations made in another pid
 *         namespace are counted in reserved_foreign and left alone) are
 *         freed, or published if their directory entry is already live;
 *         directory entries left by retirers that died after retiring
 *         their slot are tombstoned.
 * @rep: (output) the counts; rep->ok says the segment has no damage: no
 *       slot, breaker word or entry in a state no protocol step leaves.
 *       What REPAIR fixes is not damage; after a REPAIR with no writer
 *       killed meanwhile, reserved_dead and dir_dead are 0.
 *
 * Needs a read-write attachment to repair. Safe to run beside live
 * writers. Returns 0, ISO_EINVAL or ISO_ERDONLY.
 */
int iso_doctor(iso_reg_t *reg, unsigned flags, struct iso_doctor_report *rep);

/* -------------------------------------------------------------- clock */

/**
 * iso_clock_set - replace this process's monotonic clock (nanoseconds), for
 * tests that move time without sleeping. NULL restores the real clock.
 * Not thread-safe with respect to concurrent iso_ calls: set it first.
 */
typedef uint64_t (*iso_clock_fn)(void *ctx);
void iso_clock_set(iso_clock_fn fn, void *ctx);

/** iso_now_ns - the clock the library uses (monotonic ns). */
uint64_t iso_now_ns(void);

/* ------------------------------------------- guarded calls */

/*
 * A guarded call is the reference's "wrap every broker operation" (its Best
 * Practices 1-4) as one step: ask the breaker, time the operation, classify
 * what went wrong, record it with the permit. The permit is released on
 * every path, because recording the outcome is what releases it [B6].
 * Three spellings: iso_call (a callback), iso_guard_begin/iso_guard_end
 * (straight-line code) and ISO_GUARDED (a block). docs/guard.md has the
 * classification tables with the reason for each row.
 */

#define ISO_NOT_A_FAILURE (-1)   /* iso_classify_*: the code means success */
#define ISO_CALL_FAILED 1        /* iso_call: the operation ran and failed */
#define ISO_CLASSIFY_MSG_MAX 63  /* bytes of a user message pattern */
#define ISO_CLASSIFY_USER_ROWS 64 /* user message patterns per process */

/**
 * iso_classify_errno - the failure type of an errno value.
 * @err: an errno value (ECONNRESET), or its negation (-ECONNRESET).
 *
 * Connection and timeout errors are NETWORK; EACCES, EPERM and the key
 * errors are AUTHENTICATION (retrying cannot help); malformed replies
 * (EPROTO, EBADMSG) are API; anything else is UNKNOWN.
 * Returns an enum iso_failure_type, or ISO_NOT_A_FAILURE for 0.
 * Pure; any thread.
 */
int iso_classify_errno(int err);

/**
 * iso_classify_curl - the failure type of a libcurl CURLcode, given as an
 * integer (no libcurl dependency).
 * @curl_code: the value curl_easy_perform() returned.
 *
 * Connect, resolve, timeout, send/receive and TLS-handshake errors are
 * NETWORK; TLS identity failures (peer verification, pinned key, client
 * certificate) and login refusals are AUTHENTICATION; unknown codes and
 * our own mistakes (bad option, bad URL) are UNKNOWN.
 * Returns an enum iso_failure_type, or ISO_NOT_A_FAILURE for CURLE_OK (0).
 * Pure; any thread.
 */
int iso_classify_curl(int curl_code);

/**
 * iso_retry_after_parse - read an HTTP Retry-After value [M2].
 * @value: delta-seconds ("120") or an IMF-fixdate
 *         ("Wed, 25 Nov 2026 10:00:00 GMT"); surrounding blanks ignored.
 * @now_unix_s: the current Unix time, for the date form.
 * @retry_after_ms: (output) how long to wait, 0 for a date already past,
 *                  capped at ISO_TIMEOUT_MAX_MS; 0 on error.
 *
 * Returns 0, or ISO_EINVAL naming what was wrong. Any thread.
 */
int iso_retry_after_parse(const char *value, int64_t now_unix_s,
			  uint64_t *retry_after_ms);

/**
 * iso_classify_http - the failure type of an HTTP status.
 * @status: the response status.
 * @retry_after: the Retry-After header's value, or NULL.
 * @now_unix_s: the current Unix time (for an HTTP-date Retry-After).
 * @retry_after_ms: (output, may be NULL) the wait the header asks for;
 *                  0 when absent, unreadable or not a failure.
 *
 * 401/403/407 AUTHENTICATION; 429 (and Binance's 418) RATE_LIMIT;
 * 408/504/522/524 NETWORK; 404/409/422 EXECUTION; other 4xx and 5xx API;
 * a value outside 100..599 UNKNOWN.
 * Returns an enum iso_failure_type, or ISO_NOT_A_FAILURE below 400.
 * Any thread.
 */
int iso_classify_http(int status, const char *retry_after, int64_t now_unix_s,
		      uint64_t *retry_after_ms);

/**
 * iso_classify_message - the failure type of an exchange's error text.
 * @exchange_error: "EOrder:Insufficient funds", "INSUFFICIENT_FUND", ...
 *
 * Matches case-insensitive substrings: first the rows added with
 * iso_classify_add_message (newest first), then the built-in table
 * (Kraken, Coinbase and Binance texts). A text no row matches is API
 * (the exchange said no, for a reason we have no row for); NULL or ""
 * is UNKNOWN.
 * Returns an enum iso_failure_type. Any thread, concurrently with
 * iso_classify_add_message.
 */
int iso_classify_message(const char *exchange_error);

/**
 * iso_classify_add_message - teach this process one more error text.
 * @substr: 1..ISO_CLASSIFY_MSG_MAX bytes, matched case-insensitively;
 *          copied.
 * @type: what a message containing it is.
 *
 * The table is process-local and append-only (ISO_CLASSIFY_USER_ROWS
 * rows); appending is lock-free and may race iso_classify_message from any
 * thread: a row is published complete (release), or not seen yet.
 * Returns 0, ISO_EINVAL (length or type out of range) or ISO_EFULL.
 */
int iso_classify_add_message(const char *substr, enum iso_failure_type type);

enum iso_outcome_kind {
	ISO_OUTCOME_NONE = 0, /* nothing reported: recorded as UNKNOWN failure */
	ISO_OUTCOME_SUCCESS,
	ISO_OUTCOME_FAILURE,
};

/* What a guarded operation says about itself. Zero-filled means NONE. */
struct iso_outcome {
	enum iso_outcome_kind kind;
	enum iso_failure_type type;   /* with FAILURE */
	uint64_t retry_after_ms;      /* with FAILURE: exchange's wait; 0 none */
};

/*
 * The outcome setters: what a guarded operation calls to say how it went.
 * A code that means success (errno 0, CURLE_OK, an HTTP status below 400)
 * reports success, so a result can be passed straight through:
 * iso_outcome_curl(out, curl_easy_perform(h)). Each overwrites @out and
 * touches nothing else: any thread, no lock.
 */

/** iso_outcome_success - the operation succeeded. */
void iso_outcome_success(struct iso_outcome *out);

/**
 * iso_outcome_failure - the operation failed with @type.
 * @retry_after_ms: the exchange's wait [M2], 0 for none.
 *
 * A @type out of range reports UNKNOWN, so an outcome is always
 * recordable and the permit always released.
 */
void iso_outcome_failure(struct iso_outcome *out, enum iso_failure_type type,
			 uint64_t retry_after_ms);

/** iso_outcome_errno - success for 0, else iso_classify_errno(@err). */
void iso_outcome_errno(struct iso_outcome *out, int err);

/** iso_outcome_curl - success for CURLE_OK, else iso_classify_curl(). */
void iso_outcome_curl(struct iso_outcome *out, int curl_code);

/**
 * iso_outcome_http - success below 400, else iso_classify_http() with the
 * wait @retry_after asks for (NULL: none; an HTTP-date is read against
 * time(NULL); an unreadable value is ignored).
 */
void iso_outcome_http(struct iso_outcome *out, int status,
		      const char *retry_after);

/** iso_outcome_message - iso_classify_message(@exchange_error). */
void iso_outcome_message(struct iso_outcome *out, const char *exchange_error);

/* The operation iso_call runs: report in @out, return what you like. */
typedef int (*iso_call_fn)(void *ctx, struct iso_outcome *out);

/* Everything iso_call learned; valid on every return. */
struct iso_call_result {
	iso_permit_t permit;        /* the decision; if refused, .reason and
				     * .retry_in_ms say why and for how long */
	struct iso_outcome outcome; /* as recorded (NONE if fn never ran) */
	int fn_rc;                  /* what fn returned; 0 if it never ran */
	bool called;                /* fn ran */
	bool unreported;            /* fn left no outcome: recorded UNKNOWN */
	uint64_t op_ns;             /* how long fn took (iso_now_ns clock) */
	int record_rc;              /* what iso_record_* returned */
};

/**
 * iso_call - run @fn as a guarded operation of @acct.
 * @acct: the account.
 * @fn: the operation; it reports its outcome in its second argument.
 * @ctx: passed to @fn.
 * @res: (output, may be NULL) what happened.
 *
 * Acquires a permit; if the account may not act, returns ISO_EOPEN
 * without calling @fn (res->permit says why and when to retry). Otherwise
 * calls @fn, timed with iso_now_ns(), and records its outcome with the
 * permit: success, or the failure type with its retry-after (the breaker
 * then stays open at least that long [M2]). An @fn that returns without
 * reporting (an early return) is recorded as an UNKNOWN failure and
 * flagged in res->unreported: never as a success nobody claimed. @fn
 * must return (a longjmp out of it skips the record; a probe permit then
 * frees itself after probe_timeout_ms [B5]).
 *
 * Returns 0 (@fn ran and succeeded), ISO_CALL_FAILED (@fn ran and failed),
 * ISO_EOPEN, ISO_ESTALE or ISO_EINVAL (@fn not called), or, with
 * res->called set, the error recording failed with (ISO_ESTALE when the
 * account was retired meanwhile). Any thread; no lock; formats nothing
 * unless an argument is invalid.
 */
int iso_call(const iso_account_t *acct, iso_call_fn fn, void *ctx,
	     struct iso_call_result *res);

/*
 * A guard: iso_call split in two for code that does not fit a callback.
 * Fields are read-only to callers except .outcome (ISO_GUARDED's report).
 */
struct iso_guard {
	iso_account_t acct;
	iso_permit_t permit;        /* from iso_guard_begin */
	struct iso_outcome outcome; /* ISO_GUARDED: the block reports here */
	uint64_t start_ns;
	uint64_t op_ns;             /* set by iso_guard_end */
	int rc;                     /* iso_guard_begin's result */
	int record_rc;              /* iso_guard_end's iso_record_* result */
	int state;                  /* private */
};

/**
 * iso_guard_begin - acquire a permit for @acct and start the clock.
 * @guard: caller's storage, filled here (no need to initialise it).
 *
 * Returns 0 (act, then call iso_guard_end exactly once), or ISO_EOPEN,
 * ISO_ESTALE, ISO_EINVAL: do not act; guard->permit says why, and
 * iso_guard_end need not (and may not) be called.
 */
int iso_guard_begin(const iso_account_t *acct, struct iso_guard *guard);

/**
 * iso_guard_end - record the outcome of a begun guard and release it.
 * @outcome: what happened; NULL or kind NONE records an UNKNOWN failure.
 *
 * Returns 0 (success recorded), ISO_CALL_FAILED (failure recorded),
 * ISO_EINVAL (the guard is not active: refused, or ended already; nothing
 * recorded) or the error of iso_record_*.
 */
int iso_guard_end(struct iso_guard *guard, const struct iso_outcome *outcome);

#if defined(__GNUC__) || defined(__clang__)
/*
 * ISO_GUARDED - run a block as a guarded operation:
 *
 *	struct iso_guard g;
 *	ISO_GUARDED(&acct, &g) {
 *		if (send_order(o) < 0) {
 *			iso_outcome_errno(&g.outcome, errno);
 *			break;
 *		}
 *		iso_outcome_success(&g.outcome);
 *	}
 *	if (g.rc == ISO_EOPEN)
 *		... refused: g.permit.reason, g.permit.retry_in_ms ...
 *
 * The block runs only if a permit was granted. However it is left - the
 * end of the block, break, continue, return, goto - the outcome in
 * g.outcome is recorded then, exactly once: a cleanup attribute on a
 * hidden variable records it when control leaves the block's scope, so an
 * early return cannot skip it, and an exit without an outcome shows up as
 * an UNKNOWN failure in the account's counters instead of vanishing.
 * break and continue both leave the guarded block: they do not reach an
 * enclosing loop. Only longjmp, exit or the death of the process skip the
 * record; then a probe permit frees itself after probe_timeout_ms [B5].
 * GCC and Clang only (cleanup attribute).
 */
#define ISO_GUARDED(acct, guard) \
	ISO_GUARDED_AS_(acct, guard, ISO_GUARD_CAT_(iso_guarded_, __COUNTER__))
#define ISO_GUARD_CAT_(a, b) ISO_GUARD_CAT2_(a, b)
#define ISO_GUARD_CAT2_(a, b) a##b
#define ISO_GUARDED_AS_(acct, guard, p)                                   \
	for (struct iso_guard *p __attribute__((cleanup(iso_guarded_leave))) \
		     = iso_guarded_enter((guard), (acct));                     \
	     p != NULL; iso_guarded_leave(&p))

/* ISO_GUARDED's halves; not for direct use. */
static inline struct iso_guard *iso_guarded_enter(struct iso_guard *guard,
						  const iso_account_t *acct)
{
	return iso_guard_begin(acct, guard) == 0 ? guard : NULL;
}

static inline void iso_guarded_leave(struct iso_guard **gp)
{
	if (*gp) {
		iso_guard_end(*gp, &(*gp)->outcome);
		*gp = NULL;
	}
}
#endif

/* ------------------------------------------------- hostile neighbours [R7] */

/**
 * iso_segment_check - is this attachment still whole, and still the segment
 * its name points to?
 * @reg: an attachment.
 *
 * fstat()s the attached object and reads its header through the file, never
 * through the mapping, so the check itself cannot fault. Anyone allowed to
 * write the object (its owner, the group of a group-writable mode, root) can
 * ftruncate it smaller; a read of the mapping past the new end then raises
 * SIGBUS. A viewer calls this before each pass over the mapping (and guards
 * the pass against SIGBUS, since the object can shrink during it); on
 * anything but 0 it stops reading, detaches, and attaches again once a
 * valid segment carries the name.
 *
 * Returns 0 (whole, and the name still points to it); ISO_ECORRUPT (the
 * object shrank below the mapped size, or its header was overwritten: the
 * mapping must not be read); ISO_ESTALE (the object is whole but the name
 * was unlinked or now points to another object: no new process will see
 * this one); ISO_EINVAL or ISO_ESYS. The message says which.
 * Any thread, concurrently with any call on @reg; three system calls, so
 * not for the hot path. No memory barrier is implied.
 */
int iso_segment_check(iso_reg_t *reg);

/* ------------------------------------------------- a light status [issue 19] */

/*
 * What iso_status_lite copies: an account's decision and its counters, as
 * a caller choosing or showing what to do needs them; not the key, the
 * config, the operation-time histogram or its percentiles, nor the
 * request budget. Each field means what its namesake in struct
 * iso_status means, and the two are computed by the same code: a lite
 * and a full status read while the account is left alone agree on every
 * field the lite one has.
 */
struct iso_status_lite {
	enum iso_health health;
	enum iso_breaker_state breaker; /* effective now (lazy timeouts applied) */
	bool broker_halted;             /* health and breaker say so */
	uint32_t consecutive_failures;
	uint32_t consecutive_successes;
	uint32_t probes_in_flight;
	uint32_t backoff_step;
	uint32_t episode;
	uint64_t retry_in_ms;           /* while OPEN: time until probes */
	uint64_t operations;            /* successes + failures, derived */
	uint64_t successes;
	uint64_t failures;              /* sum of failures_by_type, derived */
	uint64_t failures_by_type[ISO_FAIL__COUNT];
	uint64_t quarantines;
	int64_t last_success_ms;        /* Unix ms; 0 if never */
	int64_t last_failure_ms;        /* Unix ms; 0 if never */
	uint64_t ema_op_ns;             /* exponential moving average (alpha 0.1) */
};

/**
 * iso_status_lite - the breaker and counters of one account, without the
 * rest of iso_status.
 * @acct: a handle.
 * @st: (output) the fields above.
 *
 * The same reads as iso_status for these fields (the breaker word read
 * consistently, each counter read whole, the clock read only when the
 * breaker is OPEN or HALF_OPEN, where time can move it), and none of the
 * others, so it costs a few dozen loads rather than a 500-byte snapshot.
 * Works on read-only attachments and changes nothing. Any thread.
 * Returns 0, ISO_ESTALE (the account was retired, before or while it was
 * read), ISO_ECORRUPT (its breaker word is in no legal state, counted) or
 * ISO_EINVAL.
 */
int iso_status_lite(const iso_account_t *acct, struct iso_status_lite *st);

#ifdef __cplusplus
}
#endif
#endif /* ISOREG_H */
