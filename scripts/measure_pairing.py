#!/usr/bin/python3
"""Measures skycountd's answers to MediaMTX's authentication requests under a flood, for
docs/security.md ("Pairing a drone"): a pilot asks twice without the key, then N made-up
addresses ask once each (as hundreds of hand-set addresses on a hotspot would), then a keyed
publisher asks 200 times. Prints the answer times (median, p99), skycountd's resident memory
before and after, how many requests the operator is shown and whether the pilot's is among them.

It starts skycountd itself (target/debug/skycountd, or SKYCOUNTD) on a free loopback port with
the tiny model, no stream, no history, state in a temporary folder, and stops it at the end.

Usage: ORT_DYLIB_PATH=$(.venv/bin/python models/ort_lib.py) scripts/measure_pairing.py [N]
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SKYCOUNTD", os.path.join(ROOT, "target", "debug", "skycountd"))
KEY = "PilotKey2024xyz"
PIN = "measure-pin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "skycount.toml")
        with open(config, "w") as f:
            f.write(f"""[source]
url = "rtmp://127.0.0.1:1/live/drone"
[model]
path = "{ROOT}/models/out/csrnet-tiny.onnx"
execution_providers = ["cpu"]
threads = 1
[analysis]
state_dir = "{tmp}/state"
[server]
listen = "127.0.0.1:{port}"
web_dir = "{tmp}/none"
[stream]
key = "{KEY}"
[history]
enabled = false
[update]
enabled = false
[operator]
passphrase = "{PIN}"
hash_file = "{tmp}/operator.phc"
banner_file = "{tmp}/operator.issue"
sessions_file = "{tmp}/operator.sessions"
""")
        os.makedirs(os.path.join(tmp, "state"))
        log = open(os.path.join(tmp, "skycountd.log"), "w")
        daemon = subprocess.Popen([BIN, "--config", config, "run"], stdout=log, stderr=log)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            headers = {"Content-Type": "application/json", "Host": f"127.0.0.1:{port}"}
            for _ in range(300):
                try:
                    conn.request("GET", "/api/health", headers=headers)
                    conn.getresponse().read()
                    break
                except OSError:
                    conn.close()
                    time.sleep(0.1)
            else:
                sys.exit(f"skycountd did not answer on port {port} within 30 s")

            def ask(ip, user="", password=""):
                body = json.dumps({"user": user, "password": password, "token": "", "ip": ip,
                                   "action": "publish", "path": "live/drone", "protocol": "rtmp",
                                   "id": None, "query": "", "userAgent": ""})
                t = time.perf_counter()
                conn.request("POST", "/api/mediamtx/auth", body, headers)
                r = conn.getresponse()
                r.read()
                return r.status, (time.perf_counter() - t) * 1000

            before = rss_mib(daemon.pid)
            ask("192.168.1.23")
            ask("192.168.1.23")
            flood = []
            for i in range(n):
                status, ms = ask(f"10.{(i // 65536) % 256}.{(i // 256) % 256}.{i % 256}")
                assert status == 401, status
                flood.append(ms)
            keyed = []
            for _ in range(200):
                status, ms = ask("192.168.1.40", "drone", KEY)
                assert status == 200, status
                keyed.append(ms)
            after = rss_mib(daemon.pid)
            conn.request("POST", "/api/auth/login", json.dumps({"passphrase": PIN}), headers)
            r = conn.getresponse()
            r.read()
            cookie = r.getheader("Set-Cookie").split(";")[0]
            conn.request("GET", "/api/operator/pairing", headers={**headers, "Cookie": cookie})
            listing = json.loads(conn.getresponse().read())
        finally:
            daemon.terminate()
            daemon.wait(timeout=20)
    flood.sort()
    keyed.sort()
    load = open("/proc/loadavg").read().split()[0]
    print(f"skycountd {BIN}, load {load}")
    print(f"{n} keyless publishers from {n} addresses, refused: median {statistics.median(flood):.2f} ms, "
          f"p99 {flood[int(0.99 * len(flood))]:.2f} ms per answer")
    print(f"a keyed publisher, 200 times: median {statistics.median(keyed):.2f} ms, p99 {keyed[int(0.99 * len(keyed))]:.2f} ms")
    print(f"resident memory: {before:.1f} MiB before, {after:.1f} MiB after ({after - before:+.1f} MiB)")
    pilot = any(r["address"] == "192.168.1.23" for r in listing["requests"])
    print(f"shown to the operator: {len(listing['requests'])} requests; the pilot's among them: {'yes' if pilot else 'NO'}")


if __name__ == "__main__":
    main()
