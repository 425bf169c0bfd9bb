// End-to-end check of the grid over 100,000 rows against a running Trellis server (see
// login.e2e.mjs for the environment): seed them with the bulk endpoint, open their grid (a view
// sorted by an indexed number), see the
// first rows with the total counted on the side, scroll on (pages by cursor), drag the
// scrollbar to the middle (skeleton rows, then the page at that offset, then pages by cursor
// from there) and to the end; all along fewer than 100 rows in the DOM, one list request per
// page (never one per row: related titles come in the page, `expand`), and screenshots at
// 1280×800 under e2e-output/.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 240_000;
const STEP_TIMEOUT_MS = 20_000;
const HTTP_TIMEOUT_MS = 60_000;
const ROWS = Number(process.env.TRELLIS_E2E_BIG_ROWS || 100_000);
const BATCH = 1_000;
const PAGE = 100;

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}bigscroll-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'bigscroll', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, state: () => ({ browser, page, step }) },
  main,
);
const waitFor = (what, fn) => waitUntil(what, fn, STEP_TIMEOUT_MS);

const label = (zh, en) => ({ zh, en });
const CUSTOMERS = ['华东贸易', 'Acme Corp', '北方重工', 'Globex', '南方电子'];
const title = (i) => `Item ${String(i).padStart(6, '0')}`;

function appDef(name) {
  return {
    name,
    label: label('大表', 'Big list'),
    entities: [
      {
        name: 'item',
        label: label('条目', 'Items'),
        title_field: 'title',
        fields: [
          { name: 'title', label: label('标题', 'Title'), type: 'text', required: true },
          { name: 'n', label: label('序号', 'Number'), type: 'integer', indexed: true },
          { name: 'customer', label: label('客户', 'Customer'), type: 'relation', target: 'customer' },
        ],
      },
      {
        name: 'customer',
        label: label('客户', 'Customers'),
        title_field: 'name',
        fields: [{ name: 'name', label: label('名称', 'Name'), type: 'text' }],
      },
    ],
    // Two bulk requests at a time commit in either order, so ids are not in `n` order: the grid
    // is read sorted by `n` (an index walk, offsets included).
    views: [{ name: 'by_n', label: label('按序号', 'By number'), entity: 'item', type: 'grid', sort: [{ field: 'n' }] }],
  };
}

/** Titles of the grid's drawn rows (not the skeletons), in order. */
async function drawnTitles() {
  return page.locator('[data-testid="grid"] .ant-table-row:not(.grid-row-placeholder) [data-col="title"]').allTextContents();
}

/** Rows in the DOM, skeleton rows among them, and the body's scroll geometry. */
async function dom() {
  return page.evaluate(() => {
    const body = document.querySelector('[data-testid="grid"] .ant-table-body');
    const row = document.querySelector('[data-testid="grid"] .ant-table-row');
    return {
      rows: document.querySelectorAll('[data-testid="grid"] .ant-table-row').length,
      trs: document.querySelectorAll('[data-testid="grid"] tr').length,
      skeletons: document.querySelectorAll('[data-testid="grid"] .grid-row-placeholder').length,
      scrollHeight: body?.scrollHeight ?? 0,
      clientHeight: body?.clientHeight ?? 0,
      scrollTop: body?.scrollTop ?? 0,
      rowHeight: row?.getBoundingClientRect().height ?? 0,
    };
  });
}

function checkDom(d, where) {
  if (d.rows >= 100 || d.trs >= 100) throw new Error(`${where}: DOM rows ${JSON.stringify(d)}, want < 100`);
}

async function shoot(name) {
  await mkdir(outDir, { recursive: true });
  const path = `${outDir}${name}.png`;
  await page.screenshot({ path });
  log(`screenshot: ${path}`);
}

/**
 * Drags the body's scrollbar thumb from where it is to a fraction of the track. The thumb is
 * found by pressing the mouse along the scrollbar until a short drag moves the list by far more
 * than a click on the track would (a page).
 */
async function dragScrollbar(fraction) {
  const box = await page.locator('[data-testid="grid"] .ant-table-body').boundingBox();
  const bar = await page.evaluate(() => {
    const b = document.querySelector('[data-testid="grid"] .ant-table-body');
    const cs = getComputedStyle(b);
    return { bar: b.offsetWidth - b.clientWidth, width: cs.scrollbarWidth, color: cs.scrollbarColor, overflow: cs.overflowY };
  });
  if (bar.bar < 4) throw new Error(`no scrollbar to drag: ${JSON.stringify({ box, bar })}`);
  const x = box.x + box.width - bar.bar / 2;
  const d0 = await dom();
  const thumbAt = (d0.scrollTop / (d0.scrollHeight - d0.clientHeight)) * box.height;
  for (let dy = -6; dy <= 40; dy += 2) {
    const y = Math.max(box.y + 1, Math.min(box.y + box.height - 1, box.y + thumbAt + dy));
    const before = (await dom()).scrollTop;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x, y + 10);
    const moved = Math.abs((await dom()).scrollTop - before);
    if (moved > 5 * d0.clientHeight) {
      const to = box.y + fraction * box.height;
      for (let i = 1; i <= 8; i++) await page.mouse.move(x, y + ((to - y) * i) / 8);
      await page.mouse.up();
      return;
    }
    await page.mouse.up();
  }
  throw new Error(`found no scrollbar thumb to drag: ${JSON.stringify({ box, bar })}`);
}

async function main() {
  step = 'read environment';
  await rm(failureScreenshot, { force: true });
  const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  step = `seed ${ROWS} rows with the bulk endpoint`;
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token, body: { language: null } });
  const app = `big_${Date.now()}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: appDef(app) });
  const customers = (
    await api(base, `api/v1/data/${app}/customer/bulk`, { method: 'POST', token, body: { create: CUSTOMERS.map((name) => ({ name })) } })
  ).created;
  const seeded = Date.now();
  // Two requests at a time: one is written while the other is parsed and checked.
  let next = 0;
  async function worker() {
    while (next < ROWS) {
      const from = next;
      next += BATCH;
      const create = Array.from({ length: Math.min(BATCH, ROWS - from) }, (_, j) => ({
        title: title(from + j + 1),
        n: from + j + 1,
        customer: customers[(from + j) % customers.length].id,
      }));
      await api(base, `api/v1/data/${app}/item/bulk`, { method: 'POST', token, body: { create } });
    }
  }
  await Promise.all([worker(), worker()]);
  log(`seeded ${ROWS} rows in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

  step = 'launch chromium';
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    // Playwright hides scrollbars in headless mode; this test drags one.
    ignoreDefaultArgs: ['--hide-scrollbars'],
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Every request for items or customers, as sent.
  const items = [];
  const related = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === `/api/v1/data/${app}/item`) items.push(u.searchParams);
    if (u.pathname.startsWith(`/api/v1/data/${app}/customer`)) related.push(u.pathname);
  });
  const pages = () => items.filter((p) => p.get('count') !== 'true');
  const unsorted = () => pages().filter((p) => p.get('sort') !== 'n');
  // A page asked by offset waits while `held` is set (to see the skeleton rows it replaces).
  let held = null;
  await page.route(`**/api/v1/data/${app}/item?*`, async (route) => {
    if (held && new URL(route.request().url()).searchParams.get('offset')) await held.promise;
    await route.continue();
  });

  step = 'log in and open the grid';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId(`app-open-${app}`).waitFor({ state: 'visible' });
  await page.goto(new URL(`apps/${app}/views/by_n`, base).href);
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });

  step = 'the first rows, then the total, the scrollbar spanning every row';
  await waitFor('the first row', async () => (await drawnTitles())[0] === title(1) || (await drawnTitles())[0]);
  await waitFor('the total', async () => (await page.getByTestId('grid-count').textContent())?.includes(ROWS.toLocaleString('zh-CN')) || false);
  await waitFor('the scroll height of every row', async () => {
    const d = await dom();
    return Math.abs(d.scrollHeight - ROWS * d.rowHeight) <= 1 || d;
  });
  let d = await dom();
  checkDom(d, 'first rows');
  log(`first rows: ${d.rows} in the DOM, scroll height ${d.scrollHeight} px for ${ROWS} rows of ${d.rowHeight} px`);

  step = 'scroll on: the next pages by cursor';
  await page.locator('[data-testid="grid"] .ant-table-body').hover();
  for (let i = 0; i < 12; i++) {
    await page.mouse.wheel(0, 800);
    await sleep(120);
  }
  await waitFor('rows past the first pages', async () => {
    const t = await drawnTitles();
    return (t.length > 0 && Number(t[0].slice(5)) > 2 * PAGE) || t.slice(0, 2);
  });
  const byCursor = pages().filter((p) => p.get('cursor'));
  if (byCursor.length < 2) throw new Error(`want ≥ 2 pages by cursor, got ${byCursor.length}: ${pages().join(' | ')}`);
  if (pages().some((p) => p.get('offset'))) throw new Error(`scrolling on asked by offset: ${pages().join(' | ')}`);
  checkDom(await dom(), 'after scrolling on');

  step = 'drag the scrollbar to the middle: skeletons, then the page at that offset';
  let release;
  held = { promise: new Promise((r) => (release = r)) };
  const before = pages().length;
  await dragScrollbar(0.5);
  d = await dom();
  const middle = Math.floor((d.scrollTop / (d.scrollHeight - d.clientHeight)) * (ROWS - d.clientHeight / d.rowHeight));
  await waitFor('skeleton rows where nothing is loaded yet', async () => (await dom()).skeletons > 5 || (await dom()));
  checkDom(await dom(), 'skeletons');
  await shoot('bigscroll-skeleton-zh-1280');
  await waitFor('a page asked by offset', async () => pages().slice(before).some((p) => p.get('offset')) || pages().slice(before).join(' | '));
  held = null;
  release();
  // The rows drawn are those of where the scrollbar rests now (a drag may settle a little
  // after the mouse is released, so the position is read again with the rows).
  let at = middle;
  await waitFor('rows of the middle', async () => {
    const t = await drawnTitles();
    const first = t.length ? Number(t[0].slice(5)) : -1;
    const now = await dom();
    at = Math.floor(now.scrollTop / now.rowHeight);
    return (first > at - PAGE && first < at + PAGE && now.skeletons === 0) || { first, at, middle };
  });
  // A far jump into the middle third (where a thumb drag lands depends on its geometry).
  if (at < ROWS * 0.3 || at > ROWS * 0.7) throw new Error(`the drag settled at row ${at} (read ${middle} at release)`);
  const jumped = pages().slice(before);
  const offsets = jumped.filter((p) => p.get('offset')).map((p) => Number(p.get('offset')));
  if (!offsets.some((o) => Math.abs(o - at) < 3 * PAGE) || !offsets.every((o) => o % PAGE === 0)) {
    throw new Error(`offsets ${offsets}, settled at ${at} (dragged to ${middle})`);
  }
  // One request per page drawn: two per place the drag rested (a window may span two pages),
  // and a drag rests once or twice.
  if (jumped.length > 5) throw new Error(`${jumped.length} requests for one jump: ${jumped.join(' | ')}`);
  d = await dom();
  checkDom(d, 'the middle');
  await sleep(200); // the position badge fades in
  await shoot('bigscroll-middle-zh-1280');
  log(`dragged to row ${middle}, settled at ${at}: ${jumped.length} requests (offsets ${offsets}), ${d.rows} rows in the DOM`);

  step = 'scroll on from the middle: by cursor again';
  const atMiddle = pages().length;
  for (let i = 0; i < 10; i++) {
    await page.mouse.wheel(0, 800);
    await sleep(150);
  }
  await waitFor('rows past the middle page', async () => {
    const t = await drawnTitles();
    return (t.length > 0 && Number(t[0].slice(5)) > at + PAGE && (await dom()).skeletons === 0) || t.slice(0, 2);
  });
  const after = pages().slice(atMiddle);
  if (!after.some((p) => p.get('cursor'))) throw new Error(`no page by cursor after the jump: ${after.join(' | ')}`);
  checkDom(await dom(), 'past the middle');

  step = 'drag to the end';
  await dragScrollbar(1);
  await waitFor('the last row', async () => (await drawnTitles()).includes(title(ROWS)) || (await drawnTitles()).slice(-2));
  checkDom(await dom(), 'the end');

  step = 'one request per page, related titles in it';
  const all = pages();
  const starts = all.map((p) => p.get('cursor') ?? `offset=${p.get('offset') ?? 0}`);
  if (new Set(starts).size !== starts.length) throw new Error(`a page asked twice: ${starts.join(' | ')}`);
  if (unsorted().length) throw new Error(`pages not sorted by n: ${unsorted().join(' | ')}`);
  if (!all.every((p) => p.get('expand') === 'customer' && p.get('limit') === String(PAGE))) {
    throw new Error(`a page without expand=customer: ${all.join(' | ')}`);
  }
  if (related.length) throw new Error(`requests for customers: ${related.join(' | ')}`);
  const counts = items.filter((p) => p.get('count') === 'true');
  if (counts.length !== 1) throw new Error(`${counts.length} count requests`);
  log(`${all.length} page requests in all (${all.filter((p) => p.get('cursor')).length} by cursor), no request per row`);

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}
