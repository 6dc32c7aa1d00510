"""PostgreSQL and Redis are closed without their passwords (issue 11, "Secure
by default"), against the stack chatctl started:

- PostgreSQL asks every connection for a password (scram-sha-256), on the
  Unix socket and on 127.0.0.1; the socket and its directory are closed to
  other users.
- The services connect as roles that are not superusers and own nothing:
  chat_api cannot DROP or CREATE in the schema, chat_push and chat_notify
  cannot write messages.
- Redis answers nothing but NOAUTH without the password, on TCP and on the
  Unix socket; chat-push started with a wrong password logs why and is not
  ready; chat-api started without its password file does not start.
- $CHAT_HOME/secrets is 0700 and each secret 0600; no password shows on a
  service's command line.
"""

import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import (ApiTestCase, PORT, chat_home_path, main, psql, redis_password,  # noqa: E402
                     register)

CHAT_PORT = int(os.environ.get("CHAT_PORT") or PORT)
PG_PORT = int(os.environ.get("CHAT_PG_PORT") or CHAT_PORT + 2)
REDIS_PORT = int(os.environ.get("CHAT_REDIS_PORT") or CHAT_PORT + 3)
RUN = chat_home_path("run")
SECRETS = chat_home_path("secrets")
BIN = os.environ.get("CHAT_BIN") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
ROLES = ("chat", "chat_owner", "chat_api", "chat_push", "chat_notify")


def pg(role, sql, host=None, passfile=True, password=None):
    """psql as role on the stack's database: (returncode, stdout, stderr).
    passfile: use the role's $CHAT_HOME/secrets/<role>.pgpass; password:
    PGPASSWORD instead; neither: no password at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSFILE"] = os.path.join(SECRETS, role + ".pgpass") if passfile else "/dev/null"
    if password is not None:
        env["PGPASSWORD"] = password
    out = subprocess.run(["psql", "-X", "-w", "-tA", "-v", "ON_ERROR_STOP=1", "-h", host or RUN,
                          "-p", str(PG_PORT), "-U", role, "-d", "chat", "-c", sql],
                         env=env, capture_output=True, text=True, timeout=30, check=False)
    return out.returncode, out.stdout.strip(), out.stderr.strip()


def redis_raw(command, unix=False):
    """Send RESP commands (a list of argument lists) on a fresh connection
    without any AUTH of its own; the raw replies."""
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(RUN, "redis.sock"))
    else:
        s = socket.create_connection(("127.0.0.1", REDIS_PORT))
    s.settimeout(5)
    data = b""
    for args in command:
        data += b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            data += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(data)
    reply, deadline = b"", time.monotonic() + 5
    while reply.count(b"\r\n") < len(command) and time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    return reply.decode(errors="replace")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PostgresAuth(ApiTestCase):
    def test_no_password_is_refused_on_socket_and_tcp(self):
        for host in (RUN, "127.0.0.1"):
            for role in ROLES:
                rc, _, err = pg(role, "SELECT 1", host=host, passfile=False)
                self.assertNotEqual(rc, 0, "%s got in without a password on %s" % (role, host))
                self.assertRegex(err, "password", (role, host))

    def test_wrong_password_is_refused(self):
        for host in (RUN, "127.0.0.1"):
            rc, _, err = pg("chat_api", "SELECT 1", host=host, passfile=False, password="wrong")
            self.assertNotEqual(rc, 0)
            self.assertIn("password authentication failed", err)

    def test_passfile_logs_in_on_socket_and_tcp(self):
        for host in (RUN, "127.0.0.1"):
            rc, out, err = pg("chat_push", "SELECT current_user", host=host)
            self.assertEqual((rc, out), (0, "chat_push"), err)

    def test_socket_and_its_directory_are_closed_to_others(self):
        d = os.stat(RUN).st_mode
        self.assertEqual(d & 0o007, 0, "run directory mode %o" % stat.S_IMODE(d))
        sock = os.stat(os.path.join(RUN, ".s.PGSQL.%d" % PG_PORT)).st_mode
        self.assertTrue(stat.S_ISSOCK(sock))
        self.assertEqual(sock & 0o007, 0, "socket mode %o" % stat.S_IMODE(sock))


class Roles(ApiTestCase):
    def test_no_service_role_is_a_superuser(self):
        rows = psql("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
                    "FROM pg_roles WHERE rolname LIKE 'chat\\_%' ORDER BY 1")
        self.assertEqual(rows.splitlines(), ["chat_api|f|f|f|f", "chat_notify|f|f|f|f",
                                             "chat_owner|f|f|f|f", "chat_push|f|f|f|f"])

    def test_owner_owns_the_schema(self):
        self.assertEqual(psql("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                              "WHERE relnamespace = 'public'::regnamespace"), "chat_owner")
        self.assertEqual(psql("SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc "
                              "WHERE pronamespace = 'public'::regnamespace"), "chat_owner")

    def test_services_connect_as_their_roles(self):
        register("dbsec")  # chat-api opens its connection on first use
        users = set(psql("SELECT DISTINCT usename FROM pg_stat_activity "
                         "WHERE datname = 'chat' AND pid <> pg_backend_pid()").split())
        self.assertTrue({"chat_api", "chat_push", "chat_notify"} <= users, users)
        self.assertNotIn("chat", users, "a service connects as the superuser")

    def assertDenied(self, role, sql):
        # In one transaction that ends in ROLLBACK, should it ever pass.
        rc, out, err = pg(role, "BEGIN; %s; ROLLBACK" % sql)
        self.assertNotEqual(rc, 0, "%s may: %s" % (role, sql))
        self.assertRegex(err, "permission denied|must be owner", (role, sql))

    def test_chat_api_cannot_change_the_schema(self):
        self.assertDenied("chat_api", "DROP TABLE messages CASCADE")
        self.assertDenied("chat_api", "CREATE TABLE chat_api_was_here (i int)")
        self.assertDenied("chat_api", "ALTER TABLE users ADD COLUMN x int")
        self.assertDenied("chat_api", "TRUNCATE sessions")
        self.assertDenied("chat_api", "SELECT * FROM schema_migrations")
        rc, out, err = pg("chat_api", "SELECT count(*) >= 0 FROM messages")
        self.assertEqual((rc, out), (0, "t"), err)

    def test_chat_push_reads_only(self):
        self.assertDenied("chat_push", "INSERT INTO messages (chat_id, seq, version, sender_id, "
                                       "content) VALUES (1, 1, 1, 1, 'x')")
        self.assertDenied("chat_push", "UPDATE chats SET version = version")
        self.assertDenied("chat_push", "DELETE FROM sessions")
        self.assertDenied("chat_push", "UPDATE users SET username = username")
        self.assertDenied("chat_push", "SELECT * FROM webhooks")
        rc, out, err = pg("chat_push", "SELECT count(*) >= 0 FROM chat_changes")
        self.assertEqual((rc, out), (0, "t"), err)

    def test_chat_notify_cannot_write_chats(self):
        self.assertDenied("chat_notify", "INSERT INTO messages (chat_id, seq, version, sender_id, "
                                         "content) VALUES (1, 1, 1, 1, 'x')")
        self.assertDenied("chat_notify", "UPDATE users SET display_name = 'x'")
        self.assertDenied("chat_notify", "SELECT * FROM sessions")
        self.assertDenied("chat_notify", "DROP TABLE push_queue")


class RedisAuth(ApiTestCase):
    def test_nothing_without_password_on_tcp_and_socket(self):
        for unix in (False, True):
            for cmd in (["PING"], ["GET", "cv:1"], ["SUBSCRIBE", "chat:1"], ["KEYS", "*"]):
                reply = redis_raw([cmd], unix=unix)
                self.assertTrue(reply.startswith("-NOAUTH"), (unix, cmd, reply))

    def test_wrong_password_is_refused(self):
        for unix in (False, True):
            reply = redis_raw([["AUTH", "wrong"], ["PING"]], unix=unix)
            self.assertTrue(reply.startswith("-WRONGPASS"), reply)
            self.assertIn("-NOAUTH", reply)

    def test_password_answers_on_tcp_and_socket(self):
        pw = redis_password()
        self.assertTrue(pw)
        for unix in (False, True):
            self.assertEqual(redis_raw([["AUTH", pw], ["PING"]], unix=unix), "+OK\r\n+PONG\r\n")

    def test_chat_push_with_a_wrong_password_says_so_and_is_not_ready(self):
        with tempfile.TemporaryDirectory() as tmp:
            pwfile = os.path.join(tmp, "redis.pass")
            with open(pwfile, "w") as f:
                f.write("not-the-password\n")
            log = open(os.path.join(tmp, "push.log"), "w+")
            port = free_port()
            env = dict(os.environ, CHAT_REDIS_PASSWORD_FILE=pwfile, CHAT_PUSH_PORT=str(port),
                       CHAT_PUSH_WS_PORT=str(free_port()), CHAT_PUSH_POLL_PORT=str(free_port()),
                       PGUSER="chat_push", PGPASSFILE=os.path.join(SECRETS, "chat_push.pgpass"))
            proc = subprocess.Popen([os.path.join(BIN, "chat-push")], env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            try:
                deadline, text = time.monotonic() + 10, ""
                while time.monotonic() < deadline and "AUTH refused" not in text:
                    time.sleep(0.2)
                    log.seek(0)
                    text = log.read()
                self.assertIn("AUTH refused", text)
                self.assertIn("redis_password_file", text)
                try:
                    status = urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port,
                                                    timeout=5).status
                except urllib.error.HTTPError as e:
                    status = e.code
                self.assertEqual(status, 503)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                log.close()

    def test_chat_api_without_its_password_file_does_not_start(self):
        env = dict(os.environ, CHAT_REDIS_PASSWORD_FILE="/nonexistent/redis.pass",
                   CHAT_API_SOCKET=os.path.join(tempfile.gettempdir(), "dbsec-none.sock"))
        out = subprocess.run([os.path.join(BIN, "chat-api")], env=env, capture_output=True,
                             text=True, timeout=30, check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("/nonexistent/redis.pass", out.stderr)
        self.assertIn("redis_password_file", out.stderr)


class Secrets(ApiTestCase):
    def test_modes(self):
        self.assertEqual(stat.S_IMODE(os.stat(SECRETS).st_mode), 0o700)
        names = ["%s.pgpass" % r for r in ROLES] + ["redis.pass"]
        for n in names:
            mode = stat.S_IMODE(os.stat(os.path.join(SECRETS, n)).st_mode)
            self.assertEqual(mode, 0o600, "%s is %o" % (n, mode))
        for n in os.listdir(SECRETS):
            mode = stat.S_IMODE(os.stat(os.path.join(SECRETS, n)).st_mode)
            self.assertEqual(mode & 0o077, 0, "%s is %o" % (n, mode))
        conf = chat_home_path("redis", "redis.conf")
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o600)

    def test_passwords_are_long_and_distinct(self):
        pws = [redis_password()]
        for r in ROLES:
            with open(os.path.join(SECRETS, r + ".pgpass")) as f:
                line = f.readline().strip()
            self.assertTrue(line.startswith("*:*:*:%s:" % r), line[:20])
            pws.append(line.split(":", 4)[4])
        self.assertEqual(len(set(pws)), len(pws))
        for pw in pws:
            self.assertGreaterEqual(len(pw), 32)

    def test_no_secret_on_a_command_line(self):
        secrets = [redis_password()]
        for r in ROLES:
            with open(os.path.join(SECRETS, r + ".pgpass")) as f:
                secrets.append(f.readline().strip().split(":", 4)[4])
        pids = []
        for name in ("redis", "chat-api", "chat-push", "chat-notify", "nginx"):
            with open(os.path.join(RUN, name + ".pid")) as f:
                pids.append(int(f.read().split()[0]))
        with open(chat_home_path("pg", "postmaster.pid")) as f:
            pids.append(int(f.readline()))
        for pid in pids:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().decode(errors="replace")
            self.assertTrue(cmdline)
            for s in secrets:
                self.assertNotIn(s, cmdline, "pid %d" % pid)


if __name__ == "__main__":
    main()
