"""Shared by scripts/cluster.py and scripts/faults.py (Python 3 standard library only): saaskit
nodes on loopback ports against one PostgreSQL database, a small GraphQL client, SQL through
psql, and a checker that fails the run with a message.

The nodes share SAASKIT_ROOT_KEY and the database and nothing else: each has its own port,
mail directory and log file. Every process started here is stopped by `Cluster.close`, which the
scripts call in a `finally` (and on SIGTERM/SIGINT), by its own pid.
"""

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time


class Failed(Exception):
    """An assertion of the run did not hold."""


def check(condition, message):
    if not condition:
        raise Failed(message)


def figure(label, value):
    """One measured figure, printed the same way by every phase."""
    print(f"  {label:<58} {value}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, every=0.1):
    """Polls `predicate` until it returns a truthy value (returned), or fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Node:
    def __init__(self, name, kind, port, env, log_path, process):
        self.name, self.kind, self.port, self.env = name, kind, port, env
        self.log_path, self.process = log_path, process

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.process.poll() is None

    def log_lines(self):
        """The node's JSON log lines, parsed (other lines are skipped)."""
        out = []
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


class Cluster:
    """saaskit processes on one database. `bin` is the saaskit binary, `database_url` a fresh
    PostgreSQL database, `work` a directory for mail and logs."""

    def __init__(self, bin, database_url, work):
        self.bin, self.database_url, self.work = bin, database_url, work
        self.root_key = subprocess.run([bin, "keygen"], check=True, capture_output=True,
                                       text=True).stdout.strip()
        self.nodes = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._interrupted)

    def _interrupted(self, signum, _frame):
        self.close()
        sys.exit(128 + signum)

    def base_env(self):
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": self.database_url,
            "SAASKIT_ENV": "production",
            "SAASKIT_ROOT_KEY": self.root_key,
            "SAASKIT_PUBLIC_URL": "http://127.0.0.1:8080",
            "SAASKIT_LOG_FORMAT": "json",
            "RUST_LOG": "info,sqlx=warn,sea_orm=warn",
            # Every test call comes from 127.0.0.1: the per-address sign-up limit would refuse
            # the run's own sign-ups.
            "SAASKIT_AUTH_ATTEMPTS_PER_MINUTE": "100000",
            # Four processes (and the other tests of the machine) on one PostgreSQL.
            "SAASKIT_DB_MAX_CONNECTIONS": "5",
            "SAASKIT_HTTP_WORKERS": "2",
        }

    def run(self, *args, env=None):
        """Runs a one-off saaskit command (migrate, staff create) to completion."""
        full = {**self.base_env(), **(env or {})}
        done = subprocess.run([self.bin, *args], env=full, capture_output=True, text=True,
                              timeout=120)
        check(done.returncode == 0, f"saaskit {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self, name, kind, port=None, env=None, worker=False):
        """Starts `saaskit serve --no-worker` (kind "server"; `saaskit serve` with its
        in-process job worker when `worker`) or `saaskit worker`; a server is returned once
        /ready answers 200. Restarting a name reuses its port and mail dir."""
        previous = self.nodes.get(name)
        if previous is not None:
            check(not previous.alive(), f"{name} is still running")
            port = port or previous.port
        if kind == "server":
            port = port or free_port()
        mail = os.path.join(self.work, f"mail-{name}")
        os.makedirs(mail, exist_ok=True)
        full = {**self.base_env(), "SAASKIT_MAIL_DIR": mail, **(env or {})}
        if port:
            full["SAASKIT_BIND"] = f"127.0.0.1:{port}"
        log_path = os.path.join(self.work, f"{name}.log")
        if kind == "server":
            args = ["serve"] if worker else ["serve", "--no-worker"]
        else:
            args = ["worker"]
        log = open(log_path, "ab")
        process = subprocess.Popen([self.bin, *args], env=full, stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        node = Node(name, kind, port, full, log_path, process)
        self.nodes[name] = node
        if kind == "server":
            wait_until(lambda: self._ready(node), 60, f"{name} to be ready on {node.url}")
        else:
            wait_until(lambda: self._worker_started(node), 60, f"{name} to start")
        return node

    def _ready(self, node):
        if not node.alive():
            raise Failed(f"{node.name} exited with {node.process.returncode}:\n{tail(node)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=2)
            conn.request("GET", "/ready")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def _worker_started(self, node):
        if not node.alive():
            raise Failed(f"{node.name} exited with {node.process.returncode}:\n{tail(node)}")
        return any("saaskit worker running" in line.get("message", "")
                   for line in node.log_lines())

    def signal(self, name, sig):
        """Sends `sig` to node `name`; returns the monotonic time just before it was sent."""
        at = time.monotonic()
        self.nodes[name].process.send_signal(sig)
        return at

    def wait_exit(self, name, timeout):
        """Waits for node `name` to exit; returns its exit code, or fails after `timeout` s."""
        try:
            return self.nodes[name].process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"{name} did not exit within {timeout} s") from None

    def close(self):
        for node in self.nodes.values():
            if node.alive():
                node.process.kill()
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass


def tail(node, lines=30):
    try:
        with open(node.log_path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class NotConnected(Exception):
    """The node refused the connection: the call was never sent."""


class Client:
    """A GraphQL client on one keep-alive connection to one node (one per thread)."""

    def __init__(self, port, timeout=30):
        self.port, self.timeout = port, timeout
        self.conn = None

    def open(self):
        """Connects unless connected; `NotConnected` when the node refuses. Like urllib3, a
        kept-alive connection the node has closed meanwhile (readable while no answer is due:
        a FIN) is replaced before a request is sent on it, rather than failing that request."""
        if self.conn is not None and self.conn.sock is not None:
            readable, _, _ = select.select([self.conn.sock], [], [], 0)
            if readable:
                self.close()
        if self.conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                conn.connect()
            except OSError as err:
                conn.close()
                raise NotConnected(err) from err
            self.conn = conn

    def post(self, query, variables=None, token=None):
        """Returns (HTTP status, decoded body). `NotConnected` when no connection could be
        opened (nothing was sent); other errors (OSError, http.client's) propagate: the call
        may or may not have reached the node."""
        self.open()
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables or {}})
        try:
            self.conn.request("POST", "/graphql", body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, json.loads(data)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def gql(node, query, variables=None, token=None):
    """One call on a fresh connection; returns `data`, failing the run on any error."""
    client = Client(node.port)
    try:
        status, body = client.post(query, variables, token)
    finally:
        client.close()
    check(status == 200 and not body.get("errors"),
          f"{node.name}: {query.split('(')[0].strip()} failed: HTTP {status} {body}")
    return body["data"]


def error_code(body):
    errors = body.get("errors") or []
    return errors[0].get("extensions", {}).get("code") if errors else None


def sql(database_url, query):
    """Rows of `query` (psql, unaligned), each a list of strings."""
    done = subprocess.run(["psql", database_url, "-v", "ON_ERROR_STOP=1", "-AtqF", "\t", "-c",
                           query], capture_output=True, text=True, timeout=120)
    check(done.returncode == 0, f"SQL failed: {done.stderr}\n{query}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def scalar(database_url, query):
    rows = sql(database_url, query)
    return rows[0][0] if rows else None


# --- Accounts the phases need -------------------------------------------------------------

STAFF_EMAIL = "ops@cluster.example"
STAFF_PASSWORD = "cluster staff password"


def create_staff(cluster):
    cluster.run("staff", "create", "--email", STAFF_EMAIL, "--password", STAFF_PASSWORD)


def staff_token(node):
    return gql(node, "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p})"
                     " { token } }", {"e": STAFF_EMAIL, "p": STAFF_PASSWORD})["login"]["token"]


def sign_up(node, tag):
    """A new business on `node`; returns (owner token, business id, SDK key)."""
    token = gql(node, "mutation($i: SignupInput!) { signup(input: $i) { token } }",
                {"i": {"email": f"{tag}@cluster.example", "password": "correct horse battery",
                       "name": tag, "businessName": f"{tag} Inc"}})["signup"]["token"]
    business = gql(node, "{ business { id apiKey } }", token=token)["business"]
    return token, business["id"], business["apiKey"]


def grant_plan(node, staff, business_id, code, recordings_max):
    """Creates a hidden free plan `code` whose `recordings` allow `recordings_max` (None:
    unlimited) and puts the business on it."""
    plan = gql(node, "mutation($i: CreatePlanInput!) { createPlan(input: $i) { id } }",
               {"i": {"code": code, "name": code, "priceCents": 0, "currency": "USD",
                      "period": {"count": 1, "unit": "MONTH"}, "isPublic": False,
                      "limits": [{"metric": "recordings", "max": recordings_max,
                                  "resetsEachPeriod": True}]}}, token=staff)["createPlan"]
    gql(node, "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { id } }",
        {"b": business_id, "p": plan["id"]}, token=staff)


RECORD = ("mutation($k: String!) { recordUsage(input: {metric: \"recordings\", quantity: 1, "
          "idempotencyKey: $k}) { used duplicate } }")


def recordings_used(database_url, business_id):
    return int(scalar(database_url, f"""
        SELECT coalesce(sum(c.used), 0) FROM usage_counters c
        JOIN subscriptions s ON s.id = c.subscription_id
        WHERE s.business_id = '{business_id}' AND c.metric = 'recordings'"""))


def event_keys(database_url, business_id):
    return [row[0] for row in sql(database_url, f"""
        SELECT idempotency_key FROM usage_events
        WHERE business_id = '{business_id}' AND metric = 'recordings' AND accepted""")]


def run(name, phases):
    """The drivers' main: `phases(cluster)` on a migrated database with the staff user, from
    `BIN DATABASE_URL WORKDIR` on the command line. Returns the exit status: 1 when a check
    failed (the nodes' last log lines are printed), 0 otherwise; every node is stopped."""
    bin, database_url, work = sys.argv[1:4]
    cluster = Cluster(bin, database_url, work)
    try:
        cluster.run("migrate")
        create_staff(cluster)
        phases(cluster)
        print(f"{name}: all checks passed", flush=True)
    except Failed as err:
        print(f"{name}: FAILED: {err}", flush=True)
        for node in cluster.nodes.values():
            print(f"--- last lines of {node.name} ({node.log_path})\n{tail(node, 10)}")
        return 1
    finally:
        cluster.close()
    return 0
