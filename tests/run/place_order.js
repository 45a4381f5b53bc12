// place_order.js PORT SIDE QTY: places one LIMIT order at the sim on 127.0.0.1:PORT that
// crosses the book (a buy 1% above the best ask, a sell 1% below the best bid), so it
// trades at once: a trade on the account that no `tally run` made. Signed REST as in
// PROTOCOL.md, with TALLY_API_KEY and TALLY_API_SECRET. Prints the venue's answer; exits 0
// when the order traded, 1 otherwise.
'use strict';
const crypto = require('crypto');
const http = require('http');

const [port, side, qty] = process.argv.slice(2);
const key = process.env.TALLY_API_KEY;
const secret = process.env.TALLY_API_SECRET;
if (!port || !/^(BUY|SELL)$/.test(side || '') || !qty || !key || !secret) {
	console.error('usage: place_order.js PORT BUY|SELL QTY (TALLY_API_KEY, TALLY_API_SECRET set)');
	process.exit(2);
}

function request(method, path, headers) {
	return new Promise((resolve, reject) => {
		const req = http.request({host: '127.0.0.1', port, method, path, headers}, (res) => {
			let body = '';
			res.on('data', (d) => (body += d));
			res.on('end', () => resolve({status: res.statusCode, body}));
		});
		req.on('error', reject);
		req.end();
	});
}

// Prices at the symbol's scale (2 decimals for BTCUSDT), as integers of cents.
function cents(s) {
	const [i, f = ''] = s.split('.');
	return BigInt(i) * 100n + BigInt((f + '00').slice(0, 2));
}

(async () => {
	const depth = await request('GET', '/api/v3/depth?symbol=BTCUSDT&limit=5', {});
	const book = JSON.parse(depth.body);
	const touch = cents(side === 'BUY' ? book.asks[0][0] : book.bids[0][0]);
	const px = side === 'BUY' ? (touch * 101n) / 100n : (touch * 99n) / 100n;
	const price = `${px / 100n}.${String(px % 100n).padStart(2, '0')}`;
	const params = {newOrderRespType: 'FULL', price, quantity: qty, recvWindow: '60000',
		side, symbol: 'BTCUSDT', timeInForce: 'IOC', timestamp: String(Date.now()),
		type: 'LIMIT'};
	const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
	const sig = crypto.createHmac('sha256', secret).update(query).digest('hex');
	const res = await request('POST', `/api/v3/order?${query}&signature=${sig}`,
		{'X-MBX-APIKEY': key});
	console.log(res.body);
	const ans = JSON.parse(res.body);
	process.exit(res.status === 200 && Number(ans.executedQty) > 0 ? 0 : 1);
})().catch((e) => {
	console.error(`place_order.js: ${e.message}`);
	process.exit(1);
});
