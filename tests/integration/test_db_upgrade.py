"""`chatctl start` upgrades a data directory of an older version (issue 11,
"Secure by default"): there PostgreSQL trusted every local connection, the
services logged in as the superuser `chat`, and it owned every object.

The test makes such a directory the way the old chatctl did (initdb with
--auth=trust, the migrations up to 0013 as `chat`, a user row), then runs
`./chatctl start` on it as a second stack (its own CHAT_HOME and ports):
the start must succeed, keep the row, leave no trust line and no way in
without a password, hand the objects to chat_owner and start the services
as their own roles. `./chatctl stop` ends that stack.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatlib import ApiTestCase, main  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHATCTL = os.path.join(ROOT, "chatctl")


def pgbin():
    return sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda p: int(p.split("/")[-2]))[-1]


def as_svc():
    if os.getuid() == 0:
        return ["setpriv", "--reuid=chat", "--regid=chat", "--init-groups", "--"]
    return []


def pick_ports():
    out = subprocess.run(["bash", "-c", ". scripts/ports.sh && pick_ports 20000 31999 8"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if out.returncode:
        raise AssertionError("%s failed (%d): %s %s" % (cmd[:3], out.returncode, out.stdout[-800:],
                                                       out.stderr[-800:]))
    return out.stdout.strip()


class UpgradeOldDataDirectory(ApiTestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="chat-upgrade.")
        os.chmod(self.home, 0o755)
        self.port = pick_ports()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("CHAT_") and not k.startswith("PG")}
        for k in ("CHAT_BIN", "CHAT_CONF"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.env.update(CHAT_HOME=self.home, CHAT_PORT=str(self.port))
        self.started = False

    def tearDown(self):
        if self.started:
            subprocess.run([CHATCTL, "stop"], env=self.env, capture_output=True, timeout=120)
        else:
            subprocess.run(as_svc() + [os.path.join(pgbin(), "pg_ctl"), "-D",
                                       os.path.join(self.home, "pg"), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.home, ignore_errors=True)

    def make_old_directory(self):
        """What chatctl made before: trust, superuser chat, migrations as chat."""
        pg, run_dir = os.path.join(self.home, "pg"), os.path.join(self.home, "run")
        os.makedirs(pg, mode=0o700)
        os.makedirs(run_dir)
        if os.getuid() == 0:
            for d in (self.home, pg, run_dir):
                shutil.chown(d, "chat", "chat")
        svc = as_svc()
        run(svc + [os.path.join(pgbin(), "initdb"), "-D", pg, "-U", "chat", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8"])
        pgport = str(self.port + 2)
        run(svc + [os.path.join(pgbin(), "pg_ctl"), "-D", pg, "-l", os.path.join(self.home, "old.log"),
                   "-w", "start", "-o", "-c listen_addresses=127.0.0.1 -c port=%s "
                   "-c unix_socket_directories=%s" % (pgport, run_dir)])
        conn = ["-h", run_dir, "-p", pgport, "-U", "chat"]
        run(["psql", "-X", "-q"] + conn + ["-d", "postgres", "-c", "CREATE DATABASE chat"])
        # db/ as it was: every migration before 0014_roles.sql.
        old_db = os.path.join(self.home, "old-db")
        shutil.copytree(os.path.join(ROOT, "db"), old_db)
        for f in glob.glob(os.path.join(old_db, "migrations", "*.sql")):
            if os.path.basename(f) >= "0014":
                os.unlink(f)
        run([os.path.join(old_db, "migrate.sh")] + conn + ["-d", "chat"])
        run(["psql", "-X", "-q"] + conn + ["-d", "chat", "-c",
             "INSERT INTO users (username, display_name, password_hash) VALUES ('from_before', 'x', 'x')"])
        run(svc + [os.path.join(pgbin(), "pg_ctl"), "-D", pg, "-m", "fast", "-w", "stop"])
        with open(os.path.join(pg, "pg_hba.conf")) as f:
            self.assertIn("trust", f.read())

    def psql_admin(self, sql):
        env = dict(self.env, PGPASSFILE=os.path.join(self.home, "secrets", "chat.pgpass"))
        return run(["psql", "-X", "-tA", "-h", os.path.join(self.home, "run"), "-p",
                    str(self.port + 2), "-U", "chat", "-d", "chat", "-c", sql], env=env)

    def test_start_upgrades_and_keeps_the_data(self):
        self.make_old_directory()
        t0 = time.monotonic()
        r = subprocess.run([CHATCTL, "start"], env=self.env, capture_output=True, text=True,
                           timeout=180)
        self.started = True
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("upgrading", r.stderr)
        took = time.monotonic() - t0

        with open(os.path.join(self.home, "pg", "pg_hba.conf")) as f:
            hba = f.read()
        self.assertNotIn("trust", hba)
        env = dict(self.env, PGPASSFILE="/dev/null")
        for host in (os.path.join(self.home, "run"), "127.0.0.1"):
            out = subprocess.run(["psql", "-X", "-w", "-h", host, "-p", str(self.port + 2), "-U",
                                  "chat", "-d", "chat", "-c", "SELECT 1"], env=env,
                                 capture_output=True, text=True, timeout=30)
            self.assertNotEqual(out.returncode, 0, "no password needed on " + host)

        self.assertEqual(self.psql_admin("SELECT count(*) FROM users WHERE username = 'from_before'"),
                         "1")
        self.assertEqual(self.psql_admin("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
                                         "WHERE relnamespace = 'public'::regnamespace"), "chat_owner")
        self.assertEqual(self.psql_admin("SELECT count(*) FROM schema_migrations "
                                         "WHERE name = '0014_roles.sql'"), "1")
        users = set(self.psql_admin("SELECT DISTINCT usename FROM pg_stat_activity "
                                    "WHERE datname = 'chat' AND pid <> pg_backend_pid()").split())
        self.assertTrue({"chat_push", "chat_notify"} <= users, users)
        self.assertNotIn("chat", users)

        print("  upgrade start took %.1f s" % took)


if __name__ == "__main__":
    main()
