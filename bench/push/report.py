#!/usr/bin/python3
"""report.py - the markdown section of bench/push/run.sh from its results.tsv.

  report.py RESULTS OUT CONNS PROBE_CONNS BYTES TRANSPORT STEP LAT PROBE_RATE MAXC
            NPROC KERNEL NGINX NCHAN [PERF_TXT]
"""
import datetime
import sys

(res, out, conns, pconns, size, tr, step, lat, prate, maxc, nproc, kernel, nginx,
 nchan) = sys.argv[1:15]
perf = sys.argv[15] if len(sys.argv) > 15 and sys.argv[15] else None
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
NAME = {"direct": "chat-push alone", "nginx": "nginx + chat-push", "nchan": "nginx + nchan"}


def f(x, d=0):
    try:
        return ("{:,.%df}" % d).format(float(x))
    except ValueError:
        return x


def ratio(a, b):
    try:
        return "%.2f" % (float(a) / float(b)) if float(b) else "-"
    except ValueError:
        return "-"


idle = {r[1]: r for r in rows if r[0] == "idle"}
peak = {r[1]: r for r in rows if r[0] == "peak"}
lat_rows = {r[1]: r for r in rows if r[0] == "latency"}
fan = [r for r in rows if r[0] == "fanout"]
mx = {r[1]: r for r in rows if r[0] == "max"}
loads = ", ".join("%s %s" % (NAME[r[1]], r[2]) for r in rows if r[0] == "load")
o = []
w = o.append
w("## Push: chat-push beside nchan\n")
w("Measured by `bench/push/run.sh` on %s: %s cores, Linux %s, nginx %s, "
  "libnginx-mod-nchan %s; everything (servers, Redis, PostgreSQL, load client, "
  "publishers) on the same cores over loopback. Transport %s; %s load streams in "
  "chats (channels) of 10 plus %s probe streams; every delivery carries a %s-byte "
  "`message.created` event JSON (the same bytes for nchan) with a CLOCK_REALTIME "
  "timestamp in its content. chat-push load is PUBLISHed straight on Redis "
  "`chat:{id}` (well-formed events, increasing versions); nchan load is "
  "`POST /pub?id=`. nginx for both: 2 workers, 19,500 connections each, reuseport.\n"
  % (datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), nproc, kernel,
     nginx, nchan, tr.upper(), f(conns), f(pconns), size))

if loads:
    w("Load average (1 min) when each target's streams were up: %s. Other work on "
      "this machine competes for the same 2 cores; the targets run one after the "
      "other in the same run, so compare them with that in mind.\n" % loads)
w("### Idle streams and memory\n")
w("| target | streams held | RSS before (MB) | RSS after (MB) | KB per stream | vs nchan |")
w("|---|---:|---:|---:|---:|---:|")
kb = {}
for t in ("direct", "nginx", "nchan"):
    if t in idle:
        _, _, held, r0, r1 = idle[t]
        kb[t] = (float(r1) - float(r0)) / max(1, int(held))
for t in ("direct", "nginx", "nchan"):
    if t in idle:
        _, _, held, r0, r1 = idle[t]
        w("| %s | %s | %s | %s | %.2f | %s |" % (NAME[t], f(held), f(float(r0) / 1024, 1),
                                                  f(float(r1) / 1024, 1), kb[t],
                                                  ratio(kb[t], kb.get("nchan", 0))))
w("\nRSS of the server processes only (chat-push; nginx master and workers); "
  "the kernel's socket memory (about 8 KB per loopback connection, both ends) "
  "is not in it. Target: chat-push alone at most 0.75 x nchan.\n")

if mx:
    w("### As many idle streams as this machine allows\n")
    w("| target | streams held | processes | RSS delta (MB) | KB per stream |")
    w("|---|---:|---:|---:|---:|")
    for t, r in mx.items():
        _, _, held, r0, r1, ready, np_ = r
        per = (float(r1) - float(r0)) / max(1, int(held))
        procs = ("%s chat-push on %s ports" % (np_, np_)) if t == "direct" else "4 nginx workers"
        w("| %s | %s of %s | %s | %s | %.2f |" % (NAME[t], f(held), f(maxc), procs,
                                                 f((float(r1) - float(r0)) / 1024, 1), per))
    w("\nA process opens at most 20,000 files here, so chat-push runs as several "
      "processes (one port each, the scale-out path) and the load client as several "
      "processes binding 127.0.x.y source addresses.\n")

w("### Fan-out, chats of 10\n")
w("Each step publishes the given messages/s round-robin over the load chats for "
  "%s s (after 2 s of warm-up); deliveries/s and latency (publish to receipt, ms) "
  "are measured at the streams; server CPU is the targets' processes' "
  "(100%% = one core).\n" % step)
w("| target | msgs/s | offered deliveries/s | delivered/s | p50 | p99 | p999 | server CPU |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
for r in fan:
    _, t, rate, offered, got, p50, p99, p999, cpu, pub = r
    w("| %s | %s | %s | %s | %s | %s | %s | %s%% |" % (NAME[t], f(rate), f(offered), f(got),
                                                      f(p50, 2), f(p99, 2), f(p999, 2), cpu))
w("")
w("| target | peak delivered/s | best step with p99 < 50 ms and >= 97 % delivered | vs nchan (peak) | target |")
w("|---|---:|---:|---:|---|")
for t in ("direct", "nginx", "nchan"):
    if t in peak:
        _, _, pk, pr, best = peak[t]
        tgt = {"direct": ">= 1.5 x nchan", "nginx": ">= 0.75 x nchan", "nchan": ""}[t]
        w("| %s | %s | %s | %s | %s |" % (NAME[t], f(pk), f(best),
                                          ratio(pk, peak["nchan"][2]) if "nchan" in peak else "-",
                                          tgt))
w("")

if lat_rows:
    w("### Send to delivery at half of the peak\n")
    w("Background load at half of each target's best step (or half its peak), plus "
      "%s probe messages/s on the probe chats: for chat, `POST /api/v1/chats/{id}/messages` "
      "through nginx (chat-api, PostgreSQL commit, Redis, chat-push, nginx) to the "
      "streams of the chat's 10 members; for nchan, `POST /pub` to its 10 subscribers. "
      "%s s measured. Target: p50 5 ms, p99 25 ms.\n" % (prate, lat))
    w("| target | background deliveries/s | probe deliveries | p50 | p99 | p999 | background p50 / p99 |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for t in ("nginx", "nchan"):
        if t in lat_rows:
            _, _, bg, n, p50, p99, p999, lrate, lp50, lp99, lp999 = lat_rows[t]
            label = "API POST -> nginx + chat-push" if t == "nginx" else "nchan publish -> subscriber"
            w("| %s | %s | %s | %s | %s | %s | %s / %s |" % (label, f(bg), f(n), f(p50, 2),
                                                          f(p99, 2), f(p999, 2), f(lp50, 2),
                                                          f(lp99, 2)))
    w("")

if perf:
    w("### Profile of chat-push during a fan-out step (perf, self time)\n")
    w("```")
    for l in open(perf):
        w(l.rstrip())
    w("```\n")

open(out, "w").write("\n".join(o) + "\n")
