/*
 * sim_server_internal.h: what server.c needs from the other files of sim/ that are not
 * the wire codecs (sim_wire.h).
 */
#ifndef TL_SIM_SERVER_INTERNAL_H
#define TL_SIM_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * A capture played back as one market's background liquidity (replay.c).
 *
 * sim_replay_open() opens the capture files (tl_md.h's formats), plays them until
 * `symbol`'s book is live (parsed at px_decimals / qty_decimals: the market's scale), and
 * stores that book's best bid in *first_bid, for the market's start price. Returns 0, or
 * -ENODATA (no live book with a bid for the symbol in the files; logged), -EINVAL,
 * -ENOMEM, or a file's error (logged). The paths must outlive the replay.
 *
 * sim_replay_slice() plays the capture up to the sim's clock now_ms (capture time runs
 * `speed` times as fast, from the first slice) and describes what happened in *step, for
 * tl_sim_market_replay_step(); the step points into the replay, valid until the next
 * slice. At the end of the files the capture starts over (logged). Returns 0 or a read
 * error (logged).
 *
 * sim_replay_close() frees it (NULL is ignored). Thread: the server's. Blocks: on file
 * reads (buffered; a slice of 100 ms reads a few KB).
 */
struct sim_replay;
int sim_replay_open(struct sim_replay **out, char *const paths[], size_t n, const char *symbol,
                    int px_decimals, int qty_decimals, uint32_t speed, tl_px_t *first_bid);
int sim_replay_slice(struct sim_replay *r, int64_t now_ms, struct tl_sim_replay_step *step);
/* How many times the capture was started (1 until it first loops). */
uint64_t sim_replay_passes(const struct sim_replay *r);
void sim_replay_close(struct sim_replay *r);

#endif /* TL_SIM_SERVER_INTERNAL_H */
