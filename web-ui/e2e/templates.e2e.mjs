// End-to-end check of the template gallery against a running Trellis server (see login.e2e.mjs
// for the environment): an administrator opens the gallery from the apps page, previews the
// sales management template's plan (its entities, roles and the business calendar it brings),
// installs it under a name of their own, lands in the new app with its entities in the menu,
// and a member who is no administrator sees no gallery. Screenshots under e2e-output/.
//
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 20_000;
const HTTP_TIMEOUT_MS = 30_000;

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const failureScreenshot = `${outDir}templates-failure.png`;

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: 'templates', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: false, state: () => ({ browser, page, step }) },
  main,
);

async function shot(name) {
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
  const { token } = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token, body: { language: null } });
  const app = `crm_${Date.now() % 1_000_000}`;

  step = 'a member who is no administrator';
  const memberEmail = `member_${Date.now()}@example.com`;
  await api(base, 'api/v1/users', {
    method: 'POST',
    token,
    body: { email: memberEmail, name: 'Member', password: 'member-password-1' },
  });

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

  step = 'log in';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();

  step = 'open the gallery from the apps page';
  await page.getByTestId('templates-open').click();
  const card = page.getByTestId('template-sales_management');
  await card.waitFor({ state: 'visible' });
  await page.getByTestId('template-store_sales').waitFor({ state: 'visible' });
  const counts = await page.getByTestId('template-counts-sales_management').innerText();
  if (!counts.includes('11 个实体')) throw new Error(`sales template counts: ${counts}`);

  step = 'preview the plan under a name of our own';
  await page.getByTestId('template-app-sales_management').fill(app);
  await page.getByTestId('template-preview-sales_management').click();
  await page.getByTestId('template-plan').waitFor({ state: 'visible' });
  // The calendar is listed only where the tenant has none of its name yet.
  const calendars = await api(base, 'api/v1/calendars', { token });
  const hasCalendar = (calendars.data ?? []).includes('business_hours');
  const expected = ['plan-entity-opportunity', 'plan-role-sales_rep'];
  if (!hasCalendar) expected.push('plan-calendar-business_hours');
  for (const id of expected) {
    await page.getByTestId(id).waitFor({ state: 'attached' });
  }
  const planText = await page.getByTestId('template-plan').innerText();
  if (!planText.includes('安装计划')) throw new Error(`plan title: ${planText.slice(0, 80)}`);
  await shot('templates-plan-zh-1280');
  // The preview installed nothing.
  const before = await api(base, 'api/v1/apps', { token });
  if (before.data.some((a) => a.name === app)) throw new Error('the preview installed the app');

  step = 'install and land in the app';
  await page.getByTestId('template-install-sales_management').click();
  // The app opens at its first entity, with every entity in the menu.
  await page.waitForURL(`**/apps/${app}/lead`);
  await page.locator('[data-testid="grid"]').waitFor({ state: 'visible' });
  await page.getByText('商机').first().waitFor({ state: 'visible' });
  await shot('templates-installed-zh-1280');
  const def = await api(base, `api/v1/apps/${app}`, { token });
  if (def.entities.length !== 11) throw new Error(`installed entities: ${def.entities.length}`);

  step = 'the gallery says where it is installed';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId(`app-card-${app}`).waitFor({ state: 'visible' });
  await page.getByTestId('templates-open').click();
  await page.getByText(`已安装为 ${app}`).waitFor({ state: 'visible' });
  await page.getByTestId('templates-close').click();

  step = 'a member sees no gallery';
  await page.getByTestId('logout').click();
  await page.getByTestId('login-email').fill(memberEmail);
  await page.getByTestId('login-password').fill('member-password-1');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('logout').waitFor({ state: 'visible' });
  if ((await page.getByTestId('templates-open').count()) !== 0) throw new Error('a member sees the gallery button');
  const refused = await fetch(`${base}api/v1/templates`, {
    headers: { authorization: `Bearer ${(await api(base, 'api/v1/auth/login', { method: 'POST', body: { email: memberEmail, password: 'member-password-1' } })).token}` },
  });
  if (refused.status !== 403) throw new Error(`GET /templates as a member: ${refused.status}`);

  if (pageErrors.length > 0) throw new Error(`page errors: ${pageErrors.join(' | ')}`);
  log(`installed the sales template as ${app} from the gallery`);
}
