// Real-browser tests of the foundation's main flows (DESIGN §5): headless Debian Chromium driven
// by playwright-core, on a phone-sized screen in Japanese, against the real server binary.
//
//   cd e2e && npm ci && npm test                         # SQLite in a temp folder
//   TSUNAGU_E2E_DATABASE_URL=postgres://…/empty npm test  # PostgreSQL (an empty database)
//
// Environment: TSUNAGU_BIN (the server binary), CARGO_TARGET_DIR, TSUNAGU_E2E_DATABASE_URL,
// CHROMIUM_PATH (default /usr/bin/chromium). Screenshots go to e2e/screenshots/.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { DEMO_PASSWORD, backendName, startServer } from '../lib/server.mjs';
import { base32Decode, hotp, timeStep, totp } from '../lib/totp.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shotsDir = path.resolve(here, '..', 'screenshots');
const backend = backendName();

const PHONE = { width: 390, height: 844 };
const TEST_TIMEOUT = 180_000;

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

let server;
let browser;
/** Console errors, page errors and CSP violations seen since the last check: { where, text }. */
let problems = [];
const contexts = [];
let failed = false;

/** A fresh phone-sized Japanese browser context, watched for console errors and CSP violations. */
async function newPhone(name) {
  const context = await browser.newContext({
    viewport: PHONE,
    screen: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
    baseURL: server.baseUrl,
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
      problems.push({ where: `${name} ${msg.page()?.url() ?? ''}`, text: `console.${msg.type()}: ${msg.text()}${at ? ` (${at})` : ''}` });
    }
  });
  context.on('page', (page) => {
    page.on('pageerror', (err) => {
      problems.push({ where: `${name} ${page.url()}`, text: `pageerror: ${err.message}` });
    });
  });
  contexts.push({ name, context });
  return context;
}

/** Asserts nothing went wrong in any browser since the last check; `allow` lists expected messages. */
function assertNoProblems(allow = []) {
  const seen = problems.filter((p) => !allow.some((re) => re.test(p.text)));
  for (const p of problems.filter((p) => !seen.includes(p))) console.log(`expected: ${p.where}: ${p.text}`);
  problems = [];
  assert.deepEqual(seen, [], `console errors, page errors or CSP violations:\n${seen.map((p) => `  ${p.where}: ${p.text}`).join('\n')}`);
}

async function screenshot(page, name) {
  fs.mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: path.join(shotsDir, `${backend}-${name}.png`), fullPage: true });
}

/** The page body must not scroll sideways on a phone; wide tables scroll inside `.table-wrap`. */
async function assertNoHorizontalOverflow(page) {
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
async function andWait(page, action) {
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame() });
  await action();
  await navigated;
  await page.waitForLoadState('load');
}

/** Clicks a link or button and waits for the next page. */
const clickTo = (page, locator) => andWait(page, () => locator.click());

function assertPath(page, pathname) {
  assert.equal(new URL(page.url()).pathname, pathname, `expected to be on ${pathname}, but on ${page.url()}`);
}

/** Logs in through the form by its Japanese labels; returns once the answer page has loaded. */
async function login(page, loginId, password = DEMO_PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('ログインID', { exact: true }).fill(loginId);
  await page.getByLabel('パスワード', { exact: true }).fill(password);
  await clickTo(page, page.getByRole('button', { name: 'ログイン', exact: true }));
}

async function expectGreeting(page, name) {
  assert.equal(new URL(page.url()).pathname, '/', `after logging in, ${page.url()} is not the home page`);
  const h1 = (await page.locator('h1').innerText()).replace(/\s+/g, ' ').trim();
  assert.ok(h1.includes(name), `the home page greets ${JSON.stringify(h1)}, not ${name}`);
}

/** A named step; on failure, a screenshot of every open page goes to screenshots/FAILED-*. */
function step(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      fs.mkdirSync(shotsDir, { recursive: true });
      for (const { name: cname, context } of contexts) {
        for (const [i, p] of context.pages().entries()) {
          const file = path.join(shotsDir, `FAILED-${backend}-${name.replace(/[^\w]+/g, '_').slice(0, 40)}-${cname}-${i}.png`);
          await p.screenshot({ path: file, fullPage: true }).catch(() => {});
        }
      }
      throw e;
    }
  });
}

describe(`Tsunagu in a phone browser (${backend})`, () => {
  before(async () => {
    // Screenshots of failures of an earlier run would mislead.
    fs.mkdirSync(shotsDir, { recursive: true });
    for (const f of fs.readdirSync(shotsDir)) {
      if (f.startsWith(`FAILED-${backend}-`)) fs.rmSync(path.join(shotsDir, f));
    }
    server = await startServer();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  after(async () => {
    try {
      for (const { context } of contexts) await context.close().catch(() => {});
      if (browser) await browser.close().catch(() => {});
    } finally {
      if (server) {
        if (failed) process.stderr.write(`\n--- last lines of the server's log (${backend}) ---\n${server.logTail()}\n`);
        await server.stop();
      }
    }
  });

  step('the TOTP helper matches RFC 6238 (test vector, SHA-1)', () => {
    // RFC 6238 appendix B: key "12345678901234567890", T = 59 s → 94287082 (8 digits).
    assert.equal(hotp(Buffer.from('12345678901234567890'), timeStep(59_000), 8), '94287082');
    assert.equal(hotp(Buffer.from('12345678901234567890'), timeStep(1_111_111_109_000), 8), '07081804');
    assert.deepEqual([...base32Decode('GEZDGNBVGY3TQOJQ')], [...Buffer.from('1234567890')]);
  });

  let admin; // the admin's page, logged in from the admin step on

  step('the login page is in Japanese, without console errors or CSP violations', async () => {
    const ctx = await newPhone('visitor');
    const page = await ctx.newPage();
    const res = await page.goto('/login');
    assert.equal(res.status(), 200);
    assert.equal(await page.locator('html').getAttribute('lang'), 'ja');
    assert.match(await page.title(), /ログイン/);
    await page.getByRole('heading', { level: 1, name: 'ログイン' }).waitFor();
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'login');
    assertNoProblems();
  });

  step('a wrong password shows the Japanese error message', async () => {
    const ctx = await newPhone('wrong-password');
    const page = await ctx.newPage();
    await page.goto('/login');
    await page.getByLabel('ログインID', { exact: true }).fill('pharmacist');
    await page.getByLabel('パスワード', { exact: true }).fill('not-the-password-1');
    await clickTo(page, page.getByRole('button', { name: 'ログイン', exact: true }));
    assert.equal(new URL(page.url()).pathname, '/login');
    const alert = page.getByRole('alert');
    await alert.first().waitFor();
    assert.equal((await alert.first().innerText()).trim(), 'ログインIDまたはパスワードが正しくありません。');
    // The typed login stays, the password does not.
    assert.equal(await page.getByLabel('ログインID', { exact: true }).inputValue(), 'pharmacist');
    assert.equal(await page.getByLabel('パスワード', { exact: true }).inputValue(), '');
    // The refused login answers 401, which Chromium logs as a failed load: that one is expected.
    assertNoProblems([/Failed to load resource: the server responded with a status of 401/]);
    await ctx.close();
  });

  step('keyboard only: the skip link comes first, then the login fields, and Enter submits', async () => {
    const ctx = await newPhone('keyboard');
    const page = await ctx.newPage();
    await page.goto('/login');
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        return { tag: el?.tagName.toLowerCase(), id: el?.id, cls: el?.className, text: el?.textContent?.trim() };
      });
    await page.keyboard.press('Tab');
    const first = await focused();
    assert.deepEqual([first.tag, first.cls, first.text], ['a', 'skip', '本文へ移動'], `first Tab focused ${JSON.stringify(first)}`);
    const skip = page.locator('a.skip');
    const box = await skip.boundingBox();
    assert.ok(box && box.x >= 0 && box.y >= 0, `the focused skip link is visible on screen (${JSON.stringify(box)})`);
    await page.keyboard.press('Enter'); // follow the skip link to the main content
    await page.keyboard.press('Tab');
    assert.equal((await focused()).id, 'login', 'after the skip link, Tab reaches the login field');
    await page.keyboard.type('physician');
    await page.keyboard.press('Tab');
    assert.equal((await focused()).id, 'password', 'then the password field');
    await page.keyboard.type(DEMO_PASSWORD);
    await andWait(page, () => page.keyboard.press('Enter'));
    await expectGreeting(page, '山田 太郎');
    assertNoProblems();
    await ctx.close();
  });

  step('admin logs in; the administration page lists the 21 support centers and branches', async () => {
    const ctx = await newPhone('admin');
    admin = await ctx.newPage();
    await login(admin, 'admin');
    await expectGreeting(admin, '管理 花子');
    await assertNoHorizontalOverflow(admin);
    await screenshot(admin, 'home');

    await clickTo(admin, admin.getByRole('link', { name: '管理', exact: true }));
    assertPath(admin, '/admin');
    await admin.getByRole('heading', { level: 1, name: '管理' }).waitFor();
    assert.equal((await admin.locator('#center-count').innerText()).trim(), '21');
    const rows = admin.locator('.table-wrap table tbody tr');
    assert.equal(await rows.count(), 21);
    const kishikawa = rows.filter({ hasText: 'きしかわ' });
    assert.equal(await kishikawa.count(), 1, 'one row for きしかわ');
    assert.equal((await kishikawa.locator('td.districts').innerText()).trim(), '森本');
    await assertNoHorizontalOverflow(admin);
    await screenshot(admin, 'admin');
    assertNoProblems();
  });

  step('the header link switches to English and back to Japanese', async () => {
    await clickTo(admin, admin.getByRole('link', { name: 'English', exact: true }));
    assertPath(admin, '/admin');
    assert.equal(await admin.locator('html').getAttribute('lang'), 'en');
    await admin.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
    await admin.getByRole('heading', { level: 2, name: /Community support centers|support center/i }).first().waitFor();
    await admin.getByRole('link', { name: 'Home', exact: true }).waitFor();
    assert.match(await admin.title(), /Administration/);

    await clickTo(admin, admin.getByRole('link', { name: '日本語', exact: true }));
    assertPath(admin, '/admin');
    assert.equal(await admin.locator('html').getAttribute('lang'), 'ja');
    await admin.getByRole('heading', { level: 1, name: '管理' }).waitFor();
    await admin.getByRole('link', { name: 'ホーム', exact: true }).waitFor();
    assertNoProblems();
  });

  step('nurse enrols an authenticator (TOTP), gets 10 recovery codes, and needs a code at the next login', async () => {
    const ctx = await newPhone('nurse');
    const page = await ctx.newPage();
    await login(page, 'nurse');
    await expectGreeting(page, '中村 美穂');

    await clickTo(page, page.getByRole('link', { name: 'ログインと安全', exact: true }));
    assertPath(page, '/account/security');
    await page.getByRole('heading', { level: 1, name: 'ログインと安全' }).waitFor();
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'security');

    await clickTo(page, page.getByRole('button', { name: '認証アプリを設定する', exact: true }));
    const secret = (await page.locator('#totp-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{16,}=*$/, `the secret is base32: ${secret}`);
    const confirmStep = timeStep();
    await page.getByLabel('6桁のコード', { exact: true }).fill(totp(secret, confirmStep));
    await clickTo(page, page.getByRole('button', { name: '確認して有効にする', exact: true }));
    await page.locator('#recovery-codes').waitFor();
    const codes = await page.locator('#recovery-codes li').allInnerTexts();
    assert.equal(codes.length, 10, `10 recovery codes, got ${JSON.stringify(codes)}`);
    assert.equal(new Set(codes).size, 10, 'the recovery codes differ');
    assert.equal((await page.locator('#recovery-left').innerText()).trim(), '10');
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'security-recovery-codes');

    await clickTo(page, page.getByRole('button', { name: 'ログアウト', exact: true }));
    assertPath(page, '/login');
    await page.getByRole('heading', { level: 1, name: 'ログイン' }).waitFor();

    await login(page, 'nurse');
    assert.equal(new URL(page.url()).pathname, '/login/second-factor', 'the second-factor page follows the password');
    await page.getByRole('heading', { level: 1, name: '二段階認証' }).waitFor();
    await screenshot(page, 'second-factor');
    // A code's time step can be used once: wait for a step after the one used to confirm.
    while (timeStep() <= confirmStep) await new Promise((r) => setTimeout(r, 500));
    await page.getByLabel('認証アプリの6桁のコード', { exact: true }).fill(totp(secret));
    await clickTo(page, page.getByRole('button', { name: '確認', exact: true }));
    await expectGreeting(page, '中村 美穂');
    assertNoProblems();
    await ctx.close();
  });

  step('admin invites a person, who sets a password through the link and logs in', async () => {
    await clickTo(admin, admin.getByRole('link', { name: '管理', exact: true }));
    await clickTo(admin, admin.getByRole('link', { name: '利用者を招待', exact: true }));
    assertPath(admin, '/admin/people/invite');
    await admin.getByLabel('ログインID', { exact: true }).fill('e2e-suzuki');
    await admin.getByLabel('氏名', { exact: true }).fill('鈴木 一郎');
    await admin.getByLabel('氏名（かな）', { exact: true }).fill('すずき いちろう');
    await admin.getByLabel('職種', { exact: true }).selectOption({ label: '訪問介護員' });
    await clickTo(admin, admin.getByRole('button', { name: '招待する', exact: true }));
    const link = (await admin.locator('#invitation-link').innerText()).trim();
    assert.ok(link.startsWith(`${server.baseUrl}/invite/`), `the invitation link ${link} points at this server`);
    await assertNoHorizontalOverflow(admin);

    const ctx = await newPhone('invitee');
    const page = await ctx.newPage();
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: '招待を受ける' }).waitFor();
    assert.match(await page.locator('main').innerText(), /鈴木 一郎（e2e-suzuki）/);
    const password = 'e2e-invited-password-42';
    await page.getByLabel('新しいパスワード', { exact: true }).fill(password);
    await page.getByLabel('もう一度入力', { exact: true }).fill(password);
    await clickTo(page, page.getByRole('button', { name: 'アカウントを有効にする', exact: true }));
    assertPath(page, '/login');
    await login(page, 'e2e-suzuki', password);
    await expectGreeting(page, '鈴木 一郎');
    assert.match(await page.locator('main').innerText(), /訪問介護員/);
    assertNoProblems();
    await ctx.close();
  });

  step("admin disables caremanager; caremanager's open session ends at the next page", async () => {
    const ctx = await newPhone('caremanager');
    const cm = await ctx.newPage();
    await login(cm, 'caremanager');
    await expectGreeting(cm, '田中 由美');

    await clickTo(admin, admin.getByRole('link', { name: '管理', exact: true }));
    await clickTo(admin, admin.getByRole('link', { name: '利用者', exact: true }));
    assertPath(admin, '/admin/people');
    const row = admin.locator('li.person[data-login="caremanager"]');
    await clickTo(admin, row.getByRole('button', { name: '無効にする', exact: true }));
    assertPath(admin, '/admin/people');
    assert.match(await admin.locator('li.person[data-login="caremanager"]').getAttribute('class'), /\bdisabled\b/);
    await admin.locator('li.person[data-login="caremanager"]').getByRole('button', { name: '有効にする', exact: true }).waitFor();

    await clickTo(cm, cm.getByRole('link', { name: 'ホーム', exact: true }));
    assert.equal(new URL(cm.url()).pathname, '/login', `the disabled person's next page is ${cm.url()}, not the login page`);
    await cm.getByRole('heading', { level: 1, name: 'ログイン' }).waitFor();

    // And the password no longer lets them in.
    await login(cm, 'caremanager');
    assert.equal(new URL(cm.url()).pathname, '/login');
    assert.equal((await cm.getByRole('alert').first().innerText()).trim(), 'このアカウントは無効にされています。管理者に連絡してください。');
    assertNoProblems([/Failed to load resource: the server responded with a status of 401/]);
    await ctx.close();
  });
});
