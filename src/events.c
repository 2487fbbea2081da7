/*
 * events.c - the event ring: every breaker transition, appended by whoever
 * made it, read by isoctl events, isotop and the exporter.
 *
 * Writers never wait: a ticket from one fetch-add, then the entry. A
 * writer killed mid-append, or lapped by another writer, costs at most a
 * lost event; readers detect overwritten, torn and unfinished entries (seq
 * protocol plus a checksum over ticket and body) and count them as missed.
 * Readers never write to the segment, so they work on read-only mappings.
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "failpoint.h"
#include "slot.h"

#define PENDING_GRACE_MS 1000 /* an append takes microseconds; a later entry
				 finished this long ago means ours died */

static uint64_t checksum(uint64_t ticket, uint64_t time_ms, uint64_t slot_gen,
			 uint64_t info, uint64_t uid, const uint64_t text[2])
{
	uint64_t v[7] = { ticket, time_ms, slot_gen, info, uid, text[0], text[1] };
	/* XXH3: a fraction of XXH64's time on 56 bytes, and a transition
	 * writes one of these. */
	return XXH3_64bits_withSeed(v, sizeof(v), 0x6576656e74ull);
}

void iso_event_append_text(iso_reg_t *reg, uint32_t slot, uint32_t gen,
			   enum iso_health from, enum iso_health to,
			   enum iso_breaker_state breaker, enum iso_cause cause,
			   int ftype, const char *text)
{
	iso_event_append_at(reg, (uint64_t)iso_wall_ms(), slot, gen, from, to,
			    breaker, cause, ftype, text);
}

void iso_event_append_at(iso_reg_t *reg, uint64_t time_ms, uint32_t slot,
			 uint32_t gen, enum iso_health from, enum iso_health to,
			 enum iso_breaker_state breaker, enum iso_cause cause,
			 int ftype, const char *text)
{
	uint64_t tw[2] = { 0, 0 };
	if (reg->rdonly)
		return;
	if (text) /* its first 16 bytes; no NUL needed at 16 */
		memcpy(tw, text, strnlen(text, sizeof(tw)));
	ISO_FP("event.ticket");
	/* relaxed: the ticket orders nothing; the entry's seq publishes. */
	uint64_t t = iso_faa64_relaxed(&reg->hdr->ring_head, 1);
	struct iso_shm_event *e = &reg->ring[t & reg->ring_mask];
	uint64_t sg = ((uint64_t)slot << 32) | gen;
	uint64_t info = (uint64_t)reg->pid | ((uint64_t)(from & 0xff) << 32) |
			((uint64_t)(to & 0xff) << 40) |
			((uint64_t)(breaker & 0xff) << 48) |
			((uint64_t)(cause & 0xf) << 56) |
			((uint64_t)(ftype < 0 ? 0xf : ftype & 0xf) << 60);
	/* Odd seq: "being written". Each body store is release, so a reader
	 * that sees any of it sees the odd seq before it (and checks seq
	 * again); the even seq, release, says "complete". The checksum
	 * catches what a lapped or torn entry leaves, whatever the order. */
	ISO_FP("event.open");
	iso_store64_relaxed(&e->seq, 2 * t + 1);
	ISO_FP("event.body");
	iso_store64_release(&e->time_ms, time_ms);
	iso_store64_release(&e->slot_gen, sg);
	iso_store64_release(&e->info, info);
	iso_store64_release(&e->uid, reg->uid);
	iso_store64_release(&e->text[0], tw[0]);
	iso_store64_release(&e->text[1], tw[1]);
	iso_store64_release(&e->check, checksum(t, time_ms, sg, info, reg->uid, tw));
	ISO_FP("event.close");
	iso_store64_release(&e->seq, 2 * t + 2);
}

uint64_t iso_events_head(iso_reg_t *reg)
{
	if (!iso_reg_ok(reg))
		return 0;
	/* relaxed: a position, not a publication (entries carry seq). */
	return iso_load64_relaxed(&reg->hdr->ring_head);
}

enum entry_state { ENTRY_OK, ENTRY_BAD, ENTRY_PENDING };

static enum entry_state read_entry(iso_reg_t *reg, uint64_t t,
				   struct iso_event *ev)
{
	struct iso_shm_event *e = &reg->ring[t & reg->ring_mask];
	/* acquire: pairs with the writer's release of the even seq. */
	uint64_t s1 = iso_load64_acquire(&e->seq);
	if (s1 < 2 * t + 2)
		return ENTRY_PENDING; /* not started or not finished */
	if (s1 != 2 * t + 2)
		return ENTRY_BAD;     /* lapped: a later ticket's entry */
	/* acquire, each: the re-check of seq below cannot be satisfied
	 * before the body was read (pairs with the writer's body stores). */
	uint64_t time_ms = iso_load64_acquire(&e->time_ms);
	uint64_t sg = iso_load64_acquire(&e->slot_gen);
	uint64_t info = iso_load64_acquire(&e->info);
	uint64_t uid = iso_load64_acquire(&e->uid);
	uint64_t tw[2] = { iso_load64_acquire(&e->text[0]),
			   iso_load64_acquire(&e->text[1]) };
	uint64_t check = iso_load64_acquire(&e->check);
	if (iso_load64_relaxed(&e->seq) != s1 ||
	    check != checksum(t, time_ms, sg, info, uid, tw))
		return ENTRY_BAD;     /* torn by a writer a lap ahead */

	memset(ev, 0, sizeof(*ev));
	ev->seq = t;
	ev->time_ms = (int64_t)time_ms;
	ev->slot = (uint32_t)(sg >> 32);
	ev->gen = (uint32_t)sg;
	ev->pid = (uint32_t)info;
	ev->from = (enum iso_health)((info >> 32) & 0xff);
	ev->to = (enum iso_health)((info >> 40) & 0xff);
	ev->breaker = (enum iso_breaker_state)((info >> 48) & 0xff);
	ev->cause = (enum iso_cause)((info >> 56) & 0xf);
	unsigned ft = (unsigned)(info >> 60);
	ev->failure_type = ft < ISO_FAIL__COUNT ? (int)ft : -1;
	ev->uid = (uint32_t)uid;
	/* Text from the segment: printable bytes only, whatever was stored. */
	char txt[sizeof(tw) + 1];
	memcpy(txt, tw, sizeof(tw));
	txt[sizeof(tw)] = '\0';
	for (char *c = txt; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	if ((unsigned)ev->from >= ISO_HEALTH__COUNT ||
	    (unsigned)ev->to >= ISO_HEALTH__COUNT ||
	    (unsigned)ev->breaker >= ISO_BREAKER__COUNT ||
	    (unsigned)ev->cause >= ISO_CAUSE__COUNT)
		return ENTRY_BAD;
	if (ev->cause == ISO_CAUSE_BROKER_HALT || ev->cause == ISO_CAUSE_BROKER_RELEASE) {
		/* A broker name: at most ISO_BROKER_MAX bytes were written. */
		memcpy(ev->key.broker, txt, ISO_BROKER_MAX);
		ev->key.broker[ISO_BROKER_MAX] = '\0';
	} else {
		memcpy(ev->reason, txt, sizeof(ev->reason));
	}
	/* The key, if the slot still holds this generation's account. The
	 * key words are acquire loads and the generation is checked again
	 * after them: a slot reused while we read gives no key, never a key
	 * made of two accounts. */
	if (ev->slot < reg->capacity) {
		struct iso_slot *s = &reg->slots[ev->slot];
		uint64_t sw = iso_slot_lo(s);
		uint32_t st = ISO_SW_STATE(sw);
		if (ISO_SW_GEN(sw) == ev->gen && st != ISO_SLOT_FREE) {
			ISO_FP("event.read_key"); /* a reader stalled here */
			iso_slot_read_key(s, &ev->key);
			if (ISO_SW_GEN(iso_slot_lo(s)) != ev->gen ||
			    !iso_key_valid_stored(ev->key.type, ev->key.id,
						  ev->key.broker))
				memset(&ev->key, 0, sizeof(ev->key));
		}
	}
	return ENTRY_OK;
}

/* An unfinished entry is abandoned once a later one is complete and old. */
static bool pending_is_dead(iso_reg_t *reg, uint64_t t, uint64_t head)
{
	int64_t now = iso_wall_ms();
	for (uint64_t u = t + 1; u < head && u < t + 64; u++) {
		struct iso_shm_event *e = &reg->ring[u & reg->ring_mask];
		/* acquire: pairs with the writer's release of the even seq. */
		if (iso_load64_acquire(&e->seq) == 2 * u + 2 &&
		    (int64_t)iso_load64_relaxed(&e->time_ms) + PENDING_GRACE_MS < now)
			return true;
	}
	return head - t > (uint64_t)reg->ring_mask / 2;
}

int iso_events_read(iso_reg_t *reg, uint64_t *cursor, struct iso_event *out,
		    int max, uint64_t *missed)
{
	uint64_t lost = 0;
	int n = 0;
	if (!iso_reg_ok(reg) || !cursor || (!out && max > 0) || max < 0)
		return iso_fail(ISO_EINVAL, "iso_events_read: bad argument");
	uint64_t head = iso_load64_relaxed(&reg->hdr->ring_head); /* a position */
	uint64_t cap = (uint64_t)reg->ring_mask + 1;
	uint64_t oldest = head > cap ? head - cap : 0;
	uint64_t t = *cursor;
	if (t > head)
		t = head; /* a cursor from another segment, or a future one */
	if (t < oldest) {
		lost += oldest - t; /* overwritten before we got to them */
		t = oldest;
	}
	while (t < head && n < max) {
		enum entry_state es = read_entry(reg, t, &out[n]);
		if (es == ENTRY_PENDING) {
			if (!pending_is_dead(reg, t, head))
				break; /* leave it for the next call */
			lost++;
		} else if (es == ENTRY_BAD) {
			lost++;
		} else {
			n++;
		}
		t++;
	}
	*cursor = t;
	if (missed)
		*missed = lost;
	return n;
}

/* Whether an operator's attribution may be logged: its reason's length and
 * bytes (printable ASCII only: it reaches terminals), and its flags. */
int iso_op_check(const struct iso_op *op)
{
	const char *text = op && op->reason ? op->reason : "";
	size_t n = strlen(text);
	if (n > ISO_OP_REASON_MAX)
		return iso_fail(ISO_EINVAL, "reason is %zu bytes; at most %u",
				n, ISO_OP_REASON_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c < 0x20 || c >= 0x7f)
			return iso_fail(ISO_EINVAL, "reason: byte %zu (0x%02x) is "
					"not printable ASCII", i, c);
	}
	if (op && (op->flags & ~ISO_OP_FORCE))
		return iso_fail(ISO_EINVAL, "operator flags 0x%x: unknown bits",
				op->flags);
	return 0;
}
