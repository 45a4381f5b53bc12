/*
 * Unit tests of the HTTP/1.1 codec: request writing, response framing (Content-Length,
 * chunked, until-close, none), keep-alive, pipelining, split-invariance and every error.
 */
#include "tl_io.h"
#include "tl_test.h"

#include <errno.h>
#include <string.h>

#define HEAD_CAP 1024
#define BODY_CAP 4096

static char head_buf[HEAD_CAP];
static uint8_t body_buf[BODY_CAP];

static void setup(struct tl_http_response *r, bool no_body)
{
	CHECK_EQ(tl_http_response_init(r, head_buf, sizeof(head_buf), body_buf, sizeof(body_buf)),
	         0);
	tl_http_response_reset(r, no_body);
}

/* Feeds all of `s` at once. */
static ssize_t feed(struct tl_http_response *r, const char *s)
{
	return tl_http_response_parse(r, (const uint8_t *)s, strlen(s));
}

/* Feeds `s` one byte at a time; returns the total consumed or the first error. */
static ssize_t feed_bytewise(struct tl_http_response *r, const char *s, size_t len)
{
	size_t used = 0;

	for (size_t i = 0; i < len; i++) {
		ssize_t n = tl_http_response_parse(r, (const uint8_t *)s + i, 1);

		if (n < 0)
			return n;
		CHECK(n <= 1);
		used += (size_t)n;
		if (r->complete)
			break;
	}
	return (ssize_t)used;
}

static bool body_is(const struct tl_http_response *r, const char *s)
{
	return r->body_len == strlen(s) && memcmp(r->body_buf, s, r->body_len) == 0;
}

static bool value_is(const struct tl_http_response *r, const char *name, const char *want)
{
	size_t len = 12345;
	const char *v = tl_http_header_get(r, name, &len);

	return v != NULL && len == strlen(want) && memcmp(v, want, len) == 0;
}

/* Parses `s` whole and returns the result; the response must not be complete unless the
 * whole of `s` is one response. */
static ssize_t parse_error(const char *s)
{
	struct tl_http_response r;

	setup(&r, false);
	return feed(&r, s);
}

/* --- requests ------------------------------------------------------------------------- */

static void test_request_get(void)
{
	static const char want[] = "GET /api/v3/depth?symbol=BTCUSDT HTTP/1.1\r\n"
	                           "Host: api.example.com\r\n"
	                           "X-MBX-APIKEY: abc\t123\r\n"
	                           "Accept: */*\r\n"
	                           "\r\n";
	struct tl_http_header h[2] = {
	    {.name = "X-MBX-APIKEY", .name_len = 12, .value = "abc\t123", .value_len = 7},
	    {.name = "Accept", .name_len = 6, .value = "*/*", .value_len = 3},
	};
	char out[512];
	ssize_t n;

	n = tl_http_request_write(out, sizeof(out), "GET", "api.example.com",
	                          "/api/v3/depth?symbol=BTCUSDT", h, 2, NULL, 0);
	CHECK_EQ(n, sizeof(want) - 1);
	CHECK(memcmp(out, want, (size_t)n) == 0);

	/* No headers at all, and a NULL array with a zero count. */
	n = tl_http_request_write(out, sizeof(out), "GET", "h", "/", NULL, 0, NULL, 0);
	CHECK_EQ(n, strlen("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	CHECK(memcmp(out, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", (size_t)n) == 0);

	/* An empty header value is legal. */
	h[0].value = "";
	h[0].value_len = 0;
	n = tl_http_request_write(out, sizeof(out), "GET", "h", "/", h, 1, NULL, 0);
	CHECK(n > 0);
	CHECK(memmem(out, (size_t)n, "X-MBX-APIKEY: \r\n", 16) != NULL);
}

static void test_request_body(void)
{
	static const char want_post[] = "POST /api/v3/order HTTP/1.1\r\n"
	                                "Host: h:8443\r\n"
	                                "Content-Type: application/x-www-form-urlencoded\r\n"
	                                "Content-Length: 11\r\n"
	                                "\r\n"
	                                "a=1&b=2\0xyz";
	struct tl_http_header h = {.name = "Content-Type",
	                           .name_len = 12,
	                           .value = "application/x-www-form-urlencoded",
	                           .value_len = 33};
	char out[512];
	ssize_t n;

	/* The body is binary: its NUL travels. */
	n = tl_http_request_write(out, sizeof(out), "POST", "h:8443", "/api/v3/order", &h, 1,
	                          "a=1&b=2\0xyz", 11);
	CHECK_EQ(n, sizeof(want_post) - 1);
	CHECK(memcmp(out, want_post, (size_t)n) == 0);

	/* POST and PUT say Content-Length: 0 when they have no body. */
	n = tl_http_request_write(out, sizeof(out), "POST", "h", "/x", NULL, 0, NULL, 0);
	CHECK_EQ(n, strlen("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"));
	CHECK(memcmp(out, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", (size_t)n) ==
	      0);
	n = tl_http_request_write(out, sizeof(out), "PUT", "h", "/x", NULL, 0, NULL, 0);
	CHECK(n > 0 && memmem(out, (size_t)n, "Content-Length: 0\r\n", 19) != NULL);

	/* DELETE without a body has no Content-Length; with one, it has. */
	n = tl_http_request_write(out, sizeof(out), "DELETE", "h", "/x", NULL, 0, NULL, 0);
	CHECK(n > 0 && memmem(out, (size_t)n, "Content-Length", 14) == NULL);
	n = tl_http_request_write(out, sizeof(out), "DELETE", "h", "/x", NULL, 0, "id=7", 4);
	CHECK_EQ(n, strlen("DELETE /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nid=7"));
	CHECK(memcmp(out, "DELETE /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nid=7",
	             (size_t)n) == 0);

	/* A long body: the Content-Length digits are right. */
	static char big[3000];
	static char big_out[3200];
	memset(big, 'z', sizeof(big));
	n = tl_http_request_write(big_out, sizeof(big_out), "PUT", "h", "/", NULL, 0, big,
	                          sizeof(big));
	CHECK(n > 0 && memmem(big_out, (size_t)n, "Content-Length: 3000\r\n\r\nzzz", 27) != NULL);
	CHECK(memcmp(big_out + n - 3000, big, 3000) == 0);
}

static void test_request_nobufs(void)
{
	struct tl_http_header h = {.name = "A", .name_len = 1, .value = "b", .value_len = 1};
	char out[256], sentinel[256 + 1];
	ssize_t full, n;

	full = tl_http_request_write(out, sizeof(out), "POST", "host", "/t", &h, 1, "body", 4);
	CHECK(full > 0);
	/* Every capacity short of the request is -ENOBUFS, and nothing past cap is written. */
	for (size_t cap = 0; cap < (size_t)full; cap++) {
		memset(sentinel, '#', sizeof(sentinel));
		n = tl_http_request_write(cap > 0 ? sentinel : NULL, cap, "POST", "host", "/t", &h,
		                          1, "body", 4);
		CHECK_EQ(n, -ENOBUFS);
		for (size_t i = cap; i < sizeof(sentinel); i++)
			CHECK(sentinel[i] == '#');
	}
	n = tl_http_request_write(sentinel, (size_t)full, "POST", "host", "/t", &h, 1, "body", 4);
	CHECK_EQ(n, full);
	CHECK(memcmp(sentinel, out, (size_t)full) == 0);
}

static void test_request_injection(void)
{
	char out[256];
	struct tl_http_header h;

#define REQ(method, host, target, hdrs, n_hdrs)                                                    \
	tl_http_request_write(out, sizeof(out), method, host, target, hdrs, n_hdrs, NULL, 0)

	/* Empty or NULL request-line parts. */
	CHECK_EQ(REQ("", "h", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h", "", NULL, 0), -EINVAL);
	CHECK_EQ(REQ(NULL, "h", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", NULL, "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h", NULL, NULL, 0), -EINVAL);
	/* CR, LF, blanks and controls in the request line. */
	CHECK_EQ(REQ("GET\r\nX: y", "h", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GE T", "h", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h\r\nEvil: 1", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h\n", "/", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h", "/a\rb", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h", "/a b", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h", "/a\tb", NULL, 0), -EINVAL);
	CHECK_EQ(REQ("GET", "h", "/\x7f", NULL, 0), -EINVAL);
	/* A NULL header array with a count, or a NULL body with a length. */
	CHECK_EQ(REQ("GET", "h", "/", NULL, 1), -EINVAL);
	CHECK_EQ(tl_http_request_write(out, sizeof(out), "GET", "h", "/", NULL, 0, NULL, 1),
	         -EINVAL);
	CHECK_EQ(tl_http_request_write(NULL, 10, "GET", "h", "/", NULL, 0, NULL, 0), -EINVAL);

	/* Header values: CR, LF and NUL (inside the counted length) and other controls. */
	static const char *const bad_values[] = {"a\r\nEvil: 1", "a\nb", "a\rb", "\x01", "a\x7f"};
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		h = (struct tl_http_header){"X", 1, bad_values[i], strlen(bad_values[i])};
		CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);
	}
	h = (struct tl_http_header){"X", 1, "a\0b", 3};
	CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);
	h = (struct tl_http_header){"X", 1, NULL, 1};
	CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);
	/* obs-text in a value is allowed, as is HTAB. */
	h = (struct tl_http_header){"X", 1, "caf\xc3\xa9\tx", 7};
	CHECK(REQ("GET", "h", "/", &h, 1) > 0);

	/* Header names must be tokens. */
	static const char *const bad_names[] = {"", "X Y", "X:", "X\r\nY", "X\n", "\x01", "(x)"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		h = (struct tl_http_header){bad_names[i], strlen(bad_names[i]), "v", 1};
		CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);
	}
	h = (struct tl_http_header){"X\0Y", 3, "v", 1};
	CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);
	h = (struct tl_http_header){NULL, 0, "v", 1};
	CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);

	/* The framing headers are the codec's. */
	static const char *const owned[] = {"Host",
	                                    "host",
	                                    "Content-Length",
	                                    "content-length",
	                                    "Transfer-Encoding",
	                                    "TRANSFER-ENCODING"};
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		h = (struct tl_http_header){owned[i], strlen(owned[i]), "1", 1};
		CHECK_EQ(REQ("GET", "h", "/", &h, 1), -EINVAL);
	}
	/* The second of two headers is checked too. */
	struct tl_http_header two[2] = {{"A", 1, "ok", 2}, {"B", 1, "x\ny", 3}};
	CHECK_EQ(REQ("GET", "h", "/", two, 2), -EINVAL);
#undef REQ
}

/* --- responses ------------------------------------------------------------------------ */

static void test_init(void)
{
	struct tl_http_response r;

	CHECK_EQ(tl_http_response_init(NULL, head_buf, 1, body_buf, 1), -EINVAL);
	CHECK_EQ(tl_http_response_init(&r, NULL, 1, body_buf, 1), -EINVAL);
	CHECK_EQ(tl_http_response_init(&r, head_buf, 0, body_buf, 1), -EINVAL);
	CHECK_EQ(tl_http_response_init(&r, head_buf, 1, NULL, 1), -EINVAL);
	CHECK_EQ(tl_http_response_init(&r, head_buf, 1, body_buf, 0), -EINVAL);
	setup(&r, false);
	CHECK(!r.head_done && !r.complete && r.n_headers == 0 && r.body_len == 0);
	CHECK_EQ(tl_http_response_parse(&r, NULL, 0), 0);
	CHECK_EQ(tl_http_response_parse(&r, NULL, 1), -EINVAL);
	CHECK_EQ(tl_http_response_parse(NULL, (const uint8_t *)"H", 1), -EINVAL);
	CHECK_EQ(tl_http_response_eof(NULL), -EINVAL);
}

static void test_content_length(void)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
	                           "Content-Type: application/json\r\n"
	                           "Content-Length:   13  \r\n"
	                           "X-Empty:\r\n"
	                           "X-Blank: \t \r\n"
	                           "\r\n"
	                           "{\"a\":\"b c\"}\r\n";
	struct tl_http_response r;

	setup(&r, false);
	CHECK_EQ(feed(&r, resp), strlen(resp));
	CHECK(r.head_done && r.complete && r.keep_alive);
	CHECK_EQ(r.status, 200);
	CHECK_EQ(r.minor_version, 1);
	CHECK_EQ(r.n_headers, 4);
	CHECK(value_is(&r, "Content-Length", "13"));
	CHECK(value_is(&r, "x-empty", ""));
	CHECK(value_is(&r, "X-BLANK", ""));
	CHECK(body_is(&r, "{\"a\":\"b c\"}\r\n"));
	/* Complete: nothing more is taken. */
	CHECK_EQ(feed(&r, "HTTP/1.1 200 OK\r\n"), 0);
	CHECK_EQ(tl_http_response_eof(&r), 0);

	/* Content-Length: 0 is complete at the end of the head. */
	setup(&r, false);
	CHECK_EQ(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	         strlen("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	CHECK(r.complete && r.body_len == 0);

	/* Repeated or listed, but equal, values are one length (RFC 9110 §8.6). */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 3, 3,3\r\ncontent-length: 003\r\n\r\n"
	               "abc") > 0);
	CHECK(r.complete && body_is(&r, "abc"));

	/* The body may fill body_buf exactly. */
	static char exact[64 + BODY_CAP];
	int len = snprintf(exact, sizeof(exact), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
	                   BODY_CAP);
	memset(exact + len, 'q', BODY_CAP);
	exact[len + BODY_CAP] = '\0';
	setup(&r, false);
	CHECK_EQ(feed(&r, exact), len + BODY_CAP);
	CHECK(r.complete && r.body_len == BODY_CAP);

	/* The status line without a reason, or with an empty one, and an HTTP/1.0 answer. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n") > 0);
	CHECK(r.complete && r.status == 404);
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.0 503 \r\nContent-Length: 0\r\n\r\n") > 0);
	CHECK(r.complete && r.status == 503 && r.minor_version == 0 && !r.keep_alive);
	/* obs-text in the reason and in a value is kept as bytes. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 \xc3\x9c\x62\x65r\r\nX: \xff\r\nContent-Length: 0\r\n\r\n") >
	      0);
	CHECK(r.complete && value_is(&r, "x", "\xff"));
}

static void test_bare_lf(void)
{
	struct tl_http_response r;

	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi") > 0);
	CHECK(r.complete && body_is(&r, "hi") && value_is(&r, "content-length", "2"));
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\n\n2\nhi\n0\n\n") > 0);
	CHECK(r.complete && body_is(&r, "hi"));
}

static void test_chunked(void)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
	                           "Transfer-Encoding: Chunked\r\n"
	                           "\r\n"
	                           "5\r\nhello\r\n"
	                           "1;name=value;flag\r\n,\r\n"
	                           "00006 ; ext=\"quoted; \\\" \"\r\n world\r\n"
	                           "A\r\n0123456789\r\n"
	                           "0\r\n"
	                           "\r\n";
	struct tl_http_response r;

	setup(&r, false);
	CHECK_EQ(feed(&r, resp), strlen(resp));
	CHECK(r.complete && r.keep_alive);
	CHECK(body_is(&r, "hello, world0123456789"));

	/* Hex digits in either case; the last chunk with an extension; trailers. */
	static const char trl[] = "HTTP/1.1 200 OK\r\n"
	                          "Transfer-Encoding: chunked\r\n"
	                          "\r\n"
	                          "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	                          "1A\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
	                          "0;last\r\n"
	                          "X-Checksum: abc\r\n"
	                          "X-Empty:\r\n"
	                          "\r\n";
	setup(&r, false);
	CHECK_EQ(feed(&r, trl), strlen(trl));
	CHECK(r.complete);
	CHECK(body_is(&r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"));
	/* Trailers are dropped, not added to the headers. */
	CHECK(tl_http_header_get(&r, "X-Checksum", NULL) == NULL);
	CHECK_EQ(r.n_headers, 1);

	/* An empty body. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") > 0);
	CHECK(r.complete && r.body_len == 0);

	/* Transfer-Encoding wins over Content-Length, but the connection is not reused. */
	setup(&r, false);
	CHECK(feed(&r,
	           "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "3\r\nabc\r\n0\r\n\r\n") > 0);
	CHECK(r.complete && body_is(&r, "abc") && !r.keep_alive);

	/* A TE list with empty elements is still one coding. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked ,\r\n\r\n0\r\n\r\n") > 0);
	CHECK(r.complete);

	/* Many short chunks: the head_cap bound applies to each size line, not to them all. */
	static char many[64 + 600 * 6 + 8];
	int n =
	    snprintf(many, sizeof(many), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 600; i++)
		n += snprintf(many + n, sizeof(many) - (size_t)n, "1\r\n%c\r\n", 'a' + i % 26);
	strcpy(many + n, "0\r\n\r\n");
	setup(&r, false);
	CHECK_EQ(feed(&r, many), strlen(many));
	CHECK(r.complete && r.body_len == 600 && r.body_buf[599] == 'a' + 599 % 26);

	/* A chunk that fills body_buf exactly. */
	static char exact[128 + BODY_CAP];
	int len = snprintf(exact, sizeof(exact),
	                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", BODY_CAP);
	memset(exact + len, 'q', BODY_CAP);
	strcpy(exact + len + BODY_CAP, "\r\n0\r\n\r\n");
	setup(&r, false);
	CHECK_EQ(feed(&r, exact), strlen(exact));
	CHECK(r.complete && r.body_len == BODY_CAP);
}

static void test_until_close(void)
{
	struct tl_http_response r;

	setup(&r, false);
	CHECK_EQ(feed(&r, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome"), 49);
	CHECK(r.head_done && !r.complete && !r.keep_alive);
	CHECK_EQ(feed(&r, " more"), 5);
	CHECK_EQ(feed(&r, ""), 0);
	CHECK(!r.complete);
	CHECK_EQ(tl_http_response_eof(&r), 0);
	CHECK(r.complete && !r.keep_alive && body_is(&r, "some more"));
	CHECK_EQ(tl_http_response_eof(&r), 0);
	CHECK_EQ(feed(&r, "x"), 0);

	/* An empty body ended by the close. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.0 200 OK\r\n\r\n") > 0);
	CHECK_EQ(tl_http_response_eof(&r), 0);
	CHECK(r.complete && r.body_len == 0);

	/* Even Connection: keep-alive cannot save a body that the close delimits. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n") > 0);
	CHECK(!r.keep_alive);

	/* Such a body is still bounded by body_buf. */
	static char big[BODY_CAP + 1];
	memset(big, 'b', BODY_CAP);
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\n\r\n") > 0);
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)big, BODY_CAP), BODY_CAP);
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)"x", 1), -EMSGSIZE);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
}

static void test_no_body(void)
{
	struct tl_http_response r;
	static const char after[] = "HTTP/1.1 200 OK\r\n";

	/* 204 and 304 have no body, whatever their Content-Length says. */
	static const char *const heads[] = {
	    "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 204 No Content\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s%s", heads[i], after);
		setup(&r, false);
		CHECK_EQ(feed(&r, buf), strlen(heads[i]));
		CHECK(r.complete && r.body_len == 0 && r.keep_alive);
	}

	/* The answer to HEAD carries the length of a body it does not send. */
	setup(&r, true);
	CHECK_EQ(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1"),
	         strlen("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
	CHECK(r.complete && r.body_len == 0 && r.keep_alive);
	/* The same response, not to HEAD, waits for its body. */
	tl_http_response_reset(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n") > 0);
	CHECK(!r.complete);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);

	/* 100 Continue is complete at its head; the final response follows. */
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
	                           "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
	setup(&r, false);
	ssize_t n = feed(&r, cont);
	CHECK_EQ(n, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
	CHECK(r.complete && r.status == 100);
	tl_http_response_reset(&r, false);
	CHECK_EQ(feed(&r, cont + n), strlen(cont) - (size_t)n);
	CHECK(r.complete && r.status == 201 && body_is(&r, "ok"));
}

static void test_upgrade(void)
{
	static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
	                           "Upgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                           "\r\n";
	char buf[256];
	struct tl_http_response r;

	/* A WebSocket frame follows the head at once, in the same read. */
	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + sizeof(head) - 1, "\x81\x02hi", 4);
	setup(&r, true);
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)buf, sizeof(head) - 1 + 4),
	         sizeof(head) - 1);
	CHECK(r.complete && r.head_done && r.status == 101 && r.body_len == 0);
	CHECK(!r.keep_alive);
	CHECK(tl_http_header_has_token(&r, "connection", "upgrade"));
	CHECK(value_is(&r, "upgrade", "websocket"));
	CHECK(value_is(&r, "sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

	/* A 101 ends at its head even if the request was not flagged no_body. */
	setup(&r, false);
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)buf, sizeof(head) - 1 + 4),
	         sizeof(head) - 1);
	CHECK(r.complete);
}

static void test_keep_alive(void)
{
	static const struct {
		const char *head;
		bool keep_alive;
	} cases[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false},
	    {"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
	     false},
	    {"HTTP/1.1 200 OK\r\nConnection: foo\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	     false},
	    {"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	    {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true},
	    {"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
	     false},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
	    {"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	     false},
	    {"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", false},
	    {"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", true},
	};
	struct tl_http_response r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup(&r, false);
		CHECK_EQ(feed(&r, cases[i].head), strlen(cases[i].head));
		CHECK(r.complete);
		if (r.keep_alive != cases[i].keep_alive) {
			fprintf(stderr, "keep-alive case %zu\n", i);
			CHECK(r.keep_alive == cases[i].keep_alive);
		}
	}
}

static void test_pipelined(void)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
	                          "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
	                          "6\r\nsecond\r\n0\r\n\r\n"
	                          "HTTP/1.1 204 No Content\r\n\r\n";
	struct tl_http_response r;
	size_t first = strlen("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
	size_t second = strlen("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
	                       "6\r\nsecond\r\n0\r\n\r\n");
	size_t len = sizeof(two) - 1;
	const uint8_t *in = (const uint8_t *)two;

	setup(&r, false);
	CHECK_EQ(tl_http_response_parse(&r, in, len), first);
	CHECK(r.complete && r.status == 200 && body_is(&r, "first"));
	CHECK_EQ(tl_http_response_parse(&r, in + first, len - first), 0);

	tl_http_response_reset(&r, false);
	CHECK_EQ(tl_http_response_parse(&r, in + first, len - first), second);
	CHECK(r.complete && r.status == 404 && body_is(&r, "second"));

	tl_http_response_reset(&r, false);
	CHECK_EQ(tl_http_response_parse(&r, in + first + second, len - first - second),
	         len - first - second);
	CHECK(r.complete && r.status == 204);

	/* Fed byte by byte, each response stops at its own end as well. */
	setup(&r, false);
	CHECK_EQ(feed_bytewise(&r, two, len), first);
	CHECK(r.complete && body_is(&r, "first"));
	tl_http_response_reset(&r, false);
	CHECK_EQ(feed_bytewise(&r, two + first, len - first), second);
	CHECK(r.complete && body_is(&r, "second"));
}

/* --- split invariance ----------------------------------------------------------------- */

/* What a parse came to, compared between ways of feeding the same bytes. */
struct outcome {
	ssize_t rc; /* bytes consumed in all, or the error */
	bool complete, head_done, keep_alive;
	int status;
	size_t n_headers;
	size_t name_off[TL_HTTP_MAX_HEADERS], value_off[TL_HTTP_MAX_HEADERS];
	size_t value_len[TL_HTTP_MAX_HEADERS];
	size_t body_len;
	uint8_t body[BODY_CAP];
	int eof_rc;
};

/* Feeds s[0..len) in pieces: cut at `a` and `b` (both <= len), or every byte when
 * `bytewise`. */
static void run(struct outcome *o, const char *s, size_t len, size_t a, size_t b, bool bytewise)
{
	struct tl_http_response r;
	size_t used = 0;

	memset(o, 0, sizeof(*o));
	setup(&r, false);
	while (used < len) {
		size_t end = bytewise ? used + 1 : used < a ? a : used < b ? b : len;
		ssize_t n = tl_http_response_parse(&r, (const uint8_t *)s + used, end - used);

		if (n < 0) {
			o->rc = n;
			break;
		}
		CHECK((size_t)n <= end - used);
		used += (size_t)n;
		if (r.complete)
			break;
		/* An incomplete response takes every byte it is given. */
		CHECK_EQ(used, end);
	}
	if (o->rc == 0)
		o->rc = (ssize_t)used;
	o->complete = r.complete;
	o->head_done = r.head_done;
	o->keep_alive = r.keep_alive;
	o->status = r.status;
	o->n_headers = r.n_headers;
	for (size_t i = 0; i < r.n_headers; i++) {
		o->name_off[i] = (size_t)(r.headers[i].name - head_buf);
		o->value_off[i] = (size_t)(r.headers[i].value - head_buf);
		o->value_len[i] = r.headers[i].value_len;
	}
	o->body_len = r.body_len;
	memcpy(o->body, r.body_buf, r.body_len);
	o->eof_rc = tl_http_response_eof(&r);
}

static bool same(const struct outcome *x, const struct outcome *y)
{
	if (x->rc != y->rc || x->eof_rc != y->eof_rc)
		return false;
	if (x->rc < 0)
		return true; /* the state after an error is unspecified */
	return x->complete == y->complete && x->head_done == y->head_done &&
	       x->keep_alive == y->keep_alive && x->status == y->status &&
	       x->n_headers == y->n_headers &&
	       memcmp(x->name_off, y->name_off, x->n_headers * sizeof(size_t)) == 0 &&
	       memcmp(x->value_off, y->value_off, x->n_headers * sizeof(size_t)) == 0 &&
	       memcmp(x->value_len, y->value_len, x->n_headers * sizeof(size_t)) == 0 &&
	       x->body_len == y->body_len && memcmp(x->body, y->body, x->body_len) == 0;
}

static void test_split_invariance(void)
{
	static const char *const samples[] = {
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX:  a b \r\n\r\nhelloHTTP/1.1 200 OK\r\n",
	    ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nextra"),
	    "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2 \nhi\n0\n\n",
	    "HTTP/1.0 200 OK\r\n\r\nuntil close",
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00",
	    "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
	    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
	    /* errors */
	    "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
	    "HTTP/1.1 2000 OK\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	    "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
	};
	static struct outcome whole, other;

	for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
		const char *s = samples[k];
		size_t len = strlen(s);

		run(&whole, s, len, len, len, false);
		run(&other, s, len, 0, 0, true);
		if (!same(&whole, &other)) {
			fprintf(stderr, "sample %zu differs byte by byte\n", k);
			CHECK(0);
		}
		/* Every cut into three pieces. */
		for (size_t a = 0; a <= len; a++) {
			for (size_t b = a; b <= len; b++) {
				run(&other, s, len, a, b, false);
				if (!same(&whole, &other)) {
					fprintf(stderr, "sample %zu differs cut at %zu, %zu\n", k,
					        a, b);
					CHECK(0);
				}
			}
		}
	}
	/* The samples are what they claim to be. */
	run(&whole, samples[0], strlen(samples[0]), 7, 7, false);
	CHECK(whole.complete && whole.rc == (ssize_t)strlen(samples[0]) - 17);
	CHECK_EQ(whole.value_len[1], 3);
	run(&whole, samples[3], strlen(samples[3]), 7, 7, false);
	CHECK(!whole.complete && whole.eof_rc == 0 && whole.body_len == 11);
	run(&whole, samples[7], strlen(samples[7]), 7, 7, false);
	CHECK(whole.rc > 0 && whole.eof_rc == -EPIPE);
}

/* --- errors --------------------------------------------------------------------------- */

static void test_bad_status_line(void)
{
	static const char *const bad[] = {
	    "\r\n",
	    "HTTP/2.0 200 OK\r\n",
	    "HTTP/1.1 099 X\r\n",
	    "HTTP/1.1 600 X\r\n",
	    "HTTP/1.1 20 OK\r\n",
	    "HTTP/1.1 20x OK\r\n",
	    "HTTP/1.1 2000 OK\r\n",
	    "HTTP/1.1  200 OK\r\n",
	    "HTTP/1.1 200OK\r\n",
	    "HTTP/1.1\t200 OK\r\n",
	    "http/1.1 200 OK\r\n",
	    "HTTP/1.x 200 OK\r\n",
	    "HTTP/1.10 200 OK\r\n",
	    "HTTP/11 200 OK\r\n",
	    "ICY 200 OK\r\n",
	    "HTTP/1.1 200 O\x01K\r\n",
	    "HTTP/1.1 200 O\rK\r\n",
	    "HTTP/1.1 200 OK\r\r\n",
	    "HTTP/1.1 200 O\x7f\r\n",
	    " HTTP/1.1 200 OK\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_error(bad[i]) != -EBADMSG) {
			fprintf(stderr, "status line %zu accepted\n", i);
			CHECK(0);
		}
	}
	/* A NUL in the reason. */
	static const char nul[] = "HTTP/1.1 200 O\0K\r\n";
	struct tl_http_response r;
	setup(&r, false);
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)nul, sizeof(nul) - 1), -EBADMSG);
}

static void test_bad_headers(void)
{
	static const char *const bad[] = {
	    "Name : v\r\n",     "Name\t: v\r\n",   " Folded: v\r\n",  "\tFolded: v\r\n",
	    "Na me: v\r\n",     ": v\r\n",         "Name v\r\n",      "Name\r\n",
	    "Name: a\001b\r\n", "Name: a\rb\r\n",  "Name: a\x7f\r\n", "Name: v\r\r\n",
	    "(Name): v\r\n",    "Name\x80: v\r\n",
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n%s\r\n", bad[i]);
		if (parse_error(buf) != -EBADMSG) {
			fprintf(stderr, "header %zu accepted\n", i);
			CHECK(0);
		}
	}
	/* An obsolete line folding after a good field. */
	CHECK_EQ(parse_error("HTTP/1.1 200 OK\r\nX: a\r\n  continued\r\n\r\n"), -EBADMSG);
	/* A NUL in a value. */
	struct tl_http_response r;
	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	setup(&r, false);
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)nul, sizeof(nul) - 1), -EBADMSG);
	/* The error sticks until the reset. */
	CHECK_EQ(tl_http_response_parse(&r, (const uint8_t *)"x", 1), -EBADMSG);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
	tl_http_response_reset(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") > 0);
	CHECK(r.complete);
}

static void test_bad_framing(void)
{
	static const char *const bad_cl[] = {
	    "1, 2",
	    "1\r\nContent-Length: 2",
	    "",
	    ",",
	    "1,",
	    "+1",
	    "-1",
	    "1a",
	    "0x10",
	    "1 2",
	    "18446744073709551616",
	    "99999999999999999999999",
	};
	static const char *const bad_te[] = {
	    "gzip",
	    "gzip, chunked",
	    "chunked, gzip",
	    "chunked, chunked",
	    "chunked\r\nTransfer-Encoding: chunked",
	    "identity",
	    "",
	    "chunked;q=1",
	    "chunkedx",
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(bad_cl) / sizeof(bad_cl[0]); i++) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n",
		         bad_cl[i]);
		if (parse_error(buf) != -EBADMSG) {
			fprintf(stderr, "content-length %zu accepted\n", i);
			CHECK(0);
		}
	}
	for (size_t i = 0; i < sizeof(bad_te) / sizeof(bad_te[0]); i++) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n",
		         bad_te[i]);
		if (parse_error(buf) != -EBADMSG) {
			fprintf(stderr, "transfer-encoding %zu accepted\n", i);
			CHECK(0);
		}
	}
	/* HTTP/1.0 has no transfer codings. */
	CHECK_EQ(parse_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), -EBADMSG);
	/* The largest Content-Length parses, and is too big for the body buffer at once. */
	CHECK_EQ(parse_error("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"),
	         -EMSGSIZE);
	snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BODY_CAP + 1);
	CHECK_EQ(parse_error(buf), -EMSGSIZE);
}

static void test_bad_chunks(void)
{
	static const struct {
		const char *body;
		ssize_t err;
	} cases[] = {
	    {"\r\n", -EBADMSG},                     /* empty size */
	    {";ext\r\n", -EBADMSG},                 /* extension, no size */
	    {"g\r\n", -EBADMSG},                    /* not hex */
	    {"-1\r\n", -EBADMSG},                   /* not hex */
	    {"0x5\r\n", -EBADMSG},                  /* no prefix */
	    {" 5\r\nhello\r\n", -EBADMSG},          /* leading blank */
	    {"5 5\r\n", -EBADMSG},                  /* blank inside */
	    {"5\rhello\r\n", -EBADMSG},             /* bare CR */
	    {"5;a\x01\r\n", -EBADMSG},              /* control in the extension */
	    {"5;a\rb\r\n", -EBADMSG},               /* bare CR in the extension */
	    {"5\r\nhelloX\r\n", -EBADMSG},          /* no CRLF after the data */
	    {"5\r\nhello\rX", -EBADMSG},            /* CR then not LF */
	    {"10000000000000000\r\n", -EBADMSG},    /* 2^64: overflows */
	    {"fffffffffffffffff\r\n", -EBADMSG},    /* 17 digits */
	    {"ffffffffffffffff\r\n", -EMSGSIZE},    /* fits in 64 bits, not in body_buf */
	    {"1001\r\n", -EMSGSIZE},                /* BODY_CAP + 1 */
	    {"0\r\n folded: x\r\n\r\n", -EBADMSG},  /* trailer starting with a blank */
	    {"0\r\nName : x\r\n\r\n", -EBADMSG},    /* trailer with a blank before ':' */
	    {"0\r\nName\r\n\r\n", -EBADMSG},        /* trailer without a colon */
	    {"0\r\nName: a\x01\r\n\r\n", -EBADMSG}, /* control in a trailer */
	    {"0\r\nName: a\r\r\n\r\n", -EBADMSG},   /* bare CR in a trailer */
	    {"0\r\n\rX", -EBADMSG},                 /* CR then not LF at the end */
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf),
		         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s", cases[i].body);
		if (parse_error(buf) != cases[i].err) {
			fprintf(stderr, "chunk case %zu: %zd\n", i, parse_error(buf));
			CHECK(0);
		}
	}

	/* Two chunks that fit alone but not together. */
	static char two[64 + BODY_CAP];
	int len =
	    snprintf(two, sizeof(two),
	             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", BODY_CAP - 1);
	memset(two + len, 'q', BODY_CAP - 1);
	strcpy(two + len + BODY_CAP - 1, "\r\n2\r\n");
	CHECK_EQ(parse_error(two), -EMSGSIZE);

	/* A chunk-size line, or the trailer section, longer than head_cap. */
	static char long_line[64 + 2 * HEAD_CAP];
	len = snprintf(long_line, sizeof(long_line),
	               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	memset(long_line + len, 'e', HEAD_CAP);
	long_line[len + HEAD_CAP] = '\0';
	CHECK_EQ(parse_error(long_line), -EMSGSIZE);

	len = snprintf(long_line, sizeof(long_line),
	               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < HEAD_CAP / 8; i++)
		len += snprintf(long_line + len, sizeof(long_line) - (size_t)len, "T%03d: \r\n",
		                i % 1000);
	strcpy(long_line + len, "\r\n");
	CHECK_EQ(parse_error(long_line), -EMSGSIZE);
	/* Just under the limit, trailers are fine: 127 lines of 8 bytes, then CRLF. */
	len = snprintf(long_line, sizeof(long_line),
	               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < HEAD_CAP / 8 - 1; i++)
		len += snprintf(long_line + len, sizeof(long_line) - (size_t)len, "T%03d: \r\n",
		                i % 1000);
	strcpy(long_line + len, "\r\n");
	struct tl_http_response r;
	setup(&r, false);
	CHECK_EQ(feed(&r, long_line), strlen(long_line));
	CHECK(r.complete);
}

static void test_limits(void)
{
	struct tl_http_response r;
	static char head[2 * HEAD_CAP];
	static char small_head[64];
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	size_t resp_len = sizeof(resp) - 1;

	/* A head that fills head_buf exactly is fine; one byte more is not. */
	CHECK_EQ(tl_http_response_init(&r, small_head, resp_len, body_buf, BODY_CAP), 0);
	CHECK_EQ(feed(&r, resp), resp_len);
	CHECK(r.complete);
	CHECK_EQ(tl_http_response_init(&r, small_head, resp_len - 1, body_buf, BODY_CAP), 0);
	CHECK_EQ(feed(&r, resp), -EMSGSIZE);
	CHECK_EQ(tl_http_response_init(&r, small_head, resp_len - 1, body_buf, BODY_CAP), 0);
	CHECK_EQ(feed_bytewise(&r, resp, resp_len), -EMSGSIZE);

	/* A head line that never ends. */
	int len = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nX: ");
	memset(head + len, 'v', sizeof(head) - (size_t)len - 1);
	head[sizeof(head) - 1] = '\0';
	CHECK_EQ(parse_error(head), -EMSGSIZE);

	/* TL_HTTP_MAX_HEADERS headers are fine; one more is -E2BIG. */
	len = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < TL_HTTP_MAX_HEADERS; i++)
		len += snprintf(head + len, sizeof(head) - (size_t)len, "H%d: %d\r\n", i, i);
	strcpy(head + len, "\r\n");
	setup(&r, false);
	CHECK_EQ(feed(&r, head), strlen(head));
	CHECK(r.head_done && r.n_headers == TL_HTTP_MAX_HEADERS);
	CHECK(value_is(&r, "h63", "63"));
	strcpy(head + len, "Extra: 1\r\n\r\n");
	CHECK_EQ(parse_error(head), -E2BIG);

	/* A body over its buffer: declared, or just sent. */
	static char body[64 + BODY_CAP + 1];
	len = snprintf(body, sizeof(body), "HTTP/1.1 200 OK\r\n\r\n");
	memset(body + len, 'b', BODY_CAP + 1);
	body[len + BODY_CAP + 1] = '\0';
	CHECK_EQ(parse_error(body), -EMSGSIZE);
}

static void test_truncated(void)
{
	struct tl_http_response r;

	/* Nothing at all: the server closed an idle connection. */
	setup(&r, false);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
	/* A partial head. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nContent-Le") > 0);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
	/* A short Content-Length body. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345") > 0);
	CHECK(!r.complete);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
	CHECK(!r.complete);
	/* A chunked body without its last chunk, or without the final CRLF. */
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") > 0);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
	setup(&r, false);
	CHECK(feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n") > 0);
	CHECK_EQ(tl_http_response_eof(&r), -EPIPE);
}

/* --- lookups -------------------------------------------------------------------------- */

static void test_lookups(void)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
	                           "Connection: keep-alive, Upgrade\r\n"
	                           "X-Mbx-Used-Weight-1m: 12\r\n"
	                           "x-mbx-used-weight-1M: 99\r\n"
	                           "Vary: Accept-Encoding\r\n"
	                           "Vary: , Origin ,\r\n"
	                           "Content-Length: 0\r\n"
	                           "\r\n";
	struct tl_http_response r;
	size_t len = 777;

	setup(&r, false);
	CHECK(feed(&r, resp) > 0);
	CHECK(r.complete);

	/* The first of several, whatever the case. */
	CHECK(value_is(&r, "x-mbx-used-weight-1m", "12"));
	CHECK(value_is(&r, "X-MBX-USED-WEIGHT-1M", "12"));
	CHECK(tl_http_header_get(&r, "X-Mbx-Used-Weight", &len) == NULL);
	CHECK_EQ(len, 0);
	CHECK(tl_http_header_get(&r, "", &len) == NULL);
	CHECK(tl_http_header_get(&r, NULL, NULL) == NULL);
	CHECK(tl_http_header_get(&r, "Connection", NULL) != NULL);
	/* The value points into head_buf. */
	const char *v = tl_http_header_get(&r, "vary", &len);
	CHECK(v >= head_buf && v + len <= head_buf + HEAD_CAP);

	CHECK(tl_http_header_has_token(&r, "Connection", "keep-alive"));
	CHECK(tl_http_header_has_token(&r, "Connection", "Keep-Alive"));
	CHECK(tl_http_header_has_token(&r, "Connection", "upgrade"));
	CHECK(tl_http_header_has_token(&r, "connection", "UPGRADE"));
	CHECK(!tl_http_header_has_token(&r, "Connection", "keep"));
	CHECK(!tl_http_header_has_token(&r, "Connection", "alive"));
	CHECK(!tl_http_header_has_token(&r, "Connection", "keep-alive, Upgrade"));
	CHECK(!tl_http_header_has_token(&r, "Connection", "close"));
	CHECK(!tl_http_header_has_token(&r, "Connection", ""));
	CHECK(!tl_http_header_has_token(&r, "Upgrade", "Upgrade"));
	CHECK(!tl_http_header_has_token(&r, NULL, "x"));
	CHECK(!tl_http_header_has_token(&r, "Connection", NULL));
	/* Across lines of the same field, with empty elements. */
	CHECK(tl_http_header_has_token(&r, "Vary", "accept-encoding"));
	CHECK(tl_http_header_has_token(&r, "Vary", "origin"));
	CHECK(!tl_http_header_has_token(&r, "Vary", "cookie"));
	CHECK(r.keep_alive);
}

int main(void)
{
	test_request_get();
	test_request_body();
	test_request_nobufs();
	test_request_injection();
	test_init();
	test_content_length();
	test_bare_lf();
	test_chunked();
	test_until_close();
	test_no_body();
	test_upgrade();
	test_keep_alive();
	test_pipelined();
	test_split_invariance();
	test_bad_status_line();
	test_bad_headers();
	test_bad_framing();
	test_bad_chunks();
	test_limits();
	test_truncated();
	test_lookups();
	printf("http codec: ok\n");
	return 0;
}
