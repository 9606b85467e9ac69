// The scenarios of the browser end-to-end tests, run inside the page with
// the real sockjs-client (window.SockJS). run.mjs calls them through
// window.sockjsTest; every call resolves (never rejects) to
//   { ok: boolean, detail: string, transport: string|null, ms: number }
// and every wait is bounded by a timeout with a message saying what was
// expected and what arrived instead.
'use strict';

(function () {
  var base = null; // the SockJS server's base URL, e.g. http://127.0.0.1:8081

  function now() {
    return performance.now();
  }

  // A short, printable description of a string for failure messages.
  function describe(s) {
    if (typeof s !== 'string') {
      return String(s);
    }
    var shown = s.length > 24 ? s.slice(0, 24) + '…' : s;
    return JSON.stringify(shown) + ' (' + s.length + ' code units)';
  }

  // Why two strings differ: lengths and the first differing code unit.
  function difference(expected, got) {
    if (typeof got !== 'string') {
      return 'expected a string, got ' + typeof got;
    }
    var n = Math.min(expected.length, got.length);
    for (var i = 0; i < n; i++) {
      if (expected.charCodeAt(i) !== got.charCodeAt(i)) {
        return 'first difference at index ' + i + ': expected U+' + hex(expected.charCodeAt(i)) +
          ', got U+' + hex(got.charCodeAt(i)) + ' (lengths ' + expected.length + ' and ' + got.length + ')';
      }
    }
    return 'expected ' + expected.length + ' code units, got ' + got.length;
  }

  function hex(code) {
    return ('000' + code.toString(16).toUpperCase()).slice(-4);
  }

  // One SockJS connection with a log of its events and a way to wait for a
  // condition on that log.
  // `server`, when given, is the `<server>` segment of the session's URLs
  // (sockjs-client's `server` option; random otherwise): what a sticky
  // proxy routes on.
  function Conn(service, transport, server) {
    var self = this;
    this.transport = transport;
    this.messages = [];
    this.opened = false;
    this.openTransport = null;
    this.closed = null; // {code, reason, wasClean}
    this.waiters = [];
    // `timeout`: the least time the client gives the transport to open
    // (by default about 1 s for iframe transports on loopback: too short
    // when the machine is busy with the other pages).
    var options = { transports: [transport], timeout: 6000 };
    if (server) {
      options.server = server;
    }
    this.sock = new SockJS(base + '/' + service, null, options);
    this.sock.onopen = function () {
      self.opened = true;
      self.openTransport = self.sock.transport;
      self.poke();
    };
    this.sock.onmessage = function (e) {
      self.messages.push(e.data);
      self.poke();
    };
    this.sock.onclose = function (e) {
      self.closed = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      self.poke();
    };
  }

  Conn.prototype.poke = function () {
    var self = this;
    this.waiters.slice().forEach(function (w) {
      w.check();
    });
  };

  // Resolves when `done()` returns true; rejects with `what` plus
  // `status()` on timeout, or when the connection closes first (unless
  // `closeIsFine`).
  Conn.prototype.until = function (what, done, timeoutMs, status, closeIsFine) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var waiter = {};
      var timer = setTimeout(function () {
        finish(new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what + (status ? ': ' + status() : '')));
      }, timeoutMs);
      function finish(err) {
        clearTimeout(timer);
        var i = self.waiters.indexOf(waiter);
        if (i >= 0) {
          self.waiters.splice(i, 1);
        }
        if (err) {
          reject(err);
        } else {
          resolve();
        }
      }
      waiter.check = function () {
        var ok;
        try {
          ok = done();
        } catch (e) {
          finish(e);
          return;
        }
        if (ok) {
          finish(null);
        } else if (self.closed && !closeIsFine) {
          finish(new Error('connection closed (' + self.closed.code + ' ' + JSON.stringify(self.closed.reason) +
            ') while waiting for ' + what + (status ? ': ' + status() : '')));
        }
      };
      self.waiters.push(waiter);
      waiter.check();
    });
  };

  // Waits for open and checks that the transport is the forced one.
  Conn.prototype.open = function (timeoutMs) {
    var self = this;
    return this.until('open', function () {
      return self.opened;
    }, timeoutMs || 9000).then(function () {
      if (self.openTransport !== self.transport) {
        throw new Error('forced transport ' + self.transport + ' but sock.transport is ' + self.openTransport);
      }
    });
  };

  // Waits for `count` messages in all (counting from the start of the log).
  Conn.prototype.messagesUntil = function (count, timeoutMs, what) {
    var self = this;
    return this.until(what || count + ' messages', function () {
      return self.messages.length >= count;
    }, timeoutMs, function () {
      return self.messages.length + ' arrived';
    });
  };

  Conn.prototype.close = function () {
    if (!this.closed) {
      try {
        this.sock.close();
      } catch (e) {
        // already closing
      }
    }
  };

  // Runs `body(conns)` where `open(service)` makes connections that are
  // all closed afterwards, and turns the outcome into a result.
  function scenario(transport, timeoutMs, body) {
    var started = now();
    var conns = [];
    function connect(service, server) {
      var c = new Conn(service, transport, server);
      conns.push(c);
      return c;
    }
    var overall;
    var guard = new Promise(function (resolve, reject) {
      overall = setTimeout(function () {
        reject(new Error('scenario timed out after ' + timeoutMs + ' ms'));
      }, timeoutMs);
    });
    return Promise.race([Promise.resolve().then(function () { return body(connect); }), guard]).then(
      function (detail) {
        return { ok: true, detail: detail || '', transport: conns.length ? conns[0].openTransport : null };
      },
      function (err) {
        return { ok: false, detail: err && err.message ? err.message : String(err),
          transport: conns.length ? conns[0].openTransport : null,
          closed: conns.length ? conns[0].closed : null, opened: conns.length ? conns[0].opened : false };
      }
    ).then(function (result) {
      clearTimeout(overall);
      conns.forEach(function (c) {
        c.close();
      });
      result.ms = Math.round(now() - started);
      return result;
    });
  }

  // Echo of each message in `sent`, in order, on /echo.
  function echoScenario(transport, sent, timeoutMs) {
    return scenario(transport, timeoutMs, async function (connect) {
      var c = connect('echo');
      await c.open();
      sent.forEach(function (m) {
        c.sock.send(m);
      });
      await c.messagesUntil(sent.length, timeoutMs - 1000, sent.length + ' echoes');
      for (var i = 0; i < sent.length; i++) {
        if (c.messages[i] !== sent[i]) {
          throw new Error('echo ' + (i + 1) + ' of ' + sent.length + ' differs: sent ' + describe(sent[i]) +
            ', got ' + describe(c.messages[i]) + '; ' + difference(sent[i], c.messages[i]));
        }
      }
      if (c.messages.length !== sent.length) {
        throw new Error('got ' + c.messages.length + ' messages for ' + sent.length + ' sent');
      }
      return sent.length + ' message(s), ' + sent.reduce(function (n, m) { return n + m.length; }, 0) + ' code units';
    });
  }

  function range(from, to) {
    var s = '';
    for (var c = from; c <= to; c++) {
      s += String.fromCharCode(c);
    }
    return s;
  }

  // PROTOCOL.md §8: the characters a server must escape, and astral ones.
  var ESCAPES = 'a' + range(0x200c, 0x200f) + 'b' + range(0x2028, 0x202f) + 'c' + range(0x2060, 0x206f) + 'd' +
    range(0xfff0, 0xffff) + ' emoji: \ud83d\ude00\ud83c\udf89 clef: \ud834\udd1e flag: \ud83c\uddeb\ud83c\uddf7 end';

  function bigMessage() {
    var s = [];
    for (var i = 0; i < 65536; i++) {
      s.push(String.fromCharCode(32 + ((i * 7919) % 95)));
    }
    return s.join('');
  }

  var scenarios = {
    open: function (t) {
      return scenario(t, 12000, async function (connect) {
        var c = connect('echo');
        await c.open();
        // The servers offer permessage-deflate (RFC 7692): the browser's
        // websocket must have negotiated it.
        if (t === 'websocket') {
          var ws = c.sock._transport && c.sock._transport.ws;
          var extensions = ws ? ws.extensions : '(no websocket)';
          if (!/^permessage-deflate/.test(extensions)) {
            throw new Error('websocket extensions: ' + JSON.stringify(extensions));
          }
          return 'sock.transport = ' + c.openTransport + ', extensions = ' + extensions;
        }
        return 'sock.transport = ' + c.openTransport;
      });
    },
    'echo-ascii': function (t) {
      return echoScenario(t, ['Hello, SockJS! 0123456789 ~!@#$%^&*()_+-={}[]|\\:";\'<>?,./'], 12000);
    },
    'echo-latin1': function (t) {
      return echoScenario(t, [range(0x00, 0xff)], 12000);
    },
    'echo-escapes': function (t) {
      return echoScenario(t, [ESCAPES], 12000);
    },
    'echo-64k': function (t) {
      return echoScenario(t, [bigMessage()], 15000);
    },
    'echo-200': function (t) {
      var sent = [];
      for (var i = 0; i < 200; i++) {
        sent.push('message ' + i + ' of 200');
      }
      return echoScenario(t, sent, 15000);
    },
    'server-close': function (t) {
      return scenario(t, 12000, async function (connect) {
        var c = connect('close');
        await c.open();
        await c.until('the close event', function () {
          return !!c.closed;
        }, 8000, null, true);
        if (c.closed.code !== 3000 || c.closed.reason !== 'Go away!') {
          throw new Error('expected close 3000 "Go away!", got ' + c.closed.code + ' ' + JSON.stringify(c.closed.reason));
        }
        if (c.messages.length) {
          throw new Error('unexpected messages before close: ' + describe(c.messages[0]));
        }
        return 'close ' + c.closed.code + ' ' + JSON.stringify(c.closed.reason);
      });
    },
    // The client closes; an observer asks the test-only /presence service
    // until the server reports that the session's handler has ended.
    'client-close': function (t) {
      return scenario(t, 20000, async function (connect) {
        var token = 'session-' + Math.random().toString(36).slice(2);
        var subject = connect('presence');
        await subject.open();
        subject.sock.send('join ' + token);
        await subject.until('"joined ' + token + '"', function () {
          return subject.messages.indexOf('joined ' + token) >= 0;
        }, 5000, function () { return JSON.stringify(subject.messages); });
        var observer = connect('presence');
        await observer.open();
        async function ask() {
          var before = observer.messages.length;
          observer.sock.send('alive? ' + token);
          await observer.until('an answer about ' + token, function () {
            return observer.messages.length > before;
          }, 5000);
          return observer.messages[before];
        }
        var first = await ask();
        if (first !== 'alive ' + token) {
          throw new Error('before close the server answered ' + describe(first) + ', expected "alive ' + token + '"');
        }
        var closedAt = now();
        subject.sock.close();
        await subject.until('the client-side close event', function () {
          return !!subject.closed;
        }, 3000, null, true);
        if (subject.closed.code !== 1000) {
          throw new Error('client close gave code ' + subject.closed.code + ' ' + JSON.stringify(subject.closed.reason));
        }
        // Bounded: the server must notice within disconnect_delay (5 s) plus slack.
        for (var attempt = 0; attempt < 60; attempt++) {
          var answer = await ask();
          if (answer === 'gone ' + token) {
            return 'server saw the session end ' + Math.round(now() - closedAt) + ' ms after close()';
          }
          if (answer !== 'alive ' + token) {
            throw new Error('unexpected answer ' + describe(answer));
          }
          if (now() - closedAt > 12000) {
            break;
          }
          await new Promise(function (r) { setTimeout(r, 200); });
        }
        throw new Error('the server still reports the session alive ' + Math.round(now() - closedAt) +
          ' ms after the client closed it');
      });
    },
    ticker: function (t) {
      return scenario(t, 12000, async function (connect) {
        var c = connect('ticker');
        await c.open();
        var opened = now();
        await c.messagesUntil(2, 5000, '2 ticks');
        c.messages.slice(0, 2).forEach(function (m) {
          if (m !== 'tick!') {
            throw new Error('expected "tick!", got ' + describe(m));
          }
        });
        return '2 ticks in ' + Math.round(now() - opened) + ' ms';
      });
    },
    // 2^1 .. 2^18 bytes, first one at a time (each reply its own frame, so
    // a streaming receiver, response_limit 128 KiB, ends after reply 16 and
    // again after 17 and 18: run.mjs checks that there were at least three
    // receiver requests), then all 18 back to back. Nothing may be lost.
    amplify: function (t) {
      return scenario(t, 20000, async function (connect) {
        var c = connect('amplify');
        await c.open();
        function check(from) {
          for (var i = 0; i < 18; i++) {
            var m = c.messages[from + i];
            var want = Math.pow(2, i + 1);
            if (typeof m !== 'string' || m.length !== want || !/^x*$/.test(m)) {
              throw new Error('reply ' + (from + i + 1) + ' should be ' + want + ' "x", got ' + describe(m));
            }
          }
        }
        for (var n = 1; n <= 18; n++) {
          c.sock.send(String(n));
          await c.messagesUntil(n, 8000, 'reply ' + n + ' (one at a time)');
        }
        check(0);
        for (n = 1; n <= 18; n++) {
          c.sock.send(String(n));
        }
        await c.messagesUntil(36, 10000, '18 more replies (back to back)');
        check(18);
        if (c.messages.length !== 36) {
          throw new Error(c.messages.length + ' replies for 36 messages');
        }
        return '2 × 18 replies, 2 × ' + (Math.pow(2, 19) - 2) + ' bytes';
      });
    },
    // Two websocket-multiplex 0.1.0 channels on one connection to
    // /multiplex (each channel the room of its name: a subscriber gets
    // what it sends). Each channel gets its own message only, a payload
    // keeps its commas, a name with a space travels escaped, and after
    // one channel is closed the other goes on.
    multiplex: function (t) {
      return scenario(t, 15000, async function (connect) {
        var c = connect('multiplex');
        var id = Math.random().toString(36).slice(2);
        var names = ['a-' + id, 'b ' + id];
        var mx = new WebSocketMultiplex(c.sock);
        var got = {};
        var channels = names.map(function (n) {
          var ch = mx.channel(n);
          got[n] = [];
          ch.onmessage = function (e) {
            got[n].push(e.data);
            c.poke();
          };
          return ch;
        });
        function status() {
          return JSON.stringify(got) + '; on the wire: ' + JSON.stringify(c.messages.slice(0, 6));
        }
        await c.open();
        channels[0].send('x,y,,z');
        channels[1].send('hello b');
        await c.until('a message on each channel', function () {
          return got[names[0]].length >= 1 && got[names[1]].length >= 1;
        }, 8000, status);
        if (got[names[0]][0] !== 'x,y,,z' || got[names[1]][0] !== 'hello b') {
          throw new Error('each channel should get its own message: ' + status());
        }
        var wire = 'msg,' + escape(names[1]) + ',hello b';
        if (c.messages.indexOf(wire) < 0) {
          throw new Error('expected ' + JSON.stringify(wire) + ' on the wire: ' + status());
        }
        channels[0].close();
        channels[1].send('after');
        await c.until('the second message on b', function () {
          return got[names[1]].length >= 2;
        }, 8000, status);
        if (got[names[1]][1] !== 'after' || got[names[0]].length !== 1 || got[names[1]].length !== 2) {
          throw new Error('after closing a: ' + status());
        }
        return '2 channels on one connection, 3 messages, topic ' + escape(names[1]);
      });
    },
  };

  // One room over two nodes behind a sticky proxy (tests/browser.rs, which
  // serves /multiplex on two nodes sharing a Redis broker, each answering
  // the `node` channel with its name). Connections with different
  // `<server>` segments are opened until two land on different nodes (at
  // most 12); both then subscribe to one channel, a room spanning both
  // nodes. A probe from the first is repeated until the second has one
  // (the second node's broker subscription is then in place; bounded),
  // then each sends one message and each must get both, once.
  var twoNodes = {
    'multiplex-nodes': function (t) {
      return scenario(t, 40000, async function (connect) {
        var id = Math.random().toString(36).slice(2);
        var nodes = {};
        var names = [];
        for (var i = 0; i < 12 && names.length < 2; i++) {
          var c = connect('multiplex', 'n' + i + id);
          var mx = new WebSocketMultiplex(c.sock);
          var who = { name: null };
          var ask = mx.channel('node');
          ask.onmessage = (function (w, conn) {
            return function (e) {
              w.name = e.data;
              conn.poke();
            };
          })(who, c);
          await c.open();
          await c.until('the node channel to name its node', (function (w) {
            return function () { return w.name !== null; };
          })(who), 8000);
          if (nodes[who.name]) {
            c.close();
          } else {
            nodes[who.name] = { conn: c, mx: mx, got: [] };
            names.push(who.name);
          }
        }
        if (names.length < 2) {
          throw new Error('12 connections with different <server> segments all reached ' + names.join(', '));
        }
        var room = 'room ' + id;
        var a = nodes[names[0]];
        var b = nodes[names[1]];
        [a, b].forEach(function (n) {
          n.channel = n.mx.channel(room);
          n.channel.onmessage = function (e) {
            n.got.push(e.data);
            n.conn.poke();
          };
        });
        function status() {
          return names[0] + ' got ' + JSON.stringify(a.got.slice(-6)) + ', ' + names[1] + ' got ' +
            JSON.stringify(b.got.slice(-6));
        }
        function has(n, m) {
          return n.got.indexOf(m) >= 0;
        }
        var probes = 0;
        while (!b.got.some(function (m) { return m.indexOf('probe ') === 0; })) {
          if (probes === 40) {
            throw new Error('40 probes from ' + names[0] + ', none reached ' + names[1] + ': ' + status());
          }
          a.channel.send('probe ' + probes++);
          await b.conn.until('a probe', function () {
            return b.got.some(function (m) { return m.indexOf('probe ') === 0; });
          }, 250, null).catch(function () {});
        }
        a.channel.send('from ' + names[0]);
        b.channel.send('from ' + names[1]);
        var both = ['from ' + names[0], 'from ' + names[1]];
        for (var n of [a, b]) {
          await n.conn.until('both messages', function () {
            return both.every(function (m) { return has(n, m); });
          }, 8000, status);
        }
        // Anything delivered twice would be here by now: the probe loop
        // and both messages have crossed the broker since.
        for (var k of [a, b]) {
          for (var m of both) {
            var times = k.got.filter(function (x) { return x === m; }).length;
            if (times !== 1) {
              throw new Error(JSON.stringify(m) + ' arrived ' + times + ' times: ' + status());
            }
          }
        }
        return 'nodes ' + names.join(' and ') + ' after ' + i + ' connections; ' + probes + ' probe(s); ' +
          'both messages on both, once';
      });
    },
  };

  // /broadcast across two pages, step by step (run.mjs drives both pages).
  var bc = null;
  var broadcast = {
    // Opens and proves membership: the page's own token comes back.
    open: function (t, token) {
      return scenario(t, 12000, async function () {
        bc = new Conn('broadcast', t);
        await bc.open();
        bc.sock.send(token);
        await bc.until('own token ' + token, function () {
          return bc.messages.indexOf(token) >= 0;
        }, 8000);
        return 'joined';
      });
    },
    send: function (token) {
      bc.sock.send(token);
      return true;
    },
    expect: function (t, tokens) {
      return scenario(t, 8000, async function () {
        await bc.until('tokens ' + tokens.join(', '), function () {
          return tokens.every(function (tok) { return bc.messages.indexOf(tok) >= 0; });
        }, 7000, function () {
          return 'missing ' + tokens.filter(function (tok) { return bc.messages.indexOf(tok) < 0; }).join(', ');
        });
        return 'got ' + tokens.length + ' broadcasts';
      });
    },
    close: function () {
      if (bc) {
        bc.close();
      }
      return true;
    },
  };

  window.sockjsTest = {
    ready: typeof SockJS === 'function',
    version: typeof SockJS === 'function' ? SockJS.version : null,
    init: function (serverBase) {
      base = serverBase.replace(/\/+$/, '');
      return true;
    },
    scenarioNames: Object.keys(scenarios),
    run: function (name, transport) {
      return (scenarios[name] || twoNodes[name])(transport);
    },
    broadcast: broadcast,
  };
})();
