// The chat web client: plain ES modules, no build step.
//
// State lives in plain Maps; the DOM is re-rendered from it (coalesced once
// per tick). User data only ever reaches the DOM through textContent.
//
// Live updates follow API.md's client rules: each durable event is applied
// only when its version is exactly one more than the chat's version we hold;
// older versions are duplicates and ignored; a jump is filled from
// GET /chats/{id}/changes (or, failing that, by reloading the chat and its
// newest page). Messages are keyed by (chat_id, seq); an optimistic message
// is matched to the server's by client_msg_id, so nothing shows twice.

import * as api from './api.js';
import { ApiError } from './api.js';
import { EventStream } from './stream.js';

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const MAX_CONTENT_BYTES = 16384;
const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;

// ---------------------------------------------------------------------------
// State

const state = {
  me: null,
  chats: new Map(),     // chat id -> chat (with our per-caller fields)
  users: new Map(),     // user id -> user
  userFetches: new Map(), // user id -> Promise
  stores: new Map(),    // chat id -> message store (see newStore)
  queues: new Map(),    // chat id -> Promise: events of a chat apply in order
  members: new Map(),   // chat id -> Map(user id -> {read_seq, delivered_seq})
  memberRoles: new Map(), // chat id -> Map(user id -> role)
  typing: new Map(),    // chat id -> Map(user id -> expiry ms)
  quotes: new Map(),    // `${chat}:${seq}` -> message quoted by a reply, outside the loaded history
  compose: null,        // {mode: 'reply'|'edit', chatId, seq}
  openChatId: null,
  listLoaded: false,
  conn: 'stopped',
  stream: null,
  epoch: 0,             // bumped on logout so late answers are dropped
};

let msgDom = { chatId: null, els: new Map() }; // rendered message elements by key

function newStore() {
  return {
    bySeq: new Map(),     // seq -> message from the server
    pending: new Map(),   // client_msg_id -> optimistic message
    hasMoreBefore: false,
    loaded: false,
    loading: null,
    loadingOlder: false,
  };
}

function resetState() {
  state.epoch++;
  state.me = null;
  state.chats.clear();
  state.users.clear();
  state.userFetches.clear();
  state.stores.clear();
  state.queues.clear();
  state.members.clear();
  state.memberRoles.clear();
  state.typing.clear();
  state.quotes.clear();
  state.compose = null;
  state.listLoaded = false;
  state.openChatId = null;
  msgDom = { chatId: null, els: new Map() };
}

// ---------------------------------------------------------------------------
// Small helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Insecure contexts (plain http on a non-loopback host) lack randomUUID.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const utf8Len = (s) => new TextEncoder().encode(s).length;
const ts = (s) => (s ? Date.parse(s) || 0 : 0);

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function listTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return sameDay(d, new Date()) ? timeFmt.format(d) : shortDayFmt.format(d);
}

function dayLabel(d) {
  const today = new Date();
  const y = new Date(today); y.setDate(today.getDate() - 1);
  if (sameDay(d, today)) return 'Today';
  if (sameDay(d, y)) return 'Yesterday';
  return dayFmt.format(d);
}

let toastTimer = null;
function toast(message) {
  $('toast-text').textContent = message;
  $('toast').hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $('toast').hidden = true; }, 6000);
}

function errMsg(e) {
  if (e instanceof ApiError) return e.message;
  console.error(e);
  return 'Something went wrong.';
}

// Run fn only if we are still in the same login session when it resolves.
function guard(fn) {
  const epoch = state.epoch;
  return (...args) => (epoch === state.epoch ? fn(...args) : undefined);
}

// ---------------------------------------------------------------------------
// Rendering (coalesced)

const dirty = new Set();
let renderQueued = false;
function invalidate(...parts) {
  for (const p of parts) dirty.add(p);
  if (renderQueued) return;
  renderQueued = true;
  Promise.resolve().then(() => {
    renderQueued = false;
    const parts2 = new Set(dirty);
    dirty.clear();
    if (!state.me) return;
    if (parts2.has('list')) renderChatList();
    if (parts2.has('header')) renderChatHeader();
    if (parts2.has('messages')) renderMessages();
    if (parts2.has('typing')) renderTyping();
    if (parts2.has('info') && $('info-dialog').open) renderInfo();
    renderTitle();
  });
}

function userLabel(id) {
  if (state.me && id === state.me.id) return state.me.username;
  const u = state.users.get(id);
  if (u) return u.username;
  fetchUser(id);
  return '…';
}

function otherMemberId(chat) {
  const ids = chat.member_ids || [];
  return ids.find((id) => id !== state.me.id) ?? null;
}

function chatTitle(chat) {
  if (chat.type === 'group') return chat.title || 'Untitled group';
  if (chat.title) return chat.title;
  const other = otherMemberId(chat);
  if (other === null) return chat.member_ids ? `${state.me.username} (you)` : 'Direct chat';
  return userLabel(other);
}

function previewText(chat) {
  const m = chat.last_message;
  if (!m) return chat.type === 'group' ? 'Group created' : 'No messages yet';
  if (m.deleted) return 'Message deleted';
  const who = m.sender_id === state.me.id ? 'You: '
    : chat.type === 'group' ? `${userLabel(m.sender_id)}: ` : '';
  return who + (m.content || '').replace(/\s+/g, ' ').slice(0, 120);
}

function sortedChats() {
  return [...state.chats.values()].sort((a, b) =>
    (ts(b.last_activity_at || b.created_at) - ts(a.last_activity_at || a.created_at)) || (b.id - a.id));
}

function renderChatList() {
  const ul = $('chat-list');
  const focusedId = document.activeElement && document.activeElement.closest
    && document.activeElement.closest('#chat-list [data-chat-id]')
    ? document.activeElement.closest('[data-chat-id]').dataset.chatId : null;
  const items = [];
  for (const chat of sortedChats()) {
    const unread = chat.id === state.openChatId ? 0 : Math.min(chat.unread_count || 0, 1000);
    const title = chatTitle(chat);
    const typingNow = typingNames(chat.id);
    const btn = h('button', {
      type: 'button',
      class: 'chat-item',
      'aria-current': chat.id === state.openChatId ? 'true' : null,
      onclick: () => navigateToChat(chat.id),
    },
    avatarFor(chat, title),
    h('span', { class: 'chat-main' },
      h('span', { class: 'chat-line' },
        h('span', { class: 'chat-name', 'data-testid': 'chat-title', text: title }),
        chat.type === 'direct' && presenceOf(chat) ? h('span', { class: 'visually-hidden', text: `, ${presenceText(presenceOf(chat))}` }) : null,
        h('time', { class: 'chat-time', datetime: chat.last_activity_at, text: listTime(chat.last_activity_at || chat.created_at) })),
      h('span', { class: 'chat-line' },
        h('span', { class: `chat-preview${typingNow ? ' is-typing' : ''}`, 'data-testid': 'chat-preview', text: typingNow ? `${typingNow} typing…` : previewText(chat) }),
        unread ? h('span', { class: 'badge', 'data-testid': 'unread-badge', 'data-count': String(unread) },
          unread >= 1000 ? '999+' : String(unread),
          h('span', { class: 'visually-hidden', text: ' unread' })) : null)));
    items.push(h('li', { dataset: { chatId: String(chat.id), testid: 'chat-item' } }, btn));
  }
  ul.replaceChildren(...items);
  $('chat-list-empty').hidden = items.length > 0;
  if (focusedId) {
    const b = ul.querySelector(`[data-chat-id="${CSS.escape(focusedId)}"] button`);
    if (b) b.focus();
  }
}

// Presence of the other person in a direct chat: {status, last_seen_at} or null.
function presenceOf(chat) {
  if (!chat || chat.type !== 'direct') return null;
  const other = otherMemberId(chat);
  const u = other !== null ? state.users.get(other) : null;
  return u && u.presence ? u.presence : null;
}

function presenceText(p) {
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (p.last_seen_at) return `last seen ${lastSeenText(p.last_seen_at)}`;
  return 'offline';
}

function lastSeenText(iso) {
  const t = ts(iso);
  if (!t) return '';
  const mins = Math.round((Date.now() - t) / 60_000);
  if (mins < 1) return 'just now';
  if (mins < 60) return `${mins} min ago`;
  const d = new Date(t);
  if (sameDay(d, new Date())) return `today at ${timeFmt.format(d)}`;
  return `${shortDayFmt.format(d)} at ${timeFmt.format(d)}`;
}

function avatarFor(chat, title) {
  const p = presenceOf(chat);
  return h('span', { class: `avatar ${chat.type}`, 'aria-hidden': 'true' },
    initials(title),
    chat.type === 'direct' ? h('span', {
      class: `presence ${p && p.status === 'online' ? 'online' : 'offline'}`,
      'data-testid': 'presence-dot', 'data-status': p ? p.status : 'unknown',
    }) : null);
}

function initials(title) {
  const t = (title || '?').replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
  if (!t) return '#';
  const parts = t.split(' ');
  return (parts.length > 1 ? parts[0][0] + parts[1][0] : t.slice(0, 2)).toUpperCase();
}

function renderTitle() {
  let total = 0;
  for (const c of state.chats.values()) if (c.id !== state.openChatId) total += c.unread_count || 0;
  document.title = total ? `(${total}) Chat` : 'Chat';
}

function renderChatHeader() {
  const chat = state.chats.get(state.openChatId);
  if (!chat) return;
  $('chat-title').textContent = chatTitle(chat);
  let sub = '';
  if (chat.type === 'group') {
    const n = chat.members_count;
    sub = n ? `${n} member${n === 1 ? '' : 's'}` : 'Group';
  } else {
    const other = otherMemberId(chat);
    const u = other !== null ? state.users.get(other) : null;
    const parts = [];
    if (u && u.display_name && u.display_name !== u.username) parts.push(u.display_name);
    if (u && u.presence) parts.push(presenceText(u.presence));
    sub = parts.join(' · ') || 'Direct chat';
  }
  $('chat-subtitle').textContent = sub;
  const p = presenceOf(chat);
  $('chat-subtitle').dataset.presence = p ? p.status : '';
  $('info-btn').textContent = chat.type === 'group' ? 'Members' : 'Details';
  if ($('info-dialog').open) renderInfo();
}

// sent / delivered / read from the other members' markers: in a direct chat
// the other person's, in a group everyone else's (read when all have read).
function messageStatus(chatId, m) {
  if (m._status) return m._status; // pending / failed (optimistic)
  if (m.sender_id !== state.me.id) return null;
  const mem = state.members.get(chatId);
  let others = 0; let read = 0; let delivered = 0;
  if (mem) {
    for (const [uid, mk] of mem) {
      if (uid === state.me.id) continue;
      others++;
      if ((mk.read_seq || 0) >= m.seq) read++;
      if ((mk.delivered_seq || 0) >= m.seq || (mk.read_seq || 0) >= m.seq) delivered++;
    }
  }
  if (others && read === others) return 'read';
  // Posting moves the poster's markers: in a direct chat, a later message
  // from the other person means they have read this one.
  const chat = state.chats.get(chatId);
  if (chat && chat.type === 'direct' && lastSeqByOthers(chatId) >= m.seq) return 'read';
  if (others && delivered === others) return 'delivered';
  return 'sent';
}

function lastSeqByOthers(chatId) {
  const store = state.stores.get(chatId);
  let last = 0;
  if (store) for (const m of store.bySeq.values()) if (m.sender_id !== state.me.id && m.seq > last) last = m.seq;
  return last;
}

const STATUS_TEXT = {
  pending: 'Sending…', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Not sent',
};

function renderMessages() {
  const cid = state.openChatId;
  const store = state.stores.get(cid);
  const chat = state.chats.get(cid);
  const list = $('message-list');
  const scroller = $('messages-scroll');
  if (!store || !chat) { list.replaceChildren(); msgDom = { chatId: null, els: new Map() }; return; }

  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  const prevHeight = scroller.scrollHeight;
  const prevTop = scroller.scrollTop;

  const msgs = [...store.bySeq.values()].sort((a, b) => a.seq - b.seq);
  const pend = [...store.pending.values()].sort((a, b) => a._localOrder - b._localOrder);
  const all = msgs.concat(pend);
  // Keyed rendering: an unchanged message keeps its element, so the live
  // region announces only what is new, and focus and selection survive.
  if (msgDom.chatId !== cid) {
    msgDom = { chatId: cid, els: new Map() };
    list.replaceChildren();
  }
  const want = [];
  const used = new Set();
  const place = (key, sig, build) => {
    used.add(key);
    const old = msgDom.els.get(key);
    if (old && old.sig === sig) { want.push(old.el); return; }
    const fresh = build();
    if (old) {
      // Update in place (an optimistic message becoming the server's).
      old.el.className = fresh.className;
      for (const k of Object.keys(old.el.dataset)) delete old.el.dataset[k];
      Object.assign(old.el.dataset, fresh.dataset);
      old.el.replaceChildren(...fresh.childNodes);
      old.sig = sig;
      want.push(old.el);
    } else {
      msgDom.els.set(key, { el: fresh, sig });
      want.push(fresh);
    }
  };
  let prevDay = null;
  let prevSender = null;
  let prevTime = 0;
  for (const m of all) {
    const d = new Date(m.created_at || Date.now());
    if (!prevDay || !sameDay(prevDay, d)) {
      const label = dayLabel(d);
      place(`d:${d.toDateString()}`, label, () =>
        h('li', { class: 'day', 'aria-hidden': 'true' }, h('span', { text: label })));
      prevSender = null;
    }
    prevDay = d;
    const mine = m.sender_id === state.me.id;
    const status = messageStatus(cid, m);
    const grouped = prevSender === m.sender_id && d.getTime() - prevTime < 5 * 60_000;
    prevSender = m.sender_id;
    prevTime = d.getTime();
    const showName = chat.type === 'group' && !mine && !grouped;
    const name = userLabel(m.sender_id);
    const time = timeFmt.format(d);
    const key = mine && m.client_msg_id ? `c:${m.client_msg_id}` : `s:${m.seq}`;
    const quote = m.reply_to_seq ? quoteOf(cid, m.reply_to_seq) : null;
    const canEdit = mine && !m.deleted && m.seq !== undefined && !m._status;
    const canDelete = !m.deleted && m.seq !== undefined && !m._status && (mine || chat.role === 'admin');
    const sig = JSON.stringify([m.seq, m.content, m.deleted, m.edited_at, status, grouped, showName, name, time,
      m._error, m._retrying, quote && [quote.name, quote.text, quote.deleted], canEdit, canDelete]);
    place(key, sig, () => {
      const body = m.deleted
        ? h('p', { class: 'text deleted', text: 'Message deleted' })
        : h('p', { class: 'text', text: m.content });
      const meta = h('span', { class: 'meta' },
        h('time', { datetime: m.created_at, text: time }),
        m.edited_at && !m.deleted ? h('span', { 'data-testid': 'edited', text: ' · edited' }) : null,
        mine && status ? h('span', {
          class: `status ${status}`, 'data-testid': 'message-status',
          text: ` · ${status === 'pending' && m._retrying ? 'Retrying…' : STATUS_TEXT[status] || status}`,
        }) : null);
      const data = { testid: 'message', status: status || 'received', sender: String(m.sender_id) };
      if (m.seq !== undefined) data.seq = String(m.seq);
      if (m.client_msg_id) data.clientMsgId = m.client_msg_id;
      if (m.reply_to_seq) data.replyTo = String(m.reply_to_seq);
      const actions = m.seq !== undefined && !m.deleted ? h('span', { class: 'actions', role: 'group', 'aria-label': 'Message actions' },
        h('button', { type: 'button', class: 'act', 'data-testid': 'reply-btn', 'aria-label': `Reply to ${mine ? 'your message' : name}`, onclick: () => startReply(cid, m.seq) }, 'Reply'),
        canEdit ? h('button', { type: 'button', class: 'act', 'data-testid': 'edit-btn', 'aria-label': 'Edit your message', onclick: () => startEdit(cid, m.seq) }, 'Edit') : null,
        canDelete ? h('button', { type: 'button', class: 'act', 'data-testid': 'delete-btn', 'aria-label': 'Delete message', onclick: () => deleteMessage(cid, m.seq) }, 'Delete') : null)
        : null;
      return h('li', {
        class: `msg ${mine ? 'mine' : 'theirs'}${grouped ? ' grouped' : ''}${status ? ` st-${status}` : ''}`,
        dataset: data,
      },
      h('div', { class: 'bubble' },
        showName ? h('span', { class: 'sender', text: name }) : null,
        h('span', { class: 'visually-hidden', text: mine ? 'You: ' : showName ? '' : `${name}: ` }),
        quote ? h('button', {
          type: 'button', class: `quote${quote.deleted ? ' deleted' : ''}`, 'data-testid': 'quote',
          'aria-label': `In reply to ${quote.name}: ${quote.text}. Show the original.`,
          onclick: () => jumpTo(cid, m.reply_to_seq),
        }, h('span', { class: 'quote-name', text: quote.name }), h('span', { class: 'quote-text', text: quote.text })) : null,
        body,
        meta,
        status === 'failed'
          ? h('span', { class: 'failed-row' },
            h('span', { text: m._error || 'Not sent.' }),
            h('button', { type: 'button', class: 'link', 'data-testid': 'retry-send', onclick: () => retrySend(cid, m.client_msg_id) }, 'Retry'),
            h('button', { type: 'button', class: 'link', onclick: () => discardPending(cid, m.client_msg_id) }, 'Discard'))
          : null),
      actions);
    });
  }
  let cursor = list.firstChild;
  for (const el of want) {
    if (el === cursor) cursor = cursor.nextSibling;
    else list.insertBefore(el, cursor);
  }
  while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
  for (const key of [...msgDom.els.keys()]) if (!used.has(key)) msgDom.els.delete(key);
  $('messages-empty').hidden = !(store.loaded && all.length === 0);
  const older = $('load-older-btn');
  older.hidden = !store.hasMoreBefore;
  older.disabled = store.loadingOlder;
  older.textContent = store.loadingOlder ? 'Loading…' : 'Load older messages';

  if (store._keepScrollFromTop) {
    // After "load older": keep the same messages in view.
    scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
    store._keepScrollFromTop = false;
  } else if (atBottom || store._scrollToBottom) {
    scroller.scrollTop = scroller.scrollHeight;
    store._scrollToBottom = false;
  }
}

function typingNames(chatId) {
  const t = state.typing.get(chatId);
  if (!t) return '';
  const now = Date.now();
  const names = [];
  for (const [uid, exp] of t) {
    if (exp > now && uid !== state.me.id) names.push(userLabel(uid));
  }
  if (!names.length) return '';
  return names.length === 1 ? `${names[0]} is` : `${names.slice(0, 3).join(', ')} are`;
}

// The quoted message of a reply: from the loaded history, else fetched once.
function quoteOf(cid, seq) {
  const store = state.stores.get(cid);
  const m = (store && store.bySeq.get(seq)) || state.quotes.get(`${cid}:${seq}`);
  if (!m) {
    fetchQuote(cid, seq);
    return { name: '…', text: 'Loading…', deleted: false };
  }
  if (m.deleted) return { name: userLabel(m.sender_id), text: 'Message deleted', deleted: true };
  return { name: userLabel(m.sender_id), text: (m.content || '').replace(/\s+/g, ' ').slice(0, 140), deleted: false };
}

const quoteFetches = new Set();
function fetchQuote(cid, seq) {
  const key = `${cid}:${seq}`;
  if (quoteFetches.has(key)) return;
  quoteFetches.add(key);
  api.get(`/chats/${cid}/messages${api.qs({ around_seq: seq, limit: 1 })}`).then(guard((r) => {
    for (const m of (r && r.messages) || []) state.quotes.set(`${cid}:${m.seq}`, m);
    if (!state.quotes.has(key)) state.quotes.set(key, { seq, sender_id: null, deleted: true });
    if (cid === state.openChatId) invalidate('messages');
  })).catch(() => { setTimeout(() => quoteFetches.delete(key), 30_000); });
}

function jumpTo(cid, seq) {
  const el = $('message-list').querySelector(`li[data-seq="${seq}"]`);
  if (!el) { toast('That message is further back: scroll up to load it.'); return; }
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  el.classList.add('flash');
  setTimeout(() => el.classList.remove('flash'), 1500);
  const b = el.querySelector('.bubble button, .actions button');
  if (b) b.focus({ preventScroll: true });
}

function renderTyping() {
  const who = state.openChatId ? typingNames(state.openChatId) : '';
  $('typing').textContent = who ? `${who} typing…` : '';
}

const TRANSPORT_LABEL = { sse: '', ws: ' (WebSocket)', poll: ' (long-poll)' };
function setConn(s, transport) {
  const prev = state.conn;
  state.conn = s;
  const el = $('conn-state');
  el.dataset.state = s;
  el.dataset.transport = transport || '';
  $('conn-text').textContent = {
    connecting: 'Connecting…',
    connected: `Connected${TRANSPORT_LABEL[transport] || ''}`,
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
    stopped: 'Disconnected',
  }[s] || s;
  el.title = s === 'offline' ? 'Your device is offline. Messages you write will be sent when it is back.'
    : s === 'reconnecting' ? 'The live connection dropped; trying again.' : '';
  if (s === 'connected' && prev !== 'connected') retryPendingNow();
}

// ---------------------------------------------------------------------------
// Users

function fetchUser(id) {
  if (id === null || id === undefined) return Promise.resolve(null);
  if (state.users.has(id)) return Promise.resolve(state.users.get(id));
  if (state.userFetches.has(id)) return state.userFetches.get(id);
  const p = api.get(`/users/${id}`).then(guard((u) => {
    if (u) rememberUser(u);
    return u;
  })).catch((e) => {
    console.warn('user lookup failed', id, e.message);
    return null;
  }).finally(() => {
    setTimeout(() => state.userFetches.delete(id), 30_000); // do not hammer on failure
  });
  state.userFetches.set(id, p);
  return p;
}

function rememberUser(u) {
  if (!u || u.id === undefined) return;
  const old = state.users.get(u.id);
  state.users.set(u.id, old ? { ...old, ...u } : u);
  invalidate('list', 'header', 'messages', 'typing');
  if ($('info-dialog').open) invalidate('info');
}

async function findUserByName(name) {
  const q = name.trim().toLowerCase();
  const r = await api.get(`/users${api.qs({ q, limit: 20 })}`);
  const users = (r && r.users) || [];
  users.forEach(rememberUser);
  return users.find((u) => (u.username || '').toLowerCase() === q) || null;
}

// ---------------------------------------------------------------------------
// Chats

const PER_CALLER = ['unread_count', 'read_seq', 'delivered_seq', 'role'];

// Merge a chat object into our state. Versions never go backwards: a chat
// object at the version we hold refreshes only our per-caller fields (the
// server's unread count is authoritative), and an older one only the role.
// A newer one while we hold its history reloads the newest page, since the
// messages in between never reached us as events.
function mergeChat(c) {
  const old = state.chats.get(c.id);
  if (!old) {
    const chat = { unread_count: 0, ...c, version: c.version || 0, _known: Date.now() };
    state.chats.set(c.id, chat);
    invalidate('list', 'header');
    return chat;
  }
  const nv = c.version || 0;
  const ov = old.version || 0;
  if (nv > ov) {
    const { version, ...rest } = c;
    Object.assign(old, rest);
    old.version = nv;
    if (state.stores.has(c.id)) enqueue(c.id, () => loadNewest(c.id));
  } else if (nv === ov) {
    for (const k of PER_CALLER) if (k in c) old[k] = c[k];
    if (c.members_count !== undefined) old.members_count = c.members_count;
  } else if ('role' in c) {
    old.role = c.role;
  }
  if (old.id === state.openChatId) old.unread_count = 0;
  invalidate('list', 'header');
  return old;
}

function removeChat(cid, { quiet = false } = {}) {
  state.chats.delete(cid);
  state.stores.delete(cid);
  state.members.delete(cid);
  state.memberRoles.delete(cid);
  state.typing.delete(cid);
  if (state.openChatId === cid) {
    if (!quiet) toast('You are no longer in that chat.');
    navigateToChat(null);
  }
  invalidate('list');
}

async function fetchChat(cid) {
  try {
    const c = await api.get(`/chats/${cid}`);
    if (!state.me) return null;
    return mergeChat(c);
  } catch (e) {
    if (e.status === 404) { if (state.chats.has(cid)) removeChat(cid); return null; }
    throw e;
  }
}

async function fetchAllChats() {
  const all = [];
  let cursor;
  for (let i = 0; i < 20; i++) {
    const r = await api.get(`/chats${api.qs({ limit: 200, cursor })}`);
    all.push(...((r && r.chats) || []));
    cursor = r && r.next_cursor;
    if (!cursor) break;
  }
  return all;
}

async function fetchVersions() {
  const all = [];
  let cursor;
  for (let i = 0; i < 50; i++) {
    const r = await api.get(`/chats${api.qs({ fields: 'id,version', order: 'id', limit: 200, cursor })}`);
    all.push(...((r && r.chats) || []));
    cursor = r && r.next_cursor;
    if (!cursor) break;
  }
  return all;
}

// Resync (API.md rule 2). The first time, the whole chat list; afterwards
// the cheap GET /chats?fields=id,version, then for every chat that moved:
// GET /chats/{id}/changes when we hold its history, else GET /chats/{id}.
// New chats are fetched; chats that are gone are forgotten.
let resyncRunning = null;
let resyncAgain = false;
function resyncAll() {
  if (resyncRunning) { resyncAgain = true; return resyncRunning; }
  const run = async () => {
    do {
      resyncAgain = false;
      const started = Date.now();
      const first = !state.listLoaded;
      let list;
      try {
        list = first ? await fetchAllChats() : await fetchVersions();
      } catch (e) {
        if (e.status !== 401) toast(`Could not load chats: ${errMsg(e)}`);
        return;
      }
      if (!state.me) return;
      const seen = new Set();
      for (const c of list) {
        seen.add(c.id);
        const old = state.chats.get(c.id);
        const store = state.stores.get(c.id);
        if (first) {
          mergeChat(c);
          if ((c.last_seq || 0) > (c.delivered_seq || 0)) scheduleDelivered(c.id, c.last_seq);
        } else if (!old) {
          enqueue(c.id, () => fetchChat(c.id));
        } else if ((c.version || 0) > (old.version || 0)) {
          if (store && store.loaded) enqueue(c.id, () => catchUp(c.id, c));
          else enqueue(c.id, () => fetchChat(c.id));
        }
      }
      state.listLoaded = true;
      for (const [id, chat] of state.chats) {
        if (!seen.has(id) && chat._known < started) removeChat(id);
      }
      if (state.openChatId && state.chats.has(state.openChatId)) loadMembers(state.openChatId);
      // Anything in the hash we could not open before the list arrived.
      routeFromHash();
    } while (resyncAgain);
  };
  resyncRunning = run().finally(() => { resyncRunning = null; });
  return resyncRunning;
}

async function resyncChat(cid) {
  const store = state.stores.get(cid);
  if (!store || !store.loaded || !state.chats.has(cid)) { await fetchChat(cid); return; }
  let c;
  try {
    c = await api.get(`/chats/${cid}`);
  } catch (e) {
    if (e.status === 404) removeChat(cid);
    return;
  }
  await catchUp(cid, c);
  if (cid === state.openChatId) loadMembers(cid);
}

// Bring a chat whose history we hold from our version up to `target`.
async function catchUp(cid, target) {
  const chat = state.chats.get(cid);
  if (!chat) { mergeChat(target); return; }
  try {
    await fillFromChanges(cid, target.version);
  } catch (e) {
    console.warn('changes failed, reloading chat', cid, e.message);
    await loadNewest(cid, { replace: e.status === 410 });
  }
  mergeChat(target);
}

async function fillFromChanges(cid, uptoVersion) {
  for (let i = 0; i < 50; i++) {
    const chat = state.chats.get(cid);
    if (!chat) return;
    if (uptoVersion !== undefined && chat.version >= uptoVersion) return;
    const r = await api.get(`/chats/${cid}/changes${api.qs({ since_version: chat.version || 0, limit: 200 })}`);
    const evs = (r && r.events) || [];
    for (const ev of evs) applyIfNext({ chat_id: cid, ...ev });
    if (!r.has_more || !evs.length) return;
  }
}

// ---------------------------------------------------------------------------
// Events

function enqueue(cid, fn) {
  const prev = state.queues.get(cid) || Promise.resolve();
  const epoch = state.epoch;
  const next = prev.then(() => (epoch === state.epoch ? fn() : undefined))
    .catch((e) => console.warn('chat queue', cid, e));
  state.queues.set(cid, next);
  next.then(() => { if (state.queues.get(cid) === next) state.queues.delete(cid); });
  return next;
}

function onEvent(ev) {
  if (!state.me) return;
  switch (ev.type) {
    case 'resync':
      if (ev.chat_id != null) enqueue(ev.chat_id, () => resyncChat(ev.chat_id));
      else resyncAll();
      return;
    case 'typing': onTyping(ev); return;
    case 'receipt': onReceipt(ev); return;
    case 'presence': onPresence(ev); return;
    case 'chat.created': case 'chat.updated':
    case 'message.created': case 'message.updated': case 'message.deleted':
    case 'member.joined': case 'member.left':
      if (ev.chat_id == null) return;
      enqueue(ev.chat_id, () => onDurable(ev));
      return;
    default:
      // Unknown event types are ignored: the API grows by adding them.
  }
}

async function onDurable(ev) {
  const cid = ev.chat_id;
  const v = ev.version;
  let chat = state.chats.get(cid);
  if (!chat) {
    if (ev.type === 'member.left') return; // not (or no longer) ours
    const me = state.me.id;
    const carries = ev.chat && (ev.type === 'chat.created' || (ev.type === 'member.joined' && ev.user_id === me));
    if (carries && v !== undefined) {
      mergeChat({ ...ev.chat, id: cid, version: v });
      // Our own unread count, role, etc. are not in events: fetch them.
      fetchChat(cid).catch(() => {});
      if (ev.type === 'chat.created') for (const id of ev.chat.member_ids || []) fetchUser(id);
      return;
    }
    chat = await fetchChat(cid).catch(() => null);
    if (!chat) return;
    if (v === undefined || v <= chat.version) {
      // The chat as fetched already includes this event; only its side
      // effects on our unread count would be missing, and the server's
      // unread_count covers that.
      return;
    }
  }
  if (v === undefined) { applyEvent(ev); return; } // unversioned: best effort
  if (v <= chat.version) return; // duplicate
  if (v === chat.version + 1) { applyIfNext(ev); return; }
  // A gap: fill it from /changes, then apply this one if still next.
  try {
    await fillFromChanges(cid, v - 1);
  } catch (e) {
    console.warn('gap fill failed', cid, e.message);
    await resyncChat(cid).catch(() => {});
  }
  chat = state.chats.get(cid);
  if (!chat) return;
  if (v === chat.version + 1) applyIfNext(ev);
  else if (v > chat.version) {
    // Still a gap after trying: apply the event and take its version, so we
    // never stall (messages are keyed by seq, so this is harmless).
    applyEvent(ev);
    chat.version = v;
  }
}

function applyIfNext(ev) {
  const chat = state.chats.get(ev.chat_id);
  if (!chat) {
    if (ev.type === 'chat.created' && ev.chat) mergeChat({ ...ev.chat, id: ev.chat_id, version: ev.version });
    return;
  }
  if (ev.version !== undefined && ev.version <= chat.version) return;
  applyEvent(ev);
  if (ev.version !== undefined) chat.version = Math.max(chat.version, ev.version);
}

function applyEvent(ev) {
  const cid = ev.chat_id;
  const chat = state.chats.get(cid);
  if (!chat) return;
  switch (ev.type) {
    case 'chat.created':
    case 'chat.updated':
      if (ev.chat) {
        const { version, ...rest } = ev.chat;
        for (const k of PER_CALLER) delete rest[k];
        Object.assign(chat, rest);
      }
      invalidate('list', 'header');
      break;
    case 'message.created':
      if (ev.message) addMessage(cid, ev.message, { live: true });
      break;
    case 'message.updated':
    case 'message.deleted':
      if (ev.message) addMessage(cid, ev.message, { live: false });
      break;
    case 'member.joined':
      if (ev.chat) {
        const { version, ...rest } = ev.chat;
        for (const k of PER_CALLER) delete rest[k];
        Object.assign(chat, rest);
      } else if (chat.members_count) chat.members_count++;
      if (ev.user_id !== undefined) {
        fetchUser(ev.user_id);
        const mem = state.members.get(cid);
        if (mem && !mem.has(ev.user_id)) mem.set(ev.user_id, { read_seq: 0, delivered_seq: 0 });
      }
      invalidate('list', 'header');
      break;
    case 'member.left':
      if (ev.user_id === state.me.id) { removeChat(cid); return; }
      if (chat.members_count > 1) chat.members_count--;
      if (state.members.get(cid)) state.members.get(cid).delete(ev.user_id);
      if (Array.isArray(chat.member_ids)) chat.member_ids = chat.member_ids.filter((id) => id !== ev.user_id);
      if (state.typing.get(cid)) { state.typing.get(cid).delete(ev.user_id); invalidate('typing', 'list'); }
      invalidate('header', 'messages');
      break;
    default:
  }
}

// A typing event can be published after the message it announced (the two
// requests race on the server), so typing from someone who has just posted
// in that chat is ignored for a moment.
const TYPING_AFTER_MESSAGE_MS = 1500;
const lastPostAt = new Map(); // `${chat}:${user}` -> ms

function onTyping(ev) {
  if (ev.chat_id == null || ev.user_id == null || ev.user_id === state.me.id) return;
  if (Date.now() - (lastPostAt.get(`${ev.chat_id}:${ev.user_id}`) || 0) < TYPING_AFTER_MESSAGE_MS) return;
  let t = state.typing.get(ev.chat_id);
  if (!t) { t = new Map(); state.typing.set(ev.chat_id, t); }
  t.set(ev.user_id, Date.now() + 5000);
  invalidate('typing', 'list');
  setTimeout(() => invalidate('typing', 'list'), 5100);
}

function onReceipt(ev) {
  if (ev.chat_id == null || ev.user_id == null) return;
  if (ev.user_id === state.me.id) {
    // Our own markers moved (another tab or device read the chat).
    const chat = state.chats.get(ev.chat_id);
    if (chat && ev.read_seq !== undefined && ev.read_seq > (chat.read_seq || 0)) {
      chat.read_seq = ev.read_seq;
      if (chat.last_seq !== undefined && chat.read_seq >= chat.last_seq) chat.unread_count = 0;
      invalidate('list');
    }
    return;
  }
  let mem = state.members.get(ev.chat_id);
  if (!mem) return; // we have not loaded members of this chat
  const old = mem.get(ev.user_id) || { read_seq: 0, delivered_seq: 0 };
  mem.set(ev.user_id, {
    read_seq: Math.max(old.read_seq || 0, ev.read_seq || 0),
    delivered_seq: Math.max(old.delivered_seq || 0, ev.delivered_seq || 0),
  });
  if (ev.chat_id === state.openChatId) invalidate('messages');
}

function onPresence(ev) {
  if (ev.user_id == null) return;
  const u = state.users.get(ev.user_id);
  if (!u) return;
  u.presence = { status: ev.status || 'offline', last_seen_at: ev.last_seen_at || (u.presence && u.presence.last_seen_at) || null };
  invalidate('header', 'list');
  if ($('info-dialog').open) renderInfo();
}

// ---------------------------------------------------------------------------
// Messages

function addMessage(cid, m, { live }) {
  const chat = state.chats.get(cid);
  const mine = m.sender_id === state.me.id;
  if (chat) {
    if (m.seq >= (chat.last_seq || 0)) {
      chat.last_seq = m.seq;
      chat.last_message = m;
      if (ts(m.created_at) > ts(chat.last_activity_at)) chat.last_activity_at = m.created_at;
    } else if (chat.last_message && chat.last_message.seq === m.seq) {
      chat.last_message = m;
    }
    if (mine) {
      // Posting moves our own markers to the new message.
      chat.read_seq = Math.max(chat.read_seq || 0, m.seq);
      chat.delivered_seq = Math.max(chat.delivered_seq || 0, m.seq);
    } else if (live && !m.deleted && m.seq > (chat.read_seq || 0)) {
      notifyMessage(cid, m);
      if (isViewing(cid)) scheduleRead(cid);
      else {
        chat.unread_count = Math.min((chat.unread_count || 0) + 1, 1000);
        scheduleDelivered(cid, m.seq);
      }
    }
    // Posting moves the poster's markers to their message (API.md).
    const mem = state.members.get(cid);
    const mk = mem && !mine && mem.get(m.sender_id);
    if (mk && m.seq > (mk.read_seq || 0)) {
      mk.read_seq = m.seq;
      mk.delivered_seq = Math.max(mk.delivered_seq || 0, m.seq);
      if (cid === state.openChatId) invalidate('messages');
    }
    const t = state.typing.get(cid);
    if (t) t.delete(m.sender_id);
    if (live) lastPostAt.set(`${cid}:${m.sender_id}`, Date.now());
    invalidate('list', 'typing');
  }
  const store = state.stores.get(cid);
  if (store) {
    mergeMessage(store, m);
    if (cid === state.openChatId) invalidate('messages');
  }
}

function mergeMessage(store, m) {
  if (m.client_msg_id && m.sender_id === state.me.id && store.pending.has(m.client_msg_id)) {
    store.pending.delete(m.client_msg_id);
    store._scrollToBottom = true;
  }
  const old = store.bySeq.get(m.seq);
  if (!old || (m.version || 0) >= (old.version || 0)) store.bySeq.set(m.seq, m);
}

async function loadNewest(cid, { replace = false } = {}) {
  let store = state.stores.get(cid);
  if (!store) { store = newStore(); state.stores.set(cid, store); }
  const r = await api.get(`/chats/${cid}/messages${api.qs({ limit: PAGE })}`);
  if (state.stores.get(cid) !== store) return;
  const msgs = (r && r.messages) || [];
  let maxSeq = 0;
  for (const s of store.bySeq.keys()) if (s > maxSeq) maxSeq = s;
  // A page that does not join what we hold leaves a hole: start over from it.
  const joins = !msgs.length || !store.bySeq.size || msgs[0].seq <= maxSeq + 1;
  if (replace || !joins) {
    const pending = store.pending;
    store.bySeq = new Map();
    store.pending = pending;
    store.hasMoreBefore = !!r.has_more_before;
  } else if (!store.loaded) {
    store.hasMoreBefore = !!r.has_more_before;
  }
  for (const m of msgs) {
    mergeMessage(store, m);
    addToChatSummary(cid, m);
  }
  fixMoreBefore(store);
  if (!store.loaded) store._scrollToBottom = true;
  store.loaded = true;
  if (cid === state.openChatId) {
    invalidate('messages');
    scheduleRead(cid);
  }
}

// seq runs 1, 2, 3, ... with no gaps (deleted messages stay as tombstones),
// so holding seq 1 means there is nothing older, whatever a page said.
function fixMoreBefore(store) {
  if (store.bySeq.has(1)) store.hasMoreBefore = false;
}

function addToChatSummary(cid, m) {
  const chat = state.chats.get(cid);
  if (chat && m.seq >= (chat.last_seq || 0)) {
    chat.last_seq = m.seq;
    chat.last_message = m;
    invalidate('list');
  }
}

async function loadOlder() {
  const cid = state.openChatId;
  const store = state.stores.get(cid);
  if (!store || store.loadingOlder || !store.hasMoreBefore) return;
  let minSeq = Infinity;
  for (const s of store.bySeq.keys()) if (s < minSeq) minSeq = s;
  if (!Number.isFinite(minSeq)) return;
  store.loadingOlder = true;
  invalidate('messages');
  try {
    const r = await api.get(`/chats/${cid}/messages${api.qs({ before_seq: minSeq, limit: PAGE })}`);
    if (state.stores.get(cid) !== store) return;
    for (const m of (r && r.messages) || []) mergeMessage(store, m);
    store.hasMoreBefore = !!(r && r.has_more_before);
    fixMoreBefore(store);
    store._keepScrollFromTop = true;
  } catch (e) {
    toast(errMsg(e));
  } finally {
    store.loadingOlder = false;
    invalidate('messages');
  }
}

async function loadMembers(cid) {
  try {
    const mem = new Map();
    const roles = new Map();
    let cursor;
    for (let i = 0; i < 10; i++) {
      const r = await api.get(`/chats/${cid}/members${api.qs({ limit: 200, cursor })}`);
      for (const m of (r && r.members) || []) {
        if (m.user) rememberUser(m.user);
        const uid = m.user ? m.user.id : m.user_id;
        if (uid === undefined) continue;
        mem.set(uid, { read_seq: m.read_seq || 0, delivered_seq: m.delivered_seq || 0 });
        roles.set(uid, m.role);
      }
      cursor = r && r.next_cursor;
      if (!cursor) break;
    }
    if (!state.chats.has(cid)) return;
    // Receipts that arrived while this was on its way are kept.
    const old = state.members.get(cid);
    if (old) {
      for (const [uid, mk] of mem) {
        const o = old.get(uid);
        if (o) mk.read_seq = Math.max(mk.read_seq, o.read_seq || 0), mk.delivered_seq = Math.max(mk.delivered_seq, o.delivered_seq || 0);
      }
    }
    state.members.set(cid, mem);
    state.memberRoles.set(cid, roles);
    const chat = state.chats.get(cid);
    if (chat && roles.has(state.me.id)) chat.role = roles.get(state.me.id);
    if (cid === state.openChatId) invalidate('messages', 'header');
  } catch (e) {
    console.warn('members failed', cid, e.message);
  }
}

function sendMessage(cid, content, replyTo) {
  let store = state.stores.get(cid);
  if (!store) { store = newStore(); state.stores.set(cid, store); }
  const p = {
    client_msg_id: uuid(),
    chat_id: cid,
    sender_id: state.me.id,
    content,
    reply_to_seq: replyTo || null,
    created_at: new Date().toISOString(),
    _status: 'pending',
    _localOrder: performance.now(),
    _attempts: 0,
  };
  store.pending.set(p.client_msg_id, p);
  store._scrollToBottom = true;
  invalidate('messages');
  return postPending(cid, p);
}

// Sending is safe to repeat: every attempt carries the same client_msg_id,
// which the server dedupes (a replay answers with the same message), so a
// message is never posted twice. Network errors, 5xx and 429 retry by
// themselves with a jittered backoff (sooner when the browser comes back
// online or the stream reconnects); after that the user can retry by hand.
const AUTO_RETRIES = 6;
const retryable = (e) => e instanceof ApiError && (e.status === 0 || e.status === 429 || e.status >= 500);

async function postPending(cid, p) {
  if (p._inflight) return;
  const epoch = state.epoch;
  p._inflight = true;
  clearTimeout(p._timer);
  p._timer = null;
  p._attempts++;
  try {
    const body = { content: p.content, client_msg_id: p.client_msg_id };
    if (p.reply_to_seq) body.reply_to_seq = p.reply_to_seq;
    const m = await api.post(`/chats/${cid}/messages`, body);
    p._inflight = false;
    if (epoch !== state.epoch) return;
    if (m && m.seq !== undefined) addMessage(cid, m, { live: false });
    else { p._status = undefined; }
  } catch (e) {
    p._inflight = false;
    if (epoch !== state.epoch) return;
    const store = state.stores.get(cid);
    if (!store || !store.pending.has(p.client_msg_id)) return; // arrived through the stream meanwhile
    if (e.status === 0 && navigator.onLine === false) {
      // Offline: wait for the browser to come back (the 'online' event),
      // without spending the automatic retries.
      p._status = 'pending';
      p._retrying = true;
      p._attempts = Math.max(0, p._attempts - 1);
      p._waitOnline = true;
    } else if (retryable(e) && p._attempts <= AUTO_RETRIES) {
      p._status = 'pending';
      p._retrying = true;
      const exp = Math.min(30_000, 1000 * 2 ** (p._attempts - 1));
      let delay = exp / 2 + Math.random() * exp / 2;
      if (e.retryAfter > 0) delay = Math.max(delay, e.retryAfter * 1000);
      p._timer = setTimeout(guard(() => postPending(cid, p)), delay);
    } else {
      p._status = 'failed';
      p._retrying = false;
      p._error = errMsg(e);
    }
    invalidate('messages');
    if (e.status === 404) removeChat(cid);
  }
}

// Retry waiting messages at once (back online, stream reconnected).
function retryPendingNow() {
  for (const [cid, store] of state.stores) {
    for (const p of store.pending.values()) {
      if (p._status === 'pending' && (p._timer || p._waitOnline) && !p._inflight) { p._waitOnline = false; postPending(cid, p); }
    }
  }
}

function retrySend(cid, cmid) {
  const store = state.stores.get(cid);
  const p = store && store.pending.get(cmid);
  if (!p || p._inflight) return;
  p._status = 'pending';
  p._error = undefined;
  p._attempts = 0;
  invalidate('messages');
  postPending(cid, p); // same client_msg_id: the server dedupes
}

function discardPending(cid, cmid) {
  const store = state.stores.get(cid);
  const p = store && store.pending.get(cmid);
  if (p) clearTimeout(p._timer);
  if (store) store.pending.delete(cmid);
  invalidate('messages');
}

// Read and delivery markers, debounced per chat.
const readTimers = new Map();
function scheduleRead(cid) {
  if (!isViewing(cid)) return;
  const chat = state.chats.get(cid);
  if (!chat) return;
  chat.unread_count = 0;
  invalidate('list');
  if (readTimers.has(cid)) return;
  readTimers.set(cid, setTimeout(guard(async () => {
    readTimers.delete(cid);
    if (!isViewing(cid)) return; // hidden or switched away meanwhile
    const c = state.chats.get(cid);
    if (!c || !c.last_seq || (c.read_seq || 0) >= c.last_seq) return;
    const seq = c.last_seq;
    try {
      const r = await api.post(`/chats/${cid}/read`, { seq });
      if (r && r.read_seq !== undefined) c.read_seq = Math.max(c.read_seq || 0, r.read_seq);
      else c.read_seq = Math.max(c.read_seq || 0, seq);
    } catch (e) {
      console.warn('read marker failed', e.message);
    }
  }), 400));
}

const deliveredTimers = new Map();
function scheduleDelivered(cid, seq) {
  const chat = state.chats.get(cid);
  if (!chat || deliveredTimers.has(cid)) return;
  deliveredTimers.set(cid, setTimeout(guard(async () => {
    deliveredTimers.delete(cid);
    const c = state.chats.get(cid);
    if (!c) return;
    const s = Math.max(seq, c.last_seq || 0);
    if ((c.delivered_seq || 0) >= s) return;
    try {
      const r = await api.post(`/chats/${cid}/delivered`, { seq: s });
      c.delivered_seq = Math.max(c.delivered_seq || 0, (r && r.delivered_seq) || s);
    } catch (e) {
      console.warn('delivered marker failed', e.message);
    }
  }), 500));
}

function isViewing(cid) {
  return state.openChatId === cid && document.visibilityState === 'visible';
}

// Typing: POST /chats/{id}/typing at most once per 3 s while the composer
// has text, with a trailing call so a short burst is still announced. After
// sending, the next announcement waits a moment, since the other side
// ignores typing that races right behind a message.
const TYPING_EVERY_MS = 3000;
let lastTypingSent = 0;
let typingTimer = null;
let typingDisabled = false;
function sendTyping() {
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

// ---------------------------------------------------------------------------
// Navigation

function navigateToChat(cid) {
  const want = cid == null ? '' : `#chat/${cid}`;
  if (location.hash !== want) {
    if (want) location.hash = want;
    else history.pushState(null, '', location.pathname + location.search);
  }
  openChat(cid);
}

function routeFromHash() {
  const m = /^#chat\/(\d+)$/.exec(location.hash);
  const cid = m ? Number(m[1]) : null;
  if (cid !== state.openChatId && (cid === null || state.chats.has(cid))) openChat(cid);
}

function openChat(cid) {
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
    lastTypingSent = 0;
    clearTimeout(typingTimer);
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

// ---------------------------------------------------------------------------
// Auth UI

function setAuthMode(mode) {
  const form = $('auth-form');
  form.dataset.mode = mode;
  const reg = mode === 'register';
  $('auth-heading').textContent = reg ? 'Create an account' : 'Log in';
  $('auth-submit').textContent = reg ? 'Create account' : 'Log in';
  $('auth-switch-text').textContent = reg ? 'Already have an account?' : 'No account yet?';
  $('auth-toggle').textContent = reg ? 'Log in' : 'Create one';
  $('display-name-field').hidden = !reg;
  $('auth-username-hint').hidden = !reg;
  $('auth-password-hint').hidden = !reg;
  $('auth-password').autocomplete = reg ? 'new-password' : 'current-password';
  $('auth-error').textContent = '';
}

function showAuth(message) {
  $('boot').hidden = true;
  $('app-view').hidden = true;
  $('auth-view').hidden = false;
  document.title = 'Chat';
  $('auth-error').textContent = message || '';
  $('auth-password').value = '';
  $('auth-submit').disabled = false;
  $('auth-username').focus();
}

async function onAuthSubmit(e) {
  e.preventDefault();
  const reg = $('auth-form').dataset.mode === 'register';
  const username = $('auth-username').value.trim().toLowerCase();
  const password = $('auth-password').value;
  const displayName = $('auth-display-name').value.trim();
  const err = $('auth-error');
  err.textContent = '';
  if (!username) { err.textContent = 'Enter your username.'; $('auth-username').focus(); return; }
  if (reg && !USERNAME_RE.test(username)) {
    err.textContent = 'Usernames are 3–32 characters: letters a–z, digits, and _ . -';
    $('auth-username').focus();
    return;
  }
  if (!password) { err.textContent = 'Enter your password.'; $('auth-password').focus(); return; }
  if (reg && utf8Len(password) < 8) {
    err.textContent = 'Passwords need at least 8 characters.';
    $('auth-password').focus();
    return;
  }
  const btn = $('auth-submit');
  btn.disabled = true;
  try {
    const data = reg ? await api.register(username, password, displayName || undefined)
      : await api.login(username, password);
    $('auth-password').value = '';
    await startApp(data.user);
  } catch (ex) {
    err.textContent = errMsg(ex);
    btn.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// App lifecycle

async function startApp(user) {
  resetState();
  if (!user) user = await api.get('/users/me');
  state.me = user;
  rememberUser(user);
  $('boot').hidden = true;
  $('auth-view').hidden = true;
  $('app-view').hidden = false;
  $('auth-submit').disabled = false;
  $('me-name').textContent = user.display_name && user.display_name !== user.username
    ? `${user.display_name} (@${user.username})` : `@${user.username}`;
  openChat(null);
  // Open the stream first (API.md rule 1); its first event is `resync`, which
  // loads the chat list. Load it right away too, so the list shows even if
  // the stream is slow or down.
  if (state.stream) state.stream.stop();
  state.stream = new EventStream({ onEvent, onState: setConn, transport: prefs.transport });
  state.stream.start();
  await resyncAll();
  routeFromHash();
  clearInterval(presenceTimer);
  presenceTimer = setInterval(refreshPresence, 60_000);
}

function stopApp(message) {
  clearInterval(presenceTimer);
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  if (state.stream) state.stream.stop();
  state.stream = null;
  resetState();
  $('chat-list').replaceChildren();
  $('message-list').replaceChildren();
  showAuth(message);
}

async function onLogout() {
  $('logout-btn').disabled = true;
  if (state.stream) state.stream.stop();
  await api.logout();
  $('logout-btn').disabled = false;
  history.replaceState(null, '', location.pathname + location.search);
  stopApp('');
  setAuthMode('login');
}

api.on('loggedOut', ({ reason }) => {
  if (!state.me) return;
  stopApp(reason === 'other_tab' ? 'You logged out in another tab.' : 'Your session has ended. Please log in again.');
});

// ---------------------------------------------------------------------------
// Sidebar forms

async function onDirectSubmit(e) {
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

async function onGroupSubmit(e) {
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
function onDirectInput() {
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

// ---------------------------------------------------------------------------
// Composer

function autoGrow() {
  const ta = $('message-input');
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 160)}px`;
}

function onComposerSubmit(e) {
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
function setCompose(ctx) {
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

function startReply(cid, seq) {
  if (state.compose && state.compose.mode === 'edit') $('message-input').value = '';
  setCompose({ mode: 'reply', chatId: cid, seq });
  $('message-input').focus();
}

function startEdit(cid, seq) {
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

function cancelCompose() {
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

async function deleteMessage(cid, seq) {
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

function onComposerKey(e) {
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

// ---------------------------------------------------------------------------
// Chat details: members, rename, add, remove, leave

function openInfo() {
  const cid = state.openChatId;
  if (!cid) return;
  $('rename-error').textContent = '';
  $('add-member-error').textContent = '';
  $('add-member-input').value = '';
  const chat = state.chats.get(cid);
  $('rename-input').value = chat && chat.type === 'group' ? chat.title || '' : '';
  renderInfo();
  $('info-dialog').showModal();
  loadMembers(cid).then(guard(() => {
    if (!$('info-dialog').open) return;
    renderInfo();
    // Presence of up to 50 members (the members list does not carry it).
    const mem = state.members.get(cid);
    if (mem && mem.size <= 50) {
      for (const uid of mem.keys()) {
        if (uid !== state.me.id) api.get(`/users/${uid}`).then(guard(rememberUser)).catch(() => {});
      }
    }
  }));
}

function renderInfo() {
  const cid = state.openChatId;
  const chat = state.chats.get(cid);
  if (!chat) { if ($('info-dialog').open) $('info-dialog').close(); return; }
  const group = chat.type === 'group';
  const admin = chat.role === 'admin';
  $('info-heading').textContent = group ? chatTitle(chat) : `Chat with ${chatTitle(chat)}`;
  $('rename-form').hidden = !(group && admin);
  $('add-member-form').hidden = !(group && admin);
  $('leave-section').hidden = !group;
  const roles = state.memberRoles.get(cid) || new Map();
  const mem = state.members.get(cid) || new Map();
  const ids = mem.size ? [...mem.keys()] : [...(chat.member_ids || [])];
  ids.sort((a, b) => (a === state.me.id ? -1 : b === state.me.id ? 1 : userLabel(a).localeCompare(userLabel(b))));
  const items = ids.map((uid) => {
    const u = state.users.get(uid);
    const me = uid === state.me.id;
    const role = roles.get(uid);
    const pres = me ? null : u && u.presence;
    return h('li', { class: 'member', dataset: { userId: String(uid), testid: 'member' } },
      h('span', { class: 'avatar direct small', 'aria-hidden': 'true' }, initials(u ? u.username : '?'),
        h('span', { class: `presence ${pres && pres.status === 'online' ? 'online' : 'offline'}` })),
      h('span', { class: 'member-main' },
        h('span', { class: 'member-name', text: `${userLabel(uid)}${me ? ' (you)' : ''}` }),
        h('span', { class: 'member-sub', text: [u && u.display_name && u.display_name !== u.username ? u.display_name : '', role === 'admin' ? 'admin' : '', pres ? presenceText(pres) : ''].filter(Boolean).join(' · ') })),
      group && admin && !me ? h('button', {
        type: 'button', class: 'small', 'data-testid': 'remove-member',
        'aria-label': `Remove ${userLabel(uid)} from the group`, onclick: () => removeMember(cid, uid),
      }, 'Remove') : null);
  });
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('#member-list li');
  const focusId = focused ? focused.dataset.userId : null;
  $('member-list').replaceChildren(...items);
  if (focusId) {
    const b = $('member-list').querySelector(`li[data-user-id="${CSS.escape(focusId)}"] button`);
    (b || $('add-member-input')).focus();
  }
}

async function onRenameSubmit(e) {
  e.preventDefault();
  const cid = state.openChatId;
  const title = $('rename-input').value.trim();
  $('rename-error').textContent = '';
  if (!title) { $('rename-error').textContent = 'Give the group a name.'; return; }
  try {
    const c = await api.patch(`/chats/${cid}`, { title });
    if (c && c.id !== undefined) mergeChat(c);
    renderInfo();
  } catch (ex) {
    $('rename-error').textContent = errMsg(ex);
  }
}

async function onAddMemberSubmit(e) {
  e.preventDefault();
  const cid = state.openChatId;
  const err = $('add-member-error');
  err.textContent = '';
  const names = [...new Set($('add-member-input').value.split(/[,\s]+/)
    .map((x) => x.trim().toLowerCase().replace(/^@/, '')).filter(Boolean))];
  if (!names.length) { err.textContent = 'Enter one or more usernames.'; return; }
  try {
    const found = await Promise.all(names.map((n) => findUserByName(n)));
    const missing = names.filter((n, i) => !found[i]);
    if (missing.length) { err.textContent = `Unknown user${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`; return; }
    await api.post(`/chats/${cid}/members`, { user_ids: found.map((u) => u.id) });
    $('add-member-input').value = '';
    await loadMembers(cid);
    fetchChat(cid).catch(() => {});
    renderInfo();
  } catch (ex) {
    err.textContent = errMsg(ex);
  }
}

async function removeMember(cid, uid) {
  if (!window.confirm(`Remove ${userLabel(uid)} from the group?`)) return;
  try {
    await api.del(`/chats/${cid}/members/${uid}`);
    const mem = state.members.get(cid);
    if (mem) mem.delete(uid);
    renderInfo();
    fetchChat(cid).catch(() => {});
  } catch (ex) {
    toast(errMsg(ex));
  }
}

async function leaveChat() {
  const cid = state.openChatId;
  const chat = state.chats.get(cid);
  if (!chat || !window.confirm(`Leave “${chatTitle(chat)}”? You will no longer see its messages.`)) return;
  try {
    await api.del(`/chats/${cid}/members/${state.me.id}`);
    $('info-dialog').close();
    removeChat(cid, { quiet: true });
  } catch (ex) {
    toast(errMsg(ex));
  }
}

// ---------------------------------------------------------------------------
// Settings: sessions, notifications, transport

const PREF_KEY = 'chat.prefs';
function loadPrefs() {
  try { return { notify: false, transport: 'sse', ...JSON.parse(localStorage.getItem(PREF_KEY) || '{}') }; } catch { return { notify: false, transport: 'sse' }; }
}
function savePrefs(p) {
  try { localStorage.setItem(PREF_KEY, JSON.stringify(p)); } catch { /* private mode */ }
}
const prefs = loadPrefs();
// ?transport=poll (or sse, ws) in the address does what choosing it in the
// settings does, and sticks: a way to force long-poll behind a proxy that
// spoils streams (README "Behind restrictive proxies").
{
  const t = new URLSearchParams(location.search).get('transport');
  if (['sse', 'ws', 'poll'].includes(t)) { prefs.transport = t; savePrefs(prefs); }
}

function openSettings() {
  $('transport-select').value = prefs.transport;
  renderNotifyToggle();
  $('sessions-error').textContent = '';
  $('settings-dialog').showModal();
  loadSessions();
}

function renderNotifyToggle() {
  const box = $('notify-toggle');
  const hint = $('notify-hint');
  if (!('Notification' in window)) {
    box.checked = false; box.disabled = true;
    hint.textContent = 'This browser does not support notifications.';
    return;
  }
  box.disabled = Notification.permission === 'denied';
  box.checked = prefs.notify && Notification.permission === 'granted';
  hint.textContent = Notification.permission === 'denied'
    ? 'Notifications are blocked for this site in your browser settings.' : '';
}

async function onNotifyToggle() {
  const box = $('notify-toggle');
  if (!box.checked) { prefs.notify = false; savePrefs(prefs); renderNotifyToggle(); return; }
  // Permission is asked only here, on the user's own click.
  let perm = Notification.permission;
  if (perm === 'default') {
    try { perm = await Notification.requestPermission(); } catch { perm = 'denied'; }
  }
  prefs.notify = perm === 'granted';
  savePrefs(prefs);
  renderNotifyToggle();
}

function notifyMessage(cid, m) {
  if (!prefs.notify || !('Notification' in window) || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' || m.sender_id === state.me.id || m.deleted) return;
  const chat = state.chats.get(cid);
  if (!chat) return;
  const title = chat.type === 'group' ? `${userLabel(m.sender_id)} in ${chatTitle(chat)}` : userLabel(m.sender_id);
  try {
    const n = new Notification(title, { body: (m.content || '').slice(0, 200), tag: `chat-${cid}`, renotify: true });
    n.onclick = () => { window.focus(); navigateToChat(cid); n.close(); };
  } catch (e) { console.warn('notification failed', e); }
}

function onTransportChange() {
  prefs.transport = $('transport-select').value;
  savePrefs(prefs);
  if (state.stream) state.stream.setTransport(prefs.transport);
}

async function loadSessions() {
  const ul = $('session-list');
  ul.replaceChildren(h('li', { class: 'empty', text: 'Loading…' }));
  try {
    const r = await api.get('/auth/sessions');
    const sessions = ((r && r.sessions) || []).sort((a, b) => (b.current - a.current) || (ts(b.last_used_at) - ts(a.last_used_at)));
    ul.replaceChildren(...sessions.map((se) => h('li', { class: 'session', dataset: { sessionId: String(se.id), testid: 'session', current: se.current ? '1' : '0' } },
      h('span', { class: 'session-main' },
        h('span', { class: 'session-name', text: `${describeAgent(se.user_agent)}${se.current ? ' · this browser' : ''}` }),
        h('span', { class: 'session-sub', text: [se.ip, se.last_used_at ? `active ${lastSeenText(se.last_used_at)}` : ''].filter(Boolean).join(' · ') })),
      h('button', {
        type: 'button', class: 'small', 'data-testid': 'revoke-session',
        'aria-label': se.current ? 'Log out of this browser' : `Log out ${describeAgent(se.user_agent)} (${se.ip || 'unknown address'})`,
        onclick: () => revokeSession(se),
      }, se.current ? 'Log out' : 'Revoke'))));
    if (!sessions.length) ul.replaceChildren(h('li', { class: 'empty', text: 'No sessions.' }));
  } catch (e) {
    ul.replaceChildren();
    $('sessions-error').textContent = errMsg(e);
  }
}

function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const b = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari' : /curl\//.test(ua) ? 'curl' : /python/i.test(ua) ? 'Python' : ua.split(/[ /]/)[0];
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${b} on ${os}` : b;
}

async function revokeSession(se) {
  if (se.current) { $('settings-dialog').close(); onLogout(); return; }
  try {
    await api.del(`/auth/sessions/${se.id}`);
    loadSessions();
  } catch (e) {
    $('sessions-error').textContent = errMsg(e);
  }
}

async function onLogoutAll() {
  if (!window.confirm('Log out of every browser and device, this one included?')) return;
  try {
    if (state.stream) state.stream.stop();
    await api.logoutAll();
  } catch (e) {
    $('sessions-error').textContent = errMsg(e);
    return;
  }
  $('settings-dialog').close();
  history.replaceState(null, '', location.pathname + location.search);
  stopApp('You logged out everywhere.');
  setAuthMode('login');
}

// ---------------------------------------------------------------------------
// Presence: refetched for direct chats now and then (presence events, when
// the server sends them, update it at once).

let presenceTimer = null;
function refreshPresence() {
  if (!state.me || document.visibilityState !== 'visible') return;
  const ids = new Set();
  for (const c of state.chats.values()) if (c.type === 'direct') { const o = otherMemberId(c); if (o !== null) ids.add(o); }
  let n = 0;
  for (const id of ids) {
    if (n++ >= 30) break; // bounded: the most recent ones are enough
    api.get(`/users/${id}`).then(guard(rememberUser)).catch(() => {});
  }
}

// Keyboard: arrow keys move between chats in the list.
function onChatListKey(e) {
  if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(e.key)) return;
  const btns = [...$('chat-list').querySelectorAll('button.chat-item')];
  const i = btns.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  const j = e.key === 'Home' ? 0 : e.key === 'End' ? btns.length - 1
    : Math.max(0, Math.min(btns.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)));
  btns[j].focus();
}

// ---------------------------------------------------------------------------
// Boot

function wire() {
  $('auth-form').addEventListener('submit', onAuthSubmit);
  $('auth-toggle').addEventListener('click', () => {
    setAuthMode($('auth-form').dataset.mode === 'register' ? 'login' : 'register');
    $('auth-username').focus();
  });
  $('logout-btn').addEventListener('click', onLogout);
  $('settings-btn').addEventListener('click', openSettings);
  $('info-btn').addEventListener('click', openInfo);
  $('notify-toggle').addEventListener('change', onNotifyToggle);
  $('transport-select').addEventListener('change', onTransportChange);
  $('logout-all-btn').addEventListener('click', onLogoutAll);
  $('rename-form').addEventListener('submit', onRenameSubmit);
  $('add-member-form').addEventListener('submit', onAddMemberSubmit);
  $('leave-btn').addEventListener('click', leaveChat);
  $('cc-cancel').addEventListener('click', cancelCompose);
  $('chat-list').addEventListener('keydown', onChatListKey);
  // Touch screens have no hover: a tap on a bubble shows its actions.
  $('message-list').addEventListener('click', (e) => {
    if (e.target.closest('button')) return;
    const li = e.target.closest('li.msg');
    if (!li) return;
    for (const o of $('message-list').querySelectorAll('li.show-actions')) if (o !== li) o.classList.remove('show-actions');
    li.classList.toggle('show-actions');
  });
  for (const d of document.querySelectorAll('dialog')) {
    d.addEventListener('click', (e) => {
      if (e.target.closest('[data-close]') || e.target === d) d.close();
    });
  }
  window.addEventListener('online', () => { if (state.me) retryPendingNow(); });
  $('new-direct-form').addEventListener('submit', onDirectSubmit);
  $('direct-username').addEventListener('input', onDirectInput);
  $('new-group-form').addEventListener('submit', onGroupSubmit);
  $('composer').addEventListener('submit', onComposerSubmit);
  $('message-input').addEventListener('keydown', onComposerKey);
  $('message-input').addEventListener('input', () => { autoGrow(); sendTyping(); });
  $('load-older-btn').addEventListener('click', loadOlder);
  $('messages-scroll').addEventListener('scroll', () => {
    const s = $('messages-scroll');
    if (s.scrollTop < 40) {
      const store = state.stores.get(state.openChatId);
      if (store && store.loaded && store.hasMoreBefore && !store.loadingOlder) loadOlder();
    }
  }, { passive: true });
  $('back-btn').addEventListener('click', () => navigateToChat(null));
  $('toast-close').addEventListener('click', () => { $('toast').hidden = true; });
  window.addEventListener('hashchange', () => { if (state.me) routeFromHash(); });
  window.addEventListener('popstate', () => { if (state.me) routeFromHash(); });
  document.addEventListener('visibilitychange', () => {
    if (state.me && state.openChatId && document.visibilityState === 'visible') scheduleRead(state.openChatId);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('toast').hidden) $('toast').hidden = true;
  });
}

async function boot() {
  wire();
  setAuthMode('login');
  if (!api.hasStoredSession()) { showAuth(); return; }
  try {
    const data = await api.refresh();
    await startApp(data && data.user && data.user.id !== undefined ? data.user : null);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showAuth('Your session has ended. Please log in again.');
    else if (e instanceof ApiError && e.status === 0) showAuth('Cannot reach the server. Check your connection and reload.');
    else showAuth(errMsg(e));
  }
}

boot();
