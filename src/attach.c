/*
 * attach.c - attaching a segment, and whom to trust [R1] [R7].
 *
 * /dev/shm is world-writable: anyone can put a file, a FIFO, a directory
 * or a symlink at our name first. So attach opens without following links
 * and without blocking, and refuses (ISO_EPERM) any object that is not a
 * regular file owned by the uid it trusts, or that grants write to more
 * than the caller's mode intends. Then it validates the header against
 * the geometry it recomputes, reading with pread (never the mapping, which
 * a shrink could turn into SIGBUS), and maps only what it checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "segment.h"

/* What kind of file @m is, for a refusal. */
static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISLNK(m))
		return "a symbolic link";
	return "not a regular file";
}

/*
 * Trust only our own kind [R7]: a regular file, owned by the uid the caller
 * trusts (its euid, or the owner it names), that grants write to nobody
 * beyond what the caller's mode intends (group write only if @o->mode has
 * it, other write only if @o->mode has it). Root is no exception.
 */
static int check_object(const char *name, const struct stat *st,
			const struct iso_attach_opts *o)
{
	bool named = o->flags & ISO_ATTACH_OWNER;
	uid_t want = named ? o->owner : geteuid();
	unsigned perm = st->st_mode & 07777;
	mode_t allowed = S_IWUSR | (o->mode & (S_IWGRP | S_IWOTH));
	mode_t extra = st->st_mode & (S_IWGRP | S_IWOTH) & ~allowed;

	if (!S_ISREG(st->st_mode))
		return iso_fail(ISO_EPERM, "segment %s is %s (owner uid %u, "
				"mode %04o), not a regular file: refused",
				name, file_kind(st->st_mode),
				(unsigned)st->st_uid, perm);
	if (st->st_uid != want)
		return iso_fail(ISO_EPERM, "segment %s belongs to uid %u (mode "
				"%04o), expected uid %u (%s): refused; to trust "
				"that owner, name it (ISO_ATTACH_OWNER; tools: "
				"--owner or ISOREG_OWNER)", name,
				(unsigned)st->st_uid, perm, (unsigned)want,
				named ? "the owner named" : "this process's "
				"effective uid");
	if (extra)
		return iso_fail(ISO_EPERM, "segment %s (owner uid %u) has mode "
				"%04o: %s may write it, but the mode asked "
				"(%04o) allows %s: refused", name,
				(unsigned)st->st_uid, perm,
				extra & S_IWOTH ? "every user" : "its group",
				(unsigned)(o->mode ? o->mode : 0600),
				allowed & S_IWOTH ? "write by anyone"
				: allowed & S_IWGRP ? "group write, not other"
				: "write by the owner only");
	return 0;
}

/*
 * Open @name's object without following a symbolic link or blocking on a
 * FIFO, then check what it is. Returns the fd with *@st filled, or a
 * negative code: ISO_ENOENT (no message: the caller words it), ISO_EPERM
 * or ISO_ESYS.
 */
static int open_trusted(const char *name, bool rdonly,
			const struct iso_attach_opts *o, struct stat *st)
{
	char path[sizeof(SHM_DIR) + 256];
	int fd, rc, e;

	snprintf(path, sizeof(path), SHM_DIR "%s", name);
	fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW |
		  O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		switch (e) {
		case ENOENT:
			return ISO_ENOENT;
		case EACCES:
			return iso_fail(ISO_EPERM, "segment %s: permission denied "
					"for uid %u (its mode does not let it "
					"%s)", name, (unsigned)geteuid(),
					rdonly ? "read" : "read and write");
		case ELOOP:
			return iso_fail(ISO_EPERM, "segment %s is a symbolic "
					"link: refused (a segment is a regular "
					"file in " SHM_DIR ")", name);
		case EISDIR:
			return iso_fail(ISO_EPERM, "segment %s is a directory: "
					"refused", name);
		case ENXIO:
		case ENODEV:
		case EOPNOTSUPP:
			return iso_fail(ISO_EPERM, "segment %s is a FIFO, socket "
					"or device, not a regular file: refused",
					name);
		default:
			return iso_fail(ISO_ESYS, "open %s: %s", path,
					strerror(e));
		}
	}
	if (fstat(fd, st) < 0) {
		rc = iso_fail(ISO_ESYS, "fstat %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if ((rc = check_object(name, st, o))) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Validate the header of an open, checked segment and map it [R1]. */
static int attach_fd(iso_reg_t *reg, int fd, const struct stat *st,
		     const char *name, bool rdonly)
{
	struct geometry g;
	struct iso_shm_header h;
	ssize_t got;
	int rc;

	if ((uint64_t)st->st_size < ISO_HEADER_SIZE)
		return iso_fail(ISO_ECORRUPT, "segment %s is %lld bytes, smaller "
				"than its %u-byte header", name,
				(long long)st->st_size, ISO_HEADER_SIZE);
	/*
	 * pread, not a mapping: an object that shrinks under us gives a short
	 * read here instead of SIGBUS. The creator stored the version last
	 * with release before the move made the name visible, and our open()
	 * came after that move, so the copy holds a whole header.
	 */
	got = pread(fd, &h, sizeof(h), 0);
	if (got != (ssize_t)sizeof(h))
		return iso_fail(ISO_ECORRUPT, "segment %s: header unreadable "
				"(%s)", name, got < 0 ? strerror(errno)
				: "the object shrank while being read");
	uint32_t version = h.version;

	if (h.magic != ISO_MAGIC)
		return iso_fail(ISO_ECORRUPT, "segment %s: bad magic 0x%016llx "
				"(not an isoreg segment)", name,
				(unsigned long long)h.magic);
	if (version == 0)
		return iso_fail(ISO_EBUSY, "segment %s: header not published "
				"yet (version 0)", name);
	if (version != ISO_LAYOUT_VERSION)
		return iso_fail(ISO_EVERSION, "segment %s: layout version %u, "
				"this library reads %u", name, version,
				ISO_LAYOUT_VERSION);
	if (h.header_size != ISO_HEADER_SIZE || h.slot_size != ISO_SLOT_SIZE ||
	    h.event_size != ISO_EVENT_SIZE)
		return iso_fail(ISO_ECORRUPT, "segment %s: record sizes "
				"header=%u slot=%u event=%u, expected %u/%u/%u",
				name, h.header_size, h.slot_size, h.event_size,
				ISO_HEADER_SIZE, ISO_SLOT_SIZE, ISO_EVENT_SIZE);
	if (h.capacity == 0 || h.capacity > ISO_CAPACITY_MAX)
		return iso_fail(ISO_ECORRUPT, "segment %s: capacity %u out of "
				"range 1..%u", name, h.capacity,
				ISO_CAPACITY_MAX);
	if (h.ring_capacity < RING_MIN || h.ring_capacity > ISO_EVENTS_MAX ||
	    (h.ring_capacity & (h.ring_capacity - 1)))
		return iso_fail(ISO_ECORRUPT, "segment %s: event ring of %u "
				"entries (a power of two from %u to %u)", name,
				h.ring_capacity, RING_MIN, ISO_EVENTS_MAX);
	iso_geometry_for(h.capacity, h.ring_capacity, &g);
	if (h.dir_capacity != g.dir_capacity ||
	    h.ring_capacity != g.ring_capacity || h.dir_off != g.dir_off ||
	    h.slots_off != g.slots_off || h.ring_off != g.ring_off ||
	    h.total_size != g.total)
		return iso_fail(ISO_ECORRUPT, "segment %s: geometry in the "
				"header does not match capacity %u", name,
				h.capacity);
	if ((uint64_t)st->st_size < g.total)
		return iso_fail(ISO_ECORRUPT, "segment %s: object is %lld bytes "
				"but its header needs %llu (truncated)", name,
				(long long)st->st_size,
				(unsigned long long)g.total);
	if ((rc = iso_map_reg(reg, fd, g.total, rdonly)))
		return rc;
	iso_set_geometry(reg, &g, h.retire_cooldown_ms);
	return 0;
}

int iso_attach(const char *name, const struct iso_attach_opts *opts,
	       iso_reg_t **out)
{
	struct iso_attach_opts o = { 0 };
	int rc;

	if (!out)
		return iso_fail(ISO_EINVAL, "iso_attach: reg output is NULL");
	*out = NULL;
	if (opts)
		o = *opts;
	if (!name)
		name = iso_segment_name();
	if ((rc = iso_check_name(name)))
		return rc;
	if (o.flags & ~(ISO_ATTACH_CREATE | ISO_ATTACH_EXCL | ISO_ATTACH_RDONLY |
			ISO_ATTACH_OWNER))
		return iso_fail(ISO_EINVAL, "attach flags 0x%x: unknown bits",
				o.flags);
	bool rdonly = o.flags & ISO_ATTACH_RDONLY;
	bool create = o.flags & ISO_ATTACH_CREATE;
	if (rdonly && create)
		return iso_fail(ISO_EINVAL, "attach: CREATE and RDONLY "
				"together make no sense");
	if ((o.flags & ISO_ATTACH_EXCL) && !create)
		return iso_fail(ISO_EINVAL, "attach: EXCL needs CREATE");
	if (o.capacity > ISO_CAPACITY_MAX)
		return iso_fail(ISO_EINVAL, "capacity %u: at most %u accounts",
				o.capacity, ISO_CAPACITY_MAX);
	if (o.mode & ~0777u)
		return iso_fail(ISO_EINVAL, "mode 0%o: only permission bits",
				(unsigned)o.mode);
	/* What we create must pass our own check: owned by our euid. */
	if (create && (o.flags & ISO_ATTACH_OWNER) && o.owner != geteuid())
		return iso_fail(ISO_EINVAL, "attach: CREATE makes a segment "
				"owned by this process's uid %u, not by the owner "
				"named (uid %u)", (unsigned)geteuid(),
				(unsigned)o.owner);
	if (o.events && (o.events < RING_MIN || o.events > ISO_EVENTS_MAX ||
			 (o.events & (o.events - 1))))
		return iso_fail(ISO_EINVAL, "event ring of %u entries: a power "
				"of two from %u to %u", o.events, RING_MIN,
				ISO_EVENTS_MAX);
	if (o.retire_cooldown_ms > ISO_TIMEOUT_MAX_MS)
		return iso_fail(ISO_EINVAL, "retire cooldown %u ms: at most %u",
				o.retire_cooldown_ms, ISO_TIMEOUT_MAX_MS);
	if (o.defaults && (rc = iso_config_validate(o.defaults)))
		return rc;

	iso_reg_t *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return iso_fail(ISO_ENOMEM, "iso_attach: out of memory");
	snprintf(reg->name, sizeof(reg->name), "%s", name);
	reg->fd = -1;
	reg->pid = iso_self_pid();
	reg->owner_tag = iso_owner_tag();
	reg->uid = (uint32_t)geteuid();

	uint32_t wait_ms = o.attach_timeout_ms ? o.attach_timeout_ms : 2000;
	uint64_t deadline = iso_now_ms() + wait_ms;
	for (;;) {
		struct stat st;
		int fd = open_trusted(name, rdonly, &o, &st);

		if (fd == ISO_ENOENT) {
			if (create) {
				rc = iso_create_segment(reg, name, &o);
				if (rc != ISO_EEXIST)
					break;
				/* Lost the race: the index may name accounts of
				 * the segment we built and dropped. */
				iso_index_destroy(reg);
				if (o.flags & ISO_ATTACH_EXCL) {
					rc = iso_fail(ISO_EEXIST, "segment %s "
						      "already exists", name);
					break;
				}
				continue; /* someone else made it: check it */
			}
			rc = iso_fail(ISO_ENOENT, "segment %s does not exist "
				      "(create it with `isoctl create` or "
				      "ISO_ATTACH_CREATE)", name);
			break;
		}
		if (fd < 0) {
			rc = fd;
			break;
		}
		if (o.flags & ISO_ATTACH_EXCL) {
			close(fd);
			rc = iso_fail(ISO_EEXIST, "segment %s already exists",
				      name);
			break;
		}
		rc = attach_fd(reg, fd, &st, name, rdonly);
		if (rc == 0) {
			/* Kept open: iso_segment_check fstat()s it. */
			reg->fd = fd;
			reg->dev = st.st_dev;
			reg->ino = st.st_ino;
			break;
		}
		close(fd);
		if (rc != ISO_EBUSY || iso_now_ms() >= deadline)
			break;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	/* Sized for the segment now that its capacity is known (index.c). */
	if (rc == 0 && !reg->index)
		rc = iso_index_init(reg);
	if (rc == 0) {
		reg->magic = ISO_REG_MAGIC;
		*out = reg;
		return 0;
	}
	iso_index_destroy(reg);
	if (reg->base)
		munmap(reg->base, reg->size);
	if (reg->fd >= 0)
		close(reg->fd);
	free(reg);
	return rc;
}

int iso_detach(iso_reg_t *reg)
{
	if (!iso_reg_ok(reg))
		return iso_fail(ISO_EINVAL, "iso_detach: not an attachment");
	iso_index_destroy(reg);
	munmap(reg->base, reg->size);
	if (reg->fd >= 0)
		close(reg->fd);
	reg->magic = 0;
	free(reg);
	return 0;
}

int iso_unlink(const char *name)
{
	int rc;
	if (!name)
		name = iso_segment_name();
	if ((rc = iso_check_name(name)))
		return rc;
	if (shm_unlink(name) < 0) {
		if (errno == ENOENT)
			return iso_fail(ISO_ENOENT, "segment %s does not exist",
					name);
		return iso_fail(errno == EACCES ? ISO_EPERM : ISO_ESYS,
				"shm_unlink %s: %s", name, strerror(errno));
	}
	return 0;
}
