/*
 * tls.c: TLS 1.3 client sessions that run over the io_uring buffers.
 *
 * wolfSSL never touches the socket. Its receive callback reads the ciphertext that the
 * multishot recv delivered into conn->tls_in, and its send callback appends records to
 * conn->tx, which the loop sends. "Would block" in either direction is simply "no bytes
 * yet": the next completion runs wolfSSL again.
 *
 * Every write first checks that the whole output fits in tx, so the send callback never
 * has to refuse part of a record (wolfSSL would then expect the same write repeated).
 */
#include "io_internal.h"
#include "tl_log.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/memory.h>

/*
 * wolfSSL reads and writes each record through a buffer that it grows for the record and
 * frees right after: two malloc calls per message. These hooks recycle its blocks through
 * a small per-thread cache of power-of-two size classes, so that once a connection is up
 * its messages never reach malloc. They are installed before main (a constructor), since
 * a block must be freed by the allocator that made it.
 */
#define POOL_MIN_SHIFT 6 /* 64 bytes */
#define POOL_CLASSES 20  /* up to 32 MiB */
#define POOL_DEPTH 16    /* blocks kept per class and thread */
#define POOL_UNCACHED 0xffu

struct pool_header {
	size_t cls;   /* size class, or POOL_UNCACHED */
	size_t bytes; /* usable size; also keeps the payload 16-byte aligned */
};

struct pool {
	void *blocks[POOL_CLASSES][POOL_DEPTH];
	unsigned count[POOL_CLASSES];
};

static pthread_key_t pool_key;
static _Thread_local struct pool *thread_pool;

static void pool_release(void *arg)
{
#ifdef FP_ECC
	/* wolfSSL keeps a per-thread cache of fixed-point ECC tables; it must be freed on
	 * the thread that built it, and this destructor runs there, at thread exit. */
	wc_ecc_fp_free();
#endif
	struct pool *p = arg;
	thread_pool = NULL;
	for (unsigned c = 0; c < POOL_CLASSES; c++)
		for (unsigned i = 0; i < p->count[c]; i++)
			free(p->blocks[c][i]);
	free(p);
}

static struct pool *pool_get(void)
{
	if (!thread_pool) {
		thread_pool = calloc(1, sizeof(*thread_pool));
		if (thread_pool)
			pthread_setspecific(pool_key, thread_pool); /* freed at thread exit */
	}
	return thread_pool;
}

static size_t pool_class(size_t size)
{
	size_t cls = 0;
	while (cls < POOL_CLASSES && ((size_t)1 << (cls + POOL_MIN_SHIFT)) < size)
		cls++;
	return cls < POOL_CLASSES ? cls : POOL_UNCACHED;
}

static void *pool_malloc(size_t size)
{
	size_t cls = pool_class(size);
	struct pool *p = cls == POOL_UNCACHED ? NULL : pool_get();
	struct pool_header *h = NULL;
	size_t bytes = cls == POOL_UNCACHED ? size : (size_t)1 << (cls + POOL_MIN_SHIFT);
	if (p && p->count[cls])
		h = p->blocks[cls][--p->count[cls]];
	else if (bytes <= SIZE_MAX - sizeof(*h))
		h = malloc(sizeof(*h) + bytes);
	if (!h)
		return NULL;
	h->cls = cls;
	h->bytes = bytes;
	return h + 1;
}

static void pool_free(void *ptr)
{
	if (!ptr)
		return;
	struct pool_header *h = (struct pool_header *)ptr - 1;
	struct pool *p = h->cls == POOL_UNCACHED ? NULL : pool_get();
	if (p && p->count[h->cls] < POOL_DEPTH)
		p->blocks[h->cls][p->count[h->cls]++] = h;
	else
		free(h);
}

static void *pool_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return pool_malloc(size);
	struct pool_header *h = (struct pool_header *)ptr - 1;
	if (h->cls != POOL_UNCACHED && size <= h->bytes)
		return ptr;
	void *fresh = pool_malloc(size);
	if (!fresh)
		return NULL;
	memcpy(fresh, ptr, h->bytes < size ? h->bytes : size);
	pool_free(ptr);
	return fresh;
}

__attribute__((constructor)) static void pool_install(void)
{
	pthread_key_create(&pool_key, pool_release);
	wolfSSL_SetAllocators(pool_malloc, pool_free, pool_realloc);
}

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_global_init(void)
{
	wolfSSL_Init();
}

static int recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct tl_io_conn *c = ctx;
	if (c->tls_in_len == 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = (size_t)sz < c->tls_in_len ? (size_t)sz : c->tls_in_len;
	memcpy(buf, c->tls_in + c->tls_in_head, n);
	c->tls_in_head += n;
	c->tls_in_len -= n;
	if (c->tls_in_len == 0)
		c->tls_in_head = 0;
	return (int)n;
}

static int send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct tl_io_conn *c = ctx;
	/* Room was checked before the write, except during the handshake, whose flights
	 * are small next to tx_buf_bytes. */
	if (c->state == TL_IO_CLOSED || !tl_io_conn_tx_room(c, (size_t)sz))
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	memcpy(c->tx + c->tx_tail, buf, (size_t)sz);
	c->tx_tail += (size_t)sz;
	return sz;
}

int tl_io_tls_ctx_create(struct tl_io_conn *c)
{
	pthread_once(&tls_once, tls_global_init);
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
	if (!ctx)
		return -ENOMEM;
	int rc = TL_E_TLS;
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	bool have_ca = false;
	if (!c->cfg.tls_no_system_cas) {
		if (wolfSSL_CTX_load_system_CA_certs(ctx) == WOLFSSL_SUCCESS)
			have_ca = true;
		else
			tl_log(TL_LOG_WARNING, "io", "could not load the system CA store");
	}
	if (c->cfg.ca_file) {
		if (access(c->cfg.ca_file, R_OK) != 0) {
			rc = -errno;
			tl_log(TL_LOG_ERR, "io", "CA file %s: %s", c->cfg.ca_file, strerror(errno));
			goto err;
		}
		if (wolfSSL_CTX_load_verify_locations(ctx, c->cfg.ca_file, NULL) !=
		    WOLFSSL_SUCCESS) {
			tl_log(TL_LOG_ERR, "io", "CA file %s: not a PEM certificate",
			       c->cfg.ca_file);
			goto err;
		}
		have_ca = true;
	}
	if (!have_ca) {
		tl_log(TL_LOG_ERR, "io", "no trusted CA: nothing could be verified");
		goto err;
	}
	wolfSSL_CTX_SetIORecv(ctx, recv_cb);
	wolfSSL_CTX_SetIOSend(ctx, send_cb);
	c->tls_ctx = ctx;
	return 0;
err:
	wolfSSL_CTX_free(ctx);
	return rc;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int map_error(struct tl_io_conn *c, int err, const char *what)
{
	char msg[WOLFSSL_MAX_ERROR_SZ];
	wolfSSL_ERR_error_string_n((unsigned long)err, msg, sizeof(msg));
	int rc;
	switch (err) {
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
		rc = TL_E_TLS_EXPIRED;
		break;
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
		rc = TL_E_TLS_HOSTNAME;
		break;
	case ASN_NO_SIGNER_E:
	case ASN_SELF_SIGNED_E:
		rc = TL_E_TLS_UNKNOWN_CA;
		break;
	default:
		rc = TL_E_TLS;
		break;
	}
	tl_log(TL_LOG_WARNING, "io", "TLS %s with %s failed: %s (%s)", what, c->host,
	       tl_strerror(rc), msg);
	return rc;
}

int tl_io_tls_start(struct tl_io_conn *c)
{
	c->tls = wolfSSL_new(c->tls_ctx);
	if (!c->tls)
		return -ENOMEM;
	wolfSSL_SetIOReadCtx(c->tls, c);
	wolfSSL_SetIOWriteCtx(c->tls, c);
	/* SNI carries a DNS name, never an address (RFC 6066 §3). */
	if (!is_ip_literal(c->host) &&
	    wolfSSL_UseSNI(c->tls, WOLFSSL_SNI_HOST_NAME, c->host,
	                   (unsigned short)strlen(c->host)) != WOLFSSL_SUCCESS)
		return TL_E_TLS;
	if (wolfSSL_check_domain_name(c->tls, c->host) != WOLFSSL_SUCCESS)
		return TL_E_TLS;
	int rc = tl_io_tls_handshake(c);
	return rc < 0 ? rc : 0;
}

int tl_io_tls_handshake(struct tl_io_conn *c)
{
	int ret = wolfSSL_connect(c->tls);
	if (ret == WOLFSSL_SUCCESS)
		return 1;
	int err = wolfSSL_get_error(c->tls, ret);
	if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
		return 0;
	return map_error(c, err, "handshake");
}

ssize_t tl_io_tls_read(struct tl_io_conn *c, bool *eof)
{
	size_t room = c->stash_cap - c->stash_len;
	if (room == 0)
		return 0;
	if (room > INT_MAX)
		room = INT_MAX;
	int n = wolfSSL_read(c->tls, c->stash + c->stash_len, (int)room);
	if (n > 0) {
		c->stash_len += (size_t)n;
		return n;
	}
	int err = wolfSSL_get_error(c->tls, n);
	if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
		return 0;
	if (err == WOLFSSL_ERROR_ZERO_RETURN) {
		*eof = true; /* the peer's close_notify */
		return 0;
	}
	return map_error(c, err, "read");
}

size_t tl_io_tls_overhead(size_t len)
{
	/* Per record of at most 16 KiB: a 5-byte header, the inner content type and a
	 * 16-byte AEAD tag. 64 leaves room for any suite. */
	return (len / 16384 + 1) * 64;
}

int tl_io_tls_write(struct tl_io_conn *c, const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0;
	if (len > INT_MAX || !tl_io_conn_tx_room(c, len + tl_io_tls_overhead(len)))
		return -ENOBUFS;
	int n = wolfSSL_write(c->tls, data, (int)len);
	if (n == (int)len)
		return 0;
	return map_error(c, wolfSSL_get_error(c->tls, n), "write");
}

void tl_io_tls_shutdown(struct tl_io_conn *c)
{
	if (c->tls && tl_io_conn_tx_room(c, 64))
		wolfSSL_shutdown(c->tls);
}

void tl_io_tls_end(struct tl_io_conn *c)
{
	if (c->tls) {
		wolfSSL_free(c->tls);
		c->tls = NULL;
	}
}
