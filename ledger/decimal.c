/*
 * decimal.c: exact decimal strings <-> integer units. No floating point anywhere: an
 * amount is a mantissa and a count of fraction digits until it meets an asset, and then
 * an int64 count of that asset's smallest unit.
 */
#include "ledger_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

static const int64_t pow10_table[TL_LEDGER_DECIMALS_MAX + 1] = {
    1LL,
    10LL,
    100LL,
    1000LL,
    10000LL,
    100000LL,
    1000000LL,
    10000000LL,
    100000000LL,
    1000000000LL,
    10000000000LL,
    100000000000LL,
    1000000000000LL,
    10000000000000LL,
    100000000000000LL,
    1000000000000000LL,
    10000000000000000LL,
    100000000000000000LL,
    1000000000000000000LL,
};

int tl_ledger_dec_parse(const char *s, size_t len, tl_ledger_dec_t *out)
{
	size_t i = 0;
	bool negative = false;
	if (len > 0 && s[0] == '-') {
		negative = true;
		i = 1;
	}
	size_t int_start = i, dot = len;
	for (size_t j = i; j < len; j++) {
		if (s[j] == '.' && dot == len)
			dot = j;
		else if (s[j] < '0' || s[j] > '9')
			return -EINVAL; /* a second '.', an exponent, a space, a '+' */
	}
	/* Digits before the dot are required, and after it when there is one: ".5" and
	 * "5." are not how venues write numbers, so they are more likely a bug upstream. */
	if (dot == int_start || (dot < len && dot + 1 == len) || int_start == len)
		return -EINVAL;
	size_t frac_end = len;
	if (dot < len)
		while (frac_end > dot + 1 && s[frac_end - 1] == '0')
			frac_end--; /* trailing zeros are not precision */
	size_t frac = dot < len ? frac_end - (dot + 1) : 0;
	if (frac > TL_LEDGER_DECIMALS_MAX)
		return -ERANGE;
	uint64_t mag = 0;
	for (size_t j = int_start; j < frac_end; j++) {
		if (j == dot)
			continue;
		if (__builtin_mul_overflow(mag, 10u, &mag) ||
		    __builtin_add_overflow(mag, (uint64_t)(s[j] - '0'), &mag))
			return -ERANGE;
	}
	if (mag > (uint64_t)INT64_MAX)
		return -ERANGE;
	out->mantissa = negative ? -(int64_t)mag : (int64_t)mag;
	out->scale = mag == 0 ? 0 : (int32_t)frac;
	out->pad_ = 0;
	return 0;
}

int tl_ledger_dec_to_units(tl_ledger_dec_t d, unsigned decimals, int64_t *units)
{
	if (d.scale < 0 || d.scale > TL_LEDGER_DECIMALS_MAX || decimals > TL_LEDGER_DECIMALS_MAX)
		return TL_LEDGER_R_BAD_FIELD;
	int64_t m = d.mantissa;
	int scale = d.scale;
	/* A caller may hand over "1.50" unnormalised; trailing zeros are not precision. */
	while (scale > (int)decimals && m % 10 == 0) {
		m /= 10;
		scale--;
	}
	if (scale > (int)decimals)
		return TL_LEDGER_R_PRECISION;
	if (__builtin_mul_overflow(m, pow10_table[decimals - (unsigned)scale], units))
		return TL_LEDGER_R_OVERFLOW;
	return 0;
}

int tl_ledger_units_format(int64_t units, unsigned decimals, char *buf, size_t size)
{
	assert(decimals <= TL_LEDGER_DECIMALS_MAX);
	/* Work in uint64 so INT64_MIN has a magnitude. */
	uint64_t mag = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
	uint64_t p = (uint64_t)pow10_table[decimals];
	uint64_t whole = mag / p, frac = mag % p;
	if (decimals == 0)
		return snprintf(buf, size, "%s%" PRIu64, units < 0 ? "-" : "", whole);
	return snprintf(buf, size, "%s%" PRIu64 ".%0*" PRIu64, units < 0 ? "-" : "", whole,
	                (int)decimals, frac);
}
