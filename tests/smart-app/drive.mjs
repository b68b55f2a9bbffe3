// Drives the SMART app (public/) in Debian's Chromium with playwright-core, for
// crates/server/tests/it/smart_launch.rs. Environment: CARNET_APP (the app's origin),
// CARNET_OTHER_APP (the same page on an origin Carnet does not allow), CARNET_FHIR_BASE,
// CARNET_IDENTIFIER (system|value of the seeded patient), CARNET_OUTPUT (screenshots).
// Prints one JSON line: what the app saw.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const app = env('CARNET_APP');
const other = env('CARNET_OTHER_APP');
const fhir = env('CARNET_FHIR_BASE');
const identifier = env('CARNET_IDENTIFIER');
const output = env('CARNET_OUTPUT');

const profile = mkdtempSync(join(tmpdir(), 'carnet-chromium-'));
// Never a downloaded browser: Debian's, headless, with nothing talking to the network by itself,
// on a fresh profile (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const seen = {};
let page;
try {
  page = await browser.newPage();
  page.setDefaultTimeout(20000);
  const launch = (pkce) => `${app}/launch.html?${new URLSearchParams({ iss: fhir, identifier, pkce })}`;

  // A launch without PKCE: the authorization server refuses it (fhirclient redirects back with the error).
  await page.goto(launch('disabled'));
  await page.waitForURL((url) => url.pathname === '/callback.html');
  seen.without_pkce = Object.fromEntries(new URL(page.url()).searchParams);

  // Up to the consent page: the login form first, unless the provider's session remembers the patient.
  const toConsent = async () => {
    const login = page.locator('input[name=login]');
    const allow = page.getByRole('button', { name: 'Autoriser' });
    await login.or(allow).first().waitFor();
    if (await login.isVisible()) {
      await login.fill('patient-demo');
      await page.getByRole('button', { name: 'Se connecter' }).click();
    }
    await allow.waitFor();
  };

  // The patient refuses: the app is told access_denied, and gets no token.
  await page.goto(launch('required'));
  await toConsent();
  await page.getByRole('button', { name: 'Refuser' }).click();
  await page.waitForURL((url) => url.pathname === '/callback.html');
  seen.refused = Object.fromEntries(new URL(page.url()).searchParams);

  // The standalone launch: login, the French consent page, "Autoriser", code exchange, reads.
  await page.goto(launch('required'));
  await toConsent();
  seen.consent = await page.locator('body').innerText();
  await page.screenshot({ path: join(output, 'consent.png'), fullPage: true });
  await page.getByRole('button', { name: 'Autoriser' }).click();
  await page.waitForURL((url) => url.pathname === '/callback.html');
  await page.waitForFunction(() => document.body.dataset.result, null, { timeout: 20000 });
  Object.assign(seen, JSON.parse(await page.evaluate(() => document.body.dataset.result)));

  // The same page on an origin Carnet does not allow: the browser refuses the call.
  const stranger = await browser.newPage();
  await stranger.goto(`${other}/blank.html`);
  seen.other_origin = await stranger.evaluate(async (url) => {
    try {
      const r = await fetch(url, { headers: { authorization: 'Bearer x', accept: 'application/fhir+json' } });
      return { ok: true, status: r.status };
    } catch (e) {
      return { ok: false, message: String(e) };
    }
  }, `${fhir}/DocumentReference?patient.identifier=${encodeURIComponent(identifier)}`);
} catch (e) {
  // Where the flow stopped, for the test's failure message.
  seen.failed = { error: String(e.message || e).split('\n')[0], url: page?.url(), text: await page?.locator('body').innerText().catch(() => null) };
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(seen));
