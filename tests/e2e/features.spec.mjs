// Two users in two browser contexts (alice, bob) and a third who uses the API
// only (carol), against the real stack: a direct chat and a three-person
// group with messages, typing, read status and presence on the other side;
// reply, edit, delete; the members panel (rename, remove, add, leave);
// sessions (list, revoke); desktop notifications while the tab is hidden.
//
//   CHAT_URL=http://127.0.0.1:18080 node tests/e2e/features.spec.mjs
//   E2E_SCREENSHOTS=1 ... also rewrites docs/screenshots/{group,members,settings,phone-*}.png

import {
  T, WANT_SHOTS, launch, user, newUserPage, register, waitFor, expectVisible, expectOneMessage,
  messageItems, send, openChat, openChatId, api, apiRegister, apiLogin, shot, checkProblems, run,
  setStep, log, fail, sleep, ctx, shownSeqs,
} from './lib.mjs';

const alice = user('alice');
const bob = user('bob');
const carol = user('carol');

async function subtitle(page) { return (await page.textContent('#chat-subtitle')) || ''; }

run('features', async () => {
  await launch();
  const A = await newUserPage('alice', { width: 1100, height: 720 }, { permissions: ['notifications'] });
  const B = await newUserPage('bob');
  // Record desktop notifications (the browser's own Notification is kept;
  // only its calls are counted) and let the test hide the tab.
  await A.addInitScript(() => {
    window.__notes = [];
    const N = window.Notification;
    if (N) {
      class Rec extends N {
        constructor(title, opts) { super(title, opts); window.__notes.push({ title, body: opts && opts.body }); }
      }
      Object.defineProperty(Rec, 'permission', { get: () => N.permission });
      Rec.requestPermission = (...a) => N.requestPermission(...a);
      window.Notification = Rec;
    }
    let hidden = false;
    Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible'), configurable: true });
    Object.defineProperty(document, 'hidden', { get: () => hidden, configurable: true });
    window.__setHidden = (v) => { hidden = v; document.dispatchEvent(new Event('visibilitychange')); };
  });

  setStep('register');
  await register(A, alice);
  await register(B, bob);
  const carolReg = await apiRegister(carol);
  const carolToken = carolReg.access_token;

  setStep('alice starts a direct chat with bob');
  await A.fill('#direct-username', bob.username);
  await A.click('#direct-submit');
  await waitFor('alice: direct chat open', async () => (await A.textContent('#chat-title')) === bob.username);
  const direct = await openChatId(A);
  await expectVisible(B, B.locator(`#chat-list li[data-chat-id="${direct}"]`), 'bob: the direct chat appears live');
  await openChat(B, direct);

  setStep('presence');
  // The list shows a presence dot on direct chats, the header the status
  // or "last seen", both as GET /users/{id} answers them.
  await expectVisible(A, A.locator(`#chat-list li[data-chat-id="${direct}"] [data-testid="presence-dot"]`), 'alice: presence dot on the direct chat');
  // bob has an open stream, so the server must report him online (chat-push
  // keeps presence:{id} while a user has a stream).
  const bobId = (await api('GET', `/users?q=${bob.username}`, undefined, carolToken)).users[0].id;
  const aliceToken = (await apiLogin(alice)).access_token;
  let bobAsSeen;
  await waitFor('GET /users/{bob} as alice says online', async () => {
    bobAsSeen = await api('GET', `/users/${bobId}`, undefined, aliceToken);
    return !!bobAsSeen.presence && bobAsSeen.presence.status === 'online';
  });
  await waitFor('alice: header shows bob online', async () => (await subtitle(A)).includes('online'));
  await waitFor('alice: presence dot says online', async () =>
    (await A.getAttribute(`#chat-list li[data-chat-id="${direct}"] [data-testid="presence-dot"]`, 'data-status')) === 'online');
  // A presence event, should the server send one, updates the view at once.

  setStep('typing shows on the other side, and goes away');
  await A.fill('#message-input', 'I am typ');
  await A.locator('#message-input').pressSequentially('ing');
  await waitFor('bob: "alice… is typing…"', async () => (await B.textContent('#typing')).includes(`${alice.username} is typing`));
  const typedAt = Date.now();
  // Typing is announced at most every 3 s (with one trailing call for the
  // burst) and shown for 5 s after the last announcement.
  await waitFor('bob: typing indicator gone 5 s after the last typing event',
    async () => (await B.textContent('#typing')) === '', 11000);
  const gone = Date.now() - typedAt;
  if (gone < 3500) fail(`bob: typing indicator vanished after ${gone} ms (want about 5 s)`);
  await A.fill('#message-input', '');

  setStep('messages and read status in the direct chat');
  const d1 = `direct one ${ctx.name}`;
  await send(A, d1);
  await expectOneMessage(B, 'bob', d1);
  await expectOneMessage(A, 'alice', d1, { status: ['read'] });

  setStep('delivered while bob looks at another chat');
  const g0 = await api('POST', '/chats', { type: 'group', title: 'Elsewhere', member_ids: [] }, (await apiLogin(bob)).access_token);
  await expectVisible(B, B.locator(`#chat-list li[data-chat-id="${g0.id}"]`), 'bob: his own new group');
  await openChat(B, g0.id);
  const d2 = 'are you there?';
  await send(A, d2);
  await expectOneMessage(A, 'alice', d2, { status: ['delivered'] });
  await openChat(B, direct);
  await expectOneMessage(A, 'alice', d2, { status: ['read'] });

  setStep('reply');
  await messageItems(B, d1).hover();
  await messageItems(B, d1).locator('[data-testid="reply-btn"]').click();
  await expectVisible(B, B.locator('#compose-context'), 'bob: "replying to" bar');
  const r1 = 'this is my reply';
  await send(B, r1);
  await waitFor('alice: the reply quotes her message', async () => {
    const q = messageItems(A, r1).locator('[data-testid="quote"]');
    return (await q.count()) === 1 && (await q.textContent()).includes(d1);
  });
  if (!(await B.locator('#compose-context').isHidden())) fail('bob: reply bar still shown after sending');

  setStep('edit');
  await messageItems(A, d1).hover();
  await messageItems(A, d1).locator('[data-testid="edit-btn"]').click();
  if ((await A.inputValue('#message-input')) !== d1) fail('alice: composer not filled with the message being edited');
  await A.fill('#message-input', `${d1} (fixed)`);
  await A.press('#message-input', 'Enter');
  await waitFor('bob: the edit shows with "edited"', async () => {
    const it = messageItems(B, `${d1} (fixed)`);
    return (await it.count()) === 1 && (await it.locator('[data-testid="edited"]').count()) === 1;
  });
  await waitFor('bob: the reply\'s quote follows the edit', async () =>
    (await messageItems(B, r1).locator('[data-testid="quote"]').textContent()).includes('(fixed)'));

  setStep('delete');
  await messageItems(A, d2).hover();
  await messageItems(A, d2).locator('[data-testid="delete-btn"]').click();
  const d2seq = await waitFor('alice: tombstone', async () => {
    const li = A.locator('#message-list li[data-testid="message"]', { hasText: 'Message deleted' });
    return (await li.count()) === 1 ? Number(await li.getAttribute('data-seq')) : false;
  });
  await waitFor('bob: "Message deleted" in place of the message', async () =>
    (await messageItems(B, d2).count()) === 0
    && (await B.locator(`#message-list li[data-seq="${d2seq}"] .text.deleted`).count()) === 1);

  setStep('group of three: alice creates it in the UI');
  const title = `Trio ${ctx.name}`;
  await A.click('#new-group summary');
  await A.fill('#group-title', title);
  await A.fill('#group-members', `${bob.username}, ${carol.username}`);
  await A.click('#group-submit');
  await waitFor('alice: group open', async () => (await A.textContent('#chat-title')) === title);
  const group = await openChatId(A);
  await expectVisible(B, B.locator(`#chat-list li[data-chat-id="${group}"]`), 'bob: the group appears live');
  await openChat(B, group);
  await waitFor('bob: "3 members"', async () => (await subtitle(B)).includes('3 members'));

  setStep('group messages from all three');
  await send(A, 'hello trio');
  await expectOneMessage(B, 'bob', 'hello trio');
  await api('POST', `/chats/${group}/messages`, { content: 'carol here', client_msg_id: `c-${Date.now()}` }, carolToken);
  await expectOneMessage(A, 'alice', 'carol here');
  await expectOneMessage(B, 'bob', 'carol here');
  await send(B, 'bob here');
  await expectOneMessage(A, 'alice', 'bob here');
  const sa = await shownSeqs(A); const sb = await shownSeqs(B);
  if (sa.join() !== '1,2,3' || sb.join() !== '1,2,3') fail(`group seqs alice [${sa}] bob [${sb}], want [1,2,3]`);
  await waitFor('alice: sender names in the group', async () =>
    (await messageItems(A, 'carol here').locator('.sender').textContent()) === carol.username);

  setStep('group typing');
  await B.locator('#message-input').pressSequentially('thinking');
  await waitFor('alice: "bob… is typing…" in the group', async () => (await A.textContent('#typing')).includes(`${bob.username} is typing`));
  await B.fill('#message-input', '');

  setStep('group read status: read only when everyone has read');
  await send(A, 'read by all?');
  const readSeq = await waitFor('alice: seq of the new message', async () => Number(await messageItems(A, 'read by all?').getAttribute('data-seq')) || false);
  await sleep(1200); // bob has it open: his read marker moves
  const st = await messageItems(A, 'read by all?').getAttribute('data-status');
  if (st === 'read') fail('alice: status "read" while carol has not read the group');
  await api('POST', `/chats/${group}/read`, { seq: readSeq }, carolToken);
  await expectOneMessage(A, 'alice', 'read by all?', { status: ['read'] });

  setStep('members panel: list, rename');
  await A.click('#info-btn');
  await expectVisible(A, A.locator('#info-dialog'), 'alice: members dialog');
  await waitFor('alice: three members listed', async () => (await A.locator('#member-list [data-testid="member"]').count()) === 3);
  if (WANT_SHOTS) await shot(A, 'members.png');
  const title2 = `${title} renamed`;
  await A.fill('#rename-input', title2);
  await A.click('[data-testid="rename-submit"]');
  await waitFor('bob: group renamed live', async () => (await B.textContent('#chat-title')) === title2);

  setStep('members panel: remove and add carol');
  const carolId = carolReg.user.id;
  await A.locator(`#member-list li[data-user-id="${carolId}"] [data-testid="remove-member"]`).click();
  await waitFor('alice: two members listed', async () => (await A.locator('#member-list [data-testid="member"]').count()) === 2);
  await waitFor('bob: "2 members"', async () => (await subtitle(B)).includes('2 members'));
  const gone2 = await api('GET', `/chats/${group}`, undefined, carolToken, { ok: false });
  if (gone2.status !== 404) fail(`carol still sees the group after removal: ${gone2.status}`);
  await A.fill('#add-member-input', carol.username);
  await A.click('[data-testid="add-member-submit"]');
  await waitFor('alice: three members again', async () => (await A.locator('#member-list [data-testid="member"]').count()) === 3);
  await waitFor('bob: "3 members" again', async () => (await subtitle(B)).includes('3 members'));
  await A.keyboard.press('Escape');
  await waitFor('alice: dialog closed with Escape', async () => !(await A.locator('#info-dialog').isVisible()));

  setStep('bob leaves the group');
  await B.click('#info-btn');
  await B.click('#leave-btn');
  await waitFor('bob: the group left his list', async () => (await B.locator(`#chat-list li[data-chat-id="${group}"]`).count()) === 0);
  await waitFor('alice: "2 members" after bob left', async () => (await subtitle(A)).includes('2 members'));

  if (WANT_SHOTS) {
    setStep('screenshots');
    await send(A, 'bob left, just us now');
    await api('POST', `/chats/${group}/messages`, { content: 'fine by me', client_msg_id: `c2-${Date.now()}`, reply_to_seq: 1 }, carolToken);
    await expectOneMessage(A, 'alice', 'fine by me');
    await A.fill('#message-input', '');
    await A.locator('#message-input').blur();
    await A.mouse.move(0, 0);
    await sleep(200);
    await shot(A, 'group.png');
    await openChat(B, direct);
    await B.setViewportSize({ width: 390, height: 760 });
    await B.locator('#message-input').blur();
    await sleep(150);
    await shot(B, 'phone-chat.png');
    await B.click('#back-btn');
    await sleep(150);
    await shot(B, 'phone-list.png');
    await B.setViewportSize({ width: 1100, height: 720 });
  }

  setStep('sessions: list and revoke another one');
  const extra = await apiLogin(alice); // a second session of alice
  await A.click('#settings-btn');
  await expectVisible(A, A.locator('#settings-dialog'), 'alice: settings dialog');
  await waitFor('alice: at least two sessions listed, this one marked', async () =>
    (await A.locator('#session-list [data-testid="session"]').count()) >= 2
    && (await A.locator('#session-list [data-testid="session"][data-current="1"]').count()) === 1);
  if (WANT_SHOTS) await shot(A, 'settings.png');
  const before = await A.locator('#session-list [data-testid="session"]').count();
  await A.locator('#session-list [data-testid="session"][data-current="0"] [data-testid="revoke-session"]').first().click();
  await waitFor('alice: one session fewer', async () => (await A.locator('#session-list [data-testid="session"]').count()) === before - 1);
  // The list puts this session first, then the most recently used: the
  // extra session was revoked, and its tokens stop working.
  const list = await api('GET', '/auth/sessions', undefined, extra.access_token, { ok: false });
  if (list.status !== 401) fail(`the revoked session's access token still answers ${list.status}`);
  const rt = await api('POST', '/auth/refresh', { refresh_token: extra.refresh_token }, undefined, { ok: false });
  if (rt.status !== 401) fail(`the revoked session's refresh token still answers ${rt.status}`);

  setStep('notifications while the tab is hidden');
  const box = A.locator('#notify-toggle');
  await box.check();
  await waitFor('alice: notifications toggle on', async () => box.isChecked());
  await A.keyboard.press('Escape');
  await openChat(A, direct);
  await openChat(B, direct);
  await A.evaluate(() => window.__setHidden(true));
  await send(B, 'ping while hidden');
  await waitFor('alice: a desktop notification for bob\'s message', async () => {
    const n = await A.evaluate(() => window.__notes);
    return n.some((x) => x.body === 'ping while hidden' && x.title === bob.username) || JSON.stringify(n);
  });
  await expectOneMessage(A, 'alice', 'ping while hidden');
  await sleep(800);
  if ((await messageItems(B, 'ping while hidden').getAttribute('data-status')) === 'read') {
    fail('bob: his message is "read" while alice\'s tab is hidden');
  }
  await A.evaluate(() => window.__setHidden(false));
  await expectOneMessage(B, 'bob', 'ping while hidden', { status: ['read'] });
  const notesVisible = (await A.evaluate(() => window.__notes.length));
  await send(B, 'ping while visible');
  await expectOneMessage(A, 'alice', 'ping while visible');
  if ((await A.evaluate(() => window.__notes.length)) !== notesVisible) fail('alice: notified while the tab was visible');

  setStep('keyboard: chat list arrows, focus');
  await A.locator(`#chat-list li[data-chat-id="${direct}"] button`).focus();
  await A.keyboard.press('ArrowUp');
  await A.keyboard.press('ArrowDown');
  const focused = await A.evaluate(() => document.activeElement.closest('li')?.dataset.chatId);
  if (!focused) fail('alice: arrow keys lost focus in the chat list');

  checkProblems();
  void T; void fail;
});
