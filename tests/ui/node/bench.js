// bench.js URL RUNS — the web UI's first paint in headless Chromium: loads
// URL (a page of pgopipe-server's UI) RUNS times, each in a new tab of one
// browser, and prints per run the time from navigation start to the first
// paint of the flame graph (performance.now() when the canvas was first
// drawn, the page's data-first-paint-ms) and how long the tree JSON took to
// arrive (resource timing), then the medians. The first run is the cold
// one (no cached assets, no compiled modules). Used by tests/bench/ui-bench.sh.
'use strict';

const H = require('./harness');
const fs = require('fs');

async function main() {
  const url = process.argv[2];
  const runs = Number(process.argv[3] || 5);
  if (!url) throw new Error('usage: node bench.js URL [RUNS]');
  const work = H.tmpdir('pgopipe-ui-bench-');
  const b = await H.browser(work, { width: 1440, height: 900 });
  const paint = [];
  const tree = [];
  try {
    for (let i = 0; i < runs; i++) {
      const page = i === 0 ? b.page : await b.ctx.newPage();
      await page.goto(url);
      await page.waitForFunction(() => document.documentElement.dataset.firstPaintMs !== undefined, null, { timeout: 30000 });
      const r = await page.evaluate(() => {
        const t = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/ui/tree/'));
        return {
          paint: Number(document.documentElement.dataset.firstPaintMs),
          tree: t ? t.responseEnd - t.requestStart : NaN,
          frames: Number(document.getElementById('flame-hitmap').dataset.frames),
        };
      });
      paint.push(r.paint);
      tree.push(r.tree);
      console.log(`run ${i + 1}: first flame paint ${r.paint.toFixed(1)} ms, tree JSON ${r.tree.toFixed(1)} ms, ${r.frames} frames drawn`);
      if (i > 0) await page.close();
    }
  } finally {
    await b.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const med = (a) => {
    const s = a.slice().sort((x, y) => x - y);
    return s[Math.floor((s.length - 1) / 2)];
  };
  console.log(`first paint: cold ${paint[0].toFixed(1)} ms, median of all ${runs} ${med(paint).toFixed(1)} ms; tree JSON median ${med(tree).toFixed(1)} ms`);
  if (b.problems.length) {
    console.error(b.problems.join('\n'));
    return 1;
  }
  return 0;
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
