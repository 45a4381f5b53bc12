/* error.c: names for tally's error numbers (tl_error.h). */
#include "tl_error.h"

#include <string.h>

const char *tl_strerror(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case TL_E_SCHEMA:
		return "unknown or newer ledger schema version";
	case TL_E_NOT_LEDGER:
		return "not a tally ledger database";
	case TL_E_CORRUPT:
		return "stored data is corrupt";
	case TL_E_MAP_CAP:
		return "ledger map reached its configured maximum size";
	case TL_E_STOPPED:
		return "ledger intake stopped after a storage failure";
	case TL_E_MAP_FULL:
		return "LMDB map full";
	case TL_E_LMDB:
		return "LMDB failure";
	case TL_E_TLS:
		return "TLS failure";
	case TL_E_TLS_EXPIRED:
		return "TLS: certificate expired or not yet valid";
	case TL_E_TLS_HOSTNAME:
		return "TLS: certificate hostname mismatch";
	case TL_E_TLS_UNKNOWN_CA:
		return "TLS: certificate signed by an unknown CA";
	case TL_E_WS_HANDSHAKE:
		return "WebSocket upgrade refused or invalid";
	default:
		break;
	}
	if (err <= TL_E_BASE)
		return "unknown tally error";
	/* strerror() is thread-safe for known values in glibc, which returns constants. */
	return strerror(-err);
}
