#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat server for asiarch's tests: the one test
double the project allows, since no LLM runs on these machines.

It answers POST /v1/chat/completions from a script of answers shaped like real
models' (prose, <think> blocks, fences, broken JSON), logs every request it
receives (one JSON object a line) and can serve HTTPS with a given certificate.

Script (JSON): {"answers": [ANSWER, ...], "default": ANSWER}
ANSWER: {"match": "text" | ["text", ...],   all must occur in the request's messages
         "model": "name",                     only requests for this model
         "times": 1,                          how many requests it answers (-1: any number)
         "status": 200, "content": "...", "reasoning_content": "...",
         "usage": {...} | null,               null: no usage in the answer
         "headers": {"Retry-After": "1"}, "delay": 0.0,   seconds before answering
         "hold_until": {"sqlite": "path", "query": "SQL", "timeout": 120},
                                              answer once the query returns a row (or the
                                              timeout passes): orders an answer after an event
                                              in a run's archive without guessing a delay
         "hold_until": {"file": "path", "timeout": 120},   answer once the file exists
         "touch": "path"}                     made when this answer's request arrives
         "body": "raw body instead of a completion", "size": N}  a content of N bytes
The first unused answer that matches is used; then "default"; else a 500.
"""
import argparse
import json
import os
import ssl
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def hold(cond):
    deadline = time.monotonic() + cond.get("timeout", 120)
    while time.monotonic() < deadline:
        if "file" in cond:
            if os.path.exists(cond["file"]):
                return
            time.sleep(0.1)
            continue
        try:
            db = sqlite3.connect("file:" + cond["sqlite"] + "?mode=ro", uri=True, timeout=1)
            try:
                if db.execute(cond["query"]).fetchone() is not None:
                    return
            finally:
                db.close()
        except sqlite3.Error:
            pass  # the archive may not exist yet, or be busy
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--expect-key", help="answer 401 unless Authorization: Bearer KEY")
    args = ap.parse_args()
    with open(args.script) as f:
        script = json.load(f)
    answers = script.get("answers", [])
    for a in answers:
        a.setdefault("times", 1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, status, body, headers=None):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            try:
                req = json.loads(raw)
            except ValueError:
                return self.send(400, json.dumps({"error": {"message": "body is not JSON"}}))
            auth = self.headers.get("Authorization", "")
            text = "\n".join(m.get("content", "") for m in req.get("messages", []))
            with lock:
                with open(args.log, "a") as log:
                    log.write(json.dumps({"path": self.path, "auth": auth, "request": req}) + "\n")
                chosen = None
                for a in answers:
                    if a["times"] == 0:
                        continue
                    m = a.get("match", [])
                    m = [m] if isinstance(m, str) else m
                    if "model" in a and a["model"] != req.get("model"):
                        continue
                    if all(s in text for s in m):
                        chosen = a
                        if a["times"] > 0:
                            a["times"] -= 1
                        break
                if chosen is None:
                    chosen = script.get("default")
                if chosen is not None and "touch" in chosen:
                    open(chosen["touch"], "a").close()
            if not self.path.endswith("/chat/completions"):
                return self.send(404, json.dumps({"error": {"message": "no route " + self.path}}))
            if args.expect_key is not None and auth != "Bearer " + args.expect_key:
                return self.send(401, json.dumps({"error": {"message": "Incorrect API key provided",
                                                            "type": "invalid_request_error"}}))
            if chosen is None:
                return self.send(500, json.dumps({"error": {"message": "the script has no answer for this request"}}))
            time.sleep(chosen.get("delay", 0))
            if "hold_until" in chosen:
                hold(chosen["hold_until"])
            status = chosen.get("status", 200)
            if "body" in chosen:
                return self.send(status, chosen["body"], chosen.get("headers"))
            if status != 200:
                return self.send(status, json.dumps({"error": {"message": chosen.get("content", "error")}}),
                                 chosen.get("headers"))
            content = chosen.get("content", "")
            if "size" in chosen:
                content = "x" * chosen["size"]
            msg = {"role": "assistant", "content": content}
            if "reasoning_content" in chosen:
                msg["reasoning_content"] = chosen["reasoning_content"]
            body = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": req.get("model", ""), "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}
            usage = chosen.get("usage", {"prompt_tokens": len(text) // 4, "completion_tokens": len(content) // 4})
            if usage is not None:
                usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
                body["usage"] = usage
            return self.send(200, json.dumps(body), chosen.get("headers"))

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that hung up (a refused 9 MiB answer, a timeout) is expected here

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
