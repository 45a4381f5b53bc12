/*
 * sign.c: HMAC-SHA256 with precomputed key states (tl_venue.h, "Signing").
 *
 * HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key padded (or first hashed)
 * to one 64-byte block. The two prefixes are one block each and depend only on the key;
 * nettle's hmac_sha256_set_key absorbs them once, in create, and keeps the two states. A
 * signature copies that context to the stack and finishes there, so the signer itself is
 * only read and threads may share it.
 *
 * Why nettle rather than wolfSSL, which does TLS and the ledger's hash chain: the order
 * path signs every order.place, and Debian's wolfSSL is built without its x86 assembly,
 * so each SHA-256 block costs a few thousand instructions in portable C. Debian's nettle
 * is a "fat" build that picks the CPU's SHA extensions (sha256rnds2) at run time, and
 * falls back to its own portable code where there are none.
 */
#include "tl_venue.h"

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tl_venue_signer {
	struct hmac_sha256_ctx key; /* the inner and outer states after the key blocks */
};

/* memset that the compiler may not drop as a dead store (the key states are secrets). */
static void wipe(void *p, size_t n)
{
	static void *(*const volatile do_memset)(void *, int, size_t) = memset;

	do_memset(p, 0, n);
}

int tl_venue_signer_create(tl_venue_signer_t **out, const void *key, size_t len)
{
	struct tl_venue_signer *s;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (key == NULL || len == 0 || len > UINT32_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	/* A key longer than a block is hashed first (RFC 2104): nettle does that itself. */
	hmac_sha256_set_key(&s->key, len, key);
	*out = s;
	return 0;
}

void tl_venue_signer_destroy(tl_venue_signer_t *s)
{
	if (s == NULL)
		return;
	wipe(s, sizeof(*s));
	free(s);
}

/* Each byte's two hex digits, built at compile time: one 2-byte copy a byte of the
 * digest, on every request. */
#define HEX_DIGIT(n) ((n) < 10 ? '0' + (n) : 'a' - 10 + (n))
#define HEX1(b)                                                                                    \
	{                                                                                          \
		HEX_DIGIT((b) >> 4), HEX_DIGIT((b)&15)                                             \
	}
#define HEX4(b) HEX1(b), HEX1((b) + 1), HEX1((b) + 2), HEX1((b) + 3)
#define HEX16(b) HEX4(b), HEX4((b) + 4), HEX4((b) + 8), HEX4((b) + 12)
#define HEX64(b) HEX16(b), HEX16((b) + 16), HEX16((b) + 32), HEX16((b) + 48)
static const char hex_pairs[256][2] = {HEX64(0), HEX64(64), HEX64(128), HEX64(192)};
#undef HEX64
#undef HEX16
#undef HEX4
#undef HEX1
#undef HEX_DIGIT

int tl_venue_sign(const tl_venue_signer_t *s, const void *payload, size_t len,
                  char hex[TL_VENUE_SIG_HEX_LEN + 1])
{
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct hmac_sha256_ctx h;

	if (s == NULL || (payload == NULL && len > 0) || hex == NULL || len > UINT32_MAX)
		return -EINVAL;
	memcpy(&h, &s->key, sizeof(h));
	if (len > 0)
		hmac_sha256_update(&h, len, payload);
	/* The copy is not wiped: it is no more secret than the signer it came from, which
	 * lives as long as the process, and this is the order path. */
	hmac_sha256_digest(&h, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		memcpy(hex + 2 * i, hex_pairs[digest[i]], 2);
	hex[TL_VENUE_SIG_HEX_LEN] = '\0';
	return 0;
}
