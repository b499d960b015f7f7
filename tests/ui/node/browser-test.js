// browser-test.js — pgopipe's web UI in real headless Chromium against a
// real pgopipe-server (file store, in-process worker) fed with real Go
// profiles through `pgopipe upload`:
//   the empty state; the page loads with no console error and no request
//   outside the server; the top table and the flame graph's top frames
//   equal `go tool pprof -top` on the same base; drawn pixels match the
//   frames' data; tooltips; zoom in and out (click, breadcrumb, Esc); search
//   (match counts and summed share against the folded export), row clicks,
//   sorting; kinds and sample types; download links answering 200; the diff
//   of two apps coloured by the data; the time-range control appearing only
//   when the app keeps history (ranges themselves: history-test.js); light
//   and dark screenshots.
// One browser launch. Environment: SERVER, PGOPIPE, PROFILES (the Go profile
// corpus), SL_PROFILES (its CPU profiles with start lines), ARTIFACTS.
'use strict';

const H = require('./harness');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const { check, checkEq, step } = H;

async function main() {
  const E = H.env(['SERVER', 'PGOPIPE', 'PROFILES', 'SL_PROFILES', 'ARTIFACTS']);
  fs.mkdirSync(E.ARTIFACTS, { recursive: true });
  const work = H.tmpdir('pgopipe-ui-browser-');
  const data = path.join(work, 'data');
  const srv = await H.startServer(E.SERVER, ['--blob-store-url', `file://${data}`, '--event-writer-url', 'mem://profiles', '--worker'], work, 'browser');
  const b = await H.browser(work, { width: 1440, height: 900 });
  const page = b.page;
  const shot = (name) => page.screenshot({ path: path.join(E.ARTIFACTS, `${name}.png`) });
  try {
    await run(E, srv, b, page, work, data, shot);
  } finally {
    await b.close();
    await srv.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return H.done('ui.browser');
}

async function run(E, srv, b, page, work, data, shot) {
  const url = srv.url;

  step('empty state');
  await page.goto(`${url}/`);
  await page.waitForSelector('#empty:not([hidden])');
  checkEq(new URL(page.url()).pathname, '/ui/', 'GET / lands on /ui/');
  checkEq(await page.title(), 'pgopipe', 'title');
  const hint = await page.textContent('#empty');
  check(hint.includes('pgopipe upload -a APP cpu.pb.gz'), `empty state hint: ${hint}`);
  check(await page.isHidden('#view'), 'no view without profiles');
  await shot('empty');

  step('uploads');
  const cpuA = path.join(E.SL_PROFILES, 'cpu/regexp.pb.gz');
  const cpuB = path.join(E.SL_PROFILES, 'cpu/sort.pb.gz');
  const heap = path.join(E.PROFILES, 'heap/encoding_json.pb.gz');
  execFileSync(E.PGOPIPE, ['upload', '-u', url, '-a', 'web-api', cpuA], { stdio: 'pipe' });
  execFileSync(E.PGOPIPE, ['upload', '-u', url, '-a', 'batch-jobs', cpuB], { stdio: 'pipe' });
  const baseA = path.join(work, 'web-api.pb.gz');
  const baseB = path.join(work, 'batch-jobs.pb.gz');
  fs.writeFileSync(baseA, await H.waitFor200(`${url}/api/profile/web-api`));
  fs.writeFileSync(baseB, await H.waitFor200(`${url}/api/profile/batch-jobs`));
  // A heap base where the layout keeps the other kinds' bases ({app}/kinds/{kind}.pgo).
  fs.mkdirSync(path.join(data, 'web-api/kinds'), { recursive: true });
  fs.copyFileSync(heap, path.join(data, 'web-api/kinds/heap.pgo'));
  fs.copyFileSync(path.join(E.PROFILES, 'mutex/sort.pb.gz'), path.join(data, 'web-api/kinds/mutex.pgo')); // no samples

  step('the page loads');
  const t0 = Date.now();
  await page.goto(`${url}/ui/#app=web-api`);
  await page.reload();
  const refA = H.pprofTop(baseA, 'ns');
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  console.log(`  first flame paint ${await page.evaluate(() => document.documentElement.dataset.firstPaintMs)} ms after navigation start (${Date.now() - t0} ms wall)`);
  checkEq(await page.inputValue('#app'), 'web-api', 'app picker');
  checkEq(
    await page.$$eval('#app option', (o) => o.map((x) => x.value).join(',')),
    'batch-jobs,web-api',
    'apps in the picker',
  );
  checkEq(await page.$$eval('#kinds button', (o) => o.map((x) => x.dataset.kind).join(',')), 'cpu,heap,mutex', 'kinds of web-api');
  checkEq(await page.getAttribute('#kinds button[data-kind=cpu]', 'aria-checked'), 'true', 'cpu is chosen');
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), refA.total, 'status total = pprof total');
  const dims = await page.evaluate(() => {
    const c = document.getElementById('flame');
    return { w: c.width, css: c.getBoundingClientRect().width, h: c.height, cssH: c.getBoundingClientRect().height };
  });
  check(Math.abs(dims.w - 2 * dims.css) <= 1 && Math.abs(dims.h - 2 * dims.cssH) <= 1, `canvas drawn at the device pixel ratio: ${JSON.stringify(dims)}`);

  step('top table = go tool pprof -top');
  await H.compareTop(page, refA, 'cpu');

  step('flame graph top frames = go tool pprof -top');
  const width = await page.$eval('#flame-hitmap', (h) => Number(h.dataset.width));
  const full = await (await page.request.get(`${url}/api/ui/tree/web-api?min_share=0`)).json();
  const depthsOf = new Map();
  {
    const depth = [];
    full.nodes.forEach((n, i) => {
      depth[i] = n[1] < 0 ? 0 : depth[n[1]] + 1;
      const name = n[0] >= 0 ? full.names[n[0]] : 'other';
      if (!depthsOf.has(name)) depthsOf.set(name, new Set());
      depthsOf.get(name).add(depth[i]);
    });
  }
  const cumOf = new Map(refA.rows.map((r) => [r.name, r.cum]));
  let fr = await H.frames(page);
  const root = fr.find((f) => f.depth === 0);
  check(root && root.name === 'all' && root.total === refA.total, `root frame: ${JSON.stringify(root)}`);
  check(root && Math.abs(root.w - width) < 0.01, 'root spans the width');
  const top1 = fr.filter((f) => f.depth === 1 && f.name !== 'other');
  check(top1.length >= 2, `frames below the root: ${top1.length}`);
  let compared = 0;
  for (const f of top1) {
    check(Math.abs(f.w - (f.total / refA.total) * width) < 0.01, `width of ${f.name}: ${f.w}`);
    if (f.name === H.NO_STACK) {
      checkEq(f.total, refA.noStack, 'total of [no stack] = pprof total less its rows');
    } else if (depthsOf.get(f.name).size === 1) {
      compared++;
      checkEq(f.total, cumOf.get(f.name), `total of top frame ${f.name} = pprof cum`);
    }
  }
  check(compared >= 2, `top frames compared with pprof: ${compared}`);
  // The hit map gives x and w to two decimals, so a frame's end (x + w) is
  // known to ±0.01 px, and a callee ending where its caller ends may appear
  // up to 0.02 px past it.
  const slack = 0.021;
  for (const f of fr.filter((q) => q.depth > 0)) {
    const parent = fr.find((q) => q.depth === f.depth - 1 && q.x <= f.x + slack && f.x + f.w <= q.x + q.w + slack);
    if (!parent) {
      check(false, `frame ${f.name} at depth ${f.depth} is not under a frame of the row above`);
      break;
    }
  }
  await page.mouse.move(1, 1);
  await page.waitForTimeout(50);
  let painted = 0;
  for (const f of fr.filter((q) => q.w >= 6).slice(0, 40)) {
    const px = await H.pixel(page, f.x + 3, f.y + 3);
    painted += H.near(px, H.rgb(f.color), 3) ? 1 : 0;
    check(H.near(px, H.rgb(f.color), 3), `pixel of ${f.name} ${px} is its colour ${f.color}`);
  }
  check(painted >= 10, `frames whose pixels were checked: ${painted}`);
  checkEq(
    await page.$eval('#flame-hitmap', (h) => Number(h.dataset.frames)),
    fr.length,
    'hit map lists every drawn frame',
  );

  step('tooltip');
  const d2 = fr.filter((f) => f.depth === 2).sort((a, b2) => b2.w - a.w)[0];
  const box = await page.locator('#flame').boundingBox();
  await page.mouse.move(box.x + d2.x + d2.w / 2, box.y + d2.y + 10);
  await page.waitForSelector('#tooltip:not([hidden])');
  checkEq(await page.textContent('#tooltip .name'), d2.name, 'tooltip names the frame');
  const tip = await page.textContent('#tooltip');
  check(tip.includes('Total (cum)') && tip.includes('Self (flat)') && tip.includes('% of all'), `tooltip: ${tip}`);
  await shot('tooltip');

  step('zoom');
  await page.mouse.click(box.x + d2.x + 4, box.y + d2.y + 10);
  await page.waitForFunction((n) => document.getElementById('flame-hitmap').dataset.zoom === String(n), d2.node);
  fr = await H.frames(page);
  const z = fr.find((f) => f.node === d2.node);
  check(z && Math.abs(z.w - width) < 0.01 && z.x === 0, `the zoomed frame spans the width: ${JSON.stringify(z)}`);
  check(fr.filter((f) => f.depth < d2.depth).every((f) => f.w === width), 'its callers are drawn full width above');
  check(fr.every((f) => f.x >= -0.01 && f.x + f.w <= width + 0.011), 'every frame within the canvas');
  await page.mouse.move(1, 1);
  await page.waitForTimeout(50);
  const anc = fr.find((f) => f.depth === 0);
  check(!H.near(await H.pixel(page, anc.x + 3, anc.y + 3), H.rgb(anc.color), 10), 'callers of the zoomed frame are dimmed');
  check(H.near(await H.pixel(page, z.x + 3, z.y + 3), H.rgb(z.color), 3), 'the zoomed frame is not');
  checkEq(await page.textContent('#crumbs [aria-current=true]'), d2.name, 'breadcrumb ends at the zoomed frame');
  const crumbs = await page.$$eval('#crumbs button', (bs) => bs.map((x) => x.textContent));
  checkEq(crumbs.length, d2.depth + 1, 'breadcrumb has one entry per level');
  // deeper, then back through the breadcrumb
  const d3 = fr.filter((f) => f.depth === d2.depth + 1).sort((a, b2) => b2.w - a.w)[0];
  await page.mouse.click(box.x + d3.x + 4, box.y + d3.y + 10);
  await page.waitForFunction((n) => document.getElementById('flame-hitmap').dataset.zoom === String(n), d3.node);
  await page.click(`#crumbs button[data-node="${d2.node}"]`);
  await page.waitForFunction((n) => document.getElementById('flame-hitmap').dataset.zoom === String(n), d2.node);
  check(true, 'breadcrumb zooms out');
  await shot('zoomed');
  // the root row zooms out entirely
  await page.mouse.click(box.x + 20, box.y + 5);
  await page.waitForFunction(() => document.getElementById('flame-hitmap').dataset.zoom === '0');
  // Esc too
  await page.mouse.click(box.x + d2.x + 4, box.y + d2.y + 10);
  await page.waitForFunction((n) => document.getElementById('flame-hitmap').dataset.zoom === String(n), d2.node);
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => document.getElementById('flame-hitmap').dataset.zoom === '0');
  check(true, 'Esc zooms out');

  step('search');
  await page.selectOption('#detail', '0');
  await H.waitView(page, 'web-api|cpu|cpu|0||');
  await page.mouse.move(1, 1);
  await page.keyboard.press('/');
  checkEq(await page.evaluate(() => document.activeElement.id), 'search', '/ focuses the search box');
  await page.keyboard.type('backtrack');
  await page.waitForFunction(() => document.getElementById('status').dataset.matchShare !== undefined);
  const st = await page.$eval('#status', (s) => ({ ...s.dataset, text: s.textContent }));
  const re = /backtrack/i;
  const lines = H.folded(E.PGOPIPE, baseA);
  const totalF = lines.reduce((a, l) => a + l.value, 0);
  const matchedValue = lines.filter((l) => l.frames.some((f) => re.test(f))).reduce((a, l) => a + l.value, 0);
  const matchedFns = new Set(lines.flatMap((l) => l.frames.filter((f) => re.test(f))));
  const matchedNodes = full.nodes.filter((n) => n[0] >= 0 && re.test(full.names[n[0]])).length;
  checkEq(totalF, refA.total, 'folded export adds up to the total');
  checkEq(Number(st.matchValue), matchedValue, 'summed value of matches = folded stacks with a match');
  check(Math.abs(Number(st.matchShare) - matchedValue / totalF) < 1e-12, `share of matches ${st.matchShare} vs ${matchedValue / totalF}`);
  checkEq(Number(st.matchFunctions), matchedFns.size, 'matching functions');
  checkEq(Number(st.matchFrames), matchedNodes, 'matching frames');
  check(st.text.includes(`${((matchedValue / totalF) * 100).toFixed(2)}% of the total`), `status shows the share: ${st.text}`);
  const hl = await page.$$eval('#top tbody tr[data-name]', (trs) => trs.map((t) => [t.dataset.name, t.classList.contains('match')]));
  check(hl.every(([n, m]) => m === re.test(n)), 'table rows of matching functions are highlighted');
  check(hl.some(([, m]) => m), 'some rows highlighted');
  fr = await H.frames(page);
  const hit = fr.find((f) => re.test(f.name) && f.w > 8);
  const miss = fr.find((f) => !re.test(f.name) && f.w > 8 && f.depth > 0);
  const hitPx = await H.pixel(page, hit.x + 3, hit.y + 3);
  const missPx = await H.pixel(page, miss.x + 3, miss.y + 3);
  check(H.near(hitPx, H.rgb(hit.color), 3), `a match keeps its colour: ${hitPx} vs ${hit.color}`);
  check(!H.near(missPx, H.rgb(miss.color), 20), `other frames fade: ${missPx} vs ${miss.color}`);
  await shot('search');
  checkEq(new URLSearchParams((await page.evaluate(() => location.hash)).slice(1)).get('q'), 'backtrack', 'search kept in the URL');
  // not a regular expression: matched as text
  await page.fill('#search', 'doExecute(');
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('matched as text'));
  check(await page.$eval('#search', (s) => s.classList.contains('bad')), 'an invalid expression is marked');
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.matchFunctions)), 0, '"doExecute(" as text matches nothing');

  step('a table row highlights its function');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => document.getElementById('status').dataset.matchShare === undefined);
  const pick = 'regexp.(*Regexp).backtrack';
  await page.click(`#top tbody tr[data-name="${pick}"]`);
  await page.waitForFunction(() => document.getElementById('status').dataset.matchFunctions === '1');
  checkEq(await page.inputValue('#search'), '^regexp\\.\\(\\*Regexp\\)\\.backtrack$', 'the row became an anchored search');
  check(await page.$eval(`#top tbody tr[data-name="${pick}"]`, (t) => t.classList.contains('match')), 'the row is highlighted');
  checkEq(
    await page.$eval('#status', (s) => Number(s.dataset.matchValue)),
    cumOf.get(pick),
    'its summed value is its pprof cum',
  );
  await page.keyboard.press('Escape');

  step('sorting');
  await page.click('#top thead th button:text-is("Cum")');
  let cums = await page.$$eval('#top tbody tr[data-name]', (t) => t.map((r) => Math.abs(Number(r.dataset.cum))));
  check(cums.every((v, i) => i === 0 || cums[i - 1] >= v), 'sorted by cum, descending');
  checkEq(await page.getAttribute('#top thead th[aria-sort]', 'aria-sort'), 'descending', 'aria-sort');
  await page.click('#top thead th button:text-is("Cum")');
  cums = await page.$$eval('#top tbody tr[data-name]', (t) => t.map((r) => Math.abs(Number(r.dataset.cum))));
  check(cums.every((v, i) => i === 0 || cums[i - 1] <= v), 'then ascending');
  await page.click('#top thead th button:text-is("Function")');
  const names = await page.$$eval('#top tbody tr[data-name]', (t) => t.map((r) => r.dataset.name));
  check(names.every((v, i) => i === 0 || names[i - 1] <= v), 'by name');
  await page.click('#top thead th button:text-is("Flat")');
  await H.compareTop(page, refA, 'cpu, back in flat order');

  step('downloads (cpu)');
  await checkDownloads(page, url, 'web-api', 'cpu', ['pprof', 'folded', 'speedscope', 'chrome', 'pgo', 'preprofile']);

  step('kinds and sample types');
  await page.click('#kinds button[data-kind=heap]');
  const heapRef = H.pprofTop(heap, 'B');
  const heapDefault = await page.waitForFunction(() => {
    const v = document.getElementById('view').dataset.view;
    return v && v.startsWith('web-api|heap|') && v.split('|')[2];
  });
  const heapType = await heapDefault.jsonValue();
  checkEq(await page.$eval('#status', (s) => s.dataset.unit), 'bytes', 'heap values are bytes');
  const types = await page.$$eval('#sample-type option', (o) => o.map((x) => x.value));
  check(types.includes('alloc_space') && types.includes('inuse_space'), `heap sample types: ${types}`);
  checkEq(await page.$eval('#status', (s) => Number(s.dataset.total)), heapRef.total, `heap total (${heapType}) = pprof's default`);
  await H.compareTop(page, heapRef, `heap ${heapType}`);
  await page.selectOption('#sample-type', 'alloc_space');
  await H.waitView(page, 'web-api|heap|alloc_space|0||');
  await H.compareTop(page, H.pprofTop(heap, 'B', 'alloc_space'), 'heap alloc_space');
  await checkDownloads(page, url, 'web-api', 'heap', ['pprof', 'folded', 'speedscope']);
  // a profile without samples: said so, nothing drawn, nothing broken
  await page.click('#kinds button[data-kind=mutex]');
  await H.waitView(page, 'web-api|mutex|delay|0||');
  check((await page.textContent('#status')).includes('no samples'), 'an empty profile is said to be empty');
  checkEq(await page.$eval('#flame-hitmap', (h) => Number(h.dataset.frames)), 0, 'no frames for an empty profile');
  checkEq(await page.$$eval('#top tbody tr[data-name]', (t) => t.length), 0, 'no rows for an empty profile');
  await page.click('#kinds button[data-kind=cpu]');
  await H.waitView(page, 'web-api|cpu|cpu|0||');

  step('diff of two apps');
  await page.check('#compare');
  await H.waitView(page, 'web-api|cpu|cpu|0|batch-jobs|');
  check(await page.isVisible('#legend'), 'legend shown');
  checkEq(await page.inputValue('#base-app'), 'batch-jobs', 'compared with the other app');
  await page.mouse.move(1, 1);
  await page.waitForTimeout(50);
  const diff = await (await page.request.get(`${url}/api/ui/diff?app=web-api&base=batch-jobs&min_share=0`)).json();
  const T = diff.total;
  const B = diff.base.total;
  checkEq(T, refA.total, 'diff: total now = pprof total of web-api');
  checkEq(B, H.pprofTop(baseB, 'ns').total, 'diff: total before = pprof total of batch-jobs');
  fr = await H.frames(page);
  const seen = { grew: 0, shrank: 0, same: 0 };
  for (const f of fr.filter((q) => q.w >= 6 && q.name !== 'other').slice(0, 150)) {
    const cs = Math.abs(f.total) / T;
    const bs = Math.abs(f.baseTotal) / B;
    const r = (cs - bs) / Math.max(cs, bs);
    const px = await H.pixel(page, f.x + 3, f.y + 3);
    check(H.near(px, H.rgb(f.color), 3), `diff pixel of ${f.name} ${px} is its colour ${f.color}`);
    if (r > 0.1) {
      seen.grew++;
      check(px[0] - px[1] > 15, `${f.name} grew (${r.toFixed(2)}) but is not red: ${px}`);
    } else if (r < -0.1) {
      seen.shrank++;
      check(px[1] - px[0] > 15, `${f.name} shrank (${r.toFixed(2)}) but is not green: ${px}`);
    } else if (Math.abs(r) < 1e-9) {
      seen.same++;
      check(Math.abs(px[0] - px[1]) < 12, `${f.name} did not change but is coloured: ${px}`);
    }
  }
  check(seen.grew > 0 && seen.shrank > 0 && seen.same > 0, `frames that grew, shrank, stayed: ${JSON.stringify(seen)}`);
  const drows = await page.$$eval('#top tbody tr[data-name]', (t) =>
    t.map((r) => ({ baseCum: Number(r.dataset.baseCum), before: r.cells[4].textContent })),
  );
  check(drows.length > 0 && drows.every((r) => r.before === `${((r.baseCum / B) * 100).toFixed(2)}%`), 'diff table: Before = base cum share');
  await shot('diff');
  await page.uncheck('#compare');
  await H.waitView(page, 'web-api|cpu|cpu|0||');

  step('time range: only when the app keeps history');
  // The worker keeps hour buckets: the server says web-api's cpu has
  // history, and the control is shown. The same listing without history
  // (as a server answers for an app with none) hides it.
  check(await page.isVisible('#range'), 'time control shown: the worker wrote hour buckets');
  await page.route('**/api/ui/apps', async (route) => {
    const resp = await route.fetch();
    const j = await resp.json();
    for (const a of j.apps) for (const k of a.kinds) delete k.history;
    await route.fulfill({ response: resp, json: j });
  });
  await page.reload();
  await H.waitView(page, 'web-api|cpu|cpu|0||');
  check(await page.isHidden('#range'), 'no time control without history');
  await page.unroute('**/api/ui/apps');
  await page.reload();
  await H.waitView(page, 'web-api|cpu|cpu|0||');
  check(await page.isVisible('#range'), 'time control back with history');
  const treeReq = page.waitForRequest((r) => r.url().includes('/api/ui/tree/web-api') && r.url().includes('from='));
  await page.selectOption('#range-preset', '24');
  const req = new URL((await treeReq).url());
  const from = new Date(req.searchParams.get('from'));
  const to = new Date(req.searchParams.get('to'));
  checkEq(to - from, 24 * 3600e3, 'last 24 hours asks for a 24-hour range');
  checkEq(to.getUTCMinutes() + to.getUTCSeconds(), 0, 'ranges end on an hour');
  await page.waitForFunction(() => /\|[^|]+\/[^|]+$/.test(document.getElementById('view').dataset.view || ''));
  check(await page.isHidden('#error'), 'the last 24 hours (every upload of this run) load without an error');
  const dl = await page.$$eval('#download-links a', (as) => as.map((a) => a.href));
  check(dl.length > 0 && dl.every((h) => h.includes('from=') && h.includes('to=')), 'downloads carry the range');
  await page.selectOption('#range-preset', 'custom');
  check(await page.isVisible('#range-from') && await page.isVisible('#range-to'), 'custom range inputs');
  await page.selectOption('#range-preset', '');
  await H.waitView(page, 'web-api|cpu|cpu|0||');
  check(await page.isHidden('#error'), 'no error once the whole history is shown again');
  // The 404 answers of the range requests (no hour bucket) were expected: drop their console lines.
  b.problems = b.problems.filter((p) => !/status of 404/.test(p));

  step('screenshots');
  await page.goto(`${url}/ui/#app=web-api&q=regexp`);
  await page.reload();
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  await page.mouse.move(1, 1);
  await shot('light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(100);
  const darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(darkBg !== 'rgb(251, 251, 250)', `dark theme follows prefers-color-scheme: ${darkBg}`);
  fr = await H.frames(page);
  const darkRoot = fr.find((f) => f.depth === 0);
  checkEq(darkRoot.color, 'rgb(74, 78, 86)', 'dark theme colours the canvas');
  await shot('dark');
  await page.emulateMedia({ colorScheme: 'light' });
  const wide = await page.$eval('#flame-hitmap', (h) => Number(h.dataset.width));
  await page.setViewportSize({ width: 1300, height: 720 });
  await page.waitForFunction((w0) => Number(document.getElementById('flame-hitmap').dataset.width) < w0, wide);
  const narrow = await page.evaluate(() => {
    const c = document.getElementById('flame').getBoundingClientRect();
    const p = document.querySelector('.flame-pane').getBoundingClientRect();
    return { canvas: c.right, pane: p.right, doc: document.documentElement.scrollWidth, win: window.innerWidth };
  });
  check(narrow.canvas <= narrow.pane && narrow.doc <= narrow.win, `the graph shrinks with the window: ${JSON.stringify(narrow)}`);
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(`${url}/ui/#app=web-api`);
  await page.reload();
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  check(await page.isVisible('#range'), 'the time control stays: the server keeps this app\'s history');
  const fr2 = await H.frames(page);
  const near = fr2.filter((f) => f.depth === 4).sort((a, b2) => b2.w - a.w)[0];
  const box2 = await page.locator('#flame').boundingBox();
  await page.mouse.move(box2.x + near.x + near.w / 3, box2.y + near.y + 10);
  await page.waitForSelector('#tooltip:not([hidden])');
  await page.screenshot({ path: path.join(E.ARTIFACTS, 'ui.png'), scale: 'css' });
  checkEq(await page.$eval('#flame-hitmap', (h) => Number(h.dataset.width)) < width, true, 'the graph follows the window width');

  step('no console errors, no request outside the server');
  check(b.problems.length === 0, `console: ${b.problems.join('\n  ')}`);
  const outside = b.requests.filter((u) => !u.startsWith(`${url}/`));
  check(outside.length === 0, `requests outside ${url}: ${outside.join(', ')}`);
  check(b.requests.length > 20, `requests recorded: ${b.requests.length}`);
  console.log(`  ${b.requests.length} requests, all to ${url}`);
}

async function checkDownloads(page, url, app, kind, want) {
  await page.click('#downloads summary');
  await page.waitForSelector('#download-links a');
  const links = await page.$$eval('#download-links a', (as) => as.map((a) => ({ format: a.dataset.format, href: a.href, download: a.download })));
  checkEq(links.map((l) => l.format).join(','), want.join(','), `download formats of ${kind}`);
  for (const l of links) {
    checkEq(l.href, `${url}/api/profile/${app}?kind=${kind}&format=${l.format}`, `link of ${l.format}`);
    check(l.download.startsWith(`${app}-${kind}.`), `file name ${l.download}`);
    const r = await page.request.get(l.href);
    checkEq(r.status(), 200, `GET ${l.href}`);
  }
  await page.keyboard.press('Escape');
  check(!(await page.$eval('#downloads', (d) => d.open)), 'Esc closes the menu');
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    console.error(e);
    H.done('ui.browser');
    process.exit(1);
  },
);
