// Reference server for the sockjs-rs conformance suite: sockjs-node 0.3.24
// serving every service of PROTOCOL.md section 1 under one HTTP server.
//
// Usage: node server.js [PORT] [SOCKJS_URL]   (PORT 0 or absent = ephemeral)
// SOCKJS_URL is what the iframe page loads (default: sockjs-node's CDN URL).
// Prints one line "listening on 127.0.0.1:PORT" once it accepts connections.
// Besides the section 1 services it serves /presence, the test-only service
// of the browser tests (sockjs-tests/tests/browser.rs has the Rust twin), and
// /multiplex: websocket-multiplex 0.1.0's MultiplexServer with the channels
// MULTIPLEX_CHANNELS, each a room as our test-server's /multiplex makes it
// (what one subscriber sends, every subscriber of that channel receives).
'use strict';

var http = require('http');
var sockjs = require('sockjs');
var multiplexServer = require('websocket-multiplex');

var port = parseInt(process.argv[2] || '0', 10);
if (isNaN(port) || port < 0 || port > 65535) {
  console.error('usage: node server.js [PORT] [SOCKJS_URL]');
  process.exit(2);
}

// Only errors are worth seeing; the per-request log lines would drown them.
function log(severity, line) {
  if (severity === 'error') {
    console.error(line);
  }
}

var sockjsUrl = process.argv[3];

function service(options, onConnection) {
  var opts = { log: log };
  if (sockjsUrl) {
    opts.sockjs_url = sockjsUrl;
  }
  Object.keys(options).forEach(function (k) { opts[k] = options[k]; });
  var srv = sockjs.createServer(opts);
  srv.on('connection', onConnection);
  return srv;
}

function echo(conn) {
  conn.on('data', function (m) { conn.write(m); });
}

// A session of /broadcast stays in this map from open until close.
var members = {};

// /presence: "join TOKEN" labels the session ("joined TOKEN"); "alive? TOKEN"
// answers "alive TOKEN" while a session so labelled is open, else "gone TOKEN".
// Short heartbeat and disconnect delays: a client that goes away without a
// word (jsonp-polling leaves its last poll pending) is noticed within ~4 s.
var present = {};

function presence(conn) {
  var mine = [];
  conn.on('data', function (m) {
    var space = m.indexOf(' ');
    var verb = space < 0 ? m : m.slice(0, space);
    var token = space < 0 ? '' : m.slice(space + 1);
    if (verb === 'join') {
      present[token] = (present[token] || 0) + 1;
      mine.push(token);
      conn.write('joined ' + token);
    } else if (verb === 'alive?') {
      conn.write((present[token] ? 'alive ' : 'gone ') + token);
    }
  });
  conn.on('close', function () {
    mine.forEach(function (token) {
      if (--present[token] === 0) {
        delete present[token];
      }
    });
  });
}

var services = [
  ['/echo', service({ response_limit: 4096 }, echo)],
  ['/disabled_websocket_echo', service({ websocket: false }, echo)],
  ['/cookie_needed_echo', service({ jsessionid: true }, echo)],
  ['/close', service({}, function (conn) { conn.close(3000, 'Go away!'); })],
  ['/ticker', service({}, function (conn) {
    var timer = setInterval(function () { conn.write('tick!'); }, 1000);
    conn.on('close', function () { clearInterval(timer); });
  })],
  ['/amplify', service({}, function (conn) {
    conn.on('data', function (m) {
      var n = Math.floor(Number(m));
      if (!(n >= 1 && n <= 18)) {
        n = 1;
      }
      conn.write(new Array(Math.pow(2, n) + 1).join('x'));
    });
  })],
  ['/broadcast', service({}, function (conn) {
    members[conn.id] = conn;
    conn.on('close', function () { delete members[conn.id]; });
    conn.on('data', function (m) {
      Object.keys(members).forEach(function (id) { members[id].write(m); });
    });
  })],
  ['/presence', service({ heartbeat_delay: 2000, disconnect_delay: 2000 }, presence)],
];

// The channels /multiplex serves (websocket-multiplex serves registered
// names only); tests/client.rs uses these.
var MULTIPLEX_CHANNELS = ['a', 'b', 'a b'];
var multiplexService = service({}, function () {});
var multiplexer = new multiplexServer.MultiplexServer(multiplexService);
MULTIPLEX_CHANNELS.forEach(function (name) {
  var subscribers = [];
  multiplexer.registerChannel(name).on('connection', function (channel) {
    subscribers.push(channel);
    channel.on('data', function (m) {
      subscribers.forEach(function (s) { s.write(m); });
    });
    channel.on('close', function () {
      var at = subscribers.indexOf(channel);
      if (at >= 0) {
        subscribers.splice(at, 1);
      }
    });
  });
});
services.push(['/multiplex', multiplexService]);
// /multiplex_carl: the channel 'carl' says "bye" and ends itself (the
// server's `uns`), as websocket-multiplex's example does.
var carlService = service({}, function () {});
new multiplexServer.MultiplexServer(carlService).registerChannel('carl').on('connection', function (channel) {
  channel.write('bye');
  channel.end();
});
services.push(['/multiplex_carl', carlService]);

var server = http.createServer();
// Anything no SockJS prefix claims: plain 404 with a framed body.
server.addListener('request', function (req, res) {
  var body = '404 Error: Page not found\n';
  res.writeHead(404, {
    'Content-Type': 'text/plain; charset=UTF-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
});
server.addListener('upgrade', function (req, socket) {
  socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
});

services.forEach(function (s) {
  s[1].installHandlers(server, { prefix: s[0] });
});

server.listen(port, '127.0.0.1', function () {
  console.log('listening on 127.0.0.1:' + server.address().port);
});

function shutdown() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
