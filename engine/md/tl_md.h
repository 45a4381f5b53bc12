/*
 * tl_md.h: market data, the md thread's job. Turns the venue's market-data messages into
 * fixed-point records, keeps an L2 book in sync with the stream, replays captures, and
 * runs the live feed over io/.
 *
 * Sections:
 *   parsing     exact decimals, and one JSON message (diff depth, bookTicker, trade, REST
 *               depth snapshot) into a struct tl_md_msg. Two implementations with one
 *               contract: a hand-written scanner (tl_md_parse, the hot path) and a jsmn
 *               tokenizer (tl_md_parse_jsmn, the cross-check).
 *   depth sync  the venue's buffer-snapshot-drop-apply algorithm over one book
 *   replay      capture files (binance-spot, cryptofeed; gzip or not) through the above
 *   feed        the live stream and REST snapshot over io/, through the same sync
 *
 * Untrusted input: every byte here comes from the network or a file. Nothing in this
 * module asserts on it; a bad message is an error result, and the parser stays usable.
 *
 * Numbers: prices and quantities become int64 at the instrument's scale (DESIGN.md §3).
 * A decimal string that cannot be represented exactly at that scale is rejected, never
 * rounded. No floating point is used anywhere in this module.
 *
 * Errors: 0 on success or a negative errno, as liburing does (tl_strerror() names them).
 */
#ifndef TL_MD_H
#define TL_MD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tl_book.h"
#include "tl_error.h"
#include "tl_io.h"

/* ======================================================================================
 * Parsing: exact decimals.
 * Thread: any (pure functions). Blocks: no.
 * ====================================================================================== */

/* Largest scale the decimal calls take: 10^18 is the largest power of ten in an int64. */
#define TL_MD_DEC_MAX_DECIMALS 18

/*
 * Parses the decimal string s[0..len) into *out, an integer counting units of
 * 10^-decimals: "61737.63000000" at 2 decimals gives 6173763, at 8 gives 6173763000000.
 *
 * Accepted: one or more digits, then optionally '.' and one or more digits. Leading zeros
 * are allowed ("007.5"). Not accepted: an empty string, a sign, an exponent, a missing
 * integer part (".5"), a point with no digit after it ("5."), a second point, whitespace
 * or any other byte. Binance always writes "0.5" and "5.00000000", so the strict form
 * costs nothing and leaves one spelling per value.
 *
 * Returns 0 and sets *out, or (checked in this order, so the first that applies wins):
 *   -EINVAL  malformed as above, or `decimals` outside [0, TL_MD_DEC_MAX_DECIMALS];
 *   -EDOM    a non-zero digit beyond `decimals` places: not exact at this scale
 *            ("1.25" at 1 decimal; "1.20" at 1 decimal is fine);
 *   -ERANGE  the value does not fit in an int64 at this scale.
 * *out is written only on success. Reads exactly s[0..len); s need not be NUL-terminated.
 */
int tl_md_dec_parse(const char *s, size_t len, int decimals, int64_t *out);

/*
 * Writes v at `decimals` places into out as a NUL-terminated string, always with exactly
 * `decimals` digits after the point, as Binance writes them: 6173763000000 at 8 gives
 * "61737.63000000", 5 at 2 gives "0.05", 7 at 0 gives "7" (no point). A negative v gets a
 * leading '-'.
 *
 * Returns the length written, not counting the NUL, or -ENOBUFS when out[0..cap) cannot
 * hold the string and its NUL (nothing useful is written then), or -EINVAL for `decimals`
 * outside [0, TL_MD_DEC_MAX_DECIMALS]. 22 bytes hold any int64 at any scale.
 */
int tl_md_dec_format(char *out, size_t cap, int64_t v, int decimals);

/* ======================================================================================
 * Parsing: one market-data message.
 * ====================================================================================== */

enum tl_md_kind {
	TL_MD_NONE = 0, /* set on any error */
	TL_MD_DEPTH,    /* "e":"depthUpdate": a diff-depth event */
	TL_MD_TICKER,   /* bookTicker: no "e", has "u" */
	TL_MD_TRADE,    /* "e":"trade" */
	TL_MD_SNAPSHOT, /* REST /api/v3/depth: no "e", has "lastUpdateId" */
	/* A valid JSON object we do not use: subscription acks, serverShutdown, kline,
	 * aggTrade, error replies... */
	TL_MD_OTHER,
};

/* Digits after the point of the instrument's prices and quantities (from tickSize and
 * stepSize in exchangeInfo), each in [0, TL_MD_DEC_MAX_DECIMALS]. */
struct tl_md_scale {
	int px_decimals;
	int qty_decimals;
};

/* One price level. px at px_decimals, qty at qty_decimals. qty 0 removes the level. The
 * book module converts these into its own tl_px_t / tl_qty_t. */
struct tl_md_level {
	int64_t px;
	int64_t qty;
};

#define TL_MD_SYMBOL_MAX 23 /* longest symbol kept; Binance's are at most 20 */

/*
 * One parsed message. Only the fields of its kind are set; every other field is zero
 * (NULL, false), so that two results can be compared field by field.
 */
struct tl_md_msg {
	enum tl_md_kind kind;
	/* "BTCUSDT" from "s", NUL-terminated; empty for a snapshot */
	char symbol[TL_MD_SYMBOL_MAX + 1];
	int64_t event_ms; /* "E" when present, else 0 */
	/* DEPTH: first_id = U, final_id = u. SNAPSHOT: final_id = lastUpdateId.
	 * TICKER: final_id = u. TRADE: trade_id = t. */
	uint64_t first_id, final_id, trade_id;
	/* DEPTH ("b", "a") and SNAPSHOT ("bids", "asks"): the levels in message order. They
	 * point into the parser's arrays: owned by the parser, valid until the next parse
	 * call on it or its destruction; the caller may read them, not write them. */
	struct tl_md_level *bids, *asks;
	uint32_t n_bids, n_asks;
	/* DEPTH from tl_md_parse_top(): the levels of "b" and "a" left unconverted, raw, from
	 * the '[' of the first one past its floor to the ']' that closes the array; NULL and
	 * 0 when the side was converted whole. They point into the json given to the parser
	 * (valid while it is) and were checked for balanced brackets only:
	 * tl_md_parse_tail() converts and checks them, at tail_scale (set when either is). */
	const char *bids_tail, *asks_tail;
	uint32_t bids_tail_len, asks_tail_len;
	struct tl_md_scale tail_scale;
	struct tl_md_level bid, ask; /* TICKER: "b"/"B" and "a"/"A" */
	int64_t px, qty;             /* TRADE: "p", "q" */
	int64_t trade_ms;            /* TRADE: "T" */
	bool buyer_maker;            /* TRADE: "m" */
};

#define TL_MD_DEFAULT_MAX_LEVELS 5000u /* the REST snapshot's largest limit */
#define TL_MD_MAX_DEPTH 64             /* deepest nesting of objects and arrays accepted */
#define TL_MD_MAX_LEN 0x7fffffffu      /* longest message accepted (jsmn's int offsets) */

struct tl_md_parser_config {
	struct tl_md_scale scale;
	uint32_t max_levels; /* per side; 0 means TL_MD_DEFAULT_MAX_LEVELS; at most 1 << 20 */
	/* The jsmn token pool; 0 means enough for max_levels on both sides of a snapshot
	 * plus 256; at most 1 << 23. */
	uint32_t max_tokens;
};

typedef struct tl_md_parser tl_md_parser_t;

/* Fills *cfg with the defaults: scale 8/8 (the digits Binance writes, so every capture
 * parses exactly; an instrument's tickSize and stepSize usually allow fewer),
 * TL_MD_DEFAULT_MAX_LEVELS, and the default token pool. Thread: any. Blocks: no. */
void tl_md_parser_config_default(struct tl_md_parser_config *cfg);

/*
 * Creates a parser: the level arrays (two per side: one for "b"/"a", one for
 * "bids"/"asks", so that a message carrying both cannot mix them up) and the jsmn token
 * pool, in one allocation. Nothing allocates after this.
 *
 * Returns 0 and sets *out, -EINVAL for a bad config (a scale outside
 * [0, TL_MD_DEC_MAX_DECIMALS], a limit above its maximum, NULL cfg or out), or -ENOMEM.
 * The caller owns the parser and releases it with tl_md_parser_destroy().
 * Thread: any. Blocks: no (one malloc).
 */
int tl_md_parser_create(tl_md_parser_t **out, const struct tl_md_parser_config *cfg);

/* Releases the parser and its arrays; NULL is a no-op. Levels of earlier results become
 * invalid. Thread: the one that uses the parser. Blocks: no. */
void tl_md_parser_destroy(tl_md_parser_t *p);

/*
 * Parses one message json[0..len): the combined-stream form {"stream":..,"data":{..}},
 * the raw form {..}, or a REST depth snapshot. json need not be NUL-terminated; nothing
 * past json[len - 1] is read. Nothing is allocated.
 *
 * Returns 0 and fills *msg (its levels point into the parser, see struct tl_md_msg), or:
 *   -EBADMSG  not one valid JSON object (RFC 8259 grammar, at most TL_MD_MAX_DEPTH
 *             deep, only whitespace around it); or a field of the message's kind missing,
 *             of the wrong JSON type, a used string holding an escape, a decimal that is
 *             malformed (see tl_md_dec_parse), a symbol empty or longer than
 *             TL_MD_SYMBOL_MAX, a level not exactly ["px","qty"], or a non-string "e";
 *   -EDOM     a price or quantity not exact at the configured scale;
 *   -ERANGE   a price or quantity beyond int64 at the scale; an id or time ("U", "u",
 *             "E", "t", "T", "lastUpdateId") negative (including -0) or above
 *             INT64_MAX;
 *   -E2BIG    more than max_levels levels on one side, or len > TL_MD_MAX_LEN.
 * On error msg->kind is TL_MD_NONE and the rest of *msg is unspecified. The parser is
 * fine to reuse after any error.
 *
 * How a message is read:
 *   - Object keys may come in any order. Unknown keys are skipped whatever their value.
 *     A key that holds an escape is an unknown key. When a key repeats, the last one
 *     counts.
 *   - The combined form is recognised by a top-level key "data" whose value is an object
 *     (the first such key); the message is that object and every other top-level key is
 *     skipped ("stream" is not checked). Otherwise the top-level object is the message.
 *   - Kind: "e" decides when present ("depthUpdate", "trade", anything else is OTHER);
 *     without "e", "lastUpdateId" makes a SNAPSHOT, then "u" a TICKER; else OTHER.
 *   - Required: DEPTH s, U, u, b, a; TICKER s, u, b, B, a, A; TRADE s, t, p, q, T, m;
 *     SNAPSHOT lastUpdateId, bids, asks. "E" is optional, but checked when present
 *     (except for a snapshot). Nothing is required of OTHER, whose values are only
 *     checked to be valid JSON. Fields are checked in the order listed; the first bad
 *     one gives the error.
 *   - Within a level array, levels are read in order and the first bad one gives the
 *     error: the (max_levels + 1)-th level gives -E2BIG; otherwise whatever is wrong
 *     first, left to right: not an array; the price (missing, not a string, or bad);
 *     the quantity (likewise); an element after the quantity.
 *   - Update ids are not compared with each other (U <= u and the like): that belongs
 *     to the sync state machine.
 *
 * Thread: one thread at a time per parser (the arrays are shared by the two functions).
 * Blocks: no.
 */
int tl_md_parse(tl_md_parser_t *p, const char *json, size_t len, struct tl_md_msg *msg);

/* Where tl_md_parse_top() stops converting a depth event's levels, at the price scale. */
struct tl_md_floors {
	int64_t bid; /* "b" levels are converted while px >= bid: INT64_MIN takes them all */
	int64_t ask; /* "a" levels while px <= ask: INT64_MAX takes them all */
};

/*
 * tl_md_parse() for the hot path of a live book kept top first (tl_md_sync_floors): the
 * same contract, except in the "b" and "a" arrays of a message. There, the first level
 * whose price is past its side's floor, and every level after it, are neither converted
 * nor checked beyond their brackets: they are left raw in msg->bids_tail / asks_tail,
 * and n_bids / n_asks count only the levels converted before them. The venue lists bids
 * from the best down and asks from the best up, so what is left is what cannot move the
 * top; whoever applies the tail (tl_md_sync) checks that too. Why: converting the decimals
 * is most of a depth event's cost, and most levels of an event are far from the top
 * (README, tick-to-trade). Nothing in a tail is reported here: a message whose tail is
 * bad parses, and tl_md_parse_tail() gives the error. What tl_md_parse() takes, this
 * takes, with the same fields; what it refuses, this refuses with the same error, or
 * takes as a depth event with a tail that does not convert; a depth event this takes
 * whose tails convert, tl_md_parse() takes. Only a depth event may have tails: a message
 * that is refused or turns out to be of another kind after a tail was left, or that would
 * drop a tail unchecked (a "b" or "a" key that repeats, a "data" wrapper after one), is
 * parsed again, whole. The one thing a tail does not show until it is converted: a
 * bracket inside one of its strings can end it early, and what follows is then read from
 * inside that string. The levels of a tail count against the max its conversion is given
 * (tl_md_parse_tail), not the parser's max_levels: -E2BIG is a limit of the arrays that
 * hold levels, and a tail is held elsewhere. "bids" and "asks" (a snapshot) are always
 * converted whole. floors may be NULL (tl_md_parse()).
 * Thread, blocks: as tl_md_parse().
 */
int tl_md_parse_top(tl_md_parser_t *p, const char *json, size_t len,
                    const struct tl_md_floors *floors, struct tl_md_msg *msg);

/*
 * Converts a tail that tl_md_parse_top() left (tail[0..len): levels, then the array's
 * closing ']', and nothing after it) into out[0..max) at `scale`, and sets *n to how many.
 * Returns 0, or the error tl_md_parse() would have given for the first bad level in it:
 * -EBADMSG (a level not exactly ["px","qty"], anything but whitespace, ',' and one
 * closing ']' between them, or a string with a bracket that cut the tail short), -EDOM,
 * -ERANGE, or -E2BIG for more than max levels. *n and out are unspecified on error.
 * Thread: any (reads only scale). Blocks: no.
 */
int tl_md_parse_tail(struct tl_md_scale scale, const char *tail, size_t len,
                     struct tl_md_level *out, uint32_t max, uint32_t *n);

/*
 * The same contract as tl_md_parse(), on jsmn's tokens: the same result and the same
 * *msg for every input, except that it also returns -E2BIG when the message needs more
 * than max_tokens tokens (jsmn then stops early, so this can hide another error). A
 * message of n bytes needs at most n tokens. About 4 times slower than the scanner on
 * depth updates: it is the cross-check, not the hot path.
 * Thread: as tl_md_parse(). Blocks: no.
 */
int tl_md_parse_jsmn(tl_md_parser_t *p, const char *json, size_t len, struct tl_md_msg *msg);

/* ======================================================================================
 * End of parsing.
 * ====================================================================================== */

/* ======================================================================================
 * Depth sync: one symbol's book kept in step with the diff stream (PROTOCOL.md "How to
 * keep a local book in sync"). The same code serves the live feed and `tally replay`.
 * Thread: the owner (the md thread). Blocks: never. Allocates: only in create.
 * ====================================================================================== */

enum tl_md_sync_state {
	TL_MD_SYNCING = 0, /* buffering events, waiting for a snapshot that connects */
	TL_MD_LIVE,        /* the book is in step with the stream */
	TL_MD_RESYNCING,   /* was live, lost step (gap, crossed, full): waiting again */
};

/* What one depth event or snapshot did. The failures are ordered last. */
enum tl_md_sync_result {
	TL_MD_SYNC_APPLIED = 0, /* applied to the live book */
	/* tl_md_sync_settle: applied, and a held tail had levels at or better than its floor
	 * (the venue's order broken): the top may have moved since it was told */
	TL_MD_SYNC_TOP_LATE,
	TL_MD_SYNC_BUFFERED,  /* held until a snapshot connects */
	TL_MD_SYNC_IGNORED,   /* older than the book (or an unrequested snapshot) */
	TL_MD_SYNC_LIVE,      /* snapshot accepted, buffered events applied: live */
	TL_MD_SYNC_STALE,     /* snapshot older than the first buffered event: fetch again */
	TL_MD_SYNC_BAD,       /* the event contradicts itself (final id below first id) */
	TL_MD_SYNC_GAP,       /* events were lost: book emptied, resync started */
	TL_MD_SYNC_CROSSED,   /* best bid >= best ask after applying: book emptied, resync */
	TL_MD_SYNC_BOOK_FULL, /* more levels than the book holds: book emptied, resync */
	/* a tail (tl_md_parse_top) did not convert (tl_md_sync_tail_error says why), after
	 * the rest of its event was applied: book emptied, resync */
	TL_MD_SYNC_BAD_TAIL,
};

struct tl_md_sync_counters {
	uint64_t events;          /* depth events seen */
	uint64_t applied;         /* depth events applied to a live book */
	uint64_t levels_applied;  /* levels set from events and snapshots */
	uint64_t buffered;        /* events held while waiting for a snapshot */
	uint64_t ignored;         /* events older than the book */
	uint64_t snapshots;       /* snapshots accepted */
	uint64_t stale_snapshots; /* snapshots refused as too old */
	uint64_t gaps;            /* lost events detected */
	uint64_t crossed;         /* books found crossed */
	uint64_t book_full;       /* books that ran out of levels */
	uint64_t resyncs;         /* times a live book was discarded */
	uint64_t overflows;       /* waits that outgrew the buffer and started over */
	uint64_t bad;             /* self-contradictory events */
	uint64_t levels_held;     /* top_first: levels left for tl_md_sync_settle */
	uint64_t top_first_whole; /* top_first: sides applied whole, their top levels gone */
	uint64_t tails_held;      /* tails held raw for tl_md_sync_settle */
	uint64_t tail_levels;     /* levels converted from tails */
	uint64_t tails_late;      /* tail levels at or better than their floor */
	uint64_t bad_tails;       /* tails that did not convert */
};

struct tl_md_sync_config {
	uint32_t max_buffered_events; /* default 4096 */
	uint32_t max_buffered_levels; /* default 262144 */
	/* Default false. True: a live event's levels that cannot change the best bid or ask
	 * are held back until tl_md_sync_settle (or the next event or snapshot), so that the
	 * new top is known sooner. Until then the book's best levels are final and its deeper
	 * levels may be a step behind. */
	bool top_first;
	/* top_first: the most bytes of tails held at once (default 256 KiB); a longer event
	 * is not parsed top first (tl_md_sync_floors). */
	uint32_t max_tail_bytes;
};

typedef struct tl_md_sync tl_md_sync_t;

void tl_md_sync_config_default(struct tl_md_sync_config *cfg);

/*
 * Creates the sync for `book` (borrowed: it must outlive the sync, and only the sync may
 * write it). The book is emptied. Returns 0, -EINVAL or -ENOMEM.
 */
int tl_md_sync_create(tl_md_sync_t **out, const struct tl_md_sync_config *cfg, tl_book_t *book);
void tl_md_sync_destroy(tl_md_sync_t *s);

/*
 * Feeds one parsed depth event (TL_MD_DEPTH), from tl_md_parse or tl_md_parse_top. Its
 * tails, if any, are converted at once when the event cannot be held top first (not live,
 * no top_first, a side applied whole), else copied and held for tl_md_sync_settle. A tail
 * that does not convert gives BAD_TAIL when live, or BAD for an event being buffered.
 */
enum tl_md_sync_result tl_md_sync_depth(tl_md_sync_t *s, const struct tl_md_msg *m);

/*
 * top_first: the floors to parse the next event of `len` bytes with (tl_md_parse_top):
 * each side's 4th best price, the level at or better than which an event's levels can
 * move the top; INT64_MIN / INT64_MAX for a side with fewer levels. Returns false, and no
 * floors, when the event should be parsed whole: not live, not top_first, something is
 * still held (settle first), len above max_tail_bytes, or neither side has a floor.
 */
bool tl_md_sync_floors(const tl_md_sync_t *s, size_t len, struct tl_md_floors *out);

/* The error of the last tail that did not convert (tl_md_parse_tail's), or 0. */
int tl_md_sync_tail_error(const tl_md_sync_t *s);

/*
 * top_first: applies what the last live event held back. Returns APPLIED, TOP_LATE (the
 * top may have moved: tell it again), IGNORED when nothing was held, or BOOK_FULL,
 * BAD_TAIL or CROSSED (book emptied, resync started). tl_md_sync_depth and
 * tl_md_sync_snapshot settle first by themselves; the held levels are the sync's own
 * copies, so the parser may be used in between.
 */
enum tl_md_sync_result tl_md_sync_settle(tl_md_sync_t *s);

/* Feeds one parsed snapshot (TL_MD_SNAPSHOT). */
enum tl_md_sync_result tl_md_sync_snapshot(tl_md_sync_t *s, const struct tl_md_msg *m);

/* The stream dropped: empty the book and wait for a new snapshot. */
void tl_md_sync_reset(tl_md_sync_t *s);

/* True when a snapshot should be fetched: not live, and an event is buffered to check it
 * against. */
bool tl_md_sync_wants_snapshot(const tl_md_sync_t *s);

enum tl_md_sync_state tl_md_sync_state(const tl_md_sync_t *s);
const char *tl_md_sync_state_name(enum tl_md_sync_state state);
uint64_t tl_md_sync_book_id(const tl_md_sync_t *s);
uint64_t tl_md_sync_first_buffered_id(const tl_md_sync_t *s);
const struct tl_md_sync_counters *tl_md_sync_counters(const tl_md_sync_t *s);

/* Where the last gap was: the book id then, and the first id of the event after it. */
void tl_md_sync_last_gap(const tl_md_sync_t *s, uint64_t *book_id, uint64_t *first_id);

/* ======================================================================================
 * Replay: capture files through the parser, the sync and the book (`tally replay`).
 * Thread: any one thread. Blocks: on file reads. Allocates: at start, per file and symbol.
 * ====================================================================================== */

/* One recorded message. The pointers stay valid until the next tl_md_reader_next. */
struct tl_md_record {
	int64_t ts_ns;    /* when it was recorded (local clock) */
	const char *json; /* the message, not NUL-terminated at len */
	size_t len;
	const char *symbol_hint; /* from a snapshot's URL (cryptofeed), else "" */
	const char *source;      /* the file it came from */
	uint64_t line_no;
	size_t file_index; /* its position in the paths given to open */
};

typedef struct tl_md_reader tl_md_reader_t;

/*
 * Opens capture files (plain or gzip; binance-spot "<ns> <json>" lines or cryptofeed's
 * ws and http files) to be read merged by timestamp. Returns 0, -ENOENT and the like
 * (logged with the file's name), -EINVAL or -ENOMEM.
 */
int tl_md_reader_open(tl_md_reader_t **out, char *const paths[], size_t n);

/* The next record in time order: 1, 0 at the end of every file, or -EIO on a read
 * error (logged). Lines that are not capture lines are counted, logged (rate-limited)
 * and skipped. */
int tl_md_reader_next(tl_md_reader_t *r, struct tl_md_record *rec);
uint64_t tl_md_reader_bad_lines(const tl_md_reader_t *r);
uint64_t tl_md_reader_json_bytes(const tl_md_reader_t *r);
void tl_md_reader_close(tl_md_reader_t *r);

#define TL_MD_REPLAY_SYMBOLS 16 /* symbols whose figures the stats keep */

struct tl_md_replay_symbol {
	char name[TL_MD_SYMBOL_MAX + 1];
	enum tl_md_sync_state state; /* at the end */
	struct tl_md_sync_counters counters;
};

struct tl_md_replay_stats {
	uint64_t events, levels_applied, gaps, resyncs; /* sums over the symbols */
	uint64_t tickers, trades, other;
	uint64_t orphan_snapshots; /* snapshots with no symbol to give them to */
	uint64_t skipped_symbols;  /* messages of symbols beyond the replay's capacity */
	uint64_t bad_json, bad_inexact, bad_range, bad_too_big; /* messages skipped, by kind */
	uint64_t bad_lines;
	uint64_t json_bytes;  /* every message read */
	uint64_t depth_bytes; /* depth events fed to a sync */
	uint64_t elapsed_ns;
	size_t n_symbols;
	struct tl_md_replay_symbol symbols[TL_MD_REPLAY_SYMBOLS];
};

struct tl_md_replay_opts {
	const char *symbol; /* only this one (case-insensitive), or NULL for all */
	struct tl_md_scale scale;
	bool progress; /* a running count on stderr */
	/* After each applied depth event (and each accepted snapshot): the book at update_id. */
	void (*on_applied)(void *user, const char *symbol, uint64_t update_id,
	                   const tl_book_t *book);
	/* Each bookTicker message of a wanted symbol. */
	void (*on_ticker)(void *user, const struct tl_md_msg *m);
	/* Each depth event and snapshot of a wanted symbol, once the sync has taken it: what
	 * the sync made of it, and the book after it (empty unless live). */
	void (*on_depth)(void *user, const char *symbol, enum tl_md_sync_result r,
	                 const struct tl_md_msg *m, const tl_book_t *book);
	/* Each trade message of a wanted symbol. */
	void (*on_trade)(void *user, const struct tl_md_msg *m);
	void *user;
};

/*
 * Replays `paths` (merged by timestamp) and fills *st. Gaps, resyncs and refused
 * snapshots are logged as they happen. Returns 0 when every file was read to its end,
 * or the reader's error.
 */
int tl_md_replay_run(char *const paths[], size_t n, const struct tl_md_replay_opts *o,
                     struct tl_md_replay_stats *st);

/*
 * The same replay, a slice at a time: what a simulator needs to play a capture back at
 * the speed of its own clock. tl_md_replay_open() opens the files (its errors as
 * tl_md_reader_open) and keeps `o` and `st` (both the caller's, alive until close).
 * tl_md_replay_until() replays every record stamped at or before until_ns (INT64_MAX:
 * all), calling o's callbacks; it returns 1 when records remain, 0 when every file is
 * read to its end, or the reader's error. tl_md_replay_next_ns() is the stamp of the next
 * record (INT64_MAX at the end). tl_md_replay_close() completes *st (the per-symbol
 * figures and sums, elapsed time) and frees everything; it ignores NULL.
 * Thread: one at a time. Blocks: on file reads. Allocates: at open, and a book and a sync
 * the first time a symbol is seen.
 */
typedef struct tl_md_replay tl_md_replay_t;
int tl_md_replay_open(tl_md_replay_t **out, char *const paths[], size_t n,
                      const struct tl_md_replay_opts *o, struct tl_md_replay_stats *st);
int tl_md_replay_until(tl_md_replay_t *rp, int64_t until_ns);
int64_t tl_md_replay_next_ns(const tl_md_replay_t *rp);
void tl_md_replay_close(tl_md_replay_t *rp);

/* `tally replay ...`: argv[0] is "replay". Returns the exit status. */
int tl_md_replay_cli_main(int argc, char **argv);
void tl_md_replay_cli_usage(FILE *out);

/* ======================================================================================
 * The live feed: one symbol's book from the venue's diff-depth WebSocket stream and its
 * REST snapshot, on an io loop (tl_io.h), through the parser and the sync above.
 * Thread: the loop's (the md thread). Blocks: never, but tl_md_feed_start resolves the
 * venue's name (DNS). Allocates: only in create.
 * ====================================================================================== */

typedef struct tl_md_feed tl_md_feed_t;

struct tl_md_feed_config {
	const char *symbol;                /* "BTCUSDT" */
	struct tl_ws_client_config ws;     /* host, port, TLS; path defaults to
	                                    * /ws/<symbol>@depth@100ms */
	struct tl_http_client_config rest; /* the REST host for /api/v3/depth */
	unsigned snapshot_limit;           /* levels asked for, 1..5000 (default 1000) */
	struct tl_md_scale scale;          /* default 8 and 8 decimals */
	struct tl_book_config book;
	struct tl_md_sync_config sync;
};

struct tl_md_feed_counters {
	uint64_t connects, disconnects;
	uint64_t snapshot_requests, snapshot_failures;
	uint64_t other; /* stream messages that are not this symbol's depth events */
	uint64_t bad_json, bad_inexact, bad_range, bad_too_big; /* skipped, by kind */
};

/* After each applied event, and when a snapshot makes the book live. */
typedef void (*tl_md_feed_book_fn)(tl_md_feed_t *feed, void *user, uint64_t update_id,
                                   const tl_book_t *book);

void tl_md_feed_config_default(struct tl_md_feed_config *cfg);

/* Creates the feed and everything it needs on `loop`. cfg's strings are copied by the
 * clients. Returns 0, -EINVAL, -ENOMEM, or a client's error. */
int tl_md_feed_create(tl_md_feed_t **out, tl_io_loop_t *loop, const struct tl_md_feed_config *cfg,
                      tl_md_feed_book_fn on_book, void *user);

/* Opens the stream; the snapshot follows the first event. Returns 0 or the ws client's
 * error. */
int tl_md_feed_start(tl_md_feed_t *f);

/* Closes the stream and the REST connection (no reconnect); poll the loop until they
 * are closed before destroying. */
void tl_md_feed_stop(tl_md_feed_t *f);

/* Frees a stopped feed. Returns 0, or -EBUSY while its connections are still closing. */
int tl_md_feed_destroy(tl_md_feed_t *f);

/*
 * Keeps the path of a depth event warm while the stream is quiet: parses a canned depth
 * event of TL_MD_FEED_WARM_LEVELS levels a side (made at creation) with the feed's own
 * parser, and applies it through a sync and book of its own, as a live event is applied
 * (top first when the feed's sync is, then the rest); and reads the best levels of the
 * feed's book, which the next event will update. The feed's book, sync and counters are
 * not changed, and nothing is sent or allocated. Why: an event that comes after a quiet
 * spell finds the parser, the sync and the book out of the caches, and costs about
 * three times what it costs warm (README, tick-to-trade).
 * Returns 0, or a parse or sync error (a bug: the message is the feed's own).
 * Thread: the loop's, between its callbacks (the parser's arrays are reused). Blocks: no.
 */
#define TL_MD_FEED_WARM_LEVELS 24
int tl_md_feed_warm(tl_md_feed_t *f);

/*
 * For the loop's idle rounds, between events: the stream's WebSocket upkeep
 * (tl_ws_client_idle, which prefetches its connection too), and prefetches of the feed,
 * its parser and its sync, which the next event touches first. tl_md_feed_warm keeps the
 * code and the book's top warm; this is the rest of the data, every round, for a few
 * dozen prefetch hints. Changes nothing the feed reports. Thread: the loop's, between its
 * callbacks. Blocks: no.
 */
void tl_md_feed_idle(tl_md_feed_t *f);

/*
 * With cfg->sync.top_first: converts and applies the levels the last event held back
 * (its tails: the feed parses a live event with tl_md_parse_top). They cannot change the
 * top its on_book call reported while the venue lists levels best first; if they did, the
 * book is still right afterwards and on_book is called again from here. Call it once the
 * top has been acted on; the next event or snapshot settles by itself otherwise. A book
 * that runs out of levels here, or whose held levels do not convert (a bad message found
 * late, counted with the bad ones), is emptied and resynced, as after any event;
 * tl_md_feed_state then says so.
 * Thread: the loop's, between its callbacks. Blocks: no.
 */
void tl_md_feed_settle(tl_md_feed_t *f);

enum tl_md_sync_state tl_md_feed_state(const tl_md_feed_t *f);
/* The book. With top_first, its levels below the top may be a step behind until
 * tl_md_feed_settle. */
const tl_book_t *tl_md_feed_book(const tl_md_feed_t *f);
const struct tl_md_sync_counters *tl_md_feed_sync_counters(const tl_md_feed_t *f);
const struct tl_md_feed_counters *tl_md_feed_counters(const tl_md_feed_t *f);

#endif /* TL_MD_H */
