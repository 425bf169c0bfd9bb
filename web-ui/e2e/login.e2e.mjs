// End-to-end check of the login page and the apps list against a running
// Trellis server that serves this UI (web-ui/dist) at `/` and the API at /api.
//
//   TRELLIS_E2E_URL=http://127.0.0.1:18080 \
//   TRELLIS_E2E_EMAIL=admin@example.com TRELLIS_E2E_PASSWORD=... \
//   npm run test:e2e
//
// Optional: TRELLIS_E2E_CHROMIUM (default /usr/bin/chromium).
// Prints exactly one final line: "1 passed, 0 failed" or "0 passed, 1 failed".

import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { apiClient, env, runE2e, sleep, waitFor as waitUntil } from './harness.mjs';

const TOTAL_TIMEOUT_MS = 55_000; // hard ceiling for the whole run
const STEP_TIMEOUT_MS = 15_000; // any single browser wait
const HTTP_TIMEOUT_MS = 10_000; // any single API call

const outDir = fileURLToPath(new URL('../e2e-output/', import.meta.url));
const screenshot = `${outDir}apps.png`;
const failureScreenshot = `${outDir}failure.png`;
/** The login screen itself, at the context's 1280×800. */
const loginShot = (lang) => `${outDir}login-${lang}-1280.png`;

const LABEL_ZH = '端到端测试';
const LABEL_EN = 'E2E test';

let browser;
let page;
let step = 'start';

const api = apiClient(HTTP_TIMEOUT_MS);
const log = runE2e(
  { name: '', totalMs: TOTAL_TIMEOUT_MS, failureScreenshot, fullPage: true, state: () => ({ browser, page, step }) },
  main,
);

async function main() {
  step = 'read environment';
  await rm(failureScreenshot, { force: true });
  const base = env('TRELLIS_E2E_URL').replace(/\/+$/, '') + '/';
  const email = env('TRELLIS_E2E_EMAIL');
  const password = env('TRELLIS_E2E_PASSWORD');
  const executablePath = process.env.TRELLIS_E2E_CHROMIUM || '/usr/bin/chromium';

  step = 'log in over HTTP';
  const login = await api(base, 'api/v1/auth/login', { method: 'POST', body: { email, password } });
  if (!login?.token) throw new Error('login answered without a token');

  // Each test starts from the browser's language: an earlier one may have left the administrator's own choice.
  await api(base, 'api/v1/me/preferences', { method: 'PUT', token: login.token, body: { language: null } });
  log(`logged in as ${login.user?.email ?? email}`);

  step = 'create an app over HTTP';
  const name = `e2e_${Date.now()}`;
  const created = await api(base, 'api/v1/apps', {
    method: 'POST',
    token: login.token,
    body: { name, label: { zh: LABEL_ZH, en: LABEL_EN } },
  });
  if (created?.name !== name) throw new Error(`POST /api/v1/apps answered name=${created?.name}, want ${name}`);
  log(`created app ${name}`);

  step = 'launch chromium';
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // zh-CN browser: the UI must start in Chinese.
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  step = 'open the UI';
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.getByTestId('login-email').waitFor({ state: 'visible' });

  step = 'take the login screenshot in Chinese';
  await waitForText(page.getByTestId('login-submit'), '登录');
  await mkdir(outDir, { recursive: true });
  await page.screenshot({ path: loginShot('zh') });
  log(`screenshot: ${loginShot('zh')}`);

  step = 'reject a wrong password';
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(`${password}-wrong`);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('login-error').waitFor({ state: 'visible' });

  step = 'log in through the form';
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('logout').waitFor({ state: 'visible' });

  step = 'see the created app in Chinese';
  const label = page.getByTestId(`app-label-${name}`);
  await label.waitFor({ state: 'visible' });
  await waitForText(label, LABEL_ZH);

  step = 'switch to English';
  await page.getByTestId('lang-en').click();
  await waitForText(label, LABEL_EN);
  await page.getByTestId(`app-card-${name}`).scrollIntoViewIfNeeded();

  step = 'take the screenshot';
  await mkdir(outDir, { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  log(`screenshot: ${screenshot}`);

  step = 'log out';
  await page.getByTestId('logout').click();
  await page.getByTestId('login-email').waitFor({ state: 'visible' });

  step = 'take the login screenshot in English';
  await waitForText(page.getByTestId('login-submit'), 'Sign in');
  await page.screenshot({ path: loginShot('en') });
  log(`screenshot: ${loginShot('en')}`);

  step = 'the choice is remembered for the user: another Chinese browser starts in English after the login';
  const again = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
  again.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = await again.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await waitForText(page.getByTestId('login-submit'), '登录');
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await waitForText(page.getByTestId(`app-label-${name}`), LABEL_EN);
  const me = await api(base, 'api/v1/me', { token: login.token });
  if (me.language !== 'en-US') throw new Error(`GET /me language ${me.language}`);
  await page.getByTestId('lang-zh').click();
  await waitForText(page.getByTestId(`app-label-${name}`), LABEL_ZH);
  await waitUntil('the choice kept', async () => (await api(base, 'api/v1/me', { token: login.token })).language === 'zh-CN', STEP_TIMEOUT_MS);
  await page.getByTestId('logout').click();
  await page.getByTestId('login-email').waitFor({ state: 'visible' });

  if (pageErrors.length) throw new Error(`uncaught errors in the page: ${pageErrors.join(' | ')}`);
}

async function waitForText(locator, want) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let got = '';
  while (Date.now() < deadline) {
    got = ((await locator.textContent({ timeout: STEP_TIMEOUT_MS }).catch(() => '')) ?? '').trim();
    if (got === want) return;
    await sleep(100);
  }
  throw new Error(`expected text "${want}", found "${got}"`);
}
