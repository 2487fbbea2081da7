/*
 * segment.c - the segment's geometry, its creation, and the checks of a
 * mapping: iso_segment_check, info, the default config. Attaching (and
 * whom to trust) is attach.c.
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
#include "segment.h"

#define RING_MAX 65536u /* the default's cap; ISO_EVENTS_MAX when asked */
#define DIR_MIN 64u


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
void iso_geometry_for(uint32_t capacity, uint32_t events, bool windows,
		      struct geometry *g)
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
	uint64_t end = g->ring_off + (uint64_t)g->ring_capacity * ISO_EVENT_SIZE;
	/* [P5] the windows are optional: a default segment stays within
	 * 512 B per account; with them, ISO_WINDOW_SIZE more. */
	g->win_off = 0;
	if (windows) {
		g->win_off = align_up(end, ISO_CACHE_LINE);
		end = g->win_off + (uint64_t)capacity * ISO_WINDOW_SIZE;
	}
	g->total = align_up(end, 4096);
}

const char *iso_segment_name(void)
{
	const char *env = getenv("ISOREG_SEGMENT");
	return env && *env ? env : ISO_DEFAULT_SEGMENT;
}

int iso_check_name(const char *name)
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

int iso_map_reg(iso_reg_t *reg, int fd, uint64_t size, bool rdonly)
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

void iso_set_geometry(iso_reg_t *reg, const struct geometry *g,
			 uint32_t cooldown_ms)
{
	char *b = reg->base;
	reg->hdr = (struct iso_shm_header *)b;
	reg->dir = (iso_dirent_t *)(b + g->dir_off);
	reg->slots = (struct iso_slot *)(b + g->slots_off);
	reg->ring = (struct iso_shm_event *)(b + g->ring_off);
	reg->win = g->win_off ? (struct iso_shm_window *)(b + g->win_off) : NULL;
	reg->capacity = g->capacity;
	reg->dir_capacity = g->dir_capacity;
	reg->dir_magic = UINT64_MAX / g->dir_capacity; /* validated >= 64 */
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

/* iso_state_foreach: does any config in the operators' state have a
 * rolling window? */
static int wants_windows(const struct iso_state_entry *e, void *ctx)
{
	if ((e->kind == ISO_STATE_CONFIG || e->kind == ISO_STATE_DEFAULTS) &&
	    e->config.window_ms)
		*(bool *)ctx = true;
	return 0;
}

int iso_create_segment(iso_reg_t *reg, const char *name,
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
	/* [B7] windows that the operators' state asks for make the region
	 * too: a fleet restarted after a reboot must come back even if
	 * its creators do not say --windows. */
	char state[4096];
	bool windows = (o->flags & ISO_ATTACH_WINDOWS) || def.window_ms;
	if ((rc = iso_state_path(name, state, sizeof(state))) ||
	    (!windows && (rc = iso_state_foreach(state, wants_windows,
						 &windows))))
		return rc;
	iso_geometry_for(cap, o->events, windows, &g);
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
	if ((rc = iso_map_reg(reg, fd, g.total, false)))
		goto fail_fd;
	iso_set_geometry(reg, &g, o->retire_cooldown_ms ? o->retire_cooldown_ms
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
	h->win_off = g.win_off;
	h->windows = g.win_off ? 1 : 0;
	h->created_unix_ms = (uint64_t)iso_wall_ms();
	h->creator_pid = (uint32_t)getpid();
	iso_config_store_shm(&h->defaults, &h->defaults_budget,
			     &h->defaults_window, &h->features, &def, 0);
	/* release: the version, written last, publishes everything above; an
	 * attacher reads the header only after the move below made the name
	 * visible, so it sees the version and everything before it. */
	ISO_FP("create.version");
	iso_store32_release(&h->version, ISO_LAYOUT_VERSION);

	/* Operators' durable intent goes in before anyone can see it. */
	/* A creator registers the accounts its operators' state names
	 * before the segment is linked into place: it needs its index. */
	if (!reg->index && (rc = iso_index_init(reg)))
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
	iso_config_load_shm(&h->defaults, &h->defaults_budget,
			    &h->defaults_window, &info->defaults);
	info->windows = reg->win != NULL;
	return 0;
}
