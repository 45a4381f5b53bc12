/*
 * fuzz_http_response.c: libFuzzer target for the HTTP/1.1 response parser.
 *
 * The input is one control byte, then a byte stream from a server. The stream is parsed
 * as a run of pipelined responses (reset after each complete one, as a keep-alive client
 * does), in three ways: all of it at once, in two pieces cut where the control byte says,
 * and one byte at a time. All three must give the same responses, or fail with the same
 * error at the same response. Every call must keep its bounds: it consumes no more than
 * it was given, the body stays inside body_cap, and the header views inside head_buf.
 *
 * Control byte: bit 0 marks each request as HEAD (no_body); the whole byte, scaled to the
 * stream's length, is where the two-piece feed is cut.
 *
 * The buffers are small (1 KiB of head, 4 KiB of body) so that the limits are reached, and
 * they are heap blocks of exactly that size so that AddressSanitizer sees any overrun.
 */
#include "tl_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_CAP 1024
#define BODY_CAP 4096
#define MAX_RESPONSES 32
#define BYTEWISE_MAX 16384 /* longer inputs skip the byte-at-a-time feed, for speed */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one response came to. */
struct record {
	int kind; /* REC_* */
	long long rc;
	size_t consumed;
	int status, minor_version;
	bool keep_alive;
	size_t n_headers;
	uint64_t headers_hash; /* the views' offsets and lengths */
	size_t body_len;
	uint64_t body_hash;
};

enum { REC_COMPLETE = 1, REC_ERROR, REC_EOF };

struct run {
	size_t n;
	struct record rec[MAX_RESPONSES];
};

static char *head_buf;
static uint8_t *body_buf;

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: violated: %s\n", __FILE__, __LINE__, #cond);       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static bool inside_head(const struct tl_http_response *r, const char *p, size_t len)
{
	return p >= r->head_buf && p <= r->head_buf + r->head_cap &&
	       len <= (size_t)(r->head_buf + r->head_cap - p);
}

/* The bounds every call must keep, whatever it returned. */
static void check_bounds(const struct tl_http_response *r)
{
	FUZZ_CHECK(r->body_len <= r->body_cap);
	FUZZ_CHECK(r->n_headers <= TL_HTTP_MAX_HEADERS);
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct tl_http_header *h = &r->headers[i];

		FUZZ_CHECK(h->name_len > 0 && inside_head(r, h->name, h->name_len));
		FUZZ_CHECK(inside_head(r, h->value, h->value_len));
	}
	if (r->head_done)
		FUZZ_CHECK(r->status >= 100 && r->status <= 599);
	if (r->complete)
		FUZZ_CHECK(r->head_done);
}

static void record_response(struct record *rec, const struct tl_http_response *r, int kind,
                            long long rc, size_t consumed)
{
	uint64_t h = 0xcbf29ce484222325ull;

	memset(rec, 0, sizeof(*rec));
	rec->kind = kind;
	rec->rc = rc;
	rec->consumed = consumed;
	if (rc < 0)
		return; /* the state after an error is unspecified */
	rec->status = r->status;
	rec->minor_version = r->minor_version;
	rec->keep_alive = r->keep_alive;
	rec->n_headers = r->n_headers;
	for (size_t i = 0; i < r->n_headers; i++) {
		size_t v[4] = {(size_t)(r->headers[i].name - r->head_buf), r->headers[i].name_len,
		               (size_t)(r->headers[i].value - r->head_buf),
		               r->headers[i].value_len};

		h = fnv1a(h, v, sizeof(v));
	}
	rec->headers_hash = h;
	rec->body_len = r->body_len;
	rec->body_hash = fnv1a(0xcbf29ce484222325ull, r->body_buf, r->body_len);

	/* The lookups work on whatever was parsed. */
	for (size_t i = 0; i < r->n_headers; i++) {
		char name[64];
		size_t len = r->headers[i].name_len < sizeof(name) - 1 ? r->headers[i].name_len
		                                                       : sizeof(name) - 1;
		size_t value_len;
		const char *v;

		memcpy(name, r->headers[i].name, len);
		name[len] = '\0';
		v = tl_http_header_get(r, name, &value_len);
		if (len == r->headers[i].name_len)
			FUZZ_CHECK(v != NULL);
		if (v != NULL)
			FUZZ_CHECK(inside_head(r, v, value_len));
		(void)tl_http_header_has_token(r, name, "close");
	}
}

/*
 * Parses in[0..len) as a stream of responses. The parser sees the bytes arrive in pieces:
 * in[0..split) then the rest, or one byte at a time when `bytewise`.
 */
static void drive(struct run *out, const uint8_t *in, size_t len, size_t split, bool bytewise,
                  bool no_body)
{
	struct tl_http_response r;
	size_t pos = 0, start = 0;
	size_t avail = bytewise ? (len > 0 ? 1 : 0) : split;

	out->n = 0;
	FUZZ_CHECK(tl_http_response_init(&r, head_buf, HEAD_CAP, body_buf, BODY_CAP) == 0);
	tl_http_response_reset(&r, no_body);
	for (;;) {
		size_t given = avail - pos;
		ssize_t n = tl_http_response_parse(&r, in + pos, given);

		check_bounds(&r);
		if (n < 0) {
			FUZZ_CHECK(n == -EBADMSG || n == -EMSGSIZE || n == -E2BIG);
			/* The error sticks until the reset. */
			FUZZ_CHECK(tl_http_response_parse(&r, in + pos, given) == n);
			FUZZ_CHECK(tl_http_response_eof(&r) == -EPIPE);
			record_response(&out->rec[out->n++], &r, REC_ERROR, n, 0);
			return;
		}
		FUZZ_CHECK((size_t)n <= given);
		pos += (size_t)n;
		if (r.complete) {
			/* Nothing more is taken, and the close changes nothing. */
			FUZZ_CHECK(tl_http_response_parse(&r, in + pos, avail - pos) == 0);
			FUZZ_CHECK(tl_http_response_eof(&r) == 0);
			record_response(&out->rec[out->n++], &r, REC_COMPLETE, 0, pos - start);
			if (out->n == MAX_RESPONSES || pos == len)
				return;
			tl_http_response_reset(&r, no_body);
			start = pos;
			if (bytewise && pos == avail)
				avail++;
			continue;
		}
		/* An incomplete response takes every byte it is given. */
		FUZZ_CHECK(pos == avail);
		if (avail < len) {
			avail = bytewise ? avail + 1 : len;
			continue;
		}
		int e = tl_http_response_eof(&r);
		FUZZ_CHECK(e == 0 || e == -EPIPE);
		if (e == 0)
			FUZZ_CHECK(r.complete && !r.keep_alive);
		check_bounds(&r);
		record_response(&out->rec[out->n++], &r, REC_EOF, e, pos - start);
		return;
	}
}

static void compare(const struct run *a, const struct run *b, const char *what)
{
	if (a->n != b->n) {
		fprintf(stderr, "%s: %zu responses, whole feed %zu\n", what, b->n, a->n);
		abort();
	}
	for (size_t i = 0; i < a->n; i++) {
		if (memcmp(&a->rec[i], &b->rec[i], sizeof(a->rec[i])) != 0) {
			fprintf(stderr,
			        "%s: response %zu differs: kind %d/%d rc %lld/%lld status %d/%d "
			        "consumed %zu/%zu body %zu/%zu\n",
			        what, i, b->rec[i].kind, a->rec[i].kind, b->rec[i].rc, a->rec[i].rc,
			        b->rec[i].status, a->rec[i].status, b->rec[i].consumed,
			        a->rec[i].consumed, b->rec[i].body_len, a->rec[i].body_len);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split, bytewise;
	const uint8_t *in;
	size_t len, cut;
	bool no_body;

	if (head_buf == NULL) {
		head_buf = malloc(HEAD_CAP);
		body_buf = malloc(BODY_CAP);
		FUZZ_CHECK(head_buf != NULL && body_buf != NULL);
	}
	if (size == 0)
		return 0;
	no_body = (data[0] & 1) != 0;
	in = data + 1;
	len = size - 1;
	cut = (size_t)data[0] * (len + 1) / 256;

	/* The records hold no padding garbage: memset before filling, compared bytewise. */
	drive(&whole, in, len, len, false, no_body);
	drive(&split, in, len, cut, false, no_body);
	compare(&whole, &split, "split feed");
	if (len <= BYTEWISE_MAX) {
		drive(&bytewise, in, len, 0, true, no_body);
		compare(&whole, &bytewise, "bytewise feed");
	}
	return 0;
}
