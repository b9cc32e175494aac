#!/usr/bin/env python3
"""Another user's login while a stolen session floods `changePassword` with wrong guesses.

Starts a release `saaskit serve` on a temporary SQLite database (behind a "proxy" at 127.0.0.1,
so each request may name its client address in X-Forwarded-For), signs up a victim and an
attacker, and measures the victim's `login` latency, one login at a time:

  1. idle;
  2. while ATTACKERS connections send, back to back, the hostile body: a batch of 10
     operations, each with 30 aliased `changePassword` fields guessing wrong (27 KB, 300
     password checks asked for), each request from a new client address (so no per-address
     rule helps).

The per-address rate is set high (SAASKIT_AUTH_ATTEMPTS_PER_MINUTE) so that what is measured
is the password work itself, not the rate that would refuse most of the flood first. Prints
p50/p99/max of each phase, the flood's answers by code, and the ratios flood / idle.

    bench/passwords.sh                  # builds the release binary, then runs this
    python3 bench/passwords.py BIN      # an already built binary (e.g. an older commit's)
"""
import collections
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/saaskit"
PORT = int(os.environ.get("BENCH_PORT", "18282"))
LOGINS = int(os.environ.get("BENCH_LOGINS", "100"))
ATTACKERS = int(os.environ.get("BENCH_ATTACKERS", "48"))
PASSWORD = "correct horse battery"

LOGIN = "mutation($input: LoginInput!) { login(input: $input) { token } }"
SIGNUP = "mutation($input: SignupInput!) { signup(input: $input) { token } }"


def post(connection, body, token=None, client=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if client:
        headers["x-forwarded-for"] = client
    connection.request("POST", "/graphql", body=body, headers=headers)
    response = connection.getresponse()
    return json.loads(response.read())


def connect():
    return http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)


def signup(email):
    body = json.dumps({"query": SIGNUP, "variables": {"input": {
        "email": email, "password": PASSWORD, "name": "Bench", "businessName": email}}})
    answer = post(connect(), body, client="203.0.113.1")
    return answer["data"]["signup"]["token"]


def hostile_body():
    fields = " ".join(f"a{i}: changePassword(input: $input)" for i in range(30))
    operation = {"query": f"mutation($input: ChangePasswordInput!) {{ {fields} }}",
                 "variables": {"input": {"currentPassword": "a wrong guess",
                                         "newPassword": "a brand new password"}}}
    return json.dumps([operation] * 10)


def codes(answer):
    answers = answer if isinstance(answer, list) else [answer]
    for one in answers:
        for error in one.get("errors") or []:
            yield error.get("extensions", {}).get("code", "none")
        if not one.get("errors"):
            yield "OK"


def login_latencies(count):
    body = json.dumps({"query": LOGIN, "variables": {"input": {
        "email": "victim@example.com", "password": PASSWORD}}})
    connection = connect()
    samples, failures = [], collections.Counter()
    for _ in range(count):
        started = time.perf_counter()
        answer = post(connection, body, client="198.51.100.7")
        samples.append((time.perf_counter() - started) * 1000)
        if not (answer.get("data") or {}).get("login"):
            error = (answer.get("errors") or [{}])[0]
            failures[f'{error.get("extensions", {}).get("code")}: {error.get("message")}'] += 1
    return samples, failures


FLOOD_CODES = ("RATE_LIMITED", "BAD_USER_INPUT", "TIMEOUT", "INTERNAL_SERVER_ERROR", "UNAUTHENTICATED")


def flood(token, body, stop, seen):
    """Sends `body` back to back. Answers are counted by a byte search, not parsed: the
    client must not take the cores the server is measured on."""
    connection = connect()
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    while not stop.is_set():
        headers["x-forwarded-for"] = \
            f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        try:
            connection.request("POST", "/graphql", body=body, headers=headers)
            payload = connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            connection = connect()
            seen["connection error"] += 1
            continue
        seen["requests"] += 1
        for code in FLOOD_CODES:
            seen[code] += payload.count(f'"code":"{code}"'.encode())


def summary(samples):
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def main():
    work = tempfile.mkdtemp()
    key = subprocess.run([BIN, "keygen"], capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/bench.db?mode=rwc",
               SAASKIT_BIND=f"127.0.0.1:{PORT}", SAASKIT_ROOT_KEY=key, SAASKIT_LOG="error",
               SAASKIT_MAIL_DIR=f"{work}/mail", SAASKIT_TRUSTED_PROXIES="127.0.0.1",
               SAASKIT_AUTH_ATTEMPTS_PER_MINUTE="1000000")
    server = subprocess.Popen([BIN, "serve"], env=env)
    try:
        for _ in range(200):
            try:
                post(connect(), json.dumps({"query": "{ __typename }"}))
                break
            except OSError:
                time.sleep(0.1)
        signup("victim@example.com")
        attacker = signup("attacker@example.com")
        body = hostile_body()
        login_latencies(5)  # warm up
        idle, idle_failed = login_latencies(LOGINS)

        stop, seen = threading.Event(), collections.Counter()
        threads = [threading.Thread(target=flood, args=(attacker, body, stop, seen))
                   for _ in range(ATTACKERS)]
        for thread in threads:
            thread.start()
        time.sleep(2)  # the flood reaches its pace
        flooded, flood_failed = login_latencies(LOGINS)
        stop.set()
        for thread in threads:
            thread.join()

        print(f"hostile request: {len(body)} bytes, 10 operations x 30 aliased changePassword; "
              f"{ATTACKERS} connections, a new client address per request")
        print(f"{'victim login, ms':24} {'p50':>8} {'p99':>8} {'max':>8}  failed")
        for name, samples, failed in (("idle", idle, idle_failed), ("under the flood", flooded, flood_failed)):
            p50, p99, worst = summary(samples)
            print(f"{name:24} {p50:8.1f} {p99:8.1f} {worst:8.1f}  {dict(failed) or 0}")
        (i50, i99, _), (f50, f99, _) = summary(idle), summary(flooded)
        print(f"{'flood / idle':24} {f50 / i50:7.2f}x {f99 / i99:7.2f}x")
        print(f"flood: {seen.pop('requests', 0)} requests; fields by code: "
              f"{ {code: n for code, n in seen.items() if n} }")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
