"""The stream summarisers on synthetic lists, and the small parsers."""
from __future__ import annotations

import tracemalloc

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import quantity_or_none as parse_quantity
from ansible_collections.mataresit.emergency.plugins.module_utils.triage.summarise import (
    PodSummary, count_error_lines, summarise_events, summarise_nodes,
    summarise_services,
)
from tests.unit.triage.builders import event, node, pod

INSUFFICIENT_CPU = ("0/4 nodes are available: 4 Insufficient cpu. preemption: 0/4 nodes are available: "
                    "4 No preemption victims found for incoming pod.")


def synthetic_pods(count):
    """A mix: mostly healthy, some crash-looping, image-pull failing, OOMKilled, Pending, not ready."""
    for i in range(count):
        kind = i % 10
        if kind == 1:
            yield pod(f"new-{i}", rs="web-2", ready=False, waiting="CrashLoopBackOff", last_reason="Error", restarts=4)
        elif kind == 2:
            yield pod(f"new-{i}", rs="web-2", ready=False, waiting="ImagePullBackOff")
        elif kind == 3:
            yield pod(f"old-{i}", rs="web-1", ready=True, last_reason="OOMKilled", restarts=1)
        elif kind == 4:
            yield pod(f"pend-{i}", rs="web-2", phase="Pending", pending_message=INSUFFICIENT_CPU)
        elif kind == 5:
            yield pod(f"nr-{i}", rs="web-1", ready=False)
        else:
            yield pod(f"ok-{i}", rs="web-1")


def test_counts_are_exact_and_samples_bounded():
    summary = PodSummary(max_samples=20)
    for item in synthetic_pods(5000):
        summary.add(item)
    result = summary.result()
    assert result["total"] == 5000
    assert result["by_phase"] == {"Running": 4500, "Pending": 500}
    problems = result["problems"]
    assert problems["crash_loop"]["count"] == 500
    assert problems["image_pull"]["count"] == 500
    assert problems["oom_killed"]["count"] == 500
    assert problems["pending"]["count"] == 500
    assert problems["pending_insufficient"]["count"] == 500
    assert problems["not_ready"]["count"] == 500  # not Ready without a container failure
    assert all(len(p["samples"]) == 20 for p in problems.values())
    assert result["pending_reasons"] == {INSUFFICIENT_CPU: 500}
    assert result["restarts"] == 500 * 4 + 500
    assert result["ready"] == 5000 - 500 * 4
    new = summary.owners["ReplicaSet/web-2"]
    assert (new["total"], new["crash_loop"], new["image_pull"], new["pending_insufficient"]) == (1500, 500, 500, 500)
    assert len(new["samples"]) <= 5
    sample = problems["crash_loop"]["samples"][0]
    assert sample["name"] == "new-1" and sample["reason"] == "CrashLoopBackOff" and sample["owner"] == "ReplicaSet/web-2"


def test_memory_stays_flat_while_streaming():
    summary = PodSummary(max_samples=20)
    tracemalloc.start()
    for item in synthetic_pods(2000):
        summary.add(item)
    small, small_peak = tracemalloc.get_traced_memory()
    for item in synthetic_pods(10000):
        summary.add(item)
    large, large_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ten times the pods: retained memory grows by far less than one pod object per pod
    assert large - small < 200_000, (small, large)


def test_pending_reasons_are_bounded():
    summary = PodSummary()
    for i in range(100):
        summary.add(pod(f"p{i}", phase="Pending", pending_message=f"0/4 nodes are available: reason {i}"))
    reasons = summary.result()["pending_reasons"]
    assert len(reasons) == 21 and reasons["(other reasons)"] == 80
    assert "pending_insufficient" not in summary.result()["problems"]


def test_pods_on_not_ready_nodes_are_counted_per_node_not_as_owner_problems():
    summary = PodSummary(not_ready_nodes={"node-3"})
    summary.add(pod("web-2-a", rs="web-2", node_name="node-3", ready=False))
    summary.add(pod("web-2-b", rs="web-2", node_name="node-1", ready=True))
    stats = summary.owners["ReplicaSet/web-2"]
    assert stats["not_ready"] == 0 and stats["on_not_ready_nodes"] == 1 and stats["total"] == 2
    assert summary.nodes["node-3"] == {"pods": 1, "samples": ["web-2-a"]}
    assert summary.result()["problems"]["not_ready"]["count"] == 1


def test_config_error_and_err_image_pull():
    summary = PodSummary()
    summary.add(pod("a", rs="r", ready=False, waiting="CreateContainerConfigError"))
    summary.add(pod("b", rs="r", ready=False, waiting="ErrImagePull"))
    problems = summary.result()["problems"]
    assert problems["config_error"]["samples"][0]["name"] == "a"
    assert problems["image_pull"]["samples"][0]["reason"] == "ErrImagePull"


def test_containers_near_their_limits_with_usage():
    usage = {("a", "app"): (0.1, 950 * 2 ** 20), ("b", "app"): (0.45, 100 * 2 ** 20)}
    summary = PodSummary(usage=usage, threshold=0.9)
    summary.add(pod("a", rs="r", limits={"cpu": "500m", "memory": "1Gi"}))
    summary.add(pod("b", rs="r", limits={"cpu": "500m", "memory": "1Gi"}))
    summary.add(pod("c", rs="r", limits={"cpu": "500m"}))
    assert summary.near_limit_result() == [
        {"name": "a", "container": "app", "resource": "memory", "percent": 92.8},
        {"name": "b", "container": "app", "resource": "cpu", "percent": 90.0},
    ]


def test_log_candidates_prefer_the_crashing_container_previous_instance():
    summary = PodSummary(watch_pods={"named"})
    summary.add(pod("crash", rs="r", ready=False, waiting="CrashLoopBackOff", container="worker"))
    summary.add(pod("fine", rs="r"))
    summary.add(pod("named", rs="r"))
    summary.add(pod("unwatched", rs="r"))
    assert summary.watched["crash"]["container"] == "worker" and summary.watched["crash"]["previous"] is True
    assert summary.watched["fine"]["previous"] is False
    assert set(summary.watched) == {"crash", "fine", "named"}
    assert summary.owners["ReplicaSet/r"]["problem_pod"] == "crash"
    assert summary.owners["ReplicaSet/r"]["ready_pod"] == "fine"


def test_nodes_summary():
    out = summarise_nodes([node("n1"), node("n2", ready=False), node("n3", pressure=["DiskPressure"]),
                           node("n4", unschedulable=True)], max_samples=20)
    assert (out["total"], out["ready"]) == (4, 3)
    assert out["not_ready"][0]["name"] == "n2" and out["not_ready"][0]["reason"] == "NodeStatusUnknown"
    assert out["pressure"] == [{"name": "n3", "conditions": ["DiskPressure"], "pods": 0}]
    assert out["unschedulable"] == ["n4"]
    assert out["allocatable"]["n1"] == (4.0, 8 * 2 ** 30)


def test_services_without_ready_endpoints():
    services = [{"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}},
                {"metadata": {"name": "db"}, "spec": {"selector": {"app": "db"}}},
                {"metadata": {"name": "manual"}, "spec": {}},
                {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName"}}]
    slices = [{"metadata": {"labels": {"kubernetes.io/service-name": "web"}},
               "endpoints": [{"conditions": {"ready": True}}, {"conditions": {"ready": False}}, {"conditions": {}}]},
              {"metadata": {"labels": {"kubernetes.io/service-name": "db"}},
               "endpoints": [{"conditions": {"ready": False}}]}]
    out = summarise_services(services, slices, max_samples=20, workloads={"web": {"app": "web", "tier": "x"}})
    assert out["total"] == 4
    assert [s["name"] for s in out["without_ready_endpoints"]] == ["db"]
    assert out["without_ready_endpoints"][0]["workloads"] == []
    web = next(s for s in out["items"] if s["name"] == "web")
    assert (web["ready_endpoints"], web["not_ready_endpoints"]) == (2, 1)
    assert web["workloads"] == ["web"]


def test_events_newest_first_and_bounded():
    events = [event(f"e{i}", "BackOff" if i % 2 else "FailedScheduling", minutes_ago=i, obj=f"Pod/p{i}")
              for i in range(100)]
    out = summarise_events(iter(events[::-1]), max_events=5)
    assert out["warning_total"] == 100
    assert [e["object"] for e in out["items"]] == ["Pod/p0", "Pod/p1", "Pod/p2", "Pod/p3", "Pod/p4"]
    assert out["by_reason"] == {"BackOff": 50, "FailedScheduling": 50}


def test_error_lines_are_counted_case_insensitively():
    lines, errors = count_error_lines("ok\nERROR: db down\nan Error here\nfine\nerrors=0\n")
    assert len(lines) == 5 and len(errors) == 3


@pytest.mark.parametrize("text, value", [("250m", 0.25), ("2", 2.0), ("1Gi", 2 ** 30), ("123456Ki", 123456 * 1024),
                                         ("5000000n", 0.005), ("1e3", 1000.0), ("bogus", None), (None, None)])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == (pytest.approx(value) if value is not None else None)
