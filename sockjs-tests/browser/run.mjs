// Drives headless Chromium (Debian's /usr/bin/chromium through playwright-core;
// no browser is ever downloaded) through page.html: every sockjs-client 1.6.1
// transport × every scenario, against one SockJS server, from one or more
// page origins. Prints a table and, last, one machine-readable line:
//   BROWSER-RESULT {"label":…,"passed":N,"failed":N,"na":N,"cells":[…]}
//
// usage: node run.mjs --server URL (--page-origin URL)... [--serve-static]
//                     [--static-port N] [--label NAME] [--jobs N] [--only T1,T2]
//                     [--scenarios S1,S2] [--deadline SECONDS] [--verbose]
//                     [--chromium-arg ARG]...
//   --server       the SockJS server's base URL: the §1 services plus the
//                  test-only /presence (tests/browser.rs, node/server.js)
//                  and /multiplex (websocket-multiplex channels as rooms)
//   --page-origin  an origin serving this folder at /static/ (page.html);
//                  the same origin as --server makes a same-origin run
//   --serve-static also serve this folder from a loopback port of our own
//                  (a cross-origin run needing no other static server);
//                  --static-port N picks that port (default: ephemeral)
//   --label        the adapter's name in the table
//   --jobs         pages (each in its own browser context) at work at once (8)
//   --only, --scenarios  run a subset; --scenarios multiplex-nodes runs the
//                  one room over two nodes (not part of the default set)
//   --deadline     stop after this many seconds (170), unfinished cells failing
//   --verbose      also print the detail of every passing cell
//   --chromium-arg one more Chromium command-line switch, e.g. the TLS run's
//                  --ignore-certificate-errors-spki-list=PIN (tests/browser.rs)
// Exit status: 0 when every cell passed or is a verified n/a, 1 otherwise,
// 2 on bad usage or when the browser cannot start.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const TRANSPORTS = [
  'websocket', 'xhr-streaming', 'eventsource', 'iframe-eventsource', 'htmlfile',
  'iframe-htmlfile', 'xhr-polling', 'iframe-xhr-polling', 'jsonp-polling',
];
const SCENARIOS = [
  'open', 'echo-ascii', 'echo-latin1', 'echo-escapes', 'echo-64k', 'echo-200',
  'server-close', 'client-close', 'ticker', 'broadcast', 'amplify', 'multiplex',
];
// Scenarios that need a server set up for them, run only when named by
// --scenarios: multiplex-nodes wants two nodes behind a sticky proxy,
// sharing a broker, each naming itself on the `node` channel
// (tests/browser.rs).
const EXTRA_SCENARIOS = ['multiplex-nodes'];
// Cells the client library itself refuses, checked rather than assumed:
// the page must see the client give up with 2000 "All transports failed"
// without a single request to the transport's URL.
const NOT_APPLICABLE = {
  'cross-origin htmlfile': {
    reason: 'sockjs-client enables htmlfile only for a same-origin server ' +
      '(HtmlFileTransport.enabled = HtmlfileReceiver.enabled && info.sameOrigin)',
    urlPart: '/htmlfile',
  },
};
// The receiver URL of each streaming transport (response_limit applies).
const STREAMING_RECEIVERS = {
  'xhr-streaming': 'xhr_streaming', eventsource: 'eventsource', 'iframe-eventsource': 'eventsource',
  htmlfile: 'htmlfile', 'iframe-htmlfile': 'htmlfile',
};
// The HTTP versions of the requests to the server whose Resource Timing
// entries the top page saw (nextHopProtocol: 'h2', 'http/1.1'...),
// counted over the whole run and reported in BROWSER-RESULT: the TLS run
// checks that Chromium spoke HTTP/2 (tests/browser.rs).
const protocols = {};

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function usage(message) {
  console.error(`run.mjs: ${message}`);
  console.error('usage: node run.mjs --server URL (--page-origin URL)... [--serve-static] [--label NAME] ' +
    '[--static-port N] [--jobs N] [--only T1,T2] [--scenarios S1,S2] [--deadline SECONDS] [--verbose] ' +
    '[--chromium-arg ARG]...');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { server: null, origins: [], serveStatic: false, label: 'server', jobs: 8, staticPort: 0,
    only: TRANSPORTS, scenarios: SCENARIOS, deadline: 170, chromiumArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--server': opts.server = value().replace(/\/+$/, ''); break;
      case '--page-origin': opts.origins.push(value().replace(/\/+$/, '')); break;
      case '--serve-static': opts.serveStatic = true; break;
      case '--verbose': opts.verbose = true; break;
      case '--chromium-arg': opts.chromiumArgs.push(value()); break;
      case '--static-port': opts.staticPort = parseInt(value(), 10) || 0; break;
      case '--label': opts.label = value(); break;
      case '--jobs': opts.jobs = Math.max(1, parseInt(value(), 10) || 1); break;
      case '--only': opts.only = value().split(','); break;
      case '--scenarios': opts.scenarios = value().split(','); break;
      case '--deadline': opts.deadline = Math.max(10, parseInt(value(), 10) || 10); break;
      default: usage(`unknown argument ${arg}`);
    }
  }
  if (!opts.server) usage('--server is required');
  if (!opts.origins.length && !opts.serveStatic) usage('give --page-origin or --serve-static');
  for (const t of opts.only) if (!TRANSPORTS.includes(t)) usage(`unknown transport ${t}`);
  for (const s of opts.scenarios) {
    if (!SCENARIOS.includes(s) && !EXTRA_SCENARIOS.includes(s)) usage(`unknown scenario ${s}`);
  }
  return opts;
}

const CONTENT_TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'application/javascript; charset=utf-8' };

// This folder at /static/ on an ephemeral loopback port (for --serve-static).
function serveStatic(port) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const rel = decodeURIComponent(url.pathname).replace(/^\/static\//, '');
    const bad = !url.pathname.startsWith('/static/') || rel.split('/').some((p) => !p || p.startsWith('.'));
    const file = path.join(here, rel);
    if (bad || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[path.extname(file)] || 'application/octet-stream',
      'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// A fresh document at `pageUrl` in `page` (navigating away cancels every
// request the previous scenario left pending, e.g. the <script> of a closed
// jsonp-polling connection), with sockjs-client 1.6.1 loaded.
async function loadPage(page, pageUrl, server) {
  const response = await page.goto(pageUrl, { timeout: 10000 });
  if (!response || response.status() !== 200) {
    throw new Error(`GET ${pageUrl} answered ${response ? response.status() : 'nothing'}`);
  }
  const ready = await page.evaluate(() => window.sockjsTest && window.sockjsTest.ready && window.sockjsTest.version);
  if (!ready) throw new Error(`${pageUrl}: sockjs-client did not load (window.SockJS missing)`);
  if (ready !== '1.6.1') throw new Error(`${pageUrl}: sockjs-client is ${ready}, expected 1.6.1`);
  await page.evaluate((base) => window.sockjsTest.init(base), server);
}

// A browser context of its own (its own connection pool: streaming
// transports of other workers do not starve it) with one page, reused for
// one scenario after another.
async function newWorker(browser) {
  const context = await withTimeout(browser.newContext(), 10000, 'a new browser context');
  const worker = { context, page: null, second: null, log: [], requests: [] };
  context.on('request', (r) => worker.requests.push(r.url()));
  worker.page = await watchedPage(worker);
  return worker;
}

async function watchedPage(worker) {
  const page = await withTimeout(worker.context.newPage(), 10000, 'a new page');
  page.on('pageerror', (e) => worker.log.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') worker.log.push(`console: ${m.text()}`); });
  return page;
}

// One scenario of one (mode, transport) on a worker's page.
async function runCell(worker, opts, job, scenario, record) {
  const { mode, origin, transport } = job;
  worker.log = [];
  try {
    const pageUrl = `${origin}/static/page.html`;
    const page = worker.page;
    await loadPage(page, pageUrl, opts.server);
    worker.requests = [];
    const call = (name) => withTimeout(
      page.evaluate(([n, t]) => window.sockjsTest.run(n, t), [name, transport]), 30000, `${name} in the page`);

    const na = NOT_APPLICABLE[`${mode} ${transport}`];
    if (na) {
      // One check stands for the whole row.
      const r = await call('open');
      const hits = worker.requests.filter((u) => u.startsWith(opts.server) && u.includes(na.urlPart));
      const verified = !r.ok && r.closed && r.closed.code === 2000 && r.closed.reason === 'All transports failed' &&
        !r.opened && hits.length === 0;
      for (const s of opts.scenarios) {
        if (verified) {
          record(job, s, 'n/a', `${na.reason}; verified: the client closed with 2000 "All transports failed" ` +
            `and requested no ${na.urlPart} URL`, r.ms);
        } else {
          record(job, s, 'FAIL', `expected the client to refuse ${transport} here (${na.reason}), but: ` +
            `${r.ok ? 'it opened' : r.detail}; ${hits.length} request(s) to ${na.urlPart}`, r.ms);
        }
      }
      return;
    }
    if (scenario === 'broadcast') {
      if (!worker.second) worker.second = await watchedPage(worker);
      record(job, scenario, ...(await broadcastScenario(page, worker.second, pageUrl, opts.server, transport)));
      return;
    }
    const r = await call(scenario);
    const seen = await page.evaluate((server) => performance.getEntriesByType('resource')
      .filter((e) => e.name.startsWith(server + '/')).map((e) => e.nextHopProtocol || 'unknown'), opts.server)
      .catch(() => []);
    for (const p of seen) protocols[p] = (protocols[p] || 0) + 1;
    // What went over the wire, from the browser's side (iframes included).
    const counts = {};
    for (const u of worker.requests) {
      if (!u.startsWith(opts.server + '/')) continue;
      const name = new URL(u).pathname.split('/').pop();
      counts[name] = (counts[name] || 0) + 1;
    }
    const wire = Object.entries(counts).map(([k, v]) => `${k}×${v}`).join(' ');
    // /amplify's replies one at a time (2 + 4 + … + 2^18 bytes) cross the
    // streaming receivers' response_limit (128 KiB) three times: the third
    // receiver request carries reply 18 (page.js).
    const receiver = STREAMING_RECEIVERS[transport];
    if (r.ok && scenario === 'amplify' && receiver && (counts[receiver] || 0) < 3) {
      record(job, scenario, 'FAIL', `${r.detail}, but only ${counts[receiver] || 0} ${receiver} request(s): ` +
        'response_limit never ended a response', r.ms);
      return;
    }
    record(job, scenario, r.ok ? 'ok' : 'FAIL', `${r.detail} [requests: ${wire || 'none'}]`, r.ms);
  } catch (e) {
    const rows = NOT_APPLICABLE[`${mode} ${transport}`] ? opts.scenarios : [scenario];
    for (const s of rows) record(job, s, 'FAIL', e.message, 0);
  } finally {
    if (worker.log.length) job.log = (job.log || []).concat(worker.log.map((l) => `${scenario}: ${l}`)).slice(0, 30);
  }
}

// Two pages on /broadcast with the same forced transport: each first sees
// its own token (so both are members), then both send, and each must see
// both tokens.
async function broadcastScenario(pageA, pageB, pageUrl, server, transport) {
  const started = Date.now();
  try {
    await loadPage(pageB, pageUrl, server);
    const id = Math.random().toString(36).slice(2);
    const tokens = [`A-hello-${id}`, `B-hello-${id}`, `A-${id}`, `B-${id}`];
    const bc = (page, fn, ...args) => withTimeout(page.evaluate(fn, args), 15000, 'broadcast step');
    const open = (page, token) => bc(page, ([t, tok]) => window.sockjsTest.broadcast.open(t, tok), transport, token);
    const opened = await Promise.all([open(pageA, tokens[0]), open(pageB, tokens[1])]);
    for (const [i, r] of opened.entries()) {
      if (!r.ok) return ['FAIL', `page ${'AB'[i]} could not join /broadcast: ${r.detail}`, Date.now() - started];
    }
    await bc(pageA, ([tok]) => window.sockjsTest.broadcast.send(tok), tokens[2]);
    await bc(pageB, ([tok]) => window.sockjsTest.broadcast.send(tok), tokens[3]);
    const expect = (page) => bc(page, ([t, toks]) => window.sockjsTest.broadcast.expect(t, toks), transport,
      tokens.slice(2));
    const got = await Promise.all([expect(pageA), expect(pageB)]);
    for (const [i, r] of got.entries()) {
      if (!r.ok) return ['FAIL', `page ${'AB'[i]}: ${r.detail}`, Date.now() - started];
    }
    return ['ok', 'each page got both pages\' messages', Date.now() - started];
  } catch (e) {
    return ['FAIL', e.message, Date.now() - started];
  } finally {
    // A blank document ends page B's connection (and anything pending).
    await pageB.goto('about:blank').catch(() => {});
  }
}

function printTable(opts, jobs, cells) {
  const lines = [];
  const rows = jobs.map((j) => `${j.mode} ${j.transport}`);
  const w0 = Math.max(...rows.map((r) => r.length), 'adapter: mode transport'.length) + opts.label.length + 3;
  const widths = opts.scenarios.map((s) => Math.max(s.length, 4));
  const pad = (s, n) => s + ' '.repeat(Math.max(0, n - s.length));
  const sep = `+${'-'.repeat(w0 + 2)}+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  lines.push(sep);
  lines.push(`| ${pad('adapter: mode transport', w0)} | ${opts.scenarios.map((s, i) => pad(s, widths[i])).join(' | ')} |`);
  lines.push(sep);
  for (const j of jobs) {
    const row = opts.scenarios.map((s, i) => {
      const c = cells.find((x) => x.mode === j.mode && x.transport === j.transport && x.scenario === s);
      return pad(c ? c.status : '—', widths[i]);
    });
    lines.push(`| ${pad(`${opts.label}: ${j.mode} ${j.transport}`, w0)} | ${row.join(' | ')} |`);
  }
  lines.push(sep);
  return lines.join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  let staticServer = null;
  let browser = null;
  const cells = [];
  let exitCode = 1;
  const deadline = setTimeout(() => {
    console.log(`run.mjs: the whole run passed its deadline of ${opts.deadline} s; unfinished cells are failures`);
    finish(true);
  }, opts.deadline * 1000);
  let finished = false;
  let jobs = [];

  async function finish(timedOut) {
    if (finished) return;
    finished = true;
    clearTimeout(deadline);
    for (const j of jobs) {
      for (const s of opts.scenarios) {
        if (!cells.find((c) => c.mode === j.mode && c.transport === j.transport && c.scenario === s)) {
          cells.push({ mode: j.mode, transport: j.transport, scenario: s, status: 'FAIL',
            detail: timedOut ? 'not finished before the run deadline' : 'did not run', ms: 0 });
        }
      }
    }
    const passed = cells.filter((c) => c.status === 'ok').length;
    const failed = cells.filter((c) => c.status === 'FAIL').length;
    const na = cells.filter((c) => c.status === 'n/a').length;
    console.log(`\nsockjs-client 1.6.1 in Chromium against ${opts.label} (${opts.server})`);
    console.log(printTable(opts, jobs, cells));
    const notes = new Map();
    for (const c of cells.filter((x) => x.status === 'n/a')) notes.set(`${c.mode} ${c.transport}`, c.detail);
    for (const [k, v] of notes) console.log(`n/a ${k}: ${v}`);
    if (opts.verbose) {
      for (const c of cells.filter((x) => x.status === 'ok')) {
        console.log(`ok ${c.mode} ${c.transport} ${c.scenario} (${c.ms} ms): ${c.detail}`);
      }
    }
    for (const c of cells.filter((x) => x.status === 'FAIL')) {
      console.log(`FAIL ${opts.label}: ${c.mode} ${c.transport} ${c.scenario}: ${c.detail}`);
    }
    for (const j of jobs.filter((x) => x.log && cells.some((c) => c.status === 'FAIL' && c.mode === x.mode &&
      c.transport === x.transport))) {
      for (const l of j.log) console.log(`  [${j.mode} ${j.transport}] ${l}`);
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`${opts.label}: ${passed} ok, ${failed} failed, ${na} n/a in ${secs} s`);
    console.log(`${opts.label}: HTTP versions of the requests seen by the top page: ${JSON.stringify(protocols)}`);
    console.log(`BROWSER-RESULT ${JSON.stringify({ label: opts.label, passed, failed, na, seconds: Number(secs),
      protocols, cells: cells.map(({ mode, transport, scenario, status, detail, ms }) => ({ mode, transport, scenario, status,
        detail, ms })) })}`);
    exitCode = failed === 0 && passed > 0 ? 0 : 1;
    const b = browser;
    browser = null;
    if (b) await withTimeout(b.close(), 10000, 'closing the browser').catch(() => {});
    if (staticServer) staticServer.close();
    process.exit(exitCode);
  }

  const stop = () => { console.log('run.mjs: interrupted'); finish(true); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Stop (and close Chromium) if whoever started us goes away.
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) stop(); }, 1000).unref();

  const origins = [...opts.origins];
  if (opts.serveStatic) {
    staticServer = await serveStatic(opts.staticPort);
    origins.push(`http://127.0.0.1:${staticServer.address().port}`);
  }
  const serverOrigin = new URL(opts.server).origin;
  const modes = origins.map((o) => ({ origin: o, mode: new URL(o).origin === serverOrigin ? 'same-origin' : 'cross-origin' }));
  jobs = modes.flatMap((m) => opts.only.map((t) => ({ ...m, transport: t })));

  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    console.error(`run.mjs: ${executablePath} is missing: run sockjs-tests/browser/setup.sh`);
    process.exit(2);
  }
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    console.error(`run.mjs: playwright-core is not installed: run sockjs-tests/browser/setup.sh (${e.message})`);
    process.exit(2);
  }
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, ...opts.chromiumArgs],
      timeout: 30000 });
  } catch (e) {
    console.error(`run.mjs: cannot start ${executablePath}: ${e.message}`);
    process.exit(2);
  }
  console.log(`run.mjs: ${opts.label}: ${jobs.length} jobs (${modes.map((m) => `${m.mode} page at ${m.origin}`).join(', ')}), ` +
    `${opts.jobs} at a time, Chromium ${browser.version()}`);

  const record = (job, scenario, status, detail, ms) => {
    if (finished) return;
    cells.push({ mode: job.mode, transport: job.transport, scenario, status, detail, ms });
    if (cells.some((c) => c.mode === job.mode && c.transport === job.transport && c.scenario === scenario)) return;
    if (status === 'FAIL') console.log(`  FAIL ${job.mode} ${job.transport} ${scenario}: ${detail}`);
  };
  // Slow scenarios (ticker, client-close) first, so that they overlap the rest.
  const slow = ['client-close', 'ticker', 'amplify', 'broadcast'];
  const order = [...slow.filter((s) => opts.scenarios.includes(s)), ...opts.scenarios.filter((s) => !slow.includes(s))];
  const units = order.flatMap((scenario) => jobs
    .filter((job) => !NOT_APPLICABLE[`${job.mode} ${job.transport}`] || scenario === order[0])
    .map((job) => ({ job, scenario })));
  // Each of the `--jobs` workers takes the next unit when it is done.
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(opts.jobs, units.length) }, async () => {
    let worker = null;
    while (next < units.length && !finished) {
      const { job, scenario } = units[next++];
      try {
        if (!worker) worker = await newWorker(browser);
        await runCell(worker, opts, job, scenario, record);
      } catch (e) {
        record(job, scenario, 'FAIL', `browser: ${e.message}`, 0);
        if (worker) await worker.context.close().catch(() => {});
        worker = null;
      }
    }
    if (worker) await withTimeout(worker.context.close(), 10000, 'closing a context').catch(() => {});
  }));
  await finish(false);
}

main().catch((e) => {
  console.error(`run.mjs: ${e.stack || e}`);
  process.exit(2);
});
