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

from cluster_nodes import (RECORD, Client, NotConnected, check, event_keys, figure, gql,
                           grant_plan, recordings_used, run, scalar, sign_up, staff_token,
                           wait_until)

THREADS = 8
HTTP_SHUTDOWN_TIMEOUT = 10  # SAASKIT_HTTP_SHUTDOWN_TIMEOUT's default
JOB_SHUTDOWN_TIMEOUT = 30  # SAASKIT_JOB_SHUTDOWN_TIMEOUT's default
SMTP_DELAY = 3.0


ATTEMPTS = 3  # per call, as an SDK retries an unanswered call (same key) on another node


class Call:
    """One recordUsage call (one idempotency key). `server`, `sent`, `first` and `first_done`
    describe its first attempt ("answered", "not connected" or "unanswered"); `outcome` how it
    ended after any retries: "acked" (an answer counted it, `duplicate` says whether a previous
    attempt already had), an error code, "not connected" (no attempt was ever sent) or
    "unanswered" (some attempt was sent and none answered: it may or may not have counted)."""

    __slots__ = ("key", "server", "sent", "first", "first_done", "outcome", "error",
                 "duplicate", "attempts")

    def __init__(self, key, server, sent):
        self.key, self.server, self.sent = key, server, sent
        self.first = self.first_done = self.outcome = self.error = self.duplicate = None
        self.attempts = 0


class Load:
    """recordUsage calls with unique keys from THREADS threads, alternating between servers on
    keep-alive connections, until stopped. A call that gets no answer is tried again with the
    same key on the other server (up to ATTEMPTS), as an SDK does."""

    def __init__(self, phase, servers, sdk):
        self.phase, self.servers, self.sdk = phase, servers, sdk
        self.calls = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.current = [None] * THREADS  # each thread's first attempt in flight
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
            n = len(self.servers)
            call = Call(f"{self.phase}-{thread}-{i}", self.servers[(thread + i) % n].name,
                        time.monotonic())
            self.current[thread] = call
            sent_unanswered = False
            for attempt in range(ATTEMPTS):
                target = self.servers[(thread + i + attempt) % n]
                call.attempts += 1
                result = self._attempt(clients[target.name], call)
                if attempt == 0:
                    call.first, call.first_done = result, time.monotonic()
                    self.current[thread] = None
                if result == "answered":
                    break
                sent_unanswered |= result == "unanswered"
                call.outcome = "unanswered" if sent_unanswered else "not connected"
                time.sleep(0.01)  # a stopped node refuses at once; do not spin
            i += 1
            with self.lock:
                self.calls.append(call)
        for client in clients.values():
            client.close()

    def _attempt(self, client, call):
        try:
            status, body = client.post(RECORD, {"k": call.key}, self.sdk)
        except NotConnected:
            return "not connected"
        except Exception as err:  # noqa: BLE001 - a failure after sending: no answer
            call.error = repr(err)
            return "unanswered"
        recorded = (body.get("data") or {}).get("recordUsage")
        if status == 200 and recorded:
            call.outcome, call.duplicate = "acked", recorded["duplicate"]
        else:
            errors = body.get("errors") or [{}]
            call.outcome = errors[0].get("extensions", {}).get("code", f"HTTP {status}")
        return "answered"

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
    retried = [c for c in load.calls if c.outcome == "acked" and c.attempts > 1]
    figure("calls attempted (unique keys)", attempted)
    figure("acknowledged", len(acked))
    figure("  of which on a retry / the retry said duplicate",
           f"{len(retried)} / {sum(1 for c in retried if c.duplicate)}")
    errors = attempted - len(acked) - len(unanswered) - load.count("not connected")
    figure("refused with an error (codes)", f"{errors} {refused or ''}")
    figure("never sent (every attempt refused a connection)", load.count("not connected"))
    figure("sent, never answered (outcome unknown)", len(unanswered))
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
    back = time.monotonic()
    figure("server A back after SIGKILL (s)", f"{back - killed:.1f}")
    time.sleep(1.5)
    load.stop()
    cut = [c for c in load.calls if c.server == "server-a" and c.first == "unanswered"]
    figure("first attempts to A cut by the kill (no answer) / retried",
           f"{len(cut)} / {sum(1 for c in cut if c.attempts > 1)}")
    settle(cluster, load, business)
    check(any(c.server == "server-a" and c.sent > back and c.first == "answered"
              for c in load.calls), "server A answered nothing after its restart")


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
    in_flight = [c for c in to_b if c.sent < term < c.first_done]
    answered_by_b = [c for c in in_flight if c.first == "answered"]
    # actix closes a kept-alive connection whose next request it has not read yet: that call
    # ran nowhere, and its retry on A (same key) must be its first count.
    closed_unread = [c for c in in_flight if c.first == "unanswered"]
    after = [c for c in to_b if c.sent >= term]
    figure("B exited after SIGTERM (s) / exit code", f"{exited:.2f} / {code}")
    figure("calls to B in flight at SIGTERM", len(in_flight))
    figure("  answered by B", len(answered_by_b))
    figure("  closed unread by B, retried on A: acked / counted before",
           f"{sum(1 for c in closed_unread if c.outcome == 'acked')} / "
           f"{sum(1 for c in closed_unread if c.duplicate)}")
    figure("first attempts to B after SIGTERM: answered / refused / unanswered",
           f"{sum(1 for c in after if c.first == 'answered')} / "
           f"{sum(1 for c in after if c.first == 'not connected')} / "
           f"{sum(1 for c in after if c.first == 'unanswered')}")
    settle(cluster, load, business)
    check(code == 0, f"server B exited with {code} after SIGTERM")
    check(exited <= HTTP_SHUTDOWN_TIMEOUT + 2, f"server B took {exited:.1f} s to stop")
    check(in_flight, "no call was in flight at the SIGTERM: nothing was shown")
    check(all(c.outcome == "acked" for c in in_flight),
          "calls in flight at the SIGTERM were not answered: "
          + "; ".join(f"{c.outcome} {c.error or ''}" for c in in_flight if c.outcome != "acked"))
    check(not any(c.duplicate for c in answered_by_b), "B answered a call as a duplicate")
    check(not any(c.duplicate for c in closed_unread),
          "B ran a call it closed without an answer")



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


def phases(cluster):
    a = cluster.start("server-a", "server")
    b = cluster.start("server-b", "server")
    print(f"faults: server A :{a.port}, server B :{b.port}, one database, "
          f"{THREADS} client threads", flush=True)
    staff = staff_token(a)
    kill_9(cluster, cluster.nodes["server-a"], b, staff)
    sigterm(cluster, cluster.nodes["server-a"], b, staff)
    worker_sigterm_mid_send(cluster, cluster.nodes["server-a"])


if __name__ == "__main__":
    sys.exit(run("faults", phases))
