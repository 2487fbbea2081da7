/*
 * users.c - which processes have a segment mapped: for `isoctl unlink`,
 * which must not pull a segment from under traders without saying so
 * (SPEC §6). Read from /proc/PID/maps by device and inode, so it finds
 * mappings whatever path they show (a creator's unnamed object shows as
 * "/dev/shm/#INODE (deleted)"). Processes whose maps this process may not
 * read (another uid, without privilege) are counted as unknown.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

/* Does /proc/@pid/maps map (dev, ino)? 1 yes, 0 no, -1 unreadable. */
static int maps_has(const char *pid, dev_t dev, ino_t ino)
{
	char path[300], line[1024];
	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long i;
		if (sscanf(line, "%*x-%*x %*s %*s %x:%x %llu", &maj, &min, &i) == 3 &&
		    i == (unsigned long long)ino && makedev(maj, min) == dev)
			found = 1;
	}
	fclose(f);
	return found;
}

int iso_segment_users(const char *name, struct iso_user *out, int max,
		      int *unknown)
{
	char path[300];
	struct stat st;
	int n = 0, unk = 0;
	if (!name || (max > 0 && !out) || max < 0)
		return iso_fail(ISO_EINVAL, "iso_segment_users: bad argument");
	if (name[0] != '/' || strchr(name + 1, '/'))
		return iso_fail(ISO_EINVAL, "segment name '%s': must be /NAME", name);
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	if (lstat(path, &st) < 0)
		return iso_fail(errno == ENOENT ? ISO_ENOENT : ISO_ESYS,
				"segment %s: %s", name, strerror(errno));
	DIR *d = opendir("/proc");
	if (!d)
		return iso_fail(ISO_ESYS, "reading /proc: %s", strerror(errno));
	pid_t self = getpid();
	for (struct dirent *de; (de = readdir(d));) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		long pid = strtol(de->d_name, NULL, 10);
		if (pid == self)
			continue;
		int r = maps_has(de->d_name, st.st_dev, st.st_ino);
		if (r < 0) {
			unk++;
			continue;
		}
		if (!r)
			continue;
		if (n < max) {
			char cpath[64];
			out[n].pid = (uint32_t)pid;
			out[n].comm[0] = '\0';
			snprintf(cpath, sizeof(cpath), "/proc/%ld/comm", pid);
			FILE *f = fopen(cpath, "re");
			if (f) {
				if (fgets(out[n].comm, sizeof(out[n].comm), f))
					out[n].comm[strcspn(out[n].comm, "\n")] = '\0';
				fclose(f);
			}
			/* The name is the process's to choose: printable only. */
			for (char *c = out[n].comm; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					*c = '?';
		}
		n++;
	}
	closedir(d);
	if (unknown)
		*unknown = unk;
	return n;
}
