/*
 * fuzz_ws_decode.c: libFuzzer target for the WebSocket frame decoder and the UTF-8
 * validator.
 *
 * The input is decoded as a stream of frames by a client-side decoder and, on its own
 * copy (a server unmasks in place), by a server-side one. Every result is checked against
 * the contract in tl_io.h; a violation traps. Then the input is used as the material for
 * frames that are encoded, fragmented and decoded back, which must give the same bytes.
 *
 * Build (outside CMake):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iio -Irings \
 *     io/utf8.c io/ws_codec.c rings/error.c tests/fuzz/fuzz_ws_decode.c -lwolfssl
 */
#include "tl_io.h"
#include "../io/utf8_ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Round trips carry up to MAX_MSG bytes. The decoders driven with the raw input have a
 * smaller limit, so that an input (at most 4096 bytes by default) can exceed it, and a
 * reassembly buffer of exactly that size on the heap, so that ASan sees any overrun. */
#define MAX_MSG 4096u
#define DRIVE_MAX_MSG 1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t client_msg[MAX_MSG];
static uint8_t server_msg[MAX_MSG];

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* Compared as integers: ordering pointers into different objects is undefined. */
static bool inside(const uint8_t *p, size_t len, const uint8_t *lo, size_t lo_len)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)lo;

	return a >= base && a - base <= lo_len && len <= lo_len - (a - base);
}

/* Field by field: struct copies need not preserve padding, so memcmp would lie. */
static bool same_state(const struct tl_ws_decoder *a, const struct tl_ws_decoder *b)
{
	return a->msg_buf == b->msg_buf && a->max_msg_bytes == b->max_msg_bytes &&
	       a->server_side == b->server_side && a->in_message == b->in_message &&
	       a->msg_opcode == b->msg_opcode && a->msg_len == b->msg_len &&
	       a->utf8_state == b->utf8_state;
}

/* Decodes `in` frame by frame until an error or a partial frame, checking each result. */
static void drive(bool server_side, uint8_t *msg_buf, uint8_t *in, size_t len)
{
	struct tl_ws_decoder d;
	size_t off = 0;

	REQUIRE(tl_ws_decoder_init(&d, msg_buf, DRIVE_MAX_MSG, server_side) == 0);
	for (;;) {
		struct tl_ws_event ev;
		uint16_t cc = 0;
		struct tl_ws_decoder before = d;
		ssize_t r = tl_ws_decode(&d, in + off, len - off, &ev, &cc);

		if (r < 0) {
			REQUIRE((r == -EPROTO && cc == TL_WS_CLOSE_PROTOCOL) ||
			        (r == -EMSGSIZE && cc == TL_WS_CLOSE_TOO_BIG) ||
			        (r == -EILSEQ && cc == TL_WS_CLOSE_INVALID_DATA));
			return;
		}
		if (r == 0) {
			/* Nothing consumed means nothing changed. */
			REQUIRE(same_state(&before, &d));
			REQUIRE(ev.kind == TL_WS_EV_NONE);
			return;
		}
		REQUIRE((size_t)r <= len - off);
		REQUIRE((size_t)r >= 2);

		/* One byte less is never a whole frame, and nothing is touched meanwhile. */
		{
			struct tl_ws_decoder probe = before;
			struct tl_ws_event pev;
			uint16_t pcc = 0;
			uint8_t *frame = in + off;
			uint8_t saved[TL_WS_HEADER_MAX + TL_WS_CONTROL_MAX];
			size_t keep = (size_t)r < sizeof(saved) ? (size_t)r : sizeof(saved);

			memcpy(saved, frame, keep);
			REQUIRE(tl_ws_decode(&probe, frame, (size_t)r - 1, &pev, &pcc) == 0);
			REQUIRE(memcmp(saved, frame, keep) == 0);
			REQUIRE(same_state(&probe, &before));
		}

		const uint8_t *frame = in + off;
		switch (ev.kind) {
		case TL_WS_EV_NONE:
			REQUIRE(d.in_message);
			REQUIRE(d.msg_len <= DRIVE_MAX_MSG);
			REQUIRE(d.msg_opcode == TL_WS_OP_TEXT || d.msg_opcode == TL_WS_OP_BINARY);
			break;
		case TL_WS_EV_MESSAGE:
			REQUIRE(ev.opcode == TL_WS_OP_TEXT || ev.opcode == TL_WS_OP_BINARY);
			REQUIRE(ev.len <= DRIVE_MAX_MSG);
			REQUIRE(!d.in_message);
			if (ev.copied)
				REQUIRE(ev.data == msg_buf);
			else
				REQUIRE(inside(ev.data, ev.len, frame, (size_t)r));
			if (ev.opcode == TL_WS_OP_TEXT)
				REQUIRE(ref_utf8_valid(ev.data, ev.len));
			break;
		case TL_WS_EV_PING:
		case TL_WS_EV_PONG:
			REQUIRE(ev.opcode ==
			        (ev.kind == TL_WS_EV_PING ? TL_WS_OP_PING : TL_WS_OP_PONG));
			REQUIRE(ev.len <= TL_WS_CONTROL_MAX);
			REQUIRE(!ev.copied);
			REQUIRE(inside(ev.data, ev.len, frame, (size_t)r));
			/* Control frames never disturb an open message. */
			REQUIRE(same_state(&before, &d));
			break;
		case TL_WS_EV_CLOSE:
			REQUIRE(ev.opcode == TL_WS_OP_CLOSE);
			REQUIRE(tl_ws_close_code_valid(ev.close_code) ||
			        (ev.close_code == TL_WS_CLOSE_NO_STATUS && ev.len == 0));
			REQUIRE(ev.len <= TL_WS_CONTROL_MAX - 2);
			REQUIRE(inside(ev.data, ev.len, frame, (size_t)r));
			REQUIRE(ref_utf8_valid(ev.data, ev.len));
			REQUIRE(same_state(&before, &d));
			break;
		default:
			REQUIRE(0);
		}
		off += (size_t)r;
	}
}

/* Reads fuzz bytes as parameters; past the end everything reads as 0. */
struct reader {
	const uint8_t *p;
	size_t len;
	size_t at;
};

static uint8_t take(struct reader *rd)
{
	return rd->at < rd->len ? rd->p[rd->at++] : 0;
}

static const uint8_t opcodes[] = {TL_WS_OP_TEXT, TL_WS_OP_BINARY, TL_WS_OP_CLOSE, TL_WS_OP_PING,
                                  TL_WS_OP_PONG};

/*
 * Encodes a message from the fuzz bytes (in up to three fragments, with a ping between
 * them), decodes it on the matching side, and checks it comes back unchanged, or is
 * refused exactly when the text is not UTF-8.
 */
static void round_trip(const uint8_t *data, size_t size)
{
	static uint8_t wire[3 * (MAX_MSG + TL_WS_HEADER_MAX) + 2 * (TL_WS_HEADER_MAX + 4)];
	static uint8_t msg[MAX_MSG];
	struct reader rd = {data, size, 0};
	uint8_t flags = take(&rd), cut1 = take(&rd), cut2 = take(&rd);
	uint8_t op = opcodes[flags % sizeof(opcodes)];
	bool server = (flags & 0x80) != 0;
	uint8_t key[4] = {take(&rd), take(&rd), take(&rd), take(&rd)};
	const uint8_t *payload = data + rd.at;
	size_t len = size - (rd.at < size ? rd.at : size);
	bool control = op >= TL_WS_OP_CLOSE;
	size_t wire_len = 0;
	ssize_t n;

	if (rd.at > size)
		payload = data + size;
	if (len > (control ? TL_WS_CONTROL_MAX : MAX_MSG))
		len = control ? TL_WS_CONTROL_MAX : MAX_MSG;
	if (op == TL_WS_OP_CLOSE) {
		/* Make the body well-formed so that the test is of the codec, not of the
		 * close rules, which drive() covers. */
		if (len == 1)
			len = 0;
		if (len >= 2) {
			memcpy(msg, payload, len);
			msg[0] = 0x03;
			msg[1] = 0xe8;
			payload = msg;
		}
	}

	/* Fragment boundaries for data; control frames are whole. */
	size_t a = control ? len : (len ? cut1 % (len + 1) : 0);
	size_t b = control ? len : a + (len - a ? cut2 % (len - a + 1) : 0);
	const uint8_t *mk = server ? key : NULL;

	if (a == len) {
		n = tl_ws_frame_encode(wire, sizeof(wire), op, true, payload, len, mk);
		REQUIRE(n > 0);
		wire_len = (size_t)n;
	} else {
		n = tl_ws_frame_encode(wire, sizeof(wire), op, false, payload, a, mk);
		REQUIRE(n > 0);
		wire_len += (size_t)n;
		n = tl_ws_frame_encode(wire + wire_len, sizeof(wire) - wire_len, TL_WS_OP_PING,
		                       true, "k", 1, mk);
		REQUIRE(n > 0);
		wire_len += (size_t)n;
		n = tl_ws_frame_encode(wire + wire_len, sizeof(wire) - wire_len, TL_WS_OP_CONT,
		                       b == len, payload + a, b - a, mk);
		REQUIRE(n > 0);
		wire_len += (size_t)n;
		if (b < len) {
			n = tl_ws_frame_encode(wire + wire_len, sizeof(wire) - wire_len,
			                       TL_WS_OP_CONT, true, payload + b, len - b, mk);
			REQUIRE(n > 0);
			wire_len += (size_t)n;
		}
	}

	struct tl_ws_decoder d;
	struct tl_ws_event ev;
	uint16_t cc = 0;
	size_t off = 0;
	bool text_ok = op != TL_WS_OP_TEXT || ref_utf8_valid(payload, len);
	bool close_ok = op != TL_WS_OP_CLOSE || len < 2 || ref_utf8_valid(payload + 2, len - 2);

	REQUIRE(tl_ws_decoder_init(&d, server ? server_msg : client_msg, MAX_MSG, server) == 0);
	for (;;) {
		ssize_t r = tl_ws_decode(&d, wire + off, wire_len - off, &ev, &cc);

		if (r < 0) {
			REQUIRE(r == -EILSEQ && cc == TL_WS_CLOSE_INVALID_DATA);
			REQUIRE(!text_ok || !close_ok);
			return;
		}
		REQUIRE(r > 0);
		off += (size_t)r;
		if (ev.kind == TL_WS_EV_NONE || (ev.kind == TL_WS_EV_PING && op != TL_WS_OP_PING))
			continue;
		break;
	}
	REQUIRE(off == wire_len);
	REQUIRE(text_ok && close_ok);
	if (op == TL_WS_OP_CLOSE) {
		REQUIRE(ev.kind == TL_WS_EV_CLOSE);
		REQUIRE(ev.close_code == (len ? 1000 : TL_WS_CLOSE_NO_STATUS));
		REQUIRE(ev.len == (len ? len - 2 : 0));
		REQUIRE(ev.len == 0 || memcmp(ev.data, payload + 2, ev.len) == 0);
		return;
	}
	REQUIRE(ev.opcode == op);
	REQUIRE(ev.len == len);
	REQUIRE(len == 0 || memcmp(ev.data, payload, len) == 0);
	REQUIRE(ev.copied == (a != len));
}

/* The mask in pieces at every offset against the definition; the close body writer. */
static void helpers(const uint8_t *data, size_t size)
{
	static uint8_t out[MAX_MSG];
	static char reason[256];
	uint8_t key[4] = {0x5a, 0xa5, 0x0f, 0xf0};
	size_t len = size < MAX_MSG ? size : MAX_MSG;
	size_t off = size ? data[0] % 7 : 0;

	tl_ws_mask(out, data, len, key, off);
	for (size_t i = 0; i < len; i++)
		REQUIRE(out[i] == (data[i] ^ key[(off + i) & 3]));

	uint32_t s = tl_utf8_step(TL_UTF8_ACCEPT, data, len / 2);
	s = tl_utf8_step(s, data + len / 2, len - len / 2);
	REQUIRE((s == TL_UTF8_ACCEPT) == ref_utf8_valid(data, len));
	REQUIRE(tl_utf8_valid(data, len) == ref_utf8_valid(data, len));

	size_t rlen = size < sizeof(reason) - 1 ? size : sizeof(reason) - 1;
	memcpy(reason, data, rlen);
	reason[rlen] = '\0';
	uint8_t body[TL_WS_CONTROL_MAX];
	size_t blen = tl_ws_close_payload(body, 3000, reason);
	size_t slen = strlen(reason);
	REQUIRE(blen >= 2 && blen <= TL_WS_CONTROL_MAX);
	REQUIRE(body[0] == 3000 >> 8 && body[1] == (3000 & 0xff));
	REQUIRE(memcmp(body + 2, reason, blen - 2) == 0);
	if (slen <= TL_WS_CONTROL_MAX - 2)
		REQUIRE(blen - 2 == slen);
	/* Valid text stays valid when it is cut, and is cut by at most one character. */
	if (ref_utf8_valid((const uint8_t *)reason, slen)) {
		REQUIRE(ref_utf8_valid(body + 2, blen - 2));
		if (slen > TL_WS_CONTROL_MAX - 2)
			REQUIRE(blen - 2 + 3 >= TL_WS_CONTROL_MAX - 2);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size heap copies, so that ASan sees any read past the end. */
	uint8_t *client_in = malloc(size ? size : 1);
	uint8_t *server_in = malloc(size ? size : 1);
	uint8_t *msg = malloc(DRIVE_MAX_MSG);

	if (client_in == NULL || server_in == NULL || msg == NULL)
		abort();
	if (size) {
		memcpy(client_in, data, size);
		memcpy(server_in, data, size);
	}
	drive(false, msg, client_in, size);
	/* The client decoder never writes to its input. */
	REQUIRE(size == 0 || memcmp(client_in, data, size) == 0);
	drive(true, msg, server_in, size);
	free(client_in);
	free(server_in);
	free(msg);

	round_trip(data, size);
	helpers(data, size);
	return 0;
}
