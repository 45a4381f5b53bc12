'use strict';
/*
 * require_ws.js: loads Debian's `ws` module (package node-ws) for the node test peers.
 * Debian installs it under /usr/share/nodejs, which Debian's own node searches but other
 * builds (nodesource's) do not; NODE_PATH, when set, is honoured first.
 */
module.exports = function requireWs(who) {
	try {
		return require('ws');
	} catch (e) {
		if (e.code !== 'MODULE_NOT_FOUND')
			throw e;
	}
	for (const dir of ['/usr/share/nodejs', '/usr/lib/nodejs']) {
		try {
			return require(dir + '/ws');
		} catch (e) {
			if (e.code !== 'MODULE_NOT_FOUND')
				throw e;
		}
	}
	process.stderr.write(who + ': cannot find the ws module; apt-get install node-ws\n');
	process.exit(1);
};
