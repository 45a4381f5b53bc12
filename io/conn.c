/*
 * conn.c: a TCP stream on a loop, optionally TLS.
 *
 * DESIGN
 * Receiving: one multishot recv per connection fills the loop's provided buffers. With
 * plain TCP, bytes are offered to the owner straight from the buffer they landed in; only
 * the tail of a message cut by the buffer boundary is copied into the stash, where the
 * next bytes complete it. With TLS, the ciphertext is copied once into tls_in (wolfSSL
 * reads it from there through its I/O callback) and wolfSSL decrypts into the stash.
 *
 * Sending: the owner's bytes are copied (or encrypted) once into the tx buffer; at most
 * one send is in flight, covering everything queued when it was issued. A short send is
 * resumed from where it stopped.
 *
 * Closing: abort cancels everything on the fd; on_close runs when the last operation on
 * the fd has completed, so the owner may reconnect or destroy from inside it.
 *
 * Callbacks run inside completion handling. A callback may abort, close or destroy the
 * conn; cb_depth makes a destroy inside a callback wait until the handler is done with
 * the memory.
 */
#include "io_internal.h"
#include "tl_log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tl_io_conn_config_default(struct tl_io_conn_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rx_stash_bytes = (1u << 20) + (64u << 10);
	cfg->tx_buf_bytes = 256u << 10;
	cfg->connect_timeout_ns = 5000000000ull;
	cfg->handshake_timeout_ns = 10000000000ull;
}

static void ts_from_ns(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / 1000000000u);
	ts->tv_nsec = (long long)(ns % 1000000000u);
}

int tl_io_conn_create(tl_io_conn_t **out, tl_io_loop_t *loop, const struct tl_io_conn_config *cfg,
                      const struct tl_io_conn_ops *ops, void *user)
{
	if (!out || !loop || !cfg || !ops || !ops->on_data || !ops->on_close ||
	    cfg->rx_stash_bytes < 1024 || cfg->tx_buf_bytes < 1024 || cfg->connect_timeout_ns == 0)
		return -EINVAL;
	struct tl_io_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* The low four bits of its address carry the op kind in user_data. */
	if ((uintptr_t)c & TL_IO_OP_MASK) {
		free(c);
		return -ENOMEM;
	}
	c->loop = loop;
	c->cfg = *cfg;
	c->cfg.ca_file = NULL; /* loaded below; the caller's string need not outlive us */
	loop->urgent_conns += cfg->urgent; /* tl_io_conn_free takes it back */
	c->ops = *ops;
	c->user = user;
	c->fd = -1;
	c->stash_cap = cfg->rx_stash_bytes;
	c->tx_cap = cfg->tx_buf_bytes;
	c->stash = malloc(c->stash_cap);
	c->tx = malloc(c->tx_cap);
	int rc = -ENOMEM;
	if (!c->stash || !c->tx)
		goto err;
	if (cfg->tls) {
		/* wolfSSL drains tls_in on every completion, so one recv buffer's worth of room
		 * (twice, for a partial record left over) is enough. */
		c->tls_in_cap = 2u * loop->rx_buf_bytes;
		c->tls_plain_cap = cfg->tx_buf_bytes;
		c->tls_in = malloc(c->tls_in_cap);
		c->tls_plain = malloc(c->tls_plain_cap);
		if (!c->tls_in || !c->tls_plain)
			goto err;
		c->cfg.ca_file = cfg->ca_file; /* read only inside tl_io_tls_ctx_create */
		rc = tl_io_tls_ctx_create(c);
		c->cfg.ca_file = NULL;
		if (rc < 0)
			goto err;
	}
	*out = c;
	return 0;
err:
	tl_io_conn_free(c);
	return rc;
}

void tl_io_conn_free(struct tl_io_conn *c)
{
	if (!c)
		return;
	c->loop->urgent_conns -= c->cfg.urgent;
	tl_io_tls_end(c);
	if (c->tls_ctx)
		wolfSSL_CTX_free(c->tls_ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c->tls_in);
	free(c->tls_plain);
	free(c->stash);
	free(c->tx);
	free(c);
}

static void zombie_unlink(struct tl_io_conn *c)
{
	for (struct tl_io_conn **p = &c->loop->zombies; *p; p = &(*p)->next_zombie)
		if (*p == c) {
			*p = c->next_zombie;
			return;
		}
}

static void starved_unlink(struct tl_io_conn *c)
{
	if (!c->starved)
		return;
	for (struct tl_io_conn **p = &c->loop->starved; *p; p = &(*p)->next_starved)
		if (*p == c) {
			*p = c->next_starved;
			break;
		}
	c->starved = false;
}

int tl_io_conn_destroy(tl_io_conn_t *c)
{
	if (!c)
		return 0;
	if (c->state != TL_IO_CLOSED)
		return -EBUSY;
	c->destroyed = true;
	if (c->timer_ops) {
		struct io_uring_sqe *sqe = tl_io_loop_sqe(c->loop);
		io_uring_prep_timeout_remove(sqe, tl_io_tag(c, TL_IO_OP_TIMER), 0);
		io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_TIMER_UPDATE));
		c->timer_ops++;
	}
	if (c->timer_ops || c->fd_ops || c->cb_depth) {
		/* Completions still name this memory: free it when the last one is in. */
		c->next_zombie = c->loop->zombies;
		c->loop->zombies = c;
		return 0;
	}
	tl_io_conn_free(c);
	return 0;
}

bool tl_io_conn_is_open(const tl_io_conn_t *c)
{
	return c->state == TL_IO_OPEN;
}

void tl_io_conn_prefetch(const tl_io_conn_t *c)
{
	const struct io_uring *r = &c->loop->ring;

	/* The fields a completion and a send read first, the next frame's bytes out, and the
	 * loop's ring entries: about a dozen lines. */
	tl_prefetch(c, offsetof(struct tl_io_conn, addr), false);
	tl_prefetch(&c->stash,
	            offsetof(struct tl_io_conn, tls_ctx) - offsetof(struct tl_io_conn, stash),
	            false);
	if (c->tx)
		tl_prefetch(c->tx + c->tx_tail, 256, true);
	tl_prefetch(c->loop, sizeof(*c->loop), false);
	tl_prefetch(&r->sq.sqes[r->sq.sqe_tail & r->sq.ring_mask], sizeof(struct io_uring_sqe),
	            true);
	tl_prefetch(&r->cq.cqes[IO_URING_READ_ONCE(*r->cq.khead) & r->cq.ring_mask],
	            sizeof(struct io_uring_cqe), false);
}

size_t tl_io_conn_tx_pending(const tl_io_conn_t *c)
{
	return c->tx_tail - c->tx_head;
}

/* ---- deadlines ---------------------------------------------------------------------- */

static uint64_t earliest_deadline(const struct tl_io_conn *c)
{
	uint64_t due = c->user_deadline_ns;
	bool live = c->state == TL_IO_CONNECTING || c->state == TL_IO_TLS_HANDSHAKE ||
	            c->state == TL_IO_OPEN;
	if (live && c->handshake_deadline_ns && (!due || c->handshake_deadline_ns < due))
		due = c->handshake_deadline_ns;
	if (c->state == TL_IO_OPEN && c->cfg.idle_timeout_ns) {
		uint64_t idle = c->last_rx_ns + c->cfg.idle_timeout_ns;
		if (!due || idle < due)
			due = idle;
	}
	return due;
}

/*
 * Keeps one kernel timeout in flight for the earliest deadline. A deadline that moved
 * later (the idle one, on every receive) does not touch the kernel: the timeout fires
 * early, finds nothing due, and is set again. Only a deadline that moved earlier costs an
 * update.
 */
static void timer_sync(struct tl_io_conn *c)
{
	uint64_t due = earliest_deadline(c);
	if (!due || c->destroyed)
		return;
	if (c->timer_due_ns && c->timer_due_ns <= due)
		return;
	uint64_t now = tl_io_now_ns();
	ts_from_ns(&c->timer_ts, due > now ? due - now : 1);
	struct io_uring_sqe *sqe = tl_io_loop_sqe(c->loop);
	if (!c->timer_due_ns) {
		io_uring_prep_timeout(sqe, &c->timer_ts, 0, 0);
		io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_TIMER));
	} else {
		io_uring_prep_timeout_update(sqe, &c->timer_ts, tl_io_tag(c, TL_IO_OP_TIMER), 0);
		io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_TIMER_UPDATE));
	}
	c->timer_ops++;
	c->timer_due_ns = due;
}

void tl_io_conn_timer_set(tl_io_conn_t *c, uint64_t delay_ns)
{
	c->user_deadline_ns = delay_ns ? tl_io_now_ns() + delay_ns : 0;
	timer_sync(c);
}

void tl_io_conn_handshake_done(tl_io_conn_t *c)
{
	c->handshake_deadline_ns = 0;
}

/* ---- sending ------------------------------------------------------------------------ */

bool tl_io_conn_tx_room(struct tl_io_conn *c, size_t len)
{
	if (len <= c->tx_cap - c->tx_tail)
		return true;
	if (c->tx_inflight || len > c->tx_cap - (c->tx_tail - c->tx_head))
		return false;
	/* Nothing is in the kernel's hands: slide the queued bytes to the front. */
	memmove(c->tx, c->tx + c->tx_head, c->tx_tail - c->tx_head);
	c->tx_tail -= c->tx_head;
	c->tx_head = 0;
	return true;
}

void tl_io_conn_flush(struct tl_io_conn *c)
{
	if (c->tx_inflight || c->tx_tail == c->tx_head || c->fd < 0)
		return;
	if (c->state == TL_IO_CLOSING && !c->close_after_flush)
		return;
	struct io_uring_sqe *sqe = tl_io_loop_sqe(c->loop);
	io_uring_prep_send(sqe, c->fd, c->tx + c->tx_head, c->tx_tail - c->tx_head, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_SEND));
	c->tx_inflight = c->tx_tail - c->tx_head;
	c->fd_ops++;
}

int tl_io_conn_send(tl_io_conn_t *c, const void *data, size_t len)
{
	if (c->state != TL_IO_OPEN)
		return -ENOTCONN;
	if (c->cfg.tls) {
		int rc = tl_io_tls_write(c, data, len);
		if (rc < 0)
			return rc;
	} else {
		if (!tl_io_conn_tx_room(c, len))
			return -ENOBUFS;
		memcpy(c->tx + c->tx_tail, data, len);
		c->tx_tail += len;
	}
	tl_io_conn_flush(c);
	return 0;
}

uint8_t *tl_io_conn_send_reserve(tl_io_conn_t *c, size_t len)
{
	if (c->state != TL_IO_OPEN || c->reserve_open)
		return NULL;
	if (c->cfg.tls) {
		if (len > c->tls_plain_cap || !tl_io_conn_tx_room(c, len + tl_io_tls_overhead(len)))
			return NULL;
		c->reserve_open = true;
		return c->tls_plain;
	}
	if (!tl_io_conn_tx_room(c, len))
		return NULL;
	c->reserve_open = true;
	return c->tx + c->tx_tail;
}

int tl_io_conn_send_commit(tl_io_conn_t *c, size_t len)
{
	if (!c->reserve_open)
		return -EINVAL;
	c->reserve_open = false;
	if (c->state != TL_IO_OPEN)
		return -ENOTCONN;
	if (c->cfg.tls) {
		int rc = tl_io_tls_write(c, c->tls_plain, len);
		if (rc < 0)
			return rc;
	} else {
		c->tx_tail += len;
	}
	tl_io_conn_flush(c);
	return 0;
}

/* ---- closing ------------------------------------------------------------------------ */

void tl_io_conn_abort(tl_io_conn_t *c, int err)
{
	if (c->state == TL_IO_CLOSED || c->cancel_sent)
		return;
	/* A graceful close already chose its outcome (0); the first reason otherwise. */
	if (c->state != TL_IO_CLOSING)
		c->close_err = err;
	c->state = TL_IO_CLOSING;
	c->close_after_flush = false;
	c->reserve_open = false;
	starved_unlink(c);
	if (c->fd >= 0) {
		struct io_uring_sqe *sqe = tl_io_loop_sqe(c->loop);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_CANCEL));
		c->fd_ops++;
		c->cancel_sent = true;
	}
}

void tl_io_conn_close(tl_io_conn_t *c)
{
	if (c->state == TL_IO_CLOSED || c->state == TL_IO_CLOSING)
		return;
	if (c->state != TL_IO_OPEN) {
		tl_io_conn_abort(c, 0);
		return;
	}
	if (c->cfg.tls)
		tl_io_tls_shutdown(c);
	if (c->tx_tail == c->tx_head) {
		tl_io_conn_abort(c, 0);
		return;
	}
	c->close_err = 0;
	c->state = TL_IO_CLOSING;
	c->close_after_flush = true;
	tl_io_conn_flush(c);
}

static void finish_close(struct tl_io_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	tl_io_tls_end(c);
	c->state = TL_IO_CLOSED;
	c->recv_armed = false;
	c->cancel_sent = false;
	c->close_after_flush = false;
	c->stash_len = 0;
	c->tx_head = c->tx_tail = c->tx_inflight = 0;
	c->tls_in_head = c->tls_in_len = 0;
	c->handshake_deadline_ns = 0;
	c->cb_depth++;
	c->ops.on_close(c, c->user, c->close_err);
	c->cb_depth--;
}

/* Called after every completion: finishes a close, frees a destroyed conn. */
static void settle(struct tl_io_conn *c)
{
	if (c->state == TL_IO_CLOSING && c->fd_ops == 0 && !c->destroyed)
		finish_close(c);
	if (c->destroyed) {
		if (!c->fd_ops && !c->timer_ops && !c->cb_depth) {
			zombie_unlink(c);
			tl_io_conn_free(c);
		}
		return;
	}
	timer_sync(c);
}

/* ---- connecting --------------------------------------------------------------------- */

static int resolve(struct tl_io_conn *c, const char *host, uint16_t port)
{
	char port_str[8];
	snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(host, port_str, &hints, &res);
	if (rc != 0) {
		tl_log(TL_LOG_WARNING, "io", "cannot resolve %s: %s", host, gai_strerror(rc));
		switch (rc) {
		case EAI_AGAIN:
			return -EAGAIN;
		case EAI_MEMORY:
			return -ENOMEM;
		case EAI_SYSTEM:
			return -errno;
		default:
			return -EHOSTUNREACH;
		}
	}
	memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
	c->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int tl_io_conn_connect(tl_io_conn_t *c, const char *host, uint16_t port)
{
	if (c->state != TL_IO_CLOSED || c->destroyed)
		return -EISCONN;
	if (!host || !*host || strlen(host) >= sizeof(c->host) || port == 0)
		return -EINVAL;
	int rc = resolve(c, host, port);
	if (rc < 0)
		return rc;
	snprintf(c->host, sizeof(c->host), "%s", host);

	int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	/* Small messages must leave at once, not wait for Nagle to fill a segment. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->close_err = 0;
	c->stash_len = 0;
	c->tx_head = c->tx_tail = c->tx_inflight = 0;
	c->tls_in_head = c->tls_in_len = 0;
	c->state = TL_IO_CONNECTING;
	c->handshake_deadline_ns = tl_io_now_ns() + c->cfg.handshake_timeout_ns;
	if (!c->cfg.handshake_timeout_ns)
		c->handshake_deadline_ns = 0;

	struct io_uring_sqe *sqe = tl_io_loop_sqe(c->loop);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->addr, c->addr_len);
	io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_CONNECT));
	sqe->flags |= IOSQE_IO_LINK;
	ts_from_ns(&c->connect_ts, c->cfg.connect_timeout_ns);
	sqe = tl_io_loop_sqe(c->loop);
	io_uring_prep_link_timeout(sqe, &c->connect_ts, 0);
	io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_CONNECT_TIMEOUT));
	c->fd_ops += 2;
	timer_sync(c);
	return 0;
}

static void arm_recv(struct tl_io_conn *c)
{
	struct io_uring_sqe *sqe = tl_io_loop_sqe(c->loop);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 1;
	io_uring_sqe_set_data64(sqe, tl_io_tag(c, TL_IO_OP_RECV));
	c->recv_armed = true;
	c->fd_ops++;
}

void tl_io_conn_rearm_starved(struct tl_io_conn *c)
{
	if ((c->state == TL_IO_OPEN || c->state == TL_IO_TLS_HANDSHAKE) && !c->recv_armed)
		arm_recv(c);
}

static void opened(struct tl_io_conn *c)
{
	c->state = TL_IO_OPEN;
	c->last_rx_ns = tl_io_now_ns();
	if (c->ops.on_open) {
		c->cb_depth++;
		c->ops.on_open(c, c->user);
		c->cb_depth--;
	}
}

static void connected(struct tl_io_conn *c)
{
	arm_recv(c);
	if (!c->cfg.tls) {
		opened(c);
		return;
	}
	c->state = TL_IO_TLS_HANDSHAKE;
	int rc = tl_io_tls_start(c);
	if (rc < 0) {
		tl_io_conn_abort(c, rc);
		return;
	}
	tl_io_conn_flush(c);
}

/* ---- receiving ---------------------------------------------------------------------- */

/* Offers the stash to the owner until it stops consuming; keeps the rest at the front. */
static void deliver_stash(struct tl_io_conn *c)
{
	size_t off = 0;
	while (off < c->stash_len && c->state == TL_IO_OPEN) {
		c->cb_depth++;
		size_t used = c->ops.on_data(c, c->user, c->stash + off, c->stash_len - off);
		c->cb_depth--;
		if (!used)
			break;
		off += used < c->stash_len - off ? used : c->stash_len - off;
	}
	if (off) {
		memmove(c->stash, c->stash + off, c->stash_len - off);
		c->stash_len -= off;
	}
	if (c->state == TL_IO_OPEN && c->stash_len == c->stash_cap)
		tl_io_conn_abort(c, -EMSGSIZE); /* a whole stash and no message in it */
}

static void deliver_plain(struct tl_io_conn *c, uint8_t *data, size_t len)
{
	size_t off = 0;
	if (c->stash_len == 0) {
		/* The common case: whole messages are read where the kernel put them. */
		while (off < len && c->state == TL_IO_OPEN) {
			c->cb_depth++;
			size_t used = c->ops.on_data(c, c->user, data + off, len - off);
			c->cb_depth--;
			if (!used)
				break;
			off += used < len - off ? used : len - off;
		}
	}
	while (off < len && c->state == TL_IO_OPEN) {
		size_t room = c->stash_cap - c->stash_len;
		size_t take = len - off < room ? len - off : room;
		memcpy(c->stash + c->stash_len, data + off, take);
		c->stash_len += take;
		off += take;
		deliver_stash(c);
	}
}

/* Runs wolfSSL over the ciphertext that arrived: the handshake, then application data. */
static void tls_pump(struct tl_io_conn *c)
{
	if (c->state == TL_IO_TLS_HANDSHAKE) {
		int rc = tl_io_tls_handshake(c);
		tl_io_conn_flush(c);
		if (rc < 0) {
			tl_io_conn_abort(c, rc);
			return;
		}
		if (rc == 0)
			return;
		opened(c);
	}
	while (c->state == TL_IO_OPEN) {
		bool eof = false;
		ssize_t n = tl_io_tls_read(c, &eof);
		if (n < 0) {
			tl_io_conn_abort(c, (int)n);
			break;
		}
		if (n == 0) {
			if (eof)
				tl_io_conn_abort(c, 0);
			break;
		}
		deliver_stash(c);
	}
	tl_io_conn_flush(c);
}

static void on_recv(struct tl_io_conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = false;
		c->fd_ops--;
	}
	bool live = c->state == TL_IO_OPEN || c->state == TL_IO_TLS_HANDSHAKE;
	if (res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *data = c->loop->rx_bufs + (size_t)bid * c->loop->rx_buf_bytes;
		if (live && c->cfg.idle_timeout_ns)
			c->last_rx_ns = tl_io_now_ns();
		if (live && c->cfg.tls) {
			if (c->tls_in_head &&
			    c->tls_in_len + (size_t)res > c->tls_in_cap - c->tls_in_head) {
				memmove(c->tls_in, c->tls_in + c->tls_in_head, c->tls_in_len);
				c->tls_in_head = 0;
			}
			if ((size_t)res > c->tls_in_cap - c->tls_in_head - c->tls_in_len) {
				tl_io_loop_buf_return(c->loop, bid);
				tl_io_conn_abort(c, -EMSGSIZE);
				return;
			}
			memcpy(c->tls_in + c->tls_in_head + c->tls_in_len, data, (size_t)res);
			c->tls_in_len += (size_t)res;
			tl_io_loop_buf_return(c->loop, bid);
			tls_pump(c);
		} else {
			if (c->state == TL_IO_OPEN)
				deliver_plain(c, data, (size_t)res);
			tl_io_loop_buf_return(c->loop, bid);
		}
		if (!c->recv_armed && (c->state == TL_IO_OPEN || c->state == TL_IO_TLS_HANDSHAKE))
			arm_recv(c);
		return;
	}
	if (!live)
		return;
	if (res == 0) {
		/* The peer closed its side. During a TLS handshake that is a failure. */
		tl_io_conn_abort(c, c->state == TL_IO_OPEN ? 0 : -ECONNRESET);
	} else if (res == -ENOBUFS) {
		if (!c->starved) {
			c->starved = true;
			c->next_starved = c->loop->starved;
			c->loop->starved = c;
		}
	} else if (res != -ECANCELED) {
		tl_io_conn_abort(c, res);
	}
}

static void on_send(struct tl_io_conn *c, int res)
{
	c->fd_ops--;
	size_t was = c->tx_inflight;
	c->tx_inflight = 0;
	if (res < 0) {
		if (res != -ECANCELED)
			tl_io_conn_abort(c, res == -EPIPE ? -ECONNRESET : res);
		return;
	}
	if ((size_t)res > was)
		res = (int)was;
	c->tx_head += (size_t)res;
	if (c->tx_head == c->tx_tail) {
		c->tx_head = c->tx_tail = 0;
		if (c->close_after_flush) {
			tl_io_conn_abort(c, 0);
			return;
		}
	} else if (c->tx_head >= c->tx_cap / 2) {
		/* A backlog under steady sending: slide it down while nothing is in flight. */
		memmove(c->tx, c->tx + c->tx_head, c->tx_tail - c->tx_head);
		c->tx_tail -= c->tx_head;
		c->tx_head = 0;
	}
	tl_io_conn_flush(c);
}

static void on_timer(struct tl_io_conn *c)
{
	uint64_t now = tl_io_now_ns();
	bool live = c->state == TL_IO_CONNECTING || c->state == TL_IO_TLS_HANDSHAKE ||
	            c->state == TL_IO_OPEN;
	if (live && c->handshake_deadline_ns && now >= c->handshake_deadline_ns) {
		tl_io_conn_abort(c, -ETIMEDOUT);
	} else if (c->state == TL_IO_OPEN && c->cfg.idle_timeout_ns &&
	           now >= c->last_rx_ns + c->cfg.idle_timeout_ns) {
		tl_io_conn_abort(c, -ETIMEDOUT);
	}
	if (c->user_deadline_ns && now >= c->user_deadline_ns) {
		c->user_deadline_ns = 0;
		if (c->ops.on_timer) {
			c->cb_depth++;
			c->ops.on_timer(c, c->user);
			c->cb_depth--;
		}
	}
}

void tl_io_conn_complete(struct tl_io_conn *c, enum tl_io_op op, const struct io_uring_cqe *cqe)
{
	switch (op) {
	case TL_IO_OP_CONNECT:
		c->fd_ops--;
		if (c->state == TL_IO_CONNECTING) {
			if (cqe->res < 0)
				tl_io_conn_abort(c, cqe->res == -ECANCELED ? -ETIMEDOUT : cqe->res);
			else
				connected(c);
		}
		break;
	case TL_IO_OP_CONNECT_TIMEOUT:
	case TL_IO_OP_CANCEL:
		c->fd_ops--;
		break;
	case TL_IO_OP_RECV:
		on_recv(c, cqe);
		break;
	case TL_IO_OP_SEND:
		on_send(c, cqe->res);
		break;
	case TL_IO_OP_TIMER:
		c->timer_ops--;
		c->timer_due_ns = 0;
		if (!c->destroyed)
			on_timer(c);
		break;
	case TL_IO_OP_TIMER_UPDATE:
		c->timer_ops--;
		break;
	case TL_IO_OP_NONE:
	case TL_IO_OP_WAKE: /* the loop's own (loop.c), never a conn's */
		break;
	}
	settle(c);
}
