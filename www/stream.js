// The live event stream over SSE.
//
// A browser's EventSource cannot send an Authorization header, so every
// (re)connection first gets a single-use ticket (POST /stream/tickets) and
// opens /api/v1/events?ticket=...&cursor=<last event id>. EventSource's own
// reconnect would reuse the spent ticket, so on any error the stream is
// closed and reopened here with a fresh ticket after a jittered exponential
// backoff.

import { post, qs, BASE, ApiError } from './api.js';

const EVENT_TYPES = [
  'resync',
  'chat.created', 'chat.updated',
  'message.created', 'message.updated', 'message.deleted',
  'member.joined', 'member.left',
  'receipt', 'typing', 'presence',
];

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const STABLE_AFTER_MS = 5_000; // an open stream this old resets the backoff

export class EventStream {
  // onEvent(event) gets each parsed event object; onState(state) gets
  // 'connecting' | 'connected' | 'reconnecting' | 'stopped'.
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.es = null;
    this.cursor = null;
    this.attempt = 0;
    this.timer = null;
    this.stableTimer = null;
    this.running = false;
    this.generation = 0;
    this.state = 'stopped';
    this._online = () => { if (this.running && this.state !== 'connected') this._reconnectNow(); };
    this._visible = () => {
      if (document.visibilityState === 'visible' && this.running && this.state === 'reconnecting') this._reconnectNow();
    };
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener('online', this._online);
    document.addEventListener('visibilitychange', this._visible);
    this._setState('connecting');
    this._open();
  }

  stop() {
    this.running = false;
    this.generation++;
    window.removeEventListener('online', this._online);
    document.removeEventListener('visibilitychange', this._visible);
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    if (this.es) this.es.close();
    this.es = null;
    this.cursor = null;
    this.attempt = 0;
    this._setState('stopped');
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    try { this.onState(s); } catch (e) { console.error(e); }
  }

  _reconnectNow() {
    clearTimeout(this.timer);
    if (this.es) { this.es.close(); this.es = null; }
    this.attempt = 0;
    this._open();
  }

  async _open() {
    const gen = ++this.generation;
    let ticket;
    try {
      const t = await post('/stream/tickets');
      ticket = t && t.ticket;
      if (!ticket) throw new ApiError(500, 'bad_response', 'no ticket in answer');
    } catch (e) {
      if (gen !== this.generation || !this.running) return;
      if (e instanceof ApiError && e.status === 401) { this.stop(); return; } // logged out
      console.warn('stream ticket failed:', e.message);
      this._scheduleReconnect(e.retryAfter);
      return;
    }
    if (gen !== this.generation || !this.running) return;

    const url = `${BASE}/events${qs({ ticket, cursor: this.cursor })}`;
    const es = new EventSource(url);
    this.es = es;

    es.onopen = () => {
      if (gen !== this.generation) return;
      this._setState('connected');
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
    };
    es.onerror = () => {
      if (gen !== this.generation) return;
      // Never let EventSource retry by itself: its ticket is spent.
      es.close();
      this.es = null;
      clearTimeout(this.stableTimer);
      if (this.running) this._scheduleReconnect();
    };
    const handler = (e) => {
      if (gen !== this.generation) return;
      if (e.lastEventId) this.cursor = e.lastEventId;
      let ev;
      try { ev = JSON.parse(e.data); } catch { console.warn('unreadable event', e.data); return; }
      if (!ev || typeof ev !== 'object') return;
      if (!ev.type) ev.type = e.type;
      try { this.onEvent(ev); } catch (err) { console.error('event handler failed', err); }
    };
    for (const t of EVENT_TYPES) es.addEventListener(t, handler);
    // Events sent without an `event:` line arrive as 'message'.
    es.onmessage = handler;
  }

  _scheduleReconnect(retryAfterSec) {
    this._setState('reconnecting');
    clearTimeout(this.timer);
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    // "Equal jitter": half fixed, half random, so clients spread out but
    // never hammer the server right away.
    let delay = exp / 2 + Math.random() * exp / 2;
    if (retryAfterSec > 0) delay = Math.max(delay, retryAfterSec * 1000);
    this.timer = setTimeout(() => { if (this.running) this._open(); }, delay);
  }
}
