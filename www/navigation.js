// Navigation: which chat is open (#chat/<id> in the address), the sidebar's
// forms for new chats, and the keyboard in the chat list.

import * as api from './api.js';
import { $, errMsg, h, toast } from './util.js';
import { enqueue, guard, invalidate, newStore, state } from './state.js';
import { findUserByName, otherMemberId, rememberUser } from './users.js';
import { loadMembers, loadNewest, scheduleRead } from './messages.js';
import { mergeChat } from './chats.js';
import { autoGrow, resetTyping, setCompose } from './composer.js';

export function navigateToChat(cid) {
  const want = cid == null ? '' : `#chat/${cid}`;
  if (location.hash !== want) {
    if (want) location.hash = want;
    else history.pushState(null, '', location.pathname + location.search);
  }
  openChat(cid);
}

export function routeFromHash() {
  const m = /^#chat\/(\d+)$/.exec(location.hash);
  const cid = m ? Number(m[1]) : null;
  if (cid !== state.openChatId && (cid === null || state.chats.has(cid))) openChat(cid);
}

export function openChat(cid) {
  if (cid !== null && !state.chats.has(cid)) cid = null;
  const changed = state.openChatId !== cid;
  state.openChatId = cid;
  document.body.classList.toggle('chat-open', cid !== null);
  $('chat-pane').hidden = cid === null;
  $('chat-placeholder').hidden = cid !== null;
  if (cid === null) { invalidate('list'); return; }
  if (changed) {
    $('message-input').value = '';
    autoGrow();
    setCompose(null);
    resetTyping();
    if ($('info-dialog').open) $('info-dialog').close();
  }
  let store = state.stores.get(cid);
  if (!store) { store = newStore(); state.stores.set(cid, store); }
  store._scrollToBottom = true;
  if (!store.loaded && !store.loading) {
    store.loading = enqueue(cid, () => loadNewest(cid))
      .finally(() => { store.loading = null; });
    store.loading.then(() => {
      if (!store.loaded && state.openChatId === cid) toast('Could not load messages.');
    });
  }
  const chat = state.chats.get(cid);
  if (chat.type === 'direct') {
    const other = otherMemberId(chat);
    if (other !== null) {
      // Refresh presence when the chat is opened.
      api.get(`/users/${other}`).then(guard(rememberUser)).catch(() => {});
    }
  }
  loadMembers(cid);
  scheduleRead(cid);
  invalidate('list', 'header', 'messages', 'typing');
  if (changed && window.matchMedia('(pointer: fine)').matches) $('message-input').focus();
}

// Sidebar forms: a new direct chat (with username suggestions) or group.

export async function onDirectSubmit(e) {
  e.preventDefault();
  const input = $('direct-username');
  const err = $('direct-error');
  err.textContent = '';
  const name = input.value.trim().toLowerCase().replace(/^@/, '');
  if (!name) { err.textContent = 'Enter a username.'; input.focus(); return; }
  if (name === state.me.username.toLowerCase()) { err.textContent = 'That is you. Pick someone else.'; return; }
  const btn = $('direct-submit');
  btn.disabled = true;
  try {
    const u = await findUserByName(name);
    if (!u) { err.textContent = `No user named “${name}”.`; return; }
    const chat = await api.post('/chats', { type: 'direct', member_ids: [u.id] });
    const c = mergeChat(chat);
    input.value = '';
    $('user-suggestions').replaceChildren();
    navigateToChat(c.id);
  } catch (ex) {
    err.textContent = errMsg(ex);
  } finally {
    btn.disabled = false;
  }
}

export async function onGroupSubmit(e) {
  e.preventDefault();
  const err = $('group-error');
  err.textContent = '';
  const title = $('group-title').value.trim();
  if (!title) { err.textContent = 'Give the group a title.'; $('group-title').focus(); return; }
  const names = [...new Set($('group-members').value.split(/[,\s]+/)
    .map((s) => s.trim().toLowerCase().replace(/^@/, '')).filter(Boolean))]
    .filter((n) => n !== state.me.username.toLowerCase());
  const btn = $('group-submit');
  btn.disabled = true;
  try {
    const found = await Promise.all(names.map((n) => findUserByName(n)));
    const missing = names.filter((n, i) => !found[i]);
    if (missing.length) {
      err.textContent = `Unknown user${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`;
      return;
    }
    const chat = await api.post('/chats', { type: 'group', title, member_ids: found.map((u) => u.id) });
    const c = mergeChat(chat);
    $('group-title').value = '';
    $('group-members').value = '';
    $('new-group').open = false;
    navigateToChat(c.id);
  } catch (ex) {
    err.textContent = errMsg(ex);
  } finally {
    btn.disabled = false;
  }
}

let suggestTimer = null;
let suggestSeq = 0;
export function onDirectInput() {
  clearTimeout(suggestTimer);
  const q = $('direct-username').value.trim().toLowerCase().replace(/^@/, '');
  if (q.length < 2) return;
  suggestTimer = setTimeout(async () => {
    const mySeq = ++suggestSeq;
    try {
      const r = await api.get(`/users${api.qs({ q, limit: 8 })}`);
      if (mySeq !== suggestSeq || !state.me) return;
      const users = ((r && r.users) || []).filter((u) => u.id !== state.me.id);
      users.forEach(rememberUser);
      $('user-suggestions').replaceChildren(...users.map((u) =>
        h('option', { value: u.username, label: u.display_name || u.username })));
    } catch { /* suggestions are optional */ }
  }, 200);
}

// Keyboard: arrow keys move between chats in the list.
export function onChatListKey(e) {
  if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(e.key)) return;
  const btns = [...$('chat-list').querySelectorAll('button.chat-item')];
  const i = btns.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  const j = e.key === 'Home' ? 0 : e.key === 'End' ? btns.length - 1
    : Math.max(0, Math.min(btns.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)));
  btns[j].focus();
}
