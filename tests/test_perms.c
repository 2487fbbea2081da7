/*
 * test_perms.c - the segment lets in exactly who its mode says, and a
 * read-only attachment cannot write, not even by a stray store [R3].
 *
 * The uid checks fork a child that drops to nobody (65534) with
 * setresgid/setresuid; they need root and are skipped otherwise. The
 * mapping checks find the library's own mapping in /proc/self/maps.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/chaos_util.h"
#include "isoreg.h"

#define NOBODY 65534

static char seg[64];

/* Verdict of the last child, for messages. */
static int v;

/* The creator's uid: nobody trusts it by name (ISO_ATTACH_OWNER), so that
 * what these tests see is the kernel applying the mode [R3]. */
static uid_t creator;

static void fini_seg(void)
{
	iso_unlink(seg);
}

/* Create @seg with @mode under @mask, and check the object's real mode. */
static iso_reg_t *create_with_mode(mode_t mode, mode_t mask)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 8, .mode = mode };
	char path[128];
	struct stat sb;
	iso_reg_t *reg;
	iso_account_t h;
	mode_t old = umask(mask);

	chaos_segname(seg, sizeof(seg), "perms");
	creator = geteuid();
	cr_assert_eq(iso_attach(seg, &opts, &reg), 0, "%s", iso_last_error());
	umask(old);
	cr_assert_eq(iso_register(reg, "user", "owner", "KRAKEN", &h), 0);
	cr_assert_eq(iso_record_success(&h, NULL, 0), 0);
	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 07777, mode ? mode : 0600,
		     "asked 0%o (umask 0%o), got 0%o", mode, mask,
		     sb.st_mode & 07777);
	cr_expect_eq(sb.st_uid, geteuid());
	return reg;
}

struct as_user {
	gid_t group;  /* supplementary group, or (gid_t)-1 for none */
	uint32_t flags;
	mode_t mode;  /* the mode the attacher expects [R7] */
};


enum { U_OK = 0, U_EPERM = 10, U_DROP = 20, U_OTHER = 30, U_WRITE = 40 };

/* In a child: become nobody, then attach @seg. Exit code = verdict. */
static int attach_as_nobody(void *p)
{
	const struct as_user *u = p;
	struct iso_attach_opts opts = { .flags = u->flags, .mode = u->mode };
	iso_reg_t *reg;
	iso_account_t h;
	struct iso_status st;
	int rc;

	if (u->group != (gid_t)-1 ? setgroups(1, &u->group) : setgroups(0, NULL))
		return U_DROP;
	if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
		return U_DROP;
	if (geteuid() != NOBODY)
		return U_DROP;
	/* CREATE makes our own segment, so it cannot trust another owner. */
	if (!(u->flags & ISO_ATTACH_CREATE)) {
		opts.flags |= ISO_ATTACH_OWNER;
		opts.owner = creator;
	}
	rc = iso_attach(seg, &opts, &reg);
	if (rc == ISO_EPERM)
		return iso_last_error()[0] ? U_EPERM : U_OTHER + 1;
	if (rc)
		return U_OTHER + 2;
	if (iso_lookup(reg, "user", "owner", "KRAKEN", &h) || iso_status(&h, &st) ||
	    st.successes < 1)
		return U_OTHER + 3;
	if (!(u->flags & ISO_ATTACH_RDONLY)) {
		if (iso_record_success(&h, NULL, 0) ||
		    iso_register(reg, "user", "guest", "KRAKEN", &h))
			return U_WRITE;
	}
	iso_detach(reg);
	return U_OK;
}

static int run_as_nobody(gid_t group, uint32_t flags, mode_t mode)
{
	struct as_user u = { group, flags, mode };
	int status;
	pid_t pid = chaos_fork(attach_as_nobody, &u);

	cr_assert_eq(chaos_wait(pid, 10000, &status), 0, "child hung");
	return chaos_exit_code(status);
}

/* SPEC [R3]: default mode 0600; another uid is refused with ISO_EPERM. */
Test(perms, default_0600_segment_refuses_another_uid, .fini = fini_seg)
{
	iso_reg_t *reg = create_with_mode(0, 022);

	if (geteuid() != 0) {
		iso_detach(reg);
		cr_skip_test("needs root to switch to uid %d", NOBODY);
	}
	v = run_as_nobody((gid_t)-1, 0, 0);
	cr_expect_eq(v, U_EPERM, "read-write attach: verdict %d", v);
	v = run_as_nobody((gid_t)-1, ISO_ATTACH_RDONLY, 0);
	cr_expect_eq(v, U_EPERM, "read-only attach: verdict %d", v);
	v = run_as_nobody((gid_t)-1, ISO_ATTACH_CREATE, 0);
	cr_expect_eq(v, U_EPERM, "create-or-attach of an existing segment: verdict %d", v);
	/* Even a member of the owner's group: 0600 gives groups nothing. */
	v = run_as_nobody(getegid(), 0, 0);
	cr_expect_eq(v, U_EPERM, "group member: verdict %d", v);
	iso_detach(reg);
}

/* SPEC [R3]: a group mode (0660, even under umask 077) admits a member of
 * the segment's group read-write, and nobody else. */
Test(perms, group_mode_0660_admits_group_members_only, .fini = fini_seg)
{
	iso_reg_t *reg = create_with_mode(0660, 077);

	if (geteuid() != 0) {
		iso_detach(reg);
		cr_skip_test("needs root to switch to uid %d", NOBODY);
	}
	v = run_as_nobody(getegid(), 0, 0660);
	cr_expect_eq(v, U_OK, "group member, read-write: verdict %d", v);
	v = run_as_nobody(getegid(), ISO_ATTACH_RDONLY, 0660);
	cr_expect_eq(v, U_OK, "group member, read-only: verdict %d", v);
	v = run_as_nobody((gid_t)-1, 0, 0660);
	cr_expect_eq(v, U_EPERM, "outsider, read-write: verdict %d", v);
	v = run_as_nobody((gid_t)-1, ISO_ATTACH_RDONLY, 0660);
	cr_expect_eq(v, U_EPERM, "outsider, read-only: verdict %d", v);

	iso_account_t h;
	struct iso_status st;
	cr_assert_eq(iso_lookup(reg, "user", "owner", "KRAKEN", &h), 0);
	cr_assert_eq(iso_status(&h, &st), 0);
	cr_expect_eq(st.successes, 2, "the group member's write did not land");
	iso_detach(reg);
}

/* SPEC [R3]: mode 0644: others may view read-only, never write. */
Test(perms, mode_0644_lets_others_read_but_not_write, .fini = fini_seg)
{
	iso_reg_t *reg = create_with_mode(0644, 022);

	if (geteuid() != 0) {
		iso_detach(reg);
		cr_skip_test("needs root to switch to uid %d", NOBODY);
	}
	v = run_as_nobody((gid_t)-1, ISO_ATTACH_RDONLY, 0644);
	cr_expect_eq(v, U_OK, "read-only: verdict %d", v);
	v = run_as_nobody((gid_t)-1, 0, 0644);
	cr_expect_eq(v, U_EPERM, "read-write: verdict %d", v);
	iso_detach(reg);
}

/* ------------------------------------------------------------------ */

enum { M_OK = 0, M_ATTACH = 10, M_NOMAP, M_PERMS, M_API, M_MPROTECT, M_STORE_LIVED };

/* In a child: attach read-only; the library's mapping must be r--s, the
 * API must refuse writes, the mapping cannot be made writable, and a
 * direct store into it kills the process with SIGSEGV. */
static int ro_mapping_child(void *p)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_RDONLY };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	iso_reg_t *reg;
	iso_account_t h;
	char perms[5];
	uintptr_t start;
	long page = sysconf(_SC_PAGESIZE);

	if (iso_attach(seg, &opts, &reg) || iso_lookup(reg, "user", "owner", "KRAKEN", &h))
		return M_ATTACH;
	if (chaos_maps_find(seg, perms, NULL, &start))
		return M_NOMAP;
	if (strcmp(perms, "r--s") != 0)
		return M_PERMS;
	if (iso_record_success(&h, NULL, 0) != ISO_ERDONLY)
		return M_API;
	/* The file was opened read-only: the kernel refuses PROT_WRITE. */
	if (mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) == 0 ||
	    errno != EACCES)
		return M_MPROTECT;
	if (p) {
		/* Let the fault kill us plainly (sanitizers catch SIGSEGV). */
		sigaction(SIGSEGV, &dfl, NULL);
		sigaction(SIGBUS, &dfl, NULL);
		*(volatile uint64_t *)(start + 256) = 1; /* cross_account_errors */
		return M_STORE_LIVED;
	}
	iso_detach(reg);
	return M_OK;
}

static int rw_mapping_child(void *p)
{
	iso_reg_t *reg;
	char perms[5];

	if (iso_attach(seg, NULL, &reg))
		return M_ATTACH;
	if (chaos_maps_find(seg, perms, NULL, NULL))
		return M_NOMAP;
	iso_detach(reg);
	return strcmp(perms, "rw-s") == 0 ? M_OK : M_PERMS;
}

static int own_ro_map_store(void *p)
{
	char path[128];
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int fd;
	volatile uint8_t *m;

	snprintf(path, sizeof(path), "/dev/shm%s", seg);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return M_ATTACH;
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return M_NOMAP;
	sigaction(SIGSEGV, &dfl, NULL);
	sigaction(SIGBUS, &dfl, NULL);
	m[0] ^= 0xff; /* the magic */
	return M_STORE_LIVED;
}

/* SPEC [R3]: viewers attach with a read-only mapping: r--s in
 * /proc/self/maps, not rw-s; the API refuses writes; the mapping cannot be
 * upgraded; a stray store faults instead of corrupting the segment. */
Test(perms, read_only_attachment_is_a_read_only_mapping, .fini = fini_seg)
{
	iso_reg_t *reg = create_with_mode(0, 022);
	uint8_t *before, *after;
	size_t lb, la;
	int status;

	cr_assert_eq(chaos_wait(chaos_fork(rw_mapping_child, NULL), 10000, &status), 0);
	cr_expect_eq(chaos_exit_code(status), M_OK, "read-write attach: verdict %d",
		     chaos_exit_code(status));
	cr_assert_eq(chaos_shm_read(seg, &before, &lb), 0);
	cr_assert_eq(chaos_wait(chaos_fork(ro_mapping_child, NULL), 10000, &status), 0);
	cr_expect_eq(chaos_exit_code(status), M_OK, "read-only attach: verdict %d",
		     chaos_exit_code(status));
	cr_assert_eq(chaos_wait(chaos_fork(ro_mapping_child, (void *)1), 10000, &status),
		     0);
	cr_expect_eq(chaos_exit_code(status), 1000 + SIGSEGV,
		     "store into the library's read-only mapping: verdict %d",
		     chaos_exit_code(status));
	cr_assert_eq(chaos_wait(chaos_fork(own_ro_map_store, NULL), 10000, &status), 0);
	cr_expect_eq(chaos_exit_code(status), 1000 + SIGSEGV,
		     "store into a PROT_READ mapping: verdict %d", chaos_exit_code(status));

	cr_assert_eq(chaos_shm_read(seg, &after, &la), 0);
	cr_assert_eq(la, lb);
	cr_expect_eq(chaos_mem_diff(before, after, la, 0, 0), -1,
		     "the segment changed under read-only attachments");
	free(before);
	free(after);
	iso_detach(reg);
}
