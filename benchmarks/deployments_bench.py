"""Benchmark: the rollout and scale modules against the runbook's kubectl commands.

On the reference workload (namespace deploy-bench), each case is timed both ways
on the same cluster, best of --rounds, with the state reset (untimed) between runs:

  - undo:    `kubectl rollout undo` + `kubectl rollout status`  vs  rollout action=undo
             (after a bad image, paperless-maverick:v2-bad, was rolled out)
  - restart: `kubectl rollout restart` + `kubectl rollout status`  vs  rollout action=restart
  - scale:   `kubectl scale --replicas=6` + `kubectl rollout status`  vs  scale replicas=6
  - drain:   `kubectl scale 2`, status, sleep, `kubectl scale 3`, status  vs  scale state=drain_cycle

Modules run as Ansible runs them (fresh Python process with ANSIBLE_MODULE_ARGS),
so their time includes interpreter start-up. API requests are counted by running
the same operation in-process once. --sleep is the modules' wait_sleep.

    .venv/bin/python benchmarks/deployments_bench.py [--rounds 3] [--sleep 1] [--cleanup]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import Context
from ansible_collections.mataresit.emergency.plugins.module_utils.services import rollout, scale
from benchmarks.common import find_kubectl, timed
from tools.run_module import run_module_process

REPO = Path(__file__).resolve().parents[1]

NS = "deploy-bench"
APP = "paperless-maverick"
GOOD, BAD = "paperless-maverick:latest", "paperless-maverick:v2-bad"


def requests_of(service, params):
    """Run a service's operation in this process; the API requests it made."""
    ctx = Context(params)
    try:
        service.operation(ctx)
        return ctx.client.requests
    finally:
        ctx.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--kubeconfig", default=str(REPO / "run" / "cluster" / "kubeconfig"))
    parser.add_argument("--cleanup", action="store_true")
    args = parser.parse_args()
    kubectl = find_kubectl()
    if not kubectl:
        raise SystemExit("no kubectl found")
    from tools import workload

    workload.deploy(args.kubeconfig, namespace=NS, db_namespace=None)
    client = K8sClient.from_params({"kubeconfig": args.kubeconfig})
    dep_path = resources.path("Deployment", NS, APP)

    def k(*cmd):
        done = subprocess.run([kubectl, "--kubeconfig", args.kubeconfig, "-n", NS, *cmd],
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode:
            raise SystemExit(f"kubectl {' '.join(cmd)} failed: {done.stderr.strip()}")

    def module(name, **extra):
        params = dict({"kubeconfig": args.kubeconfig, "namespace": NS, "name": APP, "wait_sleep": args.sleep}, **extra)
        result = run_module_process(name, params)[0]
        if result.get("failed"):
            raise SystemExit(f"{name} failed: {result.get('msg')}")

    def settle():
        workloads.wait_for_rollout(client, NS, APP, 300, 0.2)

    def set_image(image):
        client.patch(dep_path, {"spec": {"progressDeadlineSeconds": 600, "template": {"spec": {"containers": [
            {"name": APP, "image": image}]}}}}, patch_type="strategic")
        if image == BAD:  # wait for the stalled rollout to show a crash-looping pod
            deadline = time.monotonic() + 60
            while "CrashLoopBackOff" not in waiter.workload_pod_problems(client, client.get(dep_path)):
                if time.monotonic() > deadline:
                    raise SystemExit("the bad image did not crash-loop")
                time.sleep(0.2)
        else:
            settle()

    def set_replicas(n):
        scale.set_replicas(client, "Deployment", NS, APP, n)
        scale.wait_for_replicas(client, "Deployment", NS, APP, n, 300, 0.2)

    cases = {
        "undo": (lambda: set_image(BAD),
                 lambda: (k("rollout", "undo", f"deployment/{APP}"), k("rollout", "status", f"deployment/{APP}")),
                 lambda: module("rollout", action="undo"),
                 lambda params: requests_of(rollout, dict(params, action="undo", kind="Deployment",
                                                          to_revision=None, reason=None))),
        "restart": (lambda: (settle(), time.sleep(1)),  # kubectl refuses two restarts within one second
                    lambda: (k("rollout", "restart", f"deployment/{APP}"), k("rollout", "status", f"deployment/{APP}")),
                    lambda: module("rollout", action="restart"),
                    lambda params: requests_of(rollout, dict(params, action="restart", kind="Deployment",
                                                             to_revision=None, reason=None))),
        "scale": (lambda: set_replicas(3),
                  lambda: (k("scale", f"deployment/{APP}", "--replicas=6"), k("rollout", "status", f"deployment/{APP}")),
                  lambda: module("scale", replicas=6),
                  lambda params: requests_of(scale, dict(params, kind="Deployment", state="present", replicas=6,
                                                         min_replicas=None, max_replicas=None,
                                                         previous_replicas=None, drain_replicas=2,
                                                         drain_seconds=1))),
        "drain": (lambda: set_replicas(3),
                  lambda: (k("scale", f"deployment/{APP}", "--replicas=2"), k("rollout", "status", f"deployment/{APP}"),
                           time.sleep(1), k("scale", f"deployment/{APP}", "--replicas=3"),
                           k("rollout", "status", f"deployment/{APP}")),
                  lambda: module("scale", state="drain_cycle", drain_seconds=1),
                  lambda params: requests_of(scale, dict(params, kind="Deployment", state="drain_cycle",
                                                         replicas=None, min_replicas=None, max_replicas=None,
                                                         previous_replicas=None, drain_replicas=2,
                                                         drain_seconds=1))),
    }
    report = {}
    for name, (reset, with_kubectl, with_module, in_process) in cases.items():
        times = {"kubectl": [], "module": []}
        for _round in range(args.rounds):
            for how, fn in (("kubectl", with_kubectl), ("module", with_module)):
                reset()
                times[how].append(timed(fn))
        reset()
        params = {"kubeconfig": args.kubeconfig, "namespace": NS, "name": APP, "wait": True, "wait_timeout": 300,
                  "wait_sleep": args.sleep, "fail_fast_grace": 15, "incident_dir": None}
        report[name] = {"kubectl_s": round(min(times["kubectl"]), 2), "module_s": round(min(times["module"]), 2),
                        "module_api_requests": in_process(params)}
        print(name, json.dumps(report[name]), flush=True)
    if args.cleanup:
        client.delete(resources.path("Namespace", None, NS))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
