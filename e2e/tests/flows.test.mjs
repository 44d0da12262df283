// Real-browser tests of the foundation's main flows (DESIGN §5): headless Debian Chromium driven
// by playwright-core, on a phone-sized screen in Japanese, against the real server binary.
//
//   cd e2e && npm ci && npm test                         # SQLite in a temp folder
//   TSUNAGU_E2E_DATABASE_URL=postgres://…/db npm test     # PostgreSQL (each test file's server
//                                                        # gets a fresh database made next to db)
//
// Environment: TSUNAGU_BIN (the server binary), CARGO_TARGET_DIR, TSUNAGU_E2E_DATABASE_URL,
// TSUNAGU_E2E_PSQL (default psql), CHROMIUM_PATH (default /usr/bin/chromium). Screenshots go to
// e2e/screenshots/. Shared helpers: lib/browser.mjs.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  andWait,
  assertNoHorizontalOverflow,
  assertPath,
  backend,
  clickTo,
  expectGreeting,
  harness,
  login,
  screenshot,
} from '../lib/browser.mjs';
import { DEMO_PASSWORD } from '../lib/server.mjs';
import { base32Decode, hotp, timeStep, totp } from '../lib/totp.mjs';

const h = harness('flows');
const { newPhone, assertNoProblems, step } = h;

describe(`Tsunagu in a phone browser (${backend})`, () => {
  h.hooks();

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
    assert.ok(link.startsWith(`${h.server.baseUrl}/invite/`), `the invitation link ${link} points at this server`);
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
