/*
 * scoreboard.c - the sim's own tallies, shared by the parent and its
 * traders through one anonymous MAP_SHARED mapping made before the first
 * fork (so a restarted trader inherits it too).
 *
 * It records what the sim observed (blocks, and blocks of accounts outside
 * the faulted set, kills) independently of the registry under test, so the
 * verdict does not rely on the thing being judged. It holds no lock: each
 * field is one relaxed atomic counter or flag, since a trader may die at any
 * instruction and the parent only reads totals after the traders are gone.
 */
#include <stddef.h>
#include <sys/mman.h>

#include "sim.h"

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static size_t scoreboard_size(const struct sim_plan *plan, size_t *tr_off,
			      size_t *ta_off)
{
	size_t n = align64(sizeof(struct sim_scoreboard));

	*tr_off = n;
	n += align64(plan->nprocs * sizeof(struct sim_trader));
	*ta_off = n;
	n += (size_t)SIM__COUNT * plan->naccounts * sizeof(struct sim_tally);
	return n;
}

/* Returns a zeroed scoreboard for @plan, or NULL (errno set). */
struct sim_scoreboard *sim_scoreboard_map(const struct sim_plan *plan)
{
	size_t tr_off, ta_off, size = scoreboard_size(plan, &tr_off, &ta_off);
	struct sim_scoreboard *sb;
	char *base;

	base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	sb = (struct sim_scoreboard *)base;
	/* Pointers are fine here: the mapping sits at the same address in
	 * every process, since all of them inherit it by fork. */
	sb->traders = (struct sim_trader *)(base + tr_off);
	sb->tallies = (struct sim_tally *)(base + ta_off);
	return sb;
}

void sim_scoreboard_unmap(const struct sim_plan *plan,
			  struct sim_scoreboard *sb)
{
	size_t tr_off, ta_off;

	if (sb)
		munmap(sb, scoreboard_size(plan, &tr_off, &ta_off));
}

/* Returns the tally of account @a during scenario @scenario. */
struct sim_tally *sim_tally(const struct sim_plan *plan,
			    struct sim_scoreboard *sb, int scenario,
			    uint32_t a)
{
	return &sb->tallies[(size_t)scenario * plan->naccounts + a];
}
