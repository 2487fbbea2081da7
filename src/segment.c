/*
 * segment.c - creating, validating, attaching and removing the segment.
 *
 * Creation is atomic [R2]: the segment is built complete in an unnamed
 * object in /dev/shm (O_TMPFILE) and then linked into place, which fails
 * if the name exists; so an attacher sees either no segment or a whole
 * one, and a creator killed at any instruction leaves nothing at all: no
 * temporary name exists that anyone could plant, guess or need to sweep.
 * Attach trusts nothing it reads [R1]: geometry is recomputed from the
 * capacity and must match the header and the object's real size.
 *
 * /dev/shm is world-writable [R7]: anyone can put a file, a FIFO, a
 * directory or a symlink at our name first, or fill the file system. So
 * attach opens without following links and without blocking, and refuses
 * (ISO_EPERM) any object that is not a regular file owned by the uid it
 * trusts, or that grants write to more than the caller's mode intends. A
 * created segment has its pages reserved before its name appears, so no
 * access to it can fault for lack of memory. This file must never map an
 * object it has not checked, nor remove a name it did not make.
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

#include "failpoint.h"
#include "internal.h"

#define SHM_DIR "/dev/shm"
#define RING_MIN 64u
#define RING_MAX 65536u /* the default's cap; ISO_EVENTS_MAX when asked */
#define DIR_MIN 64u

struct geometry {
	uint32_t capacity, dir_capacity, ring_capacity;
	uint64_t dir_off, slots_off, ring_off, total;
};

static uint32_t pow2_at_most(uint64_t v)
{
	uint64_t p = 1;
	while (p * 2 <= v)
		p <<= 1;
	return (uint32_t)p;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* The only place sizes come from: attach recomputes and compares. A ring
 * of @events entries if asked (a power of two), else the default. */
static void geometry_for(uint32_t capacity, uint32_t events, struct geometry *g)
{
	g->capacity = capacity;
	/* [P5] Exactly twice the slots (load at most 1/2; probing wraps with
	 * a compare, not a mask), and a ring of the power of two at or
	 * below capacity/4: rounding up would cost up to 48 bytes per
	 * account at unlucky capacities. */
	g->dir_capacity = 2 * capacity;
	if (g->dir_capacity < DIR_MIN)
		g->dir_capacity = DIR_MIN;
	g->ring_capacity = pow2_at_most(capacity / 4);
	if (g->ring_capacity < RING_MIN)
		g->ring_capacity = RING_MIN;
	if (g->ring_capacity > RING_MAX)
		g->ring_capacity = RING_MAX;
	if (events)
		g->ring_capacity = events;
	g->dir_off = ISO_HEADER_SIZE;
	g->slots_off = align_up(g->dir_off +
				(uint64_t)g->dir_capacity * sizeof(iso_dirent_t),
				ISO_CACHE_LINE);
	g->ring_off = align_up(g->slots_off + (uint64_t)capacity * ISO_SLOT_SIZE,
			       ISO_CACHE_LINE);
	g->total = align_up(g->ring_off +
			    (uint64_t)g->ring_capacity * ISO_EVENT_SIZE, 4096);
}

const char *iso_segment_name(void)
{
	const char *env = getenv("ISOREG_SEGMENT");
	return env && *env ? env : ISO_DEFAULT_SEGMENT;
}

static int check_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 2 || name[0] != '/' || n > 200)
		return iso_fail(ISO_EINVAL, "segment name '%s': must start with "
				"'/' and have 1 to 199 more characters", name);
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '/' || c <= 0x20 || c >= 0x7f)
			return iso_fail(ISO_EINVAL, "segment name '%s': only "
					"printable characters without '/' or "
					"spaces after the leading '/'", name);
	}
	return 0;
}

static int map_reg(iso_reg_t *reg, int fd, uint64_t size, bool rdonly)
{
	void *p = mmap(NULL, size, rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return iso_fail(ISO_ESYS, "mmap of %llu bytes: %s",
				(unsigned long long)size, strerror(errno));
	reg->base = p;
	reg->size = size;
	reg->rdonly = rdonly;
	return 0;
}

static void set_geometry(iso_reg_t *reg, const struct geometry *g,
			 uint32_t cooldown_ms)
{
	char *b = reg->base;
	reg->hdr = (struct iso_shm_header *)b;
	reg->dir = (iso_dirent_t *)(b + g->dir_off);
	reg->slots = (struct iso_slot *)(b + g->slots_off);
	reg->ring = (struct iso_shm_event *)(b + g->ring_off);
	reg->capacity = g->capacity;
	reg->dir_capacity = g->dir_capacity;
	reg->ring_mask = g->ring_capacity - 1;
	reg->cooldown_ms = cooldown_ms;
}

/* Reserve every page of @fd's first @len bytes. A sparse object lets
 * whoever fills /dev/shm turn a later first touch of a page into SIGBUS in
 * every process that maps it [R7]. Returns 0 or an errno value. */
static int reserve_pages(int fd, uint64_t len)
{
	int e;

	do
		e = posix_fallocate(fd, 0, (off_t)len);
	while (e == EINTR); /* tmpfs gives up a long reservation on a signal */
	return e;
}

static int create_segment(iso_reg_t *reg, const char *name,
			  const struct iso_attach_opts *o)
{
	char fd_path[64], path[sizeof(SHM_DIR) + 256];
	struct geometry g;
	struct iso_config def;
	struct stat st;
	uint32_t cap = o->capacity ? o->capacity : ISO_DEFAULT_CAPACITY;
	mode_t mode = o->mode ? o->mode : 0600;
	int fd, rc, e;

	if (o->defaults)
		def = *o->defaults;
	else
		iso_config_default(&def);
	geometry_for(cap, o->events, &g);
	/*
	 * The segment is built in an object with no name at all (O_TMPFILE)
	 * and given its name only when complete: a creator killed at any
	 * instruction leaves nothing behind (the kernel frees the object
	 * with its last descriptor), and nobody else can open, plant, guess
	 * or sweep a temporary name, because there is none.
	 */
	ISO_FP("create.open");
	fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0)
		return iso_fail(errno == EACCES ? ISO_EPERM : ISO_ESYS,
				"creating an unnamed object in " SHM_DIR " for %s: "
				"%s", name, strerror(errno));
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	snprintf(path, sizeof(path), SHM_DIR "%s", name);
	/* The umask must not narrow the mode the operator asked for. */
	ISO_FP("create.size");
	if (fchmod(fd, mode) < 0 || fstat(fd, &st) < 0) {
		rc = iso_fail(ISO_ESYS, "setting mode 0%o on a new segment for "
			      "%s: %s", (unsigned)mode, name, strerror(errno));
		goto fail_fd;
	}
	if ((e = reserve_pages(fd, g.total)) != 0) {
		rc = iso_fail(ISO_ESYS, "reserving %llu bytes for segment %s in "
			      SHM_DIR ": %s%s", (unsigned long long)g.total,
			      name, strerror(e), e == ENOSPC
			      ? " (" SHM_DIR " is full: free space there, or "
				"create with a smaller capacity)" : "");
		goto fail_fd;
	}
	if ((rc = map_reg(reg, fd, g.total, false)))
		goto fail_fd;
	set_geometry(reg, &g, o->retire_cooldown_ms ? o->retire_cooldown_ms
						    : ISO_DEFAULT_RETIRE_COOLDOWN_MS);

	/* posix_fallocate zero-filled everything: slots FREE, directory empty. */
	struct iso_shm_header *h = reg->hdr;
	ISO_FP("create.header");
	h->magic = ISO_MAGIC;
	h->header_size = ISO_HEADER_SIZE;
	h->slot_size = ISO_SLOT_SIZE;
	h->event_size = ISO_EVENT_SIZE;
	h->capacity = g.capacity;
	h->dir_capacity = g.dir_capacity;
	h->ring_capacity = g.ring_capacity;
	h->retire_cooldown_ms = reg->cooldown_ms;
	h->dir_off = g.dir_off;
	h->slots_off = g.slots_off;
	h->ring_off = g.ring_off;
	h->total_size = g.total;
	h->created_unix_ms = (uint64_t)iso_wall_ms();
	h->creator_pid = (uint32_t)getpid();
	iso_config_store_shm(&h->defaults, &def, 0);
	/* release: the version, written last, publishes everything above; an
	 * attacher reads the header only after the move below made the name
	 * visible, so it sees the version and everything before it. */
	ISO_FP("create.version");
	iso_store32_release(&h->version, ISO_LAYOUT_VERSION);

	/* Operators' durable intent goes in before anyone can see it. */
	char state[4096];
	if ((rc = iso_state_path(name, state, sizeof(state))))
		goto fail_map;
	reg->magic = ISO_REG_MAGIC; /* the calls below check it */
	rc = iso_state_apply(reg, state);
	reg->magic = 0;
	if (rc) {
		char why[512]; /* iso_fail writes the buffer it would read */
		snprintf(why, sizeof(why), "%s", iso_last_error());
		rc = iso_fail(rc, "%s not created: its operator state cannot be "
			      "applied: %s", name, why);
		goto fail_map;
	}

	/* Named only now, and only if the name is free. */
	ISO_FP("create.link");
	/* linkat fails if the name exists: never replaces a segment. */
	if (linkat(AT_FDCWD, fd_path, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
		e = errno;
		munmap(reg->base, reg->size);
		reg->base = NULL;
		close(fd);
		if (e == EEXIST)
			return ISO_EEXIST; /* lost the race: attach theirs */
		return iso_fail(e == EACCES ? ISO_EPERM : ISO_ESYS,
				"moving %s into place: %s", path, strerror(e));
	}
	reg->fd = fd;
	reg->dev = st.st_dev;
	reg->ino = st.st_ino;
	return 0;
fail_map:
	munmap(reg->base, reg->size);
	reg->base = NULL;
fail_fd:
	close(fd);
	return rc;
}

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
	geometry_for(h.capacity, h.ring_capacity, &g);
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
	if ((rc = map_reg(reg, fd, g.total, rdonly)))
		return rc;
	set_geometry(reg, &g, h.retire_cooldown_ms);
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
	if ((rc = check_name(name)))
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
	/* The index first: a creator registers the accounts its operators'
	 * state names before the segment is linked into place. */
	if ((rc = iso_index_init(reg))) {
		free(reg);
		return rc;
	}

	uint32_t wait_ms = o.attach_timeout_ms ? o.attach_timeout_ms : 2000;
	uint64_t deadline = iso_now_ms() + wait_ms;
	for (;;) {
		struct stat st;
		int fd = open_trusted(name, rdonly, &o, &st);

		if (fd == ISO_ENOENT) {
			if (create) {
				rc = create_segment(reg, name, &o);
				if (rc != ISO_EEXIST)
					break;
				/* Lost the race: the index may name accounts of
				 * the segment we built and dropped. */
				iso_index_destroy(reg);
				if ((rc = iso_index_init(reg)))
					break;
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
	if ((rc = check_name(name)))
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

int iso_segment_check(iso_reg_t *reg)
{
	char path[sizeof(SHM_DIR) + 256];
	struct iso_shm_header h;
	struct stat st, now;
	ssize_t got;

	if (!iso_reg_ok(reg))
		return iso_fail(ISO_EINVAL, "iso_segment_check: not an "
				"attachment");
	if (fstat(reg->fd, &st) < 0)
		return iso_fail(ISO_ESYS, "fstat of segment %s: %s", reg->name,
				strerror(errno));
	if ((uint64_t)st.st_size < reg->size)
		return iso_fail(ISO_ECORRUPT, "segment %s shrank to %lld bytes "
				"under this attachment, which maps %llu: "
				"reading past its end raises SIGBUS; detach",
				reg->name, (long long)st.st_size,
				(unsigned long long)reg->size);
	/* Through the fd, never the mapping: the object may shrink again
	 * between the fstat above and this read. */
	got = pread(reg->fd, &h, sizeof(h), 0);
	if (got != (ssize_t)sizeof(h))
		return iso_fail(ISO_ECORRUPT, "segment %s: header unreadable "
				"under this attachment (%s)", reg->name,
				got < 0 ? strerror(errno) : "short read");
	if (h.magic != ISO_MAGIC || h.version != ISO_LAYOUT_VERSION ||
	    h.capacity != reg->capacity || h.total_size != reg->size)
		return iso_fail(ISO_ECORRUPT, "segment %s: header overwritten "
				"under this attachment (magic 0x%016llx, version "
				"%u, capacity %u, size %llu; attached as capacity "
				"%u, size %llu)", reg->name,
				(unsigned long long)h.magic, h.version,
				h.capacity, (unsigned long long)h.total_size,
				reg->capacity, (unsigned long long)reg->size);
	snprintf(path, sizeof(path), SHM_DIR "%s", reg->name);
	if (lstat(path, &now) < 0) {
		if (errno == ENOENT)
			return iso_fail(ISO_ESTALE, "segment %s was unlinked: "
					"this attachment is no longer the "
					"segment of that name", reg->name);
		return iso_fail(ISO_ESYS, "stat %s: %s", path, strerror(errno));
	}
	if (now.st_dev != reg->dev || now.st_ino != reg->ino)
		return iso_fail(ISO_ESTALE, "segment %s was replaced: the name "
				"now points to another object", reg->name);
	return 0;
}

int iso_segment_info(iso_reg_t *reg, struct iso_segment_info *info)
{
	if (!iso_reg_ok(reg) || !info)
		return iso_fail(ISO_EINVAL, "iso_segment_info: NULL argument");
	struct iso_shm_header *h = reg->hdr;
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", reg->name);
	info->capacity = reg->capacity;
	uint32_t used = iso_load32_relaxed(&h->next_slot);
	info->used = used > reg->capacity ? reg->capacity : used;
	info->live = iso_live_count(reg);
	info->dir_capacity = reg->dir_capacity;
	info->dir_tombstones = iso_load32_relaxed(&h->dir_tombstones);
	info->ring_capacity = reg->ring_mask + 1;
	info->slot_size = ISO_SLOT_SIZE;
	info->segment_size = reg->size;
	info->bytes_per_account = reg->size / reg->capacity;
	info->generation = iso_load64_relaxed(&h->generation);
	info->retire_cooldown_ms = reg->cooldown_ms;
	info->layout_version = ISO_LAYOUT_VERSION;
	info->read_only = reg->rdonly;
	iso_config_load_shm(&h->defaults, &info->defaults);
	return 0;
}

int iso_configure_default(iso_reg_t *reg, const struct iso_config *cfg)
{
	int rc;
	if (!iso_reg_ok(reg))
		return iso_fail(ISO_EINVAL, "iso_configure_default: not an "
				"attachment");
	if (reg->rdonly)
		return iso_fail(ISO_ERDONLY, "iso_configure_default: segment "
				"%s is attached read-only", reg->name);
	if ((rc = iso_config_validate(cfg)))
		return rc;
	iso_config_store_shm(&reg->hdr->defaults, cfg, 0);
	return 0;
}
