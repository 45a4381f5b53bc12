/*
 * utf8_ref.h: UTF-8 validity as RFC 3629 states it, decoded scalar by scalar. It is the
 * reference that the unit test and the fuzz target hold io/utf8.c's automaton to, so it
 * is written the plain way, sharing nothing with the code under test.
 */
#ifndef TL_TEST_UTF8_REF_H
#define TL_TEST_UTF8_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 3629 read literally: decode each scalar, then refuse what the RFC forbids. */
static inline bool ref_utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b = p[i];
		uint32_t cp, min;
		size_t more;

		if (b < 0x80) {
			i++;
			continue;
		} else if ((b & 0xe0) == 0xc0) {
			cp = b & 0x1f;
			more = 1;
			min = 0x80;
		} else if ((b & 0xf0) == 0xe0) {
			cp = b & 0x0f;
			more = 2;
			min = 0x800;
		} else if ((b & 0xf8) == 0xf0) {
			cp = b & 0x07;
			more = 3;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < more)
			return false;
		for (size_t j = 1; j <= more; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

#endif /* TL_TEST_UTF8_REF_H */
