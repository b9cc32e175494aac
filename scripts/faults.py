#!/usr/bin/env python3
"""Faults under load (run by scripts/faults.sh): two `saaskit serve --no-worker` on one
PostgreSQL database take recordUsage calls with unique idempotency keys, each call's outcome
recorded by the driver, while

1. server A is killed with SIGKILL (and started again while the load goes on);
2. server B is stopped with SIGTERM;
3. a `saaskit worker` is stopped with SIGTERM while it is sending an invitation mail (to a
   loopback SMTP server that takes 3 s to accept a message).

After 1 and 2: every acknowledged call's key is in `usage_events` (lost = 0), every event is
an acknowledged call or one whose answer never came (no phantom), the counter equals the events,
and acked <= counted <= attempted. After 2 also: every call in flight at the SIGTERM was
answered, no call to B went unanswered, and B exited within SAASKIT_HTTP_SHUTDOWN_TIMEOUT.
After 3: the workers exited once the send finished, the mail went out once, and its outbox row
is sent.

    scripts/faults.py BIN DATABASE_URL WORKDIR
"""

import signal
import socketserver
import sys
import threading
import time

from cluster_nodes import (RECORD, Client, Cluster, Failed, NotConnected, check, create_staff,
                           event_keys, figure, gql, grant_plan, recordings_used, scalar, sign_up,
                           staff_token, tail, wait_until)

THREADS = 8
HTTP_SHUTDOWN_TIMEOUT = 10  # SAASKIT_HTTP_SHUTDOWN_TIMEOUT's default
JOB_SHUTDOWN_TIMEOUT = 30  # SAASKIT_JOB_SHUTDOWN_TIMEOUT's default
SMTP_DELAY = 3.0


class Call:
    __slots__ = ("key", "server", "sent", "done", "outcome", "error")

    def __init__(self, key, server, sent):
        self.key, self.server, self.sent = key, server, sent
        self.done = self.outcome = self.error = None


class Load:
    """recordUsage calls with unique keys from THREADS threads, alternating between servers,
    each on keep-alive connections, until stopped. Outcomes: "acked" (the answer counted it),
    an error code (answered, refused), "not connected" (never sent) or "unanswered" (sent, no
    answer: it may or may not have been counted)."""

    def __init__(self, phase, servers, sdk):
        self.phase, self.servers, self.sdk = phase, servers, sdk
        self.calls = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.current = [None] * THREADS  # each thread's call in flight
        self.threads = [threading.Thread(target=self._run, args=(t,)) for t in range(THREADS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()

    def _run(self, thread):
        clients = {s.name: Client(s.port, timeout=60) for s in self.servers}
        i = 0
        while not self.stopping.is_set():
            server = self.servers[(thread + i) % len(self.servers)]
            call = Call(f"{self.phase}-{thread}-{i}", server.name, time.monotonic())
            i += 1
            self.current[thread] = call
            try:
                status, body = clients[server.name].post(RECORD, {"k": call.key}, self.sdk)
                data = body.get("data") or {}
                if status == 200 and data.get("recordUsage"):
                    call.outcome = "acked"
                else:
                    errors = body.get("errors") or [{}]
                    call.outcome = errors[0].get("extensions", {}).get("code", f"HTTP {status}")
            except NotConnected:
                call.outcome = "not connected"
            except Exception as err:  # noqa: BLE001 - a failure after sending: no answer
                call.outcome = "unanswered"
                call.error = repr(err)
            call.done = time.monotonic()
            self.current[thread] = None
            with self.lock:
                self.calls.append(call)
            if call.outcome == "not connected":
                time.sleep(0.01)  # a stopped node refuses at once; do not spin
        for client in clients.values():
            client.close()

    def in_flight_to(self, server):
        return sum(1 for c in list(self.current) if c is not None and c.server == server)

    def count(self, outcome, server=None):
        return sum(1 for c in self.calls
                   if c.outcome == outcome and (server is None or c.server == server))


def settle(cluster, load, business):
    """The checks common to both phases; returns the counted figure."""
    events = event_keys(cluster.database_url, business)
    counted = recordings_used(cluster.database_url, business)
    acked = {c.key for c in load.calls if c.outcome == "acked"}
    unanswered = {c.key for c in load.calls if c.outcome == "unanswered"}
    event_set = set(events)
    lost = acked - event_set
    phantom = event_set - acked - unanswered
    attempted = len(load.calls)
    refused = sorted({c.outcome for c in load.calls}
                     - {"acked", "unanswered", "not connected"})
    figure("attempted", attempted)
    figure("acknowledged", len(acked))
    errors = attempted - len(acked) - len(unanswered) - load.count("not connected")
    figure("refused with an error (codes)", f"{errors} {refused or ''}")
    figure("not connected (node down: never sent)", load.count("not connected"))
    figure("sent, no answer (outcome unknown)", len(unanswered))
    figure("counted (counter) / events", f"{counted} / {len(events)}")
    figure("counted but not acknowledged (all among the unanswered)",
           len(event_set - acked))
    figure("LOST (acknowledged, not counted)", len(lost))
    check(not lost, f"{len(lost)} acknowledged calls are not in usage_events: "
                    f"{sorted(lost)[:5]}")
    check(not phantom, f"{len(phantom)} events for calls refused or never sent: "
                       f"{sorted(phantom)[:5]}")
    check(len(events) == len(event_set), "an idempotency key was counted twice")
    check(counted == len(events), f"the counter ({counted}) is not the events ({len(events)})")
    check(len(acked) <= counted <= attempted, "acked <= counted <= attempted does not hold")
    check(len(acked) > 100, f"too little load to judge: {len(acked)} acknowledged")
    return counted


def kill_9(cluster, a, b, staff):
    print("1. SIGKILL server A under recordUsage load (then start it again)", flush=True)
    _, business, sdk = sign_up(b, "kill9")
    grant_plan(b, staff, business, "faults-kill9", None)
    load = Load("kill9", [a, b], sdk).start()
    time.sleep(2)
    killed = cluster.signal("server-a", signal.SIGKILL)
    cluster.wait_exit("server-a", 10)
    time.sleep(1)
    cluster.start("server-a", "server")
    figure("server A back after SIGKILL (s)", f"{time.monotonic() - killed:.1f}")
    time.sleep(1.5)
    load.stop()
    settle(cluster, load, business)
    check(load.count("acked", "server-a") > 0, "server A answered nothing after its restart")


def sigterm(cluster, a, b, staff):
    print("2. SIGTERM server B under recordUsage load", flush=True)
    _, business, sdk = sign_up(a, "sigterm")
    grant_plan(a, staff, business, "faults-sigterm", None)
    load = Load("sigterm", [a, b], sdk).start()
    time.sleep(2)
    # Signalled while calls to B are in flight, so that their fate is seen.
    wait_until(lambda: load.in_flight_to("server-b") >= 2, 10, "calls in flight to B",
               every=0.001)
    term = cluster.signal("server-b", signal.SIGTERM)
    code = cluster.wait_exit("server-b", HTTP_SHUTDOWN_TIMEOUT + 10)
    exited = time.monotonic() - term
    time.sleep(1)
    load.stop()
    to_b = [c for c in load.calls if c.server == "server-b"]
    in_flight = [c for c in to_b if c.sent < term < c.done]
    after = [c for c in to_b if c.sent >= term]
    figure("B exited after SIGTERM (s) / exit code", f"{exited:.2f} / {code}")
    figure("calls to B in flight at SIGTERM / answered",
           f"{len(in_flight)} / {sum(1 for c in in_flight if c.outcome == 'acked')}")
    figure("calls to B after SIGTERM: answered / not connected / unanswered",
           f"{sum(1 for c in after if c.outcome == 'acked')} / "
           f"{sum(1 for c in after if c.outcome == 'not connected')} / "
           f"{sum(1 for c in after if c.outcome == 'unanswered')}")
    settle(cluster, load, business)
    check(code == 0, f"server B exited with {code} after SIGTERM")
    check(exited <= HTTP_SHUTDOWN_TIMEOUT + 2, f"server B took {exited:.1f} s to stop")
    check(in_flight, "no call was in flight at the SIGTERM: nothing was shown")
    check(all(c.outcome == "acked" for c in in_flight),
          "calls in flight at the SIGTERM were not answered: "
          + "; ".join(f"{c.outcome} {c.error or ''}" for c in in_flight if c.outcome != "acked"))



class SlowSmtp(socketserver.ThreadingTCPServer):
    """A loopback SMTP server that takes SMTP_DELAY seconds to accept each message: a worker
    stopped meanwhile is caught in the middle of a send."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SmtpSession)
        self.messages = []
        self.receiving = threading.Event()


class SmtpSession(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 slow-smtp ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode(errors="replace").strip().upper()
            if verb.startswith(("EHLO", "HELO")):
                self.reply("250 slow-smtp")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                message = b""
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk == b".\r\n":
                        break
                    message += chunk
                self.server.receiving.set()
                time.sleep(SMTP_DELAY)
                self.server.messages.append(message.decode(errors="replace"))
                self.reply("250 accepted")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


def worker_sigterm_mid_send(cluster, a):
    print(f"3. SIGTERM both workers while one is sending a mail (the SMTP server takes "
          f"{SMTP_DELAY:g} s)", flush=True)
    smtp = SlowSmtp()
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    try:
        env = {"SAASKIT_SMTP_URL": f"smtp://127.0.0.1:{smtp.server_address[1]}",
               "SAASKIT_OUTBOX_SWEEP_EVERY": "1s"}
        workers = [cluster.start(f"mail-worker-{i}", "worker", env=env) for i in (1, 2)]
        token, _, _ = sign_up(a, "mailer")
        invitee = "slow-invitee@cluster.example"
        gql(a, "mutation($e: String!) { inviteTeamMember(input: {email: $e, role: MEMBER}) "
               "{ id } }", {"e": invitee}, token=token)
        wait_until(smtp.receiving.is_set, 60, "a worker to start sending the mail")
        term = time.monotonic()
        for w in workers:
            cluster.signal(w.name, signal.SIGTERM)
        codes = [cluster.wait_exit(w.name, JOB_SHUTDOWN_TIMEOUT + 10) for w in workers]
        exited = time.monotonic() - term
        db = cluster.database_url
        outbox = f"FROM mail_outbox WHERE recipient = '{invitee}'"
        row = [scalar(db, f"SELECT count(*) {outbox} AND sent_at IS NOT NULL"),
               scalar(db, f"SELECT max(attempts) {outbox}")]
        figure("workers exited after SIGTERM (s) / exit codes",
               f"{exited:.2f} / {', '.join(map(str, codes))}")
        figure("messages the SMTP server accepted / outbox row sent, attempts",
               f"{len(smtp.messages)} / {row[0]}, {row[1]}")
        check(codes == [0, 0], f"the workers exited with {codes}")
        check(len(smtp.messages) == 1, f"{len(smtp.messages)} messages reached SMTP")
        check(row == ["1", "1"], f"the outbox row is not sent once: {row}")
        # A fresh worker finds nothing to send again.
        after = cluster.start("mail-worker-3", "worker", env=env)
        time.sleep(3)
        figure("messages after a fresh worker ran 3 s", len(smtp.messages))
        check(len(smtp.messages) == 1, "the mail was sent again")
        cluster.signal(after.name, signal.SIGTERM)
        cluster.wait_exit(after.name, JOB_SHUTDOWN_TIMEOUT + 10)
    finally:
        smtp.shutdown()
        smtp.server_close()


def main():
    bin, database_url, work = sys.argv[1:4]
    cluster = Cluster(bin, database_url, work)
    try:
        cluster.run("migrate")
        create_staff(cluster)
        a = cluster.start("server-a", "server")
        b = cluster.start("server-b", "server")
        print(f"faults: server A :{a.port}, server B :{b.port}, one database, "
              f"{THREADS} client threads", flush=True)
        staff = staff_token(a)
        kill_9(cluster, cluster.nodes["server-a"], b, staff)
        sigterm(cluster, cluster.nodes["server-a"], b, staff)
        worker_sigterm_mid_send(cluster, cluster.nodes["server-a"])
        print("faults: all checks passed", flush=True)
    except Failed as err:
        print(f"faults: FAILED: {err}", flush=True)
        for node in cluster.nodes.values():
            print(f"--- last lines of {node.name} ({node.log_path})\n{tail(node, 10)}")
        return 1
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
