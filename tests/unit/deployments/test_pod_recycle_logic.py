"""pod_recycle: choosing pods, the replacement predicate, bounded batches, dry run."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.services import pod_recycle

PODS = "/api/v1/namespaces/ns/pods"


def pod(name, phase="Running", ready=True, uid=None, owner=True, terminating=False, app="app"):
    md = {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}", "labels": {"app": app}}
    if owner:
        md["ownerReferences"] = [{"kind": "ReplicaSet", "name": "app-1", "uid": "rs", "controller": True}]
    if terminating:
        md["deletionTimestamp"] = "2026-11-27T18:00:00Z"
    return {"metadata": md, "status": {"phase": phase, "conditions": [{"type": "Ready",
                                                                       "status": "True" if ready else "False"}]}}


def names(pods):
    return [p["metadata"]["name"] for p in pods]


def test_select_filters():
    pods = [pod("a"), pod("b", phase="Pending", ready=False), pod("c", ready=False), pod("d", phase="Failed", ready=False),
            pod("e", phase="Pending", ready=False, terminating=True)]
    assert names(pod_recycle.select(pods)) == ["a", "b", "c", "d"]
    assert names(pod_recycle.select(pods, not_running=True)) == ["b", "d"]
    assert names(pod_recycle.select(pods, phases=["Failed"])) == ["d"]
    assert names(pod_recycle.select(pods, not_ready=True)) == ["b", "c", "d"]
    assert names(pod_recycle.select(pods, not_running=True, phases=["Pending"])) == ["b"]


def test_replacement_state():
    before = [pod("a"), pod("b"), pod("c")]
    uids = {p["metadata"]["uid"] for p in before}
    deleted = [before[0]]
    still_there = before + []
    assert not pod_recycle.replacement_state(still_there, uids, deleted, 3)["done"]
    replaced_not_ready = [before[1], before[2], pod("x", ready=False)]
    state = pod_recycle.replacement_state(replaced_not_ready, uids, deleted, 3)
    assert not state["done"] and state["replacements"][0]["name"] == "x" and state["lingering"] == []
    replaced = [before[1], before[2], pod("x"), pod("a", terminating=True)]
    assert pod_recycle.replacement_state(replaced, uids, deleted, 3)["done"]
    # an unowned pod is not replaced, and nobody waits for it
    bare = pod("bare", owner=False)
    assert pod_recycle.replacement_state(before[1:], uids | {"uid-bare"}, [bare], 2)["done"]


def test_recycle_dry_run_deletes_nothing(api, client):
    for p in (pod("a"), pod("b", phase="Pending", ready=False), pod("web", app="web")):
        api.add(f"{PODS}/{p['metadata']['name']}", p)
    result = pod_recycle.recycle(client, "ns", label_selector="app=app", not_running=True, dry_run=True)
    assert result["deleted"] == ["b"] and result["changed"] and result["matched"] == 2
    deletes = [r for r in api.requests if r[0] == "DELETE"]
    assert [(r[1], r[2].get("dryRun"), r[3]["preconditions"]) for r in deletes] == [
        (f"{PODS}/b", "All", {"uid": "uid-b"})]
    assert f"{PODS}/b" in api.objects


def test_recycle_in_bounded_batches(api, client):
    for name in "abcde":
        api.add(f"{PODS}/{name}", pod(name))
    result = pod_recycle.recycle(client, "ns", label_selector="app=app", max_concurrent=2, wait=False)
    assert result["deleted"] == list("abcde")
    deleted_paths = [r[1] for r in api.requests if r[0] == "DELETE"]
    assert sorted(deleted_paths) == [f"{PODS}/{n}" for n in "abcde"]
    # lists between batches show that deletes went out two, two, one
    kinds = "".join("L" if r[0] == "GET" else "D" for r in api.requests)
    assert kinds == "LDDLDDLD"


def test_recycle_nothing_to_do(api, client):
    api.add(f"{PODS}/a", pod("a"))
    result = pod_recycle.recycle(client, "ns", label_selector="app=app", not_running=True)
    assert result["changed"] is False and result["deleted"] == [] and not api.writes()
