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
	uint32_t capacity;
	uint32_t dir_capacity;    /* 2 x capacity: not a power of two */
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

/* error.c: record the calling thread's error detail; returns @code. */
int iso_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* clock.c */
uint64_t iso_now_ms(void);         /* breaker time: monotonic ms, coarse */
uint64_t iso_stamp_ms(void);       /* slot cooldowns: monotonic ms, fine */
int64_t iso_wall_ms(void);         /* Unix ms, cheap (coarse clock) */

/* state.c: the words that start each kind of state-file entry. */
extern const char *const iso_state_kind_word[];

/* classify.c: one table row per code, shared by the classifiers. */
struct code_row {
	int code;
	enum iso_failure_type type;
};
/** iso_code_lookup - the type of @code in @rows, or ISO_FAIL_UNKNOWN. */
int iso_code_lookup(const struct code_row *rows, size_t n, int code);

/* key.c */
uint64_t iso_key_hash(const struct iso_key *key);
bool iso_key_valid_stored(const char *type, const char *id,
			  const char *broker);

/* config.c */
void iso_config_load_shm(const struct iso_shm_config *s,
			 const uint64_t *budget, struct iso_config *cfg);
void iso_config_store_shm(struct iso_shm_config *s, uint64_t *budget,
			  uint32_t *features, const struct iso_config *cfg,
			  uint8_t override);

/* process.c: process identity that survives pid reuse and namespaces. */
uint64_t iso_proc_start_time(uint32_t pid); /* 0 if no such process */
uint32_t iso_self_pid(void);
/** iso_owner_tag - this process's tag for the slots it reserves: its pid
 * namespace (32) | its start time (low 32 bits of ticks since boot). */
uint64_t iso_owner_tag(void);
enum iso_owner { ISO_OWNER_ALIVE, ISO_OWNER_DEAD, ISO_OWNER_FOREIGN };
/** iso_owner_judge - is the reservation owner (@pid, @tag) alive? FOREIGN
 * when it lives in another pid namespace, where our pids mean nothing. */
enum iso_owner iso_owner_judge(uint32_t pid, uint64_t tag);

/* index.c: the per-process RCU index [S4]. */
int iso_index_init(iso_reg_t *reg);
void iso_index_destroy(iso_reg_t *reg);
bool iso_index_get(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t *slot, uint32_t *gen);
void iso_index_put(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t slot, uint32_t gen);
void iso_index_drop(iso_reg_t *reg, const struct iso_key *key, uint64_t hash);

/* account.c */
/** iso_status_slot - a snapshot of slot @slot if it holds an account (LIVE,
 * or RESERVED behind a live entry). 0, ISO_ENOENT, or ISO_ECORRUPT. */
int iso_status_slot(iso_reg_t *reg, uint32_t slot, struct iso_status *st);
/** iso_slot_effectively_live - lo is LIVE, or RESERVED with a live entry. */
bool iso_slot_effectively_live(iso_reg_t *reg, uint32_t slot, uint64_t lo);

/** iso_operator_event - one operator's breaker event (reset, halt,
 * release...) through a handle, logged with @text; *@changed says whether
 * the word moved. 0 or the handle's error. */
int iso_operator_event(const iso_account_t *acct, enum iso_bev_kind kind,
		       enum iso_cause cause, const char *text, bool *changed);
/** iso_configure_text, iso_retire_text - with an operator's reason. */
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

/** iso_live_count - accounts registered now, counted from the slots (a
 * stored count would drift when a registrant or retirer is killed). */
uint32_t iso_live_count(iso_reg_t *reg);

/* events.c: append an event; never waits, never fails (a writer that
 * dies mid-way costs one event, which readers count as missed). */
void iso_event_append(iso_reg_t *reg, uint32_t slot, uint32_t gen,
		      enum iso_health from, enum iso_health to,
		      enum iso_breaker_state breaker, enum iso_cause cause,
		      int ftype);
/* ... with @text: an operator's reason (its first 16 bytes are kept), or a
 * broker's name for broker halts and releases. */
void iso_event_append_text(iso_reg_t *reg, uint32_t slot, uint32_t gen,
			   enum iso_health from, enum iso_health to,
			   enum iso_breaker_state breaker, enum iso_cause cause,
			   int ftype, const char *text);

/* Validate an attachment and a handle at entry (Varnish's CHECK_OBJ). */
static inline bool iso_reg_ok(const iso_reg_t *reg)
{
	return reg && reg->magic == ISO_REG_MAGIC;
}

#endif /* ISO_INTERNAL_H */
