// Chat details: members, rename, add, remove, leave.

import * as api from './api.js';
import { $, errMsg, h, toast } from './util.js';
import { guard, state } from './state.js';
import { chatTitle, findUserByName, initials, presenceText, rememberUser, userLabel } from './users.js';
import { loadMembers } from './messages.js';
import { fetchChat, mergeChat, removeChat } from './chats.js';

export function openInfo() {
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

export function renderInfo() {
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

export async function onRenameSubmit(e) {
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

export async function onAddMemberSubmit(e) {
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

export async function leaveChat() {
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
