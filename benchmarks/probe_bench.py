"""Benchmark: the runbook's latency check against one health_probe call.

The runbook (Recovery Validation) times an endpoint with

    for i in {1..10}; do curl -w "%{time_total}\\n" -o /dev/null -s URL; done

Done for 4 URLs that is 40 sequential curl processes (each a new connection, and a new
TLS handshake for https). health_probe takes the same
10 samples of each of the 4 URLs in one module run (targets concurrently, samples
on a keep-alive connection) and also returns p50/p95/max and a verdict.

    .venv/bin/python benchmarks/probe_bench.py [--base-url URL] [--rounds 3]

By default it serves tools/health_server.py's handler on a free loopback port,
reading the local cluster (tools/localcluster.py), once over http and once over
https (throwaway certificate; curl -k and validate_certs: false); --base-url probes
another server instead. Times are wall-clock, best of --rounds; the module is run as Ansible runs it (a fresh
Python process given ANSIBLE_MODULE_ARGS), so its time includes interpreter
start-up and imports.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools.run_module import run_module_process
from tools.tls import self_signed

REPO = Path(__file__).resolve().parents[1]

PATHS = ("/health", "/health/live", "/health/ready", "/metrics")
SAMPLES = 10


def runbook_curl_loop(urls):
    """Sequential curl processes, exactly as the runbook loop does; returns (seconds, time_total values)."""
    started = time.perf_counter()
    totals = []
    for url in urls:
        for _sample in range(SAMPLES):
            out = subprocess.run(["curl", "-k", "-w", "%{time_total}\n", "-o", "/dev/null", "-s", url],
                                 capture_output=True, text=True, check=False).stdout
            totals.append(float(out.strip() or "nan"))
    return time.perf_counter() - started, totals


def health_probe_call(urls):
    """One health_probe module run with SAMPLES samples per URL; returns (seconds, result)."""
    started = time.perf_counter()
    # validate_certs false matches curl -k (the benchmark's own server has a throwaway certificate).
    targets = [{"url": u, "validate_certs": False} for u in urls]
    result, _stdout, stderr = run_module_process("health_probe", {"samples": SAMPLES, "targets": targets})
    elapsed = time.perf_counter() - started
    if result.get("failed"):
        raise SystemExit(f"health_probe failed: {result.get('msg')}\n{stderr}")
    return elapsed, result


@contextlib.contextmanager
def own_health_server(tls=False):
    """tools/health_server.py's handler on a free loopback port (optionally behind TLS), reading the
    local cluster; yields its base URL."""
    import ipaddress
    import ssl
    import tempfile
    import threading
    from http.server import ThreadingHTTPServer

    from tools import health_server
    from tools import localcluster
    from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient

    state = localcluster.read_state() or {}
    if not state.get("kubeconfig"):
        raise SystemExit("no --base-url and the local cluster is not up (make cluster-up)")
    client = K8sClient.from_params({"kubeconfig": state["kubeconfig"]})
    handler = health_server.make_handler(health_server.ClusterView(client), ipaddress.ip_network(localcluster.POD_CIDR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self_signed(tmp))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="health server base URL (default: the local cluster's)")
    parser.add_argument("--namespace", default="", help="namespace the health server answers for (?namespace=)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed; the runbook side of the benchmark needs it")
    if args.base_url:
        return bench(args.base_url, args)
    for tls in (False, True):
        with own_health_server(tls) as base:
            bench(base, args)
            print()
    return 0


def bench(base, args) -> int:
    query = f"?namespace={args.namespace}" if args.namespace else ""
    urls = [f"{base.rstrip('/')}{path}{query}" for path in PATHS]

    curl_runs, probe_runs = [], []
    for _round in range(args.rounds):
        curl_runs.append(runbook_curl_loop(urls))
        probe_runs.append(health_probe_call(urls))
    curl_s = min(r[0] for r in curl_runs)
    probe_s, probe_result = min(probe_runs, key=lambda r: r[0])
    in_module_ms = probe_result["duration_ms"]

    print(f"targets: {len(urls)} URLs x {SAMPLES} samples ({base})")
    print(f"runbook curl loop (40 sequential curl processes): {curl_s * 1000:8.1f} ms")
    print(f"health_probe, one module run (incl. Python start): {probe_s * 1000:8.1f} ms"
          f"   (probing itself: {in_module_ms:.1f} ms)")
    print(f"ratio curl loop / health_probe: {curl_s / probe_s:.1f}x   (probing only: {curl_s * 1000 / in_module_ms:.1f}x)")
    for target in probe_result["targets"]:
        stats = target["latency_ms"] or {}
        print(f"  {target['name']:<60} {target['status_codes']} p50 {stats.get('p50')} ms, "
              f"p95 {stats.get('p95')} ms, max {stats.get('max')} ms, healthy {target['healthy']}")
    print(json.dumps({"curl_loop_ms": round(curl_s * 1000, 1), "health_probe_ms": round(probe_s * 1000, 1),
                      "health_probe_probing_ms": in_module_ms, "ratio": round(curl_s / probe_s, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
