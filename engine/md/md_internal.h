/*
 * md_internal.h: what the two parsers (md_parse.c, md_parse_jsmn.c) share.
 *
 * DESIGN. The two parsers differ only in how they find the JSON values. Everything that
 * gives a value its meaning is here, once:
 *   - the lexical checks on one value (string, number, literal, decimal string);
 *   - the "fields": one slot per key we know, filled as the keys come (last one wins),
 *     holding the value's JSON type and, for the types that key uses, the converted value
 *     or the conversion's error;
 *   - md_fields_finish(), which decides the kind and reports the first bad required field.
 * A conversion error is deferred into its slot rather than returned at once, because it
 * matters only if the message's kind uses that field, and the kind may be decided by a
 * key that comes later ("e" last, say). An aggTrade's "a" is a number and a depth's "a"
 * an array: both are fine until the kind says which one is wanted. Grammar errors, on
 * the other hand, are final, and both parsers report them as -EBADMSG whatever else is
 * wrong. So the two agree on every input as long as both (a) accept exactly RFC 8259 JSON
 * with the depth limit and (b) present the same (key, value) sequence to these helpers.
 */
#ifndef MD_INTERNAL_H
#define MD_INTERNAL_H

#include "md_json.h"
#include "tl_md.h"

#include <errno.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

struct tl_md_parser {
	struct tl_md_parser_config cfg; /* defaults filled in */
	/* Level storage, max_levels each: indexed by enum md_side. */
	struct tl_md_level *levels[4];
	void *tok_pool; /* jsmn tokens, cfg.max_tokens of them (md_parse_jsmn.c) */
};

/* One level array per key that carries levels. */
enum md_side { MD_SIDE_B = 0, MD_SIDE_A, MD_SIDE_BIDS, MD_SIDE_ASKS };

enum md_key {
	MD_K_UNKNOWN = -1,
	MD_K_e = 0,
	MD_K_E,
	MD_K_s,
	MD_K_U,
	MD_K_u,
	MD_K_t,
	MD_K_T,
	MD_K_b,
	MD_K_a,
	MD_K_B,
	MD_K_A,
	MD_K_p,
	MD_K_q,
	MD_K_m,
	MD_K_lastUpdateId,
	MD_K_bids,
	MD_K_asks,
	MD_K_COUNT,
	MD_K_data = MD_K_COUNT, /* the combined-stream wrapper: no slot */
};

/* The JSON type of a slot's value. */
enum md_jtype {
	MD_J_ABSENT = 0,
	MD_J_STRING,
	MD_J_INT,   /* a number with no fraction and no exponent */
	MD_J_FLOAT, /* any other number */
	MD_J_ARRAY,
	MD_J_OBJECT,
	MD_J_TRUE,
	MD_J_FALSE,
	MD_J_NULL,
};

/* The value of "e", when it is a string with no escape. */
enum md_event { MD_EV_OTHER = 0, MD_EV_DEPTH, MD_EV_TRADE };

struct md_slot {
	int64_t v;     /* INT: the id; STRING: the decimal, or enum md_event for "e";
	                  ARRAY: the level count; TRUE/FALSE: 1/0 */
	int32_t err;   /* 0, or the error converting this value for its key */
	uint8_t jtype; /* enum md_jtype */
};

struct md_fields {
	struct md_slot slot[MD_K_COUNT];
	const char *sym; /* "s" when it is a usable symbol; points into the message */
	uint32_t sym_len;
	/* tl_md_parse_top: the unconverted tails of "b" and "a" (MD_SIDE_B, MD_SIDE_A), from
	 * a level's '[' to the array's ']' included; NULL when the side was converted whole. */
	const char *tail[2];
	uint32_t tail_len[2];
};

/* Fills *msg from the fields, or returns the error of the first bad required field. */
int md_fields_finish(const struct tl_md_parser *p, const struct md_fields *f,
                     struct tl_md_msg *msg);

/* Bytes of jsmn token pool for n tokens (md_parse_jsmn.c knows the token's size), or 0
 * on overflow. */
size_t md_jsmn_pool_bytes(uint32_t n);

/* --------------------------------------------------------------------------------------
 * Keys.
 * -------------------------------------------------------------------------------------- */

/* The key k[0..n) as written (no escape in it), or MD_K_UNKNOWN. */
static inline int md_key_lookup(const char *k, size_t n)
{
	if (n == 1) {
		switch (k[0]) {
		case 'e':
			return MD_K_e;
		case 'E':
			return MD_K_E;
		case 's':
			return MD_K_s;
		case 'U':
			return MD_K_U;
		case 'u':
			return MD_K_u;
		case 't':
			return MD_K_t;
		case 'T':
			return MD_K_T;
		case 'b':
			return MD_K_b;
		case 'a':
			return MD_K_a;
		case 'B':
			return MD_K_B;
		case 'A':
			return MD_K_A;
		case 'p':
			return MD_K_p;
		case 'q':
			return MD_K_q;
		case 'm':
			return MD_K_m;
		default:
			return MD_K_UNKNOWN;
		}
	}
	if (n == 4) {
		if (memcmp(k, "bids", 4) == 0)
			return MD_K_bids;
		if (memcmp(k, "asks", 4) == 0)
			return MD_K_asks;
		if (memcmp(k, "data", 4) == 0)
			return MD_K_data;
		return MD_K_UNKNOWN;
	}
	if (n == 12 && memcmp(k, "lastUpdateId", 12) == 0)
		return MD_K_lastUpdateId;
	return MD_K_UNKNOWN;
}

/* Keys whose string value is a decimal, and at which scale (1: price, 2: quantity). */
static inline int md_key_dec(int key)
{
	switch (key) {
	case MD_K_b:
	case MD_K_a:
	case MD_K_p:
		return 1;
	case MD_K_B:
	case MD_K_A:
	case MD_K_q:
		return 2;
	default:
		return 0;
	}
}

/* Keys whose array value is a level array, and into which storage; or -1. */
static inline int md_key_side(int key)
{
	switch (key) {
	case MD_K_b:
		return MD_SIDE_B;
	case MD_K_a:
		return MD_SIDE_A;
	case MD_K_bids:
		return MD_SIDE_BIDS;
	case MD_K_asks:
		return MD_SIDE_ASKS;
	default:
		return -1;
	}
}

static inline bool md_key_is_int(int key)
{
	return key == MD_K_E || key == MD_K_U || key == MD_K_u || key == MD_K_t || key == MD_K_T ||
	       key == MD_K_lastUpdateId;
}

/* --------------------------------------------------------------------------------------
 * Lexical checks on one value beyond md_json.h's. Each takes [p, end) and never reads at
 * or past end.
 * -------------------------------------------------------------------------------------- */

/*
 * p is at '-' or a digit. Scans a JSON number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)
 * and returns the pointer past it, or NULL when the grammar is broken. The caller checks
 * what follows. Sets *jtype to MD_J_INT or MD_J_FLOAT; for MD_J_INT, *v is the value and
 * *err is -ERANGE when it is negative (even -0: no id or time is) or above INT64_MAX.
 */
static inline const char *md_number(const char *p, const char *end, uint8_t *jtype, int64_t *v,
                                    int32_t *err)
{
	bool neg = false, big = false;
	uint64_t acc = 0;
	unsigned d;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (p >= end)
		return NULL;
	if (*p == '0') {
		p++;
	} else if ((unsigned)(*p - '1') < 9) {
		/* Past 19 digits it is out of range anyway: stop accumulating, keep scanning. */
		while (p < end && (d = (unsigned)(*p - '0')) <= 9) {
			if (acc >= 1000000000000000000ull)
				big = true;
			else
				acc = acc * 10 + d;
			p++;
		}
	} else {
		return NULL;
	}
	*jtype = MD_J_INT;
	if (p < end && *p == '.') {
		const char *f = ++p;
		while (p < end && (unsigned)(*p - '0') <= 9)
			p++;
		if (p == f)
			return NULL;
		*jtype = MD_J_FLOAT;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		const char *x = p;
		while (p < end && (unsigned)(*p - '0') <= 9)
			p++;
		if (p == x)
			return NULL;
		*jtype = MD_J_FLOAT;
	}
	*v = 0;
	*err = 0;
	if (*jtype == MD_J_INT) {
		if (neg || big || acc > (uint64_t)INT64_MAX)
			*err = -ERANGE;
		else
			*v = (int64_t)acc;
	}
	return p;
}

/* p is at 't', 'f' or 'n'. Returns the pointer past the literal, or NULL. */
static inline const char *md_literal(const char *p, const char *end, uint8_t *jtype)
{
	uint8_t lit = 0;

	p = tl_json_literal_end(p, end, &lit);
	*jtype = lit == TL_JSON_TRUE ? MD_J_TRUE : lit == TL_JSON_FALSE ? MD_J_FALSE : MD_J_NULL;
	return p;
}

/* --------------------------------------------------------------------------------------
 * Decimals.
 * -------------------------------------------------------------------------------------- */

extern const uint64_t md_pow10[TL_MD_DEC_MAX_DECIMALS + 2];

/*
 * SWAR digit helpers. x holds 8 input bytes loaded little-endian, so the first byte is
 * the lowest: the first digit of a number is the most significant, and a left shift of x
 * puts zero digits in front of it.
 */

/* The high bit of each byte of x that is not an ASCII digit. The bytes are split into
 * their top bit and 7 low bits first, so that no addition carries into the next byte. */
static inline uint64_t md_swar_nondigits(uint64_t x)
{
	const uint64_t hi = 0x8080808080808080ull;
	uint64_t lo = x & ~hi;
	uint64_t above_9 = lo + 0x4646464646464646ull; /* top bit set iff lo >= 0x3a */
	uint64_t from_0 = lo + 0x5050505050505050ull;  /* top bit set iff lo >= 0x30 */

	return (x | above_9 | ~from_0) & hi;
}

/* The value of the 8 digits in d, bytes 0..9 (ASCII minus '0'), byte 0 the most
 * significant: three multiply-and-mask steps combine pairs, quads, then all 8. */
static inline uint64_t md_swar_value(uint64_t d)
{
	d = (d * 10 + (d >> 8)) & 0x00ff00ff00ff00ffull;
	d = (d * 100 + (d >> 16)) & 0x0000ffff0000ffffull;
	return (d * 10000 + (d >> 32)) & 0xffffffffull;
}

/* The value of the first n (1..8) digits of d. */
static inline uint64_t md_swar_first(uint64_t d, unsigned n)
{
	return md_swar_value(d << (8 * (8 - n)));
}

/* Whether any of digits take..n-1 of d (0 <= take <= n <= 8) is not zero: the digits a
 * decimal has past its scale, which must all be zeros. */
static inline bool md_swar_nonzero_past(uint64_t d, unsigned take, unsigned n)
{
	if (n == take)
		return false;
	d >>= 8 * take;
	if (n - take < 8)
		d &= (1ull << (8 * (n - take))) - 1;
	return d != 0;
}

static inline uint64_t md_load64(const char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

/* md_skip_levels for input not as the venue writes it: p at the '[' of a level inside a
 * level array; every value is skipped with its grammar checked (tl_json_skip_value,
 * strings included). Returns past the array's ']', or NULL on bad JSON or at the end. */
static inline const char *md_skip_levels_checked(const char *p, const char *end)
{
	for (;;) {
		if ((p = tl_json_skip_value(p, end, 1, TL_MD_MAX_DEPTH)) == NULL)
			return NULL;
		p = tl_json_ws(p, end);
		if (p < end && *p == ']')
			return p + 1;
		if (p >= end || *p != ',')
			return NULL;
		p = tl_json_ws(p + 1, end);
	}
}

/*
 * p is at the '[' of a level inside a level array. Returns the pointer past the ']' that
 * closes the array, or NULL when the input ends first. Strings are not looked into: a
 * level's strings are decimals, with no bracket in them, and whoever converts the skipped
 * bytes later (tl_md_parse_tail) checks every one, so a bracket in a string cannot pass
 * unseen.
 *
 * As the venue writes them, with no whitespace, every level's ']' is followed by ',' but
 * the last one's, which is followed by the array's own ']'. So the first ']' not followed
 * by ',' ends the array when a ']' follows it; with SSE2 that is two compares a 16 bytes.
 * Anything else (whitespace, say) goes through the JSON skipper, value by value. Back to
 * back, events of about 30 levels parsed top first took 275 ns with this skip, 340 ns
 * with a bracket count, and 570 ns converted whole (README, parsing top first).
 */
static inline const char *md_skip_levels(const char *p, const char *end)
{
	const char *q = p;

#if defined(__SSE2__)
	const __m128i close = _mm_set1_epi8(']'), comma = _mm_set1_epi8(',');

	for (; end - q >= 17; q += 16) {
		__m128i here = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i next = _mm_loadu_si128((const __m128i *)(const void *)(q + 1));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(here, close)) &
		             ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(next, comma));

		if (m) {
			q += __builtin_ctz(m);
			return q[1] == ']' ? q + 2 : md_skip_levels_checked(p, end);
		}
	}
#endif
	for (; end - q >= 2; q++) {
		if (*q == ']' && q[1] != ',')
			return q[1] == ']' ? q + 2 : md_skip_levels_checked(p, end);
	}
	return md_skip_levels_checked(p, end);
}

/* v = v * 10^n + add, noting a wrap of the uint64 in *big (sticky). */
static inline uint64_t md_dec_push(uint64_t v, unsigned n, uint64_t add, bool *big)
{
	if (__builtin_mul_overflow(v, md_pow10[n], &v) || __builtin_add_overflow(v, add, &v))
		*big = true;
	return v;
}

/*
 * The shape every price and quantity from the venue has, "61737.63000000": 1 to 7 integer
 * digits, a point, then 1 to 8 fraction digits and a non-digit. Two loads and two SWAR
 * conversions, with no overflow check needed (the value is below 10^7 x 10^8 + 10^8).
 * Returns the pointer past the last fraction digit, with *out set; or NULL for any other
 * shape, and when a fraction digit past `decimals` is not zero (md_dec_scan then takes it
 * the general way, and decides). Reads 17 bytes from p; decimals at most 8.
 */
static inline const char *md_dec_fast(const char *p, int decimals, int64_t *out)
{
	const uint64_t zeros = 0x3030303030303030ull;
	uint64_t x = md_load64(p), nd = md_swar_nondigits(x), y, v;
	unsigned ni, nf, take;
	const char *f;

	if (nd == 0)
		return NULL; /* 8 integer digits or more */
	ni = (unsigned)__builtin_ctzll(nd) >> 3;
	if (ni == 0 || p[ni] != '.')
		return NULL;
	f = p + ni + 1;
	y = md_load64(f);
	nd = md_swar_nondigits(y);
	if (nd == 0 && (unsigned)(f[8] - '0') <= 9)
		return NULL; /* 9 fraction digits or more */
	nf = nd ? (unsigned)__builtin_ctzll(nd) >> 3 : 8;
	if (nf == 0)
		return NULL;
	take = nf < (unsigned)decimals ? nf : (unsigned)decimals;
	if (md_swar_nonzero_past(y ^ zeros, take, nf))
		return NULL;
	v = md_swar_first(x ^ zeros, ni) * md_pow10[decimals];
	if (take > 0)
		v += md_swar_first(y ^ zeros, take) * md_pow10[(unsigned)decimals - take];
	*out = (int64_t)v;
	return f + nf;
}

/*
 * Scans the longest prefix of [p, end) of the form digits ['.' digits] and converts it at
 * `decimals` places (0..18, not checked here). Returns the pointer to the first byte not
 * taken; the caller decides whether that byte may end a decimal (end of input for
 * tl_md_dec_parse, the closing quote in a message). *err: 0, or the first of -EINVAL
 * (no integer digit, or a point with no digit after it), -EDOM, -ERANGE. *out is set
 * when *err is 0.
 *
 * This is the inner loop of the whole module (two per level). While 8 bytes remain it
 * takes them at once: the non-digit mask finds where the digit run ends, and one SWAR
 * conversion gives its value, so "61737.63000000" costs two conversions and no
 * per-digit branch. Only the last bytes of the input go one at a time.
 */
static inline const char *md_dec_scan(const char *p, const char *end, int decimals, int64_t *out,
                                      int32_t *err)
{
	const uint64_t zeros = 0x3030303030303030ull;
	const char *s = p, *f;
	uint64_t v = 0;
	bool big = false, inexact = false;
	unsigned want = (unsigned)decimals, d;

	if (end - p >= 17 && decimals <= 8 && (f = md_dec_fast(p, decimals, out)) != NULL) {
		*err = 0;
		return f;
	}

	/* Integer part. A wrap of v is noted in `big`; past that v means nothing. */
	for (;;) {
		if (end - p < 8) {
			while (p < end && (d = (unsigned)(*p - '0')) <= 9) {
				v = md_dec_push(v, 1, d, &big);
				p++;
			}
			break;
		}
		uint64_t x = md_load64(p), nd = md_swar_nondigits(x);
		unsigned n = nd ? (unsigned)__builtin_ctzll(nd) >> 3 : 8;

		if (n > 0)
			v = md_dec_push(v, n, md_swar_first(x ^ zeros, n), &big);
		p += n;
		if (n < 8)
			break;
	}
	if (p == s) {
		*err = -EINVAL;
		return p;
	}
	if (p < end && *p == '.') {
		f = ++p;
		/* Fraction: the first `want` digits count, the rest must be zeros. */
		for (;;) {
			if (end - p < 8) {
				while (p < end && (d = (unsigned)(*p - '0')) <= 9) {
					if (want > 0) {
						v = md_dec_push(v, 1, d, &big);
						want--;
					} else {
						inexact |= d != 0;
					}
					p++;
				}
				break;
			}
			uint64_t x = md_load64(p), nd = md_swar_nondigits(x);
			unsigned n = nd ? (unsigned)__builtin_ctzll(nd) >> 3 : 8;
			unsigned take = n < want ? n : want;

			if (take > 0)
				v = md_dec_push(v, take, md_swar_first(x ^ zeros, take), &big);
			/* Digits take..n-1 are past the scale: any non-zero is inexact. */
			inexact |= md_swar_nonzero_past(x ^ zeros, take, n);
			want -= take;
			p += n;
			if (n < 8)
				break;
		}
		if (p == f) {
			*err = -EINVAL;
			return p;
		}
	}
	if (inexact) {
		*err = -EDOM;
		return p;
	}
	if (want > 0)
		v = md_dec_push(v, want, 0, &big);
	if (big || v > (uint64_t)INT64_MAX) {
		*err = -ERANGE;
		return p;
	}
	*err = 0;
	*out = (int64_t)v;
	return p;
}

/* Decimals of the scale for md_key_dec()'s answer. */
static inline int md_scale_for(const struct tl_md_parser *p, int which)
{
	return which == 1 ? p->cfg.scale.px_decimals : p->cfg.scale.qty_decimals;
}

/*
 * Converts a string value (its content c[0..n), escapes in it per `esc`) for `key` into
 * its slot: the decimal fields, "e" and "s". Both parsers use this for every string
 * value but the levels'; the scanner has its own fused copy of the decimal case for
 * speed, which must give the same slot (the fuzz target checks that it does).
 */
static inline void md_slot_string(const struct tl_md_parser *p, struct md_fields *f, int key,
                                  const char *c, size_t n, bool esc)
{
	struct md_slot *s = &f->slot[key];
	int which;

	s->jtype = MD_J_STRING;
	s->err = 0;
	s->v = 0;
	if (key == MD_K_e) {
		if (esc)
			s->err = -EBADMSG;
		else if (n == 11 && memcmp(c, "depthUpdate", 11) == 0)
			s->v = MD_EV_DEPTH;
		else if (n == 5 && memcmp(c, "trade", 5) == 0)
			s->v = MD_EV_TRADE;
		else
			s->v = MD_EV_OTHER;
	} else if (key == MD_K_s) {
		if (esc || n == 0 || n > TL_MD_SYMBOL_MAX) {
			s->err = -EBADMSG;
		} else {
			f->sym = c;
			f->sym_len = (uint32_t)n;
		}
	} else if ((which = md_key_dec(key)) != 0) {
		int64_t v = 0;
		int32_t err;
		const char *stop = md_dec_scan(c, c + n, md_scale_for(p, which), &v, &err);

		if (esc || stop != c + n || err == -EINVAL)
			s->err = -EBADMSG;
		else if (err)
			s->err = err;
		else
			s->v = v;
	}
}

/* Prefetch hints for the feed's idle rounds (tl_md_feed_idle): what the next live event
 * writes first. The parser: its state and the first levels of the depth arrays. The sync:
 * its state, where it copies the tails, and its book's top (tl_book_prefetch_top). */
void md_parser_prefetch(const tl_md_parser_t *p);
void md_sync_prefetch(const tl_md_sync_t *s);

#endif /* MD_INTERNAL_H */
