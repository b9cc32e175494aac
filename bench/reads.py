#!/usr/bin/env python3
"""The read path at two sizes: how the requests a dashboard and the staff console send grow
from a small database to a large one.

For each size it creates a PostgreSQL database, migrates it with the release binary, seeds the
bulk by SQL (bench/reads_seed.sql: each business has three members, a subscription, ten audit
events, three archived usage periods), starts `saaskit serve --no-worker` on it, signs up one
owner (whose business gets 20 more members, 5,000 audit events and 24 usage periods by SQL) and
one staff user, then measures every request: 200 sequential (p50, p99, and statements per
request from the server's own `saaskit_db_statements_total`), then 16 connections for
READS_SECONDS (requests per second, p50, p99). Prints one table with the large/small ratios.

    bench/reads.sh                      # 1,000 and 100,000 businesses
    READS_SIZES=200,2000 bench/reads.sh  # the CI smoke run
"""
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/saaskit"
ADMIN = os.environ.get("READS_DATABASE", "postgres://postgres@127.0.0.1:5432/test")
SIZES = [int(s) for s in os.environ.get("READS_SIZES", "1000,100000").split(",")]
SEQUENTIAL = int(os.environ.get("READS_SEQUENTIAL", "200"))
SECONDS = float(os.environ.get("READS_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("READS_CONNECTIONS", "16"))
PORT = int(os.environ.get("BENCH_PORT", "18282"))
PASSWORD = "bench password 1"
HERE = os.path.dirname(os.path.abspath(__file__))


def psql(database, *args, **kwargs):
    base = ADMIN.rsplit("/", 1)[0]
    return subprocess.run(["psql", "-q", "-X", f"{base}/{database}", *args], check=True,
                          capture_output=True, text=True, **kwargs).stdout


class Client:
    def __init__(self):
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)

    def post(self, body, token=None):
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = "Bearer " + token
        try:
            self.connection.request("POST", "/graphql", body=body, headers=headers)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes a keep-alive connection left idle (while the bulk is seeded).
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
            self.connection.request("POST", "/graphql", body=body, headers=headers)
            response = self.connection.getresponse()
        return json.loads(response.read())

    def gql(self, query, variables=None, token=None):
        answer = self.post(json.dumps({"query": query, "variables": variables or {}}), token)
        if answer.get("errors"):
            raise SystemExit(f"bench request failed: {answer['errors']}\n{query}")
        return answer["data"]


def statements(client):
    client.connection.request("GET", "/metrics")
    text = client.connection.getresponse().read().decode()
    for line in text.splitlines():
        if line.startswith("saaskit_db_statements_total"):
            return float(line.split()[-1])
    return 0.0


DASHBOARD = """query Dashboard {
  me { role user { email name } business { id name } }
  business {
    name
    subscription { status currentPeriodEnd plan { code name priceCents } }
    usage { metric used limit remaining resetsAt }
    members(first: 20) { edges { node { role status user { email name } } } }
    auditLog(first: 20) { nodes { action target createdAt actor { email } } }
  }
}"""
HISTORY = "query($after: String) { business { usageHistory(first: 10, after: $after) { edges { cursor node { metric used periodStart } } pageInfo { endCursor } } } }"
AUDIT = "query($after: String) { business { auditLog(first: 50, after: $after) { edges { cursor node { action target createdAt } } pageInfo { endCursor } } } }"
SEARCH = "query($s: String) { businesses(search: $s, first: 20) { edges { node { id name subscription { status plan { code } } } } } }"
BY_ID = "query($id: ID!) { businessById(id: $id) { id name subscription { status plan { code } } members(first: 20) { edges { node { role user { email } } } } } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { token } }"


def prepare(size):
    database = f"saaskit_reads_{size}"
    psql("test", "-c", f'DROP DATABASE IF EXISTS "{database}"', "-c", f'CREATE DATABASE "{database}"')
    url = ADMIN.rsplit("/", 1)[0] + "/" + database
    work = tempfile.mkdtemp()
    key = subprocess.run([BIN, "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, DATABASE_URL=url, SAASKIT_BIND=f"127.0.0.1:{PORT}", SAASKIT_ROOT_KEY=key,
               SAASKIT_LOG="error", SAASKIT_MAIL_DIR=f"{work}/mail", SAASKIT_AUTH_ATTEMPTS_PER_MINUTE="1000000",
               )
    # The server migrates and seeds the plans the bulk data refers to.
    server = subprocess.Popen([BIN, "serve", "--no-worker"], env=env)
    client = None
    for _ in range(300):
        try:
            client = Client()
            client.gql("{ __typename }")
            break
        except OSError:
            time.sleep(0.1)
    started = time.monotonic()
    psql(database, "-v", f"businesses={size}", "-f", os.path.join(HERE, "reads_seed.sql"))
    seeded = time.monotonic() - started
    subprocess.run([BIN, "staff", "create", "--email", "staff@bench.example", "--password", PASSWORD],
                   env=env, check=True, capture_output=True)
    signup = client.gql(
        "mutation($i: SignupInput!) { signup(input: $i) { token viewer { business { id } } } }",
        {"i": {"email": "owner@bench.example", "password": PASSWORD, "name": "Owner",
               "businessName": "Bench Owner Co"}})["signup"]
    business = signup["viewer"]["business"]["id"]
    psql(database, "-c", f"""
        INSERT INTO users (id, email, name, is_active, is_staff, is_bot, created_at, updated_at)
        SELECT gen_random_uuid(), 'teammate' || m || '@bench.example', 'Teammate ' || m, true, false, false, now(), now()
        FROM generate_series(1, 20) m;
        INSERT INTO team_members (id, business_id, user_id, role, status, joined_at, created_at, updated_at)
        SELECT gen_random_uuid(), '{business}', id, 'member', 'active', now(), now(), now()
        FROM users WHERE email LIKE 'teammate%@bench.example';
        INSERT INTO audit_events (id, business_id, action, target, created_at)
        SELECT gen_random_uuid(), '{business}', 'usage.recorded', 'recordings', now() - make_interval(secs => e)
        FROM generate_series(1, 5000) e;
        INSERT INTO usage_periods (id, subscription_id, metric, period_start, period_end, used)
        SELECT gen_random_uuid(), s.id, 'recordings', now() - make_interval(days => 30 * p + 30),
               now() - make_interval(days => 30 * p), p
        FROM subscriptions s, generate_series(1, 24) p WHERE s.business_id = '{business}';
        ANALYZE;""")
    staff = client.gql(LOGIN, {"i": {"email": "staff@bench.example", "password": PASSWORD}})["login"]["token"]
    owner = signup["token"]
    middle = size // 2 + 1
    word = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wonka"][middle % 8]
    some_id = psql(database, "-t", "-A", "-c", f"SELECT id FROM businesses WHERE name = '{word} {middle} Ltd'").strip()
    history = client.gql(HISTORY, {"after": None}, owner)["business"]["usageHistory"]["pageInfo"]["endCursor"]
    deep = None
    for _ in range(80):  # 4,000 events in
        deep = client.gql(AUDIT, {"after": deep}, owner)["business"]["auditLog"]["pageInfo"]["endCursor"]
    requests = [
        ("owner dashboard", DASHBOARD, {}, owner),
        ("usageHistory, first page", HISTORY, {"after": None}, owner),
        ("usageHistory, by cursor", HISTORY, {"after": history}, owner),
        ("auditLog(50), 4,000 deep", AUDIT, {"after": deep}, owner),
        ("staff search by name", SEARCH, {"s": f"{word} {middle} "}, staff),
        ("staff search by e-mail", SEARCH, {"s": f"member2.{middle}@company{middle}"}, staff),
        ("staff search by id", SEARCH, {"s": some_id}, staff),
        ("businessById", BY_ID, {"id": some_id}, staff),
        ("login (argon2id)", LOGIN, {"i": {"email": "owner@bench.example", "password": PASSWORD}}, None),
    ]
    return server, client, requests, seeded


def percentile(samples, p):
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(len(samples) * p))]


def sequential(client, body, token):
    times = []
    for _ in range(SEQUENTIAL):
        started = time.perf_counter()
        answer = client.post(body, token)
        times.append((time.perf_counter() - started) * 1000)
        if answer.get("errors"):
            raise SystemExit(f"bench request failed: {answer['errors']}")
    return times


def concurrent(body, token, seconds):
    times, lock, stop = [], threading.Lock(), time.monotonic() + seconds

    def run():
        client, mine = Client(), []
        while time.monotonic() < stop:
            started = time.perf_counter()
            client.post(body, token)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(times) / seconds, times


def measure(size):
    server, client, requests, seeded = prepare(size)
    rows = {}
    try:
        for name, query, variables, token in requests:
            body = json.dumps({"query": query, "variables": variables})
            sequential(client, body, token)[:20]  # warm-up
            before = statements(client)
            times = sequential(client, body, token)
            per_request = (statements(client) - before) / SEQUENTIAL
            # login is bounded by hashing, measured apart: a few seconds is enough
            rps, loaded = concurrent(body, token, SECONDS if "login" not in name else 3)
            rows[name] = (percentile(times, 0.5), percentile(times, 0.99), per_request,
                          rps, percentile(loaded, 0.5), percentile(loaded, 0.99))
    finally:
        server.terminate()
        server.wait()
    return rows, seeded


def main():
    results = {}
    for size in SIZES:
        results[size], seeded = measure(size)
        print(f"{size:,} businesses seeded by SQL in {seeded:.1f} s", file=sys.stderr)
    small, large = SIZES[0], SIZES[-1]
    print(f"\n{'request':28} {'p50 ms':>18} {'p99 ms':>18} {'p99':>6} {'stmts':>6}"
          f" {f'{CONNECTIONS} conns at {large:,}':>28}")
    print(f"{'':28} {f'{small:,} -> {large:,}':>18} {f'{small:,} -> {large:,}':>18} {'ratio':>6}"
          f" {'/ req':>6} {'rps  p50  p99 ms':>28}")
    for name in results[small]:
        a, b = results[small][name], results[large][name]
        print(f"{name:28} {a[0]:7.1f} -> {b[0]:7.1f} {a[1]:7.1f} -> {b[1]:7.1f} {b[1] / a[1]:6.2f}"
              f" {b[2]:6.1f} {b[3]:10.0f} {b[4]:7.1f} {b[5]:7.1f}")


if __name__ == "__main__":
    main()
