/*
 * internal.h - what the library's files share and nobody else sees: the
 * process-local attachment, error recording, the clock, and the entry
 * points each concept's file offers the others.
 */
#ifndef ISO_INTERNAL_H
#define ISO_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

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
	uint64_t start_time;      /* this process's start time, for doctor */
	char name[256];
};

/* error.c: record the calling thread's error detail; returns @code. */
int iso_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* clock.c */
uint64_t iso_now_ms(void);         /* breaker time: monotonic ms, coarse */
uint64_t iso_stamp_ms(void);       /* slot cooldowns: monotonic ms, fine */
int64_t iso_wall_ms(void);         /* Unix ms, cheap (coarse clock) */
int64_t iso_mono_to_wall_ms(uint64_t mono_ms); /* for display */

/* key.c */
uint64_t iso_key_hash(const struct iso_key *key);
bool iso_key_valid_stored(const char *type, const char *id,
			  const char *broker);

/* config.c */
void iso_config_to_shm(const struct iso_config *cfg, struct iso_shm_config *s);
void iso_config_load_shm(const struct iso_shm_config *s,
			 struct iso_config *cfg);
void iso_config_store_shm(struct iso_shm_config *s,
			  const struct iso_config *cfg, uint8_t override);

/* process.c: process identity that survives pid reuse. */
uint64_t iso_proc_start_time(uint32_t pid); /* 0 if no such process */
uint32_t iso_self_pid(void);

/* directory.c: the shared key -> slot table [S3]. */
int iso_dir_find(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		 uint32_t *slot, uint32_t *gen);
int iso_dir_insert(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t slot, uint32_t *found_slot);
int iso_dir_remove(iso_reg_t *reg, uint64_t hash, uint32_t slot);
bool iso_dir_points_to(iso_reg_t *reg, uint64_t hash, uint32_t slot);
int iso_dir_clear_pending(iso_reg_t *reg, uint32_t slot);
bool iso_dir_entry_pending(uint64_t hi);

/* index.c: the per-process RCU index [S4]. */
int iso_index_init(iso_reg_t *reg);
void iso_index_destroy(iso_reg_t *reg);
bool iso_index_get(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t *slot, uint32_t *gen);
void iso_index_put(iso_reg_t *reg, const struct iso_key *key, uint64_t hash,
		   uint32_t slot, uint32_t gen);
void iso_index_drop(iso_reg_t *reg, const struct iso_key *key, uint64_t hash);

/* account.c */
bool iso_slot_key_equals(const struct iso_slot *s, const struct iso_key *key);
void iso_slot_read_key(const struct iso_slot *s, struct iso_key *key);
void iso_slot_config(iso_reg_t *reg, const struct iso_slot *s,
		     struct iso_config *cfg);
int iso_status_slot(iso_reg_t *reg, uint32_t slot, struct iso_status *st);
void iso_count_violation(iso_reg_t *reg);

/* events.c */
void iso_event_append(iso_reg_t *reg, uint32_t slot, uint32_t gen,
		      enum iso_health from, enum iso_health to,
		      enum iso_breaker_state breaker, enum iso_cause cause,
		      int ftype);

/* Validate an attachment and a handle at entry (Varnish's CHECK_OBJ). */
static inline bool iso_reg_ok(const iso_reg_t *reg)
{
	return reg && reg->magic == ISO_REG_MAGIC;
}

#endif /* ISO_INTERNAL_H */
