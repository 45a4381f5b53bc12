/*
 * wait.c: sleeping consumers and the idle strategies.
 *
 * DESIGN: why a wake-up cannot be lost
 * ------------------------------------
 * Consumer (tl_wait_sleep)                 Producer (publish, then tl_ring_notify)
 *   s1  seq = wake_seq                       p1  slot t's word = t + 1 (release)
 *   s2  sleeping = 1                         p2  compiler barrier
 *   s3  membarrier(PRIVATE_EXPEDITED)        p3  if (sleeping)       (relaxed)
 *   s4  if any ring readable: return               wake: sleeping = 0, wake_seq++,
 *   s5  futex_wait(&wake_seq, seq)                       futex_wake
 *
 * membarrier() makes every running thread of the process execute a full barrier before
 * it returns. So either the producer's p1 was globally visible before that barrier, and
 * s4 sees the slot, or the producer's p3 runs after it, and p3 sees s2. In the second case
 * the producer bumps wake_seq after s1, so s5 either returns at once (the kernel compares
 * the word atomically) or is woken by futex_wake. The cost sits on the side that is about
 * to sleep anyway; the producer's p3 is a load from a line that stays in its cache while
 * the consumer is awake.
 *
 * p1 is the store of a slot's sequence word (tl_ring_inline.h), and s4 loads the word of
 * the slot at the consumer's head. A commit stores several words, the head's among them,
 * all before its single p3 in program order, so the argument covers each of them.
 *
 * With an eventfd (tl_wait_open_eventfd), s1 and s5 are the consumer's own: it keeps a read
 * of the fd posted in its io_uring and waits there; the wake is a write to the fd. The
 * counter holds a write made before the wait starts, so the read completes at once and
 * that wake cannot be lost either.
 *
 * When membarrier is unavailable, producers use a seq_cst fence at p2 and the consumer a
 * seq_cst fence at s3: the classic Dekker pairing.
 */
#include "tl_ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int membarrier_state; /* 0 unknown, 1 registered, -1 unavailable */

static int membarrier_register(void)
{
	/* Registration is process-wide and idempotent; racing callers agree on the result. */
	int state = __atomic_load_n(&membarrier_state, __ATOMIC_ACQUIRE);

	if (state != 0)
		return state;
	long mask = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (mask >= 0 && (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		state = 1;
	else
		state = -1;
	__atomic_store_n(&membarrier_state, state, __ATOMIC_RELEASE);
	return state;
}

static void wait_init_common(tl_wait_t *w)
{
	memset(w, 0, sizeof(*w));
	atomic_init(&w->sleeping, 0);
	atomic_init(&w->wake_seq, 0);
	atomic_init(&w->sleeps, 0);
	w->wake_fd = -1;
}

int tl_wait_init(tl_wait_t *w)
{
	wait_init_common(w);
	if (membarrier_register() < 0) {
		w->publish_fence = true;
		return -ENOSYS;
	}
	return 0;
}

void tl_wait_init_fenced(tl_wait_t *w)
{
	wait_init_common(w);
	w->publish_fence = true;
}

int tl_ring_set_waiter(tl_ring_t *ring, tl_wait_t *w)
{
	if (ring->conf.waiter != NULL)
		return -EBUSY;
	if (w->ring_count == TL_WAIT_RINGS_MAX)
		return -ENOSPC;
	w->rings[w->ring_count++] = ring;
	ring->conf.waiter = w;
	ring->conf.publish_fence = w->publish_fence;
	return 0;
}

/* Wakes the consumer where it sleeps: in futex_wait on wake_seq, or on its eventfd. */
static void wake_consumer(tl_wait_t *w)
{
	if (w->wake_fd >= 0) {
		uint64_t one = 1;

		/* Can only fail with EAGAIN, when the counter is already huge: awake anyway. */
		ssize_t n = write(w->wake_fd, &one, sizeof(one));

		(void)n;
		return;
	}
	syscall(SYS_futex, (uint32_t *)&w->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int tl_wait_open_eventfd(tl_wait_t *w)
{
	if (w->wake_fd >= 0)
		return -EBUSY;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return w->wake_fd < 0 ? -errno : 0;
}

void tl_wait_close(tl_wait_t *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->wake_fd = -1;
}

void tl_wait_wake_sleeper(tl_wait_t *w)
{
	/* Of several producers that saw `sleeping`, only the one that clears it pays the
	 * syscall. The exchange is acq_rel so the wake_seq bump cannot move above it. */
	if (atomic_exchange_explicit(&w->sleeping, 0, memory_order_acq_rel) == 0)
		return;
	atomic_fetch_add_explicit(&w->wake_seq, 1, memory_order_release);
	wake_consumer(w);
}

void tl_wait_wake(tl_wait_t *w)
{
	atomic_fetch_add_explicit(&w->wake_seq, 1, memory_order_release);
	wake_consumer(w);
}

static bool any_ring_readable(tl_wait_t *w)
{
	for (uint32_t i = 0; i < w->ring_count; i++)
		if (tl_ring_readable(w->rings[i]))
			return true;
	return false;
}

/* s2 to s4 of the DESIGN note: true when nothing is readable and the caller may sleep. */
bool tl_wait_announce(tl_wait_t *w)
{
	/* s2 */
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	/* s3: see the DESIGN note above. */
	if (w->publish_fence)
		tl_fence_full();
	else
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	/* s4 */
	return !any_ring_readable(w);
}

void tl_wait_settle(tl_wait_t *w)
{
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

int tl_wait_sleep(tl_wait_t *w, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	uint32_t seq;
	long rc;

	/* s1: read the futex word before announcing, so any later bump is noticed. */
	seq = atomic_load_explicit(&w->wake_seq, memory_order_acquire);
	if (!tl_wait_announce(w)) {
		tl_wait_settle(w);
		return 0;
	}
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	/* s5 */
	rc = syscall(SYS_futex, (uint32_t *)&w->wake_seq, FUTEX_WAIT_PRIVATE, seq, tsp, NULL, 0);
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
	if (rc == 0) {
		atomic_store_explicit(&w->sleeps,
		                      atomic_load_explicit(&w->sleeps, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		return 1;
	}
	/* EAGAIN: the word moved between s1 and s5, i.e. we were woken before sleeping.
	 * ETIMEDOUT and EINTR: the caller re-checks its work either way. */
	return 0;
}

int tl_idle_init(tl_idle_t *idle, tl_idle_kind_t kind, tl_wait_t *w)
{
	memset(idle, 0, sizeof(*idle));
	switch (kind) {
	case TL_IDLE_SPIN:
		break;
	case TL_IDLE_YIELD:
		idle->spins = 64;
		break;
	case TL_IDLE_BLOCK:
		if (w == NULL)
			return -EINVAL;
		idle->spins = 64;
		idle->yields = 16;
		idle->wait = w;
		break;
	default:
		return -EINVAL;
	}
	idle->kind = kind;
	return 0;
}

void tl_idle_run(tl_idle_t *idle, int work_count, int64_t sleep_ns)
{
	uint32_t round = idle->round;

	if (work_count > 0) {
		idle->round = 0;
		return;
	}
	if (round < UINT32_MAX)
		idle->round = round + 1;
	if (idle->kind == TL_IDLE_SPIN || round < idle->spins) {
		tl_cpu_relax();
		return;
	}
	if (idle->kind == TL_IDLE_YIELD || round < idle->spins + idle->yields) {
		sched_yield();
		return;
	}
	tl_wait_sleep(idle->wait, sleep_ns);
}

tl_idle_kind_t tl_idle_kind_parse(const char *name)
{
	if (strcmp(name, "spin") == 0)
		return TL_IDLE_SPIN;
	if (strcmp(name, "yield") == 0)
		return TL_IDLE_YIELD;
	if (strcmp(name, "block") == 0)
		return TL_IDLE_BLOCK;
	return 0;
}

const char *tl_idle_kind_name(tl_idle_kind_t kind)
{
	switch (kind) {
	case TL_IDLE_SPIN:
		return "spin";
	case TL_IDLE_YIELD:
		return "yield";
	case TL_IDLE_BLOCK:
		return "block";
	}
	return "unknown";
}
