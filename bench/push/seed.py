#!/usr/bin/python3
"""seed.py - users, group chats and tokens for bench/push/run.sh.

  seed.py RUNDIR PGPORT KEYFILE OUTDIR LOAD_CHATS PROBE_CHATS [GROUP]

Creates (LOAD_CHATS + PROBE_CHATS) * GROUP users straight in PostgreSQL
(registering tens of thousands through the API would spend minutes in
Argon2id; the API path is not what is measured here) and one group chat per
GROUP users through the schema's own chat_create_group(), so every chat is
at version 1 with its chat.created change. Access tokens are signed with the
stack's JWT key (HS256, the claims chat-api issues: lib/jwt.c). Streams use
sid 0 (no session, which chat-push accepts); each probe chat's first member
gets a real session row too, because chat-api checks it on POST.

Writes into OUTDIR (one line per stream or chat, "<chat_id> <token>"):
  subs.txt          the load chats' members, GROUP consecutive lines a chat
  chats.txt         the load chats ("<chat_id> -")
  probe_subs.txt    the probe chats' members
  probe_senders.txt the probe chats with their first member's session token
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    rundir, pgport, keyfile, out, nload, nprobe = sys.argv[1:7]
    group = int(sys.argv[7]) if len(sys.argv) > 7 else 10
    nload, nprobe = int(nload), int(nprobe)
    nchats = nload + nprobe
    nusers = nchats * group
    key = open(keyfile, "rb").read()
    iss = os.environ.get("CHAT_JWT_ISSUER", "chat")
    aud = os.environ.get("CHAT_JWT_AUDIENCE", "chat-api")
    tag = os.urandom(3).hex()

    sql = f"""
\\set ON_ERROR_STOP 1
INSERT INTO users (username, display_name, password_hash)
SELECT 'bp{tag}_' || g, 'bench ' || g, '!' FROM generate_series(1, {nusers}) g;
CREATE TEMP TABLE bp AS
  SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM users WHERE username LIKE 'bp{tag}\\_%';
CREATE TEMP TABLE bp_chats AS
  WITH grp AS (SELECT k / {group} AS g, array_agg(id ORDER BY id) AS ids FROM bp GROUP BY k / {group})
  SELECT grp.g, grp.ids, r.chat_id FROM grp,
         LATERAL chat_create_group(grp.ids[1], 'bench ' || grp.g, grp.ids, {group}) r;
CREATE TEMP TABLE bp_sess (g bigint, sid bigint, user_id bigint);
DO $$
DECLARE r record; s bigint;
BEGIN
  FOR r IN SELECT g, ids[1] AS u FROM bp_chats WHERE g >= {nload} ORDER BY g LOOP
    INSERT INTO sessions (user_id, salt, expires_at)
    VALUES (r.u, '\\x00'::bytea, now() + interval '2 days') RETURNING id INTO s;
    INSERT INTO bp_sess VALUES (r.g, s, r.u);
  END LOOP;
END $$;
\\copy (SELECT c.g, c.chat_id, u, ch.version FROM bp_chats c, unnest(c.ids) u, chats ch WHERE ch.id = c.chat_id ORDER BY c.g, u) TO '{out}/members.tsv'
\\copy (SELECT g, sid, user_id FROM bp_sess ORDER BY g) TO '{out}/sessions.tsv'
"""
    t0 = time.time()
    subprocess.run(["psql", "-X", "-q", "-h", rundir, "-p", pgport, "-U", "chat", "-d", "chat"],
                   input=sql, text=True, check=True, stdout=subprocess.DEVNULL)
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())

    def token(uid, sid):
        claims = {"iss": iss, "aud": aud, "sub": uid, "sid": sid, "tv": 0,
                  "iat": now, "nbf": now - 60, "exp": now + 2 * 86400}
        p = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        return p + "." + b64(hmac.new(key, p.encode(), hashlib.sha256).digest())

    rows = [l.split("\t") for l in open(os.path.join(out, "members.tsv")).read().split("\n") if l]
    sess = {}
    for l in open(os.path.join(out, "sessions.tsv")).read().split("\n"):
        if l:
            g, sid, uid = map(int, l.split("\t"))
            sess[g] = (sid, uid)
    with open(os.path.join(out, "subs.txt"), "w") as subs, \
            open(os.path.join(out, "probe_subs.txt"), "w") as psubs, \
            open(os.path.join(out, "chats.txt"), "w") as chats, \
            open(os.path.join(out, "probe_senders.txt"), "w") as senders:
        seen = set()
        for g, chat, uid, _version in rows:
            g, chat, uid = int(g), int(chat), int(uid)
            (subs if g < nload else psubs).write("%d %s\n" % (chat, token(uid, 0)))
            if chat not in seen:
                seen.add(chat)
                if g < nload:
                    chats.write("%d -\n" % chat)
                else:
                    sid, suid = sess[g]
                    senders.write("%d %s\n" % (chat, token(suid, sid)))
    print("seed: %d users, %d chats (%d load, %d probe) in %.1f s"
          % (nusers, nchats, nload, nprobe, time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
