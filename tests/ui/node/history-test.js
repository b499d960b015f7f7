// history-test.js — the web UI's time range in real headless Chromium
// against a real pgopipe-server (file store, in-process worker) whose store
// holds hour buckets of real Go CPU profiles, written as the worker writes
// them ({app}/hours/cpu/{YYYYMMDDHH}.pgo), beside a base:
//   the range control appears for an app that keeps history and not for
//   one that does not; its bounds are the hours kept; a range shows the
//   merge of the buckets in it (status total, flame root and top table
//   against `go tool pprof -top` of the same buckets, merged by Go's pprof);
//   changing the range (the fragment, the custom inputs, a preset) changes
//   the tree; a range with nothing in it says so; the downloads carry the
//   range and answer the range's profile. One browser launch.
// Environment: SERVER, PGOPIPE, PROFILES, SL_PROFILES, ARTIFACTS.
'use strict';

const H = require('./harness');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const { check, checkEq, step } = H;
const HOUR = 3600e3;

// "YYYYMMDDHH" of an hour (ms since the epoch, UTC).
function hourName(ms) {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 10);
}

async function main() {
  const E = H.env(['SERVER', 'PGOPIPE', 'PROFILES', 'SL_PROFILES', 'ARTIFACTS']);
  fs.mkdirSync(E.ARTIFACTS, { recursive: true });
  const work = H.tmpdir('pgopipe-ui-history-');
  const data = path.join(work, 'data');
  const srv = await H.startServer(E.SERVER, ['--blob-store-url', `file://${data}`, '--event-writer-url', 'mem://profiles', '--worker'], work, 'history');
  const b = await H.browser(work, { width: 1440, height: 900 });
  try {
    await run(E, srv, b, b.page, work, data);
  } finally {
    await b.close();
    await srv.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return H.done('ui.history');
}

async function run(E, srv, b, page, work, data) {
  const url = srv.url;
  const cpu = (n) => path.join(E.SL_PROFILES, `cpu/${n}.pb.gz`);
  const now = Math.floor(Date.now() / HOUR) * HOUR; // the current hour
  const hours = [
    { at: now - 5 * HOUR, file: cpu('regexp') },
    { at: now - 4 * HOUR, file: cpu('sort') },
    { at: now - 2 * HOUR, file: cpu('strconv') },
  ];

  step('a base, and hour buckets of web-api; a base only of batch-jobs');
  fs.mkdirSync(path.join(data, 'web-api/hours/cpu'), { recursive: true });
  fs.mkdirSync(path.join(data, 'batch-jobs'), { recursive: true });
  fs.copyFileSync(cpu('math_big'), path.join(data, 'web-api/default.pgo'));
  fs.copyFileSync(cpu('sync'), path.join(data, 'batch-jobs/default.pgo'));
  for (const h of hours) fs.copyFileSync(h.file, path.join(data, `web-api/hours/cpu/${hourName(h.at)}.pgo`));
  // The references: Go's pprof merges what a range holds.
  const merged = (files, name) => {
    const out = path.join(work, name);
    execFileSync('go', ['tool', 'pprof', '-proto', ...files], { stdio: ['ignore', fs.openSync(out, 'w'), 'pipe'] });
    return H.withInputsNoStack(H.pprofTop(out, 'ns'), files.map((f) => H.pprofTop(f, 'ns')));
  };
  const refBase = H.pprofTop(path.join(data, 'web-api/default.pgo'), 'ns');
  const ref0 = H.pprofTop(hours[0].file, 'ns');
  const ref1 = H.pprofTop(hours[1].file, 'ns');
  const refAll = merged(hours.map((h) => h.file), 'all.pb.gz');
  const ref01 = merged([hours[0].file, hours[1].file], 'first-two.pb.gz');

  step('the range control: only for an app with history, bounded by its hours');
  await page.goto(`${url}/ui/#app=batch-jobs`);
  await H.waitView(page, 'batch-jobs|cpu|cpu|0.001||');
  check(await page.isHidden('#range'), 'no time control for an app without history');
  const apps = await (await page.request.get(`${url}/api/ui/apps`)).json();
  checkEq(apps.ranges, true, 'the server serves ranges');
  const hist = apps.apps.find((a) => a.app === 'web-api').kinds.find((k) => k.kind === 'cpu').history;
  checkEq(hist && hist.hours, 3, 'hours of history of web-api');
  checkEq(hist && hist.from, new Date(now - 5 * HOUR).toISOString().replace('.000Z', 'Z'), 'history starts with the first bucket');
  checkEq(hist && hist.to, new Date(now - HOUR).toISOString().replace('.000Z', 'Z'), 'history ends with the last bucket');
  await page.selectOption('#app', 'web-api');
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  check(await page.isVisible('#range'), 'time control for an app with history');
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), refBase.total, 'without a range: the base');

  step('a range of one hour shows that hour bucket');
  const iso = (ms) => new Date(ms).toISOString();
  const key = (from, to) => `web-api|cpu|cpu|0.001||${iso(from)}/${iso(to)}`;
  await page.goto(`${url}/ui/#app=web-api&range=custom&from=${iso(hours[0].at)}&to=${iso(hours[0].at + HOUR)}`);
  await H.waitView(page, key(hours[0].at, hours[0].at + HOUR));
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), ref0.total, 'status total = the bucket\'s');
  let fr = await H.frames(page);
  let root = fr.find((f) => f.depth === 0);
  checkEq(root && root.total, ref0.total, 'flame root = the bucket\'s total');
  await H.compareTop(page, ref0, 'one hour');
  check(await page.isVisible('#range-from') && await page.isVisible('#range-to'), 'custom range inputs');
  const bounds = await page.$eval('#range-from', (i) => [i.min, i.max]);
  check(bounds[0] && bounds[1] && bounds[0] < bounds[1], `inputs bounded by the history: ${bounds}`);
  const firstNames = new Set(fr.filter((f) => f.depth > 0).map((f) => f.name));

  step('the next hour: the tree changes with the range');
  await page.goto(`${url}/ui/#app=web-api&range=custom&from=${iso(hours[1].at)}&to=${iso(hours[1].at + HOUR)}`);
  await H.waitView(page, key(hours[1].at, hours[1].at + HOUR));
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), ref1.total, 'status total = the next bucket\'s');
  await H.compareTop(page, ref1, 'the next hour');
  fr = await H.frames(page);
  const names = new Set(fr.filter((f) => f.depth > 0).map((f) => f.name));
  check([...names].some((n) => !firstNames.has(n)), 'frames of the other profile are drawn');
  check(ref0.total !== ref1.total, 'the two hours differ');

  step('the custom inputs: two hours merged');
  const local = (ms) =>
    page.evaluate((t) => {
      const d = new Date(t);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:00`;
    }, ms);
  await page.fill('#range-from', await local(hours[0].at));
  await page.dispatchEvent('#range-from', 'change');
  await H.waitView(page, key(hours[0].at, hours[1].at + HOUR));
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), ref01.total, 'two buckets: Go\'s merge of them');
  await H.compareTop(page, ref01, 'two hours');

  step('a preset: the last 6 hours hold every bucket');
  await page.selectOption('#range-preset', '6');
  await H.waitView(page, key(now - 5 * HOUR, now + HOUR));
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), refAll.total, 'last 6 hours = every bucket');
  await H.compareTop(page, refAll, 'last 6 hours');
  await page.screenshot({ path: path.join(E.ARTIFACTS, 'history.png') });

  step('downloads carry the range and answer its profile');
  await page.click('#downloads summary');
  await page.waitForSelector('#download-links a');
  const links = await page.$$eval('#download-links a', (as) => as.map((a) => ({ format: a.dataset.format, href: a.href })));
  check(links.length >= 5 && links.every((l) => l.href.includes('from=') && l.href.includes('to=')), 'download links carry the range');
  const pprof = links.find((l) => l.format === 'pprof');
  const resp = await page.request.get(pprof.href);
  checkEq(resp.status(), 200, `GET ${pprof.href}`);
  const got = path.join(work, 'download.pb.gz');
  fs.writeFileSync(got, await resp.body());
  checkEq(H.pprofTop(got, 'ns').total, refAll.total, 'the downloaded range = every bucket');
  await page.keyboard.press('Escape');

  step('a range with nothing in it says so');
  await page.goto(`${url}/ui/#app=web-api&range=custom&from=${iso(now - 30 * HOUR)}&to=${iso(now - 20 * HOUR)}`);
  await page.waitForSelector('#error:not([hidden])');
  const err = await page.textContent('#error');
  check(err.includes('no cpu profile of app web-api between'), `the server's answer is shown: ${err}`);
  b.problems = b.problems.filter((p) => !/status of 404/.test(p));
  await page.goto(`${url}/ui/#app=web-api`);
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  check(await page.isHidden('#error'), 'error cleared once the base loads');

  step('no console errors, no request outside the server');
  check(b.problems.length === 0, `console: ${b.problems.join('\n  ')}`);
  const outside = b.requests.filter((u) => !u.startsWith(`${url}/`));
  check(outside.length === 0, `requests outside ${url}: ${outside.join(', ')}`);
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    console.error(e);
    H.done('ui.history');
    process.exit(1);
  },
);
