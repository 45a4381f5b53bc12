/*
 * lws_peer: the libwebsockets interop peer for the io/ tests. A WebSocket server on
 * 127.0.0.1 built on libwebsockets 4.1 and, for TLS, OpenSSL: a second stack, independent of
 * both the tally client and peer_ws.js (Node's), for the client to be checked against.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -O1 tests/io/lws_peer.c \
 *            $(pkg-config --cflags --libs libwebsockets) -o lws_peer
 *        (Debian package libwebsockets-dev; also clean under -Wpedantic -Wshadow
 *        -Wstrict-prototypes -Wmissing-prototypes -Werror)
 * Run:   lws_peer [--tls CERT KEY] [--port N]     (--port 0, the default: ephemeral; lws
 *        binds port 0 itself and lws_get_vhost_listen_port() reports the port it got)
 *
 * Lifetime: exits when its standard input reaches EOF, so it dies with the test that spawned
 * it (give it a pipe; `lws_peer &` in a script gets /dev/null and exits at once), or on
 * SIGTERM/SIGINT. Both arrive as descriptors (stdin, a signalfd) adopted into the lws event
 * loop, so there is no signal-handler race and no second thread.
 *
 * Standard output carries events, one per line, and nothing else (lws logs errors only, to
 * stderr):
 *   LISTENING <port>        once, when the server accepts connections
 *   CONNECTED               a WebSocket handshake completed
 *   PONG <payload>          a pong arrived
 *   CLOSE <code> [reason]   the client started the close handshake: the code and reason of
 *                           its close frame, 1005 if it had no code. The space and reason
 *                           are left out when the reason is empty. Limits of lws 4.1:
 *                           it rewrites a code that may not be sent (< 1000, 1004-1006,
 *                           1016-2999) to 1002 before reporting it; after a close that this
 *                           peer started with a code (cmd:close:<code>:...) it consumes the
 *                           client's answering close itself, so no CLOSE line is printed;
 *                           and it does not report a pong with an empty payload.
 *
 * WebSocket (any path; no extensions; UTF-8 of text messages is validated by lws, which
 * closes with 1007 on bad input): a text or binary message is reassembled from its fragments
 * (up to 16 MiB, else close 1009) and echoed whole, in one frame, with its type, unless it is
 * a text command:
 *   cmd:frag:<n>:<size>     a TEXT message of <size> bytes in <n> frames, with a ping "p<i>"
 *                           between frame i and i+1; the payload is the one peer_ws.js
 *                           documents (UTF-8 characters straddling the fragment boundaries)
 *   cmd:big:<size>          a BINARY message of <size> bytes (<= 64 MiB), byte i = i & 0xff
 *   cmd:close:<code>:<reason>  lws_close_reason() (reason cut to 123 bytes) and lws's own
 *                           close handshake: it waits up to 5 s for the client's close, then
 *                           hangs up. An empty code sends a close frame with no payload
 *                           instead (written raw by this peer, which then reports the
 *                           client's answer as CLOSE and hangs up)
 *   cmd:ping:<payload>      a ping (payload <= 125 bytes); when the matching pong arrives,
 *                           the text "pong:<payload>"
 *   cmd:raw:<hex>           those bytes, as they are, on the connection (LWS_WRITE_RAW)
 * Anything else starting with "cmd:" is echoed like any message. Non-WebSocket HTTP
 * requests get 404.
 *
 * DESIGN: lws may write only from LWS_CALLBACK_SERVER_WRITEABLE, one lws_write() per
 * callback, into a buffer with LWS_PRE bytes of headroom. So every command turns into a queue
 * of prepared frames per connection; each WRITEABLE sends the head and asks for another
 * WRITEABLE while the queue is not empty. lws itself buffers a frame the socket did not take
 * whole and finishes it before the next WRITEABLE. This is a test tool: it allocates freely.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <libwebsockets.h>

#define PEER_RX_MAX_BYTES (16u * 1024 * 1024)
#define PEER_TX_MAX_BYTES (64u * 1024 * 1024)
#define PEER_FRAG_MAX 100000u
#define PEER_CONTROL_MAX_BYTES 125u

/* One frame waiting for WRITEABLE, or (on the pings list) one ping awaiting its pong. */
struct out_frame {
	struct out_frame *next;
	int write_type; /* enum lws_write_protocol flags, or CLOSE_LWS, CLOSE_RAW */
	int close_code; /* for CLOSE_LWS */
	size_t len;
	unsigned char buf[]; /* LWS_PRE of headroom, then len bytes */
};

/* Queue entries that are not lws_write() calls. */
#define CLOSE_LWS (-1) /* lws_close_reason(close_code, payload) and hang up */
#define CLOSE_RAW (-2) /* an empty close frame, then wait for the client's answer */

struct session {
	struct out_frame *head, *tail; /* frames to send, in order */
	struct out_frame *pings;       /* cmd:ping payloads whose pong is still due */
	unsigned char *rx;             /* the message being reassembled */
	size_t rx_len, rx_cap;
	bool rx_binary;
	bool close_sent; /* CLOSE_RAW went out: the next close frame is the answer */
};

static bool stop;

static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* Prints tag, then len bytes that may hold anything, then a newline. */
static void event_bytes(const char *tag, const void *p, size_t len)
{
	fputs(tag, stdout);
	fwrite(p, 1, len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

static struct out_frame *frame_new(int write_type, size_t len)
{
	struct out_frame *f = malloc(sizeof(*f) + LWS_PRE + len);

	if (!f) {
		fprintf(stderr, "lws_peer: out of memory for a %zu-byte frame\n", len);
		exit(1);
	}
	f->next = NULL;
	f->write_type = write_type;
	f->close_code = 0;
	f->len = len;
	return f;
}

static unsigned char *frame_data(struct out_frame *f)
{
	return f->buf + LWS_PRE;
}

static void queue_push(struct session *s, struct out_frame *f)
{
	if (s->tail)
		s->tail->next = f;
	else
		s->head = f;
	s->tail = f;
}

static void queue_bytes(struct session *s, int write_type, const void *p, size_t len)
{
	struct out_frame *f = frame_new(write_type, len);

	if (len)
		memcpy(frame_data(f), p, len);
	queue_push(s, f);
}

static void frames_free(struct out_frame *f)
{
	while (f) {
		struct out_frame *next = f->next;

		free(f);
		f = next;
	}
}

/* Parses all of p[0..len) as a decimal number <= max. */
static bool parse_uint(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 12)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool has_prefix(const char *p, size_t len, const char *prefix, size_t *rest)
{
	size_t n = strlen(prefix);

	if (len < n || memcmp(p, prefix, n) != 0)
		return false;
	*rest = n;
	return true;
}

/* Splits p[0..len) at its first ':' into a number <= max and the rest. */
static bool parse_uint_colon(const char *p, size_t len, uint64_t max, uint64_t *v, size_t *used)
{
	const char *colon = memchr(p, ':', len);

	if (!colon || !parse_uint(p, (size_t)(colon - p), max, v))
		return false;
	*used = (size_t)(colon - p) + 1;
	return true;
}

/* The cmd:frag payload, byte for byte the one peer_ws.js documents and builds. */
static size_t frag_bound(uint64_t i, uint64_t n, uint64_t size)
{
	return (size_t)(i * size / n);
}

static void frag_fill(unsigned char *buf, uint64_t n, uint64_t size)
{
	static const char *const chars[3] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	size_t end = 0;

	for (size_t j = 0; j < size; j++)
		buf[j] = (unsigned char)('a' + j % 26);
	for (uint64_t i = 1; i < n; i++) {
		const char *c = chars[(i - 1) % 3];
		size_t c_len = strlen(c);
		size_t k = 1 + ((i - 1) / 3) % (c_len - 1);
		size_t b = frag_bound(i, n, size);

		if (b < k || b - k < end || b - k + c_len > size)
			continue;
		memcpy(buf + b - k, c, c_len);
		end = b - k + c_len;
	}
}

static bool cmd_frag(struct session *s, const char *p, size_t len)
{
	uint64_t n, size;
	size_t used;
	unsigned char *payload;

	if (!parse_uint_colon(p, len, PEER_FRAG_MAX, &n, &used) || n == 0 ||
	    !parse_uint(p + used, len - used, PEER_TX_MAX_BYTES, &size))
		return false;
	payload = malloc(size ? size : 1);
	if (!payload)
		return false;
	frag_fill(payload, n, size);
	for (uint64_t i = 0; i < n; i++) {
		size_t from = frag_bound(i, n, size), to = frag_bound(i + 1, n, size);
		int type = i == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;

		if (i + 1 < n)
			type |= LWS_WRITE_NO_FIN;
		queue_bytes(s, type, payload + from, to - from);
		if (i + 1 < n) {
			char ping[24];
			int ping_len =
			    snprintf(ping, sizeof(ping), "p%llu", (unsigned long long)(i + 1));

			queue_bytes(s, LWS_WRITE_PING, ping, (size_t)ping_len);
		}
	}
	free(payload);
	return true;
}

static bool cmd_big(struct session *s, const char *p, size_t len)
{
	uint64_t size;
	struct out_frame *f;

	if (!parse_uint(p, len, PEER_TX_MAX_BYTES, &size))
		return false;
	f = frame_new(LWS_WRITE_BINARY, (size_t)size);
	for (size_t i = 0; i < size; i++)
		frame_data(f)[i] = (unsigned char)(i & 0xff);
	queue_push(s, f);
	return true;
}

static bool cmd_close(struct session *s, const char *p, size_t len)
{
	const char *colon = memchr(p, ':', len);
	uint64_t code;
	struct out_frame *f;

	if (!colon)
		return false;
	if (colon == p) {
		queue_push(s, frame_new(CLOSE_RAW, 2));
		return true;
	}
	if (!parse_uint(p, (size_t)(colon - p), 65535, &code))
		return false;
	f = frame_new(CLOSE_LWS, len - (size_t)(colon + 1 - p));
	f->close_code = (int)code;
	memcpy(frame_data(f), colon + 1, f->len);
	queue_push(s, f);
	return true;
}

static bool cmd_ping(struct session *s, const char *p, size_t len)
{
	struct out_frame *pending;

	if (len > PEER_CONTROL_MAX_BYTES)
		return false;
	queue_bytes(s, LWS_WRITE_PING, p, len);
	pending = frame_new(LWS_WRITE_TEXT, len);
	memcpy(frame_data(pending), p, len);
	pending->next = s->pings;
	s->pings = pending;
	return true;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool cmd_raw(struct session *s, const char *p, size_t len)
{
	struct out_frame *f;

	if (len % 2)
		return false;
	f = frame_new(LWS_WRITE_RAW, len / 2);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_nibble(p[2 * i]), lo = hex_nibble(p[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(f);
			return false;
		}
		frame_data(f)[i] = (unsigned char)(hi << 4 | lo);
	}
	queue_push(s, f);
	return true;
}

static bool command(struct session *s, const char *p, size_t len)
{
	size_t rest;

	if (has_prefix(p, len, "cmd:frag:", &rest))
		return cmd_frag(s, p + rest, len - rest);
	if (has_prefix(p, len, "cmd:big:", &rest))
		return cmd_big(s, p + rest, len - rest);
	if (has_prefix(p, len, "cmd:close:", &rest))
		return cmd_close(s, p + rest, len - rest);
	if (has_prefix(p, len, "cmd:ping:", &rest))
		return cmd_ping(s, p + rest, len - rest);
	if (has_prefix(p, len, "cmd:raw:", &rest))
		return cmd_raw(s, p + rest, len - rest);
	return false;
}

/* A whole message has arrived: a command, or an echo. */
static void message(struct session *s)
{
	const char *text = (const char *)s->rx;

	if (s->rx_binary || !command(s, text, s->rx_len))
		queue_bytes(s, s->rx_binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT, s->rx, s->rx_len);
	s->rx_len = 0;
}

static int rx_append(struct session *s, const void *in, size_t len)
{
	if (len > PEER_RX_MAX_BYTES - s->rx_len)
		return -EMSGSIZE;
	if (s->rx_len + len > s->rx_cap) {
		size_t cap = s->rx_cap ? s->rx_cap : 4096;
		unsigned char *rx;

		while (cap < s->rx_len + len)
			cap *= 2;
		rx = realloc(s->rx, cap);
		if (!rx)
			return -ENOMEM;
		s->rx = rx;
		s->rx_cap = cap;
	}
	if (len)
		memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	return 0;
}

/* Sends the head of the queue. Returns -1 to have lws close the connection. */
static int writeable(struct lws *wsi, struct session *s)
{
	struct out_frame *f = s->head;
	int n;

	if (!f || s->close_sent)
		return 0;
	s->head = f->next;
	if (!s->head)
		s->tail = NULL;
	if (f->write_type == CLOSE_LWS) {
		lws_close_reason(wsi, (enum lws_close_status)f->close_code, frame_data(f), f->len);
		free(f);
		return -1;
	}
	if (f->write_type == CLOSE_RAW) {
		/* lws_close_reason() always sends a code, so this frame is written raw; lws then
		 * takes the client's answer for a close the client started, which is how this
		 * peer gets to report its code. */
		static const unsigned char empty_close[2] = {0x88, 0x00};

		memcpy(frame_data(f), empty_close, sizeof(empty_close));
		n = lws_write(wsi, frame_data(f), sizeof(empty_close), LWS_WRITE_RAW);
		free(f);
		s->close_sent = true;
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
		return n < 0 ? -1 : 0;
	}
	n = lws_write(wsi, frame_data(f), f->len, (enum lws_write_protocol)f->write_type);
	free(f);
	if (n < 0)
		return -1;
	if (s->head)
		lws_callback_on_writable(wsi);
	return 0;
}

/* "CLOSE <code> [reason]" from a close frame's payload. */
static void close_event(const unsigned char *p, size_t len)
{
	char tag[16];

	if (len < 2) {
		event("CLOSE 1005\n");
		return;
	}
	snprintf(tag, sizeof(tag), len > 2 ? "CLOSE %u " : "CLOSE %u",
	         (unsigned)(p[0] << 8 | p[1]));
	event_bytes(tag, p + 2, len - 2);
}

static void queue_text_pong(struct session *s, const void *payload, size_t len)
{
	struct out_frame *f = frame_new(LWS_WRITE_TEXT, 5 + len);

	memcpy(frame_data(f), "pong:", 5);
	if (len)
		memcpy(frame_data(f) + 5, payload, len);
	queue_push(s, f);
}

static int callback_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	struct session *s = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;

	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		event("CONNECTED\n");
		return 0;

	case LWS_CALLBACK_RECEIVE:
		if (s->close_sent)
			return 0;
		if (lws_is_first_fragment(wsi)) {
			s->rx_len = 0;
			s->rx_binary = lws_frame_is_binary(wsi);
		}
		if (rx_append(s, in, len) < 0) {
			static const char why[] = "message too big";

			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			                 (unsigned char *)why, sizeof(why) - 1);
			return -1;
		}
		if (lws_is_final_fragment(wsi)) {
			message(s);
			if (s->head)
				lws_callback_on_writable(wsi);
		}
		return 0;

	case LWS_CALLBACK_RECEIVE_PONG:
		event_bytes("PONG ", in, len);
		for (struct out_frame **pp = &s->pings; *pp; pp = &(*pp)->next) {
			struct out_frame *f = *pp;

			if (f->len == len && (len == 0 || memcmp(frame_data(f), in, len) == 0)) {
				*pp = f->next;
				free(f);
				queue_text_pong(s, in, len);
				lws_callback_on_writable(wsi);
				break;
			}
		}
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(wsi, s);

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		close_event(in, len);
		/* The answer to our CLOSE_RAW: lws would echo it as if the client had started the
		 * close; refusing the callback makes lws hang up instead, ending the handshake. */
		return s->close_sent ? -1 : 0;

	case LWS_CALLBACK_CLOSED:
		frames_free(s->head);
		frames_free(s->pings);
		free(s->rx);
		memset(s, 0, sizeof(*s));
		return 0;

	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* stdin and the signalfd, adopted as raw files: EOF on one, or a signal on the other, stops
 * the service loop. */
static int callback_fd(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE: {
		char buf[sizeof(struct signalfd_siginfo)];
		ssize_t n = read(lws_get_socket_fd(wsi), buf, sizeof(buf));

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0 || n == (ssize_t)sizeof(struct signalfd_siginfo)) {
			/* EOF or an error on stdin, or a signal: both mean the test is over. A
			 * stdin read can only be that exact size by chance, and stdin carries
			 * nothing this peer needs, so the ambiguity costs nothing. */
			stop = true;
			lws_cancel_service(lws_get_context(wsi));
		}
		return 0;
	}
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		stop = true;
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
    /* First, so it serves plain HTTP and any WebSocket that names no subprotocol. */
    {
        .name = "peer",
        .callback = callback_ws,
        .per_session_data_size = sizeof(struct session),
        .rx_buffer_size = 64 * 1024,
    },
    {
        .name = "peer-fd",
        .callback = callback_fd,
    },
    {.name = NULL},
};

static int adopt_fd(struct lws_vhost *vh, int fd)
{
	lws_sock_file_fd_type u;

	u.filefd = fd;
	return lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, "peer-fd", NULL) ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: lws_peer [--tls CERT KEY] [--port N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	const char *cert = NULL, *key = NULL;
	uint64_t port = 0;
	sigset_t sigs;
	int sig_fd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			const char *v = argv[++i];

			if (!parse_uint(v, strlen(v), 65535, &port))
				usage();
		} else {
			usage();
		}
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
		perror("lws_peer: sigprocmask");
		return 1;
	}
	sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		perror("lws_peer: signalfd");
		return 1;
	}

	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8 |
	               LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cert)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "lws_peer: lws_create_context failed\n");
		return 1;
	}

	info.port = (int)port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.ssl_cert_filepath = cert;
	info.ssl_private_key_filepath = key;
	/* lws offers h2 by ALPN when built with it (Debian's is); the client speaks HTTP/1.1. */
	info.alpn = "http/1.1";
	vh = lws_create_vhost(ctx, &info);
	if (!vh) {
		fprintf(stderr, "lws_peer: cannot listen on 127.0.0.1:%llu\n",
		        (unsigned long long)port);
		lws_context_destroy(ctx);
		return 1;
	}
	if (adopt_fd(vh, STDIN_FILENO) < 0 || adopt_fd(vh, sig_fd) < 0) {
		fprintf(stderr, "lws_peer: cannot watch stdin and signals\n");
		lws_context_destroy(ctx);
		return 1;
	}
	event("LISTENING %d\n", lws_get_vhost_listen_port(vh));

	while (!stop)
		if (lws_service(ctx, 0) < 0)
			break;

	lws_context_destroy(ctx);
	return 0;
}
