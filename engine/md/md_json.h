/*
 * md_json.h: the JSON lexing that the engine's hand-written parsers share: market data
 * (md_parse.c) and order entry (engine/venue/parse.c). Each call takes [p, end) and
 * never reads at or past end; a grammar error is a NULL return, never an assert.
 * Thread: any. Blocks: no. Allocates: no.
 */
#ifndef TL_MD_JSON_H
#define TL_MD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What tl_json_literal_end() found. */
enum tl_json_literal { TL_JSON_TRUE = 1, TL_JSON_FALSE, TL_JSON_NULL };

static inline bool tl_json_is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const char *tl_json_ws(const char *p, const char *end)
{
	while (p < end && tl_json_is_ws(*p))
		p++;
	return p;
}

/* The value of a hex digit (either case), or -1 for any other character. */
static inline int tl_json_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline bool tl_json_is_hex(char c)
{
	return tl_json_hex_value(c) >= 0;
}

/*
 * The high bit of the first byte of x (loaded little-endian: the first byte is the
 * lowest) that is a quote, a backslash or a control byte, and maybe of later bytes; 0
 * when none of the 8 is. Each term is the classic "has a byte below n" test: its borrow
 * can only mark bytes above a byte it rightly marks, so the lowest bit set is exact.
 */
static inline uint64_t tl_json_string_stops(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* p is just past an opening quote. Returns past the closing quote, or NULL when the
 * string is not valid JSON. UTF-8 is not validated: the WebSocket layer did that. */
static inline const char *tl_json_string_end(const char *p, const char *end, bool *esc)
{
	*esc = false;
	for (;;) {
		/* Plain bytes, 8 at a time while 8 remain (strings are most of a message). */
		while (end - p >= 8) {
			uint64_t x, m;

			memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
			x = __builtin_bswap64(x);
#endif
			m = tl_json_string_stops(x);
			if (m != 0) {
				p += __builtin_ctzll(m) >> 3;
				break;
			}
			p += 8;
		}
		while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			p++;
		if (p >= end || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '"')
			return p + 1;
		*esc = true;
		if (end - p < 2)
			return NULL;
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			p += 2;
			break;
		case 'u':
			if (end - p < 6 || !tl_json_is_hex(p[2]) || !tl_json_is_hex(p[3]) ||
			    !tl_json_is_hex(p[4]) || !tl_json_is_hex(p[5]))
				return NULL;
			p += 6;
			break;
		default:
			return NULL;
		}
	}
}

/* p is at '-' or a digit. Returns past the number, or NULL when the grammar is broken. */
static inline const char *tl_json_number_end(const char *p, const char *end, bool *is_int)
{
	*is_int = true;
	if (*p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (p < end && *p == '.') {
		const char *f = ++p;

		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == f)
			return NULL;
		*is_int = false;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		const char *x = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == x)
			return NULL;
		*is_int = false;
	}
	return p;
}

static inline const char *tl_json_literal_end(const char *p, const char *end, uint8_t *t)
{
	size_t left = (size_t)(end - p);

	if (left >= 4 && memcmp(p, "true", 4) == 0) {
		*t = TL_JSON_TRUE;
		return p + 4;
	}
	if (left >= 5 && memcmp(p, "false", 5) == 0) {
		*t = TL_JSON_FALSE;
		return p + 5;
	}
	if (left >= 4 && memcmp(p, "null", 4) == 0) {
		*t = TL_JSON_NULL;
		return p + 4;
	}
	return NULL;
}

/*
 * Skips the value at p (not whitespace), checking its grammar. `depth` is the depth of
 * the container holding it (the top-level value is depth 1 once opened). Returns past the
 * value, or NULL when it is not JSON or nests deeper than max_depth (at most 64: the
 * open containers are kept in one 64-bit stack, not by recursion).
 */
const char *tl_json_skip_value(const char *p, const char *end, int depth, int max_depth);

#endif /* TL_MD_JSON_H */
