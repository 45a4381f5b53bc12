/*
 * tl_test.h: the few checks every test program uses. A failed check prints where and what,
 * then exits 1; CTest treats exit 77 as "skipped".
 */
#ifndef TL_TEST_H
#define TL_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define TL_TEST_SKIP 77

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n",          \
			        __FILE__, __LINE__, #a, #b, check_a_, check_b_);                   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#if defined(__SANITIZE_THREAD__) || defined(TALLY_TSAN)
#define TL_TEST_UNDER_TSAN 1
#else
#define TL_TEST_UNDER_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TL_TEST_UNDER_ASAN 1
#else
#define TL_TEST_UNDER_ASAN 0
#endif

#endif /* TL_TEST_H */
