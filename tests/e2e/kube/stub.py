#!/usr/bin/env python3
"""A stand-in for kube-apiserver, for tests/e2e/kube_discovery.sh.

Serves, over HTTPS, the recorded responses of this directory as the API
server would: lists of Services and EndpointSlices (their current state:
the recorded list, with every watch event served since applied to it),
watches (chunked, one JSON event per line, held open, then closed), and
TokenReviews. Every request must carry the bearer token of --token-file.

The test steers it through files in --state DIR:
  KIND.json                 a new list to serve from now (consumed)
  watch/KIND/NN.jsonl       the events of the next watch of KIND, in
                            order of NN (consumed)
  tokens.json               {"TOKEN": {"namespace", "sa", "pod"}}: the
                            tokens TokenReview authenticates (with
                            "audiences": [...], for those instead of
                            the ones asked for)
and reads what it was asked in DIR/requests.log, one line per request.
KIND is services, endpointslices or pods.
"""

import argparse
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATHS = {
    "/api/v1/services": "services",
    "/apis/discovery.k8s.io/v1/endpointslices": "endpointslices",
    "/api/v1/pods": "pods",
}
LOCK = threading.Lock()
STATE = {}


def key(obj):
    m = obj.get("metadata", {})
    return (m.get("namespace", ""), m.get("name", ""))


def load_list(kind, path):
    with open(path, encoding="utf-8") as f:
        lst = json.load(f)
    STATE[kind] = {
        "kind": lst["kind"],
        "apiVersion": lst["apiVersion"],
        "rv": lst["metadata"]["resourceVersion"],
        "items": {key(i): i for i in lst["items"]},
    }


def refresh(kind):
    path = os.path.join(ARGS.state, kind + ".json")
    if os.path.exists(path):
        load_list(kind, path)
        os.rename(path, path + ".loaded")


def next_watch(kind):
    d = os.path.join(ARGS.state, "watch", kind)
    names = sorted(n for n in os.listdir(d) if n.endswith(".jsonl"))
    if not names:
        return []
    path = os.path.join(d, names[0])
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    os.rename(path, path + ".done")
    return lines


def apply_event(kind, line):
    ev = json.loads(line)
    obj = ev["object"]
    rv = obj.get("metadata", {}).get("resourceVersion")
    st = STATE[kind]
    if ev["type"] in ("ADDED", "MODIFIED"):
        item = dict(obj)
        item.pop("kind", None)
        item.pop("apiVersion", None)
        st["items"][key(obj)] = item
    elif ev["type"] == "DELETED":
        st["items"].pop(key(obj), None)
    if rv and ev["type"] != "ERROR":
        st["rv"] = rv
    return ev["type"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self, what):
        with LOCK, open(os.path.join(ARGS.state, "requests.log"), "a",
                        encoding="utf-8") as f:
            f.write(what + "\n")

    def authorized(self):
        with open(ARGS.token_file, encoding="utf-8") as f:
            want = "Bearer " + f.read().strip()
        ok = self.headers.get("Authorization") == want
        if not ok:
            self.reply(401, read_data("status-unauthorized.json"))
        return ok

    def reply(self, code, body):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        kind = PATHS.get(url.path)
        watch = q.get("watch", ["0"])[0] in ("1", "true")
        self.record("GET %s %s auth=%s" % (
            url.path, "watch rv=" + q.get("resourceVersion", [""])[0]
            if watch else "list", "ok" if self.headers.get(
                "Authorization", "").startswith("Bearer ") else "none"))
        if not self.authorized():
            return
        if kind is None:
            self.reply(404, '{"kind":"Status","code":404}')
            return
        with LOCK:
            refresh(kind)
            if not watch:
                st = STATE[kind]
                body = json.dumps({
                    "kind": st["kind"], "apiVersion": st["apiVersion"],
                    "metadata": {"resourceVersion": st["rv"]},
                    "items": list(st["items"].values())})
            else:
                lines = next_watch(kind)
        if not watch:
            self.reply(200, body)
            return
        timeout = int(q.get("timeoutSeconds", ["1"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            with LOCK:
                t = apply_event(kind, line)
            self.record("EVENT %s %s" % (kind, t))
            self.chunk(line.encode() + b"\n")
            time.sleep(0.05)
        # Held open, as the API server does until timeoutSeconds.
        time.sleep(min(timeout, ARGS.hold))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def do_POST(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        self.record("POST %s" % url.path)
        if not self.authorized():
            return
        if url.path != "/apis/authentication.k8s.io/v1/tokenreviews":
            self.reply(404, '{"kind":"Status","code":404}')
            return
        token = body.get("spec", {}).get("token", "")
        auds = body.get("spec", {}).get("audiences", [])
        with open(os.path.join(ARGS.state, "tokens.json"),
                  encoding="utf-8") as f:
            who = json.load(f).get(token)
        if who is not None and "weft" in auds:
            text = read_data("tokenreview-authenticated.json")
            for k, v in (("@NAMESPACE@", who["namespace"]),
                         ("@SA@", who["sa"]), ("@POD@", who["pod"])):
                text = text.replace(k, v)
            if "audiences" in who:
                # An API server that answers for other audiences.
                review = json.loads(text)
                review["status"]["audiences"] = who["audiences"]
                text = json.dumps(review)
            self.record("REVIEW authenticated %s" % who["sa"])
        else:
            text = read_data("tokenreview-unauthenticated.json")
            self.record("REVIEW refused")
        self.reply(201, text.replace("@TOKEN@", token))


def read_data(name):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name),
              encoding="utf-8") as f:
        return f.read()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--hold", type=float, default=1.0)
    ARGS = p.parse_args()
    for kind in PATHS.values():
        os.makedirs(os.path.join(ARGS.state, "watch", kind), exist_ok=True)
        refresh(kind)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    srv = ThreadingHTTPServer((ARGS.listen, ARGS.port), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


ARGS = None
if __name__ == "__main__":
    main()
