#!/usr/bin/python3
"""A loopback SMTP server for tests: every message it accepts is written as one .eml file into
a directory. Uses Debian's python3-aiosmtpd (`apt-get install -y python3-aiosmtpd`); run it with
/usr/bin/python3, not a pyenv python that lacks the module.

    scripts/smtp-server.py --port 2525 --dir /tmp/smtp-mail

Runs until SIGTERM or Ctrl-C. No TLS and no authentication: loopback only.
"""

import argparse
import os
import signal
import threading
import uuid

from aiosmtpd.controller import Controller


class WriteToDirectory:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(self.directory, f"{uuid.uuid4().hex}.eml")
        partial = name + ".part"
        with open(partial, "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.rename(partial, name)  # readers never see half a message
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(WriteToDirectory(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp-server listening on {args.host}:{args.port}, writing to {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
