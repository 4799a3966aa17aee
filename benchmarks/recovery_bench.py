"""Benchmark: time to recovery of a double fault, the P0 playbook against the runbook's kubectl commands.

The fault (the one of issue 8): the embedding workers run partly on a node that goes NotReady, and a bad worker
image is rolled out at the same time. Each round deploys the reference workload into a fresh namespace with a
node of its own, stages both faults, and then recovers it one way, timing until the workers are healthy again
(every replica updated, available, and none on the failed node):

  - kubectl: the commands an engineer who already knows both causes would type - the runbook's assessment
    (`get nodes`, `get pods`, `rollout history`), `rollout undo` and `rollout restart` of the workers (the restart
    moves them off the failed node) and `rollout status`; no time to think is counted;
  - playbook: `ansible-playbook playbooks/p0-outage.yml -i inventories/local` with the SaaS sandbox, as on-call runs
    it: assessment, paging, per-workload recovery, validation and the report (the whole run is timed as well);
  - before (with --before DIR, a checkout of an earlier version of the collection): the same playbook from there.

    .venv/bin/python benchmarks/recovery_bench.py [--rounds 1] [--before /tmp/main-checkout] [--cleanup]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConflictError, NotFoundError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from benchmarks.common import find_kubectl, until

REPO = Path(__file__).resolve().parents[1]
WORKERS = "embedding-queue-workers"
BAD = "paperless-maverick-worker:v2-bad"
TAINT = "mataresit.test/owner"
NODE_RESOURCES = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}


class Stage:
    """One namespace with the reference workload and a node of its own, both faults staged."""

    def __init__(self, client, kubeconfig):
        from tools import workload

        self.client = client
        self.ns = f"recovery-bench-{uuid.uuid4().hex[:6]}"
        self.node = f"{self.ns}-node"
        client.create("/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": self.node}},
            "spec": {"taints": [{"key": TAINT, "value": self.ns, "effect": "NoSchedule"}]},
            "status": {"allocatable": NODE_RESOURCES, "capacity": NODE_RESOURCES}})
        until("the node Ready", lambda: objects.is_true(client.get(f"/api/v1/nodes/{self.node}"), "Ready"))
        workload.deploy(kubeconfig, namespace=self.ns)
        self.path = resources.path("Deployment", self.ns, WORKERS)
        client.patch(self.path, {"spec": {"template": {"spec": {
            "tolerations": [{"key": TAINT, "operator": "Equal", "value": self.ns, "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "preference": {"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [self.node]}]}}]}}}}}},
            patch_type="strategic")
        until("workers on the bench node", lambda: self.rolled_out() and self.on_node())
        client.patch(f"/api/v1/nodes/{self.node}", {"metadata": {"labels": {"mataresit.test/fault": "notready"}}})
        until("the node NotReady", lambda: not objects.is_true(client.get(f"/api/v1/nodes/{self.node}"), "Ready"))
        client.patch(self.path, {"spec": {"template": {"spec": {"containers": [
            {"name": "embedding-worker", "image": BAD}]}}}}, patch_type="strategic")
        until("the bad workers crash-looping", lambda: any(
            (objects.pod_failure(p) or {}).get("reason") == "CrashLoopBackOff" for p in self.pods()))

    def pods(self):
        return [p for p in self.client.list(resources.path("Pod", self.ns), label_selector="app=embedding-queue-worker")
                if not objects.is_terminating(p)]

    def on_node(self):
        return [p for p in self.pods() if (p.get("spec") or {}).get("nodeName") == self.node]

    def rolled_out(self):
        dep = self.client.get(self.path)
        st, want = dep.get("status") or {}, dep["spec"]["replicas"]
        return (st.get("observedGeneration") == dep["metadata"]["generation"] and st.get("updatedReplicas") == want
                and st.get("availableReplicas") == want and st.get("replicas") == want)

    def healthy(self):
        dep = self.client.get(self.path)
        image = next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "embedding-worker")
        return image != BAD and self.rolled_out() and not self.on_node()

    def remove(self):
        for path in (resources.path("Namespace", None, self.ns), f"/api/v1/nodes/{self.node}"):
            try:
                self.client.delete(path)
            except (NotFoundError, ConflictError):
                pass


def time_to_recovery(stage, run, limit):
    """(seconds until the workers were healthy or None, seconds the run took, its return code)."""
    healthy_at = {}
    start = time.monotonic()

    def watch():
        while time.monotonic() - start < limit and "t" not in healthy_at:
            try:
                if stage.healthy():
                    healthy_at["t"] = time.monotonic() - start
            except Exception:  # noqa: BLE001 - the API may be busy: look again
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    code = run()
    took = time.monotonic() - start
    watcher.join(timeout=max(0.0, limit - took) if code == 0 else 5)
    return healthy_at.get("t"), took, code


def playbook(collection_root, kubeconfig, stage, sandbox, limit):
    """ansible-playbook p0-outage.yml from a checkout of the collection (its own ansible.cfg and inventory)."""
    work = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    settings = work / "sandbox.json"
    settings.write_text(json.dumps(sandbox.settings()))
    paths = work / "collections" / "ansible_collections" / "mataresit"
    paths.mkdir(parents=True)
    (paths / "emergency").symlink_to(collection_root)
    env = dict(os.environ, MRE_INCIDENTS_DIR=str(work), MRE_KUBECONFIG=kubeconfig, ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CONFIG=str(collection_root / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(work / "collections"),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/p0-outage.yml", "-i", "inventories/local",
           "-e", 'reason="bench double fault"', "-e", f"incident_id=bench-{uuid.uuid4().hex[:8]}", "-e", f"@{settings}",
           "-e", f"emergency_namespace={stage.ns}"]
    try:
        done = subprocess.run(cmd, cwd=collection_root, env=env, capture_output=True, text=True, timeout=limit,
                              check=False)
        return done.returncode
    except subprocess.TimeoutExpired:
        return "timeout"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kubeconfig", default=str(REPO / "run" / "cluster" / "kubeconfig"))
    parser.add_argument("--before", help="a checkout of an earlier version of the collection to time as well")
    parser.add_argument("--limit", type=float, default=600, help="seconds a recovery may take before it counts as none")
    parser.add_argument("--cleanup", action="store_true")
    args = parser.parse_args()
    kubectl = find_kubectl()
    if not kubectl:
        raise SystemExit("no kubectl found (make bench builds one)")
    from tools.sandbox import Sandbox

    client = K8sClient.from_params({"kubeconfig": args.kubeconfig})
    sandbox = Sandbox().start()

    def kubectl_commands(stage):
        def run():
            for cmd in (["get", "nodes"], ["get", "pods", "-n", stage.ns],
                        ["rollout", "history", f"deployment/{WORKERS}", "-n", stage.ns],
                        ["rollout", "undo", f"deployment/{WORKERS}", "-n", stage.ns],
                        ["rollout", "restart", f"deployment/{WORKERS}", "-n", stage.ns],
                        ["rollout", "status", f"deployment/{WORKERS}", "-n", stage.ns, "--timeout=600s"]):
                subprocess.run([kubectl, "--kubeconfig", args.kubeconfig, *cmd], capture_output=True, check=True,
                               timeout=args.limit)
            return 0
        return run

    ways = {"kubectl": kubectl_commands,
            "playbook": lambda stage: lambda: playbook(REPO, args.kubeconfig, stage, sandbox, args.limit)}
    if args.before:
        ways["before"] = lambda stage: lambda: playbook(Path(args.before).resolve(), args.kubeconfig, stage, sandbox,
                                                        args.limit)
    report = {}
    try:
        for name, way in ways.items():
            results = []
            for _round in range(args.rounds):
                sandbox.reset()
                stage = Stage(client, args.kubeconfig)
                try:
                    healthy, took, code = time_to_recovery(stage, way(stage), args.limit)
                    results.append({"healthy_s": None if healthy is None else round(healthy, 2),
                                    "run_s": round(took, 2), "exit": code})
                finally:
                    if args.cleanup:
                        stage.remove()
            recovered = [r["healthy_s"] for r in results if r["healthy_s"] is not None]
            report[name] = {"time_to_recovery_s": min(recovered) if recovered else None, "rounds": results}
            print(name, json.dumps(report[name]), flush=True)
    finally:
        sandbox.stop()
        client.close()
    base = report["kubectl"]["time_to_recovery_s"]
    for name, row in report.items():
        ttr = row["time_to_recovery_s"]
        ratio = f"{ttr / base:.2f}x kubectl" if ttr and base else "-"
        runs = ", ".join(f"run {r['run_s']}s exit {r['exit']}" for r in row["rounds"])
        print(f"double fault (bad worker image + NotReady node), {name:8}: time to recovery "
              f"{f'{ttr:.1f}s' if ttr is not None else 'NOT RECOVERED'} ({ratio}; {runs})")


if __name__ == "__main__":
    main()
