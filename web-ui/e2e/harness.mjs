// What every browser test shares: the one final line ("1 passed, 0 failed" or "0 passed, 1
// failed") with a failure screenshot, a watchdog over the whole run, and small helpers for the
// API and for waiting.

/** Resolves after `ms`. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The value of a required environment variable. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

/**
 * A JSON API caller whose requests each give up after `timeoutMs`:
 * `api(base, path, {method, token, body, headers})` answers the parsed body or throws with the
 * status and the problem's code and detail.
 */
export function apiClient(timeoutMs) {
  return async function api(base, path, { method = 'GET', token, body, headers: extra = {} } = {}) {
    const headers = { Accept: 'application/json', ...extra };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(new URL(path, base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new Error(`${method} ${path}: no answer from ${base} (${e.cause?.code ?? e.message})`);
    }
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const why = json ? `${json.code ?? ''} ${json.detail ?? json.title ?? ''}`.trim() : text.slice(0, 300);
      throw new Error(`${method} ${path} → HTTP ${res.status}: ${why}`);
    }
    return json;
  };
}

/** Polls `fn` until it answers `true`, for at most `timeoutMs`; fails with its last answer. */
export async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last === true) return;
    await sleep(100);
  }
  throw new Error(`${what}: still ${JSON.stringify(last)}`);
}

/**
 * Runs `main` under a watchdog of `totalMs` and prints the one final line. `state()` answers
 * the test's `{browser, page, step}` at the moment of a failure (the page is screenshotted to
 * `failureScreenshot`, the browser closed). Answers the test's `log`.
 */
export function runE2e({ name, totalMs, failureScreenshot, fullPage = false, state }, main) {
  const tag = name ? `[e2e ${name}]` : '[e2e]';
  let finished = false;
  async function finish(ok, err) {
    if (finished) return;
    finished = true;
    const { browser, page, step } = state();
    if (!ok) {
      console.error(`${tag} FAILED during "${step}": ${err instanceof Error ? err.message : err}`);
      if (page) {
        await page
          .screenshot({ path: failureScreenshot, fullPage, timeout: 5_000 })
          .then(() => console.error(`${tag} failure screenshot: ${failureScreenshot}`))
          .catch(() => {});
      }
    }
    if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5_000)]);
    console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
    process.exit(ok ? 0 : 1);
  }
  const watchdog = setTimeout(() => finish(false, new Error(`timed out after ${totalMs / 1000} s`)), totalMs);
  // Started on the next turn, so the test's module has finished evaluating.
  setImmediate(() =>
    main().then(
      () => {
        clearTimeout(watchdog);
        return finish(true);
      },
      (err) => {
        clearTimeout(watchdog);
        return finish(false, err);
      },
    ),
  );
  return (msg) => console.log(`${tag} ${msg}`);
}
