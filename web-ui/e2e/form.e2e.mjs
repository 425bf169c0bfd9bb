// End-to-end check of the record form against a running Trellis server (see login.e2e.mjs for
// the environment): an app with deals whose title is unique and whose probability a validation
// rule caps (neither of which the browser can check); create a deal through the form, see the
// server's refusals at their fields in Chinese, fix them and save; edit it from the record page
// while someone else changes it over HTTP and see the 412 notice, re-apply; reload with an
// unsaved change and see it kept. Then an app with a form layout and conditions: the sections
// and columns of its form, a field appearing when its visible_if becomes true, a required_if
// marking its field as the amount is typed (and the server agreeing), the record page by the same
// sections. Screenshots at 1280×800 and 390×844 in both languages.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 20_000;

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}form-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'form', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: false, state: () => ({ browser, page, step }) },
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
        label: label('商机', 'Deal'),
        title_field: 'title',
        fields: [
          { name: 'title', label: label('标题', 'Title'), type: 'text', required: true, unique: true, max_length: 80 },
          { name: 'amount', label: label('金额', 'Amount'), type: 'currency', currency: 'CNY', min: 0 },
          { name: 'probability', label: label('成交概率', 'Probability'), type: 'integer', min: 0, max: 100 },
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
          { name: 'close_date', label: label('预计成交日', 'Close date'), type: 'date' },
          { name: 'contact', label: label('联系邮箱', 'Contact e-mail'), type: 'email' },
          { name: 'urgent', label: label('加急', 'Urgent'), type: 'boolean' },
          { name: 'owner_user', label: label('负责人', 'Account manager'), type: 'user' },
          { name: 'notes', label: label('备注', 'Notes'), type: 'long_text' },
          { name: 'files', label: label('附件', 'Files'), type: 'attachment', max_files: 5 },
        ],
        validations: [
          {
            name: 'probability_cap',
            assert: 'record.probability == () || record.probability <= 90',
            message: label('成交概率不能超过 90%', 'The probability cannot be above 90%'),
            field: 'probability',
          },
        ],
      },
      {
        name: 'customer',
        label: label('客户', 'Customer'),
        title_field: 'name',
        fields: [{ name: 'name', label: label('名称', 'Name'), type: 'text' }],
      },
    ],
  };
}

/** An app whose orders have a form layout and conditions. */
function layoutAppDef(name) {
  return {
    name,
    label: label('订单管理', 'Orders'),
    entities: [
      {
        name: 'order',
        label: label('订单', 'Order'),
        title_field: 'title',
        fields: [
          { name: 'title', label: label('标题', 'Title'), type: 'text', required: true },
          { name: 'company', label: label('企业客户', 'Company customer'), type: 'boolean' },
          { name: 'amount', label: label('金额', 'Amount'), type: 'decimal' },
          { name: 'close_date', label: label('交付日期', 'Delivery date'), type: 'date' },
          {
            name: 'vat_no',
            label: label('税号', 'VAT number'),
            type: 'text',
            required: true,
            visible_if: { field: 'company', op: 'eq', value: true },
          },
          { name: 'invoice_title', label: label('发票抬头', 'Invoice title'), type: 'text', visible_if: { field: 'company', op: 'eq', value: true } },
          {
            name: 'reason',
            label: label('折扣原因', 'Why the discount'),
            type: 'text',
            required_if: { field: 'amount', op: 'gt', value: 1000 },
          },
          { name: 'notes', label: label('备注', 'Notes'), type: 'long_text' },
        ],
      },
    ],
    forms: [
      {
        name: 'main',
        label: label('订单', 'Order'),
        entity: 'order',
        default: true,
        sections: [
          {
            label: label('基本信息', 'Basics'),
            columns: 3,
            fields: [{ field: 'title', span: 2 }, { field: 'company' }, { field: 'amount' }, { field: 'close_date' }, { field: 'reason' }],
          },
          { label: label('开票', 'Invoicing'), columns: 2, fields: [{ field: 'vat_no' }, { field: 'invoice_title' }] },
        ],
      },
    ],
  };
}

async function shoot(name) {
  await mkdir(outDir, { recursive: true });
  const path = `${outDir}${name}.png`;
  await page.screenshot({ path });
  log(`screenshot: ${path}`);
}

/** The errors antd shows under a form field. */
async function fieldErrors(name) {
  return (await page.locator(`[data-testid="field-${name}"] .ant-form-item-explain-error`).allTextContents()).map((s) =>
    s.trim(),
  );
}

async function fieldHasError(name, want) {
  await waitFor(`the error at ${name}`, async () => (await fieldErrors(name)).includes(want) || (await fieldErrors(name)));
}

async function fill(name, value) {
  const input = page.locator(`[data-testid="field-${name}"] input, [data-testid="field-${name}"] textarea`).first();
  await input.fill(value);
}

async function pickOption(name, search, optionText) {
  await page.locator(`[data-testid="field-${name}"] .ant-select-selector`).click();
  if (search) await page.keyboard.type(search);
  const option = page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option', {
    hasText: optionText,
  });
  await option.first().click();
}

async function main() {
  step = 'read environment';
  await rm(failureScreenshot, { force: true });
  const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  step = 'create the app over HTTP';
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });

  // Each test starts from the browser's language: an earlier one may have left the administrator's own choice.
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token: token, body: { language: null } });
  const app = `form_${Date.now()}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: appDef(app) });
  const customers = (
    await api(base, `api/v1/data/${app}/customer/bulk`, {
      method: 'POST',
      token,
      body: { create: [{ name: '华东贸易' }, { name: 'Acme Corp' }, { name: 'Globex' }] },
    })
  ).created;
  await api(base, `api/v1/data/${app}/deal`, { method: 'POST', token, body: { title: '已有商机' } });
  log(`created app ${app}`);

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
  const writes = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith(`/api/v1/data/${app}/deal`) && ['POST', 'PATCH'].includes(r.method())) {
      writes.push({ method: r.method(), path: u.pathname, body: r.postData(), ifMatch: r.headers()['if-match'] });
    }
  });

  step = 'log in';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId(`app-open-${app}`).click();
  await page.waitForURL(`**/apps/${app}/deal`);
  await page.locator('[data-testid="grid"] .ant-table-row').first().waitFor({ state: 'visible' });

  step = 'open the new-record form from the grid';
  await page.getByTestId('grid-new').click();
  await page.waitForURL(`**/apps/${app}/deal/new`);
  await page.getByTestId('record-form').waitFor({ state: 'visible' });
  const title = (await page.getByTestId('form-title').textContent())?.trim();
  if (title !== '新建商机') throw new Error(`form title ${title}`);
  const labels = (await page.locator('[data-testid="record-form"] .ant-form-item-label label').allTextContents()).map((s) => s.trim());
  const want = ['标题', '金额', '成交概率', '状态', '客户', '预计成交日', '联系邮箱', '加急', '负责人', '备注', '附件', '所有者'];
  if (JSON.stringify(labels) !== JSON.stringify(want)) throw new Error(`labels ${JSON.stringify(labels)}`);

  step = 'the client checks what it can: required, bounds, formats';
  await page.getByTestId('form-save').click();
  await fieldHasError('title', '此项必填');
  await fill('contact', 'not-an-email');
  await fill('probability', '150');
  await page.getByTestId('form-save').click();
  await fieldHasError('contact', '请输入有效的邮箱地址');
  await fieldHasError('probability', '不能大于 100');
  if (writes.length) throw new Error(`the client sent ${writes.length} write(s) it should have refused itself`);

  step = 'fill the form';
  await fill('title', '已有商机');
  await fill('contact', 'li@example.com');
  await fill('probability', '95');
  await page.locator('[data-testid="input-amount"]').fill('120000.5');
  await pickOption('status', '', '进行中');
  await pickOption('customer', 'Acme', 'Acme Corp');
  await page.locator('[data-testid="field-urgent"] input[type=checkbox]').check();
  await pickOption('owner_user', 'e2e', email);
  await fill('notes', '第一次报价');
  await page.locator('[data-testid="input-files"] input[type=file]').setInputFiles({
    name: '报价单.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('报价单 v1\n'.repeat(2000)),
  });
  await page.locator('[data-testid="input-files"] .form-file', { hasText: '报价单.txt' }).waitFor({ state: 'visible' });

  step = 'the server refuses a validation rule: its message at its field, in Chinese';
  await page.getByTestId('form-save').click();
  await fieldHasError('probability', '成交概率不能超过 90%');
  if (!writes.length || writes[0].method !== 'POST') throw new Error(`writes ${JSON.stringify(writes)}`);
  if ((await page.locator('[data-testid="input-notes"]').inputValue()) !== '第一次报价') throw new Error('the notes were lost');
  await shoot('form-zh-1280');

  step = 'the server refuses a taken title at its field';
  await fill('probability', '60');
  await page.getByTestId('form-save').click();
  await fieldHasError('title', '该值已被另一条记录使用');
  if (page.url().endsWith('/new') === false) throw new Error('left the form on an error');

  step = 'switch to English: the form and its labels follow';
  await page.getByTestId('lang-en').click();
  await waitFor('English title', async () => (await page.getByTestId('form-title').textContent())?.trim() === 'New Deal' || (await page.getByTestId('form-title').textContent()));
  await page.getByTestId('form-save').click();
  await fieldHasError('title', 'Another record already has this value');
  await shoot('form-en-1280');
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  await shoot('form-en-390');
  await page.getByTestId('lang-zh').click();
  await page.getByTestId('form-save').click();
  await fieldHasError('title', '该值已被另一条记录使用');
  await page.getByTestId('form-title').scrollIntoViewIfNeeded();
  await sleep(200);
  await shoot('form-zh-390');
  await page.setViewportSize({ width: 1280, height: 800 });

  step = 'fix the title and save: the record page, and the row in the grid';
  await fill('title', '华东大单');
  await page.getByTestId('form-save').click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  await waitFor('the new record', async () => (await page.getByTestId('record-title').textContent())?.trim() === '华东大单' || (await page.getByTestId('record-title').textContent()));
  const id = page.url().split('/').pop();
  const created = await api(base, `api/v1/data/${app}/deal/${id}`, { token });
  if (created.probability !== 60 || created.customer !== customers[1].id || created.urgent !== true) {
    throw new Error(`created ${JSON.stringify(created)}`);
  }
  if (created.amount?.amount !== 120000.5 || created.amount?.currency !== 'CNY') throw new Error(`amount ${JSON.stringify(created.amount)}`);
  if (created.files?.length !== 1 || created.files[0].name !== '报价单.txt') throw new Error(`files ${JSON.stringify(created.files)}`);
  if (await page.evaluate(() => Object.keys(localStorage).filter((k) => /^trellis\.u\.[^.]+\.draft\./.test(k)).length)) {
    throw new Error('a draft is left after saving');
  }
  await page.getByTestId('nav-entity-deal').click();
  await page.locator('[data-testid="grid"] .ant-table-row', { hasText: '华东大单' }).waitFor({ state: 'visible' });

  step = 'edit from the record page: only the changed field, with If-Match';
  await page.locator('[data-testid="grid"] .ant-table-row', { hasText: '华东大单' }).click();
  await page.getByTestId('record-edit').click();
  await page.waitForURL(`**/apps/${app}/deal/${id}/edit`);
  await page.getByTestId('record-form').waitFor({ state: 'visible' });
  await waitFor('the record in the form', async () => (await page.locator('[data-testid="input-title"]').inputValue()) === '华东大单' || 'empty');
  await fill('probability', '70');
  await page.getByTestId('form-save').click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  const patch = writes.filter((w) => w.method === 'PATCH').at(-1);
  if (!patch || JSON.parse(patch.body).probability !== 70 || Object.keys(JSON.parse(patch.body)).length !== 1 || patch.ifMatch !== '"1"') {
    throw new Error(`patch ${JSON.stringify(patch)}`);
  }

  step = 'someone else changes the record meanwhile: the 412 notice';
  await page.getByTestId('record-edit').click();
  await page.getByTestId('record-form').waitFor({ state: 'visible' });
  await waitFor('the record in the form', async () => (await page.locator('[data-testid="input-title"]').inputValue()) === '华东大单' || 'empty');
  await fill('notes', '第二次报价：九五折');
  await api(base, `api/v1/data/${app}/deal/${id}`, { method: 'PATCH', token, body: { status: 'won' } });
  await page.getByTestId('form-save').click();
  await page.getByTestId('form-stale').waitFor({ state: 'visible' });
  const changed = (await page.getByTestId('form-stale-changed').textContent())?.trim();
  if (changed !== '对方修改了：状态') throw new Error(`stale notice: ${changed}`);
  if ((await page.locator('[data-testid="input-notes"]').inputValue()) !== '第二次报价：九五折') throw new Error('the notes were lost on 412');
  await shoot('form-stale-zh-1280');

  step = 're-apply my change over theirs';
  await page.getByTestId('form-stale-reapply').click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  const reapplied = writes.filter((w) => w.method === 'PATCH').at(-1);
  if (reapplied.body !== JSON.stringify({ notes: '第二次报价：九五折' }) || reapplied.ifMatch !== '"3"') {
    throw new Error(`re-applied ${JSON.stringify(reapplied)}`);
  }
  const after = await api(base, `api/v1/data/${app}/deal/${id}`, { token });
  if (after.status !== 'won' || after.notes !== '第二次报价：九五折') throw new Error(`after re-apply ${JSON.stringify(after)}`);

  step = 'an unsaved change survives a reload';
  await page.getByTestId('record-edit').click();
  await page.getByTestId('record-form').waitFor({ state: 'visible' });
  await waitFor('the record in the form', async () => (await page.locator('[data-testid="input-title"]').inputValue()) === '华东大单' || 'empty');
  await fill('notes', '还没保存的备注');
  await sleep(200);
  await page.reload({ waitUntil: 'domcontentloaded' });
  await page.getByTestId('form-draft-restored').waitFor({ state: 'visible' });
  await waitFor('the draft back in the form', async () => (await page.locator('[data-testid="input-notes"]').inputValue()) === '还没保存的备注' || (await page.locator('[data-testid="input-notes"]').inputValue()));
  await shoot('form-draft-zh-1280');
  await page.getByTestId('form-cancel').click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  if (await page.evaluate(() => Object.keys(localStorage).filter((k) => /^trellis\.u\.[^.]+\.draft\./.test(k)).length)) {
    throw new Error('a draft is left after cancelling');
  }
  const unchanged = await api(base, `api/v1/data/${app}/deal/${id}`, { token });
  if (unchanged.notes !== '第二次报价：九五折') throw new Error(`cancel saved something: ${unchanged.notes}`);

  step = 'a form layout: sections and columns from the definition';
  const orders = `orders_${Date.now()}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: layoutAppDef(orders) });
  await page.goto(`${base}apps/${orders}/order/new`, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('form-section-s0').waitFor({ state: 'visible' });
  const sectionLabels = (await page.locator('[data-testid="record-form"] .form-section-title').allTextContents()).map((x) => x.trim());
  if (JSON.stringify(sectionLabels) !== JSON.stringify(['基本信息', '其他'])) throw new Error(`sections ${JSON.stringify(sectionLabels)}`);
  const box = async (name) => page.getByTestId(`field-${name}`).boundingBox();
  const [t1, c1, a1, d1] = [await box('title'), await box('company'), await box('amount'), await box('close_date')];
  if (!(Math.abs(t1.y - c1.y) < 2 && c1.x > t1.x + t1.width - 2 && a1.y > t1.y + 10 && Math.abs(a1.y - d1.y) < 2)) {
    throw new Error(`three columns: title ${JSON.stringify(t1)} company ${JSON.stringify(c1)} amount ${JSON.stringify(a1)}`);
  }
  if (await page.getByTestId('field-vat_no').count()) throw new Error('the VAT number is shown for a private customer');

  step = 'a field appears when its condition becomes true';
  await page.locator('[data-testid="field-company"] input[type=checkbox]').check();
  await page.getByTestId('field-vat_no').waitFor({ state: 'visible' });
  await page.getByTestId('form-section-s1').waitFor({ state: 'visible' });
  if (!(await page.locator('[data-testid="field-vat_no"] .ant-form-item-required').count())) throw new Error('the VAT number is not marked required');

  step = 'required_if marks its field as the amount is typed';
  if (await page.locator('[data-testid="field-reason"] .ant-form-item-required').count()) throw new Error('the reason is required before any amount');
  await fill('title', '华北批发单');
  await fill('amount', '1500');
  await page.locator('[data-testid="field-reason"] .ant-form-item-required').waitFor({ state: 'visible' });
  await fill('vat_no', '91310000MA1K');
  await shoot('form-layout-zh-1280');
  await page.getByTestId('form-save').click();
  await fieldHasError('reason', '此项必填');

  step = 'the server agrees: the same condition refused over HTTP';
  const refused = await api(base, `api/v1/data/${orders}/order`, { method: 'POST', token, body: { title: 'x', amount: 1500 } }).then(
    () => 'created',
    (e) => e.message,
  );
  if (!refused.includes('422')) throw new Error(`the server took a record its condition refuses: ${refused}`);

  step = 'hide the company fields again: the hidden required field does not block the save';
  await page.locator('[data-testid="field-company"] input[type=checkbox]').uncheck();
  await waitFor('the VAT number hidden', async () => (await page.getByTestId('field-vat_no').count()) === 0);
  await fill('reason', '老客户');
  await page.getByTestId('form-save').click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  const orderId = page.url().split('/').pop();
  const order = await api(base, `api/v1/data/${orders}/order/${orderId}`, { token });
  if (order.vat_no !== undefined && order.vat_no !== null) throw new Error(`a hidden field was sent: ${JSON.stringify(order)}`);
  if (order.reason !== '老客户' || order.amount !== 1500) throw new Error(`order ${JSON.stringify(order)}`);

  step = 'the record page shows the fields by the same sections';
  await page.getByTestId('record-section-s0').waitFor({ state: 'visible' });
  await shoot('record-layout-zh-1280');
  await page.getByTestId('lang-en').click();
  await page.getByTestId('record-edit').click();
  await page.getByTestId('form-section-s0').waitFor({ state: 'visible' });
  await page.locator('[data-testid="field-company"] input[type=checkbox]').check();
  await page.getByTestId('field-vat_no').waitFor({ state: 'visible' });
  await shoot('form-layout-en-1280');
  await page.getByTestId('form-cancel').click();
  await page.getByTestId('lang-zh').click();

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}
