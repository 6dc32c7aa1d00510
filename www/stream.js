// The live event stream, behind a small transport interface.
//
// A transport opens one stream and reports through callbacks:
//
//   open({ ticket, cursor, onOpen(), onEvent(ev), onCursor(c), onClose(info) })
//     -> { close() }
//
// where info is { opened: bool, auth: bool, silent?: bool, retryAfter?: seconds }.
// onClose is called at most once, and never after close(). Three transports:
//
//   sse   fetch() of /events?ticket=&cursor=, read as text/event-stream (the default)
//   ws    WebSocket on /ws?ticket=&cursor=          (when chosen)
//   poll  long-poll GET /poll?cursor=&timeout=      (with the bearer header)
//
// A stream counts as open only once something arrives on it, and as dead
// when it then stays silent (a proxy that buffers or compresses the stream
// lets nothing through, and says nothing): every transport has a watchdog.
//   sse   the server writes `retry:` at once and a heartbeat comment every
//         heartbeat (at most 20 s, API.md "Transports"); EventSource hides
//         both from scripts, so the stream is read with fetch() and parsed
//         here (WHATWG HTML 9.2.6), where every byte counts.
//   ws    the client sends a `ping` op at once and every WS_PING_MS; the
//         server's ack (or any frame) counts.
//   poll  the first request answers within 1 s; every request is given its
//         timeout plus a margin.
// Nothing within FIRST_SIGN_MS of opening is a silent failure; no byte for
// two heartbeat intervals after that is a dead stream.
//
// EventStream drives them: a fresh single-use ticket for every (re)connection
// (a WebSocket cannot send headers; SSE uses the same), a jittered exponential
// backoff, the last cursor carried over (it is valid on every transport, so a
// fallback loses and doubles nothing), and fallback along the chain
// WebSocket (if chosen) -> SSE -> long-poll when a transport stays silent once
// or cannot be opened twice in a row while the API itself answers. What
// worked is remembered per origin in localStorage for MEMO_MS, so the next
// page load starts there; the better transport is tried again every
// UPGRADE_AFTER_MS, one step up the chain at a time. The chain wraps around,
// so a stack that comes back is found again.

import { post, request, qs, BASE, ApiError } from './api.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const STABLE_AFTER_MS = 5_000; // an open stream this old resets the backoff
const FAILS_BEFORE_FALLBACK = 2;
const POLL_TIMEOUT_S = 25;
const UPGRADE_AFTER_MS = 5 * 60_000; // on a fallback transport, try the better one again this often
export const FIRST_SIGN_MS = 5_000; // a new stream shows its first byte within this, or is silent
const HEARTBEAT_MAX_MS = 20_000; // the server's heartbeat is at most this (API.md)
const SSE_SILENCE_MS = 2 * HEARTBEAT_MAX_MS + 5_000;
const WS_PING_MS = 15_000;
const WS_SILENCE_MS = 2 * WS_PING_MS + 5_000;
const POLL_MARGIN_MS = 15_000;
const MEMO_MS = 60 * 60_000; // how long a fallback is remembered
const MEMO_KEY = 'chat.transport-memo';

function parse(data) {
  try {
    const ev = JSON.parse(data);
    return ev && typeof ev === 'object' ? ev : null;
  } catch { return null; }
}

// A timer that calls onSilent(opened) when kick() is not called in time:
// first within firstMs, then within silenceMs of each kick.
function watchdog(firstMs, silenceMs, onSilent) {
  let opened = false;
  let timer = setTimeout(() => onSilent(false), firstMs);
  return {
    kick() {
      opened = true;
      clearTimeout(timer);
      timer = setTimeout(() => onSilent(opened), silenceMs);
    },
    stop() { clearTimeout(timer); },
  };
}

// An incremental text/event-stream parser (WHATWG HTML 9.2.6): push() text
// as it arrives; dispatch({ type, data, id }) is called per event.
function sseParser(dispatch) {
  let buf = '';
  let data = [];
  let type = '';
  let lastId = '';
  let skipLf = false;
  const line = (l) => {
    if (l === '') {
      if (data.length) dispatch({ type: type || 'message', data: data.join('\n'), id: lastId });
      data = [];
      type = '';
      return;
    }
    if (l[0] === ':') return; // a comment: a heartbeat
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? '' : l.slice(i + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    // `retry:` is ours to decide (the backoff); other fields are ignored.
  };
  return {
    push(text) {
      buf += text;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const ch = buf[i];
        if (ch === '\n' && skipLf) { skipLf = false; start = i + 1; continue; }
        skipLf = false;
        if (ch === '\n' || ch === '\r') {
          line(buf.slice(start, i));
          if (ch === '\r') skipLf = true;
          start = i + 1;
        }
      }
      buf = buf.slice(start);
    },
  };
}

export const transports = {
  sse: {
    label: 'SSE',
    needsTicket: true,
    open({ ticket, cursor, onOpen, onEvent, onCursor, onClose }) {
      const ctl = new AbortController();
      let opened = false;
      let done = false;
      const finish = (info) => {
        if (done) return;
        done = true;
        dog.stop();
        ctl.abort();
        onClose({ opened, auth: false, ...info });
      };
      const dog = watchdog(FIRST_SIGN_MS, SSE_SILENCE_MS, () => finish({ silent: true }));
      const parser = sseParser((e) => {
        if (done) return;
        if (e.id) onCursor(e.id);
        const ev = parse(e.data);
        if (!ev) return;
        if (!ev.type) ev.type = e.type;
        onEvent(ev);
      });
      (async () => {
        let res;
        try {
          res = await fetch(`${BASE}/events${qs({ ticket, cursor })}`, {
            headers: { Accept: 'text/event-stream' }, cache: 'no-store', signal: ctl.signal,
          });
        } catch { finish({}); return; }
        if (done) return;
        if (!res.ok || !res.body) {
          const ra = Number(res.headers.get('Retry-After'));
          finish({ auth: res.status === 401, retryAfter: ra > 0 ? ra : undefined });
          return;
        }
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          let r;
          try { r = await reader.read(); } catch { break; }
          if (done) return;
          if (r.done) break;
          dog.kick();
          if (!opened) { opened = true; onOpen(); }
          parser.push(r.value);
        }
        finish({});
      })();
      return { close() { done = true; dog.stop(); ctl.abort(); } };
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
      let pingId = 0;
      const ping = () => {
        try { ws.send(JSON.stringify({ op: 'ping', id: `p${++pingId}` })); } catch { /* closing */ }
      };
      const finish = (info) => {
        if (done) return;
        done = true;
        clearInterval(pinger);
        dog.stop();
        onClose({ opened, auth: false, ...info });
      };
      const dog = watchdog(FIRST_SIGN_MS, WS_SILENCE_MS, () => {
        finish({ silent: true });
        try { ws.close(1000); } catch { /* not open */ }
      });
      try {
        ws = new WebSocket(`${proto}//${location.host}${BASE}/ws${qs({ ticket, cursor })}`);
      } catch {
        setTimeout(() => finish({}), 0);
        return { close() { done = true; dog.stop(); } };
      }
      ws.onopen = () => {
        // The ack to this ping is the first sign on a resumed stream (which
        // has no `resync` to send); a proxy that accepts the upgrade and
        // then passes nothing is caught by the watchdog.
        ping();
        pinger = setInterval(ping, WS_PING_MS);
      };
      ws.onmessage = (e) => {
        if (done || typeof e.data !== 'string') return;
        dog.kick();
        if (!opened) { opened = true; onOpen(); }
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
      // A socket closed before a single frame (a proxy or filter that
      // accepts the upgrade and drops it) counts as not opened.
      ws.onclose = (e) => finish({ auth: e.code === 4001 });
      return {
        close() {
          done = true;
          clearInterval(pinger);
          dog.stop();
          try { ws.close(1000); } catch { /* already closed */ }
        },
      };
    },
  },

  poll: {
    label: 'long-poll',
    needsTicket: false,
    open({ cursor, onOpen, onEvent, onCursor, onClose }) {
      let ctl = null;
      let done = false;
      let opened = false;
      let cur = cursor;
      const finish = (info) => {
        if (done) return;
        done = true;
        if (ctl) ctl.abort();
        onClose({ opened, auth: false, ...info });
      };
      (async () => {
        let first = true;
        while (!done) {
          let r;
          // The first request answers at once (a new stream starts with
          // `resync`; a resumed one returns what is pending or waits 1 s).
          const timeout = first ? 1 : POLL_TIMEOUT_S;
          ctl = new AbortController();
          let silent = false;
          const timer = setTimeout(() => { silent = true; ctl.abort(); },
            first ? FIRST_SIGN_MS + 1000 : timeout * 1000 + POLL_MARGIN_MS);
          try {
            r = await request('GET', `/poll${qs({ cursor: cur, timeout })}`, undefined, { signal: ctl.signal });
          } catch (e) {
            clearTimeout(timer);
            if (done) return;
            finish({ silent, auth: e instanceof ApiError && e.status === 401, retryAfter: e.retryAfter });
            return;
          }
          clearTimeout(timer);
          if (done) return;
          first = false;
          if (!opened) { opened = true; onOpen(); }
          const events = (r && Array.isArray(r.events)) ? r.events : [];
          for (const ev of events) if (ev && typeof ev === 'object') onEvent(ev);
          if (r && r.cursor) { cur = r.cursor; onCursor(cur); }
        }
      })();
      return { close() { done = true; if (ctl) ctl.abort(); } };
    },
  },
};

// The chain tried for a chosen transport.
export function transportChain(choice) {
  if (choice === 'ws') return ['ws', 'sse', 'poll'];
  if (choice === 'poll') return ['poll'];
  return ['sse', 'poll'];
}

// What worked on this network, per origin (and API base), until it expires:
// { choice, transport, until } where until is epoch ms.
function memoKey() { return `${MEMO_KEY}:${location.origin}${BASE}`; }
function loadMemo(choice) {
  try {
    const m = JSON.parse(localStorage.getItem(memoKey()) || 'null');
    if (m && m.choice === choice && typeof m.until === 'number' && m.until > Date.now()) return m;
  } catch { /* unreadable or no storage */ }
  return null;
}
function saveMemo(m) {
  try {
    if (m) localStorage.setItem(memoKey(), JSON.stringify(m));
    else localStorage.removeItem(memoKey());
  } catch { /* private mode */ }
}

export class EventStream {
  // onEvent(event) gets each event object; onState(state, transport) gets
  // 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'stopped' and
  // the name of the transport in use.
  constructor({ onEvent, onState, transport = 'sse' }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this._choose(transport);
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

  // The chain for a choice, starting where a remembered fallback says.
  _choose(choice) {
    this.choice = choice;
    this.chain = transportChain(choice);
    const m = loadMemo(choice);
    const i = m ? this.chain.indexOf(m.transport) : -1;
    this.index = i > 0 ? i : 0;
    if (i > 0) console.info(`stream: starting on ${this.transport}, which worked here before`);
  }

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

  // Switch transport (a user's choice); keeps the cursor and forgets what
  // was remembered.
  setTransport(choice) {
    saveMemo(null);
    this._choose(choice);
    this.fails = 0;
    clearTimeout(this.upgradeTimer);
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
          // A fallback works here: remember it, and try one step up the
          // chain later (the better transport may have had an outage rather
          // than a proxy that spoils it).
          const m = loadMemo(this.choice);
          if (!m || m.transport !== name) saveMemo({ choice: this.choice, transport: name, until: Date.now() + MEMO_MS });
          this.upgradeTimer = setTimeout(() => {
            if (!this.running || this.index === 0) return;
            this.index--;
            this.fails = FAILS_BEFORE_FALLBACK - 1; // one failure and it is back down
            console.info(`stream: trying ${this.transport} again`);
            this._reconnectNow();
          }, UPGRADE_AFTER_MS);
        } else {
          saveMemo(null);
        }
        clearTimeout(this.stableTimer);
        this.stableTimer = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
      },
      onCursor: (c) => { if (gen === this.generation) this.cursor = c; },
      onEvent: (ev) => {
        if (gen !== this.generation) return;
        try { this.onEvent(ev); } catch (err) { console.error('event handler failed', err); }
      },
      onClose: ({ opened, silent, retryAfter }) => {
        if (gen !== this.generation) return;
        this.handle = null;
        clearTimeout(this.stableTimer);
        if (!this.running) return;
        if (navigator.onLine !== false && (!opened || silent)) {
          // A stream that never showed a byte is a transport this network
          // spoils (a buffering proxy): fall back at once. One that went
          // silent after working, or failed loudly, may be a passing fault.
          this.fails += silent && !opened ? FAILS_BEFORE_FALLBACK : 1;
          if (this.fails >= FAILS_BEFORE_FALLBACK && this.chain.length > 1) {
            this.index = (this.index + 1) % this.chain.length;
            this.fails = 0;
            console.warn(`stream: ${name} ${silent ? 'stayed silent' : 'cannot be opened'}, trying ${this.transport}`);
          } else if (silent) {
            console.warn(`stream: ${name} went silent, reconnecting`);
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
