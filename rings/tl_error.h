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
	TL_E_SCHEMA = TL_E_BASE,         /* the database has an unknown or newer schema version */
	TL_E_NOT_LEDGER = TL_E_BASE - 1, /* the directory holds an LMDB that is not a ledger */
	TL_E_CORRUPT = TL_E_BASE - 2,    /* stored data does not decode */
	TL_E_MAP_CAP = TL_E_BASE - 3,    /* the map reached its configured maximum size */
	TL_E_STOPPED = TL_E_BASE - 4,    /* intake stopped after a storage failure */
	TL_E_LMDB = TL_E_BASE - 5,       /* an LMDB-specific failure (see the log line) */
	TL_E_MAP_FULL = TL_E_BASE - 6,   /* the LMDB map is full; the ledger grows it */
	TL_E_LAST = TL_E_BASE - 6,
};

/*
 * A static, human-readable description of `err` (a negative errno or a TL_E_* code); a
 * positive value is treated as its negation. Never returns NULL.
 * Thread: any (the strings are constant). Blocks: no.
 */
const char *tl_strerror(int err);

#endif /* TL_ERROR_H */
