/*
 * io_internal.h: what the io/ files share and nobody else sees.
 *
 * Every SQE's user_data is a tagged pointer: the owning conn (16-byte aligned, as
 * malloc returns) with the operation kind in its low four bits. A conn is freed only once
 * none of its operations is in flight, so a completion never finds freed memory.
 */
#ifndef TL_IO_INTERNAL_H
#define TL_IO_INTERNAL_H

#include "tl_io.h"
#include "tl_ring.h"

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

enum tl_io_op {
	TL_IO_OP_NONE = 0, /* a loop-internal SQE whose completion needs nothing */
	TL_IO_OP_CONNECT,
	TL_IO_OP_CONNECT_TIMEOUT, /* the linked timeout on a connect */
	TL_IO_OP_RECV,            /* the multishot recv */
	TL_IO_OP_SEND,
	TL_IO_OP_TIMER,        /* the conn's one timeout */
	TL_IO_OP_TIMER_UPDATE, /* moving that timeout earlier */
	TL_IO_OP_CANCEL,       /* cancelling everything on the fd */
	TL_IO_OP_WAKE,         /* the loop's read of its waiter's eventfd (no conn) */
};
#define TL_IO_OP_MASK 0xfu

/* A completion held back for the next poll: the fields of its CQE that the conns read,
 * and when it was reaped (tl_io_loop_batch_ns while it is handled). */
struct held_cqe {
	uint64_t user_data, reaped_ns;
	int32_t res;
	uint32_t flags;
};

struct tl_io_loop {
	struct io_uring ring;
	bool defer_taskrun;
	bool coop_taskrun; /* COOP_TASKRUN | TASKRUN_FLAG: busy_poll, on a kernel that has them */
	bool busy_poll;    /* tl_io_loop_config.busy_poll */

	/* The provided-buffer ring: buffer `bid` is at rx_bufs + bid * rx_buf_bytes. */
	struct io_uring_buf_ring *buf_ring;
	uint8_t *rx_bufs;
	unsigned rx_buf_count;
	unsigned rx_buf_bytes;
	unsigned rx_returned;       /* buffers given back since the last advance */
	struct tl_io_conn *starved; /* conns whose multishot recv ended with -ENOBUFS */

	/* conns destroyed while ops were in flight; freed when the last one completes */
	struct tl_io_conn *zombies;

	/* tl_io_loop_set_waiter: the rings' waiter, its eventfd (the waiter's) and the read
	 * kept posted */
	tl_wait_t *waiter;
	int wake_fd;
	uint64_t wake_count;
	bool wake_armed;

	uint64_t batch_ns; /* when the completions being handled were reaped */

	/* Completions of ordinary conns that came with an urgent conn's, in the order they
	 * came: handled by the next poll (tl_io_conn_config.urgent). held_cap is the
	 * completion queue's size. */
	struct held_cqe *held;
	unsigned held_n, held_cap;
	unsigned urgent_conns; /* conns of this loop with cfg.urgent: none, nothing is held */
};

enum tl_io_conn_state {
	TL_IO_CLOSED = 0,
	TL_IO_CONNECTING,
	TL_IO_TLS_HANDSHAKE,
	TL_IO_OPEN,
	TL_IO_CLOSING,
};

struct tl_io_conn {
	tl_io_loop_t *loop;
	struct tl_io_conn_config cfg;
	struct tl_io_conn_ops ops;
	void *user;

	enum tl_io_conn_state state;
	int fd;
	int close_err;      /* first reason given to abort */
	unsigned fd_ops;    /* connect, link timeout, recv, send, cancel in flight */
	unsigned timer_ops; /* timer and timer updates in flight */
	bool recv_armed;
	bool cancel_sent;
	bool close_after_flush; /* graceful close: close once tx drains */
	bool destroyed;         /* tl_io_conn_destroy ran; free when no op is in flight */
	unsigned cb_depth;      /* inside an owner callback: a destroy must wait */
	struct tl_io_conn *next_zombie;
	bool starved; /* on loop->starved */
	struct tl_io_conn *next_starved;

	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[256];
	struct __kernel_timespec connect_ts;

	/* Received bytes the owner has not consumed yet (plaintext with TLS). */
	uint8_t *stash;
	size_t stash_cap;
	size_t stash_len;

	/*
	 * Bytes to send: [tx_head, tx_tail) is queued; the first tx_inflight of it are in the
	 * kernel's hands and must not move.
	 */
	uint8_t *tx;
	size_t tx_cap;
	size_t tx_head;
	size_t tx_tail;
	size_t tx_inflight;
	bool reserve_open;

	/* TLS: ciphertext received and not yet read by wolfSSL, and the plaintext scratch
	 * that tl_io_conn_send_reserve hands out. */
	WOLFSSL_CTX *tls_ctx;
	WOLFSSL *tls;
	uint8_t *tls_in;
	size_t tls_in_cap;
	size_t tls_in_head;
	size_t tls_in_len;
	uint8_t *tls_plain;
	size_t tls_plain_cap;

	/* Deadlines (0 = none) and the one kernel timeout that wakes for the earliest. */
	uint64_t handshake_deadline_ns;
	uint64_t user_deadline_ns;
	uint64_t last_rx_ns;
	uint64_t timer_due_ns; /* when the timeout in flight fires; 0 when none */
	struct __kernel_timespec timer_ts;
};

/* An SQE from the loop's ring, submitting first when the queue is full. Never NULL. */
struct io_uring_sqe *tl_io_loop_sqe(tl_io_loop_t *loop);

/* Gives a provided buffer back to the kernel (the advance happens once per poll). */
void tl_io_loop_buf_return(tl_io_loop_t *loop, unsigned bid);

/* Frees a conn; called by the loop when a destroyed conn's last op completes. */
void tl_io_conn_free(struct tl_io_conn *conn);

/* Handles one completion that belongs to `conn`. */
void tl_io_conn_complete(struct tl_io_conn *conn, enum tl_io_op op, const struct io_uring_cqe *cqe);

/* True when len more bytes fit in the tx buffer (compacting it if that helps). */
bool tl_io_conn_tx_room(struct tl_io_conn *conn, size_t len);

/* Issues a send of what is queued, unless one is in flight. */
void tl_io_conn_flush(struct tl_io_conn *conn);

/* Re-arms the recv of a conn whose multishot recv stopped for lack of buffers. */
void tl_io_conn_rearm_starved(struct tl_io_conn *conn);

static inline uint64_t tl_io_tag(struct tl_io_conn *conn, enum tl_io_op op)
{
	return (uint64_t)(uintptr_t)conn | (uint64_t)op;
}

/* --- TLS (tls.c) -------------------------------------------------------------------- */

/* Creates conn->tls_ctx from the config: TLS 1.3 client, peer verification on. */
int tl_io_tls_ctx_create(struct tl_io_conn *conn);

/* Creates the session for a new connection (SNI, hostname check) and starts the
 * handshake. Returns 0, or a TL_E_TLS* error. */
int tl_io_tls_start(struct tl_io_conn *conn);

/* Continues the handshake. Returns 1 when done, 0 when it needs more bytes, or an error. */
int tl_io_tls_handshake(struct tl_io_conn *conn);

/* Decrypts what tls_in holds into the stash tail. Returns bytes added (0: need more), or
 * an error (TL_E_TLS, or 0 with *eof set on close_notify). */
ssize_t tl_io_tls_read(struct tl_io_conn *conn, bool *eof);

/* Encrypts len bytes into the tx buffer. Returns 0 or -ENOBUFS (nothing written). */
int tl_io_tls_write(struct tl_io_conn *conn, const uint8_t *data, size_t len);

/* Queues close_notify (best effort). */
void tl_io_tls_shutdown(struct tl_io_conn *conn);

/* Frees the session (not the context). */
void tl_io_tls_end(struct tl_io_conn *conn);

/* Bytes of tx room a TLS write of len plaintext bytes may need. */
size_t tl_io_tls_overhead(size_t len);

/* ---- a WebSocket client's masking keys (ws_codec.c) ------------------------------------ */

/*
 * Each frame a client sends carries a fresh 4-byte masking key (RFC 6455 §5.3). The keys
 * are drawn from the client's DRBG ahead of time into a pool of 256, and handed out in the
 * order they were drawn, each once.
 *
 * Why a pool that is refilled when idle: a draw from wolfSSL's DRBG costs about 3 us warm
 * for 256 bytes, more cold. Made by the send that found the pool empty, it fell inside that
 * request's tick-to-trade (one request in 64 with the old pool of 64 keys);
 * tl_ws_mask_pool_refill, called from the loop's idle rounds (tl_ws_client_idle), tops the
 * pool up instead.
 */
#define TL_WS_MASK_POOL_BYTES 1024

/* Writes `len` random bytes to `out`; 0, or nonzero when the source failed. */
typedef int (*tl_ws_mask_fill_fn)(void *ctx, uint8_t *out, size_t len);

struct tl_ws_mask_pool {
	uint8_t keys[TL_WS_MASK_POOL_BYTES];
	size_t next;             /* offset of the next key; TL_WS_MASK_POOL_BYTES: none left */
	uint64_t draws_in_take;  /* takes that found none left and drew the whole pool */
	uint64_t draws_refilled; /* refills that drew */
	uint64_t fill_failures;  /* draws whose source failed (those keys are a constant) */
};

/* A full pool, drawn through fill (a failure is counted, as below); no draw is counted. */
void tl_ws_mask_pool_init(struct tl_ws_mask_pool *p, tl_ws_mask_fill_fn fill, void *ctx);

/* The next key (valid until the next call on the pool). With none left, draws the whole
 * pool first, through fill. A failed draw is counted and gives a constant key: such a
 * frame is still well formed, and a broken DRBG is no reason to stop trading. */
const uint8_t *tl_ws_mask_pool_take(struct tl_ws_mask_pool *p, tl_ws_mask_fill_fn fill, void *ctx);

/* When at least half the pool is used: moves the keys still unused to its front, in their
 * order, and draws the rest anew. Returns true when it drew. */
bool tl_ws_mask_pool_refill(struct tl_ws_mask_pool *p, tl_ws_mask_fill_fn fill, void *ctx);

#endif /* TL_IO_INTERNAL_H */
