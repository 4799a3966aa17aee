"""recovery_check (validation in one step) and triage's health_targets (assessment in one step) against the local
control plane and its health server: each part gives what its own module gives."""
from __future__ import annotations

import pytest

from tests.integration.playbooks.helpers import APP, BAD, break_app

WORKERS = "embedding-queue-workers"


@pytest.fixture
def deployed(cluster, namespace, workload):
    if not cluster.get("local"):
        pytest.skip("the health targets are the local cluster's health server")
    return workload(namespace, wait=True)


def targets(cluster, namespace):
    return [{"name": "api /health", "url": f"{cluster['health_url']}/health?namespace={namespace}"},
            {"name": "api /health/ready", "url": f"{cluster['health_url']}/health/ready?namespace={namespace}"}]


def check(run_module, cluster, namespace, **options):
    return run_module("recovery_check", dict(kubeconfig=cluster["kubeconfig"], namespace=namespace,
                                             deployments=[APP, WORKERS], health_targets=targets(cluster, namespace),
                                             wait_timeout=20, fail_fast_grace=3, **options))


def test_a_healthy_workload_passes_every_part(run_module, cluster, namespace, deployed):
    result = check(run_module, cluster, namespace, samples=3, load_requests=5, metrics={
        "service": {"namespace": namespace, "name": "embedding-worker-service", "port": 9091, "path": "/metrics"},
        "thresholds": {"embedding_queue_depth": {"max": 100}}})
    assert result["passed"] is True and result["failures"] == [] and result["changed"] is False
    assert [r["name"] for r in result["rollouts"]] == [APP, WORKERS]
    assert all(r["state"]["complete"] for r in result["rollouts"])
    assert result["triage"]["healthy"] is True
    assert result["health"]["healthy"] is True
    assert [t["samples"] for t in result["health"]["targets"]] == [3, 3]
    assert result["load"]["targets"][0]["samples"] == 5 and len(result["load"]["targets"]) == 1
    assert "embedding_queue_depth" in result["metrics"]["metrics"] and result["metrics"]["breaches"] == []


def test_a_broken_workload_fails_the_check_naming_what_is_wrong(run_module, k8s, cluster, namespace, deployed):
    break_app(k8s, namespace)
    result = check(run_module, cluster, namespace, samples=1)
    assert result["passed"] is False
    (app, workers) = result["rollouts"]
    assert app["failed"] and "CrashLoopBackOff" in app["msg"] and not workers.get("failed")
    assert any(BAD in line for line in result["failures"])  # triage's evidence of the crash-looping revision
    assert any(line.startswith("endpoints unhealthy: ") for line in result["failures"])
    assert result["load"] is None and result["metrics"] is None


def test_triage_probes_its_health_targets_while_it_reads(run_module, k8s, cluster, namespace, deployed):
    healthy = run_module("triage", dict(kubeconfig=cluster["kubeconfig"], namespace=namespace,
                                        health_targets=targets(cluster, namespace), health_samples=2))
    assert healthy["healthy"] is True and healthy["health"]["healthy"] is True
    assert [t["samples"] for t in healthy["health"]["targets"]] == [2, 2]
    without = run_module("triage", dict(kubeconfig=cluster["kubeconfig"], namespace=namespace))
    assert "health" not in without

    break_app(k8s, namespace)
    broken = run_module("triage", dict(kubeconfig=cluster["kubeconfig"], namespace=namespace,
                                       health_targets=targets(cluster, namespace)))
    assert broken["verdict"] == "recent_bad_deploy"
    assert broken["health"]["healthy"] is False and "api /health" in broken["health"]["unhealthy"]
