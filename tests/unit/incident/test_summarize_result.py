"""What the incident timeline keeps of a task result."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.incident import summarize_result


def test_changed_object_lists_are_capped():
    objects = [{"kind": "Pod", "name": f"p{i}"} for i in range(60)]
    assert summarize_result({"objects": objects}, censored=False)["objects"] == objects[:50]


def test_per_kind_counts_are_kept_as_they_are():
    # forensics returns the number of objects captured per kind
    assert summarize_result({"objects": {"Pod": 4, "Deployment": 2}}, censored=False)["objects"] == {
        "Pod": 4, "Deployment": 2}


def test_censored_results_keep_nothing():
    assert summarize_result({"objects": {"Secret": 1}, "msg": "x"}, censored=True) == {
        "msg": "(output hidden by no_log)", "censored": True}
