// harness.js — what the web UI's browser tests share: checks that count and
// go on (like tests/common/check.h), a real pgopipe-server process on a
// random port, one headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) with every request and console message recorded, and the
// references the page is compared with: `go tool pprof -top` (and the check
// of the page's top table against it) and `pgopipe export -f folded`.
'use strict';

const { chromium } = require('playwright-core');
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// ---- checks ----

let checks = 0;
let failures = 0;

function check(cond, msg) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAILED ${typeof msg === 'function' ? msg() : msg}`);
  }
  return !!cond;
}

function checkEq(got, want, msg) {
  return check(got === want, () => `${msg}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// Prints the counts and returns the exit status.
function done(name) {
  if (failures) console.error(`${name}: ${failures} of ${checks} checks FAILED`);
  else console.log(`${name}: all ${checks} checks passed`);
  return failures || !checks ? 1 : 0;
}

function step(name) {
  console.log(`# ${name}`);
}

// ---- environment ----

function env(names) {
  const out = {};
  for (const n of names) {
    if (!process.env[n]) throw new Error(`environment variable ${n} is not set`);
    out[n] = process.env[n];
  }
  return out;
}

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the server ----

// Starts pgopipe-server with args (port 0: the port is read from its
// "listening" log line); returns { url, port, stop(), log }.
async function startServer(bin, args, work, name, extraEnv = {}, host = '127.0.0.1') {
  const log = path.join(work, `server-${name}.log`);
  const fd = fs.openSync(log, 'w');
  const proc = spawn(bin, ['-p', '0', '--bind', host, ...args], {
    stdio: ['ignore', 'ignore', fd],
    env: { ...process.env, ...extraEnv },
  });
  fs.closeSync(fd);
  let exited = null;
  proc.on('exit', (code, sig) => {
    exited = code === null ? `signal ${sig}` : `status ${code}`;
  });
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const text = fs.readFileSync(log, 'utf8');
    const m = /"msg":"listening".*?"port":(\d+)/.exec(text);
    if (m) {
      const port = Number(m[1]);
      const hostpart = host.includes(':') ? `[${host}]` : host;
      return {
        port,
        url: `http://${hostpart}:${port}`,
        log,
        async stop() {
          if (exited) return;
          const gone = new Promise((r) => proc.on('exit', r));
          proc.kill('SIGTERM');
          await Promise.race([gone, sleep(10000)]);
          if (!exited) proc.kill('SIGKILL');
        },
      };
    }
    if (exited) throw new Error(`pgopipe-server exited (${exited}) before listening:\n${text}`);
    await sleep(25);
  }
  proc.kill('SIGKILL');
  throw new Error(`pgopipe-server did not start within 20 s (log ${log})`);
}

// Polls url until it answers 200 (a base merged by the in-process worker).
async function waitFor200(url, headers = {}, ms = 20000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url, { headers });
      if (r.status === 200) return Buffer.from(await r.arrayBuffer());
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer 200 within ${ms} ms`);
}

// ---- the browser ----

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// One Chromium with a fresh profile directory; records every request the
// page makes and every console error or warning and page error.
async function browser(work, viewport) {
  const dir = fs.mkdtempSync(path.join(work, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
    deviceScaleFactor: 2,
    colorScheme: 'light',
    acceptDownloads: false,
  });
  const b = { ctx, requests: [], problems: [] };
  ctx.on('request', (r) => b.requests.push(r.url()));
  b.page = ctx.pages()[0] || (await ctx.newPage());
  b.page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      const loc = m.location();
      b.problems.push(`console ${m.type()}: ${m.text()}${loc && loc.url ? ` (${loc.url})` : ''}`);
    }
  });
  b.page.on('pageerror', (e) => b.problems.push(`page error: ${e.message}`));
  b.close = () => ctx.close();
  return b;
}

// Waits until the page shows view key (app|kind|sample type|detail|base|range).
async function waitView(page, key, ms = 15000) {
  await page.waitForFunction((k) => document.getElementById('view').dataset.view === k, key, { timeout: ms });
}

// The drawn frames of the flame graph (its hit map), numbers parsed.
async function frames(page) {
  return page.$$eval('#flame-hitmap span', (spans) =>
    spans.map((s) => ({
      node: Number(s.dataset.node),
      name: s.dataset.name,
      depth: Number(s.dataset.depth),
      x: Number(s.dataset.x),
      y: Number(s.dataset.y),
      w: Number(s.dataset.w),
      h: Number(s.dataset.h),
      total: Number(s.dataset.total),
      self: Number(s.dataset.self),
      baseTotal: s.dataset.baseTotal === undefined ? null : Number(s.dataset.baseTotal),
      color: s.dataset.color,
    })),
  );
}

// The colour drawn at (x, y) CSS pixels of the canvas, as [r, g, b]. The
// pixel is copied to a 1x1 canvas of the test's own and read there, so the
// page's canvas is never read back (Chromium warns about repeated readbacks).
async function pixel(page, x, y) {
  return page.evaluate(
    ([px, py]) => {
      const c = document.getElementById('flame');
      const dpr = c.width / c.getBoundingClientRect().width;
      if (!window.testPixel) {
        const one = document.createElement('canvas');
        one.width = 1;
        one.height = 1;
        window.testPixel = one.getContext('2d', { willReadFrequently: true });
      }
      const t = window.testPixel;
      t.clearRect(0, 0, 1, 1);
      t.drawImage(c, Math.floor(px * dpr), Math.floor(py * dpr), 1, 1, 0, 0, 1, 1);
      const d = t.getImageData(0, 0, 1, 1).data;
      return [d[0], d[1], d[2]];
    },
    [x, y],
  );
}

function rgb(s) {
  const m = /rgb\((\d+), (\d+), (\d+)\)/.exec(s || '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

const near = (a, b, tol) => a && b && a.every((v, i) => Math.abs(v - b[i]) <= tol);

// ---- references ----

let pprofBin = null;
// `go tool pprof -top` of file: [{flat, cum, name, flatPct, cumPct}], the
// total, and noStack: the value of the samples without locations, which
// pprof counts in its total but lists no function for (every other sample
// adds its value to the flat of one row), and which the page shows as
// "[no stack]".
function pprofTop(file, unit, sampleIndex) {
  if (!pprofBin) pprofBin = path.join(execFileSync('go', ['env', 'GOTOOLDIR'], { encoding: 'utf8' }).trim(), 'pprof');
  const args = ['-top', '-nodecount=1000000', '-nodefraction=0', '-symbolize=none'];
  if (unit) args.push(`-unit=${unit}`);
  if (sampleIndex) args.push(`-sample_index=${sampleIndex}`);
  args.push(file);
  const out = execFileSync(pprofBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const rows = [];
  let total = null;
  let inRows = false;
  for (const line of out.split('\n')) {
    const t = /of (-?\d+)[A-Za-z]* total/.exec(line);
    if (t) total = Number(t[1]);
    if (/flat%/.test(line)) {
      inRows = true;
      continue;
    }
    if (!inRows || !line.trim()) continue;
    const f = line.trim().split(/\s+/);
    const name = f
      .slice(5)
      .join(' ')
      .replace(/ \((partial-)?inline\)$/, '');
    rows.push({
      flat: Number(f[0].replace(/[^0-9-]+$/, '')),
      flatPct: f[1].replace('%', ''),
      cum: Number(f[3].replace(/[^0-9-]+$/, '')),
      cumPct: f[4].replace('%', ''),
      name,
    });
  }
  const flats = rows.reduce((a, r) => a + r.flat, 0);
  return { rows, total, noStack: total === null ? 0 : total - flats };
}

// A reference made by `go tool pprof -proto` of several files (which drops
// the samples without locations; pgopipe keeps them, as profile.Merge does,
// tests/diff/KNOWN_DIFFS.md 1) made whole again: its total and noStack with
// the inputs' samples without locations (refs: pprofTop of each input), the
// percentages recomputed on that total.
function withInputsNoStack(ref, refs) {
  const noStack = refs.reduce((a, r) => a + r.noStack, 0);
  if (!noStack) return ref;
  const total = ref.total + noStack;
  const pct = (v) => ((v * 100) / total).toFixed(2);
  return {
    rows: ref.rows.map((r) => ({ ...r, flatPct: pct(r.flat), cumPct: pct(r.cum) })),
    total,
    noStack: ref.noStack + noStack,
  };
}

// `pgopipe export -f folded`: [{frames: [...], value}].
function folded(pgopipe, file, sampleType) {
  const args = ['export', '-f', 'folded', '-o', '-'];
  if (sampleType) args.push('--sample-type', sampleType);
  args.push(file);
  const out = execFileSync(pgopipe, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const i = l.lastIndexOf(' ');
      return { frames: l.slice(0, i).split(';'), value: Number(l.slice(i + 1)) };
    });
}

// ---- the top table ----

// The frame of the samples without locations (lib/pprof/export.h).
const NO_STACK = '[no stack]';

// The table's rows against pprof -top: the same (flat, cum, name) set, the
// same flat order, the same flat% and cum%.
async function compareTop(page, ref, what) {
  let rows = await page.$$eval('#top tbody tr[data-name]', (trs) =>
    trs.map((t) => ({ name: t.dataset.name, flat: Number(t.dataset.flat), cum: Number(t.dataset.cum), flatPct: Number(t.dataset.flatPct), cumPct: Number(t.dataset.cumPct) })),
  );
  const key = (r) => `${r.flat} ${r.cum} ${r.name}`;
  // Samples without locations: pprof has no row for them, the page has "[no stack]".
  const ns = rows.filter((r) => r.name === NO_STACK);
  if (ref.noStack) {
    check(ns.length === 1 && ns[0].flat === ref.noStack && ns[0].cum === ref.noStack,
      () => `${what}: [no stack] row ${JSON.stringify(ns)}, want flat = cum = ${ref.noStack} (pprof's total less its rows)`);
  } else {
    checkEq(ns.length, 0, `${what}: no [no stack] row`);
  }
  rows = rows.filter((r) => r.name !== NO_STACK);
  const got = rows.map(key).sort();
  const want = ref.rows.map(key).sort();
  checkEq(got.length, want.length, `${what}: rows`);
  const missing = want.filter((k) => !got.includes(k));
  const extra = got.filter((k) => !want.includes(k));
  check(!missing.length && !extra.length, () => `${what}: table differs from pprof -top; missing ${missing.slice(0, 5).join(' | ')}; extra ${extra.slice(0, 5).join(' | ')}`);
  checkEq(rows.map((r) => r.flat).join(','), ref.rows.map((r) => r.flat).join(','), `${what}: flat column in pprof's order`);
  const byName = new Map(ref.rows.map((r) => [r.name, r]));
  let pctOk = true;
  for (const r of rows) {
    const p = byName.get(r.name);
    // pprof prints percentages without trailing zeros ("0%", "0.7%")
    if (!p || Math.abs(r.flatPct - Number(p.flatPct)) > 0.0051 || Math.abs(r.cumPct - Number(p.cumPct)) > 0.0051) {
      pctOk = false;
      check(false, `${what}: ${r.name} ${r.flatPct}/${r.cumPct}% vs pprof ${p && p.flatPct}/${p && p.cumPct}%`);
      break;
    }
  }
  check(pctOk, `${what}: flat% and cum% as pprof's`);
  const text = await page.$eval('#top tbody tr[data-name] td', (td) => td.textContent);
  check(/\d/.test(text), `formatted flat value: ${text}`);
}

module.exports = {
  check,
  checkEq,
  done,
  step,
  env,
  tmpdir,
  sleep,
  startServer,
  waitFor200,
  browser,
  waitView,
  frames,
  pixel,
  rgb,
  near,
  pprofTop,
  withInputsNoStack,
  NO_STACK,
  folded,
  compareTop,
};
