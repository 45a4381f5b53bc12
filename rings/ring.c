/*
 * ring.c: creation and destruction of SPSC rings. The hot paths are inline, in
 * tl_ring_inline.h.
 */
#include "tl_ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int tl_ring_create(tl_ring_t **out, uint32_t capacity, uint32_t slot_size)
{
	tl_ring_t *ring;
	size_t slots_bytes;

	if (out == NULL || !is_pow2(capacity) || capacity > TL_RING_CAPACITY_MAX)
		return -EINVAL;
	if (slot_size == 0 || slot_size % 8 != 0 || slot_size > TL_RING_SLOT_MAX)
		return -EINVAL;

	/* Both factors are bounded above (2^30 * 2^12), so this cannot overflow size_t. */
	slots_bytes = (size_t)capacity * slot_size;

	ring = aligned_alloc(TL_CACHE_PAIR, sizeof(*ring));
	if (ring == NULL)
		return -ENOMEM;
	memset(ring, 0, sizeof(*ring));

	/* aligned_alloc wants a size that is a multiple of the alignment. */
	ring->conf.slots = aligned_alloc(TL_CACHE_PAIR, (slots_bytes + TL_CACHE_PAIR - 1) &
	                                                    ~(size_t)(TL_CACHE_PAIR - 1));
	if (ring->conf.slots == NULL) {
		free(ring);
		return -ENOMEM;
	}
	memset(ring->conf.slots, 0, slots_bytes);
	ring->conf.mask = capacity - 1;
	ring->conf.capacity = capacity;
	ring->conf.slot_size = slot_size;
	atomic_init(&ring->tail_pub, 0);
	atomic_init(&ring->head_pub, 0);
	*out = ring;
	return 0;
}

void tl_ring_destroy(tl_ring_t *ring)
{
	if (ring == NULL)
		return;
	free(ring->conf.slots);
	free(ring);
}
