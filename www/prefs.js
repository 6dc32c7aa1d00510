// Preferences kept in localStorage (notifications, transport), and the
// desktop notification they allow.

import { hooks, state } from './state.js';
import { chatTitle, userLabel } from './users.js';

const PREF_KEY = 'chat.prefs';
function loadPrefs() {
  try { return { notify: false, transport: 'sse', ...JSON.parse(localStorage.getItem(PREF_KEY) || '{}') }; } catch { return { notify: false, transport: 'sse' }; }
}
export function savePrefs(p) {
  try { localStorage.setItem(PREF_KEY, JSON.stringify(p)); } catch { /* private mode */ }
}
export const prefs = loadPrefs();
// ?transport=poll (or sse, ws) in the address does what choosing it in the
// settings does, and sticks: a way to force long-poll behind a proxy that
// spoils streams (README "Behind restrictive proxies").
{
  const t = new URLSearchParams(location.search).get('transport');
  if (['sse', 'ws', 'poll'].includes(t)) { prefs.transport = t; savePrefs(prefs); }
}

export function notifyMessage(cid, m) {
  if (!prefs.notify || !('Notification' in window) || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' || m.sender_id === state.me.id || m.deleted) return;
  const chat = state.chats.get(cid);
  if (!chat) return;
  const title = chat.type === 'group' ? `${userLabel(m.sender_id)} in ${chatTitle(chat)}` : userLabel(m.sender_id);
  try {
    const n = new Notification(title, { body: (m.content || '').slice(0, 200), tag: `chat-${cid}`, renotify: true });
    n.onclick = () => { window.focus(); hooks.navigateToChat(cid); n.close(); };
  } catch (e) { console.warn('notification failed', e); }
}
