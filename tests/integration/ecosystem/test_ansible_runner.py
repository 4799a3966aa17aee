"""The P0 playbook through ansible-runner, the engine of AWX and Automation Controller, laid out as AWX lays out
a job: the project (this repository as an SCM update leaves it), the inventory as the script AWX writes, the
survey answers and credential injections as extra vars, the collection from the execution environment."""
from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
import yaml

from tests.integration.ecosystem.helpers import BIN, REPO, run, user_env
from tests.integration.playbooks.helpers import break_app, deployment


def awx_private_data_dir(root, inventory_json, extravars, envvars):
    """private_data_dir as AWX writes it for a job (project/, inventory/hosts, env/extravars, env/envvars)."""
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    for path in tracked:
        if (REPO / path).is_file():
            (root / "project" / path).parent.mkdir(parents=True, exist_ok=True)
            (root / "project" / path).write_bytes((REPO / path).read_bytes())
    script = root / "inventory" / "hosts"
    script.parent.mkdir(parents=True)
    script.write_text(f"#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nimport json\n"
                      f"print(json.dumps(json.loads({json.dumps(inventory_json)!r})))\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (root / "env").mkdir()
    (root / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (root / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    return root


def test_p0_playbook_runs_under_ansible_runner_as_awx_runs_it(
        installed_collection, user_project, cluster, k8s, sandbox, namespace, workload, tmp_path):
    if not cluster.get("local"):
        pytest.skip("the inventory's health targets are the local cluster's health server")
    import ansible_runner

    workload(namespace, wait=True)
    break_app(k8s, namespace)

    # The inventory AWX synced from the repository's inventory source (ansible-inventory --export).
    env = user_env(installed_collection, tmp_path / "home")
    listed = run([BIN / "ansible-inventory", "-i", user_project / "inventory", "--list", "--export"], env=env)
    assert listed.returncode == 0, listed.stderr
    inventory = json.loads(listed.stdout)
    # The Kubeconfig credential writes the file and injects its path (awx/controller.yml).
    kubeconfig = tmp_path / "credential-kubeconfig"
    kubeconfig.write_text(open(cluster["kubeconfig"], encoding="utf-8").read())
    job_id = 4242
    extravars = {
        # Survey answers.
        "reason": "api 5xx after deploy", "incident_confirmed": "true",
        # What AWX adds to every job (the incident id derives from awx_job_id), and the namespace of this test.
        "emergency_namespace": namespace,
        "awx_job_id": job_id, "tower_job_id": job_id, "awx_job_launch_type": "manual",
        "awx_job_template_name": "P0 outage (local)", "awx_user_name": "oncall", "awx_project_revision": "HEAD",
        # Credential injections: the kubeconfig path, the notification secrets (here the sandbox's).
        "k8s_kubeconfig": str(kubeconfig), **sandbox.settings(),
    }
    envvars = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection), "K8S_AUTH_KUBECONFIG": str(kubeconfig),
               "MRE_INCIDENTS_DIR": str(tmp_path / "incidents"), "ANSIBLE_FORCE_COLOR": "0",
               "PATH": f"{BIN}:{os.environ['PATH']}"}  # the execution environment's ansible-playbook
    pdd = awx_private_data_dir(tmp_path / "job", inventory, extravars, envvars)

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ANSIBLE_") or k == "PYTHONPATH"}
    try:
        result = ansible_runner.run(private_data_dir=str(pdd), playbook="playbooks/p0-outage.yml",
                                    process_isolation=False, quiet=True, ident=str(job_id))
    finally:
        os.environ.update(saved)
    stdout = result.stdout.read()
    assert (result.status, result.rc) == ("successful", 0), stdout[-4000:]

    # Recovered on the cluster.
    dep = deployment(k8s, namespace)
    assert dep.spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert dep.status.available_replicas == dep.spec.replicas == 3

    # The job events AWX stores and shows: the play, the rollback with its result, the recap.
    events = list(result.events)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "playbook_on_start" and kinds[-1] == "playbook_on_stats"
    assert [e["counter"] for e in events] == sorted(e["counter"] for e in events)
    assert all(e["runner_ident"] == str(job_id) for e in events)
    plays = [e["event_data"]["play"] for e in events if e["event"] == "playbook_on_play_start"]
    assert plays == ["P0 complete system outage"]
    recover = [e["event_data"] for e in events if e["event"] == "runner_on_ok"
               and e["event_data"]["task_action"] == "mataresit.emergency.recover" and e["event_data"]["res"]["changed"]]
    assert len(recover) == 1 and recover[0]["host"] == "local" and recover[0]["role"] == "p0_outage"
    (workload,) = recover[0]["res"]["workloads"]
    assert workload["recovered_by"] == "rollback" and workload["steps"][0]["revision"] == 1
    stats = next(e["event_data"] for e in events if e["event"] == "playbook_on_stats")
    assert stats["changed"]["local"] > 0 and not stats["failures"] and not stats["dark"]
    assert result.stats["changed"]["local"] == stats["changed"]["local"]
    # The incident id came from the job: one incident per AWX job (and per workflow).
    assert (tmp_path / "incidents" / f"awx-{job_id}" / "postmortem.md").exists()
    # AWX shows the default callback's lines (the job output), and the events keep no notification secret.
    assert "TASK [mataresit.emergency.p0_outage : Recover each affected workload" in stdout
    secrets = [sandbox.settings()[k] for k in ("pagerduty_routing_key", "statuspage_api_key")]
    secrets.append(sandbox.settings()["slack_webhook_url"].rsplit("/", 1)[-1])
    dumped = json.dumps(events) + stdout
    assert not [s for s in secrets if s in dumped]
