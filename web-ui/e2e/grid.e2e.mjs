// End-to-end check of an app's grid against a running Trellis server (see login.e2e.mjs for
// the environment): an app with deals (text, currency, select, relation) and customers, 300
// deals; open the app from the apps page, see rows in a virtual grid (few rows in the DOM),
// scroll to load the next pages by cursor, search, sort, switch zh ↔ en, open a record, and
// screenshots at 1280×800 and 390×844 in both languages under e2e-output/.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 20_000;
const DEALS = 300;
const ZEBRAS = 10; // deals whose title has "Zebra", for the search

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}grid-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'grid', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: false, state: () => ({ browser, page, step }) },
  main,
);
const waitFor = (what, fn) => waitUntil(what, fn, STEP_TIMEOUT_MS);

const label = (zh, en) => ({ zh, en });

function appDef(name) {
  return {
    name,
    label: label('销售管理', 'Sales'),
    entities: [
      {
        name: 'deal',
        label: label('商机', 'Deals'),
        title_field: 'title',
        fields: [
          { name: 'title', label: label('标题', 'Title'), type: 'text', required: true },
          { name: 'amount', label: label('金额', 'Amount'), type: 'currency', currency: 'CNY' },
          {
            name: 'status',
            label: label('状态', 'Status'),
            type: 'single_select',
            options: [
              { value: 'open', label: label('进行中', 'Open'), color: 'blue' },
              { value: 'won', label: label('赢单', 'Won'), color: 'green' },
              { value: 'lost', label: label('输单', 'Lost'), color: 'red' },
            ],
          },
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
    // Admins may do everything; a viewer reads deals only (no customers, no create).
    roles: [
      { name: 'viewer', label: label('只读', 'Viewer'), permissions: { deal: { read: true } } },
      {
        name: 'sales',
        label: label('销售', 'Sales'),
        permissions: { deal: { read: true, create: true }, customer: { read: true, create: true } },
      },
    ],
    views: [
      {
        name: 'won_deals',
        label: label('赢单商机', 'Won deals'),
        entity: 'deal',
        type: 'grid',
        filter: { field: 'status', op: 'eq', value: 'won' },
        sort: [{ field: 'amount', desc: true }],
      },
    ],
  };
}

const CUSTOMERS = ['华东贸易', 'Acme Corp', '北方重工', 'Globex', '南方电子'];
const STATUSES = ['open', 'won', 'lost'];

function dealTitle(n) {
  const id = String(n).padStart(3, '0');
  return n % (DEALS / ZEBRAS) === 0 ? `Zebra deal ${id}` : `Deal ${id}`;
}

/** Rows of the grid's body in the DOM (virtual: only those near the viewport). */
async function domRows() {
  return page.evaluate(() => ({
    rows: document.querySelectorAll('[data-testid="grid"] .ant-table-row').length,
    trs: document.querySelectorAll('[data-testid="grid"] tr').length,
  }));
}

async function text(testId) {
  return ((await page.getByTestId(testId).first().textContent()) ?? '').trim();
}

async function shoot(name) {
  await mkdir(outDir, { recursive: true });
  const path = `${outDir}${name}.png`;
  await page.screenshot({ path });
  log(`screenshot: ${path}`);
}

async function main() {
  step = 'read environment';
  await rm(failureScreenshot, { force: true });
  const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  step = 'create the app and its records over HTTP';
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });

  // Each test starts from the browser's language: an earlier one may have left the administrator's own choice.
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token: token, body: { language: null } });
  const app = `grid_${Date.now()}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: appDef(app) });
  const customers = (
    await api(base, `api/v1/data/${app}/customer/bulk`, {
      method: 'POST',
      token,
      body: { create: CUSTOMERS.map((name) => ({ name })) },
    })
  ).created;
  const deals = Array.from({ length: DEALS }, (_, i) => ({
    title: dealTitle(i + 1),
    amount: { amount: 1000 + (i + 1) * 10.5, currency: 'CNY' },
    status: STATUSES[i % 3],
    customer: customers[i % customers.length].id,
  }));
  await api(base, `api/v1/data/${app}/deal/bulk`, { method: 'POST', token, body: { create: deals } });
  const viewerEmail = `viewer_${Date.now()}@example.com`;
  const viewerPassword = 'Viewer-pass-8472x';
  const viewer = await api(base, 'api/v1/users', {
    method: 'POST',
    token,
    body: { email: viewerEmail, name: 'Viewer', password: viewerPassword },
  });
  await api(base, `api/v1/apps/${app}/roles/viewer/members`, { method: 'POST', token, body: { user: viewer.id } });
  log(`created app ${app} with ${DEALS} deals, and a viewer`);

  step = 'launch chromium';
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Every list request of the deals, as sent.
  const lists = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === `/api/v1/data/${app}/deal`) lists.push(u.searchParams);
  });
  const pages = () => lists.filter((p) => p.get('count') !== 'true');
  const counts = () => lists.filter((p) => p.get('count') === 'true');

  step = 'log in';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();

  step = 'open the app from the apps page';
  await page.getByTestId(`app-open-${app}`).click();
  await page.waitForURL(`**/apps/${app}/deal`);
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });

  step = 'see the first rows, few in the DOM, the count apart';
  await waitFor('the total', async () => (await text('grid-count')).includes(String(DEALS)) || (await text('grid-count')));
  let dom = await domRows();
  if (dom.rows < 10 || dom.rows >= 100 || dom.trs >= 100) throw new Error(`DOM rows ${JSON.stringify(dom)}: want 10–99`);
  const first = pages()[0];
  if (!first || first.get('cursor') || first.get('count') || first.get('expand') !== 'customer') {
    throw new Error(`first page request: ${first}`);
  }
  if (!(await page.getByTestId('grid-new').isVisible())) throw new Error('an admin sees no create button');
  if (counts().length !== 1 || counts()[0].get('limit') !== '1') throw new Error(`count requests: ${counts().join(' | ')}`);
  log(`first page: ${dom.rows} rows in the DOM (${dom.trs} tr), request ${first}`);

  step = 'see type-aware cells in Chinese';
  await waitFor('Chinese headers', async () => (await text('col-title')) === '标题' || (await text('col-title')));
  const firstRow = page.locator('[data-testid="grid"] .ant-table-row').first();
  const rowText = (await firstRow.textContent()) ?? '';
  for (const want of ['Deal 001', 'CNY', '1,010.50', CUSTOMERS[0]]) {
    if (!rowText.includes(want)) throw new Error(`first row "${rowText}" lacks "${want}"`);
  }
  const tag = firstRow.locator('.ant-tag').first();
  if ((await tag.textContent())?.trim() !== '进行中') throw new Error(`status tag: ${await tag.textContent()}`);
  const link = firstRow.locator('a.cell-link');
  if ((await link.getAttribute('href')) !== `/apps/${app}/customer/${customers[0].id}`) {
    throw new Error(`relation link: ${await link.getAttribute('href')}`);
  }
  await shoot('grid-zh-1280');

  step = 'scroll to the bottom: the next pages come by cursor';
  const body = page.locator('[data-testid="grid"] .ant-table-body, [data-testid="grid"] .ant-table-tbody-virtual-holder').first();
  await body.hover();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await page.mouse.wheel(0, 2000);
    await sleep(150);
    if (await page.getByText(dealTitle(DEALS), { exact: true }).isVisible().catch(() => false)) break;
  }
  await page.getByText(dealTitle(DEALS), { exact: true }).waitFor({ state: 'visible' });
  const cursors = pages().filter((p) => p.get('cursor'));
  if (cursors.length < 2) throw new Error(`want ≥ 2 pages by cursor for ${DEALS} rows, got ${cursors.length}`);
  dom = await domRows();
  if (dom.rows >= 100 || dom.trs >= 100) throw new Error(`after scrolling, DOM rows ${JSON.stringify(dom)}`);
  log(`scrolled to ${dealTitle(DEALS)}: ${cursors.length} pages by cursor, ${dom.rows} rows in the DOM`);

  step = 'search';
  await page.locator('input[data-testid="grid-search"], [data-testid="grid-search"] input').fill('Zebra');
  await waitFor('the search results', async () => {
    const titles = await page.locator('[data-testid="grid"] .ant-table-row [data-col="title"]').allTextContents();
    return (titles.length === ZEBRAS && titles.every((t) => t.startsWith('Zebra'))) || titles.slice(0, 3);
  });
  if (!pages().some((p) => p.get('q') === 'Zebra')) throw new Error('no request with q=Zebra');
  await waitFor('the count of the search', async () => (await text('grid-count')) === `共 ${ZEBRAS} 条记录` || (await text('grid-count')));

  step = 'sort by amount on the server';
  await page.getByTestId('col-amount').click();
  await page.getByTestId('col-amount').click();
  await waitFor('a descending sort', async () => pages().some((p) => p.get('sort') === '-amount' && p.get('q') === 'Zebra'));
  await waitFor('the largest first', async () => {
    const t = await page.locator('[data-testid="grid"] .ant-table-row [data-col="title"]').first().textContent();
    return t === dealTitle(DEALS) || t;
  });

  step = 'switch to English';
  await page.locator('input[data-testid="grid-search"], [data-testid="grid-search"] input').fill('');
  await page.getByTestId('lang-en').click();
  await waitFor('English headers', async () => (await text('col-title')) === 'Title' || (await text('col-title')));
  await waitFor('English amount header', async () => (await text('col-amount')) === 'Amount' || (await text('col-amount')));
  await waitFor('English menu', async () => (await text('nav-entity-deal')) === 'Deals' || (await text('nav-entity-deal')));
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  await shoot('grid-en-1280');

  step = 'and back to Chinese';
  await page.getByTestId('lang-zh').click();
  await waitFor('Chinese headers again', async () => (await text('col-title')) === '标题' || (await text('col-title')));

  step = 'open the shared view';
  await page.getByTestId('nav-view-won_deals').click();
  await page.waitForURL(`**/apps/${app}/views/won_deals`);
  await waitFor('only won deals', async () => {
    const tags = await page.locator('[data-testid="grid"] .ant-table-row .ant-tag').allTextContents();
    return (tags.length > 0 && tags.every((t) => t === '赢单')) || tags.slice(0, 3);
  });

  step = 'open a record';
  await page.locator('[data-testid="grid"] .ant-table-row').first().click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  await page.getByTestId('record-page').getByText('赢单').first().waitFor({ state: 'visible' });
  await waitFor('the entity chosen in the menu', async () => {
    const sel = await page.locator('.app-sider .ant-menu-item-selected').allTextContents();
    return (sel.length === 1 && sel[0] === '商机') || sel;
  });
  await sleep(400); // the menu's highlight fades in
  await shoot('record-zh-1280');

  step = 'phone screenshots';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(new URL(`apps/${app}/deal`, base).href);
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  await sleep(300);
  await shoot('grid-zh-390');
  await page.getByTestId('lang-en').click();
  await waitFor('English headers on the phone', async () => (await text('col-title')) === 'Title' || (await text('col-title')));
  await shoot('grid-en-390');
  await page.setViewportSize({ width: 1280, height: 800 });

  step = 'a viewer sees only what their role reads, and no create button';
  const viewerContext = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
  viewerContext.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = await viewerContext.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(viewerEmail);
  await page.getByTestId('login-password').fill(viewerPassword);
  await page.getByTestId('login-submit').click();
  await page.getByTestId(`app-open-${app}`).click();
  await page.waitForURL(`**/apps/${app}/deal`);
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  if ((await text('col-title')) !== 'Title') throw new Error('an en-US browser does not start in English');
  await page.getByTestId('nav-view-won_deals').waitFor({ state: 'visible' });
  if (await page.getByTestId('nav-entity-customer').count()) throw new Error('the viewer sees customers in the menu');
  if (await page.getByTestId('grid-new').count()) throw new Error('the viewer sees a create button');
  // Nor row checkboxes: a viewer may neither update nor delete deals, so no bulk actions.
  if (await page.locator('[data-testid="grid"] .ant-table-selection-column').count()) {
    throw new Error('the viewer sees row checkboxes');
  }
  // Customers are not the viewer's to read: their ids, not links, and no expand asked.
  const viewerRow = page.locator('[data-testid="grid"] .ant-table-row').first();
  if (await viewerRow.locator('a.cell-link').count()) throw new Error('the viewer sees a link to a customer');
  if (!((await viewerRow.textContent()) ?? '').includes(customers[0].id)) throw new Error('the viewer sees no customer id');
  await shoot('grid-viewer-en-1280');
  // Nor an edit button on a record, nor a form to reach by its URL.
  await viewerRow.click();
  await page.getByTestId('record-title').waitFor({ state: 'visible' });
  if (await page.getByTestId('record-edit').count()) throw new Error('the viewer sees an edit button');
  await page.goto(new URL(`apps/${app}/deal/new`, base).href);
  await page.getByTestId('form-not-allowed').waitFor({ state: 'visible' });

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}
