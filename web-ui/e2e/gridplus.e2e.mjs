// End-to-end check of the grid's filter builder, multi-column sort, group-by and bulk edit
// against a running Trellis server (see login.e2e.mjs for the environment): an app with 24
// deals; build "status is won AND amount ≥ 1500" in the filter builder and check the filter
// JSON sent and the rows; sort by amount descending then (shift-click) title descending and
// check the order; group by status with the amount's total; select two rows and set their
// status in one bulk request; try an out-of-range value on two rows and see both rows' errors
// and nothing changed; edit cells in place (double-click): saved with If-Match, a refused value's
// error at its cell, a row changed meanwhile reloaded; move, hide and resize columns, save them as a
// personal view, reload (it persists), and another user does not see it. Screenshots at 1280×800 in zh and en under
// e2e-output/.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 210_000;
const STEP_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 20_000;
const DEALS = 24;

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}gridplus-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'gridplus', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: false, state: () => ({ browser, page, step }) },
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
          { name: 'score', label: label('评分', 'Score'), type: 'integer', min: 0, max: 10 },
        ],
      },
    ],
  };
}

const STATUSES = ['open', 'won', 'lost'];
const deals = Array.from({ length: DEALS }, (_, i) => ({
  title: `Deal ${String(i + 1).padStart(2, '0')}`,
  // Deals come in pairs of one amount and status, so the second sort key decides within a pair.
  amount: 1000 + Math.floor(i / 2) * 100,
  status: STATUSES[Math.floor(i / 2) % 3],
  score: i % 10,
}));

async function text(testId) {
  return ((await page.getByTestId(testId).first().textContent()) ?? '').trim();
}

async function shoot(name) {
  await mkdir(outDir, { recursive: true });
  const path = `${outDir}${name}.png`;
  await page.screenshot({ path });
  log(`screenshot: ${path}`);
}

/** Opens an antd select and picks the option with this title. */
async function pick(select, title) {
  await select.click();
  const option = page.locator(`.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option[title="${title}"]`);
  await option.first().click();
}

const titles = () => page.locator('[data-testid="grid"] .ant-table-row [data-col="title"]').allTextContents();
const listRequests = [];

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
  const app = `gridplus_${Date.now()}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: appDef(app) });
  const created = (
    await api(base, `api/v1/data/${app}/deal/bulk`, {
      method: 'POST',
      token,
      body: { create: deals.map((d) => ({ ...d, amount: { amount: d.amount, currency: 'CNY' } })) },
    })
  ).created;
  const idOf = (title) => created.find((r) => r.title === title).id;
  log(`created app ${app} with ${DEALS} deals`);

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
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === `/api/v1/data/${app}/deal` && u.searchParams.get('count') !== 'true') listRequests.push(u.searchParams);
  });
  const lastList = () => listRequests[listRequests.length - 1];

  step = 'log in and open the grid';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId(`app-open-${app}`).click();
  await page.waitForURL(`**/apps/${app}/deal`);
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });

  step = 'build a filter: status is won AND amount ≥ 1500';
  await page.getByTestId('filter-button').click();
  await page.getByTestId('filter-builder').waitFor({ state: 'visible' });
  await page.getByTestId('filter-add').click();
  const conds = page.getByTestId('filter-cond');
  await pick(conds.nth(0).getByTestId('filter-field'), '状态');
  await pick(conds.nth(0).locator('[data-testid^="filter-value-"] .ant-select'), '赢单');
  await page.getByTestId('filter-add').click();
  await pick(conds.nth(1).getByTestId('filter-field'), '金额');
  await pick(conds.nth(1).getByTestId('filter-op'), '大于等于');
  await conds.nth(1).locator('input[data-testid^="filter-value-"], [data-testid^="filter-value-"] input').first().fill('1500');
  const want = deals.filter((d) => d.status === 'won' && d.amount >= 1500);
  await waitFor('the filtered rows', async () => {
    const got = await titles();
    return JSON.stringify(got) === JSON.stringify(want.map((d) => d.title)) || got;
  });
  const sent = JSON.parse(lastList().get('filter'));
  const wantFilter = {
    and: [
      { field: 'status', op: 'eq', value: 'won' },
      { field: 'amount', op: 'gte', value: 1500 },
    ],
  };
  if (JSON.stringify(sent) !== JSON.stringify(wantFilter)) throw new Error(`filter sent: ${JSON.stringify(sent)}`);
  await waitFor('the filtered count', async () => (await text('grid-count')) === `共 ${want.length} 条记录` || (await text('grid-count')));
  await sleep(300);
  await shoot('gridplus-filter-zh-1280');
  await page.keyboard.press('Escape');
  await page.getByTestId('grid-title').click();
  await page.getByTestId('filter-builder').waitFor({ state: 'hidden' });
  const chips = await page.getByTestId('filter-chip').allTextContents();
  if (chips.length !== 2 || !chips[0].includes('赢单') || !chips[1].includes('1500')) throw new Error(`chips: ${chips}`);
  log(`filter ${JSON.stringify(sent)}: ${want.length} rows, chips ${JSON.stringify(chips)}`);

  step = 'sort by amount descending, then (shift-click) title descending';
  await page.getByTestId('col-amount').click();
  await page.getByTestId('col-amount').click();
  await page.getByTestId('col-title').click({ modifiers: ['Shift'] });
  await page.getByTestId('col-title').click({ modifiers: ['Shift'] });
  await waitFor('the two-key sort sent', async () => lastList().get('sort') === '-amount,-title' || lastList().get('sort'));
  const sorted = [...want].sort((a, b) => b.amount - a.amount || b.title.localeCompare(a.title)).map((d) => d.title);
  await waitFor('rows in the two-key order', async () => {
    const got = await titles();
    return JSON.stringify(got) === JSON.stringify(sorted) || got;
  });
  if (!lastList().get('filter')) throw new Error('the sort dropped the filter');
  // Both ties are broken by title, descending: the sort panel lists both keys.
  await page.getByTestId('sort-button').click();
  await waitFor('two keys in the sort panel', async () => (await page.getByTestId('sort-key').count()) === 2);
  await sleep(400); // the popover fades in
  await shoot('gridplus-sort-zh-1280');
  await page.getByTestId('grid-title').click();
  log(`sorted ${JSON.stringify(sorted)}`);

  step = 'a nested group: NOT (title starts with "Deal 2" OR title is "Deal 15")';
  await page.getByTestId('filter-button').click();
  await page.getByTestId('filter-builder').waitFor({ state: 'visible' });
  await page.getByTestId('filter-add-group').first().click();
  const sub = page.getByTestId('filter-subgroup');
  const valueInput = (cond) =>
    cond.locator('input[data-testid^="filter-value-"], [data-testid^="filter-value-"] input').first();
  await pick(sub.getByTestId('filter-cond').nth(0).getByTestId('filter-op'), '开头是');
  await valueInput(sub.getByTestId('filter-cond').nth(0)).fill('Deal 2');
  await sub.getByTestId('filter-add').click();
  await valueInput(sub.getByTestId('filter-cond').nth(1)).fill('Deal 15');
  await sub.getByTestId('filter-not').click();
  const nested = {
    and: [
      ...wantFilter.and,
      {
        not: {
          or: [
            { field: 'title', op: 'starts_with', value: 'Deal 2' },
            { field: 'title', op: 'eq', value: 'Deal 15' },
          ],
        },
      },
    ],
  };
  await waitFor('the nested filter sent', async () => lastList().get('filter') === JSON.stringify(nested) || lastList().get('filter'));
  await waitFor('only Deal 16 left', async () => {
    const got = await titles();
    return JSON.stringify(got) === JSON.stringify(['Deal 16']) || got;
  });
  await sleep(300);
  await shoot('gridplus-nested-zh-1280');
  await page.getByTestId('grid-title').click();
  await page.getByTestId('filter-builder').waitFor({ state: 'hidden' });
  const groupChip = page.getByTestId('filter-chip').nth(2);
  if (!((await groupChip.textContent()) ?? '').includes('不满足条件组')) throw new Error(`group chip: ${await groupChip.textContent()}`);
  await groupChip.locator('.ant-tag-close-icon').click();
  await waitFor('the nested group removed', async () => {
    const got = await titles();
    return JSON.stringify(got) === JSON.stringify(sorted) || got;
  });
  log(`nested filter ${JSON.stringify(nested)}`);

  step = 'the same in English';
  await page.getByTestId('lang-en').click();
  await waitFor('English chips', async () => {
    const c = await page.getByTestId('filter-chip').allTextContents();
    return (c.length === 2 && c[0].includes('Won')) || c;
  });
  await shoot('gridplus-grid-en-1280');

  step = 'group by status with the total amount';
  await page.getByTestId('filter-clear').click();
  await page.getByTestId('group-button').click();
  await pick(page.getByTestId('group-field'), 'Status');
  await pick(page.getByTestId('group-sum'), 'Total of Amount');
  await page.getByTestId('grid-title').click();
  await waitFor('three groups', async () => (await page.getByTestId('group-head').count()) === 3 || (await page.getByTestId('group-head').count()));
  const heads = await page.getByTestId('group-head').allTextContents();
  const sums = await page.getByTestId('group-sum-value').allTextContents();
  for (const [i, s] of ['open', 'won', 'lost'].entries()) {
    const of = deals.filter((d) => d.status === s);
    const total = of.reduce((n, d) => n + d.amount, 0).toLocaleString('en-US');
    const head = heads.find((h) => h.includes(['Open', 'Won', 'Lost'][i]));
    if (!head || !head.includes(`${of.length} records`)) throw new Error(`group ${s}: ${heads}`);
    if (!sums.some((x) => x.includes(total))) throw new Error(`no total ${total} in ${sums}`);
  }
  await page.getByTestId('group-head').filter({ hasText: 'Won' }).click();
  await waitFor('the won rows listed', async () => {
    const n = await page.locator('[data-testid="group-rows"] .ant-table-row').count();
    return n === deals.filter((d) => d.status === 'won').length || n;
  });
  if (!heads[0].includes('Open') || !heads[2].includes('Lost')) throw new Error(`groups not in the options' order: ${heads}`);
  await sleep(400); // the panel slides open
  await shoot('gridplus-group-en-1280');
  log(`groups ${JSON.stringify(heads)} ${JSON.stringify(sums)}`);

  step = 'bulk edit two rows';
  await page.reload();
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  await page.getByTestId('lang-zh').click();
  const a = idOf('Deal 01');
  const b = idOf('Deal 04');
  await page.locator(`[data-row-id="${a}"] .ant-table-selection-column .ant-checkbox-input`).click();
  await page.locator(`[data-row-id="${b}"] .ant-table-selection-column .ant-checkbox-input`).click();
  await waitFor('two selected', async () => (await text('bulk-count')) === '已选 2 条' || (await text('bulk-count')));
  if (!page.url().endsWith(`/apps/${app}/deal`)) throw new Error(`a checkbox opened ${page.url()}`);
  await page.getByTestId('bulk-edit').click();
  await pick(page.getByTestId('bulk-field'), '状态');
  await pick(page.locator('[data-testid="bulk-form"] [data-testid="input-status"]'), '输单');
  await shoot('gridplus-bulk-zh-1280');
  await page.getByTestId('bulk-apply').click();
  await page.getByTestId('bulk-bar').waitFor({ state: 'hidden' });
  await waitFor('both rows lost in the grid', async () => {
    const tags = await Promise.all(
      [a, b].map((id) => page.locator(`[data-row-id="${id}"] [data-col="status"]`).textContent()),
    );
    return tags.every((x) => x === '输单') || tags;
  });
  for (const id of [a, b]) {
    const r = await api(base, `api/v1/data/${app}/deal/${id}`, { token });
    if (r.status !== 'lost') throw new Error(`record ${id} is ${r.status} after the bulk edit`);
  }
  log('bulk edit set two rows to lost');

  step = 'a refused bulk edit shows each row’s error and changes nothing';
  const c = idOf('Deal 02');
  const d = idOf('Deal 03');
  await page.locator(`[data-row-id="${c}"] .ant-table-selection-column .ant-checkbox-input`).click();
  await page.locator(`[data-row-id="${d}"] .ant-table-selection-column .ant-checkbox-input`).click();
  await page.getByTestId('bulk-edit').click();
  await pick(page.getByTestId('bulk-field'), '评分');
  await page.locator('[data-testid="bulk-form"] input[data-testid="input-score"], [data-testid="bulk-form"] [data-testid="input-score"] input').first().fill('50');
  await page.getByTestId('bulk-apply').click();
  await waitFor('an error for each row', async () => {
    const n = await page.locator('.ant-modal [data-testid="bulk-errors"] [data-row-error]').count();
    return n === 2 || n;
  });
  const errs = await page.locator('.ant-modal [data-testid="bulk-errors"] li').allTextContents();
  if (!errs.some((e) => e.includes('Deal 02') && e.includes('评分') && e.includes('10')) || !errs.some((e) => e.includes('Deal 03'))) {
    throw new Error(`row errors: ${errs}`);
  }
  await sleep(300);
  await shoot('gridplus-bulk-error-zh-1280');
  for (const [id, before] of [
    [c, deals[1].score],
    [d, deals[2].score],
  ]) {
    const r = await api(base, `api/v1/data/${app}/deal/${id}`, { token });
    if (r.score !== before) throw new Error(`record ${id} changed to ${r.score} by a refused bulk edit`);
  }
  log(`refused bulk edit: ${JSON.stringify(errs)}`);

  step = 'inline edit: a double-click on a cell edits it in place, saved by PATCH with If-Match';
  const patches = [];
  page.on('request', (r) => {
    if (r.method() === 'PATCH') patches.push({ url: r.url(), body: JSON.parse(r.postData() ?? '{}'), ifMatch: r.headers()['if-match'] });
  });
  await page.reload();
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  const e = idOf('Deal 05');
  const cell = (id, col) => page.locator(`[data-row-id="${id}"] [data-col="${col}"]`);
  const input = (col) => page.locator(`[data-testid="cell-editor"] input[data-testid="input-${col}"], [data-testid="cell-editor"] [data-testid="input-${col}"] input`).first();
  const before = await api(base, `api/v1/data/${app}/deal/${e}`, { token });
  await cell(e, 'title').dblclick();
  await input('title').fill('Deal 05 改');
  await input('title').press('Enter');
  await waitFor('the cell saved', async () => (await cell(e, 'title').textContent()) === 'Deal 05 改' || (await cell(e, 'title').textContent()));
  if (!page.url().endsWith(`/apps/${app}/deal`)) throw new Error(`the double-click opened ${page.url()}`);
  const patched = patches.at(-1);
  if (!patched?.url.endsWith(`/deal/${e}`) || JSON.stringify(patched.body) !== JSON.stringify({ title: 'Deal 05 改' }) || patched.ifMatch !== `"${before.version}"`) {
    throw new Error(`PATCH ${JSON.stringify(patched)}, version was ${before.version}`);
  }
  if ((await api(base, `api/v1/data/${app}/deal/${e}`, { token })).title !== 'Deal 05 改') throw new Error('not saved');

  step = 'inline edit: a refused value shows its error at the cell and changes nothing';
  await cell(e, 'score').dblclick();
  await input('score').fill('50');
  await input('score').press('Enter');
  const error = page.locator(`[data-row-id="${e}"] [data-testid="cell-error"][data-field="score"]`);
  await error.waitFor({ state: 'visible' });
  if ((await error.getAttribute('data-message')) !== '不能大于 10') throw new Error(`cell error ${await error.getAttribute('data-message')}`);
  await error.hover();
  await page.locator('.ant-tooltip:not(.ant-tooltip-hidden)', { hasText: '不能大于 10' }).waitFor({ state: 'visible' });
  await sleep(300);
  await shoot('gridplus-inline-error-zh-1280');
  if ((await api(base, `api/v1/data/${app}/deal/${e}`, { token })).score !== deals[4].score) throw new Error('a refused value was saved');

  step = 'inline edit: a row changed meanwhile (412) is reloaded and the cell says so';
  const f = idOf('Deal 06');
  const fBefore = await api(base, `api/v1/data/${app}/deal/${f}`, { token });
  await api(base, `api/v1/data/${app}/deal/${f}`, { method: 'PATCH', token, body: { title: 'Deal 06 别人改的' } });
  await cell(f, 'title').dblclick();
  await input('title').fill('Deal 06 我改的');
  await input('title').press('Enter');
  const stale = page.locator(`[data-row-id="${f}"] [data-testid="cell-error"][data-field="title"]`);
  await stale.waitFor({ state: 'visible' });
  if (!((await stale.getAttribute('data-message')) ?? '').includes('刚被他人修改')) throw new Error(`stale ${await stale.getAttribute('data-message')}`);
  await waitFor('the row reloaded', async () => (await cell(f, 'title').textContent()) === 'Deal 06 别人改的' || (await cell(f, 'title').textContent()));
  if (patches.at(-1)?.ifMatch !== `"${fBefore.version}"`) throw new Error(`stale PATCH ${JSON.stringify(patches.at(-1))}`);
  if ((await api(base, `api/v1/data/${app}/deal/${f}`, { token })).title !== 'Deal 06 别人改的') throw new Error('a stale edit overwrote the record');

  step = 'inline edit in English: a select cell';
  await page.getByTestId('lang-en').click();
  await cell(e, 'status').dblclick();
  await page.locator('[data-testid="cell-editor"]').waitFor({ state: 'visible' });
  await pick(page.locator('[data-testid="cell-editor"] [data-testid="input-status"]'), 'Won');
  await sleep(300);
  await shoot('gridplus-inline-en-1280');
  await page.getByTestId('cell-save').click();
  // The editor shows the picked label too: the save is done when the editor has gone.
  await page.locator('[data-testid="cell-editor"]').waitFor({ state: 'detached' });
  await waitFor('the status saved', async () => (await cell(e, 'status').textContent()) === 'Won' || (await cell(e, 'status').textContent()));
  if ((await api(base, `api/v1/data/${app}/deal/${e}`, { token })).status !== 'won') throw new Error('the status was not saved');
  await page.getByTestId('lang-zh').click();
  log('inline edit: saved, refused at the cell, stale reloaded');

  step = 'views: reorder, hide and resize columns, then save them as a personal view';
  await page.reload();
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  const headers = () =>
    page.locator('[data-testid="grid"] .ant-table-thead [data-testid^="col-"]').evaluateAll((els) => els.map((x) => x.getAttribute('data-testid')));
  const titleWidth = () =>
    page.locator('[data-testid="grid"] .ant-table-thead th', { has: page.getByTestId('col-title') }).evaluate((x) => x.getBoundingClientRect().width);
  await page.getByTestId('columns-button').click();
  await page.getByTestId('columns-panel').waitFor({ state: 'visible' });
  await page.getByTestId('column-up-amount').click();
  await page.getByTestId('column-toggle-score').click();
  await page.getByTestId('grid-title').click();
  await page.getByTestId('columns-panel').waitFor({ state: 'hidden' });
  const order = ['col-amount', 'col-title', 'col-status'];
  await waitFor('amount first and no score', async () => JSON.stringify(await headers()) === JSON.stringify(order) || (await headers()));
  const widthBefore = await titleWidth();
  const handle = await page.getByTestId('resize-title').boundingBox();
  if (!handle) throw new Error('no resize handle on the title column');
  const y = handle.y + handle.height / 2;
  await page.mouse.move(handle.x + handle.width / 2, y);
  await page.mouse.down();
  await page.mouse.move(handle.x + handle.width / 2 + 60, y, { steps: 4 });
  await page.mouse.move(handle.x + handle.width / 2 + 120, y, { steps: 4 });
  await page.mouse.up();
  await waitFor('the title column wider', async () => (await titleWidth()) >= widthBefore + 40 || (await titleWidth()));
  const widened = await titleWidth();
  await page.getByTestId('view-save').click();
  await page.getByTestId('view-save-newPersonal').click();
  await page.getByTestId('view-new-label').fill('Big deals 大单');
  await page.getByTestId('view-new-ok').click();
  await page.waitForURL(`**/apps/${app}/my/big_deals`);
  await page.getByTestId('nav-my-big_deals').waitFor({ state: 'visible' });
  const saved = (await api(base, `api/v1/apps/${app}/my/views/big_deals`, { token })).view;
  const savedCols = saved.columns.map((x) => x.field);
  const savedWidth = saved.columns[1].width;
  // The width saved is the one dragged to (the table stretches columns to fill its width).
  if (JSON.stringify(savedCols) !== JSON.stringify(['amount', 'title', 'status']) || Math.abs(savedWidth - (widthBefore + 120)) > 2) {
    throw new Error(`saved view ${JSON.stringify(saved)}, title was ${widened}px wide`);
  }
  if (JSON.stringify(saved.label) !== JSON.stringify({ zh: 'Big deals 大单' }) || saved.default) throw new Error(`saved ${JSON.stringify(saved)}`);
  await sleep(300);
  await shoot('gridplus-personal-view-zh-1280');

  step = 'views: the personal view persists across a reload';
  await page.reload();
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  await waitFor('the saved order after a reload', async () => JSON.stringify(await headers()) === JSON.stringify(order) || (await headers()));
  const reloaded = await titleWidth();
  if (Math.abs(reloaded - widened) > 2) throw new Error(`title ${reloaded}px wide after a reload, ${widened}px before`);
  if ((await text('grid-title')) !== 'Big deals 大单') throw new Error(`title ${await text('grid-title')}`);
  log(`personal view saved: ${JSON.stringify(saved.columns)}`);

  step = 'views: another user does not see it';
  const other = { email: `other_${Date.now()}@example.com`, password: 'password-123' };
  await api(base, 'api/v1/users', { method: 'POST', token, body: { ...other, name: 'Other' } });
  const otherLogin = await api(base, 'api/v1/auth/login', { method: 'POST', body: other });
  const theirs = await api(base, `api/v1/apps/${app}/my/views`, { token: otherLogin.token });
  if (theirs.data.length !== 0) throw new Error(`another user lists ${JSON.stringify(theirs)}`);
  const otherContext = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  otherContext.setDefaultTimeout(STEP_TIMEOUT_MS);
  const otherPage = await otherContext.newPage();
  otherPage.on('pageerror', (e) => pageErrors.push(e.message));
  await otherPage.goto(base, { waitUntil: 'domcontentloaded' });
  await otherPage.getByTestId('login-email').fill(other.email);
  await otherPage.getByTestId('login-password').fill(other.password);
  await otherPage.getByTestId('login-submit').click();
  const myViews = otherPage.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/apps/${app}/my/views` && r.ok());
  await otherPage.getByTestId(`app-open-${app}`).click();
  await otherPage.waitForURL(`**/apps/${app}/deal`);
  await myViews;
  await otherPage.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });
  if ((await otherPage.getByTestId('nav-my-big_deals').count()) !== 0) throw new Error('another user sees the personal view');
  await otherPage.goto(`${base}apps/${app}/my/big_deals`);
  await otherPage.getByTestId('view-not-found').waitFor({ state: 'visible' });
  await otherContext.close();
  log('another user sees no personal view');

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}
