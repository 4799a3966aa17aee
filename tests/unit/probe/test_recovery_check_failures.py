"""recovery_check's verdict: what fails a validation, one line each, and what is only reported."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.services.recovery_check import failures


def result(**parts):
    base = {"rollouts": [{"name": "app", "state": {"complete": True}}], "triage": {"findings": []},
            "health": {"healthy": True, "unhealthy": []}, "metrics": {"breaches": []}, "load": {"healthy": True}}
    return dict(base, **parts)


def test_nothing_failed():
    assert failures(result()) == []
    assert failures(result(health=None, metrics=None, load=None)) == []


def test_each_failed_part_is_one_line_in_order():
    found = failures(result(
        rollouts=[{"name": "app", "failed": True, "msg": "the rollout of deployment ns/app was not complete"},
                  {"name": "workers", "state": {"complete": True}}],
        triage={"findings": [
            {"kind": "Deployment", "name": "app", "options": ["rollback"], "evidence": ["app crash-loops", "bad image"]},
            {"kind": "Node", "name": "n1", "options": [], "evidence": ["node n1 NotReady"]}]},
        health={"healthy": False, "unhealthy": ["api /health", "api /health/ready"]},
        metrics={"breaches": [{"name": "embedding_queue_depth"}]},
        load={"healthy": False}))
    assert found == ["the rollout of deployment ns/app was not complete", "app crash-loops", "bad image",
                     "endpoints unhealthy: api /health, api /health/ready", "queue depth over threshold",
                     "load burst failed"]


def test_a_finding_no_option_repairs_is_reported_not_failed():
    reported = {"kind": "Service", "name": "s", "options": [], "evidence": ["service s has no ready endpoint"]}
    assert failures(result(triage={"findings": [reported]})) == []
