/* Unit tests of the SPSC ring on one thread: geometry, empty, full, wrap, batch edges;
 * and the thread helpers beside it (names). */
#include "tl_event.h"
#include "tl_ring.h"
#include "tl_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void test_bad_geometry(void)
{
	tl_ring_t *r = (tl_ring_t *)0x1; /* must stay untouched on error */
	static const uint32_t bad_caps[] = {0, 3, 5, 6, 12, 1000, 4097, 0x80000001u, 1u << 31};

	for (size_t i = 0; i < sizeof(bad_caps) / sizeof(bad_caps[0]); i++) {
		CHECK_EQ(tl_ring_create(&r, bad_caps[i], 8), -EINVAL);
		CHECK(r == (tl_ring_t *)0x1);
	}
	CHECK_EQ(tl_ring_create(&r, 8, 0), -EINVAL);
	CHECK_EQ(tl_ring_create(&r, 8, 12), -EINVAL);
	CHECK_EQ(tl_ring_create(&r, 8, TL_RING_SLOT_MAX + 8), -EINVAL);
	CHECK_EQ(tl_ring_create(NULL, 8, 8), -EINVAL);
	CHECK(r == (tl_ring_t *)0x1);

	/* A capacity of one is a power of two: a valid ring of a single slot. */
	CHECK_EQ(tl_ring_create(&r, 1, 8), 0);
	CHECK_EQ(tl_ring_capacity(r), 1);
	CHECK_EQ(tl_ring_slot_size(r), 8);
	uint64_t v = 7, out = 0;
	CHECK(tl_ring_try_push(r, &v));
	CHECK(!tl_ring_try_push(r, &v));
	CHECK(tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 7);
	CHECK(!tl_ring_try_pop(r, &out));
	tl_ring_destroy(r);
	tl_ring_destroy(NULL);
}

static void test_empty_and_full(void)
{
	tl_ring_t *r;
	uint64_t v, out = 12345;

	CHECK_EQ(tl_ring_create(&r, 16, 8), 0);
	tl_ring_prefetch_pop(r);
	tl_prefetch(NULL, 4096, true); /* a hint: an unmapped address does not fault */
	CHECK(!tl_ring_readable(r));
	CHECK(!tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 12345); /* an empty pop leaves the buffer alone */
	CHECK_EQ(tl_ring_peek(r, 4), 0);

	for (v = 0; v < 16; v++)
		CHECK(tl_ring_try_push(r, &v));
	v = 99;
	CHECK(!tl_ring_try_push(r, &v));
	CHECK_EQ(tl_ring_reserve(r, 1), 0);
	CHECK(tl_ring_readable(r));
	CHECK_EQ(tl_ring_peek(r, 100), 16);

	/* One pop makes exactly one slot free again. */
	CHECK(tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 0);
	CHECK_EQ(tl_ring_reserve(r, 8), 1);
	v = 16;
	CHECK(tl_ring_try_push(r, &v));
	CHECK(!tl_ring_try_push(r, &v));
	for (uint64_t want = 1; want <= 16; want++) {
		CHECK(tl_ring_try_pop(r, &out));
		CHECK_EQ(out, want);
	}
	CHECK(!tl_ring_try_pop(r, &out));
	tl_ring_destroy(r);
}

/* Many laps around a small ring with uneven push/pop runs keep FIFO order. */
static void test_wrap_around(void)
{
	tl_ring_t *r;
	uint64_t next_in = 0, next_out = 0, out;
	unsigned rng = 1;

	CHECK_EQ(tl_ring_create(&r, 8, 8), 0);
	while (next_out < 100000) {
		rng = rng * 1103515245u + 12345u;
		unsigned pushes = (rng >> 16) % 9, pops = (rng >> 8) % 9;
		/* The idle rounds' hints, at every position and fill: they change nothing. */
		tl_ring_prefetch_push(r);
		tl_ring_prefetch_pop(r);
		for (unsigned i = 0; i < pushes; i++) {
			if (!tl_ring_try_push(r, &next_in)) {
				CHECK_EQ(next_in - next_out, 8);
				break;
			}
			next_in++;
		}
		for (unsigned i = 0; i < pops; i++) {
			if (!tl_ring_try_pop(r, &out)) {
				CHECK_EQ(next_in, next_out);
				break;
			}
			CHECK_EQ(out, next_out);
			next_out++;
		}
	}
	tl_ring_destroy(r);
}

static void test_batch_edges(void)
{
	tl_ring_t *r;

	CHECK_EQ(tl_ring_create(&r, 8, 8), 0);
	CHECK_EQ(tl_ring_reserve(r, 0), 0);
	CHECK_EQ(tl_ring_reserve(r, 100), 8); /* never more than capacity */
	tl_ring_commit(r, 0);                 /* committing nothing publishes nothing */
	CHECK(!tl_ring_readable(r));

	/* Reserving twice before committing hands out the same slots. */
	CHECK_EQ(tl_ring_reserve(r, 3), 3);
	uint64_t *a = tl_ring_reserved_slot(r, 0);
	CHECK_EQ(tl_ring_reserve(r, 3), 3);
	CHECK(a == tl_ring_reserved_slot(r, 0));
	for (uint32_t i = 0; i < 3; i++)
		*(uint64_t *)tl_ring_reserved_slot(r, i) = 100 + i;
	tl_ring_commit(r, 2); /* publish only the first two */
	CHECK_EQ(tl_ring_peek(r, 8), 2);

	/* The uncommitted third slot is reserved again, at the same place. */
	CHECK_EQ(tl_ring_reserve(r, 8), 6);
	CHECK_EQ(*(uint64_t *)tl_ring_reserved_slot(r, 0), 102);
	for (uint32_t i = 0; i < 6; i++)
		*(uint64_t *)tl_ring_reserved_slot(r, i) = 102 + i;
	tl_ring_commit(r, 6);
	CHECK_EQ(tl_ring_reserve(r, 1), 0);

	/* Peek a burst, release part of it, and the rest is still there in order. */
	CHECK_EQ(tl_ring_peek(r, 100), 8);
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ(*(const uint64_t *)tl_ring_peeked_slot(r, i), 100 + i);
	tl_ring_release(r, 0);
	CHECK_EQ(tl_ring_peek(r, 3), 3);
	tl_ring_release(r, 3);
	CHECK_EQ(tl_ring_peek(r, 100), 5);
	CHECK_EQ(*(const uint64_t *)tl_ring_peeked_slot(r, 0), 103);

	/* A batch that straddles the end of the slot array: slots 5..7 then 0..2. */
	CHECK_EQ(tl_ring_reserve(r, 8), 3);
	for (uint32_t i = 0; i < 3; i++)
		*(uint64_t *)tl_ring_reserved_slot(r, i) = 108 + i;
	tl_ring_commit(r, 3);
	uint64_t out;
	for (uint64_t want = 103; want <= 110; want++) {
		CHECK(tl_ring_try_pop(r, &out));
		CHECK_EQ(out, want);
	}
	CHECK_EQ(tl_ring_peek(r, 1), 0);
	tl_ring_destroy(r);
}

static void test_event_slots(void)
{
	tl_ring_t *r;
	tl_event_t ev, out;

	CHECK_EQ(sizeof(tl_event_t), 64);
	CHECK_EQ(tl_ring_create(&r, 4, sizeof(tl_event_t)), 0);
	CHECK_EQ(((uintptr_t)tl_ring_reserved_slot(r, 0)) % 64, 0);
	for (int lap = 0; lap < 10; lap++) {
		for (uint64_t i = 0; i < 4; i++) {
			memset(&ev, 0, sizeof(ev));
			ev.type = TL_EV_SEQ;
			ev.ts_origin_ns = tl_mono_ns();
			ev.payload.seq.seq = (uint64_t)lap * 4 + i;
			ev.payload.seq.check = ~ev.payload.seq.seq;
			CHECK(tl_ring_try_push(r, &ev));
		}
		for (uint64_t i = 0; i < 4; i++) {
			CHECK(tl_ring_try_pop(r, &out));
			CHECK_EQ(out.type, TL_EV_SEQ);
			CHECK_EQ(out.payload.seq.seq, (uint64_t)lap * 4 + i);
			CHECK_EQ(out.payload.seq.check, ~out.payload.seq.seq);
		}
	}
	tl_ring_destroy(r);
}

/*
 * Every slot size keeps its data apart from the sequence words and from its neighbours,
 * and aligned as tl_ring.h promises: fill every slot with a pattern through the batch
 * calls, lap after lap, and read each back whole through the single-slot calls.
 */
static void test_slot_sizes(void)
{
	static const uint32_t sizes[] = {
	    8, 16, 24, 32, 40, 48, 56, 64, 72, 120, 128, 160, 192, 336, TL_RING_SLOT_MAX};
	static uint8_t out[TL_RING_SLOT_MAX];

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t size = sizes[s];
		tl_ring_t *r;

		CHECK_EQ(tl_ring_create(&r, 4, size), 0);
		CHECK_EQ(tl_ring_slot_size(r), size);
		for (uint32_t lap = 0; lap < 3; lap++) {
			CHECK_EQ(tl_ring_reserve(r, 4), 4);
			for (uint32_t i = 0; i < 4; i++) {
				uint8_t *slot = tl_ring_reserved_slot(r, i);
				CHECK(((uintptr_t)slot) % (size % 64 == 0 ? 64 : 8) == 0);
				memset(slot, (int)(lap * 4 + i + 1), size);
			}
			tl_ring_commit(r, 4);
			for (uint32_t i = 0; i < 4; i++) {
				CHECK(tl_ring_try_pop(r, out));
				for (uint32_t b = 0; b < size; b++)
					CHECK_EQ(out[b], lap * 4 + i + 1);
			}
			CHECK(!tl_ring_readable(r));
		}
		tl_ring_destroy(r);
	}
}

/* The single-slot and batch calls mix on one ring, on either side, in any order. */
static void test_mixed_calls(void)
{
	tl_ring_t *r;
	uint64_t v, out;

	CHECK_EQ(tl_ring_create(&r, 8, 8), 0);
	/* Pushed one at a time, drained by peek: all of them, then part. Asking for one more
	 * than is published finds the window's edge. */
	for (v = 0; v < 4; v++)
		CHECK(tl_ring_try_push(r, &v));
	CHECK_EQ(tl_ring_peek(r, 5), 4);
	CHECK(tl_ring_try_push(r, &v));
	CHECK_EQ(tl_ring_peek(r, 100), 5);
	CHECK_EQ(tl_ring_peek(r, 2), 2);
	tl_ring_release(r, 2);
	/* A pop after a peek takes the next slot; a peek after pops starts from the head. */
	CHECK(tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 2);
	CHECK(tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 3);
	CHECK_EQ(tl_ring_peek(r, 8), 1);
	CHECK_EQ(*(const uint64_t *)tl_ring_peeked_slot(r, 0), 4);
	tl_ring_release(r, 0); /* releasing nothing is allowed even after pops */
	CHECK(tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 4);
	CHECK_EQ(tl_ring_peek(r, 8), 0);
	tl_ring_release(r, 0);

	/* Committed in a batch, then pushed singly behind it, popped singly across both. */
	CHECK_EQ(tl_ring_reserve(r, 6), 6);
	for (uint32_t i = 0; i < 6; i++)
		*(uint64_t *)tl_ring_reserved_slot(r, i) = 10 + i;
	tl_ring_commit(r, 6);
	v = 16;
	CHECK(tl_ring_try_push(r, &v));
	v = 17;
	CHECK(tl_ring_try_push(r, &v));
	CHECK(!tl_ring_try_push(r, &v));
	CHECK_EQ(tl_ring_peek(r, 3), 3);
	CHECK_EQ(tl_ring_peek(r, 8), 8); /* the whole ring, across the wrap */
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ(*(const uint64_t *)tl_ring_peeked_slot(r, i), 10 + i);
	tl_ring_release(r, 3);
	for (v = 13; v < 18; v++) {
		CHECK(tl_ring_try_pop(r, &out));
		CHECK_EQ(out, v);
	}
	CHECK(!tl_ring_try_pop(r, &out));
	CHECK_EQ(tl_ring_peek(r, 1), 0);
	tl_ring_destroy(r);
}

static void test_waiter_setup(void)
{
	tl_wait_t w;
	tl_ring_t *rings[TL_WAIT_RINGS_MAX + 1];
	tl_idle_t idle;

	tl_wait_init(&w);
	for (int i = 0; i <= TL_WAIT_RINGS_MAX; i++)
		CHECK_EQ(tl_ring_create(&rings[i], 4, 8), 0);
	for (int i = 0; i < TL_WAIT_RINGS_MAX; i++)
		CHECK_EQ(tl_ring_set_waiter(rings[i], &w), 0);
	CHECK_EQ(tl_ring_set_waiter(rings[0], &w), -EBUSY);
	CHECK_EQ(tl_ring_set_waiter(rings[TL_WAIT_RINGS_MAX], &w), -ENOSPC);

	/* Nothing readable: a timed sleep returns after its timeout, without being woken. */
	int64_t t0 = tl_mono_ns();
	CHECK_EQ(tl_wait_sleep(&w, 2000000), 0);
	CHECK(tl_mono_ns() - t0 >= 1000000);
	CHECK_EQ(atomic_load(&w.sleeping), 0);

	/* A readable ring means no sleep at all, however long the timeout. */
	uint64_t v = 1;
	CHECK(tl_ring_try_push(rings[5], &v));
	CHECK_EQ(tl_wait_sleep(&w, -1), 0);

	CHECK_EQ(tl_idle_init(&idle, TL_IDLE_BLOCK, NULL), -EINVAL);
	CHECK_EQ(tl_idle_init(&idle, (tl_idle_kind_t)42, &w), -EINVAL);
	CHECK_EQ(tl_idle_init(&idle, TL_IDLE_BLOCK, &w), 0);
	/* Idle rounds on a non-empty ring set never block: spin, yield, then the sleep
	 * returns at once because rings[5] is readable. */
	for (int i = 0; i < 200; i++)
		tl_idle_run(&idle, 0, -1);
	CHECK_EQ(tl_idle_kind_parse("spin"), TL_IDLE_SPIN);
	CHECK_EQ(tl_idle_kind_parse("yield"), TL_IDLE_YIELD);
	CHECK_EQ(tl_idle_kind_parse("block"), TL_IDLE_BLOCK);
	CHECK_EQ(tl_idle_kind_parse("nap"), 0);
	for (int i = 0; i <= TL_WAIT_RINGS_MAX; i++)
		tl_ring_destroy(rings[i]);
}

/* A notify wakes an asleep consumer only for what was published since the previous one: a
 * producer that notifies every round of its loop must not wake it for nothing. */
static void test_notify_only_new(void)
{
	tl_wait_t w;
	tl_ring_t *r;
	uint64_t v = 7, out, seq;

	tl_wait_init(&w);
	CHECK_EQ(tl_ring_create(&r, 4, 8), 0);
	CHECK_EQ(tl_ring_set_waiter(r, &w), 0);

	CHECK(tl_wait_announce(&w)); /* the consumer is about to sleep: nothing readable */
	seq = atomic_load(&w.wake_seq);
	tl_ring_notify(r); /* nothing ever published */
	CHECK_EQ(atomic_load(&w.sleeping), 1);
	CHECK_EQ(atomic_load(&w.wake_seq), seq);

	CHECK(tl_ring_try_push_quiet(r, &v));
	CHECK_EQ(atomic_load(&w.sleeping), 1); /* quiet: not yet */
	tl_ring_notify(r);
	CHECK_EQ(atomic_load(&w.sleeping), 0); /* woken for it */
	CHECK(atomic_load(&w.wake_seq) > seq);
	tl_wait_settle(&w);

	CHECK(tl_ring_try_pop(r, &out));
	CHECK_EQ(out, 7);
	CHECK(tl_wait_announce(&w));
	seq = atomic_load(&w.wake_seq);
	for (int i = 0; i < 3; i++)
		tl_ring_notify(r); /* that slot was notified already */
	CHECK_EQ(atomic_load(&w.sleeping), 1);
	CHECK_EQ(atomic_load(&w.wake_seq), seq);

	CHECK(tl_ring_try_push(r, &v)); /* a push notifies by itself */
	CHECK_EQ(atomic_load(&w.sleeping), 0);
	CHECK(atomic_load(&w.wake_seq) > seq);
	tl_wait_settle(&w);

	CHECK(tl_wait_announce(&w) == false); /* readable: no sleep */
	tl_wait_settle(&w);
	tl_ring_destroy(r);
}

/* The calling thread's name as the kernel keeps it (what ps -L shows). */
static void read_comm(char *out, size_t n)
{
	FILE *f = fopen("/proc/thread-self/comm", "re");

	CHECK(f != NULL);
	CHECK(fgets(out, (int)n, f) != NULL);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

static void test_thread_name(void)
{
	char comm[64];

	CHECK_EQ(tl_thread_name_self("tally-test"), 0);
	read_comm(comm, sizeof(comm));
	CHECK(strcmp(comm, "tally-test") == 0);
	/* Longer than the kernel keeps: cut to 15 bytes, not refused. */
	CHECK_EQ(tl_thread_name_self("tally-0123456789abcdef"), 0);
	read_comm(comm, sizeof(comm));
	CHECK(strcmp(comm, "tally-012345678") == 0);
	CHECK_EQ(tl_thread_name_self(NULL), -EINVAL);
}

int main(void)
{
	test_bad_geometry();
	test_empty_and_full();
	test_wrap_around();
	test_batch_edges();
	test_event_slots();
	test_slot_sizes();
	test_mixed_calls();
	test_waiter_setup();
	test_notify_only_new();
	test_thread_name();
	printf("ring unit: ok\n");
	return 0;
}
