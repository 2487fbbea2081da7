/*
 * snapshot.c - a rendered scrape, compressed once, sent to each client in
 * the encoding it asked for (snapshot.h).
 *
 * zlib level 1: on this text (the same label sets over and over) it keeps
 * the ratio above 20 at about 1.5 ns a byte; higher levels cost two to
 * three times the CPU for a few per cent less (bench/bench_exporter).
 * The deflate state (about 270 KB) lives in the compressor and is reset,
 * not rebuilt, for every scrape.
 *
 * Threads: none of its own; a snapshot and its bodies are used by one
 * thread (serve.c's loop), so the reference count is a plain integer.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "snapshot.h"

struct iso_gzip {
	z_stream zs;
};

struct iso_snapshot {
	unsigned refs;
	size_t text_len;
	size_t gz_len;
	size_t cap;
	unsigned char *gz;
};

struct iso_body {
	struct iso_snapshot *s;
	bool gzip;
	bool inflating;   /* zs is initialised */
	bool done;        /* inflate reached the end of the stream */
	size_t pos;       /* bytes given so far */
	z_stream zs;
};

struct iso_gzip *iso_gzip_new(int level)
{
	struct iso_gzip *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	/* 15 + 16: a 32 KB window, and a gzip header and trailer. */
	if (deflateInit2(&z->zs, level, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	return z;
}

void iso_gzip_free(struct iso_gzip *z)
{
	if (!z)
		return;
	deflateEnd(&z->zs);
	free(z);
}

/* Room for at least @more bytes after gz_len; false if memory ran out. */
static bool snapshot_grow(struct iso_snapshot *s, size_t more)
{
	size_t cap = s->cap ? s->cap : 64 * 1024;

	while (cap - s->gz_len < more)
		cap *= 2;
	if (cap == s->cap)
		return true;
	unsigned char *p = realloc(s->gz, cap);
	if (!p)
		return false;
	s->gz = p;
	s->cap = cap;
	return true;
}

/*
 * Run deflate over what z->zs holds as input with @flush, growing the
 * output as needed, until the input is used up (Z_NO_FLUSH) or the stream
 * is finished (Z_FINISH). Returns false if memory ran out.
 */
static bool deflate_into(struct iso_gzip *z, struct iso_snapshot *s, int flush)
{
	for (;;) {
		if (s->cap - s->gz_len < 4096 && !snapshot_grow(s, s->cap))
			return false;
		size_t room = s->cap - s->gz_len;
		if (room > (1u << 30))
			room = 1u << 30;
		z->zs.next_out = s->gz + s->gz_len;
		z->zs.avail_out = (uInt)room;
		int rc = deflate(&z->zs, flush);
		s->gz_len += room - z->zs.avail_out;
		if (rc == Z_STREAM_ERROR)
			return false;
		if (flush == Z_FINISH ? rc == Z_STREAM_END
				      : z->zs.avail_in == 0 && z->zs.avail_out > 0)
			return true;
	}
}

int iso_snapshot_make(struct iso_gzip *z, const struct iso_metrics *m,
		      struct iso_snapshot **out)
{
	struct iso_snapshot *s = calloc(1, sizeof(*s));
	size_t text = iso_metrics_len(m);

	if (!s || deflateReset(&z->zs) != Z_OK)
		goto oom;
	s->refs = 1;
	s->text_len = text;
	/* A first guess of a tenth; it grows by doubling if the text says otherwise. */
	if (!snapshot_grow(s, text / 10 + 4096))
		goto oom;
	size_t len;
	const char *chunk;
	for (size_t i = 0; (chunk = iso_metrics_chunk(m, i, &len)) != NULL; i++) {
		/* zlib counts in uInt: feed a huge chunk in pieces. */
		while (len > 0) {
			uInt piece = len > (1u << 30) ? (1u << 30) : (uInt)len;
			z->zs.next_in = (unsigned char *)chunk;
			z->zs.avail_in = piece;
			if (!deflate_into(z, s, Z_NO_FLUSH))
				goto oom;
			chunk += piece;
			len -= piece;
		}
	}
	z->zs.next_in = NULL;
	z->zs.avail_in = 0;
	if (!deflate_into(z, s, Z_FINISH))
		goto oom;
	/* Give back the guess's slack: a response may hold this for a while. */
	unsigned char *fit = realloc(s->gz, s->gz_len ? s->gz_len : 1);
	if (fit) {
		s->gz = fit;
		s->cap = s->gz_len ? s->gz_len : 1;
	}
	*out = s;
	return 0;
oom:
	iso_snapshot_unref(s);
	return ISO_ENOMEM;
}

void iso_snapshot_unref(struct iso_snapshot *s)
{
	if (!s || --s->refs > 0)
		return;
	free(s->gz);
	free(s);
}

size_t iso_snapshot_text_len(const struct iso_snapshot *s)
{
	return s->text_len;
}

size_t iso_snapshot_gz_len(const struct iso_snapshot *s)
{
	return s->gz_len;
}

size_t iso_snapshot_bytes(const struct iso_snapshot *s)
{
	return sizeof(*s) + s->cap;
}

struct iso_body *iso_body_new(struct iso_snapshot *s, bool gzip)
{
	struct iso_body *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->s = s;
	b->gzip = gzip;
	s->refs++;
	return b;
}

size_t iso_body_len(const struct iso_body *b)
{
	return b->gzip ? b->s->gz_len : b->s->text_len;
}

ssize_t iso_body_read(struct iso_body *b, size_t pos, char *buf, size_t max)
{
	if (pos != b->pos)
		return -1;
	if (b->gzip) {
		size_t n = b->s->gz_len - pos;
		if (n > max)
			n = max;
		memcpy(buf, b->s->gz + pos, n);
		b->pos += n;
		return (ssize_t)n;
	}
	if (b->done || max == 0)
		return 0;
	if (!b->inflating) {
		/* Made lazily: a HEAD request never reads, and never pays for it. */
		if (inflateInit2(&b->zs, 15 + 16) != Z_OK)
			return -1;
		b->inflating = true;
		b->zs.next_in = b->s->gz;
		b->zs.avail_in = (uInt)b->s->gz_len;
	}
	if (max > (1u << 30))
		max = 1u << 30;
	b->zs.next_out = (unsigned char *)buf;
	b->zs.avail_out = (uInt)max;
	int rc = inflate(&b->zs, Z_NO_FLUSH);
	size_t n = max - b->zs.avail_out;
	if (rc == Z_STREAM_END)
		b->done = true;
	else if (rc != Z_OK && !(rc == Z_BUF_ERROR && n > 0))
		return -1;
	b->pos += n;
	return (ssize_t)n;
}

/* zlib's inflate state with its 32 KB window, as zlib allocates it. */
#define INFLATE_BYTES (7u * 1024 + (1u << 15))

size_t iso_body_bytes(const struct iso_body *b)
{
	return sizeof(*b) + iso_snapshot_bytes(b->s) +
	       (b->gzip ? 0 : INFLATE_BYTES);
}

void iso_body_free(struct iso_body *b)
{
	if (!b)
		return;
	if (b->inflating)
		inflateEnd(&b->zs);
	iso_snapshot_unref(b->s);
	free(b);
}
