/*
 * internal.h - what the library's files share and nobody else sees: the
 * process-local attachment, error recording, the clock, and the entry
 * points each concept's file offers the others.
 */
#ifndef ISO_INTERNAL_H
#define ISO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "atomic.h"
#include "breaker.h"
#include "isoreg.h"
#include "layout.h"

#define ISO_REG_MAGIC 0x69736f72u /* "isor": checked at every entry */

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct cds_lfht;

/*
 * One process's attachment. The geometry is copied out of the header once,
 * after validation, and never re-read from shared memory: a hostile or
 * corrupted segment cannot move it afterwards.
 */
struct iso_reg {
	uint32_t magic;
	bool rdonly;
	void *base;
	uint64_t size;
	struct iso_shm_header *hdr;
	iso_dirent_t *dir;
	struct iso_slot *slots;
	struct iso_shm_event *ring;
	struct iso_shm_window *win; /* rolling windows [B7]; NULL: none */
	uint32_t capacity;
	uint32_t dir_capacity;    /* 2 x capacity: not a power of two */
	uint64_t dir_magic;       /* UINT64_MAX / dir_capacity (iso_dir_home) */
	uint32_t ring_mask;
	uint32_t cooldown_ms;
	struct cds_lfht *index;   /* key -> slot, this process only [S4] */
	uint32_t pid;
	uint32_t uid;             /* for events [R8] */
	uint64_t owner_tag;       /* pid namespace and start time (process.c) */
	char name[256];
	int fd;                   /* the object, kept for iso_segment_check */
	dev_t dev;                /* its identity, to tell a replacement */
	ino_t ino;
};

/**
 * iso_fail - record the calling thread's error detail (iso_last_error).
 * @code: the ISO_E* code to return; @fmt: printf-style detail naming what
 *	was wrong. Returns @code. Any thread; never on a hot path's success.
 * @fmt's arguments must not point into the detail buffer itself.
 */
int iso_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * clock.c. Any thread. A test clock (iso_clock_set) replaces the first two
 * in this process only.
 *   iso_now_ms - breaker time: monotonic ms, coarse (one vDSO read);
 *   iso_stamp_ms - slot cooldowns: monotonic ms, fine (cooldowns may be
 *	1 ms, below the coarse clock's tick);
 *   iso_wall_ms - Unix ms for people (events, last success), coarse.
 */
uint64_t iso_now_ms(void);
uint64_t iso_stamp_ms(void);
int64_t iso_wall_ms(void);

/* state.c: the words that start each kind of state-file entry. */
extern const char *const iso_state_kind_word[];

/* classify.c: one table row per code, shared by the classifiers. */
struct code_row {
	int code;
	enum iso_failure_type type;
};
/** iso_code_lookup - the type of @code in @rows, or ISO_FAIL_UNKNOWN. */
int iso_code_lookup(const struct code_row *rows, size_t n, int code);

/*
 * key.c. Pure; any thread.
 *   iso_key_hash - the directory hash of a normalised key (never 0);
 *   iso_key_valid_stored - whether a key read from a slot (untrusted)
 *	satisfies [K2] as stored: lengths, alphabet, case.
 */
uint64_t iso_key_hash(const struct iso_key *key);
bool iso_key_valid_stored(const char *type, const char *id,
			  const char *broker);

/*
 * A key as the by-key paths carry it: normalised once, zero-padded to the
 * end of every field, with its field lengths and its directory hash found
 * in the same pass, so nothing after it calls strlen or hashes again.
 */
struct iso_nkey {
	struct iso_key k;  /* normalised, every byte after a field's NUL 0 */
	uint64_t hash;     /* iso_key_hash(&k) */
	uint8_t len[3];    /* type, id, broker: bytes without the NUL */
};

/*
 * key.c. Pure; any thread.
 *   iso_key_norm - iso_key_make into an iso_nkey: the same checks, the
 *	same messages (a refused key takes iso_key_make's exact path), no
 *	other work. Returns 0 or ISO_EINVAL.
 *   iso_key_norm_key - an iso_nkey from a key already normalised and
 *	terminated (iso_key_make's output, or one read from a slot).
 */
int iso_key_norm(const char *type, const char *id, const char *broker,
		 struct iso_nkey *out);
void iso_key_norm_key(const struct iso_key *key, struct iso_nkey *out);

/** iso_key_same - whether two zero-padded keys (iso_nkey.k) are equal: all
 * 96 bytes compared, as words; any thread. */
static inline bool iso_key_same(const struct iso_key *a, const struct iso_key *b)
{
	uint64_t wa, wb, diff = 0;
	for (size_t i = 0; i < sizeof(*a); i += 8) {
		__builtin_memcpy(&wa, (const char *)a + i, 8);
		__builtin_memcpy(&wb, (const char *)b + i, 8);
		diff |= wa ^ wb;
	}
	return diff == 0;
}
_Static_assert(sizeof(struct iso_key) % 8 == 0, "iso_key_same reads words");

/*
 * config.c: a config as stored in shared memory.
 *   iso_config_load_shm - read each field whole (relaxed), and the budget
 *	word @budget whole, and the window config @win (NULL: the segment
 *	has none, windows read as off): a reader racing a reconfigure gets old or new
 *	per field, each valid, and never one budget's rate with another's
 *	burst.
 *   iso_config_store_shm - write each field and the budget word (relaxed),
 *	raise the segment's features word if the config has a budget, then
 *	@override with release (pairs with the acquire in iso_slot_config).
 *	Writers only; a writer killed half-way leaves valid fields
 *	(killpoints: configure).
 */
void iso_config_load_shm(const struct iso_shm_config *s,
			 const uint64_t *budget,
			 const struct iso_shm_wincfg *win, struct iso_config *cfg);
void iso_config_store_shm(struct iso_shm_config *s, uint64_t *budget,
			  struct iso_shm_wincfg *win, uint32_t *features,
			  const struct iso_config *cfg, uint8_t override);
/*
 * iso_wincfg_load - the window fields of @c from @w, each read whole
 * (relaxed, as iso_config_load_shm) and clamped to its valid range (only
 * a hostile writer stores one out of it): window_ms below the minimum
 * reads as 0, windows off. Inline: the outcome path reads it
 * (iso_slot_window_config). Returns c->window_ms.
 */
static inline uint32_t iso_wincfg_load(const struct iso_shm_wincfg *w,
				       struct iso_config *c)
{
	uint32_t ms = iso_load32_relaxed(&w->window_ms);
	uint32_t mc = iso_load32_relaxed(&w->min_calls);
	uint32_t sm = iso_load32_relaxed(&w->slow_call_ms);
	uint8_t fr = iso_load8_relaxed(&w->failure_rate);
	uint8_t sr = iso_load8_relaxed(&w->slow_rate);
	c->window_ms = ms < ISO_WINDOW_MS_MIN ? 0
		: ms > ISO_WINDOW_MS_MAX ? ISO_WINDOW_MS_MAX : ms;
	c->min_calls = mc < 1 ? 1 : mc > ISO_MIN_CALLS_MAX ? ISO_MIN_CALLS_MAX
							   : mc;
	c->slow_call_ms = sm > ISO_TIMEOUT_MAX_MS ? ISO_TIMEOUT_MAX_MS : sm;
	c->failure_rate_threshold = fr > 100 ? 100 : fr;
	c->slow_call_rate_threshold = sr > 100 ? 100 : sr;
	return c->window_ms;
}

/*
 * iso_config_fits - 0, or ISO_EINVAL naming why @cfg cannot be stored in
 * @reg (windows without a window region). Callers validate first.
 */
int iso_config_fits(iso_reg_t *reg, const struct iso_config *cfg);

/*
 * process.c: process identity that survives pid reuse and namespaces.
 *   iso_proc_start_time - field 22 of /proc/@pid/stat (never 0 for a
 *	process that exists), or 0 if there is none or /proc cannot tell;
 *   iso_self_pid - getpid().
 */
uint64_t iso_proc_start_time(uint32_t pid);
uint32_t iso_self_pid(void);
/** iso_owner_tag - this process's tag for the slots it reserves: its pid
 * namespace (32) | its start time (low 32 bits of ticks since boot). */
uint64_t iso_owner_tag(void);
enum iso_owner { ISO_OWNER_ALIVE, ISO_OWNER_DEAD, ISO_OWNER_FOREIGN };
/** iso_owner_judge - is the reservation owner (@pid, @tag) alive? FOREIGN
 * when it lives in another pid namespace, where our pids mean nothing. */
enum iso_owner iso_owner_judge(uint32_t pid, uint64_t tag);

/*
 * index.c: the per-process RCU index [S4], a cache of the directory: what
 * it returns is re-checked against the slot by the caller.
 *   iso_index_init - a table sized for @reg->capacity; 0 or ISO_ENOMEM.
 *	Call once per attachment, after its geometry is known.
 *   iso_index_destroy - empty it, wait for readers (rcu_barrier), free.
 *	Not concurrent with any other call on @reg.
 *   iso_index_get - (@slot, @gen) last recorded for @key; false if none.
 *	Any thread, lock-free (an RCU read section).
 *   iso_index_put - record (@slot, @gen) for @key, replacing what was.
 *   iso_index_drop - forget @key (its node freed after a grace period).
 */
int iso_index_init(iso_reg_t *reg);
void iso_index_destroy(iso_reg_t *reg);
bool iso_index_get(iso_reg_t *reg, const struct iso_nkey *key,
		   uint32_t *slot, uint32_t *gen);
void iso_index_put(iso_reg_t *reg, const struct iso_nkey *key,
		   uint32_t slot, uint32_t gen);
void iso_index_drop(iso_reg_t *reg, const struct iso_nkey *key);

/**
 * iso_status_slot - (status.c) a snapshot of slot @slot if it holds an
 * account (LIVE, or RESERVED behind a live entry). Reads only: works on
 * read-only mappings. Returns 0, ISO_ENOENT (no account, or it was retired
 * while read), or ISO_ECORRUPT (its breaker word is in no legal state).
 */
int iso_status_slot(iso_reg_t *reg, uint32_t slot, struct iso_status *st);
/** iso_slot_effectively_live - (handle.c) whether publication word @lo of
 * @slot means an account: LIVE, or RESERVED with a live directory entry
 * naming it (its registrant died after publishing). Reads only. */
bool iso_slot_effectively_live(iso_reg_t *reg, uint32_t slot, uint64_t lo);

/**
 * iso_operator_event - (transition.c) one operator's breaker event (reset,
 * halt, release...) through a handle: one CAS of the breaker word
 * (acq_rel), then an event carrying @text. *@changed (may be NULL) says
 * whether the word moved. Returns 0 or the handle's error (ISO_ESTALE
 * counted). Writers only.
 */
int iso_operator_event(const iso_account_t *acct, enum iso_bev_kind kind,
		       enum iso_cause cause, const char *text, bool *changed);
/** iso_configure_text, iso_retire_text - (operator.c, retire.c) iso_configure and
 * iso_retire with an operator's reason in their event; @text may be NULL
 * (no reason) and is assumed checked (iso_op_check). */
int iso_configure_text(const iso_account_t *acct, const struct iso_config *cfg,
		       const char *text);
int iso_retire_text(const iso_account_t *acct, const char *text);

/* broker.c: broker-wide halts. */
struct iso_slot;
/** iso_broker_halted_slot - whether the broker of the account in @s is in
 * the halt table (call only when hdr->broker_halts is not 0). */
bool iso_broker_halted_slot(iso_reg_t *reg, const struct iso_slot *s);
/** iso_broker_recount - entries in the halt table now (doctor). */
uint32_t iso_broker_recount(iso_reg_t *reg);

/** iso_live_count - (status.c) accounts registered now, counted from the
 * slots up to the high-water mark (a stored count would drift when a
 * registrant or retirer is killed). O(slots used); reads only. */
uint32_t iso_live_count(iso_reg_t *reg);

/**
 * iso_event_append_text - (events.c) append an event about (@slot, @gen),
 * or the segment (@slot ISO_NO_SLOT), with @text: an operator's reason
 * (its first 16 bytes are kept; the caller checked it), a broker's name
 * for broker halts and releases, or NULL. One relaxed fetch-add for a
 * ticket, then the entry's body with release stores and its even seq with
 * release (pairs with the reader's acquire of seq). Never waits, never
 * fails: a writer that dies mid-way costs one event, which readers count
 * as missed. No-op on read-only attachments. Any thread.
 */
void iso_event_append_text(iso_reg_t *reg, uint32_t slot, uint32_t gen,
			   enum iso_health from, enum iso_health to,
			   enum iso_breaker_state breaker, enum iso_cause cause,
			   int ftype, const char *text);
/** iso_event_append_at - the same, stamped @time_ms (Unix ms) that the
 * caller already read. */
void iso_event_append_at(iso_reg_t *reg, uint64_t time_ms, uint32_t slot,
			 uint32_t gen, enum iso_health from, enum iso_health to,
			 enum iso_breaker_state breaker, enum iso_cause cause,
			 int ftype, const char *text);

/* Validate an attachment and a handle at entry (Varnish's CHECK_OBJ). */
static inline bool iso_reg_ok(const iso_reg_t *reg)
{
	return reg && reg->magic == ISO_REG_MAGIC;
}

#endif /* ISO_INTERNAL_H */
