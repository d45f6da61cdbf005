#!/usr/bin/env python3
"""A stand-in for Slack's Web API for `make run`, so that the gate can be tried without a
Slack workspace: answers chat.postMessage and chat.update as Slack does, and a click's
response_url; prints what Slack would show and appends every body to a log (one JSON per
line), which `scripts/gate.py click` reads the prompt's buttons from.

    slack_standin.py PORT LOG
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
LOG = sys.argv[2]
posted = 0


class WebApi(BaseHTTPRequestHandler):
    def do_POST(self):
        global posted
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            message = json.loads(body or b"{}")
        except ValueError:
            message = {}
        method = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/actions/"):
            method = "response_url"
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"method": method, "body": message}) + "\n")
        if method == "chat.postMessage":
            posted += 1
            answer = {"ok": True, "channel": message.get("channel", "C0LOCAL"),
                      "ts": f"1764000000.{posted * 100:06d}"}
        elif method == "chat.update":
            answer = {"ok": True, "channel": message.get("channel"), "ts": message.get("ts")}
        elif method == "response_url":
            answer = {"ok": True}
        else:
            answer = {"ok": False, "error": "unknown_method"}
        print(f"  [slack] {method}: {message.get('text', '')}", flush=True)
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        # usergroups.users.list: no groups locally.
        data = json.dumps({"ok": False, "error": "no_such_subteam"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), WebApi).serve_forever()
