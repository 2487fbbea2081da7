/*
 * test_segment.c - creating and attaching [S1][R1][R2][R3]: a segment that
 * is not ours, of another version, truncated, or with indices out of range
 * is refused or survived, never crashed on.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "support/util.h"

static char path[256];

static const char *shm_path(const char *name)
{
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	return path;
}

/* Map the segment's file read-write behind the library's back. */
static void *raw_map(const char *name, size_t *size)
{
	int fd = open(shm_path(name), O_RDWR);
	cr_assert_geq(fd, 0);
	struct stat st;
	fstat(fd, &st);
	*size = (size_t)st.st_size;
	void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static int attach_rw(const char *name, iso_reg_t **r)
{
	struct iso_attach_opts o = { .attach_timeout_ms = 50 };
	return iso_attach(name, &o, r);
}

Test(segment, create_attach_detach_unlink)
{
	const char *name = tu_segment("seg");
	iso_reg_t *a = tu_create(name, 100, NULL), *b = NULL;
	struct stat st;
	cr_assert_eq(stat(shm_path(name), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "default mode 0600 [R3]");
	cr_assert_eq(attach_rw(name, &b), 0);
	iso_account_t x, y;
	cr_assert_eq(iso_register(a, "user", "u", "KRAKEN", &x), 0);
	cr_assert_eq(iso_lookup(b, "user", "u", "KRAKEN", &y), 0,
		     "another attachment sees it");
	cr_assert_eq(x.slot, y.slot);
	struct iso_segment_info si;
	iso_segment_info(b, &si);
	cr_assert_eq(si.capacity, 100);
	cr_assert_eq(si.live, 1);
	iso_detach(a);
	iso_detach(b);
	cr_assert_eq(iso_unlink(name), 0);
	cr_assert_eq(iso_attach(name, NULL, &b), ISO_ENOENT);
	cr_assert(strstr(iso_last_error(), name));
	cr_assert_eq(iso_unlink(name), ISO_ENOENT);
}

Test(segment, group_mode_and_exclusive_creation)
{
	const char *name = tu_segment("mode");
	iso_reg_t *r = NULL;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
				     .mode = 0660, .capacity = 8 };
	iso_unlink(name);
	cr_assert_eq(iso_attach(name, &o, &r), 0);
	struct stat st;
	stat(shm_path(name), &st);
	cr_assert_eq(st.st_mode & 0777, 0660);
	iso_reg_t *r2 = NULL;
	cr_assert_eq(iso_attach(name, &o, &r2), ISO_EEXIST);
	o.flags = ISO_ATTACH_CREATE;
	cr_assert_eq(iso_attach(name, &o, &r2), 0, "create-or-attach attaches");
	iso_detach(r2);
	iso_detach(r);
	iso_unlink(name);
}

Test(segment, bad_names_and_options_are_refused)
{
	iso_reg_t *r = NULL;
	const char *names[] = { "noslash", "/", "/a/b", "/a b" };
	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(iso_attach(names[i], NULL, &r), ISO_EINVAL, "%s", names[i]);
		cr_expect(strstr(iso_last_error(), "segment name"));
	}
	struct iso_attach_opts o = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_RDONLY };
	cr_assert_eq(iso_attach("/x-y", &o, &r), ISO_EINVAL);
	o = (struct iso_attach_opts){ .flags = ISO_ATTACH_CREATE,
				      .capacity = ISO_CAPACITY_MAX + 1 };
	cr_assert_eq(iso_attach("/x-y", &o, &r), ISO_EINVAL);
	cr_assert(strstr(iso_last_error(), "capacity"));
	struct iso_config c;
	iso_config_default(&c);
	c.success_threshold = 0;
	o = (struct iso_attach_opts){ .flags = ISO_ATTACH_CREATE, .defaults = &c };
	cr_assert_eq(iso_attach("/x-y", &o, &r), ISO_EINVAL);
	cr_assert(strstr(iso_last_error(), "success_threshold"));
	cr_assert_eq(iso_attach("/x-y", NULL, NULL), ISO_EINVAL);
}

/* [R1] each header field that matters, damaged in turn. */
Test(segment, damaged_headers_are_refused_with_their_code)
{
	const char *name = tu_segment("hdr");
	struct { size_t off; uint64_t val; int width; int code; const char *says; } rows[] = {
		{ offsetof(struct iso_shm_header, magic), 0x1234, 8, ISO_ECORRUPT, "magic" },
		{ offsetof(struct iso_shm_header, version), 99, 4, ISO_EVERSION, "version" },
		{ offsetof(struct iso_shm_header, version), 0, 4, ISO_EBUSY, "version 0" },
		{ offsetof(struct iso_shm_header, slot_size), 64, 4, ISO_ECORRUPT, "record sizes" },
		{ offsetof(struct iso_shm_header, capacity), 0, 4, ISO_ECORRUPT, "capacity" },
		{ offsetof(struct iso_shm_header, capacity), 1u << 30, 4, ISO_ECORRUPT, "capacity" },
		{ offsetof(struct iso_shm_header, capacity), 2000, 4, ISO_ECORRUPT, "geometry" },
		{ offsetof(struct iso_shm_header, dir_capacity), 7, 4, ISO_ECORRUPT, "geometry" },
		{ offsetof(struct iso_shm_header, ring_off), 1ull << 40, 8, ISO_ECORRUPT, "geometry" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		iso_detach(tu_create(name, 64, NULL));
		size_t size;
		char *p = raw_map(name, &size);
		if (rows[i].width == 8)
			memcpy(p + rows[i].off, &rows[i].val, 8);
		else {
			uint32_t v = (uint32_t)rows[i].val;
			memcpy(p + rows[i].off, &v, 4);
		}
		munmap(p, size);
		iso_reg_t *r = NULL;
		int rc = attach_rw(name, &r);
		cr_expect_eq(rc, rows[i].code, "row %zu: got %s (%s)", i,
			     iso_strerror(rc), iso_last_error());
		cr_expect(strstr(iso_last_error(), rows[i].says),
			  "row %zu: '%s' does not say '%s'", i, iso_last_error(),
			  rows[i].says);
		if (rc == 0)
			iso_detach(r);
	}
	iso_unlink(name);
}

Test(segment, truncated_and_tiny_objects_are_refused)
{
	const char *name = tu_segment("trunc");
	iso_detach(tu_create(name, 64, NULL));
	cr_assert_eq(truncate(shm_path(name), 8192), 0);
	iso_reg_t *r = NULL;
	cr_assert_eq(attach_rw(name, &r), ISO_ECORRUPT);
	cr_assert(strstr(iso_last_error(), "truncated"));
	cr_assert_eq(truncate(shm_path(name), 100), 0);
	cr_assert_eq(attach_rw(name, &r), ISO_ECORRUPT);
	cr_assert_eq(truncate(shm_path(name), 0), 0);
	cr_assert_eq(attach_rw(name, &r), ISO_ECORRUPT);
	iso_unlink(name);
}

/* [R1] indices read from the segment are bounds-checked: a directory
 * entry pointing past the slots, a slot with a garbage state, a breaker
 * word in no legal state — readers survive and doctor reports them. */
Test(segment, out_of_range_indices_are_survived_and_reported)
{
	const char *name = tu_segment("idx");
	iso_reg_t *r = tu_create(name, 64, NULL);
	iso_account_t a, b;
	cr_assert_eq(iso_register(r, "user", "a", "KRAKEN", &a), 0);
	cr_assert_eq(iso_register(r, "user", "b", "KRAKEN", &b), 0);
	size_t size;
	char *p = raw_map(name, &size);
	struct iso_shm_header *h = (struct iso_shm_header *)p;
	iso_dirent_t *dir = (iso_dirent_t *)(p + h->dir_off);
	struct iso_slot *slots = (struct iso_slot *)(p + h->slots_off);
	for (uint32_t i = 0; i < h->dir_capacity; i++)
		if (dir[i].hi == ISO_DE_MAKE(a.gen, a.slot, 0))
			dir[i].hi = ISO_DE_MAKE(a.gen, 1u << 30, 0); /* far past the slots */
	slots[b.slot].breaker.lo |= 3ull << ISO_BW_STATE_SHIFT |
				    1ull << ISO_BW_DEGRADED_SHIFT;
	slots[5].state.lo = ISO_SW_MAKE(1, 0x7f, 0);
	munmap(p, size);

	iso_reg_t *r2 = NULL;
	cr_assert_eq(attach_rw(name, &r2), 0);
	iso_account_t x;
	cr_assert_eq(iso_lookup(r2, "user", "a", "KRAKEN", &x), ISO_ENOENT,
		     "an entry pointing nowhere is never followed");
	struct iso_status st;
	cr_assert_eq(iso_status(&b, &st), ISO_ECORRUPT);
	struct iso_report rep;
	cr_assert_eq(iso_report(r2, &rep), 0);
	struct iso_doctor_report d;
	cr_assert_eq(iso_doctor(r2, 0, &d), 0);
	cr_assert(!d.ok);
	cr_assert_geq(d.dir_bad, 1);
	cr_assert_eq(d.bad_breaker_words, 1);
	cr_assert_eq(d.bad_slots, 1);
	cr_assert_geq(d.cross_account_errors, 1, "violations are counted");
	struct iso_event ev[8];
	uint64_t cur = 0;
	cr_assert_geq(iso_events_read(r2, &cur, ev, 8, NULL), 0);
	iso_detach(r2);
	iso_detach(r);
	iso_unlink(name);
}

/* [R3] a read-only attachment refuses every write, and its mapping is
 * read-only. */
Test(segment, read_only_attachment_refuses_writes)
{
	const char *name = tu_segment("ro");
	iso_reg_t *rw = tu_create(name, 16, NULL), *ro = NULL;
	iso_account_t a, b;
	iso_register(rw, "user", "a", "KRAKEN", &a);
	struct iso_attach_opts o = { .flags = ISO_ATTACH_RDONLY };
	cr_assert_eq(iso_attach(name, &o, &ro), 0);
	cr_assert_eq(iso_lookup(ro, "user", "a", "KRAKEN", &b), 0);
	iso_permit_t p;
	cr_assert_eq(iso_acquire(&b, &p), ISO_ERDONLY);
	cr_assert_eq(iso_record_success(&b, NULL, 0), ISO_ERDONLY);
	cr_assert_eq(iso_record_failure(&b, NULL, ISO_FAIL_API, 0), ISO_ERDONLY);
	cr_assert_eq(iso_reset(&b), ISO_ERDONLY);
	cr_assert_eq(iso_force_open(&b), ISO_ERDONLY);
	cr_assert_eq(iso_retire(&b), ISO_ERDONLY);
	cr_assert_eq(iso_register(ro, "user", "new", "KRAKEN", &b), ISO_ERDONLY);
	cr_assert(strstr(iso_last_error(), "read-only"));
	struct iso_config c;
	iso_config_default(&c);
	cr_assert_eq(iso_configure_default(ro, &c), ISO_ERDONLY);
	struct iso_status st;
	cr_assert_eq(iso_status(&b, &st), 0, "reading works");
	iso_detach(ro);
	iso_detach(rw);
	iso_unlink(name);
}

/* [R2] creation uses no temporary name (O_TMPFILE, linked when whole):
 * files planted beside the name are neither swept nor an obstacle, and
 * never taken for a segment. */
Test(segment, planted_temporary_names_neither_block_nor_are_swept)
{
	const char *name = tu_segment("tmp");
	char tmp[2][300];
	/* What the old creation named its temporaries: a dead pid, a live one. */
	snprintf(tmp[0], sizeof(tmp[0]), "/dev/shm%s.tmp.4194305.0", name);
	snprintf(tmp[1], sizeof(tmp[1]), "/dev/shm%s.tmp.%d.0", name, (int)getpid());
	for (int i = 0; i < 2; i++) {
		int fd = open(tmp[i], O_CREAT | O_RDWR, 0600);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	iso_reg_t *r = NULL;
	cr_assert_eq(attach_rw(name, &r), ISO_ENOENT, "a temp is not a segment");
	iso_detach(tu_create(name, 8, NULL));
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(access(tmp[i], F_OK), 0, "%s was removed", tmp[i]);
		unlink(tmp[i]);
	}
	iso_unlink(name);
}
