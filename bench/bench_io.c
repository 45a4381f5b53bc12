/*
 * bench_io.c: `tally bench io`: WebSocket echo round trips on loopback.
 *
 * DESIGN
 * One echo server, the same for every client: a thread pinned to one CPU that accepts a
 * connection, answers the upgrade, and echoes each 64-byte message back, spinning on
 * non-blocking reads so that its own wake-up is not part of what we compare. It speaks
 * plain TCP or TLS 1.3 (wolfSSL, with a certificate made for this benchmark).
 *
 * Clients, on the other CPU, each a repetition:
 *   (a) ours: tl_ws_client on an io_uring loop, busy-polling (tl_io_loop_poll(.., 0));
 *   (b) the baseline: blocking send(2)/recv(2) on a socket, the same frames built and
 *       read by the same codec (tl_ws_frame_encode / tl_ws_decode);
 *   (c) ours over TLS, for the per-message cost of TLS against (a).
 * Each round trip is timed from just before the send to the echo's delivery. Figures are
 * medians over the repetitions of each repetition's p50 and p99.
 */
#include "bench_internal.h"
#include "tl_bench.h"
#include "tl_hist.h"
#include "tl_io.h"
#include "tl_ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#define MSG_BYTES 64
#define REPS_MAX 50

/*
 * A self-signed certificate for localhost and 127.0.0.1 (EC P-256, valid 2026-2126), made
 * with `openssl req -x509` for this benchmark only. The client trusts exactly this one.
 */
static const char bench_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmzCCAUGgAwIBAgIUK3C1hWnzeZMqA9KEB3ROf47Hy7owCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjA0MTg1M1oYDzIxMjYxMDI5\n"
    "MDQxODUzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAARx/8XrKUn87VQht/s5L9HY2KqpGHxek8mFv9vf9aEIDpgFPEaJ8mYU\n"
    "xY1Q7H8aKJlB4+Vgs+BKkOPwjVnqlMd1o28wbTAdBgNVHQ4EFgQUtaXP0gg0bUFp\n"
    "SJNZ8EcsyqTnVkwwHwYDVR0jBBgwFoAUtaXP0gg0bUFpSJNZ8EcsyqTnVkwwGgYD\n"
    "VR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI\n"
    "zj0EAwIDSAAwRQIgOkCnYN7DzNeaU/QGJ43c5ssY0ck/huaGIUG0l6KhzX8CIQCV\n"
    "RAt57wixBL1nZKmMNBtGiYKzgvGLoz1fKPQIr/TYlQ==\n"
    "-----END CERTIFICATE-----\n";
static const char bench_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVG4vbyuIcpGtt1pC\n"
    "A/Ih3nzAGPWLqnpNgAwILvN9KXShRANCAARx/8XrKUn87VQht/s5L9HY2KqpGHxe\n"
    "k8mFv9vf9aEIDpgFPEaJ8mYUxY1Q7H8aKJlB4+Vgs+BKkOPwjVnqlMd1\n"
    "-----END PRIVATE KEY-----\n";

struct io_opts {
	bool json;
	int reps;
	uint64_t msgs;
	uint64_t warmup;
};

/* ---- the echo server ---------------------------------------------------------------- */

struct echo_server {
	int listen_fd;
	uint16_t port;
	bool tls;
	WOLFSSL_CTX *ctx;
	int cpu;
	pthread_t thread;
	atomic_bool stop;
	int err; /* set by the thread when the session failed */
};

struct echo_conn {
	int fd;
	WOLFSSL *ssl;
};

/* > 0 bytes, 0 would block, < 0 closed or failed. */
static ssize_t echo_read(struct echo_conn *c, uint8_t *buf, size_t cap)
{
	if (c->ssl) {
		int n = wolfSSL_read(c->ssl, buf, (int)cap);
		if (n > 0)
			return n;
		int err = wolfSSL_get_error(c->ssl, n);
		return err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE ? 0 : -1;
	}
	ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
	if (n > 0)
		return n;
	return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

static int echo_write(struct echo_conn *c, const uint8_t *buf, size_t len, atomic_bool *stop)
{
	size_t off = 0;
	while (off < len) {
		if (atomic_load_explicit(stop, memory_order_relaxed))
			return -1;
		if (c->ssl) {
			int n = wolfSSL_write(c->ssl, buf + off, (int)(len - off));
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			int err = wolfSSL_get_error(c->ssl, n);
			if (err != WOLFSSL_ERROR_WANT_WRITE && err != WOLFSSL_ERROR_WANT_READ)
				return -1;
		} else {
			ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
		}
	}
	return 0;
}

/* Reads the upgrade request and answers 101 with the right Sec-WebSocket-Accept. */
static int echo_upgrade(struct echo_conn *c, atomic_bool *stop)
{
	char req[4096];
	size_t len = 0;
	while (!memmem(req, len, "\r\n\r\n", 4)) {
		if (len == sizeof(req) - 1 || atomic_load_explicit(stop, memory_order_relaxed))
			return -1;
		ssize_t n = echo_read(c, (uint8_t *)req + len, sizeof(req) - 1 - len);
		if (n < 0)
			return -1;
		len += (size_t)n;
	}
	req[len] = '\0';
	const char *key = strcasestr(req, "\r\nSec-WebSocket-Key:");
	if (!key)
		return -1;
	key += strlen("\r\nSec-WebSocket-Key:");
	while (*key == ' ')
		key++;
	size_t key_len = strcspn(key, "\r\n ");
	char accept[TL_WS_ACCEPT_LEN + 1];
	if (tl_ws_accept_make(accept, key, key_len) < 0)
		return -1;
	char resp[256];
	int n = snprintf(resp, sizeof(resp),
	                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	                 accept);
	return echo_write(c, (const uint8_t *)resp, (size_t)n, stop);
}

static void *echo_main(void *arg)
{
	struct echo_server *s = arg;
	if (s->cpu >= 0)
		tl_thread_pin_self(s->cpu);
	struct echo_conn c = {.fd = -1};
	static _Thread_local uint8_t in[1 << 16], out[1 << 16], msg[1 << 16];
	size_t in_len = 0;
	s->err = -1;
	c.fd = accept(s->listen_fd, NULL, NULL);
	if (c.fd < 0)
		return NULL;
	int one = 1;
	setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
	if (s->tls) {
		c.ssl = wolfSSL_new(s->ctx);
		if (!c.ssl || wolfSSL_set_fd(c.ssl, c.fd) != WOLFSSL_SUCCESS)
			goto out;
		for (;;) {
			int rc = wolfSSL_accept(c.ssl);
			if (rc == WOLFSSL_SUCCESS)
				break;
			int err = wolfSSL_get_error(c.ssl, rc);
			if ((err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE) ||
			    atomic_load_explicit(&s->stop, memory_order_relaxed))
				goto out;
		}
	}
	if (echo_upgrade(&c, &s->stop) < 0)
		goto out;
	struct tl_ws_decoder dec;
	tl_ws_decoder_init(&dec, msg, sizeof(msg), true);
	s->err = 0;
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		ssize_t n = echo_read(&c, in + in_len, sizeof(in) - in_len);
		if (n < 0)
			break; /* the client hung up: the repetition is over */
		if (n == 0) {
			tl_cpu_relax();
			continue;
		}
		in_len += (size_t)n;
		size_t off = 0, out_len = 0;
		for (;;) {
			struct tl_ws_event ev;
			uint16_t code;
			ssize_t used = tl_ws_decode(&dec, in + off, in_len - off, &ev, &code);
			if (used < 0) {
				s->err = (int)used;
				goto out;
			}
			if (used == 0)
				break;
			off += (size_t)used;
			uint8_t op = ev.kind == TL_WS_EV_MESSAGE ? ev.opcode
			             : ev.kind == TL_WS_EV_PING  ? TL_WS_OP_PONG
			             : ev.kind == TL_WS_EV_CLOSE ? TL_WS_OP_CLOSE
			                                         : 0;
			if (!op)
				continue;
			const uint8_t *payload = ev.data;
			size_t payload_len = ev.len;
			uint8_t close_payload[TL_WS_CONTROL_MAX];
			if (op == TL_WS_OP_CLOSE) {
				/* Echo the code; ev.data holds only the reason. */
				payload_len =
				    ev.close_code == TL_WS_CLOSE_NO_STATUS
				        ? 0
				        : tl_ws_close_payload(close_payload, ev.close_code, "");
				payload = close_payload;
			}
			ssize_t w = tl_ws_frame_encode(out + out_len, sizeof(out) - out_len, op,
			                               true, payload, payload_len, NULL);
			if (w < 0) {
				s->err = (int)w;
				goto out;
			}
			out_len += (size_t)w;
		}
		memmove(in, in + off, in_len - off);
		in_len -= off;
		if (out_len && echo_write(&c, out, out_len, &s->stop) < 0)
			break;
	}
out:
	if (c.ssl)
		wolfSSL_free(c.ssl);
	if (c.fd >= 0)
		close(c.fd);
	return NULL;
}

static int echo_start(struct echo_server *s, bool tls, WOLFSSL_CTX *ctx, int cpu)
{
	memset(s, 0, sizeof(*s));
	s->tls = tls;
	s->ctx = ctx;
	s->cpu = cpu;
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->listen_fd, 4) ||
	    getsockname(s->listen_fd, (struct sockaddr *)&a, &alen)) {
		int rc = -errno;
		close(s->listen_fd);
		return rc;
	}
	s->port = ntohs(a.sin_port);
	int rc = pthread_create(&s->thread, NULL, echo_main, s);
	if (rc) {
		close(s->listen_fd);
		return -rc;
	}
	return 0;
}

static void echo_stop(struct echo_server *s)
{
	atomic_store_explicit(&s->stop, true, memory_order_relaxed);
	shutdown(s->listen_fd, SHUT_RDWR); /* wakes an accept that never got its client */
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
}

/* ---- (a) and (c): our io_uring client ----------------------------------------------- */

struct uring_client {
	int got;
	int opened;
	int ended;
	int err;
};

static void uc_open(tl_ws_client_t *ws, void *user)
{
	(void)ws;
	((struct uring_client *)user)->opened = 1;
}

static void uc_message(tl_ws_client_t *ws, void *user, uint8_t op, const uint8_t *data, size_t len)
{
	(void)ws, (void)op, (void)data, (void)len;
	((struct uring_client *)user)->got++;
}

static void uc_disconnect(tl_ws_client_t *ws, void *user, uint64_t at, int err, uint16_t code,
                          bool retry)
{
	(void)ws, (void)at, (void)code, (void)retry;
	struct uring_client *u = user;
	u->ended = 1;
	u->err = err;
}

static int uring_rep(const struct io_opts *o, uint16_t port, const char *ca_file, tl_hist_t *h)
{
	struct tl_io_loop_config lc;
	tl_io_loop_config_default(&lc);
	tl_io_loop_t *loop;
	int rc = tl_io_loop_create(&loop, &lc);
	if (rc < 0)
		return rc;
	struct tl_ws_client_config cfg;
	tl_ws_client_config_default(&cfg);
	cfg.host = "localhost";
	cfg.port = port;
	cfg.reconnect = false;
	cfg.max_msg_bytes = 4096;
	cfg.conn.tls = ca_file != NULL;
	cfg.conn.ca_file = ca_file;
	cfg.conn.tls_no_system_cas = true;
	static const struct tl_ws_client_ops ops = {
	    .on_open = uc_open, .on_message = uc_message, .on_disconnect = uc_disconnect};
	struct uring_client u = {0};
	tl_ws_client_t *ws;
	rc = tl_ws_client_create(&ws, loop, &cfg, &ops, &u);
	if (rc < 0)
		goto out_loop;
	rc = tl_ws_client_connect(ws);
	while (rc == 0 && !u.opened && !u.ended)
		rc = tl_io_loop_poll(loop, 1000000) < 0 ? -EIO : 0;
	if (rc == 0 && !u.opened)
		rc = u.err ? u.err : -ECONNREFUSED;
	uint8_t msg[MSG_BYTES];
	memset(msg, 'q', sizeof(msg));
	for (uint64_t i = 0; rc == 0 && i < o->warmup + o->msgs; i++) {
		int before = u.got;
		uint64_t t0 = tl_io_now_ns();
		rc = tl_ws_client_send(ws, TL_WS_OP_TEXT, msg, sizeof(msg));
		while (rc == 0 && u.got == before && !u.ended)
			if (tl_io_loop_poll(loop, 0) < 0)
				rc = -EIO;
		if (u.ended)
			rc = u.err ? u.err : -ECONNRESET;
		if (rc == 0 && i >= o->warmup)
			tl_hist_record(h, tl_io_now_ns() - t0);
	}
	if (tl_ws_client_is_open(ws))
		tl_ws_client_close(ws, TL_WS_CLOSE_NORMAL, "done");
	for (int i = 0; i < 2000 && !u.ended; i++)
		tl_io_loop_poll(loop, 1000000);
	if (tl_ws_client_destroy(ws) < 0 && rc == 0)
		rc = -EBUSY;
out_loop:
	tl_io_loop_destroy(loop);
	return rc;
}

/* ---- (b): the blocking-socket baseline ---------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int blocking_rep(const struct io_opts *o, uint16_t port, tl_hist_t *h)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1, rc = 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = -errno;
		goto out;
	}
	/* The upgrade, with the same checks our client makes on the answer's status. */
	char key[TL_WS_KEY_LEN + 1];
	uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	tl_ws_key_make(key, nonce);
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET / HTTP/1.1\r\nHost: localhost:%u\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n\r\n",
	                 (unsigned)port, key);
	rc = write_all(fd, (const uint8_t *)req, (size_t)n);
	static uint8_t in[1 << 16], msg_buf[4096];
	size_t in_len = 0;
	while (rc == 0 && !memmem(in, in_len, "\r\n\r\n", 4)) {
		ssize_t r = recv(fd, in + in_len, sizeof(in) - in_len, 0);
		if (r <= 0)
			rc = -ECONNRESET;
		else
			in_len += (size_t)r;
	}
	if (rc == 0 && (in_len < 12 || memcmp(in, "HTTP/1.1 101", 12) != 0))
		rc = TL_E_WS_HANDSHAKE;
	if (rc < 0)
		goto out;
	uint8_t *end = (uint8_t *)memmem(in, in_len, "\r\n\r\n", 4) + 4;
	in_len -= (size_t)(end - in);
	memmove(in, end, in_len);

	struct tl_ws_decoder dec;
	tl_ws_decoder_init(&dec, msg_buf, sizeof(msg_buf), false);
	uint8_t msg[MSG_BYTES], frame[MSG_BYTES + TL_WS_HEADER_MAX];
	memset(msg, 'q', sizeof(msg));
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; rc == 0 && i < o->warmup + o->msgs; i++) {
		uint64_t t0 = tl_io_now_ns();
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		uint8_t mask[4];
		memcpy(mask, &rng, 4);
		ssize_t flen = tl_ws_frame_encode(frame, sizeof(frame), TL_WS_OP_TEXT, true, msg,
		                                  sizeof(msg), mask);
		rc = flen < 0 ? (int)flen : write_all(fd, frame, (size_t)flen);
		bool done = false;
		while (rc == 0 && !done) {
			struct tl_ws_event ev;
			uint16_t code;
			ssize_t used = in_len ? tl_ws_decode(&dec, in, in_len, &ev, &code) : 0;
			if (used < 0) {
				rc = (int)used;
			} else if (used > 0) {
				memmove(in, in + used, in_len - (size_t)used);
				in_len -= (size_t)used;
				done = ev.kind == TL_WS_EV_MESSAGE;
			} else {
				ssize_t r = recv(fd, in + in_len, sizeof(in) - in_len, 0);
				if (r <= 0)
					rc = -ECONNRESET;
				else
					in_len += (size_t)r;
			}
		}
		if (rc == 0 && i >= o->warmup)
			tl_hist_record(h, tl_io_now_ns() - t0);
	}
out:
	close(fd);
	return rc;
}

/* ---- the driver --------------------------------------------------------------------- */

enum client_kind { CLIENT_URING, CLIENT_BLOCKING, CLIENT_URING_TLS, CLIENT_KINDS };
static const char *const client_names[CLIENT_KINDS] = {
    "io_uring, busy-poll", "blocking sockets (baseline)", "io_uring, busy-poll, TLS 1.3"};

static int one_rep(const struct io_opts *o, enum client_kind kind, WOLFSSL_CTX *srv_ctx,
                   const char *ca_file, int cpu_server, int cpu_client, tl_hist_t *h)
{
	struct echo_server s;
	bool tls = kind == CLIENT_URING_TLS;
	int rc = echo_start(&s, tls, srv_ctx, cpu_server);
	if (rc < 0)
		return rc;
	if (cpu_client >= 0)
		tl_thread_pin_self(cpu_client);
	tl_hist_reset(h);
	if (kind == CLIENT_BLOCKING)
		rc = blocking_rep(o, s.port, h);
	else
		rc = uring_rep(o, s.port, tls ? ca_file : NULL, h);
	echo_stop(&s);
	if (rc == 0 && s.err)
		rc = s.err;
	return rc;
}

static void io_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally bench io [--json] [--reps N] [--msgs N]\n"
	    "\n"
	    "WebSocket echo round trips of %d-byte text messages on loopback. One echo server\n"
	    "thread, pinned to one CPU, answers every client (it spins on non-blocking reads).\n"
	    "Clients run on the other CPU, alternating, one connection per repetition:\n"
	    "  (a) tally's client: io_uring, multishot recv into provided buffers, busy-poll;\n"
	    "  (b) the baseline: blocking send/recv on a socket, framing with the same codec;\n"
	    "  (c) tally's client over TLS 1.3 (wolfSSL on both ends), for the cost of TLS.\n"
	    "Each round trip is timed from before the send to the echo's delivery. Figures are\n"
	    "medians over the repetitions of each one's p50 and p99.\n"
	    "\n"
	    "Options:\n"
	    "  --json       one JSON object: uring_rtt_p50_us, uring_rtt_p99_us,\n"
	    "               blocking_rtt_p50_us, blocking_rtt_p99_us, uring_vs_blocking_p50,\n"
	    "               tls_rtt_p50_us, tls_overhead_p50_us (TLS p50 minus plain p50)\n"
	    "  --reps N     repetitions of each client, 1..%d (default 5)\n"
	    "  --msgs N     timed round trips per repetition, 100..10^7 (default 20000), after\n"
	    "               N/10 untimed ones\n"
	    "  -h, --help   show this help\n"
	    "\n"
	    "Exit status: 0 on success, 1 if a run failed, 2 on a usage error.\n",
	    MSG_BYTES, REPS_MAX);
}

static int parse_io_opts(int argc, char **argv, struct io_opts *o)
{
	static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
	                                         {"reps", required_argument, NULL, 'r'},
	                                         {"msgs", required_argument, NULL, 'm'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};
	o->json = false;
	o->reps = 5;
	o->msgs = 20000;
	o->warmup = 0;
	uint64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'r':
			if (tl_bench_parse_u64(optarg, 1, REPS_MAX, &v) < 0)
				return tl_bench_bad_value("io", "reps", "1..50");
			o->reps = (int)v;
			break;
		case 'm':
			if (tl_bench_parse_u64(optarg, 100, 10000000, &v) < 0)
				return tl_bench_bad_value("io", "msgs", "100..10000000");
			o->msgs = v;
			break;
		case 'h':
			io_usage(stdout);
			return 1;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tally bench io: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	o->warmup = o->msgs / 10;
	return 0;
}

static WOLFSSL_CTX *server_ctx(void)
{
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_server_method());
	if (!ctx)
		return NULL;
	if (wolfSSL_CTX_use_certificate_buffer(ctx, (const unsigned char *)bench_cert_pem,
	                                       (long)strlen(bench_cert_pem),
	                                       WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_buffer(ctx, (const unsigned char *)bench_key_pem,
	                                      (long)strlen(bench_key_pem),
	                                      WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		wolfSSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Writes the certificate where the client's ca_file option can read it. */
static int write_ca_file(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/tally-bench-io-ca-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	size_t len = strlen(bench_cert_pem);
	ssize_t n = write(fd, bench_cert_pem, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

int tl_bench_io(int argc, char **argv)
{
	struct io_opts o;
	int rc = parse_io_opts(argc, argv, &o);
	if (rc != 0) {
		if (rc < 0) {
			fputc('\n', stderr);
			io_usage(stderr);
		}
		return rc > 0 ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int cpu_server, cpu_client;
	if (tl_bench_pick_cpus(&cpu_server, &cpu_client) < 2)
		fprintf(stderr,
		        "tally bench io: only one CPU allowed; client and server share it\n");

	wolfSSL_Init();
	WOLFSSL_CTX *srv = server_ctx();
	char ca_file[64];
	if (!srv || write_ca_file(ca_file, sizeof(ca_file)) < 0) {
		fprintf(stderr, "tally bench io: cannot set up the TLS server\n");
		if (srv)
			wolfSSL_CTX_free(srv);
		return 1;
	}
	tl_hist_t *h = malloc(sizeof(*h));
	if (!h) {
		wolfSSL_CTX_free(srv);
		unlink(ca_file);
		return 1;
	}
	double p50[CLIENT_KINDS][REPS_MAX], p99[CLIENT_KINDS][REPS_MAX];
	fprintf(stderr,
	        "tally bench io: %d reps x %" PRIu64 " round trips of %d bytes per client, "
	        "server on CPU %d, clients on CPU %d\n",
	        o.reps, o.msgs, MSG_BYTES, cpu_server, cpu_client);
	for (int r = 0; r < o.reps && rc == 0; r++) {
		for (int k = 0; k < CLIENT_KINDS && rc == 0; k++) {
			rc = one_rep(&o, (enum client_kind)k, srv, ca_file, cpu_server, cpu_client,
			             h);
			if (rc < 0) {
				fprintf(stderr, "tally bench io: %s: %s\n", client_names[k],
				        tl_strerror(rc));
				break;
			}
			p50[k][r] = (double)tl_hist_quantile(h, 0.50) / 1000.0;
			p99[k][r] = (double)tl_hist_quantile(h, 0.99) / 1000.0;
			fprintf(stderr, "  rep %d/%d %-30s p50 %7.1f us  p99 %7.1f us\n", r + 1,
			        o.reps, client_names[k], p50[k][r], p99[k][r]);
		}
	}
	free(h);
	wolfSSL_CTX_free(srv);
	unlink(ca_file);
	if (rc < 0)
		return 1;

	double m50[CLIENT_KINDS], m99[CLIENT_KINDS];
	for (int k = 0; k < CLIENT_KINDS; k++) {
		m50[k] = tl_bench_median(p50[k], o.reps);
		m99[k] = tl_bench_median(p99[k], o.reps);
	}
	double ratio = m50[CLIENT_BLOCKING] > 0 ? m50[CLIENT_URING] / m50[CLIENT_BLOCKING] : 0;
	double tls_overhead = m50[CLIENT_URING_TLS] - m50[CLIENT_URING];
	if (o.json) {
		printf("{\"bench\":\"io\",\"reps\":%d,\"msgs\":%" PRIu64 ",\"msg_bytes\":%d,"
		       "\"uring_rtt_p50_us\":%.2f,\"uring_rtt_p99_us\":%.2f,"
		       "\"blocking_rtt_p50_us\":%.2f,\"blocking_rtt_p99_us\":%.2f,"
		       "\"uring_vs_blocking_p50\":%.3f,\"tls_rtt_p50_us\":%.2f,"
		       "\"tls_rtt_p99_us\":%.2f,\"tls_overhead_p50_us\":%.2f}\n",
		       o.reps, o.msgs, MSG_BYTES, m50[CLIENT_URING], m99[CLIENT_URING],
		       m50[CLIENT_BLOCKING], m99[CLIENT_BLOCKING], ratio, m50[CLIENT_URING_TLS],
		       m99[CLIENT_URING_TLS], tls_overhead);
		return 0;
	}
	printf("tally bench io: WebSocket echo of %d-byte messages on loopback, median of %d reps "
	       "x %" PRIu64 " round trips\n\n",
	       MSG_BYTES, o.reps, o.msgs);
	printf("%-34s %10s %10s %14s\n", "client", "p50 us", "p99 us", "p50 vs blocking");
	for (int k = 0; k < CLIENT_KINDS; k++)
		printf("%-34s %10.1f %10.1f %13.2fx\n", client_names[k], m50[k], m99[k],
		       m50[CLIENT_BLOCKING] > 0 ? m50[k] / m50[CLIENT_BLOCKING] : 0);
	printf("\nTLS overhead per round trip (p50, TLS minus plain): %.1f us\n", tls_overhead);
	printf("target, for information only: io_uring p50 <= 0.7x blocking p50: %.2fx\n", ratio);
	return 0;
}
