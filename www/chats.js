// Chats: merging chat objects (versions never go backwards), forgetting
// chats, and fetching one, the whole list, or only the versions.

import * as api from './api.js';
import { toast } from './util.js';
import { enqueue, hooks, invalidate, state } from './state.js';
import { loadNewest } from './messages.js';

export const PER_CALLER = ['unread_count', 'read_seq', 'delivered_seq', 'role'];

// Merge a chat object into our state. Versions never go backwards: a chat
// object at the version we hold refreshes only our per-caller fields (the
// server's unread count is authoritative), and an older one only the role.
// A newer one while we hold its history reloads the newest page, since the
// messages in between never reached us as events.
export function mergeChat(c) {
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

export function removeChat(cid, { quiet = false } = {}) {
  state.chats.delete(cid);
  state.stores.delete(cid);
  state.members.delete(cid);
  state.memberRoles.delete(cid);
  state.typing.delete(cid);
  if (state.openChatId === cid) {
    if (!quiet) toast('You are no longer in that chat.');
    hooks.navigateToChat(null);
  }
  invalidate('list');
}

export async function fetchChat(cid) {
  try {
    const c = await api.get(`/chats/${cid}`);
    if (!state.me) return null;
    return mergeChat(c);
  } catch (e) {
    if (e.status === 404) { if (state.chats.has(cid)) removeChat(cid); return null; }
    throw e;
  }
}

export async function fetchAllChats() {
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

export async function fetchVersions() {
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
