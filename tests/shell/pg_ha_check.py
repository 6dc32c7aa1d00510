"""pg_ha_check.py - the client side of test_pg_ha.sh (CHAT_PG=ha, failover).

    pg_ha_check.py setup STATE          two users and a group chat, into STATE (JSON)
    pg_ha_check.py write STATE LOG STOP  messages with Idempotency-Key in a loop
    pg_ha_check.py read STATE LOG STOP   follow the chat's /changes
    pg_ha_check.py verify STATE WLOG RLOG  every acknowledged message once, in order

The writer behaves as a real client: a 503 (or 502, 504, no answer) is
retried with the same key after a short pause, until it gets 201; each
acknowledged message is one line "ACK_TIME KEY SEQ ATTEMPTS REPLAYED" of
LOG (ACK_TIME: time.time() when the 201 arrived). It stops when the file
STOP exists. The reader follows GET /chats/{id}/changes from version 0 and
logs "SEQ CONTENT" per message.created it sees (errors retried).
Stdlib only (/usr/bin/python3), with tests/integration/chatlib.py.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import chatlib  # noqa: E402

RETRY = (None, 502, 503, 504)


def load(path):
    with open(path) as f:
        s = json.load(f)
    return s


def setup(state):
    a = chatlib.register("ha_a")
    b = chatlib.register("ha_b")
    chat = chatlib.create_group(a, [b], title="failover")
    with open(state, "w") as f:
        json.dump({"a": a.token, "b": b.token, "chat": chat["id"]}, f)


def write(state, log, stop):
    s = load(state)
    n = 0
    with open(log, "a", buffering=1) as out:
        while not os.path.exists(stop):
            n += 1
            key = "k%06d" % n
            attempts = 0
            while True:
                attempts += 1
                r = chatlib.request("POST", "/chats/%d/messages" % s["chat"], {"content": "m " + key},
                                    token=s["a"], headers={"Idempotency-Key": key},
                                    retry_429=True, timeout=10)
                if r.status == 201:
                    out.write("%.3f %s %d %d %s\n" % (time.time(), key, r.json["seq"], attempts,
                                                      r.header("Idempotent-Replayed", "false")))
                    break
                if r.status not in RETRY:
                    out.write("ERROR %s %s\n" % (key, r.describe().replace("\n", " | ")))
                    sys.exit(1)
                if os.path.exists(stop) and attempts > 600:
                    sys.exit(1)
                time.sleep(0.1)
            time.sleep(0.02)


def read(state, log, stop):
    s = load(state)
    since = 0
    with open(log, "a", buffering=1) as out:
        while not os.path.exists(stop):
            r = chatlib.request("GET", "/chats/%d/changes?since_version=%d&limit=100" % (s["chat"], since),
                                token=s["b"], retry_429=True, timeout=10)
            if r.status != 200:
                time.sleep(0.2)
                continue
            for e in r.json["events"]:
                if e.get("version", 0) <= since:
                    continue
                since = e["version"]
                if e.get("type") == "message.created":
                    m = e.get("message") or e.get("data", {}).get("message") or {}
                    out.write("%s %s\n" % (m.get("seq"), m.get("content", "").replace(" ", "_")))
            if not r.json.get("has_more"):
                time.sleep(0.2)


def history(s):
    msgs, after = [], 0
    while True:
        r = chatlib.request("GET", "/chats/%d/messages?after_seq=%d&limit=100" % (s["chat"], after),
                            token=s["a"], retry_429=True)
        if r.status != 200:
            raise SystemExit("history: " + r.describe())
        page = r.json["messages"]
        msgs += page
        if not page or not r.json.get("has_more_after"):
            return msgs
        after = page[-1]["seq"]


def verify(state, wlog, rlog):
    s = load(state)
    acked = []
    with open(wlog) as f:
        for line in f:
            p = line.split()
            if p[0] == "ERROR":
                print("writer failed: " + line.strip())
                return 1
            acked.append((p[1], int(p[2])))
    msgs = history(s)
    bad = 0
    seqs = [m["seq"] for m in msgs]
    if seqs != list(range(1, len(seqs) + 1)):
        print("history seqs are not 1..%d without gaps" % len(seqs))
        bad += 1
    by_content = {}
    for m in msgs:
        by_content.setdefault(m["content"], []).append(m["seq"])
    dups = {c: v for c, v in by_content.items() if len(v) > 1}
    if dups:
        print("duplicate messages: %s" % sorted(dups.items())[:10])
        bad += 1
    missing = [k for k, _ in acked if "m " + k not in by_content]
    if missing:
        print("acknowledged but not in history: %s" % missing[:10])
        bad += 1
    wrong = [(k, q) for k, q in acked if by_content.get("m " + k, [q])[0] != q]
    if wrong:
        print("acknowledged seq differs from history: %s" % wrong[:10])
        bad += 1
    order = [q for _, q in acked]
    if order != sorted(order) or len(set(order)) != len(order):
        print("acknowledged messages out of order")
        bad += 1
    seen = set()
    if rlog:
        with open(rlog) as f:
            seen = {line.split()[1].replace("_", " ") for line in f if len(line.split()) == 2}
        unseen = [k for k, _ in acked if "m " + k not in seen]
        if unseen:
            print("the /changes reader missed: %s" % unseen[:10])
            bad += 1
    print("%d acknowledged, %d in history, %d seen by the reader, %d retried writes" %
          (len(acked), len(msgs), len(seen), sum(1 for line in open(wlog) if int(line.split()[3]) > 1)))
    return 1 if bad else 0


def main():
    cmd = sys.argv[1]
    if cmd == "setup":
        setup(sys.argv[2])
    elif cmd == "write":
        write(*sys.argv[2:5])
    elif cmd == "read":
        read(*sys.argv[2:5])
    elif cmd == "verify":
        return verify(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
