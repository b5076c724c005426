'use strict';
// Node.js `ws` server used as a test peer by the wsapi test suite.
//
// Usage: node server.js [HOST]   (HOST: 127.0.0.1 (default) or ::1; nothing else)
// Listens on an ephemeral port and prints "PORT <n>" on stdout once listening.
// Exits when stdin closes (the Python side keeps a pipe open) or on SIGTERM/SIGINT.
//
// Routes (by request path; parameters in the query string):
//   /echo                          echo text as text, binary as binary
//   /subprotocol                   selects the first subprotocol the client offers that is
//                                  chat.v2 or chat.v1 (the client's order, unlike websockets),
//                                  none otherwise; sends the selected name ("" if none) as a
//                                  text message, then echoes
//   /close?code=4000&reason=bye    closes with that code/reason right after open
//                                  (defaults: 1000, "")
//   /close-no-code                 ws.close() with no code: a Close frame with an empty payload
//   /ping?count=3                  sends count pings ("ping 1", ...), waits for count pongs,
//                                  sends text "pinged 3", then echoes
//   /origin-check?allow=ORIGIN     rejects the upgrade with 403 unless Origin === ORIGIN
//                                  (default http://good.example); then echoes
//   /headers                       sends the request headers as JSON (lower-cased names), echoes
//   /send?count=N&size=M           sends N binary messages of M bytes (first 4 bytes: index
//                                  big-endian, then bytes 0..255 repeated), then closes 1000
//   /compression                   sends the negotiated Sec-WebSocket-Extensions value as text,
//                                  then echoes
// Other paths are rejected with 404.

const { WebSocketServer } = require('ws');

const host = process.argv[2] || '127.0.0.1';
if (host !== '127.0.0.1' && host !== '::1') {
  console.error(`refusing to listen on ${host}: test peers only use 127.0.0.1 or ::1`);
  process.exit(2);
}

const SUBPROTOCOLS = ['chat.v2', 'chat.v1'];
const ROUTES = new Set([
  '/echo', '/subprotocol', '/close', '/close-no-code', '/ping', '/origin-check', '/headers',
  '/send', '/compression',
]);

function parse(req) {
  const url = new URL(req.url, 'http://localhost');
  return { path: url.pathname, query: url.searchParams };
}

function intParam(query, name, dflt) {
  const value = query.get(name);
  return value ? parseInt(value, 10) : dflt;
}

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

function sendPayload(index, size) {
  const buf = Buffer.alloc(Math.max(size, 4));
  buf.writeUInt32BE(index, 0);
  for (let i = 4; i < buf.length; i += 1) buf[i] = (i - 4) % 256;
  return buf;
}

const wss = new WebSocketServer({
  host,
  port: 0,
  perMessageDeflate: true,
  maxPayload: 64 * 1024 * 1024,
  clientTracking: true,
  verifyClient(info, callback) {
    const { path, query } = parse(info.req);
    if (!ROUTES.has(path)) {
      callback(false, 404, 'Not Found');
    } else if (path === '/origin-check') {
      const allow = query.get('allow') || 'http://good.example';
      if (info.origin === allow) callback(true);
      else callback(false, 403, 'Forbidden');
    } else {
      callback(true);
    }
  },
  handleProtocols(protocols, req) {
    if (parse(req).path !== '/subprotocol') return false;
    for (const protocol of protocols) {
      if (SUBPROTOCOLS.includes(protocol)) return protocol;
    }
    return false;
  },
});

// The exact Sec-WebSocket-Extensions value of each 101 response, by request.
const responseExtensions = new WeakMap();
wss.on('headers', (headers, req) => {
  const prefix = 'sec-websocket-extensions:';
  const line = headers.find((h) => h.toLowerCase().startsWith(prefix));
  if (line !== undefined) responseExtensions.set(req, line.slice(prefix.length).trim());
});

wss.on('connection', (ws, req) => {
  const { path, query } = parse(req);
  ws.on('error', (err) => console.error(`connection error on ${path}: ${err.message}`));
  switch (path) {
    case '/subprotocol':
      ws.send(ws.protocol || '');
      echo(ws);
      break;
    case '/close':
      ws.close(intParam(query, 'code', 1000), query.get('reason') || '');
      break;
    case '/close-no-code':
      ws.close();
      break;
    case '/ping': {
      const count = intParam(query, 'count', 1);
      let pongs = 0;
      ws.on('pong', () => {
        pongs += 1;
        if (pongs === count) ws.send(`pinged ${count}`);
      });
      for (let i = 1; i <= count; i += 1) ws.ping(`ping ${i}`);
      echo(ws);
      break;
    }
    case '/headers':
      ws.send(JSON.stringify(req.headers));
      echo(ws);
      break;
    case '/send': {
      const count = intParam(query, 'count', 1);
      const size = intParam(query, 'size', 4);
      for (let i = 0; i < count; i += 1) ws.send(sendPayload(i, size));
      ws.close(1000);
      break;
    }
    case '/compression':
      ws.send(responseExtensions.get(req) || '');
      echo(ws);
      break;
    default: // /echo, /origin-check
      echo(ws);
  }
});

wss.on('error', (err) => {
  console.error(`server error: ${err.stack || err}`);
  process.exit(1);
});

wss.on('listening', () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

function shutdown() {
  for (const client of wss.clients) client.terminate();
  wss.close(() => process.exit(0));
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
