// Users: lookups (cached, deduped), names and titles for display, presence.

import * as api from './api.js';
import { $, sameDay, shortDayFmt, timeFmt, ts } from './util.js';
import { guard, invalidate, state } from './state.js';

export function fetchUser(id) {
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

export function rememberUser(u) {
  if (!u || u.id === undefined) return;
  const old = state.users.get(u.id);
  state.users.set(u.id, old ? { ...old, ...u } : u);
  invalidate('list', 'header', 'messages', 'typing');
  if ($('info-dialog').open) invalidate('info');
}

export async function findUserByName(name) {
  const q = name.trim().toLowerCase();
  const r = await api.get(`/users${api.qs({ q, limit: 20 })}`);
  const users = (r && r.users) || [];
  users.forEach(rememberUser);
  return users.find((u) => (u.username || '').toLowerCase() === q) || null;
}

export function userLabel(id) {
  if (state.me && id === state.me.id) return state.me.username;
  const u = state.users.get(id);
  if (u) return u.username;
  fetchUser(id);
  return '…';
}

export function otherMemberId(chat) {
  const ids = chat.member_ids || [];
  return ids.find((id) => id !== state.me.id) ?? null;
}

export function chatTitle(chat) {
  if (chat.type === 'group') return chat.title || 'Untitled group';
  if (chat.title) return chat.title;
  const other = otherMemberId(chat);
  if (other === null) return chat.member_ids ? `${state.me.username} (you)` : 'Direct chat';
  return userLabel(other);
}

// Presence of the other person in a direct chat: {status, last_seen_at} or null.
export function presenceOf(chat) {
  if (!chat || chat.type !== 'direct') return null;
  const other = otherMemberId(chat);
  const u = other !== null ? state.users.get(other) : null;
  return u && u.presence ? u.presence : null;
}

export function presenceText(p) {
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (p.last_seen_at) return `last seen ${lastSeenText(p.last_seen_at)}`;
  return 'offline';
}

export function lastSeenText(iso) {
  const t = ts(iso);
  if (!t) return '';
  const mins = Math.round((Date.now() - t) / 60_000);
  if (mins < 1) return 'just now';
  if (mins < 60) return `${mins} min ago`;
  const d = new Date(t);
  if (sameDay(d, new Date())) return `today at ${timeFmt.format(d)}`;
  return `${shortDayFmt.format(d)} at ${timeFmt.format(d)}`;
}

export function initials(title) {
  const t = (title || '?').replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
  if (!t) return '#';
  const parts = t.split(' ');
  return (parts.length > 1 ? parts[0][0] + parts[1][0] : t.slice(0, 2)).toUpperCase();
}

// ---------------------------------------------------------------------------
// Presence: refetched for direct chats now and then (presence events, when
// the server sends them, update it at once).

export function refreshPresence() {
  if (!state.me || document.visibilityState !== 'visible') return;
  const ids = new Set();
  for (const c of state.chats.values()) if (c.type === 'direct') { const o = otherMemberId(c); if (o !== null) ids.add(o); }
  let n = 0;
  for (const id of ids) {
    if (n++ >= 30) break; // bounded: the most recent ones are enough
    api.get(`/users/${id}`).then(guard(rememberUser)).catch(() => {});
  }
}
