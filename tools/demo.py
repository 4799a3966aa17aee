#!/usr/bin/env python3
"""`make demo`: the main job on the embedded default.

1. start the local control plane (built on first use) and the SaaS sandbox;
2. deploy the reference workload (namespace paperless-maverick) in its good state;
3. break it: roll out a bad image, as a bad deploy would, and show the outage;
4. run `ansible-playbook playbooks/p0-outage.yml -i inventories/local`;
5. show the recovery (health, pods, revisions), what PagerDuty / Statuspage /
   Slack received, and the incident report.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tools import localcluster, workload
from tools.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]

NAMESPACE = "paperless-maverick"
BAD_IMAGE = "paperless-maverick:v2-bad"


def banner(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def health(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return f"{resp.status} {resp.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"


def kubectl_like_pods(client) -> None:
    pods = client.list(f"/api/v1/namespaces/{NAMESPACE}/pods", label_selector="app=paperless-maverick")
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        status = (pod.get("status") or {}).get("containerStatuses") or [{}]
        waiting = (status[0].get("state") or {}).get("waiting") or {}
        ready = "1/1" if status[0].get("ready") else "0/1"
        print(f"  {pod['metadata']['name']:45} {ready}  {waiting.get('reason', pod['status'].get('phase')):18} "
              f"{pod['spec']['containers'][0]['image']}")


def main() -> int:
    banner("Starting the local Kubernetes control plane (the first run builds it with Go)")
    state = localcluster.ensure_up()
    kubeconfig = state["kubeconfig"]
    health_url = f"{state['health_url']}/health?namespace={NAMESPACE}"

    banner("Starting the SaaS sandbox (PagerDuty, Statuspage, Slack; validated against the OpenAPI documents)")
    sandbox = Sandbox().start()
    settings_file = REPO / "run" / "sandbox.json"
    settings_file.write_text(json.dumps(sandbox.settings()))
    os.chmod(settings_file, 0o600)
    print(f"  sandbox at {sandbox.base_url}; validation: {sandbox.status()['validation']}")

    banner(f"Deploying the reference workload into namespace {NAMESPACE}")
    workload.deploy(kubeconfig, NAMESPACE)
    client = localcluster._api(state)
    kubectl_like_pods(client)
    print(f"  GET /health -> {health(health_url)}")

    banner(f"Breaking it: rolling out {BAD_IMAGE}")
    client.patch(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/paperless-maverick", {
        "metadata": {"annotations": {"kubernetes.io/change-cause": f"deploy {BAD_IMAGE}"}},
        "spec": {"template": {"spec": {"containers": [{"name": "paperless-maverick", "image": BAD_IMAGE}]}}},
    }, patch_type="strategic")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not health(health_url).startswith("503"):
        time.sleep(0.5)
    time.sleep(2)
    kubectl_like_pods(client)
    print(f"  GET /health -> {health(health_url)}")

    banner("Running: ansible-playbook playbooks/p0-outage.yml -i inventories/local -e 'reason=\"api 5xx after deploy\"'")
    incidents = REPO / "run" / "incidents"
    env = dict(os.environ, MRE_INCIDENTS_DIR=str(incidents), MRE_KUBECONFIG=kubeconfig,
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
    incident_id = time.strftime("demo-%Y%m%dT%H%M%SZ", time.gmtime())
    started = time.monotonic()
    rc = subprocess.call([str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/p0-outage.yml",
                          "-i", "inventories/local", "-e", 'reason="api 5xx after deploy"',
                          "-e", f"incident_id={incident_id}", "-e", f"@{settings_file}"], cwd=REPO, env=env)
    elapsed = time.monotonic() - started

    banner(f"Recovery (playbook exit {rc}, {elapsed:.0f}s)")
    kubectl_like_pods(client)
    print(f"  GET /health -> {health(health_url)}")
    print("  what the notification services received:")
    for record in sandbox.records():
        path = "/slack/services/********" if record["service"] == "slack" else record["path"]
        valid = "spec-valid" if not record["request_validation"]["errors"] else "REJECTED by the spec"
        print(f"    {record['service']:10} {record['method']:5} {path:45} -> {record['status']} ({valid})")

    report = incidents / incident_id / "postmortem.md"
    banner(f"Incident report: {report}")
    print(report.read_text() if report.exists() else "  (no report written)")
    sandbox.stop()
    client.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
