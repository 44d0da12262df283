// Real-browser test of the main path of patient information sharing (issue 3, "Done when", first
// bullet): headless Debian Chromium driven by playwright-core, phone-sized, in Japanese, with the
// demo accounts, against the real server binary (its own server and database: SQLite in a temp
// folder, or the empty PostgreSQL database in TSUNAGU_E2E_DATABASE_URL).
//
//   cd e2e && npm test        # runs this file after tests/flows.test.mjs
//
// physician registers a patient and records consent → nurse asks to join and sees nothing while
// pending → physician approves → nurse writes a visit record with vitals while physician watches
// the patient page (it appears without reloading) → the chart shows the vitals → caremanager
// (never admitted) cannot open the patient → er-physician finds the patient and opens the
// emergency summary with a reason → an impossible vital sign is refused next to its field →
// consent is withdrawn and nurse is locked out at her next page.
// Not covered yet: the photo of the visit record (the timeline has no file upload form yet).

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  assertNoHorizontalOverflow,
  assertPath,
  backend,
  clickTo,
  expectGreeting,
  harness,
  login,
  screenshot,
} from '../lib/browser.mjs';

const h = harness('sharing');
const { newPhone, assertNoProblems, step } = h;

/** Today in Japan (the server's dates are Japanese dates), as YYYY-MM-DD. */
const todayJst = () => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Tokyo' }).format(new Date());

const PATIENT = {
  name: '繋 さくら',
  kana: 'つなぐ さくら',
  birth: '1938-04-12',
  sexLabel: '女性',
  careLevel: '要介護2',
  district: '森本',
  center: 'きしかわ',
  address: '石川県金沢市森本町1-2-3',
  phone: '076-000-1234',
  keyPerson: '繋 一郎（長男）',
  contacts: '繋 一郎・長男・090-0000-0000',
  conditions: '慢性心不全、2型糖尿病',
  allergies: 'ペニシリン系抗菌薬（発疹）',
  medications: 'フロセミド 20mg 朝1錠',
};
const VITALS = { temperature: '37.8', pulse: '92', systolic: '148', diastolic: '86', spo2: '94' };
const VISIT_TEXT = '訪問時、軽い咳あり。食事は半分程度摂取。';

/** The 404 page: the same answer as for a patient who does not exist. */
async function expectNotFound(page, pathname) {
  const res = await page.goto(pathname);
  assert.equal(res.status(), 404, `${pathname} answers ${res.status()}, not 404`);
  await page.getByRole('heading', { level: 1, name: 'ご希望の操作を完了できませんでした' }).waitFor();
  assert.equal((await page.getByRole('alert').first().innerText()).trim(), 'ページが見つかりません。');
  const main = await page.locator('main').innerText();
  for (const secret of [PATIENT.name, PATIENT.kana, PATIENT.allergies, VISIT_TEXT]) {
    assert.ok(!main.includes(secret), `the 404 page of ${pathname} shows ${secret}`);
  }
}
const NOT_FOUND = /Failed to load resource: the server responded with a status of 404/;

describe(`Patient information sharing in a phone browser (${backend})`, () => {
  h.hooks();

  let physician; // the attending physician's page
  let nurse;
  let patientId;
  let nurseCtx;

  step('physician registers a new patient through the labelled form', async () => {
    const ctx = await newPhone('physician');
    physician = await ctx.newPage();
    await login(physician, 'physician');
    await expectGreeting(physician, '山田 太郎');
    await clickTo(physician, physician.getByRole('link', { name: '患者を登録', exact: true }));
    assertPath(physician, '/patients/new');
    await physician.getByRole('heading', { level: 1, name: '患者を登録' }).waitFor();

    const form = physician.locator('#register');
    await form.getByLabel('氏名', { exact: true }).fill(PATIENT.name);
    await form.getByLabel('ふりがな', { exact: true }).fill(PATIENT.kana);
    await form.getByLabel('生年月日', { exact: true }).fill(PATIENT.birth);
    await form.getByRole('radio', { name: PATIENT.sexLabel, exact: true }).check();
    await form.getByLabel('要介護度', { exact: true }).selectOption({ label: PATIENT.careLevel });
    await form.getByLabel('住所', { exact: true }).fill(PATIENT.address);
    // The district comes from the list of the region's districts.
    const districts = await physician.locator('#districts option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(districts.includes(PATIENT.district), `the district list offers ${PATIENT.district} (${districts.length} districts)`);
    await form.getByLabel('地区（町名）', { exact: true }).fill(PATIENT.district);
    await form.getByLabel('電話番号', { exact: true }).fill(PATIENT.phone);
    await form.getByLabel('キーパーソン', { exact: true }).fill(PATIENT.keyPerson);
    await form.getByLabel('緊急連絡先', { exact: true }).fill(PATIENT.contacts);
    await form.getByLabel('主な病名', { exact: true }).fill(PATIENT.conditions);
    await form.getByLabel('アレルギー', { exact: true }).fill(PATIENT.allergies);
    await form.getByLabel('服用中の薬', { exact: true }).fill(PATIENT.medications);
    await assertNoHorizontalOverflow(physician);
    await clickTo(physician, form.getByRole('button', { name: '登録する', exact: true }));

    const m = new URL(physician.url()).pathname.match(/^\/patients\/([^/]+)$/);
    assert.ok(m, `after registering, ${physician.url()} is not a patient page`);
    patientId = m[1];
    assert.equal((await physician.locator('#patient-name').innerText()).trim(), PATIENT.name);
    assert.equal((await physician.locator('#patient-kana').innerText()).trim(), PATIENT.kana);
    assert.match(await physician.locator('#patient-center').innerText(), new RegExp(PATIENT.center));
    assert.match(await physician.locator('#patient-allergies').innerText(), /ペニシリン/);
    assert.match(await physician.locator('#patient-facts').innerText(), /女性.*要介護2/);
    assertNoProblems();
  });

  step('physician records the patient’s consent (today, default scope)', async () => {
    await clickTo(physician, physician.locator('#link-consent'));
    assertPath(physician, `/patients/${patientId}/consent`);
    await physician.getByRole('heading', { level: 1, name: '情報共有の同意' }).waitFor();
    const form = physician.locator('#consent-form');
    assert.ok(await form.getByRole('radio', { name: '本人', exact: true }).isChecked(), 'the patient is the default consenter');
    const scope = await form.getByLabel('同意の範囲', { exact: true }).inputValue();
    assert.match(scope, /情報の共有/, `the scope has a default: ${JSON.stringify(scope)}`);
    await form.getByLabel('同意日', { exact: true }).fill(todayJst());
    await clickTo(physician, form.getByRole('button', { name: '記録する', exact: true }));
    assert.equal((await physician.locator('#done').innerText()).trim(), '同意を記録しました。');
    assert.match(await physician.locator('#consent-state').innerText(), /有効な同意があります/);
    assert.match(await physician.locator('#consent-history .consented-on').first().innerText(), new RegExp(todayJst()));
    await assertNoHorizontalOverflow(physician);
    assertNoProblems();
  });

  step('nurse asks to join with the patient id and sees nothing while pending', async () => {
    nurseCtx = await newPhone('nurse');
    nurse = await nurseCtx.newPage();
    await login(nurse, 'nurse');
    await expectGreeting(nurse, '中村 美穂');
    const join = nurse.locator('#join-form');
    await join.getByLabel('患者ID（または主治医から受け取ったリンク）', { exact: true }).fill(patientId);
    await clickTo(nurse, join.getByRole('button', { name: '参加を申請する', exact: true }));
    await nurse.locator('#join-done').waitFor();
    assert.match(await nurse.locator('#join-done').innerText(), /申請を受け付けました/);

    await clickTo(nurse, nurse.getByRole('link', { name: 'ホームへ戻る', exact: true }));
    const row = nurse.locator(`#my-patients li.patient[data-id="${patientId}"]`);
    await row.waitFor();
    assert.match(await row.getAttribute('class'), /\bpending\b/);
    assert.equal(await row.locator('a').count(), 0, 'a pending request links to nothing');
    assert.ok(!(await row.innerText()).includes(PATIENT.allergies));

    await expectNotFound(nurse, `/patients/${patientId}`);
    await expectNotFound(nurse, `/patients/${patientId}/vitals`);
    assertNoProblems([NOT_FOUND]);
  });

  step('physician approves nurse on the team page', async () => {
    await physician.goto(`/patients/${patientId}`);
    await clickTo(physician, physician.locator('#link-team'));
    assertPath(physician, `/patients/${patientId}/team`);
    await physician.getByRole('heading', { level: 1, name: 'ケアチーム' }).waitFor();
    const pending = physician.locator('#pending li.pending-member').filter({ hasText: '中村 美穂' });
    assert.equal(await pending.count(), 1, 'nurse is listed as pending');
    assert.match(await pending.innerText(), /本人が参加を申請/);
    await clickTo(physician, pending.getByRole('button', { name: '承認', exact: true }));
    assert.equal((await physician.locator('#done').innerText()).trim(), '参加を承認しました。');
    const member = physician.locator('#members li.member').filter({ hasText: '中村 美穂' });
    assert.equal(await member.count(), 1, 'nurse is a member now');
    assert.match(await member.locator('.tag.role').innerText(), /メンバー/);
    await physician.locator('#no-pending').waitFor();
    await assertNoHorizontalOverflow(physician);
    await screenshot(physician, 'sharing-team');
    assertNoProblems();
  });

  step('nurse writes a visit record with vitals; physician’s open page shows it without reloading', async () => {
    // physician opens the patient page and keeps it open; the live stream must be connected.
    const live = physician.waitForResponse((r) => new URL(r.url()).pathname === `/patients/${patientId}/live`);
    await physician.goto(`/patients/${patientId}`);
    const liveRes = await live;
    assert.equal(liveRes.status(), 200, 'the live stream answers 200');
    await physician.locator('#no-entries').waitFor();
    await physician.evaluate(() => {
      window.__notReloaded = true;
    });

    await nurse.goto(`/patients/${patientId}`);
    assert.equal((await nurse.locator('#patient-name').innerText()).trim(), PATIENT.name);
    await nurse.locator('#write-visit > summary').click();
    const form = nurse.locator('#visit-form');
    await form.getByLabel('記録', { exact: true }).fill(VISIT_TEXT);
    await form.getByLabel(/^体温/).fill(VITALS.temperature);
    await form.getByLabel(/^脈拍/).fill(VITALS.pulse);
    await form.getByLabel(/^収縮期血圧/).fill(VITALS.systolic);
    await form.getByLabel(/^拡張期血圧/).fill(VITALS.diastolic);
    await form.getByLabel(/^SpO2/).fill(VITALS.spo2);
    await form.getByLabel('ケア上の注意事項', { exact: true }).fill('水分摂取量に注意');
    const written = Date.now();
    await clickTo(nurse, form.getByRole('button', { name: '記録する', exact: true }));
    assertPath(nurse, `/patients/${patientId}`);
    const own = nurse.locator('#entries article.entry').first();
    assert.match(await own.innerText(), /訪問時、軽い咳あり/);

    // The physician's page, untouched since it loaded.
    const entry = physician.locator('#entries article.entry-visit').filter({ hasText: VISIT_TEXT });
    await entry.waitFor({ timeout: 10_000 });
    const seconds = (Date.now() - written) / 1000;
    console.log(`the entry appeared on the physician's open page ${seconds.toFixed(1)} s after the nurse saved it`);
    assert.ok(await physician.evaluate(() => window.__notReloaded === true), 'the physician’s page was not reloaded');
    assert.match(await entry.getAttribute('class'), /\blive-new\b/);
    assert.equal(await physician.locator('#no-entries').count(), 0);
    assert.equal((await physician.locator('.live-notice').innerText()).trim(), '新しい記録があります');
    assert.equal((await entry.locator('.author').innerText()).trim(), '中村 美穂');
    const values = await entry.locator('.vitals .vital-value').allInnerTexts();
    const shown = [VITALS.temperature, VITALS.pulse, `${VITALS.systolic}/${VITALS.diastolic}`, VITALS.spo2];
    for (const v of shown) assert.ok(values.includes(v), `the entry shows ${v} among ${values.join(', ')}`);
    await assertNoHorizontalOverflow(physician);
    await screenshot(physician, 'sharing-patient');
    assertNoProblems();
  });

  step('nurse adds a photo; it reaches the physician’s open page with its thumbnail', async () => {
    // A real 8×8 PNG (a pressure-ulcer photo stands in), made here so the test needs no file.
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAMElEQVR4nG3CoREAIAADsQ72Go1Go9FoputYLPC5pKDTgU4nOl3odKPTg04vOn3oD4iXWMH/EGwrAAAAAElFTkSuQmCC',
      'base64',
    );
    await nurse.goto(`/patients/${patientId}`);
    await nurse.locator('#write-file > summary').click();
    await nurse.locator('#file').setInputFiles({ name: 'sacrum.png', mimeType: 'image/png', buffer: png });
    await nurse.locator('#file-caption').fill('仙骨部の発赤、直径2cm');
    await clickTo(nurse, nurse.locator('#file-form').getByRole('button', { name: '登録する', exact: true }));
    assertPath(nurse, `/patients/${patientId}`);
    const mine = nurse.locator('#entries article.entry').first();
    await mine.locator('img.thumb').waitFor();

    const entry = physician.locator('#entries article.entry').filter({ hasText: '仙骨部の発赤' });
    await entry.waitFor({ timeout: 10_000 });
    const thumb = entry.locator('img.thumb');
    await thumb.waitFor();
    const loaded = await thumb.evaluate((img) => img.complete && img.naturalWidth > 0);
    assert.ok(loaded, 'the thumbnail loads for a member');
    assert.ok(await physician.evaluate(() => window.__notReloaded === true), 'the physician’s page was not reloaded');
    assertNoProblems();
  });

  step('the vitals chart shows the nurse’s values in its SVG', async () => {
    await clickTo(physician, physician.locator('#link-vitals'));
    assertPath(physician, `/patients/${patientId}/vitals`);
    await physician.getByRole('heading', { level: 1, name: /バイタルの推移/ }).waitFor();
    const labels = await physician.locator('svg[aria-label]').evaluateAll((ss) => ss.map((s) => s.getAttribute('aria-label')));
    const temp = labels.find((l) => l.startsWith('体温'));
    assert.ok(temp, `a temperature chart among ${JSON.stringify(labels)}`);
    assert.match(temp, /最新 37\.8/, `the temperature chart's label: ${temp}`);
    assert.ok(labels.some((l) => /脈拍：最新 92/.test(l)), `the pulse chart: ${JSON.stringify(labels)}`);
    assert.ok(labels.some((l) => /SpO2：最新 94/.test(l)), `the SpO2 chart: ${JSON.stringify(labels)}`);
    assert.ok(labels.some((l) => /148/.test(l) && /86/.test(l)), `the blood pressure chart: ${JSON.stringify(labels)}`);
    // The points are drawn: every chart with a value has at least one mark.
    const marks = await physician.locator('.vital-chart svg circle').count();
    assert.ok(marks >= 5, `${marks} marks drawn`);
    await assertNoHorizontalOverflow(physician);
    await screenshot(physician, 'sharing-vitals-chart');
    assertNoProblems();
  });

  step('caremanager, never admitted, gets the 404 page for the patient', async () => {
    const ctx = await newPhone('caremanager');
    const cm = await ctx.newPage();
    await login(cm, 'caremanager');
    await expectGreeting(cm, '田中 由美');
    assert.equal(await cm.locator(`li.patient[data-id="${patientId}"]`).count(), 0);
    await expectNotFound(cm, `/patients/${patientId}`);
    const hidden = await cm.locator('main').innerText();
    await expectNotFound(cm, '/patients/00000000-0000-0000-0000-000000000000');
    const absent = await cm.locator('main').innerText();
    const strip = (t) => t.replace(/問い合わせ番号.*$/m, '');
    assert.equal(strip(hidden), strip(absent), 'the same answer as for a patient who does not exist');
    assertNoProblems([NOT_FOUND]);
    await ctx.close();
  });

  step('er-physician finds the patient by kana and birth date, states a reason, reads the summary', async () => {
    const ctx = await newPhone('er-physician');
    const er = await ctx.newPage();
    await login(er, 'er-physician');
    await expectGreeting(er, '高橋 誠');
    await clickTo(er, er.getByRole('link', { name: '救急時の患者検索', exact: true }));
    assertPath(er, '/emergency');
    await er.getByLabel('氏名（ふりがな）', { exact: true }).fill(PATIENT.kana);
    await er.getByLabel('生年月日', { exact: true }).fill(PATIENT.birth);
    await clickTo(er, er.getByRole('button', { name: '検索する', exact: true }));
    const found = er.locator('#results li.found');
    assert.equal(await found.count(), 1, 'one patient found');
    await clickTo(er, found.getByRole('link', { name: PATIENT.name }));
    assertPath(er, `/patients/${patientId}/emergency`);
    await er.getByRole('heading', { level: 1, name: '救急時閲覧' }).waitFor();
    await er.getByLabel('閲覧の理由', { exact: true }).fill('救急搬送（呼吸困難）のため既往歴と服薬を確認');
    await clickTo(er, er.getByRole('button', { name: '理由を記録して閲覧する', exact: true }));

    await er.getByRole('heading', { level: 1, name: '救急サマリー' }).waitFor();
    assert.match(await er.locator('#read-only').innerText(), /閲覧のみ/);
    assert.match(await er.locator('#allergies').innerText(), /ペニシリン系抗菌薬/);
    assert.match(await er.locator('#conditions').innerText(), /慢性心不全/);
    assert.match(await er.locator('#medications').innerText(), /フロセミド/);
    assert.match(await er.locator('#contacts').innerText(), /090-0000-0000/);
    assert.match(await er.locator('#vitals').innerText(), /37\.8/);
    assert.match(await er.locator('#team').innerText(), /中村 美穂/);
    // Read-only: no form in the page's content, no way to write.
    assert.equal(await er.locator('main form, main textarea, main input, main select').count(), 0, 'no write forms');
    assert.equal(await er.locator('#write, #visit-form').count(), 0);
    await assertNoHorizontalOverflow(er);
    await screenshot(er, 'sharing-emergency');
    // Still not a member: the patient page itself stays closed.
    await expectNotFound(er, `/patients/${patientId}`);
    assertNoProblems([NOT_FOUND]);
    await ctx.close();
  });

  step('an impossible temperature (365) is refused with the Japanese message next to the field', async () => {
    await physician.goto(`/patients/${patientId}`);
    await physician.locator('#write-vitals > summary').click();
    const form = physician.locator('#vitals-form');
    const field = form.getByLabel(/^体温/);
    await field.fill('365');
    await clickTo(physician, form.getByRole('button', { name: '記録する', exact: true }));
    // The answer (422) is the entry page with the form again, as typed, and the messages.
    await physician.locator('#fix-errors').waitFor();
    const again = physician.locator('#entry-form');
    const input = again.getByLabel(/^体温/);
    await input.waitFor();
    assert.equal(await input.getAttribute('aria-invalid'), 'true', 'the temperature field is marked invalid');
    assert.equal(await input.inputValue(), '365', 'the typed value stays');
    const describedBy = await input.getAttribute('aria-describedby');
    const error = physician.locator(`[id="${describedBy}"]`);
    const text = (await error.innerText()).trim();
    assert.match(text, /[ぁ-んァ-ヶ一-龠]/, `the message is Japanese: ${text}`);
    assert.match(text, /ありえない|範囲/, `the message says why: ${text}`);
    // Next to the field: the error follows the input inside the same vital's box.
    assert.ok(
      await input.evaluate((el, id) => el.nextElementSibling?.id === id, describedBy),
      'the message comes right after the field',
    );
    const box = await input.boundingBox();
    const ebox = await error.boundingBox();
    assert.ok(ebox.y >= box.y + box.height - 1 && ebox.y - (box.y + box.height) < 40, `the message is right under the field (${JSON.stringify({ box, ebox })})`);
    console.log(`the message for 365 ℃: ${text}`);
    await assertNoHorizontalOverflow(physician);
    await screenshot(physician, 'sharing-vital-error');
    // Nothing was saved: only the nurse's visit record and photo are on the timeline.
    await physician.goto(`/patients/${patientId}`);
    assert.equal(await physician.locator('#entries article.entry').count(), 2);
    // The refused form answers 422, which Chromium logs as a failed load: that one is expected.
    assertNoProblems([/Failed to load resource: the server responded with a status of 422/]);
  });

  step('physician withdraws consent; nurse’s next page of the patient is the 404 page', async () => {
    // nurse has the patient page open (with its live stream connected) when consent goes.
    const live = nurse.waitForResponse((r) => new URL(r.url()).pathname === `/patients/${patientId}/live`);
    await nurse.goto(`/patients/${patientId}`);
    await live;
    await physician.goto(`/patients/${patientId}/consent`);
    const form = physician.locator('#withdraw-form');
    await form.getByLabel('撤回の理由', { exact: true }).fill('本人から情報共有をやめたいと申し出があったため');
    await form.getByRole('checkbox', { name: '主治医以外のメンバーがすぐに閲覧できなくなることを確認しました' }).check();
    await clickTo(physician, form.getByRole('button', { name: '同意を撤回する', exact: true }));
    assert.match(await physician.locator('#done').innerText(), /同意を撤回しました/);
    assert.match(await physician.locator('#consent-state').innerText(), /有効な同意がありません/);
    assert.match(await physician.locator('#consent-history .withdrawal-reason').first().innerText(), /申し出/);

    // An entry written after the withdrawal must not reach nurse's still-open page through its
    // live stream (the stream is one long request made while she had access).
    await physician.goto(`/patients/${patientId}`);
    await physician.locator('#write-message > summary').click();
    const msg = physician.locator('#message-form');
    const secret = '撤回後の記録：在宅酸素の導入を検討';
    await msg.getByLabel('メッセージ', { exact: true }).fill(secret);
    await clickTo(physician, msg.getByRole('button', { name: '送信する', exact: true }));
    await physician.locator('#entries article.entry-message').filter({ hasText: secret }).waitFor();
    await nurse.waitForTimeout(3000);
    const leaked = await nurse.locator('#entries').innerText();
    assert.ok(!leaked.includes(secret), 'an entry written after the withdrawal reached nurse’s open page live');

    await expectNotFound(nurse, `/patients/${patientId}`);
    await expectNotFound(nurse, `/patients/${patientId}/vitals`);
    // The attending physician still sees the patient.
    const res = await physician.goto(`/patients/${patientId}`);
    assert.equal(res.status(), 200);
    assert.match(await physician.locator('#consent-state').innerText(), /有効な同意が記録されていません/);
    // The closed live stream of nurse's old page may log its refusal as the page unloads.
    assertNoProblems([NOT_FOUND, /EventSource/]);
  });
});
