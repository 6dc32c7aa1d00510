// Messages: the per-chat store (keyed by seq, optimistic ones by
// client_msg_id), pages, members and their markers, sending with retries,
// and our own read and delivery markers.

import * as api from './api.js';
import { ApiError } from './api.js';
import { errMsg, toast, ts, uuid } from './util.js';
import { guard, hooks, invalidate, newStore, state } from './state.js';
import { rememberUser } from './users.js';
import { notifyMessage } from './prefs.js';

const PAGE = 50;

// A typing event can be published after the message it announced (the two
// requests race on the server), so typing from someone who has just posted
// in that chat is ignored for a moment.
export const TYPING_AFTER_MESSAGE_MS = 1500;
export const lastPostAt = new Map(); // `${chat}:${user}` -> ms

export function addMessage(cid, m, { live }) {
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

export async function loadNewest(cid, { replace = false } = {}) {
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

export async function loadOlder() {
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

export async function loadMembers(cid) {
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

export function sendMessage(cid, content, replyTo) {
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
    if (e.status === 404) hooks.removeChat(cid);
  }
}

// Retry waiting messages at once (back online, stream reconnected).
export function retryPendingNow() {
  for (const [cid, store] of state.stores) {
    for (const p of store.pending.values()) {
      if (p._status === 'pending' && (p._timer || p._waitOnline) && !p._inflight) { p._waitOnline = false; postPending(cid, p); }
    }
  }
}

export function retrySend(cid, cmid) {
  const store = state.stores.get(cid);
  const p = store && store.pending.get(cmid);
  if (!p || p._inflight) return;
  p._status = 'pending';
  p._error = undefined;
  p._attempts = 0;
  invalidate('messages');
  postPending(cid, p); // same client_msg_id: the server dedupes
}

export function discardPending(cid, cmid) {
  const store = state.stores.get(cid);
  const p = store && store.pending.get(cmid);
  if (p) clearTimeout(p._timer);
  if (store) store.pending.delete(cmid);
  invalidate('messages');
}

// Read and delivery markers, debounced per chat.
const readTimers = new Map();
export function scheduleRead(cid) {
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
export function scheduleDelivered(cid, seq) {
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
