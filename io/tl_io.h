/*
 * tl_io.h: every byte tally exchanges with a venue goes through here.
 *
 * Layers, bottom up (each usable on its own):
 *
 *   codecs      WebSocket frames (RFC 6455), UTF-8, the opening handshake, HTTP/1.1
 *               requests and responses. Pure functions over caller-owned buffers: no I/O,
 *               no allocation, no global state. They are what the fuzz targets drive.
 *   loop        one io_uring per thread (SINGLE_ISSUER + DEFER_TASKRUN when the kernel
 *               allows), a registered provided-buffer ring for multishot recv, timers.
 *   conn        a TCP stream on a loop, optionally wrapped in TLS 1.3 (wolfSSL, whose
 *               custom I/O callbacks read and write the io_uring buffers).
 *   ws / http   a WebSocket client and an HTTP/1.1 client on a conn.
 *   backoff     the reconnect policy: exponential back-off with full jitter and caps.
 *
 * Untrusted input: everything that arrives from the network is validated. A violation is
 * an error result with a reason (a close code for WebSocket, a negative error for the
 * rest); nothing here asserts on network input.
 *
 * Memory: all buffers are sized at creation from the config. Once a connection is up, no
 * message allocates on the heap. Received messages are handed to the caller by pointer;
 * such a pointer is valid only during the callback that delivers it.
 *
 * Threads: a loop, and every conn, ws and http client on it, belong to the one thread
 * that created the loop. Only the codecs and the backoff calls may be used anywhere.
 *
 * Errors: 0 or a count on success, a negative errno or TL_E_* code (tl_error.h) on
 * failure, as liburing does. "Would block" and "need more bytes" are results, not errors.
 */
#ifndef TL_IO_H
#define TL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tl_error.h"

/* ======================================================================================
 * UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 * Thread: any. Blocks: no.
 * ====================================================================================== */

#define TL_UTF8_ACCEPT 0u /* a complete, valid sequence so far */
#define TL_UTF8_REJECT 1u /* invalid; stays invalid */

/*
 * Advances the incremental validator over `len` bytes from `state` (start with
 * TL_UTF8_ACCEPT) and returns the new state: TL_UTF8_ACCEPT when the bytes so far end on a
 * character boundary, TL_UTF8_REJECT once they are invalid, anything else inside a
 * multi-byte character. A text split across fragments is checked by chaining the calls.
 * A `state` this function never returned gives TL_UTF8_REJECT.
 */
uint32_t tl_utf8_step(uint32_t state, const uint8_t *p, size_t len);

/* True when p[0..len) is complete, valid UTF-8. */
bool tl_utf8_valid(const uint8_t *p, size_t len);

/* ======================================================================================
 * WebSocket frame codec (RFC 6455). Thread: any. Blocks: no.
 * ====================================================================================== */

enum tl_ws_opcode {
	TL_WS_OP_CONT = 0x0,
	TL_WS_OP_TEXT = 0x1,
	TL_WS_OP_BINARY = 0x2,
	TL_WS_OP_CLOSE = 0x8,
	TL_WS_OP_PING = 0x9,
	TL_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 §7.4.1). 1005 and 1006 are never sent on the wire. */
#define TL_WS_CLOSE_NORMAL 1000
#define TL_WS_CLOSE_GOING_AWAY 1001
#define TL_WS_CLOSE_PROTOCOL 1002
#define TL_WS_CLOSE_UNSUPPORTED 1003
#define TL_WS_CLOSE_NO_STATUS 1005
#define TL_WS_CLOSE_ABNORMAL 1006
#define TL_WS_CLOSE_INVALID_DATA 1007
#define TL_WS_CLOSE_POLICY 1008
#define TL_WS_CLOSE_TOO_BIG 1009
#define TL_WS_CLOSE_INTERNAL 1011

/* Largest frame header: 2 bytes, 8 of extended length, 4 of mask key. */
#define TL_WS_HEADER_MAX 14
/* Largest control-frame payload. */
#define TL_WS_CONTROL_MAX 125

/*
 * True when `code` may appear in a received close frame: 1000-1003, 1007-1014 and
 * 3000-4999. 1004-1006, 1015, the rest of 1000-2999 and everything else are refused.
 */
bool tl_ws_close_code_valid(unsigned code);

/*
 * Decoder state for one direction of one connection. A client decodes what a server sends
 * (frames must be unmasked); a server (the venue simulator, the bench echo peer) decodes
 * what a client sends (frames must be masked, and are unmasked in place).
 *
 * Fragmented data messages are reassembled into `msg_buf` (caller-owned, at least
 * `max_msg_bytes` long, outliving the decoder). An unfragmented message is never copied:
 * the event points into the caller's input.
 */
struct tl_ws_decoder {
	uint8_t *msg_buf;     /* reassembly buffer, caller-owned */
	size_t max_msg_bytes; /* largest message accepted; a larger one is close 1009 */
	bool server_side;     /* true: frames must be masked; false: must not be */

	/* Reassembly state, private to the codec. */
	bool in_message;     /* a fragmented data message is open */
	uint8_t msg_opcode;  /* TEXT or BINARY of the open message */
	size_t msg_len;      /* bytes reassembled so far */
	uint32_t utf8_state; /* validator state over the open text message */
};

enum tl_ws_event_kind {
	TL_WS_EV_NONE = 0, /* bytes were consumed (a non-final fragment), nothing to deliver */
	TL_WS_EV_MESSAGE,  /* a complete text or binary message */
	TL_WS_EV_PING,
	TL_WS_EV_PONG,
	TL_WS_EV_CLOSE,
};

struct tl_ws_event {
	enum tl_ws_event_kind kind;
	uint8_t opcode;      /* TL_WS_OP_TEXT or _BINARY for a message; the frame's opcode else */
	const uint8_t *data; /* payload; into the input or into msg_buf */
	size_t len;
	uint16_t close_code; /* CLOSE only: the peer's code, or 1005 when it sent none */
	bool copied;         /* true when `data` is in msg_buf (the message was fragmented) */
};

/*
 * Prepares `d`. Returns 0, or -EINVAL when msg_buf is NULL or max_msg_bytes is 0.
 * Ownership: msg_buf stays the caller's, and must outlive the decoder.
 */
int tl_ws_decoder_init(struct tl_ws_decoder *d, uint8_t *msg_buf, size_t max_msg_bytes,
                       bool server_side);

/* Forgets any partly reassembled message (after a reconnect). */
void tl_ws_decoder_reset(struct tl_ws_decoder *d);

/*
 * Decodes at most one frame from in[0..len).
 *
 * Returns:
 *   > 0   the number of bytes of the one whole frame consumed; *ev says what it completed
 *         (TL_WS_EV_NONE for a non-final data fragment, which was copied into msg_buf);
 *   0     `in` does not yet hold a whole frame: call again with more bytes. Nothing was
 *         consumed. Once the header is complete, a frame whose length already breaks a
 *         limit is reported at once, without waiting for its payload.
 *   < 0   the peer broke the protocol. *close_code is the code to close with:
 *         -EPROTO    1002: reserved bits or opcode, a fragmented or over-long control
 *                    frame, a continuation with no message open, a new message inside an
 *                    open one, the wrong masking for the side, a close payload of one
 *                    byte, or an invalid close code;
 *         -EMSGSIZE  1009: the message (reassembled or not) exceeds max_msg_bytes;
 *         -EILSEQ    1007: a text message, or a close reason, is not valid UTF-8.
 *         After an error the decoder must be reset before reuse. *close_code is written
 *         only on error.
 *
 * `in` is writable because a server unmasks client frames in place. ev->data points into
 * `in` (or msg_buf when ev->copied) and is valid until the caller reuses that memory or
 * calls tl_ws_decode again.
 */
ssize_t tl_ws_decode(struct tl_ws_decoder *d, uint8_t *in, size_t len, struct tl_ws_event *ev,
                     uint16_t *close_code);

/*
 * Writes a frame header for a payload of `payload_len` bytes into out (which must have
 * TL_WS_HEADER_MAX bytes) and returns its length (2 to 14). With `mask_key` non-NULL the
 * mask bit is set and the 4-byte key follows the length; NULL means an unmasked
 * (server) frame. `fin` false starts or continues a fragmented message. payload_len must
 * be below 2^63, as the wire requires (asserted).
 */
size_t tl_ws_header_write(uint8_t *out, uint8_t opcode, bool fin, uint64_t payload_len,
                          const uint8_t *mask_key);

/*
 * XORs len bytes of src with the mask key into dst (dst may equal src, but may not
 * otherwise overlap it). `offset` is the position of src[0] within the frame's payload,
 * so that a payload can be masked in pieces.
 */
void tl_ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask_key[4],
                size_t offset);

/*
 * Encodes one whole frame (header, then the payload masked with mask_key when it is
 * non-NULL) into out[0..cap). Returns the frame's length, or -ENOBUFS when it does not
 * fit (nothing is written), or -EINVAL for a bad opcode, a control frame over 125 bytes or
 * without `fin`, or a NULL payload with len > 0. payload may not overlap out.
 */
ssize_t tl_ws_frame_encode(uint8_t *out, size_t cap, uint8_t opcode, bool fin, const void *payload,
                           size_t len, const uint8_t *mask_key);

/*
 * Writes a close payload (2-byte big-endian code, then the reason, cut to fit 125 bytes
 * on a UTF-8 character boundary) into out[TL_WS_CONTROL_MAX] and returns its length.
 * A NULL reason writes the code alone.
 */
size_t tl_ws_close_payload(uint8_t out[TL_WS_CONTROL_MAX], uint16_t code, const char *reason);

/* --- the opening handshake (RFC 6455 §4) ---------------------------------------------- */

#define TL_WS_KEY_LEN 24    /* base64 of 16 bytes */
#define TL_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* Writes the Sec-WebSocket-Key for a 16-byte nonce: 24 characters and a NUL. */
void tl_ws_key_make(char out[TL_WS_KEY_LEN + 1], const uint8_t nonce[16]);

/*
 * Computes the Sec-WebSocket-Accept expected for `key` (base64 of SHA-1 of the key and
 * the RFC's GUID): 28 characters and a NUL. Returns 0, or -EINVAL when key is NULL or
 * key_len is 0 or over 64 bytes, or TL_E_TLS if wolfCrypt fails (it has no reason to).
 */
int tl_ws_accept_make(char out[TL_WS_ACCEPT_LEN + 1], const char *key, size_t key_len);

/* ======================================================================================
 * HTTP/1.1 codec (RFC 9112), client side: requests out, responses in.
 * Thread: any. Blocks: no.
 * ====================================================================================== */

struct tl_http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing blanks trimmed */
	size_t value_len;
};

/*
 * Writes a request into out[0..cap): the request line, Host, the caller's headers, then
 * Content-Length and the body when body_len > 0 or the method is POST or PUT. Nothing
 * else is added, and no NUL is written. Returns the request's length, or:
 *   -ENOBUFS  it does not fit (out[0..cap) then holds a partial request);
 *   -EINVAL   method, host or target is NULL or empty; the method is not a token; host or
 *             target holds a blank or a control character; a header name is not a token
 *             or a value holds a control character other than HTAB (so no CR, LF or NUL:
 *             no header injection); the caller passes its own Host, Content-Length or
 *             Transfer-Encoding (the codec writes the framing, and two framings are a
 *             request-smuggling hazard); headers or body is NULL with a non-zero count.
 * The header names and values are length-counted; method, host and target are C strings.
 */
ssize_t tl_http_request_write(char *out, size_t cap, const char *method, const char *host,
                              const char *target, const struct tl_http_header *headers,
                              size_t n_headers, const void *body, size_t body_len);

#define TL_HTTP_MAX_HEADERS 64

/*
 * Response parser. The caller owns two buffers: `head_buf` keeps the status line and the
 * header block (the header views point into it), `body_buf` receives the body with any
 * chunked framing removed. Both must outlive the parser. Their sizes are the limits: a
 * response that needs more is -EMSGSIZE.
 */
struct tl_http_response {
	/* Caller-owned buffers; set by tl_http_response_init. */
	char *head_buf;
	size_t head_cap;
	uint8_t *body_buf;
	size_t body_cap;

	/* Results, valid once `complete` (the head ones once `head_done`). */
	int status;        /* 100-599 */
	int minor_version; /* HTTP/1.<minor_version> */
	/*
	 * The connection may carry another request: HTTP/1.1 unless "Connection: close",
	 * HTTP/1.0 only with "Connection: keep-alive". Never after a 101, a body ended by the
	 * close, or a response with both Transfer-Encoding and Content-Length.
	 */
	bool keep_alive;
	bool head_done; /* the status line and headers are parsed */
	bool complete;  /* the whole response is in */
	struct tl_http_header headers[TL_HTTP_MAX_HEADERS];
	size_t n_headers;
	size_t body_len;

	/* Parser state, private to the codec. */
	bool no_body; /* reset's: the request was HEAD or an upgrade */
	int body_mode;
	size_t head_len;
	uint64_t content_length;
	uint64_t chunk_left;
	int chunk_state;
	size_t line_start; /* head: offset in head_buf of the line being read */
	size_t line_bytes; /* chunked: bytes of the size line, or of the trailers */
	int error;         /* the first error, returned again until the reset */
};

/* Prepares `r` for a new response. Returns 0 or -EINVAL (a NULL buffer or zero size). */
int tl_http_response_init(struct tl_http_response *r, char *head_buf, size_t head_cap,
                          uint8_t *body_buf, size_t body_cap);

/*
 * Readies `r` for the next response on the same buffers. `no_body` says the request was
 * HEAD (or an upgrade, whose 101 answer has no body). The header views of the previous
 * response are invalid from here on.
 *
 * A 1xx response is complete at the end of its head. After a 100 or 103 the caller resets
 * and parses again for the final response; after a 101 the bytes that follow belong to
 * the new protocol.
 */
void tl_http_response_reset(struct tl_http_response *r, bool no_body);

/*
 * Feeds in[0..len). Returns the number of bytes consumed (never more than one response:
 * bytes after its end are left for the next one), with r->complete set once the response
 * is whole. Until then every byte given is consumed; once complete, a call returns 0.
 * The bytes may be split anywhere: the result, and any error, is the same however they
 * arrive. Returns < 0 on a malformed response:
 *   -EBADMSG   bad status line, header syntax (blanks before the colon, an obsolete line
 *              folding, a control character, a bare CR), chunk size or framing;
 *              conflicting Content-Length values; a Transfer-Encoding other than a
 *              single "chunked", or any Transfer-Encoding in an HTTP/1.0 response;
 *   -EMSGSIZE  the head (status line, headers and the blank line) exceeds head_cap, the
 *              body exceeds body_cap (a Content-Length or chunk size that cannot fit is
 *              refused before its bytes arrive), or a chunk-size line or the trailer
 *              section exceeds head_cap;
 *   -E2BIG     more than TL_HTTP_MAX_HEADERS headers;
 *   -EINVAL    r is NULL or not initialised, or in is NULL with len > 0.
 * After an error the response must be reset before reuse; until then each call returns
 * the same error. Lines end with CRLF or a bare LF. Trailer fields are checked and
 * dropped.
 */
ssize_t tl_http_response_parse(struct tl_http_response *r, const uint8_t *in, size_t len);

/*
 * The peer closed the connection. A response delimited by the close (no Content-Length,
 * not chunked) is complete: returns 0 and sets r->complete. A response that is already
 * complete returns 0. Any other response was cut short (or not begun, or failed to
 * parse): returns -EPIPE. -EINVAL when r is NULL.
 */
int tl_http_response_eof(struct tl_http_response *r);

/*
 * The first header named `name` (case-insensitive), or NULL. *value_len (when value_len
 * is not NULL) gets its length, 0 when there is none. The value is not NUL-terminated.
 * The returned memory is head_buf's, valid until the next reset.
 */
const char *tl_http_header_get(const struct tl_http_response *r, const char *name,
                               size_t *value_len);

/*
 * True when the comma-separated header `name` lists `token` (case-insensitive), as in
 * "Connection: keep-alive, Upgrade". Every header line named `name` is searched, since a
 * list may be split across several of them. An empty token is never listed.
 */
bool tl_http_header_has_token(const struct tl_http_response *r, const char *name,
                              const char *token);

/* ======================================================================================
 * The loop: one io_uring per thread.
 *
 * Set up with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, or with
 * COOP_TASKRUN | TASKRUN_FLAG instead of DEFER_TASKRUN when busy-polled (busy_poll); a
 * kernel that refuses them gets a plain ring, and one log line on stderr says so.
 * Received bytes land in a registered ring of provided buffers (one buffer group per
 * loop, shared by all its connections), filled by one multishot recv per connection.
 *
 * Thread: the loop and everything on it belong to the thread that calls tl_io_loop_poll;
 * create it on that thread (SINGLE_ISSUER ties the ring to its first submitter).
 * ====================================================================================== */

typedef struct tl_io_loop tl_io_loop_t;

struct tl_io_loop_config {
	unsigned sq_entries;   /* submission queue size (default 256) */
	unsigned rx_buf_count; /* provided recv buffers, a power of two <= 32768 (default 256) */
	unsigned rx_buf_bytes; /* size of each (default 16384) */
	/* For a thread that polls (wait_ns == 0) instead of sleeping, and owns its core (default
	 * false). The ring then runs with COOP_TASKRUN and TASKRUN_FLAG instead of
	 * DEFER_TASKRUN: a completion's last step (the copy of received bytes, say) runs at
	 * the thread's next entry into the kernel, whatever the entry, and the kernel flags it
	 * meanwhile so that a poll enters for it; it never interrupts the thread for it. A
	 * poll enters the kernel only to submit, for flagged work, or when the completion
	 * queue overflowed, so an idle round is no syscall: a thread that enters the kernel
	 * between frames finds its caches, TLB and branch predictors cold when the next frame
	 * comes (`tally bench book --gap-idle`). Why not the interrupt: on the 2-vCPU virtual
	 * machine this was measured on, the interrupt (a reschedule IPI) took the polling
	 * thread's CPU away for about 20 us before each received frame (README). */
	bool busy_poll;
};

void tl_io_loop_config_default(struct tl_io_loop_config *cfg);

/*
 * Creates a loop. Returns 0 and *out, or -EINVAL (bad config), -ENOMEM, or the kernel's
 * error from io_uring_setup or the buffer-ring registration (for example -ENOSYS, -EPERM
 * when io_uring is disabled). Allocates: yes, once. Thread: the loop's thread.
 */
int tl_io_loop_create(tl_io_loop_t **out, const struct tl_io_loop_config *cfg);

/* Destroys a loop whose connections are all destroyed. NULL is ignored. */
void tl_io_loop_destroy(tl_io_loop_t *loop);

/* True when the ring runs with SINGLE_ISSUER and DEFER_TASKRUN (false after a fallback,
 * and with busy_poll). */
bool tl_io_loop_defer_taskrun(const tl_io_loop_t *loop);

/* True when the ring runs with SINGLE_ISSUER, COOP_TASKRUN and TASKRUN_FLAG (busy_poll,
 * unless the kernel refused them). */
bool tl_io_loop_coop_taskrun(const tl_io_loop_t *loop);

/*
 * Submits what is queued and handles every completion that is ready, calling the
 * connection callbacks; when an urgent conn's (tl_io_conn_config.urgent) came with
 * others, the others are held, in order, for the next poll. wait_ns < 0
 * waits for at least one completion with no limit; wait_ns == 0 busy-polls (never
 * sleeps: one io_uring_submit_and_get_events, or with busy_poll none unless something is
 * queued, the kernel flagged completions waiting for an entry, or the completion queue
 * overflowed); wait_ns > 0 waits at most that long. A poll that holds completions back
 * does not wait. Returns the number of completions handled (0 = idle: the caller's idle
 * strategy may back off), or a negative error from io_uring_enter.
 * Thread: the loop's. Blocks: only when wait_ns != 0.
 */
int tl_io_loop_poll(tl_io_loop_t *loop, int64_t wait_ns);

/*
 * As tl_io_loop_poll, but waits for the sockets only: a loop with a waiter
 * (tl_io_loop_set_waiter) sleeps here even while one of the waiter's rings holds
 * something. For teardown, when the rings are no longer drained and a poll that returned
 * at once for them would spin through a connection's close. Thread: the loop's.
 * Blocks: only when wait_ns != 0.
 */
int tl_io_loop_poll_sockets(tl_io_loop_t *loop, int64_t wait_ns);

/*
 * Submits what is queued now (sends just written, say), without handling completions,
 * so that other work can come before the next poll. Returns the number of submissions,
 * 0 when nothing was queued (no syscall then), or a negative error from io_uring_enter.
 * Thread: the loop's. Blocks: no.
 */
int tl_io_loop_submit(tl_io_loop_t *loop);

/* CLOCK_MONOTONIC in ns (vDSO: no syscall). Thread: any. */
uint64_t tl_io_now_ns(void);

/*
 * The time (tl_io_now_ns) at which the completions now being handled were reaped: inside
 * a callback, when its bytes came off the socket as this thread saw them, the origin of
 * a tick-to-trade measurement. Thread: the loop's.
 */
uint64_t tl_io_loop_batch_ns(const tl_io_loop_t *loop);

/*
 * Lets the producers of the rings that `w` watches wake this loop's thread while it waits
 * in tl_io_loop_poll: keeps a read of w's eventfd (tl_ring.h: tl_wait_open_eventfd)
 * posted, and from then on every poll with wait_ns != 0 announces itself to w, and does
 * not sleep when one of w's rings is readable. So a thread can wait for its sockets and
 * its rings at once. Call before the producers start; at most once per loop. The fd stays
 * w's (tl_wait_close, once the loop is destroyed and every waker stopped).
 * Returns 0, -EBUSY (already set), or -EINVAL (w has no eventfd). Thread: the loop's.
 */
struct tl_wait;
int tl_io_loop_set_waiter(tl_io_loop_t *loop, struct tl_wait *w);

/* ======================================================================================
 * Connections: TCP, optionally TLS 1.3, on a loop.
 * ====================================================================================== */

typedef struct tl_io_conn tl_io_conn_t;

struct tl_io_conn_config {
	bool tls;               /* TLS 1.3 with SNI and certificate verification */
	const char *ca_file;    /* one more trusted CA (PEM), besides the system store */
	bool tls_no_system_cas; /* trust only ca_file (tests) */
	size_t
	    rx_stash_bytes;  /* bytes kept for a partly received message (default 1 MiB + 64 KiB) */
	size_t tx_buf_bytes; /* bytes queued for sending (default 256 KiB) */
	uint64_t connect_timeout_ns;   /* TCP connect (default 5 s) */
	uint64_t handshake_timeout_ns; /* TLS and upper-layer handshakes (default 10 s) */
	uint64_t idle_timeout_ns; /* no byte received for this long closes (0 = never; default 0) */
	/* Its completions are handled ahead of the other conns' on the same loop (default
	 * false). When a poll reaps both, it handles the urgent ones and returns; the others
	 * are held, in order, and handled by the next poll, which then does not sleep. So a
	 * thread that reacts to one stream between polls (the fused engine thread: market
	 * data first, then the strategy and the order it sends) does not first wait behind
	 * whatever else arrived with it. Each conn's own completions keep their order. */
	bool urgent;
};

void tl_io_conn_config_default(struct tl_io_conn_config *cfg);

/*
 * What a connection tells its owner. All run on the loop's thread, inside
 * tl_io_loop_poll.
 */
struct tl_io_conn_ops {
	/* TCP is connected and, with TLS, the handshake is done. */
	void (*on_open)(tl_io_conn_t *conn, void *user);
	/*
	 * Received bytes (decrypted with TLS). Returns how many were consumed; the rest is
	 * kept and offered again, at the front, with the next bytes. `data` is writable and
	 * valid only during the call. Returning more than 0 and less than len is normal.
	 */
	size_t (*on_data)(tl_io_conn_t *conn, void *user, uint8_t *data, size_t len);
	/*
	 * A deadline set with tl_io_conn_timer_set passed.
	 */
	void (*on_timer)(tl_io_conn_t *conn, void *user);
	/*
	 * The connection is closed, and every operation on it has completed: the conn may be
	 * connected again or destroyed. err is 0 after tl_io_conn_close or when the peer
	 * closed cleanly; else why: -ETIMEDOUT (connect, handshake or idle), -ECONNREFUSED,
	 * -ECONNRESET, -EPIPE, -EMSGSIZE (the stash overflowed), a TLS error
	 * (TL_E_TLS_EXPIRED, TL_E_TLS_HOSTNAME, TL_E_TLS_UNKNOWN_CA, TL_E_TLS), or whatever
	 * the owner passed to tl_io_conn_abort.
	 */
	void (*on_close)(tl_io_conn_t *conn, void *user, int err);
};

/*
 * Creates a connection object on `loop` with its buffers (and, with TLS, its wolfSSL
 * context: the system CAs and ca_file are loaded here). Returns 0 and *out, -EINVAL,
 * -ENOMEM, -ENOENT (ca_file unreadable) or TL_E_TLS. Allocates: yes, once.
 * Ownership: cfg and ops are copied; ca_file need not outlive the call.
 */
int tl_io_conn_create(tl_io_conn_t **out, tl_io_loop_t *loop, const struct tl_io_conn_config *cfg,
                      const struct tl_io_conn_ops *ops, void *user);

/*
 * Destroys a closed connection (on_close has run, or it never connected). Returns 0, or
 * -EBUSY while operations are still in flight: close it and wait for on_close first.
 */
int tl_io_conn_destroy(tl_io_conn_t *conn);

/*
 * Starts connecting to host:port. `host` is resolved here (getaddrinfo: blocks on DNS when
 * it is not a numeric address) and, with TLS, is the SNI name and the name the
 * certificate must carry. Returns 0 (on_open or on_close follows), -EISCONN when not
 * closed, -EINVAL, or a resolution or socket error (-EHOSTUNREACH when the name has no
 * address).
 */
int tl_io_conn_connect(tl_io_conn_t *conn, const char *host, uint16_t port);

/*
 * Queues bytes to send: copied once into the send buffer (plain) or encrypted into it
 * (TLS). Returns 0, -ENOBUFS when the send buffer lacks room (nothing is queued), or
 * -ENOTCONN. Sending starts at the next tl_io_loop_poll.
 */
int tl_io_conn_send(tl_io_conn_t *conn, const void *data, size_t len);

/*
 * Zero-copy sending: reserve `len` bytes, write them, then commit. Plain TCP reserves in
 * the send buffer itself; TLS reserves in a plaintext scratch that commit encrypts.
 * Returns a pointer, or NULL when there is no room (or not connected). Only one
 * reservation may be open at a time; commit `len` bytes or fewer.
 */
uint8_t *tl_io_conn_send_reserve(tl_io_conn_t *conn, size_t len);
int tl_io_conn_send_commit(tl_io_conn_t *conn, size_t len);

/* Bytes queued and not yet sent. */
size_t tl_io_conn_tx_pending(const tl_io_conn_t *conn);

/*
 * Closes gracefully: what is queued is sent first (TLS: then close_notify), then the
 * socket is closed. on_close(err = 0) follows. Closing a closed conn does nothing.
 */
void tl_io_conn_close(tl_io_conn_t *conn);

/* Closes at once, dropping what is queued; on_close follows with `err`. */
void tl_io_conn_abort(tl_io_conn_t *conn, int err);

/*
 * Sets the owner's one deadline, `delay_ns` from now (0 clears it); on_timer runs when it
 * passes. Works whether the conn is connected or not (a reconnect delay uses it).
 */
void tl_io_conn_timer_set(tl_io_conn_t *conn, uint64_t delay_ns);

/* Marks the upper-layer handshake done: the handshake deadline stops applying. */
void tl_io_conn_handshake_done(tl_io_conn_t *conn);

/* True between on_open and on_close. */
bool tl_io_conn_is_open(const tl_io_conn_t *conn);

/*
 * For the loop's idle rounds: asks the CPU to bring into its cache what the conn's next
 * receive and send touch first: the conn itself, the free end of its send buffer, and its
 * loop's next submission and completion entries. Between frames tens of milliseconds
 * apart, other work on a shared machine evicts them, and each miss then falls inside the
 * next frame's reaction. Hints only: nothing is read into the program or written, and no
 * syscall is made. Thread: the loop's. Blocks: never.
 */
void tl_io_conn_prefetch(const tl_io_conn_t *conn);

/* ======================================================================================
 * Reconnect policy: exponential back-off with jitter, capped. Thread: any. Blocks: no.
 * ====================================================================================== */

struct tl_io_backoff {
	uint64_t base_ns;      /* first delay, before jitter */
	uint64_t cap_ns;       /* no delay exceeds this */
	uint32_t max_attempts; /* 0 = retry forever */
	uint32_t attempt;      /* attempts since the last reset */
	uint64_t rng;          /* xorshift state: jitter need not be cryptographic */
};

/* base_ns > 0 and cap_ns >= base_ns, or -EINVAL. seed 0 is replaced by a fixed one. */
int tl_io_backoff_init(struct tl_io_backoff *b, uint64_t base_ns, uint64_t cap_ns,
                       uint32_t max_attempts, uint64_t seed);

/*
 * The delay before the next attempt: d = min(cap, base * 2^attempt), then a uniformly
 * random point in [d/2, d] (half jitter: spread, but never a storm of instant retries).
 * Returns it (> 0), or -ETIMEDOUT once max_attempts are used up.
 */
int64_t tl_io_backoff_next(struct tl_io_backoff *b);

/* A connection stayed up: start again from base_ns. */
void tl_io_backoff_reset(struct tl_io_backoff *b);

/* ======================================================================================
 * WebSocket client (RFC 6455) over a conn, with automatic reconnection.
 * ====================================================================================== */

typedef struct tl_ws_client tl_ws_client_t;

struct tl_ws_client_config {
	struct tl_io_conn_config conn;
	const char *host; /* required: resolved, SNI, Host header */
	uint16_t port;
	const char *path;          /* request target, default "/" */
	const char *extra_headers; /* appended to the upgrade request, each line ending in CRLF */
	size_t max_msg_bytes; /* largest message accepted (default 1 MiB); larger: close 1009 */
	uint64_t ping_interval_ns; /* send a ping this often while open (0 = never; default 0) */
	uint64_t close_timeout_ns; /* wait this long for the peer's close reply (default 2 s) */
	bool reconnect;            /* reconnect after an unrequested close (default true) */
	uint64_t backoff_base_ns;  /* default 100 ms */
	uint64_t backoff_cap_ns;   /* default 30 s */
	uint32_t backoff_max_attempts; /* 0 = forever (default) */
	uint64_t stable_after_ns;      /* up this long resets the back-off (default 30 s) */
};

void tl_ws_client_config_default(struct tl_ws_client_config *cfg);

struct tl_ws_client_ops {
	/* The upgrade succeeded (on_reconnect follows when an earlier connection dropped). */
	void (*on_open)(tl_ws_client_t *ws, void *user);
	/* A whole text or binary message; data valid only during the call. */
	void (*on_message)(tl_ws_client_t *ws, void *user, uint8_t opcode, const uint8_t *data,
	                   size_t len);
	/* A pong arrived (optional). */
	void (*on_pong)(tl_ws_client_t *ws, void *user, const uint8_t *data, size_t len);
	/*
	 * The connection ended at `at_ns` (tl_io_now_ns). err says why (0: a clean close
	 * handshake); close_code is the code the peer sent (or we sent, on a violation), or
	 * 1006 when there was no close frame. `will_retry`: a reconnect is scheduled.
	 */
	void (*on_disconnect)(tl_ws_client_t *ws, void *user, uint64_t at_ns, int err,
	                      uint16_t close_code, bool will_retry);
	/*
	 * Up again after a drop that began at disconnected_at_ns: what was missed in between
	 * must be back-filled. Called just after on_open. (optional)
	 */
	void (*on_reconnect)(tl_ws_client_t *ws, void *user, uint64_t disconnected_at_ns);
};

/*
 * Creates a client (allocates its buffers once). Returns 0 and *out, or as
 * tl_io_conn_create, or -EINVAL for a missing host. cfg strings are copied.
 */
int tl_ws_client_create(tl_ws_client_t **out, tl_io_loop_t *loop,
                        const struct tl_ws_client_config *cfg, const struct tl_ws_client_ops *ops,
                        void *user);

/* Starts connecting. Returns 0, -EISCONN, or as tl_io_conn_connect. */
int tl_ws_client_connect(tl_ws_client_t *ws);

/*
 * Queues one whole message (TL_WS_OP_TEXT or _BINARY) or a ping/pong (payload <= 125).
 * The frame is built and masked straight into the send buffer. Returns 0, -ENOTCONN (not
 * open), -ENOBUFS (no room: nothing queued), or -EINVAL.
 */
int tl_ws_client_send(tl_ws_client_t *ws, uint8_t opcode, const void *data, size_t len);

/*
 * Starts the close handshake with `code` and `reason` and stops reconnecting. The
 * disconnect event follows once the peer answers (or close_timeout_ns passes).
 */
int tl_ws_client_close(tl_ws_client_t *ws, uint16_t code, const char *reason);

/*
 * Drops this connection because the application no longer trusts what it carries (a
 * message it could not parse, say): closes with `code` and `reason`, discards whatever
 * still arrives, and reconnects as after any drop (unless reconnect is off), with
 * on_disconnect (err -ECONNABORTED), then on_open and on_reconnect. Returns 0, or
 * -ENOTCONN when not open.
 */
int tl_ws_client_resync(tl_ws_client_t *ws, uint16_t code, const char *reason);

/*
 * Upkeep for a loop's idle rounds. When at least half of the client's pool of 256 masking
 * keys (one a frame, from its DRBG) is used, draws the used ones anew, so that a send does
 * not have to: such a draw costs about 3 us warm, inside the request that made it. And it
 * prefetches what the next frame in or out touches first (the client, its decoder, the
 * next key, and tl_io_conn_prefetch). Returns true when it drew. Thread: the loop's.
 * Blocks: never.
 */
bool tl_ws_client_idle(tl_ws_client_t *ws);

struct tl_ws_client_stats {
	uint64_t key_draws_in_send; /* sends that found no masking key left and drew them */
	uint64_t key_draws_idle;    /* tl_ws_client_idle calls that drew */
	uint64_t key_draw_failures; /* draws the DRBG failed: those frames had a constant key */
};

/* Since create. Thread: the loop's. */
void tl_ws_client_stats(const tl_ws_client_t *ws, struct tl_ws_client_stats *out);

/* True while the WebSocket is open (after on_open, before the close starts). */
bool tl_ws_client_is_open(const tl_ws_client_t *ws);

/* Destroys a client that is disconnected (-EBUSY otherwise). */
int tl_ws_client_destroy(tl_ws_client_t *ws);

/* ======================================================================================
 * HTTP/1.1 client: one request at a time on a kept-alive connection.
 * ====================================================================================== */

typedef struct tl_http_client tl_http_client_t;

struct tl_http_client_config {
	struct tl_io_conn_config conn;
	const char *host;
	uint16_t port;
	size_t max_head_bytes;       /* status line and headers (default 16 KiB) */
	size_t max_body_bytes;       /* response body limit (default 4 MiB) */
	uint64_t request_timeout_ns; /* from sending to the whole response (default 10 s) */
};

void tl_http_client_config_default(struct tl_http_client_config *cfg);

/*
 * The response to the request in flight, or err < 0 (-ETIMEDOUT, -EMSGSIZE, -EBADMSG,
 * -EPIPE when the connection dropped mid-response, a connect or TLS error) with resp
 * NULL. resp and its buffers are valid only during the call.
 */
typedef void (*tl_http_response_fn)(tl_http_client_t *cl, void *user, int err,
                                    const struct tl_http_response *resp);

int tl_http_client_create(tl_http_client_t **out, tl_io_loop_t *loop,
                          const struct tl_http_client_config *cfg, tl_http_response_fn on_response,
                          void *user);

/*
 * Sends a request, connecting first when there is no open connection (keep-alive reuses
 * one). Returns 0 (on_response follows), -EBUSY when a request is in flight, -ENOBUFS when
 * the request does not fit the send buffer, or -EINVAL as tl_http_request_write.
 *
 * A server may close an idle kept-alive connection without saying so (libwebsockets does,
 * after its own error pages), racing the next request. A GET or HEAD sent on a reused
 * connection that closes before one byte of the answer arrived is sent once more on a new
 * connection (RFC 9112 §9.3.1); any other method is never repeated: its error is final.
 */
int tl_http_client_request(tl_http_client_t *cl, const char *method, const char *target,
                           const struct tl_http_header *headers, size_t n_headers, const void *body,
                           size_t body_len);

/* Connections opened so far (a test checks keep-alive reuse with it). */
uint64_t tl_http_client_connects(const tl_http_client_t *cl);

/* Closes the connection; on_response is not called for a request in flight. */
void tl_http_client_close(tl_http_client_t *cl);

/* Destroys a client once its connection is closed (-EBUSY otherwise). */
int tl_http_client_destroy(tl_http_client_t *cl);

#endif /* TL_IO_H */
