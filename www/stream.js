// The live event stream, behind a small transport interface.
//
// A transport opens one stream and reports through callbacks:
//
//   open({ ticket, cursor, onOpen(), onEvent(ev), onCursor(c), onClose(info) })
//     -> { close() }
//
// where info is { opened: bool, auth: bool, retryAfter?: seconds }. onClose
// is called at most once, and never after close(). Three transports:
//
//   sse   EventSource on /events?ticket=&cursor=   (the default)
//   ws    WebSocket on /ws?ticket=&cursor=          (when chosen)
//   poll  long-poll GET /poll?cursor=&timeout=      (with the bearer header)
//
// EventStream drives them: a fresh single-use ticket for every (re)connection
// (EventSource and WebSocket cannot send headers), a jittered exponential
// backoff, the last cursor carried over (it is valid on every transport), and
// automatic fallback along the chain SSE -> (WebSocket if chosen) -> long-poll
// when a transport cannot be opened twice in a row while the API itself
// answers. The chain wraps around, so a stack that comes back is found again.

import { post, request, qs, BASE, ApiError } from './api.js';

const SSE_TYPES = [
  'resync',
  'chat.created', 'chat.updated',
  'message.created', 'message.updated', 'message.deleted',
  'member.joined', 'member.left',
  'receipt', 'typing', 'presence',
];

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const STABLE_AFTER_MS = 5_000; // an open stream this old resets the backoff
const FAILS_BEFORE_FALLBACK = 2;
const POLL_TIMEOUT_S = 25;
const UPGRADE_AFTER_MS = 5 * 60_000; // on a fallback transport, try the chosen one again this often

function parse(data) {
  try {
    const ev = JSON.parse(data);
    return ev && typeof ev === 'object' ? ev : null;
  } catch { return null; }
}

export const transports = {
  sse: {
    label: 'SSE',
    needsTicket: true,
    open({ ticket, cursor, onOpen, onEvent, onCursor, onClose }) {
      const es = new EventSource(`${BASE}/events${qs({ ticket, cursor })}`);
      let opened = false;
      let done = false;
      es.onopen = () => { opened = true; onOpen(); };
      es.onerror = () => {
        // Never let EventSource retry by itself: its ticket is spent.
        if (done) return;
        done = true;
        es.close();
        onClose({ opened, auth: false });
      };
      const handler = (e) => {
        if (done) return;
        if (e.lastEventId) onCursor(e.lastEventId);
        const ev = parse(e.data);
        if (!ev) return;
        if (!ev.type) ev.type = e.type;
        onEvent(ev);
      };
      for (const t of SSE_TYPES) es.addEventListener(t, handler);
      es.onmessage = handler; // events without an `event:` line
      return { close() { done = true; es.close(); } };
    },
  },

  ws: {
    label: 'WebSocket',
    needsTicket: true,
    open({ ticket, cursor, onOpen, onEvent, onCursor, onClose }) {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      let ws;
      let opened = false;
      let done = false;
      let pinger = null;
      const finish = (info) => {
        if (done) return;
        done = true;
        clearInterval(pinger);
        onClose(info);
      };
      try {
        ws = new WebSocket(`${proto}//${location.host}${BASE}/ws${qs({ ticket, cursor })}`);
      } catch {
        setTimeout(() => finish({ opened: false, auth: false }), 0);
        return { close() { done = true; } };
      }
      let pingId = 0;
      let openedAt = 0;
      let frames = 0;
      ws.onopen = () => {
        opened = true;
        openedAt = Date.now();
        onOpen();
        pinger = setInterval(() => {
          try { ws.send(JSON.stringify({ op: 'ping', id: `p${++pingId}` })); } catch { /* closing */ }
        }, 25_000);
      };
      ws.onmessage = (e) => {
        if (done || typeof e.data !== 'string') return;
        frames++;
        const f = parse(e.data);
        if (!f) return;
        if (f.event && typeof f.event === 'object') {
          if (f.cursor) onCursor(f.cursor);
          onEvent(f.event);
        } else if (f.type && !f.op) {
          onEvent(f); // a bare event object
        }
        // {"op": "ack"|"error", ...}: replies to our pings; nothing to do.
      };
      ws.onerror = () => { /* onclose follows */ };
      // A socket closed at once without a single frame (a proxy or filter
      // that accepts the upgrade and drops it) counts as not opened.
      ws.onclose = (e) => finish({ opened: opened && (frames > 0 || Date.now() - openedAt > 3000), auth: e.code === 4001 });
      return {
        close() {
          done = true;
          clearInterval(pinger);
          try { ws.close(1000); } catch { /* already closed */ }
        },
      };
    },
  },

  poll: {
    label: 'long-poll',
    needsTicket: false,
    open({ cursor, onOpen, onEvent, onCursor, onClose }) {
      const ctl = new AbortController();
      let done = false;
      let opened = false;
      let cur = cursor;
      (async () => {
        let first = true;
        while (!done) {
          let r;
          try {
            // The first request answers at once (a new stream starts with
            // `resync`; a resumed one returns what is pending or waits).
            r = await request('GET', `/poll${qs({ cursor: cur, timeout: first ? 1 : POLL_TIMEOUT_S })}`,
              undefined, { signal: ctl.signal });
          } catch (e) {
            if (done) return;
            done = true;
            onClose({ opened, auth: e instanceof ApiError && e.status === 401, retryAfter: e.retryAfter });
            return;
          }
          if (done) return;
          first = false;
          if (!opened) { opened = true; onOpen(); }
          const events = (r && Array.isArray(r.events)) ? r.events : [];
          for (const ev of events) if (ev && typeof ev === 'object') onEvent(ev);
          if (r && r.cursor) { cur = r.cursor; onCursor(cur); }
        }
      })();
      return { close() { done = true; ctl.abort(); } };
    },
  },
};

// The chain tried for a chosen transport.
export function transportChain(choice) {
  if (choice === 'ws') return ['ws', 'sse', 'poll'];
  if (choice === 'poll') return ['poll'];
  return ['sse', 'poll'];
}

export class EventStream {
  // onEvent(event) gets each event object; onState(state, transport) gets
  // 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'stopped' and
  // the name of the transport in use.
  constructor({ onEvent, onState, transport = 'sse' }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.chain = transportChain(transport);
    this.index = 0;
    this.fails = 0;
    this.handle = null;
    this.cursor = null;
    this.attempt = 0;
    this.timer = null;
    this.stableTimer = null;
    this.running = false;
    this.generation = 0;
    this.state = 'stopped';
    this._online = () => { if (this.running) this._reconnectNow(); };
    this._offline = () => {
      if (!this.running) return;
      this.generation++;
      clearTimeout(this.timer);
      if (this.handle) { this.handle.close(); this.handle = null; }
      this._setState('offline');
    };
    this._visible = () => {
      if (document.visibilityState === 'visible' && this.running && this.state === 'reconnecting') this._reconnectNow();
    };
  }

  get transport() { return this.chain[this.index]; }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener('online', this._online);
    window.addEventListener('offline', this._offline);
    document.addEventListener('visibilitychange', this._visible);
    if (navigator.onLine === false) { this._setState('offline'); return; }
    this._setState('connecting');
    this._open();
  }

  stop() {
    this.running = false;
    this.generation++;
    window.removeEventListener('online', this._online);
    window.removeEventListener('offline', this._offline);
    document.removeEventListener('visibilitychange', this._visible);
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.upgradeTimer);
    if (this.handle) this.handle.close();
    this.handle = null;
    this.cursor = null;
    this.attempt = 0;
    this._setState('stopped');
  }

  // Switch transport (a user's choice); keeps the cursor.
  setTransport(choice) {
    this.chain = transportChain(choice);
    this.index = 0;
    this.fails = 0;
    if (this.running) this._reconnectNow();
  }

  _setState(s) {
    if (this.state === s && this._shownTransport === this.transport) return;
    this.state = s;
    this._shownTransport = this.transport;
    try { this.onState(s, this.transport); } catch (e) { console.error(e); }
  }

  _reconnectNow() {
    clearTimeout(this.timer);
    if (this.handle) { this.handle.close(); this.handle = null; }
    this.attempt = 0;
    if (navigator.onLine === false) { this._setState('offline'); return; }
    if (this.state !== 'connected') this._setState('reconnecting');
    this._open();
  }

  async _open() {
    const gen = ++this.generation;
    const name = this.transport;
    const t = transports[name];
    let ticket;
    if (t.needsTicket) {
      try {
        const r = await post('/stream/tickets');
        ticket = r && r.ticket;
        if (!ticket) throw new ApiError(500, 'bad_response', 'no ticket in answer');
      } catch (e) {
        if (gen !== this.generation || !this.running) return;
        if (e instanceof ApiError && e.status === 401) { this.stop(); return; } // logged out
        console.warn('stream ticket failed:', e.message);
        this._scheduleReconnect(e.retryAfter);
        return;
      }
      if (gen !== this.generation || !this.running) return;
    }
    this.handle = t.open({
      ticket,
      cursor: this.cursor,
      onOpen: () => {
        if (gen !== this.generation) return;
        this.fails = 0;
        this._setState('connected');
        clearTimeout(this.upgradeTimer);
        if (this.index !== 0) {
          // A fallback works; the chosen transport may work again later
          // (an outage rather than a proxy that blocks it).
          this.upgradeTimer = setTimeout(() => {
            if (!this.running || this.index === 0) return;
            this.index = 0;
            this.fails = 0;
            this._reconnectNow();
          }, UPGRADE_AFTER_MS);
        }
        clearTimeout(this.stableTimer);
        this.stableTimer = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
      },
      onCursor: (c) => { if (gen === this.generation) this.cursor = c; },
      onEvent: (ev) => {
        if (gen !== this.generation) return;
        try { this.onEvent(ev); } catch (err) { console.error('event handler failed', err); }
      },
      onClose: ({ opened, retryAfter }) => {
        if (gen !== this.generation) return;
        this.handle = null;
        clearTimeout(this.stableTimer);
        if (!this.running) return;
        if (!opened && navigator.onLine !== false) {
          this.fails++;
          if (this.fails >= FAILS_BEFORE_FALLBACK && this.chain.length > 1) {
            this.index = (this.index + 1) % this.chain.length;
            this.fails = 0;
            console.warn(`stream: ${name} cannot be opened, trying ${this.transport}`);
          }
        }
        this._scheduleReconnect(retryAfter);
      },
    });
  }

  _scheduleReconnect(retryAfterSec) {
    if (navigator.onLine === false) { this._setState('offline'); return; }
    this._setState('reconnecting');
    clearTimeout(this.timer);
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    // "Equal jitter": half fixed, half random.
    let delay = exp / 2 + Math.random() * exp / 2;
    if (retryAfterSec > 0) delay = Math.max(delay, retryAfterSec * 1000);
    this.timer = setTimeout(() => { if (this.running) this._open(); }, delay);
  }
}
