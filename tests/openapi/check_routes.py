#!/usr/bin/python3
"""Hold docs/openapi.yaml to chat-api's route table, both ways.

    /usr/bin/python3 tests/openapi/check_routes.py [path/to/chat-api] [path/to/openapi.yaml]

`chat-api --routes` prints one "METHOD /api/v1/path/{id} auth|public" a line:
that table is the truth for chat-api. Every route must be an operation of the
spec, and every operation of the spec must be a route, except those marked
`x-served-by` (the stream endpoints of chat-push). Path parameters are
compared by position only (every {name} becomes {}). Also checked: a public
route has no security requirement in the spec (`security: []`) and an auth
route has one, and every operation names its scope in `x-scope`.
Exits 1 listing every difference.
"""

import os
import re
import subprocess
import sys

import yaml  # Debian's python3-yaml (scripts/deps.sh)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCOPES = {"chats:read", "chats:write", "messages:read", "messages:write", "events:read",
          "webhooks:write", "any", "session", "none"}


def norm(path):
    return re.sub(r"\{[^}/]*\}", "{}", path)


def routes(binary):
    out = subprocess.run([binary, "--routes"], check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or parts[2] not in ("auth", "public"):
            sys.exit("check_routes: cannot read the route line %r" % line)
        table[(parts[0].upper(), norm(parts[1]))] = parts[2]
    return table


def spec_operations(spec):
    base = ""
    servers = spec.get("servers") or []
    if servers:
        base = servers[0].get("url", "").rstrip("/")
    default_security = spec.get("security")
    ops, streams = {}, []
    for path, item in (spec.get("paths") or {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            key = (method.upper(), norm(base + path))
            if op.get("x-served-by"):
                streams.append("%s %s (%s)" % (method.upper(), base + path, op["x-served-by"]))
                continue
            security = op.get("security", default_security)
            ops[key] = {"path": base + path, "auth": bool(security), "scope": op.get("x-scope")}
    return ops, streams


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, os.environ.get("B", "build"), "chat-api")
    spec_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "openapi.yaml")
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    table = routes(binary)
    ops, streams = spec_operations(spec)
    problems = []
    for key in sorted(set(table) - set(ops)):
        problems.append("route not in the spec: %s %s" % key)
    for key in sorted(set(ops) - set(table)):
        problems.append("spec operation not a route of chat-api: %s %s" % (key[0], ops[key]["path"]))
    for key in sorted(set(ops) & set(table)):
        op = ops[key]
        if (table[key] == "auth") != op["auth"]:
            problems.append("%s %s: the route is %s but the spec says %s" % (
                key[0], op["path"], table[key], "auth" if op["auth"] else "public (security: [])"))
        if op["scope"] not in SCOPES:
            problems.append("%s %s: x-scope %r is not a scope, any, session or none" % (
                key[0], op["path"], op["scope"]))
        elif (op["scope"] == "none") == (table[key] == "auth"):
            problems.append("%s %s: x-scope %s on a%s route" % (
                key[0], op["path"], op["scope"], "n auth" if table[key] == "auth" else " public"))
    print("check_routes: %d routes of chat-api, %d operations of the spec (%d stream "
          "operations of chat-push not compared: %s)" % (
              len(table), len(ops), len(streams), ", ".join(streams) or "-"))
    for p in problems:
        print("  " + p)
    if problems:
        print("check_routes: %d difference(s)" % len(problems))
        return 1
    print("check_routes: the spec and the route table agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
