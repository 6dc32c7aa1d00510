"""The requests of prism_run.mjs --self-test, made through Prism with a spec
that disagrees with the server: GET /healthz (the answer breaks the spec's
Health) and POST /chats/{id}/typing with `{}` (the request lacks the spec's
`mood`). Each must still succeed at the server; judging is prism_run's."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from chatlib import create_direct, register, request  # noqa: E402

r = request("GET", "/healthz")
assert r.status == 200, r.describe()
a, b = register("selfa"), register("selfb")
chat = create_direct(a, b)
r = a.req("POST", "/chats/%d/typing" % chat["id"], {})
assert r.status in (200, 202, 204), r.describe()
assert r.header("sl-violations"), "Prism put no sl-violations header on %s" % r.describe()
print("prism self-test probe: 2 disagreeing exchanges made")
