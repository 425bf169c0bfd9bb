// End-to-end check of the record page against a running Trellis server (see login.e2e.mjs for
// the environment): a deal whose move to "negotiation" needs an amount and whose move to "won"
// needs a manager's approval. Open the record page, see the blocked move's blocker, fix the
// field through the form, make the move, run a manual rule and see its result, ask for the
// approval; then, as a second user who is a manager, approve it and see the record won. Also:
// the related tasks, the attachment's download link, the timeline. Screenshots at 1280×800 in
// both languages and at 390 px wide.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 20_000;
const MANAGER_PASSWORD = 'manager-password-1';

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}record-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'record', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: true, state: () => ({ browser, page, step }) },
  main,
);
const waitFor = (what, fn) => waitUntil(what, fn, STEP_TIMEOUT_MS);

const label = (zh, en) => ({ zh, en });

function appDef(name) {
  return {
    name,
    label: label('销售管理', 'Sales'),
    roles: [{ name: 'manager', label: label('销售经理', 'Sales manager') }],
    entities: [
      {
        name: 'customer',
        label: label('客户', 'Customer'),
        title_field: 'name',
        fields: [{ name: 'name', label: label('名称', 'Name'), type: 'text' }],
      },
      {
        name: 'deal',
        label: label('商机', 'Deal'),
        title_field: 'title',
        fields: [
          { name: 'title', label: label('标题', 'Title'), type: 'text', required: true },
          { name: 'amount', label: label('金额', 'Amount'), type: 'currency', currency: 'CNY', min: 0 },
          { name: 'probability', label: label('成交概率', 'Probability'), type: 'integer', min: 0, max: 100 },
          { name: 'customer', label: label('客户', 'Customer'), type: 'relation', target: 'customer' },
          { name: 'contract', label: label('合同', 'Contract'), type: 'attachment', max_files: 3 },
          { name: 'notes', label: label('备注', 'Notes'), type: 'long_text' },
        ],
        pipeline: {
          stages: [
            {
              key: 'new',
              label: label('新商机', 'New'),
              sop: [
                { key: 'call', label: label('电话沟通', 'Phone call') },
                { key: 'quote', label: label('发送报价', 'Send a quote') },
              ],
              sla: { hours: 48 },
            },
            {
              key: 'negotiation',
              label: label('商务洽谈', 'Negotiation'),
              sop: [{ key: 'contract', label: label('准备合同', 'Prepare the contract') }],
              sla: { hours: 4 },
            },
            { key: 'won', label: label('赢单', 'Won'), kind: 'won' },
            { key: 'lost', label: label('输单', 'Lost'), kind: 'lost' },
          ],
          transitions: [
            { from: ['new'], to: 'negotiation', requires: { fields: ['amount'] } },
            { from: ['negotiation'], to: 'won', approval: { roles: ['manager'], mode: 'any' } },
            { from: ['*'], to: 'lost', comment_required: true },
          ],
        },
      },
      {
        name: 'task',
        label: label('任务', 'Task'),
        title_field: 'title',
        fields: [
          { name: 'title', label: label('标题', 'Title'), type: 'text' },
          { name: 'deal', label: label('商机', 'Deal'), type: 'relation', target: 'deal' },
        ],
      },
    ],
    rules: [
      {
        name: 'mark_hot',
        label: label('标记为重点', 'Mark as hot'),
        trigger: { type: 'manual', entity: 'deal' },
        actions: [{ type: 'set_fields', values: { probability: 80 } }],
      },
    ],
  };
}

async function shoot(name, fullPage = false) {
  await mkdir(outDir, { recursive: true });
  const path = `${outDir}${name}.png`;
  await page.screenshot({ path, fullPage });
  log(`screenshot: ${path}`);
}

async function text(testId) {
  return ((await page.getByTestId(testId).first().textContent()) ?? '').trim();
}

async function upload(base, token, name, body) {
  const form = new FormData();
  form.append('file', new Blob([body], { type: 'text/plain' }), name);
  const res = await fetch(new URL('api/v1/files', base), {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: form,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  if (res.status !== 201) throw new Error(`upload → HTTP ${res.status}`);
  return res.json();
}

async function logIn(base, email, password) {
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('logout').waitFor({ state: 'visible' });
}

async function main() {
  step = 'read environment';
  await rm(failureScreenshot, { force: true });
  const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  step = 'create the app, a manager and a deal over HTTP';
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });

  // Each test starts from the browser's language: an earlier one may have left the administrator's own choice.
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token: token, body: { language: null } });
  const app = `record_${Date.now()}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: appDef(app) });
  const managerEmail = `manager-${Date.now()}@example.com`;
  const manager = await api(base, 'api/v1/users', {
    method: 'POST',
    token,
    body: { email: managerEmail, name: '王经理', password: MANAGER_PASSWORD },
  });
  await api(base, `api/v1/apps/${app}/roles/manager/members`, { method: 'POST', token, body: { user: manager.id } });
  const customer = await api(base, `api/v1/data/${app}/customer`, { method: 'POST', token, body: { name: '华东贸易' } });
  const file = await upload(base, token, '合同草案.txt', '合同草案 v1\n');
  const deal = await api(base, `api/v1/data/${app}/deal`, {
    method: 'POST',
    token,
    body: { title: '华东年度采购', probability: 30, customer: customer.id, contract: [file.id], notes: '客户希望月底前签约' },
  });
  await api(base, `api/v1/data/${app}/task/bulk`, {
    method: 'POST',
    token,
    body: { create: [{ title: '约客户开会', deal: deal.id }, { title: '准备报价单', deal: deal.id }, { title: '无关任务' }] },
  });
  const recordPath = `apps/${app}/deal/${deal.id}`;
  log(`created app ${app}, deal ${deal.id}`);

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
  const moves = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/transition')) {
      moves.push({ body: JSON.parse(r.postData() ?? '{}'), ifMatch: r.headers()['if-match'] });
    }
  });

  step = 'log in and open the record page';
  await logIn(base, email, password);
  await page.goto(`${base}${recordPath}`, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  await waitFor('the title', async () => (await text('record-title')) === '华东年度采购' || (await text('record-title')));
  await waitFor('the stage', async () => (await text('stage-current')) === '当前阶段：新商机' || (await text('stage-current')));
  if ((await page.getByTestId('stage-sla').getAttribute('data-sla')) !== 'on_track') throw new Error('SLA state');
  await page.getByTestId('sop-call').waitFor({ state: 'visible' });

  step = 'the move to negotiation is blocked: its blocker names the amount';
  await page.getByTestId('blockers-negotiation').waitFor({ state: 'visible' });
  const blockers = (await page.getByTestId('blockers-negotiation').locator('.blocker-text').allTextContents()).map((s) => s.trim());
  if (JSON.stringify(blockers) !== JSON.stringify(['必须填写：金额'])) throw new Error(`blockers ${JSON.stringify(blockers)}`);
  if (!(await page.getByTestId('move-button-negotiation').isDisabled())) throw new Error('a blocked move can be clicked');
  if (moves.length) throw new Error('a blocked move was sent');

  step = 'the fields, the attachment, the related tasks, the manual rule';
  await waitFor('the file link', async () => (await page.getByTestId('file-link').first().getAttribute('href')) === `/api/v1/files/${file.id}`);
  if ((await text('value-customer')) !== '华东贸易') throw new Error(`customer ${await text('value-customer')}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('file-link').first().click()]);
  if (download.suggestedFilename() !== '合同草案.txt') throw new Error(`downloaded ${download.suggestedFilename()}`);
  const related = page.getByTestId('related-task-deal');
  await waitFor('the related tasks', async () => (await related.getByTestId('related-link').count()) === 2 || (await related.getByTestId('related-link').count()));
  await page.getByTestId('rule-mark_hot').waitFor({ state: 'visible' });
  await page.getByTestId('timeline').getByTestId('timeline-entry').first().waitFor({ state: 'visible' });
  await shoot('record-blocked-zh-1280');
  await shoot('record-blocked-zh-1280-full', true);

  step = 'fix the field through the form';
  await page.getByTestId('blocker-fix-amount').click();
  await page.waitForURL(`**/${recordPath}/edit`);
  await page.getByTestId('record-form').waitFor({ state: 'visible' });
  await page.locator('[data-testid="input-amount"]').fill('250000');
  await page.getByTestId('form-save').click();
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  await waitFor('the move ready', async () => (await page.getByTestId('move-negotiation').getAttribute('data-ready')) === 'true');

  step = 'someone else empties the amount meanwhile: the move answers 412, then 409 with its blocker';
  // The other change lands once the dialog is open: opening it may refetch a record the page
  // has held for a while (a busy machine), which would see the change before the move is sent.
  await page.getByTestId('move-button-negotiation').click();
  await page.getByTestId('move-dialog').waitFor({ state: 'visible' });
  await page.getByTestId('move-comment').fill('客户确认了预算');
  await api(base, `api/v1/data/${app}/deal/${deal.id}`, { method: 'PATCH', token, body: { amount: null } });
  await page.getByTestId('move-submit').click();
  await page.getByTestId('transition-stale').waitFor({ state: 'visible' });
  if ((await text('transition-stale-changed')) !== '对方修改了：金额') throw new Error(`stale: ${await text('transition-stale-changed')}`);
  if (moves.at(-1)?.ifMatch !== '"2"') throw new Error(`first move ${JSON.stringify(moves.at(-1))}`);
  await shoot('record-stale-zh-1280');
  await page.getByTestId('transition-stale-retry').click();
  await page.getByTestId('transition-refused').waitFor({ state: 'visible' });
  const refused = (await page.getByTestId('transition-refused').locator('.blocker-text').allTextContents()).map((s) => s.trim());
  if (JSON.stringify(refused) !== JSON.stringify(['必须填写：金额'])) throw new Error(`refused ${JSON.stringify(refused)}`);
  if (moves.at(-1)?.ifMatch !== '"3"') throw new Error(`retried move ${JSON.stringify(moves.at(-1))}`);
  await shoot('record-refused-zh-1280');

  step = 'fill the amount again and make the move';
  await api(base, `api/v1/data/${app}/deal/${deal.id}`, { method: 'PATCH', token, body: { amount: 250000 } });
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitFor('the move ready', async () => (await page.getByTestId('move-negotiation').getAttribute('data-ready')) === 'true');
  await page.getByTestId('move-button-negotiation').click();
  await page.getByTestId('move-dialog').waitFor({ state: 'visible' });
  await page.getByTestId('move-comment').fill('客户确认了预算');
  await page.getByTestId('move-submit').click();
  await waitFor('the new stage', async () => (await text('stage-current')) === '当前阶段：商务洽谈' || (await text('stage-current')));
  const move = moves.at(-1);
  if (move?.body.to !== 'negotiation' || move.body.comment !== '客户确认了预算' || move.ifMatch !== '"4"') {
    throw new Error(`move ${JSON.stringify(move)}`);
  }
  await page.locator('[data-testid="timeline-entry"][data-kind="stage_moved"]').waitFor({ state: 'visible' });

  step = 'run the manual rule and see its result';
  await page.getByTestId('rule-mark_hot').click();
  await waitFor('the rule run', async () => (await page.getByTestId('rule-result').getAttribute('data-status')) === 'done' || (await page.getByTestId('rule-result').getAttribute('data-status')));
  await waitFor('the rule set the probability', async () => (await text('value-probability')) === '80' || (await text('value-probability')));
  await page.locator('[data-testid="timeline-entry"] .timeline-rule').first().waitFor({ state: 'visible' });

  step = 'ask for the approval to win';
  await page.getByTestId('move-button-won').click();
  await page.getByTestId('move-dialog').waitFor({ state: 'visible' });
  await page.getByTestId('move-comment').fill('合同已谈妥，请审批');
  await page.getByTestId('move-submit').click();
  await page.getByTestId('stage-pending').waitFor({ state: 'visible' });
  await page.getByTestId('approvals').locator('.approval').first().waitFor({ state: 'visible' });
  await waitFor('the move blocked by the approval', async () =>
    (await page.locator('[data-testid="blockers-lost"] .blocker[data-kind="approval"]').count()) === 1,
  );

  step = 'English';
  await page.getByTestId('lang-en').click();
  await waitFor('English stage', async () => (await text('stage-current')) === 'Stage: Negotiation' || (await text('stage-current')));
  await waitFor('the notices gone', async () => (await page.locator('.ant-message-notice').count()) === 0);
  await shoot('record-pending-en-1280');
  await shoot('record-pending-en-1280-full', true);
  await page.getByTestId('lang-zh').click();
  await page.getByTestId('logout').click();
  await page.getByTestId('login-email').waitFor({ state: 'visible' });

  step = 'the manager approves';
  await logIn(base, managerEmail, MANAGER_PASSWORD);
  await page.goto(`${base}${recordPath}`, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('approval-approve').click();
  await page.getByTestId('approval-dialog').waitFor({ state: 'visible' });
  await page.getByTestId('approval-comment').fill('同意，尽快签约');
  await shoot('record-approve-zh-1280');
  await page.getByTestId('approval-submit').click();
  await waitFor('the record won', async () => (await text('stage-current')) === '当前阶段：赢单' || (await text('stage-current')));
  await page.locator('[data-testid="timeline-entry"][data-kind="approval_decided"]').waitFor({ state: 'visible' });
  if (await page.getByTestId('approval-approve').count()) throw new Error('the approval is still offered');
  const after = await api(base, `api/v1/data/${app}/deal/${deal.id}`, { token });
  if (after.stage !== 'won' || after.amount?.amount !== 250000 || after.probability !== 80) {
    throw new Error(`after ${JSON.stringify(after)}`);
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await waitFor('the notices gone', async () => (await page.locator('.ant-message-notice').count()) === 0);
  await shoot('record-won-zh-1280');

  step = 'the delegations, from the approvals panel';
  await page.getByTestId('approval-delegations').click();
  await page.getByTestId('delegations').waitFor({ state: 'visible' });
  await page.getByText('你还没有委托他人').waitFor({ state: 'visible' });
  await page.getByTestId('delegation-delegate').click();
  await page.locator('.ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option', { hasText: 'Administrator' }).click();
  const day = (n) => {
    const d = new Date(Date.now() + n * 86_400_000);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} 09:00:00`;
  };
  const [from, to] = [page.locator('[data-testid="delegation-period"] input').nth(0), page.locator('[data-testid="delegation-period"] input').nth(1)];
  await from.click();
  await from.fill(day(1));
  await from.press('Enter');
  await to.fill(day(8));
  await to.press('Enter');
  await page.getByTestId('delegation-add').click();
  await page.getByTestId('delegation').first().waitFor({ state: 'visible' });
  const delegations = await api(base, 'api/v1/me/delegations', { token: (await api(base, 'api/v1/auth/login', { method: 'POST', body: { email: managerEmail, password: MANAGER_PASSWORD } })).token });
  if (delegations.data.length !== 1 || delegations.data[0].delegate !== (await api(base, 'api/v1/me', { token })).user.id) {
    throw new Error(`delegations ${JSON.stringify(delegations)}`);
  }
  await waitFor('the notices gone', async () => (await page.locator('.ant-message-notice').count()) === 0);
  await shoot('record-delegations-zh-1280');
  await page.locator('.ant-modal-close').click();
  await page.getByTestId('delegations').waitFor({ state: 'hidden' });
  await shoot('record-won-zh-1280-full', true);
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  await shoot('record-won-zh-390');
  await shoot('record-won-zh-390-full', true);

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}
