/*
 * process.c - who a process is, robustly: pid plus its start time from
 * /proc, so a reused pid is never mistaken for the process that died, plus
 * its pid namespace, so processes in two containers sharing /dev/shm never
 * judge each other by pids that mean something else where they look.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

uint32_t iso_self_pid(void)
{
	return (uint32_t)getpid();
}

/*
 * Fields 3 (state) and 22 (start time, clock ticks since boot) of
 * /proc/PID/stat. Returns the start time (never 0 for a process that
 * exists), or 0 if there is no such process or /proc cannot tell.
 */
static uint64_t proc_stat(uint32_t pid, char *state)
{
	char path[64], buf[1024];
	/* The directory first, then "stat" relative to it: the kernel's file
	 * even under qemu-user, which answers an open of the emulated
	 * process's own /proc/PID/stat with a made-up start time. */
	snprintf(path, sizeof(path), "/proc/%u", pid);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	int fd = openat(dfd, "stat", O_RDONLY | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': skip past the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	*state = p[2];
	p++;
	/* p is at the space before field 3; each step moves it to the space
	 * before the next field: 19 steps reach the one before field 22.
	 * (Until this was counted, the loop made 20 and read field 23, the
	 * virtual memory size, which changes as a process allocates: a live
	 * registrant could be judged dead.) */
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	uint64_t st = strtoull(p + 1, NULL, 10);
	return st ? st : 1;
}

uint64_t iso_proc_start_time(uint32_t pid)
{
	char state;
	return proc_stat(pid, &state);
}

/* The inode of our pid namespace, or 0 if /proc does not say. */
static uint32_t self_pidns(void)
{
	struct stat st;
	if (stat("/proc/self/ns/pid", &st) < 0)
		return 0;
	return (uint32_t)st.st_ino;
}

uint64_t iso_owner_tag(void)
{
	uint64_t start = iso_proc_start_time(iso_self_pid());
	uint64_t tag = ((uint64_t)self_pidns() << 32) | (start & 0xffffffffull);
	return tag ? tag : 1; /* 0 would read as "no owner" */
}

enum iso_owner iso_owner_judge(uint32_t pid, uint64_t tag)
{
	if (pid == 0)
		return ISO_OWNER_DEAD;
	uint32_t ns = (uint32_t)(tag >> 32), start32 = (uint32_t)tag;
	/* Another pid namespace: the pid means nothing here. Only a doctor
	 * in the owner's namespace may judge it. */
	if (ns && ns != self_pidns())
		return ISO_OWNER_FOREIGN;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return ISO_OWNER_DEAD;
	char state = 0;
	uint64_t now_start = proc_stat(pid, &state);
	if (!now_start)
		return ISO_OWNER_ALIVE; /* it exists but /proc hides it */
	if (state == 'Z' || state == 'X')
		return ISO_OWNER_DEAD; /* killed, not yet reaped */
	/* A different start time is a reused pid. start32 == 0 means the
	 * owner's own /proc read failed: then the pid decides. Start times
	 * are compared in 32 bits: a reused pid whose start is a multiple of
	 * 2^32 ticks (497 days at 100 Hz) later is judged alive, which only
	 * keeps a slot reserved until that process ends. */
	if (start32 && (uint32_t)now_start != start32)
		return ISO_OWNER_DEAD;
	return ISO_OWNER_ALIVE;
}
