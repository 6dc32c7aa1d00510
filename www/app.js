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
//
// The modules, each importing only from those before it: util, state,
// users, prefs, messages, chats, details, composer, navigation, events,
// render, session, settings, and this one, which binds state.hooks (the few
// calls that go up), wires the page's controls and boots.

import * as api from './api.js';
import { ApiError } from './api.js';
import { $, errMsg } from './util.js';
import { hooks, state } from './state.js';
import { loadOlder, retryPendingNow, scheduleRead } from './messages.js';
import { removeChat } from './chats.js';
import { leaveChat, onAddMemberSubmit, onRenameSubmit, openInfo } from './details.js';
import { autoGrow, cancelCompose, onComposerKey, onComposerSubmit, sendTyping } from './composer.js';
import { navigateToChat, onChatListKey, onDirectInput, onDirectSubmit, onGroupSubmit, routeFromHash } from './navigation.js';
import { renderParts } from './render.js';
import { onAuthSubmit, onLogout, setAuthMode, showAuth, startApp } from './session.js';
import { onLogoutAll, onNotifyToggle, onTransportChange, openSettings } from './settings.js';

Object.assign(hooks, { render: renderParts, navigateToChat, removeChat });

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
