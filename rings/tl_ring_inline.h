/*
 * tl_ring_inline.h: bodies of the ring's hot-path calls. Not a contract: read tl_ring.h.
 * Included only from tl_ring.h.
 *
 * Memory orders, by pair:
 *   P1  producer's release store of tail_pub  <->  C1 consumer's acquire load of tail_pub.
 *       The slot bytes written before P1 are visible to the consumer after C1.
 *   C2  consumer's release store of head_pub  <->  P2 producer's acquire load of head_pub.
 *       The consumer's reads of a slot finish before P2 lets the producer overwrite it.
 *   P3  producer's load of waiter->sleeping after P1: see tl_ring_notify() and wait.c.
 */
#ifndef TL_RING_INLINE_H
#define TL_RING_INLINE_H

#ifndef TL_RING_H
#error "include tl_ring.h, not tl_ring_inline.h"
#endif

#include <assert.h>
#include <string.h>

/* Empty polls in a row after which the consumer starts prefetching the next slot. */
#define TL_RING_PREFETCH_AFTER_POLLS 4u

/* Out of line, in wait.c: the slow path of a publish that finds its consumer asleep. */
void tl_wait_wake_sleeper(tl_wait_t *w);

static inline void tl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * A full (StoreLoad) fence, for the no-membarrier fallback. GCC refuses atomic_thread_fence
 * under ThreadSanitizer, which cannot model fences; there a seq_cst read-modify-write on a
 * local stands in, which is a full barrier on every CPU tally targets.
 */
static inline void tl_fence_full(void)
{
#if defined(TALLY_TSAN)
	_Atomic int fence_word = 0;
	atomic_fetch_add_explicit(&fence_word, 0, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

static inline uint32_t tl_ring_capacity(const tl_ring_t *ring)
{
	return ring->conf.capacity;
}

static inline uint32_t tl_ring_slot_size(const tl_ring_t *ring)
{
	return ring->conf.slot_size;
}

static inline uint8_t *tl_ring_slot_at(const tl_ring_t *ring, uint64_t pos)
{
	return ring->conf.slots + (size_t)(pos & ring->conf.mask) * ring->conf.slot_size;
}

/*
 * The common slot sizes get a fixed-size copy the compiler turns into a few moves; others
 * call memcpy. GCC inlines this into callers whose buffer is, say, 8 bytes and then warns
 * that the 64-byte branch would overrun it: it cannot know that slot_size, fixed at
 * creation, rules that branch out. The warning is silenced here only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
static inline void tl_ring_copy(void *dst, const void *src, uint32_t size)
{
	if (size == 8)
		memcpy(dst, src, 8);
	else if (size == 64)
		memcpy(dst, src, 64);
	else
		memcpy(dst, src, size);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* After a publish: wake the consumer if it announced it is going to sleep (P3). */
static inline void tl_ring_notify(tl_ring_t *ring)
{
	tl_wait_t *w = ring->conf.waiter;

	if (w == NULL)
		return;
	/*
	 * The load of `sleeping` must not move above the tail_pub store. The signal fence stops
	 * the compiler; the CPU may still satisfy the load before the store drains, and the
	 * consumer's membarrier() in tl_wait_sleep() closes exactly that window. Without
	 * membarrier we pay a real StoreLoad fence here.
	 */
	if (ring->conf.publish_fence)
		tl_fence_full();
	else
		atomic_signal_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed))
		tl_wait_wake_sleeper(w);
}

/* Free slots as far as the producer can prove, refreshing its cache of the head if needed. */
static inline uint64_t tl_ring_free_slots(tl_ring_t *ring, uint64_t want)
{
	uint64_t cap = ring->conf.capacity;
	uint64_t free_slots = cap - (ring->prod.tail - ring->prod.head_cache);

	if (free_slots < want) {
		/* P2: pairs with the consumer's release of head_pub (C2). */
		ring->prod.head_cache = atomic_load_explicit(&ring->head_pub, memory_order_acquire);
		free_slots = cap - (ring->prod.tail - ring->prod.head_cache);
	}
	return free_slots;
}

/* Readable slots as far as the consumer can prove, refreshing its cache of the tail. */
static inline uint64_t tl_ring_used_slots(tl_ring_t *ring, uint64_t want)
{
	uint64_t used = ring->cons.tail_cache - ring->cons.head;

	if (used < want) {
		/* C1: pairs with the producer's release of tail_pub (P1). */
		ring->cons.tail_cache = atomic_load_explicit(&ring->tail_pub, memory_order_acquire);
		used = ring->cons.tail_cache - ring->cons.head;
		/*
		 * Still empty. Once the consumer has polled an empty ring a few times in a row it
		 * is waiting, not streaming: prefetch the slot the next message will land in, so
		 * that the poll which finally sees the new tail finds that line already on its
		 * way instead of paying a second miss in series (measured: round trip 1.9x -> about
		 * 1.3x the bare-atomic floor). A streaming consumer must not do this: it would pull
		 * the line the producer is writing at that moment, and both sides would stall.
		 */
		if (used == 0) {
			/* Saturates: no wrap on a ring idle for hours, no store once armed. */
			if (ring->cons.empty_polls < TL_RING_PREFETCH_AFTER_POLLS)
				ring->cons.empty_polls++;
			if (ring->cons.empty_polls == TL_RING_PREFETCH_AFTER_POLLS)
				__builtin_prefetch(tl_ring_slot_at(ring, ring->cons.head), 0, 3);
		} else {
			ring->cons.empty_polls = 0;
		}
	}
	return used;
}

static inline bool tl_ring_try_push(tl_ring_t *ring, const void *msg)
{
	uint64_t tail = ring->prod.tail;

	if (tl_ring_free_slots(ring, 1) == 0)
		return false;
	tl_ring_copy(tl_ring_slot_at(ring, tail), msg, ring->conf.slot_size);
	ring->prod.tail = tail + 1;
	/* P1: publishes the slot just written; pairs with C1. */
	atomic_store_explicit(&ring->tail_pub, tail + 1, memory_order_release);
	tl_ring_notify(ring);
	return true;
}

static inline bool tl_ring_try_pop(tl_ring_t *ring, void *msg)
{
	uint64_t head = ring->cons.head;

	if (tl_ring_used_slots(ring, 1) == 0)
		return false;
	tl_ring_copy(msg, tl_ring_slot_at(ring, head), ring->conf.slot_size);
	ring->cons.head = head + 1;
	/* C2: hands the slot back; pairs with P2. */
	atomic_store_explicit(&ring->head_pub, head + 1, memory_order_release);
	return true;
}

static inline uint32_t tl_ring_reserve(tl_ring_t *ring, uint32_t want)
{
	uint64_t free_slots = tl_ring_free_slots(ring, want);

	return free_slots < want ? (uint32_t)free_slots : want;
}

static inline void *tl_ring_reserved_slot(tl_ring_t *ring, uint32_t i)
{
	return tl_ring_slot_at(ring, ring->prod.tail + i);
}

static inline void tl_ring_commit(tl_ring_t *ring, uint32_t count)
{
	uint64_t tail = ring->prod.tail + count;

	/* The producer may not publish past what the consumer freed: that would overwrite. */
	assert(tail - ring->prod.head_cache <= ring->conf.capacity);
	if (count == 0)
		return;
	ring->prod.tail = tail;
	/* P1 */
	atomic_store_explicit(&ring->tail_pub, tail, memory_order_release);
	tl_ring_notify(ring);
}

static inline uint32_t tl_ring_peek(tl_ring_t *ring, uint32_t want)
{
	uint64_t used = tl_ring_used_slots(ring, want);

	return used < want ? (uint32_t)used : want;
}

static inline const void *tl_ring_peeked_slot(tl_ring_t *ring, uint32_t i)
{
	return tl_ring_slot_at(ring, ring->cons.head + i);
}

static inline void tl_ring_release(tl_ring_t *ring, uint32_t count)
{
	uint64_t head = ring->cons.head + count;

	/* The consumer may not free slots it has not seen published. */
	assert(ring->cons.tail_cache - head <= ring->conf.capacity);
	if (count == 0)
		return;
	ring->cons.head = head;
	/* C2 */
	atomic_store_explicit(&ring->head_pub, head, memory_order_release);
}

static inline bool tl_ring_readable(tl_ring_t *ring)
{
	return tl_ring_used_slots(ring, 1) != 0;
}

#endif /* TL_RING_INLINE_H */
