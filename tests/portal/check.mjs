// Walks portal pages in Debian's Chromium: runs axe-core (WCAG 2.0/2.1 A and AA rules) on each and
// takes screenshots at 1280 and 360 px wide. Usage: node check.mjs OUTPUT_DIR STEP...
// where a STEP is one of
//   URL                 visit it, and check the page;
//   click:NAME          press the button named NAME (e.g. a person on the demo sign-in page) and
//                       check the page it leads to;
//   link:NAME           follow the link named NAME, and check the page it leads to;
//   press:NAME          press the button named NAME with the keyboard (focus, Enter) and check the
//                       page it leads to (a page framing a sandboxed document: the frame lives in
//                       a process of its own, and a mouse click right after scrolling can miss);
//   fill:LABEL=VALUE    type VALUE into the field labelled LABEL (no page to check);
//   check:LABEL, uncheck:LABEL   tick or untick the box labelled LABEL;
//   select:LABEL=OPTION choose OPTION (its visible text) in the list labelled LABEL;
//   upload:LABEL=PATH   give the file at PATH to the file field labelled LABEL;
//   cookie:NAME=VALUE@ORIGIN  give the browser a cookie for ORIGIN (a session the test opened).
// One browser context for the whole walk: a sign-in's session cookie carries on to the next steps.
// Prints one JSON line per step: {"step", "url", "status", "overflow", "text", "frames":
// [{url, text}], "violations": [{id, impact, help, nodes}]} for a page (frames: what each frame
// of the page shows), {"step", "action": true} for an action.
// Exits 0 whatever it finds: the Rust test decides. Never downloads a browser.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [output, ...steps] = process.argv.slice(2);
mkdirSync(output, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  // playwright gives each launch a fresh, empty profile of its own.
});
try {
  // axe is injected as a script: the pages' CSP forbids that, so only this checking context
  // bypasses it (the pages themselves run no script).
  const context = await browser.newContext({ bypassCSP: true, locale: 'fr-FR' });
  const page = await context.newPage();
  for (const [i, step] of steps.entries()) {
    const [kind, rest] = step.includes(':') && !/^https?:/.test(step) ? [step.slice(0, step.indexOf(':')), step.slice(step.indexOf(':') + 1)] : ['goto', step];
    const [label, value] = rest.includes('=') ? [rest.slice(0, rest.indexOf('=')), rest.slice(rest.indexOf('=') + 1)] : [rest, ''];
    if (kind === 'fill') { await page.getByLabel(label, { exact: true }).fill(value); }
    else if (kind === 'check') { await page.getByLabel(label, { exact: true }).check(); }
    else if (kind === 'uncheck') { await page.getByLabel(label, { exact: true }).uncheck(); }
    else if (kind === 'select') { await page.getByLabel(label, { exact: true }).selectOption({ label: value }); }
    else if (kind === 'upload') { await page.getByLabel(label, { exact: true }).setInputFiles(value); }
    else if (kind === 'cookie') {
      const at = value.lastIndexOf('@');
      await context.addCookies([{ name: label, value: value.slice(0, at), url: value.slice(at + 1) }]);
    }
    if (['fill', 'check', 'uncheck', 'select', 'upload', 'cookie'].includes(kind)) {
      console.log(JSON.stringify({ step, action: true }));
      continue;
    }
    let response;
    if (kind === 'press') {
      const button = page.getByRole('button', { name: rest, exact: true }).first();
      await button.focus();
      [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), button.press('Enter')]);
    } else if (kind === 'click' || kind === 'link') {
      const role = kind === 'click' ? 'button' : 'link';
      [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.getByRole(role, { name: rest, exact: true }).first().click(),
      ]);
    } else if (kind === 'goto') {
      response = await page.goto(step, { waitUntil: 'load' });
    } else {
      throw new Error(`unknown step ${step}`);
    }
    const status = response ? response.status() : 0;
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
    const url = page.url();
    const name = String(i).padStart(2, '0') + '-' + new URL(url).pathname.replace(/[^a-z0-9]+/gi, '_');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(output, `${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 360, height: 740 });
    await page.screenshot({ path: join(output, `${name}-360.png`), fullPage: true });
    // At 360 px nothing scrolls sideways (WCAG 1.4.10 reflow).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    const text = await page.evaluate(() => document.body.innerText);
    const frames = [];
    for (const frame of page.frames().filter((f) => f !== page.mainFrame())) {
      const shown = frame.evaluate(() => (document.body ? document.body.innerText : ''));
      const late = new Promise((resolve) => { setTimeout(() => resolve(''), 5000); });
      frames.push({ url: frame.url(), text: await Promise.race([shown, late]).catch(() => '') });
    }
    console.log(JSON.stringify({
      step,
      url,
      status,
      overflow,
      text,
      frames,
      violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })),
    }));
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  await context.close();
} finally {
  await browser.close();
}
