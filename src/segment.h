/*
 * segment.h - what segment.c (geometry, creation) offers attach.c. The
 * geometry is computed here and only here: attach recomputes it from the
 * capacity and ring size it reads and compares [R1].
 */
#ifndef ISO_SEGMENT_H
#define ISO_SEGMENT_H

#include <sys/types.h>

#include "internal.h"

#define SHM_DIR "/dev/shm"
#define RING_MIN 64u

struct geometry {
	uint32_t capacity, dir_capacity, ring_capacity;
	uint64_t dir_off, slots_off, ring_off, total;
	uint64_t win_off;   /* 0: no window region */
};

/** iso_geometry_for - every size and offset for @capacity accounts, a
 * ring of @events entries (0: the default ring) and, if @windows, the
 * rolling-window region [B7]. */
void iso_geometry_for(uint32_t capacity, uint32_t events, bool windows,
		      struct geometry *g);
/** iso_check_name - 0, or ISO_EINVAL naming what is wrong with @name. */
int iso_check_name(const char *name);
/** iso_map_reg - map @size bytes of @fd into @reg. 0 or ISO_ESYS. */
int iso_map_reg(iso_reg_t *reg, int fd, uint64_t size, bool rdonly);
/** iso_set_geometry - point @reg's fields into its mapping. */
void iso_set_geometry(iso_reg_t *reg, const struct geometry *g,
		      uint32_t cooldown_ms);
/** iso_create_segment - build, fill (the operators' state applied) and link
 * a new segment at @name; mapped into @reg. 0, ISO_EEXIST (someone linked
 * one first: attach theirs), or another code. */
int iso_create_segment(iso_reg_t *reg, const char *name,
		       const struct iso_attach_opts *o);

#endif /* ISO_SEGMENT_H */
