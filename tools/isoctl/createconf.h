/*
 * createconf.h - `isoctl create --config FILE`: a segment's creation
 * settings read from a file (/etc/isoreg/NAME.conf, read by the unit
 * isoreg@NAME.service), and becoming the segment's owner and group before
 * creating it.
 *
 * The format (man isoctl, CREATION FILE): one "key = value" a line, blank
 * lines and lines starting with '#' ignored. Keys: capacity, mode, owner,
 * group, events, cooldown_ms, windows, and every breaker config field of
 * `isoctl config` (passed to the library's own parser). Anything else - an
 * unknown key, a bad value, a key given twice, a control byte, a line over
 * 1024 bytes - refuses the whole file, naming the file, line and key.
 */
#ifndef ISOCTL_CREATECONF_H
#define ISOCTL_CREATECONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CREATECONF_FIELDS_MAX 64

struct createconf {
	bool has_capacity, has_mode, has_events, has_cooldown;
	bool has_owner, has_group, has_windows;
	bool windows;             /* the rolling-window region [B7] */
	uint32_t capacity, events, cooldown_ms;
	unsigned mode;
	uid_t owner;
	gid_t group;
	int nfields;
	char *fields[CREATECONF_FIELDS_MAX]; /* "field=value", malloc'd */
	int field_line[CREATECONF_FIELDS_MAX];
};

/**
 * createconf_read - parse @path into @cc (zeroed first).
 * Returns CLI_EXIT_OK, CLI_EXIT_USAGE after printing "@prog: PATH line N:
 * KEY: what is wrong", or CLI_EXIT_RUNTIME when the file cannot be read.
 */
int createconf_read(const char *prog, const char *path, struct createconf *cc);

/** createconf_free - release what createconf_read allocated. */
void createconf_free(struct createconf *cc);

/**
 * createconf_become - make the process the owner and group @cc names (if
 * any), so that the segment is created as theirs from its first byte: the
 * library creates it as the caller's effective uid and gid. Needs root
 * unless they are the caller's own already.
 * Returns CLI_EXIT_OK, or CLI_EXIT_RUNTIME after saying why not.
 */
int createconf_become(const char *prog, const struct createconf *cc);

#endif
