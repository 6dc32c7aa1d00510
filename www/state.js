// State: plain Maps the DOM is re-rendered from, the coalesced render
// request, the per-chat event queue, and the few calls up the module graph.

export const state = {
  me: null,
  chats: new Map(),     // chat id -> chat (with our per-caller fields)
  users: new Map(),     // user id -> user
  userFetches: new Map(), // user id -> Promise
  stores: new Map(),    // chat id -> message store (see newStore)
  queues: new Map(),    // chat id -> Promise: events of a chat apply in order
  members: new Map(),   // chat id -> Map(user id -> {read_seq, delivered_seq})
  memberRoles: new Map(), // chat id -> Map(user id -> role)
  typing: new Map(),    // chat id -> Map(user id -> expiry ms)
  quotes: new Map(),    // `${chat}:${seq}` -> message quoted by a reply, outside the loaded history
  compose: null,        // {mode: 'reply'|'edit', chatId, seq}
  openChatId: null,
  listLoaded: false,
  conn: 'stopped',
  stream: null,
  epoch: 0,             // bumped on logout so late answers are dropped
  msgDom: { chatId: null, els: new Map() }, // rendered message elements by key (render.js)
};

// Calls up the module graph, bound once by app.js before boot. Modules import
// only from the ones before them (the order is in app.js); these are the
// calls that must go the other way.
export const hooks = {
  render: null,         // render.js renderParts(parts): draw what invalidate() marked
  navigateToChat: null, // navigation.js: close a chat that is gone, open one from a notification
  removeChat: null,     // chats.js: forget a chat a post found gone (404)
};

export function newStore() {
  return {
    bySeq: new Map(),     // seq -> message from the server
    pending: new Map(),   // client_msg_id -> optimistic message
    hasMoreBefore: false,
    loaded: false,
    loading: null,
    loadingOlder: false,
  };
}

export function resetState() {
  state.epoch++;
  state.me = null;
  state.chats.clear();
  state.users.clear();
  state.userFetches.clear();
  state.stores.clear();
  state.queues.clear();
  state.members.clear();
  state.memberRoles.clear();
  state.typing.clear();
  state.quotes.clear();
  state.compose = null;
  state.listLoaded = false;
  state.openChatId = null;
  state.msgDom = { chatId: null, els: new Map() };
}

// Run fn only if we are still in the same login session when it resolves.
export function guard(fn) {
  const epoch = state.epoch;
  return (...args) => (epoch === state.epoch ? fn(...args) : undefined);
}

// Rendering is coalesced: parts marked here are drawn once, after the
// current task, by hooks.render.
const dirty = new Set();
let renderQueued = false;
export function invalidate(...parts) {
  for (const p of parts) dirty.add(p);
  if (renderQueued) return;
  renderQueued = true;
  Promise.resolve().then(() => {
    renderQueued = false;
    const parts2 = new Set(dirty);
    dirty.clear();
    if (!state.me) return;
    hooks.render(parts2);
  });
}

// Events of a chat apply in order: fn runs after everything queued before
// it for that chat, and not at all after a logout.
export function enqueue(cid, fn) {
  const prev = state.queues.get(cid) || Promise.resolve();
  const epoch = state.epoch;
  const next = prev.then(() => (epoch === state.epoch ? fn() : undefined))
    .catch((e) => console.warn('chat queue', cid, e));
  state.queues.set(cid, next);
  next.then(() => { if (state.queues.get(cid) === next) state.queues.delete(cid); });
  return next;
}
