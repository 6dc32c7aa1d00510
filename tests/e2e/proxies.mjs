// Real proxies from Debian in front of the stack, for proxies.spec.mjs: each
// is started on a free loopback port in its own temporary directory, and
// stopped by its PID (SIGTERM, then SIGKILL), also when the test fails.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const started = new Map(); // pid -> child
const dirs = [];

process.on('exit', () => {
  for (const pid of started.keys()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ } }
});

function canListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A free loopback port in 20000-31999 (below the ephemeral range, as
// scripts/ports.sh picks them).
export async function freePort() {
  for (let i = 0; i < 100; i++) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (await canListen(p)) return p;
  }
  throw new Error('no free port');
}

function tmpDir(name) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `chat-e2e-${name}-`));
  // Both drop root to their own user (nginx: nobody, squid: proxy), which
  // must be able to write their logs and temporary files here.
  fs.chmodSync(d, 0o777);
  dirs.push(d);
  return d;
}

function connects(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function startProc(name, cmd, args, dir, port) {
  const out = fs.openSync(path.join(dir, 'out.log'), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], cwd: dir });
  started.set(child.pid, child);
  let exited = null;
  child.once('exit', (code, sig) => { exited = `${code ?? sig}`; started.delete(child.pid); });
  const deadline = Date.now() + 15000;
  while (!(await connects(port))) {
    if (exited !== null || Date.now() > deadline) {
      const log = fs.readFileSync(path.join(dir, 'out.log'), 'utf8').slice(-2000);
      throw new Error(`${name} did not start on 127.0.0.1:${port} (exit ${exited}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name, port, dir, pid: child.pid,
    async stop() {
      if (!started.has(child.pid)) return;
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

// nginx in front of the stack's nginx at upstream (host:port), compressing
// and buffering everything, text/event-stream included, and ignoring the
// stack's `X-Accel-Buffering: no`: as some corporate and antivirus proxies do.
export async function startBufferingNginx(upstream) {
  const dir = tmpDir('nginx');
  const port = await freePort();
  const conf = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    gzip on;
    gzip_types text/event-stream application/json text/css application/javascript;
    gzip_min_length 0;
    gzip_proxied any;
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://${upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;
            proxy_read_timeout 120s;
        }
    }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  return startProc('nginx (buffering front)', '/usr/sbin/nginx',
    ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], dir, port);
}

// squid as an HTTP proxy for the browser, with the usual rule that CONNECT
// goes to port 443 only (so ws:// through it, which Chromium tunnels with
// CONNECT, is refused). lifetimeS > 0 also cuts every client connection
// that long after it opened (client_lifetime: a deadline, not an idle time).
export async function startSquid({ lifetimeS = 0 } = {}) {
  const dir = tmpDir('squid');
  const port = await freePort();
  const conf = `http_port 127.0.0.1:${port}
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log stdio:${dir}/access.log
cache_store_log none
coredump_dir ${dir}
cache deny all
visible_hostname e2e-proxy
pinger_enable off
shutdown_lifetime 0 seconds
${lifetimeS > 0 ? `client_lifetime ${lifetimeS} seconds` : ''}
acl SSL_ports port 443
acl CONNECT method CONNECT
acl localsrc src 127.0.0.1/32
http_access deny CONNECT !SSL_ports
http_access allow localsrc
http_access deny all
`;
  fs.writeFileSync(path.join(dir, 'squid.conf'), conf);
  return startProc(`squid${lifetimeS ? ` (cut after ${lifetimeS} s)` : ''}`, '/usr/sbin/squid',
    ['-N', '-f', path.join(dir, 'squid.conf')], dir, port);
}

export function log(p, file) {
  try { return fs.readFileSync(path.join(p.dir, file), 'utf8'); } catch { return ''; }
}
