/*
 * layout.h - the on-segment format: header, directory, slots, event ring.
 *
 * Everything here lives in shared memory, mapped at different addresses in
 * different processes, written by processes that may die at any instruction.
 * So: fixed-width fields only, no pointers (offsets and indices), every size
 * and offset pinned by a _Static_assert, and nothing read from here is
 * trusted before it is bounds-checked.
 *
 *   [ header 4 KiB | directory | slots[capacity] | event ring ]
 *
 *   [ ... | window region (optional, one 256-byte entry per slot) ]
 *
 * Memory [P5]: at most 512 bytes of segment per account. A slot is 448
 * bytes (seven lines), the directory 32 and the ring ~16 per account, so
 * the slot cannot grow by a line. Layout 4 fits the request budget [B9]
 * and operation times to a minute inside the same 448 bytes: 32-bit time
 * buckets free 32 bytes of the counter lines, line 0's spare word holds
 * the budget's (read-mostly) config. Rolling windows [B7] need no slot
 * bytes: they live in an optional region sized at creation.
 * docs/budget.md gives the reasoning and the figures.
 */
#ifndef ISO_LAYOUT_H
#define ISO_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "isoreg.h"

#define ISO_MAGIC 0x3147455253534f49ull /* "ISOREG1" little-endian, sort of */
#define ISO_LAYOUT_VERSION 5u /* 4: budget word, 28 u32 time buckets;
				 5: the rolling-window region */
#define ISO_CACHE_LINE 64
#define ISO_HEADER_SIZE 4096u
#define ISO_SLOT_SIZE 448u
#define ISO_EVENT_SIZE 64u
#define ISO_SLOT_HIST ISO_HIST_BUCKETS

/* ------------------------------------------------------------- header */

/*
 * Breaker configuration as stored: each field is read and written whole
 * (relaxed), and every combination of valid fields is a valid config, so a
 * transition racing a reconfigure sees some mix of old and new fields.
 */
struct iso_shm_config {
	uint8_t failure_threshold;
	uint8_t success_threshold;
	uint8_t half_open_max_calls;
	uint8_t degrade_after;
	uint32_t open_timeout_ms;
	uint32_t max_open_timeout_ms;
	uint32_t probe_timeout_ms;
	uint8_t trip_on;
	uint8_t ignore;
	uint8_t flags;
	uint8_t override; /* slots only: 1 = this config, 0 = segment default */
};
_Static_assert(sizeof(struct iso_shm_config) == 20, "shm config is 20 bytes");

/* Stored config flags: the public ISO_CFG_* bits, nothing else. */
#define ISO_SHMF_PUBLIC 0x7fu

/* Header features (iso_shm_header.features): some config ever had one. */
#define ISO_FEAT_BUDGET 0x1u
#define ISO_FEAT_WINDOW 0x2u

/*
 * A rolling window's config [B7], stored like iso_shm_config: each field
 * whole (relaxed), any mix of valid fields valid. It follows the slot's
 * config.override like every other field.
 */
struct iso_shm_wincfg {
	uint32_t window_ms;     /* 0: windows off */
	uint32_t min_calls;
	uint32_t slow_call_ms;
	uint8_t failure_rate;   /* percent; 0 = off */
	uint8_t slow_rate;      /* percent; 0 = off */
	uint8_t _pad[2];
};
_Static_assert(sizeof(struct iso_shm_wincfg) == 16, "window config");

/*
 * A request budget's config [B9], one 64-bit word read and written whole
 * (relaxed), so a reader never sees one config's rate with another's
 * burst: interval_ns (40 bits: the time one unit of budget takes to come
 * back, 1e9 / rate_per_s, up to 1099 s) | burst (24 bits). 0: no budget.
 */
#define ISO_BUDGET_INTERVAL_BITS 40
#define ISO_BUDGET_INTERVAL_MAX ((1ull << ISO_BUDGET_INTERVAL_BITS) - 1)
#define ISO_BUDGET_BURST_MAX ((1u << 24) - 1)
#define ISO_BUDGET_MAKE(interval_ns, burst)                                  \
	(((uint64_t)(burst) << ISO_BUDGET_INTERVAL_BITS) |                   \
	 ((uint64_t)(interval_ns) & ISO_BUDGET_INTERVAL_MAX))
#define ISO_BUDGET_INTERVAL(w) ((w) & ISO_BUDGET_INTERVAL_MAX)
#define ISO_BUDGET_BURST(w) ((uint32_t)((w) >> ISO_BUDGET_INTERVAL_BITS))

struct iso_shm_header {
	/* Immutable after creation: validated by every attacher [R1]. */
	uint64_t magic;
	uint32_t version;        /* written last at creation, with release */
	uint32_t header_size;
	uint32_t slot_size;
	uint32_t event_size;
	uint32_t capacity;       /* slots */
	uint32_t dir_capacity;   /* entries: 2 * capacity (at least 64) */
	uint32_t ring_capacity;  /* events, a power of two */
	uint32_t retire_cooldown_ms;
	uint64_t dir_off;
	uint64_t slots_off;
	uint64_t ring_off;
	uint64_t total_size;
	uint64_t created_unix_ms;
	uint32_t creator_pid;
	uint32_t _pad0;
	uint8_t _pad1[ISO_CACHE_LINE * 2 - 88];

	/* Segment default config; changed by iso_configure_default. */
	struct iso_shm_config defaults;
	uint32_t _pad2a;
	uint64_t defaults_budget; /* ISO_BUDGET_* word, as slot budget_cfg */
	uint8_t _pad2[ISO_CACHE_LINE - sizeof(struct iso_shm_config) - 12];

	/* Allocation: touched once per registration or retire. */
	uint32_t next_slot;      /* slots never used start here (fetch-add) */
	uint32_t _unused0;       /* was a live count; live is derived [M1] */
	uint64_t generation;     /* moves on every registration and retire */
	uint32_t dir_tombstones;
	uint32_t _pad3;
	uint8_t _pad4[ISO_CACHE_LINE - 24];

	/* Detected isolation violations (stale handles, bad slots). */
	uint64_t cross_account_errors;
	uint8_t _pad5[ISO_CACHE_LINE - 8];

	/* Event ring head: one fetch-add per breaker transition. */
	uint64_t ring_head;
	uint8_t _pad6[ISO_CACHE_LINE - 8];

	/*
	 * Broker-wide halts [R8]: while broker B is in the table, every
	 * acquire of a B account is refused, whatever its breaker says,
	 * including accounts registered later. broker_halts is raised before
	 * an entry is added and lowered after one is removed, so "an entry
	 * exists" implies "broker_halts > 0"; the hot path reads that word
	 * alone (read-mostly, its own line) and looks at the table only when
	 * it is not 0. Doctor REPAIR recounts it.
	 */
	uint32_t broker_halts;
	/*
	 * Features some config of this segment ever used (ISO_FEAT_*), only
	 * ever raised (iso_or32_relaxed after the config is stored). While it
	 * is 0 the hot path tests nothing else: the same line as broker_halts,
	 * so no extra cache line. Once raised, acquire looks at the account's
	 * config flags (the breaker's own line, or the defaults line).
	 */
	uint32_t features;
	uint8_t _pad8[ISO_CACHE_LINE - 8];
	iso_pair_t halted_brokers[ISO_BROKER_HALTS_MAX]; /* names, 0 = free */

	/*
	 * Rolling windows [B7]: the optional region (fixed at creation;
	 * attach recomputes and compares it) and the default window config,
	 * which follows the defaults' override rules like the line above.
	 */
	uint64_t win_off;         /* 0: this segment has no window region */
	uint32_t windows;         /* 1: one iso_shm_window per slot at win_off */
	uint32_t _pad9;
	struct iso_shm_wincfg defaults_window;
};
_Static_assert(offsetof(struct iso_shm_header, defaults) == 128, "defaults");
_Static_assert(offsetof(struct iso_shm_header, next_slot) == 192, "alloc line");
_Static_assert(offsetof(struct iso_shm_header, cross_account_errors) == 256,
	       "errors line");
_Static_assert(offsetof(struct iso_shm_header, ring_head) == 320, "ring line");
_Static_assert(offsetof(struct iso_shm_header, broker_halts) == 384, "halts line");
_Static_assert(offsetof(struct iso_shm_header, features) == 388, "features");
_Static_assert(offsetof(struct iso_shm_header, defaults_budget) == 152,
	       "default budget on the defaults line");
_Static_assert(offsetof(struct iso_shm_header, halted_brokers) == 448, "halts");
_Static_assert(offsetof(struct iso_shm_header, win_off) ==
	       448 + 16 * ISO_BROKER_HALTS_MAX, "window line");
_Static_assert(sizeof(struct iso_shm_header) <= ISO_HEADER_SIZE, "header");

/* ---------------------------------------------------------- directory */

/*
 * One directory entry: a pair changed only by iso_cas128_acq_rel.
 *   lo: the key's 64-bit hash (never 0); once set it never changes.
 *   hi: gen (32) | pending (1) | slot + 1 (31), or 0: a tombstone.
 * An entry is empty while lo == 0. The slot generation in the entry makes
 * every CAS on it name one account, never "whoever holds slot s now": a
 * retirer stalled past a reuse cannot remove the next account's entry.
 * An entry whose slot no longer holds that generation LIVE or RESERVED is
 * dead: anyone may turn it into a tombstone.
 */
typedef iso_pair_t iso_dirent_t;
_Static_assert(sizeof(iso_dirent_t) == 16, "dirent");
#define ISO_DE_PENDING (1ull << 31)
#define ISO_DE_SLOT1(hi) ((uint32_t)((hi) & 0x7fffffffull)) /* slot + 1 */
#define ISO_DE_GEN(hi) ((uint32_t)((hi) >> 32))
#define ISO_DE_MAKE(gen, slot, pending)                                      \
	(((uint64_t)(gen) << 32) | ((pending) ? ISO_DE_PENDING : 0) |        \
	 ((uint64_t)(slot) + 1))

/* --------------------------------------------------------------- slot */

/*
 * Slot publication pair, changed only by iso_cas128_acq_rel:
 *   lo: gen (32) | state (8) | owner pid (24)
 *   hi: RESERVED: the owner's tag (pid namespace and start time, see
 *       process.c), so a reservation names its owner in the one CAS that
 *       makes it; RETIRED: the monotonic ms it was retired at, so a reuser
 *       never sees RETIRED with another retire's stamp; else 0.
 * The hot path loads lo alone.
 */
enum iso_slot_state {
	ISO_SLOT_FREE = 0,     /* never used, or a reservation given back */
	ISO_SLOT_RESERVED = 1, /* being filled by the owner in the pair */
	ISO_SLOT_LIVE = 2,     /* published: key immutable, breaker live */
	ISO_SLOT_RETIRED = 3,  /* retired at hi; reusable after the cooldown */
};
#define ISO_SW_GEN(w) ((uint32_t)((w) >> 32))
#define ISO_SW_STATE(w) ((uint32_t)(((w) >> 24) & 0xff))
#define ISO_SW_PID(w) ((uint32_t)((w) & 0xffffff))
#define ISO_SW_MAKE(gen, st, pid)                                            \
	(((uint64_t)(gen) << 32) | ((uint64_t)(st) << 24) |                   \
	 ((uint64_t)(pid) & 0xffffff))

/*
 * Breaker word [B4], a pair changed only by iso_cas128_acq_rel:
 *   lo: gen32 | state2 | degraded1 | backoff5 | cf8 | episode16
 *   hi: time_ms40 | cs8 | probes8 | seq8
 * gen is the whole slot generation, so a stale handle's CAS fails however
 * often the slot was reused. time_ms is the monotonic clock in ms (40 bits:
 * 34 years of uptime): in OPEN the time it may probe, in HALF_OPEN the
 * time the last probe permit was granted, else the time the state began.
 * The hot path reads lo alone: it holds everything acquire and a quiet
 * success look at. Readers that cannot CAS (read-only mappings) use
 * iso_bw_load (breaker.h): the version counter beside the word, bumped
 * after every successful CAS, plus seq, tell them a read was torn.
 */
#define ISO_BW_GEN_SHIFT 0
#define ISO_BW_STATE_SHIFT 32
#define ISO_BW_DEGRADED_SHIFT 34
#define ISO_BW_BACKOFF_SHIFT 35
#define ISO_BW_CF_SHIFT 40
#define ISO_BW_EPISODE_SHIFT 48
#define ISO_BW_CS_SHIFT 40     /* in hi */
#define ISO_BW_PROBES_SHIFT 48 /* in hi */
#define ISO_BW_SEQ_SHIFT 56    /* in hi */
#define ISO_BW_BACKOFF_MAX 31u
#define ISO_BW_TIME_BITS 40
#define ISO_BW_TIME_MASK ((1ull << ISO_BW_TIME_BITS) - 1)

struct iso_slot {
	/*
	 * Line 0-1: identity. Written while RESERVED, immutable while LIVE,
	 * except budget_cfg, written only by iso_configure: this line is
	 * read by every call of every process (slot_of), so only read-mostly
	 * words may live here. The budget's moving word (budget_tat) is on
	 * the last counter line, which the acquiring process's outcomes
	 * write anyway; on line 0 every budgeted acquire would invalidate
	 * the line that every other process's calls on this account read.
	 */
	iso_pair_t state;      /* ISO_SW_* | owner tag or retire stamp */
	uint64_t hash;         /* xxh64 of the normalised key */
	uint64_t budget_cfg;   /* ISO_BUDGET_MAKE(), with config.override */
	char type[ISO_TYPE_MAX + 1];
	char broker[ISO_BROKER_MAX + 1];
	char id[ISO_ID_MAX + 1];

	/* Line 2: the breaker. CAS on transitions; one load per acquire. */
	iso_pair_t breaker;
	struct iso_shm_config config;
	uint32_t last_transition_info; /* cause8 | ftype8 (0xff none) */
	uint64_t last_transition_ms;   /* Unix ms */
	uint64_t quarantines;
	uint64_t bw_version;   /* +1 after every breaker CAS (iso_bw_load) */

	/*
	 * Lines 3-6: counters, all relaxed atomic adds or stores, written on
	 * every outcome by whichever process records it.
	 */
	uint64_t successes;
	uint64_t failures[ISO_FAIL__COUNT];
	uint64_t op_ns_sum;          /* of timed operations */
	uint64_t ema_ns;             /* EMA of op time, alpha 1/10 */
	int64_t last_success_ms;     /* Unix ms */
	int64_t last_failure_ms;     /* Unix ms */
	uint64_t successes_at_failure; /* successes when the last failure came */
	/*
	 * Operation times, log2 buckets 1 us .. 68.7 s (hist.h). 32-bit
	 * counters: 28 buckets fit where 18 64-bit ones did; each counts to
	 * 2^32 timed operations of one account and one bucket, then wraps.
	 */
	uint32_t hist[ISO_SLOT_HIST];

	/*
	 * Line 6 (tail): the request budget [B9]. budget_tat is the GCRA's
	 * theoretical arrival time (monotonic ns), changed only by one
	 * iso_cas64_acq_rel per admitted acquire (budget.c): nothing to give
	 * back, so a process killed anywhere holds no budget.
	 */
	uint64_t budget_tat;
	uint64_t budget_refusals;    /* acquires refused by the budget */
	uint64_t op_ns_min;          /* smallest timed operation; 0: none */
	uint64_t op_ns_max;          /* largest timed operation */
};
_Static_assert(offsetof(struct iso_slot, state) == 0, "state pair");
_Static_assert(offsetof(struct iso_slot, breaker) == 128, "breaker line");
_Static_assert(offsetof(struct iso_slot, bw_version) == 184, "version");
_Static_assert(offsetof(struct iso_slot, budget_cfg) == 24, "budget config");
_Static_assert(offsetof(struct iso_slot, successes) == 192, "counter lines");
_Static_assert(offsetof(struct iso_slot, hist) == 304, "hist");
_Static_assert(offsetof(struct iso_slot, budget_tat) == 416, "budget word");
_Static_assert(offsetof(struct iso_slot, budget_tat) / ISO_CACHE_LINE ==
	       offsetof(struct iso_slot, op_ns_max) / ISO_CACHE_LINE,
	       "budget and extremes share the last line");
_Static_assert(offsetof(struct iso_slot, budget_tat) % 8 == 0, "tat aligned");
_Static_assert(sizeof(struct iso_slot) == ISO_SLOT_SIZE, "slot size");
_Static_assert(ISO_SLOT_SIZE % ISO_CACHE_LINE == 0, "slots share no line");

/* ----------------------------------------------------- window region */

/*
 * One account's rolling window [B7], in the optional region: entry s
 * belongs to slot s. The window is ISO_WIN_BUCKETS buckets of
 * window_ms / ISO_WIN_BUCKETS ms; bucket epoch e = now_ms / bucket_ms
 * lives at index e % ISO_WIN_BUCKETS. Every counter word is
 * epoch (32) | count (32) and is judged by its own epoch alone:
 *   - counting is one atomic add to a word whose epoch is current;
 *   - rotation is one CAS of a word with another epoch to (epoch, 1),
 *     word by word, so a process killed between two words leaves each
 *     word whole, never a torn bucket;
 *   - a reader sums the words whose epoch is inside the window.
 * A count wraps into the epoch only after 2^32 outcomes of one account in
 * one bucket (at most 6 minutes): out of reach. Written by every outcome
 * of the account (4 lines, the account's own), read by status and by the
 * outcomes that may trip the breaker (window.c).
 */
#define ISO_WIN_BUCKETS 10
struct iso_shm_window {
	struct iso_shm_wincfg cfg;       /* the account's own (override) */
	uint64_t calls[ISO_WIN_BUCKETS]; /* outcomes, ignored types left out */
	uint64_t fails[ISO_WIN_BUCKETS]; /* failures, ignored types left out */
	uint64_t slow[ISO_WIN_BUCKETS];  /* outcomes of slow_call_ms or more */
};
#define ISO_WINDOW_SIZE 256u
_Static_assert(sizeof(struct iso_shm_window) == ISO_WINDOW_SIZE, "window");
#define ISO_WW_EPOCH(w) ((uint32_t)((w) >> 32))
#define ISO_WW_COUNT(w) ((uint32_t)(w))
#define ISO_WW_MAKE(epoch, count) (((uint64_t)(epoch) << 32) | (uint32_t)(count))

/* ---------------------------------------------------------- event ring */

/*
 * One event. A writer takes ticket t with a fetch-add on ring_head, stores
 * seq = 2t+1, the body, then seq = 2t+2 with release. The body carries a
 * checksum over (t, body) so a reader detects an entry torn by two writers
 * a lap apart, which the seq protocol alone cannot.
 */
struct iso_shm_event {
	uint64_t seq;
	uint64_t time_ms;     /* Unix ms */
	uint64_t slot_gen;    /* slot (32) | gen (32) */
	uint64_t info;        /* pid32 | from8 | to8 | breaker8 | cause4 ftype4 */
	uint64_t check;       /* checksum of ticket and every other field */
	uint64_t uid;         /* uid32 of the process that made it */
	uint64_t text[2];     /* an operator's reason (its first 16 bytes), or
				 a broker's name for broker halts */
};
_Static_assert(sizeof(struct iso_shm_event) == ISO_EVENT_SIZE, "event size");

#endif /* ISO_LAYOUT_H */
