/*
 * sim_server_internal.h: what server.c needs from the other files of sim/ that are not
 * the wire codecs (sim_wire.h).
 */
#ifndef TL_SIM_SERVER_INTERNAL_H
#define TL_SIM_SERVER_INTERNAL_H

#include <stddef.h>

#include "tl_sim_server.h"

/*
 * The certificate and private key the TLS listener presents, in PEM, into malloc'd
 * buffers the caller frees (wiping the key). From cfg's tls_cert_file / tls_key_file when
 * set; else a fresh self-signed ECDSA P-256 certificate for CN and SAN "localhost" and
 * SAN 127.0.0.1, valid 30 days, made with wolfSSL, and written (the certificate only) to
 * cfg->tls_cert_out when that is set, so clients can trust it.
 * Returns 0, or -EIO (wolfSSL failed; logged), -ENOENT / -EACCES (a file), -ENOMEM.
 * Thread: any. Blocks: file I/O.
 */
int sim_tls_material(const struct tl_sim_server_config *cfg, char **cert_pem, size_t *cert_len,
                     char **key_pem, size_t *key_len);

#endif /* TL_SIM_SERVER_INTERNAL_H */
