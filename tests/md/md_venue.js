#!/usr/bin/env node
'use strict';
/*
 * md_venue.js: a market-data venue for the live md feed's test, speaking the Binance
 * protocol on loopback from a real capture. It is not tally code: it is written in node
 * with Debian's `ws`, so that the feed is checked against an independent server.
 *
 * Run:   node md_venue.js --capture FILE.gz [--drop K] [--corrupt K] [--pace-us N] [--port N]
 *
 * The venue starts from the capture's REST snapshot and keeps its own book. When a client
 * opens /ws/<symbol>@depth@100ms, it streams the capture's depth events that follow the
 * snapshot (raw form, one per text frame, one every --pace-us microseconds, default 300),
 * applying each to its book as it sends it. GET /api/v3/depth?symbol=S&limit=N answers
 * with that book as it stands (N best levels a side, lastUpdateId = the last event
 * applied), as the real venue does. With --drop K the K-th streamed event is applied but
 * not sent: the client must see a gap, fetch a new snapshot and go live again. With
 * --corrupt K, the first event from the K-th on with 8 levels or more on a side is applied
 * but sent with the quantity of that side's last level spelled "1.x": the client must
 * refuse it (a client that parses top first, only once its top has gone out), discard
 * its book and go live again.
 *
 * Standard output, one event per line: "LISTENING <port>", "SNAPSHOT <lastUpdateId>"
 * per snapshot served, "DROPPED <u>", "CORRUPTED <u>", and "DONE <last u>" once every
 * event is sent.
 * It exits on stdin EOF or SIGTERM.
 */
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');

const WebSocket = require('../io/require_ws.js')('md_venue');

function event(line) {
	process.stdout.write(line + '\n');
}

const args = process.argv.slice(2);
let capture = null, drop = 0, corrupt = 0, paceUs = 300, port = 0;
for (let i = 0; i < args.length; i++) {
	if (args[i] === '--capture') capture = args[++i];
	else if (args[i] === '--drop') drop = Number(args[++i]);
	else if (args[i] === '--corrupt') corrupt = Number(args[++i]);
	else if (args[i] === '--pace-us') paceUs = Number(args[++i]);
	else if (args[i] === '--port') port = Number(args[++i]);
	else {
		process.stderr.write('md_venue: unknown argument ' + args[i] + '\n');
		process.exit(2);
	}
}
if (!capture) {
	process.stderr.write('md_venue: --capture FILE is required\n');
	process.exit(2);
}

/* The capture: its snapshot, and the depth events that end after it. The recorder may
 * write an event that straddles the snapshot's id before the snapshot's line, so the
 * choice is by id, not by position in the file. */
const text = zlib.gunzipSync(fs.readFileSync(capture)).toString('utf8');
let snapshot = null, symbol = null;
const all = [];
for (const line of text.split('\n')) {
	const sp = line.indexOf(' ');
	if (sp < 0) continue;
	const msg = JSON.parse(line.slice(sp + 1));
	if (msg.lastUpdateId !== undefined) {
		snapshot = msg;
		continue;
	}
	if (!msg.data || msg.data.e !== 'depthUpdate') continue;
	symbol = msg.data.s;
	all.push(msg.data);
}
const events = snapshot ? all.filter((ev) => ev.u > snapshot.lastUpdateId) : [];
if (!snapshot || !events.length) {
	process.stderr.write('md_venue: no snapshot or no depth events after it\n');
	process.exit(1);
}

/* The venue's book: price string -> quantity string, per side; prices compared as numbers
 * only to order them (the strings themselves are served back unchanged). */
const book = { bids: new Map(), asks: new Map() };
for (const [p, q] of snapshot.bids) book.bids.set(p, q);
for (const [p, q] of snapshot.asks) book.asks.set(p, q);
let lastId = snapshot.lastUpdateId;

function apply(ev) {
	for (const [p, q] of ev.b) Number(q) === 0 ? book.bids.delete(p) : book.bids.set(p, q);
	for (const [p, q] of ev.a) Number(q) === 0 ? book.asks.delete(p) : book.asks.set(p, q);
	lastId = ev.u;
}

function top(side, n, descending) {
	const levels = [...side.entries()];
	levels.sort((x, y) => (descending ? Number(y[0]) - Number(x[0]) : Number(x[0]) - Number(y[0])));
	return levels.slice(0, n);
}

const server = http.createServer((req, res) => {
	const url = new URL(req.url, 'http://localhost');
	if (url.pathname !== '/api/v3/depth' || url.searchParams.get('symbol') !== symbol) {
		res.writeHead(400, { 'Content-Type': 'application/json' });
		res.end('{"code":-1100,"msg":"Illegal characters found in parameter"}');
		return;
	}
	const limit = Math.min(Number(url.searchParams.get('limit') || 100), 5000);
	const body = JSON.stringify({
		lastUpdateId: lastId,
		bids: top(book.bids, limit, true),
		asks: top(book.asks, limit, false),
	});
	event('SNAPSHOT ' + lastId);
	res.writeHead(200, { 'Content-Type': 'application/json' });
	res.end(body);
});

const wss = new WebSocket.Server({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
	if (req.url !== '/ws/' + symbol.toLowerCase() + '@depth@100ms') {
		socket.destroy();
		return;
	}
	wss.handleUpgrade(req, socket, head, (ws) => stream(ws));
});

function stream(ws) {
	let i = 0;
	const tick = () => {
		if (ws.readyState !== WebSocket.OPEN) return;
		if (i === events.length) {
			event('DONE ' + lastId);
			return;
		}
		const ev = events[i++];
		apply(ev);
		const side = ev.b.length >= ev.a.length ? 'b' : 'a';
		if (i === drop) {
			event('DROPPED ' + ev.u);
		} else if (corrupt && i >= corrupt && ev[side].length >= 8) {
			corrupt = 0;
			const bad = JSON.parse(JSON.stringify(ev));
			bad[side][bad[side].length - 1][1] = '1.x';
			event('CORRUPTED ' + ev.u);
			ws.send(JSON.stringify(bad));
		} else {
			ws.send(JSON.stringify(ev));
		}
		setTimeout(tick, paceUs / 1000);
	};
	tick();
}

server.listen(port, '127.0.0.1', () => event('LISTENING ' + server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
