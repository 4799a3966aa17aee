"""Benchmark: one triage call against the runbook's own kubectl commands.

The runbook's P0 assessment is a dozen kubectl invocations typed one after the
other (get nodes / pods / services, rollout history, logs --tail of the app
and of ingress-nginx, top nodes / pods, describe nodes, get events, the
database's pods and logs). triage gathers all of that, and more, in one
module run. This script times both on the same cluster, on two namespaces:

  - the reference workload (tools/workload.py), namespace triage-bench-ref;
  - N pods (default 5000) of one Deployment, namespace triage-bench. kwok makes
    them Running; creating them takes a few minutes, so an existing namespace
    is reused (pass --cleanup to delete it at the end).

    .venv/bin/python benchmarks/triage_bench.py [--pods 5000] [--rounds 3] [--cleanup]

The module is run as Ansible runs it (a fresh Python process given
ANSIBLE_MODULE_ARGS), so its time includes interpreter start-up and imports;
its peak memory is that process's ru_maxrss (os.wait4). Times are wall-clock,
best of --rounds. kubectl is `kubectl` on PATH, else a locally built one in
the k8s_build cache; without one the comparison is skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import NotFoundError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from benchmarks.common import find_kubectl
from tools.run_module import module_env

REPO = Path(__file__).resolve().parents[1]

BIG_NS = "triage-bench"
REF_NS = "triage-bench-ref"
EXTRA_TARGETS = [{"name": "database", "namespace": "database", "label_selector": "app=postgresql"},
                 {"name": "ingress", "namespace": "kube-system", "label_selector": "app=ingress-nginx", "required": False}]


def run_triage(kubeconfig, namespace):
    """One module run as Ansible does it; returns (seconds, result, peak RSS in MiB)."""
    payload = {"ANSIBLE_MODULE_ARGS": {"kubeconfig": kubeconfig, "namespace": namespace,
                                       "extra_targets": EXTRA_TARGETS, "_ansible_check_mode": False,
                                       "_ansible_remote_tmp": "/tmp", "_ansible_keep_remote_files": False}}
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.mataresit.emergency.plugins.modules.triage"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=module_env())
        proc.stdin.write(json.dumps(payload).encode())
        proc.stdin.close()
        out = proc.stdout.read()
        waited_pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    try:
        result = json.loads(out)
    except ValueError:
        raise SystemExit(f"triage printed no JSON (rc={proc.returncode}): {out[:500]!r} {stderr[-2000:]}")
    if result.get("failed"):
        raise SystemExit(f"triage failed: {result.get('msg')}")
    return seconds, result, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def runbook_commands(namespace, deployments):
    """The runbook's assessment commands for a namespace, in the order it lists them."""
    cmds = [["get", "nodes"], ["get", "pods", "-n", namespace], ["get", "services", "-n", namespace]]
    cmds += [["rollout", "history", f"deployment/{d}", "-n", namespace] for d in deployments]
    if deployments:
        cmds.append(["logs", "-n", namespace, f"deployment/{deployments[0]}", "--tail=100"])
    cmds += [
        ["logs", "-n", "kube-system", "-l", "app=ingress-nginx", "--tail=50"],
        ["top", "nodes"], ["top", "pods", "-n", namespace],
        ["get", "pods", "-n", "database"], ["logs", "-n", "database", "-l", "app=postgresql", "--tail=50"],
        ["describe", "nodes"],
        ["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"],
    ]
    if deployments:
        cmds.append(["logs", "-n", namespace, f"deployment/{deployments[0]}", "--tail=200"])
    return cmds


def run_kubectl(kubectl, kubeconfig, cmds):
    """Run the commands one after the other (like an engineer would); returns (seconds, failures)."""
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    failures = []
    started = time.perf_counter()
    for cmd in cmds:
        proc = subprocess.run([kubectl, *cmd], capture_output=True, env=env, check=False)
        if proc.returncode:
            failures.append(" ".join(cmd))
    return time.perf_counter() - started, failures


def ensure_big_namespace(client, pods, timeout):
    """A Deployment of `pods` replicas in BIG_NS (reused when already there); waits until all are available."""
    if client.get_or_none(resources.path("Namespace", None, BIG_NS)) is None:
        client.create(resources.path("Namespace"), {"metadata": {"name": BIG_NS, "labels": {"mataresit.bench": "true"}}})
    labels = {"app": "bench-app"}
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench-app", "namespace": BIG_NS},
        "spec": {"replicas": pods, "selector": {"matchLabels": labels},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "bench-app:v1"}],
                                       "terminationGracePeriodSeconds": 0}}},
    }
    client.patch(resources.path("Deployment", BIG_NS, "bench-app"), json.dumps(body), patch_type="apply", force=True)
    started = time.monotonic()
    last = -1
    while True:
        status = client.get(resources.path("Deployment", BIG_NS, "bench-app")).get("status") or {}
        available = status.get("availableReplicas", 0)
        if available != last:
            print(f"  {BIG_NS}: {available}/{pods} pods available ({time.monotonic() - started:.0f}s)", flush=True)
            last = available
        if available >= pods:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{BIG_NS}: only {available}/{pods} pods available after {timeout}s")
        time.sleep(5)


def ensure_reference_namespace(kubeconfig, client):
    from tools import workload

    if client.get_or_none(resources.path("Deployment", REF_NS, "paperless-maverick")) is None:
        workload.deploy(kubeconfig, namespace=REF_NS)


def bench(label, kubeconfig, namespace, kubectl, rounds):
    runs = [run_triage(kubeconfig, namespace) for attempt in range(rounds)]
    seconds, result, best_run_rss = min(runs, key=lambda r: r[0])
    peak = max(r[2] for r in runs)
    print(f"\n[{label}] namespace {namespace}: {result['pods']['total']} pods, "
          f"{len(result['deployments'])} deployments; verdict {result['verdict']}")
    print(f"  triage module run:  {seconds:7.3f}s wall (best of {rounds}; in-module {result['duration_seconds']:.3f}s, "
          f"{result['api_requests']} API requests), peak RSS {peak:.1f} MiB")
    row = {"label": label, "pods": result["pods"]["total"], "triage_seconds": round(seconds, 3),
           "triage_in_module_seconds": result["duration_seconds"], "api_requests": result["api_requests"],
           "peak_rss_mib": round(peak, 1)}
    if kubectl:
        cmds = runbook_commands(namespace, [d["name"] for d in result["deployments"]])
        timings = [run_kubectl(kubectl, kubeconfig, cmds) for attempt in range(rounds)]
        k_seconds, failures = min(timings, key=lambda t: t[0])
        print(f"  runbook kubectl:    {k_seconds:7.3f}s wall ({len(cmds)} commands, best of {rounds}"
              + (f"; failed: {', '.join(failures)}" if failures else "") + ")")
        print(f"  ratio kubectl/triage: {k_seconds / seconds:.1f}x")
        row.update(kubectl_seconds=round(k_seconds, 3), kubectl_commands=len(cmds), ratio=round(k_seconds / seconds, 2))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--kubectl")
    parser.add_argument("--create-timeout", type=int, default=1200)
    parser.add_argument("--skip-big", action="store_true", help="only the reference workload")
    parser.add_argument("--cleanup", action="store_true", help=f"delete {BIG_NS} at the end")
    args = parser.parse_args()

    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    if not kubeconfig:
        from tools import localcluster

        kubeconfig = localcluster.ensure_up()["kubeconfig"]
    kubectl = find_kubectl(args.kubectl)
    if not kubectl:
        print("kubectl not found on PATH nor in the k8s_build cache: skipping the kubectl comparison")

    rows = []
    with K8sClient.from_params({"kubeconfig": kubeconfig}) as client:
        ensure_reference_namespace(kubeconfig, client)
        rows.append(bench("reference workload", kubeconfig, REF_NS, kubectl, args.rounds))
        if not args.skip_big:
            print(f"\npreparing {args.pods} pods in {BIG_NS} ...")
            ensure_big_namespace(client, args.pods, args.create_timeout)
            rows.append(bench(f"{args.pods} pods", kubeconfig, BIG_NS, kubectl, args.rounds))
            if args.cleanup:
                try:
                    client.delete(resources.path("Namespace", None, BIG_NS))
                    print(f"deleted namespace {BIG_NS}")
                except NotFoundError:
                    pass
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
