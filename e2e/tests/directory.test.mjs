// Real-browser tests of the regional resource directory (issue 4, "Done when", first bullet):
// headless Debian Chromium, phone-sized, in Japanese, with the demo region, against the real
// server binary. The map runs without any remote tiles (the server is started with an empty
// tile URL; see lib/server.mjs).
//
// 1. physician (operator of 犀川ホームクリニック) adds consultation hours covering this very
//    moment → caremanager searches home-visit clinics near her patient's home with
//    "consultation possible now", finds the clinic on the list and the map, and reads its contact
//    route on its page.
// 2. shortstay (operator of ショートステイ卯辰の郷) sets tomorrow's free beds on the phone page →
//    caremanager sees the new figure on the facility's page and sends an inquiry → the facility
//    answers "call me" → both histories show it.
// 3. A resident, not logged in, finds the center for district 犀川 (たがみ) and sees no
//    professional-only field anywhere on the way.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  assertNoHorizontalOverflow,
  backend,
  clickTo,
  harness,
  login,
  screenshot,
} from '../lib/browser.mjs';

const h = harness('directory');
const { newPhone, assertNoProblems, step } = h;

/** Now in Japan: { day: 'YYYY-MM-DD', weekday: 0 = Monday, minute }. */
function nowJst(offsetDays = 0) {
  const t = new Date(Date.now() + 9 * 3600_000 + offsetDays * 86_400_000);
  return {
    day: t.toISOString().slice(0, 10),
    weekday: (t.getUTCDay() + 6) % 7,
    minute: t.getUTCHours() * 60 + t.getUTCMinutes(),
  };
}

const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** Opens the first search result named `name` and returns the provider's id. */
async function openProvider(page, query, name) {
  await page.goto(`/directory?q=${encodeURIComponent(query)}`);
  const link = page.locator('#results li.provider a', { hasText: name }).first();
  await clickTo(page, link);
  return page.locator('#provider').getAttribute('data-id');
}

describe(`the regional resource directory in a phone browser (${backend})`, () => {
  h.hooks();

  let clinicId;

  step('the attending physician adds consultation hours to his clinic that cover this moment', async () => {
    const ctx = await newPhone('physician');
    const page = await ctx.newPage();
    await login(page, 'physician');
    clinicId = await openProvider(page, '犀川ホーム', '犀川ホームクリニック');
    assert.ok(clinicId, 'the clinic page carries its id');
    await page.goto(`/directory/${clinicId}/hours`);
    const { weekday, minute } = nowJst();
    const start = Math.max(0, minute - 60);
    const end = Math.min(1440, minute + 120);
    await page.locator('#weekday').selectOption(String(weekday));
    await page.locator('#start').fill(hhmm(start));
    await page.locator('#end').fill(end === 1440 ? '24:00' : hhmm(end));
    await page.locator('#physician').fill('山田 太郎 医師');
    await clickTo(page, page.locator('#add-slot-submit'));
    await page.locator('#done').waitFor();
    // On a public holiday the weekly hours hold only where the clinic says so.
    if (!(await page.locator('#holidays-on').isChecked())) {
      await page.locator('#holidays-on').check();
      await clickTo(page, page.locator('#holidays-submit'));
    }
    await page.goto(`/directory/${clinicId}`);
    assert.equal(await page.locator('#consult-now').getAttribute('data-open'), 'true');
    await assertNoHorizontalOverflow(page);
    assertNoProblems();
    await ctx.close();
  });

  step('a care manager finds a home-visit clinic near her patient with consultation now, and its contact route', async () => {
    const ctx = await newPhone('caremanager');
    const page = await ctx.newPage();
    await login(page, 'caremanager');
    await page.goto('/directory');
    // Her patient's home (the option is the patient she is a member of).
    const options = await page.locator('#near_patient option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    assert.equal(options.length, 1, 'the care manager is on one patient team');
    await page.locator('#near_patient').selectOption(options[0]);
    await page.locator('#more-filters summary').click();
    await page.locator('#capability input[value="visiting_care"]').check();
    await page.locator('#consult_now').check();
    await clickTo(page, page.locator('#search-submit'));
    const results = page.locator('#results li.provider');
    assert.ok((await results.count()) >= 1, 'at least one clinic is open for calls now');
    const names = await results.locator('a').first().allInnerTexts();
    assert.ok(
      (await page.locator('#results li.provider', { hasText: '犀川ホームクリニック' }).count()) === 1,
      `犀川ホームクリニック is among the results (first: ${names})`,
    );
    // The map draws the results as markers, without any tiles.
    await page.locator('#map[data-map-ready]').waitFor();
    assert.ok(Number(await page.locator('#map').getAttribute('data-map-count')) >= 1);
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'directory-near-patient');
    await clickTo(page, page.locator('#results li.provider a', { hasText: '犀川ホームクリニック' }).first());
    await page.locator('#contact-route').waitFor();
    assert.equal((await page.locator('#contact-person').innerText()).trim(), '地域連携室 森');
    assert.match(await page.locator('#contact-line').innerText(), /076-241-3309/);
    assert.equal(await page.locator('#consult-now').getAttribute('data-open'), 'true');
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'directory-clinic-professional');
    assertNoProblems();
    await ctx.close();
  });

  let facilityId;
  const tomorrow = nowJst(1).day;

  step('the short-stay operator sets tomorrow\'s free beds on her phone', async () => {
    const ctx = await newPhone('shortstay');
    const page = await ctx.newPage();
    await login(page, 'shortstay');
    facilityId = await openProvider(page, '卯辰の郷', 'ショートステイ卯辰の郷');
    await clickTo(page, page.locator('#vacancy-update'));
    await page.locator('#vacancy-form').waitFor();
    await assertNoHorizontalOverflow(page);
    await page.locator(`#beds-${tomorrow}`).fill('7');
    await clickTo(page, page.locator('#save-vacancies'));
    await page.locator('#saved').waitFor();
    assert.equal(await page.locator(`#beds-${tomorrow}`).inputValue(), '7');
    assert.equal(await page.locator(`#vrow-${tomorrow}`).getAttribute('data-state'), 'fresh');
    await screenshot(page, 'directory-vacancies-operator');
    assertNoProblems();
    await ctx.close();
  });

  step('a care manager sees the new figure and sends an inquiry; the facility answers; both see it', async () => {
    const cm = await newPhone('caremanager-inquiry');
    const page = await cm.newPage();
    await login(page, 'caremanager');
    await page.goto(`/directory/${facilityId}`);
    const day = page.locator(`#vday-${tomorrow}`);
    assert.equal(await day.getAttribute('data-state'), 'fresh');
    assert.equal(await day.getAttribute('data-beds'), '7');
    await page.locator('#inquiry-first-day').fill(tomorrow);
    await page.locator('#inquiry-last-day').fill(tomorrow);
    await page.locator('#inquiry-beds').fill('1');
    await page.locator('#inquiry-note').fill('要介護3、車椅子。3泊の予定です。');
    await clickTo(page, page.locator('#inquiry-send'));
    const mine = page.locator('li.inquiry', { hasText: 'ショートステイ卯辰の郷' }).first();
    assert.equal(await mine.getAttribute('data-status'), 'open');
    const inquiryId = (await mine.getAttribute('id')).replace('inquiry-', '');
    await assertNoHorizontalOverflow(page);

    const op = await newPhone('shortstay-inbox');
    const inbox = await op.newPage();
    await login(inbox, 'shortstay');
    await inbox.goto(`/directory/${facilityId}/inquiries`);
    await inbox.locator(`#answer-note-${inquiryId}`).fill('詳細をお電話で伺います。');
    await clickTo(inbox, inbox.locator(`#answer-${inquiryId} button[value="call_me"]`));
    assert.equal(await inbox.locator(`#inquiry-${inquiryId}`).getAttribute('data-status'), 'call_me');
    await assertNoHorizontalOverflow(inbox);

    await page.goto('/directory/inquiries');
    const answered = page.locator(`#inquiry-${inquiryId}`);
    assert.equal(await answered.getAttribute('data-status'), 'call_me');
    assert.match(await answered.innerText(), /詳細をお電話で伺います。/);
    await screenshot(page, 'directory-inquiry-answered');
    assertNoProblems();
    await cm.close();
    await op.close();
  });

  step('a resident, not logged in, finds the center for district 犀川 and sees no professional field', async () => {
    const ctx = await newPhone('resident');
    const page = await ctx.newPage();
    await page.goto('/directory/centers');
    await page.locator('#district').selectOption('犀川');
    await clickTo(page, page.locator('#center-finder button[type="submit"]'));
    await page.locator('#answer').waitFor();
    assert.match(await page.locator('#answer-name').innerText(), /たがみ/);
    await page.locator('#map[data-map-ready]').waitFor();
    await assertNoHorizontalOverflow(page);
    await screenshot(page, 'directory-center-finder');
    await clickTo(page, page.locator('#answer-name a'));
    assert.match(await page.locator('#provider-name').innerText(), /たがみ/);
    assert.equal(await page.locator('#contact-route').count(), 0, 'no contact route for residents');
    assert.equal(await page.locator('#consultation-hours').count(), 0, 'no consultation hours for residents');

    // The same on a clinic's page and in a search: nothing only professionals may see.
    await page.goto(`/directory/${clinicId}`);
    const text = await page.locator('body').innerText();
    for (const secret of ['地域連携室 森', '076-241-3309', '平日 13:00〜15:00', '山田 太郎 医師']) {
      assert.ok(!text.includes(secret), `a resident must not see ${secret}`);
    }
    await page.goto(`/directory?q=${encodeURIComponent('ｷｼｶﾜ')}`); // half-width katakana
    assert.ok((await page.locator('#results li.provider', { hasText: 'きしかわ' }).count()) >= 1);
    assert.equal(await page.locator('#consult_now').count(), 0, 'residents are not offered "consultation now"');
    assertNoProblems();
    await ctx.close();
  });
});
