/*
 * loop.c: one io_uring per thread, with a ring of provided receive buffers.
 *
 * DESIGN
 * The ring is created with SINGLE_ISSUER | DEFER_TASKRUN: completions are then run only
 * when this thread asks for them (io_uring_enter with GETEVENTS), never by an interrupt
 * stealing time from it. Busy-poll mode spins on io_uring_submit_and_get_events; blocking
 * mode waits in io_uring_submit_and_wait_timeout.
 *
 * Received bytes land in one buffer group shared by every conn of the loop. A buffer is
 * given back as soon as its bytes were handed on (or copied into a conn's stash); the
 * tail is advanced once per poll, not once per buffer, so the kernel sees one store.
 */
#include "io_internal.h"
#include "tl_event.h"
#include "tl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>

#define TL_IO_BGID 1

void tl_io_loop_config_default(struct tl_io_loop_config *cfg)
{
	cfg->sq_entries = 256;
	cfg->rx_buf_count = 256;
	cfg->rx_buf_bytes = 16384;
	cfg->busy_poll = false;
}

uint64_t tl_io_now_ns(void)
{
	return (uint64_t)tl_mono_ns(); /* the clock every latency stamp uses (tl_event.h) */
}

uint64_t tl_io_loop_batch_ns(const tl_io_loop_t *loop)
{
	return loop->batch_ns;
}

static void wake_arm(tl_io_loop_t *loop)
{
	struct io_uring_sqe *sqe = tl_io_loop_sqe(loop);

	io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_count, sizeof(loop->wake_count), 0);
	io_uring_sqe_set_data64(sqe, tl_io_tag(NULL, TL_IO_OP_WAKE));
	loop->wake_armed = true;
}

int tl_io_loop_set_waiter(tl_io_loop_t *loop, tl_wait_t *w)
{
	if (loop->waiter)
		return -EBUSY;
	if (w->wake_fd < 0)
		return -EINVAL;
	loop->wake_fd = w->wake_fd;
	loop->waiter = w;
	wake_arm(loop);
	return 0;
}

static bool is_pow2(unsigned v)
{
	return v && !(v & (v - 1));
}

static int ring_init(tl_io_loop_t *loop, unsigned entries, bool busy_poll)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* Deferred completions wait until the ring is entered: right for a thread that sleeps
	 * in it anyway, a syscall a round for one that polls (see busy_poll). A polling
	 * thread's completions are run at its next entry into the kernel, whatever the entry,
	 * and flagged (IORING_SQ_TASKRUN) so that a poll enters for them (COOP_TASKRUN),
	 * instead of the kernel interrupting the thread for each one: on the virtual machine
	 * this was measured on, that interrupt cost the thread about 20 us (tl_io.h). */
	p.flags = IORING_SETUP_SINGLE_ISSUER |
	          (busy_poll ? IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG
	                     : IORING_SETUP_DEFER_TASKRUN);
	int rc = io_uring_queue_init_params(entries, &loop->ring, &p);
	if (rc == 0) {
		loop->defer_taskrun = !busy_poll;
		loop->coop_taskrun = busy_poll;
		return 0;
	}
	if (rc != -EINVAL)
		return rc;
	/* Older kernels refuse these flags with -EINVAL (SINGLE_ISSUER came in 6.0,
	 * DEFER_TASKRUN in 6.1, COOP_TASKRUN and TASKRUN_FLAG in 5.19). */
	tl_log(TL_LOG_NOTICE, "io",
	       "kernel refused IORING_SETUP_SINGLE_ISSUER|%s; using a plain ring",
	       busy_poll ? "COOP_TASKRUN|TASKRUN_FLAG" : "DEFER_TASKRUN");
	memset(&p, 0, sizeof(p));
	loop->defer_taskrun = false;
	loop->coop_taskrun = false;
	return io_uring_queue_init_params(entries, &loop->ring, &p);
}

int tl_io_loop_create(tl_io_loop_t **out, const struct tl_io_loop_config *cfg)
{
	struct tl_io_loop_config def;
	if (!cfg) {
		tl_io_loop_config_default(&def);
		cfg = &def;
	}
	if (!out || cfg->sq_entries == 0 || cfg->sq_entries > 32768 ||
	    !is_pow2(cfg->rx_buf_count) || cfg->rx_buf_count > 32768 || cfg->rx_buf_bytes < 1024 ||
	    cfg->rx_buf_bytes > (1u << 24))
		return -EINVAL;

	tl_io_loop_t *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	int rc = ring_init(loop, cfg->sq_entries, cfg->busy_poll);
	if (rc < 0) {
		free(loop);
		return rc;
	}
	loop->busy_poll = cfg->busy_poll;
	loop->held_cap = loop->ring.cq.ring_entries;
	loop->held = calloc(loop->held_cap, sizeof(*loop->held));
	if (!loop->held) {
		rc = -ENOMEM;
		goto err_ring;
	}
	loop->rx_buf_count = cfg->rx_buf_count;
	loop->rx_buf_bytes = cfg->rx_buf_bytes;

	/* The buffer ring must be page aligned; mmap gives that and zeroed memory. */
	size_t ring_bytes = (size_t)cfg->rx_buf_count * sizeof(struct io_uring_buf);
	void *br =
	    mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED) {
		rc = -errno;
		goto err_ring;
	}
	loop->buf_ring = br;
	loop->rx_bufs = aligned_alloc(64, (size_t)cfg->rx_buf_count * cfg->rx_buf_bytes);
	if (!loop->rx_bufs) {
		rc = -ENOMEM;
		goto err_map;
	}
	/* Touched here, once, rather than first on the hot path. The kernel takes the buffers
	 * round-robin, so each one is new to this process on its first lap (256 frames of a
	 * stream); the first read of bytes the kernel wrote into a page this process never
	 * touched costs about 3.5 us here (a virtual machine: measured with a bare io_uring
	 * multishot recv), against 0.5 us once the page was touched. */
	memset(loop->rx_bufs, 0, (size_t)cfg->rx_buf_count * cfg->rx_buf_bytes);

	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br;
	reg.ring_entries = cfg->rx_buf_count;
	reg.bgid = TL_IO_BGID;
	rc = io_uring_register_buf_ring(&loop->ring, &reg, 0);
	if (rc < 0)
		goto err_bufs;

	io_uring_buf_ring_init(loop->buf_ring);
	int mask = io_uring_buf_ring_mask(cfg->rx_buf_count);
	for (unsigned i = 0; i < cfg->rx_buf_count; i++)
		io_uring_buf_ring_add(loop->buf_ring, loop->rx_bufs + (size_t)i * cfg->rx_buf_bytes,
		                      cfg->rx_buf_bytes, (unsigned short)i, mask, (int)i);
	io_uring_buf_ring_advance(loop->buf_ring, (int)cfg->rx_buf_count);

	*out = loop;
	return 0;

err_bufs:
	free(loop->rx_bufs);
err_map:
	munmap(br, ring_bytes);
err_ring:
	io_uring_queue_exit(&loop->ring);
	free(loop->held);
	free(loop);
	return rc;
}

void tl_io_loop_destroy(tl_io_loop_t *loop)
{
	if (!loop)
		return;
	/* Exiting the ring cancels whatever is still in flight; only then may the conns that
	 * were waiting for their completions be freed. */
	io_uring_unregister_buf_ring(&loop->ring, TL_IO_BGID);
	io_uring_queue_exit(&loop->ring);
	while (loop->zombies) {
		struct tl_io_conn *c = loop->zombies;
		loop->zombies = c->next_zombie;
		tl_io_conn_free(c);
	}
	munmap(loop->buf_ring, (size_t)loop->rx_buf_count * sizeof(struct io_uring_buf));
	free(loop->rx_bufs);
	free(loop->held);
	free(loop);
}

bool tl_io_loop_coop_taskrun(const tl_io_loop_t *loop)
{
	return loop->coop_taskrun;
}

bool tl_io_loop_defer_taskrun(const tl_io_loop_t *loop)
{
	return loop->defer_taskrun;
}

struct io_uring_sqe *tl_io_loop_sqe(tl_io_loop_t *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
	while (!sqe) {
		/* The queue is full: hand it to the kernel and take a fresh slot. */
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

void tl_io_loop_buf_return(tl_io_loop_t *loop, unsigned bid)
{
	io_uring_buf_ring_add(loop->buf_ring, loop->rx_bufs + (size_t)bid * loop->rx_buf_bytes,
	                      loop->rx_buf_bytes, (unsigned short)bid,
	                      io_uring_buf_ring_mask(loop->rx_buf_count), (int)loop->rx_returned);
	loop->rx_returned++;
}

static void buf_publish(tl_io_loop_t *loop)
{
	if (loop->rx_returned) {
		io_uring_buf_ring_advance(loop->buf_ring, (int)loop->rx_returned);
		loop->rx_returned = 0;
	}
}

/* The conn a completion belongs to (NULL for the loop's own), and its kind in *op. */
static struct tl_io_conn *cqe_conn(const struct io_uring_cqe *cqe, enum tl_io_op *op)
{
	uint64_t tag = cqe->user_data;

	*op = (enum tl_io_op)(tag & TL_IO_OP_MASK);
	if (*op == TL_IO_OP_WAKE || *op == TL_IO_OP_NONE)
		return NULL;
	return (struct tl_io_conn *)(uintptr_t)(tag & ~(uint64_t)TL_IO_OP_MASK);
}

static void complete(tl_io_loop_t *loop, const struct io_uring_cqe *cqe)
{
	enum tl_io_op op;
	struct tl_io_conn *conn = cqe_conn(cqe, &op);

	if (op == TL_IO_OP_WAKE)
		loop->wake_armed = false; /* a producer wrote (or the read failed): re-arm */
	else if (conn)
		tl_io_conn_complete(conn, op, cqe);
}

/* The held completions, in the order they came, each with the time it was reaped. */
static unsigned complete_held(tl_io_loop_t *loop)
{
	unsigned n = loop->held_n;
	uint64_t now_ns = loop->batch_ns;

	for (unsigned i = 0; i < n; i++) {
		const struct held_cqe *h = &loop->held[i];
		struct io_uring_cqe cqe = {
		    .user_data = h->user_data, .res = h->res, .flags = h->flags};

		loop->batch_ns = h->reaped_ns;
		complete(loop, &cqe);
	}
	loop->held_n = 0;
	loop->batch_ns = now_ns;
	return n;
}

/*
 * Handles the ready completions. The loop's own and the urgent conns' go at once; the
 * ordinary conns' wait for the next call when an urgent conn's came with them. Those held
 * since the last call are handled in this one whatever comes, so that a stream of urgent
 * completions cannot starve the others.
 */
static int handle_completions(tl_io_loop_t *loop)
{
	struct io_uring_cqe *cqe;
	unsigned head, reaped = 0, urgent = 0, handled = 0;
	bool held_before = loop->held_n > 0;
	/* With no urgent conn and nothing held, every completion goes at once, in order. */
	bool may_hold = loop->urgent_conns > 0 || held_before;

	loop->batch_ns = tl_io_now_ns();
	io_uring_for_each_cqe(&loop->ring, head, cqe)
	{
		enum tl_io_op op;
		struct tl_io_conn *conn = cqe_conn(cqe, &op);

		bool is_urgent = conn && conn->cfg.urgent; /* read before complete() may free it */

		reaped++;
		if (!may_hold || !conn || is_urgent) {
			complete(loop, cqe);
			handled++;
			urgent += is_urgent;
			continue;
		}
		if (loop->held_n == loop->held_cap)
			handled += complete_held(loop); /* no room: in order, at once */
		loop->held[loop->held_n++] =
		    (struct held_cqe){cqe->user_data, loop->batch_ns, cqe->res, cqe->flags};
	}
	io_uring_cq_advance(&loop->ring, reaped);
	if (urgent == 0 || held_before)
		handled += complete_held(loop);
	buf_publish(loop);
	if (loop->waiter && !loop->wake_armed)
		wake_arm(loop);
	/* A multishot recv that ran out of buffers has ended; now that buffers are back,
	 * start it again (its bytes wait in the socket meanwhile). */
	while (loop->starved) {
		struct tl_io_conn *c = loop->starved;
		loop->starved = c->next_starved;
		c->starved = false;
		tl_io_conn_rearm_starved(c);
	}
	return (int)handled;
}

int tl_io_loop_poll_sockets(tl_io_loop_t *loop, int64_t wait_ns)
{
	/* Without its waiter the poll does not announce itself, so it sleeps; the wake read
	 * a producer may have fired meanwhile is re-armed after. */
	tl_wait_t *waiter = loop->waiter;
	loop->waiter = NULL;
	int rc = tl_io_loop_poll(loop, wait_ns);
	loop->waiter = waiter;
	if (waiter && !loop->wake_armed)
		wake_arm(loop);
	return rc;
}

int tl_io_loop_submit(tl_io_loop_t *loop)
{
	if (io_uring_sq_ready(&loop->ring) == 0)
		return 0;
	return io_uring_submit(&loop->ring);
}

int tl_io_loop_poll(tl_io_loop_t *loop, int64_t wait_ns)
{
	bool announced = false;
	int rc;

	if (loop->held_n)
		wait_ns = 0; /* held completions are ready work */
	/* A thread that waits for its rings here too: tell their producers it is about to
	 * sleep, and do not sleep when one of them already has data (tl_ring.h). */
	if (loop->waiter && wait_ns != 0) {
		announced = true;
		if (!tl_wait_announce(loop->waiter))
			wait_ns = 0;
	}
	if (wait_ns == 0) {
		/* Busy-polled: enter the kernel only to hand it something, to run completions
		 * it has flagged as waiting for an entry (COOP_TASKRUN), or to flush an
		 * overflowed completion queue. */
		if (!loop->busy_poll || io_uring_sq_ready(&loop->ring) ||
		    (IO_URING_READ_ONCE(*loop->ring.sq.kflags) &
		     (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
			rc = io_uring_submit_and_get_events(&loop->ring);
		else
			rc = 0;
	} else {
		struct io_uring_cqe *cqe;
		if (wait_ns < 0) {
			rc = io_uring_submit_and_wait(&loop->ring, 1);
		} else {
			struct __kernel_timespec ts = {.tv_sec = wait_ns / 1000000000,
			                               .tv_nsec = wait_ns % 1000000000};
			rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
		}
		if (rc == -ETIME)
			rc = 0;
	}
	if (announced)
		tl_wait_settle(loop->waiter);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	return handle_completions(loop);
}
