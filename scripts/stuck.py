#!/usr/bin/env python3
"""Clients that never read, against a real `herald serve`.

Two scenarios, each starting its own node on a free loopback port:

  fairness  N clients subscribe and never read while a few healthy readers
            read a topic streaming large updates; prints, per healthy
            reader, the updates received (in order) out of those published,
            and how many stuck clients the node disconnected.
  shutdown  N clients subscribe and never read, a few large updates fill
            their sockets, M more connections send nothing at all (as
            browsers open them ahead of time), then SIGTERM; prints how
            long the node took to exit.

Stuck clients use a small receive buffer and a 1400-byte MSS (what a real
network carries: over loopback's 64 KiB segments the node's kernel would
grant each socket megabytes before it is full).

Usage:
  go build -o /tmp/herald ./cmd/herald
  scripts/stuck.py fairness --herald /tmp/herald --stuck 400 --size 61440 --rate 250 --seconds 4
  scripts/stuck.py shutdown --herald /tmp/herald --stuck 1000 --idle 1
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

KEY = "stuck-scenario-publisher-key-0123456789"


def token():
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"mercure": {"publish": ["*"]}}).encode())
    sig = b64(hmac.new(KEY.encode(), head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(binary, port, data_dir):
    args = [binary, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data_dir,
            "--log", "memory", "--no-demo", "--publisher-key", KEY, "--max-conns-per-ip", "-1"]
    node = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return node
        except OSError:
            time.sleep(0.05)
    node.kill()
    sys.exit("herald did not answer /healthz within 20 s")


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_metric(port, name, want, timeout=30):
    deadline = time.time() + timeout
    while metric(port, name) < want:
        if time.time() > deadline:
            sys.exit(f"{name} = {metric(port, name)}, want {want}")
        time.sleep(0.05)


def stuck_clients(port, n, topic="t"):
    conns = []
    req = f"GET /.well-known/mercure?topic={topic} HTTP/1.1\r\nHost: hub\r\n\r\n".encode()
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        conns.append(s)
    return conns


class Publisher:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.auth = "Bearer " + token()

    def publish(self, uid, data, topic="t"):
        body = urllib.parse.urlencode({"topic": topic, "id": uid, "data": data})
        self.conn.request("POST", "/.well-known/mercure", body=body, headers={
            "Authorization": self.auth, "Content-Type": "application/x-www-form-urlencoded"})
        resp = self.conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"publish: {resp.status}")


class Reader(threading.Thread):
    """Reads a stream as fast as it comes and records the event ids."""

    def __init__(self, port, topic="t"):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET /.well-known/mercure?topic={topic} HTTP/1.1\r\nHost: hub\r\n\r\n".encode())
        self.ids = []
        self.ended = False

    def run(self):
        buf = b""
        try:
            while True:
                b = self.sock.recv(1 << 20)
                if not b:
                    break
                buf += b
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line.startswith(b"id: "):
                        self.ids.append(line[4:].decode())
        except OSError:
            pass
        self.ended = True


def fairness(a):
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        node = start_node(a.herald, port, d)
        try:
            stuck = stuck_clients(port, a.stuck)
            readers = [Reader(port) for _ in range(a.healthy)]
            for r in readers:
                r.start()
            wait_metric(port, "herald_subscribers", a.stuck + a.healthy)
            pub = Publisher(port)
            data = "x" * a.size
            total = int(a.rate * a.seconds)
            start = time.time()
            for i in range(total):
                pub.publish(f"u{i}", data)
                pause = start + (i + 1) / a.rate - time.time()
                if pause > 0:
                    time.sleep(pause)
            took = time.time() - start
            deadline = time.time() + 10
            want = [f"u{i}" for i in range(total)]
            while time.time() < deadline and any(len(r.ids) < total and not r.ended for r in readers):
                time.sleep(0.05)
            left = metric(port, "herald_subscribers")
            print(f"fairness: {a.stuck} stuck clients, {a.healthy} healthy readers, "
                  f"{total} updates of {a.size} bytes published in {took:.2f} s ({total / took:.0f}/s)")
            for n, r in enumerate(readers):
                order = "in order" if r.ids == want[:len(r.ids)] else "OUT OF ORDER"
                state = "disconnected" if r.ended else "connected"
                print(f"  healthy reader {n}: {len(r.ids)}/{total} received, {order}, {state}")
            print(f"  subscribers left: {left:.0f} (stuck clients disconnected: {a.stuck + a.healthy - left:.0f})")
            for s in stuck:
                s.close()
        finally:
            node.kill()
            node.wait()


def shutdown(a):
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        node = start_node(a.herald, port, d)
        try:
            stuck = stuck_clients(port, a.stuck)
            wait_metric(port, "herald_subscribers", a.stuck)
            pub = Publisher(port)
            data = "x" * (256 << 10)
            for i in range(8 if a.stuck else 0):
                if metric(port, "herald_stream_deferred_writes_total") >= a.stuck:
                    break
                pub.publish(f"fill{i}", data)
                time.sleep(0.2)
            full = metric(port, "herald_stream_deferred_writes_total")
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(a.idle)]
            start = time.time()
            node.send_signal(signal.SIGTERM)
            try:
                code = node.wait(timeout=a.timeout)
                outcome = f"exited with status {code} {time.time() - start:.3f} s after SIGTERM"
            except subprocess.TimeoutExpired:
                outcome = f"still running {a.timeout:.0f} s after SIGTERM (killed)"
            print(f"shutdown: {a.stuck} stuck clients ({full:.0f} socket refusals before SIGTERM), "
                  f"{a.idle} connections without a request: {outcome}")
            for s in stuck + idle:
                s.close()
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=["fairness", "shutdown"])
    p.add_argument("--herald", default="herald", help="the herald binary")
    p.add_argument("--stuck", type=int, default=400, help="clients that never read")
    p.add_argument("--healthy", type=int, default=3, help="readers that keep up (fairness)")
    p.add_argument("--size", type=int, default=60 << 10, help="bytes of data per update (fairness)")
    p.add_argument("--rate", type=float, default=250, help="updates a second (fairness)")
    p.add_argument("--seconds", type=float, default=4, help="how long to publish (fairness)")
    p.add_argument("--idle", type=int, default=1, help="connections that send nothing (shutdown)")
    p.add_argument("--timeout", type=float, default=60, help="how long to wait for the exit (shutdown)")
    a = p.parse_args()
    {"fairness": fairness, "shutdown": shutdown}[a.scenario](a)


if __name__ == "__main__":
    main()
