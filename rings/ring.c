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

/*
 * Where a slot's data sits after its sequence word, and how far apart slots are. The word
 * shares the data's line whenever the data leaves room, so that one miss brings both; a
 * slot smaller than a line is padded to a power of two so that it never straddles two.
 * Data that fills whole lines keeps its 64-byte alignment (tl_event_t needs it), so its
 * word gets the line in front.
 */
static void slot_geometry(uint32_t slot_size, uint32_t *data_off, uint32_t *stride)
{
	uint32_t off = slot_size % 64 == 0 ? 64 : 8;
	uint32_t bytes = off + slot_size;
	uint32_t s = 16;

	if (bytes > 64) {
		s = (bytes + 63) & ~63u;
	} else {
		while (s < bytes)
			s *= 2;
	}
	*data_off = off;
	*stride = s;
}

int tl_ring_create(tl_ring_t **out, uint32_t capacity, uint32_t slot_size)
{
	tl_ring_t *ring;
	uint32_t data_off, stride;
	size_t slots_bytes;

	if (out == NULL || !is_pow2(capacity) || capacity > TL_RING_CAPACITY_MAX)
		return -EINVAL;
	if (slot_size == 0 || slot_size % 8 != 0 || slot_size > TL_RING_SLOT_MAX)
		return -EINVAL;
	slot_geometry(slot_size, &data_off, &stride);

	/* Both factors are bounded above (2^30 * (2^12 + 64)), so this cannot overflow size_t. */
	slots_bytes = (size_t)capacity * stride;

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
	/* Sequence 0 is "never written": the first lap stores positions 1..capacity. */
	for (uint64_t i = 0; i < capacity; i++)
		atomic_init((_Atomic uint64_t *)(ring->conf.slots + i * stride), 0);
	ring->conf.mask = capacity - 1;
	ring->conf.capacity = capacity;
	ring->conf.slot_size = slot_size;
	ring->conf.stride = stride;
	ring->conf.data_off = data_off;
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
