/*
 * tl_ring_inline.h: bodies of the ring's hot-path calls. Not a contract: read tl_ring.h.
 * Included only from tl_ring.h.
 *
 * Memory orders, by pair:
 *   P1  producer's release store of a slot's sequence word  <->  C1 consumer's acquire
 *       load of that word. The slot's data, written before P1, is visible after C1.
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

/* The slot that position `pos` maps to: its sequence word, then (at data_off) its data. */
static inline uint8_t *tl_ring_slot_at(const tl_ring_t *ring, uint64_t pos)
{
	return ring->conf.slots + (size_t)(pos & ring->conf.mask) * ring->conf.stride;
}

static inline _Atomic uint64_t *tl_ring_seq(uint8_t *slot)
{
	return (_Atomic uint64_t *)slot;
}

/* A slot is readable once its word holds its position plus one (see tl_ring.h). */
static inline bool tl_ring_published(const tl_ring_t *ring, uint64_t pos)
{
	/* C1: pairs with the producer's release store of this word (P1). */
	return atomic_load_explicit(tl_ring_seq(tl_ring_slot_at(ring, pos)),
	                            memory_order_acquire) == pos + 1;
}

/*
 * The common slot sizes get a fixed-size copy the compiler turns into a few moves; others
 * call memcpy. GCC inlines this into callers whose buffer is, say, 8 bytes, and then warns
 * that the 64-byte branch would overrun it: it cannot know that slot_size, fixed at
 * creation, rules that branch out. The empty asm hides which object the pointers point
 * to from that check alone (it emits nothing). A pragma would not do: with LTO, the
 * warning comes at the link, where a header's pragmas no longer apply.
 */
static inline void tl_ring_copy(void *dst, const void *src, uint32_t size)
{
	if (size == 8) {
		memcpy(dst, src, 8);
	} else if (size == 64) {
#if defined(__GNUC__)
		__asm__("" : "+r"(dst), "+r"(src));
#endif
		memcpy(dst, src, 64);
	} else {
		memcpy(dst, src, size);
	}
}

/* After a publish: wake the consumer if it announced it is going to sleep (P3). */
static inline void tl_ring_notify(tl_ring_t *ring)
{
	tl_wait_t *w = ring->conf.waiter;

	/* Nothing published since the last notify: every older slot was covered by an earlier
	 * one, whose P3 load came after its P1 store. Waking a consumer for nothing costs it a
	 * sleep announcement (a membarrier: an IPI to every CPU running this process) and the
	 * producer a futex syscall, over and over when the producer notifies every round. */
	if (w == NULL || ring->prod.notified == ring->prod.tail)
		return;
	ring->prod.notified = ring->prod.tail;
	/*
	 * The load of `sleeping` must not move above the sequence-word store (P1). The signal
	 * fence stops the compiler; the CPU may still satisfy the load before the store drains,
	 * and the consumer's membarrier() in tl_wait_sleep() closes exactly that window.
	 * Without membarrier we pay a real StoreLoad fence here.
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

static inline bool tl_ring_try_push_quiet(tl_ring_t *ring, const void *msg)
{
	uint64_t tail = ring->prod.tail;
	uint8_t *slot;

	if (tl_ring_free_slots(ring, 1) == 0)
		return false;
	slot = tl_ring_slot_at(ring, tail);
	tl_ring_copy(slot + ring->conf.data_off, msg, ring->conf.slot_size);
	ring->prod.tail = tail + 1;
	/* P1: publishes the data just written; pairs with C1. P3 comes with the notify, at
	 * any later point of the producer's program order: see wait.c. */
	atomic_store_explicit(tl_ring_seq(slot), tail + 1, memory_order_release);
	return true;
}

static inline bool tl_ring_try_push(tl_ring_t *ring, const void *msg)
{
	if (!tl_ring_try_push_quiet(ring, msg))
		return false;
	tl_ring_notify(ring);
	return true;
}

static inline bool tl_ring_try_pop(tl_ring_t *ring, void *msg)
{
	uint64_t head = ring->cons.head;
	uint8_t *slot = tl_ring_slot_at(ring, head);

	/*
	 * A slot longer than a line (a 64-byte event sits on the line after its word) would
	 * cost a second miss after the word's. Asking for that line first lets both misses
	 * overlap.
	 */
	if (ring->conf.stride > 64)
		__builtin_prefetch(slot + 64, 0, 3);
	/* C1 */
	if (!tl_ring_published(ring, head))
		return false;
	/*
	 * The copy takes the slot's address afresh rather than reusing `slot`. Measured: with
	 * `slot` reused, 8-byte messages one at a time fell from ~420M to ~95M msgs/s on the
	 * bench machine, repeatably, though the pop got shorter. Presumably the quicker
	 * consumer catches up with the producer and keeps pulling the line being written; the
	 * VM exposes no PMU to confirm it. Recheck with `tally bench ring` before changing it.
	 */
	tl_ring_copy(msg, tl_ring_slot_at(ring, head) + ring->conf.data_off, ring->conf.slot_size);
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
	return tl_ring_slot_at(ring, ring->prod.tail + i) + ring->conf.data_off;
}

static inline void tl_ring_commit(tl_ring_t *ring, uint32_t count)
{
	uint64_t tail = ring->prod.tail;

	/* The producer may not publish past what the consumer freed: that would overwrite. */
	assert(tail + count - ring->prod.head_cache <= ring->conf.capacity);
	if (count == 0)
		return;
	/*
	 * In position order: peek relies on it, since a published word then implies that the
	 * data of every slot before it was written before it. A run stops at the end of the
	 * slot array, so that the inner loop is a bare store and add.
	 */
	uint64_t pos = tail, end = tail + count, capacity = ring->conf.capacity;
	size_t stride = ring->conf.stride;
	while (pos != end) {
		uint64_t i = pos & ring->conf.mask;
		uint64_t run_end = end - pos < capacity - i ? end : pos + (capacity - i);
		uint8_t *slot = ring->conf.slots + i * stride;

		for (; pos != run_end; pos++, slot += stride)
			/* P1 */
			atomic_store_explicit(tl_ring_seq(slot), pos + 1, memory_order_release);
	}
	ring->prod.tail = tail + count;
	tl_ring_notify(ring);
}

/*
 * How many slots from position `from` on, at most `max`, are published: the length of the
 * run of words that hold their position plus one. The pointer steps on its own and the
 * count is compared, not derived from the loaded word: otherwise the compiler may take
 * the next position from the word just loaded (they are equal), and each load then waits
 * for the one before it, which turns a burst of cache misses into a chain of them.
 */
static inline uint32_t tl_ring_scan(tl_ring_t *ring, uint64_t from, uint32_t max)
{
	uint8_t *first = ring->conf.slots;
	uint8_t *past = first + (size_t)ring->conf.capacity * ring->conf.stride;
	uint8_t *slot = tl_ring_slot_at(ring, from);
	uint32_t n = 0;

	/* C1: each load pairs with the release store of that word (P1). */
	while (n < max &&
	       atomic_load_explicit(tl_ring_seq(slot), memory_order_acquire) == from + n + 1) {
		n++;
		slot += ring->conf.stride;
		if (slot == past)
			slot = first;
	}
	return n;
}

static inline uint32_t tl_ring_peek(tl_ring_t *ring, uint32_t want)
{
	uint64_t head = ring->cons.head;
	uint64_t end = ring->cons.tail_cache;
	uint64_t n = want < ring->conf.capacity ? want : ring->conf.capacity;

	/* try_pop moves the head without touching tail_cache, which may lag behind it. */
	if ((int64_t)(end - head) < 0)
		end = head;
	/* Slots below `end` were seen published by an earlier peek: their words are not
	 * loaded again. */
	if (end - head < n) {
		/*
		 * Words are published in position order, each with a release store, so if the
		 * window's last word is published every slot before it is visible too: one load
		 * instead of one per slot when the producer is ahead. Otherwise scan up to the
		 * first unpublished word. C1.
		 */
		if (n - (end - head) > 1 && tl_ring_published(ring, head + n - 1))
			end = head + n;
		else
			end += tl_ring_scan(ring, end, (uint32_t)(n - (end - head)));
		ring->cons.tail_cache = end;
	}
	return end - head < want ? (uint32_t)(end - head) : want;
}

static inline const void *tl_ring_peeked_slot(tl_ring_t *ring, uint32_t i)
{
	return tl_ring_slot_at(ring, ring->cons.head + i) + ring->conf.data_off;
}

static inline void tl_ring_release(tl_ring_t *ring, uint32_t count)
{
	uint64_t head = ring->cons.head + count;

	if (count == 0)
		return;
	/* The consumer may not free slots it has not seen published by peek. Checked only
	 * for a real release: after pops, tail_cache may lag the head. */
	assert(ring->cons.tail_cache - head <= ring->conf.capacity);
	ring->cons.head = head;
	/* C2 */
	atomic_store_explicit(&ring->head_pub, head, memory_order_release);
}

static inline bool tl_ring_readable(tl_ring_t *ring)
{
	return tl_ring_published(ring, ring->cons.head); /* C1 */
}

static inline void tl_prefetch(const void *p, size_t len, bool write)
{
	uintptr_t line = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + len;

	for (; line < end; line += 64) {
		if (write)
			__builtin_prefetch((const void *)line, 1, 3);
		else
			__builtin_prefetch((const void *)line, 0, 3);
	}
}

static inline void tl_ring_prefetch_push(const tl_ring_t *ring)
{
	tl_prefetch(&ring->prod, sizeof(ring->prod), true);
	tl_prefetch(&ring->conf, sizeof(ring->conf), false);
	tl_prefetch(tl_ring_slot_at(ring, ring->prod.tail), ring->conf.stride, true);
}

static inline void tl_ring_prefetch_pop(const tl_ring_t *ring)
{
	tl_prefetch(&ring->cons, sizeof(ring->cons), true);
	tl_prefetch(&ring->conf, sizeof(ring->conf), false);
	tl_prefetch(tl_ring_slot_at(ring, ring->cons.head), ring->conf.stride, false);
}

#endif /* TL_RING_INLINE_H */
