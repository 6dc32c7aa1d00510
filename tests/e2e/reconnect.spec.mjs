// Outages, against the real stack:
//
//  1. chat-push is killed (SIGKILL, by the PID in $CHAT_HOME/run/chat-push.pid)
//     while alice is typing a message; bob sends messages meanwhile; alice
//     sends hers; chat-push is restarted with `./chatctl start`. Alice's
//     message is sent exactly once, and bob's all appear on her side, in
//     order, without a reload. Both clients show "reconnecting", then
//     "connected".
//  2. A response lost on the way back (the server stored the message, the
//     browser saw a network error): the client retries by itself with the
//     same client_msg_id and the message exists once.
//  3. The browser goes offline: the state shows "Offline", a message written
//     meanwhile waits and is sent once when the browser is back online.
//
//   CHAT_URL=http://127.0.0.1:18080 CHAT_HOME=/tmp/chat-home node tests/e2e/reconnect.spec.mjs

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  BASE, T, launch, user, newUserPage, register, waitFor, expectVisible, expectOneMessage, messageItems,
  send, openChat, api, apiLogin, checkProblems, run, setStep, log, fail, sleep, ctx, shownSeqs, waitConnected,
} from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HOME = process.env.CHAT_HOME;
const alice = user('alice');
const bob = user('bob');

function pushPid() {
  const f = path.join(HOME, 'run', 'chat-push.pid');
  const pid = Number(fs.readFileSync(f, 'utf8').trim());
  if (!pid) fail(`no PID in ${f}`);
  return pid;
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function startStack() {
  const env = { ...process.env };
  if (!env.CHAT_PORT) env.CHAT_PORT = new URL(BASE).port;
  const r = spawnSync(path.join(ROOT, 'chatctl'), ['start'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) fail(`./chatctl start exited ${r.status}: ${r.stdout}${r.stderr}`);
}

async function connState(page) { return page.getAttribute('#conn-state', 'data-state'); }

run('reconnect', async () => {
  if (!HOME) fail('CHAT_HOME is not set (tests/run.sh exports it; set it to the stack\'s data directory)');
  await launch();
  const A = await newUserPage('alice');
  const B = await newUserPage('bob');
  ctx.allow5xx = true; // 502s from nginx while chat-push is down are expected

  setStep('register, direct chat');
  await register(A, alice);
  await register(B, bob);
  const ta = (await apiLogin(alice)).access_token;
  const bobId = (await api('GET', `/users?q=${bob.username}`, undefined, ta)).users[0].id;
  const chat = await api('POST', '/chats', { type: 'direct', member_ids: [bobId] }, ta);
  await expectVisible(A, A.locator(`#chat-list li[data-chat-id="${chat.id}"]`), 'alice: the chat appears live');
  await expectVisible(B, B.locator(`#chat-list li[data-chat-id="${chat.id}"]`), 'bob: the chat appears live');
  await openChat(A, chat.id);
  await openChat(B, chat.id);
  await send(B, 'before the outage');
  await expectOneMessage(A, 'alice', 'before the outage');

  setStep('kill chat-push while alice is typing');
  await A.fill('#message-input', 'written during ');
  const pid = pushPid();
  log(`SIGKILL chat-push ${pid}`);
  process.kill(pid, 'SIGKILL');
  await waitFor('chat-push gone', async () => !alive(pid), 5000);
  await waitFor('alice: "reconnecting" shown', async () => (await connState(A)) === 'reconnecting', 10000);
  await waitFor('bob: "reconnecting" shown', async () => (await connState(B)) === 'reconnecting', 10000);

  setStep('bob sends while chat-push is down');
  const N = 5;
  for (let i = 1; i <= N; i++) {
    await send(B, `meanwhile ${i}`);
    await expectOneMessage(B, 'bob', `meanwhile ${i}`, { status: ['sent', 'delivered', 'read'] });
  }
  await A.locator('#message-input').pressSequentially('the outage');
  await A.press('#message-input', 'Enter');
  await expectOneMessage(A, 'alice', 'written during the outage', { status: ['sent', 'delivered', 'read'] }, 10000);

  setStep('restart chat-push');
  const urls = [];
  A.on('request', (r) => { if (r.url().includes('/api/v1/')) urls.push(r.url()); });
  let loads = 0;
  A.on('load', () => { loads++; });
  startStack();
  const npid = pushPid();
  if (npid === pid || !alive(npid)) fail(`chat-push did not come back (pid ${npid})`);
  await waitConnected(A, 'alice', 40000);
  await waitConnected(B, 'bob', 40000);

  setStep('everything arrives once and in order');
  for (let i = 1; i <= N; i++) await expectOneMessage(A, 'alice', `meanwhile ${i}`, {}, 10000);
  await expectOneMessage(B, 'bob', 'written during the outage', {}, 10000);
  await sleep(500);
  for (const [p, who] of [[A, 'alice'], [B, 'bob']]) {
    const seqs = await shownSeqs(p);
    const want = Array.from({ length: N + 2 }, (_, i) => i + 1).join(',');
    if (seqs.join(',') !== want) fail(`${who}: seqs shown [${seqs}], want [${want}]`);
    const texts = await p.locator('#message-list li[data-seq] .bubble > .text').allTextContents();
    const bobs = texts.filter((t) => t.startsWith('meanwhile'));
    if (bobs.join('|') !== Array.from({ length: N }, (_, i) => `meanwhile ${i + 1}`).join('|')) fail(`${who}: bob's messages out of order: ${bobs}`);
  }
  // The new chat-push cannot resume the old one's cursor: the stream starts
  // with `resync`, and the client catches up without a reload through the
  // cheap chat list and /changes (or the version gap does, whichever first).
  if (loads) fail('alice: the page reloaded');
  if (!urls.some((u) => /\/chats\?fields=id%2Cversion|\/chats\?fields=id,version/.test(u)) && !urls.some((u) => u.includes('/changes?'))) {
    fail(`alice: no catch-up through GET /chats?fields=id,version or /changes after the restart: ${urls.map((u) => u.replace(/.*\/api\/v1/, '')).join(' ')}`);
  }
  log(`alice's catch-up: ${urls.filter((u) => /fields=|\/changes\?/.test(u)).map((u) => u.replace(/.*\/api\/v1/, '')).join(' ')}`);
  const all = await api('GET', `/chats/${chat.id}/messages?limit=50`, undefined, ta);
  const mine = all.messages.filter((m) => m.content === 'written during the outage');
  if (mine.length !== 1) fail(`the server holds alice's message ${mine.length} times`);
  setStep('live again after the restart');
  await send(B, 'after the restart');
  await expectOneMessage(A, 'alice', 'after the restart');

  // (a) the request never reaches the server: the client must retry;
  // (b) the server stores it and the answer is lost: a retry (or the
  //     stream's echo, whichever comes first) settles it, and it exists once.
  for (const [label, text, lose] of [['request lost', 'request lost once', false], ['answer lost', 'answer lost once', true]]) {
    setStep(`${label}: retried with the same client_msg_id, stored once`);
    let cut = 0;
    const seen = [];
    await A.route('**/api/v1/chats/*/messages', async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      seen.push(JSON.parse(req.postData() || '{}').client_msg_id);
      if (cut++ === 0) {
        if (lose) await route.fetch(); // the server stores it...
        return route.abort('connectionreset'); // ...and the browser sees a network error
      }
      return route.continue();
    });
    await send(A, text);
    await expectOneMessage(A, 'alice', text, { status: ['sent', 'delivered', 'read'] }, 10000);
    await sleep(300);
    await A.unroute('**/api/v1/chats/*/messages');
    if (!lose && seen.length < 2) fail(`alice: the message was posted ${seen.length} time(s); want an automatic retry`);
    if (new Set(seen).size !== 1) fail(`alice: retries used different client_msg_ids: ${seen}`);
    log(`${label}: ${seen.length} POST(s), one client_msg_id`);
    await expectOneMessage(B, 'bob', text);
    const got = await api('GET', `/chats/${chat.id}/messages?limit=50`, undefined, ta);
    if (got.messages.filter((m) => m.content === text).length !== 1) fail(`the server holds "${text}" more than once`);
    await expectOneMessage(A, 'alice', text);
  }

  setStep('offline: shown, and a message waits for the network');
  await A.context().setOffline(true);
  await waitFor('alice: "Offline" shown', async () => (await connState(A)) === 'offline');
  await send(A, 'written offline');
  await waitFor('alice: the offline message waits (pending)', async () =>
    (await messageItems(A, 'written offline').getAttribute('data-status')) === 'pending');
  await sleep(1500);
  await A.context().setOffline(false);
  await waitConnected(A, 'alice', 20000);
  await expectOneMessage(A, 'alice', 'written offline', { status: ['sent', 'delivered', 'read'] }, 20000);
  await expectOneMessage(B, 'bob', 'written offline', {}, 10000);
  const fin = await api('GET', `/chats/${chat.id}/messages?limit=50`, undefined, ta);
  if (fin.messages.filter((m) => m.content === 'written offline').length !== 1) fail('the offline message is stored more than once');

  checkProblems();
  void T;
});
