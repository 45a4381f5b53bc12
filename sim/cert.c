/*
 * cert.c: the TLS listener's certificate (sim_server_internal.h). A generated one is
 * self-signed: the client trusts it by being given the certificate itself as its CA
 * (tally's io layer takes a CA file), which is all a loopback test venue needs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

#include "sim_server_internal.h"
#include "tl_log.h"

#define DER_MAX 4096
#define PEM_MAX 8192

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	size_t n;
	int err;

	if (!f) {
		err = errno;
		tl_log(LOG_ERR, "sim", "%s: %s", path, strerror(err));
		return -err;
	}
	p = malloc(65536 + 1);
	if (!p) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(p, 1, 65536, f);
	fclose(f);
	if (n == 0 || n == 65536) {
		tl_log(LOG_ERR, "sim", "%s: empty, or larger than 64 KiB", path);
		free(p);
		return -EINVAL;
	}
	p[n] = 0;
	*out = p;
	*len = n;
	return 0;
}

/* subjectAltName's GeneralNames in DER: dNSName "localhost", iPAddress 127.0.0.1. */
static const unsigned char alt_names[] = {
    0x30, 0x11,                                              /* SEQUENCE */
    0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', /* [2] dNSName */
    0x87, 0x04, 127, 0,   0,   1,                            /* [7] iPAddress */
};

static char *der_to_pem(const unsigned char *der, int der_len, int type, size_t *len)
{
	char *pem = malloc(PEM_MAX);
	int n;

	if (!pem)
		return NULL;
	n = wc_DerToPem(der, (word32)der_len, (byte *)pem, PEM_MAX - 1, type);
	if (n <= 0) {
		free(pem);
		return NULL;
	}
	pem[n] = 0;
	*len = (size_t)n;
	return pem;
}

static int generate(const struct tl_sim_server_config *cfg, char **cert_pem, size_t *cert_len,
                    char **key_pem, size_t *key_len)
{
	unsigned char der[DER_MAX], key_der[512];
	WC_RNG rng;
	ecc_key key;
	Cert cert;
	int n, key_n, rc = -EIO;

	if (wc_InitRng(&rng) != 0)
		return -EIO;
	if (wc_ecc_init(&key) != 0) {
		wc_FreeRng(&rng);
		return -EIO;
	}
	if ((n = wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1)) != 0 ||
	    (n = wc_InitCert(&cert)) != 0)
		goto out;
	cert.sigType = CTC_SHA256wECDSA;
	cert.daysValid = 30;
	cert.selfSigned = 1;
	cert.isCA = 0;
	snprintf(cert.subject.commonName, CTC_NAME_SIZE, "localhost");
	snprintf(cert.subject.org, CTC_NAME_SIZE, "tally sim");
	memcpy(cert.altNames, alt_names, sizeof(alt_names));
	cert.altNamesSz = (int)sizeof(alt_names);
	if ((n = wc_MakeCert_ex(&cert, der, sizeof(der), ECC_TYPE, &key, &rng)) < 0)
		goto out;
	if ((n = wc_SignCert_ex(cert.bodySz, cert.sigType, der, sizeof(der), ECC_TYPE, &key,
	                        &rng)) < 0)
		goto out;
	if ((key_n = wc_EccKeyToDer(&key, key_der, sizeof(key_der))) < 0) {
		n = key_n;
		goto out;
	}
	*cert_pem = der_to_pem(der, n, CERT_TYPE, cert_len);
	*key_pem = der_to_pem(key_der, key_n, ECC_PRIVATEKEY_TYPE, key_len);
	explicit_bzero(key_der, sizeof(key_der));
	if (!*cert_pem || !*key_pem) {
		free(*cert_pem);
		free(*key_pem);
		rc = -ENOMEM;
		goto out;
	}
	rc = 0;
	if (cfg->tls_cert_out) {
		FILE *f = fopen(cfg->tls_cert_out, "wb");

		if (!f || fwrite(*cert_pem, 1, *cert_len, f) != *cert_len || fclose(f) != 0) {
			tl_log(LOG_ERR, "sim", "cannot write the certificate to %s: %s",
			       cfg->tls_cert_out, strerror(errno));
			rc = -EIO;
		}
	}
out:
	if (rc == -EIO && n < 0)
		tl_log(LOG_ERR, "sim", "generating the TLS certificate failed: %s",
		       wc_GetErrorString(n));
	wc_ecc_free(&key);
	wc_FreeRng(&rng);
	return rc;
}

int sim_tls_material(const struct tl_sim_server_config *cfg, char **cert_pem, size_t *cert_len,
                     char **key_pem, size_t *key_len)
{
	int rc;

	*cert_pem = *key_pem = NULL;
	if (!cfg->tls_cert_file != !cfg->tls_key_file) {
		tl_log(LOG_ERR, "sim", "TLS: give both a certificate and a key file, or neither");
		return -EINVAL;
	}
	if (!cfg->tls_cert_file)
		return generate(cfg, cert_pem, cert_len, key_pem, key_len);
	rc = read_file(cfg->tls_cert_file, cert_pem, cert_len);
	if (rc)
		return rc;
	rc = read_file(cfg->tls_key_file, key_pem, key_len);
	if (rc) {
		free(*cert_pem);
		*cert_pem = NULL;
	}
	return rc;
}
