// GraphiQL in a real browser: headless Chromium, with every request that is not to saaskit
// refused (no internet), opens /graphiql on a production saaskit, pastes a staff token into the
// headers editor, runs a staff query and reads the result and the documentation explorer.
// A screenshot is left at target/graphiql.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

import { ROOT, signUp, staffToken, startSaaskit } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let server;
let browser;
let profile;
before(async () => {
  server = await startSaaskit();
  profile = mkdtempSync(join(tmpdir(), 'saaskit-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
});
after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.stop();
});

/** Replaces the text of the CodeMirror editor under `selector` as a paste would. */
async function paste(page, selector, text) {
  await page.click(`${selector} .CodeMirror`);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.sendCharacter(text);
  // GraphiQL reads an edited document (its operation names) after a short debounce.
  await new Promise((resolve) => setTimeout(resolve, 600));
}

const HEADERS = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';

const editorText = (page, selector) =>
  page.$eval(`${selector} .CodeMirror`, (element) => element.CodeMirror.getValue());

test('staff explore saaskit in GraphiQL with a token in the headers editor', async () => {
  const page = await browser.newPage();
  try {
    await explore(page);
  } catch (err) {
    mkdirSync(join(ROOT, 'target'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'target', 'graphiql-failure.png') }).catch(() => {});
    throw err;
  }
});

async function explore(page) {
  await signUp(server, 'ada@example.com', 'Acme Rockets');
  await signUp(server, 'bob@example.com', 'Globex Widgets');
  const token = await staffToken(server);

  await page.setViewport({ width: 1400, height: 900 });
  const offsite = [];
  const problems = [];
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (request.url().startsWith(server.url) || request.url().startsWith('data:')) {
      request.continue();
    } else {
      offsite.push(request.url());
      request.abort();
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));

  await page.evaluateOnNewDocument(() => {
    window.policyViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.policyViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const response = await page.goto(`${server.url}/graphiql`, { waitUntil: 'networkidle0' });
  assert.equal(response.status(), 200);
  const policy = response.headers()['content-security-policy'];
  assert.match(policy, /^default-src 'self'/);
  assert.doesNotMatch(policy, /unsafe/);
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror');

  // The headers editor is open by default; staff paste their token there.
  const [tab] = await page.$$('xpath/.//button[normalize-space(.)="Headers"]');
  assert.ok(tab, 'a Headers tab');
  await tab.click();
  await page.waitForSelector(`${HEADERS} .CodeMirror`, { visible: true });
  await paste(page, HEADERS, JSON.stringify({ Authorization: `Bearer ${token}` }));
  assert.match(await editorText(page, HEADERS), /Bearer /);

  const query = '{ businesses(first: 5) { edges { node { name } } } }';
  await paste(page, '.graphiql-query-editor', query);
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    () => {
      const result = document.querySelector('.result-window .CodeMirror');
      return result && result.CodeMirror.getValue().includes('Globex Widgets');
    },
    { timeout: 20_000 },
  );
  const result = JSON.parse(await editorText(page, '.result-window'));
  assert.deepEqual(
    result.data.businesses.edges.map((edge) => edge.node.name).sort(),
    ['Acme Rockets', 'Globex Widgets'],
  );

  // The schema loaded at start was refused (production, no token yet); with the token it loads.
  await page.click('.graphiql-sidebar button[aria-label="Re-fetch GraphQL schema"]');
  await page.click('.graphiql-sidebar button[aria-label$="Documentation Explorer"]');
  await page.waitForFunction(
    () => document.querySelector('.graphiql-doc-explorer')?.innerText.includes('Query'),
    { timeout: 20_000 },
  );
  const docs = await page.$eval('.graphiql-doc-explorer', (element) => element.innerText);
  assert.match(docs, /query:\s*Query/);
  assert.match(docs, /mutation:\s*Mutation/);

  mkdirSync(join(ROOT, 'target'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'target', 'graphiql.png') });

  assert.deepEqual(offsite, [], 'GraphiQL asked for nothing outside saaskit');
  assert.deepEqual(await page.evaluate(() => window.policyViolations), []);
  const blocked = problems.filter((text) => /Content Security Policy|Refused to/i.test(text));
  assert.deepEqual(blocked, [], 'nothing was blocked by the page\'s policy');
}
