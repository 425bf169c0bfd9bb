// `just ui-bench` (scripts/ui-bench.sh starts the node): seeds an entity of UI_BENCH_ROWS rows
// (1,000,000 by default) with the bulk endpoint, then with Debian's Chromium prints the gzipped
// size of the first-load JavaScript, first contentful paint and first grid rows on cold loads of
// that entity's grid, when the total arrives, the 95th percentile frame time while scrolling,
// a drag of the scrollbar to the middle, and the list API's own time at deep offsets.
//
// Environment: TRELLIS_E2E_URL, TRELLIS_E2E_EMAIL, TRELLIS_E2E_PASSWORD (as the e2e tests),
// UI_BENCH_ROWS, UI_BENCH_LOADS (cold loads, 5), TRELLIS_E2E_CHROMIUM.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, sleep } from '../e2e/harness.mjs';

const ROWS = Number(process.env.UI_BENCH_ROWS || 1_000_000);
const LOADS = Number(process.env.UI_BENCH_LOADS || 5);
const BATCH = 1_000;
const api = apiClient(120_000);
const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
const label = (zh, en) => ({ zh, en });
const CUSTOMERS = ['华东贸易', 'Acme Corp', '北方重工', 'Globex', '南方电子'];

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const median = (xs) => pct(xs, 50);
const ms = (x) => `${Math.round(x)} ms`;
const out = (k, v) => console.log(`${k.padEnd(44)} ${v}`);

async function seed(token) {
  const app = `uibench_${Date.now()}`;
  await api(base, 'api/v1/apps', {
    method: 'POST',
    token,
    body: {
      name: app,
      label: label('界面基准', 'UI bench'),
      entities: [
        {
          name: 'row',
          label: label('记录', 'Rows'),
          title_field: 'title',
          fields: [
            { name: 'title', label: label('标题', 'Title'), type: 'text', required: true },
            { name: 'n', label: label('序号', 'Number'), type: 'integer', indexed: true },
            { name: 'amount', label: label('金额', 'Amount'), type: 'currency', currency: 'CNY' },
            { name: 'customer', label: label('客户', 'Customer'), type: 'relation', target: 'customer' },
          ],
        },
        { name: 'customer', label: label('客户', 'Customers'), title_field: 'name', fields: [{ name: 'name', label: label('名称', 'Name'), type: 'text' }] },
      ],
    },
  });
  const customers = (
    await api(base, `api/v1/data/${app}/customer/bulk`, { method: 'POST', token, body: { create: CUSTOMERS.map((name) => ({ name })) } })
  ).created;
  const t0 = performance.now();
  let next = 0;
  let lastLog = t0;
  async function worker() {
    while (next < ROWS) {
      const from = next;
      next += BATCH;
      const create = Array.from({ length: Math.min(BATCH, ROWS - from) }, (_, j) => {
        const n = from + j + 1;
        return { title: `Row ${String(n).padStart(7, '0')}`, n, amount: { amount: (n % 9973) + 0.5, currency: 'CNY' }, customer: customers[n % 5].id };
      });
      await api(base, `api/v1/data/${app}/row/bulk`, { method: 'POST', token, body: { create } });
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        console.error(`  … ${next.toLocaleString('en-US')} rows`);
      }
    }
  }
  await Promise.all([worker(), worker()]);
  const secs = (performance.now() - t0) / 1000;
  return { app, secs };
}

/** The list API's own time for a page at `offset` (median of 3), from this process. */
async function listTime(token, app, query) {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await api(base, `api/v1/data/${app}/row?${query}`, { token });
    times.push(performance.now() - t);
  }
  return median(times);
}

async function main() {
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  const size = execFileSync('node', [fileURLToPath(new URL('./first-load-size.mjs', import.meta.url))], { encoding: 'utf8' });
  out('first-load JavaScript (gzip, goal ≤ 300 KB)', size.trim().split('\n').pop().replace('first load: ', ''));

  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token, body: { language: 'zh-CN' } });
  console.error(`seeding ${ROWS.toLocaleString('en-US')} rows (bulk, 1,000 per request, 2 at a time)…`);
  const { app, secs } = await seed(token);
  out('seeding', `${ROWS.toLocaleString('en-US')} rows in ${secs.toFixed(1)} s = ${Math.round(ROWS / secs).toLocaleString('en-US')} rows/s`);

  const mid = Math.floor(ROWS / 2 / 100) * 100;
  out('API: first page (limit 100, expand)', ms(await listTime(token, app, 'limit=100&expand=customer')));
  out('API: the count (limit 1, count)', ms(await listTime(token, app, 'limit=1&count=true')));
  out(`API: page at offset ${mid.toLocaleString('en-US')}`, ms(await listTime(token, app, `limit=100&expand=customer&offset=${mid}`)));
  out('API: first page sorted by -n (indexed)', ms(await listTime(token, app, 'limit=100&expand=customer&sort=-n')));
  out(`API: same at offset ${mid.toLocaleString('en-US')}`, ms(await listTime(token, app, `limit=100&expand=customer&sort=-n&offset=${mid}`)));
  out('API: first page sorted by -amount (no index)', ms(await listTime(token, app, 'limit=100&expand=customer&sort=-amount')));
  out(`API: same at offset ${mid.toLocaleString('en-US')}`, ms(await listTime(token, app, `limit=100&expand=customer&sort=-amount&offset=${mid}`)));

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    ignoreDefaultArgs: ['--hide-scrollbars'],
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  try {
    const url = new URL(`apps/${app}/row`, base).href;
    const fcps = [];
    const firsts = [];
    const totals = [];
    // Cold loads: a new context each time (no HTTP cache), already logged in.
    for (let i = 0; i < LOADS; i++) {
      const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
      // The moments the first rows and the total are in the page, taken by the page itself
      // (the frame after the change, when it is painted), not by polling from here.
      await context.addInitScript((t) => {
        localStorage.setItem('trellis.token', t);
        const seen = (name) => requestAnimationFrame(() => (window[name] = performance.now()));
        new MutationObserver(() => {
          if (!window.__rowsAt && !window.__rowsSeen && document.querySelector('[data-testid="grid"] .ant-table-row:not(.grid-row-placeholder)')) {
            window.__rowsSeen = true;
            seen('__rowsAt');
          }
          if (!window.__totalAt && !window.__totalSeen && /\d/.test(document.querySelector('[data-testid="grid-count"]')?.textContent ?? '')) {
            window.__totalSeen = true;
            seen('__totalAt');
          }
        }).observe(document, { subtree: true, childList: true, characterData: true });
      }, token);
      const page = await context.newPage();
      await page.goto(url, { waitUntil: 'commit' });
      await page.waitForFunction(() => window.__rowsAt && window.__totalAt, null, { timeout: 120_000 });
      const { first, total } = await page.evaluate(() => ({ first: window.__rowsAt, total: window.__totalAt }));
      const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
      fcps.push(fcp);
      firsts.push(first);
      totals.push(total);
      if (i < LOADS - 1) await context.close();
      else await measureScrolling(page);
    }
    out(`cold load: first contentful paint (median of ${LOADS})`, `${ms(median(fcps))}  [${fcps.map(Math.round).join(', ')}]`);
    out(`cold load: first grid rows (median of ${LOADS})`, `${ms(median(firsts))}  [${firsts.map(Math.round).join(', ')}]`);
    out(`cold load: the total shown (median of ${LOADS})`, `${ms(median(totals))}  [${totals.map(Math.round).join(', ')}]`);
  } finally {
    await browser.close();
  }
}

/** Frame times while scrolling by wheel, and a drag of the scrollbar to the middle. */
async function measureScrolling(page) {
  const body = page.locator('[data-testid="grid"] .ant-table-body');
  await body.hover();
  await sleep(500);
  const record = () =>
    page.evaluate(() => {
      window.__frames = [];
      let last = performance.now();
      const tick = (t) => {
        window.__frames.push(t - last);
        last = t;
        if (window.__frames.length < 100_000) window.__raf = requestAnimationFrame(tick);
      };
      window.__raf = requestAnimationFrame(tick);
    });
  const stop = () => page.evaluate(() => (cancelAnimationFrame(window.__raf), window.__frames.slice(1)));

  await record();
  for (let i = 0; i < 150; i++) {
    await page.mouse.wheel(0, 120);
    await sleep(16);
  }
  await sleep(300);
  const frames = await stop();
  out('scrolling by wheel: frames', `${frames.length}, p50 ${frames.length ? pct(frames, 50).toFixed(1) : '-'} ms, p95 ${pct(frames, 95).toFixed(1)} ms, max ${Math.max(...frames).toFixed(1)} ms`);

  // The drag: the thumb is found as the e2e test finds it (bigscroll.e2e.mjs).
  const box = await body.boundingBox();
  const bar = await body.evaluate((b) => b.offsetWidth - b.clientWidth);
  const x = box.x + box.width - bar / 2;
  const geo = () => body.evaluate((b) => ({ top: b.scrollTop, h: b.scrollHeight, c: b.clientHeight }));
  const g0 = await geo();
  const thumbAt = (g0.top / (g0.h - g0.c)) * box.height;
  await record();
  let grabbed = false;
  for (let dy = -6; dy <= 40 && !grabbed; dy += 2) {
    const y = Math.max(box.y + 1, box.y + thumbAt + dy);
    const before = (await geo()).top;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x, y + 10);
    if (Math.abs((await geo()).top - before) > 5 * g0.c) {
      grabbed = true;
      const to = box.y + box.height / 2;
      for (let i = 1; i <= 20; i++) {
        await page.mouse.move(x, y + ((to - y) * i) / 20);
        await sleep(16);
      }
    }
    await page.mouse.up();
  }
  const dropped = await page.evaluate(() => performance.now());
  if (!grabbed) {
    out('drag to the middle', 'no scrollbar thumb found');
    return;
  }
  await page.waitForFunction(
    (quarter) => {
      const rows = document.querySelectorAll('[data-testid="grid"] .ant-table-row');
      const t = document.querySelector('[data-testid="grid"] .ant-table-row:not(.grid-row-placeholder) [data-col="title"]')?.textContent ?? '';
      return rows.length > 0 && !document.querySelector('[data-testid="grid"] .grid-row-placeholder') && Number(t.slice(4)) > quarter;
    },
    ROWS / 4,
    { timeout: 60_000 },
  );
  const loaded = await page.evaluate(() => performance.now());
  const dragFrames = await stop();
  const info = await page.evaluate(() => ({
    title: document.querySelector('[data-testid="grid"] .ant-table-row [data-col="title"]')?.textContent,
    rows: document.querySelectorAll('[data-testid="grid"] .ant-table-row').length,
  }));
  out('drag to the middle: rows shown after the drop', `${ms(loaded - dropped)} (at ${info.title}, ${info.rows} rows in the DOM)`);
  out('drag to the middle: frames', `p95 ${pct(dragFrames, 95).toFixed(1)} ms, max ${Math.max(...dragFrames).toFixed(1)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
