// A small in-memory stand-in for the chat API (API.md), for working on www/
// without the real stack. It serves www/ at / and the subset of /api/v1 the
// web client uses. NOT the product: no persistence, no real security.
//
//   node tests/e2e/mock-server.mjs [port]      (default 18099)
//   MOCK_DROP_STREAMS_MS=3000 ...              end every SSE stream after 3 s
//                                              (exercises reconnect + cursor)

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const WWW = path.resolve(here, '../../www');
const PORT = Number(process.argv[2] || process.env.PORT || 18099);
const DROP_MS = Number(process.env.MOCK_DROP_STREAMS_MS || 0);
const ACCESS_TTL = Number(process.env.MOCK_ACCESS_TTL || 900);
const BOOT = crypto.randomBytes(4).toString('hex');

let nextId = 1000;
const users = new Map(); // id -> {id, username, display_name, password}
const access = new Map(); // token -> {uid, exp}
const refresh = new Map(); // token -> {uid, spent}
const tickets = new Map(); // ticket -> {uid, exp}
const chats = new Map(); // id -> chat
const streams = new Set(); // {uid, res, log}
const userLog = new Map(); // uid -> [{id, ev}]  replay buffer per user
let eventSeq = 0;

const now = () => new Date().toISOString();
const tok = (p) => p + crypto.randomBytes(24).toString('hex');

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(data);
}
const err = (res, status, code, message) => send(res, status, { error: { code, message } });

function pubUser(u) {
  return { id: u.id, username: u.username, display_name: u.display_name ?? null, presence: null };
}

function session(res, u, status = 200) {
  const at = tok('at_');
  const rt = tok('rt_');
  access.set(at, { uid: u.id, exp: Date.now() + ACCESS_TTL * 1000 });
  refresh.set(rt, { uid: u.id, spent: false });
  send(res, status, { user: pubUser(u), access_token: at, refresh_token: rt, token_type: 'Bearer', expires_in: ACCESS_TTL });
}

function chatView(c, uid) {
  const out = {
    id: c.id, type: c.type, title: c.title, created_at: c.created_at, last_activity_at: c.last_activity_at,
    version: c.version, last_seq: c.messages.length, last_message: c.messages.at(-1) || null,
    members_count: c.members.size,
  };
  if (c.type === 'direct') out.member_ids = [...c.members.keys()];
  if (uid !== undefined) {
    const m = c.members.get(uid);
    out.read_seq = m.read_seq;
    out.delivered_seq = m.delivered_seq;
    out.role = m.role;
    out.unread_count = c.messages.filter((x) => x.seq > m.read_seq && x.sender_id !== uid && !x.deleted).length;
  }
  return out;
}

function emit(c, ev, extraUids = []) {
  const uids = new Set([...c.members.keys(), ...extraUids]);
  if (ev.version !== undefined) c.changes.push(ev);
  for (const uid of uids) deliver(uid, ev);
}

function deliver(uid, ev) {
  const id = `${BOOT}.${++eventSeq}`;
  if (!userLog.has(uid)) userLog.set(uid, []);
  const log = userLog.get(uid);
  log.push({ id, ev });
  if (log.length > 1000) log.shift();
  for (const s of streams) if (s.uid === uid) writeEvent(s.res, id, ev);
}

function writeEvent(res, id, ev) {
  res.write(`id: ${id}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const s = Buffer.concat(chunks).toString('utf8');
  if (!s) return {};
  try { return JSON.parse(s); } catch { return null; }
}

function auth(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer (.+)$/.exec(h);
  if (!m) return null;
  const a = access.get(m[1]);
  if (!a || a.exp < Date.now()) return null;
  return a.uid;
}

function serveStatic(req, res, url) {
  let p = decodeURIComponent(url.pathname);
  if (p === '/') p = '/index.html';
  const file = path.resolve(WWW, `.${p}`);
  if (!file.startsWith(WWW)) { res.writeHead(403); res.end(); return; }
  fs.readFile(file, (e, data) => {
    if (e) { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('not found'); return; }
    const type = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' }[path.extname(file)] || 'application/octet-stream';
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-cache' });
    res.end(data);
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (!url.pathname.startsWith('/api/v1/')) { serveStatic(req, res, url); return; }
  const p = url.pathname.slice(7);
  const M = req.method;
  const b = M === 'POST' || M === 'PATCH' ? await body(req) : {};
  if (b === null) return err(res, 400, 'invalid_request', 'Body is not valid JSON.');
  let m;

  if (M === 'POST' && p === '/auth/register') {
    const username = String(b.username || '');
    if (!/^[a-z0-9_.-]{3,32}$/i.test(username)) return err(res, 400, 'invalid_request', 'username must be 3-32 of [a-z0-9_.-]');
    if (String(b.password || '').length < 8) return err(res, 400, 'invalid_request', 'password must be at least 8 characters');
    for (const u of users.values()) if (u.username.toLowerCase() === username.toLowerCase()) return err(res, 409, 'username_taken', 'That username is taken.');
    const u = { id: nextId++, username, display_name: b.display_name || null, password: b.password };
    users.set(u.id, u);
    return session(res, u, 201);
  }
  if (M === 'POST' && p === '/auth/login') {
    const u = [...users.values()].find((x) => x.username.toLowerCase() === String(b.username || '').toLowerCase());
    if (!u || u.password !== b.password) return err(res, 401, 'invalid_credentials', 'Wrong username or password.');
    return session(res, u);
  }
  if (M === 'POST' && p === '/auth/refresh') {
    const r = refresh.get(b.refresh_token);
    if (!r || r.spent) return err(res, 401, 'unauthorized', 'Refresh token is not valid.');
    r.spent = true;
    return session(res, users.get(r.uid));
  }
  if (M === 'POST' && p === '/auth/logout') {
    refresh.delete(b.refresh_token);
    res.writeHead(204); res.end(); return undefined;
  }
  if (M === 'GET' && p === '/events') {
    const t = tickets.get(url.searchParams.get('ticket'));
    tickets.delete(url.searchParams.get('ticket'));
    if (!t || t.exp < Date.now()) return err(res, 401, 'unauthorized', 'Ticket is not valid.');
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    const s = { uid: t.uid, res };
    const cursor = url.searchParams.get('cursor') || req.headers['last-event-id'];
    const log = userLog.get(t.uid) || [];
    const idx = cursor ? log.findIndex((x) => x.id === cursor) : -1;
    if (cursor && idx >= 0) {
      for (const x of log.slice(idx + 1)) writeEvent(res, x.id, x.ev);
    } else {
      const id = `${BOOT}.${++eventSeq}`;
      (userLog.get(t.uid) || userLog.set(t.uid, []).get(t.uid)).push({ id, ev: { type: 'resync' } });
      writeEvent(res, id, { type: 'resync' });
    }
    streams.add(s);
    const hb = setInterval(() => res.write(': hb\n\n'), 15000);
    const drop = DROP_MS ? setTimeout(() => res.end(), DROP_MS) : null;
    req.on('close', () => { streams.delete(s); clearInterval(hb); clearTimeout(drop); });
    return undefined;
  }

  const uid = auth(req);
  if (uid === null) return err(res, 401, 'unauthorized', 'Missing or expired access token.');
  const me = users.get(uid);

  if (M === 'POST' && p === '/stream/tickets') {
    const t = crypto.randomBytes(32).toString('hex');
    tickets.set(t, { uid, exp: Date.now() + 30000 });
    return send(res, 201, { ticket: t, expires_in: 30 });
  }
  if (M === 'GET' && p === '/users/me') return send(res, 200, pubUser(me));
  if (M === 'GET' && p === '/users') {
    const q = (url.searchParams.get('q') || '').toLowerCase();
    const list = [...users.values()].filter((u) => u.username.toLowerCase().startsWith(q)).slice(0, Number(url.searchParams.get('limit') || 50));
    return send(res, 200, { users: list.map(pubUser) });
  }
  if (M === 'GET' && (m = /^\/users\/(\d+)$/.exec(p))) {
    const u = users.get(Number(m[1]));
    return u ? send(res, 200, pubUser(u)) : err(res, 404, 'not_found', 'No such user.');
  }
  if (M === 'GET' && p === '/chats') {
    const list = [...chats.values()].filter((c) => c.members.has(uid))
      .sort((a, b) => b.last_activity_at.localeCompare(a.last_activity_at) || b.id - a.id);
    return send(res, 200, { chats: list.map((c) => chatView(c, uid)) });
  }
  if (M === 'POST' && p === '/chats') {
    const ids = (b.member_ids || []).map(Number);
    for (const id of ids) if (!users.has(id)) return err(res, 400, 'invalid_request', `No user ${id}.`);
    if (b.type === 'direct') {
      if (ids.length !== 1) return err(res, 400, 'invalid_request', 'A direct chat has one other member.');
      const ex = [...chats.values()].find((c) => c.type === 'direct' && c.members.has(uid) && c.members.has(ids[0]));
      if (ex) return send(res, 200, chatView(ex, uid));
    } else if (b.type !== 'group' || !b.title) return err(res, 400, 'invalid_request', 'type and title are required.');
    const c = {
      id: nextId++, type: b.type, title: b.type === 'group' ? b.title : null, created_at: now(), version: 1,
      messages: [], members: new Map(), changes: [],
    };
    c.last_activity_at = c.created_at;
    for (const id of [uid, ...ids]) {
      c.members.set(id, { role: id === uid && b.type === 'group' ? 'admin' : 'member', read_seq: 0, delivered_seq: 0, joined_at: now() });
    }
    chats.set(c.id, c);
    emit(c, { type: 'chat.created', chat_id: c.id, version: 1, chat: chatView(c) });
    return send(res, 201, chatView(c, uid));
  }
  if ((m = /^\/chats\/(\d+)(\/.*)?$/.exec(p))) {
    const c = chats.get(Number(m[1]));
    if (!c || !c.members.has(uid)) return err(res, 404, 'not_found', 'No such chat.');
    const sub = m[2] || '';
    const mine = c.members.get(uid);
    if (M === 'GET' && sub === '') return send(res, 200, chatView(c, uid));
    if (M === 'GET' && sub === '/members') {
      return send(res, 200, { members: [...c.members].map(([id, x]) => ({ user: pubUser(users.get(id)), role: x.role, joined_at: x.joined_at, read_seq: x.read_seq, delivered_seq: x.delivered_seq })) });
    }
    if (M === 'GET' && sub === '/messages') {
      const limit = Math.min(200, Number(url.searchParams.get('limit') || 50));
      const before = Number(url.searchParams.get('before_seq') || 0);
      let list = c.messages;
      if (before) list = list.filter((x) => x.seq < before);
      const page = list.slice(-limit);
      return send(res, 200, { messages: page, has_more_before: page.length < list.length, has_more_after: false });
    }
    if (M === 'GET' && sub === '/changes') {
      const since = Number(url.searchParams.get('since_version') || 0);
      return send(res, 200, { events: c.changes.filter((e) => e.version > since), version: c.version, has_more: false });
    }
    if (M === 'POST' && sub === '/messages') {
      const content = String(b.content || '').trim();
      if (!content) return err(res, 400, 'invalid_request', 'content must not be empty.');
      if (b.client_msg_id) {
        const ex = c.messages.find((x) => x.sender_id === uid && x.client_msg_id === b.client_msg_id);
        if (ex) return send(res, 201, ex, { 'Idempotent-Replayed': 'true' });
      }
      c.version++;
      const msg = {
        id: nextId++, chat_id: c.id, seq: c.messages.length + 1, version: 1, sender_id: uid, content,
        created_at: now(), edited_at: null, deleted: false, reply_to_seq: b.reply_to_seq ?? null, client_msg_id: b.client_msg_id ?? null,
      };
      c.messages.push(msg);
      c.last_activity_at = msg.created_at;
      mine.read_seq = mine.delivered_seq = msg.seq;
      const delay = Number(process.env.MOCK_SEND_DELAY_MS || 0);
      if (delay) await new Promise((r) => setTimeout(r, delay));
      emit(c, { type: 'message.created', chat_id: c.id, version: c.version, message: msg });
      return send(res, 201, msg);
    }
    if (M === 'POST' && (sub === '/read' || sub === '/delivered')) {
      const seq = Math.min(Number(b.seq) || 0, c.messages.length);
      if (sub === '/read') mine.read_seq = Math.max(mine.read_seq, seq);
      mine.delivered_seq = Math.max(mine.delivered_seq, mine.read_seq, seq);
      for (const id of c.members.keys()) deliver(id, { type: 'receipt', chat_id: c.id, user_id: uid, read_seq: mine.read_seq, delivered_seq: mine.delivered_seq });
      return send(res, 200, { read_seq: mine.read_seq, delivered_seq: mine.delivered_seq });
    }
    if (M === 'POST' && sub === '/typing') {
      for (const id of c.members.keys()) if (id !== uid) deliver(id, { type: 'typing', chat_id: c.id, user_id: uid });
      res.writeHead(204); res.end(); return undefined;
    }
  }
  return err(res, 404, 'not_found', `No route for ${M} ${p}`);
});

server.listen(PORT, '127.0.0.1', () => console.log(`mock chat API + www on http://127.0.0.1:${PORT}`));
