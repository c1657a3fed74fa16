#!/usr/bin/env python3
"""Notification receivers for the tests: an HTTP server (ntfy topics and
webhooks) and an SMTP server (aiosmtpd), both on 127.0.0.1, recording what
arrives as JSON lines. The webhook signature is checked here, independently
of e2etd's code, with Python's hmac and the shared secret.

  notify-peers.py OUT.jsonl WEBHOOK_SECRET
prints "ready http=<port> smtp=<port>" once both listen.

Paths: /flaky* answers 503 to the first two deliveries of each notice,
/dead* always 500; anything else 200."""
import hashlib
import hmac
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

out_path, secret = sys.argv[1], sys.argv[2].encode()
lock = threading.Lock()
attempts = {}


def record(rec):
    with lock, open(out_path, "a") as f:
        f.write(json.dumps(rec) + "\n")


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = {"peer": "http", "path": self.path, "headers": headers,
               "body": body.decode("utf-8", "replace")}
        sig = headers.get("x-e2et-signature-256")
        if sig is not None:
            ts = headers.get("x-e2et-timestamp", "")
            want = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            rec["signature_valid"] = hmac.compare_digest(sig, "sha256=" + want)
        key = (self.path, headers.get("x-e2et-delivery", ""))
        with lock:
            attempts[key] = attempts.get(key, 0) + 1
            k = attempts[key]
        rec["attempt"] = k
        if self.path.startswith("/dead"):
            status = 500
        elif self.path.startswith("/flaky") and k <= 2:
            status = 503
        else:
            status = 200
        rec["status"] = status
        record(rec)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Smtp:
    async def handle_DATA(self, server, session, envelope):
        record({"peer": "smtp", "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
threading.Thread(target=http.serve_forever, daemon=True).start()
# aiosmtpd's controller connects to its own port to see it is up: it needs
# the number first.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
smtp_port = probe.getsockname()[1]
probe.close()
smtp = Controller(Smtp(), hostname="127.0.0.1", port=smtp_port)
smtp.start()
print(f"ready http={http.server_address[1]} smtp={smtp_port}", flush=True)
try:
    threading.Event().wait()
finally:
    smtp.stop()
