// End-to-end check of comments and mentions against a running Trellis server (see
// login.e2e.mjs for the environment): user A (a sales rep) opens a deal, types `@` in the
// comment box and is offered only the users who may read the deal (B, another rep, yes; C, who
// reads customers only, no), picks B and sends; a hand-typed mention of C is reported as not
// notified. A deletes a comment of her own. Then B logs in, sees the unread count on the bell,
// opens the notification and lands on the deal; C has nothing. Screenshots at 1280×800 in
// Chinese and English.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 20_000;
const PASSWORD = 'comment-password-1';

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}comments-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'comments', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: true, state: () => ({ browser, page, step }) },
  main,
);
const waitFor = (what, fn) => waitUntil(what, fn, STEP_TIMEOUT_MS);

const label = (zh, en) => ({ zh, en });

function appDef(name) {
  return {
    name,
    label: label('销售管理', 'Sales'),
    roles: [
      { name: 'sales', label: label('销售', 'Sales rep'), permissions: { deal: { read: true, create: true, update: true }, customer: { read: true } } },
      { name: 'outsider', label: label('外部人员', 'Outsider'), permissions: { customer: { read: true } } },
    ],
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
        ],
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

/** Lets a popup's opening animation end before a screenshot. */
async function settled() {
  await page.waitForFunction(() => !document.querySelector('[class*="-enter"], [class*="-appear"]'));
  await sleep(100);
}

async function logIn(base, email, password) {
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('logout').waitFor({ state: 'visible' });
}

async function logOut() {
  await page.getByTestId('logout').click();
  await page.getByTestId('login-email').waitFor({ state: 'visible' });
}

/** The ids of the users the open mention picker offers. */
async function offered() {
  await page.waitForFunction(() => !document.querySelector('.ant-mentions-dropdown .ant-spin, .ant-mentions-dropdown .ant-mentions-dropdown-menu-item-loading'));
  return page.locator('.ant-mentions-dropdown:not(.ant-mentions-dropdown-hidden) [data-testid="mention-option"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-user')));
}

async function mentionsOf(base, email) {
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password: PASSWORD } });
  const inbox = await api(base, 'api/v1/notifications', { token });
  return inbox.data.filter((n) => n.kind === 'mention');
}

async function main() {
  step = 'read environment';
  await rm(failureScreenshot, { force: true });
  const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  step = 'create the app, three users and a deal over HTTP';
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });

  // Each test starts from the browser's language: an earlier one may have left the administrator's own choice.
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token: token, body: { language: null } });
  const stamp = Date.now();
  const app = `comments_${stamp}`;
  await api(base, 'api/v1/apps', { method: 'POST', token, body: appDef(app) });
  const person = async (tag, name, role) => {
    const mail = `${tag}-${stamp}@example.com`;
    const u = await api(base, 'api/v1/users', { method: 'POST', token, body: { email: mail, name, password: PASSWORD } });
    await api(base, `api/v1/apps/${app}/roles/${role}/members`, { method: 'POST', token, body: { user: u.id } });
    return { ...u, mail };
  };
  const a = await person('lilei', '李雷', 'sales');
  const b = await person('han', '韩梅梅', 'sales');
  const c = await person('olga', '欧阳', 'outsider');
  const deal = await api(base, `api/v1/data/${app}/deal`, { method: 'POST', token, body: { title: '华东年度采购', amount: 250000 } });
  await api(base, `api/v1/data/${app}/deal/${deal.id}`, { method: 'PATCH', token, body: { amount: 260000 } });
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

  step = 'A opens the deal: its timeline from /timeline';
  await logIn(base, a.mail, PASSWORD);
  await page.goto(`${base}${recordPath}`, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('record-page').waitFor({ state: 'visible' });
  await page.locator('[data-testid="timeline-entry"][data-kind="fields_changed"]').waitFor({ state: 'visible' });
  const input = page.getByTestId('comment-box').locator('textarea').first();

  step = 'the picker offers those who may read the deal, not C';
  await input.click();
  await input.pressSequentially('请 @');
  await page.locator('[data-testid="mention-option"]').first().waitFor({ state: 'visible' });
  const everyone = await offered();
  if (!everyone.includes(b.id) || everyone.includes(c.id) || everyone.includes(a.id)) {
    throw new Error(`offered ${JSON.stringify(everyone)}; b ${b.id}, c ${c.id}`);
  }
  await input.pressSequentially('olga');
  await page.locator('.ant-mentions-dropdown:not(.ant-mentions-dropdown-hidden)', { hasText: '没有可以提及的人' }).waitFor({ state: 'visible' });
  for (let i = 0; i < 4; i++) await input.press('Backspace');
  await input.pressSequentially('han');
  await waitFor('only B offered', async () => JSON.stringify(await offered()) === JSON.stringify([b.id]) || JSON.stringify(await offered()));
  await settled();
  await shoot('comments-picker-zh-1280');
  await page.locator('.ant-mentions-dropdown:not(.ant-mentions-dropdown-hidden) [data-testid="mention-option"]').first().click();
  await waitFor('the name inserted', async () => (await input.inputValue()) === '请 @韩梅梅 ' || (await input.inputValue()));
  await input.pressSequentially(`看一下报价，@[${c.id}] 也看看`);

  step = 'send: B is notified, C (who may not read the deal) is not, and A is told';
  const posted = page.waitForResponse((r) => r.url().endsWith(`/deal/${deal.id}/comments`) && r.request().method() === 'POST');
  await page.getByTestId('comment-send').click();
  const sent = JSON.parse((await posted).request().postData() ?? '{}');
  if (sent.body !== `请 @[${b.id}] 看一下报价，@[${c.id}] 也看看`) throw new Error(`sent ${JSON.stringify(sent)}`);
  await page.getByTestId('comment-skipped').waitFor({ state: 'visible' });
  const skipped = (await page.getByTestId('comment-skipped').textContent()) ?? '';
  if (!skipped.includes('欧阳 无权查看这条记录')) throw new Error(`skipped: ${skipped}`);
  const entry = page.locator('[data-testid="timeline-entry"][data-kind="comment"]').first();
  await entry.waitFor({ state: 'visible' });
  const mentions = await entry.getByTestId('comment-mention').allTextContents();
  if (JSON.stringify(mentions) !== JSON.stringify(['@韩梅梅', '@欧阳'])) throw new Error(`mentions ${JSON.stringify(mentions)}`);
  if ((await mentionsOf(base, b.mail)).length !== 1) throw new Error('B has no mention');
  if ((await mentionsOf(base, c.mail)).length !== 0) throw new Error('C was told about a deal she may not read');
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await shoot('comments-posted-zh-1280');

  step = 'A deletes a comment of her own';
  await input.fill('这条评论要删掉');
  await page.getByTestId('comment-send').click();
  const comments = page.locator('[data-testid="timeline-entry"][data-kind="comment"]');
  await waitFor('two comments', async () => (await comments.count()) === 2 || (await comments.count()));
  await comments.nth(1).getByTestId('comment-delete').click();
  await page.getByTestId('comment-delete-ok').click();
  await waitFor('one comment', async () => (await comments.count()) === 1 || (await comments.count()));

  step = 'English';
  await page.getByTestId('lang-en').click();
  await page.getByTestId('comment-box').getByText('Ctrl+Enter to send').waitFor({ state: 'visible' });
  await waitFor('the notices gone', async () => (await page.locator('.ant-message-notice').count()) === 0);
  await shoot('comments-posted-en-1280');
  await page.getByTestId('lang-zh').click();
  await logOut();

  step = 'B logs in and sees the notification';
  await logIn(base, b.mail, PASSWORD);
  const bell = page.getByTestId('notif-bell');
  await waitFor('one unread', async () => (await bell.getAttribute('data-unread')) === '1' || (await bell.getAttribute('data-unread')));
  await bell.click();
  const item = page.getByTestId('notif-item').first();
  await item.waitFor({ state: 'visible' });
  const title = (await item.getByTestId('notif-title').textContent()) ?? '';
  if (title !== '李雷 在评论中提到了您') throw new Error(`title ${title}`);
  if (!((await item.textContent()) ?? '').includes('看一下报价')) throw new Error('no excerpt');
  await settled();
  await shoot('comments-bell-zh-1280');
  // The language switch closes the list (a click outside it); open it again.
  await page.getByTestId('lang-en').click();
  await page.locator('.ant-popover:not(.ant-popover-hidden)').waitFor({ state: 'detached' }).catch(() => {});
  await bell.click();
  const shown = page.locator('.ant-popover:not(.ant-popover-hidden) [data-testid="notif-item"]').first();
  await waitFor('English title', async () => (await shown.getByTestId('notif-title').textContent()) === '李雷 mentioned you in a comment' || (await shown.getByTestId('notif-title').textContent()));
  await settled();
  await shoot('comments-bell-en-1280');
  await shown.getByTestId('notif-title').click();
  await page.waitForURL(`**/${recordPath}`);
  await page.locator('[data-testid="timeline-entry"][data-kind="comment"]').first().waitFor({ state: 'visible' });
  await page.getByTestId('lang-zh').click();
  await waitFor('read', async () => (await bell.getAttribute('data-unread')) === '0' || (await bell.getAttribute('data-unread')));
  if (await page.locator('[data-testid="timeline-entry"][data-kind="comment"] [data-testid="comment-delete"]').count()) {
    throw new Error("B may delete A's comment");
  }
  await logOut();

  step = 'C has nothing';
  await logIn(base, c.mail, PASSWORD);
  await page.locator('[data-testid="notif-bell"][data-loaded="true"]').waitFor({ state: 'visible' });
  if ((await page.getByTestId('notif-bell').getAttribute('data-unread')) !== '0') throw new Error('C has unread notifications');

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}
