/*
 * atomic.h - the one vocabulary for every access to shared memory.
 *
 * Each name carries its width and its C11 ordering: iso_load64_acquire,
 * iso_store8_release, iso_cas128_acq_rel. Nothing outside this file spells
 * an atomic builtin or a ck_pr call (tools/scripts/atomics.py checks every
 * .c and .h of the tree in make test); a reader can check
 * every ordering by grepping for these names, and every call site says in
 * a comment which access it pairs with.
 *
 * Two spellings, one program:
 *  - normal builds use ConcurrencyKit. ck_pr loads, stores and RMWs carry
 *    no ordering of their own on weakly ordered CPUs (aarch64's CAS is a
 *    plain ldxr/stxr loop), so each ordering is made explicit with ck's
 *    fences: acquire = access, then ck_pr_fence_acquire; release =
 *    ck_pr_fence_release, then access. In the C11 model a relaxed access
 *    followed (preceded) by an acquire (release) fence synchronizes like an
 *    acquire (release) access. On x86 the fences compile to nothing, as
 *    TSO already gives these orderings.
 *  - ThreadSanitizer builds use the compiler's __atomic builtins with the
 *    *same* orderings, so TSan checks the program that ships. TSan does not
 *    model standalone fences, so this vocabulary offers none: every
 *    ordering is attached to an access.
 *
 * 128-bit pairs: a pair is changed only by iso_cas128_*. When that CAS
 * fails, the value it hands back may be torn on aarch64 (read by LDXP
 * without a confirming STXP): callers use it only as the next guess for
 * another CAS, never to decide anything; decisions use iso_read128_acq_rel
 * or a seq/version-checked read. Its halves may be
 * loaded alone (64-bit loads of an aligned half of a 16-byte atomic are
 * single-copy atomic on x86-64 with cmpxchg16b and on aarch64). Mixed-size
 * access is outside ISO C11; it is the one place we rely on the hardware
 * model, and the pair protocols below never need the halves to agree
 * without a re-check.
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

/* A 16-byte pair changed by one double-width CAS. */
typedef struct iso_pair {
	uint64_t lo;
	uint64_t hi;
} __attribute__((aligned(16))) iso_pair_t;

#ifdef ISO_ATOMIC_BUILTINS

#define ISO__LD(p, o) __atomic_load_n((p), o)
#define ISO__ST(p, v, o) __atomic_store_n((p), (v), o)

static inline uint64_t iso_load64_relaxed(const uint64_t *p) { return ISO__LD(p, __ATOMIC_RELAXED); }
static inline uint64_t iso_load64_acquire(const uint64_t *p) { return ISO__LD(p, __ATOMIC_ACQUIRE); }
static inline uint32_t iso_load32_relaxed(const uint32_t *p) { return ISO__LD(p, __ATOMIC_RELAXED); }
static inline uint32_t iso_load32_acquire(const uint32_t *p) { return ISO__LD(p, __ATOMIC_ACQUIRE); }
static inline uint8_t iso_load8_relaxed(const uint8_t *p) { return ISO__LD(p, __ATOMIC_RELAXED); }
static inline uint8_t iso_load8_acquire(const uint8_t *p) { return ISO__LD(p, __ATOMIC_ACQUIRE); }
static inline void iso_store64_relaxed(uint64_t *p, uint64_t v) { ISO__ST(p, v, __ATOMIC_RELAXED); }
static inline void iso_store64_release(uint64_t *p, uint64_t v) { ISO__ST(p, v, __ATOMIC_RELEASE); }
static inline void iso_store32_relaxed(uint32_t *p, uint32_t v) { ISO__ST(p, v, __ATOMIC_RELAXED); }
static inline void iso_store32_release(uint32_t *p, uint32_t v) { ISO__ST(p, v, __ATOMIC_RELEASE); }
static inline void iso_store8_relaxed(uint8_t *p, uint8_t v) { ISO__ST(p, v, __ATOMIC_RELAXED); }
static inline void iso_store8_release(uint8_t *p, uint8_t v) { ISO__ST(p, v, __ATOMIC_RELEASE); }
static inline void iso_add64_relaxed(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline void iso_add64_acquire(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_ACQUIRE); }
static inline uint64_t iso_faa64_relaxed(uint64_t *p, uint64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline uint64_t iso_faa64_release(uint64_t *p, uint64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_RELEASE); }
static inline uint32_t iso_faa32_relaxed(uint32_t *p, uint32_t v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
/* A count others wait on ("n are ready"): a reader that acquire-loads the
 * total sees what every adder did before its add (later adds continue each
 * earlier adder's release sequence). */
static inline void iso_add32_release(uint32_t *p, uint32_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELEASE); }
/* An arrival that both takes (acquire) what earlier arrivers published and
 * publishes (release) its own: the last of a barrier's arrivers. */
static inline uint32_t iso_faa32_acq_rel(uint32_t *p, uint32_t v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
static inline void iso_sub32_relaxed(uint32_t *p, uint32_t v) { __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
static inline void iso_or32_relaxed(uint32_t *p, uint32_t v) { __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }
static inline bool iso_cas64_acq_rel(uint64_t *p, uint64_t *old, uint64_t nv)
{
	return __atomic_compare_exchange_n(p, old, nv, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}
static inline bool iso_cas128_acq_rel(iso_pair_t *p, iso_pair_t *old, iso_pair_t nv)
{
	unsigned __int128 o, n;
	__builtin_memcpy(&o, old, 16);
	__builtin_memcpy(&n, &nv, 16);
	bool ok = __atomic_compare_exchange_n((unsigned __int128 *)p, &o, n,
					      false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE);
	__builtin_memcpy(old, &o, 16);
	return ok;
}

#else /* ck_pr, with the ordering made explicit by ck's fences */

static inline uint64_t iso_load64_relaxed(const uint64_t *p) { return ck_pr_load_64(p); }
static inline uint64_t iso_load64_acquire(const uint64_t *p)
{ uint64_t v = ck_pr_load_64(p); ck_pr_fence_acquire(); return v; }
static inline uint32_t iso_load32_relaxed(const uint32_t *p) { return ck_pr_load_32(p); }
static inline uint32_t iso_load32_acquire(const uint32_t *p)
{ uint32_t v = ck_pr_load_32(p); ck_pr_fence_acquire(); return v; }
static inline uint8_t iso_load8_relaxed(const uint8_t *p) { return ck_pr_load_8(p); }
static inline uint8_t iso_load8_acquire(const uint8_t *p)
{ uint8_t v = ck_pr_load_8(p); ck_pr_fence_acquire(); return v; }
static inline void iso_store64_relaxed(uint64_t *p, uint64_t v) { ck_pr_store_64(p, v); }
static inline void iso_store64_release(uint64_t *p, uint64_t v)
{ ck_pr_fence_release(); ck_pr_store_64(p, v); }
static inline void iso_store32_relaxed(uint32_t *p, uint32_t v) { ck_pr_store_32(p, v); }
static inline void iso_store32_release(uint32_t *p, uint32_t v)
{ ck_pr_fence_release(); ck_pr_store_32(p, v); }
static inline void iso_store8_relaxed(uint8_t *p, uint8_t v) { ck_pr_store_8(p, v); }
static inline void iso_store8_release(uint8_t *p, uint8_t v)
{ ck_pr_fence_release(); ck_pr_store_8(p, v); }
static inline void iso_add64_relaxed(uint64_t *p, uint64_t v) { ck_pr_add_64(p, v); }
static inline void iso_add64_acquire(uint64_t *p, uint64_t v)
{ ck_pr_add_64(p, v); ck_pr_fence_acquire(); }
static inline uint64_t iso_faa64_relaxed(uint64_t *p, uint64_t v) { return ck_pr_faa_64(p, v); }
static inline uint64_t iso_faa64_release(uint64_t *p, uint64_t v)
{ ck_pr_fence_release(); return ck_pr_faa_64(p, v); }
static inline uint32_t iso_faa32_relaxed(uint32_t *p, uint32_t v) { return ck_pr_faa_32(p, v); }
/* Release fence, then the add: as the fence-and-access pairs above. */
static inline void iso_add32_release(uint32_t *p, uint32_t v)
{ ck_pr_fence_release(); ck_pr_add_32(p, v); }
/* Both fences around a relaxed RMW, as iso_cas64_acq_rel below. */
static inline uint32_t iso_faa32_acq_rel(uint32_t *p, uint32_t v)
{ ck_pr_fence_release(); uint32_t o = ck_pr_faa_32(p, v); ck_pr_fence_acquire(); return o; }
static inline void iso_sub32_relaxed(uint32_t *p, uint32_t v) { ck_pr_sub_32(p, v); }
static inline void iso_or32_relaxed(uint32_t *p, uint32_t v) { ck_pr_or_32(p, v); }
static inline bool iso_cas64_acq_rel(uint64_t *p, uint64_t *old, uint64_t nv)
{
	ck_pr_fence_release();
	bool ok = ck_pr_cas_64_value(p, *old, nv, old);
	ck_pr_fence_acquire();
	return ok;
}
static inline bool iso_cas128_acq_rel(iso_pair_t *p, iso_pair_t *old, iso_pair_t nv)
{
	uint64_t cmp[2] = { old->lo, old->hi }, set[2] = { nv.lo, nv.hi }, v[2];
	ck_pr_fence_release();
	bool ok = ck_pr_cas_64_2_value((uint64_t *)p, cmp, set, v);
	ck_pr_fence_acquire();
	old->lo = v[0];
	old->hi = v[1];
	return ok;
}

#endif

/*
 * iso_read128_acq_rel - an exact read of a pair, for writers only: a CAS
 * that installs the value it expects, repeated until it succeeds. Only a
 * successful CAS vouches for the value: on aarch64 the pair a failed
 * compare hands back was read by LDXP with no STXP to confirm it, and may
 * be torn. Needs a writable mapping. Lock-free: it retries only when a
 * writer changed the pair.
 */
static inline iso_pair_t iso_read128_acq_rel(iso_pair_t *p)
{
	/* A good first guess: the two halves as they are now. */
	iso_pair_t v = { iso_load64_relaxed(&p->lo), iso_load64_relaxed(&p->hi) };
	while (!iso_cas128_acq_rel(p, &v, v))
		;
	return v;
}

#endif /* ISO_ATOMIC_H */
