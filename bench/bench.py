#!/usr/bin/python3
"""bench.py - helpers of bench/run.sh (Python standard library only).

  bench.py seed URL DIR USERS MESSAGES   users, chats and history through the API
  bench.py wrk FILE                      "rps p50_ms p99_ms errors" from wrk --latency output
  bench.py pgbench FILE LOGDIR           the same from pgbench output and its -l logs
  bench.py render RESULTS META OUT [CPU HZ SECS]
                                         docs/BENCHMARKS.md from the results (CPU:
                                         per-process ticks around each wrk run)
"""
import json
import os
import re
import sys
import urllib.error
import urllib.request


def api(url, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + "/api/v1" + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit("seed: %s %s -> %s %s" % (method, path, e.code, e.read()[:300]))


def seed(url, out, nusers, nmsgs):
    """USERS users; user i owns a direct chat with user i+1 (the spread
    case: one sender per chat) and all are in one group (the single-chat
    case). Every chat gets MESSAGES messages of about 100 bytes."""
    tag = os.urandom(4).hex()
    users = []
    for i in range(nusers):
        st, r = api(url, "POST", "/auth/register",
                    {"username": "bench%s_%d" % (tag, i), "password": "bench-password-%s" % tag})
        users.append((r["user"]["id"], r["access_token"]))
    direct = []
    for i in range(nusers):
        st, r = api(url, "POST", "/chats",
                    {"type": "direct", "member_ids": [users[(i + 1) % nusers][0]]}, users[i][1])
        direct.append(r["id"] if "id" in r else r["chat"]["id"])
    st, r = api(url, "POST", "/chats", {"type": "group", "title": "bench",
                                        "member_ids": [u[0] for u in users[1:]]}, users[0][1])
    group = r["id"] if "id" in r else r["chat"]["id"]
    text = ("The quick brown fox jumps over the lazy dog while the bench seeds history, "
            "message number %d.")
    for i, chat in enumerate(direct + [group]):
        for n in range(nmsgs):
            sender = users[i % nusers] if chat != group else users[n % nusers]
            if chat != group and n % 2:
                sender = users[(i + 1) % nusers]
            api(url, "POST", "/chats/%d/messages" % chat, {"content": text % n}, sender[1])
    with open(os.path.join(out, "spread.txt"), "w") as f:
        for i in range(nusers):
            f.write("%s %d %d\n" % (users[i][1], direct[i], users[i][0]))
    with open(os.path.join(out, "single.txt"), "w") as f:
        for i in range(nusers):
            f.write("%s %d %d\n" % (users[i][1], group, users[i][0]))


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    x = float(m.group(1))
    return x * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]


def parse_wrk(path):
    t = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if m:
        errors += sum(int(x) for x in m.groups())
    print("%.1f %.3f %.3f %d" % (rps, p50, p99, errors))


def parse_pgbench(path, logdir):
    t = open(path).read()
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", t) or \
        re.search(r"tps = ([\d.]+)", t)
    tps = float(m.group(1))
    lat = []
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name)) as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[2].isdigit():
                    lat.append(int(p[2]))
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000.0 if lat else 0.0
    m = re.search(r"number of failed transactions: (\d+)", t)
    print("%.1f %.3f %.3f %s" % (tps, pct(0.50), pct(0.99), m.group(1) if m else 0))


def cpu_table(path, hz, secs, rows, runs):
    """Markdown lines: CPU microseconds per request by process, from the
    "key\tname=ticks ...\tname=ticks ..." snapshots taken around each wrk run
    (a row run several times: its ticks over all its requests)."""
    names = ["nginx", "chat-api", "hello_fcgi", "postgres", "redis-server"]
    L = ["| what | " + " | ".join(names) + " | sum |", "|---|" + "---:|" * (len(names) + 1)]
    ticks, nreq, seen, order = {}, {}, {}, []
    for line in open(path):
        key, a, b = (line.rstrip("\n").split("\t") + ["", ""])[:3]
        if key not in runs:
            continue
        i = seen.get(key, 0)
        seen[key] = i + 1
        if key not in ticks:
            order.append(key)
            ticks[key], nreq[key] = {n: 0 for n in names}, 0.0
        t0 = dict(kv.split("=") for kv in a.split())
        t1 = dict(kv.split("=") for kv in b.split())
        for n in names:
            ticks[key][n] += int(t1.get(n, 0)) - int(t0.get(n, 0))
        nreq[key] += runs[key][min(i, len(runs[key]) - 1)]["rps"] * secs
    for key in order:
        if not nreq[key]:
            continue
        us = {n: ticks[key][n] / hz * 1e6 / nreq[key] for n in names}
        L.append("| %s | %s | %.0f |" % (rows[key]["what"], " | ".join("%.0f" % us[n] for n in names),
                                        sum(us.values())))
    return L


def render(results, meta, out, cpu=None, hz=100, secs=10):
    runs = {}
    order = []
    for line in open(results):
        p = line.rstrip("\n").split("\t")
        runs.setdefault(p[0], []).append({"what": p[1], "rps": float(p[2]), "p50": float(p[3]),
                                          "p99": float(p[4]), "errors": int(p[5]), "cmd": p[6]})
        if p[0] not in order:
            order.append(p[0])
    # A row run several times (alternating with its peer) shows its median run.
    rows = {}
    for key, rs in runs.items():
        med = dict(sorted(rs, key=lambda r: r["rps"])[len(rs) // 2])
        med["base"] = med["what"]
        if len(rs) > 1:
            med["what"] += " (median of %d alternating runs: %s req/s)" % (
                len(rs), ", ".join("%.0f" % r["rps"] for r in rs))
        rows[key] = med
    m = json.load(open(meta))
    # (row, peer, target): the ratio of row to peer must reach target.
    pairs = [("history", "hello_page", 0.5), ("history", "hello_tiny", 0.5),
             ("send_spread", "pg_func_spread", 0.5), ("send_spread", "pg_raw_spread", 0.5),
             ("send_spread", "pg_func_spread_pool", 0.5),
             ("send_spread_nocmid", "pg_func_spread", 0.5),
             ("send_single", "pg_func_single", 0.5), ("send_single", "pg_raw_single", 0.5)]
    L = []
    L.append("# Benchmarks\n")
    L.append("Written by `make bench` (bench/run.sh); do not edit by hand. Every figure "
             "below comes from one run on one machine, measured side by side: chat-api "
             "and its peers behind the same nginx, PostgreSQL and Redis, with the same "
             "client concurrency.\n")
    L.append("- date: %s" % m["date"])
    L.append("- machine: %s cores (nproc), %s, %s; load average (1/5/15 min) %s -- the "
             "machine is shared, so compare rows of one run, not runs" %
             (m["nproc"], m["cpu"], m["kernel"], m["load"]))
    L.append("- software: %s; %s; %s; %s" % (m["nginx"], m["postgres"], m["redis"], m["wrk"]))
    L.append("- tree: %s (git describe --always --dirty)" % m["commit"])
    L.append("- chat-api: %s worker threads (CHAT_API_THREADS); hello_fcgi: the same count; "
             "nginx: 2 workers; PostgreSQL: synchronous_commit=on, fsync on (chatctl defaults)"
             % m["threads"])
    L.append("- load: %s connections for every row (wrk -t%s, pgbench -c%s -j%s), %s s warm-up "
             "then %s s measured" % (m["conc"], m["wrk_threads"], m["conc"], m["wrk_threads"],
                                    m["warmup"], m["duration"]))
    L.append("- data: %s users; spread = user i sends to / reads its own direct chat "
             "(%s chats, one sender per chat at a time); single = every user in one group "
             "chat; %s seeded messages per chat (about 100 bytes of content each); history "
             "page body %s bytes, the hello app's page body %s bytes" %
             (m["users"], m["users"], m["seed_msgs"], m["page_bytes"], m["hello_page_bytes"]))
    L.append("")
    L.append("| what | req/s | p50 ms | p99 ms | errors | peer | ratio | target | met? |")
    L.append("|---|---:|---:|---:|---:|---|---:|---:|---|")
    done = set()
    for key in order:
        r = rows[key]
        mine = [(p, t) for (a, p, t) in pairs if a == key and p in rows]
        if not mine:
            mine = [(None, None)]
        for peer, target in mine:
            if peer:
                ratio = r["rps"] / rows[peer]["rps"] if rows[peer]["rps"] else 0.0
                cells = [rows[peer]["base"], "%.2f" % ratio, ">= %.2f" % target,
                         "yes" if ratio >= target else "**no**"]
            else:
                cells = ["", "", "", ""]
            first = key not in done
            done.add(key)
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                r["what"] if first else "&nbsp;&nbsp;the same, against",
                "%.0f" % r["rps"] if first else "", "%.2f" % r["p50"] if first else "",
                "%.2f" % r["p99"] if first else "", r["errors"] if first else "",
                " | ".join(cells)))
    L.append("")
    L.append("Targets (docs/DESIGN.md \"Performance targets\"): a history page at least 0.5 x "
             "the hello-world libfcgi app behind the same nginx (the page-sized body is the "
             "like-for-like peer, the tiny body the bare ceiling); durable sends at least "
             "0.5 x pgbench inserting the same rows (`SELECT message_post(...)`, the function "
             "chat-api calls, and the raw-SQL transaction of its three core statements). "
             "Errors counts non-2xx answers and socket errors (wrk) or failed transactions "
             "(pgbench); a row with errors is not a valid figure.\n")
    L.append("p50/p99: wrk --latency; pgbench: from its per-transaction log (-l).\n")
    if cpu and os.path.exists(cpu) and os.path.getsize(cpu):
        L.append("## CPU per request\n")
        L.append("Microseconds of CPU (user + system, from /proc/PID/stat around the measured "
                 "run) per answered request, by process name; the machine has %s cores, so "
                 "the sum of the row bounds throughput at about %s x 10^6 / sum req/s.\n"
                 % (m["nproc"], m["nproc"]))
        L.extend(cpu_table(cpu, float(hz), float(secs), rows, runs))
        L.append("")
    L.append("## Commands\n")
    L.append("Run from bench/run.sh, with $H the throwaway CHAT_HOME, $URL its nginx, "
             "$PGPORT its PostgreSQL, and TAG replaced by a tag unique to each wrk run "
             "(so no client_msg_id repeats). Each row first runs the same command for the "
             "warm-up, without --latency or -l.\n")
    L.append("```")
    for key in order:
        L.append(rows[key]["cmd"])
    L.append("```\n")
    L.append("pgbench scripts (generated; `:c`/`:u` are a chat and one of its members, "
             "drawn at random per transaction):\n")
    for name in ("pg_func.sql", "pg_raw.sql"):
        L.append("`%s`:\n\n```sql\n%s```\n" % (name, m["scripts"][name]))
    with open(out, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["seed"]:
        seed(a[1], a[2], int(a[3]), int(a[4]))
    elif a[:1] == ["wrk"]:
        parse_wrk(a[1])
    elif a[:1] == ["pgbench"]:
        parse_pgbench(a[1], a[2])
    elif a[:1] == ["render"]:
        render(a[1], a[2], a[3], *(a[4:5]), *[float(x) for x in a[5:7]])
    else:
        sys.exit(__doc__)
