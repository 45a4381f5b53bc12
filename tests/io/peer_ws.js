#!/usr/bin/env node
'use strict';
/*
 * peer_ws.js: the Node.js interop peer for the io/ tests. One HTTP (or HTTPS) server on
 * 127.0.0.1 carries a WebSocket endpoint at /ws and the plain HTTP routes below. It is the
 * independent implementation the tally client is checked against: Node's http and TLS
 * (OpenSSL) stacks and the `ws` library (Debian package node-ws).
 *
 * Run:   node tests/io/peer_ws.js [--tls CERT KEY] [--port N]
 *        (--port 0, the default, takes an ephemeral port)
 * Needs: Debian packages nodejs and node-ws. Debian installs ws in /usr/share/nodejs, which
 *        Debian's own node searches but other builds (nodesource's) do not; this script
 *        falls back to that folder itself, so no environment variable is needed.
 *        NODE_PATH, when set, is honoured first.
 *
 * Lifetime: exits when its standard input reaches EOF (so it dies with the test that
 * spawned it: give it a pipe, and note that `node peer_ws.js &` in a script gets /dev/null
 * and exits at once; use `sleep inf | node peer_ws.js` by hand), or on SIGTERM/SIGINT.
 *
 * Standard output carries events, one per line, and nothing else (diagnostics go to
 * stderr):
 *   LISTENING <port>        once, when the server accepts connections
 *   CONNECTED               a WebSocket handshake completed
 *   PONG <payload>          a pong arrived (payload as UTF-8)
 *   CLOSE <code> [reason]   the client's close frame arrived (whoever started the close):
 *                           its code and reason, 1005 if it had no code. The space and reason
 *                           are left out when the reason is empty. "CLOSE 1006" means the
 *                           TCP connection ended without a valid close frame; it is printed
 *                           when the connection ends, and it is also what a protocol
 *                           violation by the client looks like (ws answers it with a close
 *                           of its own, 1002/1007/1009, and says why on stderr).
 *
 * WebSocket (/ws): no extensions (permessage-deflate is off), messages up to 64 MiB. A text
 * or binary message is echoed with its type, unless it is a text command:
 *   cmd:frag:<n>:<size>     a TEXT message of <size> bytes in <n> frames, with a ping
 *                           "p<i>" sent after frame i (1 <= i < n), between the fragments.
 *                           Payload (same in lws_peer.c, so a test can rebuild it): byte j
 *                           is 'a' + j % 26; then, at each boundary b_i = floor(i*size/n),
 *                           i = 1..n-1, the character C = ["é","€","😀"][(i-1) % 3]
 *                           (L = 2, 3, 4 bytes) is written over bytes [b_i-k, b_i-k+L),
 *                           with k = 1 + floor((i-1)/3) % (L-1) bytes before the boundary,
 *                           when b_i >= k, b_i-k >= the end of the last character written,
 *                           and b_i-k+L <= size. So the characters straddle fragments.
 *   cmd:big:<size>          a BINARY message of <size> bytes, byte i = i & 0xff
 *   cmd:close:<code>:<reason>  starts the close handshake with that code and reason; an
 *                           empty code sends a close frame with no payload. A code or
 *                           reason that ws refuses (1005, 999, reason over 123 bytes) is
 *                           written as a raw close frame instead, for negative tests.
 *   cmd:ping:<payload>      sends a ping; when the matching pong arrives, sends the text
 *                           "pong:<payload>". Payloads over 125 bytes go out raw.
 *   cmd:raw:<hex>           writes those bytes, as they are, on the connection's socket
 *                           (malformed frames: bad UTF-8, reserved opcodes, masked frames)
 *
 * HTTP (any other path; every response, the 101 included, carries X-Conn-Id: <k>, where k
 * numbers the connections accepted, 1, 2, ...; for TLS, those whose handshake completed):
 *   GET /http/len/<n>               n bytes with Content-Length, byte i = 'a' + i % 26
 *   GET /http/chunked/<n>/<chunk>   the same body, Transfer-Encoding: chunked, <chunk> bytes
 *                                   per chunk
 *   GET|POST|PUT|DELETE /http/echo  200, the request body as the body, X-Method: <method>,
 *                                   X-Echo-Header: <value of X-Test, empty if none>
 *   GET /http/close/<n>             n bytes, Connection: close, no Content-Length and no
 *                                   chunking: the body ends where the connection does
 *   GET /http/status/<code>         that status and a short body (200..599; others get 400)
 *   GET /http/early                 a 103 Early Hints head, then 200 "after hints\n"
 *   GET /http/hangup/<n>            n bytes with Content-Length and no "Connection: close";
 *                                   then any request on that connection goes unanswered and
 *                                   the connection is cut 150 ms later (a server closing an
 *                                   idle keep-alive under a request it never read)
 *   anything else                   404
 */

const fs = require('fs');
const http = require('http');
const https = require('https');

const { WebSocketServer } = require('./require_ws.js')('peer_ws');

const MAX_PAYLOAD = 64 * 1024 * 1024;
const MAX_BODY = 64 * 1024 * 1024;

function usage() {
	process.stderr.write('usage: node peer_ws.js [--tls CERT KEY] [--port N]\n');
	process.exit(2);
}

function parseArgs(argv) {
	const opt = { port: 0, cert: null, key: null };
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === '--tls' && i + 2 < argv.length) {
			opt.cert = argv[++i];
			opt.key = argv[++i];
		} else if (argv[i] === '--port' && i + 1 < argv.length) {
			opt.port = Number(argv[++i]);
			if (!Number.isInteger(opt.port) || opt.port < 0 || opt.port > 65535)
				usage();
		} else {
			usage();
		}
	}
	return opt;
}

/* Pipes and files are written synchronously by Node on Linux, so a line is out when this
 * returns. */
function event(line) {
	process.stdout.write(line + '\n');
}

function debug(msg) {
	process.stderr.write('peer_ws: ' + msg + '\n');
}

/* A non-negative decimal integer, or -1. */
function uint(s, max) {
	if (!/^[0-9]{1,10}$/.test(s))
		return -1;
	const v = Number(s);
	return v <= max ? v : -1;
}

function alphaBody(n) {
	const b = Buffer.allocUnsafe(n);
	for (let i = 0; i < n; i++)
		b[i] = 0x61 + (i % 26);
	return b;
}

/* ---- WebSocket --------------------------------------------------------------------- */

const SPLIT_CHARS = ['é', '€', '😀'].map((c) => Buffer.from(c, 'utf8'));

/* The cmd:frag payload and its fragment boundaries; the header comment is the spec. */
function fragPayload(n, size) {
	const buf = alphaBody(size);
	const bounds = [0];
	for (let i = 1; i < n; i++)
		bounds.push(Math.floor((i * size) / n));
	bounds.push(size);
	let end = 0;
	for (let i = 1; i < n; i++) {
		const c = SPLIT_CHARS[(i - 1) % 3];
		const k = 1 + (Math.floor((i - 1) / 3) % (c.length - 1));
		const b = bounds[i];
		if (b < k || b - k < end || b - k + c.length > size)
			continue;
		c.copy(buf, b - k);
		end = b - k + c.length;
	}
	return { buf, bounds };
}

/* A server-to-client frame (FIN set, unmasked) written past ws, for what ws refuses. */
function rawFrame(opcode, payload) {
	let hdr;
	if (payload.length < 126) {
		hdr = Buffer.from([0x80 | opcode, payload.length]);
	} else if (payload.length < 65536) {
		hdr = Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
	} else {
		hdr = Buffer.alloc(10);
		hdr[0] = 0x80 | opcode;
		hdr[1] = 127;
		hdr.writeBigUInt64BE(BigInt(payload.length), 2);
	}
	return Buffer.concat([hdr, payload]);
}

function onCommand(ws, state, text) {
	let m;
	if ((m = /^cmd:frag:([0-9]+):([0-9]+)$/.exec(text))) {
		const n = uint(m[1], 1 << 20);
		const size = uint(m[2], MAX_PAYLOAD);
		if (n < 1 || size < 0)
			return false;
		const { buf, bounds } = fragPayload(n, size);
		for (let i = 0; i < n; i++) {
			/* ws's continuation API: the first send picks the opcode, later ones go out as
			 * CONTINUATION frames until fin. binary:false keeps it a TEXT message though
			 * the fragments are Buffers (they split characters, so cannot be strings). */
			ws.send(buf.subarray(bounds[i], bounds[i + 1]),
				{ binary: false, fin: i === n - 1 });
			if (i < n - 1)
				ws.ping('p' + (i + 1));
		}
		return true;
	}
	if ((m = /^cmd:big:([0-9]+)$/.exec(text))) {
		const size = uint(m[1], MAX_PAYLOAD);
		if (size < 0)
			return false;
		const b = Buffer.allocUnsafe(size);
		for (let i = 0; i < size; i++)
			b[i] = i & 0xff;
		ws.send(b, { binary: true });
		return true;
	}
	if ((m = /^cmd:close:([0-9]*):([\s\S]*)$/.exec(text))) {
		if (m[1] === '') {
			ws.close();
			return true;
		}
		const code = uint(m[1], 65535);
		if (code < 0)
			return false;
		try {
			ws.close(code, m[2]);
		} catch (e) {
			debug('ws refused close ' + code + ' (' + e.message + '); sending it raw');
			const p = Buffer.concat([Buffer.from([code >> 8, code & 0xff]),
						 Buffer.from(m[2], 'utf8')]);
			ws._socket.write(rawFrame(0x8, p));
		}
		return true;
	}
	if ((m = /^cmd:ping:([\s\S]*)$/.exec(text))) {
		const payload = Buffer.from(m[1], 'utf8');
		state.pings.push(m[1]);
		if (payload.length <= 125)
			ws.ping(payload);
		else
			ws._socket.write(rawFrame(0x9, payload));
		return true;
	}
	if ((m = /^cmd:raw:((?:[0-9a-fA-F]{2})*)$/.exec(text))) {
		/* ws exposes no raw write; its socket is the documented-enough `_socket`. */
		ws._socket.write(Buffer.from(m[1], 'hex'));
		return true;
	}
	return false;
}

function onConnection(ws) {
	const state = { pings: [] };
	event('CONNECTED');
	ws.on('message', (data, isBinary) => {
		if (!isBinary) {
			const text = data.toString('utf8');
			if (text.startsWith('cmd:')) {
				if (onCommand(ws, state, text))
					return;
				debug('not a valid command, echoing: ' + text.slice(0, 80));
			}
		}
		ws.send(data, { binary: isBinary });
	});
	ws.on('pong', (data) => {
		const payload = data.toString('utf8');
		event('PONG ' + payload);
		const i = state.pings.indexOf(payload);
		if (i >= 0) {
			state.pings.splice(i, 1);
			ws.send('pong:' + payload);
		}
	});
	/* The close is reported when the client's close frame arrives, not when ws emits
	 * 'close' (that waits for the TCP connection to end, which the client may delay). ws
	 * has no public event for the frame; its receiver's 'conclude' is that moment. */
	let reported = false;
	const report = (code, reason) => {
		if (reported)
			return;
		reported = true;
		const r = reason.toString('utf8');
		event('CLOSE ' + code + (r.length ? ' ' + r : ''));
	};
	if (ws._receiver)
		ws._receiver.on('conclude', report);
	ws.on('close', report);
	/* ws reports a protocol violation by the client here, then closes (1002, 1007, 1009...);
	 * the 'close' event still follows. */
	ws.on('error', (e) => debug('ws error: ' + e.message));
}

/* ---- HTTP ---------------------------------------------------------------------------- */

function reply(res, status, body, headers) {
	res.writeHead(status, Object.assign({ 'Content-Length': body.length }, headers || {}));
	res.end(body);
}

async function sendChunked(res, body, chunk) {
	res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
	/* One write is one chunk on the wire: Node frames every write separately. */
	for (let off = 0; off < body.length; off += chunk) {
		if (!res.write(body.subarray(off, Math.min(off + chunk, body.length))))
			await new Promise((resolve) => res.once('drain', resolve));
	}
	res.end();
}

function onRequest(req, res) {
	/* After /http/hangup: the server "has already decided" to close; it reads no more. */
	if (req.socket.hangingUp)
		return;
	res.setHeader('X-Conn-Id', String(req.socket.connId));
	const path = req.url.split('?')[0];
	let m;
	if (req.method === 'GET' && (m = /^\/http\/hangup\/([0-9]+)$/.exec(path))) {
		const n = uint(m[1], MAX_BODY);
		if (n < 0)
			return reply(res, 400, Buffer.from('bad length\n'));
		const sock = req.socket;
		sock.hangingUp = true;
		reply(res, 200, alphaBody(n), { 'Content-Type': 'application/octet-stream' });
		setTimeout(() => sock.destroy(), 150);
		return;
	}
	if (req.method === 'GET' && (m = /^\/http\/len\/([0-9]+)$/.exec(path))) {
		const n = uint(m[1], MAX_BODY);
		if (n < 0)
			return reply(res, 400, Buffer.from('bad length\n'));
		return reply(res, 200, alphaBody(n), { 'Content-Type': 'application/octet-stream' });
	}
	if (req.method === 'GET' && (m = /^\/http\/chunked\/([0-9]+)\/([0-9]+)$/.exec(path))) {
		const n = uint(m[1], MAX_BODY);
		const chunk = uint(m[2], MAX_BODY);
		if (n < 0 || chunk < 1)
			return reply(res, 400, Buffer.from('bad length\n'));
		sendChunked(res, alphaBody(n), chunk).catch((e) => debug('chunked: ' + e.message));
		return;
	}
	if (path === '/http/echo' && ['GET', 'POST', 'PUT', 'DELETE'].includes(req.method)) {
		const parts = [];
		let len = 0;
		req.on('data', (d) => {
			len += d.length;
			if (len > MAX_BODY)
				req.destroy();
			else
				parts.push(d);
		});
		req.on('end', () => {
			const xtest = req.headers['x-test'];
			reply(res, 200, Buffer.concat(parts), {
				'Content-Type': 'application/octet-stream',
				'X-Method': req.method,
				'X-Echo-Header': xtest === undefined ? '' : String(xtest),
			});
		});
		return;
	}
	if (req.method === 'GET' && (m = /^\/http\/close\/([0-9]+)$/.exec(path))) {
		const n = uint(m[1], MAX_BODY);
		if (n < 0)
			return reply(res, 400, Buffer.from('bad length\n'));
		/* Without a length and with chunking off, Node delimits the body by closing the
		 * connection (it sets its "last response" flag), which is what this route is for. */
		res.useChunkedEncodingByDefault = false;
		res.shouldKeepAlive = false;
		res.writeHead(200, { 'Content-Type': 'application/octet-stream', Connection: 'close' });
		const body = alphaBody(n);
		/* Two writes, so a reader sees the body arrive in more than one piece. */
		res.write(body.subarray(0, n >> 1));
		res.end(body.subarray(n >> 1));
		return;
	}
	if (req.method === 'GET' && (m = /^\/http\/status\/([0-9]{3})$/.exec(path))) {
		const code = Number(m[1]);
		if (code < 200 || code > 599)
			return reply(res, 400, Buffer.from('status out of range\n'));
		/* 204 and 304 never have a body, nor a Content-Length for one (RFC 9110). */
		if (code === 204 || code === 304) {
			res.writeHead(code);
			return res.end();
		}
		return reply(res, code, Buffer.from('status ' + code + '\n'), { 'Content-Type': 'text/plain' });
	}
	if (req.method === 'GET' && path === '/http/early') {
		/* An interim 103 Early Hints head, then the real answer. */
		res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
		return reply(res, 200, Buffer.from('after hints\n'), { 'Content-Type': 'text/plain' });
	}
	if (path === '/ws')
		return reply(res, 426, Buffer.from('upgrade required\n'), { Upgrade: 'websocket' });
	reply(res, 404, Buffer.from('not found\n'), { 'Content-Type': 'text/plain' });
}

/* ---- main ---------------------------------------------------------------------------- */

function main() {
	const opt = parseArgs(process.argv.slice(2));
	let server;
	let connCount = 0;
	const number = (sock) => {
		sock.connId = ++connCount;
	};
	if (opt.cert) {
		server = https.createServer({
			cert: fs.readFileSync(opt.cert),
			key: fs.readFileSync(opt.key),
		});
		server.on('secureConnection', number);
		server.on('tlsClientError', (e) => debug('TLS handshake failed: ' + e.message));
	} else {
		server = http.createServer();
		server.on('connection', number);
	}
	/* Tests hold connections open on purpose; Node's default timeouts would cut them. */
	server.keepAliveTimeout = 0;
	server.requestTimeout = 0;
	server.headersTimeout = 0;
	server.on('request', onRequest);
	server.on('clientError', (e, sock) => {
		/* TLS failures arrive here too (and at tlsClientError); only a parse error of
		 * Node's HTTP parser (code HPE_*) gets an HTTP answer. */
		if (typeof e.code === 'string' && e.code.startsWith('HPE_') && sock.writable) {
			debug('bad HTTP request: ' + e.message);
			sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
		} else {
			sock.destroy();
		}
	});

	const wss = new WebSocketServer({
		noServer: true,
		perMessageDeflate: false,
		maxPayload: MAX_PAYLOAD,
	});
	wss.on('headers', (headers, req) => headers.push('X-Conn-Id: ' + req.socket.connId));
	wss.on('connection', onConnection);
	server.on('upgrade', (req, sock, head) => {
		if (req.url.split('?')[0] !== '/ws') {
			sock.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n' +
				 'X-Conn-Id: ' + sock.connId + '\r\n\r\n');
			return;
		}
		wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req));
	});

	server.listen(opt.port, '127.0.0.1', () => event('LISTENING ' + server.address().port));
	server.on('error', (e) => {
		debug('listen: ' + e.message);
		process.exit(1);
	});

	process.stdin.on('end', () => process.exit(0));
	process.stdin.on('error', () => process.exit(0));
	process.stdin.resume();
	process.on('SIGTERM', () => process.exit(0));
	process.on('SIGINT', () => process.exit(0));
}

main();
