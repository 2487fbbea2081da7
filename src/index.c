/*
 * index.c - the per-process key index [S4]: a liburcu lock-free hash table
 * (cds_lfht, urcu-bp flavour, so the application never has to register its
 * threads) from account key to slot and generation.
 *
 * It is only a cache of the shared directory: a hit is re-checked against
 * the slot's publication word before use, and an entry found stale is
 * removed and freed after a grace period with call_rcu. It must never be
 * trusted over the segment.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#include "internal.h"

/*
 * liburcu is not built with ThreadSanitizer, so TSan cannot see that
 * cds_lfht publishes a node (a release) and that call_rcu frees it only
 * after every reader left (a grace period). Under TSan these say so with
 * TSan's own annotations: a node is released when filled and after each
 * use, and acquired before each use and before it is freed.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define NODE_RELEASE(n) __tsan_release(n)
#define NODE_ACQUIRE(n) __tsan_acquire(n)
#else
#define NODE_RELEASE(n) ((void)(n))
#define NODE_ACQUIRE(n) ((void)(n))
#endif

struct idx_node {
	struct cds_lfht_node node;
	struct iso_key key;
	uint32_t slot;
	uint32_t gen;
	struct rcu_head rcu;
};

/*
 * call_rcu's worker thread does not survive fork; liburcu's documented
 * hooks pause it around fork and restart it in the child.
 */
static void before_fork(void) { call_rcu_before_fork(); }
static void after_fork_parent(void) { call_rcu_after_fork_parent(); }
static void after_fork_child(void) { call_rcu_after_fork_child(); }
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

static int index_match(struct cds_lfht_node *node, const void *arg)
{
	struct idx_node *n = caa_container_of(node, struct idx_node, node);
	const struct iso_nkey *k = arg;
	NODE_ACQUIRE(n);
	/* Both zero-padded (iso_nkey): all 96 bytes, as words. */
	int same = iso_key_same(&n->key, &k->k);
	NODE_RELEASE(n);
	return same;
}

static void free_node(struct rcu_head *head)
{
	struct idx_node *n = caa_container_of(head, struct idx_node, rcu);
	NODE_ACQUIRE(n); /* after the grace period: every reader is done */
	free(n);
}

int iso_index_init(iso_reg_t *reg)
{
	/*
	 * Sized for the segment from the start: a resize needs a grace
	 * period, which a process pinned to one CPU and looking keys up
	 * without pause (inside read-side sections nearly all the time)
	 * can hold off for seconds, while every lookup walks chains of
	 * thousands. Auto-resize stays on for the stale entries beyond.
	 */
	unsigned long size = 64;
	while (size < reg->capacity && size < (1ul << 20))
		size <<= 1;
	pthread_once(&fork_once, register_atfork);
	reg->index = cds_lfht_new(size, 64, 0,
				  CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
				  NULL);
	if (!reg->index)
		return iso_fail(ISO_ENOMEM, "cds_lfht_new failed");
	return 0;
}

void iso_index_destroy(iso_reg_t *reg)
{
	struct cds_lfht_iter iter;
	struct idx_node *n;
	if (!reg->index)
		return;
	rcu_read_lock();
	cds_lfht_for_each_entry(reg->index, &iter, n, node) {
		if (!cds_lfht_del(reg->index, &n->node))
			call_rcu(&n->rcu, free_node);
	}
	rcu_read_unlock();
	/* Wait for the frees above, then for any reader still inside. */
	rcu_barrier();
	cds_lfht_destroy(reg->index, NULL);
	reg->index = NULL;
}

bool iso_index_get(iso_reg_t *reg, const struct iso_nkey *key,
		   uint32_t *slot, uint32_t *gen)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	bool found = false;
	rcu_read_lock();
	cds_lfht_lookup(reg->index, (unsigned long)key->hash, index_match, key,
			&iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node) {
		struct idx_node *n = caa_container_of(node, struct idx_node, node);
		NODE_ACQUIRE(n);
		*slot = n->slot;
		*gen = n->gen;
		NODE_RELEASE(n);
		found = true;
	}
	rcu_read_unlock();
	return found;
}

void iso_index_put(iso_reg_t *reg, const struct iso_nkey *key,
		   uint32_t slot, uint32_t gen)
{
	struct idx_node *n = malloc(sizeof(*n));
	struct cds_lfht_node *old;
	if (!n)
		return; /* only a cache: the directory still answers */
	cds_lfht_node_init(&n->node);
	n->key = key->k; /* zero-padded, as index_match wants */
	n->slot = slot;
	n->gen = gen;
	NODE_RELEASE(n); /* filled: published by the add below */
	rcu_read_lock();
	old = cds_lfht_add_replace(reg->index, (unsigned long)key->hash,
				   index_match, key,
				   &n->node);
	rcu_read_unlock();
	if (old)
		call_rcu(&caa_container_of(old, struct idx_node, node)->rcu,
			 free_node);
}

void iso_index_drop(iso_reg_t *reg, const struct iso_nkey *key)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	rcu_read_lock();
	cds_lfht_lookup(reg->index, (unsigned long)key->hash, index_match, key,
			&iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node && !cds_lfht_del(reg->index, node))
		call_rcu(&caa_container_of(node, struct idx_node, node)->rcu,
			 free_node);
	rcu_read_unlock();
}
