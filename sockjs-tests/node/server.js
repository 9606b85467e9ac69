// Reference server for the sockjs-rs conformance suite: sockjs-node 0.3.24
// serving every service of PROTOCOL.md section 1 under one HTTP server.
//
// Usage: node server.js [PORT]   (PORT 0 or absent = ephemeral)
// Prints one line "listening on 127.0.0.1:PORT" once it accepts connections.
'use strict';

var http = require('http');
var sockjs = require('sockjs');

var port = parseInt(process.argv[2] || '0', 10);
if (isNaN(port) || port < 0 || port > 65535) {
  console.error('usage: node server.js [PORT]');
  process.exit(2);
}

// Only errors are worth seeing; the per-request log lines would drown them.
function log(severity, line) {
  if (severity === 'error') {
    console.error(line);
  }
}

function service(options, onConnection) {
  var opts = { log: log };
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
];

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
