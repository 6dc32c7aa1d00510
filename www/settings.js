// Settings: sessions, notifications, transport.

import * as api from './api.js';
import { $, errMsg, h, ts } from './util.js';
import { state } from './state.js';
import { lastSeenText } from './users.js';
import { prefs, savePrefs } from './prefs.js';
import { onLogout, setAuthMode, stopApp } from './session.js';

export function openSettings() {
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

export async function onNotifyToggle() {
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

export function onTransportChange() {
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

export async function onLogoutAll() {
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
