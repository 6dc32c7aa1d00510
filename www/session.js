// Logging in and out, and starting and stopping the app around a session.

import * as api from './api.js';
import { EventStream } from './stream.js';
import { $, errMsg, utf8Len } from './util.js';
import { resetState, state } from './state.js';
import { refreshPresence, rememberUser } from './users.js';
import { prefs } from './prefs.js';
import { openChat, routeFromHash } from './navigation.js';
import { onEvent, resyncAll } from './events.js';
import { setConn } from './render.js';

const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;

export function setAuthMode(mode) {
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

export function showAuth(message) {
  $('boot').hidden = true;
  $('app-view').hidden = true;
  $('auth-view').hidden = false;
  document.title = 'Chat';
  $('auth-error').textContent = message || '';
  $('auth-password').value = '';
  $('auth-submit').disabled = false;
  $('auth-username').focus();
}

export async function onAuthSubmit(e) {
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

// Starting and stopping the app around a login session.

let presenceTimer = null;

export async function startApp(user) {
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

export function stopApp(message) {
  clearInterval(presenceTimer);
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  if (state.stream) state.stream.stop();
  state.stream = null;
  resetState();
  $('chat-list').replaceChildren();
  $('message-list').replaceChildren();
  showAuth(message);
}

export async function onLogout() {
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
