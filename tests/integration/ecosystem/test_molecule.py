"""`molecule test` of each runbook role's scenario (extensions/molecule) against the local cluster and the
SaaS sandbox: create stages the fault, converge runs the role, idempotence expects no change on a second
converge, verify reads the recovered state back from the API server, cleanup leaves no namespace behind."""
from __future__ import annotations

import json
import os
import re

import pytest

from tests.integration.ecosystem.helpers import BIN, REPO, run

SCENARIOS = sorted(p.parent.name for p in (REPO / "extensions" / "molecule").glob("*/molecule.yml"))
SEQUENCE = ["cleanup", "destroy", "syntax", "create", "converge", "idempotence", "verify", "cleanup", "destroy"]
# What each role pages, and at which severity, once per incident (the idempotence run pages nobody).
PAGES = {"p0_outage": "critical", "database_outage": "critical", "security_breach": "critical",
         "queue_backlog": "error", "performance_degradation": "error"}


def test_every_runbook_role_has_a_scenario():
    assert SCENARIOS == sorted(PAGES)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, cluster, k8s, sandbox, tmp_path):
    if not cluster.get("local"):
        pytest.skip("the scenarios stage their faults on the local cluster")
    settings = tmp_path / "sandbox.json"
    settings.write_text(json.dumps(sandbox.settings()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_")) and k != "PYTHONPATH"}
    env.update(PATH=f"{BIN}:{os.environ['PATH']}", MRE_SANDBOX_SETTINGS=str(settings),
               MRE_KUBECONFIG=cluster["kubeconfig"], NO_COLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = run([BIN / "molecule", "test", "--scenario-name", scenario], env=env, timeout=900)
    output = proc.stdout + proc.stderr
    (tmp_path / "molecule.log").write_text(output)
    assert proc.returncode == 0, output[-6000:]

    # Every step of the sequence ran and succeeded (molecule's own recap).
    steps = re.findall(rf"^{scenario} (?:➜|>) (\w+): Executed: (\w+)", output, re.M)
    assert steps == [(step, "Successful") for step in SEQUENCE], steps
    assert re.search(rf"^{scenario}\s*: actions={len(SEQUENCE)}\s+successful={len(SEQUENCE)} .*failed=0", output, re.M)

    # Paged once at the role's severity, every request valid against the provider's OpenAPI document.
    triggers = [w["json"]["payload"]["severity"] for w in sandbox.accepted_writes()
                if w["service"] == "pagerduty-events" and w["json"]["event_action"] == "trigger"]
    assert triggers == [PAGES[scenario]]
    assert not sandbox.rejected()

    # Nothing left on the cluster.
    namespaces = {n.metadata.name for n in k8s.core.list_namespace().items}
    assert not {f"molecule-{scenario.replace('_', '-')}", f"molecule-{scenario.replace('_', '-')}-db"} & namespaces
