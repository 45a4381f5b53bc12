/*
 * tl_error.h: tally's error numbers.
 *
 * Every call that can fail returns 0 (or a count) on success and a negative number on
 * failure, as liburing does. A negative number above TL_E_BASE is a negated errno(3); the
 * codes below are tally's own, for failures errno has no word for. tl_strerror() names
 * both kinds.
 */
#ifndef TL_ERROR_H
#define TL_ERROR_H

/* tally's own codes occupy [TL_E_LAST, TL_E_BASE]; errno values never reach that far. */
#define TL_E_BASE (-10000)

enum tl_error {
	TL_E_SCHEMA = TL_E_BASE,           /* the database has an unknown or newer schema version */
	TL_E_NOT_LEDGER = TL_E_BASE - 1,   /* the directory holds an LMDB that is not a ledger */
	TL_E_CORRUPT = TL_E_BASE - 2,      /* stored data does not decode */
	TL_E_MAP_CAP = TL_E_BASE - 3,      /* the map reached its configured maximum size */
	TL_E_STOPPED = TL_E_BASE - 4,      /* intake stopped after a storage failure */
	TL_E_LMDB = TL_E_BASE - 5,         /* an LMDB-specific failure (see the log line) */
	TL_E_MAP_FULL = TL_E_BASE - 6,     /* the LMDB map is full; the ledger grows it */
	TL_E_TLS = TL_E_BASE - 7,          /* a TLS failure with no more specific code */
	TL_E_TLS_EXPIRED = TL_E_BASE - 8,  /* the peer's certificate is expired or not yet valid */
	TL_E_TLS_HOSTNAME = TL_E_BASE - 9, /* the peer's certificate is for another name */
	TL_E_TLS_UNKNOWN_CA = TL_E_BASE - 10, /* the peer's certificate chains to no trusted CA */
	TL_E_WS_HANDSHAKE = TL_E_BASE - 11,   /* the WebSocket upgrade was refused or invalid */
	TL_E_LAST = TL_E_BASE - 11,
};

/*
 * A static, human-readable description of `err` (a negative errno or a TL_E_* code); a
 * positive value is treated as its negation. Never returns NULL.
 * Thread: any (the strings are constant). Blocks: no.
 */
const char *tl_strerror(int err);

#endif /* TL_ERROR_H */
