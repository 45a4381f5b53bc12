/*
 * tl_sim_server.h: `tally sim`, the venue simulator on the network. It serves the Binance
 * Spot protocol (../shared/PROTOCOL.md) on one loopback port, in front of the matching
 * engine of tl_sim_engine.h:
 *
 *   WebSocket market data   /ws/<stream>  and  /stream?streams=<a>/<b>/..   where a stream is
 *                           <symbol>@depth@100ms, <symbol>@depth, <symbol>@bookTicker or
 *                           <symbol>@trade (symbol in lower case). Every md interval, each
 *                           market's walk takes one step and its events go out.
 *   WebSocket API           /ws-api/v3: order.place, order.cancel, order.status,
 *                           openOrders.cancelAll, openOrders.status,
 *                           userDataStream.subscribe.signature, myTrades, account.status,
 *                           ping, time, exchangeInfo, depth. User-data events follow a
 *                           subscription on the same connection.
 *   REST                    GET /api/v3/depth, /exchangeInfo, /time, /ping, and signed
 *                           GET /api/v3/myTrades, /openOrders, /order, /account.
 *
 * Signed requests carry apiKey (REST: the X-MBX-APIKEY header), timestamp, recvWindow and
 * signature; the server checks the key (-2015), the signature (-1022) and the timestamp
 * against its own clock (-1021), then the rate limits (429 with -1003 / -1015 and
 * retryAfter), then runs the request. Malformed requests get Binance's -1100 family and
 * never hurt the server.
 *
 * The server is one thread: tl_sim_server_run() serves until *stop becomes non-zero. It
 * is the matching engine's owner thread. The clock is CLOCK_REALTIME plus the configured
 * skew; the engine's determinism holds for a given sequence of requests and md steps.
 *
 * Fault injection (struct tl_sim_faults) makes the venue misbehave the ways a real one
 * does; each fault draws from its own seeded generator, so a run with the same seed and
 * the same client traffic misbehaves the same way.
 */
#ifndef TL_SIM_SERVER_H
#define TL_SIM_SERVER_H

#define TL_SIM_T2T_ID_SHIFT 24
#define TL_SIM_T2T_FRAMES 64

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tl_sim_engine.h"

#define TL_SIM_ACCOUNTS_MAX 64
#define TL_SIM_KEY_MAX 128    /* API key and secret lengths */
#define TL_SIM_FUNDING_MAX 16 /* deposits made into each account at start */

struct tl_sim_account_keys {
	char api_key[TL_SIM_KEY_MAX + 1];    /* [A-Za-z0-9._-]{1,128} */
	char api_secret[TL_SIM_KEY_MAX + 1]; /* any printable bytes, non-empty */
};

struct tl_sim_funding {
	uint32_t asset; /* index into sim.assets */
	tl_sim_amount_t amount;
};

/*
 * What goes wrong, on purpose. Percentages are 0..100 and apply to each eligible item.
 * A value of 0 disables that fault.
 */
struct tl_sim_faults {
	/* Every N ms, every WebSocket connection is dropped: odd drops send serverShutdown and
	 * a 1001 close, even drops cut the TCP connection with no close frame. */
	uint32_t drop_conn_every_ms;
	uint32_t dup_events_pct;     /* a user event is sent twice */
	uint32_t reorder_events_pct; /* a user event is held back and sent after the next */
	uint32_t delay_events_ms;    /* user events leave this much later than made */
	/* An executionReport of a fill (x TRADE) is not sent on the WebSocket; the trade is
	 * still in myTrades and the position event still goes out. */
	uint32_t drop_fills_pct;
	/* order.place is carried out, but answered as if its outcome were unknown: status 503
	 * code -1000, or (alternating) status 408 code -1007. */
	uint32_t unknown_outcome_pct;
	/* A request is refused with 429 and -1003 (or -1015 for order.place) and a
	 * retryAfter 1 s ahead, as if a limit were hit. */
	uint32_t rate_limit_pct;
	/* myTrades alone is refused so (429, -1003, retryAfter 1 s): a back-fill that cannot
	 * get through, for a client's retry policy. */
	uint32_t refuse_trades_pct;
	int32_t clock_skew_ms; /* the server's clock = wall clock + this (-1021 for clients
	                          that do not measure the offset) */
	/* A user event is cut to half its length: a message no client can parse, as a
	 * corrupting proxy or a venue bug would send. Binance itself never does. */
	uint32_t garble_events_pct;
	/* An outside deposit: deposit_after_ms after the start (0: never), `deposit` is
	 * credited to every account (balanceUpdate and outboundAccountPosition follow), as a
	 * transfer from elsewhere would: money the client's own books never saw coming. */
	uint32_t deposit_after_ms;
	struct tl_sim_funding deposit;
	uint64_t seed;
};

/* The venue's rate limits (PROTOCOL.md "Limits"); 0 disables one. Defaults are Binance's:
 * REQUEST_WEIGHT 6000 a minute, ORDERS 100 per 10 s and 200000 a day. */
struct tl_sim_limits {
	uint32_t weight_per_min;
	uint32_t orders_per_10s;
	uint32_t orders_per_day;
};

struct tl_sim_server_config {
	struct tl_sim_config sim;
	const char *host; /* the address to bind; "127.0.0.1" by default */
	uint16_t port;    /* 0: an ephemeral port (tl_sim_server_port tells which) */
	/* TLS: off by default. With tls and no cert/key files, a self-signed certificate for
	 * "localhost" and 127.0.0.1 is generated at start (ECDSA P-256, valid 30 days) and,
	 * when tls_cert_out is set, written there in PEM for clients to trust. */
	bool tls;
	const char *tls_cert_file, *tls_key_file, *tls_cert_out;
	uint32_t md_interval_ms; /* one walk step per market this often; default 100 */
	uint32_t n_accounts;     /* 1..TL_SIM_ACCOUNTS_MAX */
	struct tl_sim_account_keys accounts[TL_SIM_ACCOUNTS_MAX];
	uint32_t n_funding;
	struct tl_sim_funding funding[TL_SIM_FUNDING_MAX];
	struct tl_sim_limits limits;
	struct tl_sim_faults faults;
	uint32_t max_connections; /* default 256 */
	/* Capture replay (off when n_replay_paths is 0): every market's background liquidity
	 * follows its symbol's book in these capture files (tl_md.h's formats: binance-spot
	 * or cryptofeed, gzip or not) instead of the walk, as tl_sim_market_replay_step()
	 * describes. replay_speed is capture seconds per sim second (1..1000). Each market's
	 * walk config is then overridden: start_px becomes the capture's first best bid,
	 * spread_ticks 1 and max_move_ticks TL_SIM_MOVE_TICKS_MAX (about 10 MB a market; so only
	 * a move of more than that, such as the capture starting over, empties the book for
	 * one depthUpdate). depth_levels is kept.
	 * The capture plays again from its start when it ends. The paths must outlive the
	 * server. */
	char *const *replay_paths;
	size_t n_replay_paths;
	uint32_t replay_speed;
	/* Tick-to-trade stamps (`tally bench t2t`): for each market-data frame written, the
	 * time to the first WS API request that frame caused, into the stats' t2t figures. A
	 * request names its cause in its numeric "id": the frame's final update id "u" times
	 * 2^24, plus anything below 2^24 (TL_SIM_T2T_ID_SHIFT); other requests are not
	 * counted. Frames are remembered by u for the last TL_SIM_T2T_FRAMES written. */
	bool t2t;
	/* An audit trail of every client order, for tests and post-mortems: when set, the
	 * file is created (truncated) and gets one line per order event of a configured
	 * account, written as it happens (its format is described below). NULL: none. */
	const char *audit_path;
};

/*
 * The audit trail's lines: tab-separated, one event each, flushed as written:
 *   ms  EVENT  account  symbol  clientOrderId  side  price  qty  trade_id  reason
 * EVENT is NEW (accepted), TRADE (a fill: qty is the fill's), CANCELED or EXPIRED (qty
 * is what was left), or REJECTED (a place refused: qty is the order's, reason the sim's
 * reject code). account is the index in cfg.accounts; side BUY or SELL; price and qty are
 * integers at the symbol's px_decimals and qty_decimals; trade_id is 0 but on TRADE, and
 * reason 0 but on REJECTED. Every event is recorded before any fault touches the wire.
 */

/* The demo account of the default config; the same pair `tally run` uses by default.
 * Publicly known: only for the simulator. */
#define TL_SIM_DEMO_API_KEY "tallyDemoKey0000000000000000000000000000000000000000000000000001"
#define TL_SIM_DEMO_API_SECRET "tallyDemoSecret000000000000000000000000000000000000000000000001"

/* Fills *cfg: tl_sim_config_default's markets, 127.0.0.1 on an ephemeral port, plain TCP,
 * 100 ms md interval, one demo account funded with 10 BTC and 1000000 USDT, Binance's
 * limits, no faults. Thread: any. Blocks: no. */
void tl_sim_server_config_default(struct tl_sim_server_config *cfg);

typedef struct tl_sim_server tl_sim_server_t;

/*
 * Creates the engine, opens and funds the accounts, and listens. Returns 0 and sets *out,
 * or: -EINVAL (a bad config value; logged), -ENOMEM, -EADDRINUSE or another negative errno
 * when the port cannot be bound, -EIO when TLS setup fails (logged with the reason).
 * Thread: the one that will call run. Blocks: no (binding only).
 */
int tl_sim_server_create(tl_sim_server_t **out, const struct tl_sim_server_config *cfg);

/* The TCP port the server listens on. */
uint16_t tl_sim_server_port(const tl_sim_server_t *s);

/*
 * Serves until *stop is non-zero (checked at least every md interval and after every
 * wake-up; a signal handler may set it), or for duration_ms when that is > 0. With
 * status_every_ms > 0 it logs a status line (connections, requests, orders, events,
 * faults) that often. At the end it sends serverShutdown on every WebSocket and closes
 * them. Returns 0, or a negative errno when the event loop fails.
 * Thread: the creator. Blocks: yes, that is its job.
 */
int tl_sim_server_run(tl_sim_server_t *s, volatile sig_atomic_t *stop, uint64_t duration_ms,
                      uint64_t status_every_ms);

/* Refuses the next n myTrades requests (REST and WS API) with 429 (-1003) and a retry
 * after 1 s, on top of faults.refuse_trades_pct: a test's way to rate-limit one chosen
 * moment, such as an engine's start-up recovery. Thread: any; async-signal-safe (one
 * lock-free atomic add). Blocks: no. */
void tl_sim_server_refuse_trades(tl_sim_server_t *s, uint32_t n);

/* Counters, for the status line and tests. Thread: the server's. */
struct tl_sim_server_stats {
	uint64_t connections, ws_requests, rest_requests, orders, errors_sent, md_events,
	    user_events, faults_injected, bytes_out;
	uint64_t my_trades;     /* myTrades requests (REST and WS API), refused ones included */
	uint64_t replay_passes; /* times a capture was started, summed over the markets */
	/* t2t mode: market-data frame written -> next WS API request in, ns */
	uint64_t t2t_count, t2t_p50_ns, t2t_p99_ns;
};
void tl_sim_server_stats(const tl_sim_server_t *s, struct tl_sim_server_stats *out);

/* The engine, for inspection after run returns (its balances, ...). */
tl_sim_t *tl_sim_server_engine(tl_sim_server_t *s);

/* Closes everything; NULL is a no-op. Thread: the creator. */
void tl_sim_server_destroy(tl_sim_server_t *s);

/* `tally sim [options]`: the command line (see its --help). Returns the exit status.
 * tl_sim_cli_usage prints the --help text. */
int tl_sim_cli_main(int argc, char **argv);
void tl_sim_cli_usage(FILE *out);

#endif /* TL_SIM_SERVER_H */
