#!/usr/bin/env python3
"""How much server CPU a hostile request costs before it is refused.

Starts a release `saaskit serve` on a temporary SQLite database, sends each hostile body
(every one at most the 1 MiB body limit) several times, and reads the server's own CPU time
around each request from /proc/<pid>/task/*/schedstat (nanoseconds, all threads). Prints one row
per body — the largest CPU time of its runs — and the largest of all, beside a plain
`{ plans { code } }` measured the same way.

The "list families" group is sent by a signed-up user who is a member of five businesses (the
memberships beyond the first written straight into the bench's SQLite database, as an accepted
invitation would): the red-team document of issue 19 (30 aliases of a full audit-log page per
membership), nested pages that multiply, and a batch of ten red-team documents. Each row also
shows the wall time of the request and the size of the answer.

    bench/refusals.sh            # builds the release binary, then runs this
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/saaskit"
PORT = int(os.environ.get("BENCH_PORT", "18181"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MIB = 1024 * 1024


def named_bomb(fan, depth):
    parts = ["query { ...F1 }"]
    for level in range(1, depth + 1):
        inner = "__typename" if level == depth else " ".join([f"...F{level + 1}"] * fan)
        parts.append(f"fragment F{level} on Query {{ {inner} }}")
    return " ".join(parts)


def inline_bomb(fan, depth):
    body = "__typename"
    for _ in range(depth):
        body = " ".join([f"... on Query {{ {body} }}"] * fan)
    return "{ " + body + " }"


def fill(unit, size=MIB - 200):
    return unit * (size // len(unit))


def query(text, variables=None):
    return json.dumps({"query": text, "variables": variables or {}})


RED_TEAM = "{ me { memberships { business { " + " ".join(
    f"a{i}: auditLog(first: 100) {{ nodes {{ id action target data createdAt actor {{ email name }} }} }}"
    for i in range(30)) + " } } } }"


def list_families():
    yield "list: Me dashboard (examples)", query(open("examples/operations/Me.graphql").read())
    yield "list: red-team document", query(RED_TEAM)
    yield "list: memberships x members(100)", query(
        "{ me { memberships { business { members(first: 100) { nodes { id user { email } } } } } } }")
    yield "list: batch of 10 red-team docs", json.dumps([{"query": RED_TEAM}] * 10)


def bodies():
    yield "baseline { plans { code } }", query("{ plans { code } }")
    yield "fragment bomb 10x7 (591 B)", query(named_bomb(10, 7))
    yield "fragment bomb 50x30", query(named_bomb(50, 30))
    yield "inline bomb 2x14", query(inline_bomb(2, 14))
    yield "1 MiB of fields", query("{ " + fill("__typename ") + " }")
    yield "1 MiB of brackets", query(fill("{"))
    yield "1 MiB comment", query("#" + fill("x") + "\n{ __typename }")
    yield "1 MiB string argument", query('{ __typename plans(x: "' + fill("x") + '") { code } }')
    yield "128 KiB comment", query("#" + fill("x", 128 * 1024 - 100) + "\n{ __typename }")
    yield "128 KiB string argument", query('{ __typename plans(x: "' + fill("x", 128 * 1024 - 100) + '") { code } }')
    yield "4,990 tokens of aliases", query("{ " + " ".join(f"a{i}: __typename" for i in range(1660)) + " }")
    yield "2,400 fields", query("{ " + "__typename " * 2400 + " }")
    yield "1,000 operations", query(" ".join(f"query Q{i} {{ __typename }}" for i in range(1000)))
    yield "900 variables", query("query(" + " ".join(f"$v{i}: Int" for i in range(900)) + ") { __typename }")
    yield "1,200 unused fragments", query("{ __typename } " + " ".join(f"fragment F{i} on Query {{ __typename }}" for i in range(1200)))
    yield "directives on one field", query("{ __typename " + "@skip(if: false) " * 600 + "}")
    yield "1 MiB of variables", query("query($v: [Int]) { __typename }", {"v": list(range(130_000))})
    yield "deeply nested JSON", '{"query":"{ __typename }","variables":{"v":' + "[" * 100_000 + "]" * 100_000 + "}}"
    yield "introspection (graphql-js 17)", query(open("tests/fixtures/introspection-graphql-js-17.graphql").read())


def cpu_ns(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def post(body, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    connection.request("POST", "/graphql", body=body.encode(), headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


def outcome(status, payload):
    try:
        answer = json.loads(payload)
    except ValueError:
        return f"HTTP {status}, not JSON"
    if isinstance(answer, list):
        return f"batch of {len(answer)}: " + outcome(status, json.dumps(answer[0]))
    errors = answer.get("errors") or []
    if not errors:
        return f"HTTP {status}, answered"
    extensions = errors[0].get("extensions", {})
    limit = extensions.get("limit")
    code = extensions.get("code", "no code")
    return f"HTTP {status}, {code}" + (f" ({limit})" if limit else "")


def signup(email):
    mutation = "mutation($i: SignupInput!) { signup(input: $i) { token viewer { user { id } business { id } } } }"
    variables = {"i": {"email": email, "password": "correct horse battery", "name": "Bench",
                       "businessName": email}}
    status, payload = post(query(mutation, variables))
    answer = json.loads(payload)["data"]["signup"]
    return answer["token"], answer["viewer"]["business"]["id"]


def member_of_five(work):
    """A user's token, the user a member of five businesses."""
    token, _ = signup("lists-bench@example.com")
    for i in range(4):
        signup(f"lists-owner-{i}@example.com")
    database = sqlite3.connect(f"{work}/bench.db")
    with database:
        mine = database.execute(
            "SELECT m.id, m.user_id, m.role, m.status, m.joined_at, m.created_at, m.updated_at "
            "FROM team_members m JOIN users u ON u.id = m.user_id WHERE u.email = ?",
            ("lists-bench@example.com",)).fetchone()
        business_ids = database.execute(
            "SELECT m.business_id FROM team_members m JOIN users u ON u.id = m.user_id "
            "WHERE u.email LIKE 'lists-owner-%'").fetchall()
        as_text = isinstance(mine[0], str)
        for (business_id,) in business_ids:
            new_id = str(uuid.uuid4()) if as_text else uuid.uuid4().bytes
            database.execute(
                "INSERT INTO team_members (id, business_id, user_id, role, status, joined_at, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (new_id, business_id, mine[1], mine[2], mine[3], mine[4], mine[5], mine[6]))
    database.close()
    return token


def main():
    work = tempfile.mkdtemp()
    key = subprocess.run([BIN, "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/bench.db?mode=rwc", SAASKIT_BIND=f"127.0.0.1:{PORT}",
               SAASKIT_ROOT_KEY=key, SAASKIT_LOG="error", SAASKIT_MAIL_DIR=f"{work}/mail", SAASKIT_HTTP_WORKERS="1")
    server = subprocess.Popen([BIN, "serve"], env=env)
    try:
        for _ in range(100):
            try:
                if post(query("{ __typename }"))[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        print(f"{'request':34} {'bytes':>9} {'server CPU ms (max of %d)' % RUNS:>26}  outcome")
        worst = 0.0
        for name, body in bodies():
            assert len(body) <= MIB, f"{name}: {len(body)} bytes"
            costs = []
            for _ in range(RUNS):
                before = cpu_ns(server.pid)
                status, payload = post(body)
                costs.append((cpu_ns(server.pid) - before) / 1e6)
            if not name.startswith("baseline") and not name.startswith("introspection"):
                worst = max(worst, max(costs))
            print(f"{name:34} {len(body):>9} {max(costs):>26.2f}  {outcome(status, payload)}")
        print(f"\nlargest server CPU time to refuse a hostile request: {worst:.2f} ms")
        token = member_of_five(work)
        print(f"\n{'list families':34} {'bytes':>9} {'CPU ms':>8} {'wall ms':>8} {'answer B':>9}  outcome")
        for name, body in list_families():
            costs, walls = [], []
            for _ in range(RUNS):
                before, started = cpu_ns(server.pid), time.monotonic()
                status, payload = post(body, token)
                walls.append((time.monotonic() - started) * 1e3)
                costs.append((cpu_ns(server.pid) - before) / 1e6)
            print(f"{name:34} {len(body):>9} {max(costs):>8.2f} {max(walls):>8.2f} {len(payload):>9}  "
                  f"{outcome(status, payload)}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
