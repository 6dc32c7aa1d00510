// HTTP client for the chat API (/api/v1, same origin).
//
// Holds the access token in memory and the refresh token in localStorage.
// The access token is refreshed quietly a minute before it expires, before a
// request when it is already stale (a sleeping tab), and once on a 401.
// POST /auth/refresh rotates the refresh token, so the new one is always
// stored; refreshes are serialised across tabs with the Web Locks API where
// the browser has it (the server's 10 s grace covers the rest).

export const BASE = '/api/v1';
const RT_KEY = 'chat.refresh_token';
const REFRESH_EARLY_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'http_error';
    this.retryAfter = retryAfter;
  }
}

let accessToken = null;
let accessExpiresAt = 0; // ms since epoch
let refreshTimer = null;
let refreshing = null;
const listeners = { loggedOut: new Set(), session: new Set() };

export function on(event, fn) {
  listeners[event].add(fn);
  return () => listeners[event].delete(fn);
}

function emit(event, arg) {
  for (const fn of listeners[event]) {
    try { fn(arg); } catch (e) { console.error(e); }
  }
}

export function hasStoredSession() {
  return !!readRefreshToken();
}

function readRefreshToken() {
  try { return localStorage.getItem(RT_KEY); } catch { return null; }
}

function writeRefreshToken(rt) {
  try {
    if (rt) localStorage.setItem(RT_KEY, rt);
    else localStorage.removeItem(RT_KEY);
  } catch { /* private mode: the session lasts as long as the page */ }
}

// Another tab logged out: follow it.
window.addEventListener('storage', (e) => {
  if (e.key === RT_KEY && !e.newValue && accessToken) {
    clearSession();
    emit('loggedOut', { reason: 'other_tab' });
  }
});

function setSession(data) {
  if (!data || !data.access_token) throw new ApiError(500, 'internal', 'The server sent no access token.');
  accessToken = data.access_token;
  const ttl = Number(data.expires_in) > 0 ? Number(data.expires_in) * 1000 : 15 * 60_000;
  accessExpiresAt = Date.now() + ttl;
  if (data.refresh_token) writeRefreshToken(data.refresh_token);
  clearTimeout(refreshTimer);
  const wait = Math.max(5_000, ttl - REFRESH_EARLY_MS);
  refreshTimer = setTimeout(() => {
    refresh().catch((e) => console.warn('background refresh failed', e));
  }, wait);
  emit('session', data);
}

function clearSession() {
  accessToken = null;
  accessExpiresAt = 0;
  clearTimeout(refreshTimer);
  refreshTimer = null;
  writeRefreshToken(null);
}

async function parseError(res) {
  let code, message;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code;
      message = body.error.message;
    }
  } catch { /* not JSON */ }
  const ra = res.headers.get('Retry-After');
  if (!message) {
    message = res.status === 429 ? 'Too many requests, try again shortly.'
      : res.status >= 500 ? 'The server had a problem, try again.'
      : `Request failed (HTTP ${res.status}).`;
  }
  if (res.status === 429 && ra && !/\d/.test(message)) message += ` (retry in ${ra} s)`;
  return new ApiError(res.status, code, message, ra ? Number(ra) : undefined);
}

async function rawFetch(method, path, body, headers = {}, signal) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin', signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  return res;
}

async function readBody(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
}

// Refresh the access token with the stored refresh token. Concurrent callers
// share one request. Resolves to the answer ({access_token, ...}), or throws (401: the session is gone).
export function refresh() {
  if (refreshing) return refreshing;
  const run = async () => {
    const rt = readRefreshToken();
    if (!rt) {
      clearSession();
      emit('loggedOut', { reason: 'no_session' });
      throw new ApiError(401, 'unauthorized', 'Please log in.');
    }
    const res = await rawFetch('POST', '/auth/refresh', { refresh_token: rt });
    if (!res.ok) {
      const err = await parseError(res);
      if (res.status === 401 || res.status === 400) {
        // Another tab may have rotated the token between our read and now.
        const now = readRefreshToken();
        if (now && now !== rt) {
          const again = await rawFetch('POST', '/auth/refresh', { refresh_token: now });
          if (again.ok) {
            const d = await readBody(again);
            setSession(d);
            return d;
          }
        }
        clearSession();
        emit('loggedOut', { reason: 'expired' });
      }
      throw err;
    }
    const data = await readBody(res);
    setSession(data);
    return data;
  };
  const locked = navigator.locks && navigator.locks.request
    ? () => navigator.locks.request('chat.refresh', run)
    : run;
  refreshing = locked().finally(() => { refreshing = null; });
  return refreshing;
}

// request('GET', '/chats') -> parsed JSON body. Throws ApiError.
export async function request(method, path, body, opts = {}) {
  const { auth = true, headers = {}, signal } = opts;
  if (auth) {
    if (!accessToken || Date.now() > accessExpiresAt - 5_000) await refresh();
  }
  const send = () => rawFetch(method, path, body,
    auth ? { ...headers, Authorization: `Bearer ${accessToken}` } : headers, signal);
  let res = await send();
  if (res.status === 401 && auth) {
    await refresh(); // throws if the session is gone
    res = await send();
    if (res.status === 401) {
      const err = await parseError(res);
      clearSession();
      emit('loggedOut', { reason: 'unauthorized' });
      throw err;
    }
  }
  if (!res.ok) throw await parseError(res);
  return readBody(res);
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body, opts);
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

export async function register(username, password, displayName) {
  const body = { username, password };
  if (displayName) body.display_name = displayName;
  const data = await request('POST', '/auth/register', body, { auth: false });
  setSession(data);
  return data;
}

export async function login(username, password) {
  const data = await request('POST', '/auth/login', { username, password }, { auth: false });
  setSession(data);
  return data;
}

// Log out every session of this user (POST /auth/logout-all), then locally.
export async function logoutAll() {
  await request('POST', '/auth/logout-all');
  clearSession();
}

export async function logout() {
  const rt = readRefreshToken();
  const at = accessToken;
  clearSession();
  if (rt) {
    try {
      await rawFetch('POST', '/auth/logout', { refresh_token: rt },
        at ? { Authorization: `Bearer ${at}` } : {});
    } catch { /* already logged out locally */ }
  }
}

// Build a query string from an object, skipping null/undefined values.
export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}
