"""Helpers of the playbook tests: run a playbook as an on-call engineer or CI does, against the
local control plane and the OpenAPI-validating SaaS sandbox, and read its recap."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
APP = "paperless-maverick"
WORKERS = "embedding-queue-workers"
BAD = "paperless-maverick:v2-bad"


def run_playbook(cluster, sandbox, namespace, incident_id, incidents, *extra, playbook="playbooks/p0-outage.yml",
                 reason="api 5xx after deploy", inventories=("inventories/local",)):
    """ansible-playbook with the local inventory, a per-test namespace (None: the inventory's), incident id (None:
    the playbook's own) and incident workspace root."""
    settings = incidents / "sandbox.json"
    settings.write_text(json.dumps(sandbox.settings()))
    env = dict(os.environ, MRE_INCIDENTS_DIR=str(incidents), MRE_KUBECONFIG=cluster["kubeconfig"],
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               # These tests read the default callback's lines (the checkout's ansible.cfg sets the on-call one).
               ANSIBLE_STDOUT_CALLBACK="default",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), playbook,
           *[arg for inventory in inventories for arg in ("-i", str(inventory))],
           "-e", f'reason="{reason}"', "-e", f"@{settings}", *extra]
    if incident_id is not None:
        cmd += ["-e", f"incident_id={incident_id}"]
    if namespace is not None:
        cmd += ["-e", f"emergency_namespace={namespace}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    return proc


def deployment(k8s, ns, name=APP):
    return k8s.apps.read_namespaced_deployment(name, ns)


def break_app(k8s, ns):
    k8s.apps.patch_namespaced_deployment(APP, ns, {
        "metadata": {"annotations": {"kubernetes.io/change-cause": f"deploy {BAD}"}},
        "spec": {"template": {"spec": {"containers": [{"name": APP, "image": BAD}]}}}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = k8s.core.list_namespaced_pod(ns, label_selector=f"app={APP}").items
        if any(p.status.container_statuses and p.status.container_statuses[0].state.waiting for p in pods):
            return
        time.sleep(0.5)
    raise AssertionError("the bad image never crash-looped")


def recap_changed(stdout):
    line = [line for line in stdout.splitlines() if line.startswith("local ")][-1]
    return int(line.split("changed=")[1].split()[0])
