/*
 * utf8.c: the incremental UTF-8 validator (RFC 3629).
 *
 * DESIGN
 * A deterministic automaton over byte classes. Every byte maps to one of twelve classes,
 * and (state, class) gives the next state. The states in the middle of a character say
 * how many continuation bytes are still due and, right after the four lead bytes whose
 * second byte has a narrower range, which range that is:
 *
 *   E0  second byte A0..BF  (below: an overlong 3-byte form)
 *   ED  second byte 80..9F  (above: the surrogates U+D800..U+DFFF)
 *   F0  second byte 90..BF  (below: an overlong 4-byte form)
 *   F4  second byte 80..8F  (above: beyond U+10FFFF)
 *
 * C0, C1 (overlong 2-byte forms) and F5..FF (beyond U+10FFFF) are never valid.
 *
 * The state is the whole memory of the automaton, so a text cut anywhere (between
 * fragments, between reads) is validated by chaining calls. Text messages are mostly
 * ASCII JSON, so at a character boundary eight bytes at a time are tested for a high bit
 * and skipped when there is none.
 */
#include "tl_io.h"

#include <string.h>

/* Byte classes. */
enum {
	C_ASCII = 0, /* 00..7F */
	C_CONT_LO,   /* 80..8F */
	C_CONT_MID,  /* 90..9F */
	C_CONT_HI,   /* A0..BF */
	C_BAD,       /* C0, C1, F5..FF */
	C_LEAD2,     /* C2..DF */
	C_E0,        /* E0 */
	C_LEAD3,     /* E1..EC, EE, EF */
	C_ED,        /* ED */
	C_F0,        /* F0 */
	C_LEAD4,     /* F1..F3 */
	C_F4,        /* F4 */
	C_COUNT,
};

/* States beyond the two the header names. */
enum {
	S_ACCEPT = TL_UTF8_ACCEPT,
	S_REJECT = TL_UTF8_REJECT,
	S_NEED1, /* one continuation byte due */
	S_NEED2, /* two due */
	S_NEED3, /* three due */
	S_E0,    /* after E0: A0..BF, then one more */
	S_ED,    /* after ED: 80..9F, then one more */
	S_F0,    /* after F0: 90..BF, then two more */
	S_F4,    /* after F4: 80..8F, then two more */
	S_COUNT,
};

/*
 * The class of each byte, sixteen to a row. Kept out of clang-format so that each row
 * stays one high nibble.
 */
#define A C_ASCII
#define L C_CONT_LO
#define M C_CONT_MID
#define H C_CONT_HI
#define X C_BAD
#define T2 C_LEAD2
#define T3 C_LEAD3
#define T4 C_LEAD4
// clang-format off
static const uint8_t byte_class[256] = {
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 0x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 1x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 2x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 3x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 4x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 5x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 6x */
	A,    A,  A,  A,  A,    A,  A,  A,  A,  A,  A,  A,  A,  A,    A,  A,  /* 7x */
	L,    L,  L,  L,  L,    L,  L,  L,  L,  L,  L,  L,  L,  L,    L,  L,  /* 8x */
	M,    M,  M,  M,  M,    M,  M,  M,  M,  M,  M,  M,  M,  M,    M,  M,  /* 9x */
	H,    H,  H,  H,  H,    H,  H,  H,  H,  H,  H,  H,  H,  H,    H,  H,  /* Ax */
	H,    H,  H,  H,  H,    H,  H,  H,  H,  H,  H,  H,  H,  H,    H,  H,  /* Bx */
	X,    X,  T2, T2, T2,   T2, T2, T2, T2, T2, T2, T2, T2, T2,   T2, T2, /* Cx */
	T2,   T2, T2, T2, T2,   T2, T2, T2, T2, T2, T2, T2, T2, T2,   T2, T2, /* Dx */
	C_E0, T3, T3, T3, T3,   T3, T3, T3, T3, T3, T3, T3, T3, C_ED, T3, T3, /* Ex */
	C_F0, T4, T4, T4, C_F4, X,  X,  X,  X,  X,  X,  X,  X,  X,    X,  X,  /* Fx */
};
// clang-format on
#undef A
#undef L
#undef M
#undef H
#undef X
#undef T2
#undef T3
#undef T4

/* next_state[state][class]. */
#define R S_REJECT
#define OK S_ACCEPT
#define N1 S_NEED1
#define N2 S_NEED2
#define N3 S_NEED3
// clang-format off
static const uint8_t next_state[S_COUNT][C_COUNT] = {
	/*             ASCII CONT_LO CONT_MID CONT_HI BAD LEAD2 E0    LEAD3 ED    F0    LEAD4 F4 */
	[S_ACCEPT] = { OK,   R,      R,       R,      R,  N1,   S_E0, N2,   S_ED, S_F0, N3,   S_F4 },
	[S_REJECT] = { R,    R,      R,       R,      R,  R,    R,    R,    R,    R,    R,    R },
	[S_NEED1]  = { R,    OK,     OK,      OK,     R,  R,    R,    R,    R,    R,    R,    R },
	[S_NEED2]  = { R,    N1,     N1,      N1,     R,  R,    R,    R,    R,    R,    R,    R },
	[S_NEED3]  = { R,    N2,     N2,      N2,     R,  R,    R,    R,    R,    R,    R,    R },
	[S_E0]     = { R,    R,      R,       N1,     R,  R,    R,    R,    R,    R,    R,    R },
	[S_ED]     = { R,    N1,     N1,      R,      R,  R,    R,    R,    R,    R,    R,    R },
	[S_F0]     = { R,    R,      N2,      N2,     R,  R,    R,    R,    R,    R,    R,    R },
	[S_F4]     = { R,    N2,     R,       R,      R,  R,    R,    R,    R,    R,    R,    R },
};
// clang-format on
#undef R
#undef OK
#undef N1
#undef N2
#undef N3

#define HIGH_BITS UINT64_C(0x8080808080808080)

uint32_t tl_utf8_step(uint32_t state, const uint8_t *p, size_t len)
{
	size_t i = 0;

	/* A state from outside the automaton cannot be trusted to mean anything. */
	if (state >= S_COUNT)
		return TL_UTF8_REJECT;

	while (i < len) {
		if (state == S_ACCEPT) {
			uint64_t w;

			while (len - i >= 8) {
				memcpy(&w, p + i, 8);
				if (w & HIGH_BITS)
					break;
				i += 8;
			}
			while (i < len && p[i] < 0x80)
				i++;
			if (i == len)
				break;
		}
		state = next_state[state][byte_class[p[i]]];
		i++;
		if (state == S_REJECT)
			return TL_UTF8_REJECT;
	}
	return state;
}

bool tl_utf8_valid(const uint8_t *p, size_t len)
{
	return tl_utf8_step(TL_UTF8_ACCEPT, p, len) == TL_UTF8_ACCEPT;
}
