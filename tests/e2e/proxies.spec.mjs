// The web client behind real proxies from Debian (tests/e2e/proxies.mjs),
// each started here on a free loopback port and stopped by its PID:
//
//  (a) nginx in front of the stack's nginx with gzip on text/event-stream,
//      proxy_buffering on and X-Accel-Buffering ignored: the SSE request
//      shows not a byte. The client counts the silent stream as failed
//      within 5 s, falls back to long-poll, remembers it (a reload starts
//      on long-poll without trying SSE) and messages arrive within 1 s.
//  (b) squid as the browser's proxy with CONNECT only to 443: a client set
//      to WebSocket falls back to SSE, and a reload starts on SSE.
//  (c) squid cutting every connection 8 s after it opened (client_lifetime;
//      the proxy cuts at 30 s, shortened to keep the test fast): the
//      SSE stream is cut again and again and resumes by cursor.
//
// In each, bob (through the REST API, not through the proxy) sends a
// numbered series across the fallback, the reload or the cuts; alice's page
// must show each one exactly once, in order, within 5 s of its sending
// (1 s once the fallback is done in (a)).
//
//   CHAT_URL=http://127.0.0.1:18080 node tests/e2e/proxies.spec.mjs

import {
  BASE, launch, user, newUserPage, waitFor, expectVisible, waitConnected, messageItems, api, apiRegister,
  checkProblems, run, setStep, log, fail, sleep, ctx,
} from './lib.mjs';
import { startBufferingNginx, startSquid, log as proxyLog } from './proxies.mjs';

const stackHost = new URL(BASE).host;
const proxies = [];
let bobToken;
let bobId;

async function setupChat(tag) {
  const a = user(`${tag}a`);
  const ta = (await apiRegister(a)).access_token;
  const aliceId = (await api('GET', '/users/me', undefined, ta)).id;
  const chat = await api('POST', '/chats', { type: 'direct', member_ids: [aliceId] }, bobToken);
  return { a, chatId: chat.id };
}

// Log in through the page at url (which may be a proxy) with chat open.
async function login(page, url, u, chatId, prefs) {
  await page.goto(`${url}/#chat/${chatId}`, { waitUntil: 'domcontentloaded', timeout: 15000 });
  if (prefs) {
    await page.evaluate((p) => localStorage.setItem('chat.prefs', JSON.stringify(p)), prefs);
    await page.reload({ waitUntil: 'domcontentloaded' });
  }
  await expectVisible(page, page.locator('#auth-form'), `${u.username}: login form`, 10000);
  await page.fill('#auth-username', u.username);
  await page.fill('#auth-password', u.password);
  await page.click('#auth-submit');
  await page.locator('#app-view').waitFor({ state: 'visible', timeout: 10000 });
}

async function ensureChatOpen(page, chatId) {
  await waitFor(`chat ${chatId} open`, async () => {
    if (await page.locator(`#chat-list li[data-chat-id="${chatId}"] [aria-current="true"]`).count()) return true;
    const b = page.locator(`#chat-list li[data-chat-id="${chatId}"] button`);
    if (await b.count()) await b.first().click();
    return 'not open';
  }, 10000);
}

// Record in the page when each message text is first shown (Date.now()).
async function recordShown(page) {
  await page.evaluate(() => {
    window.__shown = window.__shown || {};
    const rec = () => {
      for (const el of document.querySelectorAll('#message-list li[data-testid="message"] > .bubble > .text')) {
        const t = el.textContent.trim();
        if (!(t in window.__shown)) window.__shown[t] = Date.now();
      }
    };
    new MutationObserver(rec).observe(document.getElementById('message-list'), { childList: true, subtree: true, characterData: true });
    rec();
    // When the stream is first connected over each transport.
    window.__connected = window.__connected || {};
    const el = document.getElementById('conn-state');
    const conn = () => {
      if (el.dataset.state === 'connected' && !(el.dataset.transport in window.__connected)) window.__connected[el.dataset.transport] = Date.now();
    };
    new MutationObserver(conn).observe(el, { attributes: true });
    conn();
  });
}

// Stream requests of a page, by transport.
function countStreams(page) {
  const hits = { events: 0, poll: 0 };
  page.on('request', (r) => {
    const u = r.url();
    if (u.includes('/api/v1/events')) hits.events++;
    else if (u.includes('/api/v1/poll')) hits.poll++;
  });
  return hits;
}

// bob sends `n` numbered messages `every` ms apart; returns [{text, sentAt}].
async function sendSeries(chatId, tag, n, every, onEach) {
  const sent = [];
  for (let i = 1; i <= n; i++) {
    const text = `${tag} ${String(i).padStart(3, '0')}`;
    const sentAt = Date.now();
    await api('POST', `/chats/${chatId}/messages`, { content: text, client_msg_id: `${tag}-${i}-${bobId}` }, bobToken);
    sent.push({ text, sentAt });
    if (onEach) await onEach(i);
    if (i < n) await sleep(every);
  }
  return sent;
}

// Every message of the series shown exactly once, in order, each within its
// limit (limitFor(entry) ms after sending).
async function checkSeries(page, who, sent, limitFor) {
  for (const s of sent) {
    await waitFor(`${who}: "${s.text}" shown`, async () => (await messageItems(page, s.text).count()) >= 1, 10000);
  }
  await sleep(500); // a late duplicate would show by now
  const shown = await page.evaluate(() => window.__shown);
  const texts = await page.locator('#message-list li[data-testid="message"] > .bubble > .text').allTextContents();
  const series = texts.map((t) => t.trim()).filter((t) => sent.some((s) => s.text === t));
  if (series.join('|') !== sent.map((s) => s.text).join('|')) {
    fail(`${who}: the series shows as [${series.join(', ')}], want each of ${sent.length} once, in order`);
  }
  let worst = 0;
  for (const s of sent) {
    const lag = shown[s.text] - s.sentAt;
    const limit = limitFor(s);
    if (!(lag <= limit)) fail(`${who}: "${s.text}" shown ${lag} ms after it was sent (limit ${limit} ms)`);
    worst = Math.max(worst, lag);
  }
  const seqs = await page.locator('#message-list li[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  for (let i = 1; i < seqs.length; i++) if (seqs[i] <= seqs[i - 1]) fail(`${who}: seqs [${seqs}] not strictly increasing`);
  return worst;
}

async function transportOf(page) {
  return page.getAttribute('#conn-state', 'data-transport');
}

async function closeBrowser() {
  await ctx.browser.close();
  ctx.browser = null;
  ctx.pages = {};
}

run('proxies', async () => {
  const bob = user('pbob');
  bobToken = (await apiRegister(bob)).access_token;
  bobId = (await api('GET', '/users/me', undefined, bobToken)).id;
  try {
    const only = process.env.E2E_PROXIES || 'abc'; // which cases, e.g. E2E_PROXIES=b
    if (only.includes('a')) await bufferingFront();
    if (only.includes('b')) await squidNoWebSocket();
    if (only.includes('c')) await squidCuts();
  } finally {
    for (const p of proxies) await p.stop();
  }
});

async function bufferingFront() {
  setStep('(a) nginx front with gzip and buffering');
  const front = await startBufferingNginx(stackHost);
  proxies.push(front);
  const url = `http://127.0.0.1:${front.port}`;
  log(`(a) nginx pid ${front.pid} on ${url} in front of ${BASE}`);
  const { a, chatId } = await setupChat('gz');
  await launch();
  const A = await newUserPage('alice-gz');
  const hits = countStreams(A);
  const t0 = Date.now();
  await login(A, url, a, chatId);
  await ensureChatOpen(A, chatId);
  await recordShown(A);
  // bob writes while alice's client is stuck on the silent SSE stream and
  // falls back; each message must show within 5 s, and within 1 s of its
  // sending once the client is on long-poll.
  const sent = await sendSeries(chatId, 'gz', 16, 500);
  const fellBackAt = (await A.evaluate(() => window.__connected)).poll;
  if (!fellBackAt) fail(`(a) not connected over long-poll ${Date.now() - t0} ms after login (state ${await A.getAttribute('#conn-state', 'data-state')}, ${await transportOf(A)})`);
  log(`(a) on long-poll ${fellBackAt - t0} ms after login; tried SSE ${hits.events}x`);
  if (!hits.events) fail('(a) the client never tried SSE');
  if (!(await A.textContent('#conn-text')).includes('long-poll')) fail('(a) the state does not say long-poll');
  const worst = await checkSeries(A, 'alice (a)', sent, (s) => Math.max(s.sentAt, fellBackAt) + 1000 - s.sentAt);
  if ((await A.evaluate(() => window.__connected)).sse) fail('(a) the page says it was connected over SSE');
  log(`(a) all ${sent.length} shown once, in order; worst lag ${worst} ms`);

  setStep('(a) reload: long-poll remembered, SSE not tried');
  const before = hits.events;
  await A.reload({ waitUntil: 'domcontentloaded' });
  await waitConnected(A, 'alice (a) after reload', 5000);
  if ((await transportOf(A)) !== 'poll') fail(`(a) after a reload the client is on ${await transportOf(A)}, want poll (remembered)`);
  if (hits.events !== before) fail('(a) after a reload the client tried SSE again at once');
  const memo = await A.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('chat.transport-memo')));
  if (memo.length !== 1) fail(`(a) remembered transport in localStorage: ${JSON.stringify(memo)}`);
  const m = JSON.parse(memo[0][1]);
  const left = m.until - Date.now();
  if (m.transport !== 'poll' || !(left > 50 * 60_000 && left <= 60 * 60_000)) fail(`(a) memo ${memo[0][1]}: want poll for about 1 h`);
  await ensureChatOpen(A, chatId);
  await recordShown(A);
  const sent2 = await sendSeries(chatId, 'gz2', 4, 300);
  await checkSeries(A, 'alice (a) after reload', sent2, () => 1000);
  checkProblems();
  await closeBrowser();
  await front.stop();
}

async function squidNoWebSocket() {
  setStep('(b) squid, CONNECT to 443 only: WebSocket chosen, falls back to SSE');
  const sq = await startSquid();
  proxies.push(sq);
  log(`(b) squid pid ${sq.pid} on 127.0.0.1:${sq.port}`);
  const { a, chatId } = await setupChat('sq');
  await launch([`--proxy-server=http://127.0.0.1:${sq.port}`, '--proxy-bypass-list=<-loopback>']);
  const A = await newUserPage('alice-sq');
  const hits = countStreams(A);
  const t0 = Date.now();
  await login(A, BASE, a, chatId, { transport: 'ws' });
  await ensureChatOpen(A, chatId);
  await recordShown(A);
  const sent = await sendSeries(chatId, 'sq', 8, 400);
  await waitConnected(A, 'alice (b)', 10000);
  if ((await transportOf(A)) !== 'sse') fail(`(b) connected over ${await transportOf(A)}, want sse`);
  // Chromium tunnels ws:// through an HTTP proxy with CONNECT; squid refuses it.
  const connects = () => (proxyLog(sq, 'access.log').match(/TCP_DENIED\/403 \d+ CONNECT 127\.0\.0\.1:\d+/g) || []).length;
  const refused = connects();
  if (!refused) fail(`(b) squid refused no CONNECT (the WebSocket was never tried):\n${proxyLog(sq, 'access.log').slice(-1500)}`);
  log(`(b) on SSE ${Date.now() - t0} ms after login (squid refused ${refused} CONNECTs)`);
  const worst = await checkSeries(A, 'alice (b)', sent, () => 5000);
  log(`(b) all ${sent.length} shown once, in order; worst lag ${worst} ms`);

  setStep('(b) reload: SSE remembered, WebSocket not tried');
  await A.reload({ waitUntil: 'domcontentloaded' });
  await waitConnected(A, 'alice (b) after reload', 5000);
  if ((await transportOf(A)) !== 'sse') fail(`(b) after a reload on ${await transportOf(A)}, want sse`);
  await sleep(1500); // squid writes its log line when a request ends
  if (connects() !== refused) fail('(b) after a reload the client tried WebSocket again at once');
  if (!/GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/events/.test(proxyLog(sq, 'access.log'))) fail('(b) SSE did not go through squid');
  // Chromium's own report of the refused tunnel is expected here.
  ctx.problems = ctx.problems.filter((p) => !/WebSocket connection to .* failed: Establishing a tunnel via proxy server failed/.test(p));
  checkProblems();
  await closeBrowser();
  await sq.stop();
}

async function squidCuts() {
  setStep('(c) squid cutting every connection after 8 s');
  const CUT_S = 8;
  const sq = await startSquid({ lifetimeS: CUT_S });
  proxies.push(sq);
  log(`(c) squid pid ${sq.pid} on 127.0.0.1:${sq.port}, client_lifetime ${CUT_S} s`);
  const { a, chatId } = await setupChat('cut');
  await launch([`--proxy-server=http://127.0.0.1:${sq.port}`, '--proxy-bypass-list=<-loopback>']);
  ctx.allow5xx = false;
  const A = await newUserPage('alice-cut');
  const hits = countStreams(A);
  await login(A, BASE, a, chatId);
  await ensureChatOpen(A, chatId);
  await waitConnected(A, 'alice (c)', 10000);
  await recordShown(A);
  const t0 = Date.now();
  const sent = await sendSeries(chatId, 'cut', 40, 500);
  log(`(c) ${sent.length} messages over ${Math.round((Date.now() - t0) / 1000)} s; SSE opened ${hits.events}x, long-poll ${hits.poll}x`);
  if (hits.events < 3) fail(`(c) SSE opened ${hits.events}x in ${Math.round((Date.now() - t0) / 1000)} s: the proxy did not cut it`);
  const worst = await checkSeries(A, 'alice (c)', sent, () => 5000);
  if ((await transportOf(A)) !== 'sse') fail(`(c) on ${await transportOf(A)} after the cuts, want sse (a cut stream is not a failed transport)`);
  log(`(c) all ${sent.length} shown once, in order; worst lag ${worst} ms`);
  checkProblems();
  await closeBrowser();
  await sq.stop();
}
