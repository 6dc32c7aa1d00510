// Rendering: the chat list, the open chat's header and messages, typing,
// the connection state. Drawn from state when invalidate() marks a part;
// user data only ever reaches the DOM through textContent.

import * as api from './api.js';
import { $, dayLabel, h, listTime, sameDay, timeFmt, toast, ts } from './util.js';
import { guard, invalidate, state } from './state.js';
import { chatTitle, initials, otherMemberId, presenceOf, presenceText, userLabel } from './users.js';
import { discardPending, retryPendingNow, retrySend } from './messages.js';
import { renderInfo } from './details.js';
import { deleteMessage, startEdit, startReply } from './composer.js';
import { navigateToChat } from './navigation.js';

// Draw the parts invalidate() marked (bound as hooks.render).
export function renderParts(parts2) {
  if (parts2.has('list')) renderChatList();
  if (parts2.has('header')) renderChatHeader();
  if (parts2.has('messages')) renderMessages();
  if (parts2.has('typing')) renderTyping();
  if (parts2.has('info') && $('info-dialog').open) renderInfo();
  renderTitle();
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

function avatarFor(chat, title) {
  const p = presenceOf(chat);
  return h('span', { class: `avatar ${chat.type}`, 'aria-hidden': 'true' },
    initials(title),
    chat.type === 'direct' ? h('span', {
      class: `presence ${p && p.status === 'online' ? 'online' : 'offline'}`,
      'data-testid': 'presence-dot', 'data-status': p ? p.status : 'unknown',
    }) : null);
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
  if (!store || !chat) { list.replaceChildren(); state.msgDom = { chatId: null, els: new Map() }; return; }

  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  const prevHeight = scroller.scrollHeight;
  const prevTop = scroller.scrollTop;

  const msgs = [...store.bySeq.values()].sort((a, b) => a.seq - b.seq);
  const pend = [...store.pending.values()].sort((a, b) => a._localOrder - b._localOrder);
  const all = msgs.concat(pend);
  // Keyed rendering: an unchanged message keeps its element, so the live
  // region announces only what is new, and focus and selection survive.
  if (state.msgDom.chatId !== cid) {
    state.msgDom = { chatId: cid, els: new Map() };
    list.replaceChildren();
  }
  const want = [];
  const used = new Set();
  const place = (key, sig, build) => {
    used.add(key);
    const old = state.msgDom.els.get(key);
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
      state.msgDom.els.set(key, { el: fresh, sig });
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
  for (const key of [...state.msgDom.els.keys()]) if (!used.has(key)) state.msgDom.els.delete(key);
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
export function setConn(s, transport) {
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
