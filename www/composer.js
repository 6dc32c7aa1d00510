// Composer: send, reply, edit, delete, and the typing announcements.

import * as api from './api.js';
import { $, errMsg, toast, utf8Len } from './util.js';
import { guard, state } from './state.js';
import { userLabel } from './users.js';
import { addMessage, sendMessage, TYPING_AFTER_MESSAGE_MS } from './messages.js';

const MAX_CONTENT_BYTES = 16384;

export function autoGrow() {
  const ta = $('message-input');
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 160)}px`;
}

export function onComposerSubmit(e) {
  e.preventDefault();
  const cid = state.openChatId;
  if (!cid) return;
  const ta = $('message-input');
  const content = ta.value.trim();
  const ctx = state.compose && state.compose.chatId === cid ? state.compose : null;
  if (!content) {
    if (ctx && ctx.mode === 'edit') toast('A message cannot be empty: use Delete to remove it.');
    return;
  }
  if (utf8Len(content) > MAX_CONTENT_BYTES) {
    toast('That message is too long (16 KB at most).');
    return;
  }
  ta.value = '';
  autoGrow();
  setCompose(null);
  typingSent();
  if (ctx && ctx.mode === 'edit') editMessage(cid, ctx.seq, content);
  else sendMessage(cid, content, ctx && ctx.mode === 'reply' ? ctx.seq : null);
  ta.focus();
}

// Reply and edit put the composer in a mode, shown above it.
export function setCompose(ctx) {
  state.compose = ctx;
  const bar = $('compose-context');
  if (!ctx) {
    bar.hidden = true;
    $('composer').dataset.mode = 'send';
    $('send-btn').textContent = 'Send';
    return;
  }
  const store = state.stores.get(ctx.chatId);
  const m = store && store.bySeq.get(ctx.seq);
  bar.hidden = false;
  bar.dataset.mode = ctx.mode;
  $('composer').dataset.mode = ctx.mode;
  $('cc-label').textContent = ctx.mode === 'edit' ? 'Editing your message'
    : `Replying to ${m ? (m.sender_id === state.me.id ? 'yourself' : userLabel(m.sender_id)) : 'a message'}`;
  $('cc-quote').textContent = m ? (m.content || '').replace(/\s+/g, ' ').slice(0, 140) : '';
  $('send-btn').textContent = ctx.mode === 'edit' ? 'Save' : 'Send';
}

export function startReply(cid, seq) {
  if (state.compose && state.compose.mode === 'edit') $('message-input').value = '';
  setCompose({ mode: 'reply', chatId: cid, seq });
  $('message-input').focus();
}

export function startEdit(cid, seq) {
  const store = state.stores.get(cid);
  const m = store && store.bySeq.get(seq);
  if (!m || m.deleted || m.sender_id !== state.me.id) return;
  setCompose({ mode: 'edit', chatId: cid, seq });
  const ta = $('message-input');
  ta.value = m.content;
  autoGrow();
  ta.focus();
  ta.setSelectionRange(ta.value.length, ta.value.length);
}

export function cancelCompose() {
  if (state.compose && state.compose.mode === 'edit') { $('message-input').value = ''; autoGrow(); }
  setCompose(null);
  $('message-input').focus();
}

async function editMessage(cid, seq, content) {
  const store = state.stores.get(cid);
  const m = store && store.bySeq.get(seq);
  if (m && m.content === content) return;
  try {
    const r = await api.patch(`/chats/${cid}/messages/${seq}`, { content });
    if (r && r.seq !== undefined) addMessage(cid, r, { live: false });
  } catch (e) {
    toast(`Could not edit the message: ${errMsg(e)}`);
  }
}

export async function deleteMessage(cid, seq) {
  // eslint-disable-next-line no-alert
  if (!window.confirm('Delete this message for everyone?')) return;
  try {
    await api.del(`/chats/${cid}/messages/${seq}`);
    const store = state.stores.get(cid);
    const m = store && store.bySeq.get(seq);
    // The tombstone also comes as message.deleted; show it right away.
    if (m) addMessage(cid, { ...m, deleted: true, content: '', version: (m.version || 0) + 0.5 }, { live: false });
    if (state.compose && state.compose.seq === seq && state.compose.chatId === cid) cancelCompose();
  } catch (e) {
    toast(`Could not delete the message: ${errMsg(e)}`);
  }
}

// The last message of mine that can be edited (arrow up in an empty composer).
function lastOwnSeq(cid) {
  const store = state.stores.get(cid);
  let best = 0;
  if (store) for (const m of store.bySeq.values()) if (m.sender_id === state.me.id && !m.deleted && m.seq > best) best = m.seq;
  return best;
}

export function onComposerKey(e) {
  if (e.key === 'Escape' && state.compose) { e.preventDefault(); cancelCompose(); return; }
  if (e.key === 'ArrowUp' && !e.target.value && state.openChatId) {
    const seq = lastOwnSeq(state.openChatId);
    if (seq) { e.preventDefault(); startEdit(state.openChatId, seq); }
    return;
  }
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
}

// Typing: POST /chats/{id}/typing at most once per 3 s while the composer
// has text, with a trailing call so a short burst is still announced. After
// sending, the next announcement waits a moment, since the other side
// ignores typing that races right behind a message.
const TYPING_EVERY_MS = 3000;
let lastTypingSent = 0;
let typingTimer = null;
let typingDisabled = false;
export function sendTyping() {
  const cid = state.openChatId;
  clearTimeout(typingTimer);
  if (!cid || typingDisabled || !$('message-input').value.trim()) return;
  if (state.compose && state.compose.mode === 'edit') return;
  const wait = lastTypingSent + TYPING_EVERY_MS - Date.now();
  if (wait > 0) { typingTimer = setTimeout(guard(sendTyping), wait); return; }
  lastTypingSent = Date.now();
  api.post(`/chats/${cid}/typing`).catch((e) => {
    if (e.status === 404 || e.status === 405 || e.status === 501) typingDisabled = true;
  });
}
function typingSent() {
  clearTimeout(typingTimer);
  lastTypingSent = Date.now() - TYPING_EVERY_MS + TYPING_AFTER_MESSAGE_MS + 200;
}
// Another chat was opened: its first keystroke announces at once.
export function resetTyping() {
  lastTypingSent = 0;
  clearTimeout(typingTimer);
}
