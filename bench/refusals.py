#!/usr/bin/env python3
"""How much server CPU a hostile request costs before it is refused.

Starts a release `saaskit serve` on a temporary SQLite database, sends each hostile body
(every one at most the 1 MiB body limit) several times, and reads the server's own CPU time
around each request from /proc/<pid>/task/*/schedstat (nanoseconds, all threads). Prints one row
per body — the largest CPU time of its runs — and the largest of all, beside a plain
`{ plans { code } }` measured the same way.

    bench/refusals.sh            # builds the release binary, then runs this
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

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


def post(body):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    connection.request("POST", "/graphql", body=body.encode(), headers={"content-type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


def outcome(status, payload):
    try:
        errors = json.loads(payload).get("errors") or []
    except ValueError:
        return f"HTTP {status}, not JSON"
    if not errors:
        return f"HTTP {status}, answered"
    extensions = errors[0].get("extensions", {})
    limit = extensions.get("limit")
    code = extensions.get("code", "no code")
    return f"HTTP {status}, {code}" + (f" ({limit})" if limit else "")


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
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
