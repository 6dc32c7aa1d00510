// Shared helpers of the browser tests (*.spec.mjs). Every test runs against
// the real stack at CHAT_URL; nothing here mocks a server.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BASE = (process.env.CHAT_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
export const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.resolve(here, '../../docs/screenshots');
export const ARTIFACTS = process.env.E2E_ARTIFACTS || '/tmp/chat-e2e';
export const WANT_SHOTS = process.env.E2E_SCREENSHOTS === '1'; // rewrite docs/screenshots only on purpose
export const T = Number(process.env.E2E_TIMEOUT_MS || 5000); // live-update deadline
export const suffix = crypto.randomBytes(4).toString('hex');

export const ctx = { browser: null, pages: {}, problems: [], step: 'start', name: 'e2e' };

export function log(msg) { console.log(`[${ctx.name}] ${msg}`); }
export function setStep(s) { ctx.step = s; if (process.env.E2E_DEBUG) log(`step: ${s}`); }

export class Failure extends Error {}
export function fail(msg) { throw new Failure(msg); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function user(name) {
  return { username: `${name}_${suffix}`, password: `pw-${suffix}-${name}!`, display: `${name[0].toUpperCase()}${name.slice(1)} Example` };
}

export async function launch(extraArgs = []) {
  ctx.browser = await chromium.launch({
    executablePath: EXE,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
  return ctx.browser;
}

export async function waitFor(what, fn, timeout = T) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last === true || (last && typeof last !== 'string')) return last;
    } catch (e) { last = e.message; }
    if (Date.now() > deadline) fail(`${what}: not true within ${timeout} ms (last: ${JSON.stringify(last)})`);
    await sleep(50);
  }
}

export async function expectVisible(page, locator, what, timeout = T) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch {
    fail(`${what}: not visible within ${timeout} ms`);
  }
}

export async function newUserPage(name, viewport = { width: 1100, height: 720 }, { permissions = [] } = {}) {
  const c = await ctx.browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: 'light', locale: 'en-US', timezoneId: 'UTC', permissions });
  const page = await c.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => ctx.problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|net::ERR_/.test(m.text())) ctx.problems.push(`${name}: console error: ${m.text()}`);
    if (process.env.E2E_DEBUG && (m.type() === 'warning' || m.type() === 'error')) log(`${name} console ${m.type()}: ${m.text()}`);
  });
  page.on('dialog', (d) => d.accept());
  page.on('response', (r) => {
    const u = r.url();
    if (process.env.E2E_DEBUG && u.includes('/api/v1/')) log(`${name}: ${r.request().method()} ${u.replace(/ticket=[^&]+/, 'ticket=…')} -> ${r.status()}`);
    if (u.includes('/api/v1/') && r.status() >= 500 && !ctx.allow5xx) ctx.problems.push(`${name}: ${r.request().method()} ${u} -> ${r.status()}`);
  });
  ctx.pages[name] = page;
  return page;
}

export async function register(page, u, { connectTimeout = 10000 } = {}) {
  await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 15000 });
  await expectVisible(page, page.locator('#auth-form'), `${u.username}: login form`, 10000);
  await page.click('#auth-toggle');
  await page.fill('#auth-username', u.username);
  await page.fill('#auth-password', u.password);
  await page.fill('#auth-display-name', u.display);
  await page.click('#auth-submit');
  try {
    await page.locator('#app-view').waitFor({ state: 'visible', timeout: 10000 });
  } catch {
    const err = await page.locator('#auth-error').textContent().catch(() => '');
    fail(`${u.username}: registration did not reach the app within 10 s${err ? ` (form says: "${err}")` : ''}`);
  }
  await waitConnected(page, u.username, connectTimeout);
}

export async function waitConnected(page, who, timeout = 10000) {
  await waitFor(`${who}: live stream connected (#conn-state[data-state=connected])`,
    async () => (await page.getAttribute('#conn-state', 'data-state')) === 'connected', timeout);
}

export function messageItems(page, text) {
  // Matches the message's own text, not a quote of it in a reply.
  return page.locator('#message-list li[data-testid="message"]').filter({ has: page.locator(':scope > .bubble > .text', { hasText: text }) });
}

export async function expectOneMessage(page, who, text, { status } = {}, timeout = T) {
  await waitFor(`${who}: message "${text}" shown once${status ? ` with status ${status}` : ''}`, async () => {
    const items = messageItems(page, text);
    const n = await items.count();
    if (n !== 1) return `${n} shown`;
    if (!status) return true;
    const st = await items.first().getAttribute('data-status');
    return status.includes(st) ? true : `status ${st}`;
  }, timeout);
}

export async function shownSeqs(page) {
  return page.locator('#message-list li[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
}

export async function send(page, text) {
  await page.fill('#message-input', text);
  await page.press('#message-input', 'Enter');
}

export async function openChat(page, chatId) {
  await page.locator(`#chat-list li[data-chat-id="${chatId}"] button`).click();
  await waitFor(`chat ${chatId} open`, async () => (await page.locator(`#chat-list li[data-chat-id="${chatId}"] [aria-current="true"]`).count()) === 1);
}

export async function openChatId(page) {
  return page.locator('#chat-list li:has([aria-current="true"])').getAttribute('data-chat-id');
}

// The API itself, for set-up and for a third user without a browser.
export async function api(method, pathname, body, token, { ok = true } = {}) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${BASE}/api/v1${pathname}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status === 429 && attempt < 20) {
      await sleep(1000 * Number(res.headers.get('Retry-After') || 1));
      continue;
    }
    if (ok && !res.ok) fail(`API ${method} ${pathname} -> ${res.status} ${text}`);
    const data = text ? JSON.parse(text) : null;
    return ok ? data : { status: res.status, data };
  }
}
export async function apiRegister(u) {
  return api('POST', '/auth/register', { username: u.username, password: u.password, display_name: u.display });
}
export async function apiLogin(u) {
  return api('POST', '/auth/login', { username: u.username, password: u.password });
}

export async function shot(page, file) {
  const f = path.join(SHOTS, file);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  await page.screenshot({ path: f });
  log(`screenshot docs/screenshots/${file}`);
}

export function checkProblems() {
  const serious = ctx.problems.filter((p) => !/favicon/.test(p));
  if (serious.length) fail(`problems seen in the pages:\n  ${serious.join('\n  ')}`);
}

export function run(name, main) {
  ctx.name = name;
  main().then(async () => {
    log('PASS');
    await ctx.browser?.close();
    process.exit(0);
  }).catch(async (e) => {
    const msg = e instanceof Failure ? e.message : (e.stack || String(e));
    console.error(`[${name}] FAIL at step "${ctx.step}": ${msg}`);
    if (ctx.problems.length) console.error(`[${name}] also seen:\n  ${ctx.problems.join('\n  ')}`);
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      for (const [n, p] of Object.entries(ctx.pages)) {
        await p.screenshot({ path: path.join(ARTIFACTS, `${name}-fail-${n}.png`) }).catch(() => {});
      }
      console.error(`[${name}] failure screenshots in ${ARTIFACTS}`);
    } catch { /* ignore */ }
    if (ctx.browser) await ctx.browser.close().catch(() => {});
    process.exit(1);
  });
}
