/*
 * snapshot.h - one rendered scrape, kept gzip-compressed, shared by the
 * HTTP responses that send it.
 *
 * A scrape renders the text (metrics.c) and compresses it at once into a
 * snapshot; the renderer is then free for the next scrape, whatever the
 * client does with its response. A client that asked for gzip gets the
 * snapshot's bytes as they are; any other gets them inflated block by
 * block as it reads. So a response holds about a tenth of the text's size
 * however slowly it is read, which is what bounds the exporter's memory
 * under clients that read slowly or never (serve.c).
 */
#ifndef ISOCTL_SNAPSHOT_H
#define ISOCTL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "metrics.h"

/* A compressor: its deflate state is kept between scrapes; opaque. */
struct iso_gzip;

/* A compressed text, reference-counted; opaque. */
struct iso_snapshot;

/* A response body reading a snapshot: as is, or inflated; opaque. */
struct iso_body;

/**
 * iso_gzip_new - a compressor at zlib @level (1 fastest .. 9 smallest).
 * Returns NULL if memory is exhausted.
 */
struct iso_gzip *iso_gzip_new(int level);

/** iso_gzip_free - free @z. NULL is allowed. */
void iso_gzip_free(struct iso_gzip *z);

/**
 * iso_snapshot_make - compress the text of @m's last render into a new
 * snapshot (gzip format, RFC 1952) with one reference, in *@out.
 * Returns 0 or ISO_ENOMEM.
 */
int iso_snapshot_make(struct iso_gzip *z, const struct iso_metrics *m,
		      struct iso_snapshot **out);

/** iso_snapshot_unref - drop a reference; the last one frees it. NULL is allowed. */
void iso_snapshot_unref(struct iso_snapshot *s);

/** iso_snapshot_text_len - bytes of the text before compression. */
size_t iso_snapshot_text_len(const struct iso_snapshot *s);

/** iso_snapshot_gz_len - bytes of the compressed text. */
size_t iso_snapshot_gz_len(const struct iso_snapshot *s);

/** iso_snapshot_bytes - the snapshot's memory, for the exporter's accounting. */
size_t iso_snapshot_bytes(const struct iso_snapshot *s);

/**
 * iso_body_new - a body that reads @s (taking a reference) compressed
 * (@gzip) or as plain text. Returns NULL if memory is exhausted.
 */
struct iso_body *iso_body_new(struct iso_snapshot *s, bool gzip);

/** iso_body_len - the bytes the body will give in all (its Content-Length). */
size_t iso_body_len(const struct iso_body *b);

/**
 * iso_body_read - the next up to @max bytes, which start at byte @pos of the
 * body (bodies are read in order, as libmicrohttpd does). Returns the bytes
 * given, 0 at the end, -1 if @pos is not where the last read ended or the
 * compressed text is unreadable (a bug: it was made here).
 */
ssize_t iso_body_read(struct iso_body *b, size_t pos, char *buf, size_t max);

/** iso_body_bytes - the memory @b holds: its snapshot, and its inflate state once reading. */
size_t iso_body_bytes(const struct iso_body *b);

/** iso_body_free - free @b and drop its snapshot reference. NULL is allowed. */
void iso_body_free(struct iso_body *b);

#endif /* ISOCTL_SNAPSHOT_H */
