// Shared helpers of the browser suites (tests/*.test.mjs): a headless Debian Chromium driven by
// playwright-core, phone-sized Japanese contexts watched for console errors and CSP violations,
// named steps that screenshot every open page when they fail, and small page helpers.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { DEMO_PASSWORD, backendName, startServer } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const shotsDir = path.resolve(here, '..', 'screenshots');
export const backend = backendName();

export const PHONE = { width: 390, height: 844 };
export const TEST_TIMEOUT = 180_000;

// Flags for Chromium on this closed network (without the background-networking ones its
// connections to Google's hosts are refused, many at a time). playwright-core's launch() adds
// --headless and --no-sandbox itself and gives every launch a fresh temporary user-data dir.
const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The state of one suite (one test file): its server, its browser, the problems seen in its pages.
 * Call `hooks()` inside the file's describe() to start and stop them; `suite` names the failure
 * screenshots (screenshots/FAILED-<backend>-<suite>-*), so suites do not delete each other's.
 */
export function harness(suite) {
  const h = {
    server: null,
    browser: null,
    /** Console errors, page errors and CSP violations seen since the last check: { where, text }. */
    problems: [],
    contexts: [],
    failed: false,
  };
  const failedPrefix = `FAILED-${backend}-${suite}-`;

  h.hooks = () => {
    before(async () => {
      // Screenshots of failures of an earlier run would mislead.
      fs.mkdirSync(shotsDir, { recursive: true });
      for (const f of fs.readdirSync(shotsDir)) {
        if (f.startsWith(failedPrefix)) fs.rmSync(path.join(shotsDir, f));
      }
      h.server = await startServer();
      h.browser = await chromium.launch({
        executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
        headless: true,
        args: CHROMIUM_ARGS,
      });
    });

    after(async () => {
      try {
        for (const { context } of h.contexts) await context.close().catch(() => {});
        if (h.browser) await h.browser.close().catch(() => {});
      } finally {
        if (h.server) {
          if (h.failed) process.stderr.write(`\n--- last lines of the server's log (${backend}) ---\n${h.server.logTail()}\n`);
          await h.server.stop();
        }
      }
    });
  };

  /** A fresh phone-sized Japanese browser context, watched for console errors and CSP violations. */
  h.newPhone = async (name) => {
    const context = await h.browser.newContext({
      viewport: PHONE,
      screen: PHONE,
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      locale: 'ja-JP',
      timezoneId: 'Asia/Tokyo',
      baseURL: h.server.baseUrl,
    });
    context.setDefaultTimeout(30_000);
    // Report every CSP violation through the console (Chromium also logs its own "Refused to …").
    // Injected over CDP, so the page's CSP does not apply to this script.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
      });
    });
    context.on('console', (msg) => {
      if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) {
        const at = msg.location()?.url;
        h.problems.push({ where: `${name} ${msg.page()?.url() ?? ''}`, text: `console.${msg.type()}: ${msg.text()}${at ? ` (${at})` : ''}` });
      }
    });
    context.on('page', (page) => {
      page.on('pageerror', (err) => {
        h.problems.push({ where: `${name} ${page.url()}`, text: `pageerror: ${err.message}` });
      });
    });
    h.contexts.push({ name, context });
    return context;
  };

  /** Asserts nothing went wrong in any browser since the last check; `allow` lists expected messages. */
  h.assertNoProblems = (allow = []) => {
    const seen = h.problems.filter((p) => !allow.some((re) => re.test(p.text)));
    for (const p of h.problems.filter((p) => !seen.includes(p))) console.log(`expected: ${p.where}: ${p.text}`);
    h.problems = [];
    assert.deepEqual(seen, [], `console errors, page errors or CSP violations:\n${seen.map((p) => `  ${p.where}: ${p.text}`).join('\n')}`);
  };

  /** A named step; on failure, a screenshot of every open page goes to screenshots/FAILED-*. */
  h.step = (name, fn) => {
    test(name, { timeout: TEST_TIMEOUT }, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        h.failed = true;
        fs.mkdirSync(shotsDir, { recursive: true });
        for (const { name: cname, context } of h.contexts) {
          for (const [i, p] of context.pages().entries()) {
            const file = path.join(shotsDir, `${failedPrefix}${name.replace(/[^\w]+/g, '_').slice(0, 40)}-${cname}-${i}.png`);
            await p.screenshot({ path: file, fullPage: true }).catch(() => {});
          }
        }
        throw e;
      }
    });
  };

  return h;
}

export async function screenshot(page, name) {
  fs.mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: path.join(shotsDir, `${backend}-${name}.png`), fullPage: true });
}

/** The page body must not scroll sideways on a phone; wide tables scroll inside `.table-wrap`. */
export async function assertNoHorizontalOverflow(page) {
  const r = await page.evaluate(() => {
    const vw = window.innerWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('.table-wrap') && !el.classList.contains('table-wrap')) continue;
      const b = el.getBoundingClientRect();
      if (b.width > 0 && b.right > vw + 1 && getComputedStyle(el).position !== 'fixed') {
        wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className ? '.' + String(el.className).trim().split(/\s+/).join('.') : ''} (right edge ${Math.round(b.right)}px)`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, vw, wide: wide.slice(0, 10) };
  });
  assert.equal(r.vw, PHONE.width, 'the layout viewport is the phone width');
  assert.ok(
    r.scrollWidth <= PHONE.width + 2,
    `${page.url()}: the page is ${r.scrollWidth}px wide on a ${PHONE.width}px phone; too wide: ${r.wide.join(', ')}`,
  );
}

/** Does `action` (a click, a key press) and waits for the page it leads to to load. */
export async function andWait(page, action) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await action();
  await navigated;
  await page.waitForLoadState('load');
}

/** Clicks a link or button and waits for the next page. */
export const clickTo = (page, locator) => andWait(page, () => locator.click());

export function assertPath(page, pathname) {
  assert.equal(new URL(page.url()).pathname, pathname, `expected to be on ${pathname}, but on ${page.url()}`);
}

/** Logs in through the form by its Japanese labels; returns once the answer page has loaded. */
export async function login(page, loginId, password = DEMO_PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('ログインID', { exact: true }).fill(loginId);
  await page.getByLabel('パスワード', { exact: true }).fill(password);
  await clickTo(page, page.getByRole('button', { name: 'ログイン', exact: true }));
}

export async function expectGreeting(page, name) {
  assert.equal(new URL(page.url()).pathname, '/', `after logging in, ${page.url()} is not the home page`);
  const h1 = (await page.locator('h1').innerText()).replace(/\s+/g, ' ').trim();
  assert.ok(h1.includes(name), `the home page greets ${JSON.stringify(h1)}, not ${name}`);
}
