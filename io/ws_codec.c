/*
 * ws_codec.c: WebSocket frames (RFC 6455 §5) and the opening handshake's key and accept
 * values (§4). Pure functions over caller-owned buffers.
 *
 * DESIGN
 * tl_ws_decode looks at one frame at a time and consumes it only whole, so the caller can
 * keep unconsumed bytes and offer them again with more. Every rule that the first two
 * bytes decide (reserved bits, opcode, fragmented or long control frames, masking,
 * continuation order) is checked before waiting for the rest of the header, and the size
 * limit as soon as the header is complete, so that a peer cannot make us buffer a frame
 * we are going to refuse anyway.
 *
 * Lengths on the wire are untrusted 64-bit numbers. A data frame's length is compared
 * with max_msg_bytes (a size_t) before it is used for anything, and from then on every
 * sum is either bounded by that check or computed with __builtin_add_overflow.
 *
 * Unfragmented messages, which are nearly all of them, are handed out where they lie in
 * the input. Only fragments are copied, into msg_buf, and text is validated as it arrives
 * so that a bad byte in the first fragment fails there.
 */
#include "io_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

/* wolfSSL's options.h must come before any of its other headers: it fixes the build
 * configuration (struct layouts, which calls exist) the headers are read with. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha.h>

#define WS_FIN 0x80u
#define WS_RSV 0x70u
#define WS_OPCODE 0x0fu
#define WS_MASK 0x80u
#define WS_LEN7 0x7fu
#define WS_LEN16 126u
#define WS_LEN64 127u

/* RFC 6455 §1.3: the GUID the accept value hashes in after the client's key. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define WS_GUID_LEN (sizeof(ws_guid) - 1)
#define WS_ACCEPT_KEY_MAX 64

/* SSIZE_MAX is POSIX, not C11; ssize_t is the signed type of size_t's width. */
#define WS_SSIZE_MAX (SIZE_MAX / 2)

static bool opcode_is_control(unsigned op)
{
	return (op & 0x8u) != 0;
}

static bool opcode_is_known(unsigned op)
{
	switch (op) {
	case TL_WS_OP_CONT:
	case TL_WS_OP_TEXT:
	case TL_WS_OP_BINARY:
	case TL_WS_OP_CLOSE:
	case TL_WS_OP_PING:
	case TL_WS_OP_PONG:
		return true;
	default:
		return false;
	}
}

bool tl_ws_close_code_valid(unsigned code)
{
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

int tl_ws_decoder_init(struct tl_ws_decoder *d, uint8_t *msg_buf, size_t max_msg_bytes,
                       bool server_side)
{
	if (d == NULL || msg_buf == NULL || max_msg_bytes == 0)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->msg_buf = msg_buf;
	d->max_msg_bytes = max_msg_bytes;
	d->server_side = server_side;
	tl_ws_decoder_reset(d);
	return 0;
}

void tl_ws_decoder_reset(struct tl_ws_decoder *d)
{
	d->in_message = false;
	d->msg_opcode = 0;
	d->msg_len = 0;
	d->utf8_state = TL_UTF8_ACCEPT;
}

static ssize_t fail(uint16_t *close_code, int err, uint16_t code)
{
	*close_code = code;
	return err;
}

static ssize_t fail_proto(uint16_t *close_code)
{
	return fail(close_code, -EPROTO, TL_WS_CLOSE_PROTOCOL);
}

/*
 * The checks the first two bytes settle. Returns 0 or -EPROTO.
 */
static int check_first_bytes(const struct tl_ws_decoder *d, uint8_t b0, uint8_t b1)
{
	unsigned op = b0 & WS_OPCODE;
	bool masked = (b1 & WS_MASK) != 0;

	/* No extension is ever negotiated, so no reserved bit has a meaning. */
	if (b0 & WS_RSV)
		return -EPROTO;
	if (!opcode_is_known(op))
		return -EPROTO;
	if (masked != d->server_side)
		return -EPROTO;
	if (opcode_is_control(op)) {
		/* §5.5: control frames are never fragmented, and their length fits in 7 bits. */
		if (!(b0 & WS_FIN) || (b1 & WS_LEN7) > TL_WS_CONTROL_MAX)
			return -EPROTO;
	} else if (op == TL_WS_OP_CONT) {
		if (!d->in_message)
			return -EPROTO;
	} else if (d->in_message) {
		/* §5.4: the fragments of one message are never interleaved with another's. */
		return -EPROTO;
	}
	return 0;
}

static ssize_t decode_close(const uint8_t *payload, size_t plen, struct tl_ws_event *ev,
                            uint16_t *close_code)
{
	unsigned code = TL_WS_CLOSE_NO_STATUS;
	size_t reason_len = 0;

	if (plen > 0) {
		/* §5.5.1: a body, when there is one, starts with a 2-byte code. */
		if (plen == 1)
			return fail_proto(close_code);
		code = ((unsigned)payload[0] << 8) | payload[1];
		if (!tl_ws_close_code_valid(code))
			return fail_proto(close_code);
		reason_len = plen - 2;
		if (!tl_utf8_valid(payload + 2, reason_len))
			return fail(close_code, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);
	}
	ev->kind = TL_WS_EV_CLOSE;
	ev->opcode = TL_WS_OP_CLOSE;
	ev->close_code = (uint16_t)code;
	ev->data = payload + (plen > 0 ? 2 : 0);
	ev->len = reason_len;
	return 0;
}

/*
 * Appends one data fragment to the open message in msg_buf. Room was checked against
 * max_msg_bytes with the header.
 */
static ssize_t decode_fragment(struct tl_ws_decoder *d, const uint8_t *payload, size_t plen,
                               bool fin, struct tl_ws_event *ev, uint16_t *close_code)
{
	assert(plen <= d->max_msg_bytes - d->msg_len);
	if (plen > 0)
		memcpy(d->msg_buf + d->msg_len, payload, plen);
	d->msg_len += plen;
	if (d->msg_opcode == TL_WS_OP_TEXT) {
		d->utf8_state = tl_utf8_step(d->utf8_state, payload, plen);
		if (d->utf8_state == TL_UTF8_REJECT)
			return fail(close_code, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);
		/* A character may span fragments, but not the end of the message. */
		if (fin && d->utf8_state != TL_UTF8_ACCEPT)
			return fail(close_code, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);
	}
	if (!fin)
		return 0;
	ev->kind = TL_WS_EV_MESSAGE;
	ev->opcode = d->msg_opcode;
	ev->data = d->msg_buf;
	ev->len = d->msg_len;
	ev->copied = true;
	tl_ws_decoder_reset(d);
	return 0;
}

ssize_t tl_ws_decode(struct tl_ws_decoder *d, uint8_t *in, size_t len, struct tl_ws_event *ev,
                     uint16_t *close_code)
{
	unsigned op, len7;
	bool fin, masked;
	size_t hdr_len, plen, frame_len;
	uint64_t wire_len;
	uint8_t *payload;
	ssize_t err;

	memset(ev, 0, sizeof(*ev));
	ev->kind = TL_WS_EV_NONE;
	if (len < 2)
		return 0;

	if (check_first_bytes(d, in[0], in[1]) < 0)
		return fail_proto(close_code);
	fin = (in[0] & WS_FIN) != 0;
	op = in[0] & WS_OPCODE;
	masked = (in[1] & WS_MASK) != 0;
	len7 = in[1] & WS_LEN7;

	hdr_len = 2;
	if (len7 == WS_LEN16)
		hdr_len += 2;
	else if (len7 == WS_LEN64)
		hdr_len += 8;
	if (masked)
		hdr_len += 4;
	if (len < hdr_len)
		return 0;

	if (len7 == WS_LEN16) {
		wire_len = ((uint64_t)in[2] << 8) | in[3];
	} else if (len7 == WS_LEN64) {
		wire_len = 0;
		for (int i = 0; i < 8; i++)
			wire_len = (wire_len << 8) | in[2 + i];
		/* §5.2: the most significant bit must be 0. */
		if (wire_len >> 63)
			return fail_proto(close_code);
	} else {
		wire_len = len7;
	}
	/*
	 * Non-minimal length encodings (126 with a length under 126, and so on) are accepted:
	 * they cost nothing to decode and refusing them protects nothing.
	 */

	if (!opcode_is_control(op)) {
		/* msg_len <= max_msg_bytes holds between frames, so the difference is the room. */
		size_t room = d->max_msg_bytes - (op == TL_WS_OP_CONT ? d->msg_len : 0);

		if (wire_len > room)
			return fail(close_code, -EMSGSIZE, TL_WS_CLOSE_TOO_BIG);
	}
	/* Either <= 125 (control) or <= room <= max_msg_bytes: fits a size_t. */
	plen = (size_t)wire_len;
	if (__builtin_add_overflow(hdr_len, plen, &frame_len) || frame_len > WS_SSIZE_MAX)
		return fail(close_code, -EMSGSIZE, TL_WS_CLOSE_TOO_BIG);
	if (len < frame_len)
		return 0;

	payload = in + hdr_len;
	if (masked)
		tl_ws_mask(payload, payload, plen, in + hdr_len - 4, 0);

	switch (op) {
	case TL_WS_OP_PING:
	case TL_WS_OP_PONG:
		ev->kind = op == TL_WS_OP_PING ? TL_WS_EV_PING : TL_WS_EV_PONG;
		ev->opcode = (uint8_t)op;
		ev->data = payload;
		ev->len = plen;
		err = 0;
		break;
	case TL_WS_OP_CLOSE:
		err = decode_close(payload, plen, ev, close_code);
		break;
	case TL_WS_OP_TEXT:
	case TL_WS_OP_BINARY:
		if (fin) {
			if (op == TL_WS_OP_TEXT && !tl_utf8_valid(payload, plen))
				return fail(close_code, -EILSEQ, TL_WS_CLOSE_INVALID_DATA);
			ev->kind = TL_WS_EV_MESSAGE;
			ev->opcode = (uint8_t)op;
			ev->data = payload;
			ev->len = plen;
			err = 0;
			break;
		}
		d->in_message = true;
		d->msg_opcode = (uint8_t)op;
		d->msg_len = 0;
		d->utf8_state = TL_UTF8_ACCEPT;
		err = decode_fragment(d, payload, plen, fin, ev, close_code);
		break;
	default: /* CONT: check_first_bytes made sure a message is open */
		err = decode_fragment(d, payload, plen, fin, ev, close_code);
		break;
	}
	if (err < 0)
		return err;
	return (ssize_t)frame_len;
}

size_t tl_ws_header_write(uint8_t *out, uint8_t opcode, bool fin, uint64_t payload_len,
                          const uint8_t *mask_key)
{
	uint8_t mask_bit = mask_key != NULL ? WS_MASK : 0;
	size_t n;

	/* The wire cannot carry a length with the top bit set (§5.2). */
	assert(payload_len >> 63 == 0);
	out[0] = (uint8_t)((fin ? WS_FIN : 0) | (opcode & WS_OPCODE));
	if (payload_len < WS_LEN16) {
		out[1] = (uint8_t)(mask_bit | payload_len);
		n = 2;
	} else if (payload_len <= UINT16_MAX) {
		out[1] = (uint8_t)(mask_bit | WS_LEN16);
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		n = 4;
	} else {
		out[1] = (uint8_t)(mask_bit | WS_LEN64);
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
		n = 10;
	}
	if (mask_key != NULL) {
		memcpy(out + n, mask_key, 4);
		n += 4;
	}
	return n;
}

void tl_ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask_key[4],
                size_t offset)
{
	uint8_t key[8];
	uint64_t k64;
	size_t i = 0;

	/* Rotate the key so that key[0] applies to src[0]; repeating it twice makes a word
	 * whose bytes line up with any 8 consecutive payload bytes, whatever the byte order. */
	for (int j = 0; j < 8; j++)
		key[j] = mask_key[(offset + (size_t)j) & 3];
	memcpy(&k64, key, 8);

	for (; len - i >= 32; i += 32) {
		uint64_t w[4];

		memcpy(w, src + i, 32);
		w[0] ^= k64;
		w[1] ^= k64;
		w[2] ^= k64;
		w[3] ^= k64;
		memcpy(dst + i, w, 32);
	}
	for (; len - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		w ^= k64;
		memcpy(dst + i, &w, 8);
	}
	/* i is a multiple of 8 here, so the rotated key still lines up. */
	for (; i < len; i++)
		dst[i] = src[i] ^ key[i & 3];
}

ssize_t tl_ws_frame_encode(uint8_t *out, size_t cap, uint8_t opcode, bool fin, const void *payload,
                           size_t len, const uint8_t *mask_key)
{
	size_t hdr_len, total;

	if (!opcode_is_known(opcode))
		return -EINVAL;
	if (opcode_is_control(opcode) && (len > TL_WS_CONTROL_MAX || !fin))
		return -EINVAL;
	if (payload == NULL && len > 0)
		return -EINVAL;
	/* Keeps the header's 64-bit length and the ssize_t result meaningful. */
	if (len > WS_SSIZE_MAX - TL_WS_HEADER_MAX)
		return -EINVAL;

	hdr_len = 2 + (len < WS_LEN16 ? 0 : len <= UINT16_MAX ? 2 : 8) + (mask_key ? 4 : 0);
	total = hdr_len + len;
	if (total > cap)
		return -ENOBUFS;
	tl_ws_header_write(out, opcode, fin, len, mask_key);
	if (len == 0)
		return (ssize_t)total;
	if (mask_key != NULL)
		tl_ws_mask(out + hdr_len, payload, len, mask_key, 0);
	else
		memcpy(out + hdr_len, payload, len);
	return (ssize_t)total;
}

size_t tl_ws_close_payload(uint8_t out[TL_WS_CONTROL_MAX], uint16_t code, const char *reason)
{
	const size_t reason_max = TL_WS_CONTROL_MAX - 2;
	size_t n = 0;

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (reason == NULL)
		return 2;
	/* Look one byte past the limit: it says whether the cut falls inside a character. */
	while (n <= reason_max && reason[n] != '\0')
		n++;
	if (n > reason_max) {
		n = reason_max;
		/* A continuation byte at the cut means the character before it would be split;
		 * step back to its lead byte. At most 3 steps in valid UTF-8. */
		for (int back = 0; back < 3 && n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80; back++)
			n--;
	}
	memcpy(out + 2, reason, n);
	return 2 + n;
}

void tl_ws_key_make(char out[TL_WS_KEY_LEN + 1], const uint8_t nonce[16])
{
	word32 out_len = TL_WS_KEY_LEN + 1;
	int rc;

	rc = Base64_Encode_NoNl(nonce, 16, (byte *)out, &out_len);
	/* Fixed sizes in and out: a failure here is a bug, not an input. */
	assert(rc == 0 && out_len == TL_WS_KEY_LEN);
	(void)rc;
	out[TL_WS_KEY_LEN] = '\0';
}

int tl_ws_accept_make(char out[TL_WS_ACCEPT_LEN + 1], const char *key, size_t key_len)
{
	uint8_t buf[WS_ACCEPT_KEY_MAX + WS_GUID_LEN];
	uint8_t digest[WC_SHA_DIGEST_SIZE];
	word32 out_len = TL_WS_ACCEPT_LEN + 1;

	if (key == NULL || key_len == 0 || key_len > WS_ACCEPT_KEY_MAX)
		return -EINVAL;
	memcpy(buf, key, key_len);
	memcpy(buf + key_len, ws_guid, WS_GUID_LEN);
	if (wc_ShaHash(buf, (word32)(key_len + WS_GUID_LEN), digest) != 0)
		return TL_E_TLS;
	if (Base64_Encode_NoNl(digest, sizeof(digest), (byte *)out, &out_len) != 0 ||
	    out_len != TL_WS_ACCEPT_LEN)
		return TL_E_TLS;
	out[TL_WS_ACCEPT_LEN] = '\0';
	return 0;
}

/* ---- masking keys (io_internal.h) -------------------------------------------------------- */

/* Draws `len` bytes at `at`; a failure leaves a constant there, and is counted. */
static void mask_pool_draw(struct tl_ws_mask_pool *p, uint8_t *at, size_t len,
                           tl_ws_mask_fill_fn fill, void *ctx)
{
	if (fill(ctx, at, len) != 0) {
		memset(at, 0x5a, len);
		p->fill_failures++;
	}
}

void tl_ws_mask_pool_init(struct tl_ws_mask_pool *p, tl_ws_mask_fill_fn fill, void *ctx)
{
	memset(p, 0, sizeof(*p));
	mask_pool_draw(p, p->keys, TL_WS_MASK_POOL_BYTES, fill, ctx);
}

const uint8_t *tl_ws_mask_pool_take(struct tl_ws_mask_pool *p, tl_ws_mask_fill_fn fill, void *ctx)
{
	if (p->next >= TL_WS_MASK_POOL_BYTES) {
		mask_pool_draw(p, p->keys, TL_WS_MASK_POOL_BYTES, fill, ctx);
		p->next = 0;
		p->draws_in_take++;
	}
	const uint8_t *key = p->keys + p->next;
	p->next += 4;
	return key;
}

bool tl_ws_mask_pool_refill(struct tl_ws_mask_pool *p, tl_ws_mask_fill_fn fill, void *ctx)
{
	size_t used = p->next > TL_WS_MASK_POOL_BYTES ? TL_WS_MASK_POOL_BYTES : p->next;
	size_t left = TL_WS_MASK_POOL_BYTES - used;

	if (used < TL_WS_MASK_POOL_BYTES / 2)
		return false;
	memmove(p->keys, p->keys + used, left);
	mask_pool_draw(p, p->keys + left, used, fill, ctx);
	p->next = 0;
	p->draws_refilled++;
	return true;
}
