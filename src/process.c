/*
 * process.c - who a process is, robustly: pid plus its start time from
 * /proc, so a reused pid is never mistaken for the process that died.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

uint32_t iso_self_pid(void)
{
	return (uint32_t)getpid();
}

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
uint64_t iso_proc_start_time(uint32_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': skip past the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* After ')' come fields 3.. ; start time is field 22. */
	for (int field = 2; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (!p)
		return 0;
	uint64_t st = strtoull(p + 1, NULL, 10);
	return st ? st : 1;
}
