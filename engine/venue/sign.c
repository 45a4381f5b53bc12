/*
 * sign.c: HMAC-SHA256 with precomputed key states (tl_venue.h, "Signing").
 *
 * HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key padded (or first hashed)
 * to one 64-byte block. The two prefixes are one block each and depend only on the key,
 * so the SHA-256 state after each is computed once, in create. A signature copies the
 * inner state, absorbs the payload, finishes; copies the outer state, absorbs the 32-byte
 * inner digest, finishes. wolfSSL's wc_HmacSetKey+Update+Final redoes both key blocks
 * (two compressions, plus the key schedule) on every call.
 */
#include "tl_venue.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tl_venue_signer {
	wc_Sha256 inner; /* after absorbing K' ^ 0x36.. */
	wc_Sha256 outer; /* after absorbing K' ^ 0x5c.. */
};

/* memset that the compiler may not drop as a dead store (the key states are secrets). */
static void wipe(void *p, size_t n)
{
	static void *(*const volatile do_memset)(void *, int, size_t) = memset;

	do_memset(p, 0, n);
}

int tl_venue_signer_create(tl_venue_signer_t **out, const void *key, size_t len)
{
	uint8_t block[WC_SHA256_BLOCK_SIZE], pad[WC_SHA256_BLOCK_SIZE];
	struct tl_venue_signer *s;
	wc_Sha256 h;
	int r = -EIO;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (key == NULL || len == 0 || len > UINT32_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;

	memset(block, 0, sizeof(block));
	if (len > WC_SHA256_BLOCK_SIZE) {
		/* RFC 2104: a key longer than a block is replaced by its hash. */
		if (wc_InitSha256(&h) != 0)
			goto err;
		if (wc_Sha256Update(&h, key, (word32)len) != 0 || wc_Sha256Final(&h, block) != 0) {
			wc_Sha256Free(&h);
			goto err;
		}
		wc_Sha256Free(&h);
	} else {
		memcpy(block, key, len);
	}

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = block[i] ^ 0x36;
	if (wc_InitSha256(&s->inner) != 0)
		goto err;
	if (wc_Sha256Update(&s->inner, pad, sizeof(pad)) != 0)
		goto err_inner;
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = block[i] ^ 0x5c;
	if (wc_InitSha256(&s->outer) != 0)
		goto err_inner;
	if (wc_Sha256Update(&s->outer, pad, sizeof(pad)) != 0)
		goto err_outer;
	wipe(block, sizeof(block));
	wipe(pad, sizeof(pad));
	*out = s;
	return 0;

err_outer:
	wc_Sha256Free(&s->outer);
err_inner:
	wc_Sha256Free(&s->inner);
err:
	wipe(block, sizeof(block));
	wipe(pad, sizeof(pad));
	wipe(s, sizeof(*s));
	free(s);
	return r;
}

void tl_venue_signer_destroy(tl_venue_signer_t *s)
{
	if (s == NULL)
		return;
	wc_Sha256Free(&s->inner);
	wc_Sha256Free(&s->outer);
	wipe(s, sizeof(*s));
	free(s);
}

static const char hex_digits[16] = "0123456789abcdef";

int tl_venue_sign(const tl_venue_signer_t *s, const void *payload, size_t len,
                  char hex[TL_VENUE_SIG_HEX_LEN + 1])
{
	uint8_t digest[WC_SHA256_DIGEST_SIZE];
	wc_Sha256 h;
	int r = 0;

	if (s == NULL || (payload == NULL && len > 0) || hex == NULL || len > UINT32_MAX)
		return -EINVAL;
	/* wc_Sha256Copy only reads its source; its prototype lacks the const. */
	if (wc_Sha256Copy((wc_Sha256 *)&s->inner, &h) != 0)
		return -EIO;
	if ((len > 0 && wc_Sha256Update(&h, payload, (word32)len) != 0) ||
	    wc_Sha256Final(&h, digest) != 0)
		r = -EIO;
	wc_Sha256Free(&h);
	if (r != 0)
		return r;
	if (wc_Sha256Copy((wc_Sha256 *)&s->outer, &h) != 0)
		return -EIO;
	if (wc_Sha256Update(&h, digest, sizeof(digest)) != 0 || wc_Sha256Final(&h, digest) != 0)
		r = -EIO;
	wc_Sha256Free(&h);
	if (r != 0)
		return r;
	for (size_t i = 0; i < sizeof(digest); i++) {
		hex[2 * i] = hex_digits[digest[i] >> 4];
		hex[2 * i + 1] = hex_digits[digest[i] & 0xf];
	}
	hex[TL_VENUE_SIG_HEX_LEN] = '\0';
	return 0;
}
