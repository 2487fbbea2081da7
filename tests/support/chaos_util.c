/*
 * chaos_util.c - helpers for the reliability suites; see chaos_util.h.
 *
 * Owns nothing in the library's segment: it only names segments, shares
 * plain memory with forked children and reads what the kernel shows.
 */
#include "chaos_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"

void chaos_segname(char *buf, size_t len, const char *suite)
{
	/* Per process, so names stay unique across Criterion's test workers
	 * and across the children a test forks. */
	static uint32_t counter; /* relaxed: only unique numbers are wanted */

	snprintf(buf, len, "/isoreg-test-%s-%d-%u", suite, (int)getpid(),
		 iso_faa32_relaxed(&counter, 1));
}

bool chaos_long(void)
{
	const char *v = getenv("ISOREG_CHAOS_LONG");

	return v && v[0] && strcmp(v, "0") != 0;
}

unsigned chaos_scale(unsigned short_n, unsigned long_n)
{
	return chaos_long() ? long_n : short_n;
}

void *chaos_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	return p;
}

void chaos_shared_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

void chaos_sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t chaos_seed(void)
{
	const char *v = getenv("ISOREG_CHAOS_SEED");

	if (v && v[0])
		return strtoull(v, NULL, 0);
	return tc_mono_ns() ^ ((uint64_t)getpid() << 32);
}

pid_t chaos_fork(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		abort();
	if (pid == 0) {
		/* A child outliving a failed test would spin or write forever
		 * (nobody left to stop it): die with the parent. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(99);
		_exit(fn(arg) & 0xff); /* _exit: no atexit, no Criterion teardown */
	}
	return pid;
}

int chaos_wait(pid_t pid, unsigned timeout_ms, int *status)
{
	uint64_t deadline = tc_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	uint64_t nap = 50;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (tc_mono_ns() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -1;
		}
		chaos_sleep_us(nap);
		if (nap < 5000)
			nap *= 2;
	}
}

int chaos_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return 2000;
}

int chaos_shm_read(const char *name, uint8_t **buf, size_t *len)
{
	char path[512];
	struct stat sb;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*len = (size_t)sb.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	for (size_t off = 0; off < *len;) {
		ssize_t n = pread(fd, *buf + off, *len - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			free(*buf);
			*buf = NULL;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	return err;
}

char *chaos_shm_list(const char *needle, unsigned *count)
{
	DIR *d = opendir("/dev/shm");
	size_t cap = 256, used = 0;
	char *out = calloc(1, cap);
	struct dirent *e;

	*count = 0;
	if (!out)
		abort();
	if (!d)
		return out;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (!strstr(e->d_name, needle))
			continue;
		if (used + n + 2 > cap) {
			while (used + n + 2 > cap)
				cap *= 2;
			out = realloc(out, cap);
			if (!out)
				abort();
		}
		memcpy(out + used, e->d_name, n);
		used += n;
		out[used++] = '\n';
		out[used] = '\0';
		(*count)++;
	}
	closedir(d);
	return out;
}

int chaos_maps_find(const char *name, char perms[5], unsigned long *inode,
		    uintptr_t *start)
{
	char want[512], line[1024];
	FILE *f = fopen("/proc/self/maps", "re");
	int rc = -1;

	if (!f)
		return -1;
	struct stat named;
	bool have_named;

	snprintf(want, sizeof(want), "/dev/shm%s", name);
	have_named = stat(want, &named) == 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, want);
		char *end;

		if (!p) {
			/* A creator maps the object while it has no name yet
			 * (O_TMPFILE): "/dev/shm/#INODE (deleted)" of the same
			 * inode as the name now has counts as ours. */
			unsigned long ino = 0;
			if (!have_named || !strstr(line, "/dev/shm/#") ||
			    sscanf(line, "%*x-%*x %*s %*s %*s %lu", &ino) != 1 ||
			    ino != (unsigned long)named.st_ino)
				continue;
		} else {
			/* The path must be exactly ours: "/dev/shm/x-1" is
			 * not "/x". */
			end = p + strlen(want);
			if (*end != '\n' && *end != '\0' &&
			    strncmp(end, " (deleted)", 10) != 0)
				continue;
		}
		/* "start-end perms offset dev inode path" */
		{
			char pm[5] = "";
			unsigned long ino = 0, lo = 0;

			if (sscanf(line, "%lx-%*x %4s %*s %*s %lu", &lo, pm, &ino) != 3)
				continue;
			if (perms)
				memcpy(perms, pm, 5);
			if (inode)
				*inode = ino;
			if (start)
				*start = (uintptr_t)lo;
		}
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

long chaos_mem_diff(const uint8_t *a, const uint8_t *b, size_t len,
		    size_t skip_off, size_t skip_len)
{
	for (size_t i = 0; i < len; i++) {
		if (i >= skip_off && i < skip_off + skip_len)
			continue;
		if (a[i] != b[i])
			return (long)i;
	}
	return -1;
}
