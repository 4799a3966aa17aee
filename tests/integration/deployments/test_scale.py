"""scale against the local control plane: exact, relative, bounds, restore, drain cycle, check mode."""
from __future__ import annotations

from tests.integration.deployments.helpers import APP, WORKERS, is_ready, live_pods, module_args


def ready_pods(k8s, ns, selector=f"app={APP}"):
    return [p for p in live_pods(k8s, ns, selector) if is_ready(p)]


def replicas(k8s, ns, name=APP):
    return k8s.apps.read_namespaced_deployment(name, ns).spec.replicas


def test_scale_exact_relative_bounds_and_restore(app, k8s, run_module, tmp_path):
    ns, incident = app["namespace"], str(tmp_path)
    result = run_module("scale", module_args(app, replicas=6, incident_dir=incident))
    assert result["changed"] and result["previous_replicas"] == 3 and result["replicas"] == 6
    assert len(ready_pods(k8s, ns)) == 6 and replicas(k8s, ns) == 6
    dep = k8s.apps.read_namespaced_deployment(APP, ns)
    assert dep.status.ready_replicas == 6

    again = run_module("scale", module_args(app, replicas=6))
    assert again["changed"] is False and again["previous_replicas"] == 6
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == dep.metadata.resource_version

    checked = run_module("scale", module_args(app, replicas="+2"), check_mode=True, diff=True)
    assert checked["changed"] and checked["replicas"] == 8
    assert checked["diff"] == {"before": {"replicas": 6}, "after": {"replicas": 8}}
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == dep.metadata.resource_version

    plus = run_module("scale", module_args(app, replicas="+2", incident_dir=incident))
    assert plus["previous_replicas"] == 6 and plus["replicas"] == 8 and len(ready_pods(k8s, ns)) == 8
    bounded = run_module("scale", module_args(app, replicas="+5", max_replicas=9, incident_dir=incident))
    assert bounded["replicas"] == 9 and bounded["bounded"] and replicas(k8s, ns) == 9
    floor = run_module("scale", module_args(app, replicas="-20", min_replicas=1, incident_dir=incident))
    assert floor["replicas"] == 1 and floor["bounded"] and len(ready_pods(k8s, ns)) == 1

    rv = k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version
    checked = run_module("scale", module_args(app, state="restore", incident_dir=incident), check_mode=True)
    assert checked["changed"] and checked["replicas"] == 3
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == rv
    restored = run_module("scale", module_args(app, state="restore", incident_dir=incident))
    assert restored["changed"] and restored["previous_replicas"] == 1 and restored["replicas"] == 3
    assert len(ready_pods(k8s, ns)) == 3 and replicas(k8s, ns) == 3
    assert run_module("scale", module_args(app, state="restore", incident_dir=incident))["changed"] is False
    explicit = run_module("scale", module_args(app, state="restore", previous_replicas=2))
    assert explicit["replicas"] == 2 and len(ready_pods(k8s, ns)) == 2


def test_restore_without_a_record_fails_clearly(app, run_module, tmp_path):
    result = run_module("scale", module_args(app, state="restore", incident_dir=str(tmp_path)), expect_failure=True)
    assert "no replica count recorded" in result["msg"] and "previous_replicas" in result["msg"]


def test_drain_cycle_restores_the_count_it_found(app, k8s, run_module, tmp_path):
    ns = app["namespace"]
    run_module("scale", module_args(app, replicas=5))  # not the runbook's hard-coded 4
    dep = k8s.apps.read_namespaced_deployment(APP, ns)

    checked = run_module("scale", module_args(app, state="drain_cycle", drain_seconds=30), check_mode=True)
    assert checked["changed"] and checked["steps"] == [{"replicas": 2}, {"sleep": 30.0}, {"replicas": 5}]
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == dep.metadata.resource_version

    result = run_module("scale", module_args(app, state="drain_cycle", drain_seconds=1, incident_dir=str(tmp_path)))
    assert result["changed"] and result["previous_replicas"] == 5 and result["replicas"] == 5
    after = k8s.apps.read_namespaced_deployment(APP, ns)
    assert after.spec.replicas == 5 and after.status.ready_replicas == 5 and len(ready_pods(k8s, ns)) == 5
    assert after.metadata.generation == dep.metadata.generation + 2  # down to 2, back to 5
    # the count it found is recorded, so a restore after an interrupted cycle also gets 5
    assert run_module("scale", module_args(app, state="restore", incident_dir=str(tmp_path)))["changed"] is False


def test_scale_workers_to_zero_and_back(app, k8s, run_module):
    ns = app["namespace"]
    selector = "app=embedding-queue-worker"
    zero = run_module("scale", module_args(app, name=WORKERS, replicas=0))
    assert zero["previous_replicas"] == 3 and live_pods(k8s, ns, selector) == []
    back = run_module("scale", module_args(app, name=WORKERS, state="restore", previous_replicas=3))
    assert back["replicas"] == 3 and len([p for p in live_pods(k8s, ns, selector) if is_ready(p)]) == 3
