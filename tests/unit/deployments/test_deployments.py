"""workloads.py: rollout predicate, owned ReplicaSets by owner uid, history, wait, restart."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import NotFoundError, WaitTimeout
from ansible_collections.mataresit.emergency.plugins.module_utils import workloads
from tests.unit.deployments.builders import deployment, replicaset

DEP = "/apis/apps/v1/namespaces/ns/deployments/app"
RS = "/apis/apps/v1/namespaces/ns/replicasets/"


def deadline_exceeded(dep):
    dep["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                    "message": 'ReplicaSet "app-bad" has timed out progressing.'}]
    return dep


@pytest.mark.parametrize("status, complete, reason", [
    ({}, True, "Complete"),
    ({"updatedReplicas": 1}, False, "ReplicasNotUpdated"),
    ({"replicas": 4}, False, "OldReplicasPending"),
    ({"availableReplicas": 2, "readyReplicas": 2}, False, "ReplicasNotAvailable"),
    ({"readyReplicas": 2}, False, "ReplicasNotAvailable"),
    ({"observedGeneration": 1}, False, "WaitingForObservedGeneration"),
])
def test_rollout_state_deployment(status, complete, reason):
    state = workloads.rollout_state(deployment(generation=2, status=status))
    assert (state["complete"], state["failed"], state["reason"]) == (complete, False, reason)
    assert state["observed_generation_ok"] is (reason != "WaitingForObservedGeneration")


def test_rollout_state_progress_deadline_exceeded_is_failed():
    dep = deadline_exceeded(deployment(status={"updatedReplicas": 1, "replicas": 4}))
    state = workloads.rollout_state(dep)
    assert state["failed"] and not state["complete"]
    assert state["reason"] == "ProgressDeadlineExceeded" and "timed out" in state["message"]


def test_stale_generation_hides_old_deadline_condition():
    """After an undo the old ProgressDeadlineExceeded condition belongs to a generation not yet observed."""
    dep = deadline_exceeded(deployment(generation=5, status={"observedGeneration": 4, "updatedReplicas": 1}))
    state = workloads.rollout_state(dep)
    assert not state["failed"] and not state["complete"]
    assert state["reason"] == "WaitingForObservedGeneration" and state["observed_generation_ok"] is False


def test_counts_done_win_over_stale_condition():
    state = workloads.rollout_state(deadline_exceeded(deployment()))
    assert state["complete"] and not state["failed"]


def test_rollout_state_zero_replicas_complete():
    dep = deployment(replicas=0)
    for key in ("readyReplicas", "availableReplicas"):
        dep["status"].pop(key)
    assert workloads.rollout_state(dep)["complete"]


def test_rollout_state_statefulset_and_daemonset():
    sts = {"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2,
                      "currentRevision": "a", "updateRevision": "b"}}
    assert workloads.rollout_state(sts)["reason"] == "RevisionNotCurrent"
    sts["status"]["currentRevision"] = "b"
    assert workloads.rollout_state(sts)["complete"]
    ds = {"kind": "DaemonSet", "metadata": {"generation": 3}, "spec": {},
          "status": {"observedGeneration": 3, "desiredNumberScheduled": 4, "updatedNumberScheduled": 4,
                     "numberAvailable": 3, "numberReady": 3}}
    assert workloads.rollout_state(ds)["reason"] == "PodsNotAvailable"


def test_owned_replicasets_filters_by_owner_uid_and_sorts(api, client):
    api.add(DEP, deployment())
    api.add(RS + "app-22222", replicaset("app-22222", 2, "app:v2"))
    api.add(RS + "app-11111", replicaset("app-11111", 1, "app:v1"))
    api.add(RS + "app-99999", replicaset("app-99999", 9, "evil:v9", owner_uid="other-uid"))
    api.add(RS + "app-88888", replicaset("app-88888", 8, "orphan:v8", owner_uid=None))
    api.add(RS + "web-33333", replicaset("web-33333", 3, "web:v3", app="web"))
    owned = workloads.owned_replicasets(client, api.objects[DEP])
    assert [rs["metadata"]["name"] for rs in owned] == ["app-11111", "app-22222"]
    lists = [r for r in api.requests if r[1] == RS.rstrip("/")]
    assert lists and lists[0][2]["labelSelector"] == "app=app"


def test_revision_history_newest_first(api, client):
    api.add(DEP, deployment())
    api.add(RS + "app-11111", replicaset("app-11111", 1, "app:v1", cause="initial"))
    api.add(RS + "app-22222", replicaset("app-22222", 2, "app:v2", replicas=3))
    history = workloads.revision_history(client, api.objects[DEP])
    assert [h["revision"] for h in history] == [2, 1]
    assert history[0] == {"revision": 2, "replicaset": "app-22222", "created": "2026-11-27T12:00:00Z",
                          "images": {"app": "app:v2"}, "change_cause": None, "replicas": 3, "ready_replicas": 3}
    assert history[1]["change_cause"] == "initial"


def test_wait_for_rollout_returns_when_complete(api, client):
    api.add(DEP, deployment())
    obj, elapsed = workloads.wait_for_rollout(client, "ns", "app", timeout=5, sleep=0.01)
    assert obj["metadata"]["name"] == "app" and elapsed >= 0


def test_wait_for_rollout_fails_on_deadline(api, client):
    api.add(DEP, deadline_exceeded(deployment(status={"updatedReplicas": 1})))
    with pytest.raises(workloads.RolloutFailed, match="ProgressDeadlineExceeded"):
        workloads.wait_for_rollout(client, "ns", "app", timeout=5, sleep=0.01)


def test_wait_for_rollout_times_out(api, client):
    api.add(DEP, deployment(status={"updatedReplicas": 1}))
    with pytest.raises(WaitTimeout, match="not complete") as info:
        workloads.wait_for_rollout(client, "ns", "app", timeout=0, sleep=0.01)
    assert info.value.details["state"]["reason"] == "ReplicasNotUpdated"


def test_restart_patches_template_and_change_cause(api, client):
    api.add(DEP, deployment())
    patched = workloads.restart(client, "ns", "app", reason="P0 outage", dry_run=True)
    assert workloads.RESTARTED_AT in patched["spec"]["template"]["metadata"]["annotations"]
    assert patched["metadata"]["annotations"][workloads.CHANGE_CAUSE] == "P0 outage"
    method, path, params = api.writes()[0][:3]
    assert (method, path, params["dryRun"]) == ("PATCH", DEP, "All")
    assert "annotations" not in api.objects[DEP]["spec"]["template"]["metadata"]  # dry run persisted nothing


def test_two_restarts_within_a_second_both_change_the_template(api, client):
    api.add(DEP, deployment())
    first = workloads.restart(client, "ns", "app")["spec"]["template"]["metadata"]["annotations"]
    second = workloads.restart(client, "ns", "app")["spec"]["template"]["metadata"]["annotations"]
    assert first[workloads.RESTARTED_AT] != second[workloads.RESTARTED_AT]


def test_restart_missing_namespace_is_clear(api, client):
    with pytest.raises(NotFoundError, match="namespace 'ns' does not exist"):
        workloads.restart(client, "ns", "app")


def test_missing_deployment_is_clear(api, client):
    api.add("/api/v1/namespaces/ns", {"metadata": {"name": "ns"}})
    with pytest.raises(NotFoundError, match="deployment 'app' does not exist in namespace 'ns'"):
        client.read("Deployment", "ns", "app")
