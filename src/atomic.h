/*
 * atomic.h - the atomic operations isoreg uses on shared memory.
 *
 * ConcurrencyKit's ck_pr does the work in every normal build. ck_pr is inline
 * assembly, which ThreadSanitizer cannot see: under TSan the same operations
 * are spelled with the compiler's __atomic builtins so that TSan checks real
 * orderings instead of reporting false races. The two spellings have the same
 * semantics; each wrapper names the ordering it gives.
 *
 * Statistics counters use relaxed adds: they publish nothing, and readers
 * only need each counter to be read whole.
 */
#ifndef ISO_ATOMIC_H
#define ISO_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SANITIZE_THREAD__)
#define ISO_ATOMIC_BUILTINS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ISO_ATOMIC_BUILTINS 1
#endif
#endif

#ifndef ISO_ATOMIC_BUILTINS
#include <ck_pr.h>
#endif

/* A 16-byte pair changed by one double-width CAS (cmpxchg16b). */
typedef struct iso_pair {
	uint64_t lo;
	uint64_t hi;
} __attribute__((aligned(16))) iso_pair_t;

#ifdef ISO_ATOMIC_BUILTINS

static inline uint64_t iso_load_relaxed(const uint64_t *p)
{ return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline uint64_t iso_load_acquire(const uint64_t *p)
{ return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint32_t iso_load32_relaxed(const uint32_t *p)
{ return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void iso_store_relaxed(uint64_t *p, uint64_t v)
{ __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void iso_store_release(uint64_t *p, uint64_t v)
{ __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void iso_store32_relaxed(uint32_t *p, uint32_t v)
{ __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void iso_add_relaxed(uint64_t *p, uint64_t v)
{ __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline uint64_t iso_faa(uint64_t *p, uint64_t v)
{ return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline uint32_t iso_faa32(uint32_t *p, uint32_t v)
{ return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline void iso_dec32(uint32_t *p)
{ __atomic_fetch_sub(p, 1, __ATOMIC_SEQ_CST); }
/* Full barrier on success and failure; *old gets the value seen. */
static inline bool iso_cas(uint64_t *p, uint64_t *old, uint64_t nv)
{
	return __atomic_compare_exchange_n(p, old, nv, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}
static inline bool iso_cas_pair(iso_pair_t *p, iso_pair_t *old, iso_pair_t nv)
{
	unsigned __int128 o, n;
	__builtin_memcpy(&o, old, 16);
	__builtin_memcpy(&n, &nv, 16);
	bool ok = __atomic_compare_exchange_n((unsigned __int128 *)p, &o, n,
					      false, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST);
	__builtin_memcpy(old, &o, 16);
	return ok;
}
/*
 * TSan does not model standalone fences (gcc refuses them under -Werror).
 * Every access these fences order is itself atomic, so without them TSan
 * still sees no data race; the orderings are checked in the ck_pr build.
 */
static inline void iso_fence_acquire(void) { __asm__ __volatile__("" ::: "memory"); }
static inline void iso_fence_release(void) { __asm__ __volatile__("" ::: "memory"); }

#else /* ck_pr */

static inline uint64_t iso_load_relaxed(const uint64_t *p)
{ return ck_pr_load_64(p); }
/* ck_pr_load is a plain load; the load fence after it orders later loads. */
static inline uint64_t iso_load_acquire(const uint64_t *p)
{ uint64_t v = ck_pr_load_64(p); ck_pr_fence_acquire(); return v; }
static inline uint32_t iso_load32_relaxed(const uint32_t *p)
{ return ck_pr_load_32(p); }
static inline void iso_store_relaxed(uint64_t *p, uint64_t v)
{ ck_pr_store_64(p, v); }
/* The release fence orders every earlier store before this one. */
static inline void iso_store_release(uint64_t *p, uint64_t v)
{ ck_pr_fence_release(); ck_pr_store_64(p, v); }
static inline void iso_store32_relaxed(uint32_t *p, uint32_t v)
{ ck_pr_store_32(p, v); }
static inline void iso_add_relaxed(uint64_t *p, uint64_t v)
{ ck_pr_add_64(p, v); }
static inline uint64_t iso_faa(uint64_t *p, uint64_t v)
{ return ck_pr_faa_64(p, v); }
static inline uint32_t iso_faa32(uint32_t *p, uint32_t v)
{ return ck_pr_faa_32(p, v); }
static inline void iso_dec32(uint32_t *p)
{ ck_pr_dec_32(p); }
/* lock cmpxchg: a full barrier on success and failure. */
static inline bool iso_cas(uint64_t *p, uint64_t *old, uint64_t nv)
{ return ck_pr_cas_64_value(p, *old, nv, old); }
static inline bool iso_cas_pair(iso_pair_t *p, iso_pair_t *old, iso_pair_t nv)
{
	uint64_t cmp[2] = { old->lo, old->hi }, set[2] = { nv.lo, nv.hi }, v[2];
	bool ok = ck_pr_cas_64_2_value((uint64_t *)p, cmp, set, v);
	old->lo = v[0];
	old->hi = v[1];
	return ok;
}
static inline void iso_fence_acquire(void) { ck_pr_fence_acquire(); }
static inline void iso_fence_release(void) { ck_pr_fence_release(); }

#endif

/*
 * iso_load_pair - a consistent read of a pair that only changes by
 * iso_cas_pair and whose hi word carries a sequence that every CAS moves.
 * Works on read-only mappings (cmpxchg16b would fault there). Lock-free: it
 * retries only when some CAS completed in between.
 */
static inline iso_pair_t iso_load_pair(const iso_pair_t *p)
{
	iso_pair_t v;
	uint64_t hi2;
	do {
		/* acquire: the lo load below is not hoisted above this one;
		 * pairs with the full barrier of the CAS that wrote hi. */
		v.hi = iso_load_acquire(&p->hi);
		v.lo = iso_load_acquire(&p->lo);
		hi2 = iso_load_relaxed(&p->hi);
	} while (hi2 != v.hi);
	return v;
}

#endif /* ISO_ATOMIC_H */
