// Events: resync, the version rule and gap fill (API.md's client rules).
//
// Each durable event is applied only when its version is exactly one more
// than the chat's version we hold; older versions are duplicates and
// ignored; a jump is filled from GET /chats/{id}/changes (or, failing that,
// by reloading the chat and its newest page).

import * as api from './api.js';
import { $, errMsg, toast } from './util.js';
import { enqueue, invalidate, state } from './state.js';
import { fetchUser } from './users.js';
import { addMessage, lastPostAt, loadMembers, loadNewest, scheduleDelivered, TYPING_AFTER_MESSAGE_MS } from './messages.js';
import { fetchAllChats, fetchChat, fetchVersions, mergeChat, PER_CALLER, removeChat } from './chats.js';
import { renderInfo } from './details.js';
import { routeFromHash } from './navigation.js';

// Resync (API.md rule 2). The first time, the whole chat list; afterwards
// the cheap GET /chats?fields=id,version, then for every chat that moved:
// GET /chats/{id}/changes when we hold its history, else GET /chats/{id}.
// New chats are fetched; chats that are gone are forgotten.
let resyncRunning = null;
let resyncAgain = false;
export function resyncAll() {
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

// The event types the client acts on (API.md "Events"). Durable ones carry
// the chat's version and go through the version rule, in order per chat;
// transient ones act at once. Any other type is ignored: the API grows by
// adding types.
export const EVENT_TYPES = Object.freeze({
  durable: Object.freeze(['chat.created', 'chat.updated', 'message.created', 'message.updated',
    'message.deleted', 'member.joined', 'member.left']),
  transient: Object.freeze(['resync', 'typing', 'receipt', 'presence']),
});
const DURABLE = new Set(EVENT_TYPES.durable);

export function onEvent(ev) {
  if (!state.me) return;
  switch (ev.type) {
    case 'resync':
      if (ev.chat_id != null) enqueue(ev.chat_id, () => resyncChat(ev.chat_id));
      else resyncAll();
      return;
    case 'typing': onTyping(ev); return;
    case 'receipt': onReceipt(ev); return;
    case 'presence': onPresence(ev); return;
    default:
      if (!DURABLE.has(ev.type) || ev.chat_id == null) return;
      enqueue(ev.chat_id, () => onDurable(ev));
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
