// End-to-end test of the web client: two users in two browser contexts.
//
//   cd tests/e2e && npm install        (playwright-core only; no browser download)
//   CHAT_URL=http://127.0.0.1:18080 node tests/e2e/chat.spec.mjs
//
// Uses Debian's /usr/bin/chromium (override with CHROMIUM). Exits non-zero
// with a clear message on failure; screenshots of the failure go to
// $E2E_ARTIFACTS (default /tmp/chat-e2e). On success it refreshes
// docs/screenshots/{login,chat,chat-narrow}.png when E2E_SCREENSHOTS=1.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.CHAT_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(here, '../../docs/screenshots');
const ARTIFACTS = process.env.E2E_ARTIFACTS || '/tmp/chat-e2e';
const WANT_SHOTS = process.env.E2E_SCREENSHOTS === '1'; // rewrite docs/screenshots only on purpose
const T = Number(process.env.E2E_TIMEOUT_MS || 5000); // live-update deadline

const suffix = crypto.randomBytes(4).toString('hex');
const alice = { username: `alice_${suffix}`, password: `pw-${suffix}-alice!`, display: 'Alice Example' };
const bob = { username: `bob_${suffix}`, password: `pw-${suffix}-bob!`, display: 'Bob Example' };

let browser;
const pages = {};
const problems = []; // page errors, failed API calls worth reporting
let step = 'start';

function log(msg) { console.log(`[e2e] ${msg}`); }

class Failure extends Error {}
function fail(msg) { throw new Failure(msg); }

async function expectVisible(page, locator, what, timeout = T) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch {
    fail(`${what}: not visible within ${timeout} ms`);
  }
}

async function waitFor(what, fn, timeout = T) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e.message; }
    if (Date.now() > deadline) fail(`${what}: not true within ${timeout} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newUserPage(name, viewport) {
  const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: 'light', locale: 'en-US', timezoneId: 'UTC' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('response', (r) => {
    const u = r.url();
    if (process.env.E2E_DEBUG && u.includes('/api/v1/')) log(`${name}: ${r.request().method()} ${u.replace(/ticket=[^&]+/, 'ticket=…')} -> ${r.status()}`);
    if (u.includes('/api/v1/') && r.status() >= 500) problems.push(`${name}: ${r.request().method()} ${u} -> ${r.status()}`);
  });
  let loads = 0;
  page.on('load', () => { loads++; });
  page.loadCount = () => loads;
  pages[name] = page;
  return page;
}

async function register(page, user, { shot } = {}) {
  await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 15000 });
  await expectVisible(page, page.locator('#auth-form'), `${user.username}: login form`, 10000);
  await page.click('#auth-toggle');
  await expectVisible(page, page.locator('#auth-display-name'), `${user.username}: display name field in register mode`);
  await page.fill('#auth-username', user.username);
  await page.fill('#auth-password', user.password);
  await page.fill('#auth-display-name', user.display);
  if (shot) await shot();
  await page.click('#auth-submit');
  try {
    await page.locator('#app-view').waitFor({ state: 'visible', timeout: 10000 });
  } catch {
    const err = await page.locator('#auth-error').textContent().catch(() => '');
    fail(`${user.username}: registration did not reach the app within 10 s${err ? ` (form says: "${err}")` : ''}`);
  }
  await waitFor(`${user.username}: own name in top bar`,
    async () => (await page.textContent('#me-name')).includes(user.username));
}

async function waitConnected(page, who) {
  await waitFor(`${who}: live stream connected (#conn-state[data-state=connected])`,
    async () => (await page.getAttribute('#conn-state', 'data-state')) === 'connected', 10000);
}

function messageItems(page, text) {
  return page.locator('#message-list li[data-testid="message"]', { hasText: text });
}

async function expectOneMessage(page, who, text, { status } = {}) {
  await waitFor(`${who}: message "${text}" shown${status ? ` with status ${status}` : ''}`, async () => {
    const items = messageItems(page, text);
    const n = await items.count();
    if (n !== 1) return false;
    if (!status) return true;
    const st = await items.first().getAttribute('data-status');
    return status.includes(st) ? true : false;
  });
}

async function expectNoDuplicates(page, who, text) {
  const n = await messageItems(page, text).count();
  if (n !== 1) fail(`${who}: message "${text}" is shown ${n} times (want exactly once)`);
  const seq = await messageItems(page, text).first().getAttribute('data-seq');
  if (!seq) fail(`${who}: message "${text}" never got its server seq (still optimistic)`);
  return Number(seq);
}

// A second session through the API itself (for bulk set-up).
async function api(method, pathname, body, token) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${BASE}/api/v1${pathname}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status === 429 && attempt < 20) {
      await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('Retry-After') || 1)));
      continue;
    }
    if (!res.ok) fail(`API ${method} ${pathname} -> ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
}
const apiLogin = async (u) => (await api('POST', '/auth/login', { username: u.username, password: u.password })).access_token;
const apiPost = (token, pathname, body) => api('POST', pathname, body, token);

async function shotTo(page, file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file });
  log(`screenshot ${path.relative(process.cwd(), file)}`);
}

async function main() {
  log(`CHAT_URL=${BASE} users ${alice.username} / ${bob.username}`);
  browser = await chromium.launch({
    executablePath: EXE,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });

  const A = await newUserPage('alice', { width: 1100, height: 720 });
  const B = await newUserPage('bob', { width: 1100, height: 720 });

  step = 'register alice';
  await register(A, alice, {
    shot: WANT_SHOTS ? () => shotTo(A, path.join(SHOTS, 'login.png')) : null,
  });
  step = 'register bob';
  await register(B, bob);

  step = 'streams connect';
  await waitConnected(A, 'alice');
  await waitConnected(B, 'bob');
  const loadsA = A.loadCount();
  const loadsB = B.loadCount();

  step = 'alice starts a direct chat with bob';
  await A.fill('#direct-username', bob.username);
  await A.click('#direct-submit');
  await expectVisible(A, A.locator('#chat-pane'), 'alice: chat pane after starting the chat');
  await waitFor('alice: chat title is bob\'s username', async () => (await A.textContent('#chat-title')) === bob.username);
  const chatId = await waitFor('alice: open chat in the list',
    async () => A.locator('#chat-list li[data-chat-id] [aria-current="true"]').count()
      .then((n) => (n === 1 ? A.locator('#chat-list li:has([aria-current="true"])').getAttribute('data-chat-id') : false)));
  log(`chat ${chatId}`);

  step = 'alice sends the first message';
  const m1 = `Hello Bob! ${suffix} — café ✓`;
  await A.fill('#message-input', m1);
  await A.press('#message-input', 'Enter');
  if ((await A.inputValue('#message-input')) !== '') fail('alice: the composer was not cleared after Enter');
  await expectOneMessage(A, 'alice', m1, { status: ['sent', 'delivered', 'read'] });
  const seq1 = await expectNoDuplicates(A, 'alice', m1);
  if (seq1 !== 1) fail(`alice: first message has seq ${seq1}, want 1`);

  step = 'bob sees the chat appear live';
  const bobItem = B.locator(`#chat-list li[data-chat-id="${chatId}"]`);
  await expectVisible(B, bobItem, 'bob: the new chat in his list (live, no reload)');
  await waitFor('bob: chat titled with alice\'s username',
    async () => (await bobItem.locator('[data-testid="chat-title"]').textContent()) === alice.username);
  await waitFor('bob: preview shows alice\'s message',
    async () => (await bobItem.locator('[data-testid="chat-preview"]').textContent()).includes(`Hello Bob! ${suffix}`));
  await waitFor('bob: unread badge 1',
    async () => (await bobItem.locator('[data-testid="unread-badge"]').getAttribute('data-count', { timeout: 200 }).catch(() => '')) === '1');

  step = 'bob opens the chat';
  await bobItem.locator('button').click();
  await expectVisible(B, B.locator('#chat-pane'), 'bob: chat pane');
  await waitFor('bob: chat title is alice\'s username', async () => (await B.textContent('#chat-title')) === alice.username);
  await expectOneMessage(B, 'bob', m1);
  await waitFor('bob: unread badge gone after opening',
    async () => (await bobItem.locator('[data-testid="unread-badge"]').count()) === 0);

  step = 'bob replies';
  const m2 = `Hi Alice, got it ${suffix}.`;
  await B.fill('#message-input', m2);
  await B.press('#message-input', 'Enter');
  await expectOneMessage(B, 'bob', m2, { status: ['sent', 'delivered', 'read'] });

  step = 'alice sees the reply live';
  await expectOneMessage(A, 'alice', m2);
  const seq2 = await expectNoDuplicates(A, 'alice', m2);
  if (seq2 !== 2) fail(`alice: reply has seq ${seq2}, want 2`);
  await expectNoDuplicates(A, 'alice', m1);

  step = 'alice sends again, bob sees it in the open chat';
  const m3 = `Great, talk soon ${suffix}. Multi-line:\nsecond line`;
  await A.fill('#message-input', m3);
  await A.press('#message-input', 'Enter');
  await expectOneMessage(B, 'bob', 'Great, talk soon');
  await expectOneMessage(A, 'alice', 'Great, talk soon', { status: ['sent', 'delivered', 'read'] });

  step = 'no duplicates and no reloads';
  await new Promise((r) => setTimeout(r, 500)); // let any late echo arrive
  for (const [p, who] of [[A, 'alice'], [B, 'bob']]) {
    for (const t of [m1, m2, 'Great, talk soon']) await expectNoDuplicates(p, who, t);
    const seqs = await p.locator('#message-list li[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    if (seqs.join(',') !== '1,2,3') fail(`${who}: message seqs shown are [${seqs}], want [1,2,3]`);
  }
  if (A.loadCount() !== loadsA) fail('alice: the page reloaded during the conversation');
  if (B.loadCount() !== loadsB) fail('bob: the page reloaded during the conversation');

  step = 'read receipt';
  // Bob had the chat open, so alice's third message should become "read".
  await waitFor('alice: last message marked read (receipt from bob)',
    async () => (await messageItems(A, 'Great, talk soon').getAttribute('data-status')) === 'read', T)
    .catch((e) => { log(`note: ${e.message} (receipts are optional)`); });

  step = 'alice creates a group with bob';
  const groupTitle = `Team ${suffix}`;
  await A.click('#new-group summary');
  await A.fill('#group-title', groupTitle);
  await A.fill('#group-members', bob.username);
  await A.click('#group-submit');
  await waitFor('alice: group open with its title', async () => (await A.textContent('#chat-title')) === groupTitle);
  const groupId = await A.locator('#chat-list li:has([aria-current="true"])').getAttribute('data-chat-id');
  const bobGroup = B.locator(`#chat-list li[data-chat-id="${groupId}"]`);
  await expectVisible(B, bobGroup, 'bob: the new group in his list (live)');
  await waitFor('bob: group titled', async () => (await bobGroup.locator('[data-testid="chat-title"]').textContent()) === groupTitle);

  step = 'history paging: 55 messages posted through the API';
  const N = 55;
  const token = await apiLogin(alice);
  for (let i = 1; i <= N; i++) await apiPost(token, `/chats/${groupId}/messages`, { content: `bulk ${i} ${suffix}`, client_msg_id: `bulk-${suffix}-${i}` });
  await waitFor(`bob: unread badge ${N} on the group (live)`,
    async () => (await bobGroup.locator('[data-testid="unread-badge"]').getAttribute('data-count', { timeout: 200 }).catch(() => '')) === String(N));
  await expectVisible(A, messageItems(A, `bulk ${N} ${suffix}`), 'alice: her API-posted messages appear in her open group');
  await bobGroup.locator('button').click();
  await waitFor('bob: group shows the newest page', async () => (await B.textContent('#chat-title')) === groupTitle
    && (await B.locator('#message-list li[data-seq]').count()) >= 50);
  const olderBtn = B.locator('#load-older-btn');
  // Scrolling to the top may load the older page by itself, and then the
  // button goes away: clicking it is then unnecessary.
  if (await olderBtn.isVisible()) await olderBtn.click({ timeout: 1000 }).catch(() => {});
  await waitFor(`bob: all ${N} messages after "load older"`, async () => {
    const seqs = await B.locator('#message-list li[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    return seqs.length === N && seqs.every((v, i) => v === i + 1) ? true : `${seqs.length} shown, first ${seqs[0]}`;
  });
  await waitFor('bob: "load older" no longer offered with the whole history shown',
    async () => !(await olderBtn.isVisible()), 1000);

  step = 'back to the direct chat';
  await A.locator(`#chat-list li[data-chat-id="${chatId}"] button`).click();
  await B.locator(`#chat-list li[data-chat-id="${chatId}"] button`).click();
  await expectOneMessage(A, 'alice', m2);
  await expectOneMessage(B, 'bob', m2);

  if (WANT_SHOTS) {
    step = 'screenshots';
    await A.locator('#message-input').fill('');
    await A.locator('#message-input').blur();
    await shotTo(A, path.join(SHOTS, 'chat.png'));
    await B.setViewportSize({ width: 390, height: 740 });
    await B.locator('#message-input').blur();
    await new Promise((r) => setTimeout(r, 100));
    await shotTo(B, path.join(SHOTS, 'chat-narrow.png'));
  }

  step = 'reload keeps the session (refresh token)';
  await A.reload({ waitUntil: 'domcontentloaded' });
  await expectVisible(A, A.locator('#app-view'), 'alice: app after reload (quiet refresh with the stored refresh token)', 10000);
  await expectVisible(A, A.locator(`#chat-list li[data-chat-id="${chatId}"]`), 'alice: chat list after reload');

  step = 'log out';
  await A.click('#logout-btn');
  await expectVisible(A, A.locator('#auth-form'), 'alice: login form after logging out');
  const stored = await A.evaluate(() => localStorage.getItem('chat.refresh_token'));
  if (stored) fail('alice: refresh token still in localStorage after logout');

  step = 'log in again';
  await A.fill('#auth-username', alice.username);
  await A.fill('#auth-password', alice.password);
  await A.press('#auth-password', 'Enter');
  await expectVisible(A, A.locator(`#chat-list li[data-chat-id="${chatId}"]`), 'alice: chat list after logging in again', 10000);

  const serious = problems.filter((p) => !/favicon/.test(p));
  if (serious.length) fail(`problems seen in the pages:\n  ${serious.join('\n  ')}`);
  log('PASS');
}

main().then(async () => {
  await browser.close();
  process.exit(0);
}).catch(async (e) => {
  const msg = e instanceof Failure ? e.message : (e.stack || String(e));
  console.error(`[e2e] FAIL at step "${step}": ${msg}`);
  if (problems.length) console.error(`[e2e] also seen:\n  ${problems.join('\n  ')}`);
  try {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const [name, p] of Object.entries(pages)) {
      await p.screenshot({ path: path.join(ARTIFACTS, `fail-${name}.png`) }).catch(() => {});
    }
    console.error(`[e2e] failure screenshots in ${ARTIFACTS}`);
  } catch { /* ignore */ }
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
});
