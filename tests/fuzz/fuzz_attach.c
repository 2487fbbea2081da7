/*
 * fuzz_attach.c - arbitrary bytes as a segment file: attach read-only and
 * read everything; nothing may crash or hang [R1].
 *
 * Each input is written to /dev/shm under a name private to this process
 * and attached with ISO_ATTACH_RDONLY and a 1 ms attach timeout (a header
 * whose version is never written must not keep us waiting). If attach
 * accepts it, every reader walks it: segment info, foreach with status,
 * lookups, the report, the event ring, and the doctor.
 *
 * With ISOREG_FUZZ_SEED_DIR set, initialisation first writes a real,
 * populated segment there as a seed, so mutations start from valid
 * headers, slots, directory entries and events.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isoreg.h"

static char name[64], path[96];

static void write_seed(const char *dir)
{
	char seed_name[64], src[96], dst[512];
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 8 };
	iso_reg_t *reg;
	iso_account_t h;

	snprintf(seed_name, sizeof(seed_name), "/isoreg-fuzz-seed-%d", (int)getpid());
	if (iso_attach(seed_name, &opts, &reg) != 0)
		return;
	for (int i = 0; i < 6; i++) {
		char id[16];

		snprintf(id, sizeof(id), "acct%d", i);
		if (iso_register(reg, i & 1 ? "user" : "platform", id,
				 i < 3 ? "KRAKEN" : "COINBASE", &h) != 0)
			continue;
		for (int k = 0; k < 3 + i; k++)
			iso_record_failure(&h, NULL, (enum iso_failure_type)(k % ISO_FAIL__COUNT),
					   1000u << k);
		iso_record_success(&h, NULL, 5000);
		if (i == 2)
			iso_force_open(&h);
		if (i == 4)
			iso_retire(&h);
	}
	iso_detach(reg);

	snprintf(src, sizeof(src), "/dev/shm%s", seed_name);
	snprintf(dst, sizeof(dst), "%s/seed-valid-segment", dir);
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[65536];
	ssize_t n;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	iso_unlink(seed_name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ISOREG_FUZZ_SEED_DIR");

	snprintf(name, sizeof(name), "/isoreg-fuzz-attach-%d", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	if (dir && dir[0])
		write_seed(dir);
	return 0;
}

static int walk(const struct iso_status *st, void *ctx)
{
	iso_reg_t *reg = ctx;
	iso_account_t h;
	char buf[ISO_KEY_STR_MAX + 1];

	/* Every field a reader would print, and a lookup of the key. */
	if ((unsigned)st->health >= ISO_HEALTH__COUNT ||
	    (unsigned)st->breaker >= ISO_BREAKER__COUNT)
		__builtin_trap(); /* status must answer with legal values */
	iso_key_format(&st->key, buf, sizeof(buf));
	(void)iso_health_name(st->health);
	(void)iso_cause_name(st->last_cause);
	if (iso_lookup_key(reg, &st->key, &h) == 0) {
		struct iso_status again;
		iso_permit_t p;

		iso_status(&h, &again);
		iso_acquire(&h, &p);
		iso_permit_reason(&p, buf, sizeof(buf));
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_RDONLY,
					.attach_timeout_ms = 1 };
	iso_reg_t *reg;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return 0;
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);

	if (iso_attach(name, &opts, &reg) == 0) {
		struct iso_segment_info info;
		struct iso_report rep;
		struct iso_doctor_report doc;
		struct iso_event ev[32];
		uint64_t cursor = 0, missed;
		iso_account_t h;

		iso_segment_info(reg, &info);
		iso_foreach(reg, walk, reg);
		iso_report(reg, &rep);
		for (int i = 0; i < 64; i++) {
			int n = iso_events_read(reg, &cursor, ev, 32, &missed);

			if (n <= 0)
				break;
			for (int k = 0; k < n; k++) {
				char buf[ISO_KEY_STR_MAX + 1];

				iso_key_format(&ev[k].key, buf, sizeof(buf));
				(void)iso_health_name(ev[k].from);
				(void)iso_health_name(ev[k].to);
				(void)iso_cause_name(ev[k].cause);
			}
		}
		cursor = iso_events_head(reg);
		iso_events_read(reg, &cursor, ev, 32, &missed);
		iso_doctor(reg, 0, &doc);
		iso_lookup(reg, "user", "acct1", "KRAKEN", &h);
		iso_detach(reg);
	}
	unlink(path);
	return 0;
}
