/*
 * workers.c - shared memory, the spin start barrier, forking and pinning.
 *
 * The barrier is two words in MAP_SHARED memory changed by atomics: no
 * pthread barrier, because a process-shared pthread object left by a
 * killed worker could hang the harness, and because a spin release starts
 * every worker within a cache-line transfer of each other.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "bench.h"

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

void *bench_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		bench_die("mmap %zu shared bytes: %s", size, strerror(errno));
	return p; /* anonymous mappings are zero-filled */
}

void bench_shared_free(void *p, size_t size)
{
	munmap(p, size);
}

void bench_barrier_init(struct bench_barrier *b, uint32_t count)
{
	b->count = count;
	iso_store32_relaxed(&b->arrived, 0);
	/* release: count and arrived are set before anyone reads phase. */
	iso_store32_release(&b->phase, 0);
}

void bench_barrier_wait(struct bench_barrier *b)
{
	/* acquire: pairs with the last arriver's release of the next phase. */
	uint32_t phase = iso_load32_acquire(&b->phase);
	/* acq_rel: each arriver publishes what it did before the barrier
	 * (release); the last one takes all of it (acquire, through the
	 * release sequence on arrived) and passes it on with phase. */
	uint32_t n = iso_faa32_acq_rel(&b->arrived, 1) + 1;
	if (n == b->count) {
		/* Everyone is in: rearm, then open. Nobody touches arrived
		 * again until phase moves, so a relaxed store is enough. */
		iso_store32_relaxed(&b->arrived, 0);
		iso_store32_release(&b->phase, phase + 1);
		return;
	}
	unsigned spins = 0;
	while (iso_load32_acquire(&b->phase) == phase) {
		bench_pause();
		/* More workers than cores: let the missing ones run. */
		if (++spins % 1024 == 0)
			sched_yield();
	}
}

pid_t bench_fork(int (*fn)(void *arg, int idx), void *arg, int idx)
{
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Workers spin until the driver says stop: if the driver
		 * dies first, take them with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		_exit(fn(arg, idx));
	}
	return pid;
}

int bench_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench: waitpid %d: %s\n", (int)pid,
				strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		fprintf(stderr, "bench: worker %d exited %d\n", (int)pid,
			WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		fprintf(stderr, "bench: worker %d killed by signal %d\n",
			(int)pid, WTERMSIG(st));
	return -1;
}

int bench_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

bool bench_pin(int cpu)
{
	if (cpu < 0 || cpu >= bench_ncpus())
		return false;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

void bench_unpin(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int i = 0; i < bench_ncpus() && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static char cleanup_name[128];

/* Remove the segment, then die of the signal as if it had not been caught. */
static void cleanup_and_die(int sig)
{
	if (cleanup_name[0])
		shm_unlink(cleanup_name);
	signal(sig, SIG_DFL);
	raise(sig);
}

void bench_segment_name(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "/isoreg-bench-%s-%d", what, (int)getpid());
	snprintf(cleanup_name, sizeof(cleanup_name), "%s", buf);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cleanup_and_die;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}
