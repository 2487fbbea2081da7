/*
 * chaos_util.h - helpers shared by the reliability suites (chaos, races,
 * stale, badinput, perms): unique segment names, memory shared with forked
 * children, bounded waits for children, and views of /dev/shm and
 * /proc/self/maps.
 *
 * Nothing here calls Criterion: a forked child must never assert through
 * the parent's runner, it reports through shared memory and its exit code.
 */
#ifndef CHAOS_UTIL_H
#define CHAOS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The real clock (never the library's replaceable one) and the PRNG. */
#include "../../tools/common/clock.h"
#include "../../tools/common/prng.h"

/*
 * chaos_segname - a segment name no other test or run uses:
 * "/isoreg-test-<suite>-<pid>-<n>". @buf needs 64 bytes.
 */
void chaos_segname(char *buf, size_t len, const char *suite);

/* chaos_long - true when ISOREG_CHAOS_LONG=1 asks for the long forms. */
bool chaos_long(void);

/* chaos_scale - @short_n normally, @long_n under ISOREG_CHAOS_LONG=1. */
unsigned chaos_scale(unsigned short_n, unsigned long_n);

/* chaos_shared_alloc - zeroed MAP_SHARED|MAP_ANONYMOUS memory, seen by
 * children forked afterwards. Aborts on failure (a test setup bug). */
void *chaos_shared_alloc(size_t len);
void chaos_shared_free(void *p, size_t len);

/* chaos_sleep_us - sleep @us microseconds, restarting on EINTR. */
void chaos_sleep_us(uint64_t us);

/* chaos_seed - a seed from the environment (ISOREG_CHAOS_SEED) or the
 * clock; printed by callers so a failing run can be replayed. */
uint64_t chaos_seed(void);

/*
 * chaos_fork - run @fn(@arg) in a child process, which then _exit()s with
 * its return value (0..255). Returns the child's pid; aborts if fork fails.
 */
pid_t chaos_fork(int (*fn)(void *), void *arg);

/*
 * chaos_wait - wait for @pid at most @timeout_ms. On time-out the child is
 * SIGKILLed and reaped, and -1 is returned. Otherwise returns 0 and the
 * wait status in *@status.
 */
int chaos_wait(pid_t pid, unsigned timeout_ms, int *status);

/* chaos_exit_code - the exit code of a wait status, or 1000 + signal. */
int chaos_exit_code(int status);

/*
 * chaos_shm_read - the bytes of /dev/shm/<name> (@name with its leading
 * '/'), malloc'ed into *@buf. Returns 0 or -errno.
 */
int chaos_shm_read(const char *name, uint8_t **buf, size_t *len);

/*
 * chaos_shm_list - names in /dev/shm that contain @needle, as one
 * malloc'ed string of '\n'-terminated lines (empty if none). *@count gets
 * how many. The caller frees the string.
 */
char *chaos_shm_list(const char *needle, unsigned *count);

/*
 * chaos_maps_find - the permission field ("r--s"), inode and start address
 * of the first line of /proc/self/maps whose path is "/dev/shm<name>".
 * Any output may be NULL. Returns 0, or -1 if no such mapping.
 */
int chaos_maps_find(const char *name, char perms[5], unsigned long *inode,
		    uintptr_t *start);

/*
 * chaos_mem_diff - the first offset where @a and @b (both @len bytes)
 * differ outside [@skip_off, @skip_off + @skip_len), or -1 if none.
 */
long chaos_mem_diff(const uint8_t *a, const uint8_t *b, size_t len,
		    size_t skip_off, size_t skip_len);

#endif /* CHAOS_UTIL_H */
