/*
 * Unit tests of the codecs in tl_io.h: the UTF-8 validator (against a reference decoder
 * written from RFC 3629's definition, exhaustively over short sequences) and the
 * WebSocket frame codec (every opcode, every length encoding at its edges, masking,
 * fragmentation, partial input, every protocol error with its close code, the handshake
 * vector from RFC 6455).
 */
#include "io_internal.h" /* the masking-key pool */
#include "tl_io.h"
#include "tl_test.h"
#include "utf8_ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6455 §5.7's example masking key. */
static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

/* ------------------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------------------ */

static bool utf8_str_valid(const char *s)
{
	return tl_utf8_valid((const uint8_t *)s, strlen(s));
}

static void test_utf8_known(void)
{
	static const char *const good[] = {
	    "",
	    "hello, {\"px\":1}",
	    "\x7f",
	    "\xc2\x80",                                     /* U+0080, the first 2-byte scalar */
	    "\xdf\xbf",                                     /* U+07FF */
	    "\xe0\xa0\x80",                                 /* U+0800, the first 3-byte scalar */
	    "\xed\x9f\xbf",                                 /* U+D7FF, just below the surrogates */
	    "\xee\x80\x80",                                 /* U+E000, just above */
	    "\xef\xbf\xbf",                                 /* U+FFFF */
	    "\xf0\x90\x80\x80",                             /* U+10000, the first 4-byte scalar */
	    "\xf0\x9f\x98\x80",                             /* U+1F600 */
	    "\xf4\x8f\xbf\xbf",                             /* U+10FFFF, the last scalar */
	    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* "kosme" in Greek */
	};
	static const char *const bad[] = {
	    "\x80", /* a lone continuation */
	    "\xbf",
	    "\xc0\x80",         /* overlong NUL */
	    "\xc1\xbf",         /* overlong U+007F */
	    "\xe0\x80\x80",     /* overlong 3-byte */
	    "\xe0\x9f\xbf",     /* overlong U+07FF */
	    "\xed\xa0\x80",     /* U+D800 */
	    "\xed\xbf\xbf",     /* U+DFFF */
	    "\xf0\x80\x80\x80", /* overlong 4-byte */
	    "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
	    "\xf4\x90\x80\x80", /* U+110000 */
	    "\xf5\x80\x80\x80", /* beyond any plane */
	    "\xf8\x88\x80\x80\x80",
	    "\xfe",
	    "\xff",
	    "\xc2\x41", /* a lead followed by ASCII */
	    "\xe1\x80\x41",
	    "\xf1\x80\x80\x41",
	    "\xc2\xc2\x80", /* a lead followed by a lead */
	    "abc\x80xyz",
	};
	static const char *const truncated[] = {
	    "\xc2",     "\xe1",         "\xe1\x80",     "\xe0\xa0", "\xed\x9f",
	    "\xf0\x9f", "\xf0\x9f\x98", "\xf4\x8f\xbf", "abc\xf1",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(utf8_str_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const uint8_t *p = (const uint8_t *)bad[i];

		CHECK(!utf8_str_valid(bad[i]));
		CHECK_EQ(tl_utf8_step(TL_UTF8_ACCEPT, p, strlen(bad[i])), TL_UTF8_REJECT);
	}
	for (size_t i = 0; i < sizeof(truncated) / sizeof(truncated[0]); i++) {
		const uint8_t *p = (const uint8_t *)truncated[i];
		uint32_t s = tl_utf8_step(TL_UTF8_ACCEPT, p, strlen(truncated[i]));

		/* Incomplete is neither accepted nor refused: more bytes may complete it. */
		CHECK(!utf8_str_valid(truncated[i]));
		CHECK(s != TL_UTF8_ACCEPT && s != TL_UTF8_REJECT);
	}

	/* REJECT is final, and a state the validator never produced is refused. */
	CHECK_EQ(tl_utf8_step(TL_UTF8_REJECT, (const uint8_t *)"abc", 3), TL_UTF8_REJECT);
	CHECK_EQ(tl_utf8_step(TL_UTF8_REJECT, NULL, 0), TL_UTF8_REJECT);
	CHECK_EQ(tl_utf8_step(1000, (const uint8_t *)"a", 1), TL_UTF8_REJECT);
	CHECK_EQ(tl_utf8_step(TL_UTF8_ACCEPT, NULL, 0), TL_UTF8_ACCEPT);
}

/* The ASCII fast path skips words: a bad or multi-byte sequence at any offset in a
 * long ASCII run, on either side of a word boundary, must still be seen. */
static void test_utf8_fast_path(void)
{
	uint8_t buf[80];

	for (size_t pos = 0; pos + 4 <= sizeof(buf); pos++) {
		memset(buf, 'a', sizeof(buf));
		buf[pos] = 0x80;
		CHECK(!tl_utf8_valid(buf, sizeof(buf)));

		memset(buf, 'a', sizeof(buf));
		memcpy(buf + pos, "\xf0\x9f\x98\x80", 4);
		CHECK(tl_utf8_valid(buf, sizeof(buf)));

		memset(buf, 'a', sizeof(buf));
		memcpy(buf + pos, "\xed\xa0\x80", 3);
		CHECK(!tl_utf8_valid(buf, sizeof(buf)));

		/* Cut the buffer inside the character: incomplete, not refused. */
		memset(buf, 'a', sizeof(buf));
		memcpy(buf + pos, "\xf0\x9f\x98\x80", 4);
		uint32_t s = tl_utf8_step(TL_UTF8_ACCEPT, buf, pos + 2);
		CHECK(s != TL_UTF8_ACCEPT && s != TL_UTF8_REJECT);
		CHECK_EQ(tl_utf8_step(s, buf + pos + 2, sizeof(buf) - pos - 2), TL_UTF8_ACCEPT);
	}
	memset(buf, 'a', sizeof(buf));
	CHECK(tl_utf8_valid(buf, sizeof(buf)));
	buf[sizeof(buf) - 1] = 0xc2;
	CHECK(!tl_utf8_valid(buf, sizeof(buf)));
}

/* Every sequence of up to 3 bytes, and the 4-byte leads against every second and third
 * byte, compared with the reference; each also split at every point. */
static void test_utf8_exhaustive(void)
{
	uint8_t b[4];

	for (unsigned x = 0; x < 256; x++) {
		b[0] = (uint8_t)x;
		CHECK_EQ(tl_utf8_valid(b, 1), ref_utf8_valid(b, 1));
		for (unsigned y = 0; y < 256; y++) {
			b[1] = (uint8_t)y;
			CHECK_EQ(tl_utf8_valid(b, 2), ref_utf8_valid(b, 2));
			for (unsigned z = 0; z < 256; z++) {
				b[2] = (uint8_t)z;
				bool want = ref_utf8_valid(b, 3);
				uint32_t s1 = tl_utf8_step(TL_UTF8_ACCEPT, b, 1);
				uint32_t s2 = tl_utf8_step(TL_UTF8_ACCEPT, b, 2);

				CHECK_EQ(tl_utf8_valid(b, 3), want);
				CHECK_EQ(tl_utf8_step(s1, b + 1, 2) == TL_UTF8_ACCEPT, want);
				CHECK_EQ(tl_utf8_step(s2, b + 2, 1) == TL_UTF8_ACCEPT, want);
			}
		}
	}
	static const uint8_t lasts[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xff};
	for (unsigned x = 0xf0; x < 0x100; x++) {
		b[0] = (uint8_t)x;
		for (unsigned y = 0; y < 256; y++) {
			b[1] = (uint8_t)y;
			for (unsigned z = 0x70; z < 0xd0; z++) {
				b[2] = (uint8_t)z;
				for (size_t k = 0; k < sizeof(lasts); k++) {
					b[3] = lasts[k];
					bool want = ref_utf8_valid(b, 4);
					uint32_t s = tl_utf8_step(TL_UTF8_ACCEPT, b, 3);

					CHECK_EQ(tl_utf8_valid(b, 4), want);
					CHECK_EQ(tl_utf8_step(s, b + 3, 1) == TL_UTF8_ACCEPT, want);
				}
			}
		}
	}
}

/* Random texts drawn mostly from the interesting bytes, validated whole and in pieces. */
static void test_utf8_random(void)
{
	static const uint8_t alphabet[] = {'a',  '{',  0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
	                                   0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed,
	                                   0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
	uint8_t buf[64];

	for (int iter = 0; iter < 300000; iter++) {
		size_t len = rnd() % sizeof(buf);

		for (size_t i = 0; i < len; i++) {
			/* Long ASCII runs now and then, to cross the word loop's edges. */
			buf[i] = (rnd() & 3) == 0 ? alphabet[rnd() % sizeof(alphabet)] : 'x';
		}
		bool want = ref_utf8_valid(buf, len);
		CHECK_EQ(tl_utf8_valid(buf, len), want);

		size_t cut1 = len ? rnd() % (len + 1) : 0;
		size_t cut2 = cut1 + (len - cut1 ? rnd() % (len - cut1 + 1) : 0);
		uint32_t s = tl_utf8_step(TL_UTF8_ACCEPT, buf, cut1);
		s = tl_utf8_step(s, buf + cut1, cut2 - cut1);
		s = tl_utf8_step(s, buf + cut2, len - cut2);
		CHECK_EQ(s == TL_UTF8_ACCEPT, want);
		CHECK_EQ(s, tl_utf8_step(TL_UTF8_ACCEPT, buf, len));
	}
}

/* ------------------------------------------------------------------------------------
 * WebSocket helpers
 * ------------------------------------------------------------------------------------ */

#define MAX_MSG 70000u

static uint8_t msg_buf[MAX_MSG];

static void dec_init(struct tl_ws_decoder *d, bool server_side)
{
	CHECK_EQ(tl_ws_decoder_init(d, msg_buf, MAX_MSG, server_side), 0);
}

/* Encodes a frame into out, masked when `masked`. Returns its length. */
static size_t enc(uint8_t *out, size_t cap, uint8_t op, bool fin, const void *p, size_t len,
                  bool masked)
{
	ssize_t n = tl_ws_frame_encode(out, cap, op, fin, p, len, masked ? mask_key : NULL);

	CHECK(n > 0);
	return (size_t)n;
}

/* Decodes, expecting success with the whole of in[0..len) consumed. */
static void dec_whole(struct tl_ws_decoder *d, uint8_t *in, size_t len, struct tl_ws_event *ev)
{
	uint16_t cc = 0;

	CHECK_EQ(tl_ws_decode(d, in, len, ev, &cc), (ssize_t)len);
}

/* Decodes, expecting the error `err` and close code `code`. */
static void dec_fail(struct tl_ws_decoder *d, uint8_t *in, size_t len, int err, uint16_t code)
{
	struct tl_ws_event ev;
	uint16_t cc = 0;

	CHECK_EQ(tl_ws_decode(d, in, len, &ev, &cc), err);
	CHECK_EQ(cc, code);
}

/* ------------------------------------------------------------------------------------
 * WebSocket codec
 * ------------------------------------------------------------------------------------ */

static void test_close_code_valid(void)
{
	static const unsigned yes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
	                               1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
	static const unsigned no[] = {0,    1,    999,  1004, 1005, 1006,  1015,  1016,
	                              1100, 2000, 2999, 5000, 5001, 65535, 100000};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		CHECK(tl_ws_close_code_valid(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CHECK(!tl_ws_close_code_valid(no[i]));
}

static void test_decoder_init(void)
{
	struct tl_ws_decoder d;
	uint8_t buf[1];

	CHECK_EQ(tl_ws_decoder_init(&d, NULL, 10, false), -EINVAL);
	CHECK_EQ(tl_ws_decoder_init(&d, buf, 0, false), -EINVAL);
	CHECK_EQ(tl_ws_decoder_init(&d, buf, 1, true), 0);
	CHECK(d.server_side);
	CHECK(!d.in_message);
	CHECK_EQ(d.msg_len, 0);
	CHECK_EQ(d.utf8_state, TL_UTF8_ACCEPT);
}

static void test_header_write(void)
{
	uint8_t h[TL_WS_HEADER_MAX];

	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_TEXT, true, 0, NULL), 2);
	CHECK_EQ(h[0], 0x81);
	CHECK_EQ(h[1], 0x00);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_BINARY, false, 125, NULL), 2);
	CHECK_EQ(h[0], 0x02);
	CHECK_EQ(h[1], 125);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_CONT, true, 126, NULL), 4);
	CHECK_EQ(h[0], 0x80);
	CHECK(memcmp(h + 1, "\x7e\x00\x7e", 3) == 0);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_TEXT, true, 65535, NULL), 4);
	CHECK(memcmp(h + 1, "\x7e\xff\xff", 3) == 0);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_TEXT, true, 65536, NULL), 10);
	CHECK(memcmp(h + 1, "\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 9) == 0);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_BINARY, true, 0x0102030405060708ull, NULL), 10);
	CHECK(memcmp(h + 1, "\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 9) == 0);

	/* Masked: the mask bit, then the key after the length. */
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_PING, true, 5, mask_key), 6);
	CHECK_EQ(h[0], 0x89);
	CHECK_EQ(h[1], 0x85);
	CHECK(memcmp(h + 2, mask_key, 4) == 0);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_TEXT, true, 300, mask_key), 8);
	CHECK(memcmp(h + 1, "\xfe\x01\x2c", 3) == 0);
	CHECK(memcmp(h + 4, mask_key, 4) == 0);
	CHECK_EQ(tl_ws_header_write(h, TL_WS_OP_TEXT, true, 70000, mask_key), TL_WS_HEADER_MAX);
	CHECK_EQ(h[1], 0xff);
	CHECK(memcmp(h + 10, mask_key, 4) == 0);
}

static void test_mask(void)
{
	uint8_t src[100], dst[100], inplace[100], pieces[100];

	fill_pattern(src, sizeof(src), 7);
	for (size_t len = 0; len <= sizeof(src); len++) {
		for (size_t off = 0; off < 9; off++) {
			memset(dst, 0xee, sizeof(dst));
			tl_ws_mask(dst, src, len, mask_key, off);
			for (size_t i = 0; i < len; i++)
				CHECK_EQ(dst[i], src[i] ^ mask_key[(off + i) % 4]);
			/* Nothing past len is touched. */
			for (size_t i = len; i < sizeof(dst); i++)
				CHECK_EQ(dst[i], 0xee);

			memcpy(inplace, src, len);
			tl_ws_mask(inplace, inplace, len, mask_key, off);
			CHECK(len == 0 || memcmp(inplace, dst, len) == 0);
			/* Masking is its own inverse. */
			tl_ws_mask(inplace, inplace, len, mask_key, off);
			CHECK(len == 0 || memcmp(inplace, src, len) == 0);
		}
	}

	/* In pieces of every odd size, with the offset carried, equals all at once. */
	tl_ws_mask(dst, src, sizeof(src), mask_key, 0);
	for (size_t step = 1; step < 40; step++) {
		for (size_t at = 0; at < sizeof(src); at += step) {
			size_t n = sizeof(src) - at < step ? sizeof(src) - at : step;

			tl_ws_mask(pieces + at, src + at, n, mask_key, at);
		}
		CHECK(memcmp(pieces, dst, sizeof(src)) == 0);
	}

	/* RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d. */
	uint8_t hello[5];
	tl_ws_mask(hello, (const uint8_t *)"Hello", 5, mask_key, 0);
	CHECK(memcmp(hello, "\x7f\x9f\x4d\x51\x58", 5) == 0);
}

static void test_frame_encode(void)
{
	uint8_t out[256], big[200];

	/* The RFC's examples, byte for byte. */
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_TEXT, true, "Hello", 5, NULL), 7);
	CHECK(memcmp(out, "\x81\x05\x48\x65\x6c\x6c\x6f", 7) == 0);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_TEXT, true, "Hello", 5, mask_key),
	         11);
	CHECK(memcmp(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11) == 0);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_PING, true, "Hello", 5, NULL), 7);
	CHECK(memcmp(out, "\x89\x05Hello", 7) == 0);

	/* Exactly enough room, then one byte short. */
	CHECK_EQ(tl_ws_frame_encode(out, 7, TL_WS_OP_TEXT, true, "Hello", 5, NULL), 7);
	CHECK_EQ(tl_ws_frame_encode(out, 6, TL_WS_OP_TEXT, true, "Hello", 5, NULL), -ENOBUFS);
	CHECK_EQ(tl_ws_frame_encode(out, 11, TL_WS_OP_TEXT, true, "Hello", 5, mask_key), 11);
	CHECK_EQ(tl_ws_frame_encode(out, 10, TL_WS_OP_TEXT, true, "Hello", 5, mask_key), -ENOBUFS);
	CHECK_EQ(tl_ws_frame_encode(out, 0, TL_WS_OP_PONG, true, NULL, 0, NULL), -ENOBUFS);
	CHECK_EQ(tl_ws_frame_encode(out, 2, TL_WS_OP_PONG, true, NULL, 0, NULL), 2);
	fill_pattern(big, sizeof(big), 1);
	CHECK_EQ(tl_ws_frame_encode(out, 4 + 200, TL_WS_OP_BINARY, true, big, 200, NULL), 204);
	CHECK_EQ(tl_ws_frame_encode(out, 4 + 199, TL_WS_OP_BINARY, true, big, 200, NULL), -ENOBUFS);

	/* Control frames: at most 125 bytes, never fragmented. */
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_PING, true, big, 125, NULL), 127);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_PING, true, big, 126, NULL),
	         -EINVAL);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_PONG, true, big, 126, NULL),
	         -EINVAL);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_CLOSE, true, big, 126, NULL),
	         -EINVAL);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_PING, false, big, 1, NULL), -EINVAL);
	/* Opcodes the RFC reserves. */
	for (unsigned op = 0; op < 16; op++) {
		bool known = op <= 2 || (op >= 8 && op <= 10);
		ssize_t n = tl_ws_frame_encode(out, sizeof(out), (uint8_t)op, true, "x", 1, NULL);

		CHECK_EQ(n, known ? 3 : -EINVAL);
	}
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), 0x11, true, "x", 1, NULL), -EINVAL);
	CHECK_EQ(tl_ws_frame_encode(out, sizeof(out), TL_WS_OP_TEXT, true, NULL, 1, NULL), -EINVAL);
}

/*
 * One frame of each data length at the edges of the three length encodings, decoded on
 * both sides: the client sees it where it lies (no copy), the server unmasks it in place.
 */
static void test_lengths_round_trip(void)
{
	static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 65537, MAX_MSG};
	size_t cap = MAX_MSG + TL_WS_HEADER_MAX;
	uint8_t *payload = malloc(MAX_MSG), *frame = malloc(cap);
	struct tl_ws_decoder d;
	struct tl_ws_event ev;

	CHECK(payload && frame);
	fill_pattern(payload, MAX_MSG, 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		size_t hdr = len < 126 ? 2 : len <= 65535 ? 4 : 10;

		for (int server = 0; server < 2; server++) {
			size_t n = enc(frame, cap, TL_WS_OP_BINARY, true, payload, len, server);

			CHECK_EQ(n, hdr + (server ? 4 : 0) + len);
			dec_init(&d, server);
			dec_whole(&d, frame, n, &ev);
			CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
			CHECK_EQ(ev.opcode, TL_WS_OP_BINARY);
			CHECK_EQ(ev.len, len);
			CHECK(!ev.copied);
			CHECK(ev.data == frame + n - len);
			CHECK(len == 0 || memcmp(ev.data, payload, len) == 0);
		}
	}

	/* One byte over the limit is refused on both sides, as soon as the header is in. */
	for (int server = 0; server < 2; server++) {
		uint8_t h[TL_WS_HEADER_MAX];
		size_t n = tl_ws_header_write(h, TL_WS_OP_BINARY, true, MAX_MSG + 1,
		                              server ? mask_key : NULL);

		dec_init(&d, server);
		dec_fail(&d, h, n, -EMSGSIZE, TL_WS_CLOSE_TOO_BIG);
		/* At the limit, the header alone is simply not enough yet. */
		n = tl_ws_header_write(h, TL_WS_OP_BINARY, true, MAX_MSG, server ? mask_key : NULL);
		dec_init(&d, server);
		uint16_t cc = 0;
		CHECK_EQ(tl_ws_decode(&d, h, n, &ev, &cc), 0);
	}
	free(payload);
	free(frame);
}

static void test_every_opcode(void)
{
	uint8_t frame[256], payload[125], body[TL_WS_CONTROL_MAX];
	struct tl_ws_decoder d;
	struct tl_ws_event ev;

	fill_pattern(payload, sizeof(payload), 9);
	for (int server = 0; server < 2; server++) {
		dec_init(&d, server);

		size_t n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, true, "{\"a\":1}", 7, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
		CHECK_EQ(ev.opcode, TL_WS_OP_TEXT);
		CHECK_EQ(ev.len, 7);
		CHECK(memcmp(ev.data, "{\"a\":1}", 7) == 0);

		for (size_t len = 0; len <= 125; len += 125) {
			n = enc(frame, sizeof(frame), TL_WS_OP_PING, true, payload, len, server);
			dec_whole(&d, frame, n, &ev);
			CHECK_EQ(ev.kind, TL_WS_EV_PING);
			CHECK_EQ(ev.opcode, TL_WS_OP_PING);
			CHECK_EQ(ev.len, len);
			CHECK(ev.data == frame + n - len);
			CHECK(len == 0 || memcmp(ev.data, payload, len) == 0);

			n = enc(frame, sizeof(frame), TL_WS_OP_PONG, true, payload, len, server);
			dec_whole(&d, frame, n, &ev);
			CHECK_EQ(ev.kind, TL_WS_EV_PONG);
			CHECK_EQ(ev.opcode, TL_WS_OP_PONG);
			CHECK_EQ(ev.len, len);
			CHECK(len == 0 || memcmp(ev.data, payload, len) == 0);
		}

		/* A close with a code and a reason: the event's data is the reason. */
		size_t blen = tl_ws_close_payload(body, TL_WS_CLOSE_GOING_AWAY, "bye \xe2\x82\xac");
		CHECK_EQ(blen, 2 + 7);
		n = enc(frame, sizeof(frame), TL_WS_OP_CLOSE, true, body, blen, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_CLOSE);
		CHECK_EQ(ev.opcode, TL_WS_OP_CLOSE);
		CHECK_EQ(ev.close_code, TL_WS_CLOSE_GOING_AWAY);
		CHECK_EQ(ev.len, 7);
		CHECK(memcmp(ev.data, "bye \xe2\x82\xac", 7) == 0);

		/* A code alone. */
		blen = tl_ws_close_payload(body, 4321, NULL);
		CHECK_EQ(blen, 2);
		n = enc(frame, sizeof(frame), TL_WS_OP_CLOSE, true, body, blen, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.close_code, 4321);
		CHECK_EQ(ev.len, 0);

		/* No body at all: 1005, which is never on the wire. */
		n = enc(frame, sizeof(frame), TL_WS_OP_CLOSE, true, NULL, 0, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_CLOSE);
		CHECK_EQ(ev.close_code, TL_WS_CLOSE_NO_STATUS);
		CHECK_EQ(ev.len, 0);

		/* Empty data messages. */
		n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, true, NULL, 0, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
		CHECK_EQ(ev.opcode, TL_WS_OP_TEXT);
		CHECK_EQ(ev.len, 0);
		CHECK(!ev.copied);
	}
}

/* Fed one byte more at a time: nothing until the frame is whole, and (server side) the
 * bytes are not unmasked before then, or they would be unmasked twice. */
static void test_partial_input(void)
{
	static const size_t lens[] = {0, 5, 125, 126, 300, 65536};
	size_t cap = 65536 + TL_WS_HEADER_MAX;
	uint8_t *payload = malloc(65536), *frame = malloc(cap), *copy = malloc(cap);
	struct tl_ws_decoder d;
	struct tl_ws_event ev;
	uint16_t cc = 0;

	CHECK(payload && frame && copy);
	fill_pattern(payload, 65536, 5);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int server = 0; server < 2; server++) {
			size_t len = lens[i];
			size_t n = enc(frame, cap, TL_WS_OP_BINARY, true, payload, len, server);
			/* The long one only around its header and its last bytes: quadratic. */
			size_t skip_from = n > 400 ? 20 : n, skip_to = n > 400 ? n - 20 : n;

			memcpy(copy, frame, n);
			dec_init(&d, server);
			for (size_t have = 0; have < n; have++) {
				if (have == skip_from)
					have = skip_to;
				CHECK_EQ(tl_ws_decode(&d, frame, have, &ev, &cc), 0);
				CHECK_EQ(ev.kind, TL_WS_EV_NONE);
				CHECK(memcmp(frame, copy, n) == 0);
			}
			dec_whole(&d, frame, n, &ev);
			CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
			CHECK_EQ(ev.len, len);
			CHECK(len == 0 || memcmp(ev.data, payload, len) == 0);
		}
	}

	/* Several frames back to back come out one per call, in order. */
	uint8_t stream[64];
	size_t at = 0;
	at += enc(stream + at, sizeof(stream) - at, TL_WS_OP_TEXT, true, "one", 3, false);
	at += enc(stream + at, sizeof(stream) - at, TL_WS_OP_PING, true, "p", 1, false);
	at += enc(stream + at, sizeof(stream) - at, TL_WS_OP_BINARY, true, "three", 5, false);
	dec_init(&d, false);
	ssize_t r = tl_ws_decode(&d, stream, at, &ev, &cc);
	CHECK_EQ(r, 5);
	CHECK(ev.kind == TL_WS_EV_MESSAGE && ev.len == 3 && memcmp(ev.data, "one", 3) == 0);
	size_t used = (size_t)r;
	r = tl_ws_decode(&d, stream + used, at - used, &ev, &cc);
	CHECK_EQ(r, 3);
	CHECK(ev.kind == TL_WS_EV_PING && ev.len == 1 && ev.data[0] == 'p');
	used += (size_t)r;
	r = tl_ws_decode(&d, stream + used, at - used, &ev, &cc);
	CHECK_EQ(r, 7);
	CHECK(ev.kind == TL_WS_EV_MESSAGE && ev.opcode == TL_WS_OP_BINARY && ev.len == 5);
	used += (size_t)r;
	CHECK_EQ(used, at);
	CHECK_EQ(tl_ws_decode(&d, stream + used, 0, &ev, &cc), 0);

	free(payload);
	free(frame);
	free(copy);
}

/* A fragmented message with control frames between its fragments. */
static void test_fragmentation(void)
{
	uint8_t frame[64];
	struct tl_ws_decoder d;
	struct tl_ws_event ev;

	for (int server = 0; server < 2; server++) {
		dec_init(&d, server);

		size_t n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, "Hel", 3, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_NONE);
		CHECK(d.in_message);

		n = enc(frame, sizeof(frame), TL_WS_OP_PING, true, "are you there", 13, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_PING);
		CHECK_EQ(ev.len, 13);
		CHECK(memcmp(ev.data, "are you there", 13) == 0);
		CHECK(!ev.copied);

		n = enc(frame, sizeof(frame), TL_WS_OP_CONT, false, "lo, ", 4, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_NONE);

		n = enc(frame, sizeof(frame), TL_WS_OP_CONT, false, NULL, 0, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_NONE);

		n = enc(frame, sizeof(frame), TL_WS_OP_PONG, true, "yes", 3, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_PONG);
		CHECK(memcmp(ev.data, "yes", 3) == 0);

		n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, "world", 5, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
		CHECK_EQ(ev.opcode, TL_WS_OP_TEXT);
		CHECK(ev.copied);
		CHECK(ev.data == msg_buf);
		CHECK_EQ(ev.len, 12);
		CHECK(memcmp(ev.data, "Hello, world", 12) == 0);
		CHECK(!d.in_message);

		/* The next message starts clean. */
		n = enc(frame, sizeof(frame), TL_WS_OP_BINARY, false, "\x00\xff", 2, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_NONE);
		/* A close may arrive mid-message too; it is delivered, the message stays open. */
		n = enc(frame, sizeof(frame), TL_WS_OP_CLOSE, true, "\x03\xe8", 2, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_CLOSE);
		CHECK_EQ(ev.close_code, 1000);
		CHECK(d.in_message);
		n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, "\x80", 1, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
		CHECK_EQ(ev.opcode, TL_WS_OP_BINARY);
		CHECK_EQ(ev.len, 3);
		CHECK(memcmp(ev.data, "\x00\xff\x80", 3) == 0);

		/* A one-fragment "fragmented" message: FIN on a CONT right after an empty start. */
		n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, NULL, 0, server);
		dec_whole(&d, frame, n, &ev);
		n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, NULL, 0, server);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
		CHECK_EQ(ev.len, 0);
		CHECK(ev.copied);

		/* After a reset, a continuation has nothing to continue. */
		n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, "a", 1, server);
		dec_whole(&d, frame, n, &ev);
		tl_ws_decoder_reset(&d);
		CHECK(!d.in_message);
		n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, "b", 1, server);
		dec_fail(&d, frame, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
	}
}

/* Fragments whose total crosses max_msg_bytes: refused at the header that crosses it. */
static void test_fragment_size_limit(void)
{
	uint8_t buf[64], frame[80];
	uint8_t small[100];
	struct tl_ws_decoder d;
	struct tl_ws_event ev;
	uint16_t cc = 0;

	memset(buf, 'z', sizeof(buf));
	CHECK_EQ(tl_ws_decoder_init(&d, small, 100, false), 0);
	size_t n = enc(frame, sizeof(frame), TL_WS_OP_BINARY, false, buf, 60, false);
	dec_whole(&d, frame, n, &ev);
	n = enc(frame, sizeof(frame), TL_WS_OP_CONT, false, buf, 40, false);
	dec_whole(&d, frame, n, &ev);
	CHECK_EQ(d.msg_len, 100);
	/* Exactly full: an empty final fragment still fits. */
	n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, NULL, 0, false);
	dec_whole(&d, frame, n, &ev);
	CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
	CHECK_EQ(ev.len, 100);

	n = enc(frame, sizeof(frame), TL_WS_OP_BINARY, false, buf, 60, false);
	dec_whole(&d, frame, n, &ev);
	n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, buf, 41, false);
	/* Only the header is offered: the error comes without the payload. */
	CHECK_EQ(tl_ws_decode(&d, frame, 2, &ev, &cc), -EMSGSIZE);
	CHECK_EQ(cc, TL_WS_CLOSE_TOO_BIG);

	/* A 64-bit length just under 2^63 is a size error, not an overflow. */
	static uint8_t huge[10] = {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	tl_ws_decoder_reset(&d);
	dec_fail(&d, huge, sizeof(huge), -EMSGSIZE, TL_WS_CLOSE_TOO_BIG);
	/* And a continuation of that size when some bytes are already reassembled. */
	n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, "abc", 3, false);
	tl_ws_decoder_reset(&d);
	dec_whole(&d, frame, n, &ev);
	huge[0] = 0x80;
	dec_fail(&d, huge, sizeof(huge), -EMSGSIZE, TL_WS_CLOSE_TOO_BIG);
}

/* Text split across fragments at every point of its multi-byte characters. */
static void test_fragmented_utf8(void)
{
	static const char text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a é € 😀 z */
	const size_t len = sizeof(text) - 1;
	uint8_t frame[64];
	struct tl_ws_decoder d;
	struct tl_ws_event ev;

	for (size_t cut = 0; cut <= len; cut++) {
		for (int server = 0; server < 2; server++) {
			dec_init(&d, server);
			size_t n =
			    enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, text, cut, server);
			dec_whole(&d, frame, n, &ev);
			CHECK_EQ(ev.kind, TL_WS_EV_NONE);
			n = enc(frame, sizeof(frame), TL_WS_OP_PING, true, NULL, 0, server);
			dec_whole(&d, frame, n, &ev);
			n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, text + cut, len - cut,
			        server);
			dec_whole(&d, frame, n, &ev);
			CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
			CHECK_EQ(ev.len, len);
			CHECK(memcmp(ev.data, text, len) == 0);
		}
	}

	/* One byte per fragment. */
	dec_init(&d, false);
	for (size_t i = 0; i < len; i++) {
		size_t n = enc(frame, sizeof(frame), i == 0 ? TL_WS_OP_TEXT : TL_WS_OP_CONT,
		               i + 1 == len, text + i, 1, false);
		dec_whole(&d, frame, n, &ev);
		CHECK_EQ(ev.kind, i + 1 == len ? TL_WS_EV_MESSAGE : TL_WS_EV_NONE);
	}
	CHECK_EQ(ev.len, len);

	/* A surrogate split after its lead: refused at the fragment that completes it. */
	dec_init(&d, false);
	size_t n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, "ok\xed", 3, false);
	dec_whole(&d, frame, n, &ev);
	n = enc(frame, sizeof(frame), TL_WS_OP_CONT, false, "\xa0\x80", 2, false);
	dec_fail(&d, frame, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);

	/* A first fragment that is already invalid fails at once, before the message ends. */
	dec_init(&d, true);
	n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, "\xc0\x80", 2, true);
	dec_fail(&d, frame, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);

	/* A message that ends inside a character. */
	dec_init(&d, false);
	n = enc(frame, sizeof(frame), TL_WS_OP_TEXT, false, "\xe2\x82", 2, false);
	dec_whole(&d, frame, n, &ev);
	n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, NULL, 0, false);
	dec_fail(&d, frame, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);

	/* Binary messages are not text: any bytes pass. */
	dec_init(&d, false);
	n = enc(frame, sizeof(frame), TL_WS_OP_BINARY, false, "\xe2\x82", 2, false);
	dec_whole(&d, frame, n, &ev);
	n = enc(frame, sizeof(frame), TL_WS_OP_CONT, true, "\xff", 1, false);
	dec_whole(&d, frame, n, &ev);
	CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
	n = enc(frame, sizeof(frame), TL_WS_OP_BINARY, true, "\xc0\x80", 2, false);
	dec_whole(&d, frame, n, &ev);
	CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
}

/* Every protocol error, with its close code, each on a fresh decoder. */
static void test_protocol_errors(void)
{
	struct tl_ws_decoder d;
	struct tl_ws_event ev;
	uint8_t f[32];
	size_t n;

	for (int server = 0; server < 2; server++) {
		uint8_t mbit = server ? 0x80 : 0x00;

		/* Reserved bits: reported from the first two bytes alone. */
		for (unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
			dec_init(&d, server);
			f[0] = (uint8_t)(0x81 | rsv);
			f[1] = (uint8_t)(mbit | 1);
			dec_fail(&d, f, 2, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		}
		/* Reserved opcodes. */
		for (unsigned op = 0; op < 16; op++) {
			if (op <= 2 || (op >= 8 && op <= 10))
				continue;
			dec_init(&d, server);
			f[0] = (uint8_t)(0x80 | op);
			f[1] = mbit;
			dec_fail(&d, f, 2, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		}
		/* Control frames: fragmented, or longer than 125 (even when the extended
		 * length would say a small number). */
		static const uint8_t ctl[] = {TL_WS_OP_CLOSE, TL_WS_OP_PING, TL_WS_OP_PONG};
		for (size_t i = 0; i < sizeof(ctl); i++) {
			dec_init(&d, server);
			f[0] = ctl[i]; /* FIN clear */
			f[1] = mbit;
			dec_fail(&d, f, 2, -EPROTO, TL_WS_CLOSE_PROTOCOL);
			f[0] = (uint8_t)(0x80 | ctl[i]);
			f[1] = (uint8_t)(mbit | 126);
			dec_fail(&d, f, 2, -EPROTO, TL_WS_CLOSE_PROTOCOL);
			f[1] = (uint8_t)(mbit | 127);
			dec_fail(&d, f, 2, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		}
		/* A continuation with no message open. */
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_CONT, true, "x", 1, server);
		dec_fail(&d, f, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_CONT, false, "x", 1, server);
		dec_fail(&d, f, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		/* A new message while one is open. */
		for (int op = TL_WS_OP_TEXT; op <= TL_WS_OP_BINARY; op++) {
			for (int fin = 0; fin < 2; fin++) {
				dec_init(&d, server);
				n = enc(f, sizeof(f), TL_WS_OP_BINARY, false, "x", 1, server);
				dec_whole(&d, f, n, &ev);
				n = enc(f, sizeof(f), (uint8_t)op, fin, "y", 1, server);
				dec_fail(&d, f, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
			}
		}
		/* A 64-bit length with its top bit set. */
		dec_init(&d, server);
		f[0] = 0x82;
		f[1] = (uint8_t)(mbit | 127);
		memcpy(f + 2, "\x80\x00\x00\x00\x00\x00\x00\x05", 8);
		memcpy(f + 10, mask_key, 4);
		dec_fail(&d, f, 14, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		/* The wrong masking for the side. */
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_TEXT, true, "x", 1, !server);
		dec_fail(&d, f, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_PING, true, NULL, 0, !server);
		dec_fail(&d, f, 2, -EPROTO, TL_WS_CLOSE_PROTOCOL);

		/* Close bodies: one byte, a code that may not be sent, a bad reason. */
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_CLOSE, true, "\x03", 1, server);
		/* The byte after the frame would complete code 1000: it must not be read. */
		f[n] = 0xe8;
		dec_fail(&d, f, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		static const unsigned bad_codes[] = {0,    999,  1004, 1005, 1006,
		                                     1015, 1016, 2999, 5000, 65535};
		for (size_t i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
			uint8_t body[2] = {(uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i]};

			dec_init(&d, server);
			n = enc(f, sizeof(f), TL_WS_OP_CLOSE, true, body, 2, server);
			dec_fail(&d, f, n, -EPROTO, TL_WS_CLOSE_PROTOCOL);
		}
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_CLOSE, true, "\x03\xe8ok\xff", 5, server);
		dec_fail(&d, f, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_CLOSE, true, "\x03\xe8\xe2\x82", 4, server);
		dec_fail(&d, f, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);

		/* Text that is not UTF-8, unfragmented. */
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_TEXT, true, "abc\xed\xa0\x80", 6, server);
		dec_fail(&d, f, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);
		dec_init(&d, server);
		n = enc(f, sizeof(f), TL_WS_OP_TEXT, true, "\xf0\x9f\x98", 3, server);
		dec_fail(&d, f, n, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);

		/* After an error and a reset, the decoder works again. */
		tl_ws_decoder_reset(&d);
		n = enc(f, sizeof(f), TL_WS_OP_TEXT, true, "fine", 4, server);
		dec_whole(&d, f, n, &ev);
		CHECK_EQ(ev.kind, TL_WS_EV_MESSAGE);
	}
}

/* Non-minimal length encodings are accepted (see ws_codec.c). */
static void test_non_minimal_length(void)
{
	struct tl_ws_decoder d;
	struct tl_ws_event ev;
	uint8_t f[16] = {0x82, 126, 0x00, 0x03, 'a', 'b', 'c'};

	dec_init(&d, false);
	dec_whole(&d, f, 7, &ev);
	CHECK_EQ(ev.len, 3);
	memcpy(f, "\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x02xy", 12);
	dec_whole(&d, f, 12, &ev);
	CHECK_EQ(ev.len, 2);
	CHECK(memcmp(ev.data, "xy", 2) == 0);
}

static void test_close_payload(void)
{
	uint8_t out[TL_WS_CONTROL_MAX];
	char reason[200];

	CHECK_EQ(tl_ws_close_payload(out, 1000, ""), 2);
	CHECK(memcmp(out, "\x03\xe8", 2) == 0);
	CHECK_EQ(tl_ws_close_payload(out, 4999, "done"), 6);
	CHECK(memcmp(out,
	             "\x13\x87"
	             "done",
	             6) == 0);

	/* ASCII: 123 bytes fit exactly; more are cut to 123. */
	memset(reason, 'r', sizeof(reason));
	reason[123] = '\0';
	CHECK_EQ(tl_ws_close_payload(out, 1001, reason), 125);
	reason[123] = 'r';
	reason[150] = '\0';
	CHECK_EQ(tl_ws_close_payload(out, 1001, reason), 125);
	CHECK(memcmp(out + 2, reason, 123) == 0);

	/*
	 * A 2-, 3- or 4-byte character at every position around the limit: the cut never
	 * splits it, keeps everything before it, and keeps it when it fits.
	 */
	static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	for (size_t c = 0; c < 3; c++) {
		size_t clen = strlen(chars[c]);

		for (size_t pos = 115; pos < 126; pos++) {
			memset(reason, 'r', sizeof(reason));
			memcpy(reason + pos, chars[c], clen);
			reason[140] = '\0';
			size_t n = tl_ws_close_payload(out, 1000, reason);
			size_t want = pos + clen <= 123 ? 123 : pos < 123 ? pos : 123;

			CHECK_EQ(n, 2 + want);
			CHECK(memcmp(out + 2, reason, n - 2) == 0);
			CHECK(tl_utf8_valid(out + 2, n - 2));

			/* What is written is a close body the decoder takes. */
			uint8_t frame[TL_WS_CONTROL_MAX + 2];
			struct tl_ws_decoder d;
			struct tl_ws_event ev;
			size_t fl = enc(frame, sizeof(frame), TL_WS_OP_CLOSE, true, out, n, false);
			dec_init(&d, false);
			dec_whole(&d, frame, fl, &ev);
			CHECK_EQ(ev.close_code, 1000);
			CHECK_EQ(ev.len, n - 2);
		}
	}
}

static void test_handshake(void)
{
	char key[TL_WS_KEY_LEN + 1], accept[TL_WS_ACCEPT_LEN + 1];
	const char *rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";
	char long_key[65];

	/* RFC 6455 §1.3: the key is base64 of the nonce "the sample nonce". */
	memset(key, 'x', sizeof(key));
	tl_ws_key_make(key, (const uint8_t *)"the sample nonce");
	CHECK(strcmp(key, rfc_key) == 0);
	tl_ws_key_make(key, (const uint8_t *)"\x00\x00\x00\x00\x00\x00\x00\x00"
	                                     "\x00\x00\x00\x00\x00\x00\x00\x00");
	CHECK(strcmp(key, "AAAAAAAAAAAAAAAAAAAAAA==") == 0);

	memset(accept, 'x', sizeof(accept));
	CHECK_EQ(tl_ws_accept_make(accept, rfc_key, strlen(rfc_key)), 0);
	CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);

	CHECK_EQ(tl_ws_accept_make(accept, rfc_key, 0), -EINVAL);
	CHECK_EQ(tl_ws_accept_make(accept, NULL, 5), -EINVAL);
	memset(long_key, 'k', sizeof(long_key));
	CHECK_EQ(tl_ws_accept_make(accept, long_key, 65), -EINVAL);
	CHECK_EQ(tl_ws_accept_make(accept, long_key, 64), 0);
	CHECK_EQ(strlen(accept), TL_WS_ACCEPT_LEN);
}

/* ---- the masking-key pool ------------------------------------------------------------ */

/* A fill that writes keys numbered in sequence (each key a little-endian uint32), so that
 * the keys a pool hands out show their order, gaps and repeats; fails while `fail`. */
struct key_source {
	uint32_t next_key;
	unsigned fills;
	bool fail;
};

static int key_source_fill(void *ctx, uint8_t *out, size_t len)
{
	struct key_source *src = ctx;

	CHECK_EQ(len % 4, 0);
	src->fills++;
	if (src->fail)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t k = src->next_key++;
		memcpy(out + i, &k, 4);
	}
	return 0;
}

static uint32_t key_of(const uint8_t *key)
{
	uint32_t k;

	memcpy(&k, key, 4);
	return k;
}

static void test_mask_pool(void)
{
	struct tl_ws_mask_pool pool;
	struct key_source src = {0};
	const unsigned keys = TL_WS_MASK_POOL_BYTES / 4;
	uint32_t want = 0;

	/* Full at first: drawn by init, which counts no draw; the first take draws nothing. */
	tl_ws_mask_pool_init(&pool, key_source_fill, &src);
	CHECK_EQ(src.fills, 1);
	CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	CHECK_EQ(pool.draws_in_take, 0);
	CHECK_EQ(pool.draws_refilled, 0);
	CHECK_EQ(src.fills, 1);

	/* A refill waits until half the pool is used; then it keeps the unused keys first. */
	for (; want < keys / 2 - 1;)
		CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	CHECK(!tl_ws_mask_pool_refill(&pool, key_source_fill, &src));
	CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	CHECK(tl_ws_mask_pool_refill(&pool, key_source_fill, &src));
	CHECK(!tl_ws_mask_pool_refill(&pool, key_source_fill, &src)); /* nothing used since */
	CHECK_EQ(pool.draws_refilled, 1);
	CHECK_EQ(src.fills, 2);

	/* Takes and refills in random order: every key comes once, in the order drawn, and
	 * with a refill at least every half pool, no take draws. */
	for (int i = 0; i < 200000; i++) {
		if (rnd() % 64 == 0 || pool.next >= TL_WS_MASK_POOL_BYTES / 2)
			tl_ws_mask_pool_refill(&pool, key_source_fill, &src);
		CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	}
	CHECK_EQ(pool.draws_in_take, 0);
	CHECK(pool.draws_refilled > 200000 / keys);

	/* Without refills, takes draw the pool once every `keys` keys, still in order. */
	uint64_t in_take = pool.draws_in_take;
	for (unsigned i = 0; i < 10 * keys; i++)
		CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	CHECK(pool.draws_in_take - in_take >= 9 && pool.draws_in_take - in_take <= 10);

	/* A source that fails: a constant key, counted; keys come in order again after. */
	while (pool.next < TL_WS_MASK_POOL_BYTES)
		CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	src.fail = true;
	CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), 0x5a5a5a5au);
	CHECK_EQ(pool.fill_failures, 1);
	src.fail = false;
	while (pool.next < TL_WS_MASK_POOL_BYTES)
		CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), 0x5a5a5a5au);
	CHECK_EQ(key_of(tl_ws_mask_pool_take(&pool, key_source_fill, &src)), want++);
	CHECK_EQ(pool.fill_failures, 1);
}

int main(void)
{
	test_utf8_known();
	test_utf8_fast_path();
	test_utf8_exhaustive();
	test_utf8_random();
	test_close_code_valid();
	test_decoder_init();
	test_header_write();
	test_mask();
	test_frame_encode();
	test_lengths_round_trip();
	test_every_opcode();
	test_partial_input();
	test_fragmentation();
	test_fragment_size_limit();
	test_fragmented_utf8();
	test_protocol_errors();
	test_non_minimal_length();
	test_close_payload();
	test_handshake();
	test_mask_pool();
	printf("test_ws_codec: ok\n");
	return 0;
}
