// Real-browser test of API tokens on the security page (issue 5): on a phone, nurse creates a
// token, copies the value shown once, uses it from the page on the FHIR API (200), revokes it on
// the page (the confirmation opens without JavaScript), and the same call is then refused (401).
//
//   cd e2e && npm test        # runs this file after the others

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { assertNoHorizontalOverflow, backend, clickTo, harness, login, screenshot } from '../lib/browser.mjs';

const h = harness('tokens');
const { newPhone, assertNoProblems, step } = h;

/** `GET /fhir/Organization?_count=1` from the page with the token; the status. */
const callApi = (page, token) =>
  page.evaluate(
    async (t) => (await fetch('/fhir/Organization?_count=1', { headers: { Authorization: `Bearer ${t}` } })).status,
    token,
  );

describe(`API tokens in a phone browser (${backend})`, () => {
  h.hooks();

  step('nurse creates a token, uses it, revokes it on the page, and it stops working', async () => {
    const ctx = await newPhone('tokens');
    const page = await ctx.newPage();
    await login(page, 'nurse');
    await page.goto('/account/security');
    await page.getByLabel('用途（メモ）').fill('記録システム連携');
    await clickTo(page, page.getByRole('button', { name: 'トークンを発行する' }));

    // Shown once, with the note to copy it now, and listed as active.
    const box = page.locator('#new-token-box');
    assert.match(await box.innerText(), /いますぐコピー/);
    const token = (await page.locator('#new-token').innerText()).trim();
    assert.match(token, /^tsu_\S{32,}$/);
    const row = page.locator('#token-list tbody tr', { hasText: '記録システム連携' });
    assert.equal((await row.locator('.token-status-text').innerText()).trim(), '有効');
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'tokens-created');

    assert.equal(await callApi(page, token), 200);

    // Revoke: the confirmation opens, then the button.
    await row.getByText('失効させる…').click();
    await clickTo(page, row.getByRole('button', { name: '失効させる（元に戻せません）' }));
    assert.equal((await page.getByRole('status').first().innerText()).trim(), 'トークンを失効させました。このトークンはもう使えません。');
    const after = page.locator('#token-list tbody tr', { hasText: '記録システム連携' });
    assert.equal((await after.locator('.token-status-text').innerText()).trim(), '失効済み');
    assert.equal(await page.locator('#new-token').count(), 0, 'the token is not shown again');
    await assertNoHorizontalOverflow(page);

    assert.equal(await callApi(page, token), 401);
    // The refused call is logged by Chromium as a failed load: that one is expected.
    assertNoProblems([/Failed to load resource: the server responded with a status of 401/]);
    await ctx.close();
  });
});
