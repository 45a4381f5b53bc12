/*
 * tl_ring.h: the single-producer single-consumer ring that connects tally's pinned threads,
 * and the idle strategies those threads run when they have nothing to do.
 *
 * This header is the contract of the rings module. The hot-path calls are `static inline`
 * (their bodies are in tl_ring_inline.h, included at the end) so that a push or a pop costs
 * a handful of instructions with no call; everything above that include is the contract.
 *
 * The model
 * ---------
 * A ring has `capacity` slots of `slot_size` bytes, both fixed at creation. The capacity is
 * a power of two. Exactly one producer thread and exactly one consumer thread use a ring;
 * which threads those are may change only across a happens-before edge (a thread join, a
 * mutex, or a ring message), never concurrently.
 *
 * The producer's position (tail) and the consumer's position (head) are 64-bit counters
 * that run freely: they never wrap in practice (2^64 messages at 10^9/s is 584 years), so
 * `tail - head` is always the number of readable slots and no slot is wasted.
 *
 * Each slot carries a sequence word next to its data, on the same cache line when the slot
 * is smaller than a line. The producer writes the data, then stores the slot's position
 * plus one into that word; the consumer polls the word of the slot it reads next and takes
 * the slot when it holds head + 1. The stored position tells laps apart, so a slot left
 * over from the previous lap never reads as new. A waiting consumer thus pays one cache
 * miss per message (the slot's line, data included) instead of two in series (a published
 * tail, then the slot), and a streaming consumer never touches a line of the producer's
 * other than the slots it consumes.
 *
 * Words are stored in position order, each with release semantics, so a published word
 * vouches for every slot before it too: that is what lets a batch read check one word for
 * a whole burst. A slot that spans more than one line (a 64-byte event sits on the line
 * after its word) would cost a second miss after the word's; tl_ring_try_pop() asks for
 * the second line while it polls the word, so that the two misses overlap.
 *
 * In the other direction the consumer publishes its head after each release, on a line of
 * its own; the producer keeps a cached copy and reads the published head only when that
 * cache says the ring is full. The fields each thread writes sit on their own 128-byte
 * lines (two 64-byte lines, because the adjacent-line prefetcher pulls pairs).
 *
 * Results, not errors
 * -------------------
 * "Full" and "empty" are ordinary results: try-calls return false, batch calls return 0.
 * Only creation can fail, with a negative errno.
 *
 * Blocking
 * --------
 * A consumer that wants to sleep when idle owns a `tl_wait_t` and attaches it to each ring
 * it consumes (tl_ring_set_waiter). A producer then checks, after each publish, one flag
 * that the sleeping consumer raised; while the consumer is awake that check is a load from
 * a line nobody writes, so it costs the producer no fence, no RMW and no syscall. The
 * consumer pays for correctness instead: before it sleeps it issues an asymmetric fence
 * (membarrier(2)), so a wake-up can never be lost. See wait.c for the proof sketch.
 */
#ifndef TL_RING_H
#define TL_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fields written by different threads are separated by this many bytes. */
#define TL_CACHE_PAIR 128

/* Largest slot a ring accepts, in bytes. Events are 64 bytes; this leaves room. */
#define TL_RING_SLOT_MAX 4096u

/* Largest capacity, in slots (2^30). Larger rings would not fit in any cache anyway. */
#define TL_RING_CAPACITY_MAX (1u << 30)

typedef struct tl_wait tl_wait_t;

/*
 * The ring. Its layout is public only so that the inline fast paths can reach it;
 * callers never touch its fields.
 */
typedef struct tl_ring {
	/* The producer's private line: its own position and its cache of the head. */
	alignas(TL_CACHE_PAIR) struct {
		uint64_t tail;       /* next slot to write; its sequence word is not stored yet */
		uint64_t head_cache; /* last head_pub seen; a lower bound of the true head */
		uint64_t notified; /* tail at the last tl_ring_notify: nothing newer to wake for */
	} prod;

	/* Written by the consumer only, read by the producer when its cache says full. */
	alignas(TL_CACHE_PAIR) _Atomic uint64_t head_pub;

	/* The consumer's private line: its own position and how far it has seen published. */
	alignas(TL_CACHE_PAIR) struct {
		uint64_t head;       /* next slot to read */
		uint64_t tail_cache; /* end of the run peek last saw published; may lag head */
	} cons;

	/* Set at creation, read-only afterwards: shared by both sides without traffic. */
	alignas(TL_CACHE_PAIR) struct {
		uint8_t *slots; /* slot i's sequence word is at slots + i * stride */
		uint64_t mask;
		uint32_t capacity;
		uint32_t slot_size; /* the caller's bytes per slot */
		uint32_t stride;    /* bytes per slot in memory: sequence word, data, padding */
		uint32_t data_off;  /* from a slot's sequence word to its data: 8, or 64 */
		tl_wait_t *waiter;  /* consumer's waiter, or NULL; set before the threads start */
		bool publish_fence; /* the waiter is fenced: the producer fences after publishing */
	} conf;
} tl_ring_t;

/*
 * Ring lifecycle
 * --------------
 * tl_ring_create() allocates a ring of `capacity` slots of `slot_size` bytes each, zeroed,
 * and stores it in *out. Each slot also holds its 8-byte sequence word: a slot takes
 * slot_size + 8 bytes rounded up to 16, 32 or 64 (so that it never straddles two lines),
 * or to a multiple of 64 when larger; a slot_size that is a multiple of 64 gets a line of
 * its own for the word, so that the data stays line-aligned (a 64-byte event takes 128).
 *
 * Returns 0, or:
 *   -EINVAL  capacity is zero, is not a power of two, or exceeds TL_RING_CAPACITY_MAX;
 *            or slot_size is zero, not a multiple of 8, or exceeds TL_RING_SLOT_MAX;
 *            or out is NULL. A bad capacity is never rounded.
 *   -ENOMEM  the allocation failed.
 * On error *out is left untouched.
 *
 * The caller owns the ring and releases it with tl_ring_destroy() once neither side uses
 * it any more. tl_ring_destroy(NULL) does nothing.
 *
 * Thread: any, before the producer and consumer start. Blocks: no (it allocates).
 */
int tl_ring_create(tl_ring_t **out, uint32_t capacity, uint32_t slot_size);
void tl_ring_destroy(tl_ring_t *ring);

/* The ring's fixed geometry. Thread: any. Blocks: no. */
static inline uint32_t tl_ring_capacity(const tl_ring_t *ring);
static inline uint32_t tl_ring_slot_size(const tl_ring_t *ring);

/*
 * Single-slot calls
 * -----------------
 * tl_ring_try_push() copies slot_size bytes from `msg` into the next slot and publishes it.
 * Returns true, or false when the ring is full (nothing is written).
 * Thread: the producer only. Blocks: never. If a waiter is attached and its consumer is
 * asleep, it wakes it (one futex syscall, only in that case).
 *
 * tl_ring_try_pop() copies the oldest slot's slot_size bytes into `msg` and frees the slot.
 * Returns true, or false when the ring is empty (`msg` is untouched).
 * Thread: the consumer only. Blocks: never.
 *
 * Memory passed in is the caller's and must hold slot_size bytes.
 */
static inline bool tl_ring_try_push(tl_ring_t *ring, const void *msg);
static inline bool tl_ring_try_pop(tl_ring_t *ring, void *msg);

/*
 * A publish now, its wake-up later
 * --------------------------------
 * tl_ring_try_push_quiet() is tl_ring_try_push() without the wake-up: the slot is published
 * at once (a consumer that is awake sees it), but a consumer asleep on its waiter sleeps on
 * until tl_ring_notify(). It is for a producer with something more urgent than a wake-up
 * syscall to do first: the strategy's ledger commands go out quietly, and the ledger is
 * woken once the orders they reserve for have left. The producer must call
 * tl_ring_notify() after its last quiet push and before it idles or blocks, or the slot can
 * wait for the consumer's next timeout.
 *
 * tl_ring_notify() wakes the ring's consumer if something was published since the last
 * notify and the consumer announced a sleep (one syscall, only then); otherwise it costs a
 * load or two. A producer may call it on every round of its loop: with nothing new, an
 * asleep consumer sleeps on (it was woken, or found the ring readable, for everything
 * older). Thread: the producer only. Blocks: never.
 */
static inline bool tl_ring_try_push_quiet(tl_ring_t *ring, const void *msg);
static inline void tl_ring_notify(tl_ring_t *ring);

/*
 * Batch calls: reserve N then commit; peek N then release
 * -------------------------------------------------------
 * These let a thread write or drain a burst in place, with no copy. Commit stores the
 * burst's sequence words in position order (a release store each: a plain store on x86).
 * Peek first loads the word of the last slot it could return: when the producer is that
 * far ahead, that one load covers the burst; otherwise it reads the words up to the first
 * unpublished one, which sit on the lines it is about to read anyway.
 *
 * tl_ring_reserve() returns how many slots, at most `want`, are free for writing now
 * (0 when full). The producer then fills slot i (0 <= i < returned count) through the
 * pointer tl_ring_reserved_slot(ring, i), and publishes the first k of them, in order,
 * with tl_ring_commit(ring, k). Reserving again before committing returns the same slots.
 * Committing more than was reserved is a bug and trips an assertion.
 *
 * tl_ring_peek() returns how many slots, at most `want`, are readable now (0 when empty).
 * The consumer reads slot i through tl_ring_peeked_slot(ring, i), which stays valid until
 * it releases that slot; tl_ring_release(ring, k) frees the first k and publishes the head
 * once. Releasing more than was peeked is a bug and trips an assertion.
 *
 * Slot pointers are aligned to 8 bytes (64 when slot_size is a multiple of 64) and point
 * into memory the ring owns.
 *
 * Thread: reserve/reserved_slot/commit by the producer only; peek/peeked_slot/release by
 * the consumer only. Blocks: never; commit may wake a sleeping consumer, as a push does.
 */
static inline uint32_t tl_ring_reserve(tl_ring_t *ring, uint32_t want);
static inline void *tl_ring_reserved_slot(tl_ring_t *ring, uint32_t i);
static inline void tl_ring_commit(tl_ring_t *ring, uint32_t count);
static inline uint32_t tl_ring_peek(tl_ring_t *ring, uint32_t want);
static inline const void *tl_ring_peeked_slot(tl_ring_t *ring, uint32_t i);
static inline void tl_ring_release(tl_ring_t *ring, uint32_t count);

/*
 * tl_ring_readable() tells the consumer whether at least one slot is readable: it reads
 * the sequence word of the next slot. Thread: the consumer only. Blocks: never.
 */
static inline bool tl_ring_readable(tl_ring_t *ring);

/*
 * Prefetch hints for a thread's idle rounds: the slot the next push writes, with the
 * producer's own line (tl_ring_prefetch_push), or the slot the next pop reads, with the
 * consumer's (tl_ring_prefetch_pop). Between events tens of milliseconds apart, other work
 * on a shared machine evicts them, and each miss then falls on the next event's path.
 * Hints only: nothing is read into the program or written. Thread: the producer / the
 * consumer. Blocks: never.
 */
static inline void tl_ring_prefetch_push(const tl_ring_t *ring);
static inline void tl_ring_prefetch_pop(const tl_ring_t *ring);

/*
 * Waiters: how a consumer sleeps until any of its rings has data
 * ---------------------------------------------------------------
 * A waiter belongs to one consuming thread and watches up to TL_WAIT_RINGS_MAX rings.
 *
 * tl_wait_init() prepares `w` and registers the process for private expedited membarrier.
 * Returns 0, or -ENOSYS when the kernel lacks membarrier; the waiter then still works,
 * but producers pay a full fence per publish on rings attached to it (a fallback; tally
 * logs it once at start-up).
 *
 * tl_wait_init_fenced() prepares `w` the other way round: its producers pay a full fence
 * on every notify, and its consumer's sleep costs no membarrier(2), which interrupts every
 * CPU that runs a thread of the process. Never fails. Every waiter in tally is fenced: a
 * consumer that sleeps often (the ledger sleeps after nearly every batch) would otherwise
 * interrupt the hot threads as often, and on a virtual machine each such IPI costs the CPU
 * that takes it tens of microseconds, where a fence costs the producer tens of
 * nanoseconds. tl_wait_init() suits a consumer that rarely sleeps, on a machine where IPIs
 * are cheap.
 *
 * tl_ring_set_waiter() attaches `w` to `ring` so the ring's producer wakes w's thread.
 * Returns 0, or -ENOSPC when w already watches TL_WAIT_RINGS_MAX rings, or -EBUSY when the
 * ring already has a waiter. Thread: any, before the ring's producer and consumer start.
 *
 * tl_wait_sleep() puts the calling consumer to sleep until a producer publishes into one
 * of w's rings, tl_wait_wake() is called, or `timeout_ns` passes (a negative timeout means
 * none). It returns at once when a watched ring is already readable. Returns 1 when it
 * slept and was woken, 0 when it did not sleep or timed out. Spurious returns are allowed:
 * callers re-check their rings. Thread: w's consumer only. Blocks: yes, in futex(2).
 *
 * tl_wait_wake() wakes w's consumer if it sleeps, for a reason outside the rings (shutdown,
 * a timer, an admin command). Thread: any. Blocks: no.
 *
 * A consumer that sleeps somewhere else (an io thread waits in io_uring, for its sockets
 * and its rings at once) calls tl_wait_open_eventfd() before the producers start: the
 * waiter gets an eventfd (w->wake_fd), producers then wake it by writing 1 to that fd
 * instead of through the futex, and the consumer keeps a read of the fd in its wait.
 * Returns 0 or the negative errno of eventfd(2). Around each of its sleeps the consumer
 * calls tl_wait_announce(), which returns false when a watched ring is already readable
 * (then it must not sleep), and tl_wait_settle() once awake (always, whatever announce
 * returned). tl_wait_close() closes the fd: only once no thread can wake w any more (every
 * producer and waker joined), since a write to a closed fd could reach a reused one.
 * Thread: w's consumer (open: any, before the threads). Blocks: no (announce costs one
 * membarrier(2)).
 */
#define TL_WAIT_RINGS_MAX 8

struct tl_wait {
	/* Raised by the consumer just before it sleeps; read by every producer after publishing.
	 * Alone on its line so that, while the consumer is awake, producers only ever hit it
	 * in their own caches. */
	alignas(TL_CACHE_PAIR) _Atomic uint32_t sleeping;

	/* The futex word: bumped by whoever wakes the consumer. */
	alignas(TL_CACHE_PAIR) _Atomic uint32_t wake_seq;

	/* Counters for the consumer thread and tests; written only by that thread. */
	alignas(TL_CACHE_PAIR) _Atomic uint64_t sleeps; /* times it actually slept */
	tl_ring_t *rings[TL_WAIT_RINGS_MAX];
	uint32_t ring_count;
	bool publish_fence; /* fenced, or membarrier(2) was unavailable at tl_wait_init() */
	int wake_fd;        /* an eventfd the consumer waits on, or -1: the futex */
};

int tl_wait_init(tl_wait_t *w);
void tl_wait_init_fenced(tl_wait_t *w);
int tl_ring_set_waiter(tl_ring_t *ring, tl_wait_t *w);
int tl_wait_sleep(tl_wait_t *w, int64_t timeout_ns);
void tl_wait_wake(tl_wait_t *w);
int tl_wait_open_eventfd(tl_wait_t *w);
void tl_wait_close(tl_wait_t *w);
bool tl_wait_announce(tl_wait_t *w);
void tl_wait_settle(tl_wait_t *w);

/*
 * Idle strategies: what an agent's loop does after a do_work() that found nothing
 * --------------------------------------------------------------------------------
 *   TL_IDLE_SPIN   busy-spin with the CPU's pause hint. Lowest latency; owns a core.
 *   TL_IDLE_YIELD  spin `spins` times, then sched_yield(2) on every idle round. Shares a
 *                  core politely; a fine default when threads outnumber cores.
 *   TL_IDLE_BLOCK  spin, then yield `yields` times, then tl_wait_sleep() on the waiter.
 *                  Costs nothing while idle; waking costs a futex round trip.
 *
 * tl_idle_init() sets up `idle`. `w` is required for TL_IDLE_BLOCK, ignored otherwise.
 * Returns 0 or -EINVAL (unknown kind, or BLOCK without a waiter).
 *
 * tl_idle_run() is called once per agent loop with the work the loop just did: any work
 * resets the back-off; no work advances it one step. `sleep_ns` bounds a block-phase
 * sleep (negative: until woken), so an agent with a tick clock still ticks.
 * Thread: the owning agent only. Blocks: per the strategy.
 */
typedef enum tl_idle_kind {
	TL_IDLE_SPIN = 1,
	TL_IDLE_YIELD = 2,
	TL_IDLE_BLOCK = 3,
} tl_idle_kind_t;

typedef struct tl_idle {
	tl_idle_kind_t kind;
	uint32_t spins;  /* idle rounds spent spinning before the next phase */
	uint32_t yields; /* idle rounds spent yielding before blocking */
	uint32_t round;  /* idle rounds since the last work */
	tl_wait_t *wait;
} tl_idle_t;

int tl_idle_init(tl_idle_t *idle, tl_idle_kind_t kind, tl_wait_t *w);
void tl_idle_run(tl_idle_t *idle, int work_count, int64_t sleep_ns);

/* Parses "spin", "yield" or "block". Returns the kind, or 0 for anything else. */
tl_idle_kind_t tl_idle_kind_parse(const char *name);
const char *tl_idle_kind_name(tl_idle_kind_t kind);

/*
 * Pinning: agents run on cores chosen from config
 * -----------------------------------------------
 * tl_cpus_allowed() writes up to `max` CPU numbers this process may run on (its affinity
 * mask, in ascending order) into `cpus` and returns how many there are, or a negative
 * errno. tl_thread_pin_self() pins the calling thread to one CPU; returns 0, -EINVAL for a
 * CPU outside the affinity mask, or another negative errno from the kernel.
 * tl_thread_name_self() names the calling thread (its /proc comm, what top -H, ps -L and
 * perf show): at most 15 bytes are kept, a longer name is cut. Returns 0 or a negative
 * errno. Each thread of the engine and the ledger names itself "tally-..." as it starts.
 * Thread: any. Blocks: no.
 */
int tl_cpus_allowed(int *cpus, int max);
int tl_thread_pin_self(int cpu);
int tl_thread_name_self(const char *name);

/* The CPU's spin-wait hint (PAUSE on x86, YIELD on arm64). */
static inline void tl_cpu_relax(void);

/* Asks the CPU to bring [p, p + len) into its cache, for writing when `write` (PREFETCHW
 * on x86). A hint: p need not be mapped, and nothing is read or written. */
static inline void tl_prefetch(const void *p, size_t len, bool write);

#include "tl_ring_inline.h"

#endif /* TL_RING_H */
