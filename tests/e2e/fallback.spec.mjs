// Transport fallback against the real stack: with SSE (/api/v1/events) and
// WebSocket (/api/v1/ws) blocked by Playwright route rules, both clients
// fall back to long-poll (/api/v1/poll) and still chat live. Alice has
// chosen WebSocket in the settings (chain WebSocket -> SSE -> long-poll),
// bob keeps the default (SSE -> long-poll). Then alice's blocks are lifted
// and she switches back to SSE by hand: the chat goes on over SSE. When the
// server has WebSocket (/api/v1/ws answers other than 404), carol, who chose
// WebSocket and is not blocked, chats with bob over it.
//
//   CHAT_URL=http://127.0.0.1:18080 node tests/e2e/fallback.spec.mjs

import http from 'node:http';
import {
  BASE, launch, user, newUserPage, register, waitFor, expectVisible, expectOneMessage, send, openChat,
  api, apiLogin, checkProblems, run, setStep, log, fail, sleep, ctx, waitConnected,
} from './lib.mjs';

const alice = user('alice');
const bob = user('bob');

async function block(page, who) {
  const c = page.context();
  const hits = { events: 0, ws: 0, poll: 0 };
  await c.route('**/api/v1/events**', (route) => { hits.events++; return route.abort('connectionrefused'); });
  // Accept the upgrade and drop it at once, as a filtering proxy would.
  await c.routeWebSocket('**/api/v1/ws**', (ws) => { hits.ws++; ws.close({ code: 1011, reason: 'blocked' }); });
  page.on('request', (r) => { if (r.url().includes('/api/v1/poll')) hits.poll++; });
  log(`${who}: SSE and WebSocket blocked`);
  return hits;
}

// Whether the server offers WebSocket: an upgrade without a ticket gets 401
// (or 101) when it does, 404 when it does not.
function wsAvailable() {
  return new Promise((resolve) => {
    const req = http.request(`${BASE}/api/v1/ws`, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      timeout: 3000,
    });
    req.on('upgrade', (res, sock) => { sock.destroy(); resolve(true); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode !== 404); });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.end();
  });
}

run('fallback', async () => {
  // Long-poll must exist on the server for this test to mean anything.
  const probe = await fetch(`${BASE}/api/v1/poll`);
  if (probe.status === 404) fail('GET /api/v1/poll answers 404: the server has no long-poll transport');

  await launch();
  const A = await newUserPage('alice');
  const B = await newUserPage('bob');
  // Alice picks WebSocket before she logs in (the choice is stored per browser).
  await A.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 15000 });
  await A.evaluate(() => localStorage.setItem('chat.prefs', JSON.stringify({ transport: 'ws' })));
  const hitsA = await block(A, 'alice');
  const hitsB = await block(B, 'bob');

  setStep('register: both end up on long-poll');
  // The fallback follows the reconnect backoff: two failed opens per
  // transport, jittered, so allow for the whole chain.
  await register(A, alice, { connectTimeout: 25000 });
  await register(B, bob, { connectTimeout: 25000 });
  for (const [p, who, hits, tried] of [[A, 'alice', hitsA, ['ws', 'events']], [B, 'bob', hitsB, ['events']]]) {
    await waitConnected(p, who, 20000);
    const tr = await p.getAttribute('#conn-state', 'data-transport');
    if (tr !== 'poll') fail(`${who}: connected over "${tr}", want poll`);
    if (!(await p.textContent('#conn-text')).includes('long-poll')) fail(`${who}: the state does not say long-poll`);
    for (const t of tried) if (!hits[t]) fail(`${who}: never tried ${t} before falling back`);
    if (who === 'bob' && hits.ws) fail('bob: tried WebSocket though he did not choose it');
    log(`${who}: tried events ${hits.events}x, ws ${hits.ws}x, then poll`);
  }

  setStep('chat live over long-poll');
  const ta = (await apiLogin(alice)).access_token;
  const bobId = (await api('GET', `/users?q=${bob.username}`, undefined, ta)).users[0].id;
  await A.fill('#direct-username', bob.username);
  await A.click('#direct-submit');
  await waitFor('alice: chat open', async () => (await A.textContent('#chat-title')) === bob.username);
  const chatId = await A.locator('#chat-list li:has([aria-current="true"])').getAttribute('data-chat-id');
  await expectVisible(B, B.locator(`#chat-list li[data-chat-id="${chatId}"]`), 'bob: the chat appears live (long-poll)');
  await openChat(B, chatId);
  await send(A, 'over long-poll 1');
  await expectOneMessage(B, 'bob', 'over long-poll 1');
  await send(B, 'over long-poll 2');
  await expectOneMessage(A, 'alice', 'over long-poll 2');
  await B.locator('#message-input').pressSequentially('typing over poll');
  await waitFor('alice: typing over long-poll', async () => (await A.textContent('#typing')).includes(`${bob.username} is typing`));
  await B.fill('#message-input', '');
  await expectOneMessage(A, 'alice', 'over long-poll 1', { status: ['read'] });
  for (let i = 1; i <= 5; i++) await api('POST', `/chats/${chatId}/messages`, { content: `burst ${i}`, client_msg_id: `burst-${i}-${bobId}` }, ta);
  for (let i = 1; i <= 5; i++) await expectOneMessage(B, 'bob', `burst ${i}`);
  const seqs = await B.locator('#message-list li[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  if (seqs.join() !== '1,2,3,4,5,6,7') fail(`bob: seqs [${seqs}] after the burst, want 1..7`);

  setStep('blocks lifted, alice switches to SSE by hand');
  await A.context().unroute('**/api/v1/events**');
  await A.click('#settings-btn');
  await A.selectOption('#transport-select', 'sse');
  await A.keyboard.press('Escape');
  await waitFor('alice: connected over SSE', async () =>
    (await A.getAttribute('#conn-state', 'data-state')) === 'connected'
    && (await A.getAttribute('#conn-state', 'data-transport')) === 'sse', 15000);
  await send(B, 'back on SSE');
  await expectOneMessage(A, 'alice', 'back on SSE');
  await sleep(300);
  const n = await A.locator('#message-list li[data-seq]').count();
  if (n !== 8) fail(`alice: ${n} messages shown after switching, want 8 (no gaps, no duplicates)`);

  if (await wsAvailable()) {
    setStep('WebSocket chosen and not blocked: carol chats with bob over it');
    const carol = user('carol');
    const C = await newUserPage('carol');
    await C.goto(`${BASE}/`, { waitUntil: 'domcontentloaded', timeout: 15000 });
    await C.evaluate(() => localStorage.setItem('chat.prefs', JSON.stringify({ transport: 'ws' })));
    await register(C, carol);
    await waitFor('carol: connected over WebSocket', async () =>
      (await C.getAttribute('#conn-state', 'data-transport')) === 'ws' || await C.getAttribute('#conn-state', 'data-transport'), 10000);
    await C.fill('#direct-username', bob.username);
    await C.click('#direct-submit');
    await waitFor('carol: chat open', async () => (await C.textContent('#chat-title')) === bob.username);
    const cc = await C.locator('#chat-list li:has([aria-current="true"])').getAttribute('data-chat-id');
    await expectVisible(B, B.locator(`#chat-list li[data-chat-id="${cc}"]`), 'bob: carol\'s chat appears (bob on long-poll)');
    await openChat(B, cc);
    await send(C, 'carol over websocket');
    await expectOneMessage(B, 'bob', 'carol over websocket');
    await send(B, 'bob over long-poll');
    await expectOneMessage(C, 'carol', 'bob over long-poll');
    await B.locator('#message-input').pressSequentially('typing to carol');
    await waitFor('carol: typing arrives over WebSocket', async () => (await C.textContent('#typing')).includes(`${bob.username} is typing`));
    await expectOneMessage(C, 'carol', 'carol over websocket', { status: ['read'] });
    if ((await C.getAttribute('#conn-state', 'data-transport')) !== 'ws') fail('carol: no longer on WebSocket');
  } else {
    log('note: /api/v1/ws answers 404: the WebSocket phase is left out');
  }

  checkProblems();
  void ctx;
});
