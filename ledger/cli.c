/*
 * cli.c: `tally ledger apply|balances|dump|verify`.
 *
 * apply reads JSON lines and submits them through a port to the same ledger thread the
 * engine runs, and prints each ack once the ledger has made it durable. The JSON is parsed
 * with jsmn (a fixed token pool, no allocation); amounts are kept as the decimal text the
 * line wrote, so no binary floating point ever touches them.
 */
#include "ledger_internal.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#define LINE_TOKENS 64

/* ---- JSON output ------------------------------------------------------------------- */

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* ---- JSON input -------------------------------------------------------------------- */

static bool tok_is(const char *js, const jsmntok_t *t, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(t->end - t->start) == n && memcmp(js + t->start, s, n) == 0;
}

/* Copies a string token into dst (size bytes with NUL). Returns false when too long or when
 * it holds an escape: names and keys are plain identifiers. */
static bool tok_copy(const char *js, const jsmntok_t *t, char *dst, size_t size, char *err,
                     size_t err_size, const char *field)
{
	size_t n = (size_t)(t->end - t->start);
	if (t->type != JSMN_STRING) {
		snprintf(err, err_size, "\"%s\" must be a string", field);
		return false;
	}
	if (n >= size) {
		snprintf(err, err_size, "\"%s\" is longer than %zu bytes", field, size - 1);
		return false;
	}
	if (memchr(js + t->start, '\\', n)) {
		snprintf(err, err_size, "\"%s\" contains an escape sequence", field);
		return false;
	}
	memcpy(dst, js + t->start, n);
	dst[n] = '\0';
	return true;
}

static bool tok_decimal(const char *js, const jsmntok_t *t, tl_ledger_dec_t *out, char *err,
                        size_t err_size, const char *field)
{
	if (t->type != JSMN_STRING && t->type != JSMN_PRIMITIVE) {
		snprintf(err, err_size, "\"%s\" must be a decimal string", field);
		return false;
	}
	int rc = tl_ledger_dec_parse(js + t->start, (size_t)(t->end - t->start), out);
	if (rc == -ERANGE) {
		snprintf(err, err_size, "\"%s\" has more than 18 decimals or overflows", field);
		return false;
	}
	if (rc) {
		snprintf(err, err_size, "\"%s\" is not a decimal (like \"12.50\")", field);
		return false;
	}
	return true;
}

static bool tok_uint(const char *js, const jsmntok_t *t, uint64_t max, uint64_t *out, char *err,
                     size_t err_size, const char *field)
{
	uint64_t v = 0;
	int n = t->end - t->start;
	bool ok = (t->type == JSMN_PRIMITIVE || t->type == JSMN_STRING) && n > 0 && n <= 20;
	for (int i = 0; ok && i < n; i++) {
		char c = js[t->start + i];
		ok = c >= '0' && c <= '9' && !__builtin_mul_overflow(v, 10u, &v) &&
		     !__builtin_add_overflow(v, (uint64_t)(c - '0'), &v);
	}
	if (!ok || v > max) {
		snprintf(err, err_size, "\"%s\" must be an integer from 0 to %" PRIu64, field, max);
		return false;
	}
	*out = v;
	return true;
}

/* Field presence bits, to name what a line lacks. */
enum {
	F_TYPE = 1 << 0,
	F_AMOUNT = 1 << 1,
	F_PRICE = 1 << 2,
	F_QTY = 1 << 3,
	F_SIDE = 1 << 4,
	F_QUOTE = 1 << 5,
	F_DECIMALS = 1 << 6,
	F_TO = 1 << 7,
	F_FEE = 1 << 8,
	F_FEE_ASSET = 1 << 9,
};

/*
 * Parses one JSON line into *cmd. Returns true, or false with a reason in err. A line that
 * parses but breaks a ledger rule (unknown type, missing key, unknown asset, a negative
 * amount, too many decimals...) parses fine: the ledger rejects it with a reason code.
 */
static bool parse_line(const char *js, size_t len, tl_ledger_cmd_t *cmd, char *err, size_t es)
{
	jsmn_parser parser;
	jsmntok_t tok[LINE_TOKENS];
	jsmn_init(&parser);
	int n = jsmn_parse(&parser, js, len, tok, LINE_TOKENS);
	if (n == JSMN_ERROR_NOMEM) {
		snprintf(err, es, "too many fields");
		return false;
	}
	if (n == JSMN_ERROR_PART) {
		snprintf(err, es, "truncated JSON");
		return false;
	}
	if (n < 0) {
		snprintf(err, es, "not valid JSON");
		return false;
	}
	if (n < 1 || tok[0].type != JSMN_OBJECT) {
		snprintf(err, es, "not a JSON object");
		return false;
	}
	memset(cmd, 0, sizeof(*cmd));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	cmd->ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	unsigned seen = 0;
	char type_name[32] = "";

	/* A flat object: tok[1 + 2i] is a key, tok[2 + 2i] its value. */
	for (int i = 1; i + 1 < n; i += 2) {
		const jsmntok_t *k = &tok[i], *v = &tok[i + 1];
		if (k->type != JSMN_STRING) {
			snprintf(err, es, "object keys must be strings");
			return false;
		}
		if (v->type == JSMN_OBJECT || v->type == JSMN_ARRAY) {
			snprintf(err, es, "field \"%.*s\" must not be an object or array",
			         k->end - k->start, js + k->start);
			return false;
		}
		uint64_t u;
		bool ok = true;
		if (tok_is(js, k, "type")) {
			ok = tok_copy(js, v, type_name, sizeof(type_name), err, es, "type");
			seen |= F_TYPE;
		} else if (tok_is(js, k, "key")) {
			ok = tok_copy(js, v, cmd->key, sizeof(cmd->key), err, es, "key");
		} else if (tok_is(js, k, "account")) {
			ok =
			    tok_copy(js, v, cmd->account, sizeof(cmd->account), err, es, "account");
		} else if (tok_is(js, k, "to")) {
			ok = tok_copy(js, v, cmd->account_to, sizeof(cmd->account_to), err, es,
			              "to");
			seen |= F_TO;
		} else if (tok_is(js, k, "asset")) {
			ok = tok_copy(js, v, cmd->asset, sizeof(cmd->asset), err, es, "asset");
		} else if (tok_is(js, k, "quote")) {
			ok = tok_copy(js, v, cmd->quote, sizeof(cmd->quote), err, es, "quote");
			seen |= F_QUOTE;
		} else if (tok_is(js, k, "fee_asset")) {
			ok = tok_copy(js, v, cmd->fee_asset, sizeof(cmd->fee_asset), err, es,
			              "fee_asset");
			seen |= F_FEE_ASSET;
		} else if (tok_is(js, k, "reason")) {
			ok = tok_copy(js, v, cmd->reason, sizeof(cmd->reason), err, es, "reason");
		} else if (tok_is(js, k, "amount")) {
			ok = tok_decimal(js, v, &cmd->amount, err, es, "amount");
			seen |= F_AMOUNT;
		} else if (tok_is(js, k, "price")) {
			ok = tok_decimal(js, v, &cmd->price, err, es, "price");
			seen |= F_PRICE;
		} else if (tok_is(js, k, "qty")) {
			ok = tok_decimal(js, v, &cmd->qty, err, es, "qty");
			seen |= F_QTY;
		} else if (tok_is(js, k, "fee")) {
			ok = tok_decimal(js, v, &cmd->fee, err, es, "fee");
			seen |= F_FEE;
		} else if (tok_is(js, k, "side")) {
			seen |= F_SIDE;
			if (tok_is(js, v, "BUY")) {
				cmd->side = TL_LEDGER_BUY;
			} else if (tok_is(js, v, "SELL")) {
				cmd->side = TL_LEDGER_SELL;
			} else {
				snprintf(err, es, "\"side\" must be \"BUY\" or \"SELL\"");
				ok = false;
			}
		} else if (tok_is(js, k, "order")) {
			ok = tok_uint(js, v, UINT64_MAX, &cmd->order, err, es, "order");
		} else if (tok_is(js, k, "decimals")) {
			ok = tok_uint(js, v, 255, &u, err, es, "decimals");
			cmd->decimals = (uint8_t)u;
			seen |= F_DECIMALS;
		} else if (tok_is(js, k, "ts_ms")) {
			ok = tok_uint(js, v, INT64_MAX, &u, err, es, "ts_ms");
			cmd->ts_ms = (int64_t)u;
		} else if (tok_is(js, k, "final")) {
			if (tok_is(js, v, "true"))
				cmd->flags |= TL_LEDGER_FLAG_FINAL;
			else if (!tok_is(js, v, "false")) {
				snprintf(err, es, "\"final\" must be true or false");
				ok = false;
			}
		} else {
			snprintf(err, es, "unknown field \"%.*s\"", k->end - k->start,
			         js + k->start);
			ok = false;
		}
		if (!ok)
			return false;
	}
	if (!(seen & F_TYPE)) {
		snprintf(err, es, "missing \"type\"");
		return false;
	}
	/* An unknown type still goes to the ledger, which rejects it with its reason code. */
	cmd->type = (uint16_t)tl_ledger_cmd_type_parse(type_name);
	unsigned need = 0;
	switch (cmd->type) {
	case TL_LEDGER_ASSET_DEFINE:
		need = F_DECIMALS;
		break;
	case TL_LEDGER_ACCOUNT_OPEN:
	case TL_LEDGER_CMD_NONE:
		break;
	case TL_LEDGER_TRADE_SETTLE:
		need = F_PRICE | F_QTY | F_SIDE | F_QUOTE;
		if ((seen & F_FEE) && cmd->fee.mantissa != 0)
			need |= F_FEE_ASSET;
		break;
	case TL_LEDGER_TRANSFER:
		need = F_AMOUNT | F_TO;
		break;
	default:
		need = F_AMOUNT;
	}
	static const char *const names[] = {"type",  "amount",   "price", "qty", "side",
	                                    "quote", "decimals", "to",    "fee", "fee_asset"};
	for (unsigned b = 0; b < sizeof(names) / sizeof(names[0]); b++)
		if ((need & (1u << b)) && !(seen & (1u << b))) {
			snprintf(err, es, "%s needs \"%s\"", type_name, names[b]);
			return false;
		}
	return true;
}

/* ---- apply ------------------------------------------------------------------------- */

typedef struct pending {
	uint64_t line;
	char key[TL_LEDGER_KEY_MAX + 1];
} pending_t;

static void print_ack(const tl_ledger_t *l, const pending_t *p, const tl_ledger_ack_t *a)
{
	printf("{\"line\":%" PRIu64 ",\"key\":", p->line);
	json_string(stdout, p->key);
	printf(",\"status\":\"%s\"", tl_ledger_status_name(a->status));
	if (a->status == TL_LEDGER_REJECTED)
		printf(",\"reason\":\"%s\",\"code\":%u", tl_ledger_reason_name(a->reason),
		       a->reason);
	if (a->status == TL_LEDGER_FAILED) {
		printf(",\"error\":");
		json_string(stdout, tl_strerror(a->error));
	}
	if (a->status == TL_LEDGER_APPLIED || a->status == TL_LEDGER_DUPLICATE) {
		printf(",\"seq\":%" PRIu64 ",\"entries\":%u,\"balances\":[", a->seq,
		       a->entry_count);
		for (unsigned i = 0; i < a->balance_count; i++) {
			const tl_ledger_balance_t *b = &a->balances[i];
			const tl_pub_name_t *acc = tl_state_pub_account(&l->state, b->account_id);
			const tl_pub_name_t *as = tl_state_pub_asset(&l->state, b->asset_id);
			char av[48], lk[48];
			unsigned dec = as ? as->decimals : 0;
			tl_ledger_units_format(b->available, dec, av, sizeof(av));
			tl_ledger_units_format(b->locked, dec, lk, sizeof(lk));
			printf("%s{\"account\":", i ? "," : "");
			json_string(stdout, acc ? acc->name : "?");
			printf(",\"asset\":");
			json_string(stdout, as ? as->name : "?");
			printf(",\"available\":\"%s\",\"locked\":\"%s\"}", av, lk);
		}
		printf("]");
	}
	printf("}\n");
}

static void usage_apply(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally ledger apply --db DIR [--durability MODE] [--sync-ms N] [FILE|-]\n"
	    "\n"
	    "Applies ledger commands, one JSON object per line, from FILE or standard input,\n"
	    "through the ledger thread. Prints one JSON ack per command on standard output,\n"
	    "only once that command is durable. A malformed line is reported on standard error\n"
	    "with its line number and the reason; the other lines are still applied.\n"
	    "\n"
	    "Fields (amounts are decimal strings in asset units, like \"0.015\"):\n"
	    "  type       ASSET_DEFINE ACCOUNT_OPEN DEPOSIT_CREDIT WITHDRAW_DEBIT LOCK UNLOCK\n"
	    "             TRADE_SETTLE FEE_DEBIT REWARD_CREDIT TRANSFER ADJUSTMENT (required)\n"
	    "  key        the idempotency key, at most 63 bytes (required); a key that was\n"
	    "             applied before is acked \"duplicate\" and changes nothing\n"
	    "  account    the account (to = the receiving account of a TRANSFER)\n"
	    "  asset      the asset; for TRADE_SETTLE the base asset, with quote\n"
	    "  amount     > 0; for ADJUSTMENT a signed, nonzero amount, with a reason\n"
	    "  decimals   ASSET_DEFINE: the asset's decimals, 0 to 18\n"
	    "  order      an order id (integer): LOCK/UNLOCK reserve for it, TRADE_SETTLE spends\n"
	    "             from its reservation, and with \"final\":true releases the rest\n"
	    "  side price qty fee fee_asset   TRADE_SETTLE: BUY or SELL, one fill\n"
	    "  reason     ADJUSTMENT: why (required)\n"
	    "  ts_ms      the event's wall-clock time in ms (default: now)\n"
	    "\n"
	    "Example:\n"
	    "  {\"type\":\"ASSET_DEFINE\",\"key\":\"a:BTC\",\"asset\":\"BTC\",\"decimals\":8}\n"
	    "  {\"type\":\"ACCOUNT_OPEN\",\"key\":\"o:mm\",\"account\":\"mm\"}\n"
	    "  {\"type\":\"DEPOSIT_CREDIT\",\"key\":\"tx:1\",\"account\":\"mm\",\"asset\":\"BTC\","
	    "\"amount\":\"1.5\"}\n"
	    "\n"
	    "Options:\n"
	    "  --db DIR           the ledger directory (created if missing)\n"
	    "  --durability MODE  strict (default), nometasync or periodic\n"
	    "  --sync-ms N        periodic mode: sync every N ms (default 10)\n"
	    "\n"
	    "Exit status: 0 when every line was applied or a duplicate; 1 when any line was\n"
	    "malformed, rejected or failed, or the ledger could not open; 2 on a usage error.\n");
}

static int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
	                                     {"durability", required_argument, NULL, 'D'},
	                                     {"sync-ms", required_argument, NULL, 's'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.dir = optarg;
			break;
		case 'D':
			if (tl_ledger_durability_parse(optarg, &cfg.durability)) {
				fprintf(stderr, "tally ledger apply: unknown durability '%s'\n",
				        optarg);
				return 2;
			}
			break;
		case 's': {
			char *end;
			unsigned long ms = strtoul(optarg, &end, 10);
			if (*end || ms == 0 || ms > 60000) {
				fprintf(stderr, "tally ledger apply: --sync-ms must be 1..60000\n");
				return 2;
			}
			cfg.sync_period_ms = (uint32_t)ms;
			break;
		}
		case 'h':
			usage_apply(stdout);
			return 0;
		default:
			usage_apply(stderr);
			return 2;
		}
	}
	if (!cfg.dir || optind + 1 < argc) {
		usage_apply(stderr);
		return 2;
	}
	const char *path = optind < argc ? argv[optind] : "-";
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!in) {
		fprintf(stderr, "tally ledger apply: %s: %s\n", path, strerror(errno));
		return 1;
	}

	enum { WINDOW = 1024 };
	tl_ledger_t *l;
	tl_ledger_port_t *port;
	int rc = tl_ledger_open(&l, &cfg);
	if (rc) {
		fprintf(stderr, "tally ledger apply: cannot open %s: %s\n", cfg.dir,
		        tl_strerror(rc));
		if (in != stdin)
			fclose(in);
		return 1;
	}
	pending_t *pend = calloc(WINDOW, sizeof(*pend));
	if (!pend || (rc = tl_ledger_port_attach(l, WINDOW, &port)) || (rc = tl_ledger_start(l))) {
		fprintf(stderr, "tally ledger apply: cannot start the ledger: %s\n",
		        tl_strerror(rc ? rc : -ENOMEM));
		free(pend);
		tl_ledger_close(l);
		if (in != stdin)
			fclose(in);
		return 1;
	}

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t line_no = 0, submitted = 0, acked = 0, malformed = 0, bad = 0;
	tl_ledger_ack_t ack;
	tl_ledger_cmd_t cmd;
	bool eof = false;
	while (!eof || acked < submitted) {
		/* Submit while the window has room; otherwise, or at the end, collect acks. */
		if (!eof && submitted - acked < WINDOW) {
			if ((len = getline(&line, &cap, in)) < 0) {
				eof = true;
				continue;
			}
			line_no++;
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			size_t lead = strspn(line, " \t");
			if ((size_t)len == lead)
				continue; /* blank lines are allowed */
			char err[160];
			if (!parse_line(line, (size_t)len, &cmd, err, sizeof(err))) {
				fprintf(stderr, "tally ledger apply: %s: line %" PRIu64 ": %s\n",
				        path, line_no, err);
				malformed++;
				continue;
			}
			cmd.token = submitted;
			pending_t *p = &pend[submitted % WINDOW];
			p->line = line_no;
			memcpy(p->key, cmd.key, sizeof(p->key));
			while (!tl_ledger_submit(port, &cmd))
				sched_yield(); /* cannot stay full: the window is the ring's size */
			submitted++;
			continue;
		}
		while (!tl_ledger_poll_ack(port, &ack))
			sched_yield();
		assert(ack.token == acked);
		print_ack(l, &pend[acked % WINDOW], &ack);
		bad += ack.status != TL_LEDGER_APPLIED && ack.status != TL_LEDGER_DUPLICATE;
		acked++;
	}
	if (ferror(in)) {
		fprintf(stderr, "tally ledger apply: %s: read error: %s\n", path, strerror(errno));
		malformed++;
	}
	fflush(stdout);
	int failure = tl_ledger_failure(l);
	tl_ledger_close(l);
	free(line);
	free(pend);
	if (in != stdin)
		fclose(in);
	fprintf(stderr,
	        "tally ledger apply: %" PRIu64 " lines, %" PRIu64 " commands acked, %" PRIu64
	        " not applied, %" PRIu64 " malformed%s%s\n",
	        line_no, acked, bad, malformed, failure ? "; intake stopped: " : "",
	        failure ? tl_strerror(failure) : "");
	return bad || malformed ? 1 : 0;
}

/* ---- read-only commands ------------------------------------------------------------ */

enum format { FMT_TABLE, FMT_JSON, FMT_CSV };

static int parse_ro_args(int argc, char **argv, const char **dir, enum format *fmt, bool csv_ok,
                         void (*usage)(FILE *))
{
	static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"csv", no_argument, NULL, 'c'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	*dir = NULL;
	*fmt = FMT_TABLE;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*dir = optarg;
			break;
		case 'j':
			*fmt = FMT_JSON;
			break;
		case 'c':
			if (!csv_ok)
				goto bad;
			*fmt = FMT_CSV;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (*dir && optind == argc)
		return 1;
bad:
	usage(stderr);
	return 2;
}

/* One read snapshot of a ledger and its registry, for the read-only commands. */
typedef struct ro_view {
	tl_store_t st;
	MDB_txn *txn;
	tl_registry_t reg;
} ro_view_t;

static int ro_open(ro_view_t *v, const char *dir)
{
	int rc = tl_audit_open(&v->st, dir, &v->txn);
	if (rc)
		return rc;
	if ((rc = tl_registry_load(v->txn, &v->st, &v->reg)) != 0) {
		mdb_txn_abort(v->txn);
		tl_store_close(&v->st);
	}
	return rc;
}

static void ro_close(ro_view_t *v)
{
	tl_registry_free(&v->reg);
	mdb_txn_abort(v->txn);
	tl_store_close(&v->st);
}

/* Runs `print` over a snapshot of `dir`; the process exit code, with any error reported. */
static int ro_run(const char *cmd, const char *dir, enum format fmt,
                  int (*print)(ro_view_t *, enum format))
{
	ro_view_t view;
	int rc = ro_open(&view, dir);
	if (!rc) {
		rc = print(&view, fmt);
		ro_close(&view);
	}
	if (rc)
		fprintf(stderr, "tally ledger %s: %s: %s\n", cmd, dir, tl_strerror(rc));
	return rc ? 1 : 0;
}

static void usage_balances(FILE *out)
{
	fprintf(out,
	        "Usage: tally ledger balances --db DIR [--json]\n"
	        "\n"
	        "Prints every (account, asset) balance: available, locked and total, in asset\n"
	        "units, as of the last commit. It reads a snapshot, so a running ledger is fine.\n"
	        "\n"
	        "Exit status: 0, or 1 when the ledger cannot be read, 2 on a usage error.\n");
}

static int print_balances(ro_view_t *view, enum format fmt)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = tl_store_err(mdb_cursor_open(view->txn, view->st.balances, &cur));
	if (rc)
		return rc;
	if (fmt == FMT_JSON)
		printf("{\"balances\":[");
	else
		printf("%-24s %-10s %28s %28s %28s\n", "ACCOUNT", "ASSET", "AVAILABLE", "LOCKED",
		       "TOTAL");
	int n = 0;
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT, n++) {
		int64_t av, lk, total;
		uint64_t ls;
		if (k.mv_size != 8 || tl_balance_val_get(&v, &av, &lk, &ls) ||
		    __builtin_add_overflow(av, lk, &total)) {
			rc = TL_E_CORRUPT;
			break;
		}
		uint32_t acc = tl_be32_get(k.mv_data), as = tl_be32_get((uint8_t *)k.mv_data + 4);
		unsigned dec = tl_audit_asset_decimals(&view->reg, as);
		char a[48], b[48], t[48];
		tl_ledger_units_format(av, dec, a, sizeof(a));
		tl_ledger_units_format(lk, dec, b, sizeof(b));
		tl_ledger_units_format(total, dec, t, sizeof(t));
		if (fmt == FMT_JSON) {
			printf("%s{\"account\":", n ? "," : "");
			json_string(stdout, tl_audit_account_name(&view->reg, acc));
			printf(",\"asset\":");
			json_string(stdout, tl_audit_asset_name(&view->reg, as));
			printf(",\"available\":\"%s\",\"locked\":\"%s\",\"total\":\"%s\",\"last_"
			       "seq\":%" PRIu64 "}",
			       a, b, t, ls);
		} else {
			printf("%-24s %-10s %28s %28s %28s\n",
			       tl_audit_account_name(&view->reg, acc),
			       tl_audit_asset_name(&view->reg, as), a, b, t);
		}
	}
	mdb_cursor_close(cur);
	if (fmt == FMT_JSON)
		printf("]}\n");
	return rc;
}

static int cmd_balances(int argc, char **argv)
{
	const char *dir;
	enum format fmt;
	int u = parse_ro_args(argc, argv, &dir, &fmt, false, usage_balances);
	return u != 1 ? u : ro_run("balances", dir, fmt, print_balances);
}

static void usage_dump(FILE *out)
{
	fprintf(out, "Usage: tally ledger dump --db DIR [--json|--csv]\n"
	             "\n"
	             "Prints every journal entry in sequence order: seq, command, leg, account,\n"
	             "asset, the change to available and to locked (in asset units), order, time,\n"
	             "idempotency key, text (reason or name) and the entry's chained SHA-256.\n"
	             "--json prints one object per line; --csv a header and one row per entry.\n"
	             "\n"
	             "Exit status: 0, or 1 when the ledger cannot be read, 2 on a usage error.\n");
}

static const char *leg_name(unsigned leg)
{
	static const char *const names[] = {"?",    "asset",  "account", "credit", "debit",
	                                    "lock", "unlock", "spend",   "adjust"};
	return leg < sizeof(names) / sizeof(names[0]) ? names[leg] : "?";
}

static void csv_field(const char *s)
{
	fputc('"', stdout);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', stdout);
		fputc(*s, stdout);
	}
	fputc('"', stdout);
}

static int print_dump(ro_view_t *view, enum format fmt)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = tl_store_err(mdb_cursor_open(view->txn, view->st.entries, &cur));
	if (rc)
		return rc;
	if (fmt == FMT_CSV)
		printf("seq,command,leg,account,asset,d_available,d_locked,order,ts_ms,key,text,"
		       "hash\n");
	else if (fmt == FMT_TABLE)
		printf("%8s %-15s %-7s %-16s %-8s %22s %22s %s\n", "SEQ", "COMMAND", "LEG",
		       "ACCOUNT", "ASSET", "D_AVAILABLE", "D_LOCKED", "KEY");
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		tl_entry_t e;
		if ((rc = tl_entry_decode(v.mv_data, v.mv_size, &e)))
			break;
		unsigned dec = tl_audit_asset_decimals(&view->reg, e.asset_id);
		char da[48], dl[48], hash[2 * TL_LEDGER_HASH_SIZE + 1];
		tl_ledger_units_format(e.d_available, dec, da, sizeof(da));
		tl_ledger_units_format(e.d_locked, dec, dl, sizeof(dl));
		for (int i = 0; i < TL_LEDGER_HASH_SIZE; i++)
			snprintf(hash + 2 * i, 3, "%02x", e.hash[i]);
		const char *cmd = tl_ledger_cmd_type_name(e.cmd_type);
		const char *acc =
		    e.account_id ? tl_audit_account_name(&view->reg, e.account_id) : "";
		const char *as = e.asset_id ? tl_audit_asset_name(&view->reg, e.asset_id) : "";
		cmd = cmd ? cmd : "?";
		if (fmt == FMT_JSON) {
			printf("{\"seq\":%" PRIu64
			       ",\"command\":\"%s\",\"leg\":\"%s\",\"account\":",
			       e.seq, cmd, leg_name(e.leg));
			json_string(stdout, acc);
			printf(",\"asset\":");
			json_string(stdout, as);
			printf(",\"d_available\":\"%s\",\"d_locked\":\"%s\",\"order\":%" PRIu64
			       ",\"ts_ms\":%" PRId64 ",\"key\":",
			       da, dl, e.ref, e.ts_ms);
			json_string(stdout, e.key);
			printf(",\"text\":");
			json_string(stdout, e.text);
			printf(",\"hash\":\"%s\"}\n", hash);
		} else if (fmt == FMT_CSV) {
			printf("%" PRIu64 ",%s,%s,", e.seq, cmd, leg_name(e.leg));
			csv_field(acc);
			putchar(',');
			csv_field(as);
			printf(",%s,%s,%" PRIu64 ",%" PRId64 ",", da, dl, e.ref, e.ts_ms);
			csv_field(e.key);
			putchar(',');
			csv_field(e.text);
			printf(",%s\n", hash);
		} else {
			printf("%8" PRIu64 " %-15s %-7s %-16s %-8s %22s %22s %s\n", e.seq, cmd,
			       leg_name(e.leg), acc, as, da, dl, e.key);
		}
	}
	mdb_cursor_close(cur);
	return rc;
}

static int cmd_dump(int argc, char **argv)
{
	const char *dir;
	enum format fmt;
	int u = parse_ro_args(argc, argv, &dir, &fmt, true, usage_dump);
	return u != 1 ? u : ro_run("dump", dir, fmt, print_dump);
}

static void usage_verify(FILE *out)
{
	fprintf(
	    out,
	    "Usage: tally ledger verify --db DIR\n"
	    "\n"
	    "Recomputes every balance and open reservation from the journal alone, and checks:\n"
	    "sequence numbers without gaps, the SHA-256 hash chain, that every command's\n"
	    "entries are all present, the invariants after every command (available >= 0,\n"
	    "locked >= 0, locked covers the open reservations, the shape of each command),\n"
	    "that stored balances and reservations equal the recomputed ones, that the\n"
	    "idempotency index maps each command's key to its first entry, and the meta\n"
	    "record. Problems go to standard error, the summary to standard output.\n"
	    "\n"
	    "Exit status: 0 when everything holds; 1 when a check fails or the ledger cannot\n"
	    "be read; 2 on a usage error.\n");
}

static int cmd_verify(int argc, char **argv)
{
	const char *dir;
	enum format fmt;
	int u = parse_ro_args(argc, argv, &dir, &fmt, false, usage_verify);
	if (u != 1)
		return u;
	tl_ledger_verify_report_t rep;
	int rc = tl_ledger_verify(dir, stderr, &rep);
	if (rc) {
		fprintf(stderr, "tally ledger verify: %s: %s\n", dir, tl_strerror(rc));
		return 1;
	}
	printf("verify %s: %s: %" PRIu64 " entries, %" PRIu64 " commands, %" PRIu64
	       " balances, %" PRIu64 " open orders, %" PRIu64 " problems\n",
	       dir, rep.problems ? "FAILED" : "ok", rep.entries, rep.commands, rep.pairs,
	       rep.orders, rep.problems);
	return rep.problems ? 1 : 0;
}

/* ---- dispatch ---------------------------------------------------------------------- */

static const struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} subcommands[] = {
    {"apply", cmd_apply, "apply JSON-line commands through the ledger thread"},
    {"balances", cmd_balances, "print every balance"},
    {"dump", cmd_dump, "print the journal"},
    {"verify", cmd_verify, "recompute everything from the journal and check it"},
};

void tl_ledger_cli_usage(FILE *out)
{
	fprintf(out, "Usage: tally ledger <command> --db DIR [options]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-9s %s\n", subcommands[i].name, subcommands[i].what);
	fprintf(out, "\n'tally ledger <command> --help' describes a command.\n");
}

int tl_ledger_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		tl_ledger_cli_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		tl_ledger_cli_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0) {
			optind = 1;
			return subcommands[i].run(argc - 1, argv + 1);
		}
	fprintf(stderr, "tally ledger: unknown command '%s'\n\n", argv[1]);
	tl_ledger_cli_usage(stderr);
	return 2;
}
