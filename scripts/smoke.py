#!/usr/bin/python3
"""smoke.py - is a running stack usable? Python standard library only.

    scripts/smoke.py URL [--again]

Checks GET /api/v1/readyz (200), registers two users (smoke-a, smoke-b),
opens their direct chat, sends one message from a to b, and reads it back
as b. With --again the users must already exist (a restart kept the data):
they log in instead, b must still see every earlier message, and one more
is sent. Prints one line per step; exits 1 at the first failure.
"""
import json
import sys
import time
import urllib.error
import urllib.request

URL = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8080"
AGAIN = "--again" in sys.argv[2:]


def call(method, path, body=None, token=None):
    req = urllib.request.Request(URL + "/api/v1" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def need(what, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else ": %s" % (detail,)))
    if not cond:
        sys.exit(1)


def main():
    probe = "/readyz"
    st, body = call("GET", probe)
    need("GET /api/v1%s answers 200" % probe, st == 200, (st, body))

    users = {}
    for name in ("smoke-a", "smoke-b"):
        cred = {"username": name, "password": "password-" + name}
        if AGAIN:
            st, body = call("POST", "/auth/login", cred)
            need("log in %s (kept from the last run)" % name, st == 200, (st, body))
        else:
            st, body = call("POST", "/auth/register", cred)
            need("register %s" % name, st == 201, (st, body))
        users[name] = (body["user"]["id"], body["access_token"])
    (a_id, a_tok), (b_id, b_tok) = users["smoke-a"], users["smoke-b"]

    st, chat = call("POST", "/chats", {"type": "direct", "member_ids": [b_id]}, a_tok)
    need("open the direct chat", st in (200, 201), (st, chat))
    cid = chat["id"]
    st, page = call("GET", "/chats/%d/messages?limit=100" % cid, token=b_tok)
    need("read the history", st == 200, (st, page))
    before = [m["content"] for m in page["messages"]]
    if AGAIN:
        need("earlier messages kept (%d)" % len(before), len(before) >= 1, before)

    text = "hello from smoke-a at %.3f" % time.time()
    st, msg = call("POST", "/chats/%d/messages" % cid, {"content": text}, a_tok)
    need("send a message from smoke-a", st == 201, (st, msg))
    st, page = call("GET", "/chats/%d/messages?limit=100" % cid, token=b_tok)
    got = [m["content"] for m in page.get("messages", [])] if st == 200 else []
    need("smoke-b reads it", got[-1:] == [text] and got[:-1] == before, (st, got))


if __name__ == "__main__":
    main()
