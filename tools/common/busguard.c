/*
 * busguard.c - the SIGBUS guard every tool reads the mapping under (see
 * busguard.h).
 *
 * Owns the process's SIGBUS handler, installed once. It must never swallow
 * a SIGBUS that no guard expects: that one still kills the process, as it
 * would have without us.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>

#include "busguard.h"

/* The innermost armed guard of this thread, or NULL. initial-exec: the
 * handler must not reach the dynamic TLS allocator. */
static __thread sigjmp_buf *bus_armed __attribute__((tls_model("initial-exec")));
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

/* Back to the armed guard, or die of the signal as if we had no handler. */
static void bus_on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)si;
	(void)uc;
	if (bus_armed)
		siglongjmp(*bus_armed, 1);
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	/* Pending until this handler returns (SIGBUS is blocked in it), then
	 * fatal; a fault re-executed would be fatal the same way. */
	raise(sig);
}

static void bus_install(void)
{
	struct sigaction sa = { .sa_sigaction = bus_on_sigbus,
				.sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int tool_bus_guard(int (*fn)(void *ctx), void *ctx)
{
	sigjmp_buf env;
	sigjmp_buf *volatile prev = bus_armed;
	int rc;

	pthread_once(&bus_once, bus_install);
	/* savemask 1: the jump back also unblocks SIGBUS, which the kernel
	 * blocked on entry to the handler. */
	if (sigsetjmp(env, 1)) {
		bus_armed = prev;
		return TOOL_BUS_FAULT;
	}
	bus_armed = &env;
	rc = fn(ctx);
	bus_armed = prev;
	return rc;
}
