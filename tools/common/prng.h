/*
 * prng.h - the one pseudo-random generator of isoreg's tools, tests and
 * benches: splitmix64 (Steele, Lea and Flood), seedable, any seed
 * including 0 is fine, and each state gives the same sequence on every
 * machine, so a seeded run can be replayed. Not for secrets.
 */
#ifndef ISO_TOOLS_PRNG_H
#define ISO_TOOLS_PRNG_H

#include <stdint.h>

/** tc_rand - the next 64 random bits from *@state (which it advances). */
static inline uint64_t tc_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif /* ISO_TOOLS_PRNG_H */
